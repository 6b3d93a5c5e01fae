// tests/runfolder.c: run folders that cannot be lost (issue 15), end to end with ./train on tiny
// models: a new run never replaces another run's files (--overwrite, fresh default names); one
// writer per folder (the lock; a dead writer's lock does not block); stale temporaries removed;
// SIGTERM saves as Ctrl-C does; the DPO stage survives Ctrl-C, SIGKILL and a pause in
// pre-training with its own settings, bit for bit; every field of train_state.bin is checked
// against its flag's range; the CSV rebuilt on resume; --resume --steps N extends a run; messages
// at the edges. The long kill/resume chains are dev/kill_resume.sh.
#include "test.h"

// ----------------------------------------------------------------------------
// Running ./train in the test's folder

// Runs `./train ARGS` inside root (so that .cache/ and runs/ stay there), stdout and stderr into
// out (truncated, NUL-terminated); returns the exit status (-1 on a crash, 124 after 300 s: a
// ./train that does not refuse what it should, a second writer say, must not hang the suite).
static int rf_train_for(const char* root, int seconds, const char* args, char* out, size_t outlen) {
    char bin[4096], cmd[16384];
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    snprintf(cmd, sizeof cmd, "cd '%s' && OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} timeout -k 5 %d '%s' %s 2>&1",
             root, seconds, bin, args);
    return run_capture(cmd, out, outlen);
}

static int rf_train(const char* root, const char* args, char* out, size_t outlen) {
    return rf_train_for(root, 300, args, out, outlen);
}

// The first line of text that contains needle, into line (n bytes); 1 if found.
static int rf_line(const char* text, const char* needle, char* line, size_t n) {
    const char* p = strstr(text, needle);
    line[0] = '\0';
    if (!p) return 0;
    while (p > text && p[-1] != '\n') p--;
    snprintf(line, n, "%.*s", (int)strcspn(p, "\n"), p);
    return 1;
}

// Starts `./train ARGS` inside root in the background, output to root/log; returns its pid.
static pid_t rf_spawn(const char* root, const char* args, const char* log) {
    char bin[4096];
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[16384];
        snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' %s > '%s' 2>&1", root, bin, args, log);
        setenv("OMP_WAIT_POLICY", "passive", 0);
        execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
        _exit(127);
    }
    return pid;
}

// Waits (up to 60 s) until root/file has at least `lines` lines while pid runs; 1 if it does.
static int rf_wait_lines(const char* root, const char* file, int lines, pid_t pid) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", root, file);
    double t0 = time_seconds();
    // (generous: under the sanitizers on a busy machine a tiny run takes minutes to get there)
    while (count_lines(path) < lines && time_seconds() - t0 < 600.0) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return 0;
        usleep(5000);
    }
    return count_lines(path) >= lines;
}

// Sends sig to pid and returns its exit status (-1 if a signal ended it).
static int rf_signal(pid_t pid, int sig) {
    int st = 0;
    kill(pid, sig);
    if (waitpid(pid, &st, 0) != pid) return -2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Runs `./train ARGS --out NAME` in the background (its output in root/NAME.log), waits until
// root/NAME/FILE has `lines` lines, sends sig and returns the exit status (-1 if the signal ended
// it; -3, after a SIGKILL, if it never got that far). The first line of the log containing
// `needle` goes to line (n bytes; empty without needle).
static int rf_interrupt(const char* root, const char* args, const char* name, const char* file, int lines, int sig,
                        const char* needle, char* line, size_t n) {
    char cmd[4096], log[4400], csv[1200];
    snprintf(cmd, sizeof cmd, "%s --out %s", args, name);
    snprintf(log, sizeof log, "%s/%s.log", root, name);
    snprintf(csv, sizeof csv, "%s/%s", name, file);
    pid_t pid = rf_spawn(root, cmd, log);
    int rc = rf_wait_lines(root, csv, lines, pid) ? rf_signal(pid, sig) : (rf_signal(pid, SIGKILL), -3);
    if (needle) {
        size_t len = 0;
        char* text = slurp(log, &len);
        rf_line(text ? text : "", needle, line, n);
        free(text);
    }
    return rc;
}

// 1 if root/a and root/b exist and hold the same bytes.
static int rf_same(const char* root, const char* a, const char* b) {
    char pa[4400], pb[4400];
    snprintf(pa, sizeof pa, "%s/%s", root, a);
    snprintf(pb, sizeof pb, "%s/%s", root, b);
    return same_file(pa, pb);
}

// 1 if root/rel exists.
static int rf_exists(const char* root, const char* rel) {
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", root, rel);
    return lstat(p, &st) == 0;
}

// The tiny run of these checks: a 2-layer model on root/text.txt, one thread.
// (--peak-gflops: no SGEMM timing at the end, which would cost more than the run)
#define RF_TINY "--input text.txt -L 1 -C 16 -H 2 -T 16 -B 4 --threads 1 --sample-len 4 --peak-gflops 1"
// --resume, without the SGEMM timing either.
#define RF_RESUME "--peak-gflops 1 --resume "
// With a DPO stage on root/prefs.jsonl.
#define RF_DPO RF_TINY " --dpo prefs.jsonl --dpo-batch 4 --dpo-eval-every 50 --beta 0.5"

// ----------------------------------------------------------------------------
// Item 1: a new run never replaces another run's files

static void rf_check_overwrite(const char* root) {
    static char out[1 << 16];
    char line[1024];
    int rc1 = rf_train(root, RF_TINY " --steps 6 --out taken", out, sizeof out);
    char keep[4400];
    snprintf(keep, sizeof keep, "%s/taken/pretrain/model.safetensors", root);
    size_t n0 = 0;
    char* before = slurp(keep, &n0);
    // another shape into the finished run's folder
    int rc2 = rf_train(root, "--input text.txt -L 1 -C 8 -H 2 -T 16 -B 4 --threads 1 --steps 3 --peak-gflops 1 --out taken", out,
                       sizeof out);
    rf_line(out, "error:", line, sizeof line);
    size_t n1 = 0;
    char* after = slurp(keep, &n1);
    int kept = before && after && n0 == n1 && memcmp(before, after, n0) == 0;
    check(rc1 == 0 && rc2 == 2 && kept && strstr(line, "not empty") && strstr(line, "--overwrite") &&
              strstr(line, "--resume taken"),
          "runfolder: a new run into another run's folder is refused (exit %d), its model kept byte for byte: %.200s",
          rc2, line);
    // --overwrite replaces the run's files and leaves the user's own
    char notes[4400];
    snprintf(notes, sizeof notes, "%s/taken/notes.txt", root);
    write_bytes(notes, "mine\n", 5);
    int rc3 = rf_train(root, "--input text.txt -L 1 -C 8 -H 2 -T 16 -B 4 --threads 1 --steps 3 --peak-gflops 1 --out taken --overwrite",
                       out, sizeof out);
    GPT m;
    char err[1024], dir[4400];
    snprintf(dir, sizeof dir, "%s/taken/pretrain", root);
    int loads = gpt_load(&m, dir, err, sizeof err) == 0;
    int shape = loads && m.config.num_layers == 1 && m.config.channels == 8;
    if (loads) gpt_free(&m);
    check(rc3 == 0 && shape && rf_exists(root, "taken/notes.txt") && count_lines(notes) == 1,
          "runfolder: --overwrite replaces the run (exit %d, the new L1 C8 model loads: %d) and keeps notes.txt", rc3,
          shape);
    free(before);
    free(after);
    // the default name: two inputs with the same base name get two folders
    char a[4400], b[4400];
    snprintf(a, sizeof a, "%s/x", root);
    snprintf(b, sizeof b, "%s/y", root);
    int ok = make_dirs(a, err, sizeof err) == 0 && make_dirs(b, err, sizeof err) == 0;
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s/text.txt' '%s/text.txt' && head -c 30000 '%s/text.txt' > '%s/text.txt'", root, a,
             root, b);
    ok = ok && run_shell(cmd) == 0;
    int r1 = rf_train(root, "--input x/text.txt -L 1 -C 16 -H 2 -T 16 -B 4 --threads 1 --steps 3 --peak-gflops 1", out,
                      sizeof out);
    int r2 = rf_train(root, "--input y/text.txt -L 1 -C 16 -H 2 -T 16 -B 4 --threads 1 --steps 3 --peak-gflops 1", out,
                      sizeof out);
    rf_line(out, "run folder", line, sizeof line);
    check(ok && r1 == 0 && r2 == 0 && rf_exists(root, "runs/text-tiny/train.csv") &&
              rf_exists(root, "runs/text-tiny-2/train.csv") && strstr(line, "runs/text-tiny-2/"),
          "runfolder: the default folder of a second input named text.txt is a fresh one: %s", line);
}

// ----------------------------------------------------------------------------
// Item 2: one writer per folder

static void rf_check_lock(const char* root) {
    static char out[1 << 16];
    char line[1024], log[4400];
    snprintf(log, sizeof log, "%s/lock.log", root);
    pid_t pid = rf_spawn(root, RF_TINY " --steps 1000000 --save-every 1 --probe-every 0 --out locked", log);
    int running = pid > 0 && rf_wait_lines(root, "locked/train.csv", 4, pid);
    int rc1 = rf_train_for(root, 20, RF_RESUME "locked", out, sizeof out); // a second writer that ran would not stop
    rf_line(out, "error:", line, sizeof line);
    char want[64];
    snprintf(want, sizeof want, "(pid %ld)", (long)pid);
    int named = strstr(line, "in use by another ./train") && strstr(line, want);
    int rc2 = rf_train(root, RF_TINY " --steps 3 --out locked --overwrite", out, sizeof out);
    int refused_overwrite = rc2 == 1 && strstr(out, "in use by another ./train") && rf_exists(root, "locked/train_state.bin");
    int killed = rf_signal(pid, SIGKILL) == -1;
    check(running && rc1 == 1 && named && refused_overwrite,
          "runfolder: a second writer is refused while the first runs (--resume exit %d, --overwrite exit %d): %.200s",
          rc1, rc2, line);
    // the dead run's lock file is still there, with its pid; it must not block
    int rc3 = rf_train(root, RF_TINY " --steps 3 --probe-every 0 --out locked --overwrite", out, sizeof out);
    check(killed && rf_exists(root, "locked/.lock") && rc3 == 0,
          "runfolder: the lock of a writer killed with SIGKILL does not block the next one (exit %d)", rc3);
}

// ----------------------------------------------------------------------------
// Item 5: temporaries of a killed run are removed when the folder is next used

static void rf_check_stale_temporaries(const char* root) {
    static char out[1 << 16];
    int rc1 = rf_train(root, RF_TINY " --steps 10 --pause-at 5 --probe-every 0 --out stale", out, sizeof out);
    static const char* planted[] = {"stale/train.csv.tmp.4242", "stale/train_state.bin.tmp.4242.3",
                                    "stale/pretrain/model.safetensors.tmp.77.0"};
    char path[4400], victim[4400];
    int ok = rc1 == 0;
    for (int i = 0; i < 3 && ok; i++) {
        snprintf(path, sizeof path, "%s/%s", root, planted[i]);
        ok = write_bytes(path, "half a file", 11) == 0;
    }
    snprintf(victim, sizeof victim, "%s/victim.txt", root);
    snprintf(path, sizeof path, "%s/stale/probes.csv.tmp.99", root);
    ok = ok && write_bytes(victim, "precious\n", 9) == 0 && symlink(victim, path) == 0;
    int rc2 = ok ? rf_train(root, RF_RESUME "stale", out, sizeof out) : -2;
    int gone = 1;
    for (int i = 0; i < 3; i++) gone &= !rf_exists(root, planted[i]);
    gone &= !rf_exists(root, "stale/probes.csv.tmp.99");
    check(rc2 == 0 && gone && count_lines(victim) == 1 && strstr(out, "removed 4 temporary files"),
          "runfolder: --resume removes the 4 temporaries (one a symlink) a killed run left, the link's target intact "
          "(exit %d)",
          rc2);
}

// ----------------------------------------------------------------------------
// Item 4: SIGTERM is Ctrl-C

static void rf_check_sigterm(const char* root) {
    static char out[1 << 16];
    char line[1024];
#define RF_TERM RF_TINY " --steps 600 --save-every 0 --probe-every 0 --eval-every 0"
    int rc0 = rf_train(root, RF_TERM " --out term_ref", out, sizeof out);
    int rc1 = rf_interrupt(root, RF_TERM, "term", "train.csv", 20, SIGTERM, "terminated", line, sizeof line);
    int rc2 = rf_train(root, RF_RESUME "term", out, sizeof out);
    int same = rf_same(root, "term_ref/pretrain/model.safetensors", "term/pretrain/model.safetensors");
    check(rc0 == 0 && rc1 == 0 && strstr(line, "terminated (SIGTERM) after step") && rc2 == 0 && same,
          "runfolder: SIGTERM saves and exits 0 (exit %d: \"%s\"), --resume ends bit-identical to the uninterrupted "
          "run: %s",
          rc1, line, same ? "yes" : "no");
}

// ----------------------------------------------------------------------------
// Item 3: the DPO stage survives a pause, Ctrl-C and SIGKILL with its own settings, bit for bit

// The straight run (dpo_ref) every DPO check compares with: 12 pre-training steps, 300 DPO steps
// (long enough for a signal to land in the middle).
#define RF_DPO_RUN RF_DPO " --steps 12 --dpo-steps 300"

static int rf_same_dpo(const char* root, const char* dir) {
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/dpo/model.safetensors", dir);
    snprintf(b, sizeof b, "%s/dpo.csv", dir);
    return rf_same(root, "dpo_ref/dpo/model.safetensors", a) && rf_same(root, "dpo_ref/dpo.csv", b);
}

static void rf_check_dpo_resume(const char* root) {
    static char out[1 << 16];
    char line[1024];
    int rc0 = rf_train(root, RF_DPO_RUN " --save-every 0 --out dpo_ref", out, sizeof out);
    // paused in pre-training with --dpo FILE and --beta 0.5: the resumed run has that DPO stage
    int rc1 = rf_train(root, RF_DPO_RUN " --pause-at 6 --out dpo_pause", out, sizeof out);
    int rc2 = rf_train(root, RF_RESUME "dpo_pause", out, sizeof out);
    rf_line(out, "==== DPO", line, sizeof line);
    check(rc0 == 0 && rc1 == 0 && rc2 == 0 && strstr(line, "beta 0.5") && rf_same_dpo(root, "dpo_pause") &&
              rf_same(root, "dpo_ref/probes.csv", "dpo_pause/probes.csv"),
          "runfolder: a run paused in pre-training resumes with its DPO stage (%s); dpo/, dpo.csv, probes.csv "
          "bit-identical to the uninterrupted run",
          line);
    int rc3 = rf_train(root, RF_RESUME "dpo_pause --beta 0.2", out, sizeof out);
    check(rc3 == 2 && strstr(out, "--beta cannot be combined with --resume"),
          "runfolder: --resume refuses a DPO setting (--beta 0.2: exit %d)", rc3);
    // Ctrl-C during DPO
    int rc4 = rf_interrupt(root, RF_DPO_RUN " --save-every 0", "dpo_int", "dpo.csv", 8, SIGINT, "after DPO step", line,
                           sizeof line);
    int rc5 = rf_train(root, RF_RESUME "dpo_int", out, sizeof out);
    check(rc4 == 0 && strstr(line, "interrupted after DPO step") && rc5 == 0 && rf_same_dpo(root, "dpo_int") &&
              rf_same(root, "dpo_ref/probes.csv", "dpo_int/probes.csv"),
          "runfolder: Ctrl-C during DPO saves (\"%s\"), --resume ends bit-identical (dpo/, dpo.csv, probes.csv)", line);
    // SIGKILL during DPO, checkpoints every step
    int rc6 = rf_interrupt(root, RF_DPO_RUN " --save-every 1", "dpo_kill", "dpo.csv", 12, SIGKILL, NULL, NULL, 0);
    int rc7 = rf_train(root, RF_RESUME "dpo_kill", out, sizeof out);
    int rc8 = rf_train(root, RF_RESUME "dpo_kill", line, sizeof line);
    line[strcspn(line, "\n")] = '\0';
    check(rc6 == -1 && rc7 == 0 && rf_same_dpo(root, "dpo_kill") && rc8 == 0 &&
              strstr(line, "nothing to resume"),
          "runfolder: SIGKILL during DPO (--save-every 1), --resume ends bit-identical; a second --resume: %.120s",
          line);
}

// The lines of root/file that begin with prefix, joined (malloc'd; "" if none, NULL if unreadable).
static char* rf_rows(const char* root, const char* file, const char* prefix) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", root, file);
    size_t n = 0, used = 0, k = strlen(prefix);
    char* text = slurp(path, &n);
    if (!text) return NULL;
    char* rows = malloc_check(n + 1);
    for (char* line = text; *line;) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, prefix, k) == 0) {
            memcpy(rows + used, line, len);
            used += len;
            rows[used++] = '\n';
        }
        line += len + (line[len] == '\n');
    }
    rows[used] = '\0';
    free(text);
    return rows;
}

// DPO alone (--dpo --init) interrupted and resumed equals DPO alone straight; in bf16 too (the
// precision must survive dpo_state.bin: a resumed stage in fp32 would differ). name: the folders'.
// Its probes are those of the run the model came from (dpo_ref): the same bins file, copied into
// the new folder, and in fp32 the same values at DPO step 0 (the reference, the same model) as
// the DPO stage that ran inside dpo_ref.
static void rf_check_dpo_alone_resume(const char* root, const char* extra, const char* name) {
    static char out[1 << 16];
    char alone[1024], ref[64], run[64];
    snprintf(alone, sizeof alone,
             "--dpo prefs.jsonl --init dpo_ref/pretrain --dpo-steps 300 --dpo-batch 4 --threads 1 --dpo-eval-every 50 %s",
             extra);
    snprintf(ref, sizeof ref, "%s_ref", name);
    snprintf(run, sizeof run, "%s", name);
    char args[2048], a[600], b[600];
    snprintf(args, sizeof args, "%s --out %s", alone, ref);
    int rc0 = rf_train(root, args, out, sizeof out);
    int from_init = strstr(out, "the --init run's") != NULL;
    int rc1 = rf_interrupt(root, alone, run, "dpo.csv", 8, SIGTERM, NULL, NULL, 0);
    snprintf(args, sizeof args, RF_RESUME "%s", run);
    int rc2 = rf_train(root, args, out, sizeof out);
    snprintf(a, sizeof a, "%s/dpo/model.safetensors", ref);
    snprintf(b, sizeof b, "%s/dpo/model.safetensors", run);
    int same_model = rf_same(root, a, b);
    snprintf(a, sizeof a, "%s/dpo.csv", ref);
    snprintf(b, sizeof b, "%s/dpo.csv", run);
    int same_log = rf_same(root, a, b);
    snprintf(a, sizeof a, "%s/probes.csv", ref);
    snprintf(b, sizeof b, "%s/probes.csv", run);
    check(rc0 == 0 && rc1 == 0 && rc2 == 0 && same_model && same_log && rf_same(root, a, b),
          "runfolder: DPO alone%s%s, SIGTERM then --resume: bit-identical to DPO alone straight (dpo/, dpo.csv, "
          "probes.csv; exit %d, %d)",
          extra[0] ? " " : "", extra, rc1, rc2);
    if (extra[0]) return;
    snprintf(b, sizeof b, "%s/probe_bins.safetensors", ref);
    char* mine = rf_rows(root, a, "0,dpo,");
    char* theirs = rf_rows(root, "dpo_ref/probes.csv", "0,dpo,");
    int rows = 0;
    for (const char* c = mine ? mine : ""; *c; c++) rows += *c == '\n';
    check(rf_same(root, "dpo_ref/probe_bins.safetensors", b) && mine && theirs && mine[0] &&
              strcmp(mine, theirs) == 0 && from_init,
          "runfolder: DPO alone probes with the --init run's bins (copied into the new folder): its %d probes.csv "
          "rows at DPO step 0 equal dpo_ref's own",
          rows);
    free(mine);
    free(theirs);
}

// ----------------------------------------------------------------------------
// Item 7: every field of train_state.bin, against the range of its flag

// Reads root/dir/train_state.bin; 0 with h and the arrays (malloc'd), or -1.
static int rf_read_state(const char* root, const char* dir, TrainStateHeader* h, float** p, float** m, float** v) {
    char path[4400], err[1024];
    snprintf(path, sizeof path, "%s/%s/train_state.bin", root, dir);
    return state_file_read(path, STATE_MAGIC, STATE_VERSION, h, sizeof *h, p, m, v, err, sizeof err);
}

// Writes h with the arrays as root/bad/train_state.bin (a valid checksum: only the field is wrong).
static int rf_write_state(const char* root, const TrainStateHeader* h, float* p, float* m, float* v) {
    char dir[4400], path[4500], err[1024];
    snprintf(dir, sizeof dir, "%s/bad", root);
    if (make_dirs(dir, err, sizeof err) != 0) return -1;
    GPT g;
    memset(&g, 0, sizeof g);
    g.num_parameters = (size_t)h->num_parameters;
    g.params_memory = p;
    g.m_memory = m;
    g.v_memory = v;
    snprintf(path, sizeof path, "%s/train_state.bin", dir);
    return state_file_write(path, h, sizeof *h, &g, err, sizeof err);
}

static void rf_check_state_fields(const char* root) {
    static char out[1 << 16];
    TrainStateHeader h0;
    float *p, *m, *v;
    if (rf_read_state(root, "dpo_pause", &h0, &p, &m, &v) != 0) { // the paused DPO run above, finished by now
        check(0, "runfolder: no train_state.bin in dpo_pause to alter");
        return;
    }
    // field, its bad value, the flag named, and the flag's own refusal of that value (NULL: none)
    static const struct {
        size_t off;
        char type;
        double value;
        const char *needle, *flag;
    } cases[] = {
        {offsetof(TrainStateHeader, threads), 'i', 100000, "--threads", "--threads 100000"},
        {offsetof(TrainStateHeader, eval_batches), 'i', 0, "--eval-batches", "--eval-batches 0"},
        {offsetof(TrainStateHeader, probe_seqs), 'i', 0, "--probe-seqs", "--probe-seqs 0"},
        {offsetof(TrainStateHeader, probe_bins), 'i', 1, "--probe-bins", "--probe-bins 1"},
        {offsetof(TrainStateHeader, B), 'i', 0, "-B", "-B 0"},
        {offsetof(TrainStateHeader, warmup), 'i', 12, "--warmup", NULL},
        {offsetof(TrainStateHeader, T), 'i', 17, "n_positions", NULL},
        {offsetof(TrainStateHeader, step), 'i', 13, "past --steps", NULL},
        {offsetof(TrainStateHeader, sequential), 'i', 2, "--sequential", NULL},
        {offsetof(TrainStateHeader, lr), 'd', NAN, "--lr", "--lr nan"},
        {offsetof(TrainStateHeader, wd), 'd', 11, "--wd", "--wd 11"},
        {offsetof(TrainStateHeader, dpo.beta), 'f', 1000, "--beta", "--beta 1000"},
        {offsetof(TrainStateHeader, dpo.batch), 'i', 5000, "--dpo-batch", "--dpo-batch 5000"},
        {offsetof(TrainStateHeader, dpo.eval_every), 'i', 0, "--dpo-eval-every", "--dpo-eval-every 0"},
    };
    int bad = 0, n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        TrainStateHeader h = h0;
        char* f = (char*)&h + cases[i].off;
        if (cases[i].type == 'i') *(int32_t*)f = (int32_t)cases[i].value;
        else if (cases[i].type == 'f') *(float*)f = (float)cases[i].value;
        else *(double*)f = cases[i].value;
        int rc = rf_write_state(root, &h, p, m, v) == 0 ? rf_train(root, RF_RESUME "bad", out, sizeof out) : -2;
        int lines = 0;
        for (char* c = out; *c; c++) lines += *c == '\n';
        int ok = rc == 1 && lines == 1 && strncmp(out, "error: ", 7) == 0 && strstr(out, cases[i].needle);
        int flag_rc = 2;
        if (cases[i].flag) {
            char args[256], fout[4096];
            snprintf(args, sizeof args, RF_TINY " %s --steps 3 --dry-run", cases[i].flag);
            flag_rc = rf_train(root, args, fout, sizeof fout);
        }
        if (!ok || flag_rc != 2) {
            bad++;
            printf("     %s = %g: exit %d, flag exit %d: %.200s", cases[i].needle, cases[i].value, rc, flag_rc, out);
        }
    }
    free(p);
    free(m);
    free(v);
    check(bad == 0,
          "runfolder: %d states with a right checksum and one field out of range (threads 100000, eval batches 0, "
          "...) each refused in one line naming the flag, which refuses the value too; %d wrong",
          n, bad);
}

// ----------------------------------------------------------------------------
// Item 8: the CSV rebuilt on resume

static void rf_check_csv_rebuild(const char* root) {
    static char out[1 << 16];
    int rc0 = rf_train(root, RF_TINY " --steps 10 --save-every 0 --probe-every 0 --out csv_ref", out, sizeof out);
    int rc1 = rf_train(root, RF_TINY " --steps 10 --pause-at 5 --probe-every 0 --out csv", out, sizeof out);
    // a row of another writer (step 2 again) and a row cut short by a crash
    char path[4400];
    snprintf(path, sizeof path, "%s/csv/train.csv", root);
    FILE* f = fopen(path, "a");
    int ok = f && fputs("2,pretrain,9.9,,1e-3,1,1,1\n7,pretr", f) >= 0;
    if (f) ok &= fclose(f) == 0;
    int rc2 = ok ? rf_train(root, RF_RESUME "csv", out, sizeof out) : -2;
    char l1[512], l2[512];
    rf_line(out, "cut short", l1, sizeof l1);
    rf_line(out, "go backwards", l2, sizeof l2);
    char a[4400], b[4400];
    snprintf(a, sizeof a, "cut -d, -f1-6 '%s/csv_ref/train.csv' > '%s/a.txt'", root, root);
    snprintf(b, sizeof b, "cut -d, -f1-6 '%s/csv/train.csv' > '%s/b.txt'", root, root);
    int same = run_shell(a) == 0 && run_shell(b) == 0 && rf_same(root, "a.txt", "b.txt");
    check(rc0 == 0 && rc1 == 0 && rc2 == 0 && l1[0] && l2[0] && same,
          "runfolder: --resume drops a truncated row and a row of another writer, saying so (\"%s\"), and the log "
          "equals the uninterrupted run's",
          l1);
    // a line that is not a row at all is refused, not dropped
    int rc3 = rf_train(root, RF_TINY " --steps 12 --pause-at 11 --probe-every 0 --out csv2", out, sizeof out);
    snprintf(path, sizeof path, "%s/csv2/train.csv", root);
    f = rc3 == 0 ? fopen(path, "a") : NULL;
    ok = f && fputs("garbage\n", f) >= 0;
    if (f) ok &= fclose(f) == 0;
    if (ok) rc3 = rf_train(root, RF_RESUME "csv2", out, sizeof out);
    char line[512];
    rf_line(out, "error:", line, sizeof line);
    check(ok && rc3 == 1 && strstr(line, "is not a row of this log"), "runfolder: a line that is not a row: exit %d: %.200s",
          rc3, line);
}

// ----------------------------------------------------------------------------
// Issue 16, item 4: --resume DIR --steps N extends a run; the added steps run at the final rate

// The value of column col (0-based) of the row after the first row+1 lines of a CSV (its header
// and `row` rows: step `row` of train.csv), or NAN.
static double rf_csv_value(const char* path, int row, int col) {
    size_t n = 0;
    char* text = slurp(path, &n);
    double v = NAN;
    char* line = text;
    for (int r = 0; line && r <= row; r++) line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL;
    for (int c = 0; line && c < col; c++) line = strchr(line, ',') ? strchr(line, ',') + 1 : NULL;
    if (line && *line != ',' && *line != '\n') v = strtod(line, NULL);
    free(text);
    return v;
}

static void rf_check_extend(const char* root) {
    static char out[1 << 16];
    // a finished run of 12 steps extended to 20; the same run paused at 6, finished, then 16, then 20
    int rc[6];
    rc[0] = rf_train(root, RF_TINY " --steps 12 --probe-every 0 --out ext_a", out, sizeof out);
    rc[1] = rf_train(root, RF_RESUME "ext_a --steps 20", out, sizeof out);
    char line[512];
    rf_line(out, "extending", line, sizeof line);
    rc[2] = rf_train(root, RF_TINY " --steps 12 --pause-at 6 --probe-every 0 --out ext_b", out, sizeof out);
    rc[3] = rf_train(root, RF_RESUME "ext_b", out, sizeof out);
    rc[4] = rf_train(root, RF_RESUME "ext_b --steps 16", out, sizeof out);
    rc[5] = rf_train(root, RF_RESUME "ext_b --steps 20", out, sizeof out);
    int all0 = 1;
    for (int i = 0; i < 6; i++) all0 &= rc[i] == 0;
    char path[4400];
    snprintf(path, sizeof path, "%s/ext_a/train.csv", root);
    // tiny: lr 2e-3, min-lr-frac 0.1: the added steps at 2e-4; step 11, the schedule's last, too
    int flat = 1;
    for (int s = 11; s < 20; s++) flat &= rf_csv_value(path, s, 4) == 0.0002;
    double before = rf_csv_value(path, 10, 4);
    int rows = count_lines(path) - 1;
    int same = rf_same(root, "ext_a/pretrain/model.safetensors", "ext_b/pretrain/model.safetensors");
    check(all0 && flat && before > 0.0002 && rows == 21 && same,
          "runfolder: --resume --steps 20 extends a 12-step run (\"%s\"): 21 rows (%d), lr 2e-4 from step 11 on "
          "(%d), and 12 -> 20 equals 6 -> 12 -> 16 -> 20 bit for bit (%s)",
          line, rows, flat, same ? "yes" : "no");
    int rc6 = rf_train(root, RF_RESUME "ext_a --steps 10", out, sizeof out);
    check(rc6 == 2 && strstr(out, "not shorten"), "runfolder: --resume --steps below the run's steps is refused (exit %d)",
          rc6);
}

// ----------------------------------------------------------------------------
// Item 11: messages at the edges

// Writes a model folder root/huge whose config.json and header describe L48 C8192 (39B
// parameters) over a sparse model.safetensors of that size: nothing of it need be read to refuse it.
static int rf_write_huge_model(const char* root, const char* tok_from) {
    GPTConfig c = {.max_seq_len = 16, .vocab_size = 0, .num_layers = 48, .num_heads = 64, .channels = 8192};
    char path[4400], err[1024];
    snprintf(path, sizeof path, "%s/%s/config.json", root, tok_from);
    size_t n = 0;
    char* cfg = slurp(path, &n);
    const char* vs = cfg ? strstr(cfg, "\"vocab_size\": ") : NULL;
    c.vocab_size = vs ? atoi(vs + 14) : 0;
    free(cfg);
    snprintf(path, sizeof path, "%s/huge", root);
    if (c.vocab_size <= 0 || make_dirs(path, err, sizeof err) != 0) return -1;
    snprintf(path, sizeof path, "cp '%s/%s/tokenizer.json' '%s/huge/'", root, tok_from, root);
    if (run_shell(path) != 0) return -1;
    snprintf(path, sizeof path, "%s/huge/config.json", root);
    char text[512];
    snprintf(text, sizeof text, "{\"model_type\": \"gpt2\", \"vocab_size\": %d, \"n_positions\": 16, \"n_embd\": 8192, "
             "\"n_layer\": 48, \"n_head\": 64}", c.vocab_size);
    if (write_bytes(path, text, strlen(text)) != 0) return -1;
    // the header names every tensor with its shape and offsets
    char* h = malloc_check(1 << 20);
    size_t k = (size_t)sprintf(h, "{"), pos = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++)
        for (int l = 0; l < (gpt_is_layer_tensor(i) ? c.num_layers : 1); l++) {
            char name[96];
            size_t sh[2];
            int nd = gpt_tensor_name(&c, i, l, name, sizeof name, sh);
            size_t bytes = (nd == 2 ? sh[0] * sh[1] : sh[0]) * 4;
            if (nd == 2)
                k += (size_t)sprintf(h + k, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}",
                                     k > 1 ? "," : "", name, sh[0], sh[1], pos, pos + bytes);
            else
                k += (size_t)sprintf(h + k, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}",
                                     k > 1 ? "," : "", name, sh[0], pos, pos + bytes);
            pos += bytes;
        }
    k += (size_t)sprintf(h + k, "}");
    snprintf(path, sizeof path, "%s/huge/model.safetensors", root);
    FILE* f = fopen(path, "wb");
    unsigned char len8[8];
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)k >> (8 * b));
    int ok = f && fwrite(len8, 1, 8, f) == 8 && fwrite(h, 1, k, f) == k;
    if (f) ok &= fclose(f) == 0;
    free(h);
    return ok && truncate(path, (off_t)(8 + k + pos)) == 0 ? 0 : -1;
}

static void rf_check_messages(const char* root) {
    static char out[1 << 16];
    // a long --out: refused at once, the reason whole
    char args[8192], longdir[4200];
    size_t n = 0;
    n += (size_t)snprintf(longdir, sizeof longdir, "deep");
    while (n < 4000) n += (size_t)snprintf(longdir + n, sizeof longdir - n, "/%s", "abcdefghijklmnopqrstuvwxyz0123456789");
    snprintf(args, sizeof args, RF_TINY " --steps 2 --out %s", longdir);
    int rc = rf_train(root, args, out, sizeof out);
    char line[1024];
    rf_line(out, "error:", line, sizeof line);
    check(rc == 2 && strstr(line, "at most 1024 are accepted (the run's files go below it)"),
          "runfolder: an --out path of %zu bytes: exit %d: %.200s", n, rc, line);
    rc = rf_train(root, "--input text.txt -L 1 -C 2 -H 1 -T 16 -B 2 --steps 2 --threads 1", out, sizeof out);
    rf_line(out, "error:", line, sizeof line);
    check(rc == 2 && strstr(line, "-C 2 is too small for the probes"), "runfolder: -C 2 with probes: exit %d: %s", rc, line);
    // --init of a model far too large: refused before it is read or allocated
    int made = rf_write_huge_model(root, "dpo_ref/pretrain") == 0;
    rc = made ? rf_train(root, "--input text.txt --init huge --steps 2 --threads 1 --dpo-steps 0", out, sizeof out) : -2;
    rf_line(out, "error:", line, sizeof line);
    check(made && rc == 1 && strstr(line, "the run needs about"),
          "runfolder: --init of an L48 C8192 model (a sparse 154 GB file) is refused by the memory check: %.160s", line);
    // the estimate counts the tokens: 10x the text, 4 bytes a token more
    char big[4400], cmd[9000];
    snprintf(big, sizeof big, "%s/big.txt", root);
    snprintf(cmd, sizeof cmd, "for i in 1 2 3 4 5 6 7 8 9 10; do cat '%s/text.txt'; done > '%s'", root, big);
    double est[2] = {0, 0};
    for (int i = 0; i < 2 && run_shell(cmd) == 0; i++) {
        snprintf(args, sizeof args, "--input %s -L 1 -C 16 -H 2 -T 16 -B 4 --threads 1 --dry-run",
                 i ? "big.txt" : "text.txt");
        rf_train(root, args, out, sizeof out);
        rf_line(out, "memory ", line, sizeof line);
        est[i] = strtod(line + 11, NULL); // "memory     X.Y MiB"
    }
    size_t tl = 0;
    char path[4400];
    snprintf(path, sizeof path, "%s/text.txt", root);
    char* text = slurp(path, &tl);
    free(text);
    // at least 1 token per 8 bytes of this text (a 1024-token BPE)
    double want = 9.0 * (double)tl / 8.0 * 4.0 / 1048576.0;
    check(est[1] - est[0] >= want, "runfolder: the memory estimate counts the tokens: %.1f MiB for the text, %.1f MiB "
                                   "for 10 times it (want at least %.2f MiB more)",
          est[0], est[1], want);
}

// ----------------------------------------------------------------------------

void test_runfolder(void) {
    if (access(train_bin(), X_OK) != 0) {
        skip("runfolder: %s is not built (make train)", train_bin());
        return;
    }
    char root[] = "/tmp/forgetful_runfolder_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "runfolder: mkdtemp failed");
        return;
    }
    size_t len = 0;
    char* text = corpus_generate(7, 60000, &len);
    char path[4200];
    snprintf(path, sizeof path, "%s/text.txt", root);
    int ok = write_bytes(path, text, len) == 0;
    free(text);
    snprintf(path, sizeof path, "%s/prefs.jsonl", root);
    FILE* f = fopen(path, "w");
    for (int i = 0; f && i < 40; i++)
        fprintf(f, "{\"prompt\": \"q%d: the cat\", \"chosen\": \" was happy.\", \"rejected\": \" was sad%s.\"}\n", i,
                i % 3 ? "" : " and tired");
    ok &= f && fclose(f) == 0;
    if (!ok) {
        check(0, "runfolder: cannot write the inputs in %s", root);
        rm_tree(root);
        return;
    }
    rf_check_overwrite(root);
    rf_check_lock(root);
    rf_check_stale_temporaries(root);
    rf_check_sigterm(root);
    rf_check_dpo_resume(root);
    rf_check_dpo_alone_resume(root, "", "alone");
    rf_check_dpo_alone_resume(root, "--precision bf16", "alone_bf16");
    rf_check_state_fields(root);
    rf_check_csv_rebuild(root);
    rf_check_extend(root);
    rf_check_messages(root);
    rm_tree(root);
}
