/*
 * test_pool.c - kdl_pool2d_forward and kdl_global_pool_forward against
 * naive references written here from the definitions.
 *
 * Random NHWC shapes with odd sizes, pool sizes 1-4, strides 1-3 (and the
 * Keras default stride = pool size), "valid" and "same" with the pads the
 * compiler computes, 1-D and 2-D, batch 1 and 7, max and average. The
 * reference tests each window cell against the input bounds, so "same"
 * averages divide by the number of valid cells only; a hand-worked case
 * pins that down. Outputs are pre-filled with NaN so a skipped element fails.
 */
#include "check.h"

#include <string.h>

enum { VALID, SAME };

// Keras's pooling output size and the compiler's pad_before for one axis.
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

static void naive_pool(float *out, const float *in, const kdl_ConvShape *s, kdl_Pool kind) {
    for (int b = 0; b < s->n; b++)
        for (int y = 0; y < s->oh; y++)
            for (int x = 0; x < s->ow; x++)
                for (int ch = 0; ch < s->c; ch++) {
                    double sum = 0, m = -INFINITY;
                    int count = 0;
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int iy = y * s->sh - s->pad_top + ky;
                            int ix = x * s->sw - s->pad_left + kx;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                continue;
                            double v = in[(((size_t)b * s->h + iy) * s->w + ix) * s->c + ch];
                            sum += v;
                            m = v > m ? v : m;
                            count++;
                        }
                    out[(((size_t)b * s->oh + y) * s->ow + x) * s->c + ch] =
                        (float)(kind == KDL_POOL_MAX ? m : sum / count);
                }
}

static void run_pool(const kdl_ConvShape *s, int mode, kdl_Pool kind) {
    size_t in_n = (size_t)s->n * s->h * s->w * s->c;
    size_t out_n = (size_t)s->n * s->oh * s->ow * s->c;
    float *in = check_random(in_n, -3, 3), *out = check_alloc(out_n), *ref = check_alloc(out_n);
    for (size_t i = 0; i < out_n; i++)
        out[i] = NAN;
    kdl_pool2d_forward(out, in, s, kind);
    naive_pool(ref, in, s, kind);
    char what[200];
    snprintf(what, sizeof what, "%s pool n=%d in=%dx%dx%d out=%dx%d k=%dx%d s=%dx%d pad=%d,%d %s",
             kind == KDL_POOL_MAX ? "max" : "avg", s->n, s->h, s->w, s->c, s->oh, s->ow, s->kh,
             s->kw, s->sh, s->sw, s->pad_top, s->pad_left, mode == VALID ? "valid" : "same");
    check_close(what, out, ref, out_n, 1e-6, 1e-5);
    free(in), free(out), free(ref);
}

static void test_pool_random(void) {
    for (int i = 0; i < 600; i++) {
        int one_d = i % 4 == 3, mode = check_int(0, 1);
        kdl_ConvShape s;
        memset(&s, 0, sizeof s);
        s.n = check_int(0, 1) ? 7 : 1;
        s.c = check_int(1, 19);
        s.f = s.c;
        s.w = check_int(1, 15), s.kw = check_int(1, 4);
        s.h = one_d ? 1 : check_int(1, 13);
        s.kh = one_d ? 1 : check_int(1, 4);
        if (check_int(0, 2) == 0) {   // Keras's default: strides = pool_size
            s.sw = s.kw, s.sh = s.kh;
        } else {
            s.sw = check_int(1, 3);
            s.sh = one_d ? 1 : check_int(1, 3);
        }
        s.dh = s.dw = 1, s.groups = 1;
        pool_axis(s.h, s.kh, s.sh, mode, &s.oh, &s.pad_top);
        pool_axis(s.w, s.kw, s.sw, mode, &s.ow, &s.pad_left);
        if (s.oh <= 0 || s.ow <= 0)
            continue;
        run_pool(&s, mode, i % 2 ? KDL_POOL_MAX : KDL_POOL_AVG);
    }
    // A typical 2x2/2 max pool with an odd size ("valid" drops the last row).
    kdl_ConvShape s = {.n = 7, .h = 31, .w = 29, .c = 64, .f = 64, .kh = 2, .kw = 2, .sh = 2,
                       .sw = 2, .dh = 1, .dw = 1, .groups = 1};
    pool_axis(s.h, 2, 2, VALID, &s.oh, &s.pad_top);
    pool_axis(s.w, 2, 2, VALID, &s.ow, &s.pad_left);
    run_pool(&s, VALID, KDL_POOL_MAX);
    pool_axis(s.h, 3, 2, SAME, &s.oh, &s.pad_top);
    pool_axis(s.w, 3, 2, SAME, &s.ow, &s.pad_left);
    s.kh = s.kw = 3;
    run_pool(&s, SAME, KDL_POOL_AVG);
}

// in 2x2 [[1 2] [3 4]], pool 2x2, stride 1, "same": out 2x2, total pad 1,
// pad_before 0, so the right column and bottom row of each window are
// padding. Averages over the valid cells: (1+2+3+4)/4, (2+4)/2, (3+4)/2, 4.
// And a 3-wide window, stride 2, "same" on a 1-D [1 2 3 4 5 6] (total pad 1,
// before 0): max [3 5 6], avg [2 4 5.5].
static void test_pool_by_hand(void) {
    kdl_ConvShape s = {.n = 1, .h = 2, .w = 2, .c = 1, .f = 1, .kh = 2, .kw = 2, .sh = 1,
                       .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    pool_axis(2, 2, 1, SAME, &s.oh, &s.pad_top);
    pool_axis(2, 2, 1, SAME, &s.ow, &s.pad_left);
    check_true("pool same geometry", s.oh == 2 && s.ow == 2 && s.pad_top == 0);
    float in[] = {1, 2, 3, 4}, out[4];
    float want_avg[] = {2.5f, 3, 3.5f, 4}, want_max[] = {4, 4, 4, 4};
    kdl_pool2d_forward(out, in, &s, KDL_POOL_AVG);
    check_close("avg pool same by hand", out, want_avg, 4, 1e-6, 0);
    kdl_pool2d_forward(out, in, &s, KDL_POOL_MAX);
    check_close("max pool same by hand", out, want_max, 4, 1e-6, 0);

    kdl_ConvShape t = {.n = 1, .h = 1, .w = 6, .c = 1, .f = 1, .kh = 1, .kw = 3, .sh = 1,
                       .sw = 2, .dh = 1, .dw = 1, .groups = 1, .oh = 1};
    pool_axis(6, 3, 2, SAME, &t.ow, &t.pad_left);
    check_true("pool1d same geometry", t.ow == 3 && t.pad_left == 0);
    float in1[] = {1, 2, 3, 4, 5, 6}, out1[3];
    float want1_max[] = {3, 5, 6}, want1_avg[] = {2, 4, 5.5f};
    kdl_pool2d_forward(out1, in1, &t, KDL_POOL_MAX);
    check_close("max pool1d same by hand", out1, want1_max, 3, 1e-6, 0);
    kdl_pool2d_forward(out1, in1, &t, KDL_POOL_AVG);
    check_close("avg pool1d same by hand", out1, want1_avg, 3, 1e-6, 0);
}

static void test_global_pool(void) {
    for (int i = 0; i < 60; i++) {
        int n = i % 2 ? 7 : 1, spatial = check_int(1, 50), c = check_int(1, 40);
        kdl_Pool kind = i % 4 < 2 ? KDL_POOL_MAX : KDL_POOL_AVG;
        float *in = check_random((size_t)n * spatial * c, -3, 3);
        float *out = check_alloc((size_t)n * c), *ref = check_alloc((size_t)n * c);
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++) {
                double sum = 0, m = -INFINITY;
                for (int p = 0; p < spatial; p++) {
                    double v = in[((size_t)b * spatial + p) * c + ch];
                    sum += v;
                    m = v > m ? v : m;
                }
                ref[(size_t)b * c + ch] = (float)(kind == KDL_POOL_MAX ? m : sum / spatial);
            }
        kdl_global_pool_forward(out, in, n, spatial, c, kind);
        char what[96];
        snprintf(what, sizeof what, "global %s pool n=%d spatial=%d c=%d",
                 kind == KDL_POOL_MAX ? "max" : "avg", n, spatial, c);
        check_close(what, out, ref, (size_t)n * c, 1e-5, 1e-5);
        free(in), free(out), free(ref);
    }
}

// GlobalAveragePooling1D with a Keras mask: the mean of the unmasked steps
// (naive double reference), all-ones mask == the plain kernel.
static void test_global_pool_masked(void) {
    for (int trial = 0; trial < 20; trial++) {
        int n = trial % 2 ? 7 : 1, t = check_int(1, 9), c = check_int(1, 13);
        size_t nt = (size_t)n * t;
        float *x = check_random(nt * c, -2, 2), *mask = check_random(nt, 0, 1);
        float *y = check_alloc((size_t)n * c), *r = check_alloc((size_t)n * c);
        for (int b = 0; b < n; b++) {
            mask[(size_t)b * t] = 1.0f;  // at least one step per row
            for (int s = 1; s < t; s++)
                mask[(size_t)b * t + s] = mask[(size_t)b * t + s] < 0.4f ? 0.0f : 1.0f;
            for (int j = 0; j < c; j++) {
                double sum = 0, cnt = 0;
                for (int s = 0; s < t; s++)
                    if (mask[(size_t)b * t + s] != 0.0f) {
                        sum += x[((size_t)b * t + s) * c + j];
                        cnt += 1;
                    }
                r[(size_t)b * c + j] = (float)(sum / cnt);
            }
        }
        kdl_global_avg_pool1d_masked(y, x, mask, n, t, c);
        check_close("global_avg_pool1d_masked", y, r, (size_t)n * c, 1e-5, 1e-6);
        for (size_t i = 0; i < nt; i++)
            mask[i] = 1.0f;
        kdl_global_avg_pool1d_masked(y, x, mask, n, t, c);
        kdl_global_pool_forward(r, x, n, t, c, KDL_POOL_AVG);
        check_close("global_avg_pool1d_masked all ones", y, r, (size_t)n * c, 1e-5, 1e-6);
        free(x), free(mask), free(y), free(r);
    }
}

int main(void) {
    test_global_pool_masked();
    test_pool_by_hand();
    test_pool_random();
    test_global_pool();
    return check_report();
}
