// tests/dist.c: gradient accumulation and data parallelism (lib/step.c, lib/dist.c). In process:
// one micro-batch against the plain forward/backward/AdamW bit for bit, K micro-batches against
// one batch, DPO's objective split into parts. Through ./train: --grad-accum 2 against 1
// (pre-training and DPO). With MPI installed (./train_mpi, ./test_dist_mpi, mpirun on PATH): 2
// ranks of 1 thread against 1 process with the same global batch (losses, probes, DPO, final
// parameters), resume across rank counts both ways, SIGUSR1 as the MPI Ctrl-C, a killed rank,
// a batch that does not split, and lib/dist.c's sums and gathers on 3 ranks (tests/dist_mpi.c).
#include "test.h"

// The tolerance of "the same update within float rounding": relative to the largest value, for
// losses and parameters; the runs below end 1e-7 .. 8e-6 apart (Adam amplifies the rounding of
// near-zero gradients, so the difference grows with the steps).
#define DIST_REL_TOL 1e-5

// ----------------------------------------------------------------------------
// In process

// Tiny random batches: steps x (B, T) inputs and next-token targets over V tokens.
static void dist_batches(int* inputs, int* targets, size_t n, int V, uint64_t seed) {
    uint64_t rng = seed;
    for (size_t i = 0; i < n; i++) {
        inputs[i] = (int)(random_u32(&rng) % (uint32_t)V);
        targets[i] = (int)(random_u32(&rng) % (uint32_t)V);
    }
}

// Max |a - b| / max |b| over the whole parameter vectors, and the same with norms (the RMS of the
// difference over the RMS of b); -1 if the shapes differ.
static double dist_param_diff(const GPT* a, const GPT* b, double* norm_rel) {
    *norm_rel = -1.0;
    if (a->num_parameters != b->num_parameters) return -1.0;
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < a->num_parameters; i++) {
        double d = (double)a->params_memory[i] - (double)b->params_memory[i];
        num += d * d;
        den += (double)b->params_memory[i] * (double)b->params_memory[i];
    }
    *norm_rel = den > 0.0 ? sqrt(num / den) : sqrt(num);
    return tensor_rel_diff(a->params_memory, b->params_memory, a->num_parameters);
}

// One micro-batch through the shared step against the steps written out (forward over the batch,
// gpt_backward's own mean-loss seed, clip, AdamW): the same parameters bit for bit, so a run
// without --grad-accum and MPI computes what it did before.
static void dist_check_one_micro(void) {
    enum { B = 4, T = 8, STEPS = 3 };
    GPTConfig cfg = {.max_seq_len = T, .vocab_size = 32, .num_layers = 2, .num_heads = 2, .channels = 16};
    GPT a, b;
    gpt_build(&a, cfg, 11);
    gpt_build(&b, cfg, 11);
    int inputs[STEPS * B * T], targets[STEPS * B * T];
    dist_batches(inputs, targets, STEPS * B * T, cfg.vocab_size, 5);
    TrainStep ts;
    train_step_init(&ts, STEPS, 1, 1e-2f, 0.1f, 0.1f, 1.0f, 1, "step", 0);
    int loss_same = 1;
    for (int s = 0; s < STEPS; s++) {
        MeanLossBatch mb;
        mean_loss_batch_init(&mb, inputs + s * B * T, targets + s * B * T, B, T, 1);
        StepResult r = train_step(&ts, &a, s, mean_loss_micro, &mb, time_seconds());
        mean_loss_batch_free(&mb);
        gpt_forward(&b, inputs + s * B * T, targets + s * B * T, B, T);
        loss_same &= r.loss == b.mean_loss;
        gpt_zero_grad(&b);
        gpt_backward(&b, NULL);
        gpt_clip_grad_norm(&b, 1.0f);
        gpt_update(&b, lr_schedule(s, STEPS, 1, 1e-2f, 0.1f), 0.9f, 0.95f, 1e-8f, 0.1f, s + 1);
    }
    double d = max_abs_diff(a.params_memory, b.params_memory, a.num_parameters);
    check(loss_same && d == 0.0,
          "train_step with 1 micro-batch vs forward/backward/clip/AdamW written out: %d steps, losses equal %d, "
          "max param diff %.3g (want 0)", STEPS, loss_same, d);
    gpt_free(&a);
    gpt_free(&b);
}

// K micro-batches against one batch of B, 10 steps on random tokens. In lockstep (before every
// step the K model takes the one-batch model's parameters and moments): the loss and the summed
// gradient within float rounding; a micro-batch seeded with its own mean (1/(b T) instead of
// 1/(B T)) would be K times too large. Running freely, the final parameters: AdamW divides every
// gradient element by its own running RMS, so an element whose gradient is near the rounding
// level of the largest turns a rounding-sized difference into a learning-rate-sized one; on
// random tokens many are (on the corpus, ./train below ends within 3e-6), hence 1e-4 there.
static void dist_check_accumulation(int K) {
    enum { B = 8, T = 16, STEPS = 10 };
    GPTConfig cfg = {.max_seq_len = T, .vocab_size = 64, .num_layers = 2, .num_heads = 2, .channels = 32};
    GPT one, acc, lock;
    gpt_build(&one, cfg, 7);
    gpt_build(&acc, cfg, 7);
    gpt_build(&lock, cfg, 7);
    size_t P = one.num_parameters;
    int* inputs = malloc_check(STEPS * B * T * sizeof(int));
    int* targets = malloc_check(STEPS * B * T * sizeof(int));
    dist_batches(inputs, targets, STEPS * B * T, cfg.vocab_size, 9);
    for (int i = 0; i < B * T; i += 5) targets[i] = -1; // ignored targets in the first batch: the seed counts them
    TrainStep t1, tk, tl;
    train_step_init(&t1, STEPS, 2, 3e-3f, 0.1f, 0.1f, 1.0f, 1, "step", 0);
    train_step_init(&tk, STEPS, 2, 3e-3f, 0.1f, 0.1f, 1.0f, K, "step", 0);
    train_step_init(&tl, STEPS, 2, 3e-3f, 0.1f, 0.1f, 1.0f, K, "step", 0);
    double loss_rel = 0.0, grad_rel = 0.0;
    for (int s = 0; s < STEPS; s++) {
        if (s > 0) { // lockstep: the state the one-batch model starts this step from
            memcpy(lock.params_memory, one.params_memory, P * sizeof(float));
            memcpy(lock.m_memory, one.m_memory, P * sizeof(float));
            memcpy(lock.v_memory, one.v_memory, P * sizeof(float));
        }
        MeanLossBatch m1, mk;
        mean_loss_batch_init(&m1, inputs + s * B * T, targets + s * B * T, B, T, 1);
        mean_loss_batch_init(&mk, inputs + s * B * T, targets + s * B * T, B, T, K);
        StepResult r1 = train_step(&t1, &one, s, mean_loss_micro, &m1, time_seconds());
        StepResult rl = train_step(&tl, &lock, s, mean_loss_micro, &mk, time_seconds());
        train_step(&tk, &acc, s, mean_loss_micro, &mk, time_seconds());
        mean_loss_batch_free(&m1);
        mean_loss_batch_free(&mk);
        loss_rel = fmax(loss_rel, fabs((double)rl.loss - (double)r1.loss) / fabs((double)r1.loss));
        grad_rel = fmax(grad_rel, tensor_rel_diff(lock.grads_memory, one.grads_memory, P));
    }
    double norm_rel, rel = dist_param_diff(&acc, &one, &norm_rel);
    check(loss_rel <= DIST_REL_TOL && grad_rel <= DIST_REL_TOL && rel >= 0.0 && rel <= 1e-4,
          "--grad-accum %d (micro-batches of %d) vs one batch of %d, %d steps: in lockstep loss rel diff %.3g, "
          "gradient rel diff %.3g (want <= %g); free-running final params rel diff %.3g, norm %.3g (want <= 1e-4)",
          K, B / K, B, STEPS, loss_rel, grad_rel, DIST_REL_TOL, rel, norm_rel);
    free(inputs);
    free(targets);
    gpt_free(&one);
    gpt_free(&acc);
    gpt_free(&lock);
}

// dpo_objective_part: two halves of a batch with n_total = n give the whole batch's gradients
// exactly (each pair's term depends on that pair alone), and their losses add up to its mean.
static void dist_check_dpo_parts(void) {
    enum { n = 6 };
    float pc[n], pr[n], rc[n], rr[n], dc[n], dr[n], losses[n], hc[n], hr[n], hl[n];
    uint64_t rng = 3;
    for (int i = 0; i < n; i++) {
        pc[i] = -10.0f * random_f32(&rng), pr[i] = -10.0f * random_f32(&rng);
        rc[i] = -10.0f * random_f32(&rng), rr[i] = -10.0f * random_f32(&rng);
    }
    DPOStats st;
    dpo_objective(pc, pr, rc, rr, n, 0.5f, DPO_SIGMOID, 0.1f, dc, dr, losses, &st);
    for (int h = 0; h < 2; h++) {
        int o = h * (n / 2);
        dpo_objective_part(pc + o, pr + o, rc + o, rr + o, n / 2, n, 0.5f, DPO_SIGMOID, 0.1f, hc + o, hr + o, hl + o,
                           NULL);
    }
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)hl[i];
    int same = memcmp(dc, hc, sizeof dc) == 0 && memcmp(dr, hr, sizeof dr) == 0 && memcmp(losses, hl, sizeof hl) == 0;
    check(same && fabs(sum / n - (double)st.loss) <= 1e-6,
          "dpo_objective_part: two halves of %d pairs give the whole batch's gradients and losses bit for bit (%d), "
          "mean loss diff %.3g", n, same, fabs(sum / n - (double)st.loss));
}

// ----------------------------------------------------------------------------
// Through ./train, in a temporary folder root, on the built-in corpus (pre-training, then DPO on
// its own pairs)

// The flags of the end-to-end runs: 20 steps of B sequences on a tiny model, probes at 0, 10, 20,
// then `dpo` DPO steps of 8 pairs, then `extra`; one thread, so that 1 process and 2 ranks use the
// same cores; no SGEMM timed for the MFU (--peak-gflops).
static void dist_args(char* out, size_t len, int B, int dpo, const char* extra) {
    snprintf(out, len,
             "-L 2 -C 32 -H 2 -T 32 -B %d --steps 20 --eval-every 5 --probe-every 10 --sample-every 0 --sample-len 8 "
             "--dpo-steps %d --dpo-pairs 64 --dpo-batch 8 --dpo-eval-every 3 --dpo-prompts 0 --threads 1 "
             "--peak-gflops 100 %s",
             B, dpo, extra);
}

// What a resume of those runs needs again: the flags that the state does not keep (the MFU's; the
// DPO stage's settings are in the state)
#define DIST_RESUME "--peak-gflops 100"

// Runs "cd root && [launch] bin args" with stdout to root/<log>.out and stderr to root/<log>.err;
// returns the exit status, the stderr text in err.
static int dist_run(const char* root, const char* launch, const char* bin, const char* args, const char* log, char* err,
                    size_t errlen) {
    char cmd[8192], path[4200], abs_bin[4096];
    if (!realpath(bin, abs_bin)) snprintf(abs_bin, sizeof abs_bin, "%s", bin);
    snprintf(cmd, sizeof cmd, "cd %s && OMP_WAIT_POLICY=passive %s %s %s >%s.out 2>%s.err", root, launch, abs_bin, args,
             log, log);
    int rc = run_shell(cmd);
    snprintf(path, sizeof path, "%s/%s.err", root, log);
    size_t len = 0;
    char* text = slurp(path, &len);
    snprintf(err, errlen, "%s", text ? text : "");
    free(text);
    return rc;
}

// The numbers of a CSV log: rows x cols (at most DIST_COLS), NAN where a field is empty or not a
// number. Returns the rows (header excluded), -1 if unreadable or a row has another field count
// than the header.
enum { DIST_COLS = 40 }; // probes.csv has 37
static int dist_csv(const char* path, double* v, int max_rows, int* cols) {
    size_t len = 0;
    char* text = slurp(path, &len);
    if (!text) return -1;
    int rows = -1, ncol = 0;
    *cols = 0;
    for (char *line = text, *nl; *line && rows < max_rows; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        int c = 0;
        for (char* f = line; f; c++) {
            char* comma = strchr(f, ',');
            if (comma) *comma = '\0';
            char* end = NULL;
            double x = strtod(f, &end);
            if (rows >= 0 && c < DIST_COLS) v[rows * DIST_COLS + c] = *f && end && *end == '\0' ? x : (double)NAN;
            f = comma ? comma + 1 : NULL;
        }
        if (rows < 0) ncol = c;
        else if (c != ncol || c > DIST_COLS) {
            free(text);
            return -1;
        }
        rows++;
    }
    free(text);
    *cols = ncol;
    return rows;
}

// Max difference of columns [c0, c1) of two CSV logs, relative to |a| (relative = 1) or absolute;
// -1 if they differ in shape or where values are present. The rows of both are counted in *rows.
static double dist_csv_diff(const char* a, const char* b, int c0, int c1, int relative, int* rows) {
    enum { MAX_ROWS = 512 };
    double* va = malloc_check(MAX_ROWS * DIST_COLS * sizeof(double));
    double* vb = malloc_check(MAX_ROWS * DIST_COLS * sizeof(double));
    int ca = 0, cb = 0, na = dist_csv(a, va, MAX_ROWS, &ca), nb = dist_csv(b, vb, MAX_ROWS, &cb);
    double m = na >= 1 && na == nb && ca == cb && c1 <= ca ? 0.0 : -1.0;
    *rows = na;
    for (int r = 0; r < na && m >= 0.0; r++)
        for (int c = c0; c < c1 && m >= 0.0; c++) {
            double x = va[r * DIST_COLS + c], y = vb[r * DIST_COLS + c];
            if (isnan(x) != isnan(y)) m = -1.0;
            else if (!isnan(x)) m = fmax(m, fabs(x - y) / (relative ? fmax(fabs(x), 1e-30) : 1.0));
        }
    free(va);
    free(vb);
    return m;
}

// The parameters of the model folders root/a/<stage> and root/b/<stage> compared (dist_param_diff);
// -1 when one does not load.
static double dist_model_diff(const char* root, const char* a, const char* b, const char* stage, double* norm_rel) {
    char pa[4200], pb[4200], err[512];
    snprintf(pa, sizeof pa, "%s/%s/%s", root, a, stage);
    snprintf(pb, sizeof pb, "%s/%s/%s", root, b, stage);
    GPT ma, mb;
    *norm_rel = -1.0;
    if (gpt_load(&ma, pa, err, sizeof err) != 0) return -1.0;
    if (gpt_load(&mb, pb, err, sizeof err) != 0) {
        gpt_free(&ma);
        return -1.0;
    }
    double d = dist_param_diff(&ma, &mb, norm_rel);
    gpt_free(&ma);
    gpt_free(&mb);
    return d;
}

// probes.csv of root/b against root/a: every number (positions, values, nulls, sds) within 1e-6
// absolute (the values lie in [0, 1]); step, stage, set and layer alike. The rows are gathered in
// sequence order, so the estimator sees the rows of one process: on the same weights only the
// forward's rounding in another batch shape can differ (the per-label sums then agree up to float
// summation order; --probe-only on 3 ranks measured 0), after training also the weights' own
// differences (about 2e-7 measured). Says how many rows of the final set and of I_pref (DPO's
// held-out pairs) were compared.
static void dist_compare_probes(const char* root, const char* a, const char* b, const char* what) {
    char pa[4200], pb[4200];
    int rows = 0, keys_same = 1, finals = 0, prefs = 0;
    snprintf(pa, sizeof pa, "%s/%s/probes.csv", root, a);
    snprintf(pb, sizeof pb, "%s/%s/probes.csv", root, b);
    double d = dist_csv_diff(pa, pb, 4, 37, 0, &rows);
    size_t la = 0, lb = 0;
    char *ta = slurp(pa, &la), *tb = slurp(pb, &lb);
    char *x = ta, *y = tb;
    while (x && y && *x && *y) { // line by line: the first four fields alike, and the kinds of rows
        char *ex = strchr(x, '\n'), *ey = strchr(y, '\n');
        if (!ex || !ey) break;
        *ex = *ey = '\0';
        char* f[16] = {x}; // the first 16 fields of x
        int nf = 1;
        for (char* c = x; *c && nf < 16; c++)
            if (*c == ',') f[nf++] = c + 1;
        size_t key = nf > 4 ? (size_t)(f[4] - x) : strlen(x);
        keys_same &= strncmp(x, y, key) == 0 && (y[key - 1] == ',' || y[key] == '\0');
        finals += nf > 2 && strncmp(f[2], "final,", 6) == 0;
        prefs += x != ta && nf == 16 && *f[15] != ',' && *f[15] != '\0'; // I_pref, empty unless measured
        x = ex + 1, y = ey + 1;
    }
    keys_same &= x && y && *x == '\0' && *y == '\0'; // as many lines
    free(ta);
    free(tb);
    check(d >= 0.0 && d <= 1e-6 && keys_same && finals > 0,
          "%s: %d probes.csv rows (%d of the final set, %d with I_pref), step/stage/set/layer %s, every number "
          "within max abs diff %.3g (want <= 1e-6)",
          what, rows, finals, prefs, keys_same ? "alike" : "DIFFER", d);
}

// Run b against the reference run a (both in root, DIST_RUN or a part of it): train.csv's loss,
// val_loss, lr and grad_norm and the final pre-training parameters within DIST_REL_TOL; with
// probes, probes.csv within 1e-6; with DPO, dpo.csv's loss (relative) and rewards (absolute: a
// reward is β times a difference of log-probabilities of about -100) and the DPO parameters (their
// norm; Adam's steps on DPO's tiny gradients make single elements noisier, 6e-6 measured).
static void dist_compare_runs(const char* root, const char* a, const char* b, const char* what, int probes, int dpo) {
    char pa[4200], pb[4200];
    int rows = 0, drow = 0;
    snprintf(pa, sizeof pa, "%s/%s/train.csv", root, a);
    snprintf(pb, sizeof pb, "%s/%s/train.csv", root, b);
    double dl = dist_csv_diff(pa, pb, 2, 6, 1, &rows), norm, dp = dist_model_diff(root, a, b, "pretrain", &norm);
    check(dl >= 0.0 && dl <= DIST_REL_TOL && dp >= 0.0 && dp <= DIST_REL_TOL,
          "%s: %d train.csv rows, loss/val/lr/norm max rel diff %.3g, final params rel diff %.3g (norm %.3g), want <= %g",
          what, rows, dl, dp, norm, DIST_REL_TOL);
    if (probes) dist_compare_probes(root, a, b, what);
    if (dpo) {
        snprintf(pa, sizeof pa, "%s/%s/dpo.csv", root, a);
        snprintf(pb, sizeof pb, "%s/%s/dpo.csv", root, b);
        double d_loss = dist_csv_diff(pa, pb, 1, 2, 1, &drow), d_rew = dist_csv_diff(pa, pb, 2, 5, 0, &drow);
        double dn, dd = dist_model_diff(root, a, b, "dpo", &dn);
        check(d_loss >= 0.0 && d_loss <= DIST_REL_TOL && d_rew >= 0.0 && d_rew <= 1e-5 && dd >= 0.0 &&
                  dn <= DIST_REL_TOL,
              "%s: %d dpo.csv rows, loss rel diff %.3g, rewards abs diff %.3g (want <= 1e-5); DPO params rel diff %.3g, "
              "norm %.3g (want <= %g)", what, drow, d_loss, d_rew, dd, dn, DIST_REL_TOL);
    }
}

// ./train --grad-accum 2 against the same run in one batch; a batch that does not split.
static void dist_check_cli_accum(const char* root) {
    char err[4096], args[1024];
    dist_args(args, sizeof args, 8, 6, "--out one");
    int rc1 = dist_run(root, "", train_bin(), args, "one", err, sizeof err);
    dist_args(args, sizeof args, 8, 6, "--grad-accum 2 --out accum");
    int rc2 = dist_run(root, "", train_bin(), args, "accum", err, sizeof err);
    check(rc1 == 0 && rc2 == 0, "./train on one batch and with --grad-accum 2 exit 0 (%d, %d) %s", rc1, rc2, err);
    if (rc1 == 0 && rc2 == 0) dist_compare_runs(root, "one", "accum", "./train --grad-accum 2 vs 1", 1, 1);
    dist_args(args, sizeof args, 8, 6, "--grad-accum 3 --out bad");
    int rc = dist_run(root, "", train_bin(), args, "bad", err, sizeof err);
    err[strcspn(err, "\n")] = '\0';
    check(rc == 2 && strstr(err, "-B 8 does not split over 1 rank x --grad-accum 3"),
          "./train -B 8 --grad-accum 3: exit %d (want 2), \"%s\"", rc, err);
}

// ----------------------------------------------------------------------------
// Under mpirun

// "mpirun -np N" with the options a small shared machine needs: more ranks than cores allowed
// (--oversubscribe), no binding (a rank may use any core), root allowed when the tests run as
// root, waiting threads asleep.
static void dist_mpirun(char* out, size_t len, int np) {
    snprintf(out, len, "mpirun -np %d --oversubscribe --bind-to none%s -x OMP_WAIT_POLICY=passive", np,
             geteuid() == 0 ? " --allow-run-as-root" : "");
}

// lib/dist.c on 3 ranks: each line ./test_dist_mpi prints is a check; a rank that fails with an
// error, and ranks that disagree in dist_check_same, end the job with an error instead of a hang.
static void dist_check_mpi_unit(const char* root, const char* bin) {
    char launch[256], err[4096], path[4200];
    dist_mpirun(launch, sizeof launch, 3);
    int rc = dist_run(root, launch, bin, "", "unit", err, sizeof err);
    snprintf(path, sizeof path, "%s/unit.out", root);
    size_t len = 0;
    char* out = slurp(path, &len);
    int lines = 0;
    for (char *line = out, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        check(strncmp(line, "ok   ", 5) == 0, "3 ranks: %s", line + 5);
        lines++;
    }
    free(out);
    check(rc == 0 && lines >= 7, "./test_dist_mpi on 3 ranks: exit %d, %d checks %s", rc, lines, err);
    double t0 = time_seconds();
    rc = dist_run(root, launch, bin, "fail", "fail", err, sizeof err);
    double dt = time_seconds() - t0;
    check(rc != 0 && strstr(err, "rank 1 stops on purpose") && dt < 60.0,
          "a rank that stops with an error while the others wait in a barrier: the job ends in %.1f s, exit %d", dt, rc);
    rc = dist_run(root, launch, bin, "differ", "differ", err, sizeof err);
    check(rc != 0 && strstr(err, "the test values differ between the ranks"),
          "dist_check_same with a different value on each rank: exit %d with the message", rc);
}

// Starts `launch bin args` in root in the background (its own process group), waits until
// root/<dir>/train.csv has `rows` lines, and returns its pid (the launcher's), or -1 when it ended
// or timed out first.
static pid_t dist_start(const char* root, const char* launch, const char* bin, const char* args, const char* dir,
                        int rows) {
    char cmd[8192], csv[4200], abs_bin[4096];
    if (!realpath(bin, abs_bin)) snprintf(abs_bin, sizeof abs_bin, "%s", bin);
    snprintf(csv, sizeof csv, "%s/%s/train.csv", root, dir);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        snprintf(cmd, sizeof cmd, "cd %s && exec %s %s %s --out %s >%s.out 2>%s.err", root, launch, abs_bin, args, dir,
                 dir, dir);
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
        _exit(127);
    }
    if (pid < 0) return -1;
    for (double t0 = time_seconds(); count_lines(csv) < rows; usleep(5000)) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid || time_seconds() - t0 > 60.0) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
    }
    return pid;
}

// Waits up to `seconds` for pid; its exit status, 128 + signal when killed, or -1 after killing
// its process group when it did not end in time.
static int dist_wait(pid_t pid, double seconds) {
    int st;
    for (double t0 = time_seconds(); time_seconds() - t0 < seconds; usleep(10000))
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    kill(-pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

// The pid of rank `rank` among the children of the launcher mpirun (its environment holds
// OMPI_COMM_WORLD_RANK), or -1. The children are listed per thread of mpirun; /proc files have no
// size, hence the shell.
static pid_t dist_rank_pid(pid_t mpirun, int rank) {
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "for c in $(cat /proc/%d/task/*/children); do tr '\\0' '\\n' < /proc/$c/environ | "
             "grep -qx OMPI_COMM_WORLD_RANK=%d && echo $c; done",
             (int)mpirun, rank);
    char out[64] = "";
    run_capture(cmd, out, sizeof out);
    int pid = atoi(out);
    return pid > 0 ? (pid_t)pid : -1;
}

// SIGUSR1 to mpirun (which forwards it to every rank) saves a checkpoint and exits 0 like Ctrl-C;
// the resumed 2-rank run then equals a straight 2-rank run bit for bit; a rank killed with
// SIGKILL ends the whole job with mpirun's message instead of a hang.
static void dist_check_mpi_signals(const char* root, const char* bin) {
    char launch[256], err[4096], a[4200], b[4200];
    dist_mpirun(launch, sizeof launch, 2);
    const char* fmt = "-L 2 -C 32 -H 2 -T 32 -B 8 --steps %d --eval-every 0 --save-every 0 --probe-every 0 "
                      "--sample-every 0 --sample-len 8 --dpo-steps 0 --threads 1 --peak-gflops 100";
    char run[512], args[1024];
    snprintf(run, sizeof run, fmt, 60);
    snprintf(args, sizeof args, "%s --out usr1_straight", run);
    int rc = dist_run(root, launch, bin, args, "usr1_straight", err, sizeof err);
    pid_t pid = rc == 0 ? dist_start(root, launch, bin, run, "usr1", 5) : -1;
    if (pid < 0) {
        skip("2 ranks: SIGUSR1: the straight run failed (exit %d) or the run ended before the signal %s", rc, err);
    } else {
        kill(pid, SIGUSR1);
        int st = dist_wait(pid, 60.0);
        snprintf(a, sizeof a, "%s/usr1.out", root);
        size_t len = 0;
        char* out = slurp(a, &len);
        int said = out && strstr(out, "interrupted after step") && strstr(out, "--resume usr1");
        free(out);
        snprintf(a, sizeof a, "%s/usr1/train.csv", root);
        int rows = count_lines(a) - 1;
        check(st == 0 && said, "2 ranks: SIGUSR1 to mpirun after %d steps: exit %d, checkpoint and resume command", rows,
              st);
        rc = dist_run(root, launch, bin, "--resume usr1 " DIST_RESUME, "usr1_resume", err, sizeof err);
        snprintf(a, sizeof a, "%s/usr1_straight/pretrain/model.safetensors", root);
        snprintf(b, sizeof b, "%s/usr1/pretrain/model.safetensors", root);
        int same = same_file(a, b);
        int r2 = 0;
        snprintf(a, sizeof a, "%s/usr1_straight/train.csv", root);
        snprintf(b, sizeof b, "%s/usr1/train.csv", root);
        double d = dist_csv_diff(a, b, 2, 4, 0, &r2);
        check(rc == 0 && same && d == 0.0,
              "2 ranks: --resume after SIGUSR1 vs a straight 2-rank run: exit %d, %d rows, max loss diff %.3g, final "
              "weights bit-identical %d", rc, r2, d, same);
    }
    snprintf(run, sizeof run, fmt, 1000000); // runs until killed
    pid = dist_start(root, launch, bin, run, "killed", 3);
    pid_t victim = pid > 0 ? dist_rank_pid(pid, 1) : -1;
    if (victim < 0) {
        if (pid > 0) dist_wait(pid, 0.0);
        check(0, "2 ranks: could not start the run or find rank 1 to kill (pid %d)", (int)pid);
        return;
    }
    double t0 = time_seconds();
    kill(victim, SIGKILL);
    int st = dist_wait(pid, 60.0);
    double dt = time_seconds() - t0;
    snprintf(a, sizeof a, "%s/killed.err", root);
    size_t len = 0;
    char* text = slurp(a, &len);
    int said = text && strstr(text, "rank 1") && strstr(text, "signal 9");
    free(text);
    check(st > 0 && said, "2 ranks: rank 1 killed with SIGKILL: the job ends in %.1f s (exit %d, no hang) and mpirun "
                          "names rank 1 and signal 9 (%d)", dt, st, said);
}

// 2 ranks of 1 thread against the 1-process run root/one (dist_args); resume across rank counts
// both ways (the MPI build without mpirun is one rank); a batch that does not split.
static void dist_check_mpi_train(const char* root, const char* bin) {
    char launch[256], err[4096], args[1024];
    dist_mpirun(launch, sizeof launch, 2);
    dist_args(args, sizeof args, 8, 6, "--out mpi2");
    int rc = dist_run(root, launch, bin, args, "mpi2", err, sizeof err);
    check(rc == 0, "2 ranks x 1 thread, the same global batch: exit %d %s", rc, err);
    if (rc == 0) dist_compare_runs(root, "one", "mpi2", "2 ranks vs 1 process", 1, 1);

    // paused at step 10 on one side, resumed on the other; pre-training only
    dist_args(args, sizeof args, 8, 0, "--pause-at 10 --out p2");
    int rc1 = dist_run(root, launch, bin, args, "p2", err, sizeof err);
    int rc2 = dist_run(root, "", bin, "--resume p2 " DIST_RESUME, "p2_resume", err, sizeof err);
    check(rc1 == 0 && rc2 == 0, "paused on 2 ranks (exit %d), resumed by ./train_mpi without mpirun (exit %d) %s", rc1,
          rc2, err);
    if (rc1 == 0 && rc2 == 0) dist_compare_runs(root, "one", "p2", "2 ranks to 10 steps + 1 process to 20 vs 1 process", 0, 0);
    dist_args(args, sizeof args, 8, 0, "--pause-at 10 --out p1");
    rc1 = dist_run(root, "", train_bin(), args, "p1", err, sizeof err);
    rc2 = dist_run(root, launch, bin, "--resume p1 " DIST_RESUME, "p1_resume", err, sizeof err);
    check(rc1 == 0 && rc2 == 0, "paused by ./train (exit %d), resumed on 2 ranks (exit %d) %s", rc1, rc2, err);
    if (rc1 == 0 && rc2 == 0) dist_compare_runs(root, "one", "p1", "1 process to 10 steps + 2 ranks to 20 vs 1 process", 0, 0);

    // the probes alone on 3 ranks against 1 process: 7 and 17 sequences, so the shares are uneven
    // (3, 2, 2 of the trajectory set; 4, 3, 3 of the final set's other 10), in forwards of 2
    const char* po = "--probe-only --init one/pretrain -B 6 --probe-seqs 7 --probe-final-seqs 17 --threads 1";
    char launch3[256];
    dist_mpirun(launch3, sizeof launch3, 3);
    snprintf(args, sizeof args, "%s --out po1", po);
    rc1 = dist_run(root, "", train_bin(), args, "po1", err, sizeof err);
    snprintf(args, sizeof args, "%s --out po3", po);
    rc2 = dist_run(root, launch3, bin, args, "po3", err, sizeof err);
    check(rc1 == 0 && rc2 == 0, "--probe-only by 1 process (exit %d) and 3 ranks (exit %d) %s", rc1, rc2, err);
    if (rc1 == 0 && rc2 == 0) dist_compare_probes(root, "po1", "po3", "--probe-only, 3 ranks vs 1 process");

    dist_args(args, sizeof args, 5, 0, "--out odd");
    rc = dist_run(root, launch, bin, args, "odd", err, sizeof err);
    check(rc == 2 && strstr(err, "-B 5 does not split over 2 ranks x --grad-accum 1: it must be a multiple of 2"),
          "2 ranks, -B 5: exit %d (want 2) with the reason", rc);
}

// ----------------------------------------------------------------------------

void test_dist(void) {
    dist_check_one_micro();
    dist_check_accumulation(2);
    dist_check_accumulation(8);
    dist_check_dpo_parts();
    if (access(train_bin(), X_OK) != 0) {
        skip("dist: ./train runs: %s is not built (make train)", train_bin());
        return;
    }
    char root[] = "/tmp/forgetful_dist_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "dist: mkdtemp failed");
        return;
    }
    dist_check_cli_accum(root);
    const char* bin = getenv("TRAIN_MPI_BIN") ? getenv("TRAIN_MPI_BIN") : "./train_mpi";
    const char* unit = getenv("TEST_DIST_MPI_BIN") ? getenv("TEST_DIST_MPI_BIN") : "./test_dist_mpi";
    if (run_shell("command -v mpirun >/dev/null 2>&1") != 0)
        skip("dist: the MPI checks because mpirun is not installed (Debian: openmpi-bin libopenmpi-dev)");
    else if (access(bin, X_OK) != 0 || access(unit, X_OK) != 0)
        skip("dist: the MPI checks because %s or %s is not built (make train_mpi test_dist_mpi; needs mpicc)", bin, unit);
    else {
        dist_check_mpi_unit(root, unit);
        dist_check_mpi_train(root, bin);
        dist_check_mpi_signals(root, bin);
    }
    rm_tree(root);
}
