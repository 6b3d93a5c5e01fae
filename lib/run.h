// run.h: the run folder's plumbing, shared by ./train's stages: DIR/train_state.bin (everything
// --resume needs), the CSV logs (train.csv, dpo.csv, probes.csv), the progress line on stdout,
// number formatting and the memory check (the probes of a run: lib/probe_run.h). README.md's "The
// run folder" describes the files.
#ifndef RUN_H
#define RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../model.h"
#include "probe_run.h"
#include "../tokenizer.h"

// ----------------------------------------------------------------------------
// Formatting and the memory check

void format_bytes(char* buf, size_t len, double bytes);  // "281.3 MiB", "1.20 GiB"
void format_duration(char* buf, size_t len, double s);   // "1:12", "1:02:03", "--:--" if unknown

// Refuses (runtime error) a run whose estimate mem (bytes) exceeds the memory available, before
// anything large is allocated.
void refuse_if_too_big(size_t mem);

// One part of a run's memory estimate, for a refusal that names what does not fit.
typedef struct {
    char what[160];   // "pre-training (B16 x T1024: ...)"
    size_t bytes;     // what this part alone needs at its peak
    char fix[160];    // the flag that makes it fit ("--dpo-batch 2 or --dpo-steps 0"), "" if none
} MemPart;

// Refuses (runtime error) when total (bytes: the run's peak) exceeds the memory available: the
// message gives the total, the memory available, and each part that does not fit alone with the
// flag that fixes it (or, when each fits alone, that they do not fit together). avail_out, if not
// NULL, receives the memory available (0 if unknown).
void refuse_memory(size_t total, const MemPart* parts, int n, size_t* avail_out);

// A progress note for a phase that may take a while (the reference log-probabilities of DPO, an
// evaluation): silent for its first 2 s, then on a terminal a line redrawn with done/total and
// the time left, on a pipe a line every 10 s, and one closing line if anything was printed.
typedef struct {
    const char* what; // "reference log-probabilities"
    const char* unit; // "pairs"
    size_t total;
    double t0, last;  // start, and the last line printed
    int tty, shown;
    FILE* out;        // stdout
} Ticker;

void ticker_init(Ticker* tk, const char* what, const char* unit, size_t total);
void ticker_tick(Ticker* tk, size_t done);
void ticker_end(Ticker* tk);

// Saves a Hugging Face model folder in dir: config.json (with the tokenizer's <|endoftext|> as
// bos/eos), generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json and
// special_tokens_map.json. Runtime error on failure.
void save_model_folder(const GPT* model, const Tokenizer* tok, const char* dir);

// ----------------------------------------------------------------------------
// Training state: everything --resume needs to continue exactly, in one atomic file
//
// DIR/train_state.bin, native endianness:
//   TrainStateHeader (magic "FGST", version, run settings, step, RNG states, data position)
//   params, AdamW m, AdamW v: num_parameters float32 each
//   uint64 FNV-1a checksum of everything above
// The parameters live here too (not only in DIR/pretrain/), so one rename commits the whole state:
// a crash between two files can never pair weights of one step with moments of another.

#define STATE_MAGIC 0x54534746u // "FGST"
#define STATE_VERSION 1

typedef struct {
    uint32_t magic, version;
    int32_t L, C, NH, maxT, V; // model shape
    int32_t T, B, steps, warmup, sequential, threads;
    int32_t step; // completed steps: the next step to run
    int32_t eval_every, eval_batches, sample_every, save_every;
    int32_t probe_every, probe_seqs, probe_bins;
    double lr, min_lr_frac, wd, clip, val_frac;
    uint64_t seed, data_hash, num_parameters;
    uint64_t loader_rng, loader_pos, sample_rng;
    char model[32];   // --model preset name (for messages)
    char input[4096]; // --input of the run ("" = built-in corpus)
} TrainStateHeader;
_Static_assert(sizeof(TrainStateHeader) % 8 == 0, "header is a whole number of 8-byte words");

// Writes h and the model's parameters and AdamW moments to DIR/train_state.bin through a temporary
// file and a rename (never a non-finite value); returns 0 or -1 with err filled.
int state_save(const char* dir, const TrainStateHeader* h, const GPT* model, char* err, size_t errlen);
// Reads DIR/train_state.bin's header, checking magic, version, size and checksum of the whole
// file; params/m/v (num_parameters floats each) are returned malloc'd. Runtime error on any fault.
void state_load(const char* dir, TrainStateHeader* h, float** params, float** m, float** v);

// ----------------------------------------------------------------------------
// CSV logs

#define TRAIN_CSV_HEADER "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s"

// Rewrites the CSV log at path with its header and, when resuming from step `keep_below`, only the
// complete pre-training rows of earlier steps (a crash may have logged steps past the checkpoint;
// those steps run again). A missing file is an error only when required.
void restart_csv(const char* path, const char* header, int keep_below, int required);
// restart_csv (the file required on --resume), then the log opened for appending.
FILE* open_csv_log(const char* path, const char* header, int keep_below);
// Appends one row: step, stage (left out when NULL), then the n values as %.6g, NAN ones as empty
// fields (not measured at this step). Flushed, so a crash loses at most this row; path is for
// the error message.
void log_row(FILE* f, const char* path, int step, const char* stage, const double* v, int n);

// ----------------------------------------------------------------------------
// Progress on stdout: a live bar redrawn with \r on a terminal; plain lines every `every` steps
// (and at evaluations) otherwise, so that logs piped to a file stay readable.

typedef struct {
    int tty;
    int steps, every;
    double t0;        // wall time at the first step of this process
    int first_step;   // step at t0 (non-zero after --resume)
    double t1;        // wall time when this process's first step ended (0 before): the ETA starts here
    double tokens_per_step;
} Progress;

// Seconds left after `step` (0-based, just finished at time now): the mean time of the steps since
// the first one of this process, which pays for warm-up (page faults, first allocations, thread
// start), times the steps to go. NAN while only that first step has run.
double progress_eta(const Progress* pr, int step, double now);

void progress_init(Progress* pr, int first_step, int steps, double tokens_per_step);
// Reports step (0-based, just finished). val is NAN when not evaluated at this step.
void progress_step(Progress* pr, int step, float loss, double val, float lr, float norm, double ms);
// Ends a live bar line before other output.
void progress_break(const Progress* pr);

// Prints tokens/s, GFLOP/s and MFU of steps_timed pre-training steps of B x T tokens that took
// step_seconds (comm_seconds of them summing gradients over the ranks); MFU against
// peak_gflops, or when it is <= 0 against our SGEMM measured now. FLOPs per step are
// (6 N' + 12 L C T) B T (the PaLM paper's appendix B count, as nanoGPT's estimate_mfu): 6 per
// parameter per token for forward + backward, N' without the position embedding (a lookup, no
// multiply), plus attention's scores and weighted sum, 12 L C T per token.
void print_throughput(const GPT* model, size_t B, size_t T, double step_seconds, double comm_seconds, int steps_timed,
                      float peak_gflops);

#endif // RUN_H
