/*
 * test_rnn.c - kdl_simple_rnn/lstm/gru_forward against naive references.
 *
 * The references below are written straight from the Keras 3 cell
 * equations, in double, one timestep and one unit at a time (no GEMM, no
 * input projection), indexing the weights as Keras stores them: kernel
 * (in, G*u) and recurrent (u, G*u) with gate g's unit j in column g*u + j.
 * They run on random shapes (units 1..17, in_dim 1..13, t 1..9, batch 1
 * and 7) for every flag combination (return_sequences, go_backwards,
 * reset_after, bias or none, state outputs or NULL) and for every
 * activation the RNN layers can be given, with the output and scratch
 * buffers pre-filled with NaN so a missed write or a read of stale scratch
 * shows. Each case also runs with a random Keras mask (kdl_RnnShape.mask:
 * masked steps keep the states and repeat the previous output), with random
 * initial states (kdl_RnnShape.h0/c0: a stateful layer's carried states),
 * and returned sequences also as Bidirectional's layers write them
 * (reverse_out: in input order; zero_masked: zeros at masked steps). Hand-computed
 * cases pin the gate orders, the GRU bias split and the go_backwards output
 * order independently of the references.
 */
#include "check.h"

#include <string.h>

enum { CELL_RNN, CELL_LSTM, CELL_GRU };
static const char *const cell_name[] = {"simple_rnn", "lstm", "gru"};
static const int cell_gates[] = {1, 4, 3};

// ---- reference activations (double, from keras.activations) -----------------------

static double ref_sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

static double ref_act1(double x, kdl_Act a) {
    switch (a) {
    case KDL_ACT_LINEAR: return x;
    case KDL_ACT_RELU: return x > 0 ? x : 0;
    case KDL_ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case KDL_ACT_LEAKY_RELU: return x > 0 ? x : 0.2 * x;  // negative_slope=0.2
    case KDL_ACT_ELU: return x > 0 ? x : exp(x) - 1;      // alpha=1.0
    case KDL_ACT_SELU:
        return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (exp(x) - 1));
    case KDL_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case KDL_ACT_SILU: return x * ref_sigmoid(x);
    case KDL_ACT_SIGMOID: return ref_sigmoid(x);
    case KDL_ACT_HARD_SIGMOID: {
        double v = x + 3;  // relu6(x + 3) / 6
        return (v < 0 ? 0 : v > 6 ? 6 : v) / 6;
    }
    case KDL_ACT_TANH: return tanh(x);
    case KDL_ACT_SOFTPLUS: return log1p(exp(x));
    case KDL_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case KDL_ACT_EXPONENTIAL: return exp(x);
    default: abort();
    }
}

// One gate of one batch row, (u) values: softmax-like over the u values.
static void ref_act(double *x, int u, kdl_Act a) {
    if (a == KDL_ACT_SOFTMAX || a == KDL_ACT_LOG_SOFTMAX) {
        double m = x[0], s = 0;
        for (int j = 1; j < u; j++)
            m = x[j] > m ? x[j] : m;
        for (int j = 0; j < u; j++)
            s += exp(x[j] - m);
        for (int j = 0; j < u; j++)
            x[j] = a == KDL_ACT_SOFTMAX ? exp(x[j] - m) / s : x[j] - m - log(s);
        return;
    }
    for (int j = 0; j < u; j++)
        x[j] = ref_act1(x[j], a);
}

// ---- reference cells ----------------------------------------------------------------

typedef struct {
    int cell;
    kdl_RnnShape s;
    kdl_Act act, ract;
    const float *in, *kernel, *recurrent, *bias;  // bias may be NULL
} Case;

// pre[j] = x . W[:, g*u + j] + hv . U[:, g*u + j] (hv may be NULL: skipped)
static void ref_gate(double *pre, const Case *c, const float *x, const double *hv, int gate) {
    int u = c->s.units, in_dim = c->s.in_dim, gu = cell_gates[c->cell] * u;
    for (int j = 0; j < u; j++) {
        int col = gate * u + j;
        double v = 0;
        for (int i = 0; i < in_dim; i++)
            v += (double)x[i] * c->kernel[(size_t)i * gu + col];
        if (hv)
            for (int m = 0; m < u; m++)
                v += hv[m] * c->recurrent[(size_t)m * gu + col];
        pre[j] = v;
    }
}

static double bias_at(const Case *c, int idx) {
    return c->bias ? c->bias[idx] : 0.0;
}

// out / h_out / c_out as the kernels define them; one batch row at a time.
static void ref_forward(const Case *c, float *out, float *h_out, float *c_out) {
    const kdl_RnnShape *s = &c->s;
    int u = s->units;
    double h[17], cs[17], rh[17], z[17], r[17], cand[17], o[17], tmp[17], po[17];
    for (int b = 0; b < s->n; b++) {
        for (int j = 0; j < u; j++) {  // the initial states, or zeros
            h[j] = s->h0 ? s->h0[(size_t)b * u + j] : 0;
            cs[j] = s->c0 ? s->c0[(size_t)b * u + j] : 0;
            po[j] = 0;  // the previous output: zeros before the first step
        }
        int last_skip = 0;
        for (int k = 0; k < s->t; k++) {
            int time = s->go_backwards ? s->t - 1 - k : k;
            const float *x = c->in + ((size_t)b * s->t + time) * s->in_dim;
            // A masked timestep (Keras masking) keeps the states and outputs
            // the previous output (zeros before the first unmasked step, also
            // with initial states).
            int skip = s->mask && s->mask[(size_t)b * s->t + time] == 0.0f;
            switch (skip ? -1 : c->cell) {
            case CELL_RNN:
                ref_gate(tmp, c, x, h, 0);
                for (int j = 0; j < u; j++)
                    tmp[j] += bias_at(c, j);
                ref_act(tmp, u, c->act);
                memcpy(h, tmp, sizeof h);
                break;
            case CELL_LSTM: {
                double *gate_v[4] = {z, r, cand, o};  // i, f, c~, o
                for (int g = 0; g < 4; g++) {
                    ref_gate(gate_v[g], c, x, h, g);
                    for (int j = 0; j < u; j++)
                        gate_v[g][j] += bias_at(c, g * u + j);
                    ref_act(gate_v[g], u, g == 2 ? c->act : c->ract);
                }
                for (int j = 0; j < u; j++)
                    tmp[j] = cs[j] = r[j] * cs[j] + z[j] * cand[j];
                ref_act(tmp, u, c->act);
                for (int j = 0; j < u; j++)
                    h[j] = o[j] * tmp[j];
                break;
            }
            case CELL_GRU: {
                int ra = s->reset_after, rb = 3 * u;  // recurrent bias offset (row 1)
                ref_gate(z, c, x, h, 0);
                ref_gate(r, c, x, h, 1);
                for (int j = 0; j < u; j++) {
                    z[j] += bias_at(c, j) + (ra ? bias_at(c, rb + j) : 0);
                    r[j] += bias_at(c, u + j) + (ra ? bias_at(c, rb + u + j) : 0);
                }
                ref_act(z, u, c->ract);
                ref_act(r, u, c->ract);
                if (ra) {
                    double hu[17];
                    ref_gate(cand, c, x, NULL, 2);
                    for (int j = 0; j < u; j++) {
                        hu[j] = bias_at(c, rb + 2 * u + j);
                        for (int m = 0; m < u; m++)
                            hu[j] += h[m] * c->recurrent[(size_t)m * 3 * u + 2 * u + j];
                        cand[j] += bias_at(c, 2 * u + j) + r[j] * hu[j];
                    }
                } else {
                    for (int m = 0; m < u; m++)
                        rh[m] = r[m] * h[m];
                    ref_gate(cand, c, x, rh, 2);
                    for (int j = 0; j < u; j++)
                        cand[j] += bias_at(c, 2 * u + j);
                }
                ref_act(cand, u, c->act);
                for (int j = 0; j < u; j++)
                    h[j] = z[j] * h[j] + (1 - z[j]) * cand[j];
                break;
            }
            default:
                break;
            }
            for (int j = 0; !skip && j < u; j++)
                po[j] = h[j];
            // reverse_out: step k's output at timestep t-1-k; zero_masked:
            // zeros at a masked step (Bidirectional's layers).
            if (s->return_sequences) {
                int ot = s->reverse_out ? s->t - 1 - k : k;
                for (int j = 0; j < u; j++)
                    out[((size_t)b * s->t + ot) * u + j] =
                        skip && s->zero_masked ? 0.0f : (float)po[j];
            }
            last_skip = skip;
        }
        for (int j = 0; j < u; j++) {
            if (!s->return_sequences)  // (zero_masked: zeros after a masked last step)
                out[(size_t)b * u + j] = last_skip && s->zero_masked ? 0.0f : (float)po[j];
            h_out[(size_t)b * u + j] = (float)h[j];
            c_out[(size_t)b * u + j] = (float)cs[j];
        }
    }
}

// ---- running the kernels ---------------------------------------------------------------

static float *nan_filled(size_t n) {
    float *p = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

static void run_kernel(const Case *c, float *out, float *h_out, float *c_out, float *scratch) {
    switch (c->cell) {
    case CELL_RNN:
        kdl_simple_rnn_forward(out, h_out, c->in, c->kernel, c->recurrent, c->bias, &c->s, c->act,
                               scratch);
        break;
    case CELL_LSTM:
        kdl_lstm_forward(out, h_out, c_out, c->in, c->kernel, c->recurrent, c->bias, &c->s,
                         c->act, c->ract, scratch);
        break;
    case CELL_GRU:
        kdl_gru_forward(out, h_out, c->in, c->kernel, c->recurrent, c->bias, &c->s, c->act,
                        c->ract, scratch);
        break;
    }
}

// Run the kernel on exactly-sized, NaN-filled buffers and compare with the
// reference (want_states: pass h_out/c_out, else NULL).
static void compare(const Case *c, int want_states) {
    const kdl_RnnShape *s = &c->s;
    size_t nu = (size_t)s->n * s->units;
    size_t out_n = s->return_sequences ? nu * s->t : nu;
    float *out = nan_filled(out_n), *h_out = nan_filled(nu), *c_out = nan_filled(nu);
    float *scratch = nan_filled(kdl_rnn_scratch(s));
    float *r_out = check_alloc(out_n), *r_h = check_alloc(nu), *r_c = check_alloc(nu);
    run_kernel(c, out, want_states ? h_out : NULL, want_states ? c_out : NULL, scratch);
    ref_forward(c, r_out, r_h, r_c);

    char what[192];
    snprintf(what, sizeof what, "%s n=%d t=%d in=%d u=%d seq=%d back=%d reset_after=%d bias=%d "
             "act=%d ract=%d mask=%d rev=%d zero=%d init=%d",
             cell_name[c->cell], s->n, s->t, s->in_dim, s->units, s->return_sequences,
             s->go_backwards, s->reset_after, c->bias != NULL, (int)c->act, (int)c->ract,
             s->mask != NULL, s->reverse_out, s->zero_masked, s->h0 != NULL);
    check_close(what, out, r_out, out_n, 1e-4, 1e-4);
    if (want_states) {
        char w2[220];
        snprintf(w2, sizeof w2, "%s h_out", what);
        check_close(w2, h_out, r_h, nu, 1e-4, 1e-4);
        if (c->cell == CELL_LSTM) {
            snprintf(w2, sizeof w2, "%s c_out", what);
            check_close(w2, c_out, r_c, nu, 1e-4, 1e-4);
        }
    }
    free(out), free(h_out), free(c_out), free(scratch), free(r_out), free(r_h), free(r_c);
}

// ---- random cases --------------------------------------------------------------------

// Activation pairs (act, recurrent_act): Keras's default first, then every
// other activation at least once as act, and bounded ones as recurrent_act.
// Unbounded gates (LINEAR as recurrent_act) make the recurrence itself
// ill-conditioned: a 1e-7 change in the weights moves the exact result by
// up to 1e-2 after 9 steps, so no float kernel could meet the tolerance.
// EXPONENTIAL runs separately with small weights (exponential_cases).
static const kdl_Act act_pairs[][2] = {
    {KDL_ACT_TANH, KDL_ACT_SIGMOID},       {KDL_ACT_RELU, KDL_ACT_HARD_SIGMOID},
    {KDL_ACT_LINEAR, KDL_ACT_SIGMOID},     {KDL_ACT_TANH, KDL_ACT_HARD_SIGMOID},
    {KDL_ACT_RELU6, KDL_ACT_SIGMOID},      {KDL_ACT_LEAKY_RELU, KDL_ACT_HARD_SIGMOID},
    {KDL_ACT_ELU, KDL_ACT_SIGMOID},        {KDL_ACT_SELU, KDL_ACT_HARD_SIGMOID},
    {KDL_ACT_GELU, KDL_ACT_SIGMOID},       {KDL_ACT_SILU, KDL_ACT_SOFTSIGN},
    {KDL_ACT_SOFTPLUS, KDL_ACT_SIGMOID},   {KDL_ACT_SOFTSIGN, KDL_ACT_SOFTMAX},
    {KDL_ACT_SOFTMAX, KDL_ACT_SIGMOID},    {KDL_ACT_LOG_SOFTMAX, KDL_ACT_HARD_SIGMOID},
    {KDL_ACT_HARD_SIGMOID, KDL_ACT_TANH},
};
#define N_PAIRS ((int)(sizeof act_pairs / sizeof act_pairs[0]))

// One shape and activation pair under every flag combination; weights
// uniform in [-scale, scale].
static void flag_cases(int cell, int n, int t, int in_dim, int u, kdl_Act act, kdl_Act ract,
                       float scale, int with_bias, int want_states) {
    int g = cell_gates[cell];
    size_t bias_n = (size_t)2 * g * u;  // room for GRU reset_after (2, 3u)
    float *in = check_random((size_t)n * t * in_dim, -1, 1);
    float *kernel = check_random((size_t)in_dim * g * u, -scale, scale);
    float *recurrent = check_random((size_t)u * g * u, -scale, scale);
    float *bias = check_random(bias_n, -scale, scale);
    // Initial states (a stateful layer's carried states).
    float *h0 = check_random((size_t)n * u, -1, 1), *c0 = check_random((size_t)n * u, -1, 1);
    // A Keras mask: about a third of the timesteps masked, 0/1 floats.
    float *mask = check_random((size_t)n * t, 0, 1);
    for (size_t i = 0; i < (size_t)n * t; i++)
        mask[i] = mask[i] < 0.35f ? 0.0f : 1.0f;
    for (int seq = 0; seq < 2; seq++)
        for (int back = 0; back < 2; back++)
            for (int ra = 0; ra < (cell == CELL_GRU ? 2 : 1); ra++)
                for (int masked = 0; masked < 2; masked++)
                    for (int wrap = 0; wrap < (seq ? 2 : 1); wrap++)
                        for (int init = 0; init < 2; init++) {
                            // wrap: as Bidirectional runs its layers (the output
                            // in input order, zeros at masked steps); init:
                            // initial states
                            Case c = {cell,
                                      {n, t, in_dim, u, seq, back, ra, masked ? mask : NULL,
                                       wrap, wrap, 0, NULL, NULL, init ? h0 : NULL,
                                       init ? c0 : NULL},
                                      act, ract, in, kernel, recurrent, with_bias ? bias : NULL};
                            compare(&c, want_states);
                        }
    free(in), free(kernel), free(recurrent), free(bias), free(mask), free(h0), free(c0);
}

static void random_case(int cell, int n, int t, int in_dim, int u, int pair, int with_bias,
                        int want_states) {
    flag_cases(cell, n, t, in_dim, u, act_pairs[pair][0], act_pairs[pair][1], 0.5f, with_bias,
               want_states);
}

// EXPONENTIAL as act with weights small enough that exp stays near 1
// (LSTM's h = o * exp(c) compounds too fast for any fixed scale).
static void exponential_cases(void) {
    for (int trial = 0; trial < 6; trial++) {
        int n = trial % 2 ? 7 : 1;
        int t = check_int(1, 9), in_dim = check_int(1, 13), u = check_int(1, 17);
        flag_cases(CELL_RNN, n, t, in_dim, u, KDL_ACT_EXPONENTIAL, KDL_ACT_SIGMOID, 0.05f, 1, 1);
        flag_cases(CELL_GRU, n, t, in_dim, u, KDL_ACT_EXPONENTIAL, KDL_ACT_SIGMOID, 0.05f, 1, 1);
    }
}

static void random_cases(void) {
    // Fixed corners first: the smallest and the largest shape.
    for (int cell = 0; cell < 3; cell++) {
        random_case(cell, 1, 1, 1, 1, 0, 1, 1);
        random_case(cell, 7, 9, 13, 17, 0, 1, 1);
        random_case(cell, 7, 9, 13, 17, 1, 1, 1);
    }
    for (int trial = 0; trial < 60; trial++)
        for (int cell = 0; cell < 3; cell++) {
            int n = trial % 2 ? 7 : 1;
            int t = check_int(1, 9), in_dim = check_int(1, 13), u = check_int(1, 17);
            // Every pair for every cell (trial cycles them), bias off and
            // states NULL now and then.
            random_case(cell, n, t, in_dim, u, (trial + cell) % N_PAIRS, trial % 5 != 3,
                        trial % 4 != 2);
        }
}

// ---- hand-computed cases ------------------------------------------------------------
// units = 1, in_dim = 1, x = [1, 2], LINEAR / HARD_SIGMOID so every value is
// exact: hard_sigmoid(0) = 0.5, (1.5) = 0.75, (3) = 1.

static void hand(const char *what, int cell, const float *kernel, const float *recurrent,
                 const float *bias, int back, int reset_after, kdl_Act act, kdl_Act ract,
                 const float want_seq[2], float want_c) {
    static const float x[2] = {1, 2};
    kdl_RnnShape s = {1, 2, 1, 1, 1, back, reset_after, NULL, 0, 0, 0, NULL, NULL, NULL, NULL};
    float out[2], h_out, c_out = NAN;
    float *scratch = nan_filled(kdl_rnn_scratch(&s));
    Case c = {cell, s, act, ract, x, kernel, recurrent, bias};
    run_kernel(&c, out, &h_out, cell == CELL_LSTM ? &c_out : NULL, scratch);
    char w[128];
    snprintf(w, sizeof w, "hand %s back=%d sequence", what, back);
    check_close(w, out, want_seq, 2, 1e-6, 0);
    snprintf(w, sizeof w, "hand %s back=%d h_out", what, back);
    check_close(w, &h_out, &want_seq[1], 1, 1e-6, 0);
    if (cell == CELL_LSTM) {
        snprintf(w, sizeof w, "hand %s back=%d c_out", what, back);
        check_close(w, &c_out, &want_c, 1, 1e-6, 0);
    }
    // Without return_sequences out is the final state alone.
    s.return_sequences = 0;
    c.s = s;
    float last = NAN;
    run_kernel(&c, &last, NULL, NULL, scratch);
    snprintf(w, sizeof w, "hand %s back=%d last", what, back);
    check_close(w, &last, &want_seq[1], 1, 1e-6, 0);
    free(scratch);
}

static void hand_cases(void) {
    const kdl_Act L = KDL_ACT_LINEAR, HS = KDL_ACT_HARD_SIGMOID;

    // SimpleRNN, h = x*2 + h*0.5 + 1.
    // forward:   h1 = 2 + 1 = 3;             h2 = 4 + 1.5 + 1 = 6.5
    // backwards: h1 = 4 + 1 = 5 (reads x=2); h2 = 2 + 2.5 + 1 = 5.5 (reads x=1)
    {
        const float w[] = {2}, uw[] = {0.5f}, b[] = {1};
        hand("simple_rnn", CELL_RNN, w, uw, b, 0, 0, L, HS, (const float[]){3, 6.5f}, 0);
        hand("simple_rnn", CELL_RNN, w, uw, b, 1, 0, L, HS, (const float[]){5, 5.5f}, 0);
    }
    // LSTM, columns i, f, c, o: i = hs(3x) = 1, f = hs(0) = 0.5, o = hs(3) = 1
    // (bias), c~ = x + h (linear); c = 0.5 c + c~, h = c.
    // forward:   c~1 = 1, c1 = 1, h1 = 1;  c~2 = 2 + 1 = 3, c2 = 0.5 + 3 = 3.5
    // backwards: c~1 = 2, c1 = 2, h1 = 2;  c~2 = 1 + 2 = 3, c2 = 1 + 3 = 4
    {
        const float w[] = {3, 0, 1, 0}, uw[] = {0, 0, 1, 0}, b[] = {0, 0, 0, 3};
        hand("lstm", CELL_LSTM, w, uw, b, 0, 0, L, HS, (const float[]){1, 3.5f}, 3.5f);
        hand("lstm", CELL_LSTM, w, uw, b, 1, 0, L, HS, (const float[]){2, 4}, 4);
    }
    // LSTM with Keras's default activations, all weights 0 but the
    // candidate bias 1: i = f = o = sigmoid(0) = 0.5, c~ = tanh(1);
    // c1 = 0.5 tanh(1), c2 = 0.5 c1 + 0.5 tanh(1), h = 0.5 tanh(c).
    {
        const float w[] = {0, 0, 0, 0}, uw[] = {0, 0, 0, 0}, b[] = {0, 0, 1, 0};
        float c1 = 0.5f * tanhf(1), c2 = 0.5f * c1 + 0.5f * tanhf(1);
        const float want[] = {0.5f * tanhf(c1), 0.5f * tanhf(c2)};
        hand("lstm default acts", CELL_LSTM, w, uw, b, 0, 0, KDL_ACT_TANH, KDL_ACT_SIGMOID, want,
             c2);
    }
    // GRU, columns z, r, h: W = [0, 0, 1], U = [0, 0, 2]; z = hs(1.5) = 0.75,
    // r = hs(0) = 0.5; h = 0.75 h + 0.25 hh.
    // reset_after=True, bias rows input [1.5, 0, 0], recurrent [0, 0, 1]:
    //   hh = x + r (2h + 1)
    //   forward:   hh1 = 1 + 0.5 = 1.5, h1 = 0.375;
    //              hh2 = 2 + 0.5 (0.75 + 1) = 2.875, h2 = 0.28125 + 0.71875 = 1
    //   backwards: hh1 = 2 + 0.5 = 2.5, h1 = 0.625;
    //              hh2 = 1 + 0.5 (1.25 + 1) = 2.125, h2 = 0.46875 + 0.53125 = 1
    // reset_after=False, bias [1.5, 0, 1]: hh = x + 2 (r h) + 1
    //   forward:   hh1 = 2, h1 = 0.5;  hh2 = 2 + 0.5 + 1 = 3.5, h2 = 0.375 + 0.875 = 1.25
    //   backwards: hh1 = 3, h1 = 0.75; hh2 = 1 + 0.75 + 1 = 2.75, h2 = 0.5625 + 0.6875 = 1.25
    {
        const float w[] = {0, 0, 1}, uw[] = {0, 0, 2};
        const float b2[] = {1.5f, 0, 0, 0, 0, 1}, b1[] = {1.5f, 0, 1};
        hand("gru reset_after", CELL_GRU, w, uw, b2, 0, 1, L, HS, (const float[]){0.375f, 1}, 0);
        hand("gru reset_after", CELL_GRU, w, uw, b2, 1, 1, L, HS, (const float[]){0.625f, 1}, 0);
        hand("gru reset_before", CELL_GRU, w, uw, b1, 0, 0, L, HS, (const float[]){0.5f, 1.25f},
             0);
        hand("gru reset_before", CELL_GRU, w, uw, b1, 1, 0, L, HS,
             (const float[]){0.75f, 1.25f}, 0);
    }
}

int main(void) {
    hand_cases();
    random_cases();
    exponential_cases();
    return check_report();
}
