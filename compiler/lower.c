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
    vec_push(c->arena, &m->bufs, b);
    return b;
}

// The buffer holding a tensor, by the tensor map of the graph being lowered.
typedef struct TMap {
    Vec from, to;   // Tensor* -> IrBuf*
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

static bool shape_known(const Shape *s) {
    for (int i = 1; i < s->rank; i++)
        if (s->d[i] == DIM_NONE)
            return false;
    return true;
}

static bool lower_graph(Ctx *c, IrModel *m, Graph *g, TMap *t, int depth);

// The graph a model runs: the training=True trace when lowering for training.
static Graph *model_graph(const IrModel *m, const Layer *model) {
    Graph *g = m->training ? model->model->train_graph : NULL;
    return g ? g : model->model->graph;
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
    for (int i = 0; i < n->nout; i++) {
        if (!shape_known(&n->out[i]->shape)) {
            error_at(c, n->span, "%s: output shape %s has a None dimension; the code generator "
                     "needs every non-batch dimension known (declare it in keras.Input)",
                     layer_label(c, l), shape_pystr(c->arena, &n->out[i]->shape));
            return false;
        }
    }
    if (l->model) {
        // Inline the nested model: its inputs are our input buffers.
        Graph *g = model_graph(m, l);
        if (!g || g->ninputs != n->nin) {
            error_at(c, n->span, "%s: cannot inline this nested model", layer_label(c, l));
            return false;
        }
        TMap inner = {0};
        for (int i = 0; i < g->ninputs; i++) {
            if (!shape_eq(&g->inputs[i]->shape, &n->in[i]->shape) &&
                g->inputs[i]->shape.rank == n->in[i]->shape.rank) {
                bool ok = true;
                for (int k = 1; k < g->inputs[i]->shape.rank; k++)
                    if (g->inputs[i]->shape.d[k] != n->in[i]->shape.d[k])
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
        }
        if (depth > 16 || !lower_graph(c, m, g, &inner, depth + 1))
            return false;
        for (int i = 0; i < n->nout && i < g->noutputs; i++)
            tmap_put(c, t, n->out[i], tmap_get(&inner, g->outputs[i]));
        return true;
    }
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
    op->training = n->training >= 0 ? n->training == 1 : m->training;
    for (int i = 0; i < n->nout; i++) {
        op->out[i] = buf_new(c, m, &n->out[i]->shape, n->out[i]->dtype, l->name);
        tmap_put(c, t, n->out[i], op->out[i]);
    }
    if (!strcmp(l->class_name, "SeparableConv2D")) {
        // The depthwise half writes (batch, oh, ow, C * depth_multiplier).
        Shape ts = n->out[0]->shape;
        ts.d[ts.rank - 1] = n->in[0]->shape.d[n->in[0]->shape.rank - 1] * l->iv[CV_DM];
        op->tmp = buf_new(c, m, &ts, DT_FLOAT32, l->name);
    }
    vec_push(c->arena, &m->ops, op);
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

IrModel *lower_model(Ctx *c, Layer *model, const char *cname, bool training) {
    IrModel *m = arena_alloc(c->arena, sizeof *m);
    m->model = model;
    m->cname = cname;
    m->training = training;
    Graph *g = model_graph(m, model);
    TMap t = {0};
    m->ninputs = g->ninputs;
    m->inputs = arena_alloc(c->arena, sizeof(IrBuf *) * (size_t)(g->ninputs + 1));
    for (int i = 0; i < g->ninputs; i++) {
        Tensor *x = g->inputs[i];
        if (!shape_known(&x->shape)) {
            error_at(c, model->span, "model %s: input %d has shape %s; the code generator needs "
                     "every non-batch dimension known", model->name, i,
                     shape_pystr(c->arena, &x->shape));
            return NULL;
        }
        IrBuf *b = buf_new(c, m, &x->shape, x->dtype, x->name);
        b->input = i;
        m->inputs[i] = b;
        tmap_put(c, &t, x, b);
    }
    if (!lower_graph(c, m, g, &t, 0))
        return NULL;
    m->noutputs = g->noutputs;
    m->outputs = arena_alloc(c->arena, sizeof(IrBuf *) * (size_t)(g->noutputs + 1));
    for (int i = 0; i < g->noutputs; i++) {
        m->outputs[i] = tmap_get(&t, g->outputs[i]);
        if (!m->outputs[i])
            die("lower: output %d has no buffer", i);
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
    if (!strcmp(k, "LeakyReLU")) {
        *act = ACT_LEAKY_RELU;
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
        return axis == -1 || axis == op->in[0]->shape.rank - 1;
    }
    return false;
}

static bool has_epilogue(const IrOp *op) {
    const char *k = class_of(op);
    return !strcmp(k, "Dense") || !strcmp(k, "Conv1D") || !strcmp(k, "Conv2D") ||
           !strcmp(k, "DepthwiseConv2D") || !strcmp(k, "SeparableConv2D") ||
           !strcmp(k, "Conv2DTranspose");
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
        if (!strcmp(k, "Dropout") || !strcmp(k, "Flatten") || !strcmp(k, "Reshape") ||
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

// First fit in definition order: each buffer of `order` (sorted by def;
// duplicates are placed once) takes the lowest offset that does not overlap
// a placed buffer whose live range [def, last] intersects its own. Returns
// the peak, in floats per sample.
static int64_t first_fit(Ctx *c, Vec *order) {
    Vec placed = {0};
    int64_t peak = 0;
    for (int i = 0; i < order->len; i++) {
        IrBuf *b = order->data[i];
        if (b->offset >= 0)
            continue;
        int64_t off = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int j = 0; j < placed.len; j++) {
                IrBuf *o = placed.data[j];
                bool live = !(o->last < b->def || b->last < o->def);
                bool overlap = off < o->offset + o->size && o->offset < off + b->size;
                if (live && overlap) {
                    off = o->offset + o->size;
                    moved = true;
                }
            }
        }
        b->offset = off;
        if (off + b->size > peak)
            peak = off + b->size;
        vec_push(c->arena, &placed, b);
    }
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
        if (op->tmp)
            op->tmp->def = op->tmp->last = i;
    }
    for (int i = 0; i < m->noutputs; i++)
        root(m->outputs[i])->last = nops;
    Vec order = {0};
    for (int i = 0; i < nops; i++) {
        IrOp *op = m->ops.data[i];
        if (op->dead)
            continue;
        for (int k = 0; k <= op->nout; k++) {
            IrBuf *b = k < op->nout ? root(op->out[k]) : op->tmp;
            if (b && b->input < 0)
                vec_push(c->arena, &order, b);
        }
    }
    m->arena_floats = first_fit(c, &order);
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
            (!strcmp(k, "Dropout") && (!op->training || op->layer->fv[0] == 0)) ||
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
        if (!strcmp(k, "Dropout"))
            op->mask = buf_new(c, m, &op->out[0]->shape, DT_FLOAT32, op->layer->name);
        if (has_epilogue(op) && !act_grad_from_output(op->act, op_default_alpha(op)))
            op->pre = buf_new(c, m, &op->out[0]->shape, DT_FLOAT32, op->layer->name);
        if (!strcmp(k, "BatchNormalization")) {
            // Keras runs a frozen BatchNormalization in inference mode.
            op->training = op->training && op->layer->trainable;
            if (op->training) {
                op->state_off = m->state_floats;
                m->state_floats += 2 * op->in[0]->shape.d[op->in[0]->shape.rank - 1];
            }
        }
        if (!strcmp(k, "SimpleRNN") || !strcmp(k, "LSTM") || !strcmp(k, "GRU"))
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
    }
    for (int i = 0; i < m->noutputs; i++) {
        IrBuf *r = root(m->outputs[i]);
        live_until(r, loss_step);
        if (r->grad)
            live_until(r->grad, loss_step);
    }
    // Place everything that lives in the arena, in order of definition.
    Vec order = {0};
    for (int step = 0; step < m->nsteps; step++)
        for (int i = 0; i < m->bufs.len; i++) {
            IrBuf *b = m->bufs.data[i];
            if (b->def == step && b->input < 0 && !b->alias && b->last >= 0)
                vec_push(c->arena, &order, b);
        }
    m->arena_floats = first_fit(c, &order);
}
