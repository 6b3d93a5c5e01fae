// dev/fuzz/fuzz_tokenizer_json.c: the fuzzer's bytes as a Hugging Face tokenizer.json, loaded with
// tok_load_json. Properties of a successful load (the loader requires all 256 byte tokens):
// encoding the input's own bytes gives ids inside the vocabulary, and decoding them gives the bytes.
#include "../../model.h"
#include "../../tokenizer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[600], err[512];
    fuzz_write("tokenizer.json", data, size, path, sizeof path);
    Tokenizer* tok = tok_load_json(path, err, sizeof err);
    if (!tok) {
        fuzz_require(err[0] != 0, "tok_load_json failed without a message");
        return 0;
    }
    check_loaded_tokenizer(tok, data, size);
    return 0;
}
