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
#include "page.h"
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
// The same for n pairs of a batch of n_total (a micro-batch's share): the gradients are those of
// the mean over all n_total pairs, d/d logπ(c_i) = dL_i/dh_i / n_total; losses and stats are over
// the n pairs given. dpo_objective is n_total = n.
void dpo_objective_part(const float* policy_chosen, const float* policy_rejected, const float* ref_chosen,
                        const float* ref_rejected, int n, int n_total, float beta, DPOLossType type,
                        float label_smoothing, float* dchosen, float* drejected, float* losses, DPOStats* stats);

// Seeds gpt_backward from per-sequence gradients: losses[b,t] = −log p(target), so
// dlosses[b,t] = −dlogp[b] at every t with targets[b,t] != −1 and 0 elsewhere.
// dlosses and targets are (B, T), dlogp is (B).
void dpo_dlosses(float* dlosses, const int* targets, const float* dlogp, size_t B, size_t T);

// ----------------------------------------------------------------------------
// The stage

// DIR/dpo.csv: one row per DPO step.
#define DPO_CSV_HEADER "step,loss,rewards_chosen,rewards_rejected,margin,accuracy,val_accuracy,lr"

typedef struct {
    const char* pairs;     // preference JSON Lines ("-" = stdin); NULL = built-in pairs from the corpus grammar
    int steps;             // optimisation steps
    int batch;             // preference pairs per step (2x sequences), over all ranks
    int micro;             // micro-batches per step on each rank (--grad-accum); batch % (ranks x micro) == 0
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
    int save_every;        // a checkpoint (DIR/dpo_state.bin) every N steps (0 = at the end only)
    int threads;           // the OpenMP threads it runs with (kept in the checkpoint)
    int standalone;        // 1: DPO alone from a model folder, 0: after the run's pre-training
    int probe_B;           // forward batch of probes loaded from the run folder (0: batch), pre-training's B
} DPOConfig;

// The settings as they are kept in the run's state files (DPOSettings, run.h), and back; the
// strings of the result point into s.
void dpo_settings_from_config(const DPOConfig* c, DPOSettings* s);
DPOConfig dpo_config_from_settings(const DPOSettings* s, int threads);

// DIR/dpo_state.bin: the stage's checkpoint, a state file (run.h) with this header, then the
// policy's parameters and AdamW moments. It is written every save_every steps, on Ctrl-C or
// SIGTERM, and at the end (step = steps); the pairs and the reference log-probabilities it goes
// with are in DIR/dpo_pairs.bin (prefs.h), written once when the stage starts.
#define DPO_STATE_MAGIC 0x53444746u // "FGDS"
#define DPO_STATE_VERSION 1

typedef struct {
    uint32_t magic, version;
    uint64_t num_parameters;
    int32_t L, C, NH, maxT, V; // model shape
    int32_t standalone;        // 1: DPO alone (start is its model folder), 0: after DIR's pre-training
    int32_t step;              // DPO steps completed (>= 1)
    int32_t threads;           // OpenMP threads it ran with
    int32_t probe_B;           // the probes' forward batch (0: no probes), so their values repeat exactly
    int32_t precision;         // the matrix products' (GemmPrecision: 0 fp32, 1 bf16; 0 in older files)
    uint64_t rng;              // the batch RNG after `step` steps
    uint64_t pairs_sum;        // checksum of DIR/dpo_pairs.bin
    double rate_before;        // the sentiment rate before DPO (NaN when not measured)
    DPOSettings s;
    char start[4096];          // DPO alone: the absolute path of the folder it started from
} DPOStateHeader;
_Static_assert(offsetof(DPOStateHeader, rng) == 16 + 10 * 4 && offsetof(DPOStateHeader, s) == 56 + 24,
               "no hidden padding in the header");

// Checks every field of h (ranges as the flags', the shape's parameter count). 0, or -1 with err.
int dpo_state_check(const DPOStateHeader* h, char* err, size_t errlen);
// Reads and checks DIR/dpo_state.bin into h and builds policy from it (parameters, AdamW moments).
// Runtime error on any fault.
void dpo_state_load(const char* dir, DPOStateHeader* h, GPT* policy);

// Bytes the stage needs beyond pre-training's (pretrain_mem, 0 for DPO alone) for batches of
// `batch` pairs of T tokens and n_prompts sampled prompts.
size_t dpo_memory(const GPTConfig* g, size_t pretrain_mem, int batch, int T, int n_prompts);
// The same as one part of a memory refusal (run.h) for one rank, whose forwards hold batch / split
// pairs (split: ranks x micro-batches), with the largest --dpo-batch (a multiple of split) that
// fits in avail bytes (0 = unknown) as its fix, or --dpo-steps 0 after pre-training when none does.
MemPart dpo_memory_part(const GPTConfig* g, size_t pretrain_mem, int batch, int split, int T, int n_prompts,
                        size_t avail);

// Runs the stage on policy, which holds the weights saved in start_dir (DIR/pretrain or --init
// DIR): the reference and the tokenizer come from there. Writes dir/dpo.csv, dir/dpo_pairs.bin,
// dir/dpo_state.bin and dir/dpo/ (the model). In a data-parallel job (dist.h) every rank runs it:
// each takes its share of every batch of pairs (and of the reference's and the evaluations'
// log-probabilities, and of the probe sequences); rank 0 alone samples and writes. probes: the
// run's probes to continue (pre-training's), or NULL / off to continue those of
// dir/probe_bins.safetensors when there is one. page: the run's page, rewritten (state live) at
// every evaluation; the caller marks it finished. resume: the checkpoint policy was built from
// (dpo_state_load), to continue exactly where it stopped, or NULL. Ctrl-C or SIGTERM saves a
// checkpoint after the current step and exits 0.
void dpo_stage(const DPOConfig* c, GPT* policy, const char* dir, const char* start_dir, Probes* probes,
               Page* page, const DPOStateHeader* resume);

// dpo_stage (with the probes of dir, if any) for a process that runs DPO alone: the run's page from
// start to finished, then the summary line (wall time since t_start, peak RSS, the page).
void dpo_stage_own_page(const DPOConfig* c, GPT* policy, const char* dir, const char* start_dir,
                        const DPOStateHeader* resume, double t_start);

// DPO alone on the model folder init, no pre-training. The run folder is out (new, or with
// overwrite), or the folder above init when init is a run's pretrain/ (its pre-training finished:
// the run's probes continue; a DPO stage already there is replaced only with overwrite), or a
// fresh runs/<name of init>-dpo. t_start: when the program started.
void dpo_standalone(const DPOConfig* c, const char* init, const char* out, int overwrite, double t_start);

// Continues the DPO stage of dir from its checkpoint h and policy (dpo_state_load), with threads
// OpenMP threads (set by the caller), micro micro-batches per rank (--grad-accum) and save_every
// (-1: the stage's own).
void dpo_resume(const DPOStateHeader* h, GPT* policy, const char* dir, int threads, int micro, int save_every,
                double t_start);

#endif // DPO_H
