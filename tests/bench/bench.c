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
 * Usage: bench NAME THREADS... [-t SECONDS] [--train BATCH] [--no-infer]
 * For each thread count (kdl_set_num_threads: the runtime's thread pool and
 * OpenBLAS's threads; the portable GEMM itself is single-threaded): warm up, then
 *   batch 1:   time single predict calls, each with clock_gettime(CLOCK_MONOTONIC),
 *              for about SECONDS (at least 200 calls); report the median in us;
 *   batch 256: time single predict calls the same way (at least 10); report
 *              256 / median call time in samples/s;
 *   training (--train BATCH; the model needs compile() in its .kdl): a model
 *              from _create_training(BATCH), _init(42), one batch of random
 *              inputs in [0, 1) and random labels 0..OUTPUT0_SIZE-1; 0.3 s of
 *              warm-up steps, then single _train_on_batch calls (forward, loss,
 *              backward, optimizer update) timed the same way (at least 10);
 *              report BATCH / median step time in samples/s.
 * tests/bench/torch_bench.py measures PyTorch the same way. One line per
 * thread count and measurement on stdout:
 *   RESULT kdl NAME THREADS B1_MEDIAN_US B256_SAMPLES_PER_S PARAMS CALLS1 CALLS256 CORE
 *   TRAIN kdl NAME THREADS BATCH SAMPLES_PER_S PARAMS STEPS MEDIAN_STEP_MS CORE
 * (CORE: the OpenBLAS kernel set in use, "-" for the portable GEMM; PARAMS of
 * TRAIN: the trainable floats).
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

static BENCH_MODEL *model, *tmodel;
static float *xbuf, *ybuf, *txbuf, *tlabels;
static kdl_StepResult last_step;
static double first_loss = -1.0;  // the loss of the first training step (about ln 10 at init)
static int steps_done;

static void predict(int batch) {
    const void *in[1] = {xbuf};
    float *out[1] = {ybuf};
    kdl_Status s = FN(_predict)(model, batch, in, out);
    if (s != KDL_OK) {
        fprintf(stderr, "bench: predict: %s\n", kdl_status_str(s));
        exit(1);
    }
}

// One training step on the --train batch (tmodel, txbuf, tlabels).
static void train_step(int batch) {
    const void *in[1] = {txbuf};
    const float *y[1] = {tlabels};
    kdl_Status s = FN(_train_on_batch)(tmodel, batch, in, y, &last_step);
    if (s != KDL_OK) {
        fprintf(stderr, "bench: train_on_batch: %s\n", kdl_status_str(s));
        exit(1);
    }
    if (first_loss < 0)
        first_loss = last_step.loss;
    steps_done++;
}

// Median seconds per fn(batch) call: warm up for warm seconds, then
// time calls one by one for about secs seconds (at least min_calls).
static double median_call(void (*fn)(int), int batch, double warm, double secs, int min_calls, int *ncalls) {
    double t0 = now();
    int w = 0;
    while (now() - t0 < warm || w < 3) {
        fn(batch);
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
        fn(batch);
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
        fprintf(stderr, "usage: %s NAME THREADS... [-t SECONDS] [--train BATCH] [--no-infer]\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    double secs = 2.0;
    int threads[16], nthreads = 0, tbatch = 0, infer = 1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--train") && i + 1 < argc)
            tbatch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-infer"))
            infer = 0;
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
    long long tparams = 0;
    if (tbatch > 0) {
        tmodel = FN(_create_training)(tbatch);
        if (!tmodel) {
            fprintf(stderr, "bench: out of memory (training, batch %d)\n", tbatch);
            return 1;
        }
        if (FN(_init)(tmodel, 42) != KDL_OK) {
            fprintf(stderr, "bench: init failed\n");
            return 1;
        }
        // Sparse categorical crossentropy: one label (as a float) per sample.
        _Static_assert(CONST(_TARGET0_SIZE) == 1, "the training benchmark expects integer labels");
        size_t ntin = (size_t)tbatch * CONST(_INPUT0_SIZE);
        txbuf = malloc(ntin * sizeof(float));
        tlabels = malloc((size_t)tbatch * sizeof(float));
        if (!txbuf || !tlabels)
            return 1;
        for (size_t i = 0; i < ntin; i++)
            txbuf[i] = (float)rand() / (float)RAND_MAX;
        for (int i = 0; i < tbatch; i++)
            tlabels[i] = (float)(rand() % CONST(_OUTPUT0_SIZE));
        tparams = CONST(_TRAINABLE_FLOATS);
    }
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
        kdl_set_num_threads(threads[i]);
        if (infer) {
            int n1, n256;
            double b1 = median_call(predict, 1, 0.3, secs, 200, &n1);
            double b256 = median_call(predict, BIG_BATCH, 0.3, secs, 10, &n256);
            printf("RESULT kdl %s %d %.2f %.1f %lld %d %d %s\n", name, threads[i], b1 * 1e6,
                   BIG_BATCH / b256, params, n1, n256, core);
            fflush(stdout);
        }
        if (tbatch > 0) {
            int nt;
            double step = median_call(train_step, tbatch, 0.3, secs, 10, &nt);
            printf("TRAIN kdl %s %d %d %.1f %lld %d %.3f %s\n", name, threads[i], tbatch, tbatch / step,
                   tparams, nt, step * 1e3, core);
            fprintf(stderr, "bench: %s training, %d threads: loss %.4g at the first step, %.4g after %d steps\n",
                    name, threads[i], first_loss, last_step.loss, steps_done);
            fflush(stdout);
        }
    }
    FN(_destroy)(model);
    if (tmodel)
        FN(_destroy)(tmodel);
    free(xbuf);
    free(ybuf);
    free(txbuf);
    free(tlabels);
    return 0;
}
