// model.h: a GPT-2 style decoder in plain C: parameters, activations, forward/backward, AdamW
// (model.c); Hugging Face checkpoints (lib/checkpoint.c); the transformer block (model.c); the
// key/value cache and sampling (lib/generate.c). Depends on lib/util.h and lib/layers.h (the
// layer kernels, included here so that every user of the model reaches them).
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/layers.h"
#include "lib/util.h"

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

// Views into one parameter buffer; the (L, ...) tensors are stacked by layer (block_params).
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

// Activations of a forward over (B, T); the (L, ...) ones are stacked by layer, and block_acts
// gives layer l's views of them.
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
    // the matrix products' inputs (lib/gemm.h): GEMM_FP32 (0, the default of a zeroed GPT) or GEMM_BF16
    // (./train --precision bf16); parameters, gradients, moments and activations are fp32 either
    // way, and checkpoints do not record it
    GemmPrecision precision;
} GPT;

// Parameter tensor indices, in ParameterTensors, param_sizes and parameter buffer order.
enum {
    P_WTE, P_WPE, P_LN1W, P_LN1B, P_QKVW, P_QKVB, P_ATTPROJW, P_ATTPROJB,
    P_LN2W, P_LN2B, P_FCW, P_FCB, P_FCPROJW, P_FCPROJB, P_LNFW, P_LNFB
};

// 1 if parameter tensor i is stacked per layer ((L, ...): P_LN1W..P_FCPROJB), 0 for wte, wpe, ln_f.
int gpt_is_layer_tensor(int i);

// Tensor names of a Hugging Face GPT-2 checkpoint, without the "transformer." prefix.
// Fills name/shape for parameter tensor index i (0..NUM_PARAMETER_TENSORS-1) and layer l
// (ignored for wte, wpe, ln_f); returns the number of dims (1 or 2). The shape is one layer's.
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

// Sets *model up for cfg as gpt_build does, with the parameter buffer allocated but not
// initialised (gpt_load reads a checkpoint into it); gpt_free releases it. A cfg that fails
// gpt_config_check is a fatal error.
void gpt_alloc_params(GPT* model, GPTConfig cfg);

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
// none on biases and LayerNorm. beta1 0.9, beta2 0.95, eps 1e-8 are what the training step (lib/step.c) passes.
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

// ---- Hugging Face checkpoints (lib/checkpoint.c) ----

// Loads DIR/config.json and DIR/model.safetensors (a Hugging Face GPT-2 folder, with or without
// the "transformer." prefix; F32, or F16/BF16 converted to F32). Checks names, dtypes, shapes,
// offsets and finiteness; a config field asking for something this GPT does not compute (another
// model_type or activation_function, scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn,
// ...) is refused with the field named.
// Returns 0, or -1 with err filled ("DIR/model.safetensors: ..."); model is untouched on failure.
// On success *model is overwritten as by gpt_build (an earlier model in it is not freed).
int gpt_load(GPT* model, const char* dir, char* err, size_t errlen);
// Reads and checks DIR/config.json alone, as gpt_load does (before any large read). 0 or -1.
int gpt_load_config(const char* dir, GPTConfig* cfg, char* err, size_t errlen);

// Writes DIR/config.json, DIR/generation_config.json and DIR/model.safetensors (creating DIR), each
// through atomic_open/atomic_commit. eot is the end-of-text token id, written as bos_token_id and
// eos_token_id (-1: none, left out). Refuses (returns -1) if any parameter is non-finite.
int gpt_save(const GPT* model, const char* dir, int eot, char* err, size_t errlen);

// ---- the transformer block ----
// nanoGPT's Block: x + attn(ln_1(x)), then that + mlp(ln_2(that)), with mlp = c_proj(gelu(c_fc)).
// One block's activations (or their gradients) for (B, T): views of layer l of ActivationTensors
// (block_acts), or of any buffers of these shapes (the cached decoding's scratch).
typedef struct {
    float* x;         // (B, T, C)      block input: encoded (l = 0) or block l-1's residual3
    float* ln1;       // (B, T, C)      ln_1(x)
    float* ln1_mean;  // (B, T)
    float* ln1_rstd;  // (B, T)
    float* qkv;       // (B, T, 3C)     ln1 · c_attn
    float* atty;      // (B, T, C)      attention output
    float* att_stats; // (B, NH, T, 2)  each query row's max score and 1/sum (attention_*_stats)
    float* attproj;   // (B, T, C)      atty · attn.c_proj
    float* residual2; // (B, T, C)      x + attproj
    float* ln2;       // (B, T, C)      ln_2(residual2)
    float* ln2_mean;  // (B, T)
    float* ln2_rstd;  // (B, T)
    float* fch;       // (B, T, 4C)     ln2 · mlp.c_fc
    float* fch_gelu;  // (B, T, 4C)
    float* fcproj;    // (B, T, C)      fch_gelu · mlp.c_proj
    float* residual3; // (B, T, C)      residual2 + fcproj: the block's output
} BlockActs;

// One block's parameters (or their gradients): views of layer l of ParameterTensors.
typedef struct {
    float *ln1w, *ln1b;         // (C), (C)
    float *qkvw, *qkvb;         // (C, 3C), (3C)
    float *attprojw, *attprojb; // (C, C), (C)
    float *ln2w, *ln2b;         // (C), (C)
    float *fcw, *fcb;           // (C, 4C), (4C)
    float *fcprojw, *fcprojb;   // (4C, C), (C)
} BlockParams;

// Layer l's views, for activations laid out for (B, T) (model->acts, model->grads_acts).
BlockActs block_acts(const ActivationTensors* a, const GPTConfig* cfg, size_t l, size_t B, size_t T);
BlockParams block_params(const ParameterTensors* p, const GPTConfig* cfg, size_t l);

// The kernels a block's forward runs, and its attention step. The model's forward runs the
// build's backend (the CPU kernels of lib/layers.h, or gpu.h's in the GPU build) with causal
// attention over the block's own T positions (attention_forward_stats); the cached decoding runs
// the CPU kernels, its attention reading and extending the key/value cache.
typedef struct {
    void (*layernorm_forward)(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                              const float* bias, size_t B, size_t T, size_t C);
    void (*matmul_forward)(float* out, const float* inp, const float* weight, const float* bias, size_t B,
                           size_t T, size_t C, size_t OC, GemmPrecision prec);
    void (*gelu_forward)(float* out, const float* inp, size_t N);
    void (*residual_forward)(float* out, const float* inp1, const float* inp2, size_t N);
    // atty (B,T,C) from qkv (B,T,3C), writing att_stats (B,NH,T,2) where the backward needs them
    void (*attention)(void* ctx, float* atty, float* att_stats, const float* qkv, size_t B, size_t T, size_t C,
                      size_t NH, GemmPrecision prec);
    void* ctx;          // the attention's state (NULL for the model's forward)
    GemmPrecision prec; // the products' inputs (GPT.precision)
} BlockOps;

// The block on (B, T): fills a from a->x, in the order ln_1, c_attn, attention, attn.c_proj,
// residual, ln_2, c_fc, gelu, mlp.c_proj, residual. Views may share storage where a step's
// output is no longer read by the later steps (the cached decoding does so).
void block_forward(BlockActs* a, const BlockParams* p, size_t B, size_t T, size_t C, size_t NH,
                   const BlockOps* ops);

// Backward of block_forward on the build's backend: from d->residual3 (B,T,C), accumulates (+=)
// into d->x and the parameter gradients g. The other views of d receive the intermediate
// gradients, also by +=, so they must hold zeros on entry (gpt_backward zeroes them all). a and p
// are the forward's activations and parameters.
void block_backward(BlockActs* d, BlockParams* g, const BlockActs* a, const BlockParams* p, size_t B, size_t T,
                    size_t C, size_t NH, GemmPrecision prec);

// ---- incremental decoding with a key/value cache, and sampling (lib/generate.c) ----
// Generation without recomputing the prefix for every new token: the cache keeps each layer's
// keys and values of the positions seen so far, for B independent rows (sequences) of up to
// max_len positions each. A decoding step appends one token to each row and costs one token's
// forward pass (matrix-vector products, and attention over the row's cached positions) instead
// of a forward over the whole prefix. The arithmetic is gpt_forward's, row by row (the same
// block_forward and kernels, sums in the same order), so the logits equal the full forward's at every position
// (tests/model.c checks it). In the GPU build the decoding steps still run on the host (the model's
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

// Generates up to n tokens after the prompt (np >= 1 tokens) with a key/value cache: each new
// token costs one position's forward, not the whole prefix's. Up to T (<= max_seq_len) tokens
// the context is the whole sequence, exactly as a full forward per token; when the T positions
// are full the cache restarts from the last T/2 tokens (so a long sample sees between T/2 and T
// tokens of context); a prompt longer than T is cut to its last T tokens. Stops after sampling
// `stop` (-1: never), which is kept as the last token. Returns a malloc'd array of *len tokens
// starting with the prompt; rng is the sampler's state.
int* gpt_generate(GPT* model, const int* prompt, int np, int n, size_t T, float temperature, int top_k, int stop,
                  uint64_t* rng, int* len);


#endif // MODEL_H
