/*
 * bench.c - time one kdlc-generated model (tests/bench/run.sh builds this
 * once per model, `make bench` runs it).
 *
 * Compiled with
 *   -DBENCH_HEADER='"digits_mlp.h"'  the generated header
 *   -DBENCH_MODEL=digits_mlp_model   the generated prefix (<stem>_<var>)
 *   -DBENCH_UPPER=DIGITS_MLP_MODEL   the prefix of its constants
 * and linked with the generated .c, libkdlrt.a and (unless KDL_NO_BLAS) OpenBLAS.
 *
 * Usage: bench NAME THREADS... [-t SECONDS]
 * For each thread count (OpenBLAS threads; the portable GEMM is
 * single-threaded): warm up, then
 *   batch 1:   time single predict calls, each with clock_gettime(CLOCK_MONOTONIC),
 *              for about SECONDS (at least 200 calls); report the median in us;
 *   batch 256: time single predict calls the same way (at least 10); report
 *              256 / median call time in samples/s.
 * tests/bench/torch_bench.py measures PyTorch the same way. One line per
 * thread count on stdout:
 *   RESULT kdl NAME THREADS B1_MEDIAN_US B256_SAMPLES_PER_S PARAMS CALLS1 CALLS256 CORE
 * (CORE: the OpenBLAS kernel set in use, "-" for the portable GEMM).
 */
#define _POSIX_C_SOURCE 199309L  // clock_gettime

#include BENCH_HEADER

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(suffix) CAT(BENCH_MODEL, suffix)
#define CONST(suffix) CAT(BENCH_UPPER, suffix)

#ifndef KDL_NO_BLAS
void openblas_set_num_threads(int);
char *openblas_get_corename(void);
#endif

#define BIG_BATCH 256

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static BENCH_MODEL *model;
static float *xbuf, *ybuf;

static void predict(int batch) {
    const void *in[1] = {xbuf};
    float *out[1] = {ybuf};
    kdl_Status s = FN(_predict)(model, batch, in, out);
    if (s != KDL_OK) {
        fprintf(stderr, "bench: predict: %s\n", kdl_status_str(s));
        exit(1);
    }
}

// Median seconds per predict(batch) call: warm up for warm seconds, then
// time calls one by one for about secs seconds (at least min_calls).
static double median_call(int batch, double warm, double secs, int min_calls, int *ncalls) {
    double t0 = now();
    int w = 0;
    while (now() - t0 < warm || w < 3) {
        predict(batch);
        w++;
    }
    size_t cap = 1024, n = 0;
    double *t = malloc(cap * sizeof *t);
    if (!t)
        exit(1);
    double start = now();
    while (n < (size_t)min_calls || now() - start < secs) {
        if (n == cap) {
            cap *= 2;
            t = realloc(t, cap * sizeof *t);
            if (!t)
                exit(1);
        }
        double a = now();
        predict(batch);
        double b = now();
        t[n++] = b - a;
    }
    qsort(t, n, sizeof *t, cmp_double);
    double med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    *ncalls = (int)n;
    return med;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME THREADS... [-t SECONDS]\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    double secs = 2.0;
    int threads[16], nthreads = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (nthreads < 16)
            threads[nthreads++] = atoi(argv[i]);
    }
    model = FN(_create)(BIG_BATCH);
    if (!model) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    if (FN(_init)(model, 42) != KDL_OK) {
        fprintf(stderr, "bench: init failed\n");
        return 1;
    }
    size_t nin = (size_t)BIG_BATCH * CONST(_INPUT0_SIZE), nout = (size_t)BIG_BATCH * CONST(_OUTPUT0_SIZE);
    xbuf = malloc(nin * sizeof(float));
    ybuf = malloc(nout * sizeof(float));
    if (!xbuf || !ybuf)
        return 1;
    srand(1);
    for (size_t i = 0; i < nin; i++)
        xbuf[i] = (float)rand() / (float)RAND_MAX;
    // Every weight of the file belongs to this model: the struct is all parameters.
    long long params = (long long)(sizeof *FN(_weights)(model) / sizeof(float));
#ifndef KDL_NO_BLAS
    const char *core = openblas_get_corename();
#else
    const char *core = "-";
#endif
    fprintf(stderr, "bench: %s (%s GEMM, core %s), %lld parameters, ~%.1f s per measurement\n",
            name, kdl_gemm_backend(), core, params, secs);
    for (int i = 0; i < nthreads; i++) {
#ifndef KDL_NO_BLAS
        openblas_set_num_threads(threads[i]);
#endif
        int n1, n256;
        double b1 = median_call(1, 0.3, secs, 200, &n1);
        double b256 = median_call(BIG_BATCH, 0.3, secs, 10, &n256);
        printf("RESULT kdl %s %d %.2f %.1f %lld %d %d %s\n", name, threads[i], b1 * 1e6,
               BIG_BATCH / b256, params, n1, n256, core);
        fflush(stdout);
    }
    FN(_destroy)(model);
    free(xbuf);
    free(ybuf);
    return 0;
}
