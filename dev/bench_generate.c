// dev/bench_generate.c: generation speed of a randomly initialised GPT of a given shape, with the
// key/value cache (gpt_kv_prefill + gpt_kv_decode) and without it (gpt_forward on the whole
// prefix for every new token, as sampling worked before the cache). Greedy decoding of N tokens
// after a prompt of P tokens, batch 1; prints tokens/s of both and checks that the two produced
// the same tokens (the cached logits are bit-identical to the full forward's).
//
//   build: make dev/bench_generate
//   run:   OMP_NUM_THREADS=2 ./dev/bench_generate -L 6 -C 384 -H 6 -V 8192 -T 256 -P 16 -N 128
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model.h"

static int arg_int(int argc, char** argv, const char* name, int def) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) {
            char* end = NULL;
            long v = strtol(argv[i + 1], &end, 10);
            if (end == argv[i + 1] || *end || v < 1 || v > (1 << 24)) {
                fprintf(stderr, "bench_generate: %s %s is not a positive integer\n", name, argv[i + 1]);
                exit(2);
            }
            return (int)v;
        }
    return def;
}

int main(int argc, char** argv) {
    GPTConfig cfg = {.num_layers = arg_int(argc, argv, "-L", 6),
                     .channels = arg_int(argc, argv, "-C", 384),
                     .num_heads = arg_int(argc, argv, "-H", 6),
                     .vocab_size = arg_int(argc, argv, "-V", 8192),
                     .max_seq_len = arg_int(argc, argv, "-T", 256)};
    int P = arg_int(argc, argv, "-P", 16), N = arg_int(argc, argv, "-N", 128);
    char err[256];
    if (gpt_config_check(&cfg, err, sizeof err) || P + N > cfg.max_seq_len) {
        fprintf(stderr, "bench_generate: bad shape (%s; P + N must be <= T)\n", err);
        return 2;
    }
    GPT m;
    gpt_build(&m, cfg, 1);
    int V = cfg.vocab_size;
    int* a = malloc_check((size_t)(P + N) * sizeof(int));
    int* b = malloc_check((size_t)(P + N) * sizeof(int));
    for (int i = 0; i < P; i++) a[i] = b[i] = (i * 7919 + 13) % V;

    // without the cache: a forward over the whole prefix per token
    gpt_forward(&m, a, NULL, 1, (size_t)(P + N)); // warm-up (allocates the largest activations)
    double t0 = time_seconds();
    for (int i = P; i < P + N; i++) {
        gpt_forward(&m, a, NULL, 1, (size_t)i);
        a[i] = sample_logits(m.acts.logits + (size_t)(i - 1) * (size_t)V, V, 0.0f, 0, NULL);
    }
    double t_full = time_seconds() - t0;

    // with the cache: one prefill of the prompt, then one decoding step per token
    GPTKVCache kv;
    gpt_kv_init(&kv, &cfg, 1, (size_t)(P + N));
    t0 = time_seconds();
    const float* lg = gpt_kv_prefill(&m, &kv, b, &P, (size_t)P);
    for (int i = P; i < P + N; i++) {
        b[i] = sample_logits(lg, V, 0.0f, 0, NULL);
        if (i + 1 < P + N) lg = gpt_kv_decode(&m, &kv, &b[i]);
    }
    double t_kv = time_seconds() - t0;
    int same = memcmp(a, b, (size_t)(P + N) * sizeof(int)) == 0;
    printf("generate L%d C%d H%d V%d, prompt %d, %d new tokens, batch 1: no cache %.1f tokens/s, KV cache %.1f "
           "tokens/s (%.1fx), same tokens: %s\n",
           cfg.num_layers, cfg.channels, cfg.num_heads, V, P, N, N / t_full, N / t_kv, t_full / t_kv,
           same ? "yes" : "NO");
    gpt_kv_free(&kv);
    gpt_free(&m);
    free(a);
    free(b);
    return same ? 0 : 1;
}
