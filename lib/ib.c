// lib/ib.c: the Information Bottleneck solver of ib.h.
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ib.h"
#include "util.h"

// The IB curve of the empirical joint of (input n-gram X, next token Y), as a reference on the
// information plane. What it does and does not bound is spelled out in probes.h; in short: it is
// the trade-off for T a function of X alone (T − X − Y), |T| = n_bins, on the empirical
// distribution of the tokens given. The model's hidden states see the whole context, so a probe
// point above the curve is possible and not a bug.
//
// Cost per iteration: O(nnz · nt) for p(y|t) and the same for the KL terms, since
//   KL(p(y|x) ‖ p(y|t)) = Σ_y p(y|x) ln p(y|x) − Σ_{y: p(y|x)>0} p(y|x) ln p(y|t)
// and the first sum does not depend on t, so it cancels in the normalisation over t: only the
// sparse cross term is needed.

int ib_joint_from_dense(IbJoint* j, const double* pxy, int nx, int ny, char* err, size_t errlen) {
    memset(j, 0, sizeof *j);
    if (nx < 1 || ny < 1) {
        snprintf(err, errlen, "ib_joint_from_dense: need nx, ny >= 1 (got %d, %d)", nx, ny);
        return -1;
    }
    double total = 0.0;
    size_t nnz = 0;
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++) {
        if (!(pxy[i] >= 0.0) || !isfinite(pxy[i])) {
            snprintf(err, errlen, "ib_joint_from_dense: entry %zu is %g (need finite, >= 0)", i, pxy[i]);
            return -1;
        }
        total += pxy[i];
        nnz += pxy[i] > 0.0;
    }
    if (!(total > 0.0)) {
        snprintf(err, errlen, "ib_joint_from_dense: all entries are zero");
        return -1;
    }
    j->nx = nx, j->ny = ny, j->nnz = nnz;
    j->px = calloc_check((size_t)nx, sizeof(double));
    j->py = calloc_check((size_t)ny, sizeof(double));
    j->x_start = calloc_check((size_t)nx + 1, sizeof(size_t));
    j->x_col = malloc_check((nnz ? nnz : 1) * sizeof(int));
    j->x_cond = malloc_check((nnz ? nnz : 1) * sizeof(double));
    j->y_start = calloc_check((size_t)ny + 1, sizeof(size_t));
    j->y_row = malloc_check((nnz ? nnz : 1) * sizeof(int));
    j->y_joint = malloc_check((nnz ? nnz : 1) * sizeof(double));
    for (int x = 0; x < nx; x++)
        for (int y = 0; y < ny; y++) {
            double p = pxy[(size_t)x * ny + y] / total;
            j->px[x] += p, j->py[y] += p;
        }
    for (int x = 0; x < nx; x++)
        if (!(j->px[x] > 0.0)) {
            snprintf(err, errlen, "ib_joint_from_dense: row x=%d is all zero", x);
            ib_joint_free(j);
            return -1;
        }
    for (int y = 0; y < ny; y++)
        if (!(j->py[y] > 0.0)) {
            snprintf(err, errlen, "ib_joint_from_dense: column y=%d is all zero", y);
            ib_joint_free(j);
            return -1;
        }
    // rows (CSR) in x order; columns (CSC) by the same double loop with y outside
    size_t k = 0;
    for (int x = 0; x < nx; x++) {
        j->x_start[x] = k;
        for (int y = 0; y < ny; y++) {
            double p = pxy[(size_t)x * ny + y] / total;
            if (p > 0.0) j->x_col[k] = y, j->x_cond[k] = p / j->px[x], k++;
        }
    }
    j->x_start[nx] = k;
    k = 0;
    for (int y = 0; y < ny; y++) {
        j->y_start[y] = k;
        for (int x = 0; x < nx; x++) {
            double p = pxy[(size_t)x * ny + y] / total;
            if (p > 0.0) j->y_row[k] = x, j->y_joint[k] = p, k++;
        }
    }
    j->y_start[ny] = k;
    // entropies and I(X;Y) = Σ p(x,y) ln(p(y|x) / p(y))
    for (int x = 0; x < nx; x++) j->H_X -= j->px[x] * log(j->px[x]);
    for (int y = 0; y < ny; y++) j->H_Y -= j->py[y] * log(j->py[y]);
    for (int x = 0; x < nx; x++)
        for (size_t e = j->x_start[x]; e < j->x_start[x + 1]; e++)
            j->I_XY += j->px[x] * j->x_cond[e] * log(j->x_cond[e] / j->py[j->x_col[e]]);
    return 0;
}

// (x key, y) of one position, sorted to count pairs.
typedef struct {
    uint64_t x;
    int y;
} IbPair;

static int ib_pair_cmp(const void* a, const void* b) {
    const IbPair *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}

static int ib_int_cmp(const void* a, const void* b) {
    int p = *(const int*)a, q = *(const int*)b;
    return (p > q) - (p < q);
}

int ib_joint_from_tokens(IbJoint* j, const int* tokens, size_t n, int ngram, char* err, size_t errlen) {
    memset(j, 0, sizeof *j);
    if (ngram < 1 || ngram > 3) {
        snprintf(err, errlen, "ib_joint_from_tokens: ngram must be 1, 2 or 3 (got %d)", ngram);
        return -1;
    }
    if (n < (size_t)ngram + 1) {
        snprintf(err, errlen, "ib_joint_from_tokens: %zu tokens, need at least %d for one (%d-gram, next) pair", n,
                 ngram + 1, ngram);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= (1 << 21)) {
            snprintf(err, errlen, "ib_joint_from_tokens: token %zu has id %d (need 0 <= id < 2^21)", i, tokens[i]);
            return -1;
        }
    // X = n-gram ending at i packed in 21-bit fields, Y = tokens[i+1]; sort, then count runs
    size_t m = n - (size_t)ngram;
    IbPair* pairs = malloc_check(m * sizeof(IbPair));
    for (size_t k = 0; k < m; k++) {
        size_t i = k + (size_t)ngram - 1;
        uint64_t key = 0;
        for (int g = ngram - 1; g >= 0; g--) key = (key << 21) | (uint64_t)tokens[i - (size_t)g];
        pairs[k] = (IbPair){key, tokens[i + 1]};
    }
    qsort(pairs, m, sizeof(IbPair), ib_pair_cmp);
    // Y ids: the distinct next tokens in increasing order
    int* ys = malloc_check(m * sizeof(int));
    for (size_t k = 0; k < m; k++) ys[k] = pairs[k].y;
    qsort(ys, m, sizeof(int), ib_int_cmp);
    size_t ny = 0;
    for (size_t k = 0; k < m; k++)
        if (k == 0 || ys[k] != ys[k - 1]) ys[ny++] = ys[k];
    int* y_id = malloc_check(((size_t)ys[ny - 1] + 1) * sizeof(int));
    for (size_t k = 0; k < ny; k++) y_id[ys[k]] = (int)k;
    size_t nx = 0, nnz = 0;
    for (size_t k = 0; k < m; k++) {
        nx += k == 0 || pairs[k].x != pairs[k - 1].x;
        nnz += k == 0 || pairs[k].x != pairs[k - 1].x || pairs[k].y != pairs[k - 1].y;
    }
    if (nx > (size_t)INT32_MAX) fatal("ib_joint_from_tokens: %zu distinct n-grams", nx);
    j->nx = (int)nx, j->ny = (int)ny, j->nnz = nnz;
    j->px = calloc_check(nx, sizeof(double));
    j->py = calloc_check(ny, sizeof(double));
    j->x_start = calloc_check(nx + 1, sizeof(size_t));
    j->x_col = malloc_check(nnz * sizeof(int));
    j->x_cond = malloc_check(nnz * sizeof(double));
    j->y_start = calloc_check(ny + 1, sizeof(size_t));
    j->y_row = malloc_check(nnz * sizeof(int));
    j->y_joint = malloc_check(nnz * sizeof(double));
    double* count = malloc_check(nnz * sizeof(double));
    size_t e = 0;
    int x = -1;
    for (size_t k = 0; k < m; k++) {
        int new_x = k == 0 || pairs[k].x != pairs[k - 1].x;
        if (new_x) j->x_start[++x] = e;
        if (new_x || pairs[k].y != pairs[k - 1].y) {
            j->x_col[e] = y_id[pairs[k].y];
            count[e++] = 0.0;
        }
        count[e - 1] += 1.0;
        j->px[x] += 1.0;
    }
    j->x_start[nx] = e;
    for (size_t xx = 0; xx < nx; xx++) {
        for (size_t f = j->x_start[xx]; f < j->x_start[xx + 1]; f++) {
            j->x_cond[f] = count[f] / j->px[xx];
            j->py[j->x_col[f]] += count[f];
            j->y_start[j->x_col[f] + 1]++;
        }
        j->px[xx] /= (double)m;
    }
    for (size_t y = 0; y < ny; y++) {
        j->py[y] /= (double)m;
        j->y_start[y + 1] += j->y_start[y];
    }
    // columns: scatter the rows in x order, so each column lists its x's in increasing order
    size_t* fill = malloc_check(ny * sizeof(size_t));
    memcpy(fill, j->y_start, ny * sizeof(size_t));
    for (size_t xx = 0; xx < nx; xx++)
        for (size_t f = j->x_start[xx]; f < j->x_start[xx + 1]; f++) {
            size_t s = fill[j->x_col[f]]++;
            j->y_row[s] = (int)xx;
            j->y_joint[s] = count[f] / (double)m;
        }
    for (size_t xx = 0; xx < nx; xx++) j->H_X -= j->px[xx] * log(j->px[xx]);
    for (size_t y = 0; y < ny; y++) j->H_Y -= j->py[y] * log(j->py[y]);
    for (size_t xx = 0; xx < nx; xx++)
        for (size_t f = j->x_start[xx]; f < j->x_start[xx + 1]; f++)
            j->I_XY += j->px[xx] * j->x_cond[f] * log(j->x_cond[f] / j->py[j->x_col[f]]);
    free(fill);
    free(count);
    free(y_id);
    free(ys);
    free(pairs);
    return 0;
}

void ib_joint_free(IbJoint* j) {
    free(j->px), free(j->py), free(j->x_start), free(j->x_col), free(j->x_cond);
    free(j->y_start), free(j->y_row), free(j->y_joint);
    memset(j, 0, sizeof *j);
}

// Threads only pay off when an iteration has a lot of work: each iteration has three fork/joins,
// and on a machine whose cores are shared a join waits for the slowest thread, which may be
// descheduled for a whole time slice (measured: a 498-token corpus, 3.6e6 pair-bins, ran 6x
// slower on 2 threads than on 1 on a loaded 2-core machine). Above 2e7 pair-bins (a vocabulary of
// several thousand tokens, or bigram X) an iteration takes tens of ms and threads win.
static int ib_parallel(const IbJoint* j, int nt) { return (double)j->nnz * nt >= 2e7; }

// p(t) (nt) and p(y|t) (ny, nt) of the encoder q (nx, nt). A bin with p(t) = 0 gets p(y|t) = 0.
static void ib_decoder(const IbJoint* j, int nt, const double* q, double* pt, double* pyt) {
    memset(pt, 0, (size_t)nt * sizeof(double));
    for (int x = 0; x < j->nx; x++) {
        const double* qx = q + (size_t)x * nt;
        for (int t = 0; t < nt; t++) pt[t] += j->px[x] * qx[t];
    }
    int par = ib_parallel(j, nt);
    (void)par;
#pragma omp parallel for schedule(dynamic, 16) if (par)
    for (int y = 0; y < j->ny; y++) {
        double* row = pyt + (size_t)y * nt;
        for (int t = 0; t < nt; t++) row[t] = 0.0;
        for (size_t e = j->y_start[y]; e < j->y_start[y + 1]; e++) {
            const double* qx = q + (size_t)j->y_row[e] * nt;
            double w = j->y_joint[e];
            for (int t = 0; t < nt; t++) row[t] += w * qx[t];
        }
        for (int t = 0; t < nt; t++) row[t] = pt[t] > 0.0 ? row[t] / pt[t] : 0.0;
    }
}

// I(X;T) = Σ_x p(x) Σ_t q(t|x) ln(q(t|x)/p(t)); I(T;Y) = Σ_{t,y} p(t) p(y|t) ln(p(y|t)/p(y)).
static void ib_information(const IbJoint* j, int nt, const double* q, const double* pt, const double* pyt,
                           double* I_XT, double* I_TY) {
    double ixt = 0.0, ity = 0.0;
    for (int x = 0; x < j->nx; x++) {
        const double* qx = q + (size_t)x * nt;
        double s = 0.0;
        for (int t = 0; t < nt; t++)
            if (qx[t] > 0.0) s += qx[t] * log(qx[t] / pt[t]);
        ixt += j->px[x] * s;
    }
    for (int y = 0; y < j->ny; y++) {
        const double* row = pyt + (size_t)y * nt;
        for (int t = 0; t < nt; t++)
            if (row[t] > 0.0) ity += pt[t] * row[t] * log(row[t] / j->py[y]);
    }
    *I_XT = fmax(ixt, 0.0);
    *I_TY = fmax(ity, 0.0);
}

void ib_evaluate(const IbJoint* j, int nt, const double* q, double* I_XT, double* I_TY) {
    double* pt = malloc_check((size_t)nt * sizeof(double));
    double* pyt = malloc_check((size_t)j->ny * (size_t)nt * sizeof(double));
    ib_decoder(j, nt, q, pt, pyt);
    ib_information(j, nt, q, pt, pyt, I_XT, I_TY);
    free(pyt);
    free(pt);
}

void ib_iterate(const IbJoint* j, int nt, double beta, double* q, int max_iter, double tol, IbPoint* out) {
    size_t nx = (size_t)j->nx, ny = (size_t)j->ny;
    double* pt = malloc_check((size_t)nt * sizeof(double));
    double* logpt = malloc_check((size_t)nt * sizeof(double));
    double* pyt = malloc_check(ny * (size_t)nt * sizeof(double)); // p(y|t), then ln p(y|t) in place
    double* qn = malloc_check(nx * (size_t)nt * sizeof(double));
    int it = 0, converged = 0, par = ib_parallel(j, nt);
    (void)par;
    while (it < max_iter) {
        ib_decoder(j, nt, q, pt, pyt);
        for (int t = 0; t < nt; t++) logpt[t] = pt[t] > 0.0 ? log(pt[t]) : -INFINITY;
        // ln p(y|t); -inf where p(y|t) = 0 (then any x followed by y gets p(t|x) = 0: KL is infinite)
#pragma omp parallel for schedule(static) if (par)
        for (size_t i = 0; i < ny * (size_t)nt; i++) pyt[i] = pyt[i] > 0.0 ? log(pyt[i]) : -INFINITY;
        double change = 0.0;
#pragma omp parallel if (par)
        {
            double* c = malloc_check((size_t)nt * sizeof(double));
#pragma omp for schedule(dynamic, 16) reduction(max : change)
            for (size_t x = 0; x < nx; x++) {
                // logit(t) = ln p(t) + β Σ_y p(y|x) ln p(y|t)  (= ln p(t) − β KL + a constant in t)
                for (int t = 0; t < nt; t++) c[t] = 0.0;
                for (size_t e = j->x_start[x]; e < j->x_start[x + 1]; e++) {
                    const double* row = pyt + (size_t)j->x_col[e] * nt;
                    double w = j->x_cond[e];
                    for (int t = 0; t < nt; t++) c[t] += w * row[t];
                }
                double mx = -INFINITY;
                for (int t = 0; t < nt; t++) {
                    c[t] = beta > 0.0 ? logpt[t] + beta * c[t] : logpt[t];
                    mx = fmax(mx, c[t]);
                }
                double* qx = qn + x * (size_t)nt;
                if (mx == -INFINITY) { // every bin underflowed (cannot happen in exact arithmetic): keep the row
                    memcpy(qx, q + x * (size_t)nt, (size_t)nt * sizeof(double));
                    continue;
                }
                double s = 0.0;
                // p(t|x) < e^-600 is set to 0: such values (and their products in p(y|t)) would
                // be subnormal, which costs ~100x per operation on x86, and they carry nothing
                for (int t = 0; t < nt; t++) s += qx[t] = c[t] - mx > -600.0 ? exp(c[t] - mx) : 0.0;
                double d = 0.0;
                for (int t = 0; t < nt; t++) {
                    qx[t] /= s;
                    d = fmax(d, fabs(qx[t] - q[x * (size_t)nt + t]));
                }
                change = fmax(change, d);
            }
            free(c);
        }
        memcpy(q, qn, nx * (size_t)nt * sizeof(double));
        it++;
        if (tol > 0.0 && change < tol) {
            converged = 1;
            break;
        }
    }
    ib_decoder(j, nt, q, pt, pyt);
    out->beta = beta;
    ib_information(j, nt, q, pt, pyt, &out->I_XT, &out->I_TY);
    out->L = out->I_XT - beta * out->I_TY;
    out->iters = it;
    out->converged = converged;
    free(qn);
    free(pyt);
    free(logpt);
    free(pt);
}

void ib_config_default(IbConfig* c) {
    *c = (IbConfig){.n_bins = 100,
                    .beta_min = 0.1,
                    .beta_max = 1000.0,
                    .num_betas = 40,
                    .restarts = 1,
                    .restart_beta_max = 10.0,
                    .max_iter = 300,
                    .tol = 1e-6,
                    .perturb = 0.05,
                    .seed = 1};
}

// Random encoder: rows drawn from Dirichlet(1, ..., 1) (normalised exponentials).
static void ib_random_encoder(double* q, size_t nx, int nt, uint64_t* rng) {
    for (size_t x = 0; x < nx; x++) {
        double s = 0.0, *qx = q + x * (size_t)nt;
        for (int t = 0; t < nt; t++) s += qx[t] = -log(1.0 - (double)random_f32(rng));
        for (int t = 0; t < nt; t++) qx[t] /= s;
    }
}

// The warm start of the next β: the previous encoder, with its bins re-dealt so that the next β
// can find what this one could not (the cluster splitting of deterministic annealing):
// - bins whose decoders p(y|t) coincide (L1 distance < 1e-4: copies, as all bins are at small β)
//   are merged into one, and bins nobody uses (p(t) ~ 0) are freed: the update multiplies by
//   p(t), so an unused bin would stay unused, and copies cannot take an x that sits in a merged
//   cluster at large β;
// - the freed bins are dealt round robin to the used bins, largest p(t) first, and each used bin
//   shares its p(t|x) with its new copies in random proportions (1 + eta·N(0,1)) per x;
// - every p(t|x) is then multiplied by exp(eta · N(0,1)), so copies can separate when β passes a
//   critical value. Copies not worth separating merge back (their ratio becomes independent of x).
static void ib_warm_start(const IbJoint* j, double* q, int nt, double eta, uint64_t* rng) {
    size_t nx = (size_t)j->nx, ny = (size_t)j->ny;
    double* pt = malloc_check((size_t)nt * sizeof(double));
    double* pyt = malloc_check(ny * (size_t)nt * sizeof(double));
    int* order = malloc_check((size_t)nt * sizeof(int));
    int* owner = malloc_check((size_t)nt * sizeof(int));   // freed bin -> the used bin it copies
    double* w = malloc_check((size_t)nt * sizeof(double));
    ib_decoder(j, nt, q, pt, pyt);
    int* dead = calloc_check((size_t)nt, sizeof(int));
    for (int t = 0; t < nt; t++) dead[t] = !(pt[t] > 1e-9 / nt);
    for (int t = 0; t < nt; t++) {
        if (dead[t]) continue;
        for (int u = t + 1; u < nt; u++) {
            if (dead[u]) continue;
            double l1 = 0.0;
            for (size_t y = 0; y < ny && l1 < 1e-4; y++) l1 += fabs(pyt[y * (size_t)nt + t] - pyt[y * (size_t)nt + u]);
            if (l1 >= 1e-4) continue;
            for (size_t x = 0; x < nx; x++) q[x * (size_t)nt + t] += q[x * (size_t)nt + u], q[x * (size_t)nt + u] = 0.0;
            pt[t] += pt[u];
            dead[u] = 1;
        }
    }
    // used bins by decreasing p(t) (insertion sort: nt is small)
    int live = 0;
    for (int t = 0; t < nt; t++) {
        if (dead[t]) continue;
        int k = live++;
        while (k > 0 && pt[order[k - 1]] < pt[t]) order[k] = order[k - 1], k--;
        order[k] = t;
    }
    int nfree = 0;
    for (int t = 0; t < nt; t++)
        if (dead[t]) owner[t] = order[nfree++ % live];
    if (nfree > 0) {
        for (size_t x = 0; x < nx; x++) {
            double* qx = q + x * (size_t)nt;
            for (int k = 0; k < live; k++) {
                int src = order[k];
                double sum = w[src] = fmax(0.05, 1.0 + eta * (double)random_normal(rng));
                for (int t = 0; t < nt; t++)
                    if (dead[t] && owner[t] == src) sum += w[t] = fmax(0.05, 1.0 + eta * (double)random_normal(rng));
                double m = qx[src];
                qx[src] = m * w[src] / sum;
                for (int t = 0; t < nt; t++)
                    if (dead[t] && owner[t] == src) qx[t] = m * w[t] / sum;
            }
        }
    }
    for (size_t x = 0; x < nx; x++) {
        double s = 0.0, *qx = q + x * (size_t)nt;
        for (int t = 0; t < nt; t++) s += qx[t] *= exp(eta * (double)random_normal(rng));
        for (int t = 0; t < nt; t++) qx[t] /= s;
    }
    free(dead), free(w), free(owner), free(order), free(pyt), free(pt);
}

static int ib_point_cmp(const void* a, const void* b) {
    const IbPoint *p = a, *q = b;
    if (p->I_XT != q->I_XT) return p->I_XT < q->I_XT ? -1 : 1;
    return (p->I_TY < q->I_TY) - (p->I_TY > q->I_TY); // higher I_TY first
}

int ib_curve_compute(const IbJoint* j, const IbConfig* c, IbCurve* out, char* err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (c->n_bins < 2 || !(c->beta_min > 0.0) || !(c->beta_max >= c->beta_min) || c->num_betas < 1 ||
        c->restarts < 0 || c->max_iter < 1 || !(c->tol >= 0.0) || !(c->perturb >= 0.0) || !isfinite(c->beta_max)) {
        snprintf(err, errlen,
                 "ib_curve_compute: bad configuration (n_bins %d >= 2, 0 < beta_min %g <= beta_max %g, num_betas %d "
                 ">= 1, restarts %d >= 0, max_iter %d >= 1)",
                 c->n_bins, c->beta_min, c->beta_max, c->num_betas, c->restarts, c->max_iter);
        return -1;
    }
    double t0 = time_seconds();
    int nt = c->n_bins;
    size_t nq = (size_t)j->nx * (size_t)nt;
    double* best = malloc_check(nq * sizeof(double)); // the encoder carried to the next β
    double* cand = malloc_check(nq * sizeof(double));
    uint64_t rng = c->seed ? c->seed : 1;
    size_t cap = (size_t)c->num_betas * (size_t)(c->restarts + 1);
    out->solves = malloc_check(cap * sizeof(IbPoint));
    out->n_bins = nt;
    out->H_X = j->H_X, out->H_Y = j->H_Y, out->I_XY = j->I_XY;
    for (int k = 0; k < c->num_betas; k++) {
        double beta = c->num_betas == 1 ? c->beta_min
                                        : c->beta_min * pow(c->beta_max / c->beta_min, (double)k / (c->num_betas - 1));
        int tries = 1 + (beta <= c->restart_beta_max ? c->restarts : 0);
        double best_L = INFINITY;
        for (int r = 0; r < tries; r++) {
            // try 0: the previous β's encoder, re-dealt (at the first β: a random one)
            if (r == 0 && k > 0) {
                memcpy(cand, best, nq * sizeof(double));
                ib_warm_start(j, cand, nt, c->perturb, &rng);
            } else {
                ib_random_encoder(cand, (size_t)j->nx, nt, &rng);
            }
            IbPoint pt;
            ib_iterate(j, nt, beta, cand, c->max_iter, c->tol, &pt);
            out->solves[out->nsolves++] = pt;
            if (pt.L < best_L) {
                best_L = pt.L;
                double* tmp = best;
                best = cand, cand = tmp;
            }
        }
    }
    // upper envelope: the origin (T independent of X), then every solve not dominated by one with
    // less or equal I(X;T)
    IbPoint* sorted = malloc_check(out->nsolves * sizeof(IbPoint));
    memcpy(sorted, out->solves, out->nsolves * sizeof(IbPoint));
    qsort(sorted, out->nsolves, sizeof(IbPoint), ib_point_cmp);
    out->curve = malloc_check((out->nsolves + 1) * sizeof(IbPoint));
    out->curve[out->ncurve++] = (IbPoint){.converged = 1};
    for (size_t i = 0; i < out->nsolves; i++) {
        const IbPoint* last = &out->curve[out->ncurve - 1];
        if (sorted[i].I_TY > last->I_TY + 1e-9 && sorted[i].I_XT > last->I_XT)
            out->curve[out->ncurve++] = sorted[i];
    }
    free(sorted);
    free(cand);
    free(best);
    out->seconds = time_seconds() - t0;
    return 0;
}

void ib_curve_free(IbCurve* c) {
    free(c->solves);
    free(c->curve);
    memset(c, 0, sizeof *c);
}

int ib_curve_write_csv(const char* path, const IbCurve* c, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    double norm = log((double)c->n_bins);
    int ok = fprintf(af.f, "%s\n", IB_CSV_HEADER) > 0;
    for (size_t i = 0; i < c->ncurve && ok; i++)
        ok = fprintf(af.f, "%.9g,%.9g,%.9g\n", c->curve[i].I_XT / norm, c->curve[i].I_TY / norm, c->curve[i].beta) > 0;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}
