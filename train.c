// train.c: the ./train command. Pre-trains a GPT-2 style model on a text (the built-in corpus by
// default), logging to a run folder (see RUN_FOLDER.md); checkpoints, exact resume, samples.
//
// Sections: configuration and flags; data; evaluation and sampling; logging and progress;
// training state (resume); the pre-training stage; the DPO stage; main.
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/corpus.h"
#include "data/prefs.h"
#include "data/shards.h"
#include "lib/gemm.h"
#include "lib/json.h"
#include "model.h"
#include "probes.h"
#include "lib/ib.h"
#include "lib/plot.h"
#include "tokenizer.h"

// ============================================================================
// Small helpers


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
    int probe_seqs;     // probe sequences of length T from the start of the val split
    int probe_bins;     // reference directions of the estimator
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
    .probe_bins = 100,
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

// One row per flag: the parser, the usage text and the --resume rules all read this table.
typedef enum { ARG_INT, ARG_U64, ARG_FLOAT, ARG_STR, ARG_SWITCH } ArgType;
typedef struct {
    const char* name;    // "--steps" or "-B"
    ArgType type;
    size_t offset;       // into TrainConfig
    double min, max;     // accepted range (numbers)
    int on_resume;       // 1: may be given with --resume (does not change the trajectory)
    const char* metavar; // shown in the usage
    const char* help;
} FlagSpec;

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
    {"--probe-seqs", ARG_INT, OFF(probe_seqs), 1, 1e6, 0, "N", "probe sequences (length T, from the val split)"},
    {"--probe-bins", ARG_INT, OFF(probe_bins), 2, 1e5, 0, "N", "reference directions of the soft-entropy estimator"},
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

// Prints a flag's default value from DEFAULTS, or the preset rule for the -1 ("auto") ones.
static void print_default(FILE* f, const FlagSpec* fs) {
    const char* base = (const char*)&DEFAULTS + fs->offset;
    switch (fs->type) {
    case ARG_INT: {
        int v = *(const int*)base;
        if (v < 0)
            fprintf(f, "%s", fs->offset == OFF(warmup) ? "5% of steps" : fs->offset == OFF(probe_every) ? "steps/20" : "preset");
        else fprintf(f, "%d", v);
        break;
    }
    case ARG_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t*)base); break;
    case ARG_FLOAT: {
        float v = *(const float*)base;
        if (v < 0.0f) fprintf(f, "preset");
        else fprintf(f, "%g", (double)v);
        break;
    }
    case ARG_STR: {
        const char* s = *(const char* const*)base;
        fprintf(f, "%s", s                             ? s
                       : fs->offset == OFF(input) ? "built-in corpus"
                       : fs->offset == OFF(out)   ? "runs/<input>-<model>"
                       : fs->offset == OFF(dpo)   ? "built-in pairs with the built-in corpus"
                                                  : "none");
        break;
    }
    case ARG_SWITCH: fprintf(f, "off"); break;
    }
}

// Writes the usage: every flag with its default, then the presets.
static void print_usage(FILE* f) {
    fprintf(f, "usage: ./train [flags]   pre-trains a GPT-2 style model; with no flags, on the built-in corpus\n\n");
    for (size_t i = 0; i < NUM_FLAGS; i++) {
        const FlagSpec* fs = &FLAGS[i];
        char left[64];
        snprintf(left, sizeof left, "%s %s", fs->name, fs->metavar);
        fprintf(f, "  %-20s %s (default: ", left, fs->help);
        print_default(f, fs);
        fprintf(f, ")\n");
    }
    fprintf(f, "\npresets (batch, steps, lr):\n");
    for (size_t i = 0; i < NUM_PRESETS; i++) {
        const ModelPreset* p = &PRESETS[i];
        fprintf(f, "  %-6s L%d C%d H%d T%d   B%d, %d steps, lr %g\n", p->name, p->L, p->C, p->H, p->T, p->B,
                p->steps, (double)p->lr);
    }
    fprintf(f, "\nexit status: 0 done (or paused/interrupted with a checkpoint), 1 runtime error, 2 usage error\n");
}

// A usage error: one line on stderr, exit status 2.
NORETURN static void error_usage(const char* fmt, ...) PRINTF_LIKE(1, 2);
NORETURN static void error_usage(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (./train --help lists the flags)\n");
    va_end(ap);
    exit(2);
}

// Parses a whole string as a number in [min, max]; anything else is a usage error naming the flag.
// (parse_number_arg in model.c does the parsing, so dev/fuzz/fuzz_flags.c can fuzz it.)
static double parse_number(const char* flag, const char* s, int integer, double min, double max) {
    double v;
    char err[512];
    if (parse_number_arg(s, integer, min, max, &v, err, sizeof err) != 0) error_usage("%s: %s", flag, err);
    return v;
}

// Fills cfg from the command line. given[i] says whether FLAGS[i] appeared.
static void parse_args(TrainConfig* cfg, unsigned char* given, int argc, char** argv) {
    *cfg = DEFAULTS;
    memset(given, 0, NUM_FLAGS);
    for (int a = 1; a < argc; a++) {
        const char* arg = argv[a];
        if (strcmp(arg, "-h") == 0) arg = "--help";
        const char* eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const FlagSpec* fs = NULL;
        size_t idx = 0;
        for (size_t i = 0; i < NUM_FLAGS; i++) {
            if (strlen(FLAGS[i].name) == name_len && strncmp(FLAGS[i].name, arg, name_len) == 0) {
                fs = &FLAGS[i];
                idx = i;
            }
        }
        if (!fs && arg[0] != '-') error_usage("unexpected argument '%s' (a training text goes after --input)", arg);
        if (!fs) error_usage("unknown flag '%s'", arg);
        if (given[idx]) error_usage("%s given twice", fs->name);
        given[idx] = 1;
        char* field = (char*)cfg + fs->offset;
        if (fs->type == ARG_SWITCH) {
            if (eq) error_usage("%s takes no value", fs->name);
            *(int*)field = 1;
            continue;
        }
        const char* val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!val) error_usage("%s needs a value (%s)", fs->name, fs->metavar);
        switch (fs->type) {
        case ARG_INT: *(int*)field = (int)parse_number(fs->name, val, 1, fs->min, fs->max); break;
        case ARG_FLOAT: *(float*)field = (float)parse_number(fs->name, val, 0, fs->min, fs->max); break;
        case ARG_U64: {
            char err[512];
            if (parse_u64_arg(val, (uint64_t*)field, err, sizeof err) != 0) error_usage("%s: %s", fs->name, err);
            break;
        }
        case ARG_STR:
            if (!*val) error_usage("%s: empty value", fs->name);
            *(const char**)field = val;
            break;
        case ARG_SWITCH: break;
        }
    }
}

// Whether the flag `name` appeared on the command line.
static int flag_given(const unsigned char* given, const char* name) {
    for (size_t i = 0; i < NUM_FLAGS; i++)
        if (strcmp(FLAGS[i].name, name) == 0) return given[i];
    return 0;
}

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
    if (cfg->probe_every != 0 && s.T < 6)
        error_usage("-T %d is too short for the probes, which need 6 positions (or --probe-every 0)", s.T);
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
// Data: text -> tokens -> a train split and a val split

// The built-in corpus: data/corpus.h's synthetic language, always from the same seed, so that
// --seed changes the model's initialisation and data order but not the data.
#define CORPUS_SEED 1337
// Tokenizers and token shards are cached here (relative to the working directory), keyed by a
// hash of the input text and the tokenizer; delete the folder to rebuild them.
#define CACHE_DIR ".cache"

typedef struct {
    Tokenizer* tok;   // byte-level BPE of the data
    char* tok_json;   // the tokenizer.json bytes (its identity in the shard cache key)
    size_t tok_json_len;
    int* train;       // (n_train) token ids
    int* val;         // (n_val) token ids
    size_t n_train, n_val;
    int V;            // vocabulary size
    uint64_t hash;    // cache key of text + tokenizer + split, to check that --resume sees the same data
    NgramStats ngram; // unigram/bigram/trigram cross-entropies on val (nats/token)
    char name[256];   // short name for the run folder ("corpus", "tinyshakespeare")
    char source[4096]; // what was read, for messages
} Dataset;

// FNV-1a 64 over bytes, continuing from h (start with FNV_OFFSET).
#define FNV_OFFSET 1469598103934665603ull
static uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
    const unsigned char* p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int* encode_with_tokenizer(void* ctx, const char* text, size_t len, size_t* n) {
    return tok_encode((const Tokenizer*)ctx, text, len, n);
}

// The tokenizer for text: loaded from tok_path when given (a model folder's tokenizer.json), else
// trained on the train side of the text to `vocab` tokens and cached in CACHE_DIR under a hash
// of text, vocab and split. Fills ds->tok and ds->tok_json. Runtime error on failure.
static void dataset_tokenizer(Dataset* ds, const char* text, size_t len, int vocab, double val_frac,
                              const char* tok_path) {
    char err[1024], path[4096];
    if (tok_path) {
        snprintf(path, sizeof path, "%s", tok_path);
    } else {
        uint64_t key = data_hash(DATA_HASH_INIT, text, len);
        key = data_hash(key, &vocab, sizeof vocab);
        key = data_hash(key, &val_frac, sizeof val_frac);
        char name[64];
        snprintf(name, sizeof name, "%016llx.tokenizer.json", (unsigned long long)key);
        path_join(path, sizeof path, CACHE_DIR, name);
        if (access(path, F_OK) != 0) {
            size_t split = data_split_text(text, len, val_frac, err, sizeof err);
            if (split == 0) fatal("%s: %s", ds->source, err);
            double t0 = time_seconds();
            Tokenizer* tok = tok_train(text, split, vocab, err, sizeof err);
            if (!tok) fatal("%s: %s", ds->source, err);
            if (make_dirs(CACHE_DIR, err, sizeof err) != 0 || tok_save_json(tok, path, err, sizeof err) != 0)
                fatal("%s", err);
            printf("tokenizer  trained a %d-token BPE on %zu bytes in %.2f s (cached in %s)\n", tok_vocab_size(tok),
                   split, time_seconds() - t0, path);
            tok_free(tok);
        }
    }
    ds->tok = tok_load_json(path, err, sizeof err);
    if (!ds->tok) fatal("%s", err);
    ds->tok_json = read_file(path, &ds->tok_json_len, err, sizeof err);
    if (!ds->tok_json) fatal("%s", err);
}

// Loads the data: the text (--input, or the built-in corpus), its tokenizer (tok_path, or trained
// and cached), the train/val token split (cached shards) and the n-gram baselines.
static void dataset_load(Dataset* ds, const TrainConfig* cfg, const char* tok_path) {
    memset(ds, 0, sizeof *ds);
    size_t len = 0;
    char* text;
    char err[1024];
    if (cfg->input) {
        text = data_read_input(cfg->input, &len, err, sizeof err);
        if (!text) fatal("%s", err);
        snprintf(ds->source, sizeof ds->source, "%s", cfg->input);
        char base[4096];
        snprintf(base, sizeof base, "%s", cfg->input);
        size_t bl = strlen(base);
        while (bl > 1 && base[bl - 1] == '/') base[--bl] = '\0';
        const char* slash = strrchr(base, '/');
        const char* name = slash && slash[1] ? slash + 1 : base;
        int w = snprintf(ds->name, sizeof ds->name, "%s", name);
        if (w < 0 || (size_t)w >= sizeof ds->name) ds->name[sizeof ds->name - 1] = '\0';
        char* dot = strrchr(ds->name, '.');
        if (dot && dot != ds->name) *dot = '\0';
    } else {
        text = corpus_generate(CORPUS_SEED, CORPUS_DEFAULT_BYTES, &len);
        snprintf(ds->source, sizeof ds->source, "built-in corpus (seed %d)", CORPUS_SEED);
        snprintf(ds->name, sizeof ds->name, "corpus");
    }
    dataset_tokenizer(ds, text, len, cfg->vocab, cfg->val_frac, tok_path);
    ds->V = tok_vocab_size(ds->tok);
    DataTokens dt;
    if (data_prepare_tokens(text, len, cfg->val_frac, CACHE_DIR, ds->tok_json, ds->tok_json_len, ds->V,
                            encode_with_tokenizer, ds->tok, &dt, err, sizeof err) != 0)
        fatal("%s", err);
    free(text);
    ds->train = dt.train;
    ds->val = dt.val;
    ds->n_train = dt.n_train;
    ds->n_val = dt.n_val;
    ds->hash = dt.key;
    if (ngram_entropies(ds->train, ds->n_train, ds->val, ds->n_val, ds->V, &ds->ngram, err, sizeof err) != 0)
        fatal("%s: %s", ds->source, err);
}

static void dataset_free(Dataset* ds) {
    free(ds->train);
    free(ds->val);
    free(ds->tok_json);
    tok_free(ds->tok);
}

// Writes DIR/baselines.csv: the n-gram cross-entropies the model's val loss is compared with.
static void write_baselines(const char* dir, const Dataset* ds) {
    char path[4200], err[1024];
    path_join(path, sizeof path, dir, "baselines.csv");
    AtomicFile af;
    if (atomic_open(&af, path, err, sizeof err) != 0) fatal("%s", err);
    fprintf(af.f, "model,val_loss_nats_per_token\nunigram,%.6f\nbigram,%.6f\ntrigram,%.6f\n", ds->ngram.h1,
            ds->ngram.h2, ds->ngram.h3);
    if (atomic_commit(&af, err, sizeof err) != 0) fatal("%s", err);
}

// Batches of B windows of T+1 tokens from one split: inputs are tokens [s, s+T), targets [s+1,
// s+T+1). Random windows come from the loader's own RNG, so the data order depends only on
// the seed; sequential windows advance pos and wrap.
typedef struct {
    const int* tokens; // the split
    size_t n;
    size_t B, T;
    int sequential;
    uint64_t rng;  // random windows: xorshift state (saved in train_state.bin)
    uint64_t pos;  // sequential windows: next start (saved in train_state.bin)
    int* inputs;   // (B, T)
    int* targets;  // (B, T)
} DataLoader;

static void loader_init(DataLoader* dl, const int* tokens, size_t n, size_t B, size_t T, int sequential,
                        uint64_t seed) {
    dl->tokens = tokens;
    dl->n = n;
    dl->B = B;
    dl->T = T;
    dl->sequential = sequential;
    dl->rng = seed ^ 0x9E3779B97F4A7C15ull;
    if (dl->rng == 0) dl->rng = 1;
    dl->pos = 0;
    dl->inputs = malloc_check(B * T * sizeof(int));
    dl->targets = malloc_check(B * T * sizeof(int));
}

static void loader_next(DataLoader* dl) {
    size_t span = dl->n - dl->T; // number of valid window starts (n >= T + 1)
    for (size_t b = 0; b < dl->B; b++) {
        size_t start;
        if (dl->sequential) {
            if (dl->pos >= span) dl->pos = 0;
            start = (size_t)dl->pos;
            dl->pos += dl->T;
        } else {
            uint64_t r = ((uint64_t)random_u32(&dl->rng) << 32) | random_u32(&dl->rng);
            start = (size_t)(r % span);
        }
        memcpy(dl->inputs + b * dl->T, dl->tokens + start, dl->T * sizeof(int));
        memcpy(dl->targets + b * dl->T, dl->tokens + start + 1, dl->T * sizeof(int));
    }
}

static void loader_free(DataLoader* dl) {
    free(dl->inputs);
    free(dl->targets);
}

// ============================================================================
// Evaluation and sampling

// The fixed val set: consecutive non-overlapping windows from the start of the val split, in
// batches of B (the last batch padded with ignored targets). Same windows at every evaluation.
typedef struct {
    int* inputs;  // (num_batches, B, T)
    int* targets; // (num_batches, B, T), -1 in padding rows
    size_t num_batches, num_windows, B, T;
} ValSet;

static void valset_init(ValSet* vs, const int* tokens, size_t n, size_t B, size_t T, size_t max_batches) {
    size_t avail = (n - 1) / T;
    size_t windows = avail < max_batches * B ? avail : max_batches * B;
    vs->B = B;
    vs->T = T;
    vs->num_windows = windows;
    vs->num_batches = (windows + B - 1) / B;
    vs->inputs = malloc_check(vs->num_batches * B * T * sizeof(int));
    vs->targets = malloc_check(vs->num_batches * B * T * sizeof(int));
    for (size_t w = 0; w < vs->num_batches * B; w++) {
        for (size_t t = 0; t < T; t++) {
            if (w < windows) {
                vs->inputs[w * T + t] = tokens[w * T + t];
                vs->targets[w * T + t] = tokens[w * T + t + 1];
            } else {
                vs->inputs[w * T + t] = tokens[t];
                vs->targets[w * T + t] = -1;
            }
        }
    }
}

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

static void valset_free(ValSet* vs) {
    free(vs->inputs);
    free(vs->targets);
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
// Logging and progress

// Memory the system can still give us (MemAvailable, or less under a cgroup limit), in bytes; 0 if
// unknown.
static size_t available_memory(void) { return memory_available(); }

static void format_bytes(char* buf, size_t len, double bytes);

// Bytes the DPO stage needs beyond pre-training's activations: the policy trains on 2B sequences
// (B = --dpo-batch pairs) of up to T tokens, and the frozen reference (its own parameters and
// forward activations) is alive while the reference log-probabilities are computed.
// n_prompts: the prompts sampled for the sentiment rate, whose KV cache (L, 2, n, T, C) and logits
// (n, V) live beside the policy (their prefill reuses the policy's activations, see gpt_kv_prefill).
static size_t dpo_memory(const GPTConfig* g, size_t pretrain_mem, int dpo_batch, int T, int n_prompts) {
    size_t n2 = 2 * (size_t)dpo_batch;
    size_t policy = gpt_memory_estimate(g, n2, (size_t)T, 1);
    size_t sampling = (size_t)n_prompts * sizeof(float) *
                      (2 * (size_t)g->num_layers * (size_t)T * (size_t)g->channels + (size_t)g->vocab_size);
    return (policy > pretrain_mem ? policy : pretrain_mem) + gpt_memory_estimate(g, n2, (size_t)T, 0) + sampling;
}

// Refuses (runtime error) a run whose estimate exceeds the memory available, before allocating.
static void refuse_if_too_big(size_t mem) {
    size_t avail = available_memory();
    if (avail > 0 && mem > avail) {
        char a[32], b[32];
        format_bytes(a, sizeof a, (double)mem);
        format_bytes(b, sizeof b, (double)avail);
        fatal("the run needs about %s but only %s is available; use a smaller -B, -T or model", a, b);
    }
}

static void format_bytes(char* buf, size_t len, double bytes) {
    if (bytes >= 1024.0 * 1024 * 1024) snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else snprintf(buf, len, "%.1f MiB", bytes / (1024.0 * 1024));
}

static void format_duration(char* buf, size_t len, double s) {
    if (!(s >= 0.0) || s > 1e8) {
        snprintf(buf, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}


#define TRAIN_CSV_HEADER "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s"

// Rewrites the CSV log at path with its header and, when resuming from step `keep_below`, only the
// complete pre-training rows of earlier steps (a crash may have logged steps past the checkpoint;
// those steps run again). A missing file is an error only when required.
static void restart_csv(const char* path, const char* header, int keep_below, int required) {
    char err[1024];
    char* old = NULL;
    size_t len = 0, hl = strlen(header);
    if (keep_below > 0) {
        old = read_file(path, &len, err, sizeof err);
        if (!old && required) fatal("%s (needed to continue the log on --resume)", err);
        if (old && (strncmp(old, header, hl) != 0 || old[hl] != '\n'))
            fatal("%s: unexpected header (not written by ./train)", path);
    }
    AtomicFile af;
    if (atomic_open(&af, path, err, sizeof err) != 0) fatal("%s", err);
    fprintf(af.f, "%s\n", header);
    if (old) {
        char* line = old + hl + 1;
        while (*line) {
            char* nl = strchr(line, '\n');
            size_t l = nl ? (size_t)(nl - line) : strlen(line);
            char* end = NULL;
            long step = strtol(line, &end, 10);
            if (nl && end != line && *end == ',' && step < keep_below && strncmp(end, ",pretrain,", 10) == 0)
                fwrite_check(line, 1, l + 1, af.f, path);
            line = nl ? nl + 1 : line + l;
        }
        free(old);
    }
    if (atomic_commit(&af, err, sizeof err) != 0) fatal("%s", err);
}

// Starts DIR/train.csv (see restart_csv) and opens it for appending.
static FILE* open_train_csv(const char* dir, int keep_below) {
    char path[4200];
    path_join(path, sizeof path, dir, "train.csv");
    restart_csv(path, TRAIN_CSV_HEADER, keep_below, 1);
    return fopen_check(path, "a");
}

// Appends one row; NAN fields are left empty (not measured at this step).
static void log_row(FILE* f, int step, const char* stage, double loss, double val_loss, double lr, double norm,
                    double ms, double tok_s) {
    double v[6] = {loss, val_loss, lr, norm, ms, tok_s};
    fprintf(f, "%d,%s", step, stage);
    for (int i = 0; i < 6; i++) {
        if (isnan(v[i])) fprintf(f, ",");
        else fprintf(f, ",%.6g", v[i]);
    }
    fprintf(f, "\n");
    if (fflush(f) != 0 || ferror(f)) fatal("writing train.csv: %s", strerror(errno));
}

// Progress on stdout: a live bar redrawn with \r on a terminal; plain lines every `every` steps
// (and at evaluations) otherwise, so that logs piped to a file stay readable.
typedef struct {
    int tty;
    int steps, every;
    double t0;        // wall time at the first step of this process
    int first_step;   // step at t0 (non-zero after --resume)
    double tokens_per_step;
} Progress;

static void progress_init(Progress* pr, int first_step, int steps, double tokens_per_step) {
    pr->tty = isatty(STDOUT_FILENO);
    pr->steps = steps;
    pr->every = steps / 25 > 0 ? steps / 25 : 1;
    pr->t0 = time_seconds();
    pr->first_step = first_step;
    pr->tokens_per_step = tokens_per_step;
}

// Reports step (0-based, just finished). val is NAN when not evaluated at this step.
static void progress_step(Progress* pr, int step, float loss, double val, float lr, float norm, double ms) {
    double elapsed = time_seconds() - pr->t0;
    int done = step + 1 - pr->first_step;
    double eta = done > 0 ? elapsed / done * (pr->steps - step - 1) : NAN;
    char eta_s[32], val_s[32];
    format_duration(eta_s, sizeof eta_s, eta);
    if (isnan(val)) snprintf(val_s, sizeof val_s, "      ");
    else snprintf(val_s, sizeof val_s, "%6.4f", val);
    double tok_s = pr->tokens_per_step / (ms / 1000.0);
    int last = step + 1 == pr->steps;
    if (pr->tty) {
        int width = 20, fill = (int)((double)(step + 1) / pr->steps * width);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        printf("\r[%s] %*d/%d loss %.4f val %s lr %.2e %6.1f ms %7.0f tok/s ETA %s\033[K", bar,
               (int)snprintf(NULL, 0, "%d", pr->steps), step + 1, pr->steps, (double)loss, val_s, (double)lr, ms,
               tok_s, eta_s);
        if (!isnan(val) || last) printf("\n");
    } else if (step % pr->every == 0 || !isnan(val) || last) {
        printf("step %*d/%d | loss %.4f | val %s | lr %.2e | norm %6.3f | %6.1f ms | %7.0f tok/s | ETA %s\n",
               (int)snprintf(NULL, 0, "%d", pr->steps), step + 1, pr->steps, (double)loss, val_s, (double)lr,
               (double)norm, ms, tok_s, eta_s);
    }
    fflush(stdout);
}

// Ends a live bar line before other output.
static void progress_break(const Progress* pr) {
    if (pr->tty) printf("\r\033[K");
}

// ============================================================================
// Training state: everything --resume needs to continue exactly, in one atomic file
//
// DIR/train_state.bin, native endianness:
//   TrainStateHeader (magic "FGST", version, run settings, step, RNG states, data position)
//   params, AdamW m, AdamW v: num_parameters float32 each
//   uint64 FNV-1a checksum of everything above
// The parameters live here too (not only in DIR/pretrain/), so one rename commits the whole state:
// a crash between two files can never pair weights of one step with moments of another.

#define STATE_MAGIC 0x54534746u // "FGST"
#define STATE_VERSION 1

typedef struct {
    uint32_t magic, version;
    int32_t L, C, NH, maxT, V; // model shape
    int32_t T, B, steps, warmup, sequential, threads;
    int32_t step; // completed steps: the next step to run
    int32_t eval_every, eval_batches, sample_every, save_every;
    int32_t probe_every, probe_seqs, probe_bins;
    double lr, min_lr_frac, wd, clip, val_frac;
    uint64_t seed, data_hash, num_parameters;
    uint64_t loader_rng, loader_pos, sample_rng;
    char model[32];   // --model preset name (for messages)
    char input[4096]; // --input of the run ("" = built-in corpus)
} TrainStateHeader;
_Static_assert(sizeof(TrainStateHeader) % 8 == 0, "header is a whole number of 8-byte words");

// Writes the state through a temporary file and a rename; returns 0 or -1 with err filled.
static int state_save(const char* dir, const TrainStateHeader* h, const GPT* model, char* err, size_t errlen) {
    char path[4096];
    path_join(path, sizeof path, dir, "train_state.bin");
    size_t N = model->num_parameters;
    const float* arrays[3] = {model->params_memory, model->m_memory, model->v_memory};
    for (int a = 0; a < 3; a++) {
        if (!arrays[a]) {
            set_err(err, errlen, "%s: the optimizer state is missing (no step taken)", path);
            return -1;
        }
        for (size_t i = 0; i < N; i++)
            if (!isfinite(arrays[a][i])) {
                set_err(err, errlen, "%s: refusing to save a non-finite value", path);
                return -1;
            }
    }
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    uint64_t sum = fnv1a(FNV_OFFSET, h, sizeof *h);
    int ok = fwrite(h, sizeof *h, 1, af.f) == 1;
    for (int a = 0; a < 3 && ok; a++) {
        sum = fnv1a(sum, arrays[a], N * sizeof(float));
        ok = fwrite(arrays[a], sizeof(float), N, af.f) == N;
    }
    ok = ok && fwrite(&sum, sizeof sum, 1, af.f) == 1;
    if (!ok) {
        set_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

// Reads DIR/train_state.bin's header, checking magic, version, size and checksum of the whole
// file; params/m/v (num_parameters floats each) are returned malloc'd. Runtime error on any fault.
static void state_load(const char* dir, TrainStateHeader* h, float** params, float** m, float** v) {
    char path[4096];
    path_join(path, sizeof path, dir, "train_state.bin");
    FILE* f = fopen(path, "rb");
    if (!f) fatal("%s: %s (is %s a run folder saved with --save-every or Ctrl-C?)", path, strerror(errno), dir);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) fatal("%s: %s", path, strerror(errno));
    if ((size_t)st.st_size < sizeof *h || fread(h, sizeof *h, 1, f) != 1)
        fatal("%s: truncated (%lld bytes, the header alone is %zu)", path, (long long)st.st_size, sizeof *h);
    if (h->magic != STATE_MAGIC) fatal("%s: not a training state (bad magic)", path);
    if (h->version != STATE_VERSION)
        fatal("%s: version %u, this ./train reads version %d", path, h->version, STATE_VERSION);
    h->input[sizeof h->input - 1] = '\0';
    GPTConfig c = {h->maxT, h->V, h->L, h->NH, h->C};
    char err[256];
    if (gpt_config_check(&c, err, sizeof err) != 0) fatal("%s: %s", path, err);
    uint64_t N = h->num_parameters;
    // the size must match exactly before anything large is allocated
    if (N == 0 || N > ((uint64_t)1 << 36) ||
        (uint64_t)st.st_size != sizeof *h + 3 * N * sizeof(float) + sizeof(uint64_t))
        fatal("%s: size %lld does not match %llu parameters (truncated or corrupt)", path, (long long)st.st_size,
              (unsigned long long)N);
    uint64_t sum = fnv1a(FNV_OFFSET, h, sizeof *h);
    float** arrays[3] = {params, m, v};
    for (int a = 0; a < 3; a++) {
        *arrays[a] = malloc_check(N * sizeof(float));
        fread_check(*arrays[a], sizeof(float), N, f, path);
        sum = fnv1a(sum, *arrays[a], N * sizeof(float));
    }
    uint64_t stored;
    fread_check(&stored, sizeof stored, 1, f, path);
    fclose(f);
    if (stored != sum) fatal("%s: checksum mismatch (the file is corrupt)", path);
    if (h->step < 0 || h->step > h->steps || h->B <= 0 || h->T <= 0 || h->T > h->maxT)
        fatal("%s: inconsistent step/batch fields", path);
}

// ============================================================================
// Probes: soft-entropy estimates of every hidden state on fixed sequences (probes.h)

typedef struct {
    int every;       // probe every N steps (0 = off)
    ProbeRun pr;     // estimator state: bins and per-layer accumulators
    int* tokens;     // (S, T) probe sequences: consecutive windows from the start of the val split
    size_t S, T, B;  // sequences, length, forward batch
    double seconds;  // wall time spent probing
    char csv[4200];  // DIR/probes.csv
    char bound[4200]; // DIR/ib_bound.csv with --ib-bound (drawn on info_plane.svg), else ""
} Probes;

// Prepares the probes of a run in dir: the sequences, the bins (written to probe_bins.safetensors)
// and probes.csv (restarted as train.csv is). every = 0 leaves them off.
static void probes_init(Probes* p, const char* dir, const Dataset* ds, const GPTConfig* g, size_t T, size_t B,
                        int every, int seqs, int bins, int keep_below) {
    memset(p, 0, sizeof *p);
    p->every = every;
    if (every == 0) return;
    size_t avail = (ds->n_val - 1) / T;
    p->S = (size_t)seqs < avail ? (size_t)seqs : avail;
    if (p->S < (size_t)seqs)
        printf("note: the val split holds %zu windows of %zu tokens, so the probes use %zu sequences, not %d\n", avail,
               T, p->S, seqs);
    p->T = T;
    p->B = B;
    p->tokens = malloc_check(p->S * T * sizeof(int));
    memcpy(p->tokens, ds->val, p->S * T * sizeof(int));
    probe_run_init(&p->pr, g->num_layers, g->channels, bins, 0);
    char path[4200], err[1024];
    path_join(path, sizeof path, dir, "probe_bins.safetensors");
    if (probe_bins_save(path, &p->pr.bins, p->tokens, p->S, T, err, sizeof err) != 0) fatal("%s", err);
    path_join(p->csv, sizeof p->csv, dir, "probes.csv");
    restart_csv(p->csv, PROBE_CSV_HEADER, keep_below, 0);
}

// Probes the model's current weights and appends one probes.csv row per hidden state.
static void probes_measure(Probes* p, GPT* model, int step, const char* stage) {
    if (p->every == 0) return;
    double t0 = time_seconds();
    probe_run_reset(&p->pr);
    for (size_t s0 = 0; s0 < p->S; s0 += p->B) {
        size_t nb = p->S - s0 < p->B ? p->S - s0 : p->B;
        gpt_forward_hidden(model, p->tokens + s0 * p->T, nb, p->T);
        probe_layers_add(&p->pr, model, p->tokens + s0 * p->T, nb, p->T);
    }
    char err[1024];
    if (probe_csv_append(p->csv, step, stage, &p->pr, err, sizeof err) != 0) fatal("%s", err);
    p->seconds += time_seconds() - t0;
}

// Whether step is a probe step (step 0 and every `every` steps; the end is probed separately).
static int probes_due(const Probes* p, int step) { return p->every > 0 && step % p->every == 0; }

// Draws DIR/info_plane.svg and DIR/probes.svg (and preference.svg after DPO) from the CSV logs.
static void probes_plot(const Probes* p, const char* dir) {
    if (p->every == 0) return;
    char err[1024];
    if (probe_plots_write(dir, p->bound[0] ? p->bound : NULL, err, sizeof err) != 0)
        fprintf(stderr, "warning: plots not written: %s\n", err);
}

// --ib-bound: the Information Bottleneck curve of X = current token, Y = next token on the train
// split, |T| = the probes' bin count (probes.h says what it bounds: representations of the current
// token alone, so a hidden state, which sees the whole context, may lie above it). Writes
// DIR/ib_bound.csv for the plots. Deterministic, so a resumed run recomputes the same curve.
static void probes_ib_bound(Probes* p, const char* dir, const Dataset* ds, int bins) {
    if (p->every == 0) return;
    char err[1024];
    IbJoint j;
    if (ib_joint_from_tokens(&j, ds->train, ds->n_train, 1, err, sizeof err) != 0) fatal("--ib-bound: %s", err);
    IbConfig c;
    ib_config_default(&c);
    c.n_bins = bins;
    IbCurve curve;
    if (ib_curve_compute(&j, &c, &curve, err, sizeof err) != 0) fatal("--ib-bound: %s", err);
    path_join(p->bound, sizeof p->bound, dir, "ib_bound.csv");
    if (ib_curve_write_csv(p->bound, &curve, err, sizeof err) != 0) fatal("%s", err);
    double norm = log((double)bins);
    const IbPoint* end = &curve.curve[curve.ncurve - 1];
    printf("ib bound   %d tokens -> next token, |T| = %d: I(X;Y) %.4f, curve up to I(X;T) %.4f, I(T;Y) %.4f "
           "(/ln %d), %zu points in %.1f s: %s\n",
           j.nx, bins, j.I_XY / norm, end->I_XT / norm, end->I_TY / norm, bins, curve.ncurve, curve.seconds, p->bound);
    ib_curve_free(&curve);
    ib_joint_free(&j);
}

static void probes_free(Probes* p) {
    if (p->every == 0) return;
    free(p->tokens);
    probe_run_free(&p->pr);
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

// Stops the run on a non-finite loss or gradient, naming the step; the last checkpoint stays.
NORETURN static void numerical_fault(const Run* run, int step, const char* what, int last_saved) {
    char tensor[128] = "";
    gpt_first_nonfinite(&run->model, tensor, sizeof tensor); // a parameter, an activation or a gradient
    fprintf(stderr, "\nerror: step %d: %s is not finite%s%s; stopping. ", step, what,
            *tensor ? ", first in " : "", tensor);
    if (last_saved > 0)
        fprintf(stderr, "The checkpoint of step %d in %s is kept (continue with --resume %s, perhaps with a lower --lr in a new run).\n",
                last_saved, run->dir, run->dir);
    else fprintf(stderr, "No checkpoint was written yet; try a lower --lr.\n");
    exit(1);
}

// Pre-trains run->model for the configured steps: per step a batch, forward, backward, clip, AdamW.
// Evaluates, samples, logs and checkpoints on the way; on Ctrl-C or --pause-at saves and exits 0.
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
    int last_saved = run->start_step;

    Progress pr;
    progress_init(&pr, run->start_step, s->steps, (double)(B * T));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; // a second Ctrl-C ends the program at once
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0) fatal("sigaction: %s", strerror(errno));

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
        float loss = model->mean_loss;
        if (!isfinite(loss)) numerical_fault(run, step, "loss", last_saved);
        gpt_zero_grad(model);
        gpt_backward(model, NULL);
        float norm = gpt_clip_grad_norm(model, cfg->clip);
        if (!isfinite(norm)) numerical_fault(run, step, "gradient norm", last_saved);
        float lr = lr_schedule(step, s->steps, s->warmup, s->lr, cfg->min_lr_frac);
        gpt_update(model, lr, 0.9f, 0.95f, 1e-8f, cfg->wd, step + 1);
        double ms = (time_seconds() - t0) * 1000.0;
        if (step > run->start_step || s->steps - run->start_step == 1) { // the first step is warm-up
            run->step_seconds += ms / 1000.0;
            run->steps_timed++;
        }

        log_row(run->csv, step, "pretrain", loss, val_loss, lr, norm, ms, (double)(B * T) / (ms / 1000.0));
        progress_step(&pr, step, loss, val_loss, lr, norm, ms);

        int done = step + 1;
        // (after the last step there is nothing to pause: the run finishes and saves as usual)
        int stop = done < s->steps && (interrupted || (cfg->pause_at > 0 && done == cfg->pause_at));
        if (done < s->steps && (stop || (cfg->save_every > 0 && done % cfg->save_every == 0))) {
            save_checkpoint(run, done, &train, sample_rng);
            last_saved = done;
        }
        if (stop) {
            progress_break(&pr);
            printf("%s after step %d/%d; checkpoint saved in %s/\ncontinue with: ./train --resume %s\n",
                   interrupted ? "interrupted" : "paused", done, s->steps, run->dir, run->dir);
            exit(0);
        }
    }

    // final evaluation, after the last update, logged as a row of its own
    run->final_val_loss = evaluate(model, &val);
    log_row(run->csv, s->steps, "pretrain", NAN, run->final_val_loss, NAN, NAN, NAN, NAN);
    // the last probe row of the stage comes from exactly the weights saved for it
    probes_measure(&run->probes, model, s->steps, "pretrain");
    save_checkpoint(run, s->steps, &train, sample_rng);
    sample_and_print(model, ds->tok, cfg, T, &sample_rng, "final sample");
    probes_plot(&run->probes, run->dir);
    signal(SIGINT, SIG_DFL);
    loader_free(&train);
    valset_free(&val);
}

// --probe-only: probes the --init model once (step 0) and draws the figures; no training.
static void probe_only_stage(Run* run) {
    probes_measure(&run->probes, &run->model, 0, "pretrain");
    probes_plot(&run->probes, run->dir);
    printf("probed     %s in %.1f s: %s/probes.csv, probe_bins.safetensors, info_plane.svg, probes.svg\n",
           run->cfg.init, run->probes.seconds, run->dir);
    probes_free(&run->probes);
}

// ============================================================================
// ==== DPO stage ====
// Direct preference optimisation (Rafailov et al. 2023) of the pre-trained model. The policy is
// run->model; the frozen reference is a second GPT loaded from the folder the policy starts from
// (DIR/pretrain/ or --init DIR), so both hold the same weights at step 0. Per step: B pairs as
// one batch of 2B sequences (chosen rows, then rejected rows), the policy's summed response
// log-probabilities, the objective (model.c, "DPO objective"), its per-sequence gradients seeded
// into gpt_backward (dlosses), clip, AdamW. The reference log-probabilities never change, so
// they are computed once for every pair before the first step (TRL's precompute_ref_log_probs).
// With the built-in corpus the stage also samples continuations of held-out prompts before and
// after, and reports the rate of positive sentiment (the property the chosen responses have).

#define DPO_CSV_HEADER "step,loss,rewards_chosen,rewards_rejected,margin,accuracy,val_accuracy,lr"
#define DPO_SAMPLE_LEN 40 // tokens sampled per prompt for the sentiment rate (two sentences fit)

static int setup_threads(int threads); // in main's section

// Whether the run has a DPO stage: --dpo, or the built-in corpus (its own pairs); --dpo-steps 0 = none.
static int dpo_wanted(const TrainConfig* cfg) { return cfg->dpo_steps > 0 && (cfg->dpo || !cfg->input); }

// Usage checks of the DPO flags, before any work (exit 2).
static void dpo_check_flags(const TrainConfig* cfg) {
    if (strcmp(cfg->dpo_loss, "sigmoid") != 0 && strcmp(cfg->dpo_loss, "ipo") != 0)
        error_usage("--dpo-loss: unknown loss '%s' (sigmoid, ipo)", cfg->dpo_loss);
    if (strcmp(cfg->dpo_loss, "ipo") == 0 && cfg->label_smoothing > 0.0f)
        error_usage("--label-smoothing applies to the sigmoid loss only (IPO has no label-noise variant here)");
    if (cfg->dpo && strcmp(cfg->dpo, "-") != 0 && access(cfg->dpo, R_OK) != 0)
        fatal("%s: %s", cfg->dpo, strerror(errno)); // before pre-training spends minutes
}

// The pairs of the stage: --dpo FILE, or the built-in corpus pairs; split into train and val.
static void dpo_load_pairs(const TrainConfig* cfg, const Tokenizer* tok, int T, PrefSet* set) {
    char err[1024];
    pref_init(set, T);
    double t0 = time_seconds();
    if (cfg->dpo) {
        if (pref_read_jsonl(set, cfg->dpo, tok, cfg->skip_bad, err, sizeof err) != 0) fatal("%s", err);
    } else {
        CorpusPair* pairs = corpus_preferences(cfg->seed + 101, cfg->dpo_pairs);
        int rc = pref_from_corpus(set, pairs, cfg->dpo_pairs, tok, err, sizeof err);
        corpus_pairs_free(pairs, cfg->dpo_pairs);
        if (rc != 0) fatal("%s", err);
    }
    const char* name = cfg->dpo ? (strcmp(cfg->dpo, "-") == 0 ? "<stdin>" : cfg->dpo) : "built-in pairs";
    if (set->n < 2) fatal("%s: %d usable preference pair; DPO needs at least 2 (one is held out)", name, set->n);
    pref_split(set, cfg->dpo_val_frac, cfg->seed + 202);
    printf("dpo data   %s: %d pairs (%d train, %d held out), read in %.1f s\n", name, set->n, set->n - set->n_val,
           set->n_val, time_seconds() - t0);
    if (cfg->dpo)
        printf("           %ld records; skipped %ld malformed, %ld missing fields, %ld empty, %ld identical\n",
               set->lines, set->bad, set->missing, set->empty, set->identical);
    printf("           %ld pairs truncated to T=%d (prompt cut from the left), %ld of them with the response cut\n",
           set->truncated, T, set->response_truncated);
    if (set->first_problem[0]) printf("           first skipped: %s\n", set->first_problem);
    fflush(stdout);
}

// Loads the frozen reference from dir; a shape different from the policy's is a runtime error.
static void dpo_load_reference(GPT* ref, const GPT* policy, const char* dir) {
    char err[1024];
    if (gpt_load(ref, dir, err, sizeof err) != 0) fatal("reference model: %s", err);
    const GPTConfig *a = &policy->config, *b = &ref->config;
    if (a->num_layers != b->num_layers || a->channels != b->channels || a->num_heads != b->num_heads ||
        a->vocab_size != b->vocab_size || a->max_seq_len != b->max_seq_len)
        fatal("%s: the reference model (L%d C%d H%d V%d n_positions %d) does not match the policy (L%d C%d H%d "
              "V%d n_positions %d)",
              dir, b->num_layers, b->channels, b->num_heads, b->vocab_size, b->max_seq_len, a->num_layers,
              a->channels, a->num_heads, a->vocab_size, a->max_seq_len);
}

// Summed response log-probabilities of pairs[first .. first+count) under model, in batches of at
// most B pairs: out_c (count) chosen, out_r (count) rejected. inputs/targets hold 2B*T ints.
static void dpo_logps(GPT* model, const PrefSet* set, int first, int count, int B, int eot, int* inputs,
                      int* targets, float* out_c, float* out_r) {
    int* idx = malloc_check((size_t)B * sizeof(int));
    float* lp = malloc_check(2 * (size_t)B * sizeof(float));
    for (int s = 0; s < count; s += B) {
        int nb = count - s < B ? count - s : B;
        for (int i = 0; i < nb; i++) idx[i] = first + s + i;
        size_t Tb = pref_batch(set, idx, nb, eot, inputs, targets);
        gpt_forward(model, inputs, targets, 2 * (size_t)nb, Tb);
        gpt_sequence_logprobs(model, lp);
        memcpy(out_c + s, lp, (size_t)nb * sizeof(float));
        memcpy(out_r + s, lp + nb, (size_t)nb * sizeof(float));
    }
    free(idx);
    free(lp);
}

// Fraction of sampled continuations of prompts[0..n) with positive sentiment (corpus_positive_rate,
// each text cut at its first "\n\n"). All prompts are sampled together as one batch of rows of
// different lengths (causal attention: the padding right of a row's last token does not change
// the logits read there). A row stops at <|endoftext|>, at "\n\n" or after max_new tokens. The RNG
// starts from `seed` at every call, so before and after DPO differ only by the model.
static double dpo_positive_rate(GPT* model, const Tokenizer* tok, char** prompts, int n, int max_new, size_t T,
                                float temperature, int top_k, uint64_t seed, char** example) {
    int eot = tok_eot(tok), V = model->config.vocab_size;
    int** seq = malloc_check((size_t)n * sizeof(int*));
    int* len = malloc_check((size_t)n * sizeof(int));
    int* start = malloc_check((size_t)n * sizeof(int)); // where the continuation begins
    int* done = calloc_check((size_t)n, sizeof(int));
    if ((size_t)max_new + 2 > T) max_new = (int)T - 2;
    for (int i = 0; i < n; i++) {
        // <|endoftext|> + prompt, as the preference sequences begin; cut from the left to leave room
        size_t np = 0;
        int* ids = tok_encode(tok, prompts[i], strlen(prompts[i]), &np);
        size_t keep = np + 1 + (size_t)max_new <= T ? np : T - 1 - (size_t)max_new;
        seq[i] = malloc_check(T * sizeof(int));
        seq[i][0] = eot;
        memcpy(seq[i] + 1, ids + (np - keep), keep * sizeof(int));
        len[i] = start[i] = (int)keep + 1;
        free(ids);
    }
    // all prompts in one batched prefill, then one cached decoding step per new token (rows that
    // finished sit the steps out); the cache holds the longest prompt plus max_new positions
    int Tp = 0;
    for (int i = 0; i < n; i++)
        if (len[i] > Tp) Tp = len[i];
    int* inputs = malloc_check((size_t)n * (size_t)Tp * sizeof(int));
    for (int i = 0; i < n; i++)
        for (int t = 0; t < Tp; t++) inputs[(size_t)i * (size_t)Tp + (size_t)t] = t < len[i] ? seq[i][t] : eot;
    size_t cache_len = (size_t)Tp + (size_t)max_new < T ? (size_t)Tp + (size_t)max_new : T;
    GPTKVCache kv;
    gpt_kv_init(&kv, &model->config, (size_t)n, cache_len);
    const float* logits = gpt_kv_prefill(model, &kv, inputs, len, (size_t)Tp);
    int* step = malloc_check((size_t)n * sizeof(int)); // the token each row appends, or -1
    uint64_t rng = seed ? seed : 1;
    for (int k = 0; k < max_new; k++) {
        int active = 0;
        for (int i = 0; i < n; i++) {
            step[i] = -1;
            if (done[i]) continue;
            int next = sample_logits(logits + (size_t)i * (size_t)V, V, temperature, top_k, &rng);
            if (next == eot) {
                done[i] = 1;
                continue;
            }
            seq[i][len[i]++] = next;
            size_t bl = 0;
            char* text = tok_decode(tok, seq[i] + start[i], (size_t)(len[i] - start[i]), &bl);
            if (strstr(text, "\n\n") != NULL) done[i] = 1; // the document ended
            free(text);
            if (!done[i]) {
                step[i] = next;
                active++;
            }
        }
        if (active == 0 || k + 1 == max_new) break;
        logits = gpt_kv_decode(model, &kv, step);
    }
    gpt_kv_free(&kv);
    free(step);
    char** texts = malloc_check((size_t)n * sizeof(char*));
    for (int i = 0; i < n; i++) {
        size_t bl = 0;
        texts[i] = tok_decode(tok, seq[i] + start[i], (size_t)(len[i] - start[i]), &bl);
        free(seq[i]);
    }
    double rate = corpus_positive_rate((const char* const*)texts, n);
    for (int i = 0; i < n; i++) {
        if (example && i == 0) *example = texts[i];
        else free(texts[i]);
    }
    free(texts);
    free(seq);
    free(len);
    free(start);
    free(done);
    free(inputs);
    return rate;
}

// Probes through DPO: the hidden states are measured as in pre-training (same bins, same probe
// sequences) and I_pref adds the held-out pairs' response tokens labelled chosen = 1 / rejected = 0;
// rows go to DIR/probes.csv with stage dpo. After pre-training the run's own probes continue; for
// DPO alone they are loaded from DIR/probe_bins.safetensors when the run folder has one.
// Returns the probes to use (run->probes, or *own once loaded), or NULL when there are none.
static Probes* dpo_probes_init(Run* run, Probes* own, size_t B) {
    memset(own, 0, sizeof *own);
    if (run->probes.every > 0) return &run->probes;
    char path[4200], err[1024];
    path_join(path, sizeof path, run->dir, "probe_bins.safetensors");
    if (access(path, F_OK) != 0) {
        printf("probes     %s not found (pre-training with probes writes it): DPO runs without probes\n", path);
        return NULL;
    }
    const GPTConfig* g = &run->model.config;
    ProbeBins bins;
    if (probe_bins_load(path, &bins, &own->tokens, &own->S, &own->T, err, sizeof err) != 0) fatal("%s", err);
    if (bins.d != g->channels) fatal("%s: bins of dimension %d, the model has C=%d", path, bins.d, g->channels);
    if (own->T > (size_t)g->max_seq_len || own->T < 6)
        fatal("%s: probe sequences of %zu tokens (need 6 .. n_positions %d)", path, own->T, g->max_seq_len);
    for (size_t i = 0; i < own->S * own->T; i++)
        if (own->tokens[i] < 0 || own->tokens[i] >= g->vocab_size)
            fatal("%s: probe token %d outside the model's vocabulary (V=%d)", path, own->tokens[i], g->vocab_size);
    probe_run_init(&own->pr, g->num_layers, bins.d, bins.n_bins, 0);
    probe_bins_free(&own->pr.bins); // the run's own bins, not freshly drawn ones
    own->pr.bins = bins;
    own->B = B;
    own->every = 1;
    path_join(own->csv, sizeof own->csv, run->dir, "probes.csv");
    printf("probes     continuing with %s (%zu sequences of %zu tokens)\n", path, own->S, own->T);
    return own;
}

// One probe step of the DPO stage at `step`: every hidden state on the probe sequences, I_pref on
// the held-out pairs. inputs/targets are scratch for 2B * set->seq_len ints.
static void dpo_probes_step(Probes* p, GPT* model, const PrefSet* set, int step, int B, int eot, int* inputs,
                            int* targets) {
    if (!p) return;
    double t0 = time_seconds();
    probe_run_reset(&p->pr);
    for (size_t s0 = 0; s0 < p->S; s0 += p->B) {
        size_t nb = p->S - s0 < p->B ? p->S - s0 : p->B;
        gpt_forward_hidden(model, p->tokens + s0 * p->T, nb, p->T);
        probe_layers_add(&p->pr, model, p->tokens + s0 * p->T, nb, p->T);
    }
    int* idx = malloc_check((size_t)B * sizeof(int));
    int* mask = malloc_check(2 * (size_t)B * (size_t)set->seq_len * sizeof(int));
    int* chosen = malloc_check(2 * (size_t)B * sizeof(int));
    for (int s0 = 0; s0 < set->n_val; s0 += B) {
        int nb = set->n_val - s0 < B ? set->n_val - s0 : B;
        for (int i = 0; i < nb; i++) idx[i] = s0 + i;
        size_t Tb = pref_batch(set, idx, nb, eot, inputs, targets);
        // the hidden state at t belongs to a response token when token t is a target of t-1
        for (size_t r = 0; r < 2 * (size_t)nb; r++) {
            chosen[r] = r < (size_t)nb;
            for (size_t t = 0; t < Tb; t++) mask[r * Tb + t] = t > 0 && targets[r * Tb + t - 1] != -1;
        }
        gpt_forward_hidden(model, inputs, 2 * (size_t)nb, Tb);
        probe_pref_add(&p->pr, model, mask, chosen, 2 * (size_t)nb, Tb);
    }
    free(idx);
    free(mask);
    free(chosen);
    char err[1024];
    if (probe_csv_append(p->csv, step, "dpo", &p->pr, err, sizeof err) != 0) fatal("%s", err);
    p->seconds += time_seconds() - t0;
}

// Runs the DPO stage on run->model, which holds the weights saved in start_dir (DIR/pretrain or
// --init DIR): the reference and the tokenizer come from there. Writes DIR/dpo.csv, DIR/dpo/.
static void dpo_stage(Run* run, const char* start_dir) {
    const TrainConfig* cfg = &run->cfg;
    GPT* policy = &run->model;
    char path[4096], err[1024];
    path_join(path, sizeof path, start_dir, "tokenizer.json");
    Tokenizer* tok = tok_load_json(path, err, sizeof err);
    if (!tok) fatal("%s", err);
    int eot = tok_eot(tok);
    if (eot < 0 || eot >= policy->config.vocab_size)
        fatal("%s: DPO needs <|endoftext|> inside the model's vocabulary (V=%d)", path, policy->config.vocab_size);
    DPOLossType type = strcmp(cfg->dpo_loss, "ipo") == 0 ? DPO_IPO : DPO_SIGMOID;
    int B = cfg->dpo_batch, steps = cfg->dpo_steps, T = run->shape.T;
    printf("\n==== DPO: %d steps of %d pairs, %s loss, beta %g, label smoothing %g, lr %g, T %d\n", steps, B,
           cfg->dpo_loss, (double)cfg->beta, (double)cfg->label_smoothing, (double)cfg->dpo_lr, T);

    PrefSet set;
    dpo_load_pairs(cfg, tok, T, &set);
    int n_train = set.n - set.n_val;
    int* inputs = malloc_check(2 * (size_t)B * (size_t)T * sizeof(int));
    int* targets = malloc_check(2 * (size_t)B * (size_t)T * sizeof(int));
    float* ref_c = malloc_check((size_t)set.n * sizeof(float));
    float* ref_r = malloc_check((size_t)set.n * sizeof(float));
    {
        GPT ref;
        dpo_load_reference(&ref, policy, start_dir);
        double t0 = time_seconds();
        dpo_logps(&ref, &set, 0, set.n, B, eot, inputs, targets, ref_c, ref_r);
        printf("reference  %s: log-probabilities of all %d pairs in %.1f s\n", start_dir, set.n, time_seconds() - t0);
        gpt_free(&ref);
    }

    // the property before DPO (built-in pairs only: the corpus lexicon defines it)
    int n_prompts = cfg->dpo ? 0 : cfg->dpo_prompts;
    char** prompts = n_prompts > 0 ? corpus_prompts(cfg->seed + 303, n_prompts) : NULL;
    uint64_t sample_seed = cfg->seed * 31 + 17;
    double rate_before = NAN;
    if (n_prompts > 0) {
        char* ex = NULL;
        rate_before = dpo_positive_rate(policy, tok, prompts, n_prompts, DPO_SAMPLE_LEN, (size_t)T, cfg->temperature,
                                        cfg->top_k, sample_seed, &ex);
        printf("sentiment  before DPO: %.1f%% of continuations of %d held-out prompts are positive\n",
               100.0 * rate_before, n_prompts);
        printf("           e.g. \"%s\" ->\"%s\"\n", prompts[0], ex);
        free(ex);
    }

    Probes own_probes;
    Probes* probes = dpo_probes_init(run, &own_probes, (size_t)B);
    dpo_probes_step(probes, policy, &set, 0, B, eot, inputs, targets); // step 0: the reference itself

    // AdamW starts afresh: pre-training's moments belong to another objective
    if (policy->m_memory) memset(policy->m_memory, 0, policy->num_parameters * sizeof(float));
    if (policy->v_memory) memset(policy->v_memory, 0, policy->num_parameters * sizeof(float));

    // DIR/dpo.csv: created with its header atomically, then one flushed row per step
    path_join(path, sizeof path, run->dir, "dpo.csv");
    AtomicFile af;
    if (atomic_open(&af, path, err, sizeof err) != 0) fatal("%s", err);
    fprintf(af.f, "%s\n", DPO_CSV_HEADER);
    if (atomic_commit(&af, err, sizeof err) != 0) fatal("%s", err);
    FILE* csv = fopen_check(path, "a");

    uint64_t rng = (cfg->seed ^ 0xD1B54A32D192ED03ull) | 1;
    int* idx = malloc_check((size_t)B * sizeof(int));
    float* lp = malloc_check(2 * (size_t)B * sizeof(float));
    float* rc = malloc_check((size_t)B * sizeof(float));
    float* rr = malloc_check((size_t)B * sizeof(float));
    float* dlogp = malloc_check(2 * (size_t)B * sizeof(float));
    float* dlosses = malloc_check(2 * (size_t)B * (size_t)T * sizeof(float));
    int warmup = steps / 10, every = steps / 20 > 0 ? steps / 20 : 1;
    DPOStats val = {0};
    for (int step = 0; step < steps; step++) {
        double ts = time_seconds();
        for (int i = 0; i < B; i++) {
            idx[i] = set.n_val + (int)(random_u32(&rng) % (uint32_t)n_train);
            rc[i] = ref_c[idx[i]];
            rr[i] = ref_r[idx[i]];
        }
        size_t Tb = pref_batch(&set, idx, B, eot, inputs, targets);
        gpt_forward(policy, inputs, targets, 2 * (size_t)B, Tb);
        gpt_sequence_logprobs(policy, lp);
        DPOStats st;
        dpo_objective(lp, lp + B, rc, rr, B, cfg->beta, type, cfg->label_smoothing, dlogp, dlogp + B, NULL, &st);
        char bad[128]; // the first non-finite parameter, activation or gradient, if any
        if (!isfinite(st.loss)) {
            gpt_first_nonfinite(policy, bad, sizeof bad);
            fatal("DPO step %d: the loss is not finite%s%s; try a lower --dpo-lr", step, *bad ? ", first in " : "", bad);
        }
        dpo_dlosses(dlosses, targets, dlogp, 2 * (size_t)B, Tb);
        gpt_zero_grad(policy);
        gpt_backward(policy, dlosses);
        float norm = gpt_clip_grad_norm(policy, cfg->clip);
        if (!isfinite(norm)) {
            gpt_first_nonfinite(policy, bad, sizeof bad);
            fatal("DPO step %d: the gradient norm is not finite%s%s; try a lower --dpo-lr", step, *bad ? ", first in " : "",
                  bad);
        }
        float lr = lr_schedule(step, steps, warmup, cfg->dpo_lr, cfg->min_lr_frac);
        gpt_update(policy, lr, 0.9f, 0.95f, 1e-8f, 0.0f, step + 1);
        double ms = (time_seconds() - ts) * 1000.0;

        // val accuracy after this step's update; the last row's is the saved model's
        int last = step + 1 == steps, evaluated = last || (step + 1) % cfg->dpo_eval_every == 0;
        if (evaluated) {
            float* pc = malloc_check(2 * (size_t)set.n_val * sizeof(float));
            dpo_logps(policy, &set, 0, set.n_val, B, eot, inputs, targets, pc, pc + set.n_val);
            dpo_objective(pc, pc + set.n_val, ref_c, ref_r, set.n_val, cfg->beta, type, cfg->label_smoothing, NULL,
                          NULL, NULL, &val);
            free(pc);
            dpo_probes_step(probes, policy, &set, step + 1, B, eot, inputs, targets);
        }
        fprintf(csv, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,", step, (double)st.loss, (double)st.rewards_chosen,
                (double)st.rewards_rejected, (double)st.margin, (double)st.accuracy);
        if (evaluated) fprintf(csv, "%.6g", (double)val.accuracy);
        fprintf(csv, ",%.6g\n", (double)lr);
        if (fflush(csv) != 0 || ferror(csv)) fatal("%s: %s", path, strerror(errno));
        if (evaluated || step % every == 0) {
            printf("dpo step %*d/%d | loss %.4f | margin %+.4f | acc %.2f", (int)snprintf(NULL, 0, "%d", steps),
                   step + 1, steps, (double)st.loss, (double)st.margin, (double)st.accuracy);
            if (evaluated) printf(" | val acc %.3f margin %+.4f", (double)val.accuracy, (double)val.margin);
            printf(" | lr %.2e | %.0f ms\n", (double)lr, ms);
            fflush(stdout);
        }
    }
    if (fclose(csv) != 0) fatal("%s: %s", path, strerror(errno));

    char dpo_dir[4096];
    path_join(dpo_dir, sizeof dpo_dir, run->dir, "dpo");
    if (gpt_save(policy, dpo_dir, err, sizeof err) != 0) fatal("%s", err);
    path_join(path, sizeof path, dpo_dir, "tokenizer.json");
    if (tok_save_json(tok, path, err, sizeof err) != 0) fatal("%s", err);
    printf("dpo done   val accuracy %.3f, val reward margin %+.4f, val loss %.4f on %d held-out pairs\n",
           (double)val.accuracy, (double)val.margin, (double)val.loss, set.n_val);
    if (probes) {
        printf("           I_pref per hidden state 0..%d at the end:", policy->config.num_layers);
        for (int l = 0; l <= policy->config.num_layers; l++) {
            ProbeStats ps;
            probe_run_stats(&probes->pr, l, &ps);
            printf(" %.4f", ps.I_pref);
        }
        printf("\n");
        probes_plot(probes, run->dir); // preference.svg now that dpo.csv exists
    }
    if (n_prompts > 0) {
        char* ex = NULL;
        double rate_after = dpo_positive_rate(policy, tok, prompts, n_prompts, DPO_SAMPLE_LEN, (size_t)T,
                                              cfg->temperature, cfg->top_k, sample_seed, &ex);
        printf("           e.g. \"%s\" ->\"%s\"\n", prompts[0], ex);
        printf("sentiment  positive continuations: %.1f%% before DPO -> %.1f%% after (%d held-out prompts)\n",
               100.0 * rate_before, 100.0 * rate_after, n_prompts);
        free(ex);
        corpus_prompts_free(prompts, n_prompts);
    }
    printf("           model in %s/, log in %s/dpo.csv\n", dpo_dir, run->dir);
    fflush(stdout);
    probes_free(&own_probes);
    free(inputs);
    free(targets);
    free(ref_c);
    free(ref_r);
    free(idx);
    free(lp);
    free(rc);
    free(rr);
    free(dlogp);
    free(dlosses);
    pref_free(&set);
    tok_free(tok);
}

// --dpo with --init: DPO alone on a saved model folder, no pre-training. The run folder is --out,
// or the folder above DIR when DIR is a run's pretrain/ (so the run's probes continue), or
// runs/<name of DIR>-dpo. T is -T, or the model's n_positions.
static void dpo_standalone(Run* run) {
    TrainConfig* cfg = &run->cfg;
    cfg->threads = setup_threads(cfg->threads);
    char err[1024];
    if (gpt_load(&run->model, cfg->init, err, sizeof err) != 0) fatal("%s", err);
    run->shape.gpt = run->model.config;
    run->shape.T = cfg->T > 0 ? cfg->T : run->model.config.max_seq_len;
    if (run->shape.T > run->model.config.max_seq_len)
        error_usage("-T %d exceeds n_positions %d of %s/config.json", run->shape.T, run->model.config.max_seq_len,
                    cfg->init);
    char init[4000]; // leaves room for "runs/" and "-dpo" in run->dir
    snprintf(init, sizeof init, "%s", cfg->init);
    size_t n = strlen(init);
    while (n > 1 && init[n - 1] == '/') init[--n] = '\0';
    const char* base = strrchr(init, '/');
    base = base ? base + 1 : init;
    int w;
    if (cfg->out) w = snprintf(run->dir, sizeof run->dir, "%s", cfg->out);
    else if (strcmp(base, "pretrain") == 0) // DIR/pretrain -> DIR (without the slash; "/" stays "/")
        w = snprintf(run->dir, sizeof run->dir, "%.*s", base - init > 1 ? (int)(base - init) - 1 : (int)(base - init),
                     init);
    else w = snprintf(run->dir, sizeof run->dir, "runs/%s-dpo", base);
    if (w < 0 || (size_t)w >= sizeof run->dir) fatal("%s: run folder path too long", cfg->out ? cfg->out : cfg->init);
    if (!run->dir[0]) snprintf(run->dir, sizeof run->dir, ".");
    printf("forgetful: DPO alone from %s (L%d C%d H%d V%d n_positions %d), %zu parameters, threads %d\n", cfg->init,
           run->model.config.num_layers, run->model.config.channels, run->model.config.num_heads,
           run->model.config.vocab_size, run->model.config.max_seq_len, run->model.num_parameters, cfg->threads);
    printf("run folder %s/\n", run->dir);
    size_t mem = dpo_memory(&run->shape.gpt, 0, cfg->dpo_batch, run->shape.T, cfg->dpo ? 0 : cfg->dpo_prompts);
    char mem_s[32];
    format_bytes(mem_s, sizeof mem_s, (double)mem);
    printf("memory     %s estimated (policy parameters, gradients, AdamW moments, activations; reference)\n", mem_s);
    refuse_if_too_big(mem);
    if (make_dirs(run->dir, err, sizeof err) != 0) fatal("%s", err);
    dpo_stage(run, cfg->init);
    printf("summary    wall time %.1f s, peak RSS %.1f MiB\n", time_seconds() - run->t_start,
           peak_rss() / (1024.0 * 1024.0));
    gpt_free(&run->model);
}

// ============================================================================
// Throughput: achieved FLOP/s and MFU, as llm.c and nanoGPT report them

// The best of a few timed square SGEMMs (gemm.h, the kernels the model runs on, all threads): the
// matmul limit MFU is measured against, since a CPU has no vendor peak figure to quote. 1536^3 is
// 7.2 GFLOP per call, large enough to run near the kernel's peak (within a few percent of 2048^3
// here) and small enough to cost about 0.3 s for 8 timed calls; the best of 8 rather than of 3,
// because on a shared machine a single call can lose a quarter of its speed (183 vs 240 GFLOP/s
// measured in two runs of the default ./train a minute apart).
static double measure_sgemm_gflops(void) {
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
        sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
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
    double peak = measured ? measure_sgemm_gflops() : (double)run->cfg.peak_gflops;
    printf("           throughput %.1f ms/step, %.0f tokens/s, %.1f GFLOP/s (%.1f GFLOP/step, mean of %d steps)\n",
           s_per_step * 1e3, BT / s_per_step, gflops, flops * 1e-9, run->steps_timed);
    if (peak > 0.0)
        printf("           MFU %.1f%% of %.1f GFLOP/s, %s\n", 100.0 * gflops / peak, peak,
               measured ? "our SGEMM 1536^3 on these threads, measured now (--peak-gflops F to set it)"
                        : "given by --peak-gflops");
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
    if (!flag_given(given, "--threads")) cfg->threads = h.threads;
    char tok_path[4200];
    path_join(tok_path, sizeof tok_path, cfg->resume, "pretrain/tokenizer.json");
    dataset_load(&run->data, cfg, tok_path);
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
    dataset_load(&run->data, cfg, cfg->init ? tok_path : NULL);
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
    printf("run folder %s/\n", run->dir);
    fflush(stdout);
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
    if (device) printf("device     %s (cuBLAS, %s matrix products)\n", device, run.cfg.tf32 ? "TF32" : "fp32");
    if (run.cfg.dpo && run.cfg.init && !run.cfg.help && !run.cfg.resume) { // ==== DPO stage ==== alone
        dpo_standalone(&run);
        return 0;
    }

    // the model and data: continued, loaded, or fresh
    if (run.cfg.resume) resume_run(&run, given);
    else new_run(&run, given);
    resolve_dir(&run);
    check_data_fits(&run);
    size_t mem = gpt_memory_estimate(&run.shape.gpt, (size_t)run.shape.B, (size_t)run.shape.T, 1);
    if (dpo_wanted(&run.cfg))
        mem = dpo_memory(&run.shape.gpt, mem, run.cfg.dpo_batch, run.shape.T, run.cfg.dpo ? 0 : run.cfg.dpo_prompts);
    if (run.cfg.help) {
        // --help with other flags: the usage, then what those flags would run
        print_usage(stdout);
        printf("\nwith these flags:\n");
        print_config(&run, mem);
        run.cfg.dry_run = 1;
    } else {
        print_config(&run, mem);
    }
    if (run.cfg.dry_run) { // nothing more to do: free what was loaded (leak checks run on this path too)
        gpt_free(&run.model);
        dataset_free(&run.data);
        return 0;
    }
    refuse_if_too_big(mem);
    if (!run.cfg.init && !run.cfg.resume) gpt_build(&run.model, run.shape.gpt, run.cfg.seed);

    // the run folder, its logs and probes
    char err[512];
    if (make_dirs(run.dir, err, sizeof err) != 0) fatal("%s", err);
    int probe_every = run.cfg.probe_every >= 0 ? run.cfg.probe_every
                      : run.shape.steps / 20 > 0 ? run.shape.steps / 20 : 1;
    probes_init(&run.probes, run.dir, &run.data, &run.model.config, (size_t)run.shape.T, (size_t)run.shape.B,
                probe_every, run.cfg.probe_seqs, run.cfg.probe_bins, run.start_step);
    if (run.cfg.ib_bound) probes_ib_bound(&run.probes, run.dir, &run.data, run.cfg.probe_bins);
    if (run.cfg.probe_only) {
        probe_only_stage(&run);
        gpt_free(&run.model);
        dataset_free(&run.data);
        return 0;
    }
    run.csv = open_train_csv(run.dir, run.start_step);
    write_baselines(run.dir, &run.data);
    const NgramStats* ng = &run.data.ngram;
    printf("baselines  val cross-entropy of n-gram models: unigram %.4f, bigram %.4f, trigram %.4f nats/token\n"
           "           (a fresh model starts near ln V = %.4f)\n",
           ng->h1, ng->h2, ng->h3, log((double)run.data.V));
    if (run.start_step > 0) printf("resuming   at step %d/%d\n", run.start_step, run.shape.steps);

    pretrain_stage(&run);

    // ==== DPO stage ====: on the model just saved in DIR/pretrain/
    if (dpo_wanted(&run.cfg)) {
        char start[4096];
        path_join(start, sizeof start, run.dir, "pretrain");
        dpo_stage(&run, start);
    }

    double wall = time_seconds() - run.t_start;
    char wall_s[32], rss_s[32];
    format_duration(wall_s, sizeof wall_s, wall);
    format_bytes(rss_s, sizeof rss_s, peak_rss());
    printf("summary    final val loss %.4f nats/token vs n-gram baselines: unigram %.4f, bigram %.4f, trigram %.4f\n",
           run.final_val_loss, ng->h1, ng->h2, ng->h3);
    printf("           wall time %s (%.1f s), peak RSS %s\n", wall_s, wall, rss_s);
    print_throughput(&run);
    if (run.probes.every > 0)
        printf("           probes: %.1f s, %.1f%% of the wall time; %s/info_plane.svg, probes.svg, probes.csv\n",
               run.probes.seconds, 100.0 * run.probes.seconds / wall, run.dir);
    printf("           model in %s/pretrain/, log in %s/train.csv\n", run.dir, run.dir);
    if (fclose(run.csv) != 0) fatal("%s/train.csv: %s", run.dir, strerror(errno));
    probes_free(&run.probes);
    gpt_free(&run.model);
    dataset_free(&run.data);
    return 0;
}
