/*
 * test_threads.c - the runtime's thread pool (runtime/threads.c).
 *
 * kdl_parallel_for must cover every index of [0, n) exactly once, in
 * contiguous chunks of at least `grain` indices (at most 4 per thread), for
 * odd n and grains and any thread count, also when called from inside a
 * task (which runs inline). And every kernel
 * that uses the pool must give bitwise the same results with 1, 2 and 3
 * threads: conv forward/backward (the direct path and the im2col path),
 * depthwise and transposed convs, pooling, activations and softmax,
 * normalization, the dense bias gradient, the recurrent layers' steps and
 * kdl_sgemm itself (on the pool with AVX-512), on shapes big enough to split.
 * Accumulating kernels start from the same random gradients each time.
 * OpenBLAS's sgemm is not bitwise reproducible across its own thread counts
 * (kdl_set_num_threads sets those too), so an OpenBLAS build pins them to 1
 * here: what is tested is the runtime's split of the work (the direct conv
 * path calls no GEMM at all).
 */
#include "check.h"

#include <stdatomic.h>
#include <string.h>

// runtime/internal.h (not a public header).
void kdl_parallel_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t begin, size_t end),
                      void *ctx);
// OpenBLAS, when linked (weak: absent in a NO_BLAS build).
void openblas_set_num_threads(int n) __attribute__((weak));

// The runtime's pool at t threads, OpenBLAS at 1.
static void set_threads(int t) {
    kdl_set_num_threads(t);
    if (openblas_set_num_threads)
        openblas_set_num_threads(1);
}

// ---- kdl_parallel_for --------------------------------------------------------------------

#define MAX_N 5000

typedef struct Cover {
    atomic_int hits[MAX_N];
    atomic_int calls, bad_chunk, nested_hits;
    size_t grain, n;
} Cover;

static void nested_fn(void *ctx, size_t b, size_t e) {
    Cover *c = ctx;
    atomic_fetch_add(&c->nested_hits, (int)(e - b));
}

static void cover_fn(void *ctx, size_t b, size_t e) {
    Cover *c = ctx;
    atomic_fetch_add(&c->calls, 1);
    if (e <= b || (e - b < c->grain && e - b != c->n))
        atomic_fetch_add(&c->bad_chunk, 1);
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i], 1);
    kdl_parallel_for(3, 1, nested_fn, c);   // runs inline inside a task
}

static void test_cover(void) {
    static Cover c;
    const size_t ns[] = {0, 1, 2, 3, 5, 7, 17, 31, 101, 999, 4999};
    const size_t grains[] = {1, 2, 3, 7, 64, 1000};
    for (int t = 1; t <= 4; t++) {
        kdl_set_num_threads(t);
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
                memset(&c, 0, sizeof c);
                c.n = ns[a], c.grain = grains[g];
                kdl_parallel_for(c.n, c.grain, cover_fn, &c);
                int ok = c.bad_chunk == 0 && c.calls <= 4 * t && (c.n == 0 || c.calls >= 1);
                for (size_t i = 0; i < c.n; i++)
                    ok = ok && c.hits[i] == 1;
                ok = ok && c.nested_hits == 3 * c.calls;
                if (t == 1 || c.n < 2 * c.grain)    // inline: one call for everything
                    ok = ok && c.calls == (c.n > 0);
                else if (c.n >= 4 * c.grain * (size_t)t)    // big enough: 4 chunks per thread
                    ok = ok && c.calls == 4 * t;
                char what[96];
                snprintf(what, sizeof what, "parallel_for threads %d n %zu grain %zu", t, c.n,
                         c.grain);
                check_true(what, ok);
            }
    }
    kdl_set_num_threads(0);
    check_true("kdl_set_num_threads(0): the online CPUs", kdl_get_num_threads() >= 1);
    kdl_set_num_threads(-5);
    check_true("kdl_set_num_threads(-5): the online CPUs", kdl_get_num_threads() >= 1);
    kdl_set_num_threads(3);
    check_true("kdl_get_num_threads", kdl_get_num_threads() == 3);
}

// ---- kernels: 1 thread against 2 and 3 ----------------------------------------------------

// A kernel run writes `n` floats at `out` (after `reset` restores any
// accumulated outputs from `init`).
typedef struct Run {
    const char *name;
    void (*fn)(void);
    float *out;
    const float *init;      // NULL: out is not read by the kernel
    size_t n;
} Run;

static void check_threads(const Run *r) {
    float *want = check_alloc(r->n);
    for (int t = 1; t <= 3; t++) {
        set_threads(t);
        if (r->init)
            memcpy(r->out, r->init, sizeof(float) * r->n);
        else
            memset(r->out, 0xff, sizeof(float) * r->n);    // NaN: must be overwritten
        r->fn();
        if (t == 1) {
            memcpy(want, r->out, sizeof(float) * r->n);
            continue;
        }
        char what[96];
        snprintf(what, sizeof what, "%s: %d threads == 1 thread", r->name, t);
        check_true(what, memcmp(want, r->out, sizeof(float) * r->n) == 0);
    }
    free(want);
}

// The shared data of the runs below; out holds all outputs of one run.
static float *x, *y, *w, *b, *dy, *g0, *scratch, *out;
static kdl_ConvShape cs;
static kdl_Act cact;
static size_t nx, ny, nw;

#define BIG 300000

static void conv_shape(int n, int h, int wd, int c, int f, int k, int stride, int groups) {
    int pad = (k - 1) / 2, oh = (h - 1) / stride + 1, ow = (wd - 1) / stride + 1;
    int th = (oh - 1) * stride + k - h, tw = (ow - 1) * stride + k - wd;
    cs = (kdl_ConvShape){.n = n, .h = h, .w = wd, .c = c, .oh = oh, .ow = ow, .f = f, .kh = k,
                         .kw = k, .sh = stride, .sw = stride, .dh = 1, .dw = 1,
                         .pad_top = th > 0 ? th / 2 : 0, .pad_left = tw > 0 ? tw / 2 : 0,
                         .groups = groups, .depth_multiplier = 1};
    (void)pad;
    nx = (size_t)n * h * wd * c;
    ny = (size_t)n * oh * ow * f;
    nw = (size_t)k * k * (c / groups) * f;
}

static void run_conv_forward(void) {
    kdl_conv2d_forward(out, x, w, b, &cs, cact, 0.2f, scratch);
}

static void run_conv_backward(void) {
    kdl_conv2d_backward(out, out + nx, out + nx + nw, dy, x, w, y, &cs, cact, 0.2f, scratch);
}

static void conv_case(const char *name, int n, int h, int wd, int c, int f, int k, int stride,
                      int groups, kdl_Act act) {
    conv_shape(n, h, wd, c, f, k, stride, groups);
    cact = act;
    size_t sf = kdl_conv2d_scratch(&cs), sb = kdl_conv2d_backward_scratch(&cs);
    scratch = check_random(sf > sb ? sf : sb, -1, 1);
    kdl_conv2d_forward(y, x, w, b, &cs, act, 0.2f, scratch);   // y for the backward
    char what[80];
    snprintf(what, sizeof what, "%s forward", name);
    check_threads(&(Run){what, run_conv_forward, out, NULL, ny});
    snprintf(what, sizeof what, "%s backward", name);
    check_threads(&(Run){what, run_conv_backward, out, g0, nx + nw + (size_t)f});
    free(scratch);
}

static void run_depthwise_forward(void) {
    kdl_depthwise_conv2d_forward(out, x, w, b, &cs, cact, 0.2f);
}

static void run_depthwise_backward(void) {
    kdl_depthwise_conv2d_backward(out, out + nx, out + nx + nw, dy, x, w, y, &cs, cact, 0.2f,
                                  scratch);
}

static void run_transpose_forward(void) {
    kdl_conv2d_transpose_forward(out, x, w, b, &cs, cact, 0.2f);
}

static void run_transpose_backward(void) {
    kdl_conv2d_transpose_backward(out, out + nx, out + nx + nw, dy, x, w, y, &cs, cact, 0.2f,
                                  scratch);
}

static void test_convs(void) {
    // The direct path (stride 1) and the im2col path (stride 2, groups).
    conv_case("conv 3x3 same relu", 3, 17, 19, 8, 40, 3, 1, 1, KDL_ACT_RELU);
    conv_case("conv 5x5 same tanh", 2, 13, 11, 5, 20, 5, 1, 1, KDL_ACT_TANH);
    conv_case("conv 1x1 linear", 4, 16, 16, 24, 33, 1, 1, 1, KDL_ACT_LINEAR);
    conv_case("conv 3x3 stride 2", 5, 23, 21, 6, 18, 3, 2, 1, KDL_ACT_RELU);
    conv_case("conv 3x3 groups 2", 3, 19, 17, 8, 24, 3, 1, 2, KDL_ACT_SIGMOID);

    // Depthwise, depth multiplier 1 and 2.
    for (int dm = 1; dm <= 2; dm++) {
        conv_shape(3, 21, 19, 40, 40 * dm, 3, 1, 1);
        cs.depth_multiplier = dm;
        nw = (size_t)9 * 40 * dm;
        cact = KDL_ACT_RELU;
        scratch = check_alloc(kdl_depthwise_conv2d_backward_scratch(&cs));
        kdl_depthwise_conv2d_forward(y, x, w, b, &cs, cact, 0.2f);
        check_threads(&(Run){dm == 1 ? "depthwise forward" : "depthwise dm 2 forward",
                             run_depthwise_forward, out, NULL, ny});
        check_threads(&(Run){dm == 1 ? "depthwise backward" : "depthwise dm 2 backward",
                             run_depthwise_backward, out, g0, nx + nw + (size_t)40 * dm});
        free(scratch);
    }

    // Transposed conv, stride 2: in (n, h, w, c) -> (n, 2h, 2w, f); small f takes the tiled path.
    for (int f = 4; f <= 24; f += 20) {
        cs = (kdl_ConvShape){.n = 4, .h = 12, .w = 13, .c = 10, .oh = 24, .ow = 26, .f = f,
                             .kh = 3, .kw = 3, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .pad_top = 0,
                             .pad_left = 0, .groups = 1, .depth_multiplier = 1};
        nx = (size_t)4 * 12 * 13 * 10, ny = (size_t)4 * 24 * 26 * f, nw = (size_t)9 * f * 10;
        cact = KDL_ACT_TANH;
        scratch = check_alloc(kdl_conv2d_transpose_backward_scratch(&cs));
        kdl_conv2d_transpose_forward(y, x, w, b, &cs, cact, 0.2f);
        check_threads(&(Run){f < 16 ? "transpose (tiled) forward" : "transpose forward",
                             run_transpose_forward, out, NULL, ny});
        check_threads(&(Run){f < 16 ? "transpose (tiled) backward" : "transpose backward",
                             run_transpose_backward, out, g0, nx + nw + (size_t)f});
        free(scratch);
    }
}

static kdl_Pool pkind;

static void run_pool_forward(void) {
    kdl_pool2d_forward(out, x, &cs, pkind);
}

static void run_pool_backward(void) {
    kdl_pool2d_backward(out, dy, x, NULL, &cs, pkind);
}

static void run_global_forward(void) {
    kdl_global_pool_forward(out, x, 40, 400, 24, pkind);
}

static void run_global_backward(void) {
    kdl_global_pool_backward(out, dy, x, NULL, 40, 400, 24, pkind);
}

static void test_pools(void) {
    for (int k = 2; k <= 3; k++)    // 2/2: rows of windows disjoint; 3/2: overlapping
        for (int m = 0; m < 2; m++) {
            pkind = m ? KDL_POOL_AVG : KDL_POOL_MAX;
            cs = (kdl_ConvShape){.n = 6, .h = 31, .w = 33, .c = 32, .oh = 15, .ow = 16, .f = 32,
                                 .kh = k, .kw = k, .sh = 2, .sw = 2, .dh = 1, .dw = 1,
                                 .groups = 1, .depth_multiplier = 1};
            nx = (size_t)6 * 31 * 33 * 32;
            char what[64];
            snprintf(what, sizeof what, "%s pool %dx%d forward", m ? "avg" : "max", k, k);
            check_threads(&(Run){what, run_pool_forward, out, NULL, (size_t)6 * 15 * 16 * 32});
            snprintf(what, sizeof what, "%s pool %dx%d backward", m ? "avg" : "max", k, k);
            check_threads(&(Run){what, run_pool_backward, out, g0, nx});
            snprintf(what, sizeof what, "global %s pool forward", m ? "avg" : "max");
            check_threads(&(Run){what, run_global_forward, out, NULL, 40 * 24});
            snprintf(what, sizeof what, "global %s pool backward", m ? "avg" : "max");
            check_threads(&(Run){what, run_global_backward, out, g0, 40 * 400 * 24});
        }
}

static kdl_Act aact;
static size_t arows, acols;

static void run_act_forward(void) {
    kdl_activation_forward(out, x, arows, acols, aact, 0.2f);
}

static void run_act_backward(void) {
    kdl_activation_backward(out, dy, x, y, arows, acols, aact, 0.2f);
}

static void run_grad_output(void) {
    kdl_act_grad_output(out, dy, y, arows, acols, aact, 0.2f);
}

static void run_dense_backward(void) {
    kdl_dense_backward(NULL, NULL, out, dy, x, w, y, (int)arows, 1, (int)acols, aact, 0.2f,
                       scratch);
}

static void test_acts(void) {
    const kdl_Act acts[] = {KDL_ACT_RELU, KDL_ACT_TANH, KDL_ACT_GELU, KDL_ACT_SOFTMAX,
                            KDL_ACT_LOG_SOFTMAX};
    arows = 3000, acols = 97;
    scratch = check_alloc(arows * acols);
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        aact = acts[i];
        kdl_activation_forward(y, x, arows, acols, aact, 0.2f);
        char what[64];
        snprintf(what, sizeof what, "activation %zu forward", i);
        check_threads(&(Run){what, run_act_forward, out, NULL, arows * acols});
        snprintf(what, sizeof what, "activation %zu backward", i);
        check_threads(&(Run){what, run_act_backward, out, g0, arows * acols});
        if (kdl_act_grad_from_output(aact, 0.2f)) {
            snprintf(what, sizeof what, "activation %zu grad_output", i);
            check_threads(&(Run){what, run_grad_output, out, NULL, arows * acols});
            snprintf(what, sizeof what, "activation %zu dense db", i);
            check_threads(&(Run){what, run_dense_backward, out, g0, acols});
        }
    }
    free(scratch);
}

static size_t nrows;
static int nc;

static void run_bn_forward(void) {
    kdl_batchnorm_forward(out, x, w, b, w + 300, g0 + 600, 1e-3f, nrows, nc);
}

static void run_bn_train(void) {   // out: normalized, then save_mean, save_invstd, moving stats
    float *o = out + nrows * nc;
    kdl_batchnorm_train_forward(out, o, o + nc, x, w, b, o + 2 * nc, o + 3 * nc, 0.9f, 1e-3f,
                                nrows, nc);
}

static void run_bn_backward(void) {
    kdl_batchnorm_backward(out, out + nrows * nc, out + nrows * nc + nc, dy, x, w, b, y, nrows,
                           nc);
}

static void run_bn_infer_backward(void) {
    kdl_batchnorm_infer_backward(out, out + nrows * nc, out + nrows * nc + nc, dy, x, w, b,
                                 g0 + 600, 1e-3f, nrows, nc);
}

static void run_ln_forward(void) {
    kdl_layernorm_forward(out, x, w, b, 1e-3f, nrows, nc);
}

static void run_ln_backward(void) {
    kdl_layernorm_backward(out, out + nrows * nc, out + nrows * nc + nc, dy, x, w, 1e-3f, nrows,
                           nc);
}

static void test_norms(void) {
    nrows = 1500, nc = 300;     // more than one chunk of 256 channels
    const size_t n = nrows * nc;
    for (size_t i = 0; i < (size_t)nc; i++)     // positive variances and inverse stds
        y[i] = fabsf(y[i]) + 0.5f, g0[600 + i] = fabsf(g0[600 + i]) + 0.1f;
    check_threads(&(Run){"batchnorm forward", run_bn_forward, out, NULL, n});
    check_threads(&(Run){"batchnorm train forward", run_bn_train, out, g0, n + 4 * (size_t)nc});
    check_threads(&(Run){"batchnorm backward", run_bn_backward, out, g0, n + 2 * (size_t)nc});
    check_threads(&(Run){"batchnorm infer backward", run_bn_infer_backward, out, g0,
                         n + 2 * (size_t)nc});
    check_threads(&(Run){"layernorm forward", run_ln_forward, out, NULL, n});
    check_threads(&(Run){"layernorm backward", run_ln_backward, out, g0, n + 2 * (size_t)nc});
}

static int gta, gtb, gm, gn, gk;

static void run_sgemm(void) {    // C (gm, gn) = A B + C: the accumulate form
    kdl_sgemm(gta, gtb, gm, gn, gk, 1.0f, x, gta ? gm : gk, w, gtb ? gk : gn, 1.0f, out, gn);
}

static void test_sgemm(void) {
    const int shapes[][3] = {{200, 300, 300}, {37, 1000, 70}, {1, 3000, 300}};
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < 4; t++) {
            gta = t & 1, gtb = t >> 1;
            gm = shapes[i][0], gn = shapes[i][1], gk = shapes[i][2];
            char what[64];
            snprintf(what, sizeof what, "sgemm %dx%dx%d ta=%d tb=%d", gm, gn, gk, gta, gtb);
            check_threads(&(Run){what, run_sgemm, out, g0, (size_t)gm * gn});
        }
}

static kdl_RnnKind rkind;
static kdl_RnnShape rs;
static float *rsaved;

static size_t rnn_gates(void) {
    return rkind == KDL_RNN_LSTM ? 4 : rkind == KDL_RNN_GRU ? 3 : 1;
}

static void run_rnn_forward(void) {     // out: sequence, h, c, then the saved floats
    size_t nu = (size_t)rs.n * rs.units, seq = nu * rs.t;
    kdl_rnn_train_forward(rkind, out, out + seq, out + seq + nu, out + seq + 2 * nu, x, w,
                          w + 100000, b, &rs, KDL_ACT_TANH, KDL_ACT_SIGMOID);
}

static void run_rnn_backward(void) {    // out: dx, dkernel, drecurrent, dbias
    size_t gu = rnn_gates() * rs.units, nx_ = (size_t)rs.n * rs.t * rs.in_dim;
    size_t nk = (size_t)rs.in_dim * gu, nr = (size_t)rs.units * gu;
    kdl_rnn_backward(rkind, out, out + nx_, out + nx_ + nk, out + nx_ + nk + nr, NULL, NULL, dy,
                     NULL, NULL,
                     x, w, w + 100000, b, rsaved, &rs, KDL_ACT_TANH, KDL_ACT_SIGMOID, scratch);
}

static void test_rnns(void) {
    const char *names[] = {"SimpleRNN", "LSTM", "GRU", "GRU reset_after=False"};
    for (int i = 0; i < 4; i++) {
        rkind = i == 0 ? KDL_RNN_SIMPLE : i == 1 ? KDL_RNN_LSTM : KDL_RNN_GRU;
        rs = (kdl_RnnShape){.n = 130, .t = 4, .in_dim = 8, .units = 128, .return_sequences = 1,
                            .reset_after = i != 3};
        size_t nu = (size_t)rs.n * rs.units, saved = kdl_rnn_saved_floats(rkind, &rs);
        size_t gu = rnn_gates() * rs.units;
        size_t nout = nu * rs.t + 2 * nu + saved;
        scratch = check_alloc(kdl_rnn_backward_scratch(rkind, &rs));
        char what[64];
        snprintf(what, sizeof what, "%s train forward", names[i]);
        check_threads(&(Run){what, run_rnn_forward, out, NULL, nout});
        rsaved = check_alloc(saved);
        memcpy(rsaved, out + nu * rs.t + 2 * nu, sizeof(float) * saved);
        snprintf(what, sizeof what, "%s backward", names[i]);
        size_t nback = (size_t)rs.n * rs.t * rs.in_dim + (size_t)rs.in_dim * gu +
                       (size_t)rs.units * gu + 2 * gu;
        check_threads(&(Run){what, run_rnn_backward, out, g0, nback});
        free(rsaved);
        free(scratch);
    }
}

int main(void) {
    test_cover();
    const size_t big = (size_t)4 * BIG;
    x = check_random(big, -2, 2);
    y = check_random(big, -1, 1);
    w = check_random(big, -0.5f, 0.5f);
    b = check_random(big, -0.5f, 0.5f);
    dy = check_random(big, -1, 1);
    g0 = check_random(big, -1, 1);
    out = check_alloc(big);
    test_convs();
    test_pools();
    test_acts();
    test_norms();
    test_rnns();
    test_sgemm();
    free(x), free(y), free(w), free(b), free(dy), free(g0), free(out);
    return check_report();
}
