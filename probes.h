// probes.h: the soft-entropy estimator (Conklin 2025) of hidden-state information, its hooks into a
// GPT's hidden states, and its run-folder files (lib/probe_io.c).
//
// A hidden vector z (dimension d) is normalised and soft-assigned to n_bins fixed random unit
// vectors W: p = softmax(ẑ·Wᵀ / eps), with eps chosen so that one vMF(1/eps) cap carries
// ln(n_bins) nats (KL_lower(eps, d) = ln n_bins). Averaging p over positions gives P(Z) and
// H(Z); averaging within each label value x gives P(Z|X=x) and I(X;Z) = H(Z) − Σ P(x) H(Z|x).
// All entropies are reported divided by ln(n_bins), so they lie in [0, 1].
//
// Typical use in a training loop (see train.c):
//   once:  ProbeRun pr; probe_run_init(&pr, L, C, n_bins, seed);
//          probe_bins_save("DIR/probe_bins.safetensors", &pr.bins, probe_tokens, S, T, ...);
//   every probe step: probe_run_reset(&pr);
//          for each probe batch: gpt_forward_hidden(model, tok, B, T); probe_layers_add(&pr, model, tok, B, T);
//          (DPO: also gpt_forward_hidden on held-out pairs; probe_pref_add(&pr, model, mask, chosen, B, T))
//          probe_csv_append("DIR/probes.csv", step, "pretrain" or "dpo", &pr, ...);
//   at the end: probe_plots_write("DIR", NULL, ...) (lib/plot.h); probe_run_free(&pr);
// dev/recompute_probes.py recomputes a stage's last rows from the run folder in PyTorch.
#ifndef PROBES_H
#define PROBES_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

// ----------------------------------------------------------------------------
// the estimator

// KL_lower(eps, d): the Amos-type lower bound on KL(vMF(kappa = 1/eps) ‖ Uniform(S^{d-1})).
double probe_kl_lower(double eps, int d);
// Solves KL_lower(eps, d) = ln(n_bins) for the softmax temperature eps (bisection on [1e-5, 1],
// in double, to machine precision). d >= 3 and n_bins >= 2.
double probe_calibrate_eps(int d, int n_bins);

// Fixed random reference points: n_bins unit vectors in R^d from a seed, and the calibrated eps.
typedef struct {
    int d;
    int n_bins;
    uint64_t seed;
    float eps;
    float* W;  // (n_bins, d), unit rows: standard normal draws (random_normal), normalised
    size_t n_pad; // n_bins rounded up to a multiple of 16
    float* Wt;    // (d, n_pad), W transposed and scaled by 1/eps, zero-padded: the assignment matmul
} ProbeBins;
void probe_bins_init(ProbeBins* pb, int d, int n_bins, uint64_t seed);
// Sets W (n_bins, d) and eps explicitly (rows are used as given, not renormalised).
void probe_bins_init_from(ProbeBins* pb, int d, int n_bins, const float* W, float eps);
void probe_bins_free(ProbeBins* pb);

// Soft assignment of N vectors z (N, d): out (N, n_bins) = softmax(normalise(z)·Wᵀ / eps).
// A zero vector gets the uniform assignment. OpenMP over N.
void probe_assign(const ProbeBins* pb, const float* z, size_t N, float* out);

// Streaming accumulator of P(Z) and P(Z | label) for up to num_labelings labelings at once.
// Labels are arbitrary int64 keys (exact n-gram ids built by the caller); values are pooled.
// Memory: one row of n_bins doubles per distinct label value per labeling.
typedef struct SoftEntropy SoftEntropy;
SoftEntropy* soft_entropy_new(int n_bins, int num_labelings);
// Adds N assignment rows p (N, n_bins); labels is (N, num_labelings) or NULL; a label of
// INT64_MIN means "no label for this labeling" (the row still counts towards H(Z); I for that
// labeling is then measured on the labelled rows only).
void soft_entropy_add(SoftEntropy* se, const float* p, size_t N, const int64_t* labels);
double soft_entropy_H(const SoftEntropy* se);            // H(Z) / ln(n_bins); NAN if empty
double soft_entropy_I(const SoftEntropy* se, int which); // I(X_which; Z) / ln(n_bins); NAN if empty
size_t soft_entropy_count(const SoftEntropy* se);        // rows added since the last reset
size_t soft_entropy_num_labels(const SoftEntropy* se, int which); // distinct values of labeling
void soft_entropy_reset(SoftEntropy* se);
void soft_entropy_free(SoftEntropy* se);

// ----------------------------------------------------------------------------
// probing every hidden state of a GPT

// Labelings per position, in this order: input n-grams ending at p (n = 1, 2, 3), then output
// n-grams p+1..p+n (n = 1, 2, 3). An n-gram of token ids (each < 2^20) is packed exactly into
// an int64: id_0 << 40 | id_1 << 20 | id_2 (for n = 3).
enum { PROBE_IN1, PROBE_IN2, PROBE_IN3, PROBE_OUT1, PROBE_OUT2, PROBE_OUT3, PROBE_NUM_LABELINGS };
#define PROBE_MAX_TOKEN_ID (1 << 20)

typedef struct {
    ProbeBins bins;       // shared by every layer (d = C)
    int num_states;       // L + 1 hidden states (Hugging Face output_hidden_states)
    SoftEntropy** layers; // (L+1) accumulators, PROBE_NUM_LABELINGS labelings each
    SoftEntropy** pref;   // (L+1) accumulators, 1 labeling: chosen = 1 / rejected = 0
    float* p;             // scratch assignments (cap, n_bins)
    int64_t* labels;      // scratch labels (cap, PROBE_NUM_LABELINGS)
    size_t cap;           // rows of scratch
} ProbeRun;

// Per-layer results, normalised by ln(n_bins). A value not measured is NAN.
typedef struct {
    double H;         // H(Z)
    double I_in[3];   // I(input n-gram; Z), n = 1, 2, 3: complexity
    double I_out[3];  // I(next n-gram; Z), n = 1, 2, 3: expressivity
    double I_pref;    // I(preference label; Z) over response tokens (NAN when none added)
    double optimality; // I_out[0] / I_in[0]
} ProbeStats;

// num_layers = L (transformer blocks), C = channels. Bins are drawn from seed (default 0).
void probe_run_init(ProbeRun* pr, int num_layers, int C, int n_bins, uint64_t seed);
void probe_run_reset(ProbeRun* pr); // clears every accumulator (start of a probe step)
void probe_run_free(ProbeRun* pr);

// After gpt_forward_hidden(model, tokens, B, T): adds positions p in [2, T-3) of every sequence
// of every hidden state 0..L with their n-gram labels. tokens is (B, T), the forward's inputs.
// T must be >= 6. Token ids outside [0, 2^20) are a fatal error.
void probe_layers_add(ProbeRun* pr, const GPT* model, const int* tokens, size_t B, size_t T);

// After gpt_forward_hidden(model, tokens, B, T) on preference sequences: adds the positions with
// mask[b*T + t] != 0 (the response tokens) of every hidden state, labelled by chosen[b]
// (1 = chosen, 0 = rejected) into the I_pref accumulators.
void probe_pref_add(ProbeRun* pr, const GPT* model, const int* mask, const int* chosen, size_t B, size_t T);

// Results of hidden state `layer` (0..L) since the last reset.
void probe_run_stats(const ProbeRun* pr, int layer, ProbeStats* out);

// ----------------------------------------------------------------------------
// run-folder files (lib/probe_io.c)

#define PROBE_CSV_HEADER "step,stage,layer,H,I_in1,I_in2,I_in3,I_out1,I_out2,I_out3,I_pref,optimality"

// Appends one row per hidden state (step, stage, layer, stats) to path, writing the header
// first when the file is new or empty. Rows are written with one fwrite and flushed.
// Returns 0, or -1 with err filled ("path: ...").
int probe_csv_append(const char* path, int step, const char* stage, const ProbeRun* pr, char* err,
                     size_t errlen);
// Formats the row for one layer (no newline) into buf; returns the length (snprintf's value).
int probe_csv_format_row(char* buf, size_t len, int step, const char* stage, int layer, const ProbeStats* s);

// Writes path (e.g. DIR/probe_bins.safetensors) atomically: W [n_bins, C] F32, eps [1] F32,
// tokens [S, T] I32 (the probe sequences). Returns 0, or -1 with err filled.
int probe_bins_save(const char* path, const ProbeBins* pb, const int* tokens, size_t S, size_t T, char* err,
                    size_t errlen);
// Reads a file written by probe_bins_save: fills pb (probe_bins_init_from) and, when tokens is
// not NULL, a malloc'd (S, T) array. Returns 0, or -1 with err filled.
int probe_bins_load(const char* path, ProbeBins* pb, int** tokens, size_t* S, size_t* T, char* err,
                    size_t errlen);

#endif // PROBES_H
