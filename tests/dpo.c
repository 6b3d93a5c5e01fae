// tests/dpo.c: Direct Preference Optimization. The objective (dpo_objective) against closed forms
// and finite differences; the loss, log-probs and every parameter gradient through gpt_backward
// against dev/reference_dpo.py; the JSONL reader of data/prefs.c (layouts, escapes, the prompt
// split, bad lines, .gz, truncation, the held-out split); a toy run that learns a preference; and
// the DPO stage of ./train (its run folder, one clear line per bad input).
#include "test.h"

// Max |a - b| / max(1, |b|) over n floats: absolute for small values, relative for large ones.
static double dpo_max_diff(const float* a, const float* b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        if (isnan(d)) return d; // a NaN fails every tolerance, whatever follows it
        if (d > m) m = d;
    }
    return m;
}

// Max |a - b| / max(1, max |b|) over n floats: the error relative to the scale of the whole
// vector, for gradients where float32 cancellation errors scale with the largest entry.
static double dpo_scaled_diff(const float* a, const float* b, size_t n) {
    double scale = fmax(1.0, max_abs(b, n));
    return max_abs_diff(a, b, n) / scale;
}

// ----------------------------------------------------------------------------
// The objective

// Closed forms of the objective: h = 0, label smoothing, the IPO target, saturation.
static void dpo_check_closed_forms(void) {
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
}

// Central finite differences of the mean loss in each logp, every variant.
static void dpo_check_finite_differences(void) {
    static const struct {
        DPOLossType type;
        float beta, ls;
    } var[3] = {{DPO_SIGMOID, 0.1f, 0.0f}, {DPO_SIGMOID, 0.5f, 0.2f}, {DPO_IPO, 0.1f, 0.0f}};
    float rc[3] = {-3.0f, -10.0f, -1.0f}, rr[3] = {-5.0f, -2.0f, -7.0f};
    float p_c[3] = {-4.0f, -9.5f, -2.25f}, p_r[3] = {-6.0f, -1.5f, -3.0f};
    float dc[3], dr[3];
    DPOStats st;
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

// ----------------------------------------------------------------------------
// The PyTorch fixture (data/fixtures/dpo_reference.bin, layout in dev/reference_dpo.py)

// What the fixture holds, read by dpo_fixture_read: both models, the batch, the log-probs.
typedef struct {
    GPT policy, ref;
    int n, nv;  // pairs, loss variants
    size_t T, P, rows;
    float* var; // (nv, 3): type (1 = ipo), beta, label smoothing
    int *inputs, *targets;
    float *want_pol, *want_ref; // (rows) summed response log-probs
} DpoFixture;

// Reads n int32/float32 values from the fixture, or returns 0 if the file is short.
static int dpo_read(FILE* f, void* dst, size_t n) { return fread(dst, 4, n, f) == n; }

// Reads the header and everything before the variants; 0, or -1 after a failed check.
static int dpo_fixture_read(DpoFixture* x, FILE* f, const char* path) {
    int32_t h[16];
    if (!dpo_read(f, h, 16) || h[0] != 0x31504F44 || h[1] != 1) {
        check(0, "dpo: %s has a bad header (rerun make fixtures)", path);
        return -1;
    }
    GPTConfig cfg = {.vocab_size = h[2], .max_seq_len = h[3], .num_layers = h[4], .num_heads = h[5], .channels = h[6]};
    x->n = h[7], x->nv = h[9];
    x->T = (size_t)h[8], x->P = (size_t)h[10], x->rows = 2 * (size_t)x->n;
    gpt_build(&x->policy, cfg, 1);
    gpt_build(&x->ref, cfg, 2);
    x->var = (float*)malloc_check((size_t)x->nv * 3 * sizeof(float));
    x->inputs = (int*)malloc_check(x->rows * x->T * sizeof(int));
    x->targets = (int*)malloc_check(x->rows * x->T * sizeof(int));
    x->want_pol = (float*)malloc_check(x->rows * sizeof(float));
    x->want_ref = (float*)malloc_check(x->rows * sizeof(float));
    int ok = x->policy.num_parameters == x->P && dpo_read(f, x->var, (size_t)x->nv * 3) &&
             dpo_read(f, x->policy.params_memory, x->P) && dpo_read(f, x->ref.params_memory, x->P) &&
             dpo_read(f, x->inputs, x->rows * x->T) && dpo_read(f, x->targets, x->rows * x->T) &&
             dpo_read(f, x->want_pol, x->rows) && dpo_read(f, x->want_ref, x->rows);
    if (!ok) check(0, "dpo: %s is short or its parameter count differs from gpt_build's", path);
    return ok ? 0 : -1;
}

static void dpo_fixture_free(DpoFixture* x) {
    free(x->var), free(x->inputs), free(x->targets), free(x->want_pol), free(x->want_ref);
    gpt_free(&x->policy);
    gpt_free(&x->ref);
}

// One loss variant v against want (loss, per-pair losses, dL/dlogp, 4 statistics, P gradients):
// the objective alone from PyTorch's log-probs, then the whole chain from ours (got_pol, got_ref).
static void dpo_check_fixture_variant(DpoFixture* x, int v, const float* want, const float* got_pol,
                                      const float* got_ref) {
    int n = x->n;
    DPOLossType type = x->var[3 * v] == 1.0f ? DPO_IPO : DPO_SIGMOID;
    float beta = x->var[3 * v + 1], ls = x->var[3 * v + 2];
    float* dlogp = (float*)malloc_check(x->rows * sizeof(float));
    float* losses = (float*)malloc_check((size_t)n * sizeof(float));
    float* dlosses = (float*)malloc_check(x->rows * x->T * sizeof(float));
    DPOStats st;
    dpo_objective(x->want_pol, x->want_pol + n, x->want_ref, x->want_ref + n, n, beta, type, ls, dlogp, dlogp + n,
                  losses, &st);
    float stats[4] = {st.rewards_chosen, st.rewards_rejected, st.margin, st.accuracy};
    double dl = fmax(dpo_max_diff(&st.loss, want, 1), dpo_max_diff(losses, want + 1, (size_t)n));
    double dg = dpo_max_diff(dlogp, want + 1 + n, 2 * (size_t)n);
    double ds = dpo_max_diff(stats, want + 1 + 3 * n, 4);
    // the whole chain: our log-probs, objective, dlosses seed, gpt_backward
    dpo_objective(got_pol, got_pol + n, got_ref, got_ref + n, n, beta, type, ls, dlogp, dlogp + n, NULL, &st);
    dpo_dlosses(dlosses, x->targets, dlogp, x->rows, x->T);
    gpt_zero_grad(&x->policy);
    gpt_backward(&x->policy, dlosses);
    double dp = dpo_scaled_diff(x->policy.grads_memory, want + 1 + 3 * n + 4, x->P);
    double dlc = dpo_max_diff(&st.loss, want, 1);
    const char* name = type == DPO_IPO ? "ipo" : "sigmoid";
    check(dl < 1e-5 && dg < 1e-5 && ds < 1e-5,
          "dpo: %s beta %.1f ls %.1f: loss %.6f, per-pair losses, dL/dlogp, rewards/margin/accuracy vs PyTorch "
          "(max diffs %.2e %.2e %.2e)",
          name, (double)beta, (double)ls, (double)want[0], dl, dg, ds);
    check(dlc < 1e-5 && dp < 1e-5,
          "dpo: %s beta %.1f ls %.1f: loss and all %zu parameter gradients through gpt_backward vs PyTorch "
          "(max diffs %.2e, %.2e relative to the largest gradient)",
          name, (double)beta, (double)ls, x->P, dlc, dp);
    free(dlogp), free(losses), free(dlosses);
}

// Loss, per-pair log-probs and every parameter gradient vs dev/reference_dpo.py.
static void dpo_check_fixture(void) {
    const char* path = "data/fixtures/dpo_reference.bin";
    FILE* f = fopen(path, "rb");
    if (!f) {
        skip("dpo: fixture vs PyTorch because %s is missing (make fixtures)", path);
        return;
    }
    DpoFixture x = {0};
    if (dpo_fixture_read(&x, f, path) == 0) {
        float* got_pol = (float*)malloc_check(x.rows * sizeof(float));
        float* got_ref = (float*)malloc_check(x.rows * sizeof(float));
        gpt_forward(&x.ref, x.inputs, x.targets, x.rows, x.T);
        gpt_sequence_logprobs(&x.ref, got_ref);
        gpt_forward(&x.policy, x.inputs, x.targets, x.rows, x.T);
        gpt_sequence_logprobs(&x.policy, got_pol);
        double d = fmax(dpo_max_diff(got_pol, x.want_pol, x.rows), dpo_max_diff(got_ref, x.want_ref, x.rows));
        check(d < 1e-5, "dpo: summed response log-probs of policy and reference vs PyTorch (max diff %.2e)", d);
        size_t nwant = 1 + 3 * (size_t)x.n + 4 + x.P;
        float* want = (float*)malloc_check(nwant * sizeof(float));
        for (int v = 0; v < x.nv; v++) {
            if (!dpo_read(f, want, nwant)) {
                check(0, "dpo: %s is short (variant %d)", path, v);
                break;
            }
            dpo_check_fixture_variant(&x, v, want, got_pol, got_ref);
        }
        free(want), free(got_pol), free(got_ref);
    }
    if (x.var) dpo_fixture_free(&x);
    fclose(f);
}

// ----------------------------------------------------------------------------
// The JSONL reader (data/prefs.c), with a byte-level tokenizer (bytes + <|endoftext|>: no merges)

// 1 if tokens[0..n) decode (byte-level tokenizer) to exactly `text`.
static int dpo_tokens_are(const Tokenizer* tok, const int* ids, int n, const char* text) {
    size_t len = 0;
    char* s = tok_decode(tok, ids, (size_t)n, &len);
    int same = len == strlen(text) && memcmp(s, text, len) == 0;
    free(s);
    return same;
}

// 1 if pair p's prompt (after the leading <|endoftext|>), chosen and rejected responses (before
// their closing <|endoftext|>) decode to these texts.
static int dpo_pair_is(const Tokenizer* tok, const PrefPair* p, const char* prompt, const char* chosen,
                       const char* rejected) {
    int pl = p->prompt_len;
    return dpo_tokens_are(tok, p->chosen + 1, pl - 1, prompt) &&
           dpo_tokens_are(tok, p->chosen + pl, p->n_chosen - pl - 1, chosen) &&
           dpo_tokens_are(tok, p->rejected + pl, p->n_rejected - pl - 1, rejected);
}

// line 1: prompt layout with escapes, \u00e9 and a surrogate pair (U+1F600)
// line 2: HH layout, both responses start alike ("Sure, "): the split is at the last Assistant:
// line 3: a broken line; 4: missing field; 5: identical; 6: empty; 7: a number for a string;
// line 8: blank; 9: no marker: longest common token prefix
static const char* const dpo_sample_jsonl =
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

// The three pairs read from dpo_sample_jsonl: each layout's prompt split, and pref_batch's masking
// (the targets of each row are exactly the response and its <|endoftext|>).
static void dpo_check_sample_pairs(const Tokenizer* tok, const PrefSet* set) {
    int eot = tok_eot(tok);
    const PrefPair* p = &set->pairs[0];
    int ok = p->chosen[0] == eot && dpo_pair_is(tok, p, "Q: caf\xc3\xa9 \"ok\"?", " yes \xf0\x9f\x98\x80", " no\n\\") &&
             p->chosen[p->n_chosen - 1] == eot && p->rejected[p->n_rejected - 1] == eot;
    check(ok, "dpo: prompt layout: escapes, \\u00e9 and a surrogate pair decode to UTF-8; <|endoftext|> first "
              "and after each response");
    ok = dpo_pair_is(tok, &set->pairs[1], "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant:",
                     " Sure, see you", " Sure, go away");
    check(ok, "dpo: HH-RLHF layout: prompt ends at the last \"\\n\\nAssistant:\" of the common prefix");
    ok = dpo_pair_is(tok, &set->pairs[2], "abc ", "def", "xyz");
    check(ok, "dpo: transcripts without an Assistant marker split at the longest common token prefix");
    int idx[3] = {0, 1, 2}, inputs[6 * 128], targets[6 * 128];
    size_t Tb = pref_batch(set, idx, 3, eot, inputs, targets);
    int good = Tb <= 128;
    for (int r = 0; r < 6 && good; r++) {
        const PrefPair* q = &set->pairs[r % 3];
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

// dpo_sample_jsonl at path: a broken line stops the read; --skip-bad counts every kind of bad
// record and keeps the three good pairs.
static void dpo_check_read_sample(const Tokenizer* tok, const char* path) {
    char err[1024];
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
    if (rc == 0 && set.n == 3) dpo_check_sample_pairs(tok, &set);
    pref_free(&set);
}

// Reads path with --skip-bad; pref_read_jsonl's return code, err filled, set->n pairs in *n and
// set->bad in *bad.
static int dpo_read_count(const Tokenizer* tok, const char* path, int* n, long* bad, char* err, size_t errlen) {
    PrefSet set;
    pref_init(&set, 128);
    int rc = pref_read_jsonl(&set, path, tok, 1, err, errlen);
    *n = set.n, *bad = set.bad;
    pref_free(&set);
    return rc;
}

// .gz through gzip -dc gives the same pairs, a corrupt .gz is an error; so are no usable pairs
// and a missing file.
static void dpo_check_read_errors(const Tokenizer* tok, const char* dir, const char* path) {
    char err[1024], gz[300], cmd[700];
    int n, rc;
    long bad;
    snprintf(gz, sizeof gz, "%s/prefs.jsonl.gz", dir);
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", path, gz);
    if (system(cmd) != 0) {
        skip("dpo: .gz input because gzip is not available");
    } else {
        rc = dpo_read_count(tok, gz, &n, &bad, err, sizeof err);
        check(rc == 0 && n == 3 && bad == 2, "dpo: .gz input read through gzip -dc: %d pairs", n);
        snprintf(cmd, sizeof cmd, "%s/broken.jsonl.gz", dir);
        write_bytes(cmd, "not gzip at all\n", 16);
        rc = dpo_read_count(tok, cmd, &n, &bad, err, sizeof err);
        check(rc == -1 && strstr(err, "gzip -dc failed") != NULL, "dpo: a corrupt .gz is an error: %s", err);
    }
    snprintf(cmd, sizeof cmd, "%s/none.jsonl", dir);
    const char* none = "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"a\"}\n{\"x\": 1}\n";
    write_bytes(cmd, none, strlen(none));
    rc = dpo_read_count(tok, cmd, &n, &bad, err, sizeof err);
    check(rc == -1 && strstr(err, "no usable preference pairs") != NULL, "dpo: no usable pairs is an error: %s", err);
    snprintf(cmd, sizeof cmd, "%s/absent.jsonl", dir);
    rc = dpo_read_count(tok, cmd, &n, &bad, err, sizeof err);
    check(rc == -1 && strstr(err, "absent.jsonl") != NULL, "dpo: a missing file is an error: %s", err);
}

// Truncation to T = 8: prompt tokens go from the left; an over-long response loses its end. Then
// the split holds out 10% deterministically.
static void dpo_check_truncation_and_split(int eot) {
    PrefSet set;
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
}

// The real HH-RLHF test split, when present, read whole.
static void dpo_check_hh_rlhf(const Tokenizer* tok) {
    const char* hh = "../shared/data/hh-rlhf-harmless-base-test.jsonl.gz";
    if (access(hh, R_OK) != 0) {
        skip("dpo: HH-RLHF read because %s is absent", hh);
        return;
    }
    char err[1024];
    PrefSet set;
    pref_init(&set, 256);
    double t0 = time_seconds();
    int rc = pref_read_jsonl(&set, hh, tok, 0, err, sizeof err);
    check(rc == 0 && set.n > 0 && set.bad == 0,
          "dpo: HH-RLHF harmless-base test read whole (T=256, byte-level): %ld records -> %d pairs, %ld "
          "truncated (%ld with the response cut), %ld identical, %ld empty, %.1f s%s%s",
          set.lines, set.n, set.truncated, set.response_truncated, set.identical, set.empty,
          time_seconds() - t0, rc ? ": " : "", rc ? err : "");
    pref_free(&set);
}

// The JSONL reader: both layouts, escapes and Unicode, the prompt split, bad lines, counts, .gz.
static void dpo_check_reader(void) {
    char err[1024];
    const char* sample = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:?!\n";
    Tokenizer* tok = tok_train(sample, strlen(sample), 257, err, sizeof err);
    if (!tok) {
        check(0, "dpo: byte-level tokenizer for the reader tests: %s", err);
        return;
    }
    char dir[] = "/tmp/forgetful_dpo_XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        check(0, "dpo: mkdtemp failed");
        tok_free(tok);
        return;
    }
    snprintf(path, sizeof path, "%s/prefs.jsonl", dir);
    if (write_bytes(path, dpo_sample_jsonl, strlen(dpo_sample_jsonl))) {
        check(0, "dpo: cannot write %s", path);
    } else {
        dpo_check_read_sample(tok, path);
        dpo_check_read_errors(tok, dir, path);
        dpo_check_truncation_and_split(tok_eot(tok));
        dpo_check_hh_rlhf(tok);
    }
    rm_tree(dir);
    tok_free(tok);
}

// ----------------------------------------------------------------------------
// A toy run

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
static void dpo_check_toy_run(void) {
    GPTConfig cfg = {.max_seq_len = 8, .vocab_size = 8, .num_layers = 1, .num_heads = 2, .channels = 16};
    int eot = 7, B = 16, steps = 40;
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

// ----------------------------------------------------------------------------
// ./train's DPO stage on a tiny saved model (--init, DPO alone), in a folder dir holding the model
// (dir/model), 40 good pairs (dir/prefs.jsonl) and a broken file (dir/bad.jsonl)

// Writes the tiny model folder (random weights, a byte-level tokenizer) and the two JSONL files.
static int dpo_cli_prepare(const char* dir, char* err, size_t errlen) {
    const char* sample = "the cat sat on the mat. ";
    Tokenizer* tok = tok_train(sample, strlen(sample), 257, err, errlen);
    GPTConfig cfg = {.max_seq_len = 32, .vocab_size = 257, .num_layers = 1, .num_heads = 2, .channels = 16};
    GPT m;
    gpt_build(&m, cfg, 3);
    char path[256], model_dir[128];
    snprintf(model_dir, sizeof model_dir, "%s/model", dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", model_dir);
    int ok = tok && gpt_save(&m, model_dir, -1, err, errlen) == 0 && tok_save_json(tok, path, err, errlen) == 0;
    gpt_free(&m);
    tok_free(tok);
    if (!ok) return -1;
    snprintf(path, sizeof path, "%s/prefs.jsonl", dir);
    FILE* f = fopen(path, "w");
    for (int i = 0; f && i < 40; i++)
        fprintf(f, "{\"prompt\": \"q%d:\", \"chosen\": \" yes\", \"rejected\": \" no\"}\n", i);
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    const char* bad = "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\",\n";
    write_bytes(path, bad, strlen(bad));
    return 0;
}

// Runs cmd (stderr to out, stdout dropped); the exit status, out cut to its first line, and the
// number of lines it had in *lines.
static int dpo_cli_error(const char* cmd, char* out, size_t outlen, int* lines) {
    int rc = run_capture(cmd, out, outlen);
    *lines = 0;
    for (char* c = out; *c; c++) *lines += *c == '\n';
    out[strcspn(out, "\n")] = '\0';
    return rc;
}

// --dpo FILE --init DIR leaves dpo.csv and DIR/dpo/; --dpo - reads stdin.
static void dpo_cli_check_runs(const char* bin, const char* dir) {
    static char out[1 << 16];
    char cmd[2048], path[256], err[256];
    snprintf(cmd, sizeof cmd, "%s --dpo %s/prefs.jsonl --init %s/model --dpo-steps 4 --dpo-batch 4 "
             "--dpo-eval-every 2 --threads 1 --out %s/run 2>&1", bin, dir, dir, dir);
    int rc = run_capture(cmd, out, sizeof out);
    size_t len = 0;
    snprintf(path, sizeof path, "%s/run/dpo.csv", dir);
    char* csv = read_file(path, &len, err, sizeof err);
    int rows = 0;
    for (size_t i = 0; csv && i < len; i++) rows += csv[i] == '\n';
    const char* header = "step,loss,rewards_chosen,rewards_rejected,margin,accuracy,val_accuracy,lr\n0,";
    snprintf(path, sizeof path, "%s/run/dpo/model.safetensors", dir);
    int have_model = access(path, R_OK) == 0;
    snprintf(path, sizeof path, "%s/run/dpo/tokenizer.json", dir);
    int have_tok = access(path, R_OK) == 0;
    check(rc == 0 && csv && strncmp(csv, header, strlen(header)) == 0 && rows == 5 && have_model && have_tok,
          "dpo: ./train --dpo FILE --init DIR: exit %d, dpo.csv with the exact header and %d rows, DIR/dpo/ model and "
          "tokenizer%s%.300s",
          rc, rows, rc ? "\n" : "", rc ? out : "");
    free(csv);
    snprintf(cmd, sizeof cmd, "%s --dpo - --init %s/model --dpo-steps 1 --dpo-batch 2 --threads 1 --out %s/run2 "
             "< %s/prefs.jsonl 2>&1", bin, dir, dir, dir);
    rc = run_capture(cmd, out, sizeof out);
    check(rc == 0 && strstr(out, "<stdin>: 40 pairs") != NULL, "dpo: --dpo - reads stdin (exit %d)", rc);
}

// Bad inputs: usage errors exit 2, runtime errors exit 1, each one line on stderr naming the
// problem; --skip-bad goes on past the broken line (1 pair is too few to hold one out: an error).
static void dpo_cli_check_errors(const char* bin, const char* dir) {
    static const struct {
        const char* args;
        int status;
        const char* needle;
    } cases[] = {
        {"--dpo-loss hinge", 2, "--dpo-loss"},
        {"--dpo-loss ipo --label-smoothing 0.1", 2, "--label-smoothing"},
        {"--beta 0", 2, "--beta"},
        {"--dpo-steps x", 2, "--dpo-steps"},
    };
    static char out[1 << 16];
    char cmd[2048];
    int rc, lines;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s --dpo %s/prefs.jsonl --init %s/model --out %s/bad %s 2>&1 >/dev/null", bin, dir,
                 dir, dir, cases[i].args);
        rc = dpo_cli_error(cmd, out, sizeof out, &lines);
        check(rc == cases[i].status && lines == 1 && strstr(out, cases[i].needle) != NULL,
              "dpo: %s: exit %d, one line: %.200s", cases[i].args, rc, out);
    }
    static const struct {
        const char *prefs, *model, *needle;
    } rt[3] = {{"absent.jsonl", "model", "absent.jsonl"}, {"bad.jsonl", "model", "bad.jsonl:2:"},
               {"prefs.jsonl", "nothing", "nothing"}};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s --dpo %s/%s --init %s/%s --threads 1 --out %s/bad 2>&1 >/dev/null", bin, dir,
                 rt[i].prefs, dir, rt[i].model, dir);
        rc = dpo_cli_error(cmd, out, sizeof out, &lines);
        check(rc == 1 && lines == 1 && strstr(out, rt[i].needle) != NULL, "dpo: runtime error, exit %d, one line: %.200s",
              rc, out);
    }
    snprintf(cmd, sizeof cmd, "%s --dpo %s/bad.jsonl --init %s/model --skip-bad --threads 1 --out %s/bad 2>&1 >/dev/null",
             bin, dir, dir, dir);
    rc = dpo_cli_error(cmd, out, sizeof out, &lines);
    check(rc == 1 && strstr(out, "needs at least 2") != NULL, "dpo: --skip-bad skips the broken line: %.200s", out);
}

// The DPO stage of ./train: the run folder it leaves, and one clear line with the right exit
// status for each bad input.
static void dpo_check_cli(void) {
    const char* bin = train_bin();
    if (access(bin, X_OK) != 0) {
        skip("dpo: ./train DPO stage because %s is not built (make train)", bin);
        return;
    }
    char dir[] = "/tmp/forgetful_dpo_cli_XXXXXX", err[1024];
    if (!mkdtemp(dir)) {
        check(0, "dpo: mkdtemp failed");
        return;
    }
    if (dpo_cli_prepare(dir, err, sizeof err)) {
        check(0, "dpo: cannot write the tiny model folder: %s", err);
    } else {
        dpo_cli_check_runs(bin, dir);
        dpo_cli_check_errors(bin, dir);
    }
    rm_tree(dir);
}

// ----------------------------------------------------------------------------

void test_dpo(void) {
    dpo_check_closed_forms();
    dpo_check_finite_differences();
    dpo_check_fixture();
    dpo_check_reader();
    dpo_check_toy_run();
    dpo_check_cli();
}
