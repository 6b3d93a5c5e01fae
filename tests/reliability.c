// tests/reliability.c: fault localisation (gpt_first_nonfinite against planted faults), the strict
// number parsers the flags use, hostile files in process (FIFOs, symlinks at temporaries' names,
// duplicate and NUL keys in JSON, preference files cut short or cut to T, dpo_pairs.bin, the CSV
// rebuilt on resume, token shards of another data set), and ./train's crash safety: one SIGKILL
// + --resume against an uninterrupted run bit for bit, a save that cannot be written, a numerical
// fault, a run too large for memory. dev/kill_resume.sh does the long form (many kills); the run
// folder's protection end to end is tests/runfolder.c.
#include "test.h"

// 1 if the two files exist and hold the same bytes.
static int rel_same_file(const char* a, const char* b) {
    size_t na = 0, nb = 0;
    char* x = slurp(a, &na);
    char* y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

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
// Hostile files, in process

// Runs fn(arg) in a child process that an alarm kills after 5 s: a loader that blocks (a FIFO
// opened for reading waits for a writer forever) fails the check instead of hanging the suite.
// Returns fn's result (0 or 1), or -1 if the child was killed or crashed.
static int rel_in_child(int (*fn)(const char*), const char* arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        _exit(fn(arg) ? 1 : 0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

// 1 if each loader refuses the FIFO (its path in dir) with an error that says so.
static int rel_load_config_fifo(const char* dir) {
    GPT m;
    char err[1024];
    return gpt_load(&m, dir, err, sizeof err) == -1 && strstr(err, "config.json") && strstr(err, "FIFO");
}
static int rel_load_tokenizer_fifo(const char* path) {
    char err[1024];
    Tokenizer* t = tok_load_json(path, err, sizeof err);
    return !t && strstr(err, "FIFO");
}
static int rel_load_state_fifo(const char* path) {
    TrainStateHeader h;
    float *p, *m, *v;
    char err[1024];
    return state_file_read(path, STATE_MAGIC, STATE_VERSION, &h, sizeof h, &p, &m, &v, err, sizeof err) == -1 &&
           strstr(err, "FIFO");
}
static int rel_load_model_fifo(const char* dir) {
    GPT m;
    char err[1024];
    return gpt_load(&m, dir, err, sizeof err) == -1 && strstr(err, "model.safetensors") && strstr(err, "FIFO");
}

// Item 6 of issue 15: FIFOs in place of config.json, model.safetensors, tokenizer.json and
// train_state.bin are refused at once (before: each blocked forever in open()).
static void rel_check_fifos(const char* root) {
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/fifo", root);
    if (make_dirs(dir, path, sizeof path) != 0) {
        check(0, "hostile files: cannot create %s", dir);
        return;
    }
    static const char* names[] = {"config.json", "tokenizer.json", "train_state.bin"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (mkfifo(path, 0600) != 0) {
            skip("hostile files: FIFOs, because mkfifo failed");
            return;
        }
    }
    int cfg = rel_in_child(rel_load_config_fifo, dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int tok = rel_in_child(rel_load_tokenizer_fifo, path);
    snprintf(path, sizeof path, "%s/train_state.bin", dir);
    int st = rel_in_child(rel_load_state_fifo, path);
    // model.safetensors as a FIFO beside a good config.json
    GPT m;
    gpt_build(&m, (GPTConfig){.max_seq_len = 8, .vocab_size = 11, .num_layers = 1, .num_heads = 1, .channels = 4}, 1);
    char err[1024];
    snprintf(path, sizeof path, "%s/model", dir);
    int saved = gpt_save(&m, path, -1, err, sizeof err) == 0;
    gpt_free(&m);
    snprintf(path, sizeof path, "%s/model/model.safetensors", dir);
    int model = saved && unlink(path) == 0 && mkfifo(path, 0600) == 0 ? (snprintf(path, sizeof path, "%s/model", dir),
                                                                         rel_in_child(rel_load_model_fifo, path))
                                                                      : -2;
    check(cfg == 1 && tok == 1 && st == 1 && model == 1,
          "hostile files: FIFOs refused without blocking (1 = refused, -1 = hung or crashed): config.json %d, "
          "tokenizer.json %d, train_state.bin %d, model.safetensors %d",
          cfg, tok, st, model);
}

// Item 5: atomic_open never writes through a symlink planted at a temporary's name: planted at
// the old name (<path>.tmp.<pid>) and at the next 8 names this process would use, it creates a
// new file beside them and the link's target is left as it was.
static void rel_check_atomic_symlink(const char* root) {
    char target[4200], path[4200], link[4400], err[1024];
    snprintf(target, sizeof target, "%s/victim.txt", root);
    snprintf(path, sizeof path, "%s/log.csv", root);
    int ok = write_bytes(target, "precious\n", 9) == 0;
    AtomicFile af;
    ok = ok && atomic_open(&af, path, err, sizeof err) == 0; // learns the counter from the name it used
    const char* dot = ok ? strrchr(af.tmp, '.') : NULL;
    long next = dot && isdigit((unsigned char)dot[1]) ? strtol(dot + 1, NULL, 10) + 1 : 0;
    if (ok) atomic_abort(&af);
    snprintf(link, sizeof link, "%s.tmp.%ld", path, (long)getpid());
    ok = ok && symlink(target, link) == 0;
    for (long k = next; ok && k < next + 8; k++) {
        snprintf(link, sizeof link, "%s.tmp.%ld.%ld", path, (long)getpid(), k);
        ok = symlink(target, link) == 0;
    }
    int wrote = ok && atomic_open(&af, path, err, sizeof err) == 0;
    if (wrote) {
        fprintf(af.f, "step,loss\n");
        wrote = atomic_commit(&af, err, sizeof err) == 0;
    }
    size_t n = 0, m = 0;
    char* t = slurp(target, &n);
    char* p = slurp(path, &m);
    int intact = t && n == 9 && memcmp(t, "precious\n", 9) == 0 && p && m == 10;
    check(ok && wrote && intact, "hostile files: symlinks planted at 9 temporary names: the write went to a new file, "
                                 "the target is intact (%s)", intact ? "yes" : "no");
    free(t);
    free(p);
}

// Item 9: duplicate keys and keys with a NUL byte are refused with the key named, in JSON and so
// in config.json and preference records; a leading byte order mark gets a clear message.
static void rel_check_json_keys(const char* root) {
    static const struct {
        const char* text;
        const char* needle;
    } cases[] = {
        {"{\"n_layer\": 1, \"n_embd\": 8, \"n_layer\": 2}", "duplicate key \"n_layer\""},
        {"{\"a\": {\"x\": 1, \"y\": 2, \"x\": 3}}", "duplicate key \"x\""},
        {"{\"n_la\\u0000yer\": 1}", "key \"n_la\\u0000yer\" contains a NUL byte"},
        {"\xEF\xBB\xBF{\"a\": 1}", "byte order mark"},
        {"[1, \x01]", "unexpected byte 0x01"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        JsonValue v;
        char err[512] = "";
        int rc = json_parse(&v, cases[i].text, strlen(cases[i].text), err, sizeof err);
        if (rc == 0) json_free(&v);
        if (rc != -1 || !strstr(err, cases[i].needle)) {
            bad++;
            printf("     %s -> rc %d, \"%s\"\n", cases[i].text, rc, err);
        }
    }
    // 50k distinct keys (a GPT-2 vocabulary) still parse, in linear time
    size_t cap = 50000 * 16 + 16, n = 0;
    char* big = malloc_check(cap);
    n += (size_t)sprintf(big, "{");
    for (int k = 0; k < 50000; k++) n += (size_t)sprintf(big + n, "%s\"t%d\":%d", k ? "," : "", k, k);
    n += (size_t)sprintf(big + n, "}");
    JsonValue v;
    char err[512];
    double t0 = time_seconds();
    int big_ok = json_parse(&v, big, n, err, sizeof err) == 0 && v.len == 50000;
    double dt = time_seconds() - t0;
    if (big_ok) json_free(&v);
    free(big);
    // through the loaders: config.json with a repeated n_layer
    GPT m;
    gpt_build(&m, (GPTConfig){.max_seq_len = 8, .vocab_size = 11, .num_layers = 1, .num_heads = 1, .channels = 4}, 1);
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/dupcfg", root);
    int saved = gpt_save(&m, dir, -1, err, sizeof err) == 0;
    gpt_free(&m);
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char* cfg = "{\"model_type\": \"gpt2\", \"vocab_size\": 11, \"n_positions\": 8, \"n_embd\": 4, \"n_layer\": 1, "
                      "\"n_head\": 1, \"n_layer\": 2}";
    saved = saved && write_bytes(path, cfg, strlen(cfg)) == 0;
    int cfg_refused = saved && gpt_load(&m, dir, err, sizeof err) == -1 && strstr(err, "duplicate key \"n_layer\"");
    check(bad == 0 && big_ok && dt < 1.0 && cfg_refused,
          "hostile files: JSON refuses duplicate keys, NUL bytes in keys, a BOM, control bytes (%d of %zu wrong); "
          "50000 distinct keys parse in %.3f s; config.json with n_layer twice: %s",
          bad, sizeof cases / sizeof cases[0], dt, cfg_refused ? err : "accepted");
}

// A byte-level tokenizer (every byte a token, and <|endoftext|>) for the preference checks.
static Tokenizer* rel_byte_tokenizer(void) {
    const char* sample = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:?!\n";
    char err[512];
    return tok_train(sample, strlen(sample), 257, err, sizeof err);
}

// Reads path into set (seq_len T); pref_read_jsonl's return code.
static int rel_read_prefs(PrefSet* set, const Tokenizer* tok, const char* path, int T, int skip_bad, char* err,
                          size_t errlen) {
    pref_init(set, T);
    return pref_read_jsonl(set, path, tok, skip_bad, err, errlen);
}

// Items 10, 11 and 9 for preference records: pairs that differ only past T tokens are skipped and
// counted as identical; a UTF-8 BOM before the first record is not an error; a record with a
// repeated key is malformed, naming it; a truncated .gz is blamed on the file, not on a JSON line.
static void rel_check_prefs(const char* root) {
    Tokenizer* tok = rel_byte_tokenizer();
    if (!tok) {
        check(0, "hostile files: byte-level tokenizer");
        return;
    }
    char path[4200], err[1024];
    PrefSet set;
    snprintf(path, sizeof path, "%s/cut.jsonl", root);
    // with T = 8: prompt "ab" (2 tokens + <|endoftext|>), responses alike in their first 9 bytes: 8 fit
    const char* cut = "{\"prompt\": \"ab\", \"chosen\": \"cdefghij yes\", \"rejected\": \"cdefghij no\"}\n"
                      "{\"prompt\": \"ab\", \"chosen\": \"yes\", \"rejected\": \"no\"}\n";
    write_bytes(path, cut, strlen(cut));
    int rc = rel_read_prefs(&set, tok, path, 8, 0, err, sizeof err);
    check(rc == 0 && set.n == 1 && set.identical == 1 && set.cut_identical == 1,
          "hostile files: a pair identical once cut to T=8 is skipped and counted (%d kept, %ld identical, %ld of "
          "them after the cut)",
          set.n, set.identical, set.cut_identical);
    pref_free(&set);
    snprintf(path, sizeof path, "%s/bom.jsonl", root);
    const char* bom = "\xEF\xBB\xBF{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n"
                      "{\"prompt\": \"a\", \"chosen\": \"b\", \"chosen\": \"x\", \"rejected\": \"c\"}\n";
    write_bytes(path, bom, strlen(bom));
    rc = rel_read_prefs(&set, tok, path, 64, 0, err, sizeof err);
    check(rc == -1 && set.n == 1 && strstr(err, ":2: malformed JSON") && strstr(err, "duplicate key \"chosen\""),
          "hostile files: a BOM before the first record is skipped; a record with \"chosen\" twice: %s", err);
    pref_free(&set);
    // a .gz cut in the middle of a line
    char jl[4200], gz[4300], cmd[16384];
    snprintf(jl, sizeof jl, "%s/many.jsonl", root);
    FILE* f = fopen(jl, "w");
    for (int i = 0; f && i < 4000; i++)
        fprintf(f, "{\"prompt\": \"q%d\", \"chosen\": \"yes %d\", \"rejected\": \"no %d\"}\n", i, i * 7, i * 13);
    if (f) fclose(f);
    snprintf(gz, sizeof gz, "%s/many.jsonl.gz", root);
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s' && truncate -s 6000 '%s'", jl, gz, gz);
    if (run_shell(cmd) != 0) {
        skip("hostile files: truncated .gz, because gzip or truncate failed");
    } else {
        rc = rel_read_prefs(&set, tok, gz, 64, 0, err, sizeof err);
        check(rc == -1 && strstr(err, "truncated .gz") && !strstr(err, "malformed"),
              "hostile files: a truncated .gz is blamed on the file: %s", err);
        pref_free(&set);
    }
    tok_free(tok);
}

// Items 7 and 3: dpo_pairs.bin round-trips exactly and every fault of it is refused; a state file
// with a field out of its flag's range is refused by state_check naming the flag.
static void rel_check_pairs_file(const char* root) {
    Tokenizer* tok = rel_byte_tokenizer();
    char path[4200], err[1024];
    snprintf(path, sizeof path, "%s/pairs.jsonl", root);
    FILE* f = fopen(path, "w");
    for (int i = 0; f && i < 30; i++) fprintf(f, "{\"prompt\": \"p%d\", \"chosen\": \"good\", \"rejected\": \"bad %d\"}\n", i, i);
    if (f) fclose(f);
    PrefSet a, b;
    int ok = tok && rel_read_prefs(&a, tok, path, 16, 0, err, sizeof err) == 0;
    if (!ok) {
        check(0, "hostile files: pairs for dpo_pairs.bin: %s", err);
        tok_free(tok);
        return;
    }
    pref_split(&a, 0.2f, 7);
    float rc[64], rr[64];
    for (int i = 0; i < a.n; i++) rc[i] = -1.5f - (float)i, rr[i] = -2.25f * (float)(i + 1);
    snprintf(path, sizeof path, "%s/dpo_pairs.bin", root);
    uint64_t s1 = 0, s2 = 0;
    float *bc = NULL, *br = NULL;
    int V = tok_vocab_size(tok);
    ok = pref_save(&a, V, rc, rr, path, &s1, err, sizeof err) == 0 &&
         pref_load(&b, V, &bc, &br, path, &s2, err, sizeof err) == 0;
    int same = ok && s1 == s2 && b.n == a.n && b.n_val == a.n_val && b.seq_len == a.seq_len &&
               memcmp(bc, rc, (size_t)a.n * 4) == 0 && memcmp(br, rr, (size_t)a.n * 4) == 0;
    for (int i = 0; same && i < a.n; i++) {
        const PrefPair *x = &a.pairs[i], *y = &b.pairs[i];
        same = x->n_chosen == y->n_chosen && x->n_rejected == y->n_rejected && x->prompt_len == y->prompt_len &&
               memcmp(x->chosen, y->chosen, (size_t)x->n_chosen * 4) == 0 &&
               memcmp(x->rejected, y->rejected, (size_t)x->n_rejected * 4) == 0;
    }
    if (ok) pref_free(&b);
    free(bc);
    free(br);
    // every single flipped byte is refused (the checksum), and so is a file of another vocabulary
    size_t len = 0;
    char* bytes = slurp(path, &len);
    int refused = 0, tried = 0;
    for (size_t k = 0; bytes && k < len; k += len / 97 + 1, tried++) {
        bytes[k] ^= 0x10;
        write_bytes(path, bytes, len);
        bytes[k] ^= 0x10;
        refused += pref_load(&b, V, &bc, &br, path, &s2, err, sizeof err) == -1;
    }
    if (bytes) write_bytes(path, bytes, len);
    int other_vocab = pref_load(&b, V + 1, &bc, &br, path, &s2, err, sizeof err) == -1;
    free(bytes);
    check(same && refused == tried && other_vocab,
          "hostile files: dpo_pairs.bin round-trips %d pairs exactly; %d of %d flipped bytes refused; another "
          "vocabulary refused",
          a.n, refused, tried);
    pref_free(&a);
    tok_free(tok);
}

// Item 8: the CSV logs rebuilt on resume keep exactly the rows of the run's steps; a truncated
// last row and rows of another writer are dropped and counted, a row that is not one is an error.
static void rel_check_csv_filter(void) {
    const char* h = "step,stage,loss";
    const char* text = "step,stage,loss\n0,pretrain,1\n1,pretrain,2\n2,pretrain,3\n1,pretrain,9\n3,pretrain,4\n"
                       "0,dpo,5\n1,dpo,6\n2,dp";
    CsvFilterStats st;
    char err[256];
    size_t n = 0;
    char* out = csv_filter_rows(text, strlen(text), h, (CsvKeep){{3, 2}}, &n, &st, err, sizeof err);
    const char* want = "step,stage,loss\n0,pretrain,1\n1,pretrain,2\n2,pretrain,3\n0,dpo,5\n1,dpo,6\n";
    int ok = out && strcmp(out, want) == 0 && st.kept == 5 && st.later == 1 && st.disorder == 1 && st.truncated == 1;
    free(out);
    static const char* bad[] = {"step,stage,loss\n0,pretrain\n", "step,stage,loss\nx,pretrain,1\n",
                                "step,stage,loss\n0,sft,1\n", "step,stage,lossy\n0,pretrain,1\n",
                                "step,stage,loss\n\n0,pretrain,1\n"};
    int refused = 0;
    for (int i = 0; i < 5; i++) {
        out = csv_filter_rows(bad[i], strlen(bad[i]), h, (CsvKeep){{10, 10}}, &n, &st, err, sizeof err);
        refused += out == NULL;
        free(out);
    }
    // a log without a stage column (dpo.csv) keeps the steps below below[0]
    const char* d = "step,loss\n0,1\n1,2\n2,3\n";
    out = csv_filter_rows(d, strlen(d), "step,loss", (CsvKeep){{2, 0}}, &n, &st, err, sizeof err);
    int plain = out && strcmp(out, "step,loss\n0,1\n1,2\n") == 0;
    free(out);
    check(ok && refused == 5 && plain,
          "hostile files: the CSV rebuilt on resume keeps the run's rows (a truncated last row, a row of another "
          "writer and later steps dropped, %d of 5 malformed logs refused, stage-less logs %s)",
          refused, plain ? "ok" : "wrong");
}

// Item 8: a cached token shard is used only under its own cache key (a shard of another data set
// copied in is refused, naming both keys).
static void rel_check_shard_key(const char* root) {
    char dir[4200], err[1024];
    snprintf(dir, sizeof dir, "%s/cache", root);
    const char* text = "the cat sat on the mat.\nthe dog sat on the log.\n";
    Tokenizer* tok = rel_byte_tokenizer();
    DataTokens a, b;
    int ok = tok && data_prepare_tokens(text, strlen(text), 0.3, dir, "tok", 3, tok_vocab_size(tok),
                                        (DataEncodeFn)tok_encode, tok, &a, err, sizeof err) == 0;
    if (ok) {
        // the other data set's key: the same shards renamed to its name
        uint64_t other = data_cache_key("other", 5, "tok", 3, 0.3);
        char tp[4096], vp[4096];
        data_cache_paths(dir, other, tp, vp, sizeof tp);
        ok = rename(a.train_path, tp) == 0 && rename(a.val_path, vp) == 0;
        data_tokens_free(&a);
        int rc = ok ? data_prepare_tokens("other", 5, 0.3, dir, "tok", 3, tok_vocab_size(tok), (DataEncodeFn)tok_encode,
                                          tok, &b, err, sizeof err)
                    : 0;
        check(ok && rc == -1 && strstr(err, "cache key"), "hostile files: a token shard of another data set is "
                                                          "refused: %s", err);
    } else {
        check(0, "hostile files: token shards: %s", err);
    }
    tok_free(tok);
}

// The hostile-file checks, in a temporary folder.
static void rel_check_hostile_files(void) {
    char root[] = "/tmp/forgetful-hostile.XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "hostile files: mkdtemp failed");
        return;
    }
    rel_check_fifos(root);
    rel_check_atomic_symlink(root);
    rel_check_json_keys(root);
    rel_check_prefs(root);
    rel_check_pairs_file(root);
    rel_check_csv_filter();
    rel_check_shard_key(root);
    rm_tree(root);
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
    int same = rel_same_file(a, b);
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
    rel_check_hostile_files();
    rel_check_train();
}
