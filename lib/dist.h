// dist.h: data parallelism over processes (MPI ranks), and its one-process stand-in.
//
// Built with USE_MPI (make USE_MPI=1) and started by mpirun, N ranks each run their share of every
// batch and sum their gradients (dist_sum_floats) before the clip and AdamW, so that every rank
// holds the same weights after every step (lib/step.c). Rank 0 alone prints and writes files; the
// other ranks' stdout goes to /dev/null, their stderr stays (an error names the rank that met it).
// In the default build, or in the MPI build started without a launcher, this is a world of one
// rank: the sums and gathers return at once. dist.c is the only file that names MPI.
//
// Failures: an MPI call that fails is a runtime error naming the call. A rank that exits with an
// error, or dies (SIGKILL, a lost node), makes mpirun end the whole job with a non-zero status and
// its own message naming the rank, instead of the others waiting forever in the next sum. A rank
// that exits 0 must have called dist_finalize (dist_exit does both): Open MPI counts an exit
// without it as an abnormal end of the job.
#ifndef DIST_H
#define DIST_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

// Joins the job when a launcher (mpirun, mpiexec, srun) started this process, else stays one
// rank; sends the stdout of ranks other than 0 to /dev/null. Call once, first thing in main.
void dist_init(int* argc, char*** argv);
// Leaves the job (MPI_Finalize), on every rank, on the way out of a successful run.
void dist_finalize(void);
// dist_finalize, then exit(status): the early successful exits (a pause, nothing to resume).
NORETURN void dist_exit(int status);

int dist_rank(void);       // this rank, 0 .. dist_size() - 1
int dist_size(void);       // ranks in the job (1 without MPI)
int dist_local_size(void); // ranks on this machine (they share its cores and memory)
int dist_root(void);       // 1 on rank 0, the one that prints and writes
// "Open MPI v4.1.4, 2 ranks on 1 machine" for the banner, or NULL for one rank without MPI.
const char* dist_describe(void);

// This rank's share [*lo, *hi) of n items in rank order: n / N each, the first n % N ranks one
// more, so concatenating the shares in rank order gives 0 .. n.
void dist_share(size_t n, size_t* lo, size_t* hi);

// counts[r] (dist_size() of them) = unit x the size of rank r's dist_share of n: the counts of
// dist_allgather_rows when each of n items makes unit rows.
void dist_share_counts(size_t n, size_t unit, size_t* counts);
// Every rank's count of rows into counts (dist_size()), this rank's being mine; returns their sum.
size_t dist_gather_counts(size_t mine, size_t* counts);

// x[0 .. n) summed over the ranks, in place on every rank (MPI_Allreduce with MPI_SUM). Every rank
// gets the same bits: a rank that holds zeros where another holds values passes those values on
// exactly. Timed into dist_seconds.
void dist_sum_floats(float* x, size_t n);
void dist_sum_doubles(double* x, size_t n);

// Rows gathered on every rank in rank order (MPI_Allgatherv): rows holds sum(counts) rows of
// row_bytes bytes; rank r's counts[r] rows start at row counts[0] + ... + counts[r-1] and are filled
// by that rank on entry; on return every rank holds all of them. Exact (a copy). Timed.
// For merging data-parallel probes: each rank probes its dist_share of the probe sequences, then
// the per-row soft assignments and labels are gathered in sequence order.
void dist_allgather_rows(void* rows, size_t row_bytes, const size_t* counts);

// A runtime error on every rank unless every rank passes the same value (what: "the data",
// "the parameters", for the message).
void dist_check_same(uint64_t value, const char* what);
// The same for x[0 .. n) (through a hash of its bits): every rank must hold the same floats.
void dist_check_same_floats(const float* x, size_t n, const char* what);

void dist_barrier(void);
// Rank 0's n bytes at buf on every rank (a choice only rank 0 may make, e.g. a fresh folder name).
void dist_broadcast(void* buf, size_t n);

// Wall time spent inside the sums and gathers so far (waiting for slower ranks included).
double dist_seconds(void);

#endif // DIST_H
