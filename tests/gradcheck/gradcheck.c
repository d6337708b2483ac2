/*
 * gradcheck.c - a whole generated model's gradients against central finite
 * differences of its own training-mode loss.
 *
 * Built once per model: cc -DMODEL=<stem>_<var> -DHEADER='"<stem>.h"'
 * gradcheck.c <stem>.c (see tests/gradcheck/models.test). For random inputs
 * and targets (batch 3) it computes the gradients with M_compute_gradients,
 * then, for a few coordinates of every trainable weight, the loss at w + h
 * and w - h (the Dropout generator reseeded before every evaluation, so the
 * masks are the same), and compares (L+ - L-) / 2h with the gradient (again
 * with h / 10 when they differ: a ReLU kink within h). This
 * checks the generated backward pass as a whole: the order of the ops, which
 * buffers are accumulated, zeroed, aliased and kept, and every kernel in its
 * place in the graph. Prints "N passed, N failed"; exit 1 on a mismatch.
 * GRADCHECK_SCALE=S: the gradients are S times the loss's (an optimizer's
 * loss_scale_factor); GRADCHECK_STOCHASTIC=1: the model must draw masks in
 * training (the loss changes with the seed, not with the same seed again).
 * A model with None input dimensions is built with -DDYN: GRADCHECK_DIMS
 * ("7 5") gives their sizes (the first ndims values), its training memory
 * is planned for them (M_plan_training) and every step takes them.
 */
#include HEADER

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(MODEL, x)
#ifdef DYN
#define DIMS dims,
#else
#define DIMS
#endif

static int dims[16];

static uint64_t rng = 88172645463325252ull;

static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double loss_at(MODEL *m, int batch, const void *const *in, const float *const *y) {
    kdl_StepResult r;
    FN(_seed)(m, 7);
    kdl_Status st = FN(_compute_gradients)(m, batch, DIMS in, y, &r);
    if (st != KDL_OK) {
        fprintf(stderr, "gradcheck: compute_gradients: %s\n", kdl_status_str(st));
        exit(2);
    }
    return r.loss;
}

int main(int argc, char **argv) {
    // gradcheck [labels] [H]: targets 0/1 (labels for sparse losses) or uniform.
    int labels = argc > 1 && !strcmp(argv[1], "labels");
    double h_rel = argc > 2 ? atof(argv[2]) : 1e-3;
    enum { BATCH = 3, PER_PARAM = 6 };
    MODEL *m = FN(_create_training)(BATCH);
    if (!m || FN(_init)(m, 42) != KDL_OK) {
        fprintf(stderr, "gradcheck: cannot create the model\n");
        return 2;
    }
    kdl_TrainModel tm;
    FN(_train_model)(m, &tm);
    int64_t in_sizes[16], tg_sizes[16];
    for (int i = 0; i < tm.ninputs && i < 16; i++)
        in_sizes[i] = tm.input_sizes[i];
    for (int i = 0; i < tm.ntargets && i < 16; i++)
        tg_sizes[i] = tm.target_sizes[i];
#ifdef DYN
    {
        const char *ds = getenv("GRADCHECK_DIMS");
        char *end;
        for (int k = 0; k < tm.ndims && k < 16; k++) {
            dims[k] = ds ? (int)strtol(ds, &end, 10) : 0;
            if (!ds || end == ds) {
                fprintf(stderr, "gradcheck: GRADCHECK_DIMS needs %d dims\n", tm.ndims);
                return 2;
            }
            ds = end;
        }
        char err[512];
        if (FN(_plan_training)(m, dims, err, sizeof err) != KDL_OK ||
            tm.sizes(dims, in_sizes, tg_sizes, err, sizeof err) != KDL_OK) {
            fprintf(stderr, "gradcheck: %s\n", err);
            return 2;
        }
    }
#endif
    const char *shift = getenv("GRADCHECK_SHIFT");
    if (shift && *shift) {
        // Move every trainable weight off its initial value (a LoRA layer's
        // b starts at zero, which would hide a's gradient).
        kdl_Param *ps;
        int np = FN(_parameters)(m, &ps);
        for (int i = 0; i < np; i++)
            for (size_t k = 0; k < ps[i].n; k++)
                ps[i].value[k] += (float)(0.6 * uniform() - 0.3);
    }
    const void *in[16];
    const float *y[16];
    for (int i = 0; i < tm.ninputs; i++) {
        size_t n = (size_t)BATCH * (size_t)in_sizes[i];
        if (tm.input_dtypes[i] == KDL_I32) {
            int32_t *ids = malloc(sizeof(int32_t) * (n + 1));
            for (size_t k = 0; k < n; k++)
                ids[k] = uniform() < 0.5 ? 0 : 1;
            in[i] = ids;
        } else {
            float *x = malloc(sizeof(float) * (n + 1));
            for (size_t k = 0; k < n; k++)
                x[k] = (float)(2 * uniform() - 1);
            in[i] = x;
        }
    }
    for (int i = 0; i < tm.ntargets; i++) {
        size_t n = (size_t)BATCH * (size_t)tg_sizes[i];
        float *t = malloc(sizeof(float) * (n + 1));
        for (size_t k = 0; k < n; k++)
            t[k] = labels ? (float)(uniform() < 0.5 ? 0 : 1) : (float)uniform();
        y[i] = t;
    }
    kdl_Param *p;
    int np = FN(_parameters)(m, &p);
    const char *stochastic = getenv("GRADCHECK_STOCHASTIC");
    if (stochastic && *stochastic) {
        // The model draws masks in training: another seed, another loss
        // (the same seed, the same loss).
        kdl_StepResult r1, r2, r3;
        FN(_seed)(m, 7);
        FN(_compute_gradients)(m, BATCH, DIMS in, y, &r1);
        FN(_seed)(m, 8);
        FN(_compute_gradients)(m, BATCH, DIMS in, y, &r2);
        FN(_seed)(m, 7);
        FN(_compute_gradients)(m, BATCH, DIMS in, y, &r3);
        if (r1.loss == r2.loss || r1.loss != r3.loss) {
            fprintf(stderr, "gradcheck: the loss does not depend on the seed as masks make it: "
                    "%.9g (seed 7), %.9g (seed 8), %.9g (seed 7)\n", r1.loss, r2.loss, r3.loss);
            return 1;
        }
    }
    (void)loss_at(m, BATCH, in, y);
    // GRADCHECK_SCALE: the optimizer's loss_scale_factor, by which the
    // gradients M_compute_gradients leaves exceed those of the logged loss.
    const char *scale_env = getenv("GRADCHECK_SCALE");
    double scale = scale_env && *scale_env ? atof(scale_env) : 1.0;
    float **g = malloc(sizeof(float *) * (size_t)(np + 1));
    for (int i = 0; i < np; i++) {
        g[i] = malloc(sizeof(float) * (p[i].n + 1));
        for (size_t k = 0; k < p[i].n; k++)
            g[i][k] = (float)(p[i].grad[k] / scale);
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < np; i++) {
        for (int k = 0; k < PER_PARAM && (size_t)k < p[i].n; k++) {
            size_t j = k == 0 ? 0 : (size_t)(uniform() * (double)p[i].n) % p[i].n;
            float w = p[i].value[j];
            double h = h_rel * fmax(1.0, fabs(w));
            p[i].value[j] = (float)(w + h);
            double hp = (double)p[i].value[j] - w;
            double lp = loss_at(m, BATCH, in, y);
            p[i].value[j] = (float)(w - h);
            double hm = w - (double)p[i].value[j];
            double lm = loss_at(m, BATCH, in, y);
            p[i].value[j] = w;
            double fd = (lp - lm) / (hp + hm), an = g[i][j];
            double tol = 2e-3 + 3e-2 * fmax(fabs(fd), fabs(an));
            if (fabs(fd - an) > tol) {
                // A ReLU or max-pool kink within h: try a step 10 times smaller.
                p[i].value[j] = (float)(w + h / 10);
                hp = (double)p[i].value[j] - w;
                lp = loss_at(m, BATCH, in, y);
                p[i].value[j] = (float)(w - h / 10);
                hm = w - (double)p[i].value[j];
                lm = loss_at(m, BATCH, in, y);
                p[i].value[j] = w;
                fd = (lp - lm) / (hp + hm);
                tol = 2e-3 + 3e-2 * fmax(fabs(fd), fabs(an));
            }
            if (fabs(fd - an) <= tol) {
                passed++;
            } else {
                failed++;
                if (failed <= 10)
                    fprintf(stderr, "gradcheck: parameter %d [%zu]: gradient %.6g, finite "
                            "difference %.6g\n", i, j, an, fd);
            }
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    for (int i = 0; i < tm.ninputs; i++)
        free((void *)in[i]);
    for (int i = 0; i < tm.ntargets; i++)
        free((void *)y[i]);
    for (int i = 0; i < np; i++)
        free(g[i]);
    free(g);
    FN(_destroy)(m);
    return failed ? 1 : 0;
}
