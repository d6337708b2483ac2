/*
 * layer_args.c - the helpers the layer table (layers.c) is written with:
 * activation names, the bound constructor arguments of a layer (larg_*:
 * typed getters that report Keras-worded errors at the argument), layer
 * labels for messages, and weights (creation order and parameter counts).
 *
 * Contract: a getter reports at most one error at the argument's span and
 * returns false; a poison (V_ERROR) argument returns false silently. Asking
 * for a name the signature lacks is a table bug (die()).
 */
#include "kdlc.h"

#include <ctype.h>
#include <string.h>

//
// Activations (activations.def plus Keras's aliases "swish" for silu and
// "hard_swish" for hard_silu)
//

static const char *const act_names[ACT_COUNT] = {
#define X(id, str) str,
#include "activations.def"
#undef X
};

const char *act_name(ActKind a) {
    if ((int)a < 0 || (int)a >= ACT_COUNT)
        die("bad activation %d", (int)a);
    return act_names[a];
}

bool act_lookup(const char *name, ActKind *out) {
    for (int i = 0; i < ACT_COUNT; i++) {
        if (!strcmp(act_names[i], name)) {
            *out = (ActKind)i;
            return true;
        }
    }
    if (!strcmp(name, "swish")) {
        *out = ACT_SILU;
        return true;
    }
    if (!strcmp(name, "hard_swish")) {
        *out = ACT_HARD_SILU;
        return true;
    }
    return false;
}

//
// Labels
//

const char *layer_label(Ctx *c, const Layer *l) {
    const char *cls = l->class_name ? l->class_name : l->cls ? l->cls->name : "Layer";
    return arena_printf(c->arena, "%s (%s)", l->name ? l->name : "?", cls);
}

// The class name that prefixes constructor errors ("Dense: ...").
static const char *cname(const Layer *l) {
    return l->cls ? l->cls->name : l->class_name ? l->class_name : "Layer";
}

//
// Bound constructor arguments
//

static int param_find(const Layer *l, const char *name) {
    if (!l->sig)
        die("layer %s has no bound signature", cname(l));
    for (int i = 0; i < l->sig->nparams; i++)
        if (!strcmp(l->sig->params[i].name, name))
            return i;
    return -1;
}

static int param_index(const Layer *l, const char *name) {
    int i = param_find(l, name);
    if (i < 0)
        die("%s has no constructor argument `%s`", cname(l), name);
    if (!l->args || !l->args[i])
        die("%s: argument `%s` was not bound", cname(l), name);
    return i;
}

Value *larg(const Layer *l, const char *name) {
    return l->args[param_index(l, name)];
}

Span larg_span(const Layer *l, const char *name) {
    int i = param_index(l, name);
    return l->arg_spans ? l->arg_spans[i] : l->span;
}

bool larg_int(Ctx *c, Layer *l, const char *name, int64_t *out) {
    Value *v = larg(l, name);
    if (v->kind == V_ERROR)
        return false;
    if (v->kind != V_INT) {
        error_at(c, larg_span(l, name), "%s: argument `%s` must be an integer, received %s=%s",
                 cname(l), name, name, value_repr(c, v));
        return false;
    }
    *out = v->u.i;
    return true;
}

bool larg_float(Ctx *c, Layer *l, const char *name, double *out) {
    Value *v = larg(l, name);
    if (v->kind == V_ERROR)
        return false;
    if (v->kind != V_INT && v->kind != V_FLOAT) {
        error_at(c, larg_span(l, name), "%s: argument `%s` must be a number, received %s=%s",
                 cname(l), name, name, value_repr(c, v));
        return false;
    }
    *out = v->kind == V_INT ? (double)v->u.i : v->u.f;
    return true;
}

// Keras tests flags with Python truthiness, so ints and None pass too.
bool larg_bool(Ctx *c, Layer *l, const char *name, bool *out) {
    Value *v = larg(l, name);
    switch (v->kind) {
    case V_ERROR: return false;
    case V_BOOL: *out = v->u.b; return true;
    case V_INT: *out = v->u.i != 0; return true;
    case V_NONE: *out = false; return true;
    default: break;
    }
    error_at(c, larg_span(l, name), "%s: argument `%s` must be a boolean, received %s=%s",
             cname(l), name, name, value_repr(c, v));
    return false;
}

// Whether Python's int() takes the string: optional blanks, a sign, digits.
static bool is_int_literal(const char *s) {
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '+' || *s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    while (isspace((unsigned char)*s))
        s++;
    return !*s;
}

// Keras's standardize_tuple, minus the range check (see arg_tuple). The
// message is Keras's f-string, so values print as str(), and an element that
// int() rejects is named with no separator before "including", as in Keras.
bool larg_ints(Ctx *c, Layer *l, const char *name, int n, int64_t *out) {
    Value *v = larg(l, name);
    if (v->kind == V_ERROR)
        return false;
    if (v->kind == V_INT) {
        for (int i = 0; i < n; i++)
            out[i] = v->u.i;
        return true;
    }
    const char *bad = "";
    if ((v->kind == V_TUPLE || v->kind == V_LIST) && list_len(v) == n) {
        bool ok = true;
        for (int i = 0; i < n; i++) {
            Value *e = list_get(v, i);
            if (e->kind == V_ERROR)
                return false;
            if (e->kind != V_INT)
                ok = false;
            else
                out[i] = e->u.i;
            // int() accepts floats, bools and integer strings; None,
            // containers, other strings, ... raise.
            if (!*bad && e->kind != V_INT && e->kind != V_FLOAT && e->kind != V_BOOL
                && !(e->kind == V_STR && is_int_literal(e->u.str.s)))
                bad = arena_printf(c->arena, "including element %s of type <class '%s'>",
                                   value_str(c, e), value_type_name(e));
        }
        if (ok)
            return true;
    }
    error_at(c, larg_span(l, name), "%s: The `%s` argument must be a tuple of %d integers. "
             "Received %s=%s%s", cname(l), name, n, name, value_str(c, v), bad);
    return false;
}

static bool streq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

bool larg_choice(Ctx *c, Layer *l, const char *name, const char *const *choices, int *out) {
    Value *v = larg(l, name);
    if (v->kind == V_ERROR)
        return false;
    if (v->kind == V_STR) {
        for (int i = 0; choices[i]; i++) {
            if (streq_nocase(v->u.str.s, choices[i])) {
                *out = i;
                return true;
            }
        }
    }
    Buf b = {0};
    for (int i = 0; choices[i]; i++)
        buf_printf(c->arena, &b, "%s'%s'", i ? ", " : "", choices[i]);
    error_at(c, larg_span(l, name), "%s: The `%s` argument must be one of {%s}. Received: %s=%s",
             cname(l), name, buf_str(c->arena, &b), name, value_repr(c, v));
    return false;
}

// None means linear (activations.get(None)); a string is looked up exactly
// (Keras is case-sensitive here); a builtin such as keras.activations.relu
// is looked up by its last dotted component.
bool larg_activation(Ctx *c, Layer *l, const char *name, ActKind *out) {
    Value *v = larg(l, name);
    const char *id = NULL;
    switch (v->kind) {
    case V_ERROR:
        return false;
    case V_NONE:
        *out = ACT_LINEAR;
        return true;
    case V_STR:
        id = v->u.str.s;
        break;
    case V_BUILTIN: {
        const char *dot = strrchr(v->u.builtin->name, '.');
        id = dot ? dot + 1 : v->u.builtin->name;
        break;
    }
    default:
        break;
    }
    if (id && act_lookup(id, out))
        return true;
    Buf b = {0};
    for (int i = 0; i < ACT_COUNT; i++)
        buf_printf(c->arena, &b, "%s, ", act_names[i]);
    buf_puts(c->arena, &b, "swish, hard_swish");
    error_at(c, larg_span(l, name), "%s: Could not interpret activation function identifier: %s "
             "(valid names: %s)", cname(l), value_str(c, v), buf_str(c->arena, &b));
    return false;
}

//
// Weights
//

Weight *layer_add_weight(Ctx *c, Layer *l, const char *name, const Shape *shape,
                         bool trainable, const char *init_arg) {
    Weight *w = arena_alloc(c->arena, sizeof *w);
    w->name = name;
    w->shape = *shape;
    w->trainable = trainable;
    w->initializer = init_arg ? larg(l, init_arg) : NULL;
    w->owner = l;
    // Keras's layer.weights is trainable_weights + non_trainable_weights.
    int at = l->nweights;
    if (trainable)
        for (at = 0; at < l->nweights && l->weights[at]->trainable; at++)
            ;
    Weight **ws = arena_alloc(c->arena, sizeof *ws * (size_t)(l->nweights + 1));
    for (int i = 0, j = 0; i <= l->nweights; i++)
        ws[i] = i == at ? w : l->weights[j++];
    l->weights = ws;
    l->nweights++;
    if (shape_numel(shape, 0) < 0)
        error_at(c, l->span, "%s: weight `%s` of shape %s is too large", layer_label(c, l), name,
                 shape_pystr(c->arena, shape));
    return w;
}

int64_t layer_count_params(const Layer *l, int which) {
    int64_t n = 0;
    for (int i = 0; i < l->nweights; i++) {
        const Weight *w = l->weights[i];
        int64_t k = shape_numel(&w->shape, 0);
        bool trainable = w->trainable && l->trainable;
        if (k >= 0 && (which == 0 || (which == 1) == trainable))
            n += k;
    }
    if (!l->model)     // a wrapper's wrapped layers
        for (int i = 0; i < l->tracked.len; i++)
            n += layer_count_params(l->tracked.data[i], which);
    return n;
}
