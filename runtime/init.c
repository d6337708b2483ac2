/*
 * init.c - the random generator and Keras's weight initializers.
 *
 * kdl_Rng is xoshiro256** (Blackman & Vigna) seeded with splitmix64, so a
 * seed gives the same weights on every platform. The initializers take
 * parameters the compiler has already derived from Keras's definitions
 * (variance scaling's limits and standard deviations, orthogonal's gain).
 * Values are drawn in order, element 0 first, so an initialisation is
 * reproducible from the seed alone.
 */
#include "kdl.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void kdl_rng_seed(kdl_Rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t kdl_rng_next(kdl_Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double kdl_rng_uniform(kdl_Rng *r) {
    return (double)(kdl_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

// Box-Muller; one value per call keeps the stream simple to reproduce.
double kdl_rng_normal(kdl_Rng *r) {
    double u1 = kdl_rng_uniform(r), u2 = kdl_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void kdl_init_uniform(float *w, size_t n, float lo, float hi, kdl_Rng *r) {
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(lo + (hi - lo) * kdl_rng_uniform(r));
}

void kdl_init_normal(float *w, size_t n, float mean, float stddev, int truncated, kdl_Rng *r) {
    for (size_t i = 0; i < n; i++) {
        double z = kdl_rng_normal(r);
        while (truncated && fabs(z) > 2.0)
            z = kdl_rng_normal(r);
        w[i] = (float)(mean + stddev * z);
    }
}

void kdl_init_constant(float *w, size_t n, float value) {
    for (size_t i = 0; i < n; i++)
        w[i] = value;
}

// Orthonormal columns by modified Gram-Schmidt on a normal matrix of shape
// (max(rows, cols), min(rows, cols)): this is the Q of its QR decomposition
// with positive diag(R), which is what Keras's q *= sign(diag(r)) gives.
// Columns are built in w itself (no allocation): when rows >= cols, w is
// (rows, cols) = Q; otherwise w = Q^T, built in the transposed layout.
void kdl_init_orthogonal(float *w, int rows, int cols, float gain, kdl_Rng *r) {
    int m = rows > cols ? rows : cols, k = rows > cols ? cols : rows;

    int tr = rows < cols;   // Q is (m, k); w holds Q (tr = 0) or Q^T (tr = 1)
#define Q(i, j)                                                                                    \
    w[tr ? (size_t)(j) * (size_t)cols + (size_t)(i) : (size_t)(i) * (size_t)cols + (size_t)(j)]
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++)
            Q(i, j) = (float)kdl_rng_normal(r);
    for (int j = 0; j < k; j++) {
        for (int p = 0; p < j; p++) {
            double dot = 0;
            for (int i = 0; i < m; i++)
                dot += (double)Q(i, p) * Q(i, j);
            for (int i = 0; i < m; i++)
                Q(i, j) -= (float)(dot * Q(i, p));
        }
        double norm = 0;
        for (int i = 0; i < m; i++)
            norm += (double)Q(i, j) * Q(i, j);
        norm = sqrt(norm);
        for (int i = 0; i < m; i++)
            Q(i, j) = norm > 0 ? (float)(Q(i, j) / norm) : 0.0f;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++)
            Q(i, j) *= gain;
#undef Q
}
