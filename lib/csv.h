// lib/csv.h: a whole CSV file read into memory, for the plots and for the logs rebuilt on resume.
// Fields are plain (the run folder's CSVs hold no quotes or commas); every row has as many fields
// as the header, and every error names the file and line.
#ifndef CSV_H
#define CSV_H

#include <stddef.h>

// A header and rows of fields (pointers into one buffer).
typedef struct {
    char* buf;
    char** cells; // (nrows + 1, ncols): row 0 is the header
    int ncols;
    size_t nrows;
    size_t* line; // (nrows) 1-based line number of each row, for error messages
    const char* path;
} Csv;

// Reads path; returns 0, or -1 with err filled ("path:line: ..."). Free with csv_free.
int csv_read(Csv* c, const char* path, char* err, size_t errlen);
void csv_free(Csv* c);
// Index of the column named name, or -1 with err filled.
int csv_col(const Csv* c, const char* name, char* err, size_t errlen);
// Field j of data row r (0-based, the header not counted).
const char* csv_cell(const Csv* c, size_t r, int j);
// Field j of row r as a number (an empty field is NAN); 0, or -1 with err filled.
int csv_get(const Csv* c, size_t r, int j, double* out, char* err, size_t errlen);
// The whole column named name as a malloc'd (nrows) array, empty fields NAN; NULL with err filled.
double* csv_column(const Csv* c, const char* name, char* err, size_t errlen);

#endif // CSV_H
