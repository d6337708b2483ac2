/*
 * test_train.c - kdl_fit / kdl_evaluate (runtime/train.c) and the fit /
 * evaluate commands of the generated program (runtime/program.c), driven by
 * a hand-written kdl_TrainModel: linear regression pred = x . w + b with SGD
 * in its train_step, metrics "mae" and "acc" (|error| < 0.5), and a second
 * input of int32 sample ids it records, so the tests see exactly which
 * samples each step got. Checked: batching (every sample once per epoch, the
 * last batch smaller), shuffling (reproducible per seed, different across
 * epochs, the same epoch order when resumed), no shuffling, the validation
 * split (the last samples) and validation data, the running means, the
 * history CSV, checkpoints (when, and complete files only), NaN and step
 * failures, the callback stop, error messages, and the progress output
 * into a file (stderr dup2'ed): Keras's final lines, no '\r'.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];     // the mkdtemp directory

static const char *tpath(char buf[512], const char *name) {
    snprintf(buf, 512, "%s/%s", g_dir, name);
    return buf;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    size_t k;
    while (s && (k = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n < 2)
            s = realloc(s, cap *= 2);
    }
    fclose(f);
    if (s)
        s[n] = '\0';
    return s;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

// '*' matches any run of characters within a line.
static int glob(const char *p, const char *s) {
    if (!*p)
        return !*s;
    if (*p == '*') {
        for (;; s++) {
            if (glob(p + 1, s))
                return 1;
            if (!*s || *s == '\n')
                return 0;
        }
    }
    return *p == *s && glob(p + 1, s + 1);
}

static void check_glob(const char *what, const char *pattern, const char *text) {
    int ok = text && glob(pattern, text);
    if (!ok)
        printf("FAIL %s: got\n%s\nwant\n%s\n", what, text ? text : "(null)", pattern);
    check_true(what, ok);
}

static void check_str(const char *what, const char *got, const char *want) {
    int ok = got && !strcmp(got, want);
    if (!ok)
        printf("FAIL %s: got\n%s\nwant\n%s\n", what, got ? got : "(null)", want);
    check_true(what, ok);
}

// No "<file>.tmp.<pid>" left behind in the test directory.
static int no_temp_files(void) {
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int ok = 1;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            ok = 0;
    if (d)
        closedir(d);
    return ok;
}

// Redirect stdout (1) or stderr (2) into a file; cap_end returns its text.
typedef struct {
    int fd, saved;
    char path[512];
} Capture;

static void cap_start(Capture *c, int fd, const char *name) {
    fflush(stdout);
    fflush(stderr);
    c->fd = fd;
    tpath(c->path, name);
    int f = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    c->saved = dup(fd);
    if (f < 0 || c->saved < 0 || dup2(f, fd) < 0) {
        fprintf(stderr, "cannot redirect\n");
        exit(2);
    }
    close(f);
}

static char *cap_end(Capture *c) {
    fflush(stdout);
    fflush(stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    return read_text(c->path);
}

// ---- the model -----------------------------------------------------------------------

#define MAX_SEEN 4096

typedef struct {
    int max_batch;
    float w[2], b, lr;
    int64_t iterations;
    int nan_at, inf_at, numeric_at, index_at;   // train step (1-based) that misbehaves
    int train_steps, test_steps, saves;
    int ids[MAX_SEEN], nids;        // samples seen by the steps, in order
    char kinds[MAX_SEEN];           // 't' train step, 'v' test step
    int sizes[MAX_SEEN], nsizes;    // train batch sizes
    uint64_t seeds[64];
    int nseeds;
} Lin;

static const int64_t lin_in_sizes[] = {2, 1};
static const kdl_DType lin_in_dtypes[] = {KDL_F32, KDL_I32};
static const int64_t lin_target_sizes[] = {1};
static const char *const lin_metrics[] = {"mae", "acc"};
static const char *const lin_metrics_custom[] = {"mae", "my_metric"};

static void lin_batch(Lin *m, int batch, const void *const in[], const float *const tg[],
                      kdl_StepResult *r, char kind, int update) {
    const float *x = in[0], *y = tg[0];
    const int32_t *id = in[1];
    double loss = 0, mae = 0, acc = 0, g0 = 0, g1 = 0, gb = 0;
    for (int k = 0; k < batch; k++) {
        if (m->nids < MAX_SEEN) {
            m->kinds[m->nids] = kind;
            m->ids[m->nids++] = id[k];
        }
        double e = (double)x[2 * k] * m->w[0] + (double)x[2 * k + 1] * m->w[1] + m->b - y[k];
        loss += e * e;
        mae += fabs(e);
        acc += fabs(e) < 0.5;
        g0 += 2 * e * x[2 * k];
        g1 += 2 * e * x[2 * k + 1];
        gb += 2 * e;
    }
    r->loss = loss / batch;
    r->metric_sums[0] = mae;
    r->metric_sums[1] = acc;
    if (update) {
        m->w[0] -= (float)(m->lr * g0 / batch);
        m->w[1] -= (float)(m->lr * g1 / batch);
        m->b -= (float)(m->lr * gb / batch);
    }
}

static kdl_Status lin_train_step(void *mp, int batch, const void *const in[],
                                 const float *const tg[], kdl_StepResult *r) {
    Lin *m = mp;
    int step = ++m->train_steps;
    if (m->nsizes < MAX_SEEN)
        m->sizes[m->nsizes++] = batch;
    if (batch < 1 || batch > m->max_batch)
        return KDL_ERR_SHAPE;
    if (step == m->nan_at) {
        r->loss = NAN;
        return KDL_OK;
    }
    if (step == m->inf_at) {
        r->loss = -INFINITY;
        return KDL_OK;
    }
    if (step == m->numeric_at)
        return KDL_ERR_NUMERIC;     // as the generated step: no update, r->loss not set
    if (step == m->index_at)
        return KDL_ERR_INDEX;
    lin_batch(m, batch, in, tg, r, 't', 1);
    m->iterations++;
    return KDL_OK;
}

static kdl_Status lin_test_step(void *mp, int batch, const void *const in[],
                                const float *const tg[], kdl_StepResult *r) {
    Lin *m = mp;
    m->test_steps++;
    if (batch < 1 || batch > m->max_batch)
        return KDL_ERR_SHAPE;
    lin_batch(m, batch, in, tg, r, 'v', 0);
    return KDL_OK;
}

static void lin_specs(kdl_WeightSpec s[2], const Lin *m) {
    s[0] = (kdl_WeightSpec){"lin/w", 1, {2}, (float *)m->w};
    s[1] = (kdl_WeightSpec){"lin/b", 1, {1}, (float *)&m->b};
}

static kdl_Status lin_save_weights(const void *mp, const char *path, char *err,
                                   size_t errlen) {
    Lin *m = (Lin *)mp;     // the test's models are never const objects
    kdl_WeightSpec s[2];
    lin_specs(s, m);
    m->saves++;
    return kdl_safetensors_save(path, s, 2, NULL, err, errlen);
}

// fit's checkpoints: the weights (this model's optimizer has no state).
static kdl_Status lin_save(const void *mp, const char *path, int epoch, char *err,
                           size_t errlen) {
    (void)epoch;
    return lin_save_weights(mp, path, err, errlen);
}

static kdl_Status lin_load(void *mp, const char *path, char *err, size_t errlen) {
    kdl_WeightSpec s[2];
    lin_specs(s, mp);
    return kdl_safetensors_load(path, s, 2, err, errlen);
}

static void lin_seed(void *mp, uint64_t seed) {
    Lin *m = mp;
    if (m->nseeds < 64)
        m->seeds[m->nseeds++] = seed;
}

static Lin *lin_new(int max_batch) {
    Lin *m = calloc(1, sizeof *m);
    if (m)
        m->max_batch = max_batch;
    return m;
}

static kdl_TrainModel lin_model(Lin *m) {
    return (kdl_TrainModel){
        .model = m,
        .max_batch = m->max_batch,
        .ninputs = 2,
        .ntargets = 1,
        .input_sizes = lin_in_sizes,
        .input_dtypes = lin_in_dtypes,
        .target_sizes = lin_target_sizes,
        .nmetrics = 2,
        .metric_names = lin_metrics,
        .train_step = lin_train_step,
        .test_step = lin_test_step,
        .save = lin_save,
        .seed = lin_seed,
        .iterations = &m->iterations,
    };
}

// ---- data ----------------------------------------------------------------------------

// n samples with ids first_id.. : x = 0 and y = id ("sums"), or a noiseless
// regression y = 2 x0 - 3 x1 + 0.5 with x uniform in [-1, 1).
typedef struct {
    kdl_Array x[2], y[1];
} Data;

static void data_make(Data *d, int n, int first_id, int regression) {
    float *x = check_alloc((size_t)n * 2), *y = check_alloc((size_t)n);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    for (int s = 0; s < n; s++) {
        ids[s] = first_id + s;
        if (regression) {
            x[2 * s] = check_uniform(-1, 1);
            x[2 * s + 1] = check_uniform(-1, 1);
            y[s] = 2 * x[2 * s] - 3 * x[2 * s + 1] + 0.5f;
        } else {
            y[s] = (float)(first_id + s);
        }
    }
    d->x[0] = (kdl_Array){KDL_F32, 2, {n, 2}, x};
    d->x[1] = (kdl_Array){KDL_I32, 2, {n, 1}, ids};
    d->y[0] = (kdl_Array){KDL_F32, 1, {n}, y};
}

static void data_free(Data *d) {
    kdl_array_free(&d->x[0]);
    kdl_array_free(&d->x[1]);
    kdl_array_free(&d->y[0]);
}

static kdl_FitOptions options(int epochs, int batch) {
    return (kdl_FitOptions){.epochs = epochs, .batch_size = batch, .shuffle = 1, .seed = 7};
}

// The ids the train steps saw in epoch e (n per epoch), as a string "3,1,...".
static void epoch_ids(const Lin *m, int e, int n, char *buf, size_t len) {
    size_t k = 0;
    int seen = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->nids && k < len; i++) {
        if (m->kinds[i] != 't')
            continue;
        if (seen / n == e)
            k += (size_t)snprintf(buf + k, len - k, "%s%d", k ? "," : "", m->ids[i]);
        seen++;
    }
}

// Every id of [lo, hi) exactly once among the train ids of epoch e.
static int is_permutation(const Lin *m, int e, int n, int lo, int hi) {
    int count[256] = {0}, seen = 0;
    for (int i = 0; i < m->nids; i++) {
        if (m->kinds[i] != 't')
            continue;
        if (seen++ / n != e)
            continue;
        if (m->ids[i] < lo || m->ids[i] >= hi)
            return 0;
        count[m->ids[i] - lo]++;
    }
    for (int i = 0; i < hi - lo; i++)
        if (count[i] != 1)
            return 0;
    return 1;
}

// ---- kdl_fit ---------------------------------------------------------------------------

static void test_batching(void) {
    Data d;
    data_make(&d, 10, 0, 0);
    Lin *m = lin_new(4);
    kdl_TrainModel t = lin_model(m);
    kdl_FitOptions o = options(3, 4);
    char err[256];
    kdl_Status st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_true("batching: fit ok", st == KDL_OK);
    int want_sizes[] = {4, 4, 2, 4, 4, 2, 4, 4, 2};
    check_true("batching: 3 steps per epoch, the last of 2 samples",
               m->nsizes == 9 && !memcmp(m->sizes, want_sizes, sizeof want_sizes));
    for (int e = 0; e < 3; e++)
        check_true("batching: every sample once per epoch", is_permutation(m, e, 10, 0, 10));
    char e0[128], e1[128], e2[128];
    epoch_ids(m, 0, 10, e0, sizeof e0);
    epoch_ids(m, 1, 10, e1, sizeof e1);
    epoch_ids(m, 2, 10, e2, sizeof e2);
    check_true("shuffle: epochs differ", strcmp(e0, e1) && strcmp(e1, e2));
    check_true("shuffle: shuffled", strcmp(e0, "0,1,2,3,4,5,6,7,8,9") != 0);
    check_true("fit: iterations counted by the step", m->iterations == 9);
    check_true("fit: the model's generator seeded every epoch, differently",
               m->nseeds == 3 && m->seeds[0] != m->seeds[1] && m->seeds[1] != m->seeds[2]);

    // Same seed: the same orders; another seed: others.
    Lin *m2 = lin_new(4);
    t = lin_model(m2);
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    char f0[128];
    epoch_ids(m2, 0, 10, f0, sizeof f0);
    check_true("shuffle: reproducible per seed",
               m2->nids == m->nids && !memcmp(m2->ids, m->ids, sizeof(int) * (size_t)m->nids));
    Lin *m3 = lin_new(4);
    t = lin_model(m3);
    o.seed = 8;
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    epoch_ids(m3, 0, 10, f0, sizeof f0);
    check_true("shuffle: another seed, another order", strcmp(f0, e0) != 0);

    // Resuming at epoch 2 shuffles epoch 2 as the whole run did.
    Lin *m4 = lin_new(4);
    t = lin_model(m4);
    o.seed = 7;
    o.initial_epoch = 2;
    kdl_Logs last;
    st = kdl_fit(&t, d.x, d.y, &o, &last, err, sizeof err);
    epoch_ids(m4, 0, 10, f0, sizeof f0);
    check_str("resume: epoch 3's order", f0, e2);
    check_true("resume: one epoch, logged as epoch 2", st == KDL_OK && last.epoch == 2);
    check_true("resume: fit leaves the optimizer's count to the model", m4->iterations == 3);

    // No shuffling: in order every epoch.
    Lin *m5 = lin_new(4);
    t = lin_model(m5);
    o = options(2, 4);
    o.shuffle = 0;
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    epoch_ids(m5, 0, 10, e0, sizeof e0);
    epoch_ids(m5, 1, 10, e1, sizeof e1);
    check_str("no shuffle: epoch 1", e0, "0,1,2,3,4,5,6,7,8,9");
    check_str("no shuffle: epoch 2", e1, "0,1,2,3,4,5,6,7,8,9");

    // A batch larger than the data: one batch per epoch.
    Lin *m6 = lin_new(64);
    t = lin_model(m6);
    o = options(1, 64);
    st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_true("one batch of all 10", st == KDL_OK && m6->nsizes == 1 && m6->sizes[0] == 10);
    free(m);
    free(m2);
    free(m3);
    free(m4);
    free(m5);
    free(m6);
    data_free(&d);
}

static void test_validation(void) {
    Data d, v;
    data_make(&d, 10, 0, 0);
    data_make(&v, 5, 100, 0);
    Lin *m = lin_new(4);
    kdl_TrainModel t = lin_model(m);
    kdl_FitOptions o = options(2, 4);
    o.validation_split = 0.3;     // split_at = floor(10 * 0.7) = 7
    kdl_Logs last;
    char err[256];
    kdl_Status st = kdl_fit(&t, d.x, d.y, &o, &last, err, sizeof err);
    check_true("split: fit ok", st == KDL_OK);
    check_true("split: training on the first 7 (epoch 1)", is_permutation(m, 0, 7, 0, 7));
    check_true("split: training on the first 7 (epoch 2)", is_permutation(m, 1, 7, 0, 7));
    char val[256] = "";
    size_t k = 0;
    for (int i = 0; i < m->nids; i++)
        if (m->kinds[i] == 'v')
            k += (size_t)snprintf(val + k, sizeof val - k, "%s%d", k ? "," : "", m->ids[i]);
    check_str("split: validating on the last 3, in order, every epoch", val, "7,8,9,7,8,9");
    // lr = 0 and w = b = 0: the loss is mean(id^2), mae mean(id), acc the share of id 0.
    check_true("split: logs", last.n == 6 && last.epoch == 1);
    double want[] = {91.0 / 7, 3, 1.0 / 7, 194.0 / 3, 8, 0};
    const char *names[] = {"loss", "mae", "acc", "val_loss", "val_mae", "val_acc"};
    for (int i = 0; i < 6 && i < last.n; i++) {
        check_true("split: log value", fabs(last.values[i] - want[i]) < 1e-12);
        check_str("split: log name", last.names[i], names[i]);
    }

    // validation data overrides the split
    Lin *m2 = lin_new(4);
    t = lin_model(m2);
    o.val_x = v.x;
    o.val_y = v.y;
    st = kdl_fit(&t, d.x, d.y, &o, &last, err, sizeof err);
    k = 0;
    val[0] = '\0';
    for (int i = 0; i < m2->nids; i++)
        if (m2->kinds[i] == 'v')
            k += (size_t)snprintf(val + k, sizeof val - k, "%s%d", k ? "," : "", m2->ids[i]);
    check_str("validation data: its samples", val,
              "100,101,102,103,104,100,101,102,103,104");
    check_true("validation data: all 10 for training", is_permutation(m2, 0, 10, 0, 10));
    check_true("validation data: val_loss", st == KDL_OK &&
               fabs(last.values[3] - (1e4 + 101 * 101 + 102 * 102 + 103 * 103 + 104 * 104) / 5.0)
                   < 1e-9);

    // Splits leaving no training or no validation samples.
    Lin *m3 = lin_new(4);
    t = lin_model(m3);
    o = options(1, 4);
    o.validation_split = 0.95;
    st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_str("split 0.95 of 10", err,
              "validation_split 0.95 of 10 samples leaves 0 for training and 10 for "
              "validation; both need at least one");
    o.validation_split = 1e-17;     // 1 - 1e-17 == 1 in double: no validation sample
    st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_true("split 1e-17 of 10: an error", st == KDL_ERR_SHAPE && strstr(err, "leaves 10"));
    o.validation_split = 1;
    st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_str("split 1", err, "validation_split must be in [0, 1), not 1");
    check_true("bad splits: no step ran", m3->train_steps == 0);
    free(m);
    free(m2);
    free(m3);
    data_free(&d);
    data_free(&v);
}

static void test_means(void) {
    // Batches of 4, 4, 2: the loss mean weighted by batch size is 28.5; the
    // mean of the batch means would be 35.83.
    Data d;
    data_make(&d, 10, 0, 0);
    Lin *m = lin_new(4);
    kdl_TrainModel t = lin_model(m);
    kdl_FitOptions o = options(1, 4);
    kdl_Logs last;
    char err[256];
    kdl_Status st = kdl_fit(&t, d.x, d.y, &o, &last, err, sizeof err);
    check_true("means: fit", st == KDL_OK && last.n == 3 && last.epoch == 0);
    check_true("means: loss weighted by batch size", fabs(last.values[0] - 28.5) < 1e-12);
    check_true("means: mae = sum / samples", fabs(last.values[1] - 4.5) < 1e-12);
    check_true("means: acc = sum / samples", fabs(last.values[2] - 0.1) < 1e-12);

    // evaluate: test steps only, in order
    Lin *m2 = lin_new(4);
    t = lin_model(m2);
    kdl_Logs ev;
    st = kdl_evaluate(&t, d.x, d.y, 4, 0, &ev, err, sizeof err);
    check_true("evaluate: ok", st == KDL_OK && ev.n == 3);
    check_true("evaluate: loss, mae, acc",
               fabs(ev.values[0] - 28.5) < 1e-12 && fabs(ev.values[1] - 4.5) < 1e-12 &&
                   fabs(ev.values[2] - 0.1) < 1e-12);
    check_true("evaluate: names", !strcmp(ev.names[0], "loss") && !strcmp(ev.names[1], "mae") &&
                                      !strcmp(ev.names[2], "acc"));
    int in_order = m2->train_steps == 0 && m2->test_steps == 3 && m2->nids == 10;
    for (int i = 0; i < m2->nids; i++)
        in_order &= m2->ids[i] == i && m2->kinds[i] == 'v';
    check_true("evaluate: every sample in order, inference steps only", in_order);
    st = kdl_evaluate(&t, d.x, d.y, 5, 0, &ev, err, sizeof err);
    check_str("evaluate: batch above max_batch", err,
              "batch_size 5 is outside 1..4 (the model was created for batches of at most 4 "
              "samples)");

    // The regression is learnt.
    Data r;
    data_make(&r, 64, 0, 1);
    Lin *m3 = lin_new(8);
    m3->lr = 0.1f;
    t = lin_model(m3);
    o = options(60, 8);
    st = kdl_fit(&t, r.x, r.y, &o, &last, err, sizeof err);
    check_true("regression: converges", st == KDL_OK && last.values[0] < 1e-6 &&
                                            fabs(m3->w[0] - 2) < 1e-3 &&
                                            fabs(m3->w[1] + 3) < 1e-3 && fabs(m3->b - 0.5) < 1e-3);
    free(m);
    free(m2);
    free(m3);
    data_free(&d);
    data_free(&r);
}

// on_epoch_end: stop after epoch `stop_at`, check the checkpoint each time
// one was written, and keep the names the callback saw.
typedef struct {
    Lin *m;
    const char *checkpoint;
    int stop_at, saves_seen, checked, bad, calls;
    char names[512];
} Watch;

static int watch(const kdl_Logs *logs, void *user) {
    Watch *w = user;
    w->calls++;
    size_t k = 0;
    for (int i = 0; i < logs->n; i++)
        k += (size_t)snprintf(w->names + k, sizeof w->names - k, "%s%s", i ? "," : "",
                              logs->names[i]);
    if (w->checkpoint && w->m->saves > w->saves_seen) {
        // Complete, and the weights of now: the file was renamed into place.
        float wv[2] = {-1, -1}, b = -1;
        kdl_WeightSpec s[2] = {{"lin/w", 1, {2}, wv}, {"lin/b", 1, {1}, &b}};
        kdl_Status st = kdl_safetensors_load(w->checkpoint, s, 2, NULL, 0);
        if (st != KDL_OK || wv[0] != w->m->w[0] || wv[1] != w->m->w[1] || b != w->m->b ||
            !no_temp_files())
            w->bad++;
        w->checked++;
        w->saves_seen = w->m->saves;
    }
    return logs->epoch == w->stop_at;
}

static void test_history_checkpoints(void) {
    char hist[512], ckpt[512];
    tpath(hist, "history.csv");
    tpath(ckpt, "ckpt.safetensors");
    Data d;
    data_make(&d, 10, 0, 0);
    Lin *m = lin_new(4);
    kdl_TrainModel t = lin_model(m);
    kdl_FitOptions o = options(2, 4);
    o.validation_split = 0.3;
    o.history_csv = hist;
    char err[256];
    kdl_Status st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    char *text = read_text(hist);
    // Columns sorted by name, as Keras's CSVLogger.
    check_str("history: header and rows", text,
              "epoch,acc,loss,mae,val_acc,val_loss,val_mae\n"
              "0,0.14285714285714285,13.0,3.0,0.0,64.66666666666667,8.0\n"
              "1,0.14285714285714285,13.0,3.0,0.0,64.66666666666667,8.0\n");
    check_true("history: fit ok, no temporary file", st == KDL_OK && no_temp_files());
    free(text);

    // Every 2 epochs of 5, and at the end: after epochs 2, 4 and 5.
    Lin *m2 = lin_new(4);
    m2->lr = 0.001f;
    t = lin_model(m2);
    o = options(5, 4);
    o.checkpoint = ckpt;
    o.checkpoint_every = 2;
    Watch w = {.m = m2, .checkpoint = ckpt, .stop_at = -1};
    o.on_epoch_end = watch;
    o.user = &w;
    st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_true("checkpoint every 2 of 5: 3 saves", st == KDL_OK && m2->saves == 3);
    check_true("checkpoint: complete files, current weights", w.checked == 2 && w.bad == 0);
    check_true("checkpoint: the end", lin_load(&(Lin){0}, ckpt, NULL, 0) == KDL_OK);
    Lin *m3 = lin_new(4);
    t = lin_model(m3);
    o.checkpoint_every = 1;
    o.epochs = 3;
    w = (Watch){.m = m3, .checkpoint = ckpt, .stop_at = -1};
    st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_true("checkpoint every epoch: not twice at the end", m3->saves == 3 && w.bad == 0);
    Lin *m4 = lin_new(4);
    t = lin_model(m4);
    o.checkpoint_every = 0;
    o.on_epoch_end = NULL;
    st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_true("checkpoint_every 0: once at the end", m4->saves == 1);

    // The callback stops training after epoch 1 (0-based): two epochs ran,
    // the end checkpoint is written, *last is epoch 1.
    Lin *m5 = lin_new(4);
    t = lin_model(m5);
    t.metric_names = lin_metrics_custom;
    o = options(10, 4);
    o.validation_split = 0.3;
    o.checkpoint = ckpt;
    o.history_csv = hist;
    w = (Watch){.m = m5, .checkpoint = NULL, .stop_at = 1};
    o.on_epoch_end = watch;
    o.user = &w;
    kdl_Logs last;
    st = kdl_fit(&t, d.x, d.y, &o, &last, err, sizeof err);
    check_true("callback stop: after 2 epochs", st == KDL_OK && w.calls == 2 &&
                                                    m5->train_steps == 4 && m5->saves == 1);
    check_true("callback stop: last logs", last.epoch == 1 && last.n == 6);
    check_str("callback: names", w.names, "loss,mae,my_metric,val_loss,val_mae,val_my_metric");
    check_true("last: names kept (a custom metric keeps its own name)",
               !strcmp(last.names[4], "val_mae") && !strcmp(last.names[5], "my_metric"));
    text = read_text(hist);
    check_true("callback stop: 2 history rows",
               text && glob("epoch,loss,mae,my_metric,val_loss,val_mae,val_my_metric\n0,*\n1,*\n",
                            text));
    free(text);
    free(m);
    free(m2);
    free(m3);
    free(m4);
    free(m5);
    data_free(&d);
}

static void test_nan(void) {
    char hist[512], ckpt[512];
    tpath(hist, "nan_history.csv");
    tpath(ckpt, "nan.safetensors");
    Data d;
    data_make(&d, 10, 0, 0);
    const char *what[] = {"nan", "-inf", "not a finite number"};
    for (int c = 0; c < 3; c++) {
        Lin *m = lin_new(4);
        // Step 5 = epoch 2, step 2 (3 steps per epoch).
        if (c == 0)
            m->nan_at = 5;
        else if (c == 1)
            m->inf_at = 5;
        else
            m->numeric_at = 5;
        kdl_TrainModel t = lin_model(m);
        kdl_FitOptions o = options(4, 4);
        o.checkpoint = ckpt;
        o.checkpoint_every = 1;
        o.history_csv = hist;
        kdl_Logs last;
        char err[256], want[256];
        remove(ckpt);
        kdl_Status st = kdl_fit(&t, d.x, d.y, &o, &last, err, sizeof err);
        snprintf(want, sizeof want,
                 "epoch 2, step 2: the loss is %s; training stopped (the last checkpoint, if "
                 "any, has the last good weights)",
                 what[c]);
        check_true("nan: KDL_ERR_NUMERIC", st == KDL_ERR_NUMERIC);
        check_str("nan: message", err, want);
        check_true("nan: stopped at once, no checkpoint after it",
                   m->train_steps == 5 && m->saves == 1);
        check_true("nan: last = epoch 0", last.epoch == 0 && last.n == 3);
        char *text = read_text(hist);
        check_true("nan: one history row", text && glob("epoch,acc,loss,mae\n0,*\n", text));
        free(text);
        free(m);
    }
    // A step failing otherwise: its status and the place.
    Lin *m = lin_new(4);
    m->index_at = 2;
    kdl_TrainModel t = lin_model(m);
    kdl_FitOptions o = options(1, 4);
    char err[256];
    kdl_Status st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_true("step failure: status", st == KDL_ERR_INDEX);
    check_str("step failure: message", err,
              "epoch 1, step 2: the training step failed: a label or an Embedding id is out "
              "of range");
    free(m);
    data_free(&d);
}

static void test_errors(void) {
    Data d, v;
    data_make(&d, 10, 0, 0);
    data_make(&v, 5, 0, 0);
    Lin *m = lin_new(4);
    kdl_TrainModel t = lin_model(m);
    kdl_FitOptions o = options(1, 4);
    char err[256];
    kdl_Array x[2], y[1];

    memcpy(x, d.x, sizeof x);
    memcpy(y, d.y, sizeof y);
    x[1].shape[0] = 9;
    kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    check_str("error: sample counts", err, "x[1] has 9 samples but x[0] has 10");
    memcpy(x, d.x, sizeof x);
    y[0].shape[0] = 5;
    y[0].rank = 2;
    y[0].shape[1] = 2;
    kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    check_str("error: target samples", err, "y[0] has 5 samples but x[0] has 10");
    y[0] = (kdl_Array){KDL_F32, 2, {10, 2}, d.y[0].data};
    kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    check_str("error: per-sample size", err,
              "y[0]: the model takes 1 values per sample; the array has shape (10, 2)");
    memcpy(y, d.y, sizeof y);
    x[0] = (kdl_Array){KDL_F32, 1, {10}, d.x[0].data};
    kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    check_str("error: input size", err,
              "x[0]: the model takes 2 values per sample; the array has shape (10,)");
    memcpy(x, d.x, sizeof x);
    x[0].rank = 0;
    kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    check_str("error: rank 0", err, "x[0]: an array of samples needs 1 to 8 axes, not 0");

    // float ids: exact integers only
    float fid[10] = {0, 1, 2.5f, 3, 4, 5, 6, 7, 8, 9};
    memcpy(x, d.x, sizeof x);
    x[1] = (kdl_Array){KDL_F32, 2, {10, 1}, fid};
    kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    check_str("error: fractional id", err,
              "x[1]: the model's input 1 takes integer ids; sample 2 holds 2.5");
    fid[2] = 2;
    m->nids = 0;
    kdl_Status st = kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    int ok = st == KDL_OK && m->nids == 10;
    o.shuffle = 0;
    int32_t fx[20];
    for (int i = 0; i < 20; i++)
        fx[i] = 0;
    x[0] = (kdl_Array){KDL_I32, 2, {10, 2}, fx};     // int32 features: converted to float
    m->nids = 0;
    st = kdl_fit(&t, x, y, &o, NULL, err, sizeof err);
    for (int i = 0; ok && i < 10; i++)
        ok = m->ids[i] == i;
    check_true("float ids and int32 features converted", ok && st == KDL_OK);

    // Options
    o = options(1, 0);
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_str("error: batch 0", err,
              "batch_size 0 is outside 1..4 (the model was created for batches of at most 4 "
              "samples)");
    o = options(1, 4);
    o.val_x = v.x;
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_str("error: val_x without val_y", err, "validation data needs both val_x and val_y");
    o.val_y = v.y;
    memcpy(x, v.x, sizeof x);
    x[1].shape[0] = 4;
    o.val_x = x;
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_str("error: val_x names", err, "val_x[1] has 4 samples but val_x[0] has 5");
    o = options(1, 4);
    o.verbose = 3;
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_str("error: verbose", err, "verbose must be 0, 1 or 2, not 3");
    o = options(1, 4);
    o.checkpoint = "x.safetensors";
    t.save = NULL;
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    check_str("error: no save", err, "the model cannot save checkpoints");
    check_true("errors: no step ran but in the two good fits", m->train_steps == 6);
    free(m);
    data_free(&d);
    data_free(&v);
}

// ---- progress output -------------------------------------------------------------------

#define BAR1 "\xe2\x94\x81"
#define BAR5 BAR1 BAR1 BAR1 BAR1 BAR1
#define BAR20 BAR5 BAR5 BAR5 BAR5

static void test_progress(void) {
    Data d;
    data_make(&d, 10, 0, 0);
    Lin *m = lin_new(4);
    kdl_TrainModel t = lin_model(m);
    kdl_FitOptions o = options(2, 4);
    o.validation_split = 0.3;
    o.verbose = 1;
    char err[256];
    Capture c;
    cap_start(&c, 2, "progress1.txt");
    kdl_Status st = kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    char *text = cap_end(&c);
    // Keras 3 shows the logs sorted by name, validation logs after the others.
    const char *line = "2/2 " BAR20 " *s *s/step - acc: 0.1429 - loss: 13.0000 - mae: 3.0000 - "
                       "val_acc: 0.0000e+00 - val_loss: 64.6667 - val_mae: 8.0000\n";
    char want[1024];
    snprintf(want, sizeof want, "Epoch 1/2\n%sEpoch 2/2\n%s", line, line);
    check_true("progress v1: fit ok", st == KDL_OK);
    check_glob("progress v1: final lines only, into a file", want, text);
    check_true("progress v1: no carriage return or escape", text && !strchr(text, '\r') &&
                                                                !strchr(text, '\x1b'));
    free(text);

    o.verbose = 2;
    cap_start(&c, 2, "progress2.txt");
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    text = cap_end(&c);
    line = "2/2 - *s - *s/step - acc: 0.1429 - loss: 13.0000 - mae: 3.0000 - "
           "val_acc: 0.0000e+00 - val_loss: 64.6667 - val_mae: 8.0000\n";
    snprintf(want, sizeof want, "Epoch 1/2\n%sEpoch 2/2\n%s", line, line);
    check_glob("progress v2: a line per epoch", want, text);
    free(text);

    // One epoch: no "Epoch 1/1" (Keras prints it only when epochs > 1).
    o = options(1, 4);
    o.verbose = 1;
    cap_start(&c, 2, "progress3.txt");
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    text = cap_end(&c);
    check_glob("progress: one epoch",
               "3/3 " BAR20 " *s *s/step - acc: 0.1000 - loss: 28.5000 - mae: 4.5000\n", text);
    free(text);

    // evaluate: one line
    cap_start(&c, 2, "progress4.txt");
    kdl_Logs ev;
    kdl_evaluate(&t, d.x, d.y, 4, 1, &ev, err, sizeof err);
    text = cap_end(&c);
    check_glob("progress: evaluate",
               "3/3 " BAR20 " *s *s/step - acc: 0.1000 - loss: 28.5000 - mae: 4.5000\n", text);
    free(text);
    cap_start(&c, 2, "progress5.txt");
    o.verbose = 0;
    kdl_fit(&t, d.x, d.y, &o, NULL, err, sizeof err);
    kdl_evaluate(&t, d.x, d.y, 4, 0, &ev, err, sizeof err);
    text = cap_end(&c);
    check_str("progress: verbose 0 is silent", text, "");
    free(text);
    free(m);
    data_free(&d);
}

// ---- the generated program's fit / evaluate --------------------------------------------

static void *prog_create(int max_batch) {
    return lin_new(max_batch);
}

static void prog_destroy(void *m) {
    free(m);
}

static kdl_Status prog_init(void *mp, uint64_t seed) {
    Lin *m = mp;
    (void)seed;
    m->w[0] = m->w[1] = m->b = 0;
    return KDL_OK;
}

static kdl_Status prog_predict(void *mp, int batch, const void *const in[], float *const out[]) {
    Lin *m = mp;
    const float *x = in[0];
    for (int k = 0; k < batch; k++)
        out[0][k] = x[2 * k] * m->w[0] + x[2 * k + 1] * m->w[1] + m->b;
    return KDL_OK;
}

static kdl_Status prog_get_layer(void *m, const char *name, int index, kdl_Layer *out) {
    (void)m, (void)name, (void)index, (void)out;
    return KDL_ERR_NOT_FOUND;
}

static kdl_Status prog_summary(const kdl_SummaryOptions *o, kdl_PrintFn print_fn, void *user,
                               char *err, size_t errlen) {
    (void)o, (void)err, (void)errlen;
    print_fn("a linear model\n", user);
    return KDL_OK;
}

static void prog_train_model(void *m, kdl_TrainModel *out) {
    *out = lin_model(m);
}

static const int64_t prog_out_sizes[] = {1};
static const int prog_out_ranks[] = {2};
static const int64_t prog_out_shapes[][8] = {{0, 1}};

static const kdl_ProgramModel prog_models[] = {
    {.name = "lin", .keras_name = "linear", .create = prog_create, .destroy = prog_destroy,
     .init = prog_init, .load = lin_load, .save = lin_save_weights, .predict = prog_predict,
     .ninputs = 2, .noutputs = 1, .input_sizes = lin_in_sizes, .input_dtypes = lin_in_dtypes,
     .output_sizes = prog_out_sizes, .output_ranks = prog_out_ranks,
     .output_shapes = prog_out_shapes, .summary = prog_summary, .nlayers = 0,
     .get_layer = prog_get_layer, .create_training = prog_create,
     .train_model = prog_train_model, .fit_epochs = 0, .fit_batch_size = 4,
     .fit_validation_split = 0, .fit_shuffle = 1},
    {.name = "frozen", .keras_name = "frozen", .create = prog_create, .destroy = prog_destroy,
     .init = prog_init, .load = lin_load, .save = lin_save_weights, .predict = prog_predict,
     .ninputs = 2, .noutputs = 1, .input_sizes = lin_in_sizes, .input_dtypes = lin_in_dtypes,
     .output_sizes = prog_out_sizes, .output_ranks = prog_out_ranks,
     .output_shapes = prog_out_shapes, .summary = prog_summary, .nlayers = 0,
     .get_layer = prog_get_layer},
};

// Run the program with a command line of up to 32 words (NULL-terminated);
// *out / *errs get its stdout and stderr.
static int run_prog(char **out, char **errs, const char *const *words) {
    char *argv[33];
    int argc = 0;
    argv[argc++] = "lin_prog";
    for (; words[argc - 1] && argc < 32; argc++)
        argv[argc] = (char *)words[argc - 1];
    argv[argc] = NULL;
    Capture co, ce;
    cap_start(&co, 1, "prog_stdout.txt");
    cap_start(&ce, 2, "prog_stderr.txt");
    int rc = kdl_program_main(argc, argv, prog_models, 2);
    *errs = cap_end(&ce);
    *out = cap_end(&co);
    return rc;
}

static void test_program(void) {
    char csv[512], bad[512], xcsv[512], idcsv[512], ycsv[512], w[512], hist[512], wrong[512];
    tpath(csv, "train.csv");
    tpath(bad, "bad.csv");
    tpath(xcsv, "x.csv");
    tpath(idcsv, "ids.csv");
    tpath(ycsv, "y.csv");
    tpath(w, "prog.safetensors");
    tpath(hist, "prog_history.csv");
    tpath(wrong, "wrong.csv");
    // 10 samples: x0, x1 (0), the id, then the target y = id.
    char text[1024] = "x0,x1,id,y\n", xt[512] = "", it[512] = "", yt[512] = "";
    for (int s = 0; s < 10; s++) {
        size_t k = strlen(text);
        snprintf(text + k, sizeof text - k, "0,0,%d,%d\n", s, s);
        k = strlen(xt);
        snprintf(xt + k, sizeof xt - k, "0,0\n");
        k = strlen(it);
        snprintf(it + k, sizeof it - k, "%d\n", s);
        k = strlen(yt);
        snprintf(yt + k, sizeof yt - k, "%d\n", s);
    }
    write_text(csv, text);
    write_text(xcsv, xt);
    write_text(idcsv, it);
    write_text(ycsv, yt);
    write_text(bad, "0,0,1\n1,1,2\n");
    write_text(wrong, "0,0,0.5,1\n");
    char *out, *errs;

    int rc = run_prog(&out, &errs,
                      (const char *const[]){"fit", "--data", csv, "--epochs", "3", "--no-shuffle",
                                            "--verbose", "0", "-o", w, "--history", hist, NULL});
    check_true("program fit: exit 0, nothing on stderr", rc == 0 && errs && !errs[0]);
    check_str("program fit: final logs on stdout", out,
              "loss: 28.5000 - mae: 4.5000 - acc: 0.1000\n");
    char *h = read_text(hist);
    check_true("program fit: history of 3 epochs",
               h && glob("epoch,acc,loss,mae\n0,0.1,28.5,4.5\n1,*\n2,*\n", h));
    check_true("program fit: weights written",
               lin_load(&(Lin){0}, w, NULL, 0) == KDL_OK && no_temp_files());
    free(h);
    free(out);
    free(errs);

    rc = run_prog(&out, &errs,
                  (const char *const[]){"fit", "--x", xcsv, "--x", idcsv, "--y", ycsv,
                                        "--validation-split", "0.3", "--verbose", "2",
                                        "--weights", w, "--initial-epoch", "1", "--epochs", "2",
                                        "-o", w, NULL});
    check_true("program fit --x --y: exit 0", rc == 0);
    check_str("program fit: logs with validation", out,
              "loss: 13.0000 - mae: 3.0000 - acc: 0.1429 - val_loss: 64.6667 - val_mae: 8.0000 - "
              "val_acc: 0.0000e+00\n");
    check_glob("program fit: verbose 2 progress on stderr",
               "Epoch 2/2\n2/2 - *s - *s/step - acc: 0.1429 - loss: 13.0000 - mae: 3.0000 - "
               "val_acc: 0.0000e+00 - val_loss: 64.6667 - val_mae: 8.0000\n",
               errs);
    free(out);
    free(errs);

    rc = run_prog(&out, &errs,
                  (const char *const[]){"fit", "--data", csv, "--validation-data", csv,
                                        "--verbose", "0", "-o", w, NULL});
    check_str("program fit --validation-data", out,
              "loss: 28.5000 - mae: 4.5000 - acc: 0.1000 - val_loss: 28.5000 - val_mae: 4.5000 - "
              "val_acc: 0.1000\n");
    free(out);
    free(errs);

    rc = run_prog(&out, &errs,
                  (const char *const[]){"evaluate", "--weights", w, "--data", csv,
                                        "--batch-size", "3", NULL});
    check_true("program evaluate: exit 0", rc == 0);
    check_str("program evaluate: stdout", out, "loss: 28.5000 - mae: 4.5000 - acc: 0.1000\n");
    check_glob("program evaluate: progress",
               "4/4 " BAR20 " *s *s/step - acc: 0.1000 - loss: 28.5000 - mae: 4.5000\n", errs);
    free(out);
    free(errs);

    // Errors: one line, exit 1 (2 for the command line).
    struct {
        const char *words[16];
        int rc;
        const char *err;
    } cases[] = {
        {{"fit", "--model", "frozen", "--data", csv, "-o", w},
         1,
         "lin_prog: error: model 'frozen' was not compiled for training (the .kdl file needs "
         "compile() with a loss)\n"},
        {{"fit", "--data", bad, "-o", w},
         1,
         "lin_prog: error: *bad.csv: 3 values per row; the model takes 4: 3 input values, then 1 "
         "target values in the last columns\n"},
        {{"fit", "--data", wrong, "-o", w},
         1,
         "lin_prog: error: *wrong.csv: the model takes integer ids; found a fraction\n"},
        {{"fit", "--x", xcsv, "--y", ycsv, "-o", w},
         1,
         "lin_prog: error: the model takes 2 inputs and 1 targets (one --x / --y file each, or "
         "--val-x / --val-y); 1 and 1 were given\n"},
        {{"fit", "--x", ycsv, "--x", idcsv, "--y", ycsv, "-o", w},
         1,
         "lin_prog: error: *y.csv: the input does not fit the model, which takes 2 values per "
         "sample\n"},
        {{"fit", "--data", csv, "--validation-split", "0.95", "--verbose", "0", "-o", w},
         1,
         "lin_prog: error: validation_split 0.95 of 10 samples leaves 0 for training and 10 "
         "for validation; both need at least one\n"},
        {{"fit", "--data", csv},
         2,
         "lin_prog: error: fit needs -o FILE for the trained weights\n*"},
        {{"fit", "-o", w}, 2, "lin_prog: error: fit and evaluate need --data FILE or --x FILE ..*"},
        {{"fit", "--data", csv, "--x", xcsv, "-o", w},
         2,
         "lin_prog: error: --data and --x / --y exclude each other\n*"},
        {{"fit", "--x", xcsv, "-o", w}, 2, "lin_prog: error: the data needs both --x and --y\n*"},
        {{"fit", "--data", csv, "--validation-split", "1", "-o", w},
         2,
         "lin_prog: error: --validation-split needs a number in [0, 1)\n*"},
        {{"fit", "--data", csv, "--verbose", "3", "-o", w},
         2,
         "lin_prog: error: --verbose needs 0, 1 or 2\n*"},
        {{"fit", "--data", csv, "--epochs", "0", "-o", w},
         2,
         "lin_prog: error: --epochs needs a positive integer\n*"},
        {{"evaluate", "--data", csv}, 2, "lin_prog: error: evaluate needs --weights\n*"},
        {{"evaluate", "--weights", hist, "--data", csv},
         1,
         "lin_prog: error: *prog_history.csv: *\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rc = run_prog(&out, &errs, cases[i].words);
        char what[64];
        snprintf(what, sizeof what, "program error %zu: exit status", i);
        check_true(what, rc == cases[i].rc);
        snprintf(what, sizeof what, "program error %zu: message", i);
        size_t len = strlen(cases[i].err);
        if (cases[i].rc == 2) {
            // usage errors: the message, then the usage text
            size_t k = len - 1;     // the pattern ends with '*'
            int ok = errs && !strncmp(errs, cases[i].err, k) && strstr(errs, "usage: lin_prog");
            if (!ok)
                printf("FAIL %s: got\n%s\n", what, errs ? errs : "(null)");
            check_true(what, ok);
        } else {
            check_glob(what, cases[i].err, errs);
        }
        check_true("program errors: nothing on stdout", out && !out[0]);
        free(out);
        free(errs);
    }
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/kdl_test_train.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_batching();
    test_validation();
    test_means();
    test_history_checkpoints();
    test_nan();
    test_errors();
    test_progress();
    test_program();
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            remove(tpath(p, e->d_name));
    if (d)
        closedir(d);
    rmdir(g_dir);
    return check_report();
}
