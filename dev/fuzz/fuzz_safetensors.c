// dev/fuzz/fuzz_safetensors.c: the fuzzer's bytes as DIR/model.safetensors beside a fixed, valid
// config.json of a tiny model (V=5, n_positions 3, C=2, L=1, H=1), loaded with gpt_load.
// Exercises the header length, the JSON header, dtypes, shapes, offsets, overlaps, finiteness.
// Property of a successful load: the config is the fixed one and every parameter is finite.
#include <math.h>

#include "../../model.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static const char CONFIG[] = "{\"model_type\":\"gpt2\",\"vocab_size\":5,\"n_positions\":3,\"n_embd\":2,"
                             "\"n_layer\":1,\"n_head\":1,\"layer_norm_epsilon\":1e-05}";

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[600], err[512];
    fuzz_write("config.json", CONFIG, sizeof CONFIG - 1, path, sizeof path);
    fuzz_write("model.safetensors", data, size, path, sizeof path);
    GPT model;
    if (gpt_load(&model, fuzz_dir_()->dir, err, sizeof err) == 0) {
        fuzz_require(model.config.vocab_size == 5 && model.config.max_seq_len == 3 && model.config.channels == 2 &&
                         model.config.num_layers == 1 && model.config.num_heads == 1,
                     "loaded config differs from config.json");
        for (size_t i = 0; i < model.num_parameters; i++)
            fuzz_require(isfinite(model.params_memory[i]), "a loaded parameter is not finite");
        gpt_free(&model);
    } else {
        fuzz_require(err[0] != 0, "gpt_load failed without a message");
    }
    return 0;
}
