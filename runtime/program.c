/*
 * program.c - the command-line program `kdlc build` makes for a .kdl file.
 *
 *   PROG summary [--model M]
 *   PROG layers [--model M]
 *   PROG init [--model M] --seed N -o weights.safetensors
 *   PROG predict [--model M] --weights w.safetensors --input x.npy|x.csv [--input ...]
 *                [--output y.npy|y.csv] [--batch-size N]
 *
 * The generated <stem>_main.c describes its models in a kdl_ProgramModel
 * table and calls kdl_program_main. Everything read from outside (arguments,
 * weights, inputs) is validated; errors are one line on stderr and exit
 * status 1 (2 for usage errors).
 */
#include "kdl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *prog, const char *msg) {
    if (msg)
        fprintf(stderr, "%s: error: %s\n", prog, msg);
    fprintf(stderr,
            "usage: %s summary [--model M]\n"
            "       %s layers [--model M]\n"
            "       %s init [--model M] --seed N -o weights.safetensors\n"
            "       %s predict [--model M] --weights W --input x.npy|x.csv [--input ...] "
            "[--output y.npy|y.csv] [--batch-size N]\n",
            prog, prog, prog, prog);
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

// Check that a loaded array fits input i of the model: (N, ...) with the
// per-sample size of the input; CSV rows are flat samples.
static int check_input(const char *prog, const kdl_ProgramModel *m, int k, const kdl_Array *x,
                       const char *path, long long *n) {
    size_t count = kdl_array_count(x);
    int64_t per = m->input_sizes[k];
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
            if (f[i] != (float)(int32_t)f[i]) {
                free(ids);
                return fail(prog, "%s: %s", path, "the model takes integer ids; found a fraction"),
                       0;
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

#define MAX_INPUTS 8

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
    kdl_Array xs[MAX_INPUTS] = {{0}};
    long long n = -1;
    int ok_in = 1;
    for (int k = 0; k < ninput && ok_in; k++) {
        kdl_Status st = ends_with(input[k], ".csv")
                            ? kdl_csv_load(input[k], &xs[k], err, sizeof err)
                            : kdl_npy_load(input[k], &xs[k], err, sizeof err);
        long long nk;
        if (st != KDL_OK) {
            fail(prog, "%s%s", err, "");
            ok_in = 0;
        } else if (!check_input(prog, m, k, &xs[k], input[k], &nk)) {
            ok_in = 0;
        } else if (n >= 0 && nk != n) {
            fail(prog, "%s: has a different number of samples than %s", input[k], input[0]);
            ok_in = 0;
        } else {
            n = nk;
        }
    }
    if (!ok_in) {
        for (int k = 0; k < ninput; k++)
            kdl_array_free(&xs[k]);
        return 1;
    }
    int max_batch = (int)(batch_size < n ? batch_size : n);
    void *model = m->create(max_batch);
    kdl_Status st = KDL_OK;
    if (!model) {
        for (int k = 0; k < ninput; k++)
            kdl_array_free(&xs[k]);
        return fail(prog, "%s%s", "out of memory creating the model", "");
    }
    st = m->load(model, weights, err, sizeof err);
    if (st != KDL_OK) {
        m->destroy(model);
        for (int k = 0; k < ninput; k++)
            kdl_array_free(&xs[k]);
        return fail(prog, "%s%s", err, "");
    }
    int no = m->noutputs;
    kdl_Array *ys = calloc((size_t)no, sizeof(kdl_Array));
    float **outs = calloc((size_t)no, sizeof(float *));
    int ok = ys && outs;
    for (int k = 0; ok && k < no; k++) {
        ys[k].dtype = KDL_F32;
        ys[k].rank = m->output_ranks[k];
        ys[k].shape[0] = n;
        for (int d = 1; d < ys[k].rank; d++)
            ys[k].shape[d] = m->output_shapes[k][d];
        ys[k].data = malloc(sizeof(float) * (size_t)n * (size_t)m->output_sizes[k] + 1);
        ok = ys[k].data != NULL;
    }
    for (long long i = 0; ok && i < n; i += max_batch) {
        int b = (int)(n - i < max_batch ? n - i : max_batch);
        const void *in[MAX_INPUTS];
        for (int k = 0; k < ninput; k++) {
            size_t esize = m->input_dtypes[k] == KDL_I32 ? sizeof(int32_t) : sizeof(float);
            in[k] = (const char *)xs[k].data + (size_t)i * (size_t)m->input_sizes[k] * esize;
        }
        for (int k = 0; k < no; k++)
            outs[k] = (float *)ys[k].data + (size_t)i * (size_t)m->output_sizes[k];
        st = m->predict(model, b, in, outs);
        if (st != KDL_OK) {
            fail(prog, "predict failed: %s%s", kdl_status_str(st),
                 st == KDL_ERR_INDEX ? " (an Embedding id is out of range)" : "");
            ok = 0;
        }
    }
    int rc = ok ? 0 : 1;
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
                for (int64_t j = 0; j < m->output_sizes[k]; j++)
                    printf("%.9g%c", y[(size_t)r * (size_t)m->output_sizes[k] + (size_t)j],
                           j + 1 < m->output_sizes[k] ? ',' : '\n');
            st = fflush(stdout) == 0 ? KDL_OK : KDL_ERR_IO;
            snprintf(err, sizeof err, "cannot write the output: %s", strerror(errno));
        } else if (ends_with(path, ".csv")) {
            st = kdl_csv_save(path, &(kdl_Array){KDL_F32, 2, {n, m->output_sizes[k]}, ys[k].data},
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
    for (int k = 0; ys && k < no; k++)
        free(ys[k].data);
    free(ys);
    free(outs);
    m->destroy(model);
    for (int k = 0; k < ninput; k++)
        kdl_array_free(&xs[k]);
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

int kdl_program_main(int argc, char **argv, const kdl_ProgramModel *models, int nmodels) {
    const char *prog = argc > 0 ? argv[0] : "kdl-model";
    const char *slash = strrchr(prog, '/');
    prog = slash ? slash + 1 : prog;
    if (argc < 2)
        return usage(prog, "missing command");
    const char *cmd = argv[1], *model_name = NULL, *weights = NULL, *output = NULL;
    const char *inputs[MAX_INPUTS];
    int ninputs = 0;
    long long seed = -1, batch = 256;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) {
            model_name = v;
        } else if (!strcmp(a, "--weights") && v) {
            weights = v;
        } else if (!strcmp(a, "--input") && v) {
            if (ninputs == MAX_INPUTS)
                return usage(prog, "too many --input files");
            inputs[ninputs++] = v;
        } else if ((!strcmp(a, "--output") || !strcmp(a, "-o")) && v) {
            output = v;
        } else if (!strcmp(a, "--seed") && v) {
            if (!parse_long(v, 0, (long long)1 << 62, &seed))
                return usage(prog, "--seed needs a non-negative integer");
        } else if (!strcmp(a, "--batch-size") && v) {
            if (!parse_long(v, 1, 1 << 20, &batch))
                return usage(prog, "--batch-size needs a positive integer");
        } else {
            return usage(prog, "unknown or incomplete option");
        }
        i++;
    }
    const kdl_ProgramModel *m = pick(models, nmodels, model_name);
    if (!m) {
        fprintf(stderr, "%s: error: no model named '%s'; models:", prog, model_name);
        for (int i = 0; i < nmodels; i++)
            fprintf(stderr, " %s", models[i].name);
        fputc('\n', stderr);
        return 1;
    }
    if (!strcmp(cmd, "summary")) {
        fputs(m->summary, stdout);
        return 0;
    }
    if (!strcmp(cmd, "layers"))
        return cmd_layers(prog, m);
    if (!strcmp(cmd, "init"))
        return cmd_init(prog, m, seed, output);
    if (!strcmp(cmd, "predict"))
        return cmd_predict(prog, m, weights, inputs, ninputs, output, batch);
    return usage(prog, "unknown command");
}
