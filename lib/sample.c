// sample.c: ./train --sample, and print_sample (API in sample.h).
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model.h"
#include "flags.h"
#include "page.h"
#include "run.h"

void print_sample(const char* title, const Tokenizer* tok, const int* seq, int n, Page* page) {
    size_t len = 0;
    char* text = tok_decode(tok, seq, (size_t)n, &len);
    char* s = page_format_sample(title, text, len);
    fputs(s, stdout);
    fflush(stdout);
    if (page) page_add_sample(page, s);
    free(s);
    free(text);
}

// The prompt's tokens: --prompt, --prompt-file or DEFAULT_PROMPT; "<|endoftext|>" in it is the
// end-of-text token unless eot_as_text. An empty prompt starts from <|endoftext|> when the
// tokenizer has one (GPT-2's unconditional start), else it is an error.
static int* sample_prompt(const SampleConfig* c, const Tokenizer* tok, size_t* np) {
    if (c->prompt && c->prompt_file) error_usage("--prompt and --prompt-file: give one of them");
    char err[1024];
    size_t len = c->prompt ? strlen(c->prompt) : strlen(DEFAULT_PROMPT);
    char* file = c->prompt_file ? read_file(c->prompt_file, &len, err, sizeof err) : NULL;
    if (c->prompt_file && !file) fatal("--prompt-file: %s", err);
    const char* text = file ? file : c->prompt ? c->prompt : DEFAULT_PROMPT;
    int* ids = c->eot_as_text ? tok_encode(tok, text, len, np) : tok_encode_special(tok, text, len, np);
    free(file);
    if (*np == 0) {
        if (tok_eot(tok) < 0) fatal("the prompt is empty and the tokenizer has no <|endoftext|> to start from");
        ids[0] = tok_eot(tok); // tok_encode's array always has room for one
        *np = 1;
    }
    return ids;
}

void sample_standalone(const SampleConfig* c) {
    char err[1024];
    GPT model;
    if (gpt_load(&model, c->init, err, sizeof err) != 0) fatal("%s", err);
    Tokenizer* tok = tok_load_dir(c->init, NULL, NULL, err, sizeof err);
    if (!tok) fatal("%s", err);
    const GPTConfig* g = &model.config;
    if (tok_vocab_size(tok) > g->vocab_size)
        fatal("%s: the tokenizer has %d tokens, the model's vocab_size is %d", c->init, tok_vocab_size(tok),
              g->vocab_size);
    size_t np = 0;
    int* prompt = sample_prompt(c, tok, &np);
    size_t T = (size_t)g->max_seq_len;
    // the cached decoding's prefill of up to T prompt tokens is the largest piece
    size_t mem = gpt_memory_estimate(g, 1, T, 0) + 2 * (size_t)g->num_layers * T * (size_t)g->channels * sizeof(float);
    MemPart part = {.what = "the model and its key/value cache", .bytes = mem, .fix = "a smaller model"};
    refuse_memory(mem, &part, 1, NULL);
    int eot = tok_eot(tok);
    printf("forgetful: sampling from %s (no training)\n", c->init);
    printf("model      L%d C%d H%d V%d (n_positions %d), %.2fM parameters, threads %d\n", g->num_layers, g->channels,
           g->num_heads, g->vocab_size, g->max_seq_len, (double)model.num_parameters / 1e6, c->threads);
    printf("sampling   %d sample%s of up to %d tokens after a %zu-token prompt%s, temperature %g%s, top-k %d, seed "
           "%llu%s\n",
           c->num_samples, c->num_samples == 1 ? "" : "s", c->len, np, np > T ? " (its last n_positions tokens used)" : "",
           (double)c->temperature, c->temperature == 0.0f ? " (greedy)" : "", c->top_k, (unsigned long long)c->seed,
           eot >= 0 ? "; <|endoftext|> ends a sample" : "");
    fflush(stdout);
    uint64_t rng = c->seed * 2654435761ull + 7;
    for (int i = 0; i < c->num_samples; i++) {
        int n = 0;
        int* seq = gpt_generate(&model, prompt, (int)np, c->len, T, c->temperature, c->top_k, eot, &rng, &n);
        int ended = eot >= 0 && n > (int)np && seq[n - 1] == eot;
        char title[96];
        snprintf(title, sizeof title, "sample %d/%d%s", i + 1, c->num_samples, ended ? " (ended at <|endoftext|>)" : "");
        print_sample(title, tok, seq, ended ? n - 1 : n, NULL);
        free(seq);
    }
    free(prompt);
    tok_free(tok);
    gpt_free(&model);
}
