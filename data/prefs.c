// data/prefs.c: preference pairs for DPO (see prefs.h for the layouts and the sequence format).
#define _GNU_SOURCE
#include "prefs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/json.h"
#include "../lib/util.h"
#include "shards.h"

// ----------------------------------------------------------------------------
// the set

void pref_init(PrefSet* set, int seq_len) {
    memset(set, 0, sizeof *set);
    if (seq_len < 2) fatal("pref_init: seq_len %d < 2", seq_len);
    set->seq_len = seq_len;
}

void pref_free(PrefSet* set) {
    for (int i = 0; i < set->n; i++) {
        free(set->pairs[i].chosen);
        free(set->pairs[i].rejected);
    }
    free(set->pairs);
    memset(set, 0, sizeof *set);
}

// Builds one sequence: the last np_keep prompt tokens, then the response (at most rmax tokens of
// response ++ [eot]). Returns a malloc'd array and its length in *n.
static int* build_sequence(const int* prompt, size_t np, size_t np_keep, const int* resp, size_t nr, int eot,
                           size_t rmax, int* n) {
    size_t r = nr + 1 < rmax ? nr + 1 : rmax; // response tokens kept, counting the eot
    int* seq = (int*)malloc_check((np_keep + r) * sizeof(int));
    memcpy(seq, prompt + (np - np_keep), np_keep * sizeof(int));
    size_t k = np_keep;
    for (size_t i = 0; i < r; i++) seq[k++] = i < nr ? resp[i] : eot;
    *n = (int)k;
    return seq;
}

int pref_add_tokens(PrefSet* set, const int* prompt, size_t np, const int* chosen, size_t nc, const int* rejected,
                    size_t nr, int eot) {
    if (nc == 0 || nr == 0) {
        set->empty++;
        return PREF_EMPTY;
    }
    if (nc == nr && memcmp(chosen, rejected, nc * sizeof(int)) == 0) {
        set->identical++;
        return PREF_IDENTICAL;
    }
    int bos = eot;
    if (np == 0) { // the first response token needs a context: GPT-2's document separator
        prompt = &bos;
        np = 1;
    }
    // T+1 tokens per sequence at most; the prompt (shared) keeps at least one token
    size_t cap = (size_t)set->seq_len + 1;
    size_t rlong = (nc > nr ? nc : nr) + 1; // the longer response with its eot
    size_t np_keep = np;
    if (np_keep + rlong > cap) np_keep = rlong + 1 <= cap ? cap - rlong : 1;
    size_t rmax = cap - np_keep; // response tokens (with eot) that fit
    PrefPair p;
    p.prompt_len = (int)np_keep;
    p.chosen = build_sequence(prompt, np, np_keep, chosen, nc, eot, rmax, &p.n_chosen);
    p.rejected = build_sequence(prompt, np, np_keep, rejected, nr, eot, rmax, &p.n_rejected);
    // responses that differ only past what fits are identical to the model: no preference is left
    if (p.n_chosen == p.n_rejected && memcmp(p.chosen, p.rejected, (size_t)p.n_chosen * sizeof(int)) == 0) {
        free(p.chosen);
        free(p.rejected);
        set->identical++;
        set->cut_identical++;
        return PREF_IDENTICAL_CUT;
    }
    int cut_response = rlong > rmax;
    if (np_keep < np || cut_response) set->truncated++;
    if (cut_response) set->response_truncated++;
    if (set->n == set->cap) {
        set->cap = set->cap ? 2 * set->cap : 256;
        set->pairs = (PrefPair*)realloc_check(set->pairs, (size_t)set->cap * sizeof(PrefPair));
    }
    set->pairs[set->n++] = p;
    return PREF_KEPT;
}

// Length of the longest common prefix of two arrays of `size`-byte elements.
static size_t common_prefix(const void* a, size_t na, const void* b, size_t nb, size_t size) {
    size_t n = na < nb ? na : nb, i = 0;
    while (i < n && memcmp((const char*)a + i * size, (const char*)b + i * size, size) == 0) i++;
    return i;
}

// Tokenises "<|endoftext|>" ++ text: returns a malloc'd array, length in *n.
static int* encode_with_bos(const Tokenizer* tok, const char* text, size_t len, size_t* n) {
    size_t m = 0;
    int* ids = tok_encode(tok, text, len, &m);
    int* out = (int*)malloc_check((m + 1) * sizeof(int));
    out[0] = tok_eot(tok);
    if (m) memcpy(out + 1, ids, m * sizeof(int));
    free(ids);
    *n = m + 1;
    return out;
}

int pref_add_text(PrefSet* set, const Tokenizer* tok, const char* prompt, size_t prompt_len, const char* chosen,
                  size_t chosen_len, const char* rejected, size_t rejected_len) {
    int eot = tok_eot(tok);
    if (eot < 0) fatal("preference data needs a tokenizer with <|endoftext|>");
    if (chosen_len == 0 || rejected_len == 0) {
        set->empty++;
        return PREF_EMPTY;
    }
    if (prompt == NULL && chosen_len == rejected_len && memcmp(chosen, rejected, chosen_len) == 0) {
        set->identical++;
        return PREF_IDENTICAL;
    }
    int *p_ids, *c_ids, *r_ids;
    size_t np, nc, nr;
    int *c_whole = NULL, *r_whole = NULL;
    if (prompt == NULL) {
        // HH-RLHF layout: split at the last "\n\nAssistant:" inside the common byte prefix
        static const char marker[] = "\n\nAssistant:";
        size_t ml = sizeof marker - 1;
        size_t k = common_prefix(chosen, chosen_len, rejected, rejected_len, 1);
        size_t cut = 0;
        for (size_t s = 0; s + ml <= k; s++)
            if (memcmp(chosen + s, marker, ml) == 0) cut = s + ml;
        if (cut > 0) {
            p_ids = encode_with_bos(tok, chosen, cut, &np);
            c_ids = tok_encode(tok, chosen + cut, chosen_len - cut, &nc);
            r_ids = tok_encode(tok, rejected + cut, rejected_len - cut, &nr);
        } else {
            // no marker: the longest common token prefix of the two whole transcripts
            size_t wc, wr;
            c_whole = encode_with_bos(tok, chosen, chosen_len, &wc);
            r_whole = encode_with_bos(tok, rejected, rejected_len, &wr);
            np = common_prefix(c_whole, wc, r_whole, wr, sizeof(int));
            nc = wc - np;
            nr = wr - np;
            p_ids = c_whole;
            c_ids = c_whole + np;
            r_ids = r_whole + np;
        }
    } else {
        p_ids = encode_with_bos(tok, prompt, prompt_len, &np);
        c_ids = tok_encode(tok, chosen, chosen_len, &nc);
        r_ids = tok_encode(tok, rejected, rejected_len, &nr);
    }
    int r = pref_add_tokens(set, p_ids, np, c_ids, nc, r_ids, nr, eot);
    if (c_whole) {
        free(c_whole);
        free(r_whole);
    } else {
        free(p_ids);
        free(c_ids);
        free(r_ids);
    }
    return r;
}

// ----------------------------------------------------------------------------
// JSON Lines

// An open input: a file, stdin, or the output of `gzip -dc` in a child process.
typedef struct {
    FILE* f;
    pid_t gzip; // > 0 while a gzip child runs
    int is_stdin;
} PrefInput;

static int ends_with(const char* s, const char* suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int input_open(PrefInput* in, const char* path, char* err, size_t errlen) {
    memset(in, 0, sizeof *in);
    if (strcmp(path, "-") == 0) {
        in->f = stdin;
        in->is_stdin = 1;
        return 0;
    }
    // open first in every case, so a missing file is reported here and not by gzip
    FILE* f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!ends_with(path, ".gz")) {
        in->f = f;
        return 0;
    }
    // gzip -dc reads the file from its stdin (already open), writes to a pipe; no shell involved
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(err, errlen, "%s: pipe: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "%s: fork: %s", path, strerror(errno));
        fclose(f);
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fileno(f), 0);
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execlp("gzip", "gzip", "-dc", (char*)NULL);
        _exit(127);
    }
    fclose(f);
    close(fd[1]);
    in->f = fdopen(fd[0], "rb");
    if (!in->f) {
        snprintf(err, errlen, "%s: fdopen: %s", path, strerror(errno));
        close(fd[0]);
        waitpid(pid, NULL, 0);
        return -1;
    }
    in->gzip = pid;
    return 0;
}

// Closes the input. `complete` says whether it was read to the end: only then does a gzip failure
// (corrupt or truncated file) count. Returns 0, or -1 with err filled.
static int input_close(PrefInput* in, const char* path, int complete, char* err, size_t errlen) {
    int rc = 0;
    if (in->f && !in->is_stdin && fclose(in->f) != 0 && complete) {
        snprintf(err, errlen, "%s: close: %s", path, strerror(errno));
        rc = -1;
    }
    if (in->gzip > 0) {
        int status = 0;
        if (waitpid(in->gzip, &status, 0) < 0) status = -1;
        if (complete && rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                snprintf(err, errlen, "%s: cannot run gzip -dc (is gzip installed?)", path);
            else snprintf(err, errlen, "%s: gzip -dc failed (corrupt or truncated .gz file)", path);
            rc = -1;
        }
    }
    memset(in, 0, sizeof *in);
    return rc;
}

// Whether the gzip child of in has no output left and failed (a corrupt or truncated file). Called
// on a malformed line: when more output follows, the line itself is the problem and nothing is
// consumed; otherwise in->gzip is reaped (input_close then skips it).
static int gzip_failed_at_end(PrefInput* in) {
    int c = fgetc(in->f);
    if (c != EOF) {
        ungetc(c, in->f);
        return 0;
    }
    int status = 0;
    if (waitpid(in->gzip, &status, 0) < 0) status = -1;
    in->gzip = 0;
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// A string member of a record: 1 found (ptr/len set), 0 absent, -1 present but not a string.
static int get_string(const JsonValue* rec, const char* key, const char** s, size_t* len) {
    const JsonValue* v = json_get(rec, key);
    if (!v) return 0;
    if (v->type != JSON_STRING) return -1;
    *s = v->str;
    *len = v->len;
    return 1;
}

int pref_read_jsonl(PrefSet* set, const char* file, const Tokenizer* tok, int skip_bad, char* err, size_t errlen) {
    PrefInput in;
    const char* path = strcmp(file, "-") == 0 ? "<stdin>" : file; // the name messages use
    if (input_open(&in, file, err, errlen)) return -1;
    char* line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int kept_before = set->n, failed = 0;
    ssize_t got;
    errno = 0;
    while ((got = getline(&line, &cap, in.f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        size_t k = 0;
        // a UTF-8 byte order mark (Windows editors write one) is not part of the first record
        if (lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) k = 3;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n')) k++;
        if (k == len) continue; // blank line
        set->lines++;
        char what[300] = "";
        JsonValue rec;
        char jerr[200];
        if (json_parse(&rec, line + k, len - k, jerr, sizeof jerr)) {
            snprintf(what, sizeof what, "malformed JSON (%s)", jerr);
        } else {
            const char *p = NULL, *c = NULL, *r = NULL;
            size_t pl = 0, cl = 0, rl = 0;
            int hp = get_string(&rec, "prompt", &p, &pl);
            int hc = get_string(&rec, "chosen", &c, &cl);
            int hr = get_string(&rec, "rejected", &r, &rl);
            if (rec.type != JSON_OBJECT) snprintf(what, sizeof what, "not a JSON object");
            else if (hp < 0 || hc < 0 || hr < 0)
                snprintf(what, sizeof what, "member \"%s\" is not a string",
                         hp < 0 ? "prompt" : hc < 0 ? "chosen" : "rejected");
            else if (hc == 0 || hr == 0) {
                set->missing++;
                if (!set->first_problem[0])
                    snprintf(set->first_problem, sizeof set->first_problem, "%s:%ld: no \"%s\" (skipped)", path,
                             lineno, hc == 0 ? "chosen" : "rejected");
            } else {
                int res = pref_add_text(set, tok, hp ? p : NULL, pl, c, cl, r, rl);
                if (res != PREF_KEPT && !set->first_problem[0])
                    snprintf(set->first_problem, sizeof set->first_problem, "%s:%ld: %s (skipped)", path, lineno,
                             res == PREF_EMPTY       ? "empty chosen or rejected"
                             : res == PREF_IDENTICAL ? "chosen and rejected are identical"
                                                     : "chosen and rejected are identical once cut to T tokens");
            }
            json_free(&rec);
        }
        if (what[0]) { // a malformed line
            if (in.gzip > 0 && gzip_failed_at_end(&in)) {
                // the last line of a truncated .gz is cut short: the file is the problem, not the JSON
                snprintf(err, errlen, "%s: gzip -dc failed after line %ld (corrupt or truncated .gz file)", path,
                         lineno - 1);
                failed = 1;
                break;
            }
            if (!skip_bad) {
                snprintf(err, errlen, "%s:%ld: %s (use --skip-bad to skip such lines)", path, lineno, what);
                failed = 1;
                break;
            }
            set->bad++;
            if (!set->first_problem[0])
                snprintf(set->first_problem, sizeof set->first_problem, "%s:%ld: %s (skipped)", path, lineno, what);
        }
        errno = 0;
    }
    if (!failed && ferror(in.f)) {
        snprintf(err, errlen, "%s: read error after line %ld: %s", path, lineno, strerror(errno));
        failed = 1;
    }
    free(line);
    if (input_close(&in, path, !failed, err, errlen)) failed = 1;
    if (failed) return -1;
    if (set->n == kept_before) {
        snprintf(err, errlen,
                 "%s: no usable preference pairs (%ld records: %ld malformed, %ld missing fields, %ld empty, "
                 "%ld identical)",
                 path, set->lines, set->bad, set->missing, set->empty, set->identical);
        return -1;
    }
    return 0;
}

int pref_from_corpus(PrefSet* set, const CorpusPair* pairs, int n, const Tokenizer* tok, char* err, size_t errlen) {
    int kept_before = set->n;
    for (int i = 0; i < n; i++)
        pref_add_text(set, tok, pairs[i].prompt, strlen(pairs[i].prompt), pairs[i].chosen, strlen(pairs[i].chosen),
                      pairs[i].rejected, strlen(pairs[i].rejected));
    if (set->n == kept_before) {
        snprintf(err, errlen, "built-in corpus: no usable preference pairs (%d pairs: %ld empty, %ld identical)", n,
                 set->empty, set->identical);
        return -1;
    }
    return 0;
}

// ----------------------------------------------------------------------------
// split and batches

void pref_split(PrefSet* set, float val_frac, uint64_t seed) {
    uint64_t rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (int i = set->n - 1; i > 0; i--) { // Fisher-Yates
        int j = (int)(random_u32(&rng) % (uint32_t)(i + 1));
        PrefPair t = set->pairs[i];
        set->pairs[i] = set->pairs[j];
        set->pairs[j] = t;
    }
    int nv = (int)(val_frac * (float)set->n + 0.5f);
    if (val_frac > 0.0f && nv < 1) nv = 1;
    if (nv > set->n - 1) nv = set->n - 1;
    if (nv < 0) nv = 0;
    set->n_val = nv;
}

// Writes one sequence into a row of Tb inputs and Tb targets (see prefs.h for the masking).
static void fill_row(const int* seq, int n, int prompt_len, int eot, size_t Tb, int* inputs, int* targets) {
    for (size_t t = 0; t < Tb; t++) {
        // input t predicts token t+1, a target only when that token belongs to the response
        inputs[t] = (int)t < n ? seq[t] : eot;
        targets[t] = (int)t + 1 < n && (int)t + 1 >= prompt_len ? seq[t + 1] : -1;
    }
}

size_t pref_batch(const PrefSet* set, const int* idx, int B, int eot, int* inputs, int* targets) {
    size_t Tb = 1;
    for (int i = 0; i < B; i++) {
        const PrefPair* p = &set->pairs[idx[i]];
        int m = p->n_chosen > p->n_rejected ? p->n_chosen : p->n_rejected;
        if ((size_t)(m - 1) > Tb) Tb = (size_t)(m - 1);
    }
    for (int i = 0; i < B; i++) {
        const PrefPair* p = &set->pairs[idx[i]];
        fill_row(p->chosen, p->n_chosen, p->prompt_len, eot, Tb, inputs + (size_t)i * Tb, targets + (size_t)i * Tb);
        fill_row(p->rejected, p->n_rejected, p->prompt_len, eot, Tb, inputs + (size_t)(B + i) * Tb,
                 targets + (size_t)(B + i) * Tb);
    }
    return Tb;
}

// ----------------------------------------------------------------------------
// the saved pairs of a DPO stage

// The header of dpo_pairs.bin; the counts of PrefSet follow it.
typedef struct {
    uint32_t magic, version;
    int32_t n, n_val, seq_len, vocab_size;
    int64_t counts[8];
} PrefFileHeader;

static void pref_counts(const PrefSet* set, int64_t* c) {
    const long v[8] = {set->lines,     set->bad,       set->missing,           set->empty,
                       set->identical, set->truncated, set->response_truncated, set->cut_identical};
    for (int i = 0; i < 8; i++) c[i] = v[i];
}

// Appends n bytes to f and the checksum; 1 on success.
static int pref_put(FILE* f, const void* p, size_t n, uint64_t* sum) {
    *sum = data_hash(*sum, p, n);
    return fwrite(p, 1, n, f) == n;
}

int pref_save(const PrefSet* set, int vocab_size, const float* ref_c, const float* ref_r, const char* path,
              uint64_t* sum, char* err, size_t errlen) {
    PrefFileHeader h = {PREF_MAGIC, PREF_VERSION, set->n, set->n_val, set->seq_len, vocab_size, {0}};
    pref_counts(set, h.counts);
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    uint64_t s = DATA_HASH_INIT;
    int ok = pref_put(af.f, &h, sizeof h, &s);
    for (int i = 0; i < set->n && ok; i++) {
        const PrefPair* p = &set->pairs[i];
        int32_t lens[3] = {p->n_chosen, p->n_rejected, p->prompt_len};
        ok = pref_put(af.f, lens, sizeof lens, &s) && pref_put(af.f, p->chosen, (size_t)p->n_chosen * 4, &s) &&
             pref_put(af.f, p->rejected, (size_t)p->n_rejected * 4, &s);
    }
    ok = ok && pref_put(af.f, ref_c, (size_t)set->n * 4, &s) && pref_put(af.f, ref_r, (size_t)set->n * 4, &s);
    ok = ok && fwrite(&s, sizeof s, 1, af.f) == 1;
    if (!ok) {
        set_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    *sum = s;
    return atomic_commit(&af, err, errlen);
}

// A cursor over the bytes of a file being read.
typedef struct {
    const char* p;
    size_t left;
} PrefCursor;

static int pref_take(PrefCursor* c, void* dst, size_t n) {
    if (c->left < n) return -1;
    memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return 0;
}

// Reads and checks one sequence of n tokens (n in [prompt_len + 1, seq_len + 1]); NULL on a fault.
static int* pref_take_sequence(PrefCursor* c, int n, const PrefFileHeader* h) {
    if (n < 2 || n > h->seq_len + 1 || c->left / 4 < (size_t)n) return NULL;
    int* seq = malloc_check((size_t)n * sizeof(int));
    pref_take(c, seq, (size_t)n * 4);
    for (int t = 0; t < n; t++)
        if (seq[t] < 0 || seq[t] >= h->vocab_size) {
            free(seq);
            return NULL;
        }
    return seq;
}

// Reads pair i; returns NULL on success or what is wrong with it.
static const char* pref_take_pair(PrefCursor* c, const PrefFileHeader* h, PrefPair* p) {
    int32_t lens[3];
    if (pref_take(c, lens, sizeof lens)) return "the file ends inside it";
    p->n_chosen = lens[0];
    p->n_rejected = lens[1];
    p->prompt_len = lens[2];
    if (lens[2] < 1 || lens[2] >= lens[0] || lens[2] >= lens[1]) return "bad lengths";
    p->chosen = pref_take_sequence(c, lens[0], h);
    p->rejected = p->chosen ? pref_take_sequence(c, lens[1], h) : NULL;
    if (!p->rejected) return "a sequence too long, cut short, or with a token outside the vocabulary";
    if (memcmp(p->chosen, p->rejected, (size_t)lens[2] * sizeof(int)) != 0) return "the two prompts differ";
    return NULL;
}

// What is wrong with the header h of a file of len bytes (buf), or NULL.
static const char* pref_check_header(const PrefFileHeader* h, const char* buf, size_t len, int vocab_size,
                                     uint64_t* stored) {
    if (len < sizeof *h + 8) return "truncated";
    if (h->magic != PREF_MAGIC) return "not a saved pair set (bad magic)";
    if (h->version != PREF_VERSION) return "another version of the format";
    memcpy(stored, buf + len - 8, 8);
    if (*stored != data_hash(DATA_HASH_INIT, buf, len - 8)) return "checksum mismatch (the file is corrupt)";
    if (h->vocab_size != vocab_size) return "saved for another vocabulary size";
    // a pair takes at least 36 bytes, so n is bounded by the size before anything is allocated
    if (h->seq_len < 2 || h->n < 2 || h->n_val < 1 || h->n_val >= h->n || (size_t)h->n > len / 36)
        return "bad pair counts";
    for (int i = 0; i < 8; i++)
        if (h->counts[i] < 0) return "a negative count";
    return NULL;
}

int pref_load(PrefSet* set, int vocab_size, float** ref_c, float** ref_r, const char* path, uint64_t* sum, char* err,
              size_t errlen) {
    memset(set, 0, sizeof *set);
    *ref_c = *ref_r = NULL;
    size_t len = 0;
    char* buf = read_file(path, &len, err, errlen);
    if (!buf) return -1;
    PrefFileHeader h = {0};
    PrefCursor c = {buf, len};
    uint64_t stored = 0;
    const char* why = pref_take(&c, &h, sizeof h) ? "truncated" : pref_check_header(&h, buf, len, vocab_size, &stored);
    int bad_pair = -1;
    if (!why) {
        c.left -= 8; // the checksum
        set->seq_len = h.seq_len;
        set->pairs = calloc_check((size_t)h.n, sizeof(PrefPair));
        set->cap = h.n;
        for (; set->n < h.n && !why; set->n++) why = pref_take_pair(&c, &h, &set->pairs[set->n]);
        if (why) bad_pair = set->n - 1;
    }
    if (!why) {
        *ref_c = malloc_check((size_t)h.n * sizeof(float));
        *ref_r = malloc_check((size_t)h.n * sizeof(float));
        if (pref_take(&c, *ref_c, (size_t)h.n * 4) || pref_take(&c, *ref_r, (size_t)h.n * 4) || c.left != 0)
            why = "wrong size for its pairs";
        for (int i = 0; i < h.n && !why; i++)
            if (!isfinite((*ref_c)[i]) || !isfinite((*ref_r)[i])) why = "a non-finite reference log-probability";
    }
    free(buf);
    if (why) {
        if (bad_pair >= 0) set_err(err, errlen, "%s: pair %d: %s", path, bad_pair, why);
        else set_err(err, errlen, "%s: %s", path, why);
        free(*ref_c);
        free(*ref_r);
        *ref_c = *ref_r = NULL;
        pref_free(set);
        return -1;
    }
    set->n_val = h.n_val;
    long* dst[8] = {&set->lines,     &set->bad,       &set->missing,           &set->empty,
                    &set->identical, &set->truncated, &set->response_truncated, &set->cut_identical};
    for (int i = 0; i < 8; i++) *dst[i] = (long)h.counts[i];
    *sum = stored;
    return 0;
}
