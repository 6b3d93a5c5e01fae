// test_gpt.c: every check of the project, one line each, against independent references
// (PyTorch/numpy fixtures from dev/, closed forms, finite differences). Ends with
// "N passed, N failed, N skipped"; exit status 1 if anything failed.
//
// Usage: ./test_gpt [SECTION...]   sections: model tokenizer data probes train dpo
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/corpus.h"
#include "json.h"
#include "model.h"
#include "probes.h"
#include "tokenizer.h"

// The one mutable global: the tally of results.
static struct {
    int passed, failed, skipped;
} tally;

// Records one check: prints "ok   <what>" or "FAIL <what>".
static void check(int ok, const char* fmt, ...) PRINTF_LIKE(2, 3);
static void check(int ok, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) tally.passed++;
    else tally.failed++;
}

// Records a skipped check and why.
static void skip(const char* fmt, ...) PRINTF_LIKE(1, 2);
static void skip(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    tally.skipped++;
}

// The ./train binary the CLI tests run (the ASan build sets TRAIN_BIN=./train_asan).
static const char* train_bin(void) {
    const char* b = getenv("TRAIN_BIN");
    return b && *b ? b : "./train";
}

// ============================================================================
// model: layers, full model vs PyTorch fixture, finite differences, checkpoints

static void test_model(void) {}

// ============================================================================
// tokenizer: byte-level BPE, GPT-2 ids, tokenizer.json

static void test_tokenizer(void) {}

// ============================================================================
// data: built-in corpus, preference pairs, n-gram baselines, shards

static void test_data(void) {}

// ============================================================================
// probes: soft-entropy estimator vs closed forms and the numpy fixture

static void test_probes(void) {}

// ============================================================================
// train: the CLI end to end (errors, resume, run folder)

static void test_train(void) {}

// ============================================================================
// dpo: loss and gradient vs PyTorch, JSONL reader, toy run

static void test_dpo(void) {}

// ============================================================================

int main(int argc, char** argv) {
    static const struct {
        const char* name;
        void (*fn)(void);
    } sections[] = {{"model", test_model}, {"tokenizer", test_tokenizer}, {"data", test_data},
                    {"probes", test_probes}, {"train", test_train},         {"dpo", test_dpo}};
    size_t ns = sizeof sections / sizeof sections[0];
    for (size_t i = 0; i < ns; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], sections[i].name) == 0;
        if (!wanted) continue;
        printf("== %s\n", sections[i].name);
        sections[i].fn();
    }
    (void)train_bin;
    printf("%d passed, %d failed, %d skipped\n", tally.passed, tally.failed, tally.skipped);
    return tally.failed ? 1 : 0;
}
