/*
 * test_summary.c - unit tests for compiler/summary.c (the rows) and the
 * renderer it hands them to, runtime/summary.c.
 *
 * Build and run (from the repository root): make build/test_summary && build/test_summary
 *
 * Expected texts come from two places, never from this program's output:
 *  - tables Keras 3 printed, as published (keras.io examples, the rstudio/keras3
 *    docs and user notebooks found in public repositories); each is noted below;
 *  - hand derivations from the Keras reference, keras3-semantics.md §1 (widths §1.2,
 *    wrapping examples §1.5, sizes §1.6), the arithmetic written next to them.
 * Rule lines (┏━┳┓ ...) are built from the cell widths of §1.2, row text is literal.
 * Layers, tensors and graphs are built by hand here, the way eval.c/model.c
 * will build them, so the test needs no interpreter.
 */
#define _DEFAULT_SOURCE  // setenv, unsetenv

#include "kdlc.h"
#include "internal.h"   // the renderer's pieces (kdl_summary_*)

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// The renderer's pieces are declared in runtime/internal.h; the test links
// the whole compiler library (model.c gives model_is_built and friends),
// which holds runtime/summary.c too.

static Arena *A;
static Ctx C;
static int npass, nfail;

static void check_str(const char *what, const char *got, const char *want) {
    if (got && want && strcmp(got, want) == 0) {
        npass++;
        return;
    }
    nfail++;
    printf("FAIL %s\n--- want\n%s\n--- got\n%s\n---\n", what, want ? want : "(null)",
           got ? got : "(null)");
}

static void check_int(const char *what, long long got, long long want) {
    if (got == want) {
        npass++;
        return;
    }
    nfail++;
    printf("FAIL %s: want %lld, got %lld\n", what, want, got);
}

static void check_ints(const char *what, const int *got, const int *want, int n) {
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            nfail++;
            printf("FAIL %s: column %d: want %d, got %d\n", what, i, want[i], got[i]);
            return;
        }
    npass++;
}

//
// Expected-text helpers. A table is given as lines; "=T", "=H", "=R", "=B"
// stand for the top edge, the header separator, a row separator and the
// bottom edge over the cell widths `w` (padding included).
//

static const int *exp_w;
static int exp_n;

static void put_rule(Buf *b, const char *l, const char *h, const char *m, const char *r) {
    buf_puts(A, b, l);
    for (int i = 0; i < exp_n; i++) {
        if (i)
            buf_puts(A, b, m);
        for (int k = 0; k < exp_w[i]; k++)
            buf_puts(A, b, h);
    }
    buf_puts(A, b, r);
    buf_putc(A, b, '\n');
}

static const char *expect(const int *w, int n, const char *const *lines) {
    Buf b = {0};
    exp_w = w;
    exp_n = n;
    for (int i = 0; lines[i]; i++) {
        const char *s = lines[i];
        if (strcmp(s, "=T") == 0)
            put_rule(&b, "┏", "━", "┳", "┓");
        else if (strcmp(s, "=H") == 0)
            put_rule(&b, "┡", "━", "╇", "┩");
        else if (strcmp(s, "=R") == 0)
            put_rule(&b, "├", "─", "┼", "┤");
        else if (strcmp(s, "=B") == 0)
            put_rule(&b, "└", "─", "┴", "┘");
        else {
            buf_puts(A, &b, s);
            buf_putc(A, &b, '\n');
        }
    }
    return buf_str(A, &b);
}

// One visual table line from already-wrapped cell texts, padded by hand
// rules: 'l' text then spaces, 'r' spaces then text, 'c' floor half left.
static const char *tline(const char *vert, const char *just, ...) {
    va_list ap;
    va_start(ap, just);
    Buf b = {0};
    buf_puts(A, &b, vert);
    for (int i = 0; i < exp_n; i++) {
        const char *t = va_arg(ap, const char *);
        int room = exp_w[i] - 2, len = 0;
        for (const char *p = t; *p; p++)
            len += (*p & 0xC0) != 0x80;  // code points: "…" is one cell
        int left = just[i] == 'r' ? room - len : just[i] == 'c' ? (room - len) / 2 : 0;
        buf_putc(A, &b, ' ');
        for (int k = 0; k < left; k++)
            buf_putc(A, &b, ' ');
        buf_puts(A, &b, t);
        for (int k = 0; k < room - len - left; k++)
            buf_putc(A, &b, ' ');
        buf_putc(A, &b, ' ');
        buf_puts(A, &b, vert);
    }
    va_end(ap);
    return buf_str(A, &b);
}

//
// Hand-built layers, tensors and models.
//

static const LayerClass cls_input = {.name = "InputLayer", .flags = LC_INPUT};
static const LayerClass cls_other = {.name = "Other"};

static Layer *mk_layer(const char *name, const char *cls) {
    Layer *l = arena_alloc(A, sizeof *l);
    l->name = name;
    l->class_name = cls;
    l->cls = strcmp(cls, "InputLayer") == 0 ? &cls_input : &cls_other;
    l->trainable = true;
    l->built = true;
    return l;
}

static Shape shp(int rank, ...) {
    va_list ap;
    va_start(ap, rank);
    int64_t d[MAX_RANK];
    for (int i = 0; i < rank; i++)
        d[i] = va_arg(ap, int);
    va_end(ap);
    return shape_make(rank, d);
}

#define NONE (-1)

static void add_weight(Layer *l, bool trainable, Shape s) {
    Weight *w = arena_alloc(A, sizeof *w);
    w->shape = s;
    w->trainable = trainable;
    w->owner = l;
    Weight **ws = arena_alloc(A, sizeof *ws * (size_t)(l->nweights + 1));
    if (l->nweights)
        memcpy(ws, l->weights, sizeof *ws * (size_t)l->nweights);
    ws[l->nweights++] = w;
    l->weights = ws;
}

// Dense-like weights: kernel (in, out) and bias (out,).
static void dense_weights(Layer *l, int in, int out) {
    add_weight(l, true, shp(2, in, out));
    add_weight(l, true, shp(1, out));
}

static CallNode *last_node;

// Call layer l on nin tensors; one output of shape `out`.
static Tensor *call(Layer *l, Shape out, int nin, ...) {
    CallNode *n = arena_alloc(A, sizeof *n);
    n->layer = l;
    n->nin = nin;
    n->in = arena_alloc(A, sizeof *n->in * (size_t)(nin + 1));
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        n->in[i] = va_arg(ap, Tensor *);
    va_end(ap);
    Tensor *t = arena_alloc(A, sizeof *t);
    t->shape = out;
    t->node = n;
    n->out = arena_alloc(A, sizeof *n->out);
    n->out[0] = t;
    n->nout = 1;
    n->node_index = l->nodes.len;
    vec_push(A, &l->nodes, n);
    last_node = n;
    return t;
}

static Layer *mk_model(const char *name, const char *cls, ModelKind kind) {
    Layer *l = mk_layer(name, cls);
    l->cls = NULL;
    Model *m = arena_alloc(A, sizeof *m);
    m->kind = kind;
    m->self = l;
    m->built = true;
    l->model = m;
    return l;
}

// A Functional model over `ops` (graph order); the graph's nodes are all
// the nodes of those ops.
static Layer *mk_functional(const char *name, Tensor **ins, int nin, Tensor **outs, int nout,
                            Layer **ops, int nops) {
    Layer *l = mk_model(name, "Functional", MODEL_FUNCTIONAL);
    Graph *g = arena_alloc(A, sizeof *g);
    g->inputs = ins;
    g->ninputs = nin;
    g->outputs = outs;
    g->noutputs = nout;
    g->ops = ops;
    g->nops = nops;
    Vec nodes = {0};
    for (int i = 0; i < nops; i++) {
        vec_push(A, &l->model->layers, ops[i]);
        for (int j = 0; j < ops[i]->nodes.len; j++)
            vec_push(A, &nodes, ops[i]->nodes.data[j]);
    }
    g->nodes = (CallNode **)nodes.data;
    g->nnodes = nodes.len;
    l->model->graph = g;
    return l;
}

static Value *mk_value(ValueKind k) {
    Value *v = arena_alloc(A, sizeof *v);
    v->kind = k;
    return v;
}

static Value *tensor_value(Tensor *t) {
    Value *v = mk_value(V_TENSOR);
    v->u.tensor = t;
    return v;
}

static SummaryOpts opts80(void) {
    SummaryOpts o;
    memset(&o, 0, sizeof o);
    o.columns = 80;  // not a terminal: line_length 76
    return o;
}

static const char *render(Layer *m, const SummaryOpts *o, const char **err) {
    *err = NULL;
    return summary_render(&C, m, o, err);
}

//
// Widths (docs §1.2).
//

static void test_widths(void) {
    static const double seq[] = {0.45, 0.80, 1.0}, fun[] = {0.3, 0.56, 0.74, 1.0};
    int w[8], cells[8];

    // Sequential at 76: 34.2 -> 34, 60.8 -> 60 (26), 76 (16).
    kdl_summary_col_widths(76, seq, 3, false, 3, w);
    check_ints("seq 76 widths", w, (int[]){34, 26, 16}, 3);
    // cells 36/28/18 = 82 > 72: excess 10 -> 3 (3.33), 4 (3.5 -> 4), 3.
    kdl_summary_cell_widths(76, w, 3, cells);
    check_ints("seq 76 cells", cells, (int[]){33, 24, 15}, 3);

    kdl_summary_col_widths(88, seq, 3, false, 3, w);
    check_ints("seq 88 widths", w, (int[]){39, 31, 18}, 3);
    kdl_summary_cell_widths(88, w, 3, cells);
    check_ints("seq 88 cells", cells, (int[]){38, 29, 17}, 3);

    kdl_summary_col_widths(76, fun, 4, false, 4, w);
    check_ints("functional 76 widths", w, (int[]){22, 20, 14, 20}, 4);
    kdl_summary_cell_widths(76, w, 4, cells);
    check_ints("functional 76 cells", cells, (int[]){21, 19, 12, 19}, 4);

    kdl_summary_col_widths(108, fun, 4, false, 4, w);
    check_ints("functional 108 widths", w, (int[]){32, 28, 19, 29}, 4);
    kdl_summary_cell_widths(108, w, 4, cells);
    check_ints("functional 108 cells", cells, (int[]){31, 27, 17, 28}, 4);

    // show_trainable: positions * 0.90 + [1.0].
    double st[] = {0.45 * 0.90, 0.80 * 0.90, 1.0 * 0.90, 1.0};
    kdl_summary_col_widths(76, st, 4, false, 4, w);
    check_ints("show_trainable 76 widths", w, (int[]){30, 24, 14, 8}, 4);
    kdl_summary_cell_widths(76, w, 4, cells);
    check_ints("show_trainable 76 cells", cells, (int[]){29, 23, 12, 7}, 4);
    kdl_summary_col_widths(100, st, 4, false, 4, w);
    check_ints("show_trainable 100 widths", w, (int[]){40, 32, 18, 10}, 4);
    kdl_summary_cell_widths(100, w, 4, cells);
    check_ints("show_trainable 100 cells", cells, (int[]){39, 31, 16, 9}, 4);

    kdl_summary_cell_widths(76, (int[]){20, 18, 12, 18, 8}, 5, cells);
    check_ints("functional show_trainable 76 cells", cells, (int[]){19, 17, 11, 16, 7}, 5);
    kdl_summary_cell_widths(120, (int[]){32, 28, 19, 29, 12}, 5, cells);
    check_ints("functional show_trainable 120 cells", cells, (int[]){31, 27, 18, 27, 11}, 5);

    // Keras 3.0.x positions [0.45, 0.84, 1.0]: 34/29/13 -> 33/27/12.
    kdl_summary_col_widths(76, (double[]){0.45, 0.84, 1.0}, 3, false, 3, w);
    check_ints("3.0.x widths", w, (int[]){34, 29, 13}, 3);
    kdl_summary_cell_widths(76, w, 3, cells);
    check_ints("3.0.x cells", cells, (int[]){33, 27, 12}, 3);

    // Half to even: cells 16/14/14 at 40 (avail 36), excess 8: 3 (2.67),
    // then 5/2 = 2.5 -> 2 (not 3), then 3.
    kdl_summary_cell_widths(40, (int[]){14, 12, 12}, 3, cells);
    check_ints("round half even", cells, (int[]){13, 12, 11}, 3);

    // Huge widths are capped at avail (72) and squeezed equally: 24/24/24.
    kdl_summary_cell_widths(76, (int[]){2508, 2052, 1216}, 3, cells);
    check_ints("capped widths", cells, (int[]){24, 24, 24}, 3);

    // Narrow columns expand (ratio_distribute): 12/22/7 = 41, 31 to add:
    // ceil(12*31/41) = 10, ceil(22*21/29) = 16, ceil(7*5/7) = 5.
    kdl_summary_cell_widths(76, (int[]){10, 20, 5}, 3, cells);
    check_ints("expand", cells, (int[]){22, 38, 12}, 3);

    // Absolute positions (Keras 2): end offsets 33, 60, 76.
    kdl_summary_col_widths(76, (double[]){33, 60, 76}, 3, true, 3, w);
    check_ints("absolute widths", w, (int[]){33, 27, 16}, 3);

    // A column below 4 characters: 0.45*12 = 5, 9.6 -> 9 (4), 12 (3).
    check_int("insufficient width", kdl_summary_col_widths(12, seq, 3, false, 3, w), 0);
    check_int("just enough width", kdl_summary_col_widths(16, seq, 3, false, 3, w), 1);
}

//
// Wrapping (docs §1.5).
//

// The wrapped lines, each followed by '|'.
static const char *joined(const char *text, int width, char justify) {
    char *lines = kdl_summary_wrap(text, width, justify);
    for (char *p = lines; p && *p; p++)
        if (*p == '\n')
            *p = '|';
    const char *s = lines ? arena_strdup(A, lines) : NULL;
    free(lines);
    return s;
}

static void test_wrap(void) {
    check_str("wrap 31", joined("global_max_pooling2d (GlobalMaxPooling2D)", 31, 'l'),
              "global_max_pooling2d           |(GlobalMaxPooling2D)           |");
    check_str("ellipsis 31",
              joined("standardized_conv2d_with_override (StandardizedConv2DWithOverride)", 31,
                     'l'),
              "standardized_conv2d_with_overr…|(StandardizedConv2DWithOverrid…|");
    check_str("shape 17", joined("(None, 30, 30, 32)", 17, 'l'),
              "(None, 30, 30,   |32)              |");
    check_str("fits", joined("dense (Dense)", 31, 'l'), "dense (Dense)                  |");
    check_str("right", joined("Param #", 13, 'r'), "      Param #|");
    check_str("right wrapped", joined("Param #", 5, 'r'), "Param|    #|");
    check_str("header 10", joined("Output Shape", 10, 'l'), "Output    |Shape     |");
    check_str("center ellipsis", joined("Trainable", 5, 'c'), "Trai…|");
    check_str("center odd", joined("Y", 5, 'c'), "  Y  |");
    check_str("center even", joined("N", 6, 'c'), "  N   |");
    check_str("nested prefix", joined("   └ dense (Dense)", 20, 'l'), "   └ dense (Dense)  |");
    // A word that fills the line exactly, then the next goes below.
    check_str("exact fill", joined("abcdefghi j", 10, 'l'), "abcdefghi |j         |");
    check_str("empty", joined("", 4, 'l'), "    |");
    check_str("two long words", joined("global_max_pooling1d_2[0][0], global_max_pooling1d_3[0][0]",
                                       17, 'l'),
              "global_max_pooli…|global_max_pooli…|");
    // Console text: not padded, long words folded at the width.
    check_str("fold", joined("Model: \"a_very_long_name\"", 10, 'd'),
              "Model: |\"a_very_lo|ng_name\"|");
    check_str("console fits", joined(" Total params: 0 (0.00 B)", 80, 'd'),
              " Total params: 0 (0.00 B)|");
}

static const char *size_str(double bytes) {
    char s[32];
    kdl_summary_readable_size(bytes, s);
    return arena_strdup(A, s);
}

static void test_sizes(void) {
    check_str("0 B", size_str(0), "0.00 B");
    check_str("140 B", size_str(140), "140.00 B");
    check_str("1023 B", size_str(1023), "1023.00 B");
    check_str("1 KB", size_str(1024), "1.00 KB");
    check_str("1.29 KB", size_str(1320), "1.29 KB");        // 1.289
    check_str("1016.79 KB", size_str(1041193), "1016.79 KB");  // < 1024 KB
    check_str("10.71 MB", size_str(11230249), "10.71 MB");
    check_str("45.62 KB", size_str(46720), "45.62 KB");     // 45.625, even
    check_str("190.12 KB", size_str(194688), "190.12 KB");  // 190.125
    check_str("136.04 KB", size_str(34826 * 4.0), "136.04 KB");
}

static void test_regex(void) {
    check_int("re prefix", kdl_summary_re_match("dense", "dense_1"), 1);
    check_int("re end anchor", kdl_summary_re_match("dense$", "dense_1"), 0);
    check_int("re anchored start", kdl_summary_re_match("ense", "dense"), 0);
    check_int("re alternation anchored", kdl_summary_re_match("b|c", "abc"), 0);
    check_int("re alternation", kdl_summary_re_match("x|dense", "dense"), 1);
    check_int("re \\d", kdl_summary_re_match("conv\\d+d", "conv2d_1"), 1);
    check_int("re \\w", kdl_summary_re_match("\\w+_1$", "dense_1"), 1);
    check_int("re class \\d", kdl_summary_re_match("dense_[\\d]", "dense_7"), 1);
    check_int("re non-capturing", kdl_summary_re_match("(?:de)nse", "dense"), 1);
    check_int("re lazy", kdl_summary_re_match("d.*?_1", "dense_1"), 1);
    check_int("re empty", kdl_summary_re_match("", "anything"), 1);
    check_int("re invalid", kdl_summary_re_match("(", "x"), -1);
    // Python's syntax and semantics (checked against re.match).
    check_int("re dollar before final newline", kdl_summary_re_match("a$", "a\n"), 1);
    check_int("re \\Z", kdl_summary_re_match("a\\Z", "a\n"), 0);
    check_int("re dot no newline", kdl_summary_re_match("a.", "a\n"), 0);
    check_int("re dot code point", kdl_summary_re_match("d.n", "d\xc3\xa9n"), 1);
    check_int("re class code point", kdl_summary_re_match("d[\xc3\xa9]n", "d\xc3\xa9n"), 1);
    check_int("re \\w non-ASCII", kdl_summary_re_match("\\w+$", "caf\xc3\xa9"), 1);
    check_int("re \\b", kdl_summary_re_match("dense\\b", "dense_1"), 0);
    check_int("re \\b end", kdl_summary_re_match("dense\\b", "dense"), 1);
    check_int("re \\B empty", kdl_summary_re_match("\\B", ""), 0);
    check_int("re literal brace", kdl_summary_re_match("a{x}", "a{x}"), 1);
    check_int("re {,2}", kdl_summary_re_match("a{,2}b", "aab"), 1);
    check_int("re {,2} too many", kdl_summary_re_match("a{,2}b", "aaab"), 0);
    check_int("re {2,}", kdl_summary_re_match("a{2,}b", "aaaab"), 1);
    check_int("re \\n escape", kdl_summary_re_match("a\\nb", "a\nb"), 1);
    check_int("re \\x escape", kdl_summary_re_match("\\x64ense", "dense"), 1);
    check_int("re named group", kdl_summary_re_match("(?P<kind>conv|dense)_\\d", "dense_1"), 1);
    check_int("re comment", kdl_summary_re_match("de(?#note)nse", "dense"), 1);
    check_int("re class ] first", kdl_summary_re_match("[]a]+$", "a]a"), 1);
    check_int("re negated class", kdl_summary_re_match("[^_]+$", "dense_1"), 0);
    check_int("re nothing to repeat", kdl_summary_re_match("*a", "a"), -1);
    check_int("re multiple repeat", kdl_summary_re_match("a**", "a"), -1);
    check_int("re bad escape", kdl_summary_re_match("\\e", "e"), -1);
    check_int("re min > max", kdl_summary_re_match("a{2,1}", "a"), -1);
    check_int("re lookahead", kdl_summary_re_match("(?=d)d", "d"), -1);
    check_int("re backreference", kdl_summary_re_match("(a)\\1", "aa"), -1);
    check_int("re possessive", kdl_summary_re_match("a*+", "a"), -1);
    // Patterns that took POSIX regcomp minutes and GBs (nested counted
    // repetitions) or exponential time (nested empty loops) are either
    // rejected as too large or matched in linear time.
    check_int("re nested intervals too large", kdl_summary_re_match("(a{1,1000}){1,1000}", "a"), -1);
    check_int("re interval too large", kdl_summary_re_match("a{1,10000}", "a"), -1);
    check_int("re huge interval of nothing", kdl_summary_re_match("(){4294967294}x", "x"), 1);
    check_int("re repetition overflow", kdl_summary_re_match("a{4294967295}", "a"), -1);
    check_int("re nested empty loops", kdl_summary_re_match("((a*)*){1,1000}b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 0);
    char deep[512] = "";
    for (int k = 0; k < 30; k++)
        strcat(deep, "((a*)*");
    for (int k = 0; k < 30; k++)
        strcat(deep, ")?");
    strcat(deep, "b");
    check_int("re nested optional empty loops", kdl_summary_re_match(deep, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 0);
    char too_deep[256] = "";
    for (int k = 0; k < 101; k++)
        strcat(too_deep, "(");
    strcat(too_deep, "a");
    for (int k = 0; k < 101; k++)
        strcat(too_deep, ")");
    check_int("re groups nested too deeply", kdl_summary_re_match(too_deep, "a"), -1);
}

//
// Whole summaries.
//

// keras.io mnist_convnet (Keras 3 at 76 columns), as printed in the
// rstudio/keras3 docs and other public copies.
static Layer *mnist_model(const char *names[7], const char *classes[7]) {
    Layer *m = mk_model("sequential", "Sequential", MODEL_SEQUENTIAL);
    Layer *in = mk_layer("input_layer", "InputLayer");
    Tensor *x = call(in, shp(4, NONE, 28, 28, 1), 0);
    vec_push(A, &m->model->layers, in);  // Sequential.layers must drop it
    static const int shapes[7][4] = {{26, 26, 32}, {13, 13, 32}, {11, 11, 64}, {5, 5, 64},
                                     {1600}, {1600}, {10}};
    for (int i = 0; i < 7; i++) {
        Layer *l = mk_layer(names[i], classes[i]);
        int rank = shapes[i][1] ? 4 : 2;
        Shape s = rank == 4 ? shp(4, NONE, shapes[i][0], shapes[i][1], shapes[i][2])
                            : shp(2, NONE, shapes[i][0]);
        x = call(l, s, 1, x);
        vec_push(A, &m->model->layers, l);
    }
    Layer **ls = (Layer **)m->model->layers.data;
    add_weight(ls[1], true, shp(4, 3, 3, 1, 32));   // 288 + 32 = 320
    add_weight(ls[1], true, shp(1, 32));
    add_weight(ls[3], true, shp(4, 3, 3, 32, 64));  // 18,432 + 64 = 18,496
    add_weight(ls[3], true, shp(1, 64));
    dense_weights(ls[7], 1600, 10);                 // 16,010
    return m;
}

static void test_sequential(void) {
    const char *names[] = {"conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten",
                           "dropout", "dense"};
    const char *classes[] = {"Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten",
                             "Dropout", "Dense"};
    Layer *m = mnist_model(names, classes);
    SummaryOpts o = opts80();
    const char *err;
    static const char *const lines[] = {
        "Model: \"sequential\"",
        "=T",
        "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃",
        "=H",
        "│ conv2d (Conv2D)                 │ (None, 26, 26, 32)     │           320 │",
        "=R",
        "│ max_pooling2d (MaxPooling2D)    │ (None, 13, 13, 32)     │             0 │",
        "=R",
        "│ conv2d_1 (Conv2D)               │ (None, 11, 11, 64)     │        18,496 │",
        "=R",
        "│ max_pooling2d_1 (MaxPooling2D)  │ (None, 5, 5, 64)       │             0 │",
        "=R",
        "│ flatten (Flatten)               │ (None, 1600)           │             0 │",
        "=R",
        "│ dropout (Dropout)               │ (None, 1600)           │             0 │",
        "=R",
        "│ dense (Dense)                   │ (None, 10)             │        16,010 │",
        "=B",
        " Total params: 34,826 (136.04 KB)",
        " Trainable params: 34,826 (136.04 KB)",
        " Non-trainable params: 0 (0.00 B)",
        NULL,
    };
    static const int w76[] = {33, 24, 15};
    check_str("mnist sequential", render(m, &o, &err), expect(w76, 3, lines));

    // layer_range: first match of [0] to last match of [1], either order.
    static const int w3[] = {33, 24, 15};
    exp_w = w3;
    exp_n = 3;
    o.layer_range[0] = "conv2d_1";
    o.layer_range[1] = "flat";
    const char *const ranged[] = {
        "Model: \"sequential\"",
        "=T",
        tline("┃", "llr", "Layer (type)", "Output Shape", "Param #"),
        "=H",
        tline("│", "llr", "conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"),
        "=R",
        tline("│", "llr", "max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
        "=R",
        tline("│", "llr", "flatten (Flatten)", "(None, 1600)", "0"),
        "=B",
        // The footer still counts the whole model.
        " Total params: 34,826 (136.04 KB)",
        " Trainable params: 34,826 (136.04 KB)",
        " Non-trainable params: 0 (0.00 B)",
        NULL,
    };
    check_str("layer_range", render(m, &o, &err), expect(w3, 3, ranged));
    const char *got;
    o.layer_range[0] = "dense";  // after conv2d_1: rows conv2d_1 .. dense
    o.layer_range[1] = "conv2d_1";
    got = render(m, &o, &err);
    check_int("layer_range reversed", got && strstr(got, "│ conv2d_1 (Conv2D)") &&
                                          strstr(got, "│ dense (Dense)") &&
                                          !strstr(got, "│ max_pooling2d (Max"), 1);
    o.layer_range[0] = "max_pool.*";  // regex: first match is max_pooling2d
    o.layer_range[1] = "max_pool.*";  // last match is max_pooling2d_1
    got = render(m, &o, &err);
    check_int("layer_range regex", got && strstr(got, "│ max_pooling2d (Max") &&
                                       strstr(got, "│ max_pooling2d_1 (Max") &&
                                       !strstr(got, "│ flatten"), 1);
    o.layer_range[0] = "(";
    check_int("layer_range bad regex", render(m, &o, &err) == NULL && strstr(err, "'('"), 1);
    o.layer_range[0] = "nope";
    o.layer_range[1] = "dense";
    check_str("layer_range no match", render(m, &o, &err) ? "(text)" : err,
              "Passed layer_names do not match the layer names in the model. Received: "
              "['nope', 'dense']");

    // Keras 3.0.x defaults passed explicitly: positions [0.45, 0.84, 1.0].
    // Published Keras 3.0 output of keras.io's "Customizing what happens in
    // fit" / conv-with-override example (cells 33/27/12).
    names[0] = "standardized_conv2d_with_call";
    classes[0] = "StandardizedConv2DWithCall";
    names[2] = "standardized_conv2d_with_override";
    classes[2] = "StandardizedConv2DWithOverride";
    m = mnist_model(names, classes);
    o = opts80();
    o.positions[0] = 0.45, o.positions[1] = 0.84, o.positions[2] = 1.0;
    o.npositions = 3;
    static const char *const lines30[] = {
        "Model: \"sequential\"",
        "=T",
        "┃ Layer (type)                    ┃ Output Shape              ┃    Param # ┃",
        "=H",
        "│ standardized_conv2d_with_call   │ (None, 26, 26, 32)        │        320 │",
        "│ (StandardizedConv2DWithCall)    │                           │            │",
        "=R",
        "│ max_pooling2d (MaxPooling2D)    │ (None, 13, 13, 32)        │          0 │",
        "=R",
        "│ standardized_conv2d_with_overr… │ (None, 11, 11, 64)        │     18,496 │",
        "│ (StandardizedConv2DWithOverrid… │                           │            │",
        "=R",
        "│ max_pooling2d_1 (MaxPooling2D)  │ (None, 5, 5, 64)          │          0 │",
        "=R",
        "│ flatten (Flatten)               │ (None, 1600)              │          0 │",
        "=R",
        "│ dropout (Dropout)               │ (None, 1600)              │          0 │",
        "=R",
        "│ dense (Dense)                   │ (None, 10)                │     16,010 │",
        "=B",
        " Total params: 34,826 (136.04 KB)",
        " Trainable params: 34,826 (136.04 KB)",
        " Non-trainable params: 0 (0.00 B)",
        NULL,
    };
    static const int w30[] = {33, 27, 12};
    check_str("keras 3.0 positions", render(m, &o, &err), expect(w30, 3, lines30));

    // Cropping: line_length 100 on an 80-column console. Cells at 100:
    // 45/35/20 -> 47/37/22 = 106 > 96, minus 3, 4 (3.5), 3 -> 44/33/19; the
    // top edge is cut after 1 + 44 + 1 + 33 + 1 = 80 cells, at the second ┳.
    o = opts80();
    o.line_length = 100;
    got = render(m, &o, &err);
    static const int wcrop[] = {44, 33};
    const char *top = expect(wcrop, 2, (const char *const[]){"=T", NULL});
    // "=T" ends in ┓ for 2 columns; the cropped line ends in ┳ instead.
    char *crop = arena_strdup(A, top);
    strcpy(strstr(crop, "┓"), "┳\n");
    check_int("crop top line", got && strstr(got, crop) != NULL, 1);
    exp_w = wcrop;
    exp_n = 2;
    const char *head = arena_printf(A, "%s\n", tline("┃", "ll", "Layer (type)", "Output Shape"));
    check_int("crop header", got && strstr(got, head) != NULL, 1);

    // Narrow consoles: columns 20 -> line_length 16: 7/5/4 is enough;
    // columns 15 -> 11: 4/4/3 is not.
    o = opts80();
    o.columns = 20;
    check_int("columns 20 renders", render(m, &o, &err) != NULL, 1);
    o.columns = 15;
    check_str("columns 15", render(m, &o, &err) ? "(text)" : err,
              "Insufficient console width to print summary.");
    o = opts80();
    o.line_length = 12;
    check_str("line_length 12", render(m, &o, &err) ? "(text)" : err,
              "Insufficient console width to print summary.");
    o = opts80();
    o.positions[0] = 0.5, o.positions[1] = 1.0;
    o.npositions = 2;
    check_int("too few positions", render(m, &o, &err) == NULL && strstr(err, "positions"), 1);

    m->built = m->model->built = false;
    o = opts80();
    check_str("unbuilt model", render(m, &o, &err) ? "(text)" : err,
              "This model has not yet been built. Build the model first by calling `build()` "
              "or by calling the model on a batch of data.");
}

// Two-input functional model; published Keras 3 output (a text-emotion
// notebook): non-sequential layout at 76 (21/19/12/19), "Connected to".
static void test_functional(void) {
    Layer *in2 = mk_layer("input_layer_2", "InputLayer");
    Layer *in3 = mk_layer("input_layer_3", "InputLayer");
    Tensor *a = call(in2, shp(2, NONE, 50), 0);
    Tensor *b = call(in3, shp(2, NONE, 50), 0);
    Layer *ops[32];
    int n = 0;
    ops[n++] = in2;
    ops[n++] = in3;
    Tensor *branch[2] = {a, b};
    // Two identical branches, created interleaved as in the published order.
    const char *emb[] = {"embedding_2", "embedding_3"}, *conv[] = {"conv1d_2", "conv1d_3"};
    const char *bn[] = {"batch_normalization_2", "batch_normalization_3"};
    const char *relu[] = {"re_lu_2", "re_lu_3"}, *drop[] = {"dropout_3", "dropout_4"};
    const char *gmp[] = {"global_max_pooling1d_2", "global_max_pooling1d_3"};
    for (int i = 0; i < 2; i++) {
        Layer *l = ops[n++] = mk_layer(emb[i], "Embedding");
        add_weight(l, true, shp(2, 10000, 32));
        branch[i] = call(l, shp(3, NONE, 50, 32), 1, branch[i]);
    }
    for (int i = 0; i < 2; i++) {
        Layer *l = ops[n++] = mk_layer(conv[i], "Conv1D");
        add_weight(l, true, shp(3, 3, 32, 64));
        add_weight(l, true, shp(1, 64));
        branch[i] = call(l, shp(3, NONE, 50, 64), 1, branch[i]);
    }
    for (int i = 0; i < 2; i++) {
        Layer *l = ops[n++] = mk_layer(bn[i], "BatchNormalization");
        add_weight(l, true, shp(1, 64));
        add_weight(l, true, shp(1, 64));
        add_weight(l, false, shp(1, 64));  // moving stats
        add_weight(l, false, shp(1, 64));
        branch[i] = call(l, shp(3, NONE, 50, 64), 1, branch[i]);
    }
    for (int i = 0; i < 2; i++)
        branch[i] = call(ops[n++] = mk_layer(relu[i], "ReLU"), shp(3, NONE, 50, 64), 1,
                         branch[i]);
    for (int i = 0; i < 2; i++)
        branch[i] = call(ops[n++] = mk_layer(drop[i], "Dropout"), shp(3, NONE, 50, 64), 1,
                         branch[i]);
    for (int i = 0; i < 2; i++)
        branch[i] = call(ops[n++] = mk_layer(gmp[i], "GlobalMaxPooling1D"), shp(2, NONE, 64),
                         1, branch[i]);
    Tensor *x = call(ops[n++] = mk_layer("concatenate_1", "Concatenate"), shp(2, NONE, 128), 2,
                     branch[0], branch[1]);
    Layer *d2 = ops[n++] = mk_layer("dense_2", "Dense");
    dense_weights(d2, 128, 128);
    x = call(d2, shp(2, NONE, 128), 1, x);
    x = call(ops[n++] = mk_layer("dropout_5", "Dropout"), shp(2, NONE, 128), 1, x);
    Layer *d3 = ops[n++] = mk_layer("dense_3", "Dense");
    dense_weights(d3, 128, 4);
    x = call(d3, shp(2, NONE, 4), 1, x);
    Tensor **ins = arena_alloc(A, sizeof *ins * 2), **outs = arena_alloc(A, sizeof *outs);
    ins[0] = a, ins[1] = b, outs[0] = x;
    Layer *m = mk_functional("functional", ins, 2, outs, 1, ops, n);

    static const char *const lines[] = {
        "Model: \"functional\"",
        "=T",
        "┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃",
        "=H",
        "│ input_layer_2       │ (None, 50)        │          0 │ -                 │",
        "│ (InputLayer)        │                   │            │                   │",
        "=R",
        "│ input_layer_3       │ (None, 50)        │          0 │ -                 │",
        "│ (InputLayer)        │                   │            │                   │",
        "=R",
        "│ embedding_2         │ (None, 50, 32)    │    320,000 │ input_layer_2[0]… │",
        "│ (Embedding)         │                   │            │                   │",
        "=R",
        "│ embedding_3         │ (None, 50, 32)    │    320,000 │ input_layer_3[0]… │",
        "│ (Embedding)         │                   │            │                   │",
        "=R",
        "│ conv1d_2 (Conv1D)   │ (None, 50, 64)    │      6,208 │ embedding_2[0][0] │",
        "=R",
        "│ conv1d_3 (Conv1D)   │ (None, 50, 64)    │      6,208 │ embedding_3[0][0] │",
        "=R",
        "│ batch_normalizatio… │ (None, 50, 64)    │        256 │ conv1d_2[0][0]    │",
        "│ (BatchNormalizatio… │                   │            │                   │",
        "=R",
        "│ batch_normalizatio… │ (None, 50, 64)    │        256 │ conv1d_3[0][0]    │",
        "│ (BatchNormalizatio… │                   │            │                   │",
        "=R",
        "│ re_lu_2 (ReLU)      │ (None, 50, 64)    │          0 │ batch_normalizat… │",
        "=R",
        "│ re_lu_3 (ReLU)      │ (None, 50, 64)    │          0 │ batch_normalizat… │",
        "=R",
        "│ dropout_3 (Dropout) │ (None, 50, 64)    │          0 │ re_lu_2[0][0]     │",
        "=R",
        "│ dropout_4 (Dropout) │ (None, 50, 64)    │          0 │ re_lu_3[0][0]     │",
        "=R",
        "│ global_max_pooling… │ (None, 64)        │          0 │ dropout_3[0][0]   │",
        "│ (GlobalMaxPooling1… │                   │            │                   │",
        "=R",
        "│ global_max_pooling… │ (None, 64)        │          0 │ dropout_4[0][0]   │",
        "│ (GlobalMaxPooling1… │                   │            │                   │",
        "=R",
        "│ concatenate_1       │ (None, 128)       │          0 │ global_max_pooli… │",
        "│ (Concatenate)       │                   │            │ global_max_pooli… │",
        "=R",
        "│ dense_2 (Dense)     │ (None, 128)       │     16,512 │ concatenate_1[0]… │",
        "=R",
        "│ dropout_5 (Dropout) │ (None, 128)       │          0 │ dense_2[0][0]     │",
        "=R",
        "│ dense_3 (Dense)     │ (None, 4)         │        516 │ dropout_5[0][0]   │",
        "=B",
        // Hand: 2*320,000 + 2*6,208 + 2*256 + 16,512 + 516 = 669,956 (x4 B =
        // 2,679,824 B = 2.556 MB); moving stats 2*128 = 256 (1,024 B = 1.00 KB).
        " Total params: 669,956 (2.56 MB)",
        " Trainable params: 669,700 (2.55 MB)",
        " Non-trainable params: 256 (1.00 KB)",
        NULL,
    };
    static const int w[] = {21, 19, 12, 19};
    const char *err;
    SummaryOpts o = opts80();
    check_str("two-input functional", render(m, &o, &err), expect(w, 4, lines));
}

// keras.io transfer-learning guide (Xception frozen inside a Functional
// chain), summary(show_trainable=True); published Keras 3 output. A plain
// chain is sequential-like, so 4 columns: 29/23/12/7.
static void test_show_trainable(void) {
    // The nested base model: InputLayer -> one layer holding the weights.
    Layer *bin = mk_layer("input_layer_6", "InputLayer");
    Tensor *bx = call(bin, shp(4, NONE, 150, 150, 3), 0);
    Layer *block = mk_layer("block", "Conv2D");
    add_weight(block, true, shp(1, 20861480 - 256));
    add_weight(block, false, shp(1, 256));
    Tensor *by = call(block, shp(4, NONE, 5, 5, 2048), 1, bx);
    Tensor **bins = arena_alloc(A, sizeof(Tensor *)), **bouts = arena_alloc(A, sizeof(Tensor *));
    bins[0] = bx, bouts[0] = by;
    Layer **bops = arena_alloc(A, sizeof(Layer *) * 2);
    bops[0] = bin, bops[1] = block;
    Layer *xception = mk_functional("xception", bins, 1, bouts, 1, bops, 2);
    // base_model.trainable = False: the setter freezes the sublayers too.
    xception->trainable = bin->trainable = block->trainable = false;

    Layer *ops[6];
    ops[0] = mk_layer("input_layer_7", "InputLayer");
    Tensor *x = call(ops[0], shp(4, NONE, 150, 150, 3), 0);
    Tensor *in = x;
    x = call(ops[1] = mk_layer("rescaling_3", "Rescaling"), shp(4, NONE, 150, 150, 3), 1, x);
    x = call(ops[2] = xception, shp(4, NONE, 5, 5, 2048), 1, x);
    x = call(ops[3] = mk_layer("global_average_pooling2d_3", "GlobalAveragePooling2D"),
             shp(2, NONE, 2048), 1, x);
    x = call(ops[4] = mk_layer("dropout_3", "Dropout"), shp(2, NONE, 2048), 1, x);
    ops[5] = mk_layer("dense_3", "Dense");
    dense_weights(ops[5], 2048, 2);
    x = call(ops[5], shp(2, NONE, 2), 1, x);
    Tensor **ins = arena_alloc(A, sizeof *ins), **outs = arena_alloc(A, sizeof *outs);
    ins[0] = in, outs[0] = x;
    Layer **opsp = arena_alloc(A, sizeof ops);
    memcpy(opsp, ops, sizeof ops);
    Layer *m = mk_functional("functional_4", ins, 1, outs, 1, opsp, 6);

    static const char *const lines[] = {
        "Model: \"functional_4\"",
        "=T",
        "┃ Layer (type)                ┃ Output Shape          ┃    Param # ┃ Trai… ┃",
        "=H",
        "│ input_layer_7 (InputLayer)  │ (None, 150, 150, 3)   │          0 │   -   │",
        "=R",
        "│ rescaling_3 (Rescaling)     │ (None, 150, 150, 3)   │          0 │   -   │",
        "=R",
        "│ xception (Functional)       │ (None, 5, 5, 2048)    │ 20,861,480 │   N   │",
        "=R",
        "│ global_average_pooling2d_3  │ (None, 2048)          │          0 │   -   │",
        "│ (GlobalAveragePooling2D)    │                       │            │       │",
        "=R",
        "│ dropout_3 (Dropout)         │ (None, 2048)          │          0 │   -   │",
        "=R",
        "│ dense_3 (Dense)             │ (None, 2)             │      4,098 │   Y   │",
        "=B",
        // Hand: 20,865,578 x 4 B = 79.596 MB; 4,098 x 4 = 16,392 B = 16.008
        // KB; 20,861,480 x 4 B = 79.580 MB (frozen model: all non-trainable).
        " Total params: 20,865,578 (79.60 MB)",
        " Trainable params: 4,098 (16.01 KB)",
        " Non-trainable params: 20,861,480 (79.58 MB)",
        NULL,
    };
    static const int w[] = {29, 23, 12, 7};
    SummaryOpts o = opts80();
    o.show_trainable = true;
    const char *err;
    check_str("show_trainable", render(m, &o, &err), expect(w, 4, lines));
}

// expand_nested (hand): an autoencoder Sequential holding an encoder
// Sequential. Prefix "   " * level + "└ "; 784*32+32 = 25,120,
// 32*16+16 = 528, 16*784+784 = 13,328; total 38,976 x 4 B = 152.25 KB.
static void test_expand_nested(void) {
    Layer *enc = mk_model("encoder", "Sequential", MODEL_SEQUENTIAL);
    Layer *d0 = mk_layer("dense", "Dense"), *d1 = mk_layer("dense_1", "Dense");
    Layer *d2 = mk_layer("dense_2", "Dense");
    dense_weights(d0, 784, 32);
    dense_weights(d1, 32, 16);
    dense_weights(d2, 16, 784);
    Tensor *x = call(mk_layer("input_layer", "InputLayer"), shp(2, NONE, 784), 0);
    Tensor *h = call(d0, shp(2, NONE, 32), 1, x);
    h = call(d1, shp(2, NONE, 16), 1, h);
    vec_push(A, &enc->model->layers, d0);
    vec_push(A, &enc->model->layers, d1);
    Layer *m = mk_model("autoencoder", "Sequential", MODEL_SEQUENTIAL);
    Tensor *e = call(enc, shp(2, NONE, 16), 1, x);
    call(d2, shp(2, NONE, 784), 1, e);
    vec_push(A, &m->model->layers, enc);
    vec_push(A, &m->model->layers, d2);

    static const int w[] = {33, 24, 15};
    exp_w = w;
    exp_n = 3;
    const char *const lines[] = {
        "Model: \"autoencoder\"",
        "=T",
        tline("┃", "llr", "Layer (type)", "Output Shape", "Param #"),
        "=H",
        tline("│", "llr", "encoder (Sequential)", "(None, 16)", "25,648"),
        "=R",
        tline("│", "llr", "   └ dense (Dense)", "(None, 32)", "25,120"),
        "=R",
        tline("│", "llr", "   └ dense_1 (Dense)", "(None, 16)", "528"),
        "=R",
        tline("│", "llr", "dense_2 (Dense)", "(None, 784)", "13,328"),
        "=B",
        " Total params: 38,976 (152.25 KB)",
        " Trainable params: 38,976 (152.25 KB)",
        " Non-trainable params: 0 (0.00 B)",
        NULL,
    };
    SummaryOpts o = opts80();
    o.expand_nested = true;
    const char *err;
    check_str("expand_nested", render(m, &o, &err), expect(w, 3, lines));

    // A frozen model has no trainable weights at all.
    m->trainable = false;
    const char *got = render(m, &o, &err);
    check_int("frozen model footer", got && strstr(got, " Trainable params: 0 (0.00 B)\n"
                                                     " Non-trainable params: 38,976 (152.25 KB)"
                                                     "\n"), 1);
    // encoder.trainable = False (propagated), then dense.trainable = True:
    // Keras counts dense's variables as trainable again in the outer model.
    // Trainable 25,120 + 13,328 = 38,448 (153,792 B = 150.1875 KB); frozen
    // dense_1 528 (2,112 B = 2.0625 KB).
    m->trainable = true;
    enc->trainable = d1->trainable = false;
    got = render(m, &o, &err);
    check_int("re-enabled sublayer footer",
              got && strstr(got, " Trainable params: 38,448 (150.19 KB)\n"
                                 " Non-trainable params: 528 (2.06 KB)\n"), 1);
}

// A subclassed model (hand): multi-output shapes, a frozen layer, an unbuilt
// layer, show_trainable at 76 (29/23/12/7, content 27/21/10/5).
static void test_subclass_shapes(void) {
    Layer *m = mk_model("my_model", "MyModel", MODEL_SUBCLASS);
    // Built inside a trace: no symbolic nodes, shapes from the last call.
    Layer *dense = mk_layer("dense", "Dense");
    dense_weights(dense, 784, 32);  // 25,120
    dense->last_out[0] = shp(2, NONE, 32);
    dense->nlast_out = 1;
    dense->trainable = false;
    Layer *lstm = mk_layer("lstm", "LSTM");
    add_weight(lstm, true, shp(2, 32, 128));  // 4,096 + 4,096 + 128 = 8,320
    add_weight(lstm, true, shp(2, 32, 128));
    add_weight(lstm, true, shp(1, 128));
    for (int i = 0; i < 3; i++)
        lstm->last_out[i] = shp(2, NONE, 32);
    lstm->nlast_out = 3;
    // Built in a trace, returning a dict: the structure is kept.
    Layer *heads = mk_layer("heads", "Heads");
    heads->last_out[0] = shp(2, NONE, 10);
    heads->last_out[1] = shp(2, NONE, 1);
    heads->nlast_out = 2;
    Value *d = mk_value(V_DICT);
    d->u.dict = arena_alloc(A, sizeof(Dict));
    const char *keys[] = {"head1", "head2"};
    for (int i = 0; i < 2; i++) {
        Value *k = mk_value(V_STR);
        k->u.str.s = keys[i];
        k->u.str.len = 5;
        vec_push(A, &d->u.dict->keys, k);
        vec_push(A, &d->u.dict->vals, mk_value(V_NONE));  // leaves: last_out in order
    }
    heads->last_out_struct = d;
    // A symbolic call with two outputs: Keras's Node flattens them, so the
    // dict it returned still prints as a list.
    Layer *pair = mk_layer("pair", "Pair");
    Tensor *t = call(pair, shp(2, NONE, 3), 0);
    Tensor *t2 = arena_alloc(A, sizeof *t2);
    t2->shape = shp(2, NONE, 4);
    t2->node = last_node;
    t2->index = 1;
    last_node->out = arena_alloc(A, sizeof(Tensor *) * 2);
    last_node->out[0] = t, last_node->out[1] = t2, last_node->nout = 2;
    last_node->out_struct = d;
    // A one-element tuple is a single output.
    Layer *wrap = mk_layer("wrap", "Wrap");
    call(wrap, shp(2, NONE, 5), 0);
    Value *tup = mk_value(V_TUPLE);
    tup->u.list = arena_alloc(A, sizeof(List));
    vec_push(A, &tup->u.list->items, tensor_value(last_node->out[0]));
    last_node->out_struct = tup;
    Layer *drop = mk_layer("dropout", "Dropout");
    drop->built = false;
    Layer *subs[] = {dense, lstm, heads, pair, wrap, drop};
    for (int i = 0; i < 6; i++)
        vec_push(A, &m->model->layers, subs[i]);

    // Wrapping by hand at 21: "[(None, " 8 + "32), " 5 + "(None, " 7 = 20,
    // "32), " no longer fits (3 > 1); "{head1: " 8 + "(None, " 7 + "10), " 5;
    // "[(None, " 8 + "3), " 4 + "(None, " 7 = 19, "4)]" needs 3 > 2.
    // "0 (unbuilt)" is 11 > 10: "0" / "(unbuilt)", right-justified.
    static const int w[] = {29, 23, 12, 7};
    exp_w = w;
    exp_n = 4;
    const char *const lines[] = {
        "Model: \"my_model\"",
        "=T",
        tline("┃", "llrc", "Layer (type)", "Output Shape", "Param #", "Trai…"),
        "=H",
        tline("│", "llrc", "dense (Dense)", "(None, 32)", "25,120", "N"),
        "=R",
        tline("│", "llrc", "lstm (LSTM)", "[(None, 32), (None,", "8,320", "Y"),
        tline("│", "llrc", "", "32), (None, 32)]", "", ""),
        "=R",
        tline("│", "llrc", "heads (Heads)", "{head1: (None, 10),", "0", "-"),
        tline("│", "llrc", "", "head2: (None, 1)}", "", ""),
        "=R",
        tline("│", "llrc", "pair (Pair)", "[(None, 3), (None,", "0", "-"),
        tline("│", "llrc", "", "4)]", "", ""),
        "=R",
        tline("│", "llrc", "wrap (Wrap)", "(None, 5)", "0", "-"),
        "=R",
        tline("│", "llrc", "dropout (Dropout)", "?", "0", "-"),
        tline("│", "llrc", "", "", "(unbuilt)", ""),
        "=B",
        // 33,440 x 4 = 133,760 B = 130.625 KB (tie, even: 130.62); frozen
        // dense 25,120 x 4 = 98.125 KB (98.12); lstm 8,320 x 4 = 32.50 KB.
        " Total params: 33,440 (130.62 KB)",
        " Trainable params: 8,320 (32.50 KB)",
        " Non-trainable params: 25,120 (98.12 KB)",
        NULL,
    };
    SummaryOpts o = opts80();
    o.show_trainable = true;
    const char *err;
    check_str("subclass shapes", render(m, &o, &err), expect(w, 4, lines));
}

// Layout rules (hand). A layer called twice in the graph makes it
// non-sequential even though every depth holds one node (depths: dense's
// second call 0, its first call 1, the input 2); "Connected to" lists both
// calls. "input_layer[0][0], " is longer than 17: alone, cut to 16 + "…".
static void test_layout_rules(void) {
    Layer *in = mk_layer("input_layer", "InputLayer");
    Layer *dense = mk_layer("dense", "Dense");
    dense_weights(dense, 8, 8);  // 72 params, 288 B
    Tensor *x = call(in, shp(2, NONE, 8), 0);
    Tensor *h = call(dense, shp(2, NONE, 8), 1, x);
    Tensor *y = call(dense, shp(2, NONE, 8), 1, h);
    Tensor **ins = arena_alloc(A, sizeof *ins), **outs = arena_alloc(A, sizeof *outs);
    ins[0] = x, outs[0] = y;
    Layer **ops = arena_alloc(A, sizeof *ops * 2);
    ops[0] = in, ops[1] = dense;
    Layer *m = mk_functional("shared", ins, 1, outs, 1, ops, 2);
    static const int w[] = {21, 19, 12, 19};
    exp_w = w;
    exp_n = 4;
    const char *const lines[] = {
        "Model: \"shared\"",
        "=T",
        tline("┃", "llrl", "Layer (type)", "Output Shape", "Param #", "Connected to"),
        "=H",
        tline("│", "llrl", "input_layer", "(None, 8)", "0", "-"),
        tline("│", "llrl", "(InputLayer)", "", "", ""),
        "=R",
        tline("│", "llrl", "dense (Dense)", "(None, 8)", "72", "input_layer[0][0…"),
        tline("│", "llrl", "", "", "", "dense[0][0]"),
        "=B",
        " Total params: 72 (288.00 B)",
        " Trainable params: 72 (288.00 B)",
        " Non-trainable params: 0 (0.00 B)",
        NULL,
    };
    SummaryOpts o = opts80();
    const char *err;
    check_str("shared layer", render(m, &o, &err), expect(w, 4, lines));

    // A plain chain through the functional API is sequential-like...
    Layer *in2 = mk_layer("input_layer_1", "InputLayer");
    Layer *d2 = mk_layer("dense_1", "Dense");
    Tensor *x2 = call(in2, shp(2, NONE, 8), 0);
    Tensor *y2 = call(d2, shp(2, NONE, 4), 1, x2);
    Tensor **ins2 = arena_alloc(A, sizeof *ins2 * 2), **outs2 = arena_alloc(A, sizeof *outs2);
    ins2[0] = x2, outs2[0] = y2;
    Layer **ops2 = arena_alloc(A, sizeof *ops2 * 3);
    ops2[0] = in2, ops2[1] = d2;
    m = mk_functional("chain", ins2, 1, outs2, 1, ops2, 2);
    const char *got = render(m, &o, &err);
    check_int("chain is sequential-like", got && !strstr(got, "Connected to"), 1);
    // ...unless a second, unused input sits at depth 0 beside the output.
    Layer *in3 = mk_layer("input_layer_2", "InputLayer");
    ins2[1] = call(in3, shp(2, NONE, 3), 0);
    ops2[2] = in3;
    m = mk_functional("unused_input", ins2, 2, outs2, 1, ops2, 3);
    got = render(m, &o, &err);
    check_int("unused input is non-sequential", got && strstr(got, "Connected to") != NULL, 1);

    // Absolute positions (Keras 2): ends 33/60/76 -> widths 33/27/16 ->
    // cells 35/29/18 = 82 > 72: minus 3, 4 (3.5), 3 -> 32/25/15.
    o.positions[0] = 33, o.positions[1] = 60, o.positions[2] = 76;
    o.npositions = 3;
    got = render(m, &o, &err);  // 4 columns needed, 3 given
    check_int("absolute positions too few", got == NULL && strstr(err, "positions"), 1);
    m = mk_functional("chain", ins2, 1, outs2, 1, ops2, 2);
    static const int wa[] = {32, 25, 15};
    got = render(m, &o, &err);
    check_int("absolute positions", got && strstr(got, expect(wa, 3, (const char *const[]){"=T",
                                                                       NULL})), 1);
    o = opts80();
    o.line_length = 20000;
    check_int("line_length cap", render(m, &o, &err) == NULL && strstr(err, "at most"), 1);
}

// The table renderer (kdl_summary_table) on its own: no rows, and tiny columns
// (line_length 17, 3 columns of 4: avail 13, cells 6/6/6 = 18, minus
// 2 (1.67), 2 (1.5), 1 -> 4/4/5, content 2/2/3). Every word is too long:
// "L…" / "(…", "O…" / "S…", "Pa…" / "#" (right).
static void test_table(void) {
    const char *headers[] = {"Layer (type)", "Output Shape", "Param #"};
    static const int w[] = {4, 4, 5};
    exp_w = w;
    exp_n = 3;
    const char *const lines[] = {
        "=T",
        tline("┃", "llr", "L…", "O…", "Pa…"),
        tline("┃", "llr", "(…", "S…", "#"),
        "=H",
        "=B",
        NULL,
    };
    char *table = kdl_summary_table(17, (int[]){4, 4, 4}, 3, headers, "llr", NULL, 0, 80);
    check_str("empty table", table, expect(w, 3, lines));
    free(table);
}

static void test_terminal_columns(void) {
    setenv("COLUMNS", "123", 1);
    check_int("COLUMNS", kdl_terminal_columns(), 123);
    setenv("COLUMNS", "0", 1);
    check_int("COLUMNS=0 ignored", kdl_terminal_columns() > 0, 1);
    unsetenv("COLUMNS");
}

int main(void) {
    A = arena_new();
    C.arena = A;
    test_widths();
    test_wrap();
    test_sizes();
    test_regex();
    test_sequential();
    test_functional();
    test_show_trainable();
    test_expand_nested();
    test_subclass_shapes();
    test_layout_rules();
    test_table();
    test_terminal_columns();
    arena_free(A);
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail != 0;
}
