// lib/probe_run.c: the probes of a run (probe_run.h): sequences, bins file, probe steps, figures.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ib.h"
#include "plot.h"
#include "probe_run.h"
#include "run.h"
#include "util.h"

// The reference points are drawn from seed 0 in every run, so that two runs of the same width
// measure with the same points; the nulls' permutations from this fixed seed.
#define PROBE_BINS_SEED 0
#define PROBE_NULL_SEED 0x6E756C6Cull // "null"

static void sets_init(Probes* p, int num_layers) {
    probe_run_init(&p->traj, &p->bins, num_layers, p->null_seed);
    probe_run_init(&p->final, &p->bins, num_layers, p->null_seed);
}

void probes_init(Probes* p, const char* dir, const int* val, size_t n_val, const GPTConfig* g, size_t T, size_t B,
                 int every, const ProbeSettings* s, int keep_below) {
    memset(p, 0, sizeof *p);
    p->every = every;
    if (every == 0) return;
    size_t avail = (n_val - 1) / T;
    size_t want = (size_t)(s->final_seqs > s->traj_seqs ? s->final_seqs : s->traj_seqs);
    p->S = want < avail ? want : avail;
    p->traj_seqs = (size_t)s->traj_seqs < p->S ? (size_t)s->traj_seqs : p->S;
    if (p->S < want)
        printf("note: the val split holds %zu windows of %zu tokens, so the probes use %zu sequences, not %zu\n", avail,
               T, p->S, want);
    p->T = T;
    p->B = B;
    p->tokens = malloc_check(p->S * T * sizeof(int));
    memcpy(p->tokens, val, p->S * T * sizeof(int));
    p->null_seed = PROBE_NULL_SEED;
    probe_bins_init(&p->bins, g->channels, s->n_bins, s->seeds, s->calibration, PROBE_BINS_SEED);
    sets_init(p, g->num_layers);
    char path[4200], err[1024];
    path_join(path, sizeof path, dir, "probe_bins.safetensors");
    if (probe_bins_save(path, &p->bins, p->null_seed, p->tokens, p->S, T, p->traj_seqs, err, sizeof err) != 0)
        fatal("%s", err);
    path_join(p->csv, sizeof p->csv, dir, "probes.csv");
    restart_csv(p->csv, PROBE_CSV_HEADER, keep_below, 0);
}

int probes_load(Probes* p, const char* dir, const GPTConfig* g, size_t B) {
    memset(p, 0, sizeof *p);
    char path[4200], err[1024];
    path_join(path, sizeof path, dir, "probe_bins.safetensors");
    if (access(path, F_OK) != 0) return -1;
    if (probe_bins_load(path, &p->bins, &p->null_seed, &p->tokens, &p->S, &p->T, &p->traj_seqs, err, sizeof err) != 0)
        fatal("%s", err);
    if (p->bins.d != g->channels) fatal("%s: bins of dimension %d, the model has C=%d", path, p->bins.d, g->channels);
    if (p->T > (size_t)g->max_seq_len || p->T < PROBE_FIRST + PROBE_TAIL + 1)
        fatal("%s: probe sequences of %zu tokens (need %d .. n_positions %d)", path, p->T, PROBE_FIRST + PROBE_TAIL + 1,
              g->max_seq_len);
    for (size_t i = 0; i < p->S * p->T; i++)
        if (p->tokens[i] >= g->vocab_size)
            fatal("%s: probe token %d outside the model's vocabulary (V=%d)", path, p->tokens[i], g->vocab_size);
    sets_init(p, g->num_layers);
    p->B = B;
    p->every = 1;
    path_join(p->csv, sizeof p->csv, dir, "probes.csv");
    return 0;
}

int probes_due(const Probes* p, int step) { return p->every > 0 && step % p->every == 0; }

// Whether the final set is a set of its own (more sequences than the trajectory's).
static int has_final(const Probes* p) { return p->S > p->traj_seqs; }

double probes_begin(Probes* p, GPT* model, int with_final) {
    double t0 = time_seconds();
    with_final = with_final && has_final(p);
    probe_run_reset(&p->traj);
    probe_run_reset(&p->final);
    size_t S = with_final ? p->S : p->traj_seqs;
    for (size_t s0 = 0; s0 < S; s0 += p->B) {
        size_t nb = S - s0 < p->B ? S - s0 : p->B;
        const int* tok = p->tokens + s0 * p->T;
        gpt_forward_hidden(model, tok, nb, p->T);
        // a batch may straddle the end of the trajectory set: its first part goes to both sets
        size_t nt = s0 >= p->traj_seqs ? 0 : p->traj_seqs - s0 < nb ? p->traj_seqs - s0 : nb;
        if (nt == nb) probe_layers_add(&p->traj, model, tok, nb, p->T);
        if (with_final) probe_layers_add(&p->final, model, tok, nb, p->T);
        if (nt > 0 && nt < nb) { // rerun the straddling part alone (rare: B does not divide traj_seqs)
            gpt_forward_hidden(model, tok, nt, p->T);
            probe_layers_add(&p->traj, model, tok, nt, p->T);
        }
    }
    return t0;
}

void probes_pref_add(Probes* p, const GPT* model, const int* mask, const int* chosen, const int* unit, size_t B,
                     size_t T) {
    probe_pref_add(&p->traj, model, mask, chosen, unit, B, T);
    if (p->final.grams.n) probe_pref_add(&p->final, model, mask, chosen, unit, B, T);
}

void probes_end(Probes* p, int step, const char* stage, int with_final, double t0) {
    char err[1024];
    probe_run_finish(&p->traj);
    if (probe_csv_append(p->csv, step, stage, "trajectory", &p->traj, err, sizeof err) != 0) fatal("%s", err);
    if (with_final && has_final(p)) {
        probe_run_finish(&p->final);
        if (probe_csv_append(p->csv, step, stage, "final", &p->final, err, sizeof err) != 0) fatal("%s", err);
    }
    p->seconds += time_seconds() - t0;
}

void probes_measure(Probes* p, GPT* model, int step, const char* stage) {
    if (p->every == 0) return;
    probes_end(p, step, stage, 0, probes_begin(p, model, 0));
}

void probes_measure_end(Probes* p, GPT* model, int step, const char* stage) {
    if (p->every == 0) return;
    probes_end(p, step, stage, 1, probes_begin(p, model, 1));
}

void probes_plot(const Probes* p, const char* dir) {
    if (p->every == 0) return;
    char err[1024];
    PlotOptions o = {.corrected = p->corrected_plots, .bound_csv = p->bound[0] ? p->bound : NULL};
    if (probe_plots_write(dir, &o, err, sizeof err) != 0) fprintf(stderr, "warning: plots not written: %s\n", err);
}

// X = current token, Y = next token; lib/ib.h says what the curve is: the best trade-off of an
// encoder of the current token alone, so a hidden state, which sees the whole context, may lie
// above it. Deterministic, so a resumed run recomputes the same curve.
void probes_ib_bound(Probes* p, const char* dir, const int* train, size_t n_train, int bins) {
    if (p->every == 0) return;
    char err[1024];
    IbJoint j;
    if (ib_joint_from_tokens(&j, train, n_train, 1, err, sizeof err) != 0) fatal("--ib-bound: %s", err);
    IbConfig c;
    ib_config_default(&c);
    c.n_bins = bins;
    IbCurve curve;
    if (ib_curve_compute(&j, &c, &curve, err, sizeof err) != 0) fatal("--ib-bound: %s", err);
    path_join(p->bound, sizeof p->bound, dir, "ib_bound.csv");
    if (ib_curve_write_csv(p->bound, &curve, err, sizeof err) != 0) fatal("%s", err);
    double norm = log((double)bins);
    const IbPoint* end = &curve.curve[curve.ncurve - 1];
    printf("ib curve   of a current-token encoder, %d tokens -> next token, |T| = %d: I(X;Y) %.4f, up to I(X;T) "
           "%.4f, I(T;Y) %.4f (/ln %d), %zu points in %.1f s: %s\n",
           j.nx, bins, j.I_XY / norm, end->I_XT / norm, end->I_TY / norm, bins, curve.ncurve, curve.seconds, p->bound);
    ib_curve_free(&curve);
    ib_joint_free(&j);
}

void probes_free(Probes* p) {
    if (p->every == 0) return;
    free(p->tokens);
    probe_run_free(&p->traj);
    probe_run_free(&p->final);
    probe_bins_free(&p->bins);
}
