// dev/bench_matmul.c: our SGEMM (gemm.h) against OpenBLAS cblas_sgemm at the matrix shapes of a
// training step, for the `small` and `gpt2` configurations: every Conv1D layer's forward, dinp
// and dW products and the tied LM head's three products. Prints GFLOP/s of both, their ratio and
// the whole step's matmul time (per-layer products times L, plus the LM head).
//
// OpenBLAS is only a yardstick here: it is loaded at run time (dlopen), never linked into the
// product, so no -dev package is needed: the first of $BENCH_BLAS, libopenblas.so.0, libopenblas.so
// and libblas.so.3 that exports cblas_sgemm. The first line printed names it, with OpenBLAS's build
// config and kernel family when it is OpenBLAS ("blas: ... (not OpenBLAS)" otherwise, e.g. Debian's
// reference BLAS, which is some 50x slower and no yardstick); without any, only our figures print.
//   build: make dev/bench_matmul
//   run:   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ./dev/bench_matmul [small|gpt2|square|all] [reps]
//          (BENCH_BEST=1 reports the fastest of the reps instead of the median)
#define _GNU_SOURCE

#include "../lib/gemm.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// cblas_sgemm's signature with CBLAS's enum values spelled out (RowMajor 101, NoTrans 111, Trans 112)
typedef void (*CblasSgemm)(int order, int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                           const float* B, int ldb, float beta, float* C, int ldc);
static CblasSgemm blas_sgemm; // NULL: no BLAS found

// Loads the yardstick BLAS and prints which one it is.
static void blas_load(void) {
    const char* env = getenv("BENCH_BLAS");
    const char* names[] = {env, "libopenblas.so.0", "libopenblas.so", "libblas.so.3"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!names[i] || !*names[i]) continue;
        void* h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) continue;
        blas_sgemm = (CblasSgemm)dlsym(h, "cblas_sgemm");
        if (!blas_sgemm) continue;
        char path[4096] = "?";
        Dl_info info;
        if (dladdr((void*)blas_sgemm, &info) && info.dli_fname) snprintf(path, sizeof path, "%s", info.dli_fname);
        char* (*config)(void) = (char* (*)(void))dlsym(h, "openblas_get_config");
        char* (*core)(void) = (char* (*)(void))dlsym(h, "openblas_get_corename");
        int (*nthreads)(void) = (int (*)(void))dlsym(h, "openblas_get_num_threads");
        if (config && core && nthreads)
            printf("blas: %s (%s, kernels %s, threads %d)\n", path, config(), core(), nthreads());
        else printf("blas: %s (not OpenBLAS)\n", path);
        return;
    }
    printf("blas: none (no libopenblas.so.0, libopenblas.so or libblas.so.3 with cblas_sgemm): ours only\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float* random_matrix(size_t n, unsigned* seed) {
    float* p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "error: bench_matmul: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    return p;
}

typedef struct {
    const char* name;
    int ta, tb;
    size_t M, N, K;
    int count; // times per training step
} Shape;

static void sort_doubles(double* t, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
}

// Times one product reps times for ours and OpenBLAS alternately (so that a burst of load from
// other processes hits both alike) after one warm-up each; medians in *ours and *blas (seconds).
static void time_pair(const Shape* s, int reps, const float* A, const float* B, float* C, double* ours,
                      double* blas) {
    size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double to[64], tb[64];
    if (reps > 64) reps = 64;
    for (int r = -1; r < reps; r++) { // r = -1: warm-up
        double t0 = now_s();
        sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 1.0f, C, s->N);
        double t1 = now_s();
        if (blas_sgemm)
            blas_sgemm(101, s->ta ? 112 : 111, s->tb ? 112 : 111, (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)lda,
                       B, (int)ldb, 1.0f, C, (int)s->N);
        double t2 = now_s();
        if (r >= 0) {
            to[r] = t1 - t0;
            tb[r] = t2 - t1;
        }
    }
    sort_doubles(to, reps);
    sort_doubles(tb, reps);
    // BENCH_BEST=1: the fastest run instead of the median (closer to an idle machine's figure
    // when other processes come and go)
    const char* best = getenv("BENCH_BEST");
    int pick = best && strcmp(best, "1") == 0 ? 0 : reps / 2;
    *ours = to[pick];
    *blas = blas_sgemm ? tb[pick] : NAN;
}

static void bench_config(const char* cfg, size_t L, size_t C, size_t V, size_t BT, int reps) {
    Shape shapes[] = {
        {"qkv fwd", 0, 0, BT, 3 * C, C, (int)L},        {"qkv dinp", 0, 1, BT, C, 3 * C, (int)L},
        {"qkv dW", 1, 0, C, 3 * C, BT, (int)L},         {"attproj fwd", 0, 0, BT, C, C, (int)L},
        {"attproj dinp", 0, 1, BT, C, C, (int)L},       {"attproj dW", 1, 0, C, C, BT, (int)L},
        {"fc fwd", 0, 0, BT, 4 * C, C, (int)L},         {"fc dinp", 0, 1, BT, C, 4 * C, (int)L},
        {"fc dW", 1, 0, C, 4 * C, BT, (int)L},          {"fcproj fwd", 0, 0, BT, C, 4 * C, (int)L},
        {"fcproj dinp", 0, 1, BT, 4 * C, C, (int)L},    {"fcproj dW", 1, 0, 4 * C, C, BT, (int)L},
        {"lmhead fwd", 0, 1, BT, V, C, 1},              {"lmhead dinp", 0, 0, BT, C, V, 1},
        {"lmhead dW", 1, 0, V, C, BT, 1},
    };
    size_t ns = sizeof shapes / sizeof shapes[0];
    printf("== %s (L%zu C%zu V%zu BT%zu), %s of %d\n", cfg, L, C, V, BT, getenv("BENCH_BEST") ? "best" : "median", reps);
    printf("%-14s %2s %2s %6s %6s %6s %10s %10s %7s\n", "product", "tA", "tB", "M", "N", "K", "ours GF/s",
           "oblas GF/s", "ratio");
    double total_ours = 0, total_blas = 0;
    unsigned seed = 1234;
    for (size_t i = 0; i < ns; i++) {
        const Shape* s = &shapes[i];
        float* A = random_matrix(s->M * s->K, &seed);
        float* B = random_matrix(s->K * s->N, &seed);
        float* Cm = random_matrix(s->M * s->N, &seed);
        double flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
        double to, tb;
        time_pair(s, reps, A, B, Cm, &to, &tb);
        total_ours += to * s->count;
        total_blas += tb * s->count;
        printf("%-14s %2d %2d %6zu %6zu %6zu %10.1f %10.1f %7.2f\n", s->name, s->ta, s->tb, s->M, s->N, s->K,
               flops / to * 1e-9, flops / tb * 1e-9, tb / to);
        free(A);
        free(B);
        free(Cm);
    }
    printf("%s step matmuls: ours %.1f ms, OpenBLAS %.1f ms, ratio (OpenBLAS time / ours) %.2f\n", cfg,
           total_ours * 1e3, total_blas * 1e3, total_blas / total_ours);
}

int main(int argc, char** argv) {
    const char* which = argc > 1 ? argv[1] : "all";
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1 || reps > 64) {
        fprintf(stderr, "usage: bench_matmul [small|gpt2|square|all] [reps 1..64]\n");
        return 2;
    }
    blas_load();
    printf("kernel: %s\n", gemm_kernel_name(gemm_kernel_resolve(GEMM_AUTO)));
    int all = strcmp(which, "all") == 0;
    if (all || strcmp(which, "square") == 0) {
        Shape sq = {"2048^3", 0, 0, 2048, 2048, 2048, 1};
        unsigned seed = 1;
        float* A = random_matrix(2048 * 2048, &seed);
        float* B = random_matrix(2048 * 2048, &seed);
        float* Cm = random_matrix(2048 * 2048, &seed);
        double flops = 2.0 * 2048.0 * 2048.0 * 2048.0;
        double to, tb;
        time_pair(&sq, reps, A, B, Cm, &to, &tb);
        printf("sgemm 2048^3: ours %.1f GFLOP/s, OpenBLAS %.1f GFLOP/s, ratio %.2f\n", flops / to * 1e-9,
               flops / tb * 1e-9, tb / to);
        free(A);
        free(B);
        free(Cm);
    }
    if (all || strcmp(which, "small") == 0) bench_config("small", 6, 384, 8192, 8 * 256, reps);
    if (all || strcmp(which, "gpt2") == 0) bench_config("gpt2", 12, 768, 50257, 4 * 64, reps);
    return 0;
}
