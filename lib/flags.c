// flags.c: the table-driven command-line parser of flags.h.
#include "flags.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void error_usage(const char* fmt, ...) {
    char msg[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "error: %s (./train --help lists the flags)\n", msg);
    exit(2);
}

// Parses a whole string as a number in [min, max]; anything else is a usage error naming the flag.
// (parse_number_arg in lib/util.c does the parsing, so dev/fuzz/fuzz_flags.c can fuzz it.)
static double parse_number(const char* flag, const char* s, int integer, double min, double max) {
    double v;
    char err[512];
    if (parse_number_arg(s, integer, min, max, &v, err, sizeof err) != 0) error_usage("%s: %s", flag, err);
    return v;
}

// Stores the text val of flag fs into its field.
static void flag_set(const FlagSpec* fs, char* field, const char* val) {
    switch (fs->type) {
    case ARG_INT: *(int*)field = (int)parse_number(fs->name, val, 1, fs->min, fs->max); break;
    case ARG_FLOAT: *(float*)field = (float)parse_number(fs->name, val, 0, fs->min, fs->max); break;
    case ARG_U64: {
        char err[512];
        if (parse_u64_arg(val, (uint64_t*)field, err, sizeof err) != 0) error_usage("%s: %s", fs->name, err);
        break;
    }
    case ARG_STR:
        if (!*val) error_usage("%s: empty value", fs->name);
        *(const char**)field = val;
        break;
    case ARG_SWITCH: break;
    }
}

void flags_parse(const FlagSpec* flags, size_t n, void* cfg, unsigned char* given, int argc, char** argv) {
    memset(given, 0, n);
    for (int a = 1; a < argc; a++) {
        const char* arg = argv[a];
        if (strcmp(arg, "-h") == 0) arg = "--help";
        const char* eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const FlagSpec* fs = NULL;
        size_t idx = 0;
        for (size_t i = 0; i < n; i++) {
            if (strlen(flags[i].name) == name_len && strncmp(flags[i].name, arg, name_len) == 0) {
                fs = &flags[i];
                idx = i;
            }
        }
        if (!fs && arg[0] != '-') error_usage("unexpected argument '%s' (a training text goes after --input)", arg);
        if (!fs) error_usage("unknown flag '%s'", arg);
        if (given[idx]) error_usage("%s given twice", fs->name);
        given[idx] = 1;
        char* field = (char*)cfg + fs->offset;
        if (fs->type == ARG_SWITCH) {
            if (eq) error_usage("%s takes no value", fs->name);
            *(int*)field = 1;
            continue;
        }
        const char* val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!val) error_usage("%s needs a value (%s)", fs->name, fs->metavar);
        flag_set(fs, field, val);
    }
}

// Prints a flag's default value from defaults, or auto_text for the "auto" ones.
static void print_default(FILE* f, const FlagSpec* fs, const void* defaults, const char* auto_text) {
    const char* base = (const char*)defaults + fs->offset;
    switch (fs->type) {
    case ARG_INT: {
        int v = *(const int*)base;
        if (v < 0) fprintf(f, "%s", auto_text);
        else fprintf(f, "%d", v);
        break;
    }
    case ARG_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t*)base); break;
    case ARG_FLOAT: {
        float v = *(const float*)base;
        if (v < 0.0f) fprintf(f, "%s", auto_text);
        else fprintf(f, "%g", (double)v);
        break;
    }
    case ARG_STR: {
        const char* s = *(const char* const*)base;
        fprintf(f, "%s", s ? s : auto_text);
        break;
    }
    case ARG_SWITCH: fprintf(f, "off"); break;
    }
}

void flags_print_usage(FILE* f, const FlagSpec* flags, size_t n, const void* defaults,
                       const char* (*auto_default)(const FlagSpec* fs)) {
    for (size_t i = 0; i < n; i++) {
        const FlagSpec* fs = &flags[i];
        char left[64];
        snprintf(left, sizeof left, "%s %s", fs->name, fs->metavar);
        fprintf(f, "  %-20s %s (default: ", left, fs->help);
        print_default(f, fs, defaults, auto_default(fs));
        fprintf(f, ")\n");
    }
}

int flags_given(const FlagSpec* flags, size_t n, const unsigned char* given, const char* name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(flags[i].name, name) == 0) return given[i];
    return 0;
}
