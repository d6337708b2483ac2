/*
 * stateful_driver.c - the generated API of stateful recurrent layers
 * (Inputs/stateful.kdl): predict continues from the states the previous
 * predict left, so a sequence fed in chunks gives the outputs of the whole
 * sequence fed at once (after M_reset_states); reset_states starts over;
 * predict takes exactly the layers' batch (M_STATEFUL_BATCH).
 */
#include "stateful.h"

#include <math.h>
#include <stdio.h>

#define B STATEFUL_MODEL_STATEFUL_BATCH
#define T 7

// The largest difference between a and b (n values).
static double diff(const float *a, const float *b, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

// x (B, t, 2) = the time steps [t0, t0 + t) of the whole sequences.
static void slice(float *x, const float *whole, int t0, int t) {
    for (int b = 0; b < B; b++)
        for (int k = 0; k < t; k++)
            for (int f = 0; f < 2; f++)
                x[(b * t + k) * 2 + f] = whole[(b * T + t0 + k) * 2 + f];
}

int main(void) {
    float whole[B * T * 2], part[B * T * 2], all[B * T * 2], pieces[B * T * 2], y[B * T * 2];
    for (int i = 0; i < B * T * 2; i++)
        whole[i] = (float)sin(0.7 * i + 0.3);
    int max_dims[] = {T};
    stateful_model *m = stateful_model_create(B, max_dims);
    stateful_model_init(m, 7);
    // The whole sequences at once.
    int dims[] = {T};
    const void *in[] = {whole};
    float *out[] = {all};
    printf("whole: %s\n", kdl_status_str(stateful_model_predict(m, B, dims, in, out)));
    // Again without a reset: the layers continue from where they stopped.
    out[0] = y;
    stateful_model_predict(m, B, dims, in, out);
    printf("again without reset: %s\n", diff(y, all, B * T * 2) > 1e-3 ? "differs" : "SAME");
    // After a reset, in chunks of 3, 1 and 3 steps.
    stateful_model_reset_states(m);
    int t0 = 0, chunks[] = {3, 1, 3};
    for (int c = 0; c < 3; c++) {
        int t = chunks[c], cd[] = {t};
        slice(part, whole, t0, t);
        in[0] = part;
        out[0] = y;
        if (stateful_model_predict(m, B, cd, in, out) != KDL_OK)
            printf("chunk %d failed\n", c);
        for (int b = 0; b < B; b++)  // y (B, t, 2) into pieces (B, T, 2)
            for (int k = 0; k < t; k++)
                for (int f = 0; f < 2; f++)
                    pieces[(b * T + t0 + k) * 2 + f] = y[(b * t + k) * 2 + f];
        t0 += t;
    }
    printf("chunks after reset: %s\n", diff(pieces, all, B * T * 2) < 1e-5 ? "same" : "DIFFER");
    // Another batch size is not the states' batch.
    in[0] = whole;
    printf("batch 1: %s\n", kdl_status_str(stateful_model_predict(m, 1, dims, in, out)));
    stateful_model_destroy(m);
    return 0;
}
