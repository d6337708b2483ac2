/*
 * test_act.c - kdl_act_forward, kdl_softmax_forward and
 * kdl_activation_forward against naive double-precision references written
 * from Keras 3's definitions, on random data of odd lengths; special points
 * (0, large +/-, NaN, values worked out by hand from the Keras formulas);
 * softmax and log-softmax per row with batch 1 and 7, with logits far beyond
 * expf's range; in-place calls.
 */
#include "check.h"

#include <string.h>

#define N_ACTS 16

static const char *const act_names[N_ACTS] = {
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu",
    "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
    "exponential",
};

static int is_softmax(kdl_Act act) {
    return act == KDL_ACT_SOFTMAX || act == KDL_ACT_LOG_SOFTMAX;
}

// The textbook forms, in double (no stabilising rewrites: the data stays
// where they do not overflow).
static double ref_act(double x, kdl_Act act, double alpha) {
    switch (act) {
    case KDL_ACT_LINEAR: return x;
    case KDL_ACT_RELU: return x > 0 ? x : 0;
    case KDL_ACT_RELU6: return fmin(fmax(x, 0), 6);
    case KDL_ACT_LEAKY_RELU: return x >= 0 ? x : alpha * x;
    case KDL_ACT_ELU: return x > 0 ? x : alpha * (exp(x) - 1);
    case KDL_ACT_SELU: return 1.05070098 * (x > 0 ? x : 1.67326324 * (exp(x) - 1));
    case KDL_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case KDL_ACT_SILU: return x / (1 + exp(-x));
    case KDL_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KDL_ACT_HARD_SIGMOID: return fmin(fmax(x + 3, 0), 6) / 6;
    case KDL_ACT_TANH: return tanh(x);
    case KDL_ACT_SOFTPLUS: return log(1 + exp(x));
    case KDL_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case KDL_ACT_EXPONENTIAL: return exp(x);
    default: return NAN;
    }
}

// Row-wise softmax / log-softmax in double, no max subtraction (|x| < 700).
static void ref_softmax(float *out, const float *in, size_t rows, size_t cols, int log_) {
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (size_t j = 0; j < cols; j++)
            s += exp((double)in[r * cols + j]);
        for (size_t j = 0; j < cols; j++) {
            double x = in[r * cols + j];
            out[r * cols + j] = (float)(log_ ? x - log(s) : exp(x) / s);
        }
    }
}

// Random element-wise data through kdl_act_forward (fresh output and in
// place) and kdl_activation_forward.
static void test_elementwise(void) {
    const size_t sizes[] = {1, 2, 7, 8, 9, 31, 64, 1000, 4099};
    for (int a = 0; a < N_ACTS; a++) {
        kdl_Act act = (kdl_Act)a;
        if (is_softmax(act))
            continue;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            float alpha = act == KDL_ACT_LEAKY_RELU ? 0.2f : act == KDL_ACT_ELU ? 1.0f : 0.0f;
            if (s % 2 == 1 && alpha != 0.0f)
                alpha = check_uniform(0.05f, 2.0f);
            float *x = check_random(n, -10, 10);
            float *got = check_alloc(n), *ref = check_alloc(n);
            for (size_t i = 0; i < n; i++)
                ref[i] = (float)ref_act(x[i], act, alpha);
            char what[96];
            snprintf(what, sizeof what, "act %s n=%zu", act_names[a], n);
            kdl_act_forward(got, x, n, act, alpha);
            check_close(what, got, ref, n, 1e-6, 1e-5);
            // kdl_activation_forward over (rows, cols), in place.
            size_t rows = n % 7 == 0 ? 7 : 1;
            snprintf(what, sizeof what, "activation %s (%zu, %zu) in place", act_names[a], rows,
                     n / rows);
            kdl_activation_forward(x, x, rows, n / rows, act, alpha);
            check_close(what, x, ref, n, 1e-6, 1e-5);
            free(x), free(got), free(ref);
        }
    }
}

// Expected values at chosen points, from the Keras formulas by hand.
typedef struct {
    kdl_Act act;
    float alpha, x;
    double want;
} Point;

static const Point points[] = {
    {KDL_ACT_LINEAR, 0, -3.5f, -3.5},
    {KDL_ACT_RELU, 0, 0, 0},
    {KDL_ACT_RELU, 0, -5, 0},
    {KDL_ACT_RELU, 0, 5, 5},
    {KDL_ACT_RELU, 0, -1e30f, 0},
    {KDL_ACT_RELU6, 0, 7, 6},
    {KDL_ACT_RELU6, 0, 6, 6},
    {KDL_ACT_RELU6, 0, 3, 3},
    {KDL_ACT_RELU6, 0, -1, 0},
    {KDL_ACT_RELU6, 0, 1e30f, 6},
    {KDL_ACT_LEAKY_RELU, 0.2f, -2, -0.4},
    {KDL_ACT_LEAKY_RELU, 0.2f, 3, 3},
    {KDL_ACT_LEAKY_RELU, 0.3f, 0, 0},
    {KDL_ACT_ELU, 1.0f, -1, -0.6321205588285577},         // exp(-1) - 1
    {KDL_ACT_ELU, 0.5f, -2, -0.43233235838169365},        // 0.5 (exp(-2) - 1)
    {KDL_ACT_ELU, 1.0f, -1000, -1},
    {KDL_ACT_ELU, 1.0f, 2, 2},
    {KDL_ACT_ELU, 1.0f, 0, 0},
    {KDL_ACT_SELU, 0, 1, 1.05070098},
    {KDL_ACT_SELU, 0, 0, 0},
    {KDL_ACT_SELU, 0, -1, -1.1113307284689349},           // scale alpha (exp(-1) - 1)
    {KDL_ACT_SELU, 0, -1000, -1.7580993260659752},        // -scale alpha
    {KDL_ACT_GELU, 0, 0, 0},
    {KDL_ACT_GELU, 0, 1, 0.8413447460685429},             // 0.5 (1 + erf(1 / sqrt 2))
    {KDL_ACT_GELU, 0, -1, -0.15865525393145707},
    {KDL_ACT_GELU, 0, 2, 1.9544997361036416},
    {KDL_ACT_GELU, 0, 10, 10},
    {KDL_ACT_GELU, 0, -10, 0},
    {KDL_ACT_SILU, 0, 0, 0},
    {KDL_ACT_SILU, 0, 1, 0.7310585786300049},
    {KDL_ACT_SILU, 0, -1, -0.2689414213699951},
    {KDL_ACT_SILU, 0, 1000, 1000},
    {KDL_ACT_SILU, 0, -1000, 0},
    {KDL_ACT_SIGMOID, 0, 0, 0.5},
    {KDL_ACT_SIGMOID, 0, 1, 0.7310585786300049},
    {KDL_ACT_SIGMOID, 0, 2, 0.8807970779778823},
    {KDL_ACT_SIGMOID, 0, 1000, 1},
    {KDL_ACT_SIGMOID, 0, -1000, 0},
    {KDL_ACT_SIGMOID, 0, 89, 1},
    {KDL_ACT_SIGMOID, 0, -89, 0},
    {KDL_ACT_HARD_SIGMOID, 0, 0, 0.5},
    {KDL_ACT_HARD_SIGMOID, 0, 1, 4.0 / 6.0},
    {KDL_ACT_HARD_SIGMOID, 0, -3, 0},
    {KDL_ACT_HARD_SIGMOID, 0, 3, 1},
    {KDL_ACT_HARD_SIGMOID, 0, -4, 0},
    {KDL_ACT_HARD_SIGMOID, 0, 10, 1},
    {KDL_ACT_HARD_SIGMOID, 0, -1.5f, 0.25},
    {KDL_ACT_TANH, 0, 0, 0},
    {KDL_ACT_TANH, 0, 1, 0.7615941559557649},
    {KDL_ACT_TANH, 0, 1000, 1},
    {KDL_ACT_TANH, 0, -1000, -1},
    {KDL_ACT_SOFTPLUS, 0, 0, 0.6931471805599453},         // log 2
    {KDL_ACT_SOFTPLUS, 0, 1, 1.3132616875182228},
    {KDL_ACT_SOFTPLUS, 0, -1, 0.31326168751822286},
    {KDL_ACT_SOFTPLUS, 0, 100, 100},
    {KDL_ACT_SOFTPLUS, 0, 1000, 1000},
    {KDL_ACT_SOFTPLUS, 0, -1000, 0},
    {KDL_ACT_SOFTSIGN, 0, 1, 0.5},
    {KDL_ACT_SOFTSIGN, 0, -3, -0.75},
    {KDL_ACT_SOFTSIGN, 0, 0, 0},
    {KDL_ACT_SOFTSIGN, 0, 1e30f, 1},
    {KDL_ACT_EXPONENTIAL, 0, 0, 1},
    {KDL_ACT_EXPONENTIAL, 0, 1, 2.718281828459045},
    {KDL_ACT_EXPONENTIAL, 0, -1000, 0},
    {KDL_ACT_EXPONENTIAL, 0, 1000, INFINITY},
};

static void test_points(void) {
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        const Point *p = &points[i];
        float got;
        kdl_act_forward(&got, &p->x, 1, p->act, p->alpha);
        int ok = isinf(p->want) ? got == (float)p->want
                                : fabs((double)got - p->want) <= 1e-6 + 1e-6 * fabs(p->want);
        char what[128];
        snprintf(what, sizeof what, "%s(%g) = %.9g, want %.9g", act_names[p->act], (double)p->x,
                 (double)got, p->want);
        check_true(what, ok);
    }
    // NaN propagates through every element-wise activation, in a vector-length batch.
    for (int a = 0; a < N_ACTS; a++) {
        if (is_softmax((kdl_Act)a))
            continue;
        float x[17], y[17];
        for (int i = 0; i < 17; i++)
            x[i] = i % 3 == 1 ? NAN : (float)(i - 8);
        kdl_act_forward(y, x, 17, (kdl_Act)a, 0.2f);
        int ok = 1;
        for (int i = 0; i < 17; i++)
            if ((i % 3 == 1) != (isnan(y[i]) != 0))
                ok = 0;
        char what[64];
        snprintf(what, sizeof what, "%s propagates NaN (only)", act_names[a]);
        check_true(what, ok);
    }
}

static void test_softmax(void) {
    const size_t rows[] = {1, 7, 3};
    const size_t cols[] = {1, 2, 10, 33, 1000};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            for (int lg = 0; lg < 2; lg++) {
                size_t n = rows[r] * cols[c];
                float range = c % 2 ? 80.0f : 5.0f;
                float *x = check_random(n, -range, range);
                float *got = check_alloc(n), *ref = check_alloc(n);
                ref_softmax(ref, x, rows[r], cols[c], lg);
                char what[96];
                snprintf(what, sizeof what, "%s (%zu, %zu) range %g",
                         lg ? "log_softmax" : "softmax", rows[r], cols[c], (double)range);
                kdl_softmax_forward(got, x, rows[r], cols[c], lg);
                check_close(what, got, ref, n, lg ? 1e-5 : 1e-7, 1e-5);
                if (!lg) {
                    int ok = 1;
                    for (size_t i = 0; i < rows[r]; i++) {
                        double s = 0;
                        for (size_t j = 0; j < cols[c]; j++)
                            s += got[i * cols[c] + j];
                        ok &= fabs(s - 1) < 1e-5;
                    }
                    snprintf(what, sizeof what, "softmax (%zu, %zu) rows sum to 1", rows[r],
                             cols[c]);
                    check_true(what, ok);
                }
                // The generic entry point, in place.
                snprintf(what, sizeof what, "activation %s (%zu, %zu) in place",
                         lg ? "log_softmax" : "softmax", rows[r], cols[c]);
                kdl_activation_forward(x, x, rows[r], cols[c],
                                       lg ? KDL_ACT_LOG_SOFTMAX : KDL_ACT_SOFTMAX, 0.0f);
                check_close(what, x, ref, n, lg ? 1e-5 : 1e-7, 1e-5);
                free(x), free(got), free(ref);
            }

    // Logits far outside expf's range: stable only if the max is subtracted.
    {
        const float x[] = {1000, 1000, -1000, 0, 1000, 0, -1000, 88, 89, 90};
        const float sm[] = {0.5f, 0.5f, 0, 1, 1, 0, 0, 0.09003057317038046f,
                            0.24472847105479764f, 0.6652409557748219f};
        const float ls[] = {-0.6931471805599453f, -0.6931471805599453f, -1000, 0, 0, -1000, -2000,
                            -2.40760596444438f, -1.40760596444438f, -0.40760596444438f};
        float got[10];
        kdl_softmax_forward(got, x, 1, 2, 0);          // [1000, 1000]
        kdl_softmax_forward(got + 2, x + 2, 1, 2, 0);  // [-1000, 0]
        kdl_softmax_forward(got + 4, x + 4, 1, 3, 0);  // [1000, 0, -1000]
        kdl_softmax_forward(got + 7, x + 7, 1, 3, 0);  // [88, 89, 90]
        check_close("softmax of huge logits", got, sm, 10, 1e-7, 1e-6);
        kdl_softmax_forward(got, x, 1, 2, 1);
        kdl_softmax_forward(got + 2, x + 2, 1, 2, 1);
        kdl_softmax_forward(got + 4, x + 4, 1, 3, 1);
        kdl_softmax_forward(got + 7, x + 7, 1, 3, 1);
        check_close("log_softmax of huge logits", got, ls, 10, 1e-5, 1e-6);
    }

    // kdl_act_forward with SOFTMAX treats its n values as one row.
    {
        float x[12], got[12], ref[12];
        for (int i = 0; i < 12; i++)
            x[i] = check_uniform(-3, 3);
        ref_softmax(ref, x, 1, 12, 0);
        kdl_act_forward(got, x, 12, KDL_ACT_SOFTMAX, 0.0f);
        check_close("act_forward softmax is one row", got, ref, 12, 1e-7, 1e-5);
        ref_softmax(ref, x, 1, 12, 1);
        kdl_act_forward(got, x, 12, KDL_ACT_LOG_SOFTMAX, 0.0f);
        check_close("act_forward log_softmax is one row", got, ref, 12, 1e-6, 1e-5);
    }
}

// The input casts: ints exactly to float; floats toward zero, and what has
// no int32 value (NaN, infinities, out of range) to INT32_MIN.
static void test_casts(void) {
    const int32_t ints[] = {0, -7, 123456789, INT32_MIN, INT32_MAX};
    float f[5];
    kdl_cast_i32_to_f32(f, ints, 5);
    for (int i = 0; i < 5; i++)
        check_true("int32 -> float", f[i] == (float)ints[i]);
    const float fl[] = {2.9f, -2.9f, 0.5f, -0.0f, 2147483520.0f, 2147483648.0f, -2147483648.0f,
                        -3e9f, NAN, INFINITY, -INFINITY};
    const int32_t want[] = {2, -2, 0, 0, 2147483520, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN,
                            INT32_MIN, INT32_MIN};
    int32_t got[11];
    kdl_cast_f32_to_i32(got, fl, 11);
    for (int i = 0; i < 11; i++) {
        char what[96];
        snprintf(what, sizeof what, "float %g -> int32 %ld, want %ld", (double)fl[i],
                 (long)got[i], (long)want[i]);
        check_true(what, got[i] == want[i]);
    }
}

// keras.layers.ReLU's general form against keras.activations.relu written
// out case by case (double), plus points checked by hand.
static void test_relu_general(void) {
    static const float slopes[] = {0.0f, 0.1f, 0.3f}, maxes[] = {0.0f, 0.8f, 6.0f},
                       thresholds[] = {0.0f, 0.3f, 1.5f};
    size_t n = 257;
    float *x = check_random(n, -3, 3), *y = check_alloc(n), *r = check_alloc(n);
    for (int si = 0; si < 3; si++)
        for (int mi = 0; mi < 3; mi++)
            for (int ti = 0; ti < 3; ti++) {
                int has_max = mi > 0;
                double slope = slopes[si], mx = maxes[mi], th = thresholds[ti];
                for (size_t i = 0; i < n; i++) {
                    double v = x[i];
                    double out = v > th ? v : 0.0;      // x * (x > threshold)
                    if (has_max)
                        out = fmin(fmax(out, 0.0), mx); // clip(x, 0, max_value)
                    if (slope != 0.0)
                        out -= slope * fmax(th - v, 0.0);
                    r[i] = (float)out;
                }
                kdl_relu_general_forward(y, x, n, slopes[si], has_max, maxes[mi],
                                         thresholds[ti]);
                char what[96];
                snprintf(what, sizeof what, "relu_general slope=%g max=%g/%d threshold=%g",
                         slope, mx, has_max, th);
                check_close(what, y, r, n, 1e-6, 1e-6);
            }
    // By hand: ReLU(max_value=2, negative_slope=0.5, threshold=1).
    const float px[] = {-1.0f, 0.5f, 1.0f, 1.5f, 3.0f};
    const float py[] = {-1.0f, -0.25f, 0.0f, 1.5f, 2.0f};
    float got[5];
    kdl_relu_general_forward(got, px, 5, 0.5f, 1, 2.0f, 1.0f);
    check_close("relu_general by hand", got, py, 5, 0, 0);
    free(x), free(y), free(r);
}

int main(void) {
    test_relu_general();
    test_casts();
    test_elementwise();
    test_points();
    test_softmax();
    return check_report();
}
