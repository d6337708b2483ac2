/*
 * dyn_driver.c - the generated API of a model with None input dimensions
 * (Inputs/dyn.kdl): output_shape, create for the largest dims, predict at
 * several dims (the same numbers as a model created for exactly those dims),
 * dims beyond the plan or too small for the layers, and a weights-only model.
 */
#include "dyn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 2

static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
}

// Predict with dims on model m; the outputs in fresh arrays.
static kdl_Status run(dyn_model *m, const int dims[2], float **scores, float **features) {
    int64_t fs[4];
    char err[200];
    if (dyn_model_output_shape(dims, 1, fs, err, sizeof err) != KDL_OK)
        return KDL_ERR_SHAPE;
    size_t nx = (size_t)N * (size_t)dims[0] * (size_t)dims[1] * 2;
    float *x = malloc(sizeof(float) * nx);
    *scores = malloc(sizeof(float) * N * 2);
    *features = malloc(sizeof(float) * N * (size_t)(fs[1] * fs[2] * fs[3]));
    fill(x, nx);
    const void *in[] = {x};
    float *out[] = {*scores, *features};
    kdl_Status st = dyn_model_predict(m, N, dims, in, out);
    free(x);
    return st;
}

int main(void) {
    char err[200] = "";
    int64_t shape[4];
    const int big[2] = {12, 10}, small[2] = {9, 8}, tiny[2] = {3, 3};
    printf("dims %d\n", DYN_MODEL_NUM_DIMS);
    for (int k = 0; k < 2; k++) {
        kdl_Status st = dyn_model_output_shape(big, k, shape, err, sizeof err);
        printf("output %d at 12x10: %s", k, kdl_status_str(st));
        for (int d = 0; d < (k ? 4 : 2); d++)
            printf(" %lld", (long long)shape[d]);
        printf("\n");
    }
    kdl_Status st = dyn_model_output_shape(tiny, 1, shape, err, sizeof err);
    printf("3x3: %s: %s\n", kdl_status_str(st), err);

    dyn_model *m = dyn_model_create(N, big), *exact = dyn_model_create(N, small);
    if (!m || !exact || dyn_model_init(m, 7) != KDL_OK)
        return 1;
    memcpy(dyn_model_weights(exact), dyn_model_weights(m), sizeof(dyn_Weights));
    dyn_model_prepare(exact);
    float *s1, *f1, *s2, *f2;
    kdl_Status a = run(m, small, &s1, &f1), b = run(exact, small, &s2, &f2);
    size_t nf = (size_t)N * 2 * 2 * 3;  // 9x8 -> pool 4x4 -> valid conv 2x2, 3 filters
    printf("9x8 in the 12x10 model: %s, in a 9x8 model: %s, same numbers: %s\n",
           kdl_status_str(a), kdl_status_str(b),
           !memcmp(s1, s2, sizeof(float) * N * 2) && !memcmp(f1, f2, sizeof(float) * nf) ? "yes"
                                                                                       : "no");
    free(s1), free(f1), free(s2), free(f2);
    a = run(m, big, &s1, &f1);
    printf("12x10: %s\n", kdl_status_str(a));
    free(s1), free(f1);
    const int over[2] = {13, 10};
    a = run(m, over, &s1, &f1);
    printf("13x10 in the 12x10 model: %s\n", kdl_status_str(a));
    free(s1), free(f1);
    a = run(exact, big, &s1, &f1);
    printf("12x10 in the 9x8 model: %s\n", kdl_status_str(a));
    free(s1), free(f1);

    dyn_model *wonly = dyn_model_create(1, NULL);
    kdl_Layer l;
    kdl_Status si = dyn_model_init(wonly, 7);
    kdl_Status sl = dyn_model_get_layer(wonly, "conv2d", KDL_NO_INDEX, &l);
    printf("weights only: init %s, get_layer %s %s", kdl_status_str(si), kdl_status_str(sl),
           sl == KDL_OK ? l.output_shape : "-");
    a = run(wonly, small, &s1, &f1);
    printf(", predict %s\n", kdl_status_str(a));
    free(s1), free(f1);
    dyn_model_destroy(wonly);
    dyn_model_destroy(exact);
    dyn_model_destroy(m);
    return 0;
}
