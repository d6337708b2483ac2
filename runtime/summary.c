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
 * so that count bounds it. The second pass writes into the buffer, which
 * also holds the layer_range patterns translated to POSIX regexes.
 */
#define _DEFAULT_SOURCE  // ioctl(TIOCGWINSZ), isatty, regcomp

#include "internal.h"

#include <assert.h>
#include <errno.h>
#include <regex.h>
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
// layer_range: Python re.match (anchored at the start only) done with POSIX
// extended regular expressions. Translated: \d \D \w \W \s \S (also inside
// [...] for the positive forms), (?:...) groups, lazy quantifiers (*? +? ??
// {m,n}? match the same names as the greedy ones), \A. Everything else is
// passed to regcomp as is: ERE and Python agree on literals, . [] [^] * + ?
// {m,n} | () ^ $ and backslash-escaped punctuation. Inside [...] other
// escapes are taken literally (POSIX brackets have none). Lookarounds and
// other (?...) forms do not compile and are reported as unsupported.
//

// Bytes the translation of p needs at most (\W, 2 bytes, becomes 13).
static size_t ere_size(const char *p) {
    return 7 * strlen(p) + 8;
}

static void py_regex_to_ere(const char *p, char *ere) {
    Out o = {.buf = ere, .cap = ere_size(p)};
    bool in_class = false;
    puts_(&o, "^(");
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
            if (in_class && pos) {
                puts_(&o, pos);
            } else if (pos) {
                puts_(&o, "[");
                puts_(&o, pos);
                puts_(&o, "]");
            } else if (neg && !in_class) {
                puts_(&o, "[^");
                puts_(&o, neg);
                puts_(&o, "]");
            } else if (e == 'A' && !in_class) {
                puts_(&o, "^");
            } else if (in_class) {
                put(&o, &e, 1);  // POSIX classes have no escapes
            } else {
                puts_(&o, "\\");
                put(&o, &e, 1);
            }
            continue;
        }
        if (in_class) {
            put(&o, &ch, 1);
            if (ch == ']')
                in_class = false;
            continue;
        }
        if (ch == '[') {
            // A ']' right after '[' or '[^' is a literal member.
            in_class = true;
            put(&o, &ch, 1);
            if (p[i + 1] == '^')
                put(&o, &p[++i], 1);
            if (p[i + 1] == ']')
                put(&o, &p[++i], 1);
            continue;
        }
        if (ch == '(' && p[i + 1] == '?' && p[i + 2] == ':') {
            puts_(&o, "(");
            i += 2;
            continue;
        }
        if (ch == '?' && i > 0 && strchr("*+?}", p[i - 1]) && !(i > 1 && p[i - 2] == '\\'))
            continue;  // lazy quantifier
        put(&o, &ch, 1);
    }
    puts_(&o, ")");
    put(&o, "", 1);
}

int kdl_summary_re_match(const char *pattern, const char *name) {
    char *ere = malloc(ere_size(pattern));
    if (!ere)
        return -1;
    py_regex_to_ere(pattern, ere);
    regex_t re;
    int rc = regcomp(&re, ere, REG_EXTENDED | REG_NOSUB);
    free(ere);
    if (rc != 0)
        return -1;
    int hit = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
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

// Keras get_layer_index_bound_by_layer_name: top-level rows [lo, hi) from
// the first match of range[0] to the last match of range[1], in either
// order. ere: room for the translation of either pattern.
static kdl_Status range_bounds(const kdl_SummaryModel *m, const kdl_SummaryOptions *o, char *ere,
                               int *lo, int *hi, char *err, size_t errlen) {
    int first[2] = {-1, -1}, last[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        regex_t re;
        py_regex_to_ere(o->layer_range[k], ere);
        if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) != 0) {
            Out e = err_out(err, errlen);
            puts_(&e, "layer_range: ");
            put_repr(&e, o->layer_range[k]);
            puts_(&e, " is not a supported regular expression");
            return err_end(&e);
        }
        for (int i = 0, top = 0; i < m->nrows; i++) {
            if (m->rows[i].depth != 0)
                continue;
            if (m->rows[i].name && regexec(&re, m->rows[i].name, 0, NULL, 0) == 0) {
                if (first[k] < 0)
                    first[k] = top;
                last[k] = top;
            }
            top++;
        }
        regfree(&re);
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
    size_t ere = 0;
    for (int k = 0; ranged && k < 2; k++) {
        size_t n = ere_size(o->layer_range[k]);
        ere = n > ere ? n : ere;
    }
    char *mem = malloc(count.len + 1 + ere);
    if (!mem)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "out of memory");
    int lo = 0, hi = top_rows(m);
    if (ranged)
        st = range_bounds(m, o, mem + count.len + 1, &lo, &hi, err, errlen);
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
