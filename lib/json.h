// json.h: a small strict JSON reader (RFC 8259) and string writer, shared by config.json,
// safetensors headers, tokenizer.json, encoder.json and preference JSONL.
//
// Input is never trusted: nesting is limited to JSON_MAX_DEPTH, every error reports the byte
// offset, and nothing is allocated beyond what the text itself holds.
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue {
    JsonType type;
    double number;            // JSON_NUMBER
    char* str;                // JSON_STRING: decoded UTF-8, NUL-terminated (may contain NULs: use len)
    size_t len;               // string length in bytes, or number of array items / object members
    struct JsonValue* items;  // JSON_ARRAY items, JSON_OBJECT member values (len of them)
    char** keys;              // JSON_OBJECT member keys, decoded, NUL-terminated
    size_t* key_lens;         // JSON_OBJECT key lengths
} JsonValue;

// Parses text[0..len) as one JSON value (surrounding whitespace allowed). Returns 0, or -1 with
// err = "byte offset N: what was wrong". Also refused: an object with a repeated key or a key
// holding a NUL byte (the key is named), and a leading UTF-8 byte order mark. On success free
// with json_free.
int json_parse(JsonValue* out, const char* text, size_t len, char* err, size_t errlen);
void json_free(JsonValue* v);

// Member of an object by key (first match), or NULL if absent or v is not an object.
const JsonValue* json_get(const JsonValue* v, const char* key);
// Number member as an integer if it is one exactly (no fraction, in range): 0 or -1.
int json_get_int(const JsonValue* v, const char* key, long long* out);

// Whether v is the string s exactly (a string with an embedded NUL byte never matches).
int json_is_string(const JsonValue* v, const char* s);

// Writes s[0..len) as a JSON string literal with quotes, escaping ", \, control bytes.
// Bytes >= 0x80 are written as they are (the caller provides UTF-8).
void json_write_string(FILE* f, const char* s, size_t len);

#endif // JSON_H
