// gemm.h: single-precision matrix multiply (SGEMM) for the training step, row-major:
//
//     C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
//
// op(X) is X or its transpose. The products of a training step, with the Conv1D weight layout
// W (C,OC) and the tied LM head wte (V,C):
//     forward      out (BT,OC)   = inp (BT,C) · W (C,OC)           sgemm(0, 0, ...)
//     dinp         dinp (BT,C)  += dout (BT,OC) · Wᵀ               sgemm(0, 1, ...)
//     dW           dW (C,OC)    += inpᵀ · dout                     sgemm(1, 0, ...)
//     LM head      logits (BT,V) = lnf (BT,C) · wteᵀ               sgemm(0, 1, ...)
//     its dinp     dlnf (BT,C)  += dlogits (BT,V) · wte (V,C)      sgemm(0, 0, ...)
//     its dW       dwte (V,C)   += dlogitsᵀ · lnf                  sgemm(1, 0, ...)
//
// Design (Goto/BLIS scheme):
//
//   for jc in N step NC
//     for p0 in K step KP                    B panel (KP x NC), shared by threads (in L3)
//       pack op(B)[p0:p0+KP, jc:jc+NC]       threads split it: op(B) = B by 16-row strips of a
//                                            slab (all its slivers), op(B) = Bᵀ by slivers
//       parallel for (ic, jb) tasks          row block of MC x column chunk of the panel,
//                                            handed out one at a time (dynamic schedule)
//         for pc in p0..p0+KP step KC
//           pack op(A)[ic:ic+MC, pc:pc+KC]   into the thread's own buffer (stays in its L2)
//           for jr in chunk step NR          B sliver (KC x NR) stays in L1 over the ir loop
//             for ir in MC step MR
//               micro-kernel: C[ir:+MR, jr:+NR] += Apack sliver · Bpack sliver
//
// About 4 tasks per thread: on a machine shared with other processes a thread that loses its
// core for a while does not hold the others up at the barrier (a static split would). Column
// chunks stay >= 128 wide so that packing an A block is amortised over enough columns.
//
// Packing layout. A block: MR-tall slivers, each stored k-major: sliver s holds
// a[k*MR + i] = alpha * op(A)[ic + s*MR + i][pc + k], rows past M zero-padded. B panel: NR-wide
// slivers stored k-major: b[k*NR + j] = op(B)[pc + k][jc + s*NR + j], columns past N zero-padded.
// So the micro-kernel reads both operands with unit stride, whatever the transposition, and
// never branches on edges: a tile that sticks out of C is computed into a local MR x NR tile
// and only its valid part is added to C.
//
// Packing order. The source is read along its rows, front to back: a row of B (op(B) = B) or of A
// (op(A) = Aᵀ) is copied into every sliver it feeds before the next row; rows read the other way
// (op(A) = A, op(B) = Bᵀ) are transposed 8 x 8 (AVX2) or 16 x 16 (AVX-512) in registers. Filling
// one sliver at a time instead read a few floats from each of kc rows a whole row apart (often a
// page): the hardware prefetcher does not follow that, and on a machine whose memory gives a core
// 2-4 GB/s (the AVX2 development machine) packing took 20-30% of a dW product.
//
// Micro-kernels (register tiles; the accumulators never leave registers over the k loop):
//   AVX-512  14 x 32: 28 zmm accumulators + 2 for the B row; per k: 2 loads of B, 14 broadcasts
//            of A, 28 FMAs (2 FMA ports: 14 cycles, within the load ports' budget).
//   AVX2      6 x 16: 12 ymm accumulators + 2 for B + 1 broadcast = 15 of 16 registers.
//   portable  4 x 16: plain C the compiler may vectorise; also the reference path of the tests.
// Kernels are compiled with target attributes and chosen at run time (__builtin_cpu_supports),
// so one binary runs everywhere; the environment variable FORGETFUL_GEMM=portable|avx2|avx512
// forces a path (an unavailable one falls back to portable), and sgemm_with() takes it as an
// argument (the tests run every path).
//
// Blocking sizes (Zen 4 / Sapphire Rapids class: L1d 32-48 KiB, L2 1-2 MiB per core):
//   KC = 256: the B sliver (KC x NR x 4 B = 32 KiB for NR = 32) fills most of L1 while the A
//             sliver (KC x MR) streams from L2; long enough to amortise loading/storing C.
//   MC <= 224 (a multiple of MR): the A block (MC x KC x 4 B = 224 KiB) sits in L2 with room
//             for the B panel's slivers passing through. MC is evened out over the row blocks
//             (M = 384: 2 blocks of 196 rather than 224 + 160).
//   NC = 3072, KP: the packed B panel (at most GEMM_B_FLOATS, 4 MiB: KP = 256 rows of 3072
//             columns, up to 5376 rows of 768) is shared by all threads from L3 while it is
//             still there; a longer K runs as successive panels over the same columns.
//
// Determinism: every element of C is the same sequence of float operations whatever the thread
// count, the block partition or which thread runs which task: the k loop runs pc blocks in order,
// each micro-kernel sums its kc products in order into a zeroed accumulator and then adds it to
// C. Each task owns a disjoint block of C (no atomics, no reductions across threads), so results
// are bitwise reproducible and independent of the thread count (the tests check it). Different
// kernels (AVX-512 vs portable) may differ in the last bits (FMA contraction, order).
//
// Small products (M·N·K < 2^20) and calls made inside an OpenMP parallel region (attention's loop
// over heads) run on the calling thread alone.
//
// Few rows (M <= 4, decoding one token per sequence with the KV cache): packing B would copy the
// whole weight matrix for a product that reads it once, and an MR = 14 tile would compute 14 rows
// for one. The AVX-512 and AVX2 paths then read B in place (op(B) = B: its rows stream; op(B) =
// Bᵀ: 16 rows of B transposed in registers, AVX-512 only) with the micro-kernel's arithmetic per
// element (zeroed accumulator per KC block, fma over k in order, then added to C), so a row of C
// has the same bits whichever path computed it (the tests check it).
//
// bf16 products (GEMM_BF16, ./train --precision bf16): the inputs of every multiply are bfloat16,
// alpha·op(A) and op(B) each rounded to nearest even (gemm_round_bf16), and the sums are fp32, as
// is C. Two implementations of that one definition:
//   pairs     the packed slivers hold bf16 pairs, one 32-bit word per two consecutive k (low half
//             the even k, high half the odd one; an odd K is padded with a zero pair half): A
//             word a2[p*MR + i] = (bf16(alpha·op(A)[i][2p]), bf16(alpha·op(A)[i][2p+1])), B word
//             b2[p*NR + j] = (bf16(op(B)[2p][j]), bf16(op(B)[2p+1][j])). The micro-kernel takes
//             one pair per step: acc += a_odd·b_odd, then acc += a_even·b_even, each rounded to
//             fp32 (a product of two bf16 is exact in fp32, so each step is an fma). That is
//             Intel's definition of VDPBF16PS (AVX512-BF16: 16 lanes x 2 products per
//             instruction, twice an fp32 FMA's multiply-adds), which the AVX-512 kernel issues on
//             CPUs that have it (detected at run time with cpuid); GEMM_PORTABLE runs the same
//             layout and order in plain C, so the packing and blocking of that path are tested on
//             any CPU. Hardware flushes denormal inputs and results to zero, plain C does not.
//   rounded   on CPUs without AVX512-BF16 (GEMM_AVX2, and GEMM_AVX512 without the extension) the
//             fp32 slivers hold bf16-rounded values and the fp32 micro-kernels run unchanged (one
//             fma per k in order): the same products, fp32 speed, the sums in fp32 k order.
// The two agree to fp32 summation order, not bit for bit; each is deterministic like the fp32 path.
// The few-row paths read B in place and do not round, so bf16 products always take the packed path
// (which gives a row the same bits whatever M, as the cached decoding needs).
#ifndef GEMM_H
#define GEMM_H

#include <stddef.h>

typedef enum { GEMM_AUTO = 0, GEMM_PORTABLE, GEMM_AVX2, GEMM_AVX512 } GemmKernel;

// The precision of a product's inputs (accumulation and C are fp32 in both).
typedef enum { GEMM_FP32 = 0, GEMM_BF16 } GemmPrecision;

// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is (M,K): A is (M,K) with row stride
// lda when transA == 0, (K,M) when transA != 0; likewise op(B) is (K,N) from B (K,N) or (N,K).
// beta == 0 overwrites C (its old contents, even NaN, are ignored). K == 0 gives C = beta * C.
// Runs on OpenMP threads when compiled with -fopenmp.
void sgemm(int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
           const float* B, size_t ldb, float beta, float* C, size_t ldc);

// As sgemm with an explicit kernel (GEMM_AUTO = best available, honouring FORGETFUL_GEMM).
// An unavailable kernel falls back to the portable one.
void sgemm_with(GemmKernel kernel, int transA, int transB, size_t M, size_t N, size_t K, float alpha,
                const float* A, size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc);

// As sgemm with the inputs in precision prec (GEMM_BF16: see above).
void gemm_prec(GemmPrecision prec, int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float* A,
               size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc);

// The general form: an explicit kernel and precision (sgemm_with = gemm_ex(kernel, GEMM_FP32, ...)).
void gemm_ex(GemmKernel kernel, GemmPrecision prec, int transA, int transB, size_t M, size_t N, size_t K,
             float alpha, const float* A, size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc);

// x rounded to the nearest bfloat16 (ties to even; NaN stays NaN, overflow gives infinity), as a float.
float gemm_round_bf16(float x);

// 1 if this CPU has AVX512-BF16 (and the compiler the intrinsics): GEMM_BF16 products on the AVX-512
// kernel then run VDPBF16PS; otherwise the rounded-fp32 form.
int gemm_bf16_native(void);
// How GEMM_BF16 products run with this kernel: "avx512-bf16 (vdpbf16ps)", "emulated (...)", ...
const char* gemm_bf16_path(GemmKernel kernel);

// 1 if this CPU (and compiler) can run the kernel.
int gemm_kernel_available(GemmKernel kernel);
// The kernel GEMM_AUTO resolves to now.
GemmKernel gemm_kernel_resolve(GemmKernel kernel);
const char* gemm_kernel_name(GemmKernel kernel);

#endif // GEMM_H
