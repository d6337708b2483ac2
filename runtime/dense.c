/*
 * dense.c - the Dense layer: a GEMM, then bias and activation fused into
 * one pass over the output; and its backward, two GEMMs and a column sum.
 *
 * Keras's Dense on an N-D input acts on the last axis only, so the caller
 * flattens the leading axes into n. The kernel is stored (in_dim, units) as
 * Keras saves it, so the product is in @ w with no transpose. The GEMMs run
 * on the calling thread (OpenBLAS's threads); the bias + activation pass and
 * db's column sums (split by columns) use the runtime's thread pool.
 */
#include "internal.h"

#include <assert.h>
#include <string.h>

// in (n, in_dim), w (in_dim, units), b (units) or NULL -> out (n, units)
void kdl_dense_forward(float *out, const float *in, const float *w, const float *b, int n,
                       int in_dim, int units, kdl_Act act, float alpha) {
    if (n <= 0 || units <= 0)
        return;
    if (in_dim > 0)
        kdl_sgemm(0, 0, n, units, in_dim, 1.0f, in, in_dim, w, units, 0.0f, out, units);
    else    // an empty product (BLAS rejects lda = 0): the pre-activation is 0
        memset(out, 0, sizeof(float) * (size_t)n * (size_t)units);
    kdl_bias_act_forward(out, b, (size_t)n, (size_t)units, act, alpha);
}

typedef struct SumJob {
    float *db;
    const float *dz;
    size_t rows, cols;
} SumJob;

// db[j] += sum over the rows of dz[., j], for columns [16 * b0, 16 * b1):
// each column summed over the rows in order, whatever the split.
static void column_sums_task(void *ctx, size_t b0, size_t b1) {
    const SumJob *j = ctx;
    const size_t j0 = b0 * 16, j1 = b1 * 16 < j->cols ? b1 * 16 : j->cols;
    for (size_t r = 0; r < j->rows; r++) {
        const float *z = j->dz + r * j->cols;
        for (size_t c = j0; c < j1; c++)
            j->db[c] += z[c];
    }
}

// dy (n, units) -> dz = dy * act' (from y; in scratch unless act is linear);
// dw (in_dim, units) += x^T dz; db (units) += sum over rows of dz;
// dx (n, in_dim) += dz w^T. Each of dx, dw, db may be NULL.
void kdl_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const float *y, int n, int in_dim, int units, kdl_Act act,
                        float alpha, float *scratch) {
    if (n <= 0 || units <= 0)
        return;
    size_t un = (size_t)units;
    const float *dz = dy;
    if (act != KDL_ACT_LINEAR) {
        assert(kdl_act_grad_from_output(act, alpha) && scratch && y);
        kdl_act_grad_output(scratch, dy, y, (size_t)n, un, act, alpha);
        dz = scratch;
    }
    if (db) {
        SumJob j = {db, dz, (size_t)n, un};
        kdl_parallel_for((un + 15) / 16, kdl_grain((size_t)n * 16), column_sums_task, &j);
    }
    if (in_dim <= 0)    // no weights and no input gradient (BLAS rejects lda = 0)
        return;
    if (dw)
        kdl_sgemm(1, 0, in_dim, units, n, 1.0f, x, in_dim, dz, units, 1.0f, dw, units);
    if (dx)
        kdl_sgemm(0, 1, n, in_dim, units, 1.0f, dz, units, w, units, 1.0f, dx, in_dim);
}
