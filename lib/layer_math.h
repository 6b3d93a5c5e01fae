// layer_math.h: per-element and per-row formulas that the CPU kernels (layers.c) and the GPU
// kernels (gpu.cu) share, so that the two backends compute them with one piece of code. Each is a
// static inline function, host and device under nvcc; the exponential is left to the caller
// (exp_f32 below on the CPU, CUDA's expf on the GPU). exp_f32 and log_f64 (the probes' entropies)
// are the CPU's vectorisable elementary functions.
#ifndef LAYER_MATH_H
#define LAYER_MATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define LAYER_MATH __host__ __device__ static inline
#else
#define LAYER_MATH static inline
#endif

// e^x for float x, written so that loops calling it vectorise (no libm call; GCC needs the
// Makefile's -fno-trapping-math to turn the clamps into selects, and then vectorises GELU,
// softmax and cross-entropy: -fopt-info-vec lists them): x = n ln2 + r with
// |r| <= ln2/2, e^r by its degree-6 Taylor polynomial, 2^n put into the exponent bits. Relative
// error < 2.3e-7 (about 2 ulp) over the clamped range [-87, 88], where results stay normal and
// finite (softmax and sigmoid never need more).
#if !defined(__CUDACC__)
static inline float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // n = round(x / ln2) by the 1.5 * 2^23 trick (floorf and fminf keep GCC from vectorising)
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f; // ln2 in two parts: the first is exact times n
    r = r - n * 1.42860682030941723212e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// ln x for a normal double x > 0 (and a finite -1023 ln2 for x = 0, so that 0 ln 0 reads 0),
// written so that loops calling it vectorise (no libm call, no branch): x = 2^e m with m in
// [sqrt(1/2), sqrt(2)), s = (m - 1) / (m + 1), ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...),
// which for |s| <= 0.1716 (s^2 <= 0.0295) reaches double precision by s^21 (0.0295^10 / 21 <
// 3e-17); e ln2 with ln2 in two parts, the first exact times e. Within 1 ulp of libm's log at
// the 205,320 points of ./test_gpt probes (2^-200 .. 2^201 and float's ends).
static inline double log_f64(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    // e as a double without an int64 -> double conversion (AVX2 has none): the biased exponent
    // put into the mantissa of 2^52, then 2^52 + 1023 taken away
    uint64_t eb = (bits >> 52) | 0x4330000000000000ull;
    double e;
    memcpy(&e, &eb, sizeof e);
    e -= 4503599627370496.0 + 1023.0;
    uint64_t mb = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull; // m in [1, 2)
    double m;
    memcpy(&m, &mb, sizeof m);
    int big = m > 1.41421356237309504880;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    double f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double p = 1.0 / 21.0;
    p = p * z + 1.0 / 19.0;
    p = p * z + 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    double r = 2.0 * s + 2.0 * s * z * p;
    return e * 0.693147180369123816490 + (r + e * 1.90821492927058770002e-10);
}
#endif

// GELU, tanh approximation (Hugging Face "gelu_new"): gelu(x) = 0.5 x (1 + tanh(u)) = x s with
// u = sqrt(2/pi) (x + 0.044715 x^3) and s = sigmoid(2u) = 1 / (1 + exp(-2u)).
#define GELU_SCALE 0.79788456080286535588f // sqrt(2/pi)
LAYER_MATH float gelu_arg(float x) { return GELU_SCALE * (x + 0.044715f * x * x * x); }

// d gelu/dx = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2), given s = sigmoid(2u)
// (from 0.5 (1 + tanh u) = s and 1 - tanh² u = 4 s (1 - s)).
LAYER_MATH float gelu_grad(float x, float s) {
    return s + 2.0f * x * s * (1.0f - s) * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

// Softmax backward of causal row t of one head: at = softmax weights (T), lt = d(weights) on entry
// (dout · vᵀ) and d(scores) on exit, 0 above the diagonal. dat (datt, accumulated) and dpt
// (dpreatt, accumulated) may be NULL; without dat, lt itself holds datt.
//   dpre_j = at_j (datt_j − Σ_k at_k datt_k) for j <= t
LAYER_MATH void softmax_backward_row(const float* at, float* lt, float* dat, float* dpt, size_t t, size_t T) {
    float* d = dat ? dat : lt;
    float sdot = 0.0f;
    for (size_t j = 0; j <= t; j++) {
        if (dat) d[j] += lt[j];
        sdot += at[j] * d[j];
    }
    for (size_t j = 0; j <= t; j++) {
        float g = at[j] * (d[j] - sdot);
        if (dpt) g = dpt[j] += g;
        lt[j] = g;
    }
    for (size_t j = t + 1; j < T; j++) lt[j] = 0.0f;
}

#endif // LAYER_MATH_H
