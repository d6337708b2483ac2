/*
 * npycmp.c - compare two .npy arrays element by element:
 * |a - b| <= atol + rtol * |b| (b is the reference). Prints the first
 * mismatches and the largest error; exit 0 when all match, 1 otherwise,
 * 2 on bad input.
 *
 * usage: npycmp GOT.npy WANT.npy [--rtol R] [--atol A]
 */
#include "kdl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double at(const kdl_Array *a, size_t i) {
    return a->dtype == KDL_F32 ? (double)((const float *)a->data)[i]
                               : (double)((const int32_t *)a->data)[i];
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: npycmp GOT.npy WANT.npy [--rtol R] [--atol A]\n");
        return 2;
    }
    double rtol = 1e-4, atol = 1e-5;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rtol"))
            rtol = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--atol"))
            atol = atof(argv[i + 1]);
    }
    kdl_Array a = {0}, b = {0};
    char err[512];
    if (kdl_npy_load(argv[1], &a, err, sizeof err) != KDL_OK ||
        kdl_npy_load(argv[2], &b, err, sizeof err) != KDL_OK) {
        fprintf(stderr, "npycmp: %s\n", err);
        return 2;
    }
    size_t n = kdl_array_count(&a);
    if (a.rank != b.rank || n != kdl_array_count(&b) ||
        memcmp(a.shape, b.shape, sizeof(int64_t) * (size_t)a.rank)) {
        fprintf(stderr, "npycmp: shapes differ\n");
        return 1;
    }
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double x = at(&a, i), y = at(&b, i), d = fabs(x - y);
        if (!(d <= atol + rtol * fabs(y))) {
            if (bad < 5)
                printf("element %zu: got %.9g, want %.9g\n", i, x, y);
            bad++;
        }
        if (d > worst)
            worst = d;
    }
    printf("%zu of %zu elements differ (largest abs error %.3g)\n", bad, n, worst);
    kdl_array_free(&a);
    kdl_array_free(&b);
    return bad ? 1 : 0;
}
