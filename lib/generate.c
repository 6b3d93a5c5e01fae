// generate.c: generation: the key/value cache (gpt_kv_init, gpt_kv_prefill, gpt_kv_decode; API and
// contracts in model.h), which runs the model's block (block_forward) one new position per row
// with attention over the cache, and sample_logits.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../model.h"

// Floats of one step's activations for B rows (views carved in kv_views).
static size_t kv_scratch_floats(const GPTConfig* cfg, size_t B, size_t max_len) {
    size_t C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads, V = (size_t)cfg->vocab_size;
    return B * (16 * C + 2 + 2 * NH * max_len + V);
}

// One step's activations for up to B rows of one position each: the block's views, sharing
// storage where block_forward no longer reads a step's output (ln_2 overwrites ln_1, the MLP's
// projection the attention's, the block's output its input), and ln_f in ln_1's storage.
typedef struct {
    BlockActs blk;                    // as (1, n): n = the stepping rows, one position each
    float *lnf, *lnf_mean, *lnf_rstd; // (n, C), (n), (n)
    float *pre, *att;                 // (B, NH, max_len) attention scores and weights
    float* logits;                    // (n, V) logits of the stepping rows, compact
} KVViews;

static KVViews kv_views(const GPTKVCache* cache, const GPTConfig* cfg) {
    size_t B = cache->B, C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads;
    float* p = cache->scratch;
    KVViews w;
    BlockActs* b = &w.blk;
    b->x = b->residual3 = p, p += B * C;
    b->ln1 = b->ln2 = w.lnf = p, p += B * C;
    b->ln1_mean = b->ln2_mean = w.lnf_mean = p, p += B;
    b->ln1_rstd = b->ln2_rstd = w.lnf_rstd = p, p += B;
    b->qkv = p, p += B * 3 * C;
    b->atty = p, p += B * C;
    b->attproj = b->fcproj = p, p += B * C;
    b->residual2 = p, p += B * C;
    b->fch = p, p += B * 4 * C;
    b->fch_gelu = p, p += B * 4 * C;
    b->att_stats = NULL; // the decoding has no backward
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
        gpt_forward_hidden(model, tokens + b0 * T, nb, T); // ends with a sync: the host reads qkv and lnf
        // keys and values of each row's prompt positions, from each block's qkv (nb, T, 3C)
        for (size_t l = 0; l < L; l++) {
            const float* qkv = block_acts(&model->acts, cfg, l, nb, T).qkv;
            for (size_t i = 0; i < nb; i++)
                for (size_t t = 0; t < (size_t)lens[b0 + i]; t++) {
                    const float* src = qkv + (i * T + t) * 3 * C;
                    size_t dst = ((l * B + b0 + i) * cache->max_len + t) * C;
                    memcpy(cache->k + dst, src + C, C * sizeof(float));
                    memcpy(cache->v + dst, src + 2 * C, C * sizeof(float));
                }
        }
        // the LM head runs below on each row's last position only
        for (size_t i = 0; i < nb; i++) {
            memcpy(w.lnf + (b0 + i) * C, model->acts.lnf + (i * T + (size_t)lens[b0 + i] - 1) * C, C * sizeof(float));
            cache->len[b0 + i] = lens[b0 + i];
        }
    }
    lm_head_forward(cache->logits, w.lnf, model->params.wte, 1, B, C, V, model->precision);
    return cache->logits;
}

// The decoding's attention step (BlockOps.attention) for layer l: appends each stepping row's new
// key and value to the cache, then attends over the row's cached positions.
typedef struct {
    GPTKVCache* cache;
    size_t l;
    float *pre, *att; // (B, NH, max_len) scratch
} KVStep;

static void kv_attention(void* ctx, float* atty, float* att_stats, const float* qkv, size_t B, size_t T, size_t C,
                         size_t NH, GemmPrecision prec) {
    (void)att_stats;
    KVStep* s = ctx;
    GPTKVCache* cache = s->cache;
    size_t n = B * T, ML = cache->max_len, C3 = 3 * C;
    float* kc = cache->k + s->l * cache->B * ML * C; // this layer's (B, max_len, C)
    float* vc = cache->v + s->l * cache->B * ML * C;
    for (size_t i = 0; i < n; i++) {
        size_t dst = (cache->rows[i] * ML + (size_t)cache->len[cache->rows[i]]) * C;
        memcpy(kc + dst, qkv + i * C3 + C, C * sizeof(float));
        memcpy(vc + dst, qkv + i * C3 + 2 * C, C * sizeof(float));
    }
    attention_forward_cached(atty, s->pre, s->att, qkv, kc, vc, cache->rows, cache->len, n, C, NH, ML, prec);
}

const float* gpt_kv_decode(GPT* model, GPTKVCache* cache, const int* tokens) {
    const GPTConfig* cfg = &model->config;
    size_t L = (size_t)cfg->num_layers, C = (size_t)cfg->channels, NH = (size_t)cfg->num_heads;
    size_t V = (size_t)cfg->vocab_size, ML = cache->max_len;
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
    for (size_t i = 0; i < n; i++) { // encoder_forward of one position per row
        const float* te = p.wte + (size_t)tokens[rows[i]] * C;
        const float* pe = p.wpe + (size_t)cache->len[rows[i]] * C;
        for (size_t c = 0; c < C; c++) w.blk.x[i * C + c] = te[c] + pe[c];
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
    // the CPU kernels (the cache is host memory, in the GPU build too), the n rows as (1, n)
    KVStep step = {cache, 0, w.pre, w.att};
    BlockOps ops = {layernorm_forward, matmul_forward, gelu_forward, residual_forward, kv_attention, &step,
                    model->precision};
    for (size_t l = 0; l < L; l++) {
        step.l = l;
        BlockParams l_params = block_params(&p, cfg, l);
        block_forward(&w.blk, &l_params, 1, n, C, NH, &ops);
    }
#ifdef _OPENMP
    if (one_thread) omp_set_num_threads(threads);
#endif
    layernorm_forward(w.lnf, w.lnf_mean, w.lnf_rstd, w.blk.residual3, p.lnfw, p.lnfb, 1, n, C);
    lm_head_forward(w.logits, w.lnf, p.wte, 1, n, C, V, model->precision);
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

int* gpt_generate(GPT* model, const int* prompt, int np, int n, size_t T, float temperature, int top_k, int stop,
                  uint64_t* rng, int* len) {
    int* seq = malloc_check((size_t)(np + n) * sizeof(int));
    memcpy(seq, prompt, (size_t)np * sizeof(int));
    int V = model->config.vocab_size;
    GPTKVCache kv;
    gpt_kv_init(&kv, &model->config, 1, T);
    int ctx = (size_t)np < T ? np : (int)T;
    const float* logits = gpt_kv_prefill(model, &kv, seq + np - ctx, &ctx, (size_t)ctx);
    int i = np;
    while (i < np + n) {
        seq[i] = sample_logits(logits, V, temperature, top_k, rng);
        if (seq[i++] == stop || i == np + n) break;
        if ((size_t)kv.len[0] < T) {
            logits = gpt_kv_decode(model, &kv, &seq[i - 1]);
        } else { // the context is full: restart the cache from the last T/2 tokens
            int keep = T / 2 > 0 ? (int)(T / 2) : 1;
            logits = gpt_kv_prefill(model, &kv, seq + i - keep, &keep, (size_t)keep);
        }
    }
    gpt_kv_free(&kv);
    *len = i;
    return seq;
}
