// dev/fuzz/fuzz_csv.c: the fuzzer's bytes as a CSV log that --resume rebuilds (csv_filter_rows):
// byte 0 picks the header (train.csv's, dpo.csv's or probes.csv's), bytes 1 and 2 the steps kept
// of each stage, the rest is the file. Properties of a successful rebuild: it starts with the
// header; every line is a row with the header's number of fields whose step is below what was
// kept; the counts add up to the lines; and rebuilding the result again changes nothing.
#include "../../lib/dpo.h"
#include "../../lib/run.h"
#include "../../probes.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// Fields of a line of n bytes.
static int fields(const char* s, size_t n) {
    int k = 1;
    for (size_t i = 0; i < n; i++) k += s[i] == ',';
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    static const char* headers[3] = {TRAIN_CSV_HEADER, DPO_CSV_HEADER, PROBE_CSV_HEADER};
    const char* header = headers[data[0] % 3];
    CsvKeep keep = {{data[1], data[2]}};
    const char* text = (const char*)data + 3;
    size_t len = size - 3;
    CsvFilterStats st;
    char err[256];
    size_t n = 0;
    char* out = csv_filter_rows(text, len, header, keep, &n, &st, err, sizeof err);
    if (!out) {
        fuzz_require(err[0] != 0, "csv_filter_rows failed without a message");
        return 0;
    }
    size_t hl = strlen(header);
    fuzz_require(n >= hl + 1 && memcmp(out, header, hl) == 0 && out[hl] == '\n' && strlen(out) == n, "header");
    int rows = 0, lines = 0, nf = fields(header, hl);
    for (size_t i = hl + 1; i < n;) {
        const char* nl = memchr(out + i, '\n', n - i);
        fuzz_require(nl != NULL, "a kept row without its newline");
        fuzz_require(fields(out + i, (size_t)(nl - out - i)) == nf, "a kept row with another number of fields");
        long step = strtol(out + i, NULL, 10);
        fuzz_require(step >= 0 && step < (keep.below[0] > keep.below[1] ? keep.below[0] : keep.below[1]), "step kept");
        rows++;
        i = (size_t)(nl - out) + 1;
    }
    for (size_t i = hl + 1; i < len; i++) lines += text[i] == '\n';
    fuzz_require(rows == st.kept && st.kept + st.later + st.disorder == lines, "counts");
    CsvFilterStats st2;
    size_t n2 = 0;
    char* again = csv_filter_rows(out, n, header, keep, &n2, &st2, err, sizeof err);
    fuzz_require(again && n2 == n && memcmp(again, out, n) == 0 && st2.later == 0 && st2.disorder == 0 &&
                     !st2.truncated,
                 "rebuilding a rebuilt log changes it");
    free(again);
    free(out);
    return 0;
}
