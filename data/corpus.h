// data/corpus.h: the built-in synthetic language (see data/README.md for its grammar), its
// preference pairs, and the sentiment property a preference stage targets.
#ifndef CORPUS_H
#define CORPUS_H

#include <stddef.h>
#include <stdint.h>

// Generates about target_bytes of text (documents of sentences, separated by "\n\n"),
// deterministically from seed. Returns a malloc'd NUL-terminated buffer, length in *len.
char* corpus_generate(uint64_t seed, size_t target_bytes, size_t* len);

// A preference pair as text: the prompt and two continuations (without <|endoftext|>).
typedef struct {
    char* prompt;
    char* chosen;   // has the preferred property (positive sentiment)
    char* rejected; // does not
} CorpusPair;

// n preference pairs from the same grammar, deterministic from seed. Free with corpus_pairs_free.
CorpusPair* corpus_preferences(uint64_t seed, int n);
void corpus_pairs_free(CorpusPair* pairs, int n);

// Sentiment of a text under the lexicon: +1 if it has more positive than negative adjectives,
// -1 if more negative, 0 otherwise.
int corpus_sentiment(const char* text, size_t len);

#endif // CORPUS_H
