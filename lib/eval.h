// eval.h: a model's loss over a whole text, in windows of its context (./train --eval).
#ifndef EVAL_H
#define EVAL_H

#include <stddef.h>

#include "../data/dataset.h"
#include "../model.h"
#include "run.h"

// Summed cross-entropy of the targets scored.
typedef struct {
    double nats;    // sum of -ln p(token | context) over the targets scored
    size_t count;   // targets scored
    size_t windows; // forward windows run
} EvalSum;

// Scores tokens[first .. n) (first >= 1: a token needs context) of tokens[0 .. n) under model, as
// Hugging Face's perplexity guide does with a sliding window. Windows of T tokens (<= the model's
// n_positions; n - 1 if the text is shorter) start every `stride` tokens (1 <= stride <= T); each
// target is scored once, by the first window that holds it, so window 0 scores its T targets and
// every later one its last `stride`, each predicted from at least T - stride tokens of context.
// The last window is moved back to end at the end of the text (it then scores fewer). Windows run
// B at a time. tk (may be NULL) hears of progress in windows.
EvalSum eval_windows(GPT* model, const int* tokens, size_t n, size_t T, size_t stride, size_t B, size_t first,
                     Ticker* tk);
// How many windows eval_windows runs for a text of n tokens.
size_t eval_window_count(size_t n, size_t T, size_t stride);

// The stride --eval uses with windows of T tokens: T/2, so that every token after the first window
// is predicted from at least T/2 tokens of context, at twice the cost of non-overlapping windows.
#define EVAL_STRIDE(T) ((T) / 2 > 0 ? (T) / 2 : 1)

// --eval's report on the text of ds: the mean cross-entropy (nats/token), perplexity and bits per
// byte of the model over the whole text (its train and val splits back to back, every token
// after the first), and the cross-entropy over the val split's positions 2.. beside the n-gram
// models fit on the train split (ds->ngram: the same positions). Windows of T, EVAL_STRIDE(T),
// B at a time. Prints the lines; returns the whole text's cross-entropy.
double eval_report(GPT* model, const Dataset* ds, size_t T, size_t B);

#endif // EVAL_H
