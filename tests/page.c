// tests/page.c: the run's page, DIR/index.html (lib/page.c), and the compare page. The file as
// written: the page's sources inlined as lib/page.html says, every block the run folder's file
// byte for byte (escaped so that no markup in a file or sample can end a block), the status, a
// long train.csv thinned, samples escaped, kept and recovered on resume, a failed write that
// leaves the old page whole; ./train's pages (finished, paused, resumed) and --compare's refusals;
// then the page in a real browser (tests/page.js: headless chromium through playwright-core).
#include "test.h"

#include <signal.h>
#include <sys/resource.h>

// The content of block id in the page html as it stands in the file (still escaped), malloc'd;
// NULL if the page has no such block.
static char* block_text(const char* html, const char* id) {
    char key[128];
    snprintf(key, sizeof key, " id=\"%s\">", id);
    const char* s = strstr(html, key);
    const char* e = s ? strstr(s, "</script>\n") : NULL;
    return e ? strndup(s + strlen(key), (size_t)(e - s) - strlen(key)) : NULL;
}

// Whether block id of html holds exactly want, written with the page's one escaping rule (& as
// &amp;, < as &lt;; tested here byte for byte rather than undone).
static int block_is(const char* html, const char* id, const char* want) {
    char* b = block_text(html, id);
    const char* p = b;
    for (const char* w = want; p && *w; w++) {
        const char* as = *w == '&' ? "&amp;" : *w == '<' ? "&lt;" : NULL;
        if (as ? strncmp(p, as, strlen(as)) != 0 : *p != *w) p = NULL;
        else p += as ? strlen(as) : 1;
    }
    int ok = want && p && *p == '\0';
    free(b);
    return ok;
}

// The page's sources composed as lib/page.html says (the CSS and the script at their slots), split
// at the data line: what every page must start (head) and end (tail) with. Read from the source
// files, so a stale lib/page_html.h fails here.
static int page_template(char** head, char** tail) {
    size_t n;
    char *html = slurp("lib/page.html", &n), *css = slurp("lib/page.css", &n), *js = slurp("lib/page.js", &n);
    int ok = html && css && js;
    char *c = ok ? strstr(html, "/*PAGE_CSS*/") : NULL, *d = c ? strstr(c, "<!--DATA-->\n") : NULL;
    char* j = d ? strstr(d, "/*PAGE_JS*/") : NULL;
    if (j) {
        size_t nh = strlen(html), ncss = strlen(css), njs = strlen(js);
        *head = malloc_check(nh + ncss + 1);
        *tail = malloc_check(nh + njs + 1);
        sprintf(*head, "%.*s%s%.*s", (int)(c - html), html, css, (int)(d - c - 12), c + 12);
        sprintf(*tail, "%.*s%s%s", (int)(j - d - 12), d + 12, js, j + 11);
    }
    free(html);
    free(css);
    free(js);
    return j ? 0 : -1;
}

// Writes text into dir/name.
static void put_file(const char* dir, const char* name, const char* text) {
    char path[4400];
    path_join(path, sizeof path, dir, name);
    if (write_bytes(path, text, strlen(text)) != 0) check(0, "page: writing %s", path);
}

// dir/name's text (malloc'd) or NULL.
static char* get_file(const char* dir, const char* name) {
    char path[4400];
    size_t n;
    path_join(path, sizeof path, dir, name);
    return slurp(path, &n);
}

// Whether every '<' between the page's head and tail opens a block or closes one: then no file
// or sample put markup of its own into the page.
static int only_block_markup(const char* html, size_t head, size_t tail) {
    size_t n = strlen(html);
    for (size_t i = head; i + tail < n; i++)
        if (html[i] == '<' && strncmp(html + i, "<script type=\"", 14) != 0 &&
            strncmp(html + i, "</script>\n", 10) != 0)
            return 0;
    return 1;
}

static const char* TRAIN_TEXT = "step,stage,loss,val_loss,lr,grad_norm,ms_per_step,tokens_per_s\n"
                                "0,pretrain,6.9,6.95,0.001,1.5,7,8000\n1,pretrain,6.8,,0.002,1.4,3,20000\n";
// a probes.csv whose cells carry markup: the page's blocks must hold it as text
static const char* PROBES_TEXT = "step,stage,layer,H,I_in1,I_out1\n0,pretrain,0,0.9,0.4,0.3\n"
                                 "0,pretrain,</script><script>alert(1)</script>,<!--,&amp;,</SCRIPT >\n";
static const char* BASE_TEXT = "model,val_loss_nats_per_token\nunigram,5.59\n";
static const char* SETTINGS_TEXT =
    "{\"model\": \"tiny\", \"note\": \"</script> & <!-- <b>\", \"steps\": 1000}";

// The page as page_update writes it: template, blocks, status, escaping, no temporary left.
static void test_page_file(const char* dir) {
    put_file(dir, "train.csv", TRAIN_TEXT);
    put_file(dir, "probes.csv", PROBES_TEXT);
    put_file(dir, "baselines.csv", BASE_TEXT);
    put_file(dir, "run.json", SETTINGS_TEXT);
    Page pg;
    page_init(&pg, dir);
    const char raw[] = "a</script>b<!--c&lt;d\x01\xff\xe2\x82 \xc3\xa9\xe2\x9c\x93\tx\ny";
    char* sample = page_format_sample("sample at step 1", raw, sizeof raw - 1);
    const char* want_sample =
        "---- sample at step 1\na</script>b<!--c&lt;d\\x01\\xff\\xe2\\x82 \xc3\xa9\xe2\x9c\x93\tx\ny\n----\n";
    check(strcmp(sample, want_sample) == 0,
          "page: a sample keeps valid UTF-8, tab and newline; control and invalid bytes become \\xNN");
    page_add_sample(&pg, sample);
    int rc = page_update(&pg, "live", "pretrain", 450, 1000);
    char* html = get_file(dir, "index.html");
    char *head = NULL, *tail = NULL;
    int tpl = page_template(&head, &tail);
    size_t n = html ? strlen(html) : 0;
    int framed = rc == 0 && html && tpl == 0 && n > strlen(head) + strlen(tail) &&
                 strncmp(html, head, strlen(head)) == 0 && strcmp(html + n - strlen(tail), tail) == 0;
    check(framed,
          "page: index.html is lib/page.html with page.css and page.js inlined (%zu + %zu bytes) around the "
          "data",
          head ? strlen(head) : 0, tail ? strlen(tail) : 0);
    if (!framed) goto done;
    check(block_is(html, "run0-train", TRAIN_TEXT) && block_is(html, "run0-probes", PROBES_TEXT) &&
              block_is(html, "run0-baselines", BASE_TEXT) && block_is(html, "run0-settings", SETTINGS_TEXT) &&
              block_is(html, "run0-samples", want_sample),
          "page: train.csv, probes.csv, baselines.csv, run.json and the sample come back byte for byte");
    char* nope = block_text(html, "run0-dpo");
    check(!nope, "page: no dpo block before dpo.csv exists");
    free(nope);
    check(only_block_markup(html, strlen(head), strlen(tail)),
          "page: every '<' between head and tail belongs to a block's own tags (the files' </script>, <!-- "
          "are escaped)");
    char* st = block_text(html, "page-status");
    JsonValue v;
    char err[256];
    long long step = 0, steps = 0, refresh = 0, t = 0;
    const JsonValue* state = NULL;
    int parsed = st && json_parse(&v, st, strlen(st), err, sizeof err) == 0;
    if (parsed) {
        state = json_get(&v, "state");
        json_get_int(&v, "step", &step);
        json_get_int(&v, "steps", &steps);
        json_get_int(&v, "refresh_s", &refresh);
        json_get_int(&v, "updated_unix", &t);
    }
    check(parsed && state && state->type == JSON_STRING && strcmp(state->str, "live") == 0 && step == 450 &&
              steps == 1000 && refresh == 5 && llabs(t - (long long)time(NULL)) < 60,
          "page: status %s", st ? st : "(none)");
    if (parsed) json_free(&v);
    free(st);
    char cmd[4600], out[256];
    snprintf(cmd, sizeof cmd, "ls -A %s | grep -c tmp", dir);
    run_capture(cmd, out, sizeof out);
    check(atoi(out) == 0, "page: no temporary file left beside index.html");
done:
    free(sample);
    free(html);
    free(head);
    free(tail);
    page_free(&pg);
}

// run.json that is not a JSON object is left out, and so are files that do not exist.
static void test_page_parts(const char* dir) {
    static const char* bad[] = {"{\"model\": \"tiny\"", "[1, 2]", "not json"};
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        put_file(dir, "run.json", bad[i]);
        Page pg;
        page_init(&pg, dir);
        page_update(&pg, "finished", NULL, 0, 0);
        char* html = get_file(dir, "index.html");
        char* s = html ? block_text(html, "run0-settings") : NULL;
        ok &= html && !s && block_is(html, "run0-train", TRAIN_TEXT);
        free(s);
        free(html);
        page_free(&pg);
    }
    check(ok, "page: a run.json that is truncated, an array or not JSON is left out, the rest stays");
}

// A long train.csv is thinned to about PAGE_TRAIN_ROWS rows, keeping every val row and the last.
static void test_page_thin(const char* dir) {
    const int rows = 10000;
    char* t = malloc_check((size_t)rows * 64 + 128);
    size_t n = (size_t)sprintf(t, "step,stage,loss,val_loss,lr\n");
    for (int i = 0; i < rows; i++)
        n += (size_t)(i % 100 == 0 ? sprintf(t + n, "%d,pretrain,3.%d,2.%d,0.001\n", i, i, i)
                                   : sprintf(t + n, "%d,pretrain,3.%d,,0.001\n", i, i));
    put_file(dir, "train.csv", t);
    Page pg;
    page_init(&pg, dir);
    page_update(&pg, "live", "pretrain", rows, rows);
    char* html = get_file(dir, "index.html");
    char* b = html ? block_text(html, "run0-train") : NULL;
    int kept = 0, vals = 0, ordered = b && strncmp(b, "step,stage,loss,val_loss,lr\n", 28) == 0, last = -1;
    const char* from = t; // every kept row is an original row, in order
    for (char* line = b ? strchr(b, '\n') + 1 : NULL; line && *line; kept++) {
        char* nl = strchr(line, '\n');
        *nl = '\0';
        const char* at = strstr(from, line);
        ordered &= at != NULL && at[-1] == '\n' && at[strlen(line)] == '\n';
        if (at) from = at + strlen(line);
        int step = atoi(line);
        vals += step % 100 == 0 && strstr(line, ",2.") != NULL;
        last = step;
        line = nl + 1;
    }
    check(ordered && kept <= PAGE_TRAIN_ROWS + rows / 100 + 1 && kept >= PAGE_TRAIN_ROWS / 2 &&
              vals == rows / 100 && last == rows - 1,
          "page: train.csv of %d rows embedded as %d (every val row: %d of %d, the last: step %d), in order",
          rows, kept, vals, rows / 100, last);
    free(b);
    free(html);
    free(t);
    page_free(&pg);
    put_file(dir, "train.csv", TRAIN_TEXT);
}

// The latest PAGE_SAMPLES samples are kept, a title sampled again replaces its old sample, and a
// resumed run's page recovers them from index.html (a "----" line inside a sample included).
static void test_page_samples(const char* dir) {
    Page pg;
    page_init(&pg, dir);
    char title[64], text[64];
    for (int i = 1; i <= PAGE_SAMPLES + 2; i++) {
        snprintf(title, sizeof title, "sample at step %d", i);
        snprintf(text, sizeof text, "text %d\n----\nmore", i); // the model wrote a "----" line
        char* s = page_format_sample(title, text, strlen(text));
        page_add_sample(&pg, s);
        free(s);
    }
    char* again = page_format_sample("sample at step 4", "again", 5);
    page_add_sample(&pg, again);
    free(again);
    char order[256] = "";
    for (int i = 0; i < pg.n_samples; i++) // "---- sample at step N\n..."
        snprintf(order + strlen(order), sizeof order - strlen(order), " %d", atoi(pg.samples[i] + 20));
    check(pg.n_samples == PAGE_SAMPLES && strncmp(pg.samples[0], "---- sample at step 3\n", 22) == 0 &&
              strcmp(pg.samples[PAGE_SAMPLES - 1], "---- sample at step 4\nagain\n----\n") == 0,
          "page: keeps the latest %d samples, a title sampled again moves to the end (steps%s)", PAGE_SAMPLES,
          order);
    page_update(&pg, "paused", "pretrain", 7, 10);
    Page back;
    page_init(&back, dir);
    int same = back.n_samples == pg.n_samples;
    for (int i = 0; same && i < pg.n_samples; i++)
        same = strcmp(back.samples[i], pg.samples[i]) == 0;
    check(same, "page: a resumed run's page recovers its %d samples from index.html", back.n_samples);
    page_free(&back);
    page_free(&pg);
}

// A write that fails (here: the file size limit stops it halfway, as a full disk would) leaves the
// old page whole.
static void test_page_atomic(const char* dir) {
    Page pg;
    page_init(&pg, dir);
    page_update(&pg, "live", "pretrain", 1, 10);
    char* before = get_file(dir, "index.html");
    struct rlimit old, small;
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 4096; // far below a page (its script alone is larger)
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); // a write past the limit then fails with EFBIG
    setrlimit(RLIMIT_FSIZE, &small);
    pg.warned = 1; // (its one warning line is not wanted in the test's output)
    int rc = page_update(&pg, "live", "pretrain", 2, 10);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    char* after = get_file(dir, "index.html");
    check(rc == -1 && before && after && strcmp(before, after) == 0,
          "page: a failed write returns -1 and leaves the old index.html whole");
    check(page_update(&pg, "finished", NULL, 0, 0) == 0, "page: the next write succeeds again");
    free(before);
    free(after);
    page_free(&pg);
}

// An index.html that ./train did not write (someone's --out is a folder with a web page in it) is
// never overwritten, neither by the run's page nor by the compare page.
static void test_page_foreign(const char* root) {
    char dir[4400], err[8192];
    path_join(dir, sizeof dir, root, "site");
    mkdir(dir, 0755);
    const char* theirs = "<!DOCTYPE html><title>my site</title><p>hello</p>\n";
    put_file(dir, "index.html", theirs);
    Page pg;
    page_init(&pg, dir); // (prints its one warning line)
    int rc = page_update(&pg, "finished", NULL, 0, 0);
    page_free(&pg);
    const char* runs[1] = {root};
    put_file(root, "train.csv", TRAIN_TEXT);
    int rc2 = page_compare(runs, 1, dir, err, sizeof err);
    char* after = get_file(dir, "index.html");
    check(rc == -1 && rc2 == -1 && strstr(err, "was not written by ./train") && after && strcmp(after, theirs) == 0,
          "page: another program's index.html is left alone by the run's page and by --compare (%s)", err);
    free(after);
}

// page_compare's refusals, each naming the folder, with nothing written; then a page of two runs.
static void test_page_compare(const char* root, const char* run) {
    char other[4400], out[4400], file[4400], plain[4400], missing[4400], err[8192];
    path_join(other, sizeof other, root, "other");
    path_join(out, sizeof out, root, "cmp");
    path_join(file, sizeof file, root, "cmp.txt");
    path_join(plain, sizeof plain, root, "plain");
    path_join(missing, sizeof missing, root, "missing");
    mkdir(other, 0755);
    mkdir(plain, 0755);
    put_file(other, "probes.csv", PROBES_TEXT);
    put_file(root, "cmp.txt", "x");
    const char* bad[][3] = {{missing, missing, "no such run folder"},
                            {file, file, "not a run folder"},
                            {plain, plain, "not a run folder"},
                            {run, run, "is a run folder"}};
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        const char* runs[2] = {run, bad[i][0]};
        const char* o = i == 3 ? run : out;
        err[0] = '\0';
        int rc = page_compare(i == 3 ? runs : runs + 1, 1, o, err, sizeof err);
        ok &= rc == -1 && strstr(err, bad[i][1]) && strstr(err, bad[i][2]) && !strchr(err, '\n') &&
              access(out, F_OK) != 0;
    }
    check(ok,
          "page: --compare refuses a missing folder, a file, a folder without logs, an --out that is a run "
          "(%s)",
          err);
    const char* runs[2] = {run, other};
    int rc = page_compare(runs, 2, out, err, sizeof err);
    char* html = rc == 0 ? get_file(out, "index.html") : NULL;
    char* samples = html ? block_text(html, "run0-samples") : NULL;
    check(html && block_is(html, "run0-name", run) && block_is(html, "run1-name", other) &&
              block_is(html, "run1-probes", PROBES_TEXT) && samples &&
              strstr(samples, "---- sample at step 4\n") &&
              strstr(html, "{\"state\":\"snapshot\",\"updated_unix\":"),
          "page: the compare page holds both runs (names, logs, the samples of each run's own page)");
    free(samples);
    free(html);
}

// ./train's own pages: finished at the end; paused at --pause-at, then finished after --resume
// with the samples of before the pause; --compare's command line.
static void test_page_cli(const char* root) {
    const char* tiny =
        "-L 2 -C 32 -H 2 -T 16 -B 4 --threads 1 --peak-gflops 1 --sample-len 20 --probe-seqs 8 --probe-bins "
        "16 "
        "--probe-every 5 --eval-every 5 --sample-every 5 --dpo-steps 4 --dpo-eval-every 2 --dpo-pairs 40 "
        "--dpo-prompts 2";
    char args[1024], err[2048], dir[4400];
    snprintf(args, sizeof args, "--steps 20 %s --out run", tiny);
    int rc = train_cli(root, args, err, sizeof err);
    path_join(dir, sizeof dir, root, "run");
    char* html = get_file(dir, "index.html");
    char *tr = get_file(dir, "train.csv"), *pr = get_file(dir, "probes.csv"), *dp = get_file(dir, "dpo.csv");
    char* samples = html ? block_text(html, "run0-samples") : NULL;
    check(rc == 0 && html && strstr(html, "{\"state\":\"finished\",") && block_is(html, "run0-train", tr) &&
              block_is(html, "run0-probes", pr) && block_is(html, "run0-dpo", dp) && samples &&
              strstr(samples, "---- sample at step 15\n") && strstr(samples, "---- final sample\n") &&
              strstr(samples, "continuation after DPO\n"),
          "page: ./train leaves index.html finished, with its logs and the latest samples (exit %d)", rc);
    free(samples);
    free(html);
    free(tr);
    free(pr);
    free(dp);
    snprintf(args, sizeof args, "--steps 20 %s --pause-at 12 --out paused", tiny);
    rc = train_cli(root, args, err, sizeof err);
    path_join(dir, sizeof dir, root, "paused");
    html = get_file(dir, "index.html");
    int paused = rc == 0 && html && strstr(html, "{\"state\":\"paused\",") &&
                 strstr(html, "\"step\":12,\"steps\":20}");
    free(html);
    rc = train_cli(root, "--resume paused", err, sizeof err);
    html = get_file(dir, "index.html");
    samples = html ? block_text(html, "run0-samples") : NULL;
    check(paused && rc == 0 && html && strstr(html, "{\"state\":\"finished\",") && samples &&
              strstr(samples, "---- sample at step 10\n") && strstr(samples, "---- sample at step 15\n"),
          "page: --pause-at leaves the page paused at step 12/20; --resume finishes it with the samples of "
          "both parts");
    free(samples);
    free(html);
    train_expect_error(root, "--compare missing --out cmp", 1, "missing: no such run folder",
                       "--compare of a missing folder");
    train_expect_error(root, "--compare .cache --out cmp", 1, ".cache: not a run folder",
                       "--compare of a non-run folder");
    train_expect_error(root, "--compare run --out paused", 1, "paused is a run folder",
                       "--compare --out a run folder");
    train_expect_error(root, "--compare run paused", 2, "needs --out DIR", "--compare without --out");
    train_expect_error(root, "--compare --out cmp", 2, "at least one run folder", "--compare without runs");
    train_expect_error(root, "--compare run --steps 3 --out cmp", 2, "not '--steps'",
                       "--compare with a training flag");
    rc = train_cli(root, "--compare run paused/ --out cmp", err, sizeof err);
    path_join(dir, sizeof dir, root, "cmp");
    html = get_file(dir, "index.html");
    check(rc == 0 && html && block_is(html, "run0-name", "run") && block_is(html, "run1-name", "paused") &&
              !strstr(html, "id=\"run2-name\""),
          "page: ./train --compare run paused/ --out cmp lists both runs (exit %d)", rc);
    free(html);
}

// tests/page.js in node: its lines become this section's checks. The sanitizer build skips it
// (the browser sees the same bytes; the C side is what ASan checks).
#if defined(__SANITIZE_ADDRESS__)
#define PAGE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAGE_SANITIZED 1
#endif
#endif
static void test_page_browser(void) {
#ifdef PAGE_SANITIZED
    skip("page: the browser test because this is the sanitizer build (make test runs it)");
    return;
#endif
    if (run_shell("command -v node >/dev/null 2>&1") != 0) {
        skip("page: the browser test because node is not installed (apt-get install nodejs)");
        return;
    }
    char bin[4096], cmd[9000];
    if (!realpath(train_bin(), bin)) snprintf(bin, sizeof bin, "%s", train_bin());
    const char* work = "runs/page-test"; // kept: its shots/ are the screenshots to look at
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && node tests/page.js %s %s > %s/log.txt 2>&1", work,
             work, bin, work, work);
    int rc = run_shell(cmd);
    char path[256];
    snprintf(path, sizeof path, "%s/log.txt", work);
    size_t n;
    char* log = slurp(path, &n);
    int lines = 0;
    for (char* line = log; line && *line;) {
        char* nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strncmp(line, "ok   ", 5) == 0)
            check(1, "%s", line + 5), lines++;
        else if (strncmp(line, "FAIL ", 5) == 0)
            check(0, "%s", line + 5), lines++;
        else if (strncmp(line, "SKIP ", 5) == 0)
            skip("%s", line + 5), lines++;
        else
            printf("     %s\n", line);
        line = nl ? nl + 1 : line + strlen(line);
    }
    if (rc != 0 && rc != 1 && rc != 77) check(0, "page: node tests/page.js exited %d (log: %s)", rc, path);
    if (lines == 0) check(0, "page: node tests/page.js reported nothing (log: %s)", path);
    free(log);
}

void test_page(void) {
    char root[] = "/tmp/forgetful_page_XXXXXX";
    if (!mkdtemp(root)) {
        check(0, "page: mkdtemp failed");
        return;
    }
    char run[4400];
    path_join(run, sizeof run, root, "unit");
    mkdir(run, 0755);
    test_page_file(run);
    test_page_parts(run);
    test_page_thin(run);
    test_page_samples(run);
    test_page_atomic(run);
    test_page_compare(root, run);
    test_page_foreign(root);
    test_page_cli(root);
    rm_tree(root);
    test_page_browser();
}
