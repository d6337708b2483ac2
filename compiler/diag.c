/*
 * diag.c - source files, line tables and clang-style diagnostics.
 *
 *   model.kdl:12:17: error: Add: inputs have incompatible shapes ...
 *      12 | x = layers.add([x, skip])
 *         |                 ^~~~~~~
 *
 * Spans are byte offsets; line and column (1-based, in bytes) are computed on
 * demand from a per-file table of line starts. After MAX_ERRORS errors the
 * context is marked `too_many` and later errors are dropped; callers check
 * c->too_many to stop early.
 */
#include "kdlc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void index_lines(Ctx *c, SrcFile *f) {
    int n = 1;
    for (size_t i = 0; i < f->len; i++)
        if (f->text[i] == '\n')
            n++;
    f->line_starts = arena_alloc(c->arena, sizeof(int) * (size_t)(n + 1));
    int k = 0;
    f->line_starts[k++] = 0;
    for (size_t i = 0; i < f->len; i++)
        if (f->text[i] == '\n')
            f->line_starts[k++] = (int)i + 1;
    f->nlines = k;
    f->line_starts[k] = (int)f->len + 1;
}

SrcFile *src_from_string(Ctx *c, const char *name, const char *text, size_t len) {
    SrcFile *f = arena_alloc(c->arena, sizeof *f);
    f->name = arena_strdup(c->arena, name);
    f->text = arena_strndup(c->arena, text, len);
    f->len = len;
    index_lines(c, f);
    return f;
}

#define MAX_SOURCE_BYTES (64 << 20)

SrcFile *src_load(Ctx *c, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(c->err, "kdlc: error: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    Buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (b.len + n > MAX_SOURCE_BYTES) {
            fprintf(c->err, "kdlc: error: '%s' is larger than %d MiB\n", path,
                    MAX_SOURCE_BYTES >> 20);
            fclose(fp);
            return NULL;
        }
        buf_putn(c->arena, &b, chunk, n);
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        fprintf(c->err, "kdlc: error: cannot read '%s'\n", path);
        return NULL;
    }
    if (memchr(buf_str(c->arena, &b), 0, b.len)) {
        fprintf(c->err, "kdlc: error: '%s' contains a NUL byte; is it a text file?\n", path);
        return NULL;
    }
    return src_from_string(c, path, buf_str(c->arena, &b), b.len);
}

void src_line_col(const SrcFile *f, int off, int *line, int *col) {
    if (off < 0)
        off = 0;
    if ((size_t)off > f->len)
        off = (int)f->len;
    // Binary search for the last line start <= off.
    int lo = 0, hi = f->nlines - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f->line_starts[mid] <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    *line = lo + 1;
    *col = off - f->line_starts[lo] + 1;
}

bool span_valid(Span s) {
    return s.file != NULL;
}

Span span_join(Span a, Span b) {
    if (!a.file)
        return b;
    if (!b.file || a.file != b.file)
        return a;
    Span s = a;
    if (b.start < s.start)
        s.start = b.start;
    if (b.end > s.end)
        s.end = b.end;
    return s;
}

// A byte of a source line that would garble the terminal if printed as is:
// a control character other than tab (a lone CR inside a string literal,
// an escape character). It is shown as <U+000D>, and the caret line
// makes room for that.
static bool is_control(unsigned char ch) {
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

#define CONTROL_WIDTH 8     // "<U+000D>"

// Print the source line of `s` and a caret line under it. Tabs in the source
// are repeated in the caret line so the marker lines up in any tab setting.
// The line ends at '\n' (a CR before it is part of the line end); a CR
// anywhere else is a character of the line, shown as <U+000D>.
static void show_source(FILE *out, Span s) {
    const SrcFile *f = s.file;
    int line, col;
    src_line_col(f, s.start, &line, &col);
    int ls = f->line_starts[line - 1];
    int le = ls;
    while ((size_t)le < f->len && f->text[le] != '\n')
        le++;
    if (le > ls && f->text[le - 1] == '\r')
        le--;
    fprintf(out, "%5d | ", line);
    for (int i = ls; i < le; i++) {
        unsigned char ch = (unsigned char)f->text[i];
        if (is_control(ch))
            fprintf(out, "<U+%04X>", ch);
        else
            fputc(ch, out);
    }
    fputc('\n', out);
    fprintf(out, "      | ");
    // One marker cell per character: UTF-8 continuation bytes take none.
    for (int i = ls; i < s.start && i < le; i++) {
        unsigned char ch = (unsigned char)f->text[i];
        if ((ch & 0xC0) == 0x80)
            continue;
        if (ch == '\t')
            fputc('\t', out);
        else
            fprintf(out, "%*s", is_control(ch) ? CONTROL_WIDTH : 1, "");
    }
    fputc('^', out);
    if (s.start < le && is_control((unsigned char)f->text[s.start]))
        fprintf(out, "%.*s", CONTROL_WIDTH - 1, "~~~~~~~");
    int end = s.end < le ? s.end : le;
    for (int i = s.start + 1; i < end; i++) {
        unsigned char ch = (unsigned char)f->text[i];
        if ((ch & 0xC0) != 0x80)
            fprintf(out, "%.*s", is_control(ch) ? CONTROL_WIDTH : 1, "~~~~~~~~");
    }
    fputc('\n', out);
}

static void report(Ctx *c, Span s, const char *kind, const char *fmt, va_list ap) {
    if (s.file) {
        int line, col;
        src_line_col(s.file, s.start, &line, &col);
        fprintf(c->err, "%s:%d:%d: %s: ", s.file->name, line, col, kind);
    } else {
        fprintf(c->err, "kdlc: %s: ", kind);
    }
    vfprintf(c->err, fmt, ap);
    fputc('\n', c->err);
    if (s.file)
        show_source(c->err, s);
}

// Has this exact error (place and text) been reported already? A loop
// reaching the same mistake again reports it once.
static bool seen_before(Ctx *c, Span s, const char *fmt, va_list ap) {
    char msg[1024];
    va_list ap2;
    va_copy(ap2, ap);
    vsnprintf(msg, sizeof msg, fmt, ap2);
    va_end(ap2);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = msg; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    Vec *r = &c->reported;
    for (int i = 0; i + 2 < r->len; i += 3)
        if ((intptr_t)r->data[i] == s.start && (intptr_t)r->data[i + 1] == s.end &&
            (uintptr_t)r->data[i + 2] == (uintptr_t)h)
            return true;
    vec_push(c->arena, r, (void *)(intptr_t)s.start);
    vec_push(c->arena, r, (void *)(intptr_t)s.end);
    vec_push(c->arena, r, (void *)(uintptr_t)h);
    return false;
}

void error_at(Ctx *c, Span s, const char *fmt, ...) {
    if (c->too_many)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (s.file && seen_before(c, s, fmt, ap)) {
        va_end(ap);
        return;
    }
    report(c, s, "error", fmt, ap);
    va_end(ap);
    if (++c->nerrors >= MAX_ERRORS) {
        fprintf(c->err, "kdlc: fatal error: too many errors emitted, stopping now\n");
        c->too_many = true;
    }
}

void warning_at(Ctx *c, Span s, const char *fmt, ...) {
    if (c->too_many)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(c, s, "warning", fmt, ap);
    va_end(ap);
    c->nwarnings++;
}

void note_at(Ctx *c, Span s, const char *fmt, ...) {
    if (c->too_many)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(c, s, "note", fmt, ap);
    va_end(ap);
}
