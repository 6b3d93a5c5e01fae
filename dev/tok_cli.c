// tok_cli.c: a small command line over tokenizer.c, for the benchmark and the fixture script.
//
//   tok_cli train TEXT VOCAB OUT.json     learn merges, write tokenizer.json, print the time
//   tok_cli encode TOKENIZER.json TEXT    encode (best of 3), print MB/s, tokens, bytes/token
//   tok_cli ids TOKENIZER.json TEXT       print the ids, one per line
//   tok_cli gpt2-ids ENCODER.json VOCAB.bpe TEXT   the same with GPT-2's files
//
// Built by dev/bench_tokenizer.sh; exit status 2 on usage errors, 1 on runtime errors.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../model.h"
#include "../tokenizer.h"

// CPU seconds of this process (the machine may be shared: wall time then overstates the cost).
static double cpu_seconds(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(void) {
    fprintf(stderr, "usage: tok_cli train TEXT VOCAB OUT.json | encode TOKENIZER.json TEXT |\n"
                    "       ids TOKENIZER.json TEXT | gpt2-ids ENCODER.json VOCAB.bpe TEXT\n");
    return 2;
}

static void print_ids(const Tokenizer* tok, const char* text, size_t len) {
    size_t n;
    int* ids = tok_encode(tok, text, len, &n);
    for (size_t k = 0; k < n; k++) printf("%d\n", ids[k]);
    free(ids);
}

int main(int argc, char** argv) {
    char err[1024];
    if (argc < 2) return usage();
    const char* cmd = argv[1];
    if (strcmp(cmd, "train") == 0) {
        if (argc != 5) return usage();
        char* end;
        long v = strtol(argv[3], &end, 10);
        if (*end || end == argv[3]) return usage();
        size_t len;
        char* text = read_file(argv[2], &len, err, sizeof err);
        if (!text) { fprintf(stderr, "error: %s\n", err); return 1; }
        double t0 = time_seconds();
        Tokenizer* tok = tok_train(text, len, (int)(v > 1 << 30 ? 1 << 30 : v), err, sizeof err);
        double t1 = time_seconds();
        if (!tok) { fprintf(stderr, "error: %s\n", err); free(text); return 1; }
        if (tok_save_json(tok, argv[4], err, sizeof err)) {
            fprintf(stderr, "error: %s\n", err);
            return 1;
        }
        printf("train_seconds %.3f vocab %d bytes %zu\n", t1 - t0, tok_vocab_size(tok), len);
        tok_free(tok);
        free(text);
        return 0;
    }
    if (strcmp(cmd, "encode") == 0 || strcmp(cmd, "ids") == 0) {
        if (argc != 4) return usage();
        Tokenizer* tok = tok_load_json(argv[2], err, sizeof err);
        if (!tok) { fprintf(stderr, "error: %s\n", err); return 1; }
        size_t len;
        char* text = read_file(argv[3], &len, err, sizeof err);
        if (!text) { fprintf(stderr, "error: %s\n", err); tok_free(tok); return 1; }
        if (strcmp(cmd, "ids") == 0) {
            print_ids(tok, text, len);
        } else {
            double best = 1e30, best_cpu = 1e30;
            size_t n = 0;
            for (int rep = 0; rep < 3; rep++) {
                double t0 = time_seconds(), c0 = cpu_seconds();
                int* ids = tok_encode(tok, text, len, &n);
                double dt = time_seconds() - t0, dc = cpu_seconds() - c0;
                if (dt < best) best = dt;
                if (dc < best_cpu) best_cpu = dc;
                size_t dl;
                char* back = tok_decode(tok, ids, n, &dl);
                if (dl != len || memcmp(back, text, len) != 0) {
                    fprintf(stderr, "error: decode(encode(x)) != x\n");
                    return 1;
                }
                free(back);
                free(ids);
            }
            printf("encode_seconds %.4f mb_per_s %.1f tokens %zu bytes_per_token %.3f cpu_mb_per_s %.1f\n", best,
                   len / best / 1e6, n, n ? (double)len / (double)n : 0.0, len / (best_cpu > 0 ? best_cpu : best) / 1e6);
        }
        tok_free(tok);
        free(text);
        return 0;
    }
    if (strcmp(cmd, "gpt2-ids") == 0) {
        if (argc != 5) return usage();
        Tokenizer* tok = tok_load_gpt2(argv[2], argv[3], err, sizeof err);
        if (!tok) { fprintf(stderr, "error: %s\n", err); return 1; }
        size_t len;
        char* text = read_file(argv[4], &len, err, sizeof err);
        if (!text) { fprintf(stderr, "error: %s\n", err); tok_free(tok); return 1; }
        print_ids(tok, text, len);
        tok_free(tok);
        free(text);
        return 0;
    }
    return usage();
}
