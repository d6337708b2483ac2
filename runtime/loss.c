/*
 * loss.c - Keras 3's training losses with their gradients (kdl_loss), and
 * the metrics fit and evaluate log (kdl_metric_sum).
 *
 * Losses follow keras/src/losses/losses.py and the JAX/NumPy backends'
 * ops.*_crossentropy: per-sample values are a mean over the last axis
 * (MSE, MAE, Huber, BCE, hinge, squared hinge, Poisson, log-cosh, MAPE,
 * MSLE) or a sum over it (CCE, SCCE, KL divergence, cosine similarity;
 * categorical hinge is one value per row); the batch
 * reduction is their sum, divided by n for "sum_over_batch_size". Data are
 * float32, every sum is accumulated in double. Probabilities are clipped to
 * [1e-7, 1 - 1e-7] (backend.epsilon(), both bounds rounded to float32 as
 * Keras's float32 clip rounds them); categorical probabilities are first
 * renormalised by their row sum. Logit forms use log-sigmoid and
 * log-softmax written so that nothing overflows.
 *
 * Gradients are the exact derivative of the formula as written: zero where
 * a clip is active, taken through the renormalisation. A loss fused with
 * the output activation (softmax + CCE/SCCE, sigmoid + BCE) instead gives
 * the gradient w.r.t. the logits of the unclipped loss, t * sum(y) - y
 * (sigmoid: p - y), which is stable for any logits; its value is still
 * Keras's clipped-probability formula of the activation's output.
 */
#include "kdl.h"

#include <math.h>

// backend.epsilon() and 1 - epsilon() as a float32 clip sees them.
#define CLIP_LO ((double)1e-7f)
#define CLIP_HI ((double)(1.0f - 1e-7f))
// epsilon() as a float32 tensor holds it (Poisson, MAPE, MSLE, normalize).
#define KDL_EPSILON ((double)1e-7f)

// ---- scalar helpers -----------------------------------------------------------------------

// ops.clip to [CLIP_LO, CLIP_HI]; NaN passes through.
static inline double clip_prob(double x) {
    return x < CLIP_LO ? CLIP_LO : x > CLIP_HI ? CLIP_HI : x;
}

// True where the clip is active (its derivative is 0 there); false for NaN.
static inline int clipped(double x) {
    return x < CLIP_LO || x > CLIP_HI;
}

// sign(x), 0 at 0, NaN for NaN (the subgradient TF and JAX use for |x|).
static inline double sign(double x) {
    return x > 0 ? 1.0 : x < 0 ? -1.0 : x;
}

// log(1 + exp(-|x|)): the common term of softplus(x) and softplus(-x).
static inline double log1p_exp_neg_abs(double x) {
    return log1p(exp(-fabs(x)));
}

static inline double sigmoid(double x) {
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

// ---- one sample (row) per loss ---------------------------------------------------------------
// Each returns the sample's loss and, when d is not NULL, sets d (dim) to
// coef * d loss_row / d p (coef = scale, divided by n for MEAN).

// MSE, MAE, Huber: mean over the last axis of f(p - y).
static double row_regression(const kdl_Loss *L, float *d, const float *p, const float *y,
                             int dim, double coef) {
    double sum = 0, c = coef / dim, delta = L->delta;
    for (int j = 0; j < dim; j++) {
        double e = (double)p[j] - (double)y[j], a = fabs(e), l, g;
        if (L->kind == KDL_LOSS_MSE) {
            l = e * e;
            g = 2 * e;
        } else if (L->kind == KDL_LOSS_MAE) {
            l = a;
            g = sign(e);
        } else if (a <= delta) {   // Huber, quadratic part
            l = 0.5 * e * e;
            g = e;
        } else {
            l = delta * a - 0.5 * delta * delta;
            g = delta * sign(e);
        }
        sum += l;
        if (d)
            d[j] = (float)(c * g);
    }
    return sum / dim;
}

// Binary crossentropy, mean over the last axis; t = y (1 - ls) + ls / 2.
static double row_bce(const kdl_Loss *L, float *d, const float *p, const float *y, int dim,
                      double coef) {
    double sum = 0, c = coef / dim, ls = L->label_smoothing;
    int fused = !L->from_logits && L->fused_act == KDL_ACT_SIGMOID;
    for (int j = 0; j < dim; j++) {
        double t = (double)y[j] * (1 - ls) + 0.5 * ls, x = p[j], l, g;
        if (L->from_logits) {
            // -t log_sigmoid(x) - (1 - t) log_sigmoid(-x), log_sigmoid(x) = -softplus(-x)
            double common = log1p_exp_neg_abs(x);
            double sp_pos = (x > 0 ? x : 0) + common, sp_neg = (x < 0 ? -x : 0) + common;
            l = t * sp_neg + (1 - t) * sp_pos;
            g = sigmoid(x) - t;
        } else {
            double pc = clip_prob(x);
            l = -(t * log(pc) + (1 - t) * log(1 - pc));
            if (fused)
                g = x - t;
            else
                g = clipped(x) ? 0.0 : (1 - t) / (1 - pc) - t / pc;
        }
        sum += l;
        if (d)
            d[j] = (float)(c * g);
    }
    return sum / dim;
}

// The target of class j: y's row smoothed (CCE), or one-hot of label (SCCE,
// y NULL). SCCE has no label smoothing in Keras.
static inline double cce_target(const float *y, int label, int j, double ls, int dim) {
    if (!y)
        return j == label ? 1.0 : 0.0;
    return (double)y[j] * (1 - ls) + ls / dim;
}

// Categorical crossentropy -sum_j t_j log q_j over one row: from logits
// q = softmax(p); otherwise q = clip(p / sum(p)). y NULL: sparse, label.
static double row_cce(const kdl_Loss *L, float *d, const float *p, const float *y, int label,
                      int dim, double coef) {
    double ls = y ? L->label_smoothing : 0.0;
    if (L->from_logits) {
        // log_softmax(p)_j = p_j - lse; d/dp_k = softmax_k * sum(t) - t_k
        double m = p[0], se = 0, loss = 0, tsum = 0;
        for (int j = 1; j < dim; j++)
            if (p[j] > m)
                m = p[j];
        for (int j = 0; j < dim; j++)
            se += exp((double)p[j] - m);
        double lse = m + log(se);
        for (int j = 0; j < dim; j++) {
            double t = cce_target(y, label, j, ls, dim);
            if (t != 0)
                loss -= t * ((double)p[j] - lse);
            tsum += t;
        }
        if (d)
            for (int j = 0; j < dim; j++)
                d[j] = (float)(coef * (exp((double)p[j] - m) / se * tsum
                                       - cce_target(y, label, j, ls, dim)));
        return loss;
    }
    double s = 0, loss = 0, tsum = 0, a = 0;
    for (int j = 0; j < dim; j++)
        s += p[j];
    for (int j = 0; j < dim; j++) {
        double t = cce_target(y, label, j, ls, dim), q = p[j] / s;
        if (t != 0) {
            loss -= t * log(clip_prob(q));
            // a = sum_j (d loss / d q_j) q_j over the unclipped classes
            if (!clipped(q))
                a -= t;
        }
        tsum += t;
    }
    if (!d)
        return loss;
    if (L->fused_act == KDL_ACT_SOFTMAX) {
        // p = softmax(z): d loss / d z_k = p_k * sum(t) - t_k (unclipped)
        for (int j = 0; j < dim; j++)
            d[j] = (float)(coef * ((double)p[j] * tsum - cce_target(y, label, j, ls, dim)));
        return loss;
    }
    // q_j = p_j / s: d loss / d p_k = (g_k - sum_j g_j q_j) / s, g_j = -t_j / q_j
    // where q_j is not clipped, else 0.
    for (int j = 0; j < dim; j++) {
        double t = cce_target(y, label, j, ls, dim), q = p[j] / s;
        double g = t != 0 && !clipped(q) ? -t / q : 0.0;
        d[j] = (float)(coef * (g - a) / s);
    }
    return loss;
}

// The regression-type losses added with Keras 3's full set: a per-row mean
// (or sum) of f(p_j, t_j). hinge_pm: the targets are 0/1 and become -1/1.
static double row_elementwise(const kdl_Loss *L, float *d, const float *p, const float *y,
                              int dim, double coef, int hinge_pm) {
    double sum = 0, c = coef / dim;
    for (int j = 0; j < dim; j++) {
        double x = p[j], t = y[j], l = 0, g = 0;
        switch (L->kind) {
        case KDL_LOSS_HINGE:
        case KDL_LOSS_SQUARED_HINGE: {
            if (hinge_pm)
                t = 2 * t - 1;
            double m = 1 - t * x;
            if (m > 0) {
                l = L->kind == KDL_LOSS_HINGE ? m : m * m;
                g = L->kind == KDL_LOSS_HINGE ? -t : -2 * m * t;
            } else if (isnan(m)) {
                l = g = m;
            }
            break;
        }
        case KDL_LOSS_POISSON:
            // p - t log(p + eps), eps as float32 (a negative p + eps gives NaN, as Keras)
            l = x - t * log(x + KDL_EPSILON);
            g = 1 - t / (x + KDL_EPSILON);
            break;
        case KDL_LOSS_LOG_COSH: {
            // x + softplus(-2x) - log 2, with softplus(z) = max(z, 0) + log1p(exp(-|z|))
            double e = x - t, z = -2 * e;
            l = e + (z > 0 ? z : 0) + log1p(exp(-fabs(z))) - (double)(float)log(2.0);
            g = tanh(e);
            break;
        }
        case KDL_LOSS_MAPE: {
            double den = fabs(t) > KDL_EPSILON ? fabs(t) : KDL_EPSILON, e = t - x;
            l = 100 * fabs(e) / den;
            g = -100 * sign(e) / den;
            break;
        }
        case KDL_LOSS_MSLE: {
            int active = x > KDL_EPSILON;     // maximum(x, eps); NaN stays NaN
            double a = log((active || isnan(x) ? x : KDL_EPSILON) + 1);
            double b = log((t > KDL_EPSILON ? t : KDL_EPSILON) + 1);
            l = (a - b) * (a - b);
            g = active ? 2 * (a - b) / (x + 1) : isnan(x) ? x : 0.0;
            break;
        }
        default:
            break;
        }
        sum += l;
        if (d)
            d[j] = (float)(c * g);
    }
    return sum / dim;
}

// KL divergence over one row: sum t log(t / q), t = clip(y, eps, 1),
// q = clip(p, eps, 1); d/dp = -t / q where p is not clipped.
static double row_kld(float *d, const float *p, const float *y, int dim, double coef) {
    double sum = 0;
    for (int j = 0; j < dim; j++) {
        double t = y[j] < CLIP_LO ? CLIP_LO : y[j] > 1 ? 1 : y[j];
        double x = p[j], q = x < CLIP_LO ? CLIP_LO : x > 1 ? 1 : x;
        if (isnan(x))
            q = x;
        if (isnan((double)y[j]))
            t = y[j];
        sum += t * log(t / q);
        if (d)
            d[j] = (float)(x < CLIP_LO || x > 1 ? 0.0 : coef * -t / q);
    }
    return sum;
}

// Categorical hinge over one row: max(neg - pos + 1, 0) with pos = sum t p
// and neg = max_j (1 - t_j) p_j; the max's gradient is shared equally by
// the tied maxima (as TF and JAX do).
static double row_categorical_hinge(float *d, const float *p, const float *y, int dim,
                                    double coef) {
    double pos = 0, neg = -INFINITY;
    int ties = 0;
    for (int j = 0; j < dim; j++) {
        double v = (1 - (double)y[j]) * p[j];
        pos += (double)y[j] * p[j];
        if (v > neg) {
            neg = v;
            ties = 1;
        } else if (v == neg) {
            ties++;
        }
    }
    double m = neg - pos + 1, l = m > 0 ? m : isnan(m) ? m : 0;
    if (d)
        for (int j = 0; j < dim; j++) {
            double v = (1 - (double)y[j]) * p[j], g = 0;
            if (m > 0)
                g = (v == neg ? (1 - (double)y[j]) / ties : 0) - y[j];
            d[j] = (float)(coef * g);
        }
    return l;
}

// Keras's normalize(x) (ops.nn.normalize, order 2): x * min(rsqrt(x.x),
// 1 / eps). Returns the factor; *capped when the minimum takes 1 / eps.
static double l2_factor(const float *x, int dim, int *capped) {
    double s = 0;
    for (int j = 0; j < dim; j++)
        s += (double)x[j] * x[j];
    double r = 1 / sqrt(s), cap = 1 / KDL_EPSILON;
    *capped = !(r < cap);
    return *capped ? cap : r;
}

// -sum(normalize(t) * normalize(p)) over one row. Where the factor of p is
// 1/|p|: d/dp_k = -(tn_k - (tn . pn) pn_k) / |p|; capped: -tn_k / eps.
static double row_cosine(float *d, const float *p, const float *y, int dim, double coef) {
    int cp, ct;
    double rp = l2_factor(p, dim, &cp), rt = l2_factor(y, dim, &ct), dot = 0;
    for (int j = 0; j < dim; j++)
        dot += (double)y[j] * rt * p[j] * rp;
    if (d)
        for (int j = 0; j < dim; j++) {
            double tn = (double)y[j] * rt, g = cp ? -tn * rp : -(tn - dot * p[j] * rp) * rp;
            d[j] = (float)(coef * g);
        }
    return -dot;
}

// True when every target is exactly 0 or 1 (Keras's hinge then maps them to
// -1/1; the test covers the whole batch, as Keras's ops.all does).
static int binary_targets(const float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (y[i] != 0.0f && y[i] != 1.0f)
            return 0;
    return 1;
}

// ---- public entry points --------------------------------------------------------------------

// See kdl.h. n <= 0 gives a loss of 0. SCCE labels are all checked first
// (masked rows too, as Keras computes every row before masking): on
// KDL_ERR_INDEX neither *loss nor dpred is written. label_smoothing is
// ignored by SCCE (Keras's SparseCategoricalCrossentropy has none), and
// fused_act is honoured only with from_logits false for CCE/SCCE (SOFTMAX)
// and BCE (SIGMOID); any other value means no fusion.
// The loss over rows weighted by w (NULL: all 1), reduced over `rows`
// (MEAN) or summed; a row of weight 0 is skipped: no loss, a zero gradient
// (Keras's weight 0 would also turn a non-finite row loss into NaN).
static kdl_Status weighted_loss(const kdl_Loss *L, double *loss, float *dpred, const float *pred,
                                const float *y_true, const float *w, double rows, int n,
                                int dim, float scale) {
    if (L->kind == KDL_LOSS_SCCE)
        for (int i = 0; i < n; i++) {
            float lab = y_true[i];
            if (!(lab >= 0.0f && lab < (float)dim && floorf(lab) == lab))
                return KDL_ERR_INDEX;
        }
    int mean = L->reduction != KDL_REDUCE_SUM && n > 0;
    double coef0 = mean ? (double)scale / rows : (double)scale, total = 0;
    int hinge_pm = (L->kind == KDL_LOSS_HINGE || L->kind == KDL_LOSS_SQUARED_HINGE) && n > 0 &&
                   binary_targets(y_true, (size_t)n * (size_t)dim);
    for (int i = 0; i < n; i++) {
        size_t off = (size_t)i * (size_t)dim;
        const float *p = pred + off;
        float *d = dpred ? dpred + off : NULL;
        double wi = w ? (double)w[i] : 1.0, coef = coef0 * wi, l = 0;
        if (wi == 0.0) {
            for (int j = 0; d && j < dim; j++)
                d[j] = 0.0f;
            continue;
        }
        switch (L->kind) {
        case KDL_LOSS_MSE:
        case KDL_LOSS_MAE:
        case KDL_LOSS_HUBER:
            l = row_regression(L, d, p, y_true + off, dim, coef);
            break;
        case KDL_LOSS_BCE:
            l = row_bce(L, d, p, y_true + off, dim, coef);
            break;
        case KDL_LOSS_CCE:
            l = row_cce(L, d, p, y_true + off, 0, dim, coef);
            break;
        case KDL_LOSS_SCCE:
            l = row_cce(L, d, p, NULL, (int)y_true[i], dim, coef);
            break;
        case KDL_LOSS_KLD:
            l = row_kld(d, p, y_true + off, dim, coef);
            break;
        case KDL_LOSS_CATEGORICAL_HINGE:
            l = row_categorical_hinge(d, p, y_true + off, dim, coef);
            break;
        case KDL_LOSS_COSINE:
            l = row_cosine(d, p, y_true + off, dim, coef);
            break;
        case KDL_LOSS_HINGE:
        case KDL_LOSS_SQUARED_HINGE:
        case KDL_LOSS_POISSON:
        case KDL_LOSS_LOG_COSH:
        case KDL_LOSS_MAPE:
        case KDL_LOSS_MSLE:
            l = row_elementwise(L, d, p, y_true + off, dim, coef, hinge_pm);
            break;
        }
        total += wi * l;
    }
    *loss = mean ? total / rows : total;
    return KDL_OK;
}

kdl_Status kdl_loss(const kdl_Loss *L, double *loss, float *dpred, const float *pred,
                    const float *y_true, int n, int dim, float scale) {
    return weighted_loss(L, loss, dpred, pred, y_true, NULL, n, n, dim, scale);
}

// With a mask, Keras's apply_mask (keras/src/losses/loss.py): for
// "sum_over_batch_size" each unmasked row weighs total / (valid + epsilon)
// before the mean over all `total` rows, i.e. the loss is the sum over the
// unmasked rows / (valid + 1e-7); for "sum" the weights are the mask.
kdl_Status kdl_loss_masked(const kdl_Loss *L, double *loss, float *dpred, const float *pred,
                           const float *y_true, const float *mask, int n, int dim, float scale) {
    double valid = 0;
    for (int i = 0; mask && i < n; i++)
        valid += mask[i] != 0.0f;
    return weighted_loss(L, loss, dpred, pred, y_true, mask, mask ? valid + KDL_EPSILON : n, n,
                         dim, scale);
}

// Sample weights (reduce_weighted_values): the weighted rows' sum, over the
// number of rows for "sum_over_batch_size" (not over the weights' sum).
kdl_Status kdl_loss_weighted(const kdl_Loss *L, double *loss, float *dpred, const float *pred,
                             const float *y_true, const float *w, int n, int dim, float scale) {
    double rows = n;
    if (w && L->reduction == KDL_REDUCE_MEAN_WEIGHTS) {
        // "mean_with_sample_weight": over the weights' sum (divide_no_nan)
        rows = 0;
        for (int i = 0; i < n; i++)
            rows += w[i];
        if (rows == 0) {
            kdl_Status st = weighted_loss(L, loss, dpred, pred, y_true, w, 1, n, dim, 0.0f);
            *loss = 0;
            return st;
        }
    }
    return weighted_loss(L, loss, dpred, pred, y_true, w, rows, n, dim, scale);
}

static int argmax(const float *x, int dim);

// See kdl.h: keras/src/trainers/data_adapters/data_adapter_utils.py
// class_weight_to_sample_weights. The class of a row is its argmax when
// dim > 1, else its value rounded half to even (np.round); classes the
// table does not list, and values no int32 holds, weigh 1.
void kdl_class_weights(float *w, const float *y, int n, int dim, const int *ids,
                       const float *weights, int nw) {
    for (int i = 0; i < n; i++) {
        const float *r = y + (size_t)i * (size_t)dim;
        double c = 0;
        if (dim > 1)
            c = argmax(r, dim);
        else
            c = nearbyint((double)r[0]);
        w[i] = 1.0f;
        if (!(c >= -2147483648.0 && c <= 2147483647.0))
            continue;
        for (int k = 0; k < nw; k++)
            if (ids[k] == (int)c) {
                w[i] = weights[k];
                break;
            }
    }
}

// Index of the largest of x (dim), the first one on ties; a NaN counts as
// the largest (numpy's and jnp.argmax's rule).
static int argmax(const float *x, int dim) {
    int best = 0;
    if (isnan(x[0]))
        return 0;
    for (int j = 1; j < dim; j++) {
        if (isnan(x[j]))
            return j;
        if (x[j] > x[best])
            best = j;
    }
    return best;
}

// See kdl.h. As keras/src/metrics: binary accuracy compares (p > 0.5) as
// 0/1 with y exactly (a y of 0.7 never matches) and averages over the last
// axis; sparse accuracy compares argmax p with the label as a float (so a
// non-integer or out-of-range label counts as a miss, not an error).
double kdl_metric_sum(kdl_MetricKind k, const float *pred, const float *y_true, int n, int dim) {
    return kdl_metric_sum_p(k, k == KDL_METRIC_BINARY_ACCURACY ? 0.5 : 5, pred, y_true, n, dim);
}

// ops.in_top_k as the JAX and TensorFlow backends define it: the label is in
// the top k when fewer than k predictions are strictly greater than its own
// (so ties straddling the boundary count in); a NaN at the label counts as
// -inf. A label outside [0, dim) is never in.
static int in_top_k(const float *p, int dim, int label, double k) {
    if (label < 0 || label >= dim)
        return 0;
    float v = isnan(p[label]) ? -INFINITY : p[label];
    int greater = 0;
    for (int j = 0; j < dim; j++)
        greater += p[j] > v;
    return greater < k;
}

double kdl_metric_sum_p(kdl_MetricKind k, double param, const float *pred, const float *y_true,
                        int n, int dim) {
    return kdl_metric_sum_masked(k, param, pred, y_true, NULL, n, dim);
}

// Keras's MeanMetricWrapper weighs each row's value by the output's mask
// (apply_mask with reduction "sum": the 0/1 mask itself); the running mean
// then divides by the sum of the masks (kdl_mask_sum).
double kdl_metric_sum_masked(kdl_MetricKind k, double param, const float *pred,
                             const float *y_true, const float *mask, int n, int dim) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        size_t off = (size_t)i * (size_t)dim;
        if (mask && mask[i] == 0.0f)
            continue;
        const float *p = pred + off;
        double s = 0;
        switch (k) {
        case KDL_METRIC_BINARY_ACCURACY:
            // ops.greater(y_pred, threshold) in float32
            for (int j = 0; j < dim; j++)
                s += (p[j] > (float)param ? 1.0f : 0.0f) == y_true[off + j];
            total += s / dim;
            break;
        case KDL_METRIC_ACCURACY:
            for (int j = 0; j < dim; j++)
                s += p[j] == y_true[off + j];
            total += s / dim;
            break;
        case KDL_METRIC_TOP_K:
            total += in_top_k(p, dim, argmax(y_true + off, dim), param);
            break;
        case KDL_METRIC_SPARSE_TOP_K: {
            // the label cast to int32 (truncation), as Keras's ops.cast
            float lab = y_true[i];
            total += lab > -2147483648.0f && lab < 2147483648.0f &&
                     in_top_k(p, dim, (int)lab, param);
            break;
        }
        case KDL_METRIC_CATEGORICAL_ACCURACY:
            total += argmax(p, dim) == argmax(y_true + off, dim);
            break;
        case KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY:
            total += (float)argmax(p, dim) == y_true[i];
            break;
        case KDL_METRIC_MSE:
        case KDL_METRIC_MAE:
            for (int j = 0; j < dim; j++) {
                double e = (double)p[j] - (double)y_true[off + j];
                s += k == KDL_METRIC_MSE ? e * e : fabs(e);
            }
            total += s / dim;
            break;
        }
    }
    return total;
}

double kdl_mask_sum(const float *mask, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += mask[i] != 0.0f;
    return s;
}

// ---- regularizers ------------------------------------------------------------------------------

// See kdl.h: keras.regularizers L1 / L2 / L1L2 (l1 * sum |w| + l2 * sum w^2,
// no factor 1/2), the gradient's sign(0) = 0 as TF's and JAX's |x|.
double kdl_regularize(const float *w, float *g, size_t n, float l1, float l2, float scale) {
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double x = w[i];
        s1 += fabs(x);
        s2 += x * x;
    }
    if (g) {
        double a = (double)scale * l1, b = 2.0 * scale * l2;
        for (size_t i = 0; i < n; i++)
            g[i] += (float)((l1 != 0.0f ? a * sign(w[i]) : 0.0) + (l2 != 0.0f ? b * w[i] : 0.0));
    }
    return (l1 != 0.0f ? l1 * s1 : 0.0) + (l2 != 0.0f ? l2 * s2 : 0.0);
}
