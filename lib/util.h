// util.h: the process utilities every file shares: errors, checked allocation and I/O, whole-file
// reads, crash-safe (atomic) writes, directories, the RNG, the clock, strict number parsing and
// the memory this process may still use. Depends on nothing else in the repository.
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Every call that can fail says where and exits with status 1.

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))
#else
#define PRINTF_LIKE(f, a)
#define NORETURN
#endif

// Prints "error: <message>" to stderr and exits with status 1 (runtime error).
NORETURN void fatal(const char* fmt, ...) PRINTF_LIKE(1, 2);

void* malloc_check_(size_t size, const char* file, int line);
void* calloc_check_(size_t n, size_t size, const char* file, int line);
void* realloc_check_(void* p, size_t size, const char* file, int line);
FILE* fopen_check_(const char* path, const char* mode, const char* file, int line);
void fread_check_(void* ptr, size_t size, size_t n, FILE* f, const char* path, const char* file, int line);
void fwrite_check_(const void* ptr, size_t size, size_t n, FILE* f, const char* path, const char* file, int line);
#define malloc_check(size) malloc_check_((size), __FILE__, __LINE__)
#define calloc_check(n, size) calloc_check_((n), (size), __FILE__, __LINE__)
#define realloc_check(p, size) realloc_check_((p), (size), __FILE__, __LINE__)
#define fopen_check(path, mode) fopen_check_((path), (mode), __FILE__, __LINE__)
#define fread_check(ptr, size, n, f, path) fread_check_((ptr), (size), (n), (f), (path), __FILE__, __LINE__)
#define fwrite_check(ptr, size, n, f, path) fwrite_check_((ptr), (size), (n), (f), (path), __FILE__, __LINE__)

// Opens path for reading only if it is a regular file: a FIFO, device, socket or directory is
// refused at once (opening a FIFO would block until something writes to it). NULL with err filled.
FILE* fopen_regular(const char* path, char* err, size_t errlen);
// Reads a whole regular file (fopen_regular) into a NUL-terminated malloc'd buffer; returns NULL
// and fills err on failure.
char* read_file(const char* path, size_t* len, char* err, size_t errlen);

// Crash-safe file writing: atomic_open creates "<path>.tmp.<pid>.<n>" with O_CREAT | O_EXCL |
// O_NOFOLLOW (never an existing file, never through a symlink); atomic_commit flushes, fsyncs,
// closes and renames it over path, so a reader sees the old file or the new one, never half of
// either. Both return 0 on success, -1 (with err filled and the temporary removed) on failure.
typedef struct {
    FILE* f;
    char path[4096];
    char tmp[4200];
} AtomicFile;
int atomic_open(AtomicFile* af, const char* path, char* err, size_t errlen);
int atomic_commit(AtomicFile* af, char* err, size_t errlen);
void atomic_abort(AtomicFile* af);

// mkdir -p; returns 0 on success, -1 with err filled.
int make_dirs(const char* path, char* err, size_t errlen);

// An advisory lock (flock) on "<dir>/.lock", held until the process ends (the kernel releases it
// then, however the process died, so a stale lock never blocks). The file holds the owner's pid
// for the message. Returns the descriptor to keep open, or -1 with err filled: held by another
// process ("DIR is in use by another ./train (pid N) ..."), or the file cannot be made. Locks are
// advisory: only processes that take them are kept out, and on network filesystems they are only
// as good as the filesystem's lock support.
int dir_lock(const char* dir, char* err, size_t errlen);
// Whether a file name is an atomic_open temporary ("<name>.tmp.<pid>" or "<name>.tmp.<pid>.<n>").
int is_temporary_name(const char* name);
// Removes the temporaries (files or symlinks, never what a symlink points to) directly in dir that
// a killed process left; the caller holds dir's lock, so none is being written. Returns how many
// were removed (0 when dir is absent), or -1 with err filled.
int remove_temporaries(const char* dir, char* err, size_t errlen);

// Explicit-state RNG (xorshift*, as llm.c): state must be non-zero.
uint32_t random_u32(uint64_t* state);
float random_f32(uint64_t* state);    // uniform in [0, 1)
float random_normal(uint64_t* state); // standard normal (Box-Muller)

double time_seconds(void); // CLOCK_MONOTONIC

// Command-line numbers, strict: the whole string must be the number (no spaces, no trailing
// characters). parse_number_arg reads a decimal integer (integer = 1) or a float, and accepts it
// only if it is finite and in [min, max]; parse_u64_arg reads a non-negative decimal integer
// below 2^64. Both return 0 with *out set, or -1 with err filled ("'x' is not a number").
int parse_number_arg(const char* s, int integer, double min, double max, double* out, char* err, size_t errlen);
int parse_u64_arg(const char* s, uint64_t* out, char* err, size_t errlen);

// out = dir + "/" + name; a path that does not fit is a runtime error naming it.
void path_join(char* out, size_t n, const char* dir, const char* name);

// snprintf into an error buffer (truncation of a message is acceptable; err may be NULL).
void set_err(char* err, size_t errlen, const char* fmt, ...) PRINTF_LIKE(3, 4);

// Bytes this process can still allocate without swapping or being killed: MemAvailable from
// /proc/meminfo, lowered to the room left under a cgroup memory limit (v2 memory.max minus
// memory.current, or v1 memory.limit_in_bytes minus memory.usage_in_bytes) when one is set.
// 0 if nothing could be read.
size_t memory_available(void);

// The peak resident memory of this process so far, in bytes.
double peak_rss(void);

#endif // UTIL_H
