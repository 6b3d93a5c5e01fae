// lib/csv.c: the CSV reader of csv.h.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util.h"

// A whole CSV file: a header and rows of fields (pointers into one buffer), all rows with as many
// fields as the header. Fields are plain (the run folder's CSVs hold no quotes or commas).

void csv_free(Csv* c) {
    free(c->buf);
    free(c->cells);
    free(c->line);
    memset(c, 0, sizeof *c);
}

int csv_read(Csv* c, const char* path, char* err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->path = path;
    if (!path) {
        snprintf(err, errlen, "no CSV path given");
        return -1;
    }
    size_t len = 0;
    char rerr[512];
    c->buf = read_file(path, &len, rerr, sizeof rerr);
    if (!c->buf) {
        snprintf(err, errlen, "%s", rerr);
        return -1;
    }
    if (strlen(c->buf) != len) {
        snprintf(err, errlen, "%s: contains NUL bytes: not a CSV file", path);
        csv_free(c);
        return -1;
    }
    size_t cap = 0, lineno = 0;
    char* s = c->buf;
    while (*s) {
        char* e = strchr(s, '\n');
        if (e) *e = '\0';
        lineno++;
        size_t l = strlen(s);
        if (l && s[l - 1] == '\r') s[--l] = '\0';
        char* next = e ? e + 1 : s + l;
        if (l == 0) { // blank lines (the trailing one, mostly) carry nothing
            s = next;
            continue;
        }
        int nf = 1;
        for (char* q = s; *q; q++) nf += *q == ',';
        if (c->ncols == 0) c->ncols = nf;
        else if (nf != c->ncols) {
            snprintf(err, errlen, "%s:%zu: %d fields where the header has %d", path, lineno, nf, c->ncols);
            csv_free(c);
            return -1;
        }
        size_t row = c->cells ? c->nrows + 1 : 0;
        if ((row + 1) * (size_t)c->ncols > cap) {
            cap = cap ? 2 * cap : 64 * (size_t)c->ncols;
            c->cells = realloc_check(c->cells, cap * sizeof(char*));
        }
        if (row > 0) {
            c->line = realloc_check(c->line, row * sizeof(size_t));
            c->line[row - 1] = lineno;
            c->nrows = row;
        }
        char** cell = c->cells + row * (size_t)c->ncols;
        int k = 0;
        cell[k++] = s;
        for (char* q = s; *q; q++)
            if (*q == ',') {
                *q = '\0';
                cell[k++] = q + 1;
            }
        s = next;
    }
    if (!c->cells) {
        snprintf(err, errlen, "%s: empty file (no header)", path);
        csv_free(c);
        return -1;
    }
    if (c->nrows == 0) {
        snprintf(err, errlen, "%s: header only, no rows", path);
        csv_free(c);
        return -1;
    }
    return 0;
}

// Column index of name, or -1 with err filled.
int csv_col(const Csv* c, const char* name, char* err, size_t errlen) {
    for (int j = 0; j < c->ncols; j++)
        if (strcmp(c->cells[j], name) == 0) return j;
    snprintf(err, errlen, "%s: no column '%s' in the header", c->path, name);
    return -1;
}

const char* csv_cell(const Csv* c, size_t r, int j) { return c->cells[(r + 1) * (size_t)c->ncols + (size_t)j]; }

// Number in row r, column j: NAN when empty or "nan"; -1 with err filled when not a number.
int csv_get(const Csv* c, size_t r, int j, double* out, char* err, size_t errlen) {
    const char* s = csv_cell(c, r, j);
    if (*s == '\0') {
        *out = NAN;
        return 0;
    }
    char* end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (end == s || *end != '\0') {
        snprintf(err, errlen, "%s:%zu: column '%s': '%s' is not a number", c->path, c->line[r], c->cells[j], s);
        return -1;
    }
    *out = isfinite(v) ? v : NAN;
    return 0;
}

// One column of every row as numbers (malloc'd), or NULL with err filled.
double* csv_column(const Csv* c, const char* name, char* err, size_t errlen) {
    int j = csv_col(c, name, err, errlen);
    if (j < 0) return NULL;
    double* v = malloc_check(c->nrows * sizeof(double));
    for (size_t r = 0; r < c->nrows; r++)
        if (csv_get(c, r, j, &v[r], err, errlen) != 0) {
            free(v);
            return NULL;
        }
    return v;
}

