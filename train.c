// train.c: the ./train command. Pre-trains a GPT-2 style model on a text (the built-in corpus by
// default), logging to a run folder (see README.md, "The run folder"); checkpoints, exact resume,
// samples; then the DPO stage (lib/dpo.c). What the stages share lives beside: the flag table,
// defaults and presets in lib/config.c (the parser in lib/flags.c), the data and its loaders in
// data/dataset.c, the optimisation step in lib/step.c, the
// run folder's files (training state, CSV logs, progress, probes) in lib/run.c, the ranks of a
// data-parallel job (mpirun, make USE_MPI=1) in lib/dist.c: every rank runs this same program on its
// share of every batch; rank 0 alone prints and writes the run folder.
//
// Modes besides training: --sample (lib/sample.c), --eval (lib/eval.c), --probe-only, and DPO
// alone (lib/dpo.c), each on a saved model folder (--init). Sections: evaluation and sampling;
// the pre-training stage; main.
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
#include "lib/config.h"
#include "lib/dist.h"
#include "lib/dpo.h"
#include "lib/flags.h"
#include "lib/gemm.h"
#include "lib/json.h"
#include "lib/eval.h"
#include "lib/page.h"
#include "lib/run.h"
#include "lib/sample.h"
#include "lib/step.h"
#include "model.h"
#include "probes.h"
#include "tokenizer.h"

// The build's revision (git describe), set by the Makefile for run.json.
#ifndef BUILD_REV
#define BUILD_REV "unknown"
#endif

// ============================================================================
// Evaluation and sampling

// Mean cross-entropy (nats/token) over every target of the val set: each rank evaluates its share
// of every batch, in forwards of at most `rows` rows (a training micro-batch, so that evaluation
// needs no more memory than a step), and the sums are added over the ranks. With probes (a probe
// step begun with probes_begin_sharing), each forward also serves the probes (probes_take).
static double evaluate(GPT* model, const ValSet* vs, size_t rows, Probes* probes) {
    size_t lo, hi;
    dist_share(vs->B, &lo, &hi);
    double acc[2] = {0.0, 0.0}; // summed loss, targets
    for (size_t b = 0; b < vs->num_batches; b++)
        for (size_t r = lo; r < hi; r += rows) {
            size_t n = hi - r < rows ? hi - r : rows, off = (b * vs->B + r) * vs->T;
            gpt_forward(model, vs->inputs + off, vs->targets + off, n, vs->T);
            if (probes) probes_take(probes, model, b * vs->B + r, n);
            acc[0] += (double)model->mean_loss * (double)model->num_valid;
            acc[1] += (double)model->num_valid;
        }
    dist_sum_doubles(acc, 2);
    return acc[1] > 0.0 ? acc[0] / acc[1] : NAN;
}

// A sample of the run's model from the start of a document (the prompt is "\n\n", the corpus's
// document separator), printed under title.
static void sample_and_print(GPT* model, const Tokenizer* tok, const TrainConfig* cfg, size_t T, uint64_t* rng,
                             const char* title, Page* page) {
    if (!dist_root()) return; // the other ranks' samples would go nowhere
    size_t np = 0;
    int* prompt = tok_encode(tok, "\n\n", 2, &np);
    int n = 0;
    int* seq = gpt_generate(model, prompt, (int)np, cfg->sample_len, T, cfg->temperature, cfg->top_k, -1, rng, &n);
    print_sample(title, tok, seq + np, n - (int)np, page);
    free(seq);
    free(prompt);
}

// ============================================================================
// The pre-training stage

// Everything a stage shares: the run's settings, folder, data and logs.
typedef struct {
    TrainConfig cfg;
    RunShape shape;
    size_t micro_rows; // B / (ranks x --grad-accum): the sequences of one forward on one rank
    char dir[4096];  // run folder
    Dataset data;
    GPT model;
    FILE* csv;       // DIR/train.csv, appending
    char csv_path[4200];
    int start_step;  // 0, or the step --resume continues from
    uint64_t loader_rng, loader_pos, sample_rng; // restored by --resume
    Probes probes;   // hidden-state probes (shared with later stages)
    Page page;       // DIR/index.html, the run's live page
    char state_input[4096], state_model[32]; // --input and --model as read from train_state.bin
    DPOSettings dpo;  // the DPO stage's settings (from the flags, or from train_state.bin on --resume)
    double final_val_loss;
    double t_start;
    double step_seconds; // wall time of the timed pre-training steps (the first of this process is warm-up)
    double comm_seconds; // of which summing gradients over the ranks
    int steps_timed;     // how many steps step_seconds covers
} Run;

// Fills a state header for the run at `step` (steps completed).
static TrainStateHeader state_header(const Run* run, int step, const DataLoader* dl, uint64_t sample_rng) {
    TrainStateHeader h;
    memset(&h, 0, sizeof h);
    const GPTConfig* g = &run->model.config;
    h.magic = STATE_MAGIC;
    h.version = STATE_VERSION;
    h.num_parameters = run->model.num_parameters;
    h.sched_steps = run->shape.sched_steps;
    h.dpo = run->dpo;
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
    h.probe_every = run->probes.every;
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
    h.loader_rng = dl->rng;
    h.loader_pos = dl->pos;
    h.sample_rng = sample_rng;
    if (run->cfg.input) snprintf(h.input, sizeof h.input, "%s", run->cfg.input);
    return h;
}

// Stops every rank unless all of them hold the same parameters (they must, after every step: the
// same start, the same summed gradients). Every rank calls it.
static void check_ranks_agree(const GPT* model) {
    dist_check_same_floats(model->params_memory, model->num_parameters, "the parameters");
}

// The files of save_checkpoint.
static void write_checkpoint(const Run* run, int step, const DataLoader* dl, uint64_t sample_rng) {
    char path[4200], err[4600];
    path_join(path, sizeof path, run->dir, "pretrain");
    save_model_folder(&run->model, run->data.tok, path);
    TrainStateHeader h = state_header(run, step, dl, sample_rng);
    if (state_save(run->dir, &h, &run->model, err, sizeof err) != 0) fatal("%s", err);
}

// Saves DIR/pretrain/ (the model folder) and DIR/train_state.bin after `step` completed steps.
// Every rank calls it: the ranks' parameters are compared, rank 0 writes, and the others wait
// until it has (DPO then reads DIR/pretrain/ on every rank).
static void save_checkpoint(const Run* run, int step, const DataLoader* dl, uint64_t sample_rng) {
    check_ranks_agree(&run->model);
    if (dist_root()) write_checkpoint(run, step, dl, sample_rng);
    dist_barrier();
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

// At `step`: the val loss when eval (else NAN), the probe rows when probe (with the final set when
// with_final). The val set's first windows are the probe sequences' first ones (both are the val
// split's first windows), so the evaluation's forwards serve the probes too: one forward of them,
// not two. The evaluation's own time is not counted as the probes' (probes_take counts its part).
static double evaluate_and_probe(Run* run, const ValSet* val, int step, int eval, int probe, int with_final) {
    Probes* p = &run->probes;
    probe = probe && p->every > 0;
    double t0 = probe ? probes_begin_sharing(p, &run->model, with_final, eval ? val->inputs : NULL,
                                             eval ? val->num_windows : 0)
                      : 0.0;
    double loss = NAN;
    if (eval) {
        double te = time_seconds();
        loss = evaluate(&run->model, val, run->micro_rows, probe ? p : NULL);
        t0 += time_seconds() - te;
    }
    if (probe) probes_end(p, step, "pretrain", with_final, t0);
    return loss;
}

// Pre-trains run->model for the configured steps: per step a batch (the same on every rank, which
// takes its share), then the shared step (forward and backward per micro-batch, the sum over the
// ranks, clip, AdamW). Evaluates, samples, logs and checkpoints on the way; on Ctrl-C, SIGTERM,
// SIGUSR1 or --pause-at saves and exits 0. The learning rate follows the schedule of sched_steps
// steps: the steps that --resume --steps added to a run run at its final rate.
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
    train_step_init(&ts, s->sched_steps, s->warmup, s->lr, cfg->min_lr_frac, cfg->wd, cfg->clip, cfg->grad_accum,
                    "step", run->start_step);
    ts.interrupt = run_interrupt_flag();
    set_fault_hint(&ts, run, run->start_step);
    MeanLossBatch micro; // this rank's share of each batch the loader draws into its buffers
    mean_loss_batch_init(&micro, train.inputs, train.targets, B, T, cfg->grad_accum);
    Progress pr;
    progress_init(&pr, run->start_step, s->steps, (double)(B * T));
    run_catch_signals();

    for (int step = run->start_step; step < s->steps; step++) {
        double val_loss = NAN;
        int news = 0; // something for the page: a val loss, a probe step, a sample
        int eval = cfg->eval_every > 0 && step % cfg->eval_every == 0, probe = probes_due(&run->probes, step);
        if (eval || probe) val_loss = evaluate_and_probe(run, &val, step, eval, probe, 0), news = 1;
        if (cfg->sample_every > 0 && step > 0 && step % cfg->sample_every == 0) {
            char title[64];
            snprintf(title, sizeof title, "sample at step %d", step);
            progress_break(&pr);
            sample_and_print(model, ds->tok, cfg, T, &sample_rng, title, &run->page);
            news = 1;
        }

        double t0 = time_seconds();
        loader_next(&train);
        StepResult r = train_step(&ts, model, step, mean_loss_micro, &micro, t0);
        double row[6] = {r.loss, val_loss, r.lr, r.norm, r.ms, (double)(B * T) / (r.ms / 1000.0)};
        if (dist_root()) log_row(run->csv, run->csv_path, step, "pretrain", row, 6);
        progress_step(&pr, step, r.loss, val_loss, r.lr, r.norm, r.ms);

        int done = step + 1;
        if (news) page_update(&run->page, "live", "pretrain", done, s->steps);
        // (after the last step there is nothing to pause: the run finishes and saves as usual)
        int stop = done < s->steps && (r.interrupted || (cfg->pause_at > 0 && done == cfg->pause_at));
        if (done < s->steps && (stop || (cfg->save_every > 0 && done % cfg->save_every == 0))) {
            save_checkpoint(run, done, &train, sample_rng);
            set_fault_hint(&ts, run, done);
        }
        if (stop) {
            page_update(&run->page, r.interrupted ? "interrupted" : "paused", "pretrain", done, s->steps);
            progress_break(&pr);
            printf("%s after step %d/%d; checkpoint saved in %s/\ncontinue with: ./train --resume %s\n",
                   r.interrupted ? run_interrupt_name() : "paused", done, s->steps, run->dir, run->dir);
            dist_exit(0);
        }
    }
    run->step_seconds = ts.seconds;
    run->comm_seconds = ts.comm_seconds;
    run->steps_timed = ts.timed;
    mean_loss_batch_free(&micro);

    // final evaluation, after the last update, logged as a row of its own; the last probe rows of
    // the stage (both sets) come from exactly the weights saved for it
    run->final_val_loss = evaluate_and_probe(run, &val, s->steps, 1, 1, 1);
    double row[6] = {NAN, run->final_val_loss, NAN, NAN, NAN, NAN};
    if (dist_root()) log_row(run->csv, run->csv_path, s->steps, "pretrain", row, 6);
    save_checkpoint(run, s->steps, &train, sample_rng);
    sample_and_print(model, ds->tok, cfg, T, &sample_rng, "final sample", &run->page);
    probes_plot(&run->probes, run->dir);
    page_update(&run->page, "live", "pretrain", s->steps, s->steps);
    loader_free(&train);
    valset_free(&val);
}

// --probe-only: probes the --init model once (step 0) and draws the figures; no training.
static void probe_only_stage(Run* run) {
    probes_measure_end(&run->probes, &run->model, 0, "pretrain");
    probes_plot(&run->probes, run->dir);
    page_init(&run->page, run->dir);
    page_update(&run->page, "finished", NULL, 0, 0);
    printf("probed     %s in %.1f s: %s/probes.csv, probe_bins.safetensors, info_plane.svg, probes.svg\n",
           run->cfg.init, run->probes.seconds, run->dir);
}

// --eval: the model's cross-entropy over the text, then its probes (as --probe-only) unless
// --probe-every 0.
static void eval_stage(Run* run) {
    eval_report(&run->model, &run->data, (size_t)run->shape.T, (size_t)run->shape.B);
    if (run->probes.every > 0) probe_only_stage(run);
}

// ============================================================================
// main

// Sets the OpenMP thread count and returns it. 0 = all the cores this process may run on, shared
// out between the ranks on this machine unless mpirun has bound each rank to its own cores.
static int setup_threads(int threads) {
#ifdef _OPENMP
    int procs = omp_get_num_procs(); // the cores of this process's CPU affinity
    if (threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        threads = procs == online ? procs / dist_local_size() : procs;
        if (threads < 1) threads = 1;
    }
    if (threads > procs && dist_size() > 1)
        printf("note: %d threads on %d core%s (this rank's CPU affinity: see mpirun's --bind-to in README.md)\n",
               threads, procs, procs == 1 ? "" : "s");
    omp_set_num_threads(threads);
    return threads;
#else
    (void)threads;
    return 1;
#endif
}

// Resolves the run folder: --resume DIR, --out DIR, or a fresh runs/<data>-<model>[-N]; then claims
// it (run_folder_claim: the lock, stale temporaries, and for a new run a folder that holds no other
// run). A dry run, or a mode that writes nothing (claim = 0), claims nothing and only names the
// folder it would use.
static void resolve_dir(Run* run, int claim) {
    const TrainConfig* cfg = &run->cfg;
    if (cfg->resume) snprintf(run->dir, sizeof run->dir, "%s", cfg->resume); // claimed by resume_run
    else if (cfg->out) snprintf(run->dir, sizeof run->dir, "%s", cfg->out);
    else {
        // runs/<data>-<model>, the model being the preset or the --init folder's name
        char init[4096] = "", base[4400];
        if (cfg->init) {
            snprintf(init, sizeof init, "%s", cfg->init);
            size_t l = strlen(init);
            while (l > 1 && init[l - 1] == '/') init[--l] = '\0';
        }
        const char* slash = strrchr(init, '/');
        const char* model = cfg->init ? (slash ? slash + 1 : init) : cfg->model;
        snprintf(base, sizeof base, "runs/%.200s-%.200s", run->data.name, model);
        run_folder_default(run->dir, sizeof run->dir, base, claim && !cfg->dry_run);
    }
    if (!cfg->resume && !cfg->out && claim && !cfg->dry_run) run_folder_claim(run->dir, "--out", 1, cfg->overwrite);
}

// Loads the run's data (dataset_load) on every rank: rank 0 first, since it may train the tokenizer
// and write the cache, then the others, which read that cache where the machines share the
// folder (or build the same one). Every rank must end with the same data.
static void load_data(Dataset* ds, const char* input, int vocab, float val_frac, const char* tok_dir, int eot_special) {
    if (dist_root()) dataset_load(ds, input, vocab, val_frac, tok_dir, eot_special);
    dist_barrier();
    if (!dist_root()) dataset_load(ds, input, vocab, val_frac, tok_dir, eot_special);
    dist_check_same(ds->hash, "the data (text, tokenizer and split)");
}

// The flags --resume accepts: those that do not change the trajectory, and --steps, which extends
// a run (resume_run checks how).
static void check_resume_flags(const Run* run, const unsigned char* given) {
    for (size_t i = 0; i < NUM_TRAIN_FLAGS; i++)
        if (given[i] && !TRAIN_FLAGS[i].on_resume && strcmp(TRAIN_FLAGS[i].name, "--steps") != 0)
            error_usage("%s cannot be combined with --resume (the run's settings come from %s/train_state.bin)",
                        TRAIN_FLAGS[i].name, run->cfg.resume);
}

// The run's settings from the state h (the flags that may be given on --resume win).
static void settings_from_state(Run* run, const TrainStateHeader* h, const unsigned char* given) {
    TrainConfig* cfg = &run->cfg;
    memcpy(run->state_input, h->input, sizeof run->state_input);
    memcpy(run->state_model, h->model, sizeof run->state_model);
    cfg->input = run->state_input[0] ? run->state_input : NULL;
    cfg->sequential = h->sequential;
    cfg->min_lr_frac = (float)h->min_lr_frac;
    cfg->wd = (float)h->wd;
    cfg->clip = (float)h->clip;
    cfg->val_frac = (float)h->val_frac;
    cfg->seed = h->seed;
    cfg->eval_batches = h->eval_batches;
    cfg->model = run->state_model;
    if (!flag_given(given, "--eval-every")) cfg->eval_every = h->eval_every;
    if (!flag_given(given, "--sample-every")) cfg->sample_every = h->sample_every;
    if (!flag_given(given, "--save-every")) cfg->save_every = h->save_every;
    cfg->probe_every = h->probe_every;
    cfg->probe_seqs = h->probe_seqs;
    cfg->probe_bins = h->probe_bins;
    cfg->prec = (GemmPrecision)h->precision; // (state_check: 0 or 1)
    // (threads per rank: on another rank count the state's figure would not fit the cores)
    if (!flag_given(given, "--threads") && dist_size() == 1) cfg->threads = h->threads;
    run->dpo = h->dpo;
    // the DPO stage as it was set when the run started
    cfg->dpo_steps = h->dpo.wanted ? h->dpo.steps : 0;
    if (h->dpo.wanted) {
        DPOConfig dc = dpo_config_from_settings(&run->dpo, 0);
        cfg->dpo = dc.pairs;
        cfg->dpo_batch = dc.batch;
        cfg->dpo_lr = dc.lr;
        cfg->beta = dc.beta;
        cfg->dpo_loss = dc.loss;
        cfg->label_smoothing = dc.label_smoothing;
        cfg->skip_bad = dc.skip_bad;
        cfg->dpo_val_frac = dc.val_frac;
        cfg->dpo_pairs = dc.n_pairs;
        cfg->dpo_eval_every = dc.eval_every;
        cfg->dpo_prompts = dc.n_prompts;
    }
    run->shape.gpt = (GPTConfig){h->maxT, h->V, h->L, h->NH, h->C};
    run->shape.T = h->T;
    run->shape.B = h->B;
    run->shape.steps = h->steps;
    run->shape.sched_steps = h->sched_steps;
    run->shape.warmup = h->warmup;
    run->shape.lr = (float)h->lr;
}

// --resume --steps N: extends a paused or finished run to N steps. The learning-rate schedule
// stays the one of the run's own steps (sched_steps), so every step the run would have taken
// anyway is unchanged, and the added steps run at its final rate, min_lr_frac x lr.
static void extend_run(Run* run, const TrainStateHeader* h, const unsigned char* given) {
    if (!flag_given(given, "--steps")) return;
    int n = run->cfg.steps;
    if (n < h->steps)
        error_usage("--steps %d: the run has %d steps; --resume can extend a run, not shorten it", n, h->steps);
    if (run->cfg.pause_at > 0 && run->cfg.pause_at >= n)
        error_usage("--pause-at %d must be less than --steps %d", run->cfg.pause_at, n);
    if (n > h->steps)
        printf("extending  the run from %d to %d steps; steps %d.. run at the final learning rate %g\n", h->steps, n,
               h->steps, (double)((float)h->lr * (float)h->min_lr_frac));
    run->shape.steps = n;
}

// --resume: claims the folder, reads the state, takes the run's settings from it (refusing flags
// that would change the trajectory), and restores parameters, moments, RNG and data position.
// Returns 1 when pre-training is to continue, 0 when it finished (the DPO stage may remain).
static int resume_run(Run* run, const unsigned char* given) {
    check_resume_flags(run, given);
    TrainStateHeader h;
    float *params, *m, *v;
    state_load(run->cfg.resume, &h, &params, &m, &v);
    TrainConfig* cfg = &run->cfg;
    h.model[sizeof h.model - 1] = '\0';
    settings_from_state(run, &h, given);
    extend_run(run, &h, given);
    char tok_dir[4200];
    path_join(tok_dir, sizeof tok_dir, cfg->resume, "pretrain");
    if (cfg->pause_at > 0 && cfg->pause_at <= h.step)
        error_usage("--pause-at %d: the run is already at step %d", cfg->pause_at, h.step);
    int pretraining = h.step < run->shape.steps;
    if (!pretraining && !run->dpo.wanted) {
        printf("%s: the run already finished its %d steps; nothing to resume (--steps N extends it)\n", cfg->resume,
               h.steps);
        dist_exit(0);
    }
    if (pretraining) { // the DPO stage alone needs no data
        load_data(&run->data, cfg->input, cfg->vocab, cfg->val_frac, tok_dir, !cfg->eot_as_text);
        if (run->data.hash != h.data_hash)
            fatal("%s/train_state.bin: the data (%s) differs from the data the run was trained on", cfg->resume,
                  run->data.source);
    }
    gpt_build(&run->model, run->shape.gpt, h.seed);
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
    if (cfg->threads != h.threads && dist_size() == 1)
        printf("note: %d threads now, %d before: the losses may differ from an uninterrupted run in the last bits\n",
               cfg->threads, h.threads);
    return pretraining;
}

// A fresh run (or --init): the data, the shape and the DPO stage's settings; main then builds or
// loads the model.
static void new_run(Run* run, const unsigned char* given) {
    TrainConfig* cfg = &run->cfg;
    cfg->threads = setup_threads(cfg->threads);
    GPTConfig init_cfg;
    if (cfg->init) {
        init_cfg = read_model_config(cfg->init);
        if (flag_given(given, "--vocab"))
            error_usage("--vocab cannot be combined with --init (the tokenizer is %s's)", cfg->init);
    }
    load_data(&run->data, cfg->input, cfg->vocab, cfg->val_frac, cfg->init, !cfg->eot_as_text);
    run->shape = resolve_shape(cfg, cfg->init ? &init_cfg : NULL, run->data.V);
    memset(&run->dpo, 0, sizeof run->dpo);
    if (dpo_wanted(cfg)) {
        DPOConfig dc = dpo_config(cfg, run->shape.T);
        dpo_settings_from_config(&dc, &run->dpo);
    }
    // the model, random or --init's, is built or loaded by main once the memory estimate has been
    // checked: a model too large is refused before anything of its size is allocated
}

// Checks that both splits hold a window of T+1 tokens.
static void check_data_fits(const Run* run) {
    size_t T = (size_t)run->shape.T, ntrain = run->data.n_train, nval = run->data.n_val;
    if (ntrain < T + 1 || nval < T + 1)
        fatal("%s: too little data for -T %zu: %zu train and %zu val tokens, each split needs at least %zu "
              "(use a smaller -T or a larger input)",
              run->data.source, T, ntrain, nval, T + 1);
}

// The header: what this run does, on what data and model, and what it will take.
static void print_config(const Run* run, RunMode mode, size_t mem) {
    const RunShape* s = &run->shape;
    const TrainConfig* cfg = &run->cfg;
    char mem_s[32];
    format_bytes(mem_s, sizeof mem_s, (double)mem);
    uint64_t nparams = state_param_count(s->gpt.num_layers, s->gpt.channels, s->gpt.vocab_size, s->gpt.max_seq_len);
    static const char* what[] = {"pre-training a GPT-2 style model", "probing a saved model's hidden states (no training)",
                                 "evaluating a saved model on a text (no training)"};
    printf("forgetful: %s\n", what[mode]);
    printf("data       %s: %zu tokens (BPE, V=%d), %zu train / %zu val, %zu bytes\n", run->data.source,
           run->data.n_train + run->data.n_val, run->data.V, run->data.n_train, run->data.n_val, run->data.bytes);
    printf("model      %s%s: L%d C%d H%d T%d (n_positions %d), %.2fM parameters\n", cfg->init ? "from " : "",
           cfg->init ? cfg->init : cfg->model, s->gpt.num_layers, s->gpt.channels, s->gpt.num_heads, s->T,
           s->gpt.max_seq_len, (double)nparams / 1e6);
    if (mode == MODE_TRAIN) {
        printf("training   %d steps of B%d x T%d = %d tokens, lr %g (warm-up %d, cosine to %g), wd %g, clip %g\n",
               s->steps, s->B, s->T, s->B * s->T, (double)s->lr, s->warmup, (double)(s->lr * cfg->min_lr_frac),
               (double)cfg->wd, (double)cfg->clip);
        if (s->finetune)
            printf("           (fine-tuning: lr is %g x the %s preset's %g, --lr sets it; B and steps are the preset's)\n",
                   (double)FINETUNE_LR_FRAC, s->preset, (double)(s->lr / FINETUNE_LR_FRAC));
        printf("memory     %s estimated%s (parameters, gradients, AdamW moments, activations, tokens%s)\n", mem_s,
               dist_size() > 1 ? " per rank" : "", run->dpo.wanted ? "; DPO's 2x batch and reference model" : "");
    } else {
        if (mode == MODE_PROBE || cfg->probe_every != 0)
            printf("probes     %d sequences of T%d from the start of the val split, %d bins\n", cfg->probe_seqs, s->T,
                   cfg->probe_bins);
        printf("memory     %s estimated%s (parameters and the activations of a forward over B%zu x T%d)\n", mem_s,
               dist_size() > 1 ? " per rank" : "", run->micro_rows, s->T);
    }
    if (dist_size() > 1 || cfg->grad_accum > 1)
        printf("batch      B%d = %d rank%s x %d micro-batch%s x %zu sequences per forward%s%s\n", s->B, dist_size(),
               dist_size() == 1 ? "" : "s", cfg->grad_accum, cfg->grad_accum == 1 ? "" : "es", run->micro_rows,
               dist_describe() ? "; " : "", dist_describe() ? dist_describe() : "");
    printf("seed       %llu, threads %d%s\n", (unsigned long long)cfg->seed, cfg->threads,
           dist_size() > 1 ? " per rank" : "");
    if (cfg->prec == GEMM_BF16)
        printf("precision  bf16 inputs to every matrix product, fp32 sums, weights, AdamW and activations: %s\n",
               gemm_bf16_path(GEMM_AUTO));
    if (mode != MODE_EVAL || cfg->probe_every != 0) printf("run folder %s/\n", run->dir);
    fflush(stdout);
}

// Bytes one rank needs at its peak, and its parts (at most 2) for a refusal that names what does
// not fit: pre-training and the DPO stage after it, or one forward for the modes without training.
// Both count the tokens of the data (4 bytes each, both splits, and the fixed val set's inputs and
// targets) and tokenizer.json's text; the text itself is freed before the model is allocated.
// A rank's forwards hold micro_rows sequences; the ranks on this machine share its memory, so each
// part is judged against its share of what is available.
static size_t run_memory(const Run* run, RunMode mode, MemPart* parts, int* nparts) {
    const GPTConfig* g = &run->shape.gpt;
    size_t rows = run->micro_rows, T = (size_t)run->shape.T, avail = memory_available() / (size_t)dist_local_size();
    size_t split = (size_t)run->shape.B / rows; // ranks x micro-batches
    int training = mode == MODE_TRAIN;
    size_t data = (run->data.n_train + run->data.n_val + 2 * (size_t)run->cfg.eval_batches * (size_t)run->shape.B * T) *
                      sizeof(int) +
                  run->data.tok_json_len;
    size_t mem = gpt_memory_estimate(g, rows, T, training) + data;
    parts[0] = (MemPart){.bytes = mem};
    snprintf(parts[0].what, sizeof parts[0].what, "%s (B%zu x T%zu)",
             training ? "pre-training (parameters, gradients, AdamW moments, activations)" : "the model's forward", rows,
             T);
    size_t lo = 0, hi = rows - 1; // the largest forward that fits (the estimate grows with it)
    while (avail && lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (gpt_memory_estimate(g, mid, T, training) + data <= avail) lo = mid;
        else hi = mid - 1;
    }
    if (lo > 0) snprintf(parts[0].fix, sizeof parts[0].fix, "-B %zu fits", lo * split);
    else snprintf(parts[0].fix, sizeof parts[0].fix, "use a smaller -T or model");
    *nparts = 1;
    if (run->dpo.wanted) {
        parts[1] = dpo_memory_part(g, mem, run->dpo.batch, dist_size() * run->cfg.grad_accum, (int)T,
                                   run->dpo.pairs[0] ? 0 : run->dpo.n_prompts, avail);
        mem = parts[1].bytes;
        *nparts = 2;
    }
    return mem;
}

// Writes DIR/run.json, how the run was made: every flag's resolved value (the "auto" ones as the run
// uses them) at the top level, then the data, the model and the build as objects of their own.
static void write_run_json(const Run* run, RunMode mode) {
    if (!dist_root()) return; // rank 0 writes the run folder
    TrainConfig r = run->cfg;
    const RunShape* s = &run->shape;
    const GPTConfig* g = &run->model.config;
    r.L = g->num_layers, r.C = g->channels, r.H = g->num_heads, r.T = s->T, r.B = s->B;
    r.steps = s->steps, r.lr = s->lr, r.warmup = s->warmup, r.probe_every = run->probes.every;
    char path[4200], err[1024];
    path_join(path, sizeof path, run->dir, "run.json");
    AtomicFile af;
    if (atomic_open(&af, path, err, sizeof err) != 0) fatal("%s", err);
    FILE* f = af.f;
    static const char* modes[] = {"pretrain", "probe", "eval"};
    fprintf(f, "{\n  \"mode\": \"%s\",\n", modes[mode]);
    flags_write_json(f, TRAIN_FLAGS, NUM_TRAIN_FLAGS, &r, "model"); // --model is "preset" in "model" below
    const Dataset* d = &run->data;
    fprintf(f, "  \"data\": {\"source\": ");
    json_write_string(f, d->source, strlen(d->source));
    fprintf(f, ", \"bytes\": %zu, \"tokens\": %zu, \"train_tokens\": %zu, \"val_tokens\": %zu, \"vocab_size\": %d, "
               "\"hash\": \"%016llx\"},\n",
            d->bytes, d->n_train + d->n_val, d->n_train, d->n_val, d->V, (unsigned long long)d->hash);
    fprintf(f, "  \"model\": {\"preset\": \"%s\", \"init\": ", s->preset);
    if (r.init) json_write_string(f, r.init, strlen(r.init));
    else fprintf(f, "null");
    fprintf(f, ", \"n_layer\": %d, \"n_embd\": %d, \"n_head\": %d, \"n_positions\": %d, \"vocab_size\": %d, "
               "\"parameters\": %zu},\n",
            g->num_layers, g->channels, g->num_heads, g->max_seq_len, g->vocab_size, run->model.num_parameters);
#ifdef _OPENMP
    int openmp = 1;
#else
    int openmp = 0;
#endif
#ifdef USE_CUBLAS
    int gpu = 1;
#else
    int gpu = 0;
#endif
    fprintf(f, "  \"build\": {\"revision\": \"%s\", \"compiler\": \"%s\", \"openmp\": %s, \"gpu\": %s}\n}\n", BUILD_REV,
            __VERSION__, openmp ? "true" : "false", gpu ? "true" : "false");
    if (ferror(f)) {
        atomic_abort(&af);
        fatal("%s: write failed", path);
    }
    if (atomic_commit(&af, err, sizeof err) != 0) fatal("%s", err);
}

// Prepares the run folder: the folder, the probes (and --ib-bound's curve), train.csv and
// baselines.csv.
static void open_run_folder(Run* run, RunMode mode) {
    char err[512];
    if (dist_root() && make_dirs(run->dir, err, sizeof err) != 0) fatal("%s", err);
    const TrainConfig* cfg = &run->cfg;
    int probe_every = cfg->probe_every >= 0 ? cfg->probe_every : run->shape.steps / 20 > 0 ? run->shape.steps / 20 : 1;
    ProbeSettings ps = {.n_bins = cfg->probe_bins, .seeds = cfg->probe_seeds, .traj_seqs = cfg->probe_seqs,
                        .final_seqs = cfg->probe_final_seqs};
    if (probe_calibration_parse(cfg->probe_calibration, &ps.calibration) != 0)
        error_usage("--probe-calibration: unknown calibration '%s' (gaussian, find_eps, leading_order)",
                    cfg->probe_calibration);
    // a resumed run continues with its own bins file, whatever the defaults are now
    if (probe_every == 0 || run->start_step == 0 || probes_load(&run->probes, run->dir, &run->model.config,
                                                                run->micro_rows) != 0)
        probes_init(&run->probes, run->dir, run->data.val, run->data.n_val, &run->model.config, (size_t)run->shape.T,
                    run->micro_rows, probe_every, &ps, run->start_step);
    else {
        run->probes.every = probe_every;
        if (dist_root()) restart_csv(run->probes.csv, PROBE_CSV_HEADER, run->start_step, 0);
    }
    run->probes.corrected_plots = cfg->plot_corrected;
    if (cfg->ib_bound) probes_ib_bound(&run->probes, run->dir, run->data.train, run->data.n_train, cfg->probe_bins);
    write_run_json(run, mode);
}

// Opens train.csv (continued on --resume), writes baselines.csv and prints the baselines; starts the
// run's page.
static void open_logs(Run* run) {
    path_join(run->csv_path, sizeof run->csv_path, run->dir, "train.csv");
    if (dist_root()) {
        run->csv = open_csv_log(run->csv_path, TRAIN_CSV_HEADER, (CsvKeep){{run->start_step, 0}});
        dataset_write_baselines(&run->data, run->dir);
    }
    const NgramStats* ng = &run->data.ngram;
    printf("baselines  val cross-entropy of n-gram models: unigram %.4f, bigram %.4f, trigram %.4f nats/token\n"
           "           (a fresh model starts near ln V = %.4f)\n",
           ng->h1, ng->h2, ng->h3, log((double)run->data.V));
    if (run->start_step > 0) printf("resuming   at step %d/%d\n", run->start_step, run->shape.steps);
    page_init(&run->page, run->dir);
    page_update(&run->page, "live", "pretrain", run->start_step, run->shape.steps);
    char url[4300];
    page_url(&run->page, url, sizeof url);
    printf("page       %s (open it in a browser: it follows the run)\n", url);
}

// The closing summary: final val loss against the baselines, time, memory, throughput, probes.
static void print_summary(const Run* run) {
    if (!dist_root()) return; // (print_throughput would time an SGEMM for nothing)
    const NgramStats* ng = &run->data.ngram;
    double wall = time_seconds() - run->t_start;
    char wall_s[32], rss_s[32];
    format_duration(wall_s, sizeof wall_s, wall);
    format_bytes(rss_s, sizeof rss_s, peak_rss());
    printf("summary    final val loss %.4f nats/token vs n-gram baselines: unigram %.4f, bigram %.4f, trigram %.4f\n",
           run->final_val_loss, ng->h1, ng->h2, ng->h3);
    printf("           wall time %s (%.1f s), peak RSS %s\n", wall_s, wall, rss_s);
    print_throughput(&run->model, (size_t)run->shape.B, (size_t)run->shape.T, run->step_seconds, run->comm_seconds,
                     run->steps_timed, run->cfg.peak_gflops);
    if (run->probes.every > 0)
        printf("           probes: %.1f s, %.1f%% of the wall time; %s/info_plane.svg, probes.svg, probes.csv\n",
               run->probes.seconds, 100.0 * run->probes.seconds / wall, run->dir);
    printf("           model in %s/pretrain/, log in %s/train.csv\n", run->dir, run->dir);
    char url[4300];
    page_url(&run->page, url, sizeof url);
    printf("           page %s\n", url);
}

// ./train --compare RUN... --out DIR: writes DIR/index.html overlaying the run folders (page.h).
// Usage mistakes exit 2; a missing or non-run folder exits 1 with one line naming it.
static int compare_command(int argc, char** argv) {
    const char* out = NULL;
    const char** runs = malloc_check((size_t)argc * sizeof(char*));
    int n = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--compare") == 0) continue;
        if (strcmp(argv[a], "--out") == 0 || strncmp(argv[a], "--out=", 6) == 0) {
            if (out) error_usage("--out given twice");
            out = argv[a][5] == '=' ? argv[a] + 6 : a + 1 < argc ? argv[++a] : NULL;
            if (!out || !*out) error_usage("--out needs a value (DIR)");
        } else if (argv[a][0] == '-') {
            error_usage("--compare takes run folders and --out DIR, not '%s'", argv[a]);
        } else {
            runs[n++] = argv[a];
        }
    }
    if (n == 0)
        error_usage("--compare needs at least one run folder: ./train --compare RUN1 RUN2 ... --out DIR");
    if (!out) error_usage("--compare needs --out DIR (the compare page is DIR/index.html)");
    char err[8192];
    if (page_compare(runs, n, out, err, sizeof err) != 0) fatal("--compare: %s", err);
    char abs[4096];
    printf("compare    %d run%s: file://%s/index.html\n", n, n == 1 ? "" : "s",
           realpath(out, abs) ? abs : out);
    free(runs);
    return 0;
}

static void run_free(Run* run) {
    page_free(&run->page);
    probes_free(&run->probes);
    gpt_free(&run->model);
    dataset_free(&run->data);
}

// --resume of a run whose DPO stage has a checkpoint (DIR/dpo_state.bin): the stage continues
// where it stopped; pre-training is over and cannot be extended any more.
static void resume_dpo_stage(Run* run, const unsigned char* given) {
    check_resume_flags(run, given);
    const char* dir = run->cfg.resume;
    if (flag_given(given, "--steps"))
        error_usage("--steps: the DPO stage of %s has started, so its pre-training can no longer be extended", dir);
    if (flag_given(given, "--pause-at")) error_usage("--pause-at: the run in %s is in its DPO stage", dir);
    DPOStateHeader h;
    GPT policy;
    dpo_state_load(dir, &h, &policy);
    if (h.step >= h.s.steps) {
        printf("%s: the run's DPO stage already finished its %d steps; nothing to resume\n", dir, h.s.steps);
    } else if (run->cfg.dry_run) {
        printf("%s: the DPO stage would continue at step %d of %d\n", dir, h.step, h.s.steps);
    } else {
        int threads = setup_threads(flag_given(given, "--threads") ? run->cfg.threads : h.threads);
        dpo_resume(&h, &policy, dir, threads, run->cfg.grad_accum,
                   flag_given(given, "--save-every") ? run->cfg.save_every : -1, run->t_start);
    }
    gpt_free(&policy);
}

// The DPO stage of a resumed run whose pre-training had finished (killed before the stage's first
// checkpoint): it starts on the weights of DIR/pretrain, which are the state's.
static void dpo_after_pretraining(Run* run) {
    DPOConfig dc = dpo_config_from_settings(&run->dpo, run->cfg.threads);
    dc.save_every = run->cfg.save_every;
    dc.micro = run->cfg.grad_accum;
    dc.probe_B = run->shape.B;
    size_t mem = dpo_memory(&run->shape.gpt, 0, split_batch(dc.batch, dc.micro, "--dpo-batch"), dc.T,
                            dc.pairs ? 0 : dc.n_prompts);
    printf("forgetful: %s: pre-training finished (%d steps); the DPO stage starts\n", run->dir, run->shape.steps);
    if (run->cfg.dry_run) return;
    refuse_if_too_big(mem);
    char start[4200];
    path_join(start, sizeof start, run->dir, "pretrain");
    dpo_stage_own_page(&dc, &run->model, run->dir, start, NULL, run->t_start);
}

// The modes that need no data set, on a saved model: DPO alone and --sample. 1 when mode was one
// of them (it has run), else 0.
static int saved_model_mode(Run* run, RunMode mode) {
    if (mode == MODE_DPO_ALONE && !run->cfg.help) { // DPO alone on a saved model
        run->cfg.threads = setup_threads(run->cfg.threads);
        split_batch(run->cfg.dpo_batch, run->cfg.grad_accum, "--dpo-batch");
        DPOConfig dc = dpo_config(&run->cfg, run->cfg.T);
        dpo_standalone(&dc, run->cfg.init, run->cfg.out, run->cfg.overwrite, run->t_start);
        return 1;
    }
    if (mode == MODE_SAMPLE && !run->cfg.help) {
        const TrainConfig* c = &run->cfg;
        SampleConfig sc = {c->init, c->prompt, c->prompt_file, c->num_samples, c->sample_len, c->temperature,
                           c->top_k, c->seed, c->eot_as_text, setup_threads(c->threads)};
        sample_standalone(&sc); // on every rank (rank 0 prints): sampling is not split
        return 1;
    }
    return 0;
}

// The run's model and data, continued (--resume), loaded (--init) or fresh, its folder and its
// batch split checked. 0 when a resumed run had only its DPO stage left and that has run (or had
// nothing to do).
static int open_run(Run* run, const unsigned char* given, RunMode mode) {
    // a batch that cannot split is a usage error before any large read (checked again below, where
    // a preset's or a resumed run's batch is known)
    if (run->cfg.B > 0 && !run->cfg.resume) split_batch(run->cfg.B, run->cfg.grad_accum, "-B");
    if (dpo_wanted(&run->cfg) && !run->cfg.resume) split_batch(run->cfg.dpo_batch, run->cfg.grad_accum, "--dpo-batch");

    // the model and data: continued, loaded, or fresh; --eval without probes writes no folder
    int writes = mode != MODE_EVAL || run->cfg.probe_every != 0;
    if (run->cfg.resume) {
        char path[4200];
        if (!run->cfg.dry_run) run_folder_claim(run->cfg.resume, "--resume", 0, 0); // before reading its state
        path_join(path, sizeof path, run->cfg.resume, "dpo_state.bin");
        if (access(path, F_OK) == 0) {
            resume_dpo_stage(run, given);
            return 0;
        }
        if (!resume_run(run, given)) {
            snprintf(run->dir, sizeof run->dir, "%s", run->cfg.resume);
            dpo_after_pretraining(run);
            return 0;
        }
    } else {
        // a folder given by --out is claimed before the data is read, a default one after (its name needs the data's)
        if (run->cfg.out && writes && !run->cfg.dry_run) run_folder_claim(run->cfg.out, "--out", 1, run->cfg.overwrite);
        new_run(run, given);
    }
    resolve_dir(run, writes);
    // --eval alone reads windows of up to T (shorter for a short text); everything else cuts windows of T + 1
    if (mode != MODE_EVAL || run->cfg.probe_every != 0) check_data_fits(run);
    run->micro_rows = (size_t)split_batch(run->shape.B, run->cfg.grad_accum, run->cfg.resume ? "the run's -B" : "-B");
    if (dpo_wanted(&run->cfg)) split_batch(run->cfg.dpo_batch, run->cfg.grad_accum, "--dpo-batch");
    return 1;
}

// Pre-training, then the DPO stage on the model just saved in DIR/pretrain/. 0 when a signal in
// pre-training's last step stopped the run before DPO (its checkpoint is pre-training's last).
static int train_stages(Run* run) {
    pretrain_stage(run);
    double stop = run_interrupted() ? 1.0 : 0.0; // (a signal during the last step: every rank must agree)
    dist_sum_doubles(&stop, 1);
    if (run->dpo.wanted && stop > 0.0) { // in the last step: the checkpoint is pre-training's last
        page_update(&run->page, "interrupted", "pretrain", run->shape.steps, run->shape.steps);
        printf("%s after pre-training; continue with: ./train --resume %s (the DPO stage starts)\n",
               run_interrupt_name(), run->dir);
        return 0;
    }
    if (run->dpo.wanted) { // on the model just saved in DIR/pretrain/
        char start[4200];
        path_join(start, sizeof start, run->dir, "pretrain");
        DPOConfig dc = dpo_config_from_settings(&run->dpo, run->cfg.threads);
        dc.save_every = run->cfg.save_every;
        dc.micro = run->cfg.grad_accum;
        dpo_stage(&dc, &run->model, run->dir, start, &run->probes, &run->page, NULL);
    }
    return 1;
}

int main(int argc, char** argv) {
    dist_init(&argc, &argv); // one rank, unless mpirun started this process
    Run run;
    memset(&run, 0, sizeof run);
    run.t_start = time_seconds();
    for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], "--compare") == 0) {
            int rc = dist_root() ? compare_command(argc, argv) : 0; // rank 0 writes the page
            dist_finalize();
            return rc;
        }
    unsigned char given[MAX_TRAIN_FLAGS];
    parse_args(&run.cfg, given, argc, argv);
    int num_given = 0;
    for (size_t i = 0; i < NUM_TRAIN_FLAGS; i++) num_given += given[i];
    if (run.cfg.help && num_given == 1) {
        print_usage(stdout);
        dist_finalize();
        return 0;
    }
    if (run.cfg.help) run.cfg.dry_run = 1; // --help with other flags: what they would run, nothing written
    dpo_check_flags(&run.cfg);
    RunMode mode = run_mode(&run.cfg);
    // the GPU build names its device here, or stops when there is none
    const char* device = gpt_backend_init(run.cfg.tf32);
    if (run.cfg.tf32 && !device) error_usage("--tf32 needs the GPU build (make USE_CUBLAS=1)");
    precision_check(&run.cfg, device != NULL);
    if (device) printf("device     %s (cuBLAS, %s matrix products)\n", device, run.cfg.tf32 ? "TF32" : "fp32");
    if (!run.cfg.help && saved_model_mode(&run, mode)) {
        dist_finalize();
        return 0;
    }
    if (!open_run(&run, given, mode)) { // a resumed DPO stage ran to its end, or had nothing to do
        run_free(&run);
        dist_finalize();
        return 0;
    }
    MemPart parts[2];
    int nparts = 0;
    size_t mem = run_memory(&run, mode, parts, &nparts);
    if (run.cfg.help) { // --help with other flags: the usage, then what those flags would run
        print_usage(stdout);
        printf("\nwith these flags:\n");
    }
    print_config(&run, mode, mem);
    if (run.cfg.dry_run) { // nothing more to do: free what was loaded (leak checks run on this path too)
        run_free(&run);
        dist_finalize();
        return 0;
    }
    size_t local = (size_t)dist_local_size(); // the ranks on this machine share its memory
    for (int i = 0; i < nparts; i++) parts[i].bytes *= local;
    refuse_memory(mem * local, parts, nparts, NULL);
    if (run.cfg.init) {
        char err[4600];
        if (gpt_load(&run.model, run.cfg.init, err, sizeof err) != 0) fatal("%s", err);
    } else if (!run.cfg.resume) {
        gpt_build(&run.model, run.shape.gpt, run.cfg.seed);
    }
    run.model.precision = run.cfg.prec;
    check_ranks_agree(&run.model); // the same seed, checkpoint or state on every rank

    if (mode == MODE_EVAL && run.cfg.probe_every == 0) {
        eval_stage(&run); // a measurement: nothing is written
        run_free(&run);
        dist_finalize();
        return 0;
    }
    open_run_folder(&run, mode);
    if (mode == MODE_PROBE || mode == MODE_EVAL) {
        if (mode == MODE_PROBE) probe_only_stage(&run);
        else eval_stage(&run);
        run_free(&run);
        dist_finalize();
        return 0;
    }
    open_logs(&run);

    if (!train_stages(&run)) { // stopped between the stages: the resume command was printed
        run_free(&run);
        dist_finalize();
        return 0;
    }
    print_summary(&run);
    page_update(&run.page, "finished", NULL, 0, 0);
    if (run.csv && fclose(run.csv) != 0) fatal("%s: %s", run.csv_path, strerror(errno));
    run_free(&run);
    dist_finalize();
    return 0;
}
