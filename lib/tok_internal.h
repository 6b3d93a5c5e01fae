// lib/tok_internal.h: what the tokenizer's parts share, and no caller outside them (they see
// tokenizer.h): the Tokenizer's layout, the hash maps (lib/tok_maps.c), and the calls that build a
// Tokenizer (tokenizer.c). The parts: tokenizer.c (the Tokenizer, BPE, encode, decode),
// lib/pretok.c (GPT-2's pre-tokenizer), lib/tok_train.c (learning merges), lib/tok_files.c
// (tokenizer.json and GPT-2's encoder.json + vocab.bpe).
#ifndef TOK_INTERNAL_H
#define TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../tokenizer.h"

#define EOT_TEXT TOK_EOT_TEXT

// Map from byte strings to two int64 values. Keys are copied into one arena; entries keep
// insertion order (so iteration is deterministic); slots is an open-addressing index into them.
typedef struct {
    size_t off;      // key bytes at keys + off
    uint32_t len;    // key length
    uint32_t hash;   // low bits of the hash (to skip memcmp on mismatches)
    int64_t a, b;    // values
} StrEntry;

typedef struct {
    unsigned char* keys;
    size_t keys_len, keys_cap;
    StrEntry* e;
    size_t n, e_cap;
    int32_t* slots; // -1 = empty; nslots is a power of two, at most half full
    size_t nslots;
} StrMap;

// Map from a pair of token ids (key = left << 32 | right) to an int.
typedef struct {
    uint64_t* keys; // UINT64_MAX = empty
    int32_t* vals;
    size_t n, cap; // cap a power of two, at most half full
} PairMap;

static inline uint64_t pair_key(int left, int right) { return (uint64_t)(uint32_t)left << 32 | (uint32_t)right; }

// Growable int array.
typedef struct {
    int* a;
    size_t n, cap;
} IntVec;

struct Tokenizer {
    int n_vocab;          // ids 0..n_vocab-1
    int eot;              // id of <|endoftext|>, -1 if none
    size_t* tok_off;      // (n_vocab) token bytes at pool + tok_off[id]
    uint32_t* tok_len;    // (n_vocab)
    unsigned char* pool;  // token bytes
    size_t pool_len, pool_cap;
    int byte_id[256];     // id of the single-byte token for each byte value
    int n_merges;         // merges by rank: merge[r] = {left, right, result}
    int (*merge)[3];
    int merge_cap;
    PairMap merge_rank;   // pair_key(left, right) -> rank
};

// ---- lib/tok_maps.c
void strmap_init(StrMap* m, size_t expect);
void strmap_free(StrMap* m);
void strmap_clear(StrMap* m);
// Index of key, or -1. With insert, adds it (values 0) when absent and sets *added.
long strmap_find(StrMap* m, const void* key, size_t len, int insert, int* added);
void pairmap_init(PairMap* m, size_t expect);
void pairmap_free(PairMap* m);
int32_t pairmap_get(const PairMap* m, uint64_t key, int32_t missing);
// Pointer to the value of key; inserts it with value `init` when absent.
int32_t* pairmap_slot(PairMap* m, uint64_t key, int32_t init);
void intvec_reserve(IntVec* v, size_t extra);

// ---- tokenizer.c
// A Tokenizer of n_vocab ids without bytes yet, no merges, eot -1, byte_id all -1.
Tokenizer* tok_alloc(int n_vocab);
// Sets the bytes of token id (copied into the pool).
void tok_set_bytes(Tokenizer* t, int id, const void* bytes, size_t len);
// Appends merge (left, right) -> result with the next rank; a pair already present keeps its
// first (lower) rank, as GPT-2's dict of ranks would.
void tok_add_merge(Tokenizer* t, int left, int right, int result);

#endif // TOK_INTERNAL_H
