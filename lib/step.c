// step.c: the optimisation step every stage shares (see step.h).
#include "step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

void train_step_init(TrainStep* ts, int steps, int warmup, float lr, float min_lr_frac, float wd, float clip,
                     const char* name, int first) {
    *ts = (TrainStep){.steps = steps, .warmup = warmup, .lr = lr, .min_lr_frac = min_lr_frac, .wd = wd,
                      .clip = clip, .name = name, .first = first};
}

// Stops the program on a non-finite `what` at step, naming the first non-finite parameter,
// activation or gradient (gpt_first_nonfinite) and the stage's advice. Nothing is saved here: the
// last checkpoint stays as it was.
NORETURN static void step_fault(const TrainStep* ts, const GPT* model, int step, const char* what) {
    char tensor[128] = "";
    gpt_first_nonfinite(model, tensor, sizeof tensor);
    fprintf(stderr, "\nerror: %s %d: %s is not finite%s%s; %s\n", ts->name, step, what, *tensor ? ", first in " : "",
            tensor, ts->hint);
    exit(1);
}

StepResult train_step(TrainStep* ts, GPT* model, int step, float loss, const float* dlosses, double t0) {
    StepResult r = {.loss = loss};
    if (!isfinite(loss)) step_fault(ts, model, step, "loss");
    gpt_zero_grad(model);
    gpt_backward(model, dlosses);
    r.norm = gpt_clip_grad_norm(model, ts->clip);
    if (!isfinite(r.norm)) step_fault(ts, model, step, "gradient norm");
    r.lr = lr_schedule(step, ts->steps, ts->warmup, ts->lr, ts->min_lr_frac);
    gpt_update(model, r.lr, 0.9f, 0.95f, 1e-8f, ts->wd, step + 1);
    r.ms = (time_seconds() - t0) * 1000.0;
    if (step > ts->first || ts->steps - ts->first == 1) { // the first step is warm-up
        ts->seconds += r.ms / 1000.0;
        ts->timed++;
    }
    return r;
}
