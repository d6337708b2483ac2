/*
 * optim.c - Keras 3's optimizers: SGD (momentum, nesterov), Adam
 * (amsgrad), AdamW, RMSprop (momentum, centered) and Adagrad, with gradient
 * clipping and decoupled weight decay, as keras/src/optimizers.
 *
 * One kdl_optimizer_step is BaseOptimizer.apply() for every variable:
 * clip the gradients, apply weight decay (value -= value * wd * lr, any
 * optimizer with weight_decay != 0, before the update: AdamW is Adam with
 * it), then each variable's update_step. Element-wise arithmetic is float32
 * in Keras's operation order; Adam's bias-corrected step size and the
 * norms are computed in double, and 1 - beta / 1 - rho from the decimal
 * hyperparameter as Keras's Python arithmetic does (see one_minus).
 *
 * A variable's slots are kdl_optimizer_slots(o) arrays of n floats, one
 * after the other in Keras's order of optimizer variables:
 *   SGD      momentum (only when momentum != 0)
 *   Adam(W)  momentum, velocity, velocity_hat (amsgrad)
 *   RMSprop  velocity, momentum (momentum > 0), average_gradient (centered)
 *   Adagrad  accumulator
 */
#include "kdl.h"

#include <math.h>
#include <string.h>

// See kdl.h; the slots' layout is in the comment at the top of this file.
int kdl_optimizer_slots(const kdl_Optimizer *o) {
    switch (o->kind) {
    case KDL_OPT_SGD: return o->momentum != 0.0f ? 1 : 0;
    case KDL_OPT_ADAM:
    case KDL_OPT_ADAMW: return o->amsgrad ? 3 : 2;
    case KDL_OPT_RMSPROP: return 1 + (o->momentum > 0.0f) + (o->centered != 0);
    case KDL_OPT_ADAGRAD: return 1;
    }
    return 0;
}

// See kdl.h: Keras's names of the optimizer and of its variables' slots.
const char *kdl_optimizer_name(const kdl_Optimizer *o) {
    switch (o->kind) {
    case KDL_OPT_SGD: return "sgd";
    case KDL_OPT_ADAM: return "adam";
    case KDL_OPT_ADAMW: return "adamw";
    case KDL_OPT_RMSPROP: return "rmsprop";
    case KDL_OPT_ADAGRAD: return "adagrad";
    }
    return "?";
}

const char *kdl_optimizer_slot_name(const kdl_Optimizer *o, int k) {
    switch (o->kind) {
    case KDL_OPT_SGD: return "momentum";
    case KDL_OPT_ADAM:
    case KDL_OPT_ADAMW: return k == 0 ? "momentum" : k == 1 ? "velocity" : "velocity_hat";
    case KDL_OPT_RMSPROP:
        if (k == 0)
            return "velocity";
        return k == 1 && o->momentum > 0.0f ? "momentum" : "average_gradient";
    case KDL_OPT_ADAGRAD: return "accumulator";
    }
    return "?";
}

// Slots to Keras's initial values: zeros, Adagrad's accumulator
// initial_accumulator_value. Values and gradients are not touched.
void kdl_optimizer_reset(const kdl_Optimizer *o, kdl_Param *p, int n) {
    size_t k = (size_t)kdl_optimizer_slots(o);
    if (k == 0)
        return;
    for (int i = 0; i < n; i++) {
        size_t len = k * p[i].n;
        if (o->kind == KDL_OPT_ADAGRAD) {
            for (size_t j = 0; j < len; j++)
                p[i].slots[j] = o->initial_accumulator_value;
        } else {
            memset(p[i].slots, 0, len * sizeof(float));
        }
    }
}

// ---- gradient clipping (BaseOptimizer._clip_gradients) ----------------------------------------

static double sum_squares(const float *g, size_t n) {
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += (double)g[j] * (double)g[j];
    return s;
}

static void scale_floats(float *g, size_t n, float f) {
    for (size_t j = 0; j < n; j++)
        g[j] *= f;
}

// Keras allows only one of clipnorm / clipvalue / global_clipnorm; the
// header's order is applied when several are set: clipvalue, then clipnorm
// (per variable) or else global_clipnorm. g * c / max(||g||, c) leaves g
// as it is when ||g|| <= c; a NaN norm (or, global, an infinite one)
// makes the gradients NaN, as Keras.
static void clip_gradients(const kdl_Optimizer *o, kdl_Param *p, int n) {
    if (o->clipvalue > 0.0f) {
        float v = o->clipvalue;
        for (int i = 0; i < n; i++) {
            float *g = p[i].grad;
            for (size_t j = 0; j < p[i].n; j++)
                g[j] = g[j] < -v ? -v : g[j] > v ? v : g[j];
        }
    }
    if (o->clipnorm > 0.0f) {
        double c = o->clipnorm;
        for (int i = 0; i < n; i++) {
            double norm = sqrt(sum_squares(p[i].grad, p[i].n));
            if (!(norm <= c))
                scale_floats(p[i].grad, p[i].n, (float)(c / norm));
        }
    } else if (o->global_clipnorm > 0.0f) {
        double c = o->global_clipnorm, s = 0;
        for (int i = 0; i < n; i++)
            s += sum_squares(p[i].grad, p[i].n);
        double norm = sqrt(s);
        if (!(norm <= c)) {
            float f = isfinite(norm) ? (float)(c / norm) : NAN;
            for (int i = 0; i < n; i++)
                scale_floats(p[i].grad, p[i].n, f);
        }
    }
}

// ---- update rules (update_step of each optimizer) ----------------------------------------------

// 1 - b as Keras computes it: in Python double from the decimal the user
// wrote (1 - 0.999 rounds to 0.001f), where 1 - 0.999f would be 0.00099998713f.
// The decimal is recovered as the shortest one (at most 9 significant
// digits) that rounds to b.
static float one_minus(float b) {
    double x = b;
    if (b > 0.0f && isfinite(b)) {
        int e = (int)floor(log10(x));
        for (int d = 1; d <= 9; d++) {
            double scale = pow(10.0, d - 1 - e), r = round(x * scale) / scale;
            if ((float)r == b) {
                x = r;
                break;
            }
        }
    }
    return (float)(1.0 - x);
}

static void sgd_update(const kdl_Optimizer *o, kdl_Param *p) {
    float lr = o->learning_rate, mu = o->momentum, *w = p->value;
    const float *g = p->grad;
    if (mu == 0.0f) {
        for (size_t j = 0; j < p->n; j++)
            w[j] -= g[j] * lr;
        return;
    }
    float *m = p->slots;
    for (size_t j = 0; j < p->n; j++) {
        m[j] = m[j] * mu - g[j] * lr;
        w[j] += o->nesterov ? m[j] * mu - g[j] * lr : m[j];
    }
}

// alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t); the moments are not
// bias-corrected and epsilon is added outside the square root.
static void adam_update(const kdl_Optimizer *o, kdl_Param *p, int64_t t) {
    double b1 = o->beta_1, b2 = o->beta_2;
    double alpha_d = o->learning_rate * sqrt(1 - pow(b2, (double)t)) / (1 - pow(b1, (double)t));
    float alpha = (float)alpha_d, c1 = one_minus(o->beta_1), c2 = one_minus(o->beta_2);
    float eps = o->epsilon;
    size_t n = p->n;
    float *w = p->value, *m = p->slots, *v = p->slots + n;
    float *vhat = o->amsgrad ? p->slots + 2 * n : NULL;
    const float *g = p->grad;
    for (size_t j = 0; j < n; j++) {
        m[j] += (g[j] - m[j]) * c1;
        v[j] += (g[j] * g[j] - v[j]) * c2;
        float vj = v[j];
        if (vhat) {
            vhat[j] = vhat[j] > vj ? vhat[j] : vj;
            vj = vhat[j];
        }
        w[j] -= m[j] * alpha / (sqrtf(vj) + eps);
    }
}

// Epsilon inside the square root; centered subtracts the squared mean
// gradient; momentum accumulates the increments.
static void rmsprop_update(const kdl_Optimizer *o, kdl_Param *p) {
    size_t n = p->n;
    float lr = o->learning_rate, rho = o->rho, c = one_minus(o->rho);
    float eps = o->epsilon, mu = o->momentum;
    float *w = p->value, *vel = p->slots;
    float *mom = mu > 0.0f ? p->slots + n : NULL;
    float *avg = o->centered ? p->slots + (mom ? 2 : 1) * n : NULL;
    const float *g = p->grad;
    for (size_t j = 0; j < n; j++) {
        vel[j] = rho * vel[j] + c * (g[j] * g[j]);
        float den;
        if (avg) {
            avg[j] = rho * avg[j] + c * g[j];
            den = vel[j] - avg[j] * avg[j] + eps;
        } else {
            den = vel[j] + eps;
        }
        float inc = lr * g[j] / sqrtf(den);
        if (mom) {
            mom[j] = mu * mom[j] + inc;
            w[j] -= mom[j];
        } else {
            w[j] -= inc;
        }
    }
}

static void adagrad_update(const kdl_Optimizer *o, kdl_Param *p) {
    float lr = o->learning_rate, eps = o->epsilon, *w = p->value, *acc = p->slots;
    const float *g = p->grad;
    for (size_t j = 0; j < p->n; j++) {
        acc[j] += g[j] * g[j];
        w[j] -= lr * g[j] / sqrtf(acc[j] + eps);
    }
}

// See kdl.h. t >= 1 (Adam divides by 1 - beta_1^t). Slots must have been
// set by kdl_optimizer_reset (or restored) before the first step.
void kdl_optimizer_step(const kdl_Optimizer *o, kdl_Param *p, int n, int64_t t) {
    if (o->loss_scale_factor != 0.0f)   // BaseOptimizer.apply: g / loss_scale_factor
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < p[i].n; j++)
                p[i].grad[j] /= o->loss_scale_factor;
    clip_gradients(o, p, n);
    if (o->weight_decay != 0.0f) {
        float wd = o->weight_decay, lr = o->learning_rate;
        for (int i = 0; i < n; i++) {
            float *w = p[i].value;
            for (size_t j = 0; j < p[i].n; j++)
                w[j] -= w[j] * wd * lr;
        }
    }
    for (int i = 0; i < n; i++) {
        switch (o->kind) {
        case KDL_OPT_SGD: sgd_update(o, &p[i]); break;
        case KDL_OPT_ADAM:
        case KDL_OPT_ADAMW: adam_update(o, &p[i], t); break;
        case KDL_OPT_RMSPROP: rmsprop_update(o, &p[i]); break;
        case KDL_OPT_ADAGRAD: adagrad_update(o, &p[i]); break;
        }
    }
}

// ---- constraints (keras/src/constraints) -----------------------------------------------------

// Offset of element `r` of group `g`: g enumerates the kept axes and r the
// reduced ones, both row-major.
static size_t group_offset(const kdl_Constraint *c, size_t g, size_t r) {
    size_t off = 0, stride = 1;
    for (int a = c->rank - 1; a >= 0; a--) {
        size_t d = (size_t)c->shape[a], i;
        if (c->axes >> a & 1u) {
            i = r % d;
            r /= d;
        } else {
            i = g % d;
            g /= d;
        }
        off += i * stride;
        stride *= d;
    }
    return off;
}

// See kdl.h. Arithmetic in float32 as Keras's (the sum of squares in
// double): norms = sqrt(sum(w^2, axes, keepdims)), w * (desired / (eps + norms)).
void kdl_constraint_apply(const kdl_Constraint *c, float *w) {
    size_t n = 1, groups = 1;
    for (int a = 0; a < c->rank; a++) {
        n *= (size_t)c->shape[a];
        if (!(c->axes >> a & 1u))
            groups *= (size_t)c->shape[a];
    }
    if (c->kind == KDL_CONSTRAINT_NON_NEG) {
        for (size_t i = 0; i < n; i++)
            if (w[i] < 0.0f)
                w[i] = 0.0f;
        return;
    }
    if (n == 0)
        return;
    size_t per = n / groups;
    const float eps = 1e-7f;
    for (size_t g = 0; g < groups; g++) {
        double s = 0;
        for (size_t r = 0; r < per; r++) {
            double x = w[group_offset(c, g, r)];
            s += x * x;
        }
        float norm = (float)sqrt(s), factor;
        if (c->kind == KDL_CONSTRAINT_UNIT_NORM) {
            factor = 1.0f / (eps + norm);
        } else {
            float lo = c->kind == KDL_CONSTRAINT_MAX_NORM ? 0.0f : c->min_value;
            float cl = norm < lo ? lo : norm > c->max_value ? c->max_value : norm;
            if (isnan(norm))
                cl = norm;
            float desired = c->kind == KDL_CONSTRAINT_MAX_NORM
                                ? cl
                                : c->rate * cl + (1.0f - c->rate) * norm;
            factor = desired / (eps + norm);
        }
        for (size_t r = 0; r < per; r++) {
            size_t o = group_offset(c, g, r);
            // UnitNorm divides: w / (eps + norm)
            w[o] = c->kind == KDL_CONSTRAINT_UNIT_NORM ? w[o] / (eps + norm) : w[o] * factor;
        }
    }
}
