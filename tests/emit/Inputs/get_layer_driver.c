/* Drives gl_model_get_layer: lookups by name and index (index wins, negative
 * indices count from the end), errors, and replacing weights through the
 * returned pointers changes predict's result. */
#include "gl.h"

#include <stdio.h>

int main(void) {
    gl_model *m = gl_model_create(1);
    if (!m || gl_model_init(m, 1) != KDL_OK)
        return 2;
    kdl_Layer l;
    if (gl_model_get_layer(m, "hidden", KDL_NO_INDEX, &l) != KDL_OK)
        return 3;
    printf("by name: %s %s %s params=%lld weights=%d %s\n", l.name, l.class_name, l.output_shape,
           (long long)l.params, l.nweights, l.weights[0].name);
    gl_model_get_layer(m, "hidden", 2, &l);
    printf("index wins: %s\n", l.name);
    gl_model_get_layer(m, NULL, -1, &l);
    printf("last: %s\n", l.name);
    printf("missing: %s\n", kdl_status_str(gl_model_get_layer(m, "nope", KDL_NO_INDEX, &l)));
    printf("out of range: %s\n", kdl_status_str(gl_model_get_layer(m, NULL, 3, &l)));
    /* Zero the output layer's kernel, set its bias: predict returns the bias. */
    gl_model_get_layer(m, "out", KDL_NO_INDEX, &l);
    for (int i = 0; i < 4 * 2; i++)
        l.weights[0].data[i] = 0.0f;
    l.weights[1].data[0] = 1.5f;
    l.weights[1].data[1] = -2.0f;
    gl_model_prepare(m);
    float x[3] = {1, 2, 3}, y[2];
    const void *in[1] = {x};
    float *out[1] = {y};
    gl_model_predict(m, 1, in, out);
    printf("predict: %g %g\n", y[0], y[1]);
    gl_model_destroy(m);
    return 0;
}
