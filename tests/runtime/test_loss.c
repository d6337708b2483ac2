/*
 * test_loss.c - kdl_loss and kdl_metric_sum.
 *
 * Every loss and option (from_logits, label_smoothing, Huber's delta, the
 * fused softmax / sigmoid, both reductions, several gradient scales) on
 * random shapes: the value against a naive double formula written from
 * Keras 3's definitions, and the gradient against central finite
 * differences of that formula (through softmax / sigmoid when fused). The
 * data include probabilities in both clipping regions and unnormalised rows.
 * Then Keras's documented examples, extreme logits, saturated fused
 * outputs, bad sparse labels, and metrics on hand-made cases. The losses of
 * Keras 3's full set (KL divergence, hinge with its batch-wide 0/1 -> -1/1
 * rule, squared and categorical hinge, Poisson, log-cosh, MAPE, MSLE, cosine
 * similarity) go through the same random value and finite-difference
 * checks and their docstring examples; the newer metrics (threshold,
 * Accuracy, top-k with ties) and kdl_regularize by hand. Every random case
 * again with a Keras mask (kdl_loss_masked: the naive formula over the
 * unmasked rows) and with sample weights (kdl_loss_weighted), and the
 * masked metrics and kdl_class_weights by hand.
 */
#include "check.h"

#include <string.h>

#define LO ((double)1e-7f)
#define HI ((double)(1.0f - 1e-7f))

static double clipd(double x) {
    return x < LO ? LO : x > HI ? HI : x;
}

static void check_near(const char *what, double got, double want, double atol, double rtol) {
    int ok = fabs(got - want) <= atol + rtol * fabs(want);
    if (!ok)
        printf("FAIL %s: got %.12g, want %.12g\n", what, got, want);
    if (ok)
        check_passed++;
    else
        check_failed++;
}

// ---- the naive reference ---------------------------------------------------------------------

// Whether the batch's hinge targets are all 0 or 1 (Keras then maps them to
// -1 / 1), set by ref_loss for ref_row.
static int ref_hinge_pm;

static double norm2(const double *x, int dim) {
    double s = 0;
    for (int j = 0; j < dim; j++)
        s += x[j] * x[j];
    return sqrt(s);
}

// One sample's loss, textbook forms in double (no clipping of logits, no
// max subtraction: the test data keep them in range).
static double ref_row(const kdl_Loss *L, const double *p, const float *y, int dim) {
    double s = 0, ls = L->label_smoothing;
    switch (L->kind) {
    case KDL_LOSS_KLD:
        // y and p clipped to [1e-7, 1]; the data keep p inside
        for (int j = 0; j < dim; j++) {
            double t = y[j] < LO ? LO : y[j] > 1 ? 1 : y[j];
            s += t * log(t / p[j]);
        }
        return s;
    case KDL_LOSS_HINGE:
    case KDL_LOSS_SQUARED_HINGE:
        for (int j = 0; j < dim; j++) {
            double t = ref_hinge_pm ? 2.0 * y[j] - 1 : y[j], m = fmax(1 - t * p[j], 0);
            s += L->kind == KDL_LOSS_HINGE ? m : m * m;
        }
        return s / dim;
    case KDL_LOSS_CATEGORICAL_HINGE: {
        double pos = 0, neg = -INFINITY;
        for (int j = 0; j < dim; j++) {
            pos += y[j] * p[j];
            neg = fmax(neg, (1.0 - y[j]) * p[j]);
        }
        return fmax(neg - pos + 1, 0);
    }
    case KDL_LOSS_POISSON:
        for (int j = 0; j < dim; j++)
            s += p[j] - y[j] * log(p[j] + LO);
        return s / dim;
    case KDL_LOSS_LOG_COSH:
        // Keras subtracts log(2) as a float32 constant: x + softplus(-2x) - log2
        for (int j = 0; j < dim; j++)
            s += log(cosh(p[j] - y[j])) + log(2.0) - (double)(float)log(2.0);
        return s / dim;
    case KDL_LOSS_MAPE:
        for (int j = 0; j < dim; j++)
            s += 100 * fabs(y[j] - p[j]) / fmax(fabs(y[j]), LO);
        return s / dim;
    case KDL_LOSS_MSLE:
        for (int j = 0; j < dim; j++) {
            double a = log(fmax(p[j], LO) + 1) - log(fmax(y[j], LO) + 1);
            s += a * a;
        }
        return s / dim;
    case KDL_LOSS_COSINE: {
        double yt[64], np = norm2(p, dim);
        for (int j = 0; j < dim; j++)
            yt[j] = y[j];
        double nt = norm2(yt, dim);
        for (int j = 0; j < dim; j++)
            s -= yt[j] / nt * p[j] / np;
        return s;
    }
    case KDL_LOSS_MSE:
    case KDL_LOSS_MAE:
    case KDL_LOSS_HUBER:
        for (int j = 0; j < dim; j++) {
            double e = y[j] - p[j], a = fabs(e);
            if (L->kind == KDL_LOSS_MSE)
                s += e * e;
            else if (L->kind == KDL_LOSS_MAE)
                s += a;
            else
                s += a <= L->delta ? 0.5 * e * e : L->delta * a - 0.5 * L->delta * L->delta;
        }
        return s / dim;
    case KDL_LOSS_BCE:
        for (int j = 0; j < dim; j++) {
            double t = y[j] * (1 - ls) + 0.5 * ls;
            double q = L->from_logits ? 1 / (1 + exp(-p[j])) : clipd(p[j]);
            s -= t * log(q) + (1 - t) * log(1 - q);
        }
        return s / dim;
    case KDL_LOSS_CCE:
    case KDL_LOSS_SCCE: {
        double tot = 0;
        for (int j = 0; j < dim; j++)
            tot += L->from_logits ? exp(p[j]) : p[j];
        for (int j = 0; j < dim; j++) {
            double t = L->kind == KDL_LOSS_SCCE ? (j == (int)y[0]) : y[j] * (1 - ls) + ls / dim;
            double q = L->from_logits ? exp(p[j]) / tot : clipd(p[j] / tot);
            s -= t * log(q);
        }
        return s;
    }
    }
    return NAN;
}

static double ref_loss(const kdl_Loss *L, const double *p, const float *y, int n, int dim) {
    double s = 0;
    ref_hinge_pm = 1;
    for (size_t i = 0; i < (size_t)n * dim && L->kind != KDL_LOSS_SCCE; i++)
        ref_hinge_pm &= y[i] == 0.0f || y[i] == 1.0f;
    for (int i = 0; i < n; i++)
        s += ref_row(L, p + (size_t)i * dim, y + (size_t)i * (L->kind == KDL_LOSS_SCCE ? 1 : dim),
                     dim);
    return L->reduction == KDL_REDUCE_MEAN ? s / n : s;
}

// The fused activation applied to z (double), per row.
static void apply_act(double *p, const double *z, int n, int dim, kdl_Act act) {
    for (int i = 0; i < n; i++) {
        const double *zr = z + (size_t)i * dim;
        double *pr = p + (size_t)i * dim, s = 0;
        for (int j = 0; j < dim; j++) {
            pr[j] = act == KDL_ACT_SIGMOID ? 1 / (1 + exp(-zr[j])) : exp(zr[j]);
            s += pr[j];
        }
        if (act == KDL_ACT_SOFTMAX)
            for (int j = 0; j < dim; j++)
                pr[j] /= s;
    }
}

// The loss as a function of x: pred itself, or the logits when fused.
static double ref_of_x(const kdl_Loss *L, const double *x, double *tmp, const float *y, int n,
                       int dim) {
    if (L->fused_act == KDL_ACT_LINEAR)
        return ref_loss(L, x, y, n, dim);
    apply_act(tmp, x, n, dim, L->fused_act);
    return ref_loss(L, tmp, y, n, dim);
}

// ---- random data, away from kinks -------------------------------------------------------------

// True when an element sits within `m` of a kink of the loss (FD would
// straddle it): |e| = 0 (MAE), |e| = delta (Huber), a clip bound.
static int row_near_kink(const kdl_Loss *L, const float *p, const float *y, int dim) {
    const double m = 1e-3;
    double s = 0;
    for (int j = 0; j < dim; j++)
        s += p[j];
    for (int j = 0; j < dim; j++) {
        double e = fabs((double)p[j] - y[j]);
        switch (L->kind) {
        case KDL_LOSS_MAE:
            if (e < m)
                return 1;
            break;
        case KDL_LOSS_HUBER:
            if (fabs(e - L->delta) < m)
                return 1;
            break;
        case KDL_LOSS_BCE:
            if (!L->from_logits && (fabs(p[j] - LO) < m || fabs(p[j] - HI) < m))
                return 1;
            break;
        case KDL_LOSS_CCE:
        case KDL_LOSS_SCCE:
            if (L->from_logits || dim == 1)   // dim 1: q = 1 always, a constant loss
                break;
            if (fabs(s) < 0.2 || fabs(p[j] / s - LO) < m || fabs(p[j] / s - HI) < m)
                return 1;
            break;
        case KDL_LOSS_HINGE:
        case KDL_LOSS_SQUARED_HINGE:
            // the kink 1 - t p = 0 for either reading of the target
            if (fabs(1 - y[j] * p[j]) < m || fabs(1 - (2.0 * y[j] - 1) * p[j]) < m)
                return 1;
            break;
        case KDL_LOSS_MAPE:
            if (e < m)
                return 1;
            break;
        default:
            break;
        }
    }
    if (L->kind == KDL_LOSS_CATEGORICAL_HINGE) {
        // the kink at 0 and ties of the max
        double pos = 0, best = -INFINITY, second = -INFINITY;
        for (int j = 0; j < dim; j++) {
            double v = (1.0 - y[j]) * p[j];
            pos += y[j] * p[j];
            if (v > best)
                second = best, best = v;
            else if (v > second)
                second = v;
        }
        if (fabs(best - pos + 1) < m || best - second < m)
            return 1;
    }
    return 0;
}

// One row of predictions (or logits x when fused; p is then act(x)) and targets.
static void gen_row(const kdl_Loss *L, float *x, float *y, int dim, int row) {
    int fused = L->fused_act != KDL_ACT_LINEAR;
    for (int j = 0; j < dim; j++) {
        float u = check_uniform(0, 1);
        switch (L->kind) {
        case KDL_LOSS_MSE:
        case KDL_LOSS_MAE:
        case KDL_LOSS_HUBER:
            x[j] = check_uniform(-3, 3);
            y[j] = check_uniform(-3, 3);
            break;
        case KDL_LOSS_BCE:
            if (L->from_logits)
                x[j] = check_uniform(-8, 8);
            else if (fused)
                x[j] = check_uniform(-6, 6);
            else    // both clipping regions
                x[j] = u < 0.15f   ? check_uniform(-0.3f, -0.01f)
                       : u < 0.3f ? check_uniform(1.01f, 1.3f)
                                  : check_uniform(0.02f, 0.98f);
            y[j] = row % 2 ? check_uniform(0, 1) : (float)check_int(0, 1);
            break;
        case KDL_LOSS_CCE:
        case KDL_LOSS_SCCE:
            if (L->from_logits)
                x[j] = check_uniform(-5, 5);
            else if (fused)
                x[j] = check_uniform(-4, 4);
            else    // unnormalised rows; negatives are clipped low
                x[j] = dim > 1 && u < 0.2f ? check_uniform(-0.3f, -0.05f)
                                           : check_uniform(0.05f, 1);
            // one-hot, normalised soft labels, or unnormalised ones
            y[j] = row % 3 == 0 ? 0.0f : check_uniform(0, 1);
            break;
        case KDL_LOSS_KLD:      // p inside (eps, 1); y also at and beyond the clip bounds
            x[j] = check_uniform(0.02f, 0.98f);
            y[j] = u < 0.1f ? 0.0f : u < 0.2f ? 1.3f : check_uniform(0, 1);
            break;
        case KDL_LOSS_HINGE:
        case KDL_LOSS_SQUARED_HINGE:
            // -1/1 targets, 0/1 ones (every batch of an even seed), or other values
            x[j] = check_uniform(-2, 2);
            y[j] = L->delta == 1.0f ? (float)check_int(0, 1) : u < 0.5f ? -1.0f : 1.0f;
            if (L->delta == 2.0f && j == 0 && row == 0)
                y[j] = 0.5f;
            break;
        case KDL_LOSS_CATEGORICAL_HINGE:
            x[j] = check_uniform(-2, 2);
            y[j] = 0;
            break;
        case KDL_LOSS_POISSON:
            x[j] = check_uniform(0.05f, 3);
            y[j] = (float)check_int(0, 4);
            break;
        case KDL_LOSS_LOG_COSH:
        case KDL_LOSS_COSINE:
            x[j] = check_uniform(-3, 3);
            y[j] = check_uniform(-3, 3);
            break;
        case KDL_LOSS_MAPE:     // (a 0 target, divided by eps, is in test_more_examples)
            x[j] = check_uniform(-3, 3);
            y[j] = u < 0.5f ? check_uniform(-3, -0.1f) : check_uniform(0.1f, 3);
            break;
        case KDL_LOSS_MSLE:     // p and y both sides of eps (the max clips them)
            x[j] = u < 0.2f ? check_uniform(-0.9f, -0.01f) : check_uniform(0.01f, 3);
            y[j] = u > 0.85f ? -0.5f : check_uniform(0, 3);
            break;
        }
    }
    if (L->kind == KDL_LOSS_CATEGORICAL_HINGE)
        y[check_int(0, dim - 1)] = row % 2 ? 1.0f : 0.7f;
    if ((L->kind == KDL_LOSS_CCE || L->kind == KDL_LOSS_SCCE) && !fused && !L->from_logits &&
        row % 4 == 1 && dim >= 2 && dim <= 7) {
        // q_0 > 1 - eps: the high clip of a renormalised row
        x[0] = 1.0f, x[1] = -0.3f;
        for (int j = 2; j < dim; j++)
            x[j] = 0.05f;
    }
    if (L->kind == KDL_LOSS_SCCE) {
        y[0] = (float)check_int(0, dim - 1);
    } else if (L->kind == KDL_LOSS_CCE && row % 3 == 0) {
        y[check_int(0, dim - 1)] = 1.0f;
    } else if (L->kind == KDL_LOSS_CCE && row % 3 == 1) {
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += y[j];
        for (int j = 0; j < dim; j++)
            y[j] = (float)(y[j] / s);
    }
}

// ---- random tests -----------------------------------------------------------------------------

static const char *const kind_names[] = {
    "mse", "mae", "huber", "bce", "cce", "scce", "kld", "hinge", "squared_hinge",
    "categorical_hinge", "poisson", "log_cosh", "mape", "msle", "cosine",
};

static void run_case(const kdl_Loss *L, int n, int dim, float scale) {
    int sparse = L->kind == KDL_LOSS_SCCE, fused = L->fused_act != KDL_ACT_LINEAR;
    size_t np = (size_t)n * dim, ny = sparse ? (size_t)n : np;
    float *x = check_alloc(np), *y = check_alloc(ny), *pred = check_alloc(np);
    float *d = check_alloc(np), *fd = check_alloc(np), *ytmp = check_alloc(dim);
    double *xd = malloc(np * sizeof(double)), *tmp = malloc(np * sizeof(double));
    double *row = malloc(2 * (size_t)dim * sizeof(double));
    if (!xd || !tmp || !row)
        exit(2);
    for (int i = 0; i < n; i++) {
        float *xr = x + (size_t)i * dim;
        do {
            gen_row(L, xr, ytmp, dim, i);
            if (fused) {
                for (int j = 0; j < dim; j++)
                    row[j] = xr[j];
                apply_act(row + dim, row, 1, dim, L->fused_act);
                for (int j = 0; j < dim; j++)
                    pred[(size_t)i * dim + j] = (float)row[dim + j];
            } else {
                memcpy(pred + (size_t)i * dim, xr, dim * sizeof(float));
            }
        } while (!fused && row_near_kink(L, xr, ytmp, dim));
        memcpy(y + (size_t)i * (sparse ? 1 : dim), ytmp, (sparse ? 1 : dim) * sizeof(float));
    }
    char what[160];
    snprintf(what, sizeof what, "%s logits=%d ls=%g delta=%g fused=%d %s n=%d dim=%d scale=%g",
             kind_names[L->kind], L->from_logits, (double)L->label_smoothing, (double)L->delta,
             fused, L->reduction == KDL_REDUCE_MEAN ? "mean" : "sum", n, dim, (double)scale);

    double got = -1, got2 = -2;
    kdl_Status st = kdl_loss(L, &got, d, pred, y, n, dim, scale);
    check_true(what, st == KDL_OK);
    for (size_t k = 0; k < np; k++)
        xd[k] = pred[k];
    check_near(what, got, ref_loss(L, xd, y, n, dim), 1e-9, 1e-9);
    st = kdl_loss(L, &got2, NULL, pred, y, n, dim, scale);
    check_true(what, st == KDL_OK && got2 == got);

    // central differences w.r.t. pred (or the logits when fused)
    for (size_t k = 0; k < np; k++)
        xd[k] = fused ? x[k] : pred[k];
    const double h = 1e-6;
    for (size_t k = 0; k < np; k++) {
        double x0 = xd[k];
        xd[k] = x0 + h;
        double fp = ref_of_x(L, xd, tmp, y, n, dim);
        xd[k] = x0 - h;
        double fm = ref_of_x(L, xd, tmp, y, n, dim);
        xd[k] = x0;
        fd[k] = (float)(scale * (fp - fm) / (2 * h));
    }
    char what2[200];
    snprintf(what2, sizeof what2, "grad %s", what);
    check_close(what2, d, fd, np, 2e-6, 2e-4);

    // With a Keras mask (rows 1, 4, 7, ... masked; all rows when n = 1 is
    // unmasked): the reference's unmasked rows, over their count + 1e-7 for
    // the mean (Keras's apply_mask); the gradient is the unmasked one
    // rescaled from 1/n to 1/(valid + 1e-7), zero at masked rows.
    float *mask = check_alloc((size_t)n), *dm = check_alloc(np);
    double valid = 0, want = 0;
    for (int i = 0; i < n; i++) {
        mask[i] = i % 3 == 1 ? 0.0f : 1.0f;
        valid += mask[i];
    }
    for (size_t k = 0; k < np; k++)
        xd[k] = pred[k];
    ref_loss(L, xd, y, n, dim);     // (sets the batch-wide hinge rule)
    for (int i = 0; i < n; i++)
        if (mask[i] != 0.0f)
            want += ref_row(L, xd + (size_t)i * dim, y + (size_t)i * (sparse ? 1 : dim), dim);
    int mean = L->reduction == KDL_REDUCE_MEAN;
    if (mean)
        want /= valid + 1e-7;
    snprintf(what2, sizeof what2, "masked %s", what);
    st = kdl_loss_masked(L, &got, dm, pred, y, mask, n, dim, scale);
    check_true(what2, st == KDL_OK);
    check_near(what2, got, want, 1e-9, 1e-9);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) {
            size_t k = (size_t)i * dim + j;
            fd[k] = mask[i] == 0.0f ? 0.0f
                    : mean ? (float)(d[k] * (double)n / (valid + 1e-7)) : d[k];
        }
    snprintf(what2, sizeof what2, "masked grad %s", what);
    check_close(what2, dm, fd, np, 1e-7, 1e-5);

    // Sample weights (class_weight): each row's loss and gradient times its
    // weight; the mean still over n.
    want = 0;
    for (int i = 0; i < n; i++) {
        mask[i] = 0.25f + (float)(i % 4);
        want += mask[i] * ref_row(L, xd + (size_t)i * dim, y + (size_t)i * (sparse ? 1 : dim), dim);
    }
    if (mean)
        want /= n;
    snprintf(what2, sizeof what2, "weighted %s", what);
    st = kdl_loss_weighted(L, &got, dm, pred, y, mask, n, dim, scale);
    check_true(what2, st == KDL_OK);
    check_near(what2, got, want, 1e-9, 1e-9);
    for (size_t k = 0; k < np; k++)
        fd[k] = d[k] * mask[k / (size_t)dim];
    snprintf(what2, sizeof what2, "weighted grad %s", what);
    check_close(what2, dm, fd, np, 1e-7, 1e-6);
    free(mask), free(dm);
    free(x), free(y), free(pred), free(d), free(fd), free(ytmp), free(xd), free(tmp), free(row);
}

static void test_random(void) {
    static const int shapes[][2] = {{1, 1}, {3, 2}, {7, 5}, {4, 10}, {2, 3}};
    static const float scales[] = {1.0f, 0.5f, 2.5f, -1.0f};
    kdl_Loss cfg[64];
    int nc = 0;
    const kdl_Loss base = {KDL_LOSS_MSE, 0, 0.0f, 1.0f, KDL_REDUCE_MEAN, KDL_ACT_LINEAR};
    kdl_Loss c = base;
    cfg[nc++] = c;
    c.kind = KDL_LOSS_MAE, cfg[nc++] = c;
    c.kind = KDL_LOSS_HUBER;
    c.delta = 1.0f, cfg[nc++] = c;
    c.delta = 0.3f, cfg[nc++] = c;
    c.delta = 2.5f, cfg[nc++] = c;
    for (int k = KDL_LOSS_BCE; k <= KDL_LOSS_SCCE; k++) {
        for (int logits = 0; logits <= 1; logits++)
            for (int s = 0; s <= 1; s++) {
                if (k == KDL_LOSS_SCCE && s)
                    continue;
                c = base, c.kind = (kdl_LossKind)k, c.from_logits = logits;
                c.label_smoothing = s ? 0.1f : 0.0f;
                cfg[nc++] = c;
            }
        for (int s = 0; s <= 1; s++) {
            if (k == KDL_LOSS_SCCE && s)
                continue;
            c = base, c.kind = (kdl_LossKind)k;
            c.label_smoothing = s ? 0.2f : 0.0f;
            c.fused_act = k == KDL_LOSS_BCE ? KDL_ACT_SIGMOID : KDL_ACT_SOFTMAX;
            cfg[nc++] = c;
        }
    }
    // The losses without options; hinge with 0/1 targets (delta 1 here
    // selects them in gen_row), -1/1 ones (0), or one 0.5 in the batch (2).
    for (int k = KDL_LOSS_KLD; k <= KDL_LOSS_COSINE; k++) {
        c = base, c.kind = (kdl_LossKind)k;
        if (k == KDL_LOSS_HINGE || k == KDL_LOSS_SQUARED_HINGE)
            for (int v = 0; v < 3; v++)
                c.delta = (float)v, cfg[nc++] = c;
        else
            cfg[nc++] = c;
    }
    int r = 0;
    for (int i = 0; i < nc; i++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            for (int red = 0; red <= 1; red++, r++) {
                kdl_Loss L = cfg[i];
                L.reduction = red ? KDL_REDUCE_SUM : KDL_REDUCE_MEAN;
                run_case(&L, shapes[s][0], shapes[s][1], scales[r % 4]);
            }
        }
}

// ---- hand-made cases ---------------------------------------------------------------------------

static kdl_Loss mk(kdl_LossKind k, int logits, kdl_Act fused, kdl_Reduction red) {
    kdl_Loss L = {k, logits, 0.0f, 1.0f, red, fused};
    return L;
}

// The examples of Keras's docstrings (keras/src/losses/losses.py).
static void test_keras_examples(void) {
    const float yb[] = {0, 1, 0, 0}, pb[] = {0.6f, 0.4f, 0.4f, 0.6f};
    double l;
    kdl_Loss L = mk(KDL_LOSS_BCE, 0, KDL_ACT_LINEAR, KDL_REDUCE_SUM);
    kdl_loss(&L, &l, NULL, pb, yb, 1, 2, 1);
    check_near("bce example row 0 (0.916)", l, -(log(1 - (double)0.6f) + log(0.4f)) / 2, 1e-9, 0);
    kdl_loss(&L, &l, NULL, pb + 2, yb + 2, 1, 2, 1);
    check_near("bce example row 1 (0.714)", l,
               -(log(1 - (double)0.4f) + log(1 - (double)0.6f)) / 2, 1e-9, 0);
    L = mk(KDL_LOSS_HUBER, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, NULL, pb, yb, 2, 2, 1);
    check_near("huber example 0.155", l, 0.155, 1e-7, 0);
    const float pm[] = {1, 1, 0, 0};
    L = mk(KDL_LOSS_MSE, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, NULL, pm, yb, 2, 2, 1);
    check_near("mse example 0.25", l, 0.25, 1e-12, 0);
    L.kind = KDL_LOSS_MAE;
    kdl_loss(&L, &l, NULL, pm, yb, 2, 2, 1);
    check_near("mae example 0.25", l, 0.25, 1e-12, 0);

    const float yc[] = {0, 1, 0, 0, 0, 1}, pc[] = {0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f};
    const float ys[] = {1, 2};
    double want = (-log(0.95f) - log(0.1f)) / 2;   // [0.0513, 2.303]
    L = mk(KDL_LOSS_CCE, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, NULL, pc, yc, 2, 3, 1);
    check_near("cce example", l, want, 1e-7, 0);
    L.kind = KDL_LOSS_SCCE;
    kdl_loss(&L, &l, NULL, pc, ys, 2, 3, 1);
    check_near("scce example", l, want, 1e-7, 0);
}

// Clipping at 0 and 1, extreme logits, saturated fused outputs.
static void test_extremes(void) {
    double l;
    float d[3];
    // BCE: p = 0 with y = 1 and p = 1 with y = 0: -log(eps) and -log(1 - (1 - eps)); d = 0
    const float p01[] = {0, 1}, y10[] = {1, 0};
    kdl_Loss L = mk(KDL_LOSS_BCE, 0, KDL_ACT_LINEAR, KDL_REDUCE_SUM);
    kdl_loss(&L, &l, d, p01, y10, 1, 2, 1);
    check_near("bce clipped value", l, (-log(LO) - log(1 - HI)) / 2, 1e-9, 1e-12);
    check_true("bce clipped gradient is 0", d[0] == 0 && d[1] == 0);
    // BCE from logits, |z| = 100 and 1e4: finite, softplus exact
    const float zb[] = {100, -100, 1e4f}, yb[] = {0, 0, 1};
    L.from_logits = 1;
    kdl_loss(&L, &l, d, zb, yb, 1, 3, 3);
    check_near("bce logits |z| large", l, 100.0 / 3, 1e-9, 1e-12);
    check_true("bce logits gradient = sigmoid(z) - y", d[0] == 1 && fabsf(d[1]) < 1e-30f
                                                          && d[2] == 0);
    // fused sigmoid saturated to p = 1, y = 0: clipped loss, gradient p - y
    const float ps[] = {1.0f}, ys0[] = {0};
    L = mk(KDL_LOSS_BCE, 0, KDL_ACT_SIGMOID, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, d, ps, ys0, 1, 1, 1);
    check_near("fused sigmoid saturated value", l, -log(1 - HI), 1e-9, 1e-12);
    check_true("fused sigmoid saturated gradient", d[0] == 1.0f);
    // CCE / SCCE from logits: z = (1e4, 0, -1e4)
    const float zc[] = {1e4f, 0, -1e4f}, yc[] = {0, 1, 0}, lab[] = {1};
    L = mk(KDL_LOSS_CCE, 1, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, d, zc, yc, 1, 3, 1);
    check_near("cce logits 1e4", l, 1e4, 1e-9, 1e-12);
    check_true("cce logits 1e4 gradient", d[0] == 1 && d[1] == -1 && d[2] == 0);
    L.kind = KDL_LOSS_SCCE;
    kdl_loss(&L, &l, d, zc, lab, 1, 3, 1);
    check_near("scce logits 1e4", l, 1e4, 1e-9, 1e-12);
    check_true("scce logits 1e4 gradient", d[0] == 1 && d[1] == -1 && d[2] == 0);
    // fused softmax saturated p = (1, 0, 0) with label 1: -log(eps), gradient p - y
    const float pf[] = {1, 0, 0};
    L = mk(KDL_LOSS_SCCE, 0, KDL_ACT_SOFTMAX, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, d, pf, lab, 1, 3, 1);
    check_near("fused softmax saturated value", l, -log(LO), 1e-9, 1e-12);
    check_true("fused softmax saturated gradient", d[0] == 1 && d[1] == -1 && d[2] == 0);
    // unfused: q_1 = 0 is clipped, so d/dp_1 is only the renormalisation term 1/s
    L.fused_act = KDL_ACT_LINEAR;
    kdl_loss(&L, &l, d, pf, lab, 1, 3, 1);
    check_true("scce, every q clipped: zero gradient",
               d[0] == 0 && d[1] == 0 && d[2] == 0);
    // label smoothing, CCE by hand: t = (0.05, 0.9, 0.05) against p = (0.25, 0.5, 0.25)
    const float ph[] = {0.25f, 0.5f, 0.25f};
    L = mk(KDL_LOSS_CCE, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    L.label_smoothing = 0.15f;
    kdl_loss(&L, &l, NULL, ph, yc, 1, 3, 1);
    double t0 = 0.15f / 3.0, t1 = 1 - (double)0.15f + t0;
    check_near("cce label smoothing", l, -(2 * t0 * log(0.25) + t1 * log(0.5)), 1e-9, 1e-9);
    // BCE label smoothing 0.2: y = 1 -> 0.9
    const float pb[] = {0.75f}, one[] = {1};
    L = mk(KDL_LOSS_BCE, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    L.label_smoothing = 0.2f;
    kdl_loss(&L, &l, NULL, pb, one, 1, 1, 1);
    double t = 1 - 0.5 * (double)0.2f;
    check_near("bce label smoothing", l, -(t * log(0.75) + (1 - t) * log(0.25)), 1e-9, 1e-9);
}

static void test_errors(void) {
    const float p[] = {0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f};
    const float bad[] = {-1.0f, 3.0f, 1.5f, NAN, INFINITY, -0.5f};
    kdl_Loss L = mk(KDL_LOSS_SCCE, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float y[2] = {2.0f, bad[i]};
        float d[6] = {7, 7, 7, 7, 7, 7};
        double l = 42;
        kdl_Status st = kdl_loss(&L, &l, d, p, y, 2, 3, 1);
        int untouched = l == 42;
        for (int j = 0; j < 6; j++)
            untouched &= d[j] == 7;
        char what[64];
        snprintf(what, sizeof what, "scce label %g: KDL_ERR_INDEX, nothing written",
                 (double)bad[i]);
        check_true(what, st == KDL_ERR_INDEX && untouched);
    }
    float y[2] = {2.0f, 0.0f}, d[6];
    double l;
    check_true("scce labels 2, 0 accepted", kdl_loss(&L, &l, d, p, y, 2, 3, 1) == KDL_OK);
    l = 42;
    check_true("n = 0: loss 0", kdl_loss(&L, &l, d, p, y, 0, 3, 1) == KDL_OK && l == 0);
}

static void test_metrics(void) {
    // binary: (p > 0.5) == y exactly, mean over the last axis
    const float pb[] = {0.3f, 0.5f, 0.51f, 0.9f, 0.7f, 0.2f};
    const float yb[] = {0, 0, 1, 0, 0.7f, 0};
    check_near("binary accuracy (1 + 0.5 + 0.5)",
               kdl_metric_sum(KDL_METRIC_BINARY_ACCURACY, pb, yb, 3, 2), 2.0, 0, 0);
    check_near("binary accuracy dim 1",
               kdl_metric_sum(KDL_METRIC_BINARY_ACCURACY, pb, yb, 6, 1), 4.0, 0, 0);
    // categorical: first max wins, in pred and in y
    const float pc[] = {0.4f, 0.4f, 0.2f, 0.1f, 0.7f, 0.2f, 0.3f, 0.3f, 0.4f, 0.5f, 0.2f, 0.3f};
    const float yc[] = {0, 1, 0, 0, 1, 0, 0, 0, 1, 0.5f, 0.5f, 0};
    check_near("categorical accuracy",
               kdl_metric_sum(KDL_METRIC_CATEGORICAL_ACCURACY, pc, yc, 4, 3), 3.0, 0, 0);
    // sparse: argmax == label; non-integer or out-of-range labels never match
    const float ys[] = {0, 1, 2, 0};
    check_near("sparse categorical accuracy",
               kdl_metric_sum(KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY, pc, ys, 4, 3), 4.0, 0, 0);
    const float ys2[] = {1, 1.5f, -1, 3};
    check_near("sparse categorical accuracy, bad labels",
               kdl_metric_sum(KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY, pc, ys2, 4, 3), 0.0, 0, 0);
    // mse / mae: per-sample means, summed
    const float pr[] = {1, 2, 3, -1}, yr[] = {0, 0, 1, 1};
    check_near("mse metric", kdl_metric_sum(KDL_METRIC_MSE, pr, yr, 2, 2), 2.5 + 4.0, 1e-12, 0);
    check_near("mae metric", kdl_metric_sum(KDL_METRIC_MAE, pr, yr, 2, 2), 1.5 + 2.0, 1e-12, 0);
    check_near("metric n = 0", kdl_metric_sum(KDL_METRIC_MAE, pr, yr, 0, 2), 0.0, 0, 0);
    // masked: the unmasked rows only; kdl_mask_sum counts them
    const float m4[] = {1, 0, 1, 0};
    check_near("masked categorical accuracy",
               kdl_metric_sum_masked(KDL_METRIC_CATEGORICAL_ACCURACY, 0, pc, yc, m4, 4, 3), 1.0,
               0, 0);
    check_near("masked sparse accuracy",
               kdl_metric_sum_masked(KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY, 0, pc, ys2, m4, 4,
                                     3), 0.0, 0, 0);
    check_near("masked mse metric", kdl_metric_sum_masked(KDL_METRIC_MSE, 0, pr, yr, m4, 2, 2),
               2.5, 1e-12, 0);
    check_near("mask sum", kdl_mask_sum(m4, 4), 2.0, 0, 0);
    // class_weight: argmax of one-hot rows; labels rounded half to even
    // (np.round); unlisted classes and values no int32 holds weigh 1.
    const int ids[] = {0, 2, -1};
    const float cws[] = {0.5f, 3.0f, 7.0f};
    float w[6];
    kdl_class_weights(w, yc, 4, 3, ids, cws, 3);
    check_true("class weights of one-hot rows",
               w[0] == 1.0f && w[1] == 1.0f && w[2] == 3.0f && w[3] == 0.5f);
    const float lab[] = {2.5f, 1.5f, 0.5f, -1.2f, 3e9f, 1.0f};
    kdl_class_weights(w, lab, 6, 1, ids, cws, 3);
    check_true("class weights of labels",
               w[0] == 3.0f && w[1] == 3.0f && w[2] == 0.5f && w[3] == 7.0f && w[4] == 1.0f &&
               w[5] == 1.0f);
    check_near("unmasked = kdl_metric_sum_p",
               kdl_metric_sum_masked(KDL_METRIC_MAE, 0, pr, yr, NULL, 2, 2), 3.5, 1e-12, 0);
}

// The losses and metrics added with Keras 3's full set, on the examples of
// Keras's docstrings and hand-computed cases.
static void test_more_examples(void) {
    double l;
    float d[6];
    const float y2[] = {0, 1, 0, 0}, p2[] = {1, 1, 0, 0};
    // LogCosh / LogCoshError docstring: 0.108 (0.10844523)
    kdl_Loss L = mk(KDL_LOSS_LOG_COSH, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, NULL, p2, y2, 2, 2, 1);
    check_near("log_cosh example 0.10844523", l, 0.10844523, 1e-7, 0);
    // MeanSquaredLogarithmicError docstring: 0.12011322
    L.kind = KDL_LOSS_MSLE;
    kdl_loss(&L, &l, NULL, p2, y2, 2, 2, 1);
    check_near("msle example 0.12011322", l, 0.12011322, 1e-7, 0);
    // MeanAbsolutePercentageError docstring: 250000000.0 (|0 - 1| / eps, float32 eps)
    L.kind = KDL_LOSS_MAPE;
    kdl_loss(&L, &l, NULL, p2, y2, 2, 2, 1);
    check_near("mape example 2.5e8", l, 100.0 / LO / 4, 0, 1e-12);
    check_near("mape example, as Keras prints it", l, 250000000.0, 0, 1e-6);
    // cosine_similarity docstring: [-0., -0.99999994, 0.99999994]
    const float yc[] = {0, 1, 1, 1, 1, 1}, pc[] = {1, 0, 1, 1, -1, -1};
    L = mk(KDL_LOSS_COSINE, 0, KDL_ACT_LINEAR, KDL_REDUCE_SUM);
    kdl_loss(&L, &l, NULL, pc, yc, 1, 2, 1);
    check_near("cosine example row 0", l, 0.0, 1e-12, 0);
    kdl_loss(&L, &l, NULL, pc + 2, yc + 2, 1, 2, 1);
    check_near("cosine example row 1", l, -1.0, 1e-7, 0);
    kdl_loss(&L, &l, NULL, pc + 4, yc + 4, 1, 2, 1);
    check_near("cosine example row 2", l, 1.0, 1e-7, 0);
    // a zero vector: normalize caps the factor at 1 / eps, similarity 0, gradient -t/|t| / eps
    const float z2[] = {0, 0}, y34[] = {3, 4};
    kdl_loss(&L, &l, d, z2, y34, 1, 2, 1);
    check_true("cosine of a zero prediction", l == 0 && fabsf(d[0] + 0.6f / 1e-7f) < 1 &&
                                                  fabsf(d[1] + 0.8f / 1e-7f) < 1);
    // hinge: 0/1 targets become -1/1 only when the whole batch is 0/1
    const float ph[] = {0.3f, -0.5f, 2.0f, 0.0f}, yb[] = {1, 0, 0, 1}, ym[] = {1, 0, 0, 0.5f};
    L = mk(KDL_LOSS_HINGE, 0, KDL_ACT_LINEAR, KDL_REDUCE_SUM);
    kdl_loss(&L, &l, d, ph, yb, 2, 2, 1);
    // t = (1, -1, -1, 1): max(1 - t p, 0) = (0.7, 0.5, 3, 1) -> rows (0.6, 2.0)
    check_near("hinge with 0/1 targets", l, 0.6 + 2.0, 1e-7, 0);
    check_true("hinge gradient -t / dim", d[0] == -0.5f && d[1] == 0.5f && d[2] == 0.5f &&
                                              d[3] == -0.5f);
    kdl_loss(&L, &l, NULL, ph, ym, 2, 2, 1);
    // t as given: (1, 0, 0, 0.5): (0.7, 1, 1, 1) -> rows (0.85, 1.0)
    check_near("hinge, one target not 0/1: none converted", l, 0.85 + 1.0, 1e-7, 0);
    L.kind = KDL_LOSS_SQUARED_HINGE;
    kdl_loss(&L, &l, NULL, ph, yb, 2, 2, 1);
    check_near("squared hinge", l, (0.49 + 0.25) / 2 + (9.0 + 1.0) / 2, 1e-7, 0);
    // categorical hinge: pos = sum t p, neg = max (1 - t) p; max(neg - pos + 1, 0)
    const float pk[] = {0.2f, 0.7f, 0.1f, 0.9f, 0.05f, 0.05f}, yk[] = {0, 1, 0, 0, 0, 1};
    L = mk(KDL_LOSS_CATEGORICAL_HINGE, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, d, pk, yk, 2, 3, 1);
    check_near("categorical hinge", l, ((0.2 - 0.7 + 1) + (0.9 - 0.05 + 1)) / 2, 1e-7, 0);
    // two tied maxima share the max's gradient
    const float pt[] = {0.5f, 0.5f, 0.2f}, yt[] = {0, 0, 1};
    kdl_loss(&L, &l, d, pt, yt, 1, 3, 1);
    check_true("categorical hinge ties share the gradient",
               d[0] == 0.5f && d[1] == 0.5f && d[2] == -1.0f);
    // KL divergence: y clipped to [eps, 1], so a 0 target adds eps * log(eps / p)
    const float pq[] = {0.25f, 0.75f}, yq[] = {0, 1};
    L = mk(KDL_LOSS_KLD, 0, KDL_ACT_LINEAR, KDL_REDUCE_SUM);
    kdl_loss(&L, &l, d, pq, yq, 1, 2, 1);
    check_near("kld", l, LO * log(LO / 0.25) + log(1 / 0.75), 1e-12, 1e-9);
    // Poisson: p - t log(p + eps)
    const float pp[] = {2.0f}, yp[] = {3.0f};
    L = mk(KDL_LOSS_POISSON, 0, KDL_ACT_LINEAR, KDL_REDUCE_MEAN);
    kdl_loss(&L, &l, d, pp, yp, 1, 1, 1);
    check_near("poisson", l, 2 - 3 * log(2 + LO), 1e-12, 1e-12);
    check_near("poisson gradient", d[0], 1 - 3 / (2 + LO), 1e-7, 0);
}

static void test_more_metrics(void) {
    // BinaryAccuracy's threshold: ops.greater(p, threshold)
    const float pb[] = {0.3f, 0.7f, 0.71f}, yb[] = {0, 0, 1};
    check_near("binary accuracy threshold 0.2",
               kdl_metric_sum_p(KDL_METRIC_BINARY_ACCURACY, 0.2, pb, yb, 3, 1), 1.0, 0, 0);
    check_near("binary accuracy threshold 0.7 (strict)",
               kdl_metric_sum_p(KDL_METRIC_BINARY_ACCURACY, 0.7, pb, yb, 3, 1), 3.0, 0, 0);
    // Accuracy: exact equality, mean over the last axis
    const float pa[] = {1, 2, 3, 0}, ya[] = {1, 2, 0, 0};
    check_near("accuracy", kdl_metric_sum(KDL_METRIC_ACCURACY, pa, ya, 2, 2), 1.5, 0, 0);
    // top-k: the label's score has fewer than k scores strictly above it
    const float pk[] = {0.1f, 0.4f, 0.4f, 0.1f, 0.5f, 0.2f, 0.2f, 0.1f};
    const float yk[] = {0, 0, 1, 0, 0, 0, 0, 1};
    check_near("top-1 with a tie counts in",
               kdl_metric_sum_p(KDL_METRIC_TOP_K, 1, pk, yk, 2, 4), 1.0, 0, 0);
    check_near("top-3", kdl_metric_sum_p(KDL_METRIC_TOP_K, 3, pk, yk, 2, 4), 1.0, 0, 0);
    check_near("top-4", kdl_metric_sum_p(KDL_METRIC_TOP_K, 4, pk, yk, 2, 4), 2.0, 0, 0);
    const float ls[] = {2, 3};
    check_near("sparse top-1", kdl_metric_sum_p(KDL_METRIC_SPARSE_TOP_K, 1, pk, ls, 2, 4), 1.0,
               0, 0);
    check_near("sparse top-5 (k >= classes)",
               kdl_metric_sum(KDL_METRIC_SPARSE_TOP_K, pk, ls, 2, 4), 2.0, 0, 0);
    const float bad[] = {-1, 7.5f};
    check_near("sparse top-k, labels out of range",
               kdl_metric_sum(KDL_METRIC_SPARSE_TOP_K, pk, bad, 2, 4), 0.0, 0, 0);
}

static void test_regularize(void) {
    const float w[] = {-2, 0, 0.5f, 3};
    float g[4] = {1, 1, 1, 1};
    double r = kdl_regularize(w, g, 4, 0.01f, 0.1f, 2.0f);
    check_near("l1_l2 penalty", r, (double)0.01f * 5.5 + (double)0.1f * (4 + 0.25 + 9), 1e-9,
               1e-9);
    check_true("l1_l2 gradient, sign(0) = 0",
               fabsf(g[0] - (1 + 2 * (-0.01f + 0.2f * -2))) < 1e-6f && g[1] == 1.0f &&
                   fabsf(g[2] - (1 + 2 * (0.01f + 0.2f * 0.5f))) < 1e-6f &&
                   fabsf(g[3] - (1 + 2 * (0.01f + 0.2f * 3))) < 1e-6f);
    // l2 only: an infinite weight gives an infinite penalty, and no l1 NaN
    const float wi[] = {INFINITY};
    float gi[1] = {0};
    r = kdl_regularize(wi, gi, 1, 0.0f, 0.5f, 1.0f);
    check_true("l2 of inf", isinf(r) && isinf(gi[0]));
    check_near("no regularization", kdl_regularize(w, NULL, 4, 0, 0, 1), 0.0, 0, 0);
}

int main(void) {
    test_more_examples();
    test_more_metrics();
    test_regularize();
    test_random();
    test_keras_examples();
    test_extremes();
    test_errors();
    test_metrics();
    return check_report();
}
