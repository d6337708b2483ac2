/*
 * norm.c - normalization at inference: BatchNormalization with its moving
 * statistics, LayerNormalization with per-row statistics.
 *
 * Both fold the normalization into one multiply-add per element, as Keras's
 * backends do (inv = gamma / sqrt(var + eps); out = x * inv + (beta -
 * mean * inv) for batch norm). Layer norm's variance is the biased one
 * (divide by cols), computed in a second pass around the mean, which is
 * stabler than E[x^2] - E[x]^2 and costs one more vectorised read of a row
 * that is already in cache.
 */
#include "kdl.h"

#include <math.h>

// Channels whose scale and shift are folded at a time (on the stack).
#define BN_CHUNK 256

// in (rows, c), gamma/beta/mean/var (c) -> out (rows, c); gamma/beta may be NULL.
void kdl_batchnorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           const float *mean, const float *var, float eps, size_t rows, int c) {
    float scale[BN_CHUNK], shift[BN_CHUNK];
    size_t cs = (size_t)(c > 0 ? c : 0);
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        size_t cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        for (size_t j = 0; j < cn; j++) {
            float inv = 1.0f / sqrtf(var[c0 + j] + eps);
            if (gamma)
                inv *= gamma[c0 + j];
            scale[j] = inv;
            shift[j] = (beta ? beta[c0 + j] : 0.0f) - mean[c0 + j] * inv;
        }
        for (size_t r = 0; r < rows; r++) {
            float *o = out + r * cs + c0;
            const float *x = in + r * cs + c0;
            for (size_t j = 0; j < cn; j++)
                o[j] = x[j] * scale[j] + shift[j];
        }
    }
}

// Sum of x (n) in 8 independent partial sums: the compiler keeps them in one
// vector register, and each partial sum runs over n / 8 terms only.
static float sum8(const float *x, size_t n) {
    float acc[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += x[j + k];
    float tail = 0.0f;
    for (; j < n; j++)
        tail += x[j];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

// Sum of (x - m)^2 over x (n), as sum8.
static float sumsq8(const float *x, size_t n, float m) {
    float acc[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) {
            float d = x[j + k] - m;
            acc[k] += d * d;
        }
    float tail = 0.0f;
    for (; j < n; j++) {
        float d = x[j] - m;
        tail += d * d;
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

// in (rows, cols), gamma/beta (cols) or NULL -> out (rows, cols):
// out = (x - mean) / sqrt(var + eps) * gamma + beta, mean and biased var per row.
void kdl_layernorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           float eps, size_t rows, int cols) {
    if (cols <= 0)
        return;
    size_t n = (size_t)cols;
    for (size_t r = 0; r < rows; r++) {
        const float *x = in + r * n;
        float *o = out + r * n;
        float mean = sum8(x, n) / (float)n;
        float var = sumsq8(x, n, mean) / (float)n;
        float inv = 1.0f / sqrtf(var + eps);
        if (gamma && beta)
            for (size_t j = 0; j < n; j++)
                o[j] = (x[j] - mean) * (inv * gamma[j]) + beta[j];
        else if (gamma)
            for (size_t j = 0; j < n; j++)
                o[j] = (x[j] - mean) * (inv * gamma[j]);
        else if (beta)
            for (size_t j = 0; j < n; j++)
                o[j] = (x[j] - mean) * inv + beta[j];
        else
            for (size_t j = 0; j < n; j++)
                o[j] = (x[j] - mean) * inv;
    }
}
