// tests/model.c: the whole model of model.c. Against the PyTorch reference state of
// dev/reference_gpt.py (logits, losses, hidden states, every gradient, AdamW steps), finite
// differences of the mean loss, determinism across repeats and thread counts, checkpoints (round
// trips, Hugging Face folders, a dozen corruptions), the learning-rate schedule and sampling, and
// the key/value-cache decoding against full forward passes. The layer kernels one by one are in
// tests/layers.c. In a GPU build all of it runs through the device path.
#include "test.h"

static const char* const param_tensor_names[NUM_PARAMETER_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

// Worst relative gradient difference over all parameter tensors; names the worst tensor.
static double grads_rel_diff(const GPT* m, const float* ref, int* worst) {
    double w = 0.0;
    size_t off = 0;
    *worst = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        double d = tensor_rel_diff(m->grads_memory + off, ref + off, m->param_sizes[i]);
        if (!(d <= w)) {
            w = d;
            *worst = i;
        }
        off += m->param_sizes[i];
    }
    return w;
}

// forward, zero_grad, backward (mean loss) on the fixture's batch.
static void fixture_forward_backward(GPT* m, const GptRef* r) {
    gpt_forward(m, r->inputs, r->targets, (size_t)r->B, (size_t)r->T);
    gpt_zero_grad(m);
    gpt_backward(m, NULL);
}

// ----------------------------------------------------------------------------
// The PyTorch fixture

// Logits, per-position and mean losses, every hidden state, and the sequence log-probs.
static void model_check_forward(const GptRef* r) {
    size_t B = (size_t)r->B, T = (size_t)r->T, C = (size_t)r->cfg.channels, V = (size_t)r->cfg.vocab_size;
    size_t L = (size_t)r->cfg.num_layers, BT = B * T;
    GPT m;
    gptref_model(&m, r);
    gpt_forward(&m, r->inputs, r->targets, B, T);
    double d = max_abs_diff(m.acts.logits, r->logits, BT * V);
    check(d <= 1e-4, "model fixture: logits max abs diff %.3g (tol 1e-4)", d);
    d = max_abs_diff(m.acts.losses, r->losses, BT);
    check(d <= 1e-4, "model fixture: per-position losses max abs diff %.3g (tol 1e-4)", d);
    d = fabs((double)m.mean_loss - (double)r->mean_loss);
    check(d <= 1e-5, "model fixture: mean loss %.6f vs torch %.6f, diff %.3g (tol 1e-5)", m.mean_loss, r->mean_loss,
          d);
    double hd = 0.0;
    for (size_t l = 0; l <= L; l++) {
        double dl = max_abs_diff(gpt_hidden_state(&m, (int)l), r->hidden + l * BT * C, BT * C);
        if (!(dl <= hd)) hd = dl;
    }
    check(hd <= 1e-4, "model fixture: hidden states 0..%zu max abs diff %.3g (tol 1e-4)", L, hd);
    float lp[16];
    double lpd = 0.0;
    gpt_sequence_logprobs(&m, lp);
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t t = 0; t < T; t++) s -= r->losses[b * T + t];
        double db = fabs((double)lp[b] - s);
        if (!(db <= lpd)) lpd = db;
    }
    check(lpd <= 1e-4, "model fixture: sequence logprobs = -sum(torch losses), max abs diff %.3g (tol 1e-4)", lpd);
    gpt_free(&m);
}

// Every parameter tensor's gradient of the mean loss, that gpt_backward accumulates, and the
// gradients of a non-uniform seed d(objective)/d(losses), nonzero at ignored targets too.
static void model_check_backward(const GptRef* r) {
    GPT m;
    gptref_model(&m, r);
    fixture_forward_backward(&m, r);
    size_t off = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t n = m.param_sizes[i];
        double a = max_abs_diff(m.grads_memory + off, r->grads + off, n);
        double rel = tensor_rel_diff(m.grads_memory + off, r->grads + off, n);
        check(rel <= 1e-3, "model fixture: grad %-8s max abs diff %.3g, rel %.3g (tol 1e-3)",
              param_tensor_names[i], a, rel);
        off += n;
    }
    // a second call doubles the gradients exactly
    float* g1 = malloc_check(r->P * sizeof(float));
    memcpy(g1, m.grads_memory, r->P * sizeof(float));
    gpt_backward(&m, NULL);
    for (size_t k = 0; k < r->P; k++) g1[k] *= 2.0f;
    double acc = tensor_rel_diff(m.grads_memory, g1, r->P);
    check(acc <= 1e-5, "model: gpt_backward accumulates (a second call doubles the gradients, rel diff %.3g)", acc);
    free(g1);

    gpt_zero_grad(&m);
    gpt_backward(&m, r->seed);
    int wi;
    double rel2 = grads_rel_diff(&m, r->grads2, &wi);
    check(rel2 <= 1e-3, "model fixture: grads of sum(losses*seed) max rel diff %.3g (worst %s, tol 1e-3)", rel2,
          param_tensor_names[wi]);
    gpt_free(&m);
}

// Determinism: the same forward/backward gives bit-identical gradients, and no reduction depends
// on the partition into threads (1 and 3 threads agree bit for bit).
static void model_check_reproducible(const GptRef* r) {
    GPT m;
    gptref_model(&m, r);
    fixture_forward_backward(&m, r);
    float* g = malloc_check(r->P * sizeof(float));
    memcpy(g, m.grads_memory, r->P * sizeof(float));
    fixture_forward_backward(&m, r);
    check(memcmp(m.grads_memory, g, r->P * sizeof(float)) == 0, "model: forward+backward is bit-reproducible");
#ifdef _OPENMP
    int nthreads = omp_get_max_threads();
    omp_set_num_threads(1);
    fixture_forward_backward(&m, r);
    int same1 = memcmp(m.grads_memory, g, r->P * sizeof(float)) == 0;
    omp_set_num_threads(3);
    fixture_forward_backward(&m, r);
    int same3 = memcmp(m.grads_memory, g, r->P * sizeof(float)) == 0;
    omp_set_num_threads(nthreads);
    check(same1 && same3, "model: gradients are bit-identical with 1, 3 and %d threads", nthreads);
#else
    skip("model: thread-count independence because this build has no OpenMP");
#endif
    free(g);
    gpt_free(&m);
}

// gpt_forward_hidden stops at ln_f with the same hidden states as gpt_forward.
static void model_check_forward_hidden(const GptRef* r) {
    size_t B = (size_t)r->B, T = (size_t)r->T, C = (size_t)r->cfg.channels, BT = B * T;
    int L = r->cfg.num_layers;
    GPT m;
    gptref_model(&m, r);
    gpt_forward(&m, r->inputs, r->targets, B, T);
    float* lnf = malloc_check(BT * C * sizeof(float));
    memcpy(lnf, gpt_hidden_state(&m, L), BT * C * sizeof(float));
    gpt_forward_hidden(&m, r->inputs, B, T);
    check(memcmp(lnf, gpt_hidden_state(&m, L), BT * C * sizeof(float)) == 0 && !m.has_logits,
          "model: gpt_forward_hidden gives the same ln_f hidden state as gpt_forward");
    free(lnf);
    gpt_free(&m);
}

// AdamW with clipping, as train.c runs it: the losses and gradient norms of the fixture's steps.
static void model_check_adamw(const GptRef* r) {
    GPT m;
    gptref_model(&m, r);
    double ld = 0.0, nd = 0.0;
    for (int s = 0; s <= r->nsteps; s++) {
        gpt_forward(&m, r->inputs, r->targets, (size_t)r->B, (size_t)r->T);
        double dl = fabs((double)m.mean_loss - (double)r->step_losses[s]);
        if (!(dl <= ld)) ld = dl;
        if (s == r->nsteps) break;
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        float norm = gpt_clip_grad_norm(&m, r->clip);
        double dn = fabs((double)norm - (double)r->step_norms[s]) / (double)r->step_norms[s];
        if (!(dn <= nd)) nd = dn;
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s + 1);
    }
    check(nd <= 1e-4, "model fixture: grad norms of %d AdamW steps, max rel diff %.3g (tol 1e-4)", r->nsteps, nd);
    check(ld <= 1e-4, "model fixture: losses before/after %d AdamW steps (%.4f -> %.4f), max abs diff %.3g (tol 1e-4)",
          r->nsteps, r->step_losses[0], r->step_losses[r->nsteps], ld);
    gpt_free(&m);
}

// bf16 products (GPT.precision = GEMM_BF16, ./train --precision bf16) against the fp32 PyTorch
// fixture at looser tolerances, as tests/gpu.c's TF32 check: every product's inputs are rounded to
// 8 significant bits (relative error up to 2^-8 = 3.9e-3 each), the sums and everything else
// fp32. Logits, loss, hidden states, every gradient (relative to the tensor's largest) and the
// losses of the fixture's AdamW steps; the logits must also differ from fp32's by more than the
// fp32 tolerance, or the precision did not reach the products.
static void model_check_bf16(const GptRef* r) {
#ifdef USE_CUBLAS
    skip("model fixture bf16 because bf16 products are a CPU path (the GPU build has TF32: tests/gpu.c)");
    return;
#endif
    size_t B = (size_t)r->B, T = (size_t)r->T, C = (size_t)r->cfg.channels, V = (size_t)r->cfg.vocab_size;
    size_t L = (size_t)r->cfg.num_layers, BT = B * T;
    GPT m;
    gptref_model(&m, r);
    m.precision = GEMM_BF16;
    gpt_forward(&m, r->inputs, r->targets, B, T);
    double d = max_abs_diff(m.acts.logits, r->logits, BT * V), dr = tensor_rel_diff(m.acts.logits, r->logits, BT * V);
    check(dr <= 2e-2 && d > 1e-4, "model fixture bf16 (%s): logits max abs diff %.3g, %.3g of the largest (tol 2e-2 "
          "under bf16, about 5 roundings of 2^-8; and > fp32's 1e-4: the products did round)",
          gemm_bf16_path(GEMM_AUTO), d, dr);
    double dl = fabs((double)m.mean_loss - (double)r->mean_loss), hd = 0.0;
    for (size_t l = 0; l <= L; l++) {
        double dh = tensor_rel_diff(gpt_hidden_state(&m, (int)l), r->hidden + l * BT * C, BT * C);
        if (!(dh <= hd)) hd = dh;
    }
    check(dl <= 5e-3 && hd <= 2e-2, "model fixture bf16: mean loss diff %.3g (tol 5e-3), hidden states 0..%zu max "
          "diff %.3g of each one's largest (tol 2e-2)", dl, L, hd);
    gpt_zero_grad(&m);
    gpt_backward(&m, NULL);
    int wi;
    double rel = grads_rel_diff(&m, r->grads, &wi);
    check(rel <= 5e-2, "model fixture bf16: every grad max rel diff %.3g (worst %s, tol 5e-2 under bf16; 1e-3 in fp32)",
          rel, param_tensor_names[wi]);
    gpt_free(&m);
    gptref_model(&m, r);
    m.precision = GEMM_BF16;
    double ld = 0.0;
    for (int s = 0; s <= r->nsteps; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        double ds = fabs((double)m.mean_loss - (double)r->step_losses[s]);
        if (!(ds <= ld)) ld = ds;
        if (s == r->nsteps) break;
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        gpt_clip_grad_norm(&m, r->clip);
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s + 1);
    }
    check(ld <= 1e-2, "model fixture bf16: losses of %d AdamW steps max abs diff %.3g (tol 1e-2 under bf16; 1e-4 in "
          "fp32)", r->nsteps, ld);
    gpt_free(&m);
}

// A shorter batch after a longer one (causal: the prefix logits agree), then regrowing the
// buffers; the memory estimate is what was allocated.
static void model_check_regrow(const GptRef* r) {
    GPTConfig cfg = r->cfg;
    size_t B = (size_t)r->B, T = (size_t)r->T, V = (size_t)cfg.vocab_size, BT = B * T;
    GPT s;
    gptref_model(&s, r);
    gpt_forward(&s, r->inputs, NULL, 1, 4);
    double pd = 0.0;
    for (size_t t = 0; t < 4; t++) {
        double dt = max_abs_diff(s.acts.logits + t * V, r->logits + t * V, V);
        if (!(dt <= pd)) pd = dt;
    }
    gpt_forward(&s, r->inputs, r->targets, B, T);
    double gd = max_abs_diff(s.acts.logits, r->logits, BT * V);
    check(pd <= 1e-4 && gd <= 1e-4 && s.num_valid > 0,
          "model: (1,4) prefix then grown (%zu,%zu) batch match torch logits, max abs diff %.3g / %.3g", B, T, pd, gd);
    size_t est = gpt_memory_estimate(&cfg, B, T, 0);
    size_t have = (s.num_parameters + s.num_activations) * sizeof(float) + 2 * BT * sizeof(int);
    check(est == have, "model: gpt_memory_estimate(B=%zu,T=%zu) = %zu bytes = allocated %zu", B, T, est, have);
    gpt_free(&s);
}

// Mean loss of the last forward summed in double from the per-position losses, which avoids
// rounding the mean to float (4.8e-7 at a loss of 5, i.e. 2.4e-5 in a finite difference).
static double mean_loss_double(const GPT* m) {
    double s = 0.0;
    for (size_t i = 0; i < m->batch_size * m->seq_len; i++) s += m->acts.losses[i];
    return s / (double)m->num_valid;
}

// Central finite differences of the mean loss on random coordinates of every parameter tensor.
static void model_check_finite_differences(const GptRef* r) {
    GPT m;
    gptref_model(&m, r);
    size_t B = (size_t)r->B, T = (size_t)r->T;
    fixture_forward_backward(&m, r);
    float* g = malloc_check(r->P * sizeof(float));
    memcpy(g, m.grads_memory, r->P * sizeof(float));
    uint64_t rng = 12345;
    const float eps = 1e-2f;
    const int per_tensor = 4;
    double worst = 0.0;
    int worst_i = 0, n = 0;
    size_t off = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t sz = m.param_sizes[i];
        for (int k = 0; k < per_tensor; k++) {
            size_t j = off + random_u32(&rng) % sz;
            float* p = m.params_memory + j;
            float orig = *p;
            *p = orig + eps;
            gpt_forward(&m, r->inputs, r->targets, B, T);
            double lp = mean_loss_double(&m);
            *p = orig - eps;
            gpt_forward(&m, r->inputs, r->targets, B, T);
            double lm = mean_loss_double(&m);
            *p = orig;
            double fd = (lp - lm) / (2.0 * (double)eps);
            // fp32 loss noise (~1e-7) / 2eps gives ~1e-5 absolute; curvature gives O(eps^2) relative
            double err = fabs(fd - (double)g[j]) / (fabs((double)g[j]) + 1e-3);
            if (!(err <= worst)) {
                worst = err;
                worst_i = i;
            }
            n++;
        }
        off += sz;
    }
    check(worst <= 2e-2, "model: finite differences on %d coordinates of all %d tensors, worst |fd-g|/(|g|+1e-3) = %.3g (%s)",
          n, NUM_PARAMETER_TENSORS, worst, param_tensor_names[worst_i]);
    free(g);
    gpt_free(&m);
}

// ----------------------------------------------------------------------------
// Checkpoints

// Writes a checkpoint variant DIR/name (config text + safetensors bytes) and checks that
// gpt_load refuses it with one message naming the folder, leaving the model untouched.
static void expect_load_fails(const char* root, const char* name, const char* cfg, size_t cfg_len,
                              const char* st, size_t st_len, const char* what) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    char err[512] = "";
    if (make_dirs(dir, err, sizeof err)) {
        check(0, "model checkpoint: cannot create %s: %s", dir, err);
        return;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    int ok = cfg ? write_bytes(path, cfg, cfg_len) == 0 : 1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ok &= st ? write_bytes(path, st, st_len) == 0 : 1;
    GPT m, before;
    memset(&m, 0x5A, sizeof m);
    memcpy(&before, &m, sizeof m);
    err[0] = 0;
    int rc = gpt_load(&m, dir, err, sizeof err);
    int untouched = memcmp(&m, &before, sizeof m) == 0;
    check(ok && rc == -1 && strstr(err, dir) && !strchr(err, '\n') && untouched,
          "model checkpoint: %s is refused: \"%s\"", what, err);
    if (rc == 0) gpt_free(&m);
}

// Replaces the first occurrence of `from` after `after` (or anywhere) in buf[0..n) with `to`, same length.
static int patch(char* buf, size_t n, const char* after, const char* from, const char* to) {
    char* start = buf;
    if (after) {
        start = memmem(buf, n, after, strlen(after));
        if (!start) return -1;
    }
    char* p = memmem(start, n - (size_t)(start - buf), from, strlen(from));
    if (!p || strlen(from) != strlen(to)) return -1;
    memcpy(p, to, strlen(to));
    return 0;
}

// m (the fixture's parameters) saved to dir loads back bit-exactly; so do a Hugging Face style
// folder and, when someone has put it in the shared data folder, the real GPT-2 124M.
static void checkpoint_check_loads(const GPT* m, const GptRef* r, const char* dir) {
    char err[512] = "";
    GPT l;
    int rc = gpt_save(m, dir, -1, err, sizeof err);
    int rc2 = rc ? -1 : gpt_load(&l, dir, err, sizeof err);
    int same = rc2 == 0 && l.num_parameters == m->num_parameters &&
               memcmp(&l.config, &m->config, sizeof m->config) == 0 &&
               memcmp(l.params_memory, m->params_memory, m->num_parameters * sizeof(float)) == 0;
    check(same, "model checkpoint: save -> load round trip is bit-exact (%zu parameters) %s", m->num_parameters, err);
    if (rc2 == 0) gpt_free(&l);

    // as transformers writes it: prefix, buffers, tied lm_head, scrambled data order
    err[0] = 0;
    rc = gpt_load(&l, "data/fixtures/hf_style", err, sizeof err);
    same = rc == 0 && memcmp(&l.config, &m->config, sizeof m->config) == 0 &&
           memcmp(l.params_memory, r->params, r->P * sizeof(float)) == 0;
    check(same, "model checkpoint: Hugging Face style folder (transformer. prefix, attn.bias, lm_head) loads "
                "bit-exact %s", err);
    if (rc == 0) gpt_free(&l);

    const char* real = "../shared/data/gpt2";
    char rp[256];
    snprintf(rp, sizeof rp, "%s/model.safetensors", real);
    if (access(rp, R_OK) == 0) {
        err[0] = 0;
        rc = gpt_load(&l, real, err, sizeof err);
        check(rc == 0 && l.num_parameters == 124439808 && l.config.vocab_size == 50257,
              "model checkpoint: real GPT-2 124M loads (%zu parameters) %s", rc == 0 ? l.num_parameters : 0, err);
        if (rc == 0) gpt_free(&l);
    } else {
        skip("model checkpoint: real GPT-2 124M load because %s is absent", rp);
    }
}

// The safetensors header's corruptions: each variant v of st (header at h, hlen bytes) refused.
// Returns 1 if every patch found what it was to change.
static int checkpoint_check_bad_headers(const GptRef* r, const char* root, const char* cfg, size_t cl,
                                        const char* st, size_t sl) {
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)(unsigned char)st[k] << (8 * k);
    char* v = malloc_check(sl);
    char* h = v + 8;
    memcpy(v, st, sl);
    v[5] = 0x40; // header length ~ 2^46
    expect_load_fails(root, "hlen", cfg, cl, v, sl, "an absurd header length");
    memcpy(v, st, sl);
    memset(v, 0, 8);
    expect_load_fails(root, "hlen0", cfg, cl, v, sl, "a zero header length");
    memcpy(v, st, sl);
    h[0] = '[';
    expect_load_fails(root, "json", cfg, cl, v, sl, "a header that is not JSON");
    memcpy(v, st, sl);
    int ok = patch(h, (size_t)hlen, "\"wte.weight\"", "]", "]") == 0;
    char* q = memmem(h, (size_t)hlen, "\"wte.weight\"", 12);
    q = q ? memmem(q, (size_t)hlen - (size_t)(q - h), "],", 2) : NULL; // end of the shape
    if (q) q[-1] = q[-1] == '9' ? '8' : (char)(q[-1] + 1);
    expect_load_fails(root, "shape", cfg, cl, v, sl, "a wrong shape for wte.weight");
    memcpy(v, st, sl);
    ok &= patch(h, (size_t)hlen, "\"h.1.mlp.c_fc.bias\"", "F32", "F16") == 0;
    expect_load_fails(root, "dtype", cfg, cl, v, sl, "an F16 dtype");
    memcpy(v, st, sl);
    ok &= patch(h, (size_t)hlen, NULL, "\"wpe.weight\"", "\"wpx.weight\"") == 0;
    expect_load_fails(root, "name", cfg, cl, v, sl, "an unknown tensor name");
    memcpy(v, st, sl);
    char* e0 = memmem(h, (size_t)hlen, ",\"ln_f.bias\"", 12);
    char* e1 = e0 ? memchr(e0, '}', (size_t)hlen - (size_t)(e0 - h)) : NULL;
    if (e1) memset(e0, ' ', (size_t)(e1 - e0 + 1));
    expect_load_fails(root, "missing", cfg, cl, v, sl, "a missing ln_f.bias");
    memcpy(v, st, sl);
    uint32_t nan_bits = 0x7FC00000u;
    memcpy(v + sl - 4 * 7, &nan_bits, 4);
    expect_load_fails(root, "nan", cfg, cl, v, sl, "a NaN in ln_f");
    memcpy(v, st, sl);
    // shift wpe's data 4 bytes back into wte's: exact size, but overlapping
    size_t e_wte = (size_t)r->cfg.vocab_size * (size_t)r->cfg.channels * 4;
    size_t e_wpe = e_wte + (size_t)r->cfg.max_seq_len * (size_t)r->cfg.channels * 4;
    char from[64], to[64];
    snprintf(from, sizeof from, "[%zu,%zu]", e_wte, e_wpe);
    snprintf(to, sizeof to, "[%zu,%zu]", e_wte - 4, e_wpe - 4);
    ok &= patch(h, (size_t)hlen, "\"wpe.weight\"", from, to) == 0;
    expect_load_fails(root, "overlap", cfg, cl, v, sl, "overlapping data_offsets");
    free(v);
    return ok && q && e1;
}

// Corrupted variants of the checkpoint in dir, each refused; then saving a NaN parameter is
// refused and leaves that checkpoint intact.
static void checkpoint_check_refusals(GPT* m, const GptRef* r, const char* root, const char* dir) {
    char err[512] = "", cpath[512], spath[512];
    size_t cl, sl;
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(spath, sizeof spath, "%s/model.safetensors", dir);
    char* cfg = read_file(cpath, &cl, err, sizeof err);
    char* st = read_file(spath, &sl, err, sizeof err);
    if (!cfg || !st) {
        check(0, "model checkpoint: cannot read back the saved files: %s", err);
        free(cfg), free(st);
        return;
    }
    expect_load_fails(root, "trunc", cfg, cl, st, sl - 4, "a truncated model.safetensors");
    expect_load_fails(root, "short", cfg, cl, st, 5, "a 5-byte model.safetensors");
    int ok = checkpoint_check_bad_headers(r, root, cfg, cl, st, sl);
    char* c2 = malloc_check(cl + 1);
    memcpy(c2, cfg, cl);
    ok &= patch(c2, cl, NULL, "\"n_head\": 4", "\"n_head\": 5") == 0;
    expect_load_fails(root, "heads", c2, cl, st, sl, "config.json with n_embd not divisible by n_head");
    expect_load_fails(root, "nocfg", NULL, 0, st, sl, "a folder without config.json");
    expect_load_fails(root, "nost", cfg, cl, NULL, 0, "a folder without model.safetensors");
    check(ok, "model checkpoint: corruption patches applied to the header as intended");

    m->params_memory[3] = NAN;
    err[0] = 0;
    int rc = gpt_save(m, dir, -1, err, sizeof err);
    size_t sl2;
    char* st2 = read_file(spath, &sl2, err + strlen(err), sizeof err - strlen(err));
    check(rc == -1 && st2 && sl2 == sl && memcmp(st2, st, sl) == 0,
          "model checkpoint: gpt_save refuses a NaN parameter, previous file intact (\"%s\")", err);
    free(st2), free(c2), free(cfg), free(st);
}

static void model_check_checkpoints(const GptRef* r) {
    char root[] = "/tmp/forgetful_model_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "model checkpoint: mkdtemp failed");
        return;
    }
    char dir[256];
    snprintf(dir, sizeof dir, "%s/ok", root);
    GPT m;
    gptref_model(&m, r);
    checkpoint_check_loads(&m, r, dir);
    checkpoint_check_refusals(&m, r, root, dir);
    gpt_free(&m);
    rm_tree(root);
}

// ----------------------------------------------------------------------------
// The learning-rate schedule and sampling

// lr_schedule against closed forms.
static void model_check_lr_schedule(void) {
    float lr = 1e-3f, minf = 0.1f;
    int total = 101, warm = 10;
    double e = 0.0;
    e = fmax(e, fabs(lr_schedule(0, total, warm, lr, minf) - lr / warm));
    e = fmax(e, fabs(lr_schedule(4, total, warm, lr, minf) - lr * 5 / warm));
    e = fmax(e, fabs(lr_schedule(9, total, warm, lr, minf) - lr));
    e = fmax(e, fabs(lr_schedule(10, total, warm, lr, minf) - lr));
    e = fmax(e, fabs(lr_schedule(55, total, warm, lr, minf) - 0.5 * (lr + minf * lr)));
    e = fmax(e, fabs(lr_schedule(100, total, warm, lr, minf) - minf * lr));
    // a quarter of the way: min + (lr-min) (1 + cos(pi/4)) / 2
    e = fmax(e, fabs(lr_schedule(10 + 90 / 4 * 1, 101, 10, lr, 0.0f) - lr * 0.5 * (1 + cos(M_PI * 22.0 / 90.0))));
    check(e <= 1e-9, "model: lr_schedule warm-up/cosine closed forms, max abs diff %.3g", e);
}

// sample_logits against its contract: argmax at temperature 0 or top-k 1, softmax frequencies,
// top-k never leaving the top k.
static void model_check_sampling(void) {
    float logits[6] = {0.5f, 2.0f, -1.0f, 1.5f, 2.0f, 0.0f};
    uint64_t rng = 99;
    int g = sample_logits(logits, 6, 0.0f, 0, &rng);
    int k1 = sample_logits(logits, 6, 1.0f, 1, &rng);
    check(g == 1 && k1 == 1, "model: sample_logits temperature 0 and top-k 1 pick the first argmax (%d, %d)", g, k1);
    int counts[6] = {0}, outside = 0, N = 20000;
    for (int i = 0; i < N; i++) counts[sample_logits(logits, 6, 1.0f, 0, &rng)]++;
    for (int i = 0; i < 2000; i++) {
        int s = sample_logits(logits, 6, 1.0f, 3, &rng);
        outside += s != 1 && s != 4 && s != 3;
    }
    double z = 0.0, md = 0.0;
    for (int v = 0; v < 6; v++) z += exp(logits[v]);
    for (int v = 0; v < 6; v++) md = fmax(md, fabs(counts[v] / (double)N - exp(logits[v]) / z));
    check(md <= 0.015 && outside == 0,
          "model: sample_logits frequencies vs softmax max diff %.4f (tol 0.015), top-3 never leaves the top 3 (%d)",
          md, outside);
}

// ----------------------------------------------------------------------------
// The key/value cache's incremental decoding against full forward passes (the reference is
// gpt_forward itself, checked against PyTorch above)

// The cached decoding runs on the host; in the GPU build (USE_CUBLAS) gpt_forward and the prefill
// run on the device (cuBLAS, expf), so the two agree to fp32 rounding there, not bit for bit.
#ifdef USE_CUBLAS
#define KV_DECODE_TOL 1e-4
#else
#define KV_DECODE_TOL 1e-5
#endif

// A random model whose weights are large enough (std 0.3) for peaked attention and logits, so that
// a wrong cache position or a mask error shows in the logits.
static void kv_model(GPT* m, GPTConfig cfg, uint64_t seed) {
    gpt_build(m, cfg, seed);
    uint64_t rng = seed + 1;
    for (size_t i = 0; i < m->num_parameters; i++) m->params_memory[i] += 0.3f * random_normal(&rng);
}

// Logits of the cached decoding vs gpt_forward at every position of three rows that enter and
// leave the steps at different times (prefills of different lengths, rows sitting steps out), with
// the model's products in prec (bf16 products take gemm.c's packed path at any row count, so the
// decoding matches the full forward there too).
static void kv_check_decode_logits(GemmPrecision prec) {
    GPTConfig cfg = {.max_seq_len = 48, .vocab_size = 53, .num_layers = 2, .num_heads = 4, .channels = 32};
    GPT m;
    kv_model(&m, cfg, 11);
    m.precision = prec;
    enum { B = 3, T = 40 };
    size_t V = (size_t)cfg.vocab_size;
    int tokens[B * T];
    uint64_t rng = 5;
    for (size_t i = 0; i < B * T; i++) tokens[i] = (int)(random_u32(&rng) % V);
    gpt_forward(&m, tokens, NULL, B, T);
    float* full = malloc_check(B * T * V * sizeof(float));
    memcpy(full, m.acts.logits, B * T * V * sizeof(float));

    GPTKVCache kv;
    gpt_kv_init(&kv, &cfg, B, T);
    int lens[B] = {1, 6, 17};
    const float* lg = gpt_kv_prefill(&m, &kv, tokens, lens, T);
    double maxd = 0.0;
    int compared = 0, bitwise = 1;
    int pos[B];
    for (int b = 0; b < B; b++) {
        pos[b] = lens[b] - 1;
        double d = max_abs_diff(lg + b * V, full + ((size_t)b * T + (size_t)pos[b]) * V, V);
        bitwise &= memcmp(lg + b * V, full + ((size_t)b * T + (size_t)pos[b]) * V, V * sizeof(float)) == 0;
        if (!(d <= maxd)) maxd = d;
        compared++;
    }
    for (int step = 0; step < 3 * T; step++) {
        int tk[B];
        int left = 0;
        for (int b = 0; b < B; b++) {
            // row 1 sits out every third step; a finished row sits out for good
            int go = pos[b] + 1 < T && !(b == 1 && step % 3 == 2);
            tk[b] = go ? tokens[b * T + pos[b] + 1] : -1;
            left |= pos[b] + 1 < T;
        }
        if (!left) break;
        lg = gpt_kv_decode(&m, &kv, tk);
        for (int b = 0; b < B; b++) {
            if (tk[b] < 0) continue;
            pos[b]++;
            const float* ref = full + ((size_t)b * T + (size_t)pos[b]) * V;
            double d = max_abs_diff(lg + b * V, ref, V);
            bitwise &= memcmp(lg + b * V, ref, V * sizeof(float)) == 0;
            if (!(d <= maxd)) maxd = d;
            compared++;
        }
    }
    check(compared == B * T - (lens[0] - 1) - (lens[1] - 1) - (lens[2] - 1) && maxd <= KV_DECODE_TOL,
          "speed: KV-cache decoding vs full forward logits%s at %d positions of 3 staggered rows (L2 C32 H4 V53 "
          "T40), max abs diff %.3g (tol %.0e)%s",
          prec == GEMM_BF16 ? " (bf16 products)" : "", compared, maxd, KV_DECODE_TOL, bitwise ? ", bit-identical" : "");
    gpt_kv_free(&kv);
    free(full);
    gpt_free(&m);
}

// Prefilling more rows than the model's activations hold runs in chunks: the logits and cached keys
// equal an unchunked prefill (a model without activations does all rows at once) bit for bit, and
// the activations keep their size.
static void kv_check_prefill_chunks(void) {
    GPTConfig cfg = {.max_seq_len = 32, .vocab_size = 41, .num_layers = 2, .num_heads = 2, .channels = 16};
    GPT a, b;
    kv_model(&a, cfg, 31);
    kv_model(&b, cfg, 31);
    enum { B = 5, T = 24 };
    int tokens[B * T], lens[B] = {24, 3, 11, 1, 17};
    uint64_t rng = 8;
    for (size_t i = 0; i < B * T; i++) tokens[i] = (int)(random_u32(&rng) % (uint32_t)cfg.vocab_size);
    gpt_forward(&b, tokens, NULL, 2, T); // b holds activations for 2 rows: prefills in chunks of 2
    size_t cap = b.act_sizes[NUM_ACTIVATION_TENSORS - 1];
    GPTKVCache ka, kb;
    gpt_kv_init(&ka, &cfg, B, T);
    gpt_kv_init(&kb, &cfg, B, T);
    const float* la = gpt_kv_prefill(&a, &ka, tokens, lens, T);
    const float* lb = gpt_kv_prefill(&b, &kb, tokens, lens, T);
    size_t V = (size_t)cfg.vocab_size;
    double d = max_abs_diff(la, lb, B * V);
    int same = memcmp(la, lb, B * V * sizeof(float)) == 0;
    // cached keys/values at the prompt positions (the rest of the cache is unused and unset)
    double dk = 0.0;
    for (size_t l = 0; l < (size_t)cfg.num_layers; l++)
        for (size_t r = 0; r < B; r++)
            for (size_t t = 0; t < (size_t)lens[r]; t++) {
                size_t o = ((l * B + r) * T + t) * (size_t)cfg.channels;
                double e = max_abs_diff(ka.k + o, kb.k + o, (size_t)cfg.channels);
                double f = max_abs_diff(ka.v + o, kb.v + o, (size_t)cfg.channels);
                if (e > dk) dk = e;
                if (f > dk) dk = f;
            }
    check(same && dk == 0.0 && b.act_sizes[NUM_ACTIVATION_TENSORS - 1] == cap,
          "speed: prefill of 5 rows in chunks of 2 (activations sized for 2 x T) equals one batch: logits max abs "
          "diff %.3g, keys/values %.3g, activation capacity %zu -> %zu positions",
          d, dk, cap, b.act_sizes[NUM_ACTIVATION_TENSORS - 1]);
    gpt_kv_free(&ka);
    gpt_kv_free(&kb);
    gpt_free(&a);
    gpt_free(&b);
}

// A sampled continuation with the cache equals one that runs gpt_forward on the whole prefix for
// every token, with the same RNG (temperature 1, all tokens: every logit matters).
static void kv_check_sampling(void) {
    GPTConfig cfg = {.max_seq_len = 64, .vocab_size = 97, .num_layers = 3, .num_heads = 2, .channels = 24};
    GPT m;
    kv_model(&m, cfg, 21);
    int V = cfg.vocab_size, np = 5, n = 50;
    int a[64], b[64];
    for (int i = 0; i < np; i++) a[i] = b[i] = (i * 37 + 3) % V;
    uint64_t r1 = 99, r2 = 99;
    for (int i = np; i < np + n; i++) { // no cache
        gpt_forward(&m, a, NULL, 1, (size_t)i);
        a[i] = sample_logits(m.acts.logits + (size_t)(i - 1) * (size_t)V, V, 1.0f, 0, &r1);
    }
    GPTKVCache kv;
    gpt_kv_init(&kv, &cfg, 1, (size_t)(np + n));
    const float* lg = gpt_kv_prefill(&m, &kv, b, &np, (size_t)np);
    for (int i = np; i < np + n; i++) {
        b[i] = sample_logits(lg, V, 1.0f, 0, &r2);
        if (i + 1 < np + n) lg = gpt_kv_decode(&m, &kv, &b[i]);
    }
    int same = memcmp(a, b, sizeof(int) * (size_t)(np + n)) == 0 && r1 == r2;
    int distinct = 0;
    for (int i = np; i < np + n; i++) distinct += a[i] != a[np];
    check(same && distinct > 0, "speed: %d tokens sampled with the KV cache = without it (same RNG, temperature 1)",
          n);
    gpt_kv_free(&kv);
    gpt_free(&m);
}

// ----------------------------------------------------------------------------

void test_model(void) {
    model_check_lr_schedule();
    model_check_sampling();
    GptRef r;
    char why[512];
    if (gptref_load(&r, why, sizeof why)) {
        skip("model fixture, finite differences and checkpoints because %s", why);
    } else {
        model_check_forward(&r);
        model_check_backward(&r);
        model_check_reproducible(&r);
        model_check_forward_hidden(&r);
        model_check_adamw(&r);
        model_check_bf16(&r);
        model_check_regrow(&r);
        model_check_finite_differences(&r);
        model_check_checkpoints(&r);
    }
    free(r.file);
    kv_check_decode_logits(GEMM_FP32);
#ifndef USE_CUBLAS
    kv_check_decode_logits(GEMM_BF16); // (bf16 products are a CPU path)
#endif
    kv_check_prefill_chunks();
    kv_check_sampling();
}
