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

void kdl_softmax_forward(float *out, const float *in, size_t rows, size_t cols, int log) {
    for (size_t r = 0; r < rows; r++)
        softmax_row(out + r * cols, in + r * cols, NULL, cols, log);
}

// ---- the shared loop ---------------------------------------------------------------------

// out (rows, cols) = act(in + b), b (cols) or NULL, out may equal in.
// Element-wise activations with no bias see one flat row of rows * cols.
static void act_rows(float *out, const float *in, const float *b, size_t rows, size_t cols,
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
