/*
 * program.c - the command-line program `kdlc build` makes for a .kdl file.
 *
 *   PROG summary [--model M] [--line-length N] [--positions P,...] [--expand-nested]
 *                [--show-trainable] [--layer-range START END]
 *   PROG layers [--model M]
 *   PROG init [--model M] --seed N -o weights.safetensors
 *   PROG predict [--model M] --weights w.safetensors --input x.npy|x.csv [--input ...]
 *                [--output y.npy|y.csv] [--batch-size N]
 *   PROG fit [--model M] (--data train.csv | --x x.npy|x.csv [--x ...] --y y.npy|y.csv
 *            [--y ...]) [--epochs N] [--batch-size N] [--validation-split F]
 *            [--validation-data v.csv | --val-x .. --val-y ..] [--seed N] [--no-shuffle]
 *            [--initial-epoch N] [--weights init.safetensors | --resume ckpt.safetensors]
 *            -o trained.safetensors [--checkpoint-every N] [--history h.csv] [--verbose 0|1|2]
 *   PROG evaluate [--model M] --weights W (--data test.csv | --x .. --y ..) [--batch-size N]
 *            [--verbose 0|1|2]
 *
 * fit and evaluate need a model compiled for training (create_training).
 * A --data CSV holds one sample per row: the model's inputs, then its
 * targets in the last columns (digits: 64 pixels, then the label). fit's
 * defaults come from the .kdl fit() call (else Keras's: 1 epoch, batches of
 * 32); without --weights the weights are initialized from --seed (0); -o is
 * written at the end and every --checkpoint-every epochs as a checkpoint
 * (the weights, the optimizer's state and the epochs done), and --resume
 * CHECKPOINT continues from it: the same --seed and options then give the
 * weights of an uninterrupted run. --weights takes only the weights of a
 * weights file or checkpoint (a fresh optimizer). Progress goes to stderr; the final
 * logs ("loss: 0.1234 - accuracy: 0.9700", loss first, as kdl_Logs) to stdout.
 *
 * The generated <stem>_main.c describes its models in a kdl_ProgramModel
 * table and calls kdl_program_main. Everything read from outside (arguments,
 * weights, inputs) is validated; errors are one line on stderr and exit
 * status 1 (2 for usage errors).
 */
#include "kdl.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *prog, const char *msg) {
    if (msg)
        fprintf(stderr, "%s: error: %s\n", prog, msg);
    fprintf(stderr,
            "usage: %s summary [--model M] [--line-length N] [--positions P,...] "
            "[--expand-nested]\n"
            "           [--show-trainable] [--layer-range START END]\n"
            "       %s layers [--model M]\n"
            "       %s init [--model M] --seed N -o weights.safetensors\n"
            "       %s predict [--model M] --weights W --input x.npy|x.csv [--input ...] "
            "[--output y.npy|y.csv] [--batch-size N]\n"
            "       %s fit [--model M] (--data train.csv | --x x.npy|x.csv [--x ...] "
            "--y y.npy|y.csv [--y ...])\n"
            "           [--epochs N] [--batch-size N] [--validation-split F]\n"
            "           [--validation-data v.csv | --val-x x.npy|x.csv .. --val-y y.npy|y.csv ..]\n"
            "           [--seed N] [--no-shuffle] [--initial-epoch N] [--weights W | --resume C]"
            " -o trained.safetensors\n"
            "           [--checkpoint-every N] [--history h.csv] [--verbose 0|1|2]\n"
            "       %s evaluate [--model M] --weights W (--data test.csv | --x .. --y ..) "
            "[--batch-size N] [--verbose 0|1|2]\n",
            prog, prog, prog, prog, prog, prog);
    return 2;
}

static int fail(const char *prog, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "%s: error: ", prog);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int parse_long(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static const kdl_ProgramModel *pick(const kdl_ProgramModel *models, int n, const char *name) {
    if (!name)
        return &models[0];
    for (int i = 0; i < n; i++)
        if (!strcmp(models[i].name, name) || !strcmp(models[i].keras_name, name))
            return &models[i];
    return NULL;
}

// The index in dims[] of input k's first None dimension.
static int dim_index(const kdl_ProgramModel *m, int k) {
    int j = 0;
    for (int i = 0; i < k; i++)
        for (int d = 1; d < m->input_ranks[i]; d++)
            j += m->input_shapes[i][d] < 0;
    return j;
}

// A shape as Python prints it, None for -1: "(None, None, 3)".
static void shape_text(char *buf, size_t n, const int64_t *shape, int rank) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < rank && k < n; d++)
        k += (size_t)(shape[d] < 0 ? snprintf(buf + k, n - k, "%sNone", d ? ", " : "")
                                    : snprintf(buf + k, n - k, "%s%lld", d ? ", " : "",
                                               (long long)shape[d]));
    if (k < n)
        snprintf(buf + k, n - k, rank == 1 ? ",)" : ")");
}

// The run-time dimensions of a model with None input dimensions, from its
// inputs: an .npy of the input's rank gives them by axis; CSV rows (one flat
// sample per row) give an input's one None dimension.
static int input_dims(const char *prog, const kdl_ProgramModel *m, const kdl_Array *xs,
                      const char *const *path, int *dims) {
    for (int k = 0, j = 0; k < m->ninputs; k++) {
        const int64_t *want = m->input_shapes[k];
        int rank = m->input_ranks[k], nnone = 0;
        int64_t known = 1;
        for (int d = 1; d < rank; d++) {
            nnone += want[d] < 0;
            known *= want[d] < 0 ? 1 : want[d];
        }
        char ws[160], gs[160];
        int64_t w[8];
        memcpy(w, want, sizeof w);
        w[0] = -1;
        shape_text(ws, sizeof ws, w, rank);
        shape_text(gs, sizeof gs, xs[k].shape, xs[k].rank);
        if (xs[k].rank == rank) {
            for (int d = 1; d < rank; d++) {
                if ((want[d] >= 0 && xs[k].shape[d] != want[d]) ||
                    (want[d] < 0 && (xs[k].shape[d] < 1 || xs[k].shape[d] > (1 << 24)))) {
                    fail(prog, "%s: the input has shape %s", path[k], gs);
                    fprintf(stderr, "  the model takes %s\n", ws);
                    return 0;
                }
                if (want[d] < 0)
                    dims[j++] = (int)xs[k].shape[d];
            }
        } else if (xs[k].rank == 2 && nnone == 1 && known > 0 && xs[k].shape[1] % known == 0 &&
                   xs[k].shape[1] / known >= 1 && xs[k].shape[1] / known <= (1 << 24)) {
            dims[j++] = (int)(xs[k].shape[1] / known);
        } else {
            fail(prog, "%s: the input has shape %s", path[k], gs);
            fprintf(stderr, "  the model takes %s; give inputs with None dimensions as .npy files "
                    "of that rank%s\n", ws, nnone == 1 ? " (or CSV rows of a multiple of the "
                    "known dimensions)" : "");
            return 0;
        }
    }
    return 1;
}

// Check that a loaded array fits input i of the model: (N, ...) with the
// per-sample size of the input; CSV rows are flat samples.
static int check_input(const char *prog, const kdl_ProgramModel *m, int k, int64_t per,
                       const kdl_Array *x, const char *path, long long *n) {
    size_t count = kdl_array_count(x);
    if (x->rank < 1 || per <= 0 || x->shape[0] <= 0 || count % (size_t)per != 0 ||
        count / (size_t)per != (size_t)x->shape[0]) {
        char want[64];
        snprintf(want, sizeof want, "%lld values per sample", (long long)per);
        return fail(prog, "%s: the input does not fit the model, which takes %s", path, want), 0;
    }
    if (m->input_dtypes[k] == KDL_I32 && x->dtype != KDL_I32) {
        // CSV and float .npy inputs of an integer input: convert exactly.
        int32_t *ids = malloc(sizeof(int32_t) * (count ? count : 1));
        if (!ids)
            return fail(prog, "%s: %s", path, "out of memory"), 0;
        const float *f = x->data;
        for (size_t i = 0; i < count; i++) {
            // Range first: converting NaN, an infinity or a value outside
            // int32 to int32_t is undefined.
            const char *why = isnan(f[i]) ? "which is not a number"
                              : !(f[i] >= -2147483648.0f && f[i] < 2147483648.0f)
                                  ? "which is out of the int32 range"
                                  : NULL;
            if (why || f[i] != (float)(int32_t)f[i]) {
                char msg[160] = "the model takes integer ids; found a fraction";
                if (why)
                    snprintf(msg, sizeof msg, "the model takes integer ids; found %.9g in sample "
                             "%zu, %s", (double)f[i], i / (size_t)per, why);
                free(ids);
                return fail(prog, "%s: %s", path, msg), 0;
            }
            ids[i] = (int32_t)f[i];
        }
        free(x->data);
        ((kdl_Array *)x)->data = ids;
        ((kdl_Array *)x)->dtype = KDL_I32;
    } else if (m->input_dtypes[k] == KDL_F32 && x->dtype != KDL_F32) {
        float *f = malloc(sizeof(float) * (count ? count : 1));
        if (!f)
            return fail(prog, "%s: %s", path, "out of memory"), 0;
        const int32_t *iv = x->data;
        for (size_t i = 0; i < count; i++)
            f[i] = (float)iv[i];
        free(x->data);
        ((kdl_Array *)x)->data = f;
        ((kdl_Array *)x)->dtype = KDL_F32;
    }
    *n = x->shape[0];
    return 1;
}

// inputs: one file per model input, in the model's (flattened) input order.
static int cmd_predict(const char *prog, const kdl_ProgramModel *m, const char *weights,
                       const char *const *input, int ninput, const char *output,
                       long long batch_size) {
    char err[512] = "";
    if (!weights || ninput == 0)
        return usage(prog, "predict needs --weights and --input");
    if (ninput != m->ninputs) {
        char want[32], got[32];
        snprintf(want, sizeof want, "%d", m->ninputs);
        snprintf(got, sizeof got, "%d", ninput);
        return fail(prog, "the model takes %s inputs (one --input each); %s were given", want, got);
    }
    // Sized by the model: any number of inputs, outputs and None dimensions.
    int ni = m->ninputs, no = m->noutputs;
    kdl_Array *xs = calloc((size_t)ni + 1, sizeof *xs);
    int *dims = calloc((size_t)m->ndims + 1, sizeof *dims);
    int64_t *in_size = calloc((size_t)ni + 1, sizeof *in_size);
    int64_t *out_size = calloc((size_t)no + 1, sizeof *out_size);
    int64_t(*out_shape)[8] = calloc((size_t)no + 1, sizeof *out_shape);
    const void **in = calloc((size_t)ni + 1, sizeof *in);
    kdl_Array *ys = calloc((size_t)no + 1, sizeof(kdl_Array));
    float **outs = calloc((size_t)no + 1, sizeof(float *));
    void *model = NULL;
    long long n = -1;
    int ok_in = xs && dims && in_size && out_size && out_shape && in && ys && outs, rc = 1;
    if (!ok_in)
        fail(prog, "%s%s", "out of memory", "");
    for (int k = 0; k < ninput && ok_in; k++) {
        kdl_Status st = ends_with(input[k], ".csv")
                            ? kdl_csv_load(input[k], &xs[k], err, sizeof err)
                            : kdl_npy_load(input[k], &xs[k], err, sizeof err);
        if (st != KDL_OK) {
            fail(prog, "%s%s", err, "");
            ok_in = 0;
        }
    }
    // Per-sample sizes: the model's, or with None input dimensions those
    // the inputs' shapes give.
    if (ok_in && m->ndims > 0)
        ok_in = input_dims(prog, m, xs, input, dims);
    for (int k = 0; k < ninput && ok_in; k++) {
        in_size[k] = 1;
        for (int d = 1, j = dim_index(m, k); d < m->input_ranks[k]; d++)
            in_size[k] *= m->input_shapes[k][d] >= 0 ? m->input_shapes[k][d] : dims[j++];
    }
    for (int k = 0; k < m->noutputs && ok_in; k++) {
        if (m->ndims > 0 && m->output_shape(dims, k, out_shape[k], err, sizeof err) != KDL_OK) {
            fail(prog, "the inputs do not fit the model: %s%s", err, "");
            ok_in = 0;
            break;
        }
        out_size[k] = 1;
        for (int d = 1; d < m->output_ranks[k]; d++) {
            if (m->ndims == 0)
                out_shape[k][d] = m->output_shapes[k][d];
            out_size[k] *= out_shape[k][d];
        }
    }
    for (int k = 0; k < ninput && ok_in; k++) {
        long long nk;
        if (!check_input(prog, m, k, in_size[k], &xs[k], input[k], &nk)) {
            ok_in = 0;
        } else if (n >= 0 && nk != n) {
            fail(prog, "%s: has a different number of samples than %s", input[k], input[0]);
            ok_in = 0;
        } else {
            n = nk;
        }
    }
    if (ok_in && m->stateful_batch > 0 && n % m->stateful_batch != 0) {
        char nb[32], sb[32];
        snprintf(nb, sizeof nb, "%lld", n);
        snprintf(sb, sizeof sb, "%d", m->stateful_batch);
        fail(prog, "the model has stateful recurrent layers built for batches of %s samples: the "
             "input's %s samples are not a multiple of it", sb, nb);
        ok_in = 0;
    }
    if (!ok_in)
        goto done;
    // Stateful layers: batches of exactly their size, carrying the states.
    int max_batch = m->stateful_batch > 0 ? m->stateful_batch
                                          : (int)(batch_size < n ? batch_size : n);
    model = m->ndims > 0 ? m->create_dims(max_batch, dims) : m->create(max_batch);
    kdl_Status st = KDL_OK;
    if (!model) {
        fail(prog, "%s%s", "out of memory creating the model", "");
        goto done;
    }
    st = m->load(model, weights, err, sizeof err);
    if (st != KDL_OK) {
        fail(prog, "%s%s", err, "");
        goto done;
    }
    int ok = 1;
    for (int k = 0; ok && k < no; k++) {
        ys[k].dtype = KDL_F32;
        ys[k].rank = m->output_ranks[k];
        ys[k].shape[0] = n;
        for (int d = 1; d < ys[k].rank; d++)
            ys[k].shape[d] = out_shape[k][d];
        ys[k].data = malloc(sizeof(float) * (size_t)n * (size_t)out_size[k] + 1);
        ok = ys[k].data != NULL;
        if (!ok)
            fail(prog, "%s%s", "out of memory for the outputs", "");
    }
    for (long long i = 0; ok && i < n; i += max_batch) {
        int b = (int)(n - i < max_batch ? n - i : max_batch);
        for (int k = 0; k < ninput; k++) {
            size_t esize = m->input_dtypes[k] == KDL_I32 ? sizeof(int32_t) : sizeof(float);
            in[k] = (const char *)xs[k].data + (size_t)i * (size_t)in_size[k] * esize;
        }
        for (int k = 0; k < no; k++)
            outs[k] = (float *)ys[k].data + (size_t)i * (size_t)out_size[k];
        st = m->ndims > 0 ? m->predict_dims(model, b, dims, in, outs) : m->predict(model, b, in, outs);
        if (st != KDL_OK) {
            fail(prog, "predict failed: %s%s", kdl_status_str(st),
                 st == KDL_ERR_INDEX ? " (an Embedding id is out of range)" : "");
            ok = 0;
        }
    }
    rc = ok ? 0 : 1;
    for (int k = 0; ok && k < no; k++) {
        const char *path = output;
        char *alt = NULL;
        if (no > 1 && output) {
            // y.npy -> y.0.npy, y.1.npy, ... for several outputs.
            const char *dot = strrchr(output, '.');
            size_t stem = dot ? (size_t)(dot - output) : strlen(output);
            alt = malloc(stem + 32);
            if (alt)
                snprintf(alt, stem + 32, "%.*s.%d%s", (int)stem, output, k, dot ? dot : "");
            path = alt;
        }
        if (!path) {
            // No --output: CSV rows on stdout.
            const float *y = ys[k].data;
            for (long long r = 0; r < n; r++)
                for (int64_t j = 0; j < out_size[k]; j++)
                    printf("%.9g%c", y[(size_t)r * (size_t)out_size[k] + (size_t)j],
                           j + 1 < out_size[k] ? ',' : '\n');
            st = fflush(stdout) == 0 ? KDL_OK : KDL_ERR_IO;
            snprintf(err, sizeof err, "cannot write the output: %s", strerror(errno));
        } else if (ends_with(path, ".csv")) {
            st = kdl_csv_save(path, &(kdl_Array){KDL_F32, 2, {n, out_size[k]}, ys[k].data},
                              err, sizeof err);
        } else {
            st = kdl_npy_save(path, &ys[k], err, sizeof err);
        }
        free(alt);
        if (st != KDL_OK) {
            fail(prog, "%s%s", err, "");
            rc = 1;
            break;
        }
    }
done:
    for (int k = 0; ys && k < no; k++)
        free(ys[k].data);
    free(ys);
    free(outs);
    if (model)
        m->destroy(model);
    for (int k = 0; xs && k < ni; k++)
        kdl_array_free(&xs[k]);
    free(xs);
    free(dims);
    free(in_size);
    free(out_size);
    free(out_shape);
    free(in);
    return rc;
}

// model.layers with get_layer's view of each: name, class, output shape,
// parameter counts, trainable flag and weights.
static int cmd_layers(const char *prog, const kdl_ProgramModel *m) {
    void *model = m->create(1);
    if (!model)
        return fail(prog, "%s%s", "out of memory creating the model", "");
    for (int i = 0; i < m->nlayers; i++) {
        kdl_Layer l;
        if (m->get_layer(model, NULL, i, &l) != KDL_OK)
            continue;
        printf("%d %s (%s) %s params=%lld trainable=%lld non_trainable=%lld %s\n", i, l.name,
               l.class_name, l.output_shape, (long long)l.params, (long long)l.trainable_params,
               (long long)l.non_trainable_params, l.trainable ? "trainable" : "frozen");
        for (int k = 0; k < l.nweights; k++) {
            printf("    %s (", l.weights[k].name);
            for (int d = 0; d < l.weights[k].rank; d++)
                printf(d ? ", %lld" : "%lld", (long long)l.weights[k].shape[d]);
            printf(l.weights[k].rank == 1 ? ",)\n" : ")\n");
        }
    }
    m->destroy(model);
    return 0;
}

static int cmd_init(const char *prog, const kdl_ProgramModel *m, long long seed, const char *out) {
    char err[512] = "";
    if (seed < 0 || !out)
        return usage(prog, "init needs --seed N and -o FILE");
    void *model = m->create(1);
    if (!model)
        return fail(prog, "%s%s", "out of memory creating the model", "");
    kdl_Status st = m->init(model, (uint64_t)seed);
    if (st == KDL_OK)
        st = m->save(model, out, err, sizeof err);
    m->destroy(model);
    if (st != KDL_OK)
        return fail(prog, "%s%s", err[0] ? err : kdl_status_str(st), "");
    return 0;
}

// ---- fit / evaluate ------------------------------------------------------------------------

// Where one data set comes from: a CSV of inputs then targets, or files
// (x and y have room for every file of the command line).
typedef struct {
    const char *csv;
    const char **x, **y;
    int nx, ny;
} DataFiles;

// One data set as the model takes it: an array per input (x[nx]) and per
// target (y[ny]), allocated to the model's counts.
typedef struct {
    kdl_Array *x, *y;
    int nx, ny;
    long long n;            // samples (0: no data set)
} Data;

static void data_free(Data *d) {
    for (int k = 0; d->x && k < d->nx; k++)
        kdl_array_free(&d->x[k]);
    for (int k = 0; d->y && k < d->ny; k++)
        kdl_array_free(&d->y[k]);
    free(d->x);
    free(d->y);
    *d = (Data){.n = 0};
}

// Room for nx inputs and ny targets (zeroed); 0 when out of memory.
static int data_alloc(const char *prog, Data *d, int nx, int ny) {
    d->x = calloc((size_t)nx + 1, sizeof(kdl_Array));
    d->y = calloc((size_t)ny + 1, sizeof(kdl_Array));
    d->nx = nx;
    d->ny = ny;
    if (!d->x || !d->y)
        return fail(prog, "%s%s", "out of memory", ""), 0;
    return 1;
}

static int load_array(const char *prog, const char *path, kdl_Array *a) {
    char err[512] = "";
    kdl_Status st = ends_with(path, ".csv") ? kdl_csv_load(path, a, err, sizeof err)
                                            : kdl_npy_load(path, a, err, sizeof err);
    if (st != KDL_OK)
        return fail(prog, "%s%s", err[0] ? err : kdl_status_str(st), ""), 0;
    if (a->rank < 1 || a->shape[0] <= 0)
        return fail(prog, "%s: %s", path, "no samples"), 0;
    return 1;
}

// Read the files of a data set (a CSV whole, into x[0]); d->n is the
// number of samples of the first file.
static int data_load(const char *prog, const DataFiles *f, Data *d) {
    *d = (Data){.n = 0};
    if (!data_alloc(prog, d, f->csv ? 1 : f->nx, f->csv ? 0 : f->ny))
        return 0;
    if (f->csv) {
        if (!load_array(prog, f->csv, &d->x[0]))
            return 0;
    } else {
        for (int k = 0; k < f->nx; k++)
            if (!load_array(prog, f->x[k], &d->x[k]))
                return 0;
        for (int k = 0; k < f->ny; k++)
            if (!load_array(prog, f->y[k], &d->y[k]))
                return 0;
    }
    d->n = d->x[0].shape[0];
    return 1;
}

// Targets of `per` values per sample, converted to float.
static int check_target(const char *prog, int64_t per, kdl_Array *y, const char *path) {
    size_t count = kdl_array_count(y);
    if (per <= 0 || count % (size_t)per != 0 || count / (size_t)per != (size_t)y->shape[0]) {
        char want[64];
        snprintf(want, sizeof want, "%lld values per sample", (long long)per);
        return fail(prog, "%s: the targets do not fit the model, which takes %s", path, want), 0;
    }
    if (y->dtype == KDL_I32) {
        float *f = malloc(sizeof(float) * count);
        if (!f)
            return fail(prog, "%s: %s", path, "out of memory"), 0;
        const int32_t *iv = y->data;
        for (size_t i = 0; i < count; i++)
            f[i] = (float)iv[i];
        free(y->data);
        y->data = f;
        y->dtype = KDL_F32;
    }
    return 1;
}

// Split a --data CSV's columns: input 0, input 1, ..., then the targets.
static int split_csv(const char *prog, const kdl_ProgramModel *m, const kdl_TrainModel *t,
                     const char *path, Data *d) {
    kdl_Array all = d->x[0];
    d->x[0] = (kdl_Array){.rank = 0};
    data_free(d);
    d->n = all.shape[0];
    if (!data_alloc(prog, d, t->ninputs, t->ntargets)) {
        kdl_array_free(&all);
        return 0;
    }
    long long rows = all.shape[0], cols = all.rank == 2 ? all.shape[1] : 1, nin = 0, ntg = 0;
    for (int i = 0; i < t->ninputs; i++)
        nin += t->input_sizes[i];
    for (int j = 0; j < t->ntargets; j++)
        ntg += t->target_sizes[j];
    if (cols != nin + ntg) {
        fprintf(stderr,
                "%s: error: %s: %lld values per row; the model takes %lld: %lld input values, "
                "then %lld target values in the last columns\n",
                prog, path, cols, nin + ntg, nin, ntg);
        kdl_array_free(&all);
        return 0;
    }
    int ok = 1;
    long long col = 0;
    for (int k = 0; ok && k < t->ninputs + t->ntargets; k++) {
        int is_in = k < t->ninputs;
        long long per = is_in ? t->input_sizes[k] : t->target_sizes[k - t->ninputs];
        kdl_Array *a = is_in ? &d->x[k] : &d->y[k - t->ninputs];
        float *f = malloc(sizeof(float) * (size_t)(rows * per));
        if (!f) {
            fail(prog, "%s: %s", path, "out of memory");
            ok = 0;
            break;
        }
        const float *src = all.data;
        for (long long r = 0; r < rows; r++)
            memcpy(f + r * per, src + r * cols + col, sizeof(float) * (size_t)per);
        *a = (kdl_Array){KDL_F32, 2, {rows, per}, f};
        col += per;
        long long n;
        if (is_in)
            ok = check_input(prog, m, k, m->input_sizes[k], a, path, &n);
    }
    kdl_array_free(&all);
    return ok;
}

// Check a loaded data set against the model (messages name the files).
static int data_fit(const char *prog, const kdl_ProgramModel *m, const kdl_TrainModel *t,
                    const DataFiles *f, Data *d) {
    // An output with no values per sample (RepeatVector(0), ...) has no
    // loss to compute: say so rather than divide by its size.
    for (int j = 0; j < t->ntargets; j++)
        if (t->target_sizes[j] == 0 || (t->target_sizes[j] < 0 && m->ndims == 0)) {
            fprintf(stderr,
                    "%s: error: output %d of the model has no values per sample (a zero-size "
                    "shape); it cannot be used as a training target\n",
                    prog, j);
            return 0;
        }
    if (f->csv && m->ndims > 0) {
        // A row is one flat sample: it cannot give the lengths of the None
        // dimensions (predict's one-None-dimension rule would make every
        // row's length the same anyway; fit takes .npy files).
        char want[160];
        shape_text(want, sizeof want, m->input_shapes[0], m->input_ranks[0]);
        fprintf(stderr,
                "%s: error: %s: the model has None input dimensions (input 0 is %s); fit and "
                "evaluate take its data as .npy files with --x / --y (a CSV row is a flat "
                "sample without its shape)\n",
                prog, f->csv, want);
        return 0;
    }
    if (f->csv)
        return split_csv(prog, m, t, f->csv, d);
    if (f->nx != t->ninputs || f->ny != t->ntargets) {
        fprintf(stderr,
                "%s: error: the model takes %d inputs and %d targets (one --x / --y file "
                "each, or --val-x / --val-y); %d and %d were given\n",
                prog, t->ninputs, t->ntargets, f->nx, f->ny);
        return 0;
    }
    // Values per sample: the model's, or with None input dimensions those
    // the inputs' shapes give (.npy files of the inputs' ranks).
    int64_t *in = calloc((size_t)(t->ninputs + t->ntargets) + 1, sizeof *in), *tg;
    int *dims = calloc((size_t)m->ndims + 1, sizeof *dims);
    if (!in || !dims) {
        free(in);
        free(dims);
        return fail(prog, "%s%s", "out of memory", ""), 0;
    }
    tg = in + t->ninputs;
    memcpy(in, t->input_sizes, sizeof *in * (size_t)t->ninputs);
    memcpy(tg, t->target_sizes, sizeof *tg * (size_t)t->ntargets);
    char err[512] = "";
    int ok = 1;
    if (m->ndims > 0) {
        for (int k = 0; ok && k < t->ninputs; k++)
            if (d->x[k].rank != m->input_ranks[k]) {
                char want[160], got[160];
                shape_text(want, sizeof want, m->input_shapes[k], m->input_ranks[k]);
                shape_text(got, sizeof got, d->x[k].shape, d->x[k].rank);
                fprintf(stderr, "%s: error: %s: the input has shape %s\n  the model takes %s: "
                        "give an array of that rank (its None dimensions come from the data)\n",
                        prog, f->x[k], got, want);
                ok = 0;
            }
        ok = ok && input_dims(prog, m, d->x, f->x, dims);
        if (ok && t->sizes(dims, in, tg, err, sizeof err) != KDL_OK) {
            fail(prog, "the inputs do not fit the model: %s%s", err, "");
            ok = 0;
        }
    }
    for (int k = 0; ok && k < f->nx + f->ny; k++) {
        int is_in = k < f->nx;
        const char *path = is_in ? f->x[k] : f->y[k - f->nx];
        kdl_Array *a = is_in ? &d->x[k] : &d->y[k - f->nx];
        long long n = a->shape[0];
        ok = is_in ? check_input(prog, m, k, in[k], a, path, &n)
                   : check_target(prog, tg[k - f->nx], a, path);
        if (ok && n != d->n) {
            fail(prog, "%s: has a different number of samples than %s", path, f->x[0]);
            ok = 0;
        }
    }
    free(in);
    free(dims);
    return ok;
}

// Logs in kdl_Logs order ("loss: 0.1234 - accuracy: 0.9700 - val_loss: ..."),
// values as Keras's progress bar shows them; names from the model.
static void print_logs(const kdl_Logs *l, const kdl_TrainModel *t) {
    int per = 1 + t->nmetrics;
    for (int i = 0; i < l->n; i++) {
        int k = i % per;
        printf("%s%s%s: ", i ? " - " : "", i >= per ? "val_" : "",
               k ? t->metric_names[k - 1] : "loss");
        double v = l->values[i];
        if (isnan(v))
            printf("nan");
        else
            printf(fabs(v) > 1e-3 ? "%.4f" : "%.4e", v);
    }
    if (l->n)
        putchar('\n');
}

// The command line of every command; numbers are -1 when not given.
typedef struct {
    const char *model_name, *weights, *resume, *output, *history;
    const char **inputs;            // --input files (room for argc of each list)
    int ninputs;
    DataFiles train, val;
    const char **files;             // the one allocation behind the five file lists
    long long seed, batch, epochs, initial_epoch, checkpoint_every, verbose;
    double validation_split;
    int no_shuffle;
    kdl_SummaryOptions summary;     // summary: model.summary()'s arguments
} Args;

static int cmd_fit(const char *prog, const kdl_ProgramModel *m, const Args *a) {
    if (!m->create_training || !m->train_model)
        return fail(prog, "model '%s' was not compiled for training (the .kdl file needs %s)",
                    m->name, "compile() with a loss"),
               1;
    if (!a->output)
        return usage(prog, "fit needs -o FILE for the trained weights");
    if (a->weights && a->resume)
        return usage(prog, "fit takes --weights (weights only) or --resume (a checkpoint), not both");
    Data tr = {.n = 0}, va = {.n = 0};
    int has_val = a->val.csv || a->val.nx || a->val.ny;
    if (!data_load(prog, &a->train, &tr) || (has_val && !data_load(prog, &a->val, &va))) {
        data_free(&tr);
        data_free(&va);
        return 1;
    }
    // (Stateful recurrent layers: their batch unless one is given.)
    long long batch = a->batch > 0 ? a->batch : m->fit_batch_size > 0 ? m->fit_batch_size
                                              : m->stateful_batch > 0 ? m->stateful_batch : 32;
    long long nmax = tr.n > va.n ? tr.n : va.n;
    int max_batch = (int)(batch < nmax ? batch : nmax);
    void *model = m->create_training(max_batch);
    if (!model) {
        data_free(&tr);
        data_free(&va);
        return fail(prog, "%s%s", "out of memory creating the model", "");
    }
    kdl_TrainModel t;
    m->train_model(model, &t);
    char err[512] = "";
    int rc = 1;
    if (data_fit(prog, m, &t, &a->train, &tr) &&
        (!has_val || data_fit(prog, m, &t, &a->val, &va))) {
        int done = 0;   // epochs done, from the checkpoint
        kdl_Status st = a->resume    ? m->load_checkpoint(model, a->resume, &done, err, sizeof err)
                        : a->weights ? m->load(model, a->weights, err, sizeof err)
                                     : m->init(model, (uint64_t)(a->seed >= 0 ? a->seed : 0));
        kdl_FitOptions o = {
            .epochs = (int)(a->epochs > 0 ? a->epochs : m->fit_epochs > 0 ? m->fit_epochs : 1),
            .initial_epoch = (int)(a->initial_epoch >= 0 ? a->initial_epoch : done),
            .batch_size = max_batch,
            .validation_split = a->validation_split >= 0 ? a->validation_split
                                                         : m->fit_validation_split,
            .val_x = has_val ? va.x : NULL,
            .val_y = has_val ? va.y : NULL,
            .shuffle = a->no_shuffle ? 0 : m->fit_shuffle,
            .seed = (uint64_t)(a->seed >= 0 ? a->seed : 0),
            .verbose = (int)(a->verbose >= 0 ? a->verbose : 1),
            .checkpoint = a->output,
            .checkpoint_every = (int)(a->checkpoint_every > 0 ? a->checkpoint_every : 0),
            .history_csv = a->history,
        };
        if (m->fit_defaults) {
            // fit(class_weight=...) of the .kdl
            kdl_FitOptions d;
            m->fit_defaults(&d);
            o.class_ids = d.class_ids;
            o.class_weights = d.class_weights;
            o.nclass_weights = d.nclass_weights;
        }
        kdl_Logs last;
        if (st == KDL_OK)
            st = kdl_fit(&t, tr.x, tr.y, &o, &last, err, sizeof err);
        if (st != KDL_OK) {
            // A bad label from a CSV is most often a column order problem.
            fail(prog, "%s%s", err[0] ? err : kdl_status_str(st),
                 st == KDL_ERR_INDEX && (a->train.csv || a->val.csv)
                     ? " (--data: the targets are the last columns of each row)"
                     : "");
        } else {
            print_logs(&last, &t);
            rc = fflush(stdout) == 0 ? 0 : 1;
        }
    }
    m->destroy(model);
    data_free(&tr);
    data_free(&va);
    return rc;
}

static int cmd_evaluate(const char *prog, const kdl_ProgramModel *m, const Args *a) {
    if (!m->create_training || !m->train_model)
        return fail(prog, "model '%s' was not compiled for training (the .kdl file needs %s)",
                    m->name, "compile() with a loss"),
               1;
    if (!a->weights)
        return usage(prog, "evaluate needs --weights");
    if (a->val.csv || a->val.nx || a->val.ny)
        return usage(prog, "evaluate takes its data as --data or --x / --y");
    Data d = {.n = 0};
    if (!data_load(prog, &a->train, &d)) {
        data_free(&d);
        return 1;
    }
    long long batch = a->batch > 0 ? a->batch : m->stateful_batch > 0 ? m->stateful_batch : 32;
    int max_batch = (int)(batch < d.n ? batch : d.n);
    void *model = m->create_training(max_batch);
    if (!model) {
        data_free(&d);
        return fail(prog, "%s%s", "out of memory creating the model", "");
    }
    kdl_TrainModel t;
    m->train_model(model, &t);
    char err[512] = "";
    int rc = 1;
    if (data_fit(prog, m, &t, &a->train, &d)) {
        kdl_Logs logs;
        kdl_Status st = m->load(model, a->weights, err, sizeof err);
        if (st == KDL_OK)
            st = kdl_evaluate(&t, d.x, d.y, max_batch, (int)(a->verbose >= 0 ? a->verbose : 1),
                              &logs, err, sizeof err);
        if (st != KDL_OK) {
            fail(prog, "%s%s", err[0] ? err : kdl_status_str(st),
                 st == KDL_ERR_INDEX && a->train.csv
                     ? " (--data: the targets are the last columns of each row)"
                     : "");
        } else {
            print_logs(&logs, &t);
            rc = fflush(stdout) == 0 ? 0 : 1;
        }
    }
    m->destroy(model);
    data_free(&d);
    return rc;
}

// ---- the command line ----------------------------------------------------------------------

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v < hi))
        return 0;
    *out = v;
    return 1;
}

// Append a file to one of the repeatable options (each list has room for
// every argument, so any number of model inputs and outputs fits).
static int add_file(const char **list, int *n, const char *v) {
    list[(*n)++] = v;
    return 1;
}

// Options with a number: name, range, destination offset in Args.
static int parse_number_option(const char *prog, Args *a, const char *opt, const char *v,
                               int *handled) {
    static const struct {
        const char *name;
        long long lo, hi;
        size_t off;
        const char *msg;
    } nums[] = {
        {"--seed", 0, (long long)1 << 62, offsetof(Args, seed),
         "--seed needs a non-negative integer"},
        {"--batch-size", 1, 1 << 20, offsetof(Args, batch),
         "--batch-size needs a positive integer"},
        {"--epochs", 1, 1 << 30, offsetof(Args, epochs), "--epochs needs a positive integer"},
        {"--initial-epoch", 0, 1 << 30, offsetof(Args, initial_epoch),
         "--initial-epoch needs a non-negative integer"},
        {"--checkpoint-every", 0, 1 << 30, offsetof(Args, checkpoint_every),
         "--checkpoint-every needs a non-negative integer"},
        {"--verbose", 0, 2, offsetof(Args, verbose), "--verbose needs 0, 1 or 2"},
    };
    *handled = 0;
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        if (strcmp(opt, nums[i].name))
            continue;
        *handled = 1;
        long long *dst = (long long *)((char *)a + nums[i].off);
        if (!parse_long(v, nums[i].lo, nums[i].hi, dst))
            return usage(prog, nums[i].msg);
        return 0;
    }
    return 0;
}

// Fill *a from argv[2..]; returns 0, or the exit status of a usage error.
static int parse_args(const char *prog, int argc, char **argv, Args *a) {
    *a = (Args){.seed = -1, .batch = -1, .epochs = -1, .initial_epoch = -1,
                .checkpoint_every = -1, .verbose = -1, .validation_split = -1};
    size_t cap = argc > 0 ? (size_t)argc : 1;
    a->files = calloc(5 * cap, sizeof *a->files);
    if (!a->files) {
        fprintf(stderr, "%s: error: out of memory\n", prog);
        return 1;
    }
    a->inputs = a->files;
    a->train.x = a->files + cap;
    a->train.y = a->files + 2 * cap;
    a->val.x = a->files + 3 * cap;
    a->val.y = a->files + 4 * cap;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--no-shuffle")) {
            a->no_shuffle = 1;
            continue;
        }
        const char *msg;
        int k = !strcmp(argv[1], "summary") ? kdl_summary_arg(argc, argv, &i, &a->summary, &msg)
                                            : 0;
        if (k < 0)
            return usage(prog, msg);
        if (k > 0)
            continue;
        if (!v)
            return usage(prog, "unknown or incomplete option");
        i++;
        int handled, rc = parse_number_option(prog, a, o, v, &handled);
        if (rc)
            return rc;
        if (handled)
            continue;
        int ok = 1;
        static const char *const file_options[] = {
            "--weights", "--resume", "--output", "-o", "--history", "--data",
            "--validation-data", "--input", "--x", "--y", "--val-x", "--val-y"};
        for (size_t f = 0; f < sizeof file_options / sizeof *file_options; f++)
            if (!strcmp(o, file_options[f]) && !v[0]) {
                char text[64];
                snprintf(text, sizeof text, "%s needs a file name (got an empty one)", o);
                return usage(prog, text);
            }
        if (!strcmp(o, "--model"))
            a->model_name = v;
        else if (!strcmp(o, "--weights"))
            a->weights = v;
        else if (!strcmp(o, "--resume"))
            a->resume = v;
        else if (!strcmp(o, "--output") || !strcmp(o, "-o"))
            a->output = v;
        else if (!strcmp(o, "--history"))
            a->history = v;
        else if (!strcmp(o, "--data"))
            a->train.csv = v;
        else if (!strcmp(o, "--validation-data"))
            a->val.csv = v;
        else if (!strcmp(o, "--input"))
            ok = add_file(a->inputs, &a->ninputs, v);
        else if (!strcmp(o, "--x"))
            ok = add_file(a->train.x, &a->train.nx, v);
        else if (!strcmp(o, "--y"))
            ok = add_file(a->train.y, &a->train.ny, v);
        else if (!strcmp(o, "--val-x"))
            ok = add_file(a->val.x, &a->val.nx, v);
        else if (!strcmp(o, "--val-y"))
            ok = add_file(a->val.y, &a->val.ny, v);
        else if (!strcmp(o, "--validation-split")) {
            if (!parse_double(v, 0, 1, &a->validation_split))
                return usage(prog, "--validation-split needs a number in [0, 1)");
        } else
            return usage(prog, "unknown or incomplete option");
        (void)ok;
    }
    const DataFiles *sets[2] = {&a->train, &a->val};
    for (int k = 0; k < 2; k++) {
        const DataFiles *f = sets[k];
        if (f->csv && (f->nx || f->ny))
            return usage(prog, k ? "--validation-data and --val-x / --val-y exclude each other"
                                 : "--data and --x / --y exclude each other");
        if (!f->csv && (!f->nx != !f->ny))
            return usage(prog, k ? "validation data needs both --val-x and --val-y"
                                 : "the data needs both --x and --y");
    }
    return 0;
}

static int run(const char *prog, int argc, char **argv, const kdl_ProgramModel *models,
               int nmodels, Args *ap) {
    const char *cmd = argv[1];
    int rc = parse_args(prog, argc, argv, ap);
    if (rc)
        return rc;
    const Args a = *ap;
    const kdl_ProgramModel *m = pick(models, nmodels, a.model_name);
    if (!m) {
        fprintf(stderr, "%s: error: no model named '%s'; models:", prog, a.model_name);
        for (int i = 0; i < nmodels; i++)
            fprintf(stderr, " %s", models[i].name);
        fputc('\n', stderr);
        return 1;
    }
    if (!strcmp(cmd, "summary")) {
        // As `kdlc summary` prints it: the same options, the same messages.
        char err[4096] = "";
        kdl_Status st = m->summary(&a.summary, NULL, NULL, err, sizeof err);
        if (st != KDL_OK)
            return fail(prog, "%s%s", err[0] ? err : kdl_status_str(st), "");
        return 0;
    }
    if (!strcmp(cmd, "layers"))
        return cmd_layers(prog, m);
    if (!strcmp(cmd, "init"))
        return cmd_init(prog, m, a.seed, a.output);
    if (!strcmp(cmd, "predict"))
        return cmd_predict(prog, m, a.weights, a.inputs, a.ninputs, a.output,
                           a.batch > 0 ? a.batch : 256);
    if (!strcmp(cmd, "fit") || !strcmp(cmd, "evaluate")) {
        if (!a.train.csv && !a.train.nx)
            return usage(prog, "fit and evaluate need --data FILE or --x FILE .. --y FILE ..");
        return cmd[0] == 'f' ? cmd_fit(prog, m, &a) : cmd_evaluate(prog, m, &a);
    }
    return usage(prog, "unknown command");
}

int kdl_program_main(int argc, char **argv, const kdl_ProgramModel *models, int nmodels) {
    const char *prog = argc > 0 ? argv[0] : "kdl-model";
    const char *slash = strrchr(prog, '/');
    prog = slash ? slash + 1 : prog;
    if (argc < 2)
        return usage(prog, "missing command");
    Args a = {.files = NULL};
    int rc = run(prog, argc, argv, models, nmodels, &a);
    free(a.files);
    return rc;
}
