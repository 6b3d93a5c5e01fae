// dev/fuzz/fuzz_probe_bins.c: the fuzzer's bytes as probe_bins.safetensors, loaded with
// probe_bins_load (the file a run's probes continue from on --resume and in DPO alone). Exercises
// the header length, the JSON header and its __metadata__, dtypes, ranks, shapes, offsets, the
// reference points' and temperatures' values. Properties of a successful load: shapes agree,
// every point is finite, every eps positive, the trajectory set within the sequences, tokens >= 0.
#include <math.h>

#include "../../probes.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[600], err[512];
    fuzz_write("probe_bins.safetensors", data, size, path, sizeof path);
    ProbeBins pb;
    int* tokens = NULL;
    size_t S = 0, T = 0, traj = 0;
    uint64_t null_seed = 0;
    if (probe_bins_load(path, &pb, &null_seed, &tokens, &S, &T, &traj, err, sizeof err) == 0) {
        fuzz_require(pb.seeds >= 1 && pb.n_bins >= 2 && pb.d >= 1, "loaded bins have an empty shape");
        fuzz_require(traj >= 1 && traj <= S, "trajectory set outside the sequences");
        for (size_t i = 0; i < (size_t)pb.seeds * pb.n_bins * pb.d; i++)
            fuzz_require(isfinite(pb.W[i]), "a loaded reference point is not finite");
        for (int s = 0; s < pb.seeds; s++) fuzz_require(pb.eps[s] > 0.0f && isfinite(pb.eps[s]), "a bad eps loaded");
        for (size_t i = 0; i < S * T; i++) fuzz_require(tokens[i] >= 0, "a negative probe token loaded");
        free(tokens);
        probe_bins_free(&pb);
    } else {
        fuzz_require(err[0] != 0, "probe_bins_load failed without a message");
    }
    return 0;
}
