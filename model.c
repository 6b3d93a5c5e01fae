// placeholder: implemented in its own commit

// ==== DPO objective ====
#include <math.h> // repeated here so this section stands alone
// See model.h for the definitions. Everything is computed in double and rounded once, so the
// result does not depend on the order of the pairs beyond the final sums.

// log σ(x) without overflow: log σ(x) = min(x, 0) − log(1 + e^−|x|).
static double dpo_log_sigmoid(double x) { return (x < 0.0 ? x : 0.0) - log1p(exp(-fabs(x))); }

// σ(x) without overflow for large |x|.
static double dpo_sigmoid(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

void dpo_objective(const float* policy_chosen, const float* policy_rejected, const float* ref_chosen,
                   const float* ref_rejected, int n, float beta, DPOLossType type, float label_smoothing,
                   float* dchosen, float* drejected, float* losses, DPOStats* stats) {
    double sum_loss = 0.0, sum_rc = 0.0, sum_rr = 0.0, correct = 0.0;
    double b = (double)beta, ls = (double)label_smoothing;
    for (int i = 0; i < n; i++) {
        double lc = (double)policy_chosen[i] - (double)ref_chosen[i];     // chosen log-ratio
        double lr = (double)policy_rejected[i] - (double)ref_rejected[i]; // rejected log-ratio
        double h = lc - lr;
        double loss, dh; // L_i and dL_i/dh
        if (type == DPO_IPO) {
            // L = (h − 1/(2β))², dL/dh = 2(h − 1/(2β))
            double d = h - 1.0 / (2.0 * b);
            loss = d * d;
            dh = 2.0 * d;
        } else {
            // L = −(1−ls) log σ(βh) − ls log σ(−βh); since d/dx log σ(x) = σ(−x):
            // dL/dh = −(1−ls) β σ(−βh) + ls β σ(βh)
            double x = b * h;
            loss = -(1.0 - ls) * dpo_log_sigmoid(x) - ls * dpo_log_sigmoid(-x);
            dh = -(1.0 - ls) * b * dpo_sigmoid(-x) + ls * b * dpo_sigmoid(x);
        }
        // h depends on logπ(c) with +1 and on logπ(r) with −1; the mean divides by n
        if (dchosen) dchosen[i] = (float)(dh / n);
        if (drejected) drejected[i] = (float)(-dh / n);
        if (losses) losses[i] = (float)loss;
        double rc = b * lc, rr = b * lr;
        sum_loss += loss;
        sum_rc += rc;
        sum_rr += rr;
        correct += rc > rr ? 1.0 : 0.0;
    }
    if (stats) {
        double inv = n > 0 ? 1.0 / n : 0.0;
        stats->loss = (float)(sum_loss * inv);
        stats->rewards_chosen = (float)(sum_rc * inv);
        stats->rewards_rejected = (float)(sum_rr * inv);
        stats->margin = (float)((sum_rc - sum_rr) * inv);
        stats->accuracy = (float)(correct * inv);
    }
}

void dpo_dlosses(float* dlosses, const int* targets, const float* dlogp, size_t B, size_t T) {
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++) dlosses[b * T + t] = targets[b * T + t] != -1 ? -dlogp[b] : 0.0f;
}
