/*
 * lora_driver.c - LoRA layers (Inputs/lora.kdl) against a naive evaluation
 * of Keras's rule: the adapted weight is w + (a @ b) * lora_alpha / lora_rank.
 * The weights are set to arbitrary values (b nonzero, unlike its zeros init)
 * through M_weights, then M_prepare.
 */
#include "lora.h"

#include <math.h>
#include <stdio.h>

static void fill(float *x, int n, int seed) {
    for (int i = 0; i < n; i++)
        x[i] = (float)(((i + 1) * (seed * 7 + 13) % 29) / 14.0 - 1.0);
}

// w[rows x cols] + scale * a[rows x r] @ b[r x cols], in double.
static double adapted(const float *w, const float *a, const float *b, int cols, int r,
                      double scale, int i, int j) {
    double s = 0;
    for (int k = 0; k < r; k++)
        s += (double)a[i * r + k] * b[k * cols + j];
    return w[i * cols + j] + scale * s;
}

static int report(const char *what, const float *got, const double *want, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]) / (1e-5 + fabs(want[i]));
        worst = d > worst ? d : worst;
    }
    printf("%s: %s\n", what, worst < 1e-4 ? "matches" : "MISMATCH");
    return worst < 1e-4;
}

int main(void) {
    int ok = 1;
    lora_Weights *w;
    {   // Dense(5, lora_rank=3, lora_alpha=6): scale 2.
        lora_dense *m = lora_dense_create(2);
        w = lora_dense_weights(m);
        fill(w->dense_kernel, 35, 1), fill(w->dense_bias, 5, 2);
        fill(w->dense_lora_kernel_a, 21, 3), fill(w->dense_lora_kernel_b, 15, 4);
        lora_dense_prepare(m);
        float x[14], y[10];
        double want[10];
        fill(x, 14, 5);
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 5; j++) {
                double s = w->dense_bias[j];
                for (int i = 0; i < 7; i++)
                    s += x[n * 7 + i] * adapted(w->dense_kernel, w->dense_lora_kernel_a,
                                                w->dense_lora_kernel_b, 5, 3, 2.0, i, j);
                want[n * 5 + j] = s;
            }
        const void *in[] = {x};
        float *out[] = {y};
        ok &= lora_dense_predict(m, 2, in, out) == KDL_OK && report("dense", y, want, 10);
        lora_dense_destroy(m);
    }
    {   // Embedding(10, 4, lora_rank=2): alpha defaults to the rank, scale 1.
        lora_embed *m = lora_embed_create(1);
        w = lora_embed_weights(m);
        fill(w->embedding_embeddings, 40, 6);
        fill(w->embedding_lora_embeddings_a, 20, 7), fill(w->embedding_lora_embeddings_b, 8, 8);
        lora_embed_prepare(m);
        int32_t ids[3] = {9, 0, 4};
        float y[12];
        double want[12];
        for (int t = 0; t < 3; t++)
            for (int j = 0; j < 4; j++)
                want[t * 4 + j] = adapted(w->embedding_embeddings, w->embedding_lora_embeddings_a,
                                          w->embedding_lora_embeddings_b, 4, 2, 1.0, ids[t], j);
        const void *in[] = {ids};
        float *out[] = {y};
        ok &= lora_embed_predict(m, 1, in, out) == KDL_OK && report("embedding", y, want, 12);
        lora_embed_destroy(m);
    }
    {   // Conv2D(3, 3, lora_rank=2, lora_alpha=1): scale 0.5; kernel (3, 3, 2, 3) as (18, 3).
        lora_conv *m = lora_conv_create(1);
        w = lora_conv_weights(m);
        fill(w->conv2d_kernel, 54, 9), fill(w->conv2d_bias, 3, 10);
        fill(w->conv2d_lora_kernel_a, 36, 11), fill(w->conv2d_lora_kernel_b, 6, 12);
        lora_conv_prepare(m);
        float x[50], y[27];
        double want[27];
        fill(x, 50, 13);
        for (int oy = 0; oy < 3; oy++)
            for (int ox = 0; ox < 3; ox++)
                for (int f = 0; f < 3; f++) {
                    double s = w->conv2d_bias[f];
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                            for (int c = 0; c < 2; c++)
                                s += x[((oy + ky) * 5 + ox + kx) * 2 + c] *
                                     adapted(w->conv2d_kernel, w->conv2d_lora_kernel_a,
                                             w->conv2d_lora_kernel_b, 3, 2, 0.5,
                                             (ky * 3 + kx) * 2 + c, f);
                    want[(oy * 3 + ox) * 3 + f] = s;
                }
        const void *in[] = {x};
        float *out[] = {y};
        ok &= lora_conv_predict(m, 1, in, out) == KDL_OK && report("conv2d", y, want, 27);
        lora_conv_destroy(m);
    }
    return ok ? 0 : 1;
}
