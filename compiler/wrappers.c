/*
 * wrappers.c - Keras's layer wrappers, Bidirectional and TimeDistributed:
 * the init, build and infer of their entries in the layer table (layers.c).
 *
 * A wrapper keeps the layers it wraps in Layer.tracked, so the summary, the
 * parameter counts, `weights`, trainable and get_layer see their weights as
 * the wrapper's (Keras: a wrapper's weights are its layers'). Each wrapped
 * layer has Layer.path = "<wrapper>/<its name>", the prefix of its weights'
 * names in weights files and C fields (bidirectional/forward_lstm/kernel).
 *
 * Bidirectional(layer) makes two copies of the recurrent layer from its
 * constructor arguments, as Keras 3 does (a config round trip): forward_<name>
 * and backward_<name> with go_backwards=True (or the given backward_layer).
 * Lowering (lower.c) runs them as two RNN ops, the backward one writing its
 * sequence in input order (Keras flips it), and merges them with a
 * Concatenate/Add/Multiply/Average op, so inference and training need no
 * kernels of their own.
 *
 * TimeDistributed(layer) applies the layer to every time slice. kdl supports
 * the layers whose computation on a (batch, time, ...) tensor is the same as
 * per slice, which lowering then runs on the whole tensor; any other layer is
 * reported at the constructor.
 */
#include "kdlc.h"
#include "layer_data.h"

#include <string.h>

const char *layer_path(const Layer *l) {
    return l->path ? l->path : l->name;
}

static bool is_rnn(const Layer *l) {
    return l->cls && (!strcmp(l->cls->name, "SimpleRNN") || !strcmp(l->cls->name, "LSTM") ||
                      !strcmp(l->cls->name, "GRU"));
}

// Keras's utils.removeprefix.
static const char *strip_prefix(const char *s, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) ? s : s + n;
}

// Keras's go_backwards flag and the flags Bidirectional compares.
static bool rnn_flag(const Layer *l, int slot) {
    return l->iv[slot] != 0;
}

// A copy of recurrent layer src from its constructor arguments (Keras
// serializes the layer and deserializes the config), named `name`, with
// go_backwards set when `backwards`.
static Layer *rnn_copy(Ctx *c, Layer *src, const char *name, bool backwards) {
    const Sig *sig = src->sig;
    Arg *args = arena_alloc(c->arena, sizeof(Arg) * (size_t)(sig->nparams + 1));
    int n = 0;
    for (int i = 0; i < sig->nparams; i++) {
        const char *p = sig->params[i].name;
        if (sig->params[i].kind == 1 || sig->params[i].kind == 2 || !strcmp(p, "input_shape") ||
            !strcmp(p, "input_dim"))
            continue;
        Value *v = src->args[i];
        if (!strcmp(p, "name"))
            v = v_str(c, name);
        else if (!strcmp(p, "go_backwards") && backwards)
            v = v_bool(true);
        else if (!strcmp(p, "trainable"))
            v = v_bool(src->trainable);
        args[n++] = (Arg){p, v, src->arg_spans[i]};
    }
    Value *r = layer_construct(c, src->cls, args, n, src->span);
    return r->kind == V_LAYER ? r->u.layer : NULL;
}

static void adopt(Ctx *c, Layer *w, Layer *inner) {
    inner->path = arena_printf(c->arena, "%s/%s", w->name, inner->name);
    vec_push(c->arena, &w->tracked, inner);
}

// Keras: "Unrecognized keyword arguments passed to Dense: {'go_backwards': True}"
// (the backward copy's config gets go_backwards, which only RNNs take).
static bool want_rnn(Ctx *c, Layer *w, Value *v, Span at) {
    Layer *l = v->u.layer;
    if (is_rnn(l))
        return true;
    error_at(c, at, "Unrecognized keyword arguments passed to %s: {'go_backwards': True}",
             l->class_name);
    note_at(c, at, "%s wraps a recurrent layer; kdl has SimpleRNN, LSTM and GRU", w->class_name);
    return false;
}

static bool no_activity_regularizer(Ctx *c, Layer *l) {
    Value *v = larg(l, "activity_regularizer");
    if (v->kind == V_NONE)
        return true;
    error_at(c, larg_span(l, "activity_regularizer"), "%s: an activity_regularizer on the "
             "wrapper is not supported by kdl (give it to the wrapped layer)", l->class_name);
    return false;
}

bool bidirectional_init(Ctx *c, Layer *l) {
    Value *layer = larg(l, "layer"), *back = larg(l, "backward_layer");
    Value *mode = larg(l, "merge_mode");
    if (layer->kind != V_LAYER) {
        error_at(c, larg_span(l, "layer"), "Please initialize `Bidirectional` layer with a "
                 "`keras.layers.Layer` instance. Received: %s", value_str(c, layer));
        return false;
    }
    if (back->kind != V_NONE && back->kind != V_LAYER) {
        error_at(c, larg_span(l, "backward_layer"), "`backward_layer` need to be a "
                 "`keras.layers.Layer` instance. Received: %s", value_str(c, back));
        return false;
    }
    static const char *const modes[] = {"concat", "sum", "mul", "ave"};
    int m = -1;
    if (mode->kind == V_NONE)
        m = BI_NONE;
    for (int i = 0; mode->kind == V_STR && i < 4; i++)
        if (!strcmp(mode->u.str.s, modes[i]))
            m = i;
    if (m < 0) {
        error_at(c, larg_span(l, "merge_mode"), "Invalid merge mode. Received: %s. Merge mode "
                 "should be one of {\"sum\", \"mul\", \"ave\", \"concat\", None}",
                 value_str(c, mode));
        return false;
    }
    if (larg(l, "weights")->kind != V_NONE) {
        error_at(c, larg_span(l, "weights"), "Bidirectional: initial `weights` are not supported "
                 "by kdl (load a weights file into the program instead)");
        return false;
    }
    if (!no_activity_regularizer(c, l) || !want_rnn(c, l, layer, larg_span(l, "layer")))
        return false;
    Layer *src = layer->u.layer;
    Layer *f = rnn_copy(c, src, arena_printf(c->arena, "forward_%s",
                                             strip_prefix(src->name, "forward_")), false);
    if (!f)
        return false;
    Layer *b;
    if (back->kind == V_NONE) {
        b = rnn_copy(c, src, arena_printf(c->arena, "backward_%s",
                                          strip_prefix(src->name, "backward_")), true);
        if (!b)
            return false;
    } else {
        if (!want_rnn(c, l, back, larg_span(l, "backward_layer")))
            return false;
        b = back->u.layer;
    }
    if (rnn_flag(f, RN_BACKWARDS) == rnn_flag(b, RN_BACKWARDS)) {
        error_at(c, l->span, "Forward layer and backward layer should have different "
                 "`go_backwards` value. Received: forward_layer.go_backwards %s, "
                 "backward_layer.go_backwards=%s", rnn_flag(f, RN_BACKWARDS) ? "True" : "False",
                 rnn_flag(b, RN_BACKWARDS) ? "True" : "False");
        return false;
    }
    static const struct { const char *name; int slot; } common[] = {
        {"stateful", RN_STATEFUL}, {"return_sequences", RN_RETSEQ},
        {"return_state", RN_RETSTATE},
    };
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
        bool fv = rnn_flag(f, common[i].slot), bv = rnn_flag(b, common[i].slot);
        if (fv != bv) {
            error_at(c, l->span, "Forward layer and backward layer are expected to have the same "
                     "value for attribute \"%s\", got \"%s\" for forward layer and \"%s\" for "
                     "backward layer", common[i].name, fv ? "True" : "False",
                     bv ? "True" : "False");
            return false;
        }
    }
    if (f->cls != b->cls || f->iv[RN_UNITS] != b->iv[RN_UNITS]) {
        error_at(c, larg_span(l, "backward_layer"), "Bidirectional: a backward_layer of another "
                 "class or another number of units than the forward layer (%s, %lld units; "
                 "%s, %lld units) is not supported by kdl", layer_label(c, f),
                 (long long)f->iv[RN_UNITS], layer_label(c, b), (long long)b->iv[RN_UNITS]);
        return false;
    }
    // Keras: zero_output_for_mask = return_sequences on both; the backward
    // sequence is flipped to input order before the merge.
    f->iv[RN_ZERO_MASKED] = f->iv[RN_RETSEQ];
    b->iv[RN_ZERO_MASKED] = b->iv[RN_RETSEQ];
    b->iv[RN_REVERSE_OUT] = b->iv[RN_RETSEQ];
    l->iv[BI_MERGE] = m;
    adopt(c, l, f);
    adopt(c, l, b);
    if (!l->trainable)
        layer_set_trainable(l, false);
    return true;
}

// The wrapped layers are built with the wrapper, on a shape their infer
// accepts (a failed first call of the wrapper then leaves them unbuilt too).
static bool build_inner(Ctx *c, Layer *w, Layer *inner, const Shape *in, Span at) {
    if (inner->built)
        return true;
    Shape out[MAX_IO];
    int nout = 1;
    if (!inner->cls->infer(c, inner, in, 1, out, &nout, at))
        return false;
    if (inner->cls->build && !inner->cls->build(c, inner, in, 1, at))
        return false;
    inner->built = true;
    inner->nbuild_in = 1;
    inner->build_in[0] = *in;
    (void)w;
    return true;
}

bool bidirectional_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    // (in[1..]: initial_state=, checked by bidirectional_infer)
    if (nin < 1 || l->tracked.len != 2)
        return true;
    return build_inner(c, l, l->tracked.data[0], in, at) &&
           build_inner(c, l, l->tracked.data[1], in, at);
}

bool bidirectional_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                         Span at) {
    if (l->tracked.len != 2)
        return false;
    Layer *f = l->tracked.data[0], *b = l->tracked.data[1];
    Shape fo[MAX_IO], bo[MAX_IO];
    int nf = 1, nb = 1;
    // Keras: the wrapper's input_spec is the layer's (ndim=3).
    if (nin == 1 && in[0].rank != 3) {
        error_at(c, at, "%s: Input 0 expected ndim=3, found ndim=%d. Full shape received: %s",
                 layer_label(c, l), in[0].rank, shape_pystr(c->arena, &in[0]));
        return false;
    }
    // initial_state= (in[1..]): Keras gives the first half of the list to
    // the forward layer, the rest to the backward one.
    Shape fin[MAX_IO], bin[MAX_IO];
    int half = (nin - 1) / 2, nfi = 1, nbi = 1;
    fin[0] = bin[0] = in[0];
    for (int i = 1; i < nin; i++) {
        if (i <= half)
            fin[nfi++] = in[i];
        else
            bin[nbi++] = in[i];
    }
    if (!f->cls->infer(c, f, fin, nfi, fo, &nf, at) || !b->cls->infer(c, b, bin, nbi, bo, &nb, at))
        return false;
    int k = 0;
    if (l->iv[BI_MERGE] == BI_NONE) {
        out[k++] = fo[0];
        out[k++] = bo[0];
    } else {
        Shape y = fo[0];
        if (l->iv[BI_MERGE] == BI_CONCAT)
            y.d[y.rank - 1] *= 2;
        out[k++] = y;
    }
    for (int i = 1; i < nf && k < MAX_IO; i++)
        out[k++] = fo[i];
    for (int i = 1; i < nb && k < MAX_IO; i++)
        out[k++] = bo[i];
    *nout = k;
    return true;
}

//
// TimeDistributed
//

// The layers TimeDistributed runs on the whole (batch, time, ...) tensor:
// their result on it is their result on each time slice. Axis arguments
// count from the slice's own batch axis, so Softmax and LayerNormalization
// need negative ones (BatchNormalization's axis is shifted by lowering).
static const char *const td_layers[] = {
    "Dense", "Dropout", "Activation", "ReLU", "LeakyReLU", "Softmax", "Rescaling", "Flatten",
    "BatchNormalization", "LayerNormalization", NULL,
};

static bool negative_axes(const Value *v) {
    if (v->kind == V_INT)
        return v->u.i < 0;
    if (v->kind != V_LIST && v->kind != V_TUPLE)
        return false;
    for (int i = 0; i < list_len(v); i++) {
        const Value *e = list_get(v, i);
        if (e->kind != V_INT || e->u.i >= 0)
            return false;
    }
    return true;
}

bool time_distributed_init(Ctx *c, Layer *l) {
    Value *layer = larg(l, "layer");
    Span at = larg_span(l, "layer");
    if (layer->kind != V_LAYER) {
        error_at(c, at, "Please initialize `TimeDistributed` layer with a `keras.layers.Layer` "
                 "instance. Received: %s", value_str(c, layer));
        return false;
    }
    if (!no_activity_regularizer(c, l))
        return false;
    Layer *inner = layer->u.layer;
    bool ok = false;
    for (int i = 0; inner->cls && td_layers[i]; i++)
        ok |= !strcmp(inner->cls->name, td_layers[i]);
    const char *why = "";
    if (ok && (!strcmp(inner->cls->name, "Softmax") ||
               !strcmp(inner->cls->name, "LayerNormalization")) &&
        !negative_axes(larg(inner, "axis"))) {
        ok = false;
        why = " with an axis counted from the front (use a negative axis)";
    }
    if (ok && !strcmp(inner->cls->name, "Flatten") &&
        larg(inner, "data_format")->kind == V_STR &&
        !strcmp(larg(inner, "data_format")->u.str.s, "channels_first")) {
        ok = false;
        why = " with data_format=\"channels_first\"";
    }
    if (ok && !strcmp(inner->cls->name, "Dropout") && larg(inner, "noise_shape")->kind != V_NONE) {
        ok = false;
        why = " with a noise_shape";
    }
    if (!ok) {
        error_at(c, at, "TimeDistributed: wrapping %s%s is not supported by kdl; it wraps Dense, "
                 "Dropout, Activation, ReLU, LeakyReLU, Softmax, Rescaling, Flatten, "
                 "BatchNormalization and LayerNormalization", layer_label(c, inner), why);
        return false;
    }
    if (inner->path || inner->nodes.len) {
        error_at(c, at, "TimeDistributed: %s is %s; a layer wrapped by TimeDistributed must not be "
                 "used elsewhere in kdl", layer_label(c, inner),
                 inner->path ? "wrapped already" : "called already");
        return false;
    }
    adopt(c, l, inner);
    if (!l->trainable)
        layer_set_trainable(l, false);
    return true;
}

// Keras: the wrapped layer sees (batch, *input[2:]).
static bool child_shape(Ctx *c, Layer *l, const Shape *in, int nin, Shape *child, Span at) {
    if (nin != 1) {
        error_at(c, at, "%s: expects 1 input(s), but it received %d input tensors",
                 layer_label(c, l), nin);
        return false;
    }
    if (in[0].rank < 3) {
        error_at(c, at, "%s: `TimeDistributed` Layer should be passed an `input_shape` with at "
                 "least 3 dimensions, received: %s", layer_label(c, l),
                 shape_pystr(c->arena, &in[0]));
        return false;
    }
    child->rank = in[0].rank - 1;
    child->d[0] = in[0].d[0];
    for (int i = 2; i < in[0].rank; i++)
        child->d[i - 1] = in[0].d[i];
    return true;
}

bool time_distributed_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    Shape child;
    if (l->tracked.len != 1 || nin != 1 || in[0].rank < 3)
        return true;
    (void)child_shape(c, l, in, nin, &child, at);
    return build_inner(c, l, l->tracked.data[0], &child, at);
}

bool time_distributed_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                            Span at) {
    Shape child, co[MAX_IO];
    int nco = 1;
    if (l->tracked.len != 1 || !child_shape(c, l, in, nin, &child, at))
        return false;
    Layer *inner = l->tracked.data[0];
    if (!inner->cls->infer(c, inner, &child, 1, co, &nco, at))
        return false;
    if (!strcmp(inner->cls->name, "BatchNormalization"))
        inner->iv[BN_NAXIS] += 1;   // the slice's axis a is the input's a + 1
    if (co[0].rank + 1 > MAX_RANK) {
        error_at(c, at, "%s: output rank %d is too large", layer_label(c, l), co[0].rank + 1);
        return false;
    }
    out[0].rank = co[0].rank + 1;
    out[0].d[0] = co[0].d[0];
    out[0].d[1] = in[0].d[1];
    for (int i = 1; i < co[0].rank; i++)
        out[0].d[i + 1] = co[0].d[i];
    *nout = 1;
    return true;
}
