// tests/data.c: what data/ provides. The built-in corpus (determinism, size, an independent
// subject-verb agreement checker over every sentence, lexicon coverage, per-document sentiment),
// the preference pairs and prompts made from it, n-gram entropies against closed forms and a
// numpy fixture, token shards (round trips, a corruption per header field), the token cache, the
// train/val split and the input-folder reader.
#include "test.h"

// ----------------------------------------------------------------------------
// An independent agreement checker: a lexicon built from corpus_words and a scan of the text

// Lexicon word flags.
enum {
    DW_SG = 1,      // singular subject: singular noun, name, he, she
    DW_PL = 2,      // plural subject: plural noun, you, we, they
    DW_I = 4,       // "i"
    DW_V3SG = 8,    // verb that needs a singular subject: 3sg form, "is"
    DW_VBASE = 16,  // verb that needs a plural subject (or I): base form, "are"
    DW_VPAST = 32,  // past form: agrees with anything (so "hurt", "read" are never checked)
    DW_AM = 64,     // "am"
    DW_WAS = 128,   // "was": singular or I
    DW_WERE = 256,  // "were": plural
};

// A small string -> (flags, seen) map for the corpus checks (open addressing, lower-case keys).
typedef struct {
    char word[24];
    int flags, seen, used;
} DataWord;
#define DATA_WORDS 2048

static uint32_t data_word_hash(const char* w) {
    uint32_t h = 2166136261u;
    for (; *w; w++) h = (h ^ (unsigned char)*w) * 16777619u;
    return h;
}

static DataWord* data_word_find(DataWord* table, const char* w, int insert) {
    uint32_t s = data_word_hash(w) % DATA_WORDS;
    while (table[s].used && strcmp(table[s].word, w) != 0) s = (s + 1) % DATA_WORDS;
    if (!table[s].used && insert) {
        table[s].used = 1;
        snprintf(table[s].word, sizeof table[s].word, "%s", w);
    }
    return table[s].used ? &table[s] : NULL;
}

static void data_lower(char* dst, const char* src, size_t n) {
    size_t i = 0;
    for (; i < n && i < 23; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static void data_word_add(DataWord* table, CorpusCategory c, int flags) {
    int n;
    const char* const* words = corpus_words(c, &n);
    for (int i = 0; i < n; i++) {
        char w[24];
        data_lower(w, words[i], strlen(words[i]));
        data_word_find(table, w, 1)->flags |= flags;
    }
}

static DataWord* data_lexicon_table(void) {
    DataWord* t = calloc_check(DATA_WORDS, sizeof(DataWord));
    for (int c = 0; c < CW_NUM_CATEGORIES; c++) data_word_add(t, (CorpusCategory)c, 0);
    data_word_add(t, CW_NOUN_SG, DW_SG);
    data_word_add(t, CW_NAME, DW_SG);
    data_word_add(t, CW_PRONOUN_SG, DW_SG);
    data_word_add(t, CW_NOUN_PL, DW_PL);
    data_word_add(t, CW_VERB_3SG, DW_V3SG);
    data_word_add(t, CW_IVERB_3SG, DW_V3SG);
    data_word_add(t, CW_VERB_BASE, DW_VBASE);
    data_word_add(t, CW_IVERB_BASE, DW_VBASE);
    data_word_add(t, CW_VERB_PAST, DW_VPAST);
    data_word_add(t, CW_IVERB_PAST, DW_VPAST);
    data_word_find(t, "you", 0)->flags |= DW_PL;
    data_word_find(t, "we", 0)->flags |= DW_PL;
    data_word_find(t, "they", 0)->flags |= DW_PL;
    data_word_find(t, "i", 0)->flags |= DW_I;
    data_word_find(t, "is", 0)->flags |= DW_V3SG;
    data_word_find(t, "are", 0)->flags |= DW_VBASE;
    data_word_find(t, "am", 0)->flags |= DW_AM;
    data_word_find(t, "was", 0)->flags |= DW_WAS;
    data_word_find(t, "were", 0)->flags |= DW_WERE;
    return t;
}

// Scans text word by word (runs of letters; punctuation breaks adjacency). For every verb form whose
// subject is the word right before it, or the noun before a relative "that", checks agreement:
// singular subjects take 3sg/is/was, plural ones base/are/were, "I" base/am/was. Counts words not in
// the lexicon, marks lexicon words seen; returns the number of violations, *checked the checks made.
static int data_check_agreement(DataWord* table, const char* text, size_t len, long* checked, long* unknown,
                                long* words) {
    int bad = 0;
    DataWord *prev = NULL, *prev2 = NULL; // previous words, NULL across punctuation
    for (size_t i = 0; i < len;) {
        if (!isalpha((unsigned char)text[i])) {
            if (text[i] != ' ') prev = prev2 = NULL;
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && isalpha((unsigned char)text[j])) j++;
        char w[24];
        data_lower(w, text + i, j - i);
        DataWord* e = data_word_find(table, w, 0);
        (*words)++;
        if (!e) {
            (*unknown)++;
        } else {
            e->seen++;
            int verb = e->flags & (DW_V3SG | DW_VBASE | DW_AM | DW_WAS | DW_WERE);
            if (verb && !(e->flags & DW_VPAST)) {
                DataWord* subj = NULL;
                if (prev && (prev->flags & (DW_SG | DW_PL | DW_I))) subj = prev;
                else if (prev && !strcmp(prev->word, "that") && prev2 && (prev2->flags & (DW_SG | DW_PL)))
                    subj = prev2;
                if (subj) {
                    (*checked)++;
                    int ok = (subj->flags & DW_SG) ? (e->flags & (DW_V3SG | DW_WAS)) != 0
                             : (subj->flags & DW_PL) ? (e->flags & (DW_VBASE | DW_WERE)) != 0
                                                     : (e->flags & (DW_VBASE | DW_AM | DW_WAS)) != 0;
                    if (!ok) {
                        if (bad < 3) printf("     agreement: \"%s %s\"\n", subj->word, e->word);
                        bad++;
                    }
                }
            }
        }
        prev2 = prev;
        prev = e;
        i = j;
    }
    return bad;
}

// Byte-level tokens: the encode callback data_prepare_tokens takes, with V = 256.
static int* data_encode_bytes(void* ctx, const char* text, size_t len, size_t* n) {
    (void)ctx;
    int* ids = malloc_check((len ? len : 1) * sizeof(int));
    for (size_t i = 0; i < len; i++) ids[i] = (unsigned char)text[i];
    *n = len;
    return ids;
}

// Byte-level n-gram entropies of text split 90/10; 0 or -1 with err filled.
static int data_byte_ngrams(const char* text, size_t len, NgramStats* st, char* err, size_t errlen) {
    size_t cut = data_split_text(text, len, 0.1, err, errlen);
    size_t nt, nv;
    int* tr = data_encode_bytes(NULL, text, cut, &nt);
    int* va = data_encode_bytes(NULL, text + cut, len - cut, &nv);
    int rc = ngram_entropies(tr, nt, va, nv, 256, st, err, errlen);
    free(tr);
    free(va);
    return rc;
}

// ----------------------------------------------------------------------------
// The built-in corpus

// The same seed gives the same text, another seed another, of the size asked for.
static void data_check_corpus_seeds(void) {
    size_t la, lb, lc;
    char* a = corpus_generate(7, 200000, &la);
    char* b = corpus_generate(7, 200000, &lb);
    char* c = corpus_generate(8, 200000, &lc);
    check(la == lb && memcmp(a, b, la) == 0, "corpus: same seed gives the same %zu bytes", la);
    check(la != lc || memcmp(a, c, la) != 0, "corpus: another seed gives different text");
    check(la >= 200000 && la < 200000 + 4096 && strlen(a) == la, "corpus: asked 200000 bytes, got %zu", la);
    free(a);
    free(b);
    free(c);
}

// The default corpus: its size and shape, agreement in every sentence (the checker must first catch
// planted errors), every lexicon word used, no word both a noun and a present verb.
static void data_check_corpus_grammar(const char* text, size_t len, double gen_s) {
    long docs = 1, sentences = 0, dialogue = 0;
    for (size_t i = 0; i + 1 < len; i++) docs += text[i] == '\n' && text[i + 1] == '\n';
    for (size_t i = 0; i < len; i++) sentences += text[i] == '.' || text[i] == '!';
    for (size_t i = 0; i + 1 < len; i++) dialogue += text[i] == '\n' && text[i + 1] == '"';
    int nonascii = 0;
    for (size_t i = 0; i < len; i++) nonascii |= (unsigned char)text[i] >= 128 || text[i] == '\0';
    check(len >= CORPUS_DEFAULT_BYTES && len < CORPUS_DEFAULT_BYTES + 4096 && !nonascii,
          "corpus: default %zu bytes, %ld documents, %ld sentences (%ld dialogue lines), ASCII (%.2f s)", len, docs,
          sentences, dialogue, gen_s);
    DataWord* table = data_lexicon_table();
    long checked = 0, unknown = 0, words = 0;
    const char* planted = "The cats sees the dog. Anna run. I is sad. The dog that smile is here.";
    int bad_planted = data_check_agreement(table, planted, strlen(planted), &checked, &unknown, &words);
    const char* good = "The cats see the dog. Anna runs. I am sad. The dogs that smile were kind.";
    int bad_good = data_check_agreement(table, good, strlen(good), &checked, &unknown, &words);
    check(bad_planted == 4 && bad_good == 0, "corpus: agreement checker flags 4/4 planted errors, 0 in good text");
    for (int i = 0; i < DATA_WORDS; i++) table[i].seen = 0;
    checked = unknown = words = 0;
    int bad = data_check_agreement(table, text, len, &checked, &unknown, &words);
    check(bad == 0 && checked > 10000, "corpus: subject-verb agreement holds in %ld checked pairs (%d violations)",
          checked, bad);
    check(unknown == 0, "corpus: all %ld words are in the lexicon (%ld unknown)", words, unknown);
    int missing = 0, total = 0;
    for (int cat = 0; cat < CW_NUM_CATEGORIES; cat++) {
        int n;
        const char* const* ws = corpus_words((CorpusCategory)cat, &n);
        for (int i = 0; i < n; i++, total++) {
            char w[24];
            data_lower(w, ws[i], strlen(ws[i]));
            if (!data_word_find(table, w, 0)->seen) {
                if (missing < 5) printf("     never used: %s (%s)\n", ws[i], corpus_category_name((CorpusCategory)cat));
                missing++;
            }
        }
    }
    check(missing == 0, "corpus: every category appears, %d of %d lexicon entries used", total - missing, total);
    // the checker and the grammar rely on nouns and verbs not sharing forms
    int clash = 0;
    for (int i = 0; i < DATA_WORDS; i++)
        clash += table[i].used && (table[i].flags & (DW_SG | DW_PL)) && (table[i].flags & (DW_V3SG | DW_VBASE));
    check(clash == 0, "corpus: no word is both a noun and a present verb (%d clashes)", clash);
    free(table);
}

// Sentiment per document: measurable, balanced, and consistent within a document (first half of
// the sentences vs the second half), which is what makes it learnable.
static void data_check_corpus_sentiment(char* text, size_t len) {
    long pos = 0, neg = 0, zero = 0, agree = 0, both = 0;
    for (char* d = text; d < text + len;) {
        // memmem, not strstr: ASan's strstr measures the whole rest of the text on every call
        char* e = memmem(d, (size_t)(text + len - d), "\n\n", 2);
        size_t dl = e ? (size_t)(e - d) : strlen(d);
        int s = corpus_sentiment(d, dl);
        pos += s > 0;
        neg += s < 0;
        zero += s == 0;
        size_t half = dl / 2;
        while (half < dl && d[half] != '.' && d[half] != '!') half++;
        int s1 = corpus_sentiment(d, half), s2 = corpus_sentiment(d + half, dl - half);
        if (s1 && s2) {
            both++;
            agree += s1 == s2;
        }
        d += dl + 2;
    }
    double ndocs = (double)(pos + neg + zero);
    check(pos + neg > 0.9 * ndocs && fabs((double)(pos - neg)) < 0.05 * ndocs,
          "corpus: document sentiment +%ld -%ld 0:%ld (balanced within 5%%, >90%% signed)", pos, neg, zero);
    check(both > 0 && agree > 0.85 * (double)both,
          "corpus: sentiment of a document's two halves agrees in %.1f%% of %ld documents", 100.0 * agree / both,
          both);
}

// corpus_sentiment_counts on hand-made sentences: word boundaries, case, ties.
static void data_check_sentiment_words(void) {
    int p, n;
    const char* s1 = "The kind cat loves the happy dog.";
    corpus_sentiment_counts(s1, strlen(s1), &p, &n);
    check(p == 3 && n == 0 && corpus_sentiment(s1, strlen(s1)) == 1, "sentiment: \"%s\" counts +%d -%d", s1, p, n);
    const char* s2 = "An unkind, KIND-hearted kindness; SADLY the owl cried and hated Sadness.";
    corpus_sentiment_counts(s2, strlen(s2), &p, &n);
    check(p == 1 && n == 3 && corpus_sentiment(s2, strlen(s2)) == -1,
          "sentiment: word boundaries and case: +%d -%d (expect +1 -3)", p, n);
    check(corpus_sentiment("kind sad", 4) == 1 && corpus_sentiment("kind sad", 8) == 0,
          "sentiment: respects len; ties give 0");
}

// ----------------------------------------------------------------------------
// Preference pairs and prompts

// The JSON Lines export of pairs, read back line by line with the JSON reader.
static void data_check_pairs_jsonl(const CorpusPair* pairs, int np) {
    char jpath[] = "/tmp/forgetful_pairs_XXXXXX";
    int fd = mkstemp(jpath);
    int jok = fd >= 0 && close(fd) == 0;
    char err[512];
    jok = jok && corpus_write_jsonl(jpath, pairs, np, err, sizeof err) == 0;
    size_t jlen = 0;
    char* jtext = jok ? read_file(jpath, &jlen, err, sizeof err) : NULL;
    int lines = 0, match = 0;
    for (char* line = jtext; line && *line;) {
        char* nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        JsonValue v;
        if (lines < np && json_parse(&v, line, ll, err, sizeof err) == 0) {
            const JsonValue *p0 = json_get(&v, "prompt"), *c0 = json_get(&v, "chosen"), *r0 = json_get(&v, "rejected");
            match += p0 && c0 && r0 && p0->type == JSON_STRING && !strcmp(p0->str, pairs[lines].prompt) &&
                     !strcmp(c0->str, pairs[lines].chosen) && !strcmp(r0->str, pairs[lines].rejected);
            json_free(&v);
        }
        lines++;
        line = nl ? nl + 1 : line + ll;
    }
    check(jok && lines == np && match == np, "preferences: JSONL export, %d lines, %d read back equal", lines, match);
    free(jtext);
    remove(jpath);
}

// corpus_preferences: deterministic, chosen positive and rejected negative with mirrored counts,
// well-formed, of similar lengths, grammatical; then their JSONL export.
static void data_check_pairs(void) {
    int np = 400;
    CorpusPair* pairs = corpus_preferences(11, np);
    CorpusPair* again = corpus_preferences(11, np);
    int ok_sent = 1, ok_same = 1, ok_shape = 1, ok_len = 1, bad_agree = 0;
    double min_ratio = 1e9, max_ratio = 0;
    DataWord* table = data_lexicon_table();
    long checked = 0, unknown = 0, words = 0;
    const char** chosen = malloc_check((size_t)np * sizeof(char*));
    const char** rejected = malloc_check((size_t)np * sizeof(char*));
    for (int k = 0; k < np; k++) {
        CorpusPair* q = &pairs[k];
        ok_same &= !strcmp(q->prompt, again[k].prompt) && !strcmp(q->chosen, again[k].chosen) &&
                   !strcmp(q->rejected, again[k].rejected);
        int sc = corpus_sentiment(q->chosen, strlen(q->chosen));
        int sr = corpus_sentiment(q->rejected, strlen(q->rejected));
        int cp, cn, rp, rn;
        corpus_sentiment_counts(q->chosen, strlen(q->chosen), &cp, &cn);
        corpus_sentiment_counts(q->rejected, strlen(q->rejected), &rp, &rn);
        ok_sent &= sc == 1 && sr == -1 && cn == 0 && rp == 0 && cp == rn;
        ok_shape &= strlen(q->prompt) > 0 && (q->chosen[0] == ' ' || q->chosen[0] == '\n') &&
                    q->chosen[0] == q->rejected[0] && strcmp(q->chosen, q->rejected) != 0;
        double ratio = (double)strlen(q->chosen) / (double)strlen(q->rejected);
        min_ratio = fmin(min_ratio, ratio);
        max_ratio = fmax(max_ratio, ratio);
        ok_len &= ratio > 0.6 && ratio < 1.6;
        bad_agree += data_check_agreement(table, q->prompt, strlen(q->prompt), &checked, &unknown, &words);
        bad_agree += data_check_agreement(table, q->chosen, strlen(q->chosen), &checked, &unknown, &words);
        bad_agree += data_check_agreement(table, q->rejected, strlen(q->rejected), &checked, &unknown, &words);
        chosen[k] = q->chosen;
        rejected[k] = q->rejected;
    }
    check(ok_same, "preferences: deterministic from the seed (%d pairs)", np);
    check(ok_sent, "preferences: chosen strictly positive, rejected strictly negative, mirrored counts, all %d pairs",
          np);
    check(ok_shape, "preferences: non-empty prompt, continuations start with a space or newline and differ");
    check(ok_len, "preferences: length ratio chosen/rejected in [%.2f, %.2f]", min_ratio, max_ratio);
    check(bad_agree == 0 && unknown == 0, "preferences: agreement holds (%ld checks, %d violations, %ld unknown words)",
          checked, bad_agree, unknown);
    double rc = corpus_positive_rate(chosen, np), rr = corpus_positive_rate(rejected, np);
    check(rc == 1.0 && rr == 0.0, "preferences: positive rate chosen %.3f, rejected %.3f", rc, rr);
    const char* cut_texts[2] = {" The kind cat smiles.\n\nThe cruel sad dog cries.", " The cat sleeps."};
    check(corpus_positive_rate(cut_texts, 2) == 0.5, "positive rate: a text is cut at its first blank line");
    data_check_pairs_jsonl(pairs, np);
    free(chosen);
    free(rejected);
    free(table);
    corpus_pairs_free(pairs, np);
    corpus_pairs_free(again, np);
}

// corpus_prompts: deterministic, of mixed moods.
static void data_check_prompts(void) {
    char** prompts = corpus_prompts(5, 300);
    char** prompts2 = corpus_prompts(5, 300);
    int same = 1;
    for (int k = 0; k < 300; k++) same &= !strcmp(prompts[k], prompts2[k]);
    double prate = corpus_positive_rate((const char* const*)prompts, 300);
    check(same && prate > 0.3 && prate < 0.7, "prompts: deterministic, %.3f of 300 prompts positive (mixed moods)",
          prate);
    corpus_prompts_free(prompts, 300);
    corpus_prompts_free(prompts2, 300);
}

// ----------------------------------------------------------------------------
// n-gram baselines

// Closed forms on a hand example, refusals, and the numpy fixture.
static void data_check_ngram(void) {
    // worked out in data/README.md: V = 3, train 0 1 0 2 0 1, val 0 1 0 2 2
    int tr[] = {0, 1, 0, 2, 0, 1}, va[] = {0, 1, 0, 2, 2};
    NgramStats st;
    char err[512];
    int rc = ngram_entropies(tr, 6, va, 5, 3, &st, err, sizeof err);
    double e1 = -(log(4.0 / 9) + 2 * log(2.0 / 9)) / 3;
    double e2 = -(log(13.0 / 18) + log(13.0 / 45) + log(1.0 / 9)) / 3;
    double e3 = -(log(31.0 / 36) + log(29.0 / 45) + log(1.0 / 18)) / 3;
    double d = fmax(fabs(st.h1 - e1), fmax(fabs(st.h2 - e2), fabs(st.h3 - e3)));
    check(rc == 0 && d < 1e-12 && st.positions == 3, "ngram: closed form on a hand example, max diff %.2e", d);

    int big[] = {0, 5};
    check(ngram_entropies(big, 2, va, 5, 3, &st, err, sizeof err) == -1 && strstr(err, "outside"),
          "ngram: token >= V refused: %s", err);
    check(ngram_entropies(tr, 6, va, 2, 3, &st, err, sizeof err) == -1, "ngram: too few val tokens refused");
    check(ngram_entropies(tr, 6, va, 5, 1 << 22, &st, err, sizeof err) == -1, "ngram: huge vocab refused");

    FILE* f = fopen("data/fixtures/ngram.txt", "r");
    if (!f) {
        skip("ngram: numpy fixture because data/fixtures/ngram.txt is missing (make fixtures)");
        return;
    }
    int V, nt, nv, okread = 1;
    okread &= fscanf(f, "%d %d %d", &V, &nt, &nv) == 3 && nt > 0 && nv > 2;
    int* t = malloc_check((size_t)(nt > 0 ? nt : 1) * sizeof(int));
    int* v = malloc_check((size_t)(nv > 0 ? nv : 1) * sizeof(int));
    for (int i = 0; okread && i < nt; i++) okread &= fscanf(f, "%d", &t[i]) == 1;
    for (int i = 0; okread && i < nv; i++) okread &= fscanf(f, "%d", &v[i]) == 1;
    double h[3] = {0, 0, 0};
    okread &= okread && fscanf(f, "%lf %lf %lf", &h[0], &h[1], &h[2]) == 3;
    fclose(f);
    int ok = okread && ngram_entropies(t, (size_t)nt, v, (size_t)nv, V, &st, err, sizeof err) == 0;
    double maxdiff = fmax(fabs(st.h1 - h[0]), fmax(fabs(st.h2 - h[1]), fabs(st.h3 - h[2])));
    check(ok && maxdiff < 1e-9, "ngram: vs numpy fixture (V=%d, %d+%d tokens, unseen contexts), max diff %.2e", V, nt,
          nv, maxdiff);
    free(t);
    free(v);
}

// n-gram entropies of the default corpus, byte-level tokens (V = 256), split 90/10.
static void data_check_corpus_ngrams(const char* text, size_t len) {
    char err[512];
    NgramStats st;
    int rc = data_byte_ngrams(text, len, &st, err, sizeof err);
    check(rc == 0 && st.h1 > st.h2 && st.h2 > st.h3 && st.h3 > 0.5 && st.h1 < log(256.0),
          "ngram: default corpus, bytes: H1 %.4f H2 %.4f H3 %.4f nats/token (%zu/%zu tokens)", st.h1, st.h2, st.h3,
          st.n_train, st.n_val);
}

// A real corpus when present: byte-level baselines of tinyshakespeare.
static void data_check_tinyshakespeare(void) {
    char err[1024];
    size_t tsl;
    char* tst = data_read_input("../shared/data/tinyshakespeare.txt", &tsl, err, sizeof err);
    if (!tst) {
        skip("ngram: tinyshakespeare baselines because %s", err);
        return;
    }
    NgramStats st;
    int rc = data_byte_ngrams(tst, tsl, &st, err, sizeof err);
    check(rc == 0 && st.h1 > st.h2 && st.h2 > st.h3,
          "ngram: tinyshakespeare, bytes: H1 %.4f H2 %.4f H3 %.4f nats/token (%zu/%zu tokens)", st.h1, st.h2, st.h3,
          st.n_train, st.n_val);
    free(tst);
}

// ----------------------------------------------------------------------------
// Token shards, the cache key, the split, the input reader, the token cache (files in dir)

// Round trips of uint16 (V=300), uint32 (V=70000) and empty shards, sizes exact.
static void shards_check_roundtrip(const char* dir) {
    char path[512], err[1024];
    uint64_t rng = 42;
    int ok_rt = 1;
    int Vs[2] = {300, 70000};
    for (int k = 0; k < 2; k++) {
        size_t n = 5000;
        int* toks = malloc_check(n * sizeof(int));
        for (size_t i = 0; i < n; i++) toks[i] = (int)(random_u32(&rng) % (uint32_t)Vs[k]);
        toks[0] = 0;
        toks[1] = Vs[k] - 1;
        snprintf(path, sizeof path, "%s/rt%d.tok", dir, k);
        int rc = shard_write(path, toks, n, Vs[k], 99, err, sizeof err);
        size_t m;
        ShardHeader h;
        int* back = rc == 0 ? shard_read(path, Vs[k], &m, &h, err, sizeof err) : NULL;
        struct stat sb;
        int want_bpt = k == 0 ? 2 : 4;
        ok_rt &= back && m == n && !memcmp(back, toks, n * sizeof(int)) && h.bytes_per_token == want_bpt &&
                 h.vocab_size == Vs[k] && h.key == 99 && stat(path, &sb) == 0 &&
                 (size_t)sb.st_size == SHARD_HEADER_BYTES + n * (size_t)want_bpt;
        free(back);
        free(toks);
    }
    snprintf(path, sizeof path, "%s/empty.tok", dir);
    size_t m = 1;
    int* e = shard_write(path, NULL, 0, 10, 0, err, sizeof err) == 0 ? shard_read(path, 0, &m, NULL, err, sizeof err)
                                                                        : NULL;
    ok_rt &= e && m == 0;
    free(e);
    check(ok_rt, "shards: round trip uint16 (V=300), uint32 (V=70000) and empty, sizes exact");
}

// Corruptions of a good V=300 shard of 100 tokens: each must be refused with "PATH: ..." and a
// HINT; a missing file, and writing a token >= V, are refused too.
static void shards_check_refusals(const char* dir) {
    char path[512], err[1024];
    int toks[100];
    for (int i = 0; i < 100; i++) toks[i] = i * 3;
    char good[512];
    snprintf(good, sizeof good, "%s/good.tok", dir);
    shard_write(good, toks, 100, 300, 0, err, sizeof err);
    unsigned char img[64 + 200];
    FILE* f = fopen(good, "rb");
    int okimg = f && fread(img, 1, sizeof img, f) == sizeof img;
    if (f) fclose(f);
    static const struct {
        const char* what;
        size_t off, size;
        unsigned char val;
        int expect_vocab;
        const char* needle;
    } cases[] = {
        {"bad magic", 0, sizeof img, 'X', 0, "magic"},
        {"version 2", 4, sizeof img, 2, 0, "version"},
        {"bytes per token 4 for V=300", 12, sizeof img, 4, 0, "bytes per token"},
        {"token count 101", 16, sizeof img, 101, 0, "tokens need"},
        {"truncated data", 0, sizeof img - 1, 'F', 0, "tokens need"},
        {"truncated header", 0, 20, 'F', 0, "truncated header"},
        {"token id 300 >= V", 64 + 2 * 7, sizeof img, 0x2C, 0, "not below vocab"}, // low byte of 300
        {"vocab differs from tokenizer", 0, sizeof img, 'F', 512, "tokenizer has"},
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    int refused = 0;
    for (int c = 0; okimg && c < ncases; c++) {
        unsigned char bad[sizeof img];
        memcpy(bad, img, sizeof img);
        bad[cases[c].off] = cases[c].val;
        if (c == 6) bad[64 + 15] = 0x01; // token 7 := 0x012C = 300, the first id not below V
        snprintf(path, sizeof path, "%s/bad%d.tok", dir, c);
        write_bytes(path, bad, cases[c].size);
        size_t nn;
        int* r = shard_read(path, cases[c].expect_vocab, &nn, NULL, err, sizeof err);
        int ok = !r && strstr(err, path) == err && strstr(err, cases[c].needle) && strstr(err, "HINT") &&
                 !strchr(err, '\n');
        if (!ok) printf("     %s: %s\n", cases[c].what, r ? "accepted" : err);
        if (c == 6) printf("     e.g. %s\n", err);
        refused += ok;
        free(r);
    }
    check(okimg && refused == ncases, "shards: %d/%d corruptions refused with \"FILE: problem (HINT ...)\"", refused,
          ncases);
    snprintf(path, sizeof path, "%s/missing.tok", dir);
    size_t nn;
    check(!shard_read(path, 0, &nn, NULL, err, sizeof err) && strstr(err, "missing.tok"),
          "shards: missing file refused: %s", err);
    int badtok[3] = {1, 300, 2};
    snprintf(path, sizeof path, "%s/never.tok", dir);
    struct stat sb;
    check(shard_write(path, badtok, 3, 300, 0, err, sizeof err) == -1 && stat(path, &sb) != 0,
          "shards: writing token 300 with V=300 refused, no file left: %s", err);
}

// The cache key changes with input, tokenizer and split; the split is contiguous, at a line
// boundary, near 90/10.
static void data_check_key_and_split(void) {
    char err[1024];
    uint64_t k0 = data_cache_key("abc", 3, "tok", 3, 0.1);
    check(k0 != data_cache_key("abd", 3, "tok", 3, 0.1) && k0 != data_cache_key("abc", 3, "tok2", 4, 0.1) &&
              k0 != data_cache_key("abc", 3, "tok", 3, 0.2) && k0 != data_cache_key("ab", 2, "ctok", 4, 0.1) &&
              k0 == data_cache_key("abc", 3, "tok", 3, 0.1) && data_hash(DATA_HASH_INIT, "a", 1) == 0xaf63dc4c8601ec8cull,
          "cache key: FNV-1a(\"a\") matches the published value; key depends on text, tokenizer, split");
    char text[400];
    size_t tl = 0;
    for (int i = 0; i < 30; i++) tl += (size_t)snprintf(text + tl, sizeof text - tl, "line %d\n", i);
    size_t cut = data_split_text(text, tl, 0.1, err, sizeof err);
    check(cut > 0 && cut < tl && text[cut - 1] == '\n' && cut >= (size_t)(0.9 * (double)tl) &&
              cut <= (size_t)(0.9 * (double)tl) + 9,
          "split: %zu bytes cut at %zu (after a newline, >= 90%%)", tl, cut);
    check(data_split_text(text, tl, 0.0, err, sizeof err) == 0 && data_split_text(text, tl, 1.0, err, sizeof err) == 0 &&
              data_split_text("a", 1, 0.1, err, sizeof err) == 0,
          "split: val fraction 0 or 1, or a 1-byte input, refused: %s", err);
}

// An input directory: *.txt files in name order, joined by a blank line; empties skipped; bad
// inputs refused.
static void data_check_input_dir(const char* dir) {
    char err[1024], sub[512], p2[600];
    snprintf(sub, sizeof sub, "%s/in", dir);
    mkdir(sub, 0755);
    snprintf(p2, sizeof p2, "%s/b.txt", sub);
    write_bytes(p2, "B b", 3);
    snprintf(p2, sizeof p2, "%s/a.txt", sub);
    write_bytes(p2, "A", 1);
    snprintf(p2, sizeof p2, "%s/c.md", sub);
    write_bytes(p2, "C", 1);
    snprintf(p2, sizeof p2, "%s/0empty.txt", sub);
    write_bytes(p2, "", 0);
    snprintf(p2, sizeof p2, "%s/d.txt", sub);
    mkdir(p2, 0755);
    size_t il;
    char* in = data_read_input(sub, &il, err, sizeof err);
    check(in && il == 6 && !memcmp(in, "A\n\nB b", 6), "input dir: a.txt + b.txt joined, .md/empty/dir skipped");
    free(in);
    snprintf(p2, sizeof p2, "%s/0empty.txt", sub);
    int e1 = !data_read_input(p2, &il, err, sizeof err) && strstr(err, "empty");
    snprintf(p2, sizeof p2, "%s/d.txt", sub); // a directory without .txt files
    int e2 = !data_read_input(p2, &il, err, sizeof err) && strstr(err, "no .txt");
    snprintf(p2, sizeof p2, "%s/nope.txt", sub);
    int e3 = !data_read_input(p2, &il, err, sizeof err) && strstr(err, "nope.txt");
    char link[600];
    snprintf(link, sizeof link, "%s/z.txt", sub); // a dangling symlink inside the input directory
    int e4 = symlink(p2, link) == 0 && !data_read_input(sub, &il, err, sizeof err) && strstr(err, "z.txt");
    check(e1 && e2 && e3 && e4, "input: empty file, directory without .txt, missing path, dangling link refused: %s",
          err);
}

// The token cache: built once, then read back; a corrupted cache file is an error, not a crash.
static void data_check_token_cache(const char* dir) {
    char err[1024], cache[512];
    const char* corpus = "the cat sees the dog.\nthe dogs see the cat.\n";
    snprintf(cache, sizeof cache, "%s/cache", dir);
    DataTokens d1, d2;
    int r1 = data_prepare_tokens(corpus, strlen(corpus), 0.1, cache, "bytes", 5, 256, data_encode_bytes, NULL, &d1,
                                 err, sizeof err);
    int r2 = data_prepare_tokens(corpus, strlen(corpus), 0.1, cache, "bytes", 5, 256, data_encode_bytes, NULL, &d2,
                                 err, sizeof err);
    int same = r1 == 0 && r2 == 0 && !d1.from_cache && d2.from_cache && d1.n_train == d2.n_train &&
               d1.n_val == d2.n_val && d1.n_train + d1.n_val == strlen(corpus) &&
               !memcmp(d1.train, d2.train, d1.n_train * sizeof(int)) &&
               (unsigned char)corpus[d1.n_train] == d2.val[0] && (unsigned char)corpus[d1.n_train - 1] == d2.train[d1.n_train - 1];
    check(same, "token cache: first run builds %zu+%zu tokens, second reads the same from %s", d1.n_train, d1.n_val,
          r2 == 0 ? d2.val_path : "?");
    if (r1 == 0) write_bytes(d1.val_path, "garbage", 7);
    DataTokens d3;
    int r3 = data_prepare_tokens(corpus, strlen(corpus), 0.1, cache, "bytes", 5, 256, data_encode_bytes, NULL, &d3,
                                 err, sizeof err);
    check(r3 == -1 && strstr(err, "HINT"), "token cache: a corrupted cache file is reported: %s", err);
    if (r1 == 0) data_tokens_free(&d1);
    if (r2 == 0) data_tokens_free(&d2);
}

// ----------------------------------------------------------------------------

void test_data(void) {
    double t0 = time_seconds();
    data_check_corpus_seeds();
    size_t len;
    double t1 = time_seconds();
    char* text = corpus_generate(1337, CORPUS_DEFAULT_BYTES, &len);
    data_check_corpus_grammar(text, len, time_seconds() - t1);
    data_check_corpus_sentiment(text, len);
    data_check_corpus_ngrams(text, len);
    free(text);
    data_check_sentiment_words();
    data_check_pairs();
    data_check_prompts();
    data_check_ngram();
    char dir[] = "/tmp/forgetful_data_XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "shards: cannot create a temporary directory");
    } else {
        shards_check_roundtrip(dir);
        shards_check_refusals(dir);
        data_check_key_and_split();
        data_check_input_dir(dir);
        data_check_token_cache(dir);
        rm_tree(dir);
    }
    data_check_tinyshakespeare();
    printf("     data section took %.2f s\n", time_seconds() - t0);
}
