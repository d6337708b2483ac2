/*
 * pool.c - MaxPooling/AveragePooling 1-D and 2-D and the global poolings,
 * over NHWC tensors (1-D: h = kh = sh = 1, pad_top = 0).
 *
 * The window geometry comes in a kdl_ConvShape: kh/kw the pool size, sh/sw
 * the strides, oh/ow and pad_top/pad_left computed by the compiler with the
 * conv rules in conv.c ("valid": no padding; "same": total =
 * max((out - 1) * s + k - in, 0), pad_before = total / 2). dh/dw, groups,
 * depth_multiplier and f are ignored (f == c). As in Keras/TF, padding
 * cells never take part: the max is over the window's valid cells and the
 * average divides by their count, not by kh*kw.
 *
 * A window is reduced into its output pixel's row of c channels, two input
 * cells per pass (o = max(o, max(a, b))), so the channel loop is long and
 * the per-cell overhead small. Channel loops run in fixed blocks of 16 so
 * that they vectorise even at -O2 (GCC's -O2 cost model leaves loops with
 * an unknown trip count scalar).
 *
 * Training: kdl_pool2d_backward and kdl_global_pool_backward accumulate
 * into dx. Max routes each output's gradient to the first maximal valid
 * cell of its window (row-major order, found again from x); average
 * spreads it over the valid cells, divided by their count as the forward.
 * Large calls are split over the thread pool; see "the thread pool" below.
 */
#include "internal.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

// Run STMT for j in [0, c): blocks of 16 (a fixed trip count the vectoriser
// accepts at -O2), then the remainder one by one.
#define CHANNEL_LOOP(c, STMT)                                                                     \
    do {                                                                                          \
        int j0_ = 0;                                                                              \
        for (; j0_ + 16 <= (c); j0_ += 16)                                                        \
            for (int k_ = 0; k_ < 16; k_++) {                                                     \
                const int j = j0_ + k_;                                                           \
                STMT;                                                                             \
            }                                                                                     \
        for (int j = j0_; j < (c); j++)                                                           \
            STMT;                                                                                 \
    } while (0)

#define MAX(x, y) ((y) > (x) ? (y) : (x))

// Row operations over c channels; o never aliases a or b.
static void max_init2(float *restrict o, const float *restrict a, const float *restrict b, int c) {
    CHANNEL_LOOP(c, o[j] = MAX(a[j], b[j]));
}
static void max_acc2(float *restrict o, const float *restrict a, const float *restrict b, int c) {
    CHANNEL_LOOP(c, o[j] = MAX(o[j], MAX(a[j], b[j])));
}
static void max_acc1(float *restrict o, const float *restrict a, int c) {
    CHANNEL_LOOP(c, o[j] = MAX(o[j], a[j]));
}
static void sum_init2(float *restrict o, const float *restrict a, const float *restrict b, int c) {
    CHANNEL_LOOP(c, o[j] = a[j] + b[j]);
}
static void sum_acc2(float *restrict o, const float *restrict a, const float *restrict b, int c) {
    CHANNEL_LOOP(c, o[j] = o[j] + a[j] + b[j]);
}
static void sum_acc1(float *restrict o, const float *restrict a, int c) {
    CHANNEL_LOOP(c, o[j] = o[j] + a[j]);
}
static void divide(float *restrict o, float d, int c) {
    CHANNEL_LOOP(c, o[j] = o[j] / d);         // sum / count, as TF's AvgPool
}

// o (c) = max or mean of the ny x nx cells p[iy*sy + ix*c + (0..c)], ny, nx >= 1.
static void pool_window(float *o, const float *p, ptrdiff_t sy, int c, int ny, int nx, int max) {
    for (int iy = 0; iy < ny; iy++) {
        const float *r = p + iy * sy;
        int ix = 0;
        if (iy == 0 && nx >= 2) {
            if (max)
                max_init2(o, r, r + c, c);
            else
                sum_init2(o, r, r + c, c);
            ix = 2;
        } else if (iy == 0) {
            memcpy(o, r, sizeof(float) * c);
            ix = 1;
        }
        for (; ix + 2 <= nx; ix += 2) {
            const float *a = r + (ptrdiff_t)ix * c, *b = a + c;
            if (max)
                max_acc2(o, a, b, c);
            else
                sum_acc2(o, a, b, c);
        }
        if (ix < nx) {
            if (max)
                max_acc1(o, r + (ptrdiff_t)ix * c, c);
            else
                sum_acc1(o, r + (ptrdiff_t)ix * c, c);
        }
    }
    if (!max && ny * nx > 1)
        divide(o, (float)ny * (float)nx, c);
}

// Window [i0, i0 + k) of an axis of size n, clipped to the valid cells [lo, hi).
static void clip(int i0, int k, int n, int *lo, int *hi) {
    int l = i0 < 0 ? 0 : i0;
    int h = i0 + k < n ? i0 + k : n;
    *lo = l;
    *hi = h > l ? h : l;
}

// in (n, h, w, c) -> out (n, oh, ow, c)
// out[b, y, x, ch] = max or mean of in[b, iy, ix, ch] over the valid cells
// iy in [y*sh - pad_top, + kh), ix in [x*sw - pad_left, + kw). A window with
// no valid cell (impossible for Keras's shapes) gives 0.
// The thread pool splits the forward passes by output rows (global: by
// batch elements) and the backward passes by batch elements (by output rows
// when windows do not overlap vertically): every output cell, and every
// gradient cell's sum, is then computed by one thread in the serial order.
typedef struct PoolJob {
    float *out;
    const float *in, *dy;
    const kdl_ConvShape *s;
    int spatial, c;         // global pooling
    int max;
} PoolJob;

// Output rows [r0, r1) of the flattened (n, oh).
static void pool_rows_task(void *ctx, size_t r0, size_t r1) {
    const PoolJob *j = ctx;
    const kdl_ConvShape *s = j->s;
    const int c = s->c, w = s->w;
    const size_t img = (size_t)s->h * w * c;
    const ptrdiff_t sy = (ptrdiff_t)w * c;
    for (size_t r = r0; r < r1; r++) {
        const int y = (int)(r % (size_t)s->oh);
        const float *src = j->in + r / (size_t)s->oh * img;
        int y_lo, y_hi;
        clip(y * s->sh - s->pad_top, s->kh, s->h, &y_lo, &y_hi);
        for (int x = 0; x < s->ow; x++) {
            float *o = j->out + (r * s->ow + x) * c;
            int x_lo, x_hi;
            clip(x * s->sw - s->pad_left, s->kw, w, &x_lo, &x_hi);
            if (y_hi == y_lo || x_hi == x_lo) {
                memset(o, 0, sizeof(float) * c);
                continue;
            }
            const float *p = src + ((size_t)y_lo * w + x_lo) * c;  // first valid cell
            pool_window(o, p, sy, c, y_hi - y_lo, x_hi - x_lo, j->max);
        }
    }
}

void kdl_pool2d_forward(float *out, const float *in, const kdl_ConvShape *s, kdl_Pool kind) {
    PoolJob j = {out, in, NULL, s, 0, 0, kind == KDL_POOL_MAX};
    const size_t row_cost = (size_t)s->ow * s->kh * s->kw * s->c;
    kdl_parallel_for((size_t)s->n * s->oh, kdl_grain(row_cost), pool_rows_task, &j);
}

static void global_task(void *ctx, size_t b0, size_t b1) {
    const PoolJob *j = ctx;
    for (size_t b = b0; b < b1; b++)
        pool_window(j->out + b * j->c, j->in + b * j->spatial * j->c, 0, j->c, 1, j->spatial,
                    j->max);
}

// in (n, spatial, c) -> out (n, c): max or mean over the spatial positions
// (GlobalMax/AveragePooling1D/2D; spatial = h*w or steps), spatial >= 1:
// one window of 1 x spatial cells per batch element.
void kdl_global_pool_forward(float *out, const float *in, int n, int spatial, int c,
                             kdl_Pool kind) {
    assert(spatial >= 1);
    PoolJob j = {out, in, NULL, NULL, spatial, c, kind == KDL_POOL_MAX};
    kdl_parallel_for((size_t)(n > 0 ? n : 0), kdl_grain((size_t)spatial * c), global_task, &j);
}

// GlobalAveragePooling1D with a mask (n, t): out[b] = sum of the unmasked
// steps / their count, as Keras (a row with every step masked gives 0/0).
void kdl_global_avg_pool1d_masked(float *out, const float *in, const float *mask, int n, int t,
                                  int c) {
    for (size_t b = 0; b < (size_t)(n > 0 ? n : 0); b++) {
        float *o = out + b * (size_t)c;
        const float *m = mask + b * (size_t)t;
        float count = 0.0f;
        for (int j = 0; j < c; j++)
            o[j] = 0.0f;
        for (int s = 0; s < t; s++) {
            if (m[s] == 0.0f)
                continue;
            const float *x = in + (b * (size_t)t + (size_t)s) * (size_t)c;
            count += 1.0f;
            for (int j = 0; j < c; j++)
                o[j] += x[j];
        }
        for (int j = 0; j < c; j++)
            o[j] /= count;
    }
}

// Its backward: dx[b, s] += dy[b] / count for the unmasked steps s.
void kdl_global_avg_pool1d_masked_backward(float *dx, const float *dy, const float *mask, int n,
                                           int t, int c) {
    if (!dx)
        return;
    for (size_t b = 0; b < (size_t)(n > 0 ? n : 0); b++) {
        const float *m = mask + b * (size_t)t, *g = dy + b * (size_t)c;
        float count = 0.0f;
        for (int s = 0; s < t; s++)
            count += m[s] != 0.0f;
        for (int s = 0; s < t; s++) {
            if (m[s] == 0.0f)
                continue;
            float *d = dx + (b * (size_t)t + (size_t)s) * (size_t)c;
            for (int j = 0; j < c; j++)
                d[j] += g[j] / count;
        }
    }
}

// ---- training: backward ----------------------------------------------------------------------
//
// Both accumulate into dx (dx += ..., NULL: nothing to do). The max pools
// find each window's argmax again from x, channel by channel, with a strict
// "greater than" scan in row-major window order, so the first maximal cell
// wins ties.

#define ARG_CHUNK 64

// d (c) += g (c) * a
static void add_scaled(float *restrict d, const float *restrict g, float a, int c) {
    CHANNEL_LOOP(c, d[j] += g[j] * a);
}

// d (cn) += g (cn) where arg == k, += +0 elsewhere (g's bits masked, so an
// infinite g never turns into 0 * inf = NaN in another cell).
static void masked_add(float *restrict d, const float *restrict g, const int32_t *restrict arg,
                       int32_t k, int cn) {
    for (int j = 0; j < cn; j++) {
        uint32_t u;
        memcpy(&u, &g[j], sizeof u);
        u &= -(uint32_t)(arg[j] == k);
        float v;
        memcpy(&v, &u, sizeof v);
        d[j] += v;
    }
}

// Max window backward: for each channel, the first maximal cell of the
// ny x nx cells p[iy*sy + ix*c + (0..c)] (ny, nx >= 1) gets g; dx points at
// the window's first cell in the gradient image. ARG_CHUNK channels at a
// time, the scan keeps each channel's best value and its cell k = iy*nx + ix;
// a second pass over the cells then adds g at the argmax (masked_add). Both
// passes are branch-free and vectorise (a per-channel indexed store would
// need a division per channel). The index update uses a bit mask because
// GCC 12 (-ftrapping-math) if-converts the float max but not an integer
// select on a float compare.
static void max_window_backward(float *dx, const float *p, const float *g, ptrdiff_t sy, int c,
                                int ny, int nx) {
    float best[ARG_CHUNK];
    int32_t arg[ARG_CHUNK];
    for (int j0 = 0; j0 < c; j0 += ARG_CHUNK) {
        const int cn = c - j0 < ARG_CHUNK ? c - j0 : ARG_CHUNK;
        for (int j = 0; j < cn; j++) {
            best[j] = p[j0 + j];
            arg[j] = 0;
        }
        for (int iy = 0; iy < ny; iy++)
            for (int ix = iy == 0; ix < nx; ix++) {
                const float *restrict v = p + (iy * sy + (ptrdiff_t)ix * c + j0);
                const int32_t k = iy * nx + ix;
                for (int j = 0; j < cn; j++) {
                    const float b = best[j], x = v[j];
                    const int32_t m = -(int32_t)(x > b);
                    arg[j] = (arg[j] & ~m) | (k & m);
                    best[j] = x > b ? x : b;
                }
            }
        for (int iy = 0; iy < ny; iy++)
            for (int ix = 0; ix < nx; ix++)
                masked_add(dx + (iy * sy + (ptrdiff_t)ix * c + j0), g + j0, arg, iy * nx + ix,
                           cn);
    }
}

// Average window backward: every one of the ny x nx cells gets g / (ny*nx).
static void avg_window_backward(float *dx, const float *g, ptrdiff_t sy, int c, int ny, int nx) {
    const float a = 1.0f / ((float)ny * (float)nx);
    for (int iy = 0; iy < ny; iy++)
        for (int ix = 0; ix < nx; ix++)
            add_scaled(dx + iy * sy + (ptrdiff_t)ix * c, g, a, c);
}

// dy (n, oh, ow, c), x (n, h, w, c) -> dx (n, h, w, c) += ...; the windows
// as kdl_pool2d_forward (valid cells only). Max: each output's gradient goes
// to the first maximal valid cell of its window, in row-major window order;
// average: it is spread evenly over the window's valid cells. y is not read.
// Output rows [r0, r1) of the flattened (n, oh) scatter into dx.
static void pool_back_rows(const PoolJob *j, size_t r0, size_t r1) {
    const kdl_ConvShape *s = j->s;
    const int c = s->c, w = s->w;
    const size_t img = (size_t)s->h * w * c;
    const ptrdiff_t sy = (ptrdiff_t)w * c;
    for (size_t r = r0; r < r1; r++) {
        const int oy = (int)(r % (size_t)s->oh);
        const float *src = j->in + r / (size_t)s->oh * img;
        float *dsrc = j->out + r / (size_t)s->oh * img;
        int y_lo, y_hi;
        clip(oy * s->sh - s->pad_top, s->kh, s->h, &y_lo, &y_hi);
        for (int ox = 0; ox < s->ow; ox++) {
            const float *g = j->dy + (r * s->ow + ox) * c;
            int x_lo, x_hi;
            clip(ox * s->sw - s->pad_left, s->kw, w, &x_lo, &x_hi);
            if (y_hi == y_lo || x_hi == x_lo)
                continue;       // no valid cell: the forward wrote a constant 0
            const size_t first = ((size_t)y_lo * w + x_lo) * c;
            if (j->max)
                max_window_backward(dsrc + first, src + first, g, sy, c, y_hi - y_lo,
                                    x_hi - x_lo);
            else
                avg_window_backward(dsrc + first, g, sy, c, y_hi - y_lo, x_hi - x_lo);
        }
    }
}

static void pool_back_rows_task(void *ctx, size_t r0, size_t r1) {
    pool_back_rows(ctx, r0, r1);
}

static void pool_back_images_task(void *ctx, size_t b0, size_t b1) {
    const PoolJob *j = ctx;
    pool_back_rows(j, b0 * j->s->oh, b1 * j->s->oh);
}

void kdl_pool2d_backward(float *dx, const float *dy, const float *x, const float *y,
                         const kdl_ConvShape *s, kdl_Pool kind) {
    if (!dx)
        return;
    PoolJob j = {dx, x, dy, s, 0, 0, kind == KDL_POOL_MAX};
    const size_t row_cost = (size_t)s->ow * s->kh * s->kw * s->c * 2;
    if (s->sh >= s->kh)     // rows of windows are disjoint
        kdl_parallel_for((size_t)s->n * s->oh, kdl_grain(row_cost), pool_back_rows_task, &j);
    else
        kdl_parallel_for((size_t)s->n, kdl_grain(row_cost * s->oh), pool_back_images_task, &j);
}

// dy (n, c), x (n, spatial, c) -> dx (n, spatial, c) += ...: max sends each
// channel's gradient to its first maximal position, average spreads it as
// dy / spatial. y is not read.
static void global_back_task(void *ctx, size_t b0, size_t b1) {
    const PoolJob *j = ctx;
    const size_t img = (size_t)j->spatial * j->c;
    for (size_t b = b0; b < b1; b++) {
        if (j->max)
            max_window_backward(j->out + b * img, j->in + b * img, j->dy + b * j->c, 0, j->c, 1,
                                j->spatial);
        else
            avg_window_backward(j->out + b * img, j->dy + b * j->c, 0, j->c, 1, j->spatial);
    }
}

void kdl_global_pool_backward(float *dx, const float *dy, const float *x, const float *y, int n,
                              int spatial, int c, kdl_Pool kind) {
    if (!dx)
        return;
    assert(spatial >= 1);
    PoolJob j = {dx, x, dy, NULL, spatial, c, kind == KDL_POOL_MAX};
    kdl_parallel_for((size_t)(n > 0 ? n : 0), kdl_grain((size_t)spatial * c * 2),
                     global_back_task, &j);
}
