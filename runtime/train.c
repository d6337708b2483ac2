/*
 * train.c - Keras's fit and evaluate over in-memory arrays, driving a
 * generated model through its kdl_TrainModel (train_step / test_step run one
 * batch; the model owns forward, loss, backward and the optimizer).
 *
 * fit, as Keras 3's Trainer.fit with arrays: validation_split keeps the LAST
 * samples for validation, taken before shuffling (split_at = floor(n * (1 -
 * split)), an error when either side would be empty); val_x / val_y
 * override it. Every epoch visits each training sample once, in batches of
 * batch_size (the last one smaller), in an order shuffled by Fisher-Yates
 * from a generator seeded by (seed, epoch) - so a run resumed at
 * initial_epoch shuffles as the uninterrupted run did. The model's own
 * generator (Dropout, RandomCrop) is reseeded the same way every epoch.
 * Running means as Keras's metrics: the loss weighted by batch size, each
 * metric its sum over the samples seen divided by their number (its square
 * root for RootMeanSquaredError; a keras.losses object used as a metric is
 * the mean of its per-step values, as Keras's MeanMetricWrapper of a Loss).
 *
 * Contracts with the model: train_step advances *iterations (it owns the
 * optimizer's state); fit never touches it, so resuming from weights alone
 * starts a fresh optimizer whose step count matches its zeroed slots (a
 * count of initial_epoch * steps with zero Adam moments would take steps
 * several times too large), and resuming from a checkpoint (kdl_checkpoint_load)
 * restores both. Checkpoints record the epochs done. A train_step returning
 * KDL_ERR_NUMERIC (a loss it refused to apply) stops training like a
 * non-finite r->loss. Batches are gathered into buffers allocated once per
 * call, converting float ids to int32 (checked exact up front) and int32
 * arrays to float where the model's dtypes say so.
 *
 * Progress goes to stderr in the format of Keras's Progbar / ProgbarLogger
 * (width 20, "Epoch 3/20" when epochs > 1, logs sorted by name as Keras 3
 * shows them, validation logs after the training ones): on a terminal the
 * line is redrawn in place at most every 50 ms, with Keras's colours; into a
 * file or pipe only each epoch's final line is written, as plain text.
 */
#define _POSIX_C_SOURCE 200809L

#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NLOGS (2 * KDL_MAX_LOGS + 2)
#define BAR_WIDTH 20            // Keras's Progbar default
#define REDRAW_SECONDS 0.05     // Progbar's interval

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// A seed for one epoch's generator: splitmix64's finalizer over (seed,
// epoch, stream), so streams and epochs never share a sequence.
static uint64_t epoch_seed(uint64_t seed, int epoch, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (2 * (uint64_t)(uint32_t)epoch + stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [0, bound), without modulo bias (rejection of the short tail).
static uint64_t rng_below(kdl_Rng *r, uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound, x;
    do
        x = kdl_rng_next(r);
    while (x < threshold);
    return x % bound;
}

// ---- data ------------------------------------------------------------------------------

// The run-time dimensions of a data set (a model with None input
// dimensions: from the arrays' shapes) and the values per sample they give.
typedef struct {
    int *dims;                  // ndims, or NULL (a static model)
    const int64_t *in, *tg;     // ninputs / ntargets values per sample
    int64_t *own;               // the allocation behind dims, in and tg
} Sizes;

static void sizes_free(Sizes *s) {
    free(s->own);
    *s = (Sizes){NULL, NULL, NULL, NULL};
}

// Samples [first, first + n) of the arrays x[ninputs] and y[ntargets], of
// the sizes sz.
typedef struct {
    const kdl_Array *x, *y;
    int64_t first, n;
    const Sizes *sz;
} View;

static void shape_str(char *buf, size_t len, const kdl_Array *a) {
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < a->rank && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? ", %lld" : "%lld", (long long)a->shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, a->rank == 1 ? ",)" : ")");
}

// Check one array of samples: at least one axis, the same number of
// samples as the others (*n, or sets it when < 0), `per` values each.
static kdl_Status check_array(const kdl_Array *a, const char *name, int k, int64_t per,
                              int64_t *n, const char *first_name, char *err, size_t errlen) {
    char shape[160];
    if (a->rank < 1 || a->rank > 8)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                    "%s[%d]: an array of samples needs 1 to 8 axes, not %d", name, k, a->rank);
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] < 0)
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s[%d]: negative dimension", name, k);
    shape_str(shape, sizeof shape, a);
    int64_t ns = a->shape[0];
    if (ns == 0)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s[%d] has no samples (shape %s)", name, k,
                    shape);
    if (*n >= 0 && ns != *n)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s[%d] has %lld samples but %s[0] has %lld",
                    name, k, (long long)ns, first_name, (long long)*n);
    size_t count = kdl_array_count(a);
    if (count % (size_t)ns != 0 || count / (size_t)ns != (size_t)per)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                    "%s[%d]: the model takes %lld values per sample; the array has shape %s",
                    name, k, (long long)per, shape);
    if (a->dtype != KDL_F32 && a->dtype != KDL_I32)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s[%d]: unknown dtype %d", name, k,
                    (int)a->dtype);
    if (!a->data)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s[%d]: no data", name, k);
    *n = ns;
    return KDL_OK;
}

// A shape with None for -1, as Python prints it: "(None, None, 3)".
static void want_str(char *buf, size_t len, const int64_t *shape, int rank) {
    size_t k = (size_t)snprintf(buf, len, "(None");
    for (int d = 1; d < rank && k < len; d++)
        k += (size_t)(shape[d] < 0 ? snprintf(buf + k, len - k, ", None")
                                   : snprintf(buf + k, len - k, ", %lld", (long long)shape[d]));
    if (k < len)
        snprintf(buf + k, len - k, rank == 1 ? ",)" : ")");
}

// The sizes of data x for model t: its own, or with None input dimensions
// those the arrays' shapes give (each array of the input's rank, its known
// axes the model's), checked by the model (t->sizes).
static kdl_Status data_sizes(const kdl_TrainModel *t, const kdl_Array *x, const char *xname,
                             Sizes *sz, char *err, size_t errlen) {
    *sz = (Sizes){NULL, t->input_sizes, t->target_sizes, NULL};
    if (t->ndims <= 0)
        return KDL_OK;
    size_t n = (size_t)t->ndims + (size_t)t->ninputs + (size_t)t->ntargets + 1;
    sz->own = calloc(n, sizeof(int64_t));
    if (!sz->own)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "out of memory");
    int64_t *in = sz->own, *tg = in + t->ninputs;
    sz->dims = (int *)(void *)(tg + t->ntargets);   // ndims ints fit in ndims int64s
    sz->in = in;
    sz->tg = tg;
    for (int i = 0, j = 0; i < t->ninputs; i++) {
        const kdl_Array *a = &x[i];
        const int64_t *want = t->input_shapes[i];
        int rank = t->input_ranks[i], ok = a->rank == rank;
        for (int d = 1; ok && d < rank; d++)
            ok = want[d] >= 0 ? a->shape[d] == want[d]
                              : a->shape[d] >= 1 && a->shape[d] <= (1 << 24);
        if (!ok) {
            char got[160], ws[160];
            shape_str(got, sizeof got, a);
            want_str(ws, sizeof ws, want, rank);
            sizes_free(sz);
            return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                            "%s[%d] has shape %s; the model takes %s (samples of the input's "
                            "rank: its None dimensions come from the data)", xname, i, got, ws);
        }
        for (int d = 1; d < rank; d++)
            if (want[d] < 0 && j < t->ndims)
                sz->dims[j++] = (int)a->shape[d];
    }
    char why[400] = "";
    if (t->sizes(sz->dims, in, tg, why, sizeof why) != KDL_OK) {
        sizes_free(sz);
        return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                        "%s: the arrays' shapes do not fit the model: %s", xname, why);
    }
    return KDL_OK;
}

// x[ninputs] against the model's inputs and y[ntargets] against its
// targets; *n receives the number of samples, *sz the sizes (sizes_free).
// Names ("x", "y" or "val_x", "val_y") go into the messages.
static kdl_Status check_data(const kdl_TrainModel *t, const kdl_Array *x, const kdl_Array *y,
                             const char *xname, const char *yname, int64_t *n, Sizes *sz,
                             char *err, size_t errlen) {
    *sz = (Sizes){NULL, NULL, NULL, NULL};
    if (!x)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "no %s arrays given", xname);
    if (t->ntargets > 0 && !y)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "no %s arrays given", yname);
    for (int i = 0; i < t->ninputs; i++)
        if (x[i].rank < 1 || x[i].rank > 8)
            return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                            "%s[%d]: an array of samples needs 1 to 8 axes, not %d", xname, i,
                            x[i].rank);
    kdl_Status st = data_sizes(t, x, xname, sz, err, errlen);
    if (st != KDL_OK)
        return st;
    st = KDL_ERR_SHAPE;
    *n = -1;
    for (int i = 0; i < t->ninputs; i++) {
        const kdl_Array *a = &x[i];
        st = check_array(a, xname, i, sz->in[i], n, xname, err, errlen);
        if (st != KDL_OK)
            break;
        if (t->input_dtypes[i] != KDL_I32 || a->dtype != KDL_F32)
            continue;
        // Embedding ids given as floats: every one must be an exact int32.
        const float *f = a->data;
        size_t count = kdl_array_count(a);
        for (size_t j = 0; j < count && st == KDL_OK; j++)
            if (!(f[j] >= -2147483648.0f && f[j] < 2147483648.0f && f[j] == floorf(f[j])))
                st = kdl_fail(err, errlen, KDL_ERR_SHAPE,
                              "%s[%d]: the model's input %d takes integer ids; sample %lld "
                              "holds %g",
                              xname, i, i, (long long)(j / (size_t)sz->in[i]), (double)f[j]);
        if (st != KDL_OK)
            break;
    }
    for (int j = 0; j < t->ntargets && st == KDL_OK; j++)
        st = check_array(&y[j], yname, j, sz->tg[j], n, xname, err, errlen);
    if (st != KDL_OK)
        sizes_free(sz);
    return st;
}

// One batch of inputs and targets, gathered from a View.
typedef struct {
    void **in;          // ninputs buffers of batch * input_sizes[i] floats or int32s
    float **tg;         // ntargets buffers
} Batch;

static void batch_free(Batch *b, const kdl_TrainModel *t) {
    for (int i = 0; b->in && i < t->ninputs; i++)
        free(b->in[i]);
    for (int j = 0; b->tg && j < t->ntargets; j++)
        free(b->tg[j]);
    free(b->in);
    free(b->tg);
    b->in = NULL;
    b->tg = NULL;
}

static void *alloc_samples(int batch, int64_t per) {
    if (per <= 0 || (uint64_t)per > SIZE_MAX / 4 / (uint64_t)batch)
        return NULL;
    return malloc((size_t)batch * (size_t)per * 4);
}

// Buffers for batches of the sizes of data sets a and b (b may be NULL).
static kdl_Status batch_alloc(Batch *bt, const kdl_TrainModel *t, int batch, const Sizes *a,
                              const Sizes *b, char *err, size_t errlen) {
    bt->in = calloc((size_t)t->ninputs + 1, sizeof(void *));
    bt->tg = calloc((size_t)t->ntargets + 1, sizeof(float *));
    int ok = bt->in && bt->tg;
    for (int i = 0; ok && i < t->ninputs; i++)
        ok = (bt->in[i] = alloc_samples(batch, b && b->in[i] > a->in[i] ? b->in[i] : a->in[i])) !=
             NULL;
    for (int j = 0; ok && j < t->ntargets; j++)
        ok = (bt->tg[j] = alloc_samples(batch, b && b->tg[j] > a->tg[j] ? b->tg[j] : a->tg[j])) !=
             NULL;
    if (ok)
        return KDL_OK;
    batch_free(bt, t);
    return kdl_fail(err, errlen, KDL_ERR_NOMEM, "out of memory for batches of %d samples", batch);
}

// Copy `count` values, converting between float and int32 (both 4 bytes).
static void copy_values(void *dst, kdl_DType dt, const void *src, kdl_DType st, size_t count) {
    if (dt == st) {
        memcpy(dst, src, count * 4);
    } else if (dt == KDL_I32) {
        const float *s = src;
        int32_t *d = dst;
        for (size_t i = 0; i < count; i++)
            d[i] = (int32_t)s[i];   // exact: checked by check_data
    } else {
        const int32_t *s = src;
        float *d = dst;
        for (size_t i = 0; i < count; i++)
            d[i] = (float)s[i];
    }
}

// Samples idx[start + k] (or start + k when idx is NULL), k < b, of v.
static void gather(Batch *bt, const kdl_TrainModel *t, const View *v, const int64_t *idx,
                   int64_t start, int b) {
    for (int k = 0; k < b; k++) {
        int64_t s = v->first + (idx ? idx[start + k] : start + k);
        for (int i = 0; i < t->ninputs; i++) {
            size_t per = (size_t)v->sz->in[i];
            copy_values((char *)bt->in[i] + (size_t)k * per * 4, t->input_dtypes[i],
                        (const char *)v->x[i].data + (size_t)s * per * 4, v->x[i].dtype, per);
        }
        for (int j = 0; j < t->ntargets; j++) {
            size_t per = (size_t)v->sz->tg[j];
            copy_values(bt->tg[j] + (size_t)k * per, KDL_F32,
                        (const char *)v->y[j].data + (size_t)s * per * 4, v->y[j].dtype, per);
        }
    }
}

// ---- progress (Keras's Progbar) --------------------------------------------------------

typedef struct {
    char s[4096];
    size_t n;
} Line;

PRINTF_LIKE(2, 3)
static void put(Line *l, const char *fmt, ...) {
    if (l->n + 1 >= sizeof l->s)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        l->n += (size_t)k < sizeof l->s - l->n ? (size_t)k : sizeof l->s - l->n - 1;
}

// Columns the line takes on a terminal: escape sequences take none, a
// UTF-8 character one.
static size_t visible_width(const Line *l) {
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        unsigned char c = (unsigned char)l->s[i];
        if (c == 0x1b) {
            while (i < l->n && l->s[i] != 'm')
                i++;
        } else if ((c & 0xC0) != 0x80) {
            w++;
        }
    }
    return w;
}

// A log value as Progbar shows it: 4 decimals, or 4 significant digits in
// e-notation when small (verbose 2 tests avg > 1e-3, verbose 1 |avg|).
static void put_value(Line *l, double v, int verbose) {
    if (isnan(v))
        put(l, " nan");
    else if (verbose == 2 ? v > 1e-3 : fabs(v) > 1e-3)
        put(l, " %.4f", v);
    else
        put(l, " %.4e", v);
}

// Progbar's time per step: " 2ms/step" (s when >= 1 or exactly 0, us below 1 ms).
static void put_step_time(Line *l, double tpu) {
    if (tpu >= 1 || tpu == 0)
        put(l, " %.0fs/step", tpu);
    else if (tpu >= 1e-3)
        put(l, " %.0fms/step", tpu * 1e3);
    else
        put(l, " %.0fus/step", tpu * 1e6);
}

typedef struct {
    int verbose;            // 0 silent, 1 bar, 2 one line when finished
    int tty;                // stderr is a terminal: redraw in place, colours
    int64_t target;         // steps
    double start, last_draw, after_first;   // after_first < 0 until step 1 is done
    size_t prev_width;
    int open;               // a redrawn line is on screen without its newline
} Progbar;

static void progbar_start(Progbar *p, int verbose, int tty, int64_t target) {
    *p = (Progbar){.verbose = verbose, .tty = tty, .target = target, .start = now_seconds(),
                   .last_draw = -1e300, .after_first = -1};
}

// Progbar._estimate_step_duration: the first step (compilation, warm-up)
// is left out once there are others.
static double step_time(Progbar *p, int64_t current, double now) {
    if (current <= 0)
        return 0;
    double tpu = p->after_first >= 0 && current > 1
                     ? (now - p->after_first) / (double)(current - 1)
                     : (now - p->start) / (double)current;
    if (current == 1)
        p->after_first = now;
    return tpu;
}

// Show `current` of target steps with logs values in the order `order`
// (nshow of them). finalize: the epoch's (or evaluation's) last line.
static void progbar_update(Progbar *p, int64_t current, const kdl_Logs *logs, const int *order,
                           int nshow, int finalize) {
    if (!p->verbose)
        return;
    double now = now_seconds(), tpu = step_time(p, current, now);
    int digits = 1;
    for (int64_t t = p->target; t >= 10; t /= 10)
        digits++;
    Line l = {.n = 0};
    if (p->verbose == 2) {
        if (!finalize)
            return;
        put(&l, "%*lld/%lld - %.0fs -", digits, (long long)current, (long long)p->target,
            now - p->start);
        put_step_time(&l, tpu);
        for (int i = 0; i < nshow; i++) {
            put(&l, " - %s:", logs->names[order[i]]);
            put_value(&l, logs->values[order[i]], 2);
        }
        fprintf(stderr, "%.*s\n", (int)l.n, l.s);
        fflush(stderr);
        return;
    }
    if (!finalize && (!p->tty || now - p->last_draw < REDRAW_SECONDS))
        return;
    int c = p->tty;     // Keras's bold count and time, green done / white to do
    put(&l, c ? "\x1b[1m%*lld/%lld\x1b[0m " : "%*lld/%lld ", digits, (long long)current,
        (long long)p->target);
    int done = (int)(BAR_WIDTH * ((double)current / (double)p->target));
    done = done < 0 ? 0 : done > BAR_WIDTH ? BAR_WIDTH : done;
    if (done > 0 && c)
        put(&l, "\x1b[32m");
    for (int i = 0; i < done; i++)
        put(&l, "\xe2\x94\x81");
    if (c)
        put(&l, done > 0 ? "\x1b[0m\x1b[37m" : "\x1b[37m");
    for (int i = done; i < BAR_WIDTH; i++)
        put(&l, "\xe2\x94\x81");
    put(&l, c ? "\x1b[0m \x1b[1m" : " ");
    if (finalize) {
        put(&l, "%.0fs", now - p->start);
    } else {
        // ETA as Progbar: h:mm:ss over an hour, m:ss over a minute, else seconds.
        double eta = tpu * (double)(p->target - current);
        long long e = (long long)(eta < 1e15 ? eta : 1e15);
        if (eta > 3600)
            put(&l, "%lld:%02lld:%02lld", e / 3600, e % 3600 / 60, e % 60);
        else if (eta > 60)
            put(&l, "%lld:%02lld", e / 60, e % 60);
        else
            put(&l, "%llds", e);
    }
    if (c)
        put(&l, "\x1b[0m");
    put_step_time(&l, tpu);
    for (int i = 0; i < nshow; i++) {
        put(&l, " - %s:", logs->names[order[i]]);
        put_value(&l, logs->values[order[i]], 1);
    }
    size_t width = visible_width(&l);
    if (p->tty) {
        fputc('\r', stderr);
        fwrite(l.s, 1, l.n, stderr);
        for (size_t i = width; i < p->prev_width; i++)
            fputc(' ', stderr);
        if (finalize)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "%.*s\n", (int)l.n, l.s);
    }
    fflush(stderr);
    p->prev_width = width;
    p->last_draw = now;
    p->open = p->tty && !finalize;
}

// End a half-drawn line before an error message follows it.
static void progbar_abort(Progbar *p) {
    if (p->open)
        fputc('\n', stderr);
    p->open = 0;
}

// Indices first..first+n-1 sorted by name, as Keras 3 shows logs
// (pythonify_logs sorts them).
static void sort_by_name(int *order, const char *const *names, int first, int n) {
    for (int i = 0; i < n; i++) {
        int k = first + i, j = i;
        while (j > 0 && strcmp(names[order[j - 1]], names[k]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
}

// ---- history CSV -----------------------------------------------------------------------

// A double as Python's repr writes it (Keras's CSVLogger): the shortest
// digits that read back the same, in e-notation below 1e-4 or from 1e16.
static void format_repr(char *buf, size_t len, double v) {
    if (isnan(v)) {
        snprintf(buf, len, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, len, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, len, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, len, "%.*e", prec - 1, v);
    const char *e = strchr(buf, 'e');
    int exp10 = e ? atoi(e + 1) : 0;
    if (exp10 < -4 || exp10 >= 16)
        return;
    int decimals = prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0;
    snprintf(buf, len, "%.*f", decimals, v);
    if (!strchr(buf, '.') && strlen(buf) + 3 <= len)
        strcat(buf, ".0");
}

// Rewrite the whole history: header "epoch,<names sorted>", one row per epoch
// (0-based, as Keras's CSVLogger), atomically: a temporary file in the same
// directory is written, flushed to disk and renamed over path.
static kdl_Status write_history(const char *path, const char *const *names, int ncols,
                                int first_epoch, const double *rows, int nrows, char *err,
                                size_t errlen) {
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        kdl_Status st = kdl_fail(err, errlen, KDL_ERR_IO, "%s: cannot create '%s': %s", path, tmp,
                             strerror(errno));
        free(tmp);
        return st;
    }
    // Columns sorted by name, as Keras's CSVLogger writes them.
    int order[2 * KDL_MAX_LOGS + 2];
    for (int c = 0; c < ncols; c++) {
        int k = c;
        while (k > 0 && strcmp(names[order[k - 1]], names[c]) > 0) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = c;
    }
    fputs("epoch", f);
    for (int c = 0; c < ncols; c++)
        fprintf(f, ",%s", names[order[c]]);
    fputc('\n', f);
    for (int r = 0; r < nrows; r++) {
        fprintf(f, "%d", first_epoch + r);
        for (int c = 0; c < ncols; c++) {
            char num[64];
            format_repr(num, sizeof num, rows[(size_t)r * (size_t)ncols + (size_t)order[c]]);
            fprintf(f, ",%s", num);
        }
        fputc('\n', f);
    }
    errno = 0;
    int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno ? errno : EIO;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno ? errno : EIO;
    }
    kdl_Status st = KDL_OK;
    if (bad) {
        st = kdl_fail(err, errlen, KDL_ERR_IO, "%s: write failed: %s", path, strerror(e));
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        st = kdl_fail(err, errlen, KDL_ERR_IO, "%s: cannot replace the file: %s", path,
                  strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return st;
}

// ---- the loops -----------------------------------------------------------------------

// One training (train 1) or test step, with the batch's dims for a model
// with run-time dimensions.
static kdl_Status step(const kdl_TrainModel *t, int train, int b, const int *dims, Batch *bt,
                       kdl_StepResult *r) {
    const void *const *in = (const void *const *)bt->in;
    const float *const *tg = (const float *const *)bt->tg;
    if (t->ndims > 0)
        return train ? t->train_step_dims(t->model, b, dims, in, tg, r)
                     : t->test_step_dims(t->model, b, dims, in, tg, r);
    return train ? t->train_step(t->model, b, in, tg, r) : t->test_step(t->model, b, in, tg, r);
}

// What a failed step's status means to the user.
static const char *step_error(kdl_Status st) {
    return st == KDL_ERR_INDEX ? "a label or an Embedding id is out of range"
                               : kdl_status_str(st);
}

// The metrics' step sums and weights (metric_counts) of an epoch so far.
typedef struct Running {
    double sum[KDL_MAX_LOGS], count[KDL_MAX_LOGS];
} Running;

static void running_add(Running *run, const kdl_StepResult *r, int nmetrics) {
    for (int k = 0; k < nmetrics; k++) {
        run->sum[k] += r->metric_sums[k];
        run->count[k] += r->metric_counts[k];
    }
}

// A metric's running value from its step sums over `seen` samples in
// `steps` steps (kdl.h: KDL_METRIC_MEAN, _ROOT_MEAN, _STEP_MEAN,
// _WEIGHTED_MEAN: 0 while no weight was seen, as Keras's divide_no_nan).
static double metric_value(const kdl_TrainModel *t, int k, const Running *run, int64_t seen,
                           int64_t steps) {
    int how = t->metric_reduce ? t->metric_reduce[k] : KDL_METRIC_MEAN;
    double sum = run->sum[k];
    if (how == KDL_METRIC_STEP_MEAN)
        return sum / (double)steps;
    if (how == KDL_METRIC_WEIGHTED_MEAN)
        return run->count[k] > 0 ? sum / run->count[k] : 0.0;
    double v = sum / (double)seen;
    return how == KDL_METRIC_ROOT_MEAN ? sqrt(v) : v;
}

// Inference over all of v in order, batch by batch: the loss (weighted by
// batch size) and metrics (sums / samples) into out[0..nmetrics]. With a
// Progbar of verbose 1 the running values are shown as they come (names
// and order from logs / order). where: "validation" or "evaluate".
static kdl_Status run_test(const kdl_TrainModel *t, const View *v, int batch, Batch *bt,
                           Progbar *pb, kdl_Logs *logs, const int *order, double *out,
                           const char *where, char *err, size_t errlen) {
    double loss_sum = 0;
    Running run = {0};
    int64_t seen = 0, steps = (v->n + batch - 1) / batch;
    for (int64_t s = 0; s < steps; s++) {
        int b = (int)(v->n - seen < batch ? v->n - seen : batch);
        gather(bt, t, v, NULL, seen, b);
        kdl_StepResult r = {0};
        kdl_Status st = step(t, 0, b, v->sz->dims, bt, &r);
        if (st != KDL_OK)
            return kdl_fail(err, errlen, st, "%s, step %lld: the test step failed: %s", where,
                        (long long)s + 1, step_error(st));
        loss_sum += r.loss * b;
        running_add(&run, &r, t->nmetrics);
        seen += b;
        if (pb && pb->verbose == 1) {
            logs->values[0] = loss_sum / (double)seen;
            for (int k = 0; k < t->nmetrics; k++)
                logs->values[1 + k] = metric_value(t, k, &run, seen, s + 1);
            progbar_update(pb, s + 1, logs, order, 1 + t->nmetrics, 0);
        }
    }
    out[0] = loss_sum / (double)seen;
    for (int k = 0; k < t->nmetrics; k++)
        out[1 + k] = metric_value(t, k, &run, seen, steps);
    return KDL_OK;
}

static kdl_Status check_model(const kdl_TrainModel *t, char *err, size_t errlen) {
    if (!t || t->ninputs < 1 || t->ntargets < 0 || !t->input_sizes || !t->input_dtypes ||
        (t->ntargets > 0 && !t->target_sizes))
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "the training model is not described");
    if (t->nmetrics < 0 || t->nmetrics > KDL_MAX_LOGS || (t->nmetrics && !t->metric_names))
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "the model has %d metrics; at most %d are logged",
                    t->nmetrics, KDL_MAX_LOGS);
    if (t->ndims > 0 && (!t->input_ranks || !t->input_shapes || !t->sizes || !t->plan ||
                         !t->train_step_dims || !t->test_step_dims))
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "the training model's run-time dimensions "
                        "are not described");
    // (-1: a size that depends on the run-time dimensions.)
    for (int i = 0; i < t->ninputs; i++)
        if (t->input_sizes[i] == 0 || (t->input_sizes[i] < 0 && t->ndims <= 0))
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "input %d has no values per sample", i);
    for (int j = 0; j < t->ntargets; j++)
        if (t->target_sizes[j] == 0 || (t->target_sizes[j] < 0 && t->ndims <= 0))
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "target %d has no values per sample", j);
    return KDL_OK;
}

static kdl_Status check_batch(const kdl_TrainModel *t, int batch, char *err, size_t errlen) {
    if (t->stateful_batch > 0 && batch != t->stateful_batch)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                        "batch_size %d: the model's stateful recurrent layers were built for "
                        "batches of %d samples", batch, t->stateful_batch);
    if (batch < 1 || batch > t->max_batch)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                    "batch_size %d is outside 1..%d (the model was created for batches of at "
                    "most %d samples)",
                    batch, t->max_batch, t->max_batch);
    return KDL_OK;
}

// A model with stateful recurrent layers steps through whole batches of
// their size only (Keras fails on a partial one: the states have that batch).
static kdl_Status whole_batches(const kdl_TrainModel *t, int64_t n, const char *what, char *err,
                                size_t errlen) {
    if (t->stateful_batch > 0 && n % t->stateful_batch != 0)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                        "the %s data has %lld samples, not a multiple of %d: the model's stateful "
                        "recurrent layers were built for batches of %d samples", what, (long long)n,
                        t->stateful_batch, t->stateful_batch);
    return KDL_OK;
}

// kdl_Logs names are pointers the caller may keep (*last), but the struct
// has no room for text: "val_" names point into this table when the metric
// has one of the names the compiler gives (see kdl_fit for the others).
static const char *const val_names[] = {
    "val_loss", "val_accuracy", "val_acc", "val_binary_accuracy", "val_categorical_accuracy",
    "val_sparse_categorical_accuracy", "val_mse", "val_mae", "val_MSE", "val_MAE",
    "val_mean_squared_error", "val_mean_absolute_error", "val_root_mean_squared_error",
    "val_top_k_categorical_accuracy", "val_sparse_top_k_categorical_accuracy", "val_mape",
    "val_msle", "val_mean_absolute_percentage_error", "val_mean_squared_logarithmic_error",
};

static const char *static_val_name(const char *name) {
    for (size_t i = 0; i < sizeof val_names / sizeof *val_names; i++)
        if (!strcmp(val_names[i] + 4, name))
            return val_names[i];
    return NULL;
}

// Everything one fit call allocates, freed together.
typedef struct {
    Batch bt;
    Sizes train, val;   // the data sets' dims and sizes
    int64_t *order;     // the training samples' order this epoch
    double *hist;       // epochs * ncols history values
    char *text;         // "val_<metric>" names not in val_names
    float *sw;          // class_weight: the batch's sample weights
} FitMem;

static void fitmem_free(FitMem *fm, const kdl_TrainModel *t) {
    batch_free(&fm->bt, t);
    sizes_free(&fm->train);
    sizes_free(&fm->val);
    free(fm->order);
    free(fm->hist);
    free(fm->text);
    free(fm->sw);
}

static kdl_Status check_options(const kdl_TrainModel *t, const kdl_FitOptions *o, char *err,
                                size_t errlen) {
    if (t->ndims > 0 ? !t->train_step_dims : !t->train_step)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "the model has no training step");
    if (o->epochs < 0 || o->initial_epoch < 0)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "epochs (%d) and initial_epoch (%d) must be >= 0",
                    o->epochs, o->initial_epoch);
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "validation_split must be in [0, 1), not %g",
                    o->validation_split);
    if (o->val_x && t->ntargets > 0 && !o->val_y)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "validation data needs both val_x and val_y");
    if (!o->val_x && o->val_y)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "validation data needs both val_x and val_y");
    if (o->verbose < 0 || o->verbose > 2)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "verbose must be 0, 1 or 2, not %d", o->verbose);
    if (o->checkpoint_every < 0)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "checkpoint_every must be >= 0, not %d",
                    o->checkpoint_every);
    if (o->checkpoint && !t->save)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "the model cannot save checkpoints");
    if (o->nclass_weights < 0 ||
        (o->nclass_weights > 0 && (!o->class_ids || !o->class_weights)))
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "class_weight: %d classes without a table",
                        o->nclass_weights);
    if (o->nclass_weights > 0 && (!t->set_sample_weight || t->ntargets != 1))
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "class_weight is only supported for models "
                        "with a single output of one loss row per sample");
    for (int k = 0; k < o->nclass_weights; k++)
        if (!isfinite(o->class_weights[k]))
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "class_weight of class %d is not a finite "
                            "number", o->class_ids[k]);
    return check_batch(t, o->batch_size, err, errlen);
}

// The training and validation views of the data (Keras: the split takes the
// last samples, before any shuffling); *val->n = 0 without validation.
static kdl_Status split_data(const kdl_TrainModel *t, const kdl_Array *x, const kdl_Array *y,
                             const kdl_FitOptions *o, View *train, View *val, FitMem *fm,
                             char *err, size_t errlen) {
    int64_t n;
    kdl_Status st = check_data(t, x, y, "x", "y", &n, &fm->train, err, errlen);
    if (st != KDL_OK)
        return st;
    *train = (View){x, y, 0, n, &fm->train};
    *val = (View){NULL, NULL, 0, 0, &fm->train};
    if (o->val_x) {
        int64_t nv;
        st = check_data(t, o->val_x, o->val_y, "val_x", "val_y", &nv, &fm->val, err, errlen);
        if (st != KDL_OK)
            return st;
        *val = (View){o->val_x, o->val_y, 0, nv, &fm->val};
    } else if (o->validation_split > 0) {
        int64_t split_at = (int64_t)floor((double)n * (1.0 - o->validation_split));
        if (split_at <= 0 || split_at >= n)
            return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                        "validation_split %g of %lld samples leaves %lld for training and %lld "
                        "for validation; both need at least one",
                        o->validation_split, (long long)n, (long long)split_at,
                        (long long)(n - split_at));
        train->n = split_at;
        *val = (View){x, y, split_at, n - split_at, &fm->train};
    }
    return KDL_OK;
}

// A model with run-time dimensions: its training memory planned for the
// largest dims of the data sets a and b (b may be NULL): sizes only grow
// with the dims, so the plan holds for both.
static kdl_Status plan_dims(const kdl_TrainModel *t, const Sizes *a, const Sizes *b, char *err,
                            size_t errlen) {
    if (t->ndims <= 0)
        return KDL_OK;
    int *dims = malloc(sizeof(int) * (size_t)t->ndims);
    if (!dims)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "out of memory");
    char text[160] = "", why[400] = "";
    size_t k = 0;
    for (int i = 0; i < t->ndims; i++) {
        dims[i] = b && b->dims && b->dims[i] > a->dims[i] ? b->dims[i] : a->dims[i];
        if (k < sizeof text)
            k += (size_t)snprintf(text + k, sizeof text - k, i ? ", %d" : "%d", dims[i]);
    }
    kdl_Status st = t->plan(t->model, dims, why, sizeof why);
    free(dims);
    if (st != KDL_OK)
        return kdl_fail(err, errlen, st, "the training memory for the dims (%s) of the data: %s",
                        text, why[0] ? why : kdl_status_str(st));
    return KDL_OK;
}

// Shuffle or not, the order of the training samples in epoch e.
static void epoch_order(int64_t *order, int64_t n, int shuffle, uint64_t seed, int e) {
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    if (!shuffle)
        return;
    kdl_Rng r;
    kdl_rng_seed(&r, epoch_seed(seed, e, 0));
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1);
        int64_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

// One kdl_fit call: its data, buffers and the logs it keeps.
typedef struct {
    const kdl_TrainModel *t;
    const kdl_FitOptions *o;
    View train, val;
    int ntrain_logs, ncols;     // 1 + nmetrics; the logs of an epoch (with val_ ones)
    int64_t steps;              // per epoch
    int tty;
    FitMem mem;
    kdl_Logs logs;              // the current epoch's, names in full
    const char *kept[NLOGS];    // names for *last: static storage only
    int order[NLOGS];           // the display order
    char *err;
    size_t errlen;
} Fit;

// Names in Keras's log order (loss, metrics, val_loss, val_metrics), the
// ones kept for *last, and the order Keras 3 displays them in.
static void fit_names(Fit *f) {
    const kdl_TrainModel *t = f->t;
    int nt = f->ntrain_logs;
    f->logs.n = f->ncols;
    f->logs.names[0] = f->kept[0] = "loss";
    for (int k = 0; k < t->nmetrics; k++)
        f->logs.names[1 + k] = f->kept[1 + k] = t->metric_names[k];
    sort_by_name(f->order, f->logs.names, 0, nt);
    if (f->ncols == nt)
        return;
    char *p = f->mem.text;
    f->logs.names[nt] = f->kept[nt] = "val_loss";
    for (int k = 0; k < t->nmetrics; k++) {
        const char *s = static_val_name(t->metric_names[k]);
        f->logs.names[nt + 1 + k] = f->kept[nt + 1 + k] = s;
        if (!s) {
            // Outside the table: the full name for the callback, progress and
            // history (in mem.text, sized by kdl_fit); *last keeps the
            // metric's own name at this position.
            f->logs.names[nt + 1 + k] = p;
            f->kept[nt + 1 + k] = t->metric_names[k];
            p += sprintf(p, "val_%s", t->metric_names[k]) + 1;
        }
    }
    sort_by_name(f->order + nt, f->logs.names, nt, nt);
}

// One epoch's training steps: the running means into logs.values[0..nt).
static kdl_Status train_epoch(Fit *f, int e, Progbar *pb) {
    const kdl_TrainModel *t = f->t;
    const kdl_FitOptions *o = f->o;
    int batch = o->batch_size, nm = t->nmetrics;
    double loss_sum = 0;
    Running run = {0};
    int64_t seen = 0;
    for (int64_t s = 0; s < f->steps; s++) {
        int b = (int)(f->train.n - seen < batch ? f->train.n - seen : batch);
        gather(&f->mem.bt, t, &f->train, f->mem.order, seen, b);
        kdl_StepResult r = {0};
        if (f->mem.sw) {
            // class_weight (Keras: sample weights from the training targets)
            kdl_class_weights(f->mem.sw, f->mem.bt.tg[0], b, (int)f->train.sz->tg[0],
                              o->class_ids, o->class_weights, o->nclass_weights);
            t->set_sample_weight(t->model, f->mem.sw);
        }
        kdl_Status st = step(t, 1, b, f->train.sz->dims, &f->mem.bt, &r);
        if (f->mem.sw)
            t->set_sample_weight(t->model, NULL);
        if (st == KDL_OK && !isfinite(r.loss))
            st = KDL_ERR_NUMERIC;
        // A step may also refuse the update itself and say so (r.loss unset).
        if (st == KDL_ERR_NUMERIC)
            return kdl_fail(f->err, f->errlen, st,
                        "epoch %d, step %lld: the loss is %s; training stopped (the last "
                        "checkpoint, if any, has the last good weights)",
                        e + 1, (long long)s + 1,
                        isnan(r.loss)    ? "nan"
                        : isinf(r.loss) ? (r.loss > 0 ? "inf" : "-inf")
                                        : "not a finite number");
        if (st != KDL_OK)
            return kdl_fail(f->err, f->errlen, st, "epoch %d, step %lld: the training step failed: %s",
                        e + 1, (long long)s + 1, step_error(st));
        loss_sum += r.loss * b;
        running_add(&run, &r, nm);
        seen += b;
        f->logs.values[0] = loss_sum / (double)seen;
        for (int k = 0; k < nm; k++)
            f->logs.values[1 + k] = metric_value(t, k, &run, seen, s + 1);
        if (o->verbose == 1)
            progbar_update(pb, s + 1, &f->logs, f->order, f->ntrain_logs, 0);
    }
    return KDL_OK;
}

kdl_Status kdl_fit(const kdl_TrainModel *t, const kdl_Array *x, const kdl_Array *y,
                   const kdl_FitOptions *o, kdl_Logs *last, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    if (last)
        *last = (kdl_Logs){.epoch = -1, .n = 0};
    if (!o)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "no fit options");
    Fit f = {.t = t, .o = o, .err = err, .errlen = errlen};
    kdl_Status st = check_model(t, err, errlen);
    if (st == KDL_OK)
        st = check_options(t, o, err, errlen);
    if (st == KDL_OK)
        st = split_data(t, x, y, o, &f.train, &f.val, &f.mem, err, errlen);
    if (st == KDL_OK)
        st = whole_batches(t, f.train.n, "training", err, errlen);
    if (st == KDL_OK)
        st = whole_batches(t, f.val.n, "validation", err, errlen);
    if (st == KDL_OK && f.val.n > 0 && (t->ndims > 0 ? !t->test_step_dims : !t->test_step))
        st = kdl_fail(err, errlen, KDL_ERR_SHAPE, "the model has no test step for validation");
    const Sizes *vs = f.mem.val.in ? &f.mem.val : NULL;
    if (st == KDL_OK)
        st = plan_dims(t, &f.mem.train, vs, err, errlen);
    if (st != KDL_OK) {
        fitmem_free(&f.mem, t);
        return st;
    }

    f.ntrain_logs = 1 + t->nmetrics;
    f.ncols = f.ntrain_logs * (f.val.n > 0 ? 2 : 1);
    f.steps = (f.train.n + o->batch_size - 1) / o->batch_size;
    int nepochs = o->epochs > o->initial_epoch ? o->epochs - o->initial_epoch : 0;
    st = batch_alloc(&f.mem.bt, t, o->batch_size, &f.mem.train, vs, err, errlen);
    if (st != KDL_OK) {
        fitmem_free(&f.mem, t);
        return st;
    }
    size_t text_len = 1;
    for (int k = 0; k < t->nmetrics; k++)
        text_len += strlen(t->metric_names[k]) + 5;
    f.mem.order = malloc(sizeof(int64_t) * (size_t)f.train.n);
    f.mem.hist = malloc(sizeof(double) * ((size_t)nepochs * (size_t)f.ncols + 1));
    f.mem.text = malloc(text_len);
    if (o->nclass_weights > 0)
        f.mem.sw = malloc(sizeof(float) * (size_t)o->batch_size);
    if (!f.mem.order || !f.mem.hist || !f.mem.text || (o->nclass_weights > 0 && !f.mem.sw)) {
        fitmem_free(&f.mem, t);
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "out of memory for %lld samples",
                    (long long)f.train.n);
    }
    fit_names(&f);
    f.tty = o->verbose == 1 && isatty(fileno(stderr));

    int saved_epoch = -1, stop = 0, rows = 0;
    for (int e = o->initial_epoch; e < o->epochs && !stop && st == KDL_OK; e++) {
        if (o->verbose && o->epochs > 1) {
            fprintf(stderr, "Epoch %d/%d\n", e + 1, o->epochs);
            fflush(stderr);
        }
        epoch_order(f.mem.order, f.train.n, o->shuffle, o->seed, e);
        if (t->seed)
            t->seed(t->model, epoch_seed(o->seed, e, 1));
        Progbar pb;
        progbar_start(&pb, o->verbose, f.tty, f.steps);
        st = train_epoch(&f, e, &pb);
        if (st == KDL_OK && f.val.n > 0)
            st = run_test(t, &f.val, o->batch_size, &f.mem.bt, NULL, NULL, NULL,
                          f.logs.values + f.ntrain_logs, "validation", err, errlen);
        if (st != KDL_OK) {
            progbar_abort(&pb);
            break;
        }
        f.logs.epoch = e;
        progbar_update(&pb, f.steps, &f.logs, f.order, f.ncols, 1);
        memcpy(f.mem.hist + (size_t)rows * (size_t)f.ncols, f.logs.values,
               sizeof(double) * (size_t)f.ncols);
        rows++;
        if (last) {
            *last = f.logs;
            memcpy(last->names, f.kept, sizeof(const char *) * (size_t)f.ncols);
        }
        if (o->history_csv)
            st = write_history(o->history_csv, f.logs.names, f.ncols, o->initial_epoch,
                               f.mem.hist, rows, err, errlen);
        if (st == KDL_OK && o->checkpoint && o->checkpoint_every > 0 &&
            (e + 1) % o->checkpoint_every == 0) {
            st = t->save(t->model, o->checkpoint, e + 1, err, errlen);
            saved_epoch = e;
        }
        if (st == KDL_OK && o->on_epoch_end)
            stop = o->on_epoch_end(&f.logs, o->user) != 0;
    }
    // The end of training (also when a callback stopped it): the final weights.
    if (st == KDL_OK && o->checkpoint && (rows == 0 || saved_epoch != o->initial_epoch + rows - 1))
        st = t->save(t->model, o->checkpoint, o->initial_epoch + rows, err, errlen);
    fitmem_free(&f.mem, t);
    return st;
}

kdl_Status kdl_evaluate(const kdl_TrainModel *t, const kdl_Array *x, const kdl_Array *y,
                        int batch_size, int verbose, kdl_Logs *out, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    if (out)
        *out = (kdl_Logs){.epoch = 0, .n = 0};
    kdl_Status st = check_model(t, err, errlen);
    if (st == KDL_OK && (t->ndims > 0 ? !t->test_step_dims : !t->test_step))
        st = kdl_fail(err, errlen, KDL_ERR_SHAPE, "the model has no test step");
    if (st == KDL_OK && (verbose < 0 || verbose > 2))
        st = kdl_fail(err, errlen, KDL_ERR_SHAPE, "verbose must be 0, 1 or 2, not %d", verbose);
    if (st == KDL_OK)
        st = check_batch(t, batch_size, err, errlen);
    int64_t n = 0;
    Sizes sz = {NULL, NULL, NULL, NULL};
    if (st == KDL_OK)
        st = check_data(t, x, y, "x", "y", &n, &sz, err, errlen);
    if (st == KDL_OK)
        st = whole_batches(t, n, "evaluation", err, errlen);
    if (st != KDL_OK) {
        sizes_free(&sz);
        return st;
    }
    Batch bt = {0};
    st = plan_dims(t, &sz, NULL, err, errlen);
    if (st == KDL_OK)
        st = batch_alloc(&bt, t, batch_size, &sz, NULL, err, errlen);
    if (st != KDL_OK) {
        sizes_free(&sz);
        return st;
    }
    kdl_Logs logs = {.epoch = 0, .n = 1 + t->nmetrics};
    logs.names[0] = "loss";
    for (int k = 0; k < t->nmetrics; k++)
        logs.names[1 + k] = t->metric_names[k];
    int order[NLOGS];
    sort_by_name(order, logs.names, 0, logs.n);
    int64_t steps = (n + batch_size - 1) / batch_size;
    Progbar pb;
    progbar_start(&pb, verbose, verbose == 1 && isatty(fileno(stderr)), steps);
    View v = {x, y, 0, n, &sz};
    st = run_test(t, &v, batch_size, &bt, &pb, &logs, order, logs.values, "evaluate", err,
                  errlen);
    if (st == KDL_OK) {
        progbar_update(&pb, steps, &logs, order, logs.n, 1);
        if (out)
            *out = logs;
    } else {
        progbar_abort(&pb);
    }
    batch_free(&bt, t);
    sizes_free(&sz);
    return st;
}

// ---- checkpoints: weights and the optimizer's state ----------------------------------------

// The specs of a checkpoint: the weights, then each parameter's slots
// ("optimizer/<name>/<slot>", the weight's shape or the slot's own). *names_out holds the
// names (free it and the specs). NULL when out of memory.
static kdl_WeightSpec *checkpoint_specs(const kdl_WeightSpec *weights, int nweights,
                                        const kdl_Optimizer *o, const kdl_Param *params,
                                        const char *const *param_names, int nparams, int *n,
                                        char **names_out) {
    int per = kdl_optimizer_slots(o);
    size_t total = (size_t)nweights + (size_t)per * (size_t)nparams, text = 1;
    for (int i = 0; i < nparams; i++)
        for (int k = 0; k < per; k++)
            text += strlen("optimizer/") + strlen(param_names[i]) + 1 +
                    strlen(kdl_optimizer_slot_name(o, k)) + 1;
    kdl_WeightSpec *specs = malloc(sizeof *specs * (total + 1));
    char *names = malloc(text), *p = names;
    if (!specs || !names) {
        free(specs);
        free(names);
        return NULL;
    }
    memcpy(specs, weights, sizeof *specs * (size_t)nweights);
    *n = nweights;
    for (int i = 0; i < nparams; i++) {
        const kdl_WeightSpec *w = NULL;   // the parameter's shape
        for (int j = 0; j < nweights && !w; j++)
            if (!strcmp(weights[j].name, param_names[i]))
                w = &weights[j];
        for (int k = 0; k < per; k++) {
            kdl_WeightSpec *s = &specs[(*n)++];
            size_t len = (size_t)sprintf(p, "optimizer/%s/%s", param_names[i],
                                         kdl_optimizer_slot_name(o, k));
            *s = w ? *w : (kdl_WeightSpec){.rank = 1, .shape = {(int64_t)params[i].n}};
            // Adafactor's factored slots are smaller than their variable
            s->rank = kdl_optimizer_slot_shape(o, k, s->rank, s->shape, s->shape);
            s->name = p;
            s->data = params[i].slots + (size_t)k * params[i].n;
            p += len + 1;
        }
    }
    *names_out = names;
    return specs;
}

kdl_Status kdl_checkpoint_save(const char *path, const kdl_WeightSpec *weights, int nweights,
                               const kdl_Optimizer *o, const kdl_Param *params,
                               const char *const *param_names, int nparams, int64_t iterations,
                               int epoch, char *err, size_t errlen) {
    char *names, meta[256];
    int n;
    kdl_WeightSpec *specs =
        checkpoint_specs(weights, nweights, o, params, param_names, nparams, &n, &names);
    if (!specs)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
    snprintf(meta, sizeof meta,
             "\"format\":\"kdl\",\"optimizer\":\"%s\",\"iterations\":\"%lld\",\"epoch\":\"%d\"",
             kdl_optimizer_name(o), (long long)iterations, epoch);
    kdl_Status st = kdl_safetensors_save(path, specs, n, meta, err, errlen);
    free(specs);
    free(names);
    return st;
}

// A non-negative decimal integer of at most max, all of s.
static int parse_count(const char *s, long long max, long long *out) {
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v > max)
        return 0;
    *out = v;
    return 1;
}

kdl_Status kdl_checkpoint_load(const char *path, const kdl_WeightSpec *weights, int nweights,
                               const kdl_Optimizer *o, kdl_Param *params,
                               const char *const *param_names, int nparams, int64_t *iterations,
                               int *epoch, char *err, size_t errlen) {
    // The metadata first (and the weights): is this a checkpoint of this optimizer?
    static const char *const keys[] = {"optimizer", "iterations", "epoch"};
    char values[3][KDL_METADATA_MAX];
    kdl_StMetadata meta = {3, keys, values};
    kdl_Status st = kdl_safetensors_read(path, weights, nweights, 1, &meta, err, errlen);
    if (st != KDL_OK)
        return st;
    long long it, ep;
    if (!values[0][0])
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: no optimizer state (a weights file, "
                        "not a checkpoint written by fit): start from its weights with --weights",
                        path);
    if (strcmp(values[0], kdl_optimizer_name(o)) != 0)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: the optimizer state is %s's; this model "
                        "trains with %s", path, values[0], kdl_optimizer_name(o));
    if (!parse_count(values[1], INT64_MAX, &it) || !parse_count(values[2], INT32_MAX, &ep))
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: __metadata__ 'iterations' (\"%s\") and "
                        "'epoch' (\"%s\") must be non-negative integers", path, values[1],
                        values[2]);
    char *names;
    int n;
    kdl_WeightSpec *specs =
        checkpoint_specs(weights, nweights, o, params, param_names, nparams, &n, &names);
    if (!specs)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
    st = kdl_safetensors_read(path, specs, n, 0, NULL, err, errlen);
    free(specs);
    free(names);
    if (st == KDL_OK) {
        *iterations = (int64_t)it;
        *epoch = (int)ep;
    }
    return st;
}
