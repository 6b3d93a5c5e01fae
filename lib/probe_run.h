// lib/probe_run.h: the probes of a run: fixed probe sequences from the val split, the reference
// points (probe_bins.safetensors), the rows of DIR/probes.csv at every probe step, the figures and
// the optional IB curve. The estimator itself is probes.h.
//
// Two probe sets share one forward pass: the trajectory set (the first traj_seqs sequences),
// measured at every probe step, and the final set (all S sequences, S >= traj_seqs), measured
// once more at the end of each stage from exactly the saved weights. The final set is large
// enough that the plug-in bias is small (README "Reading the logs" gives the numbers); the
// trajectory set is what a run can afford at every probe step.
#ifndef PROBE_RUN_H
#define PROBE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "../model.h"
#include "../probes.h"

typedef struct {
    int n_bins;                   // reference points per draw
    int seeds;                    // K independent draws of them
    ProbeCalibration calibration; // what the points and the temperature are (probes.h)
    int traj_seqs;                // sequences of the trajectory set
    int final_seqs;               // sequences of the final set (0 = no final set)
} ProbeSettings;

typedef struct {
    int every;            // probe every N steps (0 = off)
    ProbeBins bins;       // K draws of the reference points, d = C
    uint64_t null_seed;   // the permutation nulls
    ProbeRun traj, final; // the two sets' rows and statistics
    int* tokens;          // (S, T) probe sequences: consecutive windows from the start of the val split
    size_t S, T, B;       // sequences (the final set), length, forward batch
    size_t traj_seqs;     // the first traj_seqs sequences are the trajectory set
    size_t shared, taken; // this step's first `shared` sequences come from probes_take; taken so far
    int take_final;       // whether probes_take fills the final set too (a stage's end)
    double seconds;       // wall time spent probing
    char csv[4200];       // DIR/probes.csv
    char bound[4200];     // DIR/ib_bound.csv with --ib-bound (drawn on info_plane.svg), else ""
    int corrected_plots;  // figures of value − permutation null instead of the raw plug-in values
} Probes;

// Prepares the probes of a run in dir: the sequences (from val, n_val tokens), the bins (written
// with the sequences to probe_bins.safetensors) and probes.csv (restarted as train.csv is: rows
// below keep_below are kept on resume). every = 0 leaves them off.
void probes_init(Probes* p, const char* dir, const int* val, size_t n_val, const GPTConfig* g, size_t T, size_t B,
                 int every, const ProbeSettings* s, int keep_below);
// Continues the probes of the run in dir from its probe_bins.safetensors (bins, sequences and sets,
// checked against the model g), appending to its probes.csv. Returns 0, or -1 when dir has no
// such file (a malformed one is a fatal error).
int probes_load(Probes* p, const char* dir, const GPTConfig* g, size_t B);
// Whether step is a probe step (step 0 and every `every` steps; the end is probed separately).
int probes_due(const Probes* p, int step);
// The end of a stage: one pass over all S sequences feeds both sets; appends the trajectory rows
// and the final set's rows (set "final") of the same step.
void probes_measure_end(Probes* p, GPT* model, int step, const char* stage);
// The parts of the two calls above, for a stage that adds its own rows in between (DPO's I_pref):
// probes_begin resets both sets and adds the probe sequences (all S when with_final), returning
// the start time; probes_pref_add adds preference rows to the sets in use; probes_end computes
// and appends the rows and counts the time.
// In a data-parallel job (dist.h) every rank calls them: each forwards its dist_share of every
// set's sequences (and DPO adds the preference rows of its share of the held-out pairs), the rows
// are gathered in sequence order (dist_allgather_rows; the preference rows in rank order), and
// rank 0 computes the statistics and writes probes.csv, the bins file and the figures. The rows
// are then those of one process, up to the forward's rounding in another batch shape.
double probes_begin(Probes* p, GPT* model, int with_final);
// Sharing another pass's forwards: a caller that forwards windows of the val split anyway at a
// probe step (the val-loss evaluation, whose windows are the probe sequences' first ones) need not
// have the probes forward them again. probes_begin_sharing is probes_begin, but the leading probe
// sequences equal to the leading windows (n_windows, T) are not forwarded (none in a data-parallel
// job); after each of the caller's forwards of windows [first, first + n) of them, in batch rows
// 0..n-1, probes_take assigns those of the shared ones (the same hidden states: a sequence's do not
// depend on the batch around it), counting its own time. probes_end checks every one was taken.
double probes_begin_sharing(Probes* p, GPT* model, int with_final, const int* windows, size_t n_windows);
void probes_take(Probes* p, const GPT* model, size_t first, size_t n);
void probes_pref_add(Probes* p, const GPT* model, const int* mask, const int* chosen, const int* unit, size_t B,
                     size_t T);
void probes_end(Probes* p, int step, const char* stage, int with_final, double t0);
// Draws DIR/info_plane.svg and DIR/probes.svg (and preference.svg after DPO) from the CSV logs.
void probes_plot(const Probes* p, const char* dir);
// --ib-bound: the Information Bottleneck curve of (current token, next token) on the tokens
// train[0 .. n_train), |T| = bins; writes DIR/ib_bound.csv for the plots.
void probes_ib_bound(Probes* p, const char* dir, const int* train, size_t n_train, int bins);
void probes_free(Probes* p);

#endif // PROBE_RUN_H
