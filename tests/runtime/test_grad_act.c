/*
 * test_grad_act.c - the activation derivatives of act.c against central
 * finite differences of naive double-precision forms of Keras 3's
 * activations: every element-wise activation through kdl_act_backward
 * (from x, from y, both), kdl_activation_backward and kdl_act_grad_output
 * (set, not accumulated; in place), at random points away from the kinks;
 * the kink conventions of TensorFlow / PyTorch at the kinks themselves;
 * softmax and log-softmax per row (batch 1 and 3, from y and from x);
 * kdl_act_grad_from_output's list; the accumulate contract (gradient
 * outputs pre-filled with random values) and NULL gradient outputs.
 */
#include "check.h"

#include <string.h>

#define N_ACTS 18
#define FD_H 1e-5

static const char *const act_names[N_ACTS] = {
    "linear",  "relu",         "relu6", "leaky_relu",  "elu",         "selu",
    "gelu",    "silu",         "sigmoid", "hard_sigmoid", "tanh",     "softmax",
    "log_softmax", "softplus", "softsign", "exponential", "hard_silu", "mish",
};

static int is_softmax(kdl_Act act) {
    return act == KDL_ACT_SOFTMAX || act == KDL_ACT_LOG_SOFTMAX;
}

static double ref_sigmoid(double x) {
    return 1 / (1 + exp(-x));
}

// The textbook forms in double.
static double ref_act(double x, kdl_Act act, double alpha) {
    switch (act) {
    case KDL_ACT_LINEAR: return x;
    case KDL_ACT_RELU: return x > 0 ? x : 0;
    case KDL_ACT_RELU6: return fmin(fmax(x, 0), 6);
    case KDL_ACT_LEAKY_RELU: return x >= 0 ? x : alpha * x;
    case KDL_ACT_ELU: return x > 0 ? x : alpha * (exp(x) - 1);
    case KDL_ACT_SELU: return 1.05070098 * (x > 0 ? x : 1.67326324 * (exp(x) - 1));
    case KDL_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case KDL_ACT_SILU: return x * ref_sigmoid(x);
    case KDL_ACT_SIGMOID: return ref_sigmoid(x);
    case KDL_ACT_HARD_SIGMOID: return fmin(fmax(x + 3, 0), 6) / 6;
    case KDL_ACT_TANH: return tanh(x);
    case KDL_ACT_SOFTPLUS: return log(1 + exp(x));
    case KDL_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case KDL_ACT_EXPONENTIAL: return exp(x);
    case KDL_ACT_HARD_SILU: return x * fmin(fmax(x + 3, 0), 6) / 6;
    case KDL_ACT_MISH: return x * tanh(log(1 + exp(x)));
    default: return NAN;
    }
}

// Central difference of the activation at x.
static double fd_act(double x, kdl_Act act, double alpha) {
    return (ref_act(x + FD_H, act, alpha) - ref_act(x - FD_H, act, alpha)) / (2 * FD_H);
}

// The kinks of each activation (points the random data keeps away from).
static int near_kink(double x, kdl_Act act) {
    const double m = 1e-2;
    switch (act) {
    case KDL_ACT_RELU:
    case KDL_ACT_LEAKY_RELU:
    case KDL_ACT_ELU:
    case KDL_ACT_SELU: return fabs(x) < m;
    case KDL_ACT_RELU6: return fabs(x) < m || fabs(x - 6) < m;
    case KDL_ACT_HARD_SIGMOID:
    case KDL_ACT_HARD_SILU: return fabs(x - 3) < m || fabs(x + 3) < m;
    default: return 0;
    }
}

// Random points in a range that covers every branch, away from the kinks.
static float *random_points(size_t n, kdl_Act act) {
    float lo = -6, hi = 6;
    if (act == KDL_ACT_RELU6) {
        lo = -3;
        hi = 9;
    } else if (act == KDL_ACT_EXPONENTIAL) {
        lo = -4;
        hi = 3;
    }
    float *x = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        do
            x[i] = check_uniform(lo, hi);
        while (near_kink(x[i], act));
    return x;
}

static float act_alpha(kdl_Act act, int variant) {
    if (act == KDL_ACT_LEAKY_RELU)
        return variant == 0 ? 0.2f : variant == 1 ? 0.0f : check_uniform(0.05f, 2.0f);
    if (act == KDL_ACT_ELU)
        return variant == 0 ? 1.0f : variant == 1 ? 0.0f : check_uniform(0.1f, 2.5f);
    return 0.0f;
}

// Every element-wise activation, from x, from y (when allowed) and with both,
// through kdl_act_backward and kdl_activation_backward; kdl_act_grad_output
// for the from-output ones (fresh and in place).
static void test_elementwise(void) {
    const size_t sizes[] = {1, 2, 7, 9, 33, 257};
    for (int a = 0; a < N_ACTS; a++) {
        kdl_Act act = (kdl_Act)a;
        if (is_softmax(act))
            continue;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            float alpha = act_alpha(act, (int)(s % 3));
            int from_y = kdl_act_grad_from_output(act, alpha);
            float *x = random_points(n, act);
            float *y = check_alloc(n), *dy = check_random(n, -1, 1);
            float *pre = check_random(n, -1, 1), *got = check_alloc(n);
            float *ref = check_alloc(n), *fd = check_alloc(n);
            kdl_act_forward(y, x, n, act, alpha);
            for (size_t i = 0; i < n; i++) {
                fd[i] = (float)(dy[i] * fd_act(x[i], act, alpha));
                ref[i] = (float)((double)pre[i] + dy[i] * fd_act(x[i], act, alpha));
            }
            char what[128];
            // from x only
            memcpy(got, pre, sizeof(float) * n);
            kdl_act_backward(got, dy, x, NULL, n, act, alpha);
            snprintf(what, sizeof what, "act_backward(x) %s a=%g n=%zu", act_names[a], alpha, n);
            check_close(what, got, ref, n, 2e-4, 2e-3);
            // x and y
            memcpy(got, pre, sizeof(float) * n);
            kdl_act_backward(got, dy, x, y, n, act, alpha);
            snprintf(what, sizeof what, "act_backward(x,y) %s a=%g n=%zu", act_names[a], alpha,
                     n);
            check_close(what, got, ref, n, 2e-4, 2e-3);
            // rows x cols through kdl_activation_backward (element-wise: delegates)
            size_t rows = n % 3 == 0 ? 3 : 1;
            memcpy(got, pre, sizeof(float) * n);
            kdl_activation_backward(got, dy, x, from_y ? y : NULL, rows, n / rows, act, alpha);
            snprintf(what, sizeof what, "activation_backward %s a=%g n=%zu", act_names[a], alpha,
                     n);
            check_close(what, got, ref, n, 2e-4, 2e-3);
            if (from_y) {
                memcpy(got, pre, sizeof(float) * n);
                kdl_act_backward(got, dy, NULL, y, n, act, alpha);
                snprintf(what, sizeof what, "act_backward(y) %s a=%g n=%zu", act_names[a], alpha,
                         n);
                check_close(what, got, ref, n, 2e-4, 2e-3);
                // grad_output: SET into a pre-filled dz, then in place over dy
                memcpy(got, pre, sizeof(float) * n);
                kdl_act_grad_output(got, dy, y, rows, n / rows, act, alpha);
                snprintf(what, sizeof what, "act_grad_output %s a=%g n=%zu", act_names[a], alpha,
                         n);
                check_close(what, got, fd, n, 2e-4, 2e-3);
                memcpy(got, dy, sizeof(float) * n);
                kdl_act_grad_output(got, got, y, rows, n / rows, act, alpha);
                snprintf(what, sizeof what, "act_grad_output in place %s a=%g n=%zu",
                         act_names[a], alpha, n);
                check_close(what, got, fd, n, 2e-4, 2e-3);
            }
            // a NULL dx is accepted
            kdl_act_backward(NULL, dy, x, y, n, act, alpha);
            kdl_activation_backward(NULL, dy, x, y, rows, n / rows, act, alpha);
            free(x), free(y), free(dy), free(pre), free(got), free(ref), free(fd);
        }
    }
}

// One point: kdl_act_backward's derivative (dy = 1, dx = 0) from x, and from
// y when allowed, must be within tol of `want` (exactly, for tol 0).
static void check_point_tol(kdl_Act act, float alpha, float x, float want, float tol) {
    float y, d;
    kdl_act_forward(&y, &x, 1, act, alpha);
    float one = 1.0f;
    char what[128];
    d = 0.0f;
    kdl_act_backward(&d, &one, &x, NULL, 1, act, alpha);
    snprintf(what, sizeof what, "kink %s'(%g) from x = %g (got %g)", act_names[act], x, want, d);
    check_true(what, fabsf(d - want) <= tol);
    if (kdl_act_grad_from_output(act, alpha)) {
        d = 0.0f;
        kdl_act_backward(&d, &one, NULL, &y, 1, act, alpha);
        snprintf(what, sizeof what, "kink %s'(%g) from y = %g (got %g)", act_names[act], x, want,
                 d);
        check_true(what, fabsf(d - want) <= tol);
        d = 1.0f;
        kdl_act_grad_output(&d, &d, &y, 1, 1, act, alpha);
        snprintf(what, sizeof what, "kink %s'(%g) grad_output = %g (got %g)", act_names[act], x,
                 want, d);
        check_true(what, fabsf(d - want) <= tol);
    }
}

static void check_point(kdl_Act act, float alpha, float x, float want) {
    check_point_tol(act, alpha, x, want, 0.0f);
}

// TensorFlow / PyTorch values at the kinks.
static void test_kinks(void) {
    const float sixth = 1.0f / 6.0f;
    check_point(KDL_ACT_RELU, 0, 0.0f, 0.0f);
    check_point(KDL_ACT_RELU, 0, -0.0f, 0.0f);
    check_point(KDL_ACT_RELU, 0, 1e-30f, 1.0f);
    check_point(KDL_ACT_RELU, 0, -1e-30f, 0.0f);
    check_point(KDL_ACT_RELU6, 0, 0.0f, 0.0f);
    check_point(KDL_ACT_RELU6, 0, 6.0f, 0.0f);
    check_point(KDL_ACT_RELU6, 0, 5.999f, 1.0f);
    check_point(KDL_ACT_RELU6, 0, 7.0f, 0.0f);
    check_point(KDL_ACT_LEAKY_RELU, 0.2f, 0.0f, 0.2f);
    check_point(KDL_ACT_LEAKY_RELU, 0.2f, -3.0f, 0.2f);
    check_point(KDL_ACT_LEAKY_RELU, 0.2f, 2.0f, 1.0f);
    check_point(KDL_ACT_LEAKY_RELU, 0.0f, -1.0f, 0.0f);
    check_point(KDL_ACT_ELU, 1.0f, 0.0f, 1.0f);         // alpha exp(0) = y + alpha
    check_point(KDL_ACT_ELU, 0.5f, 0.0f, 0.5f);
    check_point(KDL_ACT_ELU, 0.5f, 1.0f, 1.0f);
    check_point(KDL_ACT_HARD_SIGMOID, 0, -3.0f, 0.0f);
    check_point(KDL_ACT_HARD_SIGMOID, 0, 3.0f, 0.0f);
    check_point(KDL_ACT_HARD_SIGMOID, 0, 0.0f, sixth);
    check_point(KDL_ACT_HARD_SIGMOID, 0, -2.5f, sixth);
    check_point(KDL_ACT_HARD_SIGMOID, 0, 4.0f, 0.0f);
    check_point(KDL_ACT_HARD_SILU, 0, -3.0f, 0.0f);     // autodiff of x * relu6(x + 3) / 6
    check_point(KDL_ACT_HARD_SILU, 0, 3.0f, 1.0f);
    check_point(KDL_ACT_HARD_SILU, 0, 0.0f, 0.5f);
    check_point(KDL_ACT_SIGMOID, 0, 0.0f, 0.25f);
    check_point(KDL_ACT_TANH, 0, 0.0f, 1.0f);
    check_point(KDL_ACT_EXPONENTIAL, 0, 0.0f, 1.0f);
    check_point(KDL_ACT_LINEAR, 0, 5.0f, 1.0f);
    check_point(KDL_ACT_SOFTPLUS, 0, 0.0f, 0.5f);
    check_point(KDL_ACT_SOFTSIGN, 0, 0.0f, 1.0f);
    check_point(KDL_ACT_GELU, 0, 0.0f, 0.5f);
    check_point(KDL_ACT_SILU, 0, 0.0f, 0.5f);
    check_point_tol(KDL_ACT_MISH, 0, 0.0f, (float)tanh(log(2.0)), 1e-6f);
    // the extremes: derivatives stay finite and go to their limits
    check_point_tol(KDL_ACT_SIGMOID, 0, 100.0f, 0.0f, 1e-6f);
    check_point_tol(KDL_ACT_SIGMOID, 0, -100.0f, 0.0f, 1e-6f);
    check_point_tol(KDL_ACT_SILU, 0, -200.0f, 0.0f, 1e-6f);
    check_point_tol(KDL_ACT_SILU, 0, 200.0f, 1.0f, 1e-6f);
    check_point_tol(KDL_ACT_SOFTPLUS, 0, 200.0f, 1.0f, 1e-6f);
    check_point_tol(KDL_ACT_TANH, 0, 50.0f, 0.0f, 1e-6f);
    check_point_tol(KDL_ACT_MISH, 0, 100.0f, 1.0f, 1e-6f);
    check_point_tol(KDL_ACT_GELU, 0, 50.0f, 1.0f, 1e-6f);
    check_point_tol(KDL_ACT_GELU, 0, -50.0f, 0.0f, 1e-6f);
}

static void test_from_output_list(void) {
    const kdl_Act yes[] = {KDL_ACT_LINEAR,  KDL_ACT_RELU,         KDL_ACT_RELU6,
                           KDL_ACT_ELU,     KDL_ACT_SIGMOID,      KDL_ACT_HARD_SIGMOID,
                           KDL_ACT_TANH,    KDL_ACT_EXPONENTIAL,  KDL_ACT_SOFTMAX,
                           KDL_ACT_LOG_SOFTMAX, KDL_ACT_LEAKY_RELU};
    const kdl_Act no[] = {KDL_ACT_SELU,     KDL_ACT_GELU,        KDL_ACT_SILU,
                          KDL_ACT_SOFTPLUS, KDL_ACT_SOFTSIGN,    KDL_ACT_HARD_SILU,
                          KDL_ACT_MISH};
    char what[96];
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(what, sizeof what, "grad_from_output(%s)", act_names[yes[i]]);
        check_true(what, kdl_act_grad_from_output(yes[i], 0.2f) != 0);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        snprintf(what, sizeof what, "!grad_from_output(%s)", act_names[no[i]]);
        check_true(what, kdl_act_grad_from_output(no[i], 0.2f) == 0);
    }
    check_true("grad_from_output(leaky_relu, 0)", kdl_act_grad_from_output(KDL_ACT_LEAKY_RELU, 0));
    check_true("!grad_from_output(leaky_relu, -0.5)",
               !kdl_act_grad_from_output(KDL_ACT_LEAKY_RELU, -0.5f));
    check_true("!grad_from_output(elu, -0.5)", !kdl_act_grad_from_output(KDL_ACT_ELU, -0.5f));
    // a negative slope still differentiates from x
    float x[2] = {-2.0f, 3.0f}, dy[2] = {1.0f, 1.0f}, dx[2] = {0, 0};
    kdl_act_backward(dx, dy, x, NULL, 2, KDL_ACT_LEAKY_RELU, -0.5f);
    check_true("leaky_relu alpha -0.5 from x", dx[0] == -0.5f && dx[1] == 1.0f);
}

// L = sum dy * f(row) for softmax / log_softmax of one row, in double.
static double ref_softmax_loss(const double *x, const float *dy, size_t n, int log_) {
    double m = -INFINITY, s = 0, l = 0;
    for (size_t j = 0; j < n; j++)
        m = fmax(m, x[j]);
    for (size_t j = 0; j < n; j++)
        s += exp(x[j] - m);
    for (size_t j = 0; j < n; j++)
        l += dy[j] * (log_ ? x[j] - m - log(s) : exp(x[j] - m) / s);
    return l;
}

static void test_softmax(void) {
    const size_t shapes[][2] = {{1, 1}, {1, 2}, {3, 7}, {1, 33}, {4, 5}, {3, 130}};
    for (int lg = 0; lg < 2; lg++) {
        kdl_Act act = lg ? KDL_ACT_LOG_SOFTMAX : KDL_ACT_SOFTMAX;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
            float *x = check_random(n, -4, 4), *y = check_alloc(n), *dy = check_random(n, -1, 1);
            if (s == 3)     // large logits: the max is subtracted
                for (size_t i = 0; i < n; i++)
                    x[i] += 80.0f;
            float *pre = check_random(n, -1, 1), *got = check_alloc(n);
            float *fd = check_alloc(n), *ref = check_alloc(n);
            double *xd = malloc(sizeof(double) * cols);
            kdl_activation_forward(y, x, rows, cols, act, 0.0f);
            for (size_t r = 0; r < rows; r++) {
                for (size_t j = 0; j < cols; j++)
                    xd[j] = x[r * cols + j];
                for (size_t j = 0; j < cols; j++) {
                    double v = xd[j];
                    xd[j] = v + FD_H;
                    double lp = ref_softmax_loss(xd, dy + r * cols, cols, lg);
                    xd[j] = v - FD_H;
                    double lm = ref_softmax_loss(xd, dy + r * cols, cols, lg);
                    xd[j] = v;
                    double g = (lp - lm) / (2 * FD_H);
                    fd[r * cols + j] = (float)g;
                    ref[r * cols + j] = (float)(pre[r * cols + j] + g);
                }
            }
            char what[128];
            const char *nm = act_names[act];
            memcpy(got, pre, sizeof(float) * n);
            kdl_activation_backward(got, dy, NULL, y, rows, cols, act, 0.0f);
            snprintf(what, sizeof what, "activation_backward(y) %s %zux%zu", nm, rows, cols);
            check_close(what, got, ref, n, 2e-4, 2e-3);
            memcpy(got, pre, sizeof(float) * n);
            kdl_activation_backward(got, dy, x, NULL, rows, cols, act, 0.0f);
            snprintf(what, sizeof what, "activation_backward(x) %s %zux%zu", nm, rows, cols);
            check_close(what, got, ref, n, 2e-4, 2e-3);
            memcpy(got, pre, sizeof(float) * n);
            kdl_activation_backward(got, dy, x, y, rows, cols, act, 0.0f);
            snprintf(what, sizeof what, "activation_backward(x,y) %s %zux%zu", nm, rows, cols);
            check_close(what, got, ref, n, 2e-4, 2e-3);
            memcpy(got, pre, sizeof(float) * n);
            kdl_act_grad_output(got, dy, y, rows, cols, act, 0.0f);
            snprintf(what, sizeof what, "act_grad_output %s %zux%zu", nm, rows, cols);
            check_close(what, got, fd, n, 2e-4, 2e-3);
            memcpy(got, dy, sizeof(float) * n);
            kdl_act_grad_output(got, got, y, rows, cols, act, 0.0f);
            snprintf(what, sizeof what, "act_grad_output in place %s %zux%zu", nm, rows, cols);
            check_close(what, got, fd, n, 2e-4, 2e-3);
            if (rows == 1) {    // kdl_act_backward: the n values are one row
                memcpy(got, pre, sizeof(float) * n);
                kdl_act_backward(got, dy, NULL, y, n, act, 0.0f);
                snprintf(what, sizeof what, "act_backward(y) %s 1x%zu", nm, cols);
                check_close(what, got, ref, n, 2e-4, 2e-3);
                memcpy(got, pre, sizeof(float) * n);
                kdl_act_backward(got, dy, x, NULL, n, act, 0.0f);
                snprintf(what, sizeof what, "act_backward(x) %s 1x%zu", nm, cols);
                check_close(what, got, ref, n, 2e-4, 2e-3);
            }
            free(x), free(y), free(dy), free(pre), free(got), free(fd), free(ref), free(xd);
        }
    }
}

int main(void) {
    test_elementwise();
    test_kinks();
    test_from_output_list();
    test_softmax();
    return check_report();
}
