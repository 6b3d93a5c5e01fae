// run.c: the run folder's plumbing for ./train's stages (API and file layouts in run.h): the
// training state file, the CSV logs, the progress line, formatting, and a run's probes.
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../data/shards.h"
#include "util.h"

// ============================================================================
// Formatting and the memory check

void format_bytes(char* buf, size_t len, double bytes) {
    if (bytes >= 1024.0 * 1024 * 1024) snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else snprintf(buf, len, "%.1f MiB", bytes / (1024.0 * 1024));
}

void format_duration(char* buf, size_t len, double s) {
    if (!(s >= 0.0) || s > 1e8) {
        snprintf(buf, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void refuse_if_too_big(size_t mem) {
    size_t avail = memory_available();
    if (avail > 0 && mem > avail) {
        char a[32], b[32];
        format_bytes(a, sizeof a, (double)mem);
        format_bytes(b, sizeof b, (double)avail);
        fatal("the run needs about %s but only %s is available; use a smaller -B, -T or model", a, b);
    }
}

// ============================================================================
// Training state

// The checksum is FNV-1a 64 (data_hash) from this offset basis, one digit short of FNV's own
// (14695981039346656037); it is part of the file format, so it stays.
#define STATE_HASH_INIT 1469598103934665603ull

int state_save(const char* dir, const TrainStateHeader* h, const GPT* model, char* err, size_t errlen) {
    char path[4096];
    path_join(path, sizeof path, dir, "train_state.bin");
    size_t N = model->num_parameters;
    const float* arrays[3] = {model->params_memory, model->m_memory, model->v_memory};
    for (int a = 0; a < 3; a++) {
        if (!arrays[a]) {
            set_err(err, errlen, "%s: the optimizer state is missing (no step taken)", path);
            return -1;
        }
        for (size_t i = 0; i < N; i++)
            if (!isfinite(arrays[a][i])) {
                set_err(err, errlen, "%s: refusing to save a non-finite value", path);
                return -1;
            }
    }
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    uint64_t sum = data_hash(STATE_HASH_INIT, h, sizeof *h);
    int ok = fwrite(h, sizeof *h, 1, af.f) == 1;
    for (int a = 0; a < 3 && ok; a++) {
        sum = data_hash(sum, arrays[a], N * sizeof(float));
        ok = fwrite(arrays[a], sizeof(float), N, af.f) == N;
    }
    ok = ok && fwrite(&sum, sizeof sum, 1, af.f) == 1;
    if (!ok) {
        set_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

void state_load(const char* dir, TrainStateHeader* h, float** params, float** m, float** v) {
    char path[4096];
    path_join(path, sizeof path, dir, "train_state.bin");
    FILE* f = fopen(path, "rb");
    if (!f) fatal("%s: %s (is %s a run folder saved with --save-every or Ctrl-C?)", path, strerror(errno), dir);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) fatal("%s: %s", path, strerror(errno));
    if ((size_t)st.st_size < sizeof *h || fread(h, sizeof *h, 1, f) != 1)
        fatal("%s: truncated (%lld bytes, the header alone is %zu)", path, (long long)st.st_size, sizeof *h);
    if (h->magic != STATE_MAGIC) fatal("%s: not a training state (bad magic)", path);
    // version 1 is version 2 without the precision, which took what was zeroed padding (fp32)
    if (h->version != STATE_VERSION && h->version != 1)
        fatal("%s: version %u, this ./train reads versions 1 and %d", path, h->version, STATE_VERSION);
    if (h->version == 1) h->precision = 0;
    h->input[sizeof h->input - 1] = '\0';
    GPTConfig c = {h->maxT, h->V, h->L, h->NH, h->C};
    char err[256];
    if (gpt_config_check(&c, err, sizeof err) != 0) fatal("%s: %s", path, err);
    uint64_t N = h->num_parameters;
    // the size must match exactly before anything large is allocated
    if (N == 0 || N > ((uint64_t)1 << 36) ||
        (uint64_t)st.st_size != sizeof *h + 3 * N * sizeof(float) + sizeof(uint64_t))
        fatal("%s: size %lld does not match %llu parameters (truncated or corrupt)", path, (long long)st.st_size,
              (unsigned long long)N);
    uint64_t sum = data_hash(STATE_HASH_INIT, h, sizeof *h);
    float** arrays[3] = {params, m, v};
    for (int a = 0; a < 3; a++) {
        *arrays[a] = malloc_check(N * sizeof(float));
        fread_check(*arrays[a], sizeof(float), N, f, path);
        sum = data_hash(sum, *arrays[a], N * sizeof(float));
    }
    uint64_t stored;
    fread_check(&stored, sizeof stored, 1, f, path);
    fclose(f);
    if (stored != sum) fatal("%s: checksum mismatch (the file is corrupt)", path);
    if (h->step < 0 || h->step > h->steps || h->B <= 0 || h->T <= 0 || h->T > h->maxT)
        fatal("%s: inconsistent step/batch fields", path);
}

// ============================================================================
// CSV logs

void restart_csv(const char* path, const char* header, int keep_below, int required) {
    char err[1024];
    char* old = NULL;
    size_t len = 0, hl = strlen(header);
    if (keep_below > 0) {
        old = read_file(path, &len, err, sizeof err);
        if (!old && required) fatal("%s (needed to continue the log on --resume)", err);
        if (old && (strncmp(old, header, hl) != 0 || old[hl] != '\n'))
            fatal("%s: unexpected header (not written by ./train)", path);
    }
    AtomicFile af;
    if (atomic_open(&af, path, err, sizeof err) != 0) fatal("%s", err);
    fprintf(af.f, "%s\n", header);
    if (old) {
        char* line = old + hl + 1;
        while (*line) {
            char* nl = strchr(line, '\n');
            size_t l = nl ? (size_t)(nl - line) : strlen(line);
            char* end = NULL;
            long step = strtol(line, &end, 10);
            if (nl && end != line && *end == ',' && step < keep_below && strncmp(end, ",pretrain,", 10) == 0)
                fwrite_check(line, 1, l + 1, af.f, path);
            line = nl ? nl + 1 : line + l;
        }
        free(old);
    }
    if (atomic_commit(&af, err, sizeof err) != 0) fatal("%s", err);
}

FILE* open_csv_log(const char* path, const char* header, int keep_below) {
    restart_csv(path, header, keep_below, 1);
    return fopen_check(path, "a");
}

void log_row(FILE* f, const char* path, int step, const char* stage, const double* v, int n) {
    fprintf(f, "%d", step);
    if (stage) fprintf(f, ",%s", stage);
    for (int i = 0; i < n; i++) {
        if (isnan(v[i])) fprintf(f, ",");
        else fprintf(f, ",%.6g", v[i]);
    }
    fprintf(f, "\n");
    if (fflush(f) != 0 || ferror(f)) fatal("writing %s: %s", path, strerror(errno));
}

// ============================================================================
// Progress

void progress_init(Progress* pr, int first_step, int steps, double tokens_per_step) {
    pr->tty = isatty(STDOUT_FILENO);
    pr->steps = steps;
    pr->every = steps / 25 > 0 ? steps / 25 : 1;
    pr->t0 = time_seconds();
    pr->first_step = first_step;
    pr->tokens_per_step = tokens_per_step;
}

void progress_step(Progress* pr, int step, float loss, double val, float lr, float norm, double ms) {
    double elapsed = time_seconds() - pr->t0;
    int done = step + 1 - pr->first_step;
    double eta = done > 0 ? elapsed / done * (pr->steps - step - 1) : NAN;
    char eta_s[32], val_s[32];
    format_duration(eta_s, sizeof eta_s, eta);
    if (isnan(val)) snprintf(val_s, sizeof val_s, "      ");
    else snprintf(val_s, sizeof val_s, "%6.4f", val);
    double tok_s = pr->tokens_per_step / (ms / 1000.0);
    int last = step + 1 == pr->steps;
    if (pr->tty) {
        int width = 20, fill = (int)((double)(step + 1) / pr->steps * width);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        printf("\r[%s] %*d/%d loss %.4f val %s lr %.2e %6.1f ms %7.0f tok/s ETA %s\033[K", bar,
               (int)snprintf(NULL, 0, "%d", pr->steps), step + 1, pr->steps, (double)loss, val_s, (double)lr, ms,
               tok_s, eta_s);
        if (!isnan(val) || last) printf("\n");
    } else if (step % pr->every == 0 || !isnan(val) || last) {
        printf("step %*d/%d | loss %.4f | val %s | lr %.2e | norm %6.3f | %6.1f ms | %7.0f tok/s | ETA %s\n",
               (int)snprintf(NULL, 0, "%d", pr->steps), step + 1, pr->steps, (double)loss, val_s, (double)lr,
               (double)norm, ms, tok_s, eta_s);
    }
    fflush(stdout);
}

void progress_break(const Progress* pr) {
    if (pr->tty) printf("\r\033[K");
}

