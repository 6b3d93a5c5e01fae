// dev/fuzz/fuzz_util.h: helpers shared by the libFuzzer harnesses (one harness per parser of
// outside input). The parsers take paths, so each harness writes the fuzzer's bytes to a file in
// a private temporary folder (created once per process under $TMPDIR) and calls the parser on it.
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// A fuzz harness may only fail through a sanitizer report or an abort with a message: the parsers
// must return errors, never crash. fuzz_require reports a broken property of a successful parse.
#define fuzz_require(cond, what)                                                                             \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", what, __FILE__, __LINE__);               \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

// The private folder: "$TMPDIR/forgetful-fuzz.XXXXXX", created on first use, removed at exit.
typedef struct {
    char dir[512];
} FuzzDir;

static inline void fuzz_dir_remove_(void);
static inline FuzzDir* fuzz_dir_(void) {
    static FuzzDir d; // one per process: libFuzzer calls the harness over and over
    if (!d.dir[0]) {
        const char* tmp = getenv("TMPDIR");
        snprintf(d.dir, sizeof d.dir, "%s/forgetful-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(d.dir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_dir_remove_);
    }
    return &d;
}

// Path of `name` inside the private folder (a static buffer per call site is not needed: callers
// copy it into their own buffers).
static inline void fuzz_path(char* out, size_t len, const char* name) { snprintf(out, len, "%s/%s", fuzz_dir_()->dir, name); }

static inline void fuzz_dir_remove_(void) {
    // the harnesses only create files directly inside the folder: remove whatever is there
    DIR* d = opendir(fuzz_dir_()->dir);
    struct dirent* e;
    char p[1024];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_()->dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(fuzz_dir_()->dir);
}

// Writes data[0..n) to the file `name` in the private folder; fills path. Aborts on I/O errors
// (they are the machine's problem, not the parser's).
static inline void fuzz_write(const char* name, const void* data, size_t n, char* path, size_t pathlen) {
    fuzz_path(path, pathlen, name);
    FILE* f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#ifdef TOKENIZER_H
// The property every successful tokenizer load must have (harnesses that include tokenizer.h):
// decode(encode(text)) == text with every id in [0, V).
static inline void check_roundtrip(const Tokenizer* tok, const uint8_t* text, size_t len) {
    size_t n = 0, back_len = 0;
    int* ids = tok_encode(tok, (const char*)text, len, &n);
    int V = tok_vocab_size(tok);
    for (size_t i = 0; i < n; i++) fuzz_require(ids[i] >= 0 && ids[i] < V, "encode gave an id outside [0, V)");
    char* back = tok_decode(tok, ids, n, &back_len);
    fuzz_require(back_len == len && memcmp(back, text, len) == 0, "decode(encode(x)) != x");
    free(ids);
    free(back);
}

// After a successful load: the round trip on a fixed mixed text (ASCII, UTF-8, an invalid byte) and
// on the fuzz input itself (its first 512 bytes), then frees tok.
static inline void check_loaded_tokenizer(Tokenizer* tok, const uint8_t* data, size_t size) {
    static const char text[] = "Hello world, it's 2024! \xc3\xa9t\xc3\xa9\n\n  tabs\tand\xff bytes";
    check_roundtrip(tok, (const uint8_t*)text, sizeof text - 1);
    check_roundtrip(tok, data, size < 512 ? size : 512);
    tok_free(tok);
}
#endif

#endif // FUZZ_UTIL_H
