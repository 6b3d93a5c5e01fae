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
#include "data/prefs.h"
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

static void test_tokenizer(void) {}

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

// Max |a - b| / max(1, |b|) over n floats: absolute for small values, relative for large ones.
static double dpo_max_diff(const float* a, const float* b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(d <= m)) m = d; // NaN propagates as a failure
    }
    return m;
}

// Closed forms of the objective: h = 0, the IPO target, saturation, finite differences.
static void test_dpo_objective_closed_form(void) {
    float pc[3] = {-3.0f, -10.0f, -1.0f}, pr[3] = {-5.0f, -2.0f, -7.0f};
    float rc[3] = {-3.0f, -10.0f, -1.0f}, rr[3] = {-5.0f, -2.0f, -7.0f};
    float dc[3], dr[3], losses[3];
    DPOStats st;
    // policy == reference: h = 0, loss = ln 2, dL/dlogπ(c) = −β/2 / n (raise chosen), rejected +β/2 / n
    dpo_objective(pc, pr, rc, rr, 3, 0.1f, DPO_SIGMOID, 0.0f, dc, dr, losses, &st);
    double d = fabs((double)st.loss - log(2.0));
    for (int i = 0; i < 3; i++) {
        d = fmax(d, fabs((double)dc[i] - (-0.05 / 3.0)));
        d = fmax(d, fabs((double)dr[i] - (0.05 / 3.0)));
    }
    check(d < 1e-7 && st.accuracy == 0.0f && st.margin == 0.0f,
          "dpo: h=0 gives loss ln 2, dL/dlogp(c) = -beta/2n < 0, dL/dlogp(r) = +beta/2n (max diff %.2e)", d);
    dpo_objective(pc, pr, rc, rr, 3, 0.1f, DPO_SIGMOID, 0.3f, dc, dr, NULL, &st);
    d = fabs((double)st.loss - log(2.0));
    d = fmax(d, fabs((double)dc[0] - (-0.1 * (0.7 * 0.5 - 0.3 * 0.5) / 3.0)));
    check(d < 1e-7, "dpo: label smoothing 0.3 at h=0: loss ln 2, gradient scaled by (1-2ls) (max diff %.2e)", d);
    // IPO at its target h = 1/(2β): zero loss and gradient
    float pc2[1] = {-1.0f + 5.0f}, pr2[1] = {-1.0f}, zero[1] = {-1.0f};
    dpo_objective(pc2, pr2, zero, zero, 1, 0.1f, DPO_IPO, 0.0f, dc, dr, NULL, &st);
    d = fmax(fabs((double)st.loss), fmax(fabs((double)dc[0]), fabs((double)dr[0])));
    check(d < 1e-6, "dpo: ipo at h = 1/(2 beta) gives loss 0 and gradient 0 (max diff %.2e)", d);
    // saturation: log σ must not overflow for |βh| = 1e4
    float big_c[2] = {1e4f, -1e4f}, big_r[2] = {0.0f, 0.0f}, z2[2] = {0.0f, 0.0f};
    dpo_objective(big_c, big_r, z2, z2, 2, 1.0f, DPO_SIGMOID, 0.0f, dc, dr, losses, &st);
    d = fmax(fabs((double)losses[0]), fabs((double)losses[1] - 1e4) / 1e4);
    d = fmax(d, fmax(fabs((double)dc[0]), fabs((double)dc[1] + 0.5)));
    check(d < 1e-6 && st.accuracy == 0.5f,
          "dpo: |beta h| = 1e4 stays finite: losses 0 and 1e4, gradients 0 and -1/n (max diff %.2e)", d);
    // finite differences of the mean loss in each logp, every variant
    static const struct {
        DPOLossType type;
        float beta, ls;
    } var[3] = {{DPO_SIGMOID, 0.1f, 0.0f}, {DPO_SIGMOID, 0.5f, 0.2f}, {DPO_IPO, 0.1f, 0.0f}};
    float p_c[3] = {-4.0f, -9.5f, -2.25f}, p_r[3] = {-6.0f, -1.5f, -3.0f};
    double worst = 0.0;
    for (int v = 0; v < 3; v++) {
        dpo_objective(p_c, p_r, rc, rr, 3, var[v].beta, var[v].type, var[v].ls, dc, dr, NULL, &st);
        for (int i = 0; i < 6; i++) {
            float* x = i < 3 ? &p_c[i] : &p_r[i - 3];
            float g = i < 3 ? dc[i] : dr[i - 3], keep = *x, eps = 1.0f / 64.0f; // exact in float
            DPOStats s1, s2;
            *x = keep + eps;
            dpo_objective(p_c, p_r, rc, rr, 3, var[v].beta, var[v].type, var[v].ls, NULL, NULL, NULL, &s1);
            *x = keep - eps;
            dpo_objective(p_c, p_r, rc, rr, 3, var[v].beta, var[v].type, var[v].ls, NULL, NULL, NULL, &s2);
            *x = keep;
            double fd = ((double)s1.loss - (double)s2.loss) / (2.0 * (double)eps);
            worst = fmax(worst, fabs(fd - (double)g) / fmax(1.0, fabs((double)g)));
        }
    }
    check(worst < 1e-4, "dpo: gradients match central finite differences, 3 variants (max rel diff %.2e)", worst);
}

// Reads n int32/float32 values from the fixture, or returns 0 if the file is short.
static int dpo_read(FILE* f, void* dst, size_t n) { return fread(dst, 4, n, f) == n; }

// Loss, per-pair log-probs and every parameter gradient vs dev/reference_dpo.py.
static void test_dpo_fixture(void) {
    const char* path = "data/fixtures/dpo_reference.bin";
    FILE* f = fopen(path, "rb");
    if (!f) {
        skip("dpo: fixture vs PyTorch because %s is missing (make fixtures)", path);
        return;
    }
    int32_t h[16];
    if (!dpo_read(f, h, 16) || h[0] != 0x31504F44 || h[1] != 1) {
        check(0, "dpo: %s has a bad header (rerun make fixtures)", path);
        fclose(f);
        return;
    }
    GPTConfig cfg = {.vocab_size = h[2], .max_seq_len = h[3], .num_layers = h[4], .num_heads = h[5], .channels = h[6]};
    int n = h[7], nv = h[9];
    size_t T = (size_t)h[8], P = (size_t)h[10], rows = 2 * (size_t)n;
    GPT policy, ref;
    gpt_build(&policy, cfg, 1);
    gpt_build(&ref, cfg, 2);
    float* var = (float*)malloc_check((size_t)nv * 3 * sizeof(float));
    int* inputs = (int*)malloc_check(rows * T * sizeof(int));
    int* targets = (int*)malloc_check(rows * T * sizeof(int));
    float* want_pol = (float*)malloc_check(rows * sizeof(float));
    float* want_ref = (float*)malloc_check(rows * sizeof(float));
    float* got_pol = (float*)malloc_check(rows * sizeof(float));
    float* got_ref = (float*)malloc_check(rows * sizeof(float));
    float* dlosses = (float*)malloc_check(rows * T * sizeof(float));
    float* want = (float*)malloc_check((1 + 3 * (size_t)n + 4 + P) * sizeof(float));
    float* dlogp = (float*)malloc_check(rows * sizeof(float));
    float* losses = (float*)malloc_check((size_t)n * sizeof(float));
    int ok = policy.num_parameters == P && dpo_read(f, var, (size_t)nv * 3) &&
             dpo_read(f, policy.params_memory, P) && dpo_read(f, ref.params_memory, P) &&
             dpo_read(f, inputs, rows * T) && dpo_read(f, targets, rows * T) && dpo_read(f, want_pol, rows) &&
             dpo_read(f, want_ref, rows);
    if (!ok) check(0, "dpo: %s is short or its parameter count differs from gpt_build's", path);
    if (ok) {
        gpt_forward(&ref, inputs, targets, rows, T);
        gpt_sequence_logprobs(&ref, got_ref);
        gpt_forward(&policy, inputs, targets, rows, T);
        gpt_sequence_logprobs(&policy, got_pol);
        double d = fmax(dpo_max_diff(got_pol, want_pol, rows), dpo_max_diff(got_ref, want_ref, rows));
        check(d < 1e-5, "dpo: summed response log-probs of policy and reference vs PyTorch (max diff %.2e)", d);
    }
    for (int v = 0; ok && v < nv; v++) {
        if (!dpo_read(f, want, 1 + 3 * (size_t)n + 4 + P)) {
            check(0, "dpo: %s is short (variant %d)", path, v);
            break;
        }
        DPOLossType type = var[3 * v] == 1.0f ? DPO_IPO : DPO_SIGMOID;
        float beta = var[3 * v + 1], ls = var[3 * v + 2];
        DPOStats st;
        // the objective from PyTorch's log-probs, so this check isolates the objective itself
        dpo_objective(want_pol, want_pol + n, want_ref, want_ref + n, n, beta, type, ls, dlogp, dlogp + n, losses,
                      &st);
        float stats[4] = {st.rewards_chosen, st.rewards_rejected, st.margin, st.accuracy};
        double dl = fmax(dpo_max_diff(&st.loss, want, 1), dpo_max_diff(losses, want + 1, (size_t)n));
        double dg = dpo_max_diff(dlogp, want + 1 + n, 2 * (size_t)n);
        double ds = dpo_max_diff(stats, want + 1 + 3 * n, 4);
        // the whole chain: our log-probs, objective, dlosses seed, gpt_backward
        dpo_objective(got_pol, got_pol + n, got_ref, got_ref + n, n, beta, type, ls, dlogp, dlogp + n, NULL, &st);
        dpo_dlosses(dlosses, targets, dlogp, rows, T);
        gpt_zero_grad(&policy);
        gpt_backward(&policy, dlosses);
        double dp = dpo_max_diff(policy.grads_memory, want + 1 + 3 * n + 4, P);
        double dlc = dpo_max_diff(&st.loss, want, 1);
        const char* name = type == DPO_IPO ? "ipo" : "sigmoid";
        check(dl < 1e-5 && dg < 1e-5 && ds < 1e-5,
              "dpo: %s beta %.1f ls %.1f: loss %.6f, per-pair losses, dL/dlogp, rewards/margin/accuracy vs PyTorch "
              "(max diffs %.2e %.2e %.2e)",
              name, (double)beta, (double)ls, (double)want[0], dl, dg, ds);
        check(dlc < 1e-5 && dp < 1e-5,
              "dpo: %s beta %.1f ls %.1f: loss and all %zu parameter gradients through gpt_backward vs PyTorch "
              "(max diffs %.2e %.2e, relative above 1)",
              name, (double)beta, (double)ls, P, dlc, dp);
    }
    fclose(f);
    free(var);
    free(inputs);
    free(targets);
    free(want_pol);
    free(want_ref);
    free(got_pol);
    free(got_ref);
    free(dlosses);
    free(want);
    free(dlogp);
    free(losses);
    gpt_free(&policy);
    gpt_free(&ref);
}

// Writes text to path; returns 0 or -1.
static int dpo_write_file(const char* path, const char* text) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

// 1 if tokens[0..n) decode (byte-level tokenizer) to exactly `text`.
static int dpo_tokens_are(const Tokenizer* tok, const int* ids, int n, const char* text) {
    size_t len = 0;
    char* s = tok_decode(tok, ids, (size_t)n, &len);
    int same = len == strlen(text) && memcmp(s, text, len) == 0;
    free(s);
    return same;
}

// The JSONL reader: both layouts, escapes and Unicode, the prompt split, bad lines, counts, .gz.
static void test_dpo_reader(void) {
    char err[1024];
    const char* sample = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:?!\n";
    Tokenizer* tok = tok_train(sample, strlen(sample), 257, err, sizeof err); // bytes + <|endoftext|>: no merges
    if (!tok) {
        check(0, "dpo: byte-level tokenizer for the reader tests: %s", err);
        return;
    }
    int eot = tok_eot(tok);
    char dir[] = "/tmp/forgetful_dpo_XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "dpo: mkdtemp failed");
        tok_free(tok);
        return;
    }
    char path[256], gz[300], cmd[700];
    snprintf(path, sizeof path, "%s/prefs.jsonl", dir);
    snprintf(gz, sizeof gz, "%s/prefs.jsonl.gz", dir);
    // line 1: prompt layout with escapes, \u00e9 and a surrogate pair (U+1F600)
    // line 2: HH layout, both responses start alike ("Sure, "): the split is at the last Assistant:
    // line 3: a broken line; 4: missing field; 5: identical; 6: empty; 7: a number for a string;
    // line 8: blank; 9: no marker: longest common token prefix
    const char* text =
        "{\"prompt\": \"Q: caf\\u00e9 \\\"ok\\\"?\", \"chosen\": \" yes \\ud83d\\ude00\", \"rejected\": \" no\\n\\\\\"}\n"
        "{\"chosen\": \"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: bye\\n\\nAssistant: Sure, see you\","
        " \"rejected\": \"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: bye\\n\\nAssistant: Sure, go away\"}\n"
        "{\"prompt\": \"p\", \"chosen\": \"c\", \n"
        "{\"prompt\": \"p\", \"chosen\": \"c\"}\n"
        "{\"prompt\": \"p\", \"chosen\": \"same\", \"rejected\": \"same\"}\n"
        "{\"prompt\": \"p\", \"chosen\": \"\", \"rejected\": \"x\"}\n"
        "{\"prompt\": \"p\", \"chosen\": 1, \"rejected\": \"x\"}\n"
        "   \n"
        "{\"chosen\": \"abc def\", \"rejected\": \"abc xyz\", \"extra\": [1, {\"a\": null}]}\n";
    if (dpo_write_file(path, text)) {
        check(0, "dpo: cannot write %s", path);
        tok_free(tok);
        return;
    }
    PrefSet set;
    pref_init(&set, 128);
    int rc = pref_read_jsonl(&set, path, tok, 0, err, sizeof err);
    char want_loc[300];
    snprintf(want_loc, sizeof want_loc, "%s:3: malformed JSON", path);
    check(rc == -1 && strstr(err, want_loc) != NULL, "dpo: without --skip-bad a broken line stops the read: %s", err);
    pref_free(&set);

    pref_init(&set, 128);
    rc = pref_read_jsonl(&set, path, tok, 1, err, sizeof err);
    check(rc == 0 && set.n == 3 && set.lines == 8 && set.bad == 2 && set.missing == 1 && set.identical == 1 &&
              set.empty == 1 && strstr(set.first_problem, ":3: malformed JSON") != NULL,
          "dpo: --skip-bad: 8 records -> 3 pairs, 2 malformed, 1 missing, 1 identical, 1 empty (got %d %ld %ld %ld "
          "%ld %ld; first: %s)",
          set.n, set.lines, set.bad, set.missing, set.identical, set.empty, set.first_problem);
    if (rc == 0 && set.n == 3) {
        PrefPair* p = &set.pairs[0];
        int pl = p->prompt_len;
        int ok = p->chosen[0] == eot && dpo_tokens_are(tok, p->chosen + 1, pl - 1, "Q: caf\xc3\xa9 \"ok\"?") &&
                 dpo_tokens_are(tok, p->chosen + pl, p->n_chosen - pl - 1, " yes \xf0\x9f\x98\x80") &&
                 dpo_tokens_are(tok, p->rejected + pl, p->n_rejected - pl - 1, " no\n\\") &&
                 p->chosen[p->n_chosen - 1] == eot && p->rejected[p->n_rejected - 1] == eot;
        check(ok, "dpo: prompt layout: escapes, \\u00e9 and a surrogate pair decode to UTF-8; <|endoftext|> first "
                  "and after each response");
        p = &set.pairs[1];
        pl = p->prompt_len;
        ok = dpo_tokens_are(tok, p->chosen + 1, pl - 1, "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant:") &&
             dpo_tokens_are(tok, p->chosen + pl, p->n_chosen - pl - 1, " Sure, see you") &&
             dpo_tokens_are(tok, p->rejected + pl, p->n_rejected - pl - 1, " Sure, go away");
        check(ok, "dpo: HH-RLHF layout: prompt ends at the last \"\\n\\nAssistant:\" of the common prefix");
        p = &set.pairs[2];
        pl = p->prompt_len;
        ok = dpo_tokens_are(tok, p->chosen + 1, pl - 1, "abc ") &&
             dpo_tokens_are(tok, p->chosen + pl, p->n_chosen - pl - 1, "def") &&
             dpo_tokens_are(tok, p->rejected + pl, p->n_rejected - pl - 1, "xyz");
        check(ok, "dpo: transcripts without an Assistant marker split at the longest common token prefix");
        // batch masking: the targets of each row are exactly the response and its <|endoftext|>
        int idx[3] = {0, 1, 2}, inputs[6 * 128], targets[6 * 128];
        size_t Tb = pref_batch(&set, idx, 3, eot, inputs, targets);
        int good = Tb <= 128;
        for (int r = 0; r < 6 && good; r++) {
            const PrefPair* q = &set.pairs[r % 3];
            const int* seq = r < 3 ? q->chosen : q->rejected;
            int n = r < 3 ? q->n_chosen : q->n_rejected, nt = 0;
            for (size_t t = 0; t < Tb; t++) {
                if (targets[r * (int)Tb + (int)t] != -1) {
                    nt++;
                    good &= (int)t + 1 >= q->prompt_len && targets[r * (int)Tb + (int)t] == seq[t + 1];
                }
                if ((int)t < n) good &= inputs[r * (int)Tb + (int)t] == seq[t];
            }
            good &= nt == n - q->prompt_len;
        }
        check(good, "dpo: pref_batch: (2B, %zu) rows, targets only on response tokens, -1 on prompt and padding", Tb);
    }
    pref_free(&set);

    // .gz through gzip -dc gives the same pairs; stdin is "-"
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", path, gz);
    if (system(cmd) != 0) {
        skip("dpo: .gz input because gzip is not available");
    } else {
        pref_init(&set, 128);
        rc = pref_read_jsonl(&set, gz, tok, 1, err, sizeof err);
        check(rc == 0 && set.n == 3 && set.bad == 2, "dpo: .gz input read through gzip -dc: %d pairs", set.n);
        pref_free(&set);
        snprintf(cmd, sizeof cmd, "%s/broken.jsonl.gz", dir);
        dpo_write_file(cmd, "not gzip at all\n");
        pref_init(&set, 128);
        rc = pref_read_jsonl(&set, cmd, tok, 1, err, sizeof err);
        check(rc == -1 && strstr(err, "gzip -dc failed") != NULL, "dpo: a corrupt .gz is an error: %s", err);
        pref_free(&set);
    }
    // no usable pairs; a missing file
    snprintf(cmd, sizeof cmd, "%s/none.jsonl", dir);
    dpo_write_file(cmd, "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"a\"}\n{\"x\": 1}\n");
    pref_init(&set, 128);
    rc = pref_read_jsonl(&set, cmd, tok, 1, err, sizeof err);
    check(rc == -1 && strstr(err, "no usable preference pairs") != NULL, "dpo: no usable pairs is an error: %s", err);
    pref_free(&set);
    snprintf(cmd, sizeof cmd, "%s/absent.jsonl", dir);
    pref_init(&set, 128);
    rc = pref_read_jsonl(&set, cmd, tok, 1, err, sizeof err);
    check(rc == -1 && strstr(err, "absent.jsonl") != NULL, "dpo: a missing file is an error: %s", err);
    pref_free(&set);

    // truncation to T = 8: prompt tokens go from the left; an over-long response loses its end
    pref_init(&set, 8);
    int prompt[6] = {1, 2, 3, 4, 5, 6}, c1[3] = {10, 11, 12}, r1[2] = {20, 21}, c2[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    pref_add_tokens(&set, prompt, 6, c1, 3, r1, 2, eot);  // 6 + 4 > 9: keep the last 5 prompt tokens
    pref_add_tokens(&set, prompt, 6, c2, 9, r1, 2, eot);  // response 10 > 8: prompt 1, response cut to 8
    pref_add_tokens(&set, prompt, 2, c1, 3, r1, 2, eot);  // fits
    PrefPair* p0 = &set.pairs[0];
    PrefPair* p1 = &set.pairs[1];
    int ok = set.n == 3 && set.truncated == 2 && set.response_truncated == 1 && p0->prompt_len == 5 &&
             p0->chosen[0] == 2 && p0->n_chosen == 9 && p0->chosen[8] == eot && p0->n_rejected == 8 &&
             p1->prompt_len == 1 && p1->chosen[0] == 6 && p1->n_chosen == 9 && p1->chosen[8] == 8 &&
             p1->rejected[p1->n_rejected - 1] == eot && set.pairs[2].prompt_len == 2;
    check(ok, "dpo: truncation to T=8: %ld truncated pairs (prompt cut from the left), %ld with the response cut",
          set.truncated, set.response_truncated);
    // the split holds out 10% deterministically
    for (int i = 0; i < 17; i++) pref_add_tokens(&set, prompt, 1, c1, 1 + (size_t)(i % 3), r1, 2, eot);
    pref_split(&set, 0.1f, 7);
    int first = set.pairs[0].n_chosen;
    PrefSet again;
    pref_init(&again, 8);
    for (int i = 0; i < 3; i++) pref_add_tokens(&again, prompt, i == 2 ? 2 : 6, i == 1 ? c2 : c1, i == 1 ? 9 : 3, r1, 2, eot);
    for (int i = 0; i < 17; i++) pref_add_tokens(&again, prompt, 1, c1, 1 + (size_t)(i % 3), r1, 2, eot);
    pref_split(&again, 0.1f, 7);
    check(set.n_val == 2 && again.n_val == 2 && again.pairs[0].n_chosen == first,
          "dpo: held-out split of 20 pairs at 10%%: %d pairs, the same for the same seed", set.n_val);
    pref_free(&again);
    pref_free(&set);

    // the real HH-RLHF test split, when present
    const char* hh = "../shared/data/hh-rlhf-harmless-base-test.jsonl.gz";
    FILE* hf = fopen(hh, "rb");
    if (!hf) {
        skip("dpo: HH-RLHF read because %s is absent", hh);
    } else {
        fclose(hf);
        pref_init(&set, 256);
        double t0 = time_seconds();
        rc = pref_read_jsonl(&set, hh, tok, 0, err, sizeof err);
        check(rc == 0 && set.n > 0 && set.bad == 0,
              "dpo: HH-RLHF harmless-base test read whole (T=256, byte-level): %ld records -> %d pairs, %ld "
              "truncated (%ld with the response cut), %ld identical, %ld empty, %.1f s%s%s",
              set.lines, set.n, set.truncated, set.response_truncated, set.identical, set.empty,
              time_seconds() - t0, rc ? ": " : "", rc ? err : "");
        pref_free(&set);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    tok_free(tok);
}

// Fills pair i of the toy preference: prompt of 3 tokens in [0, 5); chosen is token 5 when the
// first prompt token is even, else 6; rejected is the other one.
static void dpo_toy_pair(int i, int* prompt, int* chosen, int* rejected) {
    prompt[0] = i % 5;
    prompt[1] = (i / 5) % 5;
    prompt[2] = (i / 25) % 5;
    *chosen = prompt[0] % 2 == 0 ? 5 : 6;
    *rejected = 11 - *chosen;
}

// Held-out accuracy of policy vs reference on pairs[0..n_val).
static float dpo_toy_val_accuracy(GPT* policy, GPT* ref, const PrefSet* set, int eot, int* inputs, int* targets) {
    int n = set->n_val;
    int* idx = (int*)malloc_check((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    size_t Tb = pref_batch(set, idx, n, eot, inputs, targets);
    float* lp = (float*)malloc_check(4 * (size_t)n * sizeof(float));
    gpt_forward(policy, inputs, targets, 2 * (size_t)n, Tb);
    gpt_sequence_logprobs(policy, lp);
    gpt_forward(ref, inputs, targets, 2 * (size_t)n, Tb);
    gpt_sequence_logprobs(ref, lp + 2 * n);
    DPOStats st;
    dpo_objective(lp, lp + n, lp + 2 * n, lp + 3 * n, n, 0.1f, DPO_SIGMOID, 0.0f, NULL, NULL, NULL, &st);
    free(idx);
    free(lp);
    return st.accuracy;
}

// A short DPO run on the toy preference raises held-out accuracy above 0.9.
static void test_dpo_toy_run(void) {
    GPTConfig cfg = {.max_seq_len = 8, .vocab_size = 8, .num_layers = 1, .num_heads = 2, .channels = 16};
    int eot = 7, B = 16, steps = 120;
    PrefSet set;
    pref_init(&set, 8);
    for (int i = 0; i < 125; i++) {
        int prompt[3], c, r;
        dpo_toy_pair(i, prompt, &c, &r);
        pref_add_tokens(&set, prompt, 3, &c, 1, &r, 1, eot);
    }
    pref_split(&set, 0.2f, 42);
    GPT policy, ref;
    gpt_build(&policy, cfg, 11);
    gpt_build(&ref, cfg, 11); // same weights: the frozen reference
    size_t cap = 2 * (size_t)set.n * 8;
    int* inputs = (int*)malloc_check(cap * sizeof(int));
    int* targets = (int*)malloc_check(cap * sizeof(int));
    float* dlosses = (float*)malloc_check(cap * sizeof(float));
    float lp[64], lr[64], dl[32];
    int idx[16];
    float acc0 = dpo_toy_val_accuracy(&policy, &ref, &set, eot, inputs, targets);
    uint64_t rng = 99;
    int n_train = set.n - set.n_val;
    double t0 = time_seconds();
    for (int step = 0; step < steps; step++) {
        for (int i = 0; i < B; i++) idx[i] = set.n_val + (int)(random_u32(&rng) % (uint32_t)n_train);
        size_t Tb = pref_batch(&set, idx, B, eot, inputs, targets);
        gpt_forward(&ref, inputs, targets, 2 * (size_t)B, Tb);
        gpt_sequence_logprobs(&ref, lr);
        gpt_forward(&policy, inputs, targets, 2 * (size_t)B, Tb);
        gpt_sequence_logprobs(&policy, lp);
        dpo_objective(lp, lp + B, lr, lr + B, B, 0.1f, DPO_SIGMOID, 0.0f, dl, dl + B, NULL, NULL);
        dpo_dlosses(dlosses, targets, dl, 2 * (size_t)B, Tb);
        gpt_zero_grad(&policy);
        gpt_backward(&policy, dlosses);
        gpt_clip_grad_norm(&policy, 1.0f);
        gpt_update(&policy, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, step + 1);
    }
    float acc = dpo_toy_val_accuracy(&policy, &ref, &set, eot, inputs, targets);
    check(acc > 0.9f,
          "dpo: toy preference (chosen token depends on the first prompt token), %d steps: held-out accuracy %.3f "
          "-> %.3f on %d pairs (%.2f s)",
          steps, (double)acc0, (double)acc, set.n_val, time_seconds() - t0);
    free(inputs);
    free(targets);
    free(dlosses);
    gpt_free(&policy);
    gpt_free(&ref);
    pref_free(&set);
}

static void test_dpo(void) {
    test_dpo_objective_closed_form();
    test_dpo_fixture();
    test_dpo_reader();
    test_dpo_toy_run();
}

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
