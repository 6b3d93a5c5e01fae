// data/prefs.h: preference pairs for DPO. Reads JSON Lines in the two common layouts, takes the
// built-in corpus pairs, tokenises each pair into two masked sequences (prompt + response +
// <|endoftext|>), splits off a held-out set and assembles batches for gpt_forward.
//
// Sequence layout (both sequences of a pair share the same prompt tokens):
//   tokens  = prompt (P >= 1 tokens) ++ response ++ <|endoftext|>        at most T+1 tokens
//   inputs  = tokens[0 .. n-1),  targets[t] = tokens[t+1] if t+1 >= P else -1
// so the summed log-probability of a sequence (gpt_sequence_logprobs) covers exactly the response
// tokens and the final <|endoftext|>. Text prompts start with <|endoftext|> (GPT-2's document
// separator, so a prompt reads as the start of a document and an empty prompt still gives the
// first response token a context).
//
// Truncation to T (= seq_len): if P + max(Rc, Rr) > T+1 (R counts the <|endoftext|>), prompt tokens
// are dropped from the left, the same for both sequences, keeping at least one. If a response
// alone is longer than T tokens, its end is cut (it then has no <|endoftext|>). Both are counted.
#ifndef PREFS_H
#define PREFS_H

#include <stddef.h>
#include <stdint.h>

#include "../tokenizer.h"
#include "corpus.h"

typedef struct {
    int* chosen;     // (n_chosen) token ids: prompt then chosen response
    int* rejected;   // (n_rejected) token ids: the same prompt then rejected response
    int n_chosen;    // <= seq_len + 1
    int n_rejected;  // <= seq_len + 1
    int prompt_len;  // P: the first P tokens of both sequences are the prompt (never targets)
} PrefPair;

typedef struct {
    PrefPair* pairs; // (n); after pref_split, pairs[0 .. n_val) are held out, the rest train
    int n, cap;
    int n_val;
    int seq_len; // T: a sequence has at most T+1 tokens (T inputs and T targets)
    // what reading found: every line or pair not kept is counted in exactly one of these
    long lines;              // non-blank lines read
    long bad;                // malformed lines (bad JSON, not an object, a field not a string), skipped
    long missing;            // records without "chosen" or "rejected", skipped
    long empty;              // empty chosen or rejected response, skipped
    long identical;          // chosen == rejected, skipped
    long truncated;          // kept pairs that lost prompt tokens or had a response cut
    long response_truncated; // kept pairs where a response alone exceeded T and lost its end
    long cut_identical;      // of `identical`: pairs whose responses differ only past the T tokens kept
    char first_problem[512]; // "file:line: what" for the first skipped line, "" if none
} PrefSet;

// What pref_add_* did with one pair.
enum { PREF_KEPT = 0, PREF_EMPTY = 1, PREF_IDENTICAL = 2, PREF_IDENTICAL_CUT = 3 };

// Starts an empty set for sequences of at most seq_len + 1 tokens (seq_len >= 2).
void pref_init(PrefSet* set, int seq_len);
void pref_free(PrefSet* set);

// Adds a pair from token ids (responses without <|endoftext|>, which is appended as eot).
// An empty prompt becomes [eot]. Returns PREF_KEPT, or PREF_EMPTY / PREF_IDENTICAL (counted, not
// added), or PREF_IDENTICAL_CUT when the two sequences are identical once truncated to T (counted
// in identical and cut_identical, not added: such a pair holds no preference the model can see).
int pref_add_tokens(PrefSet* set, const int* prompt, size_t np, const int* chosen, size_t nc, const int* rejected,
                    size_t nr, int eot);

// Adds a pair from text. With prompt != NULL the layout is {prompt, chosen, rejected}. With
// prompt == NULL, chosen and rejected are whole transcripts sharing a prompt (the HH-RLHF layout)
// and the prompt is split off as follows:
//   1. the longest common byte prefix of the two transcripts is found;
//   2. if it contains "\n\nAssistant:", the prompt ends right after the last such marker inside
//      it (the response is the assistant's final turn, as HH-RLHF is meant to be read);
//   3. otherwise both transcripts are tokenised whole and the prompt is their longest common
//      token prefix, which ends on a token boundary of both by construction.
// Returns as pref_add_tokens.
int pref_add_text(PrefSet* set, const Tokenizer* tok, const char* prompt, size_t prompt_len, const char* chosen,
                  size_t chosen_len, const char* rejected, size_t rejected_len);

// Reads JSON Lines from path ("-" = stdin; a name ending in ".gz" is read through `gzip -dc`).
// Each non-blank line is {"prompt","chosen","rejected"} or {"chosen","rejected"} (other members
// are ignored). A malformed line stops the read with "path:line: ..." in err when skip_bad is 0,
// and is skipped and counted when it is 1 (first_problem keeps the first). Missing fields, empty
// and identical pairs are always skipped and counted. Returns 0, or -1 with err filled on an I/O
// error, a malformed line (skip_bad 0), or when no usable pair was found.
int pref_read_jsonl(PrefSet* set, const char* path, const Tokenizer* tok, int skip_bad, char* err, size_t errlen);

// Adds the built-in corpus pairs ({prompt, chosen, rejected} layout). Returns 0, or -1 with err
// filled when none was usable.
int pref_from_corpus(PrefSet* set, const CorpusPair* pairs, int n, const Tokenizer* tok, char* err, size_t errlen);

// Shuffles the pairs with a fixed seed and holds out round(val_frac * n) of them (at least one
// when val_frac > 0 and n >= 2, and always at least one left to train on): pairs[0 .. n_val).
void pref_split(PrefSet* set, float val_frac, uint64_t seed);

// ----------------------------------------------------------------------------
// The pairs of a DPO stage, saved once it has them, so that a resumed stage continues with exactly
// the same pairs, split and reference log-probabilities (DIR/dpo_pairs.bin, native endianness):
//   u32 magic PREF_MAGIC ("FGDP"), u32 version, i32 n, n_val, seq_len, vocab_size
//   i64 lines, bad, missing, empty, identical, truncated, response_truncated, cut_identical
//   per pair: i32 n_chosen, n_rejected, prompt_len, then the chosen and the rejected tokens
//   f32 ref_chosen[n], ref_rejected[n]; u64 FNV-1a checksum of everything before it
#define PREF_MAGIC 0x50444746u // "FGDP"
#define PREF_VERSION 1

// Writes set (after pref_split) and the reference log-probabilities ref_c, ref_r (set->n each) to
// path atomically; *sum receives the checksum. 0, or -1 with err filled.
int pref_save(const PrefSet* set, int vocab_size, const float* ref_c, const float* ref_r, const char* path,
              uint64_t* sum, char* err, size_t errlen);
// Reads what pref_save wrote into an empty set (pref_init is not needed), with every field checked
// (counts, lengths within seq_len + 1, a prompt shared by both sequences, tokens below vocab_size,
// finite log-probabilities, the size and the checksum). ref_c and ref_r are malloc'd; *sum is the
// checksum. 0, or -1 with err filled and nothing to free.
int pref_load(PrefSet* set, int vocab_size, float** ref_c, float** ref_r, const char* path, uint64_t* sum, char* err,
              size_t errlen);

// Fills one batch of 2B sequences for gpt_forward: rows 0..B-1 are the chosen sequences of pairs
// idx[0..B), rows B..2B-1 their rejected sequences. inputs and targets need room for 2B * seq_len
// ints; they are filled as (2B, Tb) with Tb = the longest sequence in the batch minus one, which is
// returned. Padding is input eot, target -1.
size_t pref_batch(const PrefSet* set, const int* idx, int B, int eot, int* inputs, int* targets);

#endif // PREFS_H
