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

// Writes config.json as Hugging Face's GPT2Config would for this model: the shape, what the model
// computes (tanh GELU, eps 1e-5, attention scaled by 1/sqrt(hs) only, tied LM head), dropout 0 as
// we train, and <|endoftext|> (eot, -1 = none) as bos and eos, so that generate() stops on it.
static int write_config_json(const GPTConfig* cfg, int eot, const char* path, char* err, size_t errlen) {
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
            "  \"n_inner\": null,\n"
            "  \"layer_norm_epsilon\": 1e-05,\n"
            "  \"activation_function\": \"gelu_new\",\n"
            "  \"resid_pdrop\": 0.0,\n"
            "  \"embd_pdrop\": 0.0,\n"
            "  \"attn_pdrop\": 0.0,\n"
            "  \"initializer_range\": 0.02,\n"
            "  \"scale_attn_weights\": true,\n"
            "  \"scale_attn_by_inverse_layer_idx\": false,\n"
            "  \"reorder_and_upcast_attn\": false,\n"
            "  \"use_cache\": true,\n",
            cfg->vocab_size, cfg->max_seq_len, cfg->max_seq_len, cfg->channels, cfg->num_layers, cfg->num_heads);
    if (eot >= 0) fprintf(af.f, "  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n", eot, eot);
    fprintf(af.f, "  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"float32\"\n}\n");
    return atomic_commit(&af, err, errlen);
}

// Writes generation_config.json: the token ids generate() needs (bos, eos, and pad = eos, as GPT-2
// has no padding token) and ./train --sample's sampling defaults.
static int write_generation_config(int eot, const char* path, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen)) return -1;
    fprintf(af.f, "{\n");
    if (eot >= 0)
        fprintf(af.f, "  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n  \"pad_token_id\": %d,\n", eot, eot, eot);
    fprintf(af.f, "  \"do_sample\": true,\n  \"temperature\": 0.8,\n  \"top_k\": 40\n}\n");
    return atomic_commit(&af, err, errlen);
}

int gpt_save(const GPT* model, const char* dir, int eot, char* err, size_t errlen) {
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
    if (write_config_json(cfg, eot, path, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (write_generation_config(eot, path, err, errlen)) return -1;

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

// Quotes a JSON value for an error message: a string in quotes, a number, true/false/null.
static void json_value_text(const JsonValue* v, char* out, size_t len) {
    switch (v->type) {
    case JSON_STRING: snprintf(out, len, "\"%.60s\"", v->str); break;
    case JSON_NUMBER: snprintf(out, len, "%g", v->number); break;
    case JSON_TRUE: snprintf(out, len, "true"); break;
    case JSON_FALSE: snprintf(out, len, "false"); break;
    case JSON_NULL: snprintf(out, len, "null"); break;
    default: snprintf(out, len, "(an array or object)"); break;
    }
}

// Refuses a config that asks for something this GPT does not compute, naming the field: another
// model type or activation, LayerNorm eps, MLP width, an untied head, or one of GPT2Config's
// attention variants (scores scaled by 1/(layer index), upcast and reordered, unscaled, cross
// attention). A field that is absent takes GPT-2's default, which is what we compute.
static int check_config_fields(const JsonValue* root, const char* path, long long n_embd, char* err, size_t errlen) {
    const struct {
        const char* key;
        JsonType type;     // the JSON type GPT-2's value has
        const char* str;   // the string value(s) we compute ("a|b"), or NULL
        double num;        // the number we compute (type JSON_NUMBER)
        const char* what;  // what we compute instead, for the message
    } rules[] = {
        {"model_type", JSON_STRING, "gpt2", 0, "only \"gpt2\""},
        {"activation_function", JSON_STRING, "gelu_new|gelu_pytorch_tanh", 0, "only \"gelu_new\" (tanh GELU)"},
        {"layer_norm_epsilon", JSON_NUMBER, NULL, 1e-5, "LayerNorm eps is 1e-05"},
        {"tie_word_embeddings", JSON_TRUE, NULL, 0, "the LM head is tied to wte"},
        {"scale_attn_weights", JSON_TRUE, NULL, 0, "attention scores are scaled by 1/sqrt(head size)"},
        {"scale_attn_by_inverse_layer_idx", JSON_FALSE, NULL, 0, "scores are not scaled by 1/(layer index + 1)"},
        {"reorder_and_upcast_attn", JSON_FALSE, NULL, 0, "attention runs as GPT-2's, in F32"},
        {"add_cross_attention", JSON_FALSE, NULL, 0, "a decoder without cross-attention"},
    };
    char got[96];
    for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
        const JsonValue* v = json_get(root, rules[k].key);
        if (!v) continue;
        int ok = v->type == rules[k].type;
        if (ok && rules[k].str) {
            ok = 0;
            for (const char* w = rules[k].str; *w && !ok;) {
                size_t wl = strcspn(w, "|");
                ok = v->len == wl && strncmp(v->str, w, wl) == 0;
                w += wl + (w[wl] == '|');
            }
        }
        if (ok && rules[k].type == JSON_NUMBER) ok = fabs(v->number - rules[k].num) <= 1e-12;
        if (!ok) {
            json_value_text(v, got, sizeof got);
            snprintf(err, errlen, "%s: \"%s\": %s is not supported (%s)", path, rules[k].key, got, rules[k].what);
            return -1;
        }
    }
    const JsonValue* inner = json_get(root, "n_inner");
    if (inner && inner->type != JSON_NULL && !(inner->type == JSON_NUMBER && inner->number == 4.0 * (double)n_embd)) {
        json_value_text(inner, got, sizeof got);
        snprintf(err, errlen, "%s: \"n_inner\": %s is not supported (null or 4 * n_embd: the MLP is 4C wide)", path,
                 got);
        return -1;
    }
    return 0;
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
    if (check_config_fields(&root, path, v[2], err, errlen)) goto done;
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
    int i, l;  // i = -1 for ignored buffers
    int width; // bytes per stored value: 4 (F32), 2 (F16 or BF16)
    int bf16;  // 1 for BF16
} TensorEntry;

// Bytes per value of a parameter dtype we read (F32, and F16/BF16 converted to F32 on load), or 0.
static int dtype_width(const JsonValue* dtype, int* bf16) {
    // json_is_string: a name with a NUL byte inside ("F32\u0000x") is no dtype
    *bf16 = json_is_string(dtype, "BF16");
    return json_is_string(dtype, "F32") ? 4 : (json_is_string(dtype, "F16") || *bf16) ? 2 : 0;
}

// IEEE half (1 sign, 5 exponent, 10 mantissa bits) -> float, exactly (every half is a float).
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1F, m = h & 0x3FF, bits;
    if (e == 0x1F) bits = sign | 0x7F800000u | (m << 13); // inf, NaN (refused later)
    else if (e) bits = sign | ((e + 112) << 23) | (m << 13);
    else if (!m) bits = sign;
    else { // subnormal: normalise
        e = 113;
        while (!(m & 0x400)) m <<= 1, e--;
        bits = sign | (e << 23) | ((m & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

// bfloat16 is the top half of a float.
static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

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
    *e = (TensorEntry){b0, b1, kind ? i : -1, l, 4, 0};
    if (!kind) return 0;
    size_t slot = (size_t)i * (size_t)cfg->num_layers + (size_t)l;
    if (seen[slot]) {
        snprintf(err, errlen, "%s: tensor \"%s\" appears more than once", path, key);
        return -1;
    }
    seen[slot] = 1;
    e->width = dtype_width(dtype, &e->bf16);
    if (!e->width) {
        snprintf(err, errlen, "%s: tensor \"%s\" has dtype %.32s, expected F32, F16 or BF16", path, key, dtype->str);
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
    uint64_t bytes = (uint64_t)(nd == 2 ? want[0] * want[1] : want[0]) * (uint64_t)e->width;
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
// buffer, F16 and BF16 converted to F32, refusing non-finite values. Returns 0, or -1 with err filled.
static int read_tensor_data(FILE* f, const char* path, uint64_t data_start, const TensorEntry* ent, size_t nent,
                            GPT* model, char* err, size_t errlen) {
    for (size_t k = 0; k < nent; k++) {
        if (ent[k].i < 0) continue;
        size_t w = (size_t)ent[k].width, n = (size_t)(ent[k].end - ent[k].begin) / w;
        float* dst = model->params_memory + param_offset(model, ent[k].i, ent[k].l);
        // a 2-byte tensor is read into the upper half of its F32 destination, then widened from
        // the front: value j's 2 bytes lie at or beyond where float j goes, so none is overwritten
        // before it is read
        unsigned char* half = w == 2 ? (unsigned char*)(dst + n) - 2 * n : NULL;
        if (fseeko(f, (off_t)(data_start + ent[k].begin), SEEK_SET) != 0 ||
            fread(half ? (void*)half : (void*)dst, w, n, f) != n) {
            snprintf(err, errlen, "%s: cannot read tensor data at byte %llu", path,
                     (unsigned long long)(data_start + ent[k].begin));
            return -1;
        }
        for (size_t j = 0; half && j < n; j++) {
            uint16_t h;
            memcpy(&h, half + 2 * j, 2);
            dst[j] = ent[k].bf16 ? bf16_to_float(h) : half_to_float(h);
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

int gpt_load_config(const char* dir, GPTConfig* cfg, char* err, size_t errlen) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    return read_config_json(path, cfg, err, errlen);
}

int gpt_load(GPT* model, const char* dir, char* err, size_t errlen) {
    char path[4096];
    GPTConfig cfg;
    if (gpt_load_config(dir, &cfg, err, errlen)) return -1;
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
