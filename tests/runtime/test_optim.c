/*
 * test_optim.c - kdl_optimizer_slots, kdl_optimizer_reset,
 * kdl_optimizer_step and the learning-rate schedules.
 *
 * Every optimizer and option (SGD momentum / nesterov, Adam and AdamW with
 * and without amsgrad, RMSprop momentum / centered, Adagrad's initial
 * accumulator, Adamax, Nadam, Adadelta, Lion, Ftrl with every option, Lamb,
 * Adafactor factored over rank-2 and rank-3 variables and not over a vector;
 * some with a schedule as learning rate) with each of no clipping, clipvalue, clipnorm,
 * global_clipnorm and weight decay, over 5 steps on three variables,
 * against a naive double re-implementation of Keras 3's update_step and
 * apply() (keras/src/optimizers): the values' displacement, every slot and
 * the clipped gradients. Then single steps of Adam and SGD momentum with
 * numbers worked out by hand, the slot counts, reset, and clipping edge
 * cases (zero, NaN and infinite gradients). Every schedule against a naive
 * form of Keras's docstring formulas (CosineDecayRestarts by walking the
 * periods) and by hand; first steps of the new rules by hand, and a resumed
 * Nadam run with a schedule. The loss scale factor (the
 * gradients unscaled first) and the weight constraints (kdl_constraint_apply:
 * by hand and against a naive form over every set of axes).
 */
#include "check.h"

#include <string.h>

#define NVARS 3
#define STEPS 5

static const size_t var_len[NVARS] = {1, 7, 33};

// ---- the naive reference ---------------------------------------------------------------------

// 1 - b, b the decimal the hyperparameter was written as (Keras's Python
// arithmetic): the shortest "%.*g" form that reads back as b.
static double one_minus(float b) {
    char buf[32];
    for (int d = 1; d <= 9; d++) {
        snprintf(buf, sizeof buf, "%.*g", d, (double)b);
        double x = strtod(buf, NULL);
        if ((float)x == b)
            return 1 - x;
    }
    return 1 - (double)b;
}

typedef struct {
    double w[33], g[33], s[3][33];
    size_t n;
} Ref;

static void ref_clip(const kdl_Optimizer *o, Ref *r) {
    if (o->clipvalue > 0)
        for (int i = 0; i < NVARS; i++)
            for (size_t j = 0; j < r[i].n; j++)
                r[i].g[j] = fmin(fmax(r[i].g[j], -o->clipvalue), o->clipvalue);
    if (o->clipnorm > 0) {
        for (int i = 0; i < NVARS; i++) {
            double s = 0;
            for (size_t j = 0; j < r[i].n; j++)
                s += r[i].g[j] * r[i].g[j];
            double norm = sqrt(s), c = o->clipnorm;
            for (size_t j = 0; j < r[i].n; j++)
                r[i].g[j] = r[i].g[j] * c / fmax(norm, c);
        }
    } else if (o->global_clipnorm > 0) {
        double s = 0, c = o->global_clipnorm;
        for (int i = 0; i < NVARS; i++)
            for (size_t j = 0; j < r[i].n; j++)
                s += r[i].g[j] * r[i].g[j];
        double scale = c * fmin(1 / sqrt(s), 1 / c);
        for (int i = 0; i < NVARS; i++)
            for (size_t j = 0; j < r[i].n; j++)
                r[i].g[j] *= scale;
    }
}

// ---- the schedules, naively (the formulas of Keras's docstrings) ------------------------------

static const double pi = 3.14159265358979323846;

static double ref_schedule(const kdl_LRSchedule *s, int64_t step) {
    double lr0 = s->initial_learning_rate, x = (double)step, d = s->decay_steps;
    switch (s->kind) {
    case KDL_LR_CONSTANT: return lr0;
    case KDL_LR_EXPONENTIAL: {
        double p = s->staircase ? (double)(step / (int64_t)d) : x / d;   // integer d here
        return lr0 * exp(p * log(s->decay_rate));
    }
    case KDL_LR_INVERSE_TIME: {
        double p = s->staircase ? (double)(step / (int64_t)d) : x / d;
        return lr0 / (1 + s->decay_rate * p);
    }
    case KDL_LR_POLYNOMIAL: {
        if (s->cycle) {
            double k = 1;       // the first multiple of decay_steps >= step
            while (k * d < x)
                k++;
            d *= k;
        } else {
            x = fmin(x, d);
        }
        return (lr0 - s->end_learning_rate) * pow(1 - x / d, s->power) + s->end_learning_rate;
    }
    case KDL_LR_PIECEWISE: {    // increasing boundaries: the first one >= step
        int i = 0;
        while (i < s->nboundaries && step > s->boundaries[i])
            i++;
        return s->values[i];
    }
    case KDL_LR_COSINE: {
        double from = lr0, ws = s->warmup ? s->warmup_steps : 0;
        if (s->warmup) {
            if (x < ws)
                return lr0 + x / ws * (s->warmup_target - lr0);
            from = s->warmup_target;
        }
        double k = fmin(x - ws, d);
        return from * ((1 - s->alpha) * 0.5 * (1 + cos(pi * k / d)) + s->alpha);
    }
    case KDL_LR_COSINE_RESTARTS: {
        // Walk the periods: period i is first_decay_steps * t_mul^i long.
        double start = 0, len = d;
        int i = 0;
        while (x >= start + len) {
            start += len;
            len *= s->t_mul;
            i++;
        }
        double frac = (x - start) / len, fac = pow(s->m_mul, i);
        return lr0 * ((1 - s->alpha) * fac * 0.5 * (1 + cos(pi * frac)) + s->alpha);
    }
    }
    return lr0;
}

static double ref_lr(const kdl_Optimizer *o, int64_t iterations) {
    return o->schedule.kind == KDL_LR_CONSTANT ? o->learning_rate
                                               : ref_schedule(&o->schedule, iterations);
}

static void ref_step(const kdl_Optimizer *o, Ref *r, int64_t t) {
    double lr = ref_lr(o, t - 1);
    ref_clip(o, r);
    for (int i = 0; i < NVARS; i++)
        for (size_t j = 0; j < r[i].n; j++)
            r[i].w[j] -= r[i].w[j] * o->weight_decay * lr;
    for (int i = 0; i < NVARS; i++) {
        double *w = r[i].w, *g = r[i].g;
        for (size_t j = 0; j < r[i].n; j++) {
            switch (o->kind) {
            case KDL_OPT_SGD: {
                double mu = o->momentum, *m = &r[i].s[0][j];
                if (mu == 0) {
                    w[j] -= lr * g[j];
                } else {
                    *m = mu * *m - lr * g[j];
                    w[j] += o->nesterov ? mu * *m - lr * g[j] : *m;
                }
                break;
            }
            case KDL_OPT_ADAM:
            case KDL_OPT_ADAMW: {
                double b1 = o->beta_1, b2 = o->beta_2;
                double *m = &r[i].s[0][j], *v = &r[i].s[1][j], *vh = &r[i].s[2][j];
                *m += (g[j] - *m) * one_minus(o->beta_1);
                *v += (g[j] * g[j] - *v) * one_minus(o->beta_2);
                double vv = *v;
                if (o->amsgrad)
                    vv = *vh = fmax(*vh, *v);
                double alpha = lr * sqrt(1 - pow(b2, (double)t)) / (1 - pow(b1, (double)t));
                w[j] -= alpha * *m / (sqrt(vv) + o->epsilon);
                break;
            }
            case KDL_OPT_RMSPROP: {
                double rho = o->rho, *v = &r[i].s[0][j];
                int has_mom = o->momentum > 0;
                double *mom = &r[i].s[1][j], *avg = &r[i].s[has_mom ? 2 : 1][j];
                *v = rho * *v + one_minus(o->rho) * g[j] * g[j];
                double den = *v + o->epsilon;
                if (o->centered) {
                    *avg = rho * *avg + one_minus(o->rho) * g[j];
                    den -= *avg * *avg;
                }
                double inc = lr * g[j] / sqrt(den);
                if (has_mom) {
                    *mom = o->momentum * *mom + inc;
                    w[j] -= *mom;
                } else {
                    w[j] -= inc;
                }
                break;
            }
            case KDL_OPT_ADAGRAD: {
                double *acc = &r[i].s[0][j];
                *acc += g[j] * g[j];
                w[j] -= lr * g[j] / sqrt(*acc + o->epsilon);
                break;
            }
            case KDL_OPT_ADAMAX: {     // the paper's rule, epsilon added to u
                double *m = &r[i].s[0][j], *u = &r[i].s[1][j], b1 = o->beta_1;
                *m = b1 * *m + one_minus(o->beta_1) * g[j];
                *u = fmax(o->beta_2 * *u, fabs(g[j]));
                w[j] -= lr / (1 - pow(b1, (double)t)) * *m / (*u + o->epsilon);
                break;
            }
            case KDL_OPT_NADAM: {
                // u_product by its recurrence; 1 - beta of the float betas
                double b1 = o->beta_1, up = 1;
                for (int64_t k = 1; k <= t; k++)
                    up *= b1 * (1 - 0.5 * pow(0.96, (double)k));
                double ut = b1 * (1 - 0.5 * pow(0.96, (double)t));
                double ut1 = b1 * (1 - 0.5 * pow(0.96, (double)(t + 1)));
                double *m = &r[i].s[0][j], *v = &r[i].s[1][j];
                *m = b1 * *m + (1 - b1) * g[j];
                *v = o->beta_2 * *v + (1 - (double)o->beta_2) * g[j] * g[j];
                double mh = ut1 * *m / (1 - up * ut1) + (1 - ut) * g[j] / (1 - up);
                double vh = *v / (1 - pow(o->beta_2, (double)t));
                w[j] -= lr * mh / (sqrt(vh) + o->epsilon);
                break;
            }
            case KDL_OPT_ADADELTA: {
                double *eg = &r[i].s[0][j], *ed = &r[i].s[1][j], rho = o->rho;
                *eg = rho * *eg + one_minus(o->rho) * g[j] * g[j];
                double dx = -sqrt(*ed + o->epsilon) / sqrt(*eg + o->epsilon) * g[j];
                *ed = rho * *ed + one_minus(o->rho) * dx * dx;
                w[j] += lr * dx;
                break;
            }
            case KDL_OPT_LION: {
                double *m = &r[i].s[0][j], b1 = o->beta_1, b2 = o->beta_2;
                double c = b1 * *m + (1 - b1) * g[j];
                w[j] -= lr * (c > 0 ? 1 : c < 0 ? -1 : 0);
                *m = b2 * *m + (1 - b2) * g[j];
                break;
            }
            case KDL_OPT_FTRL: {       // the docstring's sigma form, with shrinkage
                double *n = &r[i].s[0][j], *z = &r[i].s[1][j], p = -o->learning_rate_power;
                double l1 = o->l1_regularization_strength;
                double l2 = o->l2_regularization_strength + o->beta / (2 * lr);
                double gs = g[j] + 2 * o->l2_shrinkage_regularization_strength * w[j];
                double prev = *n;
                *n += g[j] * g[j];
                double sigma = (pow(*n, p) - pow(prev, p)) / lr;
                *z += gs - sigma * w[j];
                w[j] = fabs(*z) <= l1 ? 0
                                      : ((*z > 0 ? l1 : -l1) - *z) / (pow(*n, p) / lr + 2 * l2);
                break;
            }
            case KDL_OPT_LAMB: break;  // per variable, below
            case KDL_OPT_ADAFACTOR: break;     // test_adafactor
            }
        }
        if (o->kind == KDL_OPT_LAMB) {
            double b1 = o->beta_1, b2 = o->beta_2, wn = 0, un = 0, u[33];
            for (size_t j = 0; j < r[i].n; j++) {
                double *m = &r[i].s[0][j], *v = &r[i].s[1][j];
                *m = b1 * *m + one_minus(o->beta_1) * g[j];
                *v = b2 * *v + one_minus(o->beta_2) * g[j] * g[j];
                u[j] = *m / (1 - pow(b1, (double)t)) /
                       (sqrt(*v / (1 - pow(b2, (double)t))) + o->epsilon);
                wn += w[j] * w[j];
                un += u[j] * u[j];
            }
            double ratio = wn > 0 && un > 0 ? sqrt(wn) / sqrt(un) : 1;
            for (size_t j = 0; j < r[i].n; j++)
                w[j] -= ratio * lr * u[j];
        }
    }
}

// ---- 5 steps against the reference ------------------------------------------------------------

static void run_config(const kdl_Optimizer *o, const char *name) {
    int k = kdl_optimizer_slots(o);
    float *w[NVARS], *w0[NVARS], *g[NVARS], *s[NVARS];
    Ref ref[NVARS];
    kdl_Param p[NVARS];
    for (int i = 0; i < NVARS; i++) {
        size_t n = var_len[i];
        w[i] = check_random(n, -1, 1);
        w0[i] = check_alloc(n);
        memcpy(w0[i], w[i], n * sizeof(float));
        g[i] = check_alloc(n);
        s[i] = check_alloc((size_t)k * n);
        for (size_t j = 0; j < (size_t)k * n; j++)
            s[i][j] = 123.0f;   // reset must overwrite
        p[i] = (kdl_Param){w[i], g[i], s[i], n, 0, 0};
        memset(&ref[i], 0, sizeof ref[i]);
        ref[i].n = n;
        for (size_t j = 0; j < n; j++) {
            ref[i].w[j] = w[i][j];
            if (o->kind == KDL_OPT_ADAGRAD || o->kind == KDL_OPT_FTRL)
                ref[i].s[0][j] = o->initial_accumulator_value;
        }
    }
    kdl_optimizer_reset(o, p, NVARS);
    char what[160];
    for (int64_t t = 1; t <= STEPS; t++) {
        for (int i = 0; i < NVARS; i++)
            for (size_t j = 0; j < var_len[i]; j++) {
                // the longest variable gets larger gradients: clipnorm clips it only
                g[i][j] = check_uniform(-1, 1) * (i == 2 ? 2.0f : 0.3f);
                ref[i].g[j] = g[i][j];
            }
        kdl_optimizer_step(o, p, NVARS, t);
        ref_step(o, ref, t);
    }
    for (int i = 0; i < NVARS; i++) {
        size_t n = var_len[i];
        float *got = check_alloc(n), *want = check_alloc(n);
        for (size_t j = 0; j < n; j++) {
            got[j] = w[i][j] - w0[i][j];
            want[j] = (float)(ref[i].w[j] - (double)w0[i][j]);
        }
        snprintf(what, sizeof what, "%s: var %d displacement after %d steps", name, i, STEPS);
        check_close(what, got, want, n, 1e-6, 2e-4);
        for (size_t j = 0; j < n; j++)
            want[j] = (float)ref[i].g[j];
        snprintf(what, sizeof what, "%s: var %d clipped gradient", name, i);
        check_close(what, g[i], want, n, 1e-7, 1e-5);
        for (int q = 0; q < k; q++) {
            for (size_t j = 0; j < n; j++)
                want[j] = (float)ref[i].s[q][j];
            snprintf(what, sizeof what, "%s: var %d slot %d", name, i, q);
            check_close(what, s[i] + (size_t)q * n, want, n, 1e-7, 2e-4);
        }
        free(got), free(want);
        free(w[i]), free(w0[i]), free(g[i]), free(s[i]);
    }
}

static void test_random(void) {
    const kdl_Optimizer base = {.learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.999f,
                                .epsilon = 1e-7f, .rho = 0.9f,
                                .initial_accumulator_value = 0.1f};
    kdl_Optimizer opts[40];
    const char *names[40];
    int no = 0;
    kdl_Optimizer o = base;
    o.kind = KDL_OPT_SGD, o.learning_rate = 0.1f;
    names[no] = "sgd", opts[no++] = o;
    o.momentum = 0.9f;
    names[no] = "sgd momentum", opts[no++] = o;
    o.nesterov = 1;
    names[no] = "sgd nesterov", opts[no++] = o;
    o = base, o.kind = KDL_OPT_ADAM;
    names[no] = "adam", opts[no++] = o;
    o.amsgrad = 1;
    names[no] = "adam amsgrad", opts[no++] = o;
    o = base, o.kind = KDL_OPT_ADAMW, o.weight_decay = 0.004f;
    names[no] = "adamw", opts[no++] = o;
    o.amsgrad = 1, o.weight_decay = 0.5f;
    names[no] = "adamw amsgrad wd 0.5", opts[no++] = o;
    o = base, o.kind = KDL_OPT_RMSPROP;
    names[no] = "rmsprop", opts[no++] = o;
    o.momentum = 0.5f;
    names[no] = "rmsprop momentum", opts[no++] = o;
    o.centered = 1;
    names[no] = "rmsprop momentum centered", opts[no++] = o;
    o.momentum = 0;
    names[no] = "rmsprop centered", opts[no++] = o;
    o = base, o.kind = KDL_OPT_ADAGRAD, o.learning_rate = 0.1f;
    names[no] = "adagrad", opts[no++] = o;
    o.initial_accumulator_value = 0.5f;
    names[no] = "adagrad init 0.5", opts[no++] = o;
    o = base, o.kind = KDL_OPT_ADAMAX;
    names[no] = "adamax", opts[no++] = o;
    o.beta_1 = 0.8f, o.beta_2 = 0.95f, o.epsilon = 0.01f;
    names[no] = "adamax betas 0.8 0.95 eps 0.01", opts[no++] = o;
    o = base, o.kind = KDL_OPT_NADAM;
    names[no] = "nadam", opts[no++] = o;
    o.beta_1 = 0.5f, o.beta_2 = 0.9f;
    names[no] = "nadam betas 0.5 0.9", opts[no++] = o;
    o = base, o.kind = KDL_OPT_ADADELTA, o.learning_rate = 1.0f, o.rho = 0.95f;
    names[no] = "adadelta", opts[no++] = o;
    o.epsilon = 1e-3f, o.rho = 0.5f;
    names[no] = "adadelta rho 0.5 eps 1e-3", opts[no++] = o;
    o = base, o.kind = KDL_OPT_LION, o.learning_rate = 0.001f, o.beta_2 = 0.99f;
    names[no] = "lion", opts[no++] = o;
    o.beta_1 = 0.5f, o.beta_2 = 0.7f;
    names[no] = "lion betas 0.5 0.7", opts[no++] = o;
    o = base, o.kind = KDL_OPT_FTRL, o.learning_rate = 0.1f, o.learning_rate_power = -0.5f;
    names[no] = "ftrl", opts[no++] = o;
    o.learning_rate_power = -0.6f, o.initial_accumulator_value = 0.2f;
    o.l1_regularization_strength = 0.01f, o.l2_regularization_strength = 0.02f;
    o.l2_shrinkage_regularization_strength = 0.03f, o.beta = 0.5f;
    names[no] = "ftrl every option", opts[no++] = o;
    o.learning_rate_power = 0.0f, o.initial_accumulator_value = 0.0f;
    names[no] = "ftrl power 0 accumulator 0", opts[no++] = o;
    o = base, o.kind = KDL_OPT_LAMB;
    names[no] = "lamb", opts[no++] = o;
    // Schedules as the learning rate (the weight decay case uses it too).
    static const int64_t bounds[2] = {1, 3};
    static const double values[3] = {0.1, 0.02, 0.005};
    o = base, o.kind = KDL_OPT_SGD, o.momentum = 0.9f;
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_PIECEWISE, .nboundaries = 2,
                                  .boundaries = bounds, .values = values};
    names[no] = "sgd momentum piecewise", opts[no++] = o;
    o = base, o.kind = KDL_OPT_ADAM;
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_EXPONENTIAL, .initial_learning_rate = 0.05,
                                  .decay_steps = 2, .decay_rate = 0.5, .staircase = 1};
    names[no] = "adam exponential staircase", opts[no++] = o;
    o = base, o.kind = KDL_OPT_NADAM;
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_COSINE, .initial_learning_rate = 0.0,
                                  .decay_steps = 3, .warmup = 1, .warmup_target = 0.05,
                                  .warmup_steps = 2, .alpha = 0.1};
    names[no] = "nadam cosine warmup", opts[no++] = o;
    o = base, o.kind = KDL_OPT_FTRL, o.learning_rate_power = -0.5f, o.beta = 0.2f;
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_INVERSE_TIME, .initial_learning_rate = 0.3,
                                  .decay_steps = 2, .decay_rate = 1.5};
    names[no] = "ftrl inverse time", opts[no++] = o;
    o = base, o.kind = KDL_OPT_LION, o.beta_2 = 0.99f;
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_POLYNOMIAL, .initial_learning_rate = 0.01,
                                  .decay_steps = 2, .end_learning_rate = 0.001, .power = 2,
                                  .cycle = 1};
    names[no] = "lion polynomial cycle", opts[no++] = o;
    o = base, o.kind = KDL_OPT_ADADELTA, o.rho = 0.95f;
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_COSINE_RESTARTS, .initial_learning_rate = 1,
                                  .decay_steps = 2, .t_mul = 2, .m_mul = 0.5, .alpha = 0.1};
    names[no] = "adadelta cosine restarts", opts[no++] = o;

    static const char *const clip_names[] = {"", " clipvalue", " clipnorm", " global_clipnorm",
                                             " weight_decay"};
    for (int i = 0; i < no; i++)
        for (int c = 0; c < 5; c++) {
            o = opts[i];
            if (c == 1)
                o.clipvalue = 0.25f;
            else if (c == 2)
                o.clipnorm = 1.0f;
            else if (c == 3)
                o.global_clipnorm = 2.0f;
            else if (c == 4)
                o.weight_decay = 0.05f;
            char name[96];
            snprintf(name, sizeof name, "%s%s", names[i], clip_names[c]);
            run_config(&o, name);
        }
}

// ---- hand-computed steps ----------------------------------------------------------------------

// Adam's defaults; w = 0 so the new value is minus the update, exactly;
// g = 1e-6 makes epsilon (outside the square root) dominate.
static void test_adam_by_hand(void) {
    kdl_Optimizer o = {.kind = KDL_OPT_ADAM, .learning_rate = 0.001f, .beta_1 = 0.9f,
                       .beta_2 = 0.999f, .epsilon = 1e-7f};
    float w[4] = {0, 0, 0, 0}, g[4] = {0.5f, -0.25f, 1e-6f, 0}, s[8];
    kdl_Param p = {w, g, s, 4, 0, 0};
    kdl_optimizer_reset(&o, &p, 1);
    kdl_optimizer_step(&o, &p, 1, 1);
    // alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t) with the betas as float32
    // (Keras's ops.power of the cast betas): 0.000316225670 at t = 1, where the
    // decimal betas would give 0.000316227766; m and v use 1 - 0.9 = 0.1 and
    // 1 - 0.999 = 0.001 (Python floats). w = -alpha m / (sqrt(v) + 1e-7).
    const float want1[4] = {-0.0009999870472843168f, 0.0009999807228908406f,
                            -0.00024025147876341344f, 0};
    const float m1[4] = {0.05f, -0.025f, 1e-7f, 0}, v1[4] = {2.5e-4f, 6.25e-5f, 1e-15f, 0};
    check_close("adam step 1 by hand: w", w, want1, 4, 0, 2e-6);
    check_close("adam step 1 by hand: m", s, m1, 4, 0, 1e-6);
    check_close("adam step 1 by hand: v", s + 4, v1, 4, 0, 1e-6);
    // t = 3 from a given state: the bias correction of step 3
    const float ms[4] = {0.1f, -0.2f, 0, 0}, vs[4] = {0.01f, 0.04f, 1e-12f, 1e-6f};
    memcpy(s, ms, sizeof ms), memcpy(s + 4, vs, sizeof vs);
    memset(w, 0, sizeof w);
    g[0] = 0.5f, g[1] = -0.25f, g[2] = 1e-6f, g[3] = 0;
    kdl_optimizer_step(&o, &p, 1, 3);
    const float want3[4] = {-0.0002794788297694318f, 0.0002070011819611115f,
                            -1.836447859329483e-05f, 0};
    const float m3[4] = {0.14f, -0.205f, 1e-7f, 0}, v3[4] = {0.01024f, 0.0400225f, 1e-12f,
                                                            9.99e-7f};
    check_close("adam step 3 by hand: w", w, want3, 4, 0, 2e-6);
    check_close("adam step 3 by hand: m", s, m3, 4, 0, 1e-6);
    check_close("adam step 3 by hand: v", s + 4, v3, 4, 0, 1e-6);
}

// lr 0.1, momentum 0.9, m = (0.2, -0.1), g = (1, -0.5), w = (1, 2):
// m = 0.9 m - 0.1 g = (0.08, -0.04); w += m -> (1.08, 1.96);
// nesterov: w += 0.9 m - 0.1 g -> (0.972, 2.014).
static void test_sgd_by_hand(void) {
    for (int nesterov = 0; nesterov <= 1; nesterov++) {
        kdl_Optimizer o = {.kind = KDL_OPT_SGD, .learning_rate = 0.1f, .momentum = 0.9f,
                           .nesterov = nesterov};
        float w[2] = {1, 2}, g[2] = {1, -0.5f}, m[2] = {0.2f, -0.1f};
        kdl_Param p = {w, g, m, 2, 0, 0};
        kdl_optimizer_step(&o, &p, 1, 1);
        const float want_m[2] = {0.08f, -0.04f};
        const float want_w[2] = {nesterov ? 0.972f : 1.08f, nesterov ? 2.014f : 1.96f};
        check_close(nesterov ? "sgd nesterov by hand: m" : "sgd momentum by hand: m", m, want_m,
                    2, 1e-7, 1e-6);
        check_close(nesterov ? "sgd nesterov by hand: w" : "sgd momentum by hand: w", w, want_w,
                    2, 0, 1e-6);
    }
    // plain SGD with weight decay: w -= w wd lr, then w -= lr g
    kdl_Optimizer o = {.kind = KDL_OPT_SGD, .learning_rate = 0.5f, .weight_decay = 0.1f};
    float w[1] = {2}, g[1] = {1};
    kdl_Param p = {w, g, NULL, 1, 0, 0};
    kdl_optimizer_step(&o, &p, 1, 1);
    const float want[1] = {2 - 2 * 0.1f * 0.5f - 0.5f};     // 1.4
    check_close("sgd weight decay by hand", w, want, 1, 0, 1e-6);
}

// ---- slots, reset, clipping edges ---------------------------------------------------------------

static void test_slots_reset(void) {
    kdl_Optimizer o = {.kind = KDL_OPT_SGD};
    check_true("sgd slots 0", kdl_optimizer_slots(&o) == 0);
    o.momentum = 0.9f;
    check_true("sgd momentum slots 1", kdl_optimizer_slots(&o) == 1);
    o = (kdl_Optimizer){.kind = KDL_OPT_ADAM};
    check_true("adam slots 2", kdl_optimizer_slots(&o) == 2);
    o.amsgrad = 1;
    check_true("adam amsgrad slots 3", kdl_optimizer_slots(&o) == 3);
    o.kind = KDL_OPT_ADAMW;
    check_true("adamw amsgrad slots 3", kdl_optimizer_slots(&o) == 3);
    o = (kdl_Optimizer){.kind = KDL_OPT_RMSPROP};
    check_true("rmsprop slots 1", kdl_optimizer_slots(&o) == 1);
    o.momentum = 0.1f;
    check_true("rmsprop momentum slots 2", kdl_optimizer_slots(&o) == 2);
    o.centered = 1;
    check_true("rmsprop momentum centered slots 3", kdl_optimizer_slots(&o) == 3);
    o.momentum = 0;
    check_true("rmsprop centered slots 2", kdl_optimizer_slots(&o) == 2);
    o = (kdl_Optimizer){.kind = KDL_OPT_ADAGRAD, .initial_accumulator_value = 0.25f};
    check_true("adagrad slots 1", kdl_optimizer_slots(&o) == 1);

    float s1[3] = {9, 9, 9}, s2[2] = {9, 9};
    kdl_Param p[2] = {{NULL, NULL, s1, 3, 0, 0}, {NULL, NULL, s2, 2, 0, 0}};
    kdl_optimizer_reset(&o, p, 2);
    check_true("adagrad reset to initial_accumulator_value",
               s1[0] == 0.25f && s1[2] == 0.25f && s2[0] == 0.25f && s2[1] == 0.25f);
    o = (kdl_Optimizer){.kind = KDL_OPT_ADAM};
    float a1[6] = {9, 9, 9, 9, 9, 9}, a2[5] = {9, 9, 9, 9, 9};
    kdl_Param q[2] = {{NULL, NULL, a1, 3, 0, 0}, {NULL, NULL, a2, 2, 0, 0}};
    kdl_optimizer_reset(&o, q, 2);
    int zero = 1;
    for (int j = 0; j < 6; j++)
        zero &= a1[j] == 0;
    for (int j = 0; j < 4; j++)
        zero &= a2[j] == 0;
    check_true("adam reset zeroes 2 slots, no more", zero && a2[4] == 9);
}

static void test_clip_edges(void) {
    // clipnorm: a zero gradient, and one under the norm, stay as they are
    kdl_Optimizer o = {.kind = KDL_OPT_SGD, .learning_rate = 1.0f, .clipnorm = 1.0f};
    float w[3] = {0, 0, 0}, g0[3] = {0, 0, 0}, g1[3] = {0.3f, -0.4f, 0.1f};
    kdl_Param p[2] = {{w, g0, NULL, 3, 0, 0}, {w, g1, NULL, 3, 0, 0}};
    kdl_optimizer_step(&o, p, 2, 1);
    check_true("clipnorm: zero and small gradients unchanged",
               g0[0] == 0 && g0[1] == 0 && g0[2] == 0 && g1[0] == 0.3f && g1[1] == -0.4f &&
                   g1[2] == 0.1f);
    // clipnorm 1 on (3, 4) -> (0.6, 0.8)
    float g2[2] = {3, 4}, w2[2] = {0, 0};
    kdl_Param p2 = {w2, g2, NULL, 2, 0, 0};
    kdl_optimizer_step(&o, &p2, 1, 1);
    const float want[2] = {0.6f, 0.8f}, wantw[2] = {-0.6f, -0.8f};
    check_close("clipnorm (3, 4) -> (0.6, 0.8)", g2, want, 2, 0, 1e-6);
    check_close("clipnorm then update", w2, wantw, 2, 0, 1e-6);
    // global_clipnorm 1 over two variables (3) and (4): each scaled by 1/5
    o = (kdl_Optimizer){.kind = KDL_OPT_SGD, .learning_rate = 1.0f, .global_clipnorm = 1.0f};
    float ga[1] = {3}, gb[1] = {4}, wa[1] = {0}, wb[1] = {0};
    kdl_Param pg[2] = {{wa, ga, NULL, 1, 0, 0}, {wb, gb, NULL, 1, 0, 0}};
    kdl_optimizer_step(&o, pg, 2, 1);
    check_true("global_clipnorm scales by clip / global norm",
               fabsf(ga[0] - 0.6f) < 1e-7f && fabsf(gb[0] - 0.8f) < 1e-7f);
    // an infinite gradient makes every gradient NaN under global_clipnorm (Keras)
    ga[0] = INFINITY, gb[0] = 1;
    kdl_optimizer_step(&o, pg, 2, 1);
    check_true("global_clipnorm of an infinite norm: NaN", isnan(ga[0]) && isnan(gb[0]));
    // clipvalue clamps and passes NaN through
    o = (kdl_Optimizer){.kind = KDL_OPT_SGD, .learning_rate = 0.0f, .clipvalue = 0.5f};
    float gc[4] = {2, -3, 0.25f, NAN}, wc[4] = {0, 0, 0, 0};
    kdl_Param pc = {wc, gc, NULL, 4, 0, 0};
    kdl_optimizer_step(&o, &pc, 1, 1);
    check_true("clipvalue clamps, NaN passes",
               gc[0] == 0.5f && gc[1] == -0.5f && gc[2] == 0.25f && isnan(gc[3]));
}

// loss_scale_factor: the step divides the gradients by it before anything
// else, so scaled gradients take exactly the unscaled step (a power of 2).
static void test_loss_scale(void) {
    const kdl_OptKind kinds[] = {KDL_OPT_SGD, KDL_OPT_ADAM, KDL_OPT_RMSPROP};
    for (int k = 0; k < 3; k++) {
        kdl_Optimizer o = {.kind = kinds[k], .learning_rate = 0.1f, .beta_1 = 0.9f,
                           .beta_2 = 0.999f, .epsilon = 1e-7f, .rho = 0.9f, .clipnorm = 0.5f};
        float w1[5], w2[5], g1[5], g2[5], s1[15] = {0}, s2[15] = {0};
        for (int i = 0; i < 5; i++) {
            w1[i] = w2[i] = check_uniform(-1, 1);
            g1[i] = check_uniform(-1, 1);
            g2[i] = g1[i] * 64.0f;
        }
        kdl_Param p1 = {w1, g1, s1, 5, 0, 0}, p2 = {w2, g2, s2, 5, 0, 0};
        kdl_optimizer_step(&o, &p1, 1, 1);
        o.loss_scale_factor = 64.0f;
        kdl_optimizer_step(&o, &p2, 1, 1);
        check_close("loss_scale_factor 64: the unscaled step", w2, w1, 5, 0, 0);
        check_close("loss_scale_factor 64: unscaled, clipped gradients", g2, g1, 5, 0, 0);
    }
}

// The naive constraint: norms over the axes of `axes` in double.
static void ref_constraint(const kdl_Constraint *c, const float *w, double *out) {
    size_t n = 1;
    for (int a = 0; a < c->rank; a++)
        n *= (size_t)c->shape[a];
    for (size_t i = 0; i < n; i++) {
        // the coordinates of i; sum the squares of every element agreeing on the kept axes
        int ci[8];
        size_t r = i;
        for (int a = c->rank - 1; a >= 0; a--)
            ci[a] = (int)(r % (size_t)c->shape[a]), r /= (size_t)c->shape[a];
        double s = 0;
        for (size_t j = 0; j < n; j++) {
            int same = 1;
            size_t q = j;
            for (int a = c->rank - 1; a >= 0; a--) {
                int cj = (int)(q % (size_t)c->shape[a]);
                q /= (size_t)c->shape[a];
                if (!(c->axes >> a & 1u) && cj != ci[a])
                    same = 0;
            }
            if (same)
                s += (double)w[j] * w[j];
        }
        double norm = sqrt(s), eps = 1e-7, desired;
        switch (c->kind) {
        case KDL_CONSTRAINT_MAX_NORM:
            desired = fmin(norm, c->max_value);
            out[i] = w[i] * desired / (eps + norm);
            break;
        case KDL_CONSTRAINT_MIN_MAX_NORM:
            desired = c->rate * fmin(fmax(norm, c->min_value), c->max_value) +
                      (1 - c->rate) * norm;
            out[i] = w[i] * desired / (eps + norm);
            break;
        case KDL_CONSTRAINT_UNIT_NORM:
            out[i] = w[i] / (eps + norm);
            break;
        case KDL_CONSTRAINT_NON_NEG:
            out[i] = fmax(w[i], 0);
            break;
        }
    }
}

static void test_constraints(void) {
    // By hand: MaxNorm(2) over axis 0 of a (2, 2) Dense kernel: columns
    // (3, 4) (norm 5 -> scaled to 2) and (0.6, 0.8) (norm 1, kept).
    float w[4] = {3, 0.6f, 4, 0.8f};
    kdl_Constraint c = {.kind = KDL_CONSTRAINT_MAX_NORM, .max_value = 2, .rank = 2,
                        .shape = {2, 2}, .axes = 1};
    kdl_constraint_apply(&c, w);
    float want[4] = {3 * 2 / (5 + 1e-7f), 0.6f / (1 + 1e-7f), 4 * 2 / (5 + 1e-7f),
                     0.8f / (1 + 1e-7f)};
    check_close("MaxNorm(2) by hand", w, want, 4, 1e-7f, 1e-6f);
    float nn[3] = {-1, 0, 2};
    c.kind = KDL_CONSTRAINT_NON_NEG;
    c.rank = 1, c.shape[0] = 3;
    kdl_constraint_apply(&c, nn);
    check_true("NonNeg", nn[0] == 0 && nn[1] == 0 && nn[2] == 2);
    // Every kind, axes of a (3, 2, 4, 5) conv kernel, against the naive form.
    static const unsigned axes[] = {1, 2, 8, 3, 7, 15, 0};
    for (int kind = 0; kind <= KDL_CONSTRAINT_NON_NEG; kind++)
        for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++) {
            kdl_Constraint k = {.kind = (kdl_ConstraintKind)kind, .min_value = 0.5f,
                                .max_value = 1.5f, .rate = 0.7f, .rank = 4,
                                .shape = {3, 2, 4, 5}, .axes = axes[a]};
            float *x = check_random(120, -1, 1), ref[120];
            double refd[120];
            ref_constraint(&k, x, refd);
            for (int i = 0; i < 120; i++)
                ref[i] = (float)refd[i];
            kdl_constraint_apply(&k, x);
            char what[96];
            snprintf(what, sizeof what, "constraint %d over axes 0x%x", kind, axes[a]);
            check_close(what, x, ref, 120, 1e-6f, 1e-5f);
            free(x);
        }
}

// ---- schedules ----------------------------------------------------------------------------------

// kdl_schedule_value over steps 0..60 against the naive forms, then values
// worked out by hand.
static void test_schedules(void) {
    static const int64_t b1[3] = {0, 5, 9};
    static const double v1[4] = {1.0, 0.5, 0.25, 0.125};
    const kdl_LRSchedule cases[] = {
        {.kind = KDL_LR_EXPONENTIAL, .initial_learning_rate = 0.1, .decay_steps = 7,
         .decay_rate = 0.9},
        {.kind = KDL_LR_EXPONENTIAL, .initial_learning_rate = 0.1, .decay_steps = 7,
         .decay_rate = 0.9, .staircase = 1},
        {.kind = KDL_LR_INVERSE_TIME, .initial_learning_rate = 0.1, .decay_steps = 3,
         .decay_rate = 0.5},
        {.kind = KDL_LR_INVERSE_TIME, .initial_learning_rate = 0.1, .decay_steps = 3,
         .decay_rate = 0.5, .staircase = 1},
        {.kind = KDL_LR_POLYNOMIAL, .initial_learning_rate = 0.1, .decay_steps = 10,
         .end_learning_rate = 0.0001, .power = 1},
        {.kind = KDL_LR_POLYNOMIAL, .initial_learning_rate = 0.1, .decay_steps = 10,
         .end_learning_rate = 0.01, .power = 0.5, .cycle = 1},
        {.kind = KDL_LR_PIECEWISE, .nboundaries = 3, .boundaries = b1, .values = v1},
        {.kind = KDL_LR_COSINE, .initial_learning_rate = 0.1, .decay_steps = 20},
        {.kind = KDL_LR_COSINE, .initial_learning_rate = 0.1, .decay_steps = 20, .alpha = 0.3,
         .warmup = 1, .warmup_target = 1.0, .warmup_steps = 7},
        {.kind = KDL_LR_COSINE, .initial_learning_rate = 0.1, .decay_steps = 20, .warmup = 1,
         .warmup_target = 0.5, .warmup_steps = 0},
        {.kind = KDL_LR_COSINE_RESTARTS, .initial_learning_rate = 0.1, .decay_steps = 4,
         .t_mul = 1, .m_mul = 0.9, .alpha = 0.05},
        {.kind = KDL_LR_COSINE_RESTARTS, .initial_learning_rate = 0.1, .decay_steps = 3,
         .t_mul = 2, .m_mul = 1},
        {.kind = KDL_LR_COSINE_RESTARTS, .initial_learning_rate = 0.1, .decay_steps = 2,
         .t_mul = 1.5, .m_mul = 0.8, .alpha = 0.1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float got[61], want[61];
        for (int64_t t = 0; t <= 60; t++) {
            got[t] = (float)kdl_schedule_value(&cases[c], t);
            want[t] = (float)ref_schedule(&cases[c], t);
        }
        char what[64];
        snprintf(what, sizeof what, "schedule %zu (kind %d), steps 0..60", c, cases[c].kind);
        check_close(what, got, want, 61, 1e-9, 1e-6);
    }
    // Worked by hand.
    kdl_LRSchedule s = {.kind = KDL_LR_EXPONENTIAL, .initial_learning_rate = 0.1,
                        .decay_steps = 4, .decay_rate = 0.5, .staircase = 1};
    check_true("exponential staircase: 0.1 * 0.5^floor(7/4) = 0.05",
               fabs(kdl_schedule_value(&s, 7) - 0.05) < 1e-15);
    s.staircase = 0;
    check_true("exponential: 0.1 * 0.5^(6/4)",
               fabs(kdl_schedule_value(&s, 6) - 0.1 * pow(0.5, 1.5)) < 1e-15);
    s = (kdl_LRSchedule){.kind = KDL_LR_POLYNOMIAL, .initial_learning_rate = 0.1,
                         .decay_steps = 4, .power = 1, .cycle = 1};
    check_true("polynomial cycle: step 0 is the start, step 5 is 3/8 of the way up",
               fabs(kdl_schedule_value(&s, 0) - 0.1) < 1e-15 &&
                   fabs(kdl_schedule_value(&s, 5) - 0.1 * 3 / 8) < 1e-15);
    static const int64_t b2[2] = {2, 4};
    static const double v2[3] = {1.0, 0.5, 0.1};
    s = (kdl_LRSchedule){.kind = KDL_LR_PIECEWISE, .nboundaries = 2, .boundaries = b2,
                         .values = v2};
    check_true("piecewise: step <= 2 -> 1, 2 < step <= 4 -> 0.5, then 0.1",
               kdl_schedule_value(&s, 2) == 1.0 && kdl_schedule_value(&s, 3) == 0.5 &&
                   kdl_schedule_value(&s, 4) == 0.5 && kdl_schedule_value(&s, 5) == 0.1);
    s = (kdl_LRSchedule){.kind = KDL_LR_COSINE, .initial_learning_rate = 0.0, .decay_steps = 4,
                         .warmup = 1, .warmup_target = 1.0, .warmup_steps = 2, .alpha = 0.5};
    check_true("cosine warmup: halfway at step 1, decayed to alpha after 6",
               fabs(kdl_schedule_value(&s, 1) - 0.5) < 1e-15 &&
                   fabs(kdl_schedule_value(&s, 2) - 1.0) < 1e-15 &&
                   fabs(kdl_schedule_value(&s, 4) - 0.75) < 1e-15 &&
                   fabs(kdl_schedule_value(&s, 60) - 0.5) < 1e-15);
    s = (kdl_LRSchedule){.kind = KDL_LR_COSINE_RESTARTS, .initial_learning_rate = 1.0,
                         .decay_steps = 2, .t_mul = 2, .m_mul = 0.5};
    check_true("cosine restarts: restart at step 2 from m_mul, a quarter into period 2 at 3",
               fabs(kdl_schedule_value(&s, 2) - 0.5) < 1e-15 &&
                   fabs(kdl_schedule_value(&s, 3) - 0.25 * (1 + cos(pi / 4))) < 1e-15);
    // kdl_learning_rate: the float, or the schedule rounded to float32
    kdl_Optimizer o = {.kind = KDL_OPT_SGD, .learning_rate = 0.25f};
    check_true("constant learning rate", kdl_learning_rate(&o, 1000) == 0.25f);
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_INVERSE_TIME, .initial_learning_rate = 0.1,
                                  .decay_steps = 1, .decay_rate = 1};
    check_true("inverse time at 3: 0.1 / 4", kdl_learning_rate(&o, 3) == (float)(0.1 / 4));
}

// One step of each new rule from w = 1, worked out by hand; and a resumed
// run (slots, iterations) that takes the same steps as an uninterrupted one.
static void test_new_rules_by_hand(void) {
    // Adamax t = 1: m = 0.1 g, u = |g|: w -= lr * 0.1 g / (0.1 (|g| + eps)) = lr sign(g)
    kdl_Optimizer o = {.kind = KDL_OPT_ADAMAX, .learning_rate = 0.01f, .beta_1 = 0.9f,
                       .beta_2 = 0.999f, .epsilon = 0.0f};
    float w[2] = {1, 1}, g[2] = {0.5f, -2}, s[4];
    kdl_Param p = {w, g, s, 2, 0, 0};
    kdl_optimizer_reset(&o, &p, 1);
    kdl_optimizer_step(&o, &p, 1, 1);
    check_true("adamax first step: lr * sign(g)",
               fabsf(w[0] - 0.99f) < 1e-6f && fabsf(w[1] - 1.01f) < 1e-6f);
    // Lion t = 1: w -= lr sign(0.1 g); m = 0.01 g
    o = (kdl_Optimizer){.kind = KDL_OPT_LION, .learning_rate = 0.1f, .beta_1 = 0.9f,
                        .beta_2 = 0.99f};
    w[0] = w[1] = 1, g[0] = 0.5f, g[1] = 0;
    kdl_optimizer_reset(&o, &p, 1);
    kdl_optimizer_step(&o, &p, 1, 1);
    check_true("lion first step: w - lr sign(g), sign(0) = 0; m = (1 - beta_2) g",
               w[0] == 0.9f && w[1] == 1.0f && fabsf(s[0] - 0.005f) < 1e-8f && s[1] == 0);
    // Ftrl t = 1, lr 1, power -0.5, n0 = 0.25, g = 2: n = 4.25,
    // z = 2 - (sqrt(4.25) - 0.5) * 1 = 2.5 - sqrt(4.25); l1 = 0.1:
    // w = (0.1 sign(z) - z) / sqrt(4.25) (beta, l2 0).
    o = (kdl_Optimizer){.kind = KDL_OPT_FTRL, .learning_rate = 1.0f, .learning_rate_power = -0.5f,
                        .initial_accumulator_value = 0.25f, .l1_regularization_strength = 0.1f};
    w[0] = 1, g[0] = 2, w[1] = 1, g[1] = 0;
    kdl_optimizer_reset(&o, &p, 1);
    kdl_optimizer_step(&o, &p, 1, 1);
    double z = 2.5 - sqrt(4.25), want0 = (z > 0 ? 0.1 - z : -0.1 - z) / sqrt(4.25);
    // g = 0: z = 0, |z| <= l1: w = 0
    check_true("ftrl first step", fabs(w[0] - want0) < 1e-6 && w[1] == 0.0f);
    // Adadelta t = 1, rho 0.5, eps 1: E[g^2] = 0.5 g^2,
    // delta = -sqrt(1) g / sqrt(0.5 g^2 + 1)
    o = (kdl_Optimizer){.kind = KDL_OPT_ADADELTA, .learning_rate = 1.0f, .rho = 0.5f,
                        .epsilon = 1.0f};
    w[0] = 1, g[0] = 2, w[1] = 1, g[1] = 0;
    kdl_optimizer_reset(&o, &p, 1);
    kdl_optimizer_step(&o, &p, 1, 1);
    check_true("adadelta first step", fabs(w[0] - (1 - 2 / sqrt(3.0))) < 1e-6 && w[1] == 1.0f);
    // Lamb: a zero variable has ratio 1 (w -= lr * update); update = sign(g)
    // at t = 1 with eps 0.
    o = (kdl_Optimizer){.kind = KDL_OPT_LAMB, .learning_rate = 0.1f, .beta_1 = 0.9f,
                        .beta_2 = 0.999f};
    w[0] = w[1] = 0, g[0] = 3, g[1] = -0.5f;
    kdl_optimizer_reset(&o, &p, 1);
    kdl_optimizer_step(&o, &p, 1, 1);
    check_true("lamb: zero weights take the plain step",
               fabsf(w[0] + 0.1f) < 1e-6f && fabsf(w[1] - 0.1f) < 1e-6f);
    // ... and w = (3, 4) (norm 5) with update (1, -1) (norm sqrt 2) moves by
    // 5 / sqrt(2) * lr per element.
    w[0] = 3, w[1] = 4, g[0] = 1, g[1] = -1;
    kdl_optimizer_reset(&o, &p, 1);
    kdl_optimizer_step(&o, &p, 1, 1);
    double d = 0.1 * 5 / sqrt(2.0);
    check_true("lamb: the trust ratio", fabs(w[0] - (3 - d)) < 1e-5 && fabs(w[1] - (4 + d)) < 1e-5);

    // Nadam with a schedule: 6 steps in one go, or 3 then 3 more from the
    // saved slots and iterations (a resumed fit), give the same weights.
    o = (kdl_Optimizer){.kind = KDL_OPT_NADAM, .beta_1 = 0.9f, .beta_2 = 0.999f,
                        .epsilon = 1e-7f};
    o.schedule = (kdl_LRSchedule){.kind = KDL_LR_EXPONENTIAL, .initial_learning_rate = 0.05,
                                  .decay_steps = 2, .decay_rate = 0.5};
    float wa[3] = {0.3f, -0.2f, 0.1f}, wb[3], ga[3], gb[3], sa[6], sb[6];
    memcpy(wb, wa, sizeof wa);
    kdl_Param pa = {wa, ga, sa, 3, 0, 0}, pb = {wb, gb, sb, 3, 0, 0};
    kdl_optimizer_reset(&o, &pa, 1);
    kdl_optimizer_reset(&o, &pb, 1);
    float saved[6];
    int64_t iterations = 0;
    for (int64_t t = 1; t <= 6; t++) {
        for (int j = 0; j < 3; j++)
            ga[j] = gb[j] = (float)(0.5 * sin((double)(t * 3 + j)));
        kdl_optimizer_step(&o, &pa, 1, t);
        if (t <= 3) {
            kdl_optimizer_step(&o, &pb, 1, ++iterations);
            if (t == 3) {   // "checkpoint", then a fresh state restored from it
                memcpy(saved, sb, sizeof sb);
                kdl_optimizer_reset(&o, &pb, 1);
                memcpy(sb, saved, sizeof sb);
            }
        } else {
            kdl_optimizer_step(&o, &pb, 1, ++iterations);
        }
    }
    check_close("nadam + schedule resumed after 3 steps", wb, wa, 3, 0, 0);
}

// ---- Adafactor -----------------------------------------------------------------------------

// Naive Adafactor (adafactor.py) on a variable of shape (outer, rows, cols),
// rows == 0 for a variable of rank < 2: double, indices written out.
typedef struct {
    double w[60], r[60], c[60], v[60];
    size_t n, rows, cols;
} RefAf;

static void ref_adafactor(const kdl_Optimizer *o, RefAf *x, const float *g, double lr, int t) {
    size_t n = x->n;
    double sw = 0;
    for (size_t j = 0; j < n; j++)
        sw += x->w[j] * x->w[j];
    double alpha = fmax(o->epsilon_2, sqrt(sw / n)) * fmin(lr, 1 / sqrt((double)t));
    double b = 1 - pow(t, o->beta_2_decay);
    if (x->rows) {
        size_t R = x->rows, C = x->cols, outer = n / (R * C);
        for (size_t k = 0; k < outer; k++) {
            double rmean = 0;
            for (size_t i = 0; i < R; i++) {
                double m = 0;
                for (size_t j = 0; j < C; j++)
                    m += ((double)g[(k * R + i) * C + j] * g[(k * R + i) * C + j] +
                          o->epsilon_1) / C;
                x->r[k * R + i] = b * x->r[k * R + i] + (1 - b) * m;
                rmean += x->r[k * R + i] / R;
            }
            for (size_t j = 0; j < C; j++) {
                double m = 0;
                for (size_t i = 0; i < R; i++)
                    m += ((double)g[(k * R + i) * C + j] * g[(k * R + i) * C + j] +
                          o->epsilon_1) / R;
                x->c[k * C + j] = b * x->c[k * C + j] + (1 - b) * m;
            }
            for (size_t i = 0; i < R; i++)
                for (size_t j = 0; j < C; j++)
                    x->v[(k * R + i) * C + j] = x->r[k * R + i] / rmean * x->c[k * C + j];
        }
    } else {
        for (size_t j = 0; j < n; j++)
            x->v[j] = b * x->v[j] + (1 - b) * ((double)g[j] * g[j] + o->epsilon_1);
    }
    double su = 0;
    for (size_t j = 0; j < n; j++)
        su += g[j] * g[j] / x->v[j];
    double d = fmax(1, sqrt(su / n) / o->clip_threshold);
    for (size_t j = 0; j < n; j++)
        x->w[j] -= alpha * g[j] / sqrt(x->v[j]) / d;
}

static void test_adafactor(void) {
    const size_t shapes[3][3] = {{1, 3, 4}, {2, 3, 5}, {7, 0, 0}};    // outer, rows, cols
    kdl_Optimizer cfgs[3] = {
        {.kind = KDL_OPT_ADAFACTOR, .learning_rate = 0.001f, .beta_2_decay = -0.8f,
         .epsilon_1 = 1e-30f, .epsilon_2 = 1e-3f, .clip_threshold = 1.0f},
        {.kind = KDL_OPT_ADAFACTOR, .learning_rate = 0.9f, .beta_2_decay = -0.5f,
         .epsilon_1 = 1e-3f, .epsilon_2 = 0.5f, .clip_threshold = 0.3f},
        {.kind = KDL_OPT_ADAFACTOR, .beta_2_decay = -0.8f, .epsilon_1 = 1e-30f,
         .epsilon_2 = 1e-3f, .clip_threshold = 1.0f, .weight_decay = 0.1f,
         .schedule = {.kind = KDL_LR_EXPONENTIAL, .initial_learning_rate = 0.5,
                      .decay_steps = 1, .decay_rate = 0.5}},
    };
    for (int c = 0; c < 3; c++) {
        const kdl_Optimizer *o = &cfgs[c];
        float w[3][60], g[3][60], sl[3][180];
        RefAf ref[3];
        kdl_Param p[3];
        for (int i = 0; i < 3; i++) {
            size_t n = shapes[i][0] * (shapes[i][1] ? shapes[i][1] * shapes[i][2] : 1);
            memset(&ref[i], 0, sizeof ref[i]);
            ref[i].n = n, ref[i].rows = shapes[i][1], ref[i].cols = shapes[i][2];
            for (size_t j = 0; j < n; j++)
                ref[i].w[j] = w[i][j] = check_uniform(-1, 1);
            p[i] = (kdl_Param){w[i], g[i], sl[i], n, shapes[i][1], shapes[i][2]};
        }
        kdl_optimizer_reset(o, p, 3);
        for (int t = 1; t <= 4; t++) {
            double lr = ref_lr(o, t - 1);
            for (int i = 0; i < 3; i++) {
                for (size_t j = 0; j < ref[i].n; j++) {
                    g[i][j] = check_uniform(-1, 1) * (i == 1 ? 3.0f : 0.2f);
                    ref[i].w[j] -= ref[i].w[j] * o->weight_decay * lr;
                }
                ref_adafactor(o, &ref[i], g[i], lr, t);
            }
            kdl_optimizer_step(o, p, 3, t);
        }
        for (int i = 0; i < 3; i++) {
            size_t n = ref[i].n, R = ref[i].rows, C = ref[i].cols, outer = shapes[i][0];
            float want[60];
            char what[96];
            for (size_t j = 0; j < n; j++)
                want[j] = (float)ref[i].w[j];
            snprintf(what, sizeof what, "adafactor config %d var %d: weights", c, i);
            check_close(what, w[i], want, n, 1e-6, 2e-4);
            for (size_t j = 0; j < n; j++)
                want[j] = (float)ref[i].v[j];
            snprintf(what, sizeof what, "adafactor config %d var %d: velocity", c, i);
            check_close(what, sl[i] + 2 * n, want, n, 1e-9, 2e-4);
            if (R) {
                for (size_t j = 0; j < outer * R; j++)
                    want[j] = (float)ref[i].r[j];
                snprintf(what, sizeof what, "adafactor config %d var %d: r", c, i);
                check_close(what, sl[i], want, outer * R, 1e-9, 2e-4);
                for (size_t j = 0; j < outer * C; j++)
                    want[j] = (float)ref[i].c[j];
                snprintf(what, sizeof what, "adafactor config %d var %d: c", c, i);
                check_close(what, sl[i] + n, want, outer * C, 1e-9, 2e-4);
            }
        }
    }
    // The slots' shapes in a checkpoint: r (2, 3), c (2, 5), velocity (2, 3, 5);
    // scalars r and c for a vector.
    kdl_Optimizer o = {.kind = KDL_OPT_ADAFACTOR};
    const int64_t shape[3] = {2, 3, 5};
    int64_t out[3];
    int r0 = kdl_optimizer_slot_shape(&o, 0, 3, shape, out);
    check_true("adafactor r shape (2, 3)", r0 == 2 && out[0] == 2 && out[1] == 3);
    int r1 = kdl_optimizer_slot_shape(&o, 1, 3, shape, out);
    check_true("adafactor c shape (2, 5)", r1 == 2 && out[0] == 2 && out[1] == 5);
    int r2 = kdl_optimizer_slot_shape(&o, 2, 3, shape, out);
    check_true("adafactor velocity shape", r2 == 3 && out[2] == 5);
    check_true("adafactor r of a vector: a scalar",
               kdl_optimizer_slot_shape(&o, 0, 1, shape, out) == 0);
    check_true("adafactor: 3 slots, named r, c, velocity",
               kdl_optimizer_slots(&o) == 3 && !strcmp(kdl_optimizer_slot_name(&o, 0), "r") &&
                   !strcmp(kdl_optimizer_slot_name(&o, 1), "c") &&
                   !strcmp(kdl_optimizer_slot_name(&o, 2), "velocity"));
}

int main(void) {
    test_adafactor();
    test_schedules();
    test_new_rules_by_hand();
    test_loss_scale();
    test_constraints();
    test_random();
    test_adam_by_hand();
    test_sgd_by_hand();
    test_slots_reset();
    test_clip_edges();
    return check_report();
}
