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

int probe_csv_format_row(char* buf, size_t len, int step, const char* stage, int layer, const ProbeStats* s) {
    size_t n = (size_t)snprintf(buf, len, "%d,%s,%d", step, stage, layer);
    double v[10] = {s->H, s->I_in[0], s->I_in[1], s->I_in[2], s->I_out[0],
                    s->I_out[1], s->I_out[2], s->I_pref, s->optimality};
    for (int i = 0; i < 9; i++) n += (size_t)csv_num(buf + (n < len ? n : len), n < len ? len - n : 0, v[i]);
    return (int)n;
}

int probe_csv_append(const char* path, int step, const char* stage, const ProbeRun* pr, char* err,
                     size_t errlen) {
    if (!stage || !*stage || strlen(stage) > 32 || strpbrk(stage, ",\n\r\"")) {
        snprintf(err, errlen, "%s: stage name '%s' must be 1-32 characters without commas or quotes", path,
                 stage ? stage : "(null)");
        return -1;
    }
    struct stat st;
    int fresh = stat(path, &st) != 0 || st.st_size == 0;
    // a row is at most 3 integers, the stage and 9 numbers of %.9g (16 characters each)
    size_t cap = sizeof PROBE_CSV_HEADER + 1 + (size_t)pr->num_states * 256, n = 0;
    char* buf = malloc_check(cap);
    if (fresh) n += (size_t)snprintf(buf, cap, "%s\n", PROBE_CSV_HEADER);
    for (int l = 0; l < pr->num_states; l++) {
        ProbeStats s;
        probe_run_stats(pr, l, &s);
        int k = probe_csv_format_row(buf + n, cap - n - 1, step, stage, l, &s);
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
int probe_bins_save(const char* path, const ProbeBins* pb, const int* tokens, size_t S, size_t T, char* err,
                    size_t errlen) {
    if (!little_endian()) {
        snprintf(err, errlen, "%s: safetensors writer needs a little-endian host", path);
        return -1;
    }
    size_t nw = (size_t)pb->n_bins * (size_t)pb->d * 4, ne = 4, nt = S * T * 4;
    char hdr[1024];
    int hl = snprintf(hdr, sizeof hdr,
                      "{\"__metadata__\":{\"format\":\"pt\",\"seed\":\"%llu\",\"n_bins\":\"%d\"},"
                      "\"W\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]},"
                      "\"eps\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]},"
                      "\"tokens\":{\"dtype\":\"I32\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}}",
                      (unsigned long long)pb->seed, pb->n_bins, pb->n_bins, pb->d, nw, nw, nw + ne, S, T,
                      nw + ne, nw + ne + nt);
    size_t padded = ((size_t)hl + 7) / 8 * 8;
    if (padded >= sizeof hdr) {
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
    ok &= fwrite(&pb->eps, 4, 1, af.f) == 1;
    if (nt) ok &= fwrite(tokens, 4, S * T, af.f) == S * T;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

// Shape and byte range of tensor `name` from a parsed safetensors header; checks dtype and rank.
static int st_tensor(const JsonValue* h, const char* name, const char* dtype, int rank, size_t shape[2],
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

int probe_bins_load(const char* path, ProbeBins* pb, int** tokens, size_t* S, size_t* T, char* err,
                    size_t errlen) {
    size_t len = 0;
    char* buf = read_file(path, &len, err, errlen);
    if (!buf) return -1;
    int rc = -1;
    JsonValue h;
    int parsed = 0;
    uint64_t hl = 0;
    if (len < 8 || !little_endian()) {
        snprintf(err, errlen, "%s: too short for a safetensors file", path);
        goto done;
    }
    memcpy(&hl, buf, 8);
    if (hl > len - 8) {
        snprintf(err, errlen, "%s: header length %llu exceeds the file", path, (unsigned long long)hl);
        goto done;
    }
    char jerr[256];
    if (json_parse(&h, buf + 8, (size_t)hl, jerr, sizeof jerr) != 0) {
        snprintf(err, errlen, "%s: header: %s", path, jerr);
        goto done;
    }
    parsed = 1;
    const char* data = buf + 8 + hl;
    size_t dlen = len - 8 - (size_t)hl;
    size_t ws[2], wo[2], es[2], eo[2], ts[2], to[2];
    if (st_tensor(&h, "W", "F32", 2, ws, wo, dlen, path, err, errlen) ||
        st_tensor(&h, "eps", "F32", 1, es, eo, dlen, path, err, errlen) ||
        st_tensor(&h, "tokens", "I32", 2, ts, to, dlen, path, err, errlen))
        goto done;
    if (ws[0] < 2 || ws[1] < 3 || es[0] != 1) {
        snprintf(err, errlen, "%s: W must be [n_bins >= 2, C >= 3] and eps [1]", path);
        goto done;
    }
    float eps;
    memcpy(&eps, data + eo[0], 4);
    if (!(eps > 0.0f) || !isfinite(eps)) {
        snprintf(err, errlen, "%s: eps %g is not a positive number", path, (double)eps);
        goto done;
    }
    float* W = malloc_check(ws[0] * ws[1] * sizeof(float));
    memcpy(W, data + wo[0], ws[0] * ws[1] * sizeof(float));
    probe_bins_init_from(pb, (int)ws[1], (int)ws[0], W, eps);
    free(W);
    if (tokens) {
        *tokens = malloc_check(ts[0] * ts[1] * sizeof(int) + 1);
        memcpy(*tokens, data + to[0], ts[0] * ts[1] * sizeof(int));
    }
    if (S) *S = ts[0];
    if (T) *T = ts[1];
    rc = 0;
done:
    if (parsed) json_free(&h);
    free(buf);
    return rc;
}

