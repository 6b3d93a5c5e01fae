// dist.c: the ranks of a data-parallel job (API in dist.h). With USE_MPI the functions call MPI;
// without it, and in an MPI build started without a launcher, they are those of one rank.
#define _GNU_SOURCE
#include "dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef USE_MPI
#include <mpi.h>
#endif

// The process's place in the job: set once by dist_init, read everywhere (like MPI's own state).
static struct {
    int rank, size, local_size, machines;
    int mpi;        // 1 when MPI_Init ran (and MPI_Finalize is still due)
    double seconds; // time inside sums and gathers
    char describe[256];
} dist = {0, 1, 1, 1, 0, 0.0, ""};

int dist_rank(void) { return dist.rank; }
int dist_size(void) { return dist.size; }
int dist_local_size(void) { return dist.local_size; }
int dist_root(void) { return dist.rank == 0; }
double dist_seconds(void) { return dist.seconds; }
const char* dist_describe(void) { return dist.mpi ? dist.describe : NULL; }

void dist_share(size_t n, size_t* lo, size_t* hi) {
    size_t N = (size_t)dist.size, r = (size_t)dist.rank, q = n / N, extra = n % N;
    *lo = r * q + (r < extra ? r : extra);
    *hi = *lo + q + (r < extra ? 1 : 0);
}

void dist_share_counts(size_t n, size_t unit, size_t* counts) {
    size_t N = (size_t)dist.size, q = n / N, extra = n % N;
    for (size_t r = 0; r < N; r++) counts[r] = (q + (r < extra ? 1 : 0)) * unit;
}

size_t dist_gather_counts(size_t mine, size_t* counts) {
    size_t* one = malloc_check((size_t)dist.size * sizeof(size_t));
    for (int r = 0; r < dist.size; r++) one[r] = 1;
    counts[dist.rank] = mine;
    dist_allgather_rows(counts, sizeof(size_t), one);
    free(one);
    size_t total = 0;
    for (int r = 0; r < dist.size; r++) total += counts[r];
    return total;
}

void dist_check_same_floats(const float* x, size_t n, const char* what) {
    if (dist.size == 1) return;
    // FNV-1a over 32-bit words: bits, not values, so -0 and 0 (or two NaNs) count as different
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, x + i, sizeof w);
        h = (h ^ w) * 0x100000001b3ull;
    }
    dist_check_same(h, what);
}

NORETURN void dist_exit(int status) {
    fflush(stdout);
    dist_finalize();
    exit(status);
}

#ifdef USE_MPI

// An MPI call that failed (the communicator returns errors instead of aborting): a runtime error
// naming the call and MPI's reason.
static void mpi_check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error code %d", rc);
    fatal("rank %d: %s failed: %s", dist.rank, call, msg);
}

// Whether a launcher started this process: Open MPI's mpirun, MPICH's hydra (PMI), PMIx (srun).
// Without one, MPI_Init would try a "singleton" start, which needs a working runtime on the
// machine; a plain ./train needs nothing of the kind, so it stays one rank without MPI.
static int launched_by_mpi(void) {
    static const char* vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

void dist_init(int* argc, char*** argv) {
    if (!launched_by_mpi()) return;
    // MPI is called from the main thread only, between OpenMP regions
    int provided = 0;
    mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    dist.mpi = 1;
    mpi_check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    mpi_check(MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank), "MPI_Comm_rank");
    mpi_check(MPI_Comm_size(MPI_COMM_WORLD, &dist.size), "MPI_Comm_size");
    MPI_Comm local;
    mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dist.rank, MPI_INFO_NULL, &local),
              "MPI_Comm_split_type");
    int local_rank = 0;
    mpi_check(MPI_Comm_size(local, &dist.local_size), "MPI_Comm_size");
    mpi_check(MPI_Comm_rank(local, &local_rank), "MPI_Comm_rank");
    MPI_Comm_free(&local);
    int first = local_rank == 0; // one per machine
    mpi_check(MPI_Allreduce(&first, &dist.machines, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int vlen = 0;
    mpi_check(MPI_Get_library_version(version, &vlen), "MPI_Get_library_version");
    version[strcspn(version, ",\n")] = '\0'; // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
    snprintf(dist.describe, sizeof dist.describe, "%.200s, %d rank%s on %d machine%s", version, dist.size,
             dist.size == 1 ? "" : "s", dist.machines, dist.machines == 1 ? "" : "s");
    if (dist.rank != 0 && !freopen("/dev/null", "w", stdout)) fatal("rank %d: cannot silence stdout", dist.rank);
}

void dist_finalize(void) {
    if (!dist.mpi) return;
    dist.mpi = 0;
    mpi_check(MPI_Finalize(), "MPI_Finalize");
}

// MPI counts are ints: large buffers go in pieces of at most 2^30 elements.
#define DIST_CHUNK ((size_t)1 << 30)

static void sum_in_place(void* x, size_t n, size_t elem, MPI_Datatype type) {
    if (dist.size == 1) return;
    double t0 = time_seconds();
    for (size_t i = 0; i < n; i += DIST_CHUNK) {
        size_t c = n - i < DIST_CHUNK ? n - i : DIST_CHUNK;
        mpi_check(MPI_Allreduce(MPI_IN_PLACE, (char*)x + i * elem, (int)c, type, MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce");
    }
    dist.seconds += time_seconds() - t0;
}

void dist_sum_floats(float* x, size_t n) { sum_in_place(x, n, sizeof(float), MPI_FLOAT); }
void dist_sum_doubles(double* x, size_t n) { sum_in_place(x, n, sizeof(double), MPI_DOUBLE); }

void dist_allgather_rows(void* rows, size_t row_bytes, const size_t* counts) {
    if (dist.size == 1 || row_bytes == 0) return;
    double t0 = time_seconds();
    // one row is one element of a contiguous type, so the counts are rows (ints) whatever their size
    if (row_bytes > INT_MAX) fatal("dist_allgather_rows: rows of %zu bytes are too long for MPI", row_bytes);
    int* cnt = malloc_check((size_t)dist.size * sizeof(int));
    int* displ = malloc_check((size_t)dist.size * sizeof(int));
    size_t total = 0;
    for (int r = 0; r < dist.size; r++) {
        if (counts[r] > INT_MAX || total > INT_MAX) fatal("dist_allgather_rows: more than 2^31 rows");
        cnt[r] = (int)counts[r];
        displ[r] = (int)total;
        total += counts[r];
    }
    MPI_Datatype row;
    mpi_check(MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row), "MPI_Type_contiguous");
    mpi_check(MPI_Type_commit(&row), "MPI_Type_commit");
    mpi_check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rows, cnt, displ, row, MPI_COMM_WORLD),
              "MPI_Allgatherv");
    MPI_Type_free(&row);
    free(cnt);
    free(displ);
    dist.seconds += time_seconds() - t0;
}

void dist_check_same(uint64_t value, const char* what) {
    if (dist.size == 1) return;
    uint64_t lo = 0, hi = 0;
    mpi_check(MPI_Allreduce(&value, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    mpi_check(MPI_Allreduce(&value, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    if (lo != hi)
        fatal("rank %d: %s differ between the ranks (hash %016llx here, %016llx .. %016llx over all ranks)", dist.rank,
              what, (unsigned long long)value, (unsigned long long)lo, (unsigned long long)hi);
}

void dist_barrier(void) {
    if (dist.size > 1) mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void dist_broadcast(void* buf, size_t n) {
    if (dist.size <= 1) return;
    for (size_t i = 0; i < n; i += INT_MAX) {
        size_t c = n - i < INT_MAX ? n - i : INT_MAX;
        mpi_check(MPI_Bcast((char*)buf + i, (int)c, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    }
}

#else // one process, no MPI

void dist_init(int* argc, char*** argv) {
    (void)argc;
    (void)argv;
}
void dist_finalize(void) {}
void dist_sum_floats(float* x, size_t n) {
    (void)x;
    (void)n;
}
void dist_sum_doubles(double* x, size_t n) {
    (void)x;
    (void)n;
}
void dist_allgather_rows(void* rows, size_t row_bytes, const size_t* counts) {
    (void)rows;
    (void)row_bytes;
    (void)counts;
}
void dist_check_same(uint64_t value, const char* what) {
    (void)value;
    (void)what;
}
void dist_barrier(void) {}

void dist_broadcast(void* buf, size_t n) {
    (void)buf;
    (void)n;
}

#endif
