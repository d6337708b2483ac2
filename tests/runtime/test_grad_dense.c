/*
 * test_grad_dense.c - kdl_dense_backward against central finite
 * differences of a naive double-precision Dense (x @ w + b, then the
 * activation) with L = sum(dy * y): dx, dw and db, for every activation
 * kdl_act_grad_from_output accepts fused (and linear), batch 1 and 3+,
 * odd sizes, in_dim 0; gradient outputs pre-filled with random values (the
 * kernel accumulates) and NULL gradient outputs.
 */
#include "check.h"

#include <string.h>

#define FD_H 1e-5

static double ref_act(double x, kdl_Act act, double alpha) {
    switch (act) {
    case KDL_ACT_LINEAR: return x;
    case KDL_ACT_RELU: return x > 0 ? x : 0;
    case KDL_ACT_RELU6: return fmin(fmax(x, 0), 6);
    case KDL_ACT_LEAKY_RELU: return x >= 0 ? x : alpha * x;
    case KDL_ACT_ELU: return x > 0 ? x : alpha * (exp(x) - 1);
    case KDL_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KDL_ACT_HARD_SIGMOID: return fmin(fmax(x + 3, 0), 6) / 6;
    case KDL_ACT_TANH: return tanh(x);
    case KDL_ACT_EXPONENTIAL: return exp(x);
    default: return NAN;
    }
}

typedef struct {
    int n, in_dim, units;
    kdl_Act act;
    double alpha;
    const float *dy;
} Dense;

// L = sum dy * act(x @ w + b) in double; b may be NULL.
static double ref_loss(const Dense *d, const double *x, const double *w, const double *b) {
    double l = 0;
    double *z = malloc(sizeof(double) * (size_t)d->units);
    for (int i = 0; i < d->n; i++) {
        for (int j = 0; j < d->units; j++) {
            double s = b ? b[j] : 0.0;
            for (int p = 0; p < d->in_dim; p++)
                s += x[(size_t)i * d->in_dim + p] * w[(size_t)p * d->units + j];
            z[j] = s;
        }
        const float *g = d->dy + (size_t)i * d->units;
        if (d->act == KDL_ACT_SOFTMAX || d->act == KDL_ACT_LOG_SOFTMAX) {
            double m = -INFINITY, sum = 0;
            for (int j = 0; j < d->units; j++)
                m = fmax(m, z[j]);
            for (int j = 0; j < d->units; j++)
                sum += exp(z[j] - m);
            for (int j = 0; j < d->units; j++)
                l += g[j] * (d->act == KDL_ACT_SOFTMAX ? exp(z[j] - m) / sum
                                                        : z[j] - m - log(sum));
        } else {
            for (int j = 0; j < d->units; j++)
                l += g[j] * ref_act(z[j], d->act, d->alpha);
        }
    }
    free(z);
    return l;
}

// fd[i] = pre[i] + dL/dv[i] by central differences (v is one of x, w, b).
static void fd_grad(float *fd, const float *pre, double *v, size_t count, const Dense *d,
                    const double *x, const double *w, const double *b) {
    for (size_t i = 0; i < count; i++) {
        double s = v[i];
        v[i] = s + FD_H;
        double lp = ref_loss(d, x, w, b);
        v[i] = s - FD_H;
        double lm = ref_loss(d, x, w, b);
        v[i] = s;
        fd[i] = (float)((double)pre[i] + (lp - lm) / (2 * FD_H));
    }
}

static double *to_double(const float *p, size_t n) {
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        d[i] = p[i];
    return d;
}

static float *copy(const float *p, size_t n) {
    float *c = check_alloc(n);
    memcpy(c, p, sizeof(float) * n);
    return c;
}

static void run(int n, int in_dim, int units, kdl_Act act, float alpha, const char *name,
                int use_bias) {
    size_t nx = (size_t)n * in_dim, nw = (size_t)in_dim * units, ny = (size_t)n * units;
    // w scaled so the pre-activations reach every branch (relu6 beyond 6,
    // hard_sigmoid beyond +/-3) but stay moderate for exponential
    float ws = act == KDL_ACT_RELU6 || act == KDL_ACT_HARD_SIGMOID ? 8.0f
               : act == KDL_ACT_EXPONENTIAL                       ? 1.5f
                                                                  : 3.0f;
    ws /= sqrtf((float)(in_dim > 0 ? in_dim : 1));
    float *x = check_random(nx, -1, 1), *w = check_random(nw, -ws, ws);
    float *b = use_bias ? check_random((size_t)units, -1, 1) : NULL;
    float *y = check_alloc(ny), *dy = check_random(ny, -1, 1);
    float *scratch = act == KDL_ACT_LINEAR ? NULL : check_alloc(ny);
    kdl_dense_forward(y, x, w, b, n, in_dim, units, act, alpha);

    float *pdx = check_random(nx, -1, 1), *pdw = check_random(nw, -1, 1);
    float *pdb = check_random((size_t)units, -1, 1);
    float *dx = copy(pdx, nx), *dw = copy(pdw, nw), *db = copy(pdb, (size_t)units);
    float *dy_keep = copy(dy, ny);
    kdl_dense_backward(dx, dw, db, dy, x, w, y, n, in_dim, units, act, alpha, scratch);

    Dense d = {n, in_dim, units, act, alpha, dy};
    double *xd = to_double(x, nx), *wd = to_double(w, nw);
    double *bd = to_double(b ? b : pdb, (size_t)units);     // db: the gradient at b (or 0)
    if (!b)
        for (int j = 0; j < units; j++)
            bd[j] = 0.0;
    float *fx = check_alloc(nx), *fw = check_alloc(nw), *fb = check_alloc((size_t)units);
    fd_grad(fx, pdx, xd, nx, &d, xd, wd, bd);
    fd_grad(fw, pdw, wd, nw, &d, xd, wd, bd);
    fd_grad(fb, pdb, bd, (size_t)units, &d, xd, wd, bd);

    char what[160];
    snprintf(what, sizeof what, "dense %s n=%d in=%d units=%d bias=%d", name, n, in_dim, units,
             use_bias);
    char w2[200];
    snprintf(w2, sizeof w2, "%s dx", what);
    check_close(w2, dx, fx, nx, 2e-4, 2e-3);
    snprintf(w2, sizeof w2, "%s dw", what);
    check_close(w2, dw, fw, nw, 2e-4, 2e-3);
    snprintf(w2, sizeof w2, "%s db", what);
    check_close(w2, db, fb, (size_t)units, 2e-4, 2e-3);
    snprintf(w2, sizeof w2, "%s dy unchanged", what);
    check_true(w2, memcmp(dy, dy_keep, sizeof(float) * ny) == 0);

    // NULL gradient outputs: each one alone
    for (int only = 0; only < 3; only++) {
        float *gx = copy(pdx, nx), *gw = copy(pdw, nw), *gb = copy(pdb, (size_t)units);
        kdl_dense_backward(only == 0 ? gx : NULL, only == 1 ? gw : NULL, only == 2 ? gb : NULL,
                           dy, x, w, y, n, in_dim, units, act, alpha, scratch);
        snprintf(w2, sizeof w2, "%s only %s", what, only == 0 ? "dx" : only == 1 ? "dw" : "db");
        if (only == 0)
            check_close(w2, gx, fx, nx, 2e-4, 2e-3);
        else if (only == 1)
            check_close(w2, gw, fw, nw, 2e-4, 2e-3);
        else
            check_close(w2, gb, fb, (size_t)units, 2e-4, 2e-3);
        free(gx), free(gw), free(gb);
    }
    kdl_dense_backward(NULL, NULL, NULL, dy, x, w, y, n, in_dim, units, act, alpha, scratch);

    free(x), free(w), free(b), free(y), free(dy), free(scratch), free(pdx), free(pdw), free(pdb);
    free(dx), free(dw), free(db), free(dy_keep), free(xd), free(wd), free(bd);
    free(fx), free(fw), free(fb);
}

int main(void) {
    printf("gemm backend: %s\n", kdl_gemm_backend());
    // {n, in_dim, units}
    const int shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {3, 7, 5}, {4, 1, 6},
                             {5, 9, 1}, {3, 0, 4}, {6, 33, 17}, {2, 20, 40}};
    const kdl_Act acts[] = {KDL_ACT_LINEAR,  KDL_ACT_RELU,         KDL_ACT_RELU6,
                            KDL_ACT_LEAKY_RELU, KDL_ACT_LEAKY_RELU, KDL_ACT_ELU,
                            KDL_ACT_ELU,     KDL_ACT_SIGMOID,      KDL_ACT_HARD_SIGMOID,
                            KDL_ACT_TANH,    KDL_ACT_EXPONENTIAL,  KDL_ACT_SOFTMAX,
                            KDL_ACT_LOG_SOFTMAX};
    const float alphas[] = {0, 0, 0, 0.2f, 0.0f, 1.0f, 0.5f, 0, 0, 0, 0, 0, 0};
    const char *const names[] = {"linear", "relu", "relu6", "leaky_relu(0.2)", "leaky_relu(0)",
                                 "elu(1)", "elu(0.5)", "sigmoid", "hard_sigmoid", "tanh",
                                 "exponential", "softmax", "log_softmax"};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            check_true("from output", kdl_act_grad_from_output(acts[a], alphas[a]));
            for (int use_bias = 0; use_bias < 2; use_bias++) {
                // in_dim 0 with no bias: every pre-activation is exactly 0,
                // the kink of the relu family, where differences say nothing
                if (shapes[s][1] == 0 && !use_bias && acts[a] >= KDL_ACT_RELU &&
                    acts[a] <= KDL_ACT_ELU)
                    continue;
                run(shapes[s][0], shapes[s][1], shapes[s][2], acts[a], alphas[a], names[a],
                    use_bias);
            }
        }
    return check_report();
}
