// gpu.cu: the GPU backend (gpu.h) of the GPU build, `make USE_CUBLAS=1`: CUDA kernels for the
// elementwise and per-row layers, cuBLAS (fp32, or TF32 with --tf32) for every matrix product.
//
// The same math and row-major layouts as the CPU kernels in layers.c: Conv1D weights (in, out),
// qkv (B,T,3C) with head h at channels h*hs, preatt/att (B,NH,T,T). Kernels run one thread per
// element or per row and never talk to each other (no shared memory, no __syncthreads, no warp
// shuffles): that costs speed (per-row kernels such as LayerNorm and the cross-entropy softmax
// use few threads and read memory uncoalesced), and buys a file that also compiles as C++ with
// -DGPU_EMULATE, where gpu_emu.h runs the kernels and the cuBLAS calls on the CPU. `make test`
// checks the backend that way on a machine without a GPU; see gpu_emu.h.
//
// Nothing here has run on a real GPU yet: the nvcc build is compiled and linked, and the logic is
// tested under emulation only (dev/gpu_check.sh is the check to run where a GPU is at hand).
#include <stdio.h>
#include <string.h>

#ifdef GPU_EMULATE
#include "gpu_emu.h"
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
#define LAUNCH(kernel, grid, block, ...)                                                                     \
    do {                                                                                                     \
        kernel<<<(grid), (block)>>>(__VA_ARGS__);                                                            \
        cuda_check(cudaGetLastError(), #kernel, __FILE__, __LINE__);                                         \
    } while (0)
#endif

#include "gpu.h"
#include "layer_math.h"
extern "C" {
#include "util.h" // fatal()
}

// ============================================================================
// device state and checked calls

// The one mutable global of the backend: the device and its cuBLAS handle, created once per process
// (a handle per model would work too but buys nothing: cuBLAS handles are meant to be shared).
static struct {
    int ready;
    char name[256];
    cublasHandle_t blas;
    float* scratch; // attention backward: (NH, T, T) per sequence, grown on demand
    size_t scratch_n;
    double* partial; // gpu_sum_squares: one partial sum per thread
} gpu_state;

static void cuda_check(cudaError_t e, const char* what, const char* file, int line) {
    if (e != cudaSuccess) fatal("CUDA: %s failed: %s (%s:%d)", what, cudaGetErrorString(e), file, line);
}
static void blas_check(cublasStatus_t s, const char* what, const char* file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) fatal("cuBLAS: %s failed: %s (%s:%d)", what, cublasGetStatusString(s), file, line);
}
#define CUDA_CHECK(call) cuda_check((call), #call, __FILE__, __LINE__)
#define BLAS_CHECK(call) blas_check((call), #call, __FILE__, __LINE__)

extern "C" const char* gpu_init(int tf32) {
    if (!gpu_state.ready) {
        int count = 0;
        cudaError_t e = cudaGetDeviceCount(&count);
        if (e != cudaSuccess) fatal("no CUDA device found (cudaGetDeviceCount: %s)", cudaGetErrorString(e));
        if (count < 1) fatal("no CUDA device found (cudaGetDeviceCount: 0 devices)");
        CUDA_CHECK(cudaSetDevice(0));
        cudaDeviceProp prop;
        CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        // the model's buffers are managed memory (see gpu.h)
        if (!prop.managedMemory) fatal("CUDA device 0 (%s) has no managed memory support", prop.name);
        snprintf(gpu_state.name, sizeof gpu_state.name, "%s", prop.name);
        BLAS_CHECK(cublasCreate(&gpu_state.blas));
        gpu_state.ready = 1;
    }
    if (tf32 >= 0)
        BLAS_CHECK(cublasSetMathMode(gpu_state.blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    return gpu_state.name;
}

extern "C" void* gpu_alloc(size_t bytes) {
    gpu_init(-1);
    void* p = NULL;
    cudaError_t e = cudaMallocManaged(&p, bytes ? bytes : 1, cudaMemAttachGlobal);
    if (e != cudaSuccess) fatal("CUDA: out of memory allocating %zu bytes of managed memory: %s", bytes,
                                cudaGetErrorString(e));
    return p;
}

extern "C" void* gpu_alloc_zero(size_t bytes) {
    void* p = gpu_alloc(bytes);
    gpu_memset_zero(p, bytes);
    gpu_sync();
    return p;
}

extern "C" void gpu_free(void* p) {
    if (p) CUDA_CHECK(cudaFree(p));
}

extern "C" void gpu_memset_zero(void* p, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemset(p, 0, bytes));
}

extern "C" void gpu_sync(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

// Device-only scratch (not host-visible), grown to hold n floats.
static float* scratch(size_t n) {
    if (n > gpu_state.scratch_n) {
        if (gpu_state.scratch) CUDA_CHECK(cudaFree(gpu_state.scratch));
        CUDA_CHECK(cudaMalloc((void**)&gpu_state.scratch, n * sizeof(float)));
        gpu_state.scratch_n = n;
    }
    return gpu_state.scratch;
}

// ============================================================================
// matrix products: cuBLAS

// cuBLAS dims are int: larger products would need splitting, which no model here comes near.
static int blas_dim(size_t n, const char* what) {
    if (n > 0x7fffffffu) fatal("cuBLAS: %s = %zu exceeds the int range of cublasSgemm", what, n);
    return (int)n;
}

// Row-major to cuBLAS's column-major: a row-major matrix X (r, c) with leading dimension ld is,
// read column-major, Xᵀ (c, r) with the same ld. So the row-major product C = op(A) op(B) is, read
// column-major, Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands (B first), keep each one's transpose flag,
// and swap M and N. No data moves.
extern "C" void gpu_sgemm_batched(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A,
                                  size_t lda, size_t sA, const float* B, size_t ldb, size_t sB, float beta, float* C,
                                  size_t ldc, size_t sC, size_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    BLAS_CHECK(cublasSgemmStridedBatched(gpu_state.blas, opb, opa, blas_dim(N, "N"), blas_dim(M, "M"),
                                         blas_dim(K, "K"), &alpha, B, blas_dim(ldb, "ldb"), (long long)sB, A,
                                         blas_dim(lda, "lda"), (long long)sA, &beta, C, blas_dim(ldc, "ldc"),
                                         (long long)sC, blas_dim(batch, "batch")));
}

extern "C" void gpu_sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                          const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    if (M == 0 || N == 0) return;
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    BLAS_CHECK(cublasSgemm(gpu_state.blas, opb, opa, blas_dim(N, "N"), blas_dim(M, "M"), blas_dim(K, "K"), &alpha,
                           B, blas_dim(ldb, "ldb"), A, blas_dim(lda, "lda"), &beta, C, blas_dim(ldc, "ldc")));
}

// ============================================================================
// kernels: one thread per element or per row
//
// B = batch size, T = sequence length, C = channels, OC = output channels, NH = heads, hs = C/NH,
// V = vocab size. Backward kernels accumulate (+=), as in layers.c.

#define BLOCK 256

static unsigned grid_for(size_t n) {
    size_t g = (n + BLOCK - 1) / BLOCK;
    if (g > 0x7fffffffu) fatal("CUDA: launch of %zu threads exceeds the grid limit", n);
    return (unsigned)g;
}

// Launches kernel over n threads in blocks of BLOCK (nothing for n = 0).
#define LAUNCH_N(kernel, n, ...)                                                                             \
    do {                                                                                                     \
        size_t launch_n = (n);                                                                               \
        if (launch_n) LAUNCH(kernel, grid_for(launch_n), BLOCK, __VA_ARGS__);                                \
    } while (0)

__device__ static inline size_t thread_index(void) { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }

// out (B,T,C) = wte[inp[b,t]] + wpe[t]: one thread per output element.
__global__ static void encoder_forward_kernel(float* out, const int* inp, const float* wte, const float* wpe,
                                              size_t BT, size_t T, size_t C) {
    size_t i = thread_index();
    if (i >= BT * C) return;
    size_t bt = i / C, c = i % C;
    out[i] = wte[(size_t)inp[bt] * C + c] + wpe[(bt % T) * C + c];
}

// Two positions with the same token add into the same dwte row: one thread per channel c walks
// all B*T positions in order and owns column c of dwte and dwpe, so there are no atomics and the
// sums are the same on every run (the model tests demand bit-reproducible gradients). Only C
// threads: slow for a GPU, but a small part of a step.
__global__ static void encoder_backward_kernel(float* dwte, float* dwpe, const float* dout, const int* inp,
                                               size_t BT, size_t T, size_t C) {
    size_t c = thread_index();
    if (c >= C) return;
    for (size_t bt = 0; bt < BT; bt++) {
        float d = dout[bt * C + c];
        dwte[(size_t)inp[bt] * C + c] += d;
        dwpe[(bt % T) * C + c] += d;
    }
}

// LayerNorm, one thread per row: out = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + 1e-5).
__global__ static void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp,
                                                const float* weight, const float* bias, size_t BT, size_t C) {
    size_t bt = thread_index();
    if (bt >= BT) return;
    const float* x = inp + bt * C;
    float m = 0.0f;
    for (size_t c = 0; c < C; c++) m += x[c];
    m /= (float)C;
    float v = 0.0f;
    for (size_t c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= (float)C;
    float s = 1.0f / sqrtf(v + 1e-5f);
    float* o = out + bt * C;
    for (size_t c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[bt] = m;
    rstd[bt] = s;
}

// dx = rstd * (g - mean(g) - n * mean(g * n)) with n = (x - mean) * rstd, g = dout * weight; one
// thread per row.
__global__ static void layernorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp,
                                                      const float* weight, const float* mean, const float* rstd,
                                                      size_t BT, size_t C) {
    size_t bt = thread_index();
    if (bt >= BT) return;
    const float* x = inp + bt * C;
    const float* d = dout + bt * C;
    float m = mean[bt], s = rstd[bt];
    float gmean = 0.0f, gnmean = 0.0f;
    for (size_t c = 0; c < C; c++) {
        float g = d[c] * weight[c];
        gmean += g;
        gnmean += g * (x[c] - m) * s;
    }
    gmean /= (float)C;
    gnmean /= (float)C;
    float* dx = dinp + bt * C;
    for (size_t c = 0; c < C; c++) {
        float n = (x[c] - m) * s;
        dx[c] += (d[c] * weight[c] - gmean - n * gnmean) * s;
    }
}

// dweight = sum over rows of dout * n, dbias = sum of dout: one thread per channel, rows in order
// (deterministic, no atomics).
__global__ static void layernorm_backward_params_kernel(float* dweight, float* dbias, const float* dout,
                                                        const float* inp, const float* mean, const float* rstd,
                                                        size_t BT, size_t C) {
    size_t c = thread_index();
    if (c >= C) return;
    float dw = 0.0f, db = 0.0f;
    for (size_t bt = 0; bt < BT; bt++) {
        float d = dout[bt * C + c];
        dw += d * (inp[bt * C + c] - mean[bt]) * rstd[bt];
        db += d;
    }
    dweight[c] += dw;
    dbias[c] += db;
}

// out (rows, OC) = bias broadcast into every row.
__global__ static void bias_broadcast_kernel(float* out, const float* bias, size_t rows, size_t OC) {
    size_t i = thread_index();
    if (i >= rows * OC) return;
    out[i] = bias[i % OC];
}

// dbias (OC) += column sums of dout (rows, OC): one thread per column, rows in order.
__global__ static void column_sum_kernel(float* dbias, const float* dout, size_t rows, size_t OC) {
    size_t o = thread_index();
    if (o >= OC) return;
    float s = 0.0f;
    for (size_t r = 0; r < rows; r++) s += dout[r * OC + o];
    dbias[o] += s;
}

// Causal softmax of one row of preatt (B,NH,T,T), one thread per (b, h, t): att[j] for j <= t, and
// zeros above the diagonal in both preatt and att (as attention_forward leaves them); stats (rows, 2),
// if not NULL, gets the row's max and 1/sum (attention_forward_stats).
__global__ static void attention_softmax_kernel(float* preatt, float* att, float* stats, size_t rows, size_t T) {
    size_t r = thread_index();
    if (r >= rows) return;
    size_t t = r % T;
    float* pt = preatt + r * T;
    float* at = att + r * T;
    float maxv = pt[0];
    for (size_t j = 1; j <= t; j++) maxv = pt[j] > maxv ? pt[j] : maxv;
    float sum = 0.0f;
    for (size_t j = 0; j <= t; j++) {
        at[j] = expf(pt[j] - maxv);
        sum += at[j];
    }
    float inv = 1.0f / sum;
    for (size_t j = 0; j <= t; j++) at[j] *= inv;
    for (size_t j = t + 1; j < T; j++) {
        pt[j] = 0.0f;
        at[j] = 0.0f;
    }
    if (stats) {
        stats[2 * r] = maxv;
        stats[2 * r + 1] = inv;
    }
}

// The weights of rows of scores pre (rows, T) from their statistics (rows, 2), in place:
// pre[j] = expf(pre[j] - max) * inv for j <= t (as attention_softmax_kernel made them), 0 above.
__global__ static void attention_rebuild_kernel(float* pre, const float* stats, size_t rows, size_t T) {
    size_t r = thread_index();
    if (r >= rows) return;
    size_t t = r % T;
    float* pt = pre + r * T;
    float m = stats[2 * r], inv = stats[2 * r + 1];
    for (size_t j = 0; j <= t; j++) pt[j] = expf(pt[j] - m) * inv;
    for (size_t j = t + 1; j < T; j++) pt[j] = 0.0f;
}

// Softmax backward of the rows of one sequence b, one thread per (h, t): datt += local (= dout·vᵀ),
// dpreatt += att * (datt - sum_j att * datt) for j <= t; local becomes dpreatt, 0 above the diagonal
// (the operand of the dq and dk products). att, datt, dpreatt are (NH,T,T) slices of sequence b;
// datt and dpreatt may be NULL (attention_backward_stats): local then holds them itself.
__global__ static void attention_softmax_backward_kernel(float* dpreatt, float* datt, float* local,
                                                         const float* att, size_t rows, size_t T) {
    size_t r = thread_index();
    if (r >= rows) return;
    softmax_backward_row(att + r * T, local + r * T, datt ? datt + r * T : NULL, dpreatt ? dpreatt + r * T : NULL,
                         r % T, T);
}

// GELU (formulas in layer_math.h): gelu(x) = x sigmoid(2u).
__global__ static void gelu_forward_kernel(float* out, const float* inp, size_t N) {
    size_t i = thread_index();
    if (i >= N) return;
    float x = inp[i];
    out[i] = x / (1.0f + expf(-2.0f * gelu_arg(x)));
}

__global__ static void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, size_t N) {
    size_t i = thread_index();
    if (i >= N) return;
    float x = inp[i];
    float sg = 1.0f / (1.0f + expf(-2.0f * gelu_arg(x)));
    dinp[i] += gelu_grad(x, sg) * dout[i];
}

__global__ static void residual_forward_kernel(float* out, const float* inp1, const float* inp2, size_t N) {
    size_t i = thread_index();
    if (i >= N) return;
    out[i] = inp1[i] + inp2[i];
}

__global__ static void residual_backward_kernel(float* dinp1, float* dinp2, const float* dout, size_t N) {
    size_t i = thread_index();
    if (i >= N) return;
    dinp1[i] += dout[i];
    dinp2[i] += dout[i];
}

// Fused softmax + cross-entropy, one thread per row: lse = log sum_v e^logit_v and losses = lse -
// logit[target]; both 0 where the target is -1 (or targets is NULL).
__global__ static void crossentropy_forward_kernel(float* lse, float* losses, const float* logits,
                                                   const int* targets, size_t BT, size_t V) {
    size_t bt = thread_index();
    if (bt >= BT) return;
    int tg = targets ? targets[bt] : -1;
    if (tg < 0) {
        lse[bt] = 0.0f;
        losses[bt] = 0.0f;
        return;
    }
    const float* lo = logits + bt * V;
    float maxv = lo[0];
    for (size_t v = 1; v < V; v++) maxv = lo[v] > maxv ? lo[v] : maxv;
    float sum = 0.0f;
    for (size_t v = 0; v < V; v++) sum += expf(lo[v] - maxv);
    float ls = logf(sum) + maxv;
    lse[bt] = ls;
    losses[bt] = ls - lo[tg];
}

// dlogits += (e^(logits - lse) - onehot(target)) * dlosses, skipping rows with target -1: one thread
// per element.
__global__ static void crossentropy_backward_kernel(float* dlogits, const float* dlosses, const float* logits,
                                                    const float* lse, const int* targets, size_t BT, size_t V) {
    size_t i = thread_index();
    if (i >= BT * V) return;
    size_t bt = i / V, v = i % V;
    int tg = targets ? targets[bt] : -1;
    if (tg < 0) return;
    float g = dlosses[bt];
    float d = dlogits[i] + expf(logits[i] - lse[bt]) * g;
    if ((size_t)tg == v) d -= g;
    dlogits[i] = d;
}

// AdamW, as gpt_update: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g², p -= lr (m̂/(sqrt(v̂)+eps) + wd p).
__global__ static void adamw_kernel(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1,
                                    float beta2, float bc1, float bc2, float eps, float wd) {
    size_t i = thread_index();
    if (i >= n) return;
    float gk = g[i];
    float mk = beta1 * m[i] + (1.0f - beta1) * gk;
    float vk = beta2 * v[i] + (1.0f - beta2) * gk * gk;
    m[i] = mk;
    v[i] = vk;
    float mhat = mk / bc1, vhat = vk / bc2;
    p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
}

// partial[k] = sum of x[i]^2 over i = k, k + nt, k + 2 nt, ... in double (reads are coalesced).
__global__ static void sum_squares_kernel(double* partial, const float* x, size_t n, size_t nt) {
    size_t k = thread_index();
    if (k >= nt) return;
    double s = 0.0;
    for (size_t i = k; i < n; i += nt) s += (double)x[i] * (double)x[i];
    partial[k] = s;
}

__global__ static void scale_kernel(float* x, float s, size_t n) {
    size_t i = thread_index();
    if (i >= n) return;
    x[i] *= s;
}

// Probe assignment of one row: logits (N, n_pad) = z·Wt (from cuBLAS) scaled by 1/|z|, softmax over
// the n_bins real bins into out (N, n_bins); a zero or non-finite |z| gets the uniform row.
__global__ static void probe_softmax_kernel(float* out, const float* logits, const float* z, size_t N, size_t d,
                                           size_t n, size_t n_pad) {
    size_t r = thread_index();
    if (r >= N) return;
    const float* zr = z + r * d;
    float ss = 0.0f;
    for (size_t k = 0; k < d; k++) ss += zr[k] * zr[k];
    float* o = out + r * n;
    if (!(ss > 0.0f) || isinf(ss)) {
        for (size_t j = 0; j < n; j++) o[j] = 1.0f / (float)n;
        return;
    }
    float inv = 1.0f / sqrtf(ss);
    const float* lo = logits + r * n_pad;
    float mx = lo[0] * inv;
    for (size_t j = 1; j < n; j++) mx = lo[j] * inv > mx ? lo[j] * inv : mx;
    float sum = 0.0f;
    for (size_t j = 0; j < n; j++) {
        o[j] = expf(lo[j] * inv - mx);
        sum += o[j];
    }
    float is = 1.0f / sum;
    for (size_t j = 0; j < n; j++) o[j] *= is;
}

// ============================================================================
// the layer API (gpu.h): shapes as in layers.h

extern "C" void gpu_encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, size_t B,
                                    size_t T, size_t C) {
    LAUNCH_N(encoder_forward_kernel, B * T * C, out, inp, wte, wpe, B * T, T, C);
}

extern "C" void gpu_encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, size_t B,
                                     size_t T, size_t C) {
    LAUNCH_N(encoder_backward_kernel, C, dwte, dwpe, dout, inp, B * T, T, C);
}

extern "C" void gpu_layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                      const float* bias, size_t B, size_t T, size_t C) {
    LAUNCH_N(layernorm_forward_kernel, B * T, out, mean, rstd, inp, weight, bias, B * T, C);
}

extern "C" void gpu_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                       const float* inp, const float* weight, const float* mean,
                                       const float* rstd, size_t B, size_t T, size_t C) {
    LAUNCH_N(layernorm_backward_dinp_kernel, B * T, dinp, dout, inp, weight, mean, rstd, B * T, C);
    LAUNCH_N(layernorm_backward_params_kernel, C, dweight, dbias, dout, inp, mean, rstd, B * T, C);
}

// The products' precision argument of layers.h: bf16 products are a CPU path (train.c refuses
// --precision bf16 in the GPU build), so anything but fp32 here is a caller's bug.
static void fp32_only(GemmPrecision prec, const char* what) {
    if (prec != GEMM_FP32) fatal("%s: bf16 products are not implemented on the GPU backend", what);
}

// out (B,T,OC) = inp (B,T,C) · weight (C,OC) + bias: the bias broadcast first, then one SGEMM with
// beta = 1 on top of it (beta = 0 without bias).
extern "C" void gpu_matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t B,
                                   size_t T, size_t C, size_t OC, GemmPrecision prec) {
    fp32_only(prec, "gpu_matmul_forward");
    size_t BT = B * T;
    if (bias) LAUNCH_N(bias_broadcast_kernel, BT * OC, out, bias, BT, OC);
    gpu_sgemm(0, 0, BT, OC, C, 1.0f, inp, C, weight, OC, bias ? 1.0f : 0.0f, out, OC);
}

// dinp (B,T,C) += dout · weightᵀ; dweight (C,OC) += inpᵀ · dout; dbias (OC) += column sums of dout.
extern "C" void gpu_matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                    const float* inp, const float* weight, size_t B, size_t T, size_t C,
                                    size_t OC, GemmPrecision prec) {
    fp32_only(prec, "gpu_matmul_backward");
    size_t BT = B * T;
    gpu_sgemm(0, 1, BT, C, OC, 1.0f, dout, OC, weight, OC, 1.0f, dinp, C);
    gpu_sgemm(1, 0, C, OC, BT, 1.0f, inp, C, dout, OC, 1.0f, dweight, OC);
    if (dbias) LAUNCH_N(column_sum_kernel, OC, dbias, dout, BT, OC);
}

// Causal self-attention, per sequence b: preatt = scale q kᵀ for all NH heads in one strided batch
// (head h's q, k, v start hs floats after head h-1's, rows 3C apart), then the causal softmax for
// every row, then out = att · v (att is zero above the diagonal, so the full product is the causal
// one). The full T x T products do about twice the causal work; simple over fast.
extern "C" void gpu_attention_forward(float* out, float* preatt, float* att, const float* inp, size_t B, size_t T,
                                      size_t C, size_t NH) {
    size_t C3 = 3 * C, hs = C / NH, TT = T * T;
    float scale = 1.0f / sqrtf((float)hs);
    for (size_t b = 0; b < B; b++) {
        const float* q = inp + b * T * C3;
        gpu_sgemm_batched(0, 1, T, T, hs, scale, q, C3, hs, q + C, C3, hs, 0.0f, preatt + b * NH * TT, T, TT, NH);
    }
    LAUNCH_N(attention_softmax_kernel, B * NH * T, preatt, att, (float*)NULL, B * NH * T, T);
    for (size_t b = 0; b < B; b++) {
        const float* v = inp + b * T * C3 + 2 * C;
        gpu_sgemm_batched(0, 0, T, hs, T, 1.0f, att + b * NH * TT, T, TT, v, C3, hs, 0.0f, out + b * T * C, C, hs,
                          NH);
    }
}

// Backward of gpu_attention_forward, per sequence b, all heads batched: local = dout · vᵀ, the
// softmax backward (local becomes dpreatt), then dv += attᵀ · dout, dq += scale dpreatt · k,
// dk += scale dpreattᵀ · q. local is device scratch (NH,T,T) reused by each sequence in turn
// (the kernels of one stream run in order).
extern "C" void gpu_attention_backward(float* dinp, float* dpreatt, float* datt, const float* dout,
                                       const float* inp, const float* att, size_t B, size_t T, size_t C,
                                       size_t NH) {
    size_t C3 = 3 * C, hs = C / NH, TT = T * T;
    float scale = 1.0f / sqrtf((float)hs);
    float* local = scratch(NH * TT);
    for (size_t b = 0; b < B; b++) {
        const float* q = inp + b * T * C3;
        const float* k = q + C;
        const float* v = q + 2 * C;
        float* dq = dinp + b * T * C3;
        float* dk = dq + C;
        float* dv = dq + 2 * C;
        const float* d = dout + b * T * C;
        const float* a = att + b * NH * TT;
        gpu_sgemm_batched(0, 1, T, T, hs, 1.0f, d, C, hs, v, C3, hs, 0.0f, local, T, TT, NH);
        LAUNCH_N(attention_softmax_backward_kernel, NH * T, dpreatt + b * NH * TT, datt + b * NH * TT, local, a,
                 NH * T, T);
        gpu_sgemm_batched(1, 0, T, hs, T, 1.0f, a, T, TT, d, C, hs, 1.0f, dv, C3, hs, NH);
        gpu_sgemm_batched(0, 0, T, hs, T, scale, local, T, TT, k, C3, hs, 1.0f, dq, C3, hs, NH);
        gpu_sgemm_batched(1, 0, T, hs, T, scale, local, T, TT, q, C3, hs, 1.0f, dk, C3, hs, NH);
    }
}

// As gpu_attention_forward, keeping only stats (B,NH,T,2) (each row's max score and 1/sum): the
// scores and weights of one sequence live in device scratch (2 x (NH,T,T)).
extern "C" void gpu_attention_forward_stats(float* out, float* stats, const float* inp, size_t B, size_t T,
                                            size_t C, size_t NH, GemmPrecision prec) {
    fp32_only(prec, "gpu_attention_forward_stats");
    size_t C3 = 3 * C, hs = C / NH, TT = T * T;
    float scale = 1.0f / sqrtf((float)hs);
    float* pre = scratch(2 * NH * TT);
    float* att = pre + NH * TT;
    for (size_t b = 0; b < B; b++) {
        const float* q = inp + b * T * C3;
        gpu_sgemm_batched(0, 1, T, T, hs, scale, q, C3, hs, q + C, C3, hs, 0.0f, pre, T, TT, NH);
        LAUNCH_N(attention_softmax_kernel, NH * T, pre, att, stats + b * NH * T * 2, NH * T, T);
        gpu_sgemm_batched(0, 0, T, hs, T, 1.0f, att, T, TT, q + 2 * C, C3, hs, 0.0f, out + b * T * C, C, hs, NH);
    }
}

// Backward of gpu_attention_forward_stats, per sequence: the scores again (scale q kᵀ), the weights
// rebuilt from them and the statistics exactly as the forward made them, then gpu_attention_backward's
// steps with local as the only (NH,T,T) gradient buffer.
extern "C" void gpu_attention_backward_stats(float* dinp, const float* dout, const float* inp, const float* stats,
                                             size_t B, size_t T, size_t C, size_t NH, GemmPrecision prec) {
    fp32_only(prec, "gpu_attention_backward_stats");
    size_t C3 = 3 * C, hs = C / NH, TT = T * T;
    float scale = 1.0f / sqrtf((float)hs);
    float* a = scratch(2 * NH * TT);
    float* local = a + NH * TT;
    for (size_t b = 0; b < B; b++) {
        const float* q = inp + b * T * C3;
        const float* k = q + C;
        const float* v = q + 2 * C;
        float* dq = dinp + b * T * C3;
        const float* d = dout + b * T * C;
        gpu_sgemm_batched(0, 1, T, T, hs, scale, q, C3, hs, k, C3, hs, 0.0f, a, T, TT, NH);
        LAUNCH_N(attention_rebuild_kernel, NH * T, a, stats + b * NH * T * 2, NH * T, T);
        gpu_sgemm_batched(0, 1, T, T, hs, 1.0f, d, C, hs, v, C3, hs, 0.0f, local, T, TT, NH);
        LAUNCH_N(attention_softmax_backward_kernel, NH * T, (float*)NULL, (float*)NULL, local, a, NH * T, T);
        gpu_sgemm_batched(1, 0, T, hs, T, 1.0f, a, T, TT, d, C, hs, 1.0f, dq + 2 * C, C3, hs, NH);
        gpu_sgemm_batched(0, 0, T, hs, T, scale, local, T, TT, k, C3, hs, 1.0f, dq, C3, hs, NH);
        gpu_sgemm_batched(1, 0, T, hs, T, scale, local, T, TT, q, C3, hs, 1.0f, dq + C, C3, hs, NH);
    }
}

extern "C" void gpu_gelu_forward(float* out, const float* inp, size_t N) {
    LAUNCH_N(gelu_forward_kernel, N, out, inp, N);
}

extern "C" void gpu_gelu_backward(float* dinp, const float* inp, const float* dout, size_t N) {
    LAUNCH_N(gelu_backward_kernel, N, dinp, inp, dout, N);
}

extern "C" void gpu_residual_forward(float* out, const float* inp1, const float* inp2, size_t N) {
    LAUNCH_N(residual_forward_kernel, N, out, inp1, inp2, N);
}

extern "C" void gpu_residual_backward(float* dinp1, float* dinp2, const float* dout, size_t N) {
    LAUNCH_N(residual_backward_kernel, N, dinp1, dinp2, dout, N);
}

// logits (B,T,V) = inp (B,T,C) · wteᵀ, wte (V,C).
extern "C" void gpu_lm_head_forward(float* logits, const float* inp, const float* wte, size_t B, size_t T,
                                    size_t C, size_t V, GemmPrecision prec) {
    fp32_only(prec, "gpu_lm_head_forward");
    gpu_sgemm(0, 1, B * T, V, C, 1.0f, inp, C, wte, C, 0.0f, logits, V);
}

// dinp (B,T,C) += dlogits · wte; dwte (V,C) += dlogitsᵀ · inp.
extern "C" void gpu_lm_head_backward(float* dinp, float* dwte, const float* dlogits, const float* inp,
                                     const float* wte, size_t B, size_t T, size_t C, size_t V, GemmPrecision prec) {
    fp32_only(prec, "gpu_lm_head_backward");
    size_t BT = B * T;
    gpu_sgemm(0, 0, BT, C, V, 1.0f, dlogits, V, wte, C, 1.0f, dinp, C);
    gpu_sgemm(1, 0, V, C, BT, 1.0f, dlogits, V, inp, C, 1.0f, dwte, C);
}

extern "C" void gpu_crossentropy_forward(float* lse, float* losses, const float* logits, const int* targets,
                                         size_t B, size_t T, size_t V) {
    LAUNCH_N(crossentropy_forward_kernel, B * T, lse, losses, logits, targets, B * T, V);
}

extern "C" void gpu_crossentropy_backward(float* dlogits, const float* dlosses, const float* logits,
                                          const float* lse, const int* targets, size_t B, size_t T, size_t V) {
    LAUNCH_N(crossentropy_backward_kernel, B * T * V, dlogits, dlosses, logits, lse, targets, B * T, V);
}

extern "C" void gpu_adamw(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1,
                          float beta2, float bc1, float bc2, float eps, float wd) {
    LAUNCH_N(adamw_kernel, n, p, g, m, v, n, lr, beta1, beta2, bc1, bc2, eps, wd);
}

// A fixed number of partial sums (so the result does not depend on anything but n), summed on the host.
#define SUMSQ_THREADS 16384
extern "C" double gpu_sum_squares(const float* x, size_t n) {
    if (n == 0) return 0.0;
    if (!gpu_state.partial) CUDA_CHECK(cudaMalloc((void**)&gpu_state.partial, SUMSQ_THREADS * sizeof(double)));
    size_t nt = n < SUMSQ_THREADS ? n : SUMSQ_THREADS;
    LAUNCH_N(sum_squares_kernel, nt, gpu_state.partial, x, n, nt);
    double part[SUMSQ_THREADS];
    CUDA_CHECK(cudaMemcpy(part, gpu_state.partial, nt * sizeof(double), cudaMemcpyDeviceToHost));
    double s = 0.0;
    for (size_t k = 0; k < nt; k++) s += part[k];
    return s;
}

extern "C" void gpu_scale_floats(float* x, float s, size_t n) { LAUNCH_N(scale_kernel, n, x, s, n); }

// Copies z (host or device: cudaMemcpyDefault tells them apart) and Wt to the device, runs the
// (N, d) x (d, n_pad) product through cuBLAS and the per-row softmax, and copies back out (N, n_bins).
extern "C" void gpu_probe_assign(float* out, const float* z, const float* Wt, size_t N, size_t d, size_t n_bins,
                                 size_t n_pad) {
    if (N == 0) return;
    gpu_init(-1);
    float *zd, *wd, *logits, *od;
    CUDA_CHECK(cudaMalloc((void**)&zd, N * d * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void**)&wd, d * n_pad * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void**)&logits, N * n_pad * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void**)&od, N * n_bins * sizeof(float)));
    CUDA_CHECK(cudaMemcpy(zd, z, N * d * sizeof(float), cudaMemcpyDefault));
    CUDA_CHECK(cudaMemcpy(wd, Wt, d * n_pad * sizeof(float), cudaMemcpyHostToDevice));
    gpu_sgemm(0, 0, N, n_pad, d, 1.0f, zd, d, wd, n_pad, 0.0f, logits, n_pad);
    LAUNCH_N(probe_softmax_kernel, N, od, logits, zd, N, d, n_bins, n_pad);
    CUDA_CHECK(cudaMemcpy(out, od, N * n_bins * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaFree(zd));
    CUDA_CHECK(cudaFree(wd));
    CUDA_CHECK(cudaFree(logits));
    CUDA_CHECK(cudaFree(od));
}
