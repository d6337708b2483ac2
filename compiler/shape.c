/*
 * shape.c - shapes in Keras's notation and the spatial size arithmetic
 * (keras/src/ops/operation_utils.py) shared by convolution and pooling.
 * A dimension is a non-negative int64 or DIM_NONE (-1) for None.
 */
#include "kdlc.h"

#include <string.h>

Shape shape_make(int rank, const int64_t *d) {
    Shape s;
    memset(&s, 0, sizeof s);
    if (rank > MAX_RANK)
        die("rank %d > MAX_RANK", rank);
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}

bool shape_eq(const Shape *a, const Shape *b) {
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}

static char *shape_fmt(Arena *a, const Shape *s, bool python) {
    Buf b = {0};
    buf_putc(a, &b, '(');
    for (int i = 0; i < s->rank; i++) {
        if (i)
            buf_puts(a, &b, ", ");
        if (s->d[i] == DIM_NONE)
            buf_puts(a, &b, "None");
        else
            buf_printf(a, &b, "%lld", (long long)s->d[i]);
    }
    if (python && s->rank == 1)
        buf_putc(a, &b, ',');
    buf_putc(a, &b, ')');
    return (char *)buf_str(a, &b);
}

char *shape_str(Arena *a, const Shape *s) {
    return shape_fmt(a, s, false);
}

char *shape_pystr(Arena *a, const Shape *s) {
    return shape_fmt(a, s, true);
}

int64_t shape_numel(const Shape *s, int from) {
    int64_t n = 1;
    for (int i = from; i < s->rank; i++) {
        if (s->d[i] == DIM_NONE)
            return -1;
        if (s->d[i] != 0 && n > INT64_MAX / s->d[i])
            return -2;
        n *= s->d[i];
    }
    return n;
}

const char *dtype_name(DType t) {
    switch (t) {
    case DT_FLOAT32: return "float32";
    case DT_INT32: return "int32";
    case DT_INT64: return "int64";
    case DT_BOOL: return "bool";
    }
    unreachable();
}

// Keras: "valid": floor((in - dilation*(k-1) - 1) / stride) + 1,
//        "same"/"causal": floor((in - 1) / stride) + 1.
// Pooling uses the same formula with dilation 1 ("valid": (in - k)/s + 1).
// The result may be <= 0; callers turn that into the Keras error.
int64_t conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same) {
    return in == DIM_NONE ? DIM_NONE : kdl_conv_out_dim(in, k, stride, dilation, same);
}
