/*
 * test_grad_misc.c - the training kernels of runtime/misc.c.
 *
 * Every backward kernel is checked against central finite differences of
 * an independent naive forward written here in double precision: L =
 * sum(dy * f(x)) for a random dy, dL/dx_j = (L(x + h e_j) - L(x - h e_j)) / 2h.
 * Gradient outputs start as random values, so the check also proves the
 * kernel ADDED to them (the accumulate contract); each kernel is also called
 * with NULL gradient outputs. Covered: kdl_merge_backward (add, subtract,
 * average of 3, multiply with the product of the others as `other`; fixed
 * layouts up to rank 4, random broadcast patterns of rank 1-6, rank 16),
 * kdl_concat_backward, kdl_embedding_backward (repeated ids),
 * kdl_repeat_backward, kdl_zero_pad2d_backward, kdl_upsample2d_backward,
 * kdl_crop2d_forward (against naive indexing) and kdl_crop2d_backward,
 * kdl_axpy, kdl_mul_accumulate (Dropout's backward), kdl_dropout_forward / kdl_dropout_mask
 * (mask values, drop fraction over 100k values, the documented draw order,
 * same seed same mask, the next call different, in place, rate 0 and 1).
 */
#include "check.h"

#include <string.h>

#define MAXIN 6
#define MAXRANK 16
#define FD_H 1e-5
#define ATOL 2e-4
#define RTOL 2e-3

// ---- finite differences ----------------------------------------------------------

// A naive forward in double: y (ny) from the inputs.
typedef void (*naive_fn)(double *y, double *const *in, const void *ctx);

typedef struct Problem {
    naive_fn f;
    const void *ctx;
    int nin;
    size_t in_n[MAXIN];
    size_t ny;
} Problem;

static double *to_double(const float *x, size_t n) {
    double *d = malloc(sizeof(double) * (n ? n : 1));
    if (!d)
        exit(2);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static double loss(const Problem *p, double *const *x, double *y, const double *dy) {
    p->f(y, x, p->ctx);
    double s = 0;
    for (size_t i = 0; i < p->ny; i++)
        s += dy[i] * y[i];
    return s;
}

// g (in_n[t]) = dL / d in[t] by central differences.
static void fd_grad(double *g, const Problem *p, const float *const *in, const float *dy, int t) {
    double *x[MAXIN], *y = malloc(sizeof(double) * (p->ny ? p->ny : 1));
    double *dyd = to_double(dy, p->ny);
    for (int i = 0; i < p->nin; i++)
        x[i] = to_double(in[i], p->in_n[i]);
    for (size_t j = 0; j < p->in_n[t]; j++) {
        double v = x[t][j];
        x[t][j] = v + FD_H;
        double lp = loss(p, x, y, dyd);
        x[t][j] = v - FD_H;
        double lm = loss(p, x, y, dyd);
        x[t][j] = v;
        g[j] = (lp - lm) / (2 * FD_H);
    }
    for (int i = 0; i < p->nin; i++)
        free(x[i]);
    free(y), free(dyd);
}

static float *copy_of(const float *x, size_t n) {
    float *p = check_alloc(n);
    if (n)
        memcpy(p, x, sizeof(float) * n);
    return p;
}

// got (n) must be base + the FD gradient of input t.
static void check_grad(const char *what, const float *got, const float *base, const Problem *p,
                       const float *const *in, const float *dy, int t) {
    size_t n = p->in_n[t];
    double *g = malloc(sizeof(double) * (n ? n : 1));
    float *ref = check_alloc(n);
    fd_grad(g, p, in, dy, t);
    for (size_t i = 0; i < n; i++)
        ref[i] = (float)((double)base[i] + g[i]);
    check_close(what, got, ref, n, ATOL, RTOL);
    free(g), free(ref);
}

static size_t prod(const int *s, int rank) {
    size_t p = 1;
    for (int i = 0; i < rank; i++)
        p *= (size_t)s[i];
    return p;
}

static void fmt_shape(char *buf, size_t cap, const int *s, int rank) {
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ",%d" : "%d", s[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, ")");
}

// ---- axpy, mul_accumulate --------------------------------------------------------------

static void test_axpy(void) {
    const size_t sizes[] = {0, 1, 7, 33, 1000};
    for (size_t s = 0; s < 5; s++) {
        size_t n = sizes[s];
        float *x = check_random(n, -1, 1), *y = check_random(n, -1, 1), *m = check_random(n, 0, 2);
        float *ref = check_alloc(n), *y2 = copy_of(y, n);
        float a = -0.75f;
        for (size_t i = 0; i < n; i++)
            ref[i] = (float)((double)y[i] + (double)a * x[i]);
        kdl_axpy(y, x, n, a);
        char what[64];
        snprintf(what, sizeof what, "axpy n=%zu", n);
        check_close(what, y, ref, n, 1e-6, 1e-6);
        for (size_t i = 0; i < n; i++)
            ref[i] = (float)((double)y2[i] + (double)x[i] * m[i]);
        kdl_mul_accumulate(y2, x, m, n);
        snprintf(what, sizeof what, "mul_accumulate n=%zu", n);
        check_close(what, y2, ref, n, 1e-6, 1e-6);
        kdl_axpy(NULL, x, n, a);
        kdl_mul_accumulate(NULL, x, m, n);
        free(x), free(y), free(m), free(ref), free(y2);
    }
    check_true("axpy / mul_accumulate accept NULL outputs", 1);
}

// ---- merge ------------------------------------------------------------------------------

static const char *const merge_names[] = {"add", "sub", "mul", "avg"};

typedef struct MergeCtx {
    int k, rank;
    int shape[MAXIN][MAXRANK];
    int ys[MAXRANK];
    kdl_Merge op;
} MergeCtx;

// The flat index into an array of `shape` that output element f (of ys) reads.
static size_t bidx(size_t f, const int *shape, const int *ys, int rank) {
    size_t idx = 0, mul = 1;
    for (int i = rank - 1; i >= 0; i--) {
        size_t c = f % (size_t)ys[i];
        f /= (size_t)ys[i];
        idx += (shape[i] == 1 ? 0 : c) * mul;
        mul *= (size_t)shape[i];
    }
    return idx;
}

static void naive_merge(double *y, double *const *in, const void *vctx) {
    const MergeCtx *c = vctx;
    size_t ny = prod(c->ys, c->rank);
    for (size_t f = 0; f < ny; f++) {
        double acc = c->op == KDL_MERGE_MUL ? 1.0 : 0.0;
        for (int t = 0; t < c->k; t++) {
            double v = in[t][bidx(f, c->shape[t], c->ys, c->rank)];
            if (c->op == KDL_MERGE_MUL)
                acc *= v;
            else if (c->op == KDL_MERGE_SUB && t > 0)
                acc -= v;
            else
                acc += v;
        }
        y[f] = c->op == KDL_MERGE_AVG ? acc / c->k : acc;
    }
}

// k inputs of the given shapes merged by op; the gradient of every input.
static void merge_case(int k, int rank, const int (*shapes)[MAXRANK], kdl_Merge op) {
    MergeCtx c = {.k = k, .rank = rank, .op = op};
    Problem p = {.f = naive_merge, .ctx = &c, .nin = k};
    float *in[MAXIN];
    char desc[256];
    size_t dl = (size_t)snprintf(desc, sizeof desc, "merge_backward %s", merge_names[op]);
    for (int i = 0; i < rank; i++) {
        c.ys[i] = 1;
        for (int t = 0; t < k; t++)
            if (shapes[t][i] != 1)
                c.ys[i] = shapes[t][i];
    }
    for (int t = 0; t < k; t++) {
        memcpy(c.shape[t], shapes[t], sizeof(int) * (size_t)rank);
        p.in_n[t] = prod(shapes[t], rank);
        in[t] = check_random(p.in_n[t], -1.5f, 1.5f);
        if (dl < sizeof desc) {
            dl += (size_t)snprintf(desc + dl, sizeof desc - dl, " ");
            if (dl < sizeof desc)
                fmt_shape(desc + dl, sizeof desc - dl, shapes[t], rank);
            dl = strlen(desc);
        }
    }
    p.ny = prod(c.ys, rank);
    float *dy = check_random(p.ny, -1, 1);
    for (int t = 0; t < k; t++) {
        float scale = 1.0f, *other = NULL;
        int os[MAXRANK];
        if (op == KDL_MERGE_SUB)
            scale = t == 0 ? 1.0f : -1.0f;
        else if (op == KDL_MERGE_AVG)
            scale = (float)(1.0 / k);
        else if (op == KDL_MERGE_MUL) {
            // other: the product of the other inputs, broadcast to their joint shape.
            for (int i = 0; i < rank; i++) {
                os[i] = 1;
                for (int u = 0; u < k; u++)
                    if (u != t && shapes[u][i] != 1)
                        os[i] = shapes[u][i];
            }
            size_t no = prod(os, rank);
            other = check_alloc(no);
            for (size_t f = 0; f < no; f++) {
                float v = 1.0f;
                for (int u = 0; u < k; u++)
                    if (u != t)
                        v *= in[u][bidx(f, shapes[u], os, rank)];
                other[f] = v;
            }
        }
        float *base = check_random(p.in_n[t], -1, 1), *dx = copy_of(base, p.in_n[t]);
        kdl_merge_backward(dx, shapes[t], dy, c.ys, other, other ? os : NULL, rank, scale);
        char what[320];
        snprintf(what, sizeof what, "%s: d input %d (scale %g)", desc, t, (double)scale);
        check_grad(what, dx, base, &p, (const float *const *)in, dy, t);
        kdl_merge_backward(NULL, shapes[t], dy, c.ys, other, other ? os : NULL, rank, scale);
        free(base), free(dx), free(other);
    }
    for (int t = 0; t < k; t++)
        free(in[t]);
    free(dy);
}

static void merge2(const int *a, const int *b, int rank, kdl_Merge op) {
    int s[MAXIN][MAXRANK];
    memcpy(s[0], a, sizeof(int) * (size_t)rank);
    memcpy(s[1], b, sizeof(int) * (size_t)rank);
    merge_case(2, rank, (const int (*)[MAXRANK])s, op);
}

// The kernel's contract on its own: y (ys) = scale * x (xs) * other (os), each
// broadcast, for any xs, os with every axis 1 or ys's, including axes of ys
// that neither x nor other spans (not reachable from Multiply; still part of
// the contract). other NULL: y = scale * x.
typedef struct ScaleCtx {
    int rank;
    const int *xs, *ys, *os;
    const float *other;
    float scale;
} ScaleCtx;

static void naive_scaled(double *y, double *const *in, const void *vctx) {
    const ScaleCtx *c = vctx;
    size_t ny = prod(c->ys, c->rank);
    for (size_t f = 0; f < ny; f++) {
        double o = c->other ? c->other[bidx(f, c->os, c->ys, c->rank)] : 1.0;
        y[f] = (double)c->scale * in[0][bidx(f, c->xs, c->ys, c->rank)] * o;
    }
}

static void test_merge_contract(void) {
    const float scales[] = {1.0f, -1.0f, (float)(1.0 / 3), 0.5f};
    for (int t = 0; t < 100; t++) {
        int rank = check_int(1, 5), xs[MAXRANK], ys[MAXRANK], os[MAXRANK];
        for (int i = 0; i < rank; i++) {
            ys[i] = check_int(1, i == 0 ? 4 : 3);
            xs[i] = check_int(0, 1) ? ys[i] : 1;
            os[i] = check_int(0, 1) ? ys[i] : 1;
        }
        size_t nx = prod(xs, rank), ny = prod(ys, rank), no = prod(os, rank);
        float *other = t % 4 == 3 ? NULL : check_random(no, -2, 2);
        ScaleCtx c = {rank, xs, ys, os, other, scales[t % 4]};
        Problem p = {.f = naive_scaled, .ctx = &c, .nin = 1, .in_n = {nx}, .ny = ny};
        float *x = check_random(nx, -1, 1), *dy = check_random(ny, -1, 1);
        float *base = check_random(nx, -1, 1), *dx = copy_of(base, nx);
        kdl_merge_backward(dx, xs, dy, ys, other, other ? os : NULL, rank, c.scale);
        char sx[64], sy[64], so[64], what[256];
        fmt_shape(sx, sizeof sx, xs, rank);
        fmt_shape(sy, sizeof sy, ys, rank);
        fmt_shape(so, sizeof so, os, rank);
        snprintf(what, sizeof what, "merge_backward x %s y %s other %s scale %g", sx, sy,
                 other ? so : "NULL", (double)c.scale);
        const float *in[1] = {x};
        check_grad(what, dx, base, &p, in, dy, 0);
        free(other), free(x), free(dy), free(base), free(dx);
    }
}

static void test_merge(void) {
    const int cases[][2][4] = {
        {{1, 3, 5, 3}, {1, 3, 5, 3}},   // residual add, batch 1 (no broadcast)
        {{3, 3, 5, 3}, {3, 3, 5, 3}},   // batch 3
        {{3, 4, 3, 5}, {1, 1, 1, 5}},   // per-channel
        {{3, 4, 3, 5}, {3, 1, 1, 5}},   // squeeze-and-excitation
        {{3, 1, 1, 5}, {3, 4, 3, 5}},   // the same, swapped
        {{3, 4, 3, 1}, {3, 4, 3, 5}},   // a mask over channels
        {{3, 4, 1, 5}, {1, 1, 3, 1}},   // both broadcast, in different axes
        {{1, 1, 1, 1}, {3, 3, 2, 5}},   // scalar against everything
        {{1, 1, 1, 1}, {1, 1, 1, 1}},   // scalar against scalar
        {{4, 1, 5, 1}, {1, 3, 1, 4}},   // alternating
        {{1, 7, 1, 1}, {3, 7, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int op = 0; op < 4; op++)
            merge2(cases[c][0], cases[c][1], 4, (kdl_Merge)op);
    // Three inputs: Average (scale 1/3), Add, Multiply (other = product of two).
    const int three[][3][4] = {
        {{3, 2, 3, 4}, {3, 2, 3, 4}, {3, 2, 3, 4}},
        {{3, 2, 3, 4}, {1, 1, 1, 4}, {3, 2, 1, 1}},
        {{1, 2, 1, 3}, {3, 1, 4, 1}, {3, 2, 4, 3}},
    };
    for (size_t c = 0; c < sizeof three / sizeof three[0]; c++) {
        int s[MAXIN][MAXRANK];
        for (int t = 0; t < 3; t++)
            memcpy(s[t], three[c][t], sizeof(int) * 4);
        merge_case(3, 4, (const int (*)[MAXRANK])s, KDL_MERGE_AVG);
        merge_case(3, 4, (const int (*)[MAXRANK])s, KDL_MERGE_ADD);
        merge_case(3, 4, (const int (*)[MAXRANK])s, KDL_MERGE_MUL);
    }
    // (N, 1) against (1, M); rank 1; odd lengths.
    const int o1[2] = {3, 1}, o2[2] = {1, 17}, v1[1] = {13}, v2[1] = {1};
    merge2(o1, o2, 2, KDL_MERGE_MUL);
    merge2(o2, o1, 2, KDL_MERGE_SUB);
    merge2(v1, v1, 1, KDL_MERGE_MUL);
    merge2(v1, v2, 1, KDL_MERGE_SUB);
    merge2(v2, v1, 1, KDL_MERGE_AVG);
    // Rank 16 (the forward's limit), few axes beyond 1.
    int r16a[MAXRANK], r16b[MAXRANK];
    for (int i = 0; i < MAXRANK; i++)
        r16a[i] = r16b[i] = 1;
    r16a[0] = r16b[0] = 3;
    r16a[5] = 2;
    r16b[9] = 3;
    r16a[15] = r16b[15] = 2;
    merge2(r16a, r16b, 16, KDL_MERGE_MUL);
    merge2(r16a, r16b, 16, KDL_MERGE_SUB);
    // Random shapes of rank 1-6: each axis d for all, or 1 for some inputs.
    for (int t = 0; t < 120; t++) {
        int rank = check_int(1, 6), k = check_int(2, 3), s[MAXIN][MAXRANK];
        for (int i = 0; i < rank; i++) {
            int d = check_int(1, i == 0 ? 4 : 3);
            for (int u = 0; u < k; u++)
                s[u][i] = check_int(0, 2) ? d : 1;
        }
        int op = check_int(0, 3);
        if (k == 3 && op == KDL_MERGE_SUB)
            op = KDL_MERGE_ADD;     // Subtract takes exactly two inputs
        merge_case(k, rank, (const int (*)[MAXRANK])s, (kdl_Merge)op);
    }
    // An empty output adds nothing.
    const int e1[2] = {1, 3}, e0[2] = {0, 3};
    float dx[3] = {1, 2, 3}, dy[1] = {5};
    const float want[3] = {1, 2, 3};
    kdl_merge_backward(dx, e1, dy, e0, NULL, NULL, 2, 1.0f);
    check_close("merge_backward with an empty output adds nothing", dx, want, 3, 0, 0);
}

// ---- concat -----------------------------------------------------------------------------

typedef struct ConcatCtx {
    int k;
    const int *len;
    size_t outer, inner;
} ConcatCtx;

static void naive_concat(double *y, double *const *in, const void *vctx) {
    const ConcatCtx *c = vctx;
    size_t total = 0;
    for (int i = 0; i < c->k; i++)
        total += (size_t)c->len[i];
    for (size_t o = 0; o < c->outer; o++) {
        size_t off = 0;
        for (int i = 0; i < c->k; i++)
            for (int l = 0; l < c->len[i]; l++, off++)
                for (size_t j = 0; j < c->inner; j++)
                    y[(o * total + off) * c->inner + j] =
                        in[i][(o * (size_t)c->len[i] + (size_t)l) * c->inner + j];
    }
}

static void test_concat(void) {
    for (int t = 0; t < 30; t++) {
        int k = check_int(1, 5), len[MAXIN];
        size_t outer = t % 3 == 0 ? 1 : t % 3 == 1 ? 3 : (size_t)check_int(1, 6);
        size_t inner = t % 2 ? 1 : (size_t)check_int(1, 5), total = 0;
        ConcatCtx c = {k, len, outer, inner};
        Problem p = {.f = naive_concat, .ctx = &c, .nin = k};
        float *in[MAXIN], *base[MAXIN], *dx[MAXIN];
        for (int i = 0; i < k; i++) {
            len[i] = check_int(0, 4);   // 0: an empty input
            total += (size_t)len[i];
            p.in_n[i] = outer * (size_t)len[i] * inner;
            in[i] = check_random(p.in_n[i], -1, 1);
            base[i] = check_random(p.in_n[i], -1, 1);
            // Every third input needs no gradient.
            dx[i] = (i + t) % 3 == 2 ? NULL : copy_of(base[i], p.in_n[i]);
        }
        p.ny = outer * total * inner;
        float *dy = check_random(p.ny, -1, 1);
        kdl_concat_backward(dx, dy, len, k, outer, inner);
        for (int i = 0; i < k; i++) {
            if (!dx[i])
                continue;
            char what[96];
            snprintf(what, sizeof what, "concat_backward k=%d outer=%zu inner=%zu: d input %d", k,
                     outer, inner, i);
            check_grad(what, dx[i], base[i], &p, (const float *const *)in, dy, i);
        }
        for (int i = 0; i < k; i++)
            free(in[i]), free(base[i]), free(dx[i]);
        free(dy);
    }
    float *none[2] = {NULL, NULL};
    const int len[2] = {2, 1};
    float dy[6] = {0};
    kdl_concat_backward(none, dy, len, 2, 2, 1);
    kdl_concat_backward(NULL, dy, len, 2, 2, 1);
    check_true("concat_backward with NULL gradients", 1);
}

// ---- embedding, repeat ----------------------------------------------------------------

typedef struct EmbCtx {
    const int32_t *ids;
    size_t count;
    int dim;
} EmbCtx;

static void naive_embedding(double *y, double *const *in, const void *vctx) {
    const EmbCtx *c = vctx;
    size_t d = (size_t)c->dim;
    for (size_t i = 0; i < c->count; i++)
        for (size_t j = 0; j < d; j++)
            y[i * d + j] = in[0][(size_t)c->ids[i] * d + j];
}

static void test_embedding(void) {
    const int dims[][3] = {{1, 1, 1}, {10, 8, 7}, {5, 3, 21}, {7, 9, 3}};   // vocab, dim, count
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int vocab = dims[d][0], dim = dims[d][1];
        size_t count = (size_t)dims[d][2];
        int32_t *ids = malloc(sizeof(int32_t) * count);
        for (size_t i = 0; i < count; i++)
            ids[i] = check_int(0, vocab - 1);
        ids[0] = vocab - 1;
        if (count > 2)
            ids[count - 1] = ids[count - 2] = 0;   // a repeated id sums
        EmbCtx c = {ids, count, dim};
        size_t nt = (size_t)vocab * (size_t)dim;
        Problem p = {.f = naive_embedding, .ctx = &c, .nin = 1, .in_n = {nt},
                     .ny = count * (size_t)dim};
        float *table = check_random(nt, -1, 1), *dy = check_random(p.ny, -1, 1);
        float *base = check_random(nt, -1, 1), *dt = copy_of(base, nt);
        kdl_embedding_backward(dt, dy, ids, count, dim);
        char what[96];
        snprintf(what, sizeof what, "embedding_backward (%d, %d) x %zu", vocab, dim, count);
        const float *in[1] = {table};
        check_grad(what, dt, base, &p, in, dy, 0);
        kdl_embedding_backward(NULL, dy, ids, count, dim);
        free(ids), free(table), free(dy), free(base), free(dt);
    }
}

typedef struct RepeatCtx {
    int n, times, d;
} RepeatCtx;

static void naive_repeat(double *y, double *const *in, const void *vctx) {
    const RepeatCtx *c = vctx;
    for (int i = 0; i < c->n; i++)
        for (int t = 0; t < c->times; t++)
            for (int j = 0; j < c->d; j++)
                y[((size_t)i * c->times + t) * c->d + j] = in[0][(size_t)i * c->d + j];
}

static void test_repeat(void) {
    const int shapes[][3] = {{1, 3, 10}, {3, 2, 1}, {4, 5, 7}, {3, 1, 4}};   // n, times, d
    for (size_t s = 0; s < 4; s++) {
        RepeatCtx c = {shapes[s][0], shapes[s][1], shapes[s][2]};
        size_t nx = (size_t)c.n * c.d;
        Problem p = {.f = naive_repeat, .ctx = &c, .nin = 1, .in_n = {nx},
                     .ny = nx * (size_t)c.times};
        float *x = check_random(nx, -1, 1), *dy = check_random(p.ny, -1, 1);
        float *base = check_random(nx, -1, 1), *dx = copy_of(base, nx);
        kdl_repeat_backward(dx, dy, c.n, c.times, c.d);
        char what[64];
        snprintf(what, sizeof what, "repeat_backward (%d, %d) x %d", c.n, c.d, c.times);
        const float *in[1] = {x};
        check_grad(what, dx, base, &p, in, dy, 0);
        kdl_repeat_backward(NULL, dy, c.n, c.times, c.d);
        free(x), free(dy), free(base), free(dx);
    }
}

// ---- images: zero padding, upsampling, crop ------------------------------------------

typedef struct ImgCtx {
    int n, h, w, c;
    int a, b, l, r;     // pad top/bottom/left/right; upsample (a, b); crop (ch, cw, top, left)
} ImgCtx;

static size_t nhwc(int b, int i, int j, int k, int h, int w, int c) {
    return (((size_t)b * (size_t)h + (size_t)i) * (size_t)w + (size_t)j) * (size_t)c + (size_t)k;
}

static void naive_pad(double *y, double *const *in, const void *vctx) {
    const ImgCtx *c = vctx;
    int oh = c->h + c->a + c->b, ow = c->w + c->l + c->r;
    for (int b = 0; b < c->n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int k = 0; k < c->c; k++) {
                    int si = i - c->a, sj = j - c->l;
                    int inside = si >= 0 && si < c->h && sj >= 0 && sj < c->w;
                    y[nhwc(b, i, j, k, oh, ow, c->c)] =
                        inside ? in[0][nhwc(b, si, sj, k, c->h, c->w, c->c)] : 0.0;
                }
}

static void naive_upsample(double *y, double *const *in, const void *vctx) {
    const ImgCtx *c = vctx;
    int oh = c->h * c->a, ow = c->w * c->b;
    for (int b = 0; b < c->n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int k = 0; k < c->c; k++)
                    y[nhwc(b, i, j, k, oh, ow, c->c)] =
                        in[0][nhwc(b, i / c->a, j / c->b, k, c->h, c->w, c->c)];
}

// Bilinear upsampling as TF's resize_bilinear with half_pixel_centers writes
// it: in = (o + 0.5) / s - 0.5, lower = max(floor(in), 0), upper =
// min(ceil(in), size - 1), lerp = in - floor(in).
static void bilinear_src(int o, int s, int size, int *lo, int *hi, double *t) {
    double in = (o + 0.5) / s - 0.5, f = floor(in);
    *lo = f > 0 ? (int)f : 0;
    *hi = ceil(in) < size - 1 ? (int)ceil(in) : size - 1;
    *t = in - f;
}

static void naive_bilinear(double *y, double *const *in, const void *vctx) {
    const ImgCtx *c = vctx;
    int oh = c->h * c->a, ow = c->w * c->b;
    for (int b = 0; b < c->n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                int y0, y1, x0, x1;
                double ty, tx;
                bilinear_src(i, c->a, c->h, &y0, &y1, &ty);
                bilinear_src(j, c->b, c->w, &x0, &x1, &tx);
                for (int k = 0; k < c->c; k++) {
                    const double *x = in[0];
                    double top = x[nhwc(b, y0, x0, k, c->h, c->w, c->c)] * (1 - tx) +
                                 x[nhwc(b, y0, x1, k, c->h, c->w, c->c)] * tx;
                    double bot = x[nhwc(b, y1, x0, k, c->h, c->w, c->c)] * (1 - tx) +
                                 x[nhwc(b, y1, x1, k, c->h, c->w, c->c)] * tx;
                    y[nhwc(b, i, j, k, oh, ow, c->c)] = top * (1 - ty) + bot * ty;
                }
            }
}

static void naive_crop(double *y, double *const *in, const void *vctx) {
    const ImgCtx *c = vctx;
    for (int b = 0; b < c->n; b++)
        for (int i = 0; i < c->a; i++)
            for (int j = 0; j < c->b; j++)
                for (int k = 0; k < c->c; k++)
                    y[nhwc(b, i, j, k, c->a, c->b, c->c)] =
                        in[0][nhwc(b, c->l + i, c->r + j, k, c->h, c->w, c->c)];
}

// One image kernel's backward against FD of its naive forward.
static void image_grad(const char *what, const ImgCtx *c, naive_fn f, size_t ny,
                       void (*run)(float *dx, const float *dy, const ImgCtx *c)) {
    size_t nx = (size_t)c->n * c->h * c->w * c->c;
    Problem p = {.f = f, .ctx = c, .nin = 1, .in_n = {nx}, .ny = ny};
    float *x = check_random(nx, -1, 1), *dy = check_random(ny, -1, 1);
    float *base = check_random(nx, -1, 1), *dx = copy_of(base, nx);
    run(dx, dy, c);
    const float *in[1] = {x};
    check_grad(what, dx, base, &p, in, dy, 0);
    run(NULL, dy, c);
    free(x), free(dy), free(base), free(dx);
}

static void run_pad(float *dx, const float *dy, const ImgCtx *c) {
    kdl_zero_pad2d_backward(dx, dy, c->n, c->h, c->w, c->c, c->a, c->b, c->l, c->r);
}

static void run_upsample(float *dx, const float *dy, const ImgCtx *c) {
    kdl_upsample2d_backward(dx, dy, c->n, c->h, c->w, c->c, c->a, c->b);
}

static void run_bilinear(float *dx, const float *dy, const ImgCtx *c) {
    kdl_upsample2d_bilinear_backward(dx, dy, c->n, c->h, c->w, c->c, c->a, c->b);
}

static void run_crop(float *dx, const float *dy, const ImgCtx *c) {
    kdl_crop2d_backward(dx, dy, c->n, c->h, c->w, c->c, c->a, c->b, c->l, c->r);
}

static int batch_of(int t) {
    return t % 3 == 0 ? 1 : t % 3 == 1 ? 3 : 4;
}

static void test_images(void) {
    char what[128];
    for (int t = 0; t < 15; t++) {
        ImgCtx c = {batch_of(t), check_int(1, 5), check_int(1, 5), check_int(1, 3),
                    check_int(0, 2), check_int(0, 2), check_int(0, 2), check_int(0, 2)};
        size_t ny = (size_t)c.n * (c.h + c.a + c.b) * (c.w + c.l + c.r) * c.c;
        snprintf(what, sizeof what, "zero_pad2d_backward (%d,%d,%d,%d) pad ((%d,%d),(%d,%d))",
                 c.n, c.h, c.w, c.c, c.a, c.b, c.l, c.r);
        image_grad(what, &c, naive_pad, ny, run_pad);
    }
    for (int t = 0; t < 15; t++) {
        ImgCtx c = {batch_of(t), check_int(1, 4), check_int(1, 4), check_int(1, 3),
                    check_int(1, 3), check_int(1, 3), 0, 0};
        size_t ny = (size_t)c.n * c.h * c.a * c.w * c.b * c.c;
        snprintf(what, sizeof what, "upsample2d_backward (%d,%d,%d,%d) size (%d,%d)", c.n, c.h,
                 c.w, c.c, c.a, c.b);
        image_grad(what, &c, naive_upsample, ny, run_upsample);
    }
    for (int t = 0; t < 15; t++) {
        ImgCtx c = {batch_of(t), check_int(1, 5), check_int(1, 5), check_int(1, 3),
                    check_int(1, 4), check_int(1, 4), 0, 0};
        size_t nx = (size_t)c.n * c.h * c.w * c.c, ny = nx * (size_t)(c.a * c.b);
        // The forward against the naive one (TF's formulation), then backward by FD.
        float *x = check_random(nx, -1, 1), *got = check_alloc(ny);
        double *xd = malloc(sizeof(double) * nx), *yd = malloc(sizeof(double) * ny);
        float *ref = check_alloc(ny);
        for (size_t i = 0; i < nx; i++)
            xd[i] = x[i];
        naive_bilinear(yd, &xd, &c);
        for (size_t i = 0; i < ny; i++)
            ref[i] = (float)yd[i];
        kdl_upsample2d_bilinear_forward(got, x, c.n, c.h, c.w, c.c, c.a, c.b);
        snprintf(what, sizeof what, "upsample2d_bilinear_forward (%d,%d,%d,%d) size (%d,%d)", c.n,
                 c.h, c.w, c.c, c.a, c.b);
        check_close(what, got, ref, ny, 1e-6, 1e-6);
        free(x), free(got), free(ref), free(xd), free(yd);
        snprintf(what, sizeof what, "upsample2d_bilinear_backward (%d,%d,%d,%d) size (%d,%d)",
                 c.n, c.h, c.w, c.c, c.a, c.b);
        image_grad(what, &c, naive_bilinear, ny, run_bilinear);
    }
    for (int t = 0; t < 30; t++) {
        int n = batch_of(t), h = check_int(1, 7), w = check_int(1, 7), ch = check_int(1, h);
        int cw = check_int(1, w);
        ImgCtx c = {n, h, w, check_int(1, 3), ch, cw, check_int(0, h - ch), check_int(0, w - cw)};
        // The forward against naive indexing, exactly.
        size_t nx = (size_t)n * h * w * c.c, ny = (size_t)n * ch * cw * c.c;
        float *x = check_random(nx, -1, 1), *got = check_alloc(ny), *ref = check_alloc(ny);
        for (size_t i = 0; i < ny; i++)
            got[i] = 1234567.0f;
        for (int b = 0; b < n; b++)
            for (int i = 0; i < ch; i++)
                for (int j = 0; j < cw; j++)
                    for (int k = 0; k < c.c; k++)
                        ref[nhwc(b, i, j, k, ch, cw, c.c)] =
                            x[nhwc(b, c.l + i, c.r + j, k, h, w, c.c)];
        kdl_crop2d_forward(got, x, n, h, w, c.c, ch, cw, c.l, c.r);
        snprintf(what, sizeof what, "crop2d_forward (%d,%d,%d,%d) -> (%d,%d) at (%d,%d)", n, h,
                 w, c.c, ch, cw, c.l, c.r);
        check_close(what, got, ref, ny, 0, 0);
        snprintf(what, sizeof what, "crop2d_backward (%d,%d,%d,%d) -> (%d,%d) at (%d,%d)", n, h,
                 w, c.c, ch, cw, c.l, c.r);
        image_grad(what, &c, naive_crop, ny, run_crop);
        free(x), free(got), free(ref);
    }
    // 5x5 -> 2x2 at (1, 2).
    float img[25], out[4];
    for (int i = 0; i < 25; i++)
        img[i] = (float)i;
    const float want[4] = {7, 8, 12, 13};
    kdl_crop2d_forward(out, img, 1, 5, 5, 1, 2, 2, 1, 2);
    check_close("crop2d_forward 5x5 -> 2x2 at (1, 2)", out, want, 4, 0, 0);
}

// ---- dropout ------------------------------------------------------------------------------

typedef struct MulCtx {
    const float *m;
    size_t n;
} MulCtx;

static void naive_mul(double *y, double *const *in, const void *vctx) {
    const MulCtx *c = vctx;
    for (size_t i = 0; i < c->n; i++)
        y[i] = in[0][i] * c->m[i];
}

static void test_dropout(void) {
    const float rates[] = {0.1f, 0.5f, 0.75f, 0.9f};
    const size_t n = 100001;    // odd: the last draw's high half is unused
    float *x = check_random(n, -2, 2), *out = check_alloc(n), *mask = check_alloc(n);
    float *mask2 = check_alloc(n), *ref = check_alloc(n);
    char what[128];
    for (size_t ri = 0; ri < 4; ri++) {
        float rate = rates[ri], keep = (float)(1.0 / (1.0 - (double)rate));
        kdl_Rng r, r2;
        kdl_rng_seed(&r, 42 + ri);
        r2 = r;
        kdl_dropout_forward(out, mask, x, n, rate, &r);
        size_t zeros = 0;
        int values_ok = 1, out_ok = 1;
        for (size_t i = 0; i < n; i++) {
            zeros += mask[i] == 0.0f;
            values_ok &= mask[i] == 0.0f || mask[i] == keep;
            out_ok &= out[i] == x[i] * mask[i];
        }
        double frac = (double)zeros / (double)n;
        snprintf(what, sizeof what, "dropout rate %g: mask is 0 or 1/(1-rate)", (double)rate);
        check_true(what, values_ok);
        snprintf(what, sizeof what, "dropout rate %g: out = in * mask", (double)rate);
        check_true(what, out_ok);
        snprintf(what, sizeof what, "dropout rate %g: zero fraction %.4f", (double)rate, frac);
        check_true(what, fabs(frac - rate) < 0.01);
        // The documented draw order: low then high 32 bits of each kdl_rng_next.
        uint64_t thr = (uint64_t)((double)rate * 4294967296.0);
        int doc_ok = 1;
        for (size_t i = 0; i < n; i += 2) {
            uint64_t u = kdl_rng_next(&r2);
            doc_ok &= mask[i] == ((u & 0xFFFFFFFFu) < thr ? 0.0f : keep);
            if (i + 1 < n)
                doc_ok &= mask[i + 1] == ((u >> 32) < thr ? 0.0f : keep);
        }
        doc_ok &= kdl_rng_next(&r2) == kdl_rng_next(&r);    // advanced by ceil(n / 2)
        snprintf(what, sizeof what, "dropout rate %g: mask drawn as documented", (double)rate);
        check_true(what, doc_ok);
        // kdl_dropout_mask: the same draws without the product.
        kdl_rng_seed(&r, 42 + ri);
        kdl_dropout_mask(mask2, n, rate, &r);
        snprintf(what, sizeof what, "dropout rate %g: kdl_dropout_mask draws the same mask",
                 (double)rate);
        check_true(what, memcmp(mask, mask2, sizeof(float) * n) == 0);
        // Same seed: same mask; the next call: a different one.
        kdl_rng_seed(&r, 42 + ri);
        kdl_dropout_forward(out, mask2, x, n, rate, &r);
        snprintf(what, sizeof what, "dropout rate %g: same seed, same mask", (double)rate);
        check_true(what, memcmp(mask, mask2, sizeof(float) * n) == 0);
        kdl_dropout_forward(out, mask2, x, n, rate, &r);
        snprintf(what, sizeof what, "dropout rate %g: the next call differs", (double)rate);
        check_true(what, memcmp(mask, mask2, sizeof(float) * n) != 0);
        // In place.
        float *y = copy_of(x, n);
        kdl_rng_seed(&r, 42 + ri);
        kdl_dropout_forward(y, mask2, y, n, rate, &r);
        for (size_t i = 0; i < n; i++)
            ref[i] = x[i] * mask[i];
        snprintf(what, sizeof what, "dropout rate %g: in place", (double)rate);
        check_close(what, y, ref, n, 0, 0);
        free(y);
    }
    // Rate 0: all ones and out = in, without drawing; rate 1: all zeros.
    kdl_Rng r, r2;
    kdl_rng_seed(&r, 7);
    r2 = r;
    kdl_dropout_forward(out, mask, x, n, 0.0f, &r);
    int ones = 1;
    for (size_t i = 0; i < n; i++)
        ones &= mask[i] == 1.0f && out[i] == x[i];
    check_true("dropout rate 0: all-ones mask, out = in", ones);
    check_true("dropout rate 0 draws nothing", kdl_rng_next(&r) == kdl_rng_next(&r2));
    kdl_dropout_forward(out, mask, x, 17, 1.0f, &r);
    int zeros = 1;
    for (size_t i = 0; i < 17; i++)
        zeros &= mask[i] == 0.0f && out[i] == 0.0f;
    check_true("dropout rate 1: all-zeros mask", zeros);
    // Small sizes, n = 0 and 1.
    for (size_t m = 0; m < 4; m++) {
        kdl_rng_seed(&r, 9);
        kdl_dropout_forward(out, mask, x, m, 0.5f, &r);
        int ok = 1;
        for (size_t i = 0; i < m; i++)
            ok &= (mask[i] == 0.0f || mask[i] == 2.0f) && out[i] == x[i] * mask[i];
        snprintf(what, sizeof what, "dropout n=%zu", m);
        check_true(what, ok);
    }
    // The backward (kdl_mul_accumulate with the mask) against FD of in * mask.
    const size_t sizes[] = {1, 9, 64};
    for (size_t s = 0; s < 3; s++) {
        size_t k = sizes[s];
        kdl_rng_seed(&r, 100 + s);
        kdl_dropout_forward(out, mask, x, k, 0.3f, &r);
        MulCtx c = {mask, k};
        Problem p = {.f = naive_mul, .ctx = &c, .nin = 1, .in_n = {k}, .ny = k};
        float *dy = check_random(k, -1, 1), *base = check_random(k, -1, 1);
        float *dx = copy_of(base, k);
        kdl_mul_accumulate(dx, dy, mask, k);
        const float *in[1] = {x};
        snprintf(what, sizeof what, "dropout backward (mul_accumulate) n=%zu", k);
        check_grad(what, dx, base, &p, in, dy, 0);
        free(dy), free(base), free(dx);
    }
    free(x), free(out), free(mask), free(mask2), free(ref);
}

int main(void) {
    test_axpy();
    test_merge();
    test_merge_contract();
    test_concat();
    test_embedding();
    test_repeat();
    test_images();
    test_dropout();
    return check_report();
}
