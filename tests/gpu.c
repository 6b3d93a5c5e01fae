// tests/gpu.c: the GPU backend (lib/gpu.cu) as a whole. The matrix products against a naive
// row-major product, the gradient-norm reductions, the probes' assignment against a double-precision
// one, TF32 within its stated tolerance, and checkpoints between the GPU and the CPU builds. Each
// layer's device kernel against its CPU kernel is in tests/layers.c; the model section runs the
// PyTorch fixture through the GPU path as well. Runs in a GPU build: ./test_gpt_emu (gpu.cu
// emulated on the CPU, built by `make test`), or ./test_gpt_gpu and `make USE_CUBLAS=1 test` on a GPU.
#include "test.h"

#ifdef USE_CUBLAS
// Row-major reference C = alpha op(A) op(B) + beta C in double.
static void gpu_ref_gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                         const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (size_t k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (double)(tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (float)((double)alpha * s + (beta == 0.0f ? 0.0 : (double)beta * (double)C[i * ldc + j]));
        }
}

// gpu_sgemm and gpu_sgemm_batched, all transpositions, padded leading dimensions: only the M x N
// block of each C is written.
static void gpu_check_gemm(uint64_t* rng) {
    double worst = 0.0;
    size_t M = 7, N = 5, K = 9, lda = 11, ldb = 13, ldc = 6;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float* A = managed_rand(16 * lda, rng);
            float* Bm = managed_rand(16 * ldb, rng);
            float* Cg = managed_rand(3 * M * ldc, rng);
            float* Cr = managed_copy(Cg, 3 * M * ldc);
            gpu_sgemm(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 0.3f, Cg, ldc);
            // batched: 3 products, operands 17 and 19 floats apart, C blocks M*ldc apart; beta 0 on NaN
            for (size_t i = M * ldc; i < 3 * M * ldc; i++) Cg[i] = Cr[i] = NAN;
            gpu_sgemm_batched(ta, tb, M, N, K, 1.5f, A, lda, 17, Bm, ldb, 19, 0.0f, Cg + M * ldc, ldc, M * ldc, 2);
            gpu_sync();
            gpu_ref_gemm(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 0.3f, Cr, ldc);
            for (size_t p = 0; p < 2; p++)
                gpu_ref_gemm(ta, tb, M, N, K, 1.5f, A + p * 17, lda, Bm + p * 19, ldb, 0.0f, Cr + (p + 1) * M * ldc,
                             ldc);
            // padding columns stay as they were
            double d = 0.0;
            for (size_t i = 0; i < 3 * M * ldc; i++) {
                double e = i % ldc < N ? fabs((double)Cg[i] - (double)Cr[i])
                                       : (isnan(Cg[i]) ? isnan(Cr[i]) : Cg[i] == Cr[i]) ? 0.0 : (double)INFINITY;
                if (!(e <= d)) d = e;
            }
            if (!(d <= worst)) worst = d;
            gpu_free(A), gpu_free(Bm), gpu_free(Cg), gpu_free(Cr);
        }
    check(worst <= 1e-5, "gpu: sgemm and strided batched, all 4 transposes, padded ld: max abs diff %.3g (tol 1e-5)",
          worst);
}

// The gradient-norm clip's reductions: the sum of squares against a double loop, and the scale.
static void gpu_check_norm(uint64_t* rng) {
    size_t N = 2 * 37 * 4 * 16;
    float* x = managed_rand(N, rng);
    float* og = gpu_alloc(N * sizeof(float));
    double ss = 0.0;
    for (size_t i = 0; i < N; i++) ss += (double)x[i] * (double)x[i];
    double gs = gpu_sum_squares(x, N);
    check(fabs(gs - ss) <= 1e-12 * ss, "gpu: sum_squares %.17g vs double loop %.17g, rel diff %.2g (tol 1e-12)", gs,
          ss, fabs(gs - ss) / ss);
    memcpy(og, x, N * sizeof(float));
    gpu_scale_floats(og, 0.37f, N);
    gpu_sync();
    double sd = 0.0;
    for (size_t i = 0; i < N; i++) sd = fmax(sd, fabs((double)og[i] - (double)(x[i] * 0.37f)));
    check(sd == 0.0, "gpu: scale_floats max abs diff vs x * s %.3g (tol 0)", sd);
    gpu_free(x);
    gpu_free(og);
}

// probe_assign (the device path in this build) against softmax(normalise(z)·Wᵀ/eps) in double, for
// the second of two draws.
static void gpu_check_probes(uint64_t* rng) {
    ProbeBins pb;
    int d = 24, nb = 37; // n_bins not a multiple of the CPU's 16-column tiles
    probe_bins_init(&pb, d, nb, 2, PROBE_GAUSSIAN, 5); // draw 1: the second of two
    size_t N = 29;
    float* z = malloc_check(N * (size_t)d * sizeof(float)); // host memory, as probe_pref_add passes
    for (size_t i = 0; i < N * (size_t)d; i++) z[i] = 3.0f * (2.0f * random_f32(rng) - 1.0f);
    for (int k = 0; k < d; k++) z[5 * (size_t)d + (size_t)k] = 0.0f; // a zero row: uniform
    float* zm = managed_copy(z, N * (size_t)d);                      // managed, as hidden states
    float* out = malloc_check(2 * N * (size_t)nb * sizeof(float));
    probe_assign(&pb, 1, z, N, out);
    probe_assign(&pb, 1, zm, N, out + N * (size_t)nb);
    const float* W1 = pb.W + (size_t)nb * d;
    double worst = 0.0;
    for (size_t r = 0; r < N; r++) {
        double nz = 0.0, e[64], mx = -INFINITY, s = 0.0;
        for (int k = 0; k < d; k++) nz += (double)z[r * d + k] * (double)z[r * d + k];
        for (int j = 0; j < nb; j++) {
            double dot = 0.0;
            for (int k = 0; k < d; k++) dot += (double)z[r * d + k] * (double)W1[(size_t)j * d + k];
            e[j] = nz > 0.0 ? dot / sqrt(nz) / (double)pb.eps[1] : 0.0;
            mx = fmax(mx, e[j]);
        }
        for (int j = 0; j < nb; j++) s += (e[j] = exp(e[j] - mx));
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < nb; j++) worst = fmax(worst, fabs((double)out[(h * N + r) * nb + j] - e[j] / s));
    }
    check(worst <= 1e-5, "gpu: probe_assign on the device (host and managed z, a zero row) vs double: max abs "
                         "diff %.3g (tol 1e-5)", worst);
    free(z);
    free(out);
    gpu_free(zm);
    probe_bins_free(&pb);
}

// TF32 matrix products: the fixture's logits and a few AdamW steps' losses within TF32's looser
// tolerance (inputs rounded to 10 mantissa bits: relative errors ~5e-4 per product).
static void gpu_check_tf32(const GptRef* r) {
    gpu_init(1);
    GPT m;
    gptref_model(&m, r);
    size_t B = (size_t)r->B, T = (size_t)r->T, BT = B * T, V = (size_t)r->cfg.vocab_size;
    double ld = 0.0;
    for (int s = 0; s <= r->nsteps; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        if (s == 0) {
            double d = max_abs_diff(m.acts.logits, r->logits, BT * V);
            check(d <= 2e-2, "gpu tf32: fixture logits max abs diff %.3g (tol 2e-2 under TF32; 1e-4 in fp32)", d);
        }
        ld = fmax(ld, fabs((double)m.mean_loss - (double)r->step_losses[s]));
        if (s == r->nsteps) break;
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        gpt_clip_grad_norm(&m, r->clip);
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s + 1);
    }
    gpu_init(0);
    check(ld <= 1e-2, "gpu tf32: losses of %d AdamW steps max abs diff %.3g (tol 1e-2 under TF32; 1e-4 in fp32)",
          r->nsteps, ld);
    gpt_free(&m);
}

// A model trained on this backend (2 AdamW steps) saves and loads bit-exactly, and the loaded
// parameters are the ones the device computes with (bit-identical logits).
static void gpu_check_checkpoint(const GptRef* r, const char* root) {
    size_t B = (size_t)r->B, T = (size_t)r->T, BT = B * T, V = (size_t)r->cfg.vocab_size;
    char dir[300], err[512] = "";
    GPT m, l;
    gptref_model(&m, r);
    for (int s = 1; s <= 2; s++) {
        gpt_forward(&m, r->inputs, r->targets, B, T);
        gpt_zero_grad(&m);
        gpt_backward(&m, NULL);
        gpt_update(&m, r->lr, r->beta1, r->beta2, r->eps, r->wd, s);
    }
    gpt_forward(&m, r->inputs, r->targets, B, T);
    snprintf(dir, sizeof dir, "%s/gpu", root);
    int rc = gpt_save(&m, dir, -1, err, sizeof err);
    int rc2 = rc ? -1 : gpt_load(&l, dir, err, sizeof err);
    int same = rc2 == 0 && memcmp(l.params_memory, m.params_memory, m.num_parameters * sizeof(float)) == 0;
    int same_logits = 0;
    if (rc2 == 0) {
        gpt_forward(&l, r->inputs, r->targets, B, T);
        same_logits = memcmp(l.acts.logits, m.acts.logits, BT * V * sizeof(float)) == 0;
        gpt_free(&l);
    }
    check(same && same_logits,
          "gpu checkpoint: after 2 steps on the device, save -> load is bit-exact and gives bit-identical logits %s",
          err);
    gpt_free(&m);
}

// The CPU build's ./train: its checkpoint loads here and re-saves to the same bytes; after a step
// on this backend, the checkpoint written here loads in ./train (--probe-only: load and probe).
static void gpu_check_interchange(const char* root) {
    if (access(train_bin(), X_OK) != 0) {
        skip("gpu checkpoint: interchange with the CPU build because %s is not built", train_bin());
        return;
    }
    char dir[300], dir2[300], err[512] = "", cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -L 2 -C 32 -H 4 -T 16 -B 2 --steps 3 --threads 1 --probe-every 0 "
                              "--eval-batches 1 --sample-len 4 --dpo-steps 0 --out %s/cpu >%s/log 2>&1",
             train_bin(), root, root);
    int st = run_shell(cmd);
    snprintf(dir2, sizeof dir2, "%s/cpu/pretrain", root);
    snprintf(dir, sizeof dir, "%s/again", root);
    GPT l;
    int rc = st == 0 ? gpt_load(&l, dir2, err, sizeof err) : -1;
    int ok = rc == 0 && gpt_save(&l, dir, -1, err, sizeof err) == 0;
    char a[400], b[400];
    snprintf(a, sizeof a, "%s/model.safetensors", dir2);
    snprintf(b, sizeof b, "%s/model.safetensors", dir);
    size_t la = 0, lb = 0;
    char* fa = ok ? read_file(a, &la, err, sizeof err) : NULL;
    char* fb = fa ? read_file(b, &lb, err, sizeof err) : NULL;
    check(fa && fb && la == lb && memcmp(fa, fb, la) == 0,
          "gpu checkpoint: a checkpoint of the CPU build's ./train loads on this backend and saves back "
          "byte-identical (%zu bytes) %s", la, st == 0 ? err : "(./train failed)");
    free(fa);
    free(fb);
    if (rc != 0) return;
    int toks[2 * 16];
    uint64_t rng = 3;
    for (int i = 0; i < 2 * 16; i++) toks[i] = (int)(random_u32(&rng) % (uint32_t)l.config.vocab_size);
    gpt_forward(&l, toks, toks, 2, 16);
    gpt_zero_grad(&l);
    gpt_backward(&l, NULL);
    gpt_update(&l, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    snprintf(dir, sizeof dir, "%s/gpu2", root);
    ok = gpt_save(&l, dir, -1, err, sizeof err) == 0;
    snprintf(cmd, sizeof cmd, "cp %s/tokenizer.json %s/ && %s --init %s --probe-only --probe-seqs 2 "
             "--probe-bins 4 --threads 1 --out %s/probe >%s/log 2>&1", dir2, dir, train_bin(), dir, root, root);
    st = ok ? run_shell(cmd) : -1;
    check(st == 0, "gpu checkpoint: a checkpoint saved after a step on this backend loads in the CPU "
                   "build's %s --init (exit %d) %s", train_bin(), st, err);
    gpt_free(&l);
}

void test_gpu(void) {
    const char* name = gpt_backend_init(0);
    printf("     device: %s\n", name);
    uint64_t rng = 77; // one stream through the three checks below, in this order
    gpu_check_gemm(&rng);
    gpu_check_norm(&rng);
    gpu_check_probes(&rng);
    GptRef r;
    char why[512];
    if (gptref_load(&r, why, sizeof why)) {
        skip("gpu: TF32 and checkpoint checks because %s", why);
    } else {
        gpu_check_tf32(&r);
        char root[] = "/tmp/forgetful_gpu_XXXXXX";
        if (!mkdtemp(root)) {
            check(0, "gpu checkpoint: mkdtemp failed");
        } else {
            gpu_check_checkpoint(&r, root);
            gpu_check_interchange(root);
            rm_tree(root);
        }
    }
    free(r.file);
}
#else
void test_gpu(void) {
    skip("gpu: this is the CPU build; `make test` runs this section and the layers section's GPU kernels in "
         "./test_gpt_emu (gpu.cu emulated on the CPU), `make USE_CUBLAS=1 test` on a GPU");
}
#endif
