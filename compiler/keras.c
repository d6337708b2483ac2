/*
 * keras.c - the `keras` module a .kdl program imports: keras.Input,
 * keras.Model, keras.Sequential, keras.layers (from the layer table in
 * layers.c), optimizers, losses, metrics, activations, initializers,
 * regularizers and constraints; and what can be done with the values they
 * make: calling layers on tensors (layer_call), tensor arithmetic, the
 * attributes and methods of layers and models (summary, get_layer, compile,
 * fit, build, add, ...).
 *
 * Requires: layers.c (table), model.c (graphs), summary.c (tables).
 */
#include "kdlc.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#define ARGS Ctx *c, Value *self, Value **a, Span *sp, Span call

static Value *mkval(Ctx *c, ValueKind k) {
    Value *v = arena_alloc(c->arena, sizeof *v);
    v->kind = k;
    return v;
}

// ---- config classes (optimizers, losses, metrics, initializers, ...) ------------

#define BASE_OPT "weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, " \
                 "use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, "        \
                 "loss_scale_factor=None, gradient_accumulation_steps=None, name=None"
#define LOSS_BASE(name) "reduction='sum_over_batch_size', name='" name "', dtype=None"

static ObjectClass object_classes[] = {
    // keras.optimizers (defaults per keras/src/optimizers)
    {"optimizers", "SGD", "learning_rate=0.01, momentum=0.0, nesterov=False, " BASE_OPT},
    {"optimizers", "Adam",
     "learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, "
     "amsgrad=False, " BASE_OPT},
    {"optimizers", "AdamW",
     "learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, "
     "epsilon=1e-07, amsgrad=False, clipnorm=None, clipvalue=None, "
     "global_clipnorm=None, use_ema=False, ema_momentum=0.99, "
     "ema_overwrite_frequency=None, loss_scale_factor=None, "
     "gradient_accumulation_steps=None, name=None"},
    {"optimizers", "RMSprop",
     "learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, "
     "centered=False, " BASE_OPT},
    {"optimizers", "Adagrad",
     "learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-07, " BASE_OPT},
    {"optimizers", "Adadelta", "learning_rate=0.001, rho=0.95, epsilon=1e-07, " BASE_OPT},
    {"optimizers", "Adamax",
     "learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, " BASE_OPT},
    {"optimizers", "Nadam",
     "learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, " BASE_OPT},
    {"optimizers", "Ftrl",
     "learning_rate=0.001, learning_rate_power=-0.5, "
     "initial_accumulator_value=0.1, l1_regularization_strength=0.0, "
     "l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0, "
     "beta=0.0, " BASE_OPT},
    {"optimizers", "Lion", "learning_rate=0.001, beta_1=0.9, beta_2=0.99, " BASE_OPT},
    {"optimizers", "Lamb",
     "learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, " BASE_OPT},
    {"optimizers", "Adafactor",
     "learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=0.001, "
     "clip_threshold=1.0, relative_step=True, " BASE_OPT},
    // keras.optimizers.schedules
    // (keras/src/optimizers/schedules/learning_rate_schedule.py)
    {"optimizers.schedules", "ExponentialDecay",
     "initial_learning_rate, decay_steps, decay_rate, staircase=False, name='ExponentialDecay'"},
    {"optimizers.schedules", "PiecewiseConstantDecay",
     "boundaries, values, name='PiecewiseConstant'"},
    {"optimizers.schedules", "PolynomialDecay",
     "initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False, "
     "name='PolynomialDecay'"},
    {"optimizers.schedules", "InverseTimeDecay",
     "initial_learning_rate, decay_steps, decay_rate, staircase=False, name='InverseTimeDecay'"},
    {"optimizers.schedules", "CosineDecay",
     "initial_learning_rate, decay_steps, alpha=0.0, name='CosineDecay', warmup_target=None, "
     "warmup_steps=0"},
    {"optimizers.schedules", "CosineDecayRestarts",
     "initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, "
     "name='SGDRDecay'"},
    // keras.losses (keras/src/losses/losses.py: each class's arguments and
    // its default name; IoU and the newest classes are not in kdl)
    {"losses", "CategoricalCrossentropy",
     "from_logits=False, label_smoothing=0.0, axis=-1, " LOSS_BASE("categorical_crossentropy")},
    {"losses", "SparseCategoricalCrossentropy",
     "from_logits=False, ignore_class=None, " LOSS_BASE("sparse_categorical_crossentropy")},
    {"losses", "BinaryCrossentropy",
     "from_logits=False, label_smoothing=0.0, axis=-1, " LOSS_BASE("binary_crossentropy")},
    {"losses", "MeanSquaredError", LOSS_BASE("mean_squared_error")},
    {"losses", "MeanAbsoluteError", LOSS_BASE("mean_absolute_error")},
    {"losses", "MeanAbsolutePercentageError", LOSS_BASE("mean_absolute_percentage_error")},
    {"losses", "MeanSquaredLogarithmicError", LOSS_BASE("mean_squared_logarithmic_error")},
    {"losses", "CosineSimilarity", "axis=-1, " LOSS_BASE("cosine_similarity")},
    {"losses", "Huber", "delta=1.0, " LOSS_BASE("huber_loss")},
    {"losses", "LogCosh", LOSS_BASE("log_cosh")},
    {"losses", "Hinge", LOSS_BASE("hinge")},
    {"losses", "SquaredHinge", LOSS_BASE("squared_hinge")},
    {"losses", "CategoricalHinge", LOSS_BASE("categorical_hinge")},
    {"losses", "KLDivergence", LOSS_BASE("kl_divergence")},
    {"losses", "Poisson", LOSS_BASE("poisson")},
    {"losses", "BinaryFocalCrossentropy",
     "apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, "
     "label_smoothing=0.0, axis=-1, " LOSS_BASE("binary_focal_crossentropy")},
    {"losses", "CategoricalFocalCrossentropy",
     "alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1, "
     LOSS_BASE("categorical_focal_crossentropy")},
    {"losses", "CTC", LOSS_BASE("ctc")},
    {"losses", "Dice", "reduction='sum_over_batch_size', name='dice', axis=None, dtype=None"},
    {"losses", "Tversky",
     "alpha=0.5, beta=0.5, reduction='sum_over_batch_size', name='tversky', axis=None, "
     "dtype=None"},
    {"losses", "Circle", "gamma=80.0, margin=0.4, remove_diagonal=True, " LOSS_BASE("circle")},
    // keras.metrics (keras/src/metrics)
    {"metrics", "Accuracy", "name='accuracy', dtype=None"},
    {"metrics", "BinaryAccuracy", "name='binary_accuracy', dtype=None, threshold=0.5"},
    {"metrics", "CategoricalAccuracy", "name='categorical_accuracy', dtype=None"},
    {"metrics", "SparseCategoricalAccuracy", "name='sparse_categorical_accuracy', dtype=None"},
    {"metrics", "MeanSquaredError", "name='mean_squared_error', dtype=None"},
    {"metrics", "MeanAbsoluteError", "name='mean_absolute_error', dtype=None"},
    {"metrics", "MeanAbsolutePercentageError", "name='mean_absolute_percentage_error', dtype=None"},
    {"metrics", "MeanSquaredLogarithmicError",
     "name='mean_squared_logarithmic_error', dtype=None"},
    {"metrics", "RootMeanSquaredError", "name='root_mean_squared_error', dtype=None"},
    {"metrics", "CosineSimilarity", "name='cosine_similarity', dtype=None, axis=-1"},
    {"metrics", "LogCoshError", "name='logcosh', dtype=None"},
    {"metrics", "Hinge", "name='hinge', dtype=None"},
    {"metrics", "SquaredHinge", "name='squared_hinge', dtype=None"},
    {"metrics", "CategoricalHinge", "name='categorical_hinge', dtype=None"},
    {"metrics", "KLDivergence", "name='kl_divergence', dtype=None"},
    {"metrics", "Poisson", "name='poisson', dtype=None"},
    {"metrics", "BinaryCrossentropy",
     "name='binary_crossentropy', dtype=None, from_logits=False, label_smoothing=0"},
    {"metrics", "CategoricalCrossentropy",
     "name='categorical_crossentropy', dtype=None, from_logits=False, label_smoothing=0, "
     "axis=-1"},
    {"metrics", "SparseCategoricalCrossentropy",
     "name='sparse_categorical_crossentropy', dtype=None, from_logits=False, axis=-1"},
    {"metrics", "Mean", "name='mean', dtype=None"},
    {"metrics", "Sum", "name='sum', dtype=None"},
    {"metrics", "R2Score",
     "class_aggregation='uniform_average', num_regressors=0, name='r2_score', dtype=None"},
    {"metrics", "TopKCategoricalAccuracy", "k=5, name='top_k_categorical_accuracy', dtype=None"},
    {"metrics", "SparseTopKCategoricalAccuracy",
     "k=5, name='sparse_top_k_categorical_accuracy', "
     "dtype=None, from_sorted_ids=False"},
    {"metrics", "AUC",
     "num_thresholds=200, curve='ROC', summation_method='interpolation', "
     "name=None, dtype=None, thresholds=None, multi_label=False, "
     "num_labels=None, label_weights=None, from_logits=False"},
    {"metrics", "Precision", "thresholds=None, top_k=None, class_id=None, name=None, dtype=None"},
    {"metrics", "Recall", "thresholds=None, top_k=None, class_id=None, name=None, dtype=None"},
    // keras.random
    {"random", "SeedGenerator", "seed=None, name=None"},
    // keras.initializers
    {"initializers", "GlorotUniform", "seed=None"},
    {"initializers", "GlorotNormal", "seed=None"},
    {"initializers", "HeUniform", "seed=None"},
    {"initializers", "HeNormal", "seed=None"},
    {"initializers", "LecunUniform", "seed=None"},
    {"initializers", "LecunNormal", "seed=None"},
    {"initializers", "Zeros", ""},
    {"initializers", "Ones", ""},
    {"initializers", "Constant", "value=0.0"},
    {"initializers", "RandomUniform", "minval=-0.05, maxval=0.05, seed=None"},
    {"initializers", "RandomNormal", "mean=0.0, stddev=0.05, seed=None"},
    {"initializers", "TruncatedNormal", "mean=0.0, stddev=0.05, seed=None"},
    {"initializers", "Orthogonal", "gain=1.0, seed=None"},
    {"initializers", "VarianceScaling",
     "scale=1.0, mode='fan_in', distribution='truncated_normal', "
     "seed=None"},
    // keras.regularizers
    {"regularizers", "L1", "l1=0.01"},
    {"regularizers", "L2", "l2=0.01"},
    {"regularizers", "L1L2", "l1=0.0, l2=0.0"},
    // keras.constraints
    {"constraints", "MaxNorm", "max_value=2, axis=0"},
    {"constraints", "MinMaxNorm", "min_value=0.0, max_value=1.0, rate=1.0, axis=0"},
    {"constraints", "NonNeg", ""},
    {"constraints", "UnitNorm", "axis=0"},
    {NULL, NULL, NULL},
};

// Lower-case function-style names each module also exports (strings a
// Keras user may pass, and attributes like keras.losses.mse).
static const char *const loss_funcs[] = {
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "mse", "mae", "MSE", "MAE", "bce", "BCE",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "cosine_similarity",
    "log_cosh", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "ctc", "dice", "tversky",
    "circle", "iou", "kld", "KLD", "mape", "MAPE", "msle", "MSLE", NULL,
};
// The strings keras.losses.get accepts (keras/src/losses/__init__.py
// ALL_OBJECTS_DICT: class names, function names, aliases); compile() also
// takes "crossentropy" and "ce" in any letter case (compile_utils.get_loss).
static const char *const loss_names[] = {
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "mse", "mae", "MSE", "MAE", "bce", "BCE",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "cosine_similarity",
    "log_cosh", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "ctc", "dice", "tversky",
    "circle", "iou", "kld", "KLD", "mape", "MAPE", "msle", "MSLE",
    "KLDivergence", "Poisson", "BinaryCrossentropy", "BinaryFocalCrossentropy",
    "CategoricalCrossentropy", "CategoricalFocalCrossentropy", "SparseCategoricalCrossentropy",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "CosineSimilarity", "LogCosh", "Huber", "Hinge",
    "SquaredHinge", "CategoricalHinge", "Dice", "IoU", "Tversky", "Circle", "CTC", NULL,
};
// keras.metrics.get's strings (keras/src/metrics/__init__.py: class names,
// their snake_case, aliases); compile() also takes "accuracy" and "acc" in
// any letter case (compile_utils.get_metric).
static const char *const metric_names[] = {
    "accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mse", "mae", "MSE", "MAE",
    "mape", "MAPE", "msle", "MSLE", "bce", "BCE", "mean_squared_error", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "root_mean_squared_error",
    "cosine_similarity", "log_cosh_error", "r2_score", "hinge", "squared_hinge",
    "categorical_hinge", "kl_divergence", "poisson", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_crossentropy", "mean", "sum", "auc", "precision",
    "recall", "false_negatives", "false_positives", "true_negatives", "true_positives",
    "precision_at_recall", "recall_at_precision", "sensitivity_at_specificity",
    "specificity_at_sensitivity", "f1_score", "f_beta_score", "io_u", "binary_io_u", "mean_io_u",
    "one_hot_io_u", "one_hot_mean_io_u", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "MeanSquaredError", "RootMeanSquaredError", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "CosineSimilarity",
    "LogCoshError", "R2Score", "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence",
    "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "Mean", "Sum", "AUC", "Precision", "Recall", "FalseNegatives", "FalsePositives",
    "TrueNegatives", "TruePositives", "PrecisionAtRecall", "RecallAtPrecision",
    "SensitivityAtSpecificity", "SpecificityAtSensitivity", "F1Score", "FBetaScore", "IoU",
    "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", NULL,
};
// keras.regularizers.get / keras.constraints.get strings: class names and
// their snake_case (so "l1l2", not "l1_l2": keras.regularizers.l1_l2 is the
// class, the string is not accepted by Keras 3).
static const char *const regularizer_names[] = {
    "L1", "l1", "L2", "l2", "L1L2", "l1l2", "Regularizer", "regularizer", "OrthogonalRegularizer",
    "orthogonal_regularizer", NULL,
};
static const char *const constraint_names[] = {
    "MaxNorm", "max_norm", "MinMaxNorm", "min_max_norm", "NonNeg", "non_neg", "UnitNorm",
    "unit_norm", "Constraint", "constraint", NULL,
};
static const char *const optimizer_names[] = {
    "sgd",    "adam",  "adamw", "rmsprop", "adagrad", "adadelta",
    "adamax", "nadam", "ftrl",  "lion",    "adafactor", NULL,
};
static const char *const initializer_names[] = {
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "zeros", "ones", "constant", "uniform", "normal", "random_uniform", "random_normal",
    "truncated_normal", "orthogonal", "variance_scaling", "identity", NULL,
};

static bool same_icase(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

static bool in_names(const char *const *names, const char *s, bool icase) {
    for (int i = 0; names[i]; i++)
        if (icase ? same_icase(names[i], s) : !strcmp(names[i], s))
            return true;
    return false;
}

// Levenshtein distance (short names), for "did you mean" hints.
static int name_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) !=
                                          tolower((unsigned char)b[j - 1]));
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

// Keras's "Could not interpret <what> identifier: <s>", with the closest
// name Keras accepts when one is close.
static void report_unknown_name(Ctx *c, Span at, const char *what, const char *s,
                                const char *const *names) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; names[i]; i++) {
        int d = name_distance(s, names[i]);
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    if (best)
        error_at(c, at, "Could not interpret %s identifier: %s (did you mean '%s'?)", what, s,
                 best);
    else
        error_at(c, at, "Could not interpret %s identifier: %s", what, s);
}

static const char *names_list(Ctx *c, const char *const *names) {
    Buf b = {0};
    for (int i = 0; names[i]; i++)
        buf_printf(c->arena, &b, "%s'%s'", i ? ", " : "", names[i]);
    return buf_str(c->arena, &b);
}

bool is_schedule(const Value *v) {
    return v->kind == V_OBJECT && !strcmp(v->u.object->module, "optimizers.schedules");
}

// Argument `name` of a config object and where it was given.
static Value *object_arg(Object *o, const char *name, Span *at) {
    for (int i = 0; i < o->sig->nparams; i++)
        if (!strcmp(o->sig->params[i].name, name)) {
            *at = o->spans[i];
            return o->args[i];
        }
    die("%s has no argument %s", o->cls, name);
}

// The checks of the schedules' constructors (learning_rate_schedule.py):
// decay_steps > 0, as many values as boundaries plus one; the arguments
// without defaults (no number check from a default) must be numbers.
static bool schedule_check(Ctx *c, Object *o, const char *what) {
    static const char *const numbers[] = {"initial_learning_rate", "decay_steps",
                                          "first_decay_steps", "decay_rate", "warmup_target"};
    Span at;
    for (int k = 0; k < 5; k++) {
        if (!sig_has(o->sig, numbers[k]))
            continue;
        Value *v = object_arg(o, numbers[k], &at);
        if (!is_number(v) && !(v->kind == V_NONE && !strcmp(numbers[k], "warmup_target"))) {
            error_at(c, at, "%s: `%s` must be a number, got %s", what, numbers[k],
                     value_repr(c, v));
            return false;
        }
        if ((k == 1 || k == 2) && !(num_val(v) > 0)) {
            error_at(c, at, "%s: Argument `%s` must be > 0. Received: %s=%s", what, numbers[k],
                     numbers[k], value_str(c, v));
            return false;
        }
    }
    if (strcmp(o->cls, "PiecewiseConstantDecay") != 0)
        return true;
    Span bat, vat;
    Value *b = object_arg(o, "boundaries", &bat), *v = object_arg(o, "values", &vat);
    Value *lists[2] = {b, v};
    Span spans[2] = {bat, vat};
    for (int k = 0; k < 2; k++) {
        bool ok = lists[k]->kind == V_LIST || lists[k]->kind == V_TUPLE;
        for (int i = 0; ok && i < list_len(lists[k]); i++)
            ok = is_number(list_get(lists[k], i));
        if (!ok) {
            error_at(c, spans[k], "%s: `%s` must be a list of numbers, got %s", what,
                     k ? "values" : "boundaries", value_repr(c, lists[k]));
            return false;
        }
    }
    if (list_len(b) != list_len(v) - 1) {
        error_at(c, vat, "%s: The length of boundaries should be 1 less than the length of "
                 "values. Received: boundaries=%s of length %d, and values=%s of length %d.",
                 what, value_str(c, b), list_len(b), value_str(c, v), list_len(v));
        return false;
    }
    if (list_len(b) == 0) {
        error_at(c, bat, "%s: `boundaries` is empty (Keras fails at the first step, which it "
                 "compares with boundaries[0])", what);
        return false;
    }
    return true;
}

// The optimizers' constructor checks kdl can make at compile time: Ftrl's
// (ftrl.py) and Lion's (lion.py) ValueErrors.
static bool optimizer_check(Ctx *c, Object *o, const char *what) {
    Span at;
    if (!strcmp(o->cls, "Lion")) {
        Value *v = object_arg(o, "beta_1", &at);
        if (is_number(v) && (num_val(v) <= 0 || num_val(v) > 1)) {
            error_at(c, at, "%s: Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                     "optimizer degenerates to SignSGD. Received: beta_1=%s.", what,
                     value_str(c, v));
            return false;
        }
        return true;
    }
    if (strcmp(o->cls, "Ftrl") != 0)
        return true;
    static const char *const args[] = {"initial_accumulator_value", "learning_rate_power",
                                       "l1_regularization_strength",
                                       "l2_regularization_strength",
                                       "l2_shrinkage_regularization_strength"};
    for (int k = 0; k < 5; k++) {
        Value *v = object_arg(o, args[k], &at);
        if (!is_number(v))
            continue;
        double x = num_val(v);
        if (k == 1 ? x > 0 : x < 0) {
            error_at(c, at, "%s: `%s` needs to be %s. Received: %s=%s.", what, args[k],
                     k == 1 ? "negative or zero" : "positive or zero", args[k], value_str(c, v));
            return false;
        }
    }
    return true;
}

static Value *object_construct(Ctx *c, ObjectClass *oc, Arg *args, int nargs, Span call) {
    Sig *sig = sig_cached(c, oc->sig);
    Object *o = arena_alloc(c->arena, sizeof *o);
    o->module = oc->module;
    o->cls = oc->name;
    o->sig = sig;
    o->args = arena_alloc(c->arena, sizeof(Value *) * (size_t)(sig->nparams + 1));
    Span *spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(sig->nparams + 1));
    const char *what = arena_printf(c->arena, "keras.%s.%s()", oc->module, oc->name);
    if (!sig_bind(c, sig, what, args, nargs, call, o->args, spans))
        return v_error();
    o->spans = spans;
    o->span = call;
    // Numeric hyperparameters must be numbers (learning_rate="fast" is an error);
    // a constraint's axis and a focal loss's alpha may also be lists.
    for (int i = 0; i < sig->nparams; i++) {
        Value *d = sig->params[i].dflt, *v = o->args[i];
        const char *pn = sig->params[i].name;
        bool listy = (!strcmp(oc->module, "constraints") && !strcmp(pn, "axis")) ||
                     (!strcmp(oc->name, "CategoricalFocalCrossentropy") && !strcmp(pn, "alpha"));
        if (listy && (v->kind == V_LIST || v->kind == V_TUPLE))
            continue;
        if (!strcmp(pn, "learning_rate") && is_schedule(v))
            continue;
        if (d && (d->kind == V_FLOAT || d->kind == V_INT) && d->kind != V_BOOL &&
            v->kind != V_NONE && !is_number(v)) {
            error_at(c, spans[i], "%s: `%s` must be a number, got %s", what,
                     sig->params[i].name, value_repr(c, v));
            return v_error();
        }
    }
    if (!strcmp(oc->module, "optimizers.schedules") && !schedule_check(c, o, what))
        return v_error();
    if (!strcmp(oc->module, "optimizers") && !optimizer_check(c, o, what))
        return v_error();
    int lr = -1;
    for (int i = 0; i < sig->nparams; i++)
        if (!strcmp(sig->params[i].name, "learning_rate"))
            lr = i;
    if (lr >= 0 && is_number(o->args[lr]) && num_val(o->args[lr]) < 0) {
        error_at(c, spans[lr], "%s: `learning_rate` must be non-negative, got %s", what,
                 value_repr(c, o->args[lr]));
        return v_error();
    }
    for (int i = 0; i < sig->nparams; i++) {
        const char *pn = sig->params[i].name;
        Value *v = o->args[i];
        // Loss.__init__: standardize_reduction.
        if (!strcmp(oc->module, "losses") && !strcmp(pn, "reduction") &&
            !(v->kind == V_NONE ||
              (v->kind == V_STR &&
               (!strcmp(v->u.str.s, "sum_over_batch_size") || !strcmp(v->u.str.s, "sum") ||
                !strcmp(v->u.str.s, "none") || !strcmp(v->u.str.s, "mean") ||
                !strcmp(v->u.str.s, "mean_with_sample_weight"))))) {
            error_at(c, spans[i], "%s: Invalid value for argument `reduction`. Expected one of "
                     "{'sum_over_batch_size', 'sum', None, 'none', 'mean', "
                     "'mean_with_sample_weight'}. Received: reduction=%s", what,
                     value_str(c, v));
            return v_error();
        }
        // L1 / L2 / L1L2: validate_float_arg (None takes the default).
        if (!strcmp(oc->module, "regularizers") && is_number(v) &&
            (!isfinite(num_val(v)) || num_val(v) < 0)) {
            error_at(c, spans[i], "%s: Invalid value for argument %s: expected a non-negative "
                     "float.Received: %s=%s", what, pn, pn, value_str(c, v));
            return v_error();
        }
    }
    Value *v = mkval(c, V_OBJECT);
    v->u.object = o;
    return v;
}

// ---- shapes from values ----------------------------------------------------------

bool shape_from_value(Ctx *c, Value *v, Span at, Shape *out, bool with_batch) {
    if (v->kind == V_ERROR)
        return false;
    if (v->kind != V_TUPLE && v->kind != V_LIST) {
        error_at(c, at, "Cannot convert '%s' to a shape: expected a tuple such as (28, 28, 1)",
                 value_str(c, v));
        return false;
    }
    int n = list_len(v);
    if (n + (with_batch ? 1 : 0) > MAX_RANK) {
        error_at(c, at, "shape %s has rank %d; kdl supports tensors of rank up to %d",
                 value_repr(c, v), n + (with_batch ? 1 : 0), MAX_RANK);
        return false;
    }
    memset(out, 0, sizeof *out);
    int k = 0;
    if (with_batch)
        out->d[k++] = DIM_NONE;
    for (int i = 0; i < n; i++) {
        Value *d = list_get(v, i);
        if (d->kind == V_NONE) {
            out->d[k++] = DIM_NONE;
        } else if (d->kind == V_INT && d->u.i >= 0) {
            if (d->u.i > (int64_t)1 << 40) {
                error_at(c, at, "dimension %lld in shape %s is too large", (long long)d->u.i,
                         value_repr(c, v));
                return false;
            }
            out->d[k++] = d->u.i;
        } else {
            error_at(c, at, "Cannot convert '%s' to a shape: dimension %s is not a non-negative "
                     "integer or None", value_repr(c, v), value_repr(c, d));
            return false;
        }
    }
    out->rank = k;
    return true;
}

Value *shape_to_value(Ctx *c, const Shape *s) {
    Value *t = v_tuple(c);
    for (int i = 0; i < s->rank; i++)
        list_append(c, t, s->d[i] == DIM_NONE ? v_none() : v_int(c, s->d[i]));
    return t;
}

// ---- layer construction -------------------------------------------------------------

static bool input_layer_direct(Ctx *c, Layer *l, Span call);
static bool dtype_from_value(Ctx *c, Value *v, Span at, DType *out);

static bool check_name(Ctx *c, Value *v, Span at, const char **out) {
    if (v->kind == V_NONE) {
        *out = NULL;
        return true;
    }
    if (v->kind != V_STR) {
        error_at(c, at, "`name` must be a string, got %s", value_repr(c, v));
        return false;
    }
    if (v->u.str.len == 0) {
        error_at(c, at, "`name` must not be empty");
        return false;
    }
    if (strchr(v->u.str.s, '/')) {
        error_at(c, at, "Argument `name` must be a string and cannot contain character `/`. "
                 "Received: name=%s", value_repr(c, v));
        return false;
    }
    *out = v->u.str.s;
    return true;
}

// Keras 3 accepts input_shape=/input_dim= on any layer with this UserWarning.
static void warn_input_shape(Ctx *c, const LayerClass *cls, Span at) {
    warning_at(c, at, "%s: Do not pass an `input_shape`/`input_dim` argument to a layer. When "
               "using Sequential models, prefer using an `Input(shape)` object as the first layer "
               "in the model instead.", cls->name);
}

// A layer's regularizer or constraint argument, as Keras's get() takes it.
static bool check_reg_constraint(Ctx *c, Value *v, Span at, bool reg) {
    const char *what = reg ? "regularizer" : "constraint";
    switch (v->kind) {
    case V_NONE: case V_ERROR: case V_FUNC: case V_BUILTIN: case V_METHOD: case V_CLASS:
    case V_OBJECT: case V_INSTANCE:
        return true;
    case V_STR:
        if (in_names(reg ? regularizer_names : constraint_names, v->u.str.s, false))
            return true;
        if (reg && !strcmp(v->u.str.s, "l1_l2")) {
            error_at(c, at, "Could not interpret regularizer identifier: l1_l2 (Keras 3 takes "
                     "the strings 'l1', 'l2' and 'l1l2', the last being L1L2() with l1=0 and "
                     "l2=0; write keras.regularizers.l1_l2(l1=0.01, l2=0.01))");
            return false;
        }
        report_unknown_name(c, at, what, v->u.str.s, reg ? regularizer_names : constraint_names);
        return false;
    default:
        error_at(c, at, "Could not interpret %s identifier: %s", what, value_str(c, v));
        return false;
    }
}

Value *layer_construct(Ctx *c, const LayerClass *cls, Arg *args, int nargs, Span call) {
    Layer *l = layer_alloc(c, cls->name, call);
    l->cls = cls;
    l->sig = layer_class_sig(c, cls);
    // `input_shape=` (Keras 2 style, still accepted by Keras 3 with a
    // warning) is taken out before binding; Sequential uses it.
    Arg *kept = arena_alloc(c->arena, sizeof(Arg) * (size_t)(nargs + 1));
    int nkept = 0;
    for (int i = 0; i < nargs; i++) {
        if (args[i].kw && !strcmp(args[i].kw, "input_shape") && !(cls->flags & LC_INPUT)) {
            l->input_shape_arg = args[i].val;
            warn_input_shape(c, cls, args[i].span);
            continue;
        }
        // input_dim=n means input_shape=(n,) (Embedding's input_dim is its own).
        if (args[i].kw && !strcmp(args[i].kw, "input_dim") && strcmp(cls->name, "Embedding") &&
            !(cls->flags & LC_INPUT)) {
            Value *t = v_tuple(c);
            list_append(c, t, args[i].val);
            l->input_shape_arg = t;
            warn_input_shape(c, cls, args[i].span);
            continue;
        }
        kept[nkept++] = args[i];
    }
    l->args = arena_alloc(c->arena, sizeof(Value *) * (size_t)(l->sig->nparams + 1));
    l->arg_spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(l->sig->nparams + 1));
    const char *what = arena_printf(c->arena, "%s()", cls->name);
    bool ok = sig_bind(c, l->sig, what, kept, nkept, call, l->args, l->arg_spans);
    for (int i = 0; i < l->sig->nparams; i++)
        if (l->args[i]->kind == V_ERROR)
            ok = false;
    if (!ok)
        return v_error();
    // *_regularizer / *_constraint: regularizers.get / constraints.get run in
    // the constructor: a string must name a class, anything else be callable.
    for (int i = 0; i < l->sig->nparams; i++) {
        const char *pn = l->sig->params[i].name;
        size_t n = strlen(pn);
        bool reg = n > 12 && !strcmp(pn + n - 12, "_regularizer");
        bool con = n > 11 && !strcmp(pn + n - 11, "_constraint");
        if ((reg || con) && !check_reg_constraint(c, l->args[i], l->arg_spans[i], reg))
            ok = false;
    }
    if (!ok)
        return v_error();
    const char *name = NULL;
    if (sig_has(l->sig, "name") && !check_name(c, larg(l, "name"), larg_span(l, "name"), &name))
        return v_error();
    if (sig_has(l->sig, "trainable")) {
        Value *t = larg(l, "trainable");
        if (t->kind != V_BOOL) {
            error_at(c, larg_span(l, "trainable"), "%s: `trainable` must be True or False, got %s",
                     cls->name, value_repr(c, t));
            return v_error();
        }
        l->trainable = t->u.b;
    }
    if (l->input_shape_arg) {
        Shape s;
        if (!shape_from_value(c, l->input_shape_arg, call, &s, true))
            return v_error();
    }
    l->name = name ? name : auto_name(c, snake_case(c->arena, cls->name));
    l->id = c->next_layer_id++;
    if (cls->init && !cls->init(c, l))
        return v_error();
    if (cls->flags & LC_BUILT_AT_INIT)
        l->built = true;
    vec_push(c->arena, &c->layers, l);
    if ((cls->flags & LC_INPUT) && !input_layer_direct(c, l, call))
        return v_error();
    return v_layer(c, l);
}

// keras.layers.InputLayer(shape=..., ...) made directly (Sequential's first
// layer): its tensor and node, as keras.Input makes them. Keras 3 still
// takes the Keras 2 name input_shape= for shape.
static bool input_layer_direct(Ctx *c, Layer *l, Span call) {
    Value *shape = larg(l, "shape"), *batch_shape = larg(l, "batch_shape");
    Value *legacy = larg(l, "input_shape");
    if (shape->kind == V_NONE)
        shape = legacy;
    Shape s;
    if (batch_shape->kind != V_NONE) {
        if (!shape_from_value(c, batch_shape, larg_span(l, "batch_shape"), &s, false))
            return false;
    } else if (shape->kind != V_NONE) {
        if (!shape_from_value(c, shape, call, &s, true))
            return false;
        Value *bs = larg(l, "batch_size");
        if (bs->kind == V_INT && bs->u.i > 0)
            s.d[0] = bs->u.i;
    } else {
        error_at(c, call, "InputLayer needs a `shape` (or `batch_shape`) argument");
        return false;
    }
    DType dt;
    if (!dtype_from_value(c, larg(l, "dtype"), larg_span(l, "dtype"), &dt))
        return false;
    Value *nm = larg(l, "name");
    l->dtype = dt;
    input_layer_make(c, l, &s, dt, nm->kind == V_STR ? nm->u.str.s : NULL, call);
    return true;
}

Layer *input_layer_new(Ctx *c, const char *name, Span at) {
    static const char *input_class = "InputLayer";
    const LayerClass *cls = layer_class_find(input_class);
    Layer *l = layer_alloc(c, cls->name, at);
    l->cls = cls;
    l->sig = layer_class_sig(c, cls);
    l->args = arena_alloc(c->arena, sizeof(Value *) * (size_t)(l->sig->nparams + 1));
    l->arg_spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(l->sig->nparams + 1));
    for (int i = 0; i < l->sig->nparams; i++) {
        l->args[i] = l->sig->params[i].dflt ? l->sig->params[i].dflt : v_none();
        l->arg_spans[i] = at;
    }
    l->name = name ? name : auto_name(c, "input_layer");
    l->id = c->next_layer_id++;
    vec_push(c->arena, &c->layers, l);
    return l;
}

static bool dtype_from_value(Ctx *c, Value *v, Span at, DType *out) {
    *out = DT_FLOAT32;
    if (v->kind == V_NONE)
        return true;
    if (v->kind == V_STR) {
        const char *s = v->u.str.s;
        if (!strcmp(s, "float32")) { *out = DT_FLOAT32; return true; }
        if (!strcmp(s, "int32")) { *out = DT_INT32; return true; }
        if (!strcmp(s, "int64")) { *out = DT_INT64; return true; }
        if (!strcmp(s, "bool")) { *out = DT_BOOL; return true; }
    }
    error_at(c, at, "unsupported dtype %s: kdl supports 'float32', 'int32', 'int64' and 'bool'",
             value_repr(c, v));
    return false;
}

// keras.Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
//             tensor=None, optional=False)
static Value *b_input(ARGS) {
    // Bound in Keras's order: shape, batch_size, dtype, sparse, ragged,
    // batch_shape, name, tensor, optional.
    Value *shape = a[0], *batch_size = a[1], *dtype = a[2], *sparse = a[3], *ragged = a[4],
          *batch_shape = a[5], *name = a[6], *tensor = a[7];
    if (ragged->kind == V_BOOL && ragged->u.b) {
        error_at(c, call, "ragged inputs are not supported");
        return v_error();
    }
    if (tensor->kind != V_NONE) {
        error_at(c, sp[7], "keras.Input(tensor=...) is not supported");
        return v_error();
    }
    if (sparse->kind == V_BOOL && sparse->u.b) {
        error_at(c, sp[3], "sparse inputs are not supported");
        return v_error();
    }
    Shape s;
    if (shape->kind != V_NONE && batch_shape->kind != V_NONE) {
        error_at(c, call, "You cannot pass both `shape` and `batch_shape` at the same time.");
        return v_error();
    }
    if (batch_shape->kind != V_NONE) {
        if (!shape_from_value(c, batch_shape, sp[5], &s, false))
            return v_error();
        if (s.rank == 0) {
            error_at(c, sp[5], "`batch_shape` must have at least one dimension (the batch)");
            return v_error();
        }
    } else {
        if (shape->kind == V_NONE) {
            error_at(c, call, "You must pass a `shape` argument.");
            return v_error();
        }
        if (!shape_from_value(c, shape, sp[0], &s, true))
            return v_error();
        if (batch_size->kind == V_INT && batch_size->u.i > 0) {
            s.d[0] = batch_size->u.i;
        } else if (batch_size->kind != V_NONE) {
            error_at(c, sp[1], "`batch_size` must be a positive integer or None, got %s",
                     value_repr(c, batch_size));
            return v_error();
        }
    }
    DType dt;
    if (!dtype_from_value(c, dtype, sp[2], &dt))
        return v_error();
    const char *nm;
    if (!check_name(c, name, sp[6], &nm))
        return v_error();
    Layer *il = input_layer_new(c, nm, call);
    // Bind the layer's own record of its arguments for codegen and summaries.
    il->args[0] = shape;
    il->args[1] = batch_size;
    il->args[2] = dtype;
    il->dtype = dt;
    Tensor *t = input_layer_make(c, il, &s, dt, nm, call);
    return v_tensor(c, t);
}

// ---- calling layers --------------------------------------------------------------------

bool layer_infer_shapes(Ctx *c, Layer *l, const Shape *in, int nin, Value *in_struct,
                        Value *extras, Shape *out, int *nout, Value **out_struct, Span at) {
    *out_struct = NULL;
    if (l->model)
        return model_infer(c, l, in, nin, in_struct, extras, out, nout, out_struct, at);
    *nout = 1;
    return l->cls->infer(c, l, in, nin, out, nout, at);
}

// Build the value the call returns: one tensor, or a list for several.
static Value *outputs_value(Ctx *c, CallNode *n, Value *shape_struct) {
    if (shape_struct && shape_struct->kind != V_TENSOR) {
        // A model with structured outputs: same structure, new tensors in order.
        Vec flat = {0};
        flatten_tensors(c, shape_struct, "outputs", n->span, &flat);
        Value *r = map_struct_tensors(c, shape_struct, (Tensor **)flat.data, n->out, flat.len);
        return r;
    }
    if (n->nout == 1)
        return v_tensor(c, n->out[0]);
    Value *r = v_list(c);
    for (int i = 0; i < n->nout; i++)
        list_append(c, r, v_tensor(c, n->out[i]));
    return r;
}

// The parameters of a table layer's call() after its inputs, as Keras 3
// declares them (Dropout.call(inputs, training=False), ...): a positional
// argument after the inputs binds to these, as Keras's __call__ binds it.
static const struct {
    const char *cls;
    const char *params[3];
} call_params_table[] = {
    {"Dense", {"training"}},
    {"Dropout", {"training"}},
    {"SpatialDropout1D", {"training"}},
    {"GaussianNoise", {"training"}},
    {"GaussianDropout", {"training"}},
    {"SpatialDropout2D", {"training"}},
    {"RandomCrop", {"training"}},
    {"BatchNormalization", {"training", "mask"}},
    {"Softmax", {"mask"}},
    {"SimpleRNN", {"initial_state", "mask", "training"}},
    {"LSTM", {"initial_state", "mask", "training"}},
    {"GRU", {"initial_state", "mask", "training"}},
    {"Bidirectional", {"initial_state", "mask", "training"}},
    {"TimeDistributed", {"training", "mask"}},
};

static const char *const model_call_params[] = {"training", "mask", NULL};

// The names a positional argument after the inputs binds to for layer l,
// NULL-terminated; NULL for a subclass, whose own call() says.
static const char *const *call_params(const Layer *l) {
    static const char *const none[] = {NULL};
    if (l->model)
        return l->model->kind == MODEL_SUBCLASS ? NULL : model_call_params;
    for (size_t i = 0; i < sizeof call_params_table / sizeof call_params_table[0]; i++)
        if (!strcmp(call_params_table[i].cls, l->cls->name))
            return call_params_table[i].params;
    return none;
}

// layer(x, a, b, k=v): the first positional argument (or inputs=) is the
// input structure; later positional arguments take the names of call()'s
// next parameters (the table's, or the subclass's own call signature), so
// that `dropout(h, True)` is `training=True` as in Keras.
Value *layer_call_args(Ctx *c, Layer *l, Arg *args, int nargs, Span call) {
    Value *inputs = NULL;
    Arg *kw = arena_alloc(c->arena, sizeof(Arg) * (size_t)(nargs + 1));
    int nkw = 0, npos = 0;
    const char *const *names = call_params(l);
    Value *callv = !names && l->ucls ? dict_get_str(l->ucls->methods, "call") : NULL;
    const Sig *sig = callv && callv->kind == V_FUNC ? callv->u.func->sig : NULL;
    for (int i = 0; i < nargs; i++) {
        if (args[i].kw) {
            if (!strcmp(args[i].kw, "inputs") && !inputs && npos == 0)
                inputs = args[i].val;
            else
                kw[nkw++] = args[i];
            continue;
        }
        if (!inputs) {
            inputs = args[i].val;
            npos = 1;
            continue;
        }
        // The (npos+1)-th positional argument of call(self, inputs, ...).
        const char *name = NULL;
        int nnames = 0;
        if (sig) {
            for (int k = 2; k < sig->nparams && sig->params[k].kind == 0; k++, nnames++)
                if (k == npos + 1)
                    name = sig->params[k].name;
        } else if (names) {
            while (names[nnames])
                nnames++;
            if (npos - 1 < nnames)
                name = names[npos - 1];
        }
        if (!name) {
            int given = 2 + npos;
            for (int k = i + 1; k < nargs; k++)
                given += !args[k].kw;
            if (!sig && !names && !callv) {
                error_at(c, args[i].span, "%s takes one positional argument (the inputs); pass "
                         "several tensors as a list", layer_label(c, l));
            } else if (nnames == 0) {
                error_at(c, args[i].span, "%s.call() takes 2 positional arguments but %d were "
                         "given (pass several tensors as a list)", l->class_name, given);
            } else {
                error_at(c, args[i].span, "%s.call() takes from 2 to %d positional arguments "
                         "but %d were given", l->class_name, 2 + nnames, given);
            }
            return v_error();
        }
        kw[nkw++] = (Arg){name, args[i].val, args[i].span};
        npos++;
    }
    for (int i = 0; i < nkw; i++)
        for (int k = 0; k < i; k++)
            if (!strcmp(kw[i].kw, kw[k].kw)) {
                error_at(c, kw[i].span, "%s.call() got multiple values for argument '%s'",
                         l->class_name, kw[i].kw);
                return v_error();
            }
    if (!inputs) {
        error_at(c, call, "%s must be called on inputs, e.g. layer(x)", layer_label(c, l));
        return v_error();
    }
    return layer_call(c, l, inputs, kw, nkw, call);
}

// Tensors anywhere inside v (lists, tuples, dicts in sorted key order, as
// flatten_tensors orders them); other values are skipped.
static void collect_tensors(Ctx *c, Value *v, Vec *out, int depth) {
    if (depth > 32)
        return;
    if (v->kind == V_TENSOR) {
        vec_push(c->arena, out, v->u.tensor);
    } else if (v->kind == V_LIST || v->kind == V_TUPLE) {
        for (int i = 0; i < list_len(v); i++)
            collect_tensors(c, list_get(v, i), out, depth + 1);
    } else if (v->kind == V_DICT) {
        Vec *vals = dict_sorted_values(c, v->u.dict);
        for (int i = 0; i < vals->len; i++)
            collect_tensors(c, vals->data[i], out, depth + 1);
    }
}

Value *layer_call(Ctx *c, Layer *l, Value *inputs, Arg *kwargs, int nkwargs, Span call) {
    if (inputs->kind == V_ERROR)
        return v_error();
    // training= and mask= keyword arguments; a subclass's call() may take
    // more (`extras`, passed on to every trace of it).
    int training = -1;
    Value *kw = NULL, *extras = NULL;
    Arg *init_state = NULL;     // a recurrent layer's initial_state=
    bool user_call = l->model && l->model->kind == MODEL_SUBCLASS;
    for (int i = 0; i < nkwargs; i++) {
        Arg *k = &kwargs[i];
        if (k->val->kind == V_ERROR)
            return v_error();
        if (user_call && strcmp(k->kw, "training")) {
            if (!strcmp(k->kw, "mask") && k->val->kind != V_NONE) {
                error_at(c, k->span, "%s: masks are not supported by kdl (mask= must be None)",
                         layer_label(c, l));
                return v_error();
            }
            if (!extras)
                extras = v_dict(c);
            dict_set(c, extras->u.dict, v_str(c, k->kw), k->val);
            continue;
        }
        if (!strcmp(k->kw, "training")) {
            if (k->val->kind == V_BOOL)
                training = k->val->u.b;
            else if (k->val->kind != V_NONE) {
                error_at(c, k->span,
                         "`training` must be True, False or None at compile time, got %s",
                         value_repr(c, k->val));
                return v_error();
            }
            continue;
        }
        if (!strcmp(k->kw, "mask")) {
            if (!kw)
                kw = v_dict(c);
            dict_set(c, kw->u.dict, v_str(c, k->kw), k->val);
            continue;
        }
        bool rnn = l->cls && (is_rnn_class(l->cls->name) || !strcmp(l->cls->name, "Bidirectional"));
        if (rnn && !strcmp(k->kw, "initial_state")) {
            // (call_params_table: the recurrent layers take it) A tensor,
            // or a list of them (LSTM: h and c); None: zeros.
            if (k->val->kind != V_NONE)
                init_state = k;
            continue;
        }
        error_at(c, k->span, "%s got an unexpected keyword argument '%s' in its call",
                 layer_label(c, l), k->kw);
        return v_error();
    }
    Vec flat = {0};
    bool multi = l->cls && (l->cls->flags & LC_MULTI_INPUT);
    if (inputs->kind == V_TENSOR) {
        if (multi) {
            error_at(c, call, "%s must be called on a list of tensors (e.g. [x, y]), got a single "
                     "tensor", layer_label(c, l));
            return v_error();
        }
        vec_push(c->arena, &flat, inputs->u.tensor);
    } else if (inputs->kind == V_LIST || inputs->kind == V_TUPLE || inputs->kind == V_DICT) {
        if (!l->model && !multi) {
            if ((inputs->kind == V_LIST || inputs->kind == V_TUPLE) && list_len(inputs) == 1 &&
                list_get(inputs, 0)->kind == V_TENSOR) {
                vec_push(c->arena, &flat, list_get(inputs, 0)->u.tensor);
            } else {
                error_at(c, call, "%s expects a single tensor as input, got a %s of %d",
                         layer_label(c, l), value_type_name(inputs),
                         inputs->kind == V_DICT ? inputs->u.dict->keys.len : list_len(inputs));
                return v_error();
            }
        } else if (!flatten_tensors(c, inputs, "inputs", call, &flat)) {
            return v_error();
        }
    } else {
        error_at(c, call, "%s must be called on a KerasTensor (from keras.Input or another layer), "
                 "got %s", layer_label(c, l), value_type_name(inputs));
        return v_error();
    }
    // Tensors among a subclass's extra call arguments are inputs of the node
    // too (as in Keras, whose nodes hold every tensor argument).
    int nmain = flat.len;
    if (extras)
        collect_tensors(c, extras, &flat, 0);
    // A recurrent layer's initial states: inputs of the node after the
    // sequence (Keras's nodes hold every tensor argument; its summary lists
    // them in "Connected to").
    if (init_state) {
        Value *v = init_state->val;
        int n = v->kind == V_LIST || v->kind == V_TUPLE ? list_len(v) : 1;
        for (int i = 0; i < n; i++) {
            Value *e = v->kind == V_LIST || v->kind == V_TUPLE ? list_get(v, i) : v;
            if (e->kind != V_TENSOR) {
                error_at(c, init_state->span, "%s: initial_state must be a tensor or a list of "
                         "tensors (one per state), got %s", layer_label(c, l),
                         value_type_name(e));
                return v_error();
            }
            vec_push(c->arena, &flat, e->u.tensor);
        }
    }
    if (flat.len > MAX_IO) {
        error_at(c, call, "%s called on %d tensors; at most %d are supported", layer_label(c, l),
                 flat.len, MAX_IO);
        return v_error();
    }
    if (l->cls && (l->cls->flags & LC_INPUT)) {
        error_at(c, call, "an InputLayer cannot be called on a tensor");
        return v_error();
    }
    Shape in[MAX_IO], out[MAX_IO];
    for (int i = 0; i < flat.len; i++)
        in[i] = ((Tensor *)flat.data[i])->shape;
    // The training flag a layer sees: explicit argument > the enclosing
    // model call's > unset (decided per graph).
    int eff_training = training >= 0 ? training : c->training_ctx;
    int saved_training = c->training_ctx;
    c->training_ctx = eff_training;
    bool first_build = !l->built || (l->cls && (l->cls->flags & LC_BUILT_AT_INIT) && !l->nbuild_in);
    if (!l->model && !l->built) {
        if (l->cls->build && !l->cls->build(c, l, in, flat.len, call)) {
            c->training_ctx = saved_training;
            return v_error();
        }
        l->built = true;
    }
    if (!l->model && first_build) {
        l->nbuild_in = flat.len < 8 ? flat.len : 8;
        for (int i = 0; i < l->nbuild_in; i++)
            l->build_in[i] = in[i];
    }
    int nout = 0;
    Value *out_struct = NULL;
    int errors_before = c->nerrors;
    bool ok = layer_infer_shapes(c, l, in, flat.len, inputs, extras, out, &nout, &out_struct,
                                 call);
    c->training_ctx = saved_training;
    if (!ok && first_build && !l->model) {
        // A failed first call builds nothing: the next call builds afresh.
        l->built = (l->cls->flags & LC_BUILT_AT_INIT) != 0;
        l->nbuild_in = 0;
        l->nweights = 0;
    }
    if (!ok) {
        // Say where the offending inputs come from (not for nested models,
        // whose own errors already point inside them).
        if (c->nerrors > errors_before && !l->model)
            for (int i = 0; i < flat.len && i < 2; i++) {
                Tensor *t = flat.data[i];
                if (t->node && span_valid(t->node->span))
                    note_at(c, t->node->span, "%s of shape %s comes from %s here",
                            flat.len == 1 ? "the input" : i == 0 ? "input 0" : "input 1",
                            shape_pystr(c->arena, &t->shape), layer_label(c, t->node->layer));
            }
        return v_error();
    }
    for (int i = 0; i < nout; i++) {
        int64_t n = shape_numel(&out[i], 1);
        if (n == -2 || n > ((int64_t)1 << 40)) {
            error_at(c, call, "%s: output shape %s is too large", layer_label(c, l),
                     shape_pystr(c->arena, &out[i]));
            return v_error();
        }
    }
    CallNode *n = node_new(c, l, (Tensor **)flat.data, flat.len, inputs, call);
    n->training = c->trace ? eff_training : training;
    n->kwargs = extras ? extras : kw;
    n->nmain = nmain;
    n->nout = nout;
    n->out = arena_alloc(c->arena, sizeof(Tensor *) * (size_t)(nout + 1));
    DType dt = DT_FLOAT32;
    for (int i = 0; i < nout; i++) {
        n->out[i] = tensor_new(c, &out[i], dt, NULL);
        n->out[i]->node = n;
        n->out[i]->index = i;
    }
    n->out_struct = outputs_value(c, n, out_struct);
    bool traced = c->trace != NULL;
    node_record(c, n);
    // What the summary shows for a layer only ever called inside a subclass
    // trace: Keras's compute_output_shape on the first build shapes; layers
    // built at init (stateless) show `?`.
    bool stateless = l->cls && (l->cls->flags & LC_BUILT_AT_INIT);
    if (!traced || (!stateless && l->nlast_out == 0)) {
        l->nlast_out = nout < 8 ? nout : 8;
        for (int i = 0; i < l->nlast_out; i++)
            l->last_out[i] = out[i];
        l->last_out_struct = n->out_struct;
    }
    return n->out_struct;
}

// x + y on tensors: keras.layers.Add (likewise -, *), as Keras maps the
// operators of KerasTensors to ops; a number operand becomes a Rescaling-like
// op which kdl does not support yet.
Value *tensor_binop(Ctx *c, OpKind op, Value *a, Value *b, Span at) {
    const char *cls = op == OP_ADD   ? "Add"
                      : op == OP_SUB ? "Subtract"
                      : op == OP_MUL ? "Multiply"
                                     : NULL;
    if (!cls || a->kind != V_TENSOR || b->kind != V_TENSOR) {
        error_at(c, at,
                 "unsupported operand types for %s: '%s' and '%s' (kdl maps tensor + tensor, "
                 "tensor - tensor and tensor * tensor to Add, Subtract and Multiply layers)",
                 op_name(op), value_type_name(a), value_type_name(b));
        return v_error();
    }
    const LayerClass *lc = layer_class_find(cls);
    Value *layer = layer_construct(c, lc, NULL, 0, at);
    if (layer->kind == V_ERROR)
        return layer;
    Value *pair = v_list(c);
    list_append(c, pair, a);
    list_append(c, pair, b);
    return layer_call(c, layer->u.layer, pair, NULL, 0, at);
}

Value *tensor_get_attr(Ctx *c, Value *self, const char *name, Span at) {
    Tensor *t = self->u.tensor;
    if (!strcmp(name, "shape"))
        return shape_to_value(c, &t->shape);
    if (!strcmp(name, "dtype"))
        return v_str(c, dtype_name(t->dtype));
    if (!strcmp(name, "name"))
        return v_str(c, t->name);
    if (!strcmp(name, "ndim"))
        return v_int(c, t->shape.rank);
    if (!strcmp(name, "sparse") || !strcmp(name, "ragged"))
        return v_bool(false);
    error_at(c, at, "'KerasTensor' object has no attribute '%s'", name);
    return v_error();
}

// ---- model methods ---------------------------------------------------------------------

static Layer *self_layer(Value *self) {
    return self->u.layer;
}

static bool need_model(Ctx *c, Layer *l, const char *method, Span at) {
    if (l->model)
        return true;
    error_at(c, at, "'%s' object has no attribute '%s' (it is a layer, not a model)", l->class_name,
             method);
    return false;
}

// Keras reads `line_length or default`, so 0 (like None) means the default.
static bool opt_int(Ctx *c, Value *v, Span at, const char *what, int *out) {
    if (v->kind == V_NONE || (v->kind == V_INT && v->u.i == 0))
        return true;
    if (v->kind != V_INT || v->u.i <= 0 || v->u.i > 10000) {
        error_at(c, at, "summary(): `%s` must be a positive integer, got %s", what,
                 value_repr(c, v));
        return false;
    }
    *out = (int)v->u.i;
    return true;
}

// model.summary(line_length=None, positions=None, print_fn=None, expand_nested=False,
//               show_trainable=False, layer_range=None)
static Value *m_summary(ARGS) {
    Layer *m = self_layer(self);
    if (!need_model(c, m, "summary", call))
        return v_error();
    if (!model_is_built(m)) {
        if (m->model->broken && m->model->kind != MODEL_SEQUENTIAL)
            return v_error();   // its __init__ or build() failed: already reported
        error_at(c, call, "This model has not yet been built. Build the model first by calling "
                 "`build()` or by calling the model on a batch of data.");
        if (m->model->kind == MODEL_SUBCLASS)
            note_at(c, m->span, "%s is created here; call %s.build(input_shape) or call it on a "
                    "keras.Input before summary()", layer_label(c, m), "model");
        return v_error();
    }
    SummaryOpts o;
    memset(&o, 0, sizeof o);
    o.columns = c->summary_columns;
    if (!opt_int(c, a[0], sp[0], "line_length", &o.line_length))
        return v_error();
    // `positions or default`: an empty list is the default too.
    bool empty_positions = (a[1]->kind == V_LIST || a[1]->kind == V_TUPLE) && list_len(a[1]) == 0;
    if (a[1]->kind != V_NONE && !empty_positions) {
        if ((a[1]->kind != V_LIST && a[1]->kind != V_TUPLE) || list_len(a[1]) > 8) {
            error_at(c, sp[1], "summary(): `positions` must be a list of numbers, got %s",
                     value_repr(c, a[1]));
            return v_error();
        }
        for (int i = 0; i < list_len(a[1]); i++) {
            Value *p = list_get(a[1], i);
            if (!is_number(p) || num_val(p) < 0) {
                error_at(c, sp[1], "summary(): `positions` must be a list of non-negative numbers, "
                         "got %s", value_repr(c, a[1]));
                return v_error();
            }
            o.positions[i] = num_val(p);
        }
        o.npositions = list_len(a[1]);
    }
    Value *print_fn = a[2];
    o.expand_nested = value_truthy(a[3]);
    o.show_trainable = value_truthy(a[4]);
    if (a[5]->kind != V_NONE) {
        // Keras: len(layer_range) must be 2 and both items strings; a
        // two-character string passes (each character is a pattern).
        Value *r = a[5];
        int n = r->kind == V_STR ? (int)utf8_length(r->u.str.s)
                : (r->kind == V_LIST || r->kind == V_TUPLE) ? list_len(r) : -1;
        if (n < 0) {
            error_at(c, sp[5], "summary(): object of type '%s' has no len(); layer_range must be "
                     "a list or tuple of length 2", value_type_name(r));
            return v_error();
        }
        o.layer_range_text = value_str(c, r);
        if (n != 2) {
            error_at(c, sp[5], "layer_range must be a list or tuple of length 2. Received: "
                     "layer_range = %s of length %d", o.layer_range_text, n);
            return v_error();
        }
        if (r->kind == V_STR) {
            const char *s0 = r->u.str.s;
            size_t k = utf8_char_len(s0);
            o.layer_range[0] = arena_strndup(c->arena, s0, k);
            o.layer_range[1] = arena_strdup(c->arena, s0 + k);
        } else if (list_get(r, 0)->kind != V_STR || list_get(r, 1)->kind != V_STR) {
            error_at(c, sp[5], "layer_range should contain string type only. Received: %s",
                     o.layer_range_text);
            return v_error();
        } else {
            o.layer_range[0] = list_get(r, 0)->u.str.s;
            o.layer_range[1] = list_get(r, 1)->u.str.s;
        }
    }
    const char *err = NULL;
    const char *text = summary_render(c, m, &o, &err);
    if (!text) {
        error_at(c, call, "%s", err ? err : "cannot print the summary");
        return v_error();
    }
    if (print_fn->kind == V_NONE) {
        // `kdlc summary` prints only the selected tables, not the file's own.
        if (!c->quiet_summaries)
            fputs(text, c->out);
        return v_none();
    }
    // A print_fn always receives the text (the program may keep it); under
    // `kdlc summary` print() itself is silent.
    Arg arg = {NULL, v_str(c, text), call};
    Value *r = call_value(c, print_fn, &arg, 1, sp[2]);
    return r->kind == V_ERROR ? r : v_none();
}

static Value *m_get_layer(ARGS) {
    Layer *m = self_layer(self);
    if (!need_model(c, m, "get_layer", call))
        return v_error();
    return model_get_layer(c, m, a[0], a[1], call);
}

// layer.build(input_shape) / model.build(input_shape). For a single layer
// the shape is the full batch shape, as in Keras: Dense(4).build((None, 3)).
static Value *m_build(ARGS) {
    Layer *m = self_layer(self);
    // super().build(input_shape) inside the class's own build(): Keras's
    // base build only marks the layer built, which the caller does.
    if (m->model && m->model->in_user_build)
        return v_none();
    if (m->model) {
        if (!m->model->built)
            model_build_subclass(c, m, a[0], call);
        return v_none();
    }
    if (m->built && !(m->cls->flags & LC_BUILT_AT_INIT))
        return v_none();
    Shape s;
    if (!shape_from_value(c, a[0], sp[0], &s, false))
        return v_error();
    if (m->cls->build && !m->cls->build(c, m, &s, 1, call))
        return v_error();
    Shape out[MAX_IO];
    int nout = 1;
    if (!m->cls->infer(c, m, &s, 1, out, &nout, call))
        return v_error();
    m->built = true;
    m->nbuild_in = 1;
    m->build_in[0] = s;
    m->nlast_out = nout < 8 ? nout : 8;
    for (int i = 0; i < m->nlast_out; i++)
        m->last_out[i] = out[i];
    return v_none();
}

static Value *m_add(ARGS) {
    Layer *m = self_layer(self);
    if (!m->model || m->model->kind != MODEL_SEQUENTIAL) {
        error_at(c, call, "'%s' object has no attribute 'add' (only Sequential models have add())",
                 m->class_name);
        return v_error();
    }
    sequential_add(c, m, a[0], sp[0]);
    return v_none();
}

static Value *m_pop(ARGS) {
    Layer *m = self_layer(self);
    if (!m->model || m->model->kind != MODEL_SEQUENTIAL) {
        error_at(c, call, "only Sequential models have pop()");
        return v_error();
    }
    if (m->model->layers.len == 0) {
        error_at(c, call, "There are no layers in the model.");
        return v_error();
    }
    Layer *l = m->model->layers.data[--m->model->layers.len];
    m->model->layer_spans.len--;
    return v_layer(c, l);
}

static Value *m_count_params(ARGS) {
    Layer *m = self_layer(self);
    if (!model_is_built(m)) {
        error_at(c, call, "You tried to call `count_params` on layer '%s', but the layer isn't "
                 "built. You can build it manually via: `layer.build(input_shape)`.", m->name);
        return v_error();
    }
    Vec ws = {0};
    model_weights(c, m, &ws);
    int64_t n = 0;
    for (int i = 0; i < ws.len; i++)
        n += shape_numel(&((Weight *)ws.data[i])->shape, 0);
    return v_int(c, n);
}

// A loss or metric identifier: a known string, a config object of one of
// the given modules, or a list/tuple/dict of them (one per output).
typedef struct IdentKind {
    const char *what;               // "loss", "metric"
    const char *const *names;       // accepted strings
    const char *modules[2];         // accepted config-object modules
} IdentKind;

static const IdentKind loss_kind = {"loss", loss_names, {"losses", NULL}};
static const IdentKind metric_kind = {"metric", metric_names, {"metrics", "losses"}};

static bool check_ident(Ctx *c, const IdentKind *k, Value *v, Span at) {
    if (v->kind == V_ERROR || (v->kind == V_NONE && k == &loss_kind))
        return true;
    if (v->kind == V_STR) {
        const char *s = v->u.str.s;
        // compile_utils.get_loss / get_metric pick these by shape, in any case.
        if (in_names(k->names, s, false) ||
            (k == &loss_kind && (same_icase(s, "crossentropy") || same_icase(s, "ce"))) ||
            (k == &metric_kind && (same_icase(s, "accuracy") || same_icase(s, "acc"))))
            return true;
        report_unknown_name(c, at, k->what, s, k->names);
        return false;
    }
    if (v->kind == V_OBJECT)
        for (int i = 0; i < 2; i++)
            if (k->modules[i] && !strcmp(v->u.object->module, k->modules[i]))
                return true;
    bool ok = true;
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        for (int i = 0; i < list_len(v); i++) {
            Span item = i < v->u.list->nspans ? v->u.list->spans[i] : at;
            ok = check_ident(c, k, list_get(v, i), item) && ok;
        }
        return ok;
    }
    if (v->kind == V_DICT) {
        for (int i = 0; i < v->u.dict->vals.len; i++)
            ok = check_ident(c, k, v->u.dict->vals.data[i], at) && ok;
        return ok;
    }
    error_at(c, at, "Could not interpret %s identifier: %s", k->what, value_repr(c, v));
    return false;
}

// model.compile(optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, ...)
static Value *m_compile(ARGS) {
    Layer *m = self_layer(self);
    if (!need_model(c, m, "compile", call))
        return v_error();
    bool ok = true;
    Value *opt = a[0];
    if (opt->kind == V_STR) {
        if (!in_names(optimizer_names, opt->u.str.s, true)) {
            error_at(c, sp[0], "Could not interpret optimizer identifier: %s (kdl knows %s)",
                     opt->u.str.s, names_list(c, optimizer_names));
            ok = false;
        }
    } else if (!(opt->kind == V_OBJECT && !strcmp(opt->u.object->module, "optimizers")) &&
               opt->kind != V_ERROR) {
        error_at(c, sp[0], "Could not interpret optimizer identifier: %s", value_repr(c, opt));
        ok = false;
    }
    ok = check_ident(c, &loss_kind, a[1], sp[1]) && ok;
    if (a[3]->kind != V_NONE && a[3]->kind != V_LIST && a[3]->kind != V_TUPLE &&
        a[3]->kind != V_DICT && a[3]->kind != V_ERROR) {
        error_at(c, sp[3], "Expected `metrics` argument to be a list, tuple, or dict. Received "
                 "instead: metrics=%s of type %s", value_repr(c, a[3]), value_type_name(a[3]));
        ok = false;
    } else if (a[3]->kind != V_NONE) {
        ok = check_ident(c, &metric_kind, a[3], sp[3]) && ok;
    }
    // CompileLoss.__init__ (made when a loss is given).
    Value *lw = a[2];
    if (a[1]->kind != V_NONE && value_truthy(lw) && lw->kind != V_LIST && lw->kind != V_TUPLE &&
        lw->kind != V_DICT && lw->kind != V_FLOAT && lw->kind != V_ERROR) {
        error_at(c, sp[2], "Expected `loss_weights` argument to be a float (single output case) "
                 "or a list, tuple, or dict (multiple output case). Received instead: "
                 "loss_weights=%s of type %s", value_str(c, lw), value_type_name(lw));
        ok = false;
    }
    if (!ok)
        return v_error();
    CompileCfg *cfg = arena_alloc(c->arena, sizeof *cfg);
    cfg->optimizer = opt;
    cfg->loss = a[1];
    cfg->loss_weights = a[2];
    cfg->metrics = a[3];
    cfg->span = call;
    cfg->optimizer_span = sp[0];
    cfg->loss_span = sp[1];
    cfg->loss_weights_span = sp[2];
    cfg->metrics_span = sp[3];
    m->model->compile = cfg;
    m->model->optimizer_built = false;     // compile() makes a new optimizer
    return v_none();
}

// An optimizer argument's class name (lower case) and its config object.
static const char *optimizer_class(Value *opt, Object **obj) {
    *obj = opt->kind == V_OBJECT ? opt->u.object : NULL;
    return opt->kind == V_STR ? opt->u.str.s : *obj ? (*obj)->cls : "rmsprop";
}

static double obj_num(Object *o, const char *name, double dflt) {
    if (!o)
        return dflt;
    for (int i = 0; i < o->sig->nparams; i++)
        if (!strcmp(o->sig->params[i].name, name))
            return is_number(o->args[i]) ? num_val(o->args[i]) : value_truthy(o->args[i]);
    return dflt;
}

bool model_optimizer_params(Ctx *c, Layer *m, int64_t *count, double *bytes) {
    Model *md = m->model;
    if (!md || !md->compile || !md->optimizer_built)
        return false;
    Object *o;
    const char *name = optimizer_class(md->compile->optimizer, &o);
    // Slot variables per trainable variable, and extra float32 scalars
    // (keras/src/optimizers/*.py build()).
    int slots = 0, scalars = 0;
    if (same_icase(name, "sgd"))
        slots = obj_num(o, "momentum", 0) != 0;
    else if (same_icase(name, "adam") || same_icase(name, "adamw"))
        slots = 2 + (obj_num(o, "amsgrad", 0) != 0);
    else if (same_icase(name, "rmsprop"))
        slots = 1 + (obj_num(o, "momentum", 0) > 0) + (obj_num(o, "centered", 0) != 0);
    else if (same_icase(name, "adagrad") || same_icase(name, "lion"))
        slots = 1;
    else if (same_icase(name, "nadam"))
        slots = 2, scalars = 1;     // u_product
    else if (!same_icase(name, "adafactor"))
        slots = 2;     // adadelta, adamax, ftrl, lamb
    // (Adafactor: r, c and velocity, r and c factored: counted per weight below.)
    // BaseOptimizer.build: an "average" per variable with use_ema, a
    // "gradient_accumulator" with gradient_accumulation_steps.
    slots += obj_num(o, "use_ema", 0) != 0;
    slots += obj_num(o, "gradient_accumulation_steps", 0) != 0;
    Vec ws = {0};
    model_weights(c, m, &ws);
    int64_t trainable = 0, factored = 0;
    for (int i = 0; i < ws.len; i++) {
        Weight *w = ws.data[i];
        if (!weight_is_trainable(w))
            continue;
        int64_t n = shape_numel(&w->shape, 0);
        trainable += n;
        // adafactor.py build(): r of shape[:-1], c of shape[:-2] + shape[-1:]
        // and velocity; r and c are scalar placeholders below rank 2.
        int r = w->shape.rank;
        if (r < 2)
            factored += n + 2;
        else
            factored += n + (w->shape.d[r - 1] ? n / w->shape.d[r - 1] : 0) +
                        (w->shape.d[r - 2] ? n / w->shape.d[r - 2] : 0);
    }
    int64_t vars = slots * trainable + (same_icase(name, "adafactor") ? factored : 0);
    // iteration (int64, 8 bytes) always exists; learning_rate (float32)
    // unless it is a schedule (BaseOptimizer.__init__ makes a variable of a
    // float only).
    Span at;
    if (!o || !is_schedule(object_arg(o, "learning_rate", &at)))
        scalars++;
    *count = 1 + scalars + vars;
    *bytes = 8.0 + 4.0 * (double)(scalars + vars);
    return true;
}

#define FIT_SIG                                                                         \
    "x=None, y=None, batch_size=None, epochs=1, verbose='auto', callbacks=None, "     \
    "validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, "    \
    "sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None, " \
    "validation_batch_size=None, validation_freq=1"

// model.fit(...): arguments are validated and stored for the training code.
// In a .kdl file x and y name data files (strings) or are omitted.
static Value *m_fit(ARGS) {
    Layer *m = self_layer(self);
    if (!need_model(c, m, "fit", call))
        return v_error();
    FitCfg *f = arena_alloc(c->arena, sizeof *f);
    f->sig = sig_cached(c, FIT_SIG);
    f->args = a;
    Span *spans = sp;
    f->spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(f->sig->nparams + 1));
    memcpy(f->spans, sp, sizeof(Span) * (size_t)f->sig->nparams);
    Sig *sig = f->sig;
    bool ok = true;
    for (int i = 0; i < 2; i++) {
        Value *v = f->args[i];
        if (v->kind != V_NONE && v->kind != V_STR && v->kind != V_ERROR) {
            error_at(c, spans[i], "Model.fit(): in a .kdl file `%s` must be a data file name (a "
                     "string) or omitted, got %s", sig->params[i].name, value_type_name(v));
            ok = false;
        }
    }
    struct { int idx; int64_t min; } ints[] = {{2, 1}, {3, 0}, {11, 0}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        Value *v = f->args[ints[i].idx];
        if (v->kind == V_NONE && ints[i].idx == 2)
            continue;
        if (v->kind != V_INT || v->u.i < ints[i].min) {
            error_at(c, spans[ints[i].idx], "Model.fit(): `%s` must be an integer >= %lld, got %s",
                     sig->params[ints[i].idx].name, (long long)ints[i].min, value_repr(c, v));
            ok = false;
        }
    }
    Value *vs = f->args[6];
    if (!is_number(vs) || num_val(vs) < 0 || num_val(vs) >= 1) {
        error_at(c, spans[6], "Model.fit(): `validation_split` must be a float in [0, 1), got %s",
                 value_repr(c, vs));
        ok = false;
    }
    if (f->args[8]->kind != V_BOOL) {
        error_at(c, spans[8], "Model.fit(): `shuffle` must be True or False, got %s",
                 value_repr(c, f->args[8]));
        ok = false;
    }
    if (!ok)
        return v_error();
    if (!m->model->compile) {
        error_at(c, call, "You must call `compile()` before using the model.");
        return v_error();
    }
    f->span = call;
    m->model->fit = f;
    m->model->optimizer_built = true;
    return v_none();
}

static Builtin model_methods[] = {
    {"Model.summary", "line_length=None, positions=None, print_fn=None, expand_nested=False, "
                "show_trainable=False, layer_range=None", m_summary},
    {"Model.get_layer", "name=None, index=None", m_get_layer},
    {"Model.build", "input_shape", m_build},
    {"Model.add", "layer", m_add},
    {"Model.pop", "", m_pop},
    {"Model.count_params", "", m_count_params},
    {"Model.compile", "optimizer='rmsprop', loss=None, loss_weights=None, metrics=None, "
                "weighted_metrics=None, run_eagerly=False, steps_per_execution=1, "
                "jit_compile='auto', auto_scale_loss=True", m_compile},
    {"Model.fit", FIT_SIG, m_fit},
    {NULL, NULL, NULL},
};

static Builtin count_params_builtin = {"Layer.count_params", "", m_count_params};
static Builtin layer_build_builtin = {"Layer.build", "input_shape", m_build};
static Builtin model_build_builtin = {"Model.build", "input_shape", m_build};

static Value *bound(Ctx *c, Value *self, Builtin *b) {
    Value *fn = mkval(c, V_BUILTIN);
    fn->u.builtin = b;
    Value *m = mkval(c, V_METHOD);
    m->u.method.self = self;
    m->u.method.fn = fn;
    return m;
}

static Value *layer_list(Ctx *c, Vec *layers) {
    Value *r = v_list(c);
    for (int i = 0; i < layers->len; i++)
        list_append(c, r, v_layer(c, layers->data[i]));
    return r;
}

static Value *tensors_list(Ctx *c, Tensor **ts, int n) {
    Value *r = v_list(c);
    for (int i = 0; i < n; i++)
        list_append(c, r, v_tensor(c, ts[i]));
    return r;
}

// layer.output / layer.input: Keras requires exactly one inbound node.
static Value *node_io(Ctx *c, Layer *l, bool output, Span at) {
    if (l->model && l->nodes.len == 0 && l->model->graph) {
        Graph *g = l->model->graph;
        return output ? g->out_struct : g->in_struct;
    }
    if (l->nodes.len == 0) {
        error_at(c, at, "The layer %s has never been called and thus has no defined %s.", l->name,
                 output ? "output" : "input");
        return v_error();
    }
    if (l->nodes.len > 1 && !(l->cls && (l->cls->flags & LC_INPUT))) {
        error_at(c, at, "The layer %s has multiple inbound nodes, with different %s. Use "
                 "get_%s_at(node_index) instead.", l->name, output ? "outputs" : "inputs",
                 output ? "output" : "input");
        return v_error();
    }
    CallNode *n = l->nodes.data[0];
    if (output)
        return n->out_struct;
    if (n->nin == 0)
        return n->out_struct;   // an InputLayer's input is its output
    return n->in_struct;
}

// A weight as a compile-time value: a keras.Variable's name, path, shape,
// dtype and trainable flag (its values exist only at run time).
static Value *variable_value(Ctx *c, Weight *w) {
    static const char *sig = "name, path, shape, dtype, trainable";
    Object *o = arena_alloc(c->arena, sizeof *o);
    o->module = "variables";
    o->cls = "Variable";
    o->sig = sig_cached(c, sig);
    o->args = arena_alloc(c->arena, sizeof(Value *) * 5);
    o->args[0] = v_str(c, w->name);
    o->args[1] = v_str(c, arena_printf(c->arena, "%s/%s", layer_path(w->owner), w->name));
    o->args[2] = shape_to_value(c, &w->shape);
    o->args[3] = v_str(c, "float32");
    o->args[4] = v_bool(weight_is_trainable(w));
    Value *v = mkval(c, V_OBJECT);
    v->u.object = o;
    return v;
}

// layer.weights (which 0), .trainable_weights (1), .non_trainable_weights (2):
// Keras lists trainable weights first, then the others.
static Value *weights_list(Ctx *c, Layer *l, int which) {
    Vec ws = {0};
    model_weights(c, l, &ws);
    Value *r = v_list(c);
    for (int pass = 1; pass <= 2; pass++) {
        if (which && which != pass)
            continue;
        for (int i = 0; i < ws.len; i++) {
            Weight *w = ws.data[i];
            if (weight_is_trainable(w) == (pass == 1))
                list_append(c, r, variable_value(c, w));
        }
    }
    return r;
}

Value *layer_get_attr(Ctx *c, Value *self, const char *name, Span at) {
    Layer *l = self->u.layer;
    // User attributes and methods (subclasses) first.
    Value *v = dict_get_str(l->attrs, name);
    if (v)
        return v;
    if (l->ucls) {
        Value *m = dict_get_str(l->ucls->methods, name);
        // The class's own build(input_shape) runs inside Keras's build
        // wrapper, which also builds what call() uses (model_build_subclass).
        if (m && m->kind == V_FUNC && !strcmp(name, "build"))
            return bound(c, self, l->model && !l->model->custom_layer ? &model_build_builtin
                                                                      : &layer_build_builtin);
        if (m) {
            if (m->kind != V_FUNC)
                return m;
            Value *bm = mkval(c, V_METHOD);
            bm->u.method.self = self;
            bm->u.method.fn = m;
            return bm;
        }
    }
    return layer_base_attr(c, self, name, at);
}

// The attributes keras.Layer / keras.Model themselves provide (what
// super().name resolves to from a subclass).
Value *layer_base_attr(Ctx *c, Value *self, const char *name, Span at) {
    Layer *l = self->u.layer;
    if (!strcmp(name, "name"))
        return v_str(c, l->name);
    if (!strcmp(name, "trainable"))
        return v_bool(l->trainable);
    if (!strcmp(name, "built"))
        return v_bool(model_is_built(l));
    if (!strcmp(name, "output"))
        return node_io(c, l, true, at);
    if (!strcmp(name, "input"))
        return node_io(c, l, false, at);
    if (!strcmp(name, "output_shape") || !strcmp(name, "input_shape")) {
        bool o = name[0] == 'o';
        if (l->model && l->model->graph) {
            Graph *g = l->model->graph;
            Tensor *t = o ? g->outputs[0] : g->inputs[0];
            if ((o ? g->noutputs : g->ninputs) == 1)
                return shape_to_value(c, &t->shape);
            Value *r = v_list(c);
            for (int i = 0; i < (o ? g->noutputs : g->ninputs); i++)
                list_append(c, r, shape_to_value(c, &(o ? g->outputs : g->inputs)[i]->shape));
            return r;
        }
        Value *io = node_io(c, l, o, at);
        if (io->kind == V_TENSOR)
            return shape_to_value(c, &io->u.tensor->shape);
        return io->kind == V_ERROR ? io : v_error();
    }
    if (l->model && !l->model->custom_layer) {
        Model *m = l->model;
        if (!strcmp(name, "layers")) {
            layer_refresh_tracked(c, l);
            return layer_list(c, &m->layers);
        }
        if (!strcmp(name, "inputs") || !strcmp(name, "outputs")) {
            if (!m->graph) {
                error_at(c, at, "%s is not built yet: it has no %s", layer_label(c, l), name);
                return v_error();
            }
            return name[0] == 'i' ? tensors_list(c, m->graph->inputs, m->graph->ninputs)
                                  : tensors_list(c, m->graph->outputs, m->graph->noutputs);
        }
        for (Builtin *b = model_methods; b->name; b++)
            if (!strcmp(b->name + 6, name))
                return bound(c, self, b);
    } else if (!strcmp(name, "count_params")) {
        return bound(c, self, &count_params_builtin);
    } else if (!strcmp(name, "build")) {
        return bound(c, self, &layer_build_builtin);
    }
    // Bidirectional's two layers (Keras's attributes).
    if (l->cls && !strcmp(l->cls->name, "Bidirectional") && l->tracked.len == 2 &&
        (!strcmp(name, "forward_layer") || !strcmp(name, "backward_layer")))
        return v_layer(c, l->tracked.data[name[0] == 'f' ? 0 : 1]);
    // Constructor arguments read back as attributes (layer.units, .filters);
    // not `weights` (Embedding's and Bidirectional's initial arrays), which
    // is the layer's variables in Keras.
    if (l->sig && strcmp(name, "weights")) {
        int k = -1;
        for (int i = 0; i < l->sig->nparams; i++)
            if (!strcmp(l->sig->params[i].name, name))
                k = i;
        if (k >= 0)
            return l->args[k];
    }
    if (!strcmp(name, "weights") || !strcmp(name, "trainable_weights") ||
        !strcmp(name, "non_trainable_weights"))
        return weights_list(c, l, name[0] == 'w' ? 0 : name[0] == 't' ? 1 : 2);
    // A built layer's own variables by name: dense.kernel, bn.moving_mean.
    for (int i = 0; i < l->nweights; i++)
        if (!strcmp(l->weights[i]->name, name))
            return variable_value(c, l->weights[i]);
    if (!strcmp(name, "add_weight") || !strcmp(name, "add_variable")) {
        error_at(c, at, "%s is not supported by kdl: a custom layer's own weights could only be "
                 "used through keras.ops, which kdl does not support; compose built-in layers "
                 "(Dense, Conv2D, ...) in the layer instead", name);
        return v_error();
    }
    error_at(c, at, "'%s' object has no attribute '%s'", l->class_name, name);
    return v_error();
}

// Track layers assigned to a subclass instance (also inside lists/dicts).
static void track_layers(Ctx *c, Layer *owner, Value *v, int depth) {
    if (depth > 32)
        return;
    if (v->kind == V_LAYER) {
        if (v->u.layer == owner)
            return;
        for (int i = 0; i < owner->tracked.len; i++)
            if (owner->tracked.data[i] == v->u.layer)
                return;
        vec_push(c->arena, &owner->tracked, v->u.layer);
    } else if (v->kind == V_LIST || v->kind == V_TUPLE) {
        for (int i = 0; i < list_len(v); i++)
            track_layers(c, owner, list_get(v, i), depth + 1);
    } else if (v->kind == V_DICT) {
        for (int i = 0; i < v->u.dict->vals.len; i++)
            track_layers(c, owner, v->u.dict->vals.data[i], depth + 1);
    }
}

// Keras tracks the layers of a subclass in attribute-assignment order,
// including layers appended later to a list attribute (a TrackedList), so
// the list is recomputed from the attributes whenever it is needed.
void layer_refresh_tracked(Ctx *c, Layer *l) {
    if (!l->ucls)
        return;
    l->tracked.len = 0;
    for (int i = 0; i < l->attrs->vals.len; i++)
        track_layers(c, l, l->attrs->vals.data[i], 0);
    // A functional subclass's layers are its graph's, not its attributes'.
    if (l->model && l->model->kind == MODEL_SUBCLASS) {
        l->model->layers.len = 0;
        for (int i = 0; i < l->tracked.len; i++)
            vec_push(c->arena, &l->model->layers, l->tracked.data[i]);
    }
}

void layer_set_attr(Ctx *c, Layer *l, const char *name, Value *v, Span name_span, Span at) {
    if (v->kind == V_ERROR)
        return;
    if (!strcmp(name, "trainable")) {
        if (v->kind != V_BOOL) {
            error_at(c, at, "`trainable` must be True or False, got %s", value_repr(c, v));
            return;
        }
        layer_set_trainable(l, v->u.b);
        return;
    }
    if (!strcmp(name, "built")) {
        // Keras 2 style `self.built = True` at the end of build(): accepted;
        // kdl itself decides when a layer is built.
        if (v->kind != V_BOOL)
            error_at(c, at, "`built` must be True or False, got %s", value_repr(c, v));
        return;
    }
    if (!strcmp(name, "name") || !strcmp(name, "layers") || !strcmp(name, "inputs") ||
        !strcmp(name, "outputs") || !strcmp(name, "output") || !strcmp(name, "input")) {
        error_at(c, name_span, "cannot set attribute '%s' of %s (it is read-only)", name,
                 layer_label(c, l));
        return;
    }
    if (l->ucls && v->kind == V_LAYER && l == v->u.layer) {
        error_at(c, at, "cannot assign a layer to an attribute of itself");
        return;
    }
    dict_set(c, l->attrs, v_str(c, name), v);
    layer_refresh_tracked(c, l);
}

// ---- keras.Model / keras.Sequential / base init -------------------------------------------

static Value *model_ctor(Ctx *c, Arg *args, int nargs, Span call) {
    Sig *sig = sig_cached(c, "inputs=None, outputs=None, name=None, trainable=True");
    Value *v[4];
    Span s[4];
    if (!sig_bind(c, sig, "keras.Model()", args, nargs, call, v, s))
        return v_error();
    if (v[0]->kind == V_NONE || v[1]->kind == V_NONE) {
        error_at(c, call, "keras.Model(...) needs `inputs` and `outputs` (the functional API); to "
                 "subclass, write `class MyModel(keras.Model):`");
        return v_error();
    }
    const char *name;
    if (!check_name(c, v[2], s[2], &name))
        return v_error();
    if (v[3]->kind != V_BOOL) {
        error_at(c, s[3], "`trainable` must be True or False");
        return v_error();
    }
    return model_functional(c, v[0], v[1], name, v[3]->u.b, call, s[0], s[1]);
}

static Value *sequential_ctor(Ctx *c, Arg *args, int nargs, Span call) {
    Sig *sig = sig_cached(c, "layers=None, trainable=True, name=None");
    Value *v[3];
    Span s[3];
    if (!sig_bind(c, sig, "keras.Sequential()", args, nargs, call, v, s))
        return v_error();
    const char *name;
    if (!check_name(c, v[2], s[2], &name))
        return v_error();
    Layer *m = model_new_sequential(c, name, call);
    Value *items = v[0];
    if (items->kind == V_LAYER || items->kind == V_TENSOR) {
        Value *l = v_list(c);
        list_append(c, l, items);
        items = l;
    }
    if (items->kind == V_LIST || items->kind == V_TUPLE) {
        // Keras adds every layer without rebuilding, then builds once.
        Value *list = items;
        // Element spans: the list literal's items if we can see them.
        for (int i = 0; i < list_len(list); i++) {
            Span at = s[0];
            if (list->kind == V_LIST && list->u.list->spans && i < list->u.list->nspans)
                at = list->u.list->spans[i];
            m->model->deferred = true;
            if (!sequential_add(c, m, list_get(list, i), at))
                break;
        }
        m->model->deferred = false;
        sequential_finish(c, m, call);
    } else if (items->kind != V_NONE && items->kind != V_ERROR) {
        error_at(c, s[0], "keras.Sequential(layers=...) expects a list of layers, got %s",
                 value_type_name(items));
    }
    if (v[1]->kind == V_BOOL && !v[1]->u.b)
        layer_set_trainable(m, false);
    return v_layer(c, m);
}

Value *keras_construct(Ctx *c, Value *cls, Arg *args, int nargs, Span call) {
    switch (cls->u.cls.kind) {
    case CLS_MODEL:
        return model_ctor(c, args, nargs, call);
    case CLS_SEQUENTIAL:
        return sequential_ctor(c, args, nargs, call);
    case CLS_OBJECT:
        return object_construct(c, (ObjectClass *)cls->u.cls.object, args, nargs, call);
    case CLS_BASE_LAYER:
        error_at(c, call, "keras.layers.Layer cannot be instantiated directly; subclass it");
        return v_error();
    default:
        unreachable();
    }
}

// Keras's functional_init_arguments: Model.__init__ builds a Functional when
// given two positional arguments, one and `outputs=`, or `inputs=` and
// `outputs=`.
static bool functional_init_args(Arg *args, int nargs) {
    int npos = 0;
    bool in_kw = false, out_kw = false;
    for (int i = 0; i < nargs; i++) {
        if (!args[i].kw)
            npos++;
        else if (!strcmp(args[i].kw, "inputs"))
            in_kw = true;
        else if (!strcmp(args[i].kw, "outputs"))
            out_kw = true;
    }
    return npos == 2 || (npos == 1 && out_kw) || (in_kw && out_kw);
}

// super().__init__(inputs, outputs, ...) in a keras.Model subclass (or the
// subclass called with them when it has no __init__): as in Keras, the
// model becomes a Functional model of that class, its layers the graph's.
static void functional_subclass_init(Ctx *c, Layer *l, Arg *args, int nargs, Span call) {
    Sig *sig = sig_cached(c, "inputs, outputs, name=None, trainable=True");
    Value *v[4];
    Span s[4];
    if (!sig_bind(c, sig, "keras.Model.__init__()", args, nargs, call, v, s)) {
        l->model->broken = true;
        return;
    }
    const char *name;
    if (!check_name(c, v[2], s[2], &name) ||
        (v[3]->kind != V_BOOL && (error_at(c, s[3], "`trainable` must be True or False"), true))) {
        l->model->broken = true;
        return;
    }
    if (l->model->kind != MODEL_SUBCLASS) {
        error_at(c, call, "%s is already a functional model: super().__init__(inputs, outputs) "
                 "may run once", layer_label(c, l));
        return;
    }
    // Keras would run the subclass's own call() instead of the graph; kdl
    // runs the graph, so an override is refused rather than ignored.
    Value *own_call = dict_get_str(l->ucls->methods, "call");
    if (own_call && own_call->kind == V_FUNC) {
        error_at(c, call, "%s defines call() and also passes inputs and outputs to "
                 "keras.Model.__init__(); kdl runs the functional graph and does not support "
                 "overriding call() in a functional subclass", l->class_name);
        note_at(c, own_call->u.func->def->span, "call() is defined here");
        l->model->broken = true;
        return;
    }
    if (name)
        l->name = name;
    if (!functional_init(c, l, v[0], v[1], v[3]->u.b, call, s[0], s[1])) {
        l->model->broken = true;
        return;
    }
    if (!l->name)
        l->name = auto_name(c, snake_case(c->arena, l->class_name));
}

void keras_base_init(Ctx *c, Layer *l, Arg *args, int nargs, Span call) {
    if (l->model && !l->model->custom_layer && functional_init_args(args, nargs)) {
        functional_subclass_init(c, l, args, nargs, call);
        return;
    }
    Sig *sig = sig_cached(c, "name=None, trainable=True, dtype=None, autocast=True");
    Value *v[4];
    Span s[4];
    const char *what = l->model && !l->model->custom_layer ? "keras.Model.__init__()"
                                                           : "keras.layers.Layer.__init__()";
    if (!sig_bind(c, sig, what, args, nargs, call, v, s))
        return;
    const char *name;
    if (!check_name(c, v[0], s[0], &name))
        return;
    if (name)
        l->name = name;
    if (v[1]->kind == V_BOOL)
        l->trainable = v[1]->u.b;
    if (!l->name)
        l->name = auto_name(c, snake_case(c->arena, l->class_name));
}

// super().__init__(*args, **kwargs): positional arguments first, as given.
static Value *b_base_init(ARGS) {
    Value *pos = a[0], *kwargs = a[1];
    int np = list_len(pos), n = kwargs->u.dict->keys.len;
    Arg *args = arena_alloc(c->arena, sizeof(Arg) * (size_t)(np + n + 1));
    for (int i = 0; i < np; i++)
        args[i] = (Arg){NULL, list_get(pos, i), call};
    for (int i = 0; i < n; i++) {
        Value *k = kwargs->u.dict->keys.data[i];
        args[np + i] = (Arg){k->u.str.s, kwargs->u.dict->vals.data[i], call};
    }
    keras_base_init(c, self->u.layer, args, np + n, call);
    return v_none();
}

Builtin keras_base_init_builtin = {"super().__init__", "*args, **kwargs", b_base_init};

// keras.saving.register_keras_serializable(package=..., name=...) -> a
// decorator that returns its argument unchanged.
static Value *b_identity(ARGS) {
    return a[0];
}
static Builtin identity_builtin = {"register_keras_serializable.<decorator>", "obj", b_identity};
static Value *b_register(ARGS) {
    Value *fn = mkval(c, V_BUILTIN);
    fn->u.builtin = &identity_builtin;
    return fn;
}

// layers.add([...]) and friends: construct the layer with the keyword
// arguments, then call it on the inputs.
static Value *b_layer_func(Ctx *c, const char *cls_name, Value *inputs, Value *kwargs, Span call) {
    const LayerClass *cls = layer_class_find(cls_name);
    int n = kwargs->u.dict->keys.len;
    Arg *args = arena_alloc(c->arena, sizeof(Arg) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        Value *k = kwargs->u.dict->keys.data[i];
        args[i] = (Arg){k->u.str.s, kwargs->u.dict->vals.data[i], call};
    }
    Value *l = layer_construct(c, cls, args, n, call);
    if (l->kind == V_ERROR)
        return l;
    return layer_call(c, l->u.layer, inputs, NULL, 0, call);
}

#define LAYER_FUNC(fname, cname) \
    static Value *b_##fname(ARGS) { return b_layer_func(c, cname, a[0], a[1], call); }
LAYER_FUNC(add, "Add")
LAYER_FUNC(subtract, "Subtract")
LAYER_FUNC(multiply, "Multiply")
LAYER_FUNC(average, "Average")
LAYER_FUNC(maximum, "Maximum")
LAYER_FUNC(minimum, "Minimum")
LAYER_FUNC(concatenate, "Concatenate")

// keras.utils.set_random_seed(seed): the seed initial weights use later.
static Value *b_set_seed(ARGS) {
    if (a[0]->kind != V_INT || a[0]->u.i < 0) {
        error_at(c, sp[0], "set_random_seed: `seed` must be a non-negative integer, got %s",
                 value_repr(c, a[0]));
        return v_error();
    }
    c->random_seed = a[0]->u.i;
    c->has_random_seed = true;
    return v_none();
}

// keras.backend.clear_session(): as in Keras, auto-name counters start over.
static Value *b_clear_session(ARGS) {
    c->name_uids = arena_alloc(c->arena, sizeof(Dict));
    return v_none();
}

static Builtin keras_builtins[] = {
    {"keras.Input",
     "shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None, "
     "name=None, tensor=None, optional=False",
     b_input},
    {"keras.layers.add", "inputs, **kwargs", b_add},
    {"keras.layers.subtract", "inputs, **kwargs", b_subtract},
    {"keras.layers.multiply", "inputs, **kwargs", b_multiply},
    {"keras.layers.average", "inputs, **kwargs", b_average},
    {"keras.layers.maximum", "inputs, **kwargs", b_maximum},
    {"keras.layers.minimum", "inputs, **kwargs", b_minimum},
    {"keras.layers.concatenate", "inputs, **kwargs", b_concatenate},
    {"keras.saving.register_keras_serializable", "package='Custom', name=None", b_register},
    {"keras.utils.set_random_seed", "seed", b_set_seed},
    {"keras.backend.clear_session", "free_memory=True", b_clear_session},
    {NULL, NULL, NULL},
};

// ---- the module tree ----------------------------------------------------------------------

static Module *module_new(Ctx *c, const char *name) {
    Module *m = arena_alloc(c->arena, sizeof *m);
    m->name = name;
    m->attrs = arena_alloc(c->arena, sizeof(Dict));
    return m;
}

static void put(Ctx *c, Module *m, const char *name, Value *v) {
    dict_set(c, m->attrs, v_str(c, name), v);
}

Value *module_value(Ctx *c, Module *m) {
    if (!m->value) {
        m->value = mkval(c, V_MODULE);
        m->value->u.module = m;
    }
    return m->value;
}

static Value *class_value(Ctx *c, ClassKind k, const char *name) {
    Value *v = mkval(c, V_CLASS);
    v->u.cls.kind = k;
    v->u.cls.name = name;
    return v;
}

static Value *builtin_value(Ctx *c, const char *full) {
    for (Builtin *b = keras_builtins; b->name; b++)
        if (!strcmp(b->name, full)) {
            Value *v = mkval(c, V_BUILTIN);
            v->u.builtin = b;
            return v;
        }
    die("no keras builtin %s", full);
}

void keras_init(Ctx *c) {
    Module *keras = module_new(c, "keras");
    Module *layers = module_new(c, "keras.layers");
    Module *models = module_new(c, "keras.models");
    enum { NMODS = 10 };
    Module *mods[NMODS];
    static const char *const obj_modules[NMODS] = {
        "optimizers",  "losses", "metrics", "initializers", "regularizers",
        "constraints", "activations", "random", "ops", "optimizers.schedules"};
    for (int i = 0; i < NMODS; i++)
        mods[i] = module_new(c, arena_printf(c->arena, "keras.%s", obj_modules[i]));
    for (int i = 0; i < NMODS - 1; i++)
        put(c, keras, obj_modules[i], module_value(c, mods[i]));
    put(c, mods[0], "schedules", module_value(c, mods[NMODS - 1]));
    Module *saving = module_new(c, "keras.saving");
    Module *utils = module_new(c, "keras.utils");
    Module *backend = module_new(c, "keras.backend");
    c->keras = keras;
    c->modules = arena_alloc(c->arena, sizeof(Dict));
    dict_set(c, c->modules, v_str(c, "keras"), module_value(c, keras));
    dict_set(c, c->modules, v_str(c, "keras.layers"), module_value(c, layers));
    dict_set(c, c->modules, v_str(c, "keras.models"), module_value(c, models));
    dict_set(c, c->modules, v_str(c, "keras.saving"), module_value(c, saving));
    dict_set(c, c->modules, v_str(c, "keras.utils"), module_value(c, utils));
    dict_set(c, c->modules, v_str(c, "keras.backend"), module_value(c, backend));
    put(c, keras, "utils", module_value(c, utils));
    put(c, keras, "backend", module_value(c, backend));
    put(c, utils, "set_random_seed", builtin_value(c, "keras.utils.set_random_seed"));
    put(c, backend, "clear_session", builtin_value(c, "keras.backend.clear_session"));
    for (int i = 0; i < NMODS; i++)
        dict_set(c, c->modules, v_str(c, mods[i]->name), module_value(c, mods[i]));

    put(c, keras, "layers", module_value(c, layers));
    put(c, keras, "models", module_value(c, models));
    put(c, keras, "saving", module_value(c, saving));
    Value *input = builtin_value(c, "keras.Input");
    Value *model = class_value(c, CLS_MODEL, "Model");
    Value *seq = class_value(c, CLS_SEQUENTIAL, "Sequential");
    put(c, keras, "Input", input);
    put(c, keras, "Model", model);
    put(c, keras, "Sequential", seq);
    put(c, models, "Model", model);
    put(c, models, "Sequential", seq);
    put(c, layers, "Input", input);
    put(c, layers, "Layer", class_value(c, CLS_BASE_LAYER, "Layer"));
    put(c, keras, "Layer", class_value(c, CLS_BASE_LAYER, "Layer"));
    put(c, saving, "register_keras_serializable",
        builtin_value(c, "keras.saving.register_keras_serializable"));
    for (int i = 0; i < num_layer_classes; i++) {
        Value *v = class_value(c, CLS_LAYER, layer_classes[i].name);
        v->u.cls.layer = &layer_classes[i];
        put(c, layers, layer_classes[i].name, v);
    }
    for (const LayerFunc *f = layer_aliases; f->name; f++) {
        Value *v = class_value(c, CLS_LAYER, f->cls);
        v->u.cls.layer = layer_class_find(f->cls);
        put(c, layers, f->name, v);
    }
    for (const LayerFunc *f = layer_funcs; f->name; f++)
        put(c, layers, f->name,
            builtin_value(c, arena_printf(c->arena, "keras.layers.%s", f->name)));
    for (ObjectClass *oc = object_classes; oc->name; oc++) {
        Value *v = class_value(c, CLS_OBJECT, oc->name);
        v->u.cls.object = oc;
        for (int i = 0; i < NMODS; i++)
            if (!strcmp(mods[i]->name + 6, oc->module))
                put(c, mods[i], oc->name, v);
    }
    // Function-style names: keras.losses.mse, keras.activations.relu, ...
    // evaluate to the same strings Keras accepts.
    for (int i = 0; loss_funcs[i]; i++)
        put(c, mods[1], loss_funcs[i], v_str(c, loss_funcs[i]));
    for (int i = 0; initializer_names[i]; i++)
        put(c, mods[3], initializer_names[i], v_str(c, initializer_names[i]));
    for (int i = 0; i < ACT_COUNT; i++)
        put(c, mods[6], act_name((ActKind)i), v_str(c, act_name((ActKind)i)));
    put(c, mods[6], "swish", v_str(c, "silu"));
    put(c, mods[6], "hard_swish", v_str(c, "hard_silu"));
    static const char *const con_alias[][2] = {{"max_norm", "MaxNorm"},
                                                {"min_max_norm", "MinMaxNorm"},
                                                {"non_neg", "NonNeg"},
                                                {"unit_norm", "UnitNorm"}};
    for (int i = 0; i < 4; i++) {
        Value *cv = dict_get_str(mods[5]->attrs, con_alias[i][1]);
        put(c, mods[5], con_alias[i][0], cv);
    }
    put(c, mods[4], "l1", class_value(c, CLS_OBJECT, "L1"));
    put(c, mods[4], "l2", class_value(c, CLS_OBJECT, "L2"));
    put(c, mods[4], "l1_l2", class_value(c, CLS_OBJECT, "L1L2"));
    for (ObjectClass *oc = object_classes; oc->name; oc++) {
        if (!strcmp(oc->module, "regularizers")) {
            Value *v = dict_get_str(mods[4]->attrs, !strcmp(oc->name, "L1") ? "l1"
                                                    : !strcmp(oc->name, "L2") ? "l2" : "l1_l2");
            v->u.cls.object = oc;
        }
    }
}

Module *keras_module_lookup(Ctx *c, const char *dotted) {
    Value *v = dict_get_str(c->modules, dotted);
    return v ? v->u.module : NULL;
}

void report_bad_import(Ctx *c, const char *module, Span at) {
    if (!strcmp(module, "tensorflow") || !strncmp(module, "tensorflow.", 11) ||
        !strcmp(module, "tf_keras")) {
        error_at(c, at,
                 "module '%s' cannot be imported in a .kdl file; kdl implements Keras 3: "
                 "write `import keras` (tf.keras code: use `keras.` instead of `tf.keras.`)",
                 module);
        return;
    }
    if (!strncmp(module, "keras.", 6))
        error_at(c, at, "module '%s' is not available in kdl; available: keras, keras.layers, "
                 "keras.models, keras.optimizers, keras.optimizers.schedules, keras.losses, "
                 "keras.metrics, keras.activations, "
                 "keras.initializers, keras.regularizers, keras.constraints, keras.saving, "
                 "keras.utils, keras.backend, keras.ops, keras.random", module);
    else
        error_at(c, at, "module '%s' cannot be imported in a .kdl file (only keras and its "
                 "submodules can)", module);
}
