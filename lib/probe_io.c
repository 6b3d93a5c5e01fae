// lib/probe_io.c: the probes' run-folder files (probes.h): probes.csv rows and
// probe_bins.safetensors (the reference points and the probe sequences).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../probes.h"
#include "json.h"
#include "util.h"

// A CSV number: empty when not measured (NAN).
static int csv_num(char* buf, size_t len, double v) {
    if (!isfinite(v)) return snprintf(buf, len, ",");
    return snprintf(buf, len, ",%.9g", v);
}

// Column values of a row after "step,stage,set,layer,positions", in PROBE_CSV_HEADER's order.
static int row_values(const ProbeStats* s, double* v) {
    int k = 0;
    v[k++] = s->H;
    for (int n = 0; n < PROBE_NGRAM; n++) v[k++] = s->I_in[n];
    for (int n = 0; n < PROBE_NGRAM; n++) v[k++] = s->I_out[n];
    v[k++] = s->I_ctx;
    v[k++] = s->I_pref;
    v[k++] = s->optimality;
    for (int n = 0; n < PROBE_NGRAM; n++) v[k++] = s->I_in_null[n];
    for (int n = 0; n < PROBE_NGRAM; n++) v[k++] = s->I_out_null[n];
    v[k++] = s->I_pref_null;
    v[k++] = s->H_sd;
    for (int n = 0; n < PROBE_NGRAM; n++) v[k++] = s->I_in_sd[n];
    for (int n = 0; n < PROBE_NGRAM; n++) v[k++] = s->I_out_sd[n];
    v[k++] = s->I_ctx_sd;
    v[k++] = s->I_pref_sd;
    return k;
}

int probe_csv_format_row(char* buf, size_t len, int step, const char* stage, const char* set, int layer,
                         const ProbeStats* s) {
    size_t n = 0;
    int w = layer < 0 ? snprintf(buf, len, "%d,%s,%s,mean,%zu", step, stage, set, s->positions)
                      : snprintf(buf, len, "%d,%s,%s,%d,%zu", step, stage, set, layer, s->positions);
    if (w < 0) return w;
    n = (size_t)w;
    double v[64];
    int nv = row_values(s, v);
    for (int k = 0; k < nv; k++) {
        int m = csv_num(n < len ? buf + n : NULL, n < len ? len - n : 0, v[k]);
        if (m < 0) return m;
        n += (size_t)m;
    }
    return (int)n;
}

int probe_csv_append(const char* path, int step, const char* stage, const char* set, const ProbeRun* pr,
                     char* err, size_t errlen) {
    const char* names[2] = {stage, set};
    for (int i = 0; i < 2; i++)
        if (!names[i] || !*names[i] || strlen(names[i]) > 32 || strpbrk(names[i], ",\n\r\"")) {
            snprintf(err, errlen, "%s: %s name '%s' must be 1-32 characters without commas or quotes", path,
                     i ? "set" : "stage", names[i] ? names[i] : "(null)");
            return -1;
        }
    struct stat st;
    int fresh = stat(path, &st) != 0 || st.st_size == 0;
    size_t cap = (size_t)(pr->num_states + 1) * 1024 + sizeof PROBE_CSV_HEADER + 2, n = 0;
    char* buf = malloc_check(cap);
    if (fresh) n += (size_t)snprintf(buf, cap, "%s\n", PROBE_CSV_HEADER);
    for (int l = 0; l <= pr->num_states; l++) {
        int mean = l == probe_mean_row(pr);
        int k = probe_csv_format_row(buf + n, cap - n - 1, step, stage, set, mean ? -1 : l, &pr->stats[l]);
        if (k < 0 || (size_t)k >= cap - n - 1) fatal("probe_csv_append: row longer than its buffer");
        n += (size_t)k;
        buf[n++] = '\n';
    }
    FILE* f = fopen(path, "ab");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        free(buf);
        return -1;
    }
    int ok = fwrite(buf, 1, n, f) == n;
    ok &= fflush(f) == 0;
    ok &= fclose(f) == 0;
    free(buf);
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int little_endian(void) {
    uint32_t x = 1;
    unsigned char c;
    memcpy(&c, &x, 1);
    return c == 1;
}

// safetensors: u64 LE header length, a JSON header naming each tensor's dtype, shape and byte
// range in the data section, padded with spaces to a multiple of 8, then the raw LE data.
int probe_bins_save(const char* path, const ProbeBins* pb, uint64_t null_seed, const int* tokens, size_t S,
                    size_t T, size_t traj_seqs, char* err, size_t errlen) {
    if (!little_endian()) {
        snprintf(err, errlen, "%s: safetensors writer needs a little-endian host", path);
        return -1;
    }
    size_t K = (size_t)pb->seeds, nw = K * (size_t)pb->n_bins * (size_t)pb->d * 4, ne = K * 4, nt = S * T * 4;
    char hdr[1024];
    int hl = snprintf(hdr, sizeof hdr,
                      "{\"__metadata__\":{\"format\":\"pt\",\"calibration\":\"%s\",\"seed\":\"%llu\","
                      "\"null_seed\":\"%llu\",\"traj_seqs\":\"%zu\"},"
                      "\"W\":{\"dtype\":\"F32\",\"shape\":[%zu,%d,%d],\"data_offsets\":[0,%zu]},"
                      "\"eps\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]},"
                      "\"tokens\":{\"dtype\":\"I32\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}}",
                      probe_calibration_name(pb->calibration), (unsigned long long)pb->seed,
                      (unsigned long long)null_seed, traj_seqs, K, pb->n_bins, pb->d, nw, K, nw, nw + ne, S, T,
                      nw + ne, nw + ne + nt);
    size_t padded = ((size_t)hl + 7) / 8 * 8;
    if (hl < 0 || padded >= sizeof hdr) {
        snprintf(err, errlen, "%s: header too long", path);
        return -1;
    }
    memset(hdr + hl, ' ', padded - (size_t)hl);
    uint64_t len64 = padded;
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    int ok = fwrite(&len64, 8, 1, af.f) == 1;
    ok &= fwrite(hdr, 1, padded, af.f) == padded;
    ok &= fwrite(pb->W, 4, nw / 4, af.f) == nw / 4;
    ok &= fwrite(pb->eps, 4, K, af.f) == K;
    if (nt) ok &= fwrite(tokens, 4, S * T, af.f) == S * T;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

// Shape and byte range of tensor `name` from a parsed safetensors header; checks dtype and rank.
static int st_tensor(const JsonValue* h, const char* name, const char* dtype, int rank, size_t shape[3],
                     size_t off[2], size_t data_len, const char* path, char* err, size_t errlen) {
    const JsonValue* t = json_get(h, name);
    const JsonValue* dt = t ? json_get(t, "dtype") : NULL;
    const JsonValue* sh = t ? json_get(t, "shape") : NULL;
    const JsonValue* of = t ? json_get(t, "data_offsets") : NULL;
    if (!t || !dt || dt->type != JSON_STRING || !sh || sh->type != JSON_ARRAY || !of || of->type != JSON_ARRAY ||
        of->len != 2) {
        snprintf(err, errlen, "%s: tensor '%s' missing or malformed", path, name);
        return -1;
    }
    if (strcmp(dt->str, dtype) != 0 || (int)sh->len != rank) {
        snprintf(err, errlen, "%s: tensor '%s' should be %s with %d dims", path, name, dtype, rank);
        return -1;
    }
    size_t elems = 1;
    for (int i = 0; i < rank; i++) {
        double v = sh->items[i].number;
        if (sh->items[i].type != JSON_NUMBER || v < 0 || v > 1e12 || v != floor(v)) {
            snprintf(err, errlen, "%s: tensor '%s' has a bad shape", path, name);
            return -1;
        }
        shape[i] = (size_t)v;
        elems *= shape[i];
    }
    for (int i = 0; i < 2; i++) {
        double v = of->items[i].number;
        if (of->items[i].type != JSON_NUMBER || v < 0 || v > (double)data_len || v != floor(v)) {
            snprintf(err, errlen, "%s: tensor '%s' has bad data_offsets", path, name);
            return -1;
        }
        off[i] = (size_t)v;
    }
    if (off[1] < off[0] || off[1] - off[0] != elems * 4) {
        snprintf(err, errlen, "%s: tensor '%s' byte range does not match its shape", path, name);
        return -1;
    }
    return 0;
}

// A string value of the header's __metadata__, or NULL.
static const char* st_meta(const JsonValue* h, const char* key) {
    const JsonValue* m = json_get(h, "__metadata__");
    const JsonValue* v = m ? json_get(m, key) : NULL;
    return v && v->type == JSON_STRING ? v->str : NULL;
}

// The checks of a parsed header and its data: shapes, a known calibration, finite points and
// positive temperatures; fills pb and the outputs on success.
static int bins_from_header(const JsonValue* h, const char* data, size_t dlen, const char* path, ProbeBins* pb,
                            uint64_t* null_seed, int** tokens, size_t* S, size_t* T, size_t* traj_seqs,
                            char* err, size_t errlen) {
    size_t ws[3], wo[2], es[3], eo[2], ts[3], to[2];
    if (st_tensor(h, "W", "F32", 3, ws, wo, dlen, path, err, errlen) ||
        st_tensor(h, "eps", "F32", 1, es, eo, dlen, path, err, errlen) ||
        st_tensor(h, "tokens", "I32", 2, ts, to, dlen, path, err, errlen))
        return -1;
    if (ws[0] < 1 || ws[0] > 1024 || ws[1] < 2 || ws[2] < 1 || es[0] != ws[0]) {
        snprintf(err, errlen, "%s: W must be [seeds 1..1024, n_bins >= 2, C >= 1] and eps [seeds]", path);
        return -1;
    }
    ProbeCalibration cal;
    const char* cs = st_meta(h, "calibration");
    if (!cs || probe_calibration_parse(cs, &cal) != 0) {
        snprintf(err, errlen, "%s: __metadata__ calibration '%s' is not gaussian, find_eps or leading_order "
                 "(a file of an older version: probe the run again)", path, cs ? cs : "(missing)");
        return -1;
    }
    uint64_t ns = 0, tq = 0;
    char nerr[128];
    const char* nss = st_meta(h, "null_seed");
    const char* tqs = st_meta(h, "traj_seqs");
    if (!nss || parse_u64_arg(nss, &ns, nerr, sizeof nerr) != 0 || !tqs ||
        parse_u64_arg(tqs, &tq, nerr, sizeof nerr) != 0 || tq < 1 || tq > ts[0]) {
        snprintf(err, errlen, "%s: __metadata__ null_seed and traj_seqs (1..%zu) must be integers", path, ts[0]);
        return -1;
    }
    size_t nw = ws[0] * ws[1] * ws[2];
    float* W = malloc_check(nw * sizeof(float));
    float* eps = malloc_check(ws[0] * sizeof(float));
    memcpy(W, data + wo[0], nw * sizeof(float));
    memcpy(eps, data + eo[0], ws[0] * sizeof(float));
    int bad = 0;
    for (size_t i = 0; i < nw && !bad; i++) bad = !isfinite(W[i]);
    for (size_t i = 0; i < ws[0] && !bad; i++) bad = !(eps[i] > 0.0f) || !isfinite(eps[i]);
    if (bad) {
        snprintf(err, errlen, "%s: W or eps holds a value that is not finite (or an eps <= 0)", path);
        free(W);
        free(eps);
        return -1;
    }
    const int32_t* tk = (const int32_t*)(const void*)(data + to[0]);
    for (size_t i = 0; i < ts[0] * ts[1]; i++) {
        int32_t t;
        memcpy(&t, tk + i, 4);
        if (t < 0) {
            snprintf(err, errlen, "%s: probe token %d at %zu is negative", path, t, i);
            free(W);
            free(eps);
            return -1;
        }
    }
    probe_bins_init_from(pb, (int)ws[2], (int)ws[1], (int)ws[0], cal, W, eps);
    free(W);
    free(eps);
    if (tokens) {
        *tokens = malloc_check(ts[0] * ts[1] * sizeof(int) + 1);
        memcpy(*tokens, data + to[0], ts[0] * ts[1] * sizeof(int));
    }
    if (null_seed) *null_seed = ns;
    if (S) *S = ts[0];
    if (T) *T = ts[1];
    if (traj_seqs) *traj_seqs = (size_t)tq;
    return 0;
}

int probe_bins_load(const char* path, ProbeBins* pb, uint64_t* null_seed, int** tokens, size_t* S, size_t* T,
                    size_t* traj_seqs, char* err, size_t errlen) {
    size_t len = 0;
    char* buf = read_file(path, &len, err, errlen);
    if (!buf) return -1;
    int rc = -1;
    uint64_t hl = 0;
    if (len < 8 || !little_endian()) {
        snprintf(err, errlen, "%s: too short for a safetensors file", path);
        free(buf);
        return -1;
    }
    memcpy(&hl, buf, 8);
    if (hl > len - 8) {
        snprintf(err, errlen, "%s: header length %llu exceeds the file", path, (unsigned long long)hl);
        free(buf);
        return -1;
    }
    JsonValue h;
    char jerr[256];
    if (json_parse(&h, buf + 8, (size_t)hl, jerr, sizeof jerr) != 0) {
        snprintf(err, errlen, "%s: header: %s", path, jerr);
        free(buf);
        return -1;
    }
    rc = bins_from_header(&h, buf + 8 + hl, len - 8 - (size_t)hl, path, pb, null_seed, tokens, S, T, traj_seqs,
                          err, errlen);
    json_free(&h);
    free(buf);
    return rc;
}
