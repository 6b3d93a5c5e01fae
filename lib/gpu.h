// gpu.h: the GPU backend of the GPU build (make USE_CUBLAS=1): device versions of the layer
// kernels of layers.h, with the same arguments, math and row-major layouts, so that model.c runs
// one forward/backward/update code path and only picks the kernel set at build time.
//
// Memory: every float*/int* argument is device-accessible. The GPU build allocates the model's
// parameters, gradients, AdamW moments, activations, inputs and targets with gpu_alloc, which is
// CUDA managed memory: the device uses it in place, and host code (checkpoints, --resume, sampling,
// the tests) reads and writes the same pointers once no kernel is running. Every gpt_* call of the
// GPU build ends with gpu_sync(), so between gpt_* calls host access is always safe. This keeps
// train.c, checkpoints and probes shared with the CPU build instead of copied with explicit
// host<->device transfers at each of their many host accesses.
//
// Kernels are one thread per element or per row, without shared memory, __syncthreads or warp
// shuffles: correctness over peak speed. That is what lets gpu.cu also compile as plain C++ under
// -DGPU_EMULATE (`make test` on a machine without a GPU): launches become sequential loops over
// blocks and threads, device memory is host memory and the cuBLAS calls are a reference
// column-major SGEMM written from the cuBLAS documentation (see gpu.cu).
#ifndef GPU_H
#define GPU_H

#include <stddef.h>

#include "gemm.h" // GemmPrecision

#ifdef __cplusplus
extern "C" {
#endif

// Selects device 0 and creates the cuBLAS handle, once; returns the device's name. With no device
// it prints "error: no CUDA device found (cudaGetDeviceCount: ...)" and exits with status 1.
// tf32 1: matrix products in TF32 tensor-core math (10-bit mantissa inputs, fp32 accumulate);
// 0: plain fp32. Later calls only change the math mode.
const char* gpu_init(int tf32);

void* gpu_alloc(size_t bytes);       // managed memory, contents undefined
void* gpu_alloc_zero(size_t bytes);  // managed memory, zeroed
void gpu_free(void* p);              // NULL is a no-op
void gpu_memset_zero(void* p, size_t bytes);
void gpu_sync(void);                 // waits for every kernel; checks for asynchronous errors

// Row-major SGEMM with gemm.h's sgemm arguments: C (M,N) = alpha op(A) op(B) + beta C, op(A) (M,K),
// op(B) (K,N); ta/tb 1 = the operand is stored transposed. beta = 0 ignores C's contents.
void gpu_sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
               const float* B, size_t ldb, float beta, float* C, size_t ldc);
// The same for `batch` independent products, operand i at A + i*sA, B + i*sB, C + i*sC.
void gpu_sgemm_batched(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                       size_t sA, const float* B, size_t ldb, size_t sB, float beta, float* C, size_t ldc,
                       size_t sC, size_t batch);

// Layer kernels: same contracts as the functions of the same name without gpu_ in layers.h.
void gpu_encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, size_t B, size_t T,
                         size_t C);
void gpu_encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, size_t B, size_t T,
                          size_t C);
void gpu_layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, size_t B, size_t T, size_t C);
void gpu_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const float* mean, const float* rstd, size_t B, size_t T,
                            size_t C);
// (the products' precision argument must be GEMM_FP32: bf16 products are a CPU path, and the GPU
// build's ./train refuses --precision bf16; TF32 is gpu_init's switch)
void gpu_matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t B, size_t T,
                        size_t C, size_t OC, GemmPrecision prec);
void gpu_matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, size_t B, size_t T, size_t C, size_t OC, GemmPrecision prec);
void gpu_attention_forward(float* out, float* preatt, float* att, const float* inp, size_t B, size_t T, size_t C,
                           size_t NH);
void gpu_attention_backward(float* dinp, float* dpreatt, float* datt, const float* dout, const float* inp,
                            const float* att, size_t B, size_t T, size_t C, size_t NH);
void gpu_gelu_forward(float* out, const float* inp, size_t N);
void gpu_gelu_backward(float* dinp, const float* inp, const float* dout, size_t N);
void gpu_residual_forward(float* out, const float* inp1, const float* inp2, size_t N);
void gpu_residual_backward(float* dinp1, float* dinp2, const float* dout, size_t N);
void gpu_lm_head_forward(float* logits, const float* inp, const float* wte, size_t B, size_t T, size_t C,
                         size_t V, GemmPrecision prec);
void gpu_lm_head_backward(float* dinp, float* dwte, const float* dlogits, const float* inp, const float* wte,
                          size_t B, size_t T, size_t C, size_t V, GemmPrecision prec);
void gpu_attention_forward_stats(float* out, float* stats, const float* inp, size_t B, size_t T, size_t C,
                                 size_t NH, GemmPrecision prec);
void gpu_attention_backward_stats(float* dinp, const float* dout, const float* inp, const float* stats, size_t B,
                                  size_t T, size_t C, size_t NH, GemmPrecision prec);
void gpu_crossentropy_forward(float* lse, float* losses, const float* logits, const int* targets, size_t B,
                              size_t T, size_t V);
void gpu_crossentropy_backward(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                               const int* targets, size_t B, size_t T, size_t V);

// One AdamW step on n parameters (gpt_update's formula; bc1, bc2 are the bias corrections
// 1 - beta^t and wd is 0 for tensors without decay).
void gpu_adamw(float* p, const float* g, float* m, float* v, size_t n, float lr, float beta1, float beta2,
               float bc1, float bc2, float eps, float wd);
// Sum of x[i]^2 in double, in a fixed order (the same result on every run).
double gpu_sum_squares(const float* x, size_t n);
void gpu_scale_floats(float* x, float s, size_t n); // x *= s

// The probes' soft bin assignment (probe_assign in probes.h) on the device: z (N, d) may be host or
// device memory; Wt (d, n_pad) is W transposed and scaled by 1/eps (ProbeBins.Wt, host memory);
// out (N, n_bins) host memory receives softmax(normalise(z)·Wᵀ/eps), uniform for a zero row.
// Only out comes back from the device.
void gpu_probe_assign(float* out, const float* z, const float* Wt, size_t N, size_t d, size_t n_bins,
                      size_t n_pad);

#ifdef __cplusplus
}
#endif
#endif // GPU_H
