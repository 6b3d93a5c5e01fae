// lib/probe_run.c: the probes of a run (probe_run.h): sequences, bins file, probe steps, figures.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
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
    path_join(p->csv, sizeof p->csv, dir, "probes.csv");
    if (!dist_root()) return; // rank 0 writes the files
    char path[4200], err[1024];
    path_join(path, sizeof path, dir, "probe_bins.safetensors");
    if (probe_bins_save(path, &p->bins, p->null_seed, p->tokens, p->S, T, p->traj_seqs, err, sizeof err) != 0)
        fatal("%s", err);
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

// Forwards sequences [lo, hi) of the probe sequences in batches of at most p->B and fills their
// rows' assignments in traj (when not NULL) and final (when not NULL).
static void forward_assign(Probes* p, GPT* model, size_t lo, size_t hi, ProbeRun* traj, ProbeRun* final) {
    size_t P = probe_rows_per_seq(p->T);
    for (size_t s0 = lo; s0 < hi; s0 += p->B) {
        size_t nb = hi - s0 < p->B ? hi - s0 : p->B;
        gpt_forward_hidden(model, p->tokens + s0 * p->T, nb, p->T);
        if (traj) probe_layers_assign(traj, model, s0 * P, nb, p->T);
        if (final) probe_layers_assign(final, model, s0 * P, nb, p->T);
    }
}

// Copies in the assignments of sequences [first, first + n) of pr's rows that the other ranks
// filled (each its dist_share of the n), so that every rank holds all of them in sequence order.
static void gather_assignments(ProbeRun* pr, size_t first, size_t n, size_t T) {
    if (dist_size() == 1) return;
    size_t P = probe_rows_per_seq(T), nb = (size_t)pr->bins->n_bins;
    size_t* counts = malloc_check((size_t)dist_size() * sizeof(size_t));
    dist_share_counts(n, P, counts);
    for (int i = 0; i < pr->num_states * pr->bins->seeds; i++)
        dist_allgather_rows(pr->grams.p[i] + first * P * nb, nb * sizeof(float), counts);
    free(counts);
}

// The preference rows of every rank, appended in rank order (each rank added those of its share
// of the held-out pairs), on every rank.
static void gather_pref(ProbeRun* pr) {
    if (dist_size() == 1) return;
    ProbeRows* r = &pr->pref;
    size_t* counts = malloc_check((size_t)dist_size() * sizeof(size_t));
    size_t mine = r->n, total = dist_gather_counts(mine, counts), off = 0, nb = (size_t)pr->bins->n_bins;
    for (int q = 0; q < dist_rank(); q++) off += counts[q];
    probe_rows_resize(pr, r, total);
    for (int i = 0; i < pr->num_states * pr->bins->seeds; i++) {
        memmove(r->p[i] + off * nb, r->p[i], mine * nb * sizeof(float));
        dist_allgather_rows(r->p[i], nb * sizeof(float), counts);
    }
    memmove(r->ids + off, r->ids, mine * sizeof(int32_t)); // one labeling
    dist_allgather_rows(r->ids, sizeof(int32_t), counts);
    memmove(r->unit + off, r->unit, mine * sizeof(int32_t));
    dist_allgather_rows(r->unit, sizeof(int32_t), counts);
    free(counts);
}

// Every rank labels all the rows (cheap, and the same on every rank), forwards its dist_share of
// each set's sequences (the trajectory set's serve the final set too, whose first sequences they
// are) and fills their assignments; the others' are then gathered. So the rows are those of one
// process, in its order, whatever the rank count. The first p->shared sequences are left to
// probes_take (one process only: the other pass shares its forwards among the ranks its own way).
double probes_begin_sharing(Probes* p, GPT* model, int with_final, const int* windows, size_t n_windows) {
    double t0 = time_seconds();
    with_final = with_final && has_final(p);
    probe_run_reset(&p->traj);
    probe_run_reset(&p->final);
    ProbeRun* final = with_final ? &p->final : NULL;
    size_t n = final ? p->S : p->traj_seqs, a = 0; // sequences of this step, the first a shared
    if (windows && dist_size() == 1)
        while (a < n && a < n_windows && memcmp(windows + a * p->T, p->tokens + a * p->T, p->T * sizeof(int)) == 0)
            a++;
    p->shared = a;
    p->taken = 0;
    p->take_final = final != NULL;
    probe_labels_add(&p->traj, p->tokens, p->traj_seqs, p->T);
    if (final) probe_labels_add(final, p->tokens, p->S, p->T);
    size_t at = a < p->traj_seqs ? a : p->traj_seqs, lo, hi;
    dist_share(p->traj_seqs - at, &lo, &hi);
    forward_assign(p, model, at + lo, at + hi, &p->traj, final);
    gather_assignments(&p->traj, at, p->traj_seqs - at, p->T);
    if (final) {
        size_t af = a > p->traj_seqs ? a : p->traj_seqs;
        dist_share(p->S - af, &lo, &hi);
        forward_assign(p, model, af + lo, af + hi, NULL, final);
        gather_assignments(final, at, p->traj_seqs - at, p->T);
        gather_assignments(final, af, p->S - af, p->T);
    }
    return t0;
}

double probes_begin(Probes* p, GPT* model, int with_final) {
    return probes_begin_sharing(p, model, with_final, NULL, 0);
}

void probes_take(Probes* p, const GPT* model, size_t first, size_t n) {
    if (p->every == 0 || first >= p->shared) return;
    double t0 = time_seconds();
    size_t T = p->T, hi = first + n < p->shared ? first + n : p->shared, P = probe_rows_per_seq(T);
    if (model->batch_size != n || model->seq_len != T ||
        memcmp(model->inputs, p->tokens + first * T, (hi - first) * T * sizeof(int)) != 0)
        fatal("probes_take: the last forward is not of probe sequences %zu .. %zu", first, hi);
    if (first < p->traj_seqs)
        probe_layers_assign(&p->traj, model, first * P, (hi < p->traj_seqs ? hi : p->traj_seqs) - first, T);
    if (p->take_final) probe_layers_assign(&p->final, model, first * P, hi - first, T);
    p->taken += hi - first;
    p->seconds += time_seconds() - t0;
}

void probes_pref_add(Probes* p, const GPT* model, const int* mask, const int* chosen, const int* unit, size_t B,
                     size_t T) {
    probe_pref_add(&p->traj, model, mask, chosen, unit, B, T);
    if (p->final.grams.n) probe_pref_add(&p->final, model, mask, chosen, unit, B, T);
}

void probes_end(Probes* p, int step, const char* stage, int with_final, double t0) {
    char err[1024];
    if (p->taken != p->shared)
        fatal("probes_end: %zu of the %zu sequences left to probes_take were taken", p->taken, p->shared);
    p->shared = p->taken = 0;
    with_final = with_final && has_final(p);
    gather_pref(&p->traj);
    if (with_final) gather_pref(&p->final);
    if (dist_root()) { // rank 0 computes and writes the rows
        probe_run_finish(&p->traj);
        if (probe_csv_append(p->csv, step, stage, "trajectory", &p->traj, err, sizeof err) != 0) fatal("%s", err);
        if (with_final) {
            probe_run_finish(&p->final);
            if (probe_csv_append(p->csv, step, stage, "final", &p->final, err, sizeof err) != 0) fatal("%s", err);
        }
    }
    p->seconds += time_seconds() - t0;
}

void probes_measure_end(Probes* p, GPT* model, int step, const char* stage) {
    if (p->every == 0) return;
    probes_end(p, step, stage, 1, probes_begin(p, model, 1));
}

void probes_plot(const Probes* p, const char* dir) {
    if (p->every == 0 || !dist_root()) return;
    char err[1024];
    PlotOptions o = {.corrected = p->corrected_plots, .bound_csv = p->bound[0] ? p->bound : NULL};
    if (probe_plots_write(dir, &o, err, sizeof err) != 0) fprintf(stderr, "warning: plots not written: %s\n", err);
}

// X = current token, Y = next token; lib/ib.h says what the curve is: the best trade-off of an
// encoder of the current token alone, so a hidden state, which sees the whole context, may lie
// above it. Deterministic, so a resumed run recomputes the same curve.
void probes_ib_bound(Probes* p, const char* dir, const int* train, size_t n_train, int bins) {
    if (p->every == 0 || !dist_root()) return; // only rank 0 draws it
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
