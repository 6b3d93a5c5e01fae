// model.c: the GPT-2 model of model.h: checked helpers, layer kernels (forward/backward pairs),
// the gpt_* API (forward, backward, AdamW, sampling) and Hugging Face checkpoints.
//
// Sections: helpers; layer kernels; model (allocation, forward, backward, update); checkpoints.
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lib/gemm.h"
#include "lib/json.h"
#include "lib/layer_math.h"
#include "model.h"
#ifdef USE_CUBLAS
#include "lib/gpu.h"
#endif

// Checkpoints store raw little-endian floats; we write the buffer as it lies in memory.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model.c assumes a little-endian host (safetensors data is little-endian)"
#endif

// ============================================================================
// layer kernels
//
// B = batch size, T = sequence length, C = channels, OC = output channels, NH = heads, hs = C/NH,
// V = vocab size. All tensors are row-major. Backward functions accumulate (+=) into their
// d-outputs, so the caller zeroes them once (gpt_zero_grad for the parameters; gpt_backward zeroes
// the activation gradients). Parallel loops use static schedules and every output element is
// written by exactly one thread in a fixed order, so results do not even depend on the thread count.

// Sum of x[0..n) in 16 interleaved partial sums combined in a fixed order: vectorises without
// fast-math (no reassociation by the compiler), and the result does not depend on threads.
static inline float sum_f32(const float* x, size_t n) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += x[i + k];
    float s = 0.0f;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

// Sum of (x[i] - m)^2 over x[0..n), 16 interleaved partial sums as sum_f32.
static inline float sumsq_dev_f32(const float* x, float m, size_t n) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += (x[i + k] - m) * (x[i + k] - m);
    float s = 0.0f;
    for (; i < n; i++) s += (x[i] - m) * (x[i] - m);
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

// Max of x[0..n) (n >= 1), 16 lanes at a time as sum_f32.
static inline float max_f32(const float* x, size_t n) {
    float acc[16];
    for (int k = 0; k < 16; k++) acc[k] = -FLT_MAX;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
    float m = -FLT_MAX;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int k = 0; k < 16; k++) m = acc[k] > m ? acc[k] : m;
    return m;
}

// e^x for float x, written so that loops calling it vectorise (no libm call): x = n ln2 + r with
// |r| <= ln2/2, e^r by its degree-6 Taylor polynomial, 2^n put into the exponent bits. Relative
// error < 2.3e-7 (about 2 ulp) over the clamped range [-87, 88], where results stay normal and
// finite (softmax and sigmoid never need more).
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

// out (B,T,C) = wte[inp[b,t]] + wpe[t]; inp (B,T), wte (V,C), wpe (maxT,C).
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, size_t B, size_t T, size_t C) {
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        const float* w = wte + (size_t)inp[bt] * C;
        const float* p = wpe + (bt % T) * C;
        float* o = out + bt * C;
        for (size_t c = 0; c < C; c++) o[c] = w[c] + p[c];
    }
}

// Serial: two positions with the same token add into the same dwte row.
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, size_t B, size_t T, size_t C) {
    for (size_t bt = 0; bt < B * T; bt++) {
        float* dw = dwte + (size_t)inp[bt] * C;
        float* dp = dwpe + (bt % T) * C;
        const float* d = dout + bt * C;
        for (size_t c = 0; c < C; c++) {
            dw[c] += d[c];
            dp[c] += d[c];
        }
    }
}

// LayerNorm over the last dim (https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html):
// out = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + 1e-5), biased variance.
// out, inp (B,T,C); mean, rstd (B,T) are saved for backward; weight, bias (C).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, size_t B, size_t T, size_t C) {
    const float eps = 1e-5f;
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        const float* x = inp + bt * C;
        float m = sum_f32(x, C) / (float)C;
        float v = sumsq_dev_f32(x, m, C) / (float)C;
        float s = 1.0f / sqrtf(v + eps);
        float* o = out + bt * C;
        for (size_t c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];
        mean[bt] = m;
        rstd[bt] = s;
    }
}

// With n = (x - mean) * rstd and g = dout * weight:
//   dx = rstd * (g - mean(g) - n * mean(g * n)),  dweight = sum dout * n,  dbias = sum dout.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t B, size_t T,
                        size_t C) {
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        const float* x = inp + bt * C;
        const float* d = dout + bt * C;
        float m = mean[bt], s = rstd[bt];
        // the two row sums in 16 interleaved partial sums each (vectorised, fixed order)
        float ga[16] = {0}, gna[16] = {0};
        size_t c0 = 0;
        for (; c0 + 16 <= C; c0 += 16)
            for (int k = 0; k < 16; k++) {
                float g = d[c0 + k] * weight[c0 + k];
                ga[k] += g;
                gna[k] += g * (x[c0 + k] - m) * s;
            }
        float gmean = 0.0f, gnmean = 0.0f;
        for (size_t c = c0; c < C; c++) {
            float g = d[c] * weight[c];
            gmean += g;
            gnmean += g * (x[c] - m) * s;
        }
        for (int k = 0; k < 16; k++) {
            gmean += ga[k];
            gnmean += gna[k];
        }
        gmean /= (float)C;
        gnmean /= (float)C;
        float* dx = dinp + bt * C;
        for (size_t c = 0; c < C; c++) {
            float n = (x[c] - m) * s;
            dx[c] += (d[c] * weight[c] - gmean - n * gnmean) * s;
        }
    }
    // parameter gradients: each thread owns a block of channels and sums over all rows in order
    const size_t CB = 64;
#pragma omp parallel for schedule(static)
    for (size_t c0 = 0; c0 < C; c0 += CB) {
        size_t c1 = c0 + CB < C ? c0 + CB : C;
        for (size_t bt = 0; bt < B * T; bt++) {
            const float* x = inp + bt * C;
            const float* d = dout + bt * C;
            float m = mean[bt], s = rstd[bt];
            for (size_t c = c0; c < c1; c++) {
                dweight[c] += d[c] * (x[c] - m) * s;
                dbias[c] += d[c];
            }
        }
    }
}

// out (B,T,OC) = inp (B,T,C) · weight (C,OC) + bias (OC): one SGEMM over the BT rows (gemm.h:
// packed panels, AVX-512/AVX2 register tiles, threads own disjoint blocks of out), accumulated on
// top of the bias broadcast into every row (beta = 1), or overwriting out when bias is NULL.
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t B, size_t T,
                    size_t C, size_t OC) {
    size_t BT = B * T;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < BT; r++) memcpy(out + r * OC, bias, OC * sizeof(float));
    }
    sgemm(0, 0, BT, OC, C, 1.0f, inp, C, weight, OC, bias ? 1.0f : 0.0f, out, OC);
}

// dinp (B,T,C) += dout (B,T,OC) · weightᵀ; dweight (C,OC) += inpᵀ · dout; dbias (OC) += sum over
// rows of dout (dbias may be NULL). The two products are SGEMMs with a transposed operand (the
// packing in gemm.h reads it in place, no copy). dbias is parallel over blocks of output
// channels, each summing the rows in order: each thread owns what it writes.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, size_t B, size_t T, size_t C, size_t OC) {
    size_t BT = B * T;
    sgemm(0, 1, BT, C, OC, 1.0f, dout, OC, weight, OC, 1.0f, dinp, C);
    sgemm(1, 0, C, OC, BT, 1.0f, inp, C, dout, OC, 1.0f, dweight, OC);
    if (dbias) {
        const size_t OB = 256;
#pragma omp parallel for schedule(static)
        for (size_t o0 = 0; o0 < OC; o0 += OB) {
            size_t o1 = o0 + OB < OC ? o0 + OB : OC;
            for (size_t bt = 0; bt < BT; bt++) {
                const float* d = dout + bt * OC;
                for (size_t o = o0; o < o1; o++) dbias[o] += d[o];
            }
        }
    }
}

// Causal multi-head self-attention. inp (B,T,3C) holds [q | k | v], head h at channels h*hs..;
// out (B,T,C) = softmax(q kᵀ / sqrt(hs), masked to j <= t) · v per head. Parallel over (b, h):
// every write lands in that head's slice of that sequence.
//
// Per head the two products are SGEMMs (gemm.h, run on the calling thread) over row blocks of
// ATT_TB queries: block [t0, t1) only needs keys j < t1, so the causal upper triangle beyond each
// block is never computed (about 56% of the full T x T work for T = 256). Heads are handed out
// one at a time (dynamic schedule): each (b, h) is computed the same way whichever thread takes
// it, so results stay bit-identical, and a thread that loses its core to another process does
// not stall the rest.
//
// Two forms. attention_forward/_backward keep the weights att (B,NH,T,T) for the backward (and
// the scores preatt, if asked): the reference the tests check layer by layer. The model runs
// attention_forward_stats/_backward_stats, which keep only each query row's softmax statistics
// (max score and 1/sum, (B,NH,T,2)) and rebuild the head's weights in the backward from q, k and
// those, bit for bit as the forward made them: one more q·kᵀ product per head, and a T x T buffer
// per thread instead of L·B·NH·T·T floats (gpt2 at T = 1024, B = 4: 2.3 GB).
#define ATT_TB 32

// at[0..n) = softmax(pt[0..n)): the attention weights of one query over its n visible keys.
// Returns the row's max in *maxv and 1/sum in *inv (at[j] = exp_f32(pt[j] - max) * inv). Shared
// by every attention path and the cached decoding (gpt_kv_decode), so that all compute the same
// bits.
static void softmax_row(float* at, const float* pt, size_t n, float* maxv, float* inv) {
    float m = max_f32(pt, n);
    for (size_t j = 0; j < n; j++) at[j] = exp_f32(pt[j] - m);
    float sum = sum_f32(at, n);
    float r = 1.0f / sum;
    for (size_t j = 0; j < n; j++) at[j] *= r;
    *maxv = m;
    *inv = r;
}

// pre (T,T) = scale · q kᵀ for j < t1 of each query block (the rest is left alone); q, k rows C3
// apart.
static void att_head_scores(float* pre, const float* q, const float* k, size_t T, size_t C3, size_t hs,
                            float scale) {
    for (size_t t0 = 0; t0 < T; t0 += ATT_TB) {
        size_t t1 = t0 + ATT_TB < T ? t0 + ATT_TB : T;
        sgemm(0, 1, t1 - t0, t1, hs, scale, q + t0 * C3, C3, k, C3, 0.0f, pre + t0 * T, T);
    }
}

// One head's forward: scores into pre (T,T), weights into a (T,T) (both 0 above the diagonal),
// the row statistics into st (T,2) if not NULL, output o (rows C apart).
static void att_head_forward(float* o, float* pre, float* a, float* st, const float* q, size_t T, size_t C,
                             size_t hs, float scale) {
    size_t C3 = 3 * C;
    const float* k = q + C;
    const float* v = q + 2 * C;
    att_head_scores(pre, q, k, T, C3, hs, scale);
    for (size_t t = 0; t < T; t++) {
        float* pt = pre + t * T;
        float* at = a + t * T;
        float m, r;
        softmax_row(at, pt, t + 1, &m, &r);
        if (st) st[2 * t] = m, st[2 * t + 1] = r;
        for (size_t j = t + 1; j < T; j++) {
            pt[j] = 0.0f;
            at[j] = 0.0f;
        }
    }
    // o[t] = sum_{j <= t} a[t, j] v_j (a is 0 above the diagonal)
    for (size_t t0 = 0; t0 < T; t0 += ATT_TB) {
        size_t t1 = t0 + ATT_TB < T ? t0 + ATT_TB : T;
        sgemm(0, 0, t1 - t0, hs, t1, 1.0f, a + t0 * T, T, v, 3 * C, 0.0f, o + t0 * C, C);
    }
}

// One head's backward from its weights a (T,T, 0 above the diagonal): datt = dout · vᵀ,
// dv += attᵀ · dout, softmax backward dpreatt = att * (datt - sum_j att * datt), then
// dq += dpreatt · k * scale, dk += dpreattᵀ · q * scale. local (T,T) is scratch; da, dp (T,T), if
// not NULL, accumulate datt and dpreatt (j <= t). q and dq rows C3 apart, d rows C apart.
static void att_head_backward(float* dq, float* local, float* da, float* dp, const float* d, const float* q,
                              const float* a, size_t T, size_t C, size_t hs, float scale) {
    size_t C3 = 3 * C;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    // local[t, j] = d_t · v_j for j < t1 of t's block
    for (size_t t0 = 0; t0 < T; t0 += ATT_TB) {
        size_t t1 = t0 + ATT_TB < T ? t0 + ATT_TB : T;
        sgemm(0, 1, t1 - t0, t1, hs, 1.0f, d + t0 * C, C, v, C3, 0.0f, local + t0 * T, T);
    }
    // softmax backward row by row; local becomes dpreatt (0 above the diagonal)
    for (size_t t = 0; t < T; t++) // without a datt buffer, local holds datt and then dpreatt itself
        softmax_backward_row(a + t * T, local + t * T, da ? da + t * T : NULL, dp ? dp + t * T : NULL, t, T);
    for (size_t t0 = 0; t0 < T; t0 += ATT_TB) {
        size_t t1 = t0 + ATT_TB < T ? t0 + ATT_TB : T;
        // dv[j] += sum_{t >= j} att[t, j] d_t, for j in [t0, t1): t runs over [t0, T)
        sgemm(1, 0, t1 - t0, hs, T - t0, 1.0f, a + t0 * T + t0, T, d + t0 * C, C, 1.0f, dv + t0 * C3, C3);
        // dq[t] += scale * sum_{j <= t} dpre[t, j] k_j
        sgemm(0, 0, t1 - t0, hs, t1, scale, local + t0 * T, T, k, C3, 1.0f, dq + t0 * C3, C3);
        // dk[j] += scale * sum_{t >= j} dpre[t, j] q_t
        sgemm(1, 0, t1 - t0, hs, T - t0, scale, local + t0 * T + t0, T, q + t0 * C3, C3, 1.0f, dk + t0 * C3, C3);
    }
}

// Both forms of the forward: out (B,T,C); preatt, att (B,NH,T,T) get the scores and weights if not
// NULL (entries j > t are 0), stats (B,NH,T,2) the row statistics if not NULL; inp (B,T,3C). A NULL
// preatt or att is a T x T buffer per thread.
static void attention_forward_any(float* out, float* preatt, float* att, float* stats, const float* inp, size_t B,
                                  size_t T, size_t C, size_t NH) {
    size_t hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float* pre_buf = preatt ? NULL : malloc_check(T * T * sizeof(float));
        float* att_buf = att ? NULL : malloc_check(T * T * sizeof(float));
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (size_t b = 0; b < B; b++)
            for (size_t h = 0; h < NH; h++) {
                size_t oh = (b * NH + h) * T * T;
                att_head_forward(out + b * T * C + h * hs, preatt ? preatt + oh : pre_buf, att ? att + oh : att_buf,
                                 stats ? stats + (b * NH + h) * T * 2 : NULL, inp + b * T * 3 * C + h * hs, T, C,
                                 hs, scale);
            }
        free(pre_buf);
        free(att_buf);
    }
}

// out (B,T,C); preatt (B,NH,T,T) gets the scores if not NULL, att (B,NH,T,T) the weights (entries
// j > t are 0 in both); inp (B,T,3C).
void attention_forward(float* out, float* preatt, float* att, const float* inp, size_t B, size_t T, size_t C,
                       size_t NH) {
    attention_forward_any(out, preatt, att, NULL, inp, B, T, C, NH);
}

// Backward of attention_forward: dinp (B,T,3C) +=; dpreatt, datt (B,NH,T,T) accumulated for
// j <= t if not NULL; dout (B,T,C), inp (B,T,3C), att (B,NH,T,T) as attention_forward left it.
void attention_backward(float* dinp, float* dpreatt, float* datt, const float* dout, const float* inp,
                        const float* att, size_t B, size_t T, size_t C, size_t NH) {
    size_t hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float* local = malloc_check(T * T * sizeof(float));
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (size_t b = 0; b < B; b++)
            for (size_t h = 0; h < NH; h++) {
                size_t oh = (b * NH + h) * T * T;
                att_head_backward(dinp + b * T * 3 * C + h * hs, local, datt ? datt + oh : NULL,
                                  dpreatt ? dpreatt + oh : NULL, dout + b * T * C + h * hs,
                                  inp + b * T * 3 * C + h * hs, att + oh, T, C, hs, scale);
            }
        free(local);
    }
}

// As attention_forward, keeping only stats (B,NH,T,2): each query row's max score and 1/sum.
void attention_forward_stats(float* out, float* stats, const float* inp, size_t B, size_t T, size_t C, size_t NH) {
    attention_forward_any(out, NULL, NULL, stats, inp, B, T, C, NH);
}

// Backward of attention_forward_stats: rebuilds each head's weights from its scores and stats,
// a[t, j] = exp_f32(score - max) * inv exactly as softmax_row made them, then runs
// attention_backward's per-head step. dinp (B,T,3C) +=, dout (B,T,C), inp (B,T,3C), stats (B,NH,T,2).
void attention_backward_stats(float* dinp, const float* dout, const float* inp, const float* stats, size_t B,
                              size_t T, size_t C, size_t NH) {
    size_t hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float* a = malloc_check(T * T * sizeof(float));
        float* local = malloc_check(T * T * sizeof(float));
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (size_t b = 0; b < B; b++)
            for (size_t h = 0; h < NH; h++) {
                const float* q = inp + b * T * C3 + h * hs;
                const float* st = stats + (b * NH + h) * T * 2;
                att_head_scores(a, q, q + C, T, C3, hs, scale);
                for (size_t t = 0; t < T; t++) {
                    float* at = a + t * T;
                    float m = st[2 * t], r = st[2 * t + 1];
                    for (size_t j = 0; j <= t; j++) at[j] = exp_f32(at[j] - m) * r;
                    for (size_t j = t + 1; j < T; j++) at[j] = 0.0f;
                }
                att_head_backward(dinp + b * T * C3 + h * hs, local, NULL, NULL, dout + b * T * C + h * hs, q, a, T,
                                  C, hs, scale);
            }
        free(a);
        free(local);
    }
}

// GELU (formulas in layer_math.h): 0.5 (1 + tanh u) = sigmoid(2u) = 1 / (1 + e^(-2u)), so one
// exp_f32 per element does it and the loop vectorises (a tanhf call from libm does not).
void gelu_forward(float* out, const float* inp, size_t N) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        out[i] = x / (1.0f + exp_f32(-2.0f * gelu_arg(x)));
    }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float sg = 1.0f / (1.0f + exp_f32(-2.0f * gelu_arg(x)));
        dinp[i] += gelu_grad(x, sg) * dout[i];
    }
}

void residual_forward(float* out, const float* inp1, const float* inp2, size_t N) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];
}

void residual_backward(float* dinp1, float* dinp2, const float* dout, size_t N) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        dinp1[i] += dout[i];
        dinp2[i] += dout[i];
    }
}

// Tied LM head: logits (B,T,V) = inp (B,T,C) · wteᵀ, wte (V,C): an SGEMM with B transposed
// (gemm.h packs wte's rows into k-major panels; no transposed copy of wte is made).
void lm_head_forward(float* logits, const float* inp, const float* wte, size_t B, size_t T, size_t C, size_t V) {
    sgemm(0, 1, B * T, V, C, 1.0f, inp, C, wte, C, 0.0f, logits, V);
}

// dinp (B,T,C) += dlogits (B,T,V) · wte (V,C); dwte (V,C) += dlogitsᵀ · inp. Two SGEMMs (the
// second with A transposed, read in place).
void lm_head_backward(float* dinp, float* dwte, const float* dlogits, const float* inp, const float* wte, size_t B,
                      size_t T, size_t C, size_t V) {
    size_t BT = B * T;
    sgemm(0, 0, BT, C, V, 1.0f, dlogits, V, wte, C, 1.0f, dinp, C);
    sgemm(1, 0, V, C, BT, 1.0f, dlogits, V, inp, C, 1.0f, dwte, C);
}

// Fused softmax + cross-entropy (as llm.c's fused classifier): the forward keeps only the
// log-sum-exp of each row, lse = max + log sum_v e^(logit_v - max), and the loss lse - logit[target];
// the backward recomputes softmax = e^(logit - lse) on the fly while writing dlogits, so the
// (B,T,V) probabilities are never stored. Rows with target -1 are skipped (lse, loss = 0).
void crossentropy_forward(float* lse, float* losses, const float* logits, const int* targets, size_t B, size_t T,
                          size_t V) {
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        int tg = targets ? targets[bt] : -1;
        if (tg < 0) {
            lse[bt] = 0.0f;
            losses[bt] = 0.0f;
            continue;
        }
        const float* lo = logits + bt * V;
        float maxv = max_f32(lo, V);
        // sum of e^(lo - max) in 16 interleaved partial sums, as sum_f32 (vectorised, fixed order)
        float acc[16] = {0};
        size_t v = 0;
        for (; v + 16 <= V; v += 16)
            for (int k = 0; k < 16; k++) acc[k] += exp_f32(lo[v + k] - maxv);
        float sum = 0.0f;
        for (; v < V; v++) sum += exp_f32(lo[v] - maxv);
        for (int k = 0; k < 16; k++) sum += acc[k];
        float ls = logf(sum) + maxv;
        lse[bt] = ls;
        losses[bt] = ls - lo[tg];
    }
}

// dlogits (B,T,V) += (e^(logits - lse) - onehot(target)) * dlosses[b,t]; rows with target -1 get nothing.
void crossentropy_backward(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                           const int* targets, size_t B, size_t T, size_t V) {
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        int tg = targets ? targets[bt] : -1;
        if (tg < 0) continue;
        float g = dlosses[bt], ls = lse[bt];
        const float* lo = logits + bt * V;
        float* dl = dlogits + bt * V;
        for (size_t v = 0; v < V; v++) dl[v] += exp_f32(lo[v] - ls) * g;
        dl[tg] -= g;
    }
}

// ============================================================================
// model

enum {
    P_WTE, P_WPE, P_LN1W, P_LN1B, P_QKVW, P_QKVB, P_ATTPROJW, P_ATTPROJB,
    P_LN2W, P_LN2B, P_FCW, P_FCB, P_FCPROJW, P_FCPROJB, P_LNFW, P_LNFB
};

// Hugging Face name (after "h.{l}." for per-layer tensors) of each parameter tensor.
static const char* const tensor_suffix[NUM_PARAMETER_TENSORS] = {
    "wte.weight",         "wpe.weight",        "ln_1.weight",     "ln_1.bias",
    "attn.c_attn.weight", "attn.c_attn.bias",  "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight",        "ln_2.bias",         "mlp.c_fc.weight", "mlp.c_fc.bias",
    "mlp.c_proj.weight",  "mlp.c_proj.bias",   "ln_f.weight",     "ln_f.bias"};

static int is_layer_tensor(int i) { return i != P_WTE && i != P_WPE && i != P_LNFW && i != P_LNFB; }

// Weight decay applies to the 2-D tensors: embeddings and the four weight matrices.
static int is_decayed_tensor(int i) {
    return i == P_WTE || i == P_WPE || i == P_QKVW || i == P_ATTPROJW || i == P_FCW || i == P_FCPROJW;
}

// Per-layer shape of tensor i (the whole shape for non-layer tensors); returns dims.
static int tensor_shape(const GPTConfig* cfg, int i, size_t shape[2]) {
    size_t V = (size_t)cfg->vocab_size, maxT = (size_t)cfg->max_seq_len, C = (size_t)cfg->channels;
    shape[1] = 0;
    switch (i) {
    case P_WTE: shape[0] = V; shape[1] = C; return 2;
    case P_WPE: shape[0] = maxT; shape[1] = C; return 2;
    case P_QKVW: shape[0] = C; shape[1] = 3 * C; return 2;
    case P_QKVB: shape[0] = 3 * C; return 1;
    case P_ATTPROJW: shape[0] = C; shape[1] = C; return 2;
    case P_FCW: shape[0] = C; shape[1] = 4 * C; return 2;
    case P_FCB: shape[0] = 4 * C; return 1;
    case P_FCPROJW: shape[0] = 4 * C; shape[1] = C; return 2;
    default: shape[0] = C; return 1;
    }
}

int gpt_tensor_name(const GPTConfig* cfg, int i, int l, char* name, size_t len, size_t shape[2]) {
    if (is_layer_tensor(i)) snprintf(name, len, "h.%d.%s", l, tensor_suffix[i]);
    else snprintf(name, len, "%s", tensor_suffix[i]);
    return tensor_shape(cfg, i, shape);
}

int gpt_config_check(const GPTConfig* cfg, char* err, size_t errlen) {
    // upper bounds keep every size product far from overflow and reject garbage configs early
    if (cfg->max_seq_len < 1 || cfg->max_seq_len > (1 << 20)) {
        snprintf(err, errlen, "n_positions %d out of range [1, %d]", cfg->max_seq_len, 1 << 20);
        return -1;
    }
    if (cfg->vocab_size < 1 || cfg->vocab_size > (1 << 24)) {
        snprintf(err, errlen, "vocab_size %d out of range [1, %d]", cfg->vocab_size, 1 << 24);
        return -1;
    }
    if (cfg->num_layers < 1 || cfg->num_layers > 1024) {
        snprintf(err, errlen, "n_layer %d out of range [1, 1024]", cfg->num_layers);
        return -1;
    }
    if (cfg->channels < 1 || cfg->channels > 65536) {
        snprintf(err, errlen, "n_embd %d out of range [1, 65536]", cfg->channels);
        return -1;
    }
    if (cfg->num_heads < 1 || cfg->num_heads > cfg->channels || cfg->channels % cfg->num_heads != 0) {
        snprintf(err, errlen, "n_embd %d is not divisible by n_head %d", cfg->channels, cfg->num_heads);
        return -1;
    }
    return 0;
}

static void fill_param_sizes(size_t sizes[NUM_PARAMETER_TENSORS], const GPTConfig* cfg) {
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t shape[2];
        int nd = tensor_shape(cfg, i, shape);
        size_t n = nd == 2 ? shape[0] * shape[1] : shape[0];
        sizes[i] = is_layer_tensor(i) ? n * (size_t)cfg->num_layers : n;
    }
}

static void point_parameters(ParameterTensors* p, float* mem, const size_t sizes[NUM_PARAMETER_TENSORS]) {
    float** ptrs[NUM_PARAMETER_TENSORS] = {&p->wte,  &p->wpe,  &p->ln1w, &p->ln1b, &p->qkvw,    &p->qkvb,
                                           &p->attprojw, &p->attprojb, &p->ln2w, &p->ln2b, &p->fcw, &p->fcb,
                                           &p->fcprojw,  &p->fcprojb,  &p->lnfw, &p->lnfb};
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        *ptrs[i] = mem;
        mem += sizes[i];
    }
}

static void fill_act_sizes(size_t s[NUM_ACTIVATION_TENSORS], const GPTConfig* cfg, size_t B, size_t T) {
    size_t L = (size_t)cfg->num_layers, C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads;
    size_t V = (size_t)cfg->vocab_size;
    size_t i = 0;
    s[i++] = B * T * C;          // encoded
    s[i++] = L * B * T * C;      // ln1
    s[i++] = L * B * T;          // ln1_mean
    s[i++] = L * B * T;          // ln1_rstd
    s[i++] = L * B * T * 3 * C;  // qkv
    s[i++] = L * B * T * C;      // atty
    s[i++] = L * B * NH * T * 2; // att_stats
    s[i++] = L * B * T * C;      // attproj
    s[i++] = L * B * T * C;      // residual2
    s[i++] = L * B * T * C;      // ln2
    s[i++] = L * B * T;          // ln2_mean
    s[i++] = L * B * T;          // ln2_rstd
    s[i++] = L * B * T * 4 * C;  // fch
    s[i++] = L * B * T * 4 * C;  // fch_gelu
    s[i++] = L * B * T * C;      // fcproj
    s[i++] = L * B * T * C;      // residual3
    s[i++] = B * T * C;          // lnf
    s[i++] = B * T;              // lnf_mean
    s[i++] = B * T;              // lnf_rstd
    s[i++] = B * T * V;          // logits
    s[i++] = B * T;              // lse
    s[i++] = B * T;              // losses
}

static void point_activations(ActivationTensors* a, float* mem, const size_t sizes[NUM_ACTIVATION_TENSORS]) {
    float** ptrs[NUM_ACTIVATION_TENSORS] = {
        &a->encoded,  &a->ln1,      &a->ln1_mean, &a->ln1_rstd,  &a->qkv,      &a->atty,     &a->att_stats,
        &a->attproj,  &a->residual2, &a->ln2,     &a->ln2_mean,  &a->ln2_rstd, &a->fch,      &a->fch_gelu,
        &a->fcproj,   &a->residual3, &a->lnf,     &a->lnf_mean,  &a->lnf_rstd, &a->logits,   &a->lse,
        &a->losses};
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
        *ptrs[i] = mem;
        mem += sizes[i];
    }
}

// The build picks the backend. CPU: the layer kernels above, buffers on the heap. GPU (make
// USE_CUBLAS=1): the same forward/backward/update code below calls gpu_<kernel> (gpu.h), and the
// model's buffers (parameters, gradients, AdamW moments, activations, inputs, targets) are CUDA
// managed memory, which host code may read and write between gpt_* calls: every gpt_* function
// of the GPU build ends with gpu_sync(). See gpu.h for why managed memory.
#ifdef USE_CUBLAS
#define LAYER(kernel) gpu_##kernel
static void* model_alloc(size_t bytes) { return gpu_alloc(bytes); }
static void* model_calloc(size_t bytes) { return gpu_alloc_zero(bytes); }
static void model_free(void* p) { gpu_free(p); }
static void model_zero(void* p, size_t bytes) { gpu_memset_zero(p, bytes); }
static void model_sync(void) { gpu_sync(); }
#else
#define LAYER(kernel) kernel
static void* model_alloc(size_t bytes) { return malloc_check(bytes); }
static void* model_calloc(size_t bytes) { return calloc_check(bytes, 1); }
static void model_free(void* p) { free(p); }
static void model_zero(void* p, size_t bytes) { memset(p, 0, bytes); }
static void model_sync(void) {}
#endif

const char* gpt_backend_init(int tf32) {
#ifdef USE_CUBLAS
    return gpu_init(tf32);
#else
    (void)tf32;
    return NULL;
#endif
}

// Sets up the parameter bookkeeping for cfg with an existing parameter buffer (owned by model).
static void gpt_setup(GPT* model, GPTConfig cfg, float* params_memory) {
    memset(model, 0, sizeof *model);
    model->config = cfg;
    fill_param_sizes(model->param_sizes, &cfg);
    model->num_parameters = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) model->num_parameters += model->param_sizes[i];
    model->params_memory = params_memory;
    point_parameters(&model->params, params_memory, model->param_sizes);
    model->mean_loss = -1.0f;
}

static size_t param_count(const GPTConfig* cfg) {
    size_t sizes[NUM_PARAMETER_TENSORS], n = 0;
    fill_param_sizes(sizes, cfg);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) n += sizes[i];
    return n;
}

void gpt_build(GPT* model, GPTConfig cfg, uint64_t seed) {
    char err[256];
    if (gpt_config_check(&cfg, err, sizeof err)) fatal("gpt_build: %s", err);
    float* mem = model_alloc(param_count(&cfg) * sizeof(float));
    gpt_setup(model, cfg, mem);
    uint64_t rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    float std = 0.02f;
    // GPT-2 scales the residual projections by 1/sqrt(2L): each block adds two of them to the stream
    float proj_std = 0.02f / sqrtf(2.0f * (float)cfg.num_layers);
    float* p = mem;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t n = model->param_sizes[i];
        for (size_t k = 0; k < n; k++) {
            switch (i) {
            case P_WTE: case P_WPE: case P_QKVW: case P_FCW: p[k] = std * random_normal(&rng); break;
            case P_ATTPROJW: case P_FCPROJW: p[k] = proj_std * random_normal(&rng); break;
            case P_LN1W: case P_LN2W: case P_LNFW: p[k] = 1.0f; break;
            default: p[k] = 0.0f; break;
            }
        }
        p += n;
    }
}

// Makes sure activations hold (B, T); reallocates (and drops activation gradients) if they grow.
static void ensure_activations(GPT* model, size_t B, size_t T) {
    size_t need[NUM_ACTIVATION_TENSORS];
    fill_act_sizes(need, &model->config, B, T);
    int grow = model->acts_memory == NULL;
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++)
        if (need[i] > model->act_sizes[i]) grow = 1;
    if (grow) {
        size_t total = 0;
        for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
            if (need[i] > model->act_sizes[i]) model->act_sizes[i] = need[i];
            total += model->act_sizes[i];
        }
        model_free(model->acts_memory);
        model_free(model->grads_acts_memory);
        model->grads_acts_memory = NULL;
        model->acts_memory = model_alloc(total * sizeof(float));
        model->num_activations = total;
        point_activations(&model->acts, model->acts_memory, model->act_sizes);
        model_free(model->inputs);
        model_free(model->targets);
        size_t bt = model->act_sizes[NUM_ACTIVATION_TENSORS - 1]; // losses: (B,T) capacity
        model->inputs = model_alloc(bt * sizeof(int));
        model->targets = model_alloc(bt * sizeof(int));
    }
}

// Runs encoder, blocks and ln_f for inputs (B,T); shared by gpt_forward and gpt_forward_hidden.
static void forward_to_lnf(GPT* model, const int* inputs, size_t B, size_t T) {
    GPTConfig* cfg = &model->config;
    size_t L = (size_t)cfg->num_layers, C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads;
    size_t V = (size_t)cfg->vocab_size;
    if (B == 0 || T == 0) fatal("gpt_forward: empty batch (B=%zu, T=%zu)", B, T);
    if (T > (size_t)cfg->max_seq_len)
        fatal("gpt_forward: sequence length %zu exceeds the model's n_positions %d", T, cfg->max_seq_len);
    for (size_t i = 0; i < B * T; i++)
        if (inputs[i] < 0 || (size_t)inputs[i] >= V)
            fatal("gpt_forward: token id %d at position %zu is outside the vocabulary [0, %zu)", inputs[i], i, V);
    ensure_activations(model, B, T);
    model->batch_size = B;
    model->seq_len = T;
    model->has_logits = 0;
    memcpy(model->inputs, inputs, B * T * sizeof(int));
    for (size_t i = 0; i < B * T; i++) model->targets[i] = -1;

    ParameterTensors p = model->params;
    ActivationTensors a = model->acts;
    size_t BTC = B * T * C;
    LAYER(encoder_forward)(a.encoded, inputs, p.wte, p.wpe, B, T, C);
    for (size_t l = 0; l < L; l++) {
        const float* residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * BTC;
        float* l_ln1 = a.ln1 + l * BTC;
        float* l_ln1_mean = a.ln1_mean + l * B * T;
        float* l_ln1_rstd = a.ln1_rstd + l * B * T;
        float* l_qkv = a.qkv + l * BTC * 3;
        float* l_atty = a.atty + l * BTC;
        float* l_att_stats = a.att_stats + l * B * NH * T * 2;
        float* l_attproj = a.attproj + l * BTC;
        float* l_residual2 = a.residual2 + l * BTC;
        float* l_ln2 = a.ln2 + l * BTC;
        float* l_ln2_mean = a.ln2_mean + l * B * T;
        float* l_ln2_rstd = a.ln2_rstd + l * B * T;
        float* l_fch = a.fch + l * BTC * 4;
        float* l_fch_gelu = a.fch_gelu + l * BTC * 4;
        float* l_fcproj = a.fcproj + l * BTC;
        float* l_residual3 = a.residual3 + l * BTC;

        LAYER(layernorm_forward)(l_ln1, l_ln1_mean, l_ln1_rstd, residual, p.ln1w + l * C, p.ln1b + l * C, B, T, C);
        LAYER(matmul_forward)(l_qkv, l_ln1, p.qkvw + l * C * 3 * C, p.qkvb + l * 3 * C, B, T, C, 3 * C);
        LAYER(attention_forward_stats)(l_atty, l_att_stats, l_qkv, B, T, C, NH);
        LAYER(matmul_forward)(l_attproj, l_atty, p.attprojw + l * C * C, p.attprojb + l * C, B, T, C, C);
        LAYER(residual_forward)(l_residual2, residual, l_attproj, BTC);
        LAYER(layernorm_forward)(l_ln2, l_ln2_mean, l_ln2_rstd, l_residual2, p.ln2w + l * C, p.ln2b + l * C, B, T, C);
        LAYER(matmul_forward)(l_fch, l_ln2, p.fcw + l * C * 4 * C, p.fcb + l * 4 * C, B, T, C, 4 * C);
        LAYER(gelu_forward)(l_fch_gelu, l_fch, BTC * 4);
        LAYER(matmul_forward)(l_fcproj, l_fch_gelu, p.fcprojw + l * 4 * C * C, p.fcprojb + l * C, B, T, 4 * C, C);
        LAYER(residual_forward)(l_residual3, l_residual2, l_fcproj, BTC);
    }
    LAYER(layernorm_forward)(a.lnf, a.lnf_mean, a.lnf_rstd, a.residual3 + (L - 1) * BTC, p.lnfw, p.lnfb, B, T, C);
}

void gpt_forward_hidden(GPT* model, const int* inputs, size_t B, size_t T) {
    forward_to_lnf(model, inputs, B, T);
    model_sync();
    model->mean_loss = -1.0f;
    model->num_valid = 0;
}

void gpt_forward(GPT* model, const int* inputs, const int* targets, size_t B, size_t T) {
    size_t V = (size_t)model->config.vocab_size, C = (size_t)model->config.channels;
    if (targets)
        for (size_t i = 0; i < B * T; i++)
            if (targets[i] < -1 || targets[i] >= (int)V)
                fatal("gpt_forward: target id %d at position %zu is outside [-1, %zu)", targets[i], i, V);
    forward_to_lnf(model, inputs, B, T);
    if (targets) memcpy(model->targets, targets, B * T * sizeof(int));
    ActivationTensors a = model->acts;
    LAYER(lm_head_forward)(a.logits, a.lnf, model->params.wte, B, T, C, V);
    LAYER(crossentropy_forward)(a.lse, a.losses, a.logits, model->targets, B, T, V);
    model_sync(); // the losses are read here, and the caller may read any activation
    // the mean in double, in a fixed order
    double sum = 0.0;
    size_t n = 0;
    for (size_t i = 0; i < B * T; i++)
        if (model->targets[i] >= 0) {
            sum += (double)a.losses[i];
            n++;
        }
    model->num_valid = n;
    model->mean_loss = n ? (float)(sum / (double)n) : -1.0f;
    model->has_logits = 1;
}

const float* gpt_hidden_state(const GPT* model, int layer) {
    int L = model->config.num_layers;
    if (!model->acts_memory || model->batch_size == 0) fatal("gpt_hidden_state: no forward pass yet");
    if (layer < 0 || layer > L) fatal("gpt_hidden_state: layer %d outside [0, %d]", layer, L);
    size_t BTC = model->batch_size * model->seq_len * (size_t)model->config.channels;
    if (layer == 0) return model->acts.encoded;
    if (layer == L) return model->acts.lnf;
    return model->acts.residual3 + (size_t)(layer - 1) * BTC;
}

void gpt_sequence_logprobs(const GPT* model, float* out) {
    if (!model->has_logits) fatal("gpt_sequence_logprobs: needs a gpt_forward first");
    size_t B = model->batch_size, T = model->seq_len;
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t t = 0; t < T; t++)
            if (model->targets[b * T + t] >= 0) s -= (double)model->acts.losses[b * T + t];
        out[b] = (float)s;
    }
}

static void ensure_grads(GPT* model) {
    if (model->grads_memory) return;
    model->grads_memory = model_calloc(model->num_parameters * sizeof(float));
    point_parameters(&model->grads, model->grads_memory, model->param_sizes);
}

void gpt_alloc_training_state(GPT* model) {
    ensure_grads(model);
    if (!model->m_memory) {
        model->m_memory = model_calloc(model->num_parameters * sizeof(float));
        model->v_memory = model_calloc(model->num_parameters * sizeof(float));
    }
}

void gpt_zero_grad(GPT* model) {
    ensure_grads(model);
    model_zero(model->grads_memory, model->num_parameters * sizeof(float));
    model_sync();
}

void gpt_backward(GPT* model, const float* dlosses) {
    if (!model->has_logits) fatal("gpt_backward: needs a gpt_forward (with logits) first");
    GPTConfig* cfg = &model->config;
    size_t B = model->batch_size, T = model->seq_len;
    size_t L = (size_t)cfg->num_layers, C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads;
    size_t V = (size_t)cfg->vocab_size;
    ensure_grads(model);
    if (!model->grads_acts_memory) {
        model->grads_acts_memory = model_alloc(model->num_activations * sizeof(float));
        point_activations(&model->grads_acts, model->grads_acts_memory, model->act_sizes);
    }
    model_zero(model->grads_acts_memory, model->num_activations * sizeof(float));
    model_sync(); // the seed below is written by the host

    ParameterTensors p = model->params, g = model->grads;
    ActivationTensors a = model->acts, d = model->grads_acts;
    size_t BTC = B * T * C;
    // the seed d(objective)/d(losses): the caller's, or 1/num_valid for the mean loss; 0 where ignored
    float* dl = d.losses;
    for (size_t i = 0; i < B * T; i++) {
        if (model->targets[i] < 0) dl[i] = 0.0f;
        else dl[i] = dlosses ? dlosses[i] : 1.0f / (float)model->num_valid;
    }
    LAYER(crossentropy_backward)(d.logits, dl, a.logits, a.lse, model->targets, B, T, V);
    LAYER(lm_head_backward)(d.lnf, g.wte, d.logits, a.lnf, p.wte, B, T, C, V);
    LAYER(layernorm_backward)(d.residual3 + (L - 1) * BTC, g.lnfw, g.lnfb, d.lnf, a.residual3 + (L - 1) * BTC, p.lnfw,
                       a.lnf_mean, a.lnf_rstd, B, T, C);
    for (size_t l = L; l-- > 0;) {
        const float* residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * BTC;
        float* dresidual = l == 0 ? d.encoded : d.residual3 + (l - 1) * BTC;
        size_t o1 = l * BTC, o3 = l * BTC * 3, o4 = l * BTC * 4, ot = l * B * T, oa = l * B * NH * T * 2;
        LAYER(residual_backward)(d.residual2 + o1, d.fcproj + o1, d.residual3 + o1, BTC);
        LAYER(matmul_backward)(d.fch_gelu + o4, g.fcprojw + l * 4 * C * C, g.fcprojb + l * C, d.fcproj + o1,
                        a.fch_gelu + o4, p.fcprojw + l * 4 * C * C, B, T, 4 * C, C);
        LAYER(gelu_backward)(d.fch + o4, a.fch + o4, d.fch_gelu + o4, BTC * 4);
        LAYER(matmul_backward)(d.ln2 + o1, g.fcw + l * C * 4 * C, g.fcb + l * 4 * C, d.fch + o4, a.ln2 + o1,
                        p.fcw + l * C * 4 * C, B, T, C, 4 * C);
        LAYER(layernorm_backward)(d.residual2 + o1, g.ln2w + l * C, g.ln2b + l * C, d.ln2 + o1, a.residual2 + o1,
                           p.ln2w + l * C, a.ln2_mean + ot, a.ln2_rstd + ot, B, T, C);
        LAYER(residual_backward)(dresidual, d.attproj + o1, d.residual2 + o1, BTC);
        LAYER(matmul_backward)(d.atty + o1, g.attprojw + l * C * C, g.attprojb + l * C, d.attproj + o1, a.atty + o1,
                        p.attprojw + l * C * C, B, T, C, C);
        LAYER(attention_backward_stats)(d.qkv + o3, d.atty + o1, a.qkv + o3, a.att_stats + oa, B, T, C, NH);
        LAYER(matmul_backward)(d.ln1 + o1, g.qkvw + l * C * 3 * C, g.qkvb + l * 3 * C, d.qkv + o3, a.ln1 + o1,
                        p.qkvw + l * C * 3 * C, B, T, C, 3 * C);
        LAYER(layernorm_backward)(dresidual, g.ln1w + l * C, g.ln1b + l * C, d.ln1 + o1, residual, p.ln1w + l * C,
                           a.ln1_mean + ot, a.ln1_rstd + ot, B, T, C);
    }
    LAYER(encoder_backward)(g.wte, g.wpe, d.encoded, model->inputs, B, T, C);
    model_sync();
}

// The optimizer-side kernels of the CPU build (the GPU build has gpu_sum_squares, gpu_scale_floats
// and gpu_adamw in gpu.h).
#ifndef USE_CUBLAS
// Sum of squares in a fixed number of chunks, combined serially: the result does not depend on
// the thread count or on scheduling.
static double sum_squares(const float* x, size_t n) {
    enum { NCHUNK = 64 };
    double part[NCHUNK];
    size_t chunk = (n + NCHUNK - 1) / NCHUNK;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < NCHUNK; k++) {
        size_t i0 = k * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
        // 8 interleaved partial sums (vectorised, fixed order) instead of one serial chain
        double acc[8] = {0};
        size_t i = i0;
        for (; i + 8 <= i1; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
        double s = 0.0;
        for (; i < i1; i++) s += (double)x[i] * (double)x[i];
        for (int j = 0; j < 8; j++) s += acc[j];
        part[k] = s;
    }
    double s = 0.0;
    for (size_t k = 0; k < NCHUNK; k++) s += part[k];
    return s;
}

static void scale_floats(float* x, float s, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

// One AdamW step on n parameters; bc1, bc2 = 1 - beta^t, wd = 0 for tensors without decay.
static void adamw(float* pp, const float* gg, float* mm, float* vv, size_t n, float lr, float beta1, float beta2,
                  float bc1, float bc2, float eps, float wd) {
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k++) {
        float gk = gg[k];
        float m = beta1 * mm[k] + (1.0f - beta1) * gk;
        float v = beta2 * vv[k] + (1.0f - beta2) * gk * gk;
        mm[k] = m;
        vv[k] = v;
        float mhat = m / bc1, vhat = v / bc2;
        pp[k] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * pp[k]);
    }
}
#endif

float gpt_clip_grad_norm(GPT* model, float clip) {
    ensure_grads(model);
    size_t n = model->num_parameters;
    double norm = sqrt(LAYER(sum_squares)(model->grads_memory, n));
    if (clip > 0.0f && norm > (double)clip) LAYER(scale_floats)(model->grads_memory, (float)((double)clip / norm), n);
    model_sync();
    return (float)norm;
}

// AdamW (https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html):
//   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g²,  m̂ = m/(1-b1^t),  v̂ = v/(1-b2^t),
//   p -= lr (m̂ / (sqrt(v̂) + eps) + wd p)   with wd only on the 2-D tensors.
void gpt_update(GPT* model, float lr, float beta1, float beta2, float eps, float weight_decay, int t) {
    if (!model->grads_memory) fatal("gpt_update: no gradients (call gpt_backward first)");
    if (t < 1) fatal("gpt_update: step %d must be >= 1", t);
    gpt_alloc_training_state(model);
    float bc1 = (float)(1.0 - pow((double)beta1, (double)t));
    float bc2 = (float)(1.0 - pow((double)beta2, (double)t));
    size_t off = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t n = model->param_sizes[i];
        float wd = is_decayed_tensor(i) ? weight_decay : 0.0f;
        LAYER(adamw)(model->params_memory + off, model->grads_memory + off, model->m_memory + off,
                     model->v_memory + off, n, lr, beta1, beta2, bc1, bc2, eps, wd);
        off += n;
    }
    model_sync();
}

float lr_schedule(int step, int total, int warmup, float lr, float min_lr_frac) {
    if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
    int span = total - 1 - warmup;
    if (span <= 0) return lr;
    double ratio = (double)(step - warmup) / (double)span;
    if (ratio < 0.0) ratio = 0.0;
    if (ratio > 1.0) ratio = 1.0;
    double min_lr = (double)min_lr_frac * (double)lr;
    double coeff = 0.5 * (1.0 + cos(3.14159265358979323846 * ratio));
    return (float)(min_lr + coeff * ((double)lr - min_lr));
}

size_t gpt_memory_estimate(const GPTConfig* cfg, size_t B, size_t T, int training) {
    size_t np = param_count(cfg);
    size_t s[NUM_ACTIVATION_TENSORS], na = 0;
    fill_act_sizes(s, cfg, B, T);
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) na += s[i];
    size_t floats = np + na;
    if (training) floats += 3 * np + na; // grads, m, v, activation gradients
    return floats * sizeof(float) + 2 * B * T * sizeof(int);
}

// Activation tensor names (ActivationTensors order) for gpt_first_nonfinite.
static const char* const act_names[NUM_ACTIVATION_TENSORS] = {
    "encoded", "ln1",     "ln1_mean", "ln1_rstd", "qkv",      "atty",      "att_stats",
    "attproj", "residual2", "ln2",    "ln2_mean", "ln2_rstd", "fch",       "fch_gelu", "fcproj",
    "residual3", "lnf",   "lnf_mean", "lnf_rstd", "logits",   "lse",       "losses"};

// Index of the first non-finite value in x[0..n), or n.
static size_t first_nonfinite(const float* x, size_t n) {
    size_t j = 0;
    while (j < n && isfinite(x[j])) j++;
    return j;
}

// First non-finite value in a parameter-shaped buffer (parameters or gradients): fills name with
// prefix + the Hugging Face tensor name. Returns 1 if found.
static int nonfinite_param_like(const GPT* model, const float* mem, const char* prefix, char* name, size_t len) {
    if (!mem) return 0;
    size_t L = (size_t)model->config.num_layers;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t n = model->param_sizes[i];
        size_t j = first_nonfinite(mem, n);
        if (j < n) {
            char t[96];
            size_t shape[2];
            gpt_tensor_name(&model->config, i, is_layer_tensor(i) ? (int)(j / (n / L)) : 0, t, sizeof t, shape);
            snprintf(name, len, "%s%s", prefix, t);
            return 1;
        }
        mem += n;
    }
    return 0;
}

int gpt_first_nonfinite(const GPT* model, char* name, size_t len) {
    snprintf(name, len, "%s", "");
    if (nonfinite_param_like(model, model->params_memory, "", name, len)) return 1;
    if (model->acts_memory && model->batch_size > 0) {
        // activations of the last forward, in the order it computes them: per-layer tensors (the
        // ones from ln1 to residual3) layer by layer, then ln_f and the head
        size_t cur[NUM_ACTIVATION_TENSORS];
        fill_act_sizes(cur, &model->config, model->batch_size, model->seq_len);
        const float* base[NUM_ACTIVATION_TENSORS];
        const float* m = model->acts_memory;
        for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
            base[i] = m;
            m += model->act_sizes[i];
        }
        size_t L = (size_t)model->config.num_layers;
        int last = model->has_logits ? NUM_ACTIVATION_TENSORS : NUM_ACTIVATION_TENSORS - 3;
        if (first_nonfinite(base[0], cur[0]) < cur[0]) {
            snprintf(name, len, "activation %s", act_names[0]);
            return 1;
        }
        for (size_t l = 0; l < L; l++)
            for (int i = 1; i <= 15; i++) { // ln1 .. residual3: (L, ...) stacked by layer
                size_t per = cur[i] / L;
                if (first_nonfinite(base[i] + l * per, per) < per) {
                    snprintf(name, len, "activation h.%zu.%s", l, act_names[i]);
                    return 1;
                }
            }
        for (int i = 16; i < last; i++)
            if (first_nonfinite(base[i], cur[i]) < cur[i]) {
                snprintf(name, len, "activation %s", act_names[i]);
                return 1;
            }
    }
    return nonfinite_param_like(model, model->grads_memory, "gradient of ", name, len);
}

void gpt_free(GPT* model) {
    model_free(model->params_memory);
    model_free(model->grads_memory);
    model_free(model->m_memory);
    model_free(model->v_memory);
    model_free(model->acts_memory);
    model_free(model->grads_acts_memory);
    model_free(model->inputs);
    model_free(model->targets);
    memset(model, 0, sizeof *model);
}

// ============================================================================
// incremental decoding (key/value cache): see model.h

// Floats of one step's activations for B rows (views carved in kv_views).
static size_t kv_scratch_floats(const GPTConfig* cfg, size_t B, size_t max_len) {
    size_t C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads, V = (size_t)cfg->vocab_size;
    return B * (16 * C + 2 + 2 * NH * max_len + V);
}

typedef struct {
    float *x, *ln, *mean, *rstd, *qkv, *atty, *tmp, *res2, *fch, *fchg; // (n, C or 3C or 4C)
    float *pre, *att; // (B, NH, max_len) scores and weights
    float* logits;    // (n, V) logits of the stepping rows, compact
} KVViews;

static KVViews kv_views(const GPTKVCache* cache, const GPTConfig* cfg) {
    size_t B = cache->B, C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads;
    float* p = cache->scratch;
    KVViews w;
    w.x = p, p += B * C;
    w.ln = p, p += B * C;
    w.mean = p, p += B;
    w.rstd = p, p += B;
    w.qkv = p, p += B * 3 * C;
    w.atty = p, p += B * C;
    w.tmp = p, p += B * C;
    w.res2 = p, p += B * C;
    w.fch = p, p += B * 4 * C;
    w.fchg = p, p += B * 4 * C;
    w.pre = p, p += B * NH * cache->max_len;
    w.att = p, p += B * NH * cache->max_len;
    w.logits = p;
    return w;
}

void gpt_kv_init(GPTKVCache* cache, const GPTConfig* cfg, size_t B, size_t max_len) {
    if (B == 0 || max_len == 0 || max_len > (size_t)cfg->max_seq_len)
        fatal("gpt_kv_init: B=%zu rows of %zu positions (the model has n_positions %d)", B, max_len,
              cfg->max_seq_len);
    size_t L = (size_t)cfg->num_layers, C = (size_t)cfg->channels, V = (size_t)cfg->vocab_size;
    memset(cache, 0, sizeof *cache);
    cache->B = B;
    cache->max_len = max_len;
    cache->len = calloc_check(B, sizeof(int));
    cache->k = malloc_check(L * B * max_len * C * sizeof(float));
    cache->v = malloc_check(L * B * max_len * C * sizeof(float));
    cache->logits = calloc_check(B * V, sizeof(float));
    cache->scratch = malloc_check(kv_scratch_floats(cfg, B, max_len) * sizeof(float));
    cache->rows = malloc_check(B * sizeof(size_t));
}

void gpt_kv_free(GPTKVCache* cache) {
    free(cache->len);
    free(cache->k);
    free(cache->v);
    free(cache->logits);
    free(cache->scratch);
    free(cache->rows);
    memset(cache, 0, sizeof *cache);
}

const float* gpt_kv_prefill(GPT* model, GPTKVCache* cache, const int* tokens, const int* lens, size_t T) {
    const GPTConfig* cfg = &model->config;
    size_t B = cache->B, L = (size_t)cfg->num_layers, C = (size_t)cfg->channels, V = (size_t)cfg->vocab_size;
    if (T == 0 || T > cache->max_len) fatal("gpt_kv_prefill: T=%zu outside [1, %zu]", T, cache->max_len);
    for (size_t b = 0; b < B; b++)
        if (lens[b] < 1 || (size_t)lens[b] > T) fatal("gpt_kv_prefill: row %zu length %d outside [1, %zu]", b, lens[b], T);
    // The rows go through the forward in chunks that fit the activations the model already has
    // (a trained model has them for its training batch), so that prefilling many prompts at once
    // (the DPO stage samples hundreds) does not grow them far beyond the run's memory estimate.
    // Rows are independent in the forward and the GEMM gives each row the same bits whatever the
    // number of rows, so chunking changes nothing in the result.
    size_t cap = model->acts_memory ? model->act_sizes[NUM_ACTIVATION_TENSORS - 1] / T : B; // rows of length T
    size_t chunk = cap < 1 ? 1 : cap > B ? B : cap;
    KVViews w = kv_views(cache, cfg);
    for (size_t b0 = 0; b0 < B; b0 += chunk) {
        size_t nb = B - b0 < chunk ? B - b0 : chunk;
        forward_to_lnf(model, tokens + b0 * T, nb, T);
        model_sync(); // the host reads qkv and lnf below
        // keys and values of each row's prompt positions, from the forward's qkv (L, nb, T, 3C)
        const float* qkv = model->acts.qkv;
        for (size_t l = 0; l < L; l++)
            for (size_t i = 0; i < nb; i++)
                for (size_t t = 0; t < (size_t)lens[b0 + i]; t++) {
                    const float* src = qkv + ((l * nb + i) * T + t) * 3 * C;
                    size_t dst = ((l * B + b0 + i) * cache->max_len + t) * C;
                    memcpy(cache->k + dst, src + C, C * sizeof(float));
                    memcpy(cache->v + dst, src + 2 * C, C * sizeof(float));
                }
        // the LM head runs below on each row's last position only
        for (size_t i = 0; i < nb; i++) {
            memcpy(w.ln + (b0 + i) * C, model->acts.lnf + (i * T + (size_t)lens[b0 + i] - 1) * C, C * sizeof(float));
            cache->len[b0 + i] = lens[b0 + i];
        }
    }
    model->mean_loss = -1.0f;
    model->num_valid = 0;
    lm_head_forward(cache->logits, w.ln, model->params.wte, 1, B, C, V);
    return cache->logits;
}

const float* gpt_kv_decode(GPT* model, GPTKVCache* cache, const int* tokens) {
    const GPTConfig* cfg = &model->config;
    size_t L = (size_t)cfg->num_layers, C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads;
    size_t V = (size_t)cfg->vocab_size, hs = C / NH, C3 = 3 * C, ML = cache->max_len;
    // the stepping rows, compacted: row i of every scratch view is cache row rows[i]
    size_t n = 0;
    for (size_t b = 0; b < cache->B; b++) {
        if (tokens[b] < 0) continue;
        if ((size_t)tokens[b] >= V) fatal("gpt_kv_decode: token id %d of row %zu is outside [0, %zu)", tokens[b], b, V);
        if ((size_t)cache->len[b] >= ML) fatal("gpt_kv_decode: row %zu is full (%zu positions)", b, ML);
        cache->rows[n++] = b;
    }
    if (n == 0) return cache->logits;
    const size_t* rows = cache->rows;
    ParameterTensors p = model->params;
    KVViews w = kv_views(cache, cfg);
    float scale = 1.0f / sqrtf((float)hs);
    for (size_t i = 0; i < n; i++) { // encoder_forward of one position per row
        const float* te = p.wte + (size_t)tokens[rows[i]] * C;
        const float* pe = p.wpe + (size_t)cache->len[rows[i]] * C;
        for (size_t c = 0; c < C; c++) w.x[i * C + c] = te[c] + pe[c];
    }
#ifdef _OPENMP
    // A block of one decoding step is about 12 n C^2 multiply-adds in some ten parallel regions. For
    // a few rows of a small model that is less work than waking the other threads for each region
    // when they sleep between regions (OMP_WAIT_POLICY=passive): measured on 2 threads, L6 C384,
    // 1 row: 103 tokens/s with both threads, 249 on one. Below 4M multiply-adds per block the
    // blocks run on this thread alone; the LM head (n C V) keeps every thread. The results are the
    // same bits for any thread count.
    int threads = omp_get_max_threads();
    int one_thread = (double)n * 12.0 * (double)C * (double)C < 4e6;
    if (one_thread) omp_set_num_threads(1);
#endif
    for (size_t l = 0; l < L; l++) {
        layernorm_forward(w.ln, w.mean, w.rstd, w.x, p.ln1w + l * C, p.ln1b + l * C, 1, n, C);
        matmul_forward(w.qkv, w.ln, p.qkvw + l * C * C3, p.qkvb + l * C3, 1, n, C, C3);
        for (size_t i = 0; i < n; i++) {
            size_t dst = ((l * cache->B + rows[i]) * ML + (size_t)cache->len[rows[i]]) * C;
            memcpy(cache->k + dst, w.qkv + i * C3 + C, C * sizeof(float));
            memcpy(cache->v + dst, w.qkv + i * C3 + 2 * C, C * sizeof(float));
        }
        // attention of the new position over the row's positions 0..t, as attention_forward's
        // row t: scores, softmax_row, weighted sum (sgemm on the calling thread)
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            for (size_t h = 0; h < NH; h++) {
                size_t t = (size_t)cache->len[rows[i]];
                const float* kc = cache->k + (l * cache->B + rows[i]) * ML * C + h * hs; // rows C apart
                const float* vc = cache->v + (l * cache->B + rows[i]) * ML * C + h * hs;
                float* pre = w.pre + (i * NH + h) * ML;
                float* att = w.att + (i * NH + h) * ML;
                sgemm(0, 1, 1, t + 1, hs, scale, w.qkv + i * C3 + h * hs, C3, kc, C, 0.0f, pre, ML);
                float m, r;
                softmax_row(att, pre, t + 1, &m, &r);
                sgemm(0, 0, 1, hs, t + 1, 1.0f, att, ML, vc, C, 0.0f, w.atty + i * C + h * hs, C);
            }
        }
        matmul_forward(w.tmp, w.atty, p.attprojw + l * C * C, p.attprojb + l * C, 1, n, C, C);
        residual_forward(w.res2, w.x, w.tmp, n * C);
        layernorm_forward(w.ln, w.mean, w.rstd, w.res2, p.ln2w + l * C, p.ln2b + l * C, 1, n, C);
        matmul_forward(w.fch, w.ln, p.fcw + l * C * 4 * C, p.fcb + l * 4 * C, 1, n, C, 4 * C);
        gelu_forward(w.fchg, w.fch, n * 4 * C);
        matmul_forward(w.tmp, w.fchg, p.fcprojw + l * 4 * C * C, p.fcprojb + l * C, 1, n, 4 * C, C);
        residual_forward(w.x, w.res2, w.tmp, n * C);
    }
#ifdef _OPENMP
    if (one_thread) omp_set_num_threads(threads);
#endif
    layernorm_forward(w.ln, w.mean, w.rstd, w.x, p.lnfw, p.lnfb, 1, n, C);
    lm_head_forward(w.logits, w.ln, p.wte, 1, n, C, V);
    for (size_t i = 0; i < n; i++) {
        memcpy(cache->logits + rows[i] * V, w.logits + i * V, V * sizeof(float));
        cache->len[rows[i]]++;
    }
    return cache->logits;
}

typedef struct {
    float logit;
    int id;
} LogitId;

// Descending by logit, ties by ascending id, so top-k is deterministic.
static int cmp_logit_desc(const void* x, const void* y) {
    const LogitId* a = x;
    const LogitId* b = y;
    if (a->logit > b->logit) return -1;
    if (a->logit < b->logit) return 1;
    return (a->id > b->id) - (a->id < b->id);
}

int sample_logits(const float* logits, int V, float temperature, int top_k, uint64_t* rng) {
    if (V <= 0) fatal("sample_logits: empty vocabulary");
    if (temperature <= 0.0f) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = v;
        return best;
    }
    int k = top_k > 0 && top_k < V ? top_k : V;
    LogitId* c = malloc_check((size_t)V * sizeof *c);
    for (int v = 0; v < V; v++) c[v] = (LogitId){logits[v], v};
    if (k < V) qsort(c, (size_t)V, sizeof *c, cmp_logit_desc);
    float maxv = -FLT_MAX;
    for (int i = 0; i < k; i++)
        if (c[i].logit > maxv) maxv = c[i].logit;
    double sum = 0.0;
    for (int i = 0; i < k; i++) sum += exp((double)((c[i].logit - maxv) / temperature));
    double u = (double)random_f32(rng) * sum, acc = 0.0;
    int pick = c[k - 1].id;
    for (int i = 0; i < k; i++) {
        acc += exp((double)((c[i].logit - maxv) / temperature));
        if (u < acc) {
            pick = c[i].id;
            break;
        }
    }
    free(c);
    return pick;
}

// ============================================================================
// checkpoints: Hugging Face GPT-2 folder (config.json + model.safetensors)

// Offset (in floats) of tensor i, layer l inside the parameter buffer.
static size_t param_offset(const GPT* model, int i, int l) {
    size_t off = 0;
    for (int k = 0; k < i; k++) off += model->param_sizes[k];
    if (is_layer_tensor(i)) off += (size_t)l * (model->param_sizes[i] / (size_t)model->config.num_layers);
    return off;
}

// Number of tensors in a checkpoint, and the k-th one (i, l) in checkpoint order:
// wte, wpe, h.0.ln_1.weight ... h.0.mlp.c_proj.bias, h.1..., ln_f.weight, ln_f.bias.
static int checkpoint_tensor_count(const GPTConfig* cfg) { return 4 + 12 * cfg->num_layers; }

static void checkpoint_tensor(const GPTConfig* cfg, int k, int* i, int* l) {
    int nl = 12 * cfg->num_layers;
    if (k < 2) *i = k, *l = 0;
    else if (k < 2 + nl) *i = P_LN1W + (k - 2) % 12, *l = (k - 2) / 12;
    else *i = P_LNFW + (k - 2 - nl), *l = 0;
}

// A growable string for the safetensors header.
typedef struct {
    char* s;
    size_t n, cap;
} StrBuf;

static void sb_printf(StrBuf* b, const char* fmt, ...) PRINTF_LIKE(2, 3);
static void sb_printf(StrBuf* b, const char* fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) fatal("sb_printf: formatting failed");
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->s = realloc_check(b->s, b->cap);
    }
}

static int write_config_json(const GPTConfig* cfg, const char* path, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen)) return -1;
    fprintf(af.f,
            "{\n"
            "  \"model_type\": \"gpt2\",\n"
            "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
            "  \"vocab_size\": %d,\n"
            "  \"n_positions\": %d,\n"
            "  \"n_ctx\": %d,\n"
            "  \"n_embd\": %d,\n"
            "  \"n_layer\": %d,\n"
            "  \"n_head\": %d,\n"
            "  \"layer_norm_epsilon\": 1e-05,\n"
            "  \"activation_function\": \"gelu_new\",\n"
            "  \"tie_word_embeddings\": true,\n"
            "  \"torch_dtype\": \"float32\"\n"
            "}\n",
            cfg->vocab_size, cfg->max_seq_len, cfg->max_seq_len, cfg->channels, cfg->num_layers, cfg->num_heads);
    return atomic_commit(&af, err, errlen);
}

int gpt_save(const GPT* model, const char* dir, char* err, size_t errlen) {
    const GPTConfig* cfg = &model->config;
    for (size_t k = 0; k < model->num_parameters; k++)
        if (!isfinite(model->params_memory[k])) {
            snprintf(err, errlen, "%s: refusing to save: parameter %zu is not finite", dir, k);
            return -1;
        }
    if (make_dirs(dir, err, errlen)) return -1;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (write_config_json(cfg, path, err, errlen)) return -1;

    // header: {"__metadata__":{"format":"pt"},"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},...}
    StrBuf h = {0};
    sb_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t pos = 0;
    int ntensors = checkpoint_tensor_count(cfg);
    for (int k = 0; k < ntensors; k++) {
        int i, l;
        checkpoint_tensor(cfg, k, &i, &l);
        char name[96];
        size_t shape[2];
        int nd = gpt_tensor_name(cfg, i, l, name, sizeof name, shape);
        size_t bytes = (nd == 2 ? shape[0] * shape[1] : shape[0]) * sizeof(float);
        if (nd == 2)
            sb_printf(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}", name,
                      shape[0], shape[1], pos, pos + bytes);
        else
            sb_printf(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}", name, shape[0],
                      pos, pos + bytes);
        pos += bytes;
    }
    sb_printf(&h, "}");
    while (h.n % 8) sb_printf(&h, " "); // data starts 8-byte aligned
    uint64_t hlen = (uint64_t)h.n;
    unsigned char lenbuf[8];
    for (int k = 0; k < 8; k++) lenbuf[k] = (unsigned char)(hlen >> (8 * k));

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen)) {
        free(h.s);
        return -1;
    }
    int bad = fwrite(lenbuf, 1, 8, af.f) != 8 || fwrite(h.s, 1, h.n, af.f) != h.n;
    free(h.s);
    for (int k = 0; k < ntensors && !bad; k++) {
        int i, l;
        checkpoint_tensor(cfg, k, &i, &l);
        size_t shape[2];
        int nd = tensor_shape(cfg, i, shape);
        size_t n = nd == 2 ? shape[0] * shape[1] : shape[0];
        if (fwrite(model->params_memory + param_offset(model, i, l), sizeof(float), n, af.f) != n) bad = 1;
    }
    if (bad) {
        snprintf(err, errlen, "%s: write failed: %s", af.tmp, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

// Reads config.json of a Hugging Face GPT-2 folder into cfg.
static int read_config_json(const char* path, GPTConfig* cfg, char* err, size_t errlen) {
    char e[256];
    size_t len;
    char* text = read_file(path, &len, e, sizeof e);
    if (!text) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    JsonValue root;
    if (json_parse(&root, text, len, e, sizeof e)) {
        snprintf(err, errlen, "%s: invalid JSON: %s", path, e);
        free(text);
        return -1;
    }
    free(text);
    int rc = -1;
    long long v[5];
    static const char* keys[5] = {"vocab_size", "n_positions", "n_embd", "n_layer", "n_head"};
    if (root.type != JSON_OBJECT) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        goto done;
    }
    for (int k = 0; k < 5; k++) {
        if (json_get_int(&root, keys[k], &v[k]) && !(k == 1 && json_get_int(&root, "n_ctx", &v[k]) == 0)) {
            snprintf(err, errlen, "%s: missing or non-integer \"%s\"", path, keys[k]);
            goto done;
        }
        if (v[k] < 1 || v[k] > (1 << 24)) {
            snprintf(err, errlen, "%s: \"%s\" = %lld is out of range", path, keys[k], v[k]);
            goto done;
        }
    }
    const JsonValue* mt = json_get(&root, "model_type");
    if (mt && (mt->type != JSON_STRING || strcmp(mt->str, "gpt2") != 0)) {
        snprintf(err, errlen, "%s: model_type is not \"gpt2\"", path);
        goto done;
    }
    const JsonValue* act = json_get(&root, "activation_function");
    if (act && (act->type != JSON_STRING ||
                (strcmp(act->str, "gelu_new") != 0 && strcmp(act->str, "gelu_pytorch_tanh") != 0))) {
        snprintf(err, errlen, "%s: activation_function must be \"gelu_new\" (tanh GELU)", path);
        goto done;
    }
    const JsonValue* eps = json_get(&root, "layer_norm_epsilon");
    if (eps && (eps->type != JSON_NUMBER || fabs(eps->number - 1e-5) > 1e-12)) {
        snprintf(err, errlen, "%s: layer_norm_epsilon must be 1e-05", path);
        goto done;
    }
    const JsonValue* tie = json_get(&root, "tie_word_embeddings");
    if (tie && tie->type != JSON_TRUE) {
        snprintf(err, errlen, "%s: tie_word_embeddings must be true (the LM head is tied)", path);
        goto done;
    }
    const JsonValue* inner = json_get(&root, "n_inner");
    if (inner && inner->type != JSON_NULL && !(inner->type == JSON_NUMBER && inner->number == 4.0 * (double)v[2])) {
        snprintf(err, errlen, "%s: n_inner must be null or 4 * n_embd (the MLP is 4C wide)", path);
        goto done;
    }
    cfg->vocab_size = (int)v[0];
    cfg->max_seq_len = (int)v[1];
    cfg->channels = (int)v[2];
    cfg->num_layers = (int)v[3];
    cfg->num_heads = (int)v[4];
    if (gpt_config_check(cfg, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", path, e);
        goto done;
    }
    rc = 0;
done:
    json_free(&root);
    return rc;
}

// Maps a checkpoint tensor name (without "transformer.") to (i, l). Returns 1 for a parameter,
// 0 for a buffer we ignore (attn.bias, attn.masked_bias, the tied lm_head.weight), -1 if unknown.
static int parse_tensor_name(const char* name, int L, int* i, int* l) {
    if (strcmp(name, "lm_head.weight") == 0) return 0;
    static const int top[4] = {P_WTE, P_WPE, P_LNFW, P_LNFB};
    for (int k = 0; k < 4; k++)
        if (strcmp(name, tensor_suffix[top[k]]) == 0) {
            *i = top[k];
            *l = 0;
            return 1;
        }
    if (strncmp(name, "h.", 2) != 0) return -1;
    const char* s = name + 2;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) return -1;
    long layer = 0;
    while (*s >= '0' && *s <= '9') {
        layer = layer * 10 + (*s++ - '0');
        if (layer >= L) return -1;
    }
    if (*s++ != '.') return -1;
    if (strcmp(s, "attn.bias") == 0 || strcmp(s, "attn.masked_bias") == 0) return 0;
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++)
        if (is_layer_tensor(k) && strcmp(s, tensor_suffix[k]) == 0) {
            *i = k;
            *l = (int)layer;
            return 1;
        }
    return -1;
}

typedef struct {
    uint64_t begin, end;
    int i, l; // i = -1 for ignored buffers
} TensorEntry;

static int cmp_entry_begin(const void* x, const void* y) {
    const TensorEntry* a = x;
    const TensorEntry* b = y;
    return (a->begin > b->begin) - (a->begin < b->begin);
}

// Reads a non-negative integer JSON number exactly (< 2^53).
static int json_uint(const JsonValue* v, uint64_t* out) {
    if (!v || v->type != JSON_NUMBER || !(v->number >= 0.0 && v->number <= 9007199254740992.0) ||
        v->number != floor(v->number))
        return -1;
    *out = (uint64_t)v->number;
    return 0;
}

int gpt_load(GPT* model, const char* dir, char* err, size_t errlen) {
    char path[4096];
    GPTConfig cfg;
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (read_config_json(path, &cfg, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);

    int rc = -1;
    FILE* f = NULL;
    char* hdr = NULL;
    float* mem = NULL;
    TensorEntry* ent = NULL;
    unsigned char* seen = NULL;
    JsonValue root = {0};
    int have_root = 0;

    f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    unsigned char lenbuf[8];
    if (fsize < 8 || fread(lenbuf, 1, 8, f) != 8) {
        snprintf(err, errlen, "%s: file too short for a safetensors header (%llu bytes)", path,
                 (unsigned long long)fsize);
        goto done;
    }
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)lenbuf[k] << (8 * k);
    // refuse absurd header sizes before allocating anything
    if (hlen < 2 || hlen > (100u << 20) || hlen > fsize - 8) {
        snprintf(err, errlen, "%s: bad header length %llu (file is %llu bytes)", path, (unsigned long long)hlen,
                 (unsigned long long)fsize);
        goto done;
    }
    hdr = malloc_check((size_t)hlen);
    if (fread(hdr, 1, (size_t)hlen, f) != hlen) {
        snprintf(err, errlen, "%s: cannot read the %llu-byte header", path, (unsigned long long)hlen);
        goto done;
    }
    char e[256];
    if (json_parse(&root, hdr, (size_t)hlen, e, sizeof e)) {
        snprintf(err, errlen, "%s: header is not valid JSON: %s", path, e);
        goto done;
    }
    have_root = 1;
    if (root.type != JSON_OBJECT) {
        snprintf(err, errlen, "%s: header is not a JSON object", path);
        goto done;
    }
    uint64_t data_size = fsize - 8 - hlen;
    uint64_t data_start = 8 + hlen;
    int L = cfg.num_layers;
    size_t nslots = (size_t)NUM_PARAMETER_TENSORS * (size_t)L;
    seen = calloc_check(nslots, 1);
    ent = malloc_check((root.len + 1) * sizeof *ent);
    size_t nent = 0;
    for (size_t k = 0; k < root.len; k++) {
        const char* key = root.keys[k];
        if (strcmp(key, "__metadata__") == 0) continue;
        const char* name = strncmp(key, "transformer.", 12) == 0 ? key + 12 : key;
        int i = -1, l = 0;
        int kind = parse_tensor_name(name, L, &i, &l);
        if (kind < 0) {
            snprintf(err, errlen, "%s: unexpected tensor \"%s\"", path, key);
            goto done;
        }
        const JsonValue* t = &root.items[k];
        const JsonValue* dtype = json_get(t, "dtype");
        const JsonValue* shape = json_get(t, "shape");
        const JsonValue* offs = json_get(t, "data_offsets");
        uint64_t b0, b1;
        if (!dtype || dtype->type != JSON_STRING || !shape || shape->type != JSON_ARRAY || !offs ||
            offs->type != JSON_ARRAY || offs->len != 2 || json_uint(&offs->items[0], &b0) ||
            json_uint(&offs->items[1], &b1)) {
            snprintf(err, errlen, "%s: tensor \"%s\" lacks a valid dtype, shape or data_offsets", path, key);
            goto done;
        }
        if (b0 > b1 || b1 > data_size) {
            snprintf(err, errlen, "%s: tensor \"%s\" data_offsets [%llu, %llu] outside the %llu data bytes", path,
                     key, (unsigned long long)b0, (unsigned long long)b1, (unsigned long long)data_size);
            goto done;
        }
        ent[nent++] = (TensorEntry){b0, b1, kind ? i : -1, l};
        if (!kind) continue;
        size_t slot = (size_t)i * (size_t)L + (size_t)l;
        if (seen[slot]) {
            snprintf(err, errlen, "%s: tensor \"%s\" appears more than once", path, key);
            goto done;
        }
        seen[slot] = 1;
        if (strcmp(dtype->str, "F32") != 0) {
            snprintf(err, errlen, "%s: tensor \"%s\" has dtype %s, expected F32", path, key, dtype->str);
            goto done;
        }
        size_t want[2];
        int nd = tensor_shape(&cfg, i, want);
        int shape_ok = shape->len == (size_t)nd;
        for (int dd = 0; shape_ok && dd < nd; dd++) {
            uint64_t got;
            shape_ok = json_uint(&shape->items[dd], &got) == 0 && got == want[dd];
        }
        if (!shape_ok) {
            char ws[64];
            if (nd == 2) snprintf(ws, sizeof ws, "[%zu, %zu]", want[0], want[1]);
            else snprintf(ws, sizeof ws, "[%zu]", want[0]);
            snprintf(err, errlen, "%s: tensor \"%s\" has the wrong shape (expected %s for this config)", path, key,
                     ws);
            goto done;
        }
        uint64_t bytes = (uint64_t)(nd == 2 ? want[0] * want[1] : want[0]) * sizeof(float);
        if (b1 - b0 != bytes) {
            snprintf(err, errlen, "%s: tensor \"%s\" spans %llu bytes, expected %llu", path, key,
                     (unsigned long long)(b1 - b0), (unsigned long long)bytes);
            goto done;
        }
    }
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++)
        for (int l = 0; l < (is_layer_tensor(i) ? L : 1); l++)
            if (!seen[(size_t)i * (size_t)L + (size_t)l]) {
                char name[96];
                size_t sh[2];
                gpt_tensor_name(&cfg, i, l, name, sizeof name, sh);
                snprintf(err, errlen, "%s: tensor \"%s\" is missing", path, name);
                goto done;
            }
    qsort(ent, nent, sizeof *ent, cmp_entry_begin);
    for (size_t k = 1; k < nent; k++)
        if (ent[k].begin < ent[k - 1].end) {
            snprintf(err, errlen, "%s: tensor data ranges overlap at byte %llu", path,
                     (unsigned long long)ent[k].begin);
            goto done;
        }

    // everything checks out against the file size: now allocate and read, in file order
    GPT tmp;
    mem = model_alloc(param_count(&cfg) * sizeof(float));
    gpt_setup(&tmp, cfg, mem);
    for (size_t k = 0; k < nent; k++) {
        if (ent[k].i < 0) continue;
        size_t n = (size_t)(ent[k].end - ent[k].begin) / sizeof(float);
        float* dst = mem + param_offset(&tmp, ent[k].i, ent[k].l);
        if (fseeko(f, (off_t)(data_start + ent[k].begin), SEEK_SET) != 0 || fread(dst, sizeof(float), n, f) != n) {
            snprintf(err, errlen, "%s: cannot read tensor data at byte %llu", path,
                     (unsigned long long)(data_start + ent[k].begin));
            goto done;
        }
        for (size_t j = 0; j < n; j++)
            if (!isfinite(dst[j])) {
                char name[96];
                size_t sh[2];
                gpt_tensor_name(&cfg, ent[k].i, ent[k].l, name, sizeof name, sh);
                snprintf(err, errlen, "%s: tensor \"%s\" has a non-finite value at index %zu", path, name, j);
                goto done;
            }
    }
    *model = tmp;
    mem = NULL;
    rc = 0;
done:
    if (f) fclose(f);
    if (have_root) json_free(&root);
    free(hdr);
    free(ent);
    free(seen);
    model_free(mem);
    return rc;
}
