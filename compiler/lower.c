/*
 * lower.c - from a model's graph to the IR the C emitter prints.
 *
 * Requires: a built model (Graph of CallNodes, compiler/model.c).
 * Provides: an IrModel per model: one IrOp per layer call in execution
 * order (nested models inlined), one IrBuf per tensor with its per-sample
 * size, and after the passes below an arena offset for every buffer.
 *
 *   lower_model   graph -> ops and buffers (inference graph, training=False)
 *   fuse          (unless --no-fuse) activation layers folded into the
 *                 Dense/Conv before them; Dropout, Flatten, Reshape and
 *                 linear activations become aliases (no code, shared storage)
 *   plan          liveness-based first-fit offsets in one activation arena,
 *                 in floats per sample (every buffer scales with the batch)
 *
 * Errors (shapes the generator cannot handle yet) are reported at the layer
 * call that needs them.
 */
#include "kdlc.h"
#include "layer_data.h"

#include <string.h>

static IrBuf *buf_new(Ctx *c, IrModel *m, const Shape *s, DType dt, const char *what) {
    IrBuf *b = arena_alloc(c->arena, sizeof *b);
    b->id = m->bufs.len;
    b->shape = *s;
    b->dtype = dt;
    b->size = shape_numel(s, 1);
    b->def = -1;
    b->last = -1;
    b->input = -1;
    b->output = -1;
    b->what = what;
    b->plan = -1;
    for (int i = 0; i < MAX_RANK; i++)
        b->dx[i] = -1;
    vec_push(c->arena, &m->bufs, b);
    return b;
}

// The buffer holding a tensor, by the tensor map of the graph being lowered.
typedef struct TMap {
    Vec from, to;   // Tensor* -> IrBuf*
    Vec mfrom, mto; // Tensor* -> its Keras mask (IrBuf*), for tensors that carry one
    int training;   // a nested model's call passed training=: 1/0 for its layers; -1: none
} TMap;

static IrBuf *tmap_get(TMap *t, const Tensor *x) {
    for (int i = t->from.len - 1; i >= 0; i--)
        if (t->from.data[i] == x)
            return t->to.data[i];
    return NULL;
}

static void tmap_put(Ctx *c, TMap *t, const Tensor *x, IrBuf *b) {
    vec_push(c->arena, &t->from, (void *)x);
    vec_push(c->arena, &t->to, b);
}

static IrBuf *mask_get(TMap *t, const Tensor *x) {
    for (int i = t->mfrom.len - 1; i >= 0; i--)
        if (t->mfrom.data[i] == x)
            return t->mto.data[i];
    return NULL;
}

static void mask_put(Ctx *c, TMap *t, const Tensor *x, IrBuf *mask) {
    if (!mask)
        return;
    vec_push(c->arena, &t->mfrom, (void *)x);
    vec_push(c->arena, &t->mto, mask);
}


// ---- run-time dimensions ------------------------------------------------------
//
// A None input dimension is a run-time argument d[k]. Each layer's shape
// rule carries it to its outputs: a dimension that follows from known ones
// is computed here (so everything after a RandomCrop or a global pooling is
// specialised as usual); one that depends on a run-time dimension becomes
// a new d[k] with its C expression, computed once per predict call.

typedef struct Dim {
    int64_t v;      // the value when known
    int k;          // >= 0: the run-time dimension d[k]
} Dim;

static Dim bdim(const IrBuf *b, int i) {
    return b->dx[i] >= 0 ? (Dim){DIM_NONE, b->dx[i]} : (Dim){b->shape.d[i], -1};
}

// A dimension as C: d[k], or its value.
static const char *dim_c(Ctx *c, Dim d) {
    return d.k >= 0 ? arena_printf(c->arena, "d[%d]", d.k)
                    : arena_printf(c->arena, "%lld", (long long)d.v);
}

static int new_dim(Ctx *c, IrModel *m, const char *expr, const char *what) {
    IrDim *d = arena_alloc(c->arena, sizeof *d);
    d->expr = expr;
    d->what = what;
    vec_push(c->arena, &m->dyn, d);
    return m->dyn.len - 1;
}

static void add_check(Ctx *c, IrModel *m, const char *cond, const char *msg, const char *args) {
    IrCheck *k = arena_alloc(c->arena, sizeof *k);
    k->cond = cond;
    k->msg = msg;
    k->args = args;
    vec_push(c->arena, &m->checks, k);
}

// The C text of a sum or product of dims, with the known ones folded.
// Products go through kdl_dim_mul (saturating): the dims are the caller's,
// and P_dims rejects a result that is too large instead of overflowing.
static const char *dims_expr(Ctx *c, const Dim *ds, int n, char op, int64_t *known) {
    const char *e = NULL;
    int64_t acc = op == '+' ? 0 : 1;
    for (int i = 0; i < n; i++) {
        if (ds[i].k < 0) {
            acc = op == '+' ? acc + ds[i].v : acc * ds[i].v;
            continue;
        }
        const char *di = arena_printf(c->arena, "d[%d]", ds[i].k);
        e = !e ? di : op == '+' ? arena_printf(c->arena, "%s + %s", e, di)
                                : arena_printf(c->arena, "kdl_dim_mul(%s, %s)", e, di);
    }
    *known = acc;
    if (!e)
        return NULL;
    if (op == '+' && acc != 0)
        return arena_printf(c->arena, "%s + %lld", e, (long long)acc);
    if (op == '*' && acc != 1)
        return arena_printf(c->arena, "kdl_dim_mul(%s, %lld)", e, (long long)acc);
    return e;
}

// Output o's dimension i of op by the layer's shape rule, when the tensor's
// shape says None. false (reported) when the generator has no rule.
static bool rule_dim(Ctx *c, IrModel *m, IrOp *op, int o, int i, Dim *r) {
    Arena *a = c->arena;
    Layer *l = op->layer;
    const char *k = l->class_name;
    IrBuf *x = op->in[0], *y = op->out[o];
    int orank = y->shape.rank;
    const char *who = arena_printf(a, "%s (%s)", l->name, k);
    if (!strcmp(k, "Permute") && i >= 1) {   // output axis i is input axis dims[i-1]
        *r = bdim(x, (int)l->iv[PM_D + i - 1]);
        return true;
    }
    bool conv = !strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") || !strcmp(k, "DepthwiseConv2D") ||
                !strcmp(k, "SeparableConv2D") || !strcmp(k, "Conv2DTranspose") ||
                !strcmp(k, "Conv1DTranspose");
    bool pool = !strcmp(k, "MaxPooling1D") || !strcmp(k, "MaxPooling2D") ||
                !strcmp(k, "AveragePooling1D") || !strcmp(k, "AveragePooling2D");
    if (conv || pool) {
        int cf = (int)l->iv[conv ? CV_CFIRST : PL_CFIRST], rank = (int)l->iv[conv ? CV_RANK : PL_RANK];
        int j = i - (cf ? 2 : 1);
        if (j < 0 || j >= rank)
            goto same_axis;
        Dim in = bdim(x, i);
        int64_t kk = l->iv[(conv ? CV_K : PL_K) + j], st = l->iv[(conv ? CV_S : PL_S) + j];
        int64_t dl = conv ? l->iv[CV_D + j] : 1;
        int same = (int)l->iv[conv ? CV_PAD : PL_PAD] != PAD_VALID;
        bool deconv = conv && (ConvKind)l->iv[CV_KIND] == CV_TRANSPOSE;
        int64_t opad = deconv ? l->iv[CV_OP + j] : -1;
        if (in.k < 0) {
            *r = (Dim){deconv ? kdl_deconv_out_dim(in.v, kk, st, dl, same, opad)
                              : kdl_conv_out_dim(in.v, kk, st, dl, same), -1};
            return true;
        }
        const char *e = deconv ? arena_printf(a, "kdl_deconv_out_dim(d[%d], %lld, %lld, %lld, %d, "
                                              "%lld)", in.k, (long long)kk, (long long)st,
                                              (long long)dl, same, (long long)opad)
                               : arena_printf(a, "kdl_conv_out_dim(d[%d], %lld, %lld, %lld, %d)",
                                              in.k, (long long)kk, (long long)st, (long long)dl,
                                              same);
        *r = (Dim){DIM_NONE, new_dim(c, m, e, arena_printf(a, "%s output axis %d", l->name, i))};
        return true;
    }
    if (!strcmp(k, "ZeroPadding2D") || !strcmp(k, "UpSampling2D") || !strcmp(k, "Cropping2D") ||
        !strcmp(k, "ZeroPadding1D") || !strcmp(k, "UpSampling1D") || !strcmp(k, "Cropping1D")) {
        // Spatial axis j (the 1D forms: their one axis is j = 1, width).
        bool one = k[strlen(k) - 2] == '1', up = !strncmp(k, "UpSampling", 10);
        bool crop = !strncmp(k, "Cropping", 8);
        int cf = one ? 0 : (int)l->iv[up ? UP_CFIRST : crop ? CR_CFIRST : ZP_CFIRST];
        int j = one ? (i == 1 ? 1 : -1) : i - (cf ? 2 : 1);
        if (j < 0 || j > 1)
            goto same_axis;
        Dim in = bdim(x, i);
        if (crop) {
            Dim p = {-(l->iv[j ? CR_L : CR_T] + l->iv[j ? CR_R : CR_B]), -1};
            int64_t known;
            const char *e = dims_expr(c, (Dim[]){in, p}, 2, '+', &known);
            *r = e ? (Dim){DIM_NONE, new_dim(c, m, e, arena_printf(a, "%s output axis %d",
                                                                  l->name, i))}
                   : (Dim){known, -1};
        } else if (up) {
            Dim f = {l->iv[j ? UP_W : UP_H], -1};
            int64_t known;
            const char *e = dims_expr(c, (Dim[]){in, f}, 2, '*', &known);
            *r = e ? (Dim){DIM_NONE, new_dim(c, m, e, arena_printf(a, "%s output axis %d",
                                                                  l->name, i))}
                   : (Dim){known, -1};
        } else {
            Dim p = {l->iv[j ? ZP_L : ZP_T] + l->iv[j ? ZP_R : ZP_B], -1};
            int64_t known;
            const char *e = dims_expr(c, (Dim[]){in, p}, 2, '+', &known);
            *r = e ? (Dim){DIM_NONE, new_dim(c, m, e, arena_printf(a, "%s output axis %d",
                                                                  l->name, i))}
                   : (Dim){known, -1};
        }
        return true;
    }
    if (!strcmp(k, "Embedding") && i < x->shape.rank) {
        *r = bdim(x, i);
        return true;
    }
    if (!strcmp(k, "Concatenate")) {
        int axis = (int)l->iv[1];
        Dim ds[MAX_IO] = {{0}};
        for (int j = 0; j < op->nin; j++)
            ds[j] = bdim(op->in[j], i);
        if (i != axis) {
            *r = ds[0];
            for (int j = 0; j < op->nin && r->k < 0; j++)
                if (ds[j].k >= 0)
                    *r = ds[j];
            return true;
        }
        int64_t known;
        const char *e = dims_expr(c, ds, op->nin, '+', &known);
        *r = e ? (Dim){DIM_NONE, new_dim(c, m, e, arena_printf(a, "%s output axis %d", l->name,
                                                              i))}
               : (Dim){known, -1};
        return true;
    }
    if (!strcmp(k, "Flatten") || !strcmp(k, "Reshape")) {
        // The unknown length is the input's size over the known target dims.
        Dim ds[MAX_RANK] = {{0}};
        for (int j = 1; j < x->shape.rank; j++)
            ds[j - 1] = bdim(x, j);
        int64_t size, known = 1;
        const char *e = dims_expr(c, ds, x->shape.rank - 1, '*', &size);
        for (int j = 1; j < orank; j++)
            if (j != i)
                known *= y->shape.d[j] == DIM_NONE ? 1 : y->shape.d[j];
        if (!e) {
            if (known == 0 || size % known) {
                error_at(c, op->node->span, "%s: an input of %lld values cannot be reshaped to "
                         "%s", layer_label(c, l), (long long)size,
                         shape_pystr(a, &y->shape));
                return false;
            }
            *r = (Dim){size / known, -1};
            return true;
        }
        const char *total = arena_printf(a, "(%s)", e);
        if (known != 1)
            add_check(c, m, arena_printf(a, "%s %% %lld == 0", total, (long long)known),
                      arena_printf(a, "%s: an input of %%lld values per sample cannot be "
                                   "reshaped to a multiple of %lld", who, (long long)known),
                      arena_printf(a, "(long long)%s", total));
        *r = (Dim){DIM_NONE, new_dim(c, m, known == 1 ? e : arena_printf(a, "%s / %lld", total,
                                                                         (long long)known),
                                     arena_printf(a, "%s output axis %d", l->name, i))};
        return true;
    }
    if (is_merge_class(k)) {
        // Broadcasting, as numpy at run time: a known length other than 1 is
        // the output's (a run-time dimension must then be it or 1); else the
        // run-time dimension of the inputs that have one, or the largest of
        // several (each must be it or 1: the checks are input_checks'; the
        // masks of merged sequences must agree, combine_masks checks).
        // (The first one's used to be the output's: a first input of length
        // 1 against a longer second was rejected by predict.)
        *r = (Dim){1, -1};
        Buf e = {0};
        int nk = 0;
        for (int j = 0; j < op->nin; j++) {
            int ij = i - (orank - op->in[j]->shape.rank);
            if (ij < 1)
                continue;
            Dim dj = bdim(op->in[j], ij);
            if (dj.k < 0 && dj.v != 1) {
                *r = dj;
                return true;
            }
            if (dj.k < 0 || (r->k >= 0 && dj.k == r->k))
                continue;
            if (r->k < 0) {
                *r = dj;
                e.len = 0;
                buf_printf(a, &e, "(int64_t)d[%d]", dj.k);
                nk = 1;
                continue;
            }
            bool seen = false;
            for (int q = 0; q < j && !seen; q++) {
                int iq = i - (orank - op->in[q]->shape.rank);
                seen = iq >= 1 && bdim(op->in[q], iq).k == dj.k;
            }
            if (seen)
                continue;
            const char *prev = arena_printf(a, "%s", e.data);
            e.len = 0;
            buf_printf(a, &e, "kdl_max_dim(%s, (int64_t)d[%d])", prev, dj.k);
            nk++;
        }
        if (nk > 1)
            *r = (Dim){DIM_NONE, new_dim(c, m, arena_printf(a, "%s", e.data),
                                         arena_printf(a, "%s output axis %d", l->name, i))};
        return true;
    }
    if (!strncmp(k, "Global", 6) && orank == 2) {
        // Global pooling without keepdims: (N, C), the input's channels.
        *r = bdim(x, l->iv[GP_CFIRST] ? 1 : x->shape.rank - 1);
        return true;
    }
    if (!strcmp(k, "RepeatVector") && i == 2) {
        *r = bdim(x, 1);
        return true;
    }
    if (!strcmp(k, "Dense") && i == orank - 1)
        goto none;
    if (is_rnn_class(k) && i != 1)
        goto none;
same_axis:
    // Every other layer keeps the input's dimension on this axis.
    if (x->shape.rank == orank) {
        *r = bdim(x, i);
        return true;
    }
none:
    error_at(c, op->node->span, "%s: the code generator cannot derive dimension %d of the output "
             "shape %s from a None input dimension; declare it in keras.Input",
             layer_label(c, l), i, shape_pystr(a, &y->shape));
    return false;
}

// Checks the layer needs of its inputs' run-time dimensions: equal (or 1,
// broadcast) in merges, equal off the axis of a Concatenate, the same size
// through a Reshape/Flatten to a known shape.
static void input_checks(Ctx *c, IrModel *m, IrOp *op) {
    Arena *a = c->arena;
    const char *k = op->layer->class_name;
    IrBuf *y = op->out[0];
    const char *who = arena_printf(a, "%s (%s)", op->layer->name, k);
    bool merge = is_merge_class(k);
    if (merge || !strcmp(k, "Concatenate")) {
        int axis = merge ? -1 : (int)op->layer->iv[1];
        for (int j = 0; j < op->nin; j++)
            for (int i = 1; i < op->in[j]->shape.rank; i++) {
                int oi = i + (y->shape.rank - op->in[j]->shape.rank);
                Dim in = bdim(op->in[j], i), out = bdim(y, oi);
                if (in.k < 0 && out.k >= 0 && oi != axis && (!merge || in.v != 1)) {
                    // A known length against a run-time one: they must agree.
                    add_check(c, m, arena_printf(a, "d[%d] == %lld", out.k, (long long)in.v),
                              arena_printf(a, "%s: input %d has length %lld on axis %d where "
                                           "another has %%lld", who, j, (long long)in.v, i),
                              arena_printf(a, "(long long)d[%d]", out.k));
                    continue;
                }
                if (in.k < 0 || oi == axis || in.k == out.k)
                    continue;
                const char *want = out.k >= 0 ? arena_printf(a, "d[%d]", out.k)
                                              : arena_printf(a, "%lld", (long long)out.v);
                add_check(c, m, arena_printf(a, "d[%d] == %s%s", in.k, want,
                                             merge ? arena_printf(a, " || d[%d] == 1", in.k) : ""),
                          arena_printf(a, "%s: input %d has length %%lld on axis %d where the "
                                       "output has %%lld", who, j, i),
                          arena_printf(a, "(long long)d[%d], (long long)%s", in.k, want));
            }
        return;
    }
    if ((!strcmp(k, "Reshape") || !strcmp(k, "Flatten")) && y->size >= 0 &&
        op->in[0]->size < 0) {
        Dim ds[MAX_RANK] = {{0}};
        for (int j = 1; j < op->in[0]->shape.rank; j++)
            ds[j - 1] = bdim(op->in[0], j);
        int64_t known;
        const char *e = dims_expr(c, ds, op->in[0]->shape.rank - 1, '*', &known);
        add_check(c, m, arena_printf(a, "%s == %lld", e, (long long)y->size),
                  arena_printf(a, "%s: an input of %%lld values per sample cannot be reshaped "
                               "to %s", who, shape_pystr(a, &y->shape)),
                  arena_printf(a, "(long long)(%s)", e));
    }
}

// Fill in output o's None dimensions (known values refine the shape; the
// rest become run-time dimensions, each checked to be at least 1).
static bool out_dims(Ctx *c, IrModel *m, IrOp *op, int o) {
    IrBuf *y = op->out[o];
    Layer *l = op->layer;
    if (!strcmp(l->class_name, "RandomCrop")) {
        // Inference takes the centred window: the input must hold it.
        IrBuf *x = op->in[0];
        int sp = l->iv[RC_CFIRST] ? 2 : 1;     // the height axis
        for (int i = sp; i <= sp + 1; i++) {
            Dim in = bdim(x, i);
            if (in.k >= 0)
                add_check(c, m, arena_printf(c->arena, "d[%d] >= %lld", in.k,
                                             (long long)y->shape.d[i]),
                          arena_printf(c->arena, "%s (RandomCrop): the input's %s is %%lld, "
                                       "smaller than the crop's %lld", l->name,
                                       i == sp ? "height" : "width", (long long)y->shape.d[i]),
                          arena_printf(c->arena, "(long long)d[%d]", in.k));
        }
    }
    for (int i = 1; i < y->shape.rank; i++) {
        if (y->shape.d[i] != DIM_NONE)
            continue;
        int before = m->dyn.len;
        Dim r;
        if (!rule_dim(c, m, op, o, i, &r))
            return false;
        if (r.k < 0 && r.v <= 0) {
            error_at(c, op->node->span, "%s: dimension %d of the output would be %lld",
                     layer_label(c, l), i, (long long)r.v);
            return false;
        }
        if (r.k < 0)
            y->shape.d[i] = r.v;
        y->dx[i] = r.k;
        if (m->dyn.len > before)
            add_check(c, m, arena_printf(c->arena, "d[%d] >= 1", r.k),
                      arena_printf(c->arena, "%s (%s): the input is too small: output axis %d "
                                   "would be %%lld", l->name, l->class_name, i),
                      arena_printf(c->arena, "(long long)d[%d]", r.k));
    }
    int64_t n = shape_numel(&y->shape, 1);
    y->size = n;    // -1 with a run-time dimension: sized at create
    return true;
}

static bool lower_graph(Ctx *c, IrModel *m, Graph *g, TMap *t, int depth);

// A channels_first layer's softmax/log_softmax activation runs over the
// output's last axis (Keras's axis=-1), not over the filters its kernel
// writes last: the layer writes a linear result into a new buffer, and an
// Activation op after it applies the activation to the layer's output.
static void split_row_activation(Ctx *c, IrModel *m, IrOp *op) {
    IrBuf *out = op->out[0];
    IrBuf *pre = buf_new(c, m, &out->shape, DT_FLOAT32, out->what);
    memcpy(pre->dx, out->dx, sizeof pre->dx);
    Layer *al = arena_alloc(c->arena, sizeof *al);
    al->name = arena_printf(c->arena, "%s (activation)", op->layer->name);
    al->class_name = "Activation";
    al->act = op->act;
    al->trainable = false;
    IrOp *a = arena_alloc(c->arena, sizeof *a);
    a->layer = al;
    a->node = op->node;
    a->nin = a->nout = 1;
    a->in[0] = pre;
    a->out[0] = out;
    a->act = ACT_LINEAR;
    a->slot = -1;
    a->training = op->training;
    op->out[0] = pre;
    op->act = ACT_LINEAR;
    vec_push(c->arena, &m->ops, a);
}
static Weight *op_weight(const IrOp *op, const char *name);

// Whether a layer works on channels_first data (N, C, *spatial): the layers
// with data_format, BatchNormalization over axis 1 of a rank >= 3 input.
static bool channels_first(const Layer *l, const Shape *in) {
    const char *k = l->class_name;
    if (in->rank < 3)
        return false;
    if (!strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") || !strcmp(k, "DepthwiseConv2D") ||
        !strcmp(k, "SeparableConv2D") || !strcmp(k, "Conv2DTranspose") ||
        !strcmp(k, "Conv1DTranspose"))
        return l->iv[CV_CFIRST];
    if (strstr(k, "Pooling"))
        return l->iv[!strncmp(k, "Global", 6) ? GP_CFIRST : PL_CFIRST];
    if (!strcmp(k, "ZeroPadding2D"))
        return l->iv[ZP_CFIRST];
    if (!strcmp(k, "UpSampling2D"))
        return l->iv[UP_CFIRST];
    if (!strcmp(k, "Cropping2D"))
        return l->iv[CR_CFIRST];
    if (!strcmp(k, "RandomCrop"))
        return l->iv[RC_CFIRST];
    if (!strcmp(k, "Flatten"))
        return l->iv[0];
    if (!strcmp(k, "BatchNormalization"))
        return l->iv[BN_NAXIS] == 1;
    return false;
}

// A LayerNormalization's axes when they are one block of consecutive axes
// that does not end at the last: its first axis (and in *n the block's
// length); else 0 (the trailing axes need no move; other sets are reported by
// the code generator).
static int layernorm_block(const Layer *l, const Shape *in, int *n) {
    int k = (int)l->iv[LN_NAXES];
    bool seen[MAX_RANK] = {false};
    int lo = in->rank, hi = -1;
    for (int i = 0; i < k; i++) {
        int64_t a = l->iv[LN_AXES + i] < 0 ? l->iv[LN_AXES + i] + in->rank : l->iv[LN_AXES + i];
        if (a < 1 || a >= in->rank || seen[a])
            return 0;
        seen[a] = true;
        lo = a < lo ? (int)a : lo;
        hi = a > hi ? (int)a : hi;
    }
    if (k < 1 || hi - lo + 1 != k || hi == in->rank - 1)
        return 0;
    if (n)
        *n = k;
    return lo;
}

// The axes of a LayerNormalization or a Softmax over a list of axes, as a bit
// mask (bit k: axis k), when they need a general move (kdl_move_axes): not
// the trailing ones, and (LayerNormalization) not one consecutive block,
// which the block move handles. 0 else (also for invalid axes, which the
// code generator reports).
static unsigned general_move_mask(const Layer *l, const Shape *in, int *n) {
    int k;
    const int64_t *ax;
    bool ln = !strcmp(l->class_name, "LayerNormalization");
    if (!strcmp(l->class_name, "Softmax") && l->iv[SM_NAXES]) {
        k = (int)l->iv[SM_NAXES];
        ax = &l->iv[SM_AXES];
    } else if (ln) {
        k = (int)l->iv[LN_NAXES];
        ax = &l->iv[LN_AXES];
    } else
        return 0;
    unsigned mask = 0;
    for (int i = 0; i < k; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + in->rank : ax[i];
        if (a < 1 || a >= in->rank || (mask >> a & 1))
            return 0;
        mask |= 1u << a;
    }
    unsigned trailing = ((1u << in->rank) - 1) & ~((1u << (in->rank - k)) - 1);
    if (k < 1 || mask == trailing || (ln && layernorm_block(l, in, NULL)))
        return 0;
    *n = k;
    return mask;
}

// A buffer for b's data with the axes in mask moved last (kdl_move_axes).
static IrBuf *moved_buf(Ctx *c, IrModel *m, const IrBuf *b, unsigned mask) {
    Shape s = b->shape;
    int dx[MAX_RANK], j = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < b->shape.rank; i++)
            if ((mask >> i & 1) == (unsigned)pass) {
                s.d[j] = b->shape.d[i];
                dx[j++] = b->dx[i];
            }
    IrBuf *r = buf_new(c, m, &s, b->dtype, b->what);
    memcpy(r->dx, dx, sizeof dx);
    r->size = b->size;
    return r;
}

// The axis a layer's kernel needs last, when it is not: 1 for the
// channels_first layers above, a Softmax's or BatchNormalization's axis, the
// one axis of a LayerNormalization; 0 for none.
static int moved_axis(const Layer *l, const Shape *in) {
    if (!strcmp(l->class_name, "Softmax")) {
        if (l->iv[SM_NAXES])
            return 0;   // several axes: the trailing ones only (emit_c.c)
        int64_t a = l->iv[0] < 0 ? l->iv[0] + in->rank : l->iv[0];
        return a >= 1 && a < in->rank - 1 ? (int)a : 0;
    }
    if (!strcmp(l->class_name, "BatchNormalization")) {  // its channel axis, any but the batch
        int64_t a = l->iv[BN_NAXIS];
        return a >= 1 && a < in->rank - 1 ? (int)a : 0;
    }
    if (!strcmp(l->class_name, "LayerNormalization"))
        return layernorm_block(l, in, NULL);
    return channels_first(l, in) ? 1 : 0;
}

// A buffer for b's data with the n axes from axis on moved last:
// (N, .., A, *s) -> (N, .., *s, A), A one axis or a block of n.
static IrBuf *channels_last_buf(Ctx *c, IrModel *m, const IrBuf *b, int axis, int n) {
    Shape s = b->shape;
    if (s.rank < 3) {
        IrBuf *r = buf_new(c, m, &s, b->dtype, b->what);
        memcpy(r->dx, b->dx, sizeof r->dx);
        r->size = b->size;
        return r;
    }
    int dx[MAX_RANK];
    memcpy(dx, b->dx, sizeof dx);
    for (int i = axis; i < s.rank - n; i++) {
        s.d[i] = b->shape.d[i + n];
        dx[i] = b->dx[i + n];
    }
    for (int j = 0; j < n; j++) {
        s.d[s.rank - n + j] = b->shape.d[axis + j];
        dx[s.rank - n + j] = b->dx[axis + j];
    }
    IrBuf *r = buf_new(c, m, &s, b->dtype, b->what);
    memcpy(r->dx, dx, sizeof dx);
    r->size = b->size;
    return r;
}

// The graph a model runs: the training=True trace when lowering for training.
static Graph *model_graph(const IrModel *m, const Layer *model) {
    Graph *g = m->training ? model->model->train_graph : NULL;
    return g ? g : model->model->graph;
}

// The dtype a layer reads: Embedding casts its ids to int32, everything
// else computes in float32 (Keras: an int input to Dense is promoted by the
// matmul; Embedding casts non-integer ids with ops.cast, truncating).
static DType dtype_read(const Layer *l) {
    return !strcmp(l->class_name, "Embedding") ? DT_INT32 : DT_FLOAT32;
}

// x converted to dtype dt by a Cast op before the layer that reads it (one
// per buffer: later readers share it). Integer buffers are model inputs
// (int32, int64 or bool, all read as int32) and casts to int32.
static IrBuf *cast_to(Ctx *c, IrModel *m, IrBuf *x, DType dt, CallNode *n) {
    bool is_int = x->dtype != DT_FLOAT32;
    if (is_int == (dt != DT_FLOAT32))
        return x;
    if (x->converted)
        return x->converted;
    Layer *cl = arena_alloc(c->arena, sizeof *cl);
    cl->name = arena_printf(c->arena, "%s (to %s)", x->what ? x->what : "input",
                            dt == DT_FLOAT32 ? "float32" : "int32");
    cl->class_name = "Cast";
    cl->trainable = false;
    IrOp *op = arena_alloc(c->arena, sizeof *op);
    op->layer = cl;
    op->node = n;
    op->nin = op->nout = 1;
    op->in[0] = x;
    op->out[0] = buf_new(c, m, &x->shape, dt, x->what);
    for (int k = 0; k < MAX_RANK; k++)
        op->out[0]->dx[k] = x->dx[k];
    op->act = ACT_LINEAR;
    op->slot = -1;
    vec_push(c->arena, &m->ops, op);
    x->converted = op->out[0];
    return op->out[0];
}

// ---- masks ----------------------------------------------------------------------
//
// Keras's masking (Layer.__call__, compute_mask): Embedding(mask_zero=True)
// attaches ids != 0 to its output; layers with supports_masking pass the
// mask of their first input on unchanged; RNNs skip masked timesteps and
// pass it on only with return_sequences; GlobalAveragePooling1D averages
// the unmasked steps and drops it; Add/Subtract/Multiply/Average OR the
// masks when every input has one; Concatenate along the last axis ORs them
// (an input without a mask counts as all ones, so then there is none);
// every other layer drops it (Keras warns). Masks are keyed by tensor, so
// nested models see their callers' masks.

static bool mask_passes(const char *k) {
    static const char *const pass[] = {"Dense", "BatchNormalization", "LayerNormalization",
                                       "Activation", "ReLU", "LeakyReLU", "ELU", "Rescaling"};
    if (is_noise(k))    // Dropout, GaussianNoise, GaussianDropout
        return true;
    for (size_t i = 0; i < sizeof pass / sizeof *pass; i++)
        if (!strcmp(k, pass[i]))
            return true;
    return false;
}

// Masks b and a have the same shape, or (run-time lengths) predict checks it.
static bool same_mask_shape(Ctx *c, IrModel *m, const IrOp *op, const IrBuf *a,
                            const IrBuf *b) {
    if (a->shape.rank != b->shape.rank)
        return false;
    for (int i = 1; i < a->shape.rank; i++) {
        Dim da = bdim(a, i), db = bdim(b, i);
        if (da.k < 0 && db.k < 0) {
            if (da.v != db.v)
                return false;
            continue;
        }
        if (da.k == db.k)
            continue;
        const char *x = dim_c(c, da), *y = dim_c(c, db);
        add_check(c, m, arena_printf(c->arena, "%s == %s", x, y),
                  arena_printf(c->arena, "%s (%s): the masks of its inputs have lengths %%lld "
                               "and %%lld on axis %d", op->layer->name,
                               op->layer->class_name, i),
                  arena_printf(c->arena, "(long long)(%s), (long long)(%s)", x, y));
    }
    return true;
}

// The OR of the inputs' masks (all present), or NULL (reported) when their
// shapes differ.
static bool combine_masks(Ctx *c, IrModel *m, IrOp *op, IrBuf **im, IrBuf **out) {
    const Layer *l = op->layer;
    bool same = true;
    for (int i = 1; i < op->nin; i++) {
        if (!same_mask_shape(c, m, op, im[0], im[i])) {
            error_at(c, op->node->span, "%s: its inputs carry masks of different shapes (%s "
                     "and %s); combining them is not supported by the code generator",
                     layer_label(c, l), shape_pystr(c->arena, &im[0]->shape),
                     shape_pystr(c->arena, &im[i]->shape));
            return false;
        }
        same = same && im[i] == im[0];
    }
    if (same) {
        *out = im[0];
        return true;
    }
    IrBuf *b = buf_new(c, m, &im[0]->shape, DT_FLOAT32, l->name);
    for (int i = 0; i < MAX_RANK; i++)
        b->dx[i] = im[0]->dx[i];
    op->mask_out = b;
    for (int i = 0; i < op->nin; i++)
        op->mask_src[i] = im[i];
    op->nmask_src = op->nin;
    *out = b;
    return true;
}

// The mask each output of op carries, by the rules above.
static bool lower_masks(Ctx *c, IrModel *m, IrOp *op, TMap *t) {
    const CallNode *n = op->node;
    const Layer *l = op->layer;
    const char *k = l->class_name;
    IrBuf *im[MAX_IO];
    int nmasked = 0;
    for (int i = 0; i < n->nin; i++)
        nmasked += (im[i] = mask_get(t, n->in[i])) != NULL;
    if (!strcmp(k, "Embedding")) {
        if (!l->iv[EM_MASK])
            return true;
        IrBuf *b = buf_new(c, m, &op->in[0]->shape, DT_FLOAT32, l->name);
        for (int i = 0; i < MAX_RANK; i++)
            b->dx[i] = op->in[0]->dx[i];
        op->mask_out = b;
        mask_put(c, t, n->out[0], b);
        return true;
    }
    if (!strcmp(k, "Masking")) {
        // Keras's compute_mask: any(input != mask_value) over the last axis
        // (an incoming mask is dropped); the layer's kernel writes it.
        Shape ms = op->in[0]->shape;
        ms.rank--;
        IrBuf *b = buf_new(c, m, &ms, DT_FLOAT32, l->name);
        for (int i = 0; i < ms.rank; i++)
            b->dx[i] = op->in[0]->dx[i];
        op->mask_out = b;
        mask_put(c, t, n->out[0], b);
        return true;
    }
    if (!nmasked)
        return true;
    if (mask_passes(k)) {
        mask_put(c, t, n->out[0], im[0]);
        return true;
    }
    const IrBuf *x = op->in[0];
    bool rnn = is_rnn_class(k);
    if (rnn || !strcmp(k, "GlobalAveragePooling1D")) {
        // (batch, steps, features) with a (batch, steps) mask, channels last.
        if (!im[0])
            return true;    // Keras reads the mask of the first input only
        // (The steps may be two run-time dimensions that are equal at run
        // time: a merge of masked sequences is their largest, its mask the
        // first one's; checked equal then.)
        Dim ds = x->shape.rank == 3 ? bdim(x, 1) : (Dim){0, -1};
        Dim dm = im[0]->shape.rank == 2 ? bdim(im[0], 1) : (Dim){0, -1};
        bool steps = ds.k >= 0 || dm.k >= 0 || ds.v == dm.v;
        if (im[0]->shape.rank != 2 || x->shape.rank != 3 || !steps ||
            (!rnn && l->iv[GP_CFIRST])) {
            error_at(c, n->span, "%s: its input carries a mask of shape %s that the code "
                     "generator cannot apply to an input of shape %s%s", layer_label(c, l),
                     shape_pystr(c->arena, &im[0]->shape),
                     shape_pystr(c->arena, &x->shape),
                     !rnn && l->iv[GP_CFIRST] ? " (channels_first)" : "");
            return false;
        }
        if (ds.k != dm.k) {
            const char *xs = dim_c(c, ds), *ms = dim_c(c, dm);
            add_check(c, m, arena_printf(c->arena, "%s == %s", xs, ms),
                      arena_printf(c->arena, "%s (%s): its input has %%lld steps and its mask "
                                   "%%lld", l->name, k),
                      arena_printf(c->arena, "(long long)(%s), (long long)(%s)", xs, ms));
        }
        op->mask_in = im[0];
        if (rnn && l->iv[RN_RETSEQ])
            mask_put(c, t, n->out[0], im[0]);
        return true;
    }
    if (is_merge_class(k)) {
        IrBuf *mo;
        if (nmasked < n->nin)
            return true;    // Keras: None when any input has none
        if (!combine_masks(c, m, op, im, &mo))
            return false;
        mask_put(c, t, n->out[0], mo);
        return true;
    }
    if (!strcmp(k, "Concatenate")) {
        int axis = (int)l->iv[1];
        if (axis != op->out[0]->shape.rank - 1) {
            error_at(c, n->span, "%s: concatenating masked tensors along axis %d (not the last) "
                     "is not supported by the code generator", layer_label(c, l), axis);
            return false;
        }
        IrBuf *mo;
        if (nmasked < n->nin)
            return true;    // an unmasked input counts as all ones: the OR is all ones
        if (!combine_masks(c, m, op, im, &mo))
            return false;
        mask_put(c, t, n->out[0], mo);
        return true;
    }
    if (!strcmp(k, "Softmax")) {
        // Keras's Softmax.call sets the input to -1e9 where the mask is
        // False, broadcasting the mask against the input by numpy's rules:
        // the mask (the ids' shape) is one axis short and aligns with the
        // trailing axes, so Keras's result (and whether it fails) depends on
        // the batch size; nothing sensible to generate.
        error_at(c, n->span, "%s: a Softmax on a masked tensor (Embedding mask_zero=True "
                 "upstream) is not supported by the code generator: Keras broadcasts the mask "
                 "%s against the input %s with their trailing axes aligned, which depends on "
                 "the batch size (drop the mask first, e.g. with a Reshape)",
                 layer_label(c, l), shape_pystr(c->arena, &im[0]->shape),
                 shape_pystr(c->arena, &n->in[0]->shape));
        return false;
    }
    return true;    // the layer does not support masking: the mask ends here
}

// Masks nothing reads are not computed, except the outputs' masks when the
// loss needs them (Keras masks the loss and the metrics of an output that
// carries one: lower_model's out_masks).
static void prune_masks(IrModel *m, TMap *t, const Graph *g, bool out_masks) {
    for (int i = m->ops.len - 1; i >= 0; i--) {
        IrOp *op = m->ops.data[i];
        if (!op->mask_out)
            continue;
        bool used = false;
        for (int j = i + 1; j < m->ops.len && !used; j++) {
            const IrOp *r = m->ops.data[j];
            used = r->mask_in == op->mask_out;
            for (int s = 0; s < r->nmask_src && !used; s++)
                used = r->mask_src[s] == op->mask_out;
        }
        for (int k = 0; out_masks && k < g->noutputs && !used; k++)
            used = mask_get(t, g->outputs[k]) == op->mask_out;
        if (!used) {
            op->mask_out = NULL;
            op->nmask_src = 0;
        }
    }
}

static bool lower_node(Ctx *c, IrModel *m, CallNode *n, TMap *t, int depth);

// ---- wrappers ---------------------------------------------------------------
//
// Bidirectional and TimeDistributed (compiler/wrappers.c) lower to calls of
// the layers they wrap, made here as extra CallNodes that share the
// wrapper's call (its span, training flag); those lower as any call, so the
// wrappers need no kernels, inference or backward, of their own.

static CallNode *part_node(Ctx *c, const CallNode *n, Layer *l, Tensor **in, int nin,
                           Tensor **out, int nout) {
    CallNode *p = arena_alloc(c->arena, sizeof *p);
    *p = *n;
    p->layer = l;
    p->in = in;
    p->nin = p->nmain = nin;
    p->out = out;
    p->nout = nout;
    p->kwargs = NULL;
    return p;
}

// Outputs of layer l called on x[0..nx) (a recurrent layer: the sequence,
// then its initial states), as tensors of a new part node.
static CallNode *part_call(Ctx *c, const CallNode *n, Layer *l, Tensor **x, int nx) {
    Shape s[MAX_IO], xs[MAX_IO];
    int ns = 1;
    for (int i = 0; i < nx; i++)
        xs[i] = x[i]->shape;
    if (!l->cls->infer(c, l, xs, nx, s, &ns, n->span))
        return NULL;
    Tensor **out = arena_alloc(c->arena, sizeof *out * (size_t)(ns + 1));
    CallNode *p = part_node(c, n, l, x, nx, out, ns);
    for (int i = 0; i < ns; i++) {
        out[i] = arena_alloc(c->arena, sizeof **out);
        out[i]->shape = s[i];
        out[i]->dtype = DT_FLOAT32;
        out[i]->name = l->name;
        out[i]->node = p;
        out[i]->index = i;
        out[i]->id = -1;
    }
    return p;
}

// Tensor `to` is tensor `from` (buffer and mask).
static void alias_tensor(Ctx *c, TMap *t, const Tensor *to, const Tensor *from) {
    tmap_put(c, t, to, tmap_get(t, from));
    mask_put(c, t, to, mask_get(t, from));
}

// keras.layers.Identity as a linear Activation of the same name: storage
// only (an alias at inference and in training), masks passed on.
static Layer *identity_as_linear(Ctx *c, const Layer *l) {
    Layer *a = layer_alloc(c, "Activation", l->span);
    a->cls = layer_class_find("Activation");
    a->name = l->name;
    a->act = ACT_LINEAR;
    a->built = true;
    return a;
}

// SpatialDropout1D/2D as the Dropout they are (Keras's noise_shape: (N, 1,
// C), (N, 1, 1, C), channels_first (N, C, 1, 1)): a Dropout layer of the same
// name, rate and seed for the op, so inference (the identity) and training
// (a mask per sample and channel) are Dropout's.
static Layer *spatial_as_dropout(Ctx *c, Layer *l, const CallNode *n) {
    Layer *d = layer_alloc(c, "Dropout", l->span);
    d->cls = layer_class_find("Dropout");
    d->sig = layer_class_sig(c, d->cls);
    d->name = l->name;
    d->args = arena_alloc(c->arena, sizeof(Value *) * (size_t)(d->sig->nparams + 1));
    d->arg_spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(d->sig->nparams + 1));
    int rank = n->in[0]->shape.rank;
    bool cfirst = l->iv[1];
    Value *ns = v_tuple(c);
    for (int i = 0; i < rank; i++) {
        bool keep = i == 0 || (cfirst ? i == 1 : i == rank - 1);   // batch, channels
        list_append(c, ns, keep ? v_none() : v_int(c, 1));
    }
    Arg args[3] = {{"rate", v_float(c, l->fv[0]), l->span}, {"noise_shape", ns, l->span},
                   {"seed", l->iv[0] >= 0 ? v_int(c, l->iv[0]) : v_none(), l->span}};
    if (!sig_bind(c, d->sig, "Dropout", args, 3, l->span, d->args, d->arg_spans) ||
        !d->cls->init(c, d))
        return NULL;
    d->built = true;
    return d;
}

// Bidirectional: the forward and backward RNNs (the backward one writes its
// sequence in input order: RN_REVERSE_OUT), then the merge as a
// Concatenate/Add/Multiply/Average of the wrapper's name; the states follow
// (forward's, then backward's), as Keras returns them.
static bool lower_bidirectional(Ctx *c, IrModel *m, CallNode *n, TMap *t, int depth) {
    Layer *l = n->layer;
    // initial_state= (n->in[1..]): the first half starts the forward layer,
    // the rest the backward one (Keras's Bidirectional.call).
    int half = (n->nin - 1) / 2;
    Tensor **fin = arena_alloc(c->arena, sizeof *fin * (size_t)(n->nin + 1));
    Tensor **bin = arena_alloc(c->arena, sizeof *bin * (size_t)(n->nin + 1));
    int nf = 1, nb = 1;
    fin[0] = bin[0] = n->in[0];
    for (int i = 1; i < n->nin; i++) {
        if (i <= half)
            fin[nf++] = n->in[i];
        else
            bin[nb++] = n->in[i];
    }
    CallNode *f = part_call(c, n, l->tracked.data[0], fin, nf);
    CallNode *b = part_call(c, n, l->tracked.data[1], bin, nb);
    if (!f || !b || !lower_node(c, m, f, t, depth) || !lower_node(c, m, b, t, depth))
        return false;
    int k = 0, mode = (int)l->iv[BI_MERGE];
    if (mode == BI_NONE) {
        alias_tensor(c, t, n->out[k++], f->out[0]);
        alias_tensor(c, t, n->out[k++], b->out[0]);
    } else {
        static const char *const merges[] = {"Concatenate", "Add", "Multiply", "Average"};
        Layer *ml = layer_alloc(c, merges[mode], l->span);
        ml->cls = layer_class_find(merges[mode]);
        ml->sig = layer_class_sig(c, ml->cls);
        ml->name = l->name;
        ml->args = arena_alloc(c->arena, sizeof(Value *) * (size_t)(ml->sig->nparams + 1));
        ml->arg_spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(ml->sig->nparams + 1));
        Tensor **in = arena_alloc(c->arena, sizeof *in * 2);
        in[0] = f->out[0];
        in[1] = b->out[0];
        Shape s[2] = {in[0]->shape, in[1]->shape}, o[MAX_IO];
        int no = 1;
        if (!sig_bind(c, ml->sig, merges[mode], NULL, 0, l->span, ml->args, ml->arg_spans) ||
            !ml->cls->init(c, ml) || !ml->cls->infer(c, ml, s, 2, o, &no, n->span))
            return false;
        ml->built = true;
        if (!lower_node(c, m, part_node(c, n, ml, in, 2, n->out, 1), t, depth))
            return false;
        k = 1;
    }
    for (int i = 1; i < f->nout && k < n->nout; i++)
        alias_tensor(c, t, n->out[k++], f->out[i]);
    for (int i = 1; i < b->nout && k < n->nout; i++)
        alias_tensor(c, t, n->out[k++], b->out[i]);
    return true;
}

// TimeDistributed: the wrapped layer on the whole (batch, time, ...) tensor
// (wrappers.c admits only layers for which that is the same as per slice);
// the input's mask passes on (Keras's supports_masking).
static bool lower_time_distributed(Ctx *c, IrModel *m, CallNode *n, TMap *t, int depth) {
    Layer *inner = n->layer->tracked.data[0];
    bool training = n->training >= 0 ? n->training == 1
                    : t->training >= 0 ? t->training == 1 : m->training;
    if (training && inner->trainable && !strcmp(inner->class_name, "BatchNormalization")) {
        // Keras normalizes each time slice by its own batch statistics.
        error_at(c, n->span, "%s: a BatchNormalization wrapped by TimeDistributed is not "
                 "supported in training mode by the code generator", layer_label(c, n->layer));
        return false;
    }
    if (!lower_node(c, m, part_node(c, n, inner, n->in, n->nin, n->out, n->nout), t, depth))
        return false;
    mask_put(c, t, n->out[0], mask_get(t, n->in[0]));
    return true;
}

// One call: an IrOp, or the inlined graph of a nested model.
static bool lower_node(Ctx *c, IrModel *m, CallNode *n, TMap *t, int depth) {
    Layer *l = n->layer;
    IrBuf *in[MAX_IO];
    for (int i = 0; i < n->nin; i++) {
        in[i] = tmap_get(t, n->in[i]);
        if (!in[i])
            die("lower: tensor %s has no buffer", n->in[i]->name);
    }
    if (l->model) {
        // Inline the nested model: its inputs are our input buffers. A call
        // with training= runs the matching trace, and its layers in that mode
        // unless their own calls say otherwise (Keras's call context):
        // `base(x, training=False)` keeps BatchNormalization and Dropout in
        // inference mode while the outer model trains.
        int tr = n->training >= 0 ? n->training : t->training;
        Graph *g = tr < 0 ? model_graph(m, l)
                   : tr == 1 && l->model->train_graph ? l->model->train_graph : l->model->graph;
        if (!g || g->ninputs != n->nin) {
            error_at(c, n->span, "%s: cannot inline this nested model", layer_label(c, l));
            return false;
        }
        TMap inner = {0};
        inner.training = tr;
        for (int i = 0; i < g->ninputs; i++) {
            if (!shape_eq(&g->inputs[i]->shape, &n->in[i]->shape) &&
                g->inputs[i]->shape.rank == n->in[i]->shape.rank) {
                bool ok = true;
                for (int k = 1; k < g->inputs[i]->shape.rank; k++)
                    if (g->inputs[i]->shape.d[k] != n->in[i]->shape.d[k] &&
                        g->inputs[i]->shape.d[k] != DIM_NONE)
                        ok = false;
                if (!ok) {
                    error_at(c, n->span, "%s was built for inputs %s; calling it on %s is not "
                             "supported by the code generator yet", layer_label(c, l),
                             shape_pystr(c->arena, &g->inputs[i]->shape),
                             shape_pystr(c->arena, &n->in[i]->shape));
                    return false;
                }
            }
            tmap_put(c, &inner, g->inputs[i], in[i]);
            mask_put(c, &inner, g->inputs[i], mask_get(t, n->in[i]));
        }
        if (depth > 16 || !lower_graph(c, m, g, &inner, depth + 1))
            return false;
        for (int i = 0; i < n->nout && i < g->noutputs; i++) {
            tmap_put(c, t, n->out[i], tmap_get(&inner, g->outputs[i]));
            mask_put(c, t, n->out[i], mask_get(&inner, g->outputs[i]));
        }
        return true;
    }
    if (l->cls && !strcmp(l->cls->name, "Bidirectional"))
        return lower_bidirectional(c, m, n, t, depth);
    if (l->cls && !strcmp(l->cls->name, "TimeDistributed"))
        return lower_time_distributed(c, m, n, t, depth);
    if (l->cls && !strncmp(l->cls->name, "SpatialDropout", 14)) {
        l = spatial_as_dropout(c, l, n);
        if (!l)
            return false;
    }
    if (l->cls && !strcmp(l->cls->name, "Identity"))
        l = identity_as_linear(c, l);
    for (int i = 0; i < n->nin; i++)
        in[i] = cast_to(c, m, in[i], dtype_read(l), n);
    IrOp *op = arena_alloc(c->arena, sizeof *op);
    op->layer = l;
    op->node = n;
    op->nin = n->nin;
    for (int i = 0; i < n->nin; i++)
        op->in[i] = in[i];
    op->nout = n->nout;
    op->act = l->act;
    op->slot = -1;
    // Dropout, BatchNormalization and RandomCrop run in training mode when
    // the call says so, or in the training graph unless it says otherwise.
    op->training = n->training >= 0 ? n->training == 1
                   : t->training >= 0 ? t->training == 1 : m->training;
    for (int i = 0; i < n->nout; i++) {
        // Keras allows empty tensors (RepeatVector(0), a transposed conv to
        // size 0); the kernels do not: reported here, at the layer.
        for (int k = 1; k < n->out[i]->shape.rank; k++)
            if (n->out[i]->shape.d[k] == 0) {
                error_at(c, n->span, "%s: output shape %s has a dimension of size 0; empty "
                         "tensors are not supported by the code generator", layer_label(c, l),
                         shape_pystr(c->arena, &n->out[i]->shape));
                return false;
            }
        op->out[i] = buf_new(c, m, &n->out[i]->shape, n->out[i]->dtype, l->name);
        tmap_put(c, t, n->out[i], op->out[i]);
        if (!out_dims(c, m, op, i))
            return false;
    }
    input_checks(c, m, op);
    int axis = moved_axis(l, &op->in[0]->shape), naxes = 1;
    unsigned gmask = general_move_mask(l, &op->in[0]->shape, &naxes);
    if (gmask) {
        op->cf_mask = gmask;
        op->cf_naxes = naxes;
        op->cf_in = moved_buf(c, m, op->in[0], gmask);
        op->cf_out = moved_buf(c, m, op->out[0], gmask);
    } else if (axis && strcmp(l->class_name, "Flatten")) {
        if (!strcmp(l->class_name, "LayerNormalization"))
            layernorm_block(l, &op->in[0]->shape, &naxes);
        op->cf_axis = axis;
        op->cf_naxes = naxes;
        op->cf_in = channels_last_buf(c, m, op->in[0], axis, naxes);
        op->cf_out = channels_last_buf(c, m, op->out[0], axis, naxes);
    }
    // LoRA (lora_rank): the layer reads its adapted weight, computed into
    // the derived-weights area when weights are set (M_prepare).
    const char *lw = op_weight(op, "lora_kernel_a") ? "kernel"
                     : op_weight(op, "lora_embeddings_a") ? "embeddings" : NULL;
    if (lw && op_weight(op, lw)) {
        op->lora = lw;
        op->fold_kernel = m->fold_floats;
        m->fold_floats += shape_numel(&op_weight(op, lw)->shape, 0);
    }
    if (!strcmp(l->class_name, "SeparableConv2D")) {
        // The depthwise half writes (batch, oh, ow, C * depth_multiplier)
        // (channels last also for channels_first layers).
        const IrBuf *x = op->cf_in ? op->cf_in : op->in[0], *y = op->cf_out ? op->cf_out
                                                                             : op->out[0];
        Shape ts = y->shape;
        ts.d[ts.rank - 1] = x->shape.d[x->shape.rank - 1] * l->iv[CV_DM];
        op->tmp = buf_new(c, m, &ts, DT_FLOAT32, l->name);
        for (int i = 0; i < ts.rank - 1; i++)
            op->tmp->dx[i] = y->dx[i];
    }
    if (!lower_masks(c, m, op, t))
        return false;
    vec_push(c->arena, &m->ops, op);
    if (op->cf_out && (op->act == ACT_SOFTMAX || op->act == ACT_LOG_SOFTMAX))
        split_row_activation(c, m, op);
    return true;
}

static bool lower_graph(Ctx *c, IrModel *m, Graph *g, TMap *t, int depth) {
    for (int i = 0; i < g->nnodes; i++) {
        CallNode *n = g->nodes[i];
        if (n->nin == 0)
            continue;   // an InputLayer: its tensor is mapped already
        if (!lower_node(c, m, n, t, depth))
            return false;
    }
    return true;
}

IrModel *lower_model(Ctx *c, Layer *model, const char *cname, bool training, bool out_masks) {
    IrModel *m = arena_alloc(c->arena, sizeof *m);
    m->model = model;
    m->cname = cname;
    m->training = training;
    Graph *g = model_graph(m, model);
    TMap t = {0};
    t.training = -1;
    m->ninputs = g->ninputs;
    m->inputs = arena_alloc(c->arena, sizeof(IrBuf *) * (size_t)(g->ninputs + 1));
    for (int i = 0; i < g->ninputs; i++) {
        Tensor *x = g->inputs[i];
        IrBuf *b = buf_new(c, m, &x->shape, x->dtype, x->name);
        b->input = i;
        // None dimensions of the inputs: run-time arguments of predict.
        for (int k = 1; k < x->shape.rank; k++)
            if (x->shape.d[k] == DIM_NONE) {
                b->dx[k] = new_dim(c, m, NULL, arena_printf(c->arena, "%s axis %d",
                                                            x->node ? x->node->layer->name
                                                                    : x->name, k));
                m->ndims++;
            }
        m->inputs[i] = b;
        tmap_put(c, &t, x, b);
    }
    if (!lower_graph(c, m, g, &t, 0))
        return NULL;
    prune_masks(m, &t, g, out_masks);
    m->noutputs = g->noutputs;
    m->outputs = arena_alloc(c->arena, sizeof(IrBuf *) * (size_t)(g->noutputs + 1));
    m->out_masks = arena_alloc(c->arena, sizeof(IrBuf *) * (size_t)(g->noutputs + 1));
    for (int i = 0; i < g->noutputs; i++) {
        m->outputs[i] = tmap_get(&t, g->outputs[i]);
        if (!m->outputs[i])
            die("lower: output %d has no buffer", i);
        m->out_masks[i] = out_masks ? mask_get(&t, g->outputs[i]) : NULL;
    }
    return m;
}

// ---- fusion -----------------------------------------------------------------

static void rename_uses(IrModel *m, int after, IrBuf *from, IrBuf *to);

// The live single-output op before index `before` that writes b, or NULL.
static IrOp *producer(IrModel *m, int before, const IrBuf *b) {
    for (int j = before - 1; j >= 0; j--) {
        IrOp *p = m->ops.data[j];
        if (!p->dead && p->nout == 1 && p->out[0] == b)
            return p;
    }
    return NULL;
}

static const char *class_of(const IrOp *op) {
    return op->layer->class_name;
}

static int consumers(IrModel *m, const IrBuf *b) {
    int n = 0;
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        for (int k = 0; k < op->nin; k++)
            n += op->in[k] == b;
    }
    return n;
}

static bool is_output(IrModel *m, const IrBuf *b) {
    for (int i = 0; i < m->noutputs; i++)
        if (m->outputs[i] == b)
            return true;
    return false;
}

// The element-wise activation an op applies by itself, if it is a pure
// activation layer that a preceding GEMM/conv could apply instead.
static bool pure_activation(const IrOp *op, ActKind *act, double *alpha) {
    const char *k = class_of(op);
    if (!strcmp(k, "Activation")) {
        // An activation given by name takes Keras's default parameter:
        // elu's alpha 1.0, leaky_relu's negative slope 0.2.
        *act = op->layer->act;
        *alpha = *act == ACT_ELU ? 1.0 : 0.2;
        return true;
    }
    if (!strcmp(k, "LeakyReLU") || !strcmp(k, "ELU")) {
        *act = !strcmp(k, "ELU") ? ACT_ELU : ACT_LEAKY_RELU;
        *alpha = op->layer->fv[0];
        return true;
    }
    if (!strcmp(k, "ReLU")) {
        // iv[0]: has max_value; fv: max_value, negative_slope, threshold.
        const Layer *l = op->layer;
        if (l->fv[2] != 0)
            return false;
        if (!l->iv[0] && l->fv[1] == 0)
            *act = ACT_RELU;
        else if (l->iv[0] && l->fv[0] == 6 && l->fv[1] == 0)
            *act = ACT_RELU6;
        else if (!l->iv[0])
            *act = ACT_LEAKY_RELU;
        else
            return false;
        *alpha = l->fv[1];
        return true;
    }
    if (!strcmp(k, "Softmax")) {
        int64_t axis = op->layer->iv[0];
        *act = ACT_SOFTMAX;
        *alpha = 0;
        return !op->layer->iv[SM_NAXES] && (axis == -1 || axis == op->in[0]->shape.rank - 1);
    }
    return false;
}

static bool has_epilogue(const IrOp *op) {
    const char *k = class_of(op);
    return !strcmp(k, "Dense") || !strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") ||
           !strcmp(k, "DepthwiseConv2D") || !strcmp(k, "SeparableConv2D") ||
           !strcmp(k, "Conv2DTranspose") ||
           !strcmp(k, "Conv1DTranspose");
}

// Dropout, GaussianNoise, GaussianDropout: the identity at inference.
bool is_noise(const char *k) {
    return !strcmp(k, "Dropout") || !strcmp(k, "GaussianNoise") || !strcmp(k, "GaussianDropout");
}

// Whether such a layer changes its input in training mode (Keras: Dropout
// and GaussianDropout with 0 < rate < 1 (a Dropout of rate 1 zeroes; kdl's
// mask does it), GaussianNoise with stddev > 0).
bool noise_active(const IrOp *op) {
    double r = op->layer->fv[0];
    if (!strcmp(class_of(op), "GaussianDropout"))
        return r > 0 && r < 1;
    return r > 0;
}

// Replace every use of `from` by `to` in the ops after index `after`.
static void rename_uses(IrModel *m, int after, IrBuf *from, IrBuf *to) {
    for (int i = after + 1; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        for (int k = 0; k < op->nin; k++)
            if (op->in[k] == from)
                op->in[k] = to;
    }
    for (int i = 0; i < m->noutputs; i++)
        if (m->outputs[i] == from)
            m->outputs[i] = to;
}

// The kernel an inference BatchNormalization can be folded into: its
// output channels are the kernel's last axis (Dense, Conv1D/2D, Depthwise,
// SeparableConv2D's pointwise kernel; not Conv2DTranspose).
static const char *foldable_kernel(const IrOp *op) {
    const char *k = class_of(op);
    if (!strcmp(k, "Dense") || !strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") ||
        !strcmp(k, "DepthwiseConv2D"))
        return "kernel";
    if (!strcmp(k, "SeparableConv2D"))
        return "pointwise_kernel";
    return NULL;
}

static Weight *op_weight(const IrOp *op, const char *name) {
    for (int i = 0; i < op->layer->nweights; i++)
        if (!strcmp(op->layer->weights[i]->name, name))
            return op->layer->weights[i];
    return NULL;
}

// BatchNormalization over the last axis right after a foldable op whose
// output feeds only it: at inference it is an affine map per channel, so
// it becomes part of that op's kernel and bias (computed when weights are
// set: the generated M_prepare).
static void fold_batchnorm(IrModel *m) {
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead || strcmp(class_of(op), "BatchNormalization") ||
            op->layer->iv[BN_NAXIS] != op->in[0]->shape.rank - 1)
            continue;
        IrBuf *src = op->in[0];
        IrOp *prod = producer(m, i, src);
        const char *kname = prod ? foldable_kernel(prod) : NULL;
        if (!kname || prod->act != ACT_LINEAR || prod->bn || src->alias ||
            consumers(m, src) != 1 || is_output(m, src) || !op_weight(prod, kname) ||
            op_weight(prod, "lora_kernel_a"))
            continue;
        Weight *k = op_weight(prod, kname);
        int64_t cols = k->shape.d[k->shape.rank - 1];
        if (!strcmp(class_of(prod), "DepthwiseConv2D"))
            cols *= k->shape.d[k->shape.rank - 2];     // (kh, kw, C, dm): C*dm outputs
        prod->bn = op->layer;
        prod->fold_kernel = m->fold_floats;
        m->fold_floats += shape_numel(&k->shape, 0);
        prod->fold_bias = m->fold_floats;
        m->fold_floats += cols;
        op->dead = true;
        rename_uses(m, i, op->out[0], src);
    }
}

void ir_fuse(IrModel *m) {
    fold_batchnorm(m);
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        const char *k = class_of(op);
        // Identity at inference: Dropout; storage-only: Flatten, Reshape.
        if (is_noise(k) || (!strcmp(k, "Flatten") && !channels_first(op->layer,
                                                                          &op->in[0]->shape)) ||
            !strcmp(k, "Reshape") ||
            (!strcmp(k, "Activation") && op->layer->act == ACT_LINEAR)) {
            op->dead = true;
            op->out[0]->alias = op->in[0]->alias ? op->in[0]->alias : op->in[0];
            continue;
        }
        // An activation layer right after a GEMM/conv whose output feeds only it.
        ActKind act;
        double alpha;
        if (!pure_activation(op, &act, &alpha))
            continue;
        IrBuf *src = op->in[0];
        IrOp *prod = producer(m, i, src);
        if (!prod || !has_epilogue(prod) || prod->act != ACT_LINEAR || src->alias ||
            (prod->cf_out && (act == ACT_SOFTMAX || act == ACT_LOG_SOFTMAX)) ||
            consumers(m, src) != 1 || is_output(m, src) || src->input >= 0)
            continue;
        prod->act = act;
        prod->alpha = alpha;
        prod->fused = op->layer;
        op->dead = true;
        // The producer now writes the activation's result: its buffer takes
        // the place of the activation's output.
        rename_uses(m, i, op->out[0], src);
    }
}

// ---- arena planning -------------------------------------------------------------

static IrBuf *root(IrBuf *b) {
    while (b->alias)
        b = b->alias;
    return b;
}

// First fit in definition order (the runtime's planner, which generated
// code also runs for models with None input dimensions): each buffer of
// `order` (sorted by def; duplicates are placed once) takes the lowest
// offset that does not overlap a placed buffer whose live range [def, last]
// intersects its own. Returns the peak, in floats per sample.
static int64_t first_fit(Ctx *c, IrModel *m, Vec *order) {
    Vec bufs = {0};
    for (int i = 0; i < order->len; i++) {
        IrBuf *b = order->data[i];
        if (b->offset < 0) {
            b->offset = 0;      // placed once
            vec_push(c->arena, &bufs, b);
        }
    }
    int n = bufs.len;
    size_t *size = arena_alloc(c->arena, sizeof(size_t) * (size_t)(2 * n + 1));
    size_t *off = size + n;
    int *def = arena_alloc(c->arena, sizeof(int) * (size_t)(2 * n + 1)), *last = def + n;
    for (int i = 0; i < n; i++) {
        IrBuf *b = bufs.data[i];
        size[i] = b->size > 0 ? (size_t)b->size : 0;   // run-time sizes: planned at create
        def[i] = b->def;
        last[i] = b->last;
        b->plan = i;
    }
    int64_t peak = (int64_t)kdl_plan_arena(n, size, def, last, off);
    for (int i = 0; i < n; i++)
        ((IrBuf *)bufs.data[i])->offset = (int64_t)off[i];
    m->plan = bufs;
    return peak;
}

void ir_plan(Ctx *c, IrModel *m) {
    // Live ranges of root buffers: from the op that defines them to the
    // last op reading them (or any alias of them); outputs live to the end.
    int nops = m->ops.len;
    for (int i = 0; i < m->bufs.len; i++) {
        IrBuf *b = m->bufs.data[i];
        b->def = -1;
        b->last = -1;
        b->offset = -1;
    }
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        for (int k = 0; k < op->nout; k++) {
            IrBuf *r = root(op->out[k]);
            if (r->def < 0)
                r->def = i;
            if (r->last < i)
                r->last = i;
        }
        for (int k = 0; k < op->nin; k++) {
            IrBuf *r = root(op->in[k]);
            if (r->last < i)
                r->last = i;
        }
        IrBuf *extra[3] = {op->tmp, op->cf_in, op->cf_out};
        for (int k = 0; k < 3; k++)
            if (extra[k])
                extra[k]->def = extra[k]->last = i;
        if (op->mask_out && op->mask_out->def < 0)
            op->mask_out->def = op->mask_out->last = i;
        IrBuf *reads[MAX_IO + 1];
        int nreads = 0;
        for (int k = 0; k < op->nmask_src; k++)
            reads[nreads++] = op->mask_src[k];
        if (op->mask_in)
            reads[nreads++] = op->mask_in;
        for (int k = 0; k < nreads; k++)
            if (reads[k]->last < i)
                reads[k]->last = i;
    }
    for (int i = 0; i < m->noutputs; i++) {
        root(m->outputs[i])->last = nops;
        if (m->out_masks[i])
            m->out_masks[i]->last = nops;   // read by the loss (test_on_batch)
    }
    Vec order = {0};
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        for (int k = 0; k < op->nout + 4; k++) {
            IrBuf *b = k < op->nout ? root(op->out[k]) : k == op->nout ? op->tmp
                       : k == op->nout + 1 ? op->cf_in : k == op->nout + 2 ? op->cf_out
                       : op->mask_out;
            if (b && b->input < 0)
                vec_push(c->arena, &order, b);
        }
    }
    m->arena_floats = first_fit(c, m, &order);
}

// ---- the training plan ------------------------------------------------------------------

bool act_grad_from_output(ActKind k, double alpha) {
    switch (k) {
    case ACT_LINEAR: case ACT_RELU: case ACT_RELU6: case ACT_SIGMOID: case ACT_HARD_SIGMOID:
    case ACT_TANH: case ACT_EXPONENTIAL: case ACT_SOFTMAX: case ACT_LOG_SOFTMAX:
        return true;
    case ACT_LEAKY_RELU: case ACT_ELU:
        return alpha >= 0;
    default:
        return false;
    }
}

// The parameter of an op's own activation (given by name: Keras's defaults).
static double op_default_alpha(const IrOp *op) {
    if (op->fused)
        return op->alpha;
    return op->act == ACT_ELU ? 1.0 : op->act == ACT_LEAKY_RELU ? 0.2 : 0.0;
}

static bool has_trainable_weights(const IrOp *op) {
    for (int i = 0; i < op->layer->nweights; i++)
        if (weight_is_trainable(op->layer->weights[i]))
            return true;
    return false;
}

// The gradient buffer of b's root, made on first use.
static IrBuf *grad_of(Ctx *c, IrModel *m, IrBuf *b) {
    IrBuf *r = root(b);
    if (!r->grad) {
        r->grad = buf_new(c, m, &r->shape, DT_FLOAT32, r->what);
        r->grad->def = INT32_MAX;
        r->grad->is_grad = true;
    }
    return r->grad;
}

static void live_until(IrBuf *b, int step) {
    if (b && b->last < step)
        b->last = step;
}

int ir_backward_step(const IrModel *m, int op) {
    return 2 * m->ops.len - op;
}

void ir_plan_train(Ctx *c, IrModel *m, const bool *fused) {
    int nops = m->ops.len, loss_step = nops;
    m->nsteps = 2 * nops + 1;
    // Storage-only ops become aliases (no code): Flatten, Reshape, linear
    // activations, and Dropout when it does not run in training mode.
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        const char *k = class_of(op);
        if (!strcmp(k, "Flatten") || !strcmp(k, "Reshape") ||
            (is_noise(k) && (!op->training || !noise_active(op))) ||
            (!strcmp(k, "Activation") && op->layer->act == ACT_LINEAR)) {
            op->dead = true;
            op->out[0]->alias = op->in[0]->alias ? op->in[0]->alias : op->in[0];
        }
    }
    // Training-only state of each op.
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        const char *k = class_of(op);
        if (!strcmp(k, "Dropout") || !strcmp(k, "GaussianDropout"))
            op->mask = buf_new(c, m, &op->out[0]->shape, DT_FLOAT32, op->layer->name);
        if (has_epilogue(op) && !act_grad_from_output(op->act, op_default_alpha(op)))
            op->pre = buf_new(c, m, &op->out[0]->shape, DT_FLOAT32, op->layer->name);
        if (!strcmp(k, "BatchNormalization")) {
            // Keras runs a frozen BatchNormalization in inference mode.
            op->training = op->training && op->layer->trainable;
            if (op->training) {
                op->state_off = m->state_floats;
                // mean and 1/std per channel: the normalized axis (moved
                // last for the kernel when it is not the last)
                m->state_floats += 2 * op->in[0]->shape.d[op->layer->iv[BN_NAXIS]];
            }
        }
        if (is_rnn_class(k))
            op->slot = m->nrnn++;
        if (!strcmp(k, "RandomCrop") && op->training)
            op->slot = m->ncrop++;
    }
    // Which buffers depend on a trainable weight (forward), then which of
    // them reach the loss (backward): those get gradient buffers.
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        bool rg = has_trainable_weights(op);
        for (int k = 0; k < op->nin; k++)
            rg |= root(op->in[k])->requires_grad;
        for (int k = 0; k < op->nout; k++)
            root(op->out[k])->requires_grad = rg && op->out[k]->dtype == DT_FLOAT32;
    }
    for (int i = 0; i < m->noutputs; i++) {
        IrBuf *r = root(m->outputs[i]);
        if (r->requires_grad)
            grad_of(c, m, r)->def = loss_step;
        if (fused && fused[i])
            for (int k = 0; k < nops; k++) {
                IrOp *op = m->ops.data[k];
                if (!op->dead && op->nout == 1 && root(op->out[0]) == r)
                    op->loss_fused = true;
            }
    }
    for (int i = nops - 1; i >= 0; i--) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        bool out_grad = false;
        for (int k = 0; k < op->nout; k++)
            out_grad |= root(op->out[k])->grad != NULL;
        op->backward = out_grad;
        if (!op->backward)
            continue;
        int step = ir_backward_step(m, i);
        for (int k = 0; k < op->nin; k++) {
            IrBuf *r = root(op->in[k]);
            if (!r->requires_grad)
                continue;
            IrBuf *g = grad_of(c, m, r);
            if (g->def > step)
                g->def = step;
        }
    }
    // The gradients of a pre-activation and of SeparableConv2D's depthwise
    // result live during their op's backward step only.
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        IrBuf *extra[2] = {op->pre, op->tmp};
        for (int k = 0; k < 2; k++)
            if (!op->dead && op->backward && extra[k]) {
                extra[k]->grad = buf_new(c, m, &extra[k]->shape, DT_FLOAT32, extra[k]->what);
                extra[k]->grad->is_grad = true;
                extra[k]->grad->def = ir_backward_step(m, i);
            }
    }
    // Live ranges over the steps: forward ops, the loss, backward ops in
    // reverse. What a backward op reads (its inputs, outputs, mask,
    // pre-activation, temporary) lives until it runs.
    for (int i = 0; i < m->bufs.len; i++) {
        IrBuf *b = m->bufs.data[i];
        b->offset = -1;
        if (!b->is_grad)
            b->def = -1;    // gradients' definitions are known already
        b->last = -1;
    }
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        int bstep = op->backward ? ir_backward_step(m, i) : i;
        IrBuf *extra[3] = {op->mask, op->pre, op->tmp};
        for (int k = 0; k < 3; k++)
            if (extra[k]) {
                extra[k]->def = i;
                extra[k]->last = bstep;
                if (extra[k]->grad)
                    extra[k]->grad->last = bstep;
            }
        for (int k = 0; k < op->nout; k++) {
            IrBuf *r = root(op->out[k]);
            if (r->def < 0)
                r->def = i;
            live_until(r, bstep);
            if (r->grad)
                live_until(r->grad, bstep);
        }
        for (int k = 0; k < op->nin; k++) {
            IrBuf *r = root(op->in[k]);
            live_until(r, bstep);
        }
        // Keras masks: written by their op's forward, read by forwards and
        // (RNNs, masked pooling) backwards.
        if (op->mask_out) {
            if (op->mask_out->def < 0)
                op->mask_out->def = i;
            live_until(op->mask_out, i);
        }
        for (int k = 0; k < op->nmask_src; k++)
            live_until(op->mask_src[k], i);
        if (op->mask_in)
            live_until(op->mask_in, bstep);
    }
    for (int i = 0; i < m->noutputs; i++) {
        IrBuf *r = root(m->outputs[i]);
        live_until(r, loss_step);
        if (r->grad)
            live_until(r->grad, loss_step);
        if (m->out_masks[i])
            live_until(m->out_masks[i], loss_step);     // the masked loss
    }
    // Place everything that lives in the arena, in order of definition.
    Vec order = {0};
    for (int step = 0; step < m->nsteps; step++)
        for (int i = 0; i < m->bufs.len; i++) {
            IrBuf *b = m->bufs.data[i];
            if (b->def == step && b->input < 0 && !b->alias && b->last >= 0)
                vec_push(c->arena, &order, b);
        }
    m->arena_floats = first_fit(c, m, &order);
}
