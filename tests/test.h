// tests/test.h: what every test file shares. The reporting (check, skip: one line per check; the
// tally is test_gpt.c's), tolerance helpers, the PyTorch reference state of the model, readers of
// the text fixtures, file and process helpers, and each section's entry point. Every project
// header is included here and nowhere else in tests/, so a file that moves in the sources changes
// this one include block.
#ifndef TEST_H
#define TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE // memmem, memrchr, mkdtemp, realpath: this header comes first in every tests/*.c
#endif
#include <ctype.h>
#include <float.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../data/corpus.h"
#include "../data/prefs.h"
#include "../data/shards.h"
#include "../lib/csv.h"
#include "../lib/dist.h"
#include "../lib/dpo.h"
#include "../lib/eval.h"
#include "../lib/flags.h"
#include "../lib/gemm.h"
#include "../lib/ib.h"
#include "../lib/json.h"
#include "../lib/layer_math.h"
#include "../lib/page.h"
#include "../lib/plot.h"
#include "../lib/run.h"
#include "../lib/step.h"
#include "../model.h"
#include "../probes.h"
#include "../tokenizer.h"
#ifdef USE_CUBLAS
#include "../lib/gpu.h"
#endif

// ----------------------------------------------------------------------------
// Reporting (test_gpt.c)

// Records one check: prints "ok   <what>" or "FAIL <what>".
void check(int ok, const char* fmt, ...) PRINTF_LIKE(2, 3);
// Records a skipped check: prints "SKIP <what> because <why>" (the caller writes the why).
void skip(const char* fmt, ...) PRINTF_LIKE(1, 2);

// GPU_ONLY(call) makes the call in a GPU build (USE_CUBLAS: ./test_gpt_emu, ./test_gpt_gpu) and
// nothing in the CPU build, where the gpu section's one SKIP line stands for every GPU check.
#ifdef USE_CUBLAS
#define GPU_ONLY(call) call
#else
#define GPU_ONLY(call) ((void)0)
#endif

// ----------------------------------------------------------------------------
// Tolerances (tests/test.c)

double max_abs_diff(const float* a, const float* b, size_t n); // NaN if any difference is NaN
double max_abs(const float* a, size_t n);
// max|a-b| / max(max|b|, 1e-6): relative error of a tensor as a whole.
double tensor_rel_diff(const float* a, const float* b, size_t n);

// ----------------------------------------------------------------------------
// The PyTorch reference state written by dev/reference_gpt.py (layout documented there)

typedef struct {
    char* file; // owns everything below
    GPTConfig cfg;
    int B, T, nsteps;
    float lr, beta1, beta2, eps, wd, clip;
    size_t P;
    const float* params;
    const int* inputs;
    const int* targets;
    const float* logits;
    const float* losses;
    float mean_loss;
    const float* hidden; // (L+1, B, T, C)
    const float* grads;
    const float* seed;
    const float* grads2;
    const float* step_losses; // nsteps + 1
    const float* step_norms;  // nsteps
} GptRef;

// Loads data/fixtures/gpt_reference.bin; returns 0, or -1 with why filled (r->file to be freed).
int gptref_load(GptRef* r, char* why, size_t len);
// Builds m with the fixture's configuration and parameters.
void gptref_model(GPT* m, const GptRef* r);

// ----------------------------------------------------------------------------
// Text fixtures (data/fixtures/*.txt from dev/reference_*.py: whitespace-separated words)

// Next word at *cur, NUL-terminated in place; NULL if `want` is given and the word differs.
char* fixture_word(char** cur, const char* want);
// Next word as a number; NAN if it is not one (or the text has ended).
double fixture_num(char** cur);
// Next word as an int; -1 if it is not an integer in [0, 2^31).
int fixture_int(char** cur);

// ----------------------------------------------------------------------------
// Files and processes

// The ./train binary the CLI tests run (the ASan build sets TRAIN_BIN=./train_asan).
const char* train_bin(void);
// Writes n bytes to path; 0 or -1.
int write_bytes(const char* path, const void* data, size_t n);
// The whole file, NUL-terminated and malloc'd (NULL if unreadable); *n its size.
char* slurp(const char* path, size_t* n);
// 1 if the two files exist and hold the same bytes.
int same_file(const char* a, const char* b);
// Number of '\n' in the file (0 if it cannot be read).
int count_lines(const char* path);
// rm -rf of a folder a test created; prints a note if something is left.
void rm_tree(const char* dir);
// Runs cmd through /bin/sh; its exit status, or -1 if it did not exit normally (e.g. a crash).
int run_shell(const char* cmd);
// The same, capturing stdout into out (truncated to outlen, NUL-terminated).
int run_capture(const char* cmd, char* out, size_t outlen);

// Runs `./train ARGS` inside root (so that its .cache/ stays there) with stdout and stderr in
// root/out.txt and root/err.txt; returns its exit status (-1 if it did not exit normally, e.g. a
// crash) and the stderr text in err.
int train_cli(const char* root, const char* args, char* err, size_t errlen);
// A bad invocation must exit with `code` and say so in exactly one line naming `needle`.
void train_expect_error(const char* root, const char* args, int code, const char* needle, const char* what);
// A deterministic text of simple sentences (about `bytes` long) for the CLI runs; *len its length.
char* train_test_text(size_t bytes, size_t* len);
// Writes GPT-2-style encoder.json + vocab.bpe (the hub's vocab.json + merges.txt) from a
// tokenizer.json's vocab and merges. 0 or -1.
int tok_write_gpt2_files(const char* tj_path, const char* enc_path, const char* bpe_path);

#ifdef USE_CUBLAS
// Device-accessible (managed) buffer of n uniform values in [-1, 1).
float* managed_rand(size_t n, uint64_t* rng);
// Device-accessible copy of x[0..n).
float* managed_copy(const float* x, size_t n);
// One check of a GPU kernel's output against the CPU kernel's: max abs diff within tol.
void check_vs_cpu(const char* what, const float* gpu, const float* cpu, size_t n, double tol);
#endif

// ----------------------------------------------------------------------------
// The sections, one per file in tests/ (test_gpt.c runs them by name)

void test_gemm(void);        // tests/gemm.c
void test_layers(void);      // tests/layers.c
void test_model(void);       // tests/model.c
void test_tokenizer(void);   // tests/tokenizer.c
void test_data(void);        // tests/data.c
void test_probes(void);      // tests/probes.c
void test_ib(void);          // tests/ib.c
void test_hf(void);          // tests/hf.c
void test_use(void);         // tests/use.c
void test_train(void);       // tests/train.c
void test_dpo(void);         // tests/dpo.c
void test_reliability(void); // tests/reliability.c
void test_runfolder(void);   // tests/runfolder.c
void test_gpu(void);         // tests/gpu.c
void test_page(void);        // tests/page.c
void test_dist(void);        // tests/dist.c

#endif // TEST_H
