// data/ngram.c: unigram, bigram and trigram baselines (cross-entropy on the val split of models
// counted on the train split; the estimator is defined in data/corpus.h above ngram_entropies).
// Counts of bigrams and trigrams live in open-addressing hash maps that grow with the data, so
// memory is O(distinct n-grams), never O(V^2) or O(V^3).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/util.h"
#include "corpus.h"

#define NGRAM_MAX_VOCAB (1 << 21) // three ids of 21 bits pack into one 64-bit key

// uint64 key -> count. Keys are stored + 1 so that 0 marks an empty slot.
typedef struct {
    uint64_t* keys;
    uint64_t* counts;
    size_t cap; // power of two
    size_t size;
} CountMap;

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void map_init(CountMap* m, size_t cap) {
    m->cap = cap;
    m->size = 0;
    m->keys = calloc_check(cap, sizeof(uint64_t));
    m->counts = calloc_check(cap, sizeof(uint64_t));
}

static void map_free(CountMap* m) {
    free(m->keys);
    free(m->counts);
}

// Slot of key (stored form) in m: its slot if present, else the empty slot where it would go.
static size_t map_slot(const CountMap* m, uint64_t stored) {
    size_t mask = m->cap - 1, s = (size_t)mix64(stored) & mask;
    while (m->keys[s] != 0 && m->keys[s] != stored) s = (s + 1) & mask;
    return s;
}

static void map_add(CountMap* m, uint64_t key, uint64_t count);

// Doubles the table, keeping the load factor under 1/2.
static void map_grow(CountMap* m) {
    CountMap bigger;
    map_init(&bigger, m->cap * 2);
    for (size_t s = 0; s < m->cap; s++)
        if (m->keys[s]) map_add(&bigger, m->keys[s] - 1, m->counts[s]);
    map_free(m);
    *m = bigger;
}

static void map_add(CountMap* m, uint64_t key, uint64_t count) {
    if (2 * (m->size + 1) > m->cap) map_grow(m);
    size_t s = map_slot(m, key + 1);
    if (m->keys[s] == 0) {
        m->keys[s] = key + 1;
        m->size++;
    }
    m->counts[s] += count;
}

static uint64_t map_get(const CountMap* m, uint64_t key) {
    size_t s = map_slot(m, key + 1);
    return m->keys[s] ? m->counts[s] : 0;
}

static uint64_t key2(int a, int b) { return ((uint64_t)a << 21) | (uint64_t)b; }
static uint64_t key3(int a, int b, int c) { return ((uint64_t)a << 42) | ((uint64_t)b << 21) | (uint64_t)c; }

// Index of the first token outside [0, V), or n if none.
static size_t first_bad_token(const int* x, size_t n, int V) {
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0 || x[i] >= V) return i;
    return n;
}

int ngram_entropies(const int* train, size_t n_train, const int* val, size_t n_val, int vocab_size,
                    NgramStats* out, char* err, size_t errlen) {
    int V = vocab_size;
    if (V < 1 || V > NGRAM_MAX_VOCAB) {
        snprintf(err, errlen, "n-gram baseline: vocab size %d outside [1, %d]", V, NGRAM_MAX_VOCAB);
        return -1;
    }
    if (n_train < 1 || n_val < 3) {
        snprintf(err, errlen, "n-gram baseline: need at least 1 train and 3 val tokens (have %zu and %zu)",
                 n_train, n_val);
        return -1;
    }
    size_t bad = first_bad_token(train, n_train, V);
    if (bad < n_train) {
        snprintf(err, errlen, "n-gram baseline: train token %zu is %d, outside [0, %d)", bad, train[bad], V);
        return -1;
    }
    bad = first_bad_token(val, n_val, V);
    if (bad < n_val) {
        snprintf(err, errlen, "n-gram baseline: val token %zu is %d, outside [0, %d)", bad, val[bad], V);
        return -1;
    }

    // Train counts: c1[w]; ctx1[u] = c(u,·); c2 (u,w); c3 (t,u,w); ctx2 (t,u) = c(t,u,·).
    uint64_t* c1 = calloc_check((size_t)V, sizeof(uint64_t));
    uint64_t* ctx1 = calloc_check((size_t)V, sizeof(uint64_t));
    CountMap c2, c3, ctx2, types2;
    map_init(&c2, 1024);
    map_init(&c3, 1024);
    map_init(&ctx2, 1024);
    for (size_t i = 0; i < n_train; i++) {
        c1[train[i]]++;
        if (i >= 1) {
            ctx1[train[i - 1]]++;
            map_add(&c2, key2(train[i - 1], train[i]), 1);
        }
        if (i >= 2) {
            map_add(&ctx2, key2(train[i - 2], train[i - 1]), 1);
            map_add(&c3, key3(train[i - 2], train[i - 1], train[i]), 1);
        }
    }
    // Witten-Bell weights: T(u) = distinct w after u, T(t,u) = distinct w after (t,u); one pass
    // over the distinct bigrams and trigrams.
    uint64_t* types1 = calloc_check((size_t)V, sizeof(uint64_t));
    for (size_t s = 0; s < c2.cap; s++)
        if (c2.keys[s]) types1[((c2.keys[s] - 1) >> 21) & 0x1FFFFF]++;
    map_init(&types2, 1024);
    for (size_t s = 0; s < c3.cap; s++)
        if (c3.keys[s]) map_add(&types2, (c3.keys[s] - 1) >> 21, 1);

    // Cross-entropy over val positions t = 2..n_val-1, summed in double.
    double s1 = 0.0, s2 = 0.0, s3 = 0.0;
    double denom1 = (double)n_train + (double)V;
    for (size_t t = 2; t < n_val; t++) {
        int a = val[t - 2], u = val[t - 1], w = val[t];
        double p1 = ((double)c1[w] + 1.0) / denom1;
        double p2 = p1;
        if (ctx1[u] > 0) {
            double T = (double)types1[u];
            p2 = ((double)map_get(&c2, key2(u, w)) + T * p1) / ((double)ctx1[u] + T);
        }
        double p3 = p2;
        uint64_t n_ctx = map_get(&ctx2, key2(a, u));
        if (n_ctx > 0) {
            double T = (double)map_get(&types2, key2(a, u));
            p3 = ((double)map_get(&c3, key3(a, u, w)) + T * p2) / ((double)n_ctx + T);
        }
        s1 -= log(p1);
        s2 -= log(p2);
        s3 -= log(p3);
    }
    size_t M = n_val - 2;
    out->h1 = s1 / (double)M;
    out->h2 = s2 / (double)M;
    out->h3 = s3 / (double)M;
    out->n_train = n_train;
    out->n_val = n_val;
    out->positions = M;
    out->distinct2 = c2.size;
    out->distinct3 = c3.size;
    free(c1);
    free(ctx1);
    free(types1);
    map_free(&types2);
    map_free(&c2);
    map_free(&c3);
    map_free(&ctx2);
    return 0;
}
