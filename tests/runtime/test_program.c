/*
 * test_program.c - the generated program's command line (runtime/program.c)
 * on stub models, for what kdlc cannot (yet) generate or what needs the
 * data the model sees checked:
 *
 *  - many inputs and outputs: predict takes one --input per input, fit and
 *    evaluate one --x / --y per input / output or a --data CSV split into
 *    them, for any count (these were fixed arrays of 8);
 *  - a model with a zero-size output (no values per sample) used as a
 *    training target is a clear error, not a division by zero.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "kdl.h"

#define N 10        // inputs and outputs of the stub model (more than the old limit of 8)
#define ROWS 3

static char dir[64];

// ---- a stub model: N inputs and N outputs of one value per sample -----------------------

static int64_t sizes[N], zero_sizes[1];
static kdl_DType dtypes[N];
static int ranks[N];
static const int64_t shapes[N][8] = {{-1, 1}, {-1, 1}, {-1, 1}, {-1, 1}, {-1, 1},
                                     {-1, 1}, {-1, 1}, {-1, 1}, {-1, 1}, {-1, 1}};
static const char *no_metrics[1];

typedef struct {
    int max_batch;
    int64_t target_sizes[N];
    int ntargets;
} Stub;

// What the steps saw: the sum of input N-1 and of target N-1 over all steps.
static double seen_x_last, seen_y_last, seen_x_first;
static int steps;

static void *stub_create(int max_batch) {
    Stub *s = calloc(1, sizeof *s);
    if (s)
        s->max_batch = max_batch;
    return s;
}
static void stub_destroy(void *m) { free(m); }
static kdl_Status stub_init(void *m, uint64_t seed) { return KDL_OK; }
static kdl_Status stub_load(void *m, const char *path, char *err, size_t errlen) { return KDL_OK; }
static kdl_Status stub_save(const void *m, const char *path, char *err, size_t errlen) {
    return KDL_OK;
}
// Output k = 2 * input k.
static kdl_Status stub_predict(void *m, int batch, const void *const inputs[],
                               float *const outputs[]) {
    for (int k = 0; k < N; k++)
        for (int i = 0; i < batch; i++)
            outputs[k][i] = 2 * ((const float *)inputs[k])[i];
    return KDL_OK;
}
static kdl_Status stub_summary(const kdl_SummaryOptions *o, kdl_PrintFn print_fn, void *user,
                               char *err, size_t errlen) {
    return KDL_OK;
}
static kdl_Status stub_get_layer(void *m, const char *name, int index, kdl_Layer *out) {
    return KDL_ERR_INDEX;
}
static kdl_Status stub_step(void *m, int batch, const void *const inputs[],
                            const float *const targets[], kdl_StepResult *r) {
    const Stub *s = m;
    for (int i = 0; i < batch; i++) {
        seen_x_first += ((const float *)inputs[0])[i];
        seen_x_last += ((const float *)inputs[N - 1])[i];
        if (s->ntargets == N)
            seen_y_last += targets[N - 1][i];
    }
    steps++;
    memset(r, 0, sizeof *r);
    r->loss = 0.5 * batch;
    return KDL_OK;
}
static kdl_Status stub_ckpt_save(const void *m, const char *path, int epoch, char *err,
                                 size_t errlen) {
    return KDL_OK;
}
static int64_t iterations;
static void stub_train_model(void *m, kdl_TrainModel *t) {
    Stub *s = m;
    *t = (kdl_TrainModel){
        .model = m, .max_batch = s->max_batch, .ninputs = N, .ntargets = N,
        .input_sizes = sizes, .input_dtypes = dtypes, .target_sizes = sizes,
        .nmetrics = 0, .metric_names = no_metrics, .train_step = stub_step,
        .test_step = stub_step, .save = stub_ckpt_save, .iterations = &iterations,
    };
    s->ntargets = N;
}
// The same model with one output of shape (None, 0): no values per sample.
static void stub_train_model_zero(void *m, kdl_TrainModel *t) {
    stub_train_model(m, t);
    t->ninputs = 1;
    t->ntargets = 1;
    t->target_sizes = zero_sizes;
    ((Stub *)m)->ntargets = 1;
}

static kdl_ProgramModel model(void (*train_model)(void *, kdl_TrainModel *), int n) {
    return (kdl_ProgramModel){
        .name = "stub", .keras_name = "stub", .create = stub_create, .destroy = stub_destroy,
        .init = stub_init, .load = stub_load, .save = stub_save, .predict = stub_predict,
        .ninputs = n, .noutputs = n, .input_sizes = sizes, .input_dtypes = dtypes,
        .output_sizes = sizes, .output_ranks = ranks, .output_shapes = shapes,
        .summary = stub_summary, .nlayers = 0, .get_layer = stub_get_layer,
        .create_training = stub_create, .train_model = train_model, .fit_shuffle = 0,
        .input_ranks = ranks, .input_shapes = shapes,
    };
}

// ---- helpers --------------------------------------------------------------------------------

static const char *path(const char *name) {
    static char buf[8][128];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(2);
    }
}

// Run the program's command line: argv is NULL-terminated.
static int run(const kdl_ProgramModel *m, const char **argv) {
    int argc = 0;
    while (argv[argc])
        argc++;
    return kdl_program_main(argc, (char **)argv, m, 1);
}

static double read_first(const char *p) {
    FILE *f = fopen(p, "r");
    double v = -1;
    if (!f || fscanf(f, "%lf", &v) != 1)
        v = -1;
    if (f)
        fclose(f);
    return v;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/kdl_test_program.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    for (int k = 0; k < N; k++) {
        sizes[k] = 1;
        dtypes[k] = KDL_F32;
        ranks[k] = 2;
    }
    kdl_ProgramModel many = model(stub_train_model, N);

    // predict with N --input files: input k holds k+1, k+2, k+3.
    const char *argv[4 * N + 16];
    int a = 0;
    argv[a++] = "prog";
    argv[a++] = "predict";
    argv[a++] = "--weights";
    argv[a++] = path("w.safetensors");
    for (int k = 0; k < N; k++) {
        char name[32], text[64];
        snprintf(name, sizeof name, "in%d.csv", k);
        snprintf(text, sizeof text, "%d\n%d\n%d\n", k + 1, k + 2, k + 3);
        write_file(path(name), text);
        argv[a++] = "--input";
        argv[a++] = strdup(path(name));
    }
    argv[a++] = "--output";
    argv[a++] = path("y.csv");
    argv[a] = NULL;
    check_true("predict with 10 inputs succeeds", run(&many, argv) == 0);
    check_true("predict: output 9 is 2 * input 9", read_first(path("y.9.csv")) == 2.0 * N);
    check_true("predict: output 0 is 2 * input 0", read_first(path("y.0.csv")) == 2.0);

    // fit --data: a CSV of N input columns then N target columns.
    char csv[1024] = "";
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < 2 * N; c++)
            snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d%c", 100 * r + c,
                     c + 1 < 2 * N ? ',' : '\n');
    write_file(path("data.csv"), csv);
    seen_x_first = seen_x_last = seen_y_last = 0;
    steps = 0;
    check_true("fit --data with 10 inputs and 10 targets succeeds",
               run(&many, (const char *[]){"prog", "fit", "--data", path("data.csv"), "--verbose",
                                           "0", "-o", path("t.safetensors"), NULL}) == 0);
    // Column 0: 0 + 100 + 200; column 9: 9 + 109 + 209; column 19: 19 + 119 + 219.
    check_true("fit --data: input 0 is column 0", steps == 1 && seen_x_first == 300);
    check_true("fit --data: input 9 is column 9", seen_x_last == 327);
    check_true("fit --data: target 9 is the last column", seen_y_last == 357);
    check_true("evaluate --data with 10 inputs and 10 targets succeeds",
               run(&many, (const char *[]){"prog", "evaluate", "--data", path("data.csv"),
                                           "--weights", path("t.safetensors"), "--verbose", "0",
                                           NULL}) == 0);

    // fit --x .. --y ..: N files each (the --input files above, as inputs
    // and as targets).
    const char *files[N];
    for (int k = 0; k < N; k++)
        files[k] = argv[5 + 2 * k];
    const char *fargv[4 * N + 16];
    int b = 0;
    fargv[b++] = "prog";
    fargv[b++] = "fit";
    for (int k = 0; k < N; k++) {
        fargv[b++] = "--x";
        fargv[b++] = files[k];
    }
    for (int k = 0; k < N; k++) {
        fargv[b++] = "--y";
        fargv[b++] = files[k];
    }
    fargv[b++] = "--verbose";
    fargv[b++] = "0";
    fargv[b++] = "-o";
    fargv[b++] = path("t2.safetensors");
    fargv[b] = NULL;
    seen_x_last = seen_y_last = 0;
    check_true("fit --x/--y with 10 files each succeeds", run(&many, fargv) == 0);
    check_true("fit --x/--y: input 9 and target 9", seen_x_last == 33 && seen_y_last == 33);

    // A zero-size target: an error, not a division by zero.
    kdl_ProgramModel zero = model(stub_train_model_zero, 1);
    check_true("fit with a zero-size target fails cleanly",
               run(&zero, (const char *[]){"prog", "fit", "--x", files[0], "--y", files[1],
                                           "--verbose", "0", "-o", path("z.safetensors"),
                                           NULL}) == 1);
    check_true("fit --data with a zero-size target fails cleanly",
               run(&zero, (const char *[]){"prog", "fit", "--data", files[0], "--verbose", "0",
                                           "-o", path("z.safetensors"), NULL}) == 1);
    check_true("evaluate with a zero-size target fails cleanly",
               run(&zero, (const char *[]){"prog", "evaluate", "--x", files[0], "--y", files[1],
                                           "--weights", path("z.safetensors"), NULL}) == 1);

    for (int k = 0; k < N; k++)
        free((char *)files[k]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_report();
}
