// probes.c: the soft-entropy estimator (Conklin 2025, the `soft_h` package) of how much a hidden
// state keeps about its input and its future, and its hooks into a GPT's hidden states. See
// probes.h for the API and the math in one paragraph; the run-folder files are in
// lib/probe_io.c, the figures in lib/plot.c.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes.h"
#ifdef USE_CUBLAS
#include "lib/gpu.h"
#endif

// ============================================================================
// eps: the vMF concentration whose KL to the uniform sphere is ln(n_bins)

// The soft assignment softmax(ẑ·w / eps) over directions w is a von Mises-Fisher density with
// concentration kappa = k = 1/eps. KL(vMF(k) ‖ U(S^{d-1})) = k·A_d(k) − ln C_d(k)-terms, where
// A_d = I_{d/2}(k) / I_{d/2-1}(k) is a Bessel ratio. Amos-type bounds give, with nu = d/2 − 1:
//   A_d(k) >= G(d/2, d/2, k),  G(a, b, k) = k / (a + sqrt(k² + b²)),
// and the log-normaliser part is bounded by Phi⁺(eps, d) = r − nu + nu·ln((d − 2)/(nu + r)),
// r = sqrt(k² + nu²). So KL_lower(eps, d) = G(d/2, d/2, k)/eps − Phi⁺(eps, d). It falls from
// large values at small eps to 0 as eps grows, so eps with KL_lower = ln(n_bins) is unique:
// a cap that holds "one bin's worth" of the sphere.
double probe_kl_lower(double eps, int d) {
    double k = 1.0 / eps;
    double nu = 0.5 * d - 1.0;
    double a = 0.5 * d;
    double G = k / (a + sqrt(k * k + a * a));
    double r = sqrt(k * k + nu * nu);
    double phi = r - nu + nu * log((d - 2.0) / (nu + r));
    return G / eps - phi;
}

double probe_calibrate_eps(int d, int n_bins) {
    if (d < 3 || n_bins < 2) fatal("probe_calibrate_eps: need d >= 3 and n_bins >= 2 (got d=%d, n_bins=%d)", d, n_bins);
    double target = log((double)n_bins);
    double lo = 1e-5, hi = 1.0; // KL_lower(lo) > target > KL_lower(hi) when the root is inside
    double flo = probe_kl_lower(lo, d) - target, fhi = probe_kl_lower(hi, d) - target;
    if (!(flo > 0.0 && fhi < 0.0))
        fatal("probe_calibrate_eps: KL_lower(eps, %d) = ln(%d) has no root in [1e-5, 1] (f(lo)=%g, f(hi)=%g)", d,
              n_bins, flo, fhi);
    // bisection: 200 halvings reach adjacent doubles long before the loop ends
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        double f = probe_kl_lower(mid, d) - target;
        if (f > 0.0) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

// ============================================================================
// bins and the soft assignment

static void bins_finish(ProbeBins* pb) {
    // Wt = Wᵀ / eps: (d, n_pad), bins padded with zero columns to a multiple of the matmul tile,
    // so the assignment's inner loop runs over contiguous, whole tiles of bins
    size_t d = (size_t)pb->d, n = (size_t)pb->n_bins;
    pb->n_pad = (n + 15) / 16 * 16;
    pb->Wt = calloc_check(d * pb->n_pad, sizeof(float));
    float inv_eps = 1.0f / pb->eps;
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < d; k++) pb->Wt[k * pb->n_pad + j] = pb->W[j * d + k] * inv_eps;
}

void probe_bins_init(ProbeBins* pb, int d, int n_bins, uint64_t seed) {
    pb->d = d;
    pb->n_bins = n_bins;
    pb->seed = seed;
    pb->eps = (float)probe_calibrate_eps(d, n_bins);
    pb->W = malloc_check((size_t)n_bins * (size_t)d * sizeof(float));
    // xorshift needs a non-zero state: mix the seed (0 is the default seed) into one
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 0x853C49E6748FEA9Bull;
    if (state == 0) state = 1;
    for (int j = 0; j < n_bins; j++) {
        float* w = pb->W + (size_t)j * d;
        double ss = 0.0;
        do { // uniform on the sphere: a standard normal vector, normalised
            ss = 0.0;
            for (int k = 0; k < d; k++) {
                w[k] = random_normal(&state);
                ss += (double)w[k] * w[k];
            }
        } while (ss == 0.0);
        float inv = (float)(1.0 / sqrt(ss));
        for (int k = 0; k < d; k++) w[k] *= inv;
    }
    bins_finish(pb);
}

void probe_bins_init_from(ProbeBins* pb, int d, int n_bins, const float* W, float eps) {
    pb->d = d;
    pb->n_bins = n_bins;
    pb->seed = 0;
    pb->eps = eps;
    pb->W = malloc_check((size_t)n_bins * (size_t)d * sizeof(float));
    memcpy(pb->W, W, (size_t)n_bins * (size_t)d * sizeof(float));
    bins_finish(pb);
}

void probe_bins_free(ProbeBins* pb) {
    free(pb->W);
    free(pb->Wt);
    pb->W = pb->Wt = NULL;
}

// Softmax of one row of logits in place, shifted by its max so expf never overflows.
static void softmax_row(float* o, size_t n) {
    float mx = o[0];
    for (size_t j = 1; j < n; j++) mx = o[j] > mx ? o[j] : mx;
    float sum = 0.0f;
    for (size_t j = 0; j < n; j++) {
        o[j] = expf(o[j] - mx);
        sum += o[j];
    }
    float is = 1.0f / sum;
    for (size_t j = 0; j < n; j++) o[j] *= is;
}

// Register tile of the assignment matmul: 8 rows x 16 bins of accumulators (16 AVX2 or 8 AVX-512
// registers) updated by one 16-float load of Wt and 8 broadcasts per k.
#define PROBE_ROWS 8
#define PROBE_COLS 16

// z is (N, d), out is (N, n_bins). Per row: logits = (z·Wᵀ)/(|z|·eps), then a max-shifted softmax.
// The matmul (N, d)x(d, n_bins) keeps a PROBE_ROWS x PROBE_COLS tile of logits in registers and
// runs over k, so it vectorises without reassociating any dot product (no fast-math needed) and
// each row of Wt is loaded once per tile; scaling by 1/|z| after the sum is the same normalisation.
// Tiles of rows are independent: OpenMP splits them.
void probe_assign(const ProbeBins* pb, const float* z, size_t N, float* out) {
    const size_t d = (size_t)pb->d, n = (size_t)pb->n_bins, np = pb->n_pad;
#ifdef USE_CUBLAS
    // GPU build: the product and softmax on the device; only out (N, n_bins) comes back
    gpu_probe_assign(out, z, pb->Wt, N, d, n, np);
    return;
#endif
    const float* Wt = pb->Wt;
    const long ntiles = (long)((N + PROBE_ROWS - 1) / PROBE_ROWS);
#pragma omp parallel for schedule(static)
    for (long tile = 0; tile < ntiles; tile++) {
        size_t i0 = (size_t)tile * PROBE_ROWS;
        size_t rb = N - i0 < PROBE_ROWS ? N - i0 : PROBE_ROWS;
        const float* zr[PROBE_ROWS];
        float inv[PROBE_ROWS];
        for (size_t r = 0; r < PROBE_ROWS; r++) {
            zr[r] = z + (i0 + (r < rb ? r : 0)) * d; // rows past N repeat row 0; never stored
            float ss = 0.0f;
            for (size_t k = 0; k < d; k++) ss += zr[r][k] * zr[r][k];
            // a zero (or broken) vector has no direction: it gets the uniform assignment below
            inv[r] = ss > 0.0f && isfinite(ss) ? 1.0f / sqrtf(ss) : 0.0f;
        }
        for (size_t jb = 0; jb < np; jb += PROBE_COLS) {
            float acc[PROBE_ROWS][PROBE_COLS] = {{0}};
            for (size_t k = 0; k < d; k++) {
                const float* w = Wt + k * np + jb;
                for (size_t r = 0; r < PROBE_ROWS; r++) {
                    float zk = zr[r][k];
                    for (size_t j = 0; j < PROBE_COLS; j++) acc[r][j] += zk * w[j];
                }
            }
            size_t jn = n - jb < PROBE_COLS ? n - jb : PROBE_COLS;
            for (size_t r = 0; r < rb; r++)
                for (size_t j = 0; j < jn; j++) out[(i0 + r) * n + jb + j] = acc[r][j] * inv[r];
        }
        for (size_t r = 0; r < rb; r++) {
            float* o = out + (i0 + r) * n;
            if (inv[r] == 0.0f)
                for (size_t j = 0; j < n; j++) o[j] = 1.0f / (float)n;
            else softmax_row(o, n);
        }
    }
}

// ============================================================================
// the accumulator: P(Z) and P(Z | X = x) as sums of assignment rows, in double

// One labeling: an open-addressing hash map label -> slot, and per slot a row of n_bins sums and
// a count. Keys are exact (no hashing of n-grams into buckets), so no two labels ever merge.
typedef struct {
    int64_t* keys;  // (hcap) key of each hash cell
    int64_t* slot;  // (hcap) row index of each cell, -1 when empty
    size_t hcap;    // power of two
    double* sums;   // (n, n_bins) Σ p over rows with this label
    double* counts; // (n) rows with this label
    size_t n, rcap; // distinct labels, allocated rows
    double labelled; // rows with a label (not INT64_MIN)
} LabelMap;

struct SoftEntropy {
    int n_bins;
    int K;         // labelings
    double* total; // (n_bins) Σ p over all rows
    double count;  // rows
    LabelMap* maps; // (K)
};

static uint64_t hash64(uint64_t x) { // splitmix64 finaliser
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

static void labelmap_init(LabelMap* m) {
    memset(m, 0, sizeof *m);
    m->hcap = 1024;
    m->keys = malloc_check(m->hcap * sizeof(int64_t));
    m->slot = malloc_check(m->hcap * sizeof(int64_t));
    for (size_t i = 0; i < m->hcap; i++) m->slot[i] = -1;
}

static void labelmap_free(LabelMap* m) {
    free(m->keys);
    free(m->slot);
    free(m->sums);
    free(m->counts);
}

// Row index of key, inserting a zeroed row when it is new.
static size_t labelmap_row(LabelMap* m, int64_t key, int n_bins) {
    size_t mask = m->hcap - 1;
    size_t h = (size_t)hash64((uint64_t)key) & mask;
    while (m->slot[h] >= 0) {
        if (m->keys[h] == key) return (size_t)m->slot[h];
        h = (h + 1) & mask;
    }
    if (m->n == m->rcap) {
        m->rcap = m->rcap ? 2 * m->rcap : 256;
        m->sums = realloc_check(m->sums, m->rcap * (size_t)n_bins * sizeof(double));
        m->counts = realloc_check(m->counts, m->rcap * sizeof(double));
    }
    size_t r = m->n++;
    memset(m->sums + r * (size_t)n_bins, 0, (size_t)n_bins * sizeof(double));
    m->counts[r] = 0.0;
    m->keys[h] = key;
    m->slot[h] = (int64_t)r;
    if (2 * m->n > m->hcap) { // keep the load under 1/2: rehash into twice the cells
        size_t ncap = 2 * m->hcap;
        int64_t* nkeys = malloc_check(ncap * sizeof(int64_t));
        int64_t* nslot = malloc_check(ncap * sizeof(int64_t));
        for (size_t i = 0; i < ncap; i++) nslot[i] = -1;
        for (size_t i = 0; i < m->hcap; i++) {
            if (m->slot[i] < 0) continue;
            size_t g = (size_t)hash64((uint64_t)m->keys[i]) & (ncap - 1);
            while (nslot[g] >= 0) g = (g + 1) & (ncap - 1);
            nkeys[g] = m->keys[i];
            nslot[g] = m->slot[i];
        }
        free(m->keys);
        free(m->slot);
        m->keys = nkeys;
        m->slot = nslot;
        m->hcap = ncap;
    }
    return r;
}

SoftEntropy* soft_entropy_new(int n_bins, int num_labelings) {
    if (n_bins < 2 || num_labelings < 0) fatal("soft_entropy_new: bad n_bins=%d labelings=%d", n_bins, num_labelings);
    SoftEntropy* se = calloc_check(1, sizeof *se);
    se->n_bins = n_bins;
    se->K = num_labelings;
    se->total = calloc_check((size_t)n_bins, sizeof(double));
    se->maps = calloc_check((size_t)(num_labelings > 0 ? num_labelings : 1), sizeof(LabelMap));
    for (int j = 0; j < num_labelings; j++) labelmap_init(&se->maps[j]);
    return se;
}

void soft_entropy_reset(SoftEntropy* se) {
    memset(se->total, 0, (size_t)se->n_bins * sizeof(double));
    se->count = 0.0;
    for (int j = 0; j < se->K; j++) {
        labelmap_free(&se->maps[j]);
        labelmap_init(&se->maps[j]);
    }
}

void soft_entropy_free(SoftEntropy* se) {
    if (!se) return;
    for (int j = 0; j < se->K; j++) labelmap_free(&se->maps[j]);
    free(se->maps);
    free(se->total);
    free(se);
}

// Task t < K fills labeling t's map; task K sums the marginal. Each task owns its writes, so the
// tasks run in parallel without atomics.
void soft_entropy_add(SoftEntropy* se, const float* p, size_t N, const int64_t* labels) {
    const int K = se->K, nb = se->n_bins;
    int tasks = labels ? K + 1 : 1;
#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < tasks; t++) {
        if (t == tasks - 1) {
            for (size_t i = 0; i < N; i++)
                for (int z = 0; z < nb; z++) se->total[z] += p[i * (size_t)nb + (size_t)z];
            continue;
        }
        LabelMap* m = &se->maps[t];
        for (size_t i = 0; i < N; i++) {
            int64_t key = labels[i * (size_t)K + (size_t)t];
            if (key == INT64_MIN) continue;
            size_t r = labelmap_row(m, key, nb);
            double* s = m->sums + r * (size_t)nb;
            const float* pi = p + i * (size_t)nb;
            for (int z = 0; z < nb; z++) s[z] += pi[z];
            m->counts[r] += 1.0;
            m->labelled += 1.0;
        }
    }
    se->count += (double)N;
}

// Entropy (nats) of the distribution sums/count: −Σ q ln q with q = s/count.
static double entropy_of_sums(const double* s, int nb, double count) {
    double h = 0.0;
    for (int z = 0; z < nb; z++) {
        double q = s[z] / count;
        if (q > 0.0) h -= q * log(q);
    }
    return h;
}

double soft_entropy_H(const SoftEntropy* se) {
    if (se->count <= 0.0) return NAN;
    return entropy_of_sums(se->total, se->n_bins, se->count) / log((double)se->n_bins);
}

// I(X; Z) = H(Z) − Σ_x P(x) H(Z | X = x), P(x) = n_x / N over the rows labelled in this labeling
// (all rows when every row has a label). Normalised by ln(n_bins).
double soft_entropy_I(const SoftEntropy* se, int which) {
    if (which < 0 || which >= se->K) fatal("soft_entropy_I: labeling %d out of range [0, %d)", which, se->K);
    const LabelMap* m = &se->maps[which];
    const int nb = se->n_bins;
    if (m->labelled <= 0.0) return NAN;
    double hz;
    if (m->labelled == se->count) {
        hz = entropy_of_sums(se->total, nb, se->count);
    } else {
        double* marg = calloc_check((size_t)nb, sizeof(double));
        for (size_t r = 0; r < m->n; r++)
            for (int z = 0; z < nb; z++) marg[z] += m->sums[r * (size_t)nb + (size_t)z];
        hz = entropy_of_sums(marg, nb, m->labelled);
        free(marg);
    }
    double hcond = 0.0;
    const long n = (long)m->n;
#pragma omp parallel for reduction(+ : hcond) schedule(static)
    for (long r = 0; r < n; r++) {
        double c = m->counts[r];
        hcond += c * entropy_of_sums(m->sums + (size_t)r * (size_t)nb, nb, c);
    }
    hcond /= m->labelled;
    return (hz - hcond) / log((double)nb);
}

size_t soft_entropy_count(const SoftEntropy* se) { return (size_t)se->count; }

size_t soft_entropy_num_labels(const SoftEntropy* se, int which) {
    if (which < 0 || which >= se->K) return 0;
    return se->maps[which].n;
}

// ============================================================================
// every hidden state of a GPT

void probe_run_init(ProbeRun* pr, int num_layers, int C, int n_bins, uint64_t seed) {
    memset(pr, 0, sizeof *pr);
    probe_bins_init(&pr->bins, C, n_bins, seed);
    pr->num_states = num_layers + 1;
    pr->layers = malloc_check((size_t)pr->num_states * sizeof(SoftEntropy*));
    pr->pref = malloc_check((size_t)pr->num_states * sizeof(SoftEntropy*));
    for (int l = 0; l < pr->num_states; l++) {
        pr->layers[l] = soft_entropy_new(n_bins, PROBE_NUM_LABELINGS);
        pr->pref[l] = soft_entropy_new(n_bins, 1);
    }
}

void probe_run_reset(ProbeRun* pr) {
    for (int l = 0; l < pr->num_states; l++) {
        soft_entropy_reset(pr->layers[l]);
        soft_entropy_reset(pr->pref[l]);
    }
}

void probe_run_free(ProbeRun* pr) {
    for (int l = 0; l < pr->num_states; l++) {
        soft_entropy_free(pr->layers[l]);
        soft_entropy_free(pr->pref[l]);
    }
    free(pr->layers);
    free(pr->pref);
    free(pr->p);
    free(pr->labels);
    probe_bins_free(&pr->bins);
    memset(pr, 0, sizeof *pr);
}

static void run_reserve(ProbeRun* pr, size_t rows) {
    if (rows <= pr->cap) return;
    pr->cap = rows;
    pr->p = realloc_check(pr->p, rows * (size_t)pr->bins.n_bins * sizeof(float));
    pr->labels = realloc_check(pr->labels, rows * PROBE_NUM_LABELINGS * sizeof(int64_t));
}

static void check_model(const ProbeRun* pr, const GPT* model, size_t B, size_t T, const char* who) {
    if (model->config.num_layers + 1 != pr->num_states || model->config.channels != pr->bins.d)
        fatal("%s: model has L=%d C=%d but the probes were set up for L=%d C=%d", who, model->config.num_layers,
              model->config.channels, pr->num_states - 1, pr->bins.d);
    if (model->batch_size != B || model->seq_len != T)
        fatal("%s: last forward was (B=%zu, T=%zu), called with (B=%zu, T=%zu)", who, model->batch_size,
              model->seq_len, B, T);
}

// Packs tokens t[0..n) (ids < 2^20) into one int64: 20 bits each, first token highest.
static int64_t pack_ngram(const int* t, int n) {
    int64_t key = 0;
    for (int i = 0; i < n; i++) key = (key << 20) | (int64_t)t[i];
    return key;
}

void probe_layers_add(ProbeRun* pr, const GPT* model, const int* tokens, size_t B, size_t T) {
    if (T < 6) fatal("probe_layers_add: T=%zu < 6 leaves no position p in [2, T-3)", T);
    check_model(pr, model, B, T, "probe_layers_add");
    const size_t P = T - 5; // positions 2 .. T-4
    const size_t C = (size_t)pr->bins.d, nb = (size_t)pr->bins.n_bins;
    for (size_t i = 0; i < B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= PROBE_MAX_TOKEN_ID)
            fatal("probe_layers_add: token id %d at %zu outside [0, 2^20): n-gram labels would not be exact",
                  tokens[i], i);
    run_reserve(pr, B * P);
    for (size_t b = 0; b < B; b++) {
        const int* tb = tokens + b * T;
        for (size_t q = 0; q < P; q++) {
            size_t p = q + 2;
            int64_t* lab = pr->labels + (b * P + q) * PROBE_NUM_LABELINGS;
            for (int n = 1; n <= 3; n++) {
                lab[PROBE_IN1 + n - 1] = pack_ngram(tb + p + 1 - (size_t)n, n); // tokens p-n+1 .. p
                lab[PROBE_OUT1 + n - 1] = pack_ngram(tb + p + 1, n);           // tokens p+1 .. p+n
            }
        }
    }
    for (int l = 0; l < pr->num_states; l++) {
        const float* hs = gpt_hidden_state(model, l); // (B, T, C)
        for (size_t b = 0; b < B; b++) probe_assign(&pr->bins, hs + (b * T + 2) * C, P, pr->p + b * P * nb);
        soft_entropy_add(pr->layers[l], pr->p, B * P, pr->labels);
    }
}

void probe_pref_add(ProbeRun* pr, const GPT* model, const int* mask, const int* chosen, size_t B, size_t T) {
    check_model(pr, model, B, T, "probe_pref_add");
    const size_t C = (size_t)pr->bins.d;
    size_t rows = 0;
    for (size_t i = 0; i < B * T; i++) rows += mask[i] != 0;
    if (rows == 0) return;
    run_reserve(pr, rows);
    float* z = malloc_check(rows * C * sizeof(float));
    for (size_t b = 0, r = 0; b < B; b++)
        for (size_t t = 0; t < T; t++)
            if (mask[b * T + t]) pr->labels[r++] = chosen[b] ? 1 : 0;
    for (int l = 0; l < pr->num_states; l++) {
        const float* hs = gpt_hidden_state(model, l);
        size_t r = 0;
        for (size_t i = 0; i < B * T; i++)
            if (mask[i]) memcpy(z + (r++) * C, hs + i * C, C * sizeof(float));
        probe_assign(&pr->bins, z, rows, pr->p);
        soft_entropy_add(pr->pref[l], pr->p, rows, pr->labels);
    }
    free(z);
}

void probe_run_stats(const ProbeRun* pr, int layer, ProbeStats* out) {
    if (layer < 0 || layer >= pr->num_states) fatal("probe_run_stats: layer %d out of range", layer);
    const SoftEntropy* se = pr->layers[layer];
    out->H = soft_entropy_H(se);
    for (int n = 0; n < 3; n++) {
        out->I_in[n] = soft_entropy_I(se, PROBE_IN1 + n);
        out->I_out[n] = soft_entropy_I(se, PROBE_OUT1 + n);
    }
    out->I_pref = soft_entropy_count(pr->pref[layer]) ? soft_entropy_I(pr->pref[layer], 0) : NAN;
    out->optimality = out->I_in[0] > 1e-12 ? out->I_out[0] / out->I_in[0] : NAN;
}

