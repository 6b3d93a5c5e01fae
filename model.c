// model.c: the GPT-2 model of model.h: tensor layouts (parameters, activations, one block's views),
// build and init, the transformer block, forward, backward, AdamW, the memory estimate and the
// non-finite search. The layer kernels it chains are in lib/layers.c, Hugging Face checkpoints in
// lib/checkpoint.c, the key/value cache and sampling in lib/generate.c.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#ifdef USE_CUBLAS
#include "lib/gpu.h"
#endif

// ---- tensor layouts: parameters and activations ----

// Hugging Face name (after "h.{l}." for per-layer tensors) of each parameter tensor.
static const char* const tensor_suffix[NUM_PARAMETER_TENSORS] = {
    "wte.weight",         "wpe.weight",        "ln_1.weight",     "ln_1.bias",
    "attn.c_attn.weight", "attn.c_attn.bias",  "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight",        "ln_2.bias",         "mlp.c_fc.weight", "mlp.c_fc.bias",
    "mlp.c_proj.weight",  "mlp.c_proj.bias",   "ln_f.weight",     "ln_f.bias"};

int gpt_is_layer_tensor(int i) { return i != P_WTE && i != P_WPE && i != P_LNFW && i != P_LNFB; }

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
    if (gpt_is_layer_tensor(i)) snprintf(name, len, "h.%d.%s", l, tensor_suffix[i]);
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
        sizes[i] = gpt_is_layer_tensor(i) ? n * (size_t)cfg->num_layers : n;
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

// ---- the backend, and build ----

// The build picks the backend. CPU: the layer kernels of lib/layers.c, buffers on the heap. GPU (make
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

static size_t param_count(const GPTConfig* cfg) {
    size_t sizes[NUM_PARAMETER_TENSORS], n = 0;
    fill_param_sizes(sizes, cfg);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) n += sizes[i];
    return n;
}

void gpt_alloc_params(GPT* model, GPTConfig cfg) {
    char err[256];
    if (gpt_config_check(&cfg, err, sizeof err)) fatal("gpt_alloc_params: %s", err);
    memset(model, 0, sizeof *model);
    model->config = cfg;
    fill_param_sizes(model->param_sizes, &cfg);
    model->num_parameters = param_count(&cfg);
    model->params_memory = model_alloc(model->num_parameters * sizeof(float));
    point_parameters(&model->params, model->params_memory, model->param_sizes);
    model->mean_loss = -1.0f;
}

void gpt_build(GPT* model, GPTConfig cfg, uint64_t seed) {
    char err[256];
    if (gpt_config_check(&cfg, err, sizeof err)) fatal("gpt_build: %s", err);
    gpt_alloc_params(model, cfg);
    uint64_t rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    float std = 0.02f;
    // GPT-2 scales the residual projections by 1/sqrt(2L): each block adds two of them to the stream
    float proj_std = 0.02f / sqrtf(2.0f * (float)cfg.num_layers);
    float* p = model->params_memory;
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

// ---- the transformer block (model.h) ----

// Layer l's slice of each (L, ...) activation, strided by the (B, T) of the forward that fills
// them (not by the allocated capacity), so that layer l's (B, T, C) rows are contiguous.
BlockActs block_acts(const ActivationTensors* a, const GPTConfig* cfg, size_t l, size_t B, size_t T) {
    size_t C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads, BT = B * T, BTC = B * T * C;
    BlockActs b;
    b.x = l == 0 ? a->encoded : a->residual3 + (l - 1) * BTC;
    b.ln1 = a->ln1 + l * BTC;
    b.ln1_mean = a->ln1_mean + l * BT;
    b.ln1_rstd = a->ln1_rstd + l * BT;
    b.qkv = a->qkv + l * BTC * 3;
    b.atty = a->atty + l * BTC;
    b.att_stats = a->att_stats + l * B * NH * T * 2;
    b.attproj = a->attproj + l * BTC;
    b.residual2 = a->residual2 + l * BTC;
    b.ln2 = a->ln2 + l * BTC;
    b.ln2_mean = a->ln2_mean + l * BT;
    b.ln2_rstd = a->ln2_rstd + l * BT;
    b.fch = a->fch + l * BTC * 4;
    b.fch_gelu = a->fch_gelu + l * BTC * 4;
    b.fcproj = a->fcproj + l * BTC;
    b.residual3 = a->residual3 + l * BTC;
    return b;
}

BlockParams block_params(const ParameterTensors* p, const GPTConfig* cfg, size_t l) {
    size_t C = (size_t)cfg->channels;
    BlockParams b;
    b.ln1w = p->ln1w + l * C;
    b.ln1b = p->ln1b + l * C;
    b.qkvw = p->qkvw + l * C * 3 * C;
    b.qkvb = p->qkvb + l * 3 * C;
    b.attprojw = p->attprojw + l * C * C;
    b.attprojb = p->attprojb + l * C;
    b.ln2w = p->ln2w + l * C;
    b.ln2b = p->ln2b + l * C;
    b.fcw = p->fcw + l * C * 4 * C;
    b.fcb = p->fcb + l * 4 * C;
    b.fcprojw = p->fcprojw + l * 4 * C * C;
    b.fcprojb = p->fcprojb + l * C;
    return b;
}

// residual2 = x + attn.c_proj(attention(c_attn(ln_1(x)))),
// residual3 = residual2 + mlp.c_proj(gelu(mlp.c_fc(ln_2(residual2)))).
void block_forward(BlockActs* a, const BlockParams* p, size_t B, size_t T, size_t C, size_t NH,
                   const BlockOps* ops) {
    size_t BTC = B * T * C;
    ops->layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->x, p->ln1w, p->ln1b, B, T, C);
    ops->matmul_forward(a->qkv, a->ln1, p->qkvw, p->qkvb, B, T, C, 3 * C, ops->prec);
    ops->attention(ops->ctx, a->atty, a->att_stats, a->qkv, B, T, C, NH, ops->prec);
    ops->matmul_forward(a->attproj, a->atty, p->attprojw, p->attprojb, B, T, C, C, ops->prec);
    ops->residual_forward(a->residual2, a->x, a->attproj, BTC);
    ops->layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->residual2, p->ln2w, p->ln2b, B, T, C);
    ops->matmul_forward(a->fch, a->ln2, p->fcw, p->fcb, B, T, C, 4 * C, ops->prec);
    ops->gelu_forward(a->fch_gelu, a->fch, BTC * 4);
    ops->matmul_forward(a->fcproj, a->fch_gelu, p->fcprojw, p->fcprojb, B, T, 4 * C, C, ops->prec);
    ops->residual_forward(a->residual3, a->residual2, a->fcproj, BTC);
}

// The gradient flows back through the same steps in reverse; each residual splits it into the
// skip path and the branch, and d->x collects both of the block's skip paths.
void block_backward(BlockActs* d, BlockParams* g, const BlockActs* a, const BlockParams* p, size_t B, size_t T,
                    size_t C, size_t NH, GemmPrecision prec) {
    size_t BTC = B * T * C;
    LAYER(residual_backward)(d->residual2, d->fcproj, d->residual3, BTC);
    LAYER(matmul_backward)(d->fch_gelu, g->fcprojw, g->fcprojb, d->fcproj, a->fch_gelu, p->fcprojw, B, T, 4 * C, C,
                           prec);
    LAYER(gelu_backward)(d->fch, a->fch, d->fch_gelu, BTC * 4);
    LAYER(matmul_backward)(d->ln2, g->fcw, g->fcb, d->fch, a->ln2, p->fcw, B, T, C, 4 * C, prec);
    LAYER(layernorm_backward)(d->residual2, g->ln2w, g->ln2b, d->ln2, a->residual2, p->ln2w, a->ln2_mean,
                              a->ln2_rstd, B, T, C);
    LAYER(residual_backward)(d->x, d->attproj, d->residual2, BTC);
    LAYER(matmul_backward)(d->atty, g->attprojw, g->attprojb, d->attproj, a->atty, p->attprojw, B, T, C, C, prec);
    LAYER(attention_backward_stats)(d->qkv, d->atty, a->qkv, a->att_stats, B, T, C, NH, prec);
    LAYER(matmul_backward)(d->ln1, g->qkvw, g->qkvb, d->qkv, a->ln1, p->qkvw, B, T, C, 3 * C, prec);
    LAYER(layernorm_backward)(d->x, g->ln1w, g->ln1b, d->ln1, a->x, p->ln1w, a->ln1_mean, a->ln1_rstd, B, T, C);
}

// The model's attention: causal over the block's own positions, on the build's backend.
static void causal_attention(void* ctx, float* atty, float* att_stats, const float* qkv, size_t B, size_t T,
                             size_t C, size_t NH, GemmPrecision prec) {
    (void)ctx;
    LAYER(attention_forward_stats)(atty, att_stats, qkv, B, T, C, NH, prec);
}

static const BlockOps backend_ops = {LAYER(layernorm_forward), LAYER(matmul_forward), LAYER(gelu_forward),
                                     LAYER(residual_forward), causal_attention, NULL, GEMM_FP32};

// ---- forward and backward ----

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
    LAYER(encoder_forward)(a.encoded, inputs, p.wte, p.wpe, B, T, C);
    BlockOps ops = backend_ops;
    ops.prec = model->precision;
    for (size_t l = 0; l < L; l++) {
        BlockActs l_acts = block_acts(&a, cfg, l, B, T);
        BlockParams l_params = block_params(&p, cfg, l);
        block_forward(&l_acts, &l_params, B, T, C, NH, &ops);
    }
    const float* out = block_acts(&a, cfg, L - 1, B, T).residual3;
    LAYER(layernorm_forward)(a.lnf, a.lnf_mean, a.lnf_rstd, out, p.lnfw, p.lnfb, B, T, C);
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
    LAYER(lm_head_forward)(a.logits, a.lnf, model->params.wte, B, T, C, V, model->precision);
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
    if (layer == 0) return model->acts.encoded;
    if (layer == L) return model->acts.lnf;
    return block_acts(&model->acts, &model->config, (size_t)(layer - 1), model->batch_size, model->seq_len).residual3;
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
    // the seed d(objective)/d(losses): the caller's, or 1/num_valid for the mean loss; 0 where ignored
    float* dl = d.losses;
    for (size_t i = 0; i < B * T; i++) {
        if (model->targets[i] < 0) dl[i] = 0.0f;
        else dl[i] = dlosses ? dlosses[i] : 1.0f / (float)model->num_valid;
    }
    LAYER(crossentropy_backward)(d.logits, dl, a.logits, a.lse, model->targets, B, T, V);
    LAYER(lm_head_backward)(d.lnf, g.wte, d.logits, a.lnf, p.wte, B, T, C, V, model->precision);
    BlockActs last = block_acts(&a, cfg, L - 1, B, T), dlast = block_acts(&d, cfg, L - 1, B, T);
    LAYER(layernorm_backward)(dlast.residual3, g.lnfw, g.lnfb, d.lnf, last.residual3, p.lnfw, a.lnf_mean, a.lnf_rstd,
                              B, T, C);
    for (size_t l = L; l-- > 0;) {
        BlockActs l_acts = block_acts(&a, cfg, l, B, T), dl_acts = block_acts(&d, cfg, l, B, T);
        BlockParams l_params = block_params(&p, cfg, l), dl_params = block_params(&g, cfg, l);
        block_backward(&dl_acts, &dl_params, &l_acts, &l_params, B, T, C, NH, model->precision);
    }
    LAYER(encoder_backward)(g.wte, g.wpe, d.encoded, model->inputs, B, T, C);
    model_sync();
}

// ---- gradient clipping and AdamW ----

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

// ---- memory, faults, free ----

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
            gpt_tensor_name(&model->config, i, gpt_is_layer_tensor(i) ? (int)(j / (n / L)) : 0, t, sizeof t, shape);
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
