// dev/fuzz/fuzz_flags.c: the numeric parsers behind ./train's flags (parse_number_arg, parse_u64_arg,
// called by lib/flags.c) on arbitrary strings. The first input byte picks the kind and the range (the
// ranges of the numeric flags in train.c's table); the rest, up to a NUL, is the flag's value. Properties:
// an accepted value is finite, in range, integral for integer flags, and printing it and parsing again
// gives it back.
#include <math.h>

#include "../../model.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

typedef struct {
    int integer;
    double min, max;
} Range;

static const Range RANGES[] = {
    {1, 1, 128},  {1, 1, 16384}, {1, 2, 65536}, {1, 1, 1e9},   {1, 0, 1e9},   {1, 0, 4096}, {1, 1, 1e6},
    {0, 1e-9, 10}, {0, 0.001, 0.5}, {0, 0, 1},   {0, 0, 10},    {0, 0, 1e9},   {0, 0, 100},
};
#define NUM_RANGES (sizeof RANGES / sizeof RANGES[0])

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    char s[256], err[512], again[64];
    size_t n = size - 1 < sizeof s - 1 ? size - 1 : sizeof s - 1;
    memcpy(s, data + 1, n);
    s[n] = '\0';
    unsigned pick = data[0];
    if (pick % (NUM_RANGES + 1) == NUM_RANGES) {
        uint64_t u;
        if (parse_u64_arg(s, &u, err, sizeof err) == 0) {
            snprintf(again, sizeof again, "%llu", (unsigned long long)u);
            uint64_t u2;
            fuzz_require(parse_u64_arg(again, &u2, err, sizeof err) == 0 && u2 == u, "u64 round trip");
        } else {
            fuzz_require(err[0] != 0, "rejected without a message");
        }
        return 0;
    }
    const Range* r = &RANGES[pick % (NUM_RANGES + 1)];
    double v;
    if (parse_number_arg(s, r->integer, r->min, r->max, &v, err, sizeof err) == 0) {
        fuzz_require(isfinite(v) && v >= r->min && v <= r->max, "accepted value out of range");
        if (r->integer) fuzz_require(v == floor(v), "integer flag accepted a fraction");
        snprintf(again, sizeof again, r->integer ? "%.0f" : "%.17g", v);
        double v2;
        fuzz_require(parse_number_arg(again, r->integer, r->min, r->max, &v2, err, sizeof err) == 0 && v2 == v,
                     "number round trip");
    } else {
        fuzz_require(err[0] != 0, "rejected without a message");
    }
    return 0;
}
