// flags.h: ./train's command line, table-driven: one FlagSpec row per flag gives its name, type,
// place in the configuration struct, accepted range and help text; the parser, the usage text and
// the "was it given" queries all read that table. Numbers are parsed strictly (parse_number_arg,
// parse_u64_arg in lib/util.h: the whole string, in range); any mistake is a usage error.
#ifndef FLAGS_H
#define FLAGS_H

#include <stddef.h>
#include <stdio.h>

#include "util.h"

// A usage error (a bad flag): "error: <message> (./train --help lists the flags)" on stderr, exit
// status 2.
NORETURN void error_usage(const char* fmt, ...) PRINTF_LIKE(1, 2);

typedef enum { ARG_INT, ARG_U64, ARG_FLOAT, ARG_STR, ARG_SWITCH } ArgType;
typedef struct {
    const char* name;    // "--steps" or "-B"
    ArgType type;        // int, uint64_t, float, const char* or int (0/1) at offset
    size_t offset;       // into the configuration struct
    double min, max;     // accepted range (numbers)
    int on_resume;       // 1: may be given with --resume (does not change the trajectory)
    const char* metavar; // shown in the usage
    const char* help;
} FlagSpec;

// Sets cfg's fields from argv[1 .. argc) by the table flags[0 .. n) ("--name value", "--name=value",
// "-h" for "--help"); the caller fills cfg with the defaults first. given[i] (n bytes) says whether
// flags[i] appeared. A flag that is unknown, repeated, without its value or out of range is a usage
// error.
void flags_parse(const FlagSpec* flags, size_t n, void* cfg, unsigned char* given, int argc, char** argv);
// One usage line per flag: name, metavar, help and the default read from defaults, or
// auto_default(flag)'s text when that value means "auto" (a negative number, a NULL string).
void flags_print_usage(FILE* f, const FlagSpec* flags, size_t n, const void* defaults,
                       const char* (*auto_default)(const FlagSpec* fs));
// Whether the flag `name` appeared (given as filled by flags_parse).
int flags_given(const FlagSpec* flags, size_t n, const unsigned char* given, const char* name);
// The flag nearest to name[0..name_len) (a few typing mistakes away: a third of the name, 1 to 3
// edits), for "did you mean ...?"; NULL when none is that close.
const char* flags_nearest(const FlagSpec* flags, size_t n, const char* name, size_t name_len);
// A flag's JSON key: its name without the leading dashes, '-' as '_' ("--min-lr-frac" -> "min_lr_frac").
void flags_json_key(const FlagSpec* fs, char* key, size_t len);
// Writes one `  "key": value,` line per flag (cfg's value: numbers, true/false for switches, a
// string or null), in table order, leaving out the flag whose key is skip (NULL: none).
void flags_write_json(FILE* f, const FlagSpec* flags, size_t n, const void* cfg, const char* skip);

#endif // FLAGS_H
