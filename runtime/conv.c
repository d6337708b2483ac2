/*
 * conv.c - Conv1D/2D (groups, dilation), DepthwiseConv2D and Conv2DTranspose
 * forward and backward over NHWC tensors (1-D: h = kh = sh = dh = 1, pad_top = 0).
 *
 * Conv2D with stride 1 and one group, on a CPU with AVX-512, is a direct
 * convolution in register tiles (kdl_tile_gemm, gemm.c) over a zero-padded
 * copy of the input, forward and backward: no im2col and no GEMM call; see
 * "direct convolution" below. Otherwise Conv2D lowers to GEMM. A 1x1,
 * stride-1, unpadded conv is a GEMM on the
 * input itself, (n*h*w, c) @ (c, f). Anything else gathers blocks of output
 * rows into an im2col buffer (the caller's scratch, kdl_conv2d_scratch
 * floats) with the channels of each tap contiguous, then runs one kdl_sgemm
 * per group. Depthwise is direct loops over channel blocks held in
 * registers. The transposed conv multiplies input pixels by every tap with
 * GEMMs and scatter-adds the products into the output. Each layer's bias +
 * activation run as one pass over output that is still in cache
 * (kdl_bias_act_forward, internal.h).
 *
 * Training (the *_backward kernels, accumulating into dx, dw, db): Conv2D
 * reuses the forward's blocks and im2col layout, dw += col^T dz and dx +=
 * col2im(dz W^T) with GEMMs; depthwise is direct loops; the transposed
 * conv's gradients are GEMMs on the im2col of dz for the conv it is the
 * adjoint of.
 *
 * Threads (kdl_parallel_for, threads.c): the direct path splits output rows
 * and weight-gradient tiles; im2col by rows; col2im and the transposed
 * conv's scatter by images; depthwise by output rows (forward) and channel
 * blocks (backward). kdl_sgemm runs on the calling thread only. Every
 * element is computed by one thread in a fixed order, so results do not
 * depend on the thread count.
 *
 * Padding contract: kernels never see Keras's padding strings. The compiler
 * passes oh, ow and the padding before the first row and column, and the
 * kernels zero-pad implicitly (out-of-range taps are skipped), so the padding
 * after the last row/column follows from oh/ow. See "Padding" below.
 */
#include "internal.h"

#include <assert.h>
#include <string.h>

/*
 * Padding: how the compiler fills kdl_ConvShape, per spatial axis with
 * input size in, kernel k, stride s, dilation d, k_eff = (k - 1) * d + 1:
 *
 *   "valid"   out = (in - k_eff) / s + 1                 pad_before = 0
 *   "same"    out = (in - 1) / s + 1                     pad_before = total / 2,
 *             total = max((out - 1) * s + k_eff - in, 0)  (TF/Keras put the odd
 *             cell after, so pad_before = total // 2, rounded down)
 *   "causal"  (Conv1D only) out = (in - 1) / s + 1       pad_left = d * (k - 1)
 *
 * Pooling uses the same rules with d = 1 (kdl_pool2d_forward, pool.c).
 *
 * Conv2DTranspose is the adjoint of a conv from the transpose's output
 * (oh, ow, f) to its input (h, w, c), so its pads are that conv's pads:
 * the compiler computes oh as Keras does (valid: h*s + max(k_eff - s, 0);
 * same: h*s; plus output_padding when given), then
 *
 *   "valid"   pad_top = 0
 *   "same"    pad_top = max((h - 1) * s + k_eff - oh, 0) / 2
 *
 * which is TF's conv2d_transpose rule and agrees with Keras 3's JAX padding
 * arguments (left_pad = k_eff - 1 - pad_top).
 */

// Conv2D works on blocks of output rows: the im2col block (2 MB) and the
// output block (512 KB) stay in cache between the im2col, the GEMM and the
// bias + activation pass, and a block has at least 256 rows so each GEMM is
// big enough to run at full speed.
#define COL_BLOCK_FLOATS ((size_t)1 << 19)
#define OUT_BLOCK_FLOATS ((size_t)1 << 17)
#define MIN_BLOCK_ROWS ((size_t)256)

static size_t min_size(size_t a, size_t b) {
    return a < b ? a : b;
}

// 1x1, stride 1, no padding: the input (n*h*w, c) is already the im2col matrix.
static int is_pointwise(const kdl_ConvShape *s) {
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pad_top == 0 &&
           s->pad_left == 0 && s->oh == s->h && s->ow == s->w;
}

// Output rows (pixels of the flattened (n, oh, ow)) per block: the output
// block, and the im2col block unless pointwise, near their targets.
static size_t block_rows(const kdl_ConvShape *s) {
    size_t total = (size_t)s->n * s->oh * s->ow;
    size_t rows = OUT_BLOCK_FLOATS / (size_t)s->f;
    if (!is_pointwise(s))
        rows = min_size(rows, COL_BLOCK_FLOATS / ((size_t)s->kh * s->kw * s->c));
    if (rows < MIN_BLOCK_ROWS)
        rows = MIN_BLOCK_ROWS;
    rows = min_size(rows, total);
    return min_size(rows, (size_t)1 << 30);     // kdl_sgemm's m is an int
}

// The taps k in [0, kn) whose input coordinate i0 + k*d lies in [0, n) form
// the range [*lo, *hi) (empty when *lo == *hi).
static void tap_range(int i0, int d, int kn, int n, int *lo, int *hi) {
    int l = i0 >= 0 ? 0 : (-i0 + d - 1) / d;
    int h = i0 > n - 1 ? 0 : (n - 1 - i0) / d + 1;
    l = l < kn ? l : kn;
    h = h < kn ? h : kn;
    *lo = l;
    *hi = h > l ? h : l;
}

// ---- direct convolution (register tiles) ---------------------------------------------------
//
// With AVX-512 (kdl_tile_available) a stride-1, one-group convolution skips
// im2col and the GEMM call. The input is copied once into zero-padded
// images of (ph, pw) = (oh + (kh-1)*dh, ow + (kw-1)*dw) pixels (or used as
// it is when it needs no padding: "valid", 1x1), and each output row is
// computed in register tiles of up to 12 pixels x 32 filters
// (kdl_tile_gemm): output pixel (oy, ox) reads padded pixels (oy + ky*dh,
// ox + kx*dw), so within tap row ky (and dw == 1) the taps kx and channels
// ci of a pixel are kw*c consecutive floats, in the order of w's rows: the
// tile is a GEMM with K = kh segments of kw*c, A's rows c floats apart.
// Bias and ReLU are applied as the tile is stored.
//
// Backward, the same tiles: dz = dy * act' goes into zero-padded images of
// the input's size plus the taps; dx += the conv of those with w flipped
// (kh-1-ky, kw-1-kx) and transposed per tap (f <-> c), the gather form of
// the adjoint of a stride-1 conv; dw, whose rows (ky, kx, ci) are again kw*c
// consecutive floats of a padded pixel row, += tiles over the pixels of the
// padded x and dz (ai = 1, ak = c), one partial sum per group of images;
// db += the sum of per-image column sums. Each output element is computed
// by one tile in a fixed order, so the work is split over threads by output
// rows and dw tiles with results that do not depend on the thread count.
// Images are processed in blocks of at most DIRECT_BLOCK_FLOATS of padded
// data (the scratch), so it stays in the caches between the passes.

#define DIRECT_BLOCK_FLOATS ((size_t)1 << 21)
#define DIRECT_MAX_K 4096       // longer K: the weight panel no longer fits L2
#define DW_GROUP_PIXELS 256     // dw sums at least this many pixels per partial sum
#define TILE_MACS 16            // multiply-adds of a tile per kdl_grain unit (a float copied)

typedef struct Direct {
    const kdl_ConvShape *s;
    int ph, pw;             // padded input image
    int copy;               // the input needs the padded copy
    int zph, zpw, zt, zl;   // backward: padded dz image, dz's first row and column in it
    size_t xsz, zsz;        // floats per padded image
    int blk;                // images per block
} Direct;

static Direct direct_geometry(const kdl_ConvShape *s, int backward) {
    Direct d = {.s = s};
    d.ph = s->oh + (s->kh - 1) * s->dh;
    d.pw = s->ow + (s->kw - 1) * s->dw;
    d.copy = !(s->pad_top == 0 && s->pad_left == 0 && d.ph == s->h && d.pw == s->w);
    d.zph = s->h + (s->kh - 1) * s->dh;
    d.zpw = s->w + (s->kw - 1) * s->dw;
    d.zt = (s->kh - 1) * s->dh - s->pad_top;
    d.zl = (s->kw - 1) * s->dw - s->pad_left;
    d.xsz = (size_t)d.ph * d.pw * s->c;
    d.zsz = (size_t)d.zph * d.zpw * s->f;
    size_t per = (d.copy || backward ? d.xsz : 0) + (backward ? d.zsz + (size_t)s->f : 0);
    size_t blk = per ? DIRECT_BLOCK_FLOATS / per : (size_t)s->n;
    blk = blk < 1 ? 1 : blk;
    d.blk = (int)min_size(blk, (size_t)(s->n > 0 ? s->n : 1));
    return d;
}

// Scratch floats for n images of per floats in blocks of d.blk images:
// min(n * per, max(BLOCK, per)) >= blk * per. Unlike blk * per it never
// decreases as n or per grow (a generated model with run-time dimensions
// checks each call's scratch against the size it allocated).
static size_t block_scratch(size_t n, size_t per) {
    const size_t cap = per > DIRECT_BLOCK_FLOATS ? per : DIRECT_BLOCK_FLOATS;
    return n * per < cap ? n * per : cap;
}

static int direct_ok(const kdl_ConvShape *s) {
    return s->groups == 1 && s->sh == 1 && s->sw == 1 && s->pad_top >= 0 && s->pad_left >= 0 &&
           s->oh > 0 && s->ow > 0 && (size_t)s->kh * s->kw * s->c <= DIRECT_MAX_K &&
           kdl_tile_available();
}

// The backward also needs dz to sit inside its padded image (true for
// Keras's paddings; an extra pad larger than the kernel is not).
static int direct_backward_ok(const kdl_ConvShape *s) {
    if (!direct_ok(s) || (size_t)s->kh * s->kw * s->f > DIRECT_MAX_K)
        return 0;
    Direct d = direct_geometry(s, 1);
    return d.zt >= 0 && d.zl >= 0 && d.zt + s->oh <= d.zph && d.zl + s->ow <= d.zpw;
}

// Padded row py (pw * c floats) of an (h, w, c) image whose pixel (iy, ix)
// sits at (iy + top, ix + left); zeros elsewhere.
static void pad_row(float *dst, const float *img, int h, int w, int c, int pw, int top, int left,
                    int py) {
    const int iy = py - top;
    if (iy < 0 || iy >= h) {
        memset(dst, 0, sizeof(float) * (size_t)pw * c);
        return;
    }
    const int lo = left < pw ? left : pw, hi0 = left + w < pw ? left + w : pw;
    const int hi = hi0 > lo ? hi0 : lo;
    memset(dst, 0, sizeof(float) * (size_t)lo * c);
    memcpy(dst + (size_t)lo * c, img + ((size_t)iy * w + (lo - left)) * c,
           sizeof(float) * (size_t)(hi - lo) * c);
    memset(dst + (size_t)hi * c, 0, sizeof(float) * (size_t)(pw - hi) * c);
}

// One row of tiles: orow (ow, co) (=, +=) the conv of the padded rows from
// arow (row stride rs floats, pixel stride ci) with wt (kh, kw, ci, co);
// mode, bias and relu as kdl_Tile. The forward and dx's flipped conv.
static void tile_row(float *orow, const float *arow, const float *wt, int ow, int ci, int co,
                     const kdl_ConvShape *s, ptrdiff_t rs, kdl_TileMode mode, const float *bias,
                     int relu) {
    kdl_Tile t = {0};
    t.n1 = s->kh, t.a1 = s->dh * rs, t.b1 = (ptrdiff_t)s->kw * ci * co;
    if (s->dw == 1)
        t.n2 = 1, t.len = s->kw * ci;
    else
        t.n2 = s->kw, t.a2 = (ptrdiff_t)s->dw * ci, t.b2 = (ptrdiff_t)ci * co, t.len = ci;
    t.ak = 1, t.ai = ci, t.bk = co, t.ldc = co;
    t.mode = mode, t.relu = relu, t.alpha = 1.0f, t.beta = 1.0f;
    const int ntx = (ow + KDL_TILE_MR - 1) / KDL_TILE_MR;
    for (int j = 0; j < ntx; j++) {
        const int x0 = ow * j / ntx, x1 = ow * (j + 1) / ntx;
        for (int f0 = 0; f0 < co; f0 += 32) {
            const int nf = co - f0 < 32 ? co - f0 : 32, nv = (nf + 15) / 16;
            const int rem = nf - 16 * (nv - 1);
            t.mask = rem == 16 ? 0xffffu : (1u << rem) - 1;
            t.bias = bias ? bias + f0 : NULL;
            kdl_tile_gemm(&t, x1 - x0, nv, orow + (size_t)x0 * co + f0, arow + (size_t)x0 * ci,
                          wt + f0);
        }
    }
}

typedef struct DirectJob {
    const Direct *d;
    const float *x;         // the input
    const float *xp;        // the block's padded x (or x itself)
    float *out;             // forward: out; backward: dx
    const float *w, *b;     // forward: w, b; backward: dx's flipped w
    kdl_Act act;
    float alpha;
    const float *dy, *y;    // backward
    float *zp;              // backward: the block's padded dz
    float *dw;
    float *part;            // backward: per-image column sums of dz
    int b0, nb;             // the block: first image, images
} DirectJob;

// Padded rows [r0, r1) of the block's images (nb * ph rows).
static void pad_rows_task(void *ctx, size_t r0, size_t r1) {
    const DirectJob *j = ctx;
    const Direct *d = j->d;
    const kdl_ConvShape *s = d->s;
    for (size_t r = r0; r < r1; r++) {
        const size_t bi = r / (size_t)d->ph;
        pad_row((float *)j->xp + r * d->pw * s->c,
                j->x + ((size_t)j->b0 + bi) * s->h * s->w * s->c, s->h, s->w, s->c, d->pw,
                s->pad_top, s->pad_left, (int)(r % (size_t)d->ph));
    }
}

// Output rows [r0, r1) of the block (nb * oh rows).
static void forward_rows_task(void *ctx, size_t r0, size_t r1) {
    const DirectJob *j = ctx;
    const Direct *d = j->d;
    const kdl_ConvShape *s = d->s;
    const int fused = j->act == KDL_ACT_LINEAR || j->act == KDL_ACT_RELU;
    const size_t img = d->copy ? d->xsz : (size_t)s->h * s->w * s->c;
    for (size_t r = r0; r < r1; r++) {
        const size_t bi = r / (size_t)s->oh, oy = r % (size_t)s->oh;
        const float *arow = j->xp + bi * img + oy * d->pw * s->c;
        float *orow = j->out + (((size_t)j->b0 * s->oh) + r) * s->ow * s->f;
        tile_row(orow, arow, j->w, s->ow, s->c, s->f, s, (ptrdiff_t)d->pw * s->c, KDL_TILE_STORE,
                 fused ? j->b : NULL, j->act == KDL_ACT_RELU);
        if (!fused)
            kdl_bias_act_forward(orow, j->b, (size_t)s->ow, (size_t)s->f, j->act, j->alpha);
    }
}

static void direct_forward(float *out, const float *in, const float *w, const float *b,
                           const kdl_ConvShape *s, kdl_Act act, float alpha, float *scratch) {
    const Direct d = direct_geometry(s, 0);
    DirectJob j = {.d = &d, .x = in, .out = out, .w = w, .b = b, .act = act, .alpha = alpha};
    const size_t row_cost = (size_t)s->ow * s->f * s->kh * s->kw * s->c / TILE_MACS;
    for (int b0 = 0; b0 < s->n; b0 += d.blk) {
        j.b0 = b0;
        j.nb = s->n - b0 < d.blk ? s->n - b0 : d.blk;
        if (d.copy) {
            assert(scratch);
            j.xp = scratch;
            kdl_parallel_for((size_t)j.nb * d.ph, kdl_grain((size_t)d.pw * s->c), pad_rows_task,
                             &j);
        } else {
            j.xp = in + (size_t)b0 * s->h * s->w * s->c;
        }
        kdl_parallel_for((size_t)j.nb * s->oh, kdl_grain(row_cost), forward_rows_task, &j);
    }
}

// ---- Conv1D / Conv2D --------------------------------------------------------------------

// The im2col block of the GEMM path (0 when pointwise).
static size_t im2col_scratch(const kdl_ConvShape *s) {
    if (is_pointwise(s))
        return 0;
    return block_rows(s) * ((size_t)s->kh * s->kw * s->c);
}

size_t kdl_conv2d_scratch(const kdl_ConvShape *s) {
    if (direct_ok(s)) {
        const Direct d = direct_geometry(s, 0);
        return d.copy ? block_scratch((size_t)s->n, d.xsz) : 0;
    }
    return im2col_scratch(s);
}

// The im2col row of output pixel (oy, ox) of one image img (h, w, c):
// col (groups, kh, kw, c/groups), zeros where a tap falls in the padding.
// Group g's block is the (kh, kw, c/groups) column that meets
// w[:, :, :, g*f/groups ...] in the GEMM.
// Copies and clears of a few floats (an image's 1-4 channels per tap) are
// cheaper inline than as library calls.
static inline void copy_floats(float *restrict d, const float *restrict s, size_t n) {
    if (n <= 4) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        memcpy(d, s, sizeof(float) * n);
    }
}

static inline void zero_floats(float *d, size_t n) {
    if (n <= 4) {
        for (size_t i = 0; i < n; i++)
            d[i] = 0.0f;
    } else {
        memset(d, 0, sizeof(float) * n);
    }
}

static void im2col_pixel(float *col, const float *img, const kdl_ConvShape *s, int oy, int ox) {
    const int w = s->w, c = s->c, kw = s->kw, groups = s->groups, cg = c / groups;
    const size_t kg = (size_t)s->kh * kw * cg;     // one group's columns
    const int iy0 = oy * s->sh - s->pad_top, ix0 = ox * s->sw - s->pad_left;
    int kx_lo, kx_hi;
    tap_range(ix0, s->dw, kw, w, &kx_lo, &kx_hi);
    for (int ky = 0; ky < s->kh; ky++) {
        const int iy = iy0 + ky * s->dh;
        if (iy < 0 || iy >= s->h) {
            for (int g = 0; g < groups; g++)
                zero_floats(col + g * kg + (size_t)ky * kw * cg, (size_t)kw * cg);
            continue;
        }
        // Tap kx reads pixel (iy, ix0 + kx*dw), at offset base + kx*dw*c
        // (an offset, not a pointer: ix0 may be negative).
        const ptrdiff_t base = ((ptrdiff_t)iy * w + ix0) * c;
        for (int g = 0; g < groups; g++) {
            float *dst = col + g * kg + (size_t)ky * kw * cg;
            const ptrdiff_t gbase = base + (ptrdiff_t)g * cg;
            if (kx_lo > 0)
                zero_floats(dst, (size_t)kx_lo * cg);
            if (groups == 1 && s->dw == 1 && kx_hi > kx_lo) {
                // Adjacent taps are adjacent pixels: one copy for the row.
                copy_floats(dst + (size_t)kx_lo * c, img + (gbase + (ptrdiff_t)kx_lo * c),
                            (size_t)(kx_hi - kx_lo) * c);
            } else {
                for (int kx = kx_lo; kx < kx_hi; kx++)
                    copy_floats(dst + (size_t)kx * cg, img + (gbase + (ptrdiff_t)kx * s->dw * c),
                                (size_t)cg);
            }
            if (kx_hi < kw)
                zero_floats(dst + (size_t)kx_hi * cg, (size_t)(kw - kx_hi) * cg);
        }
    }
}

// im2col rows for output pixels (oy, x0 .. x0 + nx) of one image. With
// few channels (first layers) a tap row is only kw*c floats, too short for
// a memcpy call per pixel and row to pay. So for groups == 1, dw == 1, the
// pixels whose taps all lie inside the input columns are copied element by
// element with the pixel as the inner loop; the rest go through im2col_pixel.
static void im2col_run(float *col, const float *img, const kdl_ConvShape *s, int oy, int x0,
                       int nx) {
    const int c = s->c, kw = s->kw, sw = s->sw, pl = s->pad_left;
    const size_t row_len = (size_t)s->kh * kw * c;
    const int kwc = kw * c;
    int xi0 = x0, xi1 = x0;        // interior pixels [xi0, xi1)
    if (s->groups == 1 && s->dw == 1 && kwc < 16) {
        // ox*sw - pl >= 0 and ox*sw - pl + kw - 1 <= w - 1
        xi0 = (pl + sw - 1) / sw;
        xi0 = xi0 > x0 ? xi0 : x0;
        xi0 = xi0 < x0 + nx ? xi0 : x0 + nx;   // (padding wider than the run)
        xi1 = s->w - kw + pl >= 0 ? (s->w - kw + pl) / sw + 1 : 0;
        xi1 = xi1 < x0 + nx ? xi1 : x0 + nx;
        xi1 = xi1 > xi0 ? xi1 : xi0;
    }
    for (int ox = x0; ox < xi0; ox++)
        im2col_pixel(col + (size_t)(ox - x0) * row_len, img, s, oy, ox);
    if (xi1 > xi0) {
        const int m = xi1 - xi0;
        const ptrdiff_t step = (ptrdiff_t)sw * c;  // input offset between adjacent pixels
        for (int ky = 0; ky < s->kh; ky++) {
            float *d = col + (size_t)(xi0 - x0) * row_len + (size_t)ky * kwc;
            const int iy = oy * s->sh - s->pad_top + ky * s->dh;
            if (iy < 0 || iy >= s->h) {
                for (int j = 0; j < kwc; j++)
                    for (int i = 0; i < m; i++)
                        d[i * row_len + j] = 0.0f;
                continue;
            }
            const float *src = img + ((size_t)iy * s->w + ((size_t)xi0 * sw - pl)) * c;
            for (int j = 0; j < kwc; j++)
                for (int i = 0; i < m; i++)
                    d[i * row_len + j] = src[i * step + j];
        }
    }
    for (int ox = xi1; ox < x0 + nx; ox++)
        im2col_pixel(col + (size_t)(ox - x0) * row_len, img, s, oy, ox);
}

// im2col for output rows [r0, r0 + rows) of the flattened (n, oh, ow):
// col (rows, kh*kw*c), run by run of pixels within one output row.
static void im2col(float *col, const float *in, const kdl_ConvShape *s, size_t r0, size_t rows) {
    const size_t row_len = (size_t)s->kh * s->kw * s->c;
    const size_t img = (size_t)s->h * s->w * s->c;
    while (rows > 0) {
        const int ox = (int)(r0 % (size_t)s->ow);
        const int oy = (int)(r0 / (size_t)s->ow % (size_t)s->oh);
        const size_t b = r0 / ((size_t)s->ow * s->oh);
        const int nx = (int)min_size((size_t)(s->ow - ox), rows);
        im2col_run(col, in + b * img, s, oy, ox, nx);
        col += (size_t)nx * row_len;
        r0 += (size_t)nx;
        rows -= (size_t)nx;
    }
}

typedef struct ColJob {
    float *col;
    const float *in;
    const kdl_ConvShape *s;
    size_t r0;
    float *dx;              // col2im
    size_t rows;
} ColJob;

static void im2col_task(void *ctx, size_t a, size_t b) {
    const ColJob *j = ctx;
    const size_t row_len = (size_t)j->s->kh * j->s->kw * j->s->c;
    im2col(j->col + a * row_len, j->in, j->s, j->r0 + a, b - a);
}

// im2col over the thread pool: rows are independent.
static void im2col_par(float *col, const float *in, const kdl_ConvShape *s, size_t r0,
                       size_t rows) {
    ColJob j = {col, in, s, r0, NULL, rows};
    kdl_parallel_for(rows, kdl_grain((size_t)s->kh * s->kw * s->c), im2col_task, &j);
}

// in (n, h, w, c), w (kh, kw, c/groups, f), b (f) or NULL -> out (n, oh, ow, f)
// out[b, y, x, g*fg + j] = act(b[.] + sum_{ky, kx, ci < cg}
//     in[b, y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw, g*cg + ci] * w[ky, kx, ci, g*fg + j])
// with fg = f/groups, cg = c/groups and zero outside the input.
// scratch: kdl_conv2d_scratch(s) floats (may be NULL when that is 0).
void kdl_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                        const kdl_ConvShape *s, kdl_Act act, float alpha, float *scratch) {
    assert(s->groups >= 1 && s->c % s->groups == 0 && s->f % s->groups == 0);
    const int groups = s->groups, cg = s->c / groups, fg = s->f / groups, f = s->f;
    const size_t total = (size_t)s->n * s->oh * s->ow;
    if (total == 0)
        return;
    if (direct_ok(s)) {
        direct_forward(out, in, w, b, s, act, alpha, scratch);
        return;
    }
    if (is_pointwise(s)) {
        // out block (rows, f) = in block (rows, c) @ w (c, f), group by group.
        const size_t blk = block_rows(s);
        for (size_t r0 = 0; r0 < total; r0 += blk) {
            const int rows = (int)min_size(blk, total - r0);
            float *o = out + r0 * f;
            for (int g = 0; g < groups; g++)
                kdl_sgemm(0, 0, rows, fg, cg, 1.0f, in + r0 * s->c + (size_t)g * cg, s->c,
                          w + (size_t)g * fg, f, 0.0f, o + (size_t)g * fg, f);
            kdl_bias_act_forward(o, b, (size_t)rows, (size_t)f, act, alpha);
        }
        return;
    }
    assert(scratch);
    const int kg = s->kh * s->kw * cg;
    const size_t row_len = (size_t)kg * groups;
    const size_t blk = block_rows(s);
    for (size_t r0 = 0; r0 < total; r0 += blk) {
        const int rows = (int)min_size(blk, total - r0);
        float *o = out + r0 * f;
        im2col_par(scratch, in, s, r0, (size_t)rows);
        // out block (rows, fg) of group g = col[:, g] (rows, kg) @ w[:, :, :, g] (kg, fg)
        for (int g = 0; g < groups; g++)
            kdl_sgemm(0, 0, rows, fg, kg, 1.0f, scratch + (size_t)g * kg, (int)row_len,
                      w + (size_t)g * fg, f, 0.0f, o + (size_t)g * fg, f);
        kdl_bias_act_forward(o, b, (size_t)rows, (size_t)f, act, alpha);
    }
}

// ---- DepthwiseConv2D ----------------------------------------------------------------------

// One output pixel's channels [ci, ci + V) for depth_multiplier 1: a sum over
// the valid taps ky in [ky_lo, ky_hi), kx in [kx_lo, kx_hi), kept in V
// accumulators. Tap (ky, kx) reads src[off + ky*sy + kx*sx + k] (off is an
// offset because the first tap may lie in the padding) and w[ky*wy + kx*wx + k].
// V is a constant in each instance, so the k loops vectorise even at -O2.
#define DEPTHWISE_BLOCK(V)                                                                        \
    static void depthwise_block##V(float *restrict o, const float *src, ptrdiff_t off,            \
                                   ptrdiff_t sy, ptrdiff_t sx, const float *w, ptrdiff_t wy,      \
                                   ptrdiff_t wx, int ky_lo, int ky_hi, int kx_lo, int kx_hi) {    \
        float acc[V] = {0};                                                                       \
        for (int ky = ky_lo; ky < ky_hi; ky++)                                                    \
            for (int kx = kx_lo; kx < kx_hi; kx++) {                                              \
                const float *restrict p = src + (off + ky * sy + kx * sx);                        \
                const float *restrict q = w + (ky * wy + kx * wx);                                \
                for (int k = 0; k < V; k++)                                                       \
                    acc[k] += p[k] * q[k];                                                        \
            }                                                                                     \
        for (int k = 0; k < V; k++)                                                               \
            o[k] = acc[k];                                                                        \
    }
DEPTHWISE_BLOCK(16)
DEPTHWISE_BLOCK(4)
DEPTHWISE_BLOCK(1)
#undef DEPTHWISE_BLOCK

// in (n, h, w, c), w (kh, kw, c, dm), b (c*dm) or NULL -> out (n, oh, ow, c*dm)
// out[b, y, x, ci*dm + m] = act(b[ci*dm + m] + sum_{ky, kx}
//     in[b, y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw, ci] * w[ky, kx, ci, m])
// dm == 1 (the common case): each output pixel is computed 16, then 4, then
// 1 channel(s) at a time in registers. dm > 1: the pixel's (c*dm) row is
// accumulated in place tap by tap. Bias + activation run per output row.
typedef struct DepthJob {
    float *out;
    const float *in, *w, *b;
    const kdl_ConvShape *s;
    kdl_Act act;
    float alpha;
} DepthJob;

// Output rows [r0, r1) of the flattened (n, oh).
static void depthwise_rows_task(void *ctx, size_t r0, size_t r1) {
    const DepthJob *j = ctx;
    const kdl_ConvShape *s = j->s;
    const float *w = j->w;
    const int c = s->c, dm = s->depth_multiplier, kw = s->kw;
    const size_t fo = (size_t)c * dm;                  // output channels
    const size_t img = (size_t)s->h * s->w * c;
    const ptrdiff_t sy = (ptrdiff_t)s->dh * s->w * c, sx = (ptrdiff_t)s->dw * c;
    const ptrdiff_t wx = (ptrdiff_t)fo, wy = (ptrdiff_t)kw * fo;   // w[ky, kx] row stride
    for (size_t r = r0; r < r1; r++) {
        const int y = (int)(r % (size_t)s->oh);
        const float *src = j->in + r / (size_t)s->oh * img;
        float *orow = j->out + r * s->ow * fo;
        const int iy0 = y * s->sh - s->pad_top;
        int ky_lo, ky_hi;
        tap_range(iy0, s->dh, s->kh, s->h, &ky_lo, &ky_hi);
        for (int x = 0; x < s->ow; x++) {
            float *o = orow + (size_t)x * fo;
            const int ix0 = x * s->sw - s->pad_left;
            int kx_lo, kx_hi;
            tap_range(ix0, s->dw, kw, s->w, &kx_lo, &kx_hi);
            const ptrdiff_t off = ((ptrdiff_t)iy0 * s->w + ix0) * c;  // tap (0, 0)
            if (dm == 1) {
                int ci = 0;
                for (; ci + 16 <= c; ci += 16)
                    depthwise_block16(o + ci, src, off + ci, sy, sx, w + ci, wy, wx, ky_lo, ky_hi,
                                      kx_lo, kx_hi);
                for (; ci + 4 <= c; ci += 4)
                    depthwise_block4(o + ci, src, off + ci, sy, sx, w + ci, wy, wx, ky_lo, ky_hi,
                                     kx_lo, kx_hi);
                for (; ci < c; ci++)
                    depthwise_block1(o + ci, src, off + ci, sy, sx, w + ci, wy, wx, ky_lo, ky_hi,
                                     kx_lo, kx_hi);
                continue;
            }
            memset(o, 0, sizeof(float) * fo);
            for (int ky = ky_lo; ky < ky_hi; ky++)
                for (int kx = kx_lo; kx < kx_hi; kx++) {
                    const float *px = src + (off + ky * sy + kx * sx);
                    const float *wk = w + (ky * wy + kx * wx);
                    for (int ci = 0; ci < c; ci++) {
                        const float v = px[ci];
                        float *restrict oc = o + (size_t)ci * dm;
                        const float *restrict wc = wk + (size_t)ci * dm;
                        for (int m = 0; m < dm; m++)
                            oc[m] += v * wc[m];
                    }
                }
        }
        // The finished output row is still in cache.
        kdl_bias_act_forward(orow, j->b, (size_t)s->ow, fo, j->act, j->alpha);
    }
}

void kdl_depthwise_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                                  const kdl_ConvShape *s, kdl_Act act, float alpha) {
    assert(s->depth_multiplier >= 1);
    DepthJob j = {out, in, w, b, s, act, alpha};
    const size_t row_cost = (size_t)s->ow * s->c * s->depth_multiplier * s->kh * s->kw;
    kdl_parallel_for((size_t)s->n * s->oh, kdl_grain(row_cost), depthwise_rows_task, &j);
}

// ---- Conv2DTranspose -----------------------------------------------------------------------

// Stack tile for the transposed conv's small-f path (floats; 32 KB).
#define TRANSPOSE_TILE 8192

// out (f) += v (f): one tap's contribution to one output pixel.
static inline void add_floats(float *restrict out, const float *restrict v, int f) {
    for (int j = 0; j < f; j++)
        out[j] += v[j];
}

typedef struct ScatterJob {
    float *out;
    const float *tile;
    const kdl_ConvShape *s;
    size_t p0, m;
} ScatterJob;

// Tile rows of the images [first + i0, first + i1) that the chunk
// [p0, p0 + m) of input pixels covers: each row's (kh, kw) slices added to
// their output pixels. Windows of one image overlap, so an image is one
// thread's, in pixel order.
static void transpose_scatter_task(void *ctx, size_t i0, size_t i1) {
    const ScatterJob *j = ctx;
    const kdl_ConvShape *s = j->s;
    const int f = s->f, taps_f = s->kh * s->kw * s->f;
    const size_t pix = (size_t)s->h * s->w, out_img = (size_t)s->oh * s->ow * f;
    const size_t end = j->p0 + j->m;
    for (size_t ii = i0; ii < i1; ii++) {
        const size_t im = j->p0 / pix + ii;
        const size_t a = im * pix > j->p0 ? im * pix : j->p0;
        const size_t b = (im + 1) * pix < end ? (im + 1) * pix : end;
        float *oimg = j->out + im * out_img;
        for (size_t p = a; p < b; p++) {
            const int x = (int)(p % (size_t)s->w), y = (int)(p / (size_t)s->w % (size_t)s->h);
            const float *t = j->tile + (p - j->p0) * taps_f;
            int ky_lo, ky_hi, kx_lo, kx_hi;
            // Taps whose target y*sh - pad_top + ky*dh lies in [0, oh), same for x.
            tap_range(y * s->sh - s->pad_top, s->dh, s->kh, s->oh, &ky_lo, &ky_hi);
            tap_range(x * s->sw - s->pad_left, s->dw, s->kw, s->ow, &kx_lo, &kx_hi);
            for (int ky = ky_lo; ky < ky_hi; ky++) {
                const int oy = y * s->sh - s->pad_top + ky * s->dh;
                for (int kx = kx_lo; kx < kx_hi; kx++) {
                    const int ox = x * s->sw - s->pad_left + kx * s->dw;
                    add_floats(oimg + ((size_t)oy * s->ow + ox) * f,
                               t + ((size_t)ky * s->kw + kx) * f, f);
                }
            }
        }
    }
}

// Small f: the per-tap GEMMs below would have only f columns. Instead, for a
// chunk of m input pixels (consecutive in (n, h, w), so lda = c), one GEMM
// computes every tap at once, tile (m, kh, kw, f) = in (m, c) @ w^T with w
// seen as (kh*kw*f, c), and each (kh, kw) slice of a tile row is added to
// its output pixel (image by image over the thread pool). The tile lives on
// the stack (no scratch in the API).
static void transpose_tiled(float *out, const float *in, const float *w, const kdl_ConvShape *s) {
    float tile[TRANSPOSE_TILE];
    const int taps_f = s->kh * s->kw * s->f;
    const size_t total = (size_t)s->n * s->h * s->w, pix = (size_t)s->h * s->w;
    const size_t chunk = TRANSPOSE_TILE / (size_t)taps_f;
    for (size_t p0 = 0; p0 < total; p0 += chunk) {
        const int m = (int)min_size(chunk, total - p0);
        kdl_sgemm(0, 1, m, taps_f, s->c, 1.0f, in + p0 * s->c, s->c, w, s->c, 0.0f, tile, taps_f);
        ScatterJob j = {out, tile, s, p0, (size_t)m};
        const size_t imgs = (p0 + (size_t)m - 1) / pix - p0 / pix + 1;
        kdl_parallel_for(imgs, kdl_grain(min_size(pix, (size_t)m) * taps_f), transpose_scatter_task,
                         &j);
    }
}

// in (n, h, w, c), w (kh, kw, f, c) as Keras stores it, b (f) or NULL
// -> out (n, oh, ow, f): the adjoint of the conv (oh, ow, f) -> (h, w, c)
// with the same strides, dilation and pads, i.e. every input pixel scatters
//   out[b, y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw, :] += w[ky, kx] (f, c) @ in[b, y, x, :]
// (targets outside the output are dropped), then bias + activation.
//
// With few output channels (f < 16, and 32 tile rows fit the stack tile)
// see transpose_tiled. Otherwise each tap (ky, kx) is a GEMM with beta = 1
// against w[ky, kx] transposed (kdl_sgemm's trans_b, ldb = c), straight into
// out with a strided ldc, so no scratch is needed. The GEMM's rows are either
// the batch (one call per input pixel and tap: in rows are h*w*c apart, out
// rows oh*ow*f apart) or the pixels of one input row (one call per image,
// row and tap: in rows c apart, out rows sw*f apart), whichever gives the
// longer calls.
void kdl_conv2d_transpose_forward(float *out, const float *in, const float *w, const float *b,
                                  const kdl_ConvShape *s, kdl_Act act, float alpha) {
    const int n = s->n, h = s->h, wd = s->w, c = s->c, f = s->f;
    const size_t in_img = (size_t)h * wd * c, out_img = (size_t)s->oh * s->ow * f;
    const size_t tap = (size_t)f * c;                  // w[ky, kx] is (f, c)
    memset(out, 0, sizeof(float) * out_img * n);
    if (f < 16 && (size_t)s->kh * s->kw * f * 32 <= TRANSPOSE_TILE) {
        transpose_tiled(out, in, w, s);
    } else if (n > wd) {
        for (int y = 0; y < h; y++) {
            const int oy0 = y * s->sh - s->pad_top;
            for (int x = 0; x < wd; x++) {
                const int ox0 = x * s->sw - s->pad_left;
                const float *a = in + ((size_t)y * wd + x) * c;
                for (int ky = 0; ky < s->kh; ky++) {
                    const int oy = oy0 + ky * s->dh;
                    if (oy < 0 || oy >= s->oh)
                        continue;
                    for (int kx = 0; kx < s->kw; kx++) {
                        const int ox = ox0 + kx * s->dw;
                        if (ox < 0 || ox >= s->ow)
                            continue;
                        kdl_sgemm(0, 1, n, f, c, 1.0f, a, (int)in_img,
                                  w + ((size_t)ky * s->kw + kx) * tap, c, 1.0f,
                                  out + ((size_t)oy * s->ow + ox) * f, (int)out_img);
                    }
                }
            }
        }
    } else {
        for (int bi = 0; bi < n; bi++) {
            for (int y = 0; y < h; y++) {
                const int oy0 = y * s->sh - s->pad_top;
                for (int ky = 0; ky < s->kh; ky++) {
                    const int oy = oy0 + ky * s->dh;
                    if (oy < 0 || oy >= s->oh)
                        continue;
                    float *orow = out + (size_t)bi * out_img + (size_t)oy * s->ow * f;
                    const float *irow = in + (size_t)bi * in_img + (size_t)y * wd * c;
                    for (int kx = 0; kx < s->kw; kx++) {
                        // Input columns x whose target x*sw - pad_left + kx*dw is in [0, ow).
                        const int off = kx * s->dw - s->pad_left;
                        int x_lo = off >= 0 ? 0 : (-off + s->sw - 1) / s->sw;
                        int x_hi = off > s->ow - 1 ? 0 : (s->ow - 1 - off) / s->sw + 1;
                        x_hi = x_hi < wd ? x_hi : wd;
                        if (x_hi <= x_lo)
                            continue;
                        kdl_sgemm(0, 1, x_hi - x_lo, f, c, 1.0f, irow + (size_t)x_lo * c, c,
                                  w + ((size_t)ky * s->kw + kx) * tap, c, 1.0f,
                                  orow + ((size_t)x_lo * s->sw + off) * f, s->sw * f);
                    }
                }
            }
        }
    }
    kdl_bias_act_forward(out, b, (size_t)n * s->oh * s->ow, (size_t)f, act, alpha);
}

// ---- training: backward ----------------------------------------------------------------------
//
// Every kernel below accumulates into dx, dw and db (each may be NULL) and
// starts, when it has a fused activation, with dz = dy * act'(z) taken from
// the output y (kdl_act_grad_output); with KDL_ACT_LINEAR dz is dy itself.

// out (n) += a (n)
static inline void add_to(float *restrict out, const float *restrict a, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] += a[i];
}

// out (n) += a (n) * b (n)
static inline void mul_add_to(float *restrict out, const float *restrict a,
                              const float *restrict b, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] += a[i] * b[i];
}

// db (f) += the column sums of dz (rows, f).
static void column_sums(float *restrict db, const float *restrict dz, size_t rows, size_t f) {
    for (size_t r = 0; r < rows; r++)
        add_to(db, dz + r * f, f);
}

// The adjoint of im2col_pixel: the im2col row col of output pixel (oy, ox)
// is scatter-added into the input image img (h, w, c); the padding taps'
// entries are dropped.
static void col2im_pixel(float *img, const float *col, const kdl_ConvShape *s, int oy, int ox) {
    const int w = s->w, c = s->c, kw = s->kw, groups = s->groups, cg = c / groups;
    const size_t kg = (size_t)s->kh * kw * cg;
    const int iy0 = oy * s->sh - s->pad_top, ix0 = ox * s->sw - s->pad_left;
    int ky_lo, ky_hi, kx_lo, kx_hi;
    tap_range(iy0, s->dh, s->kh, s->h, &ky_lo, &ky_hi);
    tap_range(ix0, s->dw, kw, w, &kx_lo, &kx_hi);
    if (kx_hi == kx_lo)
        return;
    for (int ky = ky_lo; ky < ky_hi; ky++) {
        // Tap kx adds into pixel (iy, ix0 + kx*dw), at offset base + kx*dw*c.
        const ptrdiff_t base = ((ptrdiff_t)(iy0 + ky * s->dh) * w + ix0) * c;
        for (int g = 0; g < groups; g++) {
            const float *src = col + g * kg + (size_t)ky * kw * cg;
            const ptrdiff_t gbase = base + (ptrdiff_t)g * cg;
            if (groups == 1 && s->dw == 1) {
                // Adjacent taps are adjacent pixels: one run for the row.
                add_to(img + (gbase + (ptrdiff_t)kx_lo * c), src + (size_t)kx_lo * c,
                       (size_t)(kx_hi - kx_lo) * c);
            } else {
                for (int kx = kx_lo; kx < kx_hi; kx++)
                    add_to(img + (gbase + (ptrdiff_t)kx * s->dw * c), src + (size_t)kx * cg,
                           (size_t)cg);
            }
        }
    }
}

// The adjoint of im2col: dx (n, h, w, c) += the scatter of col (rows,
// kh*kw*c), the im2col rows of output rows [r0, r0 + rows).
static void col2im(float *dx, const float *col, const kdl_ConvShape *s, size_t r0, size_t rows) {
    const size_t row_len = (size_t)s->kh * s->kw * s->c;
    const size_t img = (size_t)s->h * s->w * s->c;
    while (rows > 0) {
        int ox = (int)(r0 % (size_t)s->ow);
        const int oy = (int)(r0 / (size_t)s->ow % (size_t)s->oh);
        float *dimg = dx + r0 / ((size_t)s->ow * s->oh) * img;
        const int nx = (int)min_size((size_t)(s->ow - ox), rows);
        for (int i = 0; i < nx; i++, ox++, col += row_len)
            col2im_pixel(dimg, col, s, oy, ox);
        r0 += (size_t)nx;
        rows -= (size_t)nx;
    }
}

// col2im over the thread pool, image by image: the windows of one image's
// pixels overlap, so each image's rows are scattered by one thread, in order.
static void col2im_task(void *ctx, size_t i0, size_t i1) {
    const ColJob *j = ctx;
    const kdl_ConvShape *s = j->s;
    const size_t pix = (size_t)s->oh * s->ow, row_len = (size_t)s->kh * s->kw * s->c;
    const size_t end = j->r0 + j->rows;
    for (size_t i = i0; i < i1; i++) {
        const size_t img = j->r0 / pix + i;
        const size_t a = img * pix > j->r0 ? img * pix : j->r0;
        const size_t b = (img + 1) * pix < end ? (img + 1) * pix : end;
        col2im(j->dx, j->col + (a - j->r0) * row_len, s, a, b - a);
    }
}

static void col2im_par(float *dx, const float *col, const kdl_ConvShape *s, size_t r0,
                       size_t rows) {
    const size_t pix = (size_t)s->oh * s->ow;
    ColJob j = {(float *)col, NULL, s, r0, dx, rows};
    const size_t imgs = (r0 + rows - 1) / pix - r0 / pix + 1;
    kdl_parallel_for(imgs, kdl_grain(min_size(pix, rows) * s->kh * s->kw * s->c), col2im_task,
                     &j);
}

// A block of dz: dy's rows [r0, r0 + rows), through the activation's
// derivative into buf unless act is linear.
static const float *grad_block(float *buf, const float *dy, const float *y, size_t r0, size_t rows,
                               size_t f, kdl_Act act, float alpha) {
    if (act == KDL_ACT_LINEAR)
        return dy + r0 * f;
    kdl_act_grad_output(buf, dy + r0 * f, y + r0 * f, rows, f, act, alpha);
    return buf;
}

// ---- direct backward (see "direct convolution" above) ----

// Per image of the block: the padded x (when copied), the padded dz = dy *
// act' (from y) and, when part is set, dz's column sums (pixel by pixel).
static void backward_prep_task(void *ctx, size_t i0, size_t i1) {
    const DirectJob *j = ctx;
    const Direct *d = j->d;
    const kdl_ConvShape *s = d->s;
    const size_t f = (size_t)s->f, ow = (size_t)s->ow, row = (size_t)d->zpw * f;
    for (size_t i = i0; i < i1; i++) {
        const size_t bi = (size_t)j->b0 + i;
        if (d->copy && j->dw)
            for (int py = 0; py < d->ph; py++)
                pad_row((float *)j->xp + i * d->xsz + (size_t)py * d->pw * s->c,
                        j->x + bi * s->h * s->w * s->c, s->h, s->w, s->c, d->pw, s->pad_top,
                        s->pad_left, py);
        float *zimg = j->zp + i * d->zsz;
        float *part = j->part ? j->part + i * f : NULL;
        if (part)
            memset(part, 0, sizeof(float) * f);
        memset(zimg, 0, sizeof(float) * (size_t)d->zt * row);
        for (int oy = 0; oy < s->oh; oy++) {
            float *zrow = zimg + (size_t)(d->zt + oy) * row, *z = zrow + (size_t)d->zl * f;
            const size_t o = (bi * s->oh + (size_t)oy) * ow * f;
            memset(zrow, 0, sizeof(float) * (size_t)d->zl * f);
            memset(z + ow * f, 0, sizeof(float) * (size_t)(d->zpw - d->zl - s->ow) * f);
            if (j->act == KDL_ACT_LINEAR)
                memcpy(z, j->dy + o, sizeof(float) * ow * f);
            else
                kdl_act_grad_output(z, j->dy + o, j->y + o, ow, f, j->act, j->alpha);
            if (part)
                for (size_t x = 0; x < ow; x++)
                    add_to(part, z + x * f, f);
        }
        memset(zimg + (size_t)(d->zt + s->oh) * row, 0,
               sizeof(float) * (size_t)(d->zph - d->zt - s->oh) * row);
    }
}

// dw's tiles: dw is (kh*kw*c, f); with dw == 1 its rows come in kh blocks of
// kw*c (a padded pixel row's taps and channels), else kh*kw blocks of c;
// each block in row tiles of at most KDL_TILE_MR, times column blocks of 32.
typedef struct DwTiles {
    int brows, nblk, nrt, nfb;
} DwTiles;

static DwTiles dw_tiles(const kdl_ConvShape *s) {
    DwTiles t;
    t.brows = s->dw == 1 ? s->kw * s->c : s->c;
    t.nblk = s->dw == 1 ? s->kh : s->kh * s->kw;
    t.nrt = (t.brows + KDL_TILE_MR - 1) / KDL_TILE_MR;
    t.nfb = (s->f + 31) / 32;
    return t;
}

// dw tiles [t0, t1) += the block's images, a group of images (at least
// DW_GROUP_PIXELS output pixels) at a time: for each group, every tile of
// the chunk (the group's padded x and dz stay in cache), so each tile adds
// its groups' partial sums in image order whatever the chunks are.
static void dw_task(void *ctx, size_t t0, size_t t1) {
    const DirectJob *j = ctx;
    const Direct *d = j->d;
    const kdl_ConvShape *s = d->s;
    const DwTiles dt = dw_tiles(s);
    const size_t c = (size_t)s->c, f = (size_t)s->f;
    const size_t xsz = d->copy ? d->xsz : (size_t)s->h * s->w * c;
    const int pix = s->oh * s->ow;
    const int group = pix >= DW_GROUP_PIXELS ? 1 : (DW_GROUP_PIXELS + pix - 1) / pix;
    kdl_Tile t = {0};
    t.a2 = (ptrdiff_t)d->pw * c, t.b2 = (ptrdiff_t)d->zpw * f;
    t.a1 = (ptrdiff_t)xsz, t.b1 = (ptrdiff_t)d->zsz;
    t.n2 = s->oh, t.len = s->ow, t.ai = 1, t.ak = (ptrdiff_t)c, t.bk = (ptrdiff_t)f;
    t.ldc = (ptrdiff_t)f, t.mode = KDL_TILE_ADD, t.alpha = 1.0f, t.beta = 1.0f;
    const float *z0 = j->zp + ((size_t)d->zt * d->zpw + d->zl) * f;
    for (int g0 = 0; g0 < j->nb; g0 += group) {
        t.n1 = j->nb - g0 < group ? j->nb - g0 : group;
        for (size_t ti = t0; ti < t1; ti++) {
            const int fb = (int)(ti % dt.nfb), rt = (int)(ti / dt.nfb % dt.nrt);
            const int blk = (int)(ti / dt.nfb / dt.nrt);
            const int r0 = dt.brows * rt / dt.nrt, r1 = dt.brows * (rt + 1) / dt.nrt;
            const int ky = s->dw == 1 ? blk : blk / s->kw, kx = s->dw == 1 ? 0 : blk % s->kw;
            const int f0 = fb * 32, nf = s->f - f0 < 32 ? s->f - f0 : 32, nv = (nf + 15) / 16;
            const int rem = nf - 16 * (nv - 1);
            t.mask = rem == 16 ? 0xffffu : (1u << rem) - 1;
            const float *a = j->xp + (size_t)g0 * xsz + (size_t)ky * s->dh * d->pw * c +
                             (size_t)kx * s->dw * c + (size_t)r0;
            kdl_tile_gemm(&t, r1 - r0, nv, j->dw + ((size_t)blk * dt.brows + r0) * f + f0, a,
                          z0 + (size_t)g0 * d->zsz + f0);
        }
    }
}

// dx rows [r0, r1) of the block (nb * h rows) += the flipped conv of dz.
static void dx_rows_task(void *ctx, size_t r0, size_t r1) {
    const DirectJob *j = ctx;
    const Direct *d = j->d;
    const kdl_ConvShape *s = d->s;
    for (size_t r = r0; r < r1; r++) {
        const size_t bi = r / (size_t)s->h, y = r % (size_t)s->h;
        const float *arow = j->zp + bi * d->zsz + y * d->zpw * s->f;
        float *orow = j->out + ((size_t)j->b0 * s->h + r) * s->w * s->c;
        tile_row(orow, arow, j->w, s->w, s->f, s->c, s, (ptrdiff_t)d->zpw * s->f, KDL_TILE_ADD,
                 NULL, 0);
    }
}

static size_t direct_backward_scratch(const kdl_ConvShape *s) {
    const Direct d = direct_geometry(s, 1);
    return block_scratch((size_t)s->n, d.xsz + d.zsz + (size_t)s->f) +
           (size_t)s->kh * s->kw * s->c * s->f + (size_t)s->f;
}

// Scratch: the block's padded x, padded dz and column sums, dx's flipped w,
// db's running sum.
static void direct_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const float *y, const kdl_ConvShape *s, kdl_Act act,
                            float alpha, float *scratch) {
    const Direct d = direct_geometry(s, 1);
    const size_t c = (size_t)s->c, f = (size_t)s->f, taps = (size_t)s->kh * s->kw;
    float *xp = scratch, *zp = xp + (size_t)d.blk * d.xsz, *part = zp + (size_t)d.blk * d.zsz;
    float *wflip = part + (size_t)d.blk * f, *dbsum = wflip + taps * c * f;
    if (dx)     // wflip (kh, kw, f, c): tap t is w's tap kh*kw-1-t transposed
        for (size_t t = 0; t < taps; t++)
            for (size_t ci = 0; ci < c; ci++)
                for (size_t fo = 0; fo < f; fo++)
                    wflip[(t * f + fo) * c + ci] = w[((taps - 1 - t) * c + ci) * f + fo];
    if (db)
        memset(dbsum, 0, sizeof(float) * f);
    DirectJob j = {.d = &d, .x = x, .out = dx, .w = wflip, .act = act, .alpha = alpha, .dy = dy,
                   .y = y, .zp = zp, .dw = dw, .part = db ? part : NULL};
    const DwTiles dt = dw_tiles(s);
    const size_t ntiles = (size_t)dt.nblk * dt.nrt * dt.nfb;
    for (int b0 = 0; b0 < s->n; b0 += d.blk) {
        j.b0 = b0;
        j.nb = s->n - b0 < d.blk ? s->n - b0 : d.blk;
        j.xp = d.copy ? xp : x + (size_t)b0 * s->h * s->w * c;
        const size_t img_cost = d.zsz + (d.copy && dw ? d.xsz : 0);
        kdl_parallel_for((size_t)j.nb, kdl_grain(img_cost), backward_prep_task, &j);
        if (db)     // per-image sums, added in image order
            for (int i = 0; i < j.nb; i++)
                add_to(dbsum, part + (size_t)i * f, f);
        if (dw)
            kdl_parallel_for(ntiles,
                             kdl_grain((size_t)j.nb * s->oh * s->ow * KDL_TILE_MR * 32 / TILE_MACS),
                             dw_task, &j);
        if (dx) {
            const size_t row_cost = (size_t)s->w * c * taps * f / TILE_MACS;
            kdl_parallel_for((size_t)j.nb * s->h, kdl_grain(row_cost), dx_rows_task, &j);
        }
    }
    if (db)
        add_to(db, dbsum, f);
}

// The direct path's (direct_backward_scratch); or the dz block (block_rows *
// f), then the im2col block.
size_t kdl_conv2d_backward_scratch(const kdl_ConvShape *s) {
    if (direct_backward_ok(s))
        return direct_backward_scratch(s);
    return block_rows(s) * (size_t)s->f + im2col_scratch(s);
}

// dy (n, oh, ow, f), x (n, h, w, c), w (kh, kw, c/groups, f), y (n, oh, ow, f)
// -> dx (n, h, w, c) += ..., dw (kh, kw, c/groups, f) += ..., db (f) += ...
// Block by block of output rows (as the forward): dz = dy * act' (from y);
// db += column sums of dz; per group g, dw[g] (kg, fg) += col[:, g]^T dz[:, g]
// with col the forward's im2col of x; dcol[:, g] = dz[:, g] w[g]^T, written
// into the same im2col buffer, then col2im scatter-adds dcol into dx. The
// 1x1 stride-1 unpadded conv uses x and dx directly (no im2col). Convs the
// direct path takes (direct_backward_ok) go there instead.
// scratch: kdl_conv2d_backward_scratch(s) floats.
void kdl_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const float *y, const kdl_ConvShape *s, kdl_Act act,
                         float alpha, float *scratch) {
    assert(s->groups >= 1 && s->c % s->groups == 0 && s->f % s->groups == 0);
    const int groups = s->groups, c = s->c, cg = c / groups, fg = s->f / groups, f = s->f;
    const size_t total = (size_t)s->n * s->oh * s->ow;
    if (total == 0 || (!dx && !dw && !db))
        return;
    assert(act == KDL_ACT_LINEAR || y);
    if (direct_backward_ok(s)) {
        assert(scratch);
        direct_backward(dx, dw, db, dy, x, w, y, s, act, alpha, scratch);
        return;
    }
    assert(scratch || (act == KDL_ACT_LINEAR && is_pointwise(s)));
    const size_t blk = block_rows(s);
    float *dz_buf = scratch, *col = scratch ? scratch + blk * (size_t)f : NULL;
    const int kg = s->kh * s->kw * cg;
    const int row_len = kg * groups;
    const int pointwise = is_pointwise(s);
    for (size_t r0 = 0; r0 < total; r0 += blk) {
        const int rows = (int)min_size(blk, total - r0);
        const float *dz = grad_block(dz_buf, dy, y, r0, (size_t)rows, (size_t)f, act, alpha);
        if (db)
            column_sums(db, dz, (size_t)rows, (size_t)f);
        if (pointwise) {
            // dw (c/groups, f) += x_block^T dz, dx_block += dz w^T, group by group.
            for (int g = 0; g < groups; g++) {
                if (dw)
                    kdl_sgemm(1, 0, cg, fg, rows, 1.0f, x + r0 * c + (size_t)g * cg, c,
                              dz + (size_t)g * fg, f, 1.0f, dw + (size_t)g * fg, f);
                if (dx)
                    kdl_sgemm(0, 1, rows, cg, fg, 1.0f, dz + (size_t)g * fg, f,
                              w + (size_t)g * fg, f, 1.0f, dx + r0 * c + (size_t)g * cg, c);
            }
            continue;
        }
        if (dw) {
            im2col_par(col, x, s, r0, (size_t)rows);
            for (int g = 0; g < groups; g++)
                kdl_sgemm(1, 0, kg, fg, rows, 1.0f, col + (size_t)g * kg, row_len,
                          dz + (size_t)g * fg, f, 1.0f, dw + (size_t)g * fg, f);
        }
        if (dx) {
            for (int g = 0; g < groups; g++)
                kdl_sgemm(0, 1, rows, kg, fg, 1.0f, dz + (size_t)g * fg, f, w + (size_t)g * fg, f,
                          0.0f, col + (size_t)g * kg, row_len);
            col2im_par(dx, col, s, r0, (size_t)rows);
        }
    }
}

// One output row's dz (ow * c * depth_multiplier floats).
size_t kdl_depthwise_conv2d_backward_scratch(const kdl_ConvShape *s) {
    return (size_t)s->ow * s->c * s->depth_multiplier;
}

typedef struct DepthBackJob {
    float *dx, *dw, *db;
    const float *dy, *x, *w, *y;
    const kdl_ConvShape *s;
    kdl_Act act;
    float alpha;
    float *scratch;
} DepthBackJob;

#define DEPTH_CBLOCK 16     // channels per item of the depthwise backward

// Channels [DEPTH_CBLOCK * i0, DEPTH_CBLOCK * i1) of every gradient: channel
// ci's dx, dw and db entries depend on channel ci of dz only, and each is
// summed over the pixels in the same order whichever thread has it. dz's
// slice of the shared row buffer belongs to the chunk too.
static void depthwise_back_task(void *ctx, size_t i0, size_t i1) {
    const DepthBackJob *j = ctx;
    const kdl_ConvShape *s = j->s;
    const int c = s->c, dm = s->depth_multiplier, kw = s->kw;
    const int c0 = (int)i0 * DEPTH_CBLOCK, c1 = (int)min_size(i1 * DEPTH_CBLOCK, (size_t)c);
    const size_t fo = (size_t)c * dm, nc = (size_t)(c1 - c0), nz = nc * dm;
    const size_t img = (size_t)s->h * s->w * c;
    const ptrdiff_t sy = (ptrdiff_t)s->dh * s->w * c, sx = (ptrdiff_t)s->dw * c;
    const ptrdiff_t wx = (ptrdiff_t)fo, wy = (ptrdiff_t)kw * fo;
    const float *w = j->w;
    float *dw = j->dw;
    for (int bi = 0; bi < s->n; bi++) {
        const float *src = j->x + (size_t)bi * img;
        float *dsrc = j->dx ? j->dx + (size_t)bi * img : NULL;
        for (int oy = 0; oy < s->oh; oy++) {
            const size_t r0 = ((size_t)bi * s->oh + oy) * s->ow;
            const float *dz = j->dy + r0 * fo;
            if (j->act != KDL_ACT_LINEAR) {
                for (int ox = 0; ox < s->ow; ox++) {
                    const size_t o = (size_t)ox * fo + (size_t)c0 * dm;
                    kdl_act_grad_output(j->scratch + o, dz + o, j->y + r0 * fo + o, 1, nz, j->act,
                                        j->alpha);
                }
                dz = j->scratch;
            }
            if (j->db)
                for (int ox = 0; ox < s->ow; ox++)
                    add_to(j->db + (size_t)c0 * dm, dz + (size_t)ox * fo + (size_t)c0 * dm, nz);
            if (!dsrc && !dw)
                continue;
            const int iy0 = oy * s->sh - s->pad_top;
            int ky_lo, ky_hi;
            tap_range(iy0, s->dh, s->kh, s->h, &ky_lo, &ky_hi);
            for (int ox = 0; ox < s->ow; ox++) {
                const float *g = dz + (size_t)ox * fo;
                const int ix0 = ox * s->sw - s->pad_left;
                int kx_lo, kx_hi;
                tap_range(ix0, s->dw, kw, s->w, &kx_lo, &kx_hi);
                const ptrdiff_t off = ((ptrdiff_t)iy0 * s->w + ix0) * c;  // tap (0, 0)
                for (int ky = ky_lo; ky < ky_hi; ky++)
                    for (int kx = kx_lo; kx < kx_hi; kx++) {
                        const ptrdiff_t po = off + ky * sy + kx * sx;
                        const ptrdiff_t wo = ky * wy + kx * wx;
                        if (dm == 1) {
                            if (dw)
                                mul_add_to(dw + wo + c0, src + po + c0, g + c0, nc);
                            if (dsrc)
                                mul_add_to(dsrc + po + c0, w + wo + c0, g + c0, nc);
                            continue;
                        }
                        for (int ci = c0; ci < c1; ci++) {
                            const float *restrict gc = g + (size_t)ci * dm;
                            if (dw) {
                                const float v = src[po + ci];
                                float *restrict dwc = dw + (wo + (ptrdiff_t)ci * dm);
                                for (int m = 0; m < dm; m++)
                                    dwc[m] += v * gc[m];
                            }
                            if (dsrc) {
                                const float *restrict wc = w + (wo + (ptrdiff_t)ci * dm);
                                float acc = 0.0f;
                                for (int m = 0; m < dm; m++)
                                    acc += wc[m] * gc[m];
                                dsrc[po + ci] += acc;
                            }
                        }
                    }
            }
        }
    }
}

// dy (n, oh, ow, c*dm), x (n, h, w, c), w (kh, kw, c, dm), y as dy
// -> dx (n, h, w, c) += ..., dw (kh, kw, c, dm) += ..., db (c*dm) += ...
// Output row by output row: dz = dy * act' (from y), db += its column sums;
// then every valid tap (ky, kx) of every output pixel, with g = dz[pixel]:
//   dw[ky, kx, ci, m] += x[tap pixel, ci] * g[ci*dm + m]
//   dx[tap pixel, ci] += sum_m w[ky, kx, ci, m] * g[ci*dm + m]
// (dm == 1: both are element-wise products over the c channels). Threads
// split the channels (softmax-like activations, whose derivative mixes the
// channels of a pixel, run on one thread).
// scratch: kdl_depthwise_conv2d_backward_scratch(s) floats (unused when linear).
void kdl_depthwise_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const float *y,
                                   const kdl_ConvShape *s, kdl_Act act, float alpha,
                                   float *scratch) {
    assert(s->depth_multiplier >= 1);
    if (!dx && !dw && !db)
        return;
    assert(act == KDL_ACT_LINEAR || (y && scratch));
    DepthBackJob j = {dx, dw, db, dy, x, w, y, s, act, alpha, scratch};
    const size_t blocks = ((size_t)s->c + DEPTH_CBLOCK - 1) / DEPTH_CBLOCK;
    if (act == KDL_ACT_SOFTMAX || act == KDL_ACT_LOG_SOFTMAX) {
        depthwise_back_task(&j, 0, blocks);
        return;
    }
    const size_t cost = (size_t)s->n * s->oh * s->ow * s->kh * s->kw * s->depth_multiplier *
                        DEPTH_CBLOCK * 2;
    kdl_parallel_for(blocks, kdl_grain(cost), depthwise_back_task, &j);
}

// The conv whose adjoint a transposed conv s is: from s's output (oh, ow, f)
// to its input (h, w, c), same kernel geometry and pads, no groups. Its
// kernel (kh, kw, f, c) is exactly the transposed conv's w as Keras stores it.
static kdl_ConvShape transpose_adjoint(const kdl_ConvShape *s) {
    kdl_ConvShape t = *s;
    t.h = s->oh, t.w = s->ow, t.c = s->f;
    t.oh = s->h, t.ow = s->w, t.f = s->c;
    t.groups = 1, t.depth_multiplier = 1;
    return t;
}

// The whole batch's dz (n*oh*ow*f), then the adjoint conv's im2col block.
size_t kdl_conv2d_transpose_backward_scratch(const kdl_ConvShape *s) {
    kdl_ConvShape t = transpose_adjoint(s);
    return (size_t)s->n * s->oh * s->ow * s->f + im2col_scratch(&t);
}

// dy (n, oh, ow, f), x (n, h, w, c), w (kh, kw, f, c), y as dy
// -> dx (n, h, w, c) += ..., dw (kh, kw, f, c) += ..., db (f) += ...
// The forward scatters x[b, y, x] through tap (ky, kx) onto output pixel
// (y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw), so the gradient of x is
// the gather the other way: the conv t = transpose_adjoint(s) of dz with
// kernel w. With col = t's im2col of dz (one row per input pixel, the taps'
// dz values, zeros where a tap falls outside the output), block by block:
//   dx_block (rows, c) += col (rows, kh*kw*f) @ w (kh*kw*f, c)
//   dw (kh*kw*f, c) += col^T @ x_block (rows, c)
// and db += the column sums of dz.
// scratch: kdl_conv2d_transpose_backward_scratch(s) floats.
void kdl_conv2d_transpose_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const float *y,
                                   const kdl_ConvShape *s, kdl_Act act, float alpha,
                                   float *scratch) {
    const size_t out_total = (size_t)s->n * s->oh * s->ow, f = (size_t)s->f;
    const size_t total = (size_t)s->n * s->h * s->w;
    if ((!dx && !dw && !db) || total == 0 || out_total == 0)
        return;
    assert(scratch);
    assert(act == KDL_ACT_LINEAR || y);
    const float *dz = grad_block(scratch, dy, y, 0, out_total, f, act, alpha);
    if (db)
        column_sums(db, dz, out_total, f);
    if (!dx && !dw)
        return;
    const kdl_ConvShape t = transpose_adjoint(s);
    float *col = scratch + out_total * f;
    const int kkf = s->kh * s->kw * s->f, c = s->c;
    const int pointwise = is_pointwise(&t);
    const size_t blk = block_rows(&t);
    for (size_t r0 = 0; r0 < total; r0 += blk) {
        const int rows = (int)min_size(blk, total - r0);
        const float *cb = dz + r0 * f;     // pointwise: dz is t's im2col matrix
        if (!pointwise) {
            im2col_par(col, dz, &t, r0, (size_t)rows);
            cb = col;
        }
        if (dw)
            kdl_sgemm(1, 0, kkf, c, rows, 1.0f, cb, kkf, x + r0 * c, c, 1.0f, dw, c);
        if (dx)
            kdl_sgemm(0, 0, rows, c, kkf, 1.0f, cb, kkf, w, c, 1.0f, dx + r0 * c, c);
    }
}
