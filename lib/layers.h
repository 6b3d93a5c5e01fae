// layers.h: the layer kernels of the GPT-2 model, each a _forward/_backward pair (CPU versions in
// layers.c; the GPU build's gpu_<kernel> twins in gpu.h take the same arguments). model.c chains
// them into the transformer block and the model; the tests check each one on its own.
//
// Dimension key, used in every shape below:
//   B = batch size, T = sequence length, C = channels, OC = output channels, NH = heads,
//   hs = C / NH, V = vocab size, maxT = max sequence length, N = element count.
// All tensors are row-major. Arguments go outputs, inputs, weights, then dims. Backward functions
// accumulate (+=) into their d-outputs, so the caller zeroes them once. Linear layers keep
// Hugging Face's Conv1D layout: weight (in, out), y = x·W + b.
// The kernels built on matrix products take their inputs' precision last (gemm.h): GEMM_FP32, or
// GEMM_BF16 (./train --precision bf16: every product's inputs rounded to bfloat16, the sums and
// every stored tensor fp32; softmax, LayerNorm, GELU, the loss are fp32 in both).
#ifndef LAYERS_H
#define LAYERS_H

#include <stddef.h>

#include "gemm.h"

// Token + position embedding: out (B,T,C) = wte[inp[b,t]] + wpe[t]; inp (B,T), wte (V,C),
// wpe (maxT,C). Backward: dwte, dwpe += dout at each position's rows.
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, size_t B, size_t T, size_t C);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, size_t B, size_t T, size_t C);

// LayerNorm over C: out (B,T,C) = (inp - mean) * rstd * weight + bias, rstd = 1/sqrt(var + 1e-5);
// mean, rstd (B,T) are saved for the backward; weight, bias (C).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, size_t B, size_t T, size_t C);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t B, size_t T,
                        size_t C);

// out (B,T,OC) = inp (B,T,C) · weight (C,OC) + bias (OC); bias may be NULL (dbias too).
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t B, size_t T,
                    size_t C, size_t OC, GemmPrecision prec);
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, size_t B, size_t T, size_t C, size_t OC, GemmPrecision prec);

// Causal multi-head self-attention: inp (B,T,3C) holds [q | k | v], head h at channels h*hs..;
// out (B,T,C) = softmax(q kᵀ / sqrt(hs), masked to j <= t) · v per head. preatt, att (B,NH,T,T)
// get the scores and weights (entries j > t are 0); preatt may be NULL. The backward takes att as
// the forward left it; dpreatt, datt may be NULL.
void attention_forward(float* out, float* preatt, float* att, const float* inp, size_t B, size_t T, size_t C,
                       size_t NH);
void attention_backward(float* dinp, float* dpreatt, float* datt, const float* dout, const float* inp,
                        const float* att, size_t B, size_t T, size_t C, size_t NH);
// The model's attention: keeps stats (B,NH,T,2) (each query row's max score and 1/sum) instead of
// the (B,NH,T,T) weights, which the backward rebuilds bit for bit (one more q·kᵀ per head, in the
// same precision). attention_forward/_backward, the reference the tests check, are fp32.
void attention_forward_stats(float* out, float* stats, const float* inp, size_t B, size_t T, size_t C, size_t NH,
                             GemmPrecision prec);
void attention_backward_stats(float* dinp, const float* dout, const float* inp, const float* stats, size_t B,
                              size_t T, size_t C, size_t NH, GemmPrecision prec);
// The cached decoding's attention (forward only): one new query per sequence over that sequence's
// cached keys and values, the same bits as attention_forward's row at that position. out (N,C);
// qkv (N,3C), q read; kc, vc (R,maxT,C) the cache of one layer for R sequences; query i belongs
// to sequence rows[i] (< R) and sits at position len[rows[i]], where its key and value already
// are; pre, att (N,NH,maxT) scratch.
void attention_forward_cached(float* out, float* pre, float* att, const float* qkv, const float* kc,
                              const float* vc, const size_t* rows, const int* len, size_t N, size_t C, size_t NH,
                              size_t maxT, GemmPrecision prec);

// GELU, tanh approximation (layer_math.h): out (N) = gelu(inp); backward dinp += gelu'(inp) dout.
void gelu_forward(float* out, const float* inp, size_t N);
void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N);

// out (N) = inp1 + inp2; backward dinp1, dinp2 += dout.
void residual_forward(float* out, const float* inp1, const float* inp2, size_t N);
void residual_backward(float* dinp1, float* dinp2, const float* dout, size_t N);

// Tied LM head: logits (B,T,V) = inp (B,T,C) · wteᵀ with wte (V,C).
void lm_head_forward(float* logits, const float* inp, const float* wte, size_t B, size_t T, size_t C, size_t V,
                     GemmPrecision prec);
void lm_head_backward(float* dinp, float* dwte, const float* dlogits, const float* inp, const float* wte, size_t B,
                      size_t T, size_t C, size_t V, GemmPrecision prec);

// Fused softmax + cross-entropy (no (B,T,V) probabilities are stored): lse (B,T) = log sum_v
// e^logits, losses (B,T) = lse - logits[target]; both 0 where target is -1 (targets (B,T) may be
// NULL: all ignored). Backward: dlogits += (softmax(logits) - onehot(target)) * dlosses (B,T),
// the softmax recomputed from logits and lse on the fly; rows with target -1 get nothing.
void crossentropy_forward(float* lse, float* losses, const float* logits, const int* targets, size_t B, size_t T,
                          size_t V);
void crossentropy_backward(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                           const int* targets, size_t B, size_t T, size_t V);

#endif // LAYERS_H
