// tests/probes.c: the soft-entropy probes of probes.c. The temperature eps and H, I against the
// numpy/scipy fixture of dev/reference_probes.py, closed forms (identical vectors, independent
// labels, one-to-one labels), every hidden state of a small GPT with n-gram labels built by hand,
// probes.csv and probe_bins.safetensors, and the SVG figures on synthetic CSVs. The Information
// Bottleneck bound is tests/ib.c.
#include "test.h"

// One estimator case of the fixture (see dev/reference_probes.py's docstring for the layout).
typedef struct {
    int N, d, n_bins, K;
    float eps;
    float *W, *z;
    int64_t* labels;
    double H, I[8];
} ProbeCase;

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

// Soft entropy of N vectors under labels (N, K), added in two batches to exercise streaming.
static SoftEntropy* probe_measure(const ProbeBins* pb, const float* z, const int64_t* labels, int N, int K) {
    float* p = malloc_check((size_t)N * pb->n_bins * sizeof(float));
    probe_assign(pb, z, (size_t)N, p);
    SoftEntropy* se = soft_entropy_new(pb->n_bins, K);
    int half = N / 3;
    soft_entropy_add(se, p, (size_t)half, labels);
    soft_entropy_add(se, p + (size_t)half * pb->n_bins, (size_t)(N - half), labels ? labels + (size_t)half * K : NULL);
    free(p);
    return se;
}

static size_t count_substr(const char* s, const char* sub) {
    size_t n = 0;
    for (const char* q = strstr(s, sub); q; q = strstr(q + 1, sub)) n++;
    return n;
}

// ----------------------------------------------------------------------------
// The numpy/scipy fixture

// Reads the next "case" record at *cur into pc (arrays malloc'd); 1 if it is well formed.
static int probes_read_case(char** cur, ProbeCase* pc) {
    memset(pc, 0, sizeof *pc);
    if (!fixture_word(cur, "case")) return 0;
    pc->N = fixture_int(cur), pc->d = fixture_int(cur);
    pc->n_bins = fixture_int(cur), pc->K = fixture_int(cur);
    if (pc->N < 1 || pc->d < 1 || pc->n_bins < 1 || pc->K < 1 || pc->K > 8 || !fixture_word(cur, "eps")) return 0;
    pc->eps = (float)fixture_num(cur);
    pc->W = malloc_check((size_t)pc->n_bins * pc->d * sizeof(float));
    pc->z = malloc_check((size_t)pc->N * pc->d * sizeof(float));
    pc->labels = malloc_check((size_t)pc->N * pc->K * sizeof(int64_t));
    fixture_word(cur, "W");
    for (int i = 0; i < pc->n_bins * pc->d; i++) pc->W[i] = (float)fixture_num(cur);
    fixture_word(cur, "z");
    for (int i = 0; i < pc->N * pc->d; i++) pc->z[i] = (float)fixture_num(cur);
    fixture_word(cur, "labels");
    for (int i = 0; i < pc->N * pc->K; i++) pc->labels[i] = strtoll(fixture_word(cur, NULL), NULL, 10);
    fixture_word(cur, "H");
    pc->H = fixture_num(cur);
    fixture_word(cur, "I");
    for (int k = 0; k < pc->K; k++) pc->I[k] = fixture_num(cur);
    return fixture_word(cur, "end") != NULL;
}

// eps vs the scipy brentq fixture, all 12 (d, n_bins) pairs; H and I vs the numpy reference on
// random z, W, labels.
static void probes_check_fixture(void) {
    char err[512];
    size_t flen = 0;
    char* fx = read_file("data/fixtures/probes_reference.txt", &flen, err, sizeof err);
    if (!fx) {
        skip("probes fixture: %s (run make fixtures)", err);
        return;
    }
    char* cur = fx;
    int npairs = fixture_word(&cur, "eps") ? fixture_int(&cur) : 0;
    double maxrel = 0.0;
    for (int i = 0; i < npairs; i++) {
        int d = fixture_int(&cur), nb = fixture_int(&cur);
        double want = fixture_num(&cur), got = probe_calibrate_eps(d, nb);
        maxrel = fmax(maxrel, fabs(got - want) / want);
    }
    check(npairs == 12 && maxrel < 1e-9, "eps = root of KL_lower(eps,d) = ln n_bins vs scipy brentq, %d pairs "
          "d in {64,128,384,768} x n_bins in {50,100,200}: max rel diff %.2e", npairs, maxrel);
    int ncases = fixture_word(&cur, "cases") ? fixture_int(&cur) : 0;
    for (int c = 0; c < ncases; c++) {
        ProbeCase pc;
        int well = probes_read_case(&cur, &pc);
        if (!pc.W) break;
        ProbeBins pb;
        probe_bins_init_from(&pb, pc.d, pc.n_bins, pc.W, pc.eps);
        SoftEntropy* se = probe_measure(&pb, pc.z, pc.labels, pc.N, pc.K);
        double dH = fabs(soft_entropy_H(se) - pc.H), dI = 0.0;
        for (int k = 0; k < pc.K; k++) dI = fmax(dI, fabs(soft_entropy_I(se, k) - pc.I[k]));
        check(well && dH < 1e-6 && dI < 1e-6,
              "H and I (%d labelings, incl. unlabelled rows) vs numpy, N=%d d=%d n_bins=%d: max diff H %.2e, "
              "I %.2e", pc.K, pc.N, pc.d, pc.n_bins, dH, dI);
        soft_entropy_free(se);
        probe_bins_free(&pb);
        free(pc.W);
        free(pc.z);
        free(pc.labels);
    }
    check(ncases == 2, "probes fixture holds 2 estimator cases (read %d)", ncases);
    free(fx);
}

// ----------------------------------------------------------------------------
// Closed forms, on bins drawn from a seed (d = 16, n_bins = 50); rng continues from one check to
// the next

enum { PD = 16, PNB = 50 };

// The bins: unit rows, and eps calibrated for (d, n_bins).
static void probes_check_bins(const ProbeBins* pb) {
    double wnorm = 0.0;
    for (int j = 0; j < PNB; j++) {
        double s = 0.0;
        for (int k = 0; k < PD; k++) s += (double)pb->W[j * PD + k] * pb->W[j * PD + k];
        wnorm = fmax(wnorm, fabs(sqrt(s) - 1.0));
    }
    check(wnorm < 1e-6 && fabs(pb->eps - probe_calibrate_eps(PD, PNB)) < 1e-7,
          "bins: %d unit rows from seed 0 (max |norm-1| %.1e), eps %.6f", PNB, wnorm, (double)pb->eps);
}

// Identical vectors: P(Z) is one softmax row, so H is that row's entropy; any I is 0.
static void probes_check_identical(const ProbeBins* pb, uint64_t* rng) {
    const int N = 300, d = PD;
    double row[PNB];
    float z0[PD];
    for (int k = 0; k < d; k++) z0[k] = random_normal(rng);
    float* z = malloc_check((size_t)N * d * sizeof(float));
    int64_t* lab = malloc_check((size_t)N * sizeof(int64_t));
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < d; k++) z[i * d + k] = z0[k] * (1.0f + (float)(i % 3)); // scale is normalised away
        lab[i] = i % 4;
    }
    double want = direct_row_entropy(z0, pb->W, d, PNB, pb->eps, row) / log((double)PNB);
    SoftEntropy* se = probe_measure(pb, z, lab, N, 1);
    double dH = fabs(soft_entropy_H(se) - want), I = soft_entropy_I(se, 0);
    check(dH < 1e-6 && fabs(I) < 1e-6,
          "identical vectors: H = entropy of one softmax row %.6f (diff %.2e), I(labels;Z) = %.1e", want, dH, I);
    soft_entropy_free(se);
    free(z);
    free(lab);
}

// Labels independent of z: the true I is 0; the plug-in estimate is biased upwards by about
// (K-1)(n_bins-1)/(2N) nats for hard bins (Miller-Madow), less for soft ones. Checks I below that
// bound, with the same labels permuted too.
static void probes_check_independent(const ProbeBins* pb, uint64_t* rng) {
    const int N = 6000, K = 4, d = PD, nb = PNB;
    float* z = malloc_check((size_t)N * d * sizeof(float));
    int64_t* lab = malloc_check((size_t)N * 2 * sizeof(int64_t));
    for (int i = 0; i < N * d; i++) z[i] = random_normal(rng);
    for (int i = 0; i < N; i++) lab[2 * i] = random_u32(rng) % K;
    for (int i = 0; i < N; i++) lab[2 * i + 1] = lab[2 * ((i * 7919) % N)]; // permuted: gcd(7919, N) = 1
    SoftEntropy* se = probe_measure(pb, z, lab, N, 2);
    double bound = (K - 1.0) * (nb - 1.0) / (2.0 * N) / log((double)nb);
    double I0 = soft_entropy_I(se, 0), I1 = soft_entropy_I(se, 1);
    check(I0 >= -1e-12 && I0 < bound && I1 >= -1e-12 && I1 < bound,
          "independent labels (K=%d, N=%d): I = %.5f, permuted %.5f, bound (K-1)(n_bins-1)/(2N ln n_bins) = %.5f",
          K, N, I0, I1, bound);
    soft_entropy_free(se);
    free(z);
    free(lab);
}

// z a one-to-one function of the label, well separated (z_x = bin direction x): P(Z|x) is exactly
// row x, so I = H(Z) − Σ P(x) h(row_x); the rows are sharp, so I is close to H. Labels are
// relabelled with large int64 keys: I must not depend on the key values.
static void probes_check_one_to_one(const ProbeBins* pb, uint64_t* rng) {
    const int N = 2000, K = 10, d = PD, nb = PNB;
    double row[PNB];
    float* z = malloc_check((size_t)N * d * sizeof(float));
    int64_t* lab = malloc_check((size_t)N * 2 * sizeof(int64_t));
    double hrow[10], cnt[10] = {0}, hcond = 0.0;
    for (int x = 0; x < K; x++) hrow[x] = direct_row_entropy(pb->W + (size_t)x * 5 * d, pb->W, d, nb, pb->eps, row);
    double* marg = calloc_check(nb, sizeof(double));
    for (int i = 0; i < N; i++) {
        int x = (int)(random_u32(rng) % K);
        memcpy(z + (size_t)i * d, pb->W + (size_t)x * 5 * d, d * sizeof(float));
        lab[2 * i] = x;
        lab[2 * i + 1] = ((int64_t)x << 40) ^ (INT64_C(0x5DEECE66D) * (x + 1));
        cnt[x] += 1;
    }
    for (int x = 0; x < K; x++) {
        direct_row_entropy(pb->W + (size_t)x * 5 * d, pb->W, d, nb, pb->eps, row);
        for (int j = 0; j < nb; j++) marg[j] += cnt[x] / N * row[j];
        hcond += cnt[x] / N * hrow[x];
    }
    double hz = 0.0;
    for (int j = 0; j < nb; j++) hz -= marg[j] > 0 ? marg[j] * log(marg[j]) : 0.0;
    double want = (hz - hcond) / log((double)nb);
    SoftEntropy* se = probe_measure(pb, z, lab, N, 2);
    double H = soft_entropy_H(se), I0 = soft_entropy_I(se, 0), I1 = soft_entropy_I(se, 1);
    check(fabs(I0 - want) < 1e-6 && fabs(I1 - I0) < 1e-12 && fabs(H - hz / log((double)nb)) < 1e-6 && I0 > 0.8 * H,
          "one-to-one labels: I = %.6f vs closed form H(Z) - sum P(x) h(row_x) = %.6f (diff %.2e), I/H = %.3f, "
          "relabelled diff %.1e", I0, want, fabs(I0 - want), I0 / H, fabs(I1 - I0));
    soft_entropy_free(se);
    free(marg);
    free(z);
    free(lab);
}

// ----------------------------------------------------------------------------
// A small GPT's hidden states (B3 T12, tokens in [0, 6)), probed through the ProbeRun API

enum { PB = 3, PT = 12 };

// probe_layers_add at every hidden state vs the same labels built by hand: positions p in
// [2, T-3), the past 1..3-grams (base-V digits: a different exact encoding) and the next 1..3-grams.
static void probes_check_layers(ProbeRun* pr, const GPT* model, const int* tokens) {
    GPTConfig cfg = model->config;
    size_t B = PB, T = PT, P = T - 5, N = B * P;
    double maxd = 0.0, mono = 0.0;
    float* z = malloc_check(N * cfg.channels * sizeof(float));
    int64_t* lab = malloc_check(N * 6 * sizeof(int64_t));
    for (int l = 0; l <= cfg.num_layers; l++) {
        const float* hs = gpt_hidden_state(model, l);
        size_t i = 0;
        for (size_t b = 0; b < B; b++)
            for (size_t p = 2; p + 3 < T; p++, i++) {
                memcpy(z + i * cfg.channels, hs + (b * T + p) * cfg.channels, cfg.channels * sizeof(float));
                const int* tb = tokens + b * T;
                int64_t V = cfg.vocab_size;
                lab[i * 6 + 0] = tb[p];
                lab[i * 6 + 1] = tb[p - 1] * V + tb[p];
                lab[i * 6 + 2] = (tb[p - 2] * V + tb[p - 1]) * V + tb[p];
                lab[i * 6 + 3] = tb[p + 1];
                lab[i * 6 + 4] = tb[p + 1] * V + tb[p + 2];
                lab[i * 6 + 5] = (tb[p + 1] * V + tb[p + 2]) * V + tb[p + 3];
            }
        SoftEntropy* se = probe_measure(&pr->bins, z, lab, (int)N, 6);
        ProbeStats st;
        probe_run_stats(pr, l, &st);
        double got[6] = {st.I_in[0], st.I_in[1], st.I_in[2], st.I_out[0], st.I_out[1], st.I_out[2]};
        maxd = fmax(maxd, fabs(st.H - soft_entropy_H(se)));
        for (int k = 0; k < 6; k++) maxd = fmax(maxd, fabs(got[k] - soft_entropy_I(se, k)));
        maxd = fmax(maxd, fabs(st.optimality - st.I_out[0] / st.I_in[0]));
        // n-grams refine (n-1)-grams, and H is concave, so the plug-in I can only grow with n
        for (int k = 0; k < 2; k++) mono = fmax(mono, fmax(got[k] - got[k + 1], got[3 + k] - got[4 + k]));
        soft_entropy_free(se);
    }
    check(maxd < 1e-9 && soft_entropy_count(pr->layers[0]) == N,
          "probe_layers_add: %zu positions p in [2,T-3) x %d hidden states, H, I_in1..3, I_out1..3 vs labels "
          "built by hand: max diff %.1e", N, cfg.num_layers + 1, maxd);
    check(mono <= 1e-12, "I_in1 <= I_in2 <= I_in3 and I_out1 <= I_out2 <= I_out3 at every layer (max violation %.1e)",
          mono);
    free(z);
    free(lab);
}

// I_pref: the response positions (t >= 6) labelled by the pair side.
static void probes_check_pref(ProbeRun* pr, const GPT* model) {
    int mask[PB * PT] = {0}, chosen[PB] = {1, 0, 1};
    for (size_t b = 0; b < PB; b++)
        for (size_t t = 6; t < PT; t++) mask[b * PT + t] = 1;
    probe_pref_add(pr, model, mask, chosen, PB, PT);
    ProbeStats st;
    probe_run_stats(pr, model->config.num_layers, &st);
    check(soft_entropy_count(pr->pref[0]) == 18 && st.I_pref >= 0.0 && st.I_pref <= st.H + 1e-9,
          "probe_pref_add: 18 response positions, I_pref %.4f in [0, H]", st.I_pref);
}

// probes.csv rows, and probe_bins.safetensors: a bitwise round trip, a truncated file refused.
static void probes_check_files(const ProbeRun* pr, const int* tokens, int C, const char* dir) {
    char err[512], path[512], path2[512];
    snprintf(path, sizeof path, "%s/probes.csv", dir);
    int rc1 = probe_csv_append(path, 0, "pretrain", pr, err, sizeof err);
    int rc2 = probe_csv_append(path, 10, "dpo", pr, err, sizeof err);
    size_t len = 0;
    char* csv = read_file(path, &len, err, sizeof err);
    int hdr = csv && strncmp(csv, PROBE_CSV_HEADER "\n", strlen(PROBE_CSV_HEADER) + 1) == 0;
    check(rc1 == 0 && rc2 == 0 && hdr && csv && count_substr(csv, "\n") == 1 + 2 * 3 &&
              count_substr(csv, PROBE_CSV_HEADER) == 1 && strstr(csv, "\n0,pretrain,0,") && strstr(csv, "\n10,dpo,2,"),
          "probes.csv: header once, 3 rows per probe step");
    free(csv);
    snprintf(path2, sizeof path2, "%s/probe_bins.safetensors", dir);
    ProbeBins lb;
    int* tk = NULL;
    size_t S = 0, TT = 0;
    int rc = probe_bins_save(path2, &pr->bins, tokens, PB, PT, err, sizeof err);
    rc |= probe_bins_load(path2, &lb, &tk, &S, &TT, err, sizeof err);
    int same = rc == 0 && S == PB && TT == PT && lb.n_bins == 20 && lb.d == C && lb.eps == pr->bins.eps &&
               memcmp(lb.W, pr->bins.W, 20 * (size_t)C * sizeof(float)) == 0 &&
               memcmp(tk, tokens, PB * PT * sizeof(int)) == 0;
    check(same, "probe_bins.safetensors: W [20,16] F32, eps [1] F32, tokens [3,12] I32 round trip bitwise%s%s",
          rc ? ": " : "", rc ? err : "");
    if (rc == 0) probe_bins_free(&lb);
    free(tk);
    char* whole = read_file(path2, &len, err, sizeof err);
    int trunc = whole && len > 100 && write_bytes(path2, whole, 100) == 0;
    free(whole);
    rc = probe_bins_load(path2, &lb, NULL, NULL, NULL, err, sizeof err);
    check(trunc && rc == -1 && strstr(err, path2), "truncated bins file refused: %s", err);
    remove(path);
    remove(path2);
}

// ----------------------------------------------------------------------------
// The SVG figures

// Writes a plausible probes.csv / train.csv / dpo.csv (7 hidden states, 31 probe steps, a DPO
// segment of 6) into dir: complexity rises then falls (compression) in deeper layers while
// expressivity rises, as in the information-plane picture of training.
static void write_synthetic_csvs(const char* dir) {
    char path[512];
    uint64_t rng = 42;
    snprintf(path, sizeof path, "%s/probes.csv", dir);
    FILE* f = fopen_check(path, "w");
    fprintf(f, "%s\n", PROBE_CSV_HEADER);
    const int L = 7, S = 31, D = 6;
    double last_in[7], last_out[7];
    for (int s = 0; s < S; s++) {
        double u = (double)s / (S - 1);
        for (int l = 0; l < L; l++) {
            double dl = (double)l / (L - 1);
            double nin = 0.01 * (random_f32(&rng) - 0.5f), nout = 0.01 * (random_f32(&rng) - 0.5f);
            double in = 0.35 + 0.1 * (1 - dl) + 0.35 * (1 - exp(-u / 0.06)) - 0.3 * dl * u + nin;
            double out = 0.04 + (0.15 + 0.3 * dl) * (1 - exp(-u / 0.25)) + nout;
            last_in[l] = in, last_out[l] = out;
            if (s == 5 && l == 3) // an unmeasured value: must leave a gap, not break the plot
                fprintf(f, "%d,pretrain,%d,%.6f,%.6f,%.6f,%.6f,,%.6f,%.6f,,\n", s * 100, l, in + 0.1, in,
                        in + 0.05, in + 0.08, out + 0.05, out + 0.08);
            else
                fprintf(f, "%d,pretrain,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,,%.6f\n", s * 100, l, in + 0.1, in,
                        in + 0.05, in + 0.08, out, out + 0.05, out + 0.08, out / in);
        }
    }
    for (int s = 0; s < D; s++) {
        double u = (double)(s + 1) / D;
        for (int l = 0; l < L; l++) {
            double dl = (double)l / (L - 1);
            double in = last_in[l] - 0.03 * u * (0.5 + dl), out = last_out[l] - 0.015 * u * dl;
            double pref = 0.005 + (0.01 + 0.06 * dl) * u + 0.003 * random_f32(&rng);
            fprintf(f, "%d,dpo,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", s * 10, l, in + 0.1, in, in + 0.05,
                    in + 0.08, out, out + 0.05, out + 0.08, pref, out / in);
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

// The three figures on the synthetic CSVs (7 layers, 31 probe steps, DPO segment), and
// probe_plots_write, which draws them all in the run folder.
static void probes_check_figures(const char* dir) {
    char err[512], pc[512], tc[512], dc[512], svg[3][512];
    write_synthetic_csvs(dir);
    snprintf(pc, sizeof pc, "%s/probes.csv", dir);
    snprintf(tc, sizeof tc, "%s/train.csv", dir);
    snprintf(dc, sizeof dc, "%s/dpo.csv", dir);
    snprintf(svg[0], sizeof svg[0], "%s/info_plane.svg", dir);
    snprintf(svg[1], sizeof svg[1], "%s/probes.svg", dir);
    snprintf(svg[2], sizeof svg[2], "%s/preference.svg", dir);
    size_t g1 = 0, g2 = 0, g3 = 0, g4 = 0;
    int r1 = probe_plot_info_plane(pc, svg[0], NULL, err, sizeof err);
    int w1 = svg_well_formed(svg[0], "class=\"layer-traj\"", 7, &g1) &&
             svg_well_formed(svg[0], "class=\"dpo-traj\"", 7, &g2);
    check(r1 == 0 && w1, "info_plane.svg: well formed, %zu layer trajectories + %zu DPO segments (want 7 + 7)", g1,
          g2);
    int r2 = probe_plot_curves(pc, tc, svg[1], err, sizeof err);
    int w2 = svg_well_formed(svg[1], "class=\"layer-curve\"", 4 * 7, &g3);
    check(r2 == 0 && w2, "probes.svg: well formed, %zu layer curves (want 4 x 7)", g3);
    int r3 = probe_plot_preference(pc, dc, svg[2], err, sizeof err);
    int w3 = svg_well_formed(svg[2], "class=\"layer-pref\"", 7, &g4);
    check(r3 == 0 && w3, "preference.svg: well formed, %zu I_pref curves (want 7)", g4);
    for (int i = 0; i < 3; i++) remove(svg[i]);
    int rw = probe_plots_write(dir, NULL, err, sizeof err);
    int all = 1;
    for (int i = 0; i < 3; i++) all &= access(svg[i], F_OK) == 0;
    check(rw == 0 && all, "probe_plots_write: info_plane.svg, probes.svg, preference.svg in the run folder%s%s",
          rw ? ": " : "", rw ? err : "");
}

// Bad inputs to the figures: each refused with the file named, and no SVG written.
static void probes_check_bad_csvs(const char* dir) {
    static const char* bad[4] = {"", PROBE_CSV_HEADER "\n", PROBE_CSV_HEADER "\n0,pretrain,0,0.5,0.4\n",
                                 PROBE_CSV_HEADER "\n0,pretrain,0,0.5,abc,0.1,0.1,0.1,0.1,0.1,,1\n"};
    static const char* what[4] = {"empty", "header only", "short row", "non-number"};
    char err[512], bp[512], bs[512], tc[512];
    snprintf(bp, sizeof bp, "%s/bad.csv", dir);
    snprintf(bs, sizeof bs, "%s/bad.svg", dir);
    snprintf(tc, sizeof tc, "%s/train.csv", dir);
    for (int i = 0; i < 4; i++) {
        write_bytes(bp, bad[i], strlen(bad[i]));
        int rr = probe_plot_info_plane(bp, bs, NULL, err, sizeof err);
        int exists = access(bs, F_OK) == 0;
        check(rr == -1 && !exists && strstr(err, bp), "malformed probes.csv (%s) refused: %s", what[i], err);
    }
    int rm = probe_plot_curves("/nonexistent/probes.csv", tc, bs, err, sizeof err);
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
    ProbeRun pr;
    probe_run_init(&pr, cfg.num_layers, cfg.channels, 20, 0);
    probe_layers_add(&pr, &model, tokens, PB, PT);
    probes_check_layers(&pr, &model, tokens);
    probes_check_pref(&pr, &model);
    char dir[] = "/tmp/forgetful_probes_XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "mkdtemp %s failed", dir);
    } else {
        probes_check_files(&pr, tokens, cfg.channels, dir);
        probes_check_figures(dir);
        probes_check_bad_csvs(dir);
        if (getenv("PROBES_KEEP_SVG")) printf("     figures kept in %s\n", dir);
        else rm_tree(dir);
    }
    probe_run_free(&pr);
    gpt_free(&model);
}

// ----------------------------------------------------------------------------

void test_probes(void) {
    probes_check_fixture();
    ProbeBins pb;
    probe_bins_init(&pb, PD, PNB, 0);
    probes_check_bins(&pb);
    uint64_t rng = 7; // one stream through the closed forms and the small GPT's tokens
    probes_check_identical(&pb, &rng);
    probes_check_independent(&pb, &rng);
    probes_check_one_to_one(&pb, &rng);
    probe_bins_free(&pb);
    probes_check_model(&rng);
}
