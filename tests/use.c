// tests/use.c: using a saved model. --sample (its greedy text against a full forward per token,
// seeds, prompt files, errors), --eval (the sliding windows against explicit per-window forwards,
// the printed figures against each other and the run's baselines, its probes against
// --probe-only), --init's defaults (the model's own context, a fine-tuning lr) and each mode's
// header, run.json against the run's train_state.bin and --help, "<|endoftext|>" in the input,
// and the edges: a mistyped flag's suggestion, the ETA without the first step, the phase ticker,
// memory refusals that name the part that does not fit.
#include "test.h"

// Reads root/out.txt (what the last train_cli printed); malloc'd, "" if absent.
static char* use_out(const char* root) {
    char path[600];
    snprintf(path, sizeof path, "%s/out.txt", root);
    size_t len = 0;
    char* text = slurp(path, &len);
    return text ? text : calloc_check(1, 1);
}

// The text of sample `k` of `n` in out ("---- sample k/n...\n" to "\n----\n"), malloc'd, or NULL.
static char* use_sample_text(const char* out, int k, int n) {
    char head[64];
    snprintf(head, sizeof head, "---- sample %d/%d", k, n);
    const char* a = strstr(out, head);
    a = a ? strchr(a, '\n') : NULL;
    const char* b = a ? strstr(a + 1, "\n----\n") : NULL;
    if (!b) return NULL;
    char* t = malloc_check((size_t)(b - a));
    memcpy(t, a + 1, (size_t)(b - a - 1));
    t[b - a - 1] = '\0';
    return t;
}

// The number after `label` in out, or NAN.
static double use_number_after(const char* out, const char* label) {
    const char* p = strstr(out, label);
    return p ? strtod(p + strlen(label), NULL) : NAN;
}

// Greedy continuation of prompt by n tokens with a full forward over the whole sequence per token
// (no key/value cache), stopping after <|endoftext|>; decoded, malloc'd.
static char* use_greedy_reference(GPT* m, const Tokenizer* tok, const char* prompt, int n) {
    size_t np = 0;
    int* p = tok_encode_special(tok, prompt, strlen(prompt), &np);
    int* seq = malloc_check((np + (size_t)n) * sizeof(int));
    memcpy(seq, p, np * sizeof(int));
    size_t len = np, V = (size_t)m->config.vocab_size;
    for (int i = 0; i < n; i++) {
        gpt_forward(m, seq, NULL, 1, len);
        const float* lg = m->acts.logits + (len - 1) * V;
        int best = 0;
        for (size_t v = 1; v < V; v++)
            if (lg[v] > lg[best]) best = (int)v;
        if (best == tok_eot(tok)) break;
        seq[len++] = best;
    }
    size_t tl = 0;
    char* text = tok_decode(tok, seq, len, &tl);
    free(p);
    free(seq);
    return text;
}

// ----------------------------------------------------------------------------
// The checks, in root (text.txt, and root/a: a 30-step tiny run on it)

// --sample: greedy text equals a full-forward reference, each sample starts with the prompt, a
// seed repeats its samples, --prompt-file reads the same prompt; mistakes are usage errors.
static void use_check_sample(const char* root) {
    char args[2048], err[2048], path[600];
    snprintf(args, sizeof args, "--sample --init %s/a/pretrain --prompt 'the cat' --temperature 0 --sample-len 12 "
             "--threads 2", root);
    int rc = train_cli(root, args, err, sizeof err);
    char* out = use_out(root);
    char* got = use_sample_text(out, 1, 1);
    free(out);
    GPT m;
    snprintf(path, sizeof path, "%s/a/pretrain", root);
    char lerr[1024];
    Tokenizer* tok = tok_load_dir(path, NULL, NULL, lerr, sizeof lerr);
    int loaded = tok && gpt_load(&m, path, lerr, sizeof lerr) == 0;
    char* want = loaded ? use_greedy_reference(&m, tok, "the cat", 12) : NULL;
    check(rc == 0 && got && want && strcmp(got, want) == 0,
          "use sample: --temperature 0 gives the greedy text of a full forward per token: \"%s\" (want \"%s\") %s",
          got ? got : "(none)", want ? want : lerr, err);
    free(got);
    free(want);
    if (loaded) gpt_free(&m);
    tok_free(tok);
    // sampled: three samples, each with the prompt; the same seed gives the same output
    snprintf(args, sizeof args, "--sample --init %s/a/pretrain --prompt 'the cat' --num-samples 3 --sample-len 16 "
             "--seed 5 --threads 2", root);
    int rc1 = train_cli(root, args, err, sizeof err);
    char* o1 = use_out(root);
    int rc2 = train_cli(root, args, err, sizeof err);
    char* o2 = use_out(root);
    int with_prompt = 0;
    for (int k = 1; k <= 3; k++) {
        char* t = use_sample_text(o1, k, 3);
        with_prompt += t && strncmp(t, "the cat", 7) == 0;
        free(t);
    }
    check(rc1 == 0 && rc2 == 0 && with_prompt == 3 && strcmp(o1, o2) == 0,
          "use sample: --num-samples 3 prints 3 samples starting with the prompt (%d), the same again with --seed 5 "
          "(%s)", with_prompt, strcmp(o1, o2) == 0 ? "same" : "differs");
    free(o1);
    free(o2);
    // --prompt-file: the same prompt from a file gives the same greedy text
    snprintf(path, sizeof path, "%s/prompt.txt", root);
    write_bytes(path, "the cat", 7);
    snprintf(args, sizeof args, "--sample --init %s/a/pretrain --prompt 'the cat' --temperature 0 --threads 2", root);
    train_cli(root, args, err, sizeof err);
    char* a = use_out(root);
    snprintf(args, sizeof args, "--sample --init %s/a/pretrain --prompt-file %s --temperature 0 --threads 2", root, path);
    rc = train_cli(root, args, err, sizeof err);
    char* b = use_out(root);
    char *ta = use_sample_text(a, 1, 1), *tb = use_sample_text(b, 1, 1);
    check(rc == 0 && ta && tb && strcmp(ta, tb) == 0, "use sample: --prompt-file gives what --prompt gives");
    free(a), free(b), free(ta), free(tb);
    snprintf(args, sizeof args, "--sample --prompt hi");
    train_expect_error(root, args, 2, "--init", "--sample without --init");
    snprintf(args, sizeof args, "--sample --init %s/a/pretrain --prompt hi --prompt-file %s", root, path);
    train_expect_error(root, args, 2, "--prompt-file", "--sample with --prompt and --prompt-file");
    snprintf(args, sizeof args, "--input %s/text.txt --prompt hi --steps 2", root);
    train_expect_error(root, args, 2, "--sample", "--prompt without --sample");
    snprintf(args, sizeof args, "--sample --init %s/a/pretrain --prompt-file %s/no_such_prompt.txt", root, root);
    train_expect_error(root, args, 1, "no_such_prompt.txt", "--sample with a missing --prompt-file");
}

// eval_windows against explicit windows: every target scored once, by the window the rule names.
static void use_check_eval_windows(const char* root) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/a/pretrain", root);
    GPT m;
    if (gpt_load(&m, path, err, sizeof err) != 0) {
        check(0, "use eval windows: %s", err);
        return;
    }
    int toks[100];
    uint64_t rng = 11;
    for (int i = 0; i < 100; i++) toks[i] = (int)(random_u32(&rng) % (uint32_t)m.config.vocab_size);
    // T 32, stride 16 over 100 tokens: windows at 0, 16, 32, 48, 64, then the last moved back to 67;
    // each scores the targets (first, last] beyond the previous window's
    static const int win[][3] = {{0, 0, 32}, {16, 32, 48}, {32, 48, 64}, {48, 64, 80}, {64, 80, 96}, {67, 96, 99}};
    double ref = 0.0;
    size_t count = 0;
    for (int w = 0; w < 6; w++) {
        int in[32], tg[32];
        for (int t = 0; t < 32; t++) {
            int p = win[w][0] + t + 1;
            in[t] = toks[win[w][0] + t];
            tg[t] = p > win[w][1] && p <= win[w][2] ? toks[p] : -1;
        }
        gpt_forward(&m, in, tg, 1, 32);
        ref += (double)m.mean_loss * (double)m.num_valid;
        count += m.num_valid;
    }
    EvalSum e = eval_windows(&m, toks, 100, 32, 16, 4, 1, NULL);
    check(e.count == 99 && count == 99 && e.windows == 6 && eval_window_count(100, 32, 16) == 6 &&
              fabs(e.nats - ref) <= 1e-5 * fabs(ref),
          "use eval windows: T32 stride 16 over 100 tokens: %zu windows, %zu targets (want 6, 99), summed loss %.6f vs "
          "explicit windows %.6f", e.windows, e.count, e.nats, ref);
    // a text shorter than T: one window over all of it; first = 2 leaves out the first target
    gpt_forward(&m, toks, toks + 1, 1, 19);
    double one = (double)m.mean_loss * 19.0;
    double first_loss = m.acts.losses[0];
    EvalSum s = eval_windows(&m, toks, 20, 32, 16, 4, 1, NULL);
    EvalSum s2 = eval_windows(&m, toks, 20, 32, 16, 4, 2, NULL);
    check(s.count == 19 && s.windows == 1 && fabs(s.nats - one) <= 1e-5 * one && s2.count == 18 &&
              fabs(s2.nats - (one - first_loss)) <= 1e-5 * one,
          "use eval windows: 20 tokens < T: one window, 19 targets, %.6f vs one forward %.6f; from the 3rd token: %zu",
          s.nats, one, s2.count);
    gpt_free(&m);
}

// The first value of the baselines.csv row `name` in dir, or NAN.
static double use_baseline(const char* dir, const char* name) {
    char path[700];
    snprintf(path, sizeof path, "%s/baselines.csv", dir);
    size_t len = 0;
    char* text = slurp(path, &len);
    char key[64];
    snprintf(key, sizeof key, "\n%s,", name);
    const char* p = text ? strstr(text, key) : NULL;
    double v = p ? strtod(p + strlen(key), NULL) : NAN;
    free(text);
    return v;
}

// ./train --eval: exit 0, nothing written without probes; perplexity = exp(CE), bits/byte = CE x
// tokens / ln 2 / bytes, every token but the first scored; the baselines are the run's (same text);
// with probes its probes.csv is --probe-only's.
static void use_check_eval_cli(const char* root) {
    char args[2048], err[2048], path[600];
    snprintf(args, sizeof args, "--eval --init %s/a/pretrain --input %s/text.txt --probe-every 0 --threads 2 --out %s/e0",
             root, root, root);
    int rc = train_cli(root, args, err, sizeof err);
    char* out = use_out(root);
    double ce = use_number_after(out, "text       cross-entropy "), ppl = use_number_after(out, "perplexity ");
    const char* bb = strstr(out, "nats/token, perplexity");
    bb = bb ? strchr(bb + 22, ',') : NULL;
    double bpb = bb ? strtod(bb + 1, NULL) : NAN;
    double ntok = use_number_after(out, "bits/byte over "), nbytes = NAN, total = NAN;
    const char* paren = bb ? strstr(bb, "tokens (") : NULL;
    if (paren) nbytes = strtod(paren + 8, NULL);
    const char* data = strstr(out, "data       ");
    const char* colon = data ? strstr(data, ": ") : NULL;
    if (colon) total = strtod(colon + 2, NULL);
    struct stat st;
    snprintf(path, sizeof path, "%s/text.txt", root);
    double fsize = stat(path, &st) == 0 ? (double)st.st_size : NAN;
    int consistent = fabs(ppl - exp(ce)) <= 0.01 * ppl && fabs(bpb - ce * ntok / log(2.0) / nbytes) <= 1e-3 &&
                     ntok == total - 1 && nbytes < fsize && nbytes >= fsize - 32;
    snprintf(path, sizeof path, "%s/e0", root);
    check(rc == 0 && consistent && access(path, F_OK) != 0,
          "use eval: CE %.4f, perplexity %.2f (= e^CE), %.4f bits/byte over %.0f of %.0f tokens, %.0f of %.0f bytes; "
          "no folder written without probes", ce, ppl, bpb, ntok, total, nbytes, fsize);
    snprintf(path, sizeof path, "%s/a", root);
    double h1 = use_number_after(out, "unigram "), h3 = use_number_after(out, "trigram ");
    double ref1 = use_baseline(path, "unigram"), ref3 = use_baseline(path, "trigram");
    double val = use_number_after(out, "val split  cross-entropy ");
    check(fabs(h1 - ref1) < 5e-5 && fabs(h3 - ref3) < 5e-5 && val > 0.0,
          "use eval: the val split's n-gram baselines are the training run's (unigram %.4f vs %.4f, trigram %.4f vs "
          "%.4f), beside the model's val CE %.4f", h1, ref1, h3, ref3, val);
    free(out);
    // with probes: the same rows as --probe-only
    snprintf(args, sizeof args, "--eval --init %s/a/pretrain --input %s/text.txt --threads 2 --out %s/ev", root, root,
             root);
    int rc1 = train_cli(root, args, err, sizeof err);
    snprintf(args, sizeof args, "--probe-only --init %s/a/pretrain --input %s/text.txt --threads 2 --out %s/po", root,
             root, root);
    int rc2 = train_cli(root, args, err, sizeof err);
    size_t la = 0, lb = 0;
    snprintf(path, sizeof path, "%s/ev/probes.csv", root);
    char* pa = slurp(path, &la);
    snprintf(path, sizeof path, "%s/po/probes.csv", root);
    char* pb = slurp(path, &lb);
    check(rc1 == 0 && rc2 == 0 && pa && pb && la == lb && la > 0 && memcmp(pa, pb, la) == 0,
          "use eval: --eval with probes writes the probes.csv of --probe-only (%zu bytes, %s)", la,
          pa && pb && la == lb && memcmp(pa, pb, la) == 0 ? "identical" : "different");
    free(pa);
    free(pb);
}

// --init takes the model's context (n_positions 80, beyond the tiny preset's 64) and a fine-tuning
// lr; the probe-only and eval headers say what they do and carry no training or DPO lines.
static void use_check_init(const char* root) {
    char args[2048], err[2048];
    snprintf(args, sizeof args, "--input %s/text.txt -L 2 -C 32 -H 2 -T 80 -B 2 --steps 2 --probe-every 0 "
             "--eval-every 0 --threads 2 --sample-len 4 --out %s/t80", root, root);
    int rc = train_cli(root, args, err, sizeof err);
    snprintf(args, sizeof args, "--init %s/t80/pretrain --input %s/text.txt --dry-run", root, root);
    int rc1 = train_cli(root, args, err, sizeof err);
    char* out = use_out(root);
    int t80 = strstr(out, "T80 (n_positions 80)") != NULL, lr = strstr(out, "lr 0.0002 (") != NULL;
    check(rc == 0 && rc1 == 0 && t80 && lr && strstr(out, "fine-tuning"),
          "use init: --init of an n_positions-80 model trains at T80 (%s) with lr 0.0002 = 0.1 x tiny's (%s)",
          t80 ? "yes" : "no", lr ? "yes" : "no");
    free(out);
    static const char* modes[] = {"--probe-only", "--eval"};
    static const char* says[] = {"probing a saved model", "evaluating a saved model"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "%s --init %s/t80/pretrain --input %s/text.txt --dry-run", modes[k], root, root);
        rc = train_cli(root, args, err, sizeof err);
        out = use_out(root);
        int clean = !strstr(out, "pre-training") && !strstr(out, "steps of") && !strstr(out, "DPO");
        check(rc == 0 && strstr(out, says[k]) && strstr(out, "T80") && clean,
              "use init: %s's header says \"%s\", at T80, without training or DPO lines (%s)", modes[k], says[k],
              clean ? "none" : "found");
        free(out);
    }
}

// A whole-number member of obj, or -1.
static long long use_json_int(const JsonValue* obj, const char* key) {
    long long v = -1;
    return obj && json_get_int(obj, key, &v) == 0 ? v : -1;
}

// run.json: plain JSON, a key for every flag of --help, the resolved settings, and the data hash,
// seed and parameter count that train_state.bin holds.
static void use_check_run_json(const char* root) {
    char path[600], err[2048];
    snprintf(path, sizeof path, "%s/a/run.json", root);
    size_t len = 0;
    char* text = slurp(path, &len);
    JsonValue r;
    char jerr[256] = "";
    int parsed = text && json_parse(&r, text, len, jerr, sizeof jerr) == 0 && r.type == JSON_OBJECT;
    free(text);
    // every flag --help lists, as a key ("--min-lr-frac" -> "min_lr_frac"); --model is model.preset
    train_cli(root, "--help", err, sizeof err);
    char* help = use_out(root);
    int flags = 0, missing = 0;
    char first_missing[64] = "";
    for (char* line = help; parsed && line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, "  -", 3) != 0) continue;
        FlagSpec fs = {0};
        char name[64];
        sscanf(line + 2, "%63s", name);
        fs.name = name;
        char key[64];
        flags_json_key(&fs, key, sizeof key);
        flags++;
        int found = strcmp(key, "model") == 0 ? json_get(json_get(&r, "model"), "preset") != NULL
                                               : json_get(&r, key) != NULL;
        if (!found && !missing++) snprintf(first_missing, sizeof first_missing, "%s", key);
    }
    free(help);
    check(parsed && flags > 40 && missing == 0, "use run.json: parses (%s), a key for each of the %d flags of --help "
          "(%d missing%s%s)", parsed ? "yes" : jerr, flags, missing, missing ? ", first " : "", first_missing);
    if (!parsed) return;
    // against train_state.bin's header
    snprintf(path, sizeof path, "%s/a/train_state.bin", root);
    FILE* f = fopen(path, "rb");
    TrainStateHeader h;
    int have = f && fread(&h, sizeof h, 1, f) == 1;
    if (f) fclose(f);
    const JsonValue *data = json_get(&r, "data"), *model = json_get(&r, "model"), *build = json_get(&r, "build");
    const JsonValue* hash = json_get(data, "hash");
    char want[32];
    snprintf(want, sizeof want, "%016llx", have ? (unsigned long long)h.data_hash : 0ULL);
    const JsonValue* lr = json_get(&r, "lr");
    const JsonValue* rev = json_get(build, "revision");
    snprintf(path, sizeof path, "%s/text.txt", root);
    struct stat st;
    long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : -2;
    check(have && hash && hash->type == JSON_STRING && strcmp(hash->str, want) == 0 &&
              use_json_int(&r, "seed") == (long long)h.seed && use_json_int(&r, "steps") == h.steps &&
              use_json_int(&r, "T") == h.T && lr && fabs(lr->number - h.lr) < 1e-9 &&
              use_json_int(model, "parameters") == (long long)h.num_parameters && use_json_int(data, "bytes") == bytes &&
              rev && rev->type == JSON_STRING && rev->len > 0,
          "use run.json: data hash %s, seed, steps %lld, T %lld, lr, parameters as train_state.bin; %lld bytes of data; "
          "build %s", hash && hash->type == JSON_STRING ? hash->str : "?", use_json_int(&r, "steps"),
          use_json_int(&r, "T"), use_json_int(data, "bytes"), rev && rev->type == JSON_STRING ? rev->str : "?");
    json_free(&r);
}

// "<|endoftext|>" in the input is one token by default, text with --eot-as-text: the data line's
// token counts against tok_encode_special and tok_encode of the same text.
static void use_check_eot_input(const char* root) {
    char path[600], args[2048], err[2048], lerr[1024];
    size_t tlen = 0;
    char* base = train_test_text(8000, &tlen);
    char* text = malloc_check(tlen + 64 * 16);
    size_t n = 0;
    for (size_t i = 0; i < tlen; i++) {
        text[n++] = base[i];
        if (i % 500 == 250 && base[i] == ' ') n += (size_t)sprintf(text + n, "<|endoftext|>");
    }
    snprintf(path, sizeof path, "%s/eot.txt", root);
    write_bytes(path, text, n);
    double counts[2];
    for (int plain = 0; plain < 2; plain++) {
        snprintf(args, sizeof args, "--eval --init %s/a/pretrain --input %s --probe-every 0 --dry-run%s", root, path,
                 plain ? " --eot-as-text" : "");
        train_cli(root, args, err, sizeof err);
        char* out = use_out(root);
        const char* data = strstr(out, "data       ");
        const char* colon = data ? strstr(data, ": ") : NULL;
        counts[plain] = colon ? strtod(colon + 2, NULL) : NAN;
        free(out);
    }
    snprintf(path, sizeof path, "%s/a/pretrain", root);
    Tokenizer* tok = tok_load_dir(path, NULL, NULL, lerr, sizeof lerr);
    size_t ns = 0, npl = 0;
    int* a = tok ? tok_encode_special(tok, text, n, &ns) : NULL;
    int* b = tok ? tok_encode(tok, text, n, &npl) : NULL;
    check(tok && counts[0] == (double)ns && counts[1] == (double)npl && ns < npl,
          "use eot input: <|endoftext|> x%zu in the text: %.0f tokens by default (tok_encode_special %zu), %.0f with "
          "--eot-as-text (tok_encode %zu)", (n - tlen) / 13, counts[0], ns, counts[1], npl);
    free(a), free(b), free(text), free(base);
    tok_free(tok);
}

// The edges: a mistyped flag suggests the nearest, the ETA leaves out the first step, the phase
// ticker's line, memory refusals that name the part (and flag) at fault.
static void use_check_edges(const char* root) {
    char args[2048];
    train_expect_error(root, "--setps 10", 2, "did you mean --steps?", "--setps");
    train_expect_error(root, "--smaple --init x", 2, "did you mean --sample?", "--smaple");
    char err[2048];
    int rc = train_cli(root, "--zzzzzzzz", err, sizeof err);
    check(rc == 2 && strstr(err, "unknown flag '--zzzzzzzz'") && !strstr(err, "did you mean"),
          "use edges: --zzzzzzzz is unknown without a suggestion: %s", err);
    // ETA: 100 steps, the first took 10 s (warm-up), the next 10 took 1 s each
    Progress pr;
    progress_init(&pr, 0, 100, 1.0);
    pr.t0 = 0.0, pr.t1 = 10.0;
    double e0 = progress_eta(&pr, 0, 10.0), e10 = progress_eta(&pr, 10, 20.0);
    progress_init(&pr, 50, 100, 1.0); // resumed at step 50
    pr.t1 = 5.0;
    double r = progress_eta(&pr, 54, 9.0);
    check(isnan(e0) && fabs(e10 - 89.0) < 1e-9 && fabs(r - 45.0) < 1e-9,
          "use edges: ETA after step 1 unknown (%g), after 11 steps 89 s (%g; with the 10 s first step it would be "
          "162 s), resumed at 50: %g s (want 45)", e0, e10, r);
    // the ticker: silent for 2 s, then a line on a pipe
    Ticker tk;
    ticker_init(&tk, "reference", "pairs", 100);
    FILE* f = tmpfile();
    tk.out = f, tk.tty = 0;
    ticker_tick(&tk, 10); // at once: nothing
    tk.t0 -= 3.0, tk.last -= 11.0;
    ticker_tick(&tk, 50);
    char line[128] = "";
    if (f) {
        rewind(f);
        if (!fgets(line, sizeof line, f)) line[0] = '\0';
        fclose(f);
    }
    check(strcmp(line, "reference  50/100 pairs, 0:03 left\n") == 0, "use edges: the phase ticker after 3 s: \"%.*s\"",
          (int)strcspn(line, "\n"), line);
    if (access("/proc/meminfo", R_OK) != 0) {
        skip("use edges: memory refusals: no /proc/meminfo to read the available memory from");
        return;
    }
    // pre-training fits, the DPO stage after it (2 x 4096 sequences of T512) does not
    char pairs[600];
    snprintf(pairs, sizeof pairs, "%s/pairs.jsonl", root);
    write_bytes(pairs, "", 0);
    snprintf(args, sizeof args, "--input %s/text.txt -L 1 -C 16 -H 1 -T 512 -B 1 --steps 2 --dpo %s --dpo-batch 4096 "
             "--val-frac 0.3", root, pairs);
    train_expect_error(root, args, 1, "the DPO stage after pre-training", "a DPO stage too large for memory names the DPO stage");
    rc = train_cli(root, args, err, sizeof err);
    check(rc == 1 && strstr(err, "--dpo-batch") && strstr(err, "available") && !strstr(err, "pre-training (parameters"),
          "use edges: ... and the flag that fixes it: %s", err);
    snprintf(args, sizeof args, "--input %s/text.txt -L 64 -C 8192 -H 2 -T 32 -B 65536 --steps 2", root);
    train_expect_error(root, args, 1, "pre-training (", "a pre-training too large for memory names pre-training");
}

// ----------------------------------------------------------------------------

void test_use(void) {
    char root[] = "/tmp/forgetful_use_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "use: mkdtemp failed");
        return;
    }
    if (access(train_bin(), X_OK) != 0) {
        skip("use: %s is not built (make train)", train_bin());
        rm_tree(root);
        return;
    }
    char path[600], args[2048], err[2048];
    size_t tlen = 0;
    char* text = train_test_text(40000, &tlen);
    snprintf(path, sizeof path, "%s/text.txt", root);
    int ok = write_bytes(path, text, tlen) == 0;
    free(text);
    snprintf(args, sizeof args, "--input %s/text.txt -L 2 -C 32 -H 2 -T 32 -B 4 --steps 30 --threads 2 --sample-len 8 "
             "--eval-every 0 --probe-every 10 --out %s/a", root, root);
    ok = ok && train_cli(root, args, err, sizeof err) == 0;
    if (!ok) {
        check(0, "use: the 30-step run to use failed: %s", err);
        rm_tree(root);
        return;
    }
    use_check_sample(root);
    use_check_eval_windows(root);
    use_check_eval_cli(root);
    use_check_init(root);
    use_check_run_json(root);
    use_check_eot_input(root);
    use_check_edges(root);
    rm_tree(root);
}
