/*
 * layers.c - the layer table: one LayerClass per Keras 3 layer class.
 *
 * Each entry has the constructor signature (Keras 3's parameter names, order
 * and defaults, then the base-Layer keywords), an init that checks the
 * arguments in Keras's words and parses them into Layer.iv/fv/act (the slot
 * layout is an enum per family), a build that creates the weights Keras
 * creates (names, shapes, order, trainable flags) and an infer that is Keras's
 * compute_output_shape plus its InputSpec checks.
 *
 * Calling contract: init once after binding; build on the first call only;
 * infer on every call. infer reports every shape error, including a call
 * whose sizes differ from the ones the weights were built for; build reports
 * none: on an input infer rejects it returns true without creating weights,
 * so a bad call gives exactly one error whichever of the two runs first.
 *
 * The argument getters, activation names and weight helpers that kdlc.h
 * declares under "Layers, tensors, nodes" are in layer_args.c.
 */
#include "kdlc.h"
#include "layer_data.h"

#include <string.h>

// A dimension computation that overflowed int64 (None is DIM_NONE = -1).
#define DIM_BIG ((int64_t)-2)
// Layer arguments that size things are capped here so that products of two
// of them (k * dilation, 4 * units) can never overflow.
#define ARG_MAX INT32_MAX

//
// Classes and labels
//

const LayerClass *layer_class_find(const char *name) {
    for (int i = 0; i < num_layer_classes; i++)
        if (!strcmp(layer_classes[i].name, name))
            return &layer_classes[i];
    for (const LayerFunc *a = layer_aliases; a->name; a++)
        if (!strcmp(a->name, name))
            return layer_class_find(a->cls);
    return NULL;
}

// The class name that prefixes constructor errors ("Dense: ...").
static const char *cname(const Layer *l) {
    return l->cls ? l->cls->name : l->class_name ? l->class_name : "Layer";
}

//
// Argument checks shared by the families (the larg_* getters are in
// layer_args.c)
//

static bool is_none(const Layer *l, const char *name) {
    return larg(l, name)->kind == V_NONE;
}

// An int argument >= min; `fmt` is Keras's message with one %s for the value.
static bool arg_int_min(Ctx *c, Layer *l, const char *name, int64_t min, const char *fmt,
                        int64_t *out) {
    Value *v = larg(l, name);
    if (v->kind == V_ERROR)
        return false;
    if (v->kind != V_INT || v->u.i < min) {
        error_at(c, larg_span(l, name), "%s: %s", cname(l),
                 arena_printf(c->arena, fmt, value_str(c, v)));
        return false;
    }
    if (v->u.i > ARG_MAX) {
        error_at(c, larg_span(l, name), "%s: argument `%s` is too large, received %s=%s",
                 cname(l), name, name, value_repr(c, v));
        return false;
    }
    *out = v->u.i;
    return true;
}

// The range half of Keras's standardize_tuple: each of the n ints `v` (the
// argument `what`, spelled `repr` by the user) > 0, or >= 0 with allow_zero.
static bool tuple_in_range(Ctx *c, Layer *l, Span sp, const char *what, const char *repr,
                           const int64_t *v, int n, bool allow_zero) {
    Buf bad = {0};
    bool big = false;
    for (int i = 0; i < n; i++) {
        big |= v[i] > ARG_MAX;
        if (v[i] > 0 || (allow_zero && v[i] == 0))
            continue;
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= v[j] == v[i];
        if (!seen)
            buf_printf(c->arena, &bad, "%s%lld", bad.len ? ", " : "", (long long)v[i]);
    }
    if (bad.len) {
        error_at(c, sp, "%s: The `%s` argument must be a tuple of %d integers. Received %s=%s, "
                 "including values {%s} that do not satisfy `value %s`", cname(l), what, n, what,
                 repr, buf_str(c->arena, &bad), allow_zero ? ">= 0" : "> 0");
        return false;
    }
    if (big) {
        error_at(c, sp, "%s: argument `%s` is too large, received %s=%s", cname(l), what, what,
                 repr);
        return false;
    }
    return true;
}

// Keras's standardize_tuple: an int or n ints, each > 0 (>= 0 with allow_zero).
static bool arg_tuple(Ctx *c, Layer *l, const char *name, int n, bool allow_zero,
                      int64_t *out) {
    return larg_ints(c, l, name, n, out)
        && tuple_in_range(c, l, larg_span(l, name), name, value_str(c, larg(l, name)), out, n,
                          allow_zero);
}

// A boolean argument stored as 0/1 in an iv slot.
static bool arg_flag(Ctx *c, Layer *l, const char *name, int64_t *slot) {
    bool b = false, ok = larg_bool(c, l, name, &b);
    *slot = b;
    return ok;
}

// None or an int (seeds); None gives `dflt`.
static bool arg_opt_int(Ctx *c, Layer *l, const char *name, int64_t dflt, int64_t *out) {
    Value *v = larg(l, name);
    if (v->kind == V_NONE) {
        *out = dflt;
        return true;
    }
    if (v->kind == V_ERROR)
        return false;
    if (v->kind != V_INT) {
        error_at(c, larg_span(l, name), "%s: argument `%s` must be an integer or None, "
                 "received %s=%s", cname(l), name, name, value_repr(c, v));
        return false;
    }
    *out = v->u.i;
    return true;
}

// data_format=None is keras.config.image_data_format() = "channels_last".
static bool arg_data_format(Ctx *c, Layer *l, bool *cfirst) {
    static const char *const fmts[] = {"channels_last", "channels_first", NULL};
    int i = 0;
    if (!is_none(l, "data_format") && !larg_choice(c, l, "data_format", fmts, &i))
        return false;
    *cfirst = i == 1;
    return true;
}


static const char *const pads2[] = {"valid", "same", NULL};
static const char *const pads3[] = {"valid", "same", "causal", NULL};

// The init of classes whose own arguments need no checking. (The base
// keywords input_shape/input_dim never reach the table: keras.c takes them
// out and gives Keras's warning.)
static bool base_init(Ctx *c, Layer *l) {
    return true;
}

//
// Weights
//

static Weight *add_weight(Ctx *c, Layer *l, const char *name, int rank, const int64_t *d,
                          bool trainable, const char *init_arg) {
    Shape s = shape_make(rank, d);
    return layer_add_weight(c, l, name, &s, trainable, init_arg);
}

// lora_rank / lora_alpha (Dense, Embedding, Conv1D, Conv2D): None or 0 is
// off (Keras tests `if self.lora_rank:`); alpha defaults to the rank. Keras's
// enable_lora refuses a constraint on the weight it adapts; it raises in
// build, kdl reports it at the constraint argument.
static bool arg_lora(Ctx *c, Layer *l, const char *constraint, const char *what,
                     int64_t *rank, double *alpha) {
    *rank = 0;
    if (is_none(l, "lora_rank"))
        return true;
    if (!arg_int_min(c, l, "lora_rank", 0, "Received an invalid value for `lora_rank`, expected "
                     "a non-negative integer. Received: lora_rank=%s", rank))
        return false;
    bool ok = true;
    *alpha = (double)*rank;
    if (!is_none(l, "lora_alpha"))
        ok &= larg_float(c, l, "lora_alpha", alpha);
    if (*rank && !is_none(l, constraint)) {
        error_at(c, larg_span(l, constraint), "%s: Lora is incompatible with %s constraints. In "
                 "order to enable lora on this layer, remove the `%s` argument.", cname(l), what,
                 constraint);
        ok = false;
    }
    return ok;
}

// The end of build with lora_rank set (Keras's enable_lora): two trainable
// factors `a` of shape w.shape[:-1] + (rank,) and `b` of (rank, w.shape[-1])
// follow the layer's weights, then w itself becomes non-trainable (it keeps
// its place in layer.weights, as the variable does in Keras). The factors'
// initializers are Keras's fixed he_uniform and zeros (no argument names
// them, so Weight.initializer is NULL).
static void add_lora(Ctx *c, Layer *l, Weight *w, const char *a, const char *b, int64_t rank) {
    if (!rank)
        return;
    int n = w->shape.rank;
    int64_t da[MAX_RANK], db[2] = {rank, w->shape.d[n - 1]};
    memcpy(da, w->shape.d, sizeof da);
    da[n - 1] = rank;
    // Keras's enable_lora: a he_uniform, b zeros (so the adapted weight
    // starts equal to the frozen one).
    add_weight(c, l, a, n, da, true, NULL)->initializer = v_str(c, "he_uniform");
    add_weight(c, l, b, 2, db, true, NULL);
    w->trainable = false;
}

// Record the build shapes (the caller may do it too; same values).
static void note_build(Layer *l, const Shape *in, int nin) {
    l->nbuild_in = nin < 8 ? nin : 8;
    for (int i = 0; i < l->nbuild_in; i++)
        l->build_in[i] = in[i];
}

static bool build_none(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    return true;
}

//
// Shape checks, in Keras's words (InputSpec and friends)
//

static char *pystr(Ctx *c, const Shape *s) {
    return shape_pystr(c->arena, s);
}

// A Python tuple of ints: "(3, 3)", "(3,)".
static char *ints_str(Ctx *c, const int64_t *v, int n) {
    Buf b = {0};
    buf_putc(c->arena, &b, '(');
    for (int i = 0; i < n; i++)
        buf_printf(c->arena, &b, "%s%lld", i ? ", " : "", (long long)v[i]);
    buf_puts(c->arena, &b, n == 1 ? ",)" : ")");
    return (char *)buf_str(c->arena, &b);
}

// str() of a 1-D NumPy array of n ints (Keras formats some messages from
// np.array(...)): an int array pads every entry to the widest, "[ 2 10]".
// With `none` (which entries are None) it is an object array, printed
// unpadded: "[None 5 5 3]".
static char *np_str(Ctx *c, const int64_t *v, int n, const bool *none) {
    int width = 0;
    for (int i = 0; i < n && !none; i++) {
        int w = snprintf(NULL, 0, "%lld", (long long)v[i]);
        width = w > width ? w : width;
    }
    Buf b = {0};
    buf_putc(c->arena, &b, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(c->arena, &b, ' ');
        if (none && none[i])
            buf_puts(c->arena, &b, "None");
        else
            buf_printf(c->arena, &b, "%*lld", width, (long long)v[i]);
    }
    buf_putc(c->arena, &b, ']');
    return (char *)buf_str(c->arena, &b);
}

// A Python list of shapes: "[(None, 3), (None, 4)]".
static char *shapes_str(Ctx *c, const Shape *in, int nin) {
    Buf b = {0};
    buf_putc(c->arena, &b, '[');
    for (int i = 0; i < nin; i++)
        buf_printf(c->arena, &b, "%s%s", i ? ", " : "", pystr(c, &in[i]));
    buf_putc(c->arena, &b, ']');
    return (char *)buf_str(c->arena, &b);
}

static Shape drop_batch(const Shape *s) {
    return shape_make(s->rank - 1, s->d + 1);
}

static bool put1(Shape *out, int *nout, int rank, const int64_t *d) {
    out[0] = shape_make(rank, d);
    *nout = 1;
    return true;
}

// Checked dimension arithmetic on non-negative dims: None propagates,
// int64 overflow gives DIM_BIG (check_big reports it).
static int64_t dim_mul(int64_t a, int64_t b) {
    if (a == DIM_BIG || b == DIM_BIG)
        return DIM_BIG;
    if (a == DIM_NONE || b == DIM_NONE)
        return DIM_NONE;
    if (a != 0 && b > INT64_MAX / a)
        return DIM_BIG;
    return a * b;
}

static int64_t dim_add(int64_t a, int64_t b) {
    if (a == DIM_BIG || b == DIM_BIG)
        return DIM_BIG;
    if (a == DIM_NONE || b == DIM_NONE)
        return DIM_NONE;
    if (b > INT64_MAX - a)
        return DIM_BIG;
    return a + b;
}

static bool check_big(Ctx *c, Layer *l, int rank, const int64_t *d, Span at) {
    for (int i = 0; i < rank; i++) {
        if (d[i] == DIM_BIG) {
            error_at(c, at, "%s: output dimension %d is too large", layer_label(c, l), i);
            return false;
        }
    }
    return true;
}

// Layer "x" expects 1 input(s) (single-input layers).
static bool single(Ctx *c, Layer *l, int nin, Span at) {
    if (nin == 1)
        return true;
    error_at(c, at, "%s: expects 1 input(s), but it received %d input tensors", layer_label(c, l),
             nin);
    return false;
}

// InputSpec(ndim=n) or InputSpec(min_ndim=n).
static bool spec_ndim(Ctx *c, Layer *l, const Shape *s, int idx, int n, bool min, Span at) {
    if (min ? s->rank >= n : s->rank == n)
        return true;
    error_at(c, at, "%s: Input %d expected %s=%d, found ndim=%d. Full shape received: %s",
             layer_label(c, l), idx, min ? "min_ndim" : "ndim", n, s->rank, pystr(c, s));
    return false;
}

// Whether build() really created the weights. A first call whose input
// infer rejects leaves a layer without weights (and the caller may already
// have recorded that input as the build shape): no InputSpec then, as in
// Keras, whose build raised and left the layer unbuilt, so a later correct
// call gets no follow-on error.
static bool has_built_weights(const Layer *l) {
    return l->nweights > 0 && l->nbuild_in > 0;
}

// The InputSpec(axes={axis: size}) Keras sets in build: once built, input
// `idx` must keep the size it had at build time on `axis` (None matches).
static bool spec_axis(Ctx *c, Layer *l, const Shape *s, int idx, int axis, Span at) {
    if (idx >= l->nbuild_in || !has_built_weights(l))
        return true;
    const Shape *b = &l->build_in[idx];
    const char *name = l->name ? l->name : "?";
    int ba = axis < 0 ? b->rank + axis : axis, sa = axis < 0 ? s->rank + axis : axis;
    if (ba < 0 || ba >= b->rank || b->d[ba] == DIM_NONE)
        return true;
    if (sa < 0 || sa >= s->rank) {
        error_at(c, at, "%s: Input %d of layer \"%s\" is incompatible with the layer: axis %d is "
                 "out of bounds for an input with ndim=%d. Full shape received: %s",
                 layer_label(c, l), idx, name, axis, s->rank, pystr(c, s));
        return false;
    }
    if (s->d[sa] == DIM_NONE || s->d[sa] == b->d[ba])
        return true;
    error_at(c, at, "%s: Input %d of layer \"%s\" is incompatible with the layer: expected axis %d "
             "of input shape to have value %lld, but received input with shape %s",
             layer_label(c, l), idx, name, axis, (long long)b->d[ba], pystr(c, s));
    return false;
}

// A dim the weights are sized by must be known; `what` completes the sentence.
static bool want_defined(Ctx *c, Layer *l, const Shape *s, int axis, const char *what, Span at) {
    if (s->d[axis] != DIM_NONE)
        return true;
    error_at(c, at, "%s: %s; received input shape %s", layer_label(c, l), what, pystr(c, s));
    return false;
}

// A possibly negative axis into [0, rank).
static bool norm_axis(Ctx *c, Layer *l, int64_t axis, const Shape *s, Span at, int *out) {
    if (axis >= -s->rank && axis < s->rank) {
        *out = (int)(axis < 0 ? axis + s->rank : axis);
        return true;
    }
    error_at(c, at, "%s: Axis %lld is out of bounds for input shape %s. Ensure axis is within the "
             "range of input dimensions.", layer_label(c, l), (long long)axis, pystr(c, s));
    return false;
}

//
// InputLayer. Shape rule: the tensor's own shape (keras.c builds it from
// shape/batch_size/batch_shape). No iv slots.
//

static bool input_init(Ctx *c, Layer *l) {
    if (!is_none(l, "input_tensor"))
        return true;
    // input_shape= is Keras 2's name for shape, still accepted by Keras 3.
    bool shape = !is_none(l, "shape") || !is_none(l, "input_shape");
    bool bshape = !is_none(l, "batch_shape");
    if (shape && bshape) {
        error_at(c, larg_span(l, "batch_shape"), "InputLayer: You cannot pass both `shape` and "
                 "`batch_shape` at the same time.");
        return false;
    }
    if (bshape && !is_none(l, "batch_size")) {
        error_at(c, larg_span(l, "batch_size"), "InputLayer: You cannot pass both `batch_size` "
                 "and `batch_shape` at the same time.");
        return false;
    }
    if (!shape && !bshape) {
        error_at(c, l->span, "InputLayer: You must pass a `shape` argument.");
        return false;
    }
    return true;
}

static bool input_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                        Span at) {
    *nout = 0;
    if (nin >= 1)
        out[(*nout)++] = in[0];
    return true;
}

//
// Dense. Shape rule: (..., d) -> (..., units), rank >= 2, d defined.
// Weights: kernel (d, units), bias (units,); with lora_rank r also
// lora_kernel_a (d, r), lora_kernel_b (r, units), and the kernel frozen.
// iv: DN_UNITS, DN_BIAS use_bias, DN_LORA lora rank (0 = off);
// fv[0] lora_alpha.
//



static bool dense_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    ok &= arg_int_min(c, l, "units", 1, "Received an invalid value for `units`, expected a "
                      "positive integer. Received: units=%s", &l->iv[DN_UNITS]);
    ok &= larg_activation(c, l, "activation", &l->act);
    ok &= arg_flag(c, l, "use_bias", &l->iv[DN_BIAS]);
    ok &= arg_lora(c, l, "kernel_constraint", "kernel", &l->iv[DN_LORA], &l->fv[0]);
    return ok;
}

static bool dense_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    if (nin != 1 || in[0].rank < 2 || in[0].d[in[0].rank - 1] == DIM_NONE)
        return true;
    int64_t k[2] = {in[0].d[in[0].rank - 1], l->iv[DN_UNITS]};
    Weight *kernel = add_weight(c, l, "kernel", 2, k, true, "kernel_initializer");
    if (l->iv[DN_BIAS])
        add_weight(c, l, "bias", 1, &k[1], true, "bias_initializer");
    add_lora(c, l, kernel, "lora_kernel_a", "lora_kernel_b", l->iv[DN_LORA]);
    note_build(l, in, nin);
    return true;
}

static bool dense_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                        Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 2, true, at))
        return false;
    const Shape *x = &in[0];
    if (!want_defined(c, l, x, x->rank - 1, "the last dimension of the input must be defined", at)
        || !spec_axis(c, l, x, 0, -1, at))
        return false;
    out[0] = *x;
    out[0].d[x->rank - 1] = l->iv[DN_UNITS];
    *nout = 1;
    return true;
}

//
// The convolution family: Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D,
// SeparableConv2D. Input (N, *spatial, C) (channels_first: (N, C, *spatial)).
// Per spatial dim (operation_utils.compute_conv_output_shape):
//   valid: floor((in - dilation*(k-1) - 1) / stride) + 1, <= 0 is an error;
//   same/causal: floor((in - 1) / stride) + 1.
// Transposed (backend_utils.compute_conv_transpose_output_shape), with
// keff = (k-1)*dilation + 1:
//   valid: (in-1)*stride + keff + op, op = output_padding or max(keff, stride) - keff;
//   same: in*stride without output_padding, else (in-1)*stride + keff%2 + op.
// Output channels: filters; DepthwiseConv2D C*depth_multiplier.
// Weights (Keras order):
//   Conv            kernel (*k, C/groups, filters), bias (filters,)
//   Conv2DTranspose kernel (*k, filters, C), bias (filters,)
//   DepthwiseConv2D kernel (*k, C, dm), bias (C*dm,)
//   SeparableConv2D depthwise_kernel (*k, C, dm), pointwise_kernel (1.., C*dm, filters),
//                   bias (filters,)
//





static bool conv_init(Ctx *c, Layer *l, ConvKind kind, int r) {
    bool ok = base_init(c, l);
    int64_t filters = 0, dm = 1, groups = 1, k[2], s[2], d[2], op[2] = {-1, -1};
    if (kind != CV_DEPTHWISE)
        ok &= arg_int_min(c, l, "filters", 1, "Invalid value for argument `filters`. Expected a "
                          "strictly positive value. Received filters=%s.", &filters);
    if (kind == CV_DEPTHWISE || kind == CV_SEPARABLE)
        ok &= arg_int_min(c, l, "depth_multiplier", 1, "Invalid value for argument "
                          "`depth_multiplier`. Expected a strictly positive value. Received "
                          "depth_multiplier=%s.", &dm);
    if (kind == CV_CONV) {
        if (!arg_int_min(c, l, "groups", 1, "The number of groups must be a positive integer. "
                         "Received: groups=%s.", &groups)) {
            ok = false;
        } else if (filters > 0 && filters % groups) {
            error_at(c, larg_span(l, "groups"), "%s: The number of filters must be evenly "
                     "divisible by the number of groups. Received: groups=%lld, filters=%lld.",
                     cname(l), (long long)groups, (long long)filters);
            ok = false;
        }
    }
    bool geo = arg_tuple(c, l, "kernel_size", r, false, k);
    geo &= arg_tuple(c, l, "strides", r, false, s);
    geo &= arg_tuple(c, l, "dilation_rate", r, false, d);
    if (geo) {
        bool s1 = false, d1 = false;
        for (int i = 0; i < r; i++) {
            s1 |= s[i] > 1;
            d1 |= d[i] > 1;
        }
        if (s1 && d1) {
            error_at(c, larg_span(l, "strides"), "%s: `strides > 1` not supported in conjunction "
                     "with `dilation_rate > 1`. Received: strides=%s and dilation_rate=%s",
                     cname(l), ints_str(c, s, r), ints_str(c, d, r));
            geo = false;
        }
    }
    ok &= geo;
    if (kind == CV_TRANSPOSE && !is_none(l, "output_padding")) {
        if (!arg_tuple(c, l, "output_padding", r, true, op)) {
            ok = false;
        } else if (geo) {
            for (int i = 0; i < r; i++) {
                if (op[i] >= s[i]) {
                    error_at(c, larg_span(l, "output_padding"), "%s: `output_padding` must be "
                             "< `strides`. output_padding=%s, strides=%s", cname(l),
                             ints_str(c, op, r), ints_str(c, s, r));
                    ok = false;
                    break;
                }
            }
        }
    }
    int64_t lora = 0;
    if (kind == CV_CONV)
        ok &= arg_lora(c, l, "kernel_constraint", "kernel", &lora, &l->fv[0]);
    int pad = 0;
    bool cfirst = false, bias = true;
    ok &= larg_choice(c, l, "padding", kind == CV_CONV && r == 1 ? pads3 : pads2, &pad);
    ok &= arg_data_format(c, l, &cfirst);
    ok &= larg_activation(c, l, "activation", &l->act);
    ok &= larg_bool(c, l, "use_bias", &bias);
    if (!ok)
        return false;
    l->iv[CV_KIND] = kind;
    l->iv[CV_FILTERS] = filters;
    l->iv[CV_DM] = dm;
    l->iv[CV_GROUPS] = groups;
    l->iv[CV_PAD] = pad;
    l->iv[CV_BIAS] = bias;
    l->iv[CV_CFIRST] = cfirst;
    for (int i = 0; i < r; i++) {
        l->iv[CV_K + i] = k[i];
        l->iv[CV_S + i] = s[i];
        l->iv[CV_D + i] = d[i];
        l->iv[CV_OP + i] = op[i];
    }
    if (kind == CV_CONV)
        l->iv[CV_LORA] = lora;
    l->iv[CV_RANK] = r;
    return true;
}

static bool conv1d_init(Ctx *c, Layer *l) { return conv_init(c, l, CV_CONV, 1); }
static bool conv2d_init(Ctx *c, Layer *l) { return conv_init(c, l, CV_CONV, 2); }
static bool conv2dt_init(Ctx *c, Layer *l) { return conv_init(c, l, CV_TRANSPOSE, 2); }
static bool conv1dt_init(Ctx *c, Layer *l) { return conv_init(c, l, CV_TRANSPOSE, 1); }
static bool dwconv2d_init(Ctx *c, Layer *l) { return conv_init(c, l, CV_DEPTHWISE, 2); }
static bool sepconv2d_init(Ctx *c, Layer *l) { return conv_init(c, l, CV_SEPARABLE, 2); }

static int chan_axis(const Layer *l, int rank, int cfirst_slot) {
    return l->iv[cfirst_slot] ? 1 : rank - 1;
}

static bool conv_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    int r = (int)l->iv[CV_RANK];
    if (!r || nin != 1 || in[0].rank != r + 2)
        return true;
    int64_t C = in[0].d[chan_axis(l, r + 2, CV_CFIRST)];
    int64_t filters = l->iv[CV_FILTERS], dm = l->iv[CV_DM], groups = l->iv[CV_GROUPS];
    if (C == DIM_NONE || C % groups || dim_mul(C, dm) == DIM_BIG)
        return true;
    int64_t k[4];
    Weight *kernel = NULL;
    for (int i = 0; i < r; i++)
        k[i] = l->iv[CV_K + i];
    switch ((ConvKind)l->iv[CV_KIND]) {
    case CV_CONV:
        k[r] = C / groups;
        k[r + 1] = filters;
        kernel = add_weight(c, l, "kernel", r + 2, k, true, "kernel_initializer");
        break;
    case CV_TRANSPOSE:
        k[r] = filters;
        k[r + 1] = C;
        add_weight(c, l, "kernel", r + 2, k, true, "kernel_initializer");
        break;
    case CV_DEPTHWISE:
        k[r] = C;
        k[r + 1] = dm;
        add_weight(c, l, "kernel", r + 2, k, true, "depthwise_initializer");
        filters = C * dm;   // the bias size
        break;
    case CV_SEPARABLE:
        k[r] = C;
        k[r + 1] = dm;
        add_weight(c, l, "depthwise_kernel", r + 2, k, true, "depthwise_initializer");
        for (int i = 0; i < r; i++)
            k[i] = 1;
        k[r] = C * dm;
        k[r + 1] = filters;
        add_weight(c, l, "pointwise_kernel", r + 2, k, true, "pointwise_initializer");
        break;
    }
    if (l->iv[CV_BIAS])
        add_weight(c, l, "bias", 1, &filters, true, "bias_initializer");
    if (kernel)
        add_lora(c, l, kernel, "lora_kernel_a", "lora_kernel_b", l->iv[CV_LORA]);
    note_build(l, in, nin);
    return true;
}

static int64_t deconv_out_dim(int64_t in, int64_t k, int64_t s, int64_t d, bool same,
                              int64_t op) {
    if (in == DIM_NONE)
        return DIM_NONE;
    int64_t keff = (k - 1) * d + 1;
    if (same && op < 0)
        return dim_mul(in, s);
    if (!same && op < 0)
        op = (keff > s ? keff : s) - keff;
    int64_t base = in > 0 ? dim_mul(in - 1, s) : 0;
    return dim_add(base, (same ? keff % 2 : keff) + op);
}

static bool conv_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                       Span at) {
    int r = (int)l->iv[CV_RANK];
    // Keras's InputSpec is min_ndim=r+2; a larger rank fails in
    // compute_conv_output_shape (the transposed shape rule has no such check).
    if (!r || !single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, r + 2, true, at))
        return false;
    const Shape *x = &in[0];
    bool cf = l->iv[CV_CFIRST];
    int ca = chan_axis(l, x->rank, CV_CFIRST), sp = cf ? 2 : 1;
    if (x->rank != r + 2 && (ConvKind)l->iv[CV_KIND] == CV_TRANSPOSE)
        return spec_ndim(c, l, x, 0, r + 2, false, at);
    if (x->rank != r + 2) {
        Shape ks;       // kernel_size + (C, filters): None prints as None
        ks.rank = r + 2;
        for (int i = 0; i < r; i++)
            ks.d[i] = l->iv[CV_K + i];
        ks.d[r] = x->d[ca];
        ks.d[r + 1] = (ConvKind)l->iv[CV_KIND] == CV_DEPTHWISE ? dim_mul(x->d[ca], l->iv[CV_DM])
                                                                 : l->iv[CV_FILTERS];
        error_at(c, at, "%s: Kernel shape must have the same length as input, but received kernel "
                 "of shape %s and input of shape %s.", layer_label(c, l), pystr(c, &ks),
                 pystr(c, x));
        return false;
    }
    if (!want_defined(c, l, x, ca, "the channel dimension of the input must be defined", at)
        || !spec_axis(c, l, x, 0, cf ? 1 : -1, at))
        return false;
    ConvKind kind = (ConvKind)l->iv[CV_KIND];
    int64_t C = x->d[ca], groups = l->iv[CV_GROUPS];
    if (C % groups) {
        error_at(c, at, "%s: The number of input channels must be evenly divisible by the number "
                 "of groups. Received groups=%lld, but the input has %lld channels (full input "
                 "shape is %s).", layer_label(c, l), (long long)groups, (long long)C,
                 pystr(c, x));
        return false;
    }
    int64_t outc = kind == CV_DEPTHWISE ? dim_mul(C, l->iv[CV_DM]) : l->iv[CV_FILTERS];
    int64_t o[MAX_RANK];
    o[0] = x->d[0];
    o[ca] = outc;
    bool same = l->iv[CV_PAD] != PAD_VALID;
    for (int i = 0; i < r; i++) {
        int64_t k = l->iv[CV_K + i], s = l->iv[CV_S + i], d = l->iv[CV_D + i];
        int64_t n = x->d[sp + i];
        if (kind == CV_TRANSPOSE) {
            o[sp + i] = deconv_out_dim(n, k, s, d, same, l->iv[CV_OP + i]);
            continue;
        }
        // Test the input, not the result: a known input can give -1 = DIM_NONE.
        o[sp + i] = conv_out_dim(n, k, s, d, same);
        if (n != DIM_NONE && o[sp + i] <= 0) {
            int64_t ks[4], ss[2], ds[2];
            for (int j = 0; j < r; j++) {
                ks[j] = l->iv[CV_K + j];
                ss[j] = l->iv[CV_S + j];
                ds[j] = l->iv[CV_D + j];
            }
            ks[r] = C;
            ks[r + 1] = outc;
            // dilation_rate is a NumPy array in Keras's message.
            error_at(c, at, "%s: Computed output size would be zero or negative. Received "
                     "`inputs shape=%s`, `kernel shape=%s`, `dilation_rate=%s`, `strides=%s`, "
                     "`padding=%s`.", layer_label(c, l), pystr(c, x), ints_str(c, ks, r + 2),
                     np_str(c, ds, r, NULL), ints_str(c, ss, r), pads3[l->iv[CV_PAD]]);
            return false;
        }
    }
    return check_big(c, l, x->rank, o, at) && put1(out, nout, x->rank, o);
}

//
// Pooling: MaxPooling1D/2D, AveragePooling1D/2D. Input (N, *spatial, C).
// Per spatial dim (compute_pooling_output_shape), strides default to
// pool_size: valid: floor((in - pool) / stride) + 1, <= 0 is an error;
// same: floor((in - 1) / stride) + 1. Channels unchanged. No weights.
//



static bool pool_init(Ctx *c, Layer *l, int r, bool is_max) {
    bool ok = base_init(c, l);
    int64_t k[2] = {1, 1}, s[2] = {1, 1};
    bool kok = arg_tuple(c, l, "pool_size", r, false, k);
    ok &= kok;
    // Keras allows strides=0 here and fails later dividing by it.
    if (is_none(l, "strides"))
        memcpy(s, k, sizeof s);
    else
        ok &= arg_tuple(c, l, "strides", r, false, s);
    int pad = 0;
    bool cfirst = false;
    ok &= larg_choice(c, l, "padding", pads2, &pad);
    ok &= arg_data_format(c, l, &cfirst);
    if (!ok)
        return false;
    l->iv[PL_MAX] = is_max;
    l->iv[PL_PAD] = pad;
    l->iv[PL_CFIRST] = cfirst;
    for (int i = 0; i < r; i++) {
        l->iv[PL_K + i] = k[i];
        l->iv[PL_S + i] = s[i];
    }
    l->iv[PL_RANK] = r;
    return true;
}

static bool maxpool1d_init(Ctx *c, Layer *l) { return pool_init(c, l, 1, true); }
static bool maxpool2d_init(Ctx *c, Layer *l) { return pool_init(c, l, 2, true); }
static bool avgpool1d_init(Ctx *c, Layer *l) { return pool_init(c, l, 1, false); }
static bool avgpool2d_init(Ctx *c, Layer *l) { return pool_init(c, l, 2, false); }

static bool pool_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                       Span at) {
    int r = (int)l->iv[PL_RANK];
    if (!r || !single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, r + 2, false, at))
        return false;
    const Shape *x = &in[0];
    int sp = l->iv[PL_CFIRST] ? 2 : 1;
    int64_t o[MAX_RANK];
    memcpy(o, x->d, sizeof o);
    for (int i = 0; i < r; i++) {
        o[sp + i] = conv_out_dim(x->d[sp + i], l->iv[PL_K + i], l->iv[PL_S + i], 1,
                                 l->iv[PL_PAD] == PAD_SAME);
        if (x->d[sp + i] != DIM_NONE && o[sp + i] <= 0) {   // -1 here is not None
            // Keras prints np.array(input_shape), an object array if it
            // held a None, after overwriting its None spatial dims with -1.
            bool none[MAX_RANK], object = false;
            for (int j = 0; j < x->rank; j++) {
                bool spatial = j >= sp && j < sp + r;
                none[j] = x->d[j] == DIM_NONE && !spatial;
                object |= x->d[j] == DIM_NONE;
            }
            error_at(c, at, "%s: Computed output size would be zero or negative. Received: "
                     "`inputs.shape=%s`, `pool_size=%s`, `strides=%s`, `padding=%s`.",
                     layer_label(c, l), np_str(c, x->d, x->rank, object ? none : NULL),
                     np_str(c, &l->iv[PL_K], r, NULL),
                     ints_str(c, &l->iv[PL_S], r), pads2[l->iv[PL_PAD]]);
            return false;
        }
    }
    return put1(out, nout, x->rank, o);
}

//
// Global pooling: GlobalAverage/GlobalMaxPooling1D/2D. Input rank r+2.
// (N, *spatial, C) -> (N, C); keepdims: (N, 1, .., 1, C). No weights.
//



static bool gpool_init(Ctx *c, Layer *l, int r, bool is_max) {
    bool ok = base_init(c, l), cfirst = false;
    ok &= arg_flag(c, l, "keepdims", &l->iv[GP_KEEPDIMS]);
    ok &= arg_data_format(c, l, &cfirst);
    l->iv[GP_RANK] = r;
    l->iv[GP_MAX] = is_max;
    l->iv[GP_CFIRST] = cfirst;
    return ok;
}

static bool gap1d_init(Ctx *c, Layer *l) { return gpool_init(c, l, 1, false); }
static bool gap2d_init(Ctx *c, Layer *l) { return gpool_init(c, l, 2, false); }
static bool gmp1d_init(Ctx *c, Layer *l) { return gpool_init(c, l, 1, true); }
static bool gmp2d_init(Ctx *c, Layer *l) { return gpool_init(c, l, 2, true); }

static bool gpool_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                        Span at) {
    int r = (int)l->iv[GP_RANK];
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, r + 2, false, at))
        return false;
    const Shape *x = &in[0];
    bool cf = l->iv[GP_CFIRST];
    int64_t C = x->d[chan_axis(l, x->rank, GP_CFIRST)];
    if (!l->iv[GP_KEEPDIMS]) {
        int64_t o[2] = {x->d[0], C};
        return put1(out, nout, 2, o);
    }
    int64_t o[MAX_RANK];
    o[0] = x->d[0];
    for (int i = 1; i < x->rank; i++)
        o[i] = 1;
    o[cf ? 1 : x->rank - 1] = C;
    return put1(out, nout, x->rank, o);
}

//
// Flatten: (N, d1, .., dk) -> (N, d1*..*dk); None if any di is None; a
// rank-1 input gives (N, 1). iv[0]: data_format == "channels_first" (the
// runtime moves channels last first; the shape is the same). No weights.
//

static bool flatten_init(Ctx *c, Layer *l) {
    bool cfirst = false, ok = base_init(c, l) && arg_data_format(c, l, &cfirst);
    l->iv[0] = cfirst;
    return ok;
}

static bool flatten_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                          Span at) {
    if (!single(c, l, nin, at))
        return false;
    int64_t o[2] = {in[0].d[0], shape_numel(&in[0], 1)};
    return check_big(c, l, 2, o, at) && put1(out, nout, 2, o);
}

//
// Reshape: (N, *d) -> (N, *target_shape); one -1 in target_shape is
// resolved from the input size (None when an input dim is None); the sizes
// must match (compute_reshape_output_shape). No weights.
// iv[0]: n = len(target_shape); iv[1..n]: target_shape as given (-1 = infer).
//

// Permute(dims): a permutation of the non-batch axes, 1-based (Keras's
// check: the set of dims is 1..len(dims)); the input has one axis per entry
// after the batch.
static bool permute_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    Value *v = larg(l, "dims");
    if (v->kind == V_ERROR)
        return false;
    int n = v->kind == V_LIST || v->kind == V_TUPLE ? list_len(v) : -1;
    bool seen[MAX_RANK] = {false}, good = n >= 1 && n < MAX_RANK;
    for (int i = 0; good && i < n; i++) {
        Value *e = list_get(v, i);
        good = e->kind == V_INT && e->u.i >= 1 && e->u.i <= n && !seen[e->u.i];
        if (good) {
            seen[e->u.i] = true;
            l->iv[PM_D + i] = e->u.i;
        }
    }
    if (!good) {
        error_at(c, larg_span(l, "dims"), "%s: Invalid permutation argument `dims` for Permute "
                 "Layer. The set of indices in `dims` must be consecutive and start from 1. "
                 "Received dims=%s", cname(l), value_str(c, v));
        return false;
    }
    l->iv[PM_N] = n;
    return ok;
}

static bool permute_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                          Span at) {
    if (!single(c, l, nin, at))
        return false;
    int n = (int)l->iv[PM_N];
    if (in[0].rank != n + 1) {
        error_at(c, at, "%s: dims has %d entries but the input %s has %d axes after the batch",
                 layer_label(c, l), n, pystr(c, &in[0]), in[0].rank - 1);
        return false;
    }
    int64_t o[MAX_RANK];
    o[0] = in[0].d[0];
    for (int i = 0; i < n; i++)
        o[i + 1] = in[0].d[l->iv[PM_D + i]];
    return put1(out, nout, n + 1, o);
}

static bool reshape_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    Value *v = larg(l, "target_shape");
    Span sp = larg_span(l, "target_shape");
    if (v->kind == V_ERROR)
        return false;
    int n = v->kind == V_TUPLE || v->kind == V_LIST ? list_len(v) : -1;
    if (n >= MAX_RANK) {
        error_at(c, sp, "Reshape: `target_shape` has %d dimensions; at most %d are supported", n,
                 MAX_RANK - 1);
        return false;
    }
    int64_t d[MAX_RANK];
    bool ints = n >= 0;
    for (int i = 0; i < n; i++) {
        Value *e = list_get(v, i);
        if (e->kind == V_ERROR)
            return false;
        ints &= e->kind == V_INT;
        d[i] = e->kind == V_INT ? e->u.i : 0;
    }
    if (!ints) {
        error_at(c, sp, "Reshape: `target_shape` must be a tuple of integers, received "
                 "target_shape=%s", value_repr(c, v));
        return false;
    }
    int unknown = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] < -1) {
            error_at(c, sp, "Reshape: Each dimension in `target_shape` must be a non-negative "
                     "integer, or `-1` for a single unknown dimension. Received: "
                     "target_shape=%s.", ints_str(c, d, n));
            return false;
        }
        unknown += d[i] == -1;
    }
    if (unknown > 1) {
        error_at(c, sp, "Reshape: The `target_shape` argument must not contain more than one `-1` "
                 "value. Received: target_shape=%s", ints_str(c, d, n));
        return false;
    }
    l->iv[0] = n;
    for (int i = 0; i < n; i++)
        l->iv[1 + i] = d[i];
    return ok;
}

static bool reshape_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                          Span at) {
    if (!single(c, l, nin, at))
        return false;
    const Shape *x = &in[0];
    int n = (int)l->iv[0], unk = -1;
    const int64_t *t = &l->iv[1];
    int64_t o[MAX_RANK], known = 1;
    o[0] = x->d[0];
    for (int i = 0; i < n; i++) {
        o[1 + i] = t[i] == -1 ? DIM_NONE : t[i];
        if (t[i] == -1)
            unk = i;
        else
            known = dim_mul(known, t[i]);
    }
    int64_t size = shape_numel(x, 1);
    if (size == -2) {
        error_at(c, at, "%s: the input size of shape %s is too large", layer_label(c, l),
                 pystr(c, x));
        return false;
    }
    if (size == -1)     // an input dim is None: -1 stays None
        return put1(out, nout, 1 + n, o);
    Shape nb = drop_batch(x);
    if (unk < 0 && known != size) {
        error_at(c, at, "%s: The total size of the tensor must be unchanged. Received: "
                 "input_shape=%s, target_shape=%s", layer_label(c, l), pystr(c, &nb),
                 ints_str(c, t, n));
        return false;
    }
    if (unk >= 0) {
        if (known == 0 || known == DIM_BIG || size % known) {
            error_at(c, at, "%s: The total size of the tensor must be unchanged, however, the "
                     "input size cannot by divided by the specified dimensions in target_shape. "
                     "Received: input_shape=%s, target_shape=%s", layer_label(c, l),
                     pystr(c, &nb), ints_str(c, t, n));
            return false;
        }
        o[1 + unk] = size / known;
    }
    return put1(out, nout, 1 + n, o);
}

//
// RepeatVector: (N, F) -> (N, n, F). iv[0]: n. No weights.
//

static bool repeat_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    Value *n = larg(l, "n");
    if (n->kind != V_INT && n->kind != V_ERROR) {   // Keras's operator.index(n) failing
        error_at(c, larg_span(l, "n"), "RepeatVector: Expected an integer value for `n`, got "
                 "<class '%s'>.", value_type_name(n));
        return false;
    }
    ok &= arg_int_min(c, l, "n", 0, "Expected a non-negative integer value for `n`, got n=%s",
                      &l->iv[0]);
    return ok;
}

static bool repeat_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                         Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 2, false, at))
        return false;
    int64_t o[3] = {in[0].d[0], l->iv[0], in[0].d[1]};
    return put1(out, nout, 3, o);
}

//
// Same-shape layers: Dropout, Activation, ReLU, LeakyReLU, Softmax,
// Rescaling. Output = input, no weights.
//   Dropout     fv[0] rate; iv[0] seed (-1 = None); iv[1] 1 if noise_shape given
//   Activation  act
//   ReLU        fv[0] max_value, fv[1] negative_slope, fv[2] threshold;
//               iv[0] 1 if max_value is not None
//   LeakyReLU   fv[0] negative_slope
//   Softmax     iv[0] axis as given (checked against the input rank); a list of
//               several axes: iv[SM_NAXES] their count, iv[SM_AXES..] the axes
//   Rescaling   fv[0] scale, fv[1] offset
//

static bool same_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                       Span at) {
    if (!single(c, l, nin, at))
        return false;
    out[0] = in[0];
    *nout = 1;
    return true;
}

// Keras's Dropout._validate_noise_shape, check by check.
static bool dropout_noise_shape(Ctx *c, Layer *l) {
    Value *v = larg(l, "noise_shape");
    Span sp = larg_span(l, "noise_shape");
    const char *head = "Invalid value received for argument `noise_shape`.";
    if (v->kind == V_NONE)
        return true;
    if (v->kind == V_ERROR)
        return false;
    if (v->kind == V_STR) {
        error_at(c, sp, "%s: %s Expected a tuple or list of integers. Received: noise_shape=%s",
                 cname(l), head, value_str(c, v));
        return false;
    }
    if (v->kind != V_TUPLE && v->kind != V_LIST) {
        error_at(c, sp, "%s: %s Expected an iterable of integers (e.g., a tuple or list). "
                 "Received: noise_shape=%s", cname(l), head, value_str(c, v));
        return false;
    }
    for (int i = 0; i < list_len(v); i++) {
        Value *e = list_get(v, i);
        if (e->kind == V_ERROR)
            return false;
        if (e->kind == V_NONE)
            continue;
        if (e->kind != V_INT && e->kind != V_BOOL) {
            error_at(c, sp, "%s: %s Expected all elements to be integers or None. Received "
                     "element at index %d: %s (type: %s)", cname(l), head, i, value_str(c, e),
                     value_type_name(e));
            return false;
        }
        if (num_val(e) <= 0) {
            error_at(c, sp, "%s: %s Expected all dimensions to be positive integers or None. "
                     "Received negative or zero value at index %d: %s", cname(l), head, i,
                     value_str(c, e));
            return false;
        }
    }
    return true;
}

// A number in [0, 1] (Dropout's rate, GaussianNoise's stddev), with Keras's
// message.
static bool arg_unit(Ctx *c, Layer *l, const char *arg, double *out) {
    Value *r = larg(l, arg);
    if (r->kind == V_ERROR)
        return false;
    if ((r->kind != V_INT && r->kind != V_FLOAT) || num_val(r) < 0 || num_val(r) > 1) {
        error_at(c, larg_span(l, arg), "%s: Invalid value received for argument `%s`. Expected "
                 "a float value between 0 and 1. Received: %s=%s", cname(l), arg, arg,
                 value_str(c, r));
        return false;
    }
    *out = num_val(r);
    return true;
}

static bool dropout_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    ok &= arg_unit(c, l, "rate", &l->fv[0]);
    ok &= dropout_noise_shape(c, l);
    ok &= arg_opt_int(c, l, "seed", -1, &l->iv[0]);
    l->iv[1] = !is_none(l, "noise_shape");
    return ok;
}

// SpatialDropout1D/2D: Dropout of whole channels (Keras's noise shape
// (N, 1, C), (N, 1, 1, C), channels_first (N, C, 1, 1)); lower.c runs them
// as that Dropout. fv[0] rate; iv[0] seed (-1 = None); iv[1] channels_first.
static bool spatial_dropout_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l), cfirst = false;
    ok &= arg_unit(c, l, "rate", &l->fv[0]);
    ok &= arg_opt_int(c, l, "seed", -1, &l->iv[0]);
    if (!strcmp(l->class_name, "SpatialDropout2D"))
        ok &= arg_data_format(c, l, &cfirst);
    l->iv[1] = cfirst;
    return ok;
}

static bool spatial_dropout_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                                  int *nout, Span at) {
    int rank = !strcmp(l->class_name, "SpatialDropout2D") ? 4 : 3;
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, rank, false, at))
        return false;
    out[0] = in[0];
    *nout = 1;
    return true;
}

// GaussianNoise(stddev) and GaussianDropout(rate): noise in training only
// (x + N(0, stddev); x * N(1, sqrt(rate / (1 - rate)))), the identity at
// inference. fv[0] stddev or rate, in [0, 1] (Keras's checks); iv[0] seed.
static bool gaussian_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    ok &= arg_unit(c, l, !strcmp(l->class_name, "GaussianNoise") ? "stddev" : "rate", &l->fv[0]);
    ok &= arg_opt_int(c, l, "seed", -1, &l->iv[0]);
    return ok;
}

static bool activation_init(Ctx *c, Layer *l) {
    return base_init(c, l) && larg_activation(c, l, "activation", &l->act);
}

// A number >= 0 for ReLU/LeakyReLU; `fmt` has one %s for the value.
static bool arg_nonneg(Ctx *c, Layer *l, const char *name, const char *fmt, double *out) {
    Value *v = larg(l, name);
    if (v->kind == V_ERROR)
        return false;
    if ((v->kind != V_INT && v->kind != V_FLOAT) || num_val(v) < 0) {
        error_at(c, larg_span(l, name), "%s: %s", cname(l),
                 arena_printf(c->arena, fmt, value_str(c, v)));
        return false;
    }
    *out = num_val(v);
    return true;
}

static bool relu_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    l->iv[0] = !is_none(l, "max_value");
    if (l->iv[0])
        ok &= arg_nonneg(c, l, "max_value", "max_value of a ReLU layer cannot be a negative "
                         "value. Received: max_value=%s", &l->fv[0]);
    ok &= arg_nonneg(c, l, "negative_slope", "negative_slope of a ReLU layer cannot be None or "
                     "a negative value. Received: negative_slope=%s", &l->fv[1]);
    ok &= arg_nonneg(c, l, "threshold", "threshold of a ReLU layer cannot be None or a negative "
                     "value. Received: threshold=%s", &l->fv[2]);
    return ok;
}

static bool leaky_relu_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    const char *arg = "negative_slope";
    if (!is_none(l, "alpha")) {
        warning_at(c, larg_span(l, "alpha"), "%s: Argument `alpha` is deprecated. Use "
                   "`negative_slope` instead.", cname(l));
        arg = "alpha";
    }
    ok &= arg_nonneg(c, l, arg, "The negative_slope value of a Leaky ReLU layer cannot be None "
                     "or negative value. Expected a float. Received: negative_slope=%s",
                     &l->fv[0]);
    return ok;
}

// ELU(alpha=1.0): keras.activations.elu with the layer's alpha (any number,
// as Keras). fv[0] alpha.
static bool elu_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    ok &= larg_float(c, l, "alpha", &l->fv[0]);
    return ok;
}

static bool softmax_init(Ctx *c, Layer *l) {
    if (!base_init(c, l))
        return false;
    // Keras also takes a list or tuple of axes (the softmax is over all of them).
    Value *v = larg(l, "axis");
    if ((v->kind != V_LIST && v->kind != V_TUPLE) || list_len(v) == 0)
        return larg_int(c, l, "axis", &l->iv[0]);
    int n = list_len(v);
    if (n > 8) {
        error_at(c, larg_span(l, "axis"), "Softmax: argument `axis` has %d axes; tensors have "
                 "rank up to 8", n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        Value *a = list_get(v, i);
        if (a->kind == V_ERROR)
            return false;
        if (a->kind != V_INT) {
            error_at(c, larg_span(l, "axis"), "Softmax: argument `axis` must be an integer or "
                     "a list of integers, received axis=%s", value_repr(c, v));
            return false;
        }
        l->iv[SM_AXES + i] = a->u.i;
    }
    l->iv[0] = l->iv[SM_AXES];
    l->iv[SM_NAXES] = n > 1 ? n : 0;
    return true;
}

static bool softmax_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                          Span at) {
    int a;
    if (!single(c, l, nin, at) || !norm_axis(c, l, l->iv[0], &in[0], at, &a))
        return false;
    for (int i = 1; i < l->iv[SM_NAXES]; i++)
        if (!norm_axis(c, l, l->iv[SM_AXES + i], &in[0], at, &a))
            return false;
    return same_infer(c, l, in, nin, out, nout, at);
}

// Masking: output = input with the rows (last axis) equal to mask_value
// everywhere zeroed, and a Keras mask of the input's shape without its last
// axis (lower.c's lower_masks). fv[0] mask_value.
static bool masking_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    ok &= larg_float(c, l, "mask_value", &l->fv[0]);
    return ok;
}

static bool masking_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                          Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 2, true, at))
        return false;
    out[0] = in[0];
    *nout = 1;
    return true;
}

static bool rescaling_init(Ctx *c, Layer *l) {
    // Keras also takes per-channel arrays for scale/offset; kdl takes numbers.
    bool ok = base_init(c, l);
    ok &= larg_float(c, l, "scale", &l->fv[0]);
    ok &= larg_float(c, l, "offset", &l->fv[1]);
    return ok;
}

//
// BatchNormalization: output = input. Weights, each (C,) with C =
// input[axis] (must be defined): gamma (if scale), beta (if center),
// moving_mean, moving_variance (the last two non-trainable).
// iv: BN_AXIS axis as given, BN_CENTER, BN_SCALE, BN_NAXIS axis in [0, rank)
// of the latest call; fv[0] momentum, fv[1] epsilon.
//



static bool batchnorm_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l), sync = false;
    ok &= larg_int(c, l, "axis", &l->iv[BN_AXIS]);
    ok &= larg_float(c, l, "momentum", &l->fv[0]);
    ok &= larg_float(c, l, "epsilon", &l->fv[1]);
    ok &= arg_flag(c, l, "center", &l->iv[BN_CENTER]);
    ok &= arg_flag(c, l, "scale", &l->iv[BN_SCALE]);
    if (larg_bool(c, l, "synchronized", &sync) && sync) {
        error_at(c, larg_span(l, "synchronized"), "%s: Argument synchronized=True is only "
                 "supported with the TensorFlow backend.", cname(l));
        ok = false;
    }
    return ok;
}

static bool batchnorm_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    int64_t axis = l->iv[BN_AXIS];
    if (nin != 1 || axis < -in[0].rank || axis >= in[0].rank)
        return true;
    int64_t C = in[0].d[axis < 0 ? axis + in[0].rank : axis];
    if (C == DIM_NONE)
        return true;
    if (l->iv[BN_SCALE])
        add_weight(c, l, "gamma", 1, &C, true, "gamma_initializer");
    if (l->iv[BN_CENTER])
        add_weight(c, l, "beta", 1, &C, true, "beta_initializer");
    add_weight(c, l, "moving_mean", 1, &C, false, "moving_mean_initializer");
    add_weight(c, l, "moving_variance", 1, &C, false, "moving_variance_initializer");
    note_build(l, in, nin);
    return true;
}

static bool batchnorm_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                            Span at) {
    if (!single(c, l, nin, at))
        return false;
    const Shape *x = &in[0];
    // Keras's post-build InputSpec(ndim=rank, axes={axis: C}).
    if (has_built_weights(l)
        && (!spec_ndim(c, l, x, 0, l->build_in[0].rank, false, at)
            || !spec_axis(c, l, x, 0, (int)l->iv[BN_AXIS], at)))
        return false;
    int a;
    if (!norm_axis(c, l, l->iv[BN_AXIS], x, at, &a))
        return false;
    if (x->d[a] == DIM_NONE) {
        error_at(c, at, "%s: Axis %lld of input tensor should have a defined dimension but the "
                 "layer received an input with shape %s.", layer_label(c, l),
                 (long long)l->iv[BN_AXIS], pystr(c, x));
        return false;
    }
    l->iv[BN_NAXIS] = a;
    return same_infer(c, l, in, nin, out, nout, at);
}

//
// LayerNormalization: output = input. axis is an int or a list of ints;
// gamma (if scale or rms_scaling) and beta (if center and not rms_scaling),
// each of shape (input[a] for a in axes), all defined.
// iv: LN_NAXES number of axes, LN_CENTER, LN_SCALE, LN_RMS, then the axes
// as given at LN_AXES..; fv[0] epsilon.
//


#define LN_MAX_AXES (16 - LN_AXES < MAX_RANK ? 16 - LN_AXES : MAX_RANK)

static bool layernorm_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    Value *v = larg(l, "axis");
    int n = v->kind == V_INT ? 1 : v->kind == V_TUPLE || v->kind == V_LIST ? list_len(v) : -1;
    bool ints = n >= 1 && n <= LN_MAX_AXES;
    for (int i = 0; ints && v->kind != V_INT && i < n; i++) {
        Value *e = list_get(v, i);
        ints = e->kind == V_INT;
        l->iv[LN_AXES + i] = ints ? e->u.i : 0;
    }
    if (v->kind == V_INT)
        l->iv[LN_AXES] = v->u.i;
    if (v->kind == V_ERROR) {
        ok = false;
    } else if (!ints) {
        error_at(c, larg_span(l, "axis"), "%s: Expected an int or a list/tuple of ints for the "
                 "argument 'axis', but received: %s", cname(l), value_repr(c, v));
        ok = false;
    }
    l->iv[LN_NAXES] = ints ? n : 0;
    ok &= larg_float(c, l, "epsilon", &l->fv[0]);
    ok &= arg_flag(c, l, "center", &l->iv[LN_CENTER]);
    ok &= arg_flag(c, l, "scale", &l->iv[LN_SCALE]);
    ok &= arg_flag(c, l, "rms_scaling", &l->iv[LN_RMS]);
    return ok;
}

static bool layernorm_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    int n = (int)l->iv[LN_NAXES];
    int64_t d[MAX_RANK];
    if (nin != 1)
        return true;
    for (int i = 0; i < n; i++) {
        int64_t a = l->iv[LN_AXES + i];
        if (a < -in[0].rank || a >= in[0].rank)
            return true;
        d[i] = in[0].d[a < 0 ? a + in[0].rank : a];
        if (d[i] == DIM_NONE)
            return true;
    }
    if (l->iv[LN_SCALE] || l->iv[LN_RMS])
        add_weight(c, l, "gamma", n, d, true, "gamma_initializer");
    if (l->iv[LN_CENTER] && !l->iv[LN_RMS])
        add_weight(c, l, "beta", n, d, true, "beta_initializer");
    note_build(l, in, nin);
    return true;
}

static bool layernorm_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                            Span at) {
    if (!single(c, l, nin, at))
        return false;
    const Shape *x = &in[0];
    for (int i = 0; i < l->iv[LN_NAXES]; i++) {
        int a;
        int64_t ax = l->iv[LN_AXES + i];
        if (!norm_axis(c, l, ax, x, at, &a)
            || !want_defined(c, l, x, a, arena_printf(c->arena, "the dimension at axis %lld of "
                             "the input must be defined", (long long)ax), at)
            || !spec_axis(c, l, x, 0, (int)ax, at))
            return false;
    }
    return same_infer(c, l, in, nin, out, nout, at);
}

//
// Merging: Add, Subtract, Multiply, Average (Merge.compute_output_shape).
// Called on a list; batch sizes must agree (None matches); non-batch dims
// broadcast right-aligned: 1 takes the other size, None with anything is
// None, other mismatches are errors. Subtract takes exactly 2 inputs.
// iv[0]: MG_ADD, MG_SUB, MG_MUL, MG_AVG, MG_MAX or MG_MIN. No weights.
//



static bool merge_init(Ctx *c, Layer *l, int op) {
    l->iv[0] = op;
    return base_init(c, l);
}

static bool add_init(Ctx *c, Layer *l) { return merge_init(c, l, MG_ADD); }
static bool subtract_init(Ctx *c, Layer *l) { return merge_init(c, l, MG_SUB); }
static bool multiply_init(Ctx *c, Layer *l) { return merge_init(c, l, MG_MUL); }
static bool average_init(Ctx *c, Layer *l) { return merge_init(c, l, MG_AVG); }
static bool maximum_init(Ctx *c, Layer *l) { return merge_init(c, l, MG_MAX); }
static bool minimum_init(Ctx *c, Layer *l) { return merge_init(c, l, MG_MIN); }

// The element-wise merges (broadcasting): Add, Subtract, Multiply, Average,
// Maximum, Minimum.
bool is_merge_class(const char *k) {
    static const char *const names[] = {"Add", "Subtract", "Multiply", "Average", "Maximum",
                                        "Minimum"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(k, names[i]))
            return true;
    return false;
}

// Keras's _compute_elemwise_op_output_shape on non-batch shapes a and b.
static bool elemwise_shape(const Shape *a, const Shape *b, Shape *out) {
    const Shape *lo = a->rank >= b->rank ? a : b, *sh = a->rank >= b->rank ? b : a;
    int off = lo->rank - sh->rank;
    *out = *lo;
    for (int i = 0; i < sh->rank; i++) {
        int64_t x = lo->d[off + i], y = sh->d[i];
        if (x == DIM_NONE || y == DIM_NONE)
            out->d[off + i] = DIM_NONE;
        else if (x == 1)
            out->d[off + i] = y;
        else if (y != 1 && x != y)
            return false;
    }
    return true;
}

static bool merge_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                        Span at) {
    if (nin < 1) {
        error_at(c, at, "%s: A merge layer should be called on a list of at least 1 input. "
                 "Received 0 inputs.", layer_label(c, l));
        return false;
    }
    if (l->iv[0] == MG_SUB && nin != 2) {
        error_at(c, at, "%s: A `Subtract` layer should be called on exactly 2 inputs. Received: "
                 "input_shape=%s", layer_label(c, l), shapes_str(c, in, nin));
        return false;
    }
    int64_t batch = DIM_NONE;
    for (int i = 0; i < nin; i++) {
        int64_t b = in[i].rank ? in[i].d[0] : DIM_NONE;
        if (b != DIM_NONE && batch != DIM_NONE && b != batch) {
            error_at(c, at, "%s: Cannot merge tensors with different batch sizes. Received "
                     "tensors with shapes %s", layer_label(c, l), shapes_str(c, in, nin));
            return false;
        }
        if (b != DIM_NONE)
            batch = b;
    }
    Shape acc = drop_batch(&in[0]);
    for (int i = 1; i < nin; i++) {
        Shape next = drop_batch(&in[i]), res;
        if (!elemwise_shape(&acc, &next, &res)) {
            // Keras names the two non-batch shapes, the longer one first.
            bool swap = acc.rank < next.rank;
            error_at(c, at, "%s: Inputs have incompatible shapes. Received shapes %s and %s",
                     layer_label(c, l), pystr(c, swap ? &next : &acc),
                     pystr(c, swap ? &acc : &next));
            return false;
        }
        acc = res;
    }
    int64_t o[MAX_RANK];
    o[0] = batch;
    memcpy(o + 1, acc.d, sizeof o[0] * (size_t)acc.rank);
    return put1(out, nout, acc.rank + 1, o);
}

//
// Concatenate: all ranks equal; dims other than `axis` must match (None
// matches anything); output is input 0's shape with the axis summed (None
// if any is None). iv[0]: axis as given; iv[1]: axis in [0, rank) of the
// latest call. No weights.
//

static bool concat_init(Ctx *c, Layer *l) {
    return base_init(c, l) && larg_int(c, l, "axis", &l->iv[0]);
}

static bool concat_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                         Span at) {
    if (nin < 1) {
        error_at(c, at, "%s: A `Concatenate` layer should be called on a list of at least 1 "
                 "input. Received: input_shape=[]", layer_label(c, l));
        return false;
    }
    const char *msg = "A `Concatenate` layer requires inputs with matching shapes except for "
                      "the concatenation axis.";
    int a;
    if (!norm_axis(c, l, l->iv[0], &in[0], at, &a))
        return false;
    int64_t o[MAX_RANK];
    memcpy(o, in[0].d, sizeof o);
    for (int i = 1; i < nin; i++) {
        bool match = in[i].rank == in[0].rank;
        for (int j = 0; match && j < in[0].rank; j++)
            match = j == a || in[i].d[j] == DIM_NONE || o[j] == DIM_NONE || in[i].d[j] == o[j];
        if (!match) {
            error_at(c, at, "%s: %s Received: input_shape=%s", layer_label(c, l), msg,
                     shapes_str(c, in, nin));
            return false;
        }
        o[a] = dim_add(o[a], in[i].d[a]);
    }
    l->iv[1] = a;
    return check_big(c, l, in[0].rank, o, at) && put1(out, nout, in[0].rank, o);
}

//
// Embedding: (N, *d) -> (N, *d, output_dim); integer input.
// Weights: embeddings (input_dim, output_dim).
// With lora_rank r also lora_embeddings_a (input_dim, r) and
// lora_embeddings_b (r, output_dim), and the embeddings frozen.
// iv: EM_IN input_dim, EM_OUT output_dim, EM_MASK mask_zero, EM_LORA lora
// rank (0 = off); fv[0] lora_alpha.
//



static bool embedding_init(Ctx *c, Layer *l) {
    bool ok = true;
    ok &= arg_int_min(c, l, "input_dim", 1, "Received an invalid value for `input_dim`, expected "
                      "a positive integer. Received: input_dim=%s", &l->iv[EM_IN]);
    ok &= arg_int_min(c, l, "output_dim", 1, "Received an invalid value for `output_dim`, "
                      "expected a positive integer. Received: output_dim=%s", &l->iv[EM_OUT]);
    ok &= arg_flag(c, l, "mask_zero", &l->iv[EM_MASK]);
    ok &= arg_lora(c, l, "embeddings_constraint", "embedding", &l->iv[EM_LORA], &l->fv[0]);
    if (!is_none(l, "input_length"))
        warning_at(c, larg_span(l, "input_length"), "%s: Argument `input_length` is deprecated. "
                   "Just remove it.", cname(l));
    return ok;
}

static bool embedding_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    Weight *e = add_weight(c, l, "embeddings", 2, &l->iv[EM_IN], true, "embeddings_initializer");
    add_lora(c, l, e, "lora_embeddings_a", "lora_embeddings_b", l->iv[EM_LORA]);
    note_build(l, in, nin);
    return true;
}

static bool embedding_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                            Span at) {
    if (!single(c, l, nin, at))
        return false;
    const Shape *x = &in[0];
    if (x->rank >= MAX_RANK) {
        error_at(c, at, "%s: the output would have rank %d; at most %d is supported",
                 layer_label(c, l), x->rank + 1, MAX_RANK);
        return false;
    }
    int64_t o[MAX_RANK];
    memcpy(o, x->d, sizeof o[0] * (size_t)x->rank);
    o[x->rank] = l->iv[EM_OUT];
    return put1(out, nout, x->rank + 1, o);
}

//
// Recurrent layers: SimpleRNN, LSTM, GRU. Input (N, T, F), F defined.
// Output (N, units), return_sequences: (N, T, units); return_state appends
// the final states, each (N, units): [h] (SimpleRNN, GRU) or [h, c] (LSTM).
// Weights (the cell's), g = 1 / 4 / 3 gates:
//   kernel (F, g*units), recurrent_kernel (units, g*units),
//   bias (g*units,); GRU with reset_after: (2, 3*units).
// Gate order: LSTM i, f, c, o (unit_forget_bias sets f's bias to 1);
// GRU z, r, h.
//





static double clip01(double x) {
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

static bool rnn_init(Ctx *c, Layer *l, RnnKind kind) {
    bool ok = base_init(c, l);
    int64_t units = 0;
    ok &= arg_int_min(c, l, "units", 1, "Received an invalid value for argument `units`, "
                      "expected a positive integer, got %s.", &units);
    ActKind ract = ACT_SIGMOID;
    ok &= larg_activation(c, l, "activation", &l->act);
    if (kind != RNN_SIMPLE)
        ok &= larg_activation(c, l, "recurrent_activation", &ract);
    static const struct { const char *arg; int slot; } flags[] = {
        {"use_bias", RN_BIAS}, {"return_sequences", RN_RETSEQ}, {"return_state", RN_RETSTATE},
        {"go_backwards", RN_BACKWARDS}, {"stateful", RN_STATEFUL}, {"unroll", RN_UNROLL},
        {"zero_output_for_mask", RN_ZERO_MASKED},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        ok &= arg_flag(c, l, flags[i].arg, &l->iv[flags[i].slot]);
    if (kind == RNN_LSTM)
        ok &= arg_flag(c, l, "unit_forget_bias", &l->iv[RN_FORGET_BIAS]);
    if (kind == RNN_GRU)
        ok &= arg_flag(c, l, "reset_after", &l->iv[RN_RESET_AFTER]);
    double dr = 0, rdr = 0;
    ok &= larg_float(c, l, "dropout", &dr);
    ok &= larg_float(c, l, "recurrent_dropout", &rdr);
    ok &= arg_opt_int(c, l, "seed", -1, &l->iv[RN_SEED]);
    if (kind != RNN_SIMPLE) {
        // A keyword Keras 3's LSTM and GRU pass on to their cells: 1 draws
        // one dropout mask per gate (kdl's training code, emit_train.c).
        ok &= arg_opt_int(c, l, "implementation", 2, &l->iv[RN_IMPL]);
        if (clip01(rdr) != 0)
            l->iv[RN_IMPL] = 1;
    }
    if (kind != RNN_SIMPLE) {
        Value *v = larg(l, "use_cudnn");
        if (v->kind == V_ERROR) {
            ok = false;
        } else if (v->kind != V_BOOL && !(v->kind == V_STR && !strcmp(v->u.str.s, "auto"))) {
            error_at(c, larg_span(l, "use_cudnn"), "%s: Invalid value received for argument "
                     "`use_cudnn`. Expected one of {'auto', True, False}. Received: use_cudnn=%s",
                     cname(l), value_str(c, v));
            ok = false;
        }
    }
    l->iv[RN_KIND] = kind;
    l->iv[RN_UNITS] = units;
    l->iv[RN_REC_ACT] = ract;
    l->fv[0] = clip01(dr);
    l->fv[1] = clip01(rdr);
    return ok;
}

static bool simple_rnn_init(Ctx *c, Layer *l) { return rnn_init(c, l, RNN_SIMPLE); }
static bool lstm_init(Ctx *c, Layer *l) { return rnn_init(c, l, RNN_LSTM); }
static bool gru_init(Ctx *c, Layer *l) { return rnn_init(c, l, RNN_GRU); }

static bool rnn_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at) {
    // (in[1..]: initial states, rnn_infer checks them)
    if (nin < 1 || in[0].rank != 3 || in[0].d[2] == DIM_NONE)
        return true;
    RnnKind kind = (RnnKind)l->iv[RN_KIND];
    int64_t u = l->iv[RN_UNITS], g = kind == RNN_LSTM ? 4 : kind == RNN_GRU ? 3 : 1;
    int64_t k[2] = {in[0].d[2], g * u}, rk[2] = {u, g * u}, b[2] = {2, g * u};
    add_weight(c, l, "kernel", 2, k, true, "kernel_initializer");
    add_weight(c, l, "recurrent_kernel", 2, rk, true, "recurrent_initializer");
    if (l->iv[RN_BIAS]) {
        if (kind == RNN_GRU && l->iv[RN_RESET_AFTER])
            add_weight(c, l, "bias", 2, b, true, "bias_initializer");
        else
            add_weight(c, l, "bias", 1, &b[1], true, "bias_initializer");
    }
    note_build(l, in, nin);
    return true;
}

// SimpleRNN, LSTM, GRU.
bool is_rnn_class(const char *k) {
    return !strcmp(k, "SimpleRNN") || !strcmp(k, "LSTM") || !strcmp(k, "GRU");
}

// The states of a recurrent layer: (batch, units) each; LSTM h and c.
int rnn_nstates(const Layer *l) {
    return l->iv[RN_KIND] == RNN_LSTM ? 2 : 1;
}

// Its gates: LSTM i, f, c, o; GRU z, r, h; SimpleRNN one.
int rnn_gates(const Layer *l) {
    return l->iv[RN_KIND] == RNN_LSTM ? 4 : l->iv[RN_KIND] == RNN_GRU ? 3 : 1;
}

static bool rnn_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                      Span at) {
    // in[1..]: initial_state= tensors, one per state, each (batch, units).
    if (nin > 1 && nin - 1 != rnn_nstates(l)) {
        error_at(c, at, "%s: initial_state has %d tensors; the layer has %d state%s (%s)",
                 layer_label(c, l), nin - 1, rnn_nstates(l), rnn_nstates(l) > 1 ? "s" : "",
                 rnn_nstates(l) > 1 ? "h and c" : "h");
        return false;
    }
    for (int i = 1; i < nin; i++) {
        const Shape *st = &in[i];
        bool ok = st->rank == 2 && (st->d[1] == DIM_NONE || st->d[1] == l->iv[RN_UNITS]) &&
                  (st->d[0] == DIM_NONE || in[0].d[0] == DIM_NONE || st->d[0] == in[0].d[0]);
        if (!ok || st->d[1] == DIM_NONE) {
            error_at(c, at, "%s: initial_state[%d] has shape %s; the layer's states have shape "
                     "(batch, %lld)%s", layer_label(c, l), i - 1, pystr(c, st),
                     (long long)l->iv[RN_UNITS],
                     st->rank == 2 && st->d[1] == DIM_NONE ? " (a known last dimension)" : "");
            return false;
        }
    }
    if (nin < 1 || !spec_ndim(c, l, &in[0], 0, 3, false, at))
        return false;
    const Shape *x = &in[0];
    if (!want_defined(c, l, x, 2, "the last dimension of the input must be defined", at)
        || !spec_axis(c, l, x, 0, -1, at))
        return false;
    if (l->iv[RN_STATEFUL] && x->d[0] == DIM_NONE) {
        error_at(c, at, "%s: When using `stateful=True` in a RNN, the batch size must be static. "
                 "Found dynamic batch size: sequence.shape=%s", layer_label(c, l), pystr(c, x));
        return false;
    }
    if (l->iv[RN_UNROLL] && x->d[1] == DIM_NONE) {
        error_at(c, at, "%s: Cannot unroll a RNN if the time dimension is undefined; received "
                 "input shape %s. Specify the time dimension in the `shape` or `batch_shape` "
                 "argument of `Input()`.", layer_label(c, l), pystr(c, x));
        return false;
    }
    int64_t u = l->iv[RN_UNITS];
    int64_t seq[3] = {x->d[0], x->d[1], u}, last[2] = {x->d[0], u};
    if (l->iv[RN_RETSEQ])
        put1(out, nout, 3, seq);
    else
        put1(out, nout, 2, last);
    if (l->iv[RN_RETSTATE]) {
        int nstates = rnn_nstates(l);
        for (int i = 0; i < nstates; i++)
            out[(*nout)++] = shape_make(2, last);
    }
    return true;
}

//
// Image layers: RandomCrop, ZeroPadding2D, UpSampling2D. Input rank 4,
// (N, H, W, C) (channels_first: (N, C, H, W)). No weights.
//   RandomCrop     H, W -> height, width. Our documented choice: a known H or
//                  W smaller than the target is a compile-time error.
//                  iv: RC_H height, RC_W width, RC_SEED (-1 = None), RC_CFIRST
//   ZeroPadding2D  H + top + bottom, W + left + right (None stays None).
//                  iv: ZP_T, ZP_B, ZP_L, ZP_R, ZP_CFIRST
//   UpSampling2D   H * size[0], W * size[1].
//                  iv: UP_H, UP_W, UP_INTERP (index in up_interps), UP_CFIRST
//





static const char *const up_interps[] = {"nearest", "bilinear", "bicubic", "lanczos3",
                                         "lanczos5", NULL};

// The shared frame: one rank-4 input; H and W replaced by f(H), f(W).
static bool image_infer(Ctx *c, Layer *l, const Shape *in, int nin, int cfirst_slot,
                        const int64_t hw[2], Shape *out, int *nout, Span at) {
    int64_t o[4];
    int sp = l->iv[cfirst_slot] ? 2 : 1;
    memcpy(o, in[0].d, sizeof o);
    o[sp] = hw[0];
    o[sp + 1] = hw[1];
    return check_big(c, l, 4, o, at) && put1(out, nout, 4, o);
}

static bool random_crop_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l), cfirst = false;
    ok &= arg_int_min(c, l, "height", 1, "Received an invalid value for `height`, expected a "
                      "positive integer. Received: height=%s", &l->iv[RC_H]);
    ok &= arg_int_min(c, l, "width", 1, "Received an invalid value for `width`, expected a "
                      "positive integer. Received: width=%s", &l->iv[RC_W]);
    ok &= arg_opt_int(c, l, "seed", -1, &l->iv[RC_SEED]);
    ok &= arg_data_format(c, l, &cfirst);
    l->iv[RC_CFIRST] = cfirst;
    return ok;
}

static bool random_crop_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                              int *nout, Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 4, false, at))
        return false;
    int sp = l->iv[RC_CFIRST] ? 2 : 1;
    static const char *const what[] = {"height", "width"};
    for (int i = 0; i < 2; i++) {
        int64_t n = in[0].d[sp + i], t = l->iv[RC_H + i];
        if (n != DIM_NONE && n < t) {
            error_at(c, at, "%s: the input %s %lld is smaller than the crop %s %lld; received "
                     "input shape %s", layer_label(c, l), what[i], (long long)n, what[i],
                     (long long)t, pystr(c, &in[0]));
            return false;
        }
    }
    return image_infer(c, l, in, nin, RC_CFIRST, &l->iv[RC_H], out, nout, at);
}

// One entry of a padding or cropping argument `arg`: p -> (p, p), or (a,
// b); each >= 0 (standardize_tuple(entry, 2, what, allow_zero=True)).
static bool pad_pair(Ctx *c, Layer *l, const char *arg, Value *v, const char *what,
                     int64_t out[2]) {
    Span sp = larg_span(l, arg);
    int n = v->kind == V_TUPLE || v->kind == V_LIST ? list_len(v) : 0;
    if (v->kind == V_ERROR || (n == 2 && (list_get(v, 0)->kind == V_ERROR
                                          || list_get(v, 1)->kind == V_ERROR)))
        return false;
    if (v->kind == V_INT) {
        out[0] = out[1] = v->u.i;
    } else if (n == 2 && list_get(v, 0)->kind == V_INT && list_get(v, 1)->kind == V_INT) {
        out[0] = list_get(v, 0)->u.i;
        out[1] = list_get(v, 1)->u.i;
    } else {
        error_at(c, sp, "%s: The `%s` argument must be a tuple of 2 integers. Received %s=%s",
                 cname(l), what, what, value_str(c, v));
        return false;
    }
    return tuple_in_range(c, l, sp, what, value_str(c, v), out, 2, true);
}

static bool zero_padding_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l), cfirst = false;
    ok &= arg_data_format(c, l, &cfirst);
    l->iv[ZP_CFIRST] = cfirst;
    Value *v = larg(l, "padding");
    if (v->kind == V_ERROR)
        return false;
    if (v->kind == V_INT)
        return pad_pair(c, l, "padding", v, "padding", &l->iv[ZP_T]) && ok
            && pad_pair(c, l, "padding", v, "padding", &l->iv[ZP_L]);
    // Keras tests hasattr(padding, "__len__"), which a str passes: a string
    // of length 2 fails as its 1st entry (a 1-character string).
    if (v->kind == V_STR && v->u.str.len == 2) {
        error_at(c, larg_span(l, "padding"), "%s: The `1st entry of padding` argument must be a "
                 "tuple of 2 integers. Received 1st entry of padding=%c", cname(l), v->u.str.s[0]);
        return false;
    }
    if (v->kind != V_TUPLE && v->kind != V_LIST && v->kind != V_STR) {
        error_at(c, larg_span(l, "padding"), "%s: `padding` should be either an int, a tuple of "
                 "2 ints (symmetric_height_crop, symmetric_width_crop), or a tuple of 2 tuples "
                 "of 2 ints ((top_crop, bottom_crop), (left_crop, right_crop)). Received: "
                 "padding=%s.", cname(l), value_str(c, v));
        return false;
    }
    if (v->kind == V_STR || list_len(v) != 2) {
        error_at(c, larg_span(l, "padding"), "%s: `padding` should have two elements. Received: "
                 "padding=%s.", cname(l), value_str(c, v));
        return false;
    }
    ok &= pad_pair(c, l, "padding", list_get(v, 0), "1st entry of padding", &l->iv[ZP_T]);
    ok &= pad_pair(c, l, "padding", list_get(v, 1), "2nd entry of padding", &l->iv[ZP_L]);
    return ok;
}

static bool zero_padding_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                               int *nout, Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 4, false, at))
        return false;
    int sp = l->iv[ZP_CFIRST] ? 2 : 1;
    int64_t hw[2] = {dim_add(in[0].d[sp], l->iv[ZP_T] + l->iv[ZP_B]),
                     dim_add(in[0].d[sp + 1], l->iv[ZP_L] + l->iv[ZP_R])};
    return image_infer(c, l, in, nin, ZP_CFIRST, hw, out, nout, at);
}

// The 1D forms (ZeroPadding1D, UpSampling1D, Cropping1D): (N, T, C), their
// numbers in the 2D layers' slots with a height of 1 (the kernels and the
// code generator take them as images of one row).
static bool pair_arg(Ctx *c, Layer *l, const char *name, int64_t out[2]) {
    return pad_pair(c, l, name, larg(l, name), name, out);
}

static bool zero_padding1d_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    l->iv[ZP_T] = l->iv[ZP_B] = 0;
    return pair_arg(c, l, "padding", &l->iv[ZP_L]) && ok;
}

static bool up_sampling1d_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    ok &= arg_int_min(c, l, "size", 1, "Received an invalid value for `size`, expected a "
                      "positive integer. Received: size=%s", &l->iv[UP_W]);
    l->iv[UP_H] = 1;
    l->iv[UP_INTERP] = 0;
    return ok;
}

static bool cropping1d_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l);
    l->iv[CR_T] = l->iv[CR_B] = 0;
    return pair_arg(c, l, "cropping", &l->iv[CR_L]) && ok;
}

// Cropping2D's cropping: an int (all four sides), two ints (symmetric
// height, symmetric width) or two pairs ((top, bottom), (left, right)).
static bool cropping2d_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l), cfirst = false;
    ok &= arg_data_format(c, l, &cfirst);
    l->iv[CR_CFIRST] = cfirst;
    Value *v = larg(l, "cropping");
    Span sp = larg_span(l, "cropping");
    if (v->kind == V_ERROR)
        return false;
    if (v->kind == V_INT) {
        l->iv[CR_T] = l->iv[CR_B] = l->iv[CR_L] = l->iv[CR_R] = v->u.i;
    } else if ((v->kind == V_TUPLE || v->kind == V_LIST) && list_len(v) == 2) {
        for (int i = 0; i < 2; i++) {
            Value *e = list_get(v, i);
            int64_t *dst = &l->iv[i ? CR_L : CR_T];
            if (e->kind == V_INT) {
                dst[0] = dst[1] = e->u.i;
            } else if ((e->kind == V_TUPLE || e->kind == V_LIST) && list_len(e) == 2 &&
                       list_get(e, 0)->kind == V_INT && list_get(e, 1)->kind == V_INT) {
                dst[0] = list_get(e, 0)->u.i;
                dst[1] = list_get(e, 1)->u.i;
            } else {
                ok = false;
            }
        }
    } else {
        ok = false;
    }
    if (!ok) {
        error_at(c, sp, "%s: `cropping` should be either an int, a tuple of 2 ints "
                 "(symmetric_height_crop, symmetric_width_crop), or a tuple of 2 tuples of 2 "
                 "ints ((top_crop, bottom_crop), (left_crop, right_crop)). Received: "
                 "cropping=%s", cname(l), value_str(c, v));
        return false;
    }
    return tuple_in_range(c, l, sp, "cropping", value_str(c, v), &l->iv[CR_T], 4, true);
}

// (N, T, C) -> (N, f(T), C) for the 1D forms.
static bool seq_infer(Ctx *c, Layer *l, const Shape *in, int nin, int64_t t, Shape *out,
                      int *nout, Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 3, false, at))
        return false;
    int64_t o[3] = {in[0].d[0], t, in[0].d[2]};
    return check_big(c, l, 3, o, at) && put1(out, nout, 3, o);
}

static bool zero_padding1d_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                                 int *nout, Span at) {
    return seq_infer(c, l, in, nin, nin == 1 && in[0].rank == 3 ?
                     dim_add(in[0].d[1], l->iv[ZP_L] + l->iv[ZP_R]) : 0, out, nout, at);
}

static bool up_sampling1d_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                                int *nout, Span at) {
    return seq_infer(c, l, in, nin, nin == 1 && in[0].rank == 3 ?
                     dim_mul(in[0].d[1], l->iv[UP_W]) : 0, out, nout, at);
}

// A cropped length: what is left of n, which must be > 0 (Keras's check).
static bool crop_len(Ctx *c, Layer *l, const Shape *x, int axis, int64_t a, int64_t b,
                     int64_t *out, Span at) {
    int64_t n = x->d[axis];
    *out = n == DIM_NONE ? DIM_NONE : n - a - b;
    if (n != DIM_NONE && *out <= 0) {
        error_at(c, at, "%s: `cropping` parameter of `%s` layer must be smaller than the input "
                 "length. Received: input_shape=%s, cropping=(%lld, %lld)", layer_label(c, l),
                 l->class_name, pystr(c, x), (long long)a, (long long)b);
        return false;
    }
    return true;
}

static bool cropping1d_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                             int *nout, Span at) {
    int64_t t = 0;
    if (nin == 1 && in[0].rank == 3 &&
        !crop_len(c, l, &in[0], 1, l->iv[CR_L], l->iv[CR_R], &t, at))
        return false;
    return seq_infer(c, l, in, nin, t, out, nout, at);
}

static bool cropping2d_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                             int *nout, Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 4, false, at))
        return false;
    int sp = l->iv[CR_CFIRST] ? 2 : 1;
    int64_t hw[2];
    if (!crop_len(c, l, &in[0], sp, l->iv[CR_T], l->iv[CR_B], &hw[0], at) ||
        !crop_len(c, l, &in[0], sp + 1, l->iv[CR_L], l->iv[CR_R], &hw[1], at))
        return false;
    return image_infer(c, l, in, nin, CR_CFIRST, hw, out, nout, at);
}

static bool up_sampling_init(Ctx *c, Layer *l) {
    bool ok = base_init(c, l), cfirst = false;
    int interp = 0;
    ok &= arg_tuple(c, l, "size", 2, false, &l->iv[UP_H]);
    ok &= larg_choice(c, l, "interpolation", up_interps, &interp);
    ok &= arg_data_format(c, l, &cfirst);
    l->iv[UP_INTERP] = interp;
    l->iv[UP_CFIRST] = cfirst;
    return ok;
}

static bool up_sampling_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out,
                              int *nout, Span at) {
    if (!single(c, l, nin, at) || !spec_ndim(c, l, &in[0], 0, 4, false, at))
        return false;
    int sp = l->iv[UP_CFIRST] ? 2 : 1;
    int64_t hw[2] = {dim_mul(in[0].d[sp], l->iv[UP_H]), dim_mul(in[0].d[sp + 1], l->iv[UP_W])};
    return image_infer(c, l, in, nin, UP_CFIRST, hw, out, nout, at);
}

//
// The table. Signatures list Keras 3's own parameters in its order, then the
// base-Layer keywords (keyword-only in Keras; trailing here so positional
// calls bind as in Keras). Pooling and RandomCrop take `name` positionally
// in Keras, which the trailing B_NAME reproduces. LC_BUILT_AT_INIT marks the
// classes whose __init__ calls _build_at_init() (or sets built = True).
//

#define B_NAME "name=None, dtype=None, trainable=True, autocast=True"
#define B_SHAPE ", input_shape=None, input_dim=None"
#define B_AR ", activity_regularizer=None"
#define B_ALL B_NAME B_SHAPE B_AR

#define CONV_TAIL                                                                              \
    "activation=None, use_bias=True, kernel_initializer='glorot_uniform', "                   \
    "bias_initializer='zeros', kernel_regularizer=None, bias_regularizer=None, "              \
    "activity_regularizer=None, kernel_constraint=None, bias_constraint=None, "
#define POOL_TAIL "strides=None, padding='valid', data_format=None, " B_ALL
#define RNN_HEAD                                                                               \
    "use_bias=True, kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal', " \
    "bias_initializer='zeros', "
#define RNN_REGS                                                                               \
    "kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, "            \
    "activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, "          \
    "bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, "
#define RNN_FLAGS                                                                              \
    "return_sequences=False, return_state=False, go_backwards=False, stateful=False, "        \
    "unroll=False, "

const LayerClass layer_classes[] = {
    {"InputLayer",
     "shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, input_tensor=None, "
     "optional=False, name=None, ragged=None, input_shape=None",
     LC_INPUT, input_init, build_none, input_infer},
    {"Dense",
     "units, activation=None, use_bias=True, kernel_initializer='glorot_uniform', "
     "bias_initializer='zeros', kernel_regularizer=None, bias_regularizer=None, "
     "activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None, "
     "lora_alpha=None, quantization_config=None, " B_NAME B_SHAPE,
     0, dense_init, dense_build, dense_infer},
    {"Conv1D",
     "filters, kernel_size, strides=1, padding='valid', data_format=None, dilation_rate=1, "
     "groups=1, " CONV_TAIL "lora_rank=None, lora_alpha=None, " B_NAME B_SHAPE,
     0, conv1d_init, conv_build, conv_infer},
    {"Conv2D",
     "filters, kernel_size, strides=(1, 1), padding='valid', data_format=None, "
     "dilation_rate=(1, 1), groups=1, " CONV_TAIL "lora_rank=None, lora_alpha=None, "
     B_NAME B_SHAPE,
     0, conv2d_init, conv_build, conv_infer},
    {"Conv2DTranspose",
     "filters, kernel_size, strides=(1, 1), padding='valid', data_format=None, "
     "dilation_rate=(1, 1), " CONV_TAIL "output_padding=None, " B_NAME B_SHAPE,
     0, conv2dt_init, conv_build, conv_infer},
    {"Conv1DTranspose",
     "filters, kernel_size, strides=1, padding='valid', data_format=None, dilation_rate=1, "
     CONV_TAIL "output_padding=None, " B_NAME B_SHAPE,
     0, conv1dt_init, conv_build, conv_infer},
    {"DepthwiseConv2D",
     "kernel_size, strides=(1, 1), padding='valid', depth_multiplier=1, data_format=None, "
     "dilation_rate=(1, 1), activation=None, use_bias=True, "
     "depthwise_initializer='glorot_uniform', bias_initializer='zeros', "
     "depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None, "
     "depthwise_constraint=None, bias_constraint=None, " B_NAME B_SHAPE,
     0, dwconv2d_init, conv_build, conv_infer},
    {"SeparableConv2D",
     "filters, kernel_size, strides=(1, 1), padding='valid', data_format=None, "
     "dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True, "
     "depthwise_initializer='glorot_uniform', pointwise_initializer='glorot_uniform', "
     "bias_initializer='zeros', depthwise_regularizer=None, pointwise_regularizer=None, "
     "bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None, "
     "pointwise_constraint=None, bias_constraint=None, " B_NAME B_SHAPE,
     0, sepconv2d_init, conv_build, conv_infer},
    {"MaxPooling1D", "pool_size=2, " POOL_TAIL,
     LC_BUILT_AT_INIT, maxpool1d_init, build_none, pool_infer},
    {"MaxPooling2D", "pool_size=(2, 2), " POOL_TAIL,
     LC_BUILT_AT_INIT, maxpool2d_init, build_none, pool_infer},
    {"AveragePooling1D", "pool_size, " POOL_TAIL,
     LC_BUILT_AT_INIT, avgpool1d_init, build_none, pool_infer},
    {"AveragePooling2D", "pool_size, " POOL_TAIL,
     LC_BUILT_AT_INIT, avgpool2d_init, build_none, pool_infer},
    {"GlobalAveragePooling1D", "data_format=None, keepdims=False, " B_ALL,
     LC_BUILT_AT_INIT, gap1d_init, build_none, gpool_infer},
    {"GlobalAveragePooling2D", "data_format=None, keepdims=False, " B_ALL,
     LC_BUILT_AT_INIT, gap2d_init, build_none, gpool_infer},
    {"GlobalMaxPooling1D", "data_format=None, keepdims=False, " B_ALL,
     LC_BUILT_AT_INIT, gmp1d_init, build_none, gpool_infer},
    {"GlobalMaxPooling2D", "data_format=None, keepdims=False, " B_ALL,
     LC_BUILT_AT_INIT, gmp2d_init, build_none, gpool_infer},
    {"Flatten", "data_format=None, " B_ALL, 0, flatten_init, build_none, flatten_infer},
    {"Reshape", "target_shape, " B_ALL, LC_BUILT_AT_INIT, reshape_init, build_none, reshape_infer},
    {"Permute", "dims, " B_ALL, 0, permute_init, build_none, permute_infer},
    {"RepeatVector", "n, " B_ALL, 0, repeat_init, build_none, repeat_infer},
    {"Dropout", "rate, noise_shape=None, seed=None, " B_ALL,
     LC_TRAINING | LC_BUILT_AT_INIT, dropout_init, build_none, same_infer},
    {"BatchNormalization",
     "axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, beta_initializer='zeros', "
     "gamma_initializer='ones', moving_mean_initializer='zeros', "
     "moving_variance_initializer='ones', beta_regularizer=None, gamma_regularizer=None, "
     "beta_constraint=None, gamma_constraint=None, synchronized=False, " B_ALL,
     LC_TRAINING, batchnorm_init, batchnorm_build, batchnorm_infer},
    {"LayerNormalization",
     "axis=-1, epsilon=0.001, center=True, scale=True, rms_scaling=False, "
     "beta_initializer='zeros', gamma_initializer='ones', beta_regularizer=None, "
     "gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, " B_ALL,
     0, layernorm_init, layernorm_build, layernorm_infer},
    {"Activation", "activation, " B_ALL, LC_BUILT_AT_INIT, activation_init, build_none, same_infer},
    {"ReLU", "max_value=None, negative_slope=0.0, threshold=0.0, " B_ALL,
     LC_BUILT_AT_INIT, relu_init, build_none, same_infer},
    {"LeakyReLU", "negative_slope=0.3, alpha=None, " B_ALL,
     LC_BUILT_AT_INIT, leaky_relu_init, build_none, same_infer},
    {"ELU", "alpha=1.0, " B_ALL, LC_BUILT_AT_INIT, elu_init, build_none, same_infer},
    {"Identity", B_ALL, LC_BUILT_AT_INIT, base_init, build_none, same_infer},
    {"Softmax", "axis=-1, " B_ALL, LC_BUILT_AT_INIT, softmax_init, build_none, softmax_infer},
    {"Add", B_ALL, LC_MULTI_INPUT, add_init, build_none, merge_infer},
    {"Subtract", B_ALL, LC_MULTI_INPUT, subtract_init, build_none, merge_infer},
    {"Multiply", B_ALL, LC_MULTI_INPUT, multiply_init, build_none, merge_infer},
    {"Average", B_ALL, LC_MULTI_INPUT, average_init, build_none, merge_infer},
    {"Maximum", B_ALL, LC_MULTI_INPUT, maximum_init, build_none, merge_infer},
    {"Minimum", B_ALL, LC_MULTI_INPUT, minimum_init, build_none, merge_infer},
    {"Concatenate", "axis=-1, " B_ALL, LC_MULTI_INPUT, concat_init, build_none, concat_infer},
    {"Embedding",
     "input_dim, output_dim, embeddings_initializer='uniform', embeddings_regularizer=None, "
     "embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, "
     "lora_alpha=None, quantization_config=None, input_length=None, " B_NAME
     ", input_shape=None" B_AR,
     LC_INT_INPUT, embedding_init, embedding_build, embedding_infer},
    {"SimpleRNN",
     "units, activation='tanh', " RNN_HEAD RNN_REGS RNN_FLAGS
     "seed=None, zero_output_for_mask=False, " B_NAME B_SHAPE,
     LC_TRAINING | LC_MULTI_OUTPUT, simple_rnn_init, rnn_build, rnn_infer},
    {"LSTM",
     "units, activation='tanh', recurrent_activation='sigmoid', " RNN_HEAD
     "unit_forget_bias=True, " RNN_REGS "seed=None, " RNN_FLAGS
     "use_cudnn='auto', zero_output_for_mask=False, implementation=2, " B_NAME B_SHAPE,
     LC_TRAINING | LC_MULTI_OUTPUT, lstm_init, rnn_build, rnn_infer},
    {"GRU",
     "units, activation='tanh', recurrent_activation='sigmoid', " RNN_HEAD RNN_REGS
     "seed=None, " RNN_FLAGS "reset_after=True, use_cudnn='auto', "
     "zero_output_for_mask=False, implementation=2, " B_NAME B_SHAPE,
     LC_TRAINING | LC_MULTI_OUTPUT, gru_init, rnn_build, rnn_infer},
    {"Bidirectional", "layer, merge_mode='concat', weights=None, backward_layer=None, " B_ALL,
     LC_TRAINING | LC_MULTI_OUTPUT, bidirectional_init, bidirectional_build,
     bidirectional_infer},
    {"TimeDistributed", "layer, " B_ALL, LC_TRAINING, time_distributed_init,
     time_distributed_build, time_distributed_infer},
    {"RandomCrop", "height, width, seed=None, data_format=None, " B_ALL,
     LC_TRAINING, random_crop_init, build_none, random_crop_infer},
    {"Rescaling", "scale, offset=0.0, " B_ALL, 0, rescaling_init, build_none, same_infer},
    {"Masking", "mask_value=0.0, " B_ALL, 0, masking_init, build_none, masking_infer},
    {"SpatialDropout1D", "rate, seed=None, " B_ALL, LC_TRAINING, spatial_dropout_init, build_none,
     spatial_dropout_infer},
    {"GaussianNoise", "stddev, seed=None, " B_ALL, LC_TRAINING, gaussian_init, build_none,
     same_infer},
    {"GaussianDropout", "rate, seed=None, " B_ALL, LC_TRAINING, gaussian_init, build_none,
     same_infer},
    {"SpatialDropout2D", "rate, data_format=None, seed=None, " B_ALL, LC_TRAINING,
     spatial_dropout_init, build_none, spatial_dropout_infer},
    {"ZeroPadding2D", "padding=(1, 1), data_format=None, " B_ALL,
     0, zero_padding_init, build_none, zero_padding_infer},
    {"UpSampling2D", "size=(2, 2), data_format=None, interpolation='nearest', " B_ALL,
     0, up_sampling_init, build_none, up_sampling_infer},
    {"ZeroPadding1D", "padding=1, " B_ALL, 0, zero_padding1d_init, build_none,
     zero_padding1d_infer},
    {"UpSampling1D", "size=2, " B_ALL, 0, up_sampling1d_init, build_none, up_sampling1d_infer},
    {"Cropping1D", "cropping=(1, 1), " B_ALL, 0, cropping1d_init, build_none, cropping1d_infer},
    {"Cropping2D", "cropping=((0, 0), (0, 0)), data_format=None, " B_ALL,
     0, cropping2d_init, build_none, cropping2d_infer},
};

const int num_layer_classes = (int)(sizeof layer_classes / sizeof layer_classes[0]);

const LayerFunc layer_aliases[] = {
    {"Convolution1D", "Conv1D"},
    {"Convolution2D", "Conv2D"},
    {"Convolution2DTranspose", "Conv2DTranspose"},
    {"Convolution1DTranspose", "Conv1DTranspose"},
    {"SeparableConvolution2D", "SeparableConv2D"},
    {"MaxPool1D", "MaxPooling1D"},
    {"MaxPool2D", "MaxPooling2D"},
    {"AvgPool1D", "AveragePooling1D"},
    {"AvgPool2D", "AveragePooling2D"},
    {"GlobalAvgPool1D", "GlobalAveragePooling1D"},
    {"GlobalAvgPool2D", "GlobalAveragePooling2D"},
    {"GlobalMaxPool1D", "GlobalMaxPooling1D"},
    {"GlobalMaxPool2D", "GlobalMaxPooling2D"},
    {NULL, NULL},
};

const LayerFunc layer_funcs[] = {
    {"add", "Add"},
    {"subtract", "Subtract"},
    {"multiply", "Multiply"},
    {"average", "Average"},
    {"maximum", "Maximum"},
    {"minimum", "Minimum"},
    {"concatenate", "Concatenate"},
    {NULL, NULL},
};
