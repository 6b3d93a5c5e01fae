// eval.c: a model's loss over a whole text in sliding windows (API in eval.h).
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The next window after the one that ended at target *scored_until (0 before the first): its start
// in *s, and it scores targets (old *scored_until, new *scored_until]. Returns 0 when the text is
// done. Tw is the window length (T, or n - 1 for a short text).
static int next_window(size_t n, size_t Tw, size_t stride, size_t* s, size_t* scored_until, int first_window) {
    if (*scored_until >= n - 1) return 0;
    if (!first_window) *s += stride;
    if (*s + Tw > n - 1) *s = n - 1 - Tw; // the last window ends at the end of the text
    *scored_until = *s + Tw;
    return 1;
}

size_t eval_window_count(size_t n, size_t T, size_t stride) {
    if (n < 2) return 0;
    size_t Tw = T < n - 1 ? T : n - 1, s = 0, until = 0, k = 0;
    while (next_window(n, Tw, stride, &s, &until, k == 0)) k++;
    return k;
}

EvalSum eval_windows(GPT* model, const int* tokens, size_t n, size_t T, size_t stride, size_t B, size_t first,
                     Ticker* tk) {
    EvalSum r = {0.0, 0, 0};
    if (n < 2) return r;
    size_t Tw = T < n - 1 ? T : n - 1;
    int* inputs = malloc_check(B * Tw * sizeof(int));
    int* targets = malloc_check(B * Tw * sizeof(int));
    size_t s = 0, until = 0, nb = 0;
    for (;;) {
        size_t from = until; // targets (from, until] are this window's
        int more = next_window(n, Tw, stride, &s, &until, r.windows + nb == 0);
        if (more) {
            for (size_t t = 0; t < Tw; t++) {
                size_t p = s + t + 1; // the target's index in tokens
                inputs[nb * Tw + t] = tokens[s + t];
                targets[nb * Tw + t] = p > from && p >= first ? tokens[p] : -1;
            }
            nb++;
        }
        if (nb == B || (!more && nb > 0)) {
            gpt_forward(model, inputs, targets, nb, Tw);
            const float* losses = model->acts.losses;
            for (size_t i = 0; i < nb * Tw; i++)
                if (targets[i] >= 0) {
                    r.nats += (double)losses[i];
                    r.count++;
                }
            r.windows += nb;
            nb = 0;
            if (tk) ticker_tick(tk, r.windows);
        }
        if (!more) break;
    }
    free(inputs);
    free(targets);
    return r;
}

double eval_report(GPT* model, const Dataset* ds, size_t T, size_t B) {
    size_t n = ds->n_train + ds->n_val, stride = EVAL_STRIDE(T);
    if (n < 2) fatal("%s: %zu tokens: nothing to predict", ds->source, n);
    int* tokens = malloc_check((n + 1) * sizeof(int));
    memcpy(tokens, ds->train, ds->n_train * sizeof(int));
    memcpy(tokens + ds->n_train, ds->val, ds->n_val * sizeof(int));
    size_t Tw = T < n - 1 ? T : n - 1;
    printf("eval       windows of %zu tokens every %zu (stride %zu: every token after the first window is predicted "
           "from at least %zu tokens of context), %zu at a time\n",
           Tw, stride, stride, Tw > stride ? Tw - stride : 0, B);
    fflush(stdout);
    Ticker tk;
    ticker_init(&tk, "eval", "windows", eval_window_count(n, T, stride));
    double t0 = time_seconds();
    EvalSum all = eval_windows(model, tokens, n, T, stride, B, 1, &tk);
    ticker_end(&tk);
    double bytes = 0.0; // of the predicted tokens: the text without its first token
    for (size_t i = 1; i < n; i++) {
        size_t len = 0;
        if (tok_token_bytes(ds->tok, tokens[i], &len)) bytes += (double)len;
    }
    double ce = all.count ? all.nats / (double)all.count : NAN;
    printf("text       cross-entropy %.4f nats/token, perplexity %.2f, %.4f bits/byte over %zu tokens (%.0f bytes), "
           "%zu windows in %.1f s\n",
           ce, exp(ce), all.nats / log(2.0) / bytes, all.count, bytes, all.windows, time_seconds() - t0);
    EvalSum val = eval_windows(model, ds->val, ds->n_val, T, stride, B, 2, NULL);
    const NgramStats* ng = &ds->ngram;
    printf("val split  cross-entropy %.4f nats/token over its %zu positions from the 3rd on, vs n-gram models fit on "
           "the train split: unigram %.4f, bigram %.4f, trigram %.4f\n",
           val.count ? val.nats / (double)val.count : NAN, val.count, ng->h1, ng->h2, ng->h3);
    free(tokens);
    return ce;
}
