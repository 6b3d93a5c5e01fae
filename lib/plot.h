// lib/plot.h: the run folder's figures, drawn from its CSV logs (lib/svg.h does the drawing).
#ifndef PLOT_H
#define PLOT_H

#include <stddef.h>

// Each figure returns 0, or -1 with err filled when an input CSV is
// missing, empty or malformed (the SVG is then not written). Written through atomic_open.

// Information plane: x = I_in1 (complexity), y = I_out1 (expressivity), one trajectory per layer
// shaded by training progress, start (circle) and end (square) marked, DPO rows dashed with
// diamonds. bound_csv (may be NULL): a curve "x,y" with a header line, drawn as a reference.
int probe_plot_info_plane(const char* probes_csv, const char* svg_out, const char* bound_csv, char* err,
                          size_t errlen);
// Small multiples: train/val loss (train_csv, may be NULL) and H, I_in1, I_out1, optimality
// against step, one line per layer. DPO rows continue after the last pre-training step.
int probe_plot_curves(const char* probes_csv, const char* train_csv, const char* svg_out, char* err,
                      size_t errlen);
// I_pref per layer over DPO steps beside the reward margin from dpo_csv.
int probe_plot_preference(const char* probes_csv, const char* dpo_csv, const char* svg_out, char* err,
                          size_t errlen);

// All figures of a run folder: DIR/info_plane.svg and DIR/probes.svg from DIR/probes.csv (with
// DIR/train.csv when it exists), and DIR/preference.svg when DIR/dpo.csv exists. bound_csv as
// above (may be NULL). Returns 0, or -1 with err filled at the first failure.
int probe_plots_write(const char* dir, const char* bound_csv, char* err, size_t errlen);

#endif // PLOT_H
