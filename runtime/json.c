/*
 * json.c - the strict JSON reader behind json.h (safetensors headers).
 *
 * Recursive descent over a byte span that is never assumed NUL-terminated:
 * every read goes through peek(), which checks pos < len. Values go into a
 * block arena; while a container is open its finished children wait on a
 * scratch stack and are copied into the arena as one array when it closes,
 * so a container of n items costs one allocation. Recursion depth is
 * bounded by max_depth.
 */
#include "json.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- arena ------------------------------------------------------------------------------

struct kdl_JsonBlock {
    kdl_JsonBlock *next;
    size_t used, cap;
    max_align_t data[];     // cap bytes follow
};

#define JSON_BLOCK_MIN 65536

// size bytes aligned to align (a power of two up to max_align_t's).
static void *arena_alloc(kdl_Json *doc, size_t size, size_t align) {
    if (size > SIZE_MAX - align)
        return NULL;
    kdl_JsonBlock *b = doc->blocks;
    size_t pad = b ? (align - b->used % align) % align : 0;
    if (!b || b->cap - b->used < size + pad) {
        size_t cap = size > JSON_BLOCK_MIN ? size : JSON_BLOCK_MIN;
        if (cap > SIZE_MAX - sizeof(kdl_JsonBlock))
            return NULL;
        b = malloc(sizeof(kdl_JsonBlock) + cap);
        if (!b)
            return NULL;
        b->next = doc->blocks;
        b->used = 0;
        b->cap = cap;
        doc->blocks = b;
        pad = 0;
    }
    b->used += pad;
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

void kdl_json_free(kdl_Json *doc) {
    kdl_JsonBlock *b = doc->blocks;
    while (b) {
        kdl_JsonBlock *next = b->next;
        free(b);
        b = next;
    }
    doc->blocks = NULL;
}

// ---- parser -----------------------------------------------------------------------------

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    int depth, max_depth;
    size_t values, max_values;
    kdl_Json *doc;
    kdl_JsonValue *stack;   // finished children of the open containers
    size_t sn, scap;
    kdl_JsonStatus status;
    size_t where;           // offset of the first error
    char *msg;
    size_t msglen;
} Parser;

static void report(Parser *p, kdl_JsonStatus status, size_t at, const char *fmt, va_list ap) {
    if (p->status != KDL_JSON_OK)
        return;         // keep the first error
    p->status = status;
    p->where = at;
    if (p->msg && p->msglen)
        vsnprintf(p->msg, p->msglen, fmt, ap);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int syntax(Parser *p, size_t at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(p, KDL_JSON_SYNTAX, at, fmt, ap);
    va_end(ap);
    return -1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int limit(Parser *p, size_t at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(p, KDL_JSON_LIMIT, at, fmt, ap);
    va_end(ap);
    return -1;
}

static int nomem(Parser *p) {
    if (p->status == KDL_JSON_OK) {
        p->status = KDL_JSON_NOMEM;
        p->where = p->pos;
        if (p->msg && p->msglen)
            snprintf(p->msg, p->msglen, "out of memory");
    }
    return -1;
}

// The byte at pos, or -1 at the end of the text.
static int peek(const Parser *p) {
    return p->pos < p->len ? p->s[p->pos] : -1;
}

static void skip_ws(Parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

// Describe the byte at pos for "unexpected X" messages.
static const char *what_here(const Parser *p, char *buf, size_t cap) {
    int c = peek(p);
    if (c < 0)
        return "end of text";
    if (c >= 0x21 && c < 0x7f)
        snprintf(buf, cap, "'%c'", c);
    else
        snprintf(buf, cap, "byte 0x%02x", (unsigned)c);
    return buf;
}

static int push(Parser *p, const kdl_JsonValue *v) {
    if (++p->values > p->max_values)
        return limit(p, v->offset, "more than %zu values", p->max_values);
    if (p->sn == p->scap) {
        size_t cap = p->scap ? p->scap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(kdl_JsonValue))
            return nomem(p);
        kdl_JsonValue *s = realloc(p->stack, cap * sizeof(kdl_JsonValue));
        if (!s)
            return nomem(p);
        p->stack = s;
        p->scap = cap;
    }
    p->stack[p->sn++] = *v;
    return 0;
}

// Move the children stacked since base into one arena array.
static int pop_items(Parser *p, size_t base, kdl_JsonValue *out) {
    size_t n = p->sn - base;
    out->items = NULL;
    if (n) {
        out->items = arena_alloc(p->doc, n * sizeof(kdl_JsonValue), _Alignof(kdl_JsonValue));
        if (!out->items)
            return nomem(p);
        memcpy(out->items, p->stack + base, n * sizeof(kdl_JsonValue));
    }
    p->sn = base;
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Four hex digits at pos (after "\u").
static int read_hex4(Parser *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(peek(p));
        if (h < 0)
            return syntax(p, p->pos, "\\u escape needs four hex digits");
        v = v * 16 + (unsigned)h;
        p->pos++;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// Length of the well-formed UTF-8 sequence starting at s[0] (at most avail
// bytes), or 0 if it is malformed: overlong forms, surrogates and code
// points above U+10FFFF are rejected (Unicode table 3-7).
static size_t utf8_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;     // bounds for the second byte
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (avail < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

// A string at pos (on the opening quote) into v.
static int parse_string(Parser *p, kdl_JsonValue *v) {
    size_t start = p->pos++;
    // Find the closing quote to size the decoded copy (never longer than
    // the raw text: every escape shrinks or keeps its length).
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len)
        return syntax(p, start, "unterminated string");
    char *out = arena_alloc(p->doc, end - p->pos + 1, 1);
    if (!out)
        return nomem(p);
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = p->s[p->pos];
        if (c < 0x20)
            return syntax(p, p->pos, "control character 0x%02x in a string (escape it)", c);
        if (c >= 0x80) {
            size_t k = utf8_len(p->s + p->pos, end - p->pos);
            if (!k)
                return syntax(p, p->pos, "invalid UTF-8 in a string");
            memcpy(out + n, p->s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        if (c != '\\') {
            out[n++] = (char)c;
            p->pos++;
            continue;
        }
        size_t esc = p->pos++;
        int e = peek(p);
        p->pos++;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp = 0, lo = 0;
            if (read_hex4(p, &cp))
                return -1;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return syntax(p, esc, "lone low surrogate \\u%04X", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 1 >= end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return syntax(p, esc, "high surrogate \\u%04X without a low one", cp);
                p->pos += 2;
                if (read_hex4(p, &lo))
                    return -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return syntax(p, esc, "high surrogate \\u%04X without a low one", cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default:
            return syntax(p, esc, "invalid escape in a string");
        }
    }
    p->pos = end + 1;
    out[n] = '\0';
    v->type = KDL_JSON_STRING;
    v->str = out;
    v->len = (uint32_t)n;
    return 0;
}

static int is_digit(int c) {
    return c >= '0' && c <= '9';
}

// number = [-] (0 | [1-9][0-9]*) [. [0-9]+] [(e|E) [+-] [0-9]+]
static int parse_number(Parser *p, kdl_JsonValue *v) {
    size_t start = p->pos;
    if (peek(p) == '-')
        p->pos++;
    if (peek(p) == '0') {
        p->pos++;
        if (is_digit(peek(p)))
            return syntax(p, start, "leading zero in a number");
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p)))
            p->pos++;
    } else
        return syntax(p, start, "invalid number");
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p)))
            return syntax(p, p->pos, "expected a digit after '.'");
        while (is_digit(peek(p)))
            p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (!is_digit(peek(p)))
            return syntax(p, p->pos, "expected a digit in the exponent");
        while (is_digit(peek(p)))
            p->pos++;
    }
    v->type = KDL_JSON_NUMBER;
    v->str = (const char *)p->s + start;
    v->len = (uint32_t)(p->pos - start);
    return 0;
}

static int parse_literal(Parser *p, kdl_JsonValue *v, const char *word, kdl_JsonType type) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        char buf[16];
        return syntax(p, p->pos, "unexpected %s", what_here(p, buf, sizeof buf));
    }
    p->pos += n;
    v->type = type;
    return 0;
}

static int parse_value(Parser *p, kdl_JsonValue *v);

// '[' value (',' value)* ']' or '{' string ':' value (',' ...)* '}'.
static int parse_container(Parser *p, kdl_JsonValue *v, int object) {
    char close = object ? '}' : ']';
    char buf[16];
    if (++p->depth > p->max_depth)
        return limit(p, p->pos, "nesting deeper than %d levels", p->max_depth);
    p->pos++;
    size_t base = p->sn, count = 0;
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
    } else {
        for (;;) {
            kdl_JsonValue item = {0};
            if (object) {
                skip_ws(p);
                if (peek(p) != '"')
                    return syntax(p, p->pos, "expected a string key, got %s",
                                  what_here(p, buf, sizeof buf));
                item.offset = (uint32_t)p->pos;
                if (parse_string(p, &item) || push(p, &item))
                    return -1;
                skip_ws(p);
                if (peek(p) != ':')
                    return syntax(p, p->pos, "expected ':' after an object key, got %s",
                                  what_here(p, buf, sizeof buf));
                p->pos++;
            }
            if (parse_value(p, &item) || push(p, &item))
                return -1;
            count++;
            skip_ws(p);
            if (peek(p) == ',') {
                p->pos++;
                continue;
            }
            if (peek(p) == close) {
                p->pos++;
                break;
            }
            return syntax(p, p->pos, "expected ',' or '%c', got %s", close,
                          what_here(p, buf, sizeof buf));
        }
    }
    p->depth--;
    v->type = object ? KDL_JSON_OBJECT : KDL_JSON_ARRAY;
    v->len = (uint32_t)count;
    return pop_items(p, base, v);
}

static int parse_value(Parser *p, kdl_JsonValue *v) {
    char buf[16];
    skip_ws(p);
    *v = (kdl_JsonValue){0};
    v->offset = (uint32_t)p->pos;
    switch (peek(p)) {
    case '{': return parse_container(p, v, 1);
    case '[': return parse_container(p, v, 0);
    case '"': return parse_string(p, v);
    case 't': return parse_literal(p, v, "true", KDL_JSON_TRUE);
    case 'f': return parse_literal(p, v, "false", KDL_JSON_FALSE);
    case 'n': return parse_literal(p, v, "null", KDL_JSON_NULL);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(p, v);
    default:
        return syntax(p, p->pos, "expected a value, got %s", what_here(p, buf, sizeof buf));
    }
}

kdl_JsonStatus kdl_json_parse(kdl_Json *doc, const char *text, size_t len, int max_depth,
                              size_t max_values, size_t *where, char *msg, size_t msglen) {
    Parser p = {0};
    p.s = (const unsigned char *)text;
    p.len = len;
    p.max_depth = max_depth;
    p.max_values = max_values;
    p.doc = doc;
    p.msg = msg;
    p.msglen = msglen;
    doc->root = (kdl_JsonValue){0};
    doc->blocks = NULL;
    if (msg && msglen)
        msg[0] = '\0';
    if (len >= UINT32_MAX) {
        syntax(&p, 0, "text of %zu bytes is too long", len);
    } else if (parse_value(&p, &doc->root) == 0) {
        skip_ws(&p);
        if (p.pos != p.len) {
            char buf[16];
            syntax(&p, p.pos, "unexpected %s after the value", what_here(&p, buf, sizeof buf));
        }
    }
    free(p.stack);
    if (where)
        *where = p.where;
    return p.status;
}

int kdl_json_valid_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

kdl_JsonU64 kdl_json_u64(const kdl_JsonValue *v, uint64_t *out) {
    if (v->type != KDL_JSON_NUMBER || v->len == 0)
        return KDL_JSON_U64_NOT_INT;
    uint64_t x = 0;
    for (uint32_t i = 0; i < v->len; i++)
        if (!is_digit(v->str[i]))
            return KDL_JSON_U64_NOT_INT;
    for (uint32_t i = 0; i < v->len; i++) {
        unsigned d = (unsigned)(v->str[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return KDL_JSON_U64_TOO_BIG;
        x = x * 10 + d;
    }
    *out = x;
    return KDL_JSON_U64_OK;
}
