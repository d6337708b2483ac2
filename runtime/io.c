/*
 * io.c - weights and data files: safetensors, .npy and CSV.
 *
 * Everything read here comes from outside, so every byte is bounds-checked:
 * a file's size is taken from fstat first, headers are read into buffers of
 * exactly their declared length, all offset arithmetic is in uint64_t with
 * overflow checks, and the data is read only after the whole header has been
 * validated against that size. Byte order is spelled out (little-endian
 * values assembled from bytes), so big-endian hosts would read the same
 * numbers. Failures return a kdl_Status and write one line naming the file,
 * and the tensor or line where there is one, into err.
 *
 * Saving is atomic: the bytes go to "<path>.tmp.<pid>" in the same
 * directory, which is fsync'ed and renamed over path, so a crash leaves the
 * old file or the new one, never half of one; on any error the temporary
 * file is removed.
 */
#define _POSIX_C_SOURCE 200809L

#include "internal.h"
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RANK 8

// ---- messages ---------------------------------------------------------------------------

// Append to buf (capacity cap, *n used), truncating safely.
PRINTF_LIKE(4, 5)
static void bput(char *buf, size_t cap, size_t *n, const char *fmt, ...) {
    if (*n >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = (size_t)k < cap - *n ? *n + (size_t)k : cap;
}

#define QNAME 512

// A name (or field) from a file, fit for a one-line message: control bytes,
// quotes and (in names that are not UTF-8) bytes >= 0x80 escaped, long
// names cut with "...".
static const char *qname(char buf[QNAME], const char *s, size_t len) {
    size_t n = 0, shown = len > 120 ? 120 : len;
    int utf8 = kdl_json_valid_utf8(s, len);     // else escape every byte >= 0x80
    // do not cut a UTF-8 sequence in half
    while (shown < len && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
        shown--;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            bput(buf, QNAME, &n, "\\x%02x", c);
        else if (c == '\'' || c == '\\')
            bput(buf, QNAME, &n, "\\%c", c);
        else
            bput(buf, QNAME, &n, "%c", c);
    }
    if (shown < len)
        bput(buf, QNAME, &n, "...");
    buf[n < QNAME ? n : QNAME - 1] = '\0';
    return buf;
}

#define QSHAPE 160

// Python tuple notation: (), (3,), (2, 3); dims as int64.
static const char *fmt_shape(char buf[QSHAPE], const int64_t *dims, int rank) {
    size_t n = 0;
    buf[0] = '\0';
    bput(buf, QSHAPE, &n, "(");
    for (int i = 0; i < rank; i++)
        bput(buf, QSHAPE, &n, i ? ", %" PRId64 : "%" PRId64, dims[i]);
    bput(buf, QSHAPE, &n, rank == 1 ? ",)" : ")");
    return buf;
}

// The same for a validated JSON array of non-negative integers.
static const char *fmt_json_shape(char buf[QSHAPE], const kdl_JsonValue *arr) {
    size_t n = 0;
    buf[0] = '\0';
    bput(buf, QSHAPE, &n, "(");
    for (uint32_t i = 0; i < arr->len; i++) {
        if (i == 10) {
            bput(buf, QSHAPE, &n, ", ...");
            break;
        }
        bput(buf, QSHAPE, &n, "%s%.*s", i ? ", " : "", (int)arr->items[i].len,
             arr->items[i].str);
    }
    bput(buf, QSHAPE, &n, arr->len == 1 ? ",)" : ")");
    return buf;
}

// ---- bytes ------------------------------------------------------------------------------

static uint32_t get_le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get_le64(const unsigned char *b) {
    return (uint64_t)get_le32(b) | (uint64_t)get_le32(b + 4) << 32;
}

static void put_le32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

// n 4-byte little-endian values in place -> host order (float or int32 bits).
static void le32_to_host(void *data, size_t n) {
    unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = get_le32(b + 4 * i);
        memcpy(b + 4 * i, &v, 4);
    }
}

// a * b with overflow detection.
static int mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a && b > UINT64_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

// ---- reading files ----------------------------------------------------------------------

// Open a regular file for reading and get its size.
static kdl_Status open_read(const char *path, FILE **f, uint64_t *size, char *err, size_t errlen) {
    *f = fopen(path, "rb");
    if (!*f)
        return kdl_fail(err, errlen, KDL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(*f), &st) != 0) {
        int e = errno;
        fclose(*f);
        *f = NULL;
        return kdl_fail(err, errlen, KDL_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(*f);
        *f = NULL;
        return kdl_fail(err, errlen, KDL_ERR_IO, "%s: not a regular file", path);
    }
    *size = (uint64_t)st.st_size;
    return KDL_OK;
}

// Exactly n bytes; the size was checked first, so a short read means a read
// error or a file that changed underneath.
static kdl_Status read_exact(FILE *f, void *buf, size_t n, const char *path, char *err,
                             size_t errlen) {
    if (n == 0 || fread(buf, 1, n, f) == n)
        return KDL_OK;
    if (ferror(f))
        return kdl_fail(err, errlen, KDL_ERR_IO, "%s: read error: %s", path, strerror(errno));
    return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: file ended early (changed while being read?)",
                path);
}

// ---- atomic writing ---------------------------------------------------------------------

typedef struct {
    const char *path;
    char *tmp;          // "<path>.tmp.<pid>"
    FILE *f;
    int werr;           // errno of the first failed write, 0 if none
} Out;

static kdl_Status out_open(Out *o, const char *path, char *err, size_t errlen) {
    *o = (Out){.path = path};
    size_t n = strlen(path) + 32;
    o->tmp = malloc(n);
    if (!o->tmp)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    int fd = open(o->tmp, flags, 0666);
    if (fd < 0 && errno == EEXIST) {
        // left by a crashed writer that had our pid: ours to replace
        unlink(o->tmp);
        fd = open(o->tmp, flags, 0666);
    }
    if (fd < 0) {
        int e = errno;
        kdl_Status s = kdl_fail(err, errlen, KDL_ERR_IO, "%s: cannot create '%s': %s", path, o->tmp,
                            strerror(e));
        free(o->tmp);
        o->tmp = NULL;
        return s;
    }
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        return kdl_fail(err, errlen, KDL_ERR_IO, "%s: %s", path, strerror(e));
    }
    return KDL_OK;
}

static void out_write(Out *o, const void *p, size_t n) {
    if (!o->werr && n && fwrite(p, 1, n, o->f) != n)
        o->werr = errno ? errno : EIO;
}

PRINTF_LIKE(2, 3)
static void out_printf(Out *o, const char *fmt, ...) {
    if (o->werr)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(o->f, fmt, ap) < 0)
        o->werr = errno ? errno : EIO;
    va_end(ap);
}

// n 4-byte host values (float or int32 bits) as little-endian bytes.
static void out_le32(Out *o, const void *data, size_t n) {
    unsigned char buf[4096];
    const unsigned char *src = data;
    while (n && !o->werr) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t v;
            memcpy(&v, src + 4 * i, 4);
            put_le32(buf + 4 * i, v);
        }
        out_write(o, buf, 4 * k);
        src += 4 * k;
        n -= k;
    }
}

// Drop the temporary file (after an error).
static void out_abort(Out *o) {
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp) {
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
}

// Make the directory entry of a rename durable; best effort (some file
// systems refuse fsync on directories).
static void fsync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else {
        dir = malloc((size_t)(slash - path) + 1);
        if (dir) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
        }
    }
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

// Flush, fsync, close and rename over the target.
static kdl_Status out_commit(Out *o, char *err, size_t errlen) {
    if (!o->werr && fflush(o->f) != 0)
        o->werr = errno ? errno : EIO;
    if (!o->werr && fsync(fileno(o->f)) != 0)
        o->werr = errno ? errno : EIO;
    if (fclose(o->f) != 0 && !o->werr)
        o->werr = errno ? errno : EIO;
    o->f = NULL;
    if (o->werr) {
        int e = o->werr;
        out_abort(o);
        return kdl_fail(err, errlen, KDL_ERR_IO, "%s: write failed: %s", o->path, strerror(e));
    }
    if (rename(o->tmp, o->path) != 0) {
        int e = errno;
        out_abort(o);
        return kdl_fail(err, errlen, KDL_ERR_IO, "%s: cannot replace the file: %s", o->path,
                    strerror(e));
    }
    free(o->tmp);
    o->tmp = NULL;
    fsync_dir(o->path);
    return KDL_OK;
}

// ---- a growable string ------------------------------------------------------------------

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const void *s, size_t n) {
    if (b->oom)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void buf_puts(Buf *b, const char *s) {
    buf_put(b, s, strlen(s));
}

static void buf_u64(Buf *b, uint64_t v) {
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    buf_puts(b, tmp);
}

// A JSON string literal, escaped as serde_json writes it (the safetensors
// reference writer): \" \\ \b \f \n \r \t, other control bytes \u00XX.
static void buf_json_string(Buf *b, const char *s, size_t n) {
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                e = esc;
            }
        }
        if (e)
            buf_puts(b, e);
        else
            buf_put(b, &s[i], 1);
    }
    buf_put(b, "\"", 1);
}

// ---- model tensor specs -----------------------------------------------------------------

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

static int cmp_spec_ptr(const void *x, const void *y) {
    const kdl_WeightSpec *a = *(const kdl_WeightSpec *const *)x;
    const kdl_WeightSpec *b = *(const kdl_WeightSpec *const *)y;
    return strcmp(a->name, b->name);
}

// Check the caller's specs (names set and distinct, ranks 0..8, dimensions
// >= 0, a buffer for every non-empty tensor) and return them sorted by name.
// Saving also needs names a safetensors header can hold.
static kdl_Status check_specs(const char *path, const kdl_WeightSpec *specs, int n, int saving,
                              const kdl_WeightSpec ***sorted, char *err, size_t errlen) {
    char q[QNAME];
    *sorted = NULL;
    if (n < 0 || (n > 0 && !specs))
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: invalid tensor list (n = %d)", path, n);
    const kdl_WeightSpec **s = malloc((n ? (size_t)n : 1) * sizeof *s);
    if (!s)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        const kdl_WeightSpec *w = &specs[i];
        s[i] = w;
        if (!w->name) {
            free(s);
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: model tensor %d has no name", path, i);
        }
        const char *name = qname(q, w->name, strlen(w->name));
        if (w->rank < 0 || w->rank > MAX_RANK) {
            free(s);
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: tensor '%s': rank %d is outside 0..%d",
                        path, name, w->rank, MAX_RANK);
        }
        uint64_t count = 1;
        for (int d = 0; d < w->rank; d++) {
            if (w->shape[d] < 0 || !mul_u64(count, (uint64_t)w->shape[d], &count) ||
                count > UINT64_MAX / 4) {
                char sh[QSHAPE];
                free(s);
                return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: tensor '%s': invalid shape %s",
                            path, name, fmt_shape(sh, w->shape, w->rank));
            }
        }
        if (count && !w->data) {
            free(s);
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: tensor '%s' has no data buffer", path,
                        name);
        }
        if (saving && (!kdl_json_valid_utf8(w->name, strlen(w->name)) ||
                       strcmp(w->name, "__metadata__") == 0)) {
            free(s);
            return kdl_fail(err, errlen, KDL_ERR_SHAPE,
                        "%s: tensor '%s': not a valid safetensors name", path, name);
        }
    }
    qsort(s, (size_t)n, sizeof *s, cmp_spec_ptr);
    for (int i = 1; i < n; i++)
        if (strcmp(s[i - 1]->name, s[i]->name) == 0) {
            kdl_Status st = kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: two model tensors are named '%s'",
                                 path, qname(q, s[i]->name, strlen(s[i]->name)));
            free(s);
            return st;
        }
    *sorted = s;
    return KDL_OK;
}

static uint64_t spec_count(const kdl_WeightSpec *w) {
    uint64_t c = 1;
    for (int d = 0; d < w->rank; d++)
        c *= (uint64_t)w->shape[d];     // checked by check_specs
    return c;
}

// ---- safetensors: loading ---------------------------------------------------------------

// The reference reader's limit on the JSON header (safetensors MAX_HEADER_SIZE).
#define ST_MAX_HEADER 100000000u
// A header is three levels deep; anything much deeper is hostile.
#define ST_MAX_DEPTH 64
// A tensor takes 10 + rank JSON values, so a model of n tensors needs fewer
// than ST_VALUES_BASE + ST_VALUES_PER * n, metadata included; more bounds the
// memory a hostile header can make the reader use (json.h).
#define ST_VALUES_BASE 65536
#define ST_VALUES_PER 64

// Every dtype the format defines, with its element size; only F32 loads.
static const struct {
    const char *name;
    unsigned size;
} st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
    {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},
    {"F64", 8}, {"I64", 8}, {"U64", 8},
};

// One tensor of a header.
typedef struct {
    const kdl_JsonValue *key;   // the name (a STRING)
    const kdl_JsonValue *shape; // ARRAY of validated non-negative integers
    const char *dtype;
    uint64_t begin, end;        // data_offsets
    const kdl_WeightSpec *spec; // the model tensor it fills, once matched
} StEntry;

static int cmp_entry_name(const void *x, const void *y) {
    const StEntry *a = *(const StEntry *const *)x, *b = *(const StEntry *const *)y;
    return cmp_bytes(a->key->str, a->key->len, b->key->str, b->key->len);
}

static int cmp_entry_offset(const void *x, const void *y) {
    const StEntry *a = *(const StEntry *const *)x, *b = *(const StEntry *const *)y;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return 0;
}

// Check one tensor's description: exactly the fields dtype (a known name),
// shape (non-negative integers), data_offsets ([begin, end], begin <= end
// <= data_len, end - begin = element size * product of shape).
static kdl_Status st_entry(const char *path, StEntry *e, const kdl_JsonValue *val,
                           uint64_t data_len, char *err, size_t errlen) {
    char q[QNAME], q2[QNAME], sh[QSHAPE];
    const char *name = qname(q, e->key->str, e->key->len);
    const kdl_JsonValue *dtype = NULL, *offs = NULL;
    if (val->type != KDL_JSON_OBJECT)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                    "%s: tensor '%s': expected an object with dtype, shape and data_offsets", path,
                    name);
    for (uint32_t i = 0; i < val->len; i++) {
        const kdl_JsonValue *k = &val->items[2 * i], *v = &val->items[2 * i + 1];
        const kdl_JsonValue **slot = NULL;
        if (strcmp(k->str, "dtype") == 0 && k->len == 5)
            slot = &dtype;
        else if (strcmp(k->str, "shape") == 0 && k->len == 5)
            slot = &e->shape;
        else if (strcmp(k->str, "data_offsets") == 0 && k->len == 12)
            slot = &offs;
        if (!slot)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': unexpected field '%s'",
                        path, name, qname(q2, k->str, k->len));
        if (*slot)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': duplicate field '%s'", path,
                        name, k->str);
        *slot = v;
    }
    if (!dtype || !e->shape || !offs)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': missing field '%s'", path, name,
                    !dtype ? "dtype" : !e->shape ? "shape" : "data_offsets");

    unsigned size = 0;
    if (dtype->type == KDL_JSON_STRING)
        for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
            if (strcmp(dtype->str, st_dtypes[i].name) == 0 && dtype->len == strlen(dtype->str)) {
                e->dtype = st_dtypes[i].name;
                size = st_dtypes[i].size;
            }
    if (!size)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': unknown dtype %s", path, name,
                    dtype->type == KDL_JSON_STRING ? qname(q2, dtype->str, dtype->len)
                                                   : "(not a string)");

    if (e->shape->type != KDL_JSON_ARRAY)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                    "%s: tensor '%s': shape must be a list of non-negative integers", path, name);
    uint64_t nbytes = size;
    int overflow = 0;
    for (uint32_t i = 0; i < e->shape->len; i++) {
        uint64_t d;
        kdl_JsonU64 r = kdl_json_u64(&e->shape->items[i], &d);
        if (r == KDL_JSON_U64_TOO_BIG)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': shape dimension %.*s is too "
                        "large", path, name, (int)e->shape->items[i].len, e->shape->items[i].str);
        if (r != KDL_JSON_U64_OK)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                        "%s: tensor '%s': shape must be a list of non-negative integers", path,
                        name);
        if (!mul_u64(nbytes, d, &nbytes))
            overflow = 1;
    }
    if (overflow)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': shape %s is too large", path,
                    name, fmt_json_shape(sh, e->shape));

    const char *offs_rule = "data_offsets must be [begin, end], two non-negative integers";
    if (offs->type != KDL_JSON_ARRAY || offs->len != 2)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': %s", path, name, offs_rule);
    for (int i = 0; i < 2; i++) {
        kdl_JsonU64 r = kdl_json_u64(&offs->items[i], i ? &e->end : &e->begin);
        if (r == KDL_JSON_U64_TOO_BIG)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': data offset %.*s is too "
                        "large", path, name, (int)offs->items[i].len, offs->items[i].str);
        if (r != KDL_JSON_U64_OK)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': %s", path, name, offs_rule);
    }
    if (e->end < e->begin)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                    "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they "
                    "begin", path, name, e->begin, e->end);
    if (e->end > data_len)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                    "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] run past the end "
                    "of the data section (%" PRIu64 " bytes; truncated file?)", path, name,
                    e->begin, e->end, data_len);
    if (e->end - e->begin != nbytes)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                    "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                    " bytes but shape %s of %s needs %" PRIu64, path, name, e->begin, e->end,
                    e->end - e->begin, fmt_json_shape(sh, e->shape), e->dtype, nbytes);
    return KDL_OK;
}

// __metadata__: null or an object of strings with distinct keys.
static kdl_Status st_metadata(const char *path, const kdl_JsonValue *v, char *err,
                              size_t errlen) {
    char q[QNAME];
    if (v->type == KDL_JSON_NULL)
        return KDL_OK;
    if (v->type != KDL_JSON_OBJECT)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: __metadata__ must be an object of strings",
                    path);
    for (uint32_t i = 0; i < v->len; i++) {
        const kdl_JsonValue *k = &v->items[2 * i];
        if (v->items[2 * i + 1].type != KDL_JSON_STRING)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: __metadata__ '%s' is not a string",
                        path, qname(q, k->str, k->len));
        for (uint32_t j = 0; j < i; j++)     // metadata is small; quadratic is fine
            if (cmp_bytes(k->str, k->len, v->items[2 * j].str, v->items[2 * j].len) == 0)
                return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: __metadata__ has key '%s' twice",
                            path, qname(q, k->str, k->len));
    }
    return KDL_OK;
}

// A training checkpoint's optimizer state: "optimizer/<layer>/<weight>/<slot>".
static int is_optimizer_name(const kdl_JsonValue *key) {
    return key->len > 10 && memcmp(key->str, "optimizer/", 10) == 0;
}

// Match the header's tensors against the model's: every spec present with
// dtype F32 and the same shape, nothing extra (but optimizer state, when
// skip_optimizer). byname is sorted by name.
static kdl_Status st_match(const char *path, StEntry **byname, size_t m,
                           const kdl_WeightSpec *specs, int n, int skip_optimizer, char *err,
                           size_t errlen) {
    char q[QNAME], sh[QSHAPE], sh2[QSHAPE];
    for (int i = 0; i < n; i++) {
        const kdl_WeightSpec *w = &specs[i];
        size_t wlen = strlen(w->name), lo = 0, hi = m;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = cmp_bytes(byname[mid]->key->str, byname[mid]->key->len, w->name, wlen);
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        const char *name = qname(q, w->name, wlen);
        if (lo == m || cmp_bytes(byname[lo]->key->str, byname[lo]->key->len, w->name, wlen))
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
        StEntry *e = byname[lo];
        if (strcmp(e->dtype, "F32") != 0)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s': dtype %s, expected F32",
                        path, name, e->dtype);
        int same = e->shape->len == (uint32_t)w->rank;
        for (int d = 0; same && d < w->rank; d++) {
            uint64_t v;
            kdl_json_u64(&e->shape->items[d], &v);
            same = v == (uint64_t)w->shape[d];
        }
        if (!same)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                        "%s: tensor '%s': shape %s does not match the model's %s", path, name,
                        fmt_json_shape(sh, e->shape), fmt_shape(sh2, w->shape, w->rank));
        e->spec = w;
    }
    for (size_t i = 0; i < m; i++)
        if (!byname[i]->spec && !(skip_optimizer && is_optimizer_name(byname[i]->key)))
            return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: tensor '%s' is not in the model", path,
                        qname(q, byname[i]->key->str, byname[i]->key->len));
    return KDL_OK;
}

// The data section must be covered exactly: tensors sorted by offset start
// at 0, each begins where the previous ended, the last ends at data_len (no
// overlaps, no holes, nothing after; the spec's rule against polyglot files).
static kdl_Status st_coverage(const char *path, StEntry **byoff, size_t m, uint64_t data_len,
                              char *err, size_t errlen) {
    char q[QNAME], q2[QNAME];
    uint64_t pos = 0;
    for (size_t i = 0; i < m; i++) {
        const StEntry *e = byoff[i];
        const char *name = qname(q, e->key->str, e->key->len);
        if (e->begin < pos)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] overlap "
                        "tensor '%s' [%" PRIu64 ", %" PRIu64 "]", path, name, e->begin, e->end,
                        qname(q2, byoff[i - 1]->key->str, byoff[i - 1]->key->len),
                        byoff[i - 1]->begin, byoff[i - 1]->end);
        if (e->begin > pos)
            return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                        "%s: data bytes [%" PRIu64 ", %" PRIu64 ") before tensor '%s' belong "
                        "to no tensor", path, pos, e->begin, name);
        pos = e->end;
    }
    if (pos != data_len)
        return kdl_fail(err, errlen, KDL_ERR_FORMAT,
                    "%s: data bytes [%" PRIu64 ", %" PRIu64 ") after the last tensor belong to "
                    "no tensor", path, pos, data_len);
    return KDL_OK;
}

kdl_Status kdl_safetensors_load(const char *path, const kdl_WeightSpec *specs, int n, char *err,
                                size_t errlen) {
    return kdl_safetensors_read(path, specs, n, 1, NULL, err, errlen);
}

// The values of meta's keys in a checked __metadata__ object (v: null or it).
static kdl_Status st_get_metadata(const char *path, const kdl_JsonValue *v, kdl_StMetadata *meta,
                                  char *err, size_t errlen) {
    for (int k = 0; k < meta->n; k++) {
        meta->values[k][0] = '\0';
        size_t klen = strlen(meta->keys[k]);
        for (uint32_t i = 0; v->type == KDL_JSON_OBJECT && i < v->len; i++) {
            const kdl_JsonValue *key = &v->items[2 * i], *val = key + 1;
            if (cmp_bytes(key->str, key->len, meta->keys[k], klen) != 0)
                continue;
            if (val->len >= KDL_METADATA_MAX || memchr(val->str, '\0', val->len))
                return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: __metadata__ '%s' is too long "
                                "or not text", path, meta->keys[k]);
            memcpy(meta->values[k], val->str, val->len);
            meta->values[k][val->len] = '\0';
        }
    }
    return KDL_OK;
}

kdl_Status kdl_safetensors_read(const char *path, const kdl_WeightSpec *specs, int n,
                                int skip_optimizer, kdl_StMetadata *meta, char *err,
                                size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    const kdl_WeightSpec **sorted = NULL;
    kdl_Status st = check_specs(path, specs, n, 0, &sorted, err, errlen);
    free(sorted);
    if (st)
        return st;

    FILE *f = NULL;
    char *hdr = NULL;
    kdl_Json doc = {0};
    StEntry *ents = NULL;
    StEntry **byname = NULL, **byoff = NULL;
    uint64_t size;
    unsigned char len8[8];
    if ((st = open_read(path, &f, &size, err, errlen)))
        goto done;
    if (size < 8) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: file too short (%" PRIu64 " bytes) for a "
                  "safetensors header", path, size);
        goto done;
    }
    if ((st = read_exact(f, len8, 8, path, err, errlen)))
        goto done;
    uint64_t hlen = get_le64(len8);
    if (hlen > ST_MAX_HEADER) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the limit "
                  "of %u bytes", path, hlen, ST_MAX_HEADER);
        goto done;
    }
    if (hlen > size - 8) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end "
                  "of the file (%" PRIu64 " bytes; truncated?)", path, hlen, size);
        goto done;
    }
    uint64_t data_len = size - 8 - hlen;
    hdr = malloc(hlen ? (size_t)hlen : 1);
    if (!hdr) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = read_exact(f, hdr, (size_t)hlen, path, err, errlen)))
        goto done;
    if (hlen == 0 || hdr[0] != '{') {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: header does not start with '{'", path);
        goto done;
    }
    char jmsg[160];
    size_t where, max_values = (size_t)n < (SIZE_MAX - ST_VALUES_BASE) / ST_VALUES_PER
                                   ? ST_VALUES_BASE + ST_VALUES_PER * (size_t)n
                                   : SIZE_MAX;
    kdl_JsonStatus js = kdl_json_parse(&doc, hdr, (size_t)hlen, ST_MAX_DEPTH, max_values, &where,
                                       jmsg, sizeof jmsg);
    if (js == KDL_JSON_NOMEM) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory reading the header", path);
        goto done;
    }
    if (js == KDL_JSON_LIMIT) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: header too complex for a model of %d "
                  "tensors: offset %zu: %s", path, n, where, jmsg);
        goto done;
    }
    if (js != KDL_JSON_OK) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: header is not valid JSON: offset %zu: %s",
                  path, where, jmsg);
        goto done;
    }
    const kdl_JsonValue *root = &doc.root;      // an object: it starts with '{'

    // The tensors, sorted by name to find duplicates and to match specs.
    size_t m = 0;
    ents = calloc(root->len ? root->len : 1, sizeof *ents);
    byname = malloc((root->len ? root->len : 1) * sizeof *byname);
    byoff = malloc((root->len ? root->len : 1) * sizeof *byoff);
    if (!ents || !byname || !byoff) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int have_meta = 0;
    for (uint32_t i = 0; i < root->len; i++) {
        const kdl_JsonValue *k = &root->items[2 * i];
        if (k->len == 12 && memcmp(k->str, "__metadata__", 12) == 0) {
            if (have_meta++) {
                st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: __metadata__ appears twice", path);
                goto done;
            }
            if ((st = st_metadata(path, &root->items[2 * i + 1], err, errlen)))
                goto done;
            if (meta && (st = st_get_metadata(path, &root->items[2 * i + 1], meta, err, errlen)))
                goto done;
            continue;
        }
        ents[m].key = k;
        byname[m] = &ents[m];
        m++;
    }
    qsort(byname, m, sizeof *byname, cmp_entry_name);
    char q[QNAME];
    for (size_t i = 1; i < m; i++)
        if (cmp_entry_name(&byname[i - 1], &byname[i]) == 0) {
            st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: duplicate tensor '%s'", path,
                      qname(q, byname[i]->key->str, byname[i]->key->len));
            goto done;
        }
    for (size_t i = 0; i < m; i++) {
        const kdl_JsonValue *val = byname[i]->key + 1;      // the member's value
        if ((st = st_entry(path, byname[i], val, data_len, err, errlen)))
            goto done;
    }
    memcpy(byoff, byname, m * sizeof *byoff);
    qsort(byoff, m, sizeof *byoff, cmp_entry_offset);
    if ((st = st_coverage(path, byoff, m, data_len, err, errlen)))
        goto done;
    if (meta && !have_meta) {
        static const kdl_JsonValue none = {.type = KDL_JSON_NULL};
        st_get_metadata(path, &none, meta, err, errlen);
    }
    if ((st = st_match(path, byname, m, specs, n, skip_optimizer, err, errlen)))
        goto done;

    // Everything checked: the data section is the tensors back to back.
    for (size_t i = 0; i < m; i++) {
        uint64_t nbytes = byoff[i]->end - byoff[i]->begin;
        if (nbytes > SIZE_MAX) {
            st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: tensor too large for this machine", path);
            goto done;
        }
        if (!byoff[i]->spec) {      // skipped optimizer state
            if (fseeko(f, (off_t)nbytes, SEEK_CUR) != 0) {
                st = kdl_fail(err, errlen, KDL_ERR_IO, "%s: %s", path, strerror(errno));
                goto done;
            }
            continue;
        }
        float *dst = byoff[i]->spec->data;
        if ((st = read_exact(f, dst, (size_t)nbytes, path, err, errlen)))
            goto done;
        le32_to_host(dst, (size_t)nbytes / 4);
    }

done:
    if (f)
        fclose(f);
    kdl_json_free(&doc);
    free(hdr);
    free(ents);
    free(byname);
    free(byoff);
    return st;
}

// ---- safetensors: saving ----------------------------------------------------------------

// The caller's metadata ("members of a JSON object") as a checked object of
// strings, written back compactly in the caller's order.
static kdl_Status st_put_metadata(const char *path, Buf *b, const char *metadata, char *err,
                                  size_t errlen) {
    size_t len = strlen(metadata);
    char *text = malloc(len + 3);
    if (!text)
        return kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
    text[0] = '{';
    memcpy(text + 1, metadata, len);
    text[len + 1] = '}';
    text[len + 2] = '\0';
    kdl_Json doc;
    char jmsg[160];
    size_t where;
    kdl_JsonStatus js = kdl_json_parse(&doc, text, len + 2, ST_MAX_DEPTH, SIZE_MAX, &where, jmsg,
                                       sizeof jmsg);
    kdl_Status st = KDL_OK;
    if (js == KDL_JSON_NOMEM)
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
    else if (js != KDL_JSON_OK)     // offsets into metadata, not into the '{' we added
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: metadata is not the members of a JSON "
                  "object: offset %zu: %s", path, where ? where - 1 : 0, jmsg);
    else if ((st = st_metadata(path, &doc.root, err, errlen)) == KDL_OK) {
        buf_puts(b, "\"__metadata__\":{");
        for (uint32_t i = 0; i < doc.root.len; i++) {
            const kdl_JsonValue *k = &doc.root.items[2 * i], *v = k + 1;
            if (i)
                buf_puts(b, ",");
            buf_json_string(b, k->str, k->len);
            buf_puts(b, ":");
            buf_json_string(b, v->str, v->len);
        }
        buf_puts(b, "}");
    }
    kdl_json_free(&doc);
    free(text);
    return st;
}

kdl_Status kdl_safetensors_save(const char *path, const kdl_WeightSpec *specs, int n,
                                const char *metadata, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    const kdl_WeightSpec **sorted = NULL;
    kdl_Status st = check_specs(path, specs, n, 1, &sorted, err, errlen);
    if (st)
        return st;

    // The header as the reference writer makes it: compact JSON, metadata
    // first, tensors sorted by name (it sorts by dtype alignment, then name;
    // all ours are F32) with offsets in that order, spaces to a multiple of 8.
    Buf b = {0};
    buf_puts(&b, "{");
    if (metadata && (st = st_put_metadata(path, &b, metadata, err, errlen)))
        goto done;
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const kdl_WeightSpec *w = sorted[i];
        if (b.n > 1)
            buf_puts(&b, ",");
        buf_json_string(&b, w->name, strlen(w->name));
        buf_puts(&b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < w->rank; d++) {
            if (d)
                buf_puts(&b, ",");
            buf_u64(&b, (uint64_t)w->shape[d]);
        }
        uint64_t nbytes = 4 * spec_count(w);
        if (offset > UINT64_MAX - nbytes) {
            st = kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: tensors too large", path);
            goto done;
        }
        buf_puts(&b, "],\"data_offsets\":[");
        buf_u64(&b, offset);
        buf_puts(&b, ",");
        buf_u64(&b, offset + nbytes);
        buf_puts(&b, "]}");
        offset += nbytes;
    }
    buf_puts(&b, "}");
    while (b.n % 8)
        buf_puts(&b, " ");
    if (b.oom) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (b.n > ST_MAX_HEADER) {
        st = kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: header of %zu bytes exceeds the limit of %u",
                  path, b.n, ST_MAX_HEADER);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (spec_count(sorted[i]) > SIZE_MAX / 4) {
            st = kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: tensor too large for this machine", path);
            goto done;
        }

    Out o;
    if ((st = out_open(&o, path, err, errlen)))
        goto done;
    unsigned char len8[8];
    put_le32(len8, (uint32_t)b.n);
    put_le32(len8 + 4, 0);
    out_write(&o, len8, 8);
    out_write(&o, b.p, b.n);
    for (int i = 0; i < n; i++)
        out_le32(&o, sorted[i]->data, (size_t)spec_count(sorted[i]));
    st = out_commit(&o, err, errlen);

done:
    free(b.p);
    free(sorted);
    return st;
}

// ---- arrays -----------------------------------------------------------------------------

void kdl_array_free(kdl_Array *a) {
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
    a->rank = 0;
}

size_t kdl_array_count(const kdl_Array *a) {
    size_t c = 1;
    for (int i = 0; i < a->rank && i < MAX_RANK; i++)
        c *= (size_t)a->shape[i];
    return c;
}

// Check an array passed for saving; *count gets its element count.
static kdl_Status check_array(const char *path, const kdl_Array *a, size_t *count, char *err,
                              size_t errlen) {
    if (!a)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: no array", path);
    if (a->dtype != KDL_F32 && a->dtype != KDL_I32)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: unknown dtype %d", path, (int)a->dtype);
    if (a->rank < 0 || a->rank > MAX_RANK)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: rank %d is outside 0..%d", path, a->rank,
                    MAX_RANK);
    uint64_t c = 1;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] < 0 || !mul_u64(c, (uint64_t)a->shape[i], &c) || c > SIZE_MAX / 4) {
            char sh[QSHAPE];
            return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: invalid shape %s", path,
                        fmt_shape(sh, a->shape, a->rank));
        }
    if (c && !a->data)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: array has no data", path);
    *count = (size_t)c;
    return KDL_OK;
}

// ---- .npy -------------------------------------------------------------------------------
//
// "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0
// and 3.0), then a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ending in '\n', then the raw data.

// numpy's own limit on the header it will parse (_MAX_HEADER_SIZE).
#define NPY_MAX_HEADER 10000

typedef struct {
    const char *s;
    size_t n, pos;
    int py2;                // versions 1.0/2.0 may hold Python 2 longs ("3L")
    const char *descr;      // the 'descr' string (not terminated)
    size_t descr_len;
    int fortran;
    int rank;
    int64_t shape[MAX_RANK];
    const char *what;       // what went wrong
} NpyHeader;

static int npy_ws(NpyHeader *h) {
    while (h->pos < h->n && h->s[h->pos] && strchr(" \t\n\r\f", h->s[h->pos]))
        h->pos++;
    return h->pos < h->n ? (unsigned char)h->s[h->pos] : -1;
}

static int npy_bad(NpyHeader *h, const char *what) {
    h->what = what;
    return -1;
}

// A quoted string without escapes.
static int npy_str(NpyHeader *h, const char **s, size_t *len) {
    int q = npy_ws(h);
    if (q != '\'' && q != '"')
        return npy_bad(h, "expected a quoted string");
    size_t start = ++h->pos;
    while (h->pos < h->n && h->s[h->pos] != q) {
        unsigned char c = (unsigned char)h->s[h->pos];
        if (c == '\\' || c < 0x20 || c >= 0x7f)
            return npy_bad(h, "unexpected character in a string");
        h->pos++;
    }
    if (h->pos >= h->n)
        return npy_bad(h, "unterminated string");
    *s = h->s + start;
    *len = h->pos++ - start;
    return 0;
}

static int npy_punct(NpyHeader *h, char c) {
    if (npy_ws(h) != c)
        return -1;
    h->pos++;
    return 0;
}

// True or False.
static int npy_bool(NpyHeader *h, int *v) {
    npy_ws(h);
    for (int b = 0; b < 2; b++) {
        const char *w = b ? "True" : "False";
        size_t k = strlen(w);
        if (h->n - h->pos >= k && memcmp(h->s + h->pos, w, k) == 0 &&
            (h->n - h->pos == k || !isalnum((unsigned char)h->s[h->pos + k]))) {
            h->pos += k;
            *v = b;
            return 0;
        }
    }
    return npy_bad(h, "fortran_order must be True or False");
}

// A tuple of non-negative integers: (), (3,), (2, 3), (2, 3,).
static int npy_shape(NpyHeader *h) {
    if (npy_punct(h, '('))
        return npy_bad(h, "shape must be a tuple");
    h->rank = 0;
    int trailing_comma = 0;
    while (npy_ws(h) != ')') {
        int c = npy_ws(h);
        if (c < '0' || c > '9')
            return npy_bad(h, "shape must be a tuple of non-negative integers");
        if (c == '0' && h->pos + 1 < h->n && isdigit((unsigned char)h->s[h->pos + 1]))
            return npy_bad(h, "leading zero in a shape dimension");
        int64_t d = 0;
        while (h->pos < h->n && isdigit((unsigned char)h->s[h->pos])) {
            int digit = h->s[h->pos++] - '0';
            if (d > (INT64_MAX - digit) / 10)
                return npy_bad(h, "shape dimension too large");
            d = d * 10 + digit;
        }
        if (h->py2 && h->pos < h->n && h->s[h->pos] == 'L')
            h->pos++;
        if (h->rank == MAX_RANK)
            return npy_bad(h, "more than 8 dimensions");
        h->shape[h->rank++] = d;
        trailing_comma = 0;
        if (npy_ws(h) == ',') {
            h->pos++;
            trailing_comma = 1;
        } else if (npy_ws(h) != ')')
            return npy_bad(h, "expected ',' or ')' in the shape");
    }
    h->pos++;
    if (h->rank == 1 && !trailing_comma)
        return npy_bad(h, "shape (n) is not a tuple; a 1-tuple is written (n,)");
    return 0;
}

// The header dict: exactly the keys descr, fortran_order and shape.
static int npy_parse(NpyHeader *h) {
    int seen[3] = {0, 0, 0};
    if (npy_punct(h, '{'))
        return npy_bad(h, "expected '{'");
    while (npy_ws(h) != '}') {
        const char *key;
        size_t klen;
        if (npy_str(h, &key, &klen))
            return -1;
        if (npy_punct(h, ':'))
            return npy_bad(h, "expected ':' after a key");
        int which = klen == 5 && memcmp(key, "descr", 5) == 0           ? 0
                    : klen == 13 && memcmp(key, "fortran_order", 13) == 0 ? 1
                    : klen == 5 && memcmp(key, "shape", 5) == 0           ? 2
                                                                          : -1;
        if (which < 0)
            return npy_bad(h, "unexpected key (expected only descr, fortran_order, shape)");
        if (seen[which]++)
            return npy_bad(h, "a key appears twice");
        if (which == 0 && npy_str(h, &h->descr, &h->descr_len))
            return -1;
        if (which == 1 && npy_bool(h, &h->fortran))
            return -1;
        if (which == 2 && npy_shape(h))
            return -1;
        if (npy_ws(h) == ',')
            h->pos++;
        else if (npy_ws(h) != '}')
            return npy_bad(h, "expected ',' or '}'");
    }
    h->pos++;
    if (npy_ws(h) != -1)
        return npy_bad(h, "unexpected text after the dict");
    if (!seen[0] || !seen[1] || !seen[2])
        return npy_bad(h, !seen[0] ? "no 'descr'" : !seen[1] ? "no 'fortran_order'" : "no 'shape'");
    return 0;
}

// Convert n 8-byte little-endian values from the file into float / int32.
static kdl_Status npy_read8(FILE *f, void *out, size_t n, int is_float, const char *path,
                            char *err, size_t errlen) {
    unsigned char buf[8 * 512];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < 512 ? n - done : 512;
        kdl_Status st = read_exact(f, buf, 8 * k, path, err, errlen);
        if (st)
            return st;
        for (size_t i = 0; i < k; i++) {
            uint64_t u = get_le64(buf + 8 * i);
            if (is_float) {
                double d;
                memcpy(&d, &u, 8);
                if (isfinite(d) && fabs(d) > FLT_MAX)
                    return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: element %zu (%g) is out of "
                                "float32 range", path, done + i, d);
                ((float *)out)[done + i] = (float)d;
            } else {
                int64_t v;
                memcpy(&v, &u, 8);
                if (v < INT32_MIN || v > INT32_MAX)
                    return kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: element %zu (%" PRId64 ") "
                                "does not fit in int32", path, done + i, v);
                ((int32_t *)out)[done + i] = (int32_t)v;
            }
        }
        done += k;
    }
    return KDL_OK;
}

kdl_Status kdl_npy_load(const char *path, kdl_Array *out, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    *out = (kdl_Array){0};
    FILE *f = NULL;
    char *hdr = NULL;
    void *data = NULL;
    uint64_t size;
    unsigned char pre[12];
    kdl_Status st = open_read(path, &f, &size, err, errlen);
    if (st)
        return st;
    if (size < 10) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: file too short (%" PRIu64 " bytes) for a "
                  ".npy header", path, size);
        goto done;
    }
    if ((st = read_exact(f, pre, 10, path, err, errlen)))
        goto done;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    unsigned major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: unsupported .npy version %u.%u", path, major,
                  minor);
        goto done;
    }
    uint64_t prefix = 10, hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    if (major >= 2) {
        if (size < 12) {
            st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: file too short (%" PRIu64 " bytes) for "
                      "a .npy header", path, size);
            goto done;
        }
        if ((st = read_exact(f, pre + 10, 2, path, err, errlen)))
            goto done;
        prefix = 12;
        hlen = get_le32(pre + 8);
    }
    if (hlen > size - prefix) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end "
                  "of the file (%" PRIu64 " bytes; truncated?)", path, hlen, size);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: header of %" PRIu64 " bytes exceeds the "
                  "limit of %d", path, hlen, NPY_MAX_HEADER);
        goto done;
    }
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = read_exact(f, hdr, (size_t)hlen, path, err, errlen)))
        goto done;
    NpyHeader h = {.s = hdr, .n = (size_t)hlen, .py2 = major < 3};
    if (npy_parse(&h)) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: bad .npy header (offset %zu): %s", path,
                  h.pos, h.what);
        goto done;
    }
    if (h.fortran) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: fortran_order is True; only C-order arrays "
                  "are supported", path);
        goto done;
    }
    static const struct {
        const char *descr;
        kdl_DType dtype;
        unsigned size;
    } types[] = {{"<f4", KDL_F32, 4}, {"<i4", KDL_I32, 4}, {"<f8", KDL_F32, 8},
                 {"<i8", KDL_I32, 8}};
    int t = -1;
    for (int i = 0; i < 4; i++)
        if (h.descr_len == 3 && memcmp(h.descr, types[i].descr, 3) == 0)
            t = i;
    if (t < 0) {
        char q[QNAME];
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: unsupported dtype '%s' (expected '<f4', "
                  "'<i4', '<f8' or '<i8')", path, qname(q, h.descr, h.descr_len));
        goto done;
    }
    uint64_t count = 1, nbytes = 0;
    int ok = 1;
    for (int i = 0; i < h.rank; i++)
        ok = ok && mul_u64(count, (uint64_t)h.shape[i], &count);
    ok = ok && mul_u64(count, types[t].size, &nbytes);
    char sh[QSHAPE];
    if (!ok) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: shape %s is too large", path,
                  fmt_shape(sh, h.shape, h.rank));
        goto done;
    }
    if (nbytes != size - prefix - hlen) {
        st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: data is %" PRIu64 " bytes but shape %s of "
                  "'%s' needs %" PRIu64, path, size - prefix - hlen,
                  fmt_shape(sh, h.shape, h.rank), types[t].descr, nbytes);
        goto done;
    }
    // count <= file size, so count * 4 fits size_t wherever the file fits memory
    if (count > SIZE_MAX / 4 || !(data = malloc(count ? (size_t)count * 4 : 1))) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (types[t].size == 4) {
        if ((st = read_exact(f, data, (size_t)count * 4, path, err, errlen)))
            goto done;
        le32_to_host(data, (size_t)count);
    } else if ((st = npy_read8(f, data, (size_t)count, types[t].dtype == KDL_F32, path, err,
                               errlen)))
        goto done;
    out->dtype = types[t].dtype;
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->data = data;
    data = NULL;

done:
    if (f)
        fclose(f);
    free(hdr);
    free(data);
    return st;
}

kdl_Status kdl_npy_save(const char *path, const kdl_Array *a, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    size_t count;
    kdl_Status st = check_array(path, a, &count, err, errlen);
    if (st)
        return st;
    // numpy's writer: the dict with sorted keys, spare spaces so the first
    // dimension can grow to 21 digits in place, then spaces and '\n' so the
    // data starts at a multiple of 64.
    char dict[400], sh[QSHAPE];
    size_t n = 0;
    bput(dict, sizeof dict, &n, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
         a->dtype == KDL_F32 ? "<f4" : "<i4", fmt_shape(sh, a->shape, a->rank));
    if (a->rank > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%" PRId64, a->shape[0]);
        for (int i = digits; i < 21; i++)
            bput(dict, sizeof dict, &n, " ");
    }
    size_t hlen = n + 1, pad = 64 - (10 + hlen) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    pre[8] = (unsigned char)((hlen + pad) & 0xff);
    pre[9] = (unsigned char)((hlen + pad) >> 8);
    Out o;
    if ((st = out_open(&o, path, err, errlen)))
        return st;
    out_write(&o, pre, 10);
    out_write(&o, dict, n);
    for (size_t i = 0; i < pad; i++)
        out_write(&o, " ", 1);
    out_write(&o, "\n", 1);
    out_le32(&o, a->data, count);
    return out_commit(&o, err, errlen);
}

// ---- CSV --------------------------------------------------------------------------------
//
// Numbers separated by commas, one row per line (LF or CRLF), blanks around
// fields allowed; a first line where no field is a number is a header and
// is skipped; empty lines at the end are ignored, elsewhere an error. Column
// numbers in messages count fields, from 1.

static int lower_eq(const char *s, size_t n, const char *word) {
    if (strlen(word) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != word[i])
            return 0;
    return 1;
}

// A decimal number (sign, digits with at most one '.', optional exponent),
// or nan / inf / infinity: what %.9g writes and what people type, and not
// the hex floats or "nan(...)" strtof would also take.
static int is_number(const char *s, size_t n) {
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (lower_eq(s + i, n - i, "nan") || lower_eq(s + i, n - i, "inf") ||
        lower_eq(s + i, n - i, "infinity"))
        return 1;
    for (; i < n && isdigit((unsigned char)s[i]); i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && isdigit((unsigned char)s[i]); i++)
            digits++;
    if (!digits)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i == n || !isdigit((unsigned char)s[i]))
            return 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    return i == n;
}

// Split a NUL-terminated line at commas into fields without surrounding
// blanks. Returns the field count; fields beyond max are counted, not stored.
static size_t csv_split(char *line, char **fields, size_t *lens, size_t max) {
    size_t k = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        char *end = comma ? comma : p + strlen(p);
        char *b = p, *e = end;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (k < max) {
            fields[k] = b;
            lens[k] = (size_t)(e - b);
        }
        k++;
        if (!comma)
            return k;
        p = comma + 1;
    }
}

static int is_blank(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

kdl_Status kdl_csv_load(const char *path, kdl_Array *out, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    *out = (kdl_Array){0};
    FILE *f = NULL;
    char *text = NULL;
    char **fields = NULL;
    size_t *lens = NULL;
    float *vals = NULL;
    uint64_t size;
    char q[QNAME];
    kdl_Status st = open_read(path, &f, &size, err, errlen);
    if (st)
        return st;
    if (size >= SIZE_MAX || !(text = malloc((size_t)size + 1))) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = read_exact(f, text, (size_t)size, path, err, errlen)))
        goto done;
    text[size] = '\0';

    size_t cols = 0, rows = 0, cap = 0, maxf = 0;
    long header_line = 0, first_line = 0, blank_line = 0, line = 0;
    size_t header_cols = 0;
    char *p = text, *end = text + size;
    if (size >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)      // UTF-8 byte order mark
        p += 3;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        if (memchr(p, '\0', (size_t)(le - p))) {
            st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld: NUL byte", path, line);
            goto done;
        }
        *le = '\0';
        char *ln = p;
        p = nl ? nl + 1 : end;
        if (is_blank(ln)) {
            if (!blank_line)
                blank_line = line;
            continue;
        }
        if (blank_line) {
            st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld: empty line (only trailing "
                      "empty lines are allowed)", path, blank_line);
            goto done;
        }
        // one pass to count fields, then make room and split for real
        size_t nf = csv_split(ln, NULL, NULL, 0);
        if (nf > maxf) {
            free(fields);
            free(lens);
            fields = malloc(nf * sizeof *fields);
            lens = malloc(nf * sizeof *lens);
            if (!fields || !lens) {
                st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            maxf = nf;
        }
        csv_split(ln, fields, lens, nf);
        if (!first_line) {
            first_line = line;
            int numbers = 0;
            for (size_t i = 0; i < nf; i++)
                numbers += is_number(fields[i], lens[i]);
            if (!numbers) {
                header_line = line;
                header_cols = nf;
                continue;
            }
        }
        if (rows == 0) {
            cols = nf;
            if (header_line && header_cols != nf) {
                st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld: %zu columns, but the "
                          "header (line %ld) has %zu", path, line, nf, header_line, header_cols);
                goto done;
            }
        } else if (nf != cols) {
            st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld: %zu columns, expected %zu like "
                      "the lines before", path, line, nf, cols);
            goto done;
        }
        if (rows * cols + cols > cap) {
            size_t ncap = cap ? cap : 1024;
            while (ncap < rows * cols + cols && ncap <= SIZE_MAX / 8)
                ncap *= 2;
            float *nv = ncap >= rows * cols + cols ? realloc(vals, ncap * sizeof *vals) : NULL;
            if (!nv) {
                st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            vals = nv;
            cap = ncap;
        }
        for (size_t i = 0; i < nf; i++) {
            if (lens[i] == 0) {
                st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld, column %zu: empty field",
                          path, line, i + 1);
                goto done;
            }
            if (!is_number(fields[i], lens[i])) {
                st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld, column %zu: '%s' is not "
                          "a number", path, line, i + 1, qname(q, fields[i], lens[i]));
                goto done;
            }
            fields[i][lens[i]] = '\0';      // the blank or separator after it
            char *stop;
            errno = 0;
            float v = strtof(fields[i], &stop);
            if (stop != fields[i] + lens[i]) {
                st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld, column %zu: '%s' is not "
                          "a number (in this locale)", path, line, i + 1,
                          qname(q, fields[i], lens[i]));
                goto done;
            }
            if (errno == ERANGE && isinf(v)) {
                st = kdl_fail(err, errlen, KDL_ERR_FORMAT, "%s: line %ld, column %zu: '%s' is out "
                          "of float32 range", path, line, i + 1, qname(q, fields[i], lens[i]));
                goto done;
            }
            vals[rows * cols + i] = v;
        }
        rows++;
    }
    if (!vals && !(vals = malloc(sizeof *vals))) {
        st = kdl_fail(err, errlen, KDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    out->dtype = KDL_F32;
    out->rank = 2;
    out->shape[0] = (int64_t)rows;
    out->shape[1] = (int64_t)(rows ? cols : header_cols);
    out->data = vals;
    vals = NULL;

done:
    if (f)
        fclose(f);
    free(text);
    free(fields);
    free(lens);
    free(vals);
    return st;
}

kdl_Status kdl_csv_save(const char *path, const kdl_Array *a, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    size_t count;
    kdl_Status st = check_array(path, a, &count, err, errlen);
    if (st)
        return st;
    if (a->rank > 2)
        return kdl_fail(err, errlen, KDL_ERR_SHAPE, "%s: CSV holds arrays of rank 0 to 2, not %d",
                    path, a->rank);
    // rank 1 is a column, as numpy.savetxt writes it; rank 0 one value
    size_t rows = a->rank >= 1 ? (size_t)a->shape[0] : 1;
    size_t cols = a->rank == 2 ? (size_t)a->shape[1] : 1;
    Out o;
    if ((st = out_open(&o, path, err, errlen)))
        return st;
    for (size_t r = 0; r < rows && cols; r++) {
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            const char *sep = c ? "," : "";
            // %.9g round-trips every float32 exactly
            if (a->dtype == KDL_F32)
                out_printf(&o, "%s%.9g", sep, (double)((const float *)a->data)[i]);
            else
                out_printf(&o, "%s%" PRId32, sep, ((const int32_t *)a->data)[i]);
        }
        out_printf(&o, "\n");
    }
    return out_commit(&o, err, errlen);
}
