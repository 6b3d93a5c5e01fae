// lib/pretok.c: GPT-2's pre-tokenizer, its regex written out by hand over UTF-8:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \p{L}, \p{N} and \s (Unicode White_Space) from unicode_table.h (dev/gen_unicode_table.py).
// A byte that is not part of valid UTF-8 counts as one "other" character, so every input, any
// bytes at all, is split into words whose concatenation is the input.
#include "pretok.h"

#include "unicode_table.h"

int utf8_decode(const unsigned char* s, size_t n, uint32_t* cp) {
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

size_t pretok_next(const unsigned char* s, size_t n, size_t i) {
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
