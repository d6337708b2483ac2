/*
 * emit.h - what the C emitter's files share (emit_c.c: inference, the
 * model object and its lifecycle; emit_train.c: the training step, fit).
 * Internal to the compiler, like kdlc.h.
 */
#ifndef KDL_EMIT_H
#define KDL_EMIT_H

#include "kdlc.h"

typedef struct Emit {
    Ctx *c;
    const char *stem;       // C prefix: the file name's stem made an identifier
    const char *file;       // the .kdl path (comments)
    Buf h, src;             // header and source text
    Vec wlayers;            // Layer* with weights, in first-use order
    Vec wprefix;            // their field prefixes (unique C identifiers)
    bool dyn;               // the model being emitted has run-time dimensions:
                            // buffers at m->off[plan], dims in d[]
    bool ok;
} Emit;

#define OUT(e, ...) buf_printf((e)->c->arena, &(e)->src, __VA_ARGS__)
#define HDR(e, ...) buf_printf((e)->c->arena, &(e)->h, __VA_ARGS__)

char *c_ident(Arena *a, const char *s);
int src_line(const Layer *l);
int node_line(const CallNode *n);
const char *act_enum(Arena *a, ActKind k);
double act_default_alpha(ActKind k);
const char *fstr(Arena *a, double v);
const char *wfield(Emit *e, const Layer *l, const char *wname);
Weight *find_weight(const Layer *l, const char *name);
const char *wref(Emit *e, const Layer *l, const char *name);
const char *kref(Emit *e, const IrOp *op, const char *name);
int64_t numel0(const Shape *s);
IrBuf *broot(IrBuf *b);
const char *bref(Emit *e, IrBuf *b);
// Dimension i of a buffer as C: a constant, or the run-time d[k].
const char *dimx(Emit *e, const IrBuf *b, int i);
// The product of dimensions [from, to) of b as a size_t expression.
const char *numelx(Emit *e, const IrBuf *b, int from, int to);
// Values per sample of b.
const char *sizex(Emit *e, const IrBuf *b);
// Rows of a (batch, ..., last) buffer seen as a 2-D (rows, last) array.
const char *rows_expr(Emit *e, const IrBuf *b);
void unsupported(Emit *e, IrOp *op, const char *what);
// s made safe inside a C comment ("*/" -> "* /").
const char *cmt(Emit *e, const char *s);
// LayerNormalization's (rows, cols) over its trailing axes, or false (reported).
bool layernorm_span(Emit *e, IrOp *op, const char **rows, long long *cols);
double op_alpha(IrOp *op);
void conv_shape(Emit *e, IrOp *op, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                       int64_t dh, int64_t dw, int pad, int64_t groups, int64_t dm);
// `kdl_ConvShape s` (and `p`, SeparableConv2D's pointwise half) of a conv op.
void conv_geometry(Emit *e, IrOp *op);
// `kdl_RnnShape s` of an RNN op, with n as the batch.
void rnn_shape(Emit *e, IrOp *op, const char *n);
void emit_op(Emit *e, IrOp *op);
bool layer_activation(Emit *e, IrOp *op, ActKind *act, double *alpha);
void act_span(Emit *e, const IrOp *op, const IrBuf *b, const char **rows, const char **cols);
const char *cf_len(Emit *e, const IrOp *op, const IrBuf *b, int from);
// The general layout move of op (op->cf_mask, kdl_move_axes): orig the
// buffer in the original layout whose dims it uses; back: moved -> original;
// add: accumulate (a backward).
void emit_move_axes(Emit *e, const IrOp *op, const char *dst, const char *src,
                    const IrBuf *orig, int back, int add, const char *what);
bool relu_general(const IrOp *op);
void emit_run_dims(Emit *e, IrModel *m, const char *P, const char *sizes);
const char *shape_lit(Emit *e, const IrBuf *b, int rank);
const char *dtype_c(DType t);
const char *c_string(Arena *a, const char *s);
void model_wlayers(IrModel *m, Vec *out, Arena *a);
double obj_arg(const Object *o, const char *name, double dflt);
const char *obj_str(const Object *o, const char *name, const char *dflt);
// Training code for model m (its inference lowering) from its training
// lowering t: prototypes into the header, definitions into the source.
void emit_train(Emit *e, IrModel *m, IrModel *t);
bool carry_like(Ctx *c, IrModel *dst, const IrModel *src);
int64_t rnn_state_floats(const IrOp *op);
void rnn_initial_state_args(Emit *e, const IrOp *op);
void emit_permute(Emit *e, IrOp *op, const char *dst, const char *src, const IrBuf *shape,
                  bool backward);
void image_dims(Emit *e, const IrOp *op, const char **h, const char **w, const char **c,
                const char **oh, const char **ow);
// The memory statistics line of a training model (kdlc emit --stats).
void emit_train_stats(Emit *e, IrModel *t);

#endif
