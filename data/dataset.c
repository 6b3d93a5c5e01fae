// data/dataset.c: text -> tokens -> a train split and a val split, and the batches cut from
// them (API in data/dataset.h).
#define _GNU_SOURCE
#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/util.h"
#include "shards.h"

static int* encode_with_tokenizer(void* ctx, const char* text, size_t len, size_t* n) {
    return tok_encode((const Tokenizer*)ctx, text, len, n);
}

// <|endoftext|> in the text as the special token (the default, as Hugging Face tokenizers do).
static int* encode_special(void* ctx, const char* text, size_t len, size_t* n) {
    return tok_encode_special((const Tokenizer*)ctx, text, len, n);
}

// The tokenizer for text: loaded from tok_dir when given (a model folder: tokenizer.json, or
// vocab.json + merges.txt), else trained on the train side of the text to `vocab` tokens and
// cached in CACHE_DIR under a hash of text, vocab and split (and, for a text that contains
// <|endoftext|>, how it is read: special keeps it out of the merges). Fills ds->tok and
// ds->tok_json. Runtime error on failure.
static void dataset_tokenizer(Dataset* ds, const char* text, size_t len, int vocab, double val_frac,
                              const char* tok_dir, int special) {
    char err[1024], path[4096];
    if (tok_dir) {
        ds->tok = tok_load_dir(tok_dir, &ds->tok_json, &ds->tok_json_len, err, sizeof err);
        if (!ds->tok) fatal("%s", err);
        return;
    }
    uint64_t key = data_hash(DATA_HASH_INIT, text, len);
    key = data_hash(key, &vocab, sizeof vocab);
    key = data_hash(key, &val_frac, sizeof val_frac);
    if (special && tok_has_eot_text(text, len)) key = data_hash(key, "special", 7);
    char name[64];
    snprintf(name, sizeof name, "%016llx.tokenizer.json", (unsigned long long)key);
    path_join(path, sizeof path, CACHE_DIR, name);
    if (access(path, F_OK) != 0) {
        size_t split = data_split_text(text, len, val_frac, err, sizeof err);
        if (split == 0) fatal("%s: %s", ds->source, err);
        double t0 = time_seconds();
        int tty = isatty(STDOUT_FILENO); // a terminal sees what the wait is for (a large text takes minutes)
        if (tty) printf("tokenizer  training a %d-token BPE on %zu bytes ...", vocab, split);
        fflush(stdout);
        Tokenizer* tok = special ? tok_train_special(text, split, vocab, err, sizeof err)
                                 : tok_train(text, split, vocab, err, sizeof err);
        if (!tok) fatal("%s: %s", ds->source, err);
        if (make_dirs(CACHE_DIR, err, sizeof err) != 0 || tok_save_json(tok, path, err, sizeof err) != 0)
            fatal("%s", err);
        if (tty) printf("\r\033[K");
        printf("tokenizer  trained a %d-token BPE on %zu bytes in %.2f s (cached in %s)\n", tok_vocab_size(tok),
               split, time_seconds() - t0, path);
        tok_free(tok);
    }
    ds->tok = tok_load_json(path, err, sizeof err);
    if (!ds->tok) fatal("%s", err);
    ds->tok_json = read_file(path, &ds->tok_json_len, err, sizeof err);
    if (!ds->tok_json) fatal("%s", err);
}

// The text of input (its name, without folder and extension, names the run folder), or the
// built-in corpus. Returns it malloc'd, its length in *len.
static char* dataset_text(Dataset* ds, const char* input, size_t* len) {
    if (!input) {
        snprintf(ds->source, sizeof ds->source, "built-in corpus (seed %d)", CORPUS_SEED);
        snprintf(ds->name, sizeof ds->name, "corpus");
        return corpus_generate(CORPUS_SEED, CORPUS_DEFAULT_BYTES, len);
    }
    char err[1024];
    char* text = data_read_input(input, len, err, sizeof err);
    if (!text) fatal("%s", err);
    snprintf(ds->source, sizeof ds->source, "%s", input);
    char base[4096];
    snprintf(base, sizeof base, "%s", input);
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/') base[--bl] = '\0';
    const char* slash = strrchr(base, '/');
    const char* name = slash && slash[1] ? slash + 1 : base;
    int w = snprintf(ds->name, sizeof ds->name, "%s", name);
    if (w < 0 || (size_t)w >= sizeof ds->name) ds->name[sizeof ds->name - 1] = '\0';
    char* dot = strrchr(ds->name, '.');
    if (dot && dot != ds->name) *dot = '\0';
    return text;
}

void dataset_load(Dataset* ds, const char* input, int vocab, float val_frac, const char* tok_dir, int special) {
    memset(ds, 0, sizeof *ds);
    size_t len = 0;
    char err[1024];
    char* text = dataset_text(ds, input, &len);
    ds->bytes = len;
    dataset_tokenizer(ds, text, len, vocab, val_frac, tok_dir, special);
    ds->V = tok_vocab_size(ds->tok);
    // the shards' identity: the tokenizer's files, and how <|endoftext|> is read when the text has it
    int eot_special = special && tok_eot(ds->tok) >= 0 && tok_has_eot_text(text, len);
    size_t id_len = ds->tok_json_len + (eot_special ? 8 : 0);
    char* id = malloc_check(id_len + 1);
    memcpy(id, ds->tok_json, ds->tok_json_len);
    if (eot_special) memcpy(id + ds->tok_json_len, "\nspecial", 8);
    DataTokens dt;
    int rc = data_prepare_tokens(text, len, val_frac, CACHE_DIR, id, id_len, ds->V,
                                 eot_special ? encode_special : encode_with_tokenizer, ds->tok, &dt, err, sizeof err);
    free(id);
    if (rc != 0) fatal("%s", err);
    free(text);
    ds->train = dt.train;
    ds->val = dt.val;
    ds->n_train = dt.n_train;
    ds->n_val = dt.n_val;
    ds->hash = dt.key;
    if (ngram_entropies(ds->train, ds->n_train, ds->val, ds->n_val, ds->V, &ds->ngram, err, sizeof err) != 0)
        fatal("%s: %s", ds->source, err);
}

void dataset_free(Dataset* ds) {
    free(ds->train);
    free(ds->val);
    free(ds->tok_json);
    tok_free(ds->tok);
}

void dataset_write_baselines(const Dataset* ds, const char* dir) {
    char path[4200], err[1024];
    path_join(path, sizeof path, dir, "baselines.csv");
    AtomicFile af;
    if (atomic_open(&af, path, err, sizeof err) != 0) fatal("%s", err);
    fprintf(af.f, "model,val_loss_nats_per_token\nunigram,%.6f\nbigram,%.6f\ntrigram,%.6f\n", ds->ngram.h1,
            ds->ngram.h2, ds->ngram.h3);
    if (atomic_commit(&af, err, sizeof err) != 0) fatal("%s", err);
}

// ============================================================================
// Loaders

void loader_init(DataLoader* dl, const int* tokens, size_t n, size_t B, size_t T, int sequential, uint64_t seed) {
    dl->tokens = tokens;
    dl->n = n;
    dl->B = B;
    dl->T = T;
    dl->sequential = sequential;
    dl->rng = seed ^ 0x9E3779B97F4A7C15ull;
    if (dl->rng == 0) dl->rng = 1;
    dl->pos = 0;
    dl->inputs = malloc_check(B * T * sizeof(int));
    dl->targets = malloc_check(B * T * sizeof(int));
}

void loader_next(DataLoader* dl) {
    size_t span = dl->n - dl->T; // number of valid window starts (n >= T + 1)
    for (size_t b = 0; b < dl->B; b++) {
        size_t start;
        if (dl->sequential) {
            if (dl->pos >= span) dl->pos = 0;
            start = (size_t)dl->pos;
            dl->pos += dl->T;
        } else {
            uint64_t r = ((uint64_t)random_u32(&dl->rng) << 32) | random_u32(&dl->rng);
            start = (size_t)(r % span);
        }
        memcpy(dl->inputs + b * dl->T, dl->tokens + start, dl->T * sizeof(int));
        memcpy(dl->targets + b * dl->T, dl->tokens + start + 1, dl->T * sizeof(int));
    }
}

void loader_free(DataLoader* dl) {
    free(dl->inputs);
    free(dl->targets);
}

void valset_init(ValSet* vs, const int* tokens, size_t n, size_t B, size_t T, size_t max_batches) {
    size_t avail = (n - 1) / T;
    size_t windows = avail < max_batches * B ? avail : max_batches * B;
    vs->B = B;
    vs->T = T;
    vs->num_windows = windows;
    vs->num_batches = (windows + B - 1) / B;
    vs->inputs = malloc_check(vs->num_batches * B * T * sizeof(int));
    vs->targets = malloc_check(vs->num_batches * B * T * sizeof(int));
    for (size_t w = 0; w < vs->num_batches * B; w++) {
        for (size_t t = 0; t < T; t++) {
            if (w < windows) {
                vs->inputs[w * T + t] = tokens[w * T + t];
                vs->targets[w * T + t] = tokens[w * T + t + 1];
            } else {
                vs->inputs[w * T + t] = tokens[t];
                vs->targets[w * T + t] = -1;
            }
        }
    }
}

void valset_free(ValSet* vs) {
    free(vs->inputs);
    free(vs->targets);
}
