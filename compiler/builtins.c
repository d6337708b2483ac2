/*
 * builtins.c - the Python builtins a model-building script uses (range, len,
 * print, str, repr, int, float, bool, list, tuple, dict, enumerate, zip, min,
 * max, abs, sum, round, format, isinstance, sorted, reversed, any, all, super),
 * the methods of str, list and dict values, and Python's formatting: the
 * format-spec mini-language (format(), str.format, f-string specs) and
 * printf-style `%`.
 *
 * Each builtin is a C function with a Python-like signature string; eval.c
 * binds call arguments to it (so argument errors read like Python's).
 * Results and error messages are CPython's (tests/lang/ compare them);
 * lists and strings built here are bounded like the evaluator's.
 */
#include "kdlc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ARGS Ctx *c, Value *self, Value **a, Span *sp, Span call

static Value *err_at(Ctx *c, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static Value *b_format(Ctx *c, Value *self, Value **a, Span *sp, Span call);
static Value *err_at(Ctx *c, Span at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_at(c, at, "%s", msg);
    return v_error();
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

// Was parameter i given (not defaulted)? sig_bind gives defaults the span
// of the whole call, which no argument has.
static bool given(Span *sp, int i, Span call) {
    return sp[i].start != call.start || sp[i].end != call.end;
}

// Is the argument at `s` written as `name=value`?
static bool is_keyword_arg(Span s) {
    const char *t = s.file->text + s.start, *end = s.file->text + s.end;
    if (t >= end || !(*t == '_' || ((*t | 0x20) >= 'a' && (*t | 0x20) <= 'z')))
        return false;
    while (t < end && (*t == '_' || (*t >= '0' && *t <= '9') ||
                       ((*t | 0x20) >= 'a' && (*t | 0x20) <= 'z')))
        t++;
    while (t < end && (*t == ' ' || *t == '\t'))
        t++;
    return t + 1 < end && t[0] == '=' && t[1] != '=';
}

// Python's "'float' object cannot be interpreted as an integer", at the
// argument.
static bool index_arg(Ctx *c, Value *v, Span at, int64_t *out) {
    if (v->kind == V_INT || v->kind == V_BOOL) {
        *out = v->kind == V_BOOL ? v->u.b : v->u.i;
        return true;
    }
    error_at(c, at, "'%s' object cannot be interpreted as an integer", value_type_name(v));
    return false;
}

static Value *b_range(ARGS) {
    // range(stop) / range(start, stop[, step])
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (!given(sp, i, call))
            continue;
        if (is_keyword_arg(sp[i]))
            return err_at(c, sp[i], "range() takes no keyword arguments");
        n = i + 1;
    }
    int64_t v[3] = {0, 0, 1};
    for (int i = 0; i < n; i++)
        if (!index_arg(c, a[i], sp[i], &v[n == 1 ? 1 : i]))
            return v_error();
    if (v[2] == 0)
        return err_at(c, sp[2], "range() arg 3 must not be zero");
    // The length first, so a huge range is rejected before it is built.
    uint64_t count = 0;
    if (v[2] > 0 && v[0] < v[1])
        count = ((uint64_t)v[1] - (uint64_t)v[0] - 1) / (uint64_t)v[2] + 1;
    else if (v[2] < 0 && v[0] > v[1])
        count = ((uint64_t)v[0] - (uint64_t)v[1] - 1) / ((uint64_t)0 - (uint64_t)v[2]) + 1;
    if (count > MAX_RANGE)
        return err_at(c, call, "range() with more than %d items is too large for compile-time "
                      "evaluation", MAX_RANGE);
    Value *r = v_tuple(c);
    for (uint64_t k = 0; k < count; k++)
        list_append(c, r, v_int(c, (int64_t)((uint64_t)v[0] + k * (uint64_t)v[2])));
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

// int(str, base): Python's syntax (blanks around, a sign, underscores
// between digits, 0x/0o/0b prefixes for their base or base 0).
static bool parse_int_text(const char *s, size_t len, int base, int64_t *out, bool *overflow) {
    const char *ws = " \t\n\r\f\v";
    size_t i = 0, n = len;
    while (i < n && memchr(ws, s[i], 6))
        i++;
    while (n > i && memchr(ws, s[n - 1], 6))
        n--;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i + 1 < n && s[i] == '0') {
        char p = (char)(s[i + 1] | 0x20);
        int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
        if (pb && (base == 0 || base == pb)) {
            base = pb;
            i += 2;
            if (i < n && s[i] == '_')
                i++;
        }
    }
    if (base == 0) {
        base = 10;
        if (n - i > 1 && s[i] == '0' && strspn(s + i, "0_") < n - i)
            return false;   // int('010', 0) is an error, as in Python
    }
    if (i >= n)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    *overflow = false;
    for (size_t k = i; k < n; k++) {
        char ch = s[k];
        if (ch == '_' && k > i && k + 1 < n && s[k - 1] != '_')
            continue;
        int d = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'
                                                        ? (ch | 0x20) - 'a' + 10 : 99;
        if (d >= base)
            return false;
        if (v > (lim - (uint64_t)d) / (uint64_t)base)
            *overflow = true;
        else
            v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
    return true;
}

static Value *b_int(ARGS) {
    Value *x = a[0];
    bool has_base = given(sp, 1, call);
    int64_t base = 10;
    if (has_base) {
        if (!index_arg(c, a[1], sp[1], &base))
            return v_error();
        if (base != 0 && (base < 2 || base > 36))
            return err_at(c, sp[1], "int() base must be >= 2 and <= 36, or 0");
        if (x->kind != V_STR)
            return err_at(c, sp[0], "int() can't convert non-string with explicit base");
    }
    switch (x->kind) {
    case V_INT: return x;
    case V_BOOL: return v_int(c, x->u.b);
    case V_FLOAT:
        if (isnan(x->u.f))
            return err_at(c, sp[0], "cannot convert float NaN to integer");
        if (isinf(x->u.f))
            return err_at(c, sp[0], "cannot convert float infinity to integer");
        if (fabs(x->u.f) >= 9.2e18)
            return err_at(c, sp[0], "integer overflow in int() (kdl integers are 64-bit)");
        return v_int(c, (int64_t)x->u.f);
    case V_STR: {
        int64_t v;
        bool overflow = false;
        if (!parse_int_text(x->u.str.s, x->u.str.len, (int)base, &v, &overflow))
            return err_at(c, sp[0], "invalid literal for int() with base %d: %s", (int)base,
                          value_repr(c, x));
        if (overflow)
            return err_at(c, sp[0], "integer overflow in int() (kdl integers are 64-bit)");
        return v_int(c, v);
    }
    default:
        return err_at(c, sp[0], "int() argument must be a string or a real number, not '%s'",
                      value_type_name(x));
    }
}

// float(str): Python's syntax (blanks around, underscores between digits,
// inf/infinity/nan in any case); no hex floats.
static bool parse_float_text(Ctx *c, const char *s, size_t len, double *out) {
    const char *ws = " \t\n\r\f\v";
    size_t i = 0, n = len;
    while (i < n && memchr(ws, s[i], 6))
        i++;
    while (n > i && memchr(ws, s[n - 1], 6))
        n--;
    char *t = arena_alloc(c->arena, n - i + 1);
    size_t k = 0;
    for (size_t j = i; j < n; j++) {
        if (s[j] == '_') {
            bool between = j > i && j + 1 < n && s[j - 1] >= '0' && s[j - 1] <= '9' &&
                           s[j + 1] >= '0' && s[j + 1] <= '9';
            if (!between)
                return false;
            continue;
        }
        t[k++] = s[j];
    }
    t[k] = 0;
    const char *u = t + (t[0] == '+' || t[0] == '-');
    const char *words[] = {"inf", "infinity", "nan"};
    for (int w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        bool same = strlen(u) == wl;
        for (size_t q = 0; same && q < wl; q++)
            same = (u[q] | 0x20) == words[w][q];
        if (same) {
            *out = w == 2 ? NAN : INFINITY;
            if (t[0] == '-')
                *out = -*out;
            return true;
        }
    }
    // digits [. digits] [e [sign] digits], with at least one digit
    size_t q = 0, digits = 0;
    while (u[q] >= '0' && u[q] <= '9')
        q++, digits++;
    if (u[q] == '.')
        for (q++; u[q] >= '0' && u[q] <= '9'; q++)
            digits++;
    if (!digits)
        return false;
    if ((u[q] | 0x20) == 'e') {
        q++;
        if (u[q] == '+' || u[q] == '-')
            q++;
        if (!(u[q] >= '0' && u[q] <= '9'))
            return false;
        while (u[q] >= '0' && u[q] <= '9')
            q++;
    }
    if (u[q])
        return false;
    *out = strtod(t, NULL);
    return true;
}

static Value *b_float(ARGS) {
    Value *x = a[0];
    if (is_number(x))
        return v_float(c, num_val(x));
    if (x->kind == V_STR) {
        double v;
        if (!parse_float_text(c, x->u.str.s, x->u.str.len, &v))
            return err_at(c, sp[0], "could not convert string to float: %s", value_repr(c, x));
        return v_float(c, v);
    }
    return err_at(c, sp[0], "float() argument must be a string or a real number, not '%s'",
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
    Value *src = a[0], *kw = a[1];
    Value *d = v_dict(c);
    if (src->kind == V_DICT) {
        for (int i = 0; i < src->u.dict->keys.len; i++)
            dict_set(c, d->u.dict, src->u.dict->keys.data[i], src->u.dict->vals.data[i]);
    } else if (given(sp, 0, call)) {
        Value *items = iterate(c, src, sp[0]);
        if (items->kind == V_ERROR)
            return items;
        for (int i = 0; i < list_len(items); i++) {
            Value *p = list_get(items, i);
            if ((p->kind != V_LIST && p->kind != V_TUPLE) || list_len(p) != 2)
                return err_at(c, sp[0], "dictionary update sequence element #%d has the wrong "
                              "form (need a pair)", i);
            Value *k = list_get(p, 0);
            if (k->kind == V_LIST || k->kind == V_DICT)
                return err_at(c, sp[0], "unhashable type: '%s'", value_type_name(k));
            dict_set(c, d->u.dict, k, list_get(p, 1));
        }
    }
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

// Python's ordering for sorted/min/max/list.sort: numbers (ints exactly),
// strings, and lists or tuples of those, lexicographically. *bad is set
// after reporting a pair that cannot be ordered.
static int py_cmp(Ctx *c, const Value *x, const Value *y, Span at, bool *bad) {
    if (*bad)
        return 0;
    if ((x->kind == V_INT || x->kind == V_BOOL) && (y->kind == V_INT || y->kind == V_BOOL)) {
        int64_t i = x->kind == V_BOOL ? x->u.b : x->u.i, j = y->kind == V_BOOL ? y->u.b : y->u.i;
        return (i > j) - (i < j);
    }
    if (is_number(x) && is_number(y))
        return (num_val(x) > num_val(y)) - (num_val(x) < num_val(y));
    if (x->kind == V_STR && y->kind == V_STR) {
        size_t n = x->u.str.len < y->u.str.len ? x->u.str.len : y->u.str.len;
        int r = memcmp(x->u.str.s, y->u.str.s, n);
        if (r)
            return (r > 0) - (r < 0);
        return (x->u.str.len > y->u.str.len) - (x->u.str.len < y->u.str.len);
    }
    if (x->kind == y->kind && (x->kind == V_LIST || x->kind == V_TUPLE)) {
        int n = list_len(x) < list_len(y) ? list_len(x) : list_len(y);
        for (int i = 0; i < n; i++) {
            const Value *a = list_get(x, i), *b = list_get(y, i);
            if (value_eq(a, b))
                continue;
            return py_cmp(c, a, b, at, bad);
        }
        return (list_len(x) > list_len(y)) - (list_len(x) < list_len(y));
    }
    error_at(c, at, "'<' not supported between instances of '%s' and '%s'", value_type_name(x),
             value_type_name(y));
    *bad = true;
    return 0;
}

// The sort keys of items: key(item) for each, or the items themselves.
static Value **sort_keys(Ctx *c, Value *items, Value *key, Span call) {
    int n = list_len(items);
    Value **keys = arena_alloc(c->arena, sizeof(Value *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        keys[i] = list_get(items, i);
        if (key && key->kind != V_NONE) {
            Arg arg = {NULL, keys[i], call};
            keys[i] = call_value(c, key, &arg, 1, call);
            if (keys[i]->kind == V_ERROR)
                return NULL;
        }
    }
    return keys;
}

// Stable merge sort of vals by keys (Python's sort is stable, also with
// reverse=True). Returns false after an error.
static bool stable_sort(Ctx *c, Value **vals, Value **keys, int n, bool reverse, Span at) {
    if (n < 2)
        return true;
    Value **tv = arena_alloc(c->arena, sizeof(Value *) * (size_t)n);
    Value **tk = arena_alloc(c->arena, sizeof(Value *) * (size_t)n);
    bool bad = false;
    for (int w = 1; w < n && !bad; w *= 2) {
        for (int lo = 0; lo < n - w; lo += 2 * w) {
            int mid = lo + w, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int r = py_cmp(c, keys[j], keys[i], at, &bad);
                // Take from the right only if strictly before: stability.
                if (reverse ? r > 0 : r < 0)
                    tv[k] = vals[j], tk[k++] = keys[j++];
                else
                    tv[k] = vals[i], tk[k++] = keys[i++];
            }
            while (i < mid)
                tv[k] = vals[i], tk[k++] = keys[i++];
            while (j < hi)
                tv[k] = vals[j], tk[k++] = keys[j++];
            memcpy(vals + lo, tv + lo, sizeof(Value *) * (size_t)(hi - lo));
            memcpy(keys + lo, tk + lo, sizeof(Value *) * (size_t)(hi - lo));
        }
    }
    return !bad;
}

// min/max(iterable, *, key=None, default=...) and min/max(a, b, ...).
static Value *minmax(Ctx *c, Value **a, Span *sp, Span call, bool want_max) {
    const char *fn = want_max ? "max" : "min";
    Value *args = a[0], *items = args;
    if (list_len(args) == 0)
        return err_at(c, call, "%s expected at least 1 argument, got 0", fn);
    if (list_len(args) == 1)
        items = iterate(c, list_get(args, 0), call);
    else if (given(sp, 2, call))
        return err_at(c, sp[2], "Cannot specify a default for %s() with multiple positional "
                      "arguments", fn);
    if (items->kind == V_ERROR)
        return items;
    if (list_len(items) == 0) {
        if (given(sp, 2, call))
            return a[2];
        return err_at(c, call, "%s() arg is an empty sequence", fn);
    }
    Value **keys = sort_keys(c, items, a[1], call);
    if (!keys)
        return v_error();
    int best = 0;
    bool bad = false;
    for (int i = 1; i < list_len(items) && !bad; i++) {
        int r = py_cmp(c, keys[i], keys[best], call, &bad);
        if (want_max ? r > 0 : r < 0)
            best = i;
    }
    return bad ? v_error() : list_get(items, best);
}

static Value *b_min(ARGS) { return minmax(c, a, sp, call, false); }
static Value *b_max(ARGS) { return minmax(c, a, sp, call, true); }

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

// round(): half to even on the exact binary value, as Python (printf's
// correctly rounded conversions do the decimal work).
static Value *b_round(ARGS) {
    Value *x = a[0], *nd = a[1];
    if (!is_number(x))
        return err_at(c, sp[0], "type %s doesn't define __round__ method", value_type_name(x));
    if (nd->kind == V_NONE) {
        if (x->kind != V_FLOAT)
            return v_int(c, x->kind == V_BOOL ? x->u.b : x->u.i);
        if (isnan(x->u.f))
            return err_at(c, sp[0], "cannot convert float NaN to integer");
        if (isinf(x->u.f))
            return err_at(c, sp[0], "cannot convert float infinity to integer");
        double r = nearbyint(x->u.f);
        if (fabs(r) >= 9.2e18)
            return err_at(c, sp[0], "integer overflow in round() (kdl integers are 64-bit)");
        return v_int(c, (int64_t)r);
    }
    int64_t n;
    if (!index_arg(c, nd, sp[1], &n))
        return v_error();
    if (x->kind != V_FLOAT) {
        int64_t i = x->kind == V_BOOL ? x->u.b : x->u.i;
        if (n >= 0)
            return v_int(c, i);
        if (n < -18)
            return v_int(c, 0);
        int64_t p = 1;
        for (int64_t k = 0; k < -n; k++)
            p *= 10;
        uint64_t mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        uint64_t q = mag / (uint64_t)p, rem = mag % (uint64_t)p;
        if (rem * 2 > (uint64_t)p || (rem * 2 == (uint64_t)p && (q & 1)))
            q++;
        if (q > (uint64_t)INT64_MAX / (uint64_t)p)
            return err_at(c, call, "integer overflow in round() (kdl integers are 64-bit)");
        int64_t r = (int64_t)(q * (uint64_t)p);
        return v_int(c, i < 0 ? -r : r);
    }
    double f = x->u.f;
    if (!isfinite(f) || f == 0 || n > 330)
        return v_float(c, f);
    char buf[420];
    if (n >= 0) {
        snprintf(buf, sizeof buf, "%.*f", (int)n, f);
        return v_float(c, strtod(buf, NULL));
    }
    // n < 0: round to 10**-n, i.e. to (exponent + n + 1) significant digits.
    // Below -400 every double rounds to (signed) 0, as at -400; clamping
    // first keeps -n from overflowing (n can be INT64_MIN).
    if (n < -400)
        n = -400;
    snprintf(buf, sizeof buf, "%.16e", f);
    int exp = atoi(strchr(buf, 'e') + 1);
    int digits = exp + (int)n + 1;
    if (digits <= 0) {
        // |f| < 10**-n: 0, or 10**-n past the halfway point.
        double unit = pow(10.0, (double)-n);
        double r = fabs(f) > unit / 2 && digits == 0 ? unit : 0.0;
        return v_float(c, copysign(r, f));
    }
    snprintf(buf, sizeof buf, "%.*e", digits - 1, f);
    return v_float(c, strtod(buf, NULL));
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
        if (x->kind == V_INSTANCE && k->u.cls.kind == CLS_USER) {
            for (UserClass *u = x->u.inst.cls; u; u = u->parent)
                if (u == k->u.cls.user)
                    return v_bool(true);
            continue;
        }
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
            if (l->model && !l->model->custom_layer)
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

static Value *b_sorted(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    Value *r = v_list(c);
    for (int i = 0; i < list_len(items); i++)
        list_append(c, r, list_get(items, i));
    Value **keys = sort_keys(c, r, a[1], call);
    if (!keys || !stable_sort(c, (Value **)r->u.list->items.data, keys, list_len(r),
                              value_truthy(a[2]), sp[0]))
        return v_error();
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
    {"range", "start, stop=None, step=None", b_range},
    {"len", "obj", b_len},
    {"print", "*args, sep=' ', end='\\n', file=None, flush=False", b_print},
    {"str", "object=''", b_str},
    {"repr", "obj", b_repr},
    {"int", "x=0, base=10", b_int},
    {"float", "x=0.0", b_float},
    {"bool", "x=False", b_bool},
    {"list", "iterable=None", b_list},
    {"tuple", "iterable=None", b_tuple},
    {"dict", "iterable=None, **kwargs", b_dict},
    {"enumerate", "iterable, start=0", b_enumerate},
    {"zip", "*iterables", b_zip},
    {"min", "*args, key=None, default=None", b_min},
    {"max", "*args, key=None, default=None", b_max},
    {"abs", "x", b_abs},
    {"sum", "iterable, start=0", b_sum},
    {"round", "number, ndigits=None", b_round},
    {"format", "value, format_spec=''", b_format},
    {"isinstance", "obj, classinfo", b_isinstance},
    {"sorted", "iterable, key=None, reverse=False", b_sorted},
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

// Lists and strings built here are bounded like the evaluator's (eval.c):
// no program can exhaust memory one append at a time.
#define MAX_SEQ_LEN 1000000
#define MAX_STR_LEN (16 << 20)

static bool list_room(Ctx *c, Value *list, int64_t extra, Span at) {
    if ((int64_t)list_len(list) + extra <= MAX_SEQ_LEN)
        return true;
    error_at(c, at, "list too long (more than %d items)", MAX_SEQ_LEN);
    return false;
}

static Value *m_append(ARGS) {
    if (!list_room(c, self, 1, call))
        return v_error();
    list_append(c, self, a[0]);
    return v_none();
}

static Value *m_extend(ARGS) {
    Value *items = iterate(c, a[0], sp[0]);
    if (items->kind == V_ERROR)
        return items;
    int n = list_len(items);    // l.extend(l) doubles l once
    if (!list_room(c, self, n, call))
        return v_error();
    for (int i = 0; i < n; i++)
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
    if (!list_room(c, self, 1, call))
        return v_error();
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

static Value *m_remove(ARGS) {
    Vec *v = &self->u.list->items;
    for (int i = 0; i < v->len; i++)
        if (value_eq(v->data[i], a[0])) {
            memmove(v->data + i, v->data + i + 1, sizeof(void *) * (size_t)(v->len - i - 1));
            v->len--;
            return v_none();
        }
    return err_at(c, sp[0], "list.remove(x): x not in list");
}

static Value *m_clear(ARGS) {
    if (self->kind == V_DICT) {
        self->u.dict->keys.len = self->u.dict->vals.len = 0;
    } else {
        self->u.list->items.len = 0;
    }
    return v_none();
}

static Value *m_copy(ARGS) {
    if (self->kind == V_DICT) {
        Value *d = v_dict(c);
        for (int i = 0; i < self->u.dict->keys.len; i++)
            dict_set(c, d->u.dict, self->u.dict->keys.data[i], self->u.dict->vals.data[i]);
        return d;
    }
    Value *r = v_list(c);
    for (int i = 0; i < list_len(self); i++)
        list_append(c, r, list_get(self, i));
    return r;
}

static Value *m_sort(ARGS) {
    Value **keys = sort_keys(c, self, a[0], call);
    if (!keys || !stable_sort(c, (Value **)self->u.list->items.data, keys, list_len(self),
                              value_truthy(a[1]), call))
        return v_error();
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
    {"list.remove", "value", m_remove},
    {"list.clear", "", m_clear},
    {"list.copy", "", m_copy},
    {"list.sort", "key=None, reverse=False", m_sort},
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

static Value *m_dict_pop(ARGS) {
    Dict *d = self->u.dict;
    for (int i = 0; i < d->keys.len; i++)
        if (value_eq(d->keys.data[i], a[0])) {
            Value *v = d->vals.data[i];
            size_t rest = sizeof(void *) * (size_t)(d->keys.len - i - 1);
            memmove(d->keys.data + i, d->keys.data + i + 1, rest);
            memmove(d->vals.data + i, d->vals.data + i + 1, rest);
            d->keys.len--;
            d->vals.len--;
            return v;
        }
    if (given(sp, 1, call))
        return a[1];
    return err_at(c, sp[0], "KeyError: %s", value_repr(c, a[0]));
}

static Value *m_setdefault(ARGS) {
    Value *v = dict_get(self->u.dict, a[0]);
    if (v)
        return v;
    if (a[0]->kind == V_LIST || a[0]->kind == V_DICT)
        return err_at(c, sp[0], "unhashable type: '%s'", value_type_name(a[0]));
    dict_set(c, self->u.dict, a[0], a[1]);
    return a[1];
}

Builtin dict_methods[] = {
    {"dict.keys", "", m_keys},
    {"dict.values", "", m_values},
    {"dict.items", "", m_items},
    {"dict.get", "key, default=None", m_get},
    {"dict.update", "other", m_update},
    {"dict.pop", "key, default=None", m_dict_pop},
    {"dict.setdefault", "key, default=None", m_setdefault},
    {"dict.copy", "", m_copy},
    {"dict.clear", "", m_clear},
    {NULL, NULL, NULL},
};

// ---- str methods and formatting ------------------------------------------------

// ---- formatting: Python's format-spec mini-language -------------------------

// [[fill]align][sign][z][#][0][width][grouping][.precision][type]
typedef struct FmtSpec {
    char fill, align;       // 0: the default for the value's type
    char sign;              // '+', '-', ' ' or 0
    bool z, alt, zero;
    int width, prec;        // prec -1: not given
    char group;             // ',', '_' or 0
    char type;              // 0: none
} FmtSpec;

#define MAX_FMT_WIDTH 10000

static bool parse_fmt_spec(Ctx *c, const char *s, FmtSpec *f, const Value *v, Span at) {
    const char *spec = s;
    memset(f, 0, sizeof *f);
    f->prec = -1;
    if (s[0] && s[1] && strchr("<>=^", s[1])) {
        f->fill = s[0];
        f->align = s[1];
        s += 2;
    } else if (s[0] && strchr("<>=^", s[0])) {
        f->align = *s++;
    }
    if (*s == '+' || *s == '-' || *s == ' ')
        f->sign = *s++;
    if (*s == 'z')
        f->z = true, s++;
    if (*s == '#')
        f->alt = true, s++;
    if (*s == '0')
        f->zero = true, s++;
    while (*s >= '0' && *s <= '9' && f->width <= MAX_FMT_WIDTH)
        f->width = f->width * 10 + (*s++ - '0');
    if (*s == ',' || *s == '_')
        f->group = *s++;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) {
            error_at(c, at, "Format specifier missing precision");
            return false;
        }
        f->prec = 0;
        while (*s >= '0' && *s <= '9' && f->prec <= MAX_FMT_WIDTH)
            f->prec = f->prec * 10 + (*s++ - '0');
    }
    if (*s)
        f->type = *s++;
    if (*s) {
        error_at(c, at, "Invalid format specifier '%s' for object of type '%s'", spec,
                 value_type_name(v));
        return false;
    }
    if (f->width > MAX_FMT_WIDTH || f->prec > MAX_FMT_WIDTH) {
        error_at(c, at, "format width or precision too big (at most %d)", MAX_FMT_WIDTH);
        return false;
    }
    return true;
}

// Insert the grouping character every `every` digits from the right of the
// leading run of digits in `digits`.
static void put_grouped(Arena *a, Buf *b, const char *digits, char group, int every) {
    size_t n = strspn(digits, "0123456789abcdefABCDEF");
    if (strchr(digits, '.') || strchr(digits, 'e') || strchr(digits, 'E'))
        n = strspn(digits, "0123456789");
    for (size_t i = 0; i < n; i++) {
        if (group && i > 0 && (n - i) % (size_t)every == 0)
            buf_putc(a, b, group);
        buf_putc(a, b, digits[i]);
    }
    buf_puts(a, b, digits + n);
}

// Pad sign + prefix + body to the width: '=' puts the fill after the sign.
static const char *pad_field(Ctx *c, const FmtSpec *f, char dflt_align, const char *sign,
                             const char *body) {
    Arena *a = c->arena;
    char align = f->align ? f->align : f->zero ? (dflt_align == '<' ? '<' : '=') : dflt_align;
    char fill = f->fill ? f->fill : f->zero ? '0' : ' ';
    size_t len = strlen(sign) + strlen(body);
    size_t n = (size_t)f->width > len ? (size_t)f->width - len : 0;
    size_t left = align == '<' ? 0 : align == '^' ? n / 2 : n;
    Buf b = {0};
    if (align == '=') {
        buf_puts(a, &b, sign);
        for (size_t i = 0; i < n; i++)
            buf_putc(a, &b, fill);
        buf_puts(a, &b, body);
        return buf_str(a, &b);
    }
    for (size_t i = 0; i < left; i++)
        buf_putc(a, &b, fill);
    buf_puts(a, &b, sign);
    buf_puts(a, &b, body);
    for (size_t i = left; i < n; i++)
        buf_putc(a, &b, fill);
    return buf_str(a, &b);
}

// Python's repr of a float: the shortest digits that read back exactly,
// in fixed notation for exponents -4..15, else as d.ddde+XX.
static void float_repr(double x, char *out, size_t size) {
    if (isnan(x)) {
        snprintf(out, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(out, size, "%s", x > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[64];
    int p;
    for (p = 0; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", p, x);
    int exp = atoi(strchr(tmp, 'e') + 1);
    if (exp < -4 || exp >= 16) {
        // Drop trailing zeros of the mantissa (p is minimal, so there are none
        // unless p == 0).
        snprintf(out, size, "%s", tmp);
        return;
    }
    int decimals = p - exp > 0 ? p - exp : 0;
    snprintf(out, size, "%.*f", decimals, x);
    if (!strchr(out, '.'))
        strncat(out, ".0", size - strlen(out) - 1);
}

// Remove trailing zeros after a decimal point (and the point itself),
// keeping any exponent: "1.500e+02" -> "1.5e+02".
static void strip_zeros(char *s) {
    char *dot = strchr(s, '.');
    if (!dot)
        return;
    char *e = strpbrk(s, "eE");
    char *end = e ? e : s + strlen(s);
    char *q = end;
    while (q > dot + 1 && q[-1] == '0')
        q--;
    if (q == dot + 1)
        q = dot;
    memmove(q, end, strlen(end) + 1);
}

static const char *format_float(Ctx *c, double x, const FmtSpec *f, const Value *v, Span at) {
    char type = f->type;
    if (type && !strchr("eEfFgGn%", type)) {
        error_at(c, at, "Unknown format code '%c' for object of type '%s'", type,
                 value_type_name(v));
        return NULL;
    }
    if (f->group && type == 'n') {
        error_at(c, at, "Cannot specify '%c' with 'n'.", f->group);
        return NULL;
    }
    bool neg = signbit(x) && !(f->z && x == 0);
    double ax = fabs(x);
    char body[MAX_FMT_WIDTH + 400];
    int prec = f->prec;
    bool upper = type == 'E' || type == 'F' || type == 'G';
    if (isinf(ax) || isnan(ax)) {
        const char *word = isnan(ax) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
        snprintf(body, sizeof body, "%s%s", word, type == '%' ? "%" : "");
        if (isnan(ax))
            neg = signbit(x);
    } else if (type == 'f' || type == 'F' || type == '%') {
        snprintf(body, sizeof body, f->alt ? "%#.*f" : "%.*f", prec < 0 ? 6 : prec,
                 type == '%' ? ax * 100 : ax);
        if (type == '%')
            strcat(body, "%");
    } else if (type == 'e' || type == 'E') {
        const char *fmt = f->alt ? (upper ? "%#.*E" : "%#.*e") : (upper ? "%.*E" : "%.*e");
        snprintf(body, sizeof body, fmt, prec < 0 ? 6 : prec, ax);
    } else if (type == 'g' || type == 'G' || type == 'n') {
        const char *fmt = f->alt ? (upper ? "%#.*G" : "%#.*g") : (upper ? "%.*G" : "%.*g");
        snprintf(body, sizeof body, fmt, prec < 0 ? 6 : prec == 0 ? 1 : prec, ax);
    } else if (prec < 0) {
        float_repr(ax, body, sizeof body);
    } else {
        // No type, a precision: like 'g', but a fixed-point result keeps a
        // digit after the point and exponents from p-1 up use e-notation.
        int p = prec == 0 ? 1 : prec;
        snprintf(body, sizeof body, "%.*e", p - 1, ax);
        int exp = atoi(strchr(body, 'e') + 1);
        if (exp < -4 || exp >= p - 1) {
            if (!f->alt)
                strip_zeros(body);
        } else {
            snprintf(body, sizeof body, f->alt ? "%#.*f" : "%.*f", p - 1 - exp, ax);
            if (!f->alt)
                strip_zeros(body);
            if (!strchr(body, '.'))
                strcat(body, ".0");
        }
    }
    const char *sign = neg ? "-" : f->sign == '+' ? "+" : f->sign == ' ' ? " " : "";
    Buf b = {0};
    put_grouped(c->arena, &b, body, f->group, 3);
    return pad_field(c, f, '>', sign, buf_str(c->arena, &b));
}

static const char *format_int(Ctx *c, int64_t x, const FmtSpec *f, const Value *v, Span at) {
    char type = f->type ? f->type : 'd';
    if (strchr("eEfFgG%", type))
        return format_float(c, (double)x, f, v, at);
    if (!strchr("bcdoxXn", type)) {
        error_at(c, at, "Unknown format code '%c' for object of type '%s'", type,
                 value_type_name(v));
        return NULL;
    }
    if (f->prec >= 0) {
        error_at(c, at, "Precision not allowed in integer format specifier");
        return NULL;
    }
    if (f->z) {
        error_at(c, at, "Negative zero coercion (z) not allowed in integer format specifier");
        return NULL;
    }
    if (f->group == ',' && type != 'd') {
        error_at(c, at, "Cannot specify ',' with '%c'.", type);
        return NULL;
    }
    if (f->group && type == 'n') {
        error_at(c, at, "Cannot specify '%c' with 'n'.", f->group);
        return NULL;
    }
    Arena *a = c->arena;
    uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    if (type == 'c') {
        if (f->sign) {
            error_at(c, at, "Sign not allowed with integer format specifier 'c'");
            return NULL;
        }
        if (x < 0 || x > 0x10ffff) {
            error_at(c, at, "%%c arg not in range(0x110000)");
            return NULL;
        }
        if (x == 0) {
            // kdl strings are C strings (see the lexer's string literals).
            error_at(c, at, "a string cannot contain the NUL character (\\x00) in a .kdl file");
            return NULL;
        }
        Buf b = {0};
        if (x < 0x80) {
            buf_putc(a, &b, (char)x);
        } else {
            char u[5] = {0};
            if (x < 0x800) {
                u[0] = (char)(0xc0 | (x >> 6)); u[1] = (char)(0x80 | (x & 0x3f));
            } else if (x < 0x10000) {
                u[0] = (char)(0xe0 | (x >> 12)); u[1] = (char)(0x80 | ((x >> 6) & 0x3f));
                u[2] = (char)(0x80 | (x & 0x3f));
            } else {
                u[0] = (char)(0xf0 | (x >> 18)); u[1] = (char)(0x80 | ((x >> 12) & 0x3f));
                u[2] = (char)(0x80 | ((x >> 6) & 0x3f)); u[3] = (char)(0x80 | (x & 0x3f));
            }
            buf_puts(a, &b, u);
        }
        return pad_field(c, f, '<', "", buf_str(a, &b));
    }
    int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
    const char *dig = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[80];
    int n = 0;
    do {
        tmp[n++] = dig[mag % (uint64_t)base];
        mag /= (uint64_t)base;
    } while (mag);
    char digits[80];
    for (int i = 0; i < n; i++)
        digits[i] = tmp[n - 1 - i];
    digits[n] = 0;
    const char *sgn = x < 0 ? "-" : f->sign == '+' ? "+" : f->sign == ' ' ? " " : "";
    const char *pfx = !f->alt || base == 10 ? "" : base == 2 ? "0b" : base == 8 ? "0o"
                      : type == 'X' ? "0X" : "0x";
    Buf b = {0};
    put_grouped(a, &b, digits, f->group, base == 10 ? 3 : 4);
    return pad_field(c, f, '>', arena_printf(a, "%s%s", sgn, pfx), buf_str(a, &b));
}

static const char *format_str(Ctx *c, const char *s, const FmtSpec *f, const Value *v, Span at) {
    if (f->type && f->type != 's') {
        error_at(c, at, "Unknown format code '%c' for object of type '%s'", f->type,
                 value_type_name(v));
        return NULL;
    }
    if (f->sign) {
        error_at(c, at, "Sign not allowed in string format specifier");
        return NULL;
    }
    if (f->alt) {
        error_at(c, at, "Alternate form (#) not allowed in string format specifier");
        return NULL;
    }
    if (f->align == '=') {
        error_at(c, at, "'=' alignment not allowed in string format specifier");
        return NULL;
    }
    if (f->group) {
        error_at(c, at, "Cannot specify '%c' with 's'.", f->group);
        return NULL;
    }
    const char *body = f->prec >= 0 ? arena_strndup(c->arena, s, (size_t)f->prec) : s;
    return pad_field(c, f, '<', "", body);
}

// format(v, spec) as Python does it, for str, int, bool and float values
// (others only take an empty spec); NULL after reporting an error at `at`.
const char *format_spec(Ctx *c, Value *v, const char *spec, Span at) {
    if (!spec || !*spec)
        return value_str(c, v);
    FmtSpec f;
    switch (v->kind) {
    case V_STR:
        if (!parse_fmt_spec(c, spec, &f, v, at))
            return NULL;
        return format_str(c, v->u.str.s, &f, v, at);
    case V_INT: case V_BOOL:
        if (!parse_fmt_spec(c, spec, &f, v, at))
            return NULL;
        return format_int(c, v->kind == V_BOOL ? v->u.b : v->u.i, &f, v, at);
    case V_FLOAT:
        if (!parse_fmt_spec(c, spec, &f, v, at))
            return NULL;
        return format_float(c, v->u.f, &f, v, at);
    default:
        error_at(c, at, "unsupported format string passed to %s.__format__", value_type_name(v));
        return NULL;
    }
}

// "block%d" % i, "%s_%s" % (a, b), "%(name)s" % {"name": ...}, with
// printf-style flags, width and precision.
Value *str_percent_format(Ctx *c, Value *fmtv, Value *args, Span at) {
    const char *f = fmtv->u.str.s;
    size_t len = fmtv->u.str.len;
    Value *items = args->kind == V_TUPLE ? args : NULL;
    Dict *map = args->kind == V_DICT ? args->u.dict : NULL;
    int next = 0, n = items ? list_len(items) : 1;
    bool used_map = false;
    Buf out = {0};
    for (size_t i = 0; i < len; i++) {
        if (f[i] != '%') {
            buf_putc(c->arena, &out, f[i]);
            continue;
        }
        size_t j = i + 1;
        Value *v = NULL;
        if (j < len && f[j] == '(') {
            size_t k = j + 1;
            while (k < len && f[k] != ')')
                k++;
            if (k >= len)
                return err_at(c, at, "incomplete format key");
            if (!map)
                return err_at(c, at, "format requires a mapping");
            char *key = arena_strndup(c->arena, f + j + 1, k - j - 1);
            v = dict_get_str(map, key);
            if (!v)
                return err_at(c, at, "KeyError: '%s'", key);
            used_map = true;
            j = k + 1;
        }
        FmtSpec s;
        memset(&s, 0, sizeof s);
        s.prec = -1;
        bool left = false;
        for (; j < len && strchr("-+ 0#", f[j]); j++) {
            if (f[j] == '-') left = true;
            else if (f[j] == '0') s.zero = true;
            else if (f[j] == '#') s.alt = true;
            else if (f[j] == '+' || (f[j] == ' ' && s.sign != '+')) s.sign = f[j];
        }
        for (; j < len && f[j] >= '0' && f[j] <= '9' && s.width <= MAX_FMT_WIDTH; j++)
            s.width = s.width * 10 + (f[j] - '0');
        if (j < len && f[j] == '.') {
            s.prec = 0;
            for (j++; j < len && f[j] >= '0' && f[j] <= '9' && s.prec <= MAX_FMT_WIDTH; j++)
                s.prec = s.prec * 10 + (f[j] - '0');
        }
        if (s.width > MAX_FMT_WIDTH || s.prec > MAX_FMT_WIDTH)
            return err_at(c, at, "format width or precision too big (at most %d)", MAX_FMT_WIDTH);
        if (j >= len)
            return err_at(c, at, "incomplete format");
        char conv = f[j];
        if (conv == '%' && j == i + 1) {
            buf_putc(c->arena, &out, '%');
            i = j;
            continue;
        }
        if (!strchr("diouxXeEfFgGcrsa", conv))
            return err_at(c, at, "unsupported format character '%c' (0x%x) at index %zu", conv,
                          (unsigned char)conv, j);
        if (!v) {
            if (map && !items) {
                v = args;
                next = 1;
            } else {
                if (next >= n)
                    return err_at(c, at, "not enough arguments for format string");
                v = items ? list_get(items, next) : args;
                next++;
            }
        }
        s.align = left ? '<' : '>';
        if (left)
            s.zero = false;
        const char *text;
        if (conv == 's' || conv == 'r' || conv == 'a') {
            const char *str = conv == 's' ? value_str(c, v) : value_repr(c, v);
            s.zero = false;
            s.sign = 0;
            s.alt = false;
            text = format_str(c, str, &s, v, at);
        } else if (strchr("diouxX", conv)) {
            if (v->kind == V_FLOAT && strchr("diu", conv)) {
                if (!isfinite(v->u.f) || fabs(v->u.f) >= 9.2e18)
                    return err_at(c, at, "cannot convert float %s to integer", value_repr(c, v));
                v = v_int(c, (int64_t)v->u.f);
            }
            if (v->kind != V_INT && v->kind != V_BOOL)
                return err_at(c, at, "%%%c format: %s is required, not %s", conv,
                              strchr("diu", conv) ? "a real number" : "an integer",
                              value_type_name(v));
            s.type = conv == 'i' || conv == 'u' ? 'd' : conv;
            if (s.zero && !left)
                s.align = '=', s.fill = '0';
            text = format_int(c, v->kind == V_BOOL ? v->u.b : v->u.i, &s, v, at);
        } else if (conv == 'c') {
            if (v->kind == V_STR && v->u.str.len == 1) {
                text = format_str(c, v->u.str.s, &s, v, at);
            } else if (v->kind == V_INT) {
                s.type = 'c';
                text = format_int(c, v->u.i, &s, v, at);
            } else {
                return err_at(c, at, "%%c requires an int or a unicode character, not %s",
                              value_type_name(v));
            }
        } else {
            if (!is_number(v))
                return err_at(c, at, "must be real number, not %s", value_type_name(v));
            s.type = conv;
            if (s.prec < 0)
                s.prec = 6;
            if (s.zero && !left)
                s.align = '=', s.fill = '0';
            text = format_float(c, num_val(v), &s, v, at);
        }
        if (!text)
            return v_error();
        if (out.len + strlen(text) > MAX_STR_LEN)
            return err_at(c, at, "string too long (more than %d bytes)", MAX_STR_LEN);
        buf_puts(c->arena, &out, text);
        i = j;
    }
    if (next < n && !used_map && !(map && !items))
        return err_at(c, at, "not all arguments converted during string formatting");
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

// "{}_{}".format(a, b), "{0}", "{name}", "{!r}", "{:>{w}}": Python's
// str.format for fields that name an argument (no attribute or item access).
static Value *format_fields(Ctx *c, const char *f, size_t n, Value *pos, Value *kw, int *auto_i,
                            Span call, int depth) {
    Buf out = {0};
    for (size_t i = 0; i < n; i++) {
        if ((f[i] == '{' || f[i] == '}') && i + 1 < n && f[i + 1] == f[i]) {
            buf_putc(c->arena, &out, f[i]);
            i++;
            continue;
        }
        if (f[i] == '}')
            return err_at(c, call, "Single '}' encountered in format string");
        if (f[i] != '{') {
            buf_putc(c->arena, &out, f[i]);
            continue;
        }
        size_t j = i + 1;
        int nest = 0;
        while (j < n && (nest > 0 || f[j] != '}')) {
            if (f[j] == '{') nest++;
            if (f[j] == '}') nest--;
            j++;
        }
        if (j >= n)
            return err_at(c, call, "Single '{' encountered in format string");
        char *field = arena_strndup(c->arena, f + i + 1, j - i - 1);
        char *spec = strchr(field, ':');
        if (spec)
            *spec++ = 0;
        char conv = 0;
        char *bang = strchr(field, '!');
        if (bang) {
            *bang = 0;
            conv = bang[1];
            if ((conv != 'r' && conv != 's' && conv != 'a') || bang[2])
                return err_at(c, call, "Unknown conversion specifier %s", bang[1] ? bang + 1 : "");
        }
        Value *v;
        if (!*field) {
            if (*auto_i < 0)
                return err_at(c, call, "cannot switch from manual field specification to automatic "
                              "field numbering");
            if (*auto_i >= list_len(pos))
                return err_at(c, call, "Replacement index %d out of range for positional "
                              "args tuple", *auto_i);
            v = list_get(pos, (*auto_i)++);
        } else if (strspn(field, "0123456789") == strlen(field)) {
            if (*auto_i > 0)
                return err_at(c, call, "cannot switch from automatic field numbering to manual "
                              "field specification");
            *auto_i = -1;
            long k = strtol(field, NULL, 10);
            if (strlen(field) > 6 || k >= list_len(pos))
                return err_at(c, call, "Replacement index %s out of range for positional "
                              "args tuple", field);
            v = list_get(pos, (int)k);
        } else if (strspn(field, "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(field)) {
            v = dict_get_str(kw->u.dict, field);
            if (!v)
                return err_at(c, call, "KeyError: '%s'", field);
        } else {
            return err_at(c, call, "format field '{%s}': only argument names and numbers are "
                          "supported", field);
        }
        if (conv)
            v = v_str(c, conv == 's' ? value_str(c, v) : value_repr(c, v));
        if (spec && strchr(spec, '{')) {
            // A nested field in the spec: "{:>{width}}".
            if (depth >= 1)
                return err_at(c, call, "Max string recursion exceeded");
            Value *s = format_fields(c, spec, strlen(spec), pos, kw, auto_i, call, depth + 1);
            if (s->kind == V_ERROR)
                return s;
            spec = (char *)s->u.str.s;
        }
        const char *s = format_spec(c, v, spec, call);
        if (!s)
            return v_error();
        if (out.len + strlen(s) > MAX_STR_LEN)
            return err_at(c, call, "string too long (more than %d bytes)", MAX_STR_LEN);
        buf_puts(c->arena, &out, s);
        i = j;
    }
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

static Value *m_format(ARGS) {
    int auto_i = 0;
    return format_fields(c, self->u.str.s, self->u.str.len, a[0], a[1], &auto_i, call, 0);
}

static Value *b_format(ARGS) {
    if (a[1]->kind != V_STR)
        return err_at(c, sp[1], "format() argument 2 must be str, not %s", value_type_name(a[1]));
    const char *s = format_spec(c, a[0], a[1]->u.str.s, sp[1]);
    return s ? v_str(c, s) : v_error();
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
        if (out.len + self->u.str.len + x->u.str.len > MAX_STR_LEN)
            return err_at(c, call, "string too long (more than %d bytes)", MAX_STR_LEN);
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

// str.startswith / str.endswith: a str or a tuple of str.
static Value *affix(Ctx *c, Value *self, Value *x, Span at, const char *fn, bool end) {
    int n = x->kind == V_TUPLE ? list_len(x) : 1;
    for (int i = 0; i < n; i++) {
        Value *s = x->kind == V_TUPLE ? list_get(x, i) : x;
        if (s->kind != V_STR)
            return err_at(c, at, "%s first arg must be str or a tuple of str, not %s", fn,
                          value_type_name(s));
        size_t k = s->u.str.len, len = self->u.str.len;
        if (k <= len && !memcmp(self->u.str.s + (end ? len - k : 0), s->u.str.s, k))
            return v_bool(true);
    }
    return v_bool(false);
}

static Value *m_startswith(ARGS) { return affix(c, self, a[0], sp[0], "startswith", false); }
static Value *m_endswith(ARGS) { return affix(c, self, a[0], sp[0], "endswith", true); }

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
        if (out.len > MAX_STR_LEN)
            return err_at(c, call, "string too long (more than %d bytes)", MAX_STR_LEN);
    }
    return v_strn(c, buf_str(c->arena, &out), out.len);
}

// str.split(sep=None, maxsplit=-1): runs of whitespace without sep.
static Value *m_split(ARGS) {
    const char *s = self->u.str.s;
    size_t n = self->u.str.len;
    int64_t max;
    if (!index_arg(c, a[1], sp[1], &max))
        return v_error();
    Value *r = v_list(c);
    if (a[0]->kind == V_NONE) {
        const char *ws = " \t\n\r\f\v";
        size_t i = 0;
        while (i < n) {
            while (i < n && memchr(ws, s[i], 6))
                i++;
            if (i >= n)
                break;
            size_t j = i;
            if (max >= 0 && list_len(r) >= max)
                j = n;     // the rest, trailing blanks included
            else
                while (j < n && !memchr(ws, s[j], 6))
                    j++;
            list_append(c, r, v_strn(c, s + i, j - i));
            i = j;
        }
        return r;
    }
    if (a[0]->kind != V_STR)
        return err_at(c, sp[0], "must be str or None, not %s", value_type_name(a[0]));
    const char *sep = a[0]->u.str.s;
    size_t k = a[0]->u.str.len;
    if (k == 0)
        return err_at(c, sp[0], "empty separator");
    size_t i = 0;
    for (size_t j = 0; j + k <= n;) {
        if ((max < 0 || list_len(r) < max) && !memcmp(s + j, sep, k)) {
            list_append(c, r, v_strn(c, s + i, j - i));
            j += k;
            i = j;
        } else {
            j++;
        }
    }
    list_append(c, r, v_strn(c, s + i, n - i));
    return r;
}

static Value *strip_chars(Ctx *c, Value *self, Value *chars, Span at, bool left, bool right) {
    const char *set = " \t\n\r\f\v";
    size_t nset = 6;
    if (chars->kind == V_STR) {
        set = chars->u.str.s;
        nset = chars->u.str.len;
    } else if (chars->kind != V_NONE) {
        return err_at(c, at, "strip arg must be None or str");
    }
    const char *s = self->u.str.s;
    size_t i = 0, j = self->u.str.len;
    while (left && i < j && memchr(set, s[i], nset))
        i++;
    while (right && j > i && memchr(set, s[j - 1], nset))
        j--;
    return v_strn(c, s + i, j - i);
}

static Value *m_strip(ARGS) { return strip_chars(c, self, a[0], sp[0], true, true); }
static Value *m_lstrip(ARGS) { return strip_chars(c, self, a[0], sp[0], true, false); }
static Value *m_rstrip(ARGS) { return strip_chars(c, self, a[0], sp[0], false, true); }

// Index of the first occurrence of sub in self, or -1.
static int64_t str_find(Value *self, Value *sub) {
    size_t n = self->u.str.len, k = sub->u.str.len;
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(self->u.str.s + i, sub->u.str.s, k))
            return (int64_t)i;
    return -1;
}

static Value *m_find(ARGS) {
    if (a[0]->kind != V_STR)
        return err_at(c, sp[0], "must be str, not %s", value_type_name(a[0]));
    return v_int(c, str_find(self, a[0]));
}

static Value *m_str_count(ARGS) {
    if (a[0]->kind != V_STR)
        return err_at(c, sp[0], "must be str, not %s", value_type_name(a[0]));
    size_t n = self->u.str.len, k = a[0]->u.str.len;
    int64_t count = 0;
    if (k == 0)
        return v_int(c, (int64_t)n + 1);
    for (size_t i = 0; i + k <= n;)
        if (!memcmp(self->u.str.s + i, a[0]->u.str.s, k))
            count++, i += k;
        else
            i++;
    return v_int(c, count);
}

Builtin str_methods[] = {
    {"str.format", "*args, **kwargs", m_format},
    {"str.join", "iterable", m_join},
    {"str.upper", "", m_upper},
    {"str.lower", "", m_lower},
    {"str.startswith", "prefix", m_startswith},
    {"str.endswith", "suffix", m_endswith},
    {"str.replace", "old, new", m_replace},
    {"str.split", "sep=None, maxsplit=-1", m_split},
    {"str.strip", "chars=None", m_strip},
    {"str.lstrip", "chars=None", m_lstrip},
    {"str.rstrip", "chars=None", m_rstrip},
    {"str.find", "sub", m_find},
    {"str.count", "sub", m_str_count},
    {NULL, NULL, NULL},
};
