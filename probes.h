// probes.h: the soft-entropy estimator (Conklin 2025) of hidden-state information, and its plots.
#ifndef PROBES_H
#define PROBES_H

#include <stddef.h>
#include <stdint.h>

// Solves KL_lower(eps, d) = ln(n_bins) for the softmax temperature eps (bisection on [1e-5, 1]).
double probe_calibrate_eps(int d, int n_bins);

// Fixed random reference points: n_bins unit vectors in R^d from a seed, and the calibrated eps.
typedef struct {
    int d;
    int n_bins;
    uint64_t seed;
    float eps;
    float* W; // (n_bins, d), unit rows
} ProbeBins;
void probe_bins_init(ProbeBins* pb, int d, int n_bins, uint64_t seed);
void probe_bins_free(ProbeBins* pb);

// Soft assignment of N vectors z (N, d): out (N, n_bins) = softmax(normalise(z)·Wᵀ / eps).
void probe_assign(const ProbeBins* pb, const float* z, size_t N, float* out);

// Streaming accumulator of P(Z) and P(Z | label) for up to num_labelings labelings at once.
// Labels are arbitrary int64 keys (exact n-gram ids built by the caller); values are pooled.
typedef struct SoftEntropy SoftEntropy;
SoftEntropy* soft_entropy_new(int n_bins, int num_labelings);
// Adds N assignment rows p (N, n_bins); labels is (N, num_labelings) or NULL; a label of
// INT64_MIN means "no label for this labeling" (the row still counts towards H(Z)).
void soft_entropy_add(SoftEntropy* se, const float* p, size_t N, const int64_t* labels);
double soft_entropy_H(const SoftEntropy* se);            // H(Z) / ln(n_bins)
double soft_entropy_I(const SoftEntropy* se, int which); // I(X_which; Z) / ln(n_bins)
void soft_entropy_reset(SoftEntropy* se);
void soft_entropy_free(SoftEntropy* se);

#endif // PROBES_H
