// tests/train.c: ./train end to end on tiny models (a run of a few dozen steps takes well under a
// second). Its usage and input errors (exit status, one line naming the problem), the run folder
// (train.csv, probes.csv, the saved model, figures), --pause-at + --resume against a straight run
// bit for bit, --probe-only, refusals of corrupt states and checkpoints, and Ctrl-C + --resume.
// The crash safety under SIGKILL and full disks is tests/reliability.c; DPO's stage tests/dpo.c.
#include "test.h"

// The straight run's length and the step the paused run stops at.
enum { TRAIN_N = 24, TRAIN_K = 10 };

// Reads column `col` (0-based) of every row of a train.csv as doubles (NAN where empty); returns
// the number of rows (header excluded), or -1 when the file or its header is wrong.
static int train_csv_column(const char* path, int col, double* out, int max_rows, char* header, size_t hlen) {
    size_t len = 0;
    char* text = slurp(path, &len);
    if (!text) return -1;
    char* line = text;
    char* nl = strchr(line, '\n');
    if (!nl) {
        free(text);
        return -1;
    }
    *nl = '\0';
    snprintf(header, hlen, "%s", line);
    int rows = 0;
    for (line = nl + 1; *line && rows < max_rows; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        char* field = line;
        for (int c = 0; c < col && field; c++) {
            field = strchr(field, ',');
            if (field) field++;
        }
        out[rows++] = field && *field && *field != ',' ? strtod(field, NULL) : NAN;
    }
    free(text);
    return rows;
}

// Max |a - b| over the rows of two columns, or -1 if one has a value where the other has none.
static double train_column_diff(const double* a, const double* b, int n) {
    double maxdiff = 0.0;
    for (int i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i])) return -1.0;
        if (!isnan(a[i])) maxdiff = fmax(maxdiff, fabs(a[i] - b[i]));
    }
    return maxdiff;
}

// ----------------------------------------------------------------------------
// The checks, in a temporary folder root holding text.txt and empty.txt; tiny is the flags of the
// tiny model on text.txt

// --help, usage errors (exit 2) and runtime errors on inputs (exit 1, naming the file).
static void train_check_errors(const char* root, const char* tiny) {
    char args[2048], err[2048];
    int rc = train_cli(root, "--help", err, sizeof err);
    check(rc == 0 && err[0] == '\0', "train CLI: --help exits 0 without errors (exit %d)", rc);
    snprintf(args, sizeof args, "%s --bogus", tiny);
    train_expect_error(root, args, 2, "--bogus", "unknown flag");
    snprintf(args, sizeof args, "%s --steps 0", tiny);
    train_expect_error(root, args, 2, "--steps", "--steps 0");
    snprintf(args, sizeof args, "%s --steps 12x", tiny);
    train_expect_error(root, args, 2, "12x", "--steps 12x (trailing garbage)");
    snprintf(args, sizeof args, "%s --lr nan", tiny);
    train_expect_error(root, args, 2, "--lr", "--lr nan");
    snprintf(args, sizeof args, "--input %s/text.txt -L 2 -C 30 -H 4 --steps 2", root);
    train_expect_error(root, args, 2, "divisible", "C 30 not divisible by H 4");
    // a run that cannot fit in memory is refused before the large allocations
    snprintf(args, sizeof args, "--input %s/text.txt -L 64 -C 8192 -H 2 -T 32 -B 65536 --steps 2", root);
    if (access("/proc/meminfo", R_OK) == 0) train_expect_error(root, args, 1, "available", "a run too large for memory");
    else skip("train CLI: memory refusal: no /proc/meminfo to read the available memory from");
    snprintf(args, sizeof args, "--input %s/missing.txt --steps 2", root);
    train_expect_error(root, args, 1, "missing.txt", "missing input file");
    snprintf(args, sizeof args, "--input %s/empty.txt --steps 2", root);
    train_expect_error(root, args, 1, "empty.txt", "empty input file");
}

// A straight run of N steps (root/a), and the same run paused after K steps and resumed (root/b).
// Returns b's train_state.bin as it was at the pause (malloc'd, NULL if absent) in *state.
static void train_check_runs(const char* root, const char* tiny, char** state, size_t* state_len) {
    char args[2048], err[2048], path[600];
    double t0 = time_seconds();
    snprintf(args, sizeof args, "%s --steps %d --eval-every 5 --save-every 0 --out %s/a", tiny, TRAIN_N, root);
    int rc_a = train_cli(root, args, err, sizeof err);
    snprintf(args, sizeof args, "%s --steps %d --eval-every 5 --save-every 4 --pause-at %d --out %s/b", tiny,
             TRAIN_N, TRAIN_K, root);
    int rc_b1 = train_cli(root, args, err, sizeof err);
    snprintf(path, sizeof path, "%s/b/train_state.bin", root);
    *state = slurp(path, state_len);
    snprintf(args, sizeof args, "--resume %s/b", root);
    int rc_b2 = train_cli(root, args, err, sizeof err);
    check(rc_a == 0 && rc_b1 == 0 && rc_b2 == 0, "train CLI: tiny runs exit 0 (straight %d, paused %d, resumed %d) in %.1f s",
          rc_a, rc_b1, rc_b2, time_seconds() - t0);
}

// The run folder: train.csv with the exact header, one row per step plus the final evaluation, a
// falling val loss, a pretrain/ folder that loads; and the resumed run's loss and val-loss
// columns equal the straight run's exactly.
static void train_check_run_folder(const char* root) {
    enum { N = TRAIN_N };
    char path[600], err[2048];
    double la[64], lb[64], va[64], vb[64];
    char ha[256] = "", hb[256] = "";
    snprintf(path, sizeof path, "%s/a/train.csv", root);
    int na = train_csv_column(path, 2, la, 64, ha, sizeof ha);
    train_csv_column(path, 3, va, 64, ha, sizeof ha);
    snprintf(path, sizeof path, "%s/b/train.csv", root);
    int nb = train_csv_column(path, 2, lb, 64, hb, sizeof hb);
    train_csv_column(path, 3, vb, 64, hb, sizeof hb);
    check(strcmp(ha, "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s") == 0 && na == N + 1,
          "train CLI: train.csv has the exact header and %d rows (want %d)", na, N + 1);
    check(na == N + 1 && isfinite(va[N]) && va[N] < va[0] - 0.5,
          "train CLI: the tiny run learns: val loss %.4f at step 0 -> %.4f at the end", na > 0 ? va[0] : NAN,
          na == N + 1 ? va[N] : NAN);
    GPT m;
    snprintf(path, sizeof path, "%s/a/pretrain", root);
    err[0] = '\0';
    int lrc = gpt_load(&m, path, err, sizeof err);
    check(lrc == 0 && m.config.num_layers == 2 && m.config.channels == 32 && m.config.max_seq_len == 32,
          "train CLI: the run's pretrain/ folder loads with its shape (L2 C32 T32) %s", err);
    if (lrc == 0) gpt_free(&m);
    int same = na == N + 1 && nb == N + 1 && strcmp(ha, hb) == 0;
    double dl = same ? train_column_diff(la, lb, na) : 0.0, dv = same ? train_column_diff(va, vb, na) : 0.0;
    same = same && dl >= 0.0 && dv >= 0.0;
    check(same && fmax(dl, dv) == 0.0,
          "train CLI: %d steps straight vs %d + --resume: %d/%d rows, max loss diff %.3g (want 0)", N, TRAIN_K, nb,
          na, same ? fmax(dl, dv) : 0.0);
}

// --precision bf16 end to end: the straight run (root/c) and one paused and resumed (root/d) give
// the same losses bit for bit (train_state.bin keeps the precision; --precision with --resume is
// refused); the losses differ from the fp32 run's (root/a) but stay close; the checkpoint is F32.
static void train_check_bf16(const char* root, const char* tiny) {
    enum { N = TRAIN_N };
    char args[2048], err[2048], path[600], h[256];
    snprintf(args, sizeof args, "%s --precision fp16 --steps 2", tiny);
    train_expect_error(root, args, 2, "--precision", "--precision fp16");
#ifdef USE_CUBLAS
    snprintf(args, sizeof args, "%s --precision bf16 --steps 2", tiny);
    train_expect_error(root, args, 2, "--tf32", "--precision bf16 in the GPU build");
    return;
#endif
    snprintf(args, sizeof args, "%s --precision bf16 --steps %d --eval-every 5 --save-every 0 --out %s/c", tiny, N,
             root);
    int rc_c = train_cli(root, args, err, sizeof err);
    snprintf(args, sizeof args, "%s --precision bf16 --steps %d --eval-every 5 --pause-at %d --out %s/d", tiny, N,
             TRAIN_K, root);
    int rc_d1 = train_cli(root, args, err, sizeof err);
    snprintf(args, sizeof args, "--resume %s/d --precision fp32", root);
    train_expect_error(root, args, 2, "--precision", "--resume with --precision");
    snprintf(args, sizeof args, "--resume %s/d", root);
    int rc_d2 = train_cli(root, args, err, sizeof err);
    double la[64], lc[64], ld[64];
    snprintf(path, sizeof path, "%s/a/train.csv", root);
    int na = train_csv_column(path, 2, la, 64, h, sizeof h);
    snprintf(path, sizeof path, "%s/c/train.csv", root);
    int nc = train_csv_column(path, 2, lc, 64, h, sizeof h);
    snprintf(path, sizeof path, "%s/d/train.csv", root);
    int nd = train_csv_column(path, 2, ld, 64, h, sizeof h);
    int rows = rc_c == 0 && rc_d1 == 0 && rc_d2 == 0 && na == N + 1 && nc == N + 1 && nd == N + 1;
    double dcd = rows ? train_column_diff(lc, ld, nc) : -1.0, dac = rows ? train_column_diff(la, lc, nc) : -1.0;
    check(rows && dcd == 0.0, "train CLI: --precision bf16, %d steps straight vs %d + --resume: max loss diff %.3g "
          "(want 0)", N, TRAIN_K, dcd);
    check(rows && dac > 0.0 && dac < 0.05, "train CLI: bf16 vs fp32 losses over %d steps: max diff %.3g (want > 0: "
          "bf16 reached the products; < 0.05)", N, dac);
    snprintf(path, sizeof path, "%s/c/pretrain/model.safetensors", root);
    size_t len = 0;
    char* st = slurp(path, &len);
    uint64_t hl = 0;
    if (st && len >= 8) memcpy(&hl, st, 8);
    int f32 = st && len >= 8 && hl <= len - 8 && memmem(st + 8, hl, "\"F32\"", 5) && !memmem(st + 8, hl, "BF16", 4);
    check(f32, "train CLI: the bf16 run's model.safetensors stores F32 tensors only");
    free(st);
}

// The exact bound of the context plane: in every row of the run's probes.csv (every layer, the mean,
// every n), the plug-in I_in n and I_out n are at most I_ctx (concavity of entropy); and each
// null is at least 0 (a plug-in I of any labels is).
static void train_check_exact_bound(const char* root) {
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/a/probes.csv", root);
    Csv c;
    double excess = -INFINITY, lowest = INFINITY;
    size_t rows = 0;
    if (csv_read(&c, path, err, sizeof err) == 0) {
        double* ctx = csv_column(&c, "I_ctx", err, sizeof err);
        static const char* cols[8] = {"I_in1", "I_in2", "I_in3", "I_in4", "I_out1", "I_out2", "I_out3", "I_out4"};
        for (int k = 0; ctx && k < 8; k++) {
            char nn[32];
            snprintf(nn, sizeof nn, "%s_null", cols[k]);
            double* v = csv_column(&c, cols[k], err, sizeof err);
            double* n = csv_column(&c, nn, err, sizeof err);
            for (size_t r = 0; v && n && r < c.nrows; r++) {
                excess = fmax(excess, v[r] - ctx[r]);
                lowest = fmin(lowest, n[r]);
            }
            free(v);
            free(n);
        }
        rows = c.nrows;
        free(ctx);
        csv_free(&c);
    }
    check(rows > 0 && excess <= 1e-9 && lowest >= -1e-9,
          "train CLI: no probes.csv point above the exact bound: max of I_in n, I_out n - I_ctx over %zu rows %.2e; "
          "smallest null %.2e", rows, excess, lowest);
}

// The probes: the same rows straight and resumed, and the run folder's probe files.
static void train_check_probe_files(const char* root) {
    char path[600];
    snprintf(path, sizeof path, "%s/a/probes.csv", root);
    size_t pa_len = 0, pb_len = 0;
    char* pa = slurp(path, &pa_len);
    snprintf(path, sizeof path, "%s/b/probes.csv", root);
    char* pb = slurp(path, &pb_len);
    int prows = 0;
    for (size_t i = 0; pa && i < pa_len; i++) prows += pa[i] == '\n';
    // default --probe-every is steps/20, at least 1: 1 here: steps 0..N, 3 hidden states and the mean
    // each (the val split is too short for a final set beyond the trajectory's), and the header
    check(pa && pb && pa_len == pb_len && memcmp(pa, pb, pa_len) == 0 && prows == (TRAIN_N + 1) * 4 + 1,
          "train CLI: probes.csv has %d lines (want %d) and is identical straight and resumed", prows,
          (TRAIN_N + 1) * 4 + 1);
    free(pa);
    free(pb);
    train_check_exact_bound(root);
    static const char* files[] = {"probe_bins.safetensors", "info_plane.svg", "probes.svg", "baselines.csv",
                                  "pretrain/tokenizer.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/a/%s", root, files[i]);
        struct stat fst;
        check(stat(path, &fst) == 0 && fst.st_size > 0, "train CLI: the run folder has %s (%lld bytes)", files[i],
              stat(path, &fst) == 0 ? (long long)fst.st_size : -1LL);
    }
}

// Number of rows from tail_a and tail_b on ("\nrow\nrow..." to the end) that are equal without
// their first field (the step); -1 if they differ or one ends first.
static int train_same_rows_but_step(const char* tail_a, const char* tail_b) {
    int nrows = 0;
    while (*tail_a == '\n' && tail_a[1] && *tail_b == '\n' && tail_b[1]) {
        const char* ea = strchr(tail_a + 1, '\n');
        const char* eb = strchr(tail_b + 1, '\n');
        const char* ca = strchr(tail_a + 1, ',');
        const char* cb = strchr(tail_b + 1, ',');
        if (!ea || !eb || !ca || !cb || ea - ca != eb - cb || memcmp(ca, cb, (size_t)(ea - ca)) != 0) return -1;
        nrows++;
        tail_a = ea;
        tail_b = eb;
    }
    return !tail_a[1] && !tail_b[1] ? nrows : -1;
}

// dev/recompute_probes.py (PyTorch and numpy, written from the math) recomputes the run's last
// probe rows, every column but I_pref, from the run folder alone. Skipped without python3-torch.
static void train_check_recompute(const char* root) {
    if (run_shell("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") != 0) {
        skip("dev/recompute_probes.py on the run folder because /usr/bin/python3 lacks torch or numpy");
        return;
    }
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 dev/recompute_probes.py %s/a --tol 1e-6 2>&1", root);
    int rc = run_capture(cmd, out, sizeof out);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n') out[--n] = 0;
    const char* last = strrchr(out, '\n'); // its summary line
    last = last ? last + 1 : out;
    check(rc == 0 && strstr(last, "max abs diff"), "train CLI: dev/recompute_probes.py reproduces the last probe rows "
          "from the run folder (exit %d, tol 1e-6): %s", rc, last);
}

// --probe-only on the saved model folder reproduces the stage's last probe rows (step N) exactly.
static void train_check_probe_only(const char* root) {
    char args[2048], err[2048], path[600];
    snprintf(args, sizeof args, "--input %s/text.txt --probe-only --init %s/a/pretrain --threads 2 --out %s/po", root,
             root, root);
    int rc = train_cli(root, args, err, sizeof err);
    size_t pa_len = 0, pb_len = 0;
    snprintf(path, sizeof path, "%s/a/probes.csv", root);
    char* pa = slurp(path, &pa_len);
    snprintf(path, sizeof path, "%s/po/probes.csv", root);
    char* pb = slurp(path, &pb_len);
    char last[64];
    snprintf(last, sizeof last, "\n%d,pretrain,", TRAIN_N);
    const char* tail_a = pa ? strstr(pa, last) : NULL;
    const char* tail_b = pb ? strstr(pb, "\n0,pretrain,") : NULL;
    int nrows = tail_a && tail_b ? train_same_rows_but_step(tail_a, tail_b) : -1;
    check(rc == 0 && nrows == 4, "train CLI: --probe-only on the saved pretrain/ gives the run's last %d probe rows exactly",
          nrows);
    free(pa);
    free(pb);
}

// --resume refuses flags that change the trajectory, and corrupt or truncated states.
static void train_check_bad_resume(const char* root, char* state, size_t state_len) {
    char args[2048], path[600], rerr[256] = "";
    snprintf(args, sizeof args, "--resume %s/b --lr 0.1", root);
    train_expect_error(root, args, 2, "--lr", "--resume with --lr");
    snprintf(path, sizeof path, "%s/c", root);
    if (!state) snprintf(rerr, sizeof rerr, "no train_state.bin in %s/b after the pause", root);
    int ok = state && make_dirs(path, rerr, sizeof rerr) == 0;
    if (ok) {
        state[state_len / 2] ^= 0x40;
        snprintf(path, sizeof path, "%s/c/train_state.bin", root);
        ok = write_bytes(path, state, state_len) == 0;
        snprintf(args, sizeof args, "--resume %s/c", root);
        train_expect_error(root, args, 1, "train_state.bin", "--resume with a flipped byte in train_state.bin");
        ok &= write_bytes(path, state, state_len / 3) == 0;
        train_expect_error(root, args, 1, "train_state.bin", "--resume with a truncated train_state.bin");
    }
    if (!ok) check(0, "train CLI: could not prepare the corrupt-state cases (%s)", rerr);
}

// --init: T beyond the checkpoint's n_positions, and a broken checkpoint (truncated, garbage).
static void train_check_bad_init(const char* root) {
    char args[2048], path[600], rerr[256] = "";
    snprintf(args, sizeof args, "--input %s/text.txt --init %s/a/pretrain -T 64 --steps 2", root, root);
    train_expect_error(root, args, 2, "n_positions", "--init with -T 64 > n_positions 32");
    snprintf(path, sizeof path, "%s/a/pretrain/model.safetensors", root);
    size_t st_len = 0;
    char* st = read_file(path, &st_len, rerr, sizeof rerr);
    snprintf(path, sizeof path, "%s/bad", root);
    int ok = st && make_dirs(path, rerr, sizeof rerr) == 0;
    // the broken folder keeps the good config.json and tokenizer.json
    static const char* keep[] = {"config.json", "tokenizer.json"};
    for (int i = 0; i < 2 && ok; i++) {
        snprintf(path, sizeof path, "%s/a/pretrain/%s", root, keep[i]);
        size_t cl = 0;
        char* cj = read_file(path, &cl, rerr, sizeof rerr);
        snprintf(path, sizeof path, "%s/bad/%s", root, keep[i]);
        ok = cj && write_bytes(path, cj, cl) == 0;
        free(cj);
    }
    if (ok) {
        snprintf(path, sizeof path, "%s/bad/model.safetensors", root);
        ok &= write_bytes(path, st, st_len / 2) == 0;
        snprintf(args, sizeof args, "--input %s/text.txt --init %s/bad --steps 2", root, root);
        train_expect_error(root, args, 1, "bad/model.safetensors", "--init with a truncated model.safetensors");
        memset(st, 'x', st_len < 64 ? st_len : 64);
        ok &= write_bytes(path, st, st_len) == 0;
        train_expect_error(root, args, 1, "bad/model.safetensors", "--init with a garbage model.safetensors");
    }
    if (!ok) check(0, "train CLI: could not prepare the broken --init checkpoint (%s)", rerr);
    free(st);
}

// Ctrl-C: starts a run in the background, sends SIGINT once a few steps are logged, and expects
// exit 0 with a checkpoint and the resume command; the resumed run must then reproduce the loss
// column of the straight run in root/<straight> (same settings) exactly.
static void train_sigint(const char* root, const char* run_args, const char* straight, int steps) {
    char bin[4096], dir[600], csv[700], out[700];
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    snprintf(dir, sizeof dir, "%s/int", root);
    snprintf(csv, sizeof csv, "%s/train.csv", dir);
    snprintf(out, sizeof out, "%s/int_out.txt", root);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(root) != 0 || !freopen(out, "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "exec %s %s --out int", bin, run_args);
        setenv("OMP_WAIT_POLICY", "passive", 0);
        execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
        _exit(127);
    }
    if (pid < 0) {
        check(0, "train CLI: fork failed for the Ctrl-C test");
        return;
    }
    // wait (up to 60 s) until steps are being logged: the handler is installed by then
    double t0 = time_seconds();
    int status = 0, exited = 0;
    while (count_lines(csv) < 4 && time_seconds() - t0 < 60.0) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        usleep(5000);
    }
    if (!exited) {
        kill(pid, SIGINT);
        waitpid(pid, &status, 0);
    }
    int rows = count_lines(csv) - 1;
    if (exited || rows >= steps) {
        skip("train CLI: Ctrl-C test: the run ended (%d rows) before the interrupt could be sent", rows);
        return;
    }
    size_t len = 0;
    char* text = slurp(out, &len);
    int said = text && strstr(text, "interrupted after step") && strstr(text, "--resume int");
    free(text);
    char state[700];
    snprintf(state, sizeof state, "%s/train_state.bin", dir);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && said && access(state, R_OK) == 0,
          "train CLI: Ctrl-C after %d steps: exit %d, checkpoint saved, resume command printed", rows,
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    char err[1024];
    int rc = train_cli(root, "--resume int", err, sizeof err);
    double la[512], lb[512];
    char ha[256], hb[256];
    char path[700];
    snprintf(path, sizeof path, "%s/%s/train.csv", root, straight);
    int na = train_csv_column(path, 2, la, 512, ha, sizeof ha);
    int nb = train_csv_column(csv, 2, lb, 512, hb, sizeof hb);
    int same = rc == 0 && na == steps + 1 && nb == na;
    double maxdiff = same ? train_column_diff(la, lb, na) : 0.0;
    same = same && maxdiff >= 0.0;
    check(same && maxdiff == 0.0, "train CLI: Ctrl-C + --resume vs straight: exit %d, %d/%d rows, max loss diff %.3g",
          rc, nb, na, same ? maxdiff : 0.0);
}

// Ctrl-C mid-run, then --resume: the same losses as a straight run of the same length.
static void train_check_sigint(const char* root, const char* tiny) {
    char args[2048], err[2048];
    const int S = 300;
    snprintf(args, sizeof args, "%s --steps %d --eval-every 0 --save-every 0 --probe-every 0 --out %s/s", tiny, S,
             root);
    if (train_cli(root, args, err, sizeof err) == 0) {
        snprintf(args, sizeof args, "%s --steps %d --eval-every 0 --save-every 0 --probe-every 0", tiny, S);
        train_sigint(root, args, "s", S);
    } else {
        check(0, "train CLI: the straight run for the Ctrl-C test failed: %s", err);
    }
}

// ----------------------------------------------------------------------------

void test_train(void) {
    char root[] = "/tmp/forgetful_train_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "train CLI: mkdtemp failed");
        return;
    }
    if (access(train_bin(), X_OK) != 0) {
        skip("train CLI: %s is not built (make train)", train_bin());
        rm_tree(root);
        return;
    }
    char path[600];
    size_t tlen = 0;
    char* text = train_test_text(40000, &tlen);
    snprintf(path, sizeof path, "%s/text.txt", root);
    int ok = write_bytes(path, text, tlen) == 0;
    snprintf(path, sizeof path, "%s/empty.txt", root);
    ok &= write_bytes(path, "", 0) == 0;
    free(text);
    if (!ok) {
        check(0, "train CLI: cannot write the test inputs in %s", root);
        rm_tree(root);
        return;
    }
    char tiny[1024];
    snprintf(tiny, sizeof tiny, "--input %s/text.txt -L 2 -C 32 -H 2 -T 32 -B 4 --threads 2 --sample-len 16", root);
    train_check_errors(root, tiny);
    char* state = NULL;
    size_t state_len = 0;
    train_check_runs(root, tiny, &state, &state_len);
    train_check_run_folder(root);
    train_check_probe_files(root);
    train_check_bf16(root, tiny);
    train_check_probe_only(root);
    train_check_recompute(root);
    train_check_bad_resume(root, state, state_len);
    free(state);
    train_check_bad_init(root);
    train_check_sigint(root, tiny);
    rm_tree(root);
}
