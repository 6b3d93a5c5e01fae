// test_gpt.c: every check of the project, one line each, against independent references
// (PyTorch/numpy fixtures from dev/, closed forms, finite differences). Ends with
// "N passed, N failed, N skipped"; exit status 1 if anything failed.
//
// Usage: ./test_gpt [SECTION...]   sections: gemm model tokenizer data probes ib train dpo reliability speed gpu
#include "tests/test.h"

// The one mutable global: the tally of results.
static struct {
    int passed, failed, skipped;
} tally;

void check(int ok, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) tally.passed++;
    else tally.failed++;
}

void skip(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    tally.skipped++;
}

// ============================================================================
// ib: the Information Bottleneck bound vs a numpy reference, closed forms, data processing

// Reads the next whitespace-separated number from *cur (advancing it); NAN at the end.
static double ib_fixture_num(char** cur) {
    char* end;
    double v = strtod(*cur, &end);
    if (end == *cur) return NAN;
    *cur = end;
    return v;
}

// Skips whitespace and the word w at *cur; 0 if the next word is not w.
static int ib_fixture_word(char** cur, const char* w) {
    while (isspace((unsigned char)**cur)) (*cur)++;
    size_t n = strlen(w);
    if (strncmp(*cur, w, n) != 0 || !isspace((unsigned char)(*cur)[n])) return 0;
    *cur += n;
    return 1;
}

// Dense entropy and mutual information (nats) of a (nx, ny) table, written out directly as the
// definitions: an implementation independent of probes.c's sparse one.
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

// The numpy fixture: same iteration from the same q0, K steps exactly, per beta and as a chain.
static void test_ib_fixture(void) {
    char err[512];
    size_t flen;
    char* fx = read_file("data/fixtures/ib_reference.txt", &flen, err, sizeof err);
    if (!fx) {
        skip("ib fixture: %s (run make fixtures)", err);
        return;
    }
    char* cur = fx;
    int ok = ib_fixture_word(&cur, "ib_reference") && ib_fixture_num(&cur) == 1.0;
    int nx = (int)ib_fixture_num(&cur), ny = (int)ib_fixture_num(&cur), nt = (int)ib_fixture_num(&cur);
    int K = (int)ib_fixture_num(&cur), nb = (int)ib_fixture_num(&cur), nc = (int)ib_fixture_num(&cur);
    ok &= nx > 0 && nx <= 64 && ny > 0 && ny <= 64 && nt > 0 && nt <= 64 && K > 0 && nb > 0 && nb <= 32 &&
          nc > 0 && nc <= 32;
    if (!ok) {
        check(0, "ib fixture: bad header (run make fixtures)");
        free(fx);
        return;
    }
    double* pxy = malloc_check((size_t)nx * ny * sizeof(double));
    double* q0 = malloc_check((size_t)nx * nt * sizeof(double));
    double* q = malloc_check((size_t)nx * nt * sizeof(double));
    double* qr = malloc_check((size_t)nx * nt * sizeof(double));
    ok &= ib_fixture_word(&cur, "pxy");
    for (int i = 0; i < nx * ny; i++) pxy[i] = ib_fixture_num(&cur);
    ok &= ib_fixture_word(&cur, "q0");
    for (int i = 0; i < nx * nt; i++) q0[i] = ib_fixture_num(&cur);
    ok &= ib_fixture_word(&cur, "info");
    double ref_hx = ib_fixture_num(&cur), ref_hy = ib_fixture_num(&cur), ref_ixy = ib_fixture_num(&cur);
    IbJoint j;
    if (!ok || ib_joint_from_dense(&j, pxy, nx, ny, err, sizeof err) != 0) {
        check(0, "ib fixture: unreadable joint (%s)", ok ? err : "format");
        goto done;
    }
    size_t zeros = 0;
    for (int i = 0; i < nx * ny; i++) zeros += pxy[i] == 0.0;
    double dinfo = fmax(fabs(j.H_X - ref_hx), fmax(fabs(j.H_Y - ref_hy), fabs(j.I_XY - ref_ixy)));
    check(dinfo < 1e-12 && j.nnz == (size_t)(nx * ny) - zeros,
          "ib joint %dx%d (%zu zeros): H(X), H(Y), I(X;Y) vs numpy, max diff %.2e", nx, ny, zeros, dinfo);
    for (int pass = 0; pass < 2; pass++) {
        const char* word = pass == 0 ? "solo" : "chain";
        int count = pass == 0 ? nb : nc;
        double dq = 0.0, di = 0.0;
        memcpy(q, q0, (size_t)nx * nt * sizeof(double));
        for (int b = 0; b < count; b++) {
            if (!ib_fixture_word(&cur, word)) {
                check(0, "ib fixture: missing '%s' record %d", word, b);
                goto freejoint;
            }
            double beta = ib_fixture_num(&cur), rixt = ib_fixture_num(&cur), rity = ib_fixture_num(&cur);
            for (int i = 0; i < nx * nt; i++) qr[i] = ib_fixture_num(&cur);
            if (pass == 0) memcpy(q, q0, (size_t)nx * nt * sizeof(double));
            IbPoint pt;
            ib_iterate(&j, nt, beta, q, K, 0.0, &pt);
            double dqb = 0.0;
            for (int i = 0; i < nx * nt; i++) dqb = fmax(dqb, fabs(q[i] - qr[i]));
            double dib = fmax(fabs(pt.I_XT - fmax(rixt, 0.0)), fabs(pt.I_TY - fmax(rity, 0.0)));
            printf("     %s beta %-6g I(X;T) %.6f I(T;Y) %.6f nats: |dq| %.1e, |dI| %.1e\n", word, beta, pt.I_XT,
                   pt.I_TY, dqb, dib);
            dq = fmax(dq, dqb), di = fmax(di, dib);
            ok &= pt.iters == K;
        }
        check(dq < 1e-6 && di < 1e-6 && ok,
              "ib_iterate vs numpy (%s: %d betas, %d iterations each, %s): max |dp(t|x)| %.2e, max |dI| %.2e",
              word, count, K, pass == 0 ? "each from q0" : "annealed, warm starts", dq, di);
    }
    check(ib_fixture_word(&cur, "end"), "ib fixture: read to its end");
    // thread-count independence: the same iterations on 1 thread and on all, on a joint large
    // enough to run threaded (1000 x 1000 at 25% density, |T| 100: 2.5e7 pair-bins)
#ifdef _OPENMP
    {
        enum { BX = 1000, BY = 1000, BT = 100 };
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
              "ib_iterate (%zu pairs, |T| %d): 1 thread vs %d: max diff %.1e (want 0)", jb.nnz, BT,
              saved > 1 ? saved : 2, d);
        free(qb), free(qa), free(big);
        ib_joint_free(&jb);
    }
#else
    skip("ib thread-count independence because OpenMP is off");
#endif
freejoint:
    ib_joint_free(&j);
done:
    free(qr), free(q), free(q0), free(pxy), free(fx);
}

// Random (nx, ny) joint with some zeros (rows and columns kept non-empty), from rng.
static void ib_random_joint(double* pxy, int nx, int ny, uint64_t* rng) {
    for (int i = 0; i < nx * ny; i++) pxy[i] = random_f32(rng) < 0.3f ? 0.0 : -log(1.0 - (double)random_f32(rng));
    for (int x = 0; x < nx; x++) pxy[x * ny + (int)(random_u32(rng) % (uint32_t)ny)] += 0.5;
    for (int y = 0; y < ny; y++) pxy[(int)(random_u32(rng) % (uint32_t)nx) * ny + y] += 0.5;
}

// ./train --ib-bound end to end on a small text: the curve is written and drawn on the plane.
static void test_ib_train_flag(void) {
    char dir[] = "/tmp/forgetful_ibtrain_XXXXXX", cwd[4096], bin[4096], cmd[16384], path[4200], err[256];
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
    int st = system(cmd);
    int rc = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char* out = read_file(path, &len, err, sizeof err);
    snprintf(path, sizeof path, "%s/run/ib_bound.csv", dir);
    char* csv = read_file(path, &len, err, sizeof err);
    snprintf(path, sizeof path, "%s/run/info_plane.svg", dir);
    char* svg = read_file(path, &len, err, sizeof err);
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
    check(rc == 0 && out && strstr(out, "ib bound") && ok && rows >= 3 && worst <= 1e-9 && svg &&
              strstr(svg, "class=\"bound\""),
          "./train --ib-bound: exit %d, DIR/ib_bound.csv with %d points (max of I_TY-I_XT, I_XT-1: %.1e), drawn on "
          "info_plane.svg",
          rc, rows, worst);
    free(out), free(csv), free(svg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("     (could not remove %s)\n", dir);
}

void test_ib(void) {
    char err[512];
    uint64_t rng = 0x1b5eedull;
    test_ib_fixture();
    test_ib_train_flag();

    // --- the joint from tokens vs dense counting, n = 1, 2, 3
    {
        enum { N = 5000, V = 7 };
        int* tok = malloc_check(N * sizeof(int));
        for (int i = 0; i < N; i++) tok[i] = (int)(random_u32(&rng) % V) * 3; // ids 0, 3, ..., 18: not dense
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
        // bad inputs refused with a message
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

    // --- closed forms and data processing on a random joint
    enum { NX = 10, NY = 6 };
    double pxy[NX * NY];
    ib_random_joint(pxy, NX, NY, &rng);
    IbJoint j;
    if (ib_joint_from_dense(&j, pxy, NX, NY, err, sizeof err) != 0) {
        check(0, "ib random joint: %s", err);
        return;
    }
    double hx, hy, ixy;
    ib_dense_info(pxy, NX, NY, &hx, &hy, &ixy);
    {
        // identity encoder (|T| = |X|): I(X;T) = H(X), I(T;Y) = I(X;Y)
        double q[NX * NX] = {0};
        for (int x = 0; x < NX; x++) q[x * NX + x] = 1.0;
        double ixt, ity;
        ib_evaluate(&j, NX, q, &ixt, &ity);
        double d = fmax(fabs(ixt - hx), fabs(ity - ixy));
        check(d < 1e-12, "ib_evaluate, identity encoder: I(X;T) = H(X), I(T;Y) = I(X;Y): max diff %.2e", d);
        // T independent of X: both zero
        for (int i = 0; i < NX * NX; i++) q[i] = 1.0 / NX;
        ib_evaluate(&j, NX, q, &ixt, &ity);
        check(fabs(ixt) < 1e-14 && fabs(ity) < 1e-14, "ib_evaluate, constant encoder: I(X;T) %.1e, I(T;Y) %.1e (want 0)",
              ixt, ity);
        // merging two x with the same p(y|x) loses no information about Y (sufficient statistic)
        double dup[(NX + 1) * NY];
        memcpy(dup, pxy, sizeof pxy);
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
        // random encoders: I(T;Y) <= I(X;T), I(T;Y) <= I(X;Y), I(X;T) <= min(H(X), ln |T|)
        double worst = -INFINITY;
        for (int r = 0; r < 200; r++) {
            int nt = 2 + r % 12;
            double qr[NX * 13];
            for (int i = 0; i < NX * nt; i++) qr[i] = pow(random_f32(&rng), 1.0 + (r % 5) * 3.0);
            for (int x = 0; x < NX; x++) {
                double s = 0.0;
                for (int t = 0; t < nt; t++) s += qr[x * nt + t];
                for (int t = 0; t < nt; t++) qr[x * nt + t] /= s;
            }
            ib_evaluate(&j, nt, qr, &ixt, &ity);
            worst = fmax(worst, fmax(ity - ixt, fmax(ity - ixy, ixt - fmin(hx, log((double)nt)))));
        }
        check(worst <= 1e-12, "ib data processing on 200 random encoders: max of I(T;Y)-I(X;T), I(T;Y)-I(X;Y), "
                              "I(X;T)-min(H(X), ln|T|) = %.2e (want <= 0)",
              worst);
        // beta -> 0: one step from any encoder gives p(t|x) = p(t), so I(X;T) = 0 exactly; small beta stays near 0
        for (int i = 0; i < NX * 5; i++) q[i] = random_f32(&rng) + 0.01f;
        for (int x = 0; x < NX; x++) {
            double s = 0.0;
            for (int t = 0; t < 5; t++) s += q[x * 5 + t];
            for (int t = 0; t < 5; t++) q[x * 5 + t] /= s;
        }
        IbPoint p0, p1;
        double q1[NX * 5];
        memcpy(q1, q, sizeof q1);
        ib_iterate(&j, 5, 0.0, q, 1, 0.0, &p0);
        ib_iterate(&j, 5, 0.01, q1, 500, 1e-12, &p1);
        check(p0.I_XT < 1e-14 && p1.I_XT < 1e-6 && p1.converged,
              "ib beta = 0: I(X;T) %.1e after one step (want 0); beta = 0.01: I(X;T) %.1e after %d iterations "
              "(want ~0)",
              p0.I_XT, p1.I_XT, p1.iters);
    }

    // --- the sweep: |T| >= |X| reaches I(X;Y) at large beta; the curve is monotone, below both lines
    {
        IbConfig c;
        ib_config_default(&c);
        c.n_bins = NX + 2;
        c.num_betas = 25;
        c.beta_max = 1e4;
        c.max_iter = 2000;
        c.tol = 1e-10;
        IbCurve cv;
        int rc = ib_curve_compute(&j, &c, &cv, err, sizeof err);
        if (rc) {
            check(0, "ib_curve_compute: %s", err);
        } else {
            const IbPoint* end = &cv.curve[cv.ncurve - 1];
            check(fabs(end->I_TY - ixy) < 1e-6 * ixy,
                  "ib sweep, |T| %d >= |X| %d: I(T;Y) at beta %g is %.8f, I(X;Y) %.8f nats: rel diff %.1e", c.n_bins,
                  NX, end->beta, end->I_TY, ixy, fabs(end->I_TY - ixy) / ixy);
            int mono = cv.curve[0].I_XT == 0.0 && cv.curve[0].I_TY == 0.0 && cv.ncurve >= 5;
            double over = -INFINITY;
            for (size_t k = 0; k < cv.ncurve; k++) {
                if (k) mono &= cv.curve[k].I_XT > cv.curve[k - 1].I_XT && cv.curve[k].I_TY > cv.curve[k - 1].I_TY;
                over = fmax(over, fmax(cv.curve[k].I_TY - cv.curve[k].I_XT, cv.curve[k].I_TY - ixy));
            }
            // every solve lies on or under the envelope (no point of the sweep dominates it)
            double dom = 0.0;
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
            // a large-beta solution is near-deterministic: I(X;T) near H(X) when |T| >= |X|
            check(end->I_XT <= hx + 1e-12 && end->I_XT > hx - 0.05,
                  "ib sweep end: I(X;T) %.6f <= H(X) %.6f nats, near it (hard clustering)", end->I_XT, hx);
            // the CSV, normalised by ln n_bins, and the info-plane plot drawing it
            char dir[] = "/tmp/forgetful_ib_XXXXXX";
            if (!mkdtemp(dir)) {
                check(0, "mkdtemp %s failed", dir);
            } else {
                char csv[256], pc[256], svg[256];
                snprintf(csv, sizeof csv, "%s/ib_bound.csv", dir);
                snprintf(pc, sizeof pc, "%s/probes.csv", dir);
                snprintf(svg, sizeof svg, "%s/info_plane.svg", dir);
                int wr = ib_curve_write_csv(csv, &cv, err, sizeof err);
                size_t len = 0;
                char* text = wr ? NULL : read_file(csv, &len, err, sizeof err);
                int rows = 0, good = text && strncmp(text, IB_CSV_HEADER "\n", strlen(IB_CSV_HEADER) + 1) == 0;
                double dmax = 0.0;
                if (good) {
                    char* line = strchr(text, '\n') + 1;
                    for (; *line && rows < (int)cv.ncurve; rows++) {
                        double a, b, be;
                        if (sscanf(line, "%lf,%lf,%lf", &a, &b, &be) != 3) break;
                        dmax = fmax(dmax, fmax(fabs(a - cv.curve[rows].I_XT / log((double)c.n_bins)),
                                               fabs(b - cv.curve[rows].I_TY / log((double)c.n_bins))));
                        line = strchr(line, '\n');
                        if (!line) break;
                        line++;
                    }
                }
                check(good && rows == (int)cv.ncurve && dmax < 1e-8,
                      "ib_curve_write_csv: header '%s', %d rows (want %zu), values / ln n_bins: max diff %.1e",
                      IB_CSV_HEADER, rows, cv.ncurve, dmax);
                free(text);
                FILE* f = fopen_check(pc, "w");
                fprintf(f, "%s\n0,pretrain,0,0.9,0.2,0.3,0.4,0.1,0.2,0.3,,0.5\n"
                           "10,pretrain,0,0.8,0.5,0.6,0.7,0.3,0.4,0.5,,0.6\n",
                        PROBE_CSV_HEADER);
                fclose(f);
                int pr = probe_plot_info_plane(pc, svg, csv, err, sizeof err);
                char* s = pr ? NULL : read_file(svg, &len, err, sizeof err);
                check(s && strstr(s, "class=\"bound\"") && strstr(s, "IB bound"),
                      "info_plane.svg with --ib-bound's CSV draws the curve (class=\"bound\")%s%s", pr ? ": " : "",
                      pr ? err : "");
                free(s);
                char bad[300];
                snprintf(bad, sizeof bad, "%s/no/such/dir/ib.csv", dir);
                int br = ib_curve_write_csv(bad, &cv, err, sizeof err);
                check(br == -1 && strstr(err, bad), "ib_curve_write_csv into a missing folder refused: %s", err);
                remove(csv), remove(pc), remove(svg), remove(dir);
            }
            ib_curve_free(&cv);
        }
        c.n_bins = 1;
        check(ib_curve_compute(&j, &c, &cv, err, sizeof err) == -1 && strstr(err, "n_bins"),
              "ib_curve_compute refuses n_bins 1: %s", err);
    }
    // --- Y independent of X: no representation says anything about Y
    {
        double ind[NX * NY], a[NX], b[NY];
        for (int x = 0; x < NX; x++) a[x] = random_f32(&rng) + 0.1;
        for (int y = 0; y < NY; y++) b[y] = random_f32(&rng) + 0.1;
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
    ib_joint_free(&j);
}

// ============================================================================
// gpu: the GPU backend (gpu.cu) kernel by kernel against the CPU kernels, the matrix products
// against a naive row-major product, the probes' assignment against a double-precision one,
// TF32 within its stated tolerance, and checkpoints between the two builds. Runs in a GPU build:
// ./test_gpt_emu (gpu.cu emulated on the CPU, built by `make test`) or `make USE_CUBLAS=1 test`.
// The fixture checks of the model section run through the GPU path in those builds as well.

#ifdef USE_CUBLAS
#include "lib/gpu.h"

// Row-major reference C = alpha op(A) op(B) + beta C in double.
static void gpu_ref_gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                         const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (size_t k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (double)(tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (float)((double)alpha * s + (beta == 0.0f ? 0.0 : (double)beta * (double)C[i * ldc + j]));
        }
}

static void test_gpu_gemm(uint64_t* rng) {
    double worst = 0.0;
    size_t M = 7, N = 5, K = 9, lda = 11, ldb = 13, ldc = 6;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float* A = managed_rand(16 * lda, rng);
            float* Bm = managed_rand(16 * ldb, rng);
            float* Cg = managed_rand(3 * M * ldc, rng);
            float* Cr = managed_copy(Cg, 3 * M * ldc);
            gpu_sgemm(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 0.3f, Cg, ldc);
            // batched: 3 products, operands 17 and 19 floats apart, C blocks M*ldc apart; beta 0 on NaN
            for (size_t i = M * ldc; i < 3 * M * ldc; i++) Cg[i] = Cr[i] = NAN;
            gpu_sgemm_batched(ta, tb, M, N, K, 1.5f, A, lda, 17, Bm, ldb, 19, 0.0f, Cg + M * ldc, ldc, M * ldc, 2);
            gpu_sync();
            gpu_ref_gemm(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 0.3f, Cr, ldc);
            for (size_t p = 0; p < 2; p++)
                gpu_ref_gemm(ta, tb, M, N, K, 1.5f, A + p * 17, lda, Bm + p * 19, ldb, 0.0f, Cr + (p + 1) * M * ldc,
                             ldc);
            // only the M x N block of each C is written (padding columns stay as they were)
            double d = 0.0;
            for (size_t i = 0; i < 3 * M * ldc; i++) {
                double e = i % ldc < N ? fabs((double)Cg[i] - (double)Cr[i])
                                       : (isnan(Cg[i]) ? isnan(Cr[i]) : Cg[i] == Cr[i]) ? 0.0 : (double)INFINITY;
                if (!(e <= d)) d = e;
            }
            if (!(d <= worst)) worst = d;
            gpu_free(A), gpu_free(Bm), gpu_free(Cg), gpu_free(Cr);
        }
    check(worst <= 1e-5, "gpu: sgemm and strided batched, all 4 transposes, padded ld: max abs diff %.3g (tol 1e-5)",
          worst);
}

// The gradient-norm clip's reductions: the sum of squares against a double loop, and the scale.
static void test_gpu_norm(uint64_t* rng) {
    size_t N = 2 * 37 * 4 * 16;
    float* x = managed_rand(N, rng);
    float* og = gpu_alloc(N * sizeof(float));
    double ss = 0.0;
    for (size_t i = 0; i < N; i++) ss += (double)x[i] * (double)x[i];
    double gs = gpu_sum_squares(x, N);
    check(fabs(gs - ss) <= 1e-12 * ss, "gpu: sum_squares %.17g vs double loop %.17g, rel diff %.2g (tol 1e-12)", gs,
          ss, fabs(gs - ss) / ss);
    memcpy(og, x, N * sizeof(float));
    gpu_scale_floats(og, 0.37f, N);
    gpu_sync();
    double sd = 0.0;
    for (size_t i = 0; i < N; i++) sd = fmax(sd, fabs((double)og[i] - (double)(x[i] * 0.37f)));
    check(sd == 0.0, "gpu: scale_floats max abs diff vs x * s %.3g (tol 0)", sd);
    gpu_free(x);
    gpu_free(og);
}

// probe_assign (the device path in this build) against softmax(normalise(z)·Wᵀ/eps) in double.
static void test_gpu_probes(uint64_t* rng) {
    ProbeBins pb;
    int d = 24, nb = 37; // n_bins not a multiple of the CPU's 16-column tiles
    probe_bins_init(&pb, d, nb, 5);
    size_t N = 29;
    float* z = malloc_check(N * (size_t)d * sizeof(float)); // host memory, as probe_pref_add passes
    for (size_t i = 0; i < N * (size_t)d; i++) z[i] = 3.0f * (2.0f * random_f32(rng) - 1.0f);
    for (int k = 0; k < d; k++) z[5 * (size_t)d + (size_t)k] = 0.0f; // a zero row: uniform
    float* zm = managed_copy(z, N * (size_t)d);                              // managed, as hidden states
    float* out = malloc_check(2 * N * (size_t)nb * sizeof(float));
    probe_assign(&pb, z, N, out);
    probe_assign(&pb, zm, N, out + N * (size_t)nb);
    double worst = 0.0;
    for (size_t r = 0; r < N; r++) {
        double nz = 0.0, e[64], mx = -INFINITY, s = 0.0;
        for (int k = 0; k < d; k++) nz += (double)z[r * d + k] * (double)z[r * d + k];
        for (int j = 0; j < nb; j++) {
            double dot = 0.0;
            for (int k = 0; k < d; k++) dot += (double)z[r * d + k] * (double)pb.W[(size_t)j * d + k];
            e[j] = nz > 0.0 ? dot / sqrt(nz) / (double)pb.eps : 0.0;
            mx = fmax(mx, e[j]);
        }
        for (int j = 0; j < nb; j++) s += (e[j] = exp(e[j] - mx));
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < nb; j++)
                worst = fmax(worst, fabs((double)out[(h * N + r) * nb + j] - e[j] / s));
    }
    check(worst <= 1e-5, "gpu: probe_assign on the device (host and managed z, a zero row) vs double: max abs "
                         "diff %.3g (tol 1e-5)", worst);
    free(z);
    free(out);
    gpu_free(zm);
    probe_bins_free(&pb);
}

// TF32 matrix products: the fixture's logits and a few AdamW steps' losses within TF32's looser
// tolerance (inputs rounded to 10 mantissa bits: relative errors ~5e-4 per product).
static void test_gpu_tf32(const GptRef* r) {
    gpu_init(1);
    GPT m;
    gpt_build(&m, r->cfg, 1);
    memcpy(m.params_memory, r->params, r->P * sizeof(float));
    size_t B = (size_t)r->B, T = (size_t)r->T, BT = B * T, V = (size_t)r->cfg.vocab_size;
    double ld = 0.0;
    for (int s = 0; s <= r->nsteps; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        if (s == 0) {
            double d = max_abs_diff(m.acts.logits, r->logits, BT * V);
            check(d <= 2e-2, "gpu tf32: fixture logits max abs diff %.3g (tol 2e-2 under TF32; 1e-4 in fp32)", d);
        }
        ld = fmax(ld, fabs((double)m.mean_loss - (double)r->step_losses[s]));
        if (s == r->nsteps) break;
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        gpt_clip_grad_norm(&m, r->clip);
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s + 1);
    }
    gpu_init(0);
    check(ld <= 1e-2, "gpu tf32: losses of %d AdamW steps max abs diff %.3g (tol 1e-2 under TF32; 1e-4 in fp32)",
          r->nsteps, ld);
    gpt_free(&m);
}

// Checkpoints: a model trained on this backend saves and loads bit-exactly, the loaded parameters
// are the ones the device computes with, and a checkpoint written by the CPU build's ./train loads
// here and writes back the identical file (and one written here loads in ./train).
static void test_gpu_checkpoints(const GptRef* r) {
    char root[] = "/tmp/forgetful_gpu_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "gpu checkpoint: mkdtemp failed");
        return;
    }
    size_t B = (size_t)r->B, T = (size_t)r->T, BT = B * T, V = (size_t)r->cfg.vocab_size;
    char dir[300], dir2[300], err[512] = "", cmd[2048];
    GPT m, l;
    gpt_build(&m, r->cfg, 1);
    memcpy(m.params_memory, r->params, r->P * sizeof(float));
    for (int s = 1; s <= 2; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s);
    }
    gpt_forward(&m, r->inputs, r->targets, B, T);
    snprintf(dir, sizeof dir, "%s/gpu", root);
    int rc = gpt_save(&m, dir, err, sizeof err);
    int rc2 = rc ? -1 : gpt_load(&l, dir, err, sizeof err);
    int same = rc2 == 0 && memcmp(l.params_memory, m.params_memory, m.num_parameters * sizeof(float)) == 0;
    int same_logits = 0;
    if (rc2 == 0) {
        gpt_forward(&l, r->inputs, r->targets, B, T);
        same_logits = memcmp(l.acts.logits, m.acts.logits, BT * V * sizeof(float)) == 0;
        gpt_free(&l);
    }
    check(same && same_logits,
          "gpu checkpoint: after 2 steps on the device, save -> load is bit-exact and gives bit-identical logits %s",
          err);

    // the CPU build's ./train: its checkpoint loads here and re-saves to the same bytes; after a step
    // on this backend, the checkpoint written here loads in ./train (--probe-only: load and probe)
    if (access(train_bin(), X_OK) != 0) {
        skip("gpu checkpoint: interchange with the CPU build because %s is not built", train_bin());
    } else {
        snprintf(cmd, sizeof cmd, "%s -L 2 -C 32 -H 4 -T 16 -B 2 --steps 3 --threads 1 --probe-every 0 "
                                  "--eval-batches 1 --sample-len 4 --dpo-steps 0 --out %s/cpu >%s/log 2>&1",
                 train_bin(), root, root);
        int st = system(cmd);
        snprintf(dir2, sizeof dir2, "%s/cpu/pretrain", root);
        snprintf(dir, sizeof dir, "%s/again", root);
        err[0] = 0;
        rc = st == 0 ? gpt_load(&l, dir2, err, sizeof err) : -1;
        int ok = rc == 0 && gpt_save(&l, dir, err, sizeof err) == 0;
        char a[400], b[400];
        snprintf(a, sizeof a, "%s/model.safetensors", dir2);
        snprintf(b, sizeof b, "%s/model.safetensors", dir);
        size_t la = 0, lb = 0;
        char* fa = ok ? read_file(a, &la, err, sizeof err) : NULL;
        char* fb = fa ? read_file(b, &lb, err, sizeof err) : NULL;
        check(fa && fb && la == lb && memcmp(fa, fb, la) == 0,
              "gpu checkpoint: a checkpoint of the CPU build's ./train loads on this backend and saves back "
              "byte-identical (%zu bytes) %s", la, st == 0 ? err : "(./train failed)");
        free(fa);
        free(fb);
        if (rc == 0) {
            int toks[2 * 16];
            uint64_t rng = 3;
            for (int i = 0; i < 2 * 16; i++) toks[i] = (int)(random_u32(&rng) % (uint32_t)l.config.vocab_size);
            gpt_forward(&l, toks, toks, 2, 16);
            gpt_zero_grad(&l);
            gpt_backward(&l, NULL);
            gpt_update(&l, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
            snprintf(dir, sizeof dir, "%s/gpu2", root);
            ok = gpt_save(&l, dir, err, sizeof err) == 0;
            snprintf(cmd, sizeof cmd, "cp %s/tokenizer.json %s/ && %s --init %s --probe-only --probe-seqs 2 "
                     "--probe-bins 4 --threads 1 --out %s/probe >%s/log 2>&1", dir2, dir, train_bin(), dir, root, root);
            st = ok ? system(cmd) : -1;
            check(st == 0, "gpu checkpoint: a checkpoint saved after a step on this backend loads in the CPU "
                           "build's %s --init (exit %d) %s", train_bin(), WIFEXITED(st) ? WEXITSTATUS(st) : -1, err);
            gpt_free(&l);
        }
    }
    gpt_free(&m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0) printf("note: could not remove %s\n", root);
}

void test_gpu(void) {
    const char* name = gpt_backend_init(0);
    printf("     device: %s\n", name);
    uint64_t rng = 77;
    test_gpu_gemm(&rng);
    test_gpu_norm(&rng);
    test_gpu_probes(&rng);
    GptRef r;
    char why[512];
    if (gptref_load(&r, why, sizeof why)) {
        skip("gpu: TF32 and checkpoint checks because %s", why);
    } else {
        test_gpu_tf32(&r);
        test_gpu_checkpoints(&r);
    }
    free(r.file);
}
#else
void test_gpu(void) {
    skip("gpu: this is the CPU build; `make test` runs the section in ./test_gpt_emu (gpu.cu emulated on the CPU), "
         "`make USE_CUBLAS=1 test` on a GPU");
}
#endif

// ============================================================================

int main(int argc, char** argv) {
    static const struct {
        const char* name;
        void (*fn)(void);
    } sections[] = {{"gemm", test_gemm},     {"layers", test_layers}, {"model", test_model}, {"tokenizer", test_tokenizer},
                    {"data", test_data},     {"probes", test_probes}, {"ib", test_ib},
                    {"train", test_train},   {"dpo", test_dpo},     {"reliability", test_reliability},
                    {"gpu", test_gpu}};
    size_t ns = sizeof sections / sizeof sections[0];
    for (size_t i = 0; i < ns; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], sections[i].name) == 0;
        if (!wanted) continue;
        printf("== %s\n", sections[i].name);
        sections[i].fn();
    }
    printf("%d passed, %d failed, %d skipped\n", tally.passed, tally.failed, tally.skipped);
    return tally.failed ? 1 : 0;
}
