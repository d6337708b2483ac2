/*
 * rnn.c - recurrent layers (SimpleRNN, LSTM, GRU), forward, with Keras 3
 * semantics: zero initial states, Keras weight layouts and gate orders
 * (LSTM i, f, c, o; GRU z, r, h), GRU reset_after both ways.
 *
 * Shape: in (n, t, in_dim) -> out (n, t, units) with return_sequences, else
 * (n, units); kernel (in_dim, G*u), recurrent (u, G*u), G = 1 / 4 / 3.
 *
 * Every kernel projects the inputs of all timesteps with one GEMM,
 * xp (n*t, G*u) = in @ kernel + bias, then per step adds h @ recurrent with
 * a GEMM that accumulates straight into the step's rows of xp (row stride
 * t*G*u), and finishes the gates element-wise in place. The scratch space
 * (kdl_rnn_scratch) holds xp and the per-step states; nothing is allocated.
 *
 * go_backwards: step k reads timestep t-1-k and, as Keras, the returned
 * sequence is in processing order: out[:, k] is the state after step k, so
 * out[:, 0] saw only the last timestep and out[:, t-1] is the final state.
 * Keras 3 keras/src/backend/tensorflow/rnn.py::rnn reverses the inputs
 * (`ta.unstack(tf.reverse(input_, [0]))`) and writes output `time` at index
 * `time`; the JAX backend (keras/src/backend/jax/rnn.py) scans with
 * reverse=go_backwards and then `jnp.flip(outputs, axis=0)`, the same
 * order; RNN.call returns those outputs unchanged. Its docstring: "process
 * the input sequence backwards and return the reversed sequence".
 */
#include "kdl.h"

#include <assert.h>
#include <string.h>

// Keras passes RNN activations by name, so LEAKY_RELU and ELU take their
// keras.activations defaults (negative_slope 0.2, alpha 1.0).
static float act_alpha(kdl_Act act) {
    return act == KDL_ACT_LEAKY_RELU ? 0.2f : 1.0f;
}

// x (u) = act(x) in place: one gate of one batch row. Gates are (batch, u)
// tensors in Keras, so softmax-like activations run over the u values.
static void act_gate(float *x, int u, kdl_Act act) {
    if (act != KDL_ACT_LINEAR)
        kdl_activation_forward(x, x, 1, (size_t)u, act, act_alpha(act));
}

// The scratch areas of one call: xp (n*t, G*u) projected inputs; hp (n, G*u)
// the recurrent projection when it must stay apart from xp (GRU
// reset_after); h (n, u) the state; c (n, u) the LSTM cell state, or r * h
// for GRU reset_after=False.
typedef struct {
    float *xp, *hp, *h, *c;
} RnnScratch;

static RnnScratch carve(float *scratch, const kdl_RnnShape *s, int gates) {
    size_t gu = (size_t)gates * s->units, nu = (size_t)s->n * s->units;
    RnnScratch w;
    w.xp = scratch;
    w.hp = w.xp + (size_t)s->n * s->t * gu;
    w.h = w.hp + (size_t)s->n * gu;
    w.c = w.h + nu;
    memset(w.h, 0, sizeof(float) * nu);
    memset(w.c, 0, sizeof(float) * nu);
    return w;
}

// The most any kernel carves: G = 4 (LSTM), xp + hp + h + c.
size_t kdl_rnn_scratch(const kdl_RnnShape *s) {
    return (size_t)s->n * s->units * (4 * (size_t)s->t + 4 + 2);
}

// xp (rows, g) = in (rows, in_dim) @ kernel (in_dim, g) + bias (g); bias may be NULL.
static void project_inputs(float *xp, const float *in, const float *kernel, const float *bias,
                           int rows, int in_dim, int g) {
    if (rows == 0)
        return;
    if (bias)
        for (int r = 0; r < rows; r++)
            memcpy(xp + (size_t)r * g, bias, sizeof(float) * (size_t)g);
    kdl_sgemm(0, 0, rows, g, in_dim, 1.0f, in, in_dim, kernel, g, bias ? 1.0f : 0.0f, xp, g);
}

// The input timestep that processing step k reads.
static inline int step_time(const kdl_RnnShape *s, int k) {
    return s->go_backwards ? s->t - 1 - k : k;
}

// After step k: with return_sequences, h (n, u) goes to out[:, k, :].
static void emit_step(float *out, const float *h, const kdl_RnnShape *s, int k) {
    if (!s->return_sequences)
        return;
    size_t u = (size_t)s->units;
    for (int b = 0; b < s->n; b++)
        memcpy(out + ((size_t)b * s->t + k) * u, h + (size_t)b * u, sizeof(float) * u);
}

// After the last step: out (n, u) without return_sequences, and the states.
static void emit_final(float *out, float *h_out, float *c_out, const float *h, const float *c,
                       const kdl_RnnShape *s) {
    size_t bytes = sizeof(float) * (size_t)s->n * s->units;
    if (!s->return_sequences)
        memcpy(out, h, bytes);
    if (h_out)
        memcpy(h_out, h, bytes);
    if (c_out)
        memcpy(c_out, c, bytes);
}

static void check_args(const float *out, const float *in, const float *kernel,
                       const float *recurrent, const kdl_RnnShape *s, const float *scratch) {
    assert(s && out && in && kernel && recurrent && scratch);
    assert(s->n >= 0 && s->t >= 0 && s->in_dim > 0 && s->units > 0);
    (void)out, (void)in, (void)kernel, (void)recurrent, (void)s, (void)scratch;
}

// h_t = act(x_t @ W + h_{t-1} @ U + b)   (keras SimpleRNNCell)
void kdl_simple_rnn_forward(float *out, float *h_out, const float *in, const float *kernel,
                            const float *recurrent, const float *bias, const kdl_RnnShape *s,
                            kdl_Act act, float *scratch) {
    check_args(out, in, kernel, recurrent, s, scratch);
    int n = s->n, t = s->t, u = s->units;
    RnnScratch w = carve(scratch, s, 1);
    project_inputs(w.xp, in, kernel, bias, n * t, s->in_dim, u);
    int ld = t * u;  // row stride between batch entries of one step in xp
    for (int k = 0; k < t; k++) {
        float *g = w.xp + (size_t)step_time(s, k) * u;
        if (k > 0)  // the initial state is zero: nothing to add at step 0
            kdl_sgemm(0, 0, n, u, u, 1.0f, w.h, u, recurrent, u, 1.0f, g, ld);
        for (int b = 0; b < n; b++) {
            float *gb = g + (size_t)b * ld;
            act_gate(gb, u, act);
            memcpy(w.h + (size_t)b * u, gb, sizeof(float) * (size_t)u);
        }
        emit_step(out, w.h, s, k);
    }
    emit_final(out, h_out, NULL, w.h, NULL, s);
}

// z = x_t @ W + h @ U + b split into i, f, c, o (keras LSTMCell):
// i = ract(z_i), f = ract(z_f), o = ract(z_o), c = f * c + i * act(z_c),
// h = o * act(c).
void kdl_lstm_forward(float *out, float *h_out, float *c_out, const float *in, const float *kernel,
                      const float *recurrent, const float *bias, const kdl_RnnShape *s,
                      kdl_Act act, kdl_Act recurrent_act, float *scratch) {
    check_args(out, in, kernel, recurrent, s, scratch);
    int n = s->n, t = s->t, u = s->units, g4 = 4 * u;
    RnnScratch w = carve(scratch, s, 4);
    project_inputs(w.xp, in, kernel, bias, n * t, s->in_dim, g4);
    int ld = t * g4;
    for (int k = 0; k < t; k++) {
        float *g = w.xp + (size_t)step_time(s, k) * g4;
        if (k > 0)
            kdl_sgemm(0, 0, n, g4, u, 1.0f, w.h, u, recurrent, g4, 1.0f, g, ld);
        for (int b = 0; b < n; b++) {
            float *gi = g + (size_t)b * ld, *gf = gi + u, *gc = gf + u, *go = gc + u;
            float *c = w.c + (size_t)b * u, *h = w.h + (size_t)b * u;
            act_gate(gi, u, recurrent_act);
            act_gate(gf, u, recurrent_act);
            act_gate(gc, u, act);
            act_gate(go, u, recurrent_act);
            // The candidate slice is done with: it takes c, then act(c).
            for (int j = 0; j < u; j++) {
                c[j] = gf[j] * c[j] + gi[j] * gc[j];
                gc[j] = c[j];
            }
            act_gate(gc, u, act);
            for (int j = 0; j < u; j++)
                h[j] = go[j] * gc[j];
        }
        emit_step(out, w.h, s, k);
    }
    emit_final(out, h_out, c_out, w.h, w.c, s);
}

// keras GRUCell (implementation 2), x_* = x_t @ W_* + b_in_*:
//   reset_after=True, bias (2, 3u) = input bias, recurrent bias:
//     z = ract(x_z + h @ U_z + b_rec_z), r = ract(x_r + h @ U_r + b_rec_r),
//     hh = act(x_h + r * (h @ U_h + b_rec_h))
//   reset_after=False, bias (3u) (input only):
//     z = ract(x_z + h @ U_z), r = ract(x_r + h @ U_r),
//     hh = act(x_h + (r * h) @ U_h)
//   h = z * h + (1 - z) * hh
void kdl_gru_forward(float *out, float *h_out, const float *in, const float *kernel,
                     const float *recurrent, const float *bias, const kdl_RnnShape *s,
                     kdl_Act act, kdl_Act recurrent_act, float *scratch) {
    check_args(out, in, kernel, recurrent, s, scratch);
    int n = s->n, t = s->t, u = s->units, g3 = 3 * u;
    RnnScratch w = carve(scratch, s, 3);
    project_inputs(w.xp, in, kernel, bias, n * t, s->in_dim, g3);
    int ld = t * g3;
    const float *brec = s->reset_after && bias ? bias + g3 : NULL;
    for (int k = 0; k < t; k++) {
        float *g = w.xp + (size_t)step_time(s, k) * g3;
        if (s->reset_after) {
            // hp (n, 3u) = h @ U, kept apart: r scales its h slice, bias included.
            if (k > 0)
                kdl_sgemm(0, 0, n, g3, u, 1.0f, w.h, u, recurrent, g3, 0.0f, w.hp, g3);
            else
                memset(w.hp, 0, sizeof(float) * (size_t)n * g3);
            for (int b = 0; b < n; b++) {
                float *gz = g + (size_t)b * ld, *gr = gz + u, *gh = gr + u;
                const float *hp = w.hp + (size_t)b * g3;
                float *h = w.h + (size_t)b * u;
                for (int j = 0; j < 2 * u; j++)
                    gz[j] += hp[j] + (brec ? brec[j] : 0.0f);
                act_gate(gz, u, recurrent_act);
                act_gate(gr, u, recurrent_act);
                for (int j = 0; j < u; j++)
                    gh[j] += gr[j] * (hp[2 * u + j] + (brec ? brec[2 * u + j] : 0.0f));
                act_gate(gh, u, act);
                for (int j = 0; j < u; j++)
                    h[j] = gz[j] * h[j] + (1.0f - gz[j]) * gh[j];
            }
        } else {
            // z, r: accumulate h @ U[:, :2u] into xp; then (r * h) @ U[:, 2u:] into x_h.
            if (k > 0)
                kdl_sgemm(0, 0, n, 2 * u, u, 1.0f, w.h, u, recurrent, g3, 1.0f, g, ld);
            float *rh = w.c;
            for (int b = 0; b < n; b++) {
                float *gz = g + (size_t)b * ld, *gr = gz + u;
                const float *h = w.h + (size_t)b * u;
                act_gate(gz, u, recurrent_act);
                act_gate(gr, u, recurrent_act);
                for (int j = 0; j < u; j++)
                    rh[(size_t)b * u + j] = gr[j] * h[j];
            }
            if (k > 0)
                kdl_sgemm(0, 0, n, u, u, 1.0f, rh, u, recurrent + 2 * u, g3, 1.0f, g + 2 * u, ld);
            for (int b = 0; b < n; b++) {
                float *gz = g + (size_t)b * ld, *gh = gz + 2 * u;
                float *h = w.h + (size_t)b * u;
                act_gate(gh, u, act);
                for (int j = 0; j < u; j++)
                    h[j] = gz[j] * h[j] + (1.0f - gz[j]) * gh[j];
            }
        }
        emit_step(out, w.h, s, k);
    }
    emit_final(out, h_out, NULL, w.h, NULL, s);
}
