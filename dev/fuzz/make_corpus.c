// dev/fuzz/make_corpus.c: writes the seed corpora of the fuzz harnesses (valid files, small) with
// the project's own writers, so the seeds follow the formats exactly:
//   make fuzz-corpus        (rewrites dev/fuzz/corpus/<harness>/)
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../data/shards.h"
#include "../../lib/json.h"
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

static char* slurp(const char* path, size_t* n) {
    char err[512];
    char* s = read_file(path, n, err, sizeof err);
    if (!s) fatal("%s", err);
    return s;
}

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
        char* b = slurp(path, &n);
        put(root, "probe_bins", kinds[k].name, b, n);
        free(b);
        probe_bins_free(&pb);
    }
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char* root = argv[1];
    char tmp[] = "/tmp/forgetful-corpus.XXXXXX", path[4200], err[512];
    if (!mkdtemp(tmp)) fatal("mkdtemp: %s", strerror(errno));

    // model folder of the fuzzers' fixed tiny config (V=5, n_positions 3, C=2, L=1, H=1)
    GPT m;
    gpt_build(&m, (GPTConfig){.max_seq_len = 3, .vocab_size = 5, .num_layers = 1, .num_heads = 1, .channels = 2}, 7);
    if (gpt_save(&m, tmp, err, sizeof err)) fatal("%s", err);
    gpt_free(&m);
    size_t n;
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    char* st = slurp(path, &n);
    put(root, "safetensors", "tiny.safetensors", st, n);
    put_probe_bins(root, tmp);
    free(st);
    snprintf(path, sizeof path, "%s/config.json", tmp);
    char* cj = slurp(path, &n);
    put(root, "config", "config.json", cj, n);
    put(root, "json", "config.json", cj, n);
    free(cj);
    put_str(root, "config", "hf_style.json",
            "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"], \"n_ctx\": 3,"
            " \"n_embd\": 2, \"n_head\": 1, \"n_layer\": 1, \"vocab_size\": 5, \"layer_norm_epsilon\": 1e-05,"
            " \"tie_word_embeddings\": true, \"model_type\": \"gpt2\"}\n");
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    unlink(path);

    // JSON: escapes, surrogate pairs, numbers, nesting
    put_str(root, "json", "values.json",
            "{\"a\": [1, -0.5, 2.5e-3, 1E+2, 0, -0], \"s\": \"tab\\t nl\\n quote\\\" \\\\ \\/ \\u00e9 \\ud83d\\ude00\","
            " \"n\": null, \"t\": true, \"f\": false, \"o\": {\"deep\": [[[{}]]]}, \"a\": \"dup\"}");
    put_str(root, "json", "array.json", "[\"x\", [], {}, 123456789012345, \"\\u0000\"]");

    // tokenizer.json from a small trained tokenizer
    static const char text[] = "the cat sat on the mat. the dog sat on the log. it's 2024, caf\xc3\xa9 na\xc3\xafve!\n"
                               "Human: hi\n\nAssistant: hello there, the end.";
    Tokenizer* tok = tok_train(text, sizeof text - 1, 280, err, sizeof err);
    if (!tok) fatal("%s", err);
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    if (tok_save_json(tok, path, err, sizeof err)) fatal("%s", err);
    char* tj = slurp(path, &n);
    put(root, "tokenizer_json", "trained.json", tj, n);
    unlink(path);

    // GPT-2 files from the same tokenizer: encoder.json is the vocab object, vocab.bpe the merges
    JsonValue root_v;
    if (json_parse(&root_v, tj, n, err, sizeof err)) fatal("tokenizer.json: %s", err);
    const JsonValue* model = json_get(&root_v, "model");
    const JsonValue* vocab = json_get(model, "vocab");
    const JsonValue* merges = json_get(model, "merges");
    if (!vocab || !merges) fatal("tokenizer.json without vocab or merges");
    char* buf = NULL;
    size_t blen = 0;
    FILE* f = open_memstream(&buf, &blen);
    fputc('{', f);
    for (size_t k = 0; k < vocab->len; k++) {
        if (k) fputs(", ", f);
        json_write_string(f, vocab->keys[k], vocab->key_lens[k]);
        fprintf(f, ": %lld", (long long)vocab->items[k].number);
    }
    fputs("}", f);
    fputc('\0', f); // the harness splits at the first NUL
    fputs("#version: 0.2\n", f);
    for (size_t k = 0; k < merges->len; k++) {
        const JsonValue* mv = &merges->items[k];
        if (mv->type == JSON_STRING) fprintf(f, "%s\n", mv->str);
        else fprintf(f, "%s %s\n", mv->items[0].str, mv->items[1].str);
    }
    if (fclose(f) != 0) fatal("open_memstream");
    put(root, "gpt2_bpe", "trained.bin", buf, blen);
    free(buf);
    json_free(&root_v);
    free(tj);
    tok_free(tok);

    // preference JSON Lines: both layouts, a blank line, a missing field, an identical pair
    put_str(root, "prefs", "both_layouts.jsonl",
            "{\"prompt\": \"the cat\", \"chosen\": \" sat on the mat.\", \"rejected\": \" ate the dog.\"}\n"
            "\n"
            "{\"chosen\": \"Human: hi\\n\\nAssistant: hello there\", \"rejected\": \"Human: hi\\n\\nAssistant: go "
            "away\"}\n"
            "{\"chosen\": \"the dog sat\", \"rejected\": \"the dog ran on the log and on and on\"}\n"
            "{\"prompt\": \"x\", \"chosen\": \"same\"}\n"
            "{\"chosen\": \"same\", \"rejected\": \"same\"}\n");
    put_str(root, "prefs", "long.jsonl",
            "{\"prompt\": \"the cat sat on the mat. the dog sat on the log. the end\", \"chosen\": \" yes\","
            " \"rejected\": \" no, the cat sat on the mat and the dog sat on the log\", \"extra\": [1, 2]}\n");

    // token shards: 2 bytes per token (V <= 65536) and 4 bytes per token
    int ids[12] = {0, 1, 2, 299, 5, 6, 7, 8, 9, 10, 11, 12};
    snprintf(path, sizeof path, "%s/a.tok", tmp);
    if (shard_write(path, ids, 12, 300, 0x1234, err, sizeof err)) fatal("%s", err);
    char* sh = slurp(path, &n);
    put(root, "shard", "v300.tok", sh, n);
    free(sh);
    ids[3] = 69999;
    if (shard_write(path, ids, 12, 70000, 0, err, sizeof err)) fatal("%s", err);
    sh = slurp(path, &n);
    put(root, "shard", "v70000.tok", sh, n);
    free(sh);
    if (shard_write(path, ids, 0, 300, 0, err, sizeof err)) fatal("%s", err);
    sh = slurp(path, &n);
    put(root, "shard", "empty.tok", sh, n);
    free(sh);
    unlink(path);
    rmdir(tmp);

    // numeric flags: first byte picks the range (see fuzz_flags.c), the rest is the value
    static const char* flags[] = {"\x00" "4", "\x03" "600", "\x07" "3e-4", "\x08" "0.1", "\x0b" "1e9",
                                  "\x0d" "1337", "\x0c" "0.8", "\x02" "-5", "\x07" "nan", "\x0d" "18446744073709551615"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "flag%zu", i);
        put(root, "flags", name, flags[i], 1 + strlen(flags[i] + 1));
    }
    printf("seed corpora written to %s/\n", root);
    return 0;
}
