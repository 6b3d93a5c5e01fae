// json.c: the JSON reader and string writer declared in json.h.
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char* s;
    size_t n, i;
    char* err;
    size_t errlen;
    int failed;
} JsonParser_;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int json_fail_(JsonParser_* p, const char* fmt, ...);
static int json_fail_(JsonParser_* p, const char* fmt, ...) {
    if (!p->failed) {
        p->failed = 1;
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (p->err && p->errlen) snprintf(p->err, p->errlen, "byte offset %zu: %s", p->i, msg);
    }
    return -1;
}

static void json_skip_ws_(JsonParser_* p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int json_hex4_(JsonParser_* p, unsigned* out) {
    if (p->n - p->i < 4) return json_fail_(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return json_fail_(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static size_t json_put_utf8_(char* o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// Parses a string literal at p->i (which is at the opening quote). The decoded form is never
// longer than the literal, so one allocation of the literal's length suffices.
static int json_string_(JsonParser_* p, char** out, size_t* out_len) {
    p->i++; // opening quote
    size_t start = p->i, end = start;
    while (end < p->n && p->s[end] != '"') end += (p->s[end] == '\\' && end + 1 < p->n) ? 2 : 1;
    if (end >= p->n) return json_fail_(p, "unterminated string");
    char* o = (char*)malloc(end - start + 1);
    if (!o) return json_fail_(p, "out of memory");
    size_t k = 0;
    while (p->i < end) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) { free(o); return json_fail_(p, "control character in string"); }
        if (c != '\\') { o[k++] = (char)c; p->i++; continue; }
        p->i++;
        char e = p->s[p->i++];
        switch (e) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (json_hex4_(p, &cp)) { free(o); return -1; }
            if (cp >= 0xD800 && cp < 0xDC00 && p->i + 6 <= end && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
                size_t save = p->i;
                p->i += 2;
                unsigned lo;
                if (json_hex4_(p, &lo)) { free(o); return -1; }
                if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else p->i = save; // lone high surrogate: kept as its own 3-byte sequence
            }
            k += json_put_utf8_(o + k, cp);
            break;
        }
        default: p->i--; free(o); return json_fail_(p, "bad escape '\\%c'", e);
        }
    }
    o[k] = 0;
    p->i = end + 1;
    *out = o;
    *out_len = k;
    return 0;
}

static int json_value_(JsonParser_* p, JsonValue* v, int depth);

// Grows a temporary array of n items of size sz to hold one more.
static int json_grow_(JsonParser_* p, void** arr, size_t* cap, size_t n, size_t sz) {
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void* a = realloc(*arr, nc * sz);
    if (!a) return json_fail_(p, "out of memory");
    *arr = a;
    *cap = nc;
    return 0;
}

// Writes key[0..len) into buf as it would appear in JSON (quotes, \u escapes for control bytes),
// cut to fit, for messages.
static void json_quote_key_(char* buf, size_t n, const char* key, size_t len) {
    size_t k = 0;
    if (n < 8) return;
    buf[k++] = '"';
    for (size_t i = 0; i < len && k + 8 < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7F) k += (size_t)snprintf(buf + k, n - k, "\\u%04x", c);
        else buf[k++] = (char)c;
    }
    buf[k++] = '"';
    buf[k] = '\0';
}

// FNV-1a of a key, for the duplicate check.
static uint64_t json_key_hash_(const char* s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

// Refuses an object whose keys repeat (RFC 8259 leaves the meaning open; readers disagree on
// which value wins) or contain a NUL byte (a C string comparison would see a different name).
// Open addressing over 2n slots: linear time, since tokenizer.json's vocabulary has 50k keys.
static int json_check_keys_(JsonParser_* p, char** keys, const size_t* klens, size_t n) {
    char q[96];
    for (size_t k = 0; k < n; k++)
        if (memchr(keys[k], '\0', klens[k])) {
            json_quote_key_(q, sizeof q, keys[k], klens[k]);
            return json_fail_(p, "key %s contains a NUL byte", q);
        }
    if (n < 2) return 0;
    size_t cap = 4;
    while (cap < 2 * n) cap *= 2;
    size_t* slot = (size_t*)calloc(cap, sizeof *slot); // index + 1, 0 = empty
    if (!slot) return json_fail_(p, "out of memory");
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        size_t i = (size_t)json_key_hash_(keys[k], klens[k]) & (cap - 1);
        for (; slot[i]; i = (i + 1) & (cap - 1)) {
            size_t j = slot[i] - 1;
            if (klens[j] == klens[k] && memcmp(keys[j], keys[k], klens[k]) == 0) {
                json_quote_key_(q, sizeof q, keys[k], klens[k]);
                rc = json_fail_(p, "duplicate key %s in an object", q);
                break;
            }
        }
        slot[i] = k + 1;
    }
    free(slot);
    return rc;
}

static int json_container_(JsonParser_* p, JsonValue* v, int depth, int is_obj) {
    if (depth >= JSON_MAX_DEPTH) return json_fail_(p, "nesting deeper than %d", JSON_MAX_DEPTH);
    char close = is_obj ? '}' : ']';
    p->i++;
    size_t cap = 0, kcap = 0, lcap = 0, n = 0;
    JsonValue* items = NULL;
    char** keys = NULL;
    size_t* klens = NULL;
    v->type = is_obj ? JSON_OBJECT : JSON_ARRAY;
    json_skip_ws_(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
    for (;;) {
        json_skip_ws_(p);
        if (json_grow_(p, (void**)&items, &cap, n, sizeof *items)) goto fail;
        if (is_obj) {
            if (json_grow_(p, (void**)&keys, &kcap, n, sizeof *keys) ||
                json_grow_(p, (void**)&klens, &lcap, n, sizeof *klens))
                goto fail;
            if (p->i >= p->n || p->s[p->i] != '"') { json_fail_(p, "expected a string key"); goto fail; }
            if (json_string_(p, &keys[n], &klens[n])) goto fail;
            json_skip_ws_(p);
            if (p->i >= p->n || p->s[p->i] != ':') { free(keys[n]); json_fail_(p, "expected ':'"); goto fail; }
            p->i++;
        }
        if (json_value_(p, &items[n], depth + 1)) {
            if (is_obj) free(keys[n]);
            goto fail;
        }
        n++;
        json_skip_ws_(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == close) { p->i++; break; }
        json_fail_(p, "expected ',' or '%c'", close);
        goto fail;
    }
    if (is_obj && json_check_keys_(p, keys, klens, n)) goto fail;
    v->items = items;
    v->keys = keys;
    v->key_lens = klens;
    v->len = n;
    return 0;
fail:
    for (size_t k = 0; k < n; k++) {
        json_free(&items[k]);
        if (is_obj) free(keys[k]);
    }
    free(items);
    free(keys);
    free(klens);
    v->type = JSON_NULL;
    return -1;
}

static int json_value_(JsonParser_* p, JsonValue* v, int depth) {
    memset(v, 0, sizeof *v);
    json_skip_ws_(p);
    if (p->i >= p->n) return json_fail_(p, "unexpected end of input");
    char c = p->s[p->i];
    if (c == '{') return json_container_(p, v, depth, 1);
    if (c == '[') return json_container_(p, v, depth, 0);
    if (c == '"') {
        v->type = JSON_STRING;
        return json_string_(p, &v->str, &v->len);
    }
    static const char* words[3] = {"null", "false", "true"};
    static const JsonType types[3] = {JSON_NULL, JSON_FALSE, JSON_TRUE};
    for (int k = 0; k < 3; k++) {
        size_t wl = strlen(words[k]);
        if (p->n - p->i >= wl && memcmp(p->s + p->i, words[k], wl) == 0) {
            v->type = types[k];
            p->i += wl;
            return 0;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        // validate the RFC 8259 grammar, then convert the validated span with strtod
        size_t j = p->i;
        if (p->s[j] == '-') j++;
        if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') return json_fail_(p, "bad number");
        if (p->s[j] == '0') j++;
        else while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
        if (j < p->n && p->s[j] == '.') {
            j++;
            if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') return json_fail_(p, "bad number");
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
        }
        if (j < p->n && (p->s[j] == 'e' || p->s[j] == 'E')) {
            j++;
            if (j < p->n && (p->s[j] == '+' || p->s[j] == '-')) j++;
            if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') return json_fail_(p, "bad number");
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
        }
        char buf[64];
        if (j - p->i >= sizeof buf) return json_fail_(p, "number too long");
        memcpy(buf, p->s + p->i, j - p->i);
        buf[j - p->i] = 0;
        double d = strtod(buf, NULL);
        // a number beyond double's range would become inf: refused, so every number read is finite
        if (!isfinite(d)) return json_fail_(p, "number out of range");
        v->type = JSON_NUMBER;
        v->number = d;
        p->i = j;
        return 0;
    }
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7F) return json_fail_(p, "unexpected byte 0x%02x", (unsigned char)c);
    return json_fail_(p, "unexpected character '%c'", c);
}

int json_parse(JsonValue* out, const char* text, size_t len, char* err, size_t errlen) {
    JsonParser_ p = {text, len, 0, err, errlen, 0};
    memset(out, 0, sizeof *out);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        return json_fail_(&p, "the text starts with a UTF-8 byte order mark (EF BB BF), which JSON does not allow; "
                              "save the file without it");
    if (json_value_(&p, out, 0)) return -1;
    json_skip_ws_(&p);
    if (p.i != p.n) {
        json_free(out);
        return json_fail_(&p, "trailing characters after the JSON value");
    }
    return 0;
}

void json_free(JsonValue* v) {
    if (!v) return;
    if (v->type == JSON_STRING) free(v->str);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t k = 0; k < v->len; k++) {
            json_free(&v->items[k]);
            if (v->keys) free(v->keys[k]);
        }
        free(v->items);
        free(v->keys);
        free(v->key_lens);
    }
    memset(v, 0, sizeof *v);
}

const JsonValue* json_get(const JsonValue* v, const char* key) {
    if (!v || v->type != JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (size_t k = 0; k < v->len; k++)
        if (v->key_lens[k] == kl && memcmp(v->keys[k], key, kl) == 0) return &v->items[k];
    return NULL;
}

int json_get_int(const JsonValue* v, const char* key, long long* out) {
    const JsonValue* m = json_get(v, key);
    if (!m || m->type != JSON_NUMBER) return -1;
    double d = m->number;
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != floor(d)) return -1;
    *out = (long long)d;
    return 0;
}

int json_is_string(const JsonValue* v, const char* s) {
    size_t n = strlen(s);
    return v && v->type == JSON_STRING && v->len == n && memcmp(v->str, s, n) == 0;
}

void json_write_string(FILE* f, const char* s, size_t len) {
    fputc('"', f);
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7F) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

