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
 *
 * Training: batch normalization with batch statistics (per channel over the
 * rows; sums in double, the variance around the mean, both biased as
 * Keras) and its backward through those statistics, the backward of the
 * inference form (a frozen layer), and layer normalization's backward,
 * which recomputes each row's statistics exactly as the forward does.
 * Channel statistics are gathered BN_CHUNK channels at a time in arrays on
 * the stack, row by row, so the inner loops run over contiguous channels.
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

// ---- training ----------------------------------------------------------------------------

// acc[j] += x[r * c + c0 + j] over rows r, for cn channels from c0.
static void col_sums(double *acc, const float *x, size_t rows, size_t c, size_t c0, size_t cn) {
    for (size_t j = 0; j < cn; j++)
        acc[j] = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * c + c0;
        for (size_t j = 0; j < cn; j++)
            acc[j] += xr[j];
    }
}

// in (rows, c) -> out (rows, c) normalized with the batch mean and biased
// variance of each channel; save_mean / save_invstd (c) receive the mean and
// 1 / sqrt(var + eps) (the values used, for kdl_batchnorm_backward);
// moving_mean / moving_var (c) are updated as Keras: m = m * momentum +
// batch * (1 - momentum). Any of save_*, moving_*, gamma, beta may be NULL;
// out may equal in. rows == 0 changes nothing.
void kdl_batchnorm_train_forward(float *out, float *save_mean, float *save_invstd, const float *in,
                                 const float *gamma, const float *beta, float *moving_mean,
                                 float *moving_var, float momentum, float eps, size_t rows, int c) {
    double mean[BN_CHUNK], var[BN_CHUNK];
    float mu[BN_CHUNK], scale[BN_CHUNK], shift[BN_CHUNK];
    size_t cs = (size_t)(c > 0 ? c : 0);
    if (rows == 0)
        return;
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        size_t cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        col_sums(mean, in, rows, cs, c0, cn);
        for (size_t j = 0; j < cn; j++) {
            mean[j] /= (double)rows;
            var[j] = 0.0;
        }
        for (size_t r = 0; r < rows; r++) {
            const float *x = in + r * cs + c0;
            for (size_t j = 0; j < cn; j++) {
                double d = (double)x[j] - mean[j];
                var[j] += d * d;
            }
        }
        for (size_t j = 0; j < cn; j++) {
            var[j] /= (double)rows;
            float m = (float)mean[j];
            float inv = (float)(1.0 / sqrt(var[j] + (double)eps));
            if (save_mean)
                save_mean[c0 + j] = m;
            if (save_invstd)
                save_invstd[c0 + j] = inv;
            if (moving_mean)
                moving_mean[c0 + j] = moving_mean[c0 + j] * momentum + m * (1.0f - momentum);
            if (moving_var)
                moving_var[c0 + j] =
                    moving_var[c0 + j] * momentum + (float)var[j] * (1.0f - momentum);
            mu[j] = m;
            scale[j] = gamma ? inv * gamma[c0 + j] : inv;
            shift[j] = beta ? beta[c0 + j] : 0.0f;
        }
        // (x - mean) * scale + beta: folding the mean into the shift (as
        // inference does) cancels badly when |mean| >> std.
        for (size_t r = 0; r < rows; r++) {
            float *o = out + r * cs + c0;
            const float *x = in + r * cs + c0;
            for (size_t j = 0; j < cn; j++)
                o[j] = (x[j] - mu[j]) * scale[j] + shift[j];
        }
    }
}

// Training-mode backward with the saved statistics, per channel
// (N = rows, xh = (x - mean) * invstd):
//   dbeta += sum dy;  dgamma += sum dy xh;
//   dx += gamma invstd / N (N dy - sum dy - xh sum dy xh).
void kdl_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                            const float *in, const float *gamma, const float *save_mean,
                            const float *save_invstd, size_t rows, int c) {
    double sdy[BN_CHUNK], sdyx[BN_CHUNK];
    float k1[BN_CHUNK], k2[BN_CHUNK], k3[BN_CHUNK];
    size_t cs = (size_t)(c > 0 ? c : 0);
    if (rows == 0)
        return;
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        size_t cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        const float *m = save_mean + c0, *inv = save_invstd + c0;
        col_sums(sdy, dy, rows, cs, c0, cn);
        for (size_t j = 0; j < cn; j++)
            sdyx[j] = 0.0;
        for (size_t r = 0; r < rows; r++) {
            const float *g = dy + r * cs + c0, *x = in + r * cs + c0;
            for (size_t j = 0; j < cn; j++)
                sdyx[j] += (double)g[j] * (double)((x[j] - m[j]) * inv[j]);
        }
        for (size_t j = 0; j < cn; j++) {
            if (dbeta)
                dbeta[c0 + j] += (float)sdy[j];
            if (dgamma)
                dgamma[c0 + j] += (float)sdyx[j];
            // dx = k1 dy + k2 + k3 xh, folded per channel.
            float s = (gamma ? gamma[c0 + j] : 1.0f) * inv[j];
            k1[j] = s;
            k2[j] = (float)(-(double)s * sdy[j] / (double)rows);
            k3[j] = (float)(-(double)s * sdyx[j] / (double)rows);
        }
        if (!dx)
            continue;
        for (size_t r = 0; r < rows; r++) {
            float *d = dx + r * cs + c0;
            const float *g = dy + r * cs + c0, *x = in + r * cs + c0;
            for (size_t j = 0; j < cn; j++)
                d[j] += k1[j] * g[j] + k2[j] + k3[j] * ((x[j] - m[j]) * inv[j]);
        }
    }
}

// Backward of kdl_batchnorm_forward (fixed statistics): per channel, with
// inv = 1 / sqrt(var + eps): dx += dy gamma inv; dgamma += sum dy (x - mean)
// inv; dbeta += sum dy.
void kdl_batchnorm_infer_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *in, const float *gamma, const float *mean,
                                  const float *var, float eps, size_t rows, int c) {
    double sdy[BN_CHUNK], sdyx[BN_CHUNK];
    float inv[BN_CHUNK], s[BN_CHUNK];
    size_t cs = (size_t)(c > 0 ? c : 0);
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        size_t cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        const float *m = mean + c0;
        for (size_t j = 0; j < cn; j++) {
            inv[j] = 1.0f / sqrtf(var[c0 + j] + eps);
            s[j] = gamma ? gamma[c0 + j] * inv[j] : inv[j];
        }
        if (dx)
            for (size_t r = 0; r < rows; r++) {
                float *d = dx + r * cs + c0;
                const float *g = dy + r * cs + c0;
                for (size_t j = 0; j < cn; j++)
                    d[j] += g[j] * s[j];
            }
        if (dbeta) {
            col_sums(sdy, dy, rows, cs, c0, cn);
            for (size_t j = 0; j < cn; j++)
                dbeta[c0 + j] += (float)sdy[j];
        }
        if (dgamma) {
            for (size_t j = 0; j < cn; j++)
                sdyx[j] = 0.0;
            for (size_t r = 0; r < rows; r++) {
                const float *g = dy + r * cs + c0, *x = in + r * cs + c0;
                for (size_t j = 0; j < cn; j++)
                    sdyx[j] += (double)g[j] * (double)((x[j] - m[j]) * inv[j]);
            }
            for (size_t j = 0; j < cn; j++)
                dgamma[c0 + j] += (float)sdyx[j];
        }
    }
}

// Per row of n = cols, with mean, var and inv = 1 / sqrt(var + eps) computed
// as the forward does, xh = (x - mean) inv and g = dy gamma:
//   dx += inv / n (n g - sum g - xh sum g xh);
//   dgamma += dy xh;  dbeta += dy.
// gamma may be NULL (1); dx, dgamma, dbeta may be NULL.
void kdl_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                            const float *in, const float *gamma, float eps, size_t rows, int cols) {
    if (cols <= 0)
        return;
    size_t n = (size_t)cols;
    for (size_t r = 0; r < rows; r++) {
        const float *x = in + r * n, *g = dy + r * n;
        float mean = sum8(x, n) / (float)n;
        float var = sumsq8(x, n, mean) / (float)n;
        float inv = 1.0f / sqrtf(var + eps);
        if (dbeta)
            for (size_t j = 0; j < n; j++)
                dbeta[j] += g[j];
        if (dgamma)
            for (size_t j = 0; j < n; j++)
                dgamma[j] += g[j] * ((x[j] - mean) * inv);
        if (!dx)
            continue;
        double sg = 0.0, sgx = 0.0;
        for (size_t j = 0; j < n; j++) {
            float gj = gamma ? g[j] * gamma[j] : g[j];
            sg += gj;
            sgx += (double)gj * (double)((x[j] - mean) * inv);
        }
        float k2 = (float)(-sg / (double)n), k3 = (float)(-sgx / (double)n);
        float *d = dx + r * n;
        if (gamma)
            for (size_t j = 0; j < n; j++)
                d[j] += inv * (g[j] * gamma[j] + k2 + k3 * ((x[j] - mean) * inv));
        else
            for (size_t j = 0; j < n; j++)
                d[j] += inv * (g[j] + k2 + k3 * ((x[j] - mean) * inv));
    }
}
