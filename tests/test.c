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

int same_file(const char* a, const char* b) {
    size_t na = 0, nb = 0;
    char* x = slurp(a, &na);
    char* y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
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
