// dev/fuzz/fuzz_prefs.c: the fuzzer's bytes as a preference JSON Lines file, read with
// pref_read_jsonl (sequences of at most T+1 = 9 tokens, a small tokenizer trained once), with
// skip_bad taken from the input's length parity so both modes run; an input that starts with
// gzip's magic bytes is read as a .gz (through gzip -dc). Properties of a successful read: every
// non-blank line is kept or counted once; every pair fits T+1 with a prompt of at least one token
// and ids in [0, V), and its two sequences differ; pref_split and pref_batch accept the set.
#include "../../data/prefs.h"
#include "../../model.h"
#include "../../tokenizer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define SEQ_LEN 8

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Tokenizer* tok = NULL; // trained on the first call, kept for the process
    char path[600], err[512];
    if (!tok) {
        static const char text[] = "Human: what is the capital of France?\n\nAssistant: Paris is the capital. "
                                   "The quick brown fox jumps over the lazy dog. the the the cat sat on the mat.";
        tok = tok_train(text, sizeof text - 1, 300, err, sizeof err);
        if (!tok) {
            fprintf(stderr, "tok_train: %s\n", err);
            abort();
        }
    }
    // gzip's magic bytes: read as a .gz through gzip -dc, as ./train reads such a file
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    fuzz_write(gz ? "prefs.jsonl.gz" : "prefs.jsonl", data, size, path, sizeof path);
    PrefSet set;
    pref_init(&set, SEQ_LEN);
    int skip_bad = (int)(size & 1);
    if (pref_read_jsonl(&set, path, tok, skip_bad, err, sizeof err) == 0) {
        fuzz_require(set.n + set.bad + set.missing + set.empty + set.identical == set.lines,
                     "kept + skipped counts differ from the number of lines");
        fuzz_require(skip_bad || set.bad == 0, "malformed lines counted without skip_bad");
        int V = tok_vocab_size(tok);
        for (int i = 0; i < set.n; i++) {
            const PrefPair* p = &set.pairs[i];
            fuzz_require(p->prompt_len >= 1 && p->prompt_len < p->n_chosen && p->prompt_len < p->n_rejected,
                         "prompt not shorter than both sequences");
            fuzz_require(p->n_chosen <= SEQ_LEN + 1 && p->n_rejected <= SEQ_LEN + 1, "sequence longer than T+1");
            for (int t = 0; t < p->n_chosen; t++) fuzz_require(p->chosen[t] >= 0 && p->chosen[t] < V, "chosen id");
            for (int t = 0; t < p->n_rejected; t++)
                fuzz_require(p->rejected[t] >= 0 && p->rejected[t] < V, "rejected id");
            fuzz_require(p->n_chosen != p->n_rejected ||
                             memcmp(p->chosen, p->rejected, (size_t)p->n_chosen * sizeof(int)) != 0,
                         "a kept pair whose sequences are identical (after the cut to T)");
        }
        pref_split(&set, 0.25f, 7);
        fuzz_require(set.n_val >= 0 && set.n_val < set.n, "pref_split left no training pair");
        int B = set.n < 4 ? set.n : 4, idx[4];
        for (int b = 0; b < B; b++) idx[b] = b;
        int inputs[2 * 4 * SEQ_LEN], targets[2 * 4 * SEQ_LEN];
        size_t Tb = pref_batch(&set, idx, B, tok_eot(tok), inputs, targets);
        fuzz_require(Tb >= 1 && Tb <= SEQ_LEN, "pref_batch width outside [1, T]");
    } else {
        fuzz_require(err[0] != 0, "pref_read_jsonl failed without a message");
    }
    pref_free(&set);
    return 0;
}
