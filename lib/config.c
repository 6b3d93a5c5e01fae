// config.c: ./train's configuration: the model presets, the flag table with every default, and
// what a run's flags resolve to (its shape, its mode, the DPO stage's settings). API in config.h;
// the parser itself is lib/flags.c.
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../probes.h"
#include "dist.h"
#include "util.h"

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
    .grad_accum = 1,
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
    .overwrite = 0,
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
    .eval = 0,
    .sample = 0,
    .prompt = NULL,
    .prompt_file = NULL,
    .num_samples = 1,
    .eot_as_text = 0,
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
const FlagSpec TRAIN_FLAGS[] = {
    {"--input", ARG_STR, OFF(input), 0, 0, 0, "FILE|DIR", "training text, or a folder of .txt files"},
    {"--val-frac", ARG_FLOAT, OFF(val_frac), 0.001, 0.5, 0, "F", "fraction held out for validation (the end)"},
    {"--vocab", ARG_INT, OFF(vocab), 257, TOK_MAX_VOCAB, 0, "N", "BPE vocabulary trained on the input"},
    {"--sequential", ARG_SWITCH, OFF(sequential), 0, 1, 0, "", "consecutive windows instead of random ones"},
    {"--model", ARG_STR, OFF(model), 0, 0, 0, "NAME", "tiny (L4 C128 H4 T64), small (L6 C384 H6 T256), gpt2"},
    {"-L", ARG_INT, OFF(L), 1, 128, 0, "N", "layers (overrides the preset)"},
    {"-C", ARG_INT, OFF(C), 1, 16384, 0, "N", "channels"},
    {"-H", ARG_INT, OFF(H), 1, 1024, 0, "N", "attention heads (must divide C)"},
    {"-T", ARG_INT, OFF(T), 2, 65536, 0, "N", "context length"},
    {"-B", ARG_INT, OFF(B), 1, 65536, 0, "N", "batch size (sequences per step, over all MPI ranks)"},
    {"--grad-accum", ARG_INT, OFF(grad_accum), 1, 65536, 1, "K", "run each step's batch as K micro-batches per rank (less memory)"},
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
    {"--out", ARG_STR, OFF(out), 0, 0, 0, "DIR", "run folder (a new run needs it empty or absent)"},
    {"--overwrite", ARG_SWITCH, OFF(overwrite), 0, 1, 0, "", "let a new run replace the run in a non-empty --out"},
    {"--resume", ARG_STR, OFF(resume), 0, 0, 1, "DIR", "continue the run in DIR exactly where it stopped"},
    {"--init", ARG_STR, OFF(init), 0, 0, 0, "DIR", "start from a model folder (ours or Hugging Face GPT-2), at its n_positions"},
    {"--dry-run", ARG_SWITCH, OFF(dry_run), 0, 1, 1, "", "print the configuration and memory estimate, exit"},
    {"--probe-every", ARG_INT, OFF(probe_every), 0, 1e9, 0, "N", "probe the hidden states every N steps (0 = off)"},
    {"--probe-seqs", ARG_INT, OFF(probe_seqs), 1, 1e6, 0, "N", "probe sequences at every probe step (length T, from the val split)"},
    {"--probe-final-seqs", ARG_INT, OFF(probe_final_seqs), 0, 1e6, 0, "N", "sequences probed at the end of each stage (0 = none)"},
    {"--probe-bins", ARG_INT, OFF(probe_bins), 2, 1e5, 0, "N", "reference points of the soft-entropy estimator"},
    {"--probe-seeds", ARG_INT, OFF(probe_seeds), 1, 1024, 0, "K", "independent draws of the reference points (mean and sd)"},
    {"--probe-calibration", ARG_STR, OFF(probe_calibration), 0, 0, 0, "NAME", "gaussian, find_eps (soft_h's) or leading_order"},
    {"--plot-corrected", ARG_SWITCH, OFF(plot_corrected), 0, 1, 1, "", "figures of value - permutation null, not the raw values"},
    {"--probe-only", ARG_SWITCH, OFF(probe_only), 0, 1, 0, "", "probe the --init model once, write the files, exit"},
    {"--eval", ARG_SWITCH, OFF(eval), 0, 1, 0, "", "with --init: cross-entropy, perplexity, bits/byte on --input (and probes), exit"},
    {"--sample", ARG_SWITCH, OFF(sample), 0, 1, 0, "", "with --init: print --num-samples samples of the model, exit"},
    {"--prompt", ARG_STR, OFF(prompt), 0, 0, 0, "TEXT", "start of each --sample sample"},
    {"--prompt-file", ARG_STR, OFF(prompt_file), 0, 0, 0, "FILE", "the --sample prompt read from a file"},
    {"--num-samples", ARG_INT, OFF(num_samples), 1, 1e6, 0, "N", "samples --sample prints"},
    {"--eot-as-text", ARG_SWITCH, OFF(eot_as_text), 0, 1, 1, "", "\"<|endoftext|>\" in the text is plain text, not the special token"},
    {"--ib-bound", ARG_SWITCH, OFF(ib_bound), 0, 1, 1, "", "Information Bottleneck curve of (token, next token), drawn on the plane"},
    {"--help", ARG_SWITCH, OFF(help), 0, 1, 1, "", "this text"},
    // DPO stage: runs after pre-training with --dpo, or with the built-in corpus (its own pairs)
    {"--dpo", ARG_STR, OFF(dpo), 0, 0, 0, "FILE|-", "preference pairs, JSON Lines (.gz via gzip -dc); with --init: DPO alone"},
    {"--dpo-steps", ARG_INT, OFF(dpo_steps), 0, 1e9, 0, "N", "DPO steps (0 = no DPO stage)"},
    {"--dpo-batch", ARG_INT, OFF(dpo_batch), 1, 4096, 0, "N", "preference pairs per DPO step"},
    {"--dpo-lr", ARG_FLOAT, OFF(dpo_lr), 1e-9, 10, 0, "F", "peak DPO learning rate"},
    {"--beta", ARG_FLOAT, OFF(beta), 1e-4, 100, 0, "F", "DPO beta (reward scale)"},
    {"--dpo-loss", ARG_STR, OFF(dpo_loss), 0, 0, 0, "NAME", "sigmoid (DPO) or ipo"},
    {"--label-smoothing", ARG_FLOAT, OFF(label_smoothing), 0, 0.49, 0, "F", "conservative DPO label noise (sigmoid)"},
    {"--skip-bad", ARG_SWITCH, OFF(skip_bad), 0, 1, 0, "", "skip malformed preference lines instead of stopping"},
    {"--dpo-val-frac", ARG_FLOAT, OFF(dpo_val_frac), 0.01, 0.5, 0, "F", "fraction of pairs held out for val accuracy"},
    {"--dpo-pairs", ARG_INT, OFF(dpo_pairs), 2, 1e6, 0, "N", "built-in preference pairs (built-in corpus only)"},
    {"--dpo-eval-every", ARG_INT, OFF(dpo_eval_every), 1, 1e9, 0, "N", "val accuracy and probes every N DPO steps"},
    {"--dpo-prompts", ARG_INT, OFF(dpo_prompts), 0, 1e5, 0, "N", "prompts sampled for the sentiment rate (0 = off)"},
    {"--peak-gflops", ARG_FLOAT, OFF(peak_gflops), 0, 1e9, 1, "F", "matmul limit for MFU (0 = time our SGEMM at the end)"},
};
const size_t NUM_TRAIN_FLAGS = sizeof TRAIN_FLAGS / sizeof TRAIN_FLAGS[0];
_Static_assert(sizeof TRAIN_FLAGS / sizeof TRAIN_FLAGS[0] <= MAX_TRAIN_FLAGS, "raise MAX_TRAIN_FLAGS");

// The usage's default of a flag whose value is "auto" (a negative number, a NULL string).
static const char* auto_default(const FlagSpec* fs) {
    switch (fs->offset) {
    case OFF(warmup): return "5% of steps";
    case OFF(probe_every): return "steps/20";
    case OFF(input): return "built-in corpus";
    case OFF(out): return "runs/<input>-<model>, or -2, -3, ... if taken";
    case OFF(dpo): return "built-in pairs with the built-in corpus";
    case OFF(prompt): return "a blank line";
    case OFF(lr): return "preset; with --init a tenth of it";
    case OFF(T): return "preset; with --init n_positions";
    default: return fs->type == ARG_STR ? "none" : "preset";
    }
}

// Writes the usage: every flag with its default, then the presets.
void print_usage(FILE* f) {
    fprintf(f, "usage: ./train [flags]   pre-trains a GPT-2 style model; with no flags, on the built-in corpus\n\n");
    flags_print_usage(f, TRAIN_FLAGS, NUM_TRAIN_FLAGS, &DEFAULTS, auto_default);
    fprintf(f, "\npresets (batch, steps, lr):\n");
    for (size_t i = 0; i < NUM_PRESETS; i++) {
        const ModelPreset* p = &PRESETS[i];
        fprintf(f, "  %-6s L%d C%d H%d T%d   B%d, %d steps, lr %g\n", p->name, p->L, p->C, p->H, p->T, p->B,
                p->steps, (double)p->lr);
    }
    fprintf(f, "\n./train --compare RUN1 RUN2 ... --out DIR\n"
               "  writes DIR/index.html, a page with those runs overlaid (README \"The live page\")\n");
    fprintf(f, "\nexit status: 0 done (or paused/interrupted with a checkpoint), 1 runtime error, 2 usage error\n");
}

// Fills cfg from the command line: the defaults, then the flags. given[i] says whether FLAGS[i]
// appeared.
void parse_args(TrainConfig* cfg, unsigned char* given, int argc, char** argv) {
    *cfg = DEFAULTS;
    flags_parse(TRAIN_FLAGS, NUM_TRAIN_FLAGS, cfg, given, argc, argv);
}

// Whether the flag `name` appeared on the command line.
int flag_given(const unsigned char* given, const char* name) { return flags_given(TRAIN_FLAGS, NUM_TRAIN_FLAGS, given, name); }



// The preset with shape L, C, H, or NULL.
static const ModelPreset* preset_of_shape(int L, int C, int H) {
    for (size_t i = 0; i < NUM_PRESETS; i++)
        if (PRESETS[i].L == L && PRESETS[i].C == C && PRESETS[i].H == H) return &PRESETS[i];
    return NULL;
}

// Applies the preset and overrides; validates what a flag can get wrong (exit 2). init_cfg is
// the --init checkpoint's config or NULL. V is the data's vocabulary size.
RunShape resolve_shape(const TrainConfig* cfg, const GPTConfig* init_cfg, int V) {
    const ModelPreset* p = NULL;
    for (size_t i = 0; i < NUM_PRESETS; i++)
        if (strcmp(PRESETS[i].name, cfg->model) == 0) p = &PRESETS[i];
    if (!p) error_usage("--model: unknown preset '%s' (tiny, small, gpt2)", cfg->model);
    RunShape s;
    s.finetune = 0;
    if (init_cfg) {
        // the checkpoint fixes the architecture and the context (n_positions); a flag may only
        // repeat the one and shorten the other. B, steps and lr come from the preset of the same
        // shape (else --model's), the lr scaled down for fine-tuning.
        s.gpt = *init_cfg;
        if ((cfg->L > 0 && cfg->L != init_cfg->num_layers) || (cfg->C > 0 && cfg->C != init_cfg->channels) ||
            (cfg->H > 0 && cfg->H != init_cfg->num_heads))
            error_usage("-L/-C/-H disagree with the --init checkpoint %s (L%d C%d H%d)", cfg->init,
                        init_cfg->num_layers, init_cfg->channels, init_cfg->num_heads);
        const ModelPreset* same = preset_of_shape(init_cfg->num_layers, init_cfg->channels, init_cfg->num_heads);
        if (same) p = same;
        s.T = cfg->T > 0 ? cfg->T : init_cfg->max_seq_len;
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
    s.preset = p->name;
    s.B = cfg->B > 0 ? cfg->B : p->B;
    s.steps = cfg->steps > 0 ? cfg->steps : p->steps;
    s.lr = cfg->lr > 0.0f ? cfg->lr : p->lr;
    if (init_cfg && cfg->lr <= 0.0f) {
        s.lr = FINETUNE_LR_FRAC * p->lr;
        s.finetune = 1;
    }
    s.warmup = cfg->warmup >= 0 ? cfg->warmup : s.steps / 20;
    s.sched_steps = s.steps;
    if (s.warmup >= s.steps) error_usage("--warmup %d must be less than --steps %d", s.warmup, s.steps);
    if (cfg->pause_at >= s.steps) error_usage("--pause-at %d must be less than --steps %d", cfg->pause_at, s.steps);
    if (cfg->probe_every != 0 && s.T < PROBE_FIRST + PROBE_TAIL + 1)
        error_usage("-T %d is too short for the probes, which need %d positions (or --probe-every 0)", s.T,
                    PROBE_FIRST + PROBE_TAIL + 1);
    if (cfg->probe_every != 0 && s.gpt.channels < 3)
        error_usage("-C %d is too small for the probes, which need 3 channels (or --probe-every 0)", s.gpt.channels);
    if (cfg->probe_only && (!cfg->init || cfg->probe_every == 0))
        error_usage("--probe-only needs --init DIR and probes on (--probe-every not 0)");
    if (cfg->eval && !cfg->init) error_usage("--eval needs --init DIR (the model to evaluate)");
    if (cfg->ib_bound && cfg->probe_every == 0) error_usage("--ib-bound draws on the probes' plot: it needs --probe-every not 0");
    char err[256];
    if (gpt_config_check(&s.gpt, err, sizeof err) != 0) error_usage("%s", err);
    return s;
}

// DIR/config.json's shape, checked as gpt_load checks it, without loading the weights, so that
// flag errors are reported before any large read. Runtime error on failure.
GPTConfig read_model_config(const char* dir) {
    GPTConfig c;
    char err[1024];
    if (gpt_load_config(dir, &c, err, sizeof err) != 0) fatal("%s", err);
    return c;
}



// The mode of cfg; usage errors for modes that exclude each other or lack --init.
RunMode run_mode(const TrainConfig* cfg) {
    int n = cfg->probe_only + cfg->eval + cfg->sample;
    if (n > 1) error_usage("--probe-only, --eval and --sample are separate modes: give one of them");
    if (n && (cfg->resume || cfg->dpo))
        error_usage("--%s cannot be combined with %s", cfg->sample ? "sample" : cfg->eval ? "eval" : "probe-only",
                    cfg->resume ? "--resume" : "--dpo");
    if (n && !cfg->init)
        error_usage("--%s needs --init DIR (a model folder)", cfg->sample ? "sample" : cfg->eval ? "eval" : "probe-only");
    if ((cfg->prompt || cfg->prompt_file) && !cfg->sample) error_usage("--prompt and --prompt-file go with --sample");
    if (cfg->sample) return MODE_SAMPLE;
    if (cfg->eval) return MODE_EVAL;
    if (cfg->probe_only) return MODE_PROBE;
    if (cfg->dpo && cfg->init && !cfg->resume) return MODE_DPO_ALONE;
    return MODE_TRAIN;
}

// Whether the run has a DPO stage: --dpo, or the built-in corpus (its own pairs); --dpo-steps 0 = none.
int dpo_wanted(const TrainConfig* cfg) {
    return cfg->dpo_steps > 0 && (cfg->dpo || !cfg->input) && !cfg->probe_only && !cfg->eval && !cfg->sample;
}

// --precision: fp32 or bf16, on the CPU backend (bf16 products are lib/gemm.c's; the GPU build has --tf32).
void precision_check(TrainConfig* cfg, int gpu) {
    if (strcmp(cfg->precision, "fp32") == 0) cfg->prec = GEMM_FP32;
    else if (strcmp(cfg->precision, "bf16") == 0) cfg->prec = GEMM_BF16;
    else error_usage("--precision: unknown precision '%s' (fp32, bf16)", cfg->precision);
    if (cfg->prec == GEMM_BF16 && gpu)
        error_usage("--precision bf16 runs on the CPU build only (the GPU build has --tf32)");
}

// Usage checks of the DPO flags, before any work (exit 2).
void dpo_check_flags(const TrainConfig* cfg) {
    if (strcmp(cfg->dpo_loss, "sigmoid") != 0 && strcmp(cfg->dpo_loss, "ipo") != 0)
        error_usage("--dpo-loss: unknown loss '%s' (sigmoid, ipo)", cfg->dpo_loss);
    if (strcmp(cfg->dpo_loss, "ipo") == 0 && cfg->label_smoothing > 0.0f)
        error_usage("--label-smoothing applies to the sigmoid loss only (IPO has no label-noise variant here)");
    if (cfg->dpo && strcmp(cfg->dpo, "-") != 0 && access(cfg->dpo, R_OK) != 0)
        fatal("%s: %s", cfg->dpo, strerror(errno)); // before pre-training spends minutes
}


// The DPO stage's settings from the flags (after --resume has restored the run's own); T is the
// context length (<= 0 for DPO alone: the model's n_positions).
DPOConfig dpo_config(const TrainConfig* cfg, int T) {
    return (DPOConfig){
        .pairs = cfg->dpo,
        .steps = cfg->dpo_steps,
        .batch = cfg->dpo_batch,
        .micro = cfg->grad_accum,
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
        .save_every = cfg->save_every,
        .threads = cfg->threads,
    };
}

// A usage error unless a batch of `batch` (what: "-B", "--dpo-batch") splits evenly over the ranks
// and their --grad-accum micro-batches; returns the size of one micro-batch.
int split_batch(int batch, int K, const char* what) {
    int N = dist_size();
    if (batch % (N * K) != 0)
        error_usage("%s %d does not split over %d rank%s x --grad-accum %d: it must be a multiple of %d", what, batch,
                    N, N == 1 ? "" : "s", K, N * K);
    return batch / (N * K);
}
