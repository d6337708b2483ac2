/*
 * summary.c - model.summary() text, byte for byte what Keras 3 prints.
 *
 * Keras (keras/src/utils/summary_utils.py) builds a `rich` table with fixed
 * column widths and lets rich lay it out; see the project's Keras reference,
 * keras3-semantics.md §1.
 * This file re-implements the parts of rich that matter for that table:
 * column width reduction (ratio_reduce / ratio_distribute), word wrapping
 * with ellipsis (Text.wrap, divide_line), justification, the HEAVY_HEAD box
 * and the console's cropping of lines wider than the terminal.
 *
 * Widths are counted in code points: every character Keras itself puts in
 * a summary is one terminal cell wide. East Asian wide characters in user
 * layer names would be two cells in rich; we count them as one.
 *
 * Requires: built layers/models from eval.c and model.c (nodes, graph,
 * weights). Provides: summary_render(), terminal_columns().
 */
#define _DEFAULT_SOURCE  // ioctl(TIOCGWINSZ), isatty, regcomp

#include "kdlc.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_COLS 8
// A deliberate limit: rich would draw any width (and crop it at the
// console), but a line_length of 10**9 should not make kdlc allocate GBs.
#define MAX_LINE_LENGTH 10000

//
// Code points. Text is decoded from UTF-8 once so that every width is a
// count; a byte that does not start a valid sequence becomes 0xDC00 + byte
// (Python's surrogateescape) and is written back unchanged.
//

typedef struct U32 {
    uint32_t *s;
    int n;
} U32;

static U32 utf8_decode(Arena *a, const char *text) {
    const unsigned char *p = (const unsigned char *)text;
    size_t len = strlen(text);
    U32 u = {arena_alloc(a, sizeof(uint32_t) * (len + 1)), 0};
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        int extra = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
                  : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
        uint32_t cp = c & (0x3Fu >> extra);
        bool ok = extra > 0 && i + (size_t)extra < len;
        for (int k = 1; ok && k <= extra; k++) {
            ok = (p[i + k] & 0xC0) == 0x80;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (c < 0x80 || !ok) {
            u.s[u.n++] = c < 0x80 ? c : 0xDC00 + c;
            i++;
        } else {
            u.s[u.n++] = cp;
            i += (size_t)extra + 1;
        }
    }
    return u;
}

static void put_cp(Arena *a, Buf *b, uint32_t cp) {
    char t[4];
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        buf_putc(a, b, (char)(cp - 0xDC00));
    } else if (cp < 0x80) {
        buf_putc(a, b, (char)cp);
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        buf_putn(a, b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        buf_putn(a, b, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        buf_putn(a, b, t, 4);
    }
}

static void put_cps(Arena *a, Buf *b, const uint32_t *s, int n) {
    for (int i = 0; i < n; i++)
        put_cp(a, b, s[i]);
}

static void put_spaces(Arena *a, Buf *b, int n) {
    for (int i = 0; i < n; i++)
        buf_putc(a, b, ' ');
}

static void put_repeat(Arena *a, Buf *b, const char *s, int n) {
    for (int i = 0; i < n; i++)
        buf_puts(a, b, s);
}

// Python's str.isspace(), which is also what `\s` and rstrip() use.
static bool is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

#define ELLIPSIS 0x2026  // …

//
// Column widths. Keras walks the positions keeping a running end and gives
// each column int(pos * line_length) - end. The seed also allows absolute
// positions (Keras 2): column end offsets in characters, used as they are.
//

bool summary_col_widths(int line_length, const double *pos, int npos, bool absolute,
                        int ncols, int *widths) {
    long long current = 0;
    for (int i = 0; i < npos; i++) {
        double end = absolute ? pos[i] : pos[i] * line_length;
        if (!(end > -1e12 && end < 1e12))
            end = end > 0 ? 1e12 : -1e12;  // also NaN; keeps the cast defined
        long long width = (long long)end - current;  // int(): truncation toward zero
        if (width < 4)
            return false;
        if (i < ncols)  // only min(width + 2, avail) matters, avail <= MAX_LINE_LENGTH
            widths[i] = width < MAX_LINE_LENGTH ? (int)width : MAX_LINE_LENGTH;
        current += width;
    }
    return true;
}

// Python round(num / den) for num >= 0, den > 0: halves go to the even side.
static int round_half_even(int num, int den) {
    int q = num / den, r = num % den;
    if (2 * r > den || (2 * r == den && (q & 1)))
        q++;
    return q;
}

// rich Table._calculate_column_widths for columns that all have a fixed
// width and padding (0, 1). The table is `line_length` wide and has
// ncols + 1 vertical borders, so `avail` cells are left for the columns.
// Each wants width + 2; if they do not fit (the usual case) ratio_reduce
// takes round(excess / columns_left) from each column left to right; if
// they are narrower, ratio_distribute grows them in proportion (a table
// with an explicit width always expands).
void summary_cell_widths(int line_length, const int *col_widths, int ncols, int *cells) {
    int avail = line_length - (ncols + 1);
    if (avail < 0)
        avail = 0;
    int total = 0;
    for (int i = 0; i < ncols; i++) {
        // Measurement(w + 2, w + 2).with_maximum(avail); "or 1" for a 0.
        int w = col_widths[i] + 2 < avail ? col_widths[i] + 2 : avail;
        cells[i] = w > 0 ? w : 1;
        total += cells[i];
    }
    if (total > avail) {
        int remaining = total - avail, nratio = 0;
        for (int i = 0; i < ncols; i++)
            nratio += cells[i] > 0;
        for (int i = 0; i < ncols && nratio > 0; i++) {
            if (cells[i] == 0)
                continue;
            int d = round_half_even(remaining, nratio);
            if (d > cells[i])
                d = cells[i];
            cells[i] -= d;
            remaining -= d;
            nratio--;
        }
        total = 0;
        for (int i = 0; i < ncols; i++)
            total += cells[i];
    }
    if (total < avail && total > 0) {
        int remaining = avail - total, ratio_left = total;
        for (int i = 0; i < ncols; i++) {
            int ratio = cells[i];
            int d = ratio_left > 0
                        ? (int)(((long long)ratio * remaining + ratio_left - 1) / ratio_left)
                        : remaining;
            cells[i] += d;
            ratio_left -= ratio;
            remaining -= d;
        }
    }
}

//
// Wrapping (rich Text.wrap). Words are the matches of \s*\S+\s*, so a word
// keeps its trailing blanks. A word goes on the current line if its
// rstripped length fits in what is left; otherwise a new line starts
// before it. A word longer than the width gets a line of its own (cells:
// it is cut with an ellipsis afterwards) or is folded into width-sized
// pieces (console text).
//

// Break offsets of one paragraph; returns how many.
static int divide_line(const uint32_t *t, int n, int width, bool fold, int *breaks) {
    int nb = 0, offset = 0, pos = 0;
    for (;;) {
        int start = pos, i = pos;
        while (i < n && is_space(t[i]))
            i++;
        if (i == n)
            break;
        int j = i;
        while (j < n && !is_space(t[j]))
            j++;
        int word_len = j - start;  // len(word.rstrip())
        while (j < n && is_space(t[j]))
            j++;
        int full = j - start;
        pos = j;
        if (width - offset >= word_len) {
            offset += full;
        } else if (word_len > width) {
            if (fold && width > 0) {
                for (int s = start;; s += width) {
                    if (s)
                        breaks[nb++] = s;
                    if (j - s <= width) {
                        offset = j - s;
                        break;
                    }
                }
            } else {
                if (start)
                    breaks[nb++] = start;
                offset = full;
            }
        } else if (offset && start) {
            breaks[nb++] = start;
            offset = full;
        }
    }
    return nb;
}

// One wrapped line: rstrip_end, justify, truncate (rich Lines.justify and
// Text.truncate), as UTF-8.
static const char *finish_line(Arena *a, const uint32_t *s, int n, int width, char justify) {
    if (n > width) {
        // rstrip_end: drop trailing blanks, but only those beyond the width.
        int ws = 0;
        while (ws < n && is_space(s[n - 1 - ws]))
            ws++;
        n -= ws < n - width ? ws : n - width;
    }
    if (justify == 'r' || justify == 'c')
        while (n > 0 && is_space(s[n - 1]))
            n--;
    Buf b = {0};
    if (justify == 'd') {
        // Console text: overflow "fold" crops, nothing is padded.
        put_cps(a, &b, s, n < width ? n : width);
        return buf_str(a, &b);
    }
    if (width <= 0)
        return "";  // the cell has no room; rich crops whatever it made
    int shown = n, keep = n;
    bool ellipsis = n > width;
    if (ellipsis) {
        keep = width - 1;
        shown = width;
    }
    int left = 0, right = 0;
    if (justify == 'l')
        right = width - shown;
    else if (justify == 'r')
        left = width - shown;
    else {
        left = (width - shown) / 2;
        right = width - shown - left;
    }
    put_spaces(a, &b, left);
    put_cps(a, &b, s, keep);
    if (ellipsis)
        put_cp(a, &b, ELLIPSIS);
    put_spaces(a, &b, right);
    return buf_str(a, &b);
}

const char **summary_wrap(Arena *a, const char *text, int width, char justify, int *nlines) {
    U32 u = utf8_decode(a, text);
    Vec lines = {0};
    int *breaks = arena_alloc(a, sizeof(int) * (size_t)(u.n + 2));
    // Text.split("\n", allow_blank=True): every newline ends a paragraph.
    int para = 0;
    for (int i = 0; i <= u.n; i++) {
        if (i < u.n && u.s[i] != '\n')
            continue;
        const uint32_t *p = u.s + para;
        int n = i - para;
        int nb = divide_line(p, n, width, justify == 'd', breaks);
        int from = 0;
        for (int k = 0; k <= nb; k++) {
            int to = k < nb ? breaks[k] : n;
            vec_push(a, &lines, (void *)finish_line(a, p + from, to - from, width, justify));
            from = to;
        }
        para = i + 1;
    }
    *nlines = lines.len;
    return (const char **)lines.data;
}

//
// The table (rich box.HEAVY_HEAD, show_lines=True, padding (0, 1)).
//

static void put_rule(Arena *a, Buf *b, const int *cells, int ncols, const char *l,
                     const char *h, const char *mid, const char *r) {
    buf_puts(a, b, l);
    for (int i = 0; i < ncols; i++) {
        if (i)
            buf_puts(a, b, mid);
        put_repeat(a, b, h, cells[i]);
    }
    buf_puts(a, b, r);
    buf_putc(a, b, '\n');
}

// One table row: every cell wrapped to its content width, padded by one
// space each side; the row is as tall as its tallest cell. Body cells sit at
// the top of the row; rich forces header cells to the bottom.
static void put_row(Arena *a, Buf *b, const int *cells, int ncols, const char *const *text,
                    const char *justify, const char *vert, bool bottom) {
    const char **lines[MAX_COLS];
    int nlines[MAX_COLS], height = 1;
    for (int i = 0; i < ncols; i++) {
        lines[i] = summary_wrap(a, text[i], cells[i] - 2, justify[i], &nlines[i]);
        if (nlines[i] > height)
            height = nlines[i];
    }
    for (int ln = 0; ln < height; ln++) {
        buf_puts(a, b, vert);
        for (int i = 0; i < ncols; i++) {
            if (i)
                buf_puts(a, b, vert);
            int k = bottom ? ln - (height - nlines[i]) : ln;
            if (k < 0 || k >= nlines[i] || cells[i] < 2) {
                put_spaces(a, b, cells[i]);  // blank line, or no room even for padding
            } else {
                buf_putc(a, b, ' ');
                buf_puts(a, b, lines[i][k]);  // exactly cells[i] - 2 wide
                buf_putc(a, b, ' ');
            }
        }
        buf_puts(a, b, vert);
        buf_putc(a, b, '\n');
    }
}

// rich Console.print crops every line at the console width (in cells).
static const char *crop_lines(Arena *a, const char *text, int width) {
    if (width <= 0)
        return text;
    Buf b = {0};
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        U32 u = utf8_decode(a, arena_strndup(a, p, len));
        put_cps(a, &b, u.s, u.n < width ? u.n : width);
        if (nl)
            buf_putc(a, &b, '\n');
        p += len + (nl != NULL);
    }
    return buf_str(a, &b);
}

const char *summary_table(Arena *a, int line_length, const int *col_widths, int ncols,
                          const char *const *headers, const char *justify,
                          const char *const *cells, int nrows, int console_width) {
    if (ncols < 1 || ncols > MAX_COLS)
        die("summary_table: %d columns", ncols);
    int cw[MAX_COLS];
    summary_cell_widths(line_length, col_widths, ncols, cw);
    Buf b = {0};
    put_rule(a, &b, cw, ncols, "┏", "━", "┳", "┓");
    put_row(a, &b, cw, ncols, headers, justify, "┃", true);
    put_rule(a, &b, cw, ncols, "┡", "━", "╇", "┩");
    for (int r = 0; r < nrows; r++) {
        if (r)
            put_rule(a, &b, cw, ncols, "├", "─", "┼", "┤");
        put_row(a, &b, cw, ncols, cells + (size_t)r * (size_t)ncols, justify, "│", false);
    }
    put_rule(a, &b, cw, ncols, "└", "─", "┴", "┘");
    return crop_lines(a, buf_str(a, &b), console_width);
}

// A line of console text (title, footer): wrapped at the console width.
static void put_console_line(Arena *a, Buf *b, const char *text, int width) {
    int n;
    const char **lines = summary_wrap(a, text, width > 0 ? width : 1 << 20, 'd', &n);
    for (int i = 0; i < n; i++) {
        buf_puts(a, b, lines[i]);
        buf_putc(a, b, '\n');
    }
}

//
// Footer arithmetic.
//

// Keras: divide by 1024 until the value is below 1024 (or PB); "%.2f"
// rounds half to even on exact binary ties, like Python's format.
const char *summary_readable_size(Arena *a, double bytes) {
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    for (int i = 0; i < 6; i++) {
        if (bytes / 1024 < 1)
            return arena_printf(a, "%.2f %s", bytes, units[i]);
        bytes /= 1024;
    }
    return arena_printf(a, "%.2f %s", bytes, units[5]);
}

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
// layer_range: Python re.match (anchored at the start only) done with POSIX
// extended regular expressions. Translated: \d \D \w \W \s \S (also inside
// [...] for the positive forms), (?:...) groups, lazy quantifiers (*? +? ??
// {m,n}? match the same names as the greedy ones), \A. Everything else is
// passed to regcomp as is: ERE and Python agree on literals, . [] [^] * + ?
// {m,n} | () ^ $ and backslash-escaped punctuation. Inside [...] other
// escapes are taken literally (POSIX brackets have none). Lookarounds and
// other (?...) forms do not compile and are reported as unsupported.
//

static const char *py_regex_to_ere(Arena *a, const char *p) {
    Buf b = {0};
    bool in_class = false;
    buf_puts(a, &b, "^(");
    for (size_t i = 0; p[i]; i++) {
        char ch = p[i];
        if (ch == '\\' && p[i + 1]) {
            char e = p[++i];
            const char *pos = NULL, *neg = NULL;
            if (e == 'd')
                pos = "0-9";
            else if (e == 'w')
                pos = "[:alnum:]_";
            else if (e == 's')
                pos = "[:space:]";
            else if (e == 'D')
                neg = "0-9";
            else if (e == 'W')
                neg = "[:alnum:]_";
            else if (e == 'S')
                neg = "[:space:]";
            if (in_class && pos)
                buf_puts(a, &b, pos);
            else if (pos)
                buf_printf(a, &b, "[%s]", pos);
            else if (neg && !in_class)
                buf_printf(a, &b, "[^%s]", neg);
            else if (e == 'A' && !in_class)
                buf_putc(a, &b, '^');
            else if (in_class)
                buf_putc(a, &b, e);  // POSIX classes have no escapes
            else
                buf_putc(a, &b, '\\'), buf_putc(a, &b, e);
            continue;
        }
        if (in_class) {
            buf_putc(a, &b, ch);
            if (ch == ']')
                in_class = false;
            continue;
        }
        if (ch == '[') {
            // A ']' right after '[' or '[^' is a literal member.
            in_class = true;
            buf_putc(a, &b, ch);
            if (p[i + 1] == '^')
                buf_putc(a, &b, p[++i]);
            if (p[i + 1] == ']')
                buf_putc(a, &b, p[++i]);
            continue;
        }
        if (ch == '(' && p[i + 1] == '?' && p[i + 2] == ':') {
            buf_putc(a, &b, '(');
            i += 2;
            continue;
        }
        if (ch == '?' && i > 0 && strchr("*+?}", p[i - 1]) && !(i > 1 && p[i - 2] == '\\'))
            continue;  // lazy quantifier
        buf_putc(a, &b, ch);
    }
    buf_puts(a, &b, ")");
    return buf_str(a, &b);
}

static bool py_regcomp(const char *pattern, regex_t *re) {
    Arena *a = arena_new();
    int rc = regcomp(re, py_regex_to_ere(a, pattern), REG_EXTENDED | REG_NOSUB);
    arena_free(a);
    return rc == 0;
}

int summary_re_match(const char *pattern, const char *name) {
    regex_t re;
    if (!py_regcomp(pattern, &re))
        return -1;
    int hit = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    return hit;
}

// Keras get_layer_index_bound_by_layer_name: rows [lo, hi) from the first
// match of range[0] to the last match of range[1], in either order.
static bool layer_range_bounds(Ctx *c, Layer **rows, int n, const char *const range[2],
                               const char *text, int *lo, int *hi, const char **err) {
    int first[2] = {-1, -1}, last[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        regex_t re;
        if (!py_regcomp(range[k], &re)) {
            *err = arena_printf(c->arena, "layer_range: %s is not a supported regular "
                                "expression", py_repr_str(c->arena, range[k]));
            return false;
        }
        for (int i = 0; i < n; i++) {
            if (regexec(&re, rows[i]->name, 0, NULL, 0) != 0)
                continue;
            if (first[k] < 0)
                first[k] = i;
            last[k] = i;
        }
        regfree(&re);
    }
    if (first[0] < 0 || first[1] < 0) {
        // Keras formats the argument with str(); the caller's text if it
        // gave one (a tuple, a 2-character str), else as a list.
        if (!text)
            text = arena_printf(c->arena, "[%s, %s]", py_repr_str(c->arena, range[0]),
                                py_repr_str(c->arena, range[1]));
        *err = arena_printf(c->arena, "Passed layer_names do not match the layer names in the "
                            "model. Received: %s", text);
        return false;
    }
    if (first[0] > last[1]) {
        *lo = first[1];
        *hi = last[0] + 1;
    } else {
        *lo = first[0];
        *hi = last[1] + 1;
    }
    return true;
}

//
// The summary.
//

typedef struct Table {
    Ctx *c;
    const Model *top;
    bool sequential_like, show_trainable;
    PtrMap depth;       // nodes of the top model's graph (Functional only)
    int ncols;
    Vec cells;          // const char *, row-major
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

static void add_row(Table *t, const Layer *l, int level, bool expand) {
    Arena *a = t->c->arena;
    Buf name = {0};
    if (level > 0) {
        put_repeat(a, &name, "   ", level);
        buf_puts(a, &name, "└ ");
    }
    buf_printf(a, &name, "%s (%s)", l->name, l->class_name);
    vec_push(a, &t->cells, (void *)buf_str(a, &name));
    vec_push(a, &t->cells, (void *)format_layer_shape(a, l));
    WeightSet ws = {0};
    collect_weights(a, l, true, &ws, 0);
    int64_t count = 0;
    for (int i = 0; i < ws.len; i++)
        count += weight_numel(ws.w[i]);
    const char *params = layer_is_built(l) ? fmt_thousands(a, count) : "0 (unbuilt)";
    vec_push(a, &t->cells, (void *)params);
    if (!t->sequential_like)
        vec_push(a, &t->cells, (void *)connections(t, l));
    if (t->show_trainable)
        vec_push(a, &t->cells, (void *)(ws.len == 0 ? "-" : l->trainable ? "Y" : "N"));
    // A keras.layers.Layer subclass has no `.layers`, so Keras never expands it.
    if (expand && l->model && !l->model->custom_layer) {
        const Vec *subs = &l->model->layers;
        bool seq = l->model->kind == MODEL_SEQUENTIAL;
        for (int i = 0; i < subs->len; i++)
            if (!(seq && layer_is_input(subs->data[i])))
                add_row(t, subs->data[i], level + 1, expand);
    }
}

const char *summary_render(Ctx *c, Layer *model, const SummaryOpts *o, const char **err) {
    Arena *a = c->arena;
    Model *m = model->model;
    if (!m)
        die("summary_render on %s, which is not a model", model->name);
    *err = NULL;
    if (!model_is_built(model)) {
        *err = "This model has not yet been built. Build the model first by calling `build()` "
               "or by calling the model on a batch of data.";
        return NULL;
    }

    // Rows: Sequential.layers drops the InputLayer; a Functional lists its
    // graph's operations (InputLayers included); a subclass its sublayers.
    Table t = {.c = c, .top = m, .show_trainable = o->show_trainable};
    Vec rows = {0};
    t.sequential_like = true;
    if (m->kind == MODEL_FUNCTIONAL && m->graph) {
        for (int i = 0; i < m->graph->nops; i++)
            vec_push(a, &rows, m->graph->ops[i]);
        t.sequential_like = functional_sequential_like(a, m, &t.depth);
    } else {
        for (int i = 0; i < m->layers.len; i++)
            if (!(m->kind == MODEL_SEQUENTIAL && layer_is_input(m->layers.data[i])))
                vec_push(a, &rows, m->layers.data[i]);
    }

    const char *headers[MAX_COLS] = {"Layer (type)", "Output Shape", "Param #"};
    char justify[MAX_COLS + 1] = "llr";
    double pos[10];
    int npos = 0, default_length;
    t.ncols = 3;
    if (t.sequential_like) {
        default_length = 88;
        pos[0] = 0.45, pos[1] = 0.80, pos[2] = 1.0;
        npos = 3;
    } else {
        default_length = 108;
        pos[0] = 0.3, pos[1] = 0.56, pos[2] = 0.74, pos[3] = 1.0;
        npos = 4;
        headers[t.ncols] = "Connected to";
        justify[t.ncols++] = 'l';
    }
    if (o->npositions > 0) {
        npos = o->npositions < 8 ? o->npositions : 8;
        memcpy(pos, o->positions, sizeof(double) * (size_t)npos);
    }
    // Relative positions (Keras 3) are fractions of the line; absolute ones
    // (Keras 2, allowed by the seed) are column end offsets.
    bool absolute = pos[npos - 1] > 1;
    if (o->show_trainable) {
        default_length += 12;
        if (!absolute) {
            for (int i = 0; i < npos; i++)
                pos[i] = pos[i] * 0.90;
            pos[npos++] = 1.0;
        }
        headers[t.ncols] = "Trainable";
        justify[t.ncols++] = 'c';
    }
    int columns = o->columns > 0 ? o->columns : terminal_columns();
    if (default_length > columns - 4)
        default_length = columns - 4;
    int line_length = o->line_length ? o->line_length : default_length;
    if (line_length > MAX_LINE_LENGTH) {
        *err = arena_printf(a, "line_length must be at most %d, received %d", MAX_LINE_LENGTH,
                            line_length);
        return NULL;
    }
    if (o->show_trainable && absolute)
        pos[npos++] = line_length;  // Keras 2 appended the Trainable column at the end
    if (npos < t.ncols) {
        *err = arena_printf(a, "positions must give one position per column (%d); "
                            "received %d", t.ncols, npos);
        return NULL;
    }
    int widths[MAX_COLS];
    if (!summary_col_widths(line_length, pos, npos, absolute, t.ncols, widths)) {
        *err = "Insufficient console width to print summary.";
        return NULL;
    }

    int lo = 0, hi = rows.len;
    if (o->layer_range[0] || o->layer_range[1]) {
        if (!o->layer_range[0] || !o->layer_range[1])
            die("summary_render: layer_range needs both names");
        if (!layer_range_bounds(c, (Layer **)rows.data, rows.len, o->layer_range,
                                o->layer_range_text, &lo, &hi, err))
            return NULL;
    }
    for (int i = lo; i < hi; i++)
        add_row(&t, rows.data[i], 0, o->expand_nested);

    // Footer counts: unique weights of the whole model, 4 bytes each (float32).
    WeightSet ws = {0};
    collect_weights(a, model, model->trainable, &ws, 0);
    int64_t trainable = 0, frozen = 0;
    for (int i = 0; i < ws.len; i++) {
        if (ws.trainable[i])
            trainable += weight_numel(ws.w[i]);
        else
            frozen += weight_numel(ws.w[i]);
    }

    Buf out = {0};
    put_console_line(a, &out, arena_printf(a, "Model: \"%s\"", model->name), columns);
    buf_puts(a, &out, summary_table(a, line_length, widths, t.ncols, headers, justify,
                                    (const char *const *)t.cells.data,
                                    t.cells.len / t.ncols, columns));
    // Once the optimizer is built (after fit), Keras counts its variables too.
    static const char *const labels[] = {" Total params: ", " Trainable params: ",
                                         " Non-trainable params: ", " Optimizer params: "};
    int64_t opt = 0;
    double opt_bytes = 0;
    bool with_opt = model->model && model_optimizer_params(c, model, &opt, &opt_bytes);
    int64_t counts[] = {trainable + frozen + opt, trainable, frozen, opt};
    double bytes[] = {4.0 * (double)(trainable + frozen) + opt_bytes, 4.0 * (double)trainable,
                      4.0 * (double)frozen, opt_bytes};
    for (int i = 0; i < (with_opt ? 4 : 3); i++)
        put_console_line(a, &out, arena_printf(a, "%s%s (%s)", labels[i],
                                               fmt_thousands(a, counts[i]),
                                               summary_readable_size(a, bytes[i])),
                         columns);
    return buf_str(a, &out);
}

// Python's shutil.get_terminal_size().columns: $COLUMNS if it is a positive
// integer, else the terminal on stdout, else 80.
int terminal_columns(void) {
    const char *env = getenv("COLUMNS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        if (*end == 0 && v > 0 && v < 100000)
            return (int)v;
    }
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}
