// gpu_emu.h: the subset of CUDA and cuBLAS that gpu.cu uses, emulated on the CPU, so that
// gpu.cu compiled as C++ with -DGPU_EMULATE runs its kernels, launch sizes, memory calls and
// cuBLAS calls on a machine without a GPU (`make test` builds ./test_gpt_emu this way).
//
// - __global__/__device__ vanish; blockIdx/threadIdx/blockDim/gridDim are thread-local variables
//   that LAUNCH sets while it calls the kernel once per (block, thread), blocks in order. This is
//   only faithful for kernels whose threads do not talk to each other: no shared memory, no
//   __syncthreads, no warp shuffles; gpu.cu's kernels are written that way on purpose.
// - Device and managed memory are malloc'd host memory; copies are memcpy.
// - cublasSgemm / cublasSgemmStridedBatched are a naive column-major reference written from the
//   cuBLAS documentation (C = alpha op(A) op(B) + beta C, element (i,j) of a column-major matrix at
//   i + j*ld, op = N or T), independently of the row-major wrapper in gpu.cu, and they check the
//   leading dimensions as cuBLAS does; so a wrong operand order, transpose or stride in gpu.cu
//   fails the tests here. Under CUBLAS_TF32_TENSOR_OP_MATH the inputs are rounded to TF32 (10-bit
//   mantissa, round to nearest) as tensor cores do, with the sums kept in higher precision.
#ifndef GPU_EMU_H
#define GPU_EMU_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define __global__
#define __device__

struct dim3 {
    unsigned x, y, z;
};
static thread_local dim3 blockIdx, threadIdx, blockDim, gridDim;

// kernel<<<grid, block>>>(args...) as a loop over every (block, thread), in order.
#define LAUNCH(kernel, grid, block, ...)                                                                     \
    do {                                                                                                     \
        gridDim = dim3{(unsigned)(grid), 1, 1};                                                              \
        blockDim = dim3{(unsigned)(block), 1, 1};                                                            \
        for (unsigned emu_b = 0; emu_b < gridDim.x; emu_b++)                                                 \
            for (unsigned emu_t = 0; emu_t < blockDim.x; emu_t++) {                                          \
                blockIdx = dim3{emu_b, 0, 0};                                                                \
                threadIdx = dim3{emu_t, 0, 0};                                                               \
                kernel(__VA_ARGS__);                                                                         \
            }                                                                                                \
    } while (0)

// ---- runtime

typedef enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorNoDevice = 100 } cudaError_t;
typedef enum {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;
#define cudaMemAttachGlobal 1u
typedef struct {
    char name[256];
    int managedMemory;
} cudaDeviceProp;

static inline const char* cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    }
    return "unknown error";
}
// One emulated device; GPU_EMULATE_NO_DEVICE=1 in the environment makes it absent, to exercise
// the no-device path.
static inline cudaError_t cudaGetDeviceCount(int* n) {
    const char* e = getenv("GPU_EMULATE_NO_DEVICE");
    if (e && strcmp(e, "1") == 0) {
        *n = 0;
        return cudaErrorNoDevice;
    }
    *n = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorNoDevice; }
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
    if (d != 0) return cudaErrorNoDevice;
    memset(p, 0, sizeof *p);
    strcpy(p->name, "CPU emulation of gpu.cu (GPU_EMULATE)");
    p->managedMemory = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaMalloc(void** p, size_t n) {
    *p = malloc(n ? n : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaMallocManaged(void** p, size_t n, unsigned flags) {
    (void)flags;
    return cudaMalloc(p, n);
}
static inline cudaError_t cudaFree(void* p) {
    free(p);
    return cudaSuccess;
}
static inline cudaError_t cudaMemset(void* p, int v, size_t n) {
    memset(p, v, n);
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
    (void)kind;
    memmove(dst, src, n);
    return cudaSuccess;
}
static inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }

// ---- cuBLAS

typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
typedef struct EmuBlas {
    cublasMath_t math;
}* cublasHandle_t;

static inline const char* cublasGetStatusString(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}
static inline cublasStatus_t cublasCreate(cublasHandle_t* h) {
    *h = (cublasHandle_t)calloc(1, sizeof **h);
    return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasDestroy(cublasHandle_t h) {
    free(h);
    return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
    h->math = m;
    return CUBLAS_STATUS_SUCCESS;
}

// fp32 -> TF32: keep 10 mantissa bits, round to nearest (ties away from zero), as cvt.rna.tf32.f32.
static inline double emu_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u; // leave inf/nan alone
    float r;
    memcpy(&r, &u, sizeof r);
    return (double)r;
}

// Column-major reference: C (m,n) = alpha op(A) op(B) + beta C with op(A) (m,k), op(B) (k,n);
// A is lda x ka with ka = k (N) or m (T); with beta == 0, C is not read (it may hold NaN).
static inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t transa,
                                                       cublasOperation_t transb, int m, int n, int k,
                                                       const float* alpha, const float* A, int lda,
                                                       long long strideA, const float* B, int ldb,
                                                       long long strideB, const float* beta, float* C, int ldc,
                                                       long long strideC, int batchCount) {
    int arows = transa == CUBLAS_OP_N ? m : k, brows = transb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || batchCount < 0 || lda < (arows > 1 ? arows : 1) ||
        ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    int tf32 = h->math == CUBLAS_TF32_TENSOR_OP_MATH;
    for (int p = 0; p < batchCount; p++) {
        const float* a = A + p * strideA;
        const float* b = B + p * strideB;
        float* c = C + p * strideC;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double s = 0.0;
                for (int l = 0; l < k; l++) {
                    float x = transa == CUBLAS_OP_N ? a[i + (size_t)l * lda] : a[l + (size_t)i * lda];
                    float y = transb == CUBLAS_OP_N ? b[l + (size_t)j * ldb] : b[j + (size_t)l * ldb];
                    s += tf32 ? emu_tf32(x) * emu_tf32(y) : (double)x * (double)y;
                }
                float* cij = c + i + (size_t)j * ldc;
                *cij = *beta == 0.0f ? (float)((double)*alpha * s)
                                     : (float)((double)*alpha * s + (double)*beta * (double)*cij);
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}

static inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float* alpha, const float* A, int lda,
                                         const float* B, int ldb, const float* beta, float* C, int ldc) {
    return cublasSgemmStridedBatched(h, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

#endif // GPU_EMU_H
