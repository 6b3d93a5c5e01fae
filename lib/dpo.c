// dpo.c: direct preference optimisation: the objective (dpo_objective, dpo_dlosses) and the DPO
// stage of ./train (API in dpo.h).
//
// The stage: the policy is the trained model; the frozen reference is a second GPT loaded from
// the folder the policy starts from (DIR/pretrain/ or --init DIR), so both hold the same weights
// at step 0. Per step: B pairs as one batch of 2B sequences (chosen rows, then rejected rows), the
// policy's summed response log-probabilities, the objective, its per-sequence gradients seeded
// into gpt_backward (dlosses) through the shared step (step.h). The reference log-probabilities
// never change, so they are computed once for every pair before the first step (TRL's
// precompute_ref_log_probs). With the built-in corpus the stage also samples continuations of
// held-out prompts before and after, and reports the rate of positive sentiment (the property
// the chosen responses have).
#define _GNU_SOURCE
#include "dpo.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/corpus.h"
#include "../data/prefs.h"
#include "../tokenizer.h"
#include "flags.h"
#include "step.h"
#include "util.h"

// ============================================================================
// The objective
// Everything is computed in double and rounded once, so the result does not depend on the order
// of the pairs beyond the final sums.

// log σ(x) without overflow: log σ(x) = min(x, 0) − log(1 + e^−|x|).
static double dpo_log_sigmoid(double x) { return (x < 0.0 ? x : 0.0) - log1p(exp(-fabs(x))); }

// σ(x) without overflow for large |x|.
static double dpo_sigmoid(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

void dpo_objective(const float* policy_chosen, const float* policy_rejected, const float* ref_chosen,
                   const float* ref_rejected, int n, float beta, DPOLossType type, float label_smoothing,
                   float* dchosen, float* drejected, float* losses, DPOStats* stats) {
    double sum_loss = 0.0, sum_rc = 0.0, sum_rr = 0.0, correct = 0.0;
    double b = (double)beta, ls = (double)label_smoothing;
    for (int i = 0; i < n; i++) {
        double lc = (double)policy_chosen[i] - (double)ref_chosen[i];     // chosen log-ratio
        double lr = (double)policy_rejected[i] - (double)ref_rejected[i]; // rejected log-ratio
        double h = lc - lr;
        double loss, dh; // L_i and dL_i/dh
        if (type == DPO_IPO) {
            // L = (h − 1/(2β))², dL/dh = 2(h − 1/(2β))
            double d = h - 1.0 / (2.0 * b);
            loss = d * d;
            dh = 2.0 * d;
        } else {
            // L = −(1−ls) log σ(βh) − ls log σ(−βh); since d/dx log σ(x) = σ(−x):
            // dL/dh = −(1−ls) β σ(−βh) + ls β σ(βh)
            double x = b * h;
            loss = -(1.0 - ls) * dpo_log_sigmoid(x) - ls * dpo_log_sigmoid(-x);
            dh = -(1.0 - ls) * b * dpo_sigmoid(-x) + ls * b * dpo_sigmoid(x);
        }
        // h depends on logπ(c) with +1 and on logπ(r) with −1; the mean divides by n
        if (dchosen) dchosen[i] = (float)(dh / n);
        if (drejected) drejected[i] = (float)(-dh / n);
        if (losses) losses[i] = (float)loss;
        double rc = b * lc, rr = b * lr;
        sum_loss += loss;
        sum_rc += rc;
        sum_rr += rr;
        correct += rc > rr ? 1.0 : 0.0;
    }
    if (stats) {
        double inv = n > 0 ? 1.0 / n : 0.0;
        stats->loss = (float)(sum_loss * inv);
        stats->rewards_chosen = (float)(sum_rc * inv);
        stats->rewards_rejected = (float)(sum_rr * inv);
        stats->margin = (float)((sum_rc - sum_rr) * inv);
        stats->accuracy = (float)(correct * inv);
    }
}

void dpo_dlosses(float* dlosses, const int* targets, const float* dlogp, size_t B, size_t T) {
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++) dlosses[b * T + t] = targets[b * T + t] != -1 ? -dlogp[b] : 0.0f;
}

// ============================================================================
// The stage

#define DPO_CSV_HEADER "step,loss,rewards_chosen,rewards_rejected,margin,accuracy,val_accuracy,lr"
#define DPO_SAMPLE_LEN 40 // tokens sampled per prompt for the sentiment rate (two sentences fit)

// What the stage's parts share.
typedef struct {
    const DPOConfig* c;
    DPOLossType type;
    int B, T;           // pairs per batch, context length
    GPT* policy;
    Tokenizer* tok;     // the start folder's tokenizer
    int eot;            // its <|endoftext|>
    PrefSet set;        // pairs [0, n_val) held out, [n_val, n) train
    int* inputs;        // (2B, T) batch scratch
    int* targets;       // (2B, T)
    float* ref_c;       // (set.n) reference log-probabilities of the chosen responses
    float* ref_r;       // (set.n) and of the rejected ones
    Probes* probes;     // the probes that continue through DPO, or NULL
    DPOStats val;       // the last evaluation on the held-out pairs
} DPORun;

size_t dpo_memory(const GPTConfig* g, size_t pretrain_mem, int batch, int T, int n_prompts) {
    // the policy trains on 2B sequences of up to T tokens, and the frozen reference (its own
    // parameters and forward activations) is alive while the reference log-probabilities are
    // computed; the sampled prompts' KV cache (L, 2, n, T, C) and logits (n, V) live beside the
    // policy (their prefill reuses the policy's activations, see gpt_kv_prefill)
    size_t n2 = 2 * (size_t)batch;
    size_t policy = gpt_memory_estimate(g, n2, (size_t)T, 1);
    size_t sampling = (size_t)n_prompts * sizeof(float) *
                      (2 * (size_t)g->num_layers * (size_t)T * (size_t)g->channels + (size_t)g->vocab_size);
    return (policy > pretrain_mem ? policy : pretrain_mem) + gpt_memory_estimate(g, n2, (size_t)T, 0) + sampling;
}

// The pairs of the stage: c->pairs, or the built-in corpus pairs; split into train and val.
static void dpo_load_pairs(const DPOConfig* c, const Tokenizer* tok, int T, PrefSet* set) {
    char err[1024];
    pref_init(set, T);
    double t0 = time_seconds();
    if (c->pairs) {
        if (pref_read_jsonl(set, c->pairs, tok, c->skip_bad, err, sizeof err) != 0) fatal("%s", err);
    } else {
        CorpusPair* pairs = corpus_preferences(c->seed + 101, c->n_pairs);
        int rc = pref_from_corpus(set, pairs, c->n_pairs, tok, err, sizeof err);
        corpus_pairs_free(pairs, c->n_pairs);
        if (rc != 0) fatal("%s", err);
    }
    const char* name = c->pairs ? (strcmp(c->pairs, "-") == 0 ? "<stdin>" : c->pairs) : "built-in pairs";
    if (set->n < 2) fatal("%s: %d usable preference pair; DPO needs at least 2 (one is held out)", name, set->n);
    pref_split(set, c->val_frac, c->seed + 202);
    printf("dpo data   %s: %d pairs (%d train, %d held out), read in %.1f s\n", name, set->n, set->n - set->n_val,
           set->n_val, time_seconds() - t0);
    if (c->pairs)
        printf("           %ld records; skipped %ld malformed, %ld missing fields, %ld empty, %ld identical\n",
               set->lines, set->bad, set->missing, set->empty, set->identical);
    printf("           %ld pairs truncated to T=%d (prompt cut from the left), %ld of them with the response cut\n",
           set->truncated, T, set->response_truncated);
    if (set->first_problem[0]) printf("           first skipped: %s\n", set->first_problem);
    fflush(stdout);
}

// Loads the frozen reference from dir; a shape different from the policy's is a runtime error.
static void dpo_load_reference(GPT* ref, const GPT* policy, const char* dir) {
    char err[1024];
    if (gpt_load(ref, dir, err, sizeof err) != 0) fatal("reference model: %s", err);
    ref->precision = policy->precision;
    const GPTConfig *a = &policy->config, *b = &ref->config;
    if (a->num_layers != b->num_layers || a->channels != b->channels || a->num_heads != b->num_heads ||
        a->vocab_size != b->vocab_size || a->max_seq_len != b->max_seq_len)
        fatal("%s: the reference model (L%d C%d H%d V%d n_positions %d) does not match the policy (L%d C%d H%d "
              "V%d n_positions %d)",
              dir, b->num_layers, b->channels, b->num_heads, b->vocab_size, b->max_seq_len, a->num_layers,
              a->channels, a->num_heads, a->vocab_size, a->max_seq_len);
}

// Summed response log-probabilities of pairs [first .. first+count) under model, in batches of at
// most d->B pairs: out_c (count) chosen, out_r (count) rejected.
static void dpo_logps(DPORun* d, GPT* model, int first, int count, float* out_c, float* out_r) {
    int B = d->B;
    int* idx = malloc_check((size_t)B * sizeof(int));
    float* lp = malloc_check(2 * (size_t)B * sizeof(float));
    for (int s = 0; s < count; s += B) {
        int nb = count - s < B ? count - s : B;
        for (int i = 0; i < nb; i++) idx[i] = first + s + i;
        size_t Tb = pref_batch(&d->set, idx, nb, d->eot, d->inputs, d->targets);
        gpt_forward(model, d->inputs, d->targets, 2 * (size_t)nb, Tb);
        gpt_sequence_logprobs(model, lp);
        memcpy(out_c + s, lp, (size_t)nb * sizeof(float));
        memcpy(out_r + s, lp + nb, (size_t)nb * sizeof(float));
    }
    free(idx);
    free(lp);
}

// The reference's log-probabilities of every pair, once: the reference from start_dir lives only
// while they are computed.
static void dpo_reference_logps(DPORun* d, const char* start_dir) {
    d->ref_c = malloc_check((size_t)d->set.n * sizeof(float));
    d->ref_r = malloc_check((size_t)d->set.n * sizeof(float));
    GPT ref;
    dpo_load_reference(&ref, d->policy, start_dir);
    double t0 = time_seconds();
    dpo_logps(d, &ref, 0, d->set.n, d->ref_c, d->ref_r);
    printf("reference  %s: log-probabilities of all %d pairs in %.1f s\n", start_dir, d->set.n, time_seconds() - t0);
    gpt_free(&ref);
}

// The policy's loss, rewards and accuracy on the held-out pairs, into d->val.
static void dpo_evaluate(DPORun* d) {
    int n = d->set.n_val;
    float* pc = malloc_check(2 * (size_t)n * sizeof(float));
    dpo_logps(d, d->policy, 0, n, pc, pc + n);
    dpo_objective(pc, pc + n, d->ref_c, d->ref_r, n, d->c->beta, d->type, d->c->label_smoothing, NULL, NULL, NULL,
                  &d->val);
    free(pc);
}

// Prompts of the sentiment rate as token rows: <|endoftext|> + prompt, as the preference sequences
// begin, cut from the left to leave room for max_new tokens. seq[i] holds T ints; the prompt fills
// [0, start[i]).
static void dpo_prompt_rows(const Tokenizer* tok, char** prompts, int n, int max_new, size_t T, int** seq,
                            int* start) {
    int eot = tok_eot(tok);
    for (int i = 0; i < n; i++) {
        size_t np = 0;
        int* ids = tok_encode(tok, prompts[i], strlen(prompts[i]), &np);
        size_t keep = np + 1 + (size_t)max_new <= T ? np : T - 1 - (size_t)max_new;
        seq[i] = malloc_check(T * sizeof(int));
        seq[i][0] = eot;
        memcpy(seq[i] + 1, ids + (np - keep), keep * sizeof(int));
        start[i] = (int)keep + 1;
        free(ids);
    }
}

// Samples continuations of the rows seq[0..n) (len[i] tokens each, at most T with max_new more)
// into seq, all as one batch of rows of different lengths (causal attention: the padding right of
// a row's last token does not change the logits read there): one batched prefill, then one cached
// decoding step per new token, rows that finished sitting the steps out. A row stops at
// <|endoftext|>, at "\n\n" after start[i] or after max_new tokens.
static void dpo_sample_rows(GPT* model, const Tokenizer* tok, int** seq, int* len, const int* start, int n,
                            int max_new, size_t T, float temperature, int top_k, uint64_t* rng) {
    int eot = tok_eot(tok), V = model->config.vocab_size;
    int* done = calloc_check((size_t)n, sizeof(int));
    // the cache holds the longest prompt plus max_new positions
    int Tp = 0;
    for (int i = 0; i < n; i++)
        if (len[i] > Tp) Tp = len[i];
    int* inputs = malloc_check((size_t)n * (size_t)Tp * sizeof(int));
    for (int i = 0; i < n; i++)
        for (int t = 0; t < Tp; t++) inputs[(size_t)i * (size_t)Tp + (size_t)t] = t < len[i] ? seq[i][t] : eot;
    size_t cache_len = (size_t)Tp + (size_t)max_new < T ? (size_t)Tp + (size_t)max_new : T;
    GPTKVCache kv;
    gpt_kv_init(&kv, &model->config, (size_t)n, cache_len);
    const float* logits = gpt_kv_prefill(model, &kv, inputs, len, (size_t)Tp);
    int* step = malloc_check((size_t)n * sizeof(int)); // the token each row appends, or -1
    for (int k = 0; k < max_new; k++) {
        int active = 0;
        for (int i = 0; i < n; i++) {
            step[i] = -1;
            if (done[i]) continue;
            int next = sample_logits(logits + (size_t)i * (size_t)V, V, temperature, top_k, rng);
            if (next == eot) {
                done[i] = 1;
                continue;
            }
            seq[i][len[i]++] = next;
            size_t bl = 0;
            char* text = tok_decode(tok, seq[i] + start[i], (size_t)(len[i] - start[i]), &bl);
            if (strstr(text, "\n\n") != NULL) done[i] = 1; // the document ended
            free(text);
            if (!done[i]) {
                step[i] = next;
                active++;
            }
        }
        if (active == 0 || k + 1 == max_new) break;
        logits = gpt_kv_decode(model, &kv, step);
    }
    gpt_kv_free(&kv);
    free(step);
    free(done);
    free(inputs);
}

// Fraction of sampled continuations of prompts[0..n) with positive sentiment (corpus_positive_rate,
// each text cut at its first "\n\n"). The RNG starts from `seed` at every call, so before and after
// DPO differ only by the model. *example, if not NULL, receives the first continuation (malloc'd).
static double dpo_positive_rate(GPT* model, const Tokenizer* tok, char** prompts, int n, int max_new, size_t T,
                                float temperature, int top_k, uint64_t seed, char** example) {
    int** seq = malloc_check((size_t)n * sizeof(int*));
    int* len = malloc_check((size_t)n * sizeof(int));
    int* start = malloc_check((size_t)n * sizeof(int)); // where the continuation begins
    if ((size_t)max_new + 2 > T) max_new = (int)T - 2;
    dpo_prompt_rows(tok, prompts, n, max_new, T, seq, start);
    memcpy(len, start, (size_t)n * sizeof(int));
    uint64_t rng = seed ? seed : 1;
    dpo_sample_rows(model, tok, seq, len, start, n, max_new, T, temperature, top_k, &rng);
    char** texts = malloc_check((size_t)n * sizeof(char*));
    for (int i = 0; i < n; i++) {
        size_t bl = 0;
        texts[i] = tok_decode(tok, seq[i] + start[i], (size_t)(len[i] - start[i]), &bl);
        free(seq[i]);
    }
    double rate = corpus_positive_rate((const char* const*)texts, n);
    for (int i = 0; i < n; i++) {
        if (example && i == 0) *example = texts[i];
        else free(texts[i]);
    }
    free(texts);
    free(seq);
    free(len);
    free(start);
    return rate;
}

// Probes through DPO: the hidden states are measured as in pre-training (same bins, same probe
// sequences) and I_pref adds the held-out pairs' response tokens labelled chosen = 1 / rejected = 0;
// rows go to DIR/probes.csv with stage dpo. After pre-training the run's own probes continue; for
// DPO alone they are loaded from DIR/probe_bins.safetensors when the run folder has one.
// Returns the probes to use (run_probes, or *own once loaded), or NULL when there are none.
static Probes* dpo_probes_init(Probes* run_probes, Probes* own, const char* dir, const GPTConfig* g, size_t B) {
    memset(own, 0, sizeof *own);
    if (run_probes && run_probes->every > 0) return run_probes;
    char path[4200];
    path_join(path, sizeof path, dir, "probe_bins.safetensors");
    if (probes_load(own, dir, g, B) != 0) {
        printf("probes     %s not found (pre-training with probes writes it): DPO runs without probes\n", path);
        return NULL;
    }
    printf("probes     continuing with %s (%zu sequences of %zu tokens)\n", path, own->S, own->T);
    return own;
}

// One probe step of the DPO stage at `step`: every hidden state on the probe sequences (with the
// final set too at the last step), I_pref on the held-out pairs (the hidden state at t belongs to
// a response token when token t is a target of t-1). Each pair-side is a unit of I_pref's null:
// the null shuffles the chosen/rejected labels among the held-out sequences.
static void dpo_probes_step(DPORun* d, int step, int last) {
    Probes* p = d->probes;
    if (!p) return;
    double t0 = probes_begin(p, d->policy, last);
    int B = d->B;
    const PrefSet* set = &d->set;
    int* idx = malloc_check((size_t)B * sizeof(int));
    int* mask = malloc_check(2 * (size_t)B * (size_t)set->seq_len * sizeof(int));
    int* chosen = malloc_check(2 * (size_t)B * sizeof(int));
    int* unit = malloc_check(2 * (size_t)B * sizeof(int));
    for (int s0 = 0; s0 < set->n_val; s0 += B) {
        int nb = set->n_val - s0 < B ? set->n_val - s0 : B;
        for (int i = 0; i < nb; i++) idx[i] = s0 + i;
        size_t Tb = pref_batch(set, idx, nb, d->eot, d->inputs, d->targets);
        for (size_t r = 0; r < 2 * (size_t)nb; r++) {
            chosen[r] = r < (size_t)nb;
            unit[r] = r < (size_t)nb ? s0 + (int)r : set->n_val + s0 + (int)r - nb;
            for (size_t t = 0; t < Tb; t++) mask[r * Tb + t] = t > 0 && d->targets[r * Tb + t - 1] != -1;
        }
        gpt_forward_hidden(d->policy, d->inputs, 2 * (size_t)nb, Tb);
        probes_pref_add(p, d->policy, mask, chosen, unit, 2 * (size_t)nb, Tb);
    }
    free(idx);
    free(mask);
    free(chosen);
    free(unit);
    probes_end(p, step, "dpo", last, t0);
}

// The optimisation: c->steps steps of B random train pairs through the shared step, no weight
// decay, AdamW started afresh (pre-training's moments belong to another objective). One dpo.csv
// row per step; val accuracy and probes every eval_every steps and after the last (the last
// row's val accuracy is the saved model's).
static void dpo_train(DPORun* d, const char* dir) {
    const DPOConfig* c = d->c;
    GPT* policy = d->policy;
    int B = d->B, steps = c->steps, n_train = d->set.n - d->set.n_val;
    if (policy->m_memory) memset(policy->m_memory, 0, policy->num_parameters * sizeof(float));
    if (policy->v_memory) memset(policy->v_memory, 0, policy->num_parameters * sizeof(float));
    char path[4200];
    path_join(path, sizeof path, dir, "dpo.csv");
    FILE* csv = open_csv_log(path, DPO_CSV_HEADER, 0);
    TrainStep ts;
    train_step_init(&ts, steps, steps / 10, c->lr, c->min_lr_frac, 0.0f, c->clip, "DPO step", 0);
    snprintf(ts.hint, sizeof ts.hint, "try a lower --dpo-lr");

    uint64_t rng = (c->seed ^ 0xD1B54A32D192ED03ull) | 1;
    int* idx = malloc_check((size_t)B * sizeof(int));
    float* lp = malloc_check(2 * (size_t)B * sizeof(float));   // policy log-probs: chosen, then rejected
    float* rc = malloc_check((size_t)B * sizeof(float));       // reference log-probs of the batch
    float* rr = malloc_check((size_t)B * sizeof(float));
    float* dlogp = malloc_check(2 * (size_t)B * sizeof(float)); // d(loss)/d lp
    float* dlosses = malloc_check(2 * (size_t)B * (size_t)d->T * sizeof(float));
    int every = steps / 20 > 0 ? steps / 20 : 1;
    for (int step = 0; step < steps; step++) {
        double t0 = time_seconds();
        for (int i = 0; i < B; i++) {
            idx[i] = d->set.n_val + (int)(random_u32(&rng) % (uint32_t)n_train);
            rc[i] = d->ref_c[idx[i]];
            rr[i] = d->ref_r[idx[i]];
        }
        size_t Tb = pref_batch(&d->set, idx, B, d->eot, d->inputs, d->targets);
        gpt_forward(policy, d->inputs, d->targets, 2 * (size_t)B, Tb);
        gpt_sequence_logprobs(policy, lp);
        DPOStats st;
        dpo_objective(lp, lp + B, rc, rr, B, c->beta, d->type, c->label_smoothing, dlogp, dlogp + B, NULL, &st);
        dpo_dlosses(dlosses, d->targets, dlogp, 2 * (size_t)B, Tb);
        StepResult r = train_step(&ts, policy, step, st.loss, dlosses, t0);

        int last = step + 1 == steps, evaluated = last || (step + 1) % c->eval_every == 0;
        if (evaluated) {
            dpo_evaluate(d);
            dpo_probes_step(d, step + 1, last);
        }
        double row[7] = {st.loss, st.rewards_chosen, st.rewards_rejected, st.margin, st.accuracy,
                         evaluated ? d->val.accuracy : NAN, r.lr};
        log_row(csv, path, step, NULL, row, 7);
        if (evaluated || step % every == 0) {
            printf("dpo step %*d/%d | loss %.4f | margin %+.4f | acc %.2f", (int)snprintf(NULL, 0, "%d", steps),
                   step + 1, steps, (double)st.loss, (double)st.margin, (double)st.accuracy);
            if (evaluated) printf(" | val acc %.3f margin %+.4f", (double)d->val.accuracy, (double)d->val.margin);
            printf(" | lr %.2e | %.0f ms\n", (double)r.lr, r.ms);
            fflush(stdout);
        }
    }
    if (fclose(csv) != 0) fatal("%s: %s", path, strerror(errno));
    free(idx);
    free(lp);
    free(rc);
    free(rr);
    free(dlogp);
    free(dlosses);
}

// Saves dir/dpo/ (model and tokenizer) and prints the held-out results and the probes' I_pref.
static void dpo_finish(DPORun* d, const char* dir, char* dpo_dir, size_t dpo_dir_len) {
    char path[4400], err[1024];
    path_join(dpo_dir, dpo_dir_len, dir, "dpo");
    if (gpt_save(d->policy, dpo_dir, err, sizeof err) != 0) fatal("%s", err);
    path_join(path, sizeof path, dpo_dir, "tokenizer.json");
    if (tok_save_json(d->tok, path, err, sizeof err) != 0) fatal("%s", err);
    printf("dpo done   val accuracy %.3f, val reward margin %+.4f, val loss %.4f on %d held-out pairs\n",
           (double)d->val.accuracy, (double)d->val.margin, (double)d->val.loss, d->set.n_val);
    if (d->probes) {
        int L = d->policy->config.num_layers;
        const ProbeRun* pr = d->probes->final.grams.n ? &d->probes->final : &d->probes->traj;
        printf("           I_pref per hidden state 0..%d at the end (permutation null in brackets):", L);
        for (int l = 0; l <= L; l++) printf(" %.4f (%.4f)", pr->stats[l].I_pref, pr->stats[l].I_pref_null);
        printf("\n");
        probes_plot(d->probes, dir); // preference.svg now that dpo.csv exists
    }
}

void dpo_stage(const DPOConfig* c, GPT* policy, const char* dir, const char* start_dir, Probes* run_probes) {
    DPORun d = {.c = c, .B = c->batch, .T = c->T, .policy = policy};
    d.type = strcmp(c->loss, "ipo") == 0 ? DPO_IPO : DPO_SIGMOID;
    char path[4200], err[1024];
    path_join(path, sizeof path, start_dir, "tokenizer.json");
    d.tok = tok_load_json(path, err, sizeof err);
    if (!d.tok) fatal("%s", err);
    d.eot = tok_eot(d.tok);
    if (d.eot < 0 || d.eot >= policy->config.vocab_size)
        fatal("%s: DPO needs <|endoftext|> inside the model's vocabulary (V=%d)", path, policy->config.vocab_size);
    printf("\n==== DPO: %d steps of %d pairs, %s loss, beta %g, label smoothing %g, lr %g, T %d\n", c->steps, d.B,
           c->loss, (double)c->beta, (double)c->label_smoothing, (double)c->lr, d.T);

    dpo_load_pairs(c, d.tok, d.T, &d.set);
    d.inputs = malloc_check(2 * (size_t)d.B * (size_t)d.T * sizeof(int));
    d.targets = malloc_check(2 * (size_t)d.B * (size_t)d.T * sizeof(int));
    dpo_reference_logps(&d, start_dir);

    // the property before DPO (built-in pairs only: the corpus lexicon defines it)
    int n_prompts = c->pairs ? 0 : c->n_prompts;
    char** prompts = n_prompts > 0 ? corpus_prompts(c->seed + 303, n_prompts) : NULL;
    uint64_t sample_seed = c->seed * 31 + 17;
    double rate_before = NAN;
    char* ex = NULL;
    if (n_prompts > 0) {
        rate_before = dpo_positive_rate(policy, d.tok, prompts, n_prompts, DPO_SAMPLE_LEN, (size_t)d.T,
                                        c->temperature, c->top_k, sample_seed, &ex);
        printf("sentiment  before DPO: %.1f%% of continuations of %d held-out prompts are positive\n",
               100.0 * rate_before, n_prompts);
        printf("           e.g. \"%s\" ->\"%s\"\n", prompts[0], ex);
        free(ex);
    }

    Probes own_probes;
    d.probes = dpo_probes_init(run_probes, &own_probes, dir, &policy->config, (size_t)d.B);
    dpo_probes_step(&d, 0, 0); // step 0: the reference itself
    dpo_train(&d, dir);
    char dpo_dir[4200];
    dpo_finish(&d, dir, dpo_dir, sizeof dpo_dir);

    if (n_prompts > 0) {
        double rate_after = dpo_positive_rate(policy, d.tok, prompts, n_prompts, DPO_SAMPLE_LEN, (size_t)d.T,
                                              c->temperature, c->top_k, sample_seed, &ex);
        printf("           e.g. \"%s\" ->\"%s\"\n", prompts[0], ex);
        printf("sentiment  positive continuations: %.1f%% before DPO -> %.1f%% after (%d held-out prompts)\n",
               100.0 * rate_before, 100.0 * rate_after, n_prompts);
        free(ex);
        corpus_prompts_free(prompts, n_prompts);
    }
    printf("           model in %s/, log in %s/dpo.csv\n", dpo_dir, dir);
    fflush(stdout);
    probes_free(&own_probes);
    free(d.inputs);
    free(d.targets);
    free(d.ref_c);
    free(d.ref_r);
    pref_free(&d.set);
    tok_free(d.tok);
}

// The run folder of DPO alone (see dpo_standalone) into dir (4096 bytes).
static void dpo_standalone_dir(char* dir, const char* init, const char* out) {
    char base_path[4000]; // leaves room for "runs/" and "-dpo" in dir
    snprintf(base_path, sizeof base_path, "%s", init);
    size_t n = strlen(base_path);
    while (n > 1 && base_path[n - 1] == '/') base_path[--n] = '\0';
    const char* base = strrchr(base_path, '/');
    base = base ? base + 1 : base_path;
    int w;
    if (out) w = snprintf(dir, 4096, "%s", out);
    else if (strcmp(base, "pretrain") == 0) // DIR/pretrain -> DIR (without the slash; "/" stays "/")
        w = snprintf(dir, 4096, "%.*s", base - base_path > 1 ? (int)(base - base_path) - 1 : (int)(base - base_path),
                     base_path);
    else w = snprintf(dir, 4096, "runs/%s-dpo", base);
    if (w < 0 || w >= 4096) fatal("%s: run folder path too long", out ? out : init);
    if (!dir[0]) snprintf(dir, 4096, ".");
}

void dpo_standalone(const DPOConfig* c, const char* init, const char* out, int threads, double t_start) {
    GPT model;
    char err[1024], dir[4096];
    if (gpt_load(&model, init, err, sizeof err) != 0) fatal("%s", err);
    model.precision = c->precision;
    const GPTConfig* g = &model.config;
    DPOConfig cc = *c;
    if (cc.T <= 0) cc.T = g->max_seq_len;
    if (cc.T > g->max_seq_len) error_usage("-T %d exceeds n_positions %d of %s/config.json", cc.T, g->max_seq_len, init);
    dpo_standalone_dir(dir, init, out);
    printf("forgetful: DPO alone from %s (L%d C%d H%d V%d n_positions %d), %zu parameters, threads %d\n", init,
           g->num_layers, g->channels, g->num_heads, g->vocab_size, g->max_seq_len, model.num_parameters, threads);
    printf("run folder %s/\n", dir);
    size_t mem = dpo_memory(g, 0, cc.batch, cc.T, cc.pairs ? 0 : cc.n_prompts);
    char mem_s[32];
    format_bytes(mem_s, sizeof mem_s, (double)mem);
    printf("memory     %s estimated (policy parameters, gradients, AdamW moments, activations; reference)\n", mem_s);
    refuse_if_too_big(mem);
    if (make_dirs(dir, err, sizeof err) != 0) fatal("%s", err);
    dpo_stage(&cc, &model, dir, init, NULL);
    printf("summary    wall time %.1f s, peak RSS %.1f MiB\n", time_seconds() - t_start, peak_rss() / (1024.0 * 1024.0));
    gpt_free(&model);
}
