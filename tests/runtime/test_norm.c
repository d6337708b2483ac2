/*
 * test_norm.c - kdl_batchnorm_forward and kdl_layernorm_forward against
 * naive double-precision references of the Keras formulas
 * ((x - mean) / sqrt(var + eps) * gamma + beta; layer norm with per-row
 * mean and biased variance), with and without gamma/beta, batch 1 and 7,
 * odd channel counts (also past batch norm's 256-channel chunk), rows far
 * from zero mean, constant rows, and in-place calls.
 */
#include "check.h"

#include <string.h>

static void naive_bn(float *out, const float *in, const float *g, const float *b, const float *m,
                     const float *v, double eps, size_t rows, int c) {
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < c; j++) {
            double x = in[r * c + j];
            double y = (x - m[j]) / sqrt((double)v[j] + eps);
            out[r * c + j] = (float)(y * (g ? g[j] : 1.0) + (b ? b[j] : 0.0));
        }
}

static void naive_ln(float *out, const float *in, const float *g, const float *b, double eps,
                     size_t rows, int cols) {
    for (size_t r = 0; r < rows; r++) {
        const float *x = in + r * cols;
        double mean = 0, var = 0;
        for (int j = 0; j < cols; j++)
            mean += x[j];
        mean /= cols;
        for (int j = 0; j < cols; j++)
            var += (x[j] - mean) * (x[j] - mean);
        var /= cols;    // biased, as Keras
        for (int j = 0; j < cols; j++)
            out[r * cols + j] = (float)((x[j] - mean) / sqrt(var + eps) * (g ? g[j] : 1.0) +
                                        (b ? b[j] : 0.0));
    }
}

static void test_batchnorm(void) {
    const size_t rows[] = {1, 7, 7 * 5 * 3};
    const int chans[] = {1, 3, 8, 17, 256, 300, 515};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (size_t c = 0; c < sizeof chans / sizeof chans[0]; c++)
            for (int mode = 0; mode < 4; mode++) {     // bit 0: gamma, bit 1: beta
                int nc = chans[c];
                size_t n = rows[r] * nc;
                float eps = mode == 3 ? 1e-5f : 1e-3f;
                float *x = check_random(n, -3, 3);
                float *g = mode & 1 ? check_random(nc, 0.2f, 2) : NULL;
                float *b = mode & 2 ? check_random(nc, -1, 1) : NULL;
                float *m = check_random(nc, -1, 1);
                float *v = check_random(nc, 0.01f, 4);
                float *got = check_random(n, 1e6f, 2e6f), *ref = check_alloc(n);
                naive_bn(ref, x, g, b, m, v, eps, rows[r], nc);
                kdl_batchnorm_forward(got, x, g, b, m, v, eps, rows[r], nc);
                char what[96];
                snprintf(what, sizeof what, "batchnorm (%zu, %d)%s%s", rows[r], nc,
                         g ? " gamma" : "", b ? " beta" : "");
                check_close(what, got, ref, n, 1e-5, 1e-5);
                strcat(what, " in place");
                kdl_batchnorm_forward(x, x, g, b, m, v, eps, rows[r], nc);
                check_close(what, x, ref, n, 1e-5, 1e-5);
                free(x), free(g), free(b), free(m), free(v), free(got), free(ref);
            }
    // Defaults of a fresh layer (mean 0, var 1, gamma 1, beta 0): x / sqrt(1 + 1e-3).
    float x[5] = {-2, -1, 0, 1, 2}, mean[5] = {0}, var[5] = {1, 1, 1, 1, 1}, got[5], want[5];
    for (int i = 0; i < 5; i++)
        want[i] = (float)(x[i] / sqrt(1.001));
    kdl_batchnorm_forward(got, x, NULL, NULL, mean, var, 1e-3f, 1, 5);
    check_close("batchnorm fresh layer", got, want, 5, 1e-7, 1e-6);
}

static void test_layernorm(void) {
    const size_t rows[] = {1, 7, 33};
    const int cols[] = {1, 2, 3, 8, 9, 17, 64, 768, 1001};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            for (int mode = 0; mode < 4; mode++) {
                int nc = cols[c];
                size_t n = rows[r] * nc;
                float eps = mode == 3 ? 1e-6f : 1e-3f;
                // Mode 2 rows sit far from zero (mean 100, spread 1): a one-pass
                // E[x^2] - E[x]^2 variance would lose most of its digits.
                float lo = mode == 2 ? 99 : -3, hi = mode == 2 ? 101 : 3;
                float *x = check_random(n, lo, hi);
                float *g = mode & 1 ? check_random(nc, 0.2f, 2) : NULL;
                float *b = mode & 2 ? check_random(nc, -1, 1) : NULL;
                float *got = check_random(n, 1e6f, 2e6f), *ref = check_alloc(n);
                naive_ln(ref, x, g, b, eps, rows[r], nc);
                kdl_layernorm_forward(got, x, g, b, eps, rows[r], nc);
                char what[96];
                snprintf(what, sizeof what, "layernorm (%zu, %d)%s%s eps %g", rows[r], nc,
                         g ? " gamma" : "", b ? " beta" : "", (double)eps);
                double tol = mode == 2 ? 2e-4 : 2e-5;
                check_close(what, got, ref, n, tol, tol);
                strcat(what, " in place");
                kdl_layernorm_forward(x, x, g, b, eps, rows[r], nc);
                check_close(what, x, ref, n, tol, tol);
                free(x), free(g), free(b), free(got), free(ref);
            }
    // A constant row has variance 0: the output is beta (and 0 without it).
    float x[9], got[9], beta[9], zero[9] = {0};
    for (int i = 0; i < 9; i++)
        x[i] = 4.25f, beta[i] = (float)i - 4;
    kdl_layernorm_forward(got, x, NULL, beta, 1e-3f, 1, 9);
    check_close("layernorm constant row -> beta", got, beta, 9, 1e-7, 0);
    kdl_layernorm_forward(got, x, NULL, NULL, 1e-3f, 1, 9);
    check_close("layernorm constant row -> 0", got, zero, 9, 1e-7, 0);
    // Hand-worked: [1, 2, 3, 4], mean 2.5, biased var 1.25, eps 1e-3.
    float y[4] = {1, 2, 3, 4}, want[4];
    for (int i = 0; i < 4; i++)
        want[i] = (float)((y[i] - 2.5) / sqrt(1.25 + 1e-3));
    kdl_layernorm_forward(got, y, NULL, NULL, 1e-3f, 1, 4);
    check_close("layernorm [1 2 3 4]", got, want, 4, 1e-7, 1e-6);
}

int main(void) {
    test_batchnorm();
    test_layernorm();
    return check_report();
}
