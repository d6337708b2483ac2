/*
 * optim.c - Keras 3's optimizers and learning-rate schedules, as
 * keras/src/optimizers: SGD (momentum, nesterov), Adam (amsgrad), AdamW,
 * RMSprop (momentum, centered), Adagrad, Adamax, Nadam, Adadelta, Lion, Ftrl,
 * Lamb and Adafactor, with gradient clipping and decoupled weight decay; the
 * schedules of keras/src/optimizers/schedules/learning_rate_schedule.py.
 *
 * One kdl_optimizer_step is BaseOptimizer.apply() for every variable:
 * clip the gradients, apply weight decay (value -= value * wd * lr, any
 * optimizer with weight_decay != 0, before the update: AdamW is Adam with
 * it), then each variable's update_step. lr is the schedule's value at the
 * optimizer's iterations (_get_current_learning_rate), for the decay and the
 * update alike. Element-wise arithmetic is float32 in Keras's operation
 * order; Adam's bias-corrected step size, the norms and the schedules are
 * computed in double, and 1 - beta / 1 - rho from the decimal
 * hyperparameter where Keras's arithmetic is Python's (see one_minus), in
 * float32 where Keras subtracts from a cast tensor (Nadam, Lion).
 *
 * A variable's slots are kdl_optimizer_slots(o) arrays of n floats, one
 * after the other in Keras's order of optimizer variables (their names are
 * Keras's, see slot_names):
 *   SGD      momentum (only when momentum != 0)
 *   Adam(W)  momentum, velocity, velocity_hat (amsgrad)
 *   RMSprop  velocity, momentum (momentum > 0), average_gradient (centered)
 *   Adagrad  accumulator
 *   Adamax   momentum, norm
 *   Nadam    momentum, velocity (its scalar u_product is a function of the
 *            step, recomputed: see nadam_u_product)
 *   Adadelta accumulated_grad, accumulated_delta_var
 *   Lion     momentum
 *   Ftrl     accumulator, linear
 *   Lamb     momentum, velocity
 *   Adafactor r (the second moment's row means, shape[:-1]), c (its column
 *            means, shape[:-2] + shape[-1:]), velocity; r and c are scalars
 *            for a variable of rank < 2 (Keras's placeholders), each at the
 *            start of an array of n floats
 */
#include "kdl.h"

#include <math.h>
#include <string.h>

// ORDER: kdl_OptKind.
static const char *const opt_names[] = {"sgd",     "adam",   "adamw", "rmsprop",
                                        "adagrad", "adamax", "nadam", "adadelta",
                                        "lion",    "ftrl",   "lamb",  "adafactor"};

// See kdl.h; the slots' layout is in the comment at the top of this file.
int kdl_optimizer_slots(const kdl_Optimizer *o) {
    switch (o->kind) {
    case KDL_OPT_SGD: return o->momentum != 0.0f ? 1 : 0;
    case KDL_OPT_ADAM:
    case KDL_OPT_ADAMW: return o->amsgrad ? 3 : 2;
    case KDL_OPT_RMSPROP: return 1 + (o->momentum > 0.0f) + (o->centered != 0);
    case KDL_OPT_ADAGRAD:
    case KDL_OPT_LION: return 1;
    case KDL_OPT_ADAMAX:
    case KDL_OPT_NADAM:
    case KDL_OPT_ADADELTA:
    case KDL_OPT_FTRL:
    case KDL_OPT_LAMB: return 2;
    case KDL_OPT_ADAFACTOR: return 3;
    }
    return 0;
}

// See kdl.h.
int kdl_optimizer_slot_shape(const kdl_Optimizer *o, int k, int rank, const int64_t *shape,
                             int64_t *out) {
    if (o->kind != KDL_OPT_ADAFACTOR || k == 2) {
        memmove(out, shape, sizeof *out * (size_t)rank);
        return rank;
    }
    if (rank < 2)
        return 0;
    memmove(out, shape, sizeof *out * (size_t)(rank - 1));
    if (k == 1)
        out[rank - 2] = shape[rank - 1];
    return rank - 1;
}

// See kdl.h: Keras's names of the optimizer and of its variables' slots
// (the names each optimizer's build() gives add_optimizer_variables).
const char *kdl_optimizer_name(const kdl_Optimizer *o) {
    unsigned k = (unsigned)o->kind;
    return k < sizeof opt_names / sizeof opt_names[0] ? opt_names[k] : "?";
}

const char *kdl_optimizer_slot_name(const kdl_Optimizer *o, int k) {
    switch (o->kind) {
    case KDL_OPT_SGD:
    case KDL_OPT_LION: return "momentum";
    case KDL_OPT_ADAM:
    case KDL_OPT_ADAMW: return k == 0 ? "momentum" : k == 1 ? "velocity" : "velocity_hat";
    case KDL_OPT_RMSPROP:
        if (k == 0)
            return "velocity";
        return k == 1 && o->momentum > 0.0f ? "momentum" : "average_gradient";
    case KDL_OPT_ADAGRAD: return "accumulator";
    case KDL_OPT_ADAMAX: return k == 0 ? "momentum" : "norm";
    case KDL_OPT_NADAM:
    case KDL_OPT_LAMB: return k == 0 ? "momentum" : "velocity";
    case KDL_OPT_ADADELTA: return k == 0 ? "accumulated_grad" : "accumulated_delta_var";
    case KDL_OPT_FTRL: return k == 0 ? "accumulator" : "linear";
    case KDL_OPT_ADAFACTOR: return k == 0 ? "r" : k == 1 ? "c" : "velocity";
    }
    return "?";
}

// Slots to Keras's initial values: zeros, Adagrad's and Ftrl's
// accumulator (the first slot) initial_accumulator_value. Values and
// gradients are not touched.
void kdl_optimizer_reset(const kdl_Optimizer *o, kdl_Param *p, int n) {
    size_t k = (size_t)kdl_optimizer_slots(o);
    if (k == 0)
        return;
    for (int i = 0; i < n; i++) {
        memset(p[i].slots, 0, k * p[i].n * sizeof(float));
        if (o->kind == KDL_OPT_ADAGRAD || o->kind == KDL_OPT_FTRL)
            for (size_t j = 0; j < p[i].n; j++)
                p[i].slots[j] = o->initial_accumulator_value;
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

// ---- learning-rate schedules (keras/src/optimizers/schedules/learning_rate_schedule.py) ------

static const double pi = 3.14159265358979323846;

// CosineDecay._decay_function: from * ((1 - alpha) * 0.5 * (1 + cos(pi * s / d)) + alpha).
static double cosine_decayed(double s, double d, double from, double alpha) {
    double cosine = 0.5 * (1.0 + cos(pi * (s / d)));
    return from * ((1.0 - alpha) * cosine + alpha);
}

// See kdl.h. Each case is the __call__ of the Keras class named in kdl.h, in
// double (Keras: in the dtype of initial_learning_rate, float32; the result
// is rounded to float32 by kdl_learning_rate).
double kdl_schedule_value(const kdl_LRSchedule *s, int64_t step) {
    double lr0 = s->initial_learning_rate, ds = s->decay_steps, x = (double)step;
    switch (s->kind) {
    case KDL_LR_CONSTANT: return lr0;
    case KDL_LR_EXPONENTIAL: {     // lr0 * rate^(step / decay_steps), p floored with staircase
        double p = x / ds;
        if (s->staircase)
            p = floor(p);
        return lr0 * pow(s->decay_rate, p);
    }
    case KDL_LR_INVERSE_TIME: {    // lr0 / (1 + rate * step / decay_steps)
        double p = x / ds;
        if (s->staircase)
            p = floor(p);
        return lr0 / (1.0 + s->decay_rate * p);
    }
    case KDL_LR_POLYNOMIAL: {
        // cycle: decay_steps times the first multiple of it >= step (1 at step
        // 0); else the step stops at decay_steps.
        if (s->cycle)
            ds *= x == 0 ? 1.0 : ceil(x / ds);
        else if (x > ds)
            x = ds;
        double p = x / ds;
        return (lr0 - s->end_learning_rate) * pow(1.0 - p, s->power) + s->end_learning_rate;
    }
    case KDL_LR_PIECEWISE: {
        // Keras sums values[i] times the indicator of each interval:
        // step <= b[0], b[i-1] < step <= b[i], step > b[n-1] (any order of
        // boundaries gives what Keras's sum gives).
        int n = s->nboundaries;
        const int64_t *b = s->boundaries;
        double r = 0;
        if (n == 0)
            return s->values[0];
        if (step <= b[0])
            r += s->values[0];
        if (step > b[n - 1])
            r += s->values[n];
        for (int i = 1; i < n; i++)
            if (step > b[i - 1] && step <= b[i])
                r += s->values[i];
        return r;
    }
    case KDL_LR_COSINE:
        if (!s->warmup)
            return cosine_decayed(x < ds ? x : ds, ds, lr0, s->alpha);
        // Linear warmup from lr0 to warmup_target over warmup_steps, then the
        // decay from warmup_target; the step stops at decay + warmup steps.
        if (x > ds + s->warmup_steps)
            x = ds + s->warmup_steps;
        if (x < s->warmup_steps)
            return (s->warmup_target - lr0) * (x / s->warmup_steps) + lr0;
        return cosine_decayed(x - s->warmup_steps, ds, s->warmup_target, s->alpha);
    case KDL_LR_COSINE_RESTARTS: {
        // Period i lasts first_decay_steps * t_mul^i steps and starts from
        // lr0 * m_mul^i; frac is the fraction of the current period done.
        double frac = x / ds, i, t = s->t_mul;
        if (t == 1.0) {
            i = floor(frac);
            frac -= i;
        } else {
            i = floor(log(1.0 - frac * (1.0 - t)) / log(t));
            double sum_r = (1.0 - pow(t, i)) / (1.0 - t);
            frac = (frac - sum_r) / pow(t, i);
        }
        double cosine = 0.5 * pow(s->m_mul, i) * (1.0 + cos(pi * frac));
        return lr0 * ((1.0 - s->alpha) * cosine + s->alpha);
    }
    }
    return lr0;
}

// See kdl.h: BaseOptimizer._get_current_learning_rate, the schedule called
// with the iterations before the step.
float kdl_learning_rate(const kdl_Optimizer *o, int64_t iterations) {
    if (o->schedule.kind == KDL_LR_CONSTANT)
        return o->learning_rate;
    return (float)kdl_schedule_value(&o->schedule, iterations);
}

// ---- update rules (update_step of each optimizer; lr is the step's learning rate) ----------

static void sgd_update(const kdl_Optimizer *o, kdl_Param *p, float lr) {
    float mu = o->momentum, *w = p->value;
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
static void adam_update(const kdl_Optimizer *o, kdl_Param *p, float lr, int64_t t) {
    double b1 = o->beta_1, b2 = o->beta_2;
    double alpha_d = lr * sqrt(1 - pow(b2, (double)t)) / (1 - pow(b1, (double)t));
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
static void rmsprop_update(const kdl_Optimizer *o, kdl_Param *p, float lr) {
    size_t n = p->n;
    float rho = o->rho, c = one_minus(o->rho);
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

static void adagrad_update(const kdl_Optimizer *o, kdl_Param *p, float lr) {
    float eps = o->epsilon, *w = p->value, *acc = p->slots;
    const float *g = p->grad;
    for (size_t j = 0; j < p->n; j++) {
        acc[j] += g[j] * g[j];
        w[j] -= lr * g[j] / sqrtf(acc[j] + eps);
    }
}

// beta^t of a float32 hyperparameter (Keras: ops.power of the cast beta).
static float beta_power(float beta, int64_t t) {
    return (float)pow((double)beta, (double)t);
}

// adamax.py: m += (g - m) * (1 - beta_1); u = max(beta_2 * u, |g|);
// w -= lr * m / ((1 - beta_1^t) * (u + epsilon)) - epsilon added to the
// infinity norm, not under a square root.
static void adamax_update(const kdl_Optimizer *o, kdl_Param *p, float lr, int64_t t) {
    size_t n = p->n;
    float c1 = one_minus(o->beta_1), b2 = o->beta_2, eps = o->epsilon;
    float bc = 1.0f - beta_power(o->beta_1, t);
    float *w = p->value, *m = p->slots, *u = p->slots + n;
    const float *g = p->grad;
    for (size_t j = 0; j < n; j++) {
        m[j] += (g[j] - m[j]) * c1;
        float a = b2 * u[j], b = fabsf(g[j]);
        u[j] = a > b ? a : b;
        w[j] -= lr * m[j] / (bc * (u[j] + eps));
    }
}

// Nadam's u_product after step t: the product over i = 1..t of
// beta_1 * (1 - 0.5 * 0.96^i). Keras keeps it in a float32 variable that
// _backend_update_step multiplies once per step; it depends on t only, so
// kdl recomputes it in double (resumed runs need no extra state). Past
// i = 1000 the factor 1 - 0.5 * 0.96^i is 1 in double.
static double nadam_u_product(double beta_1, int64_t t) {
    double prod = pow(beta_1, (double)t), d = 1.0;
    for (int64_t i = 1; i <= t && i <= 1000; i++) {
        d *= 0.96;
        prod *= 1.0 - 0.5 * d;
    }
    return prod;
}

// nadam.py: Adam's moments with 1 - beta computed on the cast float32 beta,
// Dozat's momentum schedule u_t = beta_1 * (1 - 0.5 * 0.96^t), and
// m_hat = u_{t+1} m / (1 - u_prod_t u_{t+1}) + (1 - u_t) g / (1 - u_prod_t),
// v_hat = v / (1 - beta_2^t), w -= m_hat * lr / (sqrt(v_hat) + epsilon).
static void nadam_update(const kdl_Optimizer *o, kdl_Param *p, float lr, int64_t t) {
    size_t n = p->n;
    double b1 = o->beta_1;
    double u_t = b1 * (1.0 - 0.5 * pow(0.96, (double)t));
    double u_t1 = b1 * (1.0 - 0.5 * pow(0.96, (double)(t + 1)));
    double u_prod = nadam_u_product(b1, t);
    float a = (float)u_t1, da = (float)(1.0 - u_prod * u_t1);
    float b = (float)(1.0 - u_t), db = (float)(1.0 - u_prod);
    float dv = 1.0f - beta_power(o->beta_2, t), eps = o->epsilon;
    float c1 = 1.0f - o->beta_1, c2 = 1.0f - o->beta_2;
    float *w = p->value, *m = p->slots, *v = p->slots + n;
    const float *g = p->grad;
    for (size_t j = 0; j < n; j++) {
        m[j] += (g[j] - m[j]) * c1;
        v[j] += (g[j] * g[j] - v[j]) * c2;
        float m_hat = a * m[j] / da + b * g[j] / db;
        float v_hat = v[j] / dv;
        w[j] -= m_hat * lr / (sqrtf(v_hat) + eps);
    }
}

// adadelta.py: E[g^2] = rho E[g^2] + (1 - rho) g^2;
// delta = -sqrt(E[dx^2] + eps) * g / sqrt(E[g^2] + eps);
// E[dx^2] = rho E[dx^2] + (1 - rho) delta^2; w += lr * delta.
static void adadelta_update(const kdl_Optimizer *o, kdl_Param *p, float lr) {
    size_t n = p->n;
    float rho = o->rho, c = one_minus(o->rho), eps = o->epsilon;
    float *w = p->value, *ag = p->slots, *ad = p->slots + n;
    const float *g = p->grad;
    for (size_t j = 0; j < n; j++) {
        ag[j] = rho * ag[j] + c * (g[j] * g[j]);
        float delta = -(sqrtf(ad[j] + eps) * g[j] / sqrtf(ag[j] + eps));
        ad[j] = rho * ad[j] + c * (delta * delta);
        w[j] += lr * delta;
    }
}

// lion.py: w -= lr * sign(beta_1 m + (1 - beta_1) g), then
// m = beta_2 m + (1 - beta_2) g (1 - beta on the cast float32 betas). The
// sign of 0 is 0 and of NaN NaN, as ops.sign.
static void lion_update(const kdl_Optimizer *o, kdl_Param *p, float lr) {
    float b1 = o->beta_1, b2 = o->beta_2, c1 = 1.0f - b1, c2 = 1.0f - b2;
    float *w = p->value, *m = p->slots;
    const float *g = p->grad;
    for (size_t j = 0; j < p->n; j++) {
        float x = m[j] * b1 + g[j] * c1;
        float sign = x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x;
        w[j] -= lr * sign;
        m[j] = m[j] * b2 + g[j] * c2;
    }
}

// ftrl.py (McMahan et al., 2013, with shrinkage): the accumulator n and the
// linear term z, with p = -learning_rate_power:
//   g' = g + 2 * l2_shrinkage * w;  n' = n + g^2 (the plain gradient)
//   z += g' - (n'^p - n^p) / lr * w
//   w = (clip(z, -l1, l1) - z) / (n'^p / lr + 2 * (l2 + beta / (2 lr)));  n = n'
static void ftrl_update(const kdl_Optimizer *o, kdl_Param *p, float lr) {
    size_t n = p->n;
    float pw = -o->learning_rate_power, l1 = o->l1_regularization_strength;
    float l2 = o->l2_regularization_strength + o->beta / (2.0f * lr);
    float shrink = (float)(2.0 * (double)o->l2_shrinkage_regularization_strength);
    float *w = p->value, *acc = p->slots, *lin = p->slots + n;
    const float *g = p->grad;
    for (size_t j = 0; j < n; j++) {
        float gs = g[j] + shrink * w[j];
        float na = acc[j] + g[j] * g[j];
        float pn = pw == 0.5f ? sqrtf(na) : powf(na, pw);
        float po = pw == 0.5f ? sqrtf(acc[j]) : powf(acc[j], pw);
        lin[j] += gs - (pn - po) / lr * w[j];
        float quadratic = pn / lr + 2.0f * l2;
        float z = lin[j], clipped = z < -l1 ? -l1 : z > l1 ? l1 : z;
        w[j] = (clipped - z) / quadratic;
        acc[j] = na;
    }
}

// lamb.py: Adam's bias-corrected moments (epsilon outside the square
// root), the update r = m_hat / (sqrt(v_hat) + eps) scaled by the trust
// ratio ||w|| / ||r|| (1 when either norm is 0): w -= ratio * lr * r.
static void lamb_update(const kdl_Optimizer *o, kdl_Param *p, float lr, int64_t t) {
    size_t n = p->n;
    float c1 = one_minus(o->beta_1), c2 = one_minus(o->beta_2), eps = o->epsilon;
    float d1 = 1.0f - beta_power(o->beta_1, t), d2 = 1.0f - beta_power(o->beta_2, t);
    float *w = p->value, *m = p->slots, *v = p->slots + n;
    const float *g = p->grad;
    double ws = 0, rs = 0;
    for (size_t j = 0; j < n; j++) {
        m[j] += (g[j] - m[j]) * c1;
        v[j] += (g[j] * g[j] - v[j]) * c2;
        float r = m[j] / d1 / (sqrtf(v[j] / d2) + eps);
        ws += (double)w[j] * w[j];
        rs += (double)r * r;
    }
    float w_norm = (float)sqrt(ws), r_norm = (float)sqrt(rs);
    float ratio = w_norm > 0.0f && r_norm > 0.0f ? w_norm / r_norm : 1.0f;
    float step = ratio * lr;
    for (size_t j = 0; j < n; j++)
        w[j] -= step * (m[j] / d1 / (sqrtf(v[j] / d2) + eps));
}

// The root mean square of x[n], in double.
static double rms(const float *x, size_t n) {
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += (double)x[j] * x[j];
    return n ? sqrt(s / (double)n) : 0.0;
}

// adafactor.py (Shazeer and Stern, 2018): the step size
// alpha = max(epsilon_2, rms(w)) * min(lr, 1 / sqrt(t)) (relative_step's
// own min(lr, 1 / sqrt(t)) changes nothing after this one); the second
// moment of g^2 + epsilon_1 with beta_2 = 1 - t^beta_2_decay, factored over
// the last two axes of a variable of rank >= 2 (row means r, column means c,
// v = r / mean(r) * c; v itself is a moving average otherwise); the update
// u = g / sqrt(v) divided by max(1, rms(u) / clip_threshold).
static void adafactor_update(const kdl_Optimizer *o, kdl_Param *p, float lr, int64_t t) {
    size_t n = p->n, rows = p->rows, cols = p->cols;
    float *w = p->value, *r = p->slots, *c = p->slots + n, *v = p->slots + 2 * n;
    const float *g = p->grad;
    float step = (float)t, inv = 1.0f / sqrtf(step);
    float rho = lr < inv ? lr : inv, rw = (float)rms(w, n);
    float alpha = (o->epsilon_2 > rw ? o->epsilon_2 : rw) * rho;
    float b = 1.0f - (float)pow((double)step, (double)o->beta_2_decay), cb = 1.0f - b;
    float eps1 = o->epsilon_1;
    if (rows > 0 && cols > 0) {
        size_t outer = n / (rows * cols);
        for (size_t k = 0; k < outer; k++) {
            const float *gk = g + k * rows * cols;
            float *rk = r + k * rows, *ck = c + k * cols, *vk = v + k * rows * cols;
            double rsum = 0;
            for (size_t i = 0; i < rows; i++) {
                double s = 0;
                for (size_t j = 0; j < cols; j++)
                    s += (double)(gk[i * cols + j] * gk[i * cols + j] + eps1);
                rk[i] = b * rk[i] + cb * (float)(s / (double)cols);
                rsum += rk[i];
            }
            for (size_t j = 0; j < cols; j++) {
                double s = 0;
                for (size_t i = 0; i < rows; i++)
                    s += (double)(gk[i * cols + j] * gk[i * cols + j] + eps1);
                ck[j] = b * ck[j] + cb * (float)(s / (double)rows);
            }
            float rmean = (float)(rsum / (double)rows);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < cols; j++)
                    vk[i * cols + j] = rk[i] / rmean * ck[j];
        }
    } else {
        for (size_t j = 0; j < n; j++)
            v[j] = b * v[j] + cb * (g[j] * g[j] + eps1);
    }
    double us = 0;
    for (size_t j = 0; j < n; j++) {
        double u = g[j] / sqrtf(v[j]);
        us += u * u;
    }
    float ru = (float)(n ? sqrt(us / (double)n) : 0.0), d = ru / o->clip_threshold;
    if (!(d > 1.0f) && !isnan(d))
        d = 1.0f;
    for (size_t j = 0; j < n; j++)
        w[j] -= alpha * (g[j] / sqrtf(v[j]) / d);
}

// See kdl.h. t >= 1 (Adam divides by 1 - beta_1^t). Slots must have been
// set by kdl_optimizer_reset (or restored) before the first step.
void kdl_optimizer_step(const kdl_Optimizer *o, kdl_Param *p, int n, int64_t t) {
    if (o->loss_scale_factor != 0.0f)   // BaseOptimizer.apply: g / loss_scale_factor
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < p[i].n; j++)
                p[i].grad[j] /= o->loss_scale_factor;
    clip_gradients(o, p, n);
    float lr = kdl_learning_rate(o, t - 1);
    if (o->weight_decay != 0.0f) {
        float wd = o->weight_decay;
        for (int i = 0; i < n; i++) {
            float *w = p[i].value;
            for (size_t j = 0; j < p[i].n; j++)
                w[j] -= w[j] * wd * lr;
        }
    }
    for (int i = 0; i < n; i++) {
        switch (o->kind) {
        case KDL_OPT_SGD: sgd_update(o, &p[i], lr); break;
        case KDL_OPT_ADAM:
        case KDL_OPT_ADAMW: adam_update(o, &p[i], lr, t); break;
        case KDL_OPT_RMSPROP: rmsprop_update(o, &p[i], lr); break;
        case KDL_OPT_ADAGRAD: adagrad_update(o, &p[i], lr); break;
        case KDL_OPT_ADAMAX: adamax_update(o, &p[i], lr, t); break;
        case KDL_OPT_NADAM: nadam_update(o, &p[i], lr, t); break;
        case KDL_OPT_ADADELTA: adadelta_update(o, &p[i], lr); break;
        case KDL_OPT_LION: lion_update(o, &p[i], lr); break;
        case KDL_OPT_FTRL: ftrl_update(o, &p[i], lr); break;
        case KDL_OPT_LAMB: lamb_update(o, &p[i], lr, t); break;
        case KDL_OPT_ADAFACTOR: adafactor_update(o, &p[i], lr, t); break;
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
