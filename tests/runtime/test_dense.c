/*
 * test_dense.c - kdl_dense_forward against a naive double-precision
 * in @ w + b followed by the activation, for batch 1 and 7 and odd sizes,
 * with and without bias, for element-wise activations and for softmax /
 * log-softmax (per row of units).
 */
#include "check.h"

static double ref_act(double x, kdl_Act act, double alpha) {
    switch (act) {
    case KDL_ACT_LINEAR: return x;
    case KDL_ACT_RELU: return x > 0 ? x : 0;
    case KDL_ACT_LEAKY_RELU: return x >= 0 ? x : alpha * x;
    case KDL_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KDL_ACT_TANH: return tanh(x);
    case KDL_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case KDL_ACT_HARD_SIGMOID: return fmin(fmax(x + 3, 0), 6) / 6;
    default: return NAN;
    }
}

// out (n, units) = act(in (n, k) @ w (k, units) + b), in double.
static void naive_dense(float *out, const float *in, const float *w, const float *b, int n, int k,
                        int units, kdl_Act act, float alpha) {
    double *z = malloc(sizeof(double) * (size_t)(units ? units : 1));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < units; j++) {
            double s = b ? b[j] : 0.0;
            for (int p = 0; p < k; p++)
                s += (double)in[(size_t)i * k + p] * w[(size_t)p * units + j];
            z[j] = s;
        }
        if (act == KDL_ACT_SOFTMAX || act == KDL_ACT_LOG_SOFTMAX) {
            double sum = 0;
            for (int j = 0; j < units; j++)
                sum += exp(z[j]);
            for (int j = 0; j < units; j++)
                out[(size_t)i * units + j] =
                    (float)(act == KDL_ACT_SOFTMAX ? exp(z[j]) / sum : z[j] - log(sum));
        } else {
            for (int j = 0; j < units; j++)
                out[(size_t)i * units + j] = (float)ref_act(z[j], act, alpha);
        }
    }
    free(z);
}

int main(void) {
    printf("gemm backend: %s\n", kdl_gemm_backend());
    // {n, in_dim, units}
    const int shapes[][3] = {{1, 1, 1},   {1, 784, 10}, {7, 784, 10}, {1, 3, 513}, {7, 65, 33},
                             {2, 300, 1}, {7, 1, 7},    {1, 257, 129}, {13, 31, 17}, {7, 0, 5}};
    const kdl_Act acts[] = {KDL_ACT_LINEAR, KDL_ACT_RELU, KDL_ACT_LEAKY_RELU, KDL_ACT_SIGMOID,
                            KDL_ACT_TANH, KDL_ACT_GELU, KDL_ACT_HARD_SIGMOID, KDL_ACT_SOFTMAX,
                            KDL_ACT_LOG_SOFTMAX};
    const char *const names[] = {"linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu",
                                 "hard_sigmoid", "softmax", "log_softmax"};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
            for (int use_bias = 0; use_bias < 2; use_bias++) {
                int n = shapes[s][0], k = shapes[s][1], u = shapes[s][2];
                // Scale the weights so the pre-activations stay O(1)..O(10).
                float lim = 3.0f / sqrtf((float)(k ? k : 1));
                float *in = check_random((size_t)n * k, -1, 1);
                float *w = check_random((size_t)k * u, -lim, lim);
                float *b = use_bias ? check_random((size_t)u, -2, 2) : NULL;
                float *got = check_random((size_t)n * u, 1e6f, 2e6f);   // garbage to overwrite
                float *ref = check_alloc((size_t)n * u);
                float alpha = acts[a] == KDL_ACT_LEAKY_RELU ? 0.3f : 0.0f;
                kdl_dense_forward(got, in, w, b, n, k, u, acts[a], alpha);
                naive_dense(ref, in, w, b, n, k, u, acts[a], alpha);
                char what[96];
                snprintf(what, sizeof what, "dense (%d, %d) -> %d %s%s", n, k, u, names[a],
                         use_bias ? " +bias" : "");
                check_close(what, got, ref, (size_t)n * u, 1e-5, 1e-4);
                free(in), free(w), free(b), free(got), free(ref);
            }
    return check_report();
}
