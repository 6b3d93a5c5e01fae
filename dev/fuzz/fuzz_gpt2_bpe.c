// dev/fuzz/fuzz_gpt2_bpe.c: GPT-2's encoder.json + vocab.bpe, loaded with tok_load_gpt2. The input
// is split at its first NUL byte (JSON text holds none): before it encoder.json, after it vocab.bpe
// (no NUL: encoder.json is the whole input and vocab.bpe is empty). Properties of a successful
// load as for tokenizer.json: ids in [0, V) and decode(encode(x)) == x.
#include "../../model.h"
#include "../../tokenizer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char enc_path[600], bpe_path[600], err[512];
    const uint8_t* nul = memchr(data, 0, size);
    size_t elen = nul ? (size_t)(nul - data) : size;
    fuzz_write("encoder.json", data, elen, enc_path, sizeof enc_path);
    fuzz_write("vocab.bpe", nul ? nul + 1 : data, nul ? size - elen - 1 : 0, bpe_path, sizeof bpe_path);
    Tokenizer* tok = tok_load_gpt2(enc_path, bpe_path, err, sizeof err);
    if (!tok) {
        fuzz_require(err[0] != 0, "tok_load_gpt2 failed without a message");
        return 0;
    }
    check_loaded_tokenizer(tok, data, size);
    return 0;
}
