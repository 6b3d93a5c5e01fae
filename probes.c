// probes.c: the soft-entropy estimator (Conklin 2025, the `soft_h` package) of how much a hidden
// state keeps about its input and its future, per layer, plus its CSV/safetensors files and SVG
// plots. See probes.h for the API and the math in one paragraph.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/json.h"
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

// ============================================================================
// probes.csv and probe_bins.safetensors

// A CSV number: empty when not measured (NAN).
static int csv_num(char* buf, size_t len, double v) {
    if (!isfinite(v)) return snprintf(buf, len, ",");
    return snprintf(buf, len, ",%.9g", v);
}

int probe_csv_format_row(char* buf, size_t len, int step, const char* stage, int layer, const ProbeStats* s) {
    size_t n = (size_t)snprintf(buf, len, "%d,%s,%d", step, stage, layer);
    double v[10] = {s->H, s->I_in[0], s->I_in[1], s->I_in[2], s->I_out[0],
                    s->I_out[1], s->I_out[2], s->I_pref, s->optimality};
    for (int i = 0; i < 9; i++) n += (size_t)csv_num(buf + (n < len ? n : len), n < len ? len - n : 0, v[i]);
    return (int)n;
}

int probe_csv_append(const char* path, int step, const char* stage, const ProbeRun* pr, char* err,
                     size_t errlen) {
    if (!stage || !*stage || strlen(stage) > 32 || strpbrk(stage, ",\n\r\"")) {
        snprintf(err, errlen, "%s: stage name '%s' must be 1-32 characters without commas or quotes", path,
                 stage ? stage : "(null)");
        return -1;
    }
    struct stat st;
    int fresh = stat(path, &st) != 0 || st.st_size == 0;
    // a row is at most 3 integers, the stage and 9 numbers of %.9g (16 characters each)
    size_t cap = sizeof PROBE_CSV_HEADER + 1 + (size_t)pr->num_states * 256, n = 0;
    char* buf = malloc_check(cap);
    if (fresh) n += (size_t)snprintf(buf, cap, "%s\n", PROBE_CSV_HEADER);
    for (int l = 0; l < pr->num_states; l++) {
        ProbeStats s;
        probe_run_stats(pr, l, &s);
        int k = probe_csv_format_row(buf + n, cap - n - 1, step, stage, l, &s);
        if (k < 0 || (size_t)k >= cap - n - 1) fatal("probe_csv_append: row longer than its buffer");
        n += (size_t)k;
        buf[n++] = '\n';
    }
    FILE* f = fopen(path, "ab");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        free(buf);
        return -1;
    }
    int ok = fwrite(buf, 1, n, f) == n;
    ok &= fflush(f) == 0;
    ok &= fclose(f) == 0;
    free(buf);
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int little_endian(void) {
    uint32_t x = 1;
    unsigned char c;
    memcpy(&c, &x, 1);
    return c == 1;
}

// safetensors: u64 LE header length, a JSON header naming each tensor's dtype, shape and byte
// range in the data section, padded with spaces to a multiple of 8, then the raw LE data.
int probe_bins_save(const char* path, const ProbeBins* pb, const int* tokens, size_t S, size_t T, char* err,
                    size_t errlen) {
    if (!little_endian()) {
        snprintf(err, errlen, "%s: safetensors writer needs a little-endian host", path);
        return -1;
    }
    size_t nw = (size_t)pb->n_bins * (size_t)pb->d * 4, ne = 4, nt = S * T * 4;
    char hdr[1024];
    int hl = snprintf(hdr, sizeof hdr,
                      "{\"__metadata__\":{\"format\":\"pt\",\"seed\":\"%llu\",\"n_bins\":\"%d\"},"
                      "\"W\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]},"
                      "\"eps\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]},"
                      "\"tokens\":{\"dtype\":\"I32\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}}",
                      (unsigned long long)pb->seed, pb->n_bins, pb->n_bins, pb->d, nw, nw, nw + ne, S, T,
                      nw + ne, nw + ne + nt);
    size_t padded = ((size_t)hl + 7) / 8 * 8;
    if (padded >= sizeof hdr) {
        snprintf(err, errlen, "%s: header too long", path);
        return -1;
    }
    memset(hdr + hl, ' ', padded - (size_t)hl);
    uint64_t len64 = padded;
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    int ok = fwrite(&len64, 8, 1, af.f) == 1;
    ok &= fwrite(hdr, 1, padded, af.f) == padded;
    ok &= fwrite(pb->W, 4, nw / 4, af.f) == nw / 4;
    ok &= fwrite(&pb->eps, 4, 1, af.f) == 1;
    if (nt) ok &= fwrite(tokens, 4, S * T, af.f) == S * T;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

// Shape and byte range of tensor `name` from a parsed safetensors header; checks dtype and rank.
static int st_tensor(const JsonValue* h, const char* name, const char* dtype, int rank, size_t shape[2],
                     size_t off[2], size_t data_len, const char* path, char* err, size_t errlen) {
    const JsonValue* t = json_get(h, name);
    const JsonValue* dt = t ? json_get(t, "dtype") : NULL;
    const JsonValue* sh = t ? json_get(t, "shape") : NULL;
    const JsonValue* of = t ? json_get(t, "data_offsets") : NULL;
    if (!t || !dt || dt->type != JSON_STRING || !sh || sh->type != JSON_ARRAY || !of || of->type != JSON_ARRAY ||
        of->len != 2) {
        snprintf(err, errlen, "%s: tensor '%s' missing or malformed", path, name);
        return -1;
    }
    if (strcmp(dt->str, dtype) != 0 || (int)sh->len != rank) {
        snprintf(err, errlen, "%s: tensor '%s' should be %s with %d dims", path, name, dtype, rank);
        return -1;
    }
    size_t elems = 1;
    for (int i = 0; i < rank; i++) {
        double v = sh->items[i].number;
        if (sh->items[i].type != JSON_NUMBER || v < 0 || v > 1e12 || v != floor(v)) {
            snprintf(err, errlen, "%s: tensor '%s' has a bad shape", path, name);
            return -1;
        }
        shape[i] = (size_t)v;
        elems *= shape[i];
    }
    for (int i = 0; i < 2; i++) {
        double v = of->items[i].number;
        if (of->items[i].type != JSON_NUMBER || v < 0 || v > (double)data_len || v != floor(v)) {
            snprintf(err, errlen, "%s: tensor '%s' has bad data_offsets", path, name);
            return -1;
        }
        off[i] = (size_t)v;
    }
    if (off[1] < off[0] || off[1] - off[0] != elems * 4) {
        snprintf(err, errlen, "%s: tensor '%s' byte range does not match its shape", path, name);
        return -1;
    }
    return 0;
}

int probe_bins_load(const char* path, ProbeBins* pb, int** tokens, size_t* S, size_t* T, char* err,
                    size_t errlen) {
    size_t len = 0;
    char* buf = read_file(path, &len, err, errlen);
    if (!buf) return -1;
    int rc = -1;
    JsonValue h;
    int parsed = 0;
    uint64_t hl = 0;
    if (len < 8 || !little_endian()) {
        snprintf(err, errlen, "%s: too short for a safetensors file", path);
        goto done;
    }
    memcpy(&hl, buf, 8);
    if (hl > len - 8) {
        snprintf(err, errlen, "%s: header length %llu exceeds the file", path, (unsigned long long)hl);
        goto done;
    }
    char jerr[256];
    if (json_parse(&h, buf + 8, (size_t)hl, jerr, sizeof jerr) != 0) {
        snprintf(err, errlen, "%s: header: %s", path, jerr);
        goto done;
    }
    parsed = 1;
    const char* data = buf + 8 + hl;
    size_t dlen = len - 8 - (size_t)hl;
    size_t ws[2], wo[2], es[2], eo[2], ts[2], to[2];
    if (st_tensor(&h, "W", "F32", 2, ws, wo, dlen, path, err, errlen) ||
        st_tensor(&h, "eps", "F32", 1, es, eo, dlen, path, err, errlen) ||
        st_tensor(&h, "tokens", "I32", 2, ts, to, dlen, path, err, errlen))
        goto done;
    if (ws[0] < 2 || ws[1] < 3 || es[0] != 1) {
        snprintf(err, errlen, "%s: W must be [n_bins >= 2, C >= 3] and eps [1]", path);
        goto done;
    }
    float eps;
    memcpy(&eps, data + eo[0], 4);
    if (!(eps > 0.0f) || !isfinite(eps)) {
        snprintf(err, errlen, "%s: eps %g is not a positive number", path, (double)eps);
        goto done;
    }
    float* W = malloc_check(ws[0] * ws[1] * sizeof(float));
    memcpy(W, data + wo[0], ws[0] * ws[1] * sizeof(float));
    probe_bins_init_from(pb, (int)ws[1], (int)ws[0], W, eps);
    free(W);
    if (tokens) {
        *tokens = malloc_check(ts[0] * ts[1] * sizeof(int) + 1);
        memcpy(*tokens, data + to[0], ts[0] * ts[1] * sizeof(int));
    }
    if (S) *S = ts[0];
    if (T) *T = ts[1];
    rc = 0;
done:
    if (parsed) json_free(&h);
    free(buf);
    return rc;
}

// ============================================================================
// reading the run folder's CSV files for the plots

// A whole CSV file: a header and rows of fields (pointers into one buffer), all rows with as many
// fields as the header. Fields are plain (the run folder's CSVs hold no quotes or commas).
typedef struct {
    char* buf;
    char** cells; // (nrows + 1, ncols): row 0 is the header
    int ncols;
    size_t nrows;
    size_t* line; // (nrows) 1-based line number of each row, for error messages
    const char* path;
} Csv;

static void csv_free(Csv* c) {
    free(c->buf);
    free(c->cells);
    free(c->line);
    memset(c, 0, sizeof *c);
}

static int csv_read(Csv* c, const char* path, char* err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->path = path;
    if (!path) {
        snprintf(err, errlen, "no CSV path given");
        return -1;
    }
    size_t len = 0;
    char rerr[512];
    c->buf = read_file(path, &len, rerr, sizeof rerr);
    if (!c->buf) {
        snprintf(err, errlen, "%s", rerr);
        return -1;
    }
    if (strlen(c->buf) != len) {
        snprintf(err, errlen, "%s: contains NUL bytes: not a CSV file", path);
        csv_free(c);
        return -1;
    }
    size_t cap = 0, lineno = 0;
    char* s = c->buf;
    while (*s) {
        char* e = strchr(s, '\n');
        if (e) *e = '\0';
        lineno++;
        size_t l = strlen(s);
        if (l && s[l - 1] == '\r') s[--l] = '\0';
        char* next = e ? e + 1 : s + l;
        if (l == 0) { // blank lines (the trailing one, mostly) carry nothing
            s = next;
            continue;
        }
        int nf = 1;
        for (char* q = s; *q; q++) nf += *q == ',';
        if (c->ncols == 0) c->ncols = nf;
        else if (nf != c->ncols) {
            snprintf(err, errlen, "%s:%zu: %d fields where the header has %d", path, lineno, nf, c->ncols);
            csv_free(c);
            return -1;
        }
        size_t row = c->cells ? c->nrows + 1 : 0;
        if ((row + 1) * (size_t)c->ncols > cap) {
            cap = cap ? 2 * cap : 64 * (size_t)c->ncols;
            c->cells = realloc_check(c->cells, cap * sizeof(char*));
        }
        if (row > 0) {
            c->line = realloc_check(c->line, row * sizeof(size_t));
            c->line[row - 1] = lineno;
            c->nrows = row;
        }
        char** cell = c->cells + row * (size_t)c->ncols;
        int k = 0;
        cell[k++] = s;
        for (char* q = s; *q; q++)
            if (*q == ',') {
                *q = '\0';
                cell[k++] = q + 1;
            }
        s = next;
    }
    if (!c->cells) {
        snprintf(err, errlen, "%s: empty file (no header)", path);
        csv_free(c);
        return -1;
    }
    if (c->nrows == 0) {
        snprintf(err, errlen, "%s: header only, no rows", path);
        csv_free(c);
        return -1;
    }
    return 0;
}

// Column index of name, or -1 with err filled.
static int csv_col(const Csv* c, const char* name, char* err, size_t errlen) {
    for (int j = 0; j < c->ncols; j++)
        if (strcmp(c->cells[j], name) == 0) return j;
    snprintf(err, errlen, "%s: no column '%s' in the header", c->path, name);
    return -1;
}

static const char* csv_cell(const Csv* c, size_t r, int j) { return c->cells[(r + 1) * (size_t)c->ncols + (size_t)j]; }

// Number in row r, column j: NAN when empty or "nan"; -1 with err filled when not a number.
static int csv_get(const Csv* c, size_t r, int j, double* out, char* err, size_t errlen) {
    const char* s = csv_cell(c, r, j);
    if (*s == '\0') {
        *out = NAN;
        return 0;
    }
    char* end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (end == s || *end != '\0') {
        snprintf(err, errlen, "%s:%zu: column '%s': '%s' is not a number", c->path, c->line[r], c->cells[j], s);
        return -1;
    }
    *out = isfinite(v) ? v : NAN;
    return 0;
}

// One column of every row as numbers (malloc'd), or NULL with err filled.
static double* csv_column(const Csv* c, const char* name, char* err, size_t errlen) {
    int j = csv_col(c, name, err, errlen);
    if (j < 0) return NULL;
    double* v = malloc_check(c->nrows * sizeof(double));
    for (size_t r = 0; r < c->nrows; r++)
        if (csv_get(c, r, j, &v[r], err, errlen) != 0) {
            free(v);
            return NULL;
        }
    return v;
}

// probes.csv as columns, with the layer count and a global step axis: pre-training steps as
// they are; other stages (dpo, counted from 0) continue after the last pre-training step.
typedef struct {
    Csv csv;
    size_t n;        // rows
    double* step;    // (n)
    double* gstep;   // (n) global step
    double* layer;   // (n)
    int* dpo;        // (n) 1 for rows of a stage other than pretrain
    int num_layers;  // max layer + 1
    double pre_end;  // last pre-training step (the global offset of later stages)
    int any_dpo;
} ProbeTable;

static void probe_table_free(ProbeTable* t) {
    csv_free(&t->csv);
    free(t->step);
    free(t->gstep);
    free(t->layer);
    free(t->dpo);
    memset(t, 0, sizeof *t);
}

static int probe_table_read(ProbeTable* t, const char* path, char* err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (csv_read(&t->csv, path, err, errlen) != 0) return -1;
    t->n = t->csv.nrows;
    int js = csv_col(&t->csv, "stage", err, errlen);
    if (js < 0 || !(t->step = csv_column(&t->csv, "step", err, errlen)) ||
        !(t->layer = csv_column(&t->csv, "layer", err, errlen))) {
        probe_table_free(t);
        return -1;
    }
    t->gstep = malloc_check(t->n * sizeof(double));
    t->dpo = malloc_check(t->n * sizeof(int));
    t->pre_end = 0.0;
    int maxl = -1;
    for (size_t r = 0; r < t->n; r++) {
        double l = t->layer[r];
        if (!isfinite(l) || l < 0 || l > 1000 || l != floor(l) || !isfinite(t->step[r])) {
            snprintf(err, errlen, "%s:%zu: step and layer must be non-negative integers", path, t->csv.line[r]);
            probe_table_free(t);
            return -1;
        }
        maxl = (int)l > maxl ? (int)l : maxl;
        t->dpo[r] = strcmp(csv_cell(&t->csv, r, js), "pretrain") != 0;
        t->any_dpo |= t->dpo[r];
        if (!t->dpo[r] && t->step[r] > t->pre_end) t->pre_end = t->step[r];
    }
    for (size_t r = 0; r < t->n; r++) t->gstep[r] = t->step[r] + (t->dpo[r] ? t->pre_end : 0.0);
    t->num_layers = maxl + 1;
    return 0;
}

// ============================================================================
// a small SVG toolkit: string builder, nice ticks, panels with axes, palette

typedef struct {
    char* s;
    size_t n, cap;
} Svg;

static void svg_printf(Svg* b, const char* fmt, ...) PRINTF_LIKE(2, 3);
static void svg_printf(Svg* b, const char* fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * b->cap + (size_t)(k > 0 ? k : 0) + 4096;
        b->s = realloc_check(b->s, b->cap);
    }
}

static void svg_begin(Svg* b, int w, int h) {
    b->cap = 1 << 16;
    b->n = 0;
    b->s = malloc_check(b->cap);
    b->s[0] = '\0';
    svg_printf(b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"Helvetica, Arial, sans-serif\">\n"
               "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
               w, h, w, h, w, h);
}

// Closes the document and writes it atomically; frees the builder.
static int svg_end(Svg* b, const char* path, char* err, size_t errlen) {
    svg_printf(b, "</svg>\n");
    AtomicFile af;
    int rc = -1;
    if (atomic_open(&af, path, err, errlen) == 0) {
        if (fwrite(b->s, 1, b->n, af.f) != b->n) {
            snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
            atomic_abort(&af);
        } else {
            rc = atomic_commit(&af, err, errlen);
        }
    }
    free(b->s);
    b->s = NULL;
    return rc;
}

// Layer colours: Okabe-Ito (colour-blind safe, no yellow) for up to 7 layers; beyond that a
// viridis ramp (perceptually ordered, also colour-blind safe), dark = shallow, light = deep.
static void layer_colour(int l, int L, char out[8]) {
    static const char* okabe[7] = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7"};
    if (L <= 7) {
        snprintf(out, 8, "%s", okabe[l % 7]);
        return;
    }
    static const double vir[6][3] = {{68, 1, 84}, {65, 68, 135}, {42, 120, 142},
                                     {34, 168, 132}, {122, 209, 81}, {210, 200, 30}};
    double x = L > 1 ? (double)l / (L - 1) * 5.0 : 0.0;
    int i = (int)x;
    if (i >= 5) i = 4;
    double f = x - i;
    int rgb[3];
    for (int k = 0; k < 3; k++) rgb[k] = (int)lround(vir[i][k] * (1 - f) + vir[i + 1][k] * f);
    snprintf(out, 8, "#%02X%02X%02X", rgb[0] & 255, rgb[1] & 255, rgb[2] & 255);
}

// A plot area in pixels (x, y, w, h) showing data [x0, x1] x [y0, y1] with tick steps dx, dy.
typedef struct {
    double x, y, w, h;
    double x0, x1, y0, y1;
    double dx, dy;
} Panel;

static double px(const Panel* p, double v) { return p->x + (v - p->x0) / (p->x1 - p->x0) * p->w; }
static double py(const Panel* p, double v) { return p->y + p->h - (v - p->y0) / (p->y1 - p->y0) * p->h; }

// A "nice" step (1, 2 or 5 times a power of ten) giving about `target` intervals over span.
static double nice_step(double span, int target) {
    double raw = span / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

// Range [lo, hi] of the finite values (NAN when none), grown by frac of the span on each side,
// then snapped outwards to multiples of a nice step.
static void nice_range(double lo, double hi, double frac, int target, double* a, double* b, double* step) {
    if (!isfinite(lo) || !isfinite(hi)) lo = 0.0, hi = 1.0;
    if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi - lo < 1e-12) {
        double m = fabs(lo) > 0 ? 0.1 * fabs(lo) : 0.5;
        lo -= m, hi += m;
    }
    double pad = (hi - lo) * frac;
    lo -= pad, hi += pad;
    *step = nice_step(hi - lo, target);
    *a = floor(lo / *step + 1e-9) * *step;
    *b = ceil(hi / *step - 1e-9) * *step;
}

static void fmt_tick(char* buf, size_t len, double v, double step) {
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0.0; // no "-0.00"
    if (step >= 1.0 && fabs(v) >= 10000.0 && fmod(v, 1000.0) == 0.0) snprintf(buf, len, "%.0fk", v / 1000.0);
    else snprintf(buf, len, "%.*f", dec, v);
}

// Grid, frame, tick labels, axis labels and title of a panel.
static void panel_axes(Svg* b, const Panel* p, const char* title, const char* xlabel, const char* ylabel) {
    char t[64];
    svg_printf(b, "<g class=\"axes\" font-size=\"11\" fill=\"#333\">\n");
    for (double v = ceil(p->x0 / p->dx - 1e-9) * p->dx; v <= p->x1 + p->dx * 1e-6; v += p->dx) {
        double x = px(p, v);
        fmt_tick(t, sizeof t, v, p->dx);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", x, p->y, x,
                   p->y + p->h);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x, p->y + p->h, x,
                   p->y + p->h + 4);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, p->y + p->h + 16, t);
    }
    // Tiny values (I_pref is often ~1e-4) would need long tick labels that run into the axis
    // label: show them scaled by a power of ten instead and say so in the label.
    double ymax = fmax(fabs(p->y0), fabs(p->y1)), yscale = 1.0;
    int yexp = 0;
    if (p->dy < 1e-3 && ymax > 0.0) {
        yexp = (int)floor(log10(ymax));
        yscale = pow(10.0, -yexp);
    }
    for (double v = ceil(p->y0 / p->dy - 1e-9) * p->dy; v <= p->y1 + p->dy * 1e-6; v += p->dy) {
        double y = py(p, v);
        fmt_tick(t, sizeof t, v * yscale, p->dy * yscale);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", p->x, y,
                   p->x + p->w, y);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", p->x - 4, y, p->x,
                   y);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", p->x - 7, y + 4, t);
    }
    svg_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
               p->x, p->y, p->w, p->h);
    if (xlabel)
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
                   p->x + p->w / 2, p->y + p->h + 34, xlabel);
    if (ylabel)
        svg_printf(b,
                   "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
                   "font-size=\"12\">%s</text>\n",
                   p->x - 52, p->y + p->h / 2, ylabel);
    if (ylabel && yexp != 0)
        svg_printf(b,
                   "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
                   "font-size=\"11\">(&#215; 1e%d)</text>\n",
                   p->x - 38, p->y + p->h / 2, yexp);
    if (title)
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", p->x,
                   p->y - 8, title);
    svg_printf(b, "</g>\n");
}

// Sets a panel's ranges from the finite values of xs/ys (n each) and picks tick steps.
static void panel_fit(Panel* p, const double* xs, const double* ys, size_t n, double xpad, double ypad) {
    double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(xs[i]) || !isfinite(ys[i])) continue;
        xl = fmin(xl, xs[i]), xh = fmax(xh, xs[i]);
        yl = fmin(yl, ys[i]), yh = fmax(yh, ys[i]);
    }
    if (xl > xh) xl = xh = NAN;
    if (yl > yh) yl = yh = NAN;
    int xt = p->w > 300 ? 6 : 4, yt = p->h > 250 ? 6 : 4;
    nice_range(xl, xh, xpad, xt, &p->x0, &p->x1, &p->dx);
    nice_range(yl, yh, ypad, yt, &p->y0, &p->y1, &p->dy);
}

// A step axis runs exactly over [lo, hi] (no padding: training starts at 0 and ends at the last
// step), with nice ticks inside.
static void panel_set_x(Panel* p, double lo, double hi) {
    if (!(hi > lo)) hi = lo + 1.0;
    p->x0 = lo, p->x1 = hi;
    p->dx = fmax(1.0, nice_step(hi - lo, p->w > 300 ? 6 : 4)); // steps are integers
}

// A polyline through the finite points of rows idx[0..n) (xs/ys indexed by row); gaps at NAN.
static void svg_path(Svg* b, const Panel* p, const double* xs, const double* ys, const size_t* idx, size_t n,
                     const char* attrs) {
    svg_printf(b, "<path %s d=\"", attrs);
    int pen = 0;
    for (size_t k = 0; k < n; k++) {
        double x = xs[idx[k]], y = ys[idx[k]];
        if (!isfinite(x) || !isfinite(y)) {
            pen = 0;
            continue;
        }
        svg_printf(b, "%s%.2f %.2f", pen ? " L" : (k ? " M" : "M"), px(p, x), py(p, y));
        pen = 1;
    }
    svg_printf(b, "\"/>\n");
}

static void marker(Svg* b, int kind, double x, double y, double r, const char* fill, const char* stroke,
                   double opacity) {
    if (kind == 0) // circle
        svg_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\" fill-opacity=\"%.2f\"/>\n",
                   x, y, r, fill, stroke, opacity);
    else if (kind == 1) // square
        svg_printf(b,
                   "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"%s\" "
                   "fill-opacity=\"%.2f\"/>\n",
                   x - r, y - r, 2 * r, 2 * r, fill, stroke, opacity);
    else // diamond
        svg_printf(b,
                   "<path d=\"M%.2f %.2f L%.2f %.2f L%.2f %.2f L%.2f %.2f Z\" fill=\"%s\" stroke=\"%s\" "
                   "fill-opacity=\"%.2f\"/>\n",
                   x, y - r * 1.3, x + r * 1.3, y, x, y + r * 1.3, x - r * 1.3, y, fill, stroke, opacity);
}

// Legend of layers in a column starting at (x, y).
static void layer_legend(Svg* b, double x, double y, int L, const char* title) {
    svg_printf(b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">%s</text>\n", x, y, title);
    for (int l = 0; l < L; l++) {
        char col[8];
        layer_colour(l, L, col);
        double yy = y + 18 + 17 * l;
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>\n",
                   x, yy - 4, x + 22, yy - 4, col);
        if (l == 0) svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">0 (embeddings)</text>\n", x + 28, yy);
        else if (l == L - 1 && L > 2) svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%d (final, ln_f)</text>\n", x + 28, yy, l);
        else svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%d</text>\n", x + 28, yy, l);
    }
    svg_printf(b, "</g>\n");
}

// Rows of layer l (in file order) split into pre-training and later stages.
static size_t rows_of_layer(const ProbeTable* t, int l, int dpo, size_t* idx) {
    size_t n = 0;
    for (size_t r = 0; r < t->n; r++)
        if ((int)t->layer[r] == l && t->dpo[r] == dpo) idx[n++] = r;
    return n;
}

// ============================================================================
// the three figures

int probe_plot_info_plane(const char* probes_csv, const char* svg_out, const char* bound_csv, char* err,
                          size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, err, errlen) != 0) return -1;
    double *xs = csv_column(&t.csv, "I_in1", err, errlen), *ys = NULL, *bx = NULL, *by = NULL;
    size_t nb = 0;
    Csv bc = {0};
    int rc = -1;
    if (!xs || !(ys = csv_column(&t.csv, "I_out1", err, errlen))) goto done;
    if (bound_csv) {
        if (csv_read(&bc, bound_csv, err, errlen) != 0) goto done;
        if (bc.ncols < 2) {
            snprintf(err, errlen, "%s: need two columns (x,y)", bound_csv);
            goto done;
        }
        nb = bc.nrows;
        bx = malloc_check(nb * sizeof(double));
        by = malloc_check(nb * sizeof(double));
        for (size_t r = 0; r < nb; r++)
            if (csv_get(&bc, r, 0, &bx[r], err, errlen) || csv_get(&bc, r, 1, &by[r], err, errlen)) goto done;
    }
    size_t finite = 0;
    for (size_t r = 0; r < t.n; r++) finite += isfinite(xs[r]) && isfinite(ys[r]);
    if (finite == 0) {
        snprintf(err, errlen, "%s: no row has both I_in1 and I_out1", probes_csv);
        goto done;
    }

    const int W = 740, H = 600, L = t.num_layers;
    Panel p = {.x = 80, .y = 56, .w = 480, .h = 470};
    panel_fit(&p, xs, ys, t.n, 0.06, 0.06);
    // the frame follows the data; the bound (a reference) is clipped to it
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Information plane</text>\n",
               (int)p.x);
    svg_printf(&b,
               "<text x=\"%d\" y=\"44\" font-size=\"11\" fill=\"#555\">soft-entropy probes per layer; "
               "lighter = earlier in training</text>\n",
               (int)p.x);
    panel_axes(&b, &p, NULL, "complexity I(X;Z) / ln n_bins  (X = input token)",
               "expressivity I(Y;Z) / ln n_bins  (Y = next token)");
    svg_printf(&b, "<defs><clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                   "</clipPath></defs>\n<g clip-path=\"url(#plot)\">\n",
               p.x, p.y, p.w, p.h);
    if (nb) {
        size_t* bi = malloc_check(nb * sizeof(size_t));
        for (size_t i = 0; i < nb; i++) bi[i] = i;
        svg_path(&b, &p, bx, by, bi, nb,
                 "class=\"bound\" fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"");
        free(bi);
    }
    size_t* idx = malloc_check((t.n + 1) * sizeof(size_t));
    double smax = 0.0;
    for (size_t r = 0; r < t.n; r++) smax = fmax(smax, t.gstep[r]);
    for (int l = 0; l < L; l++) {
        char col[8], attrs[160];
        layer_colour(l, L, col);
        size_t n = rows_of_layer(&t, l, 0, idx);
        snprintf(attrs, sizeof attrs,
                 "class=\"layer-traj\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" stroke-opacity=\"0.75\" "
                 "stroke-linejoin=\"round\"",
                 col);
        svg_path(&b, &p, xs, ys, idx, n, attrs);
        // points shaded by progress: opacity 0.15 at step 0 up to 1 at the last step
        for (size_t k = 0; k < n; k++) {
            size_t r = idx[k];
            if (!isfinite(xs[r]) || !isfinite(ys[r])) continue;
            double prog = smax > 0 ? t.gstep[r] / smax : 1.0;
            marker(&b, 0, px(&p, xs[r]), py(&p, ys[r]), 2.6, col, "none", 0.15 + 0.85 * prog);
        }
        size_t first = SIZE_MAX, last = SIZE_MAX;
        for (size_t k = 0; k < n; k++)
            if (isfinite(xs[idx[k]]) && isfinite(ys[idx[k]])) {
                if (first == SIZE_MAX) first = idx[k];
                last = idx[k];
            }
        // the later stage (DPO): dashed, from the last pre-training point on, diamonds
        size_t m = rows_of_layer(&t, l, 1, idx + 1);
        if (m) {
            size_t start = 1;
            if (last != SIZE_MAX) idx[0] = last, start = 0;
            snprintf(attrs, sizeof attrs,
                     "class=\"dpo-traj\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" stroke-dasharray=\"5 3\"",
                     col);
            svg_path(&b, &p, xs, ys, idx + start, m + 1 - start, attrs);
            for (size_t k = 1; k <= m; k++) {
                size_t r = idx[k];
                if (isfinite(xs[r]) && isfinite(ys[r])) marker(&b, 2, px(&p, xs[r]), py(&p, ys[r]), 2.8, col, "white", 1.0);
            }
        }
        if (first != SIZE_MAX) {
            marker(&b, 0, px(&p, xs[first]), py(&p, ys[first]), 5.0, "white", col, 1.0);
            marker(&b, 1, px(&p, xs[last]), py(&p, ys[last]), 4.5, col, "white", 1.0);
        }
    }
    free(idx);
    svg_printf(&b, "</g>\n");
    // legend: layers, then the marker key
    double lx = p.x + p.w + 24, ly = p.y + 6;
    layer_legend(&b, lx, ly, L, "hidden state");
    double ky = ly + 18 + 17 * L + 16;
    svg_printf(&b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    marker(&b, 0, lx + 11, ky, 5.0, "white", "#333", 1.0);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">start (step 0)</text>\n", lx + 28, ky + 4);
    ky += 18;
    marker(&b, 1, lx + 11, ky, 4.5, "#333", "white", 1.0);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">end of pre-training</text>\n", lx + 28, ky + 4);
    if (t.any_dpo) {
        ky += 18;
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" "
                       "stroke-dasharray=\"5 3\" stroke-width=\"1.6\"/>\n",
                   lx, ky, lx + 22, ky);
        marker(&b, 2, lx + 11, ky, 3.2, "#333", "white", 1.0);
        svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">DPO</text>\n", lx + 28, ky + 4);
    }
    if (nb) {
        ky += 18;
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                       "stroke-dasharray=\"2 3\" stroke-width=\"1.5\"/>\n",
                   lx, ky, lx + 22, ky);
        svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">IB bound</text>\n", lx + 28, ky + 4);
    }
    // progress key: a strip of dots from light to dark
    ky += 24;
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">training progress</text>\n", lx, ky);
    for (int i = 0; i < 8; i++) marker(&b, 0, lx + 5 + 12 * i, ky + 12, 3.0, "#333", "none", 0.15 + 0.85 * i / 7.0);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">early</text>\n", lx, ky + 30);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">late</text>\n", lx + 95, ky + 30);
    svg_printf(&b, "</g>\n");
    rc = svg_end(&b, svg_out, err, errlen);
done:
    free(xs);
    free(ys);
    free(bx);
    free(by);
    csv_free(&bc);
    probe_table_free(&t);
    return rc;
}

// The DPO stage as a light band from the last pre-training step to the panel's right edge, labelled
// at the top (before the axes, so grid and data draw over it).
static void dpo_shade(Svg* b, const Panel* p, const ProbeTable* t) {
    if (!t->any_dpo) return;
    double x = px(p, t->pre_end);
    svg_printf(b,
               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f2f2f2\"/>\n"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#777\" stroke-dasharray=\"3 3\"/>\n"
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\" text-anchor=\"end\">DPO</text>\n",
               x, p->y, p->x + p->w - x, p->h, x, p->y, x, p->y + p->h, x - 3, p->y + 11);
}

// One small-multiple panel: `col` of probes.csv against the global step, one line per layer, with
// a dotted line where DPO starts.
static void curve_panel(Svg* b, Panel* p, const ProbeTable* t, const double* v, const char* title,
                        const char* ylabel, double xmax) {
    panel_fit(p, t->gstep, v, t->n, 0.0, 0.06);
    panel_set_x(p, 0.0, xmax);
    dpo_shade(b, p, t);
    panel_axes(b, p, title, "step", ylabel);
    size_t* idx = malloc_check(t->n * sizeof(size_t));
    for (int l = 0; l < t->num_layers; l++) {
        char col[8], attrs[160];
        layer_colour(l, t->num_layers, col);
        size_t n = 0;
        for (size_t r = 0; r < t->n; r++)
            if ((int)t->layer[r] == l) idx[n++] = r;
        snprintf(attrs, sizeof attrs,
                 "class=\"layer-curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\"",
                 col);
        svg_path(b, p, t->gstep, v, idx, n, attrs);
        if (n <= 40) // few probe points: mark each, so a run with one or two is still visible
            for (size_t k = 0; k < n; k++)
                if (isfinite(v[idx[k]])) marker(b, 0, px(p, t->gstep[idx[k]]), py(p, v[idx[k]]), 1.8, col, "none", 1.0);
    }
    free(idx);
}

int probe_plot_curves(const char* probes_csv, const char* train_csv, const char* svg_out, char* err,
                      size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, err, errlen) != 0) return -1;
    static const char* cols[4] = {"H", "I_in1", "I_out1", "optimality"};
    static const char* titles[4] = {"Entropy H(Z)", "Complexity I(X;Z)", "Expressivity I(Y;Z)",
                                    "Optimality I(Y;Z) / I(X;Z)"};
    static const char* ylabels[4] = {"H / ln n_bins", "I / ln n_bins", "I / ln n_bins", "ratio"};
    double* v[4] = {0};
    Csv tc = {0};
    double *tstep = NULL, *tloss = NULL, *vloss = NULL, *tg = NULL;
    int rc = -1;
    for (int i = 0; i < 4; i++)
        if (!(v[i] = csv_column(&t.csv, cols[i], err, errlen))) goto done;
    if (train_csv) {
        int js;
        if (csv_read(&tc, train_csv, err, errlen) != 0 || (js = csv_col(&tc, "stage", err, errlen)) < 0 ||
            !(tstep = csv_column(&tc, "step", err, errlen)) || !(tloss = csv_column(&tc, "loss", err, errlen)) ||
            !(vloss = csv_column(&tc, "val_loss", err, errlen)))
            goto done;
        tg = malloc_check(tc.nrows * sizeof(double));
        for (size_t r = 0; r < tc.nrows; r++)
            tg[r] = tstep[r] + (strcmp(csv_cell(&tc, r, js), "pretrain") != 0 ? t.pre_end : 0.0);
    }
    const int W = 1000, H = 640;
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"70\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Training curves and "
                   "soft-entropy probes</text>\n");
    // 3 x 2 grid: loss | H | I_in1 / I_out1 | optimality | legend
    const double cw = 250, ch = 200, gx = 80, gy = 78;
    Panel ps[6];
    for (int i = 0; i < 6; i++) {
        Panel q = {.x = 72 + (i % 3) * (cw + gx), .y = 64 + (i / 3) * (ch + gy), .w = cw, .h = ch};
        ps[i] = q;
    }
    double xmax = 0.0; // every panel shares the step axis
    for (size_t r = 0; r < t.n; r++) xmax = fmax(xmax, t.gstep[r]);
    for (size_t r = 0; train_csv && r < tc.nrows; r++)
        if (isfinite(tg[r])) xmax = fmax(xmax, tg[r]);
    if (train_csv) {
        Panel* p = &ps[0];
        double* both = malloc_check(2 * tc.nrows * sizeof(double));
        double* bx = malloc_check(2 * tc.nrows * sizeof(double));
        for (size_t r = 0; r < tc.nrows; r++) both[r] = tloss[r], both[tc.nrows + r] = vloss[r];
        for (size_t r = 0; r < tc.nrows; r++) bx[r] = bx[tc.nrows + r] = tg[r];
        panel_fit(p, bx, both, 2 * tc.nrows, 0.0, 0.06);
        panel_set_x(p, 0.0, xmax);
        dpo_shade(&b, p, &t);
        panel_axes(&b, p, "Loss", "step", "cross-entropy (nats)");
        size_t* idx = malloc_check(tc.nrows * sizeof(size_t));
        for (size_t r = 0; r < tc.nrows; r++) idx[r] = r;
        svg_path(&b, p, tg, tloss, idx, tc.nrows, "class=\"loss\" fill=\"none\" stroke=\"#0072B2\" stroke-width=\"1.2\"");
        size_t nv = 0;
        for (size_t r = 0; r < tc.nrows; r++)
            if (isfinite(vloss[r])) idx[nv++] = r;
        svg_path(&b, p, tg, vloss, idx, nv,
                 "class=\"val-loss\" fill=\"none\" stroke=\"#D55E00\" stroke-width=\"1.8\" stroke-dasharray=\"5 3\"");
        for (size_t k = 0; k < nv; k++) marker(&b, 0, px(p, tg[idx[k]]), py(p, vloss[idx[k]]), 2.5, "#D55E00", "none", 1.0);
        free(idx);
        free(both);
        free(bx);
        // key inside the loss panel, top right
        double kx = p->x + p->w - 70, ky = p->y + 14;
        if (t.any_dpo) kx = fmin(kx, px(p, t.pre_end) - 100); // clear of the DPO band and its label
        svg_printf(&b, "<g font-size=\"10\" fill=\"#333\"><rect x=\"%.1f\" y=\"%.1f\" width=\"66\" height=\"32\" "
                       "fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
                   kx - 4, ky - 10);
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#0072B2\" stroke-width=\"1.5\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\">train</text>\n",
                   kx, ky - 3, kx + 18, ky - 3, kx + 22, ky);
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#D55E00\" stroke-width=\"1.8\" "
                       "stroke-dasharray=\"5 3\"/><text x=\"%.1f\" y=\"%.1f\">val</text></g>\n",
                   kx, ky + 11, kx + 18, ky + 11, kx + 22, ky + 14);
    } else {
        svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#777\" text-anchor=\"middle\">"
                       "(no train.csv)</text>\n",
                   ps[0].x + ps[0].w / 2, ps[0].y + ps[0].h / 2);
    }
    for (int i = 0; i < 4; i++) curve_panel(&b, &ps[i + 1], &t, v[i], titles[i], ylabels[i], xmax);
    layer_legend(&b, ps[5].x + 10, ps[5].y + 10, t.num_layers, "hidden state");
    rc = svg_end(&b, svg_out, err, errlen);
done:
    for (int i = 0; i < 4; i++) free(v[i]);
    free(tstep);
    free(tloss);
    free(vloss);
    free(tg);
    csv_free(&tc);
    probe_table_free(&t);
    return rc;
}

int probe_plot_preference(const char* probes_csv, const char* dpo_csv, const char* svg_out, char* err,
                          size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, err, errlen) != 0) return -1;
    Csv dc = {0};
    double *ip = NULL, *ds = NULL, *mg = NULL, *rcx = NULL, *rrj = NULL, *masked = NULL;
    int rc = -1;
    if (!(ip = csv_column(&t.csv, "I_pref", err, errlen))) goto done;
    if (csv_read(&dc, dpo_csv, err, errlen) != 0 || !(ds = csv_column(&dc, "step", err, errlen)) ||
        !(mg = csv_column(&dc, "margin", err, errlen)) || !(rcx = csv_column(&dc, "rewards_chosen", err, errlen)) ||
        !(rrj = csv_column(&dc, "rewards_rejected", err, errlen)))
        goto done;
    // I_pref of DPO rows only, against the DPO step
    masked = malloc_check(t.n * sizeof(double));
    size_t have = 0;
    for (size_t r = 0; r < t.n; r++) {
        masked[r] = t.dpo[r] ? ip[r] : NAN;
        have += isfinite(masked[r]);
    }
    if (!have) {
        snprintf(err, errlen, "%s: no DPO row with an I_pref value", probes_csv);
        goto done;
    }
    const int W = 1000, H = 400;
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"72\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Preference information during "
                   "DPO</text>\n");
    Panel a = {.x = 72, .y = 64, .w = 300, .h = 260};
    Panel m = {.x = 580, .y = 64, .w = 300, .h = 260};
    panel_fit(&a, t.step, masked, t.n, 0.0, 0.08);
    double smax = 0.0;
    for (size_t r = 0; r < t.n; r++)
        if (t.dpo[r]) smax = fmax(smax, t.step[r]);
    for (size_t r = 0; r < dc.nrows; r++)
        if (isfinite(ds[r])) smax = fmax(smax, ds[r]);
    panel_set_x(&a, 0.0, smax);
    panel_axes(&b, &a, "I(preference; Z) per layer", "DPO step", "I_pref / ln n_bins");
    size_t* idx = malloc_check((t.n > dc.nrows ? t.n : dc.nrows) * sizeof(size_t));
    for (int l = 0; l < t.num_layers; l++) {
        char col[8], attrs[160];
        layer_colour(l, t.num_layers, col);
        size_t n = rows_of_layer(&t, l, 1, idx);
        snprintf(attrs, sizeof attrs, "class=\"layer-pref\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"", col);
        svg_path(&b, &a, t.step, masked, idx, n, attrs);
        for (size_t k = 0; k < n; k++)
            if (isfinite(masked[idx[k]])) marker(&b, 0, px(&a, t.step[idx[k]]), py(&a, masked[idx[k]]), 2.2, col, "none", 1.0);
    }
    // reward panel: margin, and the chosen/rejected rewards it is the difference of
    double* ally = malloc_check(3 * dc.nrows * sizeof(double));
    double* allx = malloc_check(3 * dc.nrows * sizeof(double));
    for (size_t r = 0; r < dc.nrows; r++) {
        ally[r] = mg[r], ally[dc.nrows + r] = rcx[r], ally[2 * dc.nrows + r] = rrj[r];
        allx[r] = allx[dc.nrows + r] = allx[2 * dc.nrows + r] = ds[r];
    }
    panel_fit(&m, allx, ally, 3 * dc.nrows, 0.0, 0.08);
    panel_set_x(&m, 0.0, smax);
    free(ally);
    free(allx);
    panel_axes(&b, &m, "Rewards (β · log-ratio to reference)", "DPO step", "reward (nats)");
    if (m.y0 < 0 && m.y1 > 0)
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", m.x, py(&m, 0),
                   m.x + m.w, py(&m, 0));
    for (size_t r = 0; r < dc.nrows; r++) idx[r] = r;
    svg_path(&b, &m, ds, rcx, idx, dc.nrows, "class=\"chosen\" fill=\"none\" stroke=\"#009E73\" stroke-width=\"1.2\"");
    svg_path(&b, &m, ds, rrj, idx, dc.nrows, "class=\"rejected\" fill=\"none\" stroke=\"#CC79A7\" stroke-width=\"1.2\"");
    svg_path(&b, &m, ds, mg, idx, dc.nrows, "class=\"margin\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"");
    free(idx);
    double kx = m.x + m.w + 22, ky = m.y + 6;
    svg_printf(&b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    static const char* kc[3] = {"#000", "#009E73", "#CC79A7"};
    static const char* kt[3] = {"margin", "chosen", "rejected"};
    static const double kw[3] = {2, 1.2, 1.2};
    for (int i = 0; i < 3; i++)
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                   kx, ky + 17 * i - 4, kx + 22, ky + 17 * i - 4, kc[i], kw[i], kx + 28, ky + 17 * i, kt[i]);
    svg_printf(&b, "</g>\n");
    layer_legend(&b, a.x + a.w + 18, a.y + 6, t.num_layers, "hidden state");
    rc = svg_end(&b, svg_out, err, errlen);
done:
    free(ip);
    free(ds);
    free(mg);
    free(rcx);
    free(rrj);
    free(masked);
    csv_free(&dc);
    probe_table_free(&t);
    return rc;
}

// The run folder's figures: DIR/info_plane.svg and DIR/probes.svg from DIR/probes.csv (with
// DIR/train.csv when present), and DIR/preference.svg when DIR/dpo.csv exists.
int probe_plots_write(const char* dir, const char* bound_csv, char* err, size_t errlen) {
    char pc[4096], tc[4096], dc[4096], out[4096];
    struct stat st;
    snprintf(pc, sizeof pc, "%s/probes.csv", dir);
    snprintf(tc, sizeof tc, "%s/train.csv", dir);
    snprintf(dc, sizeof dc, "%s/dpo.csv", dir);
    snprintf(out, sizeof out, "%s/info_plane.svg", dir);
    if (probe_plot_info_plane(pc, out, bound_csv, err, errlen) != 0) return -1;
    snprintf(out, sizeof out, "%s/probes.svg", dir);
    if (probe_plot_curves(pc, stat(tc, &st) == 0 ? tc : NULL, out, err, errlen) != 0) return -1;
    if (stat(dc, &st) != 0) return 0;
    snprintf(out, sizeof out, "%s/preference.svg", dir);
    return probe_plot_preference(pc, dc, out, err, errlen);
}

// ============================================================================
// ==== Information Bottleneck bound ====
//
// The IB curve of the empirical joint of (input n-gram X, next token Y), as a reference on the
// information plane. What it does and does not bound is spelled out in probes.h; in short: it is
// the trade-off for T a function of X alone (T − X − Y), |T| = n_bins, on the empirical
// distribution of the tokens given. The model's hidden states see the whole context, so a probe
// point above the curve is possible and not a bug.
//
// Cost per iteration: O(nnz · nt) for p(y|t) and the same for the KL terms, since
//   KL(p(y|x) ‖ p(y|t)) = Σ_y p(y|x) ln p(y|x) − Σ_{y: p(y|x)>0} p(y|x) ln p(y|t)
// and the first sum does not depend on t, so it cancels in the normalisation over t: only the
// sparse cross term is needed.

int ib_joint_from_dense(IbJoint* j, const double* pxy, int nx, int ny, char* err, size_t errlen) {
    memset(j, 0, sizeof *j);
    if (nx < 1 || ny < 1) {
        snprintf(err, errlen, "ib_joint_from_dense: need nx, ny >= 1 (got %d, %d)", nx, ny);
        return -1;
    }
    double total = 0.0;
    size_t nnz = 0;
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++) {
        if (!(pxy[i] >= 0.0) || !isfinite(pxy[i])) {
            snprintf(err, errlen, "ib_joint_from_dense: entry %zu is %g (need finite, >= 0)", i, pxy[i]);
            return -1;
        }
        total += pxy[i];
        nnz += pxy[i] > 0.0;
    }
    if (!(total > 0.0)) {
        snprintf(err, errlen, "ib_joint_from_dense: all entries are zero");
        return -1;
    }
    j->nx = nx, j->ny = ny, j->nnz = nnz;
    j->px = calloc_check((size_t)nx, sizeof(double));
    j->py = calloc_check((size_t)ny, sizeof(double));
    j->x_start = calloc_check((size_t)nx + 1, sizeof(size_t));
    j->x_col = malloc_check((nnz ? nnz : 1) * sizeof(int));
    j->x_cond = malloc_check((nnz ? nnz : 1) * sizeof(double));
    j->y_start = calloc_check((size_t)ny + 1, sizeof(size_t));
    j->y_row = malloc_check((nnz ? nnz : 1) * sizeof(int));
    j->y_joint = malloc_check((nnz ? nnz : 1) * sizeof(double));
    for (int x = 0; x < nx; x++)
        for (int y = 0; y < ny; y++) {
            double p = pxy[(size_t)x * ny + y] / total;
            j->px[x] += p, j->py[y] += p;
        }
    for (int x = 0; x < nx; x++)
        if (!(j->px[x] > 0.0)) {
            snprintf(err, errlen, "ib_joint_from_dense: row x=%d is all zero", x);
            ib_joint_free(j);
            return -1;
        }
    for (int y = 0; y < ny; y++)
        if (!(j->py[y] > 0.0)) {
            snprintf(err, errlen, "ib_joint_from_dense: column y=%d is all zero", y);
            ib_joint_free(j);
            return -1;
        }
    // rows (CSR) in x order; columns (CSC) by the same double loop with y outside
    size_t k = 0;
    for (int x = 0; x < nx; x++) {
        j->x_start[x] = k;
        for (int y = 0; y < ny; y++) {
            double p = pxy[(size_t)x * ny + y] / total;
            if (p > 0.0) j->x_col[k] = y, j->x_cond[k] = p / j->px[x], k++;
        }
    }
    j->x_start[nx] = k;
    k = 0;
    for (int y = 0; y < ny; y++) {
        j->y_start[y] = k;
        for (int x = 0; x < nx; x++) {
            double p = pxy[(size_t)x * ny + y] / total;
            if (p > 0.0) j->y_row[k] = x, j->y_joint[k] = p, k++;
        }
    }
    j->y_start[ny] = k;
    // entropies and I(X;Y) = Σ p(x,y) ln(p(y|x) / p(y))
    for (int x = 0; x < nx; x++) j->H_X -= j->px[x] * log(j->px[x]);
    for (int y = 0; y < ny; y++) j->H_Y -= j->py[y] * log(j->py[y]);
    for (int x = 0; x < nx; x++)
        for (size_t e = j->x_start[x]; e < j->x_start[x + 1]; e++)
            j->I_XY += j->px[x] * j->x_cond[e] * log(j->x_cond[e] / j->py[j->x_col[e]]);
    return 0;
}

// (x key, y) of one position, sorted to count pairs.
typedef struct {
    uint64_t x;
    int y;
} IbPair;

static int ib_pair_cmp(const void* a, const void* b) {
    const IbPair *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}

static int ib_int_cmp(const void* a, const void* b) {
    int p = *(const int*)a, q = *(const int*)b;
    return (p > q) - (p < q);
}

int ib_joint_from_tokens(IbJoint* j, const int* tokens, size_t n, int ngram, char* err, size_t errlen) {
    memset(j, 0, sizeof *j);
    if (ngram < 1 || ngram > 3) {
        snprintf(err, errlen, "ib_joint_from_tokens: ngram must be 1, 2 or 3 (got %d)", ngram);
        return -1;
    }
    if (n < (size_t)ngram + 1) {
        snprintf(err, errlen, "ib_joint_from_tokens: %zu tokens, need at least %d for one (%d-gram, next) pair", n,
                 ngram + 1, ngram);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= (1 << 21)) {
            snprintf(err, errlen, "ib_joint_from_tokens: token %zu has id %d (need 0 <= id < 2^21)", i, tokens[i]);
            return -1;
        }
    // X = n-gram ending at i packed in 21-bit fields, Y = tokens[i+1]; sort, then count runs
    size_t m = n - (size_t)ngram;
    IbPair* pairs = malloc_check(m * sizeof(IbPair));
    for (size_t k = 0; k < m; k++) {
        size_t i = k + (size_t)ngram - 1;
        uint64_t key = 0;
        for (int g = ngram - 1; g >= 0; g--) key = (key << 21) | (uint64_t)tokens[i - (size_t)g];
        pairs[k] = (IbPair){key, tokens[i + 1]};
    }
    qsort(pairs, m, sizeof(IbPair), ib_pair_cmp);
    // Y ids: the distinct next tokens in increasing order
    int* ys = malloc_check(m * sizeof(int));
    for (size_t k = 0; k < m; k++) ys[k] = pairs[k].y;
    qsort(ys, m, sizeof(int), ib_int_cmp);
    size_t ny = 0;
    for (size_t k = 0; k < m; k++)
        if (k == 0 || ys[k] != ys[k - 1]) ys[ny++] = ys[k];
    int* y_id = malloc_check(((size_t)ys[ny - 1] + 1) * sizeof(int));
    for (size_t k = 0; k < ny; k++) y_id[ys[k]] = (int)k;
    size_t nx = 0, nnz = 0;
    for (size_t k = 0; k < m; k++) {
        nx += k == 0 || pairs[k].x != pairs[k - 1].x;
        nnz += k == 0 || pairs[k].x != pairs[k - 1].x || pairs[k].y != pairs[k - 1].y;
    }
    if (nx > (size_t)INT32_MAX) fatal("ib_joint_from_tokens: %zu distinct n-grams", nx);
    j->nx = (int)nx, j->ny = (int)ny, j->nnz = nnz;
    j->px = calloc_check(nx, sizeof(double));
    j->py = calloc_check(ny, sizeof(double));
    j->x_start = calloc_check(nx + 1, sizeof(size_t));
    j->x_col = malloc_check(nnz * sizeof(int));
    j->x_cond = malloc_check(nnz * sizeof(double));
    j->y_start = calloc_check(ny + 1, sizeof(size_t));
    j->y_row = malloc_check(nnz * sizeof(int));
    j->y_joint = malloc_check(nnz * sizeof(double));
    double* count = malloc_check(nnz * sizeof(double));
    size_t e = 0;
    int x = -1;
    for (size_t k = 0; k < m; k++) {
        int new_x = k == 0 || pairs[k].x != pairs[k - 1].x;
        if (new_x) j->x_start[++x] = e;
        if (new_x || pairs[k].y != pairs[k - 1].y) {
            j->x_col[e] = y_id[pairs[k].y];
            count[e++] = 0.0;
        }
        count[e - 1] += 1.0;
        j->px[x] += 1.0;
    }
    j->x_start[nx] = e;
    for (size_t xx = 0; xx < nx; xx++) {
        for (size_t f = j->x_start[xx]; f < j->x_start[xx + 1]; f++) {
            j->x_cond[f] = count[f] / j->px[xx];
            j->py[j->x_col[f]] += count[f];
            j->y_start[j->x_col[f] + 1]++;
        }
        j->px[xx] /= (double)m;
    }
    for (size_t y = 0; y < ny; y++) {
        j->py[y] /= (double)m;
        j->y_start[y + 1] += j->y_start[y];
    }
    // columns: scatter the rows in x order, so each column lists its x's in increasing order
    size_t* fill = malloc_check(ny * sizeof(size_t));
    memcpy(fill, j->y_start, ny * sizeof(size_t));
    for (size_t xx = 0; xx < nx; xx++)
        for (size_t f = j->x_start[xx]; f < j->x_start[xx + 1]; f++) {
            size_t s = fill[j->x_col[f]]++;
            j->y_row[s] = (int)xx;
            j->y_joint[s] = count[f] / (double)m;
        }
    for (size_t xx = 0; xx < nx; xx++) j->H_X -= j->px[xx] * log(j->px[xx]);
    for (size_t y = 0; y < ny; y++) j->H_Y -= j->py[y] * log(j->py[y]);
    for (size_t xx = 0; xx < nx; xx++)
        for (size_t f = j->x_start[xx]; f < j->x_start[xx + 1]; f++)
            j->I_XY += j->px[xx] * j->x_cond[f] * log(j->x_cond[f] / j->py[j->x_col[f]]);
    free(fill);
    free(count);
    free(y_id);
    free(ys);
    free(pairs);
    return 0;
}

void ib_joint_free(IbJoint* j) {
    free(j->px), free(j->py), free(j->x_start), free(j->x_col), free(j->x_cond);
    free(j->y_start), free(j->y_row), free(j->y_joint);
    memset(j, 0, sizeof *j);
}

// Threads only pay off when an iteration has a lot of work: each iteration has three fork/joins,
// and on a machine whose cores are shared a join waits for the slowest thread, which may be
// descheduled for a whole time slice (measured: a 498-token corpus, 3.6e6 pair-bins, ran 6x
// slower on 2 threads than on 1 on a loaded 2-core machine). Above 2e7 pair-bins (a vocabulary of
// several thousand tokens, or bigram X) an iteration takes tens of ms and threads win.
static int ib_parallel(const IbJoint* j, int nt) { return (double)j->nnz * nt >= 2e7; }

// p(t) (nt) and p(y|t) (ny, nt) of the encoder q (nx, nt). A bin with p(t) = 0 gets p(y|t) = 0.
static void ib_decoder(const IbJoint* j, int nt, const double* q, double* pt, double* pyt) {
    memset(pt, 0, (size_t)nt * sizeof(double));
    for (int x = 0; x < j->nx; x++) {
        const double* qx = q + (size_t)x * nt;
        for (int t = 0; t < nt; t++) pt[t] += j->px[x] * qx[t];
    }
    int par = ib_parallel(j, nt);
    (void)par;
#pragma omp parallel for schedule(dynamic, 16) if (par)
    for (int y = 0; y < j->ny; y++) {
        double* row = pyt + (size_t)y * nt;
        for (int t = 0; t < nt; t++) row[t] = 0.0;
        for (size_t e = j->y_start[y]; e < j->y_start[y + 1]; e++) {
            const double* qx = q + (size_t)j->y_row[e] * nt;
            double w = j->y_joint[e];
            for (int t = 0; t < nt; t++) row[t] += w * qx[t];
        }
        for (int t = 0; t < nt; t++) row[t] = pt[t] > 0.0 ? row[t] / pt[t] : 0.0;
    }
}

// I(X;T) = Σ_x p(x) Σ_t q(t|x) ln(q(t|x)/p(t)); I(T;Y) = Σ_{t,y} p(t) p(y|t) ln(p(y|t)/p(y)).
static void ib_information(const IbJoint* j, int nt, const double* q, const double* pt, const double* pyt,
                           double* I_XT, double* I_TY) {
    double ixt = 0.0, ity = 0.0;
    for (int x = 0; x < j->nx; x++) {
        const double* qx = q + (size_t)x * nt;
        double s = 0.0;
        for (int t = 0; t < nt; t++)
            if (qx[t] > 0.0) s += qx[t] * log(qx[t] / pt[t]);
        ixt += j->px[x] * s;
    }
    for (int y = 0; y < j->ny; y++) {
        const double* row = pyt + (size_t)y * nt;
        for (int t = 0; t < nt; t++)
            if (row[t] > 0.0) ity += pt[t] * row[t] * log(row[t] / j->py[y]);
    }
    *I_XT = fmax(ixt, 0.0);
    *I_TY = fmax(ity, 0.0);
}

void ib_evaluate(const IbJoint* j, int nt, const double* q, double* I_XT, double* I_TY) {
    double* pt = malloc_check((size_t)nt * sizeof(double));
    double* pyt = malloc_check((size_t)j->ny * (size_t)nt * sizeof(double));
    ib_decoder(j, nt, q, pt, pyt);
    ib_information(j, nt, q, pt, pyt, I_XT, I_TY);
    free(pyt);
    free(pt);
}

void ib_iterate(const IbJoint* j, int nt, double beta, double* q, int max_iter, double tol, IbPoint* out) {
    size_t nx = (size_t)j->nx, ny = (size_t)j->ny;
    double* pt = malloc_check((size_t)nt * sizeof(double));
    double* logpt = malloc_check((size_t)nt * sizeof(double));
    double* pyt = malloc_check(ny * (size_t)nt * sizeof(double)); // p(y|t), then ln p(y|t) in place
    double* qn = malloc_check(nx * (size_t)nt * sizeof(double));
    int it = 0, converged = 0, par = ib_parallel(j, nt);
    (void)par;
    while (it < max_iter) {
        ib_decoder(j, nt, q, pt, pyt);
        for (int t = 0; t < nt; t++) logpt[t] = pt[t] > 0.0 ? log(pt[t]) : -INFINITY;
        // ln p(y|t); -inf where p(y|t) = 0 (then any x followed by y gets p(t|x) = 0: KL is infinite)
#pragma omp parallel for schedule(static) if (par)
        for (size_t i = 0; i < ny * (size_t)nt; i++) pyt[i] = pyt[i] > 0.0 ? log(pyt[i]) : -INFINITY;
        double change = 0.0;
#pragma omp parallel if (par)
        {
            double* c = malloc_check((size_t)nt * sizeof(double));
#pragma omp for schedule(dynamic, 16) reduction(max : change)
            for (size_t x = 0; x < nx; x++) {
                // logit(t) = ln p(t) + β Σ_y p(y|x) ln p(y|t)  (= ln p(t) − β KL + a constant in t)
                for (int t = 0; t < nt; t++) c[t] = 0.0;
                for (size_t e = j->x_start[x]; e < j->x_start[x + 1]; e++) {
                    const double* row = pyt + (size_t)j->x_col[e] * nt;
                    double w = j->x_cond[e];
                    for (int t = 0; t < nt; t++) c[t] += w * row[t];
                }
                double mx = -INFINITY;
                for (int t = 0; t < nt; t++) {
                    c[t] = beta > 0.0 ? logpt[t] + beta * c[t] : logpt[t];
                    mx = fmax(mx, c[t]);
                }
                double* qx = qn + x * (size_t)nt;
                if (mx == -INFINITY) { // every bin underflowed (cannot happen in exact arithmetic): keep the row
                    memcpy(qx, q + x * (size_t)nt, (size_t)nt * sizeof(double));
                    continue;
                }
                double s = 0.0;
                // p(t|x) < e^-600 is set to 0: such values (and their products in p(y|t)) would
                // be subnormal, which costs ~100x per operation on x86, and they carry nothing
                for (int t = 0; t < nt; t++) s += qx[t] = c[t] - mx > -600.0 ? exp(c[t] - mx) : 0.0;
                double d = 0.0;
                for (int t = 0; t < nt; t++) {
                    qx[t] /= s;
                    d = fmax(d, fabs(qx[t] - q[x * (size_t)nt + t]));
                }
                change = fmax(change, d);
            }
            free(c);
        }
        memcpy(q, qn, nx * (size_t)nt * sizeof(double));
        it++;
        if (tol > 0.0 && change < tol) {
            converged = 1;
            break;
        }
    }
    ib_decoder(j, nt, q, pt, pyt);
    out->beta = beta;
    ib_information(j, nt, q, pt, pyt, &out->I_XT, &out->I_TY);
    out->L = out->I_XT - beta * out->I_TY;
    out->iters = it;
    out->converged = converged;
    free(qn);
    free(pyt);
    free(logpt);
    free(pt);
}

void ib_config_default(IbConfig* c) {
    *c = (IbConfig){.n_bins = 100,
                    .beta_min = 0.1,
                    .beta_max = 1000.0,
                    .num_betas = 40,
                    .restarts = 1,
                    .restart_beta_max = 10.0,
                    .max_iter = 300,
                    .tol = 1e-6,
                    .perturb = 0.05,
                    .seed = 1};
}

// Random encoder: rows drawn from Dirichlet(1, ..., 1) (normalised exponentials).
static void ib_random_encoder(double* q, size_t nx, int nt, uint64_t* rng) {
    for (size_t x = 0; x < nx; x++) {
        double s = 0.0, *qx = q + x * (size_t)nt;
        for (int t = 0; t < nt; t++) s += qx[t] = -log(1.0 - (double)random_f32(rng));
        for (int t = 0; t < nt; t++) qx[t] /= s;
    }
}

// The warm start of the next β: the previous encoder, with its bins re-dealt so that the next β
// can find what this one could not (the cluster splitting of deterministic annealing):
// - bins whose decoders p(y|t) coincide (L1 distance < 1e-4: copies, as all bins are at small β)
//   are merged into one, and bins nobody uses (p(t) ~ 0) are freed: the update multiplies by
//   p(t), so an unused bin would stay unused, and copies cannot take an x that sits in a merged
//   cluster at large β;
// - the freed bins are dealt round robin to the used bins, largest p(t) first, and each used bin
//   shares its p(t|x) with its new copies in random proportions (1 + eta·N(0,1)) per x;
// - every p(t|x) is then multiplied by exp(eta · N(0,1)), so copies can separate when β passes a
//   critical value. Copies not worth separating merge back (their ratio becomes independent of x).
static void ib_warm_start(const IbJoint* j, double* q, int nt, double eta, uint64_t* rng) {
    size_t nx = (size_t)j->nx, ny = (size_t)j->ny;
    double* pt = malloc_check((size_t)nt * sizeof(double));
    double* pyt = malloc_check(ny * (size_t)nt * sizeof(double));
    int* order = malloc_check((size_t)nt * sizeof(int));
    int* owner = malloc_check((size_t)nt * sizeof(int));   // freed bin -> the used bin it copies
    double* w = malloc_check((size_t)nt * sizeof(double));
    ib_decoder(j, nt, q, pt, pyt);
    int* dead = calloc_check((size_t)nt, sizeof(int));
    for (int t = 0; t < nt; t++) dead[t] = !(pt[t] > 1e-9 / nt);
    for (int t = 0; t < nt; t++) {
        if (dead[t]) continue;
        for (int u = t + 1; u < nt; u++) {
            if (dead[u]) continue;
            double l1 = 0.0;
            for (size_t y = 0; y < ny && l1 < 1e-4; y++) l1 += fabs(pyt[y * (size_t)nt + t] - pyt[y * (size_t)nt + u]);
            if (l1 >= 1e-4) continue;
            for (size_t x = 0; x < nx; x++) q[x * (size_t)nt + t] += q[x * (size_t)nt + u], q[x * (size_t)nt + u] = 0.0;
            pt[t] += pt[u];
            dead[u] = 1;
        }
    }
    // used bins by decreasing p(t) (insertion sort: nt is small)
    int live = 0;
    for (int t = 0; t < nt; t++) {
        if (dead[t]) continue;
        int k = live++;
        while (k > 0 && pt[order[k - 1]] < pt[t]) order[k] = order[k - 1], k--;
        order[k] = t;
    }
    int nfree = 0;
    for (int t = 0; t < nt; t++)
        if (dead[t]) owner[t] = order[nfree++ % live];
    if (nfree > 0) {
        for (size_t x = 0; x < nx; x++) {
            double* qx = q + x * (size_t)nt;
            for (int k = 0; k < live; k++) {
                int src = order[k];
                double sum = w[src] = fmax(0.05, 1.0 + eta * (double)random_normal(rng));
                for (int t = 0; t < nt; t++)
                    if (dead[t] && owner[t] == src) sum += w[t] = fmax(0.05, 1.0 + eta * (double)random_normal(rng));
                double m = qx[src];
                qx[src] = m * w[src] / sum;
                for (int t = 0; t < nt; t++)
                    if (dead[t] && owner[t] == src) qx[t] = m * w[t] / sum;
            }
        }
    }
    for (size_t x = 0; x < nx; x++) {
        double s = 0.0, *qx = q + x * (size_t)nt;
        for (int t = 0; t < nt; t++) s += qx[t] *= exp(eta * (double)random_normal(rng));
        for (int t = 0; t < nt; t++) qx[t] /= s;
    }
    free(dead), free(w), free(owner), free(order), free(pyt), free(pt);
}

static int ib_point_cmp(const void* a, const void* b) {
    const IbPoint *p = a, *q = b;
    if (p->I_XT != q->I_XT) return p->I_XT < q->I_XT ? -1 : 1;
    return (p->I_TY < q->I_TY) - (p->I_TY > q->I_TY); // higher I_TY first
}

int ib_curve_compute(const IbJoint* j, const IbConfig* c, IbCurve* out, char* err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (c->n_bins < 2 || !(c->beta_min > 0.0) || !(c->beta_max >= c->beta_min) || c->num_betas < 1 ||
        c->restarts < 0 || c->max_iter < 1 || !(c->tol >= 0.0) || !(c->perturb >= 0.0) || !isfinite(c->beta_max)) {
        snprintf(err, errlen,
                 "ib_curve_compute: bad configuration (n_bins %d >= 2, 0 < beta_min %g <= beta_max %g, num_betas %d "
                 ">= 1, restarts %d >= 0, max_iter %d >= 1)",
                 c->n_bins, c->beta_min, c->beta_max, c->num_betas, c->restarts, c->max_iter);
        return -1;
    }
    double t0 = time_seconds();
    int nt = c->n_bins;
    size_t nq = (size_t)j->nx * (size_t)nt;
    double* best = malloc_check(nq * sizeof(double)); // the encoder carried to the next β
    double* cand = malloc_check(nq * sizeof(double));
    uint64_t rng = c->seed ? c->seed : 1;
    size_t cap = (size_t)c->num_betas * (size_t)(c->restarts + 1);
    out->solves = malloc_check(cap * sizeof(IbPoint));
    out->n_bins = nt;
    out->H_X = j->H_X, out->H_Y = j->H_Y, out->I_XY = j->I_XY;
    for (int k = 0; k < c->num_betas; k++) {
        double beta = c->num_betas == 1 ? c->beta_min
                                        : c->beta_min * pow(c->beta_max / c->beta_min, (double)k / (c->num_betas - 1));
        int tries = 1 + (beta <= c->restart_beta_max ? c->restarts : 0);
        double best_L = INFINITY;
        for (int r = 0; r < tries; r++) {
            // try 0: the previous β's encoder, re-dealt (at the first β: a random one)
            if (r == 0 && k > 0) {
                memcpy(cand, best, nq * sizeof(double));
                ib_warm_start(j, cand, nt, c->perturb, &rng);
            } else {
                ib_random_encoder(cand, (size_t)j->nx, nt, &rng);
            }
            IbPoint pt;
            ib_iterate(j, nt, beta, cand, c->max_iter, c->tol, &pt);
            out->solves[out->nsolves++] = pt;
            if (pt.L < best_L) {
                best_L = pt.L;
                double* tmp = best;
                best = cand, cand = tmp;
            }
        }
    }
    // upper envelope: the origin (T independent of X), then every solve not dominated by one with
    // less or equal I(X;T)
    IbPoint* sorted = malloc_check(out->nsolves * sizeof(IbPoint));
    memcpy(sorted, out->solves, out->nsolves * sizeof(IbPoint));
    qsort(sorted, out->nsolves, sizeof(IbPoint), ib_point_cmp);
    out->curve = malloc_check((out->nsolves + 1) * sizeof(IbPoint));
    out->curve[out->ncurve++] = (IbPoint){.converged = 1};
    for (size_t i = 0; i < out->nsolves; i++) {
        const IbPoint* last = &out->curve[out->ncurve - 1];
        if (sorted[i].I_TY > last->I_TY + 1e-9 && sorted[i].I_XT > last->I_XT)
            out->curve[out->ncurve++] = sorted[i];
    }
    free(sorted);
    free(cand);
    free(best);
    out->seconds = time_seconds() - t0;
    return 0;
}

void ib_curve_free(IbCurve* c) {
    free(c->solves);
    free(c->curve);
    memset(c, 0, sizeof *c);
}

int ib_curve_write_csv(const char* path, const IbCurve* c, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    double norm = log((double)c->n_bins);
    int ok = fprintf(af.f, "%s\n", IB_CSV_HEADER) > 0;
    for (size_t i = 0; i < c->ncurve && ok; i++)
        ok = fprintf(af.f, "%.9g,%.9g,%.9g\n", c->curve[i].I_XT / norm, c->curve[i].I_TY / norm, c->curve[i].beta) > 0;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}
