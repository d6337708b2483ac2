/*
 * util.c - the arena, pointer vectors, string builders and small string
 * helpers every stage uses.
 *
 * The arena hands out zeroed, 16-byte aligned blocks from large chunks and
 * frees them all at once (arena_free). A compilation never frees single
 * objects, so the compiler cannot leak in its steady state: ctx_free()
 * releases everything.
 */
#include "kdlc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct Chunk {
    struct Chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} Chunk;

struct Arena {
    Chunk *head;
    size_t bytes;           // total allocated from malloc
};

#define CHUNK_SIZE (64 * 1024)

Arena *arena_new(void) {
    Arena *a = calloc(1, sizeof *a);
    if (!a)
        die("out of memory");
    return a;
}

void arena_free(Arena *a) {
    if (!a)
        return;
    for (Chunk *c = a->head; c;) {
        Chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *arena_alloc(Arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    Chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t n = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        c = malloc(sizeof *c + n);
        if (!c)
            die("out of memory");
        a->bytes += sizeof *c + n;
        c->size = n;
        c->used = 0;
        // Big one-off blocks go behind the head so the head keeps its space.
        if (a->head && n > CHUNK_SIZE) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

size_t arena_bytes(const Arena *a) {
    return a->bytes;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(Arena *a, const char *s) {
    return arena_strndup(a, s, strlen(s));
}

static char *arena_vprintf(Arena *a, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        die("bad format");
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void vec_push(Arena *a, Vec *v, void *p) {
    if (v->len == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        void **data = arena_alloc(a, sizeof(void *) * (size_t)cap);
        if (v->len)
            memcpy(data, v->data, sizeof(void *) * (size_t)v->len);
        v->data = data;
        v->cap = cap;
    }
    v->data[v->len++] = p;
}

static void buf_reserve(Arena *a, Buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = arena_alloc(a, cap);
    if (b->len)
        memcpy(data, b->data, b->len);
    b->data = data;
    b->cap = cap;
}

void buf_putn(Arena *a, Buf *b, const char *s, size_t n) {
    buf_reserve(a, b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void buf_puts(Arena *a, Buf *b, const char *s) {
    buf_putn(a, b, s, strlen(s));
}

void buf_putc(Arena *a, Buf *b, char c) {
    buf_putn(a, b, &c, 1);
}

void buf_printf(Arena *a, Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = arena_vprintf(a, fmt, ap);
    va_end(ap);
    buf_puts(a, b, s);
}

const char *buf_str(Arena *a, Buf *b) {
    if (!b->data)
        buf_reserve(a, b, 0);
    b->data[b->len] = 0;
    return b->data;
}

void die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kdlc: internal error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

// Keras's to_snake_case: drop non-word characters, then
//   (.)([A-Z][a-z]+) -> \1_\2   and   ([a-z])([A-Z]) -> \1_\2,   then lower().
char *snake_case(Arena *a, const char *name) {
    size_t n = strlen(name);
    char *w = arena_alloc(a, n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isalnum((unsigned char)name[i]) || name[i] == '_')
            w[m++] = name[i];
    w[m] = 0;
    // Pass 1: an underscore before every "Xyy..." run that is not at the
    // start. Python's re.sub scans left to right without overlaps: the (.)
    // consumes one char, so the match "(.)([A-Z][a-z]+)" starting at i covers
    // i..end of the lowercase run; the next search starts after it.
    Buf b1 = {0};
    size_t i = 0;
    while (i < m) {
        if (i + 2 < m + 1 && i + 1 < m && isupper((unsigned char)w[i + 1]) &&
            i + 2 < m && islower((unsigned char)w[i + 2])) {
            size_t j = i + 2;
            while (j < m && islower((unsigned char)w[j]))
                j++;
            buf_putc(a, &b1, w[i]);
            buf_putc(a, &b1, '_');
            buf_putn(a, &b1, w + i + 1, j - i - 1);
            i = j;
        } else {
            buf_putc(a, &b1, w[i]);
            i++;
        }
    }
    const char *s1 = buf_str(a, &b1);
    // Pass 2: ([a-z])([A-Z]) -> \1_\2, non-overlapping left to right.
    Buf b2 = {0};
    size_t n1 = strlen(s1);
    for (i = 0; i < n1;) {
        if (i + 1 < n1 && islower((unsigned char)s1[i]) && isupper((unsigned char)s1[i + 1])) {
            buf_putc(a, &b2, s1[i]);
            buf_putc(a, &b2, '_');
            buf_putc(a, &b2, s1[i + 1]);
            i += 2;
        } else {
            buf_putc(a, &b2, s1[i]);
            i++;
        }
    }
    char *out = (char *)buf_str(a, &b2);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

char *py_repr_str(Arena *a, const char *s) {
    // Python prefers single quotes unless the string has ' and no ".
    bool has_sq = strchr(s, '\'') != NULL, has_dq = strchr(s, '"') != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    Buf b = {0};
    buf_putc(a, &b, q);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == (unsigned char)q || *p == '\\')
            buf_putc(a, &b, '\\'), buf_putc(a, &b, (char)*p);
        else if (*p == '\n')
            buf_puts(a, &b, "\\n");
        else if (*p == '\t')
            buf_puts(a, &b, "\\t");
        else if (*p == '\r')
            buf_puts(a, &b, "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(a, &b, "\\x%02x", *p);
        else
            buf_putc(a, &b, (char)*p);
    }
    buf_putc(a, &b, q);
    return (char *)buf_str(a, &b);
}

// Length in characters (code points) of a UTF-8 string, as Python's len().
size_t utf8_length(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

// Bytes of the UTF-8 character starting at s (1 for a stray byte or NUL).
size_t utf8_char_len(const char *s) {
    size_t k = 1;
    if ((unsigned char)s[0] >= 0xC0)
        while (((unsigned char)s[k] & 0xC0) == 0x80 && k < 4)
            k++;
    return k;
}
