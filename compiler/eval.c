/*
 * eval.c - the compile-time interpreter.
 *
 * A .kdl program is run by the compiler: statements execute in order,
 * expressions produce Values (numbers, strings, containers, functions,
 * classes, layers, symbolic tensors, models). Calling a layer on a tensor
 * records a CallNode, so running the program builds the layer graph.
 *
 * Requires: a parsed ND_BLOCK (parser.y) and the keras module (keras.c).
 * Provides: c->globals with every top-level binding; layers, models and
 * nodes in c->layers / c->models.
 *
 * Errors never stop execution: the failing expression evaluates to V_ERROR
 * (poison), which every operation passes through silently, so one mistake
 * is reported once and independent mistakes are all reported. Evaluation is
 * bounded (MAX_STEPS statements/expressions, MAX_CALL_DEPTH nested calls,
 * container and string size limits) so no input can hang the compiler.
 */
#include "kdlc.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- values ---------------------------------------------------------------

static Value error_value = {.kind = V_ERROR};
static Value none_value = {.kind = V_NONE};
static Value true_value = {.kind = V_BOOL, .u.b = true};
static Value false_value = {.kind = V_BOOL, .u.b = false};

Value *v_error(void) { return &error_value; }
Value *v_none(void) { return &none_value; }
Value *v_bool(bool b) { return b ? &true_value : &false_value; }

static Value *v_new(Ctx *c, ValueKind k) {
    Value *v = arena_alloc(c->arena, sizeof *v);
    v->kind = k;
    return v;
}

Value *v_int(Ctx *c, int64_t i) {
    Value *v = v_new(c, V_INT);
    v->u.i = i;
    return v;
}

Value *v_float(Ctx *c, double f) {
    Value *v = v_new(c, V_FLOAT);
    v->u.f = f;
    return v;
}

Value *v_strn(Ctx *c, const char *s, size_t n) {
    Value *v = v_new(c, V_STR);
    v->u.str.s = arena_strndup(c->arena, s, n);
    v->u.str.len = n;
    return v;
}

Value *v_str(Ctx *c, const char *s) {
    return v_strn(c, s, strlen(s));
}

Value *v_list(Ctx *c) {
    Value *v = v_new(c, V_LIST);
    v->u.list = arena_alloc(c->arena, sizeof(List));
    return v;
}

Value *v_tuple(Ctx *c) {
    Value *v = v_list(c);
    v->kind = V_TUPLE;
    return v;
}

Value *v_dict(Ctx *c) {
    Value *v = v_new(c, V_DICT);
    v->u.dict = arena_alloc(c->arena, sizeof(Dict));
    return v;
}

Value *v_layer(Ctx *c, Layer *l) {
    Value *v = v_new(c, V_LAYER);
    v->u.layer = l;
    return v;
}

Value *v_tensor(Ctx *c, Tensor *t) {
    Value *v = v_new(c, V_TENSOR);
    v->u.tensor = t;
    return v;
}

void list_append(Ctx *c, Value *list, Value *item) {
    vec_push(c->arena, &list->u.list->items, item);
}

int list_len(const Value *v) {
    return v->u.list->items.len;
}

Value *list_get(const Value *v, int i) {
    return v->u.list->items.data[i];
}

static bool is_seq(const Value *v) {
    return v->kind == V_LIST || v->kind == V_TUPLE;
}

bool is_number(const Value *v) {
    return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_BOOL;
}

double num_val(const Value *v) {
    if (v->kind == V_INT)
        return (double)v->u.i;
    if (v->kind == V_BOOL)
        return v->u.b;
    return v->u.f;
}

static bool is_int_like(const Value *v) {
    return v->kind == V_INT || v->kind == V_BOOL;
}

static int64_t int_val(const Value *v) {
    return v->kind == V_BOOL ? v->u.b : v->u.i;
}

static bool value_eq_depth(const Value *a, const Value *b, int depth);

bool value_eq(const Value *a, const Value *b) {
    return value_eq_depth(a, b, 0);
}

// Containers can contain themselves (a.append(a)); past a depth of 100 two
// containers compare equal only if they are the same object.
static bool value_eq_depth(const Value *a, const Value *b, int depth) {
    if (a == b)
        return true;
    if (depth > 100)
        return false;
    if (is_number(a) && is_number(b)) {
        if (is_int_like(a) && is_int_like(b))
            return int_val(a) == int_val(b);
        return num_val(a) == num_val(b);
    }
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case V_NONE: return true;
    case V_STR:
        return a->u.str.len == b->u.str.len && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case V_LIST: case V_TUPLE:
        if (list_len(a) != list_len(b))
            return false;
        for (int i = 0; i < list_len(a); i++)
            if (!value_eq_depth(list_get(a, i), list_get(b, i), depth + 1))
                return false;
        return true;
    case V_DICT: {
        // Equal when they hold the same pairs, in any order.
        Dict *x = a->u.dict, *y = b->u.dict;
        if (x->keys.len != y->keys.len)
            return false;
        for (int i = 0; i < x->keys.len; i++) {
            Value *other = dict_get(y, x->keys.data[i]);
            if (!other || !value_eq_depth(x->vals.data[i], other, depth + 1))
                return false;
        }
        return true;
    }
    case V_LAYER: return a->u.layer == b->u.layer;
    case V_TENSOR: return a->u.tensor == b->u.tensor;
    case V_MODULE: return a->u.module == b->u.module;
    case V_FUNC: return a->u.func == b->u.func;
    case V_BUILTIN: return a->u.builtin == b->u.builtin;
    case V_CLASS:
        return a->u.cls.kind == b->u.cls.kind && a->u.cls.layer == b->u.cls.layer &&
               a->u.cls.user == b->u.cls.user && a->u.cls.object == b->u.cls.object &&
               (a->u.cls.kind == CLS_LAYER || a->u.cls.kind == CLS_USER ||
                a->u.cls.kind == CLS_OBJECT || !strcmp(a->u.cls.name, b->u.cls.name));
    default:
        return a == b;
    }
}

void dict_set(Ctx *c, Dict *d, Value *key, Value *val) {
    for (int i = 0; i < d->keys.len; i++)
        if (value_eq(d->keys.data[i], key)) {
            d->vals.data[i] = val;
            return;
        }
    vec_push(c->arena, &d->keys, key);
    vec_push(c->arena, &d->vals, val);
}

Value *dict_get(Dict *d, const Value *key) {
    for (int i = 0; i < d->keys.len; i++)
        if (value_eq(d->keys.data[i], key))
            return d->vals.data[i];
    return NULL;
}

Value *dict_get_str(Dict *d, const char *key) {
    size_t n = strlen(key);
    for (int i = 0; i < d->keys.len; i++) {
        Value *k = d->keys.data[i];
        if (k->kind == V_STR && k->u.str.len == n && !memcmp(k->u.str.s, key, n))
            return d->vals.data[i];
    }
    return NULL;
}

static void dict_set_str(Ctx *c, Dict *d, const char *key, Value *val) {
    dict_set(c, d, v_str(c, key), val);
}

bool value_truthy(const Value *v) {
    switch (v->kind) {
    case V_NONE: return false;
    case V_BOOL: return v->u.b;
    case V_INT: return v->u.i != 0;
    case V_FLOAT: return v->u.f != 0;
    case V_STR: return v->u.str.len != 0;
    case V_LIST: case V_TUPLE: return list_len(v) != 0;
    case V_DICT: return v->u.dict->keys.len != 0;
    default: return true;
    }
}

const char *value_type_name(const Value *v) {
    switch (v->kind) {
    case V_ERROR: return "error";
    case V_NONE: return "NoneType";
    case V_BOOL: return "bool";
    case V_INT: return "int";
    case V_FLOAT: return "float";
    case V_STR: return "str";
    case V_LIST: return "list";
    case V_TUPLE: return "tuple";
    case V_DICT: return "dict";
    case V_FUNC: return v->u.func->owner ? "method" : "function";
    case V_BUILTIN: return "builtin_function";
    case V_METHOD: return "method";
    case V_CLASS: return "type";
    case V_LAYER: return v->u.layer->class_name;
    case V_TENSOR: return "KerasTensor";
    case V_MODULE: return "module";
    case V_OBJECT: return v->u.object->cls;
    case V_SUPER: return "super";
    case V_INSTANCE: return v->u.inst.cls->name;
    }
    return "?";
}

// Python's float repr: the shortest digits that round-trip, written in
// fixed notation when the decimal exponent is in [-4, 16), else as
// d.ddde+XX; integral values keep a ".0".
static const char *float_repr(Arena *a, double x) {
    if (isnan(x))
        return "nan";
    if (isinf(x))
        return x > 0 ? "inf" : "-inf";
    char sci[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, x);
        if (strtod(sci, NULL) == x)
            break;
    }
    // sci is [-]d[.ddd]e[+-]XX: split into digits and exponent.
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < 23)
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int exp = atoi(p + 1);
    Buf b = {0};
    if (neg)
        buf_putc(a, &b, '-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            buf_puts(a, &b, "0.");
            for (int i = 0; i < -exp - 1; i++)
                buf_putc(a, &b, '0');
            buf_puts(a, &b, digits);
        } else if (exp >= nd - 1) {
            buf_puts(a, &b, digits);
            for (int i = 0; i < exp - (nd - 1); i++)
                buf_putc(a, &b, '0');
            buf_puts(a, &b, ".0");
        } else {
            buf_putn(a, &b, digits, (size_t)exp + 1);
            buf_putc(a, &b, '.');
            buf_puts(a, &b, digits + exp + 1);
        }
    } else {
        buf_putc(a, &b, digits[0]);
        if (nd > 1) {
            buf_putc(a, &b, '.');
            buf_puts(a, &b, digits + 1);
        }
        buf_printf(a, &b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return buf_str(a, &b);
}

static void repr_into(Ctx *c, Buf *b, const Value *v, bool top_str, int depth) {
    Arena *a = c->arena;
    if (depth > 100 || b->len > (1u << 20)) {
        buf_puts(a, b, "...");     // a container that contains itself, or a huge one
        return;
    }
    switch (v->kind) {
    case V_ERROR: buf_puts(a, b, "<error>"); break;
    case V_NONE: buf_puts(a, b, "None"); break;
    case V_BOOL: buf_puts(a, b, v->u.b ? "True" : "False"); break;
    case V_INT: buf_printf(a, b, "%lld", (long long)v->u.i); break;
    case V_FLOAT:
        buf_puts(a, b, float_repr(a, v->u.f));
        break;
    case V_STR:
        if (top_str)
            buf_putn(a, b, v->u.str.s, v->u.str.len);
        else
            buf_puts(a, b, py_repr_str(a, v->u.str.s));
        break;
    case V_LIST: case V_TUPLE: {
        bool tup = v->kind == V_TUPLE;
        buf_putc(a, b, tup ? '(' : '[');
        for (int i = 0; i < list_len(v); i++) {
            if (i)
                buf_puts(a, b, ", ");
            repr_into(c, b, list_get(v, i), false, depth + 1);
        }
        if (tup && list_len(v) == 1)
            buf_putc(a, b, ',');
        buf_putc(a, b, tup ? ')' : ']');
        break;
    }
    case V_DICT: {
        Dict *d = v->u.dict;
        buf_putc(a, b, '{');
        for (int i = 0; i < d->keys.len; i++) {
            if (i)
                buf_puts(a, b, ", ");
            repr_into(c, b, d->keys.data[i], false, depth + 1);
            buf_puts(a, b, ": ");
            repr_into(c, b, d->vals.data[i], false, depth + 1);
        }
        buf_putc(a, b, '}');
        break;
    }
    case V_FUNC: buf_printf(a, b, "<function %s>", v->u.func->name); break;
    case V_BUILTIN: buf_printf(a, b, "<built-in function %s>", v->u.builtin->name); break;
    case V_METHOD: buf_puts(a, b, "<bound method>"); break;
    case V_CLASS: buf_printf(a, b, "<class '%s'>", v->u.cls.name); break;
    case V_LAYER:
        buf_printf(a, b, "<%s name=%s, built=%s>", v->u.layer->class_name, v->u.layer->name,
                   v->u.layer->built ? "True" : "False");
        break;
    case V_TENSOR: {
        Tensor *t = v->u.tensor;
        buf_printf(a, b, "<KerasTensor shape=%s, dtype=%s, sparse=False, ragged=False, name=%s>",
                   shape_pystr(a, &t->shape), dtype_name(t->dtype), t->name);
        break;
    }
    case V_MODULE: buf_printf(a, b, "<module '%s'>", v->u.module->name); break;
    case V_OBJECT: buf_printf(a, b, "<%s.%s>", v->u.object->module, v->u.object->cls); break;
    case V_SUPER: buf_puts(a, b, "<super>"); break;
    case V_INSTANCE: buf_printf(a, b, "<%s object>", v->u.inst.cls->name); break;
    }
}

char *value_repr(Ctx *c, const Value *v) {
    Buf b = {0};
    repr_into(c, &b, v, false, 0);
    return (char *)buf_str(c->arena, &b);
}

char *value_str(Ctx *c, const Value *v) {
    Buf b = {0};
    repr_into(c, &b, v, true, 0);
    return (char *)buf_str(c->arena, &b);
}

// ---- context --------------------------------------------------------------

static Env *env_new(Ctx *c, Env *parent) {
    Env *e = arena_alloc(c->arena, sizeof *e);
    e->vars = arena_alloc(c->arena, sizeof(Dict));
    e->parent = parent;
    return e;
}


Ctx *ctx_new(FILE *out, FILE *err) {
    Arena *a = arena_new();
    Ctx *c = arena_alloc(a, sizeof *c);
    c->arena = a;
    c->out = out;
    c->err = err;
    c->name_uids = arena_alloc(a, sizeof(Dict));
    c->globals = env_new(c, NULL);
    c->training_ctx = -1;
    c->summary_columns = 80;
    builtins_init(c);
    keras_init(c);
    return c;
}

void ctx_free(Ctx *c) {
    if (c)
        arena_free(c->arena);
}

const char *auto_name(Ctx *c, const char *base) {
    Value *n = dict_get_str(c->name_uids, base);
    if (!n) {
        dict_set_str(c, c->name_uids, base, v_int(c, 1));
        return arena_strdup(c->arena, base);
    }
    int64_t k = n->u.i;
    n->u.i = k + 1;
    return arena_printf(c->arena, "%s_%lld", base, (long long)k);
}

// Every statement and expression costs a step; past MAX_STEPS evaluation
// stops with one error (an unbounded loop or a huge range).
#define MAX_MEMORY ((size_t)2 << 30)

static bool step(Ctx *c, Span at) {
    // Memory is bounded like time: a program building huge containers stops
    // with an error instead of exhausting the machine.
    if ((c->steps & 1023) == 0 && arena_bytes(c->arena) > MAX_MEMORY) {
        if (c->steps <= MAX_STEPS)
            error_at(c, at, "compile-time evaluation uses more than %zu MiB of memory",
                     MAX_MEMORY >> 20);
        c->steps = MAX_STEPS + 2;
        return false;
    }
    if (++c->steps <= MAX_STEPS)
        return true;
    if (c->steps == MAX_STEPS + 1)
        error_at(c, at, "compile-time evaluation exceeded %d steps (is there an unbounded loop?)",
                 MAX_STEPS);
    return false;
}

// ---- signatures -----------------------------------------------------------

static Value *eval_expr(Ctx *c, Env *env, Node *n);

Sig *sig_parse(Ctx *c, const char *text) {
    char *src = arena_printf(c->arena, "f(%s)", text);
    SrcFile *f = src_from_string(c, "<signature>", src, strlen(src));
    Node *call = parse_expr_text(c, f);
    if (!call || call->kind != ND_CALL)
        die("bad internal signature: %s", text);
    Sig *s = arena_alloc(c->arena, sizeof *s);
    s->nparams = call->items.len;
    s->params = arena_alloc(c->arena, sizeof(Param) * (size_t)(s->nparams + 1));
    Env *env = env_new(c, NULL);
    for (int i = 0; i < call->items.len; i++) {
        Node *a = call->items.data[i];
        Param *p = &s->params[i];
        if (a->kind == ND_NAME) {
            p->name = a->name;
        } else if (a->kind == ND_KWARG) {
            p->name = a->name;
            p->dflt = eval_expr(c, env, a->rhs);
        } else if (a->kind == ND_STARRED && a->lhs->kind == ND_NAME) {
            p->name = a->lhs->name;
            p->kind = 1;
        } else if (a->kind == ND_DSTAR && a->lhs->kind == ND_NAME) {
            p->name = a->lhs->name;
            p->kind = 2;
        } else {
            die("bad internal signature: %s", text);
        }
    }
    return s;
}

Sig *sig_cached(Ctx *c, const char *text) {
    Vec *v = &c->sig_cache;
    for (int i = 0; i + 1 < v->len; i += 2)
        if (v->data[i] == text)
            return v->data[i + 1];
    Sig *s = sig_parse(c, text);
    vec_push(c->arena, v, (void *)text);
    vec_push(c->arena, v, s);
    return s;
}

Sig *layer_class_sig(Ctx *c, const LayerClass *cls) {
    return sig_cached(c, cls->sig);
}

static int sig_find(const Sig *sig, const char *name);

bool sig_has(const Sig *sig, const char *name) {
    return sig_find(sig, name) >= 0;
}

static int sig_find(const Sig *sig, const char *name) {
    for (int i = 0; i < sig->nparams; i++)
        if (sig->params[i].kind != 1 && sig->params[i].kind != 2 &&
            !strcmp(sig->params[i].name, name))
            return i;
    return -1;
}

bool sig_bind(Ctx *c, const Sig *sig, const char *what, Arg *args, int nargs, Span call,
              Value **out, Span *spans) {
    bool ok = true;
    int star = -1, dstar = -1, npos_params = 0;
    for (int i = 0; i < sig->nparams; i++) {
        out[i] = NULL;
        spans[i] = call;
        if (sig->params[i].kind == 1)
            star = i;
        else if (sig->params[i].kind == 2)
            dstar = i;
        else if (star < 0 && sig->params[i].kind == 0)
            npos_params++;
    }
    Value *star_val = star >= 0 ? v_tuple(c) : NULL;
    Value *dstar_val = dstar >= 0 ? v_dict(c) : NULL;
    int pos = 0;
    for (int i = 0; i < nargs; i++) {
        Arg *a = &args[i];
        if (!a->kw) {
            if (pos < npos_params) {
                out[pos] = a->val;
                spans[pos] = a->span;
                pos++;
            } else if (star_val) {
                list_append(c, star_val, a->val);
            } else {
                error_at(c, a->span, "%s takes %d positional argument%s but %d were given", what,
                         npos_params, npos_params == 1 ? "" : "s", npos_params + (nargs - i));
                ok = false;
                break;
            }
            continue;
        }
        int k = sig_find(sig, a->kw);
        if (k < 0) {
            if (dstar_val) {
                dict_set(c, dstar_val->u.dict, v_str(c, a->kw), a->val);
                continue;
            }
            error_at(c, a->span, "%s got an unexpected keyword argument '%s'", what, a->kw);
            ok = false;
            continue;
        }
        if (out[k]) {
            error_at(c, a->span, "%s got multiple values for argument '%s'", what, a->kw);
            ok = false;
            continue;
        }
        out[k] = a->val;
        spans[k] = a->span;
    }
    for (int i = 0; i < sig->nparams; i++) {
        if (i == star) {
            out[i] = star_val;
        } else if (i == dstar) {
            out[i] = dstar_val;
        } else if (!out[i]) {
            if (sig->params[i].dflt) {
                out[i] = sig->params[i].dflt;
            } else {
                if (ok)
                    error_at(c, call, "%s missing required argument '%s'", what,
                             sig->params[i].name);
                ok = false;
                out[i] = v_error();
            }
        }
    }
    return ok;
}

// ---- environments ----------------------------------------------------------

// A user binding of `name` (not a builtin), or NULL.
static Value *env_lookup_local(Env *env, const char *name) {
    Value key = {.kind = V_STR, .u.str = {name, strlen(name)}};
    for (Env *e = env; e; e = e->parent) {
        Value *v = dict_get(e->vars, &key);
        if (v)
            return v;
    }
    return NULL;
}

// A name as Python resolves it: local scopes, the module, then builtins.
static Value *env_lookup(Ctx *c, Env *env, const char *name) {
    Value *v = env_lookup_local(env, name);
    return v ? v : dict_get_str(c->builtins, name);
}

static void env_set(Ctx *c, Env *env, const char *name, Value *v) {
    dict_set_str(c, env->vars, name, v);
}

// Levenshtein distance for "did you mean" hints (short names only).
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m) m = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < m) m = d[i - 1][j - 1] + cost;
            d[i][j] = m;
        }
    return d[la][lb];
}

// The closest key of `d` to `name`, or NULL if nothing is close.
const char *closest_name(Dict *d, const char *name) {
    const char *best = NULL;
    int bestd = 3;
    size_t n = strlen(name);
    for (int i = 0; i < d->keys.len; i++) {
        Value *k = d->keys.data[i];
        if (k->kind != V_STR)
            continue;
        int dist = edit_distance(name, k->u.str.s);
        int limit = n <= 3 ? 1 : n <= 6 ? 2 : 3;
        if (dist <= limit && dist < bestd) {
            bestd = dist;
            best = k->u.str.s;
        }
    }
    return best;
}

// ---- function calls -------------------------------------------------------

typedef enum { FLOW_NORMAL, FLOW_RETURN, FLOW_BREAK, FLOW_CONTINUE } Flow;

typedef struct Frame {
    Value *ret;
} Frame;

static Flow exec_block(Ctx *c, Env *env, Node *block, Frame *fr);

// A bare `*` is not a parameter: the parameters after it are keyword-only
// (kind 3), so extra positional arguments are an error.
static Sig *sig_from_def(Ctx *c, Env *env, Node *def) {
    Sig *s = arena_alloc(c->arena, sizeof *s);
    s->params = arena_alloc(c->arena, sizeof(Param) * (size_t)(def->items.len + 1));
    bool kwonly = false;
    for (int i = 0; i < def->items.len; i++) {
        Node *p = def->items.data[i];
        if (p->param_kind == 1 && !strcmp(p->name, "*")) {
            kwonly = true;
            continue;
        }
        Param *q = &s->params[s->nparams++];
        q->name = p->name;
        q->kind = p->param_kind;
        if (p->param_kind == 1)
            kwonly = true;
        else if (kwonly && p->param_kind == 0)
            q->kind = 3;
        if (p->dflt)
            q->dflt = eval_expr(c, env, p->dflt);
    }
    return s;
}

static Value *call_func(Ctx *c, Func *fn, Value *self, Arg *args, int nargs, Span call) {
    if (c->call_depth >= MAX_CALL_DEPTH) {
        error_at(c, call, "maximum recursion depth exceeded (%d nested calls) calling %s()",
                 MAX_CALL_DEPTH, fn->name);
        return v_error();
    }
    int n = nargs + (self ? 1 : 0);
    Arg *all = arena_alloc(c->arena, sizeof(Arg) * (size_t)(n + 1));
    if (self)
        all[0] = (Arg){NULL, self, call};
    memcpy(all + (self ? 1 : 0), args, sizeof(Arg) * (size_t)nargs);
    Value **vals = arena_alloc(c->arena, sizeof(Value *) * (size_t)(fn->sig->nparams + 1));
    Span *spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(fn->sig->nparams + 1));
    const char *what = arena_printf(c->arena, "%s()", fn->name);
    if (!sig_bind(c, fn->sig, what, all, n, call, vals, spans))
        return v_error();
    Env *env = env_new(c, fn->globals);
    for (int i = 0; i < fn->sig->nparams; i++)
        env_set(c, env, fn->sig->params[i].name, vals[i]);
    Frame fr = {v_none()};
    Func *saved = c->cur_func;
    c->cur_func = fn;
    c->call_depth++;
    exec_block(c, env, fn->def->body, &fr);
    c->call_depth--;
    c->cur_func = saved;
    return fr.ret;
}

static Value *call_builtin(Ctx *c, Builtin *b, Value *self, Arg *args, int nargs, Span call) {
    Sig *s = sig_cached(c, b->sig);
    Value **vals = arena_alloc(c->arena, sizeof(Value *) * (size_t)(s->nparams + 1));
    Span *spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(s->nparams + 1));
    const char *what = arena_printf(c->arena, "%s()", b->name);
    if (!sig_bind(c, s, what, args, nargs, call, vals, spans))
        return v_error();
    return b->fn(c, self, vals, spans, call);
}

static Value *instantiate_user(Ctx *c, UserClass *uc, Arg *args, int nargs, Span call);

Value *call_value(Ctx *c, Value *fn, Arg *args, int nargs, Span call) {
    for (int i = 0; i < nargs; i++)
        if (args[i].val->kind == V_ERROR)
            return v_error();
    switch (fn->kind) {
    case V_ERROR:
        return v_error();
    case V_FUNC:
        return call_func(c, fn->u.func, NULL, args, nargs, call);
    case V_BUILTIN:
        return call_builtin(c, fn->u.builtin, NULL, args, nargs, call);
    case V_METHOD: {
        Value *f = fn->u.method.fn;
        if (f->kind == V_FUNC)
            return call_func(c, f->u.func, fn->u.method.self, args, nargs, call);
        return call_builtin(c, f->u.builtin, fn->u.method.self, args, nargs, call);
    }
    case V_CLASS:
        switch (fn->u.cls.kind) {
        case CLS_LAYER:
            return layer_construct(c, fn->u.cls.layer, args, nargs, call);
        case CLS_USER:
            return instantiate_user(c, fn->u.cls.user, args, nargs, call);
        default:
            return keras_construct(c, fn, args, nargs, call);
        }
    case V_LAYER:
        // layer(inputs, training=..., mask=..., ...)
        return layer_call_args(c, fn->u.layer, args, nargs, call);
    default:
        // keras.activations.relu is the string "relu" in kdl; applied to a
        // tensor it would be a tensor operation (keras.ops), which kdl
        // writes as a layer.
        if (fn->kind == V_STR && nargs > 0 && args[0].val->kind == V_TENSOR) {
            ActKind k;
            if (act_lookup(fn->u.str.s, &k)) {
                error_at(c, call, "applying the activation '%s' to a tensor is a tensor "
                         "operation, which kdl does not support: use "
                         "layers.Activation(\"%s\")(x) or the layer's activation= argument",
                         fn->u.str.s, fn->u.str.s);
                return v_error();
            }
        }
        error_at(c, call, "'%s' object is not callable", value_type_name(fn));
        return v_error();
    }
}

// ---- user classes -----------------------------------------------------------

static Value *instantiate_plain(Ctx *c, UserClass *uc, Arg *args, int nargs, Span call) {
    Value *self = v_new(c, V_INSTANCE);
    self->u.inst.cls = uc;
    self->u.inst.attrs = arena_alloc(c->arena, sizeof(Dict));
    Value *init = dict_get_str(uc->methods, "__init__");
    if (init && init->kind == V_FUNC) {
        Value *r = call_func(c, init->u.func, self, args, nargs, call);
        if (r->kind == V_ERROR)
            return v_error();
    } else if (nargs > 0) {
        error_at(c, call, "%s() takes no arguments", uc->name);
        return v_error();
    }
    return self;
}

static Value *instantiate_user(Ctx *c, UserClass *uc, Arg *args, int nargs, Span call) {
    if (uc->plain)
        return instantiate_plain(c, uc, args, nargs, call);
    Layer *l = uc->is_model ? model_new_subclass(c, uc, call) : layer_new_custom(c, uc, call);
    Value *self = v_layer(c, l);
    Value *init = dict_get_str(uc->methods, "__init__");
    if (init) {
        Value *r = call_func(c, init->u.func, self, args, nargs, call);
        if (r->kind == V_ERROR)
            return v_error();
        if (r->kind != V_NONE)
            error_at(c, call, "__init__() should return None, not '%s'", value_type_name(r));
    } else {
        // keras.Model.__init__ / Layer.__init__ accept name=, trainable=, dtype=.
        keras_base_init(c, l, args, nargs, call);
    }
    // No super().__init__() call: Keras would name it at that call.
    if (!l->name)
        l->name = auto_name(c, snake_case(c->arena, l->class_name));
    return self;
}

// ---- attribute access -------------------------------------------------------

static Value *bind_builtin(Ctx *c, Value *self, Builtin *b) {
    Value *fn = v_new(c, V_BUILTIN);
    fn->u.builtin = b;
    Value *m = v_new(c, V_METHOD);
    m->u.method.self = self;
    m->u.method.fn = fn;
    return m;
}



static Builtin *find_method(Builtin *table, const char *name) {
    for (Builtin *b = table; b->name; b++) {
        const char *dot = strrchr(b->name, '.');
        if (!strcmp(dot ? dot + 1 : b->name, name))
            return b;
    }
    return NULL;
}

Value *get_attr(Ctx *c, Value *obj, const char *name, Span at) {
    switch (obj->kind) {
    case V_ERROR:
        return v_error();
    case V_MODULE: {
        Value *v = dict_get_str(obj->u.module->attrs, name);
        if (v)
            return v;
        if (!strcmp(obj->u.module->name, "keras.ops")) {
            error_at(c, at, "keras.ops.%s is not supported by kdl: tensor operations must be "
                     "written with layers (e.g. layers.Add, layers.Activation)", name);
            return v_error();
        }
        if (keras_api_has(obj->u.module->name, name)) {
            error_at(c, at, "%s.%s is part of Keras 3 but not supported by kdl", obj->u.module->name,
                     name);
            return v_error();
        }
        const char *hint = closest_name(obj->u.module->attrs, name);
        if (hint)
            error_at(c, at, "module '%s' has no attribute '%s'; did you mean '%s'?",
                     obj->u.module->name, name, hint);
        else
            error_at(c, at, "module '%s' has no attribute '%s'", obj->u.module->name, name);
        return v_error();
    }
    case V_LAYER:
        return layer_get_attr(c, obj, name, at);
    case V_TENSOR:
        return tensor_get_attr(c, obj, name, at);
    case V_LIST: case V_TUPLE: case V_DICT: case V_STR: {
        Builtin *table = obj->kind == V_DICT ? dict_methods : obj->kind == V_STR ? str_methods
                                                                                 : list_methods;
        Builtin *b = find_method(table, name);
        if (b && (obj->kind != V_TUPLE || !strcmp(name, "index") || !strcmp(name, "count")))
            return bind_builtin(c, obj, b);
        break;
    }
    case V_INSTANCE: {
        Value *v = dict_get_str(obj->u.inst.attrs, name);
        if (v)
            return v;
        Value *m = dict_get_str(obj->u.inst.cls->methods, name);
        if (m && m->kind == V_FUNC) {
            Value *bm = v_new(c, V_METHOD);
            bm->u.method.self = obj;
            bm->u.method.fn = m;
            return bm;
        }
        if (m)
            return m;
        break;
    }
    case V_SUPER: {
        // A user parent class's method if it has one, else the keras base.
        Value *self = obj->u.super.self;
        UserClass *parent = obj->u.super.from->parent;
        Value *m = parent ? dict_get_str(parent->methods, name) : NULL;
        if (m && m->kind == V_FUNC) {
            Value *bm = v_new(c, V_METHOD);
            bm->u.method.self = self;
            bm->u.method.fn = m;
            return bm;
        }
        if (!strcmp(name, "__init__"))
            return bind_builtin(c, self, &keras_base_init_builtin);
        return layer_base_attr(c, self, name, at);
    }
    case V_CLASS:
        if (obj->u.cls.kind == CLS_USER) {
            Value *m = dict_get_str(obj->u.cls.user->methods, name);
            if (m)
                return m;
        }
        if (!strcmp(name, "__name__"))
            return v_str(c, obj->u.cls.name);
        break;
    case V_OBJECT: {
        Object *o = obj->u.object;
        if (o->sig) {
            int k = sig_find(o->sig, name);
            if (k >= 0)
                return o->args[k];
        }
        break;
    }
    default:
        break;
    }
    error_at(c, at, "'%s' object has no attribute '%s'", value_type_name(obj), name);
    return v_error();
}

// ---- expressions --------------------------------------------------------------

static Value *type_error(Ctx *c, Span at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static Value *type_error(Ctx *c, Span at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_at(c, at, "%s", msg);
    return v_error();
}

#define MAX_SEQ_LEN 1000000
#define MAX_STR_LEN (16 << 20)

static bool checked_mul(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}

static Value *concat_seq(Ctx *c, Value *a, Value *b, Span at) {
    if (list_len(a) + list_len(b) > MAX_SEQ_LEN)
        return type_error(c, at, "sequence too long (more than %d items)", MAX_SEQ_LEN);
    Value *r = a->kind == V_LIST ? v_list(c) : v_tuple(c);
    for (int i = 0; i < list_len(a); i++)
        list_append(c, r, list_get(a, i));
    for (int i = 0; i < list_len(b); i++)
        list_append(c, r, list_get(b, i));
    return r;
}

static Value *repeat_value(Ctx *c, Value *s, int64_t n, Span at) {
    if (n < 0)
        n = 0;
    if (s->kind == V_STR) {
        int64_t total;
        if (!checked_mul((int64_t)s->u.str.len, n, &total) || total > MAX_STR_LEN)
            return type_error(c, at, "string too long (more than %d bytes)", MAX_STR_LEN);
        Buf b = {0};
        for (int64_t i = 0; i < n; i++)
            buf_putn(c->arena, &b, s->u.str.s, s->u.str.len);
        return v_strn(c, buf_str(c->arena, &b), b.len);
    }
    int64_t total;
    if (!checked_mul(list_len(s), n, &total) || total > MAX_SEQ_LEN)
        return type_error(c, at, "sequence too long (more than %d items)", MAX_SEQ_LEN);
    Value *r = s->kind == V_LIST ? v_list(c) : v_tuple(c);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < list_len(s); j++)
            list_append(c, r, list_get(s, j));
    return r;
}

static const char *binop_sym(OpKind op) {
    return op_name(op);
}

// Integer power with overflow detection.
static bool ipow(int64_t base, int64_t exp, int64_t *out) {
    int64_t r = 1;
    while (exp > 0) {
        if (exp & 1)
            if (__builtin_mul_overflow(r, base, &r))
                return false;
        exp >>= 1;
        if (exp && __builtin_mul_overflow(base, base, &base))
            return false;
    }
    *out = r;
    return true;
}

Value *binary_op(Ctx *c, OpKind op, Value *a, Value *b, Span at) {
    if (a->kind == V_ERROR || b->kind == V_ERROR)
        return v_error();
    if (a->kind == V_TENSOR || b->kind == V_TENSOR)
        return tensor_binop(c, op, a, b, at);
    if (is_number(a) && is_number(b)) {
        bool ints = is_int_like(a) && is_int_like(b);
        if (ints) {
            int64_t x = int_val(a), y = int_val(b), r;
            switch (op) {
            case OP_ADD:
                if (__builtin_add_overflow(x, y, &r)) goto overflow;
                return v_int(c, r);
            case OP_SUB:
                if (__builtin_sub_overflow(x, y, &r)) goto overflow;
                return v_int(c, r);
            case OP_MUL:
                if (__builtin_mul_overflow(x, y, &r)) goto overflow;
                return v_int(c, r);
            case OP_FLOORDIV: case OP_MOD:
                if (y == 0)
                    return type_error(c, at, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) goto overflow;
                {
                    int64_t q = x / y, m = x % y;
                    if (m != 0 && ((m < 0) != (y < 0))) {
                        q--;
                        m += y;
                    }
                    return v_int(c, op == OP_FLOORDIV ? q : m);
                }
            case OP_POW:
                if (y >= 0) {
                    if (!ipow(x, y, &r)) goto overflow;
                    return v_int(c, r);
                }
                return v_float(c, pow((double)x, (double)y));
            case OP_DIV:
                if (y == 0)
                    return type_error(c, at, "division by zero");
                return v_float(c, (double)x / (double)y);
            default:
                break;
            }
        } else {
            double x = num_val(a), y = num_val(b);
            switch (op) {
            case OP_ADD: return v_float(c, x + y);
            case OP_SUB: return v_float(c, x - y);
            case OP_MUL: return v_float(c, x * y);
            case OP_DIV:
                if (y == 0) return type_error(c, at, "float division by zero");
                return v_float(c, x / y);
            case OP_FLOORDIV:
                if (y == 0) return type_error(c, at, "float floor division by zero");
                return v_float(c, floor(x / y));
            case OP_MOD:
                if (y == 0) return type_error(c, at, "float modulo by zero");
                return v_float(c, x - floor(x / y) * y);
            case OP_POW: return v_float(c, pow(x, y));
            default: break;
            }
        }
    }
    if (op == OP_ADD && a->kind == V_STR && b->kind == V_STR) {
        if (a->u.str.len + b->u.str.len > MAX_STR_LEN)
            return type_error(c, at, "string too long");
        Buf s = {0};
        buf_putn(c->arena, &s, a->u.str.s, a->u.str.len);
        buf_putn(c->arena, &s, b->u.str.s, b->u.str.len);
        return v_strn(c, buf_str(c->arena, &s), s.len);
    }
    if (op == OP_ADD && a->kind == b->kind && is_seq(a))
        return concat_seq(c, a, b, at);
    if (op == OP_MUL && (a->kind == V_STR || is_seq(a)) && is_int_like(b))
        return repeat_value(c, a, int_val(b), at);
    if (op == OP_MUL && (b->kind == V_STR || is_seq(b)) && is_int_like(a))
        return repeat_value(c, b, int_val(a), at);
    if (op == OP_MOD && a->kind == V_STR)
        return str_percent_format(c, a, b, at);
    return type_error(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", binop_sym(op),
                      value_type_name(a), value_type_name(b));
overflow:
    return type_error(c, at, "integer overflow in %s (kdl integers are 64-bit)", binop_sym(op));
}

static int compare_values(Ctx *c, OpKind op, Value *a, Value *b, Span at) {
    if (op == OP_EQ || op == OP_NE) {
        bool eq = value_eq(a, b);
        return op == OP_EQ ? eq : !eq;
    }
    if (op == OP_IS || op == OP_IS_NOT) {
        bool same = a == b || (a->kind == V_NONE && b->kind == V_NONE) ||
                    (a->kind == V_BOOL && b->kind == V_BOOL && a->u.b == b->u.b) ||
                    (a->kind == V_LAYER && b->kind == V_LAYER && a->u.layer == b->u.layer) ||
                    (a->kind == V_TENSOR && b->kind == V_TENSOR && a->u.tensor == b->u.tensor);
        return op == OP_IS ? same : !same;
    }
    if (op == OP_IN || op == OP_NOT_IN) {
        bool found = false;
        if (is_seq(b)) {
            for (int i = 0; i < list_len(b) && !found; i++)
                found = value_eq(a, list_get(b, i));
        } else if (b->kind == V_DICT) {
            found = dict_get(b->u.dict, a) != NULL;
        } else if (b->kind == V_STR && a->kind == V_STR) {
            found = strstr(b->u.str.s, a->u.str.s) != NULL;
        } else {
            type_error(c, at, "argument of type '%s' is not iterable", value_type_name(b));
            return -1;
        }
        return op == OP_IN ? found : !found;
    }
    int cmp;
    if (a->kind == b->kind && is_seq(a)) {
        // Lexicographic, as Python compares lists and tuples.
        int i = 0, na = list_len(a), nb = list_len(b);
        while (i < na && i < nb && value_eq(list_get(a, i), list_get(b, i)))
            i++;
        if (i < na && i < nb)
            return compare_values(c, op, list_get(a, i), list_get(b, i), at);
        cmp = na < nb ? -1 : na > nb;
    } else if (is_number(a) && is_number(b)) {
        double x = num_val(a), y = num_val(b);
        if (is_int_like(a) && is_int_like(b))
            cmp = int_val(a) < int_val(b) ? -1 : int_val(a) > int_val(b);
        else
            cmp = x < y ? -1 : x > y;
    } else if (a->kind == V_STR && b->kind == V_STR) {
        cmp = strcmp(a->u.str.s, b->u.str.s);
    } else {
        type_error(c, at, "'%s' not supported between instances of '%s' and '%s'", op_name(op),
                   value_type_name(a), value_type_name(b));
        return -1;
    }
    switch (op) {
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    case OP_GT: return cmp > 0;
    case OP_GE: return cmp >= 0;
    default: unreachable();
    }
}

// Normalise a Python index (negative counts from the end); -1 if out of range.
static int64_t norm_index(int64_t i, int64_t n) {
    if (i < 0)
        i += n;
    return (i < 0 || i >= n) ? -1 : i;
}

static Value *slice_seq(Ctx *c, Value *seq, Value *lo, Value *hi, Value *stepv, Span at) {
    int64_t n = seq->kind == V_STR ? (int64_t)seq->u.str.len : list_len(seq);
    int64_t st = 1;
    if (stepv && stepv->kind != V_NONE) {
        if (!is_int_like(stepv))
            return type_error(c, at, "slice indices must be integers or None");
        st = int_val(stepv);
        if (st == 0)
            return type_error(c, at, "slice step cannot be zero");
    }
    int64_t b, e;
    for (int k = 0; k < 2; k++) {
        Value *v = k == 0 ? lo : hi;
        int64_t *dst = k == 0 ? &b : &e;
        if (!v || v->kind == V_NONE) {
            *dst = st > 0 ? (k == 0 ? 0 : n) : (k == 0 ? n - 1 : -1);
            continue;
        }
        if (!is_int_like(v))
            return type_error(c, at, "slice indices must be integers or None");
        int64_t x = int_val(v);
        if (x < 0) {
            x += n;
            if (x < 0)
                x = st > 0 ? 0 : -1;
        } else if (x > n) {
            x = st > 0 ? n : n - 1;
        }
        *dst = x;
    }
    if (seq->kind == V_STR) {
        Buf buf = {0};
        for (int64_t i = b; st > 0 ? i < e : i > e; i += st)
            buf_putc(c->arena, &buf, seq->u.str.s[i]);
        return v_strn(c, buf_str(c->arena, &buf), buf.len);
    }
    Value *r = seq->kind == V_LIST ? v_list(c) : v_tuple(c);
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st)
        list_append(c, r, list_get(seq, (int)i));
    return r;
}

static Value *index_value(Ctx *c, Value *obj, Value *idx, Span at) {
    if (obj->kind == V_ERROR || idx->kind == V_ERROR)
        return v_error();
    if (is_seq(obj) || obj->kind == V_STR) {
        if (!is_int_like(idx))
            return type_error(c, at, "%s indices must be integers or slices, not %s",
                              value_type_name(obj), value_type_name(idx));
        int64_t n = obj->kind == V_STR ? (int64_t)obj->u.str.len : list_len(obj);
        int64_t i = norm_index(int_val(idx), n);
        if (i < 0)
            return type_error(c, at, "%s index out of range (index %lld, length %lld)",
                              value_type_name(obj), (long long)int_val(idx), (long long)n);
        if (obj->kind == V_STR)
            return v_strn(c, obj->u.str.s + i, 1);
        return list_get(obj, (int)i);
    }
    if (obj->kind == V_DICT) {
        Value *v = dict_get(obj->u.dict, idx);
        if (!v)
            return type_error(c, at, "KeyError: %s", value_repr(c, idx));
        return v;
    }
    if (obj->kind == V_TENSOR)
        return type_error(c, at, "slicing a KerasTensor is not supported in .kdl files; use a "
                                 "layer (Reshape, Cropping, ...) instead");
    return type_error(c, at, "'%s' object is not subscriptable", value_type_name(obj));
}

// super() and super(Class, self) inside a method of a user class.
static Value *eval_super(Ctx *c, Env *env, Node *n) {
    Value *self = NULL;
    UserClass *from = c->cur_func ? c->cur_func->owner : NULL;
    if (n->items.len == 2) {
        Value *cls = eval_expr(c, env, n->items.data[0]);
        self = eval_expr(c, env, n->items.data[1]);
        if (cls->kind == V_ERROR || self->kind == V_ERROR)
            return v_error();
        if (cls->kind == V_CLASS && cls->u.cls.kind == CLS_USER)
            from = cls->u.cls.user;
    } else if (n->items.len == 0) {
        self = env->parent ? env_lookup(c, env, "self") : NULL;
    }
    if (!from || !self || self->kind != V_LAYER) {
        error_at(c, n->span, "super() is only supported inside a method of a class derived from "
                 "keras.Model or keras.layers.Layer");
        return v_error();
    }
    Value *v = v_new(c, V_SUPER);
    v->u.super.self = self;
    v->u.super.from = from;
    return v;
}

static Value *eval_call(Ctx *c, Env *env, Node *n) {
    if (n->fn->kind == ND_NAME && !strcmp(n->fn->name, "super") && !env_lookup_local(env, "super"))
        return eval_super(c, env, n);
    Value *fn = eval_expr(c, env, n->fn);
    Arg *args = arena_alloc(c->arena, sizeof(Arg) * (size_t)(n->items.len + 1));
    int nargs = 0, cap = n->items.len + 1;
    bool bad = false;
    for (int i = 0; i < n->items.len; i++) {
        Node *a = n->items.data[i];
        if (a->kind == ND_KWARG) {
            args[nargs++] = (Arg){a->name, eval_expr(c, env, a->rhs), a->span};
        } else if (a->kind == ND_STARRED || a->kind == ND_DSTAR) {
            Value *v = eval_expr(c, env, a->lhs);
            if (v->kind == V_ERROR) {
                bad = true;
                continue;
            }
            bool dict = a->kind == ND_DSTAR;
            if (dict ? v->kind != V_DICT : !is_seq(v)) {
                error_at(c, a->lhs->span, "argument after %s must be %s, not %s", dict ? "**" : "*",
                         dict ? "a dict" : "a list or tuple", value_type_name(v));
                bad = true;
                continue;
            }
            int extra = dict ? v->u.dict->keys.len : list_len(v);
            if (nargs + extra >= cap) {
                Arg *grown = arena_alloc(c->arena, sizeof(Arg) * (size_t)(nargs + extra + cap));
                memcpy(grown, args, sizeof(Arg) * (size_t)nargs);
                args = grown;
                cap = nargs + extra + cap;
            }
            for (int k = 0; k < extra; k++) {
                if (dict) {
                    Value *key = v->u.dict->keys.data[k];
                    if (key->kind != V_STR) {
                        error_at(c, a->lhs->span, "keywords must be strings");
                        bad = true;
                        continue;
                    }
                    args[nargs++] = (Arg){key->u.str.s, v->u.dict->vals.data[k], a->span};
                } else {
                    args[nargs++] = (Arg){NULL, list_get(v, k), a->span};
                }
            }
        } else {
            args[nargs++] = (Arg){NULL, eval_expr(c, env, a), a->span};
        }
    }
    if (bad || fn->kind == V_ERROR)
        return v_error();
    return call_value(c, fn, args, nargs, n->span);
}

static Flow assign_target(Ctx *c, Env *env, Node *t, Value *v, Span at);

static Value *eval_listcomp(Ctx *c, Env *env, Node *n) {
    // [elt for target in iter if cond]; the comprehension has its own scope.
    Value *seq = eval_expr(c, env, n->iter);
    if (seq->kind == V_ERROR)
        return v_error();
    Value *items = iterate(c, seq, n->iter->span);
    if (items->kind == V_ERROR)
        return v_error();
    Env *inner = env_new(c, env);
    Value *out = v_list(c);
    for (int i = 0; i < list_len(items); i++) {
        if (!step(c, n->span))
            return v_error();
        assign_target(c, inner, n->target, list_get(items, i), n->target->span);
        if (n->cond) {
            Value *ok = eval_expr(c, inner, n->cond);
            if (ok->kind == V_ERROR)
                return v_error();
            if (!value_truthy(ok))
                continue;
        }
        Value *v = eval_expr(c, inner, n->lhs);
        list_append(c, out, v);
    }
    return out;
}

// Decode the backslash escapes of an f-string's literal text (the lexer
// keeps f-string bodies raw so fields can be found by position).
static void put_unescaped(Ctx *c, Buf *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            buf_putc(c->arena, out, s[i]);
            continue;
        }
        char e = s[++i];
        switch (e) {
        case 'n': buf_putc(c->arena, out, '\n'); break;
        case 't': buf_putc(c->arena, out, '\t'); break;
        case 'r': buf_putc(c->arena, out, '\r'); break;
        case 'a': buf_putc(c->arena, out, '\a'); break;
        case 'b': buf_putc(c->arena, out, '\b'); break;
        case 'f': buf_putc(c->arena, out, '\f'); break;
        case 'v': buf_putc(c->arena, out, '\v'); break;
        case '0': buf_putc(c->arena, out, '\0'); break;
        case '\\': case '\'': case '"': buf_putc(c->arena, out, e); break;
        case '\n': break;
        case 'x':
            if (i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                isxdigit((unsigned char)s[i + 2])) {
                char hex[3] = {s[i + 1], s[i + 2], 0};
                buf_putc(c->arena, out, (char)strtol(hex, NULL, 16));
                i += 2;
                break;
            }
            buf_puts(c->arena, out, "\\x");
            break;
        default:
            buf_putc(c->arena, out, '\\');
            buf_putc(c->arena, out, e);
            break;
        }
    }
}

// Is the string literal at span s raw (an r/R in its prefix)?
static bool fstring_is_raw(Span s) {
    const char *t = s.file->text + s.start;
    for (int i = 0; i < 3 && t[i] != '\'' && t[i] != '"'; i++)
        if (t[i] == 'r' || t[i] == 'R')
            return true;
    return false;
}

// Evaluate the expression text [from, to) of an f-string at file offset base.
static Value *fstring_field(Ctx *c, Env *env, Node *n, int base, size_t from, size_t to) {
    Node *e = parse_expr_at(c, (SrcFile *)n->span.file, base + (int)from, (int)(to - from));
    return e ? eval_expr(c, env, e) : v_error();
}

// The end of a replacement field's expression: the first top-level '}',
// '!' (not '!=') or ':' outside brackets and strings.
static size_t field_end(const char *s, size_t i, size_t len) {
    int depth = 0;
    char quote = 0;
    for (; i < len; i++) {
        char ch = s[i];
        if (quote) {
            if (ch == quote)
                quote = 0;
            continue;
        }
        if (ch == '\'' || ch == '"')
            quote = ch;
        else if (ch == '(' || ch == '[' || ch == '{')
            depth++;
        else if ((ch == ')' || ch == ']' || ch == '}') && depth > 0)
            depth--;
        else if (depth == 0 &&
                 (ch == '}' || ch == ':' || (ch == '!' && !(i + 1 < len && s[i + 1] == '='))))
            return i;
    }
    return len;
}

static Value *eval_fstring(Ctx *c, Env *env, Node *n) {
    // f"...{expr!conv:spec}...": fields are parsed from the source text so
    // their errors point at the right column; a spec may itself contain
    // {fields}; conversions are !s, !r and !a; specs follow Python's
    // mini-language (format_spec).
    const char *s = n->str;
    size_t len = n->slen;
    int body = (int)n->ival;
    bool raw = fstring_is_raw(n->span);
    Buf out = {0};
    size_t lit = 0;     // start of the pending literal text
#define FLUSH(upto)                                                         \
    do {                                                                    \
        if (raw)                                                            \
            buf_putn(c->arena, &out, s + lit, (upto) - lit);                \
        else                                                                \
            put_unescaped(c, &out, s + lit, (upto) - lit);                  \
    } while (0)
#define AT(i) ((Span){n->span.file, body + (int)(i), body + (int)(i) + 1})
    for (size_t i = 0; i < len; i++) {
        if ((s[i] == '{' || s[i] == '}') && i + 1 < len && s[i + 1] == s[i]) {
            FLUSH(i + 1);
            i++;
            lit = i + 1;
            continue;
        }
        if (s[i] == '}') {
            error_at(c, AT(i), "f-string: single '}' is not allowed");
            return v_error();
        }
        if (s[i] != '{')
            continue;
        FLUSH(i);
        size_t j = field_end(s, i + 1, len);
        if (j >= len) {
            error_at(c, AT(i), "f-string: expecting '}'");
            return v_error();
        }
        if (j == i + 1) {
            error_at(c, AT(i), "f-string: empty expression not allowed");
            return v_error();
        }
        Value *v = fstring_field(c, env, n, body, i + 1, j);
        if (v->kind == V_ERROR)
            return v_error();
        char conv = 0;
        if (s[j] == '!') {
            conv = j + 1 < len ? s[j + 1] : 0;
            if (conv != 's' && conv != 'r' && conv != 'a') {
                error_at(c, (Span){n->span.file, body + (int)j, body + (int)j + 2},
                         "f-string: invalid conversion character: expected 's', 'r', or 'a'");
                return v_error();
            }
            j += 2;
        }
        // The spec runs to the matching '}', with nested {fields} replaced.
        Buf spec = {0};
        bool has_spec = j < len && s[j] == ':';
        size_t k = has_spec ? j + 1 : j;
        while (has_spec && k < len && s[k] != '}') {
            if (s[k] == '{') {
                size_t e2 = field_end(s, k + 1, len);
                if (e2 >= len || s[e2] != '}') {
                    error_at(c, AT(k), "f-string: expecting '}' in the format spec");
                    return v_error();
                }
                Value *sv = fstring_field(c, env, n, body, k + 1, e2);
                if (sv->kind == V_ERROR)
                    return v_error();
                buf_puts(c->arena, &spec, value_str(c, sv));
                k = e2 + 1;
            } else {
                buf_putc(c->arena, &spec, s[k++]);
            }
        }
        if (k >= len || s[k] != '}') {
            error_at(c, AT(i), "f-string: expecting '}'");
            return v_error();
        }
        if (conv)
            v = v_str(c, conv == 's' ? value_str(c, v) : value_repr(c, v));
        const char *text = format_spec(c, v, has_spec ? buf_str(c->arena, &spec) : NULL,
                                       (Span){n->span.file, body + (int)j, body + (int)k});
        if (!text)
            return v_error();
        buf_puts(c->arena, &out, text);
        if (out.len > MAX_STR_LEN)
            return type_error(c, n->span, "string too long (more than %d bytes)", MAX_STR_LEN);
        i = k;
        lit = k + 1;
    }
    FLUSH(len);
#undef FLUSH
#undef AT
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

#define MAX_EXPR_DEPTH 500

static Value *eval_expr_inner(Ctx *c, Env *env, Node *n);

// Nesting is bounded so that a pathological expression (a + a + ... with
// 100,000 terms parses into a deep tree) cannot exhaust the C stack.
static Value *eval_expr(Ctx *c, Env *env, Node *n) {
    if (!step(c, n->span))
        return v_error();
    if (c->expr_depth >= MAX_EXPR_DEPTH) {
        if (!c->depth_reported)
            error_at(c, n->span, "expression nested too deeply (more than %d levels)",
                     MAX_EXPR_DEPTH);
        c->depth_reported = true;
        return v_error();
    }
    c->expr_depth++;
    Value *v = eval_expr_inner(c, env, n);
    c->expr_depth--;
    return v;
}

static Value *eval_expr_inner(Ctx *c, Env *env, Node *n) {
    switch (n->kind) {
    case ND_NAME: {
        Value *v = env_lookup(c, env, n->name);
        if (v)
            return v;
        const char *hint = NULL;
        for (Env *e = env; e && !hint; e = e->parent)
            hint = closest_name(e->vars, n->name);
        if (!hint)
            hint = closest_name(c->builtins, n->name);
        if (hint)
            error_at(c, n->span, "name '%s' is not defined; did you mean '%s'?", n->name, hint);
        else
            error_at(c, n->span, "name '%s' is not defined", n->name);
        return v_error();
    }
    case ND_INT: return v_int(c, n->ival);
    case ND_FLOAT: return v_float(c, n->fval);
    case ND_STR: return v_strn(c, n->str, n->slen);
    case ND_FSTR: return eval_fstring(c, env, n);
    case ND_NONE: return v_none();
    case ND_TRUE: return v_bool(true);
    case ND_FALSE: return v_bool(false);
    case ND_LIST: case ND_TUPLE: {
        Value *v = n->kind == ND_LIST ? v_list(c) : v_tuple(c);
        List *l = v->u.list;
        l->spans = arena_alloc(c->arena, sizeof(Span) * (size_t)(n->items.len + 1));
        l->nspans = n->items.len;
        for (int i = 0; i < n->items.len; i++) {
            Node *it = n->items.data[i];
            l->spans[i] = it->span;
            list_append(c, v, eval_expr(c, env, it));
        }
        return v;
    }
    case ND_DICT: {
        Value *v = v_dict(c);
        for (int i = 0; i + 1 < n->items.len; i += 2) {
            Value *k = eval_expr(c, env, n->items.data[i]);
            Value *val = eval_expr(c, env, n->items.data[i + 1]);
            if (k->kind == V_LIST || k->kind == V_DICT) {
                error_at(c, ((Node *)n->items.data[i])->span, "unhashable type: '%s'",
                         value_type_name(k));
                continue;
            }
            dict_set(c, v->u.dict, k, val);
        }
        return v;
    }
    case ND_LISTCOMP: return eval_listcomp(c, env, n);
    case ND_CALL: return eval_call(c, env, n);
    case ND_ATTR: {
        Value *obj = eval_expr(c, env, n->lhs);
        return get_attr(c, obj, n->name, n->rhs->span);
    }
    case ND_INDEX: {
        Value *obj = eval_expr(c, env, n->lhs);
        if (n->rhs->kind == ND_SLICE) {
            Node *s = n->rhs;
            Value *lo = s->lhs ? eval_expr(c, env, s->lhs) : NULL;
            Value *hi = s->rhs ? eval_expr(c, env, s->rhs) : NULL;
            Value *st = s->cond ? eval_expr(c, env, s->cond) : NULL;
            if (obj->kind == V_ERROR || (lo && lo->kind == V_ERROR) ||
                (hi && hi->kind == V_ERROR) || (st && st->kind == V_ERROR))
                return v_error();
            if (!is_seq(obj) && obj->kind != V_STR)
                return type_error(c, n->span, "'%s' object is not sliceable", value_type_name(obj));
            return slice_seq(c, obj, lo, hi, st, n->rhs->span);
        }
        Value *idx = eval_expr(c, env, n->rhs);
        return index_value(c, obj, idx, n->rhs->span);
    }
    case ND_SLICE:
        return type_error(c, n->span, "a slice is only allowed inside [...]");
    case ND_BINOP: {
        Value *a = eval_expr(c, env, n->lhs);
        Value *b = eval_expr(c, env, n->rhs);
        return binary_op(c, n->op, a, b, n->span);
    }
    case ND_UNARY: {
        Value *a = eval_expr(c, env, n->lhs);
        if (a->kind == V_ERROR)
            return a;
        if (is_int_like(a)) {
            if (n->op == OP_POS)
                return v_int(c, int_val(a));
            if (int_val(a) == INT64_MIN)
                return type_error(c, n->span, "integer overflow in unary -");
            return v_int(c, -int_val(a));
        }
        if (a->kind == V_FLOAT)
            return v_float(c, n->op == OP_NEG ? -a->u.f : a->u.f);

        return type_error(c, n->span, "bad operand type for unary %s: '%s'", op_name(n->op),
                          value_type_name(a));
    }
    case ND_COMPARE: {
        Value *left = eval_expr(c, env, n->items.data[0]);
        for (int i = 0; i < n->ops.len; i++) {
            Node *rn = n->items.data[i + 1];
            Value *right = eval_expr(c, env, rn);
            if (left->kind == V_ERROR || right->kind == V_ERROR)
                return v_error();
            if (left->kind == V_TENSOR || right->kind == V_TENSOR)
                return type_error(c, n->span, "comparing symbolic tensors is not supported at "
                                              "compile time");
            int r = compare_values(c, (OpKind)(intptr_t)n->ops.data[i], left, right, n->span);
            if (r < 0)
                return v_error();
            if (!r)
                return v_bool(false);
            left = right;
        }
        return v_bool(true);
    }
    case ND_AND: case ND_OR: {
        Value *a = eval_expr(c, env, n->lhs);
        if (a->kind == V_ERROR)
            return a;
        if (a->kind == V_TENSOR)
            return type_error(c, n->lhs->span,
                              "a symbolic tensor has no truth value at compile time");
        bool t = value_truthy(a);
        if (n->kind == ND_AND ? !t : t)
            return a;
        return eval_expr(c, env, n->rhs);
    }
    case ND_NOT: {
        Value *a = eval_expr(c, env, n->lhs);
        if (a->kind == V_ERROR)
            return a;
        if (a->kind == V_TENSOR)
            return type_error(c, n->lhs->span,
                              "a symbolic tensor has no truth value at compile time");
        return v_bool(!value_truthy(a));
    }
    case ND_IFEXP: {
        Value *cond = eval_expr(c, env, n->cond);
        if (cond->kind == V_ERROR)
            return cond;
        if (cond->kind == V_TENSOR)
            return type_error(c, n->cond->span,
                              "a symbolic tensor has no truth value at compile time");
        return eval_expr(c, env, value_truthy(cond) ? n->lhs : n->rhs);
    }
    case ND_KWARG: case ND_STARRED: case ND_DSTAR:
        return type_error(c, n->span, "invalid syntax here");
    default:
        unreachable();
    }
}

// ---- iteration ------------------------------------------------------------------

// The items of an iterable as a list value (lists, tuples, dicts' keys,
// strings' characters); errors for anything else.
Value *iterate(Ctx *c, Value *v, Span at) {
    if (v->kind == V_ERROR)
        return v;
    if (is_seq(v))
        return v;
    if (v->kind == V_DICT) {
        Value *r = v_list(c);
        for (int i = 0; i < v->u.dict->keys.len; i++)
            list_append(c, r, v->u.dict->keys.data[i]);
        return r;
    }
    if (v->kind == V_STR) {
        Value *r = v_list(c);
        for (size_t i = 0; i < v->u.str.len; i++)
            list_append(c, r, v_strn(c, v->u.str.s + i, 1));
        return r;
    }
    if (v->kind == V_TENSOR)
        return type_error(c, at, "iterating over a symbolic tensor is not supported");
    return type_error(c, at, "'%s' object is not iterable", value_type_name(v));
}

// ---- statements ---------------------------------------------------------------------

static Flow assign_target(Ctx *c, Env *env, Node *t, Value *v, Span at) {
    switch (t->kind) {
    case ND_NAME:
        env_set(c, env, t->name, v);
        return FLOW_NORMAL;
    case ND_TUPLE: case ND_LIST: {
        if (v->kind == V_ERROR) {
            for (int i = 0; i < t->items.len; i++)
                assign_target(c, env, t->items.data[i], v, at);
            return FLOW_NORMAL;
        }
        Value *items = iterate(c, v, at);
        if (items->kind == V_ERROR) {
            for (int i = 0; i < t->items.len; i++)
                assign_target(c, env, t->items.data[i], v_error(), at);
            return FLOW_NORMAL;
        }
        if (list_len(items) != t->items.len) {
            error_at(c, at, list_len(items) > t->items.len
                                ? "too many values to unpack (expected %d, got %d)"
                                : "not enough values to unpack (expected %d, got %d)",
                     t->items.len, list_len(items));
            for (int i = 0; i < t->items.len; i++)
                assign_target(c, env, t->items.data[i], v_error(), at);
            return FLOW_NORMAL;
        }
        for (int i = 0; i < t->items.len; i++)
            assign_target(c, env, t->items.data[i], list_get(items, i), at);
        return FLOW_NORMAL;
    }
    case ND_ATTR: {
        Value *obj = eval_expr(c, env, t->lhs);
        if (obj->kind == V_ERROR)
            return FLOW_NORMAL;
        if (obj->kind == V_LAYER) {
            layer_set_attr(c, obj->u.layer, t->name, v, t->rhs->span, at);
            return FLOW_NORMAL;
        }
        if (obj->kind == V_INSTANCE) {
            dict_set_str(c, obj->u.inst.attrs, t->name, v);
            return FLOW_NORMAL;
        }
        error_at(c, t->rhs->span, "cannot set attribute '%s' on a '%s' value", t->name,
                 value_type_name(obj));
        return FLOW_NORMAL;
    }
    case ND_INDEX: {
        Value *obj = eval_expr(c, env, t->lhs);
        if (t->rhs->kind == ND_SLICE) {
            error_at(c, t->rhs->span, "slice assignment is not supported");
            return FLOW_NORMAL;
        }
        Value *idx = eval_expr(c, env, t->rhs);
        if (obj->kind == V_ERROR || idx->kind == V_ERROR)
            return FLOW_NORMAL;
        if (obj->kind == V_LIST) {
            if (!is_int_like(idx)) {
                error_at(c, t->rhs->span, "list indices must be integers, not %s",
                         value_type_name(idx));
                return FLOW_NORMAL;
            }
            int64_t i = norm_index(int_val(idx), list_len(obj));
            if (i < 0) {
                error_at(c, t->rhs->span, "list assignment index out of range");
                return FLOW_NORMAL;
            }
            obj->u.list->items.data[i] = v;
            return FLOW_NORMAL;
        }
        if (obj->kind == V_DICT) {
            dict_set(c, obj->u.dict, idx, v);
            return FLOW_NORMAL;
        }
        error_at(c, t->lhs->span, "'%s' object does not support item assignment",
                 value_type_name(obj));
        return FLOW_NORMAL;
    }
    default:
        error_at(c, t->span, "cannot assign to this expression");
        return FLOW_NORMAL;
    }
}

static void exec_import(Ctx *c, Env *env, Node *n) {
    for (int i = 0; i < n->items.len; i++) {
        Node *a = n->items.data[i];
        Module *m = keras_module_lookup(c, a->name);
        if (!m) {
            report_bad_import(c, a->name, a->span);
            continue;
        }
        if (a->alias) {
            env_set(c, env, a->alias, module_value(c, m));
        } else {
            // `import keras.layers` binds `keras`, as Python does.
            char *top = arena_strdup(c->arena, a->name);
            char *dot = strchr(top, '.');
            if (dot)
                *dot = 0;
            env_set(c, env, top, module_value(c, keras_module_lookup(c, top)));
        }
    }
}

static void exec_from_import(Ctx *c, Env *env, Node *n) {
    Module *m = keras_module_lookup(c, n->name);
    if (!m) {
        report_bad_import(c, n->name, n->lhs->span);
        return;
    }
    for (int i = 0; i < n->items.len; i++) {
        Node *a = n->items.data[i];
        if (!strcmp(a->name, "*"))
            continue;
        Value *v = dict_get_str(m->attrs, a->name);
        if (!v) {
            const char *hint = closest_name(m->attrs, a->name);
            if (hint)
                error_at(c, a->span, "cannot import name '%s' from '%s'; did you mean '%s'?",
                         a->name, m->name, hint);
            else
                error_at(c, a->span, "cannot import name '%s' from '%s'", a->name, m->name);
            v = v_error();
        }
        env_set(c, env, a->alias ? a->alias : a->name, v);
    }
}

static void exec_class(Ctx *c, Env *env, Node *n) {
    Value *base = NULL;
    for (int i = 0; i < n->items.len; i++) {
        Node *b = n->items.data[i];
        if (b->kind == ND_KWARG) {
            error_at(c, b->span, "class keyword arguments are not supported");
            continue;
        }
        if (b->kind == ND_NAME && !strcmp(b->name, "object"))
            continue;       // class Foo(object): a plain class
        Value *bv = eval_expr(c, env, b);
        if (bv->kind == V_ERROR) {
            base = bv;
            continue;
        }
        bool ok = bv->kind == V_CLASS &&
                  (bv->u.cls.kind == CLS_MODEL || bv->u.cls.kind == CLS_BASE_LAYER ||
                   (bv->u.cls.kind == CLS_USER));
        if (!ok) {
            error_at(c, b->span, "class %s: base class must be keras.Model or keras.layers.Layer "
                     "(or a class derived from them, or none), got %s", n->name, value_repr(c, bv));
            base = v_error();
            continue;
        }
        if (base) {
            error_at(c, b->span, "class %s: multiple base classes are not supported", n->name);
            continue;
        }
        base = bv;
    }
    UserClass *uc = arena_alloc(c->arena, sizeof *uc);
    uc->plain = base == NULL;
    uc->name = n->name;
    uc->def = n;
    uc->methods = arena_alloc(c->arena, sizeof(Dict));
    uc->base = base;
    if (base && base->kind == V_CLASS && base->u.cls.kind == CLS_USER) {
        UserClass *parent = base->u.cls.user;
        uc->is_model = parent->is_model;
        uc->plain = parent->plain;
        // Inherit methods: copy the parent's table first.
        for (int i = 0; i < parent->methods->keys.len; i++)
            dict_set(c, uc->methods, parent->methods->keys.data[i], parent->methods->vals.data[i]);
        uc->parent = parent;
    } else if (base) {
        uc->is_model = base->kind == V_CLASS && base->u.cls.kind == CLS_MODEL;
    }
    // The class body: defs become methods; simple assignments become class
    // attributes (kept as methods table entries); docstrings are ignored.
    Node *body = n->body;
    for (int i = 0; i < body->items.len; i++) {
        Node *s = body->items.data[i];
        if (s->kind == ND_DEF || (s->kind == ND_DECORATED && s->lhs->kind == ND_DEF)) {
            Node *def = s->kind == ND_DEF ? s : s->lhs;
            Func *f = arena_alloc(c->arena, sizeof *f);
            f->name = arena_printf(c->arena, "%s.%s", n->name, def->name);
            f->def = def;
            f->globals = c->globals;
            f->owner = uc;
            f->sig = sig_from_def(c, env, def);
            Value *fv = arena_alloc(c->arena, sizeof *fv);
            fv->kind = V_FUNC;
            fv->u.func = f;
            dict_set_str(c, uc->methods, def->name, fv);
            // Keras runs these overrides in fit()/evaluate()/predict(); the
            // code kdl generates runs Keras's standard steps instead.
            static const char *const steps[] = {"train_step", "test_step", "predict_step",
                                                "compute_loss", "compute_metrics", NULL};
            for (int k = 0; uc->is_model && !uc->plain && steps[k]; k++)
                if (!strcmp(def->name, steps[k]))
                    warning_at(c, def->span, "%s.%s() is not used by kdl: the generated "
                               "training and prediction code runs Keras's standard steps",
                               n->name, def->name);
        } else if (s->kind == ND_PASS || (s->kind == ND_EXPR_STMT && s->lhs->kind == ND_STR)) {
            // docstring / pass
        } else if (s->kind == ND_ASSIGN && s->items.len == 1 &&
                   ((Node *)s->items.data[0])->kind == ND_NAME) {
            dict_set_str(c, uc->methods, ((Node *)s->items.data[0])->name,
                         eval_expr(c, env, s->rhs));
        } else {
            error_at(c, s->span, "only method definitions, class attributes and docstrings are "
                                 "supported in a class body");
        }
    }
    Value *cv = arena_alloc(c->arena, sizeof *cv);
    cv->kind = V_CLASS;
    cv->u.cls.kind = CLS_USER;
    cv->u.cls.user = uc;
    cv->u.cls.name = uc->name;
    env_set(c, env, n->name, cv);
}

static void exec_def(Ctx *c, Env *env, Node *n) {
    Func *f = arena_alloc(c->arena, sizeof *f);
    f->name = n->name;
    f->def = n;
    f->globals = env->parent ? env : c->globals;
    f->sig = sig_from_def(c, env, n);
    Value *v = arena_alloc(c->arena, sizeof *v);
    v->kind = V_FUNC;
    v->u.func = f;
    env_set(c, env, n->name, v);
}

static Flow exec_stmt(Ctx *c, Env *env, Node *n, Frame *fr) {
    if (c->too_many || !step(c, n->span))
        return FLOW_RETURN;
    switch (n->kind) {
    case ND_EXPR_STMT:
        eval_expr(c, env, n->lhs);
        return FLOW_NORMAL;
    case ND_ASSIGN: {
        Value *v = eval_expr(c, env, n->rhs);
        for (int i = 0; i < n->items.len; i++)
            assign_target(c, env, n->items.data[i], v, n->rhs->span);
        return FLOW_NORMAL;
    }
    case ND_AUGASSIGN: {
        Value *cur = eval_expr(c, env, n->lhs);
        Value *rhs = eval_expr(c, env, n->rhs);
        Value *v;
        if (cur->kind == V_LIST && n->op == OP_ADD && rhs->kind != V_ERROR) {
            // list += iterable extends in place (l += l doubles l once).
            Value *items = iterate(c, rhs, n->rhs->span);
            v = cur;
            if (items->kind != V_ERROR) {
                int k = list_len(items);
                if (list_len(cur) + k > MAX_SEQ_LEN)
                    v = type_error(c, n->span, "sequence too long (more than %d items)",
                                   MAX_SEQ_LEN);
                else
                    for (int i = 0; i < k; i++)
                        list_append(c, cur, list_get(items, i));
            }
        } else {
            v = binary_op(c, n->op, cur, rhs, n->span);
        }
        assign_target(c, env, n->lhs, v, n->span);
        return FLOW_NORMAL;
    }
    case ND_IMPORT:
        exec_import(c, env, n);
        return FLOW_NORMAL;
    case ND_FROM_IMPORT:
        exec_from_import(c, env, n);
        return FLOW_NORMAL;
    case ND_DEF:
        exec_def(c, env, n);
        return FLOW_NORMAL;
    case ND_CLASS:
        exec_class(c, env, n);
        return FLOW_NORMAL;
    case ND_DECORATED: {
        // Decorators such as @keras.saving.register_keras_serializable() are
        // evaluated (so typos are reported) and otherwise have no effect.
        for (int i = 0; i < n->items.len; i++)
            eval_expr(c, env, n->items.data[i]);
        return exec_stmt(c, env, n->lhs, fr);
    }
    case ND_RETURN:
        if (!fr) {
            error_at(c, n->span, "'return' outside function");
            return FLOW_NORMAL;
        }
        fr->ret = n->lhs ? eval_expr(c, env, n->lhs) : v_none();
        return FLOW_RETURN;
    case ND_PASS:
        return FLOW_NORMAL;
    case ND_BREAK:
        return FLOW_BREAK;
    case ND_CONTINUE:
        return FLOW_CONTINUE;
    case ND_ASSERT: {
        Value *v = eval_expr(c, env, n->cond);
        if (v->kind == V_ERROR)
            return FLOW_NORMAL;
        if (!value_truthy(v)) {
            Value *msg = n->rhs ? eval_expr(c, env, n->rhs) : NULL;
            if (msg && msg->kind != V_ERROR)
                error_at(c, n->cond->span, "assertion failed: %s", value_str(c, msg));
            else
                error_at(c, n->cond->span, "assertion failed");
        }
        return FLOW_NORMAL;
    }
    case ND_IF: {
        Value *v = eval_expr(c, env, n->cond);
        if (v->kind == V_ERROR)
            return FLOW_NORMAL;
        if (v->kind == V_TENSOR) {
            error_at(c, n->cond->span, "`if` on a symbolic tensor: the condition must be known "
                                       "at compile time");
            return FLOW_NORMAL;
        }
        if (value_truthy(v))
            return exec_block(c, env, n->body, fr);
        if (n->orelse)
            return exec_block(c, env, n->orelse, fr);
        return FLOW_NORMAL;
    }
    case ND_WHILE:
        for (;;) {
            Value *v = eval_expr(c, env, n->cond);
            if (v->kind == V_ERROR || c->too_many || c->steps > MAX_STEPS)
                return FLOW_NORMAL;
            if (!value_truthy(v))
                return n->orelse ? exec_block(c, env, n->orelse, fr) : FLOW_NORMAL;
            Flow f = exec_block(c, env, n->body, fr);
            if (f == FLOW_BREAK)
                return FLOW_NORMAL;
            if (f == FLOW_RETURN)
                return f;
        }
    case ND_FOR: {
        Value *seq = eval_expr(c, env, n->iter);
        Value *items = iterate(c, seq, n->iter->span);
        if (items->kind == V_ERROR) {
            assign_target(c, env, n->target, v_error(), n->target->span);
            return FLOW_NORMAL;
        }
        // Iterate over a snapshot so appending inside the loop cannot loop forever.
        int len = list_len(items);
        Value **snap = arena_alloc(c->arena, sizeof(Value *) * (size_t)(len + 1));
        for (int i = 0; i < len; i++)
            snap[i] = list_get(items, i);
        for (int i = 0; i < len; i++) {
            if (c->too_many || c->steps > MAX_STEPS)
                return FLOW_RETURN;
            assign_target(c, env, n->target, snap[i], n->target->span);
            Flow f = exec_block(c, env, n->body, fr);
            if (f == FLOW_BREAK)
                return FLOW_NORMAL;
            if (f == FLOW_RETURN)
                return f;
        }
        if (n->orelse)
            return exec_block(c, env, n->orelse, fr);
        return FLOW_NORMAL;
    }
    case ND_BLOCK:
        return exec_block(c, env, n, fr);
    default:
        error_at(c, n->span, "this statement is not supported here");
        return FLOW_NORMAL;
    }
}

static Flow exec_block(Ctx *c, Env *env, Node *block, Frame *fr) {
    for (int i = 0; i < block->items.len; i++) {
        Flow f = exec_stmt(c, env, block->items.data[i], fr);
        if (f != FLOW_NORMAL)
            return f;
    }
    return FLOW_NORMAL;
}

bool eval_file(Ctx *c, Node *block) {
    int before = c->nerrors;
    exec_block(c, c->globals, block, NULL);
    return c->nerrors == before;
}

// Call a method of a user class on `self` (used by model tracing).
Value *call_method(Ctx *c, Value *self, Value *fn, Arg *args, int nargs, Span call) {
    return call_func(c, fn->u.func, self, args, nargs, call);
}
