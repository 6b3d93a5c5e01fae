// data/shards.c: input text (file or directory), the train/val split, token shards and their cache.
// Format in data/shards.h. Integers are written byte by byte in little-endian order, so a shard
// reads the same on any machine.
#define _GNU_SOURCE
#include "shards.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../lib/util.h"

#define SHARD_HINT "HINT: delete it and rerun ./train to rebuild the token cache"

static void put_u32(unsigned char* p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char* p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int shard_write(const char* path, const int* tokens, size_t n, int vocab_size, uint64_t key, char* err,
                size_t errlen) {
    if (vocab_size < 1) {
        snprintf(err, errlen, "%s: vocab size %d must be positive", path, vocab_size);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= vocab_size) {
            snprintf(err, errlen, "%s: token %zu is %d, outside [0, %d)", path, i, tokens[i], vocab_size);
            return -1;
        }
    }
    int bpt = vocab_size <= 65536 ? 2 : 4;
    unsigned char header[SHARD_HEADER_BYTES] = {0};
    put_u32(header + 0, SHARD_MAGIC);
    put_u32(header + 4, SHARD_VERSION);
    put_u32(header + 8, (uint32_t)vocab_size);
    put_u32(header + 12, (uint32_t)bpt);
    put_u64(header + 16, (uint64_t)n);
    put_u64(header + 24, key);
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    int ok = fwrite(header, 1, sizeof header, af.f) == sizeof header;
    // Tokens go out in chunks through a small little-endian buffer.
    unsigned char chunk[1 << 16];
    size_t per = sizeof chunk / (size_t)bpt;
    for (size_t i = 0; ok && i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++) {
            uint32_t v = (uint32_t)tokens[i + j];
            if (bpt == 2) {
                chunk[2 * j] = (unsigned char)v;
                chunk[2 * j + 1] = (unsigned char)(v >> 8);
            } else {
                put_u32(chunk + 4 * j, v);
            }
        }
        ok = fwrite(chunk, (size_t)bpt, m, af.f) == m;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

int* shard_read(const char* path, int expect_vocab, size_t* n, ShardHeader* hdr, char* err, size_t errlen) {
    FILE* f = fopen_regular(path, err, errlen);
    if (!f) return NULL;
    int* tokens = NULL;
    unsigned char header[SHARD_HEADER_BYTES];
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    size_t got = fread(header, 1, sizeof header, f);
    if (got != sizeof header) {
        snprintf(err, errlen, "%s: truncated header (%zu bytes, need %d) (" SHARD_HINT ")", path, got,
                 SHARD_HEADER_BYTES);
        goto fail;
    }
    uint32_t magic = get_u32(header), version = get_u32(header + 4), V = get_u32(header + 8);
    uint32_t bpt = get_u32(header + 12);
    uint64_t count = get_u64(header + 16), key = get_u64(header + 24);
    if (magic != SHARD_MAGIC) {
        snprintf(err, errlen, "%s: bad magic 0x%08x, not a token shard (" SHARD_HINT ")", path, magic);
        goto fail;
    }
    if (version != SHARD_VERSION) {
        snprintf(err, errlen, "%s: version %u, this build reads version %u (" SHARD_HINT ")", path, version,
                 SHARD_VERSION);
        goto fail;
    }
    if (V < 1 || V > 0x7fffffffu) {
        snprintf(err, errlen, "%s: vocab size %u out of range (" SHARD_HINT ")", path, V);
        goto fail;
    }
    if (bpt != (V <= 65536 ? 2u : 4u)) {
        snprintf(err, errlen, "%s: %u bytes per token, but vocab size %u needs %u (" SHARD_HINT ")", path, bpt, V,
                 V <= 65536 ? 2u : 4u);
        goto fail;
    }
    if (expect_vocab > 0 && V != (uint32_t)expect_vocab) {
        snprintf(err, errlen, "%s: vocab size %u, but the tokenizer has %d (" SHARD_HINT ")", path, V,
                 expect_vocab);
        goto fail;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (count > (size - SHARD_HEADER_BYTES) / bpt || size != SHARD_HEADER_BYTES + count * bpt) {
        snprintf(err, errlen, "%s: file is %llu bytes, but the header's %llu tokens need %llu (" SHARD_HINT ")",
                 path, (unsigned long long)size, (unsigned long long)count,
                 (unsigned long long)(SHARD_HEADER_BYTES + count * bpt));
        goto fail;
    }
    tokens = malloc_check(count ? count * sizeof(int) : 1);
    unsigned char chunk[1 << 16];
    size_t per = sizeof chunk / bpt;
    for (size_t i = 0; i < count; i += per) {
        size_t m = count - i < per ? (size_t)count - i : per;
        if (fread(chunk, bpt, m, f) != m) {
            snprintf(err, errlen, "%s: read error at token %zu (" SHARD_HINT ")", path, i);
            goto fail;
        }
        for (size_t j = 0; j < m; j++) {
            uint32_t v = bpt == 2 ? (uint32_t)chunk[2 * j] | (uint32_t)chunk[2 * j + 1] << 8 : get_u32(chunk + 4 * j);
            if (v >= V) {
                snprintf(err, errlen, "%s: token %zu is %u, not below vocab size %u (" SHARD_HINT ")", path, i + j,
                         v, V);
                goto fail;
            }
            tokens[i + j] = (int)v;
        }
    }
    fclose(f);
    *n = (size_t)count;
    if (hdr) *hdr = (ShardHeader){version, (int)V, (int)bpt, (size_t)count, key};
    return tokens;
fail:
    free(tokens);
    fclose(f);
    return NULL;
}

uint64_t data_hash(uint64_t h, const void* data, size_t len) {
    const unsigned char* p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t data_cache_key(const char* text, size_t len, const void* tokenizer_id, size_t id_len, double val_frac) {
    // Lengths go in too, so moving bytes between text and tokenizer id changes the key.
    uint64_t lens[2] = {(uint64_t)len, (uint64_t)id_len};
    uint64_t h = data_hash(DATA_HASH_INIT, lens, sizeof lens);
    h = data_hash(h, text, len);
    h = data_hash(h, tokenizer_id, id_len);
    char frac[32];
    int k = snprintf(frac, sizeof frac, "%.9f", val_frac);
    return data_hash(h, frac, (size_t)k);
}

void data_cache_paths(const char* dir, uint64_t key, char* train_path, char* val_path, size_t pathlen) {
    snprintf(train_path, pathlen, "%s/%016llx.train.tok", dir, (unsigned long long)key);
    snprintf(val_path, pathlen, "%s/%016llx.val.tok", dir, (unsigned long long)key);
}

static int name_cmp(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

static char* read_dir_input(const char* path, size_t* len, char* err, size_t errlen) {
    DIR* d = opendir(path);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open directory: %s", path, strerror(errno));
        return NULL;
    }
    char** names = NULL;
    size_t n = 0, cap = 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0 || e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            names = realloc_check(names, cap * sizeof(char*));
        }
        names[n++] = strdup(e->d_name);
        if (!names[n - 1]) fatal("out of memory reading %s", path);
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof(char*), name_cmp);
    char* out = NULL;
    size_t total = 0, nfiles = 0;
    for (size_t i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        struct stat st;
        if (stat(full, &st) != 0) { // e.g. a dangling symlink
            snprintf(err, errlen, "%s: %s", full, strerror(errno));
            free(out);
            out = NULL;
            goto done;
        }
        if (!S_ISREG(st.st_mode)) continue; // a directory named x.txt
        size_t flen;
        char* text = read_file(full, &flen, err, errlen);
        if (!text) {
            free(out);
            out = NULL;
            goto done;
        }
        if (flen > 0) {
            out = realloc_check(out, total + (nfiles ? 2 : 0) + flen + 1);
            if (nfiles) {
                memcpy(out + total, "\n\n", 2);
                total += 2;
            }
            memcpy(out + total, text, flen);
            total += flen;
            out[total] = '\0';
            nfiles++;
        }
        free(text);
    }
    if (n == 0) snprintf(err, errlen, "%s: directory has no .txt files", path);
    else if (total == 0) snprintf(err, errlen, "%s: all %zu .txt files are empty", path, n);
done:
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (out && total == 0) {
        free(out);
        out = NULL;
    }
    if (out) *len = total;
    return out;
}

char* data_read_input(const char* path, size_t* len, char* err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) return read_dir_input(path, len, err, errlen);
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file or directory", path);
        return NULL;
    }
    char* text = read_file(path, len, err, errlen);
    if (text && *len == 0) {
        snprintf(err, errlen, "%s: file is empty", path);
        free(text);
        return NULL;
    }
    return text;
}

size_t data_split_text(const char* text, size_t len, double val_frac, char* err, size_t errlen) {
    if (!(val_frac > 0.0 && val_frac < 1.0)) {
        snprintf(err, errlen, "val fraction %g must be in (0, 1)", val_frac);
        return 0;
    }
    size_t cut = (size_t)((double)len * (1.0 - val_frac));
    // Move to just after the next newline, unless that leaves val empty.
    const char* nl = cut < len ? memchr(text + cut, '\n', len - cut) : NULL;
    if (nl && (size_t)(nl - text) + 1 < len) cut = (size_t)(nl - text) + 1;
    if (cut == 0 || cut >= len) {
        snprintf(err, errlen, "input of %zu bytes is too short to split %g of it off for validation", len, val_frac);
        return 0;
    }
    return cut;
}

// Reads one cached shard, or encodes text and writes it there.
static int load_or_build(const char* path, const char* text, size_t len, int vocab_size, uint64_t key,
                         DataEncodeFn encode, void* ctx, int** tokens, size_t* n, int* from_cache, char* err,
                         size_t errlen) {
    struct stat st;
    if (stat(path, &st) == 0) {
        ShardHeader h;
        *tokens = shard_read(path, vocab_size, n, &h, err, errlen);
        *from_cache = 1;
        if (*tokens && h.key != key) {
            // a shard copied or renamed from another data set, tokenizer or split
            snprintf(err, errlen, "%s: built under cache key %016llx, not this data's %016llx (" SHARD_HINT ")", path,
                     (unsigned long long)h.key, (unsigned long long)key);
            free(*tokens);
            *tokens = NULL;
        }
        return *tokens ? 0 : -1;
    }
    *from_cache = 0;
    *tokens = encode(ctx, text, len, n);
    if (!*tokens) {
        snprintf(err, errlen, "%s: encoding the input failed", path);
        return -1;
    }
    if (shard_write(path, *tokens, *n, vocab_size, key, err, errlen) != 0) {
        free(*tokens);
        *tokens = NULL;
        return -1;
    }
    return 0;
}

int data_prepare_tokens(const char* text, size_t len, double val_frac, const char* cache_dir,
                        const void* tokenizer_id, size_t id_len, int vocab_size, DataEncodeFn encode, void* ctx,
                        DataTokens* out, char* err, size_t errlen) {
    memset(out, 0, sizeof *out);
    size_t cut = data_split_text(text, len, val_frac, err, errlen);
    if (cut == 0) return -1;
    if (make_dirs(cache_dir, err, errlen) != 0) return -1;
    out->key = data_cache_key(text, len, tokenizer_id, id_len, val_frac);
    data_cache_paths(cache_dir, out->key, out->train_path, out->val_path, sizeof out->train_path);
    int c1 = 0, c2 = 0;
    if (load_or_build(out->train_path, text, cut, vocab_size, out->key, encode, ctx, &out->train, &out->n_train,
                      &c1, err, errlen) != 0 ||
        load_or_build(out->val_path, text + cut, len - cut, vocab_size, out->key, encode, ctx, &out->val,
                      &out->n_val, &c2, err, errlen) != 0) {
        data_tokens_free(out);
        return -1;
    }
    out->from_cache = c1 && c2;
    return 0;
}

void data_tokens_free(DataTokens* d) {
    free(d->train);
    free(d->val);
    d->train = d->val = NULL;
    d->n_train = d->n_val = 0;
}
