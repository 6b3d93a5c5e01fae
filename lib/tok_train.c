// lib/tok_train.c: tok_train, BPE merges learned by frequency over the words of the text.
//
// The text is pre-tokenized once into distinct words with counts. Each distinct pair of
// adjacent tokens keeps its count (sum over words of occurrences x word count) and the list of
// words it occurs in. A max-heap on (count, then smaller left id, then smaller right id) gives
// the next merge; entries go stale when counts drop and are refreshed lazily when they surface.
// Merging a pair only touches the words in its list, so each step costs what it changes.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"
#include "tok_internal.h"
#include "util.h"

typedef struct {
    int left, right;
    int64_t count;
    int* words; // indices of words containing the pair (may be stale or repeated)
    int nw, capw;
    int touched; // merge step that last created this pair in some word (for heap pushes)
} TrainPair;

typedef struct {
    int64_t count;
    int pair;
} HeapItem;

typedef struct {
    TrainPair* p;
    int n, cap;
    PairMap index; // pair_key -> index in p
    HeapItem* heap;
    size_t hn, hcap;
} PairTable;

// True if heap item x should come out before y: higher count, then lower (left, right).
static int heap_before(const PairTable* pt, HeapItem x, HeapItem y) {
    if (x.count != y.count) return x.count > y.count;
    const TrainPair *a = &pt->p[x.pair], *b = &pt->p[y.pair];
    if (a->left != b->left) return a->left < b->left;
    return a->right < b->right;
}

static void heap_push(PairTable* pt, int pair) {
    if (pt->hn == pt->hcap) {
        pt->hcap = pt->hcap ? 2 * pt->hcap : 4096;
        pt->heap = (HeapItem*)realloc_check(pt->heap, pt->hcap * sizeof *pt->heap);
    }
    HeapItem it = {pt->p[pair].count, pair};
    size_t k = pt->hn++;
    while (k > 0) {
        size_t up = (k - 1) / 2;
        if (!heap_before(pt, it, pt->heap[up])) break;
        pt->heap[k] = pt->heap[up];
        k = up;
    }
    pt->heap[k] = it;
}

static HeapItem heap_pop(PairTable* pt) {
    HeapItem top = pt->heap[0], last = pt->heap[--pt->hn];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= pt->hn) break;
        if (c + 1 < pt->hn && heap_before(pt, pt->heap[c + 1], pt->heap[c])) c++;
        if (!heap_before(pt, pt->heap[c], last)) break;
        pt->heap[k] = pt->heap[c];
        k = c;
    }
    if (pt->hn) pt->heap[k] = last;
    return top;
}

// Index of pair (left, right), created with count 0 if new.
static int pair_get(PairTable* pt, int left, int right) {
    int32_t* slot = pairmap_slot(&pt->index, pair_key(left, right), -1);
    if (*slot >= 0) return *slot;
    if (pt->n == pt->cap) {
        pt->cap = pt->cap ? 2 * pt->cap : 4096;
        pt->p = (TrainPair*)realloc_check(pt->p, (size_t)pt->cap * sizeof *pt->p);
    }
    TrainPair* p = &pt->p[pt->n];
    memset(p, 0, sizeof *p);
    p->left = left;
    p->right = right;
    p->touched = -1;
    *slot = pt->n;
    return pt->n++;
}

static void pair_add_word(TrainPair* p, int w) {
    if (p->nw && p->words[p->nw - 1] == w) return;
    if (p->nw == p->capw) {
        p->capw = p->capw ? 2 * p->capw : 4;
        p->words = (int*)realloc_check(p->words, (size_t)p->capw * sizeof *p->words);
    }
    p->words[p->nw++] = w;
}

// Adds wc to pair (left, right), which word w now contains, and notes it for a heap push.
static void train_pair_add(PairTable* pt, int left, int right, int64_t wc, int w, int step, IntVec* touched) {
    int p = pair_get(pt, left, right);
    pt->p[p].count += wc;
    pair_add_word(&pt->p[p], w);
    if (pt->p[p].touched != step) {
        pt->p[p].touched = step;
        intvec_reserve(touched, 1);
        touched->a[touched->n++] = p;
    }
}

// The distinct words of the text while merges apply: word w is seen count[w] times and its tokens
// are sym[start[w] .. start[w] + wlen[w]) (shrinking as merges apply).
typedef struct {
    StrMap map; // word bytes -> count (value a), in order of first appearance
    int n;
    int* sym;
    size_t* start;
    int* wlen;
    int64_t* count;
    int* stamp; // merge step that last rewrote the word
} TrainWords;

// Pre-tokenizes text once into its distinct words and their counts, each word as its bytes. With
// special, the text between occurrences of <|endoftext|>, each piece on its own.
static void train_words_init(TrainWords* tw, const unsigned char* s, size_t len, int special) {
    strmap_init(&tw->map, 1 << 14);
    size_t el = strlen(EOT_TEXT);
    for (size_t from = 0; from < len;) {
        const unsigned char* at = special ? (const unsigned char*)memmem(s + from, len - from, EOT_TEXT, el) : NULL;
        size_t to = at ? (size_t)(at - s) : len;
        for (size_t i = from; i < to;) {
            size_t end = from + pretok_next(s + from, to - from, i - from);
            long e = strmap_find(&tw->map, s + i, end - i, 1, NULL);
            tw->map.e[e].a++;
            i = end;
        }
        from = at ? to + el : len;
    }
    int n = tw->n = (int)tw->map.n;
    tw->sym = (int*)malloc_check((tw->map.keys_len + 1) * sizeof *tw->sym);
    tw->start = (size_t*)malloc_check(((size_t)n + 1) * sizeof *tw->start);
    tw->wlen = (int*)malloc_check(((size_t)n + 1) * sizeof *tw->wlen);
    tw->count = (int64_t*)malloc_check(((size_t)n + 1) * sizeof *tw->count);
    tw->stamp = (int*)malloc_check(((size_t)n + 1) * sizeof *tw->stamp);
    for (int w = 0; w < n; w++) {
        const StrEntry* e = &tw->map.e[w];
        tw->start[w] = e->off;
        tw->wlen[w] = (int)e->len;
        tw->count[w] = e->a;
        tw->stamp[w] = -1;
        for (uint32_t k = 0; k < e->len; k++) tw->sym[e->off + k] = tw->map.keys[e->off + k];
    }
}

static void train_words_free(TrainWords* tw) {
    strmap_free(&tw->map);
    free(tw->sym);
    free(tw->start);
    free(tw->wlen);
    free(tw->count);
    free(tw->stamp);
}

// The initial pair counts of the words, every pair on the heap.
static void train_pairs_init(PairTable* pt, const TrainWords* tw) {
    memset(pt, 0, sizeof *pt);
    pairmap_init(&pt->index, 1 << 14);
    for (int w = 0; w < tw->n; w++) {
        const int* ws = tw->sym + tw->start[w];
        for (int k = 0; k + 1 < tw->wlen[w]; k++) {
            int p = pair_get(pt, ws[k], ws[k + 1]);
            pt->p[p].count += tw->count[w];
            pair_add_word(&pt->p[p], w);
        }
    }
    for (int p = 0; p < pt->n; p++) heap_push(pt, p);
}

static void train_pairs_free(PairTable* pt) {
    for (int p = 0; p < pt->n; p++) free(pt->p[p].words);
    free(pt->p);
    free(pt->heap);
    pairmap_free(&pt->index);
}

// The most frequent pair (refreshing stale heap entries), or -1 when every word is one token.
static int train_best_pair(PairTable* pt) {
    while (pt->hn) {
        HeapItem top = heap_pop(pt);
        int64_t c = pt->p[top.pair].count;
        if (c == top.count) return c > 0 ? top.pair : -1;
        if (c > 0) heap_push(pt, top.pair);
    }
    return -1;
}

// The vocabulary so far: token bytes -> id, so that a merge producing a string some earlier merge
// already made reuses its id (as Hugging Face does); buf holds the merged bytes.
typedef struct {
    StrMap map;
    int n;
    unsigned char* buf;
    size_t buf_cap;
} TrainVocab;

// Id of the concatenation of tokens A and B, added to t when new.
static int train_token_of(Tokenizer* t, TrainVocab* v, int A, int B) {
    size_t la = t->tok_len[A], lb = t->tok_len[B];
    if (la + lb > v->buf_cap) {
        v->buf_cap = 2 * (la + lb);
        v->buf = (unsigned char*)realloc_check(v->buf, v->buf_cap);
    }
    memcpy(v->buf, t->pool + t->tok_off[A], la);
    memcpy(v->buf + la, t->pool + t->tok_off[B], lb);
    int added;
    long ve = strmap_find(&v->map, v->buf, la + lb, 1, &added);
    if (added) {
        v->map.e[ve].a = v->n;
        tok_set_bytes(t, v->n, v->buf, la + lb);
        v->n++;
    }
    return (int)v->map.e[ve].a;
}

// Applies merge (A, B) -> C (pair index best) to word w, left to right, moving its pair counts.
// Only the pairs around each occurrence change:
//   (prev, A) -> (prev, C) where prev is the token now before it (maybe a new C),
//   (B, next) -> (C, next) where next is the original token after it,
// which also gets overlaps right ("A A A" with A == B, or back-to-back occurrences).
static void train_merge_word(PairTable* pt, TrainWords* tw, int w, int best, int C, int step, IntVec* touched) {
    int A = pt->p[best].left, B = pt->p[best].right;
    int* ws = tw->sym + tw->start[w];
    int m = tw->wlen[w], o = 0;
    int64_t wc = tw->count[w];
    for (int q = 0; q < m;) {
        if (q + 1 < m && ws[q] == A && ws[q + 1] == B) {
            pt->p[best].count -= wc;
            if (o > 0) {
                int pp = pair_get(pt, ws[o - 1], A); // (index first: pair_get may move pt->p)
                pt->p[pp].count -= wc;
                train_pair_add(pt, ws[o - 1], C, wc, w, step, touched);
            }
            if (q + 2 < m) {
                int pn = pair_get(pt, B, ws[q + 2]);
                pt->p[pn].count -= wc;
                train_pair_add(pt, C, ws[q + 2], wc, w, step, touched);
            }
            ws[o++] = C;
            q += 2;
        } else {
            ws[o++] = ws[q++];
        }
    }
    tw->wlen[w] = o;
}

static Tokenizer* train(const char* text, size_t len, int vocab_size, int special, char* err, size_t errlen) {
    if (vocab_size < 257 || vocab_size > TOK_MAX_VOCAB) {
        snprintf(err, errlen, "vocab size %d out of range: need 257 (256 bytes + <|endoftext|>) to %d", vocab_size,
                 TOK_MAX_VOCAB);
        return NULL;
    }
    TrainWords tw;
    train_words_init(&tw, (const unsigned char*)text, len, special);
    // the 256 bytes first, id = byte value
    Tokenizer* t = tok_alloc(vocab_size);
    TrainVocab v = {.n = 256};
    strmap_init(&v.map, (size_t)vocab_size);
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        tok_set_bytes(t, b, &c, 1);
        t->byte_id[b] = b;
        long e = strmap_find(&v.map, &c, 1, 1, NULL); // (may move v.map.e: index first)
        v.map.e[e].a = b;
    }
    PairTable pt;
    train_pairs_init(&pt, &tw);
    IntVec touched = {0};
    for (int step = 0; v.n < vocab_size - 1; step++) {
        int best = train_best_pair(&pt);
        if (best < 0) break; // every word is a single token: nothing left to merge
        int A = pt.p[best].left, B = pt.p[best].right;
        int C = train_token_of(t, &v, A, B);
        tok_add_merge(t, A, B, C);
        // apply the merge to every word that has the pair
        touched.n = 0;
        for (int k = 0; k < pt.p[best].nw; k++) {
            int w = pt.p[best].words[k];
            if (tw.stamp[w] == step) continue;
            tw.stamp[w] = step;
            train_merge_word(&pt, &tw, w, best, C, step, &touched);
        }
        free(pt.p[best].words);
        pt.p[best].words = NULL;
        pt.p[best].nw = pt.p[best].capw = 0;
        for (size_t k = 0; k < touched.n; k++)
            if (pt.p[touched.a[k]].count > 0) heap_push(&pt, touched.a[k]);
    }
    // <|endoftext|> last
    t->eot = v.n;
    tok_set_bytes(t, v.n, EOT_TEXT, strlen(EOT_TEXT));
    t->n_vocab = v.n + 1;
    train_pairs_free(&pt);
    free(touched.a);
    free(v.buf);
    strmap_free(&v.map);
    train_words_free(&tw);
    return t;
}

Tokenizer* tok_train(const char* text, size_t len, int vocab_size, char* err, size_t errlen) {
    return train(text, len, vocab_size, 0, err, errlen);
}

Tokenizer* tok_train_special(const char* text, size_t len, int vocab_size, char* err, size_t errlen) {
    return train(text, len, vocab_size, 1, err, errlen);
}
