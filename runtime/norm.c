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
 * Large calls use the thread pool: row passes split by rows, per-channel
 * sums by channel blocks (every sum keeps its serial order).
 */
#include "internal.h"

#include <math.h>

// Channels whose scale and shift are folded at a time (on the stack).
#define BN_CHUNK 256
// Threads split row passes by rows and per-channel sums by blocks of
// BN_BLOCK channels (each channel summed over the rows in order, so every
// split gives the same bits).
#define BN_BLOCK 16

// A parallel_for over the channel blocks of [0, cn) (cost: rows per channel).
static void channel_blocks(size_t cn, size_t rows, void (*fn)(void *, size_t, size_t), void *ctx) {
    kdl_parallel_for((cn + BN_BLOCK - 1) / BN_BLOCK, kdl_grain(rows * BN_BLOCK), fn, ctx);
}

// Channel block range [b0, b1) as channels [*j0, *j1) of a chunk of cn.
static void block_channels(size_t b0, size_t b1, size_t cn, size_t *j0, size_t *j1) {
    *j0 = b0 * BN_BLOCK;
    *j1 = b1 * BN_BLOCK < cn ? b1 * BN_BLOCK : cn;
}

// What the tasks below share: one chunk of channels [c0, c0 + cn) of (rows, cs).
typedef struct NormJob {
    float *out;
    const float *in, *dy, *gamma, *beta, *mean, *var;
    float *dgamma, *dbeta, *moving_mean, *moving_var, *save_mean, *save_invstd;
    float eps, momentum;
    size_t rows, cs, c0, cn;
    double *s1, *s2;        // per-channel sums of the chunk
    const float *k1, *k2, *k3;  // per-channel factors of the chunk (row passes)
    const float *m, *inv;
    int cols;               // layer norm
    float *stats;           // layer norm: mean, inv per row of the row chunk
} NormJob;

// in (rows, c), gamma/beta/mean/var (c) -> out (rows, c); gamma/beta may be NULL.
// Rows [r0, r1): every chunk's scale and shift (recomputed by each task,
// the same values), then x * scale + shift.
static void bn_infer_task(void *ctx, size_t r0, size_t r1) {
    const NormJob *jb = ctx;
    float scale[BN_CHUNK], shift[BN_CHUNK];
    const size_t cs = jb->cs;
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        size_t cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        for (size_t j = 0; j < cn; j++) {
            float inv = 1.0f / sqrtf(jb->var[c0 + j] + jb->eps);
            if (jb->gamma)
                inv *= jb->gamma[c0 + j];
            scale[j] = inv;
            shift[j] = (jb->beta ? jb->beta[c0 + j] : 0.0f) - jb->mean[c0 + j] * inv;
        }
        for (size_t r = r0; r < r1; r++) {
            float *o = jb->out + r * cs + c0;
            const float *x = jb->in + r * cs + c0;
            for (size_t j = 0; j < cn; j++)
                o[j] = x[j] * scale[j] + shift[j];
        }
    }
}

void kdl_batchnorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           const float *mean, const float *var, float eps, size_t rows, int c) {
    NormJob j = {.out = out, .in = in, .gamma = gamma, .beta = beta, .mean = mean, .var = var,
                 .eps = eps, .rows = rows, .cs = (size_t)(c > 0 ? c : 0)};
    kdl_parallel_for(rows, kdl_grain(j.cs), bn_infer_task, &j);
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
static void ln_forward_task(void *ctx, size_t r0, size_t r1) {
    const NormJob *jb = ctx;
    const float *in = jb->in, *gamma = jb->gamma, *beta = jb->beta;
    float *out = jb->out, eps = jb->eps;
    size_t n = (size_t)jb->cols;
    for (size_t r = r0; r < r1; r++) {
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

void kdl_layernorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           float eps, size_t rows, int cols) {
    if (cols <= 0)
        return;
    NormJob j = {.out = out, .in = in, .gamma = gamma, .beta = beta, .eps = eps, .cols = cols};
    kdl_parallel_for(rows, kdl_grain((size_t)cols * 3), ln_forward_task, &j);
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

// Channels of the chunk: batch mean and biased variance (double), the
// saved statistics, the moving averages, and the factors of the row pass.
static void bn_stats_task(void *ctx, size_t b0, size_t b1) {
    const NormJob *jb = ctx;
    size_t j0, j1;
    block_channels(b0, b1, jb->cn, &j0, &j1);
    const size_t rows = jb->rows, cs = jb->cs, c0 = jb->c0;
    double *mean = jb->s1, *var = jb->s2;
    col_sums(mean + j0, jb->in, rows, cs, c0 + j0, j1 - j0);
    for (size_t j = j0; j < j1; j++) {
        mean[j] /= (double)rows;
        var[j] = 0.0;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *x = jb->in + r * cs + c0;
        for (size_t j = j0; j < j1; j++) {
            double d = (double)x[j] - mean[j];
            var[j] += d * d;
        }
    }
    float *mu = (float *)jb->m, *scale = (float *)jb->k1, *shift = (float *)jb->k2;
    const float momentum = jb->momentum;
    for (size_t j = j0; j < j1; j++) {
        const size_t cj = c0 + j;
        var[j] /= (double)rows;
        float m = (float)mean[j];
        float inv = (float)(1.0 / sqrt(var[j] + (double)jb->eps));
        if (jb->save_mean)
            jb->save_mean[cj] = m;
        if (jb->save_invstd)
            jb->save_invstd[cj] = inv;
        if (jb->moving_mean)
            jb->moving_mean[cj] = jb->moving_mean[cj] * momentum + m * (1.0f - momentum);
        if (jb->moving_var)
            jb->moving_var[cj] = jb->moving_var[cj] * momentum + (float)var[j] * (1.0f - momentum);
        mu[j] = m;
        scale[j] = jb->gamma ? inv * jb->gamma[cj] : inv;
        shift[j] = jb->beta ? jb->beta[cj] : 0.0f;
    }
}

// Rows [r0, r1) of the chunk: (x - mean) * scale + beta. Folding the mean
// into the shift (as inference does) cancels badly when |mean| >> std.
static void bn_apply_task(void *ctx, size_t r0, size_t r1) {
    const NormJob *jb = ctx;
    const float *mu = jb->m, *scale = jb->k1, *shift = jb->k2;
    for (size_t r = r0; r < r1; r++) {
        float *o = jb->out + r * jb->cs + jb->c0;
        const float *x = jb->in + r * jb->cs + jb->c0;
        for (size_t j = 0; j < jb->cn; j++)
            o[j] = (x[j] - mu[j]) * scale[j] + shift[j];
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
    NormJob j = {.out = out, .in = in, .gamma = gamma, .beta = beta, .moving_mean = moving_mean,
                 .moving_var = moving_var, .save_mean = save_mean, .save_invstd = save_invstd,
                 .eps = eps, .momentum = momentum, .rows = rows, .cs = cs, .s1 = mean, .s2 = var,
                 .k1 = scale, .k2 = shift, .m = mu};
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        j.c0 = c0;
        j.cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        channel_blocks(j.cn, rows, bn_stats_task, &j);
        kdl_parallel_for(rows, kdl_grain(j.cn), bn_apply_task, &j);
    }
}

// Channels of the chunk: s1 = sum dy, s2 = sum dy xh, xh = (x - mean) inv
// (the saved statistics m, inv; or, inference form, mean and inv of var).
static void bn_sums_task(void *ctx, size_t b0, size_t b1) {
    const NormJob *jb = ctx;
    size_t j0, j1;
    block_channels(b0, b1, jb->cn, &j0, &j1);
    const size_t cs = jb->cs, c0 = jb->c0;
    if (jb->s1)
        col_sums(jb->s1 + j0, jb->dy, jb->rows, cs, c0 + j0, j1 - j0);
    if (!jb->s2)
        return;
    double *sdyx = jb->s2;
    const float *m = jb->m, *inv = jb->inv;
    for (size_t j = j0; j < j1; j++)
        sdyx[j] = 0.0;
    for (size_t r = 0; r < jb->rows; r++) {
        const float *g = jb->dy + r * cs + c0, *x = jb->in + r * cs + c0;
        for (size_t j = j0; j < j1; j++)
            sdyx[j] += (double)g[j] * (double)((x[j] - m[j]) * inv[j]);
    }
}

// Rows [r0, r1) of the chunk: dx += k1 dy + k2 + k3 xh (k3 NULL: dx += k1 dy).
static void bn_dx_task(void *ctx, size_t r0, size_t r1) {
    const NormJob *jb = ctx;
    const float *k1 = jb->k1, *k2 = jb->k2, *k3 = jb->k3, *m = jb->m, *inv = jb->inv;
    for (size_t r = r0; r < r1; r++) {
        float *d = jb->out + r * jb->cs + jb->c0;
        const float *g = jb->dy + r * jb->cs + jb->c0, *x = jb->in + r * jb->cs + jb->c0;
        if (k3)
            for (size_t j = 0; j < jb->cn; j++)
                d[j] += k1[j] * g[j] + k2[j] + k3[j] * ((x[j] - m[j]) * inv[j]);
        else
            for (size_t j = 0; j < jb->cn; j++)
                d[j] += g[j] * k1[j];
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
    NormJob jb = {.out = dx, .in = in, .dy = dy, .rows = rows, .cs = cs, .s1 = sdy, .s2 = sdyx,
                  .k1 = k1, .k2 = k2, .k3 = k3};
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        size_t cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        const float *m = save_mean + c0, *inv = save_invstd + c0;
        jb.c0 = c0, jb.cn = cn, jb.m = m, jb.inv = inv;
        channel_blocks(cn, rows, bn_sums_task, &jb);
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
        if (dx)
            kdl_parallel_for(rows, kdl_grain(cn * 2), bn_dx_task, &jb);
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
    NormJob jb = {.out = dx, .in = in, .dy = dy, .rows = rows, .cs = cs,
                  .s1 = dbeta ? sdy : NULL, .s2 = dgamma ? sdyx : NULL, .k1 = s, .inv = inv};
    for (size_t c0 = 0; c0 < cs; c0 += BN_CHUNK) {
        size_t cn = cs - c0 < BN_CHUNK ? cs - c0 : BN_CHUNK;
        for (size_t j = 0; j < cn; j++) {
            inv[j] = 1.0f / sqrtf(var[c0 + j] + eps);
            s[j] = gamma ? gamma[c0 + j] * inv[j] : inv[j];
        }
        jb.c0 = c0, jb.cn = cn, jb.m = mean + c0;
        if (dx)
            kdl_parallel_for(rows, kdl_grain(cn), bn_dx_task, &jb);
        if (dbeta || dgamma)
            channel_blocks(cn, rows, bn_sums_task, &jb);
        for (size_t j = 0; j < cn; j++) {
            if (dbeta)
                dbeta[c0 + j] += (float)sdy[j];
            if (dgamma)
                dgamma[c0 + j] += (float)sdyx[j];
        }
    }
}

// Layer norm's backward works on chunks of LN_ROWS rows: first each row's
// statistics (and dx) over the rows, then dgamma and dbeta over column
// blocks, each column summed over the rows in order.
#define LN_ROWS 256

// Rows [r0, r1) of the chunk starting at row c0: mean and inv into stats,
// and dx when wanted.
static void ln_rows_task(void *ctx, size_t r0, size_t r1) {
    const NormJob *jb = ctx;
    const size_t n = (size_t)jb->cols;
    const float *gamma = jb->gamma;
    for (size_t i = r0; i < r1; i++) {
        const size_t r = jb->c0 + i;
        const float *x = jb->in + r * n, *g = jb->dy + r * n;
        float mean = sum8(x, n) / (float)n;
        float var = sumsq8(x, n, mean) / (float)n;
        float inv = 1.0f / sqrtf(var + jb->eps);
        jb->stats[2 * i] = mean, jb->stats[2 * i + 1] = inv;
        if (!jb->out)
            continue;
        double sg = 0.0, sgx = 0.0;
        for (size_t j = 0; j < n; j++) {
            float gj = gamma ? g[j] * gamma[j] : g[j];
            sg += gj;
            sgx += (double)gj * (double)((x[j] - mean) * inv);
        }
        float k2 = (float)(-sg / (double)n), k3 = (float)(-sgx / (double)n);
        float *d = jb->out + r * n;
        if (gamma)
            for (size_t j = 0; j < n; j++)
                d[j] += inv * (g[j] * gamma[j] + k2 + k3 * ((x[j] - mean) * inv));
        else
            for (size_t j = 0; j < n; j++)
                d[j] += inv * (g[j] + k2 + k3 * ((x[j] - mean) * inv));
    }
}

// Column blocks of the chunk's rows: dbeta += dy, dgamma += dy xh.
static void ln_params_task(void *ctx, size_t b0, size_t b1) {
    const NormJob *jb = ctx;
    size_t j0, j1;
    block_channels(b0, b1, (size_t)jb->cols, &j0, &j1);
    const size_t n = (size_t)jb->cols;
    for (size_t i = 0; i < jb->cn; i++) {
        const size_t r = jb->c0 + i;
        const float *x = jb->in + r * n, *g = jb->dy + r * n;
        const float mean = jb->stats[2 * i], inv = jb->stats[2 * i + 1];
        if (jb->dbeta)
            for (size_t j = j0; j < j1; j++)
                jb->dbeta[j] += g[j];
        if (jb->dgamma)
            for (size_t j = j0; j < j1; j++)
                jb->dgamma[j] += g[j] * ((x[j] - mean) * inv);
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
    float stats[2 * LN_ROWS];
    NormJob jb = {.out = dx, .in = in, .dy = dy, .gamma = gamma, .dgamma = dgamma,
                  .dbeta = dbeta, .eps = eps, .cols = cols, .stats = stats};
    for (size_t r0 = 0; r0 < rows; r0 += LN_ROWS) {
        jb.c0 = r0;
        jb.cn = rows - r0 < LN_ROWS ? rows - r0 : LN_ROWS;
        kdl_parallel_for(jb.cn, kdl_grain((size_t)cols * 4), ln_rows_task, &jb);
        if (dgamma || dbeta)
            channel_blocks((size_t)cols, jb.cn, ln_params_task, &jb);
    }
}
