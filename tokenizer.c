// tokenizer.c: byte-level BPE exactly as GPT-2 does it.
//
//   text --pre-tokenize--> words --bytes--> base ids --merges by rank--> token ids
//
// Pre-tokenization is GPT-2's regex (lib/pretok.c); it splits any bytes at all into words whose
// concatenation is the input, so decode(encode(x)) == x.
//
// Every word starts as its bytes (256 base tokens) and merges pairs of adjacent tokens, the pair
// of lowest rank first, until no adjacent pair has a merge. Files use GPT-2's bytes_to_unicode
// mapping, which spells each byte as a printable code point (tokenizer.json, encoder.json).
//
// This file: the Tokenizer and encode/decode. Its other parts: lib/tok_train.c (learning the
// merges), lib/tok_files.c (tokenizer.json, GPT-2's files), lib/tok_maps.c (the hash maps),
// lib/tok_internal.h (what they share).
#define _GNU_SOURCE
#include "tokenizer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pretok.h"
#include "lib/tok_internal.h"
#include "lib/util.h"

Tokenizer* tok_alloc(int n_vocab) {
    Tokenizer* t = (Tokenizer*)calloc_check(1, sizeof *t);
    t->n_vocab = n_vocab;
    t->eot = -1;
    t->tok_off = (size_t*)calloc_check((size_t)n_vocab + 1, sizeof *t->tok_off);
    t->tok_len = (uint32_t*)calloc_check((size_t)n_vocab + 1, sizeof *t->tok_len);
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    pairmap_init(&t->merge_rank, 1024);
    return t;
}

void tok_set_bytes(Tokenizer* t, int id, const void* bytes, size_t len) {
    if (t->pool_len + len > t->pool_cap) {
        t->pool_cap = (t->pool_len + len) * 2 + 4096;
        t->pool = (unsigned char*)realloc_check(t->pool, t->pool_cap);
    }
    if (len) memcpy(t->pool + t->pool_len, bytes, len);
    t->tok_off[id] = t->pool_len;
    t->tok_len[id] = (uint32_t)len;
    t->pool_len += len;
}

void tok_add_merge(Tokenizer* t, int left, int right, int result) {
    int32_t* r = pairmap_slot(&t->merge_rank, pair_key(left, right), -1);
    if (*r >= 0) return;
    *r = t->n_merges;
    if (t->n_merges == t->merge_cap) {
        t->merge_cap = t->merge_cap ? 2 * t->merge_cap : 1024;
        t->merge = (int(*)[3])realloc_check(t->merge, (size_t)t->merge_cap * sizeof *t->merge);
    }
    t->merge[t->n_merges][0] = left;
    t->merge[t->n_merges][1] = right;
    t->merge[t->n_merges][2] = result;
    t->n_merges++;
}

void tok_free(Tokenizer* tok) {
    if (!tok) return;
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->pool);
    free(tok->merge);
    pairmap_free(&tok->merge_rank);
    free(tok);
}

int tok_vocab_size(const Tokenizer* tok) { return tok->n_vocab; }
int tok_eot(const Tokenizer* tok) { return tok->eot; }

const unsigned char* tok_token_bytes(const Tokenizer* tok, int id, size_t* len) {
    if (id < 0 || id >= tok->n_vocab) return NULL;
    *len = tok->tok_len[id];
    return tok->pool + tok->tok_off[id];
}

// BPE of one word (GPT-2's bpe()): ids[0..m) start as the word's byte tokens. Repeatedly take
// the adjacent pair of lowest merge rank and merge every occurrence of it left to right, until
// no adjacent pair has a merge. rank[k] caches the rank of pair (ids[k], ids[k+1]). Returns the
// new length.
static size_t bpe_word(const Tokenizer* t, int* ids, int* rank, size_t m) {
    for (size_t k = 0; k + 1 < m; k++) rank[k] = pairmap_get(&t->merge_rank, pair_key(ids[k], ids[k + 1]), INT_MAX);
    while (m > 1) {
        int best = INT_MAX;
        for (size_t k = 0; k + 1 < m; k++)
            if (rank[k] < best) best = rank[k];
        if (best == INT_MAX) break;
        int left = t->merge[best][0], right = t->merge[best][1], out = t->merge[best][2];
        size_t w = 0;
        for (size_t k = 0; k < m;) {
            if (k + 1 < m && ids[k] == left && ids[k + 1] == right) {
                ids[w++] = out;
                k += 2;
            } else {
                ids[w++] = ids[k++];
            }
        }
        m = w;
        for (size_t k = 0; k + 1 < m; k++)
            rank[k] = pairmap_get(&t->merge_rank, pair_key(ids[k], ids[k + 1]), INT_MAX);
    }
    return m;
}

// The same as bpe_word in O(m log m) for long words (a paragraph of CJK text or a long run of
// letters is one word; the scan above is quadratic there). Tokens form a linked list over
// positions (a merge keeps the left position); a min-heap holds (rank, position) of candidate
// pairs. Each round takes the lowest rank r and pops *all* its entries (in position order), then
// merges those still valid left to right: exactly GPT-2's "every occurrence of the best pair,
// left to right" pass. Pairs created in the round wait for the next one, as in GPT-2.
// work must hold 4*m ints.
typedef struct {
    int rank, pos;
} RankPos;

static int rankpos_less(RankPos a, RankPos b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void rp_push(RankPos* h, size_t* n, RankPos x) {
    size_t k = (*n)++;
    while (k > 0 && rankpos_less(x, h[(k - 1) / 2])) {
        h[k] = h[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h[k] = x;
}

static RankPos rp_pop(RankPos* h, size_t* n) {
    RankPos top = h[0], last = h[--*n];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= *n) break;
        if (c + 1 < *n && rankpos_less(h[c + 1], h[c])) c++;
        if (!rankpos_less(h[c], last)) break;
        h[k] = h[c];
        k = c;
    }
    if (*n) h[k] = last;
    return top;
}

static size_t bpe_word_long(const Tokenizer* t, int* ids, size_t m) {
    int* next = (int*)malloc_check(m * sizeof *next); // next live position, -1 at the end
    int* prev = (int*)malloc_check(m * sizeof *prev); // previous live position, -1 at the start
    char* dead = (char*)calloc_check(m, 1);
    size_t hcap = 2 * m + 16, hn = 0, rn = 0;
    RankPos* heap = (RankPos*)malloc_check(hcap * sizeof *heap);
    RankPos* round = (RankPos*)malloc_check(hcap * sizeof *round);
    for (size_t k = 0; k < m; k++) {
        next[k] = k + 1 < m ? (int)k + 1 : -1;
        prev[k] = (int)k - 1;
    }
    for (size_t k = 0; k + 1 < m; k++) {
        int r = pairmap_get(&t->merge_rank, pair_key(ids[k], ids[k + 1]), INT_MAX);
        if (r != INT_MAX) rp_push(heap, &hn, (RankPos){r, (int)k});
    }
    while (hn) {
        int r = heap[0].rank;
        rn = 0;
        while (hn && heap[0].rank == r) round[rn++] = rp_pop(heap, &hn);
        int left = t->merge[r][0], right = t->merge[r][1], out = t->merge[r][2];
        for (size_t q = 0; q < rn; q++) {
            int p = round[q].pos, nx = next[p];
            if (dead[p] || nx < 0 || ids[p] != left || ids[nx] != right) continue; // stale
            ids[p] = out;
            dead[nx] = 1;
            next[p] = next[nx];
            if (next[nx] >= 0) prev[next[nx]] = p;
            // new candidate pairs (prev, p) and (p, next); each merge adds at most two entries
            if (hn + 2 > hcap) {
                hcap *= 2;
                heap = (RankPos*)realloc_check(heap, hcap * sizeof *heap);
                round = (RankPos*)realloc_check(round, hcap * sizeof *round);
            }
            if (prev[p] >= 0) {
                int rr = pairmap_get(&t->merge_rank, pair_key(ids[prev[p]], ids[p]), INT_MAX);
                if (rr != INT_MAX) rp_push(heap, &hn, (RankPos){rr, prev[p]});
            }
            if (next[p] >= 0) {
                int rr = pairmap_get(&t->merge_rank, pair_key(ids[p], ids[next[p]]), INT_MAX);
                if (rr != INT_MAX) rp_push(heap, &hn, (RankPos){rr, p});
            }
        }
    }
    size_t w = 0;
    for (int p = 0; p >= 0; p = next[p]) ids[w++] = ids[p];
    free(next);
    free(prev);
    free(dead);
    free(heap);
    free(round);
    return w;
}

// Words longer than this (bytes) take bpe_word_long; both give the same tokens.
#define BPE_LONG_WORD 64
// Words seen by one tok_encode call: word bytes -> (offset, count) of its ids in `ids`.
#define ENCODE_CACHE_MAX (1u << 20)

int* tok_encode(const Tokenizer* tok, const char* text, size_t len, size_t* n) {
    const unsigned char* s = (const unsigned char*)text;
    IntVec out = {0}, cache_ids = {0};
    StrMap cache;
    strmap_init(&cache, 4096);
    size_t scratch_cap = 256;
    int* ids = (int*)malloc_check(scratch_cap * sizeof *ids);
    int* rank = (int*)malloc_check(scratch_cap * sizeof *rank);
    intvec_reserve(&out, len / 3 + 16);
    for (size_t i = 0; i < len;) {
        size_t end = pretok_next(s, len, i);
        size_t wl = end - i;
        if (wl == 1) {
            intvec_reserve(&out, 1);
            out.a[out.n++] = tok->byte_id[s[i]];
            i = end;
            continue;
        }
        int added;
        long e = strmap_find(&cache, s + i, wl, 1, &added);
        if (added) {
            if (wl > scratch_cap) {
                scratch_cap = wl;
                free(ids);
                free(rank);
                ids = (int*)malloc_check(scratch_cap * sizeof *ids);
                rank = (int*)malloc_check(scratch_cap * sizeof *rank);
            }
            for (size_t k = 0; k < wl; k++) ids[k] = tok->byte_id[s[i + k]];
            size_t m = wl > BPE_LONG_WORD ? bpe_word_long(tok, ids, wl) : bpe_word(tok, ids, rank, wl);
            intvec_reserve(&cache_ids, m);
            memcpy(cache_ids.a + cache_ids.n, ids, m * sizeof *ids);
            cache.e[e].a = (int64_t)cache_ids.n;
            cache.e[e].b = (int64_t)m;
            cache_ids.n += m;
        }
        size_t m = (size_t)cache.e[e].b;
        intvec_reserve(&out, m);
        memcpy(out.a + out.n, cache_ids.a + cache.e[e].a, m * sizeof *out.a);
        out.n += m;
        if (cache.n >= ENCODE_CACHE_MAX) { // bound memory on huge, diverse inputs
            strmap_clear(&cache);
            cache_ids.n = 0;
        }
        i = end;
    }
    free(ids);
    free(rank);
    free(cache_ids.a);
    strmap_free(&cache);
    *n = out.n;
    if (!out.a) out.a = (int*)malloc_check(sizeof *out.a);
    return out.a;
}

char* tok_decode(const Tokenizer* tok, const int* ids, size_t n, size_t* len) {
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        if (ids[k] >= 0 && ids[k] < tok->n_vocab) total += tok->tok_len[ids[k]];
    char* out = (char*)malloc_check(total + 1);
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        if (ids[k] < 0 || ids[k] >= tok->n_vocab) continue;
        memcpy(out + o, tok->pool + tok->tok_off[ids[k]], tok->tok_len[ids[k]]);
        o += tok->tok_len[ids[k]];
    }
    out[o] = 0;
    *len = o;
    return out;
}

size_t tok_pretok_next(const char* text, size_t len, size_t i) {
    return pretok_next((const unsigned char*)text, len, i);
}

int tok_has_eot_text(const char* text, size_t len) {
    return memmem(text, len, EOT_TEXT, strlen(EOT_TEXT)) != NULL;
}

int* tok_encode_special(const Tokenizer* tok, const char* text, size_t len, size_t* n) {
    if (tok->eot < 0) return tok_encode(tok, text, len, n);
    IntVec out = {0};
    size_t el = strlen(EOT_TEXT);
    for (size_t i = 0; i <= len;) {
        const char* at = (const char*)memmem(text + i, len - i, EOT_TEXT, el);
        size_t end = at ? (size_t)(at - text) : len, m;
        int* ids = tok_encode(tok, text + i, end - i, &m);
        intvec_reserve(&out, m + 1);
        memcpy(out.a + out.n, ids, m * sizeof *ids);
        out.n += m;
        free(ids);
        if (!at) break;
        out.a[out.n++] = tok->eot;
        i = end + el;
    }
    *n = out.n;
    return out.a;
}
