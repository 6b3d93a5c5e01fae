// train.c: the ./train command. Pre-trains a GPT-2 style model on a text (the built-in corpus by
// default), logging to a run folder (see README.md, "The run folder"); checkpoints, exact resume,
// samples; then the DPO stage (lib/dpo.c). What the stages share lives beside: the flag parser in
// lib/flags.c, the data and its loaders in data/dataset.c, the optimisation step in lib/step.c, the
// run folder's files (training state, CSV logs, progress, probes) in lib/run.c.
//
// Sections: configuration and flags; evaluation and sampling; the pre-training stage; throughput;
// main.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/dataset.h"
#include "lib/dpo.h"
#include "lib/flags.h"
#include "lib/gemm.h"
#include "lib/json.h"
#include "lib/run.h"
#include "lib/step.h"
#include "model.h"
#include "probes.h"
#include "tokenizer.h"

// ============================================================================
// Configuration and flags

// Model shapes by name. The default, tiny, is sized so that `./train` with no arguments
// pre-trains in about three minutes on two cores and still learns the corpus visibly.
typedef struct {
    const char* name;
    int L, C, H, T; // layers, channels, heads, context
    int B, steps;   // batch size and step count that suit the shape
    float lr;       // peak learning rate
} ModelPreset;

static const ModelPreset PRESETS[] = {
    {"tiny", 4, 128, 4, 64, 16, 1000, 2e-3f},
    {"small", 6, 384, 6, 256, 16, 2000, 1e-3f},
    {"gpt2", 12, 768, 12, 1024, 4, 5000, 6e-4f},
};
#define NUM_PRESETS (sizeof PRESETS / sizeof PRESETS[0])

typedef struct {
    // data
    const char* input; // text file or folder of .txt files; NULL = the built-in corpus
    float val_frac;    // fraction of the tokens, at the end, held out for validation
    int sequential;    // 1: batches are consecutive windows; 0: random windows
    int vocab;         // BPE vocabulary size to train (tokens; 256 bytes + merges + <|endoftext|>)
    // model
    const char* model; // preset name
    int L, C, H, T;    // overrides of the preset (-1 = preset, or the --init checkpoint)
    // optimisation
    int B;             // batch size (-1 = preset)
    int steps;         // optimisation steps (-1 = preset)
    float lr;          // peak learning rate (-1 = preset)
    int warmup;        // linear warm-up steps (-1 = 5% of steps)
    float min_lr_frac; // cosine decay ends at min_lr_frac * lr
    float wd;          // AdamW decoupled weight decay on 2-D tensors
    float clip;        // global gradient-norm clip (0 = off)
    uint64_t seed;     // initialisation, data order and sampling
    // running
    int threads;       // OpenMP threads (0 = all cores)
    int tf32;          // GPU build: matrix products in TF32 on tensor cores instead of fp32
    const char* precision; // the matrix products' inputs: "fp32" or "bf16" (lib/gemm.h)
    GemmPrecision prec;    // precision, parsed (precision_check)
    int eval_every;    // val loss every N steps (0 = only at the end)
    int eval_batches;  // batches of B windows in the fixed val set
    int sample_every;  // a sample every N steps (0 = only at the end)
    int sample_len;    // tokens per sample
    float temperature; // sampling temperature (0 = greedy)
    int top_k;         // sample among the k most likely tokens (0 = all)
    int save_every;    // checkpoint every N steps (0 = only at the end)
    int pause_at;      // stop after this many steps with a checkpoint, to --resume later (0 = off)
    const char* out;   // run folder (NULL = runs/<input>-<model>)
    const char* resume; // run folder to continue from its train_state.bin
    const char* init;   // model folder to start from instead of a random initialisation
    int dry_run;        // print the configuration and memory estimate, then exit
    // probes (soft-entropy estimates of every hidden state, see probes.h)
    int probe_every;    // probe every N steps, plus step 0 and the end (-1 = steps/20: ~21 points; 0 = off)
    int probe_seqs;     // sequences of the trajectory set, length T, from the start of the val split
    int probe_final_seqs; // sequences of the final set, probed at the end of each stage (0 = none)
    int probe_bins;     // reference points of the estimator, per draw
    int probe_seeds;    // independent draws of the reference points (values are their mean)
    const char* probe_calibration; // gaussian (width-invariant), find_eps (soft_h) or leading_order
    int plot_corrected; // figures of value − permutation null instead of the raw plug-in values
    int probe_only;     // probe the --init model once and exit (no training)
    int ib_bound;       // IB curve of (token, next token) on the train split: DIR/ib_bound.csv, on the plane
    int help;           // print the usage and exit 0
    // DPO stage (see its section)
    const char* dpo;       // preference JSON Lines ("-" = stdin); NULL = built-in pairs with the built-in corpus
    int dpo_steps;         // DPO optimisation steps (0 = no DPO stage)
    int dpo_batch;         // preference pairs per step (2x sequences)
    float dpo_lr;          // peak DPO learning rate (warm-up 10%, cosine to min_lr_frac)
    float beta;            // DPO temperature: rewards are beta * log(pi / pi_ref)
    const char* dpo_loss;  // "sigmoid" (DPO) or "ipo"
    float label_smoothing; // conservative DPO: assumed probability that a label is flipped
    int skip_bad;          // skip malformed preference lines (counted) instead of stopping
    float dpo_val_frac;    // fraction of pairs held out for val accuracy
    int dpo_pairs;         // built-in preference pairs generated from the corpus grammar
    int dpo_eval_every;    // val accuracy (and probes) every N DPO steps; always after the last
    int dpo_prompts;       // held-out prompts whose sampled continuations measure the sentiment rate
    float peak_gflops;     // matmul limit for the summary's MFU (0 = measure our SGEMM at the end)
} TrainConfig;

// The defaults, one comment each above in TrainConfig.
static const TrainConfig DEFAULTS = {
    .input = NULL,
    .val_frac = 0.1f,
    .sequential = 0,
    .vocab = 1024,
    .model = "tiny",
    .L = -1,
    .C = -1,
    .H = -1,
    .T = -1,
    .B = -1,
    .steps = -1,
    .lr = -1.0f,
    .warmup = -1,
    .min_lr_frac = 0.1f,
    .wd = 0.1f,
    .clip = 1.0f,
    .seed = 1337,
    .threads = 0,
    .tf32 = 0,
    .precision = "fp32",
    .eval_every = 100,
    .eval_batches = 8,
    .sample_every = 400,
    .sample_len = 200,
    .temperature = 0.8f,
    .top_k = 40,
    .save_every = 200,
    .pause_at = 0,
    .out = NULL,
    .resume = NULL,
    .init = NULL,
    .dry_run = 0,
    .probe_every = -1,
    .probe_seqs = 64,
    .probe_final_seqs = 448,
    .probe_bins = 100,
    .probe_seeds = 1,
    .probe_calibration = "gaussian",
    .plot_corrected = 0,
    .probe_only = 0,
    .ib_bound = 0,
    .help = 0,
    .dpo = NULL,
    .dpo_steps = 40,
    .dpo_batch = 16,
    .dpo_lr = 1e-4f,
    .beta = 0.1f,
    .dpo_loss = "sigmoid",
    .label_smoothing = 0.0f,
    .skip_bad = 0,
    .dpo_val_frac = 0.1f,
    .dpo_pairs = 800,
    .dpo_eval_every = 20,
    .dpo_prompts = 64,
    .peak_gflops = 0.0f,
};

// One row per flag (lib/flags.h): the parser, the usage text and the --resume rules all read this table.
#define OFF(f) offsetof(TrainConfig, f)
static const FlagSpec FLAGS[] = {
    {"--input", ARG_STR, OFF(input), 0, 0, 0, "FILE|DIR", "training text, or a folder of .txt files"},
    {"--val-frac", ARG_FLOAT, OFF(val_frac), 0.001, 0.5, 0, "F", "fraction held out for validation (the end)"},
    {"--vocab", ARG_INT, OFF(vocab), 257, TOK_MAX_VOCAB, 0, "N", "BPE vocabulary trained on the input"},
    {"--sequential", ARG_SWITCH, OFF(sequential), 0, 1, 0, "", "consecutive windows instead of random ones"},
    {"--model", ARG_STR, OFF(model), 0, 0, 0, "NAME", "tiny (L4 C128 H4 T64), small (L6 C384 H6 T256), gpt2"},
    {"-L", ARG_INT, OFF(L), 1, 128, 0, "N", "layers (overrides the preset)"},
    {"-C", ARG_INT, OFF(C), 1, 16384, 0, "N", "channels"},
    {"-H", ARG_INT, OFF(H), 1, 1024, 0, "N", "attention heads (must divide C)"},
    {"-T", ARG_INT, OFF(T), 2, 65536, 0, "N", "context length"},
    {"-B", ARG_INT, OFF(B), 1, 65536, 0, "N", "batch size (sequences per step)"},
    {"--steps", ARG_INT, OFF(steps), 1, 1e9, 0, "N", "optimisation steps"},
    {"--lr", ARG_FLOAT, OFF(lr), 1e-9, 1e9, 0, "F", "peak learning rate"},
    {"--warmup", ARG_INT, OFF(warmup), 0, 1e9, 0, "N", "linear warm-up steps"},
    {"--min-lr-frac", ARG_FLOAT, OFF(min_lr_frac), 0, 1, 0, "F", "final lr as a fraction of the peak (cosine)"},
    {"--wd", ARG_FLOAT, OFF(wd), 0, 10, 0, "F", "AdamW weight decay (2-D tensors only)"},
    {"--clip", ARG_FLOAT, OFF(clip), 0, 1e9, 0, "F", "gradient-norm clip (0 = off)"},
    {"--seed", ARG_U64, OFF(seed), 0, 0, 0, "N", "seed of initialisation, data order, samples"},
    {"--threads", ARG_INT, OFF(threads), 0, 4096, 1, "N", "OpenMP threads (0 = all cores)"},
    {"--precision", ARG_STR, OFF(precision), 0, 0, 0, "NAME", "fp32, or bf16: matrix products on bf16 inputs with fp32 sums"},
    {"--tf32", ARG_SWITCH, OFF(tf32), 0, 1, 1, "", "GPU build: TF32 tensor-core matrix products (fp32 otherwise)"},
    {"--eval-every", ARG_INT, OFF(eval_every), 0, 1e9, 1, "N", "val loss every N steps (0 = at the end only)"},
    {"--eval-batches", ARG_INT, OFF(eval_batches), 1, 1e6, 0, "N", "batches in the fixed val set"},
    {"--sample-every", ARG_INT, OFF(sample_every), 0, 1e9, 1, "N", "print a sample every N steps (0 = at the end only)"},
    {"--sample-len", ARG_INT, OFF(sample_len), 1, 1e6, 1, "N", "tokens per sample"},
    {"--temperature", ARG_FLOAT, OFF(temperature), 0, 100, 1, "F", "sampling temperature (0 = greedy)"},
    {"--top-k", ARG_INT, OFF(top_k), 0, 1e9, 1, "N", "sample among the k likeliest tokens (0 = all)"},
    {"--save-every", ARG_INT, OFF(save_every), 0, 1e9, 1, "N", "checkpoint every N steps (0 = at the end only)"},
    {"--pause-at", ARG_INT, OFF(pause_at), 0, 1e9, 1, "N", "checkpoint and stop after step N; --resume continues"},
    {"--out", ARG_STR, OFF(out), 0, 0, 0, "DIR", "run folder"},
    {"--resume", ARG_STR, OFF(resume), 0, 0, 1, "DIR", "continue the run in DIR exactly where it stopped"},
    {"--init", ARG_STR, OFF(init), 0, 0, 0, "DIR", "start from a model folder (config.json + model.safetensors)"},
    {"--dry-run", ARG_SWITCH, OFF(dry_run), 0, 1, 1, "", "print the configuration and memory estimate, exit"},
    {"--probe-every", ARG_INT, OFF(probe_every), 0, 1e9, 0, "N", "probe the hidden states every N steps (0 = off)"},
    {"--probe-seqs", ARG_INT, OFF(probe_seqs), 1, 1e6, 0, "N", "probe sequences at every probe step (length T, from the val split)"},
    {"--probe-final-seqs", ARG_INT, OFF(probe_final_seqs), 0, 1e6, 0, "N", "sequences probed at the end of each stage (0 = none)"},
    {"--probe-bins", ARG_INT, OFF(probe_bins), 2, 1e5, 0, "N", "reference points of the soft-entropy estimator"},
    {"--probe-seeds", ARG_INT, OFF(probe_seeds), 1, 1024, 0, "K", "independent draws of the reference points (mean and sd)"},
    {"--probe-calibration", ARG_STR, OFF(probe_calibration), 0, 0, 0, "NAME", "gaussian, find_eps (soft_h's) or leading_order"},
    {"--plot-corrected", ARG_SWITCH, OFF(plot_corrected), 0, 1, 1, "", "figures of value - permutation null, not the raw values"},
    {"--probe-only", ARG_SWITCH, OFF(probe_only), 0, 1, 0, "", "probe the --init model once, write the files, exit"},
    {"--ib-bound", ARG_SWITCH, OFF(ib_bound), 0, 1, 1, "", "Information Bottleneck curve of (token, next token), drawn on the plane"},
    {"--help", ARG_SWITCH, OFF(help), 0, 1, 1, "", "this text"},
    // DPO stage: runs after pre-training with --dpo, or with the built-in corpus (its own pairs)
    {"--dpo", ARG_STR, OFF(dpo), 0, 0, 1, "FILE|-", "preference pairs, JSON Lines (.gz via gzip -dc); with --init: DPO alone"},
    {"--dpo-steps", ARG_INT, OFF(dpo_steps), 0, 1e9, 1, "N", "DPO steps (0 = no DPO stage)"},
    {"--dpo-batch", ARG_INT, OFF(dpo_batch), 1, 4096, 1, "N", "preference pairs per DPO step"},
    {"--dpo-lr", ARG_FLOAT, OFF(dpo_lr), 1e-9, 10, 1, "F", "peak DPO learning rate"},
    {"--beta", ARG_FLOAT, OFF(beta), 1e-4, 100, 1, "F", "DPO beta (reward scale)"},
    {"--dpo-loss", ARG_STR, OFF(dpo_loss), 0, 0, 1, "NAME", "sigmoid (DPO) or ipo"},
    {"--label-smoothing", ARG_FLOAT, OFF(label_smoothing), 0, 0.49, 1, "F", "conservative DPO label noise (sigmoid)"},
    {"--skip-bad", ARG_SWITCH, OFF(skip_bad), 0, 1, 1, "", "skip malformed preference lines instead of stopping"},
    {"--dpo-val-frac", ARG_FLOAT, OFF(dpo_val_frac), 0.01, 0.5, 1, "F", "fraction of pairs held out for val accuracy"},
    {"--dpo-pairs", ARG_INT, OFF(dpo_pairs), 2, 1e6, 1, "N", "built-in preference pairs (built-in corpus only)"},
    {"--dpo-eval-every", ARG_INT, OFF(dpo_eval_every), 1, 1e9, 1, "N", "val accuracy and probes every N DPO steps"},
    {"--dpo-prompts", ARG_INT, OFF(dpo_prompts), 0, 1e5, 1, "N", "prompts sampled for the sentiment rate (0 = off)"},
    {"--peak-gflops", ARG_FLOAT, OFF(peak_gflops), 0, 1e9, 1, "F", "matmul limit for MFU (0 = time our SGEMM at the end)"},
};
#define NUM_FLAGS (sizeof FLAGS / sizeof FLAGS[0])

// The usage's default of a flag whose value is "auto" (a negative number, a NULL string).
static const char* auto_default(const FlagSpec* fs) {
    switch (fs->offset) {
    case OFF(warmup): return "5% of steps";
    case OFF(probe_every): return "steps/20";
    case OFF(input): return "built-in corpus";
    case OFF(out): return "runs/<input>-<model>";
    case OFF(dpo): return "built-in pairs with the built-in corpus";
    default: return fs->type == ARG_STR ? "none" : "preset";
    }
}

// Writes the usage: every flag with its default, then the presets.
static void print_usage(FILE* f) {
    fprintf(f, "usage: ./train [flags]   pre-trains a GPT-2 style model; with no flags, on the built-in corpus\n\n");
    flags_print_usage(f, FLAGS, NUM_FLAGS, &DEFAULTS, auto_default);
    fprintf(f, "\npresets (batch, steps, lr):\n");
    for (size_t i = 0; i < NUM_PRESETS; i++) {
        const ModelPreset* p = &PRESETS[i];
        fprintf(f, "  %-6s L%d C%d H%d T%d   B%d, %d steps, lr %g\n", p->name, p->L, p->C, p->H, p->T, p->B,
                p->steps, (double)p->lr);
    }
    fprintf(f, "\nexit status: 0 done (or paused/interrupted with a checkpoint), 1 runtime error, 2 usage error\n");
}

// Fills cfg from the command line: the defaults, then the flags. given[i] says whether FLAGS[i]
// appeared.
static void parse_args(TrainConfig* cfg, unsigned char* given, int argc, char** argv) {
    *cfg = DEFAULTS;
    flags_parse(FLAGS, NUM_FLAGS, cfg, given, argc, argv);
}

// Whether the flag `name` appeared on the command line.
static int flag_given(const unsigned char* given, const char* name) { return flags_given(FLAGS, NUM_FLAGS, given, name); }

// The shape and schedule a run actually uses, after presets, overrides and --init are applied.
typedef struct {
    GPTConfig gpt;          // model shape (max_seq_len = n_positions)
    int T, B, steps, warmup; // training context, batch, steps, warm-up
    float lr;
} RunShape;

// Applies the preset and overrides; validates what a flag can get wrong (exit 2). init_cfg is
// the --init checkpoint's config or NULL. V is the data's vocabulary size.
static RunShape resolve_shape(const TrainConfig* cfg, const GPTConfig* init_cfg, int V) {
    const ModelPreset* p = NULL;
    for (size_t i = 0; i < NUM_PRESETS; i++)
        if (strcmp(PRESETS[i].name, cfg->model) == 0) p = &PRESETS[i];
    if (!p) error_usage("--model: unknown preset '%s' (tiny, small, gpt2)", cfg->model);
    RunShape s;
    if (init_cfg) {
        // the checkpoint fixes the architecture; a flag may only repeat it
        s.gpt = *init_cfg;
        if ((cfg->L > 0 && cfg->L != init_cfg->num_layers) || (cfg->C > 0 && cfg->C != init_cfg->channels) ||
            (cfg->H > 0 && cfg->H != init_cfg->num_heads))
            error_usage("-L/-C/-H disagree with the --init checkpoint %s (L%d C%d H%d)", cfg->init,
                        init_cfg->num_layers, init_cfg->channels, init_cfg->num_heads);
        s.T = cfg->T > 0 ? cfg->T : (init_cfg->max_seq_len < p->T ? init_cfg->max_seq_len : p->T);
        if (s.T > init_cfg->max_seq_len)
            error_usage("-T %d exceeds n_positions %d of %s/config.json", s.T, init_cfg->max_seq_len, cfg->init);
        if (init_cfg->vocab_size != V)
            fatal("%s/config.json: vocab_size %d, but the data has a vocabulary of %d", cfg->init,
                  init_cfg->vocab_size, V);
    } else {
        s.gpt.num_layers = cfg->L > 0 ? cfg->L : p->L;
        s.gpt.channels = cfg->C > 0 ? cfg->C : p->C;
        s.gpt.num_heads = cfg->H > 0 ? cfg->H : p->H;
        s.T = cfg->T > 0 ? cfg->T : p->T;
        s.gpt.max_seq_len = s.T;
        s.gpt.vocab_size = V;
        if (s.gpt.channels % s.gpt.num_heads != 0)
            error_usage("C %d is not divisible by H %d", s.gpt.channels, s.gpt.num_heads);
    }
    s.B = cfg->B > 0 ? cfg->B : p->B;
    s.steps = cfg->steps > 0 ? cfg->steps : p->steps;
    s.lr = cfg->lr > 0.0f ? cfg->lr : p->lr;
    s.warmup = cfg->warmup >= 0 ? cfg->warmup : s.steps / 20;
    if (s.warmup >= s.steps) error_usage("--warmup %d must be less than --steps %d", s.warmup, s.steps);
    if (cfg->pause_at >= s.steps) error_usage("--pause-at %d must be less than --steps %d", cfg->pause_at, s.steps);
    if (cfg->probe_every != 0 && s.T < PROBE_FIRST + PROBE_TAIL + 1)
        error_usage("-T %d is too short for the probes, which need %d positions (or --probe-every 0)", s.T,
                    PROBE_FIRST + PROBE_TAIL + 1);
    if (cfg->probe_only && (!cfg->init || cfg->probe_every == 0))
        error_usage("--probe-only needs --init DIR and probes on (--probe-every not 0)");
    if (cfg->ib_bound && cfg->probe_every == 0) error_usage("--ib-bound draws on the probes' plot: it needs --probe-every not 0");
    char err[256];
    if (gpt_config_check(&s.gpt, err, sizeof err) != 0) error_usage("%s", err);
    return s;
}

// Reads n_layer, n_embd, n_head, n_positions, vocab_size from DIR/config.json (without loading
// the weights, so that flag errors are reported before any large read). Runtime error on failure.
static GPTConfig read_model_config(const char* dir) {
    char path[4096], err[512];
    path_join(path, sizeof path, dir, "config.json");
    size_t len = 0;
    char* text = read_file(path, &len, err, sizeof err);
    if (!text) fatal("%s", err);
    JsonValue root;
    if (json_parse(&root, text, len, err, sizeof err) != 0) fatal("%s: %s", path, err);
    static const char* keys[] = {"n_positions", "vocab_size", "n_layer", "n_head", "n_embd"};
    long long v[5];
    for (int i = 0; i < 5; i++) {
        if (json_get_int(&root, keys[i], &v[i]) != 0 || v[i] <= 0 || v[i] > INT_MAX)
            fatal("%s: missing or invalid \"%s\"", path, keys[i]);
    }
    json_free(&root);
    free(text);
    GPTConfig c = {(int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4]};
    if (gpt_config_check(&c, err, sizeof err) != 0) fatal("%s: %s", path, err);
    return c;
}

// ============================================================================
// Evaluation and sampling

// Mean cross-entropy (nats/token) over every target of the val set.
static double evaluate(GPT* model, const ValSet* vs) {
    double sum = 0.0;
    size_t count = 0;
    for (size_t b = 0; b < vs->num_batches; b++) {
        size_t off = b * vs->B * vs->T;
        gpt_forward(model, vs->inputs + off, vs->targets + off, vs->B, vs->T);
        sum += (double)model->mean_loss * (double)model->num_valid;
        count += model->num_valid;
    }
    return count ? sum / (double)count : NAN;
}

// Generates n tokens after the prompt (np tokens) with a key/value cache (model.h): each new
// token costs one position's forward, not the whole prefix's. Up to T tokens the context is the
// whole sequence, exactly as a full forward per token; when the T positions are full the cache
// restarts from the last T/2 tokens (so a long sample sees between T/2 and T tokens of context).
// Returns a malloc'd (np + n) array starting with the prompt. The sampling RNG is the run's own,
// separate from the data order.
static int* generate(GPT* model, const int* prompt, int np, int n, size_t T, float temperature, int top_k,
                     uint64_t* rng) {
    int* seq = malloc_check((size_t)(np + n) * sizeof(int));
    memcpy(seq, prompt, (size_t)np * sizeof(int));
    int V = model->config.vocab_size;
    GPTKVCache kv;
    gpt_kv_init(&kv, &model->config, 1, T);
    int ctx = (size_t)np < T ? np : (int)T;
    const float* logits = gpt_kv_prefill(model, &kv, seq + np - ctx, &ctx, (size_t)ctx);
    for (int i = np; i < np + n; i++) {
        seq[i] = sample_logits(logits, V, temperature, top_k, rng);
        if (i + 1 == np + n) break;
        if ((size_t)kv.len[0] < T) {
            logits = gpt_kv_decode(model, &kv, &seq[i]);
        } else {
            int keep = T / 2 > 0 ? (int)(T / 2) : 1;
            logits = gpt_kv_prefill(model, &kv, seq + i + 1 - keep, &keep, (size_t)keep);
        }
    }
    gpt_kv_free(&kv);
    return seq;
}

// Length of the valid UTF-8 sequence starting at s[0] (at most n bytes), or 0 if it is not one.
static size_t utf8_sequence(const unsigned char* s, size_t n) {
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xC2)) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

// Prints a sample: the decoded text of seq[0..n); control bytes other than newline and tab, and
// bytes that are not valid UTF-8 (a model may emit half a character), as \xNN.
static void print_sample(const char* title, const Tokenizer* tok, const int* seq, int n) {
    size_t len = 0;
    char* text = tok_decode(tok, seq, (size_t)n, &len);
    const unsigned char* u = (const unsigned char*)text;
    printf("---- %s\n", title);
    for (size_t i = 0; i < len;) {
        size_t k = utf8_sequence(u + i, len - i);
        if (k > 1 || (k == 1 && (u[i] == '\n' || u[i] == '\t' || (u[i] >= 32 && u[i] != 127)))) {
            fwrite(u + i, 1, k, stdout);
            i += k;
        } else {
            printf("\\x%02x", u[i]);
            i++;
        }
    }
    printf("\n----\n");
    fflush(stdout);
    free(text);
}

// A sample of the run's model from the start of a document (the prompt is "\n\n", the corpus's
// document separator), printed under title.
static void sample_and_print(GPT* model, const Tokenizer* tok, const TrainConfig* cfg, size_t T, uint64_t* rng,
                             const char* title) {
    size_t np = 0;
    int* prompt = tok_encode(tok, "\n\n", 2, &np);
    int* seq = generate(model, prompt, (int)np, cfg->sample_len, T, cfg->temperature, cfg->top_k, rng);
    print_sample(title, tok, seq + np, cfg->sample_len);
    free(seq);
    free(prompt);
}

// ============================================================================
// The pre-training stage

// Set by the SIGINT handler, read between steps: the one piece of state a signal may touch.
static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

// Everything a stage shares: the run's settings, folder, data and logs.
typedef struct {
    TrainConfig cfg;
    RunShape shape;
    char dir[4096];  // run folder
    Dataset data;
    GPT model;
    FILE* csv;       // DIR/train.csv, appending
    char csv_path[4200];
    int start_step;  // 0, or the step --resume continues from
    uint64_t loader_rng, loader_pos, sample_rng; // restored by --resume
    Probes probes;   // hidden-state probes (shared with later stages)
    char state_input[4096], state_model[32]; // --input and --model as read from train_state.bin
    double final_val_loss;
    double t_start;
    double step_seconds; // wall time of the timed pre-training steps (the first of this process is warm-up)
    int steps_timed;     // how many steps step_seconds covers
} Run;

// Fills a state header for the run at `step` (steps completed).
static TrainStateHeader state_header(const Run* run, int step, const DataLoader* dl, uint64_t sample_rng) {
    TrainStateHeader h;
    memset(&h, 0, sizeof h);
    const GPTConfig* g = &run->model.config;
    h.magic = STATE_MAGIC;
    h.version = STATE_VERSION;
    h.L = g->num_layers;
    h.C = g->channels;
    h.NH = g->num_heads;
    h.maxT = g->max_seq_len;
    h.V = g->vocab_size;
    h.T = run->shape.T;
    h.B = run->shape.B;
    h.steps = run->shape.steps;
    h.warmup = run->shape.warmup;
    h.sequential = run->cfg.sequential;
    h.threads = run->cfg.threads;
    h.step = step;
    h.eval_every = run->cfg.eval_every;
    h.eval_batches = run->cfg.eval_batches;
    h.sample_every = run->cfg.sample_every;
    h.save_every = run->cfg.save_every;
    h.probe_every = run->cfg.probe_every;
    h.probe_seqs = run->cfg.probe_seqs;
    h.probe_bins = run->cfg.probe_bins;
    h.precision = run->model.precision;
    snprintf(h.model, sizeof h.model, "%s", run->cfg.model);
    h.lr = run->shape.lr;
    h.min_lr_frac = run->cfg.min_lr_frac;
    h.wd = run->cfg.wd;
    h.clip = run->cfg.clip;
    h.val_frac = run->cfg.val_frac;
    h.seed = run->cfg.seed;
    h.data_hash = run->data.hash;
    h.num_parameters = run->model.num_parameters;
    h.loader_rng = dl->rng;
    h.loader_pos = dl->pos;
    h.sample_rng = sample_rng;
    if (run->cfg.input) snprintf(h.input, sizeof h.input, "%s", run->cfg.input);
    return h;
}

// Saves DIR/pretrain/ (the model folder) and DIR/train_state.bin after `step` completed steps.
static void save_checkpoint(const Run* run, int step, const DataLoader* dl, uint64_t sample_rng) {
    char path[4200], err[512];
    path_join(path, sizeof path, run->dir, "pretrain");
    if (gpt_save(&run->model, path, err, sizeof err) != 0) fatal("%s", err);
    char tok_path[4300];
    path_join(tok_path, sizeof tok_path, path, "tokenizer.json");
    if (tok_save_json(run->data.tok, tok_path, err, sizeof err) != 0) fatal("%s", err);
    TrainStateHeader h = state_header(run, step, dl, sample_rng);
    if (state_save(run->dir, &h, &run->model, err, sizeof err) != 0) fatal("%s", err);
}

// The advice of a numerical fault's message (train_step stops the run): which checkpoint is kept.
static void set_fault_hint(TrainStep* ts, const Run* run, int last_saved) {
    if (last_saved > 0)
        snprintf(ts->hint, sizeof ts->hint,
                 "stopping. The checkpoint of step %d in %s is kept (continue with --resume %s, perhaps with a lower "
                 "--lr in a new run).",
                 last_saved, run->dir, run->dir);
    else snprintf(ts->hint, sizeof ts->hint, "stopping. No checkpoint was written yet; try a lower --lr.");
}

// Ctrl-C sets `interrupted`; a second one ends the program at once.
static void catch_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0) fatal("sigaction: %s", strerror(errno));
}

// Pre-trains run->model for the configured steps: per step a batch, forward, then the shared step
// (backward, clip, AdamW). Evaluates, samples, logs and checkpoints on the way; on Ctrl-C or
// --pause-at saves and exits 0.
static void pretrain_stage(Run* run) {
    const TrainConfig* cfg = &run->cfg;
    const RunShape* s = &run->shape;
    GPT* model = &run->model;
    Dataset* ds = &run->data;
    size_t B = (size_t)s->B, T = (size_t)s->T;

    DataLoader train;
    loader_init(&train, ds->train, ds->n_train, B, T, cfg->sequential, cfg->seed);
    ValSet val;
    valset_init(&val, ds->val, ds->n_val, B, T, (size_t)cfg->eval_batches);
    uint64_t sample_rng = cfg->seed * 2654435761ull + 7;
    if (run->start_step > 0) {
        train.rng = run->loader_rng;
        train.pos = run->loader_pos;
        sample_rng = run->sample_rng;
    }
    TrainStep ts;
    train_step_init(&ts, s->steps, s->warmup, s->lr, cfg->min_lr_frac, cfg->wd, cfg->clip, "step", run->start_step);
    set_fault_hint(&ts, run, run->start_step);
    Progress pr;
    progress_init(&pr, run->start_step, s->steps, (double)(B * T));
    catch_sigint();

    for (int step = run->start_step; step < s->steps; step++) {
        double val_loss = NAN;
        if (cfg->eval_every > 0 && step % cfg->eval_every == 0) val_loss = evaluate(model, &val);
        if (probes_due(&run->probes, step)) probes_measure(&run->probes, model, step, "pretrain");
        if (cfg->sample_every > 0 && step > 0 && step % cfg->sample_every == 0) {
            char title[64];
            snprintf(title, sizeof title, "sample at step %d", step);
            progress_break(&pr);
            sample_and_print(model, ds->tok, cfg, T, &sample_rng, title);
        }

        double t0 = time_seconds();
        loader_next(&train);
        gpt_forward(model, train.inputs, train.targets, B, T);
        StepResult r = train_step(&ts, model, step, model->mean_loss, NULL, t0);
        double row[6] = {r.loss, val_loss, r.lr, r.norm, r.ms, (double)(B * T) / (r.ms / 1000.0)};
        log_row(run->csv, run->csv_path, step, "pretrain", row, 6);
        progress_step(&pr, step, r.loss, val_loss, r.lr, r.norm, r.ms);

        int done = step + 1;
        // (after the last step there is nothing to pause: the run finishes and saves as usual)
        int stop = done < s->steps && (interrupted || (cfg->pause_at > 0 && done == cfg->pause_at));
        if (done < s->steps && (stop || (cfg->save_every > 0 && done % cfg->save_every == 0))) {
            save_checkpoint(run, done, &train, sample_rng);
            set_fault_hint(&ts, run, done);
        }
        if (stop) {
            progress_break(&pr);
            printf("%s after step %d/%d; checkpoint saved in %s/\ncontinue with: ./train --resume %s\n",
                   interrupted ? "interrupted" : "paused", done, s->steps, run->dir, run->dir);
            exit(0);
        }
    }
    run->step_seconds = ts.seconds;
    run->steps_timed = ts.timed;

    // final evaluation, after the last update, logged as a row of its own
    run->final_val_loss = evaluate(model, &val);
    double row[6] = {NAN, run->final_val_loss, NAN, NAN, NAN, NAN};
    log_row(run->csv, run->csv_path, s->steps, "pretrain", row, 6);
    // the last probe row of the stage comes from exactly the weights saved for it
    probes_measure_end(&run->probes, model, s->steps, "pretrain");
    save_checkpoint(run, s->steps, &train, sample_rng);
    sample_and_print(model, ds->tok, cfg, T, &sample_rng, "final sample");
    probes_plot(&run->probes, run->dir);
    signal(SIGINT, SIG_DFL);
    loader_free(&train);
    valset_free(&val);
}

// --probe-only: probes the --init model once (step 0) and draws the figures; no training.
static void probe_only_stage(Run* run) {
    probes_measure_end(&run->probes, &run->model, 0, "pretrain");
    probes_plot(&run->probes, run->dir);
    printf("probed     %s in %.1f s: %s/probes.csv, probe_bins.safetensors, info_plane.svg, probes.svg\n",
           run->cfg.init, run->probes.seconds, run->dir);
}

// Whether the run has a DPO stage: --dpo, or the built-in corpus (its own pairs); --dpo-steps 0 = none.
static int dpo_wanted(const TrainConfig* cfg) { return cfg->dpo_steps > 0 && (cfg->dpo || !cfg->input); }

// Usage checks of the DPO flags, before any work (exit 2).
// --precision: fp32 or bf16, on the CPU backend (bf16 products are lib/gemm.c's; the GPU build has --tf32).
static void precision_check(TrainConfig* cfg, int gpu) {
    if (strcmp(cfg->precision, "fp32") == 0) cfg->prec = GEMM_FP32;
    else if (strcmp(cfg->precision, "bf16") == 0) cfg->prec = GEMM_BF16;
    else error_usage("--precision: unknown precision '%s' (fp32, bf16)", cfg->precision);
    if (cfg->prec == GEMM_BF16 && gpu)
        error_usage("--precision bf16 runs on the CPU build only (the GPU build has --tf32)");
}

static void dpo_check_flags(const TrainConfig* cfg) {
    if (strcmp(cfg->dpo_loss, "sigmoid") != 0 && strcmp(cfg->dpo_loss, "ipo") != 0)
        error_usage("--dpo-loss: unknown loss '%s' (sigmoid, ipo)", cfg->dpo_loss);
    if (strcmp(cfg->dpo_loss, "ipo") == 0 && cfg->label_smoothing > 0.0f)
        error_usage("--label-smoothing applies to the sigmoid loss only (IPO has no label-noise variant here)");
    if (cfg->dpo && strcmp(cfg->dpo, "-") != 0 && access(cfg->dpo, R_OK) != 0)
        fatal("%s: %s", cfg->dpo, strerror(errno)); // before pre-training spends minutes
}


// ============================================================================
// Throughput: achieved FLOP/s and MFU, as llm.c and nanoGPT report them

// The best of a few timed square SGEMMs (gemm.h, the kernels the model runs on, all threads): the
// matmul limit MFU is measured against, since a CPU has no vendor peak figure to quote. 1536^3 is
// 7.2 GFLOP per call, large enough to run near the kernel's peak (within a few percent of 2048^3
// here) and small enough to cost about 0.3 s for 8 timed calls; the best of 8 rather than of 3,
// because on a shared machine a single call can lose a quarter of its speed (183 vs 240 GFLOP/s
// measured in two runs of the default ./train a minute apart).
static double measure_sgemm_gflops(GemmPrecision prec) {
    const size_t n = 1536;
    float* a = malloc_check(n * n * sizeof(float));
    float* b = malloc_check(n * n * sizeof(float));
    float* c = malloc_check(n * n * sizeof(float));
    uint64_t rng = 1;
    for (size_t i = 0; i < n * n; i++) {
        a[i] = random_f32(&rng) - 0.5f;
        b[i] = random_f32(&rng) - 0.5f;
    }
    double best = 0.0;
    for (int r = 0; r < 9; r++) { // the first call is warm-up (page faults, packing buffers)
        double t0 = time_seconds();
        gemm_prec(prec, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = time_seconds() - t0;
        if (r > 0 && dt > 0.0 && 2.0 * (double)n * (double)n * (double)n / dt > best)
            best = 2.0 * (double)n * (double)n * (double)n / dt;
    }
    free(a);
    free(b);
    free(c);
    return best * 1e-9;
}

// Prints tokens/s, GFLOP/s and MFU of the timed pre-training steps. FLOPs per step are
// (6 N' + 12 L C T) B T (the PaLM paper's appendix B count, as nanoGPT's estimate_mfu): 6 per
// parameter per token for forward + backward, N' without the position embedding (a lookup, no
// multiply), plus attention's scores and weighted sum, 12 L C T per token.
static void print_throughput(const Run* run) {
    if (run->steps_timed == 0 || run->step_seconds <= 0.0) return;
    const GPTConfig* g = &run->model.config;
    double L = g->num_layers, C = g->channels, T = run->shape.T, BT = (double)run->shape.B * T;
    double nprime = (double)run->model.num_parameters - (double)g->max_seq_len * C;
    double flops = (6.0 * nprime + 12.0 * L * C * T) * BT;
    double s_per_step = run->step_seconds / run->steps_timed;
    double gflops = flops / s_per_step * 1e-9;
    int measured = run->cfg.peak_gflops <= 0.0f;
    double peak = measured ? measure_sgemm_gflops(run->model.precision) : (double)run->cfg.peak_gflops;
    printf("           throughput %.1f ms/step, %.0f tokens/s, %.1f GFLOP/s (%.1f GFLOP/step, mean of %d steps)\n",
           s_per_step * 1e3, BT / s_per_step, gflops, flops * 1e-9, run->steps_timed);
    if (peak > 0.0)
        printf("           MFU %.1f%% of %.1f GFLOP/s, %s\n", 100.0 * gflops / peak, peak,
               !measured ? "given by --peak-gflops"
               : run->model.precision == GEMM_BF16
                   ? "our bf16 GEMM 1536^3 on these threads, measured now (--peak-gflops F to set it)"
                   : "our SGEMM 1536^3 on these threads, measured now (--peak-gflops F to set it)");
}

// ============================================================================
// main

// Sets the OpenMP thread count (0 = all cores) and returns it.
static int setup_threads(int threads) {
#ifdef _OPENMP
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    return threads;
#else
    (void)threads;
    return 1;
#endif
}

// Resolves the run folder: --resume DIR, --out DIR, or runs/<data>-<model>.
static void resolve_dir(Run* run) {
    const TrainConfig* cfg = &run->cfg;
    if (cfg->resume) snprintf(run->dir, sizeof run->dir, "%s", cfg->resume);
    else if (cfg->out) snprintf(run->dir, sizeof run->dir, "%s", cfg->out);
    else {
        // runs/<data>-<model>, the model being the preset or the --init folder's name
        char init[4096] = "";
        if (cfg->init) {
            snprintf(init, sizeof init, "%s", cfg->init);
            size_t l = strlen(init);
            while (l > 1 && init[l - 1] == '/') init[--l] = '\0';
        }
        const char* slash = strrchr(init, '/');
        const char* model = cfg->init ? (slash ? slash + 1 : init) : cfg->model;
        int w = snprintf(run->dir, sizeof run->dir, "runs/%s-%s", run->data.name, model);
        if (w < 0 || (size_t)w >= sizeof run->dir) fatal("run folder name too long");
    }
}

// --resume: reads the state, takes the run's settings from it (refusing flags that would change
// the trajectory), and restores parameters, moments, RNG and data position.
static void resume_run(Run* run, const unsigned char* given) {
    for (size_t i = 0; i < NUM_FLAGS; i++)
        if (given[i] && !FLAGS[i].on_resume)
            error_usage("%s cannot be combined with --resume (the run's settings come from %s/train_state.bin)",
                        FLAGS[i].name, run->cfg.resume);
    TrainStateHeader h;
    float *params, *m, *v;
    state_load(run->cfg.resume, &h, &params, &m, &v);
    TrainConfig* cfg = &run->cfg;
    h.model[sizeof h.model - 1] = '\0';
    memcpy(run->state_input, h.input, sizeof run->state_input);
    memcpy(run->state_model, h.model, sizeof run->state_model);
    cfg->input = run->state_input[0] ? run->state_input : NULL;
    cfg->sequential = h.sequential;
    cfg->min_lr_frac = (float)h.min_lr_frac;
    cfg->wd = (float)h.wd;
    cfg->clip = (float)h.clip;
    cfg->val_frac = (float)h.val_frac;
    cfg->seed = h.seed;
    cfg->eval_batches = h.eval_batches;
    cfg->model = run->state_model;
    if (!flag_given(given, "--eval-every")) cfg->eval_every = h.eval_every;
    if (!flag_given(given, "--sample-every")) cfg->sample_every = h.sample_every;
    if (!flag_given(given, "--save-every")) cfg->save_every = h.save_every;
    cfg->probe_every = h.probe_every;
    cfg->probe_seqs = h.probe_seqs;
    cfg->probe_bins = h.probe_bins;
    if (h.precision != GEMM_FP32 && h.precision != GEMM_BF16)
        fatal("%s/train_state.bin: unknown precision %d", cfg->resume, h.precision);
    cfg->prec = (GemmPrecision)h.precision;
    if (!flag_given(given, "--threads")) cfg->threads = h.threads;
    char tok_path[4200];
    path_join(tok_path, sizeof tok_path, cfg->resume, "pretrain/tokenizer.json");
    dataset_load(&run->data, cfg->input, cfg->vocab, cfg->val_frac, tok_path);
    if (run->data.hash != h.data_hash)
        fatal("%s/train_state.bin: the data (%s) differs from the data the run was trained on", cfg->resume,
              run->data.source);
    run->shape.gpt = (GPTConfig){h.maxT, h.V, h.L, h.NH, h.C};
    run->shape.T = h.T;
    run->shape.B = h.B;
    run->shape.steps = h.steps;
    run->shape.warmup = h.warmup;
    run->shape.lr = (float)h.lr;
    if (cfg->pause_at > 0 && cfg->pause_at <= h.step)
        error_usage("--pause-at %d: the run is already at step %d", cfg->pause_at, h.step);
    if (h.step >= h.steps) {
        printf("%s: the run already finished its %d steps; nothing to resume\n", cfg->resume, h.steps);
        exit(0);
    }
    gpt_build(&run->model, run->shape.gpt, h.seed);
    if (run->model.num_parameters != h.num_parameters)
        fatal("%s/train_state.bin: %llu parameters, the model has %zu", cfg->resume,
              (unsigned long long)h.num_parameters, run->model.num_parameters);
    memcpy(run->model.params_memory, params, h.num_parameters * sizeof(float));
    free(params);
    gpt_alloc_training_state(&run->model);
    memcpy(run->model.m_memory, m, h.num_parameters * sizeof(float));
    memcpy(run->model.v_memory, v, h.num_parameters * sizeof(float));
    free(m);
    free(v);
    run->start_step = h.step;
    run->loader_rng = h.loader_rng;
    run->loader_pos = h.loader_pos;
    run->sample_rng = h.sample_rng;
    cfg->threads = setup_threads(cfg->threads);
    if (cfg->threads != h.threads)
        printf("note: %d threads now, %d before: the losses may differ from an uninterrupted run in the last bits\n",
               cfg->threads, h.threads);
}

// A fresh run (or --init): the data, the shape, then a random or loaded model.
static void new_run(Run* run, const unsigned char* given) {
    TrainConfig* cfg = &run->cfg;
    cfg->threads = setup_threads(cfg->threads);
    GPTConfig init_cfg;
    char tok_path[4200];
    if (cfg->init) {
        init_cfg = read_model_config(cfg->init);
        if (flag_given(given, "--vocab"))
            error_usage("--vocab cannot be combined with --init (the tokenizer is %s/tokenizer.json)", cfg->init);
        path_join(tok_path, sizeof tok_path, cfg->init, "tokenizer.json");
    }
    dataset_load(&run->data, cfg->input, cfg->vocab, cfg->val_frac, cfg->init ? tok_path : NULL);
    run->shape = resolve_shape(cfg, cfg->init ? &init_cfg : NULL, run->data.V);
    if (cfg->init) {
        char err[512];
        if (gpt_load(&run->model, cfg->init, err, sizeof err) != 0) fatal("%s", err);
    }
    // a fresh model is built by main once the memory estimate has been checked
}

// Checks that both splits hold a window of T+1 tokens.
static void check_data_fits(const Run* run) {
    size_t T = (size_t)run->shape.T, ntrain = run->data.n_train, nval = run->data.n_val;
    if (ntrain < T + 1 || nval < T + 1)
        fatal("%s: too little data for -T %zu: %zu train and %zu val tokens, each split needs at least %zu "
              "(use a smaller -T or a larger input)",
              run->data.source, T, ntrain, nval, T + 1);
}

static void print_config(const Run* run, size_t mem) {
    const RunShape* s = &run->shape;
    const TrainConfig* cfg = &run->cfg;
    char mem_s[32];
    format_bytes(mem_s, sizeof mem_s, (double)mem);
    size_t C = (size_t)s->gpt.channels, L = (size_t)s->gpt.num_layers, V = (size_t)s->gpt.vocab_size;
    size_t maxT = (size_t)s->gpt.max_seq_len;
    // parameter count from the shapes (the same sum gpt_build allocates)
    size_t nparams = V * C + maxT * C + L * (12 * C * C + 13 * C) + 2 * C;
    printf("forgetful: pre-training a GPT-2 style model\n");
    printf("data       %s: %zu tokens (BPE, V=%d), %zu train / %zu val\n", run->data.source,
           run->data.n_train + run->data.n_val, run->data.V, run->data.n_train, run->data.n_val);
    printf("model      %s%s: L%d C%d H%d T%d (n_positions %d), %.2fM parameters\n", cfg->init ? "from " : "",
           cfg->init ? cfg->init : cfg->model, s->gpt.num_layers, s->gpt.channels, s->gpt.num_heads, s->T,
           s->gpt.max_seq_len, (double)nparams / 1e6);
    printf("training   %d steps of B%d x T%d = %d tokens, lr %g (warm-up %d, cosine to %g), wd %g, clip %g\n",
           s->steps, s->B, s->T, s->B * s->T, (double)s->lr, s->warmup, (double)(s->lr * cfg->min_lr_frac),
           (double)cfg->wd, (double)cfg->clip);
    printf("memory     %s estimated (parameters, gradients, AdamW moments, activations%s)\n", mem_s,
           dpo_wanted(cfg) ? "; DPO's 2x batch and reference model" : "");
    printf("seed       %llu, threads %d\n", (unsigned long long)cfg->seed, cfg->threads);
    if (cfg->prec == GEMM_BF16)
        printf("precision  bf16 inputs to every matrix product, fp32 sums, weights, AdamW and activations: %s\n",
               gemm_bf16_path(GEMM_AUTO));
    printf("run folder %s/\n", run->dir);
    fflush(stdout);
}

// The DPO stage's settings from the flags (after --resume has restored the run's own); T is the
// context length (<= 0 for DPO alone: the model's n_positions).
static DPOConfig dpo_config(const TrainConfig* cfg, int T) {
    return (DPOConfig){
        .pairs = cfg->dpo,
        .steps = cfg->dpo_steps,
        .batch = cfg->dpo_batch,
        .T = T,
        .lr = cfg->dpo_lr,
        .min_lr_frac = cfg->min_lr_frac,
        .clip = cfg->clip,
        .beta = cfg->beta,
        .loss = cfg->dpo_loss,
        .label_smoothing = cfg->label_smoothing,
        .skip_bad = cfg->skip_bad,
        .val_frac = cfg->dpo_val_frac,
        .n_pairs = cfg->dpo_pairs,
        .eval_every = cfg->dpo_eval_every,
        .n_prompts = cfg->dpo_prompts,
        .precision = cfg->prec,
        .temperature = cfg->temperature,
        .top_k = cfg->top_k,
        .seed = cfg->seed,
    };
}

// Bytes the run needs: pre-training's, and the DPO stage's when there is one.
static size_t run_memory(const Run* run) {
    size_t mem = gpt_memory_estimate(&run->shape.gpt, (size_t)run->shape.B, (size_t)run->shape.T, 1);
    if (dpo_wanted(&run->cfg))
        mem = dpo_memory(&run->shape.gpt, mem, run->cfg.dpo_batch, run->shape.T,
                         run->cfg.dpo ? 0 : run->cfg.dpo_prompts);
    return mem;
}

// Prepares the run folder: the folder, the probes (and --ib-bound's curve), train.csv and
// baselines.csv.
static void open_run_folder(Run* run) {
    char err[512];
    if (make_dirs(run->dir, err, sizeof err) != 0) fatal("%s", err);
    const TrainConfig* cfg = &run->cfg;
    int probe_every = cfg->probe_every >= 0 ? cfg->probe_every : run->shape.steps / 20 > 0 ? run->shape.steps / 20 : 1;
    ProbeSettings ps = {.n_bins = cfg->probe_bins, .seeds = cfg->probe_seeds, .traj_seqs = cfg->probe_seqs,
                        .final_seqs = cfg->probe_final_seqs};
    if (probe_calibration_parse(cfg->probe_calibration, &ps.calibration) != 0)
        error_usage("--probe-calibration: unknown calibration '%s' (gaussian, find_eps, leading_order)",
                    cfg->probe_calibration);
    // a resumed run continues with its own bins file, whatever the defaults are now
    if (probe_every == 0 || run->start_step == 0 || probes_load(&run->probes, run->dir, &run->model.config,
                                                                (size_t)run->shape.B) != 0)
        probes_init(&run->probes, run->dir, run->data.val, run->data.n_val, &run->model.config, (size_t)run->shape.T,
                    (size_t)run->shape.B, probe_every, &ps, run->start_step);
    else {
        run->probes.every = probe_every;
        restart_csv(run->probes.csv, PROBE_CSV_HEADER, run->start_step, 0);
    }
    run->probes.corrected_plots = cfg->plot_corrected;
    if (cfg->ib_bound) probes_ib_bound(&run->probes, run->dir, run->data.train, run->data.n_train, cfg->probe_bins);
}

// Opens train.csv (continued on --resume), writes baselines.csv and prints the baselines.
static void open_logs(Run* run) {
    path_join(run->csv_path, sizeof run->csv_path, run->dir, "train.csv");
    run->csv = open_csv_log(run->csv_path, TRAIN_CSV_HEADER, run->start_step);
    dataset_write_baselines(&run->data, run->dir);
    const NgramStats* ng = &run->data.ngram;
    printf("baselines  val cross-entropy of n-gram models: unigram %.4f, bigram %.4f, trigram %.4f nats/token\n"
           "           (a fresh model starts near ln V = %.4f)\n",
           ng->h1, ng->h2, ng->h3, log((double)run->data.V));
    if (run->start_step > 0) printf("resuming   at step %d/%d\n", run->start_step, run->shape.steps);
}

// The closing summary: final val loss against the baselines, time, memory, throughput, probes.
static void print_summary(const Run* run) {
    const NgramStats* ng = &run->data.ngram;
    double wall = time_seconds() - run->t_start;
    char wall_s[32], rss_s[32];
    format_duration(wall_s, sizeof wall_s, wall);
    format_bytes(rss_s, sizeof rss_s, peak_rss());
    printf("summary    final val loss %.4f nats/token vs n-gram baselines: unigram %.4f, bigram %.4f, trigram %.4f\n",
           run->final_val_loss, ng->h1, ng->h2, ng->h3);
    printf("           wall time %s (%.1f s), peak RSS %s\n", wall_s, wall, rss_s);
    print_throughput(run);
    if (run->probes.every > 0)
        printf("           probes: %.1f s, %.1f%% of the wall time; %s/info_plane.svg, probes.svg, probes.csv\n",
               run->probes.seconds, 100.0 * run->probes.seconds / wall, run->dir);
    printf("           model in %s/pretrain/, log in %s/train.csv\n", run->dir, run->dir);
}

static void run_free(Run* run) {
    probes_free(&run->probes);
    gpt_free(&run->model);
    dataset_free(&run->data);
}

int main(int argc, char** argv) {
    Run run;
    memset(&run, 0, sizeof run);
    run.t_start = time_seconds();
    unsigned char given[NUM_FLAGS];
    parse_args(&run.cfg, given, argc, argv);
    int num_given = 0;
    for (size_t i = 0; i < NUM_FLAGS; i++) num_given += given[i];
    if (run.cfg.help && num_given == 1) {
        print_usage(stdout);
        return 0;
    }
    dpo_check_flags(&run.cfg);
    // the GPU build names its device here, or stops when there is none
    const char* device = gpt_backend_init(run.cfg.tf32);
    if (run.cfg.tf32 && !device) error_usage("--tf32 needs the GPU build (make USE_CUBLAS=1)");
    precision_check(&run.cfg, device != NULL);
    if (device) printf("device     %s (cuBLAS, %s matrix products)\n", device, run.cfg.tf32 ? "TF32" : "fp32");
    if (run.cfg.dpo && run.cfg.init && !run.cfg.help && !run.cfg.resume) { // DPO alone on a saved model
        run.cfg.threads = setup_threads(run.cfg.threads);
        DPOConfig dc = dpo_config(&run.cfg, run.cfg.T);
        dpo_standalone(&dc, run.cfg.init, run.cfg.out, run.cfg.threads, run.t_start);
        return 0;
    }

    // the model and data: continued, loaded, or fresh
    if (run.cfg.resume) resume_run(&run, given);
    else new_run(&run, given);
    resolve_dir(&run);
    check_data_fits(&run);
    size_t mem = run_memory(&run);
    if (run.cfg.help) { // --help with other flags: the usage, then what those flags would run
        print_usage(stdout);
        printf("\nwith these flags:\n");
        run.cfg.dry_run = 1;
    }
    print_config(&run, mem);
    if (run.cfg.dry_run) { // nothing more to do: free what was loaded (leak checks run on this path too)
        run_free(&run);
        return 0;
    }
    refuse_if_too_big(mem);
    if (!run.cfg.init && !run.cfg.resume) gpt_build(&run.model, run.shape.gpt, run.cfg.seed);
    run.model.precision = run.cfg.prec;

    open_run_folder(&run);
    if (run.cfg.probe_only) {
        probe_only_stage(&run);
        run_free(&run);
        return 0;
    }
    open_logs(&run);

    pretrain_stage(&run);
    if (dpo_wanted(&run.cfg)) { // on the model just saved in DIR/pretrain/
        char start[4200];
        path_join(start, sizeof start, run.dir, "pretrain");
        DPOConfig dc = dpo_config(&run.cfg, run.shape.T);
        dpo_stage(&dc, &run.model, run.dir, start, &run.probes);
    }

    print_summary(&run);
    if (fclose(run.csv) != 0) fatal("%s: %s", run.csv_path, strerror(errno));
    run_free(&run);
    return 0;
}
