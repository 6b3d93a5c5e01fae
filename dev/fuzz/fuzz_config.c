// dev/fuzz/fuzz_config.c: the fuzzer's bytes as DIR/config.json beside a valid model.safetensors
// of a tiny model (V=5, n_positions 3, C=2, L=1, H=1, written once by gpt_save), loaded with
// gpt_load. A config claiming a huge model must be refused against the file before any large
// allocation (libFuzzer's -rss_limit_mb / malloc limit reports it otherwise).
#include <math.h>

#include "../../model.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int have_weights = 0; // the safetensors file is written on the first call only
    char path[600], err[512];
    if (!have_weights) {
        GPT m;
        gpt_build(&m, (GPTConfig){.max_seq_len = 3, .vocab_size = 5, .num_layers = 1, .num_heads = 1, .channels = 2},
                  42);
        if (gpt_save(&m, fuzz_dir_()->dir, -1, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
        gpt_free(&m);
        have_weights = 1;
    }
    fuzz_write("config.json", data, size, path, sizeof path);
    GPT model;
    if (gpt_load(&model, fuzz_dir_()->dir, err, sizeof err) == 0) {
        // only a config whose shapes match the weights can load (n_head does not change a shape: any
        // divisor of n_embd is fine)
        fuzz_require(model.config.vocab_size == 5 && model.config.max_seq_len == 3 && model.config.channels == 2 &&
                         model.config.num_layers == 1 && model.config.channels % model.config.num_heads == 0,
                     "a config that does not match the weights loaded");
        gpt_free(&model);
    } else {
        fuzz_require(err[0] != 0, "gpt_load failed without a message");
    }
    return 0;
}
