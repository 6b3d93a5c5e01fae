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

// ----------------------------------------------------------------------------
// Formatting and the memory check

void format_bytes(char* buf, size_t len, double bytes);  // "281.3 MiB", "1.20 GiB"
void format_duration(char* buf, size_t len, double s);   // "1:12", "1:02:03", "--:--" if unknown

// Refuses (runtime error) a run whose estimate mem (bytes) exceeds the memory available, before
// anything large is allocated.
void refuse_if_too_big(size_t mem);

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
#define STATE_VERSION 2

typedef struct {
    uint32_t magic, version;
    int32_t L, C, NH, maxT, V; // model shape
    int32_t T, B, steps, warmup, sequential, threads;
    int32_t step; // completed steps: the next step to run
    int32_t eval_every, eval_batches, sample_every, save_every;
    int32_t probe_every, probe_seqs, probe_bins;
    int32_t precision; // GemmPrecision of the products (version 2; version 1 had zero padding here: fp32)
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
    double tokens_per_step;
} Progress;

void progress_init(Progress* pr, int first_step, int steps, double tokens_per_step);
// Reports step (0-based, just finished). val is NAN when not evaluated at this step.
void progress_step(Progress* pr, int step, float loss, double val, float lr, float norm, double ms);
// Ends a live bar line before other output.
void progress_break(const Progress* pr);

#endif // RUN_H
