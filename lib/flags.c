// flags.c: the table-driven command-line parser of flags.h.
#include "flags.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

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

// Edit distance (insertions, deletions, substitutions, and swaps of two neighbours) between a and
// b[0..nb), capped at 99 for long strings.
static int edit_distance(const char* a, size_t na, const char* b, size_t nb) {
    enum { MAXL = 64 };
    if (na >= MAXL || nb >= MAXL) return 99;
    int d[MAXL][MAXL];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

const char* flags_nearest(const FlagSpec* flags, size_t n, const char* name, size_t name_len) {
    const char* best = NULL;
    int best_d = 99;
    for (size_t i = 0; i < n; i++) {
        int d = edit_distance(name, name_len, flags[i].name, strlen(flags[i].name));
        if (d < best_d) best_d = d, best = flags[i].name;
    }
    // a third of the name may be wrong (at least 1, at most 3 edits), past the leading dashes
    size_t core = name_len > 2 ? name_len - 2 : name_len;
    int allowed = core >= 9 ? 3 : core >= 5 ? 2 : 1;
    return best_d <= allowed ? best : NULL;
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
        if (!fs) {
            const char* near = flags_nearest(flags, n, arg, name_len);
            if (near) error_usage("unknown flag '%.*s' (did you mean %s?)", (int)name_len, arg, near);
            error_usage("unknown flag '%s'", arg);
        }
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

void flags_json_key(const FlagSpec* fs, char* key, size_t len) {
    const char* s = fs->name;
    while (*s == '-') s++;
    size_t k = 0;
    for (; *s && k + 1 < len; s++) key[k++] = *s == '-' ? '_' : *s;
    key[k] = '\0';
}

void flags_write_json(FILE* f, const FlagSpec* flags, size_t n, const void* cfg, const char* skip) {
    for (size_t i = 0; i < n; i++) {
        const FlagSpec* fs = &flags[i];
        char key[64];
        flags_json_key(fs, key, sizeof key);
        if (skip && strcmp(key, skip) == 0) continue;
        const char* base = (const char*)cfg + fs->offset;
        fprintf(f, "  \"%s\": ", key);
        switch (fs->type) {
        case ARG_INT: fprintf(f, "%d", *(const int*)base); break;
        case ARG_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t*)base); break;
        case ARG_FLOAT: {
            // the shortest decimal that reads back as the same float (0.002, not 0.00200000009)
            float v = *(const float*)base;
            char num[32];
            for (int digits = 1; digits <= 9; digits++) {
                snprintf(num, sizeof num, "%.*g", digits, (double)v);
                if (strtof(num, NULL) == v) break;
            }
            fprintf(f, "%s", num);
            break;
        }
        case ARG_SWITCH: fprintf(f, "%s", *(const int*)base ? "true" : "false"); break;
        case ARG_STR: {
            const char* v = *(const char* const*)base;
            if (v) json_write_string(f, v, strlen(v));
            else fprintf(f, "null");
            break;
        }
        }
        fprintf(f, ",\n");
    }
}
