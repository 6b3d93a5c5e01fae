// sample.h: text from a saved model (./train --sample), and the printing of a sample that the
// training stages share.
#ifndef SAMPLE_H
#define SAMPLE_H

#include <stdint.h>

#include "../tokenizer.h"
#include "page.h"

typedef struct {
    const char* init;        // model folder (ours or a Hugging Face GPT-2 folder)
    const char* prompt;      // the start of every sample; NULL = prompt_file, or DEFAULT_PROMPT
    const char* prompt_file; // the prompt read from this file (NULL = none)
    int num_samples;         // samples to print
    int len;                 // tokens to generate per sample at most (<|endoftext|> ends one early)
    float temperature;       // 0 = greedy
    int top_k;               // 0 = all tokens
    uint64_t seed;           // the sampler's RNG
    int eot_as_text;         // "<|endoftext|>" in the prompt is plain text, not the token
    int threads;             // OpenMP threads set (for the header)
} SampleConfig;

// The prompt without --prompt: a blank line, the built-in corpus's document separator.
#define DEFAULT_PROMPT "\n\n"

// Prints "---- title", the decoded text of seq[0..n) (control bytes other than newline and tab,
// and bytes that are not valid UTF-8, as \xNN: a model may emit half a character), then "----",
// as page_format_sample writes it; adds it to the run's page unless page is NULL.
void print_sample(const char* title, const Tokenizer* tok, const int* seq, int n, Page* page);

// --sample: loads c->init, prints c->num_samples samples (prompt included) and returns. Errors
// (a missing folder, an unreadable prompt file, an empty prompt) are runtime or usage errors.
void sample_standalone(const SampleConfig* c);

#endif // SAMPLE_H
