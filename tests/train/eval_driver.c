/*
 * eval_driver.c - a generated model's evaluate (kdl_evaluate through
 * M_evaluate) at full precision, for comparison with the reference's
 * evaluate.csv (tests/train, models with "# TRAIN-EVALUATE").
 *
 * Built against one generated model like step_driver.c: -DKDL_MODEL_H and
 * -DKDL_MODEL. Loads the weights, evaluates the samples batch by batch in
 * order (inference mode: the loss with its regularization terms, and the
 * metrics) and writes "loss,<metric>..." and one row of values.
 *
 * usage: eval_driver W.safetensors --x X.npy [--x ...] --y Y.npy [--y ...]
 *                    --batch-size B -o evaluate.csv
 */
#include KDL_MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(KDL_MODEL, name)

#define MAXIO 16

static int die(const char *msg, const char *what) {
    fprintf(stderr, "eval_driver: %s%s%s\n", what ? what : "", what ? ": " : "", msg);
    return 1;
}

int main(int argc, char **argv) {
    const char *w = NULL, *out = NULL, *xs[MAXIO], *ys[MAXIO];
    int nx = 0, ny = 0, batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-') {
            w = o;
            continue;
        }
        if (i + 1 >= argc)
            return die("needs a value", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--x") && nx < MAXIO)
            xs[nx++] = v;
        else if (!strcmp(o, "--y") && ny < MAXIO)
            ys[ny++] = v;
        else if (!strcmp(o, "--batch-size"))
            batch = atoi(v);
        else if (!strcmp(o, "-o"))
            out = v;
        else
            return die("unknown option", o);
    }
    if (!w || !out || !nx || !ny || batch <= 0)
        return die("usage: eval_driver W.safetensors --x X.npy .. --y Y.npy .. --batch-size B "
                   "-o evaluate.csv", NULL);
    char err[512];
    void *m = FN(_create_training)(batch);
    if (!m)
        return die("cannot create the model", NULL);
    if (FN(_load)(m, w, err, sizeof err) != KDL_OK)
        return die(err, NULL);
    kdl_Array x[MAXIO], y[MAXIO];
    for (int k = 0; k < nx + ny; k++) {
        kdl_Array *a = k < nx ? &x[k] : &y[k - nx];
        if (kdl_npy_load(k < nx ? xs[k] : ys[k - nx], a, err, sizeof err) != KDL_OK)
            return die(err, NULL);
        if (k >= nx && a->dtype == KDL_I32) {     // labels, as floats
            size_t c = kdl_array_count(a);
            float *f = malloc(sizeof(float) * (c ? c : 1));
            if (!f)
                return die("out of memory", NULL);
            for (size_t i = 0; i < c; i++)
                f[i] = (float)((int32_t *)a->data)[i];
            free(a->data);
            a->data = f;
            a->dtype = KDL_F32;
        }
    }
    kdl_Logs logs;
    if (FN(_evaluate)(m, x, y, batch, 0, &logs, err, sizeof err) != KDL_OK)
        return die(err, "evaluate");
    FILE *f = fopen(out, "w");
    if (!f)
        return die("cannot create", out);
    for (int k = 0; k < logs.n; k++)
        fprintf(f, "%s%s", k ? "," : "", logs.names[k]);
    fprintf(f, "\n");
    for (int k = 0; k < logs.n; k++)
        fprintf(f, "%s%.17g", k ? "," : "", logs.values[k]);
    fprintf(f, "\n");
    if (fclose(f) != 0)
        return die("cannot write", out);
    for (int k = 0; k < nx; k++)
        kdl_array_free(&x[k]);
    for (int k = 0; k < ny; k++)
        kdl_array_free(&y[k]);
    FN(_destroy)(m);
    return 0;
}
