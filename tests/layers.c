// tests/layers.c: the layer kernels of model.h, each layer's checks side by side, in the order of
// the forward pass: its backward against central finite differences on tiny random shapes,
// matmul and the LM head against naive double loops, attention's fast form (weights rebuilt from
// row statistics) against the plain one bit for bit, and in a GPU build (USE_CUBLAS) the device
// kernel of lib/gpu.cu against the CPU kernel. The whole model against PyTorch is tests/model.c.
//
// Dimension key as in model.h: B batch, T sequence length, C channels, OC output channels,
// NH heads, V vocabulary.
#include "test.h"

// n values offset + scale * N(0,1) from rng, malloc'd (at least one float, so n may be 0).
static float* random_buffer(size_t n, float scale, float offset, uint64_t* rng) {
    float* p = malloc_check((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = offset + scale * random_normal(rng);
    return p;
}

// ----------------------------------------------------------------------------
// Finite differences: J = sum(out * wt) for fixed random weights wt, so that the backward seeded
// with dout = wt gives dJ/dinputs, compared with (J(p + eps) - J(p - eps)) / 2eps per coordinate.

typedef struct FdCase FdCase;
struct FdCase {
    size_t B, T, C, OC, NH, V;
    float *x, *w, *b;         // inputs that get gradients (w, b may be NULL)
    float *out, *aux1, *aux2; // forward outputs and saved statistics
    float* wt;                // objective weights: J = sum(out * wt)
    int* tg;                  // targets (cross-entropy), -1 at position 3
    size_t nx, nw, nb, nout, naux;
    void (*forward)(FdCase* k);
    // dx, dw, db += dJ/d(x, w, b), with dout = wt
    void (*backward)(FdCase* k, float* dx, float* dw, float* db);
};

// A layer's case with the shapes every one starts from: B2 T5 C8 OC6 NH2 V7; x and out (B,T,C),
// statistics (B,T), no w or b. Each layer's check then sets its own sizes.
static FdCase fd_case(void (*forward)(FdCase*), void (*backward)(FdCase*, float*, float*, float*)) {
    FdCase k = {.B = 2, .T = 5, .C = 8, .OC = 6, .NH = 2, .V = 7, .forward = forward, .backward = backward};
    k.nx = k.nout = k.B * k.T * k.C;
    k.naux = k.B * k.T;
    return k;
}

// Draws the case's inputs from rng: x ~ N(0,1), w ~ woffset + wscale N(0,1), b ~ 0.3 N(0,1),
// the objective weights ~ N(0,1), targets uniform.
static void fd_alloc(FdCase* k, float wscale, float woffset, uint64_t* rng) {
    size_t BT = k->B * k->T;
    k->x = random_buffer(k->nx, 1.0f, 0.0f, rng);
    k->w = k->nw ? random_buffer(k->nw, wscale, woffset, rng) : NULL;
    k->b = k->nb ? random_buffer(k->nb, 0.3f, 0.0f, rng) : NULL;
    k->out = calloc_check(k->nout, sizeof(float));
    k->aux1 = calloc_check(k->naux, sizeof(float));
    k->aux2 = calloc_check(k->naux, sizeof(float));
    k->wt = random_buffer(k->nout, 1.0f, 0.0f, rng);
    k->tg = malloc_check(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) k->tg[i] = i == 3 ? -1 : (int)(random_u32(rng) % k->V);
}

// J = sum(out * wt) in double after running the forward.
static double fd_objective(FdCase* k) {
    k->forward(k);
    double s = 0.0;
    for (size_t i = 0; i < k->nout; i++) s += (double)k->out[i] * (double)k->wt[i];
    return s;
}

// Max over coordinates of |fd - g| relative to max|g| of the tensor (central differences).
static double fd_error(FdCase* k, float* p, const float* g, size_t n) {
    const float eps = 1e-2f;
    double worst = 0.0, gmax = max_abs(g, n);
    for (size_t i = 0; i < n; i++) {
        float orig = p[i];
        p[i] = orig + eps;
        double jp = fd_objective(k);
        p[i] = orig - eps;
        double jm = fd_objective(k);
        p[i] = orig;
        double d = fabs((jp - jm) / (2.0 * (double)eps) - (double)g[i]) / (gmax > 1e-6 ? gmax : 1e-6);
        if (!(d <= worst)) worst = d;
    }
    fd_objective(k); // restore the saved statistics for the unperturbed inputs
    return worst;
}

// The check of one layer's backward on inputs drawn from a fixed seed (w ~ woffset + wscale N(0,1)):
// the worst of x, w and b against finite differences.
static void fd_check(const char* name, FdCase* k, float wscale, float woffset) {
    uint64_t rng = 777;
    fd_alloc(k, wscale, woffset, &rng);
    float* dx = calloc_check(k->nx, sizeof(float));
    float* dw = calloc_check(k->nw ? k->nw : 1, sizeof(float));
    float* db = calloc_check(k->nb ? k->nb : 1, sizeof(float));
    fd_objective(k);
    k->backward(k, dx, dw, db);
    double e = fd_error(k, k->x, dx, k->nx);
    if (k->w) e = fmax(e, fd_error(k, k->w, dw, k->nw));
    if (k->b) e = fmax(e, fd_error(k, k->b, db, k->nb));
    check(e <= 1e-2, "model kernel %s: backward vs central finite differences, max rel err %.3g (tol 1e-2)", name,
          e);
    free(k->x), free(k->w), free(k->b), free(k->out), free(k->aux1), free(k->aux2), free(k->wt), free(k->tg);
    free(dx), free(dw), free(db);
}

// Naive reference product for matmul and the LM head: max over (i, j) of
// |Σ_k A[i,k] B[k,j] (+ bias[j]) - got[i*N + j]|, summed in double in k order, where A[i,k] is
// A[i*sai + k*sak] and B[k,j] is B[k*sbk + j*sbj] (so either operand may be read transposed);
// *ref_max is the largest |reference|.
static double naive_product_error(const float* A, size_t sai, size_t sak, const float* B, size_t sbk, size_t sbj,
                                  const float* bias, const float* got, size_t M, size_t N, size_t K,
                                  double* ref_max) {
    double e = 0.0;
    *ref_max = 0.0;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = bias ? bias[j] : 0.0;
            for (size_t k = 0; k < K; k++) s += (double)A[i * sai + k * sak] * (double)B[k * sbk + j * sbj];
            e = fmax(e, fabs(s - got[i * N + j]));
            *ref_max = fmax(*ref_max, fabs(s));
        }
    return e;
}

// ----------------------------------------------------------------------------
// GPU build: the device kernels against the CPU kernels on shapes past the CPU's tile edges

#ifdef USE_CUBLAS
// T = 37 spans more than one of the CPU attention's 32-row blocks; V = 23 and OC = 24 are not
// multiples of any tile.
enum { GPU_B = 2, GPU_T = 37, GPU_C = 16, GPU_NH = 4, GPU_V = 23, GPU_OC = 24 };

// The CPU kernel's and the GPU kernel's copy of one output (managed memory), equal before the
// calls so that accumulating kernels (+=) start from the same values.
typedef struct {
    float *cpu, *gpu;
    size_t n;
} Twin;

static Twin twin_rand(size_t n, uint64_t* rng) {
    Twin t = {managed_rand(n, rng), NULL, n};
    t.gpu = managed_copy(t.cpu, n);
    return t;
}

// gpu := cpu, to start the next kernel pair from the same values.
static void twin_sync(Twin* t) { memcpy(t->gpu, t->cpu, t->n * sizeof(float)); }

static void twin_free(Twin* t) {
    gpu_free(t->cpu);
    gpu_free(t->gpu);
}
#endif

// ----------------------------------------------------------------------------
// encoder: out = wte[token] + wpe[position]

#ifdef USE_CUBLAS
static void encoder_check_gpu(void) {
    uint64_t rng = 77;
    size_t B = GPU_B, T = GPU_T, C = GPU_C, V = GPU_V, BT = B * T;
    int* inp = gpu_alloc(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) inp[i] = (int)(random_u32(&rng) % 5); // few tokens: dwte rows add up many
    float* wte = managed_rand(V * C, &rng);
    float* wpe = managed_rand(T * C, &rng);
    float* dout = managed_rand(BT * C, &rng);
    Twin out = twin_rand(BT * C, &rng), dw = twin_rand(V * C + T * C, &rng); // dwte then dwpe
    encoder_forward(out.cpu, inp, wte, wpe, B, T, C);
    gpu_encoder_forward(out.gpu, inp, wte, wpe, B, T, C);
    gpu_sync();
    check_vs_cpu("encoder_forward", out.gpu, out.cpu, BT * C, 0.0);
    encoder_backward(dw.cpu, dw.cpu + V * C, dout, inp, B, T, C);
    gpu_encoder_backward(dw.gpu, dw.gpu + V * C, dout, inp, B, T, C);
    gpu_sync();
    check_vs_cpu("encoder_backward (+=)", dw.gpu, dw.cpu, V * C + T * C, 1e-5);
    twin_free(&out), twin_free(&dw);
    gpu_free(inp), gpu_free(wte), gpu_free(wpe), gpu_free(dout);
}
#endif

// ----------------------------------------------------------------------------
// layernorm: out = (x - mean) * rstd * w + b over C, statistics (B,T) each

static void layernorm_fd_forward(FdCase* k) {
    layernorm_forward(k->out, k->aux1, k->aux2, k->x, k->w, k->b, k->B, k->T, k->C);
}

static void layernorm_fd_backward(FdCase* k, float* dx, float* dw, float* db) {
    layernorm_backward(dx, dw, db, k->wt, k->x, k->w, k->aux1, k->aux2, k->B, k->T, k->C);
}

static void layernorm_check_fd(void) {
    FdCase k = fd_case(layernorm_fd_forward, layernorm_fd_backward);
    k.nw = k.nb = k.C;
    fd_check("layernorm", &k, 0.3f, 1.0f); // weights near 1, as initialised
}

#ifdef USE_CUBLAS
static void layernorm_check_gpu(void) {
    uint64_t rng = 77;
    size_t B = GPU_B, T = GPU_T, C = GPU_C, BT = B * T;
    float* x = managed_rand(BT * C, &rng);
    float* wb = managed_rand(2 * C, &rng); // weight, bias
    float* dout = managed_rand(BT * C, &rng);
    Twin out = twin_rand(BT * C, &rng), stats = twin_rand(2 * BT, &rng); // stats: mean then rstd
    layernorm_forward(out.cpu, stats.cpu, stats.cpu + BT, x, wb, wb + C, B, T, C);
    gpu_layernorm_forward(out.gpu, stats.gpu, stats.gpu + BT, x, wb, wb + C, B, T, C);
    gpu_sync();
    check_vs_cpu("layernorm_forward", out.gpu, out.cpu, BT * C, 1e-5);
    check_vs_cpu("layernorm_forward mean, rstd", stats.gpu, stats.cpu, 2 * BT, 1e-5);
    Twin dx = twin_rand(BT * C, &rng), dwb = twin_rand(2 * C, &rng);
    layernorm_backward(dx.cpu, dwb.cpu, dwb.cpu + C, dout, x, wb, stats.cpu, stats.cpu + BT, B, T, C);
    gpu_layernorm_backward(dx.gpu, dwb.gpu, dwb.gpu + C, dout, x, wb, stats.cpu, stats.cpu + BT, B, T, C);
    gpu_sync();
    check_vs_cpu("layernorm_backward dinp (+=)", dx.gpu, dx.cpu, BT * C, 1e-5);
    check_vs_cpu("layernorm_backward dweight, dbias", dwb.gpu, dwb.cpu, 2 * C, 1e-4);
    twin_free(&out), twin_free(&stats), twin_free(&dx), twin_free(&dwb);
    gpu_free(x), gpu_free(wb), gpu_free(dout);
}
#endif

// ----------------------------------------------------------------------------
// matmul: out (B,T,OC) = x (B,T,C) · w (C,OC) + b (OC)

static void matmul_fd_forward(FdCase* k) { matmul_forward(k->out, k->x, k->w, k->b, k->B, k->T, k->C, k->OC, GEMM_FP32); }

static void matmul_fd_backward(FdCase* k, float* dx, float* dw, float* db) {
    matmul_backward(dx, dw, db, k->wt, k->x, k->w, k->B, k->T, k->C, k->OC, GEMM_FP32);
}

static void matmul_check_fd(void) {
    FdCase k = fd_case(matmul_fd_forward, matmul_fd_backward);
    k.nw = k.C * k.OC, k.nb = k.OC, k.nout = k.B * k.T * k.OC;
    fd_check("matmul", &k, 0.5f, 0.0f);
}

// Against naive double-precision triple loops, with shapes that exercise the tile tails.
static void matmul_check_naive(void) {
    uint64_t rng = 778;
    size_t B = 1, T = 7, C = 13, OC = 19;
    float* x = random_buffer(B * T * C, 1.0f, 0.0f, &rng);
    float* w = random_buffer(C * OC, 1.0f, 0.0f, &rng);
    float* bias = random_buffer(OC, 1.0f, 0.0f, &rng);
    float* dout = random_buffer(B * T * OC, 1.0f, 0.0f, &rng);
    float* out = malloc_check(B * T * OC * sizeof(float));
    float* dx = calloc_check(B * T * C, sizeof(float));
    float* dw = calloc_check(C * OC, sizeof(float));
    float* db = calloc_check(OC, sizeof(float));
    matmul_forward(out, x, w, bias, B, T, C, OC, GEMM_FP32);
    matmul_backward(dx, dw, db, dout, x, w, B, T, C, OC, GEMM_FP32);
    size_t BT = B * T;
    double big;
    double ef = naive_product_error(x, C, 1, w, OC, 1, bias, out, BT, OC, C, &big);      // out = x · w + b
    double eb = naive_product_error(dout, OC, 1, w, 1, OC, NULL, dx, BT, C, OC, &big);  // dx = dout · wᵀ
    eb = fmax(eb, naive_product_error(x, 1, C, dout, OC, 1, NULL, dw, C, OC, BT, &big)); // dw = xᵀ · dout
    for (size_t o = 0; o < OC; o++) {
        double s = 0.0;
        for (size_t r = 0; r < BT; r++) s += dout[r * OC + o];
        eb = fmax(eb, fabs(s - db[o]));
    }
    check(ef <= 1e-5 && eb <= 1e-5, "model kernel matmul (7x13 -> 19) vs naive double loops: fwd %.3g, bwd %.3g (tol 1e-5)",
          ef, eb);
    free(x), free(w), free(bias), free(dout), free(out), free(dx), free(dw), free(db);
}

#ifdef USE_CUBLAS
static void matmul_check_gpu(void) {
    uint64_t rng = 77;
    size_t B = GPU_B, T = GPU_T, C = GPU_C, OC = GPU_OC, BT = B * T;
    float* x = managed_rand(BT * C, &rng);
    float* w = managed_rand(C * OC, &rng);
    float* bias = managed_rand(OC, &rng);
    float* dout = managed_rand(BT * OC, &rng);
    Twin out = twin_rand(BT * OC, &rng);
    for (int withb = 1; withb >= 0; withb--) {
        matmul_forward(out.cpu, x, w, withb ? bias : NULL, B, T, C, OC, GEMM_FP32);
        gpu_matmul_forward(out.gpu, x, w, withb ? bias : NULL, B, T, C, OC, GEMM_FP32);
        gpu_sync();
        check_vs_cpu(withb ? "matmul_forward" : "matmul_forward (no bias)", out.gpu, out.cpu, BT * OC, 1e-5);
    }
    Twin dx = twin_rand(BT * C, &rng), dwb = twin_rand(C * OC + OC, &rng); // dweight then dbias
    matmul_backward(dx.cpu, dwb.cpu, dwb.cpu + C * OC, dout, x, w, B, T, C, OC, GEMM_FP32);
    gpu_matmul_backward(dx.gpu, dwb.gpu, dwb.gpu + C * OC, dout, x, w, B, T, C, OC, GEMM_FP32);
    gpu_sync();
    check_vs_cpu("matmul_backward dinp (+=)", dx.gpu, dx.cpu, BT * C, 1e-5);
    check_vs_cpu("matmul_backward dweight, dbias", dwb.gpu, dwb.cpu, C * OC + OC, 1e-4);
    twin_free(&out), twin_free(&dx), twin_free(&dwb);
    gpu_free(x), gpu_free(w), gpu_free(bias), gpu_free(dout);
}
#endif

// ----------------------------------------------------------------------------
// attention: causal softmax(q·kᵀ/√hs)·v over NH heads, from qkv (B,T,3C) to out (B,T,C)

static void attention_fd_forward(FdCase* k) {
    attention_forward(k->out, k->aux1, k->aux2, k->x, k->B, k->T, k->C, k->NH);
}

static void attention_fd_backward(FdCase* k, float* dx, float* dw, float* db) {
    (void)dw, (void)db;
    float* dpreatt = calloc_check(k->naux, sizeof(float));
    float* datt = calloc_check(k->naux, sizeof(float));
    attention_backward(dx, dpreatt, datt, k->wt, k->x, k->aux2, k->B, k->T, k->C, k->NH);
    free(dpreatt);
    free(datt);
}

static void attention_check_fd(void) {
    FdCase k = fd_case(attention_fd_forward, attention_fd_backward);
    k.nx = k.B * k.T * 3 * k.C;
    k.naux = k.B * k.NH * k.T * k.T; // preatt and att (B,NH,T,T)
    fd_check("attention", &k, 0.0f, 0.0f);
}

// The model's attention (weights rebuilt in the backward from per-row statistics) against the
// kernels that keep the (B,NH,T,T) weights (checked by finite differences above): same output and
// same input gradient, bit for bit; T over several query blocks.
static void attention_check_stats(void) {
    size_t B = 2, T = 70, C = 24, NH = 3;
    uint64_t rng = 17;
    float* inp = malloc_check(B * T * 3 * C * sizeof(float));
    float* dout = malloc_check(B * T * C * sizeof(float));
    for (size_t i = 0; i < B * T * 3 * C; i++) inp[i] = 1.5f * random_normal(&rng);
    for (size_t i = 0; i < B * T * C; i++) dout[i] = random_normal(&rng);
    float* o1 = malloc_check(B * T * C * sizeof(float));
    float* o2 = malloc_check(B * T * C * sizeof(float));
    float* att = malloc_check(B * NH * T * T * sizeof(float));
    float* stats = malloc_check(B * NH * T * 2 * sizeof(float));
    float* d1 = calloc_check(B * T * 3 * C, sizeof(float));
    float* d2 = calloc_check(B * T * 3 * C, sizeof(float));
    attention_forward(o1, NULL, att, inp, B, T, C, NH);
    attention_backward(d1, NULL, NULL, dout, inp, att, B, T, C, NH);
    attention_forward_stats(o2, stats, inp, B, T, C, NH, GEMM_FP32);
    attention_backward_stats(d2, dout, inp, stats, B, T, C, NH, GEMM_FP32);
    double dmax = max_abs_diff(o1, o2, B * T * C), gmax = max_abs_diff(d1, d2, B * T * 3 * C);
    int same = memcmp(o1, o2, B * T * C * sizeof(float)) == 0 && memcmp(d1, d2, B * T * 3 * C * sizeof(float)) == 0;
    check(same && max_abs(d1, B * T * 3 * C) > 0.0,
          "speed: attention with row statistics (weights rebuilt in backward) = with stored weights, B2 T70 C24 "
          "H3: output and dinp bit-identical (max abs diff %.3g, %.3g)",
          dmax, gmax);
    free(inp), free(dout), free(o1), free(o2), free(att), free(stats), free(d1), free(d2);
}

#ifdef USE_CUBLAS
// Both forms: stored weights (preatt, att) and row statistics (max, 1/sum).
static void attention_check_gpu(void) {
    uint64_t rng = 77;
    size_t B = GPU_B, T = GPU_T, C = GPU_C, NH = GPU_NH, BT = B * T, A = B * NH * T * T;
    float* qkv = managed_rand(BT * 3 * C, &rng);
    float* dout = managed_rand(BT * C, &rng);
    Twin out = twin_rand(BT * C, &rng), att = twin_rand(2 * A, &rng); // preatt then att
    attention_forward(out.cpu, att.cpu, att.cpu + A, qkv, B, T, C, NH);
    gpu_attention_forward(out.gpu, att.gpu, att.gpu + A, qkv, B, T, C, NH);
    gpu_sync();
    check_vs_cpu("attention_forward out", out.gpu, out.cpu, BT * C, 1e-5);
    check_vs_cpu("attention_forward preatt, att", att.gpu, att.cpu, 2 * A, 1e-5);
    Twin dq = twin_rand(BT * 3 * C, &rng), datt = twin_rand(2 * A, &rng); // dpreatt then datt, from 0
    memset(datt.cpu, 0, 2 * A * sizeof(float));
    twin_sync(&datt);
    attention_backward(dq.cpu, datt.cpu, datt.cpu + A, dout, qkv, att.cpu + A, B, T, C, NH);
    gpu_attention_backward(dq.gpu, datt.gpu, datt.gpu + A, dout, qkv, att.cpu + A, B, T, C, NH);
    gpu_sync();
    check_vs_cpu("attention_backward dqkv (+=)", dq.gpu, dq.cpu, BT * 3 * C, 1e-5);
    check_vs_cpu("attention_backward dpreatt, datt", datt.gpu, datt.cpu, 2 * A, 1e-5);
    Twin stats = twin_rand(2 * B * NH * T, &rng);
    attention_forward_stats(out.cpu, stats.cpu, qkv, B, T, C, NH, GEMM_FP32);
    gpu_attention_forward_stats(out.gpu, stats.gpu, qkv, B, T, C, NH, GEMM_FP32);
    gpu_sync();
    check_vs_cpu("attention_forward_stats out", out.gpu, out.cpu, BT * C, 1e-5);
    check_vs_cpu("attention_forward_stats max, 1/sum", stats.gpu, stats.cpu, 2 * B * NH * T, 1e-5);
    twin_sync(&dq);
    attention_backward_stats(dq.cpu, dout, qkv, stats.cpu, B, T, C, NH, GEMM_FP32);
    gpu_attention_backward_stats(dq.gpu, dout, qkv, stats.cpu, B, T, C, NH, GEMM_FP32);
    gpu_sync();
    check_vs_cpu("attention_backward_stats dqkv (+=)", dq.gpu, dq.cpu, BT * 3 * C, 1e-5);
    twin_free(&out), twin_free(&att), twin_free(&dq), twin_free(&datt), twin_free(&stats);
    gpu_free(qkv), gpu_free(dout);
}
#endif

// ----------------------------------------------------------------------------
// gelu: elementwise, tanh approximation

static void gelu_fd_forward(FdCase* k) { gelu_forward(k->out, k->x, k->nx); }

static void gelu_fd_backward(FdCase* k, float* dx, float* dw, float* db) {
    (void)dw, (void)db;
    gelu_backward(dx, k->x, k->wt, k->nx);
}

static void gelu_check_fd(void) {
    FdCase k = fd_case(gelu_fd_forward, gelu_fd_backward);
    k.nx = k.nout = 40;
    fd_check("gelu", &k, 0.0f, 0.0f);
}

#ifdef USE_CUBLAS
static void gelu_check_gpu(void) {
    uint64_t rng = 77;
    size_t N = GPU_B * GPU_T * 4 * GPU_C; // the MLP's hidden layer
    float* x = managed_rand(N, &rng);
    float* dout = managed_rand(N, &rng);
    Twin out = twin_rand(N, &rng);
    gelu_forward(out.cpu, x, N);
    gpu_gelu_forward(out.gpu, x, N);
    gpu_sync();
    check_vs_cpu("gelu_forward", out.gpu, out.cpu, N, 1e-6);
    twin_sync(&out); // accumulate into the forward's output
    gelu_backward(out.cpu, x, dout, N);
    gpu_gelu_backward(out.gpu, x, dout, N);
    gpu_sync();
    check_vs_cpu("gelu_backward (+=)", out.gpu, out.cpu, N, 1e-6);
    twin_free(&out);
    gpu_free(x), gpu_free(dout);
}
#endif

// ----------------------------------------------------------------------------
// residual: out = a + b

#ifdef USE_CUBLAS
static void residual_check_gpu(void) {
    uint64_t rng = 77;
    size_t N = GPU_B * GPU_T * 4 * GPU_C;
    float* a = managed_rand(N, &rng);
    float* b = managed_rand(N, &rng);
    Twin out = twin_rand(N, &rng), d2 = twin_rand(N, &rng);
    residual_forward(out.cpu, a, b, N);
    gpu_residual_forward(out.gpu, a, b, N);
    gpu_sync();
    check_vs_cpu("residual_forward", out.gpu, out.cpu, N, 0.0);
    twin_sync(&out); // out and d2 accumulate dout = a
    residual_backward(out.cpu, d2.cpu, a, N);
    gpu_residual_backward(out.gpu, d2.gpu, a, N);
    gpu_sync();
    check_vs_cpu("residual_backward (+=, both)", out.gpu, out.cpu, N, 0.0);
    check_vs_cpu("residual_backward second input", d2.gpu, d2.cpu, N, 0.0);
    twin_free(&out), twin_free(&d2);
    gpu_free(a), gpu_free(b);
}
#endif

// ----------------------------------------------------------------------------
// lm_head: logits (B,T,V) = x (B,T,C) · wteᵀ, the weight tied to the token embedding (V,C)

static void lm_head_fd_forward(FdCase* k) { lm_head_forward(k->out, k->x, k->w, k->B, k->T, k->C, k->V, GEMM_FP32); }

static void lm_head_fd_backward(FdCase* k, float* dx, float* dw, float* db) {
    (void)db;
    lm_head_backward(dx, dw, k->wt, k->x, k->w, k->B, k->T, k->C, k->V, GEMM_FP32);
}

static void lm_head_check_fd(void) {
    FdCase k = fd_case(lm_head_fd_forward, lm_head_fd_backward);
    k.nw = k.V * k.C, k.nout = k.B * k.T * k.V;
    fd_check("lm_head", &k, 0.5f, 0.0f);
}

// A vocabulary larger than one 2048-row slice, against naive double loops.
static void lm_head_check_naive(void) {
    uint64_t rng = 779;
    size_t T = 7, C = 8, V = 2100;
    float* x = random_buffer(T * C, 1.0f, 0.0f, &rng);
    float* w = random_buffer(V * C, 1.0f, 0.0f, &rng);
    float* dout = random_buffer(T * V, 1.0f, 0.0f, &rng);
    float* out = malloc_check(T * V * sizeof(float));
    float* dx = calloc_check(T * C, sizeof(float));
    float* dw = calloc_check(V * C, sizeof(float));
    lm_head_forward(out, x, w, 1, T, C, V, GEMM_FP32);
    lm_head_backward(dx, dw, dout, x, w, 1, T, C, V, GEMM_FP32);
    // compare the backward relative to its largest reference value: dinp sums 2100 terms
    double big, big2;
    double ef = naive_product_error(x, C, 1, w, 1, C, NULL, out, T, V, C, &big);      // out = x · wᵀ
    double eb = naive_product_error(dout, V, 1, w, C, 1, NULL, dx, T, C, V, &big);    // dx = dout · w
    eb = fmax(eb, naive_product_error(dout, 1, V, x, C, 1, NULL, dw, V, C, T, &big2)); // dw = doutᵀ · x
    big = fmax(big, big2);
    check(ef <= 1e-5 && eb / big <= 1e-5,
          "model kernel lm_head (V=%zu, two slices) vs naive double loops: fwd abs %.3g, bwd rel %.3g (tol 1e-5, 1e-5)",
          V, ef, eb / big);
    free(x), free(w), free(dout), free(out), free(dx), free(dw);
}

#ifdef USE_CUBLAS
static void lm_head_check_gpu(void) {
    uint64_t rng = 77;
    size_t B = GPU_B, T = GPU_T, C = GPU_C, V = GPU_V, BT = B * T;
    float* x = managed_rand(BT * C, &rng);
    float* wte = managed_rand(V * C, &rng);
    float* dout = managed_rand(BT * V, &rng);
    Twin logits = twin_rand(BT * V, &rng);
    lm_head_forward(logits.cpu, x, wte, B, T, C, V, GEMM_FP32);
    gpu_lm_head_forward(logits.gpu, x, wte, B, T, C, V, GEMM_FP32);
    gpu_sync();
    check_vs_cpu("lm_head_forward", logits.gpu, logits.cpu, BT * V, 1e-5);
    Twin dx = twin_rand(BT * C, &rng), dwte = twin_rand(V * C, &rng);
    lm_head_backward(dx.cpu, dwte.cpu, dout, x, wte, B, T, C, V, GEMM_FP32);
    gpu_lm_head_backward(dx.gpu, dwte.gpu, dout, x, wte, B, T, C, V, GEMM_FP32);
    gpu_sync();
    check_vs_cpu("lm_head_backward dinp (+=)", dx.gpu, dx.cpu, BT * C, 1e-5);
    check_vs_cpu("lm_head_backward dwte (+=)", dwte.gpu, dwte.cpu, V * C, 1e-4);
    twin_free(&logits), twin_free(&dx), twin_free(&dwte);
    gpu_free(x), gpu_free(wte), gpu_free(dout);
}
#endif

// ----------------------------------------------------------------------------
// crossentropy: losses (B,T) = logsumexp(logits) - logits[target], 0 where the target is -1

static void crossentropy_fd_forward(FdCase* k) {
    crossentropy_forward(k->aux1, k->out, k->x, k->tg, k->B, k->T, k->V);
}

static void crossentropy_fd_backward(FdCase* k, float* dx, float* dw, float* db) {
    (void)dw, (void)db;
    crossentropy_backward(dx, k->wt, k->x, k->aux1, k->tg, k->B, k->T, k->V);
}

static void crossentropy_check_fd(void) {
    FdCase k = fd_case(crossentropy_fd_forward, crossentropy_fd_backward);
    k.nx = k.B * k.T * k.V, k.nout = k.B * k.T;
    k.naux = k.B * k.T * k.V;
    fd_check("crossentropy", &k, 0.0f, 0.0f);
}

#ifdef USE_CUBLAS
static void crossentropy_check_gpu(void) {
    uint64_t rng = 77;
    size_t B = GPU_B, T = GPU_T, C = GPU_C, V = GPU_V, BT = B * T;
    int* tg = gpu_alloc(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) tg[i] = i % 7 == 3 ? -1 : (int)(random_u32(&rng) % V);
    float* x = managed_rand(BT * C, &rng);
    float* wte = managed_rand(V * C, &rng);
    float* dlosses = managed_rand(BT, &rng);
    float* logits = gpu_alloc(BT * V * sizeof(float));
    lm_head_forward(logits, x, wte, B, T, C, V, GEMM_FP32);
    for (size_t i = 0; i < BT * V; i++) logits[i] *= 4.0f; // a sharper softmax
    Twin lse = twin_rand(BT, &rng), losses = twin_rand(2 * BT, &rng); // with targets, then with NULL
    crossentropy_forward(lse.cpu, losses.cpu, logits, tg, B, T, V);
    gpu_crossentropy_forward(lse.gpu, losses.gpu, logits, tg, B, T, V);
    gpu_sync();
    check_vs_cpu("crossentropy_forward lse", lse.gpu, lse.cpu, BT, 1e-5);
    check_vs_cpu("crossentropy_forward losses (-1 = 0)", losses.gpu, losses.cpu, BT, 1e-5);
    float* lse_cpu = managed_copy(lse.cpu, BT);
    crossentropy_forward(lse.cpu, losses.cpu + BT, logits, NULL, B, T, V);
    gpu_crossentropy_forward(lse.gpu, losses.gpu + BT, logits, NULL, B, T, V);
    gpu_sync();
    check_vs_cpu("crossentropy_forward, NULL targets", losses.gpu + BT, losses.cpu + BT, BT, 0.0);
    Twin dlogits = twin_rand(BT * V, &rng);
    crossentropy_backward(dlogits.cpu, dlosses, logits, lse_cpu, tg, B, T, V);
    gpu_crossentropy_backward(dlogits.gpu, dlosses, logits, lse_cpu, tg, B, T, V);
    gpu_sync();
    check_vs_cpu("crossentropy_backward (+=, -1 skipped)", dlogits.gpu, dlogits.cpu, BT * V, 1e-6);
    twin_free(&lse), twin_free(&losses), twin_free(&dlogits);
    gpu_free(tg), gpu_free(x), gpu_free(wte), gpu_free(dlosses), gpu_free(logits), gpu_free(lse_cpu);
}
#endif

// ----------------------------------------------------------------------------

void test_layers(void) {
    GPU_ONLY(encoder_check_gpu());
    layernorm_check_fd();
    GPU_ONLY(layernorm_check_gpu());
    matmul_check_fd();
    matmul_check_naive();
    GPU_ONLY(matmul_check_gpu());
    attention_check_fd();
    attention_check_stats();
    GPU_ONLY(attention_check_gpu());
    gelu_check_fd();
    GPU_ONLY(gelu_check_gpu());
    GPU_ONLY(residual_check_gpu());
    lm_head_check_fd();
    lm_head_check_naive();
    GPU_ONLY(lm_head_check_gpu());
    crossentropy_check_fd();
    GPU_ONLY(crossentropy_check_gpu());
}
