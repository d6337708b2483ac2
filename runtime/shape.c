/*
 * shape.c - run-time shapes and the activation-arena plan.
 *
 * Provides the convolution length formulas and the first-fit planner that
 * both kdlc (at compile time, for models whose shapes are all known) and
 * generated code (at create time, for models with None input dimensions,
 * sized for the largest dimensions the caller allows) use, so the two can
 * never disagree.
 */
#include "kdl.h"

// Floor division for a positive divisor.
static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t kdl_max_dim(int64_t a, int64_t b) {
    return a > b ? a : b;
}

int64_t kdl_conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t dilation, int same) {
    int64_t num = same ? in - 1 : in - dilation * (k - 1) - 1;
    return floordiv(num, stride) + 1;
}

int64_t kdl_deconv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t dilation, int same,
                           int64_t output_padding) {
    int64_t keff = (k - 1) * dilation + 1, op = output_padding;
    if (same && op < 0)
        return in * stride;
    if (!same && op < 0)
        op = (keff > stride ? keff : stride) - keff;
    return (in > 0 ? (in - 1) * stride : 0) + (same ? keff % 2 : keff) + op;
}

int64_t kdl_same_pad(int64_t out, int64_t stride, int64_t k, int64_t dilation, int64_t in) {
    int64_t total = (out - 1) * stride + (k - 1) * dilation + 1 - in;
    return total > 0 ? total / 2 : 0;
}

size_t kdl_plan_arena(int n, const size_t *size, const int *def, const int *last, size_t *offset) {
    size_t peak = 0;
    for (int i = 0; i < n; i++) {
        size_t off = 0;
        // Move past every earlier live, overlapping buffer until none is
        // left (offsets only grow, so this ends).
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                int live = !(last[j] < def[i] || last[i] < def[j]);
                if (live && off < offset[j] + size[j] && offset[j] < off + size[i]) {
                    off = offset[j] + size[j];
                    moved = 1;
                }
            }
        }
        offset[i] = off;
        if (off + size[i] > peak)
            peak = off + size[i];
    }
    return peak;
}

int64_t kdl_dim_mul(int64_t a, int64_t b) {
    if (a == 0 || b == 0)
        return 0;
    // Magnitudes as unsigned (no overflow for INT64_MIN either).
    uint64_t ua = a < 0 ? 0 - (uint64_t)a : (uint64_t)a, ub = b < 0 ? 0 - (uint64_t)b : (uint64_t)b;
    int negative = (a < 0) != (b < 0);
    if (ua > (uint64_t)INT64_MAX / ub)
        return negative ? -INT64_MAX : INT64_MAX;
    int64_t r = (int64_t)(ua * ub);
    return negative ? -r : r;
}
