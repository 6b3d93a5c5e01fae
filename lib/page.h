// page.h: DIR/index.html, the live page of a run (README "The live page"), and the compare page of
// several runs (./train --compare). One self-contained HTML file: the page's HTML, CSS and script
// (lib/page.html, page.css, page.js, embedded at build time by lib/embed_page.c) around the run
// folder's logs, embedded as text blocks that the script parses and draws. Nothing is fetched, so
// it opens from the file system. The trainer rewrites it atomically at every evaluation and probe
// step and at the end; while the run is live the page reloads itself.
//
// The data blocks, one <script type="text/plain|application/json" id="ID"> element each:
//   page-status     {"state", "updated_unix", "refresh_s", "interval_s", "stage", "step", "steps"}
//   runK-name       the run's name (K = 0 on a run's page; 0..n-1 on the compare page)
//   runK-settings   DIR/run.json, when it exists and is a JSON object
//   runK-train      DIR/train.csv (long logs thinned to PAGE_TRAIN_ROWS rows, every val row kept)
//   runK-probes, runK-dpo, runK-baselines, runK-ib   DIR/probes.csv, dpo.csv, baselines.csv,
//                   ib_bound.csv (--ib-bound) verbatim
//   runK-samples    the latest samples, "---- TITLE\n", the text, "\n----\n" each
// A block whose file does not exist (yet) is left out. Every block's content is escaped the same
// way, & as &amp; and < as &lt; (the script undoes exactly that), so no "</script" and no "<!--"
// can occur in it whatever the files or the model's samples hold.
#ifndef PAGE_H
#define PAGE_H

#include <stddef.h>

#define PAGE_SAMPLES 5       // samples a page keeps (the latest; the page shows the last one first)
#define PAGE_TRAIN_ROWS 4000 // train.csv rows embedded at most

typedef struct {
    char dir[4096];              // the run folder
    char path[4200];             // DIR/index.html
    char* samples[PAGE_SAMPLES]; // latest samples in the block's format, oldest first
    int n_samples;
    double last_write; // time_seconds() of the last write (0 = none yet)
    double interval;   // seconds between the last two writes (0 = unknown)
    int warned;        // a failed write was reported (only the first is)
    int foreign;       // DIR/index.html exists and is not one of these pages: it is never overwritten
} Page;

// Prepares the page of the run in dir. The samples of an existing DIR/index.html are kept (a
// resumed run's page goes on showing them); an index.html that another program wrote (one without
// this page's generator tag) is left alone, with a warning, and the run gets no page.
void page_init(Page* pg, const char* dir);
// A sample in the block's format ("---- title\n" text "\n----\n"), malloc'd: control bytes other
// than newline and tab, and bytes that are not valid UTF-8 (a model may emit half a character),
// become \xNN, so the text is valid UTF-8 without NUL bytes. This is also what ./train prints.
char* page_format_sample(const char* title, const char* text, size_t len);
// Adds a sample (as page_format_sample gives it) to the page, dropping an older one of the same
// title (a resumed run samples its step again) and the oldest beyond PAGE_SAMPLES.
void page_add_sample(Page* pg, const char* sample);
// Rewrites DIR/index.html from the run folder's files with state "live" (the page reloads itself),
// "finished", "interrupted" or "paused" (it stops reloading); stage ("pretrain", "dpo"; NULL for
// none), step and steps (steps 0: unknown) give the page's progress line. A failed write is
// reported on stderr once and otherwise ignored: the page must never stop a run. Returns 0 or -1.
int page_update(Page* pg, const char* state, const char* stage, int step, int steps);
void page_free(Page* pg);
// The page's address for a browser, "file:///absolute/path/index.html", into url (n bytes).
void page_url(const Page* pg, char* url, size_t n);

// Whether dir is a run folder: it holds train.csv or probes.csv.
int page_is_run_folder(const char* dir);
// Writes out_dir/index.html, the page overlaying the n run folders runs[] (their logs and the
// samples of their own index.html). A missing or non-run folder, an out_dir that is a run folder
// itself (its index.html is that run's own page) or holds another program's index.html, is
// refused: -1 with err filled, nothing written.
int page_compare(const char* const* runs, int n, const char* out_dir, char* err, size_t errlen);

#endif // PAGE_H
