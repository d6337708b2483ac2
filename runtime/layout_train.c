/*
 * layout_train.c - the backward halves of the layout moves training needs
 * around the channels_first layers and a Softmax over a non-last axis
 * (the compiler runs their channels_last kernels between two
 * kdl_transpose_last2 calls, docs/codegen.md "Layout").
 *
 * A transpose is a permutation of the values, so its backward is the
 * inverse permutation of the gradient: the forward maps in (n, rows, cols)
 * to out (n, cols, rows), the backward adds dout (n, cols, rows) back into
 * din (n, rows, cols). It ACCUMULATES, as every backward kernel (kdl.h):
 * the input may have other readers whose gradients sum into the same din.
 */
#include "internal.h"

#include <stddef.h>

// din (n, rows, cols) += transpose of dout (n, cols, rows).
void kdl_transpose_last2_backward(float *din, const float *dout, int n, int rows, int cols) {
    if (!din)
        return;
    size_t r = (size_t)rows, c = (size_t)cols;
    for (int b = 0; b < n; b++, din += r * c, dout += r * c)
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < c; j++)
                din[i * c + j] += dout[j * r + i];
}
