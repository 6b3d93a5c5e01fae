// dpo.h: direct preference optimisation (Rafailov et al. 2023) of a trained model: the objective
// and its gradient, and the DPO stage of ./train (the pairs through data/prefs.h, the frozen
// reference's log-probabilities, the loop on the shared training step (step.h), DIR/dpo.csv, val
// accuracy, the sentiment rate of sampled continuations, the probes' I_pref), alone or after
// pre-training.
#ifndef DPO_H
#define DPO_H

#include <stddef.h>
#include <stdint.h>

#include "../model.h"
#include "run.h"

// ----------------------------------------------------------------------------
// The objective (Rafailov et al. 2023; IPO: Azar et al. 2023)
//
// Per pair i the policy/reference log-ratio difference is
//   h_i = (logπ(c_i) − logπ_ref(c_i)) − (logπ(r_i) − logπ_ref(r_i))
// with log-probabilities summed over response tokens (gpt_sequence_logprobs).
//   DPO_SIGMOID: L_i = −(1−ls)·log σ(β·h_i) − ls·log σ(−β·h_i)   (ls > 0: conservative DPO, as TRL)
//   DPO_IPO:     L_i = (h_i − 1/(2β))²                            (TRL's "ipo"; ls is ignored)
// TRL's IPO length-normalises the log-probabilities before forming h; here h always uses the
// sums the caller passes (pass per-token means to get TRL's variant).
typedef enum { DPO_SIGMOID = 0, DPO_IPO = 1 } DPOLossType;

typedef struct {
    float loss;             // mean of L_i
    float rewards_chosen;   // mean of β·(logπ(c) − logπ_ref(c))
    float rewards_rejected; // mean of β·(logπ(r) − logπ_ref(r))
    float margin;           // rewards_chosen − rewards_rejected
    float accuracy;         // fraction of pairs with reward(c) > reward(r) (ties count as wrong)
} DPOStats;

// Evaluates the mean DPO loss over n pairs. Inputs are (n) arrays of summed log-probabilities.
// dchosen/drejected (n), if not NULL, receive d(mean loss)/d logπ(c_i) and d/d logπ(r_i);
// losses (n), if not NULL, the per-pair L_i. stats may be NULL.
void dpo_objective(const float* policy_chosen, const float* policy_rejected, const float* ref_chosen,
                   const float* ref_rejected, int n, float beta, DPOLossType type, float label_smoothing,
                   float* dchosen, float* drejected, float* losses, DPOStats* stats);

// Seeds gpt_backward from per-sequence gradients: losses[b,t] = −log p(target), so
// dlosses[b,t] = −dlogp[b] at every t with targets[b,t] != −1 and 0 elsewhere.
// dlosses and targets are (B, T), dlogp is (B).
void dpo_dlosses(float* dlosses, const int* targets, const float* dlogp, size_t B, size_t T);

// ----------------------------------------------------------------------------
// The stage

typedef struct {
    const char* pairs;     // preference JSON Lines ("-" = stdin); NULL = built-in pairs from the corpus grammar
    int steps;             // optimisation steps
    int batch;             // preference pairs per step (2x sequences)
    int T;                 // context length (dpo_standalone: <= 0 means the model's n_positions)
    float lr;              // peak learning rate (warm-up 10% of the steps, cosine to min_lr_frac)
    float min_lr_frac;
    float clip;            // global gradient-norm clip (0 = off); no weight decay
    float beta;            // rewards are beta * log(pi / pi_ref)
    const char* loss;      // "sigmoid" (DPO) or "ipo"
    float label_smoothing; // conservative DPO: assumed probability that a label is flipped
    int skip_bad;          // skip malformed preference lines (counted) instead of stopping
    float val_frac;        // fraction of pairs held out for val accuracy
    int n_pairs;           // built-in pairs to generate
    int eval_every;        // val accuracy (and probes) every N steps; always after the last
    int n_prompts;         // built-in pairs: held-out prompts sampled for the sentiment rate (0 = off)
    GemmPrecision precision; // dpo_standalone's model (dpo_stage's policy carries its own; the reference takes it)
    float temperature;     // sampling of those continuations
    int top_k;
    uint64_t seed;         // pairs, split, batches and samples derive from it
} DPOConfig;

// Bytes the stage needs beyond pre-training's (pretrain_mem, 0 for DPO alone) for batches of
// `batch` pairs of T tokens and n_prompts sampled prompts.
size_t dpo_memory(const GPTConfig* g, size_t pretrain_mem, int batch, int T, int n_prompts);

// Runs the stage on policy, which holds the weights saved in start_dir (DIR/pretrain or --init
// DIR): the reference and the tokenizer come from there. Writes dir/dpo.csv and dir/dpo/ (the
// model). probes: the run's probes to continue (pre-training's), or NULL / off to continue those
// of dir/probe_bins.safetensors when there is one.
void dpo_stage(const DPOConfig* c, GPT* policy, const char* dir, const char* start_dir, Probes* probes);

// DPO alone on the model folder init, no pre-training. The run folder is out, or the folder above
// init when init is a run's pretrain/ (so the run's probes continue), or runs/<name of init>-dpo.
// threads: the OpenMP threads set (for the banner); t_start: when the program started.
void dpo_standalone(const DPOConfig* c, const char* init, const char* out, int threads, double t_start);

#endif // DPO_H
