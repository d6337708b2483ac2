/*
 * driver.h - what step_driver.c and eval_driver.c share: the die() message,
 * the command line (W.safetensors --x .. --y .. [--epochs E] --batch-size B
 * -o OUT) and loading the --x / --y arrays (integer labels become floats,
 * as the training API takes them). Header-only, for those two programs.
 */
#ifndef KDL_TRAIN_DRIVER_H
#define KDL_TRAIN_DRIVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kdl.h"

#define MAXIO 16

typedef struct {
    const char *weights, *out, *xs[MAXIO], *ys[MAXIO];
    int nx, ny, epochs, batch;
} DriverArgs;

static const char *driver_name = "driver";

static int die(const char *msg, const char *what) {
    fprintf(stderr, "%s: %s%s%s\n", driver_name, what ? what : "", what ? ": " : "", msg);
    return 1;
}

// Parse argv into *a (--epochs only when with_epochs); 0, or 1 after die().
static int driver_args(int argc, char **argv, int with_epochs, const char *usage,
                       DriverArgs *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-') {
            a->weights = o;
            continue;
        }
        if (i + 1 >= argc)
            return die("needs a value", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--x") && a->nx < MAXIO)
            a->xs[a->nx++] = v;
        else if (!strcmp(o, "--y") && a->ny < MAXIO)
            a->ys[a->ny++] = v;
        else if (with_epochs && !strcmp(o, "--epochs"))
            a->epochs = atoi(v);
        else if (!strcmp(o, "--batch-size"))
            a->batch = atoi(v);
        else if (!strcmp(o, "-o"))
            a->out = v;
        else
            return die("unknown option", o);
    }
    if (!a->weights || !a->out || !a->nx || !a->ny || a->batch <= 0 ||
        (with_epochs && a->epochs <= 0))
        return die(usage, NULL);
    return 0;
}

// Load array k of the --x files then the --y files into *arr (a label
// array as floats); 0, or 1 after die().
static int driver_load(const DriverArgs *a, int k, kdl_Array *arr) {
    char err[512];
    if (kdl_npy_load(k < a->nx ? a->xs[k] : a->ys[k - a->nx], arr, err, sizeof err) != KDL_OK)
        return die(err, NULL);
    if (k >= a->nx && arr->dtype == KDL_I32) {     // labels, as floats
        size_t c = kdl_array_count(arr);
        float *f = malloc(sizeof(float) * (c ? c : 1));
        if (!f)
            return die("out of memory", NULL);
        for (size_t i = 0; i < c; i++)
            f[i] = (float)((int32_t *)arr->data)[i];
        free(arr->data);
        arr->data = f;
        arr->dtype = KDL_F32;
    }
    return 0;
}

#endif
