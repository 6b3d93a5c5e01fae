// ib_bound.c: the Information Bottleneck curve of (input n-gram X, next token Y) of a token
// array, written as the CSV that the information-plane plot overlays (probes.h, "Information
// Bottleneck bound", says what the curve does and does not bound).
//
//   dev/ib_bound --out CURVE.csv [--shard FILE.tok | --input FILE|DIR [--tokenizer tokenizer.json | --vocab N]]
//                [--val-frac F] [--corpus-seed N] [--ngram N] [--bins N] [--beta-min F] [--beta-max F]
//                [--betas N] [--restarts N] [--max-iter N] [--tol F] [--seed N] [--plot RUN_DIR]
//
// Tokens: a token shard (e.g. a run's cached train split, .cache/<key>.train.tok), or the train
// split (all but the last --val-frac, cut as ./train cuts it) of a text tokenized with a
// tokenizer.json or a BPE trained here to --vocab; by default the built-in corpus. --plot RUN_DIR
// redraws RUN_DIR/info_plane.svg from RUN_DIR/probes.csv with the curve on it.
// Build: make dev/ib_bound (dev/experiments/run.sh does it)
// Exit status: 2 on usage errors, 1 on runtime errors.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/corpus.h"
#include "../data/shards.h"
#include "../model.h"
#include "../probes.h"
#include "../lib/ib.h"
#include "../lib/plot.h"
#include "../tokenizer.h"

static void usage(const char* why) {
    if (why) fprintf(stderr, "ib_bound: %s\n", why);
    fprintf(stderr,
            "usage: ib_bound --out CURVE.csv [--shard FILE.tok | --input FILE|DIR [--tokenizer JSON | --vocab N]]\n"
            "                [--val-frac F (0.1)] [--corpus-seed N (1337)] [--ngram N (1)] [--bins N (100)]\n"
            "                [--beta-min F (0.1)] [--beta-max F (1000)] [--betas N (40)] [--restarts N (1)]\n"
            "                [--max-iter N (300)] [--tol F (1e-6)] [--seed N (1)] [--plot RUN_DIR]\n");
    exit(2);
}

// Parses a number flag value in [lo, hi] or exits with a usage error naming the flag.
static double num_arg(const char* flag, const char* v, double lo, double hi) {
    char* end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "ib_bound: %s: '%s' is not a number in [%g, %g]\n", flag, v, lo, hi);
        exit(2);
    }
    return x;
}

// Tokenizer encode behind a function pointer for data_prepare_tokens-free use.
static int* encode_text(const Tokenizer* tok, const char* text, size_t len, size_t* n) {
    return tok_encode(tok, text, len, n);
}

int main(int argc, char** argv) {
    const char *out = NULL, *shard = NULL, *input = NULL, *tok_json = NULL, *plot_dir = NULL;
    int vocab = 512, ngram = 1;
    double val_frac = 0.1;
    uint64_t corpus_seed = 1337;
    IbConfig c;
    ib_config_default(&c);
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage(NULL);
        if (i + 1 >= argc) {
            fprintf(stderr, "ib_bound: %s needs a value\n", a);
            usage(NULL);
        }
        const char* v = argv[++i];
        if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--shard") == 0) shard = v;
        else if (strcmp(a, "--input") == 0) input = v;
        else if (strcmp(a, "--tokenizer") == 0) tok_json = v;
        else if (strcmp(a, "--vocab") == 0) vocab = (int)num_arg(a, v, 257, TOK_MAX_VOCAB);
        else if (strcmp(a, "--val-frac") == 0) val_frac = num_arg(a, v, 0.001, 0.5);
        else if (strcmp(a, "--corpus-seed") == 0) corpus_seed = (uint64_t)num_arg(a, v, 0, 1e18);
        else if (strcmp(a, "--ngram") == 0) ngram = (int)num_arg(a, v, 1, 3);
        else if (strcmp(a, "--bins") == 0) c.n_bins = (int)num_arg(a, v, 2, 65536);
        else if (strcmp(a, "--beta-min") == 0) c.beta_min = num_arg(a, v, 1e-9, 1e9);
        else if (strcmp(a, "--beta-max") == 0) c.beta_max = num_arg(a, v, 1e-9, 1e9);
        else if (strcmp(a, "--betas") == 0) c.num_betas = (int)num_arg(a, v, 1, 10000);
        else if (strcmp(a, "--restarts") == 0) c.restarts = (int)num_arg(a, v, 0, 1000);
        else if (strcmp(a, "--max-iter") == 0) c.max_iter = (int)num_arg(a, v, 1, 1e7);
        else if (strcmp(a, "--tol") == 0) c.tol = num_arg(a, v, 0, 1);
        else if (strcmp(a, "--seed") == 0) c.seed = (uint64_t)num_arg(a, v, 0, 1e18);
        else if (strcmp(a, "--plot") == 0) plot_dir = v;
        else {
            fprintf(stderr, "ib_bound: unknown flag %s\n", a);
            usage(NULL);
        }
    }
    if (!out) usage("--out is required");
    if (shard && input) usage("give --shard or --input, not both");
    if (c.beta_max < c.beta_min) usage("--beta-max must be >= --beta-min");
    char err[4096];
    int* tokens = NULL;
    size_t n = 0;
    if (shard) {
        tokens = shard_read(shard, 0, &n, NULL, err, sizeof err);
        if (!tokens) {
            fprintf(stderr, "ib_bound: %s\n", err);
            return 1;
        }
        printf("tokens: %zu from %s\n", n, shard);
    } else {
        size_t len;
        char* text = input ? data_read_input(input, &len, err, sizeof err) : corpus_generate(corpus_seed, CORPUS_DEFAULT_BYTES, &len);
        if (!text) {
            fprintf(stderr, "ib_bound: %s\n", err);
            return 1;
        }
        size_t cut = data_split_text(text, len, val_frac, err, sizeof err);
        if (cut == 0) {
            fprintf(stderr, "ib_bound: %s: %s\n", input ? input : "built-in corpus", err);
            return 1;
        }
        Tokenizer* tok = tok_json ? tok_load_json(tok_json, err, sizeof err) : tok_train(text, cut, vocab, err, sizeof err);
        if (!tok) {
            fprintf(stderr, "ib_bound: %s\n", err);
            return 1;
        }
        tokens = encode_text(tok, text, cut, &n);
        printf("tokens: %zu (train split of %s, %zu bytes, vocab %d%s)\n", n, input ? input : "the built-in corpus",
               cut, tok_vocab_size(tok), tok_json ? "" : ", BPE trained on the train split");
        tok_free(tok);
        free(text);
    }
    IbJoint j;
    if (ib_joint_from_tokens(&j, tokens, n, ngram, err, sizeof err) != 0) {
        fprintf(stderr, "ib_bound: %s\n", err);
        return 1;
    }
    free(tokens);
    printf("joint: |X| = %d (%d-grams), |Y| = %d, %zu pairs; H(X) %.4f, H(Y) %.4f, I(X;Y) %.4f nats\n", j.nx, ngram,
           j.ny, j.nnz, j.H_X, j.H_Y, j.I_XY);
    IbCurve curve;
    if (ib_curve_compute(&j, &c, &curve, err, sizeof err) != 0) {
        fprintf(stderr, "ib_bound: %s\n", err);
        return 1;
    }
    size_t unconverged = 0;
    long iters = 0;
    for (size_t k = 0; k < curve.nsolves; k++) unconverged += !curve.solves[k].converged, iters += curve.solves[k].iters;
    double norm = log((double)c.n_bins);
    const IbPoint* last = &curve.curve[curve.ncurve - 1];
    printf("sweep: %d betas in [%g, %g], %zu solves (%zu hit max_iter %d), %ld iterations, %.1f s\n", c.num_betas,
           c.beta_min, c.beta_max, curve.nsolves, unconverged, c.max_iter, iters, curve.seconds);
    printf("curve: %zu points; end I(X;T) %.4f, I(T;Y) %.4f (/ln %d); I(X;Y)/ln %d = %.4f, min(H(X), ln %d)/ln %d = "
           "%.4f\n",
           curve.ncurve, last->I_XT / norm, last->I_TY / norm, c.n_bins, c.n_bins, j.I_XY / norm, c.n_bins, c.n_bins,
           fmin(j.H_X, norm) / norm);
    int rc = ib_curve_write_csv(out, &curve, err, sizeof err);
    if (rc != 0) fprintf(stderr, "ib_bound: %s\n", err);
    else printf("wrote %s\n", out);
    if (rc == 0 && plot_dir) {
        char pc[4200], svg[4200];
        snprintf(pc, sizeof pc, "%s/probes.csv", plot_dir);
        snprintf(svg, sizeof svg, "%s/info_plane.svg", plot_dir);
        PlotOptions o = {.corrected = 0, .bound_csv = out};
        rc = probe_plot_info_plane(pc, svg, &o, err, sizeof err);
        if (rc != 0) fprintf(stderr, "ib_bound: %s\n", err);
        else printf("wrote %s with the curve\n", svg);
    }
    ib_curve_free(&curve);
    ib_joint_free(&j);
    return rc ? 1 : 0;
}
