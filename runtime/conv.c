/*
 * conv.c - Conv1D/2D (groups, dilation), DepthwiseConv2D and Conv2DTranspose
 * forward and backward over NHWC tensors (1-D: h = kh = sh = dh = 1, pad_top = 0).
 *
 * Conv2D lowers to GEMM. A 1x1, stride-1, unpadded conv is a GEMM on the
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

// ---- Conv1D / Conv2D --------------------------------------------------------------------

size_t kdl_conv2d_scratch(const kdl_ConvShape *s) {
    if (is_pointwise(s))
        return 0;
    return block_rows(s) * ((size_t)s->kh * s->kw * s->c);
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
        im2col(scratch, in, s, r0, (size_t)rows);
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
void kdl_depthwise_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                                  const kdl_ConvShape *s, kdl_Act act, float alpha) {
    const int c = s->c, dm = s->depth_multiplier, kw = s->kw;
    assert(dm >= 1);
    const size_t fo = (size_t)c * dm;                  // output channels
    const size_t img = (size_t)s->h * s->w * c;
    const ptrdiff_t sy = (ptrdiff_t)s->dh * s->w * c, sx = (ptrdiff_t)s->dw * c;
    const ptrdiff_t wx = (ptrdiff_t)fo, wy = (ptrdiff_t)kw * fo;   // w[ky, kx] row stride
    for (int bi = 0; bi < s->n; bi++) {
        const float *src = in + (size_t)bi * img;
        for (int y = 0; y < s->oh; y++) {
            float *orow = out + (((size_t)bi * s->oh + y) * s->ow) * fo;
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
                        depthwise_block16(o + ci, src, off + ci, sy, sx, w + ci, wy, wx, ky_lo,
                                          ky_hi, kx_lo, kx_hi);
                    for (; ci + 4 <= c; ci += 4)
                        depthwise_block4(o + ci, src, off + ci, sy, sx, w + ci, wy, wx, ky_lo,
                                         ky_hi, kx_lo, kx_hi);
                    for (; ci < c; ci++)
                        depthwise_block1(o + ci, src, off + ci, sy, sx, w + ci, wy, wx, ky_lo,
                                         ky_hi, kx_lo, kx_hi);
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
            kdl_bias_act_forward(orow, b, (size_t)s->ow, fo, act, alpha);
        }
    }
}

// ---- Conv2DTranspose -----------------------------------------------------------------------

// Stack tile for the transposed conv's small-f path (floats; 32 KB).
#define TRANSPOSE_TILE 8192

// out (f) += v (f): one tap's contribution to one output pixel.
static inline void add_floats(float *restrict out, const float *restrict v, int f) {
    for (int j = 0; j < f; j++)
        out[j] += v[j];
}

// Small f: the per-tap GEMMs below would have only f columns. Instead, for a
// chunk of m input pixels (consecutive in (n, h, w), so lda = c), one GEMM
// computes every tap at once, tile (m, kh, kw, f) = in (m, c) @ w^T with w
// seen as (kh*kw*f, c), and each (kh, kw) slice of a tile row is added to
// its output pixel. The tile lives on the stack (no scratch in the API).
static void transpose_tiled(float *out, const float *in, const float *w, const kdl_ConvShape *s) {
    float tile[TRANSPOSE_TILE];
    const int f = s->f, taps_f = s->kh * s->kw * s->f;
    const size_t total = (size_t)s->n * s->h * s->w;
    const size_t chunk = TRANSPOSE_TILE / (size_t)taps_f;
    const size_t out_img = (size_t)s->oh * s->ow * f;
    for (size_t p0 = 0; p0 < total; p0 += chunk) {
        const int m = (int)min_size(chunk, total - p0);
        kdl_sgemm(0, 1, m, taps_f, s->c, 1.0f, in + p0 * s->c, s->c, w, s->c, 0.0f, tile, taps_f);
        for (int i = 0; i < m; i++) {
            const size_t p = p0 + (size_t)i;
            const int x = (int)(p % (size_t)s->w), y = (int)(p / (size_t)s->w % (size_t)s->h);
            float *oimg = out + p / ((size_t)s->w * s->h) * out_img;
            const float *t = tile + (size_t)i * taps_f;
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

// A block of dz: dy's rows [r0, r0 + rows), through the activation's
// derivative into buf unless act is linear.
static const float *grad_block(float *buf, const float *dy, const float *y, size_t r0, size_t rows,
                               size_t f, kdl_Act act, float alpha) {
    if (act == KDL_ACT_LINEAR)
        return dy + r0 * f;
    kdl_act_grad_output(buf, dy + r0 * f, y + r0 * f, rows, f, act, alpha);
    return buf;
}

// The dz block (block_rows * f), then the im2col block (kdl_conv2d_scratch).
size_t kdl_conv2d_backward_scratch(const kdl_ConvShape *s) {
    return block_rows(s) * (size_t)s->f + kdl_conv2d_scratch(s);
}

// dy (n, oh, ow, f), x (n, h, w, c), w (kh, kw, c/groups, f), y (n, oh, ow, f)
// -> dx (n, h, w, c) += ..., dw (kh, kw, c/groups, f) += ..., db (f) += ...
// Block by block of output rows (as the forward): dz = dy * act' (from y);
// db += column sums of dz; per group g, dw[g] (kg, fg) += col[:, g]^T dz[:, g]
// with col the forward's im2col of x; dcol[:, g] = dz[:, g] w[g]^T, written
// into the same im2col buffer, then col2im scatter-adds dcol into dx. The
// 1x1 stride-1 unpadded conv uses x and dx directly (no im2col).
// scratch: kdl_conv2d_backward_scratch(s) floats.
void kdl_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const float *y, const kdl_ConvShape *s, kdl_Act act,
                         float alpha, float *scratch) {
    assert(s->groups >= 1 && s->c % s->groups == 0 && s->f % s->groups == 0);
    const int groups = s->groups, c = s->c, cg = c / groups, fg = s->f / groups, f = s->f;
    const size_t total = (size_t)s->n * s->oh * s->ow;
    if (total == 0 || (!dx && !dw && !db))
        return;
    assert(scratch || (act == KDL_ACT_LINEAR && is_pointwise(s)));
    assert(act == KDL_ACT_LINEAR || y);
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
            im2col(col, x, s, r0, (size_t)rows);
            for (int g = 0; g < groups; g++)
                kdl_sgemm(1, 0, kg, fg, rows, 1.0f, col + (size_t)g * kg, row_len,
                          dz + (size_t)g * fg, f, 1.0f, dw + (size_t)g * fg, f);
        }
        if (dx) {
            for (int g = 0; g < groups; g++)
                kdl_sgemm(0, 1, rows, kg, fg, 1.0f, dz + (size_t)g * fg, f, w + (size_t)g * fg, f,
                          0.0f, col + (size_t)g * kg, row_len);
            col2im(dx, col, s, r0, (size_t)rows);
        }
    }
}

// One output row's dz (ow * c * depth_multiplier floats).
size_t kdl_depthwise_conv2d_backward_scratch(const kdl_ConvShape *s) {
    return (size_t)s->ow * s->c * s->depth_multiplier;
}

// dy (n, oh, ow, c*dm), x (n, h, w, c), w (kh, kw, c, dm), y as dy
// -> dx (n, h, w, c) += ..., dw (kh, kw, c, dm) += ..., db (c*dm) += ...
// Output row by output row: dz = dy * act' (from y), db += its column sums;
// then every valid tap (ky, kx) of every output pixel, with g = dz[pixel]:
//   dw[ky, kx, ci, m] += x[tap pixel, ci] * g[ci*dm + m]
//   dx[tap pixel, ci] += sum_m w[ky, kx, ci, m] * g[ci*dm + m]
// (dm == 1: both are element-wise products over the c channels).
// scratch: kdl_depthwise_conv2d_backward_scratch(s) floats (unused when linear).
void kdl_depthwise_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const float *y,
                                   const kdl_ConvShape *s, kdl_Act act, float alpha,
                                   float *scratch) {
    const int c = s->c, dm = s->depth_multiplier, kw = s->kw;
    assert(dm >= 1);
    if (!dx && !dw && !db)
        return;
    assert(act == KDL_ACT_LINEAR || (y && scratch));
    const size_t fo = (size_t)c * dm;
    const size_t img = (size_t)s->h * s->w * c;
    const ptrdiff_t sy = (ptrdiff_t)s->dh * s->w * c, sx = (ptrdiff_t)s->dw * c;
    const ptrdiff_t wx = (ptrdiff_t)fo, wy = (ptrdiff_t)kw * fo;
    for (int bi = 0; bi < s->n; bi++) {
        const float *src = x + (size_t)bi * img;
        float *dsrc = dx ? dx + (size_t)bi * img : NULL;
        for (int oy = 0; oy < s->oh; oy++) {
            const size_t r0 = ((size_t)bi * s->oh + oy) * s->ow;
            const float *dz = grad_block(scratch, dy, y, r0, (size_t)s->ow, fo, act, alpha);
            if (db)
                column_sums(db, dz, (size_t)s->ow, fo);
            if (!dx && !dw)
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
                                mul_add_to(dw + wo, src + po, g, (size_t)c);
                            if (dx)
                                mul_add_to(dsrc + po, w + wo, g, (size_t)c);
                            continue;
                        }
                        for (int ci = 0; ci < c; ci++) {
                            const float *restrict gc = g + (size_t)ci * dm;
                            if (dw) {
                                const float v = src[po + ci];
                                float *restrict dwc = dw + (wo + (ptrdiff_t)ci * dm);
                                for (int m = 0; m < dm; m++)
                                    dwc[m] += v * gc[m];
                            }
                            if (dx) {
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
    return (size_t)s->n * s->oh * s->ow * s->f + kdl_conv2d_scratch(&t);
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
            im2col(col, dz, &t, r0, (size_t)rows);
            cb = col;
        }
        if (dw)
            kdl_sgemm(1, 0, kkf, c, rows, 1.0f, cb, kkf, x + r0 * c, c, 1.0f, dw, c);
        if (dx)
            kdl_sgemm(0, 0, rows, c, kkf, 1.0f, cb, kkf, w, c, 1.0f, dx + r0 * c, c);
    }
}
