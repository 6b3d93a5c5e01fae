// tests/probes.c: the soft-entropy probes of probes.c. The temperature and H, I, I_ctx and the
// permutation nulls against the numpy/scipy fixture of dev/reference_probes.py (an estimator case
// per calibration, and the n-gram labelling of probe sequences up to quadgrams); the reference
// points (moments, coordinate-major prefix); closed forms (identical vectors, independent labels
// and their null, one-to-one labels); every hidden state of a small GPT with labels built by hand,
// the seeds' mean and sd, the layer mean, the exact bound I ≤ I_ctx; width invariance on isometric
// models; probes.csv and probe_bins.safetensors; the SVG figures. The IB curve is tests/ib.c.
#include "test.h"

// Shannon entropy (nats) of softmax((ẑ·Wᵀ)/eps) for one vector, in double, written out directly.
static double direct_row_entropy(const float* z, const float* W, int d, int nb, double eps, double* row) {
    double nz = 0.0, mx = -INFINITY, sum = 0.0, h = 0.0;
    for (int k = 0; k < d; k++) nz += (double)z[k] * z[k];
    nz = sqrt(nz);
    for (int j = 0; j < nb; j++) {
        double dot = 0.0;
        for (int k = 0; k < d; k++) dot += (double)z[k] / nz * W[j * d + k];
        row[j] = dot / eps;
        mx = fmax(mx, row[j]);
    }
    for (int j = 0; j < nb; j++) sum += (row[j] = exp(row[j] - mx));
    for (int j = 0; j < nb; j++) {
        row[j] /= sum;
        if (row[j] > 0) h -= row[j] * log(row[j]);
    }
    return h;
}

static size_t count_substr(const char* s, const char* sub) {
    size_t n = 0;
    for (const char* q = strstr(s, sub); q; q = strstr(q + 1, sub)) n++;
    return n;
}

// Dense ids (N, K) of arbitrary int64 keys, per column in order of first appearance.
static int32_t* dense_ids(const int64_t* keys, size_t N, int K) {
    int32_t* ids = malloc_check(N * (size_t)K * sizeof(int32_t));
    int64_t* seen = malloc_check(N * sizeof(int64_t));
    for (int k = 0; k < K; k++) {
        size_t n = 0;
        for (size_t i = 0; i < N; i++) {
            int64_t key = keys[i * K + k];
            size_t j = 0;
            while (j < n && seen[j] != key) j++;
            if (j == n) seen[n++] = key;
            ids[i * K + k] = (int32_t)j;
        }
    }
    free(seen);
    return ids;
}

// H, I_ctx, I and I_null (in units of ln n_bins) of rows z under draw 0 of pb.
static void measure(const ProbeBins* pb, const float* z, size_t N, const int32_t* ids, int K, const uint32_t* perm,
                    double* H, double* ctx, double* I, double* In) {
    float* p = malloc_check(N * (size_t)pb->n_bins * sizeof(float));
    probe_assign(pb, 0, z, N, p);
    probe_information(p, N, pb->n_bins, ids, K, perm, H, ctx, I, In);
    double ln = log((double)pb->n_bins);
    *H /= ln, *ctx /= ln;
    for (int k = 0; k < K; k++) {
        I[k] /= ln;
        if (In) In[k] /= ln;
    }
    free(p);
}

// ----------------------------------------------------------------------------
// The numpy/scipy fixture

// Reads n numbers after the word `name`; 1 if the word was there.
static int read_floats(char** cur, const char* name, float* out, size_t n) {
    if (!fixture_word(cur, name)) return 0;
    for (size_t i = 0; i < n; i++) out[i] = (float)fixture_num(cur);
    return 1;
}

static int read_doubles(char** cur, const char* name, double* out, size_t n) {
    if (!fixture_word(cur, name)) return 0;
    for (size_t i = 0; i < n; i++) out[i] = fixture_num(cur);
    return 1;
}

static int read_perm(char** cur, uint32_t* perm, size_t n) {
    if (!fixture_word(cur, "perm")) return 0;
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)fixture_int(cur);
    return 1;
}

// eps vs the scipy brentq fixture, all 12 (d, n_bins) pairs.
static void probes_check_eps(char** cur) {
    int npairs = fixture_word(cur, "eps") ? fixture_int(cur) : 0;
    double maxrel = 0.0;
    for (int i = 0; i < npairs; i++) {
        int d = fixture_int(cur), nb = fixture_int(cur);
        double want = fixture_num(cur), got = probe_calibrate_eps(d, nb);
        maxrel = fmax(maxrel, fabs(got - want) / want);
    }
    check(npairs == 12 && maxrel < 1e-9, "eps = root of KL_lower(eps,d) = ln n_bins vs scipy brentq, %d pairs "
          "d in {64,128,384,768} x n_bins in {50,100,200}: max rel diff %.2e", npairs, maxrel);
}

// One estimator case: H, I of 5 labelings, I_ctx and the nulls under the fixture's permutation.
static int probes_check_case(char** cur) {
    if (!fixture_word(cur, "case")) return 0;
    int N = fixture_int(cur), d = fixture_int(cur), nb = fixture_int(cur), K = fixture_int(cur), unit = fixture_int(cur);
    if (N < 1 || d < 1 || nb < 2 || K < 1 || K > 8) return 0;
    float eps;
    float* W = malloc_check((size_t)nb * d * sizeof(float));
    float* z = malloc_check((size_t)N * d * sizeof(float));
    int64_t* keys = malloc_check((size_t)N * K * sizeof(int64_t));
    uint32_t* perm = malloc_check((size_t)N * sizeof(uint32_t));
    double H, ctx, I[8], In[8], wH, wctx, wI[8], wIn[8];
    int well = read_floats(cur, "eps", &eps, 1) && read_floats(cur, "W", W, (size_t)nb * d) &&
               read_floats(cur, "z", z, (size_t)N * d) && fixture_word(cur, "labels");
    for (int i = 0; well && i < N * K; i++) keys[i] = strtoll(fixture_word(cur, NULL), NULL, 10);
    well = well && read_perm(cur, perm, (size_t)N) && read_doubles(cur, "H", &wH, 1) && read_doubles(cur, "I", wI, K) &&
           read_doubles(cur, "I_ctx", &wctx, 1) && read_doubles(cur, "I_null", wIn, K) && fixture_word(cur, "end");
    double worst = INFINITY;
    if (well) {
        ProbeBins pb;
        probe_bins_init_from(&pb, d, nb, 1, unit ? PROBE_FIND_EPS : PROBE_GAUSSIAN, W, &eps);
        int32_t* ids = dense_ids(keys, (size_t)N, K);
        measure(&pb, z, (size_t)N, ids, K, perm, &H, &ctx, I, In);
        worst = fmax(fabs(H - wH), fabs(ctx - wctx));
        for (int k = 0; k < K; k++) worst = fmax(worst, fmax(fabs(I[k] - wI[k]), fabs(In[k] - wIn[k])));
        free(ids);
        probe_bins_free(&pb);
    }
    check(well && worst < 1e-6,
          "H, I (%d labelings, one with 30%% of rows labelled alone), I_ctx and the permutation nulls vs numpy, "
          "N=%d d=%d n_bins=%d, %s points: max diff %.2e", K, N, d, nb, unit ? "unit" : "gaussian", worst);
    free(W);
    free(z);
    free(keys);
    free(perm);
    return 1;
}

// The n-gram case: probe sequences through probe_states_add (one hidden state), all eight n-gram
// labelings, I_ctx and the nulls against numpy's labels of exact token tuples.
static int probes_check_ngram_case(char** cur) {
    if (!fixture_word(cur, "ngram")) return 0;
    int S = fixture_int(cur), T = fixture_int(cur), d = fixture_int(cur), nb = fixture_int(cur);
    fixture_int(cur); // V
    if (S < 1 || T < 8 || d < 1 || nb < 2) return 0;
    size_t N = (size_t)S * (T - PROBE_FIRST - PROBE_TAIL);
    float eps;
    float* W = malloc_check((size_t)nb * d * sizeof(float));
    float* z = malloc_check((size_t)S * T * d * sizeof(float));
    int* tokens = malloc_check((size_t)S * T * sizeof(int));
    uint32_t* perm = malloc_check(N * sizeof(uint32_t));
    double wH, wctx, win[4], wout[4], winn[4], woutn[4];
    int well = read_floats(cur, "eps", &eps, 1) && read_floats(cur, "W", W, (size_t)nb * d) && fixture_word(cur, "tokens");
    for (int i = 0; well && i < S * T; i++) tokens[i] = fixture_int(cur);
    well = well && read_floats(cur, "z", z, (size_t)S * T * d) && read_perm(cur, perm, N) &&
           read_doubles(cur, "H", &wH, 1) && read_doubles(cur, "I_in", win, 4) && read_doubles(cur, "I_out", wout, 4) &&
           read_doubles(cur, "I_ctx", &wctx, 1) && read_doubles(cur, "I_in_null", winn, 4) &&
           read_doubles(cur, "I_out_null", woutn, 4) && fixture_word(cur, "end");
    double worst = INFINITY;
    if (well) {
        ProbeBins pb;
        probe_bins_init_from(&pb, d, nb, 1, PROBE_GAUSSIAN, W, &eps);
        ProbeRun pr;
        probe_run_init(&pr, &pb, 0, 0);
        const float* states[1] = {z};
        probe_states_add(&pr, states, tokens, (size_t)S, (size_t)T); // the whole set in one call
        // the statistics with the fixture's permutation: from the rows the run stored
        double H, ctx, I[8], In[8], ln = log((double)nb);
        probe_information(pr.grams.p[0], pr.grams.n, nb, pr.grams.ids, PROBE_NUM_LABELINGS, perm, &H, &ctx, I, In);
        worst = fmax(fabs(H / ln - wH), fabs(ctx / ln - wctx));
        for (int n = 0; n < 4; n++) {
            worst = fmax(worst, fmax(fabs(I[PROBE_IN1 + n] / ln - win[n]), fabs(I[PROBE_OUT1 + n] / ln - wout[n])));
            worst = fmax(worst, fmax(fabs(In[PROBE_IN1 + n] / ln - winn[n]), fabs(In[PROBE_OUT1 + n] / ln - woutn[n])));
        }
        if (pr.grams.n != N) worst = INFINITY;
        probe_run_free(&pr);
        probe_bins_free(&pb);
    }
    check(well && worst < 1e-6,
          "n-gram labels of %d probe sequences (positions [3, T-4) of T=%d, %zu rows): H, I_in1..4, I_out1..4, I_ctx "
          "and their nulls vs numpy's exact token tuples: max diff %.2e", S, T, N, worst);
    free(W);
    free(z);
    free(tokens);
    free(perm);
    return 1;
}

static void probes_check_fixture(void) {
    char err[512];
    size_t flen = 0;
    char* fx = read_file("data/fixtures/probes_reference.txt", &flen, err, sizeof err);
    if (!fx) {
        skip("probes fixture: %s (run make fixtures)", err);
        return;
    }
    char* cur = fx;
    probes_check_eps(&cur);
    int ncases = fixture_word(&cur, "cases") ? fixture_int(&cur) : 0, read = 0;
    for (int c = 0; c < ncases; c++) read += probes_check_case(&cur);
    int ngrams = fixture_word(&cur, "ngrams") ? fixture_int(&cur) : 0, readg = 0;
    for (int c = 0; c < ngrams; c++) readg += probes_check_ngram_case(&cur);
    check(ncases == 2 && read == 2 && ngrams == 1 && readg == 1,
          "probes fixture holds 2 estimator cases and 1 n-gram case (read %d, %d)", read, readg);
    free(fx);
}

// ----------------------------------------------------------------------------
// The reference points

// Gaussian points: entries of mean 0 and variance 1, eps = 1/sqrt(2 ln n) whatever d, and a width-d
// draw extends the width-16 draw of the same seed (coordinate-major); the other calibrations: unit
// rows and their temperatures.
static void probes_check_bins(void) {
    ProbeBins g16, g64, f, lo;
    probe_bins_init(&g16, 16, 50, 2, PROBE_GAUSSIAN, 0);
    probe_bins_init(&g64, 64, 50, 2, PROBE_GAUSSIAN, 0);
    double m = 0.0, v = 0.0, prefix = 0.0;
    size_t n = (size_t)2 * 50 * 64;
    for (size_t i = 0; i < n; i++) m += g64.W[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) v += (g64.W[i] - m) * (g64.W[i] - m);
    v /= (double)(n - 1);
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 50; j++)
            for (int k = 0; k < 16; k++)
                prefix = fmax(prefix, fabs(g64.W[((size_t)s * 50 + j) * 64 + k] - g16.W[((size_t)s * 50 + j) * 16 + k]));
    double want_eps = 1.0 / sqrt(2.0 * log(50.0));
    // mean within 4 standard errors of 0, variance within 4 of 1 (sd of a variance estimate: sqrt(2/n))
    check(fabs(m) < 4.0 / sqrt((double)n) && fabs(v - 1.0) < 4.0 * sqrt(2.0 / (double)n) && prefix == 0.0 &&
              g16.eps[0] == g64.eps[1] && fabs(g64.eps[0] - want_eps) < 1e-7,
          "gaussian points: %zu entries of mean %.4f, variance %.4f; the first 16 coordinates of a width-64 draw are "
          "the width-16 draw (max diff %.1e); eps %.6f = 1/sqrt(2 ln 50) at d = 16 and 64", n, m, v, prefix,
          (double)g64.eps[0]);
    int differ = memcmp(g64.W, g64.W + 50 * 64, 50 * 64 * sizeof(float)) != 0;
    check(differ, "the draws of two seeds differ");
    probe_bins_init(&f, 16, 50, 1, PROBE_FIND_EPS, 0);
    probe_bins_init(&lo, 16, 50, 1, PROBE_LEADING_ORDER, 0);
    double wnorm = 0.0;
    for (int j = 0; j < 50; j++) {
        double s2 = 0.0;
        for (int k = 0; k < 16; k++) s2 += (double)f.W[j * 16 + k] * f.W[j * 16 + k];
        wnorm = fmax(wnorm, fabs(sqrt(s2) - 1.0));
    }
    check(wnorm < 1e-6 && fabs(f.eps[0] - probe_calibrate_eps(16, 50)) < 1e-7 &&
              fabs(lo.eps[0] - 1.0 / sqrt(2.0 * 16 * log(50.0))) < 1e-7,
          "find_eps and leading_order: unit rows (max |norm-1| %.1e), eps %.6f and %.6f", wnorm, (double)f.eps[0],
          (double)lo.eps[0]);
    probe_bins_free(&g16);
    probe_bins_free(&g64);
    probe_bins_free(&f);
    probe_bins_free(&lo);
}

// ----------------------------------------------------------------------------
// Closed forms, on gaussian points (d = 16, n_bins = 50); rng continues from one check to the next

enum { PD = 16, PNB = 50 };

// Identical vectors: P(Z) is one softmax row, so H is that row's entropy; I and I_ctx are 0.
// log_f64 (the probes' entropies) against libm's log: x = m 2^k for m spread over [1, 2) (both
// sides of the sqrt(2) switch) and k in [-200, 200], the ends of float's range as doubles (the
// assignments are floats), and 0 ln 0 = 0.
static void probes_check_log(void) {
    double worst = 0.0; // in ulp of log(x)
    int n = 0, exact1 = log_f64(1.0) == 0.0;
    for (int k = -200; k <= 200; k++)
        for (int i = 0; i < 512; i++, n++) {
            double x = ldexp(1.0 + i / 512.0 + 1.0 / 4096.0 * (i % 7), k), want = log(x);
            double ulp = nextafter(fabs(want), INFINITY) - fabs(want);
            if (fabs(log_f64(x) - want) / ulp > worst) worst = fabs(log_f64(x) - want) / ulp;
        }
    const double ends[] = {(double)1.4e-45f, (double)FLT_MIN, (double)nextafterf(1.0f, 0.0f), M_SQRT2,
                           nextafter(M_SQRT2, 0.0), nextafter(M_SQRT2, 2.0), 0.5, 2.0};
    for (size_t j = 0; j < sizeof ends / sizeof *ends; j++, n++) {
        double want = log(ends[j]), ulp = nextafter(fabs(want), INFINITY) - fabs(want);
        if (fabs(log_f64(ends[j]) - want) / ulp > worst) worst = fabs(log_f64(ends[j]) - want) / ulp;
    }
    double zero = 0.0 * log_f64(0.0);
    check(worst <= 3.0 && exact1 && zero == 0.0,
          "log_f64 vs libm log at %d points over 2^-200 .. 2^201 and float's ends: max %.2f ulp (tol 3), ln 1 = 0, "
          "0 ln 0 = %g", n, worst, fabs(zero));
}

static void probes_check_identical(const ProbeBins* pb, uint64_t* rng) {
    const int N = 300, d = PD;
    double row[PNB];
    float z0[PD];
    for (int k = 0; k < d; k++) z0[k] = random_normal(rng);
    float* z = malloc_check((size_t)N * d * sizeof(float));
    int32_t* ids = malloc_check((size_t)N * sizeof(int32_t));
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < d; k++) z[i * d + k] = z0[k] * (1.0f + (float)(i % 3)); // scale is normalised away
        ids[i] = i % 4;
    }
    double want = direct_row_entropy(z0, pb->W, d, PNB, pb->eps[0], row) / log((double)PNB), H, ctx, I;
    measure(pb, z, (size_t)N, ids, 1, NULL, &H, &ctx, &I, NULL);
    check(fabs(H - want) < 1e-6 && fabs(I) < 1e-6 && fabs(ctx) < 1e-6,
          "identical vectors: H = entropy of one softmax row %.6f (diff %.2e), I(labels;Z) = %.1e, I_ctx = %.1e",
          want, fabs(H - want), I, ctx);
    free(z);
    free(ids);
}

// Labels independent of z: the true I is 0; the plug-in estimate is biased upwards by about
// (K-1)(n_bins-1)/(2N) nats for hard bins (Miller-Madow), less for soft ones. And the permutation
// null's expectation is the value itself: over 40 permutations the value lies within 3 sd of the
// nulls' mean.
static void probes_check_independent(const ProbeBins* pb, uint64_t* rng) {
    const int N = 6000, K = 4, d = PD, nb = PNB, R = 40;
    float* z = malloc_check((size_t)N * d * sizeof(float));
    int32_t* ids = malloc_check((size_t)N * sizeof(int32_t));
    uint32_t* perm = malloc_check((size_t)N * sizeof(uint32_t));
    for (int i = 0; i < N * d; i++) z[i] = random_normal(rng);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)(random_u32(rng) % K);
    float* p = malloc_check((size_t)N * nb * sizeof(float));
    probe_assign(pb, 0, z, (size_t)N, p);
    double H, ctx, I, In, s = 0.0, s2 = 0.0, ln = log((double)nb);
    for (int r = 0; r < R; r++) {
        probe_null_permutation(1000 + (uint64_t)r, (size_t)N, perm);
        probe_information(p, (size_t)N, nb, ids, 1, perm, &H, &ctx, &I, &In);
        s += In / ln, s2 += (In / ln) * (In / ln);
    }
    I /= ln;
    double mean = s / R, sd = sqrt(fmax(s2 / R - mean * mean, 0.0) * R / (R - 1));
    double bound = (K - 1.0) * (nb - 1.0) / (2.0 * N) / ln;
    check(I >= -1e-12 && I < bound, "independent labels (K=%d, N=%d): I = %.5f below the bound "
          "(K-1)(n_bins-1)/(2N ln n_bins) = %.5f", K, N, I, bound);
    check(fabs(I - mean) < 3.0 * sd && sd > 0.0,
          "independent labels: the permutation null's mean over %d permutations %.5f (sd %.5f) matches the value "
          "%.5f (%.1f sd)", R, mean, sd, I, fabs(I - mean) / sd);
    free(p);
    free(z);
    free(ids);
    free(perm);
}

// z a one-to-one function of the label, well separated (z_x = reference point 5x): P(Z|x) is
// exactly row x, so I = H(Z) − Σ P(x) h(row_x); the rows are sharp, so I is close to H.
static void probes_check_one_to_one(const ProbeBins* pb, uint64_t* rng) {
    const int N = 2000, K = 10, d = PD, nb = PNB;
    double row[PNB];
    float* z = malloc_check((size_t)N * d * sizeof(float));
    int32_t* ids = malloc_check((size_t)N * sizeof(int32_t));
    double hrow[10], cnt[10] = {0}, hcond = 0.0;
    for (int x = 0; x < K; x++) hrow[x] = direct_row_entropy(pb->W + (size_t)x * 5 * d, pb->W, d, nb, pb->eps[0], row);
    double* marg = calloc_check(nb, sizeof(double));
    for (int i = 0; i < N; i++) {
        int x = (int)(random_u32(rng) % K);
        memcpy(z + (size_t)i * d, pb->W + (size_t)x * 5 * d, d * sizeof(float));
        ids[i] = x;
        cnt[x] += 1;
    }
    for (int x = 0; x < K; x++) {
        direct_row_entropy(pb->W + (size_t)x * 5 * d, pb->W, d, nb, pb->eps[0], row);
        for (int j = 0; j < nb; j++) marg[j] += cnt[x] / N * row[j];
        hcond += cnt[x] / N * hrow[x];
    }
    double hz = 0.0;
    for (int j = 0; j < nb; j++) hz -= marg[j] > 0 ? marg[j] * log(marg[j]) : 0.0;
    double want = (hz - hcond) / log((double)nb), H, ctx, I;
    measure(pb, z, (size_t)N, ids, 1, NULL, &H, &ctx, &I, NULL);
    check(fabs(I - want) < 1e-6 && fabs(H - hz / log((double)nb)) < 1e-6 && fabs(ctx - I) < 1e-6 && I > 0.5 * H,
          "one-to-one labels: I = %.6f vs closed form H(Z) - sum P(x) h(row_x) = %.6f (diff %.2e), = I_ctx, I/H = %.3f",
          I, want, fabs(I - want), I / H);
    free(marg);
    free(z);
    free(ids);
}

// ----------------------------------------------------------------------------
// A small GPT's hidden states (B3 T12, tokens in [0, 6)), probed through the ProbeRun API

enum { PB = 3, PT = 12, PK = 3 };

// Labels built by hand: positions p in [3, T-4), input and output n-grams as base-V digits (an
// encoding of their own), as (N, 8) int64 keys.
static int64_t* hand_labels(const int* tokens, int V) {
    size_t P = PT - PROBE_FIRST - PROBE_TAIL, i = 0;
    int64_t* keys = malloc_check((size_t)PB * P * 8 * sizeof(int64_t));
    for (size_t b = 0; b < PB; b++)
        for (size_t p = PROBE_FIRST; p + PROBE_TAIL < PT; p++, i++) {
            const int* tb = tokens + b * PT;
            for (int n = 1; n <= 4; n++) {
                int64_t in = 0, out = 0;
                for (int k = 0; k < n; k++) {
                    in = in * V + tb[p - (size_t)n + 1 + (size_t)k];
                    out = out * V + tb[p + 1 + (size_t)k];
                }
                keys[i * 8 + n - 1] = in;
                keys[i * 8 + 4 + n - 1] = out;
            }
        }
    return keys;
}

// Every hidden state and draw against the hand-built labels through probe_information directly:
// the reported mean over the K draws and their sd, the mean row over layers 1..L, and the bounds
// the plug-in values obey (I_in n and I_out n grow with n, none above I_ctx).
static void probes_check_layers(ProbeRun* pr, const GPT* model, const int* tokens) {
    GPTConfig cfg = model->config;
    const ProbeBins* pb = pr->bins;
    size_t P = PT - PROBE_FIRST - PROBE_TAIL, N = PB * P, C = (size_t)cfg.channels;
    int64_t* keys = hand_labels(tokens, cfg.vocab_size);
    int32_t* ids = dense_ids(keys, N, 8);
    float* z = malloc_check(N * C * sizeof(float));
    float* p = malloc_check(N * (size_t)pb->n_bins * sizeof(float));
    double maxd = 0.0, mono = 0.0, above = -1.0, ln = log((double)pb->n_bins), meanrow[PK] = {0};
    for (int l = 0; l <= cfg.num_layers; l++) {
        const float* hs = gpt_hidden_state(model, l);
        for (size_t b = 0, i = 0; b < PB; b++)
            for (size_t t = PROBE_FIRST; t + PROBE_TAIL < PT; t++, i++) memcpy(z + i * C, hs + (b * PT + t) * C, C * sizeof(float));
        double s1 = 0.0, s2 = 0.0;
        for (int s = 0; s < pb->seeds; s++) {
            double H, ctx, I[8];
            probe_assign(pb, s, z, N, p);
            probe_information(p, N, pb->n_bins, ids, 8, NULL, &H, &ctx, I, NULL);
            s1 += I[0] / ln, s2 += (I[0] / ln) * (I[0] / ln);
            if (l > 0) meanrow[s] += I[4] / ln / cfg.num_layers;
            for (int n = 0; n < 3; n++) mono = fmax(mono, fmax(I[n] - I[n + 1], I[4 + n] - I[5 + n]));
            for (int k = 0; k < 8; k++) above = fmax(above, I[k] - ctx);
        }
        double m = s1 / pb->seeds, sd = sqrt(fmax(s2 / pb->seeds - m * m, 0.0) * pb->seeds / (pb->seeds - 1));
        maxd = fmax(maxd, fmax(fabs(pr->stats[l].I_in[0] - m), fabs(pr->stats[l].I_in_sd[0] - sd)));
    }
    double mm = 0.0;
    for (int s = 0; s < pb->seeds; s++) mm += meanrow[s] / pb->seeds;
    maxd = fmax(maxd, fabs(pr->stats[probe_mean_row(pr)].I_out[0] - mm));
    check(maxd < 1e-9 && pr->grams.n == N,
          "probe_layers_add: %zu positions x %d hidden states x %d draws vs labels built by hand: I_in1 mean and sd "
          "over the draws, the layers' mean of I_out1: max diff %.1e", N, cfg.num_layers + 1, pb->seeds, maxd);
    check(mono <= 1e-12 && above <= 1e-12,
          "I_in1 <= .. <= I_in4, I_out1 <= .. <= I_out4 (max violation %.1e), every one <= I_ctx (max excess %.1e)",
          mono, above);
    free(keys);
    free(ids);
    free(z);
    free(p);
}

// I_pref: the response positions (t >= 6) labelled by the pair side, each sequence a unit of the
// null; a row whose label moves with its sequence keeps I_pref's null in [0, H].
static void probes_check_pref(ProbeRun* pr, const GPT* model) {
    int mask[PB * PT] = {0}, chosen[PB] = {1, 0, 1}, unit[PB] = {0, 1, 2};
    for (size_t b = 0; b < PB; b++)
        for (size_t t = 6; t < PT; t++) mask[b * PT + t] = 1;
    probe_pref_add(pr, model, mask, chosen, unit, PB, PT);
    probe_run_finish(pr);
    const ProbeStats* st = &pr->stats[model->config.num_layers];
    check(pr->pref.n == 18 && st->I_pref >= 0.0 && st->I_pref <= st->H + 1e-9 && st->I_pref_null >= 0.0 &&
              st->I_pref_null <= st->H + 1e-9,
          "probe_pref_add: 18 response positions, I_pref %.4f and its null %.4f in [0, H]", st->I_pref, st->I_pref_null);
}

// probes.csv rows (every hidden state and the mean, the set named), and probe_bins.safetensors: a
// bitwise round trip, and refusals of a truncated file, a non-finite point, an eps <= 0.
static void probes_check_files(const ProbeRun* pr, const int* tokens, const char* dir) {
    char err[512], path[512], path2[512];
    snprintf(path, sizeof path, "%s/probes.csv", dir);
    int rc1 = probe_csv_append(path, 0, "pretrain", "trajectory", pr, err, sizeof err);
    int rc2 = probe_csv_append(path, 10, "dpo", "final", pr, err, sizeof err);
    int rc3 = probe_csv_append(path, 10, "dpo", "bad,set", pr, err, sizeof err);
    size_t len = 0;
    char* csv = read_file(path, &len, err, sizeof err);
    int hdr = csv && strncmp(csv, PROBE_CSV_HEADER "\n", strlen(PROBE_CSV_HEADER) + 1) == 0;
    check(rc1 == 0 && rc2 == 0 && rc3 == -1 && hdr && csv && count_substr(csv, "\n") == 1 + 2 * 4 &&
              strstr(csv, "\n0,pretrain,trajectory,0,") && strstr(csv, "\n10,dpo,final,mean,"),
          "probes.csv: header once, 3 hidden states and the mean per probe step, the set named; a set with a comma "
          "refused");
    free(csv);
    snprintf(path2, sizeof path2, "%s/probe_bins.safetensors", dir);
    const ProbeBins* b = pr->bins;
    ProbeBins lb;
    int* tk = NULL;
    size_t S = 0, TT = 0, traj = 0;
    uint64_t ns = 0;
    int rc = probe_bins_save(path2, b, 77, tokens, PB, PT, 2, err, sizeof err);
    rc |= probe_bins_load(path2, &lb, &ns, &tk, &S, &TT, &traj, err, sizeof err);
    size_t nw = (size_t)b->seeds * b->n_bins * b->d;
    int same = rc == 0 && S == PB && TT == PT && traj == 2 && ns == 77 && lb.n_bins == b->n_bins && lb.d == b->d &&
               lb.seeds == b->seeds && lb.calibration == b->calibration &&
               memcmp(lb.eps, b->eps, (size_t)b->seeds * sizeof(float)) == 0 &&
               memcmp(lb.W, b->W, nw * sizeof(float)) == 0 && memcmp(tk, tokens, PB * PT * sizeof(int)) == 0;
    check(same, "probe_bins.safetensors: W [%d,%d,%d], eps [%d], tokens [3,12], calibration, null seed and sets round "
          "trip bitwise%s%s", b->seeds, b->n_bins, b->d, b->seeds, rc ? ": " : "", rc ? err : "");
    if (rc == 0) probe_bins_free(&lb);
    free(tk);
    char* whole = read_file(path2, &len, err, sizeof err);
    static const char* what[3] = {"truncated", "a non-finite point", "an eps of 0"};
    for (int k = 0; whole && k < 3; k++) {
        char* copy = malloc_check(len);
        memcpy(copy, whole, len);
        uint64_t hl;
        memcpy(&hl, copy, 8);
        float bad = k == 1 ? NAN : 0.0f;
        if (k == 1) memcpy(copy + 8 + hl + 4 * 5, &bad, 4);   // W[0][0][5]
        if (k == 2) memcpy(copy + 8 + hl + 4 * nw, &bad, 4);  // eps[0]
        int wr = write_bytes(path2, copy, k == 0 ? 100 : len);
        free(copy);
        rc = probe_bins_load(path2, &lb, NULL, NULL, NULL, NULL, NULL, err, sizeof err);
        check(wr == 0 && rc == -1 && strstr(err, path2), "bins file with %s refused: %s", what[k], err);
    }
    free(whole);
    remove(path);
    remove(path2);
}

// ----------------------------------------------------------------------------
// Width invariance: the same 16-dimensional token code embedded isometrically in widths 32..1024
// (wte = code · Qᵀ with orthonormal columns Q, no position embedding, blocks whose projections are
// zero: every hidden state is the embedding). Layer 0's H, I_in1 and I_out1 should not depend on
// the width.

enum { WK = 16, WV = 64, WS = 12, WT = 32, WN = 6 };
static const int WIDTHS[WN] = {32, 64, 128, 256, 512, 1024};

// The GPT of width C holding code (V, WK) through Q (C, WK), column-major: Q[k*C + c].
static void isometric_model(GPT* model, int C, const float* code, const float* Q) {
    GPTConfig cfg = {.max_seq_len = WT, .vocab_size = WV, .num_layers = 1, .num_heads = 1, .channels = C};
    gpt_build(model, cfg, 1);
    ParameterTensors* p = &model->params;
    for (int v = 0; v < WV; v++)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int k = 0; k < WK; k++) s += (double)code[v * WK + k] * Q[(size_t)k * C + c];
            p->wte[(size_t)v * C + c] = (float)s;
        }
    memset(p->wpe, 0, (size_t)WT * C * sizeof(float));
    memset(p->attprojw, 0, (size_t)C * C * sizeof(float));
    memset(p->attprojb, 0, (size_t)C * sizeof(float));
    memset(p->fcprojw, 0, (size_t)4 * C * C * sizeof(float));
    memset(p->fcprojb, 0, (size_t)C * sizeof(float));
}

// Random orthonormal columns Q (C, WK) by Gram-Schmidt on gaussian vectors, or the first WK axes.
static void orthonormal_columns(float* Q, int C, uint64_t* rng, int axes) {
    double* q = malloc_check((size_t)WK * C * sizeof(double));
    for (int k = 0; k < WK; k++) {
        double* col = q + (size_t)k * C;
        for (int c = 0; c < C; c++) col[c] = axes ? (c == k) : random_normal(rng);
        for (int j = 0; j < k; j++) {
            double dot = 0.0;
            for (int c = 0; c < C; c++) dot += col[c] * q[(size_t)j * C + c];
            for (int c = 0; c < C; c++) col[c] -= dot * q[(size_t)j * C + c];
        }
        double nn = 0.0;
        for (int c = 0; c < C; c++) nn += col[c] * col[c];
        for (int c = 0; c < C; c++) col[c] /= sqrt(nn);
        for (int c = 0; c < C; c++) Q[(size_t)k * C + c] = (float)col[c];
    }
    free(q);
}

// Layer 0's H, I_in1, I_out1 at each width (vals[w][3]), the mean over chunks x seeds draws (the
// chunks use bins seeds 0, 1, ..., to bound the memory); axes: Q the first WK axes (else random).
static void width_values(double vals[WN][3], ProbeCalibration cal, int seeds, int chunks, int axes,
                         const float* code, const int* tokens, uint64_t* rng) {
    for (int w = 0; w < WN; w++) {
        int C = WIDTHS[w];
        float* Q = malloc_check((size_t)WK * C * sizeof(float));
        orthonormal_columns(Q, C, rng, axes);
        GPT model;
        isometric_model(&model, C, code, Q);
        gpt_forward_hidden(&model, tokens, WS, WT);
        vals[w][0] = vals[w][1] = vals[w][2] = 0.0;
        for (int c = 0; c < chunks; c++) {
            ProbeBins pb;
            probe_bins_init(&pb, C, 100, seeds, cal, (uint64_t)c);
            ProbeRun pr;
            probe_run_init(&pr, &pb, 1, 5);
            probe_layers_add(&pr, &model, tokens, WS, WT);
            probe_run_finish(&pr);
            vals[w][0] += pr.stats[0].H / chunks;
            vals[w][1] += pr.stats[0].I_in[0] / chunks;
            vals[w][2] += pr.stats[0].I_out[0] / chunks;
            probe_run_free(&pr);
            probe_bins_free(&pb);
        }
        gpt_free(&model);
        free(Q);
    }
}

// The largest spread across widths of H, I_in1 and I_out1.
static double width_spread(double vals[WN][3]) {
    double worst = 0.0;
    for (int k = 0; k < 3; k++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int w = 0; w < WN; w++) lo = fmin(lo, vals[w][k]), hi = fmax(hi, vals[w][k]);
        worst = fmax(worst, hi - lo);
    }
    return worst;
}

static void probes_check_width(uint64_t* rng) {
    float code[WV * WK];
    for (int i = 0; i < WV * WK; i++) code[i] = random_normal(rng);
    int tokens[WS * WT];
    for (int i = 0; i < WS * WT; i++) tokens[i] = (int)(random_u32(rng) % (i % 3 ? 12 : WV)); // repeats, so labels count
    double v[WN][3];
    // axis-aligned: gaussian points drawn coordinate-major see the same first 16 coordinates at every
    // width, so one draw must give the same values (float rounding aside); the others cannot
    width_values(v, PROBE_GAUSSIAN, 1, 1, 1, code, tokens, rng);
    double g = width_spread(v);
    width_values(v, PROBE_FIND_EPS, 1, 1, 1, code, tokens, rng);
    double f = width_spread(v);
    width_values(v, PROBE_LEADING_ORDER, 1, 1, 1, code, tokens, rng);
    double lo = width_spread(v);
    check(g < 1e-5 && f > 0.005 && lo > 0.005,
          "width invariance, code of 16 dims on the first axes of widths 32..1024, one draw: spread of layer-0 H, "
          "I_in1, I_out1 gaussian %.1e (tol 1e-5); find_eps %.4f and leading_order %.4f (must exceed 0.005: the test "
          "can fail)", g, f, lo);
    // random orthonormal embeddings: invariant in distribution only, so averaged over 512 draws (one
    // draw's sd here is about 0.03 for H)
    width_values(v, PROBE_GAUSSIAN, 128, 4, 0, code, tokens, rng);
    double r = width_spread(v);
    check(r < 0.005, "width invariance, random orthonormal embeddings at widths 32..1024, mean of 512 draws: spread of "
          "layer-0 H, I_in1, I_out1 %.4f (tol 0.005)", r);
}

// ----------------------------------------------------------------------------
// The SVG figures

// Writes a plausible probes.csv / train.csv / baselines.csv / dpo.csv (7 hidden states and the
// mean, 31 probe steps, a DPO segment of 6, a final row per stage) into dir: complexity rises
// then falls in deeper layers while expressivity rises, as in the picture of training.
static void write_probe_row(FILE* f, int step, const char* stage, const char* set, int layer, double in, double out,
                            double pref) {
    char lay[16];
    if (layer < 0) snprintf(lay, sizeof lay, "mean");
    else snprintf(lay, sizeof lay, "%d", layer);
    double ctx = in + 0.12;
    fprintf(f, "%d,%s,%s,%s,3648,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,", step, stage, set, lay, in + 0.4,
            in, in + 0.05, in + 0.08, in + 0.1, out, out + 0.05, out + 0.08, out + 0.1, ctx);
    if (pref >= 0) fprintf(f, "%.6f", pref);
    fprintf(f, ",%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,", out / in, 0.3 * in, 0.6 * in, 0.8 * in, 0.9 * in,
            0.3 * out, 0.6 * out, 0.8 * out, 0.9 * out);
    if (pref >= 0) fprintf(f, "%.6f", 0.2 * pref);
    fprintf(f, ",0.01,0.012,0.01,0.01,0.01,0.011,0.01,0.01,0.01,0.01,\n");
}

static void write_synthetic_csvs(const char* dir) {
    char path[512];
    uint64_t rng = 42;
    snprintf(path, sizeof path, "%s/probes.csv", dir);
    FILE* f = fopen_check(path, "w");
    fprintf(f, "%s\n", PROBE_CSV_HEADER);
    const int L = 7, S = 31, D = 6;
    double last_in[7], last_out[7];
    for (int s = 0; s < S; s++) {
        double u = (double)s / (S - 1), min = 0, mout = 0;
        for (int l = 0; l < L; l++) {
            double dl = (double)l / (L - 1);
            double in = 0.35 + 0.1 * (1 - dl) + 0.35 * (1 - exp(-u / 0.06)) - 0.3 * dl * u + 0.01 * (random_f32(&rng) - 0.5f);
            double out = 0.04 + (0.15 + 0.3 * dl) * (1 - exp(-u / 0.25)) + 0.01 * (random_f32(&rng) - 0.5f);
            last_in[l] = in, last_out[l] = out;
            write_probe_row(f, s * 100, "pretrain", "trajectory", l, in, out, -1);
            if (l > 0) min += in / (L - 1), mout += out / (L - 1);
        }
        write_probe_row(f, s * 100, "pretrain", "trajectory", -1, min, mout, -1);
    }
    for (int l = 0; l < L; l++) write_probe_row(f, 3000, "pretrain", "final", l, last_in[l] - 0.02, last_out[l] - 0.01, -1);
    for (int s = 0; s < D; s++) {
        double u = (double)(s + 1) / D;
        for (int l = 0; l < L; l++) {
            double dl = (double)l / (L - 1);
            double pref = 0.005 + (0.01 + 0.06 * dl) * u + 0.003 * random_f32(&rng);
            write_probe_row(f, s * 10, "dpo", "trajectory", l, last_in[l] - 0.03 * u * (0.5 + dl),
                            last_out[l] - 0.015 * u * dl, pref);
        }
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/train.csv", dir);
    f = fopen_check(path, "w");
    fprintf(f, "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s\n");
    for (int s = 0; s <= 3000; s += 10) {
        double loss = 2.0 + 4.8 * exp(-s / 400.0) + 0.08 * (random_f32(&rng) - 0.5f);
        if (s % 250 == 0) fprintf(f, "%d,pretrain,%.5f,%.5f,0.0006,1.2,80.0,50000\n", s, loss, loss + 0.08 + s * 2e-5);
        else fprintf(f, "%d,pretrain,%.5f,,0.0006,1.2,80.0,50000\n", s, loss);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/baselines.csv", dir);
    f = fopen_check(path, "w");
    fprintf(f, "model,val_loss_nats_per_token\nunigram,5.59\nbigram,3.45\ntrigram,3.39\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/dpo.csv", dir);
    f = fopen_check(path, "w");
    fprintf(f, "step,loss,rewards_chosen,rewards_rejected,margin,accuracy,val_accuracy,lr\n");
    for (int s = 0; s <= 50; s++) {
        double c = 0.4 * (1 - exp(-s / 15.0)) + 0.03 * (random_f32(&rng) - 0.5f);
        double r = -1.2 * (1 - exp(-s / 12.0)) + 0.03 * (random_f32(&rng) - 0.5f);
        fprintf(f, "%d,%.5f,%.5f,%.5f,%.5f,%.3f,%s,1e-5\n", s, log1p(exp(-(c - r))), c, r, c - r, 0.5 + 0.4 * s / 50.0,
                s % 10 == 0 ? "0.8" : "");
    }
    fclose(f);
}

// Checks that path is a whole SVG document with `want` occurrences of marker; returns 1 if so.
static int svg_well_formed(const char* path, const char* marker_text, size_t want, size_t* got) {
    size_t len = 0;
    char* s = slurp(path, &len);
    if (!s) return 0;
    int ok = strncmp(s, "<svg", 4) == 0 && len > 7 && strcmp(s + len - 7, "</svg>\n") == 0;
    *got = count_substr(s, marker_text);
    ok &= *got == want;
    ok &= count_substr(s, "nan") == 0 && count_substr(s, "inf ") == 0 && count_substr(s, "inf\"") == 0;
    ok &= count_substr(s, "<") == count_substr(s, ">"); // every tag closed (no '>' or '<' in text)
    free(s);
    return ok;
}

// The three figures on the synthetic CSVs (7 layers and the mean, 31 probe steps, DPO segment,
// final rows), null-corrected and raw, and probe_plots_write, which draws them all in the folder.
static void probes_check_figures(const char* dir) {
    char err[512], pc[512], tc[512], bc[512], dc[512], svg[3][512];
    write_synthetic_csvs(dir);
    snprintf(pc, sizeof pc, "%s/probes.csv", dir);
    snprintf(tc, sizeof tc, "%s/train.csv", dir);
    snprintf(bc, sizeof bc, "%s/baselines.csv", dir);
    snprintf(dc, sizeof dc, "%s/dpo.csv", dir);
    snprintf(svg[0], sizeof svg[0], "%s/info_plane.svg", dir);
    snprintf(svg[1], sizeof svg[1], "%s/probes.svg", dir);
    snprintf(svg[2], sizeof svg[2], "%s/preference.svg", dir);
    PlotOptions corrected = {.corrected = 1}, raw = {0};
    size_t g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0;
    int r1 = probe_plot_info_plane(pc, svg[0], &corrected, err, sizeof err);
    int w1 = svg_well_formed(svg[0], "class=\"layer-traj\"", 2 * 8, &g1) &&
             svg_well_formed(svg[0], "class=\"dpo-traj\"", 2 * 7, &g2) &&
             svg_well_formed(svg[0], "class=\"bound\"", 2, &g3);
    check(r1 == 0 && w1, "info_plane.svg: well formed, two planes with %zu trajectories (7 layers and the mean), %zu DPO "
          "segments, %zu diagonal bounds (want 16, 14, 2)", g1, g2, g3);
    int r2 = probe_plot_curves(pc, tc, bc, svg[1], &corrected, err, sizeof err);
    int w2 = svg_well_formed(svg[1], "class=\"layer-curve\"", 5 * 8, &g4) && svg_well_formed(svg[1], "class=\"baseline\"", 3, &g5);
    check(r2 == 0 && w2, "probes.svg: well formed, %zu layer curves (want 5 x 8), %zu n-gram baselines (want 3)", g4, g5);
    int r2r = probe_plot_curves(pc, tc, bc, svg[1], &raw, err, sizeof err);
    int w2r = svg_well_formed(svg[1], "class=\"null-curve\"", 2 * 7, &g6);
    check(r2r == 0 && w2r, "probes.svg raw: the nulls of I_in1 and I_out1 dotted beside the values, %zu (want 2 x 7)", g6);
    int r3 = probe_plot_preference(pc, dc, svg[2], &corrected, err, sizeof err);
    int w3 = svg_well_formed(svg[2], "class=\"layer-curve\"", 7, &g7);
    check(r3 == 0 && w3, "preference.svg: well formed, %zu I_pref curves (want 7)", g7);
    for (int i = 0; i < 3; i++) remove(svg[i]);
    int rw = probe_plots_write(dir, &corrected, err, sizeof err);
    int all = 1;
    for (int i = 0; i < 3; i++) all &= access(svg[i], F_OK) == 0;
    check(rw == 0 && all, "probe_plots_write: info_plane.svg, probes.svg, preference.svg in the run folder%s%s",
          rw ? ": " : "", rw ? err : "");
}

// Bad inputs to the figures: each refused with the file named, and no SVG written.
static void probes_check_bad_csvs(const char* dir) {
    static const char* bad[5] = {"", PROBE_CSV_HEADER "\n", PROBE_CSV_HEADER "\n0,pretrain,trajectory,0,10,0.5,0.4\n",
                                 PROBE_CSV_HEADER "\n0,pretrain,trajectory,0,10,0.5,abc" ",0.1,0.1,0.1,0.1,0.1,0.1,0.1,"
                                 "0.1,,1,,,,,,,,,,,,,,,,,,,,\n",
                                 PROBE_CSV_HEADER "\n0,pretrain,trajectory,x,10,0.5,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,"
                                 ",1,,,,,,,,,,,,,,,,,,,,\n"};
    static const char* what[5] = {"empty", "header only", "short row", "non-number", "bad layer"};
    char err[512], bp[512], bs[512], tc[512];
    snprintf(bp, sizeof bp, "%s/bad.csv", dir);
    snprintf(bs, sizeof bs, "%s/bad.svg", dir);
    snprintf(tc, sizeof tc, "%s/train.csv", dir);
    PlotOptions o = {.corrected = 1};
    for (int i = 0; i < 5; i++) {
        write_bytes(bp, bad[i], strlen(bad[i]));
        int rr = probe_plot_info_plane(bp, bs, &o, err, sizeof err);
        int exists = access(bs, F_OK) == 0;
        check(rr == -1 && !exists && strstr(err, bp), "malformed probes.csv (%s) refused: %s", what[i], err);
    }
    int rm = probe_plot_curves("/nonexistent/probes.csv", tc, NULL, bs, &o, err, sizeof err);
    check(rm == -1 && strstr(err, "/nonexistent/probes.csv"), "missing probes.csv refused: %s", err);
    remove(bp);
}

// The small GPT's checks, then the files and figures in a temporary folder (kept when the
// environment sets PROBES_KEEP_SVG).
static void probes_check_model(uint64_t* rng) {
    GPTConfig cfg = {.max_seq_len = 16, .vocab_size = 40, .num_layers = 2, .num_heads = 2, .channels = 16};
    int tokens[PB * PT];
    for (size_t i = 0; i < PB * PT; i++) tokens[i] = (int)(random_u32(rng) % 6);
    GPT model;
    gpt_build(&model, cfg, 1);
    gpt_forward_hidden(&model, tokens, PB, PT);
    ProbeBins pb;
    probe_bins_init(&pb, cfg.channels, 20, PK, PROBE_GAUSSIAN, 0);
    ProbeRun pr;
    probe_run_init(&pr, &pb, cfg.num_layers, 3);
    probe_layers_add(&pr, &model, tokens, PB, PT);
    probe_run_finish(&pr);
    probes_check_layers(&pr, &model, tokens);
    probes_check_pref(&pr, &model);
    char dir[] = "/tmp/forgetful_probes_XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "mkdtemp %s failed", dir);
    } else {
        probes_check_files(&pr, tokens, dir);
        probes_check_figures(dir);
        probes_check_bad_csvs(dir);
        if (getenv("PROBES_KEEP_SVG")) printf("     figures kept in %s\n", dir);
        else rm_tree(dir);
    }
    probe_run_free(&pr);
    probe_bins_free(&pb);
    gpt_free(&model);
}

// Largest |a - b| over the values (and nulls, sds) of n rows of statistics; NAN pairs count as equal.
static double stats_max_diff(const ProbeStats* a, const ProbeStats* b, size_t n) {
    double m = 0.0;
    for (size_t r = 0; r < n; r++) {
        const ProbeStats *x = &a[r], *y = &b[r];
        double v[2][3 + 5 * PROBE_NGRAM];
        for (int k = 0; k < 2; k++) {
            const ProbeStats* s = k ? y : x;
            double* o = v[k];
            *o++ = s->H, *o++ = s->I_ctx, *o++ = s->H_sd;
            for (int g = 0; g < PROBE_NGRAM; g++)
                *o++ = s->I_in[g], *o++ = s->I_out[g], *o++ = s->I_in_null[g], *o++ = s->I_out_null[g],
                *o++ = s->I_in_sd[g];
        }
        for (size_t i = 0; i < sizeof v[0] / sizeof v[0][0]; i++)
            if (!(isnan(v[0][i]) && isnan(v[1][i])))
                m = fmax(m, isnan(v[0][i] - v[1][i]) ? INFINITY : fabs(v[0][i] - v[1][i]));
        if (x->positions != y->positions) m = INFINITY;
    }
    return m;
}

// A probe step that takes some sequences' hidden states from another pass's forwards
// (probes_begin_sharing + probes_take, as the val-loss evaluation does) gives the same statistics
// bit for bit as one that forwards them all itself, at a stage's end (both sets) and mid-stage
// (the trajectory set): the other pass forwards full logits in batches of 2, the probes in 3.
static void probes_check_sharing(uint64_t* rng) {
    enum { T = 16, NW = 12, SHARED = 7 };
    GPTConfig cfg = {.max_seq_len = T, .vocab_size = 40, .num_layers = 2, .num_heads = 2, .channels = 16};
    int val[NW * T + 1];
    for (size_t i = 0; i < sizeof val / sizeof *val; i++) val[i] = (int)(random_u32(rng) % 9);
    GPT model, other; // other's step in between leaves other rows in the buffers: a row not
    gpt_build(&model, cfg, 1); // filled again would show
    gpt_build(&other, cfg, 2);
    char dir[] = "/tmp/forgetful_share_XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "mkdtemp %s failed", dir);
        gpt_free(&model);
        gpt_free(&other);
        return;
    }
    ProbeSettings s = {.n_bins = 20, .seeds = 2, .calibration = PROBE_GAUSSIAN, .traj_seqs = 4, .final_seqs = 10};
    Probes p;
    probes_init(&p, dir, val, sizeof val / sizeof *val, &cfg, T, 3, 1, &s, 0);
    const size_t ns = (size_t)cfg.num_layers + 2; // states 0..L and the mean
    ProbeStats want[2][ns], got[2][ns];
    int same = 1;
    double diff = 0.0;
    size_t shared[2];
    for (int with_final = 1; with_final >= 0; with_final--) {
        probes_end(&p, 0, "pretrain", with_final, probes_begin(&p, &model, with_final));
        memcpy(want[0], p.traj.stats, sizeof want[0]);
        if (with_final) memcpy(want[1], p.final.stats, sizeof want[1]);
        probes_end(&p, 0, "pretrain", 1, probes_begin(&p, &other, 1));
        double t0 = probes_begin_sharing(&p, &model, with_final, val, SHARED);
        shared[with_final] = p.shared;
        for (size_t w = 0; w < SHARED; w += 2) {
            size_t n = SHARED - w < 2 ? SHARED - w : 2;
            gpt_forward(&model, val + w * T, NULL, n, T);
            probes_take(&p, &model, w, n);
        }
        probes_end(&p, 1, "pretrain", with_final, t0);
        memcpy(got[0], p.traj.stats, sizeof got[0]);
        if (with_final) memcpy(got[1], p.final.stats, sizeof got[1]);
        same &= memcmp(want[0], got[0], sizeof want[0]) == 0;
        diff = fmax(diff, stats_max_diff(want[0], got[0], ns));
        if (with_final) same &= memcmp(want[1], got[1], sizeof want[1]) == 0;
        if (with_final) diff = fmax(diff, stats_max_diff(want[1], got[1], ns));
    }
    check(same && shared[1] == SHARED && shared[0] == 4,
          "probes sharing another pass's forwards: %zu of 10 sequences at a stage's end, %zu of 4 mid-stage: both "
          "sets' statistics vs forwarding them all, max diff %.3g (want 0, bit for bit)", shared[1], shared[0], diff);
    probes_free(&p);
    gpt_free(&model);
    gpt_free(&other);
    rm_tree(dir);
}

// ----------------------------------------------------------------------------

void test_probes(void) {
    probes_check_fixture();
    probes_check_bins();
    probes_check_log();
    ProbeBins pb;
    probe_bins_init(&pb, PD, PNB, 1, PROBE_GAUSSIAN, 0);
    uint64_t rng = 7; // one stream through the closed forms, the small GPT's tokens, the widths
    probes_check_identical(&pb, &rng);
    probes_check_independent(&pb, &rng);
    probes_check_one_to_one(&pb, &rng);
    probe_bins_free(&pb);
    probes_check_model(&rng);
    probes_check_sharing(&rng);
    probes_check_width(&rng);
}
