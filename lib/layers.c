// layers.c: the CPU layer kernels of layers.h, each layer's forward and backward side by side
// (encoder, layernorm, matmul, attention, gelu, residual, lm_head, crossentropy), and the
// fixed-order reductions and exp they share.
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "layer_math.h"
#include "layers.h"
#include "util.h"

// All tensors are row-major (dimension key in layers.h). Backward functions accumulate (+=) into
// their d-outputs, so the caller zeroes them once (gpt_zero_grad for the parameters; gpt_backward
// zeroes the activation gradients). Parallel loops use static schedules and every output element
// is written by exactly one thread in a fixed order, so results do not even depend on the thread
// count.

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
                    size_t C, size_t OC, GemmPrecision prec) {
    size_t BT = B * T;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < BT; r++) memcpy(out + r * OC, bias, OC * sizeof(float));
    }
    gemm_prec(prec, 0, 0, BT, OC, C, 1.0f, inp, C, weight, OC, bias ? 1.0f : 0.0f, out, OC);
}

// dinp (B,T,C) += dout (B,T,OC) · weightᵀ; dweight (C,OC) += inpᵀ · dout; dbias (OC) += sum over
// rows of dout (dbias may be NULL). The two products are SGEMMs with a transposed operand (the
// packing in gemm.h reads it in place, no copy). dbias is parallel over blocks of output
// channels, each summing the rows in order: each thread owns what it writes.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, size_t B, size_t T, size_t C, size_t OC, GemmPrecision prec) {
    size_t BT = B * T;
    gemm_prec(prec, 0, 1, BT, C, OC, 1.0f, dout, OC, weight, OC, 1.0f, dinp, C);
    gemm_prec(prec, 1, 0, C, OC, BT, 1.0f, inp, C, dout, OC, 1.0f, dweight, OC);
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
// by every attention path, the cached decoding's (attention_forward_cached) included, so that all
// compute the same bits.
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
                            float scale, GemmPrecision prec) {
    for (size_t t0 = 0; t0 < T; t0 += ATT_TB) {
        size_t t1 = t0 + ATT_TB < T ? t0 + ATT_TB : T;
        gemm_prec(prec, 0, 1, t1 - t0, t1, hs, scale, q + t0 * C3, C3, k, C3, 0.0f, pre + t0 * T, T);
    }
}

// One head's forward: scores into pre (T,T), weights into a (T,T) (both 0 above the diagonal),
// the row statistics into st (T,2) if not NULL, output o (rows C apart).
static void att_head_forward(float* o, float* pre, float* a, float* st, const float* q, size_t T, size_t C,
                             size_t hs, float scale, GemmPrecision prec) {
    size_t C3 = 3 * C;
    const float* k = q + C;
    const float* v = q + 2 * C;
    att_head_scores(pre, q, k, T, C3, hs, scale, prec);
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
        gemm_prec(prec, 0, 0, t1 - t0, hs, t1, 1.0f, a + t0 * T, T, v, 3 * C, 0.0f, o + t0 * C, C);
    }
}

// One head's backward from its weights a (T,T, 0 above the diagonal): datt = dout · vᵀ,
// dv += attᵀ · dout, softmax backward dpreatt = att * (datt - sum_j att * datt), then
// dq += dpreatt · k * scale, dk += dpreattᵀ · q * scale. local (T,T) is scratch; da, dp (T,T), if
// not NULL, accumulate datt and dpreatt (j <= t). q and dq rows C3 apart, d rows C apart.
static void att_head_backward(float* dq, float* local, float* da, float* dp, const float* d, const float* q,
                              const float* a, size_t T, size_t C, size_t hs, float scale, GemmPrecision prec) {
    size_t C3 = 3 * C;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    // local[t, j] = d_t · v_j for j < t1 of t's block
    for (size_t t0 = 0; t0 < T; t0 += ATT_TB) {
        size_t t1 = t0 + ATT_TB < T ? t0 + ATT_TB : T;
        gemm_prec(prec, 0, 1, t1 - t0, t1, hs, 1.0f, d + t0 * C, C, v, C3, 0.0f, local + t0 * T, T);
    }
    // softmax backward row by row; local becomes dpreatt (0 above the diagonal)
    for (size_t t = 0; t < T; t++) // without a datt buffer, local holds datt and then dpreatt itself
        softmax_backward_row(a + t * T, local + t * T, da ? da + t * T : NULL, dp ? dp + t * T : NULL, t, T);
    for (size_t t0 = 0; t0 < T; t0 += ATT_TB) {
        size_t t1 = t0 + ATT_TB < T ? t0 + ATT_TB : T;
        // dv[j] += sum_{t >= j} att[t, j] d_t, for j in [t0, t1): t runs over [t0, T)
        gemm_prec(prec, 1, 0, t1 - t0, hs, T - t0, 1.0f, a + t0 * T + t0, T, d + t0 * C, C, 1.0f, dv + t0 * C3, C3);
        // dq[t] += scale * sum_{j <= t} dpre[t, j] k_j
        gemm_prec(prec, 0, 0, t1 - t0, hs, t1, scale, local + t0 * T, T, k, C3, 1.0f, dq + t0 * C3, C3);
        // dk[j] += scale * sum_{t >= j} dpre[t, j] q_t
        gemm_prec(prec, 1, 0, t1 - t0, hs, T - t0, scale, local + t0 * T + t0, T, q + t0 * C3, C3, 1.0f,
                  dk + t0 * C3, C3);
    }
}

// Both forms of the forward: out (B,T,C); preatt, att (B,NH,T,T) get the scores and weights if not
// NULL (entries j > t are 0), stats (B,NH,T,2) the row statistics if not NULL; inp (B,T,3C). A NULL
// preatt or att is a T x T buffer per thread.
static void attention_forward_any(float* out, float* preatt, float* att, float* stats, const float* inp, size_t B,
                                  size_t T, size_t C, size_t NH, GemmPrecision prec) {
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
                                 hs, scale, prec);
            }
        free(pre_buf);
        free(att_buf);
    }
}

// out (B,T,C); preatt (B,NH,T,T) gets the scores if not NULL, att (B,NH,T,T) the weights (entries
// j > t are 0 in both); inp (B,T,3C).
void attention_forward(float* out, float* preatt, float* att, const float* inp, size_t B, size_t T, size_t C,
                       size_t NH) {
    attention_forward_any(out, preatt, att, NULL, inp, B, T, C, NH, GEMM_FP32);
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
                                  inp + b * T * 3 * C + h * hs, att + oh, T, C, hs, scale, GEMM_FP32);
            }
        free(local);
    }
}

// As attention_forward, keeping only stats (B,NH,T,2): each query row's max score and 1/sum.
void attention_forward_stats(float* out, float* stats, const float* inp, size_t B, size_t T, size_t C, size_t NH,
                             GemmPrecision prec) {
    attention_forward_any(out, NULL, NULL, stats, inp, B, T, C, NH, prec);
}

// Backward of attention_forward_stats: rebuilds each head's weights from its scores and stats,
// a[t, j] = exp_f32(score - max) * inv exactly as softmax_row made them, then runs
// attention_backward's per-head step. dinp (B,T,3C) +=, dout (B,T,C), inp (B,T,3C), stats (B,NH,T,2).
void attention_backward_stats(float* dinp, const float* dout, const float* inp, const float* stats, size_t B,
                              size_t T, size_t C, size_t NH, GemmPrecision prec) {
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
                att_head_scores(a, q, q + C, T, C3, hs, scale, prec);
                for (size_t t = 0; t < T; t++) {
                    float* at = a + t * T;
                    float m = st[2 * t], r = st[2 * t + 1];
                    for (size_t j = 0; j <= t; j++) at[j] = exp_f32(at[j] - m) * r;
                    for (size_t j = t + 1; j < T; j++) at[j] = 0.0f;
                }
                att_head_backward(dinp + b * T * C3 + h * hs, local, NULL, NULL, dout + b * T * C + h * hs, q, a, T,
                                  C, hs, scale, prec);
            }
        free(a);
        free(local);
    }
}

// Attention of one new query per sequence over the keys and values cached for it (the cached
// decoding, generate.c): query i belongs to row rows[i] of the cache and sits at position
// t = len[rows[i]], its own key and value already stored there; it attends to positions 0..t as
// attention_forward's row t does (the same scores SGEMM, softmax_row and weighted-sum SGEMM), so
// the output is the same bits as the full forward's. out (N,C); qkv (N,3C), of which only q is
// read; kc, vc (R,maxT,C) one layer's cached keys and values; pre, att (N,NH,maxT) scratch for the
// scores and weights. Parallel over (i, h), each writing its own slice of out.
void attention_forward_cached(float* out, float* pre, float* att, const float* qkv, const float* kc,
                              const float* vc, const size_t* rows, const int* len, size_t N, size_t C, size_t NH,
                              size_t maxT, GemmPrecision prec) {
    size_t hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (size_t i = 0; i < N; i++) {
        for (size_t h = 0; h < NH; h++) {
            size_t t = (size_t)len[rows[i]];
            const float* k = kc + rows[i] * maxT * C + h * hs; // rows C apart
            const float* v = vc + rows[i] * maxT * C + h * hs;
            float* pt = pre + (i * NH + h) * maxT;
            float* at = att + (i * NH + h) * maxT;
            gemm_prec(prec, 0, 1, 1, t + 1, hs, scale, qkv + i * C3 + h * hs, C3, k, C, 0.0f, pt, maxT);
            float m, r;
            softmax_row(at, pt, t + 1, &m, &r);
            gemm_prec(prec, 0, 0, 1, hs, t + 1, 1.0f, at, maxT, v, C, 0.0f, out + i * C + h * hs, C);
        }
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
void lm_head_forward(float* logits, const float* inp, const float* wte, size_t B, size_t T, size_t C, size_t V,
                     GemmPrecision prec) {
    gemm_prec(prec, 0, 1, B * T, V, C, 1.0f, inp, C, wte, C, 0.0f, logits, V);
}

// dinp (B,T,C) += dlogits (B,T,V) · wte (V,C); dwte (V,C) += dlogitsᵀ · inp. Two SGEMMs (the
// second with A transposed, read in place).
void lm_head_backward(float* dinp, float* dwte, const float* dlogits, const float* inp, const float* wte, size_t B,
                      size_t T, size_t C, size_t V, GemmPrecision prec) {
    size_t BT = B * T;
    gemm_prec(prec, 0, 0, BT, C, V, 1.0f, dlogits, V, wte, C, 1.0f, dinp, C);
    gemm_prec(prec, 1, 0, V, C, BT, 1.0f, dlogits, V, inp, C, 1.0f, dwte, C);
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
