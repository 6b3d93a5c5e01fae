// probes.h: the soft-entropy estimator (Conklin 2025) of hidden-state information, its hooks into a
// GPT's hidden states, and its run-folder files (lib/probe_io.c).
//
// The estimator. A hidden vector z (dimension d) is normalised, ẑ = z/|z|, and softly assigned to
// n_bins fixed random reference points w_j: p = softmax(ẑ·Wᵀ / eps). Averaging p over positions
// gives a distribution P(Z) over the bins and H(Z) its entropy; averaging within each value x of a
// label gives P(Z|X=x) and I(X;Z) = H(Z) − Σ_x P(x) H(Z|X=x). Every value is divided by ln(n_bins),
// so it lies in [0, 1].
//
// Calibrations (what the reference points and eps are; README "Reading the logs" says what each
// measures):
//   gaussian (default)  w_j ~ N(0, I_d), not normalised, eps = 1/sqrt(2 ln n_bins). For any unit ẑ,
//                       ẑ·w_j ~ N(0, 1) whatever d is, and an isometric embedding of the same
//                       hidden geometry in a wider space leaves the estimator's distribution
//                       unchanged: values compare across widths. The entries are drawn
//                       coordinate-major (all bins' coordinate 0, then coordinate 1, ...), so that
//                       a width-d draw extends the width-d' < d draw of the same seed.
//   find_eps            soft_h's default: unit w_j, eps solving KL_lower(eps, d) = ln n_bins (the
//                       vMF cap of one bin carries ln n_bins nats). Depends on d.
//   leading_order       unit w_j, eps = 1/sqrt(2 d ln n_bins) (soft_h's "leading_order").
// With --probe-seeds K, K independent draws of the reference points are used; every value is the
// mean over the K draws and its spread (sd over the draws) is the estimator's own uncertainty.
//
// Bias. The plug-in estimate is biased upward, most for labels with many values seen once. For
// every labelling the probes also report its permutation null: the same statistic with the labels
// permuted among the probed rows (each label keeps its count), i.e. what the estimate reads when X
// carries nothing about Z. I_ctx, every row its own label, = H(Z) − mean_i H(p_i), is the plug-in
// ceiling: by concavity of entropy every plug-in I(X;Z) ≤ I_ctx.
//
// Typical use in a training loop (train.c):
//   once:  ProbeBins bins; probe_bins_init(&bins, C, n_bins, K, PROBE_GAUSSIAN, seed);
//          ProbeRun pr; probe_run_init(&pr, &bins, L, null_seed);
//   every probe step: probe_run_reset(&pr);
//          per batch of probe sequences: gpt_forward_hidden(model, tok, B, T); probe_layers_add(&pr, model, tok, B, T);
//          (DPO: gpt_forward_hidden on held-out pairs; probe_pref_add(&pr, model, mask, chosen, unit, B, T))
//          probe_run_finish(&pr); probe_csv_append("DIR/probes.csv", step, "pretrain", "trajectory", &pr, ...);
//   at the end: probe_run_free(&pr); probe_bins_free(&bins); the figures: lib/plot.h.
// dev/recompute_probes.py recomputes a stage's last rows from the run folder in PyTorch.
#ifndef PROBES_H
#define PROBES_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

// ----------------------------------------------------------------------------
// reference points and the soft assignment

typedef enum { PROBE_GAUSSIAN = 0, PROBE_FIND_EPS = 1, PROBE_LEADING_ORDER = 2 } ProbeCalibration;
const char* probe_calibration_name(ProbeCalibration c); // "gaussian", "find_eps", "leading_order"
// 0 with *out set, or -1 for an unknown name.
int probe_calibration_parse(const char* name, ProbeCalibration* out);

// KL_lower(eps, d): the Amos-type lower bound on KL(vMF(kappa = 1/eps) ‖ Uniform(S^{d-1})).
double probe_kl_lower(double eps, int d);
// Solves KL_lower(eps, d) = ln(n_bins) for the softmax temperature eps (bisection on [1e-5, 1],
// in double, to machine precision). d >= 3 and n_bins >= 2.
double probe_calibrate_eps(int d, int n_bins);
// The temperature of a calibration at (d, n_bins).
double probe_eps(ProbeCalibration c, int d, int n_bins);

// K draws (seeds) of n_bins reference points in R^d and their temperatures.
typedef struct {
    int d;
    int n_bins;
    int seeds;                    // K
    ProbeCalibration calibration;
    uint64_t seed;                // draw s uses the RNG stream of (seed, s)
    float* W;                     // (K, n_bins, d) reference points of each draw
    float* eps;                   // (K) temperature of each draw
    size_t n_pad;                 // n_bins rounded up to a multiple of 16
    float* Wt;                    // (K, d, n_pad): each draw's Wᵀ / eps, zero-padded: the assignment product
} ProbeBins;
void probe_bins_init(ProbeBins* pb, int d, int n_bins, int seeds, ProbeCalibration c, uint64_t seed);
// Sets W (K, n_bins, d) and eps (K) explicitly (rows used as given).
void probe_bins_init_from(ProbeBins* pb, int d, int n_bins, int seeds, ProbeCalibration c, const float* W,
                          const float* eps);
void probe_bins_free(ProbeBins* pb);

// Soft assignment of N vectors z (N, d) with draw s: out (N, n_bins) = softmax(ẑ·W_sᵀ / eps_s).
// A zero (or non-finite) vector gets the uniform assignment.
void probe_assign(const ProbeBins* pb, int s, const float* z, size_t N, float* out);

// The null's permutation of n items: Fisher-Yates from the last item down, j = random_u32 % (i+1)
// with the xorshift* state seed (0 is replaced by 1), so dev/recompute_probes.py can redo it.
void probe_null_permutation(uint64_t seed, size_t n, uint32_t* perm);

// ----------------------------------------------------------------------------
// the statistics of a set of probed rows

// From assignment rows p (N, n_bins) and labelings ids (N, K) (dense label ids, equal id = equal
// label), in nats: *H = H(P), *I_ctx = H(P) − mean_i H(p_i), I[k] = I(X_k; Z). perm (N) may be
// NULL; otherwise I_null[k] is I for the labels permuted: row i labelled as row perm[i].
void probe_information(const float* p, size_t N, int n_bins, const int32_t* ids, int K, const uint32_t* perm,
                       double* H, double* I_ctx, double* I, double* I_null);

// ----------------------------------------------------------------------------
// probing every hidden state of a GPT

// Labelings of a probed position p of a sequence: the input n-grams ending at p (tokens
// p-n+1..p, n = 1..4) and the output n-grams after it (p+1..p+n). Positions p in [3, T-4), so all
// eight exist; labels are exact token tuples, pooled over all probe sequences.
enum { PROBE_NGRAM = 4, PROBE_FIRST = 3, PROBE_TAIL = 4 };
enum { PROBE_IN1 = 0, PROBE_OUT1 = PROBE_NGRAM, PROBE_NUM_LABELINGS = 2 * PROBE_NGRAM };

// Rows probed so far and their assignments under every hidden state and draw.
typedef struct {
    size_t n, cap;       // rows, allocated rows
    float** p;           // (num_states * K) -> (cap, n_bins), [state * K + s]
    int32_t* ids;        // (cap, num_labels) dense label ids
    int32_t* unit;       // (cap) the unit (sequence) of each row, for a null that permutes units
    int num_labels;
} ProbeRows;

// Results of one hidden state (or the layer mean), normalised by ln(n_bins): means over the K
// draws, their sd (NAN when K = 1) and the permutation nulls. A value not measured is NAN.
typedef struct {
    size_t positions;  // rows probed
    double H, I_in[PROBE_NGRAM], I_out[PROBE_NGRAM], I_ctx, I_pref, optimality; // optimality = I_out1 / I_in1
    double I_in_null[PROBE_NGRAM], I_out_null[PROBE_NGRAM], I_pref_null;
    double H_sd, I_in_sd[PROBE_NGRAM], I_out_sd[PROBE_NGRAM], I_ctx_sd, I_pref_sd;
} ProbeStats;

typedef struct {
    const ProbeBins* bins; // shared, not owned (d = C)
    int num_states;        // L + 1 hidden states (Hugging Face output_hidden_states)
    uint64_t null_seed;    // the nulls' permutations
    ProbeRows grams;       // probe-sequence positions, PROBE_NUM_LABELINGS labelings
    ProbeRows pref;        // response tokens of preference pairs, 1 labeling (chosen 1 / rejected 0)
    // token tuple -> id tables (order 2..4), so that equal n-grams share an id across sequences
    void* tuples;
    ProbeStats* stats;     // (num_states + 1) after probe_run_finish: hidden states 0..L, then the mean
} ProbeRun;

// num_layers = L. The nulls' permutations come from null_seed.
void probe_run_init(ProbeRun* pr, const ProbeBins* bins, int num_layers, uint64_t null_seed);
void probe_run_reset(ProbeRun* pr); // forgets every row (start of a probe step)
void probe_run_free(ProbeRun* pr);

// After gpt_forward_hidden(model, tokens, B, T): adds positions p in [3, T-4) of every sequence,
// every hidden state 0..L, with their n-gram labels. tokens is (B, T), the forward's inputs;
// T >= 8.
void probe_layers_add(ProbeRun* pr, const GPT* model, const int* tokens, size_t B, size_t T);
// The same from explicit hidden states: states[l] is (B, T, C) for l = 0..L (any source).
void probe_states_add(ProbeRun* pr, const float* const* states, const int* tokens, size_t B, size_t T);

// The two halves of probe_states_add, for data-parallel probing (lib/probe_run.c): the labels
// (cheap) of every sequence can be added by every process, in order, and the assignments (the
// cost, after a forward) by each process for its own sequences, the others' rows then copied in.
// probe_labels_add adds the B P rows of B sequences (P = probe_rows_per_seq(T)) with their labels
// and units, the assignments not yet filled, and returns the first; probe_states_assign fills the
// assignments of the rows of B sequences from row first on, states[l] (B, T, C) as above.
static inline size_t probe_rows_per_seq(size_t T) { return T - PROBE_FIRST - PROBE_TAIL; }
size_t probe_labels_add(ProbeRun* pr, const int* tokens, size_t B, size_t T);
void probe_states_assign(ProbeRun* pr, const float* const* states, size_t first, size_t B, size_t T);
// probe_states_assign from the hidden states of the first B sequences of the last forward
// (gpt_forward_hidden or gpt_forward of B or more sequences of length T).
void probe_layers_assign(ProbeRun* pr, const GPT* model, size_t first, size_t B, size_t T);
// Grows r (pr->grams or pr->pref) to n rows (n >= r->n), the new ones unset; returns the old count.
size_t probe_rows_resize(ProbeRun* pr, ProbeRows* r, size_t n);
// After gpt_forward_hidden(model, tokens, B, T) on preference sequences: adds the positions with
// mask[b*T + t] != 0 (the response tokens) of every hidden state, labelled by chosen[b] (1 chosen,
// 0 rejected). unit[b] names the pair-side of row b (distinct across calls); the null permutes the
// chosen/rejected labels among these units, so that a sequence's positions move together.
void probe_pref_add(ProbeRun* pr, const GPT* model, const int* mask, const int* chosen, const int* unit, size_t B,
                    size_t T);

// Computes the statistics of the rows added since the last reset into pr->stats: per hidden
// state, then the row PROBE_MEAN = num_states: the mean over the block outputs 1..L (per draw,
// then averaged), as soft_h's LLM inferrer reports a model. OpenMP over states and draws.
void probe_run_finish(ProbeRun* pr);
// Index of the mean row in pr->stats.
static inline int probe_mean_row(const ProbeRun* pr) { return pr->num_states; }

// ----------------------------------------------------------------------------
// run-folder files (lib/probe_io.c)

#define PROBE_CSV_HEADER                                                                                         \
    "step,stage,set,layer,positions,H,I_in1,I_in2,I_in3,I_in4,I_out1,I_out2,I_out3,I_out4,I_ctx,I_pref,"          \
    "optimality,I_in1_null,I_in2_null,I_in3_null,I_in4_null,I_out1_null,I_out2_null,I_out3_null,I_out4_null,"   \
    "I_pref_null,H_sd,I_in1_sd,I_in2_sd,I_in3_sd,I_in4_sd,I_out1_sd,I_out2_sd,I_out3_sd,I_out4_sd,I_ctx_sd,"     \
    "I_pref_sd"

// Appends one row per hidden state and the mean row (step, stage, set, layer: 0..L or "mean") of
// pr->stats to path, writing the header first when the file is new or empty. Rows are written with
// one fwrite and flushed. Returns 0, or -1 with err filled ("path: ...").
int probe_csv_append(const char* path, int step, const char* stage, const char* set, const ProbeRun* pr,
                     char* err, size_t errlen);
// Formats one row (no newline) into buf; layer < 0 writes "mean". Returns snprintf's value.
int probe_csv_format_row(char* buf, size_t len, int step, const char* stage, const char* set, int layer,
                         const ProbeStats* s);

// Writes path (e.g. DIR/probe_bins.safetensors) atomically: W [K, n_bins, C] F32, eps [K] F32,
// tokens [S, T] I32 (the probe sequences), and in the header's __metadata__ the calibration, the
// seeds, the null seed and traj_seqs (the first traj_seqs sequences are the trajectory's set).
// Returns 0, or -1 with err filled.
int probe_bins_save(const char* path, const ProbeBins* pb, uint64_t null_seed, const int* tokens, size_t S,
                    size_t T, size_t traj_seqs, char* err, size_t errlen);
// Reads a file written by probe_bins_save: fills pb and, when tokens is not NULL, a malloc'd
// (S, T) array, *null_seed and *traj_seqs. Every value is checked (finite points, positive eps,
// shapes, a known calibration). Returns 0, or -1 with err filled.
int probe_bins_load(const char* path, ProbeBins* pb, uint64_t* null_seed, int** tokens, size_t* S, size_t* T,
                    size_t* traj_seqs, char* err, size_t errlen);

#endif // PROBES_H
