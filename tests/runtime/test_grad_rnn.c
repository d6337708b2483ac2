/*
 * test_grad_rnn.c - the recurrent layers' training kernels:
 * kdl_rnn_train_forward against the inference kernels (bit for bit), and
 * kdl_rnn_backward against central finite differences.
 *
 * The reference is an independent naive forward in double, written from the
 * Keras 3 cell equations one batch row, one timestep and one unit at a time
 * (no GEMM), indexing the weights as Keras stores them. For random douts
 * L = sum(dout * out) + sum(dh * h_final) [+ sum(dc * c_final)], and every
 * gradient is (L(p + e) - L(p - e)) / 2e with e = 1e-5, in double. Shapes
 * are small and odd (batch 1 and 3, t 1 and 4) under every flag
 * combination (return_sequences, go_backwards, bias or none, GRU
 * reset_after both ways, dh_out / dc_out given or NULL), with activation
 * pairs cycling through every Keras activation; then 300 random cases. The gradient outputs are
 * pre-filled with random values (the kernel must add to them), some are
 * NULL in turn, and the saved and scratch buffers are exactly sized and
 * NaN-filled so that a missed write or an out-of-bounds access shows.
 *
 * Gate masks (recurrent_dropout in training, Keras 3's "implementation 1"):
 * the reference multiplies h_{k-1} by gate g's recurrent mask before that
 * gate's recurrent product, and the inputs by gate g's input mask before its
 * kernel, straight from keras/src/layers/rnn/{simple_rnn,lstm,gru}.py's
 * cells (SimpleRNN: one mask each; LSTM's c and GRU's z h_{k-1} use the
 * undropped state). Those cases run every flag combination with random
 * masks of zeros and 1/(1 - rate), with and without input masks; the
 * training forward is checked through the loss of its outputs. So are
 * initial states (kdl_RnnShape.h0/c0, stateful layers): the reference starts
 * from them, and no gradient flows into them.
 */
#include "check.h"

#include <string.h>

#define MAXU 8  // units of the reference's fixed-size arrays

static const char *const kind_name[] = {"simple_rnn", "lstm", "gru"};

static int kind_gates(kdl_RnnKind k) {
    return k == KDL_RNN_LSTM ? 4 : k == KDL_RNN_GRU ? 3 : 1;
}

// ---- reference activations (double, keras.activations; names give default alphas) -------

static double ref_sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

static double ref_act1(double x, kdl_Act a) {
    switch (a) {
    case KDL_ACT_LINEAR: return x;
    case KDL_ACT_RELU: return x > 0 ? x : 0;
    case KDL_ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case KDL_ACT_LEAKY_RELU: return x > 0 ? x : 0.2 * x;
    case KDL_ACT_ELU: return x > 0 ? x : exp(x) - 1;
    case KDL_ACT_SELU:
        return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (exp(x) - 1));
    case KDL_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case KDL_ACT_SILU: return x * ref_sigmoid(x);
    case KDL_ACT_SIGMOID: return ref_sigmoid(x);
    case KDL_ACT_HARD_SIGMOID: {
        double v = x + 3;
        return (v < 0 ? 0 : v > 6 ? 6 : v) / 6;
    }
    case KDL_ACT_TANH: return tanh(x);
    case KDL_ACT_SOFTPLUS: return log1p(exp(x));
    case KDL_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case KDL_ACT_EXPONENTIAL: return exp(x);
    case KDL_ACT_HARD_SILU: return x * ref_act1(x, KDL_ACT_HARD_SIGMOID);
    case KDL_ACT_MISH: return x * tanh(log1p(exp(x)));
    default: abort();
    }
}

// One gate of one batch row in place; softmax-like ones over its u values.
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

// ---- the reference loss -----------------------------------------------------------------

typedef struct {
    kdl_RnnKind kind;
    kdl_RnnShape s;
    kdl_Act act, ract;
} Case;

// The parameters in double (bias: zeros when the layer has none, which is
// what a NULL bias computes) and the loss weights (zeros for a NULL dout /
// dh_out / dc_out).
typedef struct {
    double *in, *kernel, *recurrent, *bias;
    const double *dout, *dh, *dc;
    double *h0, *c0;    // the initial states (NULL: zeros)
} Ref;

// pre[j] = x . W[:, col0 + j] + hv . U[:, col0 + j] for j < cnt (hv NULL: skipped).
static void ref_proj(double *pre, const Case *c, const Ref *r, const double *x, const double *hv,
                     int col0, int cnt) {
    int u = c->s.units, gu = kind_gates(c->kind) * u;
    for (int j = 0; j < cnt; j++) {
        int col = col0 + j;
        double v = 0;
        for (int i = 0; i < c->s.in_dim; i++)
            v += x[i] * r->kernel[(size_t)i * gu + col];
        if (hv)
            for (int m = 0; m < u; m++)
                v += hv[m] * r->recurrent[(size_t)m * gu + col];
        pre[j] = v;
    }
}

// Gate `gate`'s view of batch row b's inputs x (into xg) and state h (into
// hg): times its masks when the case has gate masks (Keras's implementation
// 1), else x and h themselves.
static const double *gate_in(double *xg, const Case *c, const double *x, int b, int gate) {
    const kdl_RnnShape *s = &c->s;
    if (!s->gate_masks || !s->in_masks)
        return x;
    const float *m = s->in_masks + ((size_t)gate * s->n + b) * s->in_dim;
    for (int i = 0; i < s->in_dim; i++)
        xg[i] = x[i] * m[i];
    return xg;
}

static const double *gate_h(double *hg, const Case *c, const double *h, int b, int gate) {
    const kdl_RnnShape *s = &c->s;
    if (!s->gate_masks)
        return h;
    const float *m = s->rec_masks + ((size_t)gate * s->n + b) * s->units;
    for (int j = 0; j < s->units; j++)
        hg[j] = h[j] * m[j];
    return hg;
}

#define MAXIN 8  // in_dim of the reference's fixed-size arrays

// One step of the cell for batch row b: h, cs (LSTM cell) updated in place.
static void ref_step(const Case *c, const Ref *r, const double *x, double *h, double *cs, int b_row) {
    int u = c->s.units;
    const double *b = r->bias;
    double g[4 * MAXU], hh[MAXU], rh[MAXU], xg[MAXIN], hg[MAXU];
    switch (c->kind) {
    case KDL_RNN_SIMPLE:
        ref_proj(g, c, r, gate_in(xg, c, x, b_row, 0), gate_h(hg, c, h, b_row, 0), 0, u);
        for (int j = 0; j < u; j++)
            g[j] += b[j];
        ref_act(g, u, c->act);
        memcpy(h, g, sizeof(double) * (size_t)u);
        break;
    case KDL_RNN_LSTM: {  // i, f, c~, o
        for (int k = 0; k < 4; k++)
            ref_proj(g + k * u, c, r, gate_in(xg, c, x, b_row, k), gate_h(hg, c, h, b_row, k),
                     k * u, u);
        for (int j = 0; j < 4 * u; j++)
            g[j] += b[j];
        for (int k = 0; k < 4; k++)
            ref_act(g + k * u, u, k == 2 ? c->act : c->ract);
        for (int j = 0; j < u; j++) {
            cs[j] = g[u + j] * cs[j] + g[j] * g[2 * u + j];
            hh[j] = cs[j];
        }
        ref_act(hh, u, c->act);
        for (int j = 0; j < u; j++)
            h[j] = g[3 * u + j] * hh[j];
        break;
    }
    case KDL_RNN_GRU: {  // z, r, hh
        int ra = c->s.reset_after, rb = 3 * u;  // recurrent bias: row 1 of (2, 3u)
        for (int k = 0; k < 2; k++)
            ref_proj(g + k * u, c, r, gate_in(xg, c, x, b_row, k), gate_h(hg, c, h, b_row, k),
                     k * u, u);
        const double *xh = gate_in(xg, c, x, b_row, 2), *hh_in = gate_h(hg, c, h, b_row, 2);
        for (int j = 0; j < 2 * u; j++)
            g[j] += b[j] + (ra ? b[rb + j] : 0);
        ref_act(g, u, c->ract);
        ref_act(g + u, u, c->ract);
        if (ra) {
            double hu[MAXU];
            ref_proj(hh, c, r, xh, NULL, 2 * u, u);
            for (int j = 0; j < u; j++) {
                hu[j] = b[rb + 2 * u + j];
                for (int m = 0; m < u; m++)
                    hu[j] += hh_in[m] * r->recurrent[(size_t)m * 3 * u + 2 * u + j];
                hh[j] += b[2 * u + j] + g[u + j] * hu[j];
            }
        } else {
            for (int m = 0; m < u; m++)
                rh[m] = g[u + m] * hh_in[m];
            ref_proj(hh, c, r, xh, NULL, 2 * u, u);
            for (int j = 0; j < u; j++) {
                for (int m = 0; m < u; m++)
                    hh[j] += rh[m] * r->recurrent[(size_t)m * 3 * u + 2 * u + j];
                hh[j] += b[2 * u + j];
            }
        }
        ref_act(hh, u, c->act);
        for (int j = 0; j < u; j++)
            h[j] = g[j] * h[j] + (1 - g[j]) * hh[j];
        break;
    }
    }
}

// L = sum(dout * out) + sum(dh * h_final) + sum(dc * c_final).
static double ref_loss(const Case *c, const Ref *r) {
    const kdl_RnnShape *s = &c->s;
    int u = s->units;
    double loss = 0;
    for (int b = 0; b < s->n; b++) {
        double h[MAXU] = {0}, cs[MAXU] = {0};  // the initial states, or zeros
        double po[MAXU] = {0};  // the previous output: zeros before the first step
        int skip = 0;
        for (int j = 0; j < u; j++) {
            h[j] = r->h0 ? r->h0[(size_t)b * u + j] : 0;
            cs[j] = r->c0 ? r->c0[(size_t)b * u + j] : 0;
        }
        for (int k = 0; k < s->t; k++) {
            int time = s->go_backwards ? s->t - 1 - k : k;
            // A Keras mask: a masked step keeps the states and outputs the
            // previous output (zeros with zero_masked).
            skip = s->mask && s->mask[(size_t)b * s->t + time] == 0.0f;
            if (!skip)
                ref_step(c, r, r->in + ((size_t)b * s->t + time) * s->in_dim, h, cs, b);
            for (int j = 0; !skip && j < u; j++)
                po[j] = h[j];
            // reverse_out (Bidirectional's backward layer): step k's output
            // is at timestep t-1-k.
            int ot = s->reverse_out ? s->t - 1 - k : k;
            if (s->return_sequences && !(skip && s->zero_masked))
                for (int j = 0; j < u; j++)
                    loss += r->dout[((size_t)b * s->t + ot) * u + j] * po[j];
        }
        for (int j = 0; j < u; j++) {
            if (!s->return_sequences && !(skip && s->zero_masked))
                loss += r->dout[(size_t)b * u + j] * po[j];
            loss += r->dh[(size_t)b * u + j] * h[j] + r->dc[(size_t)b * u + j] * cs[j];
        }
    }
    return loss;
}

// grad[i] = dL/dp[i] by central differences.
static void fd_grad(double *grad, const Case *c, const Ref *r, double *p, size_t count) {
    const double e = 1e-5;
    for (size_t i = 0; i < count; i++) {
        double keep = p[i];
        p[i] = keep + e;
        double lp = ref_loss(c, r);
        p[i] = keep - e;
        double lm = ref_loss(c, r);
        p[i] = keep;
        grad[i] = (lp - lm) / (2 * e);
    }
}

// ---- helpers ----------------------------------------------------------------------------

static float *nan_filled(size_t n) {
    float *p = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

// A double copy of f (n), or zeros when f is NULL.
static double *to_double(const float *f, size_t n) {
    double *d = calloc(n ? n : 1, sizeof(double));
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; f && i < n; i++)
        d[i] = f[i];
    return d;
}

static void infer_forward(const Case *c, float *out, float *h_out, float *c_out, const float *in,
                          const float *kernel, const float *recurrent, const float *bias,
                          float *scratch) {
    switch (c->kind) {
    case KDL_RNN_SIMPLE:
        kdl_simple_rnn_forward(out, h_out, in, kernel, recurrent, bias, &c->s, c->act, scratch);
        break;
    case KDL_RNN_LSTM:
        kdl_lstm_forward(out, h_out, c_out, in, kernel, recurrent, bias, &c->s, c->act, c->ract,
                         scratch);
        break;
    case KDL_RNN_GRU:
        kdl_gru_forward(out, h_out, in, kernel, recurrent, bias, &c->s, c->act, c->ract, scratch);
        break;
    }
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) == 0;
}

// ---- one case ---------------------------------------------------------------------------

// n dropout mask values as Keras draws them: 0 with probability 0.3, else
// 1 / (1 - 0.3).
static float *dropout_masks(size_t n) {
    float *m = check_alloc(n);
    for (size_t i = 0; i < n; i++)
        m[i] = check_int(0, 9) < 3 ? 0.0f : (float)(1.0 / 0.7);
    return m;
}

// Which inputs and outputs of kdl_rnn_backward a case passes as NULL.
enum {
    NULL_DX = 1, NULL_DKERNEL = 2, NULL_DRECURRENT = 4, NULL_DBIAS = 8,
    NULL_DOUT = 16, NULL_DH = 32, NULL_DC = 64,
};

typedef struct {
    const char *name;
    float *got, *prefill;
    double *param;
    size_t count;
} Grad;

static void run_case(const Case *c, int has_bias, float scale, int nulls) {
    const kdl_RnnShape *s = &c->s;
    int g = kind_gates(c->kind), u = s->units, lstm = c->kind == KDL_RNN_LSTM;
    size_t gu = (size_t)g * u, nu = (size_t)s->n * u;
    size_t n_in = (size_t)s->n * s->t * s->in_dim, n_out = s->return_sequences ? nu * s->t : nu;
    size_t n_bias = c->kind == KDL_RNN_GRU && s->reset_after ? 2 * gu : gu;
    float *in = check_random(n_in, -1, 1);
    float *kernel = check_random((size_t)s->in_dim * gu, -scale, scale);
    float *recurrent = check_random((size_t)u * gu, -scale, scale);
    float *bias = has_bias ? check_random(n_bias, -scale, scale) : NULL;
    float *dout = nulls & NULL_DOUT ? NULL : check_random(n_out, -1, 1);
    float *dh_out = nulls & NULL_DH ? NULL : check_random(nu, -1, 1);
    float *dc_out = !lstm || nulls & NULL_DC ? NULL : check_random(nu, -1, 1);
    // Gate masks: the case's kdl_RnnShape points at them (a copy: c is const).
    Case cm = *c;
    float *rec_masks = NULL, *in_masks = NULL;
    float *h0 = NULL, *c0 = NULL;
    if (cm.s.h0) {  // (non-NULL in the case: draw initial states)
        h0 = check_random(nu, -1, 1);
        c0 = lstm ? check_random(nu, -1, 1) : NULL;
        cm.s.h0 = h0;
        cm.s.c0 = c0;
        c = &cm;
        s = &c->s;
    }
    if (cm.s.gate_masks) {
        rec_masks = dropout_masks((size_t)g * nu);
        cm.s.rec_masks = rec_masks;
        if (cm.s.in_masks) {  // (non-NULL in the case: draw them)
            in_masks = dropout_masks((size_t)g * s->n * s->in_dim);
            cm.s.in_masks = in_masks;
        }
        c = &cm;
        s = &c->s;
    }

    char what[200];
    int len = snprintf(what, sizeof what,
                       "%s n=%d t=%d in=%d u=%d seq=%d back=%d ra=%d bias=%d act=%d ract=%d "
                       "nulls=%d gate_masks=%d in_masks=%d",
                       kind_name[c->kind], s->n, s->t, s->in_dim, u, s->return_sequences,
                       s->go_backwards, s->reset_after, has_bias, (int)c->act, (int)c->ract,
                       nulls, s->gate_masks, s->in_masks != NULL);
    char msg[260];

    // The training forward gives the inference forward's outputs, bit for bit.
    float *out = nan_filled(n_out), *h_out = nan_filled(nu), *c_out = nan_filled(nu);
    float *r_out = nan_filled(n_out), *r_h = nan_filled(nu), *r_c = nan_filled(nu);
    float *scratch = nan_filled(kdl_rnn_scratch(s));
    float *saved = nan_filled(kdl_rnn_saved_floats(c->kind, s));
    if (s->gate_masks || s->h0)  // (the training kernel with every output; the inference
                                 // kernels neither drop nor, into h_out, keep h0 apart)
        kdl_rnn_train_forward(c->kind, r_out, r_h, lstm ? r_c : NULL, saved, in, kernel,
                              recurrent, bias, s, c->act, c->ract);
    else
        infer_forward(c, r_out, r_h, lstm ? r_c : NULL, in, kernel, recurrent, bias, scratch);
    int states = !(nulls & NULL_DH);  // the case returns its states (or not)
    kdl_rnn_train_forward(c->kind, out, states ? h_out : NULL, states && lstm ? c_out : NULL,
                          saved, in, kernel, recurrent, bias, s, c->act, c->ract);
    snprintf(msg, sizeof msg, "%.*s train_forward out", len, what);
    check_true(msg, same_bits(out, r_out, n_out));
    if (states) {
        snprintf(msg, sizeof msg, "%.*s train_forward h_out", len, what);
        check_true(msg, same_bits(h_out, r_h, nu));
        if (lstm) {
            snprintf(msg, sizeof msg, "%.*s train_forward c_out", len, what);
            check_true(msg, same_bits(c_out, r_c, nu));
        }
    }

    // The backward on pre-filled gradients, some NULL; the initial states'
    // with initial states (h0 and, LSTM, c0; dc0 NULL when dh0 is, in turn).
    Grad grads[6] = {
        {"dx", NULL, NULL, to_double(in, n_in), n_in},
        {"dkernel", NULL, NULL, to_double(kernel, (size_t)s->in_dim * gu),
         (size_t)s->in_dim * gu},
        {"drecurrent", NULL, NULL, to_double(recurrent, (size_t)u * gu), (size_t)u * gu},
        {"dbias", NULL, NULL, to_double(bias, n_bias), n_bias},
        {"dh0", NULL, NULL, h0 ? to_double(h0, nu) : NULL, nu},
        {"dc0", NULL, NULL, c0 ? to_double(c0, nu) : NULL, nu},
    };
    for (int i = 0; i < 6; i++)
        if (i < 4 ? !(nulls & (1 << i)) : grads[i].param && !(nulls & NULL_DX)) {
            grads[i].prefill = check_random(grads[i].count, -1, 1);
            grads[i].got = check_alloc(grads[i].count);
            memcpy(grads[i].got, grads[i].prefill, sizeof(float) * grads[i].count);
        }
    float *bscratch = nan_filled(kdl_rnn_backward_scratch(c->kind, s));
    kdl_rnn_backward(c->kind, grads[0].got, grads[1].got, grads[2].got, grads[3].got,
                     grads[4].got, grads[5].got, dout, dh_out, dc_out, in, kernel, recurrent,
                     bias, saved, s, c->act, c->ract, bscratch);

    // Finite differences of the reference loss, which must also match the
    // loss of the kernel's own outputs.
    double *w_out = to_double(dout, n_out), *w_h = to_double(dh_out, nu);
    double *w_c = to_double(dc_out, nu);
    Ref r = {grads[0].param, grads[1].param, grads[2].param, grads[3].param, w_out, w_h, w_c,
             grads[4].param, grads[5].param};
    double loss = 0;
    for (size_t i = 0; i < n_out; i++)
        loss += w_out[i] * r_out[i];
    for (size_t i = 0; i < nu; i++)
        loss += w_h[i] * r_h[i] + (lstm ? w_c[i] * r_c[i] : 0);
    float got_loss = (float)loss, want_loss = (float)ref_loss(c, &r);
    snprintf(msg, sizeof msg, "%.*s loss", len, what);
    check_close(msg, &got_loss, &want_loss, 1, 1e-4, 1e-4);
    for (int i = 0; i < 6; i++) {
        Grad *gr = &grads[i];
        if (gr->got) {
            double *fd = to_double(NULL, gr->count);
            float *want = check_alloc(gr->count);
            fd_grad(fd, c, &r, gr->param, gr->count);
            for (size_t j = 0; j < gr->count; j++)
                want[j] = (float)(gr->prefill[j] + fd[j]);
            snprintf(msg, sizeof msg, "%.*s %s", len, what, gr->name);
            check_close(msg, gr->got, want, gr->count, 2e-4, 2e-3);
            free(fd), free(want);
        }
    }
    for (int i = 0; i < 6; i++)  // after all of them: r reads every param
        free(grads[i].got), free(grads[i].prefill), free(grads[i].param);
    free(in), free(kernel), free(recurrent), free(bias), free(dout), free(dh_out), free(dc_out);
    free(out), free(h_out), free(c_out), free(r_out), free(r_h), free(r_c);
    free(scratch), free(saved), free(bscratch), free(w_out), free(w_h), free(w_c);
    free(rec_masks), free(in_masks), free(h0), free(c0);
}

// ---- the cases --------------------------------------------------------------------------

// (act, recurrent_act): Keras's default first, then every activation as act
// at least once and the bounded ones as recurrent_act (an unbounded gate
// makes the recurrence ill-conditioned). EXPONENTIAL runs with small weights.
static const kdl_Act act_pairs[][2] = {
    {KDL_ACT_TANH, KDL_ACT_SIGMOID},       {KDL_ACT_RELU, KDL_ACT_HARD_SIGMOID},
    {KDL_ACT_GELU, KDL_ACT_SIGMOID},       {KDL_ACT_LINEAR, KDL_ACT_TANH},
    {KDL_ACT_SILU, KDL_ACT_SOFTSIGN},      {KDL_ACT_ELU, KDL_ACT_SIGMOID},
    {KDL_ACT_SELU, KDL_ACT_HARD_SIGMOID},  {KDL_ACT_SOFTMAX, KDL_ACT_SIGMOID},
    {KDL_ACT_LEAKY_RELU, KDL_ACT_SOFTMAX}, {KDL_ACT_SOFTPLUS, KDL_ACT_TANH},
    {KDL_ACT_LOG_SOFTMAX, KDL_ACT_SIGMOID}, {KDL_ACT_MISH, KDL_ACT_HARD_SIGMOID},
    {KDL_ACT_RELU6, KDL_ACT_SIGMOID},      {KDL_ACT_SOFTSIGN, KDL_ACT_RELU6},
    {KDL_ACT_HARD_SILU, KDL_ACT_SIGMOID},  {KDL_ACT_HARD_SIGMOID, KDL_ACT_TANH},
};
#define N_PAIRS ((int)(sizeof act_pairs / sizeof act_pairs[0]))

// NULL patterns the cases cycle through: mostly everything given, then each
// gradient output and each incoming gradient absent in turn, and all
// gradient outputs NULL at once (nothing to check but that it runs).
static const int null_sets[] = {
    0, NULL_DH | NULL_DC, 0, NULL_DX, NULL_DC, NULL_DKERNEL | NULL_DBIAS, 0,
    NULL_DRECURRENT | NULL_DH, NULL_DOUT, NULL_DX | NULL_DKERNEL | NULL_DRECURRENT | NULL_DBIAS,
};
#define N_NULLS ((int)(sizeof null_sets / sizeof null_sets[0]))

static const int odd_sizes[] = {1, 2, 3, 5};

int main(void) {
    int idx = 0;
    for (int kind = 0; kind < 3; kind++)
        for (int ra = 0; ra < (kind == KDL_RNN_GRU ? 2 : 1); ra++)
            for (int seq = 0; seq < 2; seq++)
                for (int back = 0; back < 2; back++)
                    for (int bias = 0; bias < 2; bias++)
                        for (int n = 1; n <= 3; n += 2)
                            for (int t = 1; t <= 4; t += 3, idx++) {
                                Case c = {(kdl_RnnKind)kind,
                                          {n, t, odd_sizes[check_int(0, 3)],
                                           odd_sizes[check_int(0, 3)], seq, back, ra, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
                                          act_pairs[idx % N_PAIRS][0],
                                          act_pairs[idx % N_PAIRS][1]};
                                run_case(&c, bias, 0.6f, null_sets[idx % N_NULLS]);
                            }
    // EXPONENTIAL as act, with weights small enough that exp stays near 1;
    // and the largest shapes with Keras's default activations.
    for (int kind = 0; kind < 3; kind++)
        for (int ra = 0; ra < (kind == KDL_RNN_GRU ? 2 : 1); ra++) {
            Case c = {(kdl_RnnKind)kind, {3, 4, 3, 5, 1, 1, ra, NULL, 0, 0, 0, NULL, NULL, NULL, NULL}, KDL_ACT_EXPONENTIAL,
                      KDL_ACT_SIGMOID};
            run_case(&c, 1, 0.1f, 0);
            Case d = {(kdl_RnnKind)kind, {3, 5, 5, 7, 1, 0, ra, NULL, 0, 0, 0, NULL, NULL, NULL, NULL}, KDL_ACT_TANH, KDL_ACT_SIGMOID};
            run_case(&d, 1, 0.6f, 0);
            d.s.return_sequences = 0, d.s.go_backwards = 1;
            run_case(&d, 1, 0.6f, 0);
        }
    // Gate masks (recurrent_dropout), with and without input masks, every
    // flag combination; in_masks non-NULL asks run_case to draw them.
    static const float want_in_masks = 1;
    for (int kind = 0; kind < 3; kind++)
        for (int ra = 0; ra < (kind == KDL_RNN_GRU ? 2 : 1); ra++)
            for (int seq = 0; seq < 2; seq++)
                for (int back = 0; back < 2; back++)
                    for (int inm = 0; inm < 2; inm++, idx++) {
                        Case c = {(kdl_RnnKind)kind,
                                  {3, 4, odd_sizes[check_int(0, 3)], odd_sizes[check_int(0, 3)],
                                   seq, back, ra, NULL, 0, 0, 1, NULL, inm ? &want_in_masks : NULL, NULL, NULL},
                                  act_pairs[idx % N_PAIRS][0], act_pairs[idx % N_PAIRS][1]};
                        // (always a bias: with masks zeroing inputs and state a
                        // gate's pre-activation is exactly 0 without one, where
                        // relu-like activations have a kink finite differences
                        // cannot take; no bias is covered above)
                        run_case(&c, 1, 0.6f, null_sets[idx % N_NULLS]);
                    }
    // Initial states (stateful layers), with and without gate masks.
    static const float want_init = 1;
    for (int kind = 0; kind < 3; kind++)
        for (int ra = 0; ra < (kind == KDL_RNN_GRU ? 2 : 1); ra++)
            for (int seq = 0; seq < 2; seq++)
                for (int back = 0; back < 2; back++)
                    for (int gm = 0; gm < 2; gm++, idx++) {
                        Case c = {(kdl_RnnKind)kind,
                                  {3, 4, odd_sizes[check_int(0, 3)], odd_sizes[check_int(0, 3)],
                                   seq, back, ra, NULL, 0, 0, gm, NULL,
                                   gm ? &want_init : NULL, &want_init, &want_init},
                                  act_pairs[idx % N_PAIRS][0], act_pairs[idx % N_PAIRS][1]};
                        run_case(&c, 1, 0.6f, null_sets[idx % N_NULLS]);
                    }
    // A Keras mask with initial states (initial_state=, dh0/dc0): a masked
    // step keeps the states and repeats the previous output, zeros before the
    // row's first unmasked one (or, zero_masked, at every masked step): no
    // gradient from those outputs.
    for (int kind = 0; kind < 3; kind++)
        for (int ra = 0; ra < (kind == KDL_RNN_GRU ? 2 : 1); ra++)
            for (int seq = 0; seq < 2; seq++)
                for (int zm = 0; zm < 2; zm++, idx++) {
                    float mask[4 * 5];
                    for (int i = 0; i < 4 * 5; i++)
                        mask[i] = check_int(0, 9) < 4 ? 0.0f : 1.0f;
                    mask[0] = mask[1] = 0;      // leading masked steps in row 0
                    for (int i = 5; i < 10; i++)
                        mask[i] = 0;            // row 1: every step masked
                    Case c = {(kdl_RnnKind)kind,
                              {4, 5, odd_sizes[check_int(0, 3)], odd_sizes[check_int(0, 3)], seq,
                               (idx & 1), ra, mask, 0, zm, 0, NULL, NULL, &want_init,
                               &want_init},
                              KDL_ACT_TANH, KDL_ACT_SIGMOID};
                    run_case(&c, 1, 0.6f, 0);
                }
    // Random shapes, flags, activations and NULLs.
    for (int trial = 0; trial < 300; trial++, idx++) {
        int kind = check_int(0, 2);
        Case c = {(kdl_RnnKind)kind,
                  {check_int(1, 3), check_int(1, 5), check_int(1, 6), check_int(1, 7),
                   check_int(0, 1), check_int(0, 1), check_int(0, 1), NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
                  act_pairs[check_int(0, N_PAIRS - 1)][0], KDL_ACT_SIGMOID};
        c.ract = act_pairs[check_int(0, N_PAIRS - 1)][1];
        c.s.reverse_out = check_int(0, 1);
        run_case(&c, check_int(0, 3) != 0, 0.6f, null_sets[check_int(0, N_NULLS - 1)]);
    }
    return check_report();
}
