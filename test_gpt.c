// test_gpt.c: the test runner. Every check of the project prints one line, "ok   <what>",
// "FAIL <what>" or "SKIP <what> because <why>", against an independent reference (PyTorch and numpy
// fixtures from dev/, closed forms, finite differences, naive loops). The checks live by subject
// in tests/, one file per section below; tests/test.h is what they share. Ends with
// "N passed, N failed, N skipped"; exit status 1 if anything failed.
//
// Usage: ./test_gpt [SECTION...]   no argument runs every section, in the order of the table below
#include "tests/test.h"

// The one mutable global: the tally of results.
static struct {
    int passed, failed, skipped;
} tally;

void check(int ok, const char* fmt, ...) {
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

void skip(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    tally.skipped++;
}

static const struct {
    const char* name;
    void (*fn)(void);
} sections[] = {
    {"gemm", test_gemm},               // tests/gemm.c: SGEMM kernels vs double, determinism, few-row paths
    {"layers", test_layers},           // tests/layers.c: each layer kernel (finite differences, naive, GPU)
    {"model", test_model},             // tests/model.c: the model vs PyTorch, checkpoints, sampling, KV cache
    {"tokenizer", test_tokenizer},     // tests/tokenizer.c: BPE, GPT-2 ids, tokenizer.json
    {"data", test_data},               // tests/data.c: corpus, preference pairs, n-grams, shards
    {"probes", test_probes},           // tests/probes.c: soft-entropy estimator, probe files, figures
    {"ib", test_ib},                   // tests/ib.c: the Information Bottleneck bound
    {"hf", test_hf},                   // tests/hf.c: model folders as Hugging Face tools read them
    {"use", test_use},                 // tests/use.c: --sample, --eval, --init defaults, run.json, edges
    {"train", test_train},             // tests/train.c: ./train end to end
    {"dpo", test_dpo},                 // tests/dpo.c: DPO objective, fixture, reader, toy run, CLI
    {"reliability", test_reliability}, // tests/reliability.c: fault names, flags, hostile files, crash safety
    {"runfolder", test_runfolder},     // tests/runfolder.c: overwrite, lock, DPO resume, SIGTERM, --steps
    {"gpu", test_gpu},                 // tests/gpu.c: the GPU backend (GPU builds only)
    {"page", test_page},               // tests/page.c: the run's page, the compare page, the browser test
};
enum { NUM_SECTIONS = sizeof sections / sizeof sections[0] };

int main(int argc, char** argv) {
    // every argument must name a section: a typo must not pass as "0 failed"
    for (int a = 1; a < argc; a++) {
        int known = 0;
        for (int i = 0; i < NUM_SECTIONS; i++) known |= strcmp(argv[a], sections[i].name) == 0;
        if (!known) {
            fprintf(stderr, "error: no section '%s'; usage: %s [SECTION...] with SECTION one of:", argv[a], argv[0]);
            for (int i = 0; i < NUM_SECTIONS; i++) fprintf(stderr, " %s", sections[i].name);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    for (int i = 0; i < NUM_SECTIONS; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], sections[i].name) == 0;
        if (!wanted) continue;
        printf("== %s\n", sections[i].name);
        sections[i].fn();
    }
    printf("%d passed, %d failed, %d skipped\n", tally.passed, tally.failed, tally.skipped);
    return tally.failed ? 1 : 0;
}
