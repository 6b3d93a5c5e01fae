// data/corpus.h: the built-in synthetic language (see data/README.md for its grammar), its
// preference pairs, the sentiment property a preference stage targets, and n-gram baselines.
#ifndef CORPUS_H
#define CORPUS_H

#include <stddef.h>
#include <stdint.h>

// Size of the built-in corpus that ./train generates when no --input is given.
#define CORPUS_DEFAULT_BYTES ((size_t)3 << 20)

// Generates about target_bytes of text (documents of sentences, separated by "\n\n"),
// deterministically from seed. Returns a malloc'd NUL-terminated buffer, length in *len.
// Every document has a mood (+1 or -1, half each): its sentiment-bearing words mostly agree with it.
char* corpus_generate(uint64_t seed, size_t target_bytes, size_t* len);

// A preference pair as text: the prompt and two continuations (without <|endoftext|>).
// prompt is the start of a document (one or two sentences, mood drawn at random); chosen and
// rejected are two sentences each that continue it with the same syntactic skeleton (same random
// draws), chosen with only positive sentiment words and rejected with only negative ones. Both
// continuations begin with a space or a newline, so prompt + continuation reads as one document.
typedef struct {
    char* prompt;
    char* chosen;   // has the preferred property (positive sentiment)
    char* rejected; // does not
} CorpusPair;

// n preference pairs from the same grammar, deterministic from seed. Free with corpus_pairs_free.
CorpusPair* corpus_preferences(uint64_t seed, int n);
void corpus_pairs_free(CorpusPair* pairs, int n);

// Writes pairs as JSON Lines, one {"prompt": ..., "chosen": ..., "rejected": ...} object per line
// (the layout --dpo reads), atomically. 0, or -1 with err filled.
int corpus_write_jsonl(const char* path, const CorpusPair* pairs, int n, char* err, size_t errlen);

// n prompts drawn as the preference prompts are (same distribution, own seed), for measuring the
// rate of positive continuations a model samples before and after DPO. Returns a malloc'd array of
// malloc'd strings; free with corpus_prompts_free.
char** corpus_prompts(uint64_t seed, int n);
void corpus_prompts_free(char** prompts, int n);

// Sentiment of a text under the lexicon: +1 if it has more positive than negative sentiment words
// (adjectives, verbs, adverbs), -1 if more negative, 0 otherwise. Words are maximal runs of ASCII
// letters, compared case-insensitively, so "unkind" never counts as "kind".
int corpus_sentiment(const char* text, size_t len);
// The counts behind corpus_sentiment.
void corpus_sentiment_counts(const char* text, size_t len, int* positive, int* negative);

// Fraction of texts[0..n) with corpus_sentiment > 0, each text cut at its first "\n\n" (the end of
// the document it continues). This is the rate a DPO stage reports before and after training.
double corpus_positive_rate(const char* const* texts, int n);

// The lexicon, by category, for documentation and for independent checks in tests. Verb categories
// are parallel arrays: word i of CW_VERB_3SG, CW_VERB_BASE and CW_VERB_PAST is the same verb.
typedef enum {
    CW_DET_SG,       // determiners before a singular noun ("a" becomes "an" before a vowel)
    CW_DET_PL,       // determiners before a plural noun
    CW_NOUN_SG,      // singular nouns
    CW_NOUN_PL,      // their plurals (parallel to CW_NOUN_SG)
    CW_NAME,         // proper names (singular subjects)
    CW_VERB_3SG,     // transitive verbs, present 3rd person singular
    CW_VERB_BASE,    // same verbs, base form (plural subjects, I/you/we/they)
    CW_VERB_PAST,    // same verbs, past tense
    CW_IVERB_3SG,    // intransitive verbs, present 3rd person singular
    CW_IVERB_BASE,   // same, base form
    CW_IVERB_PAST,   // same, past
    CW_ADJ_POS,      // adjectives with positive sentiment
    CW_ADJ_NEG,      // adjectives with negative sentiment
    CW_ADJ_NEU,      // neutral adjectives
    CW_ADV_POS,      // adverbs with positive sentiment
    CW_ADV_NEG,      // adverbs with negative sentiment
    CW_ADV_NEU,      // neutral adverbs
    CW_PREP,         // prepositions
    CW_CONJ,         // clause-joining conjunctions
    CW_PRONOUN_SG,   // he, she (take the 3sg verb)
    CW_PRONOUN_PL,   // I, you, we, they (take the base verb; "I" takes "am" as copula)
    CW_COPULA,       // is, are, am, was, were
    CW_SAY_PRES,     // speech verbs of dialogue lines, present 3sg
    CW_SAY_PAST,     // same, past
    CW_FUNCTION,     // other words used literally: "that" (relative), "an", "very"
    CW_NUM_CATEGORIES
} CorpusCategory;

// Words of category c (lower case, except names); *n is set to their number.
const char* const* corpus_words(CorpusCategory c, int* n);
const char* corpus_category_name(CorpusCategory c);
// Sentiment polarity of verb i (index into the CW_VERB_* and CW_IVERB_* arrays): +1, -1 or 0.
int corpus_verb_polarity(int transitive, int i);

// ----------------------------------------------------------------------------
// n-gram baselines (data/ngram.c)
//
// From train tokens, estimate smoothed unigram, bigram and trigram models, and report their
// cross-entropy on the val tokens in nats/token: H_n = -(1/M) sum_t ln p_n(x_t | context), over the
// M = n_val - 2 val positions t = 2..n_val-1 (the positions with two val tokens before them, so
// all three orders average over the same tokens). Smoothing is interpolated Witten-Bell: each order
// backs off to the one below, so no val event has probability 0:
//   p1(w)     = (c(w) + 1) / (N + V)                                add-one over the vocabulary
//   p2(w|u)   = (c(u,w) + T(u) p1(w)) / (c(u,·) + T(u))             (= p1(w) if c(u,·) = 0)
//   p3(w|t,u) = (c(t,u,w) + T(t,u) p2(w|u)) / (c(t,u,·) + T(t,u))   (= p2(w|u) if c(t,u,·) = 0)
// where c(·) counts n-grams in the train split (N train tokens), c(u,·) = sum_w c(u,w) (bigrams
// starting with u), and T(ctx) = the number of distinct tokens seen after ctx in train (the
// Witten-Bell estimate of how often ctx is followed by something new). This is the loss a
// count-based model with that much context achieves, to set beside a model's val loss.
typedef struct {
    double h1, h2, h3;     // cross-entropy on val, nats/token, of the unigram/bigram/trigram models
    size_t n_train, n_val; // tokens in each split
    size_t positions;      // M, the val positions averaged over
    size_t distinct2;      // distinct bigrams / trigrams seen in train (hash map sizes used)
    size_t distinct3;
} NgramStats;

// Returns 0, or -1 with err filled when the input cannot be scored (vocab_size < 1 or > 2^21,
// a token outside [0, vocab_size), fewer than 3 val tokens or no train tokens).
int ngram_entropies(const int* train, size_t n_train, const int* val, size_t n_val, int vocab_size,
                    NgramStats* out, char* err, size_t errlen);

#endif // CORPUS_H
