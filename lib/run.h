// run.h: the run folder's plumbing, shared by ./train's stages: DIR/train_state.bin (everything
// --resume needs), the CSV logs (train.csv, dpo.csv, probes.csv), the progress line on stdout,
// number formatting and the memory check (the probes of a run: lib/probe_run.h). README.md's "The
// run folder" describes the files.
#ifndef RUN_H
#define RUN_H

#include <signal.h>
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
// The run folder: one writer at a time, never another run's files

// The longest run folder path accepted (the files inside add up to ~60 bytes, and every message
// naming one must still have room for its reason).
#define RUN_DIR_MAX 1024

// Claims dir for this process before anything is written: checks the path's length (flag names
// the flag for the message, "--out"), creates dir, takes its lock for the life of the process
// (dir_lock: a second writer is refused), removes the temporaries a killed run left. fresh = 1 (a
// new run): dir must then hold nothing but its lock, unless overwrite, which first removes every
// file a run writes (run_folder_files) and keeps anything else; otherwise a usage error names the
// files found and the flags that help. fresh = 0 (--resume, or DPO alone in a run's folder):
// dir must exist. Errors end the program (exit 2 for the flags, 1 for the lock or I/O).
void run_folder_claim(const char* dir, const char* flag, int fresh, int overwrite);
// The default run folder: base ("runs/<data>-<model>") when it is absent or empty, else the first
// of base-2, base-3, ... that is (created here, so two runs starting at once never pick the same
// one). create = 0 (a dry run) only says which name would be taken. Writes it into dir (n bytes).
void run_folder_default(char* dir, size_t n, const char* base, int create);
// Removes dir/name for each name of a NULL-terminated list (a folder: the files a run writes in
// it, then the folder when it is empty). Runtime error when one cannot be removed.
void run_folder_remove(const char* dir, const char* const* names);
// Every file and folder a run writes at the top of its folder (NULL-terminated).
extern const char* const RUN_FOLDER_FILES[];

// ----------------------------------------------------------------------------
// Ctrl-C, SIGTERM and SIGUSR1: each asks the run to stop after the current step with a checkpoint

// Installs the handlers: the first SIGINT, SIGTERM or SIGUSR1 sets the flag, a second ends the
// program.
void run_catch_signals(void);
// The signal that asked this process to stop (SIGINT, SIGTERM, SIGUSR1), or 0.
int run_interrupted(void);
// The flag itself, for the training step, which ORs it over the ranks (they stop at the same step).
const volatile sig_atomic_t* run_interrupt_flag(void);
// "interrupted" (SIGINT) or "terminated (SIGTERM)", for the message.
const char* run_interrupt_name(void);

// ----------------------------------------------------------------------------
// Training state: everything --resume needs to continue exactly, in one atomic file
//
// A state file, native endianness:
//   a header (magic, version, num_parameters first: StatePrefix), then
//   params, AdamW m, AdamW v: num_parameters float32 each
//   uint64 FNV-1a checksum of everything above
// The parameters live here too (not only in DIR/pretrain/), so one rename commits the whole state:
// a crash between two files can never pair weights of one step with moments of another.
// DIR/train_state.bin holds pre-training's (TrainStateHeader), DIR/dpo_state.bin the DPO stage's
// (DPOStateHeader, lib/dpo.h).

typedef struct {
    uint32_t magic, version;
    uint64_t num_parameters;
} StatePrefix;

// The checksum is FNV-1a 64 (data_hash) from this offset basis, one digit short of FNV's own
// (14695981039346656037); it is part of the file format, so it stays.
#define STATE_HASH_INIT 1469598103934665603ull

#define STATE_MAGIC 0x54534746u // "FGST"
#define STATE_VERSION 3         // 2: no precision; 1: no DPO settings, no sched_steps, num_parameters further in

// The DPO stage's settings, fixed when the run starts: kept in train_state.bin so that a resumed
// run has the same DPO stage as an uninterrupted one, and in dpo_state.bin.
typedef struct {
    int32_t wanted;    // train_state.bin: 1 if the run has a DPO stage after pre-training
    int32_t steps, batch, T, loss, skip_bad, n_pairs, eval_every, n_prompts, top_k, save_every;
    float lr, min_lr_frac, clip, beta, label_smoothing, val_frac, temperature;
    uint64_t seed;
    char pairs[4096]; // --dpo FILE ("-" = stdin, "" = the built-in pairs)
} DPOSettings;
// no hidden padding: every byte of a saved header is a field's (and so written, and checksummed,
// as the program set it)
_Static_assert(offsetof(DPOSettings, seed) == 18 * 4 && sizeof(DPOSettings) == 18 * 4 + 8 + 4096, "padding");

typedef struct {
    uint32_t magic, version;
    uint64_t num_parameters;
    int32_t L, C, NH, maxT, V; // model shape
    int32_t T, B, steps, warmup, sequential, threads;
    int32_t sched_steps; // the cosine schedule's length: steps, unless --resume --steps extended the run
    int32_t step;        // completed steps: the next step to run
    int32_t eval_every, eval_batches, sample_every, save_every;
    int32_t probe_every, probe_seqs, probe_bins; // probe_every as resolved (0 = off)
    int32_t precision;                           // GemmPrecision of the matrix products (--precision)
    int32_t zero;                                // 0 (keeps the doubles 8-aligned without padding)
    double lr, min_lr_frac, wd, clip, val_frac;
    uint64_t seed, data_hash;
    uint64_t loader_rng, loader_pos, sample_rng;
    char model[32];   // --model preset name (for messages)
    char input[4096]; // --input of the run ("" = built-in corpus)
    DPOSettings dpo;
} TrainStateHeader;
_Static_assert(offsetof(TrainStateHeader, lr) == 16 + 22 * 4 && offsetof(TrainStateHeader, dpo) == 144 + 40 + 4128,
               "no hidden padding in the header");

// Parameters of a GPT of this shape (the sum gpt_build allocates).
uint64_t state_param_count(int L, int C, int V, int maxT);

// Writes header h (hsize bytes, a StatePrefix first) and the model's parameters and AdamW moments
// to path through a temporary file and a rename (never a non-finite value); 0 or -1 with err filled.
int state_file_write(const char* path, const void* h, size_t hsize, const GPT* model, char* err, size_t errlen);
// Reads a state file: a regular file whose magic and version are these, whose size matches the
// header's num_parameters exactly (checked before anything large is allocated), whose checksum is
// right and whose arrays are finite. h receives hsize bytes; params/m/v (num_parameters floats
// each) are malloc'd. 0, or -1 with err filled and nothing to free.
int state_file_read(const char* path, uint32_t magic, uint32_t version, void* h, size_t hsize, float** params,
                    float** m, float** v, char* err, size_t errlen);

// Checks every field of a pre-training state against the ranges of the flags that set it, and
// their relations (T <= n_positions, warm-up < steps, step <= steps, the parameter count of the
// shape, terminated strings, ...). 0, or -1 with err naming the first bad field.
int state_check(const TrainStateHeader* h, char* err, size_t errlen);
// The same for DPO settings (wanted = 0 settings are not checked); maxT bounds T.
int dpo_settings_check(const DPOSettings* s, int maxT, char* err, size_t errlen);

// DIR/train_state.bin: state_file_write of h; state_load reads and checks it (state_file_read,
// state_check), a runtime error on any fault.
int state_save(const char* dir, const TrainStateHeader* h, const GPT* model, char* err, size_t errlen);
void state_load(const char* dir, TrainStateHeader* h, float** params, float** m, float** v);

// ----------------------------------------------------------------------------
// CSV logs

#define TRAIN_CSV_HEADER "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s"

// Which rows of a log belong to the run being resumed: those of stage "pretrain" (and every row of
// a log without a stage column) whose step is below below[0], those of stage "dpo" below below[1].
typedef struct {
    int below[2];
} CsvKeep;

// What csv_filter_rows found besides the rows it kept.
typedef struct {
    int kept;      // rows kept
    int later;     // rows past the checkpoint (their steps run again)
    int disorder;  // rows whose step goes backwards (not from this run: a second writer)
    int truncated; // 1 if the last line had no newline (cut short by a crash), dropped
} CsvFilterStats;

// The rows of text (len bytes), a log whose first line must be header, that keep says belong,
// in their order, after the header: a malloc'd NUL-terminated text (*out_len bytes). A complete
// line that is not a row of this log (wrong number of fields, a step that is not a number, an
// unknown stage) is an error: NULL with err filled ("line N: ...").
char* csv_filter_rows(const char* text, size_t len, const char* header, CsvKeep keep, size_t* out_len,
                      CsvFilterStats* st, char* err, size_t errlen);

// Rewrites the CSV log at path with its header and, when keep has rows to keep, the rows of the
// old file that belong (csv_filter_rows; a truncated last row or rows of another writer are
// dropped with a note on stdout). A missing file is an error only when required.
void restart_csv_keep(const char* path, const char* header, CsvKeep keep, int required);
// restart_csv_keep keeping the pre-training rows of steps below keep_below.
void restart_csv(const char* path, const char* header, int keep_below, int required);
// restart_csv_keep (the file required when rows are kept), then the log opened for appending.
FILE* open_csv_log(const char* path, const char* header, CsvKeep keep);
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
