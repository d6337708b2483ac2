/*
 * internal.h - helpers shared between the runtime's kernel families; not
 * part of the public API (generated code includes only kdl.h).
 *
 * kdl_bias_act_forward is the epilogue of every GEMM-based layer (dense,
 * convolution): after the GEMM has written the pre-activation into out, one
 * pass over out adds the bias and applies the activation, so the output is
 * read and written once more instead of twice.
 *
 * Also here: the register-tile GEMM micro-kernel of the direct convolutions
 * (gemm.c) and the thread pool's kdl_parallel_for (threads.c).
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

// ---- register-tile GEMM (gemm.c) ----
//
// The micro-kernel under the direct convolutions (conv.c): one tile of
// mr <= KDL_TILE_MR rows and nv * 16 <= 32 columns (the last vector masked
// by `mask`) of
//   C[i][j] (=, +=) sum over segments (s1 < n1, s2 < n2) and k < len of
//       A[i*ai + s1*a1 + s2*a2 + k*ak] * B[s1*b1 + s2*b2 + k*bk + j]
// in registers with FMA, each element's products added in that order (so a
// value does not depend on the tile it was computed in). Then, per the
// mode, C = alpha acc (+ bias, then ReLU when relu), or C = beta C + alpha
// acc (alpha = beta = 1 give exactly acc and C + acc). x86-64 with
// AVX-512F only: kdl_tile_available() says whether the CPU has it (and
// $KDL_NO_AVX512 is unset); callers keep a portable path otherwise.
#define KDL_TILE_MR 12
typedef enum { KDL_TILE_STORE, KDL_TILE_ADD } kdl_TileMode;
typedef struct kdl_Tile {
    int n1, n2, len;
    ptrdiff_t a1, a2, ak, ai;   // A strides (floats)
    ptrdiff_t b1, b2, bk;       // B strides
    ptrdiff_t ldc;
    unsigned mask;              // lanes of the last vector (0xffff: all 16)
    kdl_TileMode mode;
    float alpha, beta;
    const float *bias;          // STORE: added first (NULL: none), at column 0 of the tile
    int relu;                   // STORE: then x < 0 ? 0 : x
} kdl_Tile;
int kdl_tile_available(void);
void kdl_tile_gemm(const kdl_Tile *t, int mr, int nv, float *c, const float *a, const float *b);

// Run fn(ctx, begin, end) over contiguous chunks covering [0, n) exactly
// once, on up to kdl_get_num_threads() threads (the caller runs the first
// chunk); each chunk has at least grain indices, so n < 2 * grain runs
// fn(ctx, 0, n) inline. fn must not call kdl_sgemm (GEMM runs on the
// calling thread only, with OpenBLAS's threads) and must give the same
// results however [0, n) is cut. Nested calls run inline. Defined in threads.c.
void kdl_parallel_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t begin, size_t end),
                      void *ctx);
// Bracket a call into OpenBLAS (it may run its own threads): the pool's
// idle workers sleep instead of polling for work meanwhile. Defined in threads.c.
void kdl_gemm_begin(void);
void kdl_gemm_end(void);
// The grain for indices that cost `cost` units each (a float read or
// written, or a multiply-add): chunks of at least KDL_PAR_WORK units, so a
// split pays for waking a thread and small (batch-1) calls stay inline.
#define KDL_PAR_WORK ((size_t)1 << 16)
static inline size_t kdl_grain(size_t cost) {
    return cost >= KDL_PAR_WORK ? 1 : cost ? (KDL_PAR_WORK + cost - 1) / cost : KDL_PAR_WORK;
}

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
