/*
 * test_grad_norm.c - normalization in training:
 *   kdl_batchnorm_train_forward against a naive double implementation
 *     (outputs, saved mean and 1/sqrt(var + eps), moving statistics updated
 *     with the biased batch variance, as Keras), in place, gamma/beta NULL,
 *     more channels than one chunk of the kernel;
 *   kdl_batchnorm_backward by central finite differences of the naive
 *     training-mode forward, which differentiates through the batch
 *     statistics (dx, dgamma, dbeta);
 *   kdl_batchnorm_infer_backward and kdl_layernorm_backward by finite
 *     differences of their naive forwards;
 * with gradient outputs pre-filled (the kernels accumulate), NULL gradient
 * outputs, batch 1 and 3+, odd sizes.
 */
#include "check.h"

#include <string.h>

#define FD_H 1e-5
#define EPS 1e-3f

static float *copy(const float *p, size_t n) {
    float *c = check_alloc(n);
    memcpy(c, p, sizeof(float) * n);
    return c;
}

// ---- batch norm, training forward ---------------------------------------------------

// One channel j of (rows, c) in double: mean, biased variance.
static void ref_moments(const double *x, size_t rows, size_t c, size_t j, double *mean,
                        double *var) {
    double m = 0, v = 0;
    for (size_t r = 0; r < rows; r++)
        m += x[r * c + j];
    m /= (double)rows;
    for (size_t r = 0; r < rows; r++)
        v += (x[r * c + j] - m) * (x[r * c + j] - m);
    *mean = m;
    *var = v / (double)rows;
}

static void test_bn_train_forward(void) {
    const size_t shapes[][2] = {{1, 1}, {1, 5}, {3, 1}, {4, 7}, {7, 3}, {9, 300}, {2, 513}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int variant = 0; variant < 3; variant++) {
            size_t rows = shapes[s][0], c = shapes[s][1], n = rows * c;
            float momentum = variant == 1 ? 0.9f : 0.99f;
            int affine = variant != 2, inplace = variant == 1;
            float *x = check_random(n, -2, 2);
            for (size_t i = 0; i < n; i++)      // channels with offsets and scales
                x[i] = x[i] * (1.0f + (float)(i % c % 5)) + (float)(i % c % 3) * 4.0f;
            float *gamma = affine ? check_random(c, 0.5f, 2) : NULL;
            float *beta = affine ? check_random(c, -1, 1) : NULL;
            float *mm = check_random(c, -1, 1), *mv = check_random(c, 0.5f, 2);
            float *mm0 = copy(mm, c), *mv0 = copy(mv, c);
            float *out = check_alloc(n), *sm = check_alloc(c), *si = check_alloc(c);
            float *rout = check_alloc(n), *rsm = check_alloc(c), *rsi = check_alloc(c);
            float *rmm = check_alloc(c), *rmv = check_alloc(c);
            double *xd = malloc(sizeof(double) * n);
            for (size_t i = 0; i < n; i++)
                xd[i] = x[i];
            for (size_t j = 0; j < c; j++) {
                double m, v;
                ref_moments(xd, rows, c, j, &m, &v);
                double inv = 1 / sqrt(v + EPS);
                rsm[j] = (float)m;
                rsi[j] = (float)inv;
                rmm[j] = (float)(mm0[j] * (double)momentum + m * (1 - (double)momentum));
                rmv[j] = (float)(mv0[j] * (double)momentum + v * (1 - (double)momentum));
                for (size_t r = 0; r < rows; r++) {
                    double o = (xd[r * c + j] - m) * inv;
                    if (affine)
                        o = o * gamma[j] + beta[j];
                    rout[r * c + j] = (float)o;
                }
            }
            if (inplace) {
                memcpy(out, x, sizeof(float) * n);
                kdl_batchnorm_train_forward(out, sm, si, out, gamma, beta, mm, mv, momentum, EPS,
                                            rows, (int)c);
            } else {
                kdl_batchnorm_train_forward(out, sm, si, x, gamma, beta, mm, mv, momentum, EPS,
                                            rows, (int)c);
            }
            char what[128], w2[160];
            snprintf(what, sizeof what, "bn train fwd %zux%zu m=%g affine=%d inplace=%d", rows, c,
                     momentum, affine, inplace);
            snprintf(w2, sizeof w2, "%s out", what);
            check_close(w2, out, rout, n, 1e-5, 1e-4);
            snprintf(w2, sizeof w2, "%s save_mean", what);
            check_close(w2, sm, rsm, c, 1e-6, 1e-5);
            snprintf(w2, sizeof w2, "%s save_invstd", what);
            check_close(w2, si, rsi, c, 1e-6, 1e-5);
            snprintf(w2, sizeof w2, "%s moving_mean", what);
            check_close(w2, mm, rmm, c, 1e-6, 1e-5);
            snprintf(w2, sizeof w2, "%s moving_var", what);
            check_close(w2, mv, rmv, c, 1e-6, 1e-5);
            // NULL saved and moving statistics (only out wanted)
            float *out2 = check_alloc(n);
            kdl_batchnorm_train_forward(out2, NULL, NULL, x, gamma, beta, NULL, NULL, momentum,
                                        EPS, rows, (int)c);
            snprintf(w2, sizeof w2, "%s no stats", what);
            check_close(w2, out2, rout, n, 1e-5, 1e-4);
            free(x), free(gamma), free(beta), free(mm), free(mv), free(mm0), free(mv0);
            free(out), free(sm), free(si), free(rout), free(rsm), free(rsi), free(rmm);
            free(rmv), free(xd), free(out2);
        }
    // rows == 0 changes nothing
    float mm = 0.5f, mv = 2.0f, sm = 7.0f, si = 7.0f;
    kdl_batchnorm_train_forward(NULL, &sm, &si, NULL, NULL, NULL, &mm, &mv, 0.99f, EPS, 0, 1);
    check_true("bn train fwd rows=0", mm == 0.5f && mv == 2.0f && sm == 7.0f && si == 7.0f);
}

// ---- finite differences ------------------------------------------------------------------

// A loss over double parameters and its context.
typedef double (*LossFn)(const void *ctx, const double *x, const double *gamma,
                         const double *beta);

// fd[i] = pre[i] + dL/dv[i] (v one of x, gamma, beta; the others fixed).
static void fd_grad(float *fd, const float *pre, double *v, size_t count, LossFn f,
                    const void *ctx, const double *x, const double *gamma, const double *beta) {
    for (size_t i = 0; i < count; i++) {
        double s = v[i];
        v[i] = s + FD_H;
        double lp = f(ctx, x, gamma, beta);
        v[i] = s - FD_H;
        double lm = f(ctx, x, gamma, beta);
        v[i] = s;
        fd[i] = (float)((double)pre[i] + (lp - lm) / (2 * FD_H));
    }
}

static double *to_double(const float *p, size_t n) {
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        d[i] = p ? p[i] : 1.0;
    return d;
}

typedef struct {
    size_t rows, c;
    const float *dy;
    const double *mean, *var;   // infer only
    int has_gamma;
} Norm;

// L = sum dy * bn_train(x): per channel, the batch moments recomputed from x.
static double bn_train_loss(const void *ctx, const double *x, const double *gamma,
                            const double *beta) {
    const Norm *p = ctx;
    double l = 0;
    for (size_t j = 0; j < p->c; j++) {
        double m, v;
        ref_moments(x, p->rows, p->c, j, &m, &v);
        double inv = 1 / sqrt(v + EPS);
        for (size_t r = 0; r < p->rows; r++) {
            double o = (x[r * p->c + j] - m) * inv * gamma[j] + beta[j];
            l += p->dy[r * p->c + j] * o;
        }
    }
    return l;
}

static double bn_infer_loss(const void *ctx, const double *x, const double *gamma,
                            const double *beta) {
    const Norm *p = ctx;
    double l = 0;
    for (size_t r = 0; r < p->rows; r++)
        for (size_t j = 0; j < p->c; j++) {
            double o = (x[r * p->c + j] - p->mean[j]) / sqrt(p->var[j] + EPS) * gamma[j] + beta[j];
            l += p->dy[r * p->c + j] * o;
        }
    return l;
}

// Layer norm: rows of c values, moments per row.
static double ln_loss(const void *ctx, const double *x, const double *gamma, const double *beta) {
    const Norm *p = ctx;
    double l = 0;
    for (size_t r = 0; r < p->rows; r++) {
        const double *xr = x + r * p->c;
        double m = 0, v = 0;
        for (size_t j = 0; j < p->c; j++)
            m += xr[j];
        m /= (double)p->c;
        for (size_t j = 0; j < p->c; j++)
            v += (xr[j] - m) * (xr[j] - m);
        v /= (double)p->c;
        double inv = 1 / sqrt(v + EPS);
        for (size_t j = 0; j < p->c; j++)
            l += p->dy[r * p->c + j] * ((xr[j] - m) * inv * gamma[j] + beta[j]);
    }
    return l;
}

// Per-channel (BN train) or per-row (LN) losses would make dx cheaper; the
// shapes are small enough for the whole loss.
enum { BN_TRAIN, BN_INFER, LN };

static void run_backward(int kind, size_t rows, size_t c, int has_gamma) {
    size_t n = rows * c;
    float *x = check_random(n, -2, 2);
    for (size_t i = 0; i < n; i++)
        x[i] += (float)(i % c % 3);
    float *gamma = has_gamma ? check_random(c, 0.5f, 2) : NULL;
    float *beta = check_random(c, -1, 1);
    float *dy = check_random(n, -1, 1);
    float *mean = check_random(c, -1, 1), *var = check_random(c, 0.3f, 2);
    float *pdx = check_random(n, -1, 1), *pdg = check_random(c, -1, 1);
    float *pdb = check_random(c, -1, 1);
    float *sm = check_alloc(c), *si = check_alloc(c), *y = check_alloc(n);
    if (kind == BN_TRAIN) {
        float *mm = check_alloc(c), *mv = check_alloc(c);
        kdl_batchnorm_train_forward(y, sm, si, x, gamma, beta, mm, mv, 0.99f, EPS, rows, (int)c);
        free(mm), free(mv);
    }
    Norm ctx = {rows, c, dy, NULL, NULL, has_gamma};
    double *md = to_double(mean, c), *vd = to_double(var, c);
    ctx.mean = md;
    ctx.var = vd;
    double *xd = to_double(x, n), *gd = to_double(gamma, c), *bd = to_double(beta, c);
    LossFn f = kind == BN_TRAIN ? bn_train_loss : kind == BN_INFER ? bn_infer_loss : ln_loss;
    float *fx = check_alloc(n), *fg = check_alloc(c), *fb = check_alloc(c);
    fd_grad(fx, pdx, xd, n, f, &ctx, xd, gd, bd);
    fd_grad(fg, pdg, gd, c, f, &ctx, xd, gd, bd);
    fd_grad(fb, pdb, bd, c, f, &ctx, xd, gd, bd);

    const char *name = kind == BN_TRAIN ? "bn_backward" : kind == BN_INFER ? "bn_infer_backward"
                                                                            : "ln_backward";
    // mask: which of dx, dgamma, dbeta are given (7 = all; then each alone, none)
    const int masks[] = {7, 1, 2, 4, 0};
    for (size_t k = 0; k < sizeof masks / sizeof masks[0]; k++) {
        int mask = masks[k];
        float *dx = copy(pdx, n), *dg = copy(pdg, c), *db = copy(pdb, c);
        float *ax = mask & 1 ? dx : NULL, *ag = mask & 2 ? dg : NULL, *ab = mask & 4 ? db : NULL;
        if (kind == BN_TRAIN)
            kdl_batchnorm_backward(ax, ag, ab, dy, x, gamma, sm, si, rows, (int)c);
        else if (kind == BN_INFER)
            kdl_batchnorm_infer_backward(ax, ag, ab, dy, x, gamma, mean, var, EPS, rows, (int)c);
        else
            kdl_layernorm_backward(ax, ag, ab, dy, x, gamma, EPS, rows, (int)c);
        char what[128], w2[160];
        snprintf(what, sizeof what, "%s %zux%zu gamma=%d mask=%d", name, rows, c, has_gamma,
                 mask);
        if (mask & 1) {
            snprintf(w2, sizeof w2, "%s dx", what);
            check_close(w2, dx, fx, n, 2e-4, 2e-3);
        }
        if (mask & 2) {
            snprintf(w2, sizeof w2, "%s dgamma", what);
            check_close(w2, dg, fg, c, 2e-4, 2e-3);
        }
        if (mask & 4) {
            snprintf(w2, sizeof w2, "%s dbeta", what);
            check_close(w2, db, fb, c, 2e-4, 2e-3);
        }
        free(dx), free(dg), free(db);
    }
    free(x), free(gamma), free(beta), free(dy), free(mean), free(var), free(pdx), free(pdg);
    free(pdb), free(sm), free(si), free(y), free(md), free(vd), free(xd), free(gd), free(bd);
    free(fx), free(fg), free(fb);
}

static void test_backward(void) {
    const size_t shapes[][2] = {{1, 1}, {1, 6}, {2, 3}, {3, 1}, {5, 7}, {8, 4}, {3, 40}, {33, 5}};
    for (int kind = BN_TRAIN; kind <= LN; kind++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int g = 0; g < 2; g++)
                run_backward(kind, shapes[s][0], shapes[s][1], g);
    // more channels than the kernels' chunk (256)
    run_backward(BN_TRAIN, 3, 260, 1);
    run_backward(BN_INFER, 2, 300, 1);
    run_backward(LN, 2, 300, 1);
}

int main(void) {
    test_bn_train_forward();
    test_backward();
    return check_report();
}
