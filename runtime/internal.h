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

// out (rows, cols) = act(out + b (cols)), b broadcast over the rows and may
// be NULL. SOFTMAX / LOG_SOFTMAX run per row (over the last axis, cols).
// Defined in act.c.
void kdl_bias_act_forward(float *out, const float *b, size_t rows, size_t cols, kdl_Act act,
                          float alpha);

#endif
