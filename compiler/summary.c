/*
 * summary.c - model.summary(): the rows Keras shows for a model, handed to
 * the runtime's renderer (runtime/summary.c, kdl_summary), which prints
 * them byte for byte as Keras 3 does. The same rows are emitted into
 * generated code (emit_c.c), so a program prints the same text at run time.
 *
 * What is decided here, from the layer graph: the rows and their order
 * (Sequential drops its InputLayer, a Functional lists its graph's
 * operations, nested models' layers follow their model for
 * expand_nested), the output shape text (Keras format_layer_shape), the
 * parameter counts and trainable flags, whether a Functional model is
 * "sequential-like" (no Connected to column) and that column's text.
 *
 * Requires: built layers/models from eval.c and model.c (nodes, graph,
 * weights). Provides: summary_model(), summary_render(),
 * format_layer_shape().
 */
#include "kdlc.h"

#include <string.h>

// Unique weights (by identity) of a layer and everything it holds, with
// whether each one counts as trainable. Keras: a model that is not
// trainable has no trainable weights; otherwise a variable is trainable if
// it was created so (BatchNormalization moving stats are not) and its layer
// is trainable (Keras flips variable.trainable when a layer is frozen, and
// the setter also freezes sublayers: model.c's layer_set_trainable).
typedef struct WeightSet {
    Weight **w;
    bool *trainable;
    int len, cap;
} WeightSet;

static void weightset_add(Arena *a, WeightSet *ws, Weight *w, bool trainable) {
    for (int i = 0; i < ws->len; i++)
        if (ws->w[i] == w)
            return;
    if (ws->len == ws->cap) {
        int cap = ws->cap ? ws->cap * 2 : 16;
        Weight **nw = arena_alloc(a, sizeof *nw * (size_t)cap);
        bool *nt = arena_alloc(a, sizeof *nt * (size_t)cap);
        if (ws->len) {
            memcpy(nw, ws->w, sizeof *nw * (size_t)ws->len);
            memcpy(nt, ws->trainable, sizeof *nt * (size_t)ws->len);
        }
        ws->w = nw;
        ws->trainable = nt;
        ws->cap = cap;
    }
    ws->w[ws->len] = w;
    ws->trainable[ws->len++] = trainable;
}

static void collect_weights(Arena *a, const Layer *l, bool on, WeightSet *ws, int depth) {
    if (depth > 64)
        die("layer nesting deeper than 64 (cycle?) at %s", l->name);
    for (int i = 0; i < l->nweights; i++)
        weightset_add(a, ws, l->weights[i], on && l->trainable && l->weights[i]->trainable);
    const Vec *subs = l->model ? &l->model->layers : &l->tracked;
    for (int i = 0; i < subs->len; i++)
        collect_weights(a, subs->data[i], on, ws, depth + 1);
}

static int64_t weight_numel(const Weight *w) {
    int64_t n = shape_numel(&w->shape, 0);
    return n > 0 ? n : 0;
}

static bool layer_is_input(const Layer *l) {
    return l->cls && (l->cls->flags & LC_INPUT);
}

static bool layer_is_built(const Layer *l) {
    // An InputLayer is built from the start (Keras sets it in __init__).
    return l->model ? model_is_built(l) : l->built || layer_is_input(l);
}

//
// Output shapes (Keras format_layer_shape).
//

static int count_leaves(const Value *v) {
    if (!v)
        return 0;
    switch (v->kind) {
    case V_LIST:
    case V_TUPLE: {
        int n = 0;
        for (int i = 0; i < v->u.list->items.len; i++)
            n += count_leaves(v->u.list->items.data[i]);
        return n;
    }
    case V_DICT: {
        int n = 0;
        for (int i = 0; i < v->u.dict->vals.len; i++)
            n += count_leaves(v->u.dict->vals.data[i]);
        return n;
    }
    default:
        return 1;
    }
}

// A leaf's shape: a tensor's own, else the k-th of the recorded shapes.
static const char *leaf_shape(Arena *a, const Value *v, const Shape *shapes, int nshapes,
                              int k) {
    if (v && v->kind == V_TENSOR)
        return shape_str(a, &v->u.tensor->shape);
    return k < nshapes ? shape_str(a, &shapes[k]) : "?";
}

// str() of the output structure with each leaf replaced by its shape string.
// The quotes Python would print are removed afterwards (as Keras does).
static void put_struct(Arena *a, Buf *b, const Value *v, const Shape *shapes, int nshapes,
                       int *k) {
    switch (v->kind) {
    case V_LIST:
    case V_TUPLE: {
        const Vec *items = &v->u.list->items;
        buf_putc(a, b, v->kind == V_LIST ? '[' : '(');
        for (int i = 0; i < items->len; i++) {
            if (i)
                buf_puts(a, b, ", ");
            put_struct(a, b, items->data[i], shapes, nshapes, k);
        }
        if (v->kind == V_TUPLE && items->len == 1)
            buf_putc(a, b, ',');
        buf_putc(a, b, v->kind == V_LIST ? ']' : ')');
        return;
    }
    case V_DICT: {
        const Dict *d = v->u.dict;
        buf_putc(a, b, '{');
        for (int i = 0; i < d->keys.len; i++) {
            const Value *key = d->keys.data[i];
            if (i)
                buf_puts(a, b, ", ");
            if (key->kind == V_STR)
                buf_puts(a, b, py_repr_str(a, key->u.str.s));
            else if (key->kind == V_INT)
                buf_printf(a, b, "%lld", (long long)key->u.i);
            else
                buf_putc(a, b, '?');
            buf_puts(a, b, ": ");
            put_struct(a, b, d->vals.data[i], shapes, nshapes, k);
        }
        buf_putc(a, b, '}');
        return;
    }
    default:
        buf_puts(a, b, leaf_shape(a, v, shapes, nshapes, (*k)++));
        return;
    }
}

static const Value *first_leaf(const Value *v) {
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        for (int i = 0; i < v->u.list->items.len; i++)
            if (count_leaves(v->u.list->items.data[i]))
                return first_leaf(v->u.list->items.data[i]);
    } else if (v->kind == V_DICT) {
        for (int i = 0; i < v->u.dict->vals.len; i++)
            if (count_leaves(v->u.dict->vals.data[i]))
                return first_leaf(v->u.dict->vals.data[i]);
    }
    return v;
}

// One output: its shape; several: Python's str() of the structure (a flat
// list when there is no structure) with the quotes removed.
static const char *format_outputs(Arena *a, const Value *st, const Shape *shapes, int n) {
    bool container = st && (st->kind == V_LIST || st->kind == V_TUPLE || st->kind == V_DICT);
    if (container && count_leaves(st) == 1)
        return leaf_shape(a, first_leaf(st), shapes, n, 0);
    if (st && !container)
        return leaf_shape(a, st, shapes, n, 0);
    if (!st && n == 1)
        return shape_str(a, &shapes[0]);
    Buf b = {0};
    if (container) {
        int k = 0;
        put_struct(a, &b, st, shapes, n, &k);
    } else {
        buf_putc(a, &b, '[');
        for (int i = 0; i < n; i++)
            buf_printf(a, &b, "%s%s", i ? ", " : "", shape_str(a, &shapes[i]));
        buf_putc(a, &b, ']');
    }
    Buf out = {0};
    for (const char *p = buf_str(a, &b); *p; p++)
        if (*p != '\'')
            buf_putc(a, &out, *p);
    return buf_str(a, &out);
}

// The last symbolic call wins (a shared layer shows its latest output).
// Keras's Node keeps its outputs flattened, so several outputs of a call
// always print as a list, dicts included. A layer only called inside a
// subclass trace shows its recorded output with its structure (Keras uses
// compute_output_shape there, which keeps tuples and dicts).
const char *format_layer_shape(Arena *a, const Layer *l) {
    if (l->nodes.len > 0) {
        const CallNode *n = l->nodes.data[l->nodes.len - 1];
        Shape *shapes = arena_alloc(a, sizeof *shapes * (size_t)(n->nout + 1));
        for (int i = 0; i < n->nout; i++)
            shapes[i] = n->out[i]->shape;
        return format_outputs(a, NULL, shapes, n->nout);
    }
    if (layer_is_built(l) && (l->nlast_out > 0 || l->last_out_struct))
        return format_outputs(a, l->last_out_struct, l->last_out, l->nlast_out);
    return "?";
}

//
// Layout of a Functional model (Keras map_graph + the print_summary test).
// It is sequential-like unless some depth holds two nodes (two inputs count),
// a node takes several tensors, or a layer is called twice in the graph.
//

typedef struct PtrMap {
    const void **keys;
    int *vals;
    int len, cap;
} PtrMap;

static int *pm_get(const PtrMap *m, const void *k) {
    for (int i = 0; i < m->len; i++)
        if (m->keys[i] == k)
            return &m->vals[i];
    return NULL;
}

static void pm_set(Arena *a, PtrMap *m, const void *k, int v) {
    int *slot = pm_get(m, k);
    if (slot) {
        *slot = v;
        return;
    }
    if (m->len == m->cap) {
        int cap = m->cap ? m->cap * 2 : 32;
        const void **keys = arena_alloc(a, sizeof *keys * (size_t)cap);
        int *vals = arena_alloc(a, sizeof *vals * (size_t)cap);
        if (m->len) {
            memcpy(keys, m->keys, sizeof *keys * (size_t)m->len);
            memcpy(vals, m->vals, sizeof *vals * (size_t)m->len);
        }
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    m->keys[m->len] = k;
    m->vals[m->len++] = v;
}

static int pm_get_or(const PtrMap *m, const void *k, int dflt) {
    int *slot = pm_get(m, k);
    return slot ? *slot : dflt;
}

static bool is_graph_input(const Graph *g, const Tensor *t) {
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] == t)
            return true;
    return false;
}

// Keras _build_map_helper: depth-first from an output, nodes appended in
// post-order (state: 1 in progress, 2 finished). The walk stops at the
// model's inputs.
static void build_map(Arena *a, const Graph *g, const Tensor *t, PtrMap *state, Vec *order) {
    CallNode *n = t->node;
    if (!n || pm_get(state, n))
        return;
    pm_set(a, state, n, 1);
    if (n->nin > 0 && !is_graph_input(g, t))
        for (int i = 0; i < n->nin; i++)
            build_map(a, g, n->in[i], state, order);
    pm_set(a, state, n, 2);
    vec_push(a, order, n);
}

// Node depths as Keras computes them: outputs 0, a parent at least one more
// than its child, and a layer's later nodes at least as deep as its earlier
// ones. Fills `depth` (node -> depth) and says whether the layout is
// sequential-like.
static bool functional_sequential_like(Arena *a, const Model *m, PtrMap *depth) {
    const Graph *g = m->graph;
    PtrMap state = {0}, op_depth = {0};
    Vec order = {0};
    for (int i = 0; i < g->noutputs; i++)
        build_map(a, g, g->outputs[i], &state, &order);
    for (int i = order.len - 1; i >= 0; i--) {
        const CallNode *n = order.data[i];
        int d = pm_get_or(depth, n, 0);
        int prev = pm_get_or(&op_depth, n->layer, 0);
        if (prev > d)
            d = prev;
        pm_set(a, &op_depth, n->layer, d);
        pm_set(a, depth, n, d);
        for (int j = 0; j < n->nin; j++) {
            const CallNode *p = n->in[j]->node;
            if (!p)
                continue;
            int pd = pm_get_or(depth, p, 0);
            pm_set(a, depth, p, d + 1 > pd ? d + 1 : pd);
        }
    }
    // Inputs the outputs do not use sit at depth 0.
    for (int i = 0; i < g->ninputs; i++) {
        const CallNode *n = g->inputs[i]->node;
        if (n && !pm_get(&op_depth, n->layer)) {
            pm_set(a, &op_depth, n->layer, 0);
            pm_set(a, depth, n, 0);
        }
    }
    int maxd = 0;
    for (int i = 0; i < depth->len; i++)
        if (depth->vals[i] > maxd)
            maxd = depth->vals[i];
    int *count = arena_alloc(a, sizeof(int) * (size_t)(maxd + 1));
    for (int i = 0; i < depth->len; i++) {
        const CallNode *n = depth->keys[i];
        if (++count[depth->vals[i]] > 1 || n->nin > 1)
            return false;
    }
    // Shared layers: two of a layer's nodes inside this graph.
    for (int i = 0; i < g->nops; i++) {
        const Layer *l = g->ops[i];
        int inside = 0;
        for (int j = 0; j < l->nodes.len; j++)
            inside += pm_get(depth, l->nodes.data[j]) != NULL;
        if (inside > 1)
            return false;
    }
    return true;
}

//
// The rows.
//

typedef struct Table {
    Ctx *c;
    const Model *top;
    bool sequential_like;
    PtrMap depth;       // nodes of the top model's graph (Functional only)
    Vec rows;           // kdl_SummaryRow *
} Table;

static bool node_in_model(const Table *t, const CallNode *n) {
    if (pm_get(&t->depth, n))
        return true;
    const Graph *g = t->top->graph;
    for (int i = 0; g && i < g->nnodes; i++)
        if (g->nodes[i] == n)
            return true;
    return false;
}

// "conv2d[0][0], max_pooling2d[0][0]": the inputs of every call of the
// layer that belongs to the summarized model; "-" for none.
static const char *connections(const Table *t, const Layer *l) {
    Arena *a = t->c->arena;
    Buf b = {0};
    for (int i = 0; i < l->nodes.len; i++) {
        const CallNode *n = l->nodes.data[i];
        if (!node_in_model(t, n))
            continue;
        for (int j = 0; j < n->nin; j++) {
            const Tensor *x = n->in[j];
            if (!x->node)
                continue;
            buf_printf(a, &b, "%s%s[%d][%d]", b.len ? ", " : "", x->node->layer->name,
                       x->node->node_index, x->index);
        }
    }
    return b.len ? buf_str(a, &b) : "-";
}

// A layer's row, then (depth + 1) the rows of the layers of a nested model.
static void add_row(Table *t, const Layer *l, int depth) {
    Arena *a = t->c->arena;
    if (depth > 64)
        die("model nesting deeper than 64 (cycle?) at %s", l->name);
    kdl_SummaryRow *r = arena_alloc(a, sizeof *r);
    r->name = l->name;
    r->class_name = l->class_name;
    r->output_shape = format_layer_shape(a, l);
    WeightSet ws = {0};
    collect_weights(a, l, true, &ws, 0);
    int64_t count = 0;
    for (int i = 0; i < ws.len; i++)
        count += weight_numel(ws.w[i]);
    r->params = layer_is_built(l) ? count : -1;
    r->connected_to = t->sequential_like ? NULL : connections(t, l);
    r->trainable = ws.len == 0 ? '-' : l->trainable ? 'Y' : 'N';
    r->depth = depth;
    vec_push(a, &t->rows, r);
    // A keras.layers.Layer subclass has no `.layers`, so Keras never expands it.
    if (l->model && !l->model->custom_layer) {
        const Vec *subs = &l->model->layers;
        bool seq = l->model->kind == MODEL_SEQUENTIAL;
        for (int i = 0; i < subs->len; i++)
            if (!(seq && layer_is_input(subs->data[i])))
                add_row(t, subs->data[i], depth + 1);
    }
}

void summary_model(Ctx *c, Layer *model, kdl_SummaryModel *out) {
    Arena *a = c->arena;
    Model *m = model->model;
    if (!m)
        die("summary_model on %s, which is not a model", model->name);

    // Rows: Sequential.layers drops the InputLayer; a Functional lists its
    // graph's operations (InputLayers included); a subclass its sublayers.
    Table t = {.c = c, .top = m, .sequential_like = true};
    Vec top = {0};
    if (m->kind == MODEL_FUNCTIONAL && m->graph) {
        for (int i = 0; i < m->graph->nops; i++)
            vec_push(a, &top, m->graph->ops[i]);
        t.sequential_like = functional_sequential_like(a, m, &t.depth);
    } else {
        for (int i = 0; i < m->layers.len; i++)
            if (!(m->kind == MODEL_SEQUENTIAL && layer_is_input(m->layers.data[i])))
                vec_push(a, &top, m->layers.data[i]);
    }
    for (int i = 0; i < top.len; i++)
        add_row(&t, top.data[i], 0);
    kdl_SummaryRow *rows = arena_alloc(a, sizeof *rows * (size_t)(t.rows.len + 1));
    for (int i = 0; i < t.rows.len; i++)
        rows[i] = *(kdl_SummaryRow *)t.rows.data[i];

    // Footer counts: unique weights of the whole model.
    WeightSet ws = {0};
    collect_weights(a, model, model->trainable, &ws, 0);
    int64_t trainable = 0, frozen = 0;
    for (int i = 0; i < ws.len; i++) {
        if (ws.trainable[i])
            trainable += weight_numel(ws.w[i]);
        else
            frozen += weight_numel(ws.w[i]);
    }
    *out = (kdl_SummaryModel){.name = model->name, .connected = !t.sequential_like,
                              .rows = rows, .nrows = t.rows.len, .trainable_params = trainable,
                              .non_trainable_params = frozen};
    // Once the optimizer is built (after fit), Keras counts its variables too.
    out->optimizer_built = model_optimizer_params(c, model, &out->optimizer_params,
                                                  &out->optimizer_bytes);
}

// kdl_summary's print_fn: the text, copied into the arena.
typedef struct Kept {
    Arena *a;
    const char *text;
} Kept;

static void keep_text(const char *text, void *user) {
    Kept *k = user;
    k->text = arena_strdup(k->a, text);
}

const char *summary_render(Ctx *c, Layer *model, const SummaryOpts *o, const char **err) {
    Arena *a = c->arena;
    *err = NULL;
    if (!model_is_built(model)) {
        *err = "This model has not yet been built. Build the model first by calling `build()` "
               "or by calling the model on a batch of data.";
        return NULL;
    }
    kdl_SummaryModel m;
    summary_model(c, model, &m);
    // Room for Keras's messages, which quote the layer_range patterns.
    size_t errlen = 512;
    for (int k = 0; k < 2; k++)
        errlen += o->layer_range[k] ? 4 * strlen(o->layer_range[k]) : 0;
    errlen += o->layer_range_text ? strlen(o->layer_range_text) : 0;
    char *msg = arena_alloc(a, errlen);
    Kept kept = {a, NULL};
    kdl_Status st = kdl_summary(&m, o, keep_text, &kept, msg, errlen);
    if (st != KDL_OK) {
        if (st == KDL_ERR_NOMEM)
            die("out of memory");
        *err = msg;
        return NULL;
    }
    return kept.text;
}
