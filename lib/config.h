// config.h: ./train's configuration (lib/config.c): TrainConfig, the flag table that fills it
// (TRAIN_FLAGS, parsed by lib/flags.c), and what the flags resolve to: the run's shape, its mode,
// the DPO stage's settings.
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "../model.h"
#include "dpo.h"
#include "flags.h"
#include "gemm.h"

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
    int B;             // batch size (-1 = preset): sequences per step over all ranks
    int grad_accum;    // micro-batches per step on each rank (gradient accumulation)
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
    const char* out;   // run folder (NULL = runs/<input>-<model>, or -2, -3, ... when that one is taken)
    int overwrite;     // a new run may replace the files of the run in a non-empty --out
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
    int eval;           // the --init model's cross-entropy on the text (and its probes), no training
    int sample;         // print samples of the --init model and exit
    const char* prompt; // --sample's prompt (NULL = prompt_file, or a blank line)
    const char* prompt_file;
    int num_samples;    // samples --sample prints
    int eot_as_text;    // "<|endoftext|>" in the input is plain text (default: the end-of-text token)
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

// The flag table (every flag, its range, its default in DEFAULTS, whether --resume accepts it).
#define MAX_TRAIN_FLAGS 128 // the size of a `given` array (config.c checks the table fits)
extern const FlagSpec TRAIN_FLAGS[];
extern const size_t NUM_TRAIN_FLAGS;

// Writes the usage: every flag with its default, then the presets.
void print_usage(FILE* f);
// Fills cfg from the command line: the defaults, then the flags. given[i] says whether
// TRAIN_FLAGS[i] appeared (MAX_TRAIN_FLAGS entries).
void parse_args(TrainConfig* cfg, unsigned char* given, int argc, char** argv);
// Whether the flag `name` appeared on the command line.
int flag_given(const unsigned char* given, const char* name);

// The shape and schedule a run actually uses, after presets, overrides and --init are applied.
typedef struct {
    GPTConfig gpt;          // model shape (max_seq_len = n_positions)
    int T, B, steps, warmup; // training context, batch, steps, warm-up
    float lr;
    int sched_steps;        // the cosine schedule's length: steps, unless --resume --steps extended the run
    const char* preset;     // the preset whose B, steps and lr the defaults come from
    int finetune;           // 1: --init without --lr, lr = FINETUNE_LR_FRAC x the preset's
} RunShape;

// With --init and no --lr, the peak learning rate is this fraction of the preset's: fine-tuning
// a trained model at its pre-training rate would first undo much of what it learned.
#define FINETUNE_LR_FRAC 0.1f

// Applies the preset and overrides; validates what a flag can get wrong (exit 2). init_cfg is
// the --init checkpoint's config or NULL. V is the data's vocabulary size.
RunShape resolve_shape(const TrainConfig* cfg, const GPTConfig* init_cfg, int V);
// DIR/config.json's shape, checked as gpt_load checks it, without loading the weights.
GPTConfig read_model_config(const char* dir);

// What ./train does with its flags: pre-train (then DPO), or one of the modes on a saved model.
typedef enum { MODE_TRAIN, MODE_PROBE, MODE_EVAL, MODE_SAMPLE, MODE_DPO_ALONE } RunMode;
// The mode of cfg; usage errors for modes that exclude each other or lack --init.
RunMode run_mode(const TrainConfig* cfg);
// Whether the run has a DPO stage: --dpo, or the built-in corpus (its own pairs); --dpo-steps 0 = none.
int dpo_wanted(const TrainConfig* cfg);
// --precision parsed into cfg->prec; bf16 is refused in the GPU build (gpu != 0).
void precision_check(TrainConfig* cfg, int gpu);
// Usage checks of the DPO flags, before any work (exit 2).
void dpo_check_flags(const TrainConfig* cfg);
// The DPO stage's settings from the flags; T is the context length (<= 0 for DPO alone).
DPOConfig dpo_config(const TrainConfig* cfg, int T);
// A usage error unless `batch` splits evenly over the ranks and their K micro-batches; returns
// the size of one micro-batch.
int split_batch(int batch, int K, const char* what);

#endif // CONFIG_H
