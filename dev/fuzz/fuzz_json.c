// dev/fuzz/fuzz_json.c: json.h's reader on arbitrary bytes.
// Properties of a successful parse: the tree re-serialised (json_write_string for strings and
// keys, %.17g for numbers) parses again to an identical tree; json_get finds each key's first
// occurrence; json_get_int agrees with the number it reads.
#define _GNU_SOURCE
#include <math.h>

#include "../../lib/json.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void write_tree(FILE* f, const JsonValue* v) {
    switch (v->type) {
    case JSON_NULL: fputs("null", f); break;
    case JSON_FALSE: fputs("false", f); break;
    case JSON_TRUE: fputs("true", f); break;
    case JSON_NUMBER: fprintf(f, "%.17g", v->number); break;
    case JSON_STRING: json_write_string(f, v->str, v->len); break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        fputc(v->type == JSON_ARRAY ? '[' : '{', f);
        for (size_t k = 0; k < v->len; k++) {
            if (k) fputc(',', f);
            if (v->type == JSON_OBJECT) {
                json_write_string(f, v->keys[k], v->key_lens[k]);
                fputc(':', f);
            }
            write_tree(f, &v->items[k]);
        }
        fputc(v->type == JSON_ARRAY ? ']' : '}', f);
        break;
    }
}

static int same_tree(const JsonValue* a, const JsonValue* b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NUMBER: return a->number == b->number;
    case JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (a->len != b->len) return 0;
        for (size_t k = 0; k < a->len; k++) {
            if (a->type == JSON_OBJECT &&
                (a->key_lens[k] != b->key_lens[k] || memcmp(a->keys[k], b->keys[k], a->key_lens[k]) != 0))
                return 0;
            if (!same_tree(&a->items[k], &b->items[k])) return 0;
        }
        return 1;
    default: return 1;
    }
}

// Checks json_get and json_get_int on every member of every object in the tree.
static void check_lookups(const JsonValue* v) {
    if (v->type != JSON_ARRAY && v->type != JSON_OBJECT) return;
    for (size_t k = 0; k < v->len; k++) {
        check_lookups(&v->items[k]);
        if (v->type != JSON_OBJECT || strlen(v->keys[k]) != v->key_lens[k]) continue; // json_get takes C strings
        const JsonValue* got = json_get(v, v->keys[k]);
        size_t first = 0;
        while (strcmp(v->keys[first], v->keys[k]) != 0 || v->key_lens[first] != v->key_lens[k]) first++;
        fuzz_require(got == &v->items[first], "json_get did not return the first member with the key");
        long long iv;
        if (json_get_int(v, v->keys[k], &iv) == 0)
            fuzz_require(got->type == JSON_NUMBER && (double)iv == got->number, "json_get_int disagrees");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    JsonValue v;
    char err[256];
    if (json_parse(&v, (const char*)data, size, err, sizeof err) != 0) {
        fuzz_require(strncmp(err, "byte offset ", 12) == 0, "error message without a byte offset");
        return 0;
    }
    check_lookups(&v);
    char* buf = NULL;
    size_t len = 0;
    FILE* f = open_memstream(&buf, &len);
    fuzz_require(f != NULL, "open_memstream");
    write_tree(f, &v);
    fuzz_require(fclose(f) == 0, "fclose");
    JsonValue w;
    if (json_parse(&w, buf, len, err, sizeof err) != 0) {
        fprintf(stderr, "re-serialised text does not parse: %s\n%.*s\n", err, (int)(len < 300 ? len : 300), buf);
        abort();
    }
    fuzz_require(same_tree(&v, &w), "re-serialised tree differs");
    json_free(&w);
    json_free(&v);
    free(buf);
    return 0;
}
