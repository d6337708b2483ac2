/*
 * test_grad_conv.c - kdl_conv2d_backward, kdl_depthwise_conv2d_backward and
 * kdl_conv2d_transpose_backward against central finite differences.
 *
 * The loss is L = sum(dy * act(conv(x, w) + b)) for a random dy, computed by
 * naive double-precision forwards written here from the definitions (the
 * transposed conv as a scatter); dL/dp_j = (L(p + h e_j) - L(p - h e_j)) / 2h
 * for every element of x, w and b. The kernels get y from the same naive
 * forward. Shapes are small and random (odd sizes, strides 1-3, dilation
 * 1-3, groups, depth multipliers, valid/same/causal padding, transposed
 * output_padding, batch 1 and 3), with the fused activations whose
 * derivative comes from y (relu, leaky_relu, sigmoid, tanh, softmax).
 * Gradient outputs are pre-filled with random values, so the check is that
 * the kernel ADDED the gradient; the call is repeated with some outputs
 * NULL. Scratch is exactly the *_backward_scratch size (ASan catches
 * overruns). Shapes too big for element-wise differences (more rows than
 * one GEMM block, the small-CNN layers) are checked along random directions:
 * (L(p + h v) - L(p - h v)) / 2h against <dp, v>.
 */
#include "check.h"

#include <string.h>

enum { VALID, SAME, CAUSAL };
enum { CONV, DEPTHWISE, TRANSPOSE };
static const char *const kind_name[] = {"conv", "depthwise", "transpose"};

#define FD_H 1e-5

// Keras's output size and the compiler's pad_before for one conv axis (conv.c).
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

// Conv2DTranspose's output size (output_padding op, -1 for None) and pad.
static void transpose_axis(int in, int k, int s, int d, int mode, int op, int *out, int *pad) {
    int k_eff = (k - 1) * d + 1;
    if (op < 0)
        *out = mode == VALID ? in * s + (k_eff > s ? k_eff - s : 0) : in * s;
    else
        *out = (in - 1) * s + k_eff - 2 * (mode == SAME ? k_eff / 2 : 0) + op;
    int total = (in - 1) * s + k_eff - *out;
    *pad = mode == VALID ? 0 : total > 0 ? total / 2 : 0;
}

typedef struct Case {
    int kind;
    kdl_ConvShape s;
    kdl_Act act;
} Case;

static size_t x_count(const Case *k) {
    return (size_t)k->s.n * k->s.h * k->s.w * k->s.c;
}
static size_t y_count(const Case *k) {
    return (size_t)k->s.n * k->s.oh * k->s.ow * k->s.f;
}
static size_t w_count(const Case *k) {
    const kdl_ConvShape *s = &k->s;
    if (k->kind == CONV)
        return (size_t)s->kh * s->kw * (s->c / s->groups) * s->f;
    if (k->kind == DEPTHWISE)
        return (size_t)s->kh * s->kw * s->c * s->depth_multiplier;
    return (size_t)s->kh * s->kw * s->f * s->c;
}

// ---- the naive double forward ---------------------------------------------------------------

#define IN(s, b, y, x, ch) ((((size_t)(b) * (s)->h + (y)) * (s)->w + (x)) * (s)->c + (ch))
#define OUT(s, b, y, x, ch) ((((size_t)(b) * (s)->oh + (y)) * (s)->ow + (x)) * (s)->f + (ch))

// z (n, oh, ow, f) = the layer's pre-activation.
static void ref_pre(double *z, const Case *k, const double *x, const double *w, const double *b) {
    const kdl_ConvShape *s = &k->s;
    for (size_t p = 0; p < y_count(k); p++)
        z[p] = b[p % (size_t)s->f];
    if (k->kind == TRANSPOSE) {
        for (int n = 0; n < s->n; n++)
            for (int y = 0; y < s->h; y++)
                for (int x0 = 0; x0 < s->w; x0++)
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int oy = y * s->sh - s->pad_top + ky * s->dh;
                            int ox = x0 * s->sw - s->pad_left + kx * s->dw;
                            if (oy < 0 || oy >= s->oh || ox < 0 || ox >= s->ow)
                                continue;
                            for (int fo = 0; fo < s->f; fo++)
                                for (int ci = 0; ci < s->c; ci++)
                                    z[OUT(s, n, oy, ox, fo)] +=
                                        x[IN(s, n, y, x0, ci)] *
                                        w[(((size_t)ky * s->kw + kx) * s->f + fo) * s->c + ci];
                        }
        return;
    }
    const int dm = s->depth_multiplier;
    const int cg = s->c / s->groups, fg = s->f / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int y = 0; y < s->oh; y++)
            for (int x0 = 0; x0 < s->ow; x0++)
                for (int ky = 0; ky < s->kh; ky++)
                    for (int kx = 0; kx < s->kw; kx++) {
                        int iy = y * s->sh - s->pad_top + ky * s->dh;
                        int ix = x0 * s->sw - s->pad_left + kx * s->dw;
                        if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                            continue;
                        const size_t tap = (size_t)ky * s->kw + kx;
                        double *o = z + OUT(s, n, y, x0, 0);
                        const double *in = x + IN(s, n, iy, ix, 0);
                        if (k->kind == DEPTHWISE) {
                            for (int ci = 0; ci < s->c; ci++)
                                for (int m = 0; m < dm; m++)
                                    o[ci * dm + m] += in[ci] * w[(tap * s->c + ci) * dm + m];
                            continue;
                        }
                        for (int fo = 0; fo < s->f; fo++) {
                            int g = fo / fg;
                            for (int ci = 0; ci < cg; ci++)
                                o[fo] += in[g * cg + ci] * w[(tap * cg + ci) * s->f + fo];
                        }
                    }
}

static double ref_act1(double z, kdl_Act act) {
    switch (act) {
    case KDL_ACT_RELU: return z > 0 ? z : 0;
    case KDL_ACT_LEAKY_RELU: return z < 0 ? 0.2 * z : z;
    case KDL_ACT_SIGMOID: return 1 / (1 + exp(-z));
    case KDL_ACT_TANH: return tanh(z);
    default: return z;
    }
}

// z -> act(z) in place, rows of f (softmax over the last axis).
static void ref_act(double *z, size_t rows, int f, kdl_Act act) {
    for (size_t r = 0; r < rows; r++) {
        double *a = z + r * f;
        if (act == KDL_ACT_SOFTMAX) {
            double m = a[0], sum = 0;
            for (int j = 1; j < f; j++)
                m = a[j] > m ? a[j] : m;
            for (int j = 0; j < f; j++)
                sum += (a[j] = exp(a[j] - m));
            for (int j = 0; j < f; j++)
                a[j] /= sum;
        } else {
            for (int j = 0; j < f; j++)
                a[j] = ref_act1(a[j], act);
        }
    }
}

// L = sum(dy * act(pre)); z is y_count doubles of work space.
static double ref_loss(const Case *k, const double *x, const double *w, const double *b,
                       const double *dy, double *z) {
    ref_pre(z, k, x, w, b);
    ref_act(z, y_count(k) / (size_t)k->s.f, k->s.f, k->act);
    double l = 0;
    for (size_t i = 0; i < y_count(k); i++)
        l += dy[i] * z[i];
    return l;
}

// ---- the kernels ------------------------------------------------------------------------------

static size_t backward_scratch(const Case *k) {
    if (k->kind == CONV)
        return kdl_conv2d_backward_scratch(&k->s);
    if (k->kind == DEPTHWISE)
        return kdl_depthwise_conv2d_backward_scratch(&k->s);
    return kdl_conv2d_transpose_backward_scratch(&k->s);
}

static void backward(const Case *k, float *dx, float *dw, float *db, const float *dy,
                     const float *x, const float *w, const float *y) {
    size_t n = backward_scratch(k);
    float *scratch = n ? check_random(n, -1, 1) : NULL;   // garbage the kernel must overwrite
    if (k->kind == CONV)
        kdl_conv2d_backward(dx, dw, db, dy, x, w, y, &k->s, k->act, 0.2f, scratch);
    else if (k->kind == DEPTHWISE)
        kdl_depthwise_conv2d_backward(dx, dw, db, dy, x, w, y, &k->s, k->act, 0.2f, scratch);
    else
        kdl_conv2d_transpose_backward(dx, dw, db, dy, x, w, y, &k->s, k->act, 0.2f, scratch);
    free(scratch);
}

// ---- one case ------------------------------------------------------------------------------

static void describe(char *buf, size_t len, const Case *k, const char *what) {
    const kdl_ConvShape *s = &k->s;
    snprintf(buf, len,
             "%s %s: n=%d in=%dx%dx%d out=%dx%dx%d k=%dx%d s=%dx%d d=%dx%d pad=%d,%d g=%d dm=%d "
             "act=%d",
             kind_name[k->kind], what, s->n, s->h, s->w, s->c, s->oh, s->ow, s->f, s->kh, s->kw,
             s->sh, s->sw, s->dh, s->dw, s->pad_top, s->pad_left, s->groups,
             s->depth_multiplier, (int)k->act);
}

static double *dalloc(size_t n) {
    double *d = malloc((n ? n : 1) * sizeof(double));
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return d;
}

static double *to_double(const float *p, size_t n) {
    double *d = dalloc(n);
    for (size_t i = 0; i < n; i++)
        d[i] = p[i];
    return d;
}

// Element-wise central differences of L with respect to p (np values).
static void fd_full(float *g, double *p, size_t np, const Case *k, const double *x,
                    const double *w, const double *b, const double *dy, double *z) {
    for (size_t j = 0; j < np; j++) {
        double save = p[j];
        p[j] = save + FD_H;
        double lp = ref_loss(k, x, w, b, dy, z);
        p[j] = save - FD_H;
        double lm = ref_loss(k, x, w, b, dy, z);
        p[j] = save;
        g[j] = (float)((lp - lm) / (2 * FD_H));
    }
}

// Along three random directions v: (L(p + h v) - L(p - h v)) / 2h == <got - pre, v>.
static void fd_directions(const char *what, const float *got, const float *pre, double *p,
                          size_t np, const Case *k, const double *x, const double *w,
                          const double *b, const double *dy, double *z) {
    double *save = dalloc(np), *v = dalloc(np);
    memcpy(save, p, np * sizeof(double));
    for (int t = 0; t < 3; t++) {
        double dot = 0, mag = 0;
        for (size_t j = 0; j < np; j++) {
            v[j] = check_uniform(-1, 1);
            double g = (double)got[j] - pre[j];
            dot += g * v[j];
            mag += fabs(g * v[j]);
        }
        for (size_t j = 0; j < np; j++)
            p[j] = save[j] + FD_H * v[j];
        double lp = ref_loss(k, x, w, b, dy, z);
        for (size_t j = 0; j < np; j++)
            p[j] = save[j] - FD_H * v[j];
        double lm = ref_loss(k, x, w, b, dy, z);
        memcpy(p, save, np * sizeof(double));
        double fd = (lp - lm) / (2 * FD_H);
        if (fabs(fd - dot) > 1e-4 + 1e-4 * mag) {
            printf("FAIL %s direction %d: <grad, v> = %.9g, finite difference %.9g\n", what, t,
                   dot, fd);
            check_failed++;
        } else {
            check_passed++;
        }
    }
    free(v), free(save);
}

// Runs one case: every gradient (dx, dw, db) against finite differences
// (element-wise when full, else along random directions), accumulated onto
// random values; then again with the outputs selected by null_mask (bit 0
// dx, 1 dw, 2 db) NULL, the others from zero.
static void run_case(const Case *k, int full, int null_mask) {
    const size_t xn = x_count(k), wn = w_count(k), bn = (size_t)k->s.f, yn = y_count(k);
    float *x = check_random(xn, -1, 1), *w = check_random(wn, -1, 1);
    float *b = check_random(bn, -0.5f, 0.5f), *dy = check_random(yn, -1, 1);
    double *xd = to_double(x, xn), *wd = to_double(w, wn), *bd = to_double(b, bn);
    double *dyd = to_double(dy, yn), *z = dalloc(yn);
    // y from the naive forward, as the kernel's training forward would give it.
    ref_pre(z, k, xd, wd, bd);
    ref_act(z, yn / bn, k->s.f, k->act);
    float *y = check_alloc(yn);
    for (size_t i = 0; i < yn; i++)
        y[i] = (float)z[i];

    float *dx = check_random(xn, -1, 1), *dw = check_random(wn, -1, 1);
    float *db = check_random(bn, -1, 1);
    float *dx0 = check_alloc(xn), *dw0 = check_alloc(wn), *db0 = check_alloc(bn);
    memcpy(dx0, dx, xn * sizeof(float)), memcpy(dw0, dw, wn * sizeof(float));
    memcpy(db0, db, bn * sizeof(float));
    backward(k, dx, dw, db, dy, x, w, y);

    float *want_x = check_alloc(xn), *want_w = check_alloc(wn), *want_b = check_alloc(bn);
    char what[300];
    if (full) {
        fd_full(want_x, xd, xn, k, xd, wd, bd, dyd, z);
        fd_full(want_w, wd, wn, k, xd, wd, bd, dyd, z);
        fd_full(want_b, bd, bn, k, xd, wd, bd, dyd, z);
        for (size_t i = 0; i < xn; i++)
            want_x[i] += dx0[i];
        for (size_t i = 0; i < wn; i++)
            want_w[i] += dw0[i];
        for (size_t i = 0; i < bn; i++)
            want_b[i] += db0[i];
        describe(what, sizeof what, k, "dx");
        check_close(what, dx, want_x, xn, 2e-4, 2e-3);
        describe(what, sizeof what, k, "dw");
        check_close(what, dw, want_w, wn, 2e-4, 2e-3);
        describe(what, sizeof what, k, "db");
        check_close(what, db, want_b, bn, 2e-4, 2e-3);
    } else {
        describe(what, sizeof what, k, "dx");
        fd_directions(what, dx, dx0, xd, xn, k, xd, wd, bd, dyd, z);
        describe(what, sizeof what, k, "dw");
        fd_directions(what, dw, dw0, wd, wn, k, xd, wd, bd, dyd, z);
        describe(what, sizeof what, k, "db");
        fd_directions(what, db, db0, bd, bn, k, xd, wd, bd, dyd, z);
    }

    // The same gradients from zero, with some outputs NULL.
    float *ex = check_alloc(xn), *ew = check_alloc(wn), *eb = check_alloc(bn);
    for (size_t i = 0; i < xn; i++)
        ex[i] = dx[i] - dx0[i];
    for (size_t i = 0; i < wn; i++)
        ew[i] = dw[i] - dw0[i];
    for (size_t i = 0; i < bn; i++)
        eb[i] = db[i] - db0[i];
    memset(dx, 0, xn * sizeof(float)), memset(dw, 0, wn * sizeof(float));
    memset(db, 0, bn * sizeof(float));
    backward(k, null_mask & 1 ? NULL : dx, null_mask & 2 ? NULL : dw, null_mask & 4 ? NULL : db,
             dy, x, w, y);
    describe(what, sizeof what, k, "NULL outputs");
    check_close(what, dx, null_mask & 1 ? dx : ex, xn, 1e-5, 1e-4);
    check_close(what, dw, null_mask & 2 ? dw : ew, wn, 1e-5, 1e-4);
    check_close(what, db, null_mask & 4 ? db : eb, bn, 1e-5, 1e-4);
    int untouched = 1;
    for (size_t i = 0; i < xn; i++)
        untouched &= !(null_mask & 1) || dx[i] == 0;
    for (size_t i = 0; i < wn; i++)
        untouched &= !(null_mask & 2) || dw[i] == 0;
    check_true(what, untouched);

    free(x), free(w), free(b), free(dy), free(xd), free(wd), free(bd), free(dyd), free(z);
    free(y), free(dx), free(dw), free(db), free(dx0), free(dw0), free(db0);
    free(want_x), free(want_w), free(want_b), free(ex), free(ew), free(eb);
}

// ---- cases -------------------------------------------------------------------------------------

static const kdl_Act acts[] = {KDL_ACT_LINEAR, KDL_ACT_RELU,    KDL_ACT_SIGMOID,
                               KDL_ACT_TANH,   KDL_ACT_SOFTMAX, KDL_ACT_LEAKY_RELU};
#define N_ACTS ((int)(sizeof acts / sizeof acts[0]))

// A random small geometry of the given kind; 0 when "valid" leaves no output.
static int random_case(Case *k, int kind, int one_d, int i) {
    kdl_ConvShape *s = &k->s;
    memset(k, 0, sizeof *k);
    k->kind = kind;
    k->act = acts[i % N_ACTS];
    s->n = i % 3 == 0 ? 1 : 3;
    s->groups = kind == CONV && check_int(0, 2) == 0 ? check_int(2, 3) : 1;
    s->depth_multiplier = kind == DEPTHWISE ? check_int(1, 3) : 1;
    s->c = kind == DEPTHWISE ? check_int(1, 5) : s->groups * check_int(1, 3);
    s->f = kind == DEPTHWISE ? s->c * s->depth_multiplier : s->groups * check_int(1, 4);
    s->w = check_int(1, 7), s->kw = check_int(1, 3), s->sw = check_int(1, 3);
    s->dw = check_int(1, 3);
    if (one_d) {
        s->h = s->kh = s->sh = s->dh = 1;
    } else {
        s->h = check_int(1, 6), s->kh = check_int(1, 3), s->sh = check_int(1, 2);
        s->dh = check_int(1, 2);
    }
    int mode = one_d && kind == CONV ? check_int(0, 2) : check_int(0, 1);
    if (kind == TRANSPOSE) {
        // output_padding None, or in [0, stride) (Keras's constraint)
        int op_h = check_int(0, 1) ? -1 : check_int(0, s->sh - 1);
        int op_w = check_int(0, 1) ? -1 : check_int(0, s->sw - 1);
        s->h = s->h < 5 ? s->h : 4, s->w = s->w < 6 ? s->w : 5;
        transpose_axis(s->h, s->kh, s->sh, s->dh, one_d ? VALID : mode, one_d ? -1 : op_h,
                       &s->oh, &s->pad_top);
        transpose_axis(s->w, s->kw, s->sw, s->dw, mode, op_w, &s->ow, &s->pad_left);
    } else {
        conv_axis(s->h, s->kh, s->sh, s->dh, one_d ? VALID : mode, &s->oh, &s->pad_top);
        conv_axis(s->w, s->kw, s->sw, s->dw, mode, &s->ow, &s->pad_left);
    }
    if (one_d)
        s->oh = 1, s->pad_top = 0;
    return s->oh > 0 && s->ow > 0;
}

static void test_random(void) {
    for (int kind = CONV; kind <= TRANSPOSE; kind++)
        for (int i = 0; i < 60; i++) {
            Case k;
            if (random_case(&k, kind, i % 4 == 3, i))
                run_case(&k, 1, i % 7 + 1);
        }
}

// A geometry with "same" (or mode) pads for a conv-like kind.
static Case make(int kind, int n, int h, int w, int c, int f, int kh, int kw, int sh, int sw,
                 int dh, int dw, int groups, int mode, kdl_Act act) {
    Case k = {.kind = kind, .act = act};
    kdl_ConvShape *s = &k.s;
    *s = (kdl_ConvShape){.n = n, .h = h, .w = w, .c = c, .f = f, .kh = kh, .kw = kw, .sh = sh,
                         .sw = sw, .dh = dh, .dw = dw, .groups = groups, .depth_multiplier = 1};
    if (kind == DEPTHWISE)
        s->depth_multiplier = f / c;
    if (kind == TRANSPOSE) {
        transpose_axis(h, kh, sh, dh, mode, -1, &s->oh, &s->pad_top);
        transpose_axis(w, kw, sw, dw, mode, -1, &s->ow, &s->pad_left);
    } else {
        conv_axis(h, kh, sh, dh, h == 1 ? VALID : mode, &s->oh, &s->pad_top);
        conv_axis(w, kw, sw, dw, mode, &s->ow, &s->pad_left);
    }
    return k;
}

static void test_fixed(void) {
    Case k;
    // Pointwise (1x1, stride 1, unpadded: no im2col), plain and grouped,
    // linear (dz is dy) and relu (dz in scratch).
    k = make(CONV, 3, 3, 5, 4, 6, 1, 1, 1, 1, 1, 1, 1, VALID, KDL_ACT_LINEAR);
    run_case(&k, 1, 2);
    k = make(CONV, 3, 3, 5, 6, 9, 1, 1, 1, 1, 1, 1, 3, VALID, KDL_ACT_RELU);
    run_case(&k, 1, 1);
    // 1x1 with stride 2 (im2col with trivial taps); a kernel larger than the input.
    k = make(CONV, 3, 5, 6, 3, 2, 1, 1, 2, 2, 1, 1, 1, SAME, KDL_ACT_SIGMOID);
    run_case(&k, 1, 4);
    k = make(CONV, 1, 2, 3, 2, 3, 5, 7, 1, 1, 1, 1, 1, SAME, KDL_ACT_TANH);
    run_case(&k, 1, 3);
    // Causal dilated Conv1D with groups == channels.
    k = make(CONV, 3, 1, 9, 4, 8, 1, 3, 1, 1, 1, 2, 4, CAUSAL, KDL_ACT_RELU);
    run_case(&k, 1, 5);
    // Depthwise with 16+ channels (the forward's register blocks), dm 1 and 2.
    k = make(DEPTHWISE, 3, 4, 5, 17, 17, 3, 3, 2, 1, 1, 1, 1, SAME, KDL_ACT_RELU);
    run_case(&k, 1, 6);
    k = make(DEPTHWISE, 1, 5, 4, 3, 6, 3, 2, 1, 2, 2, 1, 1, VALID, KDL_ACT_SIGMOID);
    run_case(&k, 1, 1);
    // Transposed: the stack-tile forward (f < 16), the per-tap forwards
    // (f >= 16 with n > w and n <= w), and the 1x1 stride-1 adjoint.
    k = make(TRANSPOSE, 3, 3, 2, 3, 17, 3, 3, 2, 2, 1, 1, 1, SAME, KDL_ACT_LINEAR);
    run_case(&k, 1, 2);
    k = make(TRANSPOSE, 1, 2, 3, 2, 16, 2, 3, 2, 1, 1, 2, 1, VALID, KDL_ACT_RELU);
    run_case(&k, 1, 4);
    k = make(TRANSPOSE, 3, 3, 4, 5, 4, 1, 1, 1, 1, 1, 1, 1, VALID, KDL_ACT_SIGMOID);
    run_case(&k, 1, 1);

    // More output rows than one block (at least 256 rows per block; these
    // have blocks of exactly 256): checked along random directions.
    k = make(CONV, 3, 10, 11, 256, 4, 3, 3, 1, 1, 1, 1, 1, SAME, KDL_ACT_RELU);
    run_case(&k, 0, 1);
    k = make(CONV, 3, 10, 10, 3, 600, 1, 1, 1, 1, 1, 1, 1, VALID, KDL_ACT_SOFTMAX);
    run_case(&k, 0, 2);
    k = make(TRANSPOSE, 3, 10, 9, 3, 256, 3, 3, 1, 1, 1, 1, 1, SAME, KDL_ACT_TANH);
    run_case(&k, 0, 4);
    // The small CNN's layers at batch 32: Conv2D(16, 3, same) on 8x8x1 and
    // Conv2D(32, 3, same) on 4x4x16; a MobileNet-like depthwise block.
    k = make(CONV, 32, 8, 8, 1, 16, 3, 3, 1, 1, 1, 1, 1, SAME, KDL_ACT_RELU);
    run_case(&k, 0, 1);
    k = make(CONV, 32, 4, 4, 16, 32, 3, 3, 1, 1, 1, 1, 1, SAME, KDL_ACT_RELU);
    run_case(&k, 0, 2);
    k = make(DEPTHWISE, 7, 15, 15, 32, 32, 3, 3, 2, 2, 1, 1, 1, SAME, KDL_ACT_LINEAR);
    run_case(&k, 0, 4);
}

// Conv1D by hand: x [1 2 3], kernel [1 10], "same" (pad_left 0), dy [1 1 1]:
// y = [21, 32, 3]; dx = [1, 1 + 10, 1 + 10] = [1, 11, 11], dw = [6, 5], db = 3.
static void test_by_hand(void) {
    kdl_ConvShape s = {.n = 1, .h = 1, .w = 3, .c = 1, .oh = 1, .ow = 3, .f = 1, .kh = 1,
                       .kw = 2, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    float x[] = {1, 2, 3}, w[] = {1, 10}, dy[] = {1, 1, 1}, y[] = {21, 32, 3};
    float dx[3] = {0}, dw[2] = {0}, db[1] = {100};
    float scratch[64];
    check_true("conv1d by hand: scratch fits", kdl_conv2d_backward_scratch(&s) <= 64);
    kdl_conv2d_backward(dx, dw, db, dy, x, w, y, &s, KDL_ACT_LINEAR, 0, scratch);
    float want_dx[] = {1, 11, 11}, want_dw[] = {6, 5}, want_db[] = {103};
    check_close("conv1d by hand dx", dx, want_dx, 3, 1e-6, 0);
    check_close("conv1d by hand dw", dw, want_dw, 2, 1e-6, 0);
    check_close("conv1d by hand db", db, want_db, 1, 1e-6, 0);
}

int main(void) {
    test_by_hand();
    test_fixed();
    test_random();
    return check_report();
}
