// run.c: the run folder's plumbing for ./train's stages (API and file layouts in run.h): the
// training state file, the CSV logs, the progress line, formatting, and a run's probes.
#define _GNU_SOURCE
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../data/shards.h"
#include "flags.h"
#include "dist.h"
#include "gemm.h"
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

void refuse_memory(size_t total, const MemPart* parts, int n, size_t* avail_out) {
    size_t avail = memory_available();
    if (avail_out) *avail_out = avail;
    if (avail == 0 || total <= avail) return;
    char a[32], b[32], msg[2048];
    format_bytes(a, sizeof a, (double)total);
    format_bytes(b, sizeof b, (double)avail);
    int k = snprintf(msg, sizeof msg, "the run needs about %s but only %s is available", a, b);
    int named = 0;
    for (int i = 0; i < n && k < (int)sizeof msg; i++) {
        if (parts[i].bytes <= avail) continue;
        format_bytes(a, sizeof a, (double)parts[i].bytes);
        k += snprintf(msg + k, sizeof msg - (size_t)k, "%s %s takes %s%s%s", named ? ";" : ":", parts[i].what, a,
                      parts[i].fix[0] ? ", " : "", parts[i].fix);
        named = 1;
    }
    if (!named && k < (int)sizeof msg) {
        k += snprintf(msg + k, sizeof msg - (size_t)k, ": each part fits alone but not together:");
        for (int i = 0; i < n && k < (int)sizeof msg; i++) {
            format_bytes(a, sizeof a, (double)parts[i].bytes);
            k += snprintf(msg + k, sizeof msg - (size_t)k, "%s %s %s%s%s", i ? ";" : "", parts[i].what, a,
                          parts[i].fix[0] ? ", " : "", parts[i].fix);
        }
    }
    fatal("%s", msg);
}

void ticker_init(Ticker* tk, const char* what, const char* unit, size_t total) {
    memset(tk, 0, sizeof *tk);
    tk->what = what;
    tk->unit = unit;
    tk->total = total;
    tk->t0 = tk->last = time_seconds();
    tk->tty = isatty(STDOUT_FILENO);
    tk->out = stdout;
}

void ticker_tick(Ticker* tk, size_t done) {
    double now = time_seconds(), el = now - tk->t0;
    if (el < 2.0 || done == 0 || now - tk->last < (tk->tty ? 0.5 : 10.0)) return;
    tk->last = now;
    tk->shown = 1;
    char left[32];
    format_duration(left, sizeof left, el / (double)done * (double)(tk->total - done));
    fprintf(tk->out, "%s%-10s %zu/%zu %s, %s left%s", tk->tty ? "\r" : "", tk->what, done, tk->total, tk->unit,
            left, tk->tty ? "\033[K" : "\n");
    fflush(tk->out);
}

void ticker_end(Ticker* tk) {
    if (tk->shown && tk->tty) fprintf(tk->out, "\r\033[K");
    fflush(tk->out);
}

// ============================================================================
// Model folders

void save_model_folder(const GPT* model, const Tokenizer* tok, const char* dir) {
    char err[1024];
    if (gpt_save(model, dir, tok_eot(tok), err, sizeof err) != 0) fatal("%s", err);
    if (tok_save_hf(tok, dir, model->config.max_seq_len, err, sizeof err) != 0) fatal("%s", err);
}

// ============================================================================
// The run folder

const char* const RUN_FOLDER_FILES[] = {
    "train_state.bin", "dpo_state.bin", "dpo_pairs.bin",  "train.csv",  "dpo.csv",        "probes.csv",
    "baselines.csv",   "probe_bins.safetensors",            "info_plane.svg", "probes.svg", "preference.svg",
    "ib_bound.csv",    "run.json",      "index.html",     "pretrain",   "dpo",            NULL};

// The files a run writes in a model folder (pretrain/, dpo/), removed with --overwrite.
static const char* const MODEL_FOLDER_FILES[] = {
    "config.json",           "model.safetensors", "tokenizer.json", "generation_config.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.json",      "merges.txt",     NULL};

void run_folder_remove(const char* dir, const char* const* names) {
    char path[4400], err[4600];
    for (int i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            run_folder_remove(path, MODEL_FOLDER_FILES);
            if (remove_temporaries(path, err, sizeof err) < 0) fatal("%s", err);
            if (rmdir(path) != 0 && errno != ENOTEMPTY && errno != EEXIST)
                fatal("%s: cannot remove: %s", path, strerror(errno));
        } else if (unlink(path) != 0) {
            fatal("%s: cannot remove: %s", path, strerror(errno));
        }
    }
}

// The entries of dir other than its lock, the first 4 named in names (n bytes); how many there are
// (0 when dir is absent, -1 if it cannot be read).
static int folder_entries(const char* dir, char* names, size_t n) {
    DIR* d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    int count = 0;
    size_t used = 0;
    names[0] = '\0';
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, ".lock") == 0) continue;
        if (count < 4 && used < n)
            used += (size_t)snprintf(names + used, n - used, "%s%s", count ? ", " : "", e->d_name);
        else if (count == 4 && used < n) used += (size_t)snprintf(names + used, n - used, ", ...");
        count++;
    }
    closedir(d);
    return count;
}

static void check_dir_length(const char* dir, const char* flag) {
    size_t n = strlen(dir);
    if (n == 0) error_usage("%s: empty folder name", flag);
    if (n > RUN_DIR_MAX)
        error_usage("%s: the folder's path is %zu bytes long; at most %d are accepted (the run's files go below it)",
                    flag, n, RUN_DIR_MAX);
}

static void folder_claim(const char* dir, const char* flag, int fresh, int overwrite) {
    char err[4600];
    check_dir_length(dir, flag);
    struct stat st;
    if (!fresh && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        fatal("%s: not a run folder (%s)", dir, stat(dir, &st) != 0 ? strerror(errno) : "not a directory");
    if (fresh && make_dirs(dir, err, sizeof err) != 0) fatal("%s", err);
    if (dir_lock(dir, err, sizeof err) < 0) fatal("%s", err); // the descriptor stays open until we exit
    static const char* const subdirs[] = {"", "/pretrain", "/dpo"};
    int removed = 0;
    for (int i = 0; i < 3; i++) {
        char sub[RUN_DIR_MAX + 16];
        snprintf(sub, sizeof sub, "%s%s", dir, subdirs[i]);
        int k = remove_temporaries(sub, err, sizeof err);
        if (k < 0) fatal("%s", err);
        removed += k;
    }
    if (removed > 0)
        printf("note: removed %d temporary file%s a killed run left in %s\n", removed, removed > 1 ? "s" : "", dir);
    if (!fresh) return;
    char names[512];
    int n = folder_entries(dir, names, sizeof names);
    if (n < 0) fatal("%s: cannot list the folder: %s", dir, strerror(errno));
    if (n > 0 && overwrite) {
        run_folder_remove(dir, RUN_FOLDER_FILES);
        n = folder_entries(dir, names, sizeof names);
        if (n > 0)
            printf("note: --overwrite kept %d entr%s in %s that ./train does not write: %s\n", n, n > 1 ? "ies" : "y",
                   dir, names);
        return;
    }
    if (n > 0)
        error_usage("%s %s: the folder is not empty (%s); a new run there would replace another run's files. "
                    "Continue that run with --resume %s, choose another %s, or add --overwrite to replace it",
                    flag, dir, names, dir, flag);
}

static void folder_default(char* dir, size_t n, const char* base, int create) {
    char names[64];
    for (int k = 1; k < 10000; k++) {
        int w = k == 1 ? snprintf(dir, n, "%s", base) : snprintf(dir, n, "%s-%d", base, k);
        if (w < 0 || (size_t)w >= n || (size_t)w > RUN_DIR_MAX) fatal("%s: run folder name too long", base);
        if (!create) {
            if (folder_entries(dir, names, sizeof names) == 0) return;
            continue;
        }
        char parent[RUN_DIR_MAX + 16], err[4600];
        snprintf(parent, sizeof parent, "%s", dir);
        char* slash = strrchr(parent, '/');
        if (slash) {
            *slash = '\0';
            if (parent[0] && make_dirs(parent, err, sizeof err) != 0) fatal("%s", err);
        }
        // mkdir, not make_dirs: exactly one of two runs starting at once creates a given name
        if (mkdir(dir, 0755) == 0) return;
        if (errno != EEXIST) fatal("%s: cannot create directory: %s", dir, strerror(errno));
        if (folder_entries(dir, names, sizeof names) == 0) return; // an empty folder is free
    }
    fatal("%s: no free run folder name (tried %s-2 .. %s-9999)", base, base, base);
}

// In a data-parallel job rank 0 alone claims, locks and names the folder; the others wait for it
// (and take its name): they would find it locked, or taken, and pick another.
void run_folder_claim(const char* dir, const char* flag, int fresh, int overwrite) {
    if (dist_root()) folder_claim(dir, flag, fresh, overwrite);
    dist_barrier();
}

void run_folder_default(char* dir, size_t n, const char* base, int create) {
    if (dist_root()) folder_default(dir, n, base, create);
    dist_broadcast(dir, n);
}

// ============================================================================
// Ctrl-C and SIGTERM

// Set by the handler, read between steps: the one piece of state a signal may touch.
static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig) { interrupted = sig; }

void run_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; // a second signal of the same kind ends the program at once
    sigemptyset(&sa.sa_mask);
    // SIGUSR1 as well: mpirun forwards it to every rank, while a Ctrl-C makes it end the job at once
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
        fatal("sigaction: %s", strerror(errno));
}

int run_interrupted(void) { return interrupted; }

const volatile sig_atomic_t* run_interrupt_flag(void) { return &interrupted; }

const char* run_interrupt_name(void) { return interrupted == SIGTERM ? "terminated (SIGTERM)" : "interrupted"; }

// ============================================================================
// Training state

uint64_t state_param_count(int L, int C, int V, int maxT) {
    uint64_t c = (uint64_t)C;
    return (uint64_t)V * c + (uint64_t)maxT * c + (uint64_t)L * (12 * c * c + 13 * c) + 2 * c;
}

int state_file_write(const char* path, const void* h, size_t hsize, const GPT* model, char* err, size_t errlen) {
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
    uint64_t sum = data_hash(STATE_HASH_INIT, h, hsize);
    int ok = fwrite(h, hsize, 1, af.f) == 1;
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

// Reads the three arrays of a state file after its header (sum: the header's checksum so far) and
// checks the checksum and finiteness; NULL, or what is wrong.
static const char* state_read_arrays(FILE* f, uint64_t N, uint64_t sum, float** arrays[3]) {
    for (int a = 0; a < 3; a++) {
        *arrays[a] = malloc_check(N * sizeof(float));
        if (fread(*arrays[a], sizeof(float), N, f) != N) return "read failed";
        sum = data_hash(sum, *arrays[a], N * sizeof(float));
    }
    uint64_t stored;
    if (fread(&stored, sizeof stored, 1, f) != 1) return "read failed";
    if (stored != sum) return "checksum mismatch (the file is corrupt)";
    for (int a = 0; a < 3; a++)
        for (uint64_t i = 0; i < N; i++)
            if (!isfinite((*arrays[a])[i])) return "a non-finite value (corrupt)";
    return NULL;
}

int state_file_read(const char* path, uint32_t magic, uint32_t version, void* h, size_t hsize, float** params,
                    float** m, float** v, char* err, size_t errlen) {
    float** arrays[3] = {params, m, v};
    for (int a = 0; a < 3; a++) *arrays[a] = NULL;
    FILE* f = fopen_regular(path, err, errlen);
    if (!f) return -1;
    struct stat st;
    StatePrefix pre;
    char why[160] = "";
    if (fstat(fileno(f), &st) != 0) snprintf(why, sizeof why, "%s", strerror(errno));
    else if ((uint64_t)st.st_size < hsize || fread(h, hsize, 1, f) != 1)
        snprintf(why, sizeof why, "truncated (%lld bytes, the header alone is %zu)", (long long)st.st_size, hsize);
    if (!why[0]) {
        memcpy(&pre, h, sizeof pre);
        uint64_t N = pre.num_parameters;
        if (pre.magic != magic) snprintf(why, sizeof why, "not a state file of this kind (bad magic)");
        else if (pre.version != version)
            snprintf(why, sizeof why, "version %u, this ./train reads version %u (an older or newer ./train wrote it)",
                     pre.version, version);
        // the size must match exactly before anything large is allocated
        else if (N == 0 || N > ((uint64_t)1 << 36) || (uint64_t)st.st_size != hsize + 3 * N * sizeof(float) + 8)
            snprintf(why, sizeof why, "size %lld does not match %llu parameters (truncated or corrupt)",
                     (long long)st.st_size, (unsigned long long)N);
        else {
            const char* w = state_read_arrays(f, N, data_hash(STATE_HASH_INIT, h, hsize), arrays);
            if (w) snprintf(why, sizeof why, "%s", w);
        }
    }
    fclose(f);
    if (!why[0]) return 0;
    set_err(err, errlen, "%s: %s", path, why);
    for (int a = 0; a < 3; a++) {
        free(*arrays[a]);
        *arrays[a] = NULL;
    }
    return -1;
}

// A field of a state header and the range of the flag that sets it.
typedef struct {
    const char* flag; // the flag (or name) the message gives
    size_t offset;
    char type; // 'i' int32, 'f' float, 'd' double
    double min, max;
} StateField;

#define TS(f) offsetof(TrainStateHeader, f)
static const StateField TRAIN_FIELDS[] = {
    {"-L", TS(L), 'i', 1, 128},
    {"-C", TS(C), 'i', 1, 16384},
    {"-H", TS(NH), 'i', 1, 1024},
    {"n_positions", TS(maxT), 'i', 2, 65536},
    {"the vocabulary size", TS(V), 'i', 1, 1 << 24},
    {"-T", TS(T), 'i', 2, 65536},
    {"-B", TS(B), 'i', 1, 65536},
    {"--steps", TS(steps), 'i', 1, 1e9},
    {"--warmup", TS(warmup), 'i', 0, 1e9},
    {"--sequential", TS(sequential), 'i', 0, 1},
    {"--threads", TS(threads), 'i', 1, 4096}, // as run: 0 (all cores) is resolved before it is saved
    {"the schedule's --steps", TS(sched_steps), 'i', 1, 1e9},
    {"the step", TS(step), 'i', 0, 1e9},
    {"--eval-every", TS(eval_every), 'i', 0, 1e9},
    {"--eval-batches", TS(eval_batches), 'i', 1, 1e6},
    {"--sample-every", TS(sample_every), 'i', 0, 1e9},
    {"--save-every", TS(save_every), 'i', 0, 1e9},
    {"--probe-every", TS(probe_every), 'i', 0, 1e9},
    {"--probe-seqs", TS(probe_seqs), 'i', 1, 1e6},
    {"--probe-bins", TS(probe_bins), 'i', 2, 1e5},
    {"--precision", TS(precision), 'i', 0, 1}, // GEMM_FP32, GEMM_BF16
    {"the zero field", TS(zero), 'i', 0, 0},
    {"--lr", TS(lr), 'd', 1e-9, 1e9},
    {"--min-lr-frac", TS(min_lr_frac), 'd', 0, 1},
    {"--wd", TS(wd), 'd', 0, 10},
    {"--clip", TS(clip), 'd', 0, 1e9},
    {"--val-frac", TS(val_frac), 'd', 0.001, 0.5},
};

#define DS(f) offsetof(DPOSettings, f)
static const StateField DPO_FIELDS[] = {
    {"--dpo-steps", DS(steps), 'i', 1, 1e9},
    {"--dpo-batch", DS(batch), 'i', 1, 4096},
    {"DPO's -T", DS(T), 'i', 2, 65536},
    {"--dpo-loss", DS(loss), 'i', 0, 1},
    {"--skip-bad", DS(skip_bad), 'i', 0, 1},
    {"--dpo-pairs", DS(n_pairs), 'i', 2, 1e6},
    {"--dpo-eval-every", DS(eval_every), 'i', 1, 1e9},
    {"--dpo-prompts", DS(n_prompts), 'i', 0, 1e5},
    {"--top-k", DS(top_k), 'i', 0, 1e9},
    {"--save-every", DS(save_every), 'i', 0, 1e9},
    {"--dpo-lr", DS(lr), 'f', 1e-9, 10},
    {"--min-lr-frac", DS(min_lr_frac), 'f', 0, 1},
    {"--clip", DS(clip), 'f', 0, 1e9},
    {"--beta", DS(beta), 'f', 1e-4, 100},
    {"--label-smoothing", DS(label_smoothing), 'f', 0, 0.49},
    {"--dpo-val-frac", DS(val_frac), 'f', 0.01, 0.5},
    {"--temperature", DS(temperature), 'f', 0, 100},
};

// Checks the fields of h; values saved from floats are compared as floats (the flag stored
// (float)0.0001, which is below the double 0.0001). 0, or -1 with err naming the first bad one.
static int check_fields(const void* h, const StateField* f, size_t n, char* err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        const char* p = (const char*)h + f[i].offset;
        double v;
        int ok;
        if (f[i].type == 'i') {
            int32_t x;
            memcpy(&x, p, sizeof x);
            v = x;
            ok = v >= f[i].min && v <= f[i].max;
        } else {
            if (f[i].type == 'f') {
                float x;
                memcpy(&x, p, sizeof x);
                v = x;
            } else memcpy(&v, p, sizeof v);
            ok = isfinite(v) && (float)v >= (float)f[i].min && (float)v <= (float)f[i].max;
        }
        if (!ok) {
            set_err(err, errlen, "%s is %.9g, outside [%g, %g], the range of %s", f[i].flag, v, f[i].min, f[i].max,
                    f[i].flag);
            return -1;
        }
    }
    return 0;
}

// Whether s[0..n) holds a NUL (a string field that is terminated).
static int terminated(const char* s, size_t n) { return memchr(s, '\0', n) != NULL; }

int dpo_settings_check(const DPOSettings* s, int maxT, char* err, size_t errlen) {
    const char* why = NULL;
    if (s->wanted == 0) return 0;
    if (s->wanted != 1) why = "the DPO stage flag is neither 0 nor 1";
    else if (check_fields(s, DPO_FIELDS, sizeof DPO_FIELDS / sizeof DPO_FIELDS[0], err, errlen)) return -1;
    else if (s->T > maxT) why = "DPO's -T exceeds n_positions";
    else if (s->loss == 1 && s->label_smoothing != 0.0f) why = "--label-smoothing with the ipo loss";
    else if (!terminated(s->pairs, sizeof s->pairs)) why = "the --dpo path is not a terminated string";
    if (why) set_err(err, errlen, "%s", why);
    return why ? -1 : 0;
}

int state_check(const TrainStateHeader* h, char* err, size_t errlen) {
    if (check_fields(h, TRAIN_FIELDS, sizeof TRAIN_FIELDS / sizeof TRAIN_FIELDS[0], err, errlen)) return -1;
    GPTConfig c = {h->maxT, h->V, h->L, h->NH, h->C};
    if (gpt_config_check(&c, err, errlen) != 0) return -1;
    const char* why = NULL;
    if (h->T > h->maxT) why = "-T exceeds n_positions";
    else if (h->sched_steps > h->steps) why = "the schedule is longer than the run";
    else if (h->warmup >= h->sched_steps) why = "--warmup is not below --steps";
    else if (h->step > h->steps) why = "the step is past --steps";
    else if (h->probe_every > 0 && (h->T < 6 || h->C < 3)) why = "probes on with -T below 6 or -C below 3";
    else if (h->num_parameters != state_param_count(h->L, h->C, h->V, h->maxT))
        why = "num_parameters does not match the shape";
    else if (!terminated(h->model, sizeof h->model) || !h->model[0]) why = "the model name is not a terminated string";
    else if (!terminated(h->input, sizeof h->input)) why = "the input path is not a terminated string";
    if (why) {
        set_err(err, errlen, "%s", why);
        return -1;
    }
    return dpo_settings_check(&h->dpo, h->maxT, err, errlen);
}

int state_save(const char* dir, const TrainStateHeader* h, const GPT* model, char* err, size_t errlen) {
    char path[4200];
    path_join(path, sizeof path, dir, "train_state.bin");
    return state_file_write(path, h, sizeof *h, model, err, errlen);
}

void state_load(const char* dir, TrainStateHeader* h, float** params, float** m, float** v) {
    char path[4200], err[4600];
    path_join(path, sizeof path, dir, "train_state.bin");
    if (access(path, F_OK) != 0)
        fatal("%s: %s (is %s a run folder saved with --save-every or Ctrl-C?)", path, strerror(errno), dir);
    if (state_file_read(path, STATE_MAGIC, STATE_VERSION, h, sizeof *h, params, m, v, err, sizeof err) != 0)
        fatal("%s", err);
    if (state_check(h, err, sizeof err) != 0) {
        free(*params);
        free(*m);
        free(*v);
        fatal("%s: %s", path, err);
    }
}

// ============================================================================
// CSV logs

// The index of column name in a header line (comma-separated), or -1.
static int column_index(const char* header, const char* name) {
    size_t nl = strlen(name);
    int col = 0;
    for (const char* p = header;; col++) {
        const char* c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == nl && memcmp(p, name, nl) == 0) return col;
        if (!c) return -1;
        p = c + 1;
    }
}

// Fields of one line (commas + 1).
static int count_fields(const char* line, size_t n) {
    int k = 1;
    for (size_t i = 0; i < n; i++) k += line[i] == ',';
    return k;
}

// Parses one row (l bytes, no newline): its step and stage (0 pretrain, or a log without a stage
// column; 1 dpo). 0, or -1 when the line is not a row of this log.
static int parse_row(const char* line, size_t l, int nfields, int stage_col, long* step, int* stage) {
    if (count_fields(line, l) != nfields) return -1;
    size_t i = 0;
    *step = 0;
    while (i < l && i < 10 && line[i] >= '0' && line[i] <= '9') *step = *step * 10 + (line[i++] - '0');
    if (i == 0 || i >= l || line[i] != ',') return -1;
    *stage = 0;
    if (stage_col < 0) return 0;
    const char* f = line;
    for (int c = 0; c < stage_col; c++) f = (const char*)memchr(f, ',', (size_t)(line + l - f)) + 1;
    const char* e = memchr(f, ',', (size_t)(line + l - f));
    size_t fl = e ? (size_t)(e - f) : (size_t)(line + l - f);
    if (fl == 8 && memcmp(f, "pretrain", 8) == 0) return 0;
    if (fl == 3 && memcmp(f, "dpo", 3) == 0) {
        *stage = 1;
        return 0;
    }
    return -1;
}

char* csv_filter_rows(const char* text, size_t len, const char* header, CsvKeep keep, size_t* out_len,
                      CsvFilterStats* st, char* err, size_t errlen) {
    memset(st, 0, sizeof *st);
    size_t hl = strlen(header);
    if (len < hl + 1 || memcmp(text, header, hl) != 0 || text[hl] != '\n') {
        set_err(err, errlen, "unexpected header (not this log of ./train)");
        return NULL;
    }
    int nfields = count_fields(header, hl), stage_col = column_index(header, "stage");
    char* out = malloc_check(len + 1);
    memcpy(out, text, hl + 1);
    size_t o = hl + 1;
    long last_step = -1;
    int last_stage = 0, lineno = 1;
    for (size_t pos = hl + 1; pos < len;) {
        const char* line = text + pos;
        const char* nl = memchr(line, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - line) : len - pos;
        pos += l + 1;
        lineno++;
        if (!nl) { // the last line, cut short by a crash while it was written
            st->truncated = 1;
            break;
        }
        long step;
        int stage;
        if (memchr(line, '\0', l) || parse_row(line, l, nfields, stage_col, &step, &stage) != 0) {
            set_err(err, errlen, "line %d is not a row of this log (%d fields, a step, a known stage); fix or remove "
                                 "the file", lineno, nfields);
            free(out);
            return NULL;
        }
        if (step >= keep.below[stage]) {
            st->later++;
            continue;
        }
        // a row that goes back in steps or stages was written by another process
        if (stage < last_stage || (stage == last_stage && step < last_step)) {
            st->disorder++;
            continue;
        }
        last_stage = stage;
        last_step = step;
        memcpy(out + o, line, l + 1);
        o += l + 1;
        st->kept++;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

void restart_csv_keep(const char* path, const char* header, CsvKeep keep, int required) {
    char err[4600];
    char* rows = NULL;
    size_t rows_len = 0;
    if (keep.below[0] > 0 || keep.below[1] > 0) {
        size_t len = 0;
        char* old = read_file(path, &len, err, sizeof err);
        if (!old && required) fatal("%s (needed to continue the log on --resume)", err);
        if (old) {
            CsvFilterStats st;
            rows = csv_filter_rows(old, len, header, keep, &rows_len, &st, err, sizeof err);
            free(old);
            if (!rows) fatal("%s: %s", path, err);
            if (st.truncated) printf("note: %s: dropped its last row, cut short when the run was killed\n", path);
            if (st.disorder)
                printf("note: %s: dropped %d row%s whose steps go backwards (written by another process)\n", path,
                       st.disorder, st.disorder > 1 ? "s" : "");
        }
    }
    AtomicFile af;
    if (atomic_open(&af, path, err, sizeof err) != 0) fatal("%s", err);
    if (rows) fwrite_check(rows, 1, rows_len, af.f, path);
    else fprintf(af.f, "%s\n", header);
    free(rows);
    if (atomic_commit(&af, err, sizeof err) != 0) fatal("%s", err);
}

void restart_csv(const char* path, const char* header, int keep_below, int required) {
    restart_csv_keep(path, header, (CsvKeep){{keep_below, 0}}, required);
}

FILE* open_csv_log(const char* path, const char* header, CsvKeep keep) {
    restart_csv_keep(path, header, keep, keep.below[0] > 0 || keep.below[1] > 0);
    // O_NOFOLLOW: the file was just renamed into place; a symlink swapped in since is refused
    int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    FILE* f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!f) fatal("%s: cannot open for appending: %s", path, strerror(errno));
    return f;
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
    // mpirun hands its ranks a pseudo-terminal whatever its own stdout is: plain lines under MPI
    pr->tty = isatty(STDOUT_FILENO) && !dist_describe();
    pr->steps = steps;
    pr->every = steps / 25 > 0 ? steps / 25 : 1;
    pr->t0 = time_seconds();
    pr->first_step = first_step;
    pr->t1 = 0.0;
    pr->tokens_per_step = tokens_per_step;
}

double progress_eta(const Progress* pr, int step, double now) {
    int timed = step - pr->first_step; // steps since the first one of this process ended
    if (pr->t1 <= 0.0 || timed <= 0) return NAN;
    return (now - pr->t1) / timed * (pr->steps - step - 1);
}

void progress_step(Progress* pr, int step, float loss, double val, float lr, float norm, double ms) {
    double now = time_seconds();
    if (step == pr->first_step) pr->t1 = now;
    double eta = progress_eta(pr, step, now);
    if (step + 1 == pr->steps) eta = 0.0;
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

// ============================================================================
// Throughput: achieved FLOP/s and MFU, as llm.c and nanoGPT report them

// The best of a few timed square matrix products in the run's precision (gemm.h, the kernels the
// model runs on, all threads): the matmul limit MFU is measured against, since a CPU has no vendor
// peak figure to quote. 1536^3 is
// 7.2 GFLOP per call, large enough to run near the kernel's peak (within a few percent of 2048^3
// here) and small enough to cost about 0.3 s for 8 timed calls; the best of 8 rather than of 3,
// because on a shared machine a single call can lose a quarter of its speed (183 vs 240 GFLOP/s
// measured in two runs of the default ./train a minute apart).
static double measure_sgemm_gflops(GemmPrecision prec) {
    const size_t n = 1536;
    float* a = malloc_check(n * n * sizeof(float));
    float* b = malloc_check(n * n * sizeof(float));
    float* c = malloc_check(n * n * sizeof(float));
    uint64_t rng = 1;
    for (size_t i = 0; i < n * n; i++) {
        a[i] = random_f32(&rng) - 0.5f;
        b[i] = random_f32(&rng) - 0.5f;
    }
    double best = 0.0;
    for (int r = 0; r < 9; r++) { // the first call is warm-up (page faults, packing buffers)
        double t0 = time_seconds();
        gemm_prec(prec, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = time_seconds() - t0;
        if (r > 0 && dt > 0.0 && 2.0 * (double)n * (double)n * (double)n / dt > best)
            best = 2.0 * (double)n * (double)n * (double)n / dt;
    }
    free(a);
    free(b);
    free(c);
    return best * 1e-9;
}

void print_throughput(const GPT* model, size_t B, size_t Tn, double step_seconds, double comm_seconds, int steps_timed,
                      float peak_gflops) {
    if (steps_timed == 0 || step_seconds <= 0.0) return;
    const GPTConfig* g = &model->config;
    double L = g->num_layers, C = g->channels, T = (double)Tn, BT = (double)B * T;
    double nprime = (double)model->num_parameters - (double)g->max_seq_len * C;
    double flops = (6.0 * nprime + 12.0 * L * C * T) * BT;
    double s_per_step = step_seconds / steps_timed;
    double gflops = flops / s_per_step * 1e-9;
    int measured = peak_gflops <= 0.0f;
    double peak = measured ? measure_sgemm_gflops(model->precision) : (double)peak_gflops;
    printf("           throughput %.1f ms/step, %.0f tokens/s, %.1f GFLOP/s (%.1f GFLOP/step, mean of %d steps)\n",
           s_per_step * 1e3, BT / s_per_step, gflops, flops * 1e-9, steps_timed);
    int N = dist_size();
    if (N > 1) // the sum's time on rank 0, waiting for the slowest rank included
        printf("           all-reduce %.1f ms/step (%.1f%% of a step): %.2f MB of gradients summed over %d ranks\n",
               comm_seconds / steps_timed * 1e3, 100.0 * comm_seconds / step_seconds,
               (double)model->num_parameters * sizeof(float) / 1e6, N);
    // the limit of N ranks is N times rank 0's (the ranks are assumed alike)
    if (peak > 0.0)
        printf("           MFU %.1f%% of %.1f GFLOP/s%s, %s\n", 100.0 * gflops / (peak * N), peak * N,
               N > 1 ? " (the ranks' limit: rank 0's x ranks)" : "",
               !measured ? "given by --peak-gflops"
               : model->precision == GEMM_BF16
                   ? "our bf16 GEMM 1536^3 on these threads, measured now (--peak-gflops F to set it)"
                   : "our SGEMM 1536^3 on these threads, measured now (--peak-gflops F to set it)");
}
