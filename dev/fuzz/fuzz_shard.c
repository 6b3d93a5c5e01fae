// dev/fuzz/fuzz_shard.c: the fuzzer's bytes as a token shard, read with shard_read. Properties of
// a successful read: the file size is 64 + n * bytes_per_token, every id is below V, and writing
// the ids back with shard_write and reading them again gives the same ids and header.
#include "../../data/shards.h"
#include "../../model.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[600], path2[600], err[512];
    fuzz_write("shard.tok", data, size, path, sizeof path);
    size_t n = 0;
    ShardHeader h;
    int* ids = shard_read(path, 0, &n, &h, err, sizeof err);
    if (!ids) {
        fuzz_require(err[0] != 0, "shard_read failed without a message");
        return 0;
    }
    fuzz_require(h.bytes_per_token == 2 || h.bytes_per_token == 4, "bytes per token");
    fuzz_require(size == SHARD_HEADER_BYTES + n * (size_t)h.bytes_per_token, "file size differs from the count");
    fuzz_require(h.count == n, "header count");
    for (size_t i = 0; i < n; i++) fuzz_require(ids[i] >= 0 && ids[i] < h.vocab_size, "token id outside [0, V)");
    fuzz_path(path2, sizeof path2, "roundtrip.tok");
    fuzz_require(shard_write(path2, ids, n, h.vocab_size, h.key, err, sizeof err) == 0, "shard_write failed");
    size_t n2 = 0;
    ShardHeader h2;
    int* ids2 = shard_read(path2, h.vocab_size, &n2, &h2, err, sizeof err);
    fuzz_require(ids2 && n2 == n && memcmp(ids, ids2, n * sizeof(int)) == 0, "shard round trip");
    fuzz_require(h2.vocab_size == h.vocab_size && h2.key == h.key, "shard header round trip");
    free(ids);
    free(ids2);
    return 0;
}
