// lib/plot.h: the run folder's figures, drawn from its CSV logs (lib/svg.h does the drawing).
//
// By default the figures plot the logged plug-in values, with each I column's permutation null
// dotted beside it in the curves (probes.h: the null is what the estimate reads for labels
// independent of Z); PlotOptions.corrected plots value − null instead. The null over-states the
// bias of informative labels several times (README "Reading the logs" gives the numbers), so value
// − null is not the default. Trajectories use the rows of the trajectory set; rows of the final
// (larger) probe set are drawn as stars with ±sd error bars.
#ifndef PLOT_H
#define PLOT_H

#include <stddef.h>

typedef struct {
    int corrected;         // 0: the logged plug-in values; 1: I columns minus their permutation nulls
    const char* bound_csv; // NULL, or a curve "x,y" (header line) drawn on the token plane: --ib-bound
} PlotOptions;

// Each figure returns 0, or -1 with err filled when an input CSV is missing, empty or malformed
// (the SVG is then not written). Written through atomic_open.

// Two information planes side by side, one trajectory per layer and the layer mean, shaded by
// training progress, start (circle) and end (square) marked, DPO rows dashed with diamonds:
//   the token plane (the paper's): x = I(input token; Z), y = I(next token; Z), with the diagonal
//     "optimality = 1" (a point above it keeps more about the next token than about the current
//     one: it uses context beyond the token);
//   the context plane: x = I_ctx, y = I(next token; Z), where the diagonal is an exact bound of
//     the plug-in values (no point can lie above it).
int probe_plot_info_plane(const char* probes_csv, const char* svg_out, const PlotOptions* o, char* err,
                          size_t errlen);
// Small multiples: train/val loss (train_csv, may be NULL) with the n-gram baselines
// (baselines_csv, may be NULL), and H, I_in1, I_out1, optimality and I_ctx against step, one line
// per layer and the mean. DPO rows continue after the last pre-training step.
int probe_plot_curves(const char* probes_csv, const char* train_csv, const char* baselines_csv, const char* svg_out,
                      const PlotOptions* o, char* err, size_t errlen);
// I_pref per layer over DPO steps beside the reward margin from dpo_csv.
int probe_plot_preference(const char* probes_csv, const char* dpo_csv, const char* svg_out, const PlotOptions* o,
                          char* err, size_t errlen);

// All figures of a run folder: DIR/info_plane.svg and DIR/probes.svg from DIR/probes.csv (with
// DIR/train.csv and DIR/baselines.csv when they exist), and DIR/preference.svg when DIR/dpo.csv
// exists. Returns 0, or -1 with err filled at the first failure.
int probe_plots_write(const char* dir, const PlotOptions* o, char* err, size_t errlen);

#endif // PLOT_H
