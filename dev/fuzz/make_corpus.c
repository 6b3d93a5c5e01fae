// dev/fuzz/make_corpus.c: writes the seed corpora of the fuzz harnesses (valid files, small) with
// the project's own writers, so the seeds follow the formats exactly, plus the forms other tools
// write (a Hugging Face GPT-2 header with "transformer." names and the attn.bias buffers,
// tokenizer.json with array-form merges, gzip'd preference files):
//   make fuzz-corpus        (rewrites dev/fuzz/corpus/<harness>/)
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../data/prefs.h"
#include "../../data/shards.h"
#include "../../lib/dpo.h"
#include "../../lib/json.h"
#include "../../lib/run.h"
#include "../../model.h"
#include "../../probes.h"
#include "../../tokenizer.h"

static void put(const char* root, const char* harness, const char* name, const void* data, size_t n) {
    char dir[4096], path[4200], err[512];
    snprintf(dir, sizeof dir, "%s/%s", root, harness);
    if (make_dirs(dir, err, sizeof err)) fatal("%s", err);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE* f = fopen_check(path, "wb");
    fwrite_check(data, 1, n, f, path);
    if (fclose(f) != 0) fatal("%s: %s", path, strerror(errno));
}

static void put_str(const char* root, const char* harness, const char* name, const char* s) {
    put(root, harness, name, s, strlen(s));
}

// One byte of a selector (the harness's choice of format), then the file at path.
static void put_file(const char* root, const char* harness, const char* name, int selector, const char* path) {
    char err[512];
    size_t n = 0;
    char* s = read_file(path, &n, err, sizeof err);
    if (!s) fatal("%s", err);
    if (selector < 0) {
        put(root, harness, name, s, n);
    } else {
        char* b = malloc_check(n + 1);
        b[0] = (char)selector;
        memcpy(b + 1, s, n);
        put(root, harness, name, b, n + 1);
        free(b);
    }
    free(s);
}

// The tiny model the model harnesses load (V=5, n_positions 3, C=2, L=1, H=1), in tmp.
static const GPTConfig TINY = {.max_seq_len = 3, .vocab_size = 5, .num_layers = 1, .num_heads = 1, .channels = 2};

// probe_bins.safetensors as the probes write it: one gaussian draw, and two find_eps draws.
static void put_probe_bins(const char* root, const char* tmp) {
    char path[4200], err[512];
    int tokens[2 * 9] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    static const struct { const char* name; int d, n, K; ProbeCalibration c; } kinds[2] = {
        {"gaussian_k1.safetensors", 3, 4, 1, PROBE_GAUSSIAN}, {"find_eps_k2.safetensors", 4, 3, 2, PROBE_FIND_EPS}};
    for (int k = 0; k < 2; k++) {
        ProbeBins pb;
        probe_bins_init(&pb, kinds[k].d, kinds[k].n, kinds[k].K, kinds[k].c, (uint64_t)k);
        snprintf(path, sizeof path, "%s/probe_bins.safetensors", tmp);
        if (probe_bins_save(path, &pb, 5, tokens, 2, 9, 1 + (size_t)k, err, sizeof err)) fatal("%s", err);
        size_t n;
        char* b = read_file(path, &n, err, sizeof err);
        if (!b) fatal("%s", err);
        put(root, "probe_bins", kinds[k].name, b, n);
        free(b);
        probe_bins_free(&pb);
    }
}

// safetensors as Hugging Face's gpt2 has it: every name with "transformer.", and the causal mask
// buffers h.N.attn.bias [1, 1, T, T] and h.N.attn.masked_bias [] after the parameters.
static void seed_hf_safetensors(const char* root, const char* ours, size_t n) {
    uint64_t hlen = 0;
    memcpy(&hlen, ours, 8);
    JsonValue h;
    char err[512];
    if (json_parse(&h, ours + 8, (size_t)hlen, err, sizeof err)) fatal("safetensors header: %s", err);
    size_t data = n - 8 - (size_t)hlen, T = (size_t)TINY.max_seq_len;
    char* buf = NULL;
    size_t blen = 0;
    FILE* f = open_memstream(&buf, &blen);
    fputs("{\"__metadata__\":{\"format\":\"pt\"}", f);
    for (size_t k = 0; k < h.len; k++) {
        if (strcmp(h.keys[k], "__metadata__") == 0) continue;
        const JsonValue* t = &h.items[k];
        const JsonValue* shape = json_get(t, "shape");
        const JsonValue* off = json_get(t, "data_offsets");
        fprintf(f, ",\"transformer.%s\":{\"dtype\":\"F32\",\"shape\":[", h.keys[k]);
        for (size_t d = 0; d < shape->len; d++) fprintf(f, "%s%.0f", d ? "," : "", shape->items[d].number);
        fprintf(f, "],\"data_offsets\":[%.0f,%.0f]}", off->items[0].number, off->items[1].number);
    }
    fprintf(f, ",\"transformer.h.0.attn.bias\":{\"dtype\":\"F32\",\"shape\":[1,1,%zu,%zu],\"data_offsets\":[%zu,%zu]}",
            T, T, data, data + T * T * 4);
    fprintf(f, ",\"transformer.h.0.attn.masked_bias\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[%zu,%zu]}}",
            data + T * T * 4, data + T * T * 4 + 4);
    if (fclose(f) != 0) fatal("open_memstream");
    json_free(&h);
    size_t total = 8 + blen + data + T * T * 4 + 4;
    char* out = calloc_check(total, 1);
    uint64_t nl = blen;
    memcpy(out, &nl, 8);
    memcpy(out + 8, buf, blen);
    memcpy(out + 8 + blen, ours + 8 + hlen, data);
    float* mask = (float*)(out + 8 + blen + data); // the lower-triangular mask, then -1e4
    for (size_t i = 0; i < T; i++)
        for (size_t j = 0; j < T; j++) mask[i * T + j] = j <= i ? 1.0f : 0.0f;
    mask[T * T] = -1e4f;
    put(root, "safetensors", "hf_gpt2_style.safetensors", out, total);
    free(out);
    free(buf);
}

// config.json and model.safetensors of the tiny model, ours and Hugging Face's forms.
static void seed_model(const char* root, const char* tmp) {
    char path[4200], err[512];
    GPT m;
    gpt_build(&m, TINY, 7);
    if (gpt_save(&m, tmp, -1, err, sizeof err)) fatal("%s", err);
    gpt_free(&m);
    size_t n;
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    char* st = read_file(path, &n, err, sizeof err);
    if (!st) fatal("%s", err);
    put(root, "safetensors", "tiny.safetensors", st, n);
    seed_hf_safetensors(root, st, n);
    put_probe_bins(root, tmp);
    free(st);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", tmp);
    put_file(root, "config", "config.json", -1, path);
    put_file(root, "json", "config.json", -1, path);
    unlink(path);
    put_str(root, "config", "hf_style.json",
            "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"], \"n_ctx\": 3,"
            " \"n_embd\": 2, \"n_head\": 1, \"n_layer\": 1, \"vocab_size\": 5, \"layer_norm_epsilon\": 1e-05,"
            " \"tie_word_embeddings\": true, \"model_type\": \"gpt2\"}\n");
    // JSON: escapes, surrogate pairs, numbers, nesting
    put_str(root, "json", "values.json",
            "{\"a\": [1, -0.5, 2.5e-3, 1E+2, 0, -0], \"s\": \"tab\\t nl\\n quote\\\" \\\\ \\/ \\u00e9 \\ud83d\\ude00\","
            " \"n\": null, \"t\": true, \"f\": false, \"o\": {\"deep\": [[[{}]]]}, \"b\": \"\\u0000 in a value\"}");
    put_str(root, "json", "array.json", "[\"x\", [], {}, 123456789012345, \"\\u0000\"]");
}

// tokenizer.json (string and array merges) and GPT-2's encoder.json + vocab.bpe, from a small
// trained tokenizer.
static void seed_tokenizers(const char* root, const char* tmp) {
    static const char text[] = "the cat sat on the mat. the dog sat on the log. it's 2024, caf\xc3\xa9 na\xc3\xafve!\n"
                               "Human: hi\n\nAssistant: hello there, the end.";
    char path[4200], err[512];
    Tokenizer* tok = tok_train(text, sizeof text - 1, 280, err, sizeof err);
    if (!tok) fatal("%s", err);
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    if (tok_save_json(tok, path, err, sizeof err)) fatal("%s", err);
    tok_free(tok);
    size_t n;
    char* tj = read_file(path, &n, err, sizeof err);
    if (!tj) fatal("%s", err);
    put(root, "tokenizer_json", "trained.json", tj, n);
    unlink(path);
    JsonValue root_v;
    if (json_parse(&root_v, tj, n, err, sizeof err)) fatal("tokenizer.json: %s", err);
    const JsonValue* vocab = json_get(json_get(&root_v, "model"), "vocab");
    const JsonValue* merges = json_get(json_get(&root_v, "model"), "merges");
    if (!vocab || !merges) fatal("tokenizer.json without vocab or merges");
    // the same file with merges as [a, b] arrays (tokenizers >= 0.20 writes them so)
    const char* at = strstr(tj, "\"merges\"");
    const char* open = at ? strchr(at, '[') : NULL;
    const char* close = open ? strchr(open, ']') : NULL;
    if (!close) fatal("tokenizer.json: no merges list");
    char* buf = NULL;
    size_t blen = 0;
    FILE* f = open_memstream(&buf, &blen);
    fwrite(tj, 1, (size_t)(open - tj), f);
    fputc('[', f);
    for (size_t k = 0; k < merges->len; k++) {
        const char* s = merges->items[k].str;
        const char* sp = strchr(s, ' ');
        fputs(k ? ", [" : "[", f);
        json_write_string(f, s, (size_t)(sp - s));
        fputs(", ", f);
        json_write_string(f, sp + 1, strlen(sp + 1));
        fputc(']', f);
    }
    fputs(close, f);
    if (fclose(f) != 0) fatal("open_memstream");
    put(root, "tokenizer_json", "array_merges.json", buf, blen);
    free(buf);
    // GPT-2 files: encoder.json is the vocab object, vocab.bpe the merges
    f = open_memstream(&buf, &blen);
    fputc('{', f);
    for (size_t k = 0; k < vocab->len; k++) {
        if (k) fputs(", ", f);
        json_write_string(f, vocab->keys[k], vocab->key_lens[k]);
        fprintf(f, ": %lld", (long long)vocab->items[k].number);
    }
    fputs("}", f);
    fputc('\0', f); // the harness splits at the first NUL
    fputs("#version: 0.2\n", f);
    for (size_t k = 0; k < merges->len; k++) fprintf(f, "%s\n", merges->items[k].str);
    if (fclose(f) != 0) fatal("open_memstream");
    put(root, "gpt2_bpe", "trained.bin", buf, blen);
    free(buf);
    json_free(&root_v);
    free(tj);
}

// Preference JSON Lines: both layouts, a blank line, a missing field, identical pairs, a byte
// order mark, and the same file gzip'd (the harness reads a gzip'd input through gzip -dc).
static void seed_prefs(const char* root, const char* tmp) {
    static const char both[] =
        "{\"prompt\": \"the cat\", \"chosen\": \" sat on the mat.\", \"rejected\": \" ate the dog.\"}\n"
        "\n"
        "{\"chosen\": \"Human: hi\\n\\nAssistant: hello there\", \"rejected\": \"Human: hi\\n\\nAssistant: go away\"}\n"
        "{\"chosen\": \"the dog sat\", \"rejected\": \"the dog ran on the log and on and on\"}\n"
        "{\"prompt\": \"x\", \"chosen\": \"same\"}\n"
        "{\"chosen\": \"same\", \"rejected\": \"same\"}\n"
        "{\"prompt\": \"a\", \"chosen\": \"the cat sat on the mat yes\", \"rejected\": \"the cat sat on the mat no\"}\n";
    put_str(root, "prefs", "both_layouts.jsonl", both);
    put_str(root, "prefs", "long.jsonl",
            "{\"prompt\": \"the cat sat on the mat. the dog sat on the log. the end\", \"chosen\": \" yes\","
            " \"rejected\": \" no, the cat sat on the mat and the dog sat on the log\", \"extra\": [1, 2]}\n");
    put_str(root, "prefs", "bom.jsonl", "\xEF\xBB\xBF{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n");
    char path[4200], cmd[8800];
    snprintf(path, sizeof path, "%s/both.jsonl", tmp);
    FILE* f = fopen_check(path, "wb");
    fwrite_check(both, 1, sizeof both - 1, f, path);
    if (fclose(f) != 0) fatal("%s: %s", path, strerror(errno));
    snprintf(cmd, sizeof cmd, "gzip -n -9 '%s'", path);
    if (system(cmd) != 0) fatal("%s: gzip failed", path);
    snprintf(path, sizeof path, "%s/both.jsonl.gz", tmp);
    put_file(root, "prefs", "both_layouts.jsonl.gz", -1, path);
    unlink(path);
}

// Token shards: 2 bytes per token (V <= 65536), 4 bytes per token, and an empty one.
static void seed_shards(const char* root, const char* tmp) {
    int ids[12] = {0, 1, 2, 299, 5, 6, 7, 8, 9, 10, 11, 12};
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/a.tok", tmp);
    if (shard_write(path, ids, 12, 300, 0x1234, err, sizeof err)) fatal("%s", err);
    put_file(root, "shard", "v300.tok", -1, path);
    ids[3] = 69999;
    if (shard_write(path, ids, 12, 70000, 0, err, sizeof err)) fatal("%s", err);
    put_file(root, "shard", "v70000.tok", -1, path);
    if (shard_write(path, ids, 0, 300, 0, err, sizeof err)) fatal("%s", err);
    put_file(root, "shard", "empty.tok", -1, path);
    unlink(path);
}

// The files --resume reads, as ./train writes them for the tiny model (the harness's first byte:
// 0x80 | kind, so that it fixes the checksum of what it mutates): train_state.bin after 3 of 10
// steps with a DPO stage, dpo_state.bin after 2 of 4 DPO steps, dpo_pairs.bin of 3 pairs.
static void seed_states(const char* root, const char* tmp) {
    GPT m;
    gpt_build(&m, TINY, 7);
    gpt_alloc_training_state(&m);
    for (size_t i = 0; i < m.num_parameters; i++) m.m_memory[i] = 1e-3f * (float)i, m.v_memory[i] = 1e-6f;
    DPOConfig dc = {.pairs = "prefs.jsonl", .steps = 4, .batch = 2, .T = 3, .lr = 1e-4f, .min_lr_frac = 0.1f,
                    .clip = 1, .beta = 0.1f, .loss = "sigmoid", .val_frac = 0.1f, .n_pairs = 800, .eval_every = 2,
                    .n_prompts = 64, .temperature = 0.8f, .top_k = 40, .seed = 1337, .save_every = 1, .threads = 1};
    TrainStateHeader h;
    memset(&h, 0, sizeof h);
    h = (TrainStateHeader){.magic = STATE_MAGIC, .version = STATE_VERSION, .num_parameters = m.num_parameters,
                           .L = 1, .C = 2, .NH = 1, .maxT = 3, .V = 5, .T = 3, .B = 2, .steps = 10, .warmup = 1,
                           .threads = 1, .sched_steps = 10, .step = 3, .eval_batches = 8, .probe_seqs = 64,
                           .probe_bins = 100, .lr = 2e-3, .min_lr_frac = 0.1, .wd = 0.1, .clip = 1, .val_frac = 0.1,
                           .seed = 1337, .loader_rng = 99, .sample_rng = 7};
    snprintf(h.model, sizeof h.model, "tiny");
    dpo_settings_from_config(&dc, &h.dpo);
    char path[4200], err[512];
    if (state_check(&h, err, sizeof err)) fatal("seed state: %s", err);
    if (state_save(tmp, &h, &m, err, sizeof err)) fatal("%s", err);
    snprintf(path, sizeof path, "%s/train_state.bin", tmp);
    put_file(root, "state", "train_state.bin", 0x80, path);
    unlink(path);
    DPOStateHeader d;
    memset(&d, 0, sizeof d);
    d = (DPOStateHeader){.magic = DPO_STATE_MAGIC, .version = DPO_STATE_VERSION, .num_parameters = m.num_parameters,
                         .L = 1, .C = 2, .NH = 1, .maxT = 3, .V = 5, .step = 2, .threads = 1, .probe_B = 2,
                         .rng = 5, .pairs_sum = 77, .rate_before = NAN};
    dpo_settings_from_config(&dc, &d.s);
    if (dpo_state_check(&d, err, sizeof err)) fatal("seed DPO state: %s", err);
    snprintf(path, sizeof path, "%s/dpo_state.bin", tmp);
    if (state_file_write(path, &d, sizeof d, &m, err, sizeof err)) fatal("%s", err);
    put_file(root, "state", "dpo_state.bin", 0x81, path);
    unlink(path);
    gpt_free(&m);
    PrefSet set;
    pref_init(&set, 6);
    int p[2] = {299, 3}, c[3] = {4, 5, 6}, r[2] = {7, 8};
    for (int i = 0; i < 3; i++) {
        p[1] = 3 + i;
        pref_add_tokens(&set, p, 2, c, 3 - (size_t)(i == 2), r, 2, 299);
    }
    pref_split(&set, 0.34f, 1);
    float rc[3] = {-1.5f, -2.0f, -3.25f}, rr[3] = {-4.0f, -0.5f, -7.0f};
    uint64_t sum;
    snprintf(path, sizeof path, "%s/dpo_pairs.bin", tmp);
    if (pref_save(&set, 300, rc, rr, path, &sum, err, sizeof err)) fatal("%s", err);
    pref_free(&set);
    put_file(root, "state", "dpo_pairs.bin", 0x82, path);
    unlink(path);
}

// The logs --resume rebuilds, written by log_row (first bytes: the header's index and the steps of
// each stage kept): train.csv with a final row and a row cut short, dpo.csv, probes.csv.
static void seed_csv(const char* root) {
    static const char* headers[3] = {TRAIN_CSV_HEADER, DPO_CSV_HEADER, PROBE_CSV_HEADER};
    static const int width[3] = {6, 7, 10};
    for (int k = 0; k < 3; k++) {
        char* buf = NULL;
        size_t blen = 0;
        FILE* f = open_memstream(&buf, &blen);
        fputc(k, f);
        fputc(k == 1 ? 4 : 3, f); // pre-training (or stage-less) steps kept
        fputc(2, f);              // DPO steps kept
        fprintf(f, "%s\n", headers[k]);
        double v[10];
        for (int s = 0; s < 5; s++) {
            for (int i = 0; i < 10; i++) v[i] = i == 1 && s % 2 ? NAN : 1.0 / (1 + s + i);
            for (int layer = 0; layer < (k == 2 ? 2 : 1); layer++) {
                if (k == 2) fprintf(f, "%d,%s,%d", s, s < 3 ? "pretrain" : "dpo", layer);
                if (k == 2) {
                    for (int i = 0; i < 9; i++) fprintf(f, isnan(v[i]) ? "," : ",%.6g", v[i]);
                    fprintf(f, "\n");
                } else {
                    log_row(f, "seed", s, k == 0 ? "pretrain" : NULL, v, width[k]);
                }
            }
        }
        fputs("5,pretrain,2.5,", f); // cut short by a crash
        if (fclose(f) != 0) fatal("open_memstream");
        char name[32];
        snprintf(name, sizeof name, "log%d.csv", k);
        put(root, "csv", name, buf, blen);
        free(buf);
    }
}

// Numeric flags: the first byte picks the range (see fuzz_flags.c), the rest is the value.
static void seed_flags(const char* root) {
    static const char* flags[] = {"\x00" "4", "\x03" "600", "\x07" "3e-4", "\x08" "0.1", "\x0b" "1e9",
                                  "\x0d" "1337", "\x0c" "0.8", "\x02" "-5", "\x07" "nan", "\x0d" "18446744073709551615"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "flag%zu", i);
        put(root, "flags", name, flags[i], 1 + strlen(flags[i] + 1));
    }
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char* root = argv[1];
    char tmp[] = "/tmp/forgetful-corpus.XXXXXX";
    if (!mkdtemp(tmp)) fatal("mkdtemp: %s", strerror(errno));
    seed_model(root, tmp);
    seed_tokenizers(root, tmp);
    seed_prefs(root, tmp);
    seed_shards(root, tmp);
    seed_states(root, tmp);
    seed_csv(root);
    seed_flags(root);
    rmdir(tmp);
    printf("seed corpora written to %s/\n", root);
    return 0;
}
