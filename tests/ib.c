// tests/ib.c: the Information Bottleneck bound (probes.h ib_*). The iteration against an
// independent dense numpy implementation (dev/reference_ib.py), joints from tokens against dense
// counts, closed forms (identity and constant encoders, merged sufficient statistics, beta -> 0,
// Y independent of X), the data-processing inequalities on random encoders, the sweep's curve,
// its CSV and its drawing on the info plane, and ./train --ib-bound end to end.
#include "test.h"

// Dense entropy and mutual information (nats) of a (nx, ny) table, written out directly as the
// definitions: an implementation independent of lib/ib.c's sparse one.
static void ib_dense_info(const double* pxy, int nx, int ny, double* hx, double* hy, double* ixy) {
    double total = 0.0;
    for (int i = 0; i < nx * ny; i++) total += pxy[i];
    *hx = *hy = *ixy = 0.0;
    for (int x = 0; x < nx; x++) {
        double px = 0.0;
        for (int y = 0; y < ny; y++) px += pxy[x * ny + y] / total;
        if (px > 0) *hx -= px * log(px);
    }
    for (int y = 0; y < ny; y++) {
        double py = 0.0;
        for (int x = 0; x < nx; x++) py += pxy[x * ny + y] / total;
        if (py > 0) *hy -= py * log(py);
    }
    for (int x = 0; x < nx; x++)
        for (int y = 0; y < ny; y++) {
            double p = pxy[x * ny + y] / total, px = 0.0, py = 0.0;
            if (p <= 0) continue;
            for (int k = 0; k < ny; k++) px += pxy[x * ny + k] / total;
            for (int k = 0; k < nx; k++) py += pxy[k * ny + y] / total;
            *ixy += p * log(p / (px * py));
        }
}

// Random (nx, ny) joint with some zeros (rows and columns kept non-empty), from rng.
static void ib_random_joint(double* pxy, int nx, int ny, uint64_t* rng) {
    for (int i = 0; i < nx * ny; i++) pxy[i] = random_f32(rng) < 0.3f ? 0.0 : -log(1.0 - (double)random_f32(rng));
    for (int x = 0; x < nx; x++) pxy[x * ny + (int)(random_u32(rng) % (uint32_t)ny)] += 0.5;
    for (int y = 0; y < ny; y++) pxy[(int)(random_u32(rng) % (uint32_t)nx) * ny + y] += 0.5;
}

// Normalises each of the nx rows of q (nx, nt) to sum 1.
static void ib_normalise_rows(double* q, int nx, int nt) {
    for (int x = 0; x < nx; x++) {
        double s = 0.0;
        for (int t = 0; t < nt; t++) s += q[x * nt + t];
        for (int t = 0; t < nt; t++) q[x * nt + t] /= s;
    }
}

// ----------------------------------------------------------------------------
// The numpy fixture: the same iteration from the same q0, K steps exactly, per beta and as a chain

// The records "solo" (each beta from q0) or "chain" (annealed, warm starts) at *cur: count betas
// of K iterations each, p(t|x) and both informations against numpy. 0 if a record is missing.
static int ib_check_fixture_pass(const IbJoint* j, char** cur, int pass, int count, int nt, int K, const double* q0) {
    const char* word = pass == 0 ? "solo" : "chain";
    int nx = j->nx, ok = 1;
    double* q = malloc_check((size_t)nx * nt * sizeof(double));
    double* qr = malloc_check((size_t)nx * nt * sizeof(double));
    double dq = 0.0, di = 0.0;
    memcpy(q, q0, (size_t)nx * nt * sizeof(double));
    for (int b = 0; b < count; b++) {
        if (!fixture_word(cur, word)) {
            check(0, "ib fixture: missing '%s' record %d", word, b);
            free(q), free(qr);
            return 0;
        }
        double beta = fixture_num(cur), rixt = fixture_num(cur), rity = fixture_num(cur);
        for (int i = 0; i < nx * nt; i++) qr[i] = fixture_num(cur);
        if (pass == 0) memcpy(q, q0, (size_t)nx * nt * sizeof(double));
        IbPoint pt;
        ib_iterate(j, nt, beta, q, K, 0.0, &pt);
        double dqb = 0.0;
        for (int i = 0; i < nx * nt; i++) dqb = fmax(dqb, fabs(q[i] - qr[i]));
        double dib = fmax(fabs(pt.I_XT - fmax(rixt, 0.0)), fabs(pt.I_TY - fmax(rity, 0.0)));
        printf("     %s beta %-6g I(X;T) %.6f I(T;Y) %.6f nats: |dq| %.1e, |dI| %.1e\n", word, beta, pt.I_XT,
               pt.I_TY, dqb, dib);
        dq = fmax(dq, dqb), di = fmax(di, dib);
        ok &= pt.iters == K;
    }
    check(dq < 1e-6 && di < 1e-6 && ok,
          "ib_iterate vs numpy (%s: %d betas, %d iterations each, %s): max |dp(t|x)| %.2e, max |dI| %.2e", word,
          count, K, pass == 0 ? "each from q0" : "annealed, warm starts", dq, di);
    free(q), free(qr);
    return 1;
}

static void ib_check_fixture(void) {
    char err[512];
    size_t flen;
    char* fx = read_file("data/fixtures/ib_reference.txt", &flen, err, sizeof err);
    if (!fx) {
        skip("ib fixture: %s (run make fixtures)", err);
        return;
    }
    char* cur = fx;
    int ok = fixture_word(&cur, "ib_reference") && fixture_num(&cur) == 1.0;
    int nx = fixture_int(&cur), ny = fixture_int(&cur), nt = fixture_int(&cur);
    int K = fixture_int(&cur), nb = fixture_int(&cur), nc = fixture_int(&cur);
    ok &= nx > 0 && nx <= 64 && ny > 0 && ny <= 64 && nt > 0 && nt <= 64 && K > 0 && nb > 0 && nb <= 32 &&
          nc > 0 && nc <= 32;
    if (!ok) {
        check(0, "ib fixture: bad header (run make fixtures)");
        free(fx);
        return;
    }
    double* pxy = malloc_check((size_t)nx * ny * sizeof(double));
    double* q0 = malloc_check((size_t)nx * nt * sizeof(double));
    ok &= fixture_word(&cur, "pxy") != NULL;
    for (int i = 0; i < nx * ny; i++) pxy[i] = fixture_num(&cur);
    ok &= fixture_word(&cur, "q0") != NULL;
    for (int i = 0; i < nx * nt; i++) q0[i] = fixture_num(&cur);
    ok &= fixture_word(&cur, "info") != NULL;
    double ref_hx = fixture_num(&cur), ref_hy = fixture_num(&cur), ref_ixy = fixture_num(&cur);
    IbJoint j;
    if (!ok || ib_joint_from_dense(&j, pxy, nx, ny, err, sizeof err) != 0) {
        check(0, "ib fixture: unreadable joint (%s)", ok ? err : "format");
    } else {
        size_t zeros = 0;
        for (int i = 0; i < nx * ny; i++) zeros += pxy[i] == 0.0;
        double dinfo = fmax(fabs(j.H_X - ref_hx), fmax(fabs(j.H_Y - ref_hy), fabs(j.I_XY - ref_ixy)));
        check(dinfo < 1e-12 && j.nnz == (size_t)(nx * ny) - zeros,
              "ib joint %dx%d (%zu zeros): H(X), H(Y), I(X;Y) vs numpy, max diff %.2e", nx, ny, zeros, dinfo);
        if (ib_check_fixture_pass(&j, &cur, 0, nb, nt, K, q0) && ib_check_fixture_pass(&j, &cur, 1, nc, nt, K, q0))
            check(fixture_word(&cur, "end") != NULL, "ib fixture: read to its end");
        ib_joint_free(&j);
    }
    free(q0), free(pxy), free(fx);
}

// Thread-count independence: the same iterations on 1 thread and on all, on a joint large enough
// to run threaded (1000 x 1000 at 25% density, |T| 100: 2.5e7 pair-bins).
static void ib_check_threads(void) {
#ifdef _OPENMP
    enum { BX = 1000, BY = 1000, BT = 100 };
    char err[512];
    uint64_t rng = 77;
    double* big = malloc_check((size_t)BX * BY * sizeof(double));
    for (int i = 0; i < BX * BY; i++) big[i] = random_f32(&rng) < 0.75f ? 0.0 : (double)random_f32(&rng);
    for (int x = 0; x < BX; x++) big[x * BY + x % BY] += 1.0;
    IbJoint jb;
    ib_joint_from_dense(&jb, big, BX, BY, err, sizeof err);
    double* qa = malloc_check((size_t)BX * BT * sizeof(double));
    double* qb = malloc_check((size_t)BX * BT * sizeof(double));
    for (int x = 0; x < BX; x++) {
        double s = 0.0;
        for (int t = 0; t < BT; t++) s += qa[x * BT + t] = 0.1 + (double)random_f32(&rng);
        for (int t = 0; t < BT; t++) qb[x * BT + t] = qa[x * BT + t] /= s;
    }
    int saved = omp_get_max_threads();
    IbPoint a, b;
    omp_set_num_threads(1);
    ib_iterate(&jb, BT, 5.0, qa, 3, 0.0, &a);
    omp_set_num_threads(saved > 1 ? saved : 2);
    ib_iterate(&jb, BT, 5.0, qb, 3, 0.0, &b);
    omp_set_num_threads(saved);
    double d = 0.0;
    for (int i = 0; i < BX * BT; i++) d = fmax(d, fabs(qa[i] - qb[i]));
    check(d == 0.0 && a.I_XT == b.I_XT && a.I_TY == b.I_TY,
          "ib_iterate (%zu pairs, |T| %d): 1 thread vs %d: max diff %.1e (want 0)", jb.nnz, BT, saved > 1 ? saved : 2,
          d);
    free(qb), free(qa), free(big);
    ib_joint_free(&jb);
#else
    skip("ib thread-count independence because OpenMP is off");
#endif
}

// ----------------------------------------------------------------------------
// Joints from tokens; rng continues from one check to the next

// ib_joint_from_tokens for n = 1, 2, 3 against dense counting of the same n-grams, a periodic
// sequence's closed form, and bad inputs refused with a message.
static void ib_check_joint_tokens(uint64_t* rng) {
    enum { N = 5000, V = 7 };
    char err[512];
    int* tok = malloc_check(N * sizeof(int));
    for (int i = 0; i < N; i++) tok[i] = (int)(random_u32(rng) % V) * 3; // ids 0, 3, ..., 18: not dense
    for (int n = 1; n <= 3; n++) {
        int nxd = 1;
        for (int g = 0; g < n; g++) nxd *= V;
        double* cnt = calloc_check((size_t)nxd * V, sizeof(double));
        for (int i = n - 1; i + 1 < N; i++) {
            int x = 0;
            for (int g = n - 1; g >= 0; g--) x = x * V + tok[i - g] / 3;
            cnt[x * V + tok[i + 1] / 3] += 1.0;
        }
        double hx, hy, ixy;
        ib_dense_info(cnt, nxd, V, &hx, &hy, &ixy);
        size_t seen = 0, pairs = 0;
        for (int x = 0; x < nxd; x++) {
            double r = 0.0;
            for (int y = 0; y < V; y++) r += cnt[x * V + y], pairs += cnt[x * V + y] > 0;
            seen += r > 0;
        }
        IbJoint j;
        int rc = ib_joint_from_tokens(&j, tok, N, n, err, sizeof err);
        double d = rc ? INFINITY : fmax(fabs(j.H_X - hx), fmax(fabs(j.H_Y - hy), fabs(j.I_XY - ixy)));
        double mass = 0.0, cmass = 0.0;
        if (!rc) {
            for (int x = 0; x < j.nx; x++) mass += j.px[x];
            for (size_t e = 0; e < j.nnz; e++) cmass += j.y_joint[e];
        }
        check(rc == 0 && (size_t)j.nx == seen && j.ny == V && j.nnz == pairs && fabs(mass - 1) < 1e-12 &&
                  fabs(cmass - 1) < 1e-12 && d < 1e-12,
              "ib_joint_from_tokens n=%d: |X| %d (want %zu), %zu pairs (want %zu), H(X) H(Y) I(X;Y) vs dense "
              "counts: max diff %.2e",
              n, rc ? -1 : j.nx, seen, rc ? 0 : j.nnz, pairs, d);
        if (!rc) ib_joint_free(&j);
        free(cnt);
    }
    // a periodic sequence: Y is a function of X, so I(X;Y) = H(Y) = H(X) = ln 5 (closed form)
    for (int i = 0; i < N; i++) tok[i] = i % 5;
    IbJoint j;
    int rc = ib_joint_from_tokens(&j, tok, N - 4, 1, err, sizeof err); // 4995 pairs, 999 of each x
    double d = rc ? INFINITY : fmax(fabs(j.I_XY - log(5.0)), fabs(j.H_X - log(5.0)));
    check(rc == 0 && d < 1e-6, "ib joint of 0,1,2,3,4,0,...: I(X;Y) = H(X) = ln 5, max diff %.2e", d);
    if (!rc) ib_joint_free(&j);
    int bad = 1;
    tok[10] = -1;
    bad &= ib_joint_from_tokens(&j, tok, N, 1, err, sizeof err) == -1 && strstr(err, "token 10");
    tok[10] = 1 << 21;
    bad &= ib_joint_from_tokens(&j, tok, N, 1, err, sizeof err) == -1 && strstr(err, "token 10");
    tok[10] = 0;
    bad &= ib_joint_from_tokens(&j, tok, N, 4, err, sizeof err) == -1 && strstr(err, "ngram");
    bad &= ib_joint_from_tokens(&j, tok, 2, 2, err, sizeof err) == -1 && strstr(err, "2 tokens");
    double neg[4] = {0.5, -0.1, 0.3, 0.3}, zrow[4] = {0.5, 0.5, 0.0, 0.0};
    bad &= ib_joint_from_dense(&j, neg, 2, 2, err, sizeof err) == -1 && strstr(err, "entry 1");
    bad &= ib_joint_from_dense(&j, zrow, 2, 2, err, sizeof err) == -1 && strstr(err, "row x=1");
    check(bad, "ib joints: negative ids, ids >= 2^21, n-gram 4, too few tokens, negative entry, empty row refused");
    free(tok);
}

// ----------------------------------------------------------------------------
// A random joint j of (NX, NY) = (10, 6), with H(X) hx and I(X;Y) ixy from ib_dense_info

enum { NX = 10, NY = 6 };

// ib_evaluate's closed forms: the identity encoder (|T| = |X|) gives I(X;T) = H(X) and
// I(T;Y) = I(X;Y); a constant one zero; merging two x with the same p(y|x) loses nothing about Y.
static void ib_check_evaluate(const IbJoint* j, const double* pxy, double hx, double ixy) {
    char err[512];
    double q[NX * NX] = {0};
    for (int x = 0; x < NX; x++) q[x * NX + x] = 1.0;
    double ixt, ity;
    ib_evaluate(j, NX, q, &ixt, &ity);
    double d = fmax(fabs(ixt - hx), fabs(ity - ixy));
    check(d < 1e-12, "ib_evaluate, identity encoder: I(X;T) = H(X), I(T;Y) = I(X;Y): max diff %.2e", d);
    for (int i = 0; i < NX * NX; i++) q[i] = 1.0 / NX;
    ib_evaluate(j, NX, q, &ixt, &ity);
    check(fabs(ixt) < 1e-14 && fabs(ity) < 1e-14, "ib_evaluate, constant encoder: I(X;T) %.1e, I(T;Y) %.1e (want 0)",
          ixt, ity);
    // a sufficient statistic
    double dup[(NX + 1) * NY];
    memcpy(dup, pxy, sizeof(double) * NX * NY);
    for (int y = 0; y < NY; y++) dup[NX * NY + y] = 0.5 * pxy[y], dup[y] *= 0.5; // row 0 split in two
    IbJoint jd;
    ib_joint_from_dense(&jd, dup, NX + 1, NY, err, sizeof err);
    double qm[(NX + 1) * NX] = {0};
    for (int x = 0; x < NX; x++) qm[x * NX + x] = 1.0;
    qm[NX * NX + 0] = 1.0; // the copy goes to row 0's bin
    ib_evaluate(&jd, NX, qm, &ixt, &ity);
    d = fmax(fabs(ity - ixy), fabs(ixt - hx));
    check(d < 1e-12 && jd.H_X > hx + 0.01,
          "ib_evaluate, merging two x with equal p(y|x): I(T;Y) = I(X;Y), I(X;T) = H(merged X) < H(X): max diff "
          "%.2e",
          d);
    ib_joint_free(&jd);
}

// Random encoders obey I(T;Y) <= I(X;T), I(T;Y) <= I(X;Y), I(X;T) <= min(H(X), ln |T|); beta -> 0:
// one step from any encoder gives p(t|x) = p(t), so I(X;T) = 0 exactly; small beta stays near 0.
static void ib_check_data_processing(const IbJoint* j, double hx, double ixy, uint64_t* rng) {
    double ixt, ity, worst = -INFINITY;
    for (int r = 0; r < 200; r++) {
        int nt = 2 + r % 12;
        double qr[NX * 13];
        for (int i = 0; i < NX * nt; i++) qr[i] = pow(random_f32(rng), 1.0 + (r % 5) * 3.0);
        ib_normalise_rows(qr, NX, nt);
        ib_evaluate(j, nt, qr, &ixt, &ity);
        worst = fmax(worst, fmax(ity - ixt, fmax(ity - ixy, ixt - fmin(hx, log((double)nt)))));
    }
    check(worst <= 1e-12, "ib data processing on 200 random encoders: max of I(T;Y)-I(X;T), I(T;Y)-I(X;Y), "
                          "I(X;T)-min(H(X), ln|T|) = %.2e (want <= 0)",
          worst);
    double q[NX * 5], q1[NX * 5];
    for (int i = 0; i < NX * 5; i++) q[i] = random_f32(rng) + 0.01f;
    ib_normalise_rows(q, NX, 5);
    IbPoint p0, p1;
    memcpy(q1, q, sizeof q1);
    ib_iterate(j, 5, 0.0, q, 1, 0.0, &p0);
    ib_iterate(j, 5, 0.01, q1, 500, 1e-12, &p1);
    check(p0.I_XT < 1e-14 && p1.I_XT < 1e-6 && p1.converged,
          "ib beta = 0: I(X;T) %.1e after one step (want 0); beta = 0.01: I(X;T) %.1e after %d iterations "
          "(want ~0)",
          p0.I_XT, p1.I_XT, p1.iters);
}

// ib_curve_write_csv (values / ln n_bins, under IB_CSV_HEADER) read back, the info-plane plot
// drawing it, and a write into a missing folder refused.
static void ib_check_curve_files(const IbCurve* cv, int n_bins) {
    char dir[] = "/tmp/forgetful_ib_XXXXXX", err[512];
    if (!mkdtemp(dir)) {
        check(0, "mkdtemp %s failed", dir);
        return;
    }
    char csv[256], pc[256], svg[256];
    snprintf(csv, sizeof csv, "%s/ib_bound.csv", dir);
    snprintf(pc, sizeof pc, "%s/probes.csv", dir);
    snprintf(svg, sizeof svg, "%s/info_plane.svg", dir);
    int wr = ib_curve_write_csv(csv, cv, err, sizeof err);
    size_t len = 0;
    char* text = wr ? NULL : read_file(csv, &len, err, sizeof err);
    int rows = 0, good = text && strncmp(text, IB_CSV_HEADER "\n", strlen(IB_CSV_HEADER) + 1) == 0;
    double dmax = 0.0;
    if (good) {
        char* line = strchr(text, '\n') + 1;
        for (; *line && rows < (int)cv->ncurve; rows++) {
            double a, b, be;
            if (sscanf(line, "%lf,%lf,%lf", &a, &b, &be) != 3) break;
            dmax = fmax(dmax, fmax(fabs(a - cv->curve[rows].I_XT / log((double)n_bins)),
                                   fabs(b - cv->curve[rows].I_TY / log((double)n_bins))));
            line = strchr(line, '\n');
            if (!line) break;
            line++;
        }
    }
    check(good && rows == (int)cv->ncurve && dmax < 1e-8,
          "ib_curve_write_csv: header '%s', %d rows (want %zu), values / ln n_bins: max diff %.1e", IB_CSV_HEADER,
          rows, cv->ncurve, dmax);
    free(text);
    FILE* f = fopen_check(pc, "w");
    fprintf(f, "%s\n0,pretrain,trajectory,0,100,0.9,0.2,0.3,0.4,0.45,0.1,0.2,0.3,0.35,0.5,,0.5,,,,,,,,,,,,,,,,,,,,\n"
               "10,pretrain,trajectory,0,100,0.8,0.5,0.6,0.7,0.75,0.3,0.4,0.5,0.55,0.8,,0.6,,,,,,,,,,,,,,,,,,,,\n",
            PROBE_CSV_HEADER);
    fclose(f);
    PlotOptions o = {.corrected = 0, .bound_csv = csv};
    int pr = probe_plot_info_plane(pc, svg, &o, err, sizeof err);
    char* s = pr ? NULL : read_file(svg, &len, err, sizeof err);
    check(s && strstr(s, "class=\"ib-curve\"") && strstr(s, "current-token encoder"),
          "info_plane.svg with --ib-bound's CSV draws the curve, named the IB curve of a current-token encoder%s%s",
          pr ? ": " : "", pr ? err : "");
    free(s);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/ib.csv", dir);
    int br = ib_curve_write_csv(bad, cv, err, sizeof err);
    check(br == -1 && strstr(err, bad), "ib_curve_write_csv into a missing folder refused: %s", err);
    rm_tree(dir);
}

// The sweep: |T| >= |X| reaches I(X;Y) at large beta; the curve starts at (0,0), increases, stays
// below both lines and dominates every solve; a large-beta solution is near-deterministic. Then
// its files, and n_bins 1 refused.
static void ib_check_sweep(const IbJoint* j, double hx, double ixy) {
    char err[512];
    IbConfig c;
    ib_config_default(&c);
    c.n_bins = NX + 2;
    c.num_betas = 25;
    c.beta_max = 1e4;
    c.max_iter = 2000;
    c.tol = 1e-10;
    IbCurve cv;
    if (ib_curve_compute(j, &c, &cv, err, sizeof err)) {
        check(0, "ib_curve_compute: %s", err);
    } else {
        const IbPoint* end = &cv.curve[cv.ncurve - 1];
        check(fabs(end->I_TY - ixy) < 1e-6 * ixy,
              "ib sweep, |T| %d >= |X| %d: I(T;Y) at beta %g is %.8f, I(X;Y) %.8f nats: rel diff %.1e", c.n_bins, NX,
              end->beta, end->I_TY, ixy, fabs(end->I_TY - ixy) / ixy);
        int mono = cv.curve[0].I_XT == 0.0 && cv.curve[0].I_TY == 0.0 && cv.ncurve >= 5;
        double over = -INFINITY;
        for (size_t k = 0; k < cv.ncurve; k++) {
            if (k) mono &= cv.curve[k].I_XT > cv.curve[k - 1].I_XT && cv.curve[k].I_TY > cv.curve[k - 1].I_TY;
            over = fmax(over, fmax(cv.curve[k].I_TY - cv.curve[k].I_XT, cv.curve[k].I_TY - ixy));
        }
        double dom = 0.0; // how far a solve lies above the envelope
        for (size_t s = 0; s < cv.nsolves; s++) {
            double best = 0.0;
            for (size_t k = 0; k < cv.ncurve; k++)
                if (cv.curve[k].I_XT <= cv.solves[s].I_XT) best = fmax(best, cv.curve[k].I_TY);
            dom = fmax(dom, cv.solves[s].I_TY - best);
        }
        check(mono && over <= 1e-12 && dom <= 1e-9,
              "ib curve: %zu points from (0,0), increasing in both; max of I(T;Y)-I(X;T), I(T;Y)-I(X;Y) %.1e "
              "(want <= 0); solves above the envelope by %.1e",
              cv.ncurve, over, dom);
        check(end->I_XT <= hx + 1e-12 && end->I_XT > hx - 0.05,
              "ib sweep end: I(X;T) %.6f <= H(X) %.6f nats, near it (hard clustering)", end->I_XT, hx);
        ib_check_curve_files(&cv, c.n_bins);
        ib_curve_free(&cv);
    }
    c.n_bins = 1;
    check(ib_curve_compute(j, &c, &cv, err, sizeof err) == -1 && strstr(err, "n_bins"),
          "ib_curve_compute refuses n_bins 1: %s", err);
}

// Y independent of X: no representation says anything about Y.
static void ib_check_independent(uint64_t* rng) {
    char err[512];
    double ind[NX * NY], a[NX], b[NY];
    for (int x = 0; x < NX; x++) a[x] = random_f32(rng) + 0.1;
    for (int y = 0; y < NY; y++) b[y] = random_f32(rng) + 0.1;
    for (int x = 0; x < NX; x++)
        for (int y = 0; y < NY; y++) ind[x * NY + y] = a[x] * b[y];
    IbJoint ji;
    ib_joint_from_dense(&ji, ind, NX, NY, err, sizeof err);
    IbConfig c;
    ib_config_default(&c);
    c.n_bins = 8, c.num_betas = 8, c.beta_max = 100;
    IbCurve cv;
    ib_curve_compute(&ji, &c, &cv, err, sizeof err);
    double mx = 0.0;
    for (size_t s = 0; s < cv.nsolves; s++) mx = fmax(mx, cv.solves[s].I_TY);
    check(ji.I_XY < 1e-14 && mx < 1e-12, "ib with Y independent of X: I(X;Y) %.1e, max I(T;Y) over %zu solves %.1e",
          ji.I_XY, cv.nsolves, mx);
    ib_curve_free(&cv);
    ib_joint_free(&ji);
}

// ----------------------------------------------------------------------------

// ./train --ib-bound end to end on a small text: the curve is written and drawn on the plane.
static void ib_check_train_flag(void) {
    char dir[] = "/tmp/forgetful_ibtrain_XXXXXX", cwd[4096], bin[4096], cmd[16384], path[4200];
    if (!mkdtemp(dir) || !getcwd(cwd, sizeof cwd)) {
        check(0, "./train --ib-bound: mkdtemp/getcwd failed");
        return;
    }
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    snprintf(cmd, sizeof cmd,
             "cd %s && OMP_WAIT_POLICY=passive %s --input %s/data/fixtures/tokenizer_text.txt --vocab 300 --steps 2 "
             "-L 1 -C 32 -H 2 -T 16 -B 2 --probe-every 1 --probe-seqs 2 --probe-bins 16 --eval-every 1 "
             "--sample-every 0 --save-every 0 --ib-bound --out run >out.txt 2>&1",
             dir, bin, cwd);
    int rc = run_shell(cmd);
    size_t len = 0;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char* out = slurp(path, &len);
    snprintf(path, sizeof path, "%s/run/ib_bound.csv", dir);
    char* csv = slurp(path, &len);
    snprintf(path, sizeof path, "%s/run/info_plane.svg", dir);
    char* svg = slurp(path, &len);
    int rows = 0, ok = csv && strncmp(csv, IB_CSV_HEADER "\n", strlen(IB_CSV_HEADER) + 1) == 0;
    double worst = -INFINITY;
    for (char* line = csv ? strchr(csv, '\n') : NULL; ok && line && line[1]; line = strchr(line + 1, '\n')) {
        double a, b, be;
        if (sscanf(line + 1, "%lf,%lf,%lf", &a, &b, &be) != 3) {
            ok = 0;
            break;
        }
        rows++;
        worst = fmax(worst, fmax(b - a, a - 1.0)); // I(T;Y) <= I(X;T) <= 1 in units of ln n_bins
    }
    check(rc == 0 && out && strstr(out, "ib curve") && ok && rows >= 3 && worst <= 1e-9 && svg &&
              strstr(svg, "class=\"ib-curve\""),
          "./train --ib-bound: exit %d, DIR/ib_bound.csv with %d points (max of I_TY-I_XT, I_XT-1: %.1e), drawn on "
          "info_plane.svg",
          rc, rows, worst);
    free(out), free(csv), free(svg);
    rm_tree(dir);
}

void test_ib(void) {
    char err[512];
    ib_check_fixture();
    ib_check_threads();
    ib_check_train_flag();
    uint64_t rng = 0x1b5eedull; // one stream through the random checks below, in this order
    ib_check_joint_tokens(&rng);
    double pxy[NX * NY];
    ib_random_joint(pxy, NX, NY, &rng);
    IbJoint j;
    if (ib_joint_from_dense(&j, pxy, NX, NY, err, sizeof err) != 0) {
        check(0, "ib random joint: %s", err);
        return;
    }
    double hx, hy, ixy;
    ib_dense_info(pxy, NX, NY, &hx, &hy, &ixy);
    ib_check_evaluate(&j, pxy, hx, ixy);
    ib_check_data_processing(&j, hx, ixy, &rng);
    ib_check_sweep(&j, hx, ixy);
    ib_check_independent(&rng);
    ib_joint_free(&j);
}
