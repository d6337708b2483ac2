/*
 * emit_train.c - the training code of a compiled model (issue #4).
 *
 * Requires: the model's inference lowering (emit_c.c emits its object,
 * lifecycle and predict) and its training lowering (lower_model with
 * training, ir_plan_train), the .kdl compile()/fit() configuration.
 * Provides, per trainable model P (docs/training.md):
 *   P_Grads (header)        gradients of the trainable weights only
 *   P_create_training       the model plus gradients, optimizer slots and the
 *                           training arena, in one more allocation
 *   P_train_on_batch        forward in training mode, losses and the
 *                           regularization penalties, backward in reverse,
 *                           the optimizer update, the weights' constraints
 *   P_test_on_batch         predict (or, with activity regularizers, the
 *                           training ops in inference mode), losses,
 *                           penalties and metrics
 *   P_train_model, P_fit_defaults, P_fit, P_evaluate (runtime/train.c)
 * compile()'s and fit()'s arguments are read as Keras 3's CompileLoss /
 * CompileMetrics and optimizers read them; what kdl does not implement is
 * reported at the argument. Every block names its layer and .kdl line, as
 * the inference code does; names in C strings go through c_string, names in
 * comments through cmt.
 */
#include "emit.h"
#include "layer_data.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---- compile() configuration ----------------------------------------------------------

#define MAX_METRICS 16      // KDL_MAX_LOGS in include/kdl.h
// The class a channels_first Flatten runs as in the training lowering (a
// transpose; ir_plan_train makes every plain Flatten an alias).
#define CF_FLATTEN "Flatten (channels_first)"

typedef struct LossCfg {
    const char *kind;       // "KDL_LOSS_CCE", ...; NULL: the output has no loss
    bool from_logits;
    double label_smoothing, delta;
    bool sum;               // reduction "sum" (else sum_over_batch_size)
    bool by_weights;        // "mean_with_sample_weight" (over the sample weights' sum)
    double weight;          // loss_weights entry
    bool fused;             // the output's softmax/sigmoid is fused into it
    bool sparse;            // targets are labels (one per output row)
    ActKind fused_act;
} LossCfg;

typedef struct MetricCfg {
    const char *kind;       // "KDL_METRIC_...", or NULL: a loss used as a metric
    double param;           // BinaryAccuracy's threshold, top-k's k
    const char *name;       // as Keras logs it
    int output;
    LossCfg loss;           // for a loss used as a metric
    bool output_loss;       // the output's own loss (<output>_loss, several losses)
    bool negate;            // CosineSimilarity: the cosine loss negated
    bool per_step;          // a keras.losses object: the mean of its reduced batch values
    int reduce;             // KDL_METRIC_MEAN, _ROOT_MEAN, _STEP_MEAN, _WEIGHTED_MEAN
    Span at;
} MetricCfg;

// A regularizer's factors (L1: l1, L2: l2, L1L2: both; Regularizer(): none).
typedef struct RegCfg {
    double l1, l2;
} RegCfg;

// A trainable weight with a regularizer and/or a constraint.
typedef struct WeightCfg {
    Layer *layer;
    Weight *w;
    bool reg, con;
    RegCfg r;
    const char *con_kind;   // "KDL_CONSTRAINT_..."
    double min_value, max_value, rate;
    unsigned axes;
} WeightCfg;

// An output of a layer call with an activity regularizer.
typedef struct ActRegCfg {
    IrOp *op;
    int out;
    RegCfg r;
} ActRegCfg;

typedef struct TrainCfg {
    const char *optimizer;  // the declaration of `opt` (kdl_Optimizer), and its tables
    double loss_scale;      // the optimizer's loss_scale_factor (1: None)
    LossCfg *loss;          // per output
    Vec metrics;            // MetricCfg*
    Vec weights;            // WeightCfg*: regularized / constrained trainable weights
    Vec actregs;            // ActRegCfg*
    bool weighted;          // the loss takes sample weights (one output, one row per sample)
    int nclass;             // fit(class_weight={id: weight, ...})
    int64_t *class_ids;
    double *class_w;
} TrainCfg;

static bool icase_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

static bool obj_flag(const Object *o, const char *name) {
    return obj_arg(o, name, 0) != 0;
}

// The value and span of argument `name` of a config object (NULL if absent).
static Value *obj_val(const Object *o, const char *name, Span *at) {
    for (int i = 0; o && i < o->sig->nparams; i++)
        if (!strcmp(o->sig->params[i].name, name)) {
            if (at)
                *at = o->spans ? o->spans[i] : o->span;
            return o->args[i];
        }
    return NULL;
}

// The number argument `name` of an optimizer: its value, the default when
// None; a value that is not a number is reported (keras.c lets only a
// schedule through as learning_rate, read by schedule_init).
static double opt_num(Emit *e, const Object *o, const char *name, double dflt, Span at) {
    Value *v = obj_val(o, name, &at);
    if (!v || v->kind == V_NONE)
        return dflt;
    if (is_number(v)) {
        if (isfinite(num_val(v)))
            return num_val(v);
        error_at(e->c, at, "optimizer %s: %s must be a finite number, got %s", o->cls, name,
                 value_str(e->c, v));
    } else {
        error_at(e->c, at, "optimizer %s: %s must be a number for the training code generator "
                 "(callables are not supported)", o->cls, name);
    }
    e->ok = false;
    return dflt;
}

// A double literal, the shortest that reads back as v (schedules are
// evaluated in double).
static const char *dstr(Arena *a, double v) {
    char buf[64];
    for (int d = 1; d <= 17; d++) {
        snprintf(buf, sizeof buf, "%.*g", d, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
    return arena_printf(a, "%s", buf);
}

// The kdl_LRSchedule initializer of a keras.optimizers.schedules object
// (keras.c has checked its arguments' types and Keras's ValueErrors);
// PiecewiseConstantDecay's tables go to *decls, declared before the
// optimizer (static, so their addresses initialize it).
static const char *schedule_init(Emit *e, const Object *s, const char **decls) {
    Arena *a = e->c->arena;
    static const struct {
        const char *cls, *kind;
    } kinds[] = {{"ExponentialDecay", "KDL_LR_EXPONENTIAL"},
                 {"InverseTimeDecay", "KDL_LR_INVERSE_TIME"},
                 {"PolynomialDecay", "KDL_LR_POLYNOMIAL"},
                 {"PiecewiseConstantDecay", "KDL_LR_PIECEWISE"},
                 {"CosineDecay", "KDL_LR_COSINE"},
                 {"CosineDecayRestarts", "KDL_LR_COSINE_RESTARTS"}};
    const char *kind = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(s->cls, kinds[i].cls))
            kind = kinds[i].kind;
    if (!kind)
        die("schedule %s", s->cls);
    Buf b = {0};
    buf_printf(a, &b, "{.kind = %s", kind);
    if (!strcmp(s->cls, "PiecewiseConstantDecay")) {
        // Keras casts the boundaries to the step's integer type (truncation).
        Span bat = s->span, vat = s->span;
        Value *bv = obj_val(s, "boundaries", &bat), *vv = obj_val(s, "values", &vat);
        int n = list_len(bv);
        Buf d = {0};
        buf_printf(a, &d, "    static const int64_t lr_boundaries[%d] = {", n);
        for (int i = 0; i < n; i++) {
            double x = num_val(list_get(bv, i));
            if (!(fabs(x) < 9e18)) {
                error_at(e->c, bat, "%s: boundary %s is not a step count", s->cls,
                         value_str(e->c, list_get(bv, i)));
                e->ok = false;
                x = 0;
            }
            buf_printf(a, &d, "%s%lld", i ? ", " : "", (long long)x);
        }
        buf_printf(a, &d, "};\n    static const double lr_values[%d] = {", n + 1);
        for (int i = 0; i <= n; i++) {
            double x = num_val(list_get(vv, i));
            if (!isfinite(x)) {
                error_at(e->c, vat, "%s: values must be finite numbers, got %s", s->cls,
                         value_str(e->c, list_get(vv, i)));
                e->ok = false;
                x = 0;
            }
            buf_printf(a, &d, "%s%s", i ? ", " : "", dstr(a, x));
        }
        buf_printf(a, &d, "};\n");
        *decls = buf_str(a, &d);
        buf_printf(a, &b, ", .nboundaries = %d,\n"
                   "                  .boundaries = lr_boundaries, .values = lr_values}", n);
        return buf_str(a, &b);
    }
    // The number arguments, by their Keras names; kdl_LRSchedule's field
    // names are Keras's but for first_decay_steps.
    static const char *const nums[][2] = {
        {"initial_learning_rate", "initial_learning_rate"}, {"decay_steps", "decay_steps"},
        {"first_decay_steps", "decay_steps"}, {"decay_rate", "decay_rate"},
        {"end_learning_rate", "end_learning_rate"}, {"power", "power"}, {"alpha", "alpha"},
        {"warmup_steps", "warmup_steps"}, {"t_mul", "t_mul"}, {"m_mul", "m_mul"}};
    int fields = 1;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        Span at = s->span;
        Value *v = obj_val(s, nums[i][0], &at);
        if (!v)
            continue;
        if (!is_number(v) || !isfinite(num_val(v))) {
            error_at(e->c, at, "%s: %s must be a finite number, got %s", s->cls, nums[i][0],
                     value_str(e->c, v));
            e->ok = false;
            continue;
        }
        buf_printf(a, &b, ",%s.%s = %s", fields++ % 3 == 2 ? "\n                  " : " ",
                   nums[i][1], dstr(a, num_val(v)));
    }
    Span at = s->span;
    Value *wt = obj_val(s, "warmup_target", &at);
    if (wt && wt->kind != V_NONE) {
        double x = num_val(wt);
        if (!isfinite(x)) {
            error_at(e->c, at, "%s: warmup_target must be a finite number, got %s", s->cls,
                     value_str(e->c, wt));
            e->ok = false;
            x = 0;
        }
        buf_printf(a, &b, ", .warmup = 1, .warmup_target = %s", dstr(a, x));
    }
    if (obj_val(s, "staircase", NULL))
        buf_printf(a, &b, ", .staircase = %d", obj_flag(s, "staircase"));
    if (obj_val(s, "cycle", NULL))
        buf_printf(a, &b, ", .cycle = %d", obj_flag(s, "cycle"));
    buf_printf(a, &b, "}");
    return buf_str(a, &b);
}

// The optimizer of compile(): the declaration of the generated code's
// `static const kdl_Optimizer opt` (and of a schedule's tables before it).
// Defaults per class are keras/src/optimizers/<name>.py's, for the string
// forms ("adam") too; *slots is kdl_optimizer_slots of it.
static const char *optimizer_init(Emit *e, Value *v, Span at, int *slots, double *loss_scale) {
    Arena *a = e->c->arena;
    const Object *o = v->kind == V_OBJECT ? v->u.object : NULL;
    const char *name = v->kind == V_STR ? v->u.str.s : o ? o->cls : "rmsprop";
    enum { SGD, ADAM, ADAMW, RMSPROP, ADAGRAD, ADAMAX, NADAM, ADADELTA, LION, FTRL, LAMB,
           ADAFACTOR };
    static const struct {
        const char *name, *kind;
        double lr;
    } known[] = {{"sgd", "KDL_OPT_SGD", 0.01},         {"adam", "KDL_OPT_ADAM", 0.001},
                 {"adamw", "KDL_OPT_ADAMW", 0.001},    {"rmsprop", "KDL_OPT_RMSPROP", 0.001},
                 {"adagrad", "KDL_OPT_ADAGRAD", 0.001}, {"adamax", "KDL_OPT_ADAMAX", 0.001},
                 {"nadam", "KDL_OPT_NADAM", 0.001},    {"adadelta", "KDL_OPT_ADADELTA", 0.001},
                 {"lion", "KDL_OPT_LION", 0.001},      {"ftrl", "KDL_OPT_FTRL", 0.001},
                 {"lamb", "KDL_OPT_LAMB", 0.001},      {"adafactor", "KDL_OPT_ADAFACTOR", 0.001}};
    int k = -1;
    for (int i = 0; i < (int)(sizeof known / sizeof known[0]); i++)
        if (icase_eq(name, known[i].name))
            k = i;
    if (k < 0) {
        error_at(e->c, at, "optimizer '%s' is not supported by the training code generator yet "
                 "(kdl trains with SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam, Adadelta, "
                 "Lion, Ftrl, Lamb and Adafactor)", name);
        e->ok = false;
        return "    static const kdl_Optimizer opt = {0};\n";
    }
    // Options kdl does not implement: rejected where they are given. With
    // use_ema=False, ema_momentum and ema_overwrite_frequency do nothing in
    // Keras either.
    Span s;
    Value *ov = obj_val(o, "use_ema", &s);
    if (ov && value_truthy(ov)) {
        error_at(e->c, s, "optimizer %s: use_ema=True is not supported by the training code "
                 "generator (kdl keeps no moving average of the weights)", o->cls);
        e->ok = false;
    }
    ov = obj_val(o, "gradient_accumulation_steps", &s);
    if (ov && ov->kind != V_NONE) {
        error_at(e->c, s, "optimizer %s: gradient_accumulation_steps is not supported by the "
                 "training code generator (kdl applies the gradients of every batch)", o->cls);
        e->ok = false;
    }
    *loss_scale = 1;
    ov = obj_val(o, "loss_scale_factor", &s);
    if (ov && ov->kind != V_NONE) {
        double f = opt_num(e, o, "loss_scale_factor", 1, at);
        if (!(f > 0) || !isfinite(f)) {
            error_at(e->c, s, "optimizer %s: loss_scale_factor must be a positive number, got %s",
                     o->cls, value_str(e->c, ov));
            e->ok = false;
        } else {
            *loss_scale = f;
        }
    }
    // learning_rate: a float, or a schedule evaluated at every step.
    const char *decls = "", *schedule = "{.kind = KDL_LR_CONSTANT}";
    double lr = known[k].lr;
    ov = obj_val(o, "learning_rate", &s);
    if (ov && is_schedule(ov))
        schedule = schedule_init(e, ov->u.object, &decls);
    else
        lr = opt_num(e, o, "learning_rate", known[k].lr, at);
    double mom = opt_num(e, o, "momentum", 0, at);
    // Slot arrays per variable, as runtime/optim.c keeps them.
    *slots = k == SGD                   ? mom != 0
             : k == ADAM || k == ADAMW  ? 2 + obj_flag(o, "amsgrad")
             : k == RMSPROP             ? 1 + (mom > 0) + obj_flag(o, "centered")
             : k == ADAGRAD || k == LION ? 1
             : k == ADAFACTOR           ? 3
                                        : 2;
    double b1 = opt_num(e, o, "beta_1", 0.9, at);
    double b2 = opt_num(e, o, "beta_2", k == LION ? 0.99 : 0.999, at);
    double eps = opt_num(e, o, "epsilon", 1e-7, at);
    double rho = opt_num(e, o, "rho", k == ADADELTA ? 0.95 : 0.9, at);
    double acc = opt_num(e, o, "initial_accumulator_value", 0.1, at);
    double wd = opt_num(e, o, "weight_decay", k == ADAMW ? 0.004 : 0, at);
    double cn = opt_num(e, o, "clipnorm", 0, at), cv = opt_num(e, o, "clipvalue", 0, at);
    double gcn = opt_num(e, o, "global_clipnorm", 0, at);
    if ((cn != 0) + (cv != 0) + (gcn != 0) > 1) {
        error_at(e->c, at, "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                 "Received: clipnorm=%s, clipvalue=%s, global_clipnorm=%s",
                 cn ? arena_printf(a, "%g", cn) : "None", cv ? arena_printf(a, "%g", cv) : "None",
                 gcn ? arena_printf(a, "%g", gcn) : "None");
        e->ok = false;
    }
    // Ftrl's own arguments (keras.c has checked their signs), or Adafactor's.
    const char *ftrl = "";
    if (k == FTRL)
        ftrl = arena_printf(
            a,
            "     .learning_rate_power = %s, .l1_regularization_strength = %s,\n"
            "     .l2_regularization_strength = %s,\n"
            "     .l2_shrinkage_regularization_strength = %s, .beta = %s,\n",
            fstr(a, opt_num(e, o, "learning_rate_power", -0.5, at)),
            fstr(a, opt_num(e, o, "l1_regularization_strength", 0, at)),
            fstr(a, opt_num(e, o, "l2_regularization_strength", 0, at)),
            fstr(a, opt_num(e, o, "l2_shrinkage_regularization_strength", 0, at)),
            fstr(a, opt_num(e, o, "beta", 0, at)));
    // Adafactor's (keras.c has checked nothing more: Keras checks nothing).
    if (k == ADAFACTOR)
        ftrl = arena_printf(
            a, "     .beta_2_decay = %s, .epsilon_1 = %s, .epsilon_2 = %s, .clip_threshold = %s,\n",
            fstr(a, opt_num(e, o, "beta_2_decay", -0.8, at)),
            fstr(a, opt_num(e, o, "epsilon_1", 1e-30, at)),
            fstr(a, opt_num(e, o, "epsilon_2", 1e-3, at)),
            fstr(a, opt_num(e, o, "clip_threshold", 1.0, at)));
    return arena_printf(a,
                        "%s    static const kdl_Optimizer opt = {\n"
                        "     .kind = %s, .learning_rate = %s, .momentum = %s, .nesterov = %d,\n"
                        "     .beta_1 = %s, .beta_2 = %s, .epsilon = %s, .amsgrad = %d, .rho = %s, "
                        ".centered = %d,\n     .initial_accumulator_value = %s,\n%s"
                        "     .weight_decay = %s, .clipnorm = %s, .clipvalue = %s,\n"
                        "     .global_clipnorm = %s, .loss_scale_factor = %s,\n"
                        "     .schedule = %s};\n",
                        decls, known[k].kind, fstr(a, lr), fstr(a, mom), obj_flag(o, "nesterov"),
                        fstr(a, b1), fstr(a, b2), fstr(a, eps), obj_flag(o, "amsgrad"),
                        fstr(a, rho), obj_flag(o, "centered"), fstr(a, acc), ftrl, fstr(a, wd),
                        fstr(a, cn), fstr(a, cv), fstr(a, gcn),
                        fstr(a, *loss_scale != 1 ? *loss_scale : 0), schedule);
}

// Keras's loss identifiers (class names, function names, aliases) and the
// kdl_loss kind kdl trains each with; NULL: known to Keras, not to kdl's
// training code.
static const struct {
    const char *name, *kind;
} loss_table[] = {
    {"categorical_crossentropy", "KDL_LOSS_CCE"}, {"CategoricalCrossentropy", "KDL_LOSS_CCE"},
    {"sparse_categorical_crossentropy", "KDL_LOSS_SCCE"},
    {"SparseCategoricalCrossentropy", "KDL_LOSS_SCCE"},
    {"binary_crossentropy", "KDL_LOSS_BCE"}, {"BinaryCrossentropy", "KDL_LOSS_BCE"},
    {"bce", "KDL_LOSS_BCE"}, {"BCE", "KDL_LOSS_BCE"},
    {"mean_squared_error", "KDL_LOSS_MSE"}, {"MeanSquaredError", "KDL_LOSS_MSE"},
    {"mse", "KDL_LOSS_MSE"}, {"MSE", "KDL_LOSS_MSE"},
    {"mean_absolute_error", "KDL_LOSS_MAE"}, {"MeanAbsoluteError", "KDL_LOSS_MAE"},
    {"mae", "KDL_LOSS_MAE"}, {"MAE", "KDL_LOSS_MAE"},
    {"huber", "KDL_LOSS_HUBER"}, {"Huber", "KDL_LOSS_HUBER"},
    {"kl_divergence", "KDL_LOSS_KLD"}, {"KLDivergence", "KDL_LOSS_KLD"},
    {"kld", "KDL_LOSS_KLD"}, {"KLD", "KDL_LOSS_KLD"},
    {"hinge", "KDL_LOSS_HINGE"}, {"Hinge", "KDL_LOSS_HINGE"},
    {"squared_hinge", "KDL_LOSS_SQUARED_HINGE"}, {"SquaredHinge", "KDL_LOSS_SQUARED_HINGE"},
    {"categorical_hinge", "KDL_LOSS_CATEGORICAL_HINGE"},
    {"CategoricalHinge", "KDL_LOSS_CATEGORICAL_HINGE"},
    {"poisson", "KDL_LOSS_POISSON"}, {"Poisson", "KDL_LOSS_POISSON"},
    {"log_cosh", "KDL_LOSS_LOG_COSH"}, {"LogCosh", "KDL_LOSS_LOG_COSH"},
    {"mean_absolute_percentage_error", "KDL_LOSS_MAPE"},
    {"MeanAbsolutePercentageError", "KDL_LOSS_MAPE"}, {"mape", "KDL_LOSS_MAPE"},
    {"MAPE", "KDL_LOSS_MAPE"},
    {"mean_squared_logarithmic_error", "KDL_LOSS_MSLE"},
    {"MeanSquaredLogarithmicError", "KDL_LOSS_MSLE"}, {"msle", "KDL_LOSS_MSLE"},
    {"MSLE", "KDL_LOSS_MSLE"},
    {"cosine_similarity", "KDL_LOSS_COSINE"}, {"CosineSimilarity", "KDL_LOSS_COSINE"},
};

// A loss given by string or keras.losses object, for an output whose last
// dimension is `last` (the "crossentropy" shorthand depends on it); false
// (reported) if kdl cannot train with it.
static bool loss_parse(Emit *e, Value *v, LossCfg *out, Span at, int64_t last) {
    memset(out, 0, sizeof *out);
    out->weight = 1;
    out->delta = 1;
    const Object *o = v->kind == V_OBJECT ? v->u.object : NULL;
    const char *n = v->kind == V_STR ? v->u.str.s : o ? o->cls : NULL;
    if (!n) {
        error_at(e->c, at, "cannot train without a loss: give model.compile() a loss (kdlc emit "
                 "--train needs a compile() call with a loss for every model it trains)");
        e->ok = false;
        return false;
    }
    for (size_t i = 0; i < sizeof loss_table / sizeof loss_table[0]; i++)
        if (!strcmp(n, loss_table[i].name))
            out->kind = loss_table[i].kind;
    // compile_utils.get_loss: binary when y_pred's last dimension is 1, else
    // categorical (kdl's targets have the output's shape; integer labels
    // take "sparse_categorical_crossentropy").
    if (!o && (icase_eq(n, "crossentropy") || icase_eq(n, "ce")))
        out->kind = last == 1 ? "KDL_LOSS_BCE" : "KDL_LOSS_CCE";
    if (!out->kind) {
        error_at(e->c, at, "loss '%s' is not supported by the training code generator (kdl "
                 "trains with the crossentropies, MSE, MAE, Huber, KL divergence, hinge, squared "
                 "and categorical hinge, Poisson, log-cosh, MAPE, MSLE and cosine similarity)", n);
        e->ok = false;
        return false;
    }
    out->sparse = !strcmp(out->kind, "KDL_LOSS_SCCE");
    if (o) {
        Span s;
        out->from_logits = obj_flag(o, "from_logits");
        out->label_smoothing = obj_arg(o, "label_smoothing", 0);
        out->delta = obj_arg(o, "delta", 1);
        const char *red = obj_str(o, "reduction", NULL);
        Value *rv = obj_val(o, "reduction", &s);
        out->sum = red && !strcmp(red, "sum");
        out->by_weights = red && !strcmp(red, "mean_with_sample_weight");
        if (!red || (strcmp(red, "sum") && strcmp(red, "sum_over_batch_size") &&
                     strcmp(red, "mean") && strcmp(red, "mean_with_sample_weight"))) {
            error_at(e->c, s, "loss reduction %s is not supported for training (use "
                     "\"sum_over_batch_size\" or \"sum\")", value_repr(e->c, rv));
            e->ok = false;
        }
        Value *ax = obj_val(o, "axis", &s);
        if (ax && !(ax->kind == V_INT && ax->u.i == -1)) {
            error_at(e->c, s, "a loss over an axis other than the last is not supported");
            e->ok = false;
        }
        Value *ic = obj_val(o, "ignore_class", &s);
        if (ic && ic->kind != V_NONE) {
            error_at(e->c, s, "ignore_class is not supported by the training code generator yet");
            e->ok = false;
        }
    }
    return true;
}

// ---- outputs and the per-output compile() arguments ---------------------------------------

static Graph *train_graph(IrModel *t) {
    Model *md = t->model->model;
    return md->train_graph ? md->train_graph : md->graph;
}

// The output layer's name (what metrics dicts are keyed by, and list
// outputs' loss names).
static const char *output_name(IrModel *m, int i) {
    Graph *g = train_graph(m);
    // (a subclassed model may return one of its traced inputs, made by no layer)
    return i < g->noutputs && g->outputs[i]->node ? g->outputs[i]->node->layer->name : "";
}

// The model's outputs given as a dict of tensors (functional or a
// subclass's call()): the flattened outputs are its values in sorted key
// order (tree.flatten); key i, or NULL for other structures.
static const char *output_key(IrModel *m, int i) {
    Value *os = train_graph(m)->out_struct;
    if (!os || os->kind != V_DICT)
        return NULL;
    Dict *d = os->u.dict;
    int n = d->keys.len;
    for (int k = 0; k < n; k++) {
        Value *kv = d->keys.data[k], *vv = d->vals.data[k];
        if (kv->kind != V_STR || vv->kind != V_TENSOR)
            return NULL;
    }
    // the i-th smallest key
    for (int k = 0; k < n; k++) {
        const char *s = ((Value *)d->keys.data[k])->u.str.s;
        int rank = 0;
        for (int j = 0; j < n; j++)
            rank += strcmp(((Value *)d->keys.data[j])->u.str.s, s) < 0;
        if (rank == i)
            return s;
    }
    return NULL;
}

// CompileLoss's name of output i: the dict key, else the layer's name.
static const char *loss_out_name(IrModel *m, int i) {
    const char *k = output_key(m, i);
    return k ? k : output_name(m, i);
}

static const char *names_repr(Emit *e, IrModel *m, bool keys) {
    Buf b = {0};
    buf_putc(e->c->arena, &b, '[');
    for (int i = 0; i < m->noutputs; i++)
        buf_printf(e->c->arena, &b, "%s'%s'", i ? ", " : "",
                   keys ? loss_out_name(m, i) : output_name(m, i));
    buf_putc(e->c->arena, &b, ']');
    return buf_str(e->c->arena, &b);
}

static const char *keys_repr(Emit *e, Dict *d) {
    Buf b = {0};
    buf_putc(e->c->arena, &b, '[');
    for (int i = 0; i < d->keys.len; i++)
        buf_printf(e->c->arena, &b, "%s%s", i ? ", " : "", value_repr(e->c, d->keys.data[i]));
    buf_putc(e->c->arena, &b, ']');
    return buf_str(e->c->arena, &b);
}

// Item i of compile()'s `loss` or `loss_weights` (what = "loss" /
// "loss_weights") as Keras's CompileLoss pairs them with the outputs: a
// single value for every output, a list/tuple by position, a dict keyed by
// the output dict's keys (dict outputs) or by the output layers' names (the
// keys must then be exactly those names). None: the output has no entry.
// Reports a key or length that matches no output (once: *reported).
static Value *per_output_arg(Emit *e, IrModel *m, Value *v, int i, const char *what, Span at,
                             bool *reported) {
    int n = m->noutputs;
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        if (list_len(v) != n) {
            if (!*reported)
                error_at(e->c, at, !strcmp(what, "loss")
                         ? "compile(loss=...) needs one loss per output: the list has %d, the "
                           "model has %d outputs"
                         : "`loss_weights` must match the number of losses, got %d weights and "
                           "%d losses", list_len(v), n);
            *reported = true;
            e->ok = false;
            return NULL;
        }
        return list_get(v, i);
    }
    if (v->kind != V_DICT)
        return v;
    Dict *d = v->u.dict;
    bool dict_out = output_key(m, 0) != NULL;
    for (int k = 0; k < d->keys.len && !*reported; k++) {
        Value *kv = d->keys.data[k];
        bool found = false;
        for (int j = 0; j < n; j++)
            found |= kv->kind == V_STR && !strcmp(kv->u.str.s, loss_out_name(m, j));
        if (found)
            continue;
        if (dict_out)
            error_at(e->c, at, "The path: (%s,) in the `%s` argument, can't be found in either "
                     "the model's output (`y_pred`) or in the labels (`y_true`): the model's "
                     "outputs are a dict with the keys %s", value_repr(e->c, kv), what,
                     names_repr(e, m, true));
        else
            error_at(e->c, at, "Expected keys %s in %s dict, but found %s.keys()=%s (the keys "
                     "name the output layers)", names_repr(e, m, false), what, what,
                     keys_repr(e, d));
        *reported = true;
        e->ok = false;
        return NULL;
    }
    if (!dict_out && d->keys.len != n && !*reported) {
        // CompileLoss.build: list outputs need every output's key.
        error_at(e->c, at, "Expected keys %s in %s dict, but found %s.keys()=%s",
                 names_repr(e, m, false), what, what, keys_repr(e, d));
        *reported = true;
        e->ok = false;
        return NULL;
    }
    Value *r = dict_get_str(d, loss_out_name(m, i));
    return r ? r : v_none();
}

// ---- metrics ------------------------------------------------------------------------------

// A metric kdl computes with a kdl_loss kind (the mean of its per-sample
// values, as Keras's MeanMetricWrapper of the function).
static const struct {
    const char *name, *kind;
} metric_losses[] = {
    {"mape", "KDL_LOSS_MAPE"}, {"MAPE", "KDL_LOSS_MAPE"},
    {"mean_absolute_percentage_error", "KDL_LOSS_MAPE"},
    {"MeanAbsolutePercentageError", "KDL_LOSS_MAPE"},
    {"msle", "KDL_LOSS_MSLE"}, {"MSLE", "KDL_LOSS_MSLE"},
    {"mean_squared_logarithmic_error", "KDL_LOSS_MSLE"},
    {"MeanSquaredLogarithmicError", "KDL_LOSS_MSLE"},
    {"cosine_similarity", "KDL_LOSS_COSINE"}, {"CosineSimilarity", "KDL_LOSS_COSINE"},
    {"log_cosh_error", "KDL_LOSS_LOG_COSH"}, {"LogCoshError", "KDL_LOSS_LOG_COSH"},
    {"hinge", "KDL_LOSS_HINGE"}, {"Hinge", "KDL_LOSS_HINGE"},
    {"squared_hinge", "KDL_LOSS_SQUARED_HINGE"}, {"SquaredHinge", "KDL_LOSS_SQUARED_HINGE"},
    {"categorical_hinge", "KDL_LOSS_CATEGORICAL_HINGE"},
    {"CategoricalHinge", "KDL_LOSS_CATEGORICAL_HINGE"},
    {"kl_divergence", "KDL_LOSS_KLD"}, {"KLDivergence", "KDL_LOSS_KLD"},
    {"poisson", "KDL_LOSS_POISSON"}, {"Poisson", "KDL_LOSS_POISSON"},
    {"binary_crossentropy", "KDL_LOSS_BCE"}, {"BinaryCrossentropy", "KDL_LOSS_BCE"},
    {"bce", "KDL_LOSS_BCE"}, {"BCE", "KDL_LOSS_BCE"},
    {"categorical_crossentropy", "KDL_LOSS_CCE"}, {"CategoricalCrossentropy", "KDL_LOSS_CCE"},
    {"sparse_categorical_crossentropy", "KDL_LOSS_SCCE"},
    {"SparseCategoricalCrossentropy", "KDL_LOSS_SCCE"},
};

// A metric of kdl_metric_sum_p: its kind, and its parameter's default.
static const struct {
    const char *name, *kind;
    double param;
    int reduce;
} metric_kinds[] = {
    {"binary_accuracy", "KDL_METRIC_BINARY_ACCURACY", 0.5, KDL_METRIC_MEAN},
    {"BinaryAccuracy", "KDL_METRIC_BINARY_ACCURACY", 0.5, KDL_METRIC_MEAN},
    {"categorical_accuracy", "KDL_METRIC_CATEGORICAL_ACCURACY", 0, KDL_METRIC_MEAN},
    {"CategoricalAccuracy", "KDL_METRIC_CATEGORICAL_ACCURACY", 0, KDL_METRIC_MEAN},
    {"sparse_categorical_accuracy", "KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY", 0,
     KDL_METRIC_MEAN},
    {"SparseCategoricalAccuracy", "KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY", 0, KDL_METRIC_MEAN},
    {"top_k_categorical_accuracy", "KDL_METRIC_TOP_K", 5, KDL_METRIC_MEAN},
    {"TopKCategoricalAccuracy", "KDL_METRIC_TOP_K", 5, KDL_METRIC_MEAN},
    {"sparse_top_k_categorical_accuracy", "KDL_METRIC_SPARSE_TOP_K", 5, KDL_METRIC_MEAN},
    {"SparseTopKCategoricalAccuracy", "KDL_METRIC_SPARSE_TOP_K", 5, KDL_METRIC_MEAN},
    {"mse", "KDL_METRIC_MSE", 0, KDL_METRIC_MEAN}, {"MSE", "KDL_METRIC_MSE", 0, KDL_METRIC_MEAN},
    {"mean_squared_error", "KDL_METRIC_MSE", 0, KDL_METRIC_MEAN},
    {"MeanSquaredError", "KDL_METRIC_MSE", 0, KDL_METRIC_MEAN},
    {"mae", "KDL_METRIC_MAE", 0, KDL_METRIC_MEAN}, {"MAE", "KDL_METRIC_MAE", 0, KDL_METRIC_MEAN},
    {"mean_absolute_error", "KDL_METRIC_MAE", 0, KDL_METRIC_MEAN},
    {"MeanAbsoluteError", "KDL_METRIC_MAE", 0, KDL_METRIC_MEAN},
    {"root_mean_squared_error", "KDL_METRIC_MSE", 0, KDL_METRIC_ROOT_MEAN},
    {"RootMeanSquaredError", "KDL_METRIC_MSE", 0, KDL_METRIC_ROOT_MEAN},
};

// One metric of output `out` (a string or a keras.metrics / keras.losses
// object) as Keras's compile_utils.get_metric makes it; `at` is where it is
// given. Reported when kdl cannot compute it.
static void metric_add(Emit *e, TrainCfg *cfg, IrModel *m, Value *v, int out, Span at) {
    Arena *a = e->c->arena;
    MetricCfg *mc = arena_alloc(a, sizeof *mc);
    mc->output = out;
    mc->at = at;
    const Object *o = v->kind == V_OBJECT ? v->u.object : NULL;
    const char *n = v->kind == V_STR ? v->u.str.s : o ? o->cls : "?";
    const char *name = v->kind == V_STR ? n : obj_str(o, "name", snake_case(a, n));
    LossCfg *lc = &cfg->loss[out];
    const Shape *os = &m->outputs[out]->shape;
    int64_t last = os->d[os->rank - 1];
    bool found = false;
    if (!o || !strcmp(o->module, "metrics")) {
        if (!o && (icase_eq(n, "accuracy") || icase_eq(n, "acc"))) {
            // get_metric's rule, from the shapes of y_true and y_pred.
            mc->kind = last == 1 ? "KDL_METRIC_BINARY_ACCURACY"
                       : lc->sparse ? "KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY"
                                    : "KDL_METRIC_CATEGORICAL_ACCURACY";
            mc->param = 0.5;
            found = true;
        } else if (o && !strcmp(n, "Accuracy")) {
            mc->kind = "KDL_METRIC_ACCURACY";
            found = true;
        }
        for (size_t i = 0; !found && i < sizeof metric_kinds / sizeof metric_kinds[0]; i++)
            if (!strcmp(n, metric_kinds[i].name)) {
                mc->kind = metric_kinds[i].kind;
                mc->param = metric_kinds[i].param;
                mc->reduce = metric_kinds[i].reduce;
                found = true;
            }
        for (size_t i = 0; !found && i < sizeof metric_losses / sizeof metric_losses[0]; i++)
            if (!strcmp(n, metric_losses[i].name)) {
                memset(&mc->loss, 0, sizeof mc->loss);
                mc->loss.kind = metric_losses[i].kind;
                mc->loss.delta = 1;
                mc->loss.sparse = !strcmp(mc->loss.kind, "KDL_LOSS_SCCE");
                mc->negate = !strcmp(mc->loss.kind, "KDL_LOSS_COSINE");
                found = true;
            }
        if (found && o) {
            Span s;
            Value *pv = obj_val(o, "threshold", &s);
            if (pv && is_number(pv))
                mc->param = num_val(pv);
            pv = obj_val(o, "k", &s);
            if (pv && is_number(pv))
                mc->param = num_val(pv);
            pv = obj_val(o, "from_sorted_ids", &s);
            if (pv && value_truthy(pv)) {
                error_at(e->c, s, "metric '%s': from_sorted_ids=True is not supported by the "
                         "training code generator", name);
                e->ok = false;
            }
            mc->loss.from_logits = obj_flag(o, "from_logits");
            mc->loss.label_smoothing = obj_arg(o, "label_smoothing", 0);
            pv = obj_val(o, "axis", &s);
            if (pv && !(pv->kind == V_INT && pv->u.i == -1)) {
                error_at(e->c, s, "metric '%s': an axis other than the last is not supported",
                         name);
                e->ok = false;
            }
        }
        if (!found) {
            error_at(e->c, at, "metric '%s' is not supported by the training code generator "
                     "(kdl computes the accuracies, top-k accuracies, MSE, RMSE, MAE, MAPE, "
                     "MSLE, cosine similarity, log-cosh, hinge, KL divergence, Poisson and the "
                     "crossentropies)", name);
            e->ok = false;
            return;
        }
    } else {
        // A keras.losses object: MeanMetricWrapper(loss) averages the loss's
        // reduced value of each batch.
        for (size_t i = 0; !found && i < sizeof loss_table / sizeof loss_table[0]; i++)
            found = !strcmp(n, loss_table[i].name);
        if (!found) {
            error_at(e->c, at, "metric '%s' (a keras.losses.%s) is not supported by the training "
                     "code generator", name, n);
            e->ok = false;
            return;
        }
        if (!loss_parse(e, v, &mc->loss, at, last))
            return;
        mc->per_step = true;
        mc->reduce = KDL_METRIC_STEP_MEAN;
    }
    bool sparse_metric = mc->kind ? strstr(mc->kind, "SPARSE") != NULL : mc->loss.sparse;
    if (lc->kind && sparse_metric && !lc->sparse) {
        error_at(e->c, at, "metric '%s' needs integer labels, but the loss of output %d is not "
                 "sparse categorical crossentropy", name, out);
        e->ok = false;
    }
    if (lc->kind && !sparse_metric && lc->sparse) {
        error_at(e->c, at, "metric '%s' compares outputs with one-hot targets, but the loss of "
                 "output %d takes integer labels", name, out);
        e->ok = false;
    }
    if (!lc->kind && sparse_metric) {
        error_at(e->c, at, "metric '%s' needs integer labels, but output %d has no loss (its "
                 "targets have the output's shape)", name, out);
        e->ok = false;
    }
    mc->name = m->noutputs > 1 ? arena_printf(a, "%s_%s", output_name(m, out), name) : name;
    vec_push(a, &cfg->metrics, mc);
}

// The metrics of output i: v is one metric or a list of them.
static void metrics_of(Emit *e, TrainCfg *cfg, IrModel *t, Value *v, int i, Span at) {
    if (v->kind == V_NONE)
        return;
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        for (int k = 0; k < list_len(v); k++) {
            Span item = k < v->u.list->nspans ? v->u.list->spans[k] : at;
            Value *mv = list_get(v, k);
            if (mv->kind != V_NONE)
                metric_add(e, cfg, t, mv, i, item);
        }
    } else {
        metric_add(e, cfg, t, v, i, at);
    }
}

// ---- regularizers and constraints -------------------------------------------------------

// The class name and module of a regularizer / constraint argument (a
// string names a class, checked when the layer was made), or NULL.
static const char *config_class(Value *v, const char *module, const Object **o) {
    *o = NULL;
    if (v->kind == V_STR)
        return v->u.str.s;
    if (v->kind == V_OBJECT && !strcmp(v->u.object->module, module)) {
        *o = v->u.object;
        return v->u.object->cls;
    }
    if (v->kind == V_CLASS && v->u.cls.kind == CLS_OBJECT && v->u.cls.object &&
        !strcmp(v->u.cls.object->module, module))
        return v->u.cls.object->name;   // a class: Keras instantiates it with its defaults
    return NULL;
}

// A regularizer argument's factors; false (reported) if kdl does not train
// with it.
static bool reg_parse(Emit *e, Value *v, Span at, RegCfg *r) {
    const Object *o;
    const char *cls = config_class(v, "regularizers", &o);
    r->l1 = r->l2 = 0;
    if (cls && (!strcmp(cls, "L1") || !strcmp(cls, "l1"))) {
        r->l1 = obj_arg(o, "l1", 0.01);     // L1(None) is L1(0.01)
    } else if (cls && (!strcmp(cls, "L2") || !strcmp(cls, "l2"))) {
        r->l2 = obj_arg(o, "l2", 0.01);
    } else if (cls && (!strcmp(cls, "L1L2") || !strcmp(cls, "l1l2"))) {
        r->l1 = obj_arg(o, "l1", 0);
        r->l2 = obj_arg(o, "l2", 0);
    } else if (!cls || (strcmp(cls, "Regularizer") && strcmp(cls, "regularizer"))) {
        error_at(e->c, at, "this regularizer is not supported by the training code generator "
                 "(kdl trains with keras.regularizers L1, L2 and L1L2)");
        e->ok = false;
        return false;
    }
    return true;
}

// The constraint argument v of weight w into wc; false if reported.
static bool con_parse(Emit *e, Value *v, Span at, const Weight *w, WeightCfg *wc) {
    const Object *o;
    const char *cls = config_class(v, "constraints", &o);
    int rank = w->shape.rank;
    wc->min_value = 0, wc->max_value = 1, wc->rate = 1;
    if (cls && (!strcmp(cls, "MaxNorm") || !strcmp(cls, "max_norm"))) {
        wc->con_kind = "KDL_CONSTRAINT_MAX_NORM";
        wc->max_value = obj_arg(o, "max_value", 2);
    } else if (cls && (!strcmp(cls, "MinMaxNorm") || !strcmp(cls, "min_max_norm"))) {
        wc->con_kind = "KDL_CONSTRAINT_MIN_MAX_NORM";
        wc->min_value = obj_arg(o, "min_value", 0);
        wc->max_value = obj_arg(o, "max_value", 1);
        wc->rate = obj_arg(o, "rate", 1);
    } else if (cls && (!strcmp(cls, "UnitNorm") || !strcmp(cls, "unit_norm"))) {
        wc->con_kind = "KDL_CONSTRAINT_UNIT_NORM";
    } else if (cls && (!strcmp(cls, "NonNeg") || !strcmp(cls, "non_neg"))) {
        wc->con_kind = "KDL_CONSTRAINT_NON_NEG";
        return true;
    } else if (cls && (!strcmp(cls, "Constraint") || !strcmp(cls, "constraint"))) {
        return true;    // the base class leaves the weight as it is
    } else {
        error_at(e->c, at, "this constraint is not supported by the training code generator "
                 "(kdl trains with keras.constraints MaxNorm, MinMaxNorm, NonNeg and UnitNorm)");
        e->ok = false;
        return false;
    }
    if (rank > 8) {
        error_at(e->c, at, "a constraint on a weight of rank %d is not supported", rank);
        e->ok = false;
        return false;
    }
    // ops.sum(w, axis=axis): an int or a list of ints (negative from the
    // end), None for every axis; Keras's default is 0.
    Span s = at;
    Value *ax = obj_val(o, "axis", &s);
    wc->axes = 1;
    if (ax && ax->kind == V_NONE) {
        wc->axes = (1u << rank) - 1;
    } else if (ax) {
        wc->axes = 0;
        int n = ax->kind == V_LIST || ax->kind == V_TUPLE ? list_len(ax) : 1;
        for (int i = 0; i < n; i++) {
            Value *iv = ax->kind == V_LIST || ax->kind == V_TUPLE ? list_get(ax, i) : ax;
            int64_t k = iv->kind == V_INT ? iv->u.i : INT64_MIN;
            if (k < 0 && k != INT64_MIN)
                k += rank;
            if (k < 0 || k >= rank) {
                error_at(e->c, s, "constraint axis %s is out of range for the weight %s of "
                         "shape %s (rank %d)", value_str(e->c, iv), w->name,
                         shape_pystr(e->c->arena, &w->shape), rank);
                e->ok = false;
                return false;
            }
            wc->axes |= 1u << k;
        }
    }
    return true;
}

// The layer argument holding the regularizer / constraint (`suffix`) of
// weight `w`, or NULL. LoRA's a and b take the adapted weight's regularizer
// (Keras's enable_lora), and no constraint (LoRA refuses them).
static const char *weight_arg(const Layer *l, const char *w, const char *suffix, Arena *a) {
    const char *base = NULL;
    bool con = !strcmp(suffix, "constraint");
    if (!strcmp(w, "kernel"))
        base = !strcmp(l->class_name, "DepthwiseConv2D") ? "depthwise" : "kernel";
    else if (!strcmp(w, "recurrent_kernel"))
        base = "recurrent";
    else if (!strcmp(w, "depthwise_kernel"))
        base = "depthwise";
    else if (!strcmp(w, "pointwise_kernel"))
        base = "pointwise";
    else if (!strcmp(w, "bias") || !strcmp(w, "embeddings") || !strcmp(w, "gamma") ||
             !strcmp(w, "beta"))
        base = w;
    else if (!con && !strncmp(w, "lora_kernel_", 12))
        base = "kernel";
    else if (!con && !strncmp(w, "lora_embeddings_", 16))
        base = "embeddings";
    if (!base)
        return NULL;
    const char *arg = arena_printf(a, "%s_%s", base, suffix);
    return sig_has(l->sig, arg) ? arg : NULL;
}

// ---- the whole configuration ------------------------------------------------------------

// The op producing output buffer b in the training lowering, if it is a
// single-output op whose output feeds nothing else.
static IrOp *sole_producer(IrModel *t, IrBuf *b) {
    IrOp *p = NULL;
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        for (int k = 0; k < op->nin; k++)
            if (op->in[k] == b)
                return NULL;
        if (op->nout == 1 && op->out[0] == b)
            p = op;
    }
    return p;
}

// The activation the op producing output i ends in (softmax, sigmoid, ...).
static ActKind output_act(Emit *e, IrModel *t, int i) {
    IrOp *p = sole_producer(t, t->outputs[i]);
    if (!p || p->cf_in || (!strcmp(p->layer->class_name, "Softmax") && p->layer->iv[SM_NAXES]))
        return ACT_LINEAR;  // (a moved softmax, or one over several axes, is not the loss's)
    const char *k = p->layer->class_name;
    if (!strcmp(k, "Activation") || !strcmp(k, "Softmax")) {
        ActKind act;
        double alpha;
        bool ok = e->ok;
        if (!layer_activation(e, p, &act, &alpha)) {
            e->ok = ok;     // reported again (once) when its code is emitted
            return ACT_LINEAR;
        }
        return act;
    }
    if (!strcmp(k, "Dense") || !strncmp(k, "Conv", 4) || !strcmp(k, "DepthwiseConv2D") ||
        !strcmp(k, "SeparableConv2D"))
        return p->act;
    return ACT_LINEAR;
}

// Regularizers and constraints of the trainable weights (each weight once),
// activity regularizers of every layer call; recurrent layers' options kdl
// does not train with.
static void collect_layer_config(Emit *e, IrModel *t, TrainCfg *cfg) {
    Arena *a = e->c->arena;
    Vec seen = {0};
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        Layer *l = op->layer;
        for (int k = 0; k < l->nweights; k++) {
            Weight *w = l->weights[k];
            bool dup = false;
            for (int j = 0; j < seen.len; j++)
                dup |= seen.data[j] == w;
            if (dup || !weight_is_trainable(w))
                continue;
            vec_push(a, &seen, w);
            WeightCfg *wc = arena_alloc(a, sizeof *wc);
            wc->layer = l;
            wc->w = w;
            const char *ra = weight_arg(l, w->name, "regularizer", a);
            const char *ca = weight_arg(l, w->name, "constraint", a);
            if (ra && larg(l, ra)->kind != V_NONE)
                wc->reg = reg_parse(e, larg(l, ra), larg_span(l, ra), &wc->r);
            if (ca && larg(l, ca)->kind != V_NONE)
                wc->con = con_parse(e, larg(l, ca), larg_span(l, ca), w, wc) && wc->con_kind;
            if (wc->reg || wc->con)
                vec_push(a, &cfg->weights, wc);
        }
        const char *k = l->class_name;
        if (is_rnn_class(k)) {
        }
    }
}

// The configuration of one model: e->ok reflects this model's errors only
// while it runs (earlier models' errors are kept).
static bool train_config_model(Emit *e, IrModel *t, TrainCfg *cfg);

// The outputs of layer calls with an activity regularizer in lowering m
// (Layer.__call__: each output of the call, also of a layer that only
// renames its input, and every state a recurrent layer returns).
static void collect_actregs(Emit *e, IrModel *m, Vec *out) {
    Arena *a = e->c->arena;
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        Layer *l = op->layer;
        if (!l->sig || !sig_has(l->sig, "activity_regularizer") ||   // (a Cast has no signature)
            larg(l, "activity_regularizer")->kind == V_NONE)
            continue;
        RegCfg r;
        if (!reg_parse(e, larg(l, "activity_regularizer"), larg_span(l, "activity_regularizer"),
                       &r))
            continue;
        for (int k = 0; k < op->nout; k++) {
            if (op->out[k]->dtype != DT_FLOAT32)
                continue;
            ActRegCfg *ar = arena_alloc(a, sizeof *ar);
            ar->op = op;
            ar->out = k;
            ar->r = r;
            vec_push(a, out, ar);
        }
    }
}

// Plan m (ir_plan / ir_plan_train) with the outputs of `regs` kept to the
// loss step as extra outputs.
static void plan_with(Emit *e, IrModel *m, Vec *regs, const bool *fused, bool training) {
    Arena *a = e->c->arena;
    int n0 = m->noutputs, nx = regs->len;
    IrBuf **outs = arena_alloc(a, sizeof(IrBuf *) * (size_t)(n0 + nx + 1));
    IrBuf **masks = arena_alloc(a, sizeof(IrBuf *) * (size_t)(n0 + nx + 1));
    for (int i = 0; i < n0; i++) {
        outs[i] = m->outputs[i];
        masks[i] = m->out_masks[i];
    }
    for (int k = 0; k < nx; k++) {
        ActRegCfg *ar = regs->data[k];
        outs[n0 + k] = ar->op->out[ar->out];
        masks[n0 + k] = NULL;
    }
    IrBuf **saved = m->outputs, **saved_masks = m->out_masks;
    m->outputs = outs;
    m->out_masks = masks;
    m->noutputs = n0 + nx;
    if (training)
        ir_plan_train(e->c, m, fused);
    else
        ir_plan(e->c, m);
    m->outputs = saved;
    m->out_masks = saved_masks;
    m->noutputs = n0;
}

// fit(class_weight={class: weight, ...}): as Keras's data adapter, for a
// model with a single output; the classes are ints, the weights numbers.
static void class_weight(Emit *e, IrModel *t, TrainCfg *cfg, Value *v, Span at) {
    if (v->kind != V_DICT) {
        error_at(e->c, at, "Model.fit(): class_weight must be a dict mapping class indices to "
                 "weights, got %s", value_repr(e->c, v));
        e->ok = false;
        return;
    }
    if (t->noutputs != 1) {
        error_at(e->c, at, "Model.fit(): `class_weight` is only supported for Models with a "
                 "single output");
        e->ok = false;
        return;
    }
    if (!cfg->weighted) {
        error_at(e->c, at, "Model.fit(): class_weight needs an output of one loss row per "
                 "sample (shape (batch, classes)); this output has shape %s",
                 shape_str(e->c->arena, &t->outputs[0]->shape));
        e->ok = false;
        return;
    }
    Dict *d = v->u.dict;
    cfg->nclass = d->keys.len;
    cfg->class_ids = arena_alloc(e->c->arena, sizeof(int64_t) * (size_t)(d->keys.len + 1));
    cfg->class_w = arena_alloc(e->c->arena, sizeof(double) * (size_t)(d->keys.len + 1));
    for (int k = 0; k < d->keys.len; k++) {
        Value *key = d->keys.data[k], *w = d->vals.data[k];
        if (key->kind != V_INT || key->u.i < INT32_MIN || key->u.i > INT32_MAX ||
            !is_number(w) || !isfinite(num_val(w))) {
            error_at(e->c, at, "Model.fit(): class_weight maps class indices (ints) to weights "
                     "(numbers); the entry %s: %s is not one", value_repr(e->c, key),
                     value_repr(e->c, w));
            e->ok = false;
            return;
        }
        cfg->class_ids[k] = key->u.i;
        cfg->class_w[k] = num_val(w);
    }
}

// Outputs that carry a Keras mask (Embedding(mask_zero=True) through
// layers that pass it on): Keras masks their loss (Loss.__call__ reads the
// prediction's mask: masked rows weigh 0) and their metrics
// (MeanMetricWrapper: the mean over the unmasked rows). The mask must have
// one entry per loss row, the output's shape without its last axis.
// RootMeanSquaredError is a plain Mean in Keras and ignores the mask; a
// keras.losses object as a metric fails in Keras on a masked output (a
// scalar weighted by the (batch, steps) mask), and is reported.
static bool masked_outputs(Emit *e, IrModel *t, TrainCfg *cfg, Span at) {
    Arena *a = e->c->arena;
    for (int i = 0; i < t->noutputs; i++) {
        IrBuf *mk = t->out_masks[i];
        if (!mk)
            continue;
        const Shape *os = &t->outputs[i]->shape;
        Shape rows = *os;
        rows.rank--;
        if (!shape_eq(&mk->shape, &rows)) {
            error_at(e->c, at, "output %d (%s) carries a Keras mask of shape %s, which does not "
                     "match its loss rows %s: kdl masks the loss by row", i,
                     loss_out_name(t, i), shape_str(a, &mk->shape), shape_str(a, &rows));
            return false;
        }
    }
    for (int k = 0; k < cfg->metrics.len; k++) {
        MetricCfg *mc = cfg->metrics.data[k];
        if (!t->out_masks[mc->output] || mc->output_loss)
            continue;
        if (mc->per_step) {
            error_at(e->c, mc->at, "metric '%s' (a keras.losses object) on output %d, which "
                     "carries a Keras mask, is not supported (Keras cannot weigh its scalar by "
                     "the mask either); use the loss's name as a string", mc->name, mc->output);
            return false;
        }
        if (mc->reduce == KDL_METRIC_MEAN)
            mc->reduce = KDL_METRIC_WEIGHTED_MEAN;
    }
    return true;
}

static bool train_config(Emit *e, IrModel *t, TrainCfg *cfg) {
    bool before = e->ok;
    e->ok = true;
    bool ok = train_config_model(e, t, cfg) && e->ok;
    e->ok = before && ok;
    return ok;
}

static bool train_config_model(Emit *e, IrModel *t, TrainCfg *cfg) {
    Arena *a = e->c->arena;
    CompileCfg *cc = t->model->model->compile;
    Span at = cc ? cc->span : t->model->span;
    Span loss_at = cc ? cc->loss_span : at, lw_at = cc ? cc->loss_weights_span : at;
    Span metrics_at = cc ? cc->metrics_span : at;
    Value *none = v_none();
    cfg->optimizer = optimizer_init(e, cc ? cc->optimizer : none, cc ? cc->optimizer_span : at,
                                    &t->opt_slots, &cfg->loss_scale);
    cfg->loss = arena_alloc(a, sizeof(LossCfg) * (size_t)(t->noutputs + 1));
    Value *loss = cc ? cc->loss : none;
    Value *lw = cc && cc->loss_weights ? cc->loss_weights : none;
    bool reported = false, lw_reported = false;
    int nlosses = 0;
    for (int i = 0; i < t->noutputs; i++) {
        LossCfg *lc = &cfg->loss[i];
        Value *v = loss->kind == V_NONE ? loss : per_output_arg(e, t, loss, i, "loss", loss_at,
                                                                &reported);
        if (!v)
            return false;
        Span item = loss_at;
        if ((loss->kind == V_LIST || loss->kind == V_TUPLE) && i < loss->u.list->nspans)
            item = loss->u.list->spans[i];
        const Shape *os = &t->outputs[i]->shape;
        memset(lc, 0, sizeof *lc);
        if (v->kind == V_NONE && loss->kind != V_NONE)
            continue;   // Keras: an output without a loss (a dict without its key, None)
        if (!loss_parse(e, v, lc, item, os->d[os->rank - 1]))
            return false;
        nlosses++;
        Value *w = lw->kind == V_NONE ? NULL : per_output_arg(e, t, lw, i, "loss_weights", lw_at,
                                                              &lw_reported);
        if (w && w->kind != V_NONE && !is_number(w)) {
            // CompileLoss multiplies by each entry: numbers (or None) only.
            error_at(e->c, lw_at, "When providing the `loss_weights` argument, each element "
                     "should be a Python int, float (the weighting coefficient corresponding to "
                     "the loss for that output) or `None`. Received: loss_weights=%s%s",
                     value_repr(e->c, lw), w->kind == V_STR || w->kind == V_OBJECT
                         ? " (compile()'s third positional argument is loss_weights: pass "
                           "metrics by keyword, metrics=[...])"
                         : "");
            e->ok = false;
            return false;
        }
        if (w && is_number(w))
            lc->weight = num_val(w);
        ActKind act = output_act(e, t, i);
        bool ce = !strcmp(lc->kind, "KDL_LOSS_CCE") || lc->sparse;
        if (!lc->from_logits && ((ce && act == ACT_SOFTMAX) ||
                                 (!strcmp(lc->kind, "KDL_LOSS_BCE") && act == ACT_SIGMOID))) {
            lc->fused = true;
            lc->fused_act = act;
        }
    }
    if (!e->ok)
        return false;
    if (nlosses == 0) {
        error_at(e->c, loss_at, "cannot train without a loss: give model.compile() a loss (kdlc "
                 "emit --train needs a compile() call with a loss for every model it trains)");
        e->ok = false;
        return false;
    }
    // Keras logs each output's own (unweighted) loss when there are several.
    for (int i = 0; nlosses > 1 && i < t->noutputs; i++) {
        if (!cfg->loss[i].kind)
            continue;
        MetricCfg *mc = arena_alloc(a, sizeof *mc);
        mc->output = i;
        mc->output_loss = true;
        mc->name = arena_printf(a, "%s_loss", loss_out_name(t, i));
        vec_push(a, &cfg->metrics, mc);
    }
    // Metrics (Keras's CompileMetrics): one list for a single output; with
    // several outputs a list has one entry (a metric or a list of them) per
    // output, or a dict maps the output layers' names to them.
    Value *mv = cc && cc->metrics ? cc->metrics : none;
    bool is_list = mv->kind == V_LIST || mv->kind == V_TUPLE;
    if (is_list && t->noutputs > 1 && list_len(mv) != t->noutputs) {
        error_at(e->c, metrics_at, "For a model with multiple outputs, when providing the "
                 "`metrics` argument as a list, it should have as many entries as the model has "
                 "outputs. Received: metrics=%s of length %d whereas the model has %d outputs.",
                 value_repr(e->c, mv), list_len(mv), t->noutputs);
        e->ok = false;
        return false;
    }
    if (mv->kind == V_DICT) {
        Dict *d = mv->u.dict;
        for (int k = 0; k < d->keys.len; k++) {
            Value *kv = d->keys.data[k];
            int found = -1;
            for (int j = 0; j < t->noutputs; j++)
                if (kv->kind == V_STR && !strcmp(kv->u.str.s, output_name(t, j)))
                    found = j;
            if (found < 0) {
                error_at(e->c, metrics_at, "In the dict argument `metrics`, key %s does not "
                         "correspond to any model output (the output layers are %s). Received: "
                         "metrics=%s", value_repr(e->c, kv), names_repr(e, t, false),
                         value_repr(e->c, mv));
                e->ok = false;
                return false;
            }
            const char *key = output_key(t, found);
            if (key && strcmp(key, output_name(t, found))) {
                // CompileMetrics looks the prediction up in the output dict
                // by the layer's name: Keras would compute nothing.
                error_at(e->c, metrics_at, "metrics for output '%s': Keras 3 looks a dict "
                         "output up by its layer's name ('%s') for metrics, which is not a key "
                         "of the model's output dict; name the output layer '%s'", key,
                         output_name(t, found), key);
                e->ok = false;
                return false;
            }
        }
    }
    for (int i = 0; i < t->noutputs; i++) {
        Value *v = mv;
        Span vat = metrics_at;
        if (mv->kind == V_DICT) {
            v = dict_get_str(mv->u.dict, output_name(t, i));
            v = v ? v : none;
        } else if (is_list && t->noutputs > 1) {
            v = list_get(mv, i);
            if (i < mv->u.list->nspans)
                vat = mv->u.list->spans[i];
        }
        metrics_of(e, cfg, t, v, i, vat);
    }
    // Duplicate names: CompileMetrics.result appends _1, _2, ...
    for (int k = 0; k < cfg->metrics.len; k++) {
        MetricCfg *mc = cfg->metrics.data[k];
        int dup = 0;
        for (int j = 0; j < k; j++)
            dup += !strcmp(((MetricCfg *)cfg->metrics.data[j])->name, mc->name);
        if (dup && !mc->output_loss)
            mc->name = arena_printf(a, "%s_%d", mc->name, dup);
    }
    if (!masked_outputs(e, t, cfg, at))
        return false;
    if (cfg->metrics.len > MAX_METRICS) {
        error_at(e->c, metrics_at, "at most %d metrics are supported", MAX_METRICS);
        e->ok = false;
    }
    // Sample weights: the loss of a model with one output of one loss row
    // per sample (Keras's class_weight needs a single output).
    const Shape *o0 = &t->outputs[0]->shape;
    cfg->weighted = t->noutputs == 1 && cfg->loss[0].kind && !t->out_masks[0] &&
                    o0->rank == 2;
    FitCfg *fc = t->model->model->fit;
    for (int i = 0; fc && i < fc->sig->nparams; i++) {
        const char *pn = fc->sig->params[i].name;
        Value *v = fc->args[i];
        Span s = fc->spans ? fc->spans[i] : fc->span;
        if (!strcmp(pn, "sample_weight") && v->kind != V_NONE) {
            error_at(e->c, s, "Model.fit(): sample_weight is data, not a constant: give the "
                     "program's fit the class weights through class_weight=, or call "
                     "M_set_sample_weight from C (docs/training.md)");
            e->ok = false;
        } else if (!strcmp(pn, "class_weight") && v->kind != V_NONE) {
            class_weight(e, t, cfg, v, s);
        }
    }
    collect_layer_config(e, t, cfg);
    collect_actregs(e, t, &cfg->actregs);
    return e->ok;
}

// ---- buffers and weights of the training step ----------------------------------------------

// The gradient buffer of b (through aliases), or NULL.
static const char *gref(Emit *e, IrBuf *b) {
    IrBuf *r = broot(b);
    return r->grad ? bref(e, r->grad) : "NULL";
}

// The gradient field of a weight, or NULL when it is absent or frozen.
static const char *gw(Emit *e, const Layer *l, const char *name) {
    Weight *w = find_weight(l, name);
    if (!w || !weight_is_trainable(w))
        return "NULL";
    return arena_printf(e->c->arena, "g->%s", wfield(e, l, name) + 3);
}

// The gradient an op's kernel writes: the weight's, or for a LoRA layer the
// adapted weight's (in the LoRA area; lora_update turns it into a's and b's).
static const char *gk(Emit *e, const IrOp *op, const char *name) {
    if (op->lora && !strcmp(name, op->lora))
        return arena_printf(e->c->arena, "(t->lora + %lld)", (long long)op->lora_grad);
    return gw(e, op->layer, name);
}

// A LoRA layer's a and b gradients from the adapted weight's dK (rows, cols):
// da += s * dK @ b^T, db += s * a^T @ dK, s = lora_alpha / lora_rank.
static void lora_update(Emit *e, const IrOp *op) {
    Layer *l = op->layer;
    bool em = !strcmp(op->lora, "embeddings");
    const char *an = em ? "lora_embeddings_a" : "lora_kernel_a",
               *bn = em ? "lora_embeddings_b" : "lora_kernel_b";
    Weight *k = find_weight(l, op->lora), *wa = find_weight(l, an);
    int64_t cols = k->shape.d[k->shape.rank - 1], r = wa->shape.d[wa->shape.rank - 1];
    int64_t rows = numel0(&k->shape) / (cols ? cols : 1);
    const char *sc = fstr(e->c->arena, l->fv[0] / (double)r), *dk = gk(e, op, op->lora);
    OUT(e, "    /* %s: LoRA, the adapted %s's gradient to %s and %s */\n", l->name, op->lora, an,
        bn);
    if (strcmp(gw(e, l, an), "NULL"))
        OUT(e, "    kdl_sgemm(0, 1, %lld, %lld, %lld, %s, %s, %lld, %s, %lld, 1.0f, %s, %lld);\n",
            (long long)rows, (long long)r, (long long)cols, sc, dk, (long long)cols,
            wfield(e, l, bn), (long long)cols, gw(e, l, an), (long long)r);
    if (strcmp(gw(e, l, bn), "NULL"))
        OUT(e, "    kdl_sgemm(1, 0, %lld, %lld, %lld, %s, %s, %lld, %s, %lld, 1.0f, %s, %lld);\n",
            (long long)r, (long long)cols, (long long)rows, sc, wfield(e, l, an), (long long)r,
            dk, (long long)cols, gw(e, l, bn), (long long)cols);
}

static const char *count_expr(Emit *e, const IrBuf *b) {
    return arena_printf(e->c->arena, "(size_t)batch * %s", sizex(e, b));
}

// Trainable weights of the ops of t, each once, in op order.
static void trainable_weights(IrModel *t, Vec *ls, Vec *ws, Arena *a) {
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        for (int k = 0; k < op->layer->nweights; k++) {
            Weight *w = op->layer->weights[k];
            bool seen = false;
            for (int j = 0; j < ws->len; j++)
                seen |= ws->data[j] == w;
            if (!seen && weight_is_trainable(w)) {
                vec_push(a, ls, op->layer);
                vec_push(a, ws, w);
            }
        }
    }
}

// ---- forward in training mode ------------------------------------------------------------

static RnnKind rnn_kind(const Layer *l) {
    return (RnnKind)l->iv[RN_KIND];
}

static const char *rnn_kind_enum(const Layer *l) {
    static const char *const k[] = {"KDL_RNN_SIMPLE", "KDL_RNN_LSTM", "KDL_RNN_GRU"};
    return k[rnn_kind(l)];
}

// Text for a C comment: "*/" cannot end it early (a file path may hold it).
static void op_comment(Emit *e, IrOp *op, const char *what) {
    OUT(e, "    /* %s: %s (%s), %s:%d */\n", what, op->layer->name, op->layer->class_name,
        cmt(e, e->file), node_line(op->node));
}

// Dropout(noise_shape=...): the mask's shape, one entry per input axis
// (None: the input's dimension; 1: broadcast), as a C array literal with
// `batch` for axis 0, and its number of floats per batch in *per (with
// *per_batch set when the mask has the batch axis). False (reported) for a
// noise_shape the input cannot take; *full when the mask is the input's
// shape (an ordinary Dropout).
static bool noise_shape(Emit *e, IrOp *op, const char **lit, const char **per,
                        bool *per_batch, bool *full) {
    Layer *l = op->layer;
    Value *ns = larg(l, "noise_shape");
    const Shape *is = &op->in[0]->shape;
    int64_t known = 1;
    const char *per_x = "";     // the run-time lengths the mask takes
    *full = true;
    *per = "1u";
    *per_batch = true;
    if (!l->iv[1] || ns->kind == V_NONE)
        return true;
    Span at = larg_span(l, "noise_shape");
    if (list_len(ns) != is->rank) {
        error_at(e->c, at, "%s: noise_shape %s has %d entries but the input %s has rank %d (kdl "
                 "needs one entry per axis)", layer_label(e->c, l), value_str(e->c, ns),
                 list_len(ns), shape_pystr(e->c->arena, is), is->rank);
        e->ok = false;
        return false;
    }
    Buf b = {0};
    for (int i = 0; i < is->rank; i++) {
        Value *v = list_get(ns, i);
        int64_t d = v->kind == V_NONE ? (i ? is->d[i] : -1) : (int64_t)num_val(v);
        bool run = i > 0 && v->kind == V_NONE && op->in[0]->dx[i] >= 0;  // a run-time length
        if (i > 0 && v->kind != V_NONE && d != 1 && op->in[0]->dx[i] >= 0) {
            error_at(e->c, at, "%s: noise_shape %s gives axis %d of the input %s, a None "
                     "dimension, the length %lld; kdl needs None (the input's length) or 1 there",
                     layer_label(e->c, l), value_str(e->c, ns), i, shape_pystr(e->c->arena, is),
                     (long long)d);
            e->ok = false;
            return false;
        }
        if (i == 0 && v->kind != V_NONE && d != 1) {
            error_at(e->c, at, "%s: noise_shape[0] is %lld; kdl needs None (a mask per sample) or "
                     "1 (one mask for the batch) on the batch axis", layer_label(e->c, l),
                     (long long)d);
            e->ok = false;
            return false;
        }
        if (i > 0 && d != 1 && d != is->d[i]) {
            error_at(e->c, at, "%s: noise_shape %s cannot be broadcast to the input %s: axis %d "
                     "is %lld, not 1 or %lld", layer_label(e->c, l), value_str(e->c, ns),
                     shape_pystr(e->c->arena, is), i, (long long)d, (long long)is->d[i]);
            e->ok = false;
            return false;
        }
        if (d == 1)
            *full = false;
        if (i == 0)
            *per_batch = d != 1;
        else if (run)
            per_x = arena_printf(e->c->arena, "%s * (size_t)d[%d]", per_x, op->in[0]->dx[i]);
        else
            known *= d;
        buf_printf(e->c->arena, &b, "%s%s", i ? ", " : "{",
                   d < 0 && !run ? "batch" : run ? dimx(e, op->in[0], i)
                                 : arena_printf(e->c->arena, "%lld", (long long)d));
    }
    buf_putc(e->c->arena, &b, '}');
    *lit = buf_str(e->c->arena, &b);
    *per = arena_printf(e->c->arena, "%lldu%s", (long long)known, per_x);
    return true;
}

// Keras's cells drop in training when 0 < rate < 1 (fv[0]: dropout on the
// inputs, fv[1]: recurrent_dropout on the state).
static bool rate_active(double r) {
    return r > 0 && r < 1;
}

// An RNN call with recurrent_dropout in training: Keras 3 then runs the cell
// as "implementation 1" (recurrent_dropout != 0, or LSTM/GRU given
// implementation=1, then with dropout alone too): one mask per gate for the
// state and, with dropout, one per gate for the inputs, drawn once per batch
// (kdl_RnnShape.gate_masks; t->rnn_drop holds the masks).
static bool rnn_gate_masks(const IrOp *op) {
    const Layer *l = op->layer;
    bool impl1 = l->fv[1] > 0 || (l->iv[RN_KIND] != RNN_SIMPLE && l->iv[RN_IMPL] == 1);
    return op->training && impl1 && (rate_active(l->fv[1]) || rate_active(l->fv[0]));
}

// An RNN call whose inputs alone are dropped in training (implementation 2:
// one mask of shape (batch, features) for every time step and every gate).
static bool rnn_dropout(const IrOp *op) {
    return op->training && rate_active(op->layer->fv[0]) && !rnn_gate_masks(op);
}

// rnn_shape for the training kernels: with the gate-mask flag, which their
// sizes depend on.
static void rnn_train_shape(Emit *e, IrOp *op, const char *n) {
    rnn_shape(e, op, n);
    if (rnn_gate_masks(op))
        OUT(e, "        s.gate_masks = 1; /* recurrent_dropout: a mask per gate */\n");
}

// A stateful RNN's initial states, copied out of the model's carry area
// before the forward writes the final ones there (the backward reads them):
// its floats (the static batch times units, twice for LSTM), first in
// t->rnn_drop.
static int64_t rnn_init_floats(const IrOp *op) {
    return op->carry ? rnn_state_floats(op) * rnn_nstates(op->layer) : 0;
}

// Where an RNN op's dropout masks start in the training state: after its
// initial-state copy.
static const char *rnn_drop_base(Emit *e, const IrOp *op) {
    int64_t k = rnn_init_floats(op);
    return k ? arena_printf(e->c->arena, "(t->rnn_drop[%d] + %lld)", op->slot, (long long)k)
             : arena_printf(e->c->arena, "t->rnn_drop[%d]", op->slot);
}

// The kdl_RnnShape `s` in scope starts from a stateful RNN's states (the
// copy in t->rnn_drop; copy: take it from the carry area first).
static void rnn_init_args(Emit *e, const IrOp *op, bool copy) {
    int64_t k = rnn_init_floats(op);
    if (!k)
        return;
    if (copy)
        OUT(e, "        memcpy(t->rnn_drop[%d], carry + %lld, sizeof(float) * %lldu); /* stateful: "
               "the states of the previous batch */\n", op->slot, (long long)op->carry - 1,
            (long long)k);
    OUT(e, "        s.h0 = t->rnn_drop[%d];\n", op->slot);
    if (op->layer->iv[RN_KIND] == RNN_LSTM)
        OUT(e, "        s.c0 = t->rnn_drop[%d] + %lld;\n", op->slot,
            (long long)rnn_state_floats(op));
}

// The gate masks' floats per sample: (G, units) and, with dropout, (G, features).
static int64_t rnn_mask_floats(const IrOp *op) {
    const Layer *l = op->layer;
    int64_t g = rnn_gates(l);
    return g * l->iv[RN_UNITS] + (rate_active(l->fv[0]) ? g * op->in[0]->shape.d[2] : 0);
}

// Point the kdl_RnnShape `s` in scope at the gate masks in t->rnn_drop
// (draw: draw them first, as the forward does once per batch): the state's
// (G, batch, units), then the inputs' (G, batch, features).
static void rnn_gate_mask_args(Emit *e, IrOp *op, bool draw) {
    const Layer *l = op->layer;
    Arena *a = e->c->arena;
    int64_t gu = rnn_gates(l) * l->iv[RN_UNITS];
    bool in = rate_active(l->fv[0]);
    OUT(e, "        float *rmask = %s, *imask = rmask + (size_t)batch * %lldu;\n",
        rnn_drop_base(e, op), (long long)gu);
    if (draw) {
        OUT(e, "        /* recurrent_dropout=%s, dropout=%s: Keras's implementation 1 */\n",
            fstr(a, l->fv[1]), fstr(a, l->fv[0]));
        OUT(e, "        kdl_dropout_mask(rmask, (size_t)batch * %lldu, %s, &t->rng);\n",
            (long long)gu, rate_active(l->fv[1]) ? fstr(a, l->fv[1]) : "0.0f");
        if (in)
            OUT(e, "        kdl_dropout_mask(imask, (size_t)batch * %lldu, %s, &t->rng);\n",
                (long long)(rnn_mask_floats(op) - gu), fstr(a, l->fv[0]));
    }
    OUT(e, "        s.rec_masks = rmask;\n        s.in_masks = %s;\n", in ? "imask" : "NULL");
    if (!in)
        OUT(e, "        (void)imask;\n");
}

// ---- layout moves (channels_first layers, Softmax over another axis) ------------------------
//
// Such an op runs its channels_last kernel between two transposes (as at
// inference, emit_c.c's emit_channels_first): the input with axis cf_axis
// moved last into cf_in, the kernel into cf_out, cf_out moved back into the
// output. (N, .., A, *s) -> (N, .., *s, A) is a transpose of the last two
// axes of (outer, A, prod s), outer the batch times the axes before A.

static const char *cf_outer(Emit *e, IrOp *op) {
    int ax = op->cf_axis ? op->cf_axis : 1;
    return ax == 1 ? "batch" : arena_printf(e->c->arena, "(int)((size_t)batch * %s)",
                                            numelx(e, op->in[0], 1, ax));
}

// The transpose of b (the op's input or output, original layout) with
// `axis` moved last: kdl_transpose_last2's rows and cols, as C.
static void cf_split(Emit *e, IrOp *op, const IrBuf *b, const char **rows, const char **cols) {
    int ax = op->cf_axis ? op->cf_axis : 1;
    *rows = cf_len(e, op, b, ax);
    *cols = numelx(e, b, ax + (op->cf_naxes > 1 ? op->cf_naxes : 1), b->shape.rank);
}

static void emit_train_forward_body(Emit *e, IrOp *op, bool moved);

// A layer whose training forward is kdl's own code (not emit_op's, which
// moves the axes itself): the transposes around it here.
static void emit_train_forward(Emit *e, IrOp *op) {
    const char *k = op->layer->class_name;
    bool own = (!strcmp(k, "BatchNormalization") || !strcmp(k, "RandomCrop")) && op->training;
    if (!op->cf_in || !own) {
        emit_train_forward_body(e, op, false);
        return;
    }
    IrBuf *in = op->in[0], *out = op->out[0], *cin = op->cf_in;
    const char *rows, *cols, *outer = cf_outer(e, op);
    cf_split(e, op, in, &rows, &cols);
    OUT(e, "    kdl_transpose_last2(%s, %s, %s, %s, %s); /* axis %d last */\n", bref(e, cin),
        bref(e, in), outer, rows, cols, op->cf_axis ? op->cf_axis : 1);
    op->in[0] = cin;
    op->out[0] = op->cf_out;
    op->cf_in = NULL;
    emit_train_forward_body(e, op, true);
    op->cf_in = cin;
    op->in[0] = in;
    op->out[0] = out;
    int ro = op->cf_out->shape.rank;
    if (ro > 2)
        OUT(e, "    kdl_transpose_last2(%s, %s, %s, %s, %s); /* back to axis %d */\n",
            bref(e, out), bref(e, op->cf_out), outer,
            numelx(e, op->cf_out, op->cf_axis ? op->cf_axis : 1, ro - 1),
            cf_len(e, op, op->cf_out, ro - 1), op->cf_axis ? op->cf_axis : 1);
    else
        OUT(e, "    memcpy(%s, %s, sizeof(float) * %s);\n", bref(e, out), bref(e, op->cf_out),
            count_expr(e, out));
}

// moved: the op's buffers are its channels_last ones (cf_in / cf_out).
static void emit_train_forward_body(Emit *e, IrOp *op, bool moved) {
    Arena *a = e->c->arena;
    Layer *l = op->layer;
    const char *k = l->class_name;
    const Shape *is = &op->in[0]->shape;
    if (!strcmp(k, CF_FLATTEN)) {
        // Keras moves the channels last, then flattens.
        OUT(e, "    kdl_transpose_last2(%s, %s, batch, %s, %s); /* Flatten, channels_first */\n",
            bref(e, op->out[0]), bref(e, op->in[0]), dimx(e, op->in[0], 1),
            numelx(e, op->in[0], 2, is->rank));
    } else if (!strcmp(k, "GaussianNoise")) {
        op_comment(e, op, "forward, training: x + N(0, stddev)");
        OUT(e, "    kdl_init_normal(%s, %s, 0.0f, %s, 0, &t->rng);\n"
               "    kdl_axpy(%s, %s, %s, 1.0f);\n",
            bref(e, op->out[0]), count_expr(e, op->in[0]), fstr(a, l->fv[0]),
            bref(e, op->out[0]), bref(e, op->in[0]), count_expr(e, op->in[0]));
    } else if (!strcmp(k, "GaussianDropout")) {
        op_comment(e, op, "forward, training: x * N(1, sqrt(rate / (1 - rate)))");
        OUT(e, "    kdl_init_normal(%s, %s, 1.0f, %s, 0, &t->rng);\n"
               "    memset(%s, 0, sizeof(float) * %s);\n    kdl_mul_accumulate(%s, %s, %s, %s);\n",
            bref(e, op->mask), count_expr(e, op->in[0]),
            fstr(a, sqrt(l->fv[0] / (1 - l->fv[0]))), bref(e, op->out[0]),
            count_expr(e, op->in[0]), bref(e, op->out[0]), bref(e, op->in[0]),
            bref(e, op->mask), count_expr(e, op->in[0]));
    } else if (!strcmp(k, "Dropout")) {
        op_comment(e, op, "forward, training");
        const char *ms, *per;
        bool per_batch, full;
        if (!noise_shape(e, op, &ms, &per, &per_batch, &full))
            return;
        if (full) {
            OUT(e, "    kdl_dropout_forward(%s, %s, %s, %s, %s, &t->rng);\n", bref(e, op->out[0]),
                bref(e, op->mask), bref(e, op->in[0]), count_expr(e, op->in[0]),
                fstr(a, l->fv[0]));
        } else {
            // A mask of the noise shape, broadcast over the input.
            OUT(e, "    {\n        const int sx[] = %s, sm[] = %s; /* noise_shape */\n",
                shape_lit(e, op->in[0], is->rank), ms);
            OUT(e, "        kdl_dropout_mask(%s, %s%s, %s, &t->rng);\n", bref(e, op->mask),
                per_batch ? "(size_t)batch * " : "", per, fstr(a, l->fv[0]));
            OUT(e, "        kdl_merge_forward(%s, %s, sx, %s, sm, %d, KDL_MERGE_MUL);\n    }\n",
                bref(e, op->out[0]), bref(e, op->in[0]), bref(e, op->mask), is->rank);
        }
    } else if (!strcmp(k, "BatchNormalization") && op->training) {
        op_comment(e, op, "forward, training (batch statistics)");
        if (l->iv[BN_NAXIS] != is->rank - 1 && !moved) {
            unsupported(e, op, "BatchNormalization over an axis other than the last");
            return;
        }
        int64_t ch = is->d[is->rank - 1];
        OUT(e, "    kdl_batchnorm_train_forward(%s, state + %lld, state + %lld, %s, %s, %s, %s, "
               "%s, %s, %s, %s, %lld);\n",
            bref(e, op->out[0]), (long long)op->state_off, (long long)(op->state_off + ch),
            bref(e, op->in[0]), wref(e, l, "gamma"), wref(e, l, "beta"),
            wref(e, l, "moving_mean"), wref(e, l, "moving_variance"), fstr(a, l->fv[0]),
            fstr(a, l->fv[1]), rows_expr(e, op->in[0]), (long long)ch);
    } else if (!strcmp(k, "RandomCrop") && op->training) {
        op_comment(e, op, "forward, training (a random window per batch)");
        const Shape *os = &op->out[0]->shape;
        // Offsets uniform in [0, in - crop] (the input holds the crop: P_dims checks it).
        for (int j = 0; j < 2; j++)
            OUT(e, "    t->crop[%d][%d] = (int)(kdl_rng_next(&t->rng) %% "
                   "(uint64_t)(%s - %lld + 1));\n", op->slot, j, dimx(e, op->in[0], 1 + j), (long long)os->d[1 + j]);
        OUT(e, "    kdl_crop2d_forward(%s, %s, batch, %s, %s, %s, %lld, %lld, t->crop[%d][0], "
               "t->crop[%d][1]);\n",
            bref(e, op->out[0]), bref(e, op->in[0]), dimx(e, op->in[0], 1),
            dimx(e, op->in[0], 2), dimx(e, op->in[0], 3), (long long)os->d[1], (long long)os->d[2],
            op->slot, op->slot);
    } else if (is_rnn_class(k)) {
        op_comment(e, op, "forward, training (states saved for backprop through time)");
        OUT(e, "    {\n");
        rnn_train_shape(e, op, "batch");
        const char *x = bref(e, op->in[0]);
        rnn_init_args(e, op, true);
        rnn_initial_state_args(e, op);
        if (rnn_gate_masks(op))
            rnn_gate_mask_args(e, op, true);
        if (rnn_dropout(op)) {
            // The inputs times one mask per sample and feature (t->rnn_drop:
            // the mask, the dropped inputs, their gradient).
            // (t->rnn_drop holds batch * f * (1 + 2 T) floats: sized at max_batch and T.)
            int64_t f = is->d[2];
            const char *tt = dimx(e, op->in[0], 1);
            OUT(e, "        float *dmask = %s, *xm = dmask + (size_t)batch * %lldu;\n",
                rnn_drop_base(e, op), (long long)f);
            OUT(e, "        const int sx[] = {batch, %s, %lld}, sm[] = {batch, 1, %lld}; /* "
                   "dropout=%s */\n", tt, (long long)f, (long long)f, fstr(a, l->fv[0]));
            OUT(e, "        kdl_dropout_mask(dmask, (size_t)batch * %lldu, %s, &t->rng);\n",
                (long long)f, fstr(a, l->fv[0]));
            OUT(e, "        kdl_merge_forward(xm, %s, sx, dmask, sm, 3, KDL_MERGE_MUL);\n", x);
            x = "xm";
        }
        if (op->mask_in)
            OUT(e, "        s.mask = %s; /* Keras mask: masked timesteps keep the states */\n",
                bref(e, op->mask_in));
        // A stateful layer's final states go to the carry area (also when
        // returned: copied there after).
        int64_t bu = op->carry ? rnn_state_floats(op) : 0;
        const char *ch = op->carry ? arena_printf(a, "carry + %lld", (long long)op->carry - 1)
                                   : "NULL";
        const char *cc = op->carry && rnn_kind(l) == RNN_LSTM
                             ? arena_printf(a, "carry + %lld", (long long)(op->carry - 1 + bu))
                             : "NULL";
        const char *ho = op->nout > 1 ? bref(e, op->out[1]) : ch;
        const char *co = op->nout > 2 ? bref(e, op->out[2]) : cc;
        OUT(e, "        kdl_rnn_train_forward(%s, %s, %s, %s, t->rnn_saved[%d], %s, %s, %s, %s, "
               "&s, %s, %s);\n",
            rnn_kind_enum(l), bref(e, op->out[0]), ho, co, op->slot, x,
            wref(e, l, "kernel"), wref(e, l, "recurrent_kernel"), wref(e, l, "bias"),
            act_enum(a, l->act),
            act_enum(a, rnn_kind(l) == RNN_SIMPLE ? ACT_SIGMOID : (ActKind)l->iv[RN_REC_ACT]));
        if (op->carry && op->nout > 1)
            OUT(e, "        memcpy(%s, %s, sizeof(float) * %lldu);\n", ch, ho, (long long)bu);
        if (op->carry && op->nout > 2 && rnn_kind(l) == RNN_LSTM)
            OUT(e, "        memcpy(%s, %s, sizeof(float) * %lldu);\n", cc, co, (long long)bu);
        OUT(e, "    }\n");
    } else if (op->pre) {
        // The activation's derivative needs its input: keep it.
        IrBuf *out = op->out[0];
        ActKind act = op->act;
        op->out[0] = op->pre;
        op->act = ACT_LINEAR;
        emit_op(e, op);
        op->out[0] = out;
        op->act = act;
        const Shape *os = &out->shape;
        OUT(e, "    kdl_activation_forward(%s, %s, %s, %s, %s, %s); /* %s's activation */\n",
            bref(e, out), bref(e, op->pre), rows_expr(e, out), dimx(e, out, os->rank - 1),
            act_enum(a, act), fstr(a, op_alpha(op)), l->name);
    } else {
        emit_op(e, op);
    }
}

// ---- backward ---------------------------------------------------------------------------

static void emit_conv_backward(Emit *e, IrOp *op, const char *act, const char *alpha,
                               const char *dy) {
    Layer *l = op->layer;
    const char *x = bref(e, op->in[0]), *y = bref(e, op->out[0]), *dx = gref(e, op->in[0]);
    OUT(e, "    {\n");
    conv_geometry(e, op);
    switch ((ConvKind)l->iv[CV_KIND]) {
    case CV_CONV:
        OUT(e, "        kdl_conv2d_backward(%s, %s, %s, %s, %s, %s, %s, &s, %s, %s, scratch);\n",
            dx, gk(e, op, "kernel"), gw(e, l, "bias"), dy, x, kref(e, op, "kernel"), y, act,
            alpha);
        break;
    case CV_DEPTHWISE:
        OUT(e, "        kdl_depthwise_conv2d_backward(%s, %s, %s, %s, %s, %s, %s, &s, %s, %s, "
               "scratch);\n",
            dx, gw(e, l, "kernel"), gw(e, l, "bias"), dy, x, wref(e, l, "kernel"), y, act, alpha);
        break;
    case CV_SEPARABLE: {
        const char *tmp = bref(e, op->tmp), *dtmp = bref(e, op->tmp->grad);
        OUT(e, "        memset(%s, 0, sizeof(float) * %s);\n", dtmp, count_expr(e, op->tmp));
        OUT(e, "        kdl_conv2d_backward(%s, %s, %s, %s, %s, %s, %s, &p, %s, %s, scratch);\n",
            dtmp, gw(e, l, "pointwise_kernel"), gw(e, l, "bias"), dy, tmp,
            wref(e, l, "pointwise_kernel"), y, act, alpha);
        OUT(e, "        kdl_depthwise_conv2d_backward(%s, %s, NULL, %s, %s, %s, %s, &s, "
               "KDL_ACT_LINEAR, 0.0f, scratch);\n",
            dx, gw(e, l, "depthwise_kernel"), dtmp, x, wref(e, l, "depthwise_kernel"), tmp);
        break;
    }
    case CV_TRANSPOSE:
        OUT(e, "        kdl_conv2d_transpose_backward(%s, %s, %s, %s, %s, %s, %s, &s, %s, %s, "
               "scratch);\n",
            dx, gw(e, l, "kernel"), gw(e, l, "bias"), dy, x, wref(e, l, "kernel"), y, act, alpha);
        break;
    }
    OUT(e, "    }\n");
}

static void emit_merge_backward(Emit *e, IrOp *op, const char *dy) {
    Arena *a = e->c->arena;
    int kind = (int)op->layer->iv[0];
    const Shape *os = &op->out[0]->shape;
    int rank = os->rank;
    for (int i = 0; i < op->nin; i++)
        if (op->in[i]->shape.rank > rank)
            rank = op->in[i]->shape.rank;
    OUT(e, "    {\n        const int so[] = %s;\n", shape_lit(e, op->out[0], rank));
    for (int i = 0; i < op->nin; i++) {
        const char *dx = gref(e, op->in[i]);
        if (!strcmp(dx, "NULL"))
            continue;
        OUT(e, "        {\n            const int sx[] = %s;\n",
            shape_lit(e, op->in[i], rank));
        const char *other = "NULL", *so = "NULL";
        double scale = kind == MG_AVG ? 1.0 / op->nin : (kind == MG_SUB && i == 1) ? -1.0 : 1.0;
        if (kind == MG_MAX || kind == MG_MIN) {
            // The output's gradient where this input gave the output (its
            // value equals the output's; ties, which random data does not
            // make, would count for each input that ties).
            OUT(e, "            kdl_merge_forward(scratch, %s, sx, %s, so, %d, KDL_MERGE_EQ);\n",
                bref(e, op->in[i]), bref(e, op->out[0]), rank);
            other = "scratch";
            so = "so";
        } else if (kind == MG_MUL && op->nin == 2) {
            other = bref(e, op->in[1 - i]);
            OUT(e, "            const int sj[] = %s;\n", shape_lit(e, op->in[1 - i], rank));
            so = "sj";
        } else if (kind == MG_MUL) {
            // The product of the other inputs, broadcast step by step, in two
            // halves of the scratch space taken in turn.
            OUT(e, "            const float *prod = NULL;\n"
                   "            float *next = scratch;\n"
                   "            int sp[%d];\n", rank);
            int done = 0;
            for (int j = 0; j < op->nin; j++) {
                if (j == i)
                    continue;
                OUT(e, "            {\n                const int sj[] = %s;\n",
                    shape_lit(e, op->in[j], rank));
                if (!done) {
                    OUT(e, "                prod = %s;\n                memcpy(sp, sj, sizeof sp);\n",
                        bref(e, op->in[j]));
                } else {
                    OUT(e, "                kdl_merge_forward(next, prod, sp, %s, sj, %d, "
                           "KDL_MERGE_MUL);\n", bref(e, op->in[j]), rank);
                    OUT(e, "                for (int d = 1; d < %d; d++)\n"
                           "                    sp[d] = sp[d] > sj[d] ? sp[d] : sj[d];\n"
                           "                prod = next;\n"
                           "                next = next == scratch ? scratch + (size_t)batch * "
                           "%s : scratch;\n", rank, sizex(e, op->out[0]));
                }
                OUT(e, "            }\n");
                done++;
            }
            other = "prod";
            so = "sp";
        }
        OUT(e, "            kdl_merge_backward(%s, sx, %s, so, %s, %s, %d, %s);\n        }\n", dx,
            dy, other, so, rank, fstr(a, scale));
    }
    OUT(e, "    }\n");
}

static bool any_input_grad(IrOp *op) {
    for (int i = 0; i < op->nin; i++)
        if (broot(op->in[i])->grad)
            return true;
    return false;
}

static void emit_train_backward_body(Emit *e, IrOp *op, const char *dy, ActKind act);

static void emit_train_backward(Emit *e, IrOp *op) {
    Arena *a = e->c->arena;
    const IrBuf *ob = op->out[0];
    const char *dy = gref(e, op->out[0]);
    op_comment(e, op, "backward");
    ActKind act = op->loss_fused ? ACT_LINEAR : op->act;
    if (op->pre && !op->loss_fused) {
        // out = act(pre): the activation's gradient first, into pre's gradient
        // (element-wise, in the output's own layout).
        const char *dpre = bref(e, op->pre->grad);
        OUT(e, "    memset(%s, 0, sizeof(float) * %s);\n", dpre, count_expr(e, op->pre));
        OUT(e, "    kdl_activation_backward(%s, %s, %s, %s, %s, %s, %s, %s);\n", dpre, dy,
            bref(e, op->pre), bref(e, op->out[0]), rows_expr(e, op->out[0]),
            dimx(e, ob, ob->shape.rank - 1), act_enum(a, op->act), fstr(a, op_alpha(op)));
        dy = dpre;
        act = ACT_LINEAR;
    }
    if (!op->cf_in || !strcmp(op->layer->class_name, CF_FLATTEN)) {
        emit_train_backward_body(e, op, dy, act);
        return;
    }
    // A layout move around the kernel: its gradient moved the same way, the
    // kernel's backward on the channels_last buffers, the input's gradient
    // moved back (accumulated: the input may have other readers).
    IrBuf *in = op->in[0], *out = op->out[0], *cin = op->cf_in, *cout = op->cf_out;
    if (op->cf_mask) {   // a general move (kdl_move_axes)
        emit_move_axes(e, op, bref(e, cout->grad), dy, out, 0, 0, "the gradient, axes last");
        if (cin->grad)
            OUT(e, "    memset(%s, 0, sizeof(float) * %s);\n", bref(e, cin->grad),
                count_expr(e, cin));
        op->in[0] = cin;
        op->out[0] = cout;
        emit_train_backward_body(e, op, bref(e, cout->grad), act);
        op->in[0] = in;
        op->out[0] = out;
        if (cin->grad)
            emit_move_axes(e, op, gref(e, in), bref(e, cin->grad), in, 1, 1, "moved back");
        return;
    }
    const char *outer = cf_outer(e, op), *rows, *cols;
    int ax = op->cf_axis ? op->cf_axis : 1;
    if (cout->shape.rank > 2) {
        cf_split(e, op, out, &rows, &cols);
        OUT(e, "    kdl_transpose_last2(%s, %s, %s, %s, %s); /* the gradient, axis %d last */\n",
            bref(e, cout->grad), dy, outer, rows, cols, ax);
        dy = bref(e, cout->grad);
    }
    if (cin->grad)
        OUT(e, "    memset(%s, 0, sizeof(float) * %s);\n", bref(e, cin->grad),
            count_expr(e, cin));
    op->in[0] = cin;
    op->out[0] = cout;
    emit_train_backward_body(e, op, dy, act);
    op->in[0] = in;
    op->out[0] = out;
    if (cin->grad) {
        cf_split(e, op, in, &rows, &cols);
        OUT(e, "    kdl_transpose_last2_backward(%s, %s, %s, %s, %s); /* back to axis %d */\n",
            gref(e, in), bref(e, cin->grad), outer, rows, cols, ax);
    }
}

// The backward of op's kernel with dy the gradient of its output (after
// the activation `act`, which the kernel differentiates from its output).
static void emit_train_backward_body(Emit *e, IrOp *op, const char *dy, ActKind act) {
    Arena *a = e->c->arena;
    Layer *l = op->layer;
    const char *k = l->class_name;
    const Shape *is = &op->in[0]->shape, *os = &op->out[0]->shape;
    const char *x = bref(e, op->in[0]), *y = bref(e, op->out[0]);
    const char *dx = gref(e, op->in[0]);
    double alpha = op_alpha(op);
    const char *acts = act_enum(a, act), *alphas = fstr(a, alpha);
    if (!strcmp(k, CF_FLATTEN)) {
        OUT(e, "    kdl_transpose_last2_backward(%s, %s, batch, %s, %s);\n", dx, dy,
            dimx(e, op->in[0], 1), numelx(e, op->in[0], 2, is->rank));
    } else if (!strcmp(k, "Dense")) {
        OUT(e, "    kdl_dense_backward(%s, %s, %s, %s, %s, %s, %s, (int)(%s), %lld, %lld, %s, %s, "
               "scratch);\n",
            dx, gk(e, op, "kernel"), gw(e, l, "bias"), dy, x, kref(e, op, "kernel"), y,
            rows_expr(e, op->in[0]), (long long)is->d[is->rank - 1], (long long)l->iv[DN_UNITS], acts,
            alphas);
    } else if (!strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") || !strcmp(k, "DepthwiseConv2D") ||
               !strcmp(k, "SeparableConv2D") || !strcmp(k, "Conv2DTranspose") ||
               !strcmp(k, "Conv1DTranspose")) {
        emit_conv_backward(e, op, acts, alphas, dy);
    } else if (!any_input_grad(op) && !l->nweights) {
        OUT(e, "    /* (nothing upstream needs this gradient) */\n");
    } else if (!strcmp(k, "MaxPooling1D") || !strcmp(k, "MaxPooling2D") ||
               !strcmp(k, "AveragePooling1D") || !strcmp(k, "AveragePooling2D")) {
        int r = (int)l->iv[PL_RANK];
        int64_t kh = r == 2 ? l->iv[PL_K] : 1, kw = l->iv[PL_K + r - 1];
        int64_t sh = r == 2 ? l->iv[PL_S] : 1, sw = l->iv[PL_S + r - 1];
        OUT(e, "    {\n");
        conv_shape(e, op, kh, kw, sh, sw, 1, 1, (int)l->iv[PL_PAD], 1, 1);
        OUT(e, "        kdl_pool2d_backward(%s, %s, %s, %s, &s, %s);\n    }\n", dx, dy, x, y,
            l->iv[PL_MAX] ? "KDL_POOL_MAX" : "KDL_POOL_AVG");
    } else if (!strncmp(k, "Global", 6) && op->mask_in) {
        OUT(e, "    kdl_global_avg_pool1d_masked_backward(%s, %s, %s, batch, %s, %lld);\n", dx, dy,
            bref(e, op->mask_in), dimx(e, op->in[0], 1), (long long)is->d[2]);
    } else if (!strncmp(k, "Global", 6)) {
        OUT(e, "    kdl_global_pool_backward(%s, %s, %s, %s, batch, %s, %s, %s);\n", dx, dy, x,
            y, numelx(e, op->in[0], 1, is->rank - 1), dimx(e, op->in[0], is->rank - 1),
            l->iv[GP_MAX] ? "KDL_POOL_MAX" : "KDL_POOL_AVG");
    } else if (!strcmp(k, "Activation") || !strcmp(k, "ReLU") || !strcmp(k, "LeakyReLU") ||
               !strcmp(k, "ELU") ||
               !strcmp(k, "Softmax")) {
        ActKind la;
        double lalpha;
        if (op->loss_fused) {
            OUT(e, "    kdl_axpy(%s, %s, %s, 1.0f); /* the loss gave the gradient of the logits "
                   "*/\n", dx, dy, count_expr(e, op->in[0]));
        } else if (relu_general(op)) {
            OUT(e, "    kdl_relu_general_backward(%s, %s, %s, %s, %s, %d, %s, %s);\n", dx, dy, x,
                count_expr(e, op->in[0]), fstr(a, l->fv[1]), (int)l->iv[0],
                fstr(a, l->iv[0] ? l->fv[0] : 0), fstr(a, l->fv[2]));
        } else if (layer_activation(e, op, &la, &lalpha)) {
            const char *rows, *cols;
            act_span(e, op, op->out[0], &rows, &cols);
            OUT(e, "    kdl_activation_backward(%s, %s, %s, %s, %s, %s, %s, %s);\n", dx, dy, x, y,
                rows, cols, act_enum(a, la), fstr(a, lalpha));
        }
    } else if (!strcmp(k, "GaussianNoise")) {
        OUT(e, "    kdl_axpy(%s, %s, %s, 1.0f);\n", dx, dy, count_expr(e, op->in[0]));
    } else if (!strcmp(k, "GaussianDropout")) {
        OUT(e, "    kdl_mul_accumulate(%s, %s, %s, %s);\n", dx, dy, bref(e, op->mask),
            count_expr(e, op->in[0]));
    } else if (!strcmp(k, "Dropout")) {
        const char *ms, *per;
        bool per_batch, full;
        if (!noise_shape(e, op, &ms, &per, &per_batch, &full))
            return;
        if (full)
            OUT(e, "    kdl_mul_accumulate(%s, %s, %s, %s);\n", dx, dy, bref(e, op->mask),
                count_expr(e, op->in[0]));
        else
            OUT(e, "    {\n        const int sx[] = %s, sm[] = %s; /* noise_shape */\n"
                   "        kdl_merge_backward(%s, sx, %s, sx, %s, sm, %d, 1.0f);\n    }\n",
                shape_lit(e, op->in[0], is->rank), ms, dx, dy, bref(e, op->mask), is->rank);
    } else if (!strcmp(k, "BatchNormalization")) {
        int64_t ch = is->d[is->rank - 1];
        if (op->training)
            OUT(e, "    kdl_batchnorm_backward(%s, %s, %s, %s, %s, %s, state + %lld, state + %lld, "
                   "%s, %lld);\n",
                dx, gw(e, l, "gamma"), gw(e, l, "beta"), dy, x, wref(e, l, "gamma"),
                (long long)op->state_off, (long long)(op->state_off + ch), rows_expr(e, op->in[0]),
                (long long)ch);
        else
            OUT(e, "    kdl_batchnorm_infer_backward(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                   "%lld);\n",
                dx, gw(e, l, "gamma"), gw(e, l, "beta"), dy, x, wref(e, l, "gamma"),
                wref(e, l, "moving_mean"), wref(e, l, "moving_variance"), fstr(a, l->fv[1]),
                rows_expr(e, op->in[0]), (long long)ch);
    } else if (!strcmp(k, "LayerNormalization")) {
        const char *rows;
        long long cols;
        if (layernorm_span(e, op, &rows, &cols))
            OUT(e, "    kdl_layernorm_backward(%s, %s, %s, %s, %s, %s, %s, %s, %lld);\n", dx,
                gw(e, l, "gamma"), gw(e, l, "beta"), dy, x, wref(e, l, "gamma"),
                fstr(a, l->fv[0]), rows, cols);
    } else if (is_merge_class(k)) {
        emit_merge_backward(e, op, dy);
    } else if (!strcmp(k, "Concatenate")) {
        int axis = (int)l->iv[1];
        OUT(e, "    {\n        float *const dxs[] = {");
        for (int i = 0; i < op->nin; i++)
            OUT(e, "%s%s", i ? ", " : "", gref(e, op->in[i]));
        OUT(e, "};\n        const int lens[] = {");
        for (int i = 0; i < op->nin; i++)
            OUT(e, "%s%s", i ? ", " : "", dimx(e, op->in[i], axis));
        OUT(e, "};\n        kdl_concat_backward(dxs, %s, lens, %d, (size_t)batch * %s, %s);\n"
               "    }\n", dy, op->nin, numelx(e, op->out[0], 1, axis),
            numelx(e, op->out[0], axis + 1, os->rank));
    } else if (!strcmp(k, "Embedding")) {
        OUT(e, "    kdl_embedding_backward(%s, %s, (const int32_t *)(const void *)%s, %s, %lld);\n",
            gk(e, op, "embeddings"), dy, x, count_expr(e, op->in[0]), (long long)l->iv[EM_OUT]);
    } else if (!strcmp(k, "RepeatVector")) {
        OUT(e, "    kdl_repeat_backward(%s, %s, batch, %lld, %s);\n", dx, dy,
            (long long)os->d[1], dimx(e, op->in[0], 1));
    } else if (!strcmp(k, "Permute")) {
        if (strcmp(dx, "NULL"))
            emit_permute(e, op, dx, dy, op->out[0], true);
    } else if (!strcmp(k, "Masking")) {
        OUT(e, "    kdl_masking_backward(%s, %s, %s, (size_t)batch * %s, %s, %s);\n", dx, dy, x,
            numelx(e, op->in[0], 1, is->rank - 1), dimx(e, op->in[0], is->rank - 1),
            fstr(a, l->fv[0]));
    } else if (!strcmp(k, "Rescaling")) {
        OUT(e, "    kdl_axpy(%s, %s, %s, %s);\n", dx, dy, count_expr(e, op->in[0]),
            fstr(a, l->fv[0]));
    } else if (!strncmp(k, "ZeroPadding", 11) || !strncmp(k, "UpSampling", 10) ||
               !strncmp(k, "Cropping", 8)) {
        const char *h, *w, *ch, *oh, *ow;   // (the 1D forms: images of one row)
        image_dims(e, op, &h, &w, &ch, &oh, &ow);
        if (!strncmp(k, "ZeroPadding", 11))
            OUT(e, "    kdl_zero_pad2d_backward(%s, %s, batch, %s, %s, %s, %lld, %lld, %lld, "
                   "%lld);\n", dx, dy, h, w, ch, (long long)l->iv[ZP_T], (long long)l->iv[ZP_B],
                (long long)l->iv[ZP_L], (long long)l->iv[ZP_R]);
        else if (!strncmp(k, "UpSampling", 10))
            OUT(e, "    kdl_upsample2d%s_backward(%s, %s, batch, %s, %s, %s, %lld, %lld);\n",
                l->iv[UP_INTERP] ? "_bilinear" : "", dx, dy, h, w, ch, (long long)l->iv[UP_H],
                (long long)l->iv[UP_W]);
        else
            OUT(e, "    kdl_crop2d_backward(%s, %s, batch, %s, %s, %s, %s, %s, %lld, %lld);\n", dx,
                dy, h, w, ch, oh, ow, (long long)l->iv[CR_T], (long long)l->iv[CR_L]);
    } else if (!strcmp(k, "RandomCrop")) {
        // In inference mode the centred window (kdl_center_crop_forward's).
        const char *top = op->training ? arena_printf(a, "t->crop[%d][0]", op->slot)
                          : arena_printf(a, "(%s - %lld) / 2", dimx(e, op->in[0], 1),
                                         (long long)os->d[1]);
        const char *left = op->training ? arena_printf(a, "t->crop[%d][1]", op->slot)
                           : arena_printf(a, "(%s - %lld) / 2", dimx(e, op->in[0], 2),
                                          (long long)os->d[2]);
        OUT(e, "    kdl_crop2d_backward(%s, %s, batch, %s, %s, %s, %lld, %lld, %s, %s);\n",
            dx, dy, dimx(e, op->in[0], 1), dimx(e, op->in[0], 2), dimx(e, op->in[0], 3),
            (long long)os->d[1], (long long)os->d[2], top, left);
    } else if (is_rnn_class(k)) {
        OUT(e, "    {\n");
        rnn_train_shape(e, op, "batch");
        rnn_init_args(e, op, false);
        if (rnn_gate_masks(op))
            rnn_gate_mask_args(e, op, false);
        const char *rdx = dx;
        if (rnn_dropout(op)) {
            // Backprop to the dropped inputs xm, then through the mask.
            int64_t f = is->d[2];
            const char *tt = dimx(e, op->in[0], 1), *tf = numelx(e, op->in[0], 1, 3);
            OUT(e, "        float *dmask = %s, *xm = dmask + (size_t)batch * %lldu, "
                   "*dxm = xm + (size_t)batch * %s;\n", rnn_drop_base(e, op), (long long)f, tf);
            OUT(e, "        const int sx[] = {batch, %s, %lld}, sm[] = {batch, 1, %lld};\n"
                   "        (void)dxm;\n        (void)sx;\n        (void)sm;\n",
                tt, (long long)f, (long long)f);
            if (strcmp(dx, "NULL")) {
                OUT(e, "        memset(dxm, 0, sizeof(float) * (size_t)batch * %s);\n", tf);
                rdx = "dxm";
            }
            x = "xm";
        }
        if (op->mask_in)
            OUT(e, "        s.mask = %s;\n", bref(e, op->mask_in));
        rnn_initial_state_args(e, op);
        OUT(e, "        kdl_rnn_backward(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
               "t->rnn_saved[%d], &s, %s, %s, scratch);\n",
            rnn_kind_enum(l), rdx, gw(e, l, "kernel"), gw(e, l, "recurrent_kernel"),
            gw(e, l, "bias"), op->nin > 1 ? gref(e, op->in[1]) : "NULL",
            op->nin > 2 ? gref(e, op->in[2]) : "NULL", dy,
            op->nout > 1 ? gref(e, op->out[1]) : "NULL",
            op->nout > 2 ? gref(e, op->out[2]) : "NULL", x, wref(e, l, "kernel"),
            wref(e, l, "recurrent_kernel"), wref(e, l, "bias"), op->slot, act_enum(a, l->act),
            act_enum(a, rnn_kind(l) == RNN_SIMPLE ? ACT_SIGMOID : (ActKind)l->iv[RN_REC_ACT]));
        if (rnn_dropout(op) && strcmp(dx, "NULL"))
            OUT(e, "        kdl_merge_backward(%s, sx, dxm, sx, dmask, sm, 3, 1.0f);\n", dx);
        OUT(e, "    }\n");
    } else {
        unsupported(e, op, "training through this layer");
    }
}

// Scratch floats the training step needs at max_batch: the largest of any
// forward or backward kernel's needs (computed by the runtime's *_scratch).
static void emit_train_scratch(Emit *e, IrModel *t, const char *P) {
    OUT(e, "static size_t %s_scratch_floats(int max_batch%s) {\n    size_t n = 0, k;\n%s", P,
        e->dyn ? ", const int64_t d[]" : "", e->dyn ? "    (void)d;\n" : "");
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        if (op->dead)
            continue;
        Layer *l = op->layer;
        const char *k = l->class_name;
        if (!strcmp(k, "Dense")) {
            OUT(e, "    k = (size_t)max_batch * %s; /* %s */\n    n = k > n ? k : n;\n",
                sizex(e, op->out[0]), cmt(e, l->name));
        } else if (!strcmp(k, "Multiply") && op->nin > 2) {
            OUT(e, "    k = (size_t)max_batch * 2u * %s; /* %s: products of the other inputs */\n"
                   "    n = k > n ? k : n;\n", sizex(e, op->out[0]), cmt(e, l->name));
        } else if (!strcmp(k, "Maximum") || !strcmp(k, "Minimum")) {
            OUT(e, "    k = (size_t)max_batch * %s; /* %s: where each input gave the output */\n"
                   "    n = k > n ? k : n;\n", sizex(e, op->out[0]), cmt(e, l->name));
        } else if (!strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") ||
                   !strcmp(k, "DepthwiseConv2D") || !strcmp(k, "SeparableConv2D") ||
                   !strcmp(k, "Conv2DTranspose") ||
                   !strcmp(k, "Conv1DTranspose")) {
            // The shape literals are emitted with `batch`: bind it.
            OUT(e, "    { /* %s */\n        int batch = max_batch;\n", l->name);
            conv_geometry(e, op);
            switch ((ConvKind)l->iv[CV_KIND]) {
            case CV_CONV:
                OUT(e, "        k = kdl_conv2d_scratch(&s);\n        n = k > n ? k : n;\n"
                       "        k = kdl_conv2d_backward_scratch(&s);\n");
                break;
            case CV_DEPTHWISE:
                OUT(e, "        k = kdl_depthwise_conv2d_backward_scratch(&s);\n");
                break;
            case CV_SEPARABLE:
                OUT(e, "        k = kdl_depthwise_conv2d_backward_scratch(&s);\n"
                       "        n = k > n ? k : n;\n        k = kdl_conv2d_scratch(&p);\n"
                       "        n = k > n ? k : n;\n        k = kdl_conv2d_backward_scratch(&p);\n");
                break;
            case CV_TRANSPOSE:
                OUT(e, "        k = kdl_conv2d_transpose_backward_scratch(&s);\n");
                break;
            }
            OUT(e, "        n = k > n ? k : n;\n    }\n");
        } else if (is_rnn_class(k)) {
            OUT(e, "    { /* %s */\n", l->name);
            rnn_train_shape(e, op, "max_batch");
            OUT(e, "        k = kdl_rnn_backward_scratch(%s, &s);\n        n = k > n ? k : n;\n"
                   "        k = kdl_rnn_scratch(&s);\n        n = k > n ? k : n;\n    }\n",
                rnn_kind_enum(l));
        }
    }
    for (int i = 0; i < t->noutputs; i++)
        OUT(e, "    k = (size_t)max_batch * %s; /* a loss gradient added to another */\n"
               "    n = k > n ? k : n;\n", sizex(e, t->outputs[i]));
    OUT(e, "    return n;\n}\n\n");
}

// ---- run-time dimensions of the training buffers ------------------------------------------

// The buffers ir_plan_train adds (masks, pre-activations, gradients) take
// their shapes from other buffers but not their run-time dimensions: a
// None dimension there is the run-time one of the buffer it mirrors.
static void copy_run_dims(IrBuf *to, const IrBuf *from) {
    if (!to || to->shape.rank != from->shape.rank)
        return;
    for (int i = 1; i < from->shape.rank; i++)
        if (to->dx[i] < 0 && to->shape.d[i] == DIM_NONE)
            to->dx[i] = from->dx[i];
}

static void run_dims_of_training_bufs(IrModel *t) {
    if (!t->dyn.len)
        return;
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        copy_run_dims(op->mask, op->out[0]);
        copy_run_dims(op->pre, op->out[0]);
    }
    for (int i = 0; i < t->bufs.len; i++) {
        IrBuf *b = t->bufs.data[i];
        copy_run_dims(b->grad, b);
    }
}

// ---- the arena with the layout moves -------------------------------------------------------

// A gradient buffer like b, live during step `step` only.
static IrBuf *step_grad(Emit *e, IrModel *t, const IrBuf *b, int step) {
    IrBuf *g = arena_alloc(e->c->arena, sizeof *g);
    *g = *b;
    g->id = t->bufs.len;
    g->alias = g->converted = g->grad = NULL;
    g->requires_grad = false;
    g->is_grad = true;
    g->input = g->output = -1;
    g->def = g->last = step;
    g->offset = -1;
    g->plan = -1;
    vec_push(e->c->arena, &t->bufs, g);
    return g;
}

// ir_plan_train leaves out the channels_last buffers of layout moves: each
// is written by its op's forward step and read again by its backward step
// (the kernel's x and y), and their gradients live during that step. This
// adds them and places the whole arena again (first fit in definition
// order, as ir_plan_train: the runtime's kdl_plan_arena).
static void plan_layout(Emit *e, IrModel *t) {
    bool any = false;
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        if (op->dead || !op->cf_in || !strcmp(op->layer->class_name, CF_FLATTEN))
            continue;
        any = true;
        int bstep = op->backward ? ir_backward_step(t, i) : i;
        op->cf_in->def = op->cf_out->def = i;
        op->cf_in->last = op->cf_out->last = bstep;
        if (!op->backward)
            continue;
        if (broot(op->in[0])->grad)
            op->cf_in->grad = step_grad(e, t, op->cf_in, bstep);
        if (op->cf_out->shape.rank > 2)
            op->cf_out->grad = step_grad(e, t, op->cf_out, bstep);
    }
    if (!any)
        return;
    Vec order = {0};
    for (int step = 0; step < t->nsteps; step++)
        for (int i = 0; i < t->bufs.len; i++) {
            IrBuf *b = t->bufs.data[i];
            if (b->def == step && b->input < 0 && !b->alias && b->last >= 0)
                vec_push(e->c->arena, &order, b);
        }
    int n = order.len;
    size_t *size = arena_alloc(e->c->arena, sizeof(size_t) * (size_t)(2 * n + 1));
    size_t *off = size + n;
    int *def = arena_alloc(e->c->arena, sizeof(int) * (size_t)(2 * n + 1)), *last = def + n;
    for (int i = 0; i < n; i++) {
        IrBuf *b = order.data[i];
        size[i] = b->size > 0 ? (size_t)b->size : 0;   // run-time sizes: planned at run time
        def[i] = b->def;
        last[i] = b->last;
        b->plan = i;
    }
    t->arena_floats = (int64_t)kdl_plan_arena(n, size, def, last, off);
    for (int i = 0; i < n; i++)
        ((IrBuf *)order.data[i])->offset = (int64_t)off[i];
    t->plan = order;
}

// ---- run-time dimensions ------------------------------------------------------------------

// A target's floats per sample, or -1 when it depends on run-time dims.
static int64_t target_size(const IrBuf *o, bool sparse) {
    int64_t dim = o->shape.d[o->shape.rank - 1];
    if (o->size < 0)
        return -1;
    return sparse ? (dim ? o->size / dim : 0) : o->size;
}

// ---- the whole training interface of one model --------------------------------------------

// Where emit_losses finds the outputs and whether it writes gradients.
typedef enum {
    LOSS_TRAIN,         // compute_gradients: outputs in the training arena, gradients
    LOSS_TEST,          // test_on_batch after predict: outputs in t->outputs
    LOSS_TEST_ARENA,    // test_on_batch with activity regularizers: the training arena
} LossMode;

// Whether root gradient g was set already at the loss step (vec `done`);
// marks it.
static bool grad_done(Emit *e, Vec *done, IrBuf *g) {
    for (int i = 0; i < done->len; i++)
        if (done->data[i] == g)
            return true;
    vec_push(e->c->arena, done, g);
    return false;
}

// The loss step: each output's loss (times its weight; with the loss scale
// factor in the gradients), the metrics, and the regularization losses
// Keras's compute_loss adds (model.losses: the trainable weights'
// regularizers and the activity regularizers of this forward pass).
static void emit_losses(Emit *e, IrModel *t, TrainCfg *cfg, LossMode mode, Vec *actregs) {
    Arena *a = e->c->arena;
    bool backward = mode == LOSS_TRAIN;
    Vec done = {0};
    const char *ls = fstr(a, cfg->loss_scale);
    OUT(e, "    /* the loss%s */\n    double loss = 0.0;\n", t->noutputs > 1 ? "es (summed "
                                                                           "with their weights)"
                                                                         : "");
    OUT(e, "    kdl_Status st;\n    (void)st;\n");
    for (int i = 0; i < t->noutputs; i++) {
        LossCfg *lc = &cfg->loss[i];
        IrBuf *o = t->outputs[i];
        const Shape *s = &o->shape;
        const char *rows = numelx(e, o, 1, s->rank - 1), *dim = dimx(e, o, s->rank - 1);
        // Training reads the output in the arena, test_on_batch in t->outputs
        // (where predict wrote it).
        const char *out = mode != LOSS_TEST ? bref(e, o) : arena_printf(a, "t->outputs[%d]", i);
        const char *grad = "NULL";
        const char *mask = t->out_masks[i] ? bref(e, t->out_masks[i]) : NULL;
        bool again = false;
        if (backward && broot(o)->grad) {
            grad = gref(e, o);
            again = grad_done(e, &done, broot(o)->grad);
        }
        OUT(e, "    {\n");
        if (!lc->kind) {
            OUT(e, "        /* output %d (%s) has no loss */\n", i, cmt(e, loss_out_name(t, i)));
            if (backward && broot(o)->grad && !again)
                OUT(e, "        memset(%s, 0, sizeof(float) * %s);\n", grad, count_expr(e, o));
        } else {
            OUT(e, "        static const kdl_Loss L = {%s, %d, %s, %s, %s, %s};\n", lc->kind,
                lc->from_logits, fstr(a, lc->label_smoothing), fstr(a, lc->delta),
                lc->sum ? "KDL_REDUCE_SUM" : lc->by_weights ? "KDL_REDUCE_MEAN_WEIGHTS"
                                                            : "KDL_REDUCE_MEAN",
                lc->fused ? act_enum(a, lc->fused_act) : "KDL_ACT_LINEAR");
            if (mask)
                OUT(e, "        double l; /* masked rows weigh 0 (Keras's apply_mask) */\n"
                       "        st = kdl_loss_masked(&L, &l, %s, %s, targets[%d], %s, "
                       "(int)((size_t)batch * %s), %s, %s);\n",
                    again ? "scratch" : grad, out, i, mask, rows, dim,
                    fstr(a, lc->weight * cfg->loss_scale));
            else if (cfg->weighted && backward)
                OUT(e, "        double l; /* sample weights (class_weight) when set */\n"
                       "        st = kdl_loss_weighted(&L, &l, %s, %s, targets[%d], "
                       "t->sample_weight, (int)((size_t)batch * %s), %s, %s);\n",
                    again ? "scratch" : grad, out, i, rows, dim,
                    fstr(a, lc->weight * cfg->loss_scale));
            else
                OUT(e, "        double l;\n        st = kdl_loss(&L, &l, %s, %s, targets[%d], "
                       "(int)((size_t)batch * %s), %s, %s);\n",
                    again ? "scratch" : grad, out, i, rows, dim,
                    fstr(a, lc->weight * cfg->loss_scale));
            OUT(e, "        if (st != KDL_OK)\n            return st;\n");
            if (again)
                OUT(e, "        kdl_axpy(%s, scratch, %s, 1.0f);\n", grad, count_expr(e, o));
            OUT(e, "        loss += %s * l;\n", fstr(a, lc->weight));
        }
        for (int k = 0; k < cfg->metrics.len; k++) {
            MetricCfg *mc = cfg->metrics.data[k];
            if (mc->output != i)
                continue;
            if (mc->output_loss) {
                // A mean over the batch: as a sum, weighted by the batch size.
                OUT(e, "        r->metric_sums[%d] = l * (double)batch; /* %s */\n", k,
                    cmt(e, mc->name));
            } else if (mc->kind && mask && mc->reduce == KDL_METRIC_WEIGHTED_MEAN) {
                // The mean over the unmasked rows (MeanMetricWrapper).
                OUT(e, "        r->metric_sums[%d] = kdl_metric_sum_masked(%s, %s, %s, "
                       "targets[%d], %s, (int)((size_t)batch * %s), %s); /* %s */\n"
                       "        r->metric_counts[%d] = kdl_mask_sum(%s, (size_t)batch * %s);\n",
                    k, mc->kind, fstr(a, mc->param), out, i, mask, rows, dim, cmt(e, mc->name),
                    k, mask, rows);
            } else if (mc->kind) {
                OUT(e, "        r->metric_sums[%d] = kdl_metric_sum_p(%s, %s, %s, targets[%d], "
                       "(int)((size_t)batch * %s), %s) / (double)%s; /* %s */\n",
                    k, mc->kind, fstr(a, mc->param), out, i, rows, dim, rows, cmt(e, mc->name));
            } else if (mask) {
                // A loss as a metric of a masked output: its sum over the
                // unmasked rows, over their count.
                LossCfg *ml = &mc->loss;
                OUT(e, "        {\n            static const kdl_Loss M = {%s, %d, %s, %s, "
                       "KDL_REDUCE_SUM, KDL_ACT_LINEAR};\n            double v;\n"
                       "            st = kdl_loss_masked(&M, &v, NULL, %s, targets[%d], %s, "
                       "(int)((size_t)batch * %s), %s, 1.0f);\n            if (st != KDL_OK)\n"
                       "                return st;\n"
                       "            r->metric_sums[%d] = %sv; /* %s */\n"
                       "            r->metric_counts[%d] = kdl_mask_sum(%s, (size_t)batch * %s);\n"
                       "        }\n",
                    ml->kind, ml->from_logits, fstr(a, ml->label_smoothing), fstr(a, ml->delta),
                    out, i, mask, rows, dim, k, mc->negate ? "-" : "", cmt(e, mc->name), k, mask,
                    rows);
            } else {
                // A loss as a metric: the sum of its per-sample means (a
                // keras.losses object: its reduced value of this batch).
                LossCfg *ml = &mc->loss;
                bool step = mc->per_step;
                OUT(e, "        {\n            static const kdl_Loss M = {%s, %d, %s, %s, %s, "
                       "KDL_ACT_LINEAR};\n            double v;\n"
                       "            st = kdl_loss(&M, &v, NULL, %s, targets[%d], (int)((size_t)"
                       "batch * %s), %s, 1.0f);\n            if (st != KDL_OK)\n"
                       "                return st;\n",
                    ml->kind, ml->from_logits, fstr(a, ml->label_smoothing), fstr(a, ml->delta),
                    step && !ml->sum ? "KDL_REDUCE_MEAN" : "KDL_REDUCE_SUM", out, i, rows, dim);
                if (step)
                    OUT(e, "            r->metric_sums[%d] = v; /* %s */\n        }\n", k,
                        cmt(e, mc->name));
                else
                    OUT(e, "            r->metric_sums[%d] = %sv / (double)%s; /* %s */\n"
                           "        }\n", k, mc->negate ? "-" : "", rows, cmt(e, mc->name));
            }
        }
        OUT(e, "    }\n");
    }
    // Regularization (Trainer.compute_loss adds model.losses): the weights'
    // penalties, then each activity regularizer's penalty of this batch's
    // output divided by the batch size (Layer.__call__, Keras >= 3.13).
    for (int k = 0; k < cfg->weights.len; k++) {
        WeightCfg *wc = cfg->weights.data[k];
        if (!wc->reg || (wc->r.l1 == 0 && wc->r.l2 == 0))
            continue;
        const char *f = wfield(e, wc->layer, wc->w->name);
        OUT(e, "    loss += kdl_regularize(%s, %s, %lldu, %s, %s, %s); /* %s regularizer */\n",
            f, backward ? gw(e, wc->layer, wc->w->name) : "NULL",
            (long long)numel0(&wc->w->shape), fstr(a, wc->r.l1), fstr(a, wc->r.l2), ls,
            cmt(e, arena_printf(a, "%s/%s", layer_path(wc->layer), wc->w->name)));
    }
    for (int k = 0; k < actregs->len; k++) {
        ActRegCfg *ar = actregs->data[k];
        if (ar->r.l1 == 0 && ar->r.l2 == 0)
            continue;
        IrBuf *o = ar->op->out[ar->out];
        const char *g = "NULL";
        if (backward && broot(o)->grad) {
            g = gref(e, o);
            if (!grad_done(e, &done, broot(o)->grad))
                OUT(e, "    memset(%s, 0, sizeof(float) * %s);\n", g, count_expr(e, o));
        }
        OUT(e, "    loss += kdl_regularize(%s, %s, %s, %s, %s, %s / (float)batch) / (double)batch; "
               "/* %s (%s) activity regularizer, output %d */\n",
            bref(e, o), g, count_expr(e, o), fstr(a, ar->r.l1), fstr(a, ar->r.l2), ls,
            cmt(e, ar->op->layer->name), ar->op->layer->class_name, ar->out);
    }
}

void emit_train(Emit *e, IrModel *m, IrModel *t) {
    Arena *a = e->c->arena;
    const char *P = arena_printf(a, "%s_%s", e->stem, m->cname);
    TrainCfg cfg = {0};
    int64_t lora_floats = 0;
    if (!carry_like(e->c, t, m)) {  // stateful RNNs: the model's states
        e->ok = false;
        return;
    }
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        if (!strcmp(op->layer->class_name, "Flatten") && op->layer->iv[0] &&
            op->in[0]->shape.rank > 2) {
            // A transpose, not storage: its own class keeps ir_plan_train
            // from making it an alias.
            Layer *cl = arena_alloc(a, sizeof *cl);
            *cl = *op->layer;
            cl->class_name = CF_FLATTEN;
            op->layer = cl;
        }
        // LoRA: the adapted weight is the inference model's (M_prepare), its
        // gradient goes to the LoRA area.
        for (int k = 0; op->lora && k < m->ops.len; k++) {
            IrOp *mo = m->ops.data[k];
            if (mo->layer == op->layer && mo->lora)
                op->fold_kernel = mo->fold_kernel;
        }
        if (op->lora) {
            op->lora_grad = lora_floats;
            lora_floats += numel0(&find_weight(op->layer, op->lora)->shape);
        }
    }
    if (!train_config(e, t, &cfg))
        return;
    // Outputs with an activity regularizer are sources of the loss too: the
    // plan keeps their values to the loss step and gives them gradients
    // from it (planned as extra outputs). A model output that has one keeps
    // its activation out of the loss (the regularizer's gradient is w.r.t.
    // the activation's output).
    int nx = cfg.actregs.len, n0 = t->noutputs;
    bool *fused = arena_alloc(a, sizeof(bool) * (size_t)(n0 + nx + 1));
    for (int i = 0; i < n0; i++) {
        for (int k = 0; k < nx; k++) {
            ActRegCfg *ar = cfg.actregs.data[k];
            if (broot(ar->op->out[ar->out]) == broot(t->outputs[i]))
                cfg.loss[i].fused = false;
        }
        fused[i] = cfg.loss[i].fused;
    }
    plan_with(e, t, &cfg.actregs, fused, true);
    run_dims_of_training_bufs(t);
    plan_layout(e, t);
    // Evaluating a model with activity regularizers needs the outputs of
    // its inference graph's layers (Keras's test_step calls the model with
    // training=False), and a masked loss its outputs' masks: a second,
    // unfused inference lowering planned with them kept, run by
    // test_on_batch in an area of its own.
    IrModel *ev = NULL;
    Vec evregs = {0};
    bool dyn = t->dyn.len > 0, masked = false;
    for (int i = 0; i < n0; i++)
        masked |= t->out_masks[i] != NULL;
    if (nx || dyn || masked) {
        // (With run-time dimensions test_on_batch always runs ev: M_predict's
        // arena is planned by M_create(max_batch, max_dims), not here.)
        ev = lower_model(e->c, t->model, m->cname, false, true);
        if (!ev || !carry_like(e->c, ev, m)) {
            e->ok = false;
            return;
        }
        for (int i = 0; i < ev->ops.len; i++) {
            IrOp *op = ev->ops.data[i];
            for (int k = 0; op->lora && k < m->ops.len; k++) {
                IrOp *mo = m->ops.data[k];
                if (mo->layer == op->layer && mo->lora)
                    op->fold_kernel = mo->fold_kernel;
            }
        }
        collect_actregs(e, ev, &evregs);
        plan_with(e, ev, &evregs, NULL, false);
    }
    Vec tl = {0}, tw = {0};
    trainable_weights(t, &tl, &tw, a);
    e->dyn = dyn;
    // The step functions' dims argument, and the model's name in them: with
    // run-time dimensions `m` is the arena plan (bref's m->off) and the model
    // is `model`.
    const char *DP = dyn ? " const int dims[]," : "", *DA = dyn ? " dims," : "";
    const char *MP = dyn ? "model" : "m";

    // Header: the gradients struct and the training API.
    HDR(e, "\n/* Training %s (docs/training.md). Gradients of the trainable weights: */\n", P);
    HDR(e, "typedef struct %s_Grads {\n", P);
    int64_t gfloats = 0;
    for (int i = 0; i < tw.len; i++) {
        Weight *w = tw.data[i];
        Layer *l = tl.data[i];
        int64_t n = numel0(&w->shape);
        gfloats += n;
        HDR(e, "    float %s[%lld]; /* %s */\n", wfield(e, l, w->name) + 3,
            (long long)(n ? n : 1), cmt(e, arena_printf(a, "%s/%s", layer_path(l), w->name)));
    }
    if (!tw.len)
        HDR(e, "    float unused; /* nothing is trainable */\n");
    HDR(e, "} %s_Grads;\n", P);
    char *UP = arena_strdup(a, P);
    for (char *p = UP; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    HDR(e, "#define %s_TRAINABLE_FLOATS %lld\n", UP, (long long)gfloats);
    if (!dyn)
        HDR(e, "#define %s_TRAIN_ARENA_FLOATS_PER_SAMPLE %lld\n", UP, (long long)t->arena_floats);
    HDR(e, "#define %s_NUM_METRICS %d\n", UP, cfg.metrics.len);
    if (!dyn) {
        HDR(e, "/* A model with training memory: gradients, optimizer slots, the training arena. "
               "*/\n");
        HDR(e, "%s *%s_create_training(int max_batch);\n", P, P);
    } else {
        HDR(e, "/* A model with training memory: gradients and optimizer slots (a model for its\n"
               "   weights only, M_create(max_batch, NULL)); plan_training then sizes the rest\n"
               "   (the training arena, scratch, saved states) for the largest dims the steps\n"
               "   will be given, and may be called again for others (the weights and the\n"
               "   optimizer's state stay). The steps take the dims of their batch. */\n");
        HDR(e, "%s *%s_create_training(int max_batch);\n", P, P);
        HDR(e, "kdl_Status %s_plan_training(%s *m, const int max_dims[], char *err, size_t "
               "errlen);\n", P, P);
        HDR(e, "/* Values per sample of each input and target at these dims (KDL_ERR_SHAPE and a\n"
               "   message when they do not fit the model). */\n");
        HDR(e, "kdl_Status %s_train_sizes(const int dims[], int64_t input_sizes[], int64_t "
               "target_sizes[],\n    char *err, size_t errlen);\n", P);
    }
    HDR(e, "/* targets[i]: batch * TARGETi_SIZE floats (labels, as floats, for sparse losses)%s. "
           "*/\n", dyn ? "; sizes that depend on the dims: M_train_sizes" : "");
    for (int i = 0; i < t->noutputs; i++) {
        int64_t ts = target_size(t->outputs[i], cfg.loss[i].sparse);
        if (ts >= 0)
            HDR(e, "#define %s_TARGET%d_SIZE %lld\n", UP, i, (long long)ts);
    }
    HDR(e, "kdl_Status %s_train_on_batch(%s *m, int batch,%s const void *const inputs[],\n"
           "                             const float *const targets[], kdl_StepResult *r);\n",
        P, P, DP);
    HDR(e, "kdl_Status %s_test_on_batch(%s *m, int batch,%s const void *const inputs[],\n"
           "                            const float *const targets[], kdl_StepResult *r);\n",
        P, P, DP);
    HDR(e, "/* Forward in training mode, the loss and backward, without updating: the\n"
           "   gradients are left in the parameter table (M_parameters). */\n");
    HDR(e, "kdl_Status %s_compute_gradients(%s *m, int batch,%s const void *const inputs[],\n"
           "                                const float *const targets[], kdl_StepResult *r);\n",
        P, P, DP);
    if (cfg.weighted)
        HDR(e, "/* Sample weights of the next training steps (batch floats, kept by pointer;\n"
               "   NULL: none): each sample's loss times its weight, as Keras's sample_weight\n"
               "   (fit's class_weight sets them per batch). */\n"
               "void %s_set_sample_weight(%s *m, const float *w);\n", P, P);
    HDR(e, "/* The trainable weights: values, gradients, optimizer slots (NULL/0 without\n"
           "   training memory). */\n");
    HDR(e, "int %s_parameters(%s *m, kdl_Param **params);\n", P, P);
    HDR(e, "/* A checkpoint: the weights and the optimizer's state after `epoch` epochs\n"
           "   (kdl_checkpoint_save; M_load reads its weights). load_checkpoint restores both\n"
           "   and sets *epoch (fit's initial_epoch to resume with). */\n");
    HDR(e, "kdl_Status %s_save_checkpoint(const %s *m, const char *path, int epoch, char *err,\n"
           "                              size_t errlen);\n", P, P);
    HDR(e, "kdl_Status %s_load_checkpoint(%s *m, const char *path, int *epoch, char *err,\n"
           "                              size_t errlen);\n", P, P);
    HDR(e, "/* Reseed the generator of Dropout masks and RandomCrop windows. */\n");
    HDR(e, "void %s_seed(%s *m, uint64_t seed);\n", P, P);
    HDR(e, "void %s_train_model(%s *m, kdl_TrainModel *out);\n", P, P);
    HDR(e, "/* Options with the defaults of the .kdl fit() call. */\n");
    HDR(e, "void %s_fit_defaults(kdl_FitOptions *o);\n", P);
    HDR(e, "kdl_Status %s_fit(%s *m, const kdl_Array *x, const kdl_Array *y, const "
           "kdl_FitOptions *o,\n                  kdl_Logs *last, char *err, size_t errlen);\n",
        P, P);
    HDR(e, "kdl_Status %s_evaluate(%s *m, const kdl_Array *x, const kdl_Array *y, int batch_size,"
           "\n                       int verbose, kdl_Logs *out, char *err, size_t errlen);\n",
        P, P);

    // Source: the training state.
    int nout = t->noutputs, nr = t->nrnn ? t->nrnn : 1;
    OUT(e, "\n/* ---- training %s (%s:%d) ---- */\n\n", P, cmt(e, e->file),
        t->model->model->compile ? src_line(t->model) : 0);
    if (dyn) {
        // The plans made at run time: each arena buffer's offset and size
        // (floats per sample) at the largest dims.
        OUT(e, "struct %s_tplan {\n    size_t off[%d], cap[%d];\n    int max_batch;\n};\n\n", P,
            t->plan.len + 1, t->plan.len + 1);
        OUT(e, "struct %s_eplan {\n    size_t off[%d], cap[%d];\n};\n\n", P, ev->plan.len + 1,
            ev->plan.len + 1);
    }
    OUT(e, "struct %s_train {\n    %s_Grads g;\n    kdl_Optimizer opt;\n"
           "    kdl_Param params[%d];\n    int nparams;\n    int64_t iterations;\n"
           "    kdl_Rng rng; /* Dropout masks, RandomCrop windows */\n"
           "    int crop[%d][2];\n    float *arena, *scratch, *state, *slots;\n"
           "    float *rnn_saved[%d];\n"
           "    float *rnn_drop[%d]; /* recurrent input dropout: mask, inputs, their gradient */\n"
           "    float *outputs[%d]; /* test_on_batch */\n"
           "    float *lora; /* gradients of LoRA layers' adapted weights */\n"
           "    float *eval_arena; /* test_on_batch with activity regularizers%s */\n"
           "    const float *sample_weight; /* the training loss's (M_set_sample_weight) */\n",
        P, P, tw.len ? tw.len : 1, t->ncrop ? t->ncrop : 1, nr, nr, nout,
        dyn ? " (and always, with run-time dims)" : "");
    if (dyn)
        OUT(e, "    /* plan_training: the plans, and the floats after the fixed areas */\n"
               "    int planned;\n    struct %s_tplan plan;\n    struct %s_eplan eval_plan;\n"
               "    size_t fixed, arena_floats, scratch_floats, eval_floats, saved[%d], drop[%d];"
               "\n", P, P, nr, nr);
    OUT(e, "};\n\n");
    if (dyn) {
        emit_run_dims(e, t, arena_printf(a, "%s_train", P),
                      arena_printf(a, "%s_train_plan_sizes", P));
        emit_run_dims(e, ev, arena_printf(a, "%s_eval", P),
                      arena_printf(a, "%s_eval_plan_sizes", P));
    }
    emit_train_scratch(e, t, arena_printf(a, "%s_train", P));
    if (dyn)
        emit_train_scratch(e, ev, arena_printf(a, "%s_eval", P));

    // The RNNs' saved states and dropped inputs (floats at max_batch).
    Buf rnn_sizes = {0};
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        if (op->dead || op->slot < 0 || !strcmp(op->layer->class_name, "RandomCrop"))
            continue;
        Emit sub = *e;
        sub.src = (Buf){0};
        OUT(&sub, "    {\n");
        rnn_train_shape(&sub, op, "max_batch");
        OUT(&sub, "        saved[%d] = kdl_rnn_saved_floats(%s, &s); /* %s */\n    }\n",
            op->slot, rnn_kind_enum(op->layer), cmt(e, op->layer->name));
        if (rnn_dropout(op)) {
            const Shape *is = &op->in[0]->shape;
            OUT(&sub, "    drop[%d] = (size_t)max_batch * %lldu * (1u + 2u * (size_t)%s);\n",
                op->slot, (long long)is->d[2], dimx(e, op->in[0], 1));
        } else if (rnn_gate_masks(op)) {
            OUT(&sub, "    drop[%d] = (size_t)max_batch * %lldu; /* the gate masks */\n",
                op->slot, (long long)rnn_mask_floats(op));
        }
        if (rnn_init_floats(op))
            OUT(&sub, "    drop[%d] += %lldu; /* the initial states (stateful) */\n", op->slot,
                (long long)rnn_init_floats(op));
        buf_puts(a, &rnn_sizes, buf_str(a, &sub.src));
    }
    // Where the memory after the struct goes, and the parameter table.
    Buf params = {0};
    for (int i = 0; i < tw.len; i++) {
        Weight *w = tw.data[i];
        Layer *l = tl.data[i];
        int64_t n = numel0(&w->shape);
        const char *f = wfield(e, l, w->name);
        // The last two dimensions (Adafactor factors over them; 0 below rank 2).
        int r = w->shape.rank;
        const char *last2 = r < 2 ? ", 0, 0" : arena_printf(a, ", %lldu, %lldu",
                                                            (long long)w->shape.d[r - 2],
                                                            (long long)w->shape.d[r - 1]);
        buf_printf(a, &params, "    t->params[%d] = (kdl_Param){%s, g->%s, slot, %lldu%s}; /* %s */\n"
                   "    slot += per * %lldu;\n", i, f, f + 3, (long long)n, last2,
                   cmt(e, arena_printf(a, "%s/%s", layer_path(l), w->name)), (long long)n);
    }

    // create_training
    if (!dyn) {
        OUT(e, "%s *%s_create_training(int max_batch) {\n    %s *m = %s_create(max_batch);\n"
               "    if (!m)\n        return NULL;\n", P, P, P, P);
        OUT(e, "%s", cfg.optimizer);
        OUT(e, "    size_t arena = (size_t)%lld * (size_t)max_batch, scratch = "
               "%s_train_scratch_floats(max_batch);\n",
            (long long)t->arena_floats, P);
        OUT(e, "    size_t state = %lld, slots = (size_t)kdl_optimizer_slots(&opt) * %lldu;\n",
            (long long)t->state_floats, (long long)gfloats);
        OUT(e, "    size_t saved[%d] = {0}, drop[%d] = {0}, outs = 0, lora = %lld, total;\n", nr,
            nr, (long long)lora_floats);
        if (t->arena_floats > 0)
            OUT(e, "    if ((size_t)%lld > (SIZE_MAX / 8 - 1024) / (size_t)max_batch) {\n"
                   "        %s_destroy(m);\n        return NULL; /* more memory than there is */\n"
                   "    }\n", (long long)t->arena_floats, P);
        OUT(e, "%s", buf_str(a, &rnn_sizes));
        for (int i = 0; i < nout; i++)
            OUT(e, "    outs += (size_t)max_batch * %lldu;\n", (long long)t->outputs[i]->size);
        OUT(e, "    size_t eval = (size_t)%lld * (size_t)max_batch;\n",
            (long long)(ev ? ev->arena_floats : 0));
        OUT(e, "    total = arena + scratch + state + slots + outs + lora + eval;\n");
        OUT(e, "    for (int i = 0; i < %d; i++)\n        total += saved[i] + drop[i];\n", t->nrnn);
        OUT(e, "    struct %s_train *t = calloc(1, sizeof *t + sizeof(float) * (total + 1));\n", P);
        OUT(e, "    if (!t) {\n        %s_destroy(m);\n        return NULL;\n    }\n", P);
        OUT(e, "    float *f = (float *)(void *)(t + 1);\n");
        OUT(e, "    t->arena = f;\n    f += arena;\n    t->scratch = f;\n    f += scratch;\n"
               "    t->state = f;\n    f += state;\n    t->slots = f;\n    f += slots;\n"
               "    t->lora = f;\n    f += lora;\n    t->eval_arena = f;\n    f += eval;\n");
        OUT(e, "    for (int i = 0; i < %d; i++) {\n        t->rnn_saved[i] = f;\n"
               "        f += saved[i];\n        t->rnn_drop[i] = f;\n        f += drop[i];\n"
               "    }\n", t->nrnn);
        for (int i = 0; i < nout; i++)
            OUT(e, "    t->outputs[%d] = f;\n    f += (size_t)max_batch * %lldu;\n", i,
                (long long)t->outputs[i]->size);
        OUT(e, "    t->opt = opt;\n    %s_Weights *w = m->w;\n    %s_Grads *g = &t->g;\n"
               "    float *slot = t->slots;\n    size_t per = (size_t)kdl_optimizer_slots(&opt);\n"
               "    (void)w;\n    (void)g;\n    (void)slot;\n    (void)per;\n", e->stem, P);
        OUT(e, "%s", buf_str(a, &params));
        OUT(e, "    t->nparams = %d;\n    kdl_optimizer_reset(&t->opt, t->params, t->nparams);\n",
            tw.len);
        OUT(e, "    kdl_rng_seed(&t->rng, 0);\n    m->train = t;\n    return m;\n}\n\n");
    } else {
        // One block: the struct, the fixed areas (batch statistics,
        // optimizer slots, LoRA gradients), then what plan_training sizes;
        // planning again reallocates it (the fixed part moves with it).
        OUT(e, "/* Point the areas of t's block (after a (re)allocation). */\n");
        OUT(e, "static void %s_train_point(struct %s_train *t, %s_Weights *w) {\n"
               "    float *f = (float *)(void *)(t + 1);\n    size_t per = "
               "(size_t)kdl_optimizer_slots(&t->opt);\n    %s_Grads *g = &t->g;\n"
               "    t->state = f;\n    f += %lld;\n    t->slots = f;\n    f += per * %lldu;\n"
               "    t->lora = f;\n    f += %lld;\n    t->arena = f;\n    f += t->arena_floats;\n"
               "    t->scratch = f;\n    f += t->scratch_floats;\n    t->eval_arena = f;\n"
               "    f += t->eval_floats;\n    for (int i = 0; i < %d; i++) {\n"
               "        t->rnn_saved[i] = f;\n        f += t->saved[i];\n"
               "        t->rnn_drop[i] = f;\n        f += t->drop[i];\n    }\n"
               "    float *slot = t->slots;\n    (void)w;\n    (void)g;\n    (void)slot;\n",
            P, P, e->stem, P, (long long)t->state_floats, (long long)gfloats,
            (long long)lora_floats, t->nrnn);
        OUT(e, "%s}\n\n", buf_str(a, &params));
        OUT(e, "%s *%s_create_training(int max_batch) {\n    %s *m = %s_create(max_batch, NULL);"
               "\n    if (!m)\n        return NULL;\n", P, P, P, P);
        OUT(e, "%s", cfg.optimizer);
        OUT(e, "    size_t fixed = %lld + (size_t)kdl_optimizer_slots(&opt) * %lldu + %lld;\n",
            (long long)t->state_floats, (long long)gfloats, (long long)lora_floats);
        OUT(e, "    struct %s_train *t = calloc(1, sizeof *t + sizeof(float) * (fixed + 1));\n", P);
        OUT(e, "    if (!t) {\n        %s_destroy(m);\n        return NULL;\n    }\n", P);
        OUT(e, "    t->opt = opt;\n    t->fixed = fixed;\n    t->plan.max_batch = max_batch;\n"
               "    %s_train_point(t, m->w);\n    t->nparams = %d;\n"
               "    kdl_optimizer_reset(&t->opt, t->params, t->nparams);\n"
               "    kdl_rng_seed(&t->rng, 0);\n    m->train = t;\n    return m;\n}\n\n", P, tw.len);
        // plan_training
        OUT(e, "kdl_Status %s_plan_training(%s *m, const int max_dims[], char *err, size_t "
               "errlen) {\n    struct %s_train *t = m->train;\n", P, P, P);
        OUT(e, "    if (!t || !max_dims) {\n        if (err)\n            snprintf(err, errlen, "
               "\"plan_training needs a model made by create_training and dims\");\n"
               "        return KDL_ERR_SHAPE;\n    }\n");
        OUT(e, "    int64_t d[%d], de[%d];\n    size_t size[%d], off[%d], esize[%d], eoff[%d];\n",
            t->dyn.len, ev->dyn.len, t->plan.len + 1, t->plan.len + 1, ev->plan.len + 1,
            ev->plan.len + 1);
        OUT(e, "    kdl_Status st = %s_train_dims(max_dims, d, err, errlen);\n"
               "    if (st == KDL_OK)\n        st = %s_eval_dims(max_dims, de, err, errlen);\n"
               "    if (st != KDL_OK)\n        return st;\n", P, P);
        OUT(e, "    %s_train_plan_sizes(d, size);\n    %s_eval_plan_sizes(de, esize);\n", P, P);
        OUT(e, "    size_t per = kdl_plan_arena(%d, size, %s_train_def, %s_train_last, off);\n"
               "    size_t eper = kdl_plan_arena(%d, esize, %s_eval_def, %s_eval_last, eoff);\n",
            t->plan.len, P, P, ev->plan.len, P, P);
        OUT(e, "    int max_batch = t->plan.max_batch;\n"
               "    size_t limit = (SIZE_MAX / 8 - 1024) / 4, mb = (size_t)max_batch;\n"
               "    size_t saved[%d] = {0}, drop[%d] = {0}, total = t->fixed;\n", nr, nr);
        OUT(e, "%s", buf_str(a, &rnn_sizes));
        OUT(e, "    size_t scratch = %s_train_scratch_floats(max_batch, d), es = "
               "%s_eval_scratch_floats(max_batch, de);\n"
               "    scratch = es > scratch ? es : scratch;\n"
               "    size_t parts[%d] = {per > limit / mb ? limit : per * mb, eper > limit / mb ? "
               "limit : eper * mb, scratch", P, P, 3 + 2 * nr);
        for (int i = 0; i < nr; i++)
            OUT(e, ", saved[%d], drop[%d]", i, i);
        OUT(e, "};\n    for (int i = 0; i < %d; i++) {\n"
               "        if (parts[i] >= limit - total) {\n            if (err)\n"
               "                snprintf(err, errlen, \"the training memory for these dims "
               "and batches of %%d would be too large\", max_batch);\n"
               "            return KDL_ERR_NOMEM;\n        }\n        total += parts[i];\n    }\n",
            3 + 2 * nr);
        OUT(e, "    struct %s_train *nt = realloc(t, sizeof *t + sizeof(float) * (total + 1));\n"
               "    if (!nt) {\n        if (err)\n            snprintf(err, errlen, \"out of "
               "memory for the training memory (%%zu floats)\", total);\n"
               "        return KDL_ERR_NOMEM;\n    }\n    t = nt;\n    m->train = t;\n", P);
        OUT(e, "    t->arena_floats = parts[0];\n    t->eval_floats = parts[1];\n"
               "    t->scratch_floats = scratch;\n    memcpy(t->saved, saved, sizeof saved);\n"
               "    memcpy(t->drop, drop, sizeof drop);\n"
               "    memcpy(t->plan.off, off, sizeof off);\n"
               "    memcpy(t->plan.cap, size, sizeof size);\n"
               "    memcpy(t->eval_plan.off, eoff, sizeof eoff);\n"
               "    memcpy(t->eval_plan.cap, esize, sizeof esize);\n    t->planned = 1;\n"
               "    %s_train_point(t, m->w);\n    return KDL_OK;\n}\n\n", P);
        // train_sizes
        OUT(e, "kdl_Status %s_train_sizes(const int dims[], int64_t input_sizes[], int64_t "
               "target_sizes[],\n    char *err, size_t errlen) {\n    int64_t d[%d];\n"
               "    kdl_Status st = %s_train_dims(dims, d, err, errlen);\n"
               "    if (st != KDL_OK)\n        return st;\n", P, t->dyn.len, P);
        for (int i = 0; i < t->ninputs; i++)
            OUT(e, "    input_sizes[%d] = (int64_t)%s;\n", i, sizex(e, t->inputs[i]));
        for (int i = 0; i < nout; i++) {
            IrBuf *o = t->outputs[i];
            OUT(e, "    target_sizes[%d] = (int64_t)%s;\n", i,
                cfg.loss[i].sparse ? numelx(e, o, 1, o->shape.rank - 1) : sizex(e, o));
        }
        OUT(e, "    return KDL_OK;\n}\n\n");
        // The checks of a step's dims against the plan.
        OUT(e, "static kdl_Status %s_train_fits(struct %s_train *t, int batch, const int dims[], "
               "int64_t d[]) {\n    size_t size[%d];\n%s"
               "    size_t saved[%d] = {0}, drop[%d] = {0};\n", P, P, t->plan.len + 1,
            t->nrnn ? "    int max_batch = batch; /* the RNN areas' sizes below use it */\n" : "",
            nr, nr);
        OUT(e, "    if (!t || !t->planned || batch < 1 || batch > t->plan.max_batch ||\n"
               "        %s_train_dims(dims, d, NULL, 0) != KDL_OK)\n        return KDL_ERR_SHAPE;\n"
               "    %s_train_plan_sizes(d, size);\n    for (int i = 0; i < %d; i++)\n"
               "        if (size[i] > t->plan.cap[i])\n            return KDL_ERR_SHAPE;\n", P, P,
            t->plan.len);
        OUT(e, "%s", buf_str(a, &rnn_sizes));
        OUT(e, "    for (int i = 0; i < %d; i++)\n        if (saved[i] > t->saved[i] || drop[i] > "
               "t->drop[i])\n            return KDL_ERR_SHAPE;\n"
               "    if (%s_train_scratch_floats(batch, d) > t->scratch_floats)\n"
               "        return KDL_ERR_SHAPE;\n    return KDL_OK;\n}\n\n", t->nrnn, P);
    }

    // compute_gradients: forward, losses, backward
    OUT(e, "kdl_Status %s_compute_gradients(%s *%s, int batch,%s const void *const inputs[],\n"
           "                                const float *const targets[], kdl_StepResult *r) {\n",
        P, P, MP, DP);
    if (!dyn) {
        OUT(e, "    struct %s_train *t = m->train;\n    if (!t || batch < 1 || batch > "
               "m->max_batch)\n        return KDL_ERR_SHAPE;\n", P);
    } else {
        OUT(e, "    struct %s_train *t = model->train;\n    int64_t d[%d];\n"
               "    if (%s_train_fits(t, batch, dims, d) != KDL_OK)\n"
               "        return KDL_ERR_SHAPE;\n"
               "    const struct %s_tplan *m = &t->plan; /* the arena's offsets */\n"
               "    (void)m; /* (unread when no buffer is in the arena) */\n", P,
            t->dyn.len, P, P);
    }
    OUT(e, "    %s_Weights *w = %s->w;\n    %s_Grads *g = &t->g;\n    float *arena = t->arena;\n"
           "    float *scratch = t->scratch;\n    float *state = t->state;\n"
           "    const float *fold = %s->fold;\n", e->stem, MP, P, MP);
    if (t->carry_floats)
        OUT(e, "    float *carry = %s->carry; /* stateful RNNs' states */\n"
               "    if (batch != %lld)\n        return KDL_ERR_SHAPE; /* their batch */\n", MP,
            (long long)t->carry_batch);
    for (int i = 0; i < t->ninputs; i++)
        OUT(e, "    const %s *x%d = (const %s *)inputs[%d]; /* %s %s */\n    (void)x%d;\n",
            dtype_c(t->inputs[i]->dtype), i, dtype_c(t->inputs[i]->dtype), i, t->inputs[i]->what,
            shape_str(a, &t->inputs[i]->shape), i);
    OUT(e, "    (void)w;\n    (void)g;\n    (void)arena;\n    (void)scratch;\n    (void)state;\n"
           "    (void)fold;\n    memset(r, 0, sizeof *r);\n    memset(g, 0, sizeof *g);\n");
    if (lora_floats)
        OUT(e, "    %s_prepare(%s); /* the LoRA layers' adapted weights */\n"
               "    memset(t->lora, 0, sizeof(float) * %lldu);\n", P, MP, (long long)lora_floats);
    OUT(e, "\n    /* ---- forward, training mode ---- */\n");
    for (int i = 0; i < t->ops.len; i++) {
        IrOp *op = t->ops.data[i];
        if (!op->dead)
            emit_train_forward(e, op);
    }
    OUT(e, "\n");
    emit_losses(e, t, &cfg, LOSS_TRAIN, &cfg.actregs);
    OUT(e, "    r->loss = loss;\n    if (!isfinite(loss))\n        return KDL_ERR_NUMERIC; /* no "
           "update: the weights stay the last good ones */\n");
    OUT(e, "\n    /* ---- backward ---- */\n");
    for (int i = t->ops.len - 1; i >= 0; i--) {
        IrOp *op = t->ops.data[i];
        if (op->dead || !op->backward)
            continue;
        // Gradients whose live range starts at this step are zeroed first.
        int step = ir_backward_step(t, i);
        for (int k = 0; k < op->nin; k++) {
            IrBuf *gb = broot(op->in[k])->grad;
            bool dup = false;
            for (int j = 0; j < k; j++)
                dup |= broot(op->in[j]) == broot(op->in[k]);
            if (gb && gb->def == step && !dup)
                OUT(e, "    memset(%s, 0, sizeof(float) * %s);\n", bref(e, gb),
                    count_expr(e, gb));
        }
        emit_train_backward(e, op);
        if (op->lora)
            lora_update(e, op);
    }
    OUT(e, "    return KDL_OK;\n}\n\n");
    // train_on_batch: the gradients, then the optimizer
    OUT(e, "kdl_Status %s_train_on_batch(%s *m, int batch,%s const void *const inputs[],\n"
           "                             const float *const targets[], kdl_StepResult *r) {\n"
           "    kdl_Status st = %s_compute_gradients(m, batch,%s inputs, targets, r);\n"
           "    if (st != KDL_OK)\n        return st;\n"
           "    kdl_optimizer_step(&m->train->opt, m->train->params, m->train->nparams, "
           "++m->train->iterations);\n", P, P, DP, P, DA);
    // Keras's optimizer applies each trained variable's constraint after the update.
    bool any_con = false;
    for (int k = 0; k < cfg.weights.len; k++)
        any_con |= ((WeightCfg *)cfg.weights.data[k])->con;
    if (any_con)
        OUT(e, "    %s_Weights *w = m->w;\n", e->stem);
    for (int k = 0; k < cfg.weights.len; k++) {
        WeightCfg *wc = cfg.weights.data[k];
        if (!wc->con)
            continue;
        const Shape *ws = &wc->w->shape;
        OUT(e, "    {\n        static const kdl_Constraint C = {%s, %s, %s, %s, %d, {",
            wc->con_kind, fstr(a, wc->min_value), fstr(a, wc->max_value), fstr(a, wc->rate),
            ws->rank);
        for (int d = 0; d < ws->rank; d++)
            OUT(e, "%s%lld", d ? ", " : "", (long long)ws->d[d]);
        OUT(e, "%s}, 0x%xu};\n        kdl_constraint_apply(&C, %s); /* %s constraint */\n    }\n",
            ws->rank ? "" : "0", wc->axes, wfield(e, wc->layer, wc->w->name),
            cmt(e, arena_printf(a, "%s/%s", layer_path(wc->layer), wc->w->name)));
    }
    OUT(e, "%s    return KDL_OK;\n}\n\n",
        m->fold_floats ? arena_printf(a, "    %s_prepare(m); /* derived weights follow the update "
                                         "*/\n", P) : "");
    OUT(e, "int %s_parameters(%s *m, kdl_Param **params) {\n"
           "    *params = m->train ? m->train->params : NULL;\n"
           "    return m->train ? m->train->nparams : 0;\n}\n\n", P, P);
    OUT(e, "void %s_seed(%s *m, uint64_t seed) {\n    if (m->train)\n"
           "        kdl_rng_seed(&m->train->rng, seed);\n}\n\n", P, P);

    // Checkpoints: the weights and the optimizer's state (kdl_checkpoint_save).
    OUT(e, "static const char *const %s_param_names[%d] = {", P, tw.len ? tw.len : 1);
    for (int i = 0; i < tw.len; i++)
        OUT(e, "%s%s", i ? ", " : "",
            c_string(a, arena_printf(a, "%s/%s", layer_path(tl.data[i]),
                                     ((Weight *)tw.data[i])->name)));
    OUT(e, "%s};\n\n", tw.len ? "" : "NULL");
    OUT(e, "kdl_Status %s_save_checkpoint(const %s *m, const char *path, int epoch, char *err,\n"
           "                              size_t errlen) {\n"
           "    kdl_WeightSpec specs[%s_NUM_WEIGHTS + 1];\n    int n = %s_specs(m, specs);\n"
           "    if (!m->train)\n        return kdl_safetensors_save(path, specs, n, NULL, err, "
           "errlen);\n"
           "    return kdl_checkpoint_save(path, specs, n, &m->train->opt, m->train->params,\n"
           "                               %s_param_names, m->train->nparams, "
           "m->train->iterations, epoch,\n                               err, errlen);\n}\n\n",
        P, P, UP, P, P);
    OUT(e, "kdl_Status %s_load_checkpoint(%s *m, const char *path, int *epoch, char *err,\n"
           "                              size_t errlen) {\n"
           "    kdl_WeightSpec specs[%s_NUM_WEIGHTS + 1];\n    int n = %s_specs(m, specs);\n"
           "    if (!m->train)\n        return KDL_ERR_SHAPE;\n"
           "    kdl_Status st = kdl_checkpoint_load(path, specs, n, &m->train->opt, "
           "m->train->params,\n                                        %s_param_names, "
           "m->train->nparams,\n                                        &m->train->iterations, "
           "epoch, err, errlen);\n"
           "    %s_prepare(m);\n    return st;\n}\n\n",
        P, P, UP, P, P, P);

    // test_on_batch
    OUT(e, "kdl_Status %s_test_on_batch(%s *%s, int batch,%s const void *const inputs[],\n"
           "                            const float *const targets[], kdl_StepResult *r) {\n",
        P, P, MP, DP);
    OUT(e, "    struct %s_train *t = %s->train;\n    if (!t)\n        return KDL_ERR_SHAPE;\n"
           "    %s_Weights *w = %s->w;\n    float *scratch = t->scratch;\n    (void)scratch;\n"
           "    (void)w;\n    memset(r, 0, sizeof *r);\n", P, MP, e->stem, MP);
    if (!ev) {
        OUT(e, "    kdl_Status ps = %s_predict(m, batch, inputs, t->outputs);\n"
               "    if (ps != KDL_OK)\n        return ps;\n", P);
        emit_losses(e, t, &cfg, LOSS_TEST, &cfg.actregs);
    } else {
        // The unfused inference lowering `ev`, in its own area: with activity
        // regularizers every regularized output lives to the end; with
        // run-time dimensions it is planned by plan_training. (Static:
        // M_predict's scratch and derived weights serve it.)
        if (!dyn) {
            OUT(e, "    if (batch < 1 || batch > m->max_batch)\n        return KDL_ERR_SHAPE;\n"
                   "    float *arena = t->eval_arena;\n    const float *fold = m->fold;\n"
                   "    scratch = m->scratch;\n    (void)arena;\n    (void)fold;\n");
        } else {
            OUT(e, "    int64_t d[%d];\n    size_t size[%d];\n"
                   "    if (!t->planned || batch < 1 || batch > t->plan.max_batch ||\n"
                   "        %s_eval_dims(dims, d, NULL, 0) != KDL_OK)\n"
                   "        return KDL_ERR_SHAPE;\n    %s_eval_plan_sizes(d, size);\n"
                   "    for (int i = 0; i < %d; i++)\n        if (size[i] > t->eval_plan.cap[i])\n"
                   "            return KDL_ERR_SHAPE;\n"
                   "    if (%s_eval_scratch_floats(batch, d) > t->scratch_floats)\n"
                   "        return KDL_ERR_SHAPE;\n"
                   "    const struct %s_eplan *m = &t->eval_plan; /* the area's offsets */\n"
                   "    float *arena = t->eval_arena;\n    const float *fold = model->fold;\n"
                   "    (void)arena;\n    (void)fold;\n", ev->dyn.len, ev->plan.len + 1, P, P,
                ev->plan.len, P, P);
        }
        if (ev->carry_floats)
            OUT(e, "    float *carry = %s->carry; /* stateful RNNs' states */\n"
                   "    if (batch != %lld)\n        return KDL_ERR_SHAPE; /* their batch */\n", MP,
                (long long)ev->carry_batch);
        for (int i = 0; i < ev->ninputs; i++)
            OUT(e, "    const %s *x%d = (const %s *)inputs[%d];\n    (void)x%d;\n",
                dtype_c(ev->inputs[i]->dtype), i, dtype_c(ev->inputs[i]->dtype), i, i);
        OUT(e, "\n    /* ---- forward, inference mode (the model's inference graph) ---- */\n");
        for (int i = 0; i < ev->ops.len; i++) {
            IrOp *op = ev->ops.data[i];
            if (!op->dead)
                emit_op(e, op);
        }
        OUT(e, "\n");
        emit_losses(e, ev, &cfg, LOSS_TEST_ARENA, &evregs);
    }
    OUT(e, "    r->loss = loss;\n    return KDL_OK;\n}\n\n");

    if (cfg.weighted)
        OUT(e, "void %s_set_sample_weight(%s *m, const float *w) {\n    if (m->train)\n"
               "        m->train->sample_weight = w;\n}\n\n"
               "static void %s_set_sample_weight_(void *m, const float *w) {\n"
               "    %s_set_sample_weight(m, w);\n}\n\n", P, P, P, P);
    // The kdl_TrainModel table, fit and evaluate.
    OUT(e, "static kdl_Status %s_train_step_(void *m, int b,%s const void *const in[], "
           "const float *const y[], kdl_StepResult *r) {\n    return %s_train_on_batch(m, b,%s "
           "in, y, r);\n}\n\n", P, DP, P, DA);
    OUT(e, "static kdl_Status %s_test_step_(void *m, int b,%s const void *const in[], "
           "const float *const y[], kdl_StepResult *r) {\n    return %s_test_on_batch(m, b,%s "
           "in, y, r);\n}\n\n", P, DP, P, DA);
    OUT(e, "static kdl_Status %s_save_(const void *m, const char *path, int epoch, char *err, "
           "size_t n) {\n    return %s_save_checkpoint(m, path, epoch, err, n);\n}\n\n", P, P);
    OUT(e, "static void %s_seed_(void *m, uint64_t seed) {\n    %s_seed(m, seed);\n}\n\n", P,
        P);
    if (dyn)
        OUT(e, "static kdl_Status %s_plan_(void *m, const int max_dims[], char *err, size_t n) {\n"
               "    return %s_plan_training(m, max_dims, err, n);\n}\n\n", P, P);
    OUT(e, "void %s_train_model(%s *m, kdl_TrainModel *out) {\n", P, P);
    OUT(e, "    static const int64_t in_sizes[] = {");
    for (int i = 0; i < t->ninputs; i++)
        OUT(e, "%s%lld", i ? ", " : "", (long long)t->inputs[i]->size);
    OUT(e, "};\n    static const kdl_DType in_dtypes[] = {");
    for (int i = 0; i < t->ninputs; i++)
        OUT(e, "%s%s", i ? ", " : "", t->inputs[i]->dtype == DT_INT32 ? "KDL_I32" : "KDL_F32");
    OUT(e, "};\n    static const int64_t target_sizes[] = {");
    for (int i = 0; i < nout; i++) {
        int64_t ts = target_size(t->outputs[i], cfg.loss[i].sparse);
        OUT(e, "%s%s", i ? ", " : "", ts >= 0 ? arena_printf(a, "%s_TARGET%d_SIZE", UP, i) : "-1");
    }
    OUT(e, "};\n    static const char *const metric_names[] = {");
    for (int i = 0; i < cfg.metrics.len; i++)
        OUT(e, "%s%s", i ? ", " : "", c_string(a, ((MetricCfg *)cfg.metrics.data[i])->name));
    if (!cfg.metrics.len)
        OUT(e, "NULL");
    OUT(e, "};\n    static const unsigned char metric_reduce[] = {");
    for (int i = 0; i < cfg.metrics.len; i++) {
        int r = ((MetricCfg *)cfg.metrics.data[i])->reduce;
        OUT(e, "%s%s", i ? ", " : "",
            r == KDL_METRIC_ROOT_MEAN       ? "KDL_METRIC_ROOT_MEAN"
            : r == KDL_METRIC_STEP_MEAN     ? "KDL_METRIC_STEP_MEAN"
            : r == KDL_METRIC_WEIGHTED_MEAN ? "KDL_METRIC_WEIGHTED_MEAN"
                                            : "KDL_METRIC_MEAN");
    }
    if (!cfg.metrics.len)
        OUT(e, "0");
    OUT(e, "};\n");
    if (dyn) {
        OUT(e, "    static const int in_ranks[] = {");
        for (int i = 0; i < t->ninputs; i++)
            OUT(e, "%s%d", i ? ", " : "", t->inputs[i]->shape.rank);
        OUT(e, "};\n    static const int64_t in_shapes[][8] = {");
        for (int i = 0; i < t->ninputs; i++) {
            OUT(e, "%s{-1", i ? ", " : "");
            for (int k = 1; k < t->inputs[i]->shape.rank; k++)
                OUT(e, ", %lld", t->inputs[i]->dx[k] >= 0 ? -1LL
                                                          : (long long)t->inputs[i]->shape.d[k]);
            OUT(e, "}");
        }
        OUT(e, "};\n");
    }
    OUT(e, "    memset(out, 0, sizeof *out);\n    out->model = m;\n"
           "    out->max_batch = m->max_batch;\n    out->ninputs = %d;\n    out->ntargets = %d;\n"
           "    out->input_sizes = in_sizes;\n    out->input_dtypes = in_dtypes;\n"
           "    out->target_sizes = target_sizes;\n    out->nmetrics = %d;\n"
           "    out->metric_names = metric_names;\n    out->metric_reduce = metric_reduce;\n"
           "    out->train_step%s = %s_train_step_;\n"
           "    out->test_step%s = %s_test_step_;\n    out->save = %s_save_;\n"
           "    out->seed = %s_seed_;\n    out->iterations = m->train ? &m->train->iterations : "
           "NULL;\n",
        t->ninputs, nout, cfg.metrics.len, dyn ? "_dims" : "", P, dyn ? "_dims" : "", P, P, P);
    if (cfg.weighted)
        OUT(e, "    out->set_sample_weight = %s_set_sample_weight_;\n", P);
    if (t->carry_floats)
        OUT(e, "    out->stateful_batch = %lld;\n", (long long)t->carry_batch);
    if (dyn)
        OUT(e, "    out->ndims = %d;\n    out->input_ranks = in_ranks;\n"
               "    out->input_shapes = in_shapes;\n    out->sizes = %s_train_sizes;\n"
               "    out->plan = %s_plan_;\n", t->ndims, P, P);
    OUT(e, "}\n\n");
    // fit defaults from the .kdl fit() call
    FitCfg *fc = t->model->model->fit;
    int epochs = 1, bs = 32, shuffle = 1, initial = 0;
    double split = 0;
    if (fc) {
        Value **fa = fc->args;
        if (fa[2]->kind == V_INT)
            bs = (int)fa[2]->u.i;
        if (fa[3]->kind == V_INT)
            epochs = (int)fa[3]->u.i;
        if (is_number(fa[6]))
            split = num_val(fa[6]);
        if (fa[8]->kind == V_BOOL)
            shuffle = fa[8]->u.b;
        if (fa[11]->kind == V_INT)
            initial = (int)fa[11]->u.i;
    }
    OUT(e, "void %s_fit_defaults(kdl_FitOptions *o) {\n", P);
    if (cfg.nclass) {
        OUT(e, "    /* fit(class_weight=...) */\n    static const int class_ids[] = {");
        for (int k = 0; k < cfg.nclass; k++)
            OUT(e, "%s%lld", k ? ", " : "", (long long)cfg.class_ids[k]);
        OUT(e, "};\n    static const float class_weights[] = {");
        for (int k = 0; k < cfg.nclass; k++)
            OUT(e, "%s%s", k ? ", " : "", fstr(a, cfg.class_w[k]));
        OUT(e, "};\n");
    }
    OUT(e, "    memset(o, 0, sizeof *o);\n"
           "    o->epochs = %d;\n    o->initial_epoch = %d;\n    o->batch_size = %d;\n"
           "    o->validation_split = %s;\n    o->shuffle = %d;\n    o->verbose = 1;\n",
        epochs, initial, bs, fstr(a, split), shuffle);
    if (cfg.nclass)
        OUT(e, "    o->class_ids = class_ids;\n    o->class_weights = class_weights;\n"
               "    o->nclass_weights = %d;\n", cfg.nclass);
    OUT(e, "}\n\n");
    OUT(e, "kdl_Status %s_fit(%s *m, const kdl_Array *x, const kdl_Array *y, const "
           "kdl_FitOptions *o,\n                  kdl_Logs *last, char *err, size_t errlen) {\n"
           "    kdl_TrainModel tm;\n    %s_train_model(m, &tm);\n"
           "    return kdl_fit(&tm, x, y, o, last, err, errlen);\n}\n\n", P, P, P);
    OUT(e, "kdl_Status %s_evaluate(%s *m, const kdl_Array *x, const kdl_Array *y, int batch_size,"
           "\n                       int verbose, kdl_Logs *out, char *err, size_t errlen) {\n"
           "    kdl_TrainModel tm;\n    %s_train_model(m, &tm);\n"
           "    return kdl_evaluate(&tm, x, y, batch_size, verbose, out, err, errlen);\n}\n",
        P, P, P);
    e->dyn = false;
}

void emit_train_stats(Emit *e, IrModel *t) {
    Arena *a = e->c->arena;
    Vec tl = {0}, tw = {0};
    trainable_weights(t, &tl, &tw, a);
    int64_t g = 0;
    for (int i = 0; i < tw.len; i++)
        g += numel0(&((Weight *)tw.data[i])->shape);
    if (t->dyn.len) {
        // The arena depends on the dims: M_plan_training sizes it.
        printf("model %s training: gradients %lld floats (%lld bytes), optimizer state %lld "
               "floats (%lld bytes), training arena planned at run time for the dims "
               "(M_plan_training), batch statistics %lld floats\n",
               t->cname, (long long)g, (long long)g * 4, (long long)g * t->opt_slots,
               (long long)g * t->opt_slots * 4, (long long)t->state_floats);
        return;
    }
    printf("model %s training: gradients %lld floats (%lld bytes), optimizer state %lld floats "
           "(%lld bytes), training arena %lld floats (%lld bytes) per sample (activations kept "
           "for backward, gradients, masks), batch statistics %lld floats\n",
           t->cname, (long long)g, (long long)g * 4, (long long)g * t->opt_slots,
           (long long)g * t->opt_slots * 4, (long long)t->arena_floats,
           (long long)t->arena_floats * 4, (long long)t->state_floats);
}
