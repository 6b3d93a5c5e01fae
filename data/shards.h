// data/shards.h: training text from a file or a directory, the train/val split, and token shards
// (tokenized once, cached under a key of input and tokenizer).
#ifndef SHARDS_H
#define SHARDS_H

#include <stddef.h>
#include <stdint.h>

// Token shard layout (all integers little-endian):
//   offset 0  u32 magic SHARD_MAGIC ("FGTK")
//   offset 4  u32 version SHARD_VERSION
//   offset 8  u32 vocab size V (1 .. 2^31-1)
//   offset 12 u32 bytes per token: 2 (uint16, when V <= 65536) or 4 (uint32)
//   offset 16 u64 token count n
//   offset 24 u64 cache key the shard was built under (0 if none)
//   offset 32 .. 63 zero
//   offset 64 n tokens, each < V
// The file size is exactly 64 + n * bytes_per_token.
#define SHARD_MAGIC 0x4B544746u
#define SHARD_VERSION 1u
#define SHARD_HEADER_BYTES 64

typedef struct {
    uint32_t version;
    int vocab_size;
    int bytes_per_token;
    size_t count;
    uint64_t key;
} ShardHeader;

// Writes tokens[0..n) (each in [0, vocab_size)) to path atomically. 0, or -1 with err filled.
int shard_write(const char* path, const int* tokens, size_t n, int vocab_size, uint64_t key, char* err,
                size_t errlen);

// Reads a shard: checks magic, version, bytes per token against V, file size against the count,
// every token id < V, and (when expect_vocab > 0) V == expect_vocab. Returns a malloc'd array of n
// ids (n may be 0) and fills *n and, if hdr is not NULL, *hdr. On error returns NULL with err set to
// one line "PATH: problem (HINT: ...)".
int* shard_read(const char* path, int expect_vocab, size_t* n, ShardHeader* hdr, char* err, size_t errlen);

// 64-bit FNV-1a, continued from h (start with DATA_HASH_INIT).
#define DATA_HASH_INIT 0xcbf29ce484222325ull
uint64_t data_hash(uint64_t h, const void* data, size_t len);

// Cache key of tokenized data: a hash of the input bytes, the tokenizer's identity (the bytes of its
// tokenizer.json, or any bytes that identify it) and the val fraction.
uint64_t data_cache_key(const char* text, size_t len, const void* tokenizer_id, size_t id_len, double val_frac);

// "<dir>/<key as 16 hex digits>.train.tok" and ".val.tok".
void data_cache_paths(const char* dir, uint64_t key, char* train_path, char* val_path, size_t pathlen);

// Reads the input: a text file, or a directory whose regular *.txt files are read in strcmp order of
// their names and joined with "\n\n" (empty files skipped). Returns a malloc'd NUL-terminated buffer
// and its length, or NULL with err "PATH: problem" (missing, unreadable, not a file or directory, no
// .txt files, empty).
char* data_read_input(const char* path, size_t* len, char* err, size_t errlen);

// Contiguous train/val split of text: returns the offset where val starts, near len*(1-val_frac)
// and moved forward to just after the next newline (so no line is cut) when one exists before the
// end. Returns 0 with err filled when val_frac is not in (0, 1) or either side would be empty.
size_t data_split_text(const char* text, size_t len, double val_frac, char* err, size_t errlen);

// Turns text into tokens; returns a malloc'd array of *n ids (the tokenizer's encode behind a
// pointer, so this module does not depend on the tokenizer).
typedef int* (*DataEncodeFn)(void* ctx, const char* text, size_t len, size_t* n);

typedef struct {
    int* train;          // (n_train) token ids
    size_t n_train;
    int* val;            // (n_val) token ids
    size_t n_val;
    uint64_t key;        // cache key (data_cache_key)
    int from_cache;      // 1 if both shards were read from the cache
    char train_path[4096];
    char val_path[4096];
} DataTokens;

// Splits text (data_split_text), then reads both shards from cache_dir if present, else encodes both
// sides and writes the shards (creating cache_dir). A shard that exists but fails shard_read is an
// error (its message says how to rebuild), never silently replaced; so is a shard whose header
// holds another cache key (a file renamed or copied from another data set). 0, or -1 with err filled.
int data_prepare_tokens(const char* text, size_t len, double val_frac, const char* cache_dir,
                        const void* tokenizer_id, size_t id_len, int vocab_size, DataEncodeFn encode, void* ctx,
                        DataTokens* out, char* err, size_t errlen);
void data_tokens_free(DataTokens* d);

#endif // SHARDS_H
