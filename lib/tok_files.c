// lib/tok_files.c: the tokenizer's files: Hugging Face tokenizer.json (save and load) and GPT-2's
// encoder.json + vocab.bpe (load). Both spell token bytes with GPT-2's bytes_to_unicode, and the
// loaders check every id, token and merge, naming the part of the file at fault.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "pretok.h"
#include "tok_internal.h"
#include "util.h"

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

// What the parts of the tokenizer.json loader share: the file's text (to locate errors) and where
// an error goes.
typedef struct {
    const char* path;
    const char* text;
    size_t len;
    int16_t dec[512]; // byte-level code point -> byte
    char* err;
    size_t errlen;
} JsonLoad;

// Fails loading tokenizer.json with "PATH: byte offset N: what". Returns -1.
static int json_fail(JsonLoad* L, size_t off, const char* fmt, ...) PRINTF_LIKE(3, 4);
static int json_fail(JsonLoad* L, size_t off, const char* fmt, ...) {
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(L->err, L->errlen, "%s: byte offset %zu: %s", L->path, off, what);
    return -1;
}

static size_t json_off(const JsonLoad* L, const char* key) { return offset_of_key(L->text, L->len, key); }

// The kind of tokenizer: a BPE model object, no normalizer, a ByteLevel pre-tokenizer without a
// prefix space. Sets *model.
static int json_check_kind(JsonLoad* L, const JsonValue* root, const JsonValue** model) {
    if (root->type != JSON_OBJECT) return json_fail(L, 0, "not a JSON object");
    *model = json_get(root, "model");
    size_t model_off = json_off(L, "model");
    if (!*model || (*model)->type != JSON_OBJECT) return json_fail(L, model_off, "no \"model\" object");
    const JsonValue* type = json_get(*model, "type");
    if (type && !json_is_string(type, "BPE"))
        return json_fail(L, model_off + offset_of_key(L->text + model_off, L->len - model_off, "type"),
                         "model type is not \"BPE\" (only byte-level BPE is supported)");
    const JsonValue* norm = json_get(root, "normalizer");
    if (norm && norm->type != JSON_NULL)
        return json_fail(L, json_off(L, "normalizer"), "a normalizer is not supported (GPT-2 has none)");
    const JsonValue* pre = json_get(root, "pre_tokenizer");
    if (pre) {
        const JsonValue* pt = json_get(pre, "type");
        const JsonValue* aps = json_get(pre, "add_prefix_space");
        size_t off = json_off(L, "pre_tokenizer");
        if (!json_is_string(pt, "ByteLevel"))
            return json_fail(L, off, "pre_tokenizer is not ByteLevel");
        if (aps && aps->type == JSON_TRUE)
            return json_fail(L, off, "pre_tokenizer add_prefix_space true is not supported");
    }
    return 0;
}

// The largest id of the vocab and added tokens, checking that every id is an integer in range,
// that there are at least the 256 byte tokens and no fewer entries than ids.
static int json_max_id(JsonLoad* L, const JsonValue* vocab, const JsonValue* added, size_t nadded,
                       long long* max_id) {
    char q[80];
    size_t vocab_off = json_off(L, "vocab"), added_off = json_off(L, "added_tokens");
    *max_id = -1;
    for (size_t k = 0; k < vocab->len; k++) {
        const JsonValue* v = &vocab->items[k];
        // range first: casting a double outside long long's range is undefined behaviour
        if (v->type != JSON_NUMBER || v->number < 0 || v->number >= TOK_MAX_VOCAB ||
            v->number != (double)(long long)v->number)
            return json_fail(L, vocab_off, "vocab entry \"%s\": id is not an integer in [0, %d)",
                             quote(vocab->keys[k], vocab->key_lens[k], q, sizeof q), TOK_MAX_VOCAB);
        if ((long long)v->number > *max_id) *max_id = (long long)v->number;
    }
    for (size_t k = 0; k < nadded; k++) {
        long long id;
        const JsonValue* c = json_get(&added->items[k], "content");
        if (json_get_int(&added->items[k], "id", &id) || id < 0 || id >= TOK_MAX_VOCAB || !c || c->type != JSON_STRING)
            return json_fail(L, added_off,
                             "added_tokens[%zu] needs an integer \"id\" in [0, %d) and a string \"content\"", k,
                             TOK_MAX_VOCAB);
        if (id > *max_id) *max_id = id;
    }
    if (*max_id < 256) return json_fail(L, vocab_off, "vocab has %lld ids, fewer than the 256 byte tokens", *max_id + 1);
    // fewer entries than ids means a gap: refused before allocating tables for max_id + 1 ids
    if ((size_t)*max_id + 1 > vocab->len + nadded)
        return json_fail(L, vocab_off,
                         "ids go up to %lld but there are only %zu tokens (ids must be 0..n-1 without gaps)", *max_id,
                         vocab->len + nadded);
    return 0;
}

// Gives every id of t its bytes: vocab entries (byte-level text), then added tokens (spelled as
// themselves, unless the vocab has the id already); each id exactly once, no gaps. Sets t->eot
// from an added <|endoftext|>.
static int json_fill_tokens(JsonLoad* L, Tokenizer* t, const JsonValue* vocab, const JsonValue* added,
                            size_t nadded) {
    char q[80];
    size_t vocab_off = json_off(L, "vocab");
    char* seen = (char*)calloc_check((size_t)t->n_vocab, 1);
    size_t maxkey = 0;
    for (size_t k = 0; k < vocab->len; k++)
        if (vocab->key_lens[k] > maxkey) maxkey = vocab->key_lens[k];
    unsigned char* bytes = (unsigned char*)malloc_check(maxkey + 1);
    int rc = 0;
    for (size_t k = 0; k < vocab->len && rc == 0; k++) {
        int id = (int)vocab->items[k].number;
        long nb = bytelevel_decode(vocab->keys[k], vocab->key_lens[k], L->dec, bytes);
        if (nb <= 0)
            rc = json_fail(L, vocab_off, "vocab entry \"%s\" is empty or not byte-level text",
                           quote(vocab->keys[k], vocab->key_lens[k], q, sizeof q));
        else if (seen[id])
            rc = json_fail(L, vocab_off, "vocab id %d appears twice", id);
        else {
            seen[id] = 1;
            tok_set_bytes(t, id, bytes, (size_t)nb);
        }
    }
    for (size_t k = 0; k < nadded && rc == 0; k++) {
        long long id;
        json_get_int(&added->items[k], "id", &id);
        const JsonValue* c = json_get(&added->items[k], "content");
        if (!seen[id]) {
            seen[id] = 1;
            tok_set_bytes(t, (int)id, c->str, c->len);
        }
        if (c->len == strlen(EOT_TEXT) && memcmp(c->str, EOT_TEXT, c->len) == 0) t->eot = (int)id;
    }
    for (long long id = 0; id < t->n_vocab && rc == 0; id++)
        if (!seen[id])
            rc = json_fail(L, vocab_off, "no token has id %lld (ids must be 0..%lld without gaps)", id,
                           (long long)t->n_vocab - 1);
    free(bytes);
    free(seen);
    return rc;
}

// The merges, by rank, as "a b" strings or ["a", "b"] pairs of tokens of map.
static int json_read_merges(JsonLoad* L, Tokenizer* t, StrMap* map, const JsonValue* model) {
    char q[80], why[300];
    const JsonValue* merges = json_get(model, "merges");
    size_t merges_off = json_off(L, "merges");
    if (!merges || merges->type != JSON_ARRAY) return json_fail(L, merges_off, "model has no \"merges\" array");
    for (size_t k = 0; k < merges->len; k++) {
        const JsonValue* m = &merges->items[k];
        const char *a, *b;
        size_t la, lb;
        if (m->type == JSON_STRING) { // "a b"
            const char* sp = (const char*)memchr(m->str, ' ', m->len);
            if (!sp || memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->str)))
                return json_fail(L, merges_off, "merges[%zu] \"%s\" is not two tokens separated by one space", k,
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
            return json_fail(L, merges_off, "merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", k);
        }
        if (tok_merge_strings(t, map, L->dec, a, la, b, lb, why, sizeof why))
            return json_fail(L, merges_off, "merges[%zu]: %s", k, why);
    }
    return 0;
}

// The tokenizer a parsed tokenizer.json describes, or NULL with L->err filled.
static Tokenizer* json_tokenizer(JsonLoad* L, const JsonValue* root) {
    const JsonValue* model = NULL;
    if (json_check_kind(L, root, &model)) return NULL;
    const JsonValue* vocab = json_get(model, "vocab");
    size_t vocab_off = json_off(L, "vocab");
    if (!vocab || vocab->type != JSON_OBJECT) {
        json_fail(L, vocab_off, "model has no \"vocab\" object");
        return NULL;
    }
    const JsonValue* added = json_get(root, "added_tokens");
    if (added && added->type != JSON_ARRAY && added->type != JSON_NULL) {
        json_fail(L, json_off(L, "added_tokens"), "\"added_tokens\" is not an array");
        return NULL;
    }
    size_t nadded = added && added->type == JSON_ARRAY ? added->len : 0;
    // ids must be 0..n-1, each once (an added token may repeat its vocab entry)
    long long max_id;
    if (json_max_id(L, vocab, added, nadded, &max_id)) return NULL;
    Tokenizer* t = tok_alloc((int)max_id + 1);
    StrMap map = {0};
    int rc = json_fill_tokens(L, t, vocab, added, nadded);
    if (rc == 0) {
        int missing = tok_index(t, &map);
        if (missing >= 0) rc = json_fail(L, vocab_off, "vocab lacks the token of byte 0x%02x", missing);
    }
    if (rc == 0 && t->eot < 0) {
        long e = strmap_find(&map, EOT_TEXT, strlen(EOT_TEXT), 0, NULL);
        if (e >= 0) t->eot = (int)map.e[e].a;
    }
    if (rc == 0) rc = json_read_merges(L, t, &map, model);
    strmap_free(&map);
    if (rc) {
        tok_free(t);
        return NULL;
    }
    return t;
}

Tokenizer* tok_load_json(const char* path, char* err, size_t errlen) {
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
    JsonLoad L = {.path = path, .text = text, .len = len, .err = err, .errlen = errlen};
    uint16_t enc[256];
    byte_unicode_tables(enc, L.dec);
    Tokenizer* t = json_tokenizer(&L, &root);
    json_free(&root);
    free(text);
    return t;
}

// ============================================================================
// GPT-2's encoder.json (byte-level token -> id) and vocab.bpe ("#version" line, then one merge
// "a b" per line, by rank)

// The tokens of GPT-2's encoder.json (parsed as root from etext): every id an integer, each once,
// no gaps, every byte a token. NULL with err filled otherwise. Fills map (token bytes -> id).
static Tokenizer* gpt2_tokens(const char* encoder_json, const char* etext, size_t elen, const JsonValue* root,
                              const int16_t dec[512], StrMap* map, char* err, size_t errlen) {
    char q[80];
    if (root->type != JSON_OBJECT || root->len < 256) {
        set_err(err, errlen, "%s: byte offset 0: not a JSON object of at least 256 tokens", encoder_json);
        return NULL;
    }
    long long max_id = -1;
    size_t maxkey = 0;
    for (size_t k = 0; k < root->len; k++) {
        const JsonValue* v = &root->items[k];
        // range first: casting a double outside long long's range is undefined behaviour
        if (v->type != JSON_NUMBER || v->number < 0 || v->number >= TOK_MAX_VOCAB ||
            v->number != (double)(long long)v->number) {
            set_err(err, errlen, "%s: byte offset %zu: token \"%s\": id is not an integer in [0, %d)", encoder_json,
                    offset_of_key(etext, elen, root->keys[k]), quote(root->keys[k], root->key_lens[k], q, sizeof q),
                    TOK_MAX_VOCAB);
            return NULL;
        }
        if ((long long)v->number > max_id) max_id = (long long)v->number;
        if (root->key_lens[k] > maxkey) maxkey = root->key_lens[k];
    }
    // fewer entries than ids means a gap: refused before allocating tables for max_id + 1 ids
    if ((size_t)max_id + 1 > root->len) {
        set_err(err, errlen, "%s: byte offset 0: ids go up to %lld but there are only %zu tokens (ids must be 0..n-1 "
                "without gaps)", encoder_json, max_id, root->len);
        return NULL;
    }
    Tokenizer* t = tok_alloc((int)max_id + 1);
    char* seen = (char*)calloc_check((size_t)max_id + 1, 1);
    unsigned char* bytes = (unsigned char*)malloc_check(maxkey + 1);
    int bad = 0;
    for (size_t k = 0; k < root->len && !bad; k++) {
        int id = (int)root->items[k].number;
        long nb = bytelevel_decode(root->keys[k], root->key_lens[k], dec, bytes);
        if (nb <= 0 || seen[id]) {
            set_err(err, errlen, "%s: byte offset %zu: token \"%s\": %s", encoder_json,
                    offset_of_key(etext, elen, root->keys[k]), quote(root->keys[k], root->key_lens[k], q, sizeof q),
                    nb <= 0 ? "empty or not byte-level text" : "its id is used twice");
            bad = 1;
        } else {
            seen[id] = 1;
            tok_set_bytes(t, id, bytes, (size_t)nb);
        }
    }
    for (long long id = 0; id <= max_id && !bad; id++) {
        if (!seen[id]) {
            set_err(err, errlen, "%s: byte offset 0: no token has id %lld (ids must be 0..%lld without gaps)",
                    encoder_json, id, max_id);
            bad = 1;
        }
    }
    free(seen);
    free(bytes);
    if (!bad) {
        int missing = tok_index(t, map);
        if (missing >= 0) {
            set_err(err, errlen, "%s: byte offset 0: no token for byte 0x%02x", encoder_json, missing);
            bad = 1;
        }
    }
    if (bad) {
        tok_free(t);
        return NULL;
    }
    long e = strmap_find(map, EOT_TEXT, strlen(EOT_TEXT), 0, NULL);
    if (e >= 0) t->eot = (int)map->e[e].a;
    return t;
}

// The merges of vocab.bpe (btext): an optional "#version" header, then one "a b" per line, by
// rank; blank lines only at the end, at least one merge. 0, or -1 with err filled.
static int gpt2_merges(const char* vocab_bpe, const char* btext, size_t blen, Tokenizer* t, StrMap* map,
                       const int16_t dec[512], char* err, size_t errlen) {
    char why[300], q[80];
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
            return -1;
        }
        const char* sp = (const char*)memchr(ln, ' ', ll);
        if (!sp || sp == ln || sp + 1 == ln + ll || memchr(sp + 1, ' ', ll - (size_t)(sp + 1 - ln))) {
            set_err(err, errlen, "%s: line %zu: \"%s\" is not two tokens separated by one space", vocab_bpe, line,
                    quote(ln, ll, q, sizeof q));
            return -1;
        }
        size_t la = (size_t)(sp - ln);
        if (tok_merge_strings(t, map, dec, ln, la, sp + 1, ll - la - 1, why, sizeof why)) {
            set_err(err, errlen, "%s: line %zu: %s", vocab_bpe, line, why);
            return -1;
        }
    }
    if (t->n_merges == 0) {
        set_err(err, errlen, "%s: line %zu: no merges in the file", vocab_bpe, line);
        return -1;
    }
    return 0;
}

Tokenizer* tok_load_gpt2(const char* encoder_json, const char* vocab_bpe, char* err, size_t errlen) {
    uint16_t enc[256];
    int16_t dec[512];
    byte_unicode_tables(enc, dec);
    char ferr[512], jerr[300];
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
    StrMap map = {0};
    Tokenizer* t = gpt2_tokens(encoder_json, etext, elen, &root, dec, &map, err, errlen);
    json_free(&root);
    free(etext);
    char* btext = t ? read_file(vocab_bpe, &blen, ferr, sizeof ferr) : NULL;
    if (t && !btext) set_err(err, errlen, "%s", ferr);
    if (t && (!btext || gpt2_merges(vocab_bpe, btext, blen, t, &map, dec, err, errlen))) {
        tok_free(t);
        t = NULL;
    }
    free(btext);
    strmap_free(&map);
    return t;
}

// ============================================================================
// A model folder's tokenizer files

Tokenizer* tok_load_dir(const char* dir, char** files, size_t* files_len, char* err, size_t errlen) {
    char tj[4200], vj[4200], mt[4200], ferr[512];
    path_join(tj, sizeof tj, dir, "tokenizer.json");
    path_join(vj, sizeof vj, dir, "vocab.json");
    path_join(mt, sizeof mt, dir, "merges.txt");
    int have_json = access(tj, F_OK) == 0;
    if (!have_json && (access(vj, F_OK) != 0 || access(mt, F_OK) != 0)) {
        set_err(err, errlen, "%s: no tokenizer.json, nor vocab.json + merges.txt (GPT-2's files)", dir);
        return NULL;
    }
    Tokenizer* t = have_json ? tok_load_json(tj, err, errlen) : tok_load_gpt2(vj, mt, err, errlen);
    if (!t || !files) return t;
    // identity: the bytes read (vocab.json and merges.txt back to back)
    size_t la = 0, lb = 0;
    char* a = read_file(have_json ? tj : vj, &la, ferr, sizeof ferr);
    char* b = a && !have_json ? read_file(mt, &lb, ferr, sizeof ferr) : NULL;
    if (!a || (!have_json && !b)) {
        set_err(err, errlen, "%s", ferr);
        free(a);
        tok_free(t);
        return NULL;
    }
    if (b) {
        a = (char*)realloc_check(a, la + lb + 1);
        memcpy(a + la, b, lb + 1);
        free(b);
    }
    *files = a;
    *files_len = la + lb;
    return t;
}

// Writes the special-token fields ("bos_token": "<|endoftext|>", ...) shared by tokenizer_config.json
// and special_tokens_map.json.
static void write_special_tokens(FILE* f, const char* indent) {
    static const char* roles[] = {"bos_token", "eos_token", "unk_token"};
    for (int k = 0; k < 3; k++) fprintf(f, "%s%s\"%s\": \"%s\"", k ? ",\n" : "", indent, roles[k], EOT_TEXT);
}

int tok_save_hf(const Tokenizer* tok, const char* dir, int model_max_length, char* err, size_t errlen) {
    char path[4200];
    path_join(path, sizeof path, dir, "tokenizer.json");
    if (tok_save_json(tok, path, err, errlen)) return -1;
    AtomicFile af;
    path_join(path, sizeof path, dir, "tokenizer_config.json");
    if (atomic_open(&af, path, err, errlen)) return -1;
    // decoding is exact (no clean-up of spaces before punctuation), like our tok_decode
    fprintf(af.f, "{\n  \"tokenizer_class\": \"GPT2Tokenizer\",\n  \"model_max_length\": %d,\n"
                  "  \"add_bos_token\": false,\n  \"add_prefix_space\": false,\n"
                  "  \"clean_up_tokenization_spaces\": false,\n  \"errors\": \"replace\",\n  \"pad_token\": null",
            model_max_length);
    if (tok->eot >= 0) {
        fprintf(af.f, ",\n");
        write_special_tokens(af.f, "  ");
        fprintf(af.f, ",\n  \"added_tokens_decoder\": {\"%d\": {\"content\": \"%s\", \"lstrip\": false, \"normalized\": "
                      "true, \"rstrip\": false, \"single_word\": false, \"special\": true}}",
                tok->eot, EOT_TEXT);
    }
    fprintf(af.f, "\n}\n");
    if (atomic_commit(&af, err, errlen)) return -1;
    path_join(path, sizeof path, dir, "special_tokens_map.json");
    if (atomic_open(&af, path, err, errlen)) return -1;
    fprintf(af.f, "{\n");
    if (tok->eot >= 0) write_special_tokens(af.f, "  ");
    fprintf(af.f, "\n}\n");
    return atomic_commit(&af, err, errlen);
}
