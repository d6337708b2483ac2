/*
 * builtins.c - the Python builtins a model-building script uses (range, len,
 * print, str, int, float, list, tuple, dict, enumerate, zip, min, max, abs,
 * sum, round, isinstance, sorted, reversed, any, all, super) and the methods
 * of str, list and dict values.
 *
 * Each builtin is a C function with a Python-like signature string; eval.c
 * binds call arguments to it (so argument errors read like Python's).
 */
#include "kdlc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ARGS Ctx *c, Value *self, Value **a, Span *sp, Span call

static Value *err_at(Ctx *c, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static Value *err_at(Ctx *c, Span at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_at(c, at, "%s", msg);
    return v_error();
}

static bool any_error(Value **a, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] && a[i]->kind == V_ERROR)
            return true;
    return false;
}

static bool want_int(Ctx *c, Value *v, Span at, const char *fn, int64_t *out) {
    if (v->kind == V_INT || v->kind == V_BOOL) {
        *out = v->kind == V_BOOL ? v->u.b : v->u.i;
        return true;
    }
    error_at(c, at, "%s() argument must be an int, not '%s'", fn, value_type_name(v));
    return false;
}

#define MAX_RANGE 1000000

static Value *b_range(ARGS) {
    // range(stop) / range(start, stop[, step])
    Value *args = a[0];
    if (any_error(args->u.list->items.len ? (Value **)args->u.list->items.data : a, 0))
        return v_error();
    int n = list_len(args);
    if (n < 1 || n > 3)
        return err_at(c, call, "range expected 1 to 3 arguments, got %d", n);
    int64_t v[3] = {0, 0, 1};
    for (int i = 0; i < n; i++) {
        Value *x = list_get(args, i);
        if (x->kind == V_ERROR)
            return v_error();
        if (!want_int(c, x, call, "range", &v[n == 1 ? 1 : i]))
            return v_error();
    }
    if (n == 1)
        v[0] = 0;
    if (v[2] == 0)
        return err_at(c, call, "range() arg 3 must not be zero");
    Value *r = v_list(c);
    r->kind = V_TUPLE;
    int64_t count = 0;
    for (int64_t i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2]) {
        if (++count > MAX_RANGE)
            return err_at(c, call, "range() with more than %d items is too large for compile-time "
                          "evaluation", MAX_RANGE);
        list_append(c, r, v_int(c, i));
        if ((v[2] > 0 && i > INT64_MAX - v[2]) || (v[2] < 0 && i < INT64_MIN - v[2]))
            break;
    }
    return r;
}

static Value *b_len(ARGS) {
    Value *x = a[0];
    switch (x->kind) {
    case V_ERROR: return x;
    case V_STR: return v_int(c, (int64_t)x->u.str.len);
    case V_LIST: case V_TUPLE: return v_int(c, list_len(x));
    case V_DICT: return v_int(c, x->u.dict->keys.len);
    case V_LAYER:
        if (x->u.layer->model)
            return v_int(c, x->u.layer->model->layers.len);
        break;
    default: break;
    }
    return err_at(c, sp[0], "object of type '%s' has no len()", value_type_name(x));
}

static Value *b_print(ARGS) {
    Value *args = a[0], *sep = a[1], *end = a[2];
    for (int i = 0; i < list_len(args); i++)
        if (list_get(args, i)->kind == V_ERROR)
            return v_none();
    const char *s = sep->kind == V_STR ? sep->u.str.s : " ";
    const char *e = end->kind == V_STR ? end->u.str.s : "\n";
    if (c->quiet_summaries)
        return v_none();    // `kdlc summary` prints only the tables
    for (int i = 0; i < list_len(args); i++) {
        if (i)
            fputs(s, c->out);
        fputs(value_str(c, list_get(args, i)), c->out);
    }
    fputs(e, c->out);
    return v_none();
}

static Value *b_str(ARGS) {
    if (a[0]->kind == V_ERROR)
        return a[0];
    return v_str(c, value_str(c, a[0]));
}

static Value *b_repr(ARGS) {
    if (a[0]->kind == V_ERROR)
        return a[0];
    return v_str(c, value_repr(c, a[0]));
}

static Value *b_int(ARGS) {
    Value *x = a[0];
    switch (x->kind) {
    case V_ERROR: return x;
    case V_INT: return x;
    case V_BOOL: return v_int(c, x->u.b);
    case V_FLOAT:
        if (!isfinite(x->u.f) || fabs(x->u.f) >= 9.2e18)
            return err_at(c, sp[0], "cannot convert float %s to integer", value_repr(c, x));
        return v_int(c, (int64_t)x->u.f);
    case V_STR: {
        char *end;
        long long v = strtoll(x->u.str.s, &end, 10);
        while (*end == ' ')
            end++;
        if (end == x->u.str.s || *end)
            return err_at(c, sp[0], "invalid literal for int() with base 10: %s", value_repr(c, x));
        return v_int(c, v);
    }
    default:
        return err_at(c, sp[0], "int() argument must be a string or a number, not '%s'",
                      value_type_name(x));
    }
}

static Value *b_float(ARGS) {
    Value *x = a[0];
    if (x->kind == V_ERROR)
        return x;
    if (is_number(x))
        return v_float(c, num_val(x));
    if (x->kind == V_STR) {
        char *end;
        double v = strtod(x->u.str.s, &end);
        if (end == x->u.str.s || *end)
            return err_at(c, sp[0], "could not convert string to float: %s", value_repr(c, x));
        return v_float(c, v);
    }
    return err_at(c, sp[0], "float() argument must be a string or a number, not '%s'",
                  value_type_name(x));
}

static Value *b_bool(ARGS) {
    if (a[0]->kind == V_ERROR)
        return a[0];
    return v_bool(value_truthy(a[0]));
}

static Value *to_seq(Ctx *c, Value *x, Span at, bool tuple) {
    if (!x)
        return tuple ? v_tuple(c) : v_list(c);
    Value *items = iterate(c, x, at);
    if (items->kind == V_ERROR)
        return items;
    Value *r = tuple ? v_tuple(c) : v_list(c);
    for (int i = 0; i < list_len(items); i++)
        list_append(c, r, list_get(items, i));
    return r;
}

static Value *b_list(ARGS) {
    return to_seq(c, a[0]->kind == V_NONE && sp[0].start == call.start ? NULL : a[0], sp[0], false);
}

static Value *b_tuple(ARGS) {
    return to_seq(c, a[0]->kind == V_NONE && sp[0].start == call.start ? NULL : a[0], sp[0], true);
}

static Value *b_dict(ARGS) {
    Value *kw = a[0];
    Value *d = v_dict(c);
    for (int i = 0; i < kw->u.dict->keys.len; i++)
        dict_set(c, d->u.dict, kw->u.dict->keys.data[i], kw->u.dict->vals.data[i]);
    return d;
}

static Value *b_enumerate(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    int64_t start;
    if (!want_int(c, a[1], sp[1], "enumerate", &start))
        return v_error();
    Value *r = v_list(c);
    for (int i = 0; i < list_len(items); i++) {
        Value *t = v_tuple(c);
        list_append(c, t, v_int(c, start + i));
        list_append(c, t, list_get(items, i));
        list_append(c, r, t);
    }
    return r;
}

static Value *b_zip(ARGS) {
    Value *args = a[0];
    int n = list_len(args);
    Value **its = arena_alloc(c->arena, sizeof(Value *) * (size_t)(n + 1));
    int len = n ? 1 << 30 : 0;
    for (int i = 0; i < n; i++) {
        its[i] = iterate(c, list_get(args, i), call);
        if (its[i]->kind == V_ERROR)
            return v_error();
        if (list_len(its[i]) < len)
            len = list_len(its[i]);
    }
    Value *r = v_list(c);
    for (int k = 0; k < len; k++) {
        Value *t = v_tuple(c);
        for (int i = 0; i < n; i++)
            list_append(c, t, list_get(its[i], k));
        list_append(c, r, t);
    }
    return r;
}

static Value *minmax(Ctx *c, Value *args, Span call, bool want_max) {
    Value *items = args;
    if (list_len(args) == 1)
        items = iterate(c, list_get(args, 0), call);
    if (items->kind == V_ERROR)
        return items;
    if (list_len(items) == 0)
        return err_at(c, call, "%s() arg is an empty sequence", want_max ? "max" : "min");
    Value *best = list_get(items, 0);
    for (int i = 1; i < list_len(items); i++) {
        Value *x = list_get(items, i);
        if (x->kind == V_ERROR || best->kind == V_ERROR)
            return v_error();
        bool num = is_number(x) && is_number(best);
        if (!num && !(x->kind == V_STR && best->kind == V_STR))
            return err_at(c, call, "'>' not supported between instances of '%s' and '%s'",
                          value_type_name(x), value_type_name(best));
        int cmp = num ? (num_val(x) > num_val(best)) - (num_val(x) < num_val(best))
                      : strcmp(x->u.str.s, best->u.str.s);
        if (want_max ? cmp > 0 : cmp < 0)
            best = x;
    }
    return best;
}

static Value *b_min(ARGS) { return minmax(c, a[0], call, false); }
static Value *b_max(ARGS) { return minmax(c, a[0], call, true); }

static Value *b_abs(ARGS) {
    Value *x = a[0];
    if (x->kind == V_ERROR)
        return x;
    if (x->kind == V_INT) {
        if (x->u.i == INT64_MIN)
            return err_at(c, sp[0], "integer overflow in abs()");
        return v_int(c, x->u.i < 0 ? -x->u.i : x->u.i);
    }
    if (x->kind == V_FLOAT)
        return v_float(c, fabs(x->u.f));
    if (x->kind == V_BOOL)
        return v_int(c, x->u.b);
    return err_at(c, sp[0], "bad operand type for abs(): '%s'", value_type_name(x));
}

static Value *b_sum(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    Value *acc = a[1];
    for (int i = 0; i < list_len(items); i++) {
        acc = binary_op(c, OP_ADD, acc, list_get(items, i), sp[0]);
        if (acc->kind == V_ERROR)
            return acc;
    }
    return acc;
}

static Value *b_round(ARGS) {
    Value *x = a[0], *nd = a[1];
    if (x->kind == V_ERROR || nd->kind == V_ERROR)
        return v_error();
    if (!is_number(x))
        return err_at(c, sp[0], "type %s doesn't define __round__ method", value_type_name(x));
    if (nd->kind == V_NONE) {
        if (x->kind != V_FLOAT)
            return v_int(c, (int64_t)num_val(x));
        double r = nearbyint(x->u.f);   // round half to even, as Python
        if (!isfinite(r) || fabs(r) >= 9.2e18)
            return err_at(c, sp[0], "cannot convert float to integer");
        return v_int(c, (int64_t)r);
    }
    int64_t n;
    if (!want_int(c, nd, sp[1], "round", &n))
        return v_error();
    double scale = pow(10.0, (double)n);
    return v_float(c, nearbyint(num_val(x) * scale) / scale);
}

// isinstance(x, cls) for the classes a script can name: builtin types via
// their names and keras classes.
static Value *b_isinstance(ARGS) {
    Value *x = a[0], *cls = a[1];
    if (x->kind == V_ERROR || cls->kind == V_ERROR)
        return v_error();
    Value *opts = (cls->kind == V_TUPLE) ? cls : NULL;
    int n = opts ? list_len(opts) : 1;
    for (int i = 0; i < n; i++) {
        Value *k = opts ? list_get(opts, i) : cls;
        if (k->kind == V_BUILTIN) {
            const char *want = k->u.builtin->name;
            const char *have = value_type_name(x);
            if (!strcmp(want, have) || (!strcmp(want, "int") && x->kind == V_BOOL))
                return v_bool(true);
            continue;
        }
        if (k->kind != V_CLASS)
            return err_at(c, sp[1], "isinstance() arg 2 must be a type or tuple of types");
        if (x->kind != V_LAYER)
            continue;
        Layer *l = x->u.layer;
        switch (k->u.cls.kind) {
        case CLS_LAYER:
            if (l->cls == k->u.cls.layer)
                return v_bool(true);
            break;
        case CLS_BASE_LAYER:
            return v_bool(true);
        case CLS_MODEL:
            if (l->model)
                return v_bool(true);
            break;
        case CLS_SEQUENTIAL:
            if (l->model && l->model->kind == MODEL_SEQUENTIAL)
                return v_bool(true);
            break;
        case CLS_USER:
            for (UserClass *u = l->ucls; u; u = u->parent)
                if (u == k->u.cls.user)
                    return v_bool(true);
            break;
        default:
            break;
        }
    }
    return v_bool(false);
}

static int cmp_values(const void *pa, const void *pb) {
    const Value *x = *(Value *const *)pa, *y = *(Value *const *)pb;
    if (is_number(x) && is_number(y))
        return (num_val(x) > num_val(y)) - (num_val(x) < num_val(y));
    if (x->kind == V_STR && y->kind == V_STR)
        return strcmp(x->u.str.s, y->u.str.s);
    return 0;
}

static Value *b_sorted(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    Value *r = v_list(c);
    bool nums = true, strs = true;
    for (int i = 0; i < list_len(items); i++) {
        Value *x = list_get(items, i);
        nums = nums && is_number(x);
        strs = strs && x->kind == V_STR;
        list_append(c, r, x);
    }
    if (!nums && !strs && list_len(r) > 1)
        return err_at(c, sp[0], "sorted(): items must be all numbers or all strings");
    if (list_len(r) > 1)
        qsort(r->u.list->items.data, (size_t)list_len(r), sizeof(Value *), cmp_values);
    if (value_truthy(a[1])) {
        Vec *v = &r->u.list->items;
        for (int i = 0, j = v->len - 1; i < j; i++, j--) {
            void *t = v->data[i];
            v->data[i] = v->data[j];
            v->data[j] = t;
        }
    }
    return r;
}

static Value *b_reversed(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    Value *r = v_list(c);
    for (int i = list_len(items) - 1; i >= 0; i--)
        list_append(c, r, list_get(items, i));
    return r;
}

static Value *b_anyall(Ctx *c, Value *x, Span at, bool all) {
    Value *items = iterate(c, x, at);
    if (items->kind == V_ERROR)
        return items;
    for (int i = 0; i < list_len(items); i++)
        if (value_truthy(list_get(items, i)) != all)
            return v_bool(!all);
    return v_bool(all);
}

static Value *b_any(ARGS) { return b_anyall(c, a[0], sp[0], false); }
static Value *b_all(ARGS) { return b_anyall(c, a[0], sp[0], true); }

// super() / super(Class, self): only meaningful inside a method; the
// evaluator's attribute lookup resolves it to the keras base class.
static Value *b_super(ARGS) {
    Value *args = a[0];
    (void)args;
    error_at(c, call, "super() is only supported as super().__init__(...) inside a class method");
    return v_error();
}

static Builtin builtin_table[] = {
    {"range", "*args", b_range},
    {"len", "obj", b_len},
    {"print", "*args, sep=' ', end='\\n', file=None, flush=False", b_print},
    {"str", "object=''", b_str},
    {"repr", "obj", b_repr},
    {"int", "x=0", b_int},
    {"float", "x=0.0", b_float},
    {"bool", "x=False", b_bool},
    {"list", "iterable=None", b_list},
    {"tuple", "iterable=None", b_tuple},
    {"dict", "**kwargs", b_dict},
    {"enumerate", "iterable, start=0", b_enumerate},
    {"zip", "*iterables", b_zip},
    {"min", "*args", b_min},
    {"max", "*args", b_max},
    {"abs", "x", b_abs},
    {"sum", "iterable, start=0", b_sum},
    {"round", "number, ndigits=None", b_round},
    {"isinstance", "obj, classinfo", b_isinstance},
    {"sorted", "iterable, reverse=False", b_sorted},
    {"reversed", "seq", b_reversed},
    {"any", "iterable", b_any},
    {"all", "iterable", b_all},
    {"super", "*args", b_super},
    {NULL, NULL, NULL},
};

void builtins_init(Ctx *c) {
    c->builtins = arena_alloc(c->arena, sizeof(Dict));
    for (Builtin *b = builtin_table; b->name; b++) {
        Value *v = arena_alloc(c->arena, sizeof *v);
        v->kind = V_BUILTIN;
        v->u.builtin = b;
        dict_set(c, c->builtins, v_str(c, b->name), v);
    }
}

// ---- list methods ---------------------------------------------------------

static Value *m_append(ARGS) {
    list_append(c, self, a[0]);
    return v_none();
}

static Value *m_extend(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    for (int i = 0; i < list_len(items); i++)
        list_append(c, self, list_get(items, i));
    return v_none();
}

static Value *m_insert(ARGS) {
    int64_t i;
    if (!want_int(c, a[0], sp[0], "insert", &i))
        return v_error();
    int n = list_len(self);
    if (i < 0)
        i += n;
    if (i < 0)
        i = 0;
    if (i > n)
        i = n;
    list_append(c, self, a[1]);
    Vec *v = &self->u.list->items;
    memmove(v->data + i + 1, v->data + i, sizeof(void *) * (size_t)(n - i));
    v->data[i] = a[1];
    return v_none();
}

static Value *m_pop(ARGS) {
    int n = list_len(self);
    int64_t i;
    if (!want_int(c, a[0], sp[0], "pop", &i))
        return v_error();
    if (n == 0)
        return err_at(c, call, "pop from empty list");
    if (i < 0)
        i += n;
    if (i < 0 || i >= n)
        return err_at(c, sp[0], "pop index out of range");
    Vec *v = &self->u.list->items;
    Value *r = v->data[i];
    memmove(v->data + i, v->data + i + 1, sizeof(void *) * (size_t)(n - i - 1));
    v->len--;
    return r;
}

static Value *m_index(ARGS) {
    for (int i = 0; i < list_len(self); i++)
        if (value_eq(list_get(self, i), a[0]))
            return v_int(c, i);
    return err_at(c, sp[0], "%s is not in list", value_repr(c, a[0]));
}

static Value *m_count(ARGS) {
    int n = 0;
    for (int i = 0; i < list_len(self); i++)
        n += value_eq(list_get(self, i), a[0]);
    return v_int(c, n);
}

static Value *m_reverse(ARGS) {
    Vec *v = &self->u.list->items;
    for (int i = 0, j = v->len - 1; i < j; i++, j--) {
        void *t = v->data[i];
        v->data[i] = v->data[j];
        v->data[j] = t;
    }
    return v_none();
}

Builtin list_methods[] = {
    {"list.append", "object", m_append},
    {"list.extend", "iterable", m_extend},
    {"list.insert", "index, object", m_insert},
    {"list.pop", "index=-1", m_pop},
    {"list.index", "value", m_index},
    {"list.count", "value", m_count},
    {"list.reverse", "", m_reverse},
    {NULL, NULL, NULL},
};

// ---- dict methods ---------------------------------------------------------

static Value *dict_view(Ctx *c, Value *self, int which) {
    Value *r = v_list(c);
    Dict *d = self->u.dict;
    for (int i = 0; i < d->keys.len; i++) {
        if (which == 0) {
            list_append(c, r, d->keys.data[i]);
        } else if (which == 1) {
            list_append(c, r, d->vals.data[i]);
        } else {
            Value *t = v_tuple(c);
            list_append(c, t, d->keys.data[i]);
            list_append(c, t, d->vals.data[i]);
            list_append(c, r, t);
        }
    }
    return r;
}

static Value *m_keys(ARGS) { return dict_view(c, self, 0); }
static Value *m_values(ARGS) { return dict_view(c, self, 1); }
static Value *m_items(ARGS) { return dict_view(c, self, 2); }

static Value *m_get(ARGS) {
    Value *v = dict_get(self->u.dict, a[0]);
    return v ? v : a[1];
}

static Value *m_update(ARGS) {
    if (a[0]->kind != V_DICT)
        return err_at(c, sp[0], "dict.update() argument must be a dict");
    Dict *d = a[0]->u.dict;
    for (int i = 0; i < d->keys.len; i++)
        dict_set(c, self->u.dict, d->keys.data[i], d->vals.data[i]);
    return v_none();
}

Builtin dict_methods[] = {
    {"dict.keys", "", m_keys},
    {"dict.values", "", m_values},
    {"dict.items", "", m_items},
    {"dict.get", "key, default=None", m_get},
    {"dict.update", "other", m_update},
    {NULL, NULL, NULL},
};

// ---- str methods and formatting ------------------------------------------------

// Format one value per a (small) format spec: [0][width][.precision][d|f|s|e|g].
const char *format_spec(Ctx *c, Value *v, const char *spec, Span at) {
    if (!spec || !*spec)
        return value_str(c, v);
    const char *p = spec;
    bool zero = false, left = false;
    if (*p == '<') left = true, p++;
    else if (*p == '>') p++;
    if (*p == '0') zero = true, p++;
    int width = 0, prec = -1;
    while (*p >= '0' && *p <= '9' && width < 1000)
        width = width * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        prec = 0;
        while (*p >= '0' && *p <= '9' && prec < 100)
            prec = prec * 10 + (*p++ - '0');
    }
    char type = *p ? *p++ : 0;
    if (*p || width >= 1000 || prec >= 100) {
        error_at(c, at, "unsupported format spec '%s' (kdl supports [<>][0][width][.prec][dfegs])", spec);
        return NULL;
    }
    char fmt[32], buf[1200];
    const char *flags = left ? "-" : zero ? "0" : "";
    if (type == 'd' || (type == 0 && (v->kind == V_INT || v->kind == V_BOOL) && prec < 0)) {
        if (v->kind != V_INT && v->kind != V_BOOL) {
            error_at(c, at, "unknown format code 'd' for object of type '%s'", value_type_name(v));
            return NULL;
        }
        snprintf(fmt, sizeof fmt, "%%%s*lld", flags);
        snprintf(buf, sizeof buf, fmt, width, (long long)(v->kind == V_BOOL ? v->u.b : v->u.i));
    } else if (type == 'f' || type == 'e' || type == 'g' || (type == 0 && is_number(v))) {
        if (!is_number(v)) {
            error_at(c, at, "unknown format code '%c' for object of type '%s'", type ? type : 'f',
                     value_type_name(v));
            return NULL;
        }
        snprintf(fmt, sizeof fmt, "%%%s*.*%c", flags, type ? type : 'g');
        snprintf(buf, sizeof buf, fmt, width, prec < 0 ? 6 : prec, num_val(v));
    } else if (type == 's' || type == 0) {
        const char *s = value_str(c, v);
        snprintf(fmt, sizeof fmt, "%%%s*.*s", left || !zero ? "-" : "");
        if (!left)
            snprintf(fmt, sizeof fmt, "%%-*.*s");
        snprintf(buf, sizeof buf, fmt, width, prec < 0 ? 1000 : prec, s);
    } else {
        error_at(c, at, "unsupported format code '%c'", type);
        return NULL;
    }
    return arena_strdup(c->arena, buf);
}

// "block%d" % i, "%s_%s" % (a, b)
Value *str_percent_format(Ctx *c, Value *fmtv, Value *args, Span at) {
    const char *f = fmtv->u.str.s;
    Value *items = args->kind == V_TUPLE ? args : NULL;
    int next = 0, n = items ? list_len(items) : 1;
    Buf out = {0};
    for (size_t i = 0; i < fmtv->u.str.len; i++) {
        if (f[i] != '%') {
            buf_putc(c->arena, &out, f[i]);
            continue;
        }
        size_t j = i + 1;
        if (j < fmtv->u.str.len && f[j] == '%') {
            buf_putc(c->arena, &out, '%');
            i = j;
            continue;
        }
        while (j < fmtv->u.str.len && strchr("0123456789.-", f[j]))
            j++;
        if (j >= fmtv->u.str.len || !strchr("dsifrge", f[j]))
            return err_at(c, at, "unsupported format character in %s", value_repr(c, fmtv));
        if (next >= n)
            return err_at(c, at, "not enough arguments for format string");
        Value *v = items ? list_get(items, next) : args;
        next++;
        char conv = f[j] == 'i' ? 'd' : f[j] == 'r' ? 's' : f[j];
        char *spec = arena_printf(c->arena, "%.*s%c", (int)(j - i - 1), f + i + 1, conv);
        if (spec[0] == '-')
            spec[0] = '<';
        const char *s = f[j] == 'r' ? value_repr(c, v) : format_spec(c, v, spec, at);
        if (!s)
            return v_error();
        buf_puts(c->arena, &out, s);
        i = j;
    }
    if (next < n)
        return err_at(c, at, "not all arguments converted during string formatting");
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

static Value *m_format(ARGS) {
    // "{}_{}".format(a, b), "{0}", "{name}" with kwargs; specs after ':'.
    Value *pos = a[0], *kw = a[1];
    const char *f = self->u.str.s;
    size_t n = self->u.str.len;
    int auto_i = 0;
    Buf out = {0};
    for (size_t i = 0; i < n; i++) {
        if ((f[i] == '{' || f[i] == '}') && i + 1 < n && f[i + 1] == f[i]) {
            buf_putc(c->arena, &out, f[i]);
            i++;
            continue;
        }
        if (f[i] != '{') {
            buf_putc(c->arena, &out, f[i]);
            continue;
        }
        size_t j = i + 1;
        while (j < n && f[j] != '}')
            j++;
        if (j >= n)
            return err_at(c, call, "Single '{' encountered in format string");
        char *field = arena_strndup(c->arena, f + i + 1, j - i - 1);
        char *spec = strchr(field, ':');
        if (spec)
            *spec++ = 0;
        Value *v;
        if (!*field) {
            if (auto_i >= list_len(pos))
                return err_at(c, call, "Replacement index %d out of range for positional args tuple",
                              auto_i);
            v = list_get(pos, auto_i++);
        } else if (*field >= '0' && *field <= '9') {
            int k = atoi(field);
            if (k >= list_len(pos))
                return err_at(c, call, "Replacement index %d out of range for positional args tuple", k);
            v = list_get(pos, k);
        } else {
            v = dict_get_str(kw->u.dict, field);
            if (!v)
                return err_at(c, call, "KeyError: '%s'", field);
        }
        const char *s = format_spec(c, v, spec, call);
        if (!s)
            return v_error();
        buf_puts(c->arena, &out, s);
        i = j;
    }
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

static Value *m_join(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    Buf out = {0};
    for (int i = 0; i < list_len(items); i++) {
        Value *x = list_get(items, i);
        if (x->kind != V_STR)
            return err_at(c, sp[0], "sequence item %d: expected str instance, %s found", i,
                          value_type_name(x));
        if (i)
            buf_putn(c->arena, &out, self->u.str.s, self->u.str.len);
        buf_putn(c->arena, &out, x->u.str.s, x->u.str.len);
    }
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

static Value *case_map(Ctx *c, Value *self, bool upper) {
    char *s = arena_strndup(c->arena, self->u.str.s, self->u.str.len);
    for (size_t i = 0; i < self->u.str.len; i++)
        if (upper ? (s[i] >= 'a' && s[i] <= 'z') : (s[i] >= 'A' && s[i] <= 'Z'))
            s[i] = (char)(s[i] ^ 0x20);
    return v_strn(c, s, self->u.str.len);
}

static Value *m_upper(ARGS) { return case_map(c, self, true); }
static Value *m_lower(ARGS) { return case_map(c, self, false); }

static Value *m_startswith(ARGS) {
    if (a[0]->kind != V_STR)
        return err_at(c, sp[0], "startswith first arg must be str");
    return v_bool(!strncmp(self->u.str.s, a[0]->u.str.s, a[0]->u.str.len));
}

static Value *m_endswith(ARGS) {
    if (a[0]->kind != V_STR)
        return err_at(c, sp[0], "endswith first arg must be str");
    size_t n = self->u.str.len, k = a[0]->u.str.len;
    return v_bool(k <= n && !memcmp(self->u.str.s + n - k, a[0]->u.str.s, k));
}

static Value *m_replace(ARGS) {
    if (a[0]->kind != V_STR || a[1]->kind != V_STR)
        return err_at(c, call, "replace() arguments must be str");
    const char *s = self->u.str.s, *old = a[0]->u.str.s, *new = a[1]->u.str.s;
    size_t ol = a[0]->u.str.len;
    if (!ol)
        return self;
    Buf out = {0};
    for (const char *p = s; *p;) {
        if (!strncmp(p, old, ol)) {
            buf_puts(c->arena, &out, new);
            p += ol;
        } else {
            buf_putc(c->arena, &out, *p++);
        }
        if (out.len > (16u << 20))
            return err_at(c, call, "string too long");
    }
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

Builtin str_methods[] = {
    {"str.format", "*args, **kwargs", m_format},
    {"str.join", "iterable", m_join},
    {"str.upper", "", m_upper},
    {"str.lower", "", m_lower},
    {"str.startswith", "prefix", m_startswith},
    {"str.endswith", "suffix", m_endswith},
    {"str.replace", "old, new", m_replace},
    {NULL, NULL, NULL},
};
