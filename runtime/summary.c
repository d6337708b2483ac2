/*
 * summary.c - model.summary() text, byte for byte what Keras 3 prints, from
 * a kdl_SummaryModel (rows the compiler filled in) and kdl_SummaryOptions.
 * kdlc links this same file, so `kdlc summary` and a generated program's
 * `summary` command print the same text.
 *
 * Keras (keras/src/utils/summary_utils.py) builds a `rich` table with fixed
 * column widths and lets rich lay it out; see the project's Keras reference,
 * keras3-semantics.md §1. This file re-implements the parts of rich that
 * matter for that table: column width reduction (ratio_reduce /
 * ratio_distribute), word wrapping with ellipsis (Text.wrap, divide_line),
 * justification, the HEAVY_HEAD box and the console's cropping of lines
 * wider than the terminal. Widths are counted in code points: every
 * character Keras itself puts in a summary is one terminal cell wide (East
 * Asian wide characters in user layer names would be two cells in rich).
 *
 * Memory: kdl_summary makes one allocation. A first pass over every row
 * only counts bytes; since column widths depend on the options alone, a
 * subset of the rows (layer_range) and cropping can only shorten the text,
 * so that count bounds it. The second pass writes into the buffer.
 * layer_range patterns are compiled and matched by the regular expression
 * engine below (its own allocations, freed before kdl_summary returns).
 */
#define _DEFAULT_SOURCE  // ioctl(TIOCGWINSZ), isatty

#include "internal.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_COLS 8
// A deliberate limit: rich would draw any width (and crop it at the
// console), but a line_length of 10**9 should not allocate GBs.
#define MAX_LINE_LENGTH 10000
#define ELLIPSIS 0x2026  // …

//
// Output: a byte count (buf NULL) or a buffer of cap bytes; what does not
// fit is dropped (error messages), len still counts it.
//

typedef struct Out {
    char *buf;
    size_t len, cap;
    size_t line;    // where the current line starts (table cropping)
} Out;

static void put(Out *o, const char *s, size_t n) {
    if (o->buf && o->len < o->cap)
        memcpy(o->buf + o->len, s, n < o->cap - o->len ? n : o->cap - o->len);
    o->len += n;
}

static void puts_(Out *o, const char *s) {
    put(o, s, strlen(s));
}

static void put_repeat(Out *o, const char *s, int n) {
    for (int i = 0; i < n; i++)
        puts_(o, s);
}

static void put_spaces(Out *o, int n) {
    put_repeat(o, " ", n);
}

// A code point as UTF-8; 0xDC80..0xDCFF (an undecodable byte, Python's
// surrogateescape) as that byte.
static void put_cp(Out *o, uint32_t cp) {
    char t[4];
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        t[0] = (char)(cp - 0xDC00);
        put(o, t, 1);
    } else if (cp < 0x80) {
        t[0] = (char)cp;
        put(o, t, 1);
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        put(o, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        put(o, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        put(o, t, 4);
    }
}

//
// Text: a cell's or line's text as a few pieces read in place (a row's
// first cell is indent + "└ " + name + " (" + class + ")"), addressed by
// byte offset as if concatenated. A piece with s NULL is n spaces.
//

#define MAX_PIECES 6

typedef struct Text {
    const char *s[MAX_PIECES];
    size_t n[MAX_PIECES];
    int npieces;
    size_t size;
} Text;

static void text_add(Text *t, const char *s, size_t n) {
    t->s[t->npieces] = s;
    t->n[t->npieces++] = n;
    t->size += n;
}

// NULL reads as "".
static Text text_of(const char *s) {
    Text t = {.npieces = 0};
    text_add(&t, s ? s : "", s ? strlen(s) : 0);
    return t;
}

static unsigned byte_at(const Text *t, size_t i) {
    for (int k = 0; k < t->npieces; i -= t->n[k++])
        if (i < t->n[k])
            return t->s[k] ? (unsigned char)t->s[k][i] : ' ';
    return 0;
}

// Decode the code point at byte i; returns the offset after it. A byte
// that does not start a valid sequence becomes 0xDC00 + byte.
static size_t next_cp(const Text *t, size_t i, uint32_t *cp) {
    unsigned c = byte_at(t, i);
    int extra = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
              : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
    uint32_t v = c & (0x3Fu >> extra);
    bool ok = extra > 0 && i + (size_t)extra < t->size;
    for (int k = 1; ok && k <= extra; k++) {
        unsigned b = byte_at(t, i + (size_t)k);
        ok = (b & 0xC0) == 0x80;
        v = (v << 6) | (b & 0x3F);
    }
    if (c < 0x80 || !ok) {
        *cp = c < 0x80 ? c : 0xDC00 + c;
        return i + 1;
    }
    *cp = v;
    return i + (size_t)extra + 1;
}

// The first n code points from byte i.
static void put_cps(Out *o, const Text *t, size_t i, int n) {
    for (int k = 0; k < n; k++) {
        uint32_t cp;
        i = next_cp(t, i, &cp);
        put_cp(o, cp);
    }
}

// Python's str.isspace(), which is also what `\s` and rstrip() use.
static bool is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

//
// Column widths. Keras walks the positions keeping a running end and gives
// each column int(pos * line_length) - end. Absolute positions (Keras 2)
// are column end offsets in characters, used as they are.
//

int kdl_summary_col_widths(int line_length, const double *pos, int npos, int absolute,
                           int ncols, int *widths) {
    long long current = 0;
    for (int i = 0; i < npos; i++) {
        double end = absolute ? pos[i] : pos[i] * line_length;
        if (!(end > -1e12 && end < 1e12))
            end = end > 0 ? 1e12 : -1e12;  // also NaN; keeps the cast defined
        long long width = (long long)end - current;  // int(): truncation toward zero
        if (width < 4)
            return 0;
        if (i < ncols)  // only min(width + 2, avail) matters, avail <= MAX_LINE_LENGTH
            widths[i] = width < MAX_LINE_LENGTH ? (int)width : MAX_LINE_LENGTH;
        current += width;
    }
    return 1;
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
void kdl_summary_cell_widths(int line_length, const int *col_widths, int ncols, int *cells) {
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
// pieces (console text). Lines are found again for each use (rather than
// stored), so wrapping needs no memory: want selects one line, n counts.
//

typedef struct Lines {
    int want, n;
    size_t from, to;    // bytes of line `want`
    size_t start;       // where the current line starts
} Lines;

static void end_at(Lines *l, size_t at) {
    if (l->n++ == l->want) {
        l->from = l->start;
        l->to = at;
    }
    l->start = at;
}

// Skip code points while is_space(cp) == space; counts them into *count.
static size_t skip(const Text *t, size_t i, size_t end, bool space, int *count) {
    while (i < end) {
        uint32_t cp;
        size_t next = next_cp(t, i, &cp);
        if (is_space(cp) != space)
            break;
        i = next;
        (*count)++;
    }
    return i;
}

// rich divide_line over the paragraph [p, q): every line break, then the
// paragraph's last line.
static void divide_line(const Text *t, size_t p, size_t q, int width, bool fold, Lines *l) {
    int offset = 0;
    size_t pos = p;
    l->start = p;
    for (;;) {
        size_t start = pos;
        int word_len = 0, blanks = 0;
        size_t i = skip(t, pos, q, true, &word_len);
        if (i == q)
            break;
        size_t j = skip(t, i, q, false, &word_len);  // word_len: len(word.rstrip())
        pos = skip(t, j, q, true, &blanks);
        int full = word_len + blanks;
        if (width - offset >= word_len) {
            offset += full;
        } else if (word_len > width) {
            if (fold && width > 0) {
                for (size_t s = start;;) {
                    if (s != p)
                        end_at(l, s);
                    if (full <= width) {
                        offset = full;
                        break;
                    }
                    for (int k = 0; k < width; k++) {
                        uint32_t cp;
                        s = next_cp(t, s, &cp);
                    }
                    full -= width;
                }
            } else {
                if (start != p)
                    end_at(l, start);
                offset = full;
            }
        } else if (offset && start != p) {
            end_at(l, start);
            offset = full;
        }
    }
    end_at(l, q);
}

// Text.split("\n", allow_blank=True): every newline ends a paragraph.
static void wrap(const Text *t, int width, bool fold, Lines *l) {
    size_t para = 0;
    for (size_t i = 0; i < t->size;) {
        uint32_t cp;
        size_t next = next_cp(t, i, &cp);
        if (cp == '\n') {
            divide_line(t, para, i, width, fold, l);
            para = next;
        }
        i = next;
    }
    divide_line(t, para, t->size, width, fold, l);
}

static int count_lines(const Text *t, int width, bool fold) {
    Lines l = {.want = -1};
    wrap(t, width, fold, &l);
    return l.n;
}

// One wrapped line: rstrip_end, justify, truncate (rich Lines.justify and
// Text.truncate). 'l'/'r'/'c': a cell, padded to width with an ellipsis
// for overflow; 'd': console text, cropped, not padded.
static void put_line(Out *o, const Text *t, int k, int width, char justify) {
    Lines l = {.want = k};
    wrap(t, width, justify == 'd', &l);
    int n = 0, blanks = 0;
    for (size_t i = l.from; i < l.to; n++) {
        uint32_t cp;
        i = next_cp(t, i, &cp);
        blanks = is_space(cp) ? blanks + 1 : 0;
    }
    if (n > width) {
        // rstrip_end: drop trailing blanks, but only those beyond the width.
        int cut = blanks < n - width ? blanks : n - width;
        n -= cut;
        blanks -= cut;
    }
    if (justify == 'r' || justify == 'c')
        n -= blanks;
    if (justify == 'd') {
        put_cps(o, t, l.from, n < width ? n : width);
        return;
    }
    if (width <= 0)
        return;  // the cell has no room; rich crops whatever it made
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
    put_spaces(o, left);
    put_cps(o, t, l.from, keep);
    if (ellipsis)
        put_cp(o, ELLIPSIS);
    put_spaces(o, right);
}

// rich Console.print crops every line of the table at the console width
// (in cells): the line just written is decoded and written back in place
// (never longer) up to `width` code points.
static void end_line(Out *o, int width) {
    puts_(o, "\n");
    if (o->buf && width > 0 && o->len <= o->cap) {
        Text t = {.npieces = 0};
        text_add(&t, o->buf + o->line, o->len - 1 - o->line);
        Out w = {.buf = o->buf, .len = o->line, .cap = o->cap};
        size_t i = 0;
        for (int n = 0; n < width && i < t.size; n++) {
            uint32_t cp;
            i = next_cp(&t, i, &cp);
            put_cp(&w, cp);
        }
        puts_(&w, "\n");
        o->len = w.len;
    }
    o->line = o->len;
}

//
// The table (rich box.HEAVY_HEAD, show_lines=True, padding (0, 1)).
//

static void put_rule(Out *o, const int *cells, int ncols, const char *l, const char *h,
                     const char *mid, const char *r, int crop) {
    puts_(o, l);
    for (int i = 0; i < ncols; i++) {
        if (i)
            puts_(o, mid);
        put_repeat(o, h, cells[i]);
    }
    puts_(o, r);
    end_line(o, crop);
}

// One table row: every cell wrapped to its content width, padded by one
// space each side; the row is as tall as its tallest cell. Body cells sit at
// the top of the row; rich forces header cells to the bottom.
static void put_row(Out *o, const int *cells, int ncols, const Text *text, const char *justify,
                    const char *vert, bool bottom, int crop) {
    int nlines[MAX_COLS], height = 1;
    for (int i = 0; i < ncols; i++) {
        nlines[i] = count_lines(&text[i], cells[i] - 2, justify[i] == 'd');
        if (nlines[i] > height)
            height = nlines[i];
    }
    for (int ln = 0; ln < height; ln++) {
        puts_(o, vert);
        for (int i = 0; i < ncols; i++) {
            if (i)
                puts_(o, vert);
            int k = bottom ? ln - (height - nlines[i]) : ln;
            if (k < 0 || k >= nlines[i] || cells[i] < 2) {
                put_spaces(o, cells[i]);  // blank line, or no room even for padding
            } else {
                puts_(o, " ");
                put_line(o, &text[i], k, cells[i] - 2, justify[i]);  // cells[i] - 2 wide
                puts_(o, " ");
            }
        }
        puts_(o, vert);
        end_line(o, crop);
    }
}

// A line of console text (title, footer): wrapped at the console width.
static void put_console_line(Out *o, const Text *t, int columns) {
    int width = columns > 0 ? columns : 1 << 20;
    int n = count_lines(t, width, true);
    for (int k = 0; k < n; k++) {
        put_line(o, t, k, width, 'd');
        puts_(o, "\n");
    }
    o->line = o->len;
}

// The table's layout, from the model and the options.
typedef struct Layout {
    int ncols, line_length, columns;
    int widths[MAX_COLS];
    const char *headers[MAX_COLS];
    char justify[MAX_COLS + 1];
    bool expand, trainable;
} Layout;

// The next row of the table body into cells (scratch: 40 bytes the cells
// may point into); false when there is none.
typedef bool (*NextRow)(void *it, Text *cells, char *scratch);

static void put_table(Out *o, const Layout *t, NextRow next, void *it) {
    int cw[MAX_COLS];
    kdl_summary_cell_widths(t->line_length, t->widths, t->ncols, cw);
    Text cells[MAX_COLS];
    char scratch[40];
    for (int i = 0; i < t->ncols; i++)
        cells[i] = text_of(t->headers[i]);
    put_rule(o, cw, t->ncols, "┏", "━", "┳", "┓", t->columns);
    put_row(o, cw, t->ncols, cells, t->justify, "┃", true, t->columns);
    put_rule(o, cw, t->ncols, "┡", "━", "╇", "┩", t->columns);
    for (bool first = true; next(it, cells, scratch); first = false) {
        if (!first)
            put_rule(o, cw, t->ncols, "├", "─", "┼", "┤", t->columns);
        put_row(o, cw, t->ncols, cells, t->justify, "│", false, t->columns);
    }
    put_rule(o, cw, t->ncols, "└", "─", "┴", "┘", t->columns);
}

//
// Footer arithmetic.
//

// Keras: divide by 1024 until the value is below 1024 (or PB); "%.2f"
// rounds half to even on exact binary ties, like Python's format.
void kdl_summary_readable_size(double bytes, char out[32]) {
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    for (; u < 6 && !(bytes / 1024 < 1); u++)
        bytes /= 1024;
    snprintf(out, 32, "%.2f %s", bytes, units[u < 6 ? u : 5]);
}

// 1234567 -> "1,234,567".
static void thousands(int64_t n, char out[32]) {
    char digits[24];
    uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u), o = 0;
    if (n < 0)
        out[o++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
}

//
// layer_range: Python re.match (a match starting at the first character;
// it need not reach the end) by a small regular expression engine of its
// own. It parses Python's syntax (what layer names need: literals and
// escapes, . [] [^] \d \D \w \W \s \S, groups (...) (?:...) (?P<name>...)
// (?#...), | and the quantifiers * + ? {m} {m,} {,n} {m,n} with their lazy
// forms, ^ $ \A \Z \b \B) and reports Python's re.error for invalid ones;
// lookarounds, backreferences, flags, conditionals, atomic groups and
// possessive quantifiers are reported as unsupported. Matching is a Thompson
// NFA simulation (Pike's VM), so its time is bounded by the program size
// times the name length whatever the pattern: POSIX regcomp (the earlier
// implementation) takes minutes and GBs on patterns like
// "(a{1,1000}){1,1000}" and exponential time on nested empty loops.
//
// Limits, so that no pattern hangs or exhausts anything: a pattern of at most
// RE_MAX_PROGRAM characters whose program (about one instruction per
// character, with every {m,n} written out as n copies of what it repeats)
// has at most RE_MAX_PROGRAM instructions, groups nested at most
// RE_MAX_DEPTH deep, and at most RE_MAX_STEPS steps matching one pattern
// against all the layer names of a summary.
//
// Character classes are Python's for ASCII; beyond it \d matches only ASCII
// digits, \s the Unicode spaces, \w every other non-ASCII character.
//

#define RE_MAX_PROGRAM 10000
#define RE_MAX_DEPTH 100
#define RE_MAX_STEPS 100000000ull
#define RE_INF UINT32_MAX
#define RE_TOO_LARGE "is too large a regular expression for kdl (at most %d characters, " \
                     "with each {m,n} repetition counted as n copies)"

enum { RE_CAT_DIGIT = 1, RE_CAT_NDIGIT = 2, RE_CAT_WORD = 4, RE_CAT_NWORD = 8,
       RE_CAT_SPACE = 16, RE_CAT_NSPACE = 32 };
enum { RE_AT_BEGIN, RE_AT_END, RE_AT_BEGIN_STRING, RE_AT_END_STRING, RE_AT_BOUNDARY,
       RE_AT_NON_BOUNDARY };
// Syntax tree nodes and program instructions.
enum { RN_EMPTY, RN_CHAR, RN_ANY, RN_CLASS, RN_AT, RN_CAT, RN_ALT, RN_REPEAT };
enum { RI_CHAR, RI_ANY, RI_CLASS, RI_AT, RI_SPLIT, RI_JMP, RI_MATCH };

typedef struct { uint32_t lo, hi; } ReRange;

typedef struct {
    bool negate;
    unsigned cats;          // RE_CAT_* members
    int first, n;           // ranges[first .. first + n)
} ReClass;

typedef struct {
    int kind;
    uint32_t c;             // RN_CHAR: code point; RN_CLASS: class; RN_AT: RE_AT_*
    uint32_t min, max;      // RN_REPEAT (max RE_INF: no bound)
    int child, next;        // first child (RN_CAT, RN_ALT, RN_REPEAT); next sibling
    uint64_t size;          // instructions (saturated at RE_MAX_PROGRAM + 1)
} ReNode;

typedef struct {
    int op;
    uint32_t c;             // RI_CHAR, RI_CLASS, RI_AT
    int x, y;               // RI_SPLIT, RI_JMP
} ReInst;

// A compiled pattern; re_free releases it.
typedef struct {
    ReInst *prog;
    int nprog, cap;
    ReClass *classes;
    int nclasses;
    ReRange *ranges;
    int nranges;
} Re;

// The parser's state.
typedef struct {
    const uint32_t *p;      // the pattern as code points
    size_t n, i;
    ReNode *nodes;
    int nnodes, cap;
    Re *re;
    int rcap, ccap;
    // Named groups: code point offsets of their names and their group
    // numbers (capturing groups counted from 1), for duplicates.
    size_t *names, *name_len;
    int *name_group;
    int nnames, ngroups;
    int depth;
    // The first error: invalid (Python's re.error text) or unsupported.
    char why[160];
    bool unsupported, too_large, too_deep, nomem;
} ReParse;

static void re_free(Re *re) {
    free(re->prog);
    free(re->classes);
    free(re->ranges);
    *re = (Re){.prog = NULL};
}

static bool re_failed(const ReParse *ps) {
    return ps->why[0] || ps->unsupported || ps->too_large || ps->too_deep || ps->nomem;
}

// Python's re.error: "message at position N".
static void re_error(ReParse *ps, size_t pos, const char *fmt, ...) {
    if (re_failed(ps))
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(ps->why, sizeof ps->why, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < sizeof ps->why)
        snprintf(ps->why + k, sizeof ps->why - (size_t)k, " at position %zu", pos);
}

static void re_unsupported(ReParse *ps) {
    if (!re_failed(ps))
        ps->unsupported = true;
}

// Code points [from, to) of the pattern as UTF-8 in buf (cut to fit).
static void re_text(const ReParse *ps, size_t from, size_t to, char *buf, size_t n) {
    Out o = {.buf = buf, .cap = n - 1};
    for (size_t k = from; k < to && k < ps->n; k++)
        put_cp(&o, ps->p[k]);
    buf[o.len < o.cap ? o.len : o.cap] = 0;
}

static void *re_grow(ReParse *ps, void *p, int *cap, int need, size_t elem) {
    if (need <= *cap)
        return p;
    int ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(p, (size_t)ncap * elem);
    if (!q) {
        ps->nomem = true;
        return NULL;
    }
    *cap = ncap;
    return q;
}

static int re_node(ReParse *ps, int kind) {
    ReNode *nodes = re_grow(ps, ps->nodes, &ps->cap, ps->nnodes + 1, sizeof *nodes);
    if (!nodes)
        return -1;
    ps->nodes = nodes;
    nodes[ps->nnodes] = (ReNode){.kind = kind, .child = -1, .next = -1, .size = 1};
    return ps->nnodes++;
}

static int re_class_new(ReParse *ps) {
    Re *re = ps->re;
    ReClass *c = re_grow(ps, re->classes, &ps->ccap, re->nclasses + 1, sizeof *c);
    if (!c)
        return -1;
    re->classes = c;
    c[re->nclasses] = (ReClass){.first = re->nranges};
    return re->nclasses++;
}

// Ranges of the class being parsed are the last ones added.
static void re_class_add(ReParse *ps, int cls, uint32_t lo, uint32_t hi) {
    Re *re = ps->re;
    ReRange *r = re_grow(ps, re->ranges, &ps->rcap, re->nranges + 1, sizeof *r);
    if (!r)
        return;
    re->ranges = r;
    r[re->nranges++] = (ReRange){lo, hi};
    re->classes[cls].n++;
}

static bool re_is_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

static bool re_is_word(uint32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    return !re_is_space(c) && !(c >= 0xDC80 && c <= 0xDCFF);
}

static bool re_in_class(const Re *re, uint32_t cls, uint32_t c) {
    const ReClass *k = &re->classes[cls];
    bool in = ((k->cats & RE_CAT_DIGIT) && c >= '0' && c <= '9') ||
              ((k->cats & RE_CAT_NDIGIT) && !(c >= '0' && c <= '9')) ||
              ((k->cats & RE_CAT_WORD) && re_is_word(c)) ||
              ((k->cats & RE_CAT_NWORD) && !re_is_word(c)) ||
              ((k->cats & RE_CAT_SPACE) && re_is_space(c)) ||
              ((k->cats & RE_CAT_NSPACE) && !re_is_space(c));
    for (int r = 0; !in && r < k->n; r++)
        in = c >= re->ranges[k->first + r].lo && c <= re->ranges[k->first + r].hi;
    return in != k->negate;
}

static bool re_digit(uint32_t c) {
    return c >= '0' && c <= '9';
}

static uint32_t re_cat(uint32_t e) {
    return e == 'd' ? RE_CAT_DIGIT : e == 'D' ? RE_CAT_NDIGIT : e == 'w' ? RE_CAT_WORD
         : e == 'W' ? RE_CAT_NWORD : e == 's' ? RE_CAT_SPACE : e == 'S' ? RE_CAT_NSPACE : 0;
}

static int re_hex(uint32_t c) {
    return c >= '0' && c <= '9' ? (int)(c - '0') : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
         : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10) : -1;
}

// An escape that stands for one character (after the backslash at ps->i - 1;
// ps->i is at the letter): \a \f \n \r \t \v \xhh \uhhhh \Uhhhhhhhh and
// octal \0, \ooo; any non-alphanumeric character stands for itself.
// Returns false with an error (bad escape) otherwise; *group is set to
// true for \1..\99 (a backreference) outside classes.
static bool re_char_escape(ReParse *ps, bool in_class, uint32_t *out, bool *group) {
    size_t start = ps->i - 1;
    uint32_t e = ps->p[ps->i++];
    static const char simple[] = "a\af\fn\nr\rt\tv\v\\\\";
    for (int k = 0; simple[k]; k += 2)
        if (e == (unsigned char)simple[k]) {
            *out = (unsigned char)simple[k + 1];
            return true;
        }
    if (in_class && e == 'b') {
        *out = 8;
        return true;
    }
    if (e == 'x' || e == 'u' || e == 'U') {
        int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t v = 0;
        for (int k = 0; k < nd; k++) {
            int h = ps->i < ps->n ? re_hex(ps->p[ps->i]) : -1;
            if (h < 0) {
                char text[32];
                re_text(ps, start, ps->i, text, sizeof text);
                re_error(ps, start, "incomplete escape %s", text);
                return false;
            }
            v = v * 16 + (uint32_t)h;
            ps->i++;
        }
        if (v > 0x10FFFF) {
            char text[32];
            re_text(ps, start, ps->i, text, sizeof text);
            re_error(ps, start, "bad escape %s", text);
            return false;
        }
        *out = v;
        return true;
    }
    if (e == '0' || (re_digit(e) && in_class)) {
        // Octal: up to two more digits after \0 (in a class: \ddd, octal).
        if (e >= '8') {
            re_error(ps, start, "bad escape \\%c", (int)e);
            return false;
        }
        uint32_t v = e - '0';
        for (int k = 0; k < 2 && ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '7'; k++)
            v = v * 8 + (ps->p[ps->i++] - '0');
        if (v > 0377) {
            re_error(ps, start, "octal escape value \\%o outside of range 0-0o377", v);
            return false;
        }
        *out = v;
        return true;
    }
    if (re_digit(e)) {
        // \ooo with three octal digits is a character, else a group reference.
        if (e <= '7' && ps->i + 1 < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '7' &&
            ps->p[ps->i + 1] >= '0' && ps->p[ps->i + 1] <= '7') {
            uint32_t v = (e - '0') * 64 + (ps->p[ps->i] - '0') * 8 + (ps->p[ps->i + 1] - '0');
            ps->i += 2;
            if (v > 0377) {
                re_error(ps, start, "octal escape value \\%o outside of range 0-0o377", v);
                return false;
            }
            *out = v;
            return true;
        }
        *group = true;
        return false;
    }
    if (e < 0x80 && ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z'))) {
        if (e == 'N')
            re_unsupported(ps);     // \N{NAME}
        else
            re_error(ps, start, "bad escape \\%c", (int)e);
        return false;
    }
    *out = e;
    return true;
}

// [...] at ps->i (after the '[').
static int re_parse_class(ReParse *ps) {
    size_t start = ps->i - 1;
    int cls = re_class_new(ps);
    int node = re_node(ps, RN_CLASS);
    if (cls < 0 || node < 0)
        return -1;
    ps->nodes[node].c = (uint32_t)cls;
    if (ps->i < ps->n && ps->p[ps->i] == '^') {
        ps->re->classes[cls].negate = true;
        ps->i++;
    }
    bool first = true;
    for (;;) {
        if (ps->i >= ps->n) {
            re_error(ps, start, "unterminated character set");
            return -1;
        }
        size_t at = ps->i;
        uint32_t c = ps->p[ps->i++];
        if (c == ']' && !first)
            break;
        first = false;
        uint32_t lo, cat = 0;
        if (c == '\\') {
            if (ps->i >= ps->n) {
                re_error(ps, at, "bad escape (end of pattern)");
                return -1;
            }
            cat = re_cat(ps->p[ps->i]);
            if (cat) {
                ps->i++;
            } else {
                bool group = false;
                if (!re_char_escape(ps, true, &lo, &group))
                    return -1;
            }
        } else {
            lo = c;
        }
        // A range lo-hi; '-' before ']' or at the end is a literal.
        if (ps->i + 1 < ps->n && ps->p[ps->i] == '-' && ps->p[ps->i + 1] != ']') {
            ps->i++;
            size_t hat = ps->i;
            uint32_t hc = ps->p[ps->i++], hi, hcat = 0;
            if (hc == '\\') {
                if (ps->i >= ps->n) {
                    re_error(ps, hat, "bad escape (end of pattern)");
                    return -1;
                }
                hcat = re_cat(ps->p[ps->i]);
                if (hcat) {
                    ps->i++;
                } else {
                    bool group = false;
                    if (!re_char_escape(ps, true, &hi, &group))
                        return -1;
                }
            } else {
                hi = hc;
            }
            if (cat || hcat || hi < lo) {
                // Python quotes the range as written.
                char text[64];
                re_text(ps, at, ps->i, text, sizeof text);
                re_error(ps, at, "bad character range %s", text);
                return -1;
            }
            re_class_add(ps, cls, lo, hi);
        } else if (cat) {
            ps->re->classes[cls].cats |= cat;
        } else {
            re_class_add(ps, cls, lo, lo);
        }
        if (ps->nomem)
            return -1;
    }
    return node;
}

static int re_parse_alt(ReParse *ps);

// (...) at ps->i (after the '('): the group's contents, or -1.
static int re_parse_group(ReParse *ps) {
    size_t start = ps->i - 1;
    if (ps->i < ps->n && ps->p[ps->i] == '?') {
        uint32_t k = ps->i + 1 < ps->n ? ps->p[ps->i + 1] : 0;
        if (k == ':') {
            ps->i += 2;
        } else if (k == 'P' && ps->i + 2 < ps->n && ps->p[ps->i + 2] == '<') {
            // (?P<name>...): a name Python accepts (an identifier), once.
            ps->i += 3;
            size_t name = ps->i;
            while (ps->i < ps->n && ps->p[ps->i] != '>')
                ps->i++;
            if (ps->i >= ps->n) {
                re_error(ps, name, "missing >, unterminated name");
                return -1;
            }
            size_t len = ps->i - name;
            bool ok = len > 0 && !re_digit(ps->p[name]);
            for (size_t j = name; ok && j < ps->i; j++)
                ok = re_is_word(ps->p[j]);
            char text[64];
            re_text(ps, name, ps->i, text, sizeof text);
            if (!ok) {
                if (len)
                    re_error(ps, name, "bad character in group name '%s'", text);
                else
                    re_error(ps, name, "missing group name");
                return -1;
            }
            ps->ngroups++;
            for (int g = 0; g < ps->nnames; g++)
                if (ps->name_len[g] == len &&
                    !memcmp(ps->p + ps->names[g], ps->p + name, len * sizeof *ps->p)) {
                    re_error(ps, name, "redefinition of group name '%s' as group %d; was group %d",
                             text, ps->ngroups, ps->name_group[g]);
                    return -1;
                }
            size_t nn = (size_t)ps->nnames + 1;
            size_t *names = realloc(ps->names, nn * sizeof *names);
            if (names)
                ps->names = names;
            size_t *lens = names ? realloc(ps->name_len, nn * sizeof *lens) : NULL;
            if (lens)
                ps->name_len = lens;
            int *groups = lens ? realloc(ps->name_group, nn * sizeof *groups) : NULL;
            if (!groups) {
                ps->nomem = true;
                return -1;
            }
            ps->name_group = groups;
            ps->names[ps->nnames] = name;
            ps->name_group[ps->nnames] = ps->ngroups;
            ps->name_len[ps->nnames++] = len;
            ps->i++;
        } else {
            // Lookarounds, flags, backreferences (?P=name), conditionals,
            // atomic groups.
            re_unsupported(ps);
            return -1;
        }
    } else {
        ps->ngroups++;
    }
    if (++ps->depth > RE_MAX_DEPTH) {
        ps->too_deep = true;
        return -1;
    }
    int node = re_parse_alt(ps);
    ps->depth--;
    if (node < 0)
        return -1;
    if (ps->i >= ps->n || ps->p[ps->i] != ')') {
        re_error(ps, start, "missing ), unterminated subpattern");
        return -1;
    }
    ps->i++;
    return node;
}

// A program size, saturated just above RE_MAX_PROGRAM.
static uint64_t re_sat(uint64_t v) {
    return v > RE_MAX_PROGRAM ? RE_MAX_PROGRAM + 1 : v;
}

// A quantifier at ps->i after an item: *, +, ?, {m}, {m,}, {,n}, {m,n}
// (then ? for lazy). Returns 1 with *min, *max set, 0 when there is none
// ('{' not starting one is a literal), -1 on an error.
static int re_parse_quant(ReParse *ps, uint32_t *min, uint32_t *max) {
    if (ps->i >= ps->n)
        return 0;
    uint32_t c = ps->p[ps->i];
    if (c == '*' || c == '+' || c == '?') {
        *min = c == '+';
        *max = c == '?' ? 1 : RE_INF;
        ps->i++;
        return 1;
    }
    if (c != '{')
        return 0;
    size_t j = ps->i + 1;
    if (j < ps->n && ps->p[j] == '}')
        return 0;
    uint64_t lo = 0, hi = 0;
    bool has_lo = false, has_hi = false, over = false;
    for (; j < ps->n && re_digit(ps->p[j]); j++, has_lo = true) {
        lo = lo * 10 + (ps->p[j] - '0');
        over |= lo >= RE_INF;
        lo = lo > RE_INF ? RE_INF : lo;
    }
    if (j < ps->n && ps->p[j] == ',') {
        for (j++; j < ps->n && re_digit(ps->p[j]); j++, has_hi = true) {
            hi = hi * 10 + (ps->p[j] - '0');
            over |= hi >= RE_INF;
            hi = hi > RE_INF ? RE_INF : hi;
        }
    } else {
        hi = lo;
        has_hi = has_lo;
    }
    if (j >= ps->n || ps->p[j] != '}')
        return 0;
    size_t at = ps->i + 1;
    ps->i = j + 1;
    if (over) {
        // Python raises OverflowError here (no position).
        if (!re_failed(ps))
            snprintf(ps->why, sizeof ps->why, "the repetition number is too large");
        return -1;
    }
    *min = has_lo ? (uint32_t)lo : 0;
    *max = has_hi ? (uint32_t)hi : RE_INF;
    if (*max < *min) {
        re_error(ps, at, "min repeat greater than max repeat");
        return -1;
    }
    return 1;
}

// One item and its quantifiers.
static int re_parse_repeat(ReParse *ps) {
    size_t at = ps->i;
    uint32_t c = ps->p[ps->i++];
    int node;
    bool is_at = false;
    if (c == '(') {
        node = re_parse_group(ps);
    } else if (c == '[') {
        node = re_parse_class(ps);
    } else if (c == '.') {
        node = re_node(ps, RN_ANY);
    } else if (c == '^' || c == '$') {
        node = re_node(ps, RN_AT);
        if (node >= 0)
            ps->nodes[node].c = c == '^' ? RE_AT_BEGIN : RE_AT_END;
        is_at = true;
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        // A quantifier with nothing before it; '{' not starting one is a literal.
        ps->i = at;
        uint32_t mn, mx;
        int q = c == '{' ? re_parse_quant(ps, &mn, &mx) : 1;
        if (q != 0) {
            if (q > 0)
                re_error(ps, at, "nothing to repeat");
            return -1;
        }
        ps->i = at + 1;
        node = re_node(ps, RN_CHAR);
        if (node >= 0)
            ps->nodes[node].c = c;
    } else if (c == '\\') {
        if (ps->i >= ps->n) {
            re_error(ps, at, "bad escape (end of pattern)");
            return -1;
        }
        uint32_t e = ps->p[ps->i], cat = re_cat(e);
        int atk = e == 'A' ? RE_AT_BEGIN_STRING : e == 'Z' ? RE_AT_END_STRING
                : e == 'b' ? RE_AT_BOUNDARY : e == 'B' ? RE_AT_NON_BOUNDARY : -1;
        if (cat) {
            ps->i++;
            int cls = re_class_new(ps);
            node = re_node(ps, RN_CLASS);
            if (cls < 0 || node < 0)
                return -1;
            ps->re->classes[cls].cats = cat;
            ps->nodes[node].c = (uint32_t)cls;
        } else if (atk >= 0) {
            ps->i++;
            node = re_node(ps, RN_AT);
            if (node >= 0)
                ps->nodes[node].c = (uint32_t)atk;
            is_at = true;
        } else {
            uint32_t v;
            bool group = false;
            if (!re_char_escape(ps, false, &v, &group)) {
                if (group)
                    re_unsupported(ps);     // a backreference
                return -1;
            }
            node = re_node(ps, RN_CHAR);
            if (node >= 0)
                ps->nodes[node].c = v;
        }
    } else {
        node = re_node(ps, RN_CHAR);
        if (node >= 0)
            ps->nodes[node].c = c;
    }
    if (node < 0)
        return -1;
    uint32_t min, max;
    size_t qat = ps->i;
    int q = re_parse_quant(ps, &min, &max);
    if (q < 0)
        return -1;
    if (q == 0)
        return node;
    if (is_at) {
        re_error(ps, qat, "nothing to repeat");
        return -1;
    }
    // Lazy (?) matches the same names; possessive (+) is not supported.
    if (ps->i < ps->n && ps->p[ps->i] == '?') {
        ps->i++;
    } else if (ps->i < ps->n && ps->p[ps->i] == '+') {
        re_unsupported(ps);
        return -1;
    }
    uint32_t m2, x2;
    size_t rat = ps->i;
    int q2 = re_parse_quant(ps, &m2, &x2);
    if (q2 != 0) {
        if (q2 > 0)
            re_error(ps, rat, "multiple repeat");
        return -1;
    }
    int rep = re_node(ps, RN_REPEAT);
    if (rep < 0)
        return -1;
    ReNode *r = &ps->nodes[rep];
    r->child = node;
    r->min = min;
    r->max = max;
    // An item that matches only the empty string (an empty group), repeated,
    // still does: nothing to emit however large the counts.
    uint64_t s = ps->nodes[node].size;
    uint64_t rest = max == RE_INF ? s + 2 : (uint64_t)(max - min) * (s + 1);
    r->size = s == 0 ? 0 : re_sat(re_sat((uint64_t)min * s) + re_sat(rest));
    return rep;
}

// A sequence of items, up to | or ) or the end.
static int re_parse_cat(ReParse *ps) {
    int node = re_node(ps, RN_CAT);
    if (node < 0)
        return -1;
    ps->nodes[node].size = 0;
    int last = -1;
    while (ps->i < ps->n && ps->p[ps->i] != '|' && ps->p[ps->i] != ')') {
        // (?#comment)
        if (ps->p[ps->i] == '(' && ps->i + 2 < ps->n && ps->p[ps->i + 1] == '?' &&
            ps->p[ps->i + 2] == '#') {
            size_t start = ps->i;
            while (ps->i < ps->n && ps->p[ps->i] != ')')
                ps->i++;
            if (ps->i >= ps->n) {
                re_error(ps, start, "missing ), unterminated comment");
                return -1;
            }
            ps->i++;
            continue;
        }
        int item = re_parse_repeat(ps);
        if (item < 0)
            return -1;
        if (last < 0)
            ps->nodes[node].child = item;
        else
            ps->nodes[last].next = item;
        last = item;
        ps->nodes[node].size = re_sat(ps->nodes[node].size + ps->nodes[item].size);
    }
    return node;
}

static int re_parse_alt(ReParse *ps) {
    int first = re_parse_cat(ps);
    if (first < 0 || ps->i >= ps->n || ps->p[ps->i] != '|')
        return first;
    int node = re_node(ps, RN_ALT);
    if (node < 0)
        return -1;
    ps->nodes[node].child = first;
    ps->nodes[node].size = ps->nodes[first].size;
    int last = first;
    while (ps->i < ps->n && ps->p[ps->i] == '|') {
        ps->i++;
        int b = re_parse_cat(ps);
        if (b < 0)
            return -1;
        ps->nodes[last].next = b;
        last = b;
        // A SPLIT and a JMP per branch but the last.
        ps->nodes[node].size = re_sat(ps->nodes[node].size + ps->nodes[b].size + 2);
    }
    return node;
}

static void re_emit(ReParse *ps, int node);

// A new instruction; jumps not yet patched are -1 (re_emit_copies patches
// the SPLITs of optional copies after the copies).
static int re_inst(ReParse *ps, int op) {
    Re *re = ps->re;
    assert(re->nprog < re->cap);
    re->prog[re->nprog] = (ReInst){.op = op, .x = -1, .y = -1};
    return re->nprog++;
}

static void re_emit_copies(ReParse *ps, int child, uint32_t min, uint32_t max) {
    for (uint32_t k = 0; k < min; k++)
        re_emit(ps, child);
    if (max == RE_INF) {
        int split = re_inst(ps, RI_SPLIT);
        re_emit(ps, child);
        int jmp = re_inst(ps, RI_JMP);
        ps->re->prog[jmp].x = split;
        ps->re->prog[split].x = split + 1;
        ps->re->prog[split].y = ps->re->nprog;
        return;
    }
    // x{0,k}: (x(x(...)?)?)?, each optional copy's SPLIT skipping to the end.
    int first = ps->re->nprog;
    for (uint32_t k = min; k < max; k++) {
        re_inst(ps, RI_SPLIT);
        re_emit(ps, child);
    }
    for (int pc = first; pc < ps->re->nprog; pc++)
        if (ps->re->prog[pc].op == RI_SPLIT && ps->re->prog[pc].y == -1) {
            ps->re->prog[pc].x = pc + 1;
            ps->re->prog[pc].y = ps->re->nprog;
        }
}

// Emit a node (its size was checked against RE_MAX_PROGRAM).
static void re_emit(ReParse *ps, int node) {
    const ReNode *nd = &ps->nodes[node];
    switch (nd->kind) {
    case RN_CHAR:
    case RN_ANY:
    case RN_CLASS:
    case RN_AT: {
        int pc = re_inst(ps, nd->kind == RN_CHAR ? RI_CHAR : nd->kind == RN_ANY ? RI_ANY
                             : nd->kind == RN_CLASS ? RI_CLASS : RI_AT);
        ps->re->prog[pc].c = nd->c;
        break;
    }
    case RN_CAT:
        for (int c = nd->child; c >= 0; c = ps->nodes[c].next)
            re_emit(ps, c);
        break;
    case RN_ALT: {
        // SPLIT next-branch; branch; JMP end ... last branch.
        int jmps = -1;  // chain of JMPs to patch, linked through .x
        for (int c = nd->child; c >= 0; c = ps->nodes[c].next) {
            if (ps->nodes[c].next < 0) {
                re_emit(ps, c);
                break;
            }
            int split = re_inst(ps, RI_SPLIT);
            re_emit(ps, c);
            int jmp = re_inst(ps, RI_JMP);
            ps->re->prog[jmp].x = jmps;
            jmps = jmp;
            ps->re->prog[split].x = split + 1;
            ps->re->prog[split].y = ps->re->nprog;
        }
        while (jmps >= 0) {
            int prev = ps->re->prog[jmps].x;
            ps->re->prog[jmps].x = ps->re->nprog;
            jmps = prev;
        }
        break;
    }
    case RN_REPEAT:
        if (nd->size > 0)
            re_emit_copies(ps, nd->child, nd->min, nd->max);
        break;
    default:
        break;
    }
}

// Compile pattern (UTF-8) into *re (release it with re_free). On failure
// why gets what follows the quoted pattern in the message ("is not a
// supported regular expression", ...).
static bool re_compile(const char *pattern, Re *re, char *why, size_t whylen) {
    *re = (Re){.prog = NULL};
    size_t len = strlen(pattern);
    if (len > 4 * (size_t)RE_MAX_PROGRAM) {
        snprintf(why, whylen, RE_TOO_LARGE, RE_MAX_PROGRAM);
        return false;
    }
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    ReParse ps = {.re = re};
    if (!cps) {
        snprintf(why, whylen, "is too large a regular expression (out of memory)");
        return false;
    }
    Text t = text_of(pattern);
    for (size_t i = 0; i < len;)
        i = next_cp(&t, i, &cps[ps.n++]);
    ps.p = cps;
    int root = ps.n > (size_t)RE_MAX_PROGRAM ? -1 : re_parse_alt(&ps);
    if (ps.n > (size_t)RE_MAX_PROGRAM)
        ps.too_large = true;
    if (root >= 0 && ps.i < ps.n) {
        // Only an unmatched ')' stops re_parse_alt before the end.
        re_error(&ps, ps.i, "unbalanced parenthesis");
        root = -1;
    }
    if (root >= 0 && ps.nodes[root].size > RE_MAX_PROGRAM)
        ps.too_large = true;
    bool ok = root >= 0 && !re_failed(&ps);
    if (ok) {
        re->cap = (int)ps.nodes[root].size + 1;
        re->prog = malloc((size_t)re->cap * sizeof *re->prog);
        ok = re->prog != NULL;
        ps.nomem |= !ok;
    }
    if (ok) {
        re_emit(&ps, root);
        re_inst(&ps, RI_MATCH);
    } else if (ps.nomem) {
        snprintf(why, whylen, "is too large a regular expression (out of memory)");
    } else if (ps.too_large) {
        snprintf(why, whylen, RE_TOO_LARGE, RE_MAX_PROGRAM);
    } else if (ps.too_deep) {
        snprintf(why, whylen, "is nested too deeply for kdl (groups at most %d deep)",
                 RE_MAX_DEPTH);
    } else if (ps.unsupported) {
        snprintf(why, whylen, "is not a supported regular expression");
    } else {
        snprintf(why, whylen, "is not a valid regular expression: %s", ps.why);
    }
    free(cps);
    free(ps.nodes);
    free(ps.names);
    free(ps.name_len);
    free(ps.name_group);
    if (!ok)
        re_free(re);
    return ok;
}

// The code point at byte i of s (n bytes); returns the offset after it.
static size_t re_next(const char *s, size_t n, size_t i, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned c = u[i];
    int extra = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
              : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
    uint32_t v = c & (0x3Fu >> extra);
    bool ok = extra > 0 && i + (size_t)extra < n;
    for (int k = 1; ok && k <= extra; k++) {
        ok = (u[i + (size_t)k] & 0xC0) == 0x80;
        v = (v << 6) | (u[i + (size_t)k] & 0x3F);
    }
    if (c < 0x80 || !ok) {
        *cp = c < 0x80 ? c : 0xDC00 + c;
        return i + 1;
    }
    *cp = v;
    return i + (size_t)extra + 1;
}

// Working memory of re_run: two thread lists, the closure's stack and the
// marks of the instructions already on the list being built.
typedef struct {
    int *cur, *nxt, *stack;
    unsigned *mark;
    unsigned gen;
} ReVM;

static bool re_vm_init(ReVM *vm, const Re *re) {
    size_t n = (size_t)re->nprog;
    vm->cur = malloc(n * sizeof *vm->cur);
    vm->nxt = malloc(n * sizeof *vm->nxt);
    vm->stack = malloc(n * sizeof *vm->stack);
    vm->mark = calloc(n, sizeof *vm->mark);
    vm->gen = 0;
    return vm->cur && vm->nxt && vm->stack && vm->mark;
}

static void re_vm_free(ReVM *vm) {
    free(vm->cur);
    free(vm->nxt);
    free(vm->stack);
    free(vm->mark);
}

static bool re_at(int kind, bool at_start, bool at_end, bool before_final_newline,
                  int prev_word, int next_word) {
    switch (kind) {
    case RE_AT_BEGIN:
    case RE_AT_BEGIN_STRING:
        return at_start;
    case RE_AT_END:
        return at_end || before_final_newline;
    case RE_AT_END_STRING:
        return at_end;
    case RE_AT_BOUNDARY:
        return prev_word != next_word;
    default:
        return prev_word == next_word && !(at_start && at_end);  // Python: not in ""
    }
}

// Add pc and everything reachable from it without reading a character, at
// byte i of s (prev: the code point before, or -1), to list (*n threads).
// Returns 1 when MATCH is reached, 0 otherwise, -1 when *budget runs out.
static int re_add(const Re *re, ReVM *vm, int *list, int *n, int pc, const char *s, size_t len,
                  size_t i, long prev, uint64_t *budget) {
    int sp = 0;
    if (vm->mark[pc] == vm->gen)
        return 0;
    vm->mark[pc] = vm->gen;
    vm->stack[sp++] = pc;
    while (sp > 0) {
        if (*budget == 0)
            return -1;
        --*budget;
        const ReInst *in = &re->prog[vm->stack[--sp]];
        int push[2] = {-1, -1};
        switch (in->op) {
        case RI_MATCH:
            return 1;
        case RI_JMP:
            push[0] = in->x;
            break;
        case RI_SPLIT:
            push[0] = in->x;
            push[1] = in->y;
            break;
        case RI_AT: {
            uint32_t next = 0;
            if (i < len)
                re_next(s, len, i, &next);
            bool ok = re_at((int)in->c, i == 0, i == len, i + 1 == len && s[i] == '\n',
                            prev >= 0 && re_is_word((uint32_t)prev), i < len && re_is_word(next));
            if (ok)
                push[0] = (int)(in - re->prog) + 1;
            break;
        }
        default:
            list[(*n)++] = (int)(in - re->prog);
            break;
        }
        for (int k = 0; k < 2; k++)
            if (push[k] >= 0 && vm->mark[push[k]] != vm->gen) {
                vm->mark[push[k]] = vm->gen;
                vm->stack[sp++] = push[k];
            }
    }
    return 0;
}

// re.match: 1 when the pattern matches at the start of s, 0 when not, -1
// when *budget (steps) runs out.
static int re_run(const Re *re, ReVM *vm, const char *s, uint64_t *budget) {
    size_t len = strlen(s);
    int ncur = 0, nnxt = 0;
    vm->gen++;
    int r = re_add(re, vm, vm->cur, &ncur, 0, s, len, 0, -1, budget);
    for (size_t i = 0; r == 0 && ncur > 0 && i < len;) {
        uint32_t c;
        size_t j = re_next(s, len, i, &c);
        vm->gen++;
        nnxt = 0;
        for (int t = 0; r == 0 && t < ncur; t++) {
            const ReInst *in = &re->prog[vm->cur[t]];
            // A class test costs a step per range (a class may have thousands).
            uint64_t cost = 1 + (in->op == RI_CLASS ? (uint64_t)re->classes[in->c].n : 0);
            if (*budget < cost) {
                r = -1;
                break;
            }
            *budget -= cost;
            bool ok = in->op == RI_CHAR    ? in->c == c
                      : in->op == RI_ANY   ? c != '\n'
                      : in->op == RI_CLASS ? re_in_class(re, in->c, c)
                                           : false;
            if (ok)
                r = re_add(re, vm, vm->nxt, &nnxt, vm->cur[t] + 1, s, len, j, (long)c, budget);
        }
        int *tmp = vm->cur;
        vm->cur = vm->nxt;
        vm->nxt = tmp;
        ncur = nnxt;
        i = j;
    }
    return r;
}

int kdl_summary_re_match(const char *pattern, const char *name) {
    Re re;
    char why[256];
    if (!re_compile(pattern, &re, why, sizeof why))
        return -1;
    ReVM vm;
    uint64_t budget = RE_MAX_STEPS;
    int hit = re_vm_init(&vm, &re) ? re_run(&re, &vm, name, &budget) : -1;
    re_vm_free(&vm);
    re_free(&re);
    return hit;
}

// Python's repr() of a str: single quotes unless it has ' and no ".
static void put_repr(Out *o, const char *s) {
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    put(o, &q, 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == (unsigned char)q || *p == '\\')
            snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (*p == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (*p == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        else
            snprintf(esc, sizeof esc, "%c", *p);
        puts_(o, esc);
    }
    put(o, &q, 1);
}

//
// The summary.
//

static Out err_out(char *err, size_t errlen) {
    return (Out){.buf = errlen ? err : NULL, .cap = errlen ? errlen - 1 : 0};
}

static kdl_Status err_end(Out *o) {
    if (o->buf)
        o->buf[o->len < o->cap ? o->len : o->cap] = 0;
    return KDL_ERR_ARG;
}

static kdl_Status layout(const kdl_SummaryModel *m, const kdl_SummaryOptions *o, Layout *t,
                         char *err, size_t errlen) {
    *t = (Layout){.ncols = 3, .headers = {"Layer (type)", "Output Shape", "Param #"},
                  .justify = "llr", .expand = o->expand_nested, .trainable = o->show_trainable};
    double pos[KDL_SUMMARY_MAX_POSITIONS + 2];
    int npos, default_length;
    if (!m->connected) {
        default_length = 88;
        pos[0] = 0.45, pos[1] = 0.80, pos[2] = 1.0;
        npos = 3;
    } else {
        default_length = 108;
        pos[0] = 0.3, pos[1] = 0.56, pos[2] = 0.74, pos[3] = 1.0;
        npos = 4;
        t->headers[t->ncols] = "Connected to";
        t->justify[t->ncols++] = 'l';
    }
    if (o->npositions > 0) {
        npos = o->npositions < KDL_SUMMARY_MAX_POSITIONS ? o->npositions
                                                         : KDL_SUMMARY_MAX_POSITIONS;
        memcpy(pos, o->positions, sizeof(double) * (size_t)npos);
    }
    // Relative positions (Keras 3) are fractions of the line; absolute ones
    // (Keras 2) are column end offsets.
    bool absolute = pos[npos - 1] > 1;
    if (o->show_trainable) {
        default_length += 12;
        if (!absolute) {
            for (int i = 0; i < npos; i++)
                pos[i] = pos[i] * 0.90;
            pos[npos++] = 1.0;
        }
        t->headers[t->ncols] = "Trainable";
        t->justify[t->ncols++] = 'c';
    }
    t->columns = o->columns > 0 ? o->columns : kdl_terminal_columns();
    if (default_length > t->columns - 4)
        default_length = t->columns - 4;
    t->line_length = o->line_length ? o->line_length : default_length;
    if (t->line_length > MAX_LINE_LENGTH)
        return kdl_fail(err, errlen, KDL_ERR_ARG, "line_length must be at most %d, received %d",
                    MAX_LINE_LENGTH, t->line_length);
    if (t->line_length < 0)
        return kdl_fail(err, errlen, KDL_ERR_ARG, "line_length must be positive, received %d",
                    t->line_length);
    if (o->show_trainable && absolute)
        pos[npos++] = t->line_length;  // Keras 2 appended the Trainable column at the end
    if (npos < t->ncols)
        return kdl_fail(err, errlen, KDL_ERR_ARG,
                    "positions must give one position per column (%d); received %d", t->ncols,
                    npos);
    if (!kdl_summary_col_widths(t->line_length, pos, npos, absolute, t->ncols, t->widths))
        return kdl_fail(err, errlen, KDL_ERR_ARG, "Insufficient console width to print summary.");
    return KDL_OK;
}

static int top_rows(const kdl_SummaryModel *m) {
    int n = 0;
    for (int i = 0; i < m->nrows; i++)
        n += m->rows[i].depth == 0;
    return n;
}

// "layer_range: 'PATTERN' WHY" (prefix: "layer_range" or "--layer-range").
static void put_re_error(Out *e, const char *prefix, const char *pattern, const char *why) {
    puts_(e, prefix);
    puts_(e, ": ");
    put_repr(e, pattern);
    puts_(e, " ");
    puts_(e, why);
}

// Keras get_layer_index_bound_by_layer_name: top-level rows [lo, hi) from
// the first match of range[0] to the last match of range[1], in either
// order.
static kdl_Status range_bounds(const kdl_SummaryModel *m, const kdl_SummaryOptions *o, int *lo,
                               int *hi, char *err, size_t errlen) {
    int first[2] = {-1, -1}, last[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        Re re;
        ReVM vm = {.cur = NULL};
        char why[256];
        if (!re_compile(o->layer_range[k], &re, why, sizeof why)) {
            Out e = err_out(err, errlen);
            put_re_error(&e, "layer_range", o->layer_range[k], why);
            return err_end(&e);
        }
        if (!re_vm_init(&vm, &re)) {
            re_vm_free(&vm);
            re_free(&re);
            return kdl_fail(err, errlen, KDL_ERR_NOMEM, "out of memory");
        }
        uint64_t budget = RE_MAX_STEPS;
        int hit = 0;
        for (int i = 0, top = 0; hit >= 0 && i < m->nrows; i++) {
            if (m->rows[i].depth != 0)
                continue;
            hit = m->rows[i].name ? re_run(&re, &vm, m->rows[i].name, &budget) : 0;
            if (hit > 0) {
                if (first[k] < 0)
                    first[k] = top;
                last[k] = top;
            }
            top++;
        }
        re_vm_free(&vm);
        re_free(&re);
        if (hit < 0) {
            Out e = err_out(err, errlen);
            char why2[128];
            snprintf(why2, sizeof why2, "takes too long to match the layer names (more than "
                     "%llu steps)", (unsigned long long)RE_MAX_STEPS);
            put_re_error(&e, "layer_range", o->layer_range[k], why2);
            return err_end(&e);
        }
    }
    if (first[0] < 0 || first[1] < 0) {
        // Keras formats the argument with str(): the caller's text if it
        // gave one (a tuple, a 2-character str), else as a list.
        Out e = err_out(err, errlen);
        puts_(&e, "Passed layer_names do not match the layer names in the model. Received: ");
        if (o->layer_range_text) {
            puts_(&e, o->layer_range_text);
        } else {
            puts_(&e, "[");
            put_repr(&e, o->layer_range[0]);
            puts_(&e, ", ");
            put_repr(&e, o->layer_range[1]);
            puts_(&e, "]");
        }
        return err_end(&e);
    }
    if (first[0] > last[1]) {
        *lo = first[1];
        *hi = last[0] + 1;
    } else {
        *lo = first[0];
        *hi = last[1] + 1;
    }
    return KDL_OK;
}

// The rows kdl_summary shows: top-level rows [lo, hi), with the rows
// nested in them for expand_nested.
typedef struct ModelRows {
    const kdl_SummaryModel *m;
    const Layout *t;
    int i, top, lo, hi;
} ModelRows;

// A row's cells: "   └ name (Class)" (indented by depth), the output
// shape, the parameters, the connections, Y/N/-.
static bool next_model_row(void *p, Text *cells, char *scratch) {
    ModelRows *it = p;
    const kdl_SummaryRow *r = NULL;
    while (!r && it->i < it->m->nrows) {
        r = &it->m->rows[it->i++];
        it->top += r->depth == 0;
        if (it->top < it->lo || it->top >= it->hi || (r->depth > 0 && !it->t->expand))
            r = NULL;
    }
    if (!r)
        return false;
    Text *name = &cells[0];
    *name = (Text){.npieces = 0};
    if (r->depth > 0) {
        text_add(name, NULL, 3 * (size_t)r->depth);
        text_add(name, "└ ", strlen("└ "));
    }
    const char *lname = r->name ? r->name : "", *cls = r->class_name ? r->class_name : "";
    text_add(name, lname, strlen(lname));
    text_add(name, " (", 2);
    text_add(name, cls, strlen(cls));
    text_add(name, ")", 1);
    cells[1] = text_of(r->output_shape ? r->output_shape : "?");
    if (r->params < 0)
        strcpy(scratch, "0 (unbuilt)");
    else
        thousands(r->params, scratch);
    cells[2] = text_of(scratch);
    int c = 3;
    if (it->m->connected)
        cells[c++] = text_of(r->connected_to ? r->connected_to : "-");
    if (it->t->trainable) {
        char *flag = scratch + 32;
        flag[0] = r->trainable == 'Y' || r->trainable == 'N' ? r->trainable : '-';
        flag[1] = 0;
        cells[c] = text_of(flag);
    }
    return true;
}

// Title, table, footer.
static void put_summary(Out *o, const Layout *t, const kdl_SummaryModel *m, int lo, int hi) {
    Text title = {.npieces = 0};
    const char *name = m->name ? m->name : "";
    text_add(&title, "Model: \"", 8);
    text_add(&title, name, strlen(name));
    text_add(&title, "\"", 1);
    put_console_line(o, &title, t->columns);
    ModelRows rows = {.m = m, .t = t, .top = -1, .lo = lo, .hi = hi};
    put_table(o, t, next_model_row, &rows);
    // Once the optimizer is built (after fit), Keras counts its variables too.
    static const char *const labels[] = {" Total params: ", " Trainable params: ",
                                         " Non-trainable params: ", " Optimizer params: "};
    int64_t opt = m->optimizer_built ? m->optimizer_params : 0;
    double opt_bytes = m->optimizer_built ? m->optimizer_bytes : 0;
    int64_t counts[] = {m->trainable_params + m->non_trainable_params + opt,
                        m->trainable_params, m->non_trainable_params, opt};
    // float32 weights: 4 bytes each.
    double bytes[] = {4.0 * (double)(m->trainable_params + m->non_trainable_params) + opt_bytes,
                      4.0 * (double)m->trainable_params, 4.0 * (double)m->non_trainable_params,
                      opt_bytes};
    for (int i = 0; i < (m->optimizer_built ? 4 : 3); i++) {
        char line[128], count[32], size[32];
        thousands(counts[i], count);
        kdl_summary_readable_size(bytes[i], size);
        snprintf(line, sizeof line, "%s%s (%s)", labels[i], count, size);
        Text tl = text_of(line);
        put_console_line(o, &tl, t->columns);
    }
}

kdl_Status kdl_summary(const kdl_SummaryModel *m, const kdl_SummaryOptions *o,
                       kdl_PrintFn print_fn, void *user, char *err, size_t errlen) {
    static const kdl_SummaryOptions defaults = {.line_length = 0};
    if (!o)
        o = &defaults;
    if (err && errlen)
        err[0] = 0;
    Layout t;
    kdl_Status st = layout(m, o, &t, err, errlen);
    if (st != KDL_OK)
        return st;
    bool ranged = o->layer_range[0] || o->layer_range[1];
    if (ranged && (!o->layer_range[0] || !o->layer_range[1]))
        return kdl_fail(err, errlen, KDL_ERR_ARG, "layer_range needs two layer names");

    // Every row: a bound on the text of any subset of them.
    Out count = {.buf = NULL};
    put_summary(&count, &t, m, 0, top_rows(m));
    char *mem = malloc(count.len + 1);
    if (!mem)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "out of memory");
    int lo = 0, hi = top_rows(m);
    if (ranged)
        st = range_bounds(m, o, &lo, &hi, err, errlen);
    if (st == KDL_OK) {
        Out text = {.buf = mem, .cap = count.len};
        put_summary(&text, &t, m, lo, hi);
        assert(text.len <= count.len);
        mem[text.len] = 0;
        if (print_fn)
            print_fn(mem, user);
        else if (fputs(mem, stdout) == EOF || fflush(stdout) == EOF)
            st = kdl_fail(err, errlen, KDL_ERR_IO, "cannot write the summary: %s", strerror(errno));
    }
    free(mem);
    return st;
}

// Python's shutil.get_terminal_size().columns: $COLUMNS if it is a positive
// integer, else the terminal on stdout, else 80.
int kdl_terminal_columns(void) {
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

//
// The command line: `kdlc summary` and a generated program's `summary`
// take the same options with the same checks.
//

static bool parse_int_arg(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > MAX_LINE_LENGTH)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_positions(const char *s, kdl_SummaryOptions *o) {
    o->npositions = 0;
    const char *p = s;
    while (*p) {
        if (o->npositions == KDL_SUMMARY_MAX_POSITIONS)
            return false;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || v < 0 || v > MAX_LINE_LENGTH)
            return false;
        o->positions[o->npositions++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return false;
        p = end;
    }
    return o->npositions > 0;
}

int kdl_summary_arg(int argc, char **argv, int *i, kdl_SummaryOptions *o, const char **msg) {
    const char *a = argv[*i];
    if (!strcmp(a, "--line-length")) {
        if (++*i >= argc || !parse_int_arg(argv[*i], &o->line_length))
            return *msg = "--line-length needs a positive integer", -1;
    } else if (!strcmp(a, "--positions")) {
        if (++*i >= argc || !parse_positions(argv[*i], o))
            return *msg = "--positions needs a comma-separated list of numbers, e.g. "
                          "0.4,0.7,1.0",
                   -1;
    } else if (!strcmp(a, "--expand-nested")) {
        o->expand_nested = 1;
    } else if (!strcmp(a, "--show-trainable")) {
        o->show_trainable = 1;
    } else if (!strcmp(a, "--layer-range")) {
        if (*i + 2 >= argc)
            return *msg = "--layer-range needs two layer names (regular expressions)", -1;
        o->layer_range[0] = argv[++*i];
        o->layer_range[1] = argv[++*i];
        // A pattern kdl cannot match is a bad option value (a usage error),
        // found before any model is run.
        for (int k = 0; k < 2; k++) {
            Re re;
            char why[256];
            if (!re_compile(o->layer_range[k], &re, why, sizeof why)) {
                static char text[512];
                Out e = {.buf = text, .cap = sizeof text - 1};
                const char *p = o->layer_range[k];
                // A long pattern is cut in the message.
                char cut[80];
                if (strlen(p) > 60) {
                    int n = 57;
                    while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
                        n--;    // not inside a UTF-8 sequence
                    snprintf(cut, sizeof cut, "%.*s...", n, p);
                    p = cut;
                }
                put_re_error(&e, "--layer-range", p, why);
                text[e.len < e.cap ? e.len : e.cap] = 0;
                return *msg = text, -1;
            }
            re_free(&re);
        }
    } else {
        return 0;
    }
    return 1;
}

//
// Pieces for tests/unit/test_summary.c.
//

// Count, then write: a NUL-terminated copy of what fn writes.
static char *render_copy(void (*fn)(Out *, const void *), const void *arg) {
    Out count = {.buf = NULL};
    fn(&count, arg);
    char *mem = malloc(count.len + 1);
    if (!mem)
        return NULL;
    Out o = {.buf = mem, .cap = count.len};
    fn(&o, arg);
    mem[o.len] = 0;
    return mem;
}

typedef struct WrapArgs {
    Text text;
    int width;
    char justify;
} WrapArgs;

static void wrap_lines(Out *o, const void *arg) {
    const WrapArgs *w = arg;
    int n = count_lines(&w->text, w->width, w->justify == 'd');
    for (int k = 0; k < n; k++) {
        put_line(o, &w->text, k, w->width, w->justify);
        puts_(o, "\n");
    }
}

char *kdl_summary_wrap(const char *text, int width, char justify) {
    WrapArgs w = {text_of(text), width, justify};
    return render_copy(wrap_lines, &w);
}

typedef struct CellRows {
    Layout t;
    const char *const *cells;
    int r, nrows;
} CellRows;

static bool next_cell_row(void *p, Text *cells, char *scratch) {
    CellRows *it = p;
    if (it->r == it->nrows)
        return false;
    for (int i = 0; i < it->t.ncols; i++)
        cells[i] = text_of(it->cells[it->r * it->t.ncols + i]);
    it->r++;
    return true;
}

static void table_lines(Out *o, const void *arg) {
    CellRows it = *(const CellRows *)arg;
    put_table(o, &it.t, next_cell_row, &it);
}

char *kdl_summary_table(int line_length, const int *col_widths, int ncols,
                        const char *const *headers, const char *justify,
                        const char *const *cells, int nrows, int console_width) {
    if (ncols < 1 || ncols > MAX_COLS)
        return NULL;
    CellRows a = {.t = {.ncols = ncols, .line_length = line_length, .columns = console_width},
                  .cells = cells, .nrows = nrows};
    for (int i = 0; i < ncols; i++) {
        a.t.widths[i] = col_widths[i];
        a.t.headers[i] = headers[i];
        a.t.justify[i] = justify[i];
    }
    return render_copy(table_lines, &a);
}
