// tests/dist_mpi.c: lib/dist.c across real ranks, against closed forms. Built with mpicc as
// ./test_dist_mpi and started by tests/dist.c under mpirun (3 ranks, so that shares are uneven).
// Rank 0 prints one line per check, "ok   <what>" or "FAIL <what>", which tests/dist.c reports.
//
//   ./test_dist_mpi          the checks; exit status 1 if one failed
//   ./test_dist_mpi fail     rank 1 stops with a runtime error while the others wait in a barrier
//   ./test_dist_mpi differ   every rank passes its own rank to dist_check_same
//   ./test_dist_mpi time N   (dev/bench_mpi.sh) the time of dist_sum_floats on N floats, all ranks
//                            starting together (a barrier before each): the median of 10 calls
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/dist.h"

static int failed = 0;

static void report(int ok, const char* what, double measured) {
    if (!ok) failed = 1;
    printf("%s %s (measured %.3g)\n", ok ? "ok  " : "FAIL", what, measured);
    fflush(stdout);
}

// Every rank's share of n, gathered: the shares must tile [0, n) in rank order.
static void check_share(size_t n) {
    int N = dist_size();
    size_t* all = calloc_check(2 * (size_t)N, sizeof(size_t));
    size_t* counts = malloc_check((size_t)N * sizeof(size_t));
    for (int r = 0; r < N; r++) counts[r] = 1;
    dist_share(n, &all[2 * dist_rank()], &all[2 * dist_rank() + 1]);
    dist_allgather_rows(all, 2 * sizeof(size_t), counts);
    size_t next = 0, biggest = 0, smallest = n;
    int tiles = 1;
    for (int r = 0; r < N; r++) {
        size_t len = all[2 * r + 1] - all[2 * r];
        tiles &= all[2 * r] == next && all[2 * r + 1] >= all[2 * r];
        next = all[2 * r + 1];
        if (len > biggest) biggest = len;
        if (len < smallest) smallest = len;
    }
    char what[160];
    snprintf(what, sizeof what, "dist_share: %d ranks' shares of %zu tile [0, %zu) in rank order, sizes differ by <= 1",
             N, n, n);
    report(tiles && next == n && biggest - smallest <= 1, what, (double)(biggest - smallest));
    free(all);
    free(counts);
}

// Sums: a closed form, and the data-parallel pattern (each rank its share, zeros elsewhere), which
// must reproduce the concatenation bit for bit on every rank.
static void check_sums(void) {
    int N = dist_size(), r = dist_rank();
    enum { n = 1000 };
    float x[n];
    for (int i = 0; i < n; i++) x[i] = (float)(r + 1) + 0.5f * (float)i;
    dist_sum_floats(x, n);
    double maxdiff = 0.0;
    for (int i = 0; i < n; i++) // sum over r of (r + 1) + i / 2: N (N + 1) / 2 + N i / 2, exact in float
        maxdiff = fmax(maxdiff, fabs((double)x[i] - (N * (N + 1) / 2.0 + N * 0.5 * i)));
    report(maxdiff == 0.0, "dist_sum_floats: sum over the ranks of (rank + 1) + i/2 equals N(N+1)/2 + N i/2", maxdiff);

    size_t lo, hi;
    dist_share(n, &lo, &hi);
    float part[n], want[n];
    uint64_t rng = 12345; // the same stream on every rank: want is known everywhere
    for (int i = 0; i < n; i++) {
        want[i] = random_f32(&rng) * 2.0f - 1.0f;
        part[i] = (size_t)i >= lo && (size_t)i < hi ? want[i] : 0.0f;
    }
    dist_sum_floats(part, n);
    double v = memcmp(part, want, sizeof want) == 0; // ranks with the exact result
    dist_sum_doubles(&v, 1);
    report(v == (double)N, "dist_sum_floats: shares with zeros elsewhere sum to the concatenation, bit for bit on every rank",
           (double)N - v);
    double d[3] = {1.0 * r, 0.25, -2.0 * r};
    dist_sum_doubles(d, 3);
    double want0 = N * (N - 1) / 2.0;
    report(d[0] == want0 && d[1] == 0.25 * N && d[2] == -2.0 * want0, "dist_sum_doubles: three sums", d[0] - want0);
}

// Rows of mixed content (3 floats and an int label) gathered with uneven counts, rank 1 holding
// none: every rank must end with every row in rank order.
static void check_gather(void) {
    typedef struct {
        float z[3];
        int label;
    } Row;
    int N = dist_size(), r = dist_rank();
    size_t* counts = malloc_check((size_t)N * sizeof(size_t));
    size_t total = 0, first = 0;
    for (int q = 0; q < N; q++) {
        counts[q] = q == 1 ? 0 : (size_t)(q + 2);
        if (q < r) first += counts[q];
        total += counts[q];
    }
    Row* rows = calloc_check(total, sizeof(Row));
    for (size_t i = first; i < first + counts[r]; i++)
        rows[i] = (Row){{(float)i, -(float)i, 0.5f * (float)r}, (int)(100 * r + i)};
    dist_allgather_rows(rows, sizeof(Row), counts);
    size_t bad = 0, i = 0;
    for (int q = 0; q < N; q++)
        for (size_t k = 0; k < counts[q]; k++, i++)
            bad += rows[i].z[0] != (float)i || rows[i].z[1] != -(float)i || rows[i].z[2] != 0.5f * (float)q ||
                   rows[i].label != (int)(100 * q + i);
    double v = (double)bad;
    dist_sum_doubles(&v, 1);
    char what[160];
    snprintf(what, sizeof what, "dist_allgather_rows: %zu rows of 16 bytes, uneven counts (one rank none), in rank order on every rank",
             total);
    report(v == 0.0, what, v);
    free(rows);
    free(counts);
}

// The median time of 10 sums of n floats, each after a barrier, so that no rank's wait for a slower
// one is counted: the cost of the transfer itself.
static void time_sums(size_t n) {
    float* x = calloc_check(n, sizeof(float));
    double t[10];
    for (int i = 0; i < 11; i++) { // the first is warm-up (page faults, connection setup)
        dist_barrier();
        double t0 = time_seconds();
        dist_sum_floats(x, n);
        if (i > 0) t[i - 1] = time_seconds() - t0;
    }
    for (int i = 1; i < 10; i++) // insertion sort
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double tmp = t[j];
            t[j] = t[j - 1];
            t[j - 1] = tmp;
        }
    double ms = (t[4] + t[5]) / 2.0 * 1e3;
    printf("all-reduce of %.2f MB over %d ranks: %.2f ms (median of 10, %.2f GB/s of gradients)\n",
           (double)n * sizeof(float) / 1e6, dist_size(), ms, (double)n * sizeof(float) / (ms * 1e-3) / 1e9);
    free(x);
}

int main(int argc, char** argv) {
    dist_init(&argc, &argv);
    const char* mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "fail") == 0) {
        if (dist_rank() == 1) fatal("rank 1 stops on purpose (tests/dist_mpi.c)");
        dist_barrier(); // the others wait here for a rank that will never come
        dist_exit(0);
    }
    if (strcmp(mode, "time") == 0 && argc > 2) {
        double n = 0.0;
        char err[128];
        if (parse_number_arg(argv[2], 1, 1, 1e10, &n, err, sizeof err) != 0) fatal("time: %s", err);
        time_sums((size_t)n);
        dist_exit(0);
    }
    if (strcmp(mode, "differ") == 0) {
        dist_check_same((uint64_t)dist_rank(), "the test values");
        dist_exit(0);
    }
    if (dist_size() < 2) fatal("run me under mpirun with at least 2 ranks");
    check_share(10);
    check_share(2);
    check_sums();
    check_gather();
    dist_check_same(42, "a value every rank shares");
    report(1, "dist_check_same: the same value on every rank passes", 0.0);
    dist_finalize();
    return failed;
}
