/*
 * gemm.c - single-precision matrix multiply, the engine under dense and
 * convolution layers.
 *
 * With OpenBLAS (the default build) kdl_sgemm is cblas_sgemm. With
 * NO_BLAS=1 it is a portable, dependency-free GEMM: C is computed in
 * MC x NC blocks, with A's rows and B's panel packed so the inner loop runs
 * over contiguous memory and the compiler can vectorise it. Same contract
 * as cblas_sgemm(CblasRowMajor, ...).
 *
 * Either way the file also has the register-tile micro-kernel of the direct
 * convolutions (kdl_tile_gemm, internal.h): AVX-512 code compiled with a
 * target attribute and chosen at run time, so the library needs no -march.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

// ---- register tiles (AVX-512) --------------------------------------------------------

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

// C = alpha acc (+ bias, ReLU) or C = beta C + alpha acc for one vector x
// of row ci (v: which vector of the tile, the last one masked).
__attribute__((target("avx512f"))) static inline void tile_put(const kdl_Tile *t, float *ci,
                                                                __m512 x, int v, int nv) {
    const __mmask16 m = v == nv - 1 ? (__mmask16)t->mask : (__mmask16)0xffff;
    x = _mm512_mul_ps(_mm512_set1_ps(t->alpha), x);
    if (t->mode == KDL_TILE_ADD) {
        const __m512 old = _mm512_maskz_loadu_ps(m, ci + 16 * v);
        x = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(t->beta), old), x);
    } else {
        if (t->bias)
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, t->bias + 16 * v));
        if (t->relu) {  // x < 0 ? 0 : x, as act.c (NaN and -0 pass through)
            const __m512 zero = _mm512_setzero_ps();
            x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), zero);
        }
    }
    _mm512_mask_storeu_ps(ci + 16 * v, m, x);
}

// One instance per (MR, NV): the tile's MR x NV accumulators live in zmm
// registers (at most 24 of the 32), so MR and NV must be constants and the
// loops over them fully unrolled. Per k step: NV loads of B, MR broadcasts
// of A, MR * NV FMAs. A's rows are read through one pointer per three rows
// (row 3g + r at p[g] + r * ai: base + index * scale addressing), which
// keeps the general-purpose registers from spilling.
#define TILE_KERNEL(MR, NV)                                                                       \
    __attribute__((target("avx512f"))) static void tile_##MR##_##NV(                            \
        const kdl_Tile *t, float *c, const float *a, const float *b) {                            \
        enum { G = (MR + 2) / 3 };                                                                \
        __m512 acc[MR][NV];                                                                       \
        const __mmask16 m = (__mmask16)t->mask;                                                   \
        const ptrdiff_t ai = t->ai, ak = t->ak, bk = t->bk;                                       \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                    \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps(); \
        for (int s1 = 0; s1 < t->n1; s1++)                                                        \
            for (int s2 = 0; s2 < t->n2; s2++) {                                                  \
                const float *p[G];                                                                \
                _Pragma("GCC unroll 4") for (int g = 0; g < G; g++)                              \
                    p[g] = a + (s1 * t->a1 + s2 * t->a2 + 3 * g * ai);                            \
                const float *bp = b + (s1 * t->b1 + s2 * t->b2);                                  \
                for (int k = 0; k < t->len; k++, bp += bk) {                                      \
                    __m512 bv[NV];                                                                \
                    _Pragma("GCC unroll 2") for (int v = 0; v < NV - 1; v++)                     \
                        bv[v] = _mm512_loadu_ps(bp + 16 * v);                                     \
                    bv[NV - 1] = _mm512_maskz_loadu_ps(m, bp + 16 * (NV - 1));                    \
                    _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                      \
                        const __m512 av = _mm512_set1_ps(p[i / 3][(i % 3) * ai]);                 \
                        _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                     \
                            acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);                    \
                    }                                                                             \
                    _Pragma("GCC unroll 4") for (int g = 0; g < G; g++) p[g] += ak;              \
                }                                                                                 \
            }                                                                                     \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                    \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                                 \
                tile_put(t, c + i * t->ldc, acc[i][v], v, NV);                                    \
    }

#define TILE_KERNELS(MR) TILE_KERNEL(MR, 1) TILE_KERNEL(MR, 2)
TILE_KERNELS(1) TILE_KERNELS(2) TILE_KERNELS(3) TILE_KERNELS(4) TILE_KERNELS(5) TILE_KERNELS(6)
TILE_KERNELS(7) TILE_KERNELS(8) TILE_KERNELS(9) TILE_KERNELS(10) TILE_KERNELS(11) TILE_KERNELS(12)
#undef TILE_KERNELS

typedef void TileFn(const kdl_Tile *t, float *c, const float *a, const float *b);
#define TILE_PAIR(MR) {tile_##MR##_1, tile_##MR##_2}
static TileFn *const tile_fns[KDL_TILE_MR][2] = {
    TILE_PAIR(1), TILE_PAIR(2), TILE_PAIR(3), TILE_PAIR(4), TILE_PAIR(5),  TILE_PAIR(6),
    TILE_PAIR(7), TILE_PAIR(8), TILE_PAIR(9), TILE_PAIR(10), TILE_PAIR(11), TILE_PAIR(12),
};
#undef TILE_PAIR

int kdl_tile_available(void) {
    static atomic_int avail = -1;   // every thread computes the same value
    int a = atomic_load_explicit(&avail, memory_order_relaxed);
    if (a < 0) {
        const char *off = getenv("KDL_NO_AVX512");
        a = __builtin_cpu_supports("avx512f") && !(off && *off && *off != '0');
        atomic_store_explicit(&avail, a, memory_order_relaxed);
    }
    return a;
}

void kdl_tile_gemm(const kdl_Tile *t, int mr, int nv, float *c, const float *a, const float *b) {
    tile_fns[mr - 1][nv - 1](t, c, a, b);
}

// ---- kdl_sgemm on the register tiles ----
//
// With AVX-512, C = alpha A B + beta C (m > 1) runs on the tiles and
// the runtime's thread pool instead of OpenBLAS (whose helper threads, after
// a multi-threaded call, spin for a long time on the cores the pool needs)
// or the portable loops: about twice OpenBLAS's Haswell kernels here. C's
// rows are cut into tiles of at most KDL_TILE_MR (the threads split them),
// its columns into blocks of 32, K into blocks of TILE_KC (so a block of B
// stays in L1 while a thread's row tiles pass over it; B transposed is
// packed per block). Each element sums its K blocks in order: the same
// bits for any thread count.

#define TILE_KC 256

typedef struct TileGemm {
    int ta, tb, m, n, k, lda, ldb, ldc, ntiles;
    const float *a, *b;
    float *c;
    float alpha, beta;
} TileGemm;

static void tile_gemm_task(void *ctx, size_t t0, size_t t1) {
    const TileGemm *g = ctx;
    static _Thread_local float pack[TILE_KC * 32];    // a block of B transposed
    kdl_Tile t = {0};
    t.n1 = t.n2 = 1;
    t.ai = g->ta ? 1 : g->lda;
    t.ak = g->ta ? g->lda : 1;
    t.ldc = g->ldc;
    t.alpha = g->alpha;
    for (int j0 = 0; j0 < g->n; j0 += 32) {
        const int nf = g->n - j0 < 32 ? g->n - j0 : 32, nv = (nf + 15) / 16;
        const int rem = nf - 16 * (nv - 1);
        t.mask = rem == 16 ? 0xffffu : (1u << rem) - 1;
        for (int p0 = 0; p0 < g->k; p0 += TILE_KC) {
            const int kc = g->k - p0 < TILE_KC ? g->k - p0 : TILE_KC;
            const float *bp = g->b + (size_t)p0 * g->ldb + j0;
            t.bk = g->ldb;
            if (g->tb) {    // B (n, k) stored: pack[kk][j] = B[j0 + j][p0 + kk]
                for (int j = 0; j < nf; j++) {
                    const float *src = g->b + (size_t)(j0 + j) * g->ldb + p0;
                    for (int kk = 0; kk < kc; kk++)
                        pack[kk * 32 + j] = src[kk];
                }
                bp = pack;
                t.bk = 32;
            }
            t.len = kc;
            // The first block applies beta (0: C is not read, as BLAS), the rest add.
            t.mode = p0 == 0 && g->beta == 0.0f ? KDL_TILE_STORE : KDL_TILE_ADD;
            t.beta = p0 == 0 ? g->beta : 1.0f;
            for (size_t ti = t0; ti < t1; ti++) {
                const int r0 = (int)((size_t)g->m * ti / g->ntiles);
                const int r1 = (int)((size_t)g->m * (ti + 1) / g->ntiles);
                const float *ap = g->ta ? g->a + (size_t)p0 * g->lda + r0
                                        : g->a + (size_t)r0 * g->lda + p0;
                kdl_tile_gemm(&t, r1 - r0, nv, g->c + (size_t)r0 * g->ldc + j0, ap, bp);
            }
        }
    }
}

// One row, B not transposed: c (n) = alpha a B + beta c, in column blocks
// of up to GEMV_COLS over the thread pool. Per block, B's rows stream in
// order, each column accumulating over k in one FMA chain (NV chains in
// registers), so no value depends on the split.
#define GEMV_COLS 256

typedef struct TileGemv {
    const float *a, *b;
    float *c;
    int n, k, inca, ldb;
    float alpha, beta;
} TileGemv;

#define GEMV_KERNEL(NV)                                                                           \
    __attribute__((target("avx512f"))) static void gemv_##NV(const TileGemv *g, int j0, int nf) { \
        __m512 acc[NV];                                                                           \
        __mmask16 m[NV];                                                                          \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {                                  \
            const int r = nf - 16 * v;                                                            \
            m[v] = r >= 16 ? 0xffff : r > 0 ? (__mmask16)((1u << r) - 1) : 0;                    \
            acc[v] = _mm512_setzero_ps();                                                         \
        }                                                                                         \
        const float *row = g->b + j0;                                                             \
        for (int kk = 0; kk < g->k; kk++, row += g->ldb) {                                        \
            const __m512 av = _mm512_set1_ps(g->a[(size_t)kk * g->inca]);                         \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                                \
                acc[v] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m[v], row + 16 * v), acc[v]); \
        }                                                                                         \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {                                  \
            __m512 x = _mm512_mul_ps(_mm512_set1_ps(g->alpha), acc[v]);                           \
            if (g->beta != 0.0f) {                                                                \
                const __m512 old = _mm512_maskz_loadu_ps(m[v], g->c + j0 + 16 * v);               \
                x = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(g->beta), old), x);                \
            }                                                                                     \
            _mm512_mask_storeu_ps(g->c + j0 + 16 * v, m[v], x);                                   \
        }                                                                                         \
    }
GEMV_KERNEL(16)
GEMV_KERNEL(4)
GEMV_KERNEL(1)
#undef GEMV_KERNEL

// Column blocks [q0, q1): full blocks of 16 vectors, a last partial block
// 4 then 1 vector at a time.
static void gemv_task(void *ctx, size_t q0, size_t q1) {
    const TileGemv *g = ctx;
    for (size_t q = q0; q < q1; q++) {
        int j0 = (int)q * GEMV_COLS;
        const int end = g->n - j0 < GEMV_COLS ? g->n : j0 + GEMV_COLS;
        if (end - j0 == GEMV_COLS) {
            gemv_16(g, j0, GEMV_COLS);
            continue;
        }
        for (; end - j0 > 16; j0 += 64)
            gemv_4(g, j0, end - j0 < 64 ? end - j0 : 64);
        if (j0 < end)
            gemv_1(g, j0, end - j0);
    }
}

// kdl_sgemm on the tiles when it can (a product to add; one row only with
// B not transposed).
// The largest B (floats) kdl_sgemm gives the register tiles.
#define TILE_MAX_B ((size_t)256 * 1024)

static int tile_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m < 1 || n < 1 || k < 1 || alpha == 0.0f || !kdl_tile_available())
        return 0;
    // The tiles stream B (k x n) unpacked from memory for every row tile:
    // past a megabyte (more than a core's L2) a packing BLAS is faster
    // (OpenBLAS: mlp784 1.45x at batch 256, 1.36x at batch 1 on an
    // AVX-512 Xeon), so large B goes to it.
    if ((size_t)k * (size_t)n > TILE_MAX_B)
        return 0;
    if (m == 1) {
        if (trans_b)
            return 0;
        TileGemv g = {a, b, c, n, k, trans_a ? lda : 1, ldb, alpha, beta};
        kdl_parallel_for((size_t)(n + GEMV_COLS - 1) / GEMV_COLS, kdl_grain((size_t)k * GEMV_COLS),
                         gemv_task, &g);
        return 1;
    }
    TileGemm g = {trans_a, trans_b, m, n, k, lda, ldb, ldc, (m + KDL_TILE_MR - 1) / KDL_TILE_MR,
                  a, b, c, alpha, beta};
    const size_t cost = (size_t)n * k * KDL_TILE_MR / 16;     // 16 multiply-adds per unit
    kdl_parallel_for((size_t)g.ntiles, kdl_grain(cost), tile_gemm_task, &g);
    return 1;
}

#else

static int tile_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    return 0;
}

int kdl_tile_available(void) {
    return 0;
}

void kdl_tile_gemm(const kdl_Tile *t, int mr, int nv, float *c, const float *a, const float *b) {
    (void)t, (void)mr, (void)nv, (void)c, (void)a, (void)b;
}

#endif

// ---- kdl_sgemm ---------------------------------------------------------------------------

#ifndef KDL_NO_BLAS
#include <cblas.h>

void kdl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
    if (tile_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    if (m == 1 && k > 0) {
        // One row (batch-1 inference): a matrix-vector product. OpenBLAS's
        // sgemm would repack all of B on every call; sgemv reads it once
        // (measured 4x faster for 64x128 and 1024x1024).
        int incx = trans_a ? lda : 1;
        kdl_gemm_begin();
        if (trans_b)    // B stored (n, k): c = B a
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, alpha, b, ldb, a, incx, beta, c, 1);
        else            // B stored (k, n): c = B^T a
            cblas_sgemv(CblasRowMajor, CblasTrans, k, n, alpha, b, ldb, a, incx, beta, c, 1);
        kdl_gemm_end();
        return;
    }
    kdl_gemm_begin();
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    kdl_gemm_end();
}

const char *kdl_gemm_backend(void) {
    return "openblas";
}

#else

#define MC 64
#define KC 256
#define NC 512

// Element (i, p) of op(A) and (p, j) of op(B).
static inline float at_a(const float *a, int lda, int trans, int i, int p) {
    return trans ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
}

static inline float at_b(const float *b, int ldb, int trans, int p, int j) {
    return trans ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
}

void kdl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
    if (tile_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    // C = beta * C first, then accumulate alpha * A @ B block by block.
    for (int i = 0; i < m; i++) {
        float *row = c + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(row, 0, sizeof(float) * (size_t)n);
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++)
                row[j] *= beta;
    }
    if (k == 0 || alpha == 0.0f)
        return;
    if (m == 1 && !trans_b) {
        // One row: stream B's rows once, no packing.
        for (int p = 0; p < k; p++) {
            float av = alpha * at_a(a, lda, trans_a, 0, p);
            const float *brow = b + (size_t)p * ldb;
            for (int j = 0; j < n; j++)
                c[j] += av * brow[j];
        }
        return;
    }
    static _Thread_local float bpack[KC * NC];
    static _Thread_local float apack[MC * KC];
    for (int jc = 0; jc < n; jc += NC) {
        int nb = n - jc < NC ? n - jc : NC;
        for (int pc = 0; pc < k; pc += KC) {
            int kb = k - pc < KC ? k - pc : KC;
            // Pack B[pc:pc+kb, jc:jc+nb] row-major (kb, nb).
            for (int p = 0; p < kb; p++)
                for (int j = 0; j < nb; j++)
                    bpack[(size_t)p * nb + j] = at_b(b, ldb, trans_b, pc + p, jc + j);
            for (int ic = 0; ic < m; ic += MC) {
                int mb = m - ic < MC ? m - ic : MC;
                for (int i = 0; i < mb; i++)
                    for (int p = 0; p < kb; p++)
                        apack[(size_t)i * kb + p] = alpha * at_a(a, lda, trans_a, ic + i, pc + p);
                for (int i = 0; i < mb; i++) {
                    float *crow = c + (size_t)(ic + i) * ldc + jc;
                    const float *arow = apack + (size_t)i * kb;
                    for (int p = 0; p < kb; p++) {
                        float av = arow[p];
                        const float *brow = bpack + (size_t)p * nb;
                        for (int j = 0; j < nb; j++)
                            crow[j] += av * brow[j];
                    }
                }
            }
        }
    }
}

const char *kdl_gemm_backend(void) {
    return "portable";
}

#endif
