// data/dataset.h: a run's data as ./train uses it: the text (--input, or the built-in corpus)
// through its tokenizer (loaded, or trained and cached) into a train and a val split of token
// ids, with the n-gram baselines; the loaders that cut batches of windows from a split, and the
// fixed val set that every evaluation reads.
#ifndef DATASET_H
#define DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "../tokenizer.h"
#include "corpus.h"

// The built-in corpus: data/corpus.h's synthetic language, always from the same seed, so that
// --seed changes the model's initialisation and data order but not the data.
#define CORPUS_SEED 1337
// Tokenizers and token shards are cached here (relative to the working directory), keyed by a
// hash of the input text and the tokenizer; delete the folder to rebuild them.
#define CACHE_DIR ".cache"

typedef struct {
    Tokenizer* tok;    // byte-level BPE of the data
    char* tok_json;    // the tokenizer's file bytes (its identity in the shard cache key)
    size_t tok_json_len;
    int* train;        // (n_train) token ids
    int* val;          // (n_val) token ids
    size_t n_train, n_val;
    int V;             // vocabulary size
    uint64_t hash;     // cache key of text + tokenizer + split, to check that --resume sees the same data
    size_t bytes;      // of the text
    NgramStats ngram;  // unigram/bigram/trigram cross-entropies on val (nats/token)
    char name[256];    // short name for the run folder ("corpus", "tinyshakespeare")
    char source[4096]; // what was read, for messages
} Dataset;

// Loads the data: the text (input, a file or folder; NULL = the built-in corpus), its tokenizer
// (tok_dir, a model folder's tokenizer.json or vocab.json + merges.txt; NULL = a `vocab`-token
// BPE trained on the train side and cached), the train/val token split at val_frac (cached shards)
// and the n-gram baselines. special: "<|endoftext|>" in the text is the end-of-text token (as
// Hugging Face tokenizers read it), else plain text. Runtime error on failure.
void dataset_load(Dataset* ds, const char* input, int vocab, float val_frac, const char* tok_dir, int special);
void dataset_free(Dataset* ds);
// Writes DIR/baselines.csv: the n-gram cross-entropies the model's val loss is compared with.
void dataset_write_baselines(const Dataset* ds, const char* dir);

// Batches of B windows of T+1 tokens from one split: inputs are tokens [s, s+T), targets [s+1,
// s+T+1). Random windows come from the loader's own RNG, so the data order depends only on
// the seed; sequential windows advance pos and wrap.
typedef struct {
    const int* tokens; // the split (n >= T + 1 tokens)
    size_t n;
    size_t B, T;
    int sequential;
    uint64_t rng;  // random windows: xorshift state (saved in train_state.bin)
    uint64_t pos;  // sequential windows: next start (saved in train_state.bin)
    int* inputs;   // (B, T)
    int* targets;  // (B, T)
} DataLoader;

void loader_init(DataLoader* dl, const int* tokens, size_t n, size_t B, size_t T, int sequential, uint64_t seed);
void loader_next(DataLoader* dl); // fills inputs and targets with the next batch
void loader_free(DataLoader* dl);

// The fixed val set: consecutive non-overlapping windows from the start of the val split, in
// batches of B (the last batch padded with ignored targets). Same windows at every evaluation.
typedef struct {
    int* inputs;  // (num_batches, B, T)
    int* targets; // (num_batches, B, T), -1 in padding rows
    size_t num_batches, num_windows, B, T;
} ValSet;

// At most max_batches batches from tokens[0 .. n), n >= T + 1.
void valset_init(ValSet* vs, const int* tokens, size_t n, size_t B, size_t T, size_t max_batches);
void valset_free(ValSet* vs);

#endif // DATASET_H
