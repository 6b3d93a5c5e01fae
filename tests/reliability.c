// tests/reliability.c: fault localisation (gpt_first_nonfinite against planted faults), the strict
// number parsers the flags use, and ./train's crash safety: one SIGKILL + --resume against an
// uninterrupted run bit for bit, a save that cannot be written, a numerical fault, a run too
// large for memory. dev/kill_resume.sh does the long form (many kills).
#include "test.h"

// Number of "*.tmp.*" files (unfinished atomic writes) directly in dir.
static int rel_count_tmp(const char* dir) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exit $(ls -a '%s' | grep -c '\\.tmp\\.')", dir);
    return run_shell(cmd);
}

// The line of the log file at path that starts at the first `marker` (up to its newline), into
// line (empty if absent); returns 1 if found.
static int rel_log_line(const char* path, const char* marker, char* line, size_t n) {
    size_t len = 0;
    char* log = slurp(path, &len);
    const char* msg = log ? strstr(log, marker) : NULL;
    line[0] = '\0';
    if (msg) snprintf(line, n, "%.*s", (int)strcspn(msg, "\n"), msg);
    free(log);
    return msg != NULL;
}

// ----------------------------------------------------------------------------
// In process

// gpt_first_nonfinite against faults planted at known places (the reference is the plant).
static void rel_check_fault_names(void) {
    GPT m;
    GPTConfig cfg = {.max_seq_len = 8, .vocab_size = 11, .num_layers = 2, .num_heads = 2, .channels = 8};
    gpt_build(&m, cfg, 3);
    int inputs[2 * 8], targets[2 * 8];
    for (int i = 0; i < 16; i++) inputs[i] = i % 11, targets[i] = (i * 7 + 1) % 11;
    gpt_forward(&m, inputs, targets, 2, 8);
    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    char name[128];
    int found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found == 0 && name[0] == 0, "gpt_first_nonfinite: a healthy model after forward/backward: none found");

    // a gradient in layer 1 of mlp.c_fc.weight (C x 4C per layer), the 5th element of that layer
    size_t C = 8, per_layer = C * 4 * C;
    m.grads.fcw[per_layer + 5] = INFINITY;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "gradient of h.1.mlp.c_fc.weight") == 0, "planted inf gradient named: \"%s\"", name);
    // an activation of layer 0 (qkv) comes before it: activations are looked at first
    m.acts.qkv[3] = NAN;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "activation h.0.qkv") == 0, "planted NaN activation named: \"%s\"", name);
    // and a parameter before both: wpe row 2
    m.params.wpe[2 * C + 1] = -INFINITY;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "wpe.weight") == 0, "planted -inf parameter named: \"%s\"", name);
    // a parameter in the last layer's attn.c_proj.bias
    m.params.wpe[2 * C + 1] = 0.0f;
    m.acts.qkv[3] = 0.0f;
    m.params.attprojb[1 * C + 7] = NAN;
    found = gpt_first_nonfinite(&m, name, sizeof name);
    check(found && strcmp(name, "h.1.attn.c_proj.bias") == 0, "planted NaN in the last layer named: \"%s\"", name);
    gpt_free(&m);
}

// The strict number parsers train.c's flags use, against hand-made cases; JSON's number range.
static void rel_check_numbers(void) {
    static const struct {
        const char* s;
        int integer;
        double min, max;
        int ok;
        double want;
    } cases[] = {
        {"12", 1, 1, 100, 1, 12},       {"-3", 1, -5, 5, 1, -3},         {" 12", 1, 1, 100, 0, 0},
        {"12 ", 1, 1, 100, 0, 0},       {"12x", 1, 1, 100, 0, 0},        {"", 1, 1, 100, 0, 0},
        {"1.5", 1, 0, 10, 0, 0},        {"0x10", 1, 0, 100, 0, 0},       {"101", 1, 1, 100, 0, 0},
        {"99999999999999999999", 1, 0, 1e30, 0, 0},                      {"3e-4", 0, 1e-9, 10, 1, 3e-4},
        {"1e400", 0, 0, 1e300, 0, 0},   {"nan", 0, 0, 10, 0, 0},         {"inf", 0, 0, 1e300, 0, 0},
        {"0.5", 0, 0.001, 0.5, 1, 0.5}, {"0.50001", 0, 0.001, 0.5, 0, 0}, {"1e9", 0, 1e-9, 1e9, 1, 1e9},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -12345.0;
        char err[256] = "";
        int rc = parse_number_arg(cases[i].s, cases[i].integer, cases[i].min, cases[i].max, &v, err, sizeof err);
        int ok = cases[i].ok ? rc == 0 && v == cases[i].want : rc == -1 && err[0] != 0 && v == -12345.0;
        if (!ok) {
            bad++;
            printf("     '%s': rc %d, value %g, err \"%s\"\n", cases[i].s, rc, v, err);
        }
    }
    check(bad == 0, "parse_number_arg: %zu cases (spaces, trailing text, fractions for integers, overflow, nan, "
                    "range ends), %d wrong",
          sizeof cases / sizeof cases[0], bad);
    uint64_t u = 0;
    char err[256];
    int ok = parse_u64_arg("18446744073709551615", &u, err, sizeof err) == 0 && u == UINT64_MAX &&
             parse_u64_arg("18446744073709551616", &u, err, sizeof err) == -1 &&
             parse_u64_arg("-1", &u, err, sizeof err) == -1 && parse_u64_arg(" 1", &u, err, sizeof err) == -1 &&
             parse_u64_arg("+1", &u, err, sizeof err) == -1 && parse_u64_arg("0", &u, err, sizeof err) == 0 && u == 0;
    check(ok, "parse_u64_arg: 2^64-1 accepted; 2^64, -1, ' 1', '+1' refused");
    JsonValue jv;
    int refused = json_parse(&jv, "[1e400]", 7, err, sizeof err) == -1 && strstr(err, "out of range") != NULL;
    check(refused, "json: 1e400 refused (\"%s\"), so no JSON number is ever inf", err);
}

// memory_available against MemAvailable read here: positive and never above it.
static void rel_check_memory_available(void) {
    FILE* f = fopen("/proc/meminfo", "r");
    if (!f) {
        skip("memory_available, because /proc/meminfo is absent");
        return;
    }
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f) && sscanf(line, "MemAvailable: %llu kB", &kb) != 1) {}
    fclose(f);
    size_t avail = memory_available();
    check(avail > 0 && avail <= kb * 1024ull + (64ull << 20),
          "memory_available %.0f MiB, MemAvailable %.0f MiB (a cgroup limit may lower it)", (double)avail / 1048576.0,
          (double)kb / 1024.0);
}

// ----------------------------------------------------------------------------
// ./train in a temporary folder root; args is a 60-step tiny run

// An uninterrupted reference run, then the same run saving every step, killed with SIGKILL once
// its third checkpoint exists: the checkpoint loads, and --resume finishes with the reference's
// final weights bit for bit.
static void rel_check_kill_resume(const char* root, const char* args) {
    char cmd[8192], ref[4200], run[4200], a[4400], b[4400], err[1024];
    snprintf(ref, sizeof ref, "%s/ref", root);
    snprintf(run, sizeof run, "%s/run", root);
    snprintf(cmd, sizeof cmd, "%s %s --save-every 0 --out %s > %s/ref.log 2>&1", train_bin(), args, ref, root);
    int rc = run_shell(cmd);
    check(rc == 0, "reference run of 60 steps exits 0 (exit %d)", rc);
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(cmd, sizeof cmd, "exec %s %s --save-every 1 --out %s > %s/run.log 2>&1", train_bin(), args, run, root);
        execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
        _exit(127);
    }
    char csv[4300];
    snprintf(csv, sizeof csv, "%s/train.csv", run);
    for (int waited = 0; waited < 3000 && count_lines(csv) <= 4; waited++) usleep(10000); // up to 30 s (ASan)
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    snprintf(a, sizeof a, "%s/pretrain", run);
    GPT m;
    int loaded = gpt_load(&m, a, err, sizeof err) == 0;
    if (loaded) gpt_free(&m);
    check(killed && loaded, "SIGKILL during a --save-every 1 run: killed %d, checkpoint folder loads %d%s%s", killed,
          loaded, loaded ? "" : ": ", loaded ? "" : err);
    snprintf(cmd, sizeof cmd, "%s --resume %s >> %s/run.log 2>&1", train_bin(), run, root);
    rc = run_shell(cmd);
    snprintf(a, sizeof a, "%s/pretrain/model.safetensors", ref);
    snprintf(b, sizeof b, "%s/pretrain/model.safetensors", run);
    int same = same_file(a, b);
    check(rc == 0 && same, "--resume after the kill finishes (exit %d), final weights bit-identical to the "
                           "uninterrupted run: %s (max diff 0)", rc, same ? "yes" : "no");
}

// A save that cannot be written: a paused run resumed under a file-size limit below the model's
// size (SIGXFSZ ignored, so writes fail with EFBIG as on a full disk) exits 1 with the error,
// keeps the last checkpoint byte for byte and leaves no temporaries.
static void rel_check_full_disk(const char* root, const char* args) {
    char cmd[8192], fd[4200], a[4400], b[4400];
    snprintf(fd, sizeof fd, "%s/fsize", root);
    snprintf(cmd, sizeof cmd, "%s %s --save-every 10 --pause-at 20 --out %s > %s/fd.log 2>&1", train_bin(), args, fd,
             root);
    int rc = run_shell(cmd);
    snprintf(a, sizeof a, "%s/train_state.bin", fd);
    snprintf(b, sizeof b, "%s/pretrain/model.safetensors", fd);
    size_t na = 0, nb = 0;
    char* state0 = slurp(a, &na);
    char* model0 = slurp(b, &nb);
    if (rc != 0 || !state0 || !model0) {
        check(0, "paused run for the full-disk check (exit %d)", rc);
    } else {
        snprintf(cmd, sizeof cmd, "trap '' XFSZ; ulimit -f %zu; exec %s --resume %s > %s/fd2.log 2>&1", nb / 1024 / 2,
                 train_bin(), fd, root);
        rc = run_shell(cmd);
        size_t n1 = 0, n2 = 0;
        char* state1 = slurp(a, &n1);
        char* model1 = slurp(b, &n2);
        int kept = state1 && model1 && n1 == na && n2 == nb && memcmp(state0, state1, na) == 0 &&
                   memcmp(model0, model1, nb) == 0;
        snprintf(a, sizeof a, "%s/pretrain", fd);
        int tmps = rel_count_tmp(fd) + rel_count_tmp(a);
        snprintf(a, sizeof a, "%s/fd2.log", root);
        char* log = slurp(a, &n1);
        int said = log && strstr(log, "error:") && strstr(log, "File too large");
        check(rc == 1 && kept && said && tmps == 0,
              "save under a file-size limit: exit %d, error printed %d, last checkpoint byte-identical %d, %d "
              "temporaries left",
              rc, said, kept, tmps);
        free(log);
        free(state1);
        free(model1);
    }
    free(state0);
    free(model0);
}

// A numerical fault: --lr 1e9 stops with the step and the first bad tensor; the checkpoint saved
// before it loads (gpt_load refuses non-finite values).
static void rel_check_numerical_fault(const char* root, const char* args) {
    char cmd[8192], nf[4200], a[4400], err[1024], line[1024];
    snprintf(nf, sizeof nf, "%s/nan", root);
    snprintf(cmd, sizeof cmd, "%s %s --lr 1e9 --warmup 0 --save-every 1 --out %s > %s/nan.log 2>&1", train_bin(), args,
             nf, root);
    int rc = run_shell(cmd);
    snprintf(a, sizeof a, "%s/nan.log", root);
    int found = rel_log_line(a, "error: step ", line, sizeof line);
    int named = found && strstr(line, "not finite") && strstr(line, "first in ");
    snprintf(a, sizeof a, "%s/pretrain", nf);
    GPT m;
    int loaded = gpt_load(&m, a, err, sizeof err) == 0;
    if (loaded) gpt_free(&m);
    check(rc == 1 && named && loaded, "--lr 1e9: exit %d, last checkpoint loads %d: %.160s", rc, loaded, line);
}

// Memory: a model of ~4e11 parameters is refused before anything is allocated (a run that
// allocated first would be killed, or swap); --dry-run prints the estimate and exits 0.
static void rel_check_memory_refusal(const char* root) {
    char cmd[8192], a[4400], line[1024];
    const char* huge = "-L 128 -C 16384 -H 128 -T 64 -B 64 --steps 2";
    snprintf(cmd, sizeof cmd, "%s %s --out %s/huge > %s/huge.log 2>&1", train_bin(), huge, root, root);
    int rc = run_shell(cmd);
    snprintf(a, sizeof a, "%s/huge.log", root);
    int found = rel_log_line(a, "error: the run needs about", line, sizeof line);
    check(rc == 1 && found, "L128 C16384 refused before allocating: exit %d: %s", rc, line);
    snprintf(cmd, sizeof cmd, "%s %s --dry-run > %s/dry.log 2>&1", train_bin(), huge, root);
    rc = run_shell(cmd);
    snprintf(a, sizeof a, "%s/dry.log", root);
    found = rel_log_line(a, "memory ", line, sizeof line);
    check(rc == 0 && found && strstr(line, "GiB estimated"), "--dry-run prints the estimate: exit %d: %s", rc, line);
}

// ./train end to end: one kill/resume cycle, a save that cannot be written, a numerical fault.
static void rel_check_train(void) {
    char help[4200];
    snprintf(help, sizeof help, "%s --help 2>/dev/null | grep -q -- --resume", train_bin());
    if (access(train_bin(), X_OK) != 0 || run_shell(help) != 0) {
        skip("reliability: ./train crash safety, because %s has no --resume", train_bin());
        return;
    }
    char root[] = "/tmp/forgetful-rel.XXXXXX";
    if (!mkdtemp(root)) {
        skip("reliability: ./train crash safety, because mkdtemp failed");
        return;
    }
    const char* args = "-L 1 -C 16 -H 2 -T 16 -B 2 --steps 60 --threads 1 --eval-every 20 --sample-len 4 --seed 9";
    rel_check_kill_resume(root, args);
    rel_check_full_disk(root, args);
    rel_check_numerical_fault(root, args);
    rel_check_memory_refusal(root);
    rm_tree(root);
}

// ----------------------------------------------------------------------------

void test_reliability(void) {
    rel_check_fault_names();
    rel_check_numbers();
    rel_check_memory_available();
    rel_check_train();
}
