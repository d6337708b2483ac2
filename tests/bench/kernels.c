/*
 * kernels.c - time the runtime kernels behind the benchmark models, layer by
 * layer, at batch 1 and 256 (the breakdown in docs/performance.md). Not run
 * by `make bench`; build and run it by hand (OpenBLAS build only):
 *
 *   cc -std=c11 -O2 -Iinclude $(pkg-config --cflags openblas) tests/bench/kernels.c \
 *       build/libkdlrt.a $(pkg-config --libs openblas) -lm -lpthread -o build/bench/kernels
 *   build/bench/kernels [THREADS]      (kdl_set_num_threads: the runtime's pool and OpenBLAS)
 *
 * Each line is the median of many timed calls. For a Conv2D the line of the
 * kernel is followed by, for comparison, the GEMM an im2col lowering would
 * run (M = output pixels, N = filters, K = 9 * channels; the im2col path,
 * taken without AVX-512, runs it in row blocks) through cblas_sgemm, and a
 * bias + ReLU pass; with AVX-512 the kernel is the direct convolution
 * (runtime/conv.c) and calls no GEMM. For a Dense at batch 1 the same
 * product through cblas_sgemv is shown next to it.
 */
#define _POSIX_C_SOURCE 199309L

#include <kdl.h>
#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *openblas_get_corename(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double samples[20000];

// Median microseconds of STMT over n calls after n/5 + 1 warm-up calls.
#define TIME(n, STMT, label, ...)                                                                 \
    do {                                                                                          \
        int n_ = (n);                                                                             \
        for (int i_ = 0; i_ < n_ / 5 + 1; i_++) {                                                 \
            STMT;                                                                                 \
        }                                                                                         \
        for (int i_ = 0; i_ < n_; i_++) {                                                         \
            double a_ = now();                                                                    \
            STMT;                                                                                 \
            samples[i_] = now() - a_;                                                             \
        }                                                                                         \
        qsort(samples, (size_t)n_, sizeof(double), cmp_double);                                   \
        char l_[160];                                                                             \
        snprintf(l_, sizeof l_, label, __VA_ARGS__);                                              \
        printf("%-64s %12.2f us\n", l_, samples[n_ / 2] * 1e6);                                   \
    } while (0)

static float *x, *y, *w, *b, *scratch;

static float *floats(size_t n) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "kernels: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

static int reps(int n, double work) {
    return n == 1 ? (work > 1e6 ? 2000 : 20000) : (work > 1e6 ? 20 : 300);
}

// 3x3 "same" stride-1 Conv2D with ReLU, h x w x c -> h x w x f.
static void conv(const char *model, int n, int h, int wd, int c, int f) {
    kdl_ConvShape s = {.n = n, .h = h, .w = wd, .c = c, .oh = h, .ow = wd, .f = f, .kh = 3, .kw = 3,
                       .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pad_top = 1, .pad_left = 1,
                       .groups = 1, .depth_multiplier = 1};
    int m = n * h * wd, k = 9 * c, r = reps(n, (double)m * f * k / 16);
    TIME(r, kdl_conv2d_forward(y, x, w, b, &s, KDL_ACT_RELU, 0.0f, scratch),
         "%s b%d Conv2D %dx%dx%d->%d", model, n, h, wd, c, f);
    TIME(r, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, f, k, 1.0f, scratch, k, w, f,
                        0.0f, y, f),
         "%s b%d   im2col's GEMM (cblas), M N K = %d %d %d", model, n, m, f, k);
    TIME(r, kdl_dense_forward(y, y, w, b, m, 0, f, KDL_ACT_RELU, 0.0f),
         "%s b%d   its bias + ReLU alone, %d x %d", model, n, m, f);
}

static void pool(const char *model, int n, int h, int c) {
    kdl_ConvShape s = {.n = n, .h = h, .w = h, .c = c, .oh = h / 2, .ow = h / 2, .f = c, .kh = 2,
                       .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .groups = 1,
                       .depth_multiplier = 1};
    TIME(reps(n, 0), kdl_pool2d_forward(y, x, &s, KDL_POOL_MAX), "%s b%d MaxPooling2D %dx%dx%d",
         model, n, h, h, c);
}

static void dense(const char *model, int n, int in, int units, kdl_Act act) {
    int r = reps(n, (double)n * in * units / 16);
    TIME(r, kdl_dense_forward(y, x, w, b, n, in, units, act, 0.0f), "%s b%d Dense %d->%d%s", model,
         n, in, units, act == KDL_ACT_SOFTMAX ? " softmax" : " relu");
    if (n == 1)
        TIME(r, cblas_sgemv(CblasRowMajor, CblasTrans, in, units, 1.0f, w, units, x, 1, 0.0f, y, 1),
             "%s b%d   the product through cblas_sgemv", model, n);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    kdl_set_num_threads(threads);
    printf("OpenBLAS kernels %s, %d thread(s)\n", openblas_get_corename(), threads);
    x = floats((size_t)1 << 24);
    y = floats((size_t)1 << 24);
    w = floats((size_t)1 << 21);
    b = floats(4096);
    scratch = floats((size_t)256 * 32 * 32 * 9 * 32);  // the largest im2col matrix
    for (int n = 1; n <= 256; n += 255) {
        dense("digits_mlp", n, 64, 128, KDL_ACT_RELU);
        dense("digits_mlp", n, 128, 64, KDL_ACT_RELU);
        dense("digits_mlp", n, 64, 10, KDL_ACT_SOFTMAX);
        conv("digits_cnn", n, 8, 8, 1, 16);
        pool("digits_cnn", n, 8, 16);
        conv("digits_cnn", n, 4, 4, 16, 32);
        TIME(reps(n, 0), kdl_global_pool_forward(y, x, n, 16, 32, KDL_POOL_AVG),
             "digits_cnn b%d GlobalAveragePooling2D 4x4x32", n);
        dense("digits_cnn", n, 32, 10, KDL_ACT_SOFTMAX);
        dense("mlp784", n, 784, 1024, KDL_ACT_RELU);
        dense("mlp784", n, 1024, 1024, KDL_ACT_RELU);
        dense("mlp784", n, 1024, 10, KDL_ACT_SOFTMAX);
        conv("cnn32", n, 32, 32, 3, 32);
        conv("cnn32", n, 32, 32, 32, 32);
        pool("cnn32", n, 32, 32);
        conv("cnn32", n, 16, 16, 32, 64);
        conv("cnn32", n, 16, 16, 64, 64);
        pool("cnn32", n, 16, 64);
        dense("cnn32", n, 4096, 256, KDL_ACT_RELU);
        dense("cnn32", n, 256, 10, KDL_ACT_SOFTMAX);
    }
    return 0;
}
