// dev/fuzz/fuzz_state.c: the fuzzer's bytes as one of the files --resume reads: the first byte's
// low bits pick DIR/train_state.bin (0), DIR/dpo_state.bin (1) or DIR/dpo_pairs.bin (2); with its
// high bit set the harness first writes the right checksum into the last 8 bytes, so that the
// fuzzer reaches the checks of every field behind it (state_check, dpo_state_check, pref_load)
// instead of stopping at the checksum. Properties of a successful read: the fields the checks
// passed hold (the parameter count of the shape, finite arrays, sequences within T+1), and
// writing what was read gives the same bytes back.
#include <math.h>

#include "../../data/prefs.h"
#include "../../data/shards.h"
#include "../../lib/dpo.h"
#include "../../lib/run.h"
#include "../../model.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define FUZZ_VOCAB 300 // the vocabulary dpo_pairs.bin is read against (the seeds' own)

// Writes the arrays read as a state file again (header h of hsize bytes) and compares the bytes.
static void state_round_trip(const char* path, const void* h, size_t hsize, float* p, float* m, float* v,
                             uint64_t n) {
    GPT g;
    memset(&g, 0, sizeof g);
    g.num_parameters = (size_t)n;
    g.params_memory = p;
    g.m_memory = m;
    g.v_memory = v;
    char path2[600], err[512];
    fuzz_path(path2, sizeof path2, "roundtrip.bin");
    fuzz_require(state_file_write(path2, h, hsize, &g, err, sizeof err) == 0, "state_file_write failed");
    size_t a = 0, b = 0;
    char* x = read_file(path, &a, err, sizeof err);
    char* y = read_file(path2, &b, err, sizeof err);
    fuzz_require(x && y && a == b && memcmp(x, y, a) == 0, "a state file written back differs");
    free(x);
    free(y);
}

static void fuzz_train_state(const char* path) {
    TrainStateHeader h;
    float *p, *m, *v;
    char err[512];
    if (state_file_read(path, STATE_MAGIC, STATE_VERSION, &h, sizeof h, &p, &m, &v, err, sizeof err) != 0) {
        fuzz_require(err[0] != 0, "state_file_read failed without a message");
        return;
    }
    for (uint64_t i = 0; i < h.num_parameters; i++) fuzz_require(isfinite(p[i]) && isfinite(m[i]) && isfinite(v[i]), "non-finite");
    if (state_check(&h, err, sizeof err) == 0) {
        fuzz_require(h.num_parameters == state_param_count(h.L, h.C, h.V, h.maxT), "parameter count");
        fuzz_require(h.T <= h.maxT && h.step <= h.steps && h.warmup < h.sched_steps && h.threads >= 1,
                     "a relation state_check promised");
        fuzz_require(memchr(h.input, 0, sizeof h.input) && memchr(h.dpo.pairs, 0, sizeof h.dpo.pairs), "strings");
    } else {
        fuzz_require(err[0] != 0, "state_check failed without a message");
    }
    state_round_trip(path, &h, sizeof h, p, m, v, h.num_parameters);
    free(p);
    free(m);
    free(v);
}

static void fuzz_dpo_state(const char* path) {
    DPOStateHeader h;
    float *p, *m, *v;
    char err[512];
    if (state_file_read(path, DPO_STATE_MAGIC, DPO_STATE_VERSION, &h, sizeof h, &p, &m, &v, err, sizeof err) != 0) {
        fuzz_require(err[0] != 0, "state_file_read failed without a message");
        return;
    }
    if (dpo_state_check(&h, err, sizeof err) == 0) {
        fuzz_require(h.step >= 1 && h.step <= h.s.steps && h.s.T <= h.maxT && h.s.batch >= 1, "DPO fields");
        fuzz_require(h.num_parameters == state_param_count(h.L, h.C, h.V, h.maxT), "parameter count");
        DPOConfig c = dpo_config_from_settings(&h.s, h.threads);
        DPOSettings back, want = h.s;
        dpo_settings_from_config(&c, &back);
        // what the settings mean: the bytes after the path's NUL carry nothing
        size_t used = strlen(want.pairs);
        memset(want.pairs + used, 0, sizeof want.pairs - used);
        fuzz_require(memcmp(&back, &want, sizeof back) == 0, "DPO settings do not survive a round trip");
    } else {
        fuzz_require(err[0] != 0, "dpo_state_check failed without a message");
    }
    state_round_trip(path, &h, sizeof h, p, m, v, h.num_parameters);
    free(p);
    free(m);
    free(v);
}

static void fuzz_pairs(const char* path) {
    PrefSet set;
    float *rc, *rr;
    uint64_t sum = 0, sum2 = 0;
    char err[512], path2[600];
    if (pref_load(&set, FUZZ_VOCAB, &rc, &rr, path, &sum, err, sizeof err) != 0) {
        fuzz_require(err[0] != 0, "pref_load failed without a message");
        return;
    }
    fuzz_require(set.n >= 2 && set.n_val >= 1 && set.n_val < set.n, "pair counts");
    for (int i = 0; i < set.n; i++) {
        const PrefPair* q = &set.pairs[i];
        fuzz_require(q->prompt_len >= 1 && q->prompt_len < q->n_chosen && q->prompt_len < q->n_rejected, "lengths");
        fuzz_require(q->n_chosen <= set.seq_len + 1 && q->n_rejected <= set.seq_len + 1, "longer than T+1");
        for (int t = 0; t < q->n_chosen; t++) fuzz_require(q->chosen[t] >= 0 && q->chosen[t] < FUZZ_VOCAB, "token");
        for (int t = 0; t < q->n_rejected; t++) fuzz_require(q->rejected[t] >= 0 && q->rejected[t] < FUZZ_VOCAB, "token");
        fuzz_require(isfinite(rc[i]) && isfinite(rr[i]), "reference log-probability");
    }
    fuzz_path(path2, sizeof path2, "roundtrip.bin");
    fuzz_require(pref_save(&set, FUZZ_VOCAB, rc, rr, path2, &sum2, err, sizeof err) == 0 && sum2 == sum,
                 "dpo_pairs.bin written back differs");
    pref_free(&set);
    free(rc);
    free(rr);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    int kind = data[0] & 3, fix = data[0] & 0x80;
    size_t n = size - 1;
    uint8_t* buf = malloc(n ? n : 1);
    if (!buf) abort();
    memcpy(buf, data + 1, n);
    if (fix && n >= 8) { // the checksum each format ends with, over everything before it
        uint64_t sum = data_hash(kind == 2 ? DATA_HASH_INIT : STATE_HASH_INIT, buf, n - 8);
        memcpy(buf + n - 8, &sum, 8);
    }
    static const char* names[3] = {"train_state.bin", "dpo_state.bin", "dpo_pairs.bin"};
    if (kind == 3) kind = 0;
    char path[600];
    fuzz_write(names[kind], buf, n, path, sizeof path);
    free(buf);
    if (kind == 0) fuzz_train_state(path);
    else if (kind == 1) fuzz_dpo_state(path);
    else fuzz_pairs(path);
    return 0;
}
