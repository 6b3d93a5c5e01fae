// lib/ib.h: the Information Bottleneck curve of (input n-gram, next token), the reference drawn with
// --ib-bound.
#ifndef IB_H
#define IB_H

#include <stddef.h>
#include <stdint.h>

// The curve drawn on the information plane: the Information Bottleneck (Tishby,
// Pereira & Bialek 2000) of the empirical joint p(x, y) of X = the input n-gram ending at a
// position and Y = the next token, counted on a token array (the train split). For a
// representation T of cardinality n_bins (the probes' bin count) and each β it minimises
// I(X;T) − β I(T;Y) over encoders p(t|x) by the self-consistent iteration
//   p(t) = Σ_x p(x) p(t|x),   p(y|t) = Σ_x p(x) p(t|x) p(y|x) / p(t),
//   p(t|x) ∝ p(t) exp(−β KL(p(y|x) ‖ p(y|t))),
// annealed from small to large β. Values are reported divided by ln(n_bins), like the probes.
//
// What the curve bounds, and what it does not:
// - It is the best trade-off found for representations T that are (stochastic) functions of X
//   alone (Markov chain T − X − Y), with |T| = n_bins, on the EMPIRICAL distribution of the
//   token array (a finite sample: no correction for sampling bias, and a different split or
//   corpus gives a different curve). No such T can lie above the true IB curve; every point we
//   write is achieved by an actual encoder, so our curve lies on or below the true one (the
//   iteration finds local optima; annealing and restarts make the gap small, not provably zero).
// - It does NOT bound the model's probe points. A hidden state depends on the whole context, not
//   only on the current n-gram, so it can carry more about the next token than any function of X
//   (points above the curve are then legitimate, not an error). The probes also measure soft-binned
//   estimates on a small held-out probe set, which are biased in their own way.
// - Always: I(T;Y) ≤ I(X;T) and I(T;Y) ≤ I(X;Y) (data processing), I(X;T) ≤ min(H(X), ln n_bins).

// The joint p(x, y) over compressed ids (only values that occur), p(y|x) stored sparsely twice.
typedef struct {
    int nx, ny;
    double* px;       // (nx) p(x)
    double* py;       // (ny) p(y)
    size_t nnz;       // pairs (x, y) with p(x, y) > 0
    size_t* x_start;  // (nx + 1) rows of x_col / x_cond: the y's that follow x
    int* x_col;       // (nnz) y
    double* x_cond;   // (nnz) p(y|x)
    size_t* y_start;  // (ny + 1) columns of y_row / y_joint: the x's that precede y
    int* y_row;       // (nnz) x
    double* y_joint;  // (nnz) p(x, y)
    double H_X, H_Y, I_XY; // nats
} IbJoint;

// From a dense non-negative table pxy (nx, ny) (normalised here; rows and columns may not be all
// zero). Returns 0, or -1 with err filled (negative / non-finite entry, zero total, empty row or column).
int ib_joint_from_dense(IbJoint* j, const double* pxy, int nx, int ny, char* err, size_t errlen);
// From tokens[0..n): X = tokens[i-ngram+1..i], Y = tokens[i+1] for every i with both inside
// (ngram in 1..3, ids in [0, 2^21)). X and Y values are renumbered densely in increasing order.
// Returns 0, or -1 with err filled (bad ngram, too few tokens, id out of range).
int ib_joint_from_tokens(IbJoint* j, const int* tokens, size_t n, int ngram, char* err, size_t errlen);
void ib_joint_free(IbJoint* j);

// I(X;T) and I(T;Y) in nats of the encoder q (nx, nt) (rows p(t|x), each summing to 1).
void ib_evaluate(const IbJoint* j, int nt, const double* q, double* I_XT, double* I_TY);

typedef struct {
    double beta;
    double I_XT, I_TY; // nats
    double L;          // I_XT − β I_TY, the functional minimised
    int iters;         // iterations run
    int converged;     // 1 if max |Δ p(t|x)| fell below tol
} IbPoint;

// Runs the IB iteration at one β from the encoder q (nx, nt), updating q in place, until
// max_x,t |Δ p(t|x)| < tol or max_iter iterations (tol = 0: exactly max_iter). OpenMP over x
// and y; the result does not depend on the thread count. Fills out from the final q.
void ib_iterate(const IbJoint* j, int nt, double beta, double* q, int max_iter, double tol, IbPoint* out);

typedef struct {
    int n_bins;         // |T| (default 100, as the probes)
    double beta_min;    // first β of the log-spaced sweep (default 0.1)
    double beta_max;    // last β (default 1000)
    int num_betas;      // β values (default 40)
    int restarts;       // random initialisations tried besides the warm start (default 1) ...
    double restart_beta_max; // ... at each β up to this one (default 10: where the phase changes are)
    int max_iter;       // iterations per solve (default 300)
    double tol;         // convergence: max |Δ p(t|x)| (default 1e-6)
    double perturb;     // warm start noise (0.05): new copies of a bin share its p(t|x) as 1 + perturb·N(0,1),
                        // then p(t|x) *= exp(perturb·N(0,1)), so that clusters can split (ib_warm_start)
    uint64_t seed;      // RNG of initialisations and noise (default 1)
} IbConfig;
void ib_config_default(IbConfig* c);

typedef struct {
    int n_bins;
    double H_X, H_Y, I_XY; // nats, of the joint
    IbPoint* solves;       // every solve of the sweep (nsolves), in order
    size_t nsolves;
    IbPoint* curve;        // the upper envelope: (0,0) then points with strictly increasing I_XT
    size_t ncurve;         // and I_TY (Pareto front of all solves)
    double seconds;        // wall time of the sweep
} IbCurve;

// The β sweep (annealing: each β starts from the best encoder of the previous one, its duplicate
// and unused bins re-dealt as split copies of the used ones and perturbed, plus `restarts` random
// encoders while β <= restart_beta_max; the lowest L is carried on).
// Returns 0, or -1 with err filled (bad config).
int ib_curve_compute(const IbJoint* j, const IbConfig* c, IbCurve* out, char* err, size_t errlen);
void ib_curve_free(IbCurve* c);

#define IB_CSV_HEADER "I_XT,I_TY,beta"
// Writes the envelope as CSV (IB_CSV_HEADER; values divided by ln(n_bins), beta 0 for the origin),
// atomically: the bound_csv that probe_plot_info_plane overlays. Returns 0, or -1 with err filled.
int ib_curve_write_csv(const char* path, const IbCurve* c, char* err, size_t errlen);

#endif // IB_H
