// tests/test.c: the helpers tests/test.h declares for every test file: tolerances, the PyTorch
// reference state of the model, the text fixtures' reader, files and processes, and the GPU
// build's managed buffers.
#include "test.h"

// ----------------------------------------------------------------------------
// Tolerances

double max_abs_diff(const float* a, const float* b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return d; // a NaN fails every tolerance, whatever follows it
        if (d > m) m = d;
    }
    return m;
}

double max_abs(const float* a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i]) > m) m = fabs((double)a[i]);
    return m;
}

double tensor_rel_diff(const float* a, const float* b, size_t n) {
    double s = max_abs(b, n);
    return max_abs_diff(a, b, n) / (s > 1e-6 ? s : 1e-6);
}

// ----------------------------------------------------------------------------
// The model's PyTorch reference state

int gptref_load(GptRef* r, char* why, size_t len) {
    const char* path = "data/fixtures/gpt_reference.bin";
    size_t n;
    memset(r, 0, sizeof *r);
    r->file = read_file(path, &n, why, len);
    if (!r->file) return -1;
    const int32_t* h = (const int32_t*)r->file;
    if (n < 80 || h[0] != 0x47505452 || h[1] != 1) {
        snprintf(why, len, "%s: bad magic/version (run `make fixtures`)", path);
        return -1;
    }
    r->cfg = (GPTConfig){.num_layers = h[2], .channels = h[3], .num_heads = h[4], .max_seq_len = h[5],
                         .vocab_size = h[6]};
    r->B = h[7];
    r->T = h[8];
    r->nsteps = h[9];
    const float* hf = (const float*)(r->file + 48);
    r->lr = hf[0], r->beta1 = hf[1], r->beta2 = hf[2], r->eps = hf[3], r->wd = hf[4], r->clip = hf[5];
    GPT tmp;
    gpt_build(&tmp, r->cfg, 1);
    r->P = tmp.num_parameters;
    gpt_free(&tmp);
    size_t L = (size_t)r->cfg.num_layers, C = (size_t)r->cfg.channels, V = (size_t)r->cfg.vocab_size;
    size_t BT = (size_t)r->B * (size_t)r->T;
    size_t want = 80 + 4 * (r->P + 2 * BT + BT * V + BT + 1 + (L + 1) * BT * C + r->P + BT + r->P +
                            (size_t)(2 * r->nsteps + 1));
    if (n != want) {
        snprintf(why, len, "%s: %zu bytes, expected %zu (run `make fixtures`)", path, n, want);
        return -1;
    }
    const char* p = r->file + 80;
#define TAKE(field, type, count)                                                                                    \
    r->field = (const type*)p;                                                                                     \
    p += 4 * (count)
    TAKE(params, float, r->P);
    TAKE(inputs, int, BT);
    TAKE(targets, int, BT);
    TAKE(logits, float, BT * V);
    TAKE(losses, float, BT);
    r->mean_loss = *(const float*)p;
    p += 4;
    TAKE(hidden, float, (L + 1) * BT * C);
    TAKE(grads, float, r->P);
    TAKE(seed, float, BT);
    TAKE(grads2, float, r->P);
    TAKE(step_losses, float, (size_t)r->nsteps + 1);
    TAKE(step_norms, float, (size_t)r->nsteps);
#undef TAKE
    return 0;
}

void gptref_model(GPT* m, const GptRef* r) {
    gpt_build(m, r->cfg, 1);
    memcpy(m->params_memory, r->params, r->P * sizeof(float));
}

// ----------------------------------------------------------------------------
// Text fixtures

char* fixture_word(char** cur, const char* want) {
    char* s = *cur;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    char* e = s;
    while (*e && *e != ' ' && *e != '\n' && *e != '\t' && *e != '\r') e++;
    if (*e) *e++ = '\0';
    *cur = e;
    if (want && strcmp(s, want) != 0) return NULL;
    return s;
}

double fixture_num(char** cur) {
    char* w = fixture_word(cur, NULL);
    char* end;
    double v = strtod(w, &end);
    return end == w || *end ? NAN : v;
}

int fixture_int(char** cur) {
    double v = fixture_num(cur);
    return v >= 0.0 && v < 2147483648.0 && v == floor(v) ? (int)v : -1;
}

// ----------------------------------------------------------------------------
// Files and processes

const char* train_bin(void) {
    const char* b = getenv("TRAIN_BIN");
    return b && *b ? b : "./train";
}

int write_bytes(const char* path, const void* data, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

char* slurp(const char* path, size_t* n) {
    char err[512];
    return read_file(path, n, err, sizeof err);
}

int count_lines(const char* path) {
    FILE* f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void rm_tree(const char* dir) {
    // depth first, without following links (a test's dangling symlink is removed, not its target)
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) printf("     (could not remove %s)\n", dir);
}

int run_shell(const char* cmd) {
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int run_capture(const char* cmd, char* out, size_t outlen) {
    FILE* p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    int c;
    while ((c = fgetc(p)) != EOF)
        if (n + 1 < outlen) out[n++] = (char)c;
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// ----------------------------------------------------------------------------
// ./train runs and GPT-2 files

int train_cli(const char* root, const char* args, char* err, size_t errlen) {
    char cmd[12288], path[600];
    // passive waiting: on a machine shared with other jobs, spinning OpenMP threads can stall a
    // tiny run for seconds per step; the results do not depend on it
    // it runs inside root, so that the tokenizer and shard cache (.cache/) stays there
    char bin[4096];
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    snprintf(cmd, sizeof cmd, "cd %s && OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} %s %s >out.txt 2>err.txt", root,
             bin, args);
    int rc = run_shell(cmd);
    snprintf(path, sizeof path, "%s/err.txt", root);
    err[0] = '\0';
    size_t len = 0;
    char* text = slurp(path, &len);
    if (text) {
        snprintf(err, errlen, "%s", text);
        free(text);
    }
    return rc;
}

void train_expect_error(const char* root, const char* args, int code, const char* needle, const char* what) {
    char err[2048];
    int rc = train_cli(root, args, err, sizeof err);
    size_t n = strlen(err);
    int one_line = n > 0 && err[n - 1] == '\n' && strchr(err, '\n') == err + n - 1;
    if (n > 0 && err[n - 1] == '\n') err[n - 1] = '\0';
    check(rc == code && one_line && strncmp(err, "error: ", 7) == 0 && strstr(err, needle),
          "train CLI: %s -> exit %d (want %d), one line: \"%s\"", what, rc, code, err);
}

char* train_test_text(size_t bytes, size_t* len) {
    static const char* words[] = {"the", "a", "cat", "dog", "bird", "sees", "likes", "runs", "to", "house",
                                  "tree", "small", "red", "happy", "and", "river"};
    char* t = malloc_check(bytes + 64);
    size_t n = 0;
    uint64_t rng = 42;
    while (n < bytes) {
        int k = 3 + (int)(random_u32(&rng) % 6);
        for (int i = 0; i < k; i++) n += (size_t)sprintf(t + n, "%s%s", i ? " " : "", words[random_u32(&rng) % 16]);
        n += (size_t)sprintf(t + n, ".%s", random_u32(&rng) % 4 == 0 ? "\n" : " ");
    }
    *len = n;
    return t;
}

int tok_write_gpt2_files(const char* tj_path, const char* enc_path, const char* bpe_path) {
    char err[512];
    size_t len;
    char* text = read_file(tj_path, &len, err, sizeof err);
    if (!text) return -1;
    JsonValue root;
    int rc = -1;
    if (json_parse(&root, text, len, err, sizeof err)) {
        free(text);
        return -1;
    }
    const JsonValue* model = json_get(&root, "model");
    const JsonValue* vocab = json_get(model, "vocab");
    const JsonValue* merges = json_get(model, "merges");
    FILE* fe = fopen(enc_path, "wb");
    FILE* fb = fopen(bpe_path, "wb");
    if (vocab && merges && fe && fb) {
        fputc('{', fe);
        for (size_t k = 0; k < vocab->len; k++) {
            if (k) fputs(", ", fe);
            json_write_string(fe, vocab->keys[k], vocab->key_lens[k]);
            fprintf(fe, ": %d", (int)vocab->items[k].number);
        }
        fputs("}", fe);
        fputs("#version: 0.2\n", fb);
        for (size_t k = 0; k < merges->len; k++) fprintf(fb, "%s\n", merges->items[k].str);
        rc = 0;
    }
    if (fe && fclose(fe)) rc = -1;
    if (fb && fclose(fb)) rc = -1;
    json_free(&root);
    free(text);
    return rc;
}

// ----------------------------------------------------------------------------
// The GPU build's managed buffers

#ifdef USE_CUBLAS
float* managed_rand(size_t n, uint64_t* rng) {
    float* p = gpu_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * random_f32(rng) - 1.0f;
    return p;
}

float* managed_copy(const float* x, size_t n) {
    float* p = gpu_alloc(n * sizeof(float));
    memcpy(p, x, n * sizeof(float));
    return p;
}

void check_vs_cpu(const char* what, const float* gpu, const float* cpu, size_t n, double tol) {
    double d = max_abs_diff(gpu, cpu, n);
    check(d <= tol, "gpu: %-30s max abs diff vs CPU %.3g (tol %.0e, %zu values)", what, d, tol, n);
}
#endif
