/*
 * emit_c.c - C for every model of a .kdl file (`kdlc emit` / `kdlc build`).
 *
 * Requires: evaluated file (models bound to top-level names), lower.c.
 * Provides: <stem>.h and <stem>.c:
 *   - one weights struct for all layers the file's models use (models built
 *     from intermediate tensors share it), fields named <layer>_<weight>
 *     with their Keras shapes as constant array sizes;
 *   - per model M: M_create / M_destroy (one allocation: weights, activation
 *     arena, scratch), M_weights, M_init (Keras initializers from a seed),
 *     M_load / M_save (safetensors, tensor names <layer>/<weight>),
 *     M_predict (inputs and outputs in the model's flattened order);
 *   - constants: per-sample input/output sizes, arena floats per sample,
 *     weights bytes.
 * Every block names the layer and the .kdl line it comes from. The code
 * compiles with -std=c11 -Wall -Wextra -Werror -pedantic.
 */
#include "kdlc.h"
#include "layer_data.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "emit.h"

// A C identifier from any name: non-alphanumerics become '_', a leading
// digit gets a '_' in front.
char *c_ident(Arena *a, const char *s) {
    size_t n = strlen(s);
    char *r = arena_alloc(a, n + 2);
    size_t k = 0;
    if (!(s[0] >= 'a' && s[0] <= 'z') && !(s[0] >= 'A' && s[0] <= 'Z') && s[0] != '_')
        r[k++] = '_';
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        r[k++] = ok ? ch : '_';
    }
    r[k] = 0;
    return r;
}

int src_line(const Layer *l) {
    int line = 0, col = 0;
    if (l->span.file)
        src_line_col(l->span.file, l->span.start, &line, &col);
    return line;
}

int node_line(const CallNode *n) {
    int line = 0, col = 0;
    if (n->span.file)
        src_line_col(n->span.file, n->span.start, &line, &col);
    return line;
}

// Text for inside a C comment: "*/" (a layer "st*" and its weight
// "st*/kernel", a path) becomes "* /".
const char *cmt(Emit *e, const char *s) {
    if (!strstr(s, "*/"))
        return s;
    Buf b = {0};
    for (const char *p = s; *p; p++) {
        buf_putc(e->c->arena, &b, *p);
        if (p[0] == '*' && p[1] == '/')
            buf_putc(e->c->arena, &b, ' ');
    }
    return buf_str(e->c->arena, &b);
}

const char *act_enum(Arena *a, ActKind k) {
    char *s = arena_printf(a, "KDL_ACT_%s", act_name(k));
    for (char *p = s; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return s;
}

// Keras's parameter of an activation given by name: elu's alpha 1.0,
// leaky_relu's negative slope 0.2.
double act_default_alpha(ActKind k) {
    return k == ACT_ELU ? 1.0 : 0.2;
}

const char *fstr(Arena *a, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    if (!strpbrk(buf, ".eni"))
        strcat(buf, ".0");
    return arena_printf(a, "%sf", buf);
}

// ---- weights ---------------------------------------------------------------------

static int wlayer_index(Emit *e, const Layer *l) {
    for (int i = 0; i < e->wlayers.len; i++)
        if (e->wlayers.data[i] == l)
            return i;
    return -1;
}

// Does a field <p>_<weight of l> already exist? Two layers of one file may
// share a name (explicit names, clear_session), or make the same field
// (an LSTM "l" has l_recurrent_kernel, so has a Dense "l_recurrent").
static bool field_clash(Emit *e, const char *p, const Layer *l) {
    Arena *a = e->c->arena;
    for (int i = 0; i < e->wlayers.len; i++) {
        const Layer *o = e->wlayers.data[i];
        for (int j = 0; j < o->nweights; j++)
            for (int k = 0; k < l->nweights; k++)
                if (!strcmp(arena_printf(a, "%s_%s", (const char *)e->wprefix.data[i],
                                         c_ident(a, o->weights[j]->name)),
                            arena_printf(a, "%s_%s", p, c_ident(a, l->weights[k]->name))))
                    return true;
    }
    return false;
}

static void add_wlayer(Emit *e, Layer *l) {
    if (!l->nweights || wlayer_index(e, l) >= 0)
        return;
    char *p = c_ident(e->c->arena, layer_path(l));
    for (int k = 2; field_clash(e, p, l); k++)
        p = arena_printf(e->c->arena, "%s_%d", c_ident(e->c->arena, layer_path(l)), k);
    vec_push(e->c->arena, &e->wlayers, l);
    vec_push(e->c->arena, &e->wprefix, p);
}

const char *wfield(Emit *e, const Layer *l, const char *wname) {
    int i = wlayer_index(e, l);
    if (i < 0)
        die("emit: layer %s has no weights", l->name);
    return arena_printf(e->c->arena, "w->%s_%s", (const char *)e->wprefix.data[i],
                        c_ident(e->c->arena, wname));
}

Weight *find_weight(const Layer *l, const char *name) {
    for (int i = 0; i < l->nweights; i++)
        if (!strcmp(l->weights[i]->name, name))
            return l->weights[i];
    return NULL;
}

const char *wref(Emit *e, const Layer *l, const char *name) {
    return find_weight(l, name) ? wfield(e, l, name) : "NULL";
}

// A weight as an op reads it: with a BatchNormalization folded in, the
// kernel and bias come from the derived-weights area instead.
const char *kref(Emit *e, const IrOp *op, const char *name) {
    if (op->lora && !strcmp(name, op->lora))
        return arena_printf(e->c->arena, "(fold + %lld)", (long long)op->fold_kernel);
    if (op->bn) {
        bool pointwise = !strcmp(op->layer->class_name, "SeparableConv2D");
        if (!strcmp(name, pointwise ? "pointwise_kernel" : "kernel"))
            return arena_printf(e->c->arena, "(fold + %lld)", (long long)op->fold_kernel);
        if (!strcmp(name, "bias"))
            return arena_printf(e->c->arena, "(fold + %lld)", (long long)op->fold_bias);
    }
    return wref(e, op->layer, name);
}

int64_t numel0(const Shape *s) {
    int64_t n = shape_numel(s, 0);
    return n < 0 ? 0 : n;
}

// ---- buffers ---------------------------------------------------------------------

IrBuf *broot(IrBuf *b) {
    while (b->alias)
        b = b->alias;
    return b;
}

// The C expression for a buffer inside predict(): an input, or its place
// in the arena (planned by kdlc, or at create for run-time dimensions).
const char *bref(Emit *e, IrBuf *b) {
    b = broot(b);
    if (b->input >= 0)
        return arena_printf(e->c->arena, "x%d", b->input);
    if (e->dyn)
        return arena_printf(e->c->arena, "(arena + m->off[%d] * (size_t)batch)", b->plan);
    return arena_printf(e->c->arena, "(arena + (size_t)%lld * (size_t)batch)",
                        (long long)b->offset);
}

const char *dimx(Emit *e, const IrBuf *b, int i) {
    if (b->dx[i] >= 0)
        return arena_printf(e->c->arena, "(int)d[%d]", b->dx[i]);
    return arena_printf(e->c->arena, "%lld", (long long)b->shape.d[i]);
}

const char *numelx(Emit *e, const IrBuf *b, int from, int to) {
    Buf t = {0};
    int64_t known = 1;
    for (int i = from; i < to; i++) {
        if (b->dx[i] < 0) {
            known *= b->shape.d[i];
            continue;
        }
        buf_printf(e->c->arena, &t, "%s(size_t)d[%d]", t.len ? " * " : "", b->dx[i]);
    }
    if (!t.len)
        return arena_printf(e->c->arena, "%lldu", (long long)known);
    if (known != 1)
        buf_printf(e->c->arena, &t, " * %lldu", (long long)known);
    return arena_printf(e->c->arena, "(%s)", buf_str(e->c->arena, &t));
}

const char *sizex(Emit *e, const IrBuf *b) {
    return numelx(e, b, 1, b->shape.rank);
}

const char *rows_expr(Emit *e, const IrBuf *b) {
    return arena_printf(e->c->arena, "(size_t)batch * %s", numelx(e, b, 1, b->shape.rank - 1));
}

void unsupported(Emit *e, IrOp *op, const char *what) {
    error_at(e->c, op->node->span, "%s: %s is not supported by the code generator yet",
             layer_label(e->c, op->layer), what);
    e->ok = false;
}

// ---- per-layer code ------------------------------------------------------------------

double op_alpha(IrOp *op) {
    return op->fused ? op->alpha : act_default_alpha(op->act);
}

// Print a kdl_ConvShape literal: h, w, c, oh, ow, f, kh, kw, sh, sw, dh, dw,
// pad_top, pad_left, groups, depth_multiplier as C, with the batch as n.
static void put_conv_shape(Emit *e, const char *var, const char *const g[16]) {
    OUT(e, "        kdl_ConvShape %s = {.n = batch, .h = %s, .w = %s, .c = %s, .oh = %s, "
           ".ow = %s, .f = %s,\n", var, g[0], g[1], g[2], g[3], g[4], g[5]);
    OUT(e, "                           .kh = %s, .kw = %s, .sh = %s, .sw = %s, .dh = %s, "
           ".dw = %s,\n", g[6], g[7], g[8], g[9], g[10], g[11]);
    OUT(e, "                           .pad_top = %s, .pad_left = %s, .groups = %s, "
           ".depth_multiplier = %s};\n", g[12], g[13], g[14], g[15]);
}

static const char *lld(Emit *e, int64_t v) {
    return arena_printf(e->c->arena, "%lld", (long long)v);
}

// The "same" padding before the first element along one axis of length
// in (buffer b, axis i) with output length out (buffer o, axis j): a
// constant, or the runtime's rule over the run-time lengths.
static const char *same_pad(Emit *e, const IrBuf *o, int j, int64_t s, int64_t k, int64_t d,
                            const IrBuf *b, int i) {
    if (o->dx[j] < 0 && b->dx[i] < 0)
        return lld(e, kdl_same_pad(o->shape.d[j], s, k, d, b->shape.d[i]));
    return arena_printf(e->c->arena, "(int)kdl_same_pad(%s, %lld, %lld, %lld, %s)",
                        dimx(e, o, j), (long long)s, (long long)k, (long long)d, dimx(e, b, i));
}

// A conv/pool over in -> out: geometry and the pads of "valid", "same",
// "causal" per runtime/conv.c.
void conv_shape(Emit *e, IrOp *op, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                       int64_t dh, int64_t dw, int pad, int64_t groups, int64_t dm) {
    // channels_first: the kernel runs on the buffers moved channels last
    // (also where the scratch is sized, outside emit_channels_first).
    const IrBuf *in = op->cf_in ? op->cf_in : op->in[0];
    const IrBuf *out = op->cf_out ? op->cf_out : op->out[0];
    bool two_d = in->shape.rank == 4;
    // Pooling keeps the channels, which may be a run-time dimension.
    const char *c = dimx(e, in, in->shape.rank - 1), *f = dimx(e, out, out->shape.rank - 1);
    if (op->tmp)
        f = lld(e, op->tmp->shape.d[op->tmp->shape.rank - 1]);
    const char *pt = "0", *pl = "0";
    if (pad == PAD_SAME) {
        pt = two_d ? same_pad(e, out, 1, sh, kh, dh, in, 1) : "0";
        pl = same_pad(e, out, two_d ? 2 : 1, sw, kw, dw, in, two_d ? 2 : 1);
    } else if (pad == PAD_CAUSAL) {
        pl = lld(e, dw * (kw - 1));
    }
    const char *g[16] = {two_d ? dimx(e, in, 1) : "1", dimx(e, in, two_d ? 2 : 1), c,
                         two_d ? dimx(e, out, 1) : "1", dimx(e, out, two_d ? 2 : 1), f,
                         lld(e, kh), lld(e, kw), lld(e, sh), lld(e, sw), lld(e, dh), lld(e, dw),
                         pt, pl, lld(e, groups), lld(e, dm)};
    put_conv_shape(e, "s", g);
}

// The geometry of a convolution op, as C: `kdl_ConvShape s` (for
// SeparableConv2D its depthwise half; for Conv2DTranspose the conv it is the
// adjoint of, runtime/conv.c) and, for SeparableConv2D, `kdl_ConvShape p`
// (the pointwise 1x1 half). `batch` must be in scope where it is printed.
void conv_geometry(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    int r = (int)l->iv[CV_RANK];
    int64_t kh = r == 2 ? l->iv[CV_K] : 1, kw = l->iv[CV_K + r - 1];
    int64_t sh = r == 2 ? l->iv[CV_S] : 1, sw = l->iv[CV_S + r - 1];
    int64_t dh = r == 2 ? l->iv[CV_D] : 1, dw = l->iv[CV_D + r - 1];
    ConvKind kind = (ConvKind)l->iv[CV_KIND];
    if (kind == CV_TRANSPOSE) {
        // Pads from the output side: TF's rule (runtime/conv.c), also with
        // output_padding (the output length then holds it).
        const IrBuf *is = op->cf_in ? op->cf_in : op->in[0];
        const IrBuf *os = op->cf_out ? op->cf_out : op->out[0];
        const char *pt = "0", *pl = "0";
        if (l->iv[CV_PAD] == PAD_SAME) {
            pt = r == 2 ? same_pad(e, is, 1, sh, kh, dh, os, 1) : "0";
            pl = same_pad(e, is, r, sw, kw, dw, os, r);
        }
        const char *g[16] = {r == 2 ? dimx(e, is, 1) : "1", dimx(e, is, r),
                             lld(e, is->shape.d[is->shape.rank - 1]),
                             r == 2 ? dimx(e, os, 1) : "1", dimx(e, os, r),
                             lld(e, os->shape.d[os->shape.rank - 1]), lld(e, kh), lld(e, kw),
                             lld(e, sh), lld(e, sw), lld(e, dh), lld(e, dw), pt, pl, "1", "1"};
        put_conv_shape(e, "s", g);
        return;
    }
    conv_shape(e, op, kh, kw, sh, sw, dh, dw, (int)l->iv[CV_PAD],
               kind == CV_CONV ? l->iv[CV_GROUPS] : 1, kind == CV_CONV ? 1 : l->iv[CV_DM]);
    if (kind == CV_SEPARABLE) {
        // The filters: the channels_last output's last axis (also where the
        // scratch is sized, outside emit_channels_first's swap of the buffers).
        const IrBuf *os = op->cf_out ? op->cf_out : op->out[0];
        OUT(e,
            "        kdl_ConvShape p = {.n = batch, .h = s.oh, .w = s.ow, .c = s.f, .oh = s.oh, "
            ".ow = s.ow, .f = %lld,\n",
            (long long)os->shape.d[os->shape.rank - 1]);
        OUT(e, "                           .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, "
               ".groups = 1, .depth_multiplier = 1};\n");
    }
}

static void emit_conv(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    Arena *a = e->c->arena;
    const char *act = act_enum(a, op->act);
    const char *alpha = fstr(a, op_alpha(op));
    const char *in = bref(e, op->in[0]), *out = bref(e, op->out[0]);
    OUT(e, "    {\n");
    conv_geometry(e, op);
    switch ((ConvKind)l->iv[CV_KIND]) {
    case CV_CONV:
        OUT(e, "        kdl_conv2d_forward(%s, %s, %s, %s, &s, %s, %s, scratch);\n", out, in,
            kref(e, op, "kernel"), kref(e, op, "bias"), act, alpha);
        break;
    case CV_DEPTHWISE:
        OUT(e, "        kdl_depthwise_conv2d_forward(%s, %s, %s, %s, &s, %s, %s);\n", out, in,
            kref(e, op, "kernel"), kref(e, op, "bias"), act, alpha);
        break;
    case CV_SEPARABLE: {
        // Depthwise into tmp (no bias), then a 1x1 conv with bias + activation.
        const char *tmp = bref(e, op->tmp);
        OUT(e,
            "        kdl_depthwise_conv2d_forward(%s, %s, %s, NULL, &s, KDL_ACT_LINEAR, 0.0f);\n",
            tmp, in, wref(e, l, "depthwise_kernel"));
        OUT(e, "        kdl_conv2d_forward(%s, %s, %s, %s, &p, %s, %s, scratch);\n", out, tmp,
            kref(e, op, "pointwise_kernel"), kref(e, op, "bias"), act, alpha);
        break;
    }
    case CV_TRANSPOSE:
        OUT(e, "        kdl_conv2d_transpose_forward(%s, %s, %s, %s, &s, %s, %s);\n", out, in,
            wref(e, l, "kernel"), wref(e, l, "bias"), act, alpha);
        break;
    }
    OUT(e, "    }\n");
}

static void emit_pool(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    int r = (int)l->iv[PL_RANK];
    int64_t kh = r == 2 ? l->iv[PL_K] : 1, kw = l->iv[PL_K + r - 1];
    int64_t sh = r == 2 ? l->iv[PL_S] : 1, sw = l->iv[PL_S + r - 1];
    OUT(e, "    {\n");
    conv_shape(e, op, kh, kw, sh, sw, 1, 1, (int)l->iv[PL_PAD], 1, 1);
    OUT(e, "        kdl_pool2d_forward(%s, %s, &s, %s);\n", bref(e, op->out[0]), bref(e, op->in[0]),
        l->iv[PL_MAX] ? "KDL_POOL_MAX" : "KDL_POOL_AVG");
    OUT(e, "    }\n");
}

static void emit_global_pool(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    const IrBuf *in = op->in[0];
    if (op->mask_in) {  // GlobalAveragePooling1D over the unmasked steps
        OUT(e, "    kdl_global_avg_pool1d_masked(%s, %s, %s, batch, %s, %lld);\n",
            bref(e, op->out[0]), bref(e, op->in[0]), bref(e, op->mask_in), dimx(e, in, 1),
            (long long)in->shape.d[2]);
        return;
    }
    OUT(e, "    kdl_global_pool_forward(%s, %s, batch, %s, %s, %s);\n", bref(e, op->out[0]),
        bref(e, op->in[0]), numelx(e, in, 1, in->shape.rank - 1),
        dimx(e, in, in->shape.rank - 1), l->iv[GP_MAX] ? "KDL_POOL_MAX" : "KDL_POOL_AVG");
}

static void emit_dense(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    const Shape *in = &op->in[0]->shape;
    Arena *a = e->c->arena;
    OUT(e, "    kdl_dense_forward(%s, %s, %s, %s, (int)(%s), %lld, %lld, %s, %s);\n",
        bref(e, op->out[0]), bref(e, op->in[0]), kref(e, op, "kernel"), kref(e, op, "bias"),
        rows_expr(e, op->in[0]), (long long)in->d[in->rank - 1], (long long)l->iv[DN_UNITS],
        act_enum(a, op->act), fstr(a, op_alpha(op)));
}

// ReLU(max_value=..., negative_slope=..., threshold=...) in a form the
// activation kernels have no enum for (anything but relu, relu6, leaky).
bool relu_general(const IrOp *op) {
    const Layer *l = op->layer;
    if (strcmp(l->class_name, "ReLU"))
        return false;
    // iv[0]: has max_value; fv: max_value, negative_slope, threshold.
    bool plain = !l->iv[0] && l->fv[1] == 0 && l->fv[2] == 0;
    bool relu6 = l->iv[0] && l->fv[0] == 6 && l->fv[1] == 0 && l->fv[2] == 0;
    bool leaky = !l->iv[0] && l->fv[1] != 0 && l->fv[2] == 0;
    return !plain && !relu6 && !leaky;
}

// The activation an Activation/ReLU/LeakyReLU/Softmax layer applies, with
// its parameter; false (reported) for the forms the runtime lacks.
bool layer_activation(Emit *e, IrOp *op, ActKind *act_out, double *alpha_out) {
    Layer *l = op->layer;
    const Shape *s = &op->out[0]->shape;
    ActKind act = l->act;
    double alpha = act_default_alpha(act);
    const char *k = l->class_name;
    if (!strcmp(k, "LeakyReLU") || !strcmp(k, "ELU")) {
        act = !strcmp(k, "ELU") ? ACT_ELU : ACT_LEAKY_RELU;
        alpha = l->fv[0];
    } else if (!strcmp(k, "ReLU")) {
        // iv[0]: has max_value; fv: max_value, negative_slope, threshold.
        // (Other forms: kdl_relu_general_forward / _backward, emitted by
        // the callers before they ask for an activation enum.)
        if (relu_general(op)) {
            unsupported(e, op, "ReLU with this max_value/threshold here");
            return false;
        }
        bool plain = !l->iv[0] && l->fv[1] == 0;
        act = plain ? ACT_RELU : l->iv[0] ? ACT_RELU6 : ACT_LEAKY_RELU;
        alpha = l->fv[1];
    } else if (!strcmp(k, "Softmax") && l->iv[SM_NAXES]) {
        // Over several axes: the trailing ones, as one row (act_span).
        int n = (int)l->iv[SM_NAXES];
        bool seen[MAX_RANK] = {false}, trailing = n < s->rank && !op->cf_mask;
        for (int i = 0; trailing && i < n; i++) {
            int64_t a = l->iv[SM_AXES + i] < 0 ? l->iv[SM_AXES + i] + s->rank : l->iv[SM_AXES + i];
            trailing = a >= s->rank - n && a < s->rank && !seen[a];
            if (trailing)
                seen[a] = true;
        }
        if (!trailing && !op->cf_mask) {   // (cf_mask: lowering moved them last)
            unsupported(e, op, "Softmax over several axes other than the last ones");
            return false;
        }
        act = ACT_SOFTMAX;
    } else if (!strcmp(k, "Softmax")) {
        int64_t axis = l->iv[0];
        if (axis != -1 && axis != s->rank - 1 && !op->cf_in) {
            unsupported(e, op, "Softmax over the batch axis");
            return false;
        }
        act = ACT_SOFTMAX;
    }
    *act_out = act;
    *alpha_out = alpha;
    return true;
}

// The rows and the row length of an activation layer's kernel over b: its
// last axis, or the trailing axes of a Softmax over several (layer_activation
// checks that they are the trailing ones).
void act_span(Emit *e, const IrOp *op, const IrBuf *b, const char **rows, const char **cols) {
    const Layer *l = op->layer;
    int r = b->shape.rank;
    int n = !strcmp(l->class_name, "Softmax") && l->iv[SM_NAXES] ? (int)l->iv[SM_NAXES] : 1;
    *rows = arena_printf(e->c->arena, "(size_t)batch * %s", numelx(e, b, 1, r - n));
    *cols = n == 1 ? dimx(e, b, r - 1)
                   : arena_printf(e->c->arena, "(int)%s", numelx(e, b, r - n, r));
}

static void emit_activation(Emit *e, IrOp *op) {
    Arena *a = e->c->arena;
    ActKind act;
    double alpha;
    if (relu_general(op)) {
        const Layer *l = op->layer;
        OUT(e, "    kdl_relu_general_forward(%s, %s, (size_t)batch * %s, %s, %d, %s, %s);\n",
            bref(e, op->out[0]), bref(e, op->in[0]), sizex(e, op->out[0]), fstr(a, l->fv[1]),
            (int)l->iv[0], fstr(a, l->iv[0] ? l->fv[0] : 0), fstr(a, l->fv[2]));
        return;
    }
    if (!layer_activation(e, op, &act, &alpha))
        return;
    const char *rows, *cols;
    act_span(e, op, op->out[0], &rows, &cols);
    OUT(e, "    kdl_activation_forward(%s, %s, %s, %s, %s, %s);\n", bref(e, op->out[0]),
        bref(e, op->in[0]), rows, cols, act_enum(a, act), fstr(a, alpha));
}

static void emit_copy(Emit *e, IrOp *op) {
    const IrBuf *in = op->in[0];
    if (!strcmp(op->layer->class_name, "Flatten") && op->layer->iv[0] && in->shape.rank > 2) {
        // channels_first: Keras moves the channels last, then flattens.
        OUT(e, "    kdl_transpose_last2(%s, %s, batch, %s, %s);\n", bref(e, op->out[0]),
            bref(e, op->in[0]), dimx(e, in, 1), numelx(e, in, 2, in->shape.rank));
        return;
    }
    OUT(e, "    memmove(%s, %s, sizeof(float) * (size_t)batch * %s);\n", bref(e, op->out[0]),
        bref(e, op->in[0]), sizex(e, op->in[0]));
}

// A model input read by a layer of the other dtype (lower.c's cast_to).
static void emit_cast(Emit *e, IrOp *op) {
    if (op->out[0]->dtype == DT_FLOAT32)
        OUT(e, "    kdl_cast_i32_to_f32(%s, (const int32_t *)(const void *)%s, (size_t)batch * %s);\n",
            bref(e, op->out[0]), bref(e, op->in[0]), sizex(e, op->in[0]));
    else
        OUT(e, "    kdl_cast_f32_to_i32((int32_t *)(void *)%s, %s, (size_t)batch * %s);\n",
            bref(e, op->out[0]), bref(e, op->in[0]), sizex(e, op->in[0]));
}

static void emit_batchnorm(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    const Shape *s = &op->in[0]->shape;
    if (l->iv[BN_NAXIS] != s->rank - 1 && !op->cf_in) {
        unsupported(e, op, "BatchNormalization over the batch axis");
        return;
    }
    OUT(e, "    kdl_batchnorm_forward(%s, %s, %s, %s, %s, %s, %s, %s, %lld);\n",
        bref(e, op->out[0]), bref(e, op->in[0]), wref(e, l, "gamma"), wref(e, l, "beta"),
        wref(e, l, "moving_mean"), wref(e, l, "moving_variance"), fstr(e->c->arena, l->fv[1]),
        rows_expr(e, op->in[0]), (long long)s->d[s->rank - 1]);
}

// LayerNormalization's rows and columns: it normalizes over its axes, which
// must be the last ones (in any order: Keras reshapes gamma and beta to the
// broadcast shape, which keeps their memory order), or a block of consecutive
// axes that lowering moved last (the op's input is then its cf_in). False
// (reported) else.
bool layernorm_span(Emit *e, IrOp *op, const char **rows, long long *cols) {
    Layer *l = op->layer;
    const Shape *s = &op->in[0]->shape;
    int n = (int)l->iv[LN_NAXES];
    bool seen[MAX_RANK] = {false}, trailing = n >= 1 && n < s->rank;
    bool moved = op->cf_in && op->in[0] == op->cf_in;
    for (int i = 0; trailing && !moved && i < n; i++) {
        int64_t a = l->iv[LN_AXES + i];
        a = a < 0 ? a + s->rank : a;
        trailing = a >= s->rank - n && a < s->rank && !seen[a];
        if (trailing)
            seen[a] = true;
    }
    if (l->iv[LN_RMS]) {
        unsupported(e, op, "LayerNormalization(rms_scaling=True)");
        return false;
    }
    if (!trailing) {
        unsupported(e, op, "LayerNormalization over axes that are neither the last ones nor "
                    "consecutive");
        return false;
    }
    *rows = arena_printf(e->c->arena, "(size_t)batch * %s", numelx(e, op->in[0], 1, s->rank - n));
    *cols = 1;
    for (int k = s->rank - n; k < s->rank; k++)
        *cols *= (long long)s->d[k];
    return true;
}

static void emit_layernorm(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    const char *rows;
    long long cols;
    if (!layernorm_span(e, op, &rows, &cols))
        return;
    OUT(e, "    kdl_layernorm_forward(%s, %s, %s, %s, %s, %s, %lld);\n", bref(e, op->out[0]),
        bref(e, op->in[0]), wref(e, l, "gamma"), wref(e, l, "beta"), fstr(e->c->arena, l->fv[0]),
        rows, cols);
}

// An int array literal of a buffer's shape padded on the left with 1s to rank.
const char *shape_lit(Emit *e, const IrBuf *s, int rank) {
    Buf b = {0};
    buf_puts(e->c->arena, &b, "{batch");
    for (int i = 1; i < rank; i++) {
        int k = i - (rank - s->shape.rank);
        buf_printf(e->c->arena, &b, ", %s", k >= 1 ? dimx(e, s, k) : "1");
    }
    buf_putc(e->c->arena, &b, '}');
    return buf_str(e->c->arena, &b);
}

// Whether a and b have the same shape (known and run-time dimensions).
static bool same_dims(const IrBuf *a, const IrBuf *b) {
    if (a->shape.rank != b->shape.rank)
        return false;
    for (int i = 1; i < a->shape.rank; i++)
        if (a->shape.d[i] != b->shape.d[i] || a->dx[i] != b->dx[i])
            return false;
    return true;
}

static void emit_merge(Emit *e, IrOp *op) {
    static const char *const ops[] = {"KDL_MERGE_ADD", "KDL_MERGE_SUB", "KDL_MERGE_MUL",
                                      "KDL_MERGE_ADD", "KDL_MERGE_MAX", "KDL_MERGE_MIN"};
    int kind = (int)op->layer->iv[0];
    const Shape *os = &op->out[0]->shape;
    int rank = os->rank;
    // Add, Multiply and Average commute: start from an input of the full
    // output shape, so every later step accumulates in place on out.
    IrBuf *in[MAX_IO];
    for (int i = 0; i < op->nin; i++)
        in[i] = op->in[i];
    if (kind != MG_SUB)
        for (int i = 0; i < op->nin; i++)
            if (same_dims(in[i], op->out[0])) {
                IrBuf *t = in[0];
                in[0] = in[i];
                in[i] = t;
                break;
            }
    // With 3 or more inputs, each step after the first accumulates into out.
    // When none of them has the output's shape (each broadcasts on some axis),
    // out starts as 0 + in[0] broadcast to it.
    bool fill = op->nin > 2 && !same_dims(in[0], op->out[0]);
    const char *out = bref(e, op->out[0]);
    OUT(e, "    {\n");
    if (op->nin > 2)
        OUT(e, "        const int so[] = %s;\n", shape_lit(e, op->out[0], rank));
    OUT(e, "        const int sa[] = %s;\n", shape_lit(e, in[0], rank));
    OUT(e, "        const int sb[] = %s;\n", shape_lit(e, in[1], rank));
    if (fill) {
        OUT(e, "        memset(%s, 0, sizeof(float) * (size_t)batch * %s);\n", out,
            sizex(e, op->out[0]));
        OUT(e, "        kdl_merge_forward(%s, %s, so, %s, sa, %d, KDL_MERGE_ADD);\n", out, out,
            bref(e, in[0]), rank);
        OUT(e, "        kdl_merge_forward(%s, %s, so, %s, sb, %d, %s);\n", out, out,
            bref(e, in[1]), rank, ops[kind]);
    } else {
        OUT(e, "        kdl_merge_forward(%s, %s, sa, %s, sb, %d, %s);\n", out, bref(e, in[0]),
            bref(e, in[1]), rank, ops[kind]);
    }
    for (int i = 2; i < op->nin; i++) {
        OUT(e, "        const int s%d[] = %s;\n", i, shape_lit(e, in[i], rank));
        OUT(e, "        kdl_merge_forward(%s, %s, so, %s, s%d, %d, %s);\n", out, out,
            bref(e, in[i]), i, rank, ops[kind]);
    }
    if (kind == MG_AVG)
        OUT(e, "        kdl_scale(%s, %s, (size_t)batch * %s, %s, 0.0f);\n", out, out,
            sizex(e, op->out[0]), fstr(e->c->arena, 1.0 / op->nin));
    OUT(e, "    }\n");
}

static void emit_concat(Emit *e, IrOp *op) {
    // Seen as (outer, len_i * inner) rows: outer = batch * dims before the
    // axis, inner = dims after it.
    const IrBuf *o = op->out[0];
    int axis = (int)op->layer->iv[1];
    OUT(e, "    {\n        const float *const ins[] = {");
    for (int i = 0; i < op->nin; i++)
        OUT(e, "%s%s", i ? ", " : "", bref(e, op->in[i]));
    OUT(e, "};\n        const int lens[] = {");
    for (int i = 0; i < op->nin; i++)
        OUT(e, "%s%s", i ? ", " : "", dimx(e, op->in[i], axis));
    OUT(e, "};\n        kdl_concat_forward(%s, ins, lens, %d, (size_t)batch * %s, %s);\n    }\n",
        bref(e, op->out[0]), op->nin, numelx(e, o, 1, axis), numelx(e, o, axis + 1, o->shape.rank));
}

static void emit_embedding(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    OUT(e, "    {\n        int64_t bad = 0;\n");
    OUT(e,
        "        if (kdl_embedding_forward(%s, (const int32_t *)(const void *)%s, (size_t)batch * "
        "%s, %s, %lld, %lld, &bad) != KDL_OK)\n            return KDL_ERR_INDEX;\n    }\n",
        bref(e, op->out[0]), bref(e, op->in[0]), sizex(e, op->in[0]),
        kref(e, op, "embeddings"), (long long)l->iv[EM_IN], (long long)l->iv[EM_OUT]);
}

// Permute: dst = src (of shape `shape`) with its axes permuted (dims);
// backward: the gradient through the inverse permutation, accumulated (dst =
// dx, src = dy of the output's shape).
void emit_permute(Emit *e, IrOp *op, const char *dst, const char *src, const IrBuf *shape,
                  bool backward) {
    const Layer *l = op->layer;
    int n = (int)l->iv[PM_N];
    int perm[MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        int d = (int)l->iv[PM_D + i];
        if (backward)
            perm[d] = i + 1;     // the inverse: dx's axis d is dy's axis i + 1
        else
            perm[i + 1] = d;
    }
    Buf p = {0};
    for (int i = 0; i <= n; i++)
        buf_printf(e->c->arena, &p, "%s%d", i ? ", " : "", perm[i]);
    OUT(e, "    {\n        const int dims[] = %s, perm[] = {%s}; /* dims=%s */\n",
        shape_lit(e, shape, n + 1), buf_str(e->c->arena, &p), backward ? "inverse" : "as given");
    OUT(e, "        kdl_permute(%s, %s, %d, dims, perm, %d);\n    }\n", dst, src, n + 1,
        backward);
}

// The image layers' geometry as the kernels take it, (n, h, w, c): their
// input's h, w, c and their output's h and w, as C (the 1D forms, (N, T, C):
// h = 1, w = T).
void image_dims(Emit *e, const IrOp *op, const char **h, const char **w, const char **c,
                const char **oh, const char **ow) {
    const IrBuf *x = op->in[0], *y = op->out[0];
    bool one = x->shape.rank == 3;
    *h = one ? "1" : dimx(e, x, 1);
    *w = dimx(e, x, one ? 1 : 2);
    *c = dimx(e, x, one ? 2 : 3);
    *oh = one ? "1" : dimx(e, y, 1);
    *ow = dimx(e, y, one ? 1 : 2);
}

static void emit_image(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    const char *k = l->class_name;
    const Shape *os = &op->out[0]->shape;
    const char *in = bref(e, op->in[0]), *out = bref(e, op->out[0]);
    const char *h, *w, *ch, *oh, *ow;    // the channels may be a run-time dimension
    image_dims(e, op, &h, &w, &ch, &oh, &ow);
    if (!strncmp(k, "Cropping", 8)) {
        OUT(e, "    kdl_crop2d_forward(%s, %s, batch, %s, %s, %s, %s, %s, %lld, %lld);\n", out, in,
            h, w, ch, oh, ow, (long long)l->iv[CR_T], (long long)l->iv[CR_L]);
    } else if (!strncmp(k, "ZeroPadding", 11)) {
        OUT(e,
            "    kdl_zero_pad2d_forward(%s, %s, batch, %s, %s, %s, %lld, %lld, %lld, "
            "%lld);\n",
            out, in, h, w, ch, (long long)l->iv[ZP_T], (long long)l->iv[ZP_B],
            (long long)l->iv[ZP_L], (long long)l->iv[ZP_R]);
    } else if (!strncmp(k, "UpSampling", 10)) {
        if (l->iv[UP_INTERP] > 1) {
            unsupported(e, op, "interpolation other than \"nearest\" and \"bilinear\"");
            return;
        }
        OUT(e, "    kdl_upsample2d%s_forward(%s, %s, batch, %s, %s, %s, %lld, %lld);\n",
            l->iv[UP_INTERP] ? "_bilinear" : "", out,
            in, h, w, ch, (long long)l->iv[UP_H], (long long)l->iv[UP_W]);
    } else {  // RandomCrop at inference: the centred window
        OUT(e, "    kdl_center_crop_forward(%s, %s, batch, %s, %s, %s, %lld, %lld);\n", out,
            in, h, w, ch, (long long)os->d[1], (long long)os->d[2]);
    }
}

// `kdl_RnnShape s` for an RNN op, with n as the batch.
void rnn_shape(Emit *e, IrOp *op, const char *n) {
    const Layer *l = op->layer;
    const Shape *is = &op->in[0]->shape;
    OUT(e, "        kdl_RnnShape s = {.n = %s, .t = %s, .in_dim = %lld, .units = %lld, "
           ".return_sequences = %d, .go_backwards = %d, .reset_after = %d",
        n, dimx(e, op->in[0], 1), (long long)is->d[2], (long long)l->iv[RN_UNITS],
        (int)l->iv[RN_RETSEQ], (int)l->iv[RN_BACKWARDS], (int)l->iv[RN_RESET_AFTER]);
    // Bidirectional's layers: the backward sequence in input order, zeros
    // at masked steps.
    if (l->iv[RN_REVERSE_OUT])
        OUT(e, ", .reverse_out = 1");
    if (l->iv[RN_ZERO_MASKED] && op->mask_in)
        OUT(e, ", .zero_masked = 1");
    OUT(e, "};\n");
}

// The call's initial_state= tensors (in[1], LSTM in[2]) as the kdl_RnnShape
// `s`'s initial states (over a stateful layer's carried ones, as Keras).
void rnn_initial_state_args(Emit *e, const IrOp *op) {
    if (op->nin > 1)
        OUT(e, "        s.h0 = %s; /* initial_state */\n", bref(e, op->in[1]));
    if (op->nin > 2)
        OUT(e, "        s.c0 = %s;\n", bref(e, op->in[2]));
}

static void emit_rnn(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    Arena *a = e->c->arena;
    int kind = (int)l->iv[RN_KIND];
    OUT(e, "    {\n");
    rnn_shape(e, op, "batch");
    const char *out = bref(e, op->out[0]);
    const char *h = op->nout > 1 ? bref(e, op->out[1]) : "NULL";
    const char *cs = op->nout > 2 ? bref(e, op->out[2]) : "NULL";
    if (op->mask_in)
        OUT(e, "        s.mask = %s; /* timesteps where the ids are 0 are skipped */\n",
            bref(e, op->mask_in));
    const char *carry_h = NULL, *carry_c = NULL;
    if (op->carry) {
        // stateful=True: start from the states the last predict left, and
        // keep the final ones (written straight there unless returned too).
        long long bu = (long long)rnn_state_floats(op);
        carry_h = arena_printf(a, "carry + %lld", (long long)op->carry - 1);
        carry_c = arena_printf(a, "carry + %lld", (long long)op->carry - 1 + bu);
        OUT(e, "        s.h0 = %s; /* stateful: the states of the previous batch */\n", carry_h);
        if (kind == RNN_LSTM)
            OUT(e, "        s.c0 = %s;\n", carry_c);
        if (op->nout < 2)
            h = carry_h;
        if (kind == RNN_LSTM && op->nout < 3)
            cs = carry_c;
    }
    rnn_initial_state_args(e, op);
    const char *cell = kind == RNN_SIMPLE ? "simple_rnn" : kind == RNN_LSTM ? "lstm" : "gru";
    OUT(e, "        kdl_%s_forward(%s, %s, ", cell, out, h);
    if (kind == RNN_LSTM)
        OUT(e, "%s, ", cs);
    OUT(e, "%s, %s, %s, %s, &s, %s", bref(e, op->in[0]), wref(e, l, "kernel"),
        wref(e, l, "recurrent_kernel"), wref(e, l, "bias"), act_enum(a, l->act));
    if (kind != RNN_SIMPLE)
        OUT(e, ", %s", act_enum(a, (ActKind)l->iv[RN_REC_ACT]));
    OUT(e, ", scratch);\n");
    if (op->carry && op->nout >= 2)
        OUT(e, "        memcpy(%s, %s, sizeof(float) * %lldu);\n", carry_h, h,
            (long long)(op->in[0]->shape.d[0] * l->iv[RN_UNITS]));
    if (op->carry && kind == RNN_LSTM && op->nout >= 3)
        OUT(e, "        memcpy(%s, %s, sizeof(float) * %lldu);\n", carry_c, cs,
            (long long)(op->in[0]->shape.d[0] * l->iv[RN_UNITS]));
    OUT(e, "    }\n");
}

static void emit_channels_first(Emit *e, IrOp *op);
static void emit_layer(Emit *e, IrOp *op);
static void emit_mask(Emit *e, IrOp *op);

void emit_op(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    const char *k = l->class_name;
    OUT(e, "    /* %s (%s), %s:%d:", l->name, k, e->file, node_line(op->node));
    for (int i = 0; i < op->nin; i++)
        OUT(e, " %s", shape_str(e->c->arena, &op->in[i]->shape));
    OUT(e, " ->");
    for (int i = 0; i < op->nout; i++)
        OUT(e, " %s", shape_str(e->c->arena, &op->out[i]->shape));
    if (op->bn)
        OUT(e, ", %s folded in", op->bn->name);
    if (op->fused)
        OUT(e, ", then %s (%s) fused", op->fused->name, op->fused->class_name);
    OUT(e, " */\n");
    if (op->cf_in)
        emit_channels_first(e, op);
    else
        emit_layer(e, op);
    emit_mask(e, op);
}

// The Keras mask op writes (lower.c, lower_masks): ids != 0 for an
// Embedding(mask_zero=True), else the OR of its inputs' masks.
static void emit_mask(Emit *e, IrOp *op) {
    IrBuf *mo = op->mask_out;
    if (!mo || !strcmp(op->layer->class_name, "Masking"))  // (Masking's kernel writes it)
        return;
    const char *out = bref(e, mo);
    const char *n = arena_printf(e->c->arena, "(size_t)batch * %s", sizex(e, mo));
    if (!op->nmask_src) {
        OUT(e, "    kdl_mask_nonzero(%s, (const int32_t *)(const void *)%s, %s); /* mask_zero */\n",
            out, bref(e, op->in[0]), n);
        return;
    }
    OUT(e, "    kdl_mask_or(%s, %s, %s, %s); /* the inputs' masks */\n", out,
        bref(e, op->mask_src[0]), bref(e, op->mask_src[1]), n);
    for (int i = 2; i < op->nmask_src; i++)
        OUT(e, "    kdl_mask_or(%s, %s, %s, %s);\n", out, out, bref(e, op->mask_src[i]), n);
}

// A channels_first layer (or a Softmax over another axis than the last):
// its input with axis cf_axis moved last, the channels_last kernel, its
// output moved back. (N, A, *s) -> (N, *s, A) is a transpose of the last two
// axes of (N, A, prod s); axes before cf_axis join the batch.
// The length of the axis (or block of op->cf_naxes axes) at `from` of b, as C.
const char *cf_len(Emit *e, const IrOp *op, const IrBuf *b, int from) {
    int n = op->cf_naxes > 1 ? op->cf_naxes : 1;
    return n == 1 ? dimx(e, b, from) : numelx(e, b, from, from + n);
}

void emit_move_axes(Emit *e, const IrOp *op, const char *dst, const char *src,
                    const IrBuf *orig, int back, int add, const char *what) {
    Buf t = {0};
    buf_printf(e->c->arena, &t, "batch");
    for (int i = 1; i < orig->shape.rank; i++)
        buf_printf(e->c->arena, &t, ", %s", dimx(e, orig, i));
    OUT(e, "    kdl_move_axes(%s, %s, %d, (const int[]){%s}, 0x%xu, %d, %d); /* %s */\n", dst, src,
        orig->shape.rank, t.data, op->cf_mask, back, add, what);
}

static void emit_channels_first(Emit *e, IrOp *op) {
    IrBuf *in = op->in[0], *out = op->out[0];
    if (op->cf_mask) {
        emit_move_axes(e, op, bref(e, op->cf_in), bref(e, in), in, 0, 0, "the axes last");
        op->in[0] = op->cf_in;
        op->out[0] = op->cf_out;
        emit_layer(e, op);
        op->in[0] = in;
        op->out[0] = out;
        emit_move_axes(e, op, bref(e, out), bref(e, op->cf_out), out, 1, 0, "moved back");
        return;
    }
    int ri = in->shape.rank, ro = op->cf_out->shape.rank, ax = op->cf_axis ? op->cf_axis : 1;
    int n = op->cf_naxes > 1 ? op->cf_naxes : 1;
    const char *outer = ax == 1 ? "batch" : arena_printf(e->c->arena, "(int)((size_t)batch * %s)",
                                                          numelx(e, in, 1, ax));
    OUT(e, "    kdl_transpose_last2(%s, %s, %s, %s, %s); /* axis %d last */\n",
        bref(e, op->cf_in), bref(e, in), outer, cf_len(e, op, in, ax), numelx(e, in, ax + n, ri),
        ax);
    op->in[0] = op->cf_in;
    op->out[0] = op->cf_out;
    emit_layer(e, op);
    op->in[0] = in;
    op->out[0] = out;
    if (ro > 2)
        OUT(e, "    kdl_transpose_last2(%s, %s, %s, %s, %s); /* back to axis %d */\n",
            bref(e, out), bref(e, op->cf_out), outer, numelx(e, op->cf_out, ax, ro - n),
            cf_len(e, op, op->cf_out, ro - n), ax);
    else
        OUT(e, "    memcpy(%s, %s, sizeof(float) * (size_t)batch * %s);\n", bref(e, out),
            bref(e, op->cf_out), sizex(e, out));
}

// The kernel call of one layer.
static void emit_layer(Emit *e, IrOp *op) {
    Layer *l = op->layer;
    const char *k = l->class_name;
    if (!strcmp(k, "Dense"))
        emit_dense(e, op);
    else if (!strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") || !strcmp(k, "DepthwiseConv2D") ||
             !strcmp(k, "SeparableConv2D") || !strcmp(k, "Conv2DTranspose") ||
             !strcmp(k, "Conv1DTranspose"))
        emit_conv(e, op);
    else if (!strcmp(k, "MaxPooling1D") || !strcmp(k, "MaxPooling2D") ||
             !strcmp(k, "AveragePooling1D") || !strcmp(k, "AveragePooling2D"))
        emit_pool(e, op);
    else if (!strncmp(k, "Global", 6))
        emit_global_pool(e, op);
    else if (!strcmp(k, "Activation") || !strcmp(k, "ReLU") || !strcmp(k, "LeakyReLU") ||
             !strcmp(k, "ELU") ||
             !strcmp(k, "Softmax"))
        emit_activation(e, op);
    else if (is_noise(k) || !strcmp(k, "Flatten") || !strcmp(k, "Reshape"))
        emit_copy(e, op);
    else if (!strcmp(k, "Cast"))
        emit_cast(e, op);
    else if (!strcmp(k, "BatchNormalization"))
        emit_batchnorm(e, op);
    else if (!strcmp(k, "LayerNormalization"))
        emit_layernorm(e, op);
    else if (is_merge_class(k))
        emit_merge(e, op);
    else if (!strcmp(k, "Concatenate"))
        emit_concat(e, op);
    else if (!strcmp(k, "Embedding"))
        emit_embedding(e, op);
    else if (!strcmp(k, "RepeatVector"))
        OUT(e, "    kdl_repeat_forward(%s, %s, batch, %lld, %s);\n", bref(e, op->out[0]),
            bref(e, op->in[0]), (long long)op->out[0]->shape.d[1], dimx(e, op->in[0], 1));
    else if (!strcmp(k, "Rescaling"))
        OUT(e, "    kdl_scale(%s, %s, (size_t)batch * %s, %s, %s);\n", bref(e, op->out[0]),
            bref(e, op->in[0]), sizex(e, op->in[0]), fstr(e->c->arena, l->fv[0]),
            fstr(e->c->arena, l->fv[1]));
    else if (!strcmp(k, "Permute"))
        emit_permute(e, op, bref(e, op->out[0]), bref(e, op->in[0]), op->in[0], false);
    else if (!strcmp(k, "Masking"))
        OUT(e, "    kdl_masking_forward(%s, %s, %s, (size_t)batch * %s, %s, %s);\n",
            bref(e, op->out[0]), op->mask_out ? bref(e, op->mask_out) : "NULL",
            bref(e, op->in[0]), numelx(e, op->in[0], 1, op->in[0]->shape.rank - 1),
            dimx(e, op->in[0], op->in[0]->shape.rank - 1), fstr(e->c->arena, l->fv[0]));
    else if (!strncmp(k, "ZeroPadding", 11) || !strncmp(k, "UpSampling", 10) ||
             !strcmp(k, "RandomCrop") || !strncmp(k, "Cropping", 8))
        emit_image(e, op);
    else if (is_rnn_class(k))
        emit_rnn(e, op);
    else
        unsupported(e, op, "this layer");
}

// ---- initializers -------------------------------------------------------------------

// Keras's compute_fans for a kernel shape.
static void fans(const Shape *s, double *fan_in, double *fan_out) {
    if (s->rank == 0) {
        *fan_in = *fan_out = 1;
    } else if (s->rank == 1) {
        *fan_in = *fan_out = (double)s->d[0];
    } else {
        double receptive = 1;
        for (int i = 0; i < s->rank - 2; i++)
            receptive *= (double)s->d[i];
        *fan_in = (double)s->d[s->rank - 2] * receptive;
        *fan_out = (double)s->d[s->rank - 1] * receptive;
    }
}

double obj_arg(const Object *o, const char *name, double dflt) {
    for (int i = 0; o && i < o->sig->nparams; i++)
        if (!strcmp(o->sig->params[i].name, name) && is_number(o->args[i]))
            return num_val(o->args[i]);
    return dflt;
}

const char *obj_str(const Object *o, const char *name, const char *dflt) {
    for (int i = 0; o && i < o->sig->nparams; i++)
        if (!strcmp(o->sig->params[i].name, name) && o->args[i]->kind == V_STR)
            return o->args[i]->u.str.s;
    return dflt;
}

// snake_case name of an initializer value ("GlorotUniform" -> "glorot_uniform").
static const char *init_name(Ctx *c, Value *v, const Object **obj) {
    *obj = NULL;
    if (v->kind == V_STR)
        return v->u.str.s;
    if (v->kind == V_OBJECT && !strcmp(v->u.object->module, "initializers")) {
        *obj = v->u.object;
        return snake_case(c->arena, v->u.object->cls);
    }
    return NULL;
}

// Emit the statement initialising field f (n floats, shape s) per Keras.
static void emit_init_weight(Emit *e, Weight *w, const char *f, int line) {
    Ctx *c = e->c;
    Arena *a = c->arena;
    int64_t n = numel0(&w->shape);
    Value *iv = w->initializer ? w->initializer : v_none();
    const Object *o = NULL;
    const char *name = iv->kind == V_NONE ? "zeros" : init_name(c, iv, &o);
    if (!name) {
        error_at(c, w->owner->span, "%s: initializer %s of weight %s is not supported by the code "
                 "generator", layer_label(c, w->owner), value_repr(c, iv), w->name);
        e->ok = false;
        return;
    }
    double fi, fo;
    fans(&w->shape, &fi, &fo);
    // Keras's VarianceScaling: scale / n with n = fan_in, fan_out or their mean.
    double scale = 1, nfan = (fi + fo) / 2;
    const char *dist = NULL;
    if (!strcmp(name, "glorot_uniform")) dist = "uniform";
    else if (!strcmp(name, "glorot_normal")) dist = "truncated_normal";
    else if (!strcmp(name, "he_uniform")) dist = "uniform", scale = 2, nfan = fi;
    else if (!strcmp(name, "he_normal")) dist = "truncated_normal", scale = 2, nfan = fi;
    else if (!strcmp(name, "lecun_uniform")) dist = "uniform", nfan = fi;
    else if (!strcmp(name, "lecun_normal")) dist = "truncated_normal", nfan = fi;
    else if (!strcmp(name, "variance_scaling")) {
        scale = obj_arg(o, "scale", 1.0);
        const char *mode = obj_str(o, "mode", "fan_in");
        nfan = !strcmp(mode, "fan_in") ? fi : !strcmp(mode, "fan_out") ? fo : (fi + fo) / 2;
        dist = obj_str(o, "distribution", "truncated_normal");
    }
    OUT(e, "    /* %s %s: %s (%s:%d) */\n",
        cmt(e, arena_printf(a, "%s/%s", layer_path(w->owner), w->name)), shape_pystr(a, &w->shape),
        name, e->file, line);
    if (dist) {
        double v = scale / (nfan > 1 ? nfan : 1);
        if (!strcmp(dist, "uniform")) {
            double lim = sqrt(3 * v);
            OUT(e, "    kdl_init_uniform(%s, %lldu, %s, %s, &r);\n", f, (long long)n, fstr(a, -lim),
                fstr(a, lim));
        } else if (!strcmp(dist, "untruncated_normal") || !strcmp(dist, "normal")) {
            OUT(e, "    kdl_init_normal(%s, %lldu, 0.0f, %s, 0, &r);\n", f, (long long)n,
                fstr(a, sqrt(v)));
        } else {
            // 0.879...: the stddev of a unit normal truncated at 2 stddevs.
            OUT(e, "    kdl_init_normal(%s, %lldu, 0.0f, %s, 1, &r);\n", f, (long long)n,
                fstr(a, sqrt(v) / 0.87962566103423978));
        }
    } else if (!strcmp(name, "zeros") || !strcmp(name, "ones") || !strcmp(name, "constant")) {
        double v = !strcmp(name, "ones")       ? 1.0
                   : !strcmp(name, "constant") ? obj_arg(o, "value", 0)
                                               : 0;
        OUT(e, "    kdl_init_constant(%s, %lldu, %s);\n", f, (long long)n, fstr(a, v));
    } else if (!strcmp(name, "uniform") || !strcmp(name, "random_uniform")) {
        OUT(e, "    kdl_init_uniform(%s, %lldu, %s, %s, &r);\n", f, (long long)n,
            fstr(a, obj_arg(o, "minval", -0.05)), fstr(a, obj_arg(o, "maxval", 0.05)));
    } else if (!strcmp(name, "normal") || !strcmp(name, "random_normal") ||
               !strcmp(name, "truncated_normal")) {
        OUT(e, "    kdl_init_normal(%s, %lldu, %s, %s, %d, &r);\n", f, (long long)n,
            fstr(a, obj_arg(o, "mean", 0)), fstr(a, obj_arg(o, "stddev", 0.05)),
            !strcmp(name, "truncated_normal"));
    } else if (!strcmp(name, "orthogonal")) {
        // Keras flattens the kernel to (prod(shape[:-1]), shape[-1]).
        int64_t cols = w->shape.rank ? w->shape.d[w->shape.rank - 1] : 1;
        OUT(e, "    kdl_init_orthogonal(%s, %lld, %lld, %s, &r);\n", f,
            (long long)(cols ? n / cols : 0), (long long)cols, fstr(a, obj_arg(o, "gain", 1.0)));
    } else {
        error_at(c, w->owner->span, "%s: initializer '%s' is not supported by the code generator",
                 layer_label(c, w->owner), name);
        e->ok = false;
    }
    // LSTM unit_forget_bias: the forget gate's slice of the bias starts at 1.
    if (!strcmp(w->name, "bias") && !strcmp(w->owner->class_name, "LSTM") &&
        w->owner->iv[RN_FORGET_BIAS]) {
        int64_t u = w->owner->iv[RN_UNITS];
        OUT(e, "    kdl_init_constant(%s + %lld, %lldu, 1.0f);\n", f, (long long)u, (long long)u);
    }
}

// ---- the file ------------------------------------------------------------------------


// The weights a model reads, in op order (each once).
void model_wlayers(IrModel *m, Vec *out, Arena *a) {
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        bool seen = false;
        for (int k = 0; k < out->len; k++)
            seen |= out->data[k] == op->layer;
        if (!seen && op->layer->nweights)
            vec_push(a, out, op->layer);
    }
}

const char *dtype_c(DType t) {
    return t == DT_FLOAT32 ? "float" : "int32_t";
}

// A C string literal for any text.
const char *c_string(Arena *a, const char *s) {
    Buf b = {0};
    buf_putc(a, &b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')   // '?': no trigraphs (C11 has them)
            buf_printf(a, &b, "\\%c", *p);
        else if (*p == '\n')
            buf_puts(a, &b, p[1] ? "\\n\"\n    \"" : "\\n");
        else if (*p < 0x20 || *p >= 0x7f)
            buf_printf(a, &b, "\\%03o", *p);
        else
            buf_putc(a, &b, (char)*p);
    }
    buf_putc(a, &b, '"');
    return buf_str(a, &b);
}

// model.summary(): the rows of compiler/summary.c as static data, rendered
// at run time by kdl_summary with the caller's options.
static void emit_summary(Emit *e, Layer *md, const char *P) {
    Arena *a = e->c->arena;
    kdl_SummaryModel sm;
    summary_model(e->c, md, &sm);
    HDR(e, "/* model.summary(), as Keras prints it, through kdl_summary: o NULL for the defaults,\n"
           "   print_fn NULL for stdout. */\n");
    HDR(e, "kdl_Status %s_summary(const kdl_SummaryOptions *o, kdl_PrintFn print_fn, void *user,\n"
           "    char *err, size_t errlen);\n", P);
    if (sm.nrows > 0) {
        OUT(e, "/* model.summary() rows: name, class, output shape, params, connected to, "
               "trainable, depth\n   (the layers of nested models follow their model). */\n");
        OUT(e, "static const kdl_SummaryRow %s_summary_rows[%d] = {\n", P, sm.nrows);
    }
    for (int i = 0; i < sm.nrows; i++) {
        const kdl_SummaryRow *r = &sm.rows[i];
        OUT(e, "    {%s, %s, %s, %lld, %s, '%c', %d},\n", c_string(a, r->name),
            c_string(a, r->class_name), c_string(a, r->output_shape), (long long)r->params,
            r->connected_to ? c_string(a, r->connected_to) : "NULL", r->trainable, r->depth);
    }
    if (sm.nrows > 0)
        OUT(e, "};\n");
    OUT(e, "static const kdl_SummaryModel %s_summary_model = {\n    %s, %d, %s, %d, %lld, %lld, "
           "%d, %lld, %.17g};\n\n", P, c_string(a, sm.name), sm.connected,
        sm.nrows > 0 ? arena_printf(a, "%s_summary_rows", P) : "NULL", sm.nrows,
        (long long)sm.trainable_params, (long long)sm.non_trainable_params, sm.optimizer_built,
        (long long)sm.optimizer_params, sm.optimizer_bytes);
    OUT(e, "kdl_Status %s_summary(const kdl_SummaryOptions *o, kdl_PrintFn print_fn, void *user,\n"
           "    char *err, size_t errlen) {\n"
           "    return kdl_summary(&%s_summary_model, o, print_fn, user, err, errlen);\n}\n\n",
        P, P);
}

// For a lowering m with run-time dimensions (m->dyn), predict's and the
// training step's alike: P_dims (every d[k] from dims[] by the layers' shape
// rules, each bounded, then every tensor's size and the checks), a sizes
// function (each arena buffer's floats per sample at those dims) and P_def /
// P_last (the plan's live ranges, for kdl_plan_arena).
void emit_run_dims(Emit *e, IrModel *m, const char *P, const char *sizes) {
    Arena *a = e->c->arena;
    OUT(e, "/* Run-time dimensions: d[0..%d) are dims[]; the others follow from the layers'\n"
           "   shape rules. Checks that the dims fit the model (KDL_ERR_SHAPE, a message in err). "
           "*/\n", m->ndims);
    OUT(e, "static kdl_Status %s_dims(const int dims[], int64_t d[], char *err, size_t errlen) {\n",
        P);
    OUT(e, "    for (int i = 0; i < %d; i++) {\n        if (dims[i] < 1 || dims[i] > (1 << 24)) {\n"
           "            if (err)\n                snprintf(err, errlen, \"dims[%%d] = %%d: a "
           "dimension must be in [1, %%d]\", i, dims[i], 1 << 24);\n"
           "            return KDL_ERR_SHAPE;\n        }\n        d[i] = dims[i];\n    }\n",
        m->ndims);
    // Each derived dim is bounded before the next rule uses it, so no rule
    // overflows (products saturate: kdl_dim_mul).
    for (int k = m->ndims; k < m->dyn.len; k++) {
        IrDim *dm = m->dyn.data[k];
        OUT(e, "    d[%d] = %s; /* %s */\n", k, dm->expr, cmt(e, dm->what));
        OUT(e, "    if (d[%d] > KDL_MAX_RUN_DIM) {\n        if (err)\n            snprintf(err, "
               "errlen, %s, (long long)d[%d], (long long)KDL_MAX_RUN_DIM);\n"
               "        return KDL_ERR_SHAPE;\n    }\n", k,
            c_string(a, arena_printf(a, "%s would be %%lld, more than %%lld", dm->what)), k);
    }
    // And no tensor is too large per sample (sizes below never overflow);
    // a gradient has its tensor's size.
    for (int i = 0; i < m->bufs.len; i++) {
        IrBuf *b = m->bufs.data[i];
        const char *n = NULL;
        int64_t known = 1;
        for (int k = 1; k < b->shape.rank; k++) {
            if (b->dx[k] < 0) {
                known *= b->shape.d[k];
                continue;
            }
            const char *dk = arena_printf(a, "d[%d]", b->dx[k]);
            n = n ? arena_printf(a, "kdl_dim_mul(%s, %s)", n, dk) : dk;
        }
        if (!n || b->alias || b->is_grad)
            continue;
        if (known != 1)
            n = arena_printf(a, "kdl_dim_mul(%s, %lld)", n, (long long)known);
        OUT(e, "    if (%s > KDL_MAX_RUN_NUMEL) {\n        if (err)\n            snprintf(err, "
               "errlen, %s, (long long)KDL_MAX_RUN_NUMEL);\n        return KDL_ERR_SHAPE;\n"
               "    }\n", n,
            c_string(a, arena_printf(a, "the tensor of %s %s would have more than %%lld "
                                        "elements per sample", b->what ? b->what : "a layer",
                                     shape_str(a, &b->shape))));
    }
    for (int k = 0; k < m->checks.len; k++) {
        IrCheck *ck = m->checks.data[k];
        OUT(e, "    if (!(%s)) {\n        if (err)\n            snprintf(err, errlen, %s%s%s);\n"
               "        return KDL_ERR_SHAPE;\n    }\n", ck->cond, c_string(a, ck->msg),
            *ck->args ? ", " : "", ck->args);
    }
    OUT(e, "    return KDL_OK;\n}\n\n");
    // Arena buffers: sizes at given dims, live ranges for kdl_plan_arena.
    OUT(e, "static void %s(const int64_t d[], size_t size[]) {\n    (void)d;\n", sizes);
    for (int i = 0; i < m->plan.len; i++) {
        IrBuf *b = m->plan.data[i];
        OUT(e, "    size[%d] = %s; /* %s%s %s */\n", i, sizex(e, b), b->is_grad ? "d " : "",
            cmt(e, b->what ? b->what : "?"), shape_str(a, &b->shape));
    }
    OUT(e, "    size[%d] = 0;\n}\n\n", m->plan.len);
    OUT(e, "static const int %s_def[%d] = {", P, m->plan.len + 1);
    for (int i = 0; i < m->plan.len; i++)
        OUT(e, "%s%d", i ? ", " : "", ((IrBuf *)m->plan.data[i])->def);
    OUT(e, "%s0};\nstatic const int %s_last[%d] = {", m->plan.len ? ", " : "", P, m->plan.len + 1);
    for (int i = 0; i < m->plan.len; i++)
        OUT(e, "%s%d", i ? ", " : "", ((IrBuf *)m->plan.data[i])->last);
    OUT(e, "%s0};\n\n", m->plan.len ? ", " : "");
}

// A model with run-time dimensions: emit_run_dims's P_dims, P_sizes and
// live ranges, and P_output_shape.
static void emit_dims(Emit *e, IrModel *m, const char *P) {
    Arena *a = e->c->arena;
    emit_run_dims(e, m, P, arena_printf(a, "%s_sizes", P));
    OUT(e, "kdl_Status %s_output_shape(const int dims[], int k, int64_t shape[], char *err, "
           "size_t errlen) {\n    int64_t d[%d];\n    kdl_Status st = %s_dims(dims, d, err, "
           "errlen);\n    if (st != KDL_OK)\n        return st;\n    switch (k) {\n",
        P, m->dyn.len, P);
    for (int i = 0; i < m->noutputs; i++) {
        IrBuf *b = m->outputs[i];
        OUT(e, "    case %d: /* %s */\n        shape[0] = -1;\n", i, shape_str(a, &b->shape));
        for (int k = 1; k < b->shape.rank; k++)
            OUT(e, "        shape[%d] = %s;\n", k,
                b->dx[k] >= 0 ? arena_printf(a, "d[%d]", b->dx[k]) : dimx(e, b, k));
        OUT(e, "        return KDL_OK;\n");
    }
    OUT(e, "    default:\n        if (err)\n            snprintf(err, errlen, \"no output %%d\", "
           "k);\n        return KDL_ERR_SHAPE;\n    }\n}\n\n");
}

// One state of a stateful RNN op (its static batch times units), floats.
int64_t rnn_state_floats(const IrOp *op) {
    return op->in[0]->shape.d[0] * op->layer->iv[RN_UNITS];
}

static bool stateful_rnn(const IrOp *op) {
    return is_rnn_class(op->layer->class_name) && op->layer->iv[RN_STATEFUL];
}

// The carry slot of layer l in m's first n ops, or 0.
static int64_t layer_carry(const IrModel *m, const Layer *l, int n) {
    for (int j = 0; j < n; j++) {
        const IrOp *op = m->ops.data[j];
        if (op->layer == l && op->carry)
            return op->carry;
    }
    return 0;
}

// Stateful RNNs (stateful=True) keep their final states for the next
// predict: one (batch, units) block per state in the model's carry area, per
// layer (a layer called twice reads what its first call left, as Keras's
// state variables do). The batch is the input's static batch size (the
// front end requires one).
static void plan_carry(IrModel *m) {
    m->carry_floats = 0;
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead || !stateful_rnn(op))
            continue;
        op->carry = layer_carry(m, op->layer, i);
        if (op->carry)
            continue;
        op->carry = 1 + m->carry_floats;
        m->carry_batch = op->in[0]->shape.d[0];
        m->carry_floats += rnn_state_floats(op) * rnn_nstates(op->layer);
    }
}

// A training or evaluation lowering's stateful RNNs use the states of the
// same layers in the inference model (plan_carry); false (reported) for a
// stateful layer the inference graph does not call.
bool carry_like(Ctx *c, IrModel *dst, const IrModel *src) {
    dst->carry_floats = src->carry_floats;
    dst->carry_batch = src->carry_batch;
    for (int i = 0; i < dst->ops.len; i++) {
        IrOp *op = dst->ops.data[i];
        if (!stateful_rnn(op))
            continue;
        op->carry = layer_carry(src, op->layer, src->ops.len);
        if (!op->carry) {
            error_at(c, op->node->span, "%s: a stateful layer called in training but not by "
                     "the model's inference graph is not supported by the code generator",
                     layer_label(c, op->layer));
            return false;
        }
    }
    return true;
}

static void emit_model(Emit *e, IrModel *m, IrModel *t) {
    Arena *a = e->c->arena;
    plan_carry(m);
    const char *P = arena_printf(a, "%s_%s", e->stem, m->cname);
    char *UP = arena_strdup(a, P);
    for (char *p = UP; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    Layer *md = m->model;
    Vec wl = {0};
    model_wlayers(m, &wl, a);
    int nweights = 0;
    for (int i = 0; i < wl.len; i++)
        nweights += ((Layer *)wl.data[i])->nweights;

    // Header: constants and prototypes.
    HDR(e, "\n/* Model \"%s\" (%s), %s:%d, bound to `%s`. */\n", md->name, md->class_name, e->file,
        src_line(md), m->var ? m->var : m->cname);
    HDR(e, "#define %s_NUM_INPUTS %d\n#define %s_NUM_OUTPUTS %d\n", UP, m->ninputs, UP,
        m->noutputs);
    bool dyn = m->dyn.len > 0;
    e->dyn = dyn;
    // Sizes per sample; with run-time dimensions, of the inputs and outputs
    // that have none.
    for (int i = 0; i < m->ninputs; i++)
        if (m->inputs[i]->size >= 0)
            HDR(e, "#define %s_INPUT%d_SIZE %lld /* %s per sample: %s */\n", UP, i,
                (long long)m->inputs[i]->size, dtype_c(m->inputs[i]->dtype),
                shape_str(a, &m->inputs[i]->shape));
    for (int i = 0; i < m->noutputs; i++)
        if (m->outputs[i]->size >= 0)
            HDR(e, "#define %s_OUTPUT%d_SIZE %lld /* floats per sample: %s */\n", UP, i,
                (long long)m->outputs[i]->size, shape_str(a, &m->outputs[i]->shape));
    if (!dyn)
        HDR(e, "#define %s_ARENA_FLOATS_PER_SAMPLE %lld\n", UP, (long long)m->arena_floats);
    HDR(e, "#define %s_NUM_WEIGHTS %d\n", UP, nweights);
    HDR(e, "typedef struct %s %s;\n", P, P);
    const char *dims_param = "", *dims_arg = "";
    if (dyn) {
        HDR(e, "/* The inputs' None dimensions are run-time arguments, in this order:");
        for (int i = 0; i < m->ndims; i++)
            HDR(e, "\n   dims[%d]: %s", i, ((IrDim *)m->dyn.data[i])->what);
        HDR(e, ".\n   create takes the largest dims predict will be given (the arena is planned "
               "for them);\n   predict takes the dims of its batch. */\n");
        HDR(e, "#define %s_NUM_DIMS %d\n", UP, m->ndims);
        dims_param = ", const int max_dims[]";
        dims_arg = ", max_dims";
    }
    HDR(e, "%s *%s_create(int max_batch%s);\n", P, P, dims_param);
    HDR(e, "%s *%s_create_shared(%s_Weights *weights, int max_batch%s);\n", P, P, e->stem,
        dims_param);
    HDR(e, "void %s_destroy(%s *m);\n", P, P);
    HDR(e, "%s_Weights *%s_weights(%s *m);\n", e->stem, P, P);
    HDR(e, "kdl_Status %s_init(%s *m, uint64_t seed);\n", P, P);
    HDR(e, "kdl_Status %s_load(%s *m, const char *path, char *err, size_t errlen);\n", P, P);
    HDR(e, "kdl_Status %s_save(const %s *m, const char *path, char *err, size_t errlen);\n", P, P);
    if (!dyn) {
        HDR(e, "/* inputs[i] holds batch * INPUTi_SIZE values, outputs[i] batch * OUTPUTi_SIZE. "
               "*/\n");
        HDR(e, "kdl_Status %s_predict(%s *m, int batch, const void *const inputs[], "
               "float *const outputs[]);\n", P, P);
    } else {
        HDR(e, "/* Output k's shape for these dims (shape[0], the batch, is -1); KDL_ERR_SHAPE "
               "and a\n   message in err when the dims do not fit the model. */\n");
        HDR(e, "kdl_Status %s_output_shape(const int dims[], int k, int64_t shape[], char *err, "
               "size_t errlen);\n", P);
        HDR(e, "/* inputs[i] and outputs[k] hold batch samples of the shapes these dims give. "
               "*/\n");
        HDR(e, "kdl_Status %s_predict(%s *m, int batch, const int dims[], const void *const "
               "inputs[],\n    float *const outputs[]);\n", P, P);
    }

    // Source: the model object and its lifecycle.
    OUT(e, "\n/* ==== model \"%s\" (%s), %s:%d ==== */\n\n", md->name, md->class_name, e->file,
        src_line(md));
    OUT(e, "struct %s {\n    %s_Weights *w;\n    int owns_weights;\n    int max_batch;\n"
           "    float *arena;\n    float *scratch;\n    float *fold; /* BatchNormalization folded "
           "into kernels (M_prepare) */\n"
           "    float *carry; /* stateful RNNs' states, kept from one predict to the next */\n"
           "%s%s};\n\n", P, e->stem,
        t ? arena_printf(a, "    struct %s_train *train; /* %s_create_training */\n", P, P) : "",
        dyn ? arena_printf(a, "    /* Planned at create for the largest dims: each arena buffer's "
                              "offset and\n       size (floats per sample), and the scratch "
                              "floats. */\n    size_t off[%d], cap[%d];\n    size_t scratch_floats;"
                              "\n", m->plan.len + 1, m->plan.len + 1) : "");
    if (dyn)
        emit_dims(e, m, P);
    // Scratch: the largest any conv/RNN op needs at max_batch.
    OUT(e, "static size_t %s_scratch_floats(int max_batch%s) {\n    size_t n = 0, k;\n"
           "    (void)max_batch;\n%s", P, dyn ? ", const int64_t d[]" : "", dyn ? "    (void)d;\n" : "");
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        const char *k = op->layer->class_name;
        bool conv = !strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") || !strcmp(k, "SeparableConv2D");
        bool rnn = is_rnn_class(k);
        if (conv) {
            bool sep = !strcmp(k, "SeparableConv2D");
            OUT(e, "    { /* %s */\n        int batch = max_batch;\n", op->layer->name);
            conv_geometry(e, op);
            OUT(e, "        k = kdl_conv2d_scratch(%s);\n        n = k > n ? k : n;\n    }\n",
                sep ? "&p" : "&s");
        } else if (rnn) {
            OUT(e, "    { /* %s */\n", op->layer->name);
            rnn_shape(e, op, "max_batch");
            OUT(e, "        k = kdl_rnn_scratch(&s);\n        n = k > n ? k : n;\n    }\n");
        }
    }
    OUT(e, "    (void)k;\n    return n;\n}\n\n");
    OUT(e, "%s *%s_create_shared(%s_Weights *weights, int max_batch%s) {\n", P, P, e->stem,
        dims_param);
    OUT(e, "    if (max_batch < 1)\n        return NULL;\n");
    if (dyn) {
        // The arena plan for the largest dims, by the planner kdlc uses;
        // without dims, a model for its weights only (predict fails).
        OUT(e, "    int64_t d[%d] = {0};\n    size_t size[%d] = {0}, off[%d] = {0};\n"
               "    size_t per_sample = 0, scratch = 0, fold = %lld;\n", m->dyn.len,
            m->plan.len + 1, m->plan.len + 1, (long long)m->fold_floats);
        OUT(e, "    if (max_dims) {\n        if (%s_dims(max_dims, d, NULL, 0) != KDL_OK)\n"
               "            return NULL;\n        %s_sizes(d, size);\n", P, P);
        OUT(e, "        per_sample = kdl_plan_arena(%d, size, %s_def, %s_last, off);\n",
            m->plan.len, P, P);
        OUT(e, "        if (per_sample > (SIZE_MAX / 8 - 1024) / (size_t)max_batch)\n"
               "            return NULL;\n        scratch = %s_scratch_floats(max_batch, d);\n"
               "    }\n    size_t arena = per_sample * (size_t)max_batch;\n", P);
    } else {
        if (m->arena_floats > 0)
            OUT(e, "    if ((size_t)%lld > (SIZE_MAX / 8 - 1024) / (size_t)max_batch)\n"
                   "        return NULL; /* more memory than there is */\n",
                (long long)m->arena_floats);
        OUT(e,
            "    size_t arena = (size_t)%lld * (size_t)max_batch, scratch = "
            "%s_scratch_floats(max_batch);\n"
            "    size_t fold = %lld;\n",
            (long long)m->arena_floats, P, (long long)m->fold_floats);
    }
    OUT(e, "    size_t wbytes = weights ? 0 : sizeof(%s_Weights);\n", e->stem);
    OUT(e, "    /* One allocation: the model, its weights (unless shared), the arena and scratch. "
           "*/\n");
    OUT(e, "    size_t head = (sizeof(%s) + 63) / 64 * 64, wsize = (wbytes + 63) / 64 * 64;\n", P);
    OUT(e, "    size_t carry = %lld;\n", (long long)m->carry_floats);
    OUT(e, "    char *mem = calloc(1, head + wsize + sizeof(float) * (arena + scratch + fold + "
           "carry + 1));\n");
    OUT(e, "    if (!mem)\n        return NULL;\n");
    OUT(e, "    %s *m = (%s *)(void *)mem;\n", P, P);
    OUT(e, "    m->w = weights ? weights : (%s_Weights *)(void *)(mem + head);\n", e->stem);
    OUT(e, "    m->owns_weights = weights == NULL;\n    m->max_batch = max_batch;\n");
    OUT(e, "    m->arena = (float *)(void *)(mem + head + wsize);\n    m->scratch = m->arena + "
           "arena;\n"
           "    m->fold = m->scratch + scratch;\n    m->carry = m->fold + fold;\n");
    if (dyn)
        OUT(e, "    memcpy(m->off, off, sizeof off);\n    memcpy(m->cap, size, sizeof size);\n"
               "    m->scratch_floats = scratch;\n");
    OUT(e, "    return m;\n}\n\n");
    OUT(e, "%s *%s_create(int max_batch%s) {\n    return %s_create_shared(NULL, max_batch%s);"
           "\n}\n\n", P, P, dims_param, P, dims_arg);
    OUT(e, "void %s_destroy(%s *m) {\n%s    free(m);\n}\n\n", P, P,
        t ? "    if (m)\n        free(m->train);\n" : "");
    OUT(e, "%s_Weights *%s_weights(%s *m) {\n    return m->w;\n}\n\n", e->stem, P, P);
    HDR(e, "/* model.reset_states(): stateful RNN layers start the next predict from zero "
           "states\n   (as after create). A model without them has nothing to reset. */\n");
    HDR(e, "void %s_reset_states(%s *m);\n", P, P);
    if (m->carry_floats)
        HDR(e, "#define %s_STATEFUL_BATCH %lld /* predict takes exactly this batch: the stateful "
               "RNNs' states */\n", UP, (long long)m->carry_batch);
    OUT(e, "void %s_reset_states(%s *m) {\n    memset(m->carry, 0, sizeof(float) * %lldu);\n}\n\n",
        P, P, (long long)m->carry_floats);

    // prepare: weights derived from the model's weights (folded BatchNormalization)
    HDR(e, "/* Recompute derived weights after changing weights through %s_weights(). */\n", P);
    HDR(e, "void %s_prepare(%s *m);\n", P, P);
    OUT(e, "void %s_prepare(%s *m) {\n    %s_Weights *w = m->w;\n    float *fold = m->fold;\n"
           "    (void)w;\n    (void)fold;\n", P, P, e->stem);
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (!op->lora)
            continue;
        Layer *l = op->layer;
        bool em = !strcmp(op->lora, "embeddings");
        Weight *k = find_weight(l, op->lora), *wa = find_weight(l, em ? "lora_embeddings_a"
                                                                       : "lora_kernel_a");
        int64_t cols = k->shape.d[k->shape.rank - 1], rank = wa->shape.d[wa->shape.rank - 1];
        int64_t rows = numel0(&k->shape) / (cols ? cols : 1);
        OUT(e, "    /* %s (%s:%d), LoRA: %s + (a @ b) * lora_alpha / lora_rank */\n", l->name,
            e->file, src_line(l), op->lora);
        OUT(e, "    memcpy(fold + %lld, %s, sizeof(float) * %lldu);\n", (long long)op->fold_kernel,
            wfield(e, l, op->lora), (long long)(rows * cols));
        OUT(e, "    kdl_sgemm(0, 0, %lld, %lld, %lld, %s, %s, %lld, %s, %lld, 1.0f, fold + %lld, "
               "%lld);\n", (long long)rows, (long long)cols, (long long)rank,
            fstr(a, l->fv[0] / (double)rank), wfield(e, l, wa->name), (long long)rank,
            wfield(e, l, em ? "lora_embeddings_b" : "lora_kernel_b"), (long long)cols,
            (long long)op->fold_kernel, (long long)cols);
    }
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead || !op->bn)
            continue;
        Layer *l = op->layer, *bn = op->bn;
        bool pw = !strcmp(l->class_name, "SeparableConv2D");
        Weight *k = find_weight(l, pw ? "pointwise_kernel" : "kernel");
        int64_t cols = k->shape.d[k->shape.rank - 1];
        if (!strcmp(l->class_name, "DepthwiseConv2D"))
            cols *= k->shape.d[k->shape.rank - 2];
        int64_t rows = numel0(&k->shape) / (cols ? cols : 1);
        OUT(e,
            "    /* %s (%s:%d) folded into %s: per output channel j,\n"
            "       s = gamma / sqrt(var + eps), kernel *= s, bias = (bias - mean) * s + beta */\n",
            bn->name, e->file, src_line(bn), l->name);
        OUT(e, "    for (int j = 0; j < %lld; j++) {\n", (long long)cols);
        const char *g = wref(e, bn, "gamma"), *bt = wref(e, bn, "beta");
        OUT(e, "        float s = %s / sqrtf(%s[j] + %s);\n",
            strcmp(g, "NULL") ? arena_printf(a, "%s[j]", g) : "1.0f",
            wref(e, bn, "moving_variance"), fstr(a, bn->fv[1]));
        const char *b = wref(e, l, "bias");
        OUT(e, "        fold[%lld + j] = (%s - %s[j]) * s + %s;\n", (long long)op->fold_bias,
            strcmp(b, "NULL") ? arena_printf(a, "%s[j]", b) : "0.0f", wref(e, bn, "moving_mean"),
            strcmp(bt, "NULL") ? arena_printf(a, "%s[j]", bt) : "0.0f");
        OUT(e,
            "        for (int i = 0; i < %lld; i++)\n"
            "            fold[%lld + (size_t)i * %lld + j] = %s[(size_t)i * %lld + j] * s;\n    "
            "}\n",
            (long long)rows, (long long)op->fold_kernel, (long long)cols,
            wfield(e, l, pw ? "pointwise_kernel" : "kernel"), (long long)cols);
    }
    OUT(e, "}\n\n");

    // init
    OUT(e, "kdl_Status %s_init(%s *m, uint64_t seed) {\n    %s_Weights *w = m->w;\n    kdl_Rng r;\n"
           "    kdl_rng_seed(&r, seed);\n    (void)w;\n", P, P, e->stem);
    for (int i = 0; i < wl.len; i++) {
        Layer *l = wl.data[i];
        for (int k = 0; k < l->nweights; k++)
            emit_init_weight(e, l->weights[k], wfield(e, l, l->weights[k]->name), src_line(l));
    }
    OUT(e, "    %s_prepare(m);\n    return KDL_OK;\n}\n\n", P);

    // weight table for load/save
    OUT(e, "static int %s_specs(const %s *m, kdl_WeightSpec *specs) {\n    %s_Weights *w = m->w;\n"
           "    int n = 0;\n    (void)w;\n    (void)specs;\n", P, P, e->stem);
    for (int i = 0; i < wl.len; i++) {
        Layer *l = wl.data[i];
        for (int k = 0; k < l->nweights; k++) {
            Weight *w = l->weights[k];
            OUT(e, "    specs[n++] = (kdl_WeightSpec){%s, %d, {",
                c_string(a, arena_printf(a, "%s/%s", layer_path(l), w->name)), w->shape.rank);
            for (int d = 0; d < w->shape.rank; d++)
                OUT(e, "%s%lld", d ? ", " : "", (long long)w->shape.d[d]);
            OUT(e, "}, %s};\n", wfield(e, l, w->name));
        }
    }
    OUT(e, "    return n;\n}\n\n");
    OUT(e, "kdl_Status %s_load(%s *m, const char *path, char *err, size_t errlen) {\n"
           "    kdl_WeightSpec specs[%d + 1];\n    int n = %s_specs(m, specs);\n"
           "    kdl_Status st = kdl_safetensors_load(path, specs, n, err, errlen);\n"
           "    if (st == KDL_OK)\n        %s_prepare(m);\n    return st;\n}\n\n",
        P, P, nweights, P, P);
    OUT(e,
        "kdl_Status %s_save(const %s *m, const char *path, char *err, size_t errlen) {\n"
        "    kdl_WeightSpec specs[%d + 1];\n    int n = %s_specs(m, specs);\n"
        "    return kdl_safetensors_save(path, specs, n, \"\\\"format\\\":\\\"kdl\\\"\", err, "
        "errlen);\n}\n\n",
        P, P, nweights, P);

    // get_layer: model.layers in Keras's order, index wins over name (the seed)
    Vec *ls = &md->model->layers;
    HDR(e, "#define %s_NUM_LAYERS %d\n", UP, ls->len);
    HDR(e, "/* model.get_layer(name, index): index (negative counts from the end) wins unless it\n"
           "   is KDL_NO_INDEX; weights point into the model's weights. */\n");
    HDR(e, "kdl_Status %s_get_layer(%s *m, const char *name, int index, kdl_Layer *out);\n", P, P);
    OUT(e, "kdl_Status %s_get_layer(%s *m, const char *name, int index, kdl_Layer *out) {\n", P, P);
    OUT(e, "    static const char *const names[%d] = {", ls->len ? ls->len : 1);
    for (int i = 0; i < ls->len; i++)
        OUT(e, "%s%s", i ? ", " : "", c_string(a, ((Layer *)ls->data[i])->name));
    if (!ls->len)
        OUT(e, "NULL");
    OUT(e, "};\n    const int n = %d;\n    int i = -1;\n    %s_Weights *w = m->w;\n    (void)w;\n",
        ls->len, e->stem);
    OUT(e, "    if (index != KDL_NO_INDEX) {\n        i = index < 0 ? index + n : index;\n"
           "        if (i < 0 || i >= n)\n            return KDL_ERR_NOT_FOUND;\n"
           "    } else if (name) {\n        for (int k = 0; k < n && i < 0; k++)\n"
           "            if (names[k] && !strcmp(names[k], name))\n                i = k;\n"
           "        if (i < 0)\n            return KDL_ERR_NOT_FOUND;\n    } else {\n"
           "        return KDL_ERR_NOT_FOUND;\n    }\n    memset(out, 0, sizeof *out);\n"
           "    switch (i) {\n");
    for (int i = 0; i < ls->len; i++) {
        Layer *l = ls->data[i];
        Vec ws = {0};
        model_weights(e->c, l, &ws);
        int64_t total = 0, tr = 0;
        for (int k = 0; k < ws.len; k++) {
            int64_t n = numel0(&((Weight *)ws.data[k])->shape);
            total += n;
            if (weight_is_trainable(ws.data[k]))
                tr += n;
        }
        // A layer's weights (a wrapper's: its wrapped layers'), when they are
        // in the weights struct (nested models: counts only).
        int nw = l->model ? 0 : ws.len;
        for (int k = 0; k < nw; k++)
            if (wlayer_index(e, ((Weight *)ws.data[k])->owner) < 0)
                nw = 0;
        if (nw > 16)
            nw = 16;
        OUT(e,
            "    case %d:\n        *out = (kdl_Layer){.name = %s, .class_name = %s, .output_shape "
            "= %s,\n"
            "                           .params = %lld, .trainable_params = %lld, "
            ".non_trainable_params = %lld,\n                           .trainable = %d, "
            ".nweights = %d%s",
            i, c_string(a, l->name), c_string(a, l->class_name),
            c_string(a, format_layer_shape(a, l)), (long long)total, (long long)tr,
            (long long)(total - tr), l->trainable, nw,
            nw ? ", .weights = {" : "};\n        break;\n");
        if (!nw)
            continue;
        for (int k = 0; k < nw; k++) {
            Weight *wt = ws.data[k];
            OUT(e, "%s{%s, %d, {", k ? ", " : "",
                c_string(a, arena_printf(a, "%s/%s", layer_path(wt->owner), wt->name)),
                wt->shape.rank);
            for (int d = 0; d < wt->shape.rank; d++)
                OUT(e, "%s%lld", d ? ", " : "", (long long)wt->shape.d[d]);
            OUT(e, "}, %s}", wfield(e, wt->owner, wt->name));
        }
        OUT(e, "}};\n        break;\n");
    }
    OUT(e, "    default:\n        break;\n    }\n    return KDL_OK;\n}\n\n");

    emit_summary(e, md, P);

    // predict
    OUT(e, "kdl_Status %s_predict(%s *m, int batch%s, const void *const inputs[], "
           "float *const outputs[]) {\n", P, P, dyn ? ", const int dims[]" : "");
    OUT(e, "    if (batch < 1 || batch > m->max_batch)\n        return KDL_ERR_SHAPE;\n");
    if (m->carry_floats)
        OUT(e, "    if (batch != %lld)\n        return KDL_ERR_SHAPE; /* stateful RNNs: their "
               "states' batch */\n", (long long)m->carry_batch);
    if (dyn) {
        // Dims beyond those create planned for are an error, not an overflow.
        OUT(e, "    int64_t d[%d];\n    size_t size[%d];\n", m->dyn.len, m->plan.len + 1);
        OUT(e, "    if (%s_dims(dims, d, NULL, 0) != KDL_OK)\n        return KDL_ERR_SHAPE;\n",
            P);
        OUT(e, "    %s_sizes(d, size);\n    for (int i = 0; i < %d; i++)\n"
               "        if (size[i] > m->cap[i])\n            return KDL_ERR_SHAPE;\n", P,
            m->plan.len);
        OUT(e, "    if (%s_scratch_floats(batch, d) > m->scratch_floats)\n"
               "        return KDL_ERR_SHAPE;\n", P);
    }
    OUT(e,
        "    %s_Weights *w = m->w;\n    float *arena = m->arena;\n    float *scratch = "
        "m->scratch;\n"
        "    const float *fold = m->fold;\n",
        e->stem);
    if (m->carry_floats)
        OUT(e, "    float *carry = m->carry; /* stateful RNNs' states */\n");
    for (int i = 0; i < m->ninputs; i++)
        OUT(e, "    const %s *x%d = (const %s *)inputs[%d]; /* %s %s */\n    (void)x%d;\n",
            dtype_c(m->inputs[i]->dtype), i, dtype_c(m->inputs[i]->dtype), i, m->inputs[i]->what,
            shape_str(a, &m->inputs[i]->shape), i);
    OUT(e, "    (void)w;\n    (void)arena;\n    (void)scratch;\n    (void)fold;\n");
    for (int i = 0; i < m->ops.len; i++) {
        IrOp *op = m->ops.data[i];
        if (!op->dead)
            emit_op(e, op);
    }
    for (int i = 0; i < m->noutputs; i++)
        OUT(e,
            "    memcpy(outputs[%d], %s, sizeof(float) * (size_t)batch * %s); /* output %d %s "
            "*/\n",
            i, bref(e, m->outputs[i]), sizex(e, m->outputs[i]), i,
            shape_str(a, &m->outputs[i]->shape));
    OUT(e, "    return KDL_OK;\n}\n");
    e->dyn = false;
    if (t)
        emit_train(e, m, t);
}


// <stem>_main.c: the command-line program (runtime/program.c) over the
// file's models, through wrappers with the table's void * signatures.
static const char *program_main(Emit *e, Vec *irs, Vec *trains) {
    Arena *a = e->c->arena;
    Emit p = {.c = e->c, .stem = e->stem, .file = e->file, .ok = true};
    OUT(&p, "/* %s_main.c - generated by kdlc %s from %s: the model's command-line program. */\n"
            "#include \"%s.h\"\n\n", e->stem, KDLC_VERSION, e->file, e->stem);
    for (int i = 0; i < irs->len; i++) {
        IrModel *m = irs->data[i];
        const char *P = arena_printf(a, "%s_%s", e->stem, m->cname);
        bool dyn = m->dyn.len > 0;
        OUT(&p, "static void *%s_new(int b) { return %s_create(b%s); }\n", P, P,
            dyn ? ", NULL" : "");
        OUT(&p, "static void %s_free(void *m) { %s_destroy(m); }\n", P, P);
        OUT(&p, "static kdl_Status %s_init_(void *m, uint64_t s) { return %s_init(m, s); }\n", P,
            P);
        OUT(&p, "static kdl_Status %s_load_(void *m, const char *f, char *e, size_t n) "
                "{ return %s_load(m, f, e, n); }\n", P, P);
        OUT(&p, "static kdl_Status %s_save_(const void *m, const char *f, char *e, size_t n) "
                "{ return %s_save(m, f, e, n); }\n", P, P);
        if (dyn) {
            OUT(&p, "static void *%s_new_dims(int b, const int dims[]) { return %s_create(b, "
                    "dims); }\n", P, P);
            OUT(&p, "static kdl_Status %s_predict_(void *m, int b, const int dims[], const void "
                    "*const in[], float *const out[]) { return %s_predict(m, b, dims, in, out); "
                    "}\n", P, P);
        } else {
            OUT(&p, "static kdl_Status %s_predict_(void *m, int b, const void *const in[], "
                    "float *const out[]) { return %s_predict(m, b, in, out); }\n", P, P);
        }
        OUT(&p, "static kdl_Status %s_get_layer_(void *m, const char *name, int i, kdl_Layer *o) "
                "{ return %s_get_layer(m, name, i, o); }\n", P, P);
        OUT(&p, "static const int64_t %s_in_sizes[] = {", P);
        for (int k = 0; k < m->ninputs; k++)
            OUT(&p, "%s%lld", k ? ", " : "", (long long)m->inputs[k]->size);
        OUT(&p, "};\nstatic const int %s_in_ranks[] = {", P);
        for (int k = 0; k < m->ninputs; k++)
            OUT(&p, "%s%d", k ? ", " : "", m->inputs[k]->shape.rank);
        OUT(&p, "};\nstatic const int64_t %s_in_shapes[][8] = {", P);
        for (int k = 0; k < m->ninputs; k++) {
            OUT(&p, "%s{-1", k ? ", " : "");
            for (int d = 1; d < m->inputs[k]->shape.rank; d++)
                OUT(&p, ", %lld", (long long)m->inputs[k]->shape.d[d]);
            OUT(&p, "}");
        }
        OUT(&p, "};\nstatic const kdl_DType %s_in_dtypes[] = {", P);
        for (int k = 0; k < m->ninputs; k++)
            OUT(&p, "%s%s", k ? ", " : "",
                m->inputs[k]->dtype == DT_FLOAT32 ? "KDL_F32" : "KDL_I32");
        OUT(&p, "};\nstatic const int64_t %s_out_sizes[] = {", P);
        for (int k = 0; k < m->noutputs; k++)
            OUT(&p, "%s%lld", k ? ", " : "", (long long)m->outputs[k]->size);
        OUT(&p, "};\nstatic const int %s_out_ranks[] = {", P);
        for (int k = 0; k < m->noutputs; k++)
            OUT(&p, "%s%d", k ? ", " : "", m->outputs[k]->shape.rank);
        OUT(&p, "};\nstatic const int64_t %s_out_shapes[][8] = {", P);
        for (int k = 0; k < m->noutputs; k++) {
            OUT(&p, "%s{0", k ? ", " : "");
            for (int d = 1; d < m->outputs[k]->shape.rank; d++)
                OUT(&p, ", %lld", (long long)m->outputs[k]->shape.d[d]);
            OUT(&p, "}");
        }
        OUT(&p, "};\n\n");
        if (trains->data[i]) {
            OUT(&p, "static void *%s_new_training(int b) { return %s_create_training(b); }\n", P,
                P);
            OUT(&p, "static void %s_train_model_(void *m, kdl_TrainModel *o) "
                    "{ %s_train_model(m, o); }\n", P, P);
            OUT(&p, "static kdl_Status %s_load_checkpoint_(void *m, const char *f, int *ep, char "
                    "*e, size_t n) { return %s_load_checkpoint(m, f, ep, e, n); }\n\n", P, P);
        }
    }
    OUT(&p, "static const kdl_ProgramModel models[] = {\n");
    for (int i = 0; i < irs->len; i++) {
        IrModel *m = irs->data[i];
        bool dyn = m->dyn.len > 0;
        const char *P = arena_printf(a, "%s_%s", e->stem, m->cname);
        OUT(&p, "    {.name = %s, .keras_name = %s, .create = %s_new, .destroy = %s_free,\n"
                "     .init = %s_init_, .load = %s_load_, .save = %s_save_, .predict = %s,\n"
                "     .ninputs = %d, .noutputs = %d, .input_sizes = %s_in_sizes, "
                ".input_dtypes = %s_in_dtypes,\n"
                "     .output_sizes = %s_out_sizes, .output_ranks = %s_out_ranks, "
                ".output_shapes = %s_out_shapes,\n"
                "     .summary = %s_summary, .nlayers = %d, .get_layer = %s_get_layer_,\n"
                "     .input_ranks = %s_in_ranks, .input_shapes = %s_in_shapes",
            c_string(a, m->var), c_string(a, m->model->name), P, P, P, P, P,
            dyn ? "NULL" : arena_printf(a, "%s_predict_", P), m->ninputs, m->noutputs, P, P, P,
            P, P, P, m->model->model->layers.len, P, P, P);
        if (dyn)
            OUT(&p, ",\n     .ndims = %d, .create_dims = %s_new_dims, .predict_dims = %s_predict_, "
                    ".output_shape = %s_output_shape", m->ndims, P, P, P);
        if (trains->data[i]) {
            OUT(&p, ",\n     .create_training = %s_new_training, .train_model = %s_train_model_,"
                    "\n     .load_checkpoint = %s_load_checkpoint_, .fit_defaults = %s_fit_defaults",
                P, P, P, P);
            FitCfg *fc = m->model->model->fit;
            Value **fa = fc ? fc->args : NULL;
            OUT(&p, ",\n     .fit_epochs = %d, .fit_batch_size = %d, .fit_validation_split = %s, "
                    ".fit_shuffle = %d",
                fa && fa[3]->kind == V_INT ? (int)fa[3]->u.i : 0,
                fa && fa[2]->kind == V_INT ? (int)fa[2]->u.i : 0,
                fstr(a, fa && is_number(fa[6]) ? num_val(fa[6]) : 0.0),
                fa && fa[8]->kind == V_BOOL ? fa[8]->u.b : 1);
        } else {
            OUT(&p, ",\n     .fit_shuffle = 1");
        }
        if (m->carry_floats)
            OUT(&p, ",\n     .stateful_batch = %lld", (long long)m->carry_batch);
        OUT(&p, "},\n");
    }
    OUT(&p, "};\n\nint main(int argc, char **argv) {\n"
            "    return kdl_program_main(argc, argv, models, (int)(sizeof models / sizeof "
            "models[0]));\n}\n");
    return buf_str(a, &p.src);
}

static bool write_file(Ctx *c, const char *path, const char *text) {
    char *tmp = arena_printf(c->arena, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(c->err, "kdlc: error: cannot write '%s': %s\n", tmp, strerror(errno));
        return false;
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(c->err, "kdlc: error: cannot write '%s': %s\n", path, strerror(errno));
        remove(tmp);
        return false;
    }
    return true;
}

// The C stem of the outputs: the file name as an identifier. A stem that
// names a header the generated code includes (kdl.h, the C library's) would
// shadow it from the output directory: it gets "_model" appended.
static const char *file_stem(Arena *a, const char *path) {
    static const char *const headers[] = {
        "kdl", "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646",
        "limits", "locale", "math", "setjmp", "signal", "stdalign", "stdarg", "stdatomic",
        "stdbool", "stddef", "stdint", "stdio", "stdlib", "stdnoreturn", "string", "tgmath",
        "threads", "time", "uchar", "wchar", "wctype", "cblas", "openblas_config", NULL,
    };
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    const char *stem = c_ident(a, arena_strndup(a, base, n));
    for (int i = 0; headers[i]; i++)
        if (!strcmp(stem, headers[i]))
            return arena_printf(a, "%s_model", stem);
    return stem;
}

// The C names of a file's models: their variables, except that P_<suffix>
// of one model must not be another model's P (variables "model" and
// "model_weights": model_weights would be both a function of the first and
// the type of the second; also for the file's <stem>_Weights, and names
// equal but for case, whose macros are upper case). A variable that starts
// with another one plus '_' (ignoring case) gets a digit after that prefix
// ("model2_weights"), the first free one.
static bool cname_clash(const char *x, const char *y) {
    size_t i = 0;
    for (; y[i]; i++) {
        char cx = x[i] >= 'A' && x[i] <= 'Z' ? (char)(x[i] - 'A' + 'a') : x[i];
        char cy = y[i] >= 'A' && y[i] <= 'Z' ? (char)(y[i] - 'A' + 'a') : y[i];
        if (cx != cy)
            return false;
    }
    return x[i] == '\0' || x[i] == '_';
}

static const char *cname_taken(const char *name, const Vec *taken) {
    if (cname_clash(name, "Weights"))
        return "Weights";
    for (int i = 0; i < taken->len; i++)
        if (cname_clash(name, taken->data[i]) || cname_clash(taken->data[i], name))
            return taken->data[i];
    return NULL;
}

static const char *model_cname(Arena *a, const char *var, Vec *taken) {
    const char *name = var, *clash = cname_taken(var, taken);
    // The digit goes after the clashing prefix (or after the whole name
    // when the other name is the longer one).
    size_t n = clash ? strlen(clash) : 0, len = strlen(var);
    if (n > len)
        n = len;
    for (int k = 2; clash && k < 100000; k++) {
        name = arena_printf(a, "%.*s%d%s", (int)n, var, k, var + n);
        clash = cname_taken(name, taken);
    }
    vec_push(a, taken, (void *)name);
    return name;
}

bool emit_c(Ctx *c, const char *kdl_path, const EmitOpts *o) {
    Arena *a = c->arena;
    Emit e = {.c = c, .ok = true};
    e.stem = file_stem(a, kdl_path);
    const char *slash = strrchr(kdl_path, '/');
    e.file = cmt(&e, slash ? slash + 1 : kdl_path);   // named in comments
    Vec names = {0}, models = {0};
    top_level_models(c, &names, &models);
    if (models.len == 0) {
        fprintf(c->err, "kdlc: error: %s binds no model to a top-level name; nothing to emit\n",
                kdl_path);
        return false;
    }
    Vec irs = {0}, trains = {0}, cnames = {0};
    for (int i = 0; i < models.len; i++) {
        Layer *md = models.data[i];
        if (!model_is_built(md)) {
            error_at(c, md->span, "model '%s' is not built, so it has no shapes to compile; build "
                     "it (model.build(shape) or call it on a keras.Input) first", md->name);
            e.ok = false;
            continue;
        }
        IrModel *m = lower_model(c, md, model_cname(a, c_ident(a, names.data[i]), &cnames),
                                 false, false);
        if (!m) {
            e.ok = false;
            continue;
        }
        m->var = names.data[i];
        if (!o->no_fuse)
            ir_fuse(m);
        ir_plan(c, m);
        vec_push(a, &irs, m);
        for (int k = 0; k < m->ops.len; k++)
            add_wlayer(&e, ((IrOp *)m->ops.data[k])->layer);
        // The training lowering (planned by emit_train, which knows the loss).
        IrModel *t = NULL;
        if (md->model->compile || o->train) {
            t = lower_model(c, md, m->cname, true, true);
            if (t)
                t->var = m->var;
            if (!t)
                e.ok = false;
            for (int k = 0; t && k < t->ops.len; k++)
                add_wlayer(&e, ((IrOp *)t->ops.data[k])->layer);
        }
        vec_push(a, &trains, t);
    }
    if (!e.ok)
        return false;
    char *guard = arena_printf(a, "%s_H", e.stem);
    for (char *p = guard; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    HDR(&e, "/* %s.h - generated by kdlc %s from %s. Do not edit. */\n", e.stem, KDLC_VERSION,
        e.file);
    HDR(&e,
        "#ifndef %s\n#define %s\n\n#include <kdl.h>\n#include <stddef.h>\n#include <stdint.h>\n\n",
        guard, guard);
    HDR(&e, "/* Every weight of every model in %s; models that share layers share fields. */\n",
        e.file);
    HDR(&e, "typedef struct %s_Weights {\n", e.stem);
    int64_t wfloats = 0;
    for (int i = 0; i < e.wlayers.len; i++) {
        Layer *l = e.wlayers.data[i];
        for (int k = 0; k < l->nweights; k++) {
            Weight *w = l->weights[k];
            int64_t n = numel0(&w->shape);
            wfloats += n;
            HDR(&e, "    float %s_%s[%lld]; /* %s %s, %s:%d */\n",
                (const char *)e.wprefix.data[i], c_ident(a, w->name), (long long)(n ? n : 1),
                cmt(&e, arena_printf(a, "%s/%s", layer_path(l), w->name)),
                shape_pystr(a, &w->shape),
                e.file, src_line(l));
        }
    }
    if (wfloats == 0)
        HDR(&e, "    float unused; /* the file's models have no weights */\n");
    HDR(&e, "} %s_Weights;\n", e.stem);
    char *up = arena_strdup(a, e.stem);
    for (char *p = up; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    HDR(&e, "#define %s_WEIGHTS_FLOATS %lld /* %lld bytes */\n", up, (long long)wfloats,
        (long long)wfloats * 4);
    OUT(&e, "/* %s.c - generated by kdlc %s from %s. Do not edit. */\n#include \"%s.h\"\n\n"
            "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n", e.stem, KDLC_VERSION,
        e.file, e.stem);
    for (int i = 0; i < irs.len; i++)
        emit_model(&e, irs.data[i], trains.data[i]);
    HDR(&e, "\n#endif\n");
    if (!e.ok)
        return false;
    if (o->stats) {
        printf("weights: %lld floats (%lld bytes)\n", (long long)wfloats, (long long)wfloats * 4);
        for (int i = 0; i < irs.len; i++) {
            IrModel *m = irs.data[i];
            int live = 0;
            for (int k = 0; k < m->ops.len; k++)
                live += !((IrOp *)m->ops.data[k])->dead;
            printf("model %s (%s): %d ops, activation arena %lld floats (%lld bytes) per sample\n",
                   m->var ? m->var : m->cname, m->model->name, live, (long long)m->arena_floats,
                   (long long)m->arena_floats * 4);
            if (trains.data[i])
                emit_train_stats(&e, trains.data[i]);
        }
    }
    if (!o->outdir)
        return true;        // a dry run (tests/tools/prefix_check): generate, write nothing
    // mkdir -p: every missing directory of the path.
    char *dir = arena_strdup(a, o->outdir);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0777);
            *p = '/';
        }
    mkdir(dir, 0777);
    const char *hpath = arena_printf(a, "%s/%s.h", o->outdir, e.stem);
    const char *cpath = arena_printf(a, "%s/%s.c", o->outdir, e.stem);
    if (!write_file(c, hpath, buf_str(a, &e.h)) || !write_file(c, cpath, buf_str(a, &e.src)))
        return false;
    if (o->program) {
        const char *mpath = arena_printf(a, "%s/%s_main.c", o->outdir, e.stem);
        if (!write_file(c, mpath, program_main(&e, &irs, &trains)))
            return false;
    }
    c->emitted_stem = e.stem;
    return true;
}
