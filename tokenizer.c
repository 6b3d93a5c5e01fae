// tokenizer.c: byte-level BPE exactly as GPT-2 does it.
//
//   text --pre-tokenize--> words --bytes--> base ids --merges by rank--> token ids
//
// Pre-tokenization is GPT-2's regex, written out by hand over UTF-8:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \p{L}, \p{N} and \s (Unicode White_Space) from unicode_table.h (dev/gen_unicode_table.py).
// A byte that is not part of valid UTF-8 counts as one "other" character, so every input, any
// bytes at all, is split into words whose concatenation is the input: decode(encode(x)) == x.
//
// Every word starts as its bytes (256 base tokens) and merges pairs of adjacent tokens, the pair
// of lowest rank first, until no adjacent pair has a merge. Files use GPT-2's bytes_to_unicode
// mapping, which spells each byte as a printable code point (tokenizer.json, encoder.json).
//
// Sections: hashing and maps; byte <-> unicode; UTF-8 classes and pre-tokenizer; the Tokenizer
// and encode/decode; training; tokenizer.json; GPT-2 files.
#define _GNU_SOURCE
#include "tokenizer.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/unicode_table.h"
#include "lib/util.h"

#define EOT_TEXT "<|endoftext|>"

// ============================================================================
// Hashing and maps

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

static void strmap_init(StrMap* m, size_t expect) {
    memset(m, 0, sizeof *m);
    m->nslots = 64;
    while (m->nslots < 2 * expect) m->nslots *= 2;
    m->slots = (int32_t*)malloc_check(m->nslots * sizeof *m->slots);
    memset(m->slots, 0xFF, m->nslots * sizeof *m->slots);
}

static void strmap_free(StrMap* m) {
    free(m->keys);
    free(m->e);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static void strmap_clear(StrMap* m) {
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

// Index of key, or -1. With insert, adds it (values 0) when absent and sets *added.
static long strmap_find(StrMap* m, const void* key, size_t len, int insert, int* added) {
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

// Map from a pair of token ids (key = left << 32 | right) to an int.
typedef struct {
    uint64_t* keys; // UINT64_MAX = empty
    int32_t* vals;
    size_t n, cap; // cap a power of two, at most half full
} PairMap;

#define PAIR_EMPTY UINT64_MAX
static uint64_t pair_key(int left, int right) { return (uint64_t)(uint32_t)left << 32 | (uint32_t)right; }

static void pairmap_init(PairMap* m, size_t expect) {
    m->n = 0;
    m->cap = 64;
    while (m->cap < 2 * expect) m->cap *= 2;
    m->keys = (uint64_t*)malloc_check(m->cap * sizeof *m->keys);
    m->vals = (int32_t*)malloc_check(m->cap * sizeof *m->vals);
    memset(m->keys, 0xFF, m->cap * sizeof *m->keys);
}

static void pairmap_free(PairMap* m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int32_t pairmap_get(const PairMap* m, uint64_t key, int32_t missing) {
    size_t s = hash_u64(key) & (m->cap - 1);
    while (m->keys[s] != PAIR_EMPTY) {
        if (m->keys[s] == key) return m->vals[s];
        s = (s + 1) & (m->cap - 1);
    }
    return missing;
}

// Pointer to the value of key; inserts it with value `init` when absent.
static int32_t* pairmap_slot(PairMap* m, uint64_t key, int32_t init) {
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

// ============================================================================
// GPT-2's bytes_to_unicode: the 188 printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for
// themselves; the other 68 (controls, space, 0x7F..0xA0, 0xAD) become U+0100.. in byte order.
// So a space is "Ġ" (U+0120) and a newline "Ċ" (U+010A).

static int byte_is_printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

// enc[b] = code point of byte b; dec[cp] = byte for cp < 512, -1 for code points no byte uses.
static void byte_unicode_tables(uint16_t enc[256], int16_t dec[512]) {
    int n = 0;
    for (int b = 0; b < 256; b++) enc[b] = (uint16_t)(byte_is_printable(b) ? b : 256 + n++);
    for (int c = 0; c < 512; c++) dec[c] = -1;
    for (int b = 0; b < 256; b++) dec[enc[b]] = (int16_t)b;
}

// Decodes one UTF-8 sequence at s[0..n): returns its length (1..4) and the code point, or 0 when
// s[0] does not start a valid, shortest-form, non-surrogate sequence.
static int utf8_decode(const unsigned char* s, size_t n, uint32_t* cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

// Byte-level string (UTF-8 of code points that each stand for a byte) -> bytes. out must hold
// len bytes. Returns the byte count, or -1 if some character is not a byte's code point.
static long bytelevel_decode(const char* s, size_t len, const int16_t dec[512], unsigned char* out) {
    size_t i = 0, k = 0;
    while (i < len) {
        uint32_t cp;
        int l = utf8_decode((const unsigned char*)s + i, len - i, &cp);
        if (l == 0 || cp >= 512 || dec[cp] < 0) return -1;
        out[k++] = (unsigned char)dec[cp];
        i += (size_t)l;
    }
    return (long)k;
}

// Writes bytes as a byte-level string (each byte one code point, UTF-8: 1 or 2 bytes) to f.
static void bytelevel_write(FILE* f, const unsigned char* s, size_t len, const uint16_t enc[256]) {
    char buf[512];
    size_t k = 0;
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned cp = enc[s[i]];
        if (cp == '"' || cp == '\\') { buf[k++] = '\\'; buf[k++] = (char)cp; }
        else if (cp < 0x80) buf[k++] = (char)cp;
        else { buf[k++] = (char)(0xC0 | (cp >> 6)); buf[k++] = (char)(0x80 | (cp & 0x3F)); }
        if (k > sizeof buf - 4) { fwrite(buf, 1, k, f); k = 0; }
    }
    fwrite(buf, 1, k, f);
    fputc('"', f);
}

// ============================================================================
// Pre-tokenizer

// Class of the character at s[0..n) (UCLASS_L/N/S, or UCLASS_O) and its length in bytes.
// An invalid UTF-8 byte is one "other" character of length 1.
static inline int char_class(const unsigned char* s, size_t n, size_t* len) {
    // ASCII: letters, digits, and \t \n \v \f \r space
    static const uint8_t ascii[128] = {
        ['\t'] = UCLASS_S, ['\n'] = UCLASS_S, [0x0B] = UCLASS_S, [0x0C] = UCLASS_S, ['\r'] = UCLASS_S,
        [' '] = UCLASS_S,
        ['0'] = UCLASS_N, ['1'] = UCLASS_N, ['2'] = UCLASS_N, ['3'] = UCLASS_N, ['4'] = UCLASS_N,
        ['5'] = UCLASS_N, ['6'] = UCLASS_N, ['7'] = UCLASS_N, ['8'] = UCLASS_N, ['9'] = UCLASS_N,
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
        ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
        ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
        ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    };
    if (s[0] < 0x80) {
        *len = 1;
        return ascii[s[0]];
    }
    uint32_t cp;
    int l = utf8_decode(s, n, &cp);
    if (l == 0) {
        *len = 1;
        return UCLASS_O;
    }
    *len = (size_t)l;
    // binary search for the last range with lo <= cp
    size_t lo = 0, hi = UNICODE_RANGES;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (unicode_ranges[mid].lo <= cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0 && cp <= unicode_ranges[lo - 1].hi) return unicode_ranges[lo - 1].cls;
    return UCLASS_O;
}

// End of the pre-token that starts at s[i] (i < n): the regex's alternatives in order, the first
// that matches wins, each as greedy as the regex would be.
static size_t pretok_next(const unsigned char* s, size_t n, size_t i) {
    // 's 't 're 've 'm 'll 'd (case-sensitive, as GPT-2)
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char c = s[i + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return i + 2;
        if (i + 2 < n && ((c == 'r' && s[i + 2] == 'e') || (c == 'v' && s[i + 2] == 'e') || (c == 'l' && s[i + 2] == 'l')))
            return i + 3;
    }
    size_t len;
    int cls = char_class(s + i, n - i, &len);
    size_t j = i;
    if (s[i] == ' ' && i + 1 < n) {
        // " ?X+": a literal space followed by a letter, digit or other character joins that run
        size_t l1;
        int c1 = char_class(s + i + 1, n - i - 1, &l1);
        if (c1 != UCLASS_S) {
            cls = c1;
            j = i + 1;
        }
    }
    if (cls != UCLASS_S) {
        // \p{L}+, \p{N}+ or [^\s\p{L}\p{N}]+ from j
        size_t k = j;
        while (k < n) {
            size_t l;
            if (char_class(s + k, n - k, &l) != cls) break;
            k += l;
        }
        return k;
    }
    // whitespace run at i. \s+(?!\S): the whole run if it ends the text, else all but its last
    // character (which then prefixes the next word), if that leaves at least one. Otherwise \s+.
    size_t k = i, last = i, count = 0;
    while (k < n) {
        size_t l;
        if (char_class(s + k, n - k, &l) != UCLASS_S) break;
        last = k;
        k += l;
        count++;
    }
    if (k == n || count == 1) return k;
    return last;
}

size_t tok_pretok_next(const char* text, size_t len, size_t i) {
    return pretok_next((const unsigned char*)text, len, i);
}

// ============================================================================
// The tokenizer, encode, decode

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

static Tokenizer* tok_alloc(int n_vocab) {
    Tokenizer* t = (Tokenizer*)calloc_check(1, sizeof *t);
    t->n_vocab = n_vocab;
    t->eot = -1;
    t->tok_off = (size_t*)calloc_check((size_t)n_vocab + 1, sizeof *t->tok_off);
    t->tok_len = (uint32_t*)calloc_check((size_t)n_vocab + 1, sizeof *t->tok_len);
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    pairmap_init(&t->merge_rank, 1024);
    return t;
}

static void tok_set_bytes(Tokenizer* t, int id, const void* bytes, size_t len) {
    if (t->pool_len + len > t->pool_cap) {
        t->pool_cap = (t->pool_len + len) * 2 + 4096;
        t->pool = (unsigned char*)realloc_check(t->pool, t->pool_cap);
    }
    if (len) memcpy(t->pool + t->pool_len, bytes, len);
    t->tok_off[id] = t->pool_len;
    t->tok_len[id] = (uint32_t)len;
    t->pool_len += len;
}

// Appends merge (left, right) -> result with the next rank; a pair already present keeps its
// first (lower) rank, as GPT-2's dict of ranks would.
static void tok_add_merge(Tokenizer* t, int left, int right, int result) {
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

// Growable int array.
typedef struct {
    int* a;
    size_t n, cap;
} IntVec;

static void intvec_reserve(IntVec* v, size_t extra) {
    if (v->n + extra <= v->cap) return;
    v->cap = (v->n + extra) * 2 + 1024;
    v->a = (int*)realloc_check(v->a, v->cap * sizeof *v->a);
}

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

// ============================================================================
// Training: merges learned by frequency over the words of the text.
//
// The text is pre-tokenized once into distinct words with counts. Each distinct pair of
// adjacent tokens keeps its count (sum over words of occurrences x word count) and the list of
// words it occurs in. A max-heap on (count, then smaller left id, then smaller right id) gives
// the next merge; entries go stale when counts drop and are refreshed lazily when they surface.
// Merging a pair only touches the words in its list, so each step costs what it changes.

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

Tokenizer* tok_train(const char* text, size_t len, int vocab_size, char* err, size_t errlen) {
    if (vocab_size < 257 || vocab_size > TOK_MAX_VOCAB) {
        snprintf(err, errlen, "vocab size %d out of range: need 257 (256 bytes + <|endoftext|>) to %d", vocab_size,
                 TOK_MAX_VOCAB);
        return NULL;
    }
    const unsigned char* s = (const unsigned char*)text;
    // distinct words and their counts
    StrMap words;
    strmap_init(&words, 1 << 14);
    for (size_t i = 0; i < len;) {
        size_t end = pretok_next(s, len, i);
        long e = strmap_find(&words, s + i, end - i, 1, NULL);
        words.e[e].a++;
        i = end;
    }
    int nwords = (int)words.n;
    // word w's tokens: sym[start[w] .. start[w] + wlen[w]) (shrinks as merges apply)
    int* sym = (int*)malloc_check((words.keys_len + 1) * sizeof *sym);
    size_t* start = (size_t*)malloc_check(((size_t)nwords + 1) * sizeof *start);
    int* wlen = (int*)malloc_check(((size_t)nwords + 1) * sizeof *wlen);
    int64_t* wcount = (int64_t*)malloc_check(((size_t)nwords + 1) * sizeof *wcount);
    int* stamp = (int*)malloc_check(((size_t)nwords + 1) * sizeof *stamp);
    for (int w = 0; w < nwords; w++) {
        const StrEntry* e = &words.e[w];
        start[w] = e->off;
        wlen[w] = (int)e->len;
        wcount[w] = e->a;
        stamp[w] = -1;
        for (uint32_t k = 0; k < e->len; k++) sym[e->off + k] = words.keys[e->off + k];
    }
    // the vocabulary so far: 256 bytes, id = byte value; token bytes -> id for merges that
    // produce a string some earlier merge already made (the id is reused, as Hugging Face does)
    Tokenizer* t = tok_alloc(vocab_size);
    StrMap vocab;
    strmap_init(&vocab, (size_t)vocab_size);
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        tok_set_bytes(t, b, &c, 1);
        t->byte_id[b] = b;
        long e = strmap_find(&vocab, &c, 1, 1, NULL); // (may move vocab.e: index first)
        vocab.e[e].a = b;
    }
    int n_vocab = 256;
    // initial pair counts
    PairTable pt = {0};
    pairmap_init(&pt.index, 1 << 14);
    for (int w = 0; w < nwords; w++) {
        int* ws = sym + start[w];
        for (int k = 0; k + 1 < wlen[w]; k++) {
            int p = pair_get(&pt, ws[k], ws[k + 1]);
            pt.p[p].count += wcount[w];
            pair_add_word(&pt.p[p], w);
        }
    }
    for (int p = 0; p < pt.n; p++) heap_push(&pt, p);
    IntVec touched = {0};
    unsigned char* buf = NULL;
    size_t buf_cap = 0;
    for (int step = 0; n_vocab < vocab_size - 1; step++) {
        // the most frequent pair (refreshing stale heap entries)
        int best = -1;
        while (pt.hn) {
            HeapItem top = heap_pop(&pt);
            int64_t c = pt.p[top.pair].count;
            if (c == top.count) {
                best = c > 0 ? top.pair : -1;
                break;
            }
            if (c > 0) heap_push(&pt, top.pair);
        }
        if (best < 0) break; // every word is a single token: nothing left to merge
        int A = pt.p[best].left, B = pt.p[best].right;
        size_t la = t->tok_len[A], lb = t->tok_len[B];
        if (la + lb > buf_cap) {
            buf_cap = 2 * (la + lb);
            buf = (unsigned char*)realloc_check(buf, buf_cap);
        }
        memcpy(buf, t->pool + t->tok_off[A], la);
        memcpy(buf + la, t->pool + t->tok_off[B], lb);
        int added;
        long ve = strmap_find(&vocab, buf, la + lb, 1, &added);
        if (added) {
            vocab.e[ve].a = n_vocab;
            tok_set_bytes(t, n_vocab, buf, la + lb);
            n_vocab++;
        }
        int C = (int)vocab.e[ve].a;
        tok_add_merge(t, A, B, C);
        // apply the merge to every word that has the pair; move that word's pair counts
        touched.n = 0;
        for (int k = 0; k < pt.p[best].nw; k++) {
            int w = pt.p[best].words[k];
            if (stamp[w] == step) continue;
            stamp[w] = step;
            // merge left to right; only the pairs around each occurrence change:
            //   (prev, A) -> (prev, C) where prev is the token now before it (maybe a new C),
            //   (B, next) -> (C, next) where next is the original token after it,
            // which also gets overlaps right ("A A A" with A == B, or back-to-back occurrences)
            int* ws = sym + start[w];
            int m = wlen[w], o = 0;
            int64_t wc = wcount[w];
            for (int q = 0; q < m;) {
                if (q + 1 < m && ws[q] == A && ws[q + 1] == B) {
                    pt.p[best].count -= wc;
                    if (o > 0) {
                        int pp = pair_get(&pt, ws[o - 1], A); // (index first: pair_get may move pt.p)
                        pt.p[pp].count -= wc;
                        train_pair_add(&pt, ws[o - 1], C, wc, w, step, &touched);
                    }
                    if (q + 2 < m) {
                        int pn = pair_get(&pt, B, ws[q + 2]);
                        pt.p[pn].count -= wc;
                        train_pair_add(&pt, C, ws[q + 2], wc, w, step, &touched);
                    }
                    ws[o++] = C;
                    q += 2;
                } else {
                    ws[o++] = ws[q++];
                }
            }
            wlen[w] = o;
        }
        free(pt.p[best].words);
        pt.p[best].words = NULL;
        pt.p[best].nw = pt.p[best].capw = 0;
        for (size_t k = 0; k < touched.n; k++)
            if (pt.p[touched.a[k]].count > 0) heap_push(&pt, touched.a[k]);
    }
    // <|endoftext|> last
    t->eot = n_vocab;
    tok_set_bytes(t, n_vocab, EOT_TEXT, strlen(EOT_TEXT));
    t->n_vocab = n_vocab + 1;

    for (int p = 0; p < pt.n; p++) free(pt.p[p].words);
    free(pt.p);
    free(pt.heap);
    pairmap_free(&pt.index);
    free(touched.a);
    free(buf);
    strmap_free(&vocab);
    strmap_free(&words);
    free(sym);
    free(start);
    free(wlen);
    free(wcount);
    free(stamp);
    return t;
}

// ============================================================================
// Loading: shared checks for tokenizer.json and GPT-2's files

// Writes s[0..n) into out (size outlen) as a short printable quote for error messages.
static const char* quote(const char* s, size_t n, char* out, size_t outlen) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 8 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7F && c != '"' && c != '\\') out[k++] = (char)c;
        else k += (size_t)snprintf(out + k, outlen - k, "\\x%02x", c);
    }
    if (k + 8 < outlen || n == 0) out[k] = 0;
    else snprintf(out + k, outlen - k, "...");
    return out;
}

// Byte offset of the first occurrence of "key" (with quotes) in the file, or 0: locates the part
// of a tokenizer.json an error is about.
static size_t offset_of_key(const char* text, size_t len, const char* key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char* p = (const char*)memmem(text, len, pat, strlen(pat));
    return p ? (size_t)(p - text) : 0;
}

// After every id has its bytes: builds the byte -> id table from the single-byte tokens and the
// map token bytes -> id (first id wins). Returns the byte value of a missing byte token or -1.
static int tok_index(Tokenizer* t, StrMap* map) {
    strmap_init(map, (size_t)t->n_vocab);
    for (int id = 0; id < t->n_vocab; id++) {
        int added;
        long e = strmap_find(map, t->pool + t->tok_off[id], t->tok_len[id], 1, &added);
        if (added) map->e[e].a = id;
        if (t->tok_len[id] == 1 && t->byte_id[t->pool[t->tok_off[id]]] < 0) t->byte_id[t->pool[t->tok_off[id]]] = id;
    }
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) return b;
    return -1;
}

// Adds the merge of byte-level strings a and b. Returns 0, or -1 with why[] filled.
static int tok_merge_strings(Tokenizer* t, StrMap* map, const int16_t dec[512], const char* a, size_t la,
                             const char* b, size_t lb, char* why, size_t whylen) {
    char q[80];
    unsigned char* bytes = (unsigned char*)malloc_check(la + lb + 1);
    long na = bytelevel_decode(a, la, dec, bytes);
    long nb = na < 0 ? -1 : bytelevel_decode(b, lb, dec, bytes + na);
    int rc = -1;
    if (na <= 0 || nb <= 0) {
        snprintf(why, whylen, "merge part \"%s\" is empty or not byte-level text",
                 na <= 0 ? quote(a, la, q, sizeof q) : quote(b, lb, q, sizeof q));
        goto done;
    }
    long ia = strmap_find(map, bytes, (size_t)na, 0, NULL);
    long ib = strmap_find(map, bytes + na, (size_t)nb, 0, NULL);
    long ic = strmap_find(map, bytes, (size_t)(na + nb), 0, NULL);
    if (ia < 0 || ib < 0) {
        snprintf(why, whylen, "merge part \"%s\" is not in the vocabulary",
                 ia < 0 ? quote(a, la, q, sizeof q) : quote(b, lb, q, sizeof q));
        goto done;
    }
    if (ic < 0) {
        char q2[80];
        snprintf(why, whylen, "merge result \"%s%s\" is not in the vocabulary", quote(a, la, q, sizeof q),
                 quote(b, lb, q2, sizeof q2));
        goto done;
    }
    tok_add_merge(t, (int)map->e[ia].a, (int)map->e[ib].a, (int)map->e[ic].a);
    rc = 0;
done:
    free(bytes);
    return rc;
}

// ============================================================================
// tokenizer.json (Hugging Face tokenizers: BPE model, ByteLevel pre-tokenizer and decoder)

int tok_save_json(const Tokenizer* tok, const char* path, char* err, size_t errlen) {
    uint16_t enc[256];
    int16_t dec[512];
    byte_unicode_tables(enc, dec);
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen)) return -1;
    FILE* f = af.f;
    fprintf(f, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
    if (tok->eot >= 0) {
        fprintf(f, "\n    {\"id\": %d, \"content\": ", tok->eot);
        json_write_string(f, (const char*)tok->pool + tok->tok_off[tok->eot], tok->tok_len[tok->eot]);
        fprintf(f, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": true, "
                   "\"special\": true}\n  ");
    }
    fprintf(f, "],\n  \"normalizer\": null,\n"
               "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
               "\"use_regex\": true},\n"
               "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, "
               "\"use_regex\": true},\n"
               "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
               "\"use_regex\": true},\n"
               "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
               "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n"
               "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n"
               "    \"vocab\": {");
    for (int id = 0; id < tok->n_vocab; id++) {
        fprintf(f, "%s\n      ", id ? "," : "");
        const unsigned char* b = tok->pool + tok->tok_off[id];
        if (id == tok->eot) json_write_string(f, (const char*)b, tok->tok_len[id]); // spelled as itself
        else bytelevel_write(f, b, tok->tok_len[id], enc);
        fprintf(f, ": %d", id);
    }
    fprintf(f, "\n    },\n    \"merges\": [");
    for (int r = 0; r < tok->n_merges; r++) {
        // "a b": byte-level strings never contain a space (it is spelled U+0120)
        int a = tok->merge[r][0], b = tok->merge[r][1];
        size_t la = tok->tok_len[a], lb = tok->tok_len[b];
        unsigned char* both = (unsigned char*)malloc_check(la + lb + 1);
        memcpy(both, tok->pool + tok->tok_off[a], la);
        memcpy(both + la + 1, tok->pool + tok->tok_off[b], lb);
        // write the two halves with a literal space between them inside one JSON string
        fprintf(f, "%s\n      ", r ? "," : "");
        char buf[1024];
        size_t k = 0;
        for (size_t i = 0; i < la + lb + 1; i++) {
            unsigned cp = i == la ? ' ' : enc[both[i]];
            if (cp == '"' || cp == '\\') { buf[k++] = '\\'; buf[k++] = (char)cp; }
            else if (cp < 0x80) buf[k++] = (char)cp;
            else { buf[k++] = (char)(0xC0 | (cp >> 6)); buf[k++] = (char)(0x80 | (cp & 0x3F)); }
            if (k > sizeof buf - 4) { fwrite(buf, 1, k, f); k = 0; }
        }
        fputc('"', f);
        fwrite(buf, 1, k, f);
        fputc('"', f);
        free(both);
    }
    fprintf(f, "\n    ]\n  }\n}\n");
    if (ferror(f)) {
        set_err(err, errlen, "%s: write failed", path);
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

// Fails loading tokenizer.json: "PATH: byte offset N: what".
#define JSON_FAIL(off, ...)                                                   \
    do {                                                                      \
        char what_[400];                                                      \
        snprintf(what_, sizeof what_, __VA_ARGS__);                           \
        set_err(err, errlen, "%s: byte offset %zu: %s", path, (size_t)(off), what_); \
        goto fail;                                                            \
    } while (0)

Tokenizer* tok_load_json(const char* path, char* err, size_t errlen) {
    uint16_t enc[256];
    int16_t dec[512];
    byte_unicode_tables(enc, dec);
    size_t len;
    char ferr[512];
    char* text = read_file(path, &len, ferr, sizeof ferr);
    if (!text) {
        set_err(err, errlen, "%s", ferr);
        return NULL;
    }
    JsonValue root;
    char jerr[300];
    if (json_parse(&root, text, len, jerr, sizeof jerr)) {
        set_err(err, errlen, "%s: %s", path, jerr); // jerr is "byte offset N: ..."
        free(text);
        return NULL;
    }
    Tokenizer* t = NULL;
    StrMap map = {0};
    unsigned char* bytes = NULL;
    char why[300], q[80];
    if (root.type != JSON_OBJECT) JSON_FAIL(0, "not a JSON object");
    const JsonValue* model = json_get(&root, "model");
    size_t model_off = offset_of_key(text, len, "model");
    if (!model || model->type != JSON_OBJECT) JSON_FAIL(model_off, "no \"model\" object");
    const JsonValue* type = json_get(model, "type");
    if (type && !json_is_string(type, "BPE"))
        JSON_FAIL(model_off + offset_of_key(text + model_off, len - model_off, "type"),
                  "model type is not \"BPE\" (only byte-level BPE is supported)");
    const JsonValue* norm = json_get(&root, "normalizer");
    if (norm && norm->type != JSON_NULL)
        JSON_FAIL(offset_of_key(text, len, "normalizer"), "a normalizer is not supported (GPT-2 has none)");
    const JsonValue* pre = json_get(&root, "pre_tokenizer");
    if (pre) {
        const JsonValue* pt = json_get(pre, "type");
        const JsonValue* aps = json_get(pre, "add_prefix_space");
        size_t off = offset_of_key(text, len, "pre_tokenizer");
        if (!json_is_string(pt, "ByteLevel"))
            JSON_FAIL(off, "pre_tokenizer is not ByteLevel");
        if (aps && aps->type == JSON_TRUE) JSON_FAIL(off, "pre_tokenizer add_prefix_space true is not supported");
    }
    const JsonValue* vocab = json_get(model, "vocab");
    size_t vocab_off = offset_of_key(text, len, "vocab");
    if (!vocab || vocab->type != JSON_OBJECT) JSON_FAIL(vocab_off, "model has no \"vocab\" object");
    const JsonValue* added = json_get(&root, "added_tokens");
    size_t added_off = offset_of_key(text, len, "added_tokens");
    if (added && added->type != JSON_ARRAY && added->type != JSON_NULL)
        JSON_FAIL(added_off, "\"added_tokens\" is not an array");
    size_t nadded = added && added->type == JSON_ARRAY ? added->len : 0;
    // ids must be 0..n-1, each once (an added token may repeat its vocab entry)
    long long max_id = -1;
    for (size_t k = 0; k < vocab->len; k++) {
        const JsonValue* v = &vocab->items[k];
        // range first: casting a double outside long long's range is undefined behaviour
        if (v->type != JSON_NUMBER || v->number < 0 || v->number >= TOK_MAX_VOCAB ||
            v->number != (double)(long long)v->number)
            JSON_FAIL(vocab_off, "vocab entry \"%s\": id is not an integer in [0, %d)",
                      quote(vocab->keys[k], vocab->key_lens[k], q, sizeof q), TOK_MAX_VOCAB);
        if ((long long)v->number > max_id) max_id = (long long)v->number;
    }
    for (size_t k = 0; k < nadded; k++) {
        long long id;
        const JsonValue* c = json_get(&added->items[k], "content");
        if (json_get_int(&added->items[k], "id", &id) || id < 0 || id >= TOK_MAX_VOCAB || !c || c->type != JSON_STRING)
            JSON_FAIL(added_off, "added_tokens[%zu] needs an integer \"id\" in [0, %d) and a string \"content\"", k,
                      TOK_MAX_VOCAB);
        if (id > max_id) max_id = id;
    }
    if (max_id < 256) JSON_FAIL(vocab_off, "vocab has %lld ids, fewer than the 256 byte tokens", max_id + 1);
    // fewer entries than ids means a gap: refused before allocating tables for max_id + 1 ids
    if ((size_t)max_id + 1 > vocab->len + nadded)
        JSON_FAIL(vocab_off, "ids go up to %lld but there are only %zu tokens (ids must be 0..n-1 without gaps)",
                  max_id, vocab->len + nadded);
    t = tok_alloc((int)max_id + 1);
    char* seen = (char*)calloc_check((size_t)max_id + 1, 1);
    size_t maxkey = 0;
    for (size_t k = 0; k < vocab->len; k++)
        if (vocab->key_lens[k] > maxkey) maxkey = vocab->key_lens[k];
    bytes = (unsigned char*)malloc_check(maxkey + 1);
    for (size_t k = 0; k < vocab->len; k++) {
        int id = (int)vocab->items[k].number;
        long nb = bytelevel_decode(vocab->keys[k], vocab->key_lens[k], dec, bytes);
        if (nb <= 0) {
            free(seen);
            JSON_FAIL(vocab_off, "vocab entry \"%s\" is empty or not byte-level text",
                      quote(vocab->keys[k], vocab->key_lens[k], q, sizeof q));
        }
        if (seen[id]) {
            free(seen);
            JSON_FAIL(vocab_off, "vocab id %d appears twice", id);
        }
        seen[id] = 1;
        tok_set_bytes(t, id, bytes, (size_t)nb);
    }
    for (size_t k = 0; k < nadded; k++) {
        long long id;
        json_get_int(&added->items[k], "id", &id);
        const JsonValue* c = json_get(&added->items[k], "content");
        if (!seen[id]) {
            seen[id] = 1;
            tok_set_bytes(t, (int)id, c->str, c->len); // added tokens are spelled as themselves
        }
        if (c->len == strlen(EOT_TEXT) && memcmp(c->str, EOT_TEXT, c->len) == 0) t->eot = (int)id;
    }
    for (long long id = 0; id <= max_id; id++) {
        if (!seen[id]) {
            free(seen);
            JSON_FAIL(vocab_off, "no token has id %lld (ids must be 0..%lld without gaps)", id, max_id);
        }
    }
    free(seen);
    int missing = tok_index(t, &map);
    if (missing >= 0) JSON_FAIL(vocab_off, "vocab lacks the token of byte 0x%02x", missing);
    if (t->eot < 0) {
        long e = strmap_find(&map, EOT_TEXT, strlen(EOT_TEXT), 0, NULL);
        if (e >= 0) t->eot = (int)map.e[e].a;
    }
    const JsonValue* merges = json_get(model, "merges");
    size_t merges_off = offset_of_key(text, len, "merges");
    if (!merges || merges->type != JSON_ARRAY) JSON_FAIL(merges_off, "model has no \"merges\" array");
    for (size_t k = 0; k < merges->len; k++) {
        const JsonValue* m = &merges->items[k];
        const char *a, *b;
        size_t la, lb;
        if (m->type == JSON_STRING) { // "a b"
            const char* sp = (const char*)memchr(m->str, ' ', m->len);
            if (!sp || memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->str)))
                JSON_FAIL(merges_off, "merges[%zu] \"%s\" is not two tokens separated by one space", k,
                          quote(m->str, m->len, q, sizeof q));
            a = m->str;
            la = (size_t)(sp - m->str);
            b = sp + 1;
            lb = m->len - la - 1;
        } else if (m->type == JSON_ARRAY && m->len == 2 && m->items[0].type == JSON_STRING &&
                   m->items[1].type == JSON_STRING) { // ["a", "b"]
            a = m->items[0].str;
            la = m->items[0].len;
            b = m->items[1].str;
            lb = m->items[1].len;
        } else {
            JSON_FAIL(merges_off, "merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", k);
        }
        if (tok_merge_strings(t, &map, dec, a, la, b, lb, why, sizeof why))
            JSON_FAIL(merges_off, "merges[%zu]: %s", k, why);
    }
    free(bytes);
    strmap_free(&map);
    json_free(&root);
    free(text);
    return t;
fail:
    free(bytes);
    strmap_free(&map);
    tok_free(t);
    json_free(&root);
    free(text);
    return NULL;
}

// ============================================================================
// GPT-2's encoder.json (byte-level token -> id) and vocab.bpe ("#version" line, then one merge
// "a b" per line, by rank)

Tokenizer* tok_load_gpt2(const char* encoder_json, const char* vocab_bpe, char* err, size_t errlen) {
    uint16_t enc[256];
    int16_t dec[512];
    byte_unicode_tables(enc, dec);
    char ferr[512], jerr[300], why[300], q[80];
    size_t elen, blen;
    char* etext = read_file(encoder_json, &elen, ferr, sizeof ferr);
    if (!etext) {
        set_err(err, errlen, "%s", ferr);
        return NULL;
    }
    JsonValue root;
    if (json_parse(&root, etext, elen, jerr, sizeof jerr)) {
        set_err(err, errlen, "%s: %s", encoder_json, jerr);
        free(etext);
        return NULL;
    }
    Tokenizer* t = NULL;
    StrMap map = {0};
    char* btext = NULL;
    unsigned char* bytes = NULL;
    char* seen = NULL;
    if (root.type != JSON_OBJECT || root.len < 256) {
        set_err(err, errlen, "%s: byte offset 0: not a JSON object of at least 256 tokens", encoder_json);
        goto fail;
    }
    long long max_id = -1;
    size_t maxkey = 0;
    for (size_t k = 0; k < root.len; k++) {
        const JsonValue* v = &root.items[k];
        // range first: casting a double outside long long's range is undefined behaviour
        if (v->type != JSON_NUMBER || v->number < 0 || v->number >= TOK_MAX_VOCAB ||
            v->number != (double)(long long)v->number) {
            set_err(err, errlen, "%s: byte offset %zu: token \"%s\": id is not an integer in [0, %d)", encoder_json,
                    offset_of_key(etext, elen, root.keys[k]), quote(root.keys[k], root.key_lens[k], q, sizeof q),
                    TOK_MAX_VOCAB);
            goto fail;
        }
        if ((long long)v->number > max_id) max_id = (long long)v->number;
        if (root.key_lens[k] > maxkey) maxkey = root.key_lens[k];
    }
    // fewer entries than ids means a gap: refused before allocating tables for max_id + 1 ids
    if ((size_t)max_id + 1 > root.len) {
        set_err(err, errlen, "%s: byte offset 0: ids go up to %lld but there are only %zu tokens (ids must be 0..n-1 "
                "without gaps)", encoder_json, max_id, root.len);
        goto fail;
    }
    t = tok_alloc((int)max_id + 1);
    seen = (char*)calloc_check((size_t)max_id + 1, 1);
    bytes = (unsigned char*)malloc_check(maxkey + 1);
    for (size_t k = 0; k < root.len; k++) {
        int id = (int)root.items[k].number;
        long nb = bytelevel_decode(root.keys[k], root.key_lens[k], dec, bytes);
        if (nb <= 0 || seen[id]) {
            set_err(err, errlen, "%s: byte offset %zu: token \"%s\": %s", encoder_json,
                    offset_of_key(etext, elen, root.keys[k]), quote(root.keys[k], root.key_lens[k], q, sizeof q),
                    nb <= 0 ? "empty or not byte-level text" : "its id is used twice");
            goto fail;
        }
        seen[id] = 1;
        tok_set_bytes(t, id, bytes, (size_t)nb);
    }
    for (long long id = 0; id <= max_id; id++) {
        if (!seen[id]) {
            set_err(err, errlen, "%s: byte offset 0: no token has id %lld (ids must be 0..%lld without gaps)",
                    encoder_json, id, max_id);
            goto fail;
        }
    }
    int missing = tok_index(t, &map);
    if (missing >= 0) {
        set_err(err, errlen, "%s: byte offset 0: no token for byte 0x%02x", encoder_json, missing);
        goto fail;
    }
    long e = strmap_find(&map, EOT_TEXT, strlen(EOT_TEXT), 0, NULL);
    if (e >= 0) t->eot = (int)map.e[e].a;
    btext = read_file(vocab_bpe, &blen, ferr, sizeof ferr);
    if (!btext) {
        set_err(err, errlen, "%s", ferr);
        goto fail;
    }
    // lines: an optional "#version" header, then merges; blank lines only at the end
    size_t line = 0, nblank_from = 0;
    for (size_t i = 0; i < blen;) {
        const char* ln = btext + i;
        const char* nl = (const char*)memchr(ln, '\n', blen - i);
        size_t ll = nl ? (size_t)(nl - ln) : blen - i;
        i += ll + (nl ? 1 : 0);
        line++;
        if (ll && ln[ll - 1] == '\r') ll--;
        if (line == 1 && ll && ln[0] == '#') continue;
        if (ll == 0) {
            if (!nblank_from) nblank_from = line;
            continue;
        }
        if (nblank_from) {
            set_err(err, errlen, "%s: line %zu: blank line in the middle of the merges", vocab_bpe, nblank_from);
            goto fail;
        }
        const char* sp = (const char*)memchr(ln, ' ', ll);
        if (!sp || sp == ln || sp + 1 == ln + ll || memchr(sp + 1, ' ', ll - (size_t)(sp + 1 - ln))) {
            set_err(err, errlen, "%s: line %zu: \"%s\" is not two tokens separated by one space", vocab_bpe, line,
                    quote(ln, ll, q, sizeof q));
            goto fail;
        }
        size_t la = (size_t)(sp - ln);
        if (tok_merge_strings(t, &map, dec, ln, la, sp + 1, ll - la - 1, why, sizeof why)) {
            set_err(err, errlen, "%s: line %zu: %s", vocab_bpe, line, why);
            goto fail;
        }
    }
    if (t->n_merges == 0) {
        set_err(err, errlen, "%s: line %zu: no merges in the file", vocab_bpe, line);
        goto fail;
    }
    free(seen);
    free(bytes);
    free(btext);
    strmap_free(&map);
    json_free(&root);
    free(etext);
    return t;
fail:
    free(seen);
    free(bytes);
    free(btext);
    strmap_free(&map);
    tok_free(t);
    json_free(&root);
    free(etext);
    return NULL;
}
