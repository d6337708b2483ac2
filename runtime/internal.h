/*
 * internal.h - helpers shared between the runtime's kernel families; not
 * part of the public API (generated code includes only kdl.h).
 *
 * kdl_bias_act_forward is the epilogue of every GEMM-based layer (dense,
 * convolution): after the GEMM has written the pre-activation into out, one
 * pass over out adds the bias and applies the activation, so the output is
 * read and written once more instead of twice.
 */
#ifndef KDL_INTERNAL_H
#define KDL_INTERNAL_H

#include "kdl.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

// Format a one-line message into err (errlen bytes, terminated when errlen >
// 0; err may be NULL) and return st: how every runtime error is reported.
// Defined in error.c.
PRINTF_LIKE(4, 5)
kdl_Status kdl_fail(char *err, size_t errlen, kdl_Status st, const char *fmt, ...);

// out (rows, cols) = act(out + b (cols)), b broadcast over the rows and may
// be NULL. SOFTMAX / LOG_SOFTMAX run per row (over the last axis, cols).
// Defined in act.c.
void kdl_bias_act_forward(float *out, const float *b, size_t rows, size_t cols, kdl_Act act,
                          float alpha);

// summary.c's pieces, checked one by one by tests/unit/test_summary.c:
// column widths from positions (Keras), 0 if a column is under 4 characters;
int kdl_summary_col_widths(int line_length, const double *pos, int npos, int absolute,
                           int ncols, int *widths);
// rich's cell widths (padding included) for a table of width line_length;
void kdl_summary_cell_widths(int line_length, const int *col_widths, int ncols, int *cells);
// rich Text.wrap, each line followed by '\n' ('l'/'r'/'c': a table cell,
// ellipsis overflow, padded to width; 'd': console text, long words folded);
char *kdl_summary_wrap(const char *text, int width, char justify);
// the HEAVY_HEAD table, every line cropped to console_width cells (to free());
char *kdl_summary_table(int line_length, const int *col_widths, int ncols,
                        const char *const *headers, const char *justify,
                        const char *const *cells, int nrows, int console_width);
// Keras readable_memory_size: "1.29 KB";
void kdl_summary_readable_size(double bytes, char out[32]);
// Python re.match(pattern, name): 1 match, 0 no match, -1 bad pattern.
int kdl_summary_re_match(const char *pattern, const char *name);

#endif
