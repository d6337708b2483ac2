/*
 * test_conv.c - kdl_conv2d_forward, kdl_depthwise_conv2d_forward and
 * kdl_conv2d_transpose_forward against naive references written here from
 * the definitions (plain nested loops, double accumulation).
 *
 * Random shapes with odd sizes, strides 1-3, dilation 1-3, groups, padding
 * valid/same (and causal for 1-D), batch 1 and 7, with the pads computed the
 * way the compiler must (see conv.c); shapes big enough to cross the
 * kernels' block boundaries; scratch of exactly kdl_conv2d_scratch floats
 * (ASan with SAN=1 catches overruns); outputs pre-filled with NaN so a
 * skipped element fails. Fixed cases reach every code path: the pointwise
 * GEMM, the short-row im2col, groups == channels, kernels larger than the
 * input, and the transposed conv's stack-tile and per-tap strategies. The
 * transposed conv is checked against a scatter reference, as the adjoint of
 * the naive direct conv (<T y, x> = <y, C x>), and on tiny cases by hand.
 */
#include "check.h"

#include <string.h>

enum { VALID, SAME, CAUSAL };
static const char *const mode_name[] = {"valid", "same", "causal"};

// Keras's output size and the compiler's pad_before for one conv axis.
static void conv_axis(int in, int k, int s, int d, int mode, int *out, int *pad) {
    int k_eff = (k - 1) * d + 1;
    if (mode == VALID) {
        *out = in >= k_eff ? (in - k_eff) / s + 1 : 0;
        *pad = 0;
    } else if (mode == SAME) {
        *out = (in - 1) / s + 1;
        int total = (*out - 1) * s + k_eff - in;
        *pad = total > 0 ? total / 2 : 0;
    } else {
        *out = (in - 1) / s + 1;
        *pad = d * (k - 1);
    }
}

// ---- reference activations (independent of act.c) -------------------------------------

static const kdl_Act test_acts[] = {KDL_ACT_LINEAR,     KDL_ACT_RELU,    KDL_ACT_RELU6,
                                    KDL_ACT_LEAKY_RELU, KDL_ACT_SIGMOID, KDL_ACT_TANH,
                                    KDL_ACT_SOFTMAX};
#define N_ACTS ((int)(sizeof test_acts / sizeof test_acts[0]))

static double ref_act1(double x, kdl_Act act, double alpha) {
    switch (act) {
    case KDL_ACT_RELU: return x > 0 ? x : 0;
    case KDL_ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case KDL_ACT_LEAKY_RELU: return x < 0 ? alpha * x : x;
    case KDL_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KDL_ACT_TANH: return tanh(x);
    default: return x;
    }
}

// act over rows of f doubles (softmax over the last axis), then to float.
static void ref_act(float *out, const double *acc, size_t rows, int f, kdl_Act act, float alpha) {
    for (size_t r = 0; r < rows; r++) {
        const double *a = acc + r * f;
        float *o = out + r * f;
        if (act == KDL_ACT_SOFTMAX) {
            double m = a[0], sum = 0;
            for (int j = 1; j < f; j++)
                m = a[j] > m ? a[j] : m;
            for (int j = 0; j < f; j++)
                sum += exp(a[j] - m);
            for (int j = 0; j < f; j++)
                o[j] = (float)(exp(a[j] - m) / sum);
        } else {
            for (int j = 0; j < f; j++)
                o[j] = (float)ref_act1(a[j], act, alpha);
        }
    }
}

// ---- naive references ----------------------------------------------------------------------

#define IN(s, b, y, x, ch) ((((size_t)(b) * (s)->h + (y)) * (s)->w + (x)) * (s)->c + (ch))
#define OUT(s, b, y, x, ch) ((((size_t)(b) * (s)->oh + (y)) * (s)->ow + (x)) * (s)->f + (ch))

// Straight from the definition; acc (n*oh*ow*f doubles) gets the pre-activation.
static void naive_conv_acc(double *acc, const float *in, const float *w, const float *b,
                           const kdl_ConvShape *s) {
    int cg = s->c / s->groups, fg = s->f / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int y = 0; y < s->oh; y++)
            for (int x = 0; x < s->ow; x++)
                for (int fo = 0; fo < s->f; fo++) {
                    int g = fo / fg;
                    double sum = b ? b[fo] : 0;
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int iy = y * s->sh - s->pad_top + ky * s->dh;
                            int ix = x * s->sw - s->pad_left + kx * s->dw;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                continue;
                            for (int ci = 0; ci < cg; ci++)
                                sum += (double)in[IN(s, n, iy, ix, g * cg + ci)] *
                                       w[(((size_t)ky * s->kw + kx) * cg + ci) * s->f + fo];
                        }
                    acc[OUT(s, n, y, x, fo)] = sum;
                }
}

static void naive_depthwise_acc(double *acc, const float *in, const float *w, const float *b,
                                const kdl_ConvShape *s) {
    int dm = s->depth_multiplier;
    for (int n = 0; n < s->n; n++)
        for (int y = 0; y < s->oh; y++)
            for (int x = 0; x < s->ow; x++)
                for (int ci = 0; ci < s->c; ci++)
                    for (int m = 0; m < dm; m++) {
                        double sum = b ? b[ci * dm + m] : 0;
                        for (int ky = 0; ky < s->kh; ky++)
                            for (int kx = 0; kx < s->kw; kx++) {
                                int iy = y * s->sh - s->pad_top + ky * s->dh;
                                int ix = x * s->sw - s->pad_left + kx * s->dw;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue;
                                sum += (double)in[IN(s, n, iy, ix, ci)] *
                                       w[(((size_t)ky * s->kw + kx) * s->c + ci) * dm + m];
                            }
                        acc[OUT(s, n, y, x, ci * dm + m)] = sum;
                    }
}

// Transposed conv as a scatter: each input value times each tap lands on
// out[y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw] when that is inside.
static void naive_transpose_acc(double *acc, const float *in, const float *w, const float *b,
                                const kdl_ConvShape *s) {
    size_t total = (size_t)s->n * s->oh * s->ow;
    for (size_t p = 0; p < total; p++)
        for (int fo = 0; fo < s->f; fo++)
            acc[p * s->f + fo] = b ? b[fo] : 0;
    for (int n = 0; n < s->n; n++)
        for (int y = 0; y < s->h; y++)
            for (int x = 0; x < s->w; x++)
                for (int ky = 0; ky < s->kh; ky++)
                    for (int kx = 0; kx < s->kw; kx++) {
                        int oy = y * s->sh - s->pad_top + ky * s->dh;
                        int ox = x * s->sw - s->pad_left + kx * s->dw;
                        if (oy < 0 || oy >= s->oh || ox < 0 || ox >= s->ow)
                            continue;
                        for (int fo = 0; fo < s->f; fo++)
                            for (int ci = 0; ci < s->c; ci++)
                                acc[OUT(s, n, oy, ox, fo)] +=
                                    (double)in[IN(s, n, y, x, ci)] *
                                    w[(((size_t)ky * s->kw + kx) * s->f + fo) * s->c + ci];
                    }
}

static float *nan_filled(size_t n) {
    float *p = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

static void describe(char *buf, size_t len, const char *kind, const kdl_ConvShape *s, int mode,
                     kdl_Act act) {
    snprintf(buf, len,
             "%s n=%d in=%dx%dx%d out=%dx%dx%d k=%dx%d s=%dx%d d=%dx%d pad=%d,%d g=%d dm=%d %s "
             "act=%d",
             kind, s->n, s->h, s->w, s->c, s->oh, s->ow, s->f, s->kh, s->kw, s->sh, s->sw, s->dh,
             s->dw, s->pad_top, s->pad_left, s->groups, s->depth_multiplier, mode_name[mode],
             (int)act);
}

// ---- Conv1D / Conv2D ----------------------------------------------------------------------

static void run_conv(kdl_ConvShape s, int mode, kdl_Act act, int use_bias) {
    size_t in_n = (size_t)s.n * s.h * s.w * s.c;
    size_t w_n = (size_t)s.kh * s.kw * (s.c / s.groups) * s.f;
    size_t out_n = (size_t)s.n * s.oh * s.ow * s.f;
    float *in = check_random(in_n, -1, 1), *w = check_random(w_n, -1, 1);
    float *b = use_bias ? check_random((size_t)s.f, -1, 1) : NULL;
    float *out = nan_filled(out_n), *ref = check_alloc(out_n);
    double *acc = calloc(out_n ? out_n : 1, sizeof(double));
    size_t scratch_n = kdl_conv2d_scratch(&s);
    float *scratch = scratch_n ? nan_filled(scratch_n) : NULL;  // im2col must write every cell
    float alpha = 0.2f;
    kdl_conv2d_forward(out, in, w, b, &s, act, alpha, scratch);
    naive_conv_acc(acc, in, w, b, &s);
    ref_act(ref, acc, out_n / s.f, s.f, act, alpha);
    char what[256];
    describe(what, sizeof what, "conv", &s, mode, act);
    check_close(what, out, ref, out_n, 1e-4, 1e-4);
    free(in), free(w), free(b), free(out), free(ref), free(acc), free(scratch);
}

// A random conv geometry; 1-D when one_d. Returns 0 if "valid" leaves no output.
static int random_geometry(kdl_ConvShape *s, int one_d, int mode, int depthwise) {
    memset(s, 0, sizeof *s);
    s->n = check_int(0, 1) ? 7 : 1;
    s->groups = depthwise ? 1 : (check_int(0, 2) ? 1 : check_int(2, 3));
    s->depth_multiplier = depthwise ? check_int(1, 3) : 1;
    s->c = depthwise ? check_int(1, 9) : s->groups * check_int(1, 5);
    s->f = depthwise ? s->c * s->depth_multiplier : s->groups * check_int(1, 5);
    s->w = check_int(1, 15);
    s->kw = check_int(1, 5);
    s->sw = check_int(1, 3);
    s->dw = check_int(1, 3);
    if (one_d) {
        s->h = s->kh = s->sh = s->dh = 1;
    } else {
        s->h = check_int(1, 13);
        s->kh = check_int(1, 4);
        s->sh = check_int(1, 3);
        s->dh = check_int(1, 3);
    }
    conv_axis(s->h, s->kh, s->sh, s->dh, one_d ? VALID : mode, &s->oh, &s->pad_top);
    conv_axis(s->w, s->kw, s->sw, s->dw, mode, &s->ow, &s->pad_left);
    if (one_d)
        s->pad_top = 0, s->oh = 1;
    return s->oh > 0 && s->ow > 0;
}

static void test_conv_random(void) {
    for (int i = 0; i < 400; i++) {
        int one_d = i % 4 == 3;
        int mode = one_d ? check_int(0, 2) : check_int(0, 1);
        kdl_ConvShape s;
        if (!random_geometry(&s, one_d, mode, 0))
            continue;
        run_conv(s, mode, test_acts[i % N_ACTS], i % 5 != 0);
    }
}

static void test_conv_fixed(void) {
    // 1x1 stride 1 (the no-im2col path), with and without groups; the first
    // crosses an output-block boundary (7*30*30 rows).
    kdl_ConvShape s = {.n = 7, .h = 30, .w = 30, .c = 5, .oh = 30, .ow = 30, .f = 48, .kh = 1,
                       .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    run_conv(s, VALID, KDL_ACT_RELU, 1);
    s.c = 6, s.f = 9, s.groups = 3, s.n = 1;
    run_conv(s, VALID, KDL_ACT_LINEAR, 1);
    // 1x1 with stride 2 and 1x1 "same" (im2col path, but trivial taps).
    s = (kdl_ConvShape){.n = 7, .h = 9, .w = 11, .c = 4, .f = 3, .kh = 1, .kw = 1, .sh = 2,
                        .sw = 2, .dh = 1, .dw = 1, .groups = 1};
    conv_axis(s.h, 1, 2, 1, SAME, &s.oh, &s.pad_top);
    conv_axis(s.w, 1, 2, 1, SAME, &s.ow, &s.pad_left);
    run_conv(s, SAME, KDL_ACT_LINEAR, 1);
    // A 3x3 "same" conv over more rows than one im2col block holds.
    s = (kdl_ConvShape){.n = 7, .h = 41, .w = 43, .c = 8, .f = 16, .kh = 3, .kw = 3, .sh = 1,
                        .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    conv_axis(s.h, 3, 1, 1, SAME, &s.oh, &s.pad_top);
    conv_axis(s.w, 3, 1, 1, SAME, &s.ow, &s.pad_left);
    run_conv(s, SAME, KDL_ACT_RELU, 1);
    // One channel, 64 filters: the short-row im2col path, with blocks that
    // end in the middle of output rows.
    s = (kdl_ConvShape){.n = 7, .h = 45, .w = 47, .c = 1, .f = 64, .kh = 3, .kw = 3, .sh = 1,
                        .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    conv_axis(s.h, 3, 1, 1, SAME, &s.oh, &s.pad_top);
    conv_axis(s.w, 3, 1, 1, SAME, &s.ow, &s.pad_left);
    run_conv(s, SAME, KDL_ACT_RELU, 1);
    // A first layer: 3 channels, 5x5 stride 2.
    s = (kdl_ConvShape){.n = 1, .h = 33, .w = 31, .c = 3, .f = 8, .kh = 5, .kw = 5, .sh = 2,
                        .sw = 2, .dh = 1, .dw = 1, .groups = 1};
    conv_axis(s.h, 5, 2, 1, SAME, &s.oh, &s.pad_top);
    conv_axis(s.w, 5, 2, 1, SAME, &s.ow, &s.pad_left);
    run_conv(s, SAME, KDL_ACT_RELU6, 1);
    // Grouped with groups == channels, dilated, causal 1-D.
    s = (kdl_ConvShape){.n = 7, .h = 1, .w = 17, .c = 6, .f = 12, .kh = 1, .kw = 3, .sh = 1,
                        .sw = 1, .dh = 1, .dw = 2, .groups = 6};
    conv_axis(s.w, 3, 1, 2, CAUSAL, &s.ow, &s.pad_left);
    s.oh = 1;
    run_conv(s, CAUSAL, KDL_ACT_TANH, 1);
    // A kernel larger than the input ("same"), so whole rows are padding.
    s = (kdl_ConvShape){.n = 1, .h = 2, .w = 3, .c = 2, .f = 2, .kh = 5, .kw = 7, .sh = 1,
                        .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    conv_axis(s.h, 5, 1, 1, SAME, &s.oh, &s.pad_top);
    conv_axis(s.w, 7, 1, 1, SAME, &s.ow, &s.pad_left);
    run_conv(s, SAME, KDL_ACT_LINEAR, 0);
    // Left padding that reaches past the output run (the first interior
    // pixel is beyond the last output): a causal stride-3 1-D conv with one
    // output, and a "same" 1x5 conv over a width of 1. im2col used to write
    // rows past its block (a heap overflow at the end of the scratch).
    s = (kdl_ConvShape){.n = 1, .h = 1, .w = 3, .c = 3, .f = 2, .kh = 1, .kw = 5, .sh = 1,
                        .sw = 3, .dh = 1, .dw = 1, .groups = 1};
    conv_axis(s.w, 5, 3, 1, CAUSAL, &s.ow, &s.pad_left);
    s.oh = 1;
    run_conv(s, CAUSAL, KDL_ACT_LINEAR, 1);
    s = (kdl_ConvShape){.n = 7, .h = 4, .w = 1, .c = 2, .f = 3, .kh = 1, .kw = 5, .sh = 1,
                        .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    conv_axis(s.h, 1, 1, 1, SAME, &s.oh, &s.pad_top);
    conv_axis(s.w, 5, 1, 1, SAME, &s.ow, &s.pad_left);
    run_conv(s, SAME, KDL_ACT_RELU, 1);
}

// A hand-worked Conv1D: in [1 2 3 4], kernel [1 10], stride 1, "same":
// total = 1, pad_before = 0, so out = [1+20, 2+30, 3+40, 4] + 0.5.
static void test_conv_by_hand(void) {
    kdl_ConvShape s = {.n = 1, .h = 1, .w = 4, .c = 1, .oh = 1, .ow = 4, .f = 1, .kh = 1,
                       .kw = 2, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    int ow, pad;
    conv_axis(4, 2, 1, 1, SAME, &ow, &pad);
    check_true("conv same pads (4, k=2)", ow == 4 && pad == 0);
    float in[] = {1, 2, 3, 4}, w[] = {1, 10}, b[] = {0.5f}, out[4];
    float want[] = {21.5f, 32.5f, 43.5f, 4.5f}, scratch[8];
    check_true("conv scratch fits", kdl_conv2d_scratch(&s) <= 8);
    kdl_conv2d_forward(out, in, w, b, &s, KDL_ACT_LINEAR, 0, scratch);
    check_close("conv by hand", out, want, 4, 1e-6, 0);
}

// ---- DepthwiseConv2D ------------------------------------------------------------------------

static void run_depthwise(kdl_ConvShape s, int mode, kdl_Act act, int use_bias) {
    int dm = s.depth_multiplier;
    size_t in_n = (size_t)s.n * s.h * s.w * s.c;
    size_t w_n = (size_t)s.kh * s.kw * s.c * dm;
    size_t out_n = (size_t)s.n * s.oh * s.ow * s.f;
    float *in = check_random(in_n, -1, 1), *w = check_random(w_n, -1, 1);
    float *b = use_bias ? check_random((size_t)s.f, -1, 1) : NULL;
    float *out = nan_filled(out_n), *ref = check_alloc(out_n);
    double *acc = calloc(out_n ? out_n : 1, sizeof(double));
    float alpha = 0.2f;
    kdl_depthwise_conv2d_forward(out, in, w, b, &s, act, alpha);
    naive_depthwise_acc(acc, in, w, b, &s);
    ref_act(ref, acc, out_n / s.f, s.f, act, alpha);
    char what[256];
    describe(what, sizeof what, "depthwise", &s, mode, act);
    check_close(what, out, ref, out_n, 1e-5, 1e-5);
    free(in), free(w), free(b), free(out), free(ref), free(acc);
}

static void test_depthwise(void) {
    for (int i = 0; i < 300; i++) {
        int one_d = i % 4 == 3;
        int mode = check_int(0, 1);
        kdl_ConvShape s;
        if (!random_geometry(&s, one_d, mode, 1))
            continue;
        run_depthwise(s, mode, test_acts[i % N_ACTS], i % 5 != 0);
    }
    // MobileNet-like: 3x3 stride 2 "same", 32 channels.
    kdl_ConvShape s = {.n = 7, .h = 15, .w = 15, .c = 32, .kh = 3, .kw = 3, .sh = 2, .sw = 2,
                       .dh = 1, .dw = 1, .groups = 1, .depth_multiplier = 1, .f = 32};
    conv_axis(s.h, 3, 2, 1, SAME, &s.oh, &s.pad_top);
    conv_axis(s.w, 3, 2, 1, SAME, &s.ow, &s.pad_left);
    run_depthwise(s, SAME, KDL_ACT_RELU6, 1);
}

// ---- Conv2DTranspose ----------------------------------------------------------------------

// Keras's Conv2DTranspose output size (output_padding op, -1 for None) and
// the pad_before of the conv it is the adjoint of.
static void transpose_axis(int in, int k, int s, int d, int mode, int op, int *out, int *pad) {
    int k_eff = (k - 1) * d + 1;
    if (op < 0)
        *out = mode == VALID ? in * s + (k_eff > s ? k_eff - s : 0) : in * s;
    else
        *out = (in - 1) * s + k_eff - 2 * (mode == SAME ? k_eff / 2 : 0) + op;
    int total = (in - 1) * s + k_eff - *out;
    *pad = mode == VALID ? 0 : total > 0 ? total / 2 : 0;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void run_transpose(kdl_ConvShape s, int mode, kdl_Act act, int use_bias) {
    size_t in_n = (size_t)s.n * s.h * s.w * s.c;
    size_t w_n = (size_t)s.kh * s.kw * s.f * s.c;
    size_t out_n = (size_t)s.n * s.oh * s.ow * s.f;
    float *in = check_random(in_n, -1, 1), *w = check_random(w_n, -1, 1);
    float *b = use_bias ? check_random((size_t)s.f, -1, 1) : NULL;
    float *out = nan_filled(out_n), *ref = check_alloc(out_n);
    double *acc = calloc(out_n ? out_n : 1, sizeof(double));
    float alpha = 0.2f;
    kdl_conv2d_transpose_forward(out, in, w, b, &s, act, alpha);
    naive_transpose_acc(acc, in, w, b, &s);
    ref_act(ref, acc, out_n / s.f, s.f, act, alpha);
    char what[256];
    describe(what, sizeof what, "transpose", &s, mode, act);
    check_close(what, out, ref, out_n, 1e-4, 1e-4);

    // Adjoint: with C the direct conv (oh, ow, f) -> (h, w, c) using the same
    // weights (kh, kw, f, c) as a Conv2D kernel, <T(in), x> = <in, C(x)>.
    if (!use_bias && act == KDL_ACT_LINEAR) {
        kdl_ConvShape cs = s;
        cs.h = s.oh, cs.w = s.ow, cs.c = s.f, cs.oh = s.h, cs.ow = s.w, cs.f = s.c;
        float *x = check_random(out_n, -1, 1);
        double *cx = calloc(in_n ? in_n : 1, sizeof(double));
        naive_conv_acc(cx, x, w, NULL, &cs);
        double lhs = dot(out, x, out_n), rhs = 0;
        for (size_t i = 0; i < in_n; i++)
            rhs += (double)in[i] * cx[i];
        float l = (float)lhs, r = (float)rhs;
        snprintf(what + strlen(what), sizeof what - strlen(what), " adjoint");
        check_close(what, &l, &r, 1, 1e-3, 1e-4);
        free(x), free(cx);
    }
    free(in), free(w), free(b), free(out), free(ref), free(acc);
}

static void test_transpose_random(void) {
    for (int i = 0; i < 300; i++) {
        int one_d = i % 4 == 3;
        int mode = check_int(0, 1);
        kdl_ConvShape s;
        memset(&s, 0, sizeof s);
        s.n = check_int(0, 1) ? 7 : 1;
        // f < 16 takes the stack-tile path, f >= 16 the per-tap GEMMs (rows of
        // the batch when n > w, else of one input row).
        s.c = check_int(1, 6), s.f = i % 2 ? check_int(1, 6) : check_int(16, 19), s.groups = 1;
        s.w = check_int(1, 9), s.kw = check_int(1, 5), s.sw = check_int(1, 3);
        s.dw = check_int(1, 3);
        s.h = one_d ? 1 : check_int(1, 7);
        s.kh = one_d ? 1 : check_int(1, 4);
        s.sh = one_d ? 1 : check_int(1, 3);
        s.dh = one_d ? 1 : check_int(1, 3);
        // output_padding (< stride) on some cases, as Keras allows.
        int op_h = check_int(0, 2) ? -1 : check_int(0, s.sh - 1);
        int op_w = check_int(0, 2) ? -1 : check_int(0, s.sw - 1);
        transpose_axis(s.h, s.kh, s.sh, s.dh, mode, one_d ? -1 : op_h, &s.oh, &s.pad_top);
        transpose_axis(s.w, s.kw, s.sw, s.dw, mode, op_w, &s.ow, &s.pad_left);
        if (one_d)
            s.oh = 1, s.pad_top = 0;
        if (s.oh <= 0 || s.ow <= 0)
            continue;
        int plain = i % 3 == 0;   // no bias, linear: also the adjoint check
        run_transpose(s, mode, plain ? KDL_ACT_LINEAR : test_acts[i % N_ACTS], !plain);
    }
    // A decoder-like layer: 7x7x16 -> 14x14x8, k=3, s=2, "same", batch 7 and 1.
    kdl_ConvShape s = {.n = 7, .h = 7, .w = 7, .c = 16, .f = 8, .kh = 3, .kw = 3, .sh = 2,
                       .sw = 2, .dh = 1, .dw = 1, .groups = 1};
    transpose_axis(7, 3, 2, 1, SAME, -1, &s.oh, &s.pad_top);
    transpose_axis(7, 3, 2, 1, SAME, -1, &s.ow, &s.pad_left);
    run_transpose(s, SAME, KDL_ACT_RELU, 1);
    s.n = 1;
    run_transpose(s, SAME, KDL_ACT_LINEAR, 0);
    s.f = 32;
    run_transpose(s, SAME, KDL_ACT_LINEAR, 0);
    s.n = 7;
    run_transpose(s, SAME, KDL_ACT_TANH, 1);
    // An image-producing last layer: 16x16x8 -> 32x32x3, k=4, s=2, "same";
    // many stack tiles, each spanning rows and images.
    s = (kdl_ConvShape){.n = 7, .h = 16, .w = 16, .c = 8, .f = 3, .kh = 4, .kw = 4, .sh = 2,
                        .sw = 2, .dh = 1, .dw = 1, .groups = 1};
    transpose_axis(16, 4, 2, 1, SAME, -1, &s.oh, &s.pad_top);
    transpose_axis(16, 4, 2, 1, SAME, -1, &s.ow, &s.pad_left);
    run_transpose(s, SAME, KDL_ACT_SIGMOID, 1);
}

// Hand-worked Conv1DTranspose: in [1 2], kernel [1 10 100], stride 2.
// Scatter: 1*[1 10 100] at 0, 2*[1 10 100] at 2 -> [1 10 102 20 200].
// "valid": length 2*2 + (3-2) = 5, pad 0; "same": length 4, pad
// (1*2 + 3 - 4)/2 = 0, so the first 4 of those. Then a 2-channel case that
// fixes the (kh, kw, f, c) layout: one pixel [1 2], k = 2, f = 3,
// out[kx, j] = w[kx, j, 0] + 2*w[kx, j, 1].
static void test_transpose_by_hand(void) {
    kdl_ConvShape s = {.n = 1, .h = 1, .w = 2, .c = 1, .oh = 1, .f = 1, .kh = 1, .kw = 3,
                       .sh = 1, .sw = 2, .dh = 1, .dw = 1, .groups = 1};
    float in[] = {1, 2}, w[] = {1, 10, 100}, b[] = {0.5f}, out[5];
    transpose_axis(2, 3, 2, 1, VALID, -1, &s.ow, &s.pad_left);
    check_true("transpose valid geometry", s.ow == 5 && s.pad_left == 0);
    kdl_conv2d_transpose_forward(out, in, w, b, &s, KDL_ACT_LINEAR, 0);
    float want_valid[] = {1.5f, 10.5f, 102.5f, 20.5f, 200.5f};
    check_close("transpose by hand, valid", out, want_valid, 5, 1e-6, 0);
    transpose_axis(2, 3, 2, 1, SAME, -1, &s.ow, &s.pad_left);
    check_true("transpose same geometry", s.ow == 4 && s.pad_left == 0);
    kdl_conv2d_transpose_forward(out, in, w, NULL, &s, KDL_ACT_LINEAR, 0);
    float want_same[] = {1, 10, 102, 20};
    check_close("transpose by hand, same", out, want_same, 4, 1e-6, 0);

    kdl_ConvShape t = {.n = 1, .h = 1, .w = 1, .c = 2, .oh = 1, .ow = 2, .f = 3, .kh = 1,
                       .kw = 2, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    // w[kx][j][ci]
    float w2[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, in2[] = {1, 2}, out2[6];
    kdl_conv2d_transpose_forward(out2, in2, w2, NULL, &t, KDL_ACT_LINEAR, 0);
    float want2[] = {1 + 4, 3 + 8, 5 + 12, 7 + 16, 9 + 20, 11 + 24};
    check_close("transpose by hand, (f, c) layout", out2, want2, 6, 1e-6, 0);
}

int main(void) {
    printf("gemm backend: %s\n", kdl_gemm_backend());
    test_conv_by_hand();
    test_conv_fixed();
    test_conv_random();
    test_depthwise();
    test_transpose_by_hand();
    test_transpose_random();
    return check_report();
}
