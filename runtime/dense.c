/*
 * dense.c - the Dense layer: a GEMM, then bias and activation fused into
 * one pass over the output.
 *
 * Keras's Dense on an N-D input acts on the last axis only, so the caller
 * flattens the leading axes into n. The kernel is stored (in_dim, units) as
 * Keras saves it, so the product is in @ w with no transpose.
 */
#include "internal.h"

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
