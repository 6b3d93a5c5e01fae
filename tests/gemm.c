// tests/gemm.c: the SGEMM kernels of lib/gemm.c (portable, AVX2, AVX-512) against a
// double-precision reference, their determinism across repeats and thread counts, and the
// few-row paths the cached decoding uses against the packed path, bit for bit; the bf16 products
// (GEMM_BF16) of every path against double references of the exact and of the bf16-rounded inputs,
// within each shape's rounding bound.
// (The GPU build's products are checked in tests/gpu.c.)
#include "test.h"

#include <float.h>

// Fills p[0..n) with uniform values in [-1, 1).
static void gemm_fill(float* p, size_t n, uint64_t* rng) {
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * random_f32(rng) - 1.0f;
}

// x rounded to the nearest bfloat16, computed apart from lib/gemm.c's bit trick: in double, on the
// grid of 8 significant bits of x's binade, ties to even (nearbyint in the default rounding mode).
// Finite, normal x only (the tests' values are in [-1, 1)).
static float ref_bf16(float x) {
    if (x == 0.0f || !isfinite(x)) return x;
    int e;
    frexp((double)x, &e); // |x| = m 2^e, 0.5 <= m < 1: the grid step is 2^(e - 8)
    return (float)ldexp(nearbyint(ldexp((double)x, 8 - e)), e - 8);
}

// Max over row i of C of |got - ref| / (magnitude + 1e-30) against a double reference row, or -1
// if some output is not finite. ref and mag are scratch rows of N doubles.
static double gemm_row_error(int ta, int tb, size_t i, size_t N, size_t K, float alpha, float beta,
                             const float* A, size_t lda, const float* B, size_t ldb, const float* C0,
                             const float* Cm, size_t ldc, double* ref, double* mag) {
    // k outer so that both operands are read along their rows
    for (size_t j = 0; j < N; j++) ref[j] = mag[j] = 0.0;
    for (size_t k = 0; k < K; k++) {
        double a = ta ? A[k * lda + i] : A[i * lda + k];
        for (size_t j = 0; j < N; j++) {
            double b = tb ? B[j * ldb + k] : B[k * ldb + j];
            ref[j] += a * b;
            mag[j] += fabs(a * b);
        }
    }
    double maxrel = 0.0;
    for (size_t j = 0; j < N; j++) {
        double r = (double)alpha * ref[j], m = fabs((double)alpha) * mag[j];
        if (beta != 0.0f) {
            r += (double)beta * (double)C0[i * ldc + j];
            m += fabs((double)beta * (double)C0[i * ldc + j]);
        }
        double got = Cm[i * ldc + j];
        if (!isfinite(got)) return -1.0;
        double rel = fabs(got - r) / (m + 1e-30);
        if (rel > maxrel) maxrel = rel;
    }
    return maxrel;
}

// Runs one product (precision prec) with padded leading dimensions against double references.
// Returns the max error over C relative to the magnitude bound |alpha|·Σ|a·b| + |beta·c| of each
// element (the scale rounding errors are proportional to), or -1 if some output is not finite; for
// GEMM_BF16, *err_rounded gets the same against the reference of the bf16-rounded inputs.
static double gemm_case(GemmKernel kernel, GemmPrecision prec, int ta, int tb, size_t M, size_t N, size_t K,
                        float alpha, float beta, uint64_t* rng, double* err_rounded) {
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
    gemm_ex(kernel, prec, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cm, ldc);
    // the inputs as GEMM_BF16 takes them, ref_bf16(alpha·a) and ref_bf16(b): against those the
    // rounding's own error is not part of the difference
    float *Ar = NULL, *Br = NULL;
    if (prec == GEMM_BF16) {
        Ar = malloc_check((arows * lda + 1) * sizeof(float));
        Br = malloc_check((brows * ldb + 1) * sizeof(float));
        for (size_t i = 0; i < arows * lda + 1; i++) Ar[i] = ref_bf16(alpha * A[i]);
        for (size_t i = 0; i < brows * ldb + 1; i++) Br[i] = ref_bf16(B[i]);
    }
    double maxrel = 0.0, maxrnd = 0.0;
    double* ref = malloc_check((N + 1) * sizeof(double));
    double* mag = malloc_check((N + 1) * sizeof(double));
    for (size_t i = 0; i < M && maxrel >= 0.0; i++) {
        double e = gemm_row_error(ta, tb, i, N, K, alpha, beta, A, lda, B, ldb, C0, Cm, ldc, ref, mag);
        if (e < 0.0 || e > maxrel) maxrel = e;
        if (Ar) {
            e = gemm_row_error(ta, tb, i, N, K, 1.0f, beta, Ar, lda, Br, ldb, C0, Cm, ldc, ref, mag);
            if (e < 0.0 || e > maxrnd) maxrnd = e < 0.0 ? (double)INFINITY : e;
        }
    }
    if (err_rounded) *err_rounded = maxrnd;
    free(Ar);
    free(Br);
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

// odd shapes around the tile sizes (MR 4/6/14, NR 16/32) and block sizes (KC 256, MC 224, NC 3072),
// degenerate ones, tall and wide, and a long K whose B panels are narrower than N
static const size_t gemm_shapes[][3] = {{1, 1, 1},    {13, 17, 19}, {14, 32, 256}, {15, 33, 257}, {6, 16, 1},
                                        {100, 3, 70}, {3, 100, 70}, {450, 40, 30}, {29, 47, 600}, {5, 3100, 3},
                                        {0, 5, 5},    {5, 0, 5},    {7, 9, 0},     {1, 170, 50000}};
static const float gemm_ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, -2.0f}};
#define GEMM_NSHAPES (sizeof gemm_shapes / sizeof gemm_shapes[0])

// One kernel on every shape, transposition and (alpha, beta) against the double reference.
static void gemm_check_kernel(GemmKernel kern) {
    if (!gemm_kernel_available(kern)) {
        skip("gemm %s kernel because this CPU lacks it", gemm_kernel_name(kern));
        return;
    }
    uint64_t rng = 42;
    double worst = 0.0;
    int ncase = 0, bad = 0;
    for (size_t s = 0; s < GEMM_NSHAPES; s++)
        for (int t = 0; t < 4; t++)
            for (size_t a = 0; a < 3; a++) {
                const size_t* sh = gemm_shapes[s];
                double e = gemm_case(kern, GEMM_FP32, t & 1, t >> 1, sh[0], sh[1], sh[2], gemm_ab[a][0],
                                     gemm_ab[a][1], &rng, NULL);
                ncase++;
                if (e < 0.0 || e > 1e-5) {
                    if (bad++ < 5)
                        printf("     %s tA=%d tB=%d M=%zu N=%zu K=%zu alpha=%g beta=%g: rel err %g\n",
                               gemm_kernel_name(kern), t & 1, t >> 1, sh[0], sh[1], sh[2], (double)gemm_ab[a][0],
                               (double)gemm_ab[a][1], e);
                }
                if (e < 0.0) worst = (double)INFINITY;
                else if (e > worst) worst = e;
            }
    check(bad == 0, "gemm %s kernel vs double reference: %d cases (4 transpositions, overwrite/accumulate/scale,"
                    " K=0, 1x1x1), max rel err %.2e (tol 1e-5)",
          gemm_kernel_name(kern), ncase, worst);
}

// GEMM_BF16 on one kernel's path (pairs, rounded, or AVX512-BF16), every shape, transposition and
// (alpha, beta), against two double references, relative to each element's magnitude Σ|a·b| (+ |beta·c|):
//  - the exact inputs, within the rounding bound of the shape: each product's two inputs rounded to
//    bf16 (relative error <= u = 2^-8 each, so (1+u)^2 - 1 for the product), plus fp32 summation
//    of K + 1 terms (γ = (K+1) 2^-24 / (1 - (K+1) 2^-24) of the rounded magnitude, <= (1+u)^2 times
//    the exact one). The largest error seen must also exceed fp32's 1e-5: rounding did happen.
//  - the bf16-rounded inputs (ref_bf16, computed apart from gemm.c), within the fp32 summation
//    bound γ alone: the rounding is to nearest even, as specified, not truncation (which would err
//    by up to 2u).
static void gemm_check_bf16(GemmKernel kern, const char* what) {
    const double u = 1.0 / 256.0, u32 = 1.0 / 16777216.0;
    uint64_t rng = 43;
    double worst = 0.0, worst_ratio = 0.0, worst_rnd_ratio = 0.0;
    int ncase = 0, bad = 0;
    for (size_t s = 0; s < GEMM_NSHAPES; s++)
        for (int t = 0; t < 4; t++)
            for (size_t a = 0; a < 3; a += 2) { // overwrite, and alpha/beta scaling (accumulate: fp32's check)
                const size_t* sh = gemm_shapes[s];
                double n = (double)sh[2] + 1.0, gamma = n * u32 / (1.0 - n * u32);
                double bound = (1.0 + u) * (1.0 + u) - 1.0 + gamma * (1.0 + u) * (1.0 + u);
                double er = 0.0;
                double e = gemm_case(kern, GEMM_BF16, t & 1, t >> 1, sh[0], sh[1], sh[2], gemm_ab[a][0],
                                     gemm_ab[a][1], &rng, &er);
                ncase++;
                int fail = e < 0.0 || e > bound || er > gamma;
                if (fail && bad++ < 5)
                    printf("     %s tA=%d tB=%d M=%zu N=%zu K=%zu alpha=%g beta=%g: rel err %g (bound %g), vs "
                           "rounded inputs %g (bound %g)\n",
                           what, t & 1, t >> 1, sh[0], sh[1], sh[2], (double)gemm_ab[a][0], (double)gemm_ab[a][1],
                           e, bound, er, gamma);
                if (e < 0.0) worst = (double)INFINITY;
                else if (e > worst) worst = e;
                if (e / bound > worst_ratio) worst_ratio = e / bound;
                if (er / gamma > worst_rnd_ratio) worst_rnd_ratio = er / gamma;
            }
    check(bad == 0 && worst > 1e-5,
          "gemm bf16 %s vs double: %d cases, max rel err %.2e (%.2f of each shape's bf16 bound, e.g. %.2e at K=1, "
          "%.2e at K=50000); vs the bf16-rounded inputs at most %.2f of the fp32 summation bound",
          what, ncase, worst, worst_ratio, (1.0 + u) * (1.0 + u) - 1.0 + 2.0 * u32 * (1.0 + u) * (1.0 + u),
          (1.0 + u) * (1.0 + u) - 1.0 + 50001.0 * u32 * (1.0 + u) * (1.0 + u), worst_rnd_ratio);
}

// gemm_round_bf16 against ref_bf16 on random values, ties (to even) and the special values.
static void gemm_check_round_bf16(void) {
    uint64_t rng = 5;
    int bad = 0, n = 0;
    for (int i = 0; i < 100000; i++, n++) {
        float x = (2.0f * random_f32(&rng) - 1.0f) * ldexpf(1.0f, (int)(random_u32(&rng) % 60) - 30);
        if (gemm_round_bf16(x) != ref_bf16(x)) bad++;
    }
    // ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 (rounds to 1, even), 1 + 3·2^-8 halfway
    // between 1 + 2^-7 and 1 + 2^-6 (rounds up, to even)
    float t1 = 1.0f + ldexpf(1.0f, -8), t2 = 1.0f + 3.0f * ldexpf(1.0f, -8);
    int ties = gemm_round_bf16(t1) == 1.0f && gemm_round_bf16(t2) == 1.0f + ldexpf(1.0f, -6) &&
               gemm_round_bf16(-t1) == -1.0f;
    int special = isnan(gemm_round_bf16(NAN)) && gemm_round_bf16(INFINITY) == INFINITY &&
                  gemm_round_bf16(FLT_MAX) == INFINITY && gemm_round_bf16(-0.0f) == 0.0f &&
                  signbit(gemm_round_bf16(-0.0f));
    check(bad == 0 && ties && special,
          "gemm_round_bf16: %d random values = the double-precision nearest-even reference (%d differ), ties to "
          "even, NaN, inf, FLT_MAX -> inf, -0",
          n, bad);
}

// Sets the OpenMP thread count (a no-op without OpenMP); returns the previous one.
static int gemm_threads(int n) {
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    omp_set_num_threads(n);
    return saved;
#else
    (void)n;
    return 1;
#endif
}

// Determinism: same bits on a repeat and with 1 vs 2 threads (rows of C are owned by one thread
// and every element sums its k blocks in the same order whatever the partition), fp32 and bf16.
static void gemm_check_determinism(void) {
    size_t M = 300, N = 200, K = 600;
    uint64_t rng = 7;
    float* A = malloc_check(M * K * sizeof(float));
    float* B = malloc_check(K * N * sizeof(float));
    float* C1 = malloc_check(M * N * sizeof(float));
    float* C2 = malloc_check(M * N * sizeof(float));
    float* C3 = malloc_check(M * N * sizeof(float));
    gemm_fill(A, M * K, &rng);
    gemm_fill(B, K * N, &rng);
    for (int p = 0; p < 2; p++) {
        GemmPrecision prec = p ? GEMM_BF16 : GEMM_FP32;
        int same_repeat = 1, same_threads = 1;
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            size_t lda = ta ? M : K, ldb = tb ? K : N;
            int saved = gemm_threads(2);
            gemm_prec(prec, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C1, N);
            gemm_prec(prec, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C2, N);
            gemm_threads(1);
            gemm_prec(prec, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C3, N);
            gemm_threads(saved);
            same_repeat &= memcmp(C1, C2, M * N * sizeof(float)) == 0;
            same_threads &= memcmp(C1, C3, M * N * sizeof(float)) == 0;
        }
        const char* name = gemm_kernel_name(gemm_kernel_resolve(GEMM_AUTO));
        check(same_repeat, "gemm %s%s: repeated call gives identical bits (300x200x600, all transpositions)", name,
              p ? " bf16" : "");
        check(same_threads, "gemm %s%s: 1 thread and 2 threads give identical bits", name, p ? " bf16" : "");
    }
    free(A);
    free(B);
    free(C1);
    free(C2);
    free(C3);
}

// The few-row SGEMM paths (B read in place, gemm.h "few rows") give the same bits as the packed
// path's rows of a taller product, for every kernel and transposition: what makes the cached
// decoding bit-identical to the full forward (tests/model.c). Their values are checked against the
// double reference above, whose shapes include M = 1.
static void gemm_check_few_rows(void) {
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

// The bf16 paths there are here: pairs in plain C (portable), rounded fp32 slivers (AVX2, and
// AVX-512 without AVX512-BF16), VDPBF16PS (AVX-512 with AVX512-BF16, otherwise SKIP).
static void gemm_check_bf16_paths(void) {
    gemm_check_round_bf16();
    gemm_check_bf16(GEMM_PORTABLE, "pairs (portable, vdpbf16ps's layout and order)");
    if (gemm_kernel_available(GEMM_AVX2)) gemm_check_bf16(GEMM_AVX2, "rounded fp32 slivers (avx2)");
    else skip("gemm bf16 on the avx2 kernel because this CPU lacks AVX2");
    if (!gemm_kernel_available(GEMM_AVX512)) {
        skip("gemm bf16 on the AVX-512 kernels (rounded, and vdpbf16ps) because this CPU lacks AVX-512");
    } else if (!gemm_bf16_native()) {
        gemm_check_bf16(GEMM_AVX512, "rounded fp32 slivers (avx512)");
        skip("gemm bf16 avx512-bf16 (vdpbf16ps) kernel because this CPU lacks AVX512-BF16 (cpuid 7.1 eax bit 5)");
    } else {
        gemm_check_bf16(GEMM_AVX512, "avx512-bf16 (vdpbf16ps)");
    }
}

void test_gemm(void) {
    const GemmKernel kernels[] = {GEMM_PORTABLE, GEMM_AVX2, GEMM_AVX512};
    for (size_t k = 0; k < 3; k++) gemm_check_kernel(kernels[k]);
    gemm_check_determinism();
    gemm_check_few_rows();
    gemm_check_bf16_paths();
}
