/*
 * misc.c - the data-movement layers and the small ones: merging with broadcasting (Add/Subtract/Multiply/Average), Rescaling,
 * Concatenate, Embedding, RepeatVector, ZeroPadding2D, UpSampling2D
 * (nearest) and the centred crop RandomCrop uses at inference; for
 * training, the backward kernel of each of them, RandomCrop's window at a
 * given offset and its backward, Dropout's forward (inverted dropout), and
 * the two element-wise helpers the generated train step uses, kdl_axpy and
 * kdl_mul_accumulate.
 *
 * All tensors are row-major, images NHWC. Copies go row by row with memcpy
 * / memset over the longest contiguous run each layout allows. Embedding is
 * the one kernel here that checks data: its ids come from the user.
 * Backward kernels ACCUMULATE into their gradient outputs (dx += ...) and
 * do nothing when the gradient output is NULL (see kdl.h).
 */
#include "internal.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

// ---- merging -------------------------------------------------------------------------------

// Largest rank kdl_merge_forward accepts (Keras tensors rarely pass 5).
#define MERGE_MAX_RANK 16

// One innermost run of n outputs: o = a (op) b, where a_full / b_full say
// whether a / b advance along the run (0: one value broadcast over it).
static void merge_row(float *o, const float *a, int a_full, const float *b, int b_full, size_t n,
                      kdl_Merge op) {
#define MERGE_LOOPS(expr)                                                                         \
    do {                                                                                          \
        if (a_full && b_full) {                                                                   \
            for (size_t j = 0; j < n; j++) {                                                      \
                float x = a[j], y = b[j];                                                         \
                o[j] = (expr);                                                                    \
            }                                                                                     \
        } else if (a_full) {                                                                      \
            float y = b[0];                                                                       \
            for (size_t j = 0; j < n; j++) {                                                      \
                float x = a[j];                                                                   \
                o[j] = (expr);                                                                    \
            }                                                                                     \
        } else {                                                                                  \
            float x = a[0];                                                                       \
            for (size_t j = 0; j < n; j++) {                                                      \
                float y = b[j];                                                                   \
                o[j] = (expr);                                                                    \
            }                                                                                     \
        }                                                                                         \
    } while (0)

    switch (op) {
    case KDL_MERGE_ADD: MERGE_LOOPS(x + y); break;
    case KDL_MERGE_SUB: MERGE_LOOPS(x - y); break;
    case KDL_MERGE_MUL: MERGE_LOOPS(x * y); break;
    case KDL_MERGE_AVG: MERGE_LOOPS((x + y) * 0.5f); break;   // Keras: sum / 2
    case KDL_MERGE_MAX: MERGE_LOOPS(x > y ? x : y); break;
    case KDL_MERGE_MIN: MERGE_LOOPS(x < y ? x : y); break;
    case KDL_MERGE_EQ: MERGE_LOOPS(x == y ? 1.0f : 0.0f); break;
    default: assert(!"kdl: unknown merge op");
    }
#undef MERGE_LOOPS
}

// a (a_shape), b (b_shape), equal rank -> out (broadcast shape).
// The axes are first coalesced: axes of extent 1 in the output are dropped,
// and neighbouring axes that a and b both span (or both broadcast along)
// merge into one, so (N,H,W,C) + (1,1,1,C) becomes (NHW, C) + (1, C). The
// last coalesced axis is one contiguous loop; an odometer walks the others,
// with stride 0 along an axis an input is broadcast on.
void kdl_merge_forward(float *out, const float *a, const int *a_shape, const float *b,
                       const int *b_shape, int rank, kdl_Merge op) {
    assert(rank >= 0 && rank <= MERGE_MAX_RANK);
    size_t len[MERGE_MAX_RANK];
    int af[MERGE_MAX_RANK], bf[MERGE_MAX_RANK];
    int nd = 0;
    for (int i = 0; i < rank; i++) {
        int da = a_shape[i], db = b_shape[i];
        int d = da == 1 ? db : da;      // numpy: 1 broadcasts (also against 0)
        assert((da == d || da == 1) && (db == d || db == 1));
        if (d <= 0)
            return;                     // empty output
        if (d == 1)
            continue;
        int fa = da != 1, fb = db != 1;
        if (nd > 0 && af[nd - 1] == fa && bf[nd - 1] == fb) {
            len[nd - 1] *= (size_t)d;
        } else {
            len[nd] = (size_t)d;
            af[nd] = fa;
            bf[nd] = fb;
            nd++;
        }
    }
    if (nd == 0) {                      // every axis has extent 1
        merge_row(out, a, 1, b, 1, 1, op);
        return;
    }
    // Strides of a and b along each coalesced axis (0 where broadcast).
    size_t sa[MERGE_MAX_RANK], sb[MERGE_MAX_RANK], idx[MERGE_MAX_RANK];
    size_t pa = 1, pb = 1, outer = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sa[i] = af[i] ? pa : 0;
        sb[i] = bf[i] ? pb : 0;
        pa *= af[i] ? len[i] : 1;
        pb *= bf[i] ? len[i] : 1;
        idx[i] = 0;
        if (i < nd - 1)
            outer *= len[i];
    }
    size_t n = len[nd - 1], ao = 0, bo = 0;
    for (size_t r = 0; r < outer; r++) {
        merge_row(out + r * n, a + ao, af[nd - 1], b + bo, bf[nd - 1], n, op);
        for (int i = nd - 2; i >= 0; i--) {
            ao += sa[i];
            bo += sb[i];
            if (++idx[i] < len[i])
                break;
            ao -= sa[i] * len[i];
            bo -= sb[i] * len[i];
            idx[i] = 0;
        }
    }
}

// out (n) = in (n) * scale + offset (Rescaling; Average's 1/k)
void kdl_scale(float *out, const float *in, size_t n, float scale, float offset) {
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] * scale + offset;
}

// in[i] (outer, in_len[i] * inner) for i < k -> out (outer, sum(in_len) * inner)
void kdl_concat_forward(float *out, const float *const *in, const int *in_len, int k, size_t outer,
                        size_t inner) {
    size_t row = 0;
    for (int i = 0; i < k; i++)
        row += (size_t)in_len[i] * inner;
    for (size_t r = 0; r < outer; r++) {
        float *o = out + r * row;
        for (int i = 0; i < k; i++) {
            size_t m = (size_t)in_len[i] * inner;
            if (m)
                memcpy(o, in[i] + r * m, sizeof(float) * m);
            o += m;
        }
    }
}

// ---- the rest ------------------------------------------------------------------------------

// ids (count), table (input_dim, dim) -> out (count, dim).
// All ids are checked before anything is written: on KDL_ERR_INDEX out is
// untouched and *bad_index (when bad_index is not NULL) is the first
// offending id value.
kdl_Status kdl_embedding_forward(float *out, const int32_t *ids, size_t count, const float *table,
                                 int input_dim, int dim, int64_t *bad_index) {
    for (size_t i = 0; i < count; i++)
        if (ids[i] < 0 || ids[i] >= input_dim) {
            if (bad_index)
                *bad_index = ids[i];
            return KDL_ERR_INDEX;
        }
    if (dim <= 0)
        return KDL_OK;
    size_t d = (size_t)dim;
    for (size_t i = 0; i < count; i++)
        memcpy(out + i * d, table + (size_t)ids[i] * d, sizeof(float) * d);
    return KDL_OK;
}

// Keras masks (Embedding(mask_zero=True)) as floats: 1 keep, 0 masked.
void kdl_mask_nonzero(float *mask, const int32_t *ids, size_t count) {
    for (size_t i = 0; i < count; i++)
        mask[i] = ids[i] != 0 ? 1.0f : 0.0f;
}

void kdl_mask_or(float *out, const float *a, const float *b, size_t count) {
    for (size_t i = 0; i < count; i++)
        out[i] = a[i] != 0.0f || b[i] != 0.0f ? 1.0f : 0.0f;
}

// Masking: whether row r of in (rows, cols) holds a value other than v.
static bool row_kept(const float *in, size_t r, int cols, float v) {
    const float *x = in + r * (size_t)cols;
    for (int j = 0; j < cols; j++)
        if (x[j] != v)
            return true;
    return false;
}

void kdl_masking_forward(float *out, float *mask, const float *in, size_t rows, int cols,
                         float mask_value) {
    for (size_t r = 0; r < rows; r++) {
        float keep = row_kept(in, r, cols, mask_value) ? 1.0f : 0.0f;
        for (int j = 0; j < cols; j++)
            out[r * (size_t)cols + j] = in[r * (size_t)cols + j] * keep;
        if (mask)
            mask[r] = keep;
    }
}

void kdl_masking_backward(float *dx, const float *dy, const float *in, size_t rows, int cols,
                          float mask_value) {
    if (!dx)
        return;
    for (size_t r = 0; r < rows; r++)
        if (row_kept(in, r, cols, mask_value))
            for (int j = 0; j < cols; j++)
                dx[r * (size_t)cols + j] += dy[r * (size_t)cols + j];
}

// in (n, d) -> out (n, times, d)
void kdl_repeat_forward(float *out, const float *in, int n, int times, int d) {
    if (d <= 0)
        return;
    size_t sd = (size_t)d;
    for (size_t i = 0; i < (size_t)n; i++)
        for (size_t t = 0; t < (size_t)times; t++)
            memcpy(out + (i * (size_t)times + t) * sd, in + i * sd, sizeof(float) * sd);
}

// in (n, h, w, c) -> out (n, h + top + bottom, w + left + right, c)
void kdl_zero_pad2d_forward(float *out, const float *in, int n, int h, int w, int c, int top,
                            int bottom, int left, int right) {
    size_t sc = (size_t)c, ow = (size_t)(w + left + right), orow = ow * sc;
    size_t irow = (size_t)w * sc, lpad = (size_t)left * sc, rpad = (size_t)right * sc;
    float *o = out;
    for (int b = 0; b < n; b++) {
        const float *x = in + (size_t)b * (size_t)h * irow;
        // Bottom rows of image b - 1 and top rows of image b are one zero run;
        // still cleared separately to keep the loop plain.
        memset(o, 0, sizeof(float) * (size_t)top * orow);
        o += (size_t)top * orow;
        for (int i = 0; i < h; i++) {
            memset(o, 0, sizeof(float) * lpad);
            memcpy(o + lpad, x + (size_t)i * irow, sizeof(float) * irow);
            memset(o + lpad + irow, 0, sizeof(float) * rpad);
            o += orow;
        }
        memset(o, 0, sizeof(float) * (size_t)bottom * orow);
        o += (size_t)bottom * orow;
    }
}

// in (n, h, w, c) -> out (n, h * sh, w * sw, c); out[i][j] = in[i / sh][j / sw]
void kdl_upsample2d_forward(float *out, const float *in, int n, int h, int w, int c, int sh,
                            int sw) {
    size_t sc = (size_t)c, orow = (size_t)w * (size_t)sw * sc;
    if (orow == 0)
        return;
    const float *x = in;
    float *o = out;
    for (size_t r = 0; r < (size_t)n * (size_t)h; r++, x += (size_t)w * sc) {
        // Build the first of the sh copies of this row, then duplicate it.
        float *first = o;
        for (size_t j = 0; j < (size_t)w; j++)
            for (int s = 0; s < sw; s++, o += sc)
                for (size_t ch = 0; ch < sc; ch++)
                    o[ch] = x[j * sc + ch];
        for (int s = 1; s < sh; s++, o += orow)
            memcpy(o, first, sizeof(float) * orow);
    }
}

void kdl_transpose_last2(float *out, const float *in, int n, int rows, int cols) {
    size_t r = (size_t)rows, c = (size_t)cols;
    for (int b = 0; b < n; b++, in += r * c, out += r * c)
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < c; j++)
                out[j * r + i] = in[i * c + j];
}

// Moves the axes in `mask` (bit k: axis k of dims, dims[0] the batch, never
// moved) last, keeping the order of the others and of the moved ones:
// (N, A, B, C) with mask {1, 3} -> (N, B, A, C). back: the inverse move
// (in has the moved layout, out the original); add: out += instead of =.
void kdl_move_axes(float *out, const float *in, int rank, const int dims[], unsigned mask,
                   int back, int add) {
    if (rank < 1 || rank > KDL_MAX_MOVE_RANK)
        return;
    // The moved layout as a permutation: the other axes in order, then the
    // axes of the mask in order; back is its inverse on the moved shape.
    int perm[KDL_MAX_MOVE_RANK], n = 0;
    for (int k = 0; k < rank; k++)
        if (!(mask >> k & 1))
            perm[n++] = k;
    for (int k = 0; k < rank; k++)
        if (mask >> k & 1)
            perm[n++] = k;
    if (!back) {
        kdl_permute(out, in, rank, dims, perm, add);
        return;
    }
    int moved[KDL_MAX_MOVE_RANK], inv[KDL_MAX_MOVE_RANK];
    for (int i = 0; i < rank; i++) {
        moved[i] = dims[perm[i]];
        inv[perm[i]] = i;
    }
    kdl_permute(out, in, rank, moved, inv, add);
}

// The two source rows (or columns) of output row o of a bilinear upsampling
// by an integer factor: half-pixel centres, src = (o + 0.5) / s - 0.5,
// clamped to [0, in - 1] (TF's resize, PyTorch's align_corners=False).
static void lerp_at(int o, int s, int in, int *lo, int *hi, float *t) {
    double src = (o + 0.5) / s - 0.5;
    if (src < 0)
        src = 0;
    int f = (int)src;
    *lo = f < in - 1 ? f : in - 1;
    *hi = f + 1 < in - 1 ? f + 1 : in - 1;
    *t = (float)(src - f);
}

// Bilinear upsampling (UpSampling2D interpolation="bilinear"):
// (n, h, w, c) -> (n, h*sh, w*sw, c).
void kdl_upsample2d_bilinear_forward(float *out, const float *in, int n, int h, int w, int c,
                                     int sh, int sw) {
    int oh = h * sh, ow = w * sw;
    size_t sc = (size_t)c;
    for (int b = 0; b < n; b++) {
        const float *img = in + (size_t)b * (size_t)h * (size_t)w * sc;
        for (int i = 0; i < oh; i++) {
            int y0, y1, x0, x1;
            float ty, tx;
            lerp_at(i, sh, h, &y0, &y1, &ty);
            for (int j = 0; j < ow; j++) {
                lerp_at(j, sw, w, &x0, &x1, &tx);
                const float *p00 = img + ((size_t)y0 * (size_t)w + (size_t)x0) * sc,
                            *p01 = img + ((size_t)y0 * (size_t)w + (size_t)x1) * sc,
                            *p10 = img + ((size_t)y1 * (size_t)w + (size_t)x0) * sc,
                            *p11 = img + ((size_t)y1 * (size_t)w + (size_t)x1) * sc;
                for (size_t k = 0; k < sc; k++) {
                    float top = p00[k] + (p01[k] - p00[k]) * tx;
                    float bot = p10[k] + (p11[k] - p10[k]) * tx;
                    *out++ = top + (bot - top) * ty;
                }
            }
        }
    }
}

// in (n, h, w, c) -> out (n, ch, cw, c): the window at ((h - ch) / 2, (w - cw) / 2)
void kdl_center_crop_forward(float *out, const float *in, int n, int h, int w, int c, int ch,
                             int cw) {
    assert(ch <= h && cw <= w);
    size_t sc = (size_t)c, top = (size_t)(h - ch) / 2, left = (size_t)(w - cw) / 2;
    size_t run = (size_t)cw * sc;
    if (run == 0)
        return;
    for (size_t b = 0; b < (size_t)n; b++)
        for (size_t i = 0; i < (size_t)ch; i++)
            memcpy(out + (b * (size_t)ch + i) * run,
                   in + ((b * (size_t)h + top + i) * (size_t)w + left) * sc, sizeof(float) * run);
}

// ---- training: element-wise helpers --------------------------------------------------------

// y (n) += a * x (n); nothing when y is NULL.
void kdl_axpy(float *y, const float *x, size_t n, float a) {
    if (!y)
        return;
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

// dx (n) += dy (n) * m (n): Dropout's backward with its saved mask; nothing when dx is NULL.
void kdl_mul_accumulate(float *dx, const float *dy, const float *m, size_t n) {
    if (!dx)
        return;
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * m[i];
}

// ---- training: backward kernels ------------------------------------------------------------

// One innermost run of n elements of dy: dx += scale * dy * o, where x_full /
// o_full say whether dx / o advance along the run (0: one value broadcast
// over it, so dx[0] receives the run's sum); o NULL stands for ones.
static void merge_grad_row(float *dx, int x_full, const float *dy, const float *o, int o_full,
                           size_t n, float scale) {
    if (x_full) {
        if (!o) {
            for (size_t j = 0; j < n; j++)
                dx[j] += scale * dy[j];
        } else if (o_full) {
            for (size_t j = 0; j < n; j++)
                dx[j] += scale * dy[j] * o[j];
        } else {
            float so = scale * o[0];
            for (size_t j = 0; j < n; j++)
                dx[j] += so * dy[j];
        }
        return;
    }
    // A sum over the run: in double, as the run may be a whole batch.
    double acc = 0;
    if (o && o_full) {
        for (size_t j = 0; j < n; j++)
            acc += (double)dy[j] * o[j];
    } else {
        for (size_t j = 0; j < n; j++)
            acc += dy[j];
        if (o)
            acc *= o[0];
    }
    dx[0] += (float)(scale * acc);
}

// dx (x_shape) += sum over the axes x is broadcast along of dy (y_shape) *
// scale * other (other_shape; NULL: ones, other_shape then unused and may be
// NULL). x_shape[i] and other_shape[i] are y_shape[i] or 1.
// The axes are coalesced as in kdl_merge_forward (extent-1 axes dropped,
// neighbours along which dx and other both advance, or both stay, merged),
// so the common unbroadcast case is one axis: a single plain loop. The last
// coalesced axis is a contiguous loop; an odometer walks the others, with
// stride 0 along an axis dx or other is broadcast on.
void kdl_merge_backward(float *dx, const int *x_shape, const float *dy, const int *y_shape,
                        const float *other, const int *other_shape, int rank, float scale) {
    assert(rank >= 0 && rank <= MERGE_MAX_RANK);
    if (!dx)
        return;
    size_t len[MERGE_MAX_RANK];
    int xf[MERGE_MAX_RANK], of[MERGE_MAX_RANK];
    int nd = 0;
    for (int i = 0; i < rank; i++) {
        int d = y_shape[i], fx = x_shape[i] != 1, fo = other && other_shape[i] != 1;
        assert(x_shape[i] == d || x_shape[i] == 1);
        assert(!other || other_shape[i] == d || other_shape[i] == 1);
        if (d <= 0)
            return;                     // dy is empty: nothing to add
        if (d == 1)
            continue;
        if (nd > 0 && xf[nd - 1] == fx && of[nd - 1] == fo) {
            len[nd - 1] *= (size_t)d;
        } else {
            len[nd] = (size_t)d;
            xf[nd] = fx;
            of[nd] = fo;
            nd++;
        }
    }
    if (nd == 0) {                      // every axis has extent 1
        merge_grad_row(dx, 1, dy, other, 1, 1, scale);
        return;
    }
    // Strides of dx and other along each coalesced axis (0 where broadcast).
    size_t sx[MERGE_MAX_RANK], so[MERGE_MAX_RANK], idx[MERGE_MAX_RANK];
    size_t px = 1, po = 1, outer = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sx[i] = xf[i] ? px : 0;
        so[i] = of[i] ? po : 0;
        px *= xf[i] ? len[i] : 1;
        po *= of[i] ? len[i] : 1;
        idx[i] = 0;
        if (i < nd - 1)
            outer *= len[i];
    }
    size_t n = len[nd - 1], xo = 0, oo = 0;
    for (size_t r = 0; r < outer; r++) {
        merge_grad_row(dx + xo, xf[nd - 1], dy + r * n, other ? other + oo : NULL, of[nd - 1], n,
                       scale);
        for (int i = nd - 2; i >= 0; i--) {
            xo += sx[i];
            oo += so[i];
            if (++idx[i] < len[i])
                break;
            xo -= sx[i] * len[i];
            oo -= so[i] * len[i];
            idx[i] = 0;
        }
    }
}

// dy (outer, sum(in_len) * inner) -> dx[i] (outer, in_len[i] * inner) += its
// slice of every row; dx[i] may be NULL (that input needs no gradient).
void kdl_concat_backward(float *const *dx, const float *dy, const int *in_len, int k, size_t outer,
                         size_t inner) {
    if (!dx)
        return;
    size_t row = 0;
    for (int i = 0; i < k; i++)
        row += (size_t)in_len[i] * inner;
    for (size_t r = 0; r < outer; r++) {
        const float *g = dy + r * row;
        for (int i = 0; i < k; i++) {
            size_t m = (size_t)in_len[i] * inner;
            if (dx[i])
                kdl_axpy(dx[i] + r * m, g, m, 1.0f);
            g += m;
        }
    }
}

// dtable (input_dim, dim) += dy (count, dim) scattered by ids (count): row
// ids[i] receives dy's row i; repeated ids sum, in order of i.
void kdl_embedding_backward(float *dtable, const float *dy, const int32_t *ids, size_t count,
                            int dim) {
    if (!dtable || dim <= 0)
        return;
    size_t d = (size_t)dim;
    for (size_t i = 0; i < count; i++) {
        assert(ids[i] >= 0);
        kdl_axpy(dtable + (size_t)ids[i] * d, dy + i * d, d, 1.0f);
    }
}

// dy (n, times, d) -> dx (n, d) += the sum over the copies.
void kdl_repeat_backward(float *dx, const float *dy, int n, int times, int d) {
    if (!dx || d <= 0)
        return;
    size_t sd = (size_t)d;
    for (size_t i = 0; i < (size_t)n; i++)
        for (size_t t = 0; t < (size_t)times; t++)
            kdl_axpy(dx + i * sd, dy + (i * (size_t)times + t) * sd, sd, 1.0f);
}

// dy (n, h + top + bottom, w + left + right, c) -> dx (n, h, w, c) += its interior.
void kdl_zero_pad2d_backward(float *dx, const float *dy, int n, int h, int w, int c, int top,
                             int bottom, int left, int right) {
    if (!dx)
        return;
    size_t sc = (size_t)c, oh = (size_t)(h + top + bottom), orow = (size_t)(w + left + right) * sc;
    size_t irow = (size_t)w * sc;
    for (size_t b = 0; b < (size_t)n; b++)
        for (size_t i = 0; i < (size_t)h; i++)
            kdl_axpy(dx + (b * (size_t)h + i) * irow,
                     dy + (b * oh + (size_t)top + i) * orow + (size_t)left * sc, irow, 1.0f);
}

// dx += the adjoint of kdl_upsample2d_bilinear_forward: each output's
// gradient goes to its four source pixels with the interpolation weights.
void kdl_upsample2d_bilinear_backward(float *dx, const float *dy, int n, int h, int w, int c,
                                      int sh, int sw) {
    if (!dx)
        return;
    int oh = h * sh, ow = w * sw;
    size_t sc = (size_t)c;
    for (int b = 0; b < n; b++) {
        float *img = dx + (size_t)b * (size_t)h * (size_t)w * sc;
        for (int i = 0; i < oh; i++) {
            int y0, y1, x0, x1;
            float ty, tx;
            lerp_at(i, sh, h, &y0, &y1, &ty);
            for (int j = 0; j < ow; j++, dy += sc) {
                lerp_at(j, sw, w, &x0, &x1, &tx);
                float w00 = (1 - ty) * (1 - tx), w01 = (1 - ty) * tx, w10 = ty * (1 - tx),
                      w11 = ty * tx;
                float *p00 = img + ((size_t)y0 * (size_t)w + (size_t)x0) * sc,
                      *p01 = img + ((size_t)y0 * (size_t)w + (size_t)x1) * sc,
                      *p10 = img + ((size_t)y1 * (size_t)w + (size_t)x0) * sc,
                      *p11 = img + ((size_t)y1 * (size_t)w + (size_t)x1) * sc;
                for (size_t k = 0; k < sc; k++) {
                    p00[k] += w00 * dy[k];
                    p01[k] += w01 * dy[k];
                    p10[k] += w10 * dy[k];
                    p11[k] += w11 * dy[k];
                }
            }
        }
    }
}

// dy (n, h * sh, w * sw, c) -> dx (n, h, w, c) += the sum of each cell's sh * sw copies.
void kdl_upsample2d_backward(float *dx, const float *dy, int n, int h, int w, int c, int sh,
                             int sw) {
    if (!dx)
        return;
    size_t sc = (size_t)c, irow = (size_t)w * sc, orow = irow * (size_t)sw;
    const float *g = dy;
    for (size_t r = 0; r < (size_t)n * (size_t)h; r++) {
        float *x = dx + r * irow;
        // The sh output rows of input row r, each read once in order.
        for (int s = 0; s < sh; s++, g += orow)
            for (size_t j = 0; j < (size_t)w; j++) {
                float *xj = x + j * sc;
                const float *gj = g + j * (size_t)sw * sc;
                for (size_t t = 0; t < (size_t)sw; t++, gj += sc)
                    for (size_t k = 0; k < sc; k++)
                        xj[k] += gj[k];
            }
    }
}

// in (n, h, w, c) -> out (n, ch, cw, c): the window at (top, left).
void kdl_crop2d_forward(float *out, const float *in, int n, int h, int w, int c, int ch, int cw,
                        int top, int left) {
    assert(top >= 0 && left >= 0 && top + ch <= h && left + cw <= w);
    size_t sc = (size_t)c, run = (size_t)cw * sc;
    if (run == 0)
        return;
    for (size_t b = 0; b < (size_t)n; b++)
        for (size_t i = 0; i < (size_t)ch; i++)
            memcpy(out + (b * (size_t)ch + i) * run,
                   in + ((b * (size_t)h + (size_t)top + i) * (size_t)w + (size_t)left) * sc,
                   sizeof(float) * run);
}

// dy (n, ch, cw, c) -> dx (n, h, w, c) += dy inside the window at (top, left)
// (the cells outside it get no gradient, so they are left as they are).
void kdl_crop2d_backward(float *dx, const float *dy, int n, int h, int w, int c, int ch, int cw,
                         int top, int left) {
    assert(top >= 0 && left >= 0 && top + ch <= h && left + cw <= w);
    if (!dx)
        return;
    size_t sc = (size_t)c, run = (size_t)cw * sc;
    for (size_t b = 0; b < (size_t)n; b++)
        for (size_t i = 0; i < (size_t)ch; i++)
            kdl_axpy(dx + ((b * (size_t)h + (size_t)top + i) * (size_t)w + (size_t)left) * sc,
                     dy + (b * (size_t)ch + i) * run, run, 1.0f);
}

// ---- training: Dropout ---------------------------------------------------------------------

// in (n) -> out (n) = in * mask, mask (n) written; out may equal in.
// The mask, reproducibly from r's state: each kdl_rng_next(r) draw serves
// two elements in order, its low 32 bits element 2k and its high 32 bits
// element 2k + 1 (for odd n the last draw's high half is unused), so a call
// advances r by ceil(n / 2) draws. Element i is dropped (mask 0) when its
// 32 bits u < round_down(rate * 2^32), i.e. with probability rate to within
// 2^-32; kept elements get (float)(1.0 / (1.0 - rate)) computed in double.
// rate <= 0 gives all ones and rate >= 1 all zeros (Keras's limits), both
// without drawing from r. mask must not overlap in or out.
void kdl_dropout_forward(float *out, float *mask, const float *in, size_t n, float rate,
                         kdl_Rng *r) {
    kdl_dropout_mask(mask, n, rate, r);
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] * mask[i];
}

// See kdl.h: the mask of kdl_dropout_forward (same draws, same values).
void kdl_dropout_mask(float *mask, size_t n, float rate, kdl_Rng *r) {
    if (!(rate > 0.0f) || rate >= 1.0f) {
        float m = rate >= 1.0f ? 0.0f : 1.0f;
        for (size_t i = 0; i < n; i++)
            mask[i] = m;
        return;
    }
    uint64_t thr = (uint64_t)((double)rate * 4294967296.0);    // < 2^32 as rate < 1
    float keep = (float)(1.0 / (1.0 - (double)rate));
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t u = kdl_rng_next(r);
        mask[i] = (u & 0xFFFFFFFFu) < thr ? 0.0f : keep;
        mask[i + 1] = (u >> 32) < thr ? 0.0f : keep;
    }
    if (i < n)
        mask[i] = (kdl_rng_next(r) & 0xFFFFFFFFu) < thr ? 0.0f : keep;
}

// See kdl.h. An odometer over out's axes; the last one is a strided loop.
void kdl_permute(float *out, const float *in, int rank, const int dims[], const int perm[],
                 int add) {
    assert(rank >= 1 && rank <= KDL_MAX_MOVE_RANK);
    size_t istride[KDL_MAX_MOVE_RANK], odim[KDL_MAX_MOVE_RANK], ostr[KDL_MAX_MOVE_RANK];
    size_t total = 1, st = 1;
    for (int i = rank - 1; i >= 0; i--) {
        istride[i] = st;
        st *= (size_t)dims[i];
    }
    for (int i = 0; i < rank; i++) {
        odim[i] = (size_t)dims[perm[i]];
        ostr[i] = istride[perm[i]];     // in's stride along out's axis i
        total *= odim[i];
    }
    if (total == 0)
        return;
    size_t idx[KDL_MAX_MOVE_RANK] = {0}, n = odim[rank - 1], s = ostr[rank - 1];
    for (size_t o = 0; o < total; o += n) {
        size_t off = 0;
        for (int i = 0; i < rank - 1; i++)
            off += idx[i] * ostr[i];
        for (size_t j = 0; j < n; j++)
            out[o + j] = (add ? out[o + j] : 0.0f) + in[off + j * s];
        for (int i = rank - 2; i >= 0; i--) {   // next index of the outer axes
            if (++idx[i] < odim[i])
                break;
            idx[i] = 0;
        }
    }
}
