// util.c: the process utilities of util.h.
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void fatal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(EXIT_FAILURE);
}

void* malloc_check_(size_t size, const char* file, int line) {
    void* p = malloc(size ? size : 1);
    if (!p) fatal("out of memory allocating %zu bytes (%s:%d)", size, file, line);
    return p;
}

void* calloc_check_(size_t n, size_t size, const char* file, int line) {
    void* p = calloc(n ? n : 1, size ? size : 1);
    if (!p) fatal("out of memory allocating %zu x %zu bytes (%s:%d)", n, size, file, line);
    return p;
}

void* realloc_check_(void* p, size_t size, const char* file, int line) {
    void* q = realloc(p, size ? size : 1);
    if (!q) fatal("out of memory reallocating %zu bytes (%s:%d)", size, file, line);
    return q;
}

FILE* fopen_check_(const char* path, const char* mode, const char* file, int line) {
    FILE* f = fopen(path, mode);
    if (!f) fatal("%s: cannot open (mode %s): %s (%s:%d)", path, mode, strerror(errno), file, line);
    return f;
}

void fread_check_(void* ptr, size_t size, size_t n, FILE* f, const char* path, const char* file, int line) {
    size_t got = fread(ptr, size, n, f);
    if (got != n) {
        if (ferror(f)) fatal("%s: read failed: %s (%s:%d)", path, strerror(errno), file, line);
        fatal("%s: file too short: expected %zu items of %zu bytes, got %zu (%s:%d)", path, n, size, got, file,
              line);
    }
}

void fwrite_check_(const void* ptr, size_t size, size_t n, FILE* f, const char* path, const char* file, int line) {
    if (fwrite(ptr, size, n, f) != n)
        fatal("%s: write failed: %s (%s:%d)", path, strerror(errno), file, line);
}

FILE* fopen_regular(const char* path, char* err, size_t errlen) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        set_err(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file (%s)", path,
                S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory" : "a device or socket");
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE* f = fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1 ? NULL : fdopen(fd, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

char* read_file(const char* path, size_t* len, char* err, size_t errlen) {
    FILE* f = fopen_regular(path, err, errlen);
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char* buf = malloc(n + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, n);
        fclose(f);
        return NULL;
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f) || got != n;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read failed (%zu of %zu bytes)", path, got, n);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

// The temporary's name: "<path>.tmp.<pid>.<n>", n counting this process's temporaries, so that two
// files written at once never share one (the pid alone was predictable and reusable).
static unsigned atomic_counter = 0;

int atomic_open(AtomicFile* af, const char* path, char* err, size_t errlen) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    snprintf(af->path, sizeof af->path, "%s", path);
    // O_EXCL | O_NOFOLLOW: never open a file or a symlink that is already there (a symlink planted at
    // the name would otherwise redirect the write to its target); on a clash, the next name
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_counter++);
        fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    af->f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!af->f) {
        snprintf(err, errlen, "%s: cannot create: %s", af->tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(af->tmp);
        }
        af->tmp[0] = '\0';
        return -1;
    }
    return 0;
}

int atomic_commit(AtomicFile* af, char* err, size_t errlen) {
    if (!af->f) {
        snprintf(err, errlen, "%s: not open", af->path);
        return -1;
    }
    int bad = ferror(af->f) != 0;
    if (!bad && fflush(af->f) != 0) bad = 1;
    if (!bad && fsync(fileno(af->f)) != 0) bad = 1;
    int saved = errno;
    if (fclose(af->f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    af->f = NULL;
    if (bad) {
        snprintf(err, errlen, "%s: write failed: %s", af->path, strerror(saved));
        remove(af->tmp);
        return -1;
    }
    if (rename(af->tmp, af->path) != 0) {
        snprintf(err, errlen, "%s: cannot rename %s into place: %s", af->path, af->tmp, strerror(errno));
        remove(af->tmp);
        return -1;
    }
    return 0;
}

void atomic_abort(AtomicFile* af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp[0]) remove(af->tmp);
}

int make_dirs(const char* path, char* err, size_t errlen) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        snprintf(err, errlen, "%s: bad directory path", path);
        return -1;
    }
    memcpy(buf, path, n + 1);
    // create every prefix ending at a '/', then the whole path
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
            return -1;
        }
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: exists and is not a directory", path);
        return -1;
    }
    return 0;
}

int dir_lock(const char* dir, char* err, size_t errlen) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path) {
        set_err(err, errlen, "%s: path too long", dir);
        return -1;
    }
    // O_CLOEXEC: a child (gzip -dc) must not inherit, and so outlive us holding, the lock
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open the lock file: %s", path, strerror(errno));
        return -1;
    }
    // flock, not fcntl: a fcntl lock is dropped when any descriptor of the file is closed
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            set_err(err, errlen,
                    "%s is in use by another ./train (pid %s): two runs writing one folder would mix their files; "
                    "wait for it to end or use another folder",
                    dir, pid[0] ? pid : "unknown");
        else set_err(err, errlen, "%s: cannot lock: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    // the pid is for the message above only; the kernel drops the lock when this process ends
    char line[32];
    int k = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)k, 0) != k) {
        set_err(err, errlen, "%s: cannot write the lock file: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int is_temporary_name(const char* name) {
    // "<name>.tmp.<pid>" (older builds) or "<name>.tmp.<pid>.<n>"
    const char* t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    const char* s = t + 5;
    for (int part = 0; part < 2; part++) {
        if (!isdigit((unsigned char)*s)) return 0;
        while (isdigit((unsigned char)*s)) s++;
        if (*s == '\0') return 1;
        if (*s++ != '.') return 0;
    }
    return 0;
}

int remove_temporaries(const char* dir, char* err, size_t errlen) {
    DIR* d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : (set_err(err, errlen, "%s: %s", dir, strerror(errno)), -1);
    int removed = 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        if (!is_temporary_name(e->d_name)) continue;
        char path[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        // lstat: a symlink at a temporary's name is removed itself, its target left alone
        if (lstat(path, &st) != 0 || S_ISDIR(st.st_mode)) continue;
        if (unlink(path) != 0) {
            set_err(err, errlen, "%s: cannot remove a stale temporary file: %s", path, strerror(errno));
            closedir(d);
            return -1;
        }
        removed++;
    }
    closedir(d);
    return removed;
}

// xorshift* (Vigna), as llm.c's random_u32.
uint32_t random_u32(uint64_t* state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

float random_f32(uint64_t* state) { return (float)(random_u32(state) >> 8) / 16777216.0f; }

// Box-Muller: z = sqrt(-2 ln u1) cos(2 pi u2) with u1 in (0, 1].
float random_normal(uint64_t* state) {
    float u1 = 1.0f - random_f32(state);
    float u2 = random_f32(state);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

double time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int parse_number_arg(const char* s, int integer, double min, double max, double* out, char* err, size_t errlen) {
    char* end = NULL;
    double v;
    errno = 0;
    if (integer) v = (double)strtoll(s, &end, 10);
    else v = strtod(s, &end);
    // strtod/strtoll skip leading white space: refuse it, as any text around the number
    if (end == s || *end != '\0' || errno == ERANGE || isspace((unsigned char)*s)) {
        snprintf(err, errlen, "'%s' is not a%s number", s, integer ? "n integer" : "");
        return -1;
    }
    if (!isfinite(v) || v < min || v > max) {
        snprintf(err, errlen, "%s is out of range [%g, %g]", s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int parse_u64_arg(const char* s, uint64_t* out, char* err, size_t errlen) {
    char* end = NULL;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    // strtoull accepts "-1" (as 2^64-1) and leading spaces: only digits are a non-negative integer
    if (end == s || *end != '\0' || errno == ERANGE || !isdigit((unsigned char)s[0])) {
        snprintf(err, errlen, "'%s' is not a non-negative integer", s);
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

// out = dir + "/" + name; a path that does not fit is a runtime error naming it.
void path_join(char* out, size_t n, const char* dir, const char* name) {
    int w = snprintf(out, n, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= n) fatal("%s/%s: path too long", dir, name);
}

// snprintf into an error buffer (truncation of a message is acceptable).
void set_err(char* err, size_t errlen, const char* fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

// Reads one unsigned number from a file (a cgroup knob); 0 if absent or "max".
static unsigned long long read_knob(const char* path) {
    FILE* f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return v;
}

size_t memory_available(void) {
    unsigned long long avail = 0;
    FILE* f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                avail = kb * 1024ull;
                break;
            }
        fclose(f);
    }
    // cgroup v2, then v1; an unlimited v1 group reports a number near 2^63, which never binds
    static const char* knobs[2][2] = {{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
                                      {"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                       "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
    for (int k = 0; k < 2; k++) {
        unsigned long long limit = read_knob(knobs[k][0]);
        if (limit == 0) continue;
        unsigned long long used = read_knob(knobs[k][1]);
        unsigned long long room = limit > used ? limit - used : 1; // 1, not 0: 0 means unknown
        if (avail == 0 || room < avail) avail = room;
        break;
    }
    return avail > (unsigned long long)SIZE_MAX ? SIZE_MAX : (size_t)avail;
}

// The peak resident memory of this process so far, in bytes.
double peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss * 1024.0; // Linux reports kilobytes
}
