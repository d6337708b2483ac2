/*
 * test_gemm.c - kdl_sgemm against a naive triple loop, all four transpose
 * combinations, odd sizes, alpha/beta, and leading dimensions larger than
 * the matrix (sub-matrix views).
 */
#include "check.h"

static void naive(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                float av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += (double)av * bv;
            }
            c[(size_t)i * ldc + j] = (float)(alpha * s + beta * c[(size_t)i * ldc + j]);
        }
}

int main(void) {
    printf("gemm backend: %s\n", kdl_gemm_backend());
    const int sizes[][3] = {{1, 1, 1}, {1, 10, 64}, {7, 5, 3}, {17, 33, 65}, {64, 64, 64},
                            {70, 600, 300}, {129, 3, 257}, {3, 1000, 9}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
                int pad = check_int(0, 3);
                int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
                float *a = check_random((size_t)(ta ? k : m) * lda, -1, 1);
                float *b = check_random((size_t)(tb ? n : k) * ldb, -1, 1);
                float *c = check_random((size_t)m * ldc, -1, 1);
                float *r = check_alloc((size_t)m * ldc);
                for (size_t i = 0; i < (size_t)m * ldc; i++)
                    r[i] = c[i];
                float alpha = check_uniform(0.5f, 1.5f), beta = (s % 3 == 0) ? 0.0f : 0.5f;
                kdl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, ldc);
                char what[96];
                snprintf(what, sizeof what, "sgemm %dx%dx%d ta=%d tb=%d", m, n, k, ta, tb);
                check_close(what, c, r, (size_t)m * ldc, 1e-4, 1e-4);
                free(a), free(b), free(c), free(r);
            }
    }
    return check_report();
}
