/*
 * step_driver.c - the per-step losses of a generated model's training step,
 * for comparison with the reference's steps.csv (tests/train).
 *
 * Built against one generated model: -DKDL_MODEL_H='"<stem>.h"' (the header
 * kdlc build wrote) and -DKDL_MODEL=<stem>_<var> (the model's prefix). It
 * loads the initial weights, then calls train_on_batch over the samples in
 * order, batch after batch (the last one partial), for the given epochs, and
 * writes "epoch,step,batch,loss" with the loss each step reports (before its
 * update), as train_reference.py writes them. A .kdl fit(class_weight=...)
 * (M_fit_defaults) weighs each batch's samples as fit does
 * (kdl_class_weights, set_sample_weight).
 *
 * usage: driver W0.safetensors --x X.npy [--x ...] --y Y.npy [--y ...]
 *               --epochs E --batch-size B -o steps.csv
 */
#include KDL_MODEL_H

#include "driver.h"

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(KDL_MODEL, name)

int main(int argc, char **argv) {
    DriverArgs a;
    driver_name = "step_driver";
    if (driver_args(argc, argv, 1, "usage: driver W0.safetensors --x X.npy .. --y Y.npy .. "
                    "--epochs E --batch-size B -o steps.csv", &a))
        return 1;
    int nx = a.nx, ny = a.ny, epochs = a.epochs, batch = a.batch;
    const char *w0 = a.weights, *out = a.out;
    char err[512];
    void *m = FN(_create_training)(batch);
    if (!m)
        return die("cannot create the model", NULL);
    if (FN(_load)(m, w0, err, sizeof err) != KDL_OK)
        return die(err, NULL);
    kdl_TrainModel t;
    FN(_train_model)(m, &t);
    if (t.ninputs != nx || t.ntargets != ny)
        return die("wrong number of --x / --y files", NULL);

    kdl_Array x[MAXIO], y[MAXIO];
    int64_t n = -1, in_sizes[MAXIO], tg_sizes[MAXIO];
    int dims[MAXIO * 8];
    for (int k = 0; k < nx; k++)
        in_sizes[k] = t.input_sizes[k];
    for (int k = 0; k < ny; k++)
        tg_sizes[k] = t.target_sizes[k];
    for (int k = 0; k < nx; k++)
        if (driver_load(&a, k, &x[k]))
            return 1;
    if (t.ndims > 0) {
        // None input dimensions: the arrays' (each of the input's rank).
        int j = 0;
        for (int k = 0; k < nx; k++) {
            if (x[k].rank != t.input_ranks[k])
                return die("the array's rank is not the input's", a.xs[k]);
            for (int d = 1; d < x[k].rank; d++)
                if (t.input_shapes[k][d] < 0 && j < MAXIO * 8)
                    dims[j++] = (int)x[k].shape[d];
        }
        if (t.sizes(dims, in_sizes, tg_sizes, err, sizeof err) != KDL_OK ||
            t.plan(t.model, dims, err, sizeof err) != KDL_OK)
            return die(err, NULL);
    }
    for (int k = 0; k < nx + ny; k++) {
        int is_x = k < nx;
        kdl_Array *arr = is_x ? &x[k] : &y[k - nx];
        const char *path = is_x ? a.xs[k] : a.ys[k - nx];
        if (!is_x && driver_load(&a, k, arr))
            return 1;
        int64_t per = is_x ? in_sizes[k] : tg_sizes[k - nx];
        if (arr->rank < 1 || (int64_t)kdl_array_count(arr) != arr->shape[0] * per ||
            (n >= 0 && arr->shape[0] != n))
            return die("does not fit the model", path);
        n = arr->shape[0];
        if (is_x && arr->dtype != t.input_dtypes[k])
            return die("wrong dtype for the model's input", path);
    }

    FILE *f = fopen(out, "w");
    if (!f)
        return die("cannot create", out);
    kdl_FitOptions fo;
    FN(_fit_defaults)(&fo);
    float *sw = NULL;
    if (fo.nclass_weights > 0) {
        if (!t.set_sample_weight || !(sw = malloc(sizeof(float) * (size_t)batch))) {
            fclose(f);
            return die("class_weight: the model takes no sample weights", NULL);
        }
    }
    fprintf(f, "epoch,step,batch,loss\n");
    for (int e = 0; e < epochs; e++) {
        int step = 0;
        for (int64_t s = 0; s < n; s += batch, step++) {
            int b = (int)(n - s < batch ? n - s : batch);
            const void *in[MAXIO];
            const float *tg[MAXIO];
            for (int k = 0; k < nx; k++)
                in[k] = (const char *)x[k].data + (size_t)s * (size_t)in_sizes[k] * 4;
            for (int k = 0; k < ny; k++)
                tg[k] = (const float *)y[k].data + (size_t)s * (size_t)tg_sizes[k];
            if (sw) {
                kdl_class_weights(sw, tg[0], b, (int)tg_sizes[0], fo.class_ids,
                                  fo.class_weights, fo.nclass_weights);
                t.set_sample_weight(t.model, sw);
            }
            kdl_StepResult r;
            memset(&r, 0, sizeof r);
            kdl_Status st = t.ndims > 0 ? t.train_step_dims(t.model, b, dims, in, tg, &r)
                                        : t.train_step(t.model, b, in, tg, &r);
            if (st != KDL_OK) {
                fclose(f);
                return die(kdl_status_str(st), "train_on_batch");
            }
            fprintf(f, "%d,%d,%d,%.17g\n", e, step, b, r.loss);
        }
    }
    free(sw);
    if (fclose(f) != 0)
        return die("cannot write", out);
    for (int k = 0; k < nx; k++)
        kdl_array_free(&x[k]);
    for (int k = 0; k < ny; k++)
        kdl_array_free(&y[k]);
    FN(_destroy)(m);
    return 0;
}
