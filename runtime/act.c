/*
 * act.c - every Keras 3 activation, element-wise, plus softmax and
 * log-softmax over the last axis.
 *
 * Definitions follow keras.activations (Keras 3): hard_sigmoid is
 * relu6(x + 3) / 6, gelu is the exact erf form (approximate=False), selu
 * uses Keras's rounded constants, and sigmoid, softplus and softmax are
 * written so that no intermediate overflows for large |x|.
 *
 * Each activation is a small inline function; one macro expands it into a
 * plain contiguous loop per activation (the switch is outside the loop), so
 * the compiler vectorises the branch-free ones (GCC 12: at -O3, or -O2
 * -ftree-vectorize; plain -O2 skips loops that need a remainder). Those
 * that call expf/erff/tanhf stay scalar libm calls. The same loops, with a bias
 * added first, are the fused epilogue of dense and convolution layers
 * (kdl_bias_act_forward, see internal.h).
 *
 * Training: the derivatives, as act'(x) for every activation and, for those
 * where it is a function of the output, as act'(x) written with y = act(x)
 * (kdl_act_grad_from_output), which is what layers with a fused activation
 * use: their backward starts with kdl_act_grad_output (dz = dy * act'). The
 * softmax gradients work per row from y: y (dy - sum(dy y)) for softmax,
 * dy - exp(y) sum(dy) for log-softmax.
 *
 * Large calls are split over the thread pool (kdl_parallel_for) by rows or
 * elements; each value depends on its own inputs only (a softmax row stays
 * on one thread), so the results do not depend on the thread count.
 */
#include "internal.h"

#include <assert.h>
#include <math.h>
#include <string.h>

// Keras's selu constants (keras.activations.selu), as float literals.
#define SELU_ALPHA 1.67326324f
#define SELU_SCALE 1.05070098f

// ---- the scalar definitions -----------------------------------------------------------
// `a` is alpha (LEAKY_RELU slope, ELU alpha); unused by the others. Comparisons are
// written so that NaN propagates (x < 0 is false for NaN).

static inline float act_linear(float x, float a) {
    (void)a;
    return x;
}

static inline float act_relu(float x, float a) {
    (void)a;
    return x < 0.0f ? 0.0f : x;
}

static inline float act_relu6(float x, float a) {
    (void)a;
    x = x < 0.0f ? 0.0f : x;
    return x > 6.0f ? 6.0f : x;
}

// x < 0 ? a x : x, written with the multiply outside the select: a
// conditional multiply may trap, so the compiler would keep the branch and
// not vectorise. For x < 0 it is 0 + a x, otherwise x + a 0.
static inline float act_leaky_relu(float x, float a) {
    float neg = x < 0.0f ? x : 0.0f, pos = x < 0.0f ? 0.0f : x;
    return pos + a * neg;
}

// alpha * (exp(x) - 1) for x < 0; expm1f keeps small |x| accurate.
static inline float act_elu(float x, float a) {
    return x > 0.0f ? x : a * expm1f(x);
}

static inline float act_selu(float x, float a) {
    (void)a;
    return SELU_SCALE * (x > 0.0f ? x : SELU_ALPHA * expm1f(x));
}

// 0.5 x (1 + erf(x / sqrt(2)))
static inline float act_gelu(float x, float a) {
    (void)a;
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

// Stable sigmoid with one exp: e = exp(-|x|) <= 1, so 1 / (1 + e) is
// sigmoid(|x|) and e / (1 + e) is sigmoid(-|x|).
static inline float act_sigmoid(float x, float a) {
    (void)a;
    float e = expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

static inline float act_silu(float x, float a) {
    return x * act_sigmoid(x, a);
}

// relu6(x + 3) / 6, computed as clamp((x + 3) / 6, 0, 1): rounding is
// monotonic and 6 / 6 == 1, so the results are identical, and with the
// division first the loop has no control flow left to stop vectorisation.
static inline float act_hard_sigmoid(float x, float a) {
    (void)a;
    float v = (x + 3.0f) / 6.0f;
    v = v < 0.0f ? 0.0f : v;
    return v > 1.0f ? 1.0f : v;
}

static inline float act_tanh(float x, float a) {
    (void)a;
    return tanhf(x);
}

// log(1 + exp(x)) = log1p(exp(-|x|)) + max(x, 0): exp never overflows.
static inline float act_softplus(float x, float a) {
    (void)a;
    return log1pf(expf(-fabsf(x))) + (x > 0.0f ? x : 0.0f);
}

static inline float act_softsign(float x, float a) {
    (void)a;
    return x / (1.0f + fabsf(x));
}

static inline float act_exponential(float x, float a) {
    (void)a;
    return expf(x);
}

// Keras 3: hard_silu(x) = x * hard_sigmoid(x).
static inline float act_hard_silu(float x, float a) {
    return x * act_hard_sigmoid(x, a);
}

// Keras 3: mish(x) = x * tanh(softplus(x)).
static inline float act_mish(float x, float a) {
    return x * tanhf(act_softplus(x, a));
}

// ---- softmax ---------------------------------------------------------------------------

// One row of n values: o = softmax(x + b) or log_softmax(x + b); b may be
// NULL, o may equal x. softmax = exp(x - max) / sum; log_softmax =
// (x - max) - log(sum), with sum = sum(exp(x - max)) >= 1 accumulated in
// double so long rows (vocabularies) lose nothing.
static void softmax_row(float *o, const float *x, const float *b, size_t n, int log) {
    if (n == 0)
        return;
    float m = -INFINITY;
    if (b) {
        for (size_t j = 0; j < n; j++) {
            float v = x[j] + b[j];
            o[j] = v;
            m = v > m ? v : m;
        }
        x = o;
    } else {
        for (size_t j = 0; j < n; j++)
            m = x[j] > m ? x[j] : m;
    }
    double s = 0.0;
    if (log) {
        for (size_t j = 0; j < n; j++)
            s += expf(x[j] - m);
        // (x - max) - log(sum), not x - (max + log(sum)): the latter rounds
        // at the magnitude of max and loses the small log-probabilities.
        float ls = logf((float)s);
        for (size_t j = 0; j < n; j++)
            o[j] = (x[j] - m) - ls;
    } else {
        for (size_t j = 0; j < n; j++) {
            float e = expf(x[j] - m);
            o[j] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (size_t j = 0; j < n; j++)
            o[j] *= inv;
    }
}

// ---- the thread pool -------------------------------------------------------------------
// Every loop below is split over rows (softmax-like activations) or over
// elements: each output depends on its own inputs only, so any split gives
// the same bits.

// What one element costs, in kdl_grain's units: libm calls are dearer.
static size_t act_cost(kdl_Act act) {
    switch (act) {
    case KDL_ACT_LINEAR:
    case KDL_ACT_RELU:
    case KDL_ACT_RELU6:
    case KDL_ACT_LEAKY_RELU:
    case KDL_ACT_HARD_SIGMOID:
    case KDL_ACT_SOFTSIGN:
    case KDL_ACT_HARD_SILU:
        return 1;
    default:
        return 8;
    }
}

typedef struct ActJob {
    float *out;
    const float *in, *b, *y;
    size_t cols;
    kdl_Act act;
    float alpha;
    int log;                // softmax: log-softmax
    int flat;               // backward: the range is elements, not rows of cols
} ActJob;

static void softmax_task(void *ctx, size_t r0, size_t r1) {
    const ActJob *j = ctx;
    for (size_t r = r0; r < r1; r++)
        softmax_row(j->out + r * j->cols, j->in + r * j->cols, NULL, j->cols, j->log);
}

void kdl_softmax_forward(float *out, const float *in, size_t rows, size_t cols, int log) {
    ActJob j = {out, in, NULL, NULL, cols, KDL_ACT_SOFTMAX, 0.0f, log, 0};
    kdl_parallel_for(rows, kdl_grain(cols * 8), softmax_task, &j);
}

// ---- the shared loop ---------------------------------------------------------------------

// out (rows, cols) = act(in + b), b (cols) or NULL, out may equal in.
// Element-wise activations with no bias see one flat row of rows * cols.
static void act_rows_serial(float *out, const float *in, const float *b, size_t rows, size_t cols,
                            kdl_Act act, float alpha) {
    if (!b && act != KDL_ACT_SOFTMAX && act != KDL_ACT_LOG_SOFTMAX) {
        cols *= rows;
        rows = cols ? 1 : 0;
    }
#define ACT_LOOP(f)                                                                               \
    for (size_t r = 0; r < rows; r++) {                                                           \
        float *o = out + r * cols;                                                                \
        const float *x = in + r * cols;                                                           \
        if (b)                                                                                    \
            for (size_t j = 0; j < cols; j++)                                                     \
                o[j] = f(x[j] + b[j], alpha);                                                     \
        else                                                                                      \
            for (size_t j = 0; j < cols; j++)                                                     \
                o[j] = f(x[j], alpha);                                                            \
    }                                                                                             \
    break

    switch (act) {
    case KDL_ACT_LINEAR:
        if (!b) {
            if (out != in && rows)
                memmove(out, in, sizeof(float) * cols);
            break;
        }
        ACT_LOOP(act_linear);
    case KDL_ACT_RELU: ACT_LOOP(act_relu);
    case KDL_ACT_RELU6: ACT_LOOP(act_relu6);
    case KDL_ACT_LEAKY_RELU: ACT_LOOP(act_leaky_relu);
    case KDL_ACT_ELU: ACT_LOOP(act_elu);
    case KDL_ACT_SELU: ACT_LOOP(act_selu);
    case KDL_ACT_GELU: ACT_LOOP(act_gelu);
    case KDL_ACT_SILU: ACT_LOOP(act_silu);
    case KDL_ACT_SIGMOID: ACT_LOOP(act_sigmoid);
    case KDL_ACT_HARD_SIGMOID: ACT_LOOP(act_hard_sigmoid);
    case KDL_ACT_TANH: ACT_LOOP(act_tanh);
    case KDL_ACT_SOFTPLUS: ACT_LOOP(act_softplus);
    case KDL_ACT_SOFTSIGN: ACT_LOOP(act_softsign);
    case KDL_ACT_EXPONENTIAL: ACT_LOOP(act_exponential);
    case KDL_ACT_HARD_SILU: ACT_LOOP(act_hard_silu);
    case KDL_ACT_MISH: ACT_LOOP(act_mish);
    case KDL_ACT_SOFTMAX:
    case KDL_ACT_LOG_SOFTMAX:
        for (size_t r = 0; r < rows; r++)
            softmax_row(out + r * cols, in + r * cols, b, cols, act == KDL_ACT_LOG_SOFTMAX);
        break;
    default:
        assert(!"kdl: unknown activation");
    }
#undef ACT_LOOP
}

static void act_task(void *ctx, size_t r0, size_t r1) {
    const ActJob *j = ctx;
    act_rows_serial(j->out + r0 * j->cols, j->in + r0 * j->cols, j->b, r1 - r0, j->cols, j->act,
                    j->alpha);
}

// act_rows_serial over the thread pool: rows, or elements when flat.
static void act_rows(float *out, const float *in, const float *b, size_t rows, size_t cols,
                     kdl_Act act, float alpha) {
    if (!b && act != KDL_ACT_SOFTMAX && act != KDL_ACT_LOG_SOFTMAX) {
        rows *= cols;
        cols = 1;
    }
    ActJob j = {out, in, b, NULL, cols, act, alpha, 0, 0};
    kdl_parallel_for(rows, kdl_grain(cols * act_cost(act)), act_task, &j);
}

// ---- public entry points ------------------------------------------------------------------

// out (n) = act(in (n)). SOFTMAX / LOG_SOFTMAX here treat the n values as
// one row; callers with a last axis use kdl_activation_forward.
void kdl_act_forward(float *out, const float *in, size_t n, kdl_Act act, float alpha) {
    act_rows(out, in, NULL, 1, n, act, alpha);
}

// out (rows, cols) = act(in (rows, cols)), softmax-like ones per row.
void kdl_activation_forward(float *out, const float *in, size_t rows, size_t cols, kdl_Act act,
                            float alpha) {
    if (act == KDL_ACT_SOFTMAX || act == KDL_ACT_LOG_SOFTMAX)
        kdl_softmax_forward(out, in, rows, cols, act == KDL_ACT_LOG_SOFTMAX);
    else
        act_rows(out, in, NULL, rows, cols, act, alpha);
}

// out (rows, cols) = act(out + b (cols)); see internal.h.
void kdl_bias_act_forward(float *out, const float *b, size_t rows, size_t cols, kdl_Act act,
                          float alpha) {
    if (!b && act == KDL_ACT_LINEAR)
        return;
    act_rows(out, out, b, rows, cols, act, alpha);
}

// ---- backward: derivatives ------------------------------------------------------------
// d_<act>(x, a) = act'(x). At kinks they follow TensorFlow and PyTorch: the
// derivative of relu is 0 at 0, relu6's is 0 at 0 and at 6, hard_sigmoid's
// is 1/6 strictly inside (-3, 3) only, leaky_relu's is alpha at 0, and the
// rest are what autodiff of the forward formula gives.

static inline float d_linear(float x, float a) {
    (void)x;
    (void)a;
    return 1.0f;
}

static inline float d_relu(float x, float a) {
    (void)a;
    return x > 0.0f ? 1.0f : 0.0f;
}

static inline float d_relu6(float x, float a) {
    (void)a;
    return x > 0.0f && x < 6.0f ? 1.0f : 0.0f;
}

static inline float d_leaky_relu(float x, float a) {
    return x > 0.0f ? 1.0f : a;
}

static inline float d_elu(float x, float a) {
    return x > 0.0f ? 1.0f : a * expf(x);
}

static inline float d_selu(float x, float a) {
    (void)a;
    return x > 0.0f ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * expf(x);
}

// Phi(x) + x phi(x), phi the standard normal density.
static inline float d_gelu(float x, float a) {
    (void)a;
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    return cdf + x * 0.39894228040143268f * expf(-0.5f * x * x);
}

static inline float d_sigmoid(float x, float a) {
    float s = act_sigmoid(x, a);
    return s * (1.0f - s);
}

// s + x s (1 - s)
static inline float d_silu(float x, float a) {
    float s = act_sigmoid(x, a);
    return s * (1.0f + x * (1.0f - s));
}

// relu6'(x + 3) / 6, the shift rounded as the forward rounds it.
static inline float d_hard_sigmoid(float x, float a) {
    (void)a;
    float v = x + 3.0f;
    return v > 0.0f && v < 6.0f ? 1.0f / 6.0f : 0.0f;
}

static inline float d_tanh(float x, float a) {
    (void)a;
    float t = tanhf(x);
    return 1.0f - t * t;
}

static inline float d_softplus(float x, float a) {
    return act_sigmoid(x, a);
}

static inline float d_softsign(float x, float a) {
    (void)a;
    float d = 1.0f + fabsf(x);
    return 1.0f / (d * d);
}

static inline float d_exponential(float x, float a) {
    (void)a;
    return expf(x);
}

// hard_sigmoid(x) + x hard_sigmoid'(x): 0 up to -3, 1 from 3 (autodiff of
// x * relu6(x + 3) / 6, as the TensorFlow and JAX backends compute it).
static inline float d_hard_silu(float x, float a) {
    return act_hard_sigmoid(x, a) + x * d_hard_sigmoid(x, a);
}

// tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x), sp = softplus(x).
static inline float d_mish(float x, float a) {
    float t = tanhf(act_softplus(x, a));
    return t + x * (1.0f - t * t) * act_sigmoid(x, a);
}

// ---- backward: derivatives from the output ---------------------------------------------
// g_<act>(y, a) = act'(x) written with y = act(x), exact for the activations
// kdl_act_grad_from_output accepts (the same values as d_<act> at kinks:
// relu y = 0 and relu6 y = 0 or 6 give 0; hard_sigmoid y = 0 or 1 gives 0).

static inline float g_linear(float y, float a) {
    (void)y;
    (void)a;
    return 1.0f;
}

static inline float g_relu(float y, float a) {
    (void)a;
    return y > 0.0f ? 1.0f : 0.0f;
}

static inline float g_relu6(float y, float a) {
    (void)a;
    return y > 0.0f && y < 6.0f ? 1.0f : 0.0f;
}

// alpha >= 0: y > 0 exactly when x > 0.
static inline float g_leaky_relu(float y, float a) {
    return y > 0.0f ? 1.0f : a;
}

// alpha >= 0: for x <= 0, y = alpha (exp(x) - 1), so alpha exp(x) = y + alpha.
static inline float g_elu(float y, float a) {
    return y > 0.0f ? 1.0f : y + a;
}

static inline float g_sigmoid(float y, float a) {
    (void)a;
    return y * (1.0f - y);
}

static inline float g_hard_sigmoid(float y, float a) {
    (void)a;
    return y > 0.0f && y < 1.0f ? 1.0f / 6.0f : 0.0f;
}

static inline float g_tanh(float y, float a) {
    (void)a;
    return 1.0f - y * y;
}

static inline float g_exponential(float y, float a) {
    (void)a;
    return y;
}

int kdl_act_grad_from_output(kdl_Act act, float alpha) {
    switch (act) {
    case KDL_ACT_LINEAR:
    case KDL_ACT_RELU:
    case KDL_ACT_RELU6:
    case KDL_ACT_SIGMOID:
    case KDL_ACT_HARD_SIGMOID:
    case KDL_ACT_TANH:
    case KDL_ACT_EXPONENTIAL:
    case KDL_ACT_SOFTMAX:
    case KDL_ACT_LOG_SOFTMAX:
        return 1;
    // A negative slope (or ELU alpha) makes y > 0 for some x < 0: the sign
    // of y no longer tells the branch.
    case KDL_ACT_LEAKY_RELU:
    case KDL_ACT_ELU:
        return alpha >= 0.0f;
    default:
        return 0;
    }
}

// ---- backward: softmax rows ------------------------------------------------------------

// Sum of dy (n), or of dy * p when p is not NULL, in double.
static double row_dot(const float *dy, const float *p, size_t n) {
    double s = 0.0;
    if (p)
        for (size_t j = 0; j < n; j++)
            s += (double)dy[j] * (double)p[j];
    else
        for (size_t j = 0; j < n; j++)
            s += dy[j];
    return s;
}

// One row of n, from y: softmax dz = y (dy - sum(dy y)); log_softmax
// dz = dy - exp(y) sum(dy). accumulate: dz += that, else dz = that (dz may
// equal dy: the sum is taken before anything is written).
static void softmax_row_grad(float *dz, const float *dy, const float *y, size_t n, int log,
                             int accumulate) {
    if (log) {
        float s = (float)row_dot(dy, NULL, n);
        if (accumulate)
            for (size_t j = 0; j < n; j++)
                dz[j] += dy[j] - expf(y[j]) * s;
        else
            for (size_t j = 0; j < n; j++)
                dz[j] = dy[j] - expf(y[j]) * s;
    } else {
        float s = (float)row_dot(dy, y, n);
        if (accumulate)
            for (size_t j = 0; j < n; j++)
                dz[j] += y[j] * (dy[j] - s);
        else
            for (size_t j = 0; j < n; j++)
                dz[j] = y[j] * (dy[j] - s);
    }
}

// One row of n, from x (no y at hand): dx += the gradient of softmax or
// log_softmax, the probabilities recomputed on the fly (no scratch).
static void softmax_row_grad_x(float *dx, const float *dy, const float *x, size_t n, int log) {
    if (n == 0)
        return;
    float m = -INFINITY;
    for (size_t j = 0; j < n; j++)
        m = x[j] > m ? x[j] : m;
    double s = 0.0, sdy = 0.0, sdyp = 0.0;
    for (size_t j = 0; j < n; j++) {
        double e = expf(x[j] - m);
        s += e;
        sdy += dy[j];
        sdyp += (double)dy[j] * e;
    }
    float inv = (float)(1.0 / s);
    float k = log ? (float)sdy : (float)(sdyp / s);
    for (size_t j = 0; j < n; j++) {
        float p = expf(x[j] - m) * inv;
        dx[j] += log ? dy[j] - p * k : p * (dy[j] - k);
    }
}

// ---- backward: entry points ------------------------------------------------------------

// dx (n) += dy * d(x) or dy * g(y): one loop per activation, as the forward.
#define GRAD_LOOP(f, v)                                                                           \
    for (size_t i = 0; i < n; i++)                                                                \
        dx[i] += dy[i] * f(v[i], alpha);                                                          \
    break

// dx += dy * act'(x) from y (the activations of kdl_act_grad_from_output).
static void act_backward_y(float *dx, const float *dy, const float *y, size_t n, kdl_Act act,
                           float alpha) {
    switch (act) {
    case KDL_ACT_LINEAR:
        for (size_t i = 0; i < n; i++)
            dx[i] += dy[i];
        break;
    case KDL_ACT_RELU:
        for (size_t i = 0; i < n; i++) {
            float m = y[i] > 0.0f ? 1.0f : 0.0f;
            dx[i] += dy[i] * m;
        }
        break;
    case KDL_ACT_RELU6: GRAD_LOOP(g_relu6, y);
    case KDL_ACT_LEAKY_RELU: GRAD_LOOP(g_leaky_relu, y);
    case KDL_ACT_ELU: GRAD_LOOP(g_elu, y);
    case KDL_ACT_SIGMOID: GRAD_LOOP(g_sigmoid, y);
    case KDL_ACT_HARD_SIGMOID: GRAD_LOOP(g_hard_sigmoid, y);
    case KDL_ACT_TANH: GRAD_LOOP(g_tanh, y);
    case KDL_ACT_EXPONENTIAL: GRAD_LOOP(g_exponential, y);
    case KDL_ACT_SOFTMAX:
    case KDL_ACT_LOG_SOFTMAX:
        softmax_row_grad(dx, dy, y, n, act == KDL_ACT_LOG_SOFTMAX, 1);
        break;
    default:
        assert(!"kdl: activation has no derivative from its output");
    }
}

// dx += dy * act'(x) from x.
static void act_backward_x(float *dx, const float *dy, const float *x, size_t n, kdl_Act act,
                           float alpha) {
    switch (act) {
    case KDL_ACT_LINEAR: GRAD_LOOP(d_linear, x);
    case KDL_ACT_RELU: GRAD_LOOP(d_relu, x);
    case KDL_ACT_RELU6: GRAD_LOOP(d_relu6, x);
    case KDL_ACT_LEAKY_RELU: GRAD_LOOP(d_leaky_relu, x);
    case KDL_ACT_ELU: GRAD_LOOP(d_elu, x);
    case KDL_ACT_SELU: GRAD_LOOP(d_selu, x);
    case KDL_ACT_GELU: GRAD_LOOP(d_gelu, x);
    case KDL_ACT_SILU: GRAD_LOOP(d_silu, x);
    case KDL_ACT_SIGMOID: GRAD_LOOP(d_sigmoid, x);
    case KDL_ACT_HARD_SIGMOID: GRAD_LOOP(d_hard_sigmoid, x);
    case KDL_ACT_TANH: GRAD_LOOP(d_tanh, x);
    case KDL_ACT_SOFTPLUS: GRAD_LOOP(d_softplus, x);
    case KDL_ACT_SOFTSIGN: GRAD_LOOP(d_softsign, x);
    case KDL_ACT_EXPONENTIAL: GRAD_LOOP(d_exponential, x);
    case KDL_ACT_HARD_SILU: GRAD_LOOP(d_hard_silu, x);
    case KDL_ACT_MISH: GRAD_LOOP(d_mish, x);
    case KDL_ACT_SOFTMAX:
    case KDL_ACT_LOG_SOFTMAX:
        softmax_row_grad_x(dx, dy, x, n, act == KDL_ACT_LOG_SOFTMAX);
        break;
    default:
        assert(!"kdl: unknown activation");
    }
}
#undef GRAD_LOOP

// Rows [r0, r1) of (rows, cols) (or elements, flat): dx += dy * act', from
// y when the activation allows it and y is given (cheaper: no exp), from x
// otherwise. in is x, b is dy (ActJob's fields).
static void backward_task(void *ctx, size_t r0, size_t r1) {
    const ActJob *j = ctx;
    const int from_y = j->y && kdl_act_grad_from_output(j->act, j->alpha);
    assert((from_y || j->in) && "kdl_act_backward: this activation needs x");
    // flat: elements, one call for the range; otherwise a call per row
    const size_t calls = j->flat ? 1 : r1 - r0, len = j->flat ? r1 - r0 : j->cols;
    for (size_t r = 0; r < calls; r++) {
        const size_t o = (r0 + r) * j->cols;
        if (from_y)
            act_backward_y(j->out + o, j->b + o, j->y + o, len, j->act, j->alpha);
        else
            act_backward_x(j->out + o, j->b + o, j->in + o, len, j->act, j->alpha);
    }
}

// dx (n) += dy * act'(x). The derivative is taken from y when the activation
// allows it and y is given (cheaper: no exp), from x otherwise. SOFTMAX /
// LOG_SOFTMAX treat the n values as one row, as kdl_act_forward. dx NULL:
// nothing to do.
void kdl_act_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                      kdl_Act act, float alpha) {
    if (!dx || n == 0)
        return;
    ActJob j = {dx, x, dy, y, 1, act, alpha, 0, 1};
    if (act == KDL_ACT_SOFTMAX || act == KDL_ACT_LOG_SOFTMAX) {
        j.cols = n, j.flat = 0;
        backward_task(&j, 0, 1);
        return;
    }
    kdl_parallel_for(n, kdl_grain(act_cost(act)), backward_task, &j);
}

// dx (rows, cols) += dy * act'; softmax-like ones per row of cols.
void kdl_activation_backward(float *dx, const float *dy, const float *x, const float *y,
                             size_t rows, size_t cols, kdl_Act act, float alpha) {
    if (!dx || rows == 0 || cols == 0)
        return;
    if (act != KDL_ACT_SOFTMAX && act != KDL_ACT_LOG_SOFTMAX) {
        kdl_act_backward(dx, dy, x, y, rows * cols, act, alpha);
        return;
    }
    ActJob j = {dx, x, dy, y, cols, act, alpha, 0, 0};
    kdl_parallel_for(rows, kdl_grain(cols * 8), backward_task, &j);
}

// kdl_act_grad_output on one thread.
static void grad_output_serial(float *dz, const float *dy, const float *y, size_t rows,
                               size_t cols, kdl_Act act, float alpha) {
    size_t n = rows * cols;
#define SET_LOOP(f)                                                                               \
    for (size_t i = 0; i < n; i++)                                                                \
        dz[i] = dy[i] * f(y[i], alpha);                                                           \
    break

    switch (act) {
    case KDL_ACT_LINEAR:
        if (dz != dy)
            memcpy(dz, dy, sizeof(float) * n);
        break;
    case KDL_ACT_RELU:
        // Written out: GCC 12 vectorizes this select, not the inline g_relu's.
        for (size_t i = 0; i < n; i++) {
            float m = y[i] > 0.0f ? 1.0f : 0.0f;
            dz[i] = dy[i] * m;
        }
        break;
    case KDL_ACT_RELU6:
        for (size_t i = 0; i < n; i++) {
            float m = y[i] > 0.0f ? 1.0f : 0.0f;
            m = y[i] < 6.0f ? m : 0.0f;
            dz[i] = dy[i] * m;
        }
        break;
    case KDL_ACT_LEAKY_RELU: SET_LOOP(g_leaky_relu);
    case KDL_ACT_ELU: SET_LOOP(g_elu);
    case KDL_ACT_SIGMOID: SET_LOOP(g_sigmoid);
    case KDL_ACT_HARD_SIGMOID: SET_LOOP(g_hard_sigmoid);
    case KDL_ACT_TANH: SET_LOOP(g_tanh);
    case KDL_ACT_EXPONENTIAL: SET_LOOP(g_exponential);
    case KDL_ACT_SOFTMAX:
    case KDL_ACT_LOG_SOFTMAX:
        for (size_t r = 0; r < rows; r++)
            softmax_row_grad(dz + r * cols, dy + r * cols, y + r * cols, cols,
                             act == KDL_ACT_LOG_SOFTMAX, 0);
        break;
    default:
        assert(!"kdl_act_grad_output: activation has no derivative from its output");
    }
#undef SET_LOOP
}

static void grad_output_task(void *ctx, size_t r0, size_t r1) {
    const ActJob *j = ctx;
    const size_t o = r0 * j->cols;
    grad_output_serial(j->out + o, j->b + o, j->y + o, r1 - r0, j->cols, j->act, j->alpha);
}

// dz (rows, cols) = dy * act'(z) from y (activations of kdl_act_grad_from_output;
// softmax-like ones per row). SET, not accumulated; dz may equal dy.
void kdl_act_grad_output(float *dz, const float *dy, const float *y, size_t rows, size_t cols,
                         kdl_Act act, float alpha) {
    assert(kdl_act_grad_from_output(act, alpha));
    if (rows == 0 || cols == 0)
        return;
    ActJob j = {dz, NULL, dy, y, cols, act, alpha, 0, 0};
    if (act != KDL_ACT_SOFTMAX && act != KDL_ACT_LOG_SOFTMAX)
        j.cols = 1, rows *= cols;
    kdl_parallel_for(rows, kdl_grain(j.cols * act_cost(act)), grad_output_task, &j);
}

// ---- casts (kdl.h) ----

void kdl_cast_i32_to_f32(float *out, const int32_t *in, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float)in[i];
}

void kdl_cast_f32_to_i32(int32_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        // -2^31 <= x < 2^31 (both exact in float); NaN fails both tests.
        out[i] = x >= -2147483648.0f && x < 2147483648.0f ? (int32_t)x : INT32_MIN;
    }
}

// keras.activations.relu(x, negative_slope, max_value, threshold) in full:
// x where x > threshold (else 0), clipped to [0, max_value] when has_max,
// minus negative_slope * max(threshold - x, 0).
void kdl_relu_general_forward(float *out, const float *in, size_t n, float negative_slope,
                              int has_max, float max_value, float threshold) {
    for (size_t i = 0; i < n; i++) {
        float x = in[i], y = x > threshold ? x : 0.0f;
        if (has_max)
            y = y < 0.0f ? 0.0f : y > max_value ? max_value : y;
        if (negative_slope != 0.0f && x < threshold)
            y -= negative_slope * (threshold - x);
        out[i] = y;
    }
}

// dx += dy * d relu_general(x) / dx: 1 where x > threshold and (with
// has_max) 0 < x < max_value, plus negative_slope where x < threshold.
void kdl_relu_general_backward(float *dx, const float *dy, const float *x, size_t n,
                               float negative_slope, int has_max, float max_value,
                               float threshold) {
    if (!dx)
        return;
    for (size_t i = 0; i < n; i++) {
        float v = x[i], d = v > threshold && (!has_max || (v > 0.0f && v < max_value)) ? 1.0f
                                                                                       : 0.0f;
        if (v < threshold)
            d += negative_slope;
        dx[i] += dy[i] * d;
    }
}
