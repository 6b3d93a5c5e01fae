// probes.c: the soft-entropy estimator (Conklin 2025, the `soft_h` package) of how much a hidden
// state keeps about its input and its future, and its hooks into a GPT's hidden states. See
// probes.h for the API and the math in one paragraph; the run-folder files are in
// lib/probe_io.c, the figures in lib/plot.c.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/gemm.h"
#include "lib/layer_math.h"
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

double probe_eps(ProbeCalibration c, int d, int n_bins) {
    if (c == PROBE_FIND_EPS) return probe_calibrate_eps(d, n_bins);
    if (c == PROBE_LEADING_ORDER) return 1.0 / sqrt(2.0 * d * log((double)n_bins));
    return 1.0 / sqrt(2.0 * log((double)n_bins));
}

static const char* calibration_names[3] = {"gaussian", "find_eps", "leading_order"};

const char* probe_calibration_name(ProbeCalibration c) {
    return c >= PROBE_GAUSSIAN && c <= PROBE_LEADING_ORDER ? calibration_names[c] : "?";
}

int probe_calibration_parse(const char* name, ProbeCalibration* out) {
    for (int c = 0; c < 3; c++)
        if (strcmp(name, calibration_names[c]) == 0) {
            *out = (ProbeCalibration)c;
            return 0;
        }
    return -1;
}

// ============================================================================
// reference points and the soft assignment

// Wt_s = W_sᵀ / eps_s: (d, n_pad), bins padded with zero columns to a multiple of 16, the layout the
// assignment product (and the GPU build's) reads.
static void bins_finish(ProbeBins* pb) {
    size_t d = (size_t)pb->d, n = (size_t)pb->n_bins, K = (size_t)pb->seeds;
    pb->n_pad = (n + 15) / 16 * 16;
    pb->Wt = calloc_check(K * d * pb->n_pad, sizeof(float));
    for (size_t s = 0; s < K; s++) {
        float inv_eps = 1.0f / pb->eps[s];
        const float* W = pb->W + s * n * d;
        float* Wt = pb->Wt + s * d * pb->n_pad;
        for (size_t j = 0; j < n; j++)
            for (size_t k = 0; k < d; k++) Wt[k * pb->n_pad + j] = W[j * d + k] * inv_eps;
    }
}

// The RNG stream of draw s: the seed and s mixed into one non-zero xorshift state.
static uint64_t draw_state(uint64_t seed, int s) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x853C49E6748FEA9Bull + (uint64_t)s * 0xD1B54A32D192ED03ull;
    x ^= x >> 31;
    return x ? x : 1;
}

void probe_bins_init(ProbeBins* pb, int d, int n_bins, int seeds, ProbeCalibration c, uint64_t seed) {
    if (d < 1 || n_bins < 2 || seeds < 1) fatal("probe_bins_init: bad d=%d n_bins=%d seeds=%d", d, n_bins, seeds);
    memset(pb, 0, sizeof *pb);
    pb->d = d;
    pb->n_bins = n_bins;
    pb->seeds = seeds;
    pb->calibration = c;
    pb->seed = seed;
    size_t n = (size_t)n_bins, dd = (size_t)d;
    pb->W = malloc_check((size_t)seeds * n * dd * sizeof(float));
    pb->eps = malloc_check((size_t)seeds * sizeof(float));
    for (int s = 0; s < seeds; s++) {
        float* W = pb->W + (size_t)s * n * dd;
        uint64_t state = draw_state(seed, s);
        // coordinate-major: coordinate k of every bin before coordinate k+1, so that the first d'
        // coordinates of a width-d draw are the width-d' draw
        for (size_t k = 0; k < dd; k++)
            for (size_t j = 0; j < n; j++) W[j * dd + k] = random_normal(&state);
        if (c != PROBE_GAUSSIAN)
            for (size_t j = 0; j < n; j++) { // unit rows: uniform on the sphere
                double ss = 0.0;
                for (size_t k = 0; k < dd; k++) ss += (double)W[j * dd + k] * W[j * dd + k];
                float inv = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
                for (size_t k = 0; k < dd; k++) W[j * dd + k] *= inv;
            }
        pb->eps[s] = (float)probe_eps(c, d, n_bins);
    }
    bins_finish(pb);
}

void probe_bins_init_from(ProbeBins* pb, int d, int n_bins, int seeds, ProbeCalibration c, const float* W,
                          const float* eps) {
    memset(pb, 0, sizeof *pb);
    pb->d = d;
    pb->n_bins = n_bins;
    pb->seeds = seeds;
    pb->calibration = c;
    size_t total = (size_t)seeds * (size_t)n_bins * (size_t)d;
    pb->W = malloc_check(total * sizeof(float));
    memcpy(pb->W, W, total * sizeof(float));
    pb->eps = malloc_check((size_t)seeds * sizeof(float));
    memcpy(pb->eps, eps, (size_t)seeds * sizeof(float));
    bins_finish(pb);
}

void probe_bins_free(ProbeBins* pb) {
    free(pb->W);
    free(pb->eps);
    free(pb->Wt);
    memset(pb, 0, sizeof *pb);
}

// out (N, n) from logits (N, np): row i scaled by inv[i] (1/|z_i|, 0 for no direction), then a
// max-shifted softmax over the first n columns (exp_f32: the loop vectorises; within 2.3e-7 of
// expf); a row with inv 0 gets the uniform assignment.
static void softmax_rows(float* out, const float* logits, const float* inv, size_t N, size_t n, size_t np) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float* o = out + i * n;
        const float* l = logits + i * np;
        if (inv[i] == 0.0f) {
            for (size_t j = 0; j < n; j++) o[j] = 1.0f / (float)n;
            continue;
        }
        float mx = -INFINITY;
        for (size_t j = 0; j < n; j++) mx = fmaxf(mx, l[j] * inv[i]);
        for (size_t j = 0; j < n; j++) o[j] = exp_f32(l[j] * inv[i] - mx);
        float sum = 0.0f; // in order, apart: a float sum does not vectorise (it would reassociate)
        for (size_t j = 0; j < n; j++) sum += o[j];
        float is = 1.0f / sum;
        for (size_t j = 0; j < n; j++) o[j] *= is;
    }
}

// logits = z · Wt_s (one SGEMM, (N, d) x (d, n_pad)), then each row scaled by 1/|z| and softmaxed:
// the normalisation of z after the product is the same as before it.
void probe_assign(const ProbeBins* pb, int s, const float* z, size_t N, float* out) {
    const size_t d = (size_t)pb->d, n = (size_t)pb->n_bins, np = pb->n_pad;
    if (s < 0 || s >= pb->seeds) fatal("probe_assign: draw %d outside [0, %d)", s, pb->seeds);
    if (N == 0) return;
    const float* Wt = pb->Wt + (size_t)s * d * np;
#ifdef USE_CUBLAS
    // GPU build: the product and softmax on the device; only out (N, n_bins) comes back
    gpu_probe_assign(out, z, Wt, N, d, n, np);
    return;
#endif
    float* logits = malloc_check(N * np * sizeof(float));
    float* inv = malloc_check(N * sizeof(float));
    sgemm(0, 0, N, np, d, 1.0f, z, d, Wt, np, 0.0f, logits, np);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        const float* zi = z + i * d;
        float ss = 0.0f;
        for (size_t k = 0; k < d; k++) ss += zi[k] * zi[k];
        // a zero (or broken) vector has no direction: it gets the uniform assignment
        inv[i] = ss > 0.0f && isfinite(ss) ? 1.0f / sqrtf(ss) : 0.0f;
    }
    softmax_rows(out, logits, inv, N, n, np);
    free(logits);
    free(inv);
}

void probe_null_permutation(uint64_t seed, size_t n, uint32_t* perm) {
    uint64_t state = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = n; i-- > 1;) {
        size_t j = random_u32(&state) % (uint32_t)(i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

// ============================================================================
// the statistics of a set of probed rows

// Entropies go by blocks of ENTROPY_BLOCK values q: the terms q ln q with log_f64 (the loop
// vectorises), then their sum in order (a double sum does not vectorise without reassociating).
// Every entropy of the probes is taken this one way, so that the concavity bound (every plug-in
// I <= I_ctx) holds to rounding, not to the difference of two logarithms.
#define ENTROPY_BLOCK 256

// −Σ q ln q over q[0..n), n <= ENTROPY_BLOCK; q is overwritten.
static double block_entropy(double* q, int n) {
    for (int z = 0; z < n; z++) q[z] = q[z] > 0.0 ? q[z] * log_f64(q[z]) : 0.0;
    double h = 0.0;
    for (int z = 0; z < n; z++) h -= q[z];
    return h;
}

// Entropy (nats) of the distribution s/count (s not NULL) or of the row p (count 1).
static double entropy_blocks(const double* s, const float* p, int nb, double count) {
    double q[ENTROPY_BLOCK], h = 0.0;
    for (int z0 = 0; z0 < nb; z0 += ENTROPY_BLOCK) {
        int n = nb - z0 < ENTROPY_BLOCK ? nb - z0 : ENTROPY_BLOCK;
        for (int z = 0; z < n; z++) q[z] = s ? s[z0 + z] / count : (double)p[z0 + z];
        h += block_entropy(q, n);
    }
    return h;
}

static double entropy_of_sums(const double* s, int nb, double count) { return entropy_blocks(s, NULL, nb, count); }

static double entropy_of_row(const float* p, int nb) { return entropy_blocks(NULL, p, nb, 1.0); }

// Σ_x n_x H(P(Z|x)) over the labels of one labeling: a label seen once contributes its row's own
// entropy h[i] (no sums needed: most high-order n-grams are seen once); the others sum their
// rows. ids (stride apart) are the rows' labels, remapped through perm when perm is not NULL.
// scratch: (max_id + 1) int32 counts/slots, and sums (rows_in_groups bound) * nb doubles.
static double conditional_entropy_sum(const float* p, size_t N, int nb, const int32_t* ids, size_t stride,
                                       const uint32_t* perm, const double* h, int32_t* slot, size_t nid,
                                       double** sums, size_t* sums_cap) {
    for (size_t x = 0; x < nid; x++) slot[x] = 0;
    for (size_t i = 0; i < N; i++) slot[ids[(perm ? perm[i] : i) * stride]]++;
    // labels seen twice or more get a row of sums each: slot = -(row + 1); singletons stay at 1
    size_t groups = 0;
    for (size_t x = 0; x < nid; x++)
        if (slot[x] >= 2) slot[x] = -(int32_t)(++groups);
    if (groups * (size_t)nb > *sums_cap) {
        *sums_cap = groups * (size_t)nb;
        free(*sums);
        *sums = malloc_check(*sums_cap * sizeof(double));
    }
    double* S = *sums;
    memset(S, 0, groups * (size_t)nb * sizeof(double));
    double* cnt = calloc_check(groups ? groups : 1, sizeof(double));
    double acc = 0.0;
    for (size_t i = 0; i < N; i++) {
        int32_t sl = slot[ids[(perm ? perm[i] : i) * stride]];
        if (sl > 0) { // a label of its own
            acc += h[i];
            continue;
        }
        size_t g = (size_t)(-sl - 1);
        double* sg = S + g * (size_t)nb;
        const float* pi = p + i * (size_t)nb;
        for (int z = 0; z < nb; z++) sg[z] += pi[z];
        cnt[g] += 1.0;
    }
    for (size_t g = 0; g < groups; g++) acc += cnt[g] * entropy_of_sums(S + g * (size_t)nb, nb, cnt[g]);
    free(cnt);
    return acc;
}

void probe_information(const float* p, size_t N, int n_bins, const int32_t* ids, int K, const uint32_t* perm,
                       double* H, double* I_ctx, double* I, double* I_null) {
    const int nb = n_bins;
    if (N == 0) {
        *H = *I_ctx = NAN;
        for (int k = 0; k < K; k++) I[k] = I_null ? (I_null[k] = NAN) : NAN;
        return;
    }
    double* tot = calloc_check((size_t)nb, sizeof(double));
    double* h = malloc_check(N * sizeof(double));
    double hsum = 0.0;
    for (size_t i = 0; i < N; i++) {
        const float* pi = p + i * (size_t)nb;
        for (int z = 0; z < nb; z++) tot[z] += pi[z];
        h[i] = entropy_of_row(pi, nb);
        hsum += h[i];
    }
    double hz = entropy_of_sums(tot, nb, (double)N);
    *H = hz;
    *I_ctx = hz - hsum / (double)N;
    int32_t nid = 0;
    for (size_t i = 0; i < N * (size_t)K; i++) {
        if (ids[i] < 0) fatal("probe_information: label id %d < 0 at %zu", ids[i], i);
        nid = ids[i] + 1 > nid ? ids[i] + 1 : nid;
    }
    int32_t* slot = malloc_check((size_t)(nid ? nid : 1) * sizeof(int32_t));
    double* sums = NULL;
    size_t sums_cap = 0;
    for (int k = 0; k < K; k++) {
        I[k] = hz - conditional_entropy_sum(p, N, nb, ids + k, (size_t)K, NULL, h, slot, (size_t)nid, &sums,
                                            &sums_cap) / (double)N;
        if (I_null)
            I_null[k] = hz - conditional_entropy_sum(p, N, nb, ids + k, (size_t)K, perm, h, slot, (size_t)nid, &sums,
                                                     &sums_cap) / (double)N;
    }
    free(sums);
    free(slot);
    free(h);
    free(tot);
}

// ============================================================================
// exact ids of token tuples

// One order's table: open addressing from the key (id of the tuple's first n-1 tokens) << 32 |
// last token to a dense id. Exact (keys are compared whole), so no two tuples ever share an id.
typedef struct {
    uint64_t* keys;
    int32_t* val; // -1 = empty cell
    size_t cap, n;
} TupleMap;

typedef struct {
    TupleMap order[PROBE_NGRAM + 1]; // orders 2..PROBE_NGRAM (0 and 1 unused: a token is its own id)
} TupleIds;

static uint64_t hash64(uint64_t x) { // splitmix64 finaliser
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

static void tuplemap_reset(TupleMap* m) {
    free(m->keys);
    free(m->val);
    m->cap = 1024;
    m->n = 0;
    m->keys = malloc_check(m->cap * sizeof(uint64_t));
    m->val = malloc_check(m->cap * sizeof(int32_t));
    for (size_t i = 0; i < m->cap; i++) m->val[i] = -1;
}

static int32_t tuplemap_id(TupleMap* m, uint64_t key) {
    size_t mask = m->cap - 1, h = (size_t)hash64(key) & mask;
    while (m->val[h] >= 0) {
        if (m->keys[h] == key) return m->val[h];
        h = (h + 1) & mask;
    }
    if (m->n >= (size_t)INT32_MAX) fatal("probes: more than 2^31 distinct n-grams");
    int32_t id = (int32_t)m->n++;
    m->keys[h] = key;
    m->val[h] = id;
    if (2 * m->n > m->cap) { // keep the load under 1/2: rehash into twice the cells
        size_t ncap = 2 * m->cap;
        uint64_t* nk = malloc_check(ncap * sizeof(uint64_t));
        int32_t* nv = malloc_check(ncap * sizeof(int32_t));
        for (size_t i = 0; i < ncap; i++) nv[i] = -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->val[i] < 0) continue;
            size_t g = (size_t)hash64(m->keys[i]) & (ncap - 1);
            while (nv[g] >= 0) g = (g + 1) & (ncap - 1);
            nk[g] = m->keys[i];
            nv[g] = m->val[i];
        }
        free(m->keys);
        free(m->val);
        m->keys = nk;
        m->val = nv;
        m->cap = ncap;
    }
    return id;
}

// Id of the tuple t[0..n): the token itself for n = 1, else the order-n id of (id of t[0..n-1), t[n-1]).
static int32_t tuple_id(TupleIds* ti, const int* t, int n) {
    int32_t id = t[0];
    for (int k = 2; k <= n; k++) id = tuplemap_id(&ti->order[k], (uint64_t)(uint32_t)id << 32 | (uint32_t)t[k - 1]);
    return id;
}

// ============================================================================
// rows of a probe set

static void rows_init(ProbeRows* r, int planes, int num_labels) {
    memset(r, 0, sizeof *r);
    r->p = calloc_check((size_t)planes, sizeof(float*));
    r->num_labels = num_labels;
}

static void rows_free(ProbeRows* r, int planes) {
    for (int i = 0; i < planes; i++) free(r->p[i]);
    free(r->p);
    free(r->ids);
    free(r->unit);
    memset(r, 0, sizeof *r);
}

// Room for `more` rows; returns the index of the first.
static size_t rows_grow(ProbeRows* r, size_t more, int planes, int nb) {
    if (r->n + more > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->n + more) cap *= 2;
        for (int i = 0; i < planes; i++) r->p[i] = realloc_check(r->p[i], cap * (size_t)nb * sizeof(float));
        r->ids = realloc_check(r->ids, cap * (size_t)r->num_labels * sizeof(int32_t));
        r->unit = realloc_check(r->unit, cap * sizeof(int32_t));
        r->cap = cap;
    }
    size_t first = r->n;
    r->n += more;
    return first;
}

// ============================================================================
// every hidden state of a GPT

void probe_run_init(ProbeRun* pr, const ProbeBins* bins, int num_layers, uint64_t null_seed) {
    memset(pr, 0, sizeof *pr);
    pr->bins = bins;
    pr->num_states = num_layers + 1;
    pr->null_seed = null_seed;
    int planes = pr->num_states * bins->seeds;
    rows_init(&pr->grams, planes, PROBE_NUM_LABELINGS);
    rows_init(&pr->pref, planes, 1);
    pr->tuples = calloc_check(1, sizeof(TupleIds));
    pr->stats = calloc_check((size_t)pr->num_states + 1, sizeof(ProbeStats));
    probe_run_reset(pr);
}

void probe_run_reset(ProbeRun* pr) {
    pr->grams.n = 0;
    pr->pref.n = 0;
    TupleIds* ti = pr->tuples;
    for (int k = 2; k <= PROBE_NGRAM; k++) tuplemap_reset(&ti->order[k]);
}

void probe_run_free(ProbeRun* pr) {
    if (!pr->bins) return;
    int planes = pr->num_states * pr->bins->seeds;
    rows_free(&pr->grams, planes);
    rows_free(&pr->pref, planes);
    TupleIds* ti = pr->tuples;
    for (int k = 2; k <= PROBE_NGRAM; k++) {
        free(ti->order[k].keys);
        free(ti->order[k].val);
    }
    free(ti);
    free(pr->stats);
    memset(pr, 0, sizeof *pr);
}

static void check_model(const ProbeRun* pr, const GPT* model, size_t B, size_t T, const char* who) {
    if (model->config.num_layers + 1 != pr->num_states || model->config.channels != pr->bins->d)
        fatal("%s: model has L=%d C=%d but the probes were set up for L=%d C=%d", who, model->config.num_layers,
              model->config.channels, pr->num_states - 1, pr->bins->d);
    if (model->batch_size != B || model->seq_len != T)
        fatal("%s: last forward was (B=%zu, T=%zu), called with (B=%zu, T=%zu)", who, model->batch_size,
              model->seq_len, B, T);
}

// Assigns rows z (n, C) of hidden state l under every draw into rows first.. of r.
static void assign_rows(ProbeRun* pr, ProbeRows* r, int l, const float* z, size_t n, size_t first) {
    const ProbeBins* b = pr->bins;
    for (int s = 0; s < b->seeds; s++)
        probe_assign(b, s, z, n, r->p[l * b->seeds + s] + first * (size_t)b->n_bins);
}

size_t probe_labels_add(ProbeRun* pr, const int* tokens, size_t B, size_t T) {
    if (T < PROBE_FIRST + PROBE_TAIL + 1)
        fatal("probe_labels_add: T=%zu < %d leaves no position p in [%d, T-%d)", T, PROBE_FIRST + PROBE_TAIL + 1,
              PROBE_FIRST, PROBE_TAIL);
    for (size_t i = 0; i < B * T; i++)
        if (tokens[i] < 0) fatal("probe_labels_add: negative token id %d at %zu", tokens[i], i);
    const size_t P = probe_rows_per_seq(T);
    ProbeRows* r = &pr->grams;
    size_t first = rows_grow(r, B * P, pr->num_states * pr->bins->seeds, pr->bins->n_bins);
    TupleIds* ti = pr->tuples;
    for (size_t b = 0; b < B; b++) {
        const int* tb = tokens + b * T;
        for (size_t q = 0; q < P; q++) {
            size_t p = q + PROBE_FIRST, row = first + b * P + q;
            int32_t* id = r->ids + row * PROBE_NUM_LABELINGS;
            for (int n = 1; n <= PROBE_NGRAM; n++) {
                id[PROBE_IN1 + n - 1] = tuple_id(ti, tb + p + 1 - (size_t)n, n); // tokens p-n+1 .. p
                id[PROBE_OUT1 + n - 1] = tuple_id(ti, tb + p + 1, n);           // tokens p+1 .. p+n
            }
            r->unit[row] = (int32_t)row;
        }
    }
    return first;
}

void probe_states_assign(ProbeRun* pr, const float* const* states, size_t first, size_t B, size_t T) {
    const size_t P = probe_rows_per_seq(T), C = (size_t)pr->bins->d;
    ProbeRows* r = &pr->grams;
    if (first + B * P > r->n)
        fatal("probe_states_assign: rows %zu .. %zu, only %zu labelled", first, first + B * P, r->n);
    // the probed rows of each sequence are contiguous: gather them and assign in one product
    float* z = malloc_check(B * P * C * sizeof(float));
    for (int l = 0; l < pr->num_states; l++) {
        const float* hs = states[l]; // (B, T, C)
        for (size_t b = 0; b < B; b++) memcpy(z + b * P * C, hs + (b * T + PROBE_FIRST) * C, P * C * sizeof(float));
        assign_rows(pr, r, l, z, B * P, first);
    }
    free(z);
}

void probe_states_add(ProbeRun* pr, const float* const* states, const int* tokens, size_t B, size_t T) {
    probe_states_assign(pr, states, probe_labels_add(pr, tokens, B, T), B, T);
}

void probe_layers_assign(ProbeRun* pr, const GPT* model, size_t first, size_t B, size_t T) {
    // the first B sequences of the last forward, which may hold more
    check_model(pr, model, B <= model->batch_size ? model->batch_size : B, T, "probe_layers_assign");
    const float** states = malloc_check((size_t)pr->num_states * sizeof(float*));
    for (int l = 0; l < pr->num_states; l++) states[l] = gpt_hidden_state(model, l);
    probe_states_assign(pr, states, first, B, T);
    free(states);
}

void probe_layers_add(ProbeRun* pr, const GPT* model, const int* tokens, size_t B, size_t T) {
    check_model(pr, model, B, T, "probe_layers_add");
    probe_layers_assign(pr, model, probe_labels_add(pr, tokens, B, T), B, T);
}

size_t probe_rows_resize(ProbeRun* pr, ProbeRows* r, size_t n) {
    if (n < r->n) fatal("probe_rows_resize: %zu rows, fewer than the %zu there are", n, r->n);
    return rows_grow(r, n - r->n, pr->num_states * pr->bins->seeds, pr->bins->n_bins);
}

void probe_pref_add(ProbeRun* pr, const GPT* model, const int* mask, const int* chosen, const int* unit, size_t B,
                    size_t T) {
    check_model(pr, model, B, T, "probe_pref_add");
    const size_t C = (size_t)pr->bins->d;
    size_t n = 0;
    for (size_t i = 0; i < B * T; i++) n += mask[i] != 0;
    if (n == 0) return;
    ProbeRows* r = &pr->pref;
    size_t first = rows_grow(r, n, pr->num_states * pr->bins->seeds, pr->bins->n_bins);
    for (size_t b = 0, k = first; b < B; b++) {
        if (unit[b] < 0) fatal("probe_pref_add: negative unit %d", unit[b]);
        for (size_t t = 0; t < T; t++)
            if (mask[b * T + t]) {
                r->ids[k] = chosen[b] ? 1 : 0;
                r->unit[k++] = unit[b];
            }
    }
    float* z = malloc_check(n * C * sizeof(float));
    for (int l = 0; l < pr->num_states; l++) {
        const float* hs = gpt_hidden_state(model, l);
        size_t k = 0;
        for (size_t i = 0; i < B * T; i++)
            if (mask[i]) memcpy(z + (k++) * C, hs + i * C, C * sizeof(float));
        assign_rows(pr, r, l, z, n, first);
    }
    free(z);
}

// ============================================================================
// the statistics

// The values of one hidden state under one draw, in nats, in ProbeStats order.
enum { V_H, V_IN, V_OUT = V_IN + PROBE_NGRAM, V_CTX = V_OUT + PROBE_NGRAM, V_PREF, V_IN_NULL, V_OUT_NULL = V_IN_NULL + PROBE_NGRAM,
       V_PREF_NULL = V_OUT_NULL + PROBE_NGRAM, NUM_V };

// The pref null's labels: each unit's chosen flag moved to the unit perm[u] picks.
static int32_t* pref_null_ids(const ProbeRows* r, uint64_t seed) {
    int32_t units = 0;
    for (size_t i = 0; i < r->n; i++) units = r->unit[i] + 1 > units ? r->unit[i] + 1 : units;
    int32_t* label = malloc_check((size_t)units * sizeof(int32_t));
    for (int32_t u = 0; u < units; u++) label[u] = 0;
    for (size_t i = 0; i < r->n; i++) label[r->unit[i]] = r->ids[i];
    uint32_t* perm = malloc_check((size_t)units * sizeof(uint32_t));
    probe_null_permutation(seed, (size_t)units, perm);
    int32_t* ids = malloc_check(r->n * sizeof(int32_t));
    for (size_t i = 0; i < r->n; i++) ids[i] = label[perm[r->unit[i]]];
    free(perm);
    free(label);
    return ids;
}

static void stats_from_draws(ProbeStats* out, const double* v, int K, double norm, size_t positions) {
    double m[NUM_V], sd[NUM_V];
    for (int k = 0; k < NUM_V; k++) {
        double s = 0.0;
        for (int i = 0; i < K; i++) s += v[i * NUM_V + k];
        m[k] = s / K / norm;
        double q = 0.0;
        for (int i = 0; i < K; i++) q += (v[i * NUM_V + k] / norm - m[k]) * (v[i * NUM_V + k] / norm - m[k]);
        sd[k] = K > 1 ? sqrt(q / (K - 1)) : NAN;
    }
    out->positions = positions;
    out->H = m[V_H], out->H_sd = sd[V_H];
    for (int n = 0; n < PROBE_NGRAM; n++) {
        out->I_in[n] = m[V_IN + n], out->I_in_sd[n] = sd[V_IN + n], out->I_in_null[n] = m[V_IN_NULL + n];
        out->I_out[n] = m[V_OUT + n], out->I_out_sd[n] = sd[V_OUT + n], out->I_out_null[n] = m[V_OUT_NULL + n];
    }
    out->I_ctx = m[V_CTX], out->I_ctx_sd = sd[V_CTX];
    out->I_pref = m[V_PREF], out->I_pref_sd = sd[V_PREF], out->I_pref_null = m[V_PREF_NULL];
    out->optimality = out->I_in[0] > 1e-12 ? out->I_out[0] / out->I_in[0] : NAN;
}

void probe_run_finish(ProbeRun* pr) {
    const int S = pr->num_states, K = pr->bins->seeds, nb = pr->bins->n_bins;
    const ProbeRows* g = &pr->grams;
    const ProbeRows* r = &pr->pref;
    double* v = malloc_check((size_t)(S + 1) * (size_t)K * NUM_V * sizeof(double)); // [state][draw][value]
    uint32_t* perm = malloc_check((g->n ? g->n : 1) * sizeof(uint32_t));
    probe_null_permutation(pr->null_seed, g->n, perm);
    int32_t* pref_null = r->n ? pref_null_ids(r, pr->null_seed ^ 0x5851F42D4C957F2Dull) : NULL;
    const long tasks = (long)S * K;
#pragma omp parallel for schedule(dynamic, 1)
    for (long t = 0; t < tasks; t++) {
        double* vt = v + (size_t)t * NUM_V;
        double I[PROBE_NUM_LABELINGS], In[PROBE_NUM_LABELINGS];
        probe_information(g->p[t], g->n, nb, g->ids, PROBE_NUM_LABELINGS, perm, &vt[V_H], &vt[V_CTX], I, In);
        for (int n = 0; n < PROBE_NGRAM; n++) {
            vt[V_IN + n] = I[PROBE_IN1 + n], vt[V_IN_NULL + n] = In[PROBE_IN1 + n];
            vt[V_OUT + n] = I[PROBE_OUT1 + n], vt[V_OUT_NULL + n] = In[PROBE_OUT1 + n];
        }
        vt[V_PREF] = vt[V_PREF_NULL] = NAN;
        if (r->n) {
            double h, ctx;
            probe_information(r->p[t], r->n, nb, r->ids, 1, NULL, &h, &ctx, &vt[V_PREF], NULL);
            probe_information(r->p[t], r->n, nb, pref_null, 1, NULL, &h, &ctx, &vt[V_PREF_NULL], NULL);
        }
    }
    // the model's row: per draw the mean over the block outputs 1..L (all states when L = 0)
    int lo = S > 1 ? 1 : 0;
    for (int s = 0; s < K; s++)
        for (int k = 0; k < NUM_V; k++) {
            double m = 0.0;
            for (int l = lo; l < S; l++) m += v[((size_t)l * K + s) * NUM_V + k];
            v[((size_t)S * K + s) * NUM_V + k] = m / (S - lo);
        }
    double norm = log((double)nb);
    for (int l = 0; l <= S; l++) stats_from_draws(&pr->stats[l], v + (size_t)l * K * NUM_V, K, norm, g->n);
    free(pref_null);
    free(perm);
    free(v);
}
