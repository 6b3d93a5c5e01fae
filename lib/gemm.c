// gemm.c: the SGEMM of gemm.h (design notes there).
#include "gemm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define GEMM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define GEMM_X86 0
#endif

#define GEMM_KC 256
#define GEMM_MC_MAX 224
#define GEMM_NC 3072
// 4 MiB: the packed B panel is read back while it is still in the shared L3 (a 28 MiB panel,
// written in full before any of it is read, came back from DRAM: the LM head's dinp, K = 50257,
// ran at 83 GFLOP/s instead of 100 on 2 threads here)
#define GEMM_B_FLOATS ((size_t)1 << 20)
#define GEMM_MR_MAX 14
// rows of B per packing unit (a divisor of GEMM_KC)
#define GEMM_PACK_KR 16
// floats past each thread's packed A block that the AVX2 packer's last 8-wide store may write
#define GEMM_PACK_SLACK 8
#define GEMM_NR_MAX 32

// A micro-kernel: C[0:MR, 0:NR] (row stride ldc) += a sliver (kc x MR) · b sliver (kc x NR), or
// = when load_c is 0. a and b are packed k-major (see the layout above).
typedef void (*GemmMicroKernel)(size_t kc, const float* a, const float* b, float* c, size_t ldc, int load_c);
// The same over kp bf16 pairs (gemm.h, "pairs"): a (kp x MR) and b (kp x NR) words.
typedef void (*GemmPairKernel)(size_t kp, const uint32_t* a, const uint32_t* b, float* c, size_t ldc, int load_c);

typedef struct {
    GemmMicroKernel fn; // fp32 slivers, or NULL
    GemmPairKernel pair; // bf16-pair slivers, or NULL
    size_t mr, nr;
} GemmKernelInfo;

// ---------------------------------------------------------------------------- bf16

// The 16 bits of the bfloat16 nearest x (ties to even), in the low half: round the float's bits
// at bit 16 (adding 0x7fff plus the kept part's lowest bit carries into the exponent exactly when
// rounding up), keeping NaNs NaN (quiet bit set).
static inline uint32_t gemm_bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

float gemm_round_bf16(float x) {
    uint32_t u = gemm_bf16_bits(x) << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

// bf16 pair word: lo (even k) in bits 0-15, hi (odd k) in 16-31
static inline uint32_t gemm_pair(float lo, float hi) { return gemm_bf16_bits(lo) | gemm_bf16_bits(hi) << 16; }
static inline float gemm_pair_lo(uint32_t w) {
    uint32_t u = w << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}
static inline float gemm_pair_hi(uint32_t w) {
    uint32_t u = w & 0xffff0000u;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

// x[0..n) rounded to bf16 in place (the rounded form's packed slivers).
static void gemm_round_bf16_buf(float* x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        u = (u & 0x7fffffffu) > 0x7f800000u ? u | 0x00400000u : (u + 0x7fffu + ((u >> 16) & 1u));
        u &= 0xffff0000u;
        memcpy(&x[i], &u, sizeof u);
    }
}

// ---------------------------------------------------------------------------- micro-kernels

#define GEMM_P_MR 4
#define GEMM_P_NR 16
// The portable tile's accumulators to C (added to what is there when load_c).
static void gemm_portable_store(float acc[GEMM_P_MR][GEMM_P_NR], float* c, size_t ldc, int load_c) {
    for (int i = 0; i < GEMM_P_MR; i++) {
        float* ci = c + (size_t)i * ldc;
        if (load_c)
            for (int j = 0; j < GEMM_P_NR; j++) ci[j] += acc[i][j];
        else
            for (int j = 0; j < GEMM_P_NR; j++) ci[j] = acc[i][j];
    }
}

static void gemm_kernel_portable(size_t kc, const float* a, const float* b, float* c, size_t ldc, int load_c) {
    float acc[GEMM_P_MR][GEMM_P_NR] = {{0}};
    for (size_t k = 0; k < kc; k++) {
        const float* bk = b + k * GEMM_P_NR;
        const float* ak = a + k * GEMM_P_MR;
        for (int i = 0; i < GEMM_P_MR; i++)
            for (int j = 0; j < GEMM_P_NR; j++) acc[i][j] += ak[i] * bk[j];
    }
    gemm_portable_store(acc, c, ldc, load_c);
}

// The pairs layout in plain C, in VDPBF16PS's order per pair (odd k, then even k, each product
// exact in fp32 and added with one rounding): the reference of the AVX512-BF16 kernel's path.
static void gemm_kernel_pairs_portable(size_t kp, const uint32_t* a, const uint32_t* b, float* c, size_t ldc,
                                       int load_c) {
    float acc[GEMM_P_MR][GEMM_P_NR] = {{0}};
    for (size_t p = 0; p < kp; p++) {
        const uint32_t* bp = b + p * GEMM_P_NR;
        const uint32_t* ap = a + p * GEMM_P_MR;
        for (int i = 0; i < GEMM_P_MR; i++) {
            float a0 = gemm_pair_lo(ap[i]), a1 = gemm_pair_hi(ap[i]);
            for (int j = 0; j < GEMM_P_NR; j++) {
                acc[i][j] += a1 * gemm_pair_hi(bp[j]);
                acc[i][j] += a0 * gemm_pair_lo(bp[j]);
            }
        }
    }
    gemm_portable_store(acc, c, ldc, load_c);
}

#if GEMM_X86
#define GEMM_A2_MR 6
#define GEMM_A2_NR 16
__attribute__((target("avx2,fma"))) static void gemm_kernel_avx2(size_t kc, const float* a, const float* b,
                                                                  float* c, size_t ldc, int load_c) {
    // C's rows are a whole row of the output apart (often pages): fetch the tile now, so that the
    // loads after the k loop do not wait on L3 or memory
    for (int i = 0; i < GEMM_A2_MR; i++) {
        _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char*)(c + i * ldc + 15), _MM_HINT_T0);
    }
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    // unrolled: the loop's own counter, pointer and branch work then no longer compete with the
    // 12 FMAs for dispatch slots (measured alone, L1-resident: 66-71 -> 79-85 GFLOP/s
    // on one core of the AVX2 development machine, an AMD EPYC of the Zen 3 class)
#pragma GCC unroll 4
    for (size_t k = 0; k < kc; k++) {
        _mm_prefetch((const char*)(a + 64), _MM_HINT_T0); // the A sliver streams from L2: ~10 k ahead
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), ai;
#define GEMM_A2_ROW(i)                                                                                       \
    ai = _mm256_broadcast_ss(a + i);                                                                         \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                                              \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);
        GEMM_A2_ROW(0) GEMM_A2_ROW(1) GEMM_A2_ROW(2) GEMM_A2_ROW(3) GEMM_A2_ROW(4) GEMM_A2_ROW(5)
#undef GEMM_A2_ROW
        a += GEMM_A2_MR;
        b += GEMM_A2_NR;
    }
#define GEMM_A2_STORE(i)                                                                                     \
    if (load_c) {                                                                                            \
        c##i##0 = _mm256_add_ps(_mm256_loadu_ps(c + i * ldc), c##i##0);                                      \
        c##i##1 = _mm256_add_ps(_mm256_loadu_ps(c + i * ldc + 8), c##i##1);                                  \
    }                                                                                                        \
    _mm256_storeu_ps(c + i * ldc, c##i##0);                                                                  \
    _mm256_storeu_ps(c + i * ldc + 8, c##i##1);
    GEMM_A2_STORE(0) GEMM_A2_STORE(1) GEMM_A2_STORE(2) GEMM_A2_STORE(3) GEMM_A2_STORE(4) GEMM_A2_STORE(5)
#undef GEMM_A2_STORE
}

#define GEMM_A5_MR 14
#define GEMM_A5_NR 32
// R(row name, row index) for each of the AVX-512 tile's 14 rows
#define GEMM_A5_EACH_ROW(R) R(0, 0) R(1, 1) R(2, 2) R(3, 3) R(4, 4) R(5, 5) R(6, 6) R(7, 7) R(8, 8) R(9, 9) \
    R(A, 10) R(B, 11) R(C, 12) R(D, 13)
// The tile's 28 accumulators c<row><half> (rows 0-9, A-D), zeroed, and their store to C (added to
// what is there when load_c): shared by the fp32 and the bf16-pair kernels.
#define GEMM_A5_ZERO_ROW(i, n) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define GEMM_A5_ZERO GEMM_A5_EACH_ROW(GEMM_A5_ZERO_ROW)
#define GEMM_A5_STORE(i, n)                                                                                  \
    if (load_c) {                                                                                            \
        c##i##0 = _mm512_add_ps(_mm512_loadu_ps(c + n * ldc), c##i##0);                                      \
        c##i##1 = _mm512_add_ps(_mm512_loadu_ps(c + n * ldc + 16), c##i##1);                                 \
    }                                                                                                        \
    _mm512_storeu_ps(c + n * ldc, c##i##0);                                                                  \
    _mm512_storeu_ps(c + n * ldc + 16, c##i##1);
#define GEMM_A5_STORE_ALL GEMM_A5_EACH_ROW(GEMM_A5_STORE)
__attribute__((target("avx512f"))) static void gemm_kernel_avx512(size_t kc, const float* a, const float* b,
                                                                   float* c, size_t ldc, int load_c) {
    GEMM_A5_ZERO
    for (size_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), ai;
#define GEMM_A5_ROW(i, n)                                                                                    \
    ai = _mm512_set1_ps(a[n]);                                                                               \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                                              \
    c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);
        GEMM_A5_EACH_ROW(GEMM_A5_ROW)
#undef GEMM_A5_ROW
        a += GEMM_A5_MR;
        b += GEMM_A5_NR;
    }
    GEMM_A5_STORE_ALL
}

// The AVX-512 tile (14 x 32) on bf16 pairs: per pair step 2 loads of B (16 columns x 2 k each),
// 14 broadcasts of an A pair, 28 VDPBF16PS (each 16 lanes x 2 multiply-adds: twice the fp32
// kernel's work per instruction). Written against the same packing and blocking as
// gemm_kernel_pairs_portable, which the tests run on any CPU; this one runs only where cpuid
// reports AVX512-BF16 (gemm_bf16_native).
#if defined(__GNUC__) && (defined(__clang__) ? __clang_major__ >= 9 : __GNUC__ >= 10)
#define GEMM_HAVE_BF16 1
__attribute__((target("avx512f,avx512bf16"))) static void gemm_kernel_pairs_avx512(size_t kp, const uint32_t* a,
                                                                                  const uint32_t* b, float* c,
                                                                                  size_t ldc, int load_c) {
    for (int i = 0; i < GEMM_A5_MR; i++) {
        _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char*)(c + i * ldc + 31), _MM_HINT_T0);
    }
    GEMM_A5_ZERO
    for (size_t p = 0; p < kp; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void*)b);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void*)(b + 16));
        __m512bh ai;
#define GEMM_B5_ROW(i, n)                                                                                    \
    ai = (__m512bh)_mm512_set1_epi32((int)a[n]);                                                             \
    c##i##0 = _mm512_dpbf16_ps(c##i##0, ai, b0);                                                             \
    c##i##1 = _mm512_dpbf16_ps(c##i##1, ai, b1);
        GEMM_A5_EACH_ROW(GEMM_B5_ROW)
#undef GEMM_B5_ROW
        a += GEMM_A5_MR;
        b += GEMM_A5_NR;
    }
    GEMM_A5_STORE_ALL
}
#endif
#undef GEMM_A5_ZERO
#undef GEMM_A5_ZERO_ROW
#undef GEMM_A5_STORE
#undef GEMM_A5_STORE_ALL
#undef GEMM_A5_EACH_ROW
#endif // GEMM_X86

#ifndef GEMM_HAVE_BF16
#define GEMM_HAVE_BF16 0
#endif

// ---------------------------------------------------------------------------- selection

int gemm_kernel_available(GemmKernel kernel) {
    switch (kernel) {
    case GEMM_AUTO:
    case GEMM_PORTABLE: return 1;
#if GEMM_X86
    case GEMM_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GEMM_AVX512: return __builtin_cpu_supports("avx512f");
#else
    case GEMM_AVX2:
    case GEMM_AVX512: return 0;
#endif
    }
    return 0;
}

const char* gemm_kernel_name(GemmKernel kernel) {
    switch (kernel) {
    case GEMM_AUTO: return "auto";
    case GEMM_PORTABLE: return "portable";
    case GEMM_AVX2: return "avx2";
    case GEMM_AVX512: return "avx512";
    }
    return "?";
}

GemmKernel gemm_kernel_resolve(GemmKernel kernel) {
    if (kernel == GEMM_AUTO) {
        const char* env = getenv("FORGETFUL_GEMM");
        if (env && strcmp(env, "portable") == 0) kernel = GEMM_PORTABLE;
        else if (env && strcmp(env, "avx2") == 0) kernel = GEMM_AVX2;
        else if (env && strcmp(env, "avx512") == 0) kernel = GEMM_AVX512;
        else if (gemm_kernel_available(GEMM_AVX512)) kernel = GEMM_AVX512;
        else if (gemm_kernel_available(GEMM_AVX2)) kernel = GEMM_AVX2;
        else kernel = GEMM_PORTABLE;
    }
    return gemm_kernel_available(kernel) ? kernel : GEMM_PORTABLE;
}

int gemm_bf16_native(void) {
#if GEMM_X86 && GEMM_HAVE_BF16
    unsigned eax, ebx, ecx, edx;
    // CPUID.(EAX=7, ECX=1):EAX bit 5 = AVX512_BF16 (the OS's AVX-512 state is what avx512f checks)
    return __builtin_cpu_supports("avx512f") && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax >> 5 & 1u);
#else
    return 0;
#endif
}

const char* gemm_bf16_path(GemmKernel kernel) {
    GemmKernel k = gemm_kernel_resolve(kernel);
    if (k == GEMM_AVX512 && gemm_bf16_native()) return "AVX512-BF16 (vdpbf16ps on bf16 pairs)";
    if (k == GEMM_PORTABLE) return "bf16 pairs in plain C (vdpbf16ps's order)";
    return "emulated: bf16-rounded inputs, fp32 FMA (this CPU has no AVX512-BF16)";
}

// The micro-kernel and tile of a kernel for inputs in prec: for GEMM_BF16 the pairs kernels where
// there is one (portable always, AVX-512 with AVX512-BF16), else the fp32 one on rounded slivers.
static GemmKernelInfo gemm_kernel_info(GemmKernel kernel, GemmPrecision prec) {
    int pairs = prec == GEMM_BF16;
    GemmKernelInfo info = {pairs ? NULL : gemm_kernel_portable, pairs ? gemm_kernel_pairs_portable : NULL, GEMM_P_MR,
                           GEMM_P_NR};
#if GEMM_X86
    if (kernel == GEMM_AVX512) info = (GemmKernelInfo){gemm_kernel_avx512, NULL, GEMM_A5_MR, GEMM_A5_NR};
#if GEMM_HAVE_BF16
    if (kernel == GEMM_AVX512 && pairs && gemm_bf16_native())
        info = (GemmKernelInfo){NULL, gemm_kernel_pairs_avx512, GEMM_A5_MR, GEMM_A5_NR};
#endif
    if (kernel == GEMM_AVX2) info = (GemmKernelInfo){gemm_kernel_avx2, NULL, GEMM_A2_MR, GEMM_A2_NR};
#endif
    return info;
}

// ---------------------------------------------------------------------------- packing

#if GEMM_X86
// Transposes the 16 x 16 block r[i] lane l -> r[l] lane i in registers (unpack, shuffle, two
// 128-bit lane shuffles).
__attribute__((target("avx512f"))) static inline void gemm_tr16_regs(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // r[4q + m] lane l now holds rows 4q..4q+3 at column 4l + m
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);          // cols m, m+8 of rows 0-7
        t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);      // cols m+4, m+12 of rows 0-7
        t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88); // cols m, m+8 of rows 8-15
        t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
    }
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++) {
        r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);     // column m
        r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd); // column m + 8
    }
}

// Transposing copy for packing: d[k*dstride + i] = src[i*sstride + k] for i < rows and k < kc;
// lanes rows <= i < width (wmask = the low `width` bits) get zeros, lanes past width are left
// alone. Works on 16 x 16 blocks transposed in registers (unpack, shuffle, two 128-bit lane
// shuffles), so a strided gather becomes 16 contiguous loads and 16 contiguous stores.
__attribute__((target("avx512f"))) static void gemm_transpose16_avx512(float* d, size_t dstride, unsigned wmask,
                                                                        const float* src, size_t sstride,
                                                                        size_t rows, size_t kc) {
    for (size_t k0 = 0; k0 < kc; k0 += 16) {
        size_t kn = kc - k0 < 16 ? kc - k0 : 16;
        __mmask16 lm = (__mmask16)(kn == 16 ? 0xFFFFu : (1u << kn) - 1u);
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            r[i] = (size_t)i < rows ? _mm512_maskz_loadu_ps(lm, src + (size_t)i * sstride + k0) : _mm512_setzero_ps();
        gemm_tr16_regs(r);
        if (kn == 16) {
#pragma GCC unroll 16
            for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(d + (k0 + (size_t)c) * dstride, (__mmask16)wmask, r[c]);
        } else {
            for (size_t c = 0; c < kn; c++) _mm512_mask_storeu_ps(d + (k0 + c) * dstride, (__mmask16)wmask, r[c]);
        }
    }
}
#endif

#if GEMM_X86
// d[k*mr + i] = alpha * src[k*sstride + i] for i < rows, 0 for rows <= i < mr (mr <= 16), k < kc:
// one masked 16-lane load, multiply and store per k (the sliver of an A read transposed).
__attribute__((target("avx512f"))) static void gemm_pack_rows_avx512(float* d, size_t mr, const float* src,
                                                                      size_t sstride, size_t rows, size_t kc,
                                                                      float alpha) {
    __mmask16 lm = (__mmask16)((1u << rows) - 1u), sm = (__mmask16)((1u << mr) - 1u);
    __m512 av = _mm512_set1_ps(alpha);
    for (size_t k = 0; k < kc; k++)
        _mm512_mask_storeu_ps(d + k * mr, sm, _mm512_mul_ps(av, _mm512_maskz_loadu_ps(lm, src + k * sstride)));
}
#endif

#if GEMM_X86
// Transposes the 8 x 8 block r[i] lane l -> r[l] lane i in registers (unpack, shuffle, 128-bit
// lane permute).
__attribute__((target("avx2"))) static inline void gemm_tr8_regs(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // r[4q + m] holds columns m (low 128 bits) and m + 4 (high) of rows 4q..4q+3
    for (int m = 0; m < 4; m++) {
        t[m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x20);
        t[4 + m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x31);
    }
    for (int m = 0; m < 8; m++) r[m] = t[m];
}

// Transposing copy for the AVX2 packers: d[k*dstride + i] = alpha * src[i*sstride + k] for
// i < rows (<= 8) and k < kc, lanes rows <= i < 8 zero. Each 8 x 8 block is 8 loads (rows past
// `rows` are zero registers), a transpose in registers and 8 stores of 8 floats at increasing k.
// With dstride < 8 (the A slivers, mr = 6) a store runs into the next k's slot, which the next
// store then overwrites; the last one runs up to 8 - dstride floats past this sliver, into the
// next sliver (packed after it) or the buffer's slack (GEMM_PACK_SLACK). Tail k columns scalar.
__attribute__((target("avx2"))) static void gemm_transpose8_avx2(float* d, size_t dstride, const float* src,
                                                                 size_t sstride, size_t rows, size_t kc,
                                                                 float alpha) {
    __m256 av = _mm256_set1_ps(alpha);
    size_t k0 = 0;
    for (; k0 + 8 <= kc; k0 += 8) {
        __m256 r[8];
        for (size_t i = 0; i < 8; i++)
            r[i] = i < rows ? _mm256_mul_ps(av, _mm256_loadu_ps(src + i * sstride + k0)) : _mm256_setzero_ps();
        gemm_tr8_regs(r);
        for (size_t c = 0; c < 8; c++) _mm256_storeu_ps(d + (k0 + c) * dstride, r[c]);
    }
    for (; k0 < kc; k0++)
        for (size_t i = 0; i < dstride && i < 8; i++) d[k0 * dstride + i] = i < rows ? alpha * src[i * sstride + k0] : 0.0f;
}
#endif

// Packs alpha * op(A)[i0:i0+mc, p0:p0+kc] into MR-tall k-major slivers (rows past mc zeroed).
static void gemm_pack_a(float* dst, int transA, const float* A, size_t lda, size_t i0, size_t p0, size_t mc,
                        size_t kc, size_t mr, float alpha, GemmKernel kern) {
    int fast = GEMM_X86 && kern == GEMM_AVX512 && mr <= 16;
    if (transA && !fast) {
        // op(A)[i][k] = A[k][i]: row k of A holds element k of every sliver's rows. Reading each
        // row once front to back, for all slivers, lets the hardware prefetcher follow; sliver by
        // sliver, each k was a few floats of a different row a whole row of A apart (often a page),
        // and most of those loads missed
        for (size_t k = 0; k < kc; k++) {
            const float* src = A + (p0 + k) * lda + i0;
            size_t s = 0;
            if (mr == 6) // the AVX2 slivers: fixed-size copies
                for (; s + 6 <= mc; s += 6) {
                    float* dk = dst + s * kc + k * 6;
                    for (size_t i = 0; i < 6; i++) dk[i] = alpha * src[s + i];
                }
            for (; s < mc; s += mr) {
                size_t rows = mc - s < mr ? mc - s : mr;
                float* dk = dst + s * kc + k * mr; // sliver s/mr starts at (s/mr) * mr * kc
                size_t i = 0;
                for (; i < rows; i++) dk[i] = alpha * src[s + i];
                for (; i < mr; i++) dk[i] = 0.0f;
            }
        }
        return;
    }
    for (size_t s = 0; s < mc; s += mr) {
        size_t rows = mc - s < mr ? mc - s : mr;
        float* d = dst + s * kc;
#if GEMM_X86
        if (fast && transA) {
            // op(A)[i][k] = A[k][i]: for each k the sliver's rows are contiguous in A
            gemm_pack_rows_avx512(d, mr, A + p0 * lda + i0 + s, lda, rows, kc, alpha);
            continue;
        }
        if (fast) {
            gemm_transpose16_avx512(d, mr, (1u << mr) - 1u, A + (i0 + s) * lda + p0, lda, rows, kc);
            if (alpha != 1.0f)
                for (size_t k = 0; k < kc * mr; k++) d[k] *= alpha;
            continue;
        }
        if (kern == GEMM_AVX2 && mr <= 8) {
            gemm_transpose8_avx2(d, mr, A + (i0 + s) * lda + p0, lda, rows, kc, alpha);
            continue;
        }
#endif
        // op(A)[i][k] = A[i][k]: read each row contiguously, write with stride mr
        for (size_t i = 0; i < rows; i++) {
            const float* src = A + (i0 + s + i) * lda + p0;
            for (size_t k = 0; k < kc; k++) d[k * mr + i] = alpha * src[k];
        }
        for (size_t i = rows; i < mr; i++)
            for (size_t k = 0; k < kc; k++) d[k * mr + i] = 0.0f;
    }
}

// Packs rows k0..k1 of op(B)[p0:p0+kc, j0:j0+nc] for B not transposed into every NR-wide sliver
// (columns past nc zeroed). Each row of B is read once, front to back, which the hardware
// prefetcher follows; packed sliver by sliver instead, a sliver's kc rows were 64 bytes each a
// whole row of B apart (often a page), every one a miss: 29% of a dW product's time (K = 2048).
static void gemm_pack_b_rows(float* dst, const float* B, size_t ldb, size_t p0, size_t j0, size_t nc, size_t kc,
                             size_t nr, size_t k0, size_t k1, int round) {
    for (size_t k = k0; k < k1; k++) {
        const float* src = B + (p0 + k) * ldb + j0;
        for (size_t js = 0; js < nc; js += nr) {
            size_t cols = nc - js < nr ? nc - js : nr;
            float* dk = dst + js * kc + k * nr;
            size_t j = 0;
            if (cols == 16 && nr == 16) { // the AVX2 and portable slivers: a fixed-size copy
                memcpy(dk, src + js, 16 * sizeof(float));
            } else {
                for (; j < cols; j++) dk[j] = src[js + j];
                for (; j < nr; j++) dk[j] = 0.0f;
            }
            if (round) gemm_round_bf16_buf(dk, nr);
        }
    }
}

// Packs NR-wide sliver number s of op(B)[p0:p0+kc, j0:j0+nc] = Bᵀ (columns past nc zeroed): the
// sliver's columns are rows of B, each read front to back.
static void gemm_pack_bt_sliver(float* dst, const float* B, size_t ldb, size_t p0, size_t j0, size_t nc, size_t kc,
                                size_t nr, size_t s, GemmKernel kern) {
    size_t js = s * nr;
    size_t cols = nc - js < nr ? nc - js : nr;
    float* d = dst + js * kc;
#if GEMM_X86
    if (kern == GEMM_AVX512 && nr % 16 == 0) {
        for (size_t h = 0; h < nr; h += 16) {
            size_t rows = cols > h ? (cols - h < 16 ? cols - h : 16) : 0;
            gemm_transpose16_avx512(d + h, nr, 0xFFFFu, B + (j0 + js + h) * ldb + p0, ldb, rows, kc);
        }
        return;
    }
    if (kern == GEMM_AVX2 && nr % 8 == 0) {
        for (size_t h = 0; h < nr; h += 8) {
            size_t rows = cols > h ? (cols - h < 8 ? cols - h : 8) : 0;
            gemm_transpose8_avx2(d + h, nr, B + (j0 + js + h) * ldb + p0, ldb, rows, kc, 1.0f);
        }
        return;
    }
#else
    (void)kern;
#endif
    // op(B)[k][j] = B[j][k]: write with stride nr
    for (size_t j = 0; j < cols; j++) {
        const float* src = B + (j0 + js + j) * ldb + p0;
        for (size_t k = 0; k < kc; k++) d[k * nr + j] = src[k];
    }
    for (size_t j = cols; j < nr; j++)
        for (size_t k = 0; k < kc; k++) d[k * nr + j] = 0.0f;
}

// Packs alpha * op(A)[i0:i0+mc, p0:p0+kc] as bf16 pairs (gemm.h, "pairs"): sliver s/mr at
// s * kp words, kp = ceil(kc / 2), word p*mr + i = (k = 2p, 2p + 1) of row i; rows past mc and a
// k past kc are zero. op(A) = Aᵀ is read along A's rows (two per pair), op(A) = A along its own.
static void gemm_pack_a_pairs(uint32_t* dst, int transA, const float* A, size_t lda, size_t i0, size_t p0, size_t mc,
                              size_t kc, size_t mr, float alpha) {
    size_t kp = (kc + 1) / 2;
    for (size_t s = 0; s < mc; s += mr) {
        size_t rows = mc - s < mr ? mc - s : mr;
        uint32_t* d = dst + s * kp;
        for (size_t i = 0; i < mr; i++) {
            if (i >= rows) {
                for (size_t p = 0; p < kp; p++) d[p * mr + i] = 0;
                continue;
            }
            const float* src = transA ? A + p0 * lda + i0 + s + i : A + (i0 + s + i) * lda + p0;
            size_t step = transA ? lda : 1; // between consecutive k
            for (size_t p = 0; p < kp; p++) {
                float x1 = 2 * p + 1 < kc ? alpha * src[(2 * p + 1) * step] : 0.0f;
                d[p * mr + i] = gemm_pair(alpha * src[2 * p * step], x1);
            }
        }
    }
}

// Packs pair rows q0..q1 of op(B)[p0:p0+kc, j0:j0+nc] = B into every NR-wide sliver as bf16 pairs
// (sliver js at js * kp words, word q*nr + j = (B[2q][j], B[2q+1][j]); columns past nc and a k past
// kc zero): B's rows are read front to back, two at a time.
static void gemm_pack_b_pairs_rows(uint32_t* dst, const float* B, size_t ldb, size_t p0, size_t j0, size_t nc,
                                   size_t kc, size_t nr, size_t q0, size_t q1) {
    size_t kp = (kc + 1) / 2;
    for (size_t q = q0; q < q1; q++) {
        const float* r0 = B + (p0 + 2 * q) * ldb + j0;
        const float* r1 = 2 * q + 1 < kc ? r0 + ldb : NULL;
        for (size_t js = 0; js < nc; js += nr) {
            size_t cols = nc - js < nr ? nc - js : nr;
            uint32_t* d = dst + js * kp + q * nr;
            size_t j = 0;
            for (; j < cols; j++) d[j] = gemm_pair(r0[js + j], r1 ? r1[js + j] : 0.0f);
            for (; j < nr; j++) d[j] = 0;
        }
    }
}

// Packs NR-wide sliver s of op(B)[p0:p0+kc, j0:j0+nc] = Bᵀ as bf16 pairs: its columns are rows of
// B, each read front to back.
static void gemm_pack_bt_pairs_sliver(uint32_t* dst, const float* B, size_t ldb, size_t p0, size_t j0, size_t nc,
                                      size_t kc, size_t nr, size_t s) {
    size_t kp = (kc + 1) / 2, js = s * nr;
    size_t cols = nc - js < nr ? nc - js : nr;
    uint32_t* d = dst + js * kp;
    for (size_t j = 0; j < nr; j++) {
        const float* src = B + (j0 + js + j) * ldb + p0;
        for (size_t q = 0; q < kp; q++)
            d[q * nr + j] = j < cols ? gemm_pair(src[2 * q], 2 * q + 1 < kc ? src[2 * q + 1] : 0.0f) : 0;
    }
}

// ---------------------------------------------------------------------------- few rows, B in place

#if GEMM_X86
// C (M,N) (+)= alpha op(A) · B for a handful of rows (M <= GEMM_SMALL_M) and B not transposed, the
// products of decoding one token: packing B (the whole weight matrix, for one row of A) would
// cost more than the product, so B is read in place, row k of B contiguous for every k. The
// arithmetic per element is the packed path's exactly: per KC block a zeroed accumulator takes
// fma(alpha·a_ik, b_kj) for k in order, then C = acc (first block, overwrite) or C + acc; the
// AVX-512 micro-kernel does the same per lane, so the two paths give the same bits.
// Threads split the 64-column tiles (each owns its columns of C).
//
// Each function below computes one column tile jt; gemm_small_m runs the tiles on the threads
// (the OpenMP loop lives outside the target-specific functions: clang does not carry a target
// attribute into the loop body it outlines).
#define GEMM_SMALL_M 4
#define GEMM_SMALL_NT 64
typedef struct {
    int transA, overwrite;
    size_t M, N, K, lda, ldb, ldc;
    float alpha;
    const float *A, *B;
    float* C;
} GemmSmall;
typedef void (*GemmSmallTile)(const GemmSmall* g, size_t jt);

static void gemm_small_m(GemmSmallTile tile, size_t ntiles, const GemmSmall* g, int nthreads) {
    (void)nthreads;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
    for (size_t jt = 0; jt < ntiles; jt++) tile(g, jt);
}

__attribute__((target("avx512f"))) static void gemm_small_m_avx512(const GemmSmall* g, size_t jt) {
    int transA = g->transA, overwrite = g->overwrite;
    size_t M = g->M, N = g->N, K = g->K, lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    float alpha = g->alpha;
    const float *A = g->A, *B = g->B;
    float* C = g->C;
    {
        size_t j0 = jt * GEMM_SMALL_NT, n = N - j0 < GEMM_SMALL_NT ? N - j0 : GEMM_SMALL_NT;
        __mmask16 mk[4];
        for (size_t q = 0; q < 4; q++) {
            size_t lanes = n > 16 * q ? (n - 16 * q < 16 ? n - 16 * q : 16) : 0;
            mk[q] = (__mmask16)((1u << lanes) - 1u);
        }
        for (size_t pc = 0; pc < K; pc += GEMM_KC) {
            size_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            for (size_t i = 0; i < M; i++) {
                __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
                __m512 c2 = _mm512_setzero_ps(), c3 = _mm512_setzero_ps();
                const float* b = B + pc * ldb + j0;
                for (size_t k = 0; k < kc; k++, b += ldb) {
                    float a = transA ? A[(pc + k) * lda + i] : A[i * lda + pc + k];
                    __m512 av = _mm512_set1_ps(alpha * a);
                    c0 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk[0], b), c0);
                    c1 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk[1], b + 16), c1);
                    c2 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk[2], b + 32), c2);
                    c3 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk[3], b + 48), c3);
                }
                float* c = C + i * ldc + j0;
                if (!(overwrite && pc == 0)) {
                    c0 = _mm512_add_ps(_mm512_maskz_loadu_ps(mk[0], c), c0);
                    c1 = _mm512_add_ps(_mm512_maskz_loadu_ps(mk[1], c + 16), c1);
                    c2 = _mm512_add_ps(_mm512_maskz_loadu_ps(mk[2], c + 32), c2);
                    c3 = _mm512_add_ps(_mm512_maskz_loadu_ps(mk[3], c + 48), c3);
                }
                _mm512_mask_storeu_ps(c, mk[0], c0);
                _mm512_mask_storeu_ps(c + 16, mk[1], c1);
                _mm512_mask_storeu_ps(c + 32, mk[2], c2);
                _mm512_mask_storeu_ps(c + 48, mk[3], c3);
            }
        }
    }
}

// C (M,N) (+)= alpha op(A) · Bᵀ for a handful of rows with B (N,K) read in place (the tied LM
// head and attention scores of one decoded token). Sixteen rows of B at a time are loaded 16 k
// values wide and transposed in registers, so lane j of r[c] holds B[j0 + j][k0 + c], and each
// lane then sums exactly as the packed path's micro-kernel does (zeroed accumulator per KC block,
// fma over k in order, then C = acc or C + acc): the same bits.
__attribute__((target("avx512f"))) static void gemm_small_m_bt_avx512(const GemmSmall* g, size_t jt) {
    int transA = g->transA, overwrite = g->overwrite;
    size_t M = g->M, N = g->N, K = g->K, lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    float alpha = g->alpha;
    const float *A = g->A, *B = g->B;
    float* C = g->C;
    {
        size_t j0 = jt * 16, rows = N - j0 < 16 ? N - j0 : 16;
        __mmask16 cm = (__mmask16)(rows == 16 ? 0xFFFFu : (1u << rows) - 1u);
        for (size_t pc = 0; pc < K; pc += GEMM_KC) {
            size_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            __m512 acc[GEMM_SMALL_M];
            for (size_t i = 0; i < M; i++) acc[i] = _mm512_setzero_ps();
            for (size_t k0 = 0; k0 < kc; k0 += 16) {
                size_t kn = kc - k0 < 16 ? kc - k0 : 16;
                __mmask16 lm = (__mmask16)(kn == 16 ? 0xFFFFu : (1u << kn) - 1u);
                __m512 r[16];
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++)
                    r[j] = (size_t)j < rows ? _mm512_maskz_loadu_ps(lm, B + (j0 + (size_t)j) * ldb + pc + k0)
                                            : _mm512_setzero_ps();
                gemm_tr16_regs(r);
                for (size_t c = 0; c < kn; c++) {
                    size_t k = pc + k0 + c;
                    for (size_t i = 0; i < M; i++) {
                        float a = transA ? A[k * lda + i] : A[i * lda + k];
                        acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(alpha * a), r[c], acc[i]);
                    }
                }
            }
            for (size_t i = 0; i < M; i++) {
                float* c = C + i * ldc + j0;
                __m512 x = acc[i];
                if (!(overwrite && pc == 0)) x = _mm512_add_ps(_mm512_maskz_loadu_ps(cm, c), x);
                _mm512_mask_storeu_ps(c, cm, x);
            }
        }
    }
}

// The AVX2 twin of gemm_small_m_avx512 (8 lanes, the AVX2 micro-kernel's arithmetic).
__attribute__((target("avx2,fma"))) static void gemm_small_m_avx2(const GemmSmall* g, size_t jt) {
    int transA = g->transA, overwrite = g->overwrite;
    size_t M = g->M, N = g->N, K = g->K, lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    float alpha = g->alpha;
    const float *A = g->A, *B = g->B;
    float* C = g->C;
    {
        size_t j0 = jt * GEMM_SMALL_NT, n = N - j0 < GEMM_SMALL_NT ? N - j0 : GEMM_SMALL_NT;
        __m256i mk[8];
        for (int q = 0; q < 8; q++) {
            int lanes = n > 8 * (size_t)q ? (n - 8 * (size_t)q < 8 ? (int)(n - 8 * (size_t)q) : 8) : 0;
            mk[q] = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        }
        for (size_t pc = 0; pc < K; pc += GEMM_KC) {
            size_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            for (size_t i = 0; i < M; i++) {
                __m256 acc[8];
                for (int q = 0; q < 8; q++) acc[q] = _mm256_setzero_ps();
                const float* b = B + pc * ldb + j0;
                for (size_t k = 0; k < kc; k++, b += ldb) {
                    float a = transA ? A[(pc + k) * lda + i] : A[i * lda + pc + k];
                    __m256 av = _mm256_set1_ps(alpha * a);
#pragma GCC unroll 8
                    for (int q = 0; q < 8; q++)
                        acc[q] = _mm256_fmadd_ps(av, _mm256_maskload_ps(b + 8 * q, mk[q]), acc[q]);
                }
                float* c = C + i * ldc + j0;
#pragma GCC unroll 8
                for (int q = 0; q < 8; q++) {
                    __m256 r = acc[q];
                    if (!(overwrite && pc == 0)) r = _mm256_add_ps(_mm256_maskload_ps(c + 8 * q, mk[q]), r);
                    _mm256_maskstore_ps(c + 8 * q, mk[q], r);
                }
            }
        }
    }
}
#endif

// ---------------------------------------------------------------------------- driver

// C = beta * C over (M,N) (beta == 0 writes zeros so that NaN in C does not survive).
static void gemm_scale_c(float* C, size_t ldc, size_t M, size_t N, float beta) {
#pragma omp parallel for schedule(static) if (M * N > 65536)
    for (size_t i = 0; i < M; i++) {
        float* ci = C + i * ldc;
        if (beta == 0.0f) memset(ci, 0, N * sizeof(float));
        else
            for (size_t j = 0; j < N; j++) ci[j] *= beta;
    }
}

// One micro-kernel call on a tile: depth k steps (fp32) or pairs (bf16) of the packed slivers.
static inline void gemm_tile(const GemmKernelInfo* ki, size_t depth, const float* a, const float* b, float* c,
                             size_t ldc, int load_c) {
    if (ki->pair) ki->pair(depth, (const uint32_t*)(const void*)a, (const uint32_t*)(const void*)b, c, ldc, load_c);
    else ki->fn(depth, a, b, c, ldc, load_c);
}

// Runs the macro-kernel on one packed A block (mc rows) against the packed B panel (nc columns),
// both depth words per row or column (kc floats, or ceil(kc/2) bf16 pairs):
// C[0:mc, 0:nc] (+)= Apack · Bpack.
static void gemm_macro(const GemmKernelInfo* ki, size_t mc, size_t nc, size_t depth, const float* ap,
                       const float* bp, float* C, size_t ldc, int load_c) {
    size_t mr = ki->mr, nr = ki->nr;
    float tile[GEMM_MR_MAX * GEMM_NR_MAX];
    for (size_t jr = 0; jr < nc; jr += nr) {
        size_t n = nc - jr < nr ? nc - jr : nr;
        const float* b = bp + jr * depth;
        for (size_t ir = 0; ir < mc; ir += mr) {
            size_t m = mc - ir < mr ? mc - ir : mr;
            const float* a = ap + ir * depth;
            float* c = C + ir * ldc + jr;
            if (m == mr && n == nr) {
                gemm_tile(ki, depth, a, b, c, ldc, load_c);
            } else {
                // edge tile: compute the full tile locally, add the valid part
                gemm_tile(ki, depth, a, b, tile, nr, 0);
                for (size_t i = 0; i < m; i++)
                    for (size_t j = 0; j < n; j++)
                        c[i * ldc + j] = load_c ? c[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];
            }
        }
    }
}

// One product's plan, shared by its threads (gemm_ex fills it): the operands, the kernel, the
// blocking and the packing buffers.
typedef struct {
    GemmKernelInfo ki;
    GemmKernel kern;
    int pairs;       // 1: bf16-pair slivers (ki.pair); 0: fp32 slivers (ki.fn)
    int round;       // 1: fp32 slivers rounded to bf16 (GEMM_BF16 without a pairs kernel)
    int transA, transB, overwrite;
    size_t M, N, K, lda, ldb, ldc;
    float alpha;
    const float *A, *B;
    float* C;
    size_t mc, nbm; // A row block and their count
    size_t kp;      // k rows per B panel (a multiple of GEMM_KC, or K)
    size_t nc_pad;  // padded columns of a panel
    float *bpack, *apack;
    size_t a_stride; // floats per thread in apack
} GemmPlan;

// Words per row of a packed sliver for kc k values.
static inline size_t gemm_depth(const GemmPlan* g, size_t kc) { return g->pairs ? (kc + 1) / 2 : kc; }

// Packs unit u of slab pc (kc rows) of the B panel at (p0, jc, nc): op(B) = B, GEMM_PACK_KR rows of
// the slab across all its slivers; op(B) = Bᵀ, one sliver (its columns are rows of B, read front to
// back). Slab pc starts depth(pc) * nc_pad words into the panel.
static void gemm_pack_b_unit(const GemmPlan* g, size_t p0, size_t jc, size_t nc, size_t pc, size_t kc, size_t u) {
    float* slab = g->bpack + gemm_depth(g, pc) * g->nc_pad;
    size_t nr = g->ki.nr, r0 = u * GEMM_PACK_KR, r1 = r0 + GEMM_PACK_KR < kc ? r0 + GEMM_PACK_KR : kc;
    if (g->transB && g->pairs) {
        gemm_pack_bt_pairs_sliver((uint32_t*)(void*)slab, g->B, g->ldb, p0 + pc, jc, nc, kc, nr, u);
    } else if (g->transB) {
        gemm_pack_bt_sliver(slab, g->B, g->ldb, p0 + pc, jc, nc, kc, nr, u, g->kern);
        if (g->round) gemm_round_bf16_buf(slab + u * nr * kc, nr * kc);
    } else if (r0 < kc && g->pairs) {
        gemm_pack_b_pairs_rows((uint32_t*)(void*)slab, g->B, g->ldb, p0 + pc, jc, nc, kc, nr, r0 / 2, (r1 + 1) / 2);
    } else if (r0 < kc) {
        gemm_pack_b_rows(slab, g->B, g->ldb, p0 + pc, jc, nc, kc, nr, r0, r1, g->round);
    }
}

// The product's threads: for each panel of B (columns jc.., k rows p0..), pack it together, then
// take (row block, column chunk) tasks one at a time, each packing its A block into ap.
static void gemm_run(const GemmPlan* g, float* ap) {
    size_t nr = g->ki.nr, mr = g->ki.mr;
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_get_num_threads();
#endif
    for (size_t jc = 0; jc < g->N; jc += GEMM_NC) {
        size_t nc = g->N - jc < GEMM_NC ? g->N - jc : GEMM_NC;
        size_t nslivers = (nc + nr - 1) / nr;
        // tasks: row block x column chunk of the panel, about 4 per thread, so that a thread
        // slowed down by other processes on its core does not hold everyone up; a column chunk
        // stays >= 128 wide to amortise packing its A block
        size_t want = 4 * (size_t)nthreads;
        size_t nbn = g->nbm >= want ? 1 : (want + g->nbm - 1) / g->nbm;
        size_t nch = (nslivers + nbn - 1) / nbn * nr;
        if (nch < 128) nch = 128 / nr * nr;
        nbn = (nc + nch - 1) / nch;
        for (size_t p0 = 0; p0 < g->K; p0 += g->kp) {
            size_t kl = g->K - p0 < g->kp ? g->K - p0 : g->kp;
            size_t npc = (kl + GEMM_KC - 1) / GEMM_KC;
            size_t per_slab = g->transB ? nslivers : GEMM_KC / GEMM_PACK_KR;
#pragma omp for schedule(static)
            for (size_t idx = 0; idx < npc * per_slab; idx++) {
                size_t pc = idx / per_slab * GEMM_KC;
                gemm_pack_b_unit(g, p0, jc, nc, pc, kl - pc < GEMM_KC ? kl - pc : GEMM_KC, idx % per_slab);
            }
            // (implicit barrier: the panel is complete before anyone reads it)
#pragma omp for schedule(dynamic, 1)
            for (size_t task = 0; task < g->nbm * nbn; task++) {
                size_t ib = task / nbn, jb = task % nbn;
                size_t ic = ib * g->mc, m = g->M - ic < g->mc ? g->M - ic : g->mc;
                size_t j0 = jb * nch, n = nc - j0 < nch ? nc - j0 : nch;
                for (size_t pc = 0; pc < kl; pc += GEMM_KC) {
                    size_t kc = kl - pc < GEMM_KC ? kl - pc : GEMM_KC, depth = gemm_depth(g, kc);
                    if (g->pairs) {
                        gemm_pack_a_pairs((uint32_t*)(void*)ap, g->transA, g->A, g->lda, ic, p0 + pc, m, kc, mr,
                                          g->alpha);
                    } else {
                        gemm_pack_a(ap, g->transA, g->A, g->lda, ic, p0 + pc, m, kc, mr, g->alpha, g->kern);
                        if (g->round) gemm_round_bf16_buf(ap, (m + mr - 1) / mr * mr * kc);
                    }
                    gemm_macro(&g->ki, m, n, depth, ap, g->bpack + gemm_depth(g, pc) * g->nc_pad + j0 * depth,
                               g->C + ic * g->ldc + jc + j0, g->ldc, !(g->overwrite && p0 + pc == 0));
                }
            }
            // (implicit barrier: nobody repacks B while it is being read)
        }
    }
}

void gemm_ex(GemmKernel kernel, GemmPrecision prec, int transA, int transB, size_t M, size_t N, size_t K,
             float alpha, const float* A, size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == 0.0f) {
        if (beta != 1.0f) gemm_scale_c(C, ldc, M, N, beta);
        return;
    }
    // beta == 0: the first k block overwrites C; beta == 1: accumulate; otherwise scale first
    int overwrite = beta == 0.0f;
    if (!overwrite && beta != 1.0f) gemm_scale_c(C, ldc, M, N, beta);

    GemmKernel resolved = gemm_kernel_resolve(kernel);
    GemmPlan g = {gemm_kernel_info(resolved, prec), resolved, 0, 0, transA, transB, overwrite, M, N, K, lda, ldb,
                  ldc, alpha, A, B, C, 0, 0, 0, 0, NULL, NULL, 0};
    g.pairs = g.ki.pair != NULL;
    g.round = prec == GEMM_BF16 && !g.pairs;
    size_t mr = g.ki.mr, nr = g.ki.nr;
    // inside a parallel region (e.g. attention's loop over heads) the product runs on the calling
    // thread alone, without opening a nested team
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
#endif
    // a small product (under ~2 MFLOP, some microseconds) is not worth waking other threads
    if ((double)M * (double)N * (double)K < 1048576.0) nthreads = 1;
#if GEMM_X86
    // (the few-row paths read B in place, unrounded: fp32 only)
    GemmSmall few = {transA, overwrite, M, N, K, lda, ldb, ldc, alpha, A, B, C};
    size_t tiles64 = (N + GEMM_SMALL_NT - 1) / GEMM_SMALL_NT, tiles16 = (N + 15) / 16;
    GemmSmallTile tile = NULL;
    if (M <= GEMM_SMALL_M && prec == GEMM_FP32 && resolved == GEMM_AVX512)
        tile = transB ? gemm_small_m_bt_avx512 : gemm_small_m_avx512;
    if (M <= GEMM_SMALL_M && prec == GEMM_FP32 && resolved == GEMM_AVX2 && !transB) tile = gemm_small_m_avx2;
    if (tile) {
        gemm_small_m(tile, tile == gemm_small_m_bt_avx512 ? tiles16 : tiles64, &few, nthreads);
        return;
    }
#endif
    // MC: as large as GEMM_MC_MAX allows, then evened out over the row blocks (a multiple of mr)
    g.nbm = (M + GEMM_MC_MAX - 1) / GEMM_MC_MAX;
    g.mc = (M + g.nbm - 1) / g.nbm;
    g.mc = (g.mc + mr - 1) / mr * mr;
    g.nbm = (M + g.mc - 1) / g.mc;

    // B panels hold a long run of K (every kc slab of nc columns, up to KP rows) so that the
    // threads meet at a barrier twice per panel rather than twice per kc block. The panel stays
    // within GEMM_B_FLOATS (4 MiB): NC = 3072 columns keep KP = 256 rows; a narrower N gets a
    // longer KP (N = 768: 1280). A K beyond KP (the LM head's dinp, K = V) takes several panels
    // over the same columns, each packing its A blocks once: shrinking NC instead would repack all
    // of A for every narrow panel. (bf16 pairs fill half of the buffers.)
    size_t kc_max = K < GEMM_KC ? K : GEMM_KC;
    size_t nc_max = N < GEMM_NC ? N : GEMM_NC;
    g.nc_pad = (nc_max + nr - 1) / nr * nr;
    g.kp = GEMM_B_FLOATS / g.nc_pad / GEMM_KC * GEMM_KC;
    if (g.kp < GEMM_KC) g.kp = GEMM_KC;
    if (g.kp > K) g.kp = K;
    g.a_stride = g.mc * kc_max + GEMM_PACK_SLACK;
    g.bpack = (float*)malloc(g.nc_pad * g.kp * sizeof(float));
    g.apack = (float*)malloc((size_t)nthreads * g.a_stride * sizeof(float));
    if (!g.bpack || !g.apack) {
        fprintf(stderr, "error: gemm.h: out of memory for packing buffers (%zu x %zu x %zu)\n", M, N, K);
        exit(1);
    }
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        gemm_run(&g, g.apack + (size_t)tid * g.a_stride);
    }
    free(g.bpack);
    free(g.apack);
}

void sgemm_with(GemmKernel kernel, int transA, int transB, size_t M, size_t N, size_t K, float alpha,
                const float* A, size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    gemm_ex(kernel, GEMM_FP32, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_prec(GemmPrecision prec, int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float* A,
               size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    gemm_ex(GEMM_AUTO, prec, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm(int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
           const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    sgemm_with(GEMM_AUTO, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

