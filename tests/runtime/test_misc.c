/*
 * test_misc.c - the data-movement kernels against naive index arithmetic:
 * kdl_merge_forward with numpy broadcasting (random shapes with 1 against
 * n in any axes, the layouts models use, in place), kdl_scale,
 * kdl_concat_forward (empty inputs included), kdl_embedding_forward (bad
 * ids: error, *bad_index, out untouched, no read outside the table - ASan
 * watches with SAN=1), kdl_repeat_forward, kdl_zero_pad2d_forward,
 * kdl_upsample2d_forward, kdl_center_crop_forward, kdl_status_str.
 * Outputs start as garbage so an element left unwritten fails.
 */
#include "check.h"

#include <string.h>

#define GARBAGE 1234567.0f

static float *garbage(size_t n) {
    float *p = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = GARBAGE;
    return p;
}

// ---- merge ------------------------------------------------------------------------

static const char *const merge_names[] = {"add", "sub", "mul", "avg"};

static float merge_op(float x, float y, kdl_Merge op) {
    switch (op) {
    case KDL_MERGE_ADD: return x + y;
    case KDL_MERGE_SUB: return x - y;
    case KDL_MERGE_MUL: return x * y;
    case KDL_MERGE_AVG: return (x + y) / 2;
    }
    return NAN;
}

// Unravel every output index and read a and b at it, index 0 where broadcast.
static void naive_merge(float *out, const float *a, const int *as, const float *b, const int *bs,
                        int rank, kdl_Merge op) {
    size_t total = 1;
    int os[8];
    for (int i = 0; i < rank; i++) {
        os[i] = as[i] > bs[i] ? as[i] : bs[i];
        total *= (size_t)os[i];
    }
    for (size_t f = 0; f < total; f++) {
        size_t rem = f, ai = 0, bi = 0, am = 1, bm = 1;
        for (int i = rank - 1; i >= 0; i--) {
            size_t idx = rem % (size_t)os[i];
            rem /= (size_t)os[i];
            ai += (as[i] == 1 ? 0 : idx) * am;
            bi += (bs[i] == 1 ? 0 : idx) * bm;
            am *= (size_t)as[i];
            bm *= (size_t)bs[i];
        }
        out[f] = merge_op(a[ai], b[bi], op);
    }
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
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %d" : "%d", s[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, ")");
}

static void merge_case(const int *as, const int *bs, int rank, kdl_Merge op) {
    size_t na = prod(as, rank), nb = prod(bs, rank);
    int os[8];
    for (int i = 0; i < rank; i++)
        os[i] = as[i] > bs[i] ? as[i] : bs[i];
    size_t no = prod(os, rank);
    float *a = check_random(na, -2, 2), *b = check_random(nb, -2, 2);
    float *got = garbage(no), *ref = check_alloc(no);
    naive_merge(ref, a, as, b, bs, rank, op);
    kdl_merge_forward(got, a, as, b, bs, rank, op);
    char sa[64], sb[64], what[160];
    fmt_shape(sa, sizeof sa, as, rank);
    fmt_shape(sb, sizeof sb, bs, rank);
    snprintf(what, sizeof what, "merge %s %s %s", merge_names[op], sa, sb);
    check_close(what, got, ref, no, 0, 0);
    // In place into whichever input already has the output's shape.
    if (na == no) {
        kdl_merge_forward(a, a, as, b, bs, rank, op);
        strcat(what, " in place (a)");
        check_close(what, a, ref, no, 0, 0);
    } else if (nb == no) {
        kdl_merge_forward(b, a, as, b, bs, rank, op);
        strcat(what, " in place (b)");
        check_close(what, b, ref, no, 0, 0);
    }
    free(a), free(b), free(got), free(ref);
}

static void test_merge(void) {
    // The layouts models produce.
    const int cases[][2][4] = {
        {{1, 5, 5, 3}, {1, 5, 5, 3}},   // residual add, batch 1
        {{7, 5, 5, 3}, {7, 5, 5, 3}},   // batch 7
        {{7, 4, 6, 9}, {1, 1, 1, 9}},   // per-channel
        {{7, 4, 6, 9}, {7, 1, 1, 9}},   // squeeze-and-excitation
        {{7, 1, 1, 9}, {7, 4, 6, 9}},   // the same, swapped
        {{7, 4, 6, 1}, {7, 4, 6, 9}},   // a mask over channels
        {{7, 4, 1, 9}, {1, 1, 6, 1}},   // both broadcast, in different axes
        {{1, 1, 1, 1}, {7, 3, 2, 5}},   // scalar against everything
        {{1, 1, 1, 1}, {1, 1, 1, 1}},   // scalar against scalar
        {{7, 1, 5, 1}, {1, 3, 1, 4}},   // alternating
        {{1, 13, 1, 1}, {7, 13, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int op = 0; op < 4; op++)
            merge_case(cases[c][0], cases[c][1], 4, (kdl_Merge)op);
    // (N, 1) + (1, M) outer sum; rank 1; rank 2 vector against matrix.
    const int o1[2] = {7, 1}, o2[2] = {1, 33}, v1[1] = {17}, v2[1] = {1};
    merge_case(o1, o2, 2, KDL_MERGE_ADD);
    merge_case(o2, o1, 2, KDL_MERGE_SUB);
    merge_case(v1, v1, 1, KDL_MERGE_MUL);
    merge_case(v1, v2, 1, KDL_MERGE_SUB);
    merge_case(v2, v1, 1, KDL_MERGE_AVG);
    // Random equal-rank shapes: each axis n for both, or 1 for one side.
    for (int t = 0; t < 300; t++) {
        int rank = check_int(1, 6), as[8], bs[8];
        for (int i = 0; i < rank; i++) {
            int d = check_int(1, i == 0 ? 7 : 5), kind = check_int(0, 3);
            as[i] = kind == 1 ? 1 : d;
            bs[i] = kind == 2 ? 1 : d;
            if (kind == 3)     // occasionally both 1
                as[i] = bs[i] = check_int(0, 1) ? 1 : d;
        }
        merge_case(as, bs, rank, (kdl_Merge)check_int(0, 3));
    }
}

static void test_scale(void) {
    const size_t sizes[] = {1, 7, 31, 1000};
    for (size_t s = 0; s < 4; s++) {
        size_t n = sizes[s];
        float *x = check_random(n, 0, 255), *got = garbage(n), *ref = check_alloc(n);
        float sc = 1.0f / 255, off = -0.5f;
        for (size_t i = 0; i < n; i++)
            ref[i] = (float)((double)x[i] * sc + off);
        kdl_scale(got, x, n, sc, off);
        check_close("scale (Rescaling 1/255, -0.5)", got, ref, n, 1e-7, 1e-6);
        kdl_scale(x, x, n, sc, off);
        check_close("scale in place", x, ref, n, 1e-7, 1e-6);
        free(x), free(got), free(ref);
    }
}

// ---- concat ---------------------------------------------------------------------

static void test_concat(void) {
    for (int t = 0; t < 60; t++) {
        int k = check_int(1, 5), len[5];
        size_t outer = t % 3 == 0 ? 1 : t % 3 == 1 ? 7 : (size_t)check_int(1, 20);
        size_t inner = t % 2 ? 1 : (size_t)check_int(1, 9), total = 0;
        const float *in[5];
        float *buf[5];
        for (int i = 0; i < k; i++) {
            len[i] = check_int(0, 6);   // 0: an empty input
            total += (size_t)len[i];
            buf[i] = check_random(outer * len[i] * inner, -1, 1);
            in[i] = buf[i];
        }
        size_t n = outer * total * inner;
        float *got = garbage(n), *ref = check_alloc(n);
        for (size_t o = 0; o < outer; o++) {
            size_t off = 0;
            for (int i = 0; i < k; i++)
                for (int l = 0; l < len[i]; l++, off++)
                    for (size_t j = 0; j < inner; j++)
                        ref[(o * total + off) * inner + j] =
                            buf[i][(o * len[i] + l) * inner + j];
        }
        kdl_concat_forward(got, in, len, k, outer, inner);
        char what[96];
        snprintf(what, sizeof what, "concat k=%d outer=%zu inner=%zu", k, outer, inner);
        check_close(what, got, ref, n, 0, 0);
        for (int i = 0; i < k; i++)
            free(buf[i]);
        free(got), free(ref);
    }
}

// ---- embedding -------------------------------------------------------------------

static void test_embedding(void) {
    const int dims[][2] = {{1, 1}, {10, 8}, {1000, 3}, {7, 65}};   // {input_dim, dim}
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int vocab = dims[d][0], dim = dims[d][1];
        // The table is exactly input_dim * dim floats: a read past it trips ASan.
        float *table = check_random((size_t)vocab * dim, -0.05f, 0.05f);
        const size_t counts[] = {1, 7, 7 * 11};
        for (size_t c = 0; c < 3; c++) {
            size_t count = counts[c], n = count * (size_t)dim;
            int32_t *ids = malloc(sizeof(int32_t) * count);
            for (size_t i = 0; i < count; i++)
                ids[i] = check_int(0, vocab - 1);
            ids[0] = vocab - 1;     // both ends of the range
            ids[count - 1] = 0;
            float *got = garbage(n), *ref = check_alloc(n);
            for (size_t i = 0; i < count; i++)
                for (int j = 0; j < dim; j++)
                    ref[i * dim + j] = table[(size_t)ids[i] * dim + j];
            int64_t bad = -42;
            kdl_Status st = kdl_embedding_forward(got, ids, count, table, vocab, dim, &bad);
            char what[128];
            snprintf(what, sizeof what, "embedding (%d, %d) x %zu", vocab, dim, count);
            check_true(what, st == KDL_OK && bad == -42);
            check_close(what, got, ref, n, 0, 0);

            // Bad ids anywhere: the error, the id, and out as it was.
            const int32_t bads[] = {vocab, -1, INT32_MAX, INT32_MIN, vocab + 5};
            for (size_t b = 0; b < sizeof bads / sizeof bads[0]; b++) {
                size_t pos = b % 2 ? count - 1 : count / 2;
                int32_t saved = ids[pos];
                ids[pos] = bads[b];
                float *out = garbage(n);
                bad = 0;
                st = kdl_embedding_forward(out, ids, count, table, vocab, dim, &bad);
                int untouched = 1;
                for (size_t i = 0; i < n; i++)
                    untouched &= out[i] == GARBAGE;
                snprintf(what, sizeof what, "embedding (%d, %d) id %ld at %zu/%zu: "
                         "KDL_ERR_INDEX, bad_index, out untouched", vocab, dim, (long)bads[b],
                         pos, count);
                check_true(what, st == KDL_ERR_INDEX && bad == bads[b] && untouched);
                // bad_index may be NULL.
                st = kdl_embedding_forward(out, ids, count, table, vocab, dim, NULL);
                check_true("embedding bad id, bad_index NULL", st == KDL_ERR_INDEX);
                ids[pos] = saved;
                free(out);
            }
            free(ids), free(got), free(ref);
        }
        // No ids: nothing to do.
        int64_t bad = 7;
        check_true("embedding count 0",
                   kdl_embedding_forward(NULL, NULL, 0, table, vocab, dim, &bad) == KDL_OK &&
                       bad == 7);
        free(table);
    }
    // With two bad ids the first is reported.
    float table[6] = {1, 2, 3, 4, 5, 6}, out[6];
    const int32_t ids[3] = {1, 9, -3};
    int64_t bad = 0;
    kdl_Status st = kdl_embedding_forward(out, ids, 3, table, 3, 2, &bad);
    check_true("embedding reports the first bad id", st == KDL_ERR_INDEX && bad == 9);
}

// ---- repeat, padding, upsampling, crop --------------------------------------------

static void test_repeat(void) {
    const int shapes[][3] = {{1, 3, 10}, {7, 2, 1}, {7, 5, 33}, {2, 1, 4}};   // {n, times, d}
    for (size_t s = 0; s < 4; s++) {
        int n = shapes[s][0], times = shapes[s][1], d = shapes[s][2];
        size_t no = (size_t)n * times * d;
        float *x = check_random((size_t)n * d, -1, 1), *got = garbage(no), *ref = check_alloc(no);
        for (int i = 0; i < n; i++)
            for (int t = 0; t < times; t++)
                for (int j = 0; j < d; j++)
                    ref[((size_t)i * times + t) * d + j] = x[(size_t)i * d + j];
        kdl_repeat_forward(got, x, n, times, d);
        char what[64];
        snprintf(what, sizeof what, "repeat (%d, %d) x %d", n, d, times);
        check_close(what, got, ref, no, 0, 0);
        free(x), free(got), free(ref);
    }
}

static void test_zero_pad(void) {
    for (int t = 0; t < 40; t++) {
        int n = t % 2 ? 7 : 1, h = check_int(1, 6), w = check_int(1, 6), c = check_int(1, 5);
        int top = check_int(0, 3), bottom = check_int(0, 3), left = check_int(0, 3),
            right = check_int(0, 3);
        int oh = h + top + bottom, ow = w + left + right;
        size_t no = (size_t)n * oh * ow * c;
        float *x = check_random((size_t)n * h * w * c, -1, 1);
        float *got = garbage(no), *ref = check_alloc(no);
        for (int b = 0; b < n; b++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                    for (int ch = 0; ch < c; ch++) {
                        int si = i - top, sj = j - left;
                        int inside = si >= 0 && si < h && sj >= 0 && sj < w;
                        ref[(((size_t)b * oh + i) * ow + j) * c + ch] =
                            inside ? x[(((size_t)b * h + si) * w + sj) * c + ch] : 0.0f;
                    }
        kdl_zero_pad2d_forward(got, x, n, h, w, c, top, bottom, left, right);
        char what[96];
        snprintf(what, sizeof what, "zero_pad2d (%d, %d, %d, %d) pad ((%d, %d), (%d, %d))", n, h,
                 w, c, top, bottom, left, right);
        check_close(what, got, ref, no, 0, 0);
        free(x), free(got), free(ref);
    }
}

static void test_upsample(void) {
    for (int t = 0; t < 40; t++) {
        int n = t % 2 ? 7 : 1, h = check_int(1, 6), w = check_int(1, 6), c = check_int(1, 5);
        int sh = check_int(1, 3), sw = check_int(1, 3);
        int oh = h * sh, ow = w * sw;
        size_t no = (size_t)n * oh * ow * c;
        float *x = check_random((size_t)n * h * w * c, -1, 1);
        float *got = garbage(no), *ref = check_alloc(no);
        for (int b = 0; b < n; b++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                    for (int ch = 0; ch < c; ch++)
                        ref[(((size_t)b * oh + i) * ow + j) * c + ch] =
                            x[(((size_t)b * h + i / sh) * w + j / sw) * c + ch];
        kdl_upsample2d_forward(got, x, n, h, w, c, sh, sw);
        char what[96];
        snprintf(what, sizeof what, "upsample2d (%d, %d, %d, %d) size (%d, %d)", n, h, w, c, sh,
                 sw);
        check_close(what, got, ref, no, 0, 0);
        free(x), free(got), free(ref);
    }
}

static void test_center_crop(void) {
    for (int t = 0; t < 40; t++) {
        int n = t % 2 ? 7 : 1, h = check_int(1, 9), w = check_int(1, 9), c = check_int(1, 4);
        int ch = check_int(1, h), cw = check_int(1, w);
        int top = (h - ch) / 2, left = (w - cw) / 2;
        size_t no = (size_t)n * ch * cw * c;
        float *x = check_random((size_t)n * h * w * c, -1, 1);
        float *got = garbage(no), *ref = check_alloc(no);
        for (int b = 0; b < n; b++)
            for (int i = 0; i < ch; i++)
                for (int j = 0; j < cw; j++)
                    for (int k = 0; k < c; k++)
                        ref[(((size_t)b * ch + i) * cw + j) * c + k] =
                            x[(((size_t)b * h + top + i) * w + left + j) * c + k];
        kdl_center_crop_forward(got, x, n, h, w, c, ch, cw);
        char what[96];
        snprintf(what, sizeof what, "center_crop (%d, %d, %d, %d) -> (%d, %d)", n, h, w, c, ch,
                 cw);
        check_close(what, got, ref, no, 0, 0);
        free(x), free(got), free(ref);
    }
    // 32x32 -> 24x24 starts at (4, 4); 5x5 -> 2x2 at (1, 1).
    float img[25], out[4];
    for (int i = 0; i < 25; i++)
        img[i] = (float)i;
    const float want[4] = {6, 7, 11, 12};
    kdl_center_crop_forward(out, img, 1, 5, 5, 1, 2, 2);
    check_close("center_crop 5x5 -> 2x2", out, want, 4, 0, 0);
}

static void test_status(void) {
    const kdl_Status all[] = {KDL_OK, KDL_ERR_INDEX, KDL_ERR_SHAPE, KDL_ERR_IO, KDL_ERR_FORMAT,
                              KDL_ERR_NOMEM};
    int ok = 1;
    for (size_t i = 0; i < 6; i++) {
        const char *s = kdl_status_str(all[i]);
        ok &= s != NULL && s[0] != '\0';
        for (size_t j = 0; j < i; j++)
            ok &= strcmp(s, kdl_status_str(all[j])) != 0;
    }
    check_true("status strings non-empty and distinct", ok);
    const char *u = kdl_status_str((kdl_Status)99);
    check_true("status string for an unknown code", u != NULL && u[0] != '\0');
}

// Keras masks: ids != 0, and the OR of two masks.
static void test_masks(void) {
    const int32_t ids[] = {3, 0, 7, 0, -2, 1};
    const float want[] = {1, 0, 1, 0, 1, 1}, other[] = {0, 0, 1, 1, 0, 1};
    const float want_or[] = {1, 0, 1, 1, 1, 1};
    float m[6], o[6];
    kdl_mask_nonzero(m, ids, 6);
    check_close("mask_nonzero", m, want, 6, 0, 0);
    kdl_mask_or(o, m, other, 6);
    check_close("mask_or", o, want_or, 6, 0, 0);
}

int main(void) {
    test_masks();
    test_merge();
    test_scale();
    test_concat();
    test_embedding();
    test_repeat();
    test_zero_pad();
    test_upsample();
    test_center_crop();
    test_status();
    return check_report();
}
