// lib/tok_maps.c: the tokenizer's hash maps: byte strings -> two int64 values (StrMap: words,
// vocabularies, the encode cache) and token-id pairs -> int (PairMap: merge ranks, training's pair
// index), open addressing at most half full; and a growable int array.
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "util.h"

// 64-bit hash of a byte string (8 bytes at a time, multiply-xorshift mixing).
static uint64_t hash_bytes(const unsigned char* s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t k = 0; k < n; k++) w |= (uint64_t)s[k] << (8 * k);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

void strmap_init(StrMap* m, size_t expect) {
    memset(m, 0, sizeof *m);
    m->nslots = 64;
    while (m->nslots < 2 * expect) m->nslots *= 2;
    m->slots = (int32_t*)malloc_check(m->nslots * sizeof *m->slots);
    memset(m->slots, 0xFF, m->nslots * sizeof *m->slots);
}

void strmap_free(StrMap* m) {
    free(m->keys);
    free(m->e);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void strmap_clear(StrMap* m) {
    m->keys_len = 0;
    m->n = 0;
    memset(m->slots, 0xFF, m->nslots * sizeof *m->slots);
}

static void strmap_rehash(StrMap* m) {
    free(m->slots);
    m->nslots *= 2;
    m->slots = (int32_t*)malloc_check(m->nslots * sizeof *m->slots);
    memset(m->slots, 0xFF, m->nslots * sizeof *m->slots);
    for (size_t i = 0; i < m->n; i++) {
        size_t s = hash_bytes(m->keys + m->e[i].off, m->e[i].len) & (m->nslots - 1);
        while (m->slots[s] >= 0) s = (s + 1) & (m->nslots - 1);
        m->slots[s] = (int32_t)i;
    }
}

long strmap_find(StrMap* m, const void* key, size_t len, int insert, int* added) {
    uint64_t h = hash_bytes((const unsigned char*)key, len);
    size_t s = h & (m->nslots - 1);
    if (added) *added = 0;
    for (;;) {
        int32_t i = m->slots[s];
        if (i < 0) break;
        const StrEntry* e = &m->e[i];
        if (e->hash == (uint32_t)h && e->len == len && memcmp(m->keys + e->off, key, len) == 0) return i;
        s = (s + 1) & (m->nslots - 1);
    }
    if (!insert) return -1;
    if (m->n >= INT32_MAX - 1 || len > UINT32_MAX) fatal("tokenizer: too many or too long words");
    if (m->keys_len + len > m->keys_cap) {
        m->keys_cap = (m->keys_len + len) * 2 + 256;
        m->keys = (unsigned char*)realloc_check(m->keys, m->keys_cap);
    }
    if (m->n == m->e_cap) {
        m->e_cap = m->e_cap ? m->e_cap * 2 : 256;
        m->e = (StrEntry*)realloc_check(m->e, m->e_cap * sizeof *m->e);
    }
    if (len) memcpy(m->keys + m->keys_len, key, len);
    StrEntry* e = &m->e[m->n];
    e->off = m->keys_len;
    e->len = (uint32_t)len;
    e->hash = (uint32_t)h;
    e->a = e->b = 0;
    m->keys_len += len;
    m->slots[s] = (int32_t)m->n;
    m->n++;
    if (added) *added = 1;
    if (2 * m->n > m->nslots) strmap_rehash(m);
    return (long)(m->n - 1);
}

#define PAIR_EMPTY UINT64_MAX

void pairmap_init(PairMap* m, size_t expect) {
    m->n = 0;
    m->cap = 64;
    while (m->cap < 2 * expect) m->cap *= 2;
    m->keys = (uint64_t*)malloc_check(m->cap * sizeof *m->keys);
    m->vals = (int32_t*)malloc_check(m->cap * sizeof *m->vals);
    memset(m->keys, 0xFF, m->cap * sizeof *m->keys);
}

void pairmap_free(PairMap* m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int32_t pairmap_get(const PairMap* m, uint64_t key, int32_t missing) {
    size_t s = hash_u64(key) & (m->cap - 1);
    while (m->keys[s] != PAIR_EMPTY) {
        if (m->keys[s] == key) return m->vals[s];
        s = (s + 1) & (m->cap - 1);
    }
    return missing;
}

int32_t* pairmap_slot(PairMap* m, uint64_t key, int32_t init) {
    if (2 * (m->n + 1) > m->cap) {
        PairMap g;
        g.n = 0;
        g.cap = m->cap * 2;
        g.keys = (uint64_t*)malloc_check(g.cap * sizeof *g.keys);
        g.vals = (int32_t*)malloc_check(g.cap * sizeof *g.vals);
        memset(g.keys, 0xFF, g.cap * sizeof *g.keys);
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i] == PAIR_EMPTY) continue;
            size_t s = hash_u64(m->keys[i]) & (g.cap - 1);
            while (g.keys[s] != PAIR_EMPTY) s = (s + 1) & (g.cap - 1);
            g.keys[s] = m->keys[i];
            g.vals[s] = m->vals[i];
        }
        g.n = m->n;
        pairmap_free(m);
        *m = g;
    }
    size_t s = hash_u64(key) & (m->cap - 1);
    while (m->keys[s] != PAIR_EMPTY) {
        if (m->keys[s] == key) return &m->vals[s];
        s = (s + 1) & (m->cap - 1);
    }
    m->keys[s] = key;
    m->vals[s] = init;
    m->n++;
    return &m->vals[s];
}

void intvec_reserve(IntVec* v, size_t extra) {
    if (v->n + extra <= v->cap) return;
    v->cap = (v->n + extra) * 2 + 1024;
    v->a = (int*)realloc_check(v->a, v->cap * sizeof *v->a);
}
