/*
 * model.c - models as views over the layer graph.
 *
 * Functional: keras.Model(inputs, outputs) walks back from the outputs to
 * the inputs (Keras's map_graph: DFS order, node depths, operations sorted
 * by depth then traversal index, so the summary rows and model.layers come
 * out in Keras's order). Intermediate tensors used as inputs are cloned into
 * new InputLayers named "<tensor>CLONE", and the nodes between are cloned as
 * Keras does, so layers and weights stay shared with the bigger model.
 *
 * Sequential: a list of layers; when it starts with an InputLayer it is
 * (re)built after every add() by calling each layer in turn, as Keras does
 * (each build also takes a `functional` auto name, as Keras's internal
 * Functional does).
 *
 * Subclassed: __init__ runs with self bound to a fresh model layer; layers
 * assigned to self are tracked in assignment order. Building (model.build or
 * a first call on a tensor) traces call() symbolically twice, with
 * training=False and training=True; each trace is a Graph of traced nodes.
 *
 * Provides: Graph for every built model, model->layers, get_layer.
 */
#include "kdlc.h"

#include <stdlib.h>
#include <string.h>

// ---- structures of tensors ----------------------------------------------------

// The values of a dict in sorted key order: Keras flattens structures with
// optree/dm-tree, which visit dict entries sorted by key.
static int *dict_sorted_index(Ctx *c, Dict *d) {
    int n = d->keys.len;
    int *idx = arena_alloc(c->arena, sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            Value *a = d->keys.data[idx[j - 1]], *b = d->keys.data[idx[j]];
            bool gt = a->kind == V_STR && b->kind == V_STR ? strcmp(a->u.str.s, b->u.str.s) > 0
                      : is_number(a) && is_number(b)       ? num_val(a) > num_val(b)
                                                           : false;
            if (!gt)
                break;
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return idx;
}

Vec *dict_sorted_values(Ctx *c, Dict *d) {
    int *idx = dict_sorted_index(c, d);
    Vec *out = arena_alloc(c->arena, sizeof *out);
    for (int i = 0; i < d->keys.len; i++)
        vec_push(c->arena, out, d->vals.data[idx[i]]);
    return out;
}

// Flatten a tensor / list / tuple / dict of tensors. Nested containers and
// non-tensors are errors in Keras's words. `what` is "inputs" or "outputs".
bool flatten_tensors(Ctx *c, Value *v, const char *what, Span at, Vec *out) {
    if (v->kind == V_ERROR)
        return false;
    if (v->kind == V_TENSOR) {
        vec_push(c->arena, out, v->u.tensor);
        return true;
    }
    Vec *items = NULL;
    if (v->kind == V_LIST || v->kind == V_TUPLE)
        items = &v->u.list->items;
    else if (v->kind == V_DICT)
        items = dict_sorted_values(c, v->u.dict);
    if (!items) {
        error_at(c, at, "All `%s` values must be KerasTensors. Received: %s=%s including invalid "
                 "value %s of type %s", what, what, value_repr(c, v), value_repr(c, v),
                 value_type_name(v));
        return false;
    }
    if (items->len == 0) {
        error_at(c, at, "`%s` argument cannot be empty. Received: %s=%s", what, what,
                 value_repr(c, v));
        return false;
    }
    bool ok = true;
    for (int i = 0; i < items->len; i++) {
        Value *x = items->data[i];
        if (x->kind == V_ERROR)
            return false;
        if (x->kind == V_LIST || x->kind == V_TUPLE || x->kind == V_DICT) {
            error_at(c, at, "Nested %s are not supported: only dicts, lists and tuples of %s "
                     "tensors are (got a %s inside the %s)", what,
                     !strcmp(what, "inputs") ? "input" : "output", value_type_name(x),
                     value_type_name(v));
            return false;
        }
        if (x->kind != V_TENSOR) {
            error_at(c, at, "All `%s` values must be KerasTensors. Received: %s=%s including "
                     "invalid value %s of type %s", what, what, value_repr(c, v), value_repr(c, x),
                     value_type_name(x));
            ok = false;
            continue;
        }
        vec_push(c->arena, out, x->u.tensor);
    }
    return ok;
}

// Rebuild `shape` of `v` with tensors replaced via map(old)->new.
Value *map_struct_tensors(Ctx *c, Value *v, Tensor **from, Tensor **to, int n) {
    if (v->kind == V_TENSOR) {
        for (int i = 0; i < n; i++)
            if (v->u.tensor == from[i])
                return v_tensor(c, to[i]);
        return v;
    }
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        Value *r = v->kind == V_LIST ? v_list(c) : v_tuple(c);
        for (int i = 0; i < list_len(v); i++)
            list_append(c, r, map_struct_tensors(c, list_get(v, i), from, to, n));
        return r;
    }
    if (v->kind == V_DICT) {
        Value *r = v_dict(c);
        for (int i = 0; i < v->u.dict->keys.len; i++)
            dict_set(c, r->u.dict, v->u.dict->keys.data[i],
                     map_struct_tensors(c, v->u.dict->vals.data[i], from, to, n));
        return r;
    }
    return v;
}

static bool is_input_tensor(const Tensor *t) {
    return t->node && t->node->layer && t->node->layer->cls &&
           (t->node->layer->cls->flags & LC_INPUT);
}

// ---- tensors, nodes and input layers --------------------------------------------

// Tensors inside a subclass trace: Keras traces call() on backend
// placeholders, which take no `keras_tensor` names, so neither do ours.
const char *trace_tensor_name(Ctx *c) {
    return arena_printf(c->arena, "traced_%d", c->next_trace_tensor++);
}

Tensor *tensor_new(Ctx *c, const Shape *s, DType dt, const char *name) {
    if (!name && c->trace)
        name = trace_tensor_name(c);
    Tensor *t = arena_alloc(c->arena, sizeof *t);
    t->shape = *s;
    t->dtype = dt;
    t->name = name ? name : auto_name(c, "keras_tensor");
    t->id = c->next_tensor_id++;
    return t;
}

CallNode *node_new(Ctx *c, Layer *l, Tensor **in, int nin, Value *in_struct, Span span) {
    CallNode *n = arena_alloc(c->arena, sizeof *n);
    n->layer = l;
    n->in = in;
    n->nin = nin;
    n->in_struct = in_struct;
    n->span = span;
    n->training = -1;
    n->id = c->next_node_id++;
    n->node_index = -1;
    return n;
}

void node_record(Ctx *c, CallNode *n) {
    if (c->trace) {
        n->traced = true;
        vec_push(c->arena, c->trace, n);
        return;
    }
    n->node_index = n->layer->nodes.len;
    vec_push(c->arena, &n->layer->nodes, n);
}

// An InputLayer with its tensor and node: keras.Input(...) and clones.
Tensor *input_layer_make(Ctx *c, Layer *il, const Shape *batch_shape, DType dt,
                         const char *tensor_name, Span at) {
    Tensor *t = tensor_new(c, batch_shape, dt, tensor_name);
    CallNode *n = node_new(c, il, NULL, 0, NULL, at);
    n->out = arena_alloc(c->arena, sizeof(Tensor *));
    n->out[0] = t;
    n->nout = 1;
    n->out_struct = v_tensor(c, t);
    t->node = n;
    t->index = 0;
    // InputLayer nodes are never part of a trace.
    n->node_index = il->nodes.len;
    vec_push(c->arena, &il->nodes, n);
    il->built = true;
    il->last_out[0] = *batch_shape;
    il->nlast_out = 1;
    il->last_out_struct = n->out_struct;
    return t;
}

// ---- map_graph ----------------------------------------------------------------------

// A pointer -> int map (open addressing, linear probing; malloc'd, freed by
// the caller with ptrmap_free), so that building a model's graph is linear
// in its size: keras.Model() over a 32,000-layer chain, or called in a loop,
// must not take quadratic time.
typedef struct PtrMap {
    const void **keys;
    int *vals;
    size_t cap, len;        // cap: a power of 2, or 0
} PtrMap;

static size_t ptr_hash(const void *p, size_t cap) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static void ptrmap_free(PtrMap *m) {
    free(m->keys);
    free(m->vals);
    *m = (PtrMap){0};
}

// The value of key, or -1.
static int ptrmap_get(const PtrMap *m, const void *key) {
    if (!m->cap)
        return -1;
    for (size_t i = ptr_hash(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (!m->keys[i])
            return -1;
    }
}

static void ptrmap_put(PtrMap *m, const void *key, int val) {
    if (2 * (m->len + 1) > m->cap) {
        PtrMap g = {.cap = m->cap ? 2 * m->cap : 64};
        g.keys = calloc(g.cap, sizeof *g.keys);
        g.vals = malloc(g.cap * sizeof *g.vals);
        if (!g.keys || !g.vals)
            die("out of memory");
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                ptrmap_put(&g, m->keys[i], m->vals[i]);
        ptrmap_free(m);
        *m = g;
    }
    size_t i = ptr_hash(key, m->cap);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->len++;
    m->keys[i] = key;
    m->vals[i] = val;
}

typedef struct GraphBuild {
    Ctx *c;
    Tensor **inputs;
    int ninputs;
    PtrMap input_set;       // Tensor* -> 1
    PtrMap state;           // CallNode* -> 1 in progress, 2 finished
    PtrMap order_index;     // CallNode* -> its index in order
    PtrMap op_index;        // Layer* -> its index in ops
    Vec order;              // nodes_in_decreasing_depth (post-order; malloc'd)
    Vec ops;                // operations in traversal order (malloc'd)
    bool cycle;
} GraphBuild;

// A malloc'd Vec (GraphBuild's order and ops are scratch).
static void scratch_push(Vec *v, void *p) {
    if (v->len == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        void **data = realloc(v->data, sizeof(void *) * (size_t)cap);
        if (!data)
            die("out of memory");
        v->data = data;
        v->cap = cap;
    }
    v->data[v->len++] = p;
}

static void graph_build_free(GraphBuild *g) {
    free(g->order.data);
    free(g->ops.data);
    g->order = g->ops = (Vec){0};
    ptrmap_free(&g->input_set);
    ptrmap_free(&g->state);
    ptrmap_free(&g->order_index);
    ptrmap_free(&g->op_index);
}

static bool is_graph_input(GraphBuild *g, const Tensor *t) {
    if (g->ninputs && !g->input_set.cap)
        for (int i = 0; i < g->ninputs; i++)
            ptrmap_put(&g->input_set, g->inputs[i], 1);
    return ptrmap_get(&g->input_set, t) == 1;
}

// Keras's build_map as a depth-first walk from t back through the nodes'
// inputs: every node after the nodes producing its inputs (post-order), and
// each layer in ops when first reached. Iterative (an explicit stack), so a
// chain of any length does not exhaust the C stack.
typedef struct {
    CallNode *n;
    int next;               // the next input to visit
    bool expand;            // visit the inputs at all
} MapFrame;

static void build_map(GraphBuild *g, Tensor *root) {
    MapFrame *stack = NULL;
    size_t sp = 0, cap = 0;
    Tensor *t = root;
    for (;;) {
        // Enter t's node, unless there is nothing to do.
        CallNode *n = t ? t->node : NULL;
        int st = n ? ptrmap_get(&g->state, n) : 2;
        if (st == 1)
            g->cycle = true;
        if (n && st < 0) {
            if (ptrmap_get(&g->op_index, n->layer) < 0) {
                ptrmap_put(&g->op_index, n->layer, g->ops.len);
                scratch_push(&g->ops, n->layer);
            }
            ptrmap_put(&g->state, n, 1);
            if (sp == cap) {
                cap = cap ? 2 * cap : 64;
                MapFrame *ns = realloc(stack, cap * sizeof *ns);
                if (!ns)
                    die("out of memory");
                stack = ns;
            }
            stack[sp++] = (MapFrame){n, 0, n->nin != 0 && !is_graph_input(g, t)};
        }
        // Leave the nodes whose inputs are all done; descend into the next input.
        t = NULL;
        while (sp > 0) {
            MapFrame *f = &stack[sp - 1];
            if (f->expand && f->next < f->n->nin) {
                t = f->n->in[f->next++];
                break;
            }
            ptrmap_put(&g->state, f->n, 2);
            ptrmap_put(&g->order_index, f->n, g->order.len);
            scratch_push(&g->order, f->n);
            sp--;
        }
        if (!t)
            break;
    }
    free(stack);
}

// Ops sorted by depth (descending), then traversal index (ascending); pos
// (the position before sorting) keeps the order of equal keys.
typedef struct {
    Layer *op;
    intptr_t depth, idx;
    int pos;
} OpKey;

static int cmp_op_key(const void *a, const void *b) {
    const OpKey *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth > y->depth ? -1 : 1;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

// Build the Graph of a functional model or a trace. Reports a graph
// disconnected error (outputs needing a tensor that is not an input) at
// `at`. `nodes_hint` (traces) is unused: order comes from the walk.
static Graph *graph_build(Ctx *c, Value *in_struct, Vec *ins, Value *out_struct, Vec *outs, Span at,
                          bool trace) {
    GraphBuild g = {.c = c, .inputs = (Tensor **)ins->data, .ninputs = ins->len};
    for (int i = 0; i < outs->len; i++)
        build_map(&g, outs->data[i]);
    if (g.cycle)
        die("cycle in layer graph");
    // Disconnected: a node reached that has no inputs (an InputLayer, or a
    // trace placeholder) but produces a tensor that is not a model input.
    bool ok = true;
    for (int i = 0; i < g.order.len && ok; i++) {
        CallNode *n = g.order.data[i];
        if (n->nin != 0)
            continue;
        for (int k = 0; k < n->nout; k++) {
            if (is_graph_input(&g, n->out[k]))
                continue;
            error_at(c, at, "graph disconnected: the outputs depend on %s (the tensor `%s`), which "
                     "is not one of the model's inputs", layer_label(c, n->layer), n->out[k]->name);
            if (span_valid(n->span))
                note_at(c, n->span, "`%s` is created here", n->out[k]->name);
            ok = false;
        }
    }
    // Trace placeholders have no node: check that every node input is
    // computable from the inputs.
    if (trace) {
        for (int i = 0; i < g.order.len && ok; i++) {
            CallNode *n = g.order.data[i];
            for (int k = 0; k < n->nin; k++) {
                Tensor *t = n->in[k];
                if (!t->node && !is_graph_input(&g, t)) {
                    error_at(c, n->span, "graph disconnected: %s is called on a tensor that does "
                             "not come from the model's inputs", layer_label(c, n->layer));
                    ok = false;
                }
            }
        }
    }
    if (!ok) {
        graph_build_free(&g);
        return NULL;
    }
    // Depths (Keras map_graph): walk nodes from the outputs back.
    // (Scratch arrays are malloc'd: a Sequential rebuilt after every add()
    // builds a graph per add, and the arena keeps what it is given.)
    int nn = g.order.len;
    int *ndepth = calloc((size_t)(nn + 1), sizeof(int));
    bool *nset = calloc((size_t)(nn + 1), sizeof(bool));
    int nops = g.ops.len;
    int *odepth = calloc((size_t)(nops + 1), sizeof(int));
    bool *oset = calloc((size_t)(nops + 1), sizeof(bool));
    if (!ndepth || !nset || !odepth || !oset)
        die("out of memory");
    for (int i = nn - 1; i >= 0; i--) {
        CallNode *n = g.order.data[i];
        if (!nset[i]) {
            nset[i] = true;
            ndepth[i] = 0;
        }
        int depth = ndepth[i];
        int oi = ptrmap_get(&g.op_index, n->layer);
        if (oset[oi] && odepth[oi] > depth)
            depth = odepth[oi];
        odepth[oi] = depth;
        oset[oi] = true;
        ndepth[i] = depth;
        if (n->nin == 0 || (n->nout && is_graph_input(&g, n->out[0])))
            continue;
        for (int k = 0; k < n->nin; k++) {
            CallNode *p = n->in[k]->node;
            int pi = p ? ptrmap_get(&g.order_index, p) : -1;
            if (pi < 0)
                continue;
            if (!nset[pi] || ndepth[pi] < depth + 1)
                ndepth[pi] = depth + 1;
            nset[pi] = true;
        }
    }
    // Unused inputs: depth 0, traversal index -1 (they sort first at depth 0).
    OpKey *keys = malloc(sizeof *keys * (size_t)(nops + ins->len + 1));
    if (!keys)
        die("out of memory");
    int n_all = 0;
    for (int i = 0; i < nops; i++, n_all++)
        keys[n_all] = (OpKey){g.ops.data[i], odepth[i], i, n_all};
    Vec unused_nodes = {0};
    for (int i = 0; i < ins->len; i++) {
        Tensor *t = ins->data[i];
        if (!t->node || ptrmap_get(&g.op_index, t->node->layer) >= 0)
            continue;
        ptrmap_put(&g.op_index, t->node->layer, n_all);
        keys[n_all] = (OpKey){t->node->layer, 0, -1, n_all};
        n_all++;
        vec_push(c->arena, &unused_nodes, t->node);
    }
    // Sort ops by depth descending, then traversal index ascending (stable).
    qsort(keys, (size_t)n_all, sizeof *keys, cmp_op_key);
    Layer **ops = arena_alloc(c->arena, sizeof *ops * (size_t)(n_all + 1));
    for (int i = 0; i < n_all; i++)
        ops[i] = keys[i].op;
    free(keys);
    Graph *gr = arena_alloc(c->arena, sizeof *gr);
    gr->inputs = (Tensor **)ins->data;
    gr->ninputs = ins->len;
    gr->in_struct = in_struct;
    gr->outputs = (Tensor **)outs->data;
    gr->noutputs = outs->len;
    gr->out_struct = out_struct;
    gr->ops = ops;
    gr->nops = n_all;
    // Execution order: unused input nodes, then the post-order walk (each
    // node after the nodes producing its inputs).
    int nexec = unused_nodes.len + nn;
    CallNode **exec = arena_alloc(c->arena, sizeof *exec * (size_t)(nexec + 1));
    for (int i = 0; i < unused_nodes.len; i++)
        exec[i] = unused_nodes.data[i];
    for (int i = 0; i < nn; i++)
        exec[unused_nodes.len + i] = g.order.data[i];
    gr->nodes = exec;
    gr->nnodes = nexec;
    gr->node_depth = arena_alloc(c->arena, sizeof(int) * (size_t)(nexec + 1));
    for (int i = 0; i < nexec; i++) {
        int oi = ptrmap_get(&g.order_index, exec[i]);
        gr->node_depth[i] = oi >= 0 ? ndepth[oi] : 0;
    }
    free(ndepth);
    free(nset);
    free(odepth);
    free(oset);
    graph_build_free(&g);
    return gr;
}

// ---- functional models ---------------------------------------------------------------

// A zeroed layer (trainable, no weights); the caller sets its kind. Ids are
// given in creation order except for table layers, which take theirs once
// their arguments are valid (layer_construct).
Layer *layer_alloc(Ctx *c, const char *class_name, Span at) {
    Layer *l = arena_alloc(c->arena, sizeof *l);
    l->class_name = class_name;
    l->span = at;
    l->trainable = true;
    l->attrs = arena_alloc(c->arena, sizeof(Dict));
    return l;
}

// A model layer not yet in the file's lists of layers and models.
static Layer *model_layer_alloc(Ctx *c, ModelKind kind, const char *class_name, Span at) {
    Layer *l = layer_alloc(c, class_name, at);
    l->model = arena_alloc(c->arena, sizeof(Model));
    l->model->kind = kind;
    l->model->self = l;
    return l;
}

static void model_register(Ctx *c, Layer *l) {
    l->id = c->next_layer_id++;
    vec_push(c->arena, &c->layers, l);
    vec_push(c->arena, &c->models, l);
}

static Layer *model_layer_new(Ctx *c, ModelKind kind, const char *class_name, const char *name,
                              Span at) {
    Layer *l = model_layer_alloc(c, kind, class_name, at);
    l->name = name;
    model_register(c, l);
    return l;
}

// Op indices ordered by name, then by position (qsort_r is not C11: the
// names travel with the indices).
typedef struct {
    const char *name;
    int index;
} NamedOp;

static int cmp_named_op(const void *a, const void *b) {
    const NamedOp *x = a, *y = b;
    int d = strcmp(x->name, y->name);
    return d ? d : (x->index > y->index) - (x->index < y->index);
}

static int cmp_first_index(const void *a, const void *b) {
    const NamedOp *const *x = a, *const *y = b;
    return ((*x)->index > (*y)->index) - ((*x)->index < (*y)->index);
}

// Keras: every operation name in a model is unique. Sorting the names finds
// the duplicates in O(n log n) (a model of 32,000 layers is built in a
// loop); each duplicated name is reported once, in the order of its first
// use, with a note at every layer that has it.
static bool check_unique_names(Ctx *c, Graph *g, Span at) {
    int n = g->nops;
    if (n < 2)
        return true;
    NamedOp *ops = malloc(sizeof *ops * (size_t)n);
    const NamedOp **dups = malloc(sizeof *dups * (size_t)n);
    if (!ops || !dups)
        die("out of memory");
    for (int i = 0; i < n; i++)
        ops[i] = (NamedOp){g->ops[i]->name, i};
    qsort(ops, (size_t)n, sizeof *ops, cmp_named_op);
    // The first entry of each duplicated name's run, in op order.
    int ndups = 0;
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && !strcmp(ops[j].name, ops[i].name))
            j++;
        if (j - i > 1)
            dups[ndups++] = &ops[i];
        i = j;
    }
    qsort(dups, (size_t)ndups, sizeof *dups, cmp_first_index);
    for (int d = 0; d < ndups; d++) {
        const NamedOp *run = dups[d];
        int count = 1;
        while (run + count < ops + n && !strcmp(run[count].name, run->name))
            count++;
        error_at(c, at, "The name \"%s\" is used %d times in the model. All operation names "
                 "should be unique.", run->name, count);
        for (int k = 0; k < count; k++) {
            Layer *l = g->ops[run[k].index];
            if (span_valid(l->span))
                note_at(c, l->span, "%s is created here", layer_label(c, l));
        }
    }
    free(ops);
    free(dups);
    return ndups == 0;
}

static Value *map_struct_by_index(Ctx *c, Value *v, const PtrMap *from, Tensor **to);

// Keras's clone_graph_nodes: intermediate input tensors become new
// InputLayers "<name>CLONE"; nodes between inputs and outputs are re-created
// (appended to their layers' inbound nodes) on cloned tensors.
static void clone_graph(Ctx *c, Vec *ins, Vec *outs, Value **in_struct, Value **out_struct,
                        Span at) {
    Vec from = {0}, to = {0};
    for (int i = 0; i < ins->len; i++) {
        Tensor *t = ins->data[i];
        if (is_input_tensor(t)) {
            continue;
        }
        const char *nm = arena_printf(c->arena, "%sCLONE", t->name);
        Layer *il = input_layer_new(c, nm, at);
        Tensor *nt = input_layer_make(c, il, &t->shape, t->dtype, nm, at);
        vec_push(c->arena, &from, t);
        vec_push(c->arena, &to, nt);
        ins->data[i] = nt;
    }
    // Nodes between the (original) inputs and the outputs, in topological order.
    GraphBuild g = {.c = c, .inputs = (Tensor **)from.data, .ninputs = from.len};
    for (int i = 0; i < outs->len; i++)
        build_map(&g, outs->data[i]);
    // from[i] -> i, so that cloning stays linear in the graph's size.
    PtrMap from_index = {0};
    for (int i = 0; i < from.len; i++)
        if (ptrmap_get(&from_index, from.data[i]) < 0)
            ptrmap_put(&from_index, from.data[i], i);  // the first, as a linear search
    for (int i = 0; i < g.order.len; i++) {
        CallNode *n = g.order.data[i];
        bool is_cloned_input = false;
        for (int k = 0; k < n->nout; k++)
            if (ptrmap_get(&from_index, n->out[k]) >= 0)
                is_cloned_input = true;
        if (n->nin == 0 || is_cloned_input)
            continue;
        CallNode *m = node_new(c, n->layer, NULL, n->nin, NULL, n->span);
        m->in = arena_alloc(c->arena, sizeof(Tensor *) * (size_t)(n->nin + 1));
        for (int k = 0; k < n->nin; k++) {
            int idx = ptrmap_get(&from_index, n->in[k]);
            m->in[k] = idx >= 0 ? to.data[idx] : n->in[k];
        }
        m->in_struct = map_struct_by_index(c, n->in_struct, &from_index, (Tensor **)to.data);
        m->nout = n->nout;
        m->out = arena_alloc(c->arena, sizeof(Tensor *) * (size_t)(n->nout + 1));
        for (int k = 0; k < n->nout; k++) {
            Tensor *nt = tensor_new(c, &n->out[k]->shape, n->out[k]->dtype,
                                    arena_printf(c->arena, "%s_clone", n->out[k]->name));
            nt->node = m;
            nt->index = k;
            m->out[k] = nt;
            if (ptrmap_get(&from_index, n->out[k]) < 0)
                ptrmap_put(&from_index, n->out[k], from.len);
            vec_push(c->arena, &from, n->out[k]);
            vec_push(c->arena, &to, nt);
        }
        m->out_struct = map_struct_by_index(c, n->out_struct, &from_index, (Tensor **)to.data);
        m->training = n->training;
        m->kwargs = n->kwargs;
        m->node_index = n->layer->nodes.len;
        vec_push(c->arena, &n->layer->nodes, m);
    }
    for (int i = 0; i < outs->len; i++) {
        int idx = ptrmap_get(&from_index, outs->data[i]);
        if (idx >= 0)
            outs->data[i] = to.data[idx];
    }
    *in_struct = map_struct_by_index(c, *in_struct, &from_index, (Tensor **)to.data);
    *out_struct = map_struct_by_index(c, *out_struct, &from_index, (Tensor **)to.data);
    ptrmap_free(&from_index);
    graph_build_free(&g);
}

// map_struct_tensors with from given as a map: tensor -> index in to.
static Value *map_struct_by_index(Ctx *c, Value *v, const PtrMap *from, Tensor **to) {
    if (v->kind == V_TENSOR) {
        int i = ptrmap_get(from, v->u.tensor);
        return i >= 0 ? v_tensor(c, to[i]) : v;
    }
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        Value *r = v->kind == V_LIST ? v_list(c) : v_tuple(c);
        for (int i = 0; i < list_len(v); i++)
            list_append(c, r, map_struct_by_index(c, list_get(v, i), from, to));
        return r;
    }
    if (v->kind == V_DICT) {
        Value *r = v_dict(c);
        for (int i = 0; i < v->u.dict->keys.len; i++)
            dict_set(c, r->u.dict, v->u.dict->keys.data[i],
                     map_struct_by_index(c, v->u.dict->vals.data[i], from, to));
        return r;
    }
    return v;
}

// Give model layer m the graph from inputs to outputs (Keras's
// Functional.__init__): keras.Model(inputs, outputs), and a subclass whose
// __init__ calls super().__init__(inputs, outputs) (Keras then makes the
// subclass a Functional). The name is the caller's business.
bool functional_init(Ctx *c, Layer *m, Value *inputs, Value *outputs, bool trainable, Span call,
                     Span in_span, Span out_span) {
    Vec ins = {0}, outs = {0};
    bool ok = flatten_tensors(c, inputs, "inputs", in_span, &ins);
    ok = flatten_tensors(c, outputs, "outputs", out_span, &outs) && ok;
    if (!ok)
        return false;
    bool all_inputs = true;
    for (int i = 0; i < ins.len; i++)
        if (!is_input_tensor(ins.data[i]))
            all_inputs = false;
    Value *in_struct = inputs, *out_struct = outputs;
    if (!all_inputs)
        clone_graph(c, &ins, &outs, &in_struct, &out_struct, call);
    Graph *g = graph_build(c, in_struct, &ins, out_struct, &outs, out_span, false);
    if (!g)
        return false;
    m->model->kind = MODEL_FUNCTIONAL;
    m->model->graph = g;
    m->model->train_graph = g;
    m->model->built = true;
    m->built = true;
    m->model->layers.len = 0;
    for (int i = 0; i < g->nops; i++)
        vec_push(c->arena, &m->model->layers, g->ops[i]);
    check_unique_names(c, g, call);
    if (!trainable)
        layer_set_trainable(m, false);
    m->last_out_struct = out_struct;
    return true;
}

Value *model_functional(Ctx *c, Value *inputs, Value *outputs, const char *name, bool trainable,
                        Span call, Span in_span, Span out_span) {
    Layer *m = model_layer_alloc(c, MODEL_FUNCTIONAL, "Functional", call);
    if (!functional_init(c, m, inputs, outputs, trainable, call, in_span, out_span))
        return v_error();
    m->name = name ? name : auto_name(c, "functional");
    model_register(c, m);
    return v_layer(c, m);
}

// ---- Sequential ---------------------------------------------------------------------

Layer *model_new_sequential(Ctx *c, const char *name, Span call) {
    return model_layer_new(c, MODEL_SEQUENTIAL, "Sequential",
                           name ? name : auto_name(c, "sequential"), call);
}

// Keras rebuilds a Sequential after every add() by calling all its layers
// again (each call a new node of the layer, as in Keras), so n adds make
// n^2 / 2 layer calls. Each call of a rebuild is charged to the evaluation
// step budget as much as `x = layer(x)` in a loop costs, so that an add()
// loop of thousands of layers stops at the step limit in a second or two
// instead of running into the memory limit after many seconds.
// MAX_STEPS (kdlc.h) is the evaluator's limit (docs/language.md 3.9; the
// message is checked by tests/lang/limits.kdl).
#define REBUILD_CALL_STEPS 4

static bool charge_rebuild(Ctx *c, int ncalls, Span at) {
    if (c->steps > MAX_STEPS)
        return false;   // evaluation has already stopped
    int64_t cost = (int64_t)ncalls * REBUILD_CALL_STEPS;
    if (c->steps + cost <= MAX_STEPS) {
        c->steps += cost;
        return true;
    }
    error_at(c, at, "compile-time evaluation exceeded %d steps (is there an unbounded loop?)",
             MAX_STEPS);
    c->steps = MAX_STEPS + 2;  // stops evaluation, as eval.c's limits do
    return false;
}

// Keras's Sequential.build: call every layer on the InputLayer's output.
static bool sequential_rebuild(Ctx *c, Layer *seq, Span at) {
    Model *m = seq->model;
    if (m->broken || !m->seq_input || m->layers.len == 0)
        return true;
    Tensor *x = m->seq_input->nodes.len ? ((CallNode *)m->seq_input->nodes.data[0])->out[0] : NULL;
    if (!x)
        return true;
    if (!charge_rebuild(c, m->layers.len, at)) {
        m->broken = true;
        return false;
    }
    Value *in = v_tensor(c, x);
    Value *cur = in;
    for (int i = 0; i < m->layers.len; i++) {
        Layer *l = m->layers.data[i];
        Span s = m->layer_spans.len > i ? *(Span *)m->layer_spans.data[i] : at;
        cur = layer_call(c, l, cur, NULL, 0, s);
        if (cur->kind == V_ERROR) {
            m->broken = true;
            return false;
        }
        if (cur->kind != V_TENSOR) {
            error_at(c, s, "All layers in a Sequential model should have a single output tensor. "
                     "For multi-output layers, use the functional API. (%s returned %s)",
                     layer_label(c, l), value_type_name(cur));
            m->broken = true;
            return false;
        }
    }
    Vec ins = {0}, outs = {0};
    vec_push(c->arena, &ins, x);
    vec_push(c->arena, &outs, cur->u.tensor);
    Graph *g = graph_build(c, in, &ins, cur, &outs, at, false);
    if (!g) {
        m->broken = true;
        return false;
    }
    (void)auto_name(c, "functional");   // Keras builds an internal Functional
    m->graph = g;
    m->train_graph = g;
    m->built = true;
    seq->built = true;
    seq->last_out[0] = cur->u.tensor->shape;
    seq->nlast_out = 1;
    seq->last_out_struct = cur;
    return true;
}

bool sequential_add(Ctx *c, Layer *seq, Value *item, Span at) {
    Model *m = seq->model;
    if (item->kind == V_ERROR) {
        m->broken = true;
        return false;
    }
    Layer *l = NULL;
    if (item->kind == V_TENSOR) {
        // keras.Input(...) inside a Sequential stands for its InputLayer.
        if (!is_input_tensor(item->u.tensor)) {
            error_at(c, at, "Only instances of `keras.Layer` can be added to a Sequential model. "
                     "Received: %s (of type KerasTensor, not the output of keras.Input)",
                     value_repr(c, item));
            m->broken = true;
            return false;
        }
        l = item->u.tensor->node->layer;
    } else if (item->kind == V_LAYER) {
        l = item->u.layer;
    } else {
        error_at(c, at, "Only instances of `keras.Layer` can be added to a Sequential model. "
                 "Received: %s (of type %s)", value_repr(c, item), value_type_name(item));
        m->broken = true;
        return false;
    }
    if (l->cls && (l->cls->flags & LC_INPUT)) {
        if (m->seq_input || m->layers.len > 0) {
            error_at(c, at, "Sequential model '%s' has already been configured to use an input; "
                     "an InputLayer can only be the first layer", seq->name);
            m->broken = true;
            return false;
        }
        m->seq_input = l;
        return true;
    }
    if (l == seq) {
        error_at(c, at, "cannot add a Sequential model to itself");
        m->broken = true;
        return false;
    }
    for (int i = 0; i < m->layers.len; i++) {
        Layer *o = m->layers.data[i];
        if (!strcmp(o->name, l->name)) {
            error_at(
                c, at,
                "All layers added to a Sequential model should have unique names. Name "
                "'%s' is already the name of a layer in this model. Update the `name` argument "
                "to pass a unique name.",
                l->name);
            m->broken = true;
            return false;
        }
    }
    // A built single-input model as the first layer gives the input shape.
    if (m->layers.len == 0 && !m->seq_input && l->model && l->model->graph &&
        l->model->graph->ninputs == 1) {
        Layer *il = input_layer_new(c, NULL, at);
        Tensor *t0 = l->model->graph->inputs[0];
        input_layer_make(c, il, &t0->shape, t0->dtype, NULL, at);
        m->seq_input = il;
    }
    // Keras 2 style Dense(..., input_shape=(n,)) on the first layer.
    if (m->layers.len == 0 && !m->seq_input && l->input_shape_arg) {
        Layer *il = input_layer_new(c, NULL, at);
        Shape s;
        if (!shape_from_value(c, l->input_shape_arg, at, &s, true)) {
            m->broken = true;
            return false;
        }
        input_layer_make(c, il, &s, DT_FLOAT32, NULL, at);
        m->seq_input = il;
    }
    vec_push(c->arena, &m->layers, l);
    Span *sp = arena_alloc(c->arena, sizeof *sp);
    *sp = at;
    vec_push(c->arena, &m->layer_spans, sp);
    if (m->seq_input && m->layers.len >= 1 && !m->deferred)
        return sequential_rebuild(c, seq, at);
    return true;
}

bool sequential_finish(Ctx *c, Layer *seq, Span at) {
    Model *m = seq->model;
    if (m->seq_input && m->layers.len >= 1)
        return sequential_rebuild(c, seq, at);
    return true;
}

// Build a Sequential without an Input from an input shape (model.build or a
// first call): Keras prepends an InputLayer(batch_shape=shape).
static bool sequential_build_from_shape(Ctx *c, Layer *seq, const Shape *s, DType dt, Span at) {
    Model *m = seq->model;
    if (m->seq_input)
        return true;
    Layer *il = input_layer_new(c, NULL, at);
    input_layer_make(c, il, s, dt, NULL, at);
    m->seq_input = il;
    return sequential_rebuild(c, seq, at);
}

// ---- subclassed models ---------------------------------------------------------------

Layer *model_new_subclass(Ctx *c, UserClass *uc, Span call) {
    Layer *l = model_layer_new(c, MODEL_SUBCLASS, uc->name, NULL, call);
    l->ucls = uc;
    return l;
}

// A keras.layers.Layer subclass: built and traced like a subclassed model
// (its call() composes other layers), but it is a layer: not listed as a
// model, no summary() of its own, not expanded by expand_nested.
Layer *layer_new_custom(Ctx *c, UserClass *uc, Span call) {
    Layer *l = model_layer_new(c, MODEL_SUBCLASS, uc->name, NULL, call);
    l->ucls = uc;
    l->model->custom_layer = true;
    c->models.len--;
    return l;
}

// Placeholder tensors for tracing: shapes from an input_shape value
// (a tuple, or a list/dict of tuples for several inputs).
static Value *trace_inputs(Ctx *c, Value *shape_v, Span at, Vec *flat) {
    if ((shape_v->kind == V_LIST || shape_v->kind == V_TUPLE) && list_len(shape_v) > 0 &&
        (list_get(shape_v, 0)->kind == V_LIST || list_get(shape_v, 0)->kind == V_TUPLE)) {
        Value *r = v_list(c);
        for (int i = 0; i < list_len(shape_v); i++) {
            Value *t = trace_inputs(c, list_get(shape_v, i), at, flat);
            if (t->kind == V_ERROR)
                return t;
            list_append(c, r, t);
        }
        return r;
    }
    if (shape_v->kind == V_DICT) {
        Value *r = v_dict(c);
        for (int i = 0; i < shape_v->u.dict->keys.len; i++) {
            Value *t = trace_inputs(c, shape_v->u.dict->vals.data[i], at, flat);
            if (t->kind == V_ERROR)
                return t;
            dict_set(c, r->u.dict, shape_v->u.dict->keys.data[i], t);
        }
        return r;
    }
    Shape s;
    if (!shape_from_value(c, shape_v, at, &s, false))
        return v_error();
    Tensor *t = tensor_new(c, &s, DT_FLOAT32, trace_tensor_name(c));
    vec_push(c->arena, flat, t);
    return v_tensor(c, t);
}

// Run self.call(inputs, training=flag) recording traced nodes.
static Graph *trace_call(Ctx *c, Layer *m, Value *inputs, Value *extras, Vec *flat_in,
                         int training, Span at) {
    Value *call = m->ucls ? dict_get_str(m->ucls->methods, "call") : NULL;
    if (!call) {
        error_at(c, at, "class %s has no call() method: a subclassed model must define "
                 "call(self, inputs)", m->class_name);
        return NULL;
    }
    if (c->trace_depth > 16) {
        error_at(c, at, "models nested more than 16 deep (is a model calling itself?)");
        return NULL;
    }
    Vec nodes = {0};
    Vec *saved = c->trace;
    int saved_training = c->training_ctx;
    c->trace = &nodes;
    c->trace_depth++;
    c->training_ctx = training;
    int nextra = extras ? extras->u.dict->keys.len : 0;
    Arg *args = arena_alloc(c->arena, sizeof(Arg) * (size_t)(nextra + 2));
    int nargs = 0;
    args[nargs++] = (Arg){NULL, inputs, at};
    for (int i = 0; i < nextra; i++)
        args[nargs++] = (Arg){((Value *)extras->u.dict->keys.data[i])->u.str.s,
                              extras->u.dict->vals.data[i], at};
    Sig *sig = call->u.func->sig;
    bool has_training = false;
    for (int i = 0; i < sig->nparams; i++)
        if (!strcmp(sig->params[i].name, "training") || sig->params[i].kind == 2)
            has_training = true;
    if (has_training)
        args[nargs++] = (Arg){"training", v_bool(training), at};
    Value *out = call_method(c, v_layer(c, m), call, args, nargs, at);
    c->trace = saved;
    c->trace_depth--;
    c->training_ctx = saved_training;
    if (out->kind == V_ERROR)
        return NULL;
    Vec outs = {0};
    Span cs = call->u.func->def->span;
    if (!flatten_tensors(c, out, "outputs", cs, &outs)) {
        note_at(c, at, "while tracing %s.call()", m->class_name);
        return NULL;
    }
    return graph_build(c, inputs, flat_in, out, &outs, cs, true);
}

bool model_build_subclass(Ctx *c, Layer *m, Value *input_shape, Span at) {
    if (m->model->built)
        return true;
    if (m->model->kind == MODEL_SEQUENTIAL) {
        Shape s;
        if (!shape_from_value(c, input_shape, at, &s, false))
            return false;
        return sequential_build_from_shape(c, m, &s, DT_FLOAT32, at);
    }
    if (m->model->kind != MODEL_SUBCLASS)
        return true;
    Vec flat = {0};
    Value *ins = trace_inputs(c, input_shape, at, &flat);
    if (ins->kind == V_ERROR)
        return false;
    return model_build_from_inputs(c, m, ins, NULL, &flat, at);
}

// The input_shape Keras passes to build(): the shapes of the inputs'
// structure (a tuple for a tensor, a list or dict of tuples).
static Value *struct_shapes(Ctx *c, Value *v) {
    if (v->kind == V_TENSOR)
        return shape_to_value(c, &v->u.tensor->shape);
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        Value *r = v->kind == V_LIST ? v_list(c) : v_tuple(c);
        for (int i = 0; i < list_len(v); i++)
            list_append(c, r, struct_shapes(c, list_get(v, i)));
        return r;
    }
    if (v->kind == V_DICT) {
        Value *r = v_dict(c);
        for (int i = 0; i < v->u.dict->keys.len; i++)
            dict_set(c, r->u.dict, v->u.dict->keys.data[i],
                     struct_shapes(c, v->u.dict->vals.data[i]));
        return r;
    }
    return v;
}

// Keras's first __call__ (and model.build) runs the class's own
// build(input_shape) once, before call(): layers it assigns to self are
// tracked as if __init__ had made them. super().build() inside it does
// nothing (m_build). False if it reported errors.
static bool run_user_build(Ctx *c, Layer *m, Value *ins, Span at) {
    Value *fn = m->ucls ? dict_get_str(m->ucls->methods, "build") : NULL;
    if (!fn || fn->kind != V_FUNC || m->model->user_built)
        return true;
    int errors = c->nerrors;
    Vec *saved_trace = c->trace;
    c->trace = NULL;        // layers called in build() are not part of a trace
    m->model->in_user_build = true;
    Arg arg = {NULL, struct_shapes(c, ins), at};
    Value *r = call_method(c, v_layer(c, m), fn, &arg, 1, at);
    m->model->in_user_build = false;
    c->trace = saved_trace;
    m->model->user_built = true;
    if (r->kind == V_ERROR || c->nerrors > errors) {
        m->model->broken = true;
        return false;
    }
    return true;
}

// Trace a subclassed model on placeholder inputs in both modes.
bool model_build_from_inputs(Ctx *c, Layer *m, Value *ins, Value *extras, Vec *flat, Span at) {
    if (m->model->building) {
        error_at(c, at, "%s calls itself while being built", layer_label(c, m));
        return false;
    }
    if (m->model->broken)
        return false;
    m->model->building = true;
    if (!run_user_build(c, m, ins, at)) {
        m->model->building = false;
        return false;
    }
    layer_refresh_tracked(c, m);
    Graph *g = trace_call(c, m, ins, extras, flat, 0, at);
    Graph *tg = g ? trace_call(c, m, ins, extras, flat, 1, at) : NULL;
    m->model->building = false;
    if (!g || !tg)
        return false;
    m->model->graph = g;
    m->model->train_graph = tg;
    m->model->built = true;
    m->built = true;
    m->nlast_out = g->noutputs < 8 ? g->noutputs : 8;
    for (int i = 0; i < m->nlast_out; i++)
        m->last_out[i] = g->outputs[i]->shape;
    m->last_out_struct = g->out_struct;
    return true;
}

// Whether two calls' extra call() arguments trace the same computation:
// the same names and equal values, any tensor matching any tensor (their
// shapes are checked by the trace).
static bool extras_match(Value *a, Value *b, int depth) {
    if (depth > 32)
        return false;
    if (!a || !b) {
        Value *o = a ? a : b;
        return !o || o->u.dict->keys.len == 0;
    }
    if (a->kind == V_TENSOR || b->kind == V_TENSOR)
        return a->kind == b->kind;
    if ((a->kind == V_LIST || a->kind == V_TUPLE) && a->kind == b->kind) {
        if (list_len(a) != list_len(b))
            return false;
        for (int i = 0; i < list_len(a); i++)
            if (!extras_match(list_get(a, i), list_get(b, i), depth + 1))
                return false;
        return true;
    }
    if (a->kind == V_DICT && b->kind == V_DICT) {
        if (a->u.dict->keys.len != b->u.dict->keys.len)
            return false;
        for (int i = 0; i < a->u.dict->keys.len; i++) {
            Value *vb = dict_get(b->u.dict, a->u.dict->keys.data[i]);
            if (!vb || !extras_match(a->u.dict->vals.data[i], vb, depth + 1))
                return false;
        }
        return true;
    }
    return a->kind == b->kind && value_eq(a, b);
}

// Shapes out of a model called as a layer.
bool model_infer(Ctx *c, Layer *m, const Shape *in, int nin, Value *in_struct, Value *extras,
                 Shape *out, int *nout, Value **out_struct_shape, Span at) {
    Model *md = m->model;
    if (md->kind == MODEL_SEQUENTIAL && !md->built) {
        if (nin != 1) {
            error_at(c, at, "%s expects one input, got %d", layer_label(c, m), nin);
            return false;
        }
        if (!sequential_build_from_shape(c, m, &in[0], DT_FLOAT32, at))
            return false;
    }
    if (md->kind == MODEL_SUBCLASS) {
        // Trace again on these shapes (the first call also builds).
        if (md->broken)
            return false;
        Vec flat = {0};
        int k = 0;
        Value *ins = placeholders_for(c, in_struct, in, nin, &k, &flat, 0);
        Value *ex = extras ? placeholders_for(c, extras, in, nin, &k, &flat, 0) : NULL;
        if (!md->built) {
            if (!model_build_from_inputs(c, m, ins, ex, &flat, at))
                return false;
            md->build_extras = extras;
            Graph *g = c->training_ctx == 1 ? md->train_graph : md->graph;
            *nout = g->noutputs;
            for (int i = 0; i < g->noutputs; i++)
                out[i] = g->outputs[i]->shape;
            *out_struct_shape = g->out_struct;
            return true;
        }
        // The code generator runs the call() traced when the model was
        // built for every call of it, so the other arguments must agree.
        if (!extras_match(extras, md->build_extras, 0)) {
            error_at(c, at, "%s is called with other arguments (%s) than when it was built (%s); "
                     "kdl compiles one call() per layer, so every call must pass the same "
                     "non-tensor arguments", layer_label(c, m),
                     extras ? value_repr(c, extras) : "none",
                     md->build_extras ? value_repr(c, md->build_extras) : "none");
            return false;
        }
        Graph *g = trace_call(c, m, ins, ex, &flat, c->training_ctx == 1, at);
        if (!g)
            return false;
        *nout = g->noutputs;
        for (int i = 0; i < g->noutputs && i < 8; i++)
            out[i] = g->outputs[i]->shape;
        *out_struct_shape = g->out_struct;
        return true;
    }
    Graph *g = md->graph;
    if (!g) {
        error_at(c, at, "%s is not built: it has no input shape yet", layer_label(c, m));
        return false;
    }
    if (nin != g->ninputs) {
        error_at(c, at, "%s expects %d input%s but it received %d input tensor%s",
                 layer_label(c, m), g->ninputs, g->ninputs == 1 ? "" : "s", nin,
                 nin == 1 ? "" : "s");
        return false;
    }
    // Re-run the shape rules over the graph with the new input shapes.
    return graph_infer(c, m, g, in, out, nout, at) && (*out_struct_shape = g->out_struct, true);
}

// ---- get_layer ------------------------------------------------------------------------

Value *model_get_layer(Ctx *c, Layer *m, Value *name, Value *index, Span at) {
    Vec *ls = &m->model->layers;
    if (index && index->kind != V_NONE) {
        if (index->kind != V_INT) {
            error_at(c, at, "get_layer: `index` must be an integer, got %s",
                     value_type_name(index));
            return v_error();
        }
        int64_t i = index->u.i;
        if (ls->len <= i) {
            error_at(c, at,
                     "Was asked to retrieve layer at index %lld but model only has %d layers.",
                     (long long)i, ls->len);
            return v_error();
        }
        if (i < -(int64_t)ls->len) {
            error_at(c, at, "IndexError: list index out of range (index %lld, model has %d layers)",
                     (long long)i, ls->len);
            return v_error();
        }
        if (i < 0)
            i += ls->len;
        return v_layer(c, ls->data[i]);
    }
    if (name && name->kind != V_NONE) {
        if (name->kind != V_STR) {
            error_at(c, at, "get_layer: `name` must be a string, got %s", value_type_name(name));
            return v_error();
        }
        for (int i = 0; i < ls->len; i++)
            if (!strcmp(((Layer *)ls->data[i])->name, name->u.str.s))
                return v_layer(c, ls->data[i]);
        Buf b = {0};
        buf_putc(c->arena, &b, '[');
        for (int i = 0; i < ls->len; i++) {
            if (i)
                buf_puts(c->arena, &b, ", ");
            buf_puts(c->arena, &b, py_repr_str(c->arena, ((Layer *)ls->data[i])->name));
        }
        buf_putc(c->arena, &b, ']');
        error_at(c, at, "No such layer: %s. Existing layers are: %s.", name->u.str.s,
                 buf_str(c->arena, &b));
        return v_error();
    }
    error_at(c, at, "Provide either a layer name or layer index at `get_layer`.");
    return v_error();
}

bool model_is_built(const Layer *m) {
    return m->model ? m->model->built : m->built;
}

// Unique weights of a layer or model, nested models included, in layer order
// (seen: the layers and weights met so far, so that this is linear).
static void collect_weights(Ctx *c, Layer *l, Vec *out, PtrMap *seen) {
    if (ptrmap_get(seen, l) >= 0)
        return;
    ptrmap_put(seen, l, 1);
    if (l->model) {
        for (int i = 0; i < l->model->layers.len; i++)
            collect_weights(c, l->model->layers.data[i], out, seen);
    } else {
        // A subclass's tracked layers; a wrapper's wrapped layers.
        for (int i = 0; i < l->tracked.len; i++)
            collect_weights(c, l->tracked.data[i], out, seen);
    }
    for (int i = 0; i < l->nweights; i++)
        if (ptrmap_get(seen, l->weights[i]) < 0) {
            ptrmap_put(seen, l->weights[i], 1);
            vec_push(c->arena, out, l->weights[i]);
        }
}

void model_weights(Ctx *c, Layer *m, Vec *out) {
    PtrMap seen = {0};
    for (int i = 0; i < out->len; i++)
        ptrmap_put(&seen, out->data[i], 1);     // what out already holds
    collect_weights(c, m, out, &seen);
    ptrmap_free(&seen);
}

// Is weight w trainable in the context of its layer chain? (A frozen layer
// freezes all its weights.)
bool weight_is_trainable(const Weight *w) {
    return w->trainable && w->owner->trainable;
}

void layer_set_trainable(Layer *l, bool on) {
    l->trainable = on;
    if (l->model)
        for (int i = 0; i < l->model->layers.len; i++)
            layer_set_trainable(l->model->layers.data[i], on);
    for (int i = 0; i < l->tracked.len; i++)
        layer_set_trainable(l->tracked.data[i], on);
}

// Fresh placeholder tensors with the structure of `v`, taking their shapes
// from in[*k], in[*k + 1], ... in flatten order (dicts by sorted key, as
// flatten_tensors and the node's inputs are ordered); other values stay.
Value *placeholders_for(Ctx *c, Value *v, const Shape *in, int nin, int *k, Vec *flat,
                        int depth) {
    if (v->kind == V_TENSOR) {
        const Shape *s = *k < nin ? &in[*k] : &v->u.tensor->shape;
        (*k)++;
        Tensor *t = tensor_new(c, s, v->u.tensor->dtype, trace_tensor_name(c));
        vec_push(c->arena, flat, t);
        return v_tensor(c, t);
    }
    if (depth > 32)
        return v;
    if (v->kind == V_LIST || v->kind == V_TUPLE) {
        Value *r = v->kind == V_LIST ? v_list(c) : v_tuple(c);
        for (int i = 0; i < list_len(v); i++)
            list_append(c, r, placeholders_for(c, list_get(v, i), in, nin, k, flat, depth + 1));
        return r;
    }
    if (v->kind == V_DICT) {
        Dict *d = v->u.dict;
        int *idx = dict_sorted_index(c, d);
        Value **made = arena_alloc(c->arena, sizeof(Value *) * (size_t)(d->keys.len + 1));
        for (int i = 0; i < d->keys.len; i++)
            made[idx[i]] = placeholders_for(c, d->vals.data[idx[i]], in, nin, k, flat, depth + 1);
        Value *r = v_dict(c);
        for (int i = 0; i < d->keys.len; i++)
            dict_set(c, r->u.dict, d->keys.data[i], made[i]);
        return r;
    }
    return v;
}

// Output shapes of graph g for new input shapes: every node's shape rule is
// run again (no nodes are recorded). Used when a functional model or a
// Sequential is called as a layer on inputs of another shape.
bool graph_infer(Ctx *c, Layer *m, Graph *g, const Shape *in, Shape *out, int *nout, Span at) {
    int cap = 16;
    Tensor **keys = arena_alloc(c->arena, sizeof(Tensor *) * (size_t)cap);
    Shape *vals = arena_alloc(c->arena, sizeof(Shape) * (size_t)cap);
    int n = 0;
#define PUT(t, s)                                                                       \
    do {                                                                                \
        if (n == cap) {                                                                 \
            Tensor **k2 = arena_alloc(c->arena, sizeof(Tensor *) * (size_t)cap * 2);    \
            Shape *v2 = arena_alloc(c->arena, sizeof(Shape) * (size_t)cap * 2);         \
            memcpy(k2, keys, sizeof(Tensor *) * (size_t)n);                             \
            memcpy(v2, vals, sizeof(Shape) * (size_t)n);                                \
            keys = k2, vals = v2, cap *= 2;                                             \
        }                                                                               \
        keys[n] = (t);                                                                  \
        vals[n] = (s);                                                                  \
        n++;                                                                            \
    } while (0)
    for (int i = 0; i < g->ninputs; i++) {
        const Shape *want = &g->inputs[i]->shape;
        if (want->rank != in[i].rank) {
            error_at(c, at,
                     "Input %d of %s is incompatible with the layer: expected shape=%s, found "
                     "shape=%s",
                     i, layer_label(c, m), shape_pystr(c->arena, want),
                     shape_pystr(c->arena, &in[i]));
            return false;
        }
        for (int k = 1; k < want->rank; k++)
            if (want->d[k] != DIM_NONE && in[i].d[k] != DIM_NONE && want->d[k] != in[i].d[k]) {
                error_at(c, at, "Input %d of %s is incompatible with the layer: expected shape=%s, "
                         "found shape=%s", i, layer_label(c, m), shape_pystr(c->arena, want),
                         shape_pystr(c->arena, &in[i]));
                return false;
            }
        PUT(g->inputs[i], in[i]);
    }
    for (int i = 0; i < g->nnodes; i++) {
        CallNode *nd = g->nodes[i];
        if (nd->nin == 0)
            continue;
        Shape ins[MAX_IO], outs[MAX_IO];
        int nouts = 0;
        for (int k = 0; k < nd->nin && k < MAX_IO; k++) {
            int j = n - 1;
            while (j >= 0 && keys[j] != nd->in[k])
                j--;
            ins[k] = j >= 0 ? vals[j] : nd->in[k]->shape;
        }
        Value *os = NULL;
        Value *extras = nd->layer->model && nd->layer->model->kind == MODEL_SUBCLASS
                            ? nd->kwargs : NULL;
        if (!layer_infer_shapes(c, nd->layer, ins, nd->nin, nd->in_struct, extras, outs, &nouts,
                                &os, at))
            return false;
        for (int k = 0; k < nouts && k < nd->nout; k++)
            PUT(nd->out[k], outs[k]);
    }
#undef PUT
    *nout = g->noutputs;
    for (int i = 0; i < g->noutputs; i++) {
        int j = n - 1;
        while (j >= 0 && keys[j] != g->outputs[i])
            j--;
        out[i] = j >= 0 ? vals[j] : g->outputs[i]->shape;
    }
    return true;
}

// Models bound to top-level names, in binding order, each once.
void top_level_models(Ctx *c, Vec *names, Vec *models) {
    Dict *g = c->globals->vars;
    for (int i = 0; i < g->keys.len; i++) {
        Value *v = g->vals.data[i];
        if (v->kind != V_LAYER || !v->u.layer->model || v->u.layer->model->custom_layer)
            continue;
        bool seen = false;
        for (int k = 0; k < models->len; k++)
            if (models->data[k] == v->u.layer)
                seen = true;
        if (seen)
            continue;
        vec_push(c->arena, names, (void *)((Value *)g->keys.data[i])->u.str.s);
        vec_push(c->arena, models, v->u.layer);
    }
}
