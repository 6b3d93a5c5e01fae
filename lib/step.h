// step.h: one optimisation step, the same for every stage (pre-training, DPO), as llm.c's loop:
// gpt_zero_grad, then for each of the step's micro-batches the stage's forward and loss and
// gpt_backward seeded by its per-token loss weights (the gradients add up), then the sum of the
// gradients over the ranks of a data-parallel job (dist.h), the check of the loss, the clip of the
// gradient norm and its check, the learning rate of the schedule, AdamW, and the step's time. A
// non-finite loss or gradient norm stops the program naming the step and the first bad tensor, so
// a fault is handled in one place.
//
// The batch: a step's global batch of B sequences (or pairs) is split into N ranks x K
// micro-batches of B / (N K), rank r taking the r-th contiguous N-th and running it as K forwards
// and backwards in order. Each micro-batch's backward is seeded with the weights of the global
// objective (for the mean loss: 1 / (number of targets in the whole batch)), so the summed
// gradient is that of one forward over B: the same update within float rounding (tests/dist.c
// measures it), and bit for bit the old one when N = K = 1.
#ifndef STEP_H
#define STEP_H

#include <signal.h>

#include "../model.h"

typedef struct {
    int steps, warmup;  // schedule: linear warm-up over `warmup` steps, then cosine decay
    float lr;           // peak learning rate
    float min_lr_frac;  // the decay ends at min_lr_frac * lr
    float wd;           // AdamW decoupled weight decay (2-D tensors only)
    float clip;         // global gradient-norm clip (0 = off)
    int micro;          // K: micro-batches per step on each rank (--grad-accum)
    const char* name;   // a step in fault messages: "step" (pre-training), "DPO step"
    char hint[8448];    // what a fault message advises; a stage may rewrite it (after a checkpoint)
    const volatile sig_atomic_t* interrupt; // a flag (Ctrl-C's) that is set on some rank, or NULL
    int first;          // the first step this process runs: its time is warm-up and not counted
    double seconds;     // wall time of the counted steps
    double comm_seconds; // of which summing over the ranks (dist_seconds)
    int timed;          // how many steps `seconds` covers
} TrainStep;

typedef struct {
    float loss;      // the step's loss: the sum of the micro-batches' terms over all ranks
    float norm;      // gradient norm before clipping
    float lr;        // learning rate of this step
    double ms;       // wall time from the caller's t0 (batch and forward included) to the end of AdamW
    int interrupted; // 1 when ts->interrupt was set on any rank before the sum (every rank agrees)
} StepResult;

// One micro-batch of a step: runs the forward of micro-batch k (0 .. K-1) of this rank's share of
// the batch on model, and returns its term of the step's loss (its part of the global objective,
// e.g. the loss summed over its tokens divided by the number of tokens in the global batch), with
// *dlosses set to the seed of its backward: (B_micro, T) of that forward, d(global objective) /
// d(losses[b, t]) (gpt_backward).
typedef double (*MicroBatchFn)(void* ctx, GPT* model, int k, const float** dlosses);

// A step of `steps` steps (0-based) starting at `first`, with `micro` micro-batches per rank;
// the hint starts empty and no interrupt flag is watched.
void train_step_init(TrainStep* ts, int steps, int warmup, float lr, float min_lr_frac, float wd, float clip,
                     int micro, const char* name, int first);

// Step `step` (0-based) of model: the K micro-batches (fn with ctx), the sum over the ranks, clip
// and AdamW (beta1 0.9, beta2 0.95, eps 1e-8, t = step + 1). t0 is when the caller began the step.
StepResult train_step(TrainStep* ts, GPT* model, int step, MicroBatchFn fn, void* ctx, double t0);

// Pre-training's micro-batches: the mean loss over every target of a batch of B windows (the
// same batch on every rank), this rank's share as K micro-batches of b = B / (N K) rows, rank r's
// first row r B / N. B must split (the caller checks: a usage error).
typedef struct {
    const int* inputs;  // (B, T) the step's batch
    const int* targets; // (B, T), -1 = ignored
    size_t B, T, first, b;
    float* seed;        // (b, T) the backward's seed: 1 / (targets in the whole batch)
} MeanLossBatch;

void mean_loss_batch_init(MeanLossBatch* mb, const int* inputs, const int* targets, size_t B, size_t T, int micro);
void mean_loss_batch_free(MeanLossBatch* mb);
// The MicroBatchFn of a MeanLossBatch (ctx): its term is the micro-batch's summed loss over the
// whole batch's target count.
double mean_loss_micro(void* ctx, GPT* model, int k, const float** dlosses);

#endif // STEP_H
