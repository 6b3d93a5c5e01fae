// step.c: the optimisation step every stage shares (see step.h).
#include "step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist.h"
#include "util.h"

void train_step_init(TrainStep* ts, int steps, int warmup, float lr, float min_lr_frac, float wd, float clip,
                     int micro, const char* name, int first) {
    *ts = (TrainStep){.steps = steps, .warmup = warmup, .lr = lr, .min_lr_frac = min_lr_frac, .wd = wd,
                      .clip = clip, .micro = micro, .name = name, .first = first};
}

// Stops the program on a non-finite `what` at step, naming the first non-finite parameter,
// activation or gradient (gpt_first_nonfinite) and the stage's advice. Nothing is saved here: the
// last checkpoint stays as it was. Every rank sees the same summed loss and norm, so all of them
// stop here; each names the first bad tensor of its own share.
NORETURN static void step_fault(const TrainStep* ts, const GPT* model, int step, const char* what) {
    char tensor[128] = "", rank[32] = "";
    gpt_first_nonfinite(model, tensor, sizeof tensor);
    if (dist_size() > 1) snprintf(rank, sizeof rank, " (rank %d)", dist_rank());
    fprintf(stderr, "\nerror: %s %d%s: %s is not finite%s%s; %s\n", ts->name, step, rank, what,
            *tensor ? ", first in " : "", tensor, ts->hint);
    exit(1);
}

StepResult train_step(TrainStep* ts, GPT* model, int step, MicroBatchFn fn, void* ctx, double t0) {
    StepResult r = {0};
    gpt_zero_grad(model);
    // [0] the loss, [1] whether any rank was interrupted: one small sum beside the gradients'
    double scalars[2] = {0.0, 0.0};
    for (int k = 0; k < ts->micro; k++) {
        const float* dlosses = NULL;
        scalars[0] += fn(ctx, model, k, &dlosses);
        gpt_backward(model, dlosses);
    }
    scalars[1] = ts->interrupt && *ts->interrupt ? 1.0 : 0.0;
    double c0 = dist_seconds();
    dist_sum_floats(model->grads_memory, model->num_parameters);
    dist_sum_doubles(scalars, 2);
    double comm = dist_seconds() - c0;
    r.loss = (float)scalars[0];
    r.interrupted = scalars[1] > 0.0;
    if (!isfinite(r.loss)) step_fault(ts, model, step, "loss");
    r.norm = gpt_clip_grad_norm(model, ts->clip);
    if (!isfinite(r.norm)) step_fault(ts, model, step, "gradient norm");
    r.lr = lr_schedule(step, ts->steps, ts->warmup, ts->lr, ts->min_lr_frac);
    gpt_update(model, r.lr, 0.9f, 0.95f, 1e-8f, ts->wd, step + 1);
    r.ms = (time_seconds() - t0) * 1000.0;
    if (step > ts->first || ts->steps - ts->first == 1) { // the first step is warm-up
        ts->seconds += r.ms / 1000.0;
        ts->comm_seconds += comm;
        ts->timed++;
    }
    return r;
}

void mean_loss_batch_init(MeanLossBatch* mb, const int* inputs, const int* targets, size_t B, size_t T, int micro) {
    size_t N = (size_t)dist_size(), K = (size_t)micro;
    if (K < 1 || B % (N * K) != 0) fatal("a batch of %zu does not split over %zu ranks x %zu micro-batches", B, N, K);
    *mb = (MeanLossBatch){.inputs = inputs, .targets = targets, .B = B, .T = T,
                          .first = (size_t)dist_rank() * (B / N), .b = B / (N * K)};
    mb->seed = malloc_check(mb->b * T * sizeof(float));
}

void mean_loss_batch_free(MeanLossBatch* mb) { free(mb->seed); }

double mean_loss_micro(void* ctx, GPT* model, int k, const float** dlosses) {
    MeanLossBatch* mb = ctx;
    size_t n = 0;
    for (size_t i = 0; i < mb->B * mb->T; i++) n += mb->targets[i] >= 0; // every rank counts the whole batch
    // (with one micro-batch on one rank, gpt_backward's own mean-loss seed 1 / num_valid)
    float seed = n ? 1.0f / (float)n : 0.0f;
    for (size_t i = 0; i < mb->b * mb->T; i++) mb->seed[i] = seed;
    size_t off = (mb->first + (size_t)k * mb->b) * mb->T;
    gpt_forward(model, mb->inputs + off, mb->targets + off, mb->b, mb->T);
    *dlosses = mb->seed;
    return n ? (double)model->mean_loss * (double)model->num_valid / (double)n : 0.0;
}
