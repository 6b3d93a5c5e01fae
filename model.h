// model.h: a GPT-2 style decoder in plain C: parameters, activations, forward/backward, AdamW,
// Hugging Face checkpoints. Depends on lib/util.h only.
//
// Sections: (a) GPT types and the gpt_* API; (b) layer kernels, exposed so the tests can check
// each one.
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/util.h"

// ----------------------------------------------------------------------------
// (a) the model
//
// Dimension key, used in every shape comment below:
//   B = batch size, T = sequence length (<= max_seq_len), C = channels, L = layers,
//   NH = heads, hs = C / NH, V = vocab size, maxT = max_seq_len.
// Linear layers keep Hugging Face's Conv1D layout: weight (in, out), y = x·W + b, so that a
// checkpoint is the parameter buffer written tensor by tensor with no transposes.

typedef struct {
    int max_seq_len; // maxT, n_positions
    int vocab_size;  // V
    int num_layers;  // L
    int num_heads;   // NH
    int channels;    // C
} GPTConfig;

#define NUM_PARAMETER_TENSORS 16
typedef struct {
    float* wte;      // (V, C)        token embedding, also the LM head (tied)
    float* wpe;      // (maxT, C)     position embedding
    float* ln1w;     // (L, C)
    float* ln1b;     // (L, C)
    float* qkvw;     // (L, C, 3C)    c_attn.weight, columns [q | k | v], head h at h*hs
    float* qkvb;     // (L, 3C)
    float* attprojw; // (L, C, C)     attn.c_proj.weight
    float* attprojb; // (L, C)
    float* ln2w;     // (L, C)
    float* ln2b;     // (L, C)
    float* fcw;      // (L, C, 4C)    mlp.c_fc.weight
    float* fcb;      // (L, 4C)
    float* fcprojw;  // (L, 4C, C)    mlp.c_proj.weight
    float* fcprojb;  // (L, C)
    float* lnfw;     // (C)
    float* lnfb;     // (C)
} ParameterTensors;

#define NUM_ACTIVATION_TENSORS 22
typedef struct {
    float* encoded;   // (B, T, C)      wte[token] + wpe[pos]: hidden state 0
    float* ln1;       // (L, B, T, C)
    float* ln1_mean;  // (L, B, T)
    float* ln1_rstd;  // (L, B, T)
    float* qkv;       // (L, B, T, 3C)
    float* atty;      // (L, B, T, C)   attention output before c_proj
    float* att_stats; // (L, B, NH, T, 2) per query row: max score and 1/sum of its softmax; the
                      // backward rebuilds the weights from q, k and these (attention_*_stats)
    float* attproj;   // (L, B, T, C)
    float* residual2; // (L, B, T, C)   x + attn(ln_1(x))
    float* ln2;       // (L, B, T, C)
    float* ln2_mean;  // (L, B, T)
    float* ln2_rstd;  // (L, B, T)
    float* fch;       // (L, B, T, 4C)
    float* fch_gelu;  // (L, B, T, 4C)
    float* fcproj;    // (L, B, T, C)
    float* residual3; // (L, B, T, C)   block output: hidden state l+1 (l < L-1)
    float* lnf;       // (B, T, C)      ln_f(block L output): hidden state L
    float* lnf_mean;  // (B, T)
    float* lnf_rstd;  // (B, T)
    float* logits;    // (B, T, V)
    float* lse;       // (B, T)        log-sum-exp of each logits row (for the fused backward), 0 where target == -1
    float* losses;    // (B, T)        -log p(target), 0 where target == -1
} ActivationTensors;

typedef struct {
    GPTConfig config;
    ParameterTensors params;
    size_t param_sizes[NUM_PARAMETER_TENSORS];
    float* params_memory;
    size_t num_parameters;
    // gradients and AdamW moments: allocated lazily on the first backward / update,
    // so a forward-only model (DPO reference, probing) never pays for them
    ParameterTensors grads;
    float* grads_memory;
    float* m_memory;
    float* v_memory;
    // activations, sized for (batch_size, seq_len) on the first forward; a later forward with a
    // larger B or T reallocates
    ActivationTensors acts;
    size_t act_sizes[NUM_ACTIVATION_TENSORS];
    float* acts_memory;
    size_t num_activations;
    ActivationTensors grads_acts;
    float* grads_acts_memory;
    size_t batch_size; // B of the last forward
    size_t seq_len;    // T of the last forward
    int* inputs;       // (B, T) copy of the last forward's inputs
    int* targets;      // (B, T) copy of the last forward's targets (-1 = ignored), or all -1
    float mean_loss;   // mean of losses over targets != -1 after forward; -1.0f if there were none
    size_t num_valid;  // number of targets != -1 in the last forward
    int has_logits;    // 1 after gpt_forward, 0 after gpt_forward_hidden (backward needs logits)
} GPT;

// Tensor names of a Hugging Face GPT-2 checkpoint, without the "transformer." prefix.
// Fills name/shape for parameter tensor index i (0..NUM_PARAMETER_TENSORS-1) and layer l
// (ignored for wte, wpe, ln_f); returns the number of dims (1 or 2).
int gpt_tensor_name(const GPTConfig* cfg, int i, int l, char* name, size_t len, size_t shape[2]);

// Sets up the compute backend. CPU build: nothing to do, returns NULL. GPU build (make
// USE_CUBLAS=1): selects CUDA device 0 and creates the cuBLAS handle, matrix products in TF32 if
// tf32 is 1 (fp32 otherwise), and returns the device's name; with no device it prints
// "error: no CUDA device found (...)" and exits 1. (The GPU build also sets itself up on the first
// allocation, in fp32, when this was not called.)
const char* gpt_backend_init(int tf32);

// Validates a config (positive sizes, C divisible by NH); returns 0 or -1 with err filled.
int gpt_config_check(const GPTConfig* cfg, char* err, size_t errlen);

// Allocates parameters for cfg and initialises them as GPT-2 does: weights N(0, 0.02), the two
// residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2L)), biases 0, LayerNorm 1/0.
void gpt_build(GPT* model, GPTConfig cfg, uint64_t seed);

// Loads DIR/config.json and DIR/model.safetensors (a Hugging Face GPT-2 folder, with or without
// the "transformer." prefix, F32). Checks names, dtypes, shapes, offsets and finiteness.
// Returns 0, or -1 with err filled ("DIR/model.safetensors: ..."); model is untouched on failure.
// On success *model is overwritten as by gpt_build (an earlier model in it is not freed).
int gpt_load(GPT* model, const char* dir, char* err, size_t errlen);

// Writes DIR/config.json and DIR/model.safetensors (creating DIR), each through atomic_open/
// atomic_commit. Refuses (returns -1) if any parameter is non-finite.
int gpt_save(const GPT* model, const char* dir, char* err, size_t errlen);

// Forward pass over inputs (B, T) of token ids in [0, V). targets (B, T) may be NULL; a target of
// -1 is ignored. Fills model->acts, model->mean_loss (mean over valid targets) and num_valid.
// T must be <= max_seq_len. Out-of-range token ids are a fatal error (they come from data).
void gpt_forward(GPT* model, const int* inputs, const int* targets, size_t B, size_t T);

// Forward pass that stops at the final LayerNorm (no logits): enough for probes. Fills acts up
// to lnf.
void gpt_forward_hidden(GPT* model, const int* inputs, size_t B, size_t T);

// Hidden state `layer` (0..L, Hugging Face output_hidden_states) of the last forward:
// (B, T, C) row-major. 0 = embedding sum, l = residual stream after block l, L = ln_f(block L).
const float* gpt_hidden_state(const GPT* model, int layer);

// Sum over t of log p(target[b,t]) for targets != -1, from the last forward: out is (B).
void gpt_sequence_logprobs(const GPT* model, float* out);

void gpt_zero_grad(GPT* model);

// Allocates (zeroed) gradients and AdamW moments now if they are not there yet, e.g. before
// reading a saved optimizer state into m_memory/v_memory for --resume.
void gpt_alloc_training_state(GPT* model);

// Backward pass for the last forward. dlosses (B, T) is d(objective)/d(losses[b,t]); NULL means the
// mean loss (1/num_valid at valid targets, 0 elsewhere). Accumulates into grads (call
// gpt_zero_grad first).
void gpt_backward(GPT* model, const float* dlosses);

// Global L2 norm of all gradients; if clip > 0 and norm > clip, scales the gradients by clip/norm.
// Returns the norm before clipping.
float gpt_clip_grad_norm(GPT* model, float clip);

// AdamW step t (1-based): decoupled weight decay on 2-D tensors (wte, wpe, all weight matrices),
// none on biases and LayerNorm. beta1 0.9, beta2 0.95, eps 1e-8 are the defaults in train.c.
void gpt_update(GPT* model, float lr, float beta1, float beta2, float eps, float weight_decay, int t);

// Learning rate at step (0-based) of total steps: linear warm-up from lr/warmup to lr over
// `warmup` steps, then cosine decay to min_lr_frac*lr at the last step.
float lr_schedule(int step, int total, int warmup, float lr, float min_lr_frac);

// Bytes the parameters, gradients, AdamW moments and activations for (B, T) take.
size_t gpt_memory_estimate(const GPTConfig* cfg, size_t B, size_t T, int training);


// Where a numerical fault began: names the first tensor holding a non-finite value, looking at
// the parameters ("h.1.mlp.c_fc.weight"), then the last forward's activations in the order the
// forward computes them ("activation h.0.qkv"), then the gradients ("gradient of wte.weight").
// Returns 1 with name filled, or 0 (name = "") when everything is finite.
int gpt_first_nonfinite(const GPT* model, char* name, size_t len);

void gpt_free(GPT* model);

// ---- incremental decoding with a key/value cache ----
// Generation without recomputing the prefix for every new token: the cache keeps each layer's
// keys and values of the positions seen so far, for B independent rows (sequences) of up to
// max_len positions each. A decoding step appends one token to each row and costs one token's
// forward pass (matrix-vector products, and attention over the row's cached positions) instead
// of a forward over the whole prefix. The arithmetic is gpt_forward's, row by row (the same
// kernels, sums in the same order), so the logits equal the full forward's at every position
// (test_gpt.c checks it). In the GPU build the decoding steps still run on the host (the model's
// managed memory is readable there), so they agree with the device's forward to fp32 rounding.
typedef struct {
    size_t B, max_len; // rows, and positions per row (max_len <= maxT)
    int* len;          // (B) positions filled in each row
    float* k;          // (L, B, max_len, C) keys of every layer, head h at channels h*hs..
    float* v;          // (L, B, max_len, C) values
    float* logits;     // (B, V) next-token logits after each row's last position
    float* scratch;    // one step's activations for up to B rows
    size_t* rows;      // (B) the rows taking part in the current step
} GPTKVCache;

// Allocates a cache for B rows of max_len positions (1 <= max_len <= cfg->max_seq_len), empty.
void gpt_kv_init(GPTKVCache* cache, const GPTConfig* cfg, size_t B, size_t max_len);
void gpt_kv_free(GPTKVCache* cache);

// Fills every row of the cache from prompts: tokens (B, T) row-major, row b's prompt being its
// first lens[b] tokens (1 <= lens[b] <= T <= max_len; the rest is padding, never read by the
// causal attention of earlier positions). Runs the forward in chunks of rows that fit the
// activations the model already has (all B rows at once when it has none), so it overwrites
// model->acts but does not grow them past a trained model's batch. Returns cache->logits: row b
// holds the logits after its last prompt token.
const float* gpt_kv_prefill(GPT* model, GPTKVCache* cache, const int* tokens, const int* lens, size_t T);

// One decoding step: appends tokens[b] at position len[b] of every row b with tokens[b] >= 0
// (-1: row b sits this step out and keeps its logits). Returns cache->logits (B, V) with the
// stepping rows' logits for their new last position. A full row (len == max_len) or a token id
// outside [0, V) is a fatal error.
const float* gpt_kv_decode(GPT* model, GPTKVCache* cache, const int* tokens);

// Samples the next token from logits (V) at temperature (0 = greedy) with top-k (0 = all).
int sample_logits(const float* logits, int V, float temperature, int top_k, uint64_t* rng);

// ----------------------------------------------------------------------------
// (b) layer kernels. Backward functions accumulate (+=) into their d-outputs.

void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, size_t B, size_t T, size_t C);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, size_t B, size_t T, size_t C);
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, size_t B, size_t T, size_t C);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t B, size_t T,
                        size_t C);
// out (B,T,OC) = inp (B,T,C) · weight (C,OC) + bias (OC); bias may be NULL.
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t B, size_t T,
                    size_t C, size_t OC);
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, size_t B, size_t T, size_t C, size_t OC);
void attention_forward(float* out, float* preatt, float* att, const float* inp, size_t B, size_t T, size_t C,
                       size_t NH);
void attention_backward(float* dinp, float* dpreatt, float* datt, const float* dout, const float* inp,
                        const float* att, size_t B, size_t T, size_t C, size_t NH);
// The model's attention: keeps stats (B,NH,T,2) (each query row's max score and 1/sum) instead of
// the (B,NH,T,T) weights, which the backward rebuilds bit for bit (one more q·kᵀ per head).
void attention_forward_stats(float* out, float* stats, const float* inp, size_t B, size_t T, size_t C, size_t NH);
void attention_backward_stats(float* dinp, const float* dout, const float* inp, const float* stats, size_t B,
                              size_t T, size_t C, size_t NH);
void gelu_forward(float* out, const float* inp, size_t N);
void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N);
void residual_forward(float* out, const float* inp1, const float* inp2, size_t N);
void residual_backward(float* dinp1, float* dinp2, const float* dout, size_t N);
// Tied LM head: logits (B,T,V) = inp (B,T,C) · wteᵀ with wte (V,C).
void lm_head_forward(float* logits, const float* inp, const float* wte, size_t B, size_t T, size_t C, size_t V);
void lm_head_backward(float* dinp, float* dwte, const float* dlogits, const float* inp, const float* wte, size_t B,
                      size_t T, size_t C, size_t V);
// Fused softmax + cross-entropy (no (B,T,V) probabilities are stored): lse (B,T) = log sum_v
// e^logits, losses (B,T) = lse - logits[target]; both 0 where target is -1 (targets may be NULL:
// all ignored). Backward: dlogits += (softmax(logits) - onehot(target)) * dlosses, the softmax
// recomputed from logits and lse on the fly; rows with target -1 get nothing.
void crossentropy_forward(float* lse, float* losses, const float* logits, const int* targets, size_t B, size_t T,
                          size_t V);
void crossentropy_backward(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                           const int* targets, size_t B, size_t T, size_t V);

#endif // MODEL_H
