/*
 * test_grad_pool.c - kdl_pool2d_backward and kdl_global_pool_backward.
 *
 * Central finite differences of L = sum(dy * pool(x)) computed by naive
 * double-precision poolings written here (valid cells only; the average
 * divides by their count; each difference evaluates only the perturbed
 * element's image and channel), on random small geometries (odd sizes, strides
 * 1-3, windows larger than strides and than the input, valid/same padding,
 * 1-D, batch 1 and 3, more channels than the kernel's 64-channel argmax
 * chunks). For max pooling the inputs are distinct values at least 0.01
 * apart, so the maximum is differentiable at x. Ties are checked separately
 * against a naive "first maximal valid cell in row-major window order"
 * reference, exactly. Gradients are accumulated onto random values; dx NULL
 * is accepted.
 */
#include "check.h"

#include <string.h>

enum { VALID, SAME };

#define FD_H 1e-5

// Keras's pooled size and the compiler's pad_before for one axis (conv.c rules, d = 1).
static void pool_axis(int in, int k, int s, int mode, int *out, int *pad) {
    if (mode == VALID) {
        *out = in >= k ? (in - k) / s + 1 : 0;
        *pad = 0;
    } else {
        *out = (in - 1) / s + 1;
        int total = (*out - 1) * s + k - in;
        *pad = total > 0 ? total / 2 : 0;
    }
}

static double *dalloc(size_t n) {
    double *d = malloc((n ? n : 1) * sizeof(double));
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return d;
}

// out (n, oh, ow, c): max or mean over each window's valid cells. When
// arg is not NULL it receives the index into x of the first maximal cell
// in row-major window order (max only).
// Only image b0 and channel c0 when b0 >= 0 (the rest of out is left alone).
static void ref_pool(double *out, size_t *arg, const double *x, const kdl_ConvShape *s, int max,
                     int b0, int c0) {
    for (int b = b0 < 0 ? 0 : b0; b < (b0 < 0 ? s->n : b0 + 1); b++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int ch = b0 < 0 ? 0 : c0; ch < (b0 < 0 ? s->c : c0 + 1); ch++) {
                    double acc = max ? -INFINITY : 0;
                    size_t best = 0;
                    int count = 0;
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int iy = oy * s->sh - s->pad_top + ky;
                            int ix = ox * s->sw - s->pad_left + kx;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                continue;
                            size_t i = (((size_t)b * s->h + iy) * s->w + ix) * s->c + ch;
                            if (max && x[i] > acc)
                                acc = x[i], best = i;
                            else if (!max)
                                acc += x[i];
                            count++;
                        }
                    size_t o = (((size_t)b * s->oh + oy) * s->ow + ox) * s->c + ch;
                    out[o] = count == 0 ? 0 : max ? acc : acc / count;
                    if (arg)
                        arg[o] = best;
                }
}

// The part of L = sum(dy * pool(x)) that depends on x[.., c0] of image b0:
// the terms of the other images and channels cancel in a central difference
// of an element of that slice, so only this part is computed.
static double ref_loss(const double *dy, const double *x, const kdl_ConvShape *s, int max,
                       double *out, size_t j) {
    const int c0 = (int)(j % (size_t)s->c);
    const int b0 = (int)(j / ((size_t)s->h * s->w * s->c));
    ref_pool(out, NULL, x, s, max, b0, c0);
    double l = 0;
    for (size_t p = (size_t)b0 * s->oh * s->ow; p < (size_t)(b0 + 1) * s->oh * s->ow; p++)
        l += dy[p * s->c + c0] * out[p * s->c + c0];
    return l;
}

// n distinct values 0.01 apart, centred on 0, in random order.
static float *distinct(size_t n) {
    float *p = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = 0.01f * ((float)i - (float)n / 2);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)check_int(0, (int)i - 1);
        float t = p[i - 1];
        p[i - 1] = p[j], p[j] = t;
    }
    return p;
}

static void describe(char *buf, size_t len, const char *what, const kdl_ConvShape *s, int max) {
    snprintf(buf, len, "%s %s: n=%d in=%dx%dx%d out=%dx%d k=%dx%d s=%dx%d pad=%d,%d", what,
             max ? "max" : "avg", s->n, s->h, s->w, s->c, s->oh, s->ow, s->kh, s->kw, s->sh,
             s->sw, s->pad_top, s->pad_left);
}

// Finite differences on distinct inputs, accumulated onto random values;
// then ties (inputs from {0, 1}) against the first-maximal reference.
static void run_pool(const kdl_ConvShape *s, int max) {
    const size_t xn = (size_t)s->n * s->h * s->w * s->c, yn = (size_t)s->n * s->oh * s->ow * s->c;
    float *x = max ? distinct(xn) : check_random(xn, -1, 1), *dy = check_random(yn, -1, 1);
    float *y = check_alloc(yn), *dx = check_random(xn, -1, 1), *want = check_alloc(xn);
    double *xd = dalloc(xn), *dyd = dalloc(yn), *out = dalloc(yn);
    for (size_t i = 0; i < xn; i++)
        xd[i] = x[i];
    for (size_t i = 0; i < yn; i++)
        dyd[i] = dy[i];
    const kdl_Pool kind = max ? KDL_POOL_MAX : KDL_POOL_AVG;
    kdl_pool2d_forward(y, x, s, kind);
    for (size_t j = 0; j < xn; j++) {
        double save = xd[j];
        xd[j] = save + FD_H;
        double lp = ref_loss(dyd, xd, s, max, out, j);
        xd[j] = save - FD_H;
        double lm = ref_loss(dyd, xd, s, max, out, j);
        xd[j] = save;
        want[j] = dx[j] + (float)((lp - lm) / (2 * FD_H));
    }
    kdl_pool2d_backward(dx, dy, x, y, s, kind);
    kdl_pool2d_backward(NULL, dy, x, y, s, kind);
    char what[200];
    describe(what, sizeof what, "pool2d", s, max);
    check_close(what, dx, want, xn, 2e-4, 2e-3);

    if (max) {
        // Ties: every window has repeated maxima; exact first-maximal routing.
        size_t *arg = malloc((yn ? yn : 1) * sizeof(size_t));
        if (!arg)
            exit(2);
        for (size_t i = 0; i < xn; i++)
            xd[i] = x[i] = (float)check_int(0, 1);
        ref_pool(out, arg, xd, s, 1, -1, 0);
        memset(dx, 0, xn * sizeof(float));
        memset(want, 0, xn * sizeof(float));
        for (size_t o = 0; o < yn; o++)     // every window has a valid cell (Keras's shapes)
            want[arg[o]] += dy[o];
        kdl_pool2d_forward(y, x, s, kind);
        kdl_pool2d_backward(dx, dy, x, y, s, kind);
        describe(what, sizeof what, "pool2d ties", s, max);
        check_close(what, dx, want, xn, 1e-6, 1e-6);
        free(arg);
    }
    free(x), free(dy), free(y), free(dx), free(want), free(xd), free(dyd), free(out);
}

static void test_pool_random(void) {
    for (int i = 0; i < 200; i++) {
        int one_d = i % 4 == 3, mode = check_int(0, 1);
        kdl_ConvShape s;
        memset(&s, 0, sizeof s);
        s.n = i % 3 == 0 ? 1 : 3;
        s.c = i % 10 == 0 ? check_int(60, 70) : check_int(1, 20);
        s.f = s.c, s.groups = 1, s.depth_multiplier = 1, s.dh = s.dw = 1;
        s.w = check_int(1, 9), s.kw = check_int(1, 4), s.sw = check_int(1, 3);
        if (one_d) {
            s.h = s.kh = s.sh = 1;
        } else {
            s.h = check_int(1, 7), s.kh = check_int(1, 4), s.sh = check_int(1, 3);
        }
        pool_axis(s.h, s.kh, s.sh, mode, &s.oh, &s.pad_top);
        pool_axis(s.w, s.kw, s.sw, mode, &s.ow, &s.pad_left);
        if (s.oh <= 0 || s.ow <= 0)
            continue;
        run_pool(&s, i % 2 == 0);
    }
}

// A 2x2 max pool over one 2x2 image: x = [[3, 5], [5, 1]]: the first 5
// (row 0, column 1) takes the gradient; average gives each cell dy / 4.
static void test_pool_by_hand(void) {
    kdl_ConvShape s = {.n = 1, .h = 2, .w = 2, .c = 1, .oh = 1, .ow = 1, .f = 1, .kh = 2,
                       .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .groups = 1};
    float x[] = {3, 5, 5, 1}, y[] = {5}, dy[] = {2}, dx[] = {1, 1, 1, 1};
    kdl_pool2d_backward(dx, dy, x, y, &s, KDL_POOL_MAX);
    float want_max[] = {1, 3, 1, 1};
    check_close("max pool by hand", dx, want_max, 4, 0, 0);
    float ya[] = {3.5f}, dxa[] = {0, 0, 0, 0}, want_avg[] = {0.5f, 0.5f, 0.5f, 0.5f};
    kdl_pool2d_backward(dxa, dy, x, ya, &s, KDL_POOL_AVG);
    check_close("avg pool by hand", dxa, want_avg, 4, 1e-7, 0);
}

// Global pooling: finite differences (distinct inputs for max), ties, NULL dx.
static void run_global(int n, int spatial, int c, int max) {
    const size_t xn = (size_t)n * spatial * c, yn = (size_t)n * c;
    float *x = max ? distinct(xn) : check_random(xn, -1, 1), *dy = check_random(yn, -1, 1);
    float *y = check_alloc(yn), *dx = check_random(xn, -1, 1), *want = check_alloc(xn);
    const kdl_Pool kind = max ? KDL_POOL_MAX : KDL_POOL_AVG;
    kdl_global_pool_forward(y, x, n, spatial, c, kind);
    // As a (n, 1, spatial, c) pool with one window covering the row.
    kdl_ConvShape s = {.n = n, .h = 1, .w = spatial, .c = c, .oh = 1, .ow = 1, .f = c, .kh = 1,
                       .kw = spatial, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    double *xd = dalloc(xn), *dyd = dalloc(yn), *out = dalloc(yn);
    for (size_t i = 0; i < xn; i++)
        xd[i] = x[i];
    for (size_t i = 0; i < yn; i++)
        dyd[i] = dy[i];
    for (size_t j = 0; j < xn; j++) {
        double save = xd[j];
        xd[j] = save + FD_H;
        double lp = ref_loss(dyd, xd, &s, max, out, j);
        xd[j] = save - FD_H;
        double lm = ref_loss(dyd, xd, &s, max, out, j);
        xd[j] = save;
        want[j] = dx[j] + (float)((lp - lm) / (2 * FD_H));
    }
    kdl_global_pool_backward(dx, dy, x, y, n, spatial, c, kind);
    kdl_global_pool_backward(NULL, dy, x, y, n, spatial, c, kind);
    char what[120];
    snprintf(what, sizeof what, "global %s n=%d spatial=%d c=%d", max ? "max" : "avg", n,
             spatial, c);
    check_close(what, dx, want, xn, 2e-4, 2e-3);
    if (max) {
        size_t *arg = malloc((yn ? yn : 1) * sizeof(size_t));
        if (!arg)
            exit(2);
        for (size_t i = 0; i < xn; i++)
            xd[i] = x[i] = (float)check_int(0, 2);
        ref_pool(out, arg, xd, &s, 1, -1, 0);
        memset(dx, 0, xn * sizeof(float));
        memset(want, 0, xn * sizeof(float));
        for (size_t o = 0; o < yn; o++)
            want[arg[o]] += dy[o];
        kdl_global_pool_forward(y, x, n, spatial, c, kind);
        kdl_global_pool_backward(dx, dy, x, y, n, spatial, c, kind);
        snprintf(what + strlen(what), sizeof what - strlen(what), " ties");
        check_close(what, dx, want, xn, 0, 0);
        free(arg);
    }
    free(x), free(dy), free(y), free(dx), free(want), free(xd), free(dyd), free(out);
}

static void test_global(void) {
    for (int max = 0; max <= 1; max++) {
        run_global(1, 1, 3, max);
        run_global(3, 7, 5, max);
        run_global(1, 25, 16, max);
        run_global(3, 9, 67, max);    // crosses a 64-channel argmax chunk
        run_global(2, 4, 130, max);
    }
}

int main(void) {
    test_pool_by_hand();
    test_pool_random();
    test_global();
    return check_report();
}
