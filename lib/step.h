// step.h: one optimisation step, the same for every stage (pre-training, DPO), as llm.c's loop:
// after the caller's forward and loss, check the loss, gpt_zero_grad, gpt_backward seeded by the
// stage's per-token loss weights, clip the gradient norm and check it, the learning rate of the
// schedule, AdamW, and the step's time. A non-finite loss or gradient norm stops the program
// naming the step and the first bad tensor, so a fault is handled in one place.
#ifndef STEP_H
#define STEP_H

#include "../model.h"

typedef struct {
    int steps, warmup;  // schedule: linear warm-up over `warmup` steps, then cosine decay
    float lr;           // peak learning rate
    float min_lr_frac;  // the decay ends at min_lr_frac * lr
    float wd;           // AdamW decoupled weight decay (2-D tensors only)
    float clip;         // global gradient-norm clip (0 = off)
    const char* name;   // a step in fault messages: "step" (pre-training), "DPO step"
    char hint[8448];    // what a fault message advises; a stage may rewrite it (after a checkpoint)
    int first;          // the first step this process runs: its time is warm-up and not counted
    double seconds;     // wall time of the counted steps
    int timed;          // how many steps `seconds` covers
} TrainStep;

typedef struct {
    float loss; // the loss the caller passed
    float norm; // gradient norm before clipping
    float lr;   // learning rate of this step
    double ms;  // wall time from the caller's t0 (batch and forward included) to the end of AdamW
} StepResult;

// A step of `steps` steps (0-based) starting at `first`; the hint starts empty.
void train_step_init(TrainStep* ts, int steps, int warmup, float lr, float min_lr_frac, float wd, float clip,
                     const char* name, int first);

// Finishes step `step` (0-based) of model, whose forward the caller has run at time t0 with this
// loss: dlosses (B, T of that forward) is d(objective)/d(losses[b,t]), NULL for the mean loss
// (gpt_backward). AdamW uses beta1 0.9, beta2 0.95, eps 1e-8 and t = step + 1.
StepResult train_step(TrainStep* ts, GPT* model, int step, float loss, const float* dlosses, double t0);

#endif // STEP_H
