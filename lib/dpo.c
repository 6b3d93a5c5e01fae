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
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/corpus.h"
#include "../data/prefs.h"
#include "../tokenizer.h"
#include "dist.h"
#include "flags.h"
#include "page.h"
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
    dpo_objective_part(policy_chosen, policy_rejected, ref_chosen, ref_rejected, n, n, beta, type, label_smoothing,
                       dchosen, drejected, losses, stats);
}

void dpo_objective_part(const float* policy_chosen, const float* policy_rejected, const float* ref_chosen,
                        const float* ref_rejected, int n, int n_total, float beta, DPOLossType type,
                        float label_smoothing, float* dchosen, float* drejected, float* losses, DPOStats* stats) {
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
        // h depends on logπ(c) with +1 and on logπ(r) with −1; the mean divides by n_total
        if (dchosen) dchosen[i] = (float)(dh / n_total);
        if (drejected) drejected[i] = (float)(-dh / n_total);
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

#define DPO_SAMPLE_LEN 40 // tokens sampled per prompt for the sentiment rate (two sentences fit)

// What the stage's parts share.
typedef struct {
    const DPOConfig* c;
    DPOLossType type;
    int B, T;           // pairs per batch (over all ranks), context length
    int m;              // pairs per forward: B / (ranks x micro-batches)
    GPT* policy;
    Tokenizer* tok;     // the start folder's tokenizer
    int eot;            // its <|endoftext|>
    PrefSet set;        // pairs [0, n_val) held out, [n_val, n) train
    int* inputs;        // (2B, T) batch scratch
    int* targets;       // (2B, T)
    float* ref_c;       // (set.n) reference log-probabilities of the chosen responses
    float* ref_r;       // (set.n) and of the rejected ones
    Probes* probes;     // the probes that continue through DPO, or NULL
    Page* page;         // the run's page (DIR/index.html)
    DPOStats val;       // the last evaluation on the held-out pairs
    const char* start_dir; // the folder the policy started from (reference, tokenizer)
    uint64_t pairs_sum; // checksum of DIR/dpo_pairs.bin
    double rate_before; // sentiment rate before DPO (NAN if not measured)
    uint64_t rng;       // the batch RNG after the last step
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

MemPart dpo_memory_part(const GPTConfig* g, size_t pretrain_mem, int batch, int split, int T, int n_prompts,
                        size_t avail) {
    MemPart p = {.bytes = dpo_memory(g, pretrain_mem, batch / split, T, n_prompts)};
    snprintf(p.what, sizeof p.what, "the DPO stage%s (the policy on 2 x %d sequences of T%d, and the reference)",
             pretrain_mem ? " after pre-training" : "", batch / split, T);
    // the largest batch that fits (the estimate grows with the batch), in forwards of lo pairs
    int lo = 0, hi = batch / split - 1;
    while (avail && lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (dpo_memory(g, pretrain_mem, mid, T, n_prompts) <= avail) lo = mid;
        else hi = mid - 1;
    }
    if (lo > 0)
        snprintf(p.fix, sizeof p.fix, "--dpo-batch %d fits%s", lo * split, pretrain_mem ? " (or --dpo-steps 0)" : "");
    else if (pretrain_mem) snprintf(p.fix, sizeof p.fix, "--dpo-steps 0 leaves it out");
    else snprintf(p.fix, sizeof p.fix, "even --dpo-batch %d does not fit: a smaller -T", split);
    return p;
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
    printf("           %ld pairs truncated to T=%d (prompt cut from the left), %ld of them with the response cut;"
           " %ld skipped as identical once cut\n",
           set->truncated, T, set->response_truncated, set->cut_identical);
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

// Summed response log-probabilities of pairs [first .. first+count) under model, on every rank:
// out_c (count) chosen, out_r (count) rejected. Each rank computes its dist_share of the pairs in
// forwards of at most d->m pairs (a training micro-batch: no more memory than a step), the rest
// of its arrays zero, and the arrays are summed over the ranks, which is exact. tk (may be NULL)
// hears of this rank's progress; a pass with a ticker (the reference's, which can take minutes)
// stops early on Ctrl-C or SIGTERM (nothing is saved from it then). With probe_s (not NULL: the
// held-out pairs under the policy, first = 0) each forward's hidden states also go to I_pref
// (dpo_pref_rows), and *probe_s receives the seconds that took.
static void dpo_pref_rows(DPORun* d, int s0, int nb, size_t Tb);
static void dpo_logps(DPORun* d, GPT* model, int first, int count, float* out_c, float* out_r, Ticker* tk,
                      double* probe_s) {
    int B = d->m;
    size_t lo, hi;
    dist_share((size_t)count, &lo, &hi);
    memset(out_c, 0, (size_t)count * sizeof(float));
    memset(out_r, 0, (size_t)count * sizeof(float));
    int* idx = malloc_check((size_t)B * sizeof(int));
    float* lp = malloc_check(2 * (size_t)B * sizeof(float));
    for (int s = (int)lo; s < (int)hi && !(tk && run_interrupted()); s += B) {
        int nb = (int)hi - s < B ? (int)hi - s : B;
        for (int i = 0; i < nb; i++) idx[i] = first + s + i;
        size_t Tb = pref_batch(&d->set, idx, nb, d->eot, d->inputs, d->targets);
        gpt_forward(model, d->inputs, d->targets, 2 * (size_t)nb, Tb);
        if (probe_s) {
            double t0 = time_seconds();
            dpo_pref_rows(d, s, nb, Tb);
            *probe_s += time_seconds() - t0;
        }
        gpt_sequence_logprobs(model, lp);
        memcpy(out_c + s, lp, (size_t)nb * sizeof(float));
        memcpy(out_r + s, lp + nb, (size_t)nb * sizeof(float));
        if (tk) ticker_tick(tk, (size_t)(s + nb));
    }
    free(idx);
    free(lp);
    dist_sum_floats(out_c, (size_t)count);
    dist_sum_floats(out_r, (size_t)count);
}

// The reference's log-probabilities of every pair, once: the reference from start_dir lives only
// while they are computed.
static void dpo_reference_logps(DPORun* d, const char* start_dir) {
    d->ref_c = malloc_check((size_t)d->set.n * sizeof(float));
    d->ref_r = malloc_check((size_t)d->set.n * sizeof(float));
    GPT ref;
    dpo_load_reference(&ref, d->policy, start_dir);
    double t0 = time_seconds();
    Ticker tk;
    ticker_init(&tk, "reference", "pairs", (size_t)d->set.n);
    dpo_logps(d, &ref, 0, d->set.n, d->ref_c, d->ref_r, &tk, NULL);
    ticker_end(&tk);
    printf("reference  %s: log-probabilities of all %d pairs in %.1f s\n", start_dir, d->set.n, time_seconds() - t0);
    gpt_free(&ref);
}

// The policy's loss, rewards and accuracy on the held-out pairs, into d->val; with probe_s, its
// forwards feed I_pref too (dpo_logps).
static void dpo_evaluate(DPORun* d, double* probe_s) {
    int n = d->set.n_val;
    float* pc = malloc_check(2 * (size_t)n * sizeof(float));
    dpo_logps(d, d->policy, 0, n, pc, pc + n, NULL, probe_s);
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

// The run folder a saved model came from: the folder above start_dir when start_dir is a run's
// pretrain/ or dpo/ (out, n bytes); 0, or -1 when start_dir is no run's model folder.
static int source_run_folder(const char* start_dir, char* out, size_t n) {
    size_t len = strlen(start_dir);
    while (len > 1 && start_dir[len - 1] == '/') len--;
    size_t base = len;
    while (base > 0 && start_dir[base - 1] != '/') base--;
    size_t bl = len - base;
    if (!((bl == 8 && strncmp(start_dir + base, "pretrain", 8) == 0) || (bl == 3 && strncmp(start_dir + base, "dpo", 3) == 0)))
        return -1;
    if (base == 0) snprintf(out, n, ".");
    else snprintf(out, n, "%.*s", (int)(base > 1 ? base - 1 : 1), start_dir);
    return 0;
}

// Probes through DPO: the hidden states are measured as in pre-training (same bins, same probe
// sequences) and I_pref adds the held-out pairs' response tokens labelled chosen = 1 / rejected = 0;
// rows go to DIR/probes.csv with stage dpo. After pre-training the run's own probes continue. For
// DPO alone they are loaded from DIR/probe_bins.safetensors when the run folder has one (a resumed
// stage, or DPO in the pre-training's own folder), otherwise from the folder of the run the --init
// model came from (start_dir's parent, for a run's pretrain/ or dpo/), and then written to
// DIR/probe_bins.safetensors, so that the new folder is complete and a resume reads the same bins:
// the points of both stages are then measured with one set of reference points and compare on
// one plane. Forward batches of B sequences (pre-training's B on resume, so the values repeat bit
// for bit). probes.csv keeps its pre-training rows and the DPO rows of the steps before
// `resume_step` (0: none). Returns the probes to use (run_probes, or *own once loaded), or NULL.
static Probes* dpo_probes_init(Probes* run_probes, Probes* own, const char* dir, const char* start_dir,
                               const GPTConfig* g, size_t B, int resume_step) {
    memset(own, 0, sizeof *own);
    Probes* p = run_probes && run_probes->every > 0 ? run_probes : own;
    if (p == own) {
        char path[4200], src[4200], err[4600];
        path_join(path, sizeof path, dir, "probe_bins.safetensors");
        if (probes_load(own, dir, g, B) == 0) {
            printf("probes     continuing with %s (%zu sequences of %zu tokens)\n", path, own->S, own->T);
        } else if (resume_step == 0 && source_run_folder(start_dir, src, sizeof src) == 0 &&
                   probes_load(own, src, g, B) == 0) {
            // every rank reads the source's bins; rank 0 alone writes the copy
            if (dist_root() && probe_bins_save(path, &own->bins, own->null_seed, own->tokens, own->S, own->T,
                                               own->traj_seqs, err, sizeof err) != 0)
                fatal("%s", err);
            path_join(own->csv, sizeof own->csv, dir, "probes.csv");
            printf("probes     continuing with %s/probe_bins.safetensors, the --init run's (%zu sequences of %zu "
                   "tokens), copied to %s\n", src, own->S, own->T, path);
        } else {
            printf("probes     %s not found (pre-training with probes writes it), nor beside the --init model: DPO "
                   "runs without probes\n", path);
            return NULL;
        }
    }
    restart_csv_keep(p->csv, PROBE_CSV_HEADER, (CsvKeep){{INT_MAX, resume_step > 0 ? resume_step + 1 : 0}}, 0);
    return p;
}

// I_pref's rows of one forward of held-out pairs [s0, s0 + nb) (d->inputs / d->targets, Tb
// positions, chosen rows first): the hidden state at t belongs to a response token when token t is
// a target of t-1. Each pair-side is a unit of I_pref's null: the null shuffles the
// chosen/rejected labels among the held-out sequences.
static void dpo_pref_rows(DPORun* d, int s0, int nb, size_t Tb) {
    const PrefSet* set = &d->set;
    int* mask = malloc_check(2 * (size_t)nb * Tb * sizeof(int));
    int* chosen = malloc_check(2 * (size_t)nb * sizeof(int));
    int* unit = malloc_check(2 * (size_t)nb * sizeof(int));
    for (size_t r = 0; r < 2 * (size_t)nb; r++) {
        chosen[r] = r < (size_t)nb;
        unit[r] = r < (size_t)nb ? s0 + (int)r : set->n_val + s0 + (int)r - nb;
        for (size_t t = 0; t < Tb; t++) mask[r * Tb + t] = t > 0 && d->targets[r * Tb + t - 1] != -1;
    }
    probes_pref_add(d->probes, d->policy, mask, chosen, unit, 2 * (size_t)nb, Tb);
    free(mask);
    free(chosen);
    free(unit);
}

// One probe step of the DPO stage at `step`, on every rank (each its share, probe_run.h): every
// hidden state on the probe sequences (with the final set too at the last step), I_pref on the
// held-out pairs. With evaluate, the step's evaluation (dpo_evaluate) runs here and its forwards
// of the held-out pairs are the ones I_pref reads (the same batches, so the same hidden states as
// a forward of their own: one forward instead of two); the evaluation's own time is not counted
// as the probes'. Without probes it is only the evaluation.
static void dpo_probes_step(DPORun* d, int step, int last, int evaluate) {
    Probes* p = d->probes;
    if (!p) {
        if (evaluate) dpo_evaluate(d, NULL);
        return;
    }
    double t0 = probes_begin(p, d->policy, last);
    if (evaluate) {
        double te = time_seconds(), in_probes = 0.0;
        dpo_evaluate(d, &in_probes);
        t0 += time_seconds() - te - in_probes;
    } else {
        int B = d->m;
        int* idx = malloc_check((size_t)B * sizeof(int));
        size_t lo, hi; // this rank's share of the held-out pairs, in forwards of a micro-batch
        dist_share((size_t)d->set.n_val, &lo, &hi);
        for (int s0 = (int)lo; s0 < (int)hi; s0 += B) {
            int nb = (int)hi - s0 < B ? (int)hi - s0 : B;
            for (int i = 0; i < nb; i++) idx[i] = s0 + i;
            size_t Tb = pref_batch(&d->set, idx, nb, d->eot, d->inputs, d->targets);
            gpt_forward_hidden(d->policy, d->inputs, 2 * (size_t)nb, Tb);
            dpo_pref_rows(d, s0, nb, Tb);
        }
        free(idx);
    }
    probes_end(p, step, "dpo", last, t0);
}

// ============================================================================
// Checkpoints of the stage (DIR/dpo_state.bin) and resuming

void dpo_settings_from_config(const DPOConfig* c, DPOSettings* s) {
    memset(s, 0, sizeof *s); // field by field below: a struct assignment may leave padding undefined
    s->wanted = 1;
    s->steps = c->steps;
    s->batch = c->batch;
    s->T = c->T;
    s->loss = strcmp(c->loss, "ipo") == 0;
    s->skip_bad = c->skip_bad;
    s->n_pairs = c->n_pairs;
    s->eval_every = c->eval_every;
    s->n_prompts = c->n_prompts;
    s->top_k = c->top_k;
    s->save_every = c->save_every;
    s->lr = c->lr;
    s->min_lr_frac = c->min_lr_frac;
    s->clip = c->clip;
    s->beta = c->beta;
    s->label_smoothing = c->label_smoothing;
    s->val_frac = c->val_frac;
    s->temperature = c->temperature;
    s->seed = c->seed;
    if (c->pairs) snprintf(s->pairs, sizeof s->pairs, "%s", c->pairs);
}

DPOConfig dpo_config_from_settings(const DPOSettings* s, int threads) {
    return (DPOConfig){.pairs = s->pairs[0] ? s->pairs : NULL, .steps = s->steps, .batch = s->batch, .T = s->T,
                       .lr = s->lr, .min_lr_frac = s->min_lr_frac, .clip = s->clip, .beta = s->beta,
                       .loss = s->loss ? "ipo" : "sigmoid", .label_smoothing = s->label_smoothing,
                       .skip_bad = s->skip_bad, .val_frac = s->val_frac, .n_pairs = s->n_pairs,
                       .eval_every = s->eval_every, .n_prompts = s->n_prompts, .temperature = s->temperature,
                       .top_k = s->top_k, .seed = s->seed, .save_every = s->save_every, .threads = threads,
                       .micro = 1};
}

int dpo_state_check(const DPOStateHeader* h, char* err, size_t errlen) {
    GPTConfig c = {h->maxT, h->V, h->L, h->NH, h->C};
    if (gpt_config_check(&c, err, errlen) != 0) return -1;
    const char* why = NULL;
    if (h->num_parameters != state_param_count(h->L, h->C, h->V, h->maxT)) why = "num_parameters does not match the shape";
    else if (h->standalone != 0 && h->standalone != 1) why = "the standalone flag is neither 0 nor 1";
    else if (h->s.wanted != 1) why = "no DPO settings";
    else if (h->step < 1 || h->step > h->s.steps) why = "the DPO step is outside [1, --dpo-steps]";
    else if (h->threads < 1 || h->threads > 4096) why = "--threads is outside [1, 4096]";
    else if (h->probe_B < 0 || h->probe_B > 65536) why = "the probes' batch is outside [0, 65536]";
    else if (h->precision != GEMM_FP32 && h->precision != GEMM_BF16) why = "the precision is neither fp32 nor bf16";
    else if (!(isnan(h->rate_before) || (h->rate_before >= 0.0 && h->rate_before <= 1.0)))
        why = "the sentiment rate is outside [0, 1]";
    else if (!memchr(h->start, '\0', sizeof h->start) || (h->standalone && !h->start[0]))
        why = "the start folder is not a terminated string";
    if (why) {
        set_err(err, errlen, "%s", why);
        return -1;
    }
    return dpo_settings_check(&h->s, h->maxT, err, errlen);
}

void dpo_state_load(const char* dir, DPOStateHeader* h, GPT* policy) {
    char path[4200], err[4600];
    path_join(path, sizeof path, dir, "dpo_state.bin");
    float *params, *m, *v;
    if (state_file_read(path, DPO_STATE_MAGIC, DPO_STATE_VERSION, h, sizeof *h, &params, &m, &v, err, sizeof err) != 0)
        fatal("%s", err);
    if (dpo_state_check(h, err, sizeof err) != 0) {
        free(params);
        free(m);
        free(v);
        fatal("%s: %s", path, err);
    }
    gpt_build(policy, (GPTConfig){h->maxT, h->V, h->L, h->NH, h->C}, h->s.seed);
    memcpy(policy->params_memory, params, h->num_parameters * sizeof(float));
    gpt_alloc_training_state(policy);
    memcpy(policy->m_memory, m, h->num_parameters * sizeof(float));
    memcpy(policy->v_memory, v, h->num_parameters * sizeof(float));
    policy->precision = (GemmPrecision)h->precision;
    free(params);
    free(m);
    free(v);
}

// Writes dir/dpo_state.bin after `done` steps with the batch RNG rng (rank 0; the others hold the
// same parameters and moments).
static void dpo_checkpoint(const DPORun* d, const char* dir, int done, uint64_t rng) {
    if (!dist_root()) return;
    const GPTConfig* g = &d->policy->config;
    DPOStateHeader h;
    memset(&h, 0, sizeof h);
    h.magic = DPO_STATE_MAGIC;
    h.version = DPO_STATE_VERSION;
    h.num_parameters = d->policy->num_parameters;
    h.L = g->num_layers;
    h.C = g->channels;
    h.NH = g->num_heads;
    h.maxT = g->max_seq_len;
    h.V = g->vocab_size;
    h.standalone = d->c->standalone;
    h.step = done;
    h.threads = d->c->threads;
    h.probe_B = d->probes ? (int)d->probes->B : 0;
    h.precision = (int32_t)d->policy->precision;
    h.rng = rng;
    h.pairs_sum = d->pairs_sum;
    h.rate_before = d->rate_before;
    dpo_settings_from_config(d->c, &h.s);
    snprintf(h.start, sizeof h.start, "%s", d->start_dir);
    char path[4200], err[4600];
    path_join(path, sizeof path, dir, "dpo_state.bin");
    if (state_file_write(path, &h, sizeof h, d->policy, err, sizeof err) != 0) fatal("%s", err);
}

// The micro-batches of a DPO step: this rank's share of the step's B pairs, pairs [first, first +
// K m) of idx, as K forwards of m pairs (2m sequences: the chosen rows, then the rejected rows).
typedef struct {
    DPORun* d;
    const int* idx;       // (B) the step's pairs
    int first;            // this rank's first pair in idx
    const float *rc, *rr; // (B) the reference's log-probabilities of the step's pairs
    float* lp;            // (2B) the policy's, chosen then rejected: this rank's pairs filled, 0 elsewhere
    float* scratch;       // (2m) one forward's
    float* dlogp;         // (2m) d(loss)/d lp of one forward
    float* losses;        // (m) L_i of one forward
    float* dlosses;       // (2m, T) the seed of its backward
} DPOMicro;

static double dpo_micro(void* ctx, GPT* policy, int k, const float** dlosses) {
    DPOMicro* u = ctx;
    DPORun* d = u->d;
    const DPOConfig* c = d->c;
    int B = d->B, m = d->m, p0 = u->first + k * m;
    size_t Tb = pref_batch(&d->set, u->idx + p0, m, d->eot, d->inputs, d->targets);
    gpt_forward(policy, d->inputs, d->targets, 2 * (size_t)m, Tb);
    gpt_sequence_logprobs(policy, u->scratch);
    memcpy(u->lp + p0, u->scratch, (size_t)m * sizeof(float));
    memcpy(u->lp + B + p0, u->scratch + m, (size_t)m * sizeof(float));
    // the gradient of the mean over all B pairs (each pair's term depends on that pair alone)
    dpo_objective_part(u->scratch, u->scratch + m, u->rc + p0, u->rr + p0, m, B, c->beta, d->type,
                       c->label_smoothing, u->dlogp, u->dlogp + m, u->losses, NULL);
    dpo_dlosses(u->dlosses, d->targets, u->dlogp, 2 * (size_t)m, Tb);
    *dlosses = u->dlosses;
    double sum = 0.0;
    for (int i = 0; i < m; i++) sum += (double)u->losses[i];
    return sum / B;
}

// The optimisation: c->steps steps of B random train pairs through the shared step, no weight
// decay, AdamW started afresh (pre-training's moments belong to another objective), or continued
// from the checkpoint `resume` (its step, RNG and moments). One dpo.csv row per step, its
// statistics from the log-probabilities of all B pairs, gathered from the ranks; val accuracy and
// probes every eval_every steps and after the last (the last row's val accuracy is the saved
// model's). A checkpoint every save_every steps; Ctrl-C, SIGTERM or SIGUSR1 saves one and exits 0.
static void dpo_train(DPORun* d, const char* dir, const DPOStateHeader* resume) {
    const DPOConfig* c = d->c;
    GPT* policy = d->policy;
    int B = d->B, m = d->m, steps = c->steps, n_train = d->set.n - d->set.n_val, first = resume ? resume->step : 0;
    if (!resume && policy->m_memory) memset(policy->m_memory, 0, policy->num_parameters * sizeof(float));
    if (!resume && policy->v_memory) memset(policy->v_memory, 0, policy->num_parameters * sizeof(float));
    char path[4200];
    path_join(path, sizeof path, dir, "dpo.csv");
    FILE* csv = dist_root() ? open_csv_log(path, DPO_CSV_HEADER, (CsvKeep){{first, 0}}) : NULL;
    TrainStep ts;
    train_step_init(&ts, steps, steps / 10, c->lr, c->min_lr_frac, 0.0f, c->clip, c->micro, "DPO step", first);
    ts.interrupt = run_interrupt_flag();
    snprintf(ts.hint, sizeof ts.hint, "try a lower --dpo-lr");

    uint64_t rng = resume ? resume->rng : (c->seed ^ 0xD1B54A32D192ED03ull) | 1;
    int* idx = malloc_check((size_t)B * sizeof(int));
    float* lp = malloc_check(2 * (size_t)B * sizeof(float)); // policy log-probs: chosen, then rejected
    float* rc = malloc_check((size_t)B * sizeof(float));     // reference log-probs of the batch
    float* rr = malloc_check((size_t)B * sizeof(float));
    DPOMicro u = {.d = d, .idx = idx, .first = dist_rank() * (B / dist_size()), .rc = rc, .rr = rr, .lp = lp,
                  .scratch = malloc_check(2 * (size_t)m * sizeof(float)),
                  .dlogp = malloc_check(2 * (size_t)m * sizeof(float)),
                  .losses = malloc_check((size_t)m * sizeof(float)),
                  .dlosses = malloc_check(2 * (size_t)m * (size_t)d->T * sizeof(float))};
    int every = steps / 20 > 0 ? steps / 20 : 1;
    for (int step = first; step < steps; step++) {
        double t0 = time_seconds();
        for (int i = 0; i < B; i++) { // the same draw on every rank
            idx[i] = d->set.n_val + (int)(random_u32(&rng) % (uint32_t)n_train);
            rc[i] = d->ref_c[idx[i]];
            rr[i] = d->ref_r[idx[i]];
        }
        memset(lp, 0, 2 * (size_t)B * sizeof(float));
        StepResult r = train_step(&ts, policy, step, dpo_micro, &u, t0);
        dist_sum_floats(lp, 2 * (size_t)B);
        DPOStats st;
        dpo_objective(lp, lp + B, rc, rr, B, c->beta, d->type, c->label_smoothing, NULL, NULL, NULL, &st);

        int done = step + 1, last = done == steps, evaluated = last || done % c->eval_every == 0;
        if (evaluated) dpo_probes_step(d, done, last, 1);
        double row[7] = {st.loss, st.rewards_chosen, st.rewards_rejected, st.margin, st.accuracy,
                         evaluated ? d->val.accuracy : NAN, r.lr};
        if (csv) log_row(csv, path, step, NULL, row, 7);
        if (evaluated) page_update(d->page, "live", "dpo", step + 1, steps);
        if (evaluated || step % every == 0) {
            printf("dpo step %*d/%d | loss %.4f | margin %+.4f | acc %.2f", (int)snprintf(NULL, 0, "%d", steps),
                   done, steps, (double)st.loss, (double)st.margin, (double)st.accuracy);
            if (evaluated) printf(" | val acc %.3f margin %+.4f", (double)d->val.accuracy, (double)d->val.margin);
            printf(" | lr %.2e | %.0f ms\n", (double)r.lr, r.ms);
            fflush(stdout);
        }
        int stop = !last && r.interrupted; // (every rank agrees: the step ORs the flag over them)
        if (!last && (stop || (c->save_every > 0 && done % c->save_every == 0))) dpo_checkpoint(d, dir, done, rng);
        if (stop) {
            page_update(d->page, "interrupted", "dpo", done, steps);
            printf("%s after DPO step %d/%d; checkpoint saved in %s/\ncontinue with: ./train --resume %s\n",
                   run_interrupt_name(), done, steps, dir, dir);
            exit(0);
        }
    }
    d->rng = rng;
    if (csv && fclose(csv) != 0) fatal("%s: %s", path, strerror(errno));
    free(idx);
    free(lp);
    free(rc);
    free(rr);
    free(u.scratch);
    free(u.dlogp);
    free(u.losses);
    free(u.dlosses);
}

// Saves dir/dpo/ (model and tokenizer), then the final checkpoint (its step = the stage's steps:
// --resume then has nothing left to do), and prints the held-out results and the probes' I_pref.
static void dpo_finish(DPORun* d, const char* dir, char* dpo_dir, size_t dpo_dir_len) {
    path_join(dpo_dir, dpo_dir_len, dir, "dpo");
    dist_check_same_floats(d->policy->params_memory, d->policy->num_parameters, "the parameters");
    if (!dist_root()) return; // rank 0 saves and reports
    save_model_folder(d->policy, d->tok, dpo_dir);
    dpo_checkpoint(d, dir, d->c->steps, d->rng);
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

// A continuation of a held-out prompt, printed and added to the page under title.
static void dpo_example(Page* page, const char* title, const char* prompt, const char* continuation) {
    printf("           e.g. \"%s\" ->\"%s\"\n", prompt, continuation);
    size_t np = strlen(prompt), nc = strlen(continuation);
    char* text = malloc_check(np + nc + 1);
    memcpy(text, prompt, np);
    memcpy(text + np, continuation, nc + 1);
    char* s = page_format_sample(title, text, np + nc);
    page_add_sample(page, s);
    free(s);
    free(text);
}

// The pairs and the reference log-probabilities: read, split, computed and saved to
// dir/dpo_pairs.bin for a fresh stage; read back from there (checked against the checkpoint's
// checksum) on resume.
static void dpo_prepare_pairs(DPORun* d, const char* dir, const char* start_dir, const DPOStateHeader* resume) {
    char path[4200], err[4600];
    path_join(path, sizeof path, dir, "dpo_pairs.bin");
    if (!resume) {
        dpo_load_pairs(d->c, d->tok, d->T, &d->set);
        dpo_reference_logps(d, start_dir);
        if (dist_root() && pref_save(&d->set, d->policy->config.vocab_size, d->ref_c, d->ref_r, path, &d->pairs_sum, err,
                      sizeof err) != 0)
            fatal("%s", err);
        return;
    }
    if (pref_load(&d->set, d->policy->config.vocab_size, &d->ref_c, &d->ref_r, path, &d->pairs_sum, err,
                  sizeof err) != 0)
        fatal("%s (needed to resume the DPO stage)", err);
    if (d->pairs_sum != resume->pairs_sum || d->set.seq_len != d->T)
        fatal("%s: not the pairs of this DPO stage's checkpoint (another stage wrote it)", path);
    printf("dpo data   %s: %d pairs (%d train, %d held out), as the stage read them\n", path, d->set.n,
           d->set.n - d->set.n_val, d->set.n_val);
}

// The sentiment rate of sampled continuations of held-out prompts (built-in pairs only: the corpus
// lexicon defines it), printed; NAN without prompts.
static double dpo_sentiment(DPORun* d, char** prompts, int n_prompts, const char* when, const char* title) {
    if (n_prompts <= 0) return NAN;
    const DPOConfig* c = d->c;
    char* ex = NULL;
    double rate = dpo_positive_rate(d->policy, d->tok, prompts, n_prompts, DPO_SAMPLE_LEN, (size_t)d->T,
                                    c->temperature, c->top_k, c->seed * 31 + 17, &ex);
    if (when)
        printf("sentiment  %s DPO: %.1f%% of continuations of %d held-out prompts are positive\n", when, 100.0 * rate,
               n_prompts);
    dpo_example(d->page, title, prompts[0], ex);
    free(ex);
    return rate;
}

void dpo_stage(const DPOConfig* c, GPT* policy, const char* dir, const char* start_dir, Probes* run_probes,
               Page* page, const DPOStateHeader* resume) {
    DPORun d = {.c = c, .B = c->batch, .T = c->T, .m = c->batch / (dist_size() * c->micro), .policy = policy,
                .page = page, .start_dir = start_dir, .rate_before = NAN};
    if (c->micro < 1 || d.m * dist_size() * c->micro != d.B)
        fatal("DPO: a batch of %d pairs does not split over %d ranks x %d micro-batches", d.B, dist_size(), c->micro);
    d.type = strcmp(c->loss, "ipo") == 0 ? DPO_IPO : DPO_SIGMOID;
    char path[4200], err[4600];
    path_join(path, sizeof path, start_dir, "tokenizer.json");
    d.tok = tok_load_dir(start_dir, NULL, NULL, err, sizeof err);
    if (!d.tok) fatal("%s", err);
    d.eot = tok_eot(d.tok);
    if (d.eot < 0 || d.eot >= policy->config.vocab_size)
        fatal("%s: DPO needs <|endoftext|> inside the model's vocabulary (V=%d)", path, policy->config.vocab_size);
    printf("\n==== DPO: %d steps of %d pairs, %s loss, beta %g, label smoothing %g, lr %g, T %d\n", c->steps, d.B,
           c->loss, (double)c->beta, (double)c->label_smoothing, (double)c->lr, d.T);
    if (resume) printf("resuming   at DPO step %d/%d\n", resume->step, c->steps);
    run_catch_signals();

    d.inputs = malloc_check(2 * (size_t)d.B * (size_t)d.T * sizeof(int));
    d.targets = malloc_check(2 * (size_t)d.B * (size_t)d.T * sizeof(int));
    dpo_prepare_pairs(&d, dir, start_dir, resume);
    dist_check_same((uint64_t)d.set.n << 32 | (uint64_t)d.set.n_val, "the preference pairs");
    double stop = run_interrupted() ? 1.0 : 0.0; // (every rank must agree)
    dist_sum_doubles(&stop, 1);
    if (stop > 0.0) { // while the reference log-probabilities were computed: nothing to save yet
        page_update(page, "interrupted", "dpo", 0, c->steps);
        printf("%s before the first DPO step; continue with: ./train --resume %s (the stage starts again)\n",
               run_interrupt_name(), dir);
        dist_exit(0);
    }
    // the property before DPO (built-in pairs only: the corpus lexicon defines it); rank 0 samples
    int n_prompts = c->pairs || !dist_root() ? 0 : c->n_prompts;
    char** prompts = n_prompts > 0 ? corpus_prompts(c->seed + 303, n_prompts) : NULL;
    if (resume) d.rate_before = resume->rate_before;
    else d.rate_before = dpo_sentiment(&d, prompts, n_prompts, "before", "a held-out prompt's continuation before DPO");

    Probes own_probes;
    int probe_B = resume ? resume->probe_B : c->probe_B > 0 ? c->probe_B : d.m;
    d.probes = dpo_probes_init(run_probes, &own_probes, dir, start_dir, &policy->config, (size_t)(probe_B > 0 ? probe_B : d.m),
                               resume ? resume->step : 0);
    if (!resume) dpo_probes_step(&d, 0, 0, 0); // step 0: the reference itself
    page_update(page, "live", "dpo", resume ? resume->step : 0, c->steps);
    dpo_train(&d, dir, resume);
    char dpo_dir[4200];
    dpo_finish(&d, dir, dpo_dir, sizeof dpo_dir);

    if (n_prompts > 0) {
        double rate_after = dpo_sentiment(&d, prompts, n_prompts, NULL, "the same prompt's continuation after DPO");
        printf("sentiment  positive continuations: %.1f%% before DPO -> %.1f%% after (%d held-out prompts)\n",
               100.0 * d.rate_before, 100.0 * rate_after, n_prompts);
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

// ============================================================================
// DPO alone

// DPO alone in a run's own folder (dir, the folder above init = dir/pretrain): the run's
// pre-training must have finished, and a DPO stage already there is replaced only with overwrite.
static void dpo_claim_run_folder(const char* dir, int overwrite) {
    run_folder_claim(dir, "--out", 0, 0);
    char path[4200], err[4600];
    path_join(path, sizeof path, dir, "train_state.bin");
    if (access(path, F_OK) == 0) {
        TrainStateHeader h;
        float *p, *m, *v;
        if (state_file_read(path, STATE_MAGIC, STATE_VERSION, &h, sizeof h, &p, &m, &v, err, sizeof err) != 0)
            fatal("%s", err);
        free(p);
        free(m);
        free(v);
        if (h.step < h.steps)
            fatal("%s holds a run paused at step %d of %d: finish it first (./train --resume %s), or give DPO "
                  "alone another --out",
                  dir, h.step, h.steps, dir);
    }
    static const char* const dpo_files[] = {"dpo_state.bin", "dpo_pairs.bin", "dpo.csv", "dpo", "preference.svg",
                                            NULL};
    for (int i = 0; dpo_files[i]; i++) {
        path_join(path, sizeof path, dir, dpo_files[i]);
        if (access(path, F_OK) == 0 && !overwrite)
            error_usage("%s already holds a DPO stage (%s): add --overwrite to replace it, or give another --out", dir,
                        dpo_files[i]);
    }
    if (dist_root()) run_folder_remove(dir, dpo_files);
    dist_barrier();
}

// The run folder of DPO alone (see dpo_standalone), claimed, into dir (4096 bytes).
static void dpo_standalone_dir(char* dir, const char* init, const char* out, int overwrite) {
    char base_path[4000]; // leaves room for "runs/" and "-dpo" in dir
    snprintf(base_path, sizeof base_path, "%s", init);
    size_t n = strlen(base_path);
    while (n > 1 && base_path[n - 1] == '/') base_path[--n] = '\0';
    const char* base = strrchr(base_path, '/');
    base = base ? base + 1 : base_path;
    if (out) {
        snprintf(dir, 4096, "%s", out);
        run_folder_claim(dir, "--out", 1, overwrite);
    } else if (strcmp(base, "pretrain") == 0) { // DIR/pretrain -> DIR (without the slash; "/" stays "/")
        snprintf(dir, 4096, "%.*s", base - base_path > 1 ? (int)(base - base_path) - 1 : (int)(base - base_path),
                 base_path);
        if (!dir[0]) snprintf(dir, 4096, ".");
        dpo_claim_run_folder(dir, overwrite);
    } else {
        char def[4096];
        snprintf(def, sizeof def, "runs/%.*s-dpo", 200, base);
        run_folder_default(dir, 4096, def, 1);
        run_folder_claim(dir, "--out", 1, overwrite);
    }
}

// What DPO alone and a resumed stage print before the stage, and the memory check.
static void dpo_banner(const GPT* model, const char* what, const char* from, const char* dir, int T,
                       const DPOConfig* c) {
    const GPTConfig* g = &model->config;
    printf("forgetful: %s %s (L%d C%d H%d V%d n_positions %d), %zu parameters, threads %d\n", what, from,
           g->num_layers, g->channels, g->num_heads, g->vocab_size, g->max_seq_len, model->num_parameters, c->threads);
    printf("run folder %s/\n", dir);
    size_t mem = dpo_memory(g, 0, c->batch / (dist_size() * c->micro), T, c->pairs ? 0 : c->n_prompts);
    char mem_s[32];
    format_bytes(mem_s, sizeof mem_s, (double)mem);
    printf("memory     %s estimated (policy parameters, gradients, AdamW moments, activations; reference)\n", mem_s);
    int split = dist_size() * c->micro, local = dist_local_size();
    // the ranks on this machine share its memory
    MemPart part = dpo_memory_part(g, 0, c->batch, split, T, c->pairs ? 0 : c->n_prompts,
                                   memory_available() / (size_t)local);
    part.bytes *= (size_t)local;
    refuse_memory(mem * (size_t)local, &part, 1, NULL);
}

void dpo_stage_own_page(const DPOConfig* c, GPT* policy, const char* dir, const char* start_dir,
                        const DPOStateHeader* resume, double t_start) {
    Page page;
    page_init(&page, dir);
    dpo_stage(c, policy, dir, start_dir, NULL, &page, resume);
    page_update(&page, "finished", NULL, 0, 0);
    char url[4300];
    page_url(&page, url, sizeof url);
    printf("summary    wall time %.1f s, peak RSS %.1f MiB\n           page %s\n", time_seconds() - t_start,
           peak_rss() / (1024.0 * 1024.0), url);
    page_free(&page);
}

void dpo_standalone(const DPOConfig* c, const char* init, const char* out, int overwrite, double t_start) {
    GPT model;
    char err[4600], dir[4096], start[PATH_MAX];
    if (gpt_load(&model, init, err, sizeof err) != 0) fatal("%s", err);
    model.precision = c->precision;
    const GPTConfig* g = &model.config;
    DPOConfig cc = *c;
    cc.standalone = 1;
    if (cc.T <= 0) cc.T = g->max_seq_len;
    if (cc.T > g->max_seq_len) error_usage("-T %d exceeds n_positions %d of %s/config.json", cc.T, g->max_seq_len, init);
    // the reference and the tokenizer are read from here again on resume, whatever the folder then
    if (!realpath(init, start)) fatal("%s: %s", init, strerror(errno));
    dpo_standalone_dir(dir, init, out, overwrite);
    dpo_banner(&model, "DPO alone from", init, dir, cc.T, &cc);
    dpo_stage_own_page(&cc, &model, dir, start, NULL, t_start);
    gpt_free(&model);
}

void dpo_resume(const DPOStateHeader* h, GPT* policy, const char* dir, int threads, int micro, int save_every,
                double t_start) {
    DPOConfig c = dpo_config_from_settings(&h->s, threads);
    c.micro = micro;
    c.precision = (GemmPrecision)h->precision;
    c.standalone = h->standalone;
    if (save_every >= 0) c.save_every = save_every;
    char start[4200];
    if (h->standalone) snprintf(start, sizeof start, "%s", h->start);
    else path_join(start, sizeof start, dir, "pretrain");
    dpo_banner(policy, h->standalone ? "continuing DPO alone from" : "continuing the DPO stage after", start, dir, c.T,
               &c);
    if (threads != h->threads)
        printf("note: %d threads now, %d before: the results may differ from an uninterrupted run in the last bits\n",
               threads, h->threads);
    dpo_stage_own_page(&c, policy, dir, start, h, t_start);
}
