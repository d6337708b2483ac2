/*
 * check.h - helpers for the runtime kernel tests (header-only).
 *
 * Each test program compares a fast kernel with a naive reference written
 * in the test, element by element with |a - b| <= atol + rtol * |ref|
 * (llm.c's rule), on random shapes from a fixed-seed generator, and ends
 * with "N passed, N failed" (exit status 1 on any failure).
 */
#ifndef KDL_TEST_CHECK_H
#define KDL_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kdl.h"

static int check_passed, check_failed;

// xorshift64*: deterministic test data.
static uint64_t check_rng_state = 0x9E3779B97F4A7C15ull;

static inline uint32_t check_rand_u32(void) {
    uint64_t x = check_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    check_rng_state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

// Uniform float in [lo, hi).
static inline float check_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(check_rand_u32() >> 8) / 16777216.0f;
}

// Integer in [lo, hi].
static inline int check_int(int lo, int hi) {
    return lo + (int)(check_rand_u32() % (uint32_t)(hi - lo + 1));
}

static inline float *check_alloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static inline float *check_random(size_t n, float lo, float hi) {
    float *p = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = check_uniform(lo, hi);
    return p;
}

// Compare got against ref; report the first mismatch under `what`.
static inline int check_close(const char *what, const float *got, const float *ref, size_t n,
                              double atol, double rtol) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= atol + rtol * fabs((double)ref[i]))) {
            printf("FAIL %s: element %zu: got %.9g, want %.9g\n", what, i, got[i], ref[i]);
            check_failed++;
            return 0;
        }
    }
    check_passed++;
    return 1;
}

static inline void check_true(const char *what, int ok) {
    if (ok) {
        check_passed++;
    } else {
        printf("FAIL %s\n", what);
        check_failed++;
    }
}

static inline int check_report(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
