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

#include "driver.h"

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(KDL_MODEL, name)

int main(int argc, char **argv) {
    DriverArgs a;
    driver_name = "eval_driver";
    if (driver_args(argc, argv, 0, "usage: eval_driver W.safetensors --x X.npy .. --y Y.npy .. "
                    "--batch-size B -o evaluate.csv", &a))
        return 1;
    int nx = a.nx, ny = a.ny, batch = a.batch;
    const char *w = a.weights, *out = a.out;
    char err[512];
    void *m = FN(_create_training)(batch);
    if (!m)
        return die("cannot create the model", NULL);
    if (FN(_load)(m, w, err, sizeof err) != KDL_OK)
        return die(err, NULL);
    kdl_Array x[MAXIO], y[MAXIO];
    for (int k = 0; k < nx + ny; k++)
        if (driver_load(&a, k, k < nx ? &x[k] : &y[k - nx]))
            return 1;
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
