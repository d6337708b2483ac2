/*
 * rnn.c - recurrent layers (SimpleRNN, LSTM, GRU): the inference forward,
 * the training forward that saves what backprop through time needs, and the
 * backward, with Keras 3 semantics: zero initial states, Keras weight
 * layouts and gate orders (LSTM i, f, c, o; GRU z, r, h), GRU reset_after
 * both ways.
 *
 * Shape: in (n, t, in_dim) -> out (n, t, units) with return_sequences, else
 * (n, units); kernel (in_dim, G*u), recurrent (u, G*u), G = 1 / 4 / 3.
 *
 * Every forward projects the inputs of all timesteps with one GEMM,
 * xp (n*t, G*u) = in @ kernel + bias, then per step adds h @ recurrent with
 * a GEMM that accumulates straight into the step's rows of xp (row stride
 * t*G*u), and finishes the gates element-wise. Inference and training run
 * the same cell code (one function per cell): inference activates the gates
 * in place in the scratch space (kdl_rnn_scratch) and saves nothing;
 * training keeps the pre-activations and writes the activations, the states
 * and each cell's intermediates into `saved` (kdl_rnn_saved_floats), so
 * both give bit-identical outputs. Nothing is allocated.
 *
 * The backward (kdl_rnn_backward) walks the steps last to first, turning
 * the state gradients into the gates' pre-activation gradients dg, stored
 * in xp's layout so that the weight gradients are one GEMM each over all
 * timesteps: dx += dg @ kernel^T, dkernel += in^T @ dg, drecurrent +=
 * h_prev^T @ dg (h_prev saved aligned with dg), dbias += column sums.
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
 *
 * Threads: the GEMMs run on the calling thread; within a step the gates'
 * element-wise work is split over the thread pool by batch rows (large
 * batches and units only), each row computed as on one thread.
 */
#include "internal.h"

#include <assert.h>
#include <stdbool.h>
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

// post (u) = act(pre (u)): one gate, in place when post == pre.
static void act_gate_to(float *post, const float *pre, int u, kdl_Act act) {
    if (post != pre)
        memcpy(post, pre, sizeof(float) * (size_t)u);
    act_gate(post, u, act);
}

// dpre (u) += dpost * act'(pre), post = act(pre): one gate of one batch row
// (softmax-like activations over the u values, as act_gate).
static void gate_backward(float *dpre, const float *dpost, const float *pre, const float *post,
                          int u, kdl_Act act) {
    kdl_activation_backward(dpre, dpost, pre, post, 1, (size_t)u, act, act_alpha(act));
}

static int rnn_gates(kdl_RnnKind kind) {
    return kind == KDL_RNN_LSTM ? 4 : kind == KDL_RNN_GRU ? 3 : 1;
}

// The buffers of one forward pass. Per-step arrays are (n, t, X) in xp's
// layout: row b*t + time, so step k's rows start at step_time(k) * X with a
// row stride of t*X. NULL save arrays are not written (inference).
//   pre  (n, t, G*u)  projected inputs, then the gates' pre-activations
//   post (n, t, G*u)  the gates' activations; == pre: activated in place
//   hp   (n, t, u)    h_{k-1}, the state step k starts from (0 for k = 0)
//   x    (n, t, u)    LSTM c_k; GRU reset_after h_{k-1} @ U_h + b_rec_h (what
//                     r scales); GRU reset_after=False r * h_{k-1}
//   ac   (n, t, u)    LSTM act(c_k)
//   h    (n, u)       the running state
//   w    LSTM (n, u) the running cell state; GRU reset_after (n, 3u) h @ U;
//        GRU reset_after=False (n, u) r * h
//   hm   (n, u)       gate masks only: h times one gate's recurrent dropout mask
//   xm   (n, t, in)   gate masks with input masks only: the inputs times one gate's mask
typedef struct {
    float *pre, *post, *hp, *x, *ac, *h, *w, *hm, *xm;
} RnnBuffers;

// Inference: xp, then h (n, u) and w (at most 3 (n, u)) in the scratch.
static RnnBuffers scratch_buffers(float *scratch, const kdl_RnnShape *s, int gates) {
    RnnBuffers m = {0};
    m.pre = m.post = scratch;
    m.h = m.pre + (size_t)s->n * s->t * gates * s->units;
    m.w = m.h + (size_t)s->n * s->units;
    return m;
}

// Enough for every kernel's carve: xp (n, t, G*u), h (n, u) and w, at most
// LSTM's n u (4 t + 2) or GRU reset_after's n u (3 t + 4).
size_t kdl_rnn_scratch(const kdl_RnnShape *s) {
    return (size_t)s->n * s->units * (4 * (size_t)s->t + 4 + 2);
}

// Where each array of RnnBuffers starts in `saved` (floats), and the total.
typedef struct {
    size_t pre, post, hp, x, ac, h, w, hm, xm, total;
} SavedLayout;

static SavedLayout saved_layout(kdl_RnnKind kind, const kdl_RnnShape *s) {
    size_t nt = (size_t)s->n * s->t, u = (size_t)s->units, nu = (size_t)s->n * u;
    size_t gu = (size_t)rnn_gates(kind) * u;
    SavedLayout l;
    l.pre = 0;
    l.post = l.pre + nt * gu;
    l.hp = l.post + nt * gu;
    l.x = l.hp + nt * u;
    l.ac = l.x + (kind == KDL_RNN_SIMPLE ? 0 : nt * u);
    l.h = l.ac + (kind == KDL_RNN_LSTM ? nt * u : 0);
    l.w = l.h + nu;
    size_t w = kind == KDL_RNN_LSTM ? nu : kind == KDL_RNN_GRU ? (s->reset_after ? 3 : 1) * nu : 0;
    l.hm = l.w + w;
    l.xm = l.hm + (s->gate_masks ? nu : 0);
    l.total = l.xm + (s->gate_masks ? nt * (size_t)s->in_dim : 0);
    return l;
}

// Training: every array in `saved`.
static RnnBuffers saved_buffers(float *saved, kdl_RnnKind kind, const kdl_RnnShape *s) {
    SavedLayout l = saved_layout(kind, s);
    RnnBuffers m;
    m.pre = saved + l.pre;
    m.post = saved + l.post;
    m.hp = saved + l.hp;
    m.x = kind == KDL_RNN_SIMPLE ? NULL : saved + l.x;
    m.ac = kind == KDL_RNN_LSTM ? saved + l.ac : NULL;
    m.h = saved + l.h;
    m.w = saved + l.w;
    m.hm = s->gate_masks ? saved + l.hm : NULL;
    m.xm = s->gate_masks ? saved + l.xm : NULL;
    return m;
}

// Per sample and timestep 2 G u + u (SimpleRNN 3u, LSTM 11u, GRU 8u), plus
// the running states: u, 2u, GRU reset_after 4u, reset_after=False 2u; with
// gate masks u more and in_dim per timestep.
size_t kdl_rnn_saved_floats(kdl_RnnKind kind, const kdl_RnnShape *s) {
    return saved_layout(kind, s).total;
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

// dst (n, t, w) = src (n, t, w) * mask (n, w), the same mask at every
// timestep; add: dst += instead.
static void mask_steps(float *dst, const float *src, const float *mask, int n, int t, int w,
                       bool add) {
    for (int b = 0; b < n; b++)
        for (int k = 0; k < t; k++) {
            size_t r = ((size_t)b * t + k) * w;
            const float *mb = mask + (size_t)b * w;
            for (int j = 0; j < w; j++)
                dst[r + j] = (add ? dst[r + j] : 0.0f) + src[r + j] * mb[j];
        }
}

// xp = in @ kernel + bias for all timesteps; with gate masks and input
// masks (Keras's implementation 1), gate g's columns project the inputs
// times in_masks[g] (masked into m->xm one gate at a time).
static void project_cell_inputs(const RnnBuffers *m, const float *in, const float *kernel,
                                const float *bias, const kdl_RnnShape *s, int gates) {
    int rows = s->n * s->t, u = s->units, gu = gates * u;
    if (!s->gate_masks || !s->in_masks) {
        project_inputs(m->pre, in, kernel, bias, rows, s->in_dim, gu);
        return;
    }
    if (rows == 0)
        return;
    for (int g = 0; g < gates; g++) {
        mask_steps(m->xm, in, s->in_masks + (size_t)g * s->n * s->in_dim, s->n, s->t, s->in_dim,
                   false);
        if (bias)
            for (int r = 0; r < rows; r++)
                memcpy(m->pre + (size_t)r * gu + (size_t)g * u, bias + (size_t)g * u,
                       sizeof(float) * (size_t)u);
        kdl_sgemm(0, 0, rows, u, s->in_dim, 1.0f, m->xm, s->in_dim, kernel + (size_t)g * u, gu,
                  bias ? 1.0f : 0.0f, m->pre + (size_t)g * u, gu);
    }
}

// The recurrent product of `ngates` gates from gate0: dst (n rows of
// ngates*u, row stride ld) = beta dst + h @ U[:, those gates' columns]; with
// gate masks each gate reads h times its rec_masks[gate] (in hm).
static void add_recurrent(float *dst, int ld, const float *h, const float *recurrent, int gu,
                          int gate0, int ngates, float beta, const kdl_RnnShape *s, float *hm) {
    int n = s->n, u = s->units;
    if (!s->gate_masks) {
        kdl_sgemm(0, 0, n, ngates * u, u, 1.0f, h, u, recurrent + (size_t)gate0 * u, gu, beta,
                  dst, ld);
        return;
    }
    for (int g = gate0; g < gate0 + ngates; g++) {
        mask_steps(hm, h, s->rec_masks + (size_t)g * n * u, n, 1, u, false);
        kdl_sgemm(0, 0, n, u, u, 1.0f, hm, u, recurrent + (size_t)g * u, gu, beta,
                  dst + (size_t)(g - gate0) * u, ld);
    }
}

// The input timestep that processing step k reads.
static inline int step_time(const kdl_RnnShape *s, int k) {
    return s->go_backwards ? s->t - 1 - k : k;
}

// dst (n rows of w, row stride ld) = src (n, w) contiguous; dst NULL: nothing.
static void put_rows(float *dst, int ld, const float *src, int n, int w) {
    if (!dst)
        return;
    for (int b = 0; b < n; b++)
        memcpy(dst + (size_t)b * ld, src + (size_t)b * w, sizeof(float) * (size_t)w);
}

// Row b skips the step that reads timestep `time` (its states stay): the
// Keras mask says so.
static inline bool row_masked(const kdl_RnnShape *s, size_t b, int time) {
    return s->mask && s->mask[b * (size_t)s->t + (size_t)time] == 0.0f;
}

// The output timestep of processing step k (return_sequences).
static inline int out_time(const kdl_RnnShape *s, int k) {
    return s->reverse_out ? s->t - 1 - k : k;
}

// Whether row b's output after step k is zeros (emit_step, emit_final): a
// masked step with zero_masked, or, with initial states, a masked step no
// unmasked one precedes. Its gradient goes nowhere.
static bool zero_output(const kdl_RnnShape *s, size_t b, int k) {
    if (!row_masked(s, b, step_time(s, k)))
        return false;
    if (s->zero_masked)
        return true;
    if (!s->h0)
        return false;
    for (int j = k - 1; j >= 0; j--)
        if (!row_masked(s, b, step_time(s, j)))
            return false;
    return true;
}

// After step k: with return_sequences, h (n, u) goes to out[:, out_time(k), :].
// A masked step outputs zeros with zero_masked, else the previous output
// (Keras's rnn() with zero_output_for_mask=False), which is the kept state,
// except before a row's first unmasked step: zeros, not the initial state
// (which differs only for given initial states, h0).
static void emit_step(float *out, const float *h, const kdl_RnnShape *s, int k) {
    if (!s->return_sequences)
        return;
    size_t u = (size_t)s->units, ld = (size_t)s->t * u;
    put_rows(out + (size_t)out_time(s, k) * u, (int)ld, h, s->n, s->units);
    if (!s->mask || (!s->zero_masked && !s->h0))
        return;
    for (int b = 0; b < s->n; b++) {
        float *row = out + (size_t)b * ld, *o = row + (size_t)out_time(s, k) * u;
        if (!row_masked(s, (size_t)b, step_time(s, k)))
            continue;
        if (s->zero_masked || k == 0)
            memset(o, 0, sizeof(float) * u);
        else
            memcpy(o, row + (size_t)out_time(s, k - 1) * u, sizeof(float) * u);
    }
}

// After the last step: out (n, u) without return_sequences, and the states.
static void emit_final(float *out, float *h_out, float *c_out, const float *h, const float *c,
                       const kdl_RnnShape *s) {
    size_t bytes = sizeof(float) * (size_t)s->n * s->units;
    if (!s->return_sequences)
        memcpy(out, h, bytes);
    // The last output zeros (zero_output: a masked last step with
    // zero_masked; with initial states, a row every step of which was masked).
    for (int b = 0; !s->return_sequences && s->mask && s->t > 0 && b < s->n; b++)
        if (zero_output(s, (size_t)b, s->t - 1))
            memset(out + (size_t)b * s->units, 0, sizeof(float) * (size_t)s->units);
    if (h_out)
        memcpy(h_out, h, bytes);
    if (c_out)
        memcpy(c_out, c, bytes);
}

// The running state's start: s's initial state (h0, c0) or zeros.
static void initial_state(float *x, const float *x0, const kdl_RnnShape *s) {
    size_t bytes = sizeof(float) * (size_t)s->n * s->units;
    if (x0)
        memmove(x, x0, bytes);
    else
        memset(x, 0, bytes);
}

static void check_args(const float *out, const float *in, const float *kernel,
                       const float *recurrent, const kdl_RnnShape *s, const float *scratch) {
    assert(s && out && in && kernel && recurrent && scratch);
    assert(s->n >= 0 && s->t >= 0 && s->in_dim > 0 && s->units > 0);
    assert(!s->gate_masks || s->rec_masks);
    (void)out, (void)in, (void)kernel, (void)recurrent, (void)s, (void)scratch;
}

// ---- the cells (forward) ----------------------------------------------------------------
//
// Within a step, everything but the GEMMs is independent per batch row b:
// those loops run over the thread pool by rows (each row computed as on one
// thread), the GEMMs on the calling thread. A gate value costs about
// GATE_COST kdl_grain units (an exp or tanh), so small batches stay inline.

#define GATE_COST 8

// One step of a cell, as its row tasks see it.
typedef struct CellStep {
    const kdl_RnnShape *s;
    const RnnBuffers *m;
    float *g, *a;           // the step's rows of pre and post (row stride ld)
    size_t off, offu;       // the step's offsets in (n, t, G*u) and (n, t, u) arrays
    int ld, ldu;
    kdl_Act act, ract;
    const float *brec;      // GRU reset_after: the recurrent bias, or NULL
    float *hpw;             // GRU reset_after: h @ U (n, 3u)
    int time;               // the input timestep of this step
    const float *hmask;     // GRU reset_after=False with gate masks: the candidate's
                            // recurrent mask (n, u) (r * h * mask), else NULL
} CellStep;

static inline bool masked(const CellStep *c, size_t b) {
    return row_masked(c->s, b, c->time);
}

static void for_rows(const CellStep *c, int gates, void (*fn)(void *, size_t, size_t)) {
    kdl_parallel_for((size_t)c->s->n, kdl_grain((size_t)gates * c->s->units * GATE_COST), fn,
                     (void *)c);
}

static void simple_rows(void *ctx, size_t b0, size_t b1) {
    const CellStep *c = ctx;
    const int u = c->s->units;
    for (size_t b = b0; b < b1; b++) {
        if (masked(c, b))
            continue;
        float *ab = c->a + b * c->ld;
        act_gate_to(ab, c->g + b * c->ld, u, c->act);
        memcpy(c->m->h + b * u, ab, sizeof(float) * (size_t)u);
    }
}

// h_t = act(x_t @ W + h_{t-1} @ U + b)   (keras SimpleRNNCell)
static void simple_rnn_cell(float *out, float *h_out, const float *in, const float *kernel,
                            const float *recurrent, const float *bias, const kdl_RnnShape *s,
                            kdl_Act act, const RnnBuffers *m) {
    int n = s->n, t = s->t, u = s->units;
    initial_state(m->h, s->h0, s);
    project_cell_inputs(m, in, kernel, bias, s, 1);
    int ld = t * u;  // row stride between batch entries of one step in xp
    for (int k = 0; k < t; k++) {
        size_t off = (size_t)step_time(s, k) * u;
        float *g = m->pre + off, *a = m->post + off;
        put_rows(m->hp ? m->hp + off : NULL, ld, m->h, n, u);
        if (k > 0 || s->h0)  // a zero initial state: nothing to add at step 0
            add_recurrent(g, ld, m->h, recurrent, u, 0, 1, 1.0f, s, m->hm);
        CellStep c = {s, m, g, a, off, 0, ld, 0, act, act, NULL, NULL, step_time(s, k), NULL};
        for_rows(&c, 1, simple_rows);
        emit_step(out, m->h, s, k);
    }
    emit_final(out, h_out, NULL, m->h, NULL, s);
}

static void lstm_rows(void *ctx, size_t b0, size_t b1) {
    const CellStep *cs = ctx;
    const RnnBuffers *m = cs->m;
    const int u = cs->s->units;
    for (size_t b = b0; b < b1; b++) {
        if (masked(cs, b)) {
            if (m->x)   // training: c_k = c_{k-1}, which the step before reads back
                memcpy(m->x + cs->offu + b * cs->ldu, m->w + b * u, sizeof(float) * (size_t)u);
            continue;
        }
        const float *p = cs->g + b * cs->ld;
        float *ai = m->post + cs->off + b * cs->ld, *af = ai + u, *ag = af + u, *ao = ag + u;
        float *c = m->w + b * u, *h = m->h + b * u;
        act_gate_to(ai, p, u, cs->ract);
        act_gate_to(af, p + u, u, cs->ract);
        act_gate_to(ag, p + 2 * u, u, cs->act);
        act_gate_to(ao, p + 3 * u, u, cs->ract);
        // act(c) goes to the saved array, or (inference) over the
        // candidate's slice, which is done with.
        float *ac = m->ac ? m->ac + cs->offu + b * cs->ldu : ag;
        for (int j = 0; j < u; j++) {
            c[j] = af[j] * c[j] + ai[j] * ag[j];
            ac[j] = c[j];
        }
        if (m->x)
            memcpy(m->x + cs->offu + b * cs->ldu, c, sizeof(float) * (size_t)u);
        act_gate(ac, u, cs->act);
        for (int j = 0; j < u; j++)
            h[j] = ao[j] * ac[j];
    }
}

// z = x_t @ W + h @ U + b split into i, f, c, o (keras LSTMCell):
// i = ract(z_i), f = ract(z_f), o = ract(z_o), c = f * c + i * act(z_c),
// h = o * act(c).
static void lstm_cell(float *out, float *h_out, float *c_out, const float *in,
                      const float *kernel, const float *recurrent, const float *bias,
                      const kdl_RnnShape *s, kdl_Act act, kdl_Act recurrent_act,
                      const RnnBuffers *m) {
    int n = s->n, t = s->t, u = s->units, g4 = 4 * u;
    float *cs = m->w;
    initial_state(m->h, s->h0, s);
    initial_state(cs, s->c0, s);
    project_cell_inputs(m, in, kernel, bias, s, 4);
    int ld = t * g4, ldu = t * u;
    for (int k = 0; k < t; k++) {
        size_t time = (size_t)step_time(s, k), off = time * g4, offu = time * u;
        float *g = m->pre + off;
        put_rows(m->hp ? m->hp + offu : NULL, ldu, m->h, n, u);
        if (k > 0 || s->h0)
            add_recurrent(g, ld, m->h, recurrent, g4, 0, 4, 1.0f, s, m->hm);
        CellStep c = {s, m, g, NULL, off, offu, ld, ldu, act, recurrent_act, NULL, NULL,
                      (int)time, NULL};
        for_rows(&c, 5, lstm_rows);
        emit_step(out, m->h, s, k);
    }
    emit_final(out, h_out, c_out, m->h, cs, s);
}

// reset_after: z, r, the candidate and h of rows [b0, b1).
static void gru_after_rows(void *ctx, size_t b0, size_t b1) {
    const CellStep *c = ctx;
    const RnnBuffers *m = c->m;
    const int u = c->s->units, g3 = 3 * u;
    const float *brec = c->brec;
    for (size_t b = b0; b < b1; b++) {
        if (masked(c, b))
            continue;
        float *gz = c->g + b * c->ld, *gh = gz + 2 * u;
        float *az = c->a + b * c->ld, *ar = az + u, *ah = ar + u;
        float *x = m->x ? m->x + c->offu + b * c->ldu : NULL;
        const float *hp = c->hpw + b * g3;
        float *h = m->h + b * u;
        for (int j = 0; j < 2 * u; j++)
            gz[j] += hp[j] + (brec ? brec[j] : 0.0f);
        act_gate_to(az, gz, u, c->ract);
        act_gate_to(ar, gz + u, u, c->ract);
        for (int j = 0; j < u; j++) {
            float hu = hp[2 * u + j] + (brec ? brec[2 * u + j] : 0.0f);
            if (x)
                x[j] = hu;
            gh[j] += ar[j] * hu;
        }
        act_gate_to(ah, gh, u, c->act);
        for (int j = 0; j < u; j++)
            h[j] = az[j] * h[j] + (1.0f - az[j]) * ah[j];
    }
}

// reset_after=False, before U_h's GEMM: z, r and r * h (into m->w) of rows [b0, b1).
static void gru_zr_rows(void *ctx, size_t b0, size_t b1) {
    const CellStep *c = ctx;
    const int u = c->s->units;
    for (size_t b = b0; b < b1; b++) {
        if (masked(c, b)) {
            // (r * h is saved for U_h's gradient, where a masked row's gate
            // gradient is 0: a defined 0 times 0)
            memset(c->m->w + b * u, 0, sizeof(float) * (size_t)u);
            continue;
        }
        const float *gz = c->g + b * c->ld;
        float *az = c->a + b * c->ld, *ar = az + u;
        const float *h = c->m->h + b * u, *hm = c->hmask ? c->hmask + b * u : NULL;
        act_gate_to(az, gz, u, c->ract);
        act_gate_to(ar, gz + u, u, c->ract);
        for (int j = 0; j < u; j++)
            c->m->w[b * u + j] = ar[j] * h[j] * (hm ? hm[j] : 1.0f);
    }
}

// reset_after=False, after it: the candidate and h of rows [b0, b1).
static void gru_h_rows(void *ctx, size_t b0, size_t b1) {
    const CellStep *c = ctx;
    const int u = c->s->units;
    for (size_t b = b0; b < b1; b++) {
        if (masked(c, b))
            continue;
        const float *az = c->a + b * c->ld;
        float *ah = c->a + b * c->ld + 2 * u, *h = c->m->h + b * u;
        act_gate_to(ah, c->g + b * c->ld + 2 * u, u, c->act);
        for (int j = 0; j < u; j++)
            h[j] = az[j] * h[j] + (1.0f - az[j]) * ah[j];
    }
}

// keras GRUCell (implementation 2), x_* = x_t @ W_* + b_in_*:
//   reset_after=True, bias (2, 3u) = input bias, recurrent bias:
//     z = ract(x_z + h @ U_z + b_rec_z), r = ract(x_r + h @ U_r + b_rec_r),
//     hh = act(x_h + r * (h @ U_h + b_rec_h))
//   reset_after=False, bias (3u) (input only):
//     z = ract(x_z + h @ U_z), r = ract(x_r + h @ U_r),
//     hh = act(x_h + (r * h) @ U_h)
//   h = z * h + (1 - z) * hh
static void gru_cell(float *out, float *h_out, const float *in, const float *kernel,
                     const float *recurrent, const float *bias, const kdl_RnnShape *s, kdl_Act act,
                     kdl_Act recurrent_act, const RnnBuffers *m) {
    int n = s->n, t = s->t, u = s->units, g3 = 3 * u;
    initial_state(m->h, s->h0, s);
    project_cell_inputs(m, in, kernel, bias, s, 3);
    int ld = t * g3, ldu = t * u;
    const float *brec = s->reset_after && bias ? bias + g3 : NULL;
    for (int k = 0; k < t; k++) {
        size_t time = (size_t)step_time(s, k), off = time * g3, offu = time * u;
        float *g = m->pre + off, *a = m->post + off;
        put_rows(m->hp ? m->hp + offu : NULL, ldu, m->h, n, u);
        if (s->reset_after) {
            // hp (n, 3u) = h @ U, kept apart: r scales its h slice, bias included.
            float *hpw = m->w;
            if (k > 0 || s->h0)
                add_recurrent(hpw, g3, m->h, recurrent, g3, 0, 3, 0.0f, s, m->hm);
            else
                memset(hpw, 0, sizeof(float) * (size_t)n * g3);
            CellStep c = {s, m, g, a, off, offu, ld, ldu, act, recurrent_act, brec, hpw,
                          (int)time, NULL};
            for_rows(&c, 3, gru_after_rows);
        } else {
            // z, r: accumulate h @ U[:, :2u] into xp; then (r * h) @ U[:, 2u:] into x_h.
            if (k > 0 || s->h0)
                add_recurrent(g, ld, m->h, recurrent, g3, 0, 2, 1.0f, s, m->hm);
            float *rh = m->w;
            CellStep c = {s, m, g, a, off, offu, ld, ldu, act, recurrent_act, NULL, NULL,
                          (int)time, s->gate_masks ? s->rec_masks + (size_t)2 * n * u : NULL};
            for_rows(&c, 2, gru_zr_rows);
            put_rows(m->x ? m->x + offu : NULL, ldu, rh, n, u);
            if (k > 0 || s->h0)
                kdl_sgemm(0, 0, n, u, u, 1.0f, rh, u, recurrent + 2 * u, g3, 1.0f, g + 2 * u, ld);
            for_rows(&c, 1, gru_h_rows);
        }
        emit_step(out, m->h, s, k);
    }
    emit_final(out, h_out, NULL, m->h, NULL, s);
}

// ---- inference --------------------------------------------------------------------------

void kdl_simple_rnn_forward(float *out, float *h_out, const float *in, const float *kernel,
                            const float *recurrent, const float *bias, const kdl_RnnShape *s,
                            kdl_Act act, float *scratch) {
    check_args(out, in, kernel, recurrent, s, scratch);
    assert(!s->gate_masks);  // training only
    RnnBuffers m = scratch_buffers(scratch, s, 1);
    simple_rnn_cell(out, h_out, in, kernel, recurrent, bias, s, act, &m);
}

void kdl_lstm_forward(float *out, float *h_out, float *c_out, const float *in, const float *kernel,
                      const float *recurrent, const float *bias, const kdl_RnnShape *s,
                      kdl_Act act, kdl_Act recurrent_act, float *scratch) {
    check_args(out, in, kernel, recurrent, s, scratch);
    assert(!s->gate_masks);  // training only
    RnnBuffers m = scratch_buffers(scratch, s, 4);
    lstm_cell(out, h_out, c_out, in, kernel, recurrent, bias, s, act, recurrent_act, &m);
}

void kdl_gru_forward(float *out, float *h_out, const float *in, const float *kernel,
                     const float *recurrent, const float *bias, const kdl_RnnShape *s,
                     kdl_Act act, kdl_Act recurrent_act, float *scratch) {
    check_args(out, in, kernel, recurrent, s, scratch);
    assert(!s->gate_masks);  // training only
    RnnBuffers m = scratch_buffers(scratch, s, 3);
    gru_cell(out, h_out, in, kernel, recurrent, bias, s, act, recurrent_act, &m);
}

// ---- training: forward ------------------------------------------------------------------

// The inference kernel's outputs (the same cell code, so bit-identical),
// plus everything kdl_rnn_backward reads, in saved (kdl_rnn_saved_floats
// floats; nothing in it is read before it is written). recurrent_act is
// ignored for SIMPLE, c_out for all but LSTM. The pre-activations are kept
// whatever the activation (the size cannot depend on it), so any
// activation can be trained.
void kdl_rnn_train_forward(kdl_RnnKind kind, float *out, float *h_out, float *c_out, float *saved,
                           const float *in, const float *kernel, const float *recurrent,
                           const float *bias, const kdl_RnnShape *s, kdl_Act act,
                           kdl_Act recurrent_act) {
    check_args(out, in, kernel, recurrent, s, saved);
    RnnBuffers m = saved_buffers(saved, kind, s);
    switch (kind) {
    case KDL_RNN_SIMPLE:
        simple_rnn_cell(out, h_out, in, kernel, recurrent, bias, s, act, &m);
        break;
    case KDL_RNN_LSTM:
        lstm_cell(out, h_out, c_out, in, kernel, recurrent, bias, s, act, recurrent_act, &m);
        break;
    case KDL_RNN_GRU:
        gru_cell(out, h_out, in, kernel, recurrent, bias, s, act, recurrent_act, &m);
        break;
    default:
        assert(!"kdl_rnn_train_forward: unknown kind");
    }
}

// ---- training: backward -----------------------------------------------------------------
//
// Step k (time = step_time(k)) is given dh, the gradient of its state h_k
// (and, LSTM, dc of c_k), writes its gates' pre-activation gradients into
// dg's rows and, for k > 0, sets dhp to the gradient of h_{k-1}:
//   SimpleRNN  dg = dh act'(pre);                         dhp = dg @ U^T
//   LSTM       dc += dh o act'(c);  d_o = dh act(c), d_i = dc c~, d_f = dc c_{k-1},
//              d_c~ = dc i, each times its gate's act'; dc <- dc f;   dhp = dg @ U^T
//   GRU        d_z = dh (h_{k-1} - hh), d_hh = dh (1 - z), d_pre = d_post act'(pre);
//              reset_after:  d_r = dg_h (h_{k-1} @ U_h + b_rec_h), dr = dg_h r (the
//                            gradient of h_{k-1} @ U_h + b_rec_h);
//                            dhp = dh z + dg_zr @ U_zr^T + dr @ U_h^T
//              else:         dr = dg_h @ U_h^T (of r * h_{k-1}), d_r = dr h_{k-1};
//                            dhp = dh z + dr r + dg_zr @ U_zr^T

// Scratch of the backward (offsets in floats): dg (n, t, G*u) in xp's
// layout; dr, GRU only: reset_after (n, t, u) in xp's layout, else (n, u)
// for one step; dh, dhp (n, u) the state gradients of the current and the
// previous step; dc (n, u) LSTM's cell gradient; tmp the gate activations'
// gradients, (G+1) u per batch row (the rows run over the thread pool).
typedef struct {
    size_t dg, dr, dh, dhp, dc, tmp, mt, hm, xm, total;
} BackLayout;

static BackLayout back_layout(kdl_RnnKind kind, const kdl_RnnShape *s) {
    size_t nt = (size_t)s->n * s->t, u = (size_t)s->units, nu = (size_t)s->n * u;
    size_t g = (size_t)rnn_gates(kind);
    BackLayout l;
    l.dg = 0;
    l.dr = l.dg + nt * g * u;
    l.dh = l.dr + (kind != KDL_RNN_GRU ? 0 : s->reset_after ? nt * u : nu);
    l.dhp = l.dh + nu;
    l.dc = l.dhp + nu;
    l.tmp = l.dc + (kind == KDL_RNN_LSTM ? nu : 0);
    // Gate masks: mt (n, u) one gate's share of dhp; hm (n, t, u) the saved
    // states times one gate's mask; xm (n, t, in_dim) the inputs times one
    // gate's mask, then one gate's share of dx.
    l.mt = l.tmp + (g + 1) * nu;
    l.hm = l.mt + (s->gate_masks ? nu : 0);
    l.xm = l.hm + (s->gate_masks ? nt * u : 0);
    l.total = l.xm + (s->gate_masks ? nt * (size_t)s->in_dim : 0);
    return l;
}

// n t G u (+ GRU n t u or n u) + 2 or 3 n u + (G + 1) n u; with gate masks
// n u + n t (u + in_dim) more.
size_t kdl_rnn_backward_scratch(kdl_RnnKind kind, const kdl_RnnShape *s) {
    return back_layout(kind, s).total;
}

// What every step reads: the saved forward (const views of RnnBuffers's
// arrays), the weights, and the scratch arrays.
typedef struct {
    const kdl_RnnShape *s;
    const float *pre, *post, *hp, *x, *ac;
    const float *recurrent;
    kdl_Act act, ract;
    float *dg, *dr, *dc, *tmp;
    float *mt;              // gate masks: (n, u) for back_recurrent
    bool want_h0;           // step 0 sets dhp too: the gradient of the initial state
} Bptt;

// One step's row tasks (batch rows [b0, b1), each with its own tmp).
typedef struct BpttStep {
    const Bptt *c;
    int k;
    const float *dh;
    float *dhp;
} BpttStep;

static void bptt_rows(const Bptt *c, int k, const float *dh, float *dhp, int gates,
                      void (*fn)(void *, size_t, size_t)) {
    BpttStep st = {c, k, dh, dhp};
    kdl_parallel_for((size_t)c->s->n, kdl_grain((size_t)gates * c->s->units * GATE_COST), fn,
                     &st);
}

// The gradient of h_{k-1} through the recurrent products of `ngates` gates
// from gate0: dhp (n, u) = beta dhp + dg (n rows of ngates*u, row stride
// ld) @ U[:, those gates' columns]^T; with gate masks each gate's share
// times its rec_masks[gate] (computed in mt).
static void back_recurrent(float *dhp, const float *dg, int ld, const float *recurrent, int gu,
                           int gate0, int ngates, float beta, const kdl_RnnShape *s, float *mt) {
    int n = s->n, u = s->units;
    if (!s->gate_masks) {
        kdl_sgemm(0, 1, n, u, ngates * u, 1.0f, dg, ld, recurrent + (size_t)gate0 * u, gu, beta,
                  dhp, u);
        return;
    }
    if (beta == 0.0f)
        memset(dhp, 0, sizeof(float) * (size_t)n * u);
    for (int g = gate0; g < gate0 + ngates; g++) {
        kdl_sgemm(0, 1, n, u, u, 1.0f, dg + (size_t)(g - gate0) * u, ld,
                  recurrent + (size_t)g * u, gu, 0.0f, mt, u);
        mask_steps(dhp, mt, s->rec_masks + (size_t)g * n * u, n, 1, u, true);
    }
}

static void simple_rows_back(void *ctx, size_t b0, size_t b1) {
    const BpttStep *st = ctx;
    const Bptt *c = st->c;
    const int u = c->s->units, ld = c->s->t * u;
    const size_t off = (size_t)step_time(c->s, st->k) * u;
    for (size_t b = b0; b < b1; b++) {
        if (row_masked(c->s, b, step_time(c->s, st->k)))
            continue;   // no gate gradient; kdl_rnn_backward carries dh
        size_t r = off + b * ld;
        gate_backward(c->dg + r, st->dh + b * u, c->pre + r, c->post + r, u, c->act);
    }
}

static void simple_rnn_step(const Bptt *c, int k, const float *dh, float *dhp) {
    int u = c->s->units, ld = c->s->t * u;
    size_t off = (size_t)step_time(c->s, k) * u;
    bptt_rows(c, k, dh, dhp, 1, simple_rows_back);
    if (k > 0 || c->want_h0)
        back_recurrent(dhp, c->dg + off, ld, c->recurrent, u, 0, 1, 0.0f, c->s, c->mt);
}

static void lstm_rows_back(void *ctx, size_t b0, size_t b1) {
    const BpttStep *st = ctx;
    const Bptt *c = st->c;
    const int k = st->k;
    const float *dh = st->dh;
    int u = c->s->units, g4 = 4 * u, ld = c->s->t * g4, ldu = c->s->t * u;
    size_t time = (size_t)step_time(c->s, k), off = time * g4, offu = time * u;
    size_t offp = k > 0 ? (size_t)step_time(c->s, k - 1) * u : 0;
    for (size_t b = b0; b < b1; b++) {
        if (row_masked(c->s, b, (int)time))
            continue;   // dc carries over unchanged (c_k = c_{k-1})
        float *da = c->tmp + b * 5 * u, *dac = da + g4;  // d_i, d_f, d_c~, d_o; d act(c)
        size_t r = off + b * ld, ru = offu + b * ldu;
        const float *ai = c->post + r, *af = ai + u, *ag = af + u, *ao = ag + u;
        const float *cs = c->x + ru, *ac = c->ac + ru;
        const float *cprev = k > 0 ? c->x + offp + (size_t)b * ldu
                             : c->s->c0 ? c->s->c0 + b * u : NULL;  // c_{-1}
        const float *dhb = dh + (size_t)b * u;
        float *dc = c->dc + (size_t)b * u;
        for (int j = 0; j < u; j++) {
            dac[j] = dhb[j] * ao[j];
            da[3 * u + j] = dhb[j] * ac[j];
        }
        gate_backward(dc, dac, cs, ac, u, c->act);
        for (int j = 0; j < u; j++) {
            da[j] = dc[j] * ag[j];
            da[u + j] = cprev ? dc[j] * cprev[j] : 0.0f;
            da[2 * u + j] = dc[j] * ai[j];
            dc[j] *= af[j];
        }
        for (int gi = 0; gi < 4; gi++) {
            size_t o = (size_t)gi * u;
            gate_backward(c->dg + r + o, da + o, c->pre + r + o, c->post + r + o, u,
                          gi == 2 ? c->act : c->ract);
        }
    }
}

static void lstm_step(const Bptt *c, int k, const float *dh, float *dhp) {
    int u = c->s->units, g4 = 4 * u, ld = c->s->t * g4;
    size_t off = (size_t)step_time(c->s, k) * g4;
    bptt_rows(c, k, dh, dhp, 5, lstm_rows_back);
    if (k > 0 || c->want_h0)
        back_recurrent(dhp, c->dg + off, ld, c->recurrent, g4, 0, 4, 0.0f, c->s, c->mt);
}

// A GRU step's sizes: units, the row strides of the gate (3u per time step)
// and unit arrays, and the step's offsets into them.
static void gru_step_layout(const BpttStep *st, int *u, int *ld, int *ldu, size_t *off,
                            size_t *offu) {
    const kdl_RnnShape *s = st->c->s;
    size_t time = (size_t)step_time(s, st->k);
    *u = s->units;
    *ld = s->t * 3 * s->units;
    *ldu = s->t * s->units;
    *off = time * 3 * (size_t)s->units;
    *offu = time * (size_t)s->units;
}

// z and the candidate first (they need only dh), and dhp = dh z.
static void gru_zh_rows_back(void *ctx, size_t b0, size_t b1) {
    const BpttStep *st = ctx;
    const Bptt *c = st->c;
    int u, ld, ldu;
    size_t off, offu;
    gru_step_layout(st, &u, &ld, &ldu, &off, &offu);
    for (size_t b = b0; b < b1; b++) {
        if (row_masked(c->s, b, step_time(c->s, st->k)))
            continue;
        float *dz = c->tmp + b * 4 * u, *dhh = dz + 2 * u;  // the activations' gradients
        size_t r = off + b * ld;
        const float *az = c->post + r, *ah = az + 2 * u, *hp = c->hp + offu + b * ldu;
        const float *dhb = st->dh + b * u;
        for (int j = 0; j < u; j++) {
            dz[j] = dhb[j] * (hp[j] - ah[j]);
            dhh[j] = dhb[j] * (1.0f - az[j]);
            st->dhp[b * u + j] = dhb[j] * az[j];
        }
        gate_backward(c->dg + r, dz, c->pre + r, az, u, c->ract);
        gate_backward(c->dg + r + 2 * u, dhh, c->pre + r + 2 * u, ah, u, c->act);
    }
}

// Then r, whose gradient goes through the candidate's.
static void gru_r_rows_back(void *ctx, size_t b0, size_t b1) {
    const BpttStep *st = ctx;
    const Bptt *c = st->c;
    const kdl_RnnShape *s = c->s;
    int u, ld, ldu;
    size_t off, offu;
    gru_step_layout(st, &u, &ld, &ldu, &off, &offu);
    for (size_t b = b0; b < b1; b++) {
        if (row_masked(s, b, step_time(s, st->k))) {
            if (s->reset_after)     // its share of U_h's and the recurrent bias's gradients
                memset(c->dr + offu + b * ldu, 0, sizeof(float) * (size_t)u);
            continue;
        }
        float *drp = c->tmp + b * 4 * u + u;
        size_t r = off + b * ld;
        const float *ar = c->post + r + u, *dgh = c->dg + r + 2 * u;
        if (s->reset_after) {
            const float *hu = c->x + offu + b * ldu;
            float *dr = c->dr + offu + b * ldu;
            for (int j = 0; j < u; j++) {
                drp[j] = dgh[j] * hu[j];
                dr[j] = dgh[j] * ar[j];
            }
        } else {
            if (st->k == 0 && !s->h0)  // r scaled h_{-1} = 0: no gradient
                continue;
            // (r * h_{k-1} * the candidate's mask, with gate masks)
            const float *hp = c->hp + offu + b * ldu, *dr = c->dr + b * u;
            const float *hm = s->gate_masks ? s->rec_masks + (size_t)2 * s->n * u + b * u : NULL;
            float *dhpb = st->dhp + b * u;
            for (int j = 0; j < u; j++) {
                float mj = hm ? hm[j] : 1.0f;
                drp[j] = dr[j] * hp[j] * mj;
                dhpb[j] += dr[j] * ar[j] * mj;
            }
        }
        gate_backward(c->dg + r + u, drp, c->pre + r + u, ar, u, c->ract);
    }
}

static void gru_step(const Bptt *c, int k, const float *dh, float *dhp) {
    const kdl_RnnShape *s = c->s;
    int n = s->n, u = s->units, g3 = 3 * u, ld = s->t * g3, ldu = s->t * u;
    size_t time = (size_t)step_time(s, k), off = time * g3, offu = time * u;
    bptt_rows(c, k, dh, dhp, 2, gru_zh_rows_back);
    if (!s->reset_after && (k > 0 || s->h0))  // dr (n, u) = dg_h @ U_h^T: of r * h_{k-1}
        kdl_sgemm(0, 1, n, u, u, 1.0f, c->dg + off + 2 * u, ld, c->recurrent + 2 * u, g3, 0.0f,
                  c->dr, u);
    bptt_rows(c, k, dh, dhp, 1, gru_r_rows_back);
    if (k == 0 && !c->want_h0)
        return;
    back_recurrent(dhp, c->dg + off, ld, c->recurrent, g3, 0, 2, 1.0f, s, c->mt);
    if (s->reset_after)
        back_recurrent(dhp, c->dr + offu, ldu, c->recurrent, g3, 2, 1, 1.0f, s, c->mt);
}

// The recurrent kernel's gradient of `ngates` gates from gate0:
// drecurrent[:, their columns] += hp^T @ dg (dg: those gates' columns,
// row stride ld); with gate masks each gate's hp times its rec_masks[gate]
// (at every timestep, in hm).
static void recurrent_grad(float *drecurrent, int gu, int gate0, int ngates, const float *dg,
                           int ld, const float *hp, const kdl_RnnShape *s, float *hm) {
    int rows = s->n * s->t, u = s->units;
    if (!s->gate_masks) {
        kdl_sgemm(1, 0, u, ngates * u, rows, 1.0f, hp, u, dg, ld, 1.0f,
                  drecurrent + (size_t)gate0 * u, gu);
        return;
    }
    for (int g = gate0; g < gate0 + ngates; g++) {
        mask_steps(hm, hp, s->rec_masks + (size_t)g * s->n * u, s->n, s->t, u, false);
        kdl_sgemm(1, 0, u, u, rows, 1.0f, hm, u, dg + (size_t)(g - gate0) * u, ld, 1.0f,
                  drecurrent + (size_t)g * u, gu);
    }
}

// db (cols) += the column sums of a (rows, cols) with row stride ld.
static void add_col_sums(float *db, const float *a, size_t rows, int cols, int ld) {
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            db[j] += a[r * (size_t)ld + j];
}

// dh (n, u) += the gradient of step k's output (return_sequences); a zeroed
// masked output (zero_masked) has none.
static void add_out_grad(float *dh, const float *dout, const kdl_RnnShape *s, int k) {
    size_t u = (size_t)s->units;
    int ot = out_time(s, k);
    for (int b = 0; b < s->n; b++) {
        if (zero_output(s, (size_t)b, k))
            continue;
        for (size_t j = 0; j < u; j++)
            dh[(size_t)b * u + j] += dout[((size_t)b * s->t + ot) * u + j];
    }
}

// Backprop through time. ACCUMULATES into dx (n, t, in_dim), dkernel,
// drecurrent and dbias (the bias's layout: (G*u), GRU reset_after (2, 3u)),
// and, with initial states s->h0/c0, into dh0 / dc0 (n, u) their gradients
// (initial_state=; NULL for a stateful layer's carried states), each may be
// NULL; with bias NULL a non-NULL dbias receives the gradient
// at bias = 0. dout (out's shape) may be NULL too (only the states are
// used). saved is what kdl_rnn_train_forward wrote with the same in,
// weights, shape and activations; bias is not read (saved includes it).
// scratch: kdl_rnn_backward_scratch floats.
void kdl_rnn_backward(kdl_RnnKind kind, float *dx, float *dkernel, float *drecurrent, float *dbias,
                      float *dh0, float *dc0, const float *dout, const float *dh_out,
                      const float *dc_out, const float *in, const float *kernel,
                      const float *recurrent, const float *bias, const float *saved,
                      const kdl_RnnShape *s, kdl_Act act, kdl_Act recurrent_act, float *scratch) {
    (void)bias;
    assert(s && in && kernel && recurrent && saved && scratch);
    assert(s->n >= 0 && s->t >= 0 && s->in_dim > 0 && s->units > 0);
    assert(kind == KDL_RNN_SIMPLE || kind == KDL_RNN_LSTM || kind == KDL_RNN_GRU);
    int n = s->n, t = s->t, u = s->units, in_dim = s->in_dim, gu = rnn_gates(kind) * u;
    if (n == 0 || t == 0)
        return;
    size_t nt = (size_t)n * t, nu = (size_t)n * u;
    SavedLayout sl = saved_layout(kind, s);
    BackLayout bl = back_layout(kind, s);
    Bptt c = {s, saved + sl.pre, saved + sl.post, saved + sl.hp, saved + sl.x, saved + sl.ac,
              recurrent, act, recurrent_act, scratch + bl.dg, scratch + bl.dr,
              scratch + bl.dc, scratch + bl.tmp, scratch + bl.mt, s->h0 && (dh0 || dc0)};
    float *dh = scratch + bl.dh, *dhp = scratch + bl.dhp;

    // The gate gradients accumulate (gate_backward adds); the states start
    // from the gradients of the returned final states.
    memset(c.dg, 0, sizeof(float) * nt * gu);
    memset(dh, 0, sizeof(float) * nu);
    if (dout && !s->return_sequences)
        for (int b = 0; b < n; b++)  // (zeros for a row whose every step was masked)
            if (!zero_output(s, (size_t)b, t - 1))
                kdl_axpy(dh + (size_t)b * u, dout + (size_t)b * u, (size_t)u, 1.0f);
    if (dh_out)
        kdl_axpy(dh, dh_out, nu, 1.0f);
    if (kind == KDL_RNN_LSTM) {
        if (dc_out)
            memcpy(c.dc, dc_out, sizeof(float) * nu);
        else
            memset(c.dc, 0, sizeof(float) * nu);
    }
    for (int k = t - 1; k >= 0; k--) {
        if (dout && s->return_sequences)
            add_out_grad(dh, dout, s, k);
        if (kind == KDL_RNN_SIMPLE)
            simple_rnn_step(&c, k, dh, dhp);
        else if (kind == KDL_RNN_LSTM)
            lstm_step(&c, k, dh, dhp);
        else
            gru_step(&c, k, dh, dhp);
        // A masked step kept the state: its gradient passes through unchanged.
        if (s->mask && (k > 0 || c.want_h0))
            for (int b = 0; b < n; b++)
                if (row_masked(s, (size_t)b, step_time(s, k)))
                    memcpy(dhp + (size_t)b * u, dh + (size_t)b * u, sizeof(float) * (size_t)u);
        float *swap = dh;
        dh = dhp, dhp = swap;
    }
    // The initial states' gradients (given initial states: initial_state=):
    // dh holds that of h_{-1} after step 0, dc (LSTM) that of c_{-1}.
    if (dh0 && c.want_h0)
        kdl_axpy(dh0, dh, nu, 1.0f);
    if (dc0 && c.want_h0 && kind == KDL_RNN_LSTM)
        kdl_axpy(dc0, c.dc, nu, 1.0f);

    // The weights' gradients over all timesteps at once (dg's rows line up
    // with in's, and with hp's: the state each step started from).
    // With input masks gate g saw in * in_masks[g]: dx gets each gate's
    // share times its mask, dkernel's columns of g the masked inputs.
    int rows = (int)nt, gates = rnn_gates(kind);
    float *xm = scratch + bl.xm, *hm = scratch + bl.hm;
    bool in_masks = s->gate_masks && s->in_masks;
    if (dx && !in_masks)
        kdl_sgemm(0, 1, rows, in_dim, gu, 1.0f, c.dg, gu, kernel, gu, 1.0f, dx, in_dim);
    if (dkernel && !in_masks)
        kdl_sgemm(1, 0, in_dim, gu, rows, 1.0f, in, in_dim, c.dg, gu, 1.0f, dkernel, gu);
    for (int g = 0; in_masks && g < gates; g++) {
        const float *mg = s->in_masks + (size_t)g * n * in_dim;
        size_t col = (size_t)g * u;
        if (dx) {
            kdl_sgemm(0, 1, rows, in_dim, u, 1.0f, c.dg + col, gu, kernel + col, gu, 0.0f, xm,
                      in_dim);
            mask_steps(dx, xm, mg, n, t, in_dim, true);
        }
        if (dkernel) {
            mask_steps(xm, in, mg, n, t, in_dim, false);
            kdl_sgemm(1, 0, in_dim, u, rows, 1.0f, xm, in_dim, c.dg + col, gu, 1.0f,
                      dkernel + col, gu);
        }
    }
    if (drecurrent) {
        if (kind != KDL_RNN_GRU) {
            recurrent_grad(drecurrent, gu, 0, gates, c.dg, gu, c.hp, s, hm);
        } else {
            recurrent_grad(drecurrent, gu, 0, 2, c.dg, gu, c.hp, s, hm);
            // U_h multiplies h_{k-1} (gradient dr) or r * h_{k-1} (saved in
            // x; with gate masks r * h_{k-1} * mask).
            if (s->reset_after)
                recurrent_grad(drecurrent, gu, 2, 1, c.dr, u, c.hp, s, hm);
            else
                kdl_sgemm(1, 0, u, u, rows, 1.0f, c.x, u, c.dg + 2 * u, gu, 1.0f,
                          drecurrent + 2 * u, gu);
        }
    }
    if (dbias) {
        add_col_sums(dbias, c.dg, nt, gu, gu);
        if (kind == KDL_RNN_GRU && s->reset_after) {  // the recurrent bias, row 1
            add_col_sums(dbias + gu, c.dg, nt, 2 * u, gu);
            add_col_sums(dbias + gu + 2 * u, c.dr, nt, u, u);
        }
    }
}
