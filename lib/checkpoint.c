// checkpoint.c: Hugging Face GPT-2 checkpoints (gpt_save, gpt_load; API in model.h): a folder of
// config.json and model.safetensors, the tensors named as GPT-2's (gpt_tensor_name) and stored
// F32 in checkpoint order, so that every GPT-2 tool reads them. The loader trusts nothing in the
// files: names, dtypes, shapes, offsets, overlaps and finiteness are checked before use.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../model.h"
#include "json.h"

// Checkpoints store raw little-endian floats; we write the buffer as it lies in memory.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c assumes a little-endian host (safetensors data is little-endian)"
#endif

// Offset (in floats) of tensor i, layer l inside the parameter buffer.
static size_t param_offset(const GPT* model, int i, int l) {
    size_t off = 0;
    for (int k = 0; k < i; k++) off += model->param_sizes[k];
    if (gpt_is_layer_tensor(i)) off += (size_t)l * (model->param_sizes[i] / (size_t)model->config.num_layers);
    return off;
}

// Floats in one layer's tensor i (the whole tensor for wte, wpe, ln_f).
static size_t tensor_floats(const GPTConfig* cfg, int i) {
    char name[96];
    size_t shape[2];
    int nd = gpt_tensor_name(cfg, i, 0, name, sizeof name, shape);
    return nd == 2 ? shape[0] * shape[1] : shape[0];
}

// Number of tensors in a checkpoint, and the k-th one (i, l) in checkpoint order:
// wte, wpe, h.0.ln_1.weight ... h.0.mlp.c_proj.bias, h.1..., ln_f.weight, ln_f.bias.
static int checkpoint_tensor_count(const GPTConfig* cfg) { return 4 + 12 * cfg->num_layers; }

static void checkpoint_tensor(const GPTConfig* cfg, int k, int* i, int* l) {
    int nl = 12 * cfg->num_layers;
    if (k < 2) *i = k, *l = 0;
    else if (k < 2 + nl) *i = P_LN1W + (k - 2) % 12, *l = (k - 2) / 12;
    else *i = P_LNFW + (k - 2 - nl), *l = 0;
}

// A growable string for the safetensors header.
typedef struct {
    char* s;
    size_t n, cap;
} StrBuf;

static void sb_printf(StrBuf* b, const char* fmt, ...) PRINTF_LIKE(2, 3);
static void sb_printf(StrBuf* b, const char* fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) fatal("sb_printf: formatting failed");
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->s = realloc_check(b->s, b->cap);
    }
}

static int write_config_json(const GPTConfig* cfg, const char* path, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen)) return -1;
    fprintf(af.f,
            "{\n"
            "  \"model_type\": \"gpt2\",\n"
            "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
            "  \"vocab_size\": %d,\n"
            "  \"n_positions\": %d,\n"
            "  \"n_ctx\": %d,\n"
            "  \"n_embd\": %d,\n"
            "  \"n_layer\": %d,\n"
            "  \"n_head\": %d,\n"
            "  \"layer_norm_epsilon\": 1e-05,\n"
            "  \"activation_function\": \"gelu_new\",\n"
            "  \"tie_word_embeddings\": true,\n"
            "  \"torch_dtype\": \"float32\"\n"
            "}\n",
            cfg->vocab_size, cfg->max_seq_len, cfg->max_seq_len, cfg->channels, cfg->num_layers, cfg->num_heads);
    return atomic_commit(&af, err, errlen);
}

int gpt_save(const GPT* model, const char* dir, char* err, size_t errlen) {
    const GPTConfig* cfg = &model->config;
    for (size_t k = 0; k < model->num_parameters; k++)
        if (!isfinite(model->params_memory[k])) {
            snprintf(err, errlen, "%s: refusing to save: parameter %zu is not finite", dir, k);
            return -1;
        }
    if (make_dirs(dir, err, errlen)) return -1;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (write_config_json(cfg, path, err, errlen)) return -1;

    // header: {"__metadata__":{"format":"pt"},"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},...}
    StrBuf h = {0};
    sb_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t pos = 0;
    int ntensors = checkpoint_tensor_count(cfg);
    for (int k = 0; k < ntensors; k++) {
        int i, l;
        checkpoint_tensor(cfg, k, &i, &l);
        char name[96];
        size_t shape[2];
        int nd = gpt_tensor_name(cfg, i, l, name, sizeof name, shape);
        size_t bytes = (nd == 2 ? shape[0] * shape[1] : shape[0]) * sizeof(float);
        if (nd == 2)
            sb_printf(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}", name,
                      shape[0], shape[1], pos, pos + bytes);
        else
            sb_printf(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}", name, shape[0],
                      pos, pos + bytes);
        pos += bytes;
    }
    sb_printf(&h, "}");
    while (h.n % 8) sb_printf(&h, " "); // data starts 8-byte aligned
    uint64_t hlen = (uint64_t)h.n;
    unsigned char lenbuf[8];
    for (int k = 0; k < 8; k++) lenbuf[k] = (unsigned char)(hlen >> (8 * k));

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen)) {
        free(h.s);
        return -1;
    }
    int bad = fwrite(lenbuf, 1, 8, af.f) != 8 || fwrite(h.s, 1, h.n, af.f) != h.n;
    free(h.s);
    for (int k = 0; k < ntensors && !bad; k++) {
        int i, l;
        checkpoint_tensor(cfg, k, &i, &l);
        size_t n = tensor_floats(cfg, i);
        if (fwrite(model->params_memory + param_offset(model, i, l), sizeof(float), n, af.f) != n) bad = 1;
    }
    if (bad) {
        snprintf(err, errlen, "%s: write failed: %s", af.tmp, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

// Reads config.json of a Hugging Face GPT-2 folder into cfg.
static int read_config_json(const char* path, GPTConfig* cfg, char* err, size_t errlen) {
    char e[256];
    size_t len;
    char* text = read_file(path, &len, e, sizeof e);
    if (!text) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    JsonValue root;
    if (json_parse(&root, text, len, e, sizeof e)) {
        snprintf(err, errlen, "%s: invalid JSON: %s", path, e);
        free(text);
        return -1;
    }
    free(text);
    int rc = -1;
    long long v[5];
    static const char* keys[5] = {"vocab_size", "n_positions", "n_embd", "n_layer", "n_head"};
    if (root.type != JSON_OBJECT) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        goto done;
    }
    for (int k = 0; k < 5; k++) {
        if (json_get_int(&root, keys[k], &v[k]) && !(k == 1 && json_get_int(&root, "n_ctx", &v[k]) == 0)) {
            snprintf(err, errlen, "%s: missing or non-integer \"%s\"", path, keys[k]);
            goto done;
        }
        if (v[k] < 1 || v[k] > (1 << 24)) {
            snprintf(err, errlen, "%s: \"%s\" = %lld is out of range", path, keys[k], v[k]);
            goto done;
        }
    }
    const JsonValue* mt = json_get(&root, "model_type");
    if (mt && !json_is_string(mt, "gpt2")) {
        snprintf(err, errlen, "%s: model_type is not \"gpt2\"", path);
        goto done;
    }
    const JsonValue* act = json_get(&root, "activation_function");
    if (act && !json_is_string(act, "gelu_new") && !json_is_string(act, "gelu_pytorch_tanh")) {
        snprintf(err, errlen, "%s: activation_function must be \"gelu_new\" (tanh GELU)", path);
        goto done;
    }
    const JsonValue* eps = json_get(&root, "layer_norm_epsilon");
    if (eps && (eps->type != JSON_NUMBER || fabs(eps->number - 1e-5) > 1e-12)) {
        snprintf(err, errlen, "%s: layer_norm_epsilon must be 1e-05", path);
        goto done;
    }
    const JsonValue* tie = json_get(&root, "tie_word_embeddings");
    if (tie && tie->type != JSON_TRUE) {
        snprintf(err, errlen, "%s: tie_word_embeddings must be true (the LM head is tied)", path);
        goto done;
    }
    const JsonValue* inner = json_get(&root, "n_inner");
    if (inner && inner->type != JSON_NULL && !(inner->type == JSON_NUMBER && inner->number == 4.0 * (double)v[2])) {
        snprintf(err, errlen, "%s: n_inner must be null or 4 * n_embd (the MLP is 4C wide)", path);
        goto done;
    }
    cfg->vocab_size = (int)v[0];
    cfg->max_seq_len = (int)v[1];
    cfg->channels = (int)v[2];
    cfg->num_layers = (int)v[3];
    cfg->num_heads = (int)v[4];
    if (gpt_config_check(cfg, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", path, e);
        goto done;
    }
    rc = 0;
done:
    json_free(&root);
    return rc;
}

// Maps a checkpoint tensor name (without "transformer.") to (i, l), the inverse of
// gpt_tensor_name. Returns 1 for a parameter, 0 for a buffer we ignore (attn.bias,
// attn.masked_bias, the tied lm_head.weight), -1 if unknown (a layer number written with leading
// zeros or >= L included).
static int parse_tensor_name(const GPTConfig* cfg, const char* name, int* i, int* l) {
    if (strcmp(name, "lm_head.weight") == 0) return 0;
    long layer = 0;
    if (strncmp(name, "h.", 2) == 0) {
        const char* s = name + 2;
        if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) return -1;
        while (*s >= '0' && *s <= '9') {
            layer = layer * 10 + (*s++ - '0');
            if (layer >= cfg->num_layers) return -1;
        }
        if (*s++ != '.') return -1;
        if (strcmp(s, "attn.bias") == 0 || strcmp(s, "attn.masked_bias") == 0) return 0;
    }
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
        char want[96];
        size_t shape[2];
        gpt_tensor_name(cfg, k, (int)layer, want, sizeof want, shape);
        if (strcmp(name, want) == 0) {
            *i = k;
            *l = (int)layer; // 0 for wte, wpe, ln_f: their names do not start with "h."
            return 1;
        }
    }
    return -1;
}

typedef struct {
    uint64_t begin, end;
    int i, l; // i = -1 for ignored buffers
} TensorEntry;

static int cmp_entry_begin(const void* x, const void* y) {
    const TensorEntry* a = x;
    const TensorEntry* b = y;
    return (a->begin > b->begin) - (a->begin < b->begin);
}

// Reads a non-negative integer JSON number exactly (< 2^53).
static int json_uint(const JsonValue* v, uint64_t* out) {
    if (!v || v->type != JSON_NUMBER || !(v->number >= 0.0 && v->number <= 9007199254740992.0) ||
        v->number != floor(v->number))
        return -1;
    *out = (uint64_t)v->number;
    return 0;
}

// Reads the 8-byte little-endian header length and the JSON header of the safetensors file f
// (fsize bytes) into *root, a JSON object; *data_start is where the tensor data begins. Returns 0,
// or -1 with err filled and nothing to free.
static int read_safetensors_header(FILE* f, const char* path, uint64_t fsize, JsonValue* root, uint64_t* data_start,
                                   char* err, size_t errlen) {
    unsigned char lenbuf[8];
    if (fsize < 8 || fread(lenbuf, 1, 8, f) != 8) {
        snprintf(err, errlen, "%s: file too short for a safetensors header (%llu bytes)", path,
                 (unsigned long long)fsize);
        return -1;
    }
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)lenbuf[k] << (8 * k);
    // refuse absurd header sizes before allocating anything
    if (hlen < 2 || hlen > (100u << 20) || hlen > fsize - 8) {
        snprintf(err, errlen, "%s: bad header length %llu (file is %llu bytes)", path, (unsigned long long)hlen,
                 (unsigned long long)fsize);
        return -1;
    }
    char* hdr = malloc_check((size_t)hlen);
    if (fread(hdr, 1, (size_t)hlen, f) != hlen) {
        snprintf(err, errlen, "%s: cannot read the %llu-byte header", path, (unsigned long long)hlen);
        free(hdr);
        return -1;
    }
    char e[256];
    int bad = json_parse(root, hdr, (size_t)hlen, e, sizeof e);
    free(hdr); // the parsed values hold their own copies
    if (bad) {
        snprintf(err, errlen, "%s: header is not valid JSON: %s", path, e);
        return -1;
    }
    if (root->type != JSON_OBJECT) {
        snprintf(err, errlen, "%s: header is not a JSON object", path);
        json_free(root);
        return -1;
    }
    *data_start = 8 + hlen;
    return 0;
}

// Checks one header entry (key, t) against cfg: a known name, a dtype, shape and data_offsets
// inside the data_size data bytes; for a parameter also F32, this config's shape, the bytes that
// shape needs, and no earlier entry for the same tensor (seen, NUM_PARAMETER_TENSORS x L slots,
// is marked). Fills *e (i = -1 for an ignored buffer). Returns 0, or -1 with err filled.
static int check_tensor_entry(const GPTConfig* cfg, const char* path, const char* key, const JsonValue* t,
                              uint64_t data_size, unsigned char* seen, TensorEntry* e, char* err, size_t errlen) {
    const char* name = strncmp(key, "transformer.", 12) == 0 ? key + 12 : key;
    int i = -1, l = 0;
    int kind = parse_tensor_name(cfg, name, &i, &l);
    if (kind < 0) {
        snprintf(err, errlen, "%s: unexpected tensor \"%s\"", path, key);
        return -1;
    }
    const JsonValue* dtype = json_get(t, "dtype");
    const JsonValue* shape = json_get(t, "shape");
    const JsonValue* offs = json_get(t, "data_offsets");
    uint64_t b0, b1;
    if (!dtype || dtype->type != JSON_STRING || !shape || shape->type != JSON_ARRAY || !offs ||
        offs->type != JSON_ARRAY || offs->len != 2 || json_uint(&offs->items[0], &b0) ||
        json_uint(&offs->items[1], &b1)) {
        snprintf(err, errlen, "%s: tensor \"%s\" lacks a valid dtype, shape or data_offsets", path, key);
        return -1;
    }
    if (b0 > b1 || b1 > data_size) {
        snprintf(err, errlen, "%s: tensor \"%s\" data_offsets [%llu, %llu] outside the %llu data bytes", path, key,
                 (unsigned long long)b0, (unsigned long long)b1, (unsigned long long)data_size);
        return -1;
    }
    *e = (TensorEntry){b0, b1, kind ? i : -1, l};
    if (!kind) return 0;
    size_t slot = (size_t)i * (size_t)cfg->num_layers + (size_t)l;
    if (seen[slot]) {
        snprintf(err, errlen, "%s: tensor \"%s\" appears more than once", path, key);
        return -1;
    }
    seen[slot] = 1;
    if (!json_is_string(dtype, "F32")) {
        snprintf(err, errlen, "%s: tensor \"%s\" has dtype %.32s, expected F32", path, key, dtype->str);
        return -1;
    }
    char nm[96];
    size_t want[2];
    int nd = gpt_tensor_name(cfg, i, l, nm, sizeof nm, want);
    int shape_ok = shape->len == (size_t)nd;
    for (int dd = 0; shape_ok && dd < nd; dd++) {
        uint64_t got;
        shape_ok = json_uint(&shape->items[dd], &got) == 0 && got == want[dd];
    }
    if (!shape_ok) {
        char ws[64];
        if (nd == 2) snprintf(ws, sizeof ws, "[%zu, %zu]", want[0], want[1]);
        else snprintf(ws, sizeof ws, "[%zu]", want[0]);
        snprintf(err, errlen, "%s: tensor \"%s\" has the wrong shape (expected %s for this config)", path, key, ws);
        return -1;
    }
    uint64_t bytes = (uint64_t)(nd == 2 ? want[0] * want[1] : want[0]) * sizeof(float);
    if (b1 - b0 != bytes) {
        snprintf(err, errlen, "%s: tensor \"%s\" spans %llu bytes, expected %llu", path, key,
                 (unsigned long long)(b1 - b0), (unsigned long long)bytes);
        return -1;
    }
    return 0;
}

// After every entry passed check_tensor_entry: each parameter tensor is there (seen) and no two
// data ranges overlap. Sorts ent (nent entries) into file order. Returns 0, or -1 with err filled.
static int check_tensor_set(const GPTConfig* cfg, const char* path, const unsigned char* seen, TensorEntry* ent,
                            size_t nent, char* err, size_t errlen) {
    int L = cfg->num_layers;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++)
        for (int l = 0; l < (gpt_is_layer_tensor(i) ? L : 1); l++)
            if (!seen[(size_t)i * (size_t)L + (size_t)l]) {
                char name[96];
                size_t sh[2];
                gpt_tensor_name(cfg, i, l, name, sizeof name, sh);
                snprintf(err, errlen, "%s: tensor \"%s\" is missing", path, name);
                return -1;
            }
    qsort(ent, nent, sizeof *ent, cmp_entry_begin);
    for (size_t k = 1; k < nent; k++)
        if (ent[k].begin < ent[k - 1].end) {
            snprintf(err, errlen, "%s: tensor data ranges overlap at byte %llu", path, (unsigned long long)ent[k].begin);
            return -1;
        }
    return 0;
}

// Reads the parameters of ent (in file order, data at data_start) into model's parameter
// buffer, refusing non-finite values. Returns 0, or -1 with err filled.
static int read_tensor_data(FILE* f, const char* path, uint64_t data_start, const TensorEntry* ent, size_t nent,
                            GPT* model, char* err, size_t errlen) {
    for (size_t k = 0; k < nent; k++) {
        if (ent[k].i < 0) continue;
        size_t n = (size_t)(ent[k].end - ent[k].begin) / sizeof(float);
        float* dst = model->params_memory + param_offset(model, ent[k].i, ent[k].l);
        if (fseeko(f, (off_t)(data_start + ent[k].begin), SEEK_SET) != 0 || fread(dst, sizeof(float), n, f) != n) {
            snprintf(err, errlen, "%s: cannot read tensor data at byte %llu", path,
                     (unsigned long long)(data_start + ent[k].begin));
            return -1;
        }
        for (size_t j = 0; j < n; j++)
            if (!isfinite(dst[j])) {
                char name[96];
                size_t sh[2];
                gpt_tensor_name(&model->config, ent[k].i, ent[k].l, name, sizeof name, sh);
                snprintf(err, errlen, "%s: tensor \"%s\" has a non-finite value at index %zu", path, name, j);
                return -1;
            }
    }
    return 0;
}

int gpt_load(GPT* model, const char* dir, char* err, size_t errlen) {
    char path[4096];
    GPTConfig cfg;
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (read_config_json(path, &cfg, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);

    FILE* f = fopen_regular(path, err, errlen);
    if (!f) return -1;
    int rc = -1;
    TensorEntry* ent = NULL;
    unsigned char* seen = NULL;
    JsonValue root = {0};
    int have_root = 0;
    GPT tmp;
    memset(&tmp, 0, sizeof tmp);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    uint64_t fsize = (uint64_t)st.st_size, data_start;
    if (read_safetensors_header(f, path, fsize, &root, &data_start, err, errlen)) goto done;
    have_root = 1;
    seen = calloc_check((size_t)NUM_PARAMETER_TENSORS * (size_t)cfg.num_layers, 1);
    ent = malloc_check((root.len + 1) * sizeof *ent);
    size_t nent = 0;
    for (size_t k = 0; k < root.len; k++) {
        if (strcmp(root.keys[k], "__metadata__") == 0) continue;
        if (check_tensor_entry(&cfg, path, root.keys[k], &root.items[k], fsize - data_start, seen, &ent[nent], err,
                               errlen))
            goto done;
        nent++;
    }
    if (check_tensor_set(&cfg, path, seen, ent, nent, err, errlen)) goto done;
    // everything checks out against the file size: now allocate and read, in file order
    gpt_alloc_params(&tmp, cfg);
    if (read_tensor_data(f, path, data_start, ent, nent, &tmp, err, errlen)) goto done;
    *model = tmp;
    memset(&tmp, 0, sizeof tmp);
    rc = 0;
done:
    fclose(f);
    if (have_root) json_free(&root);
    free(ent);
    free(seen);
    gpt_free(&tmp); // the half-read parameters of a failed load; nothing after a success
    return rc;
}
