/*
 * kdlc.h - the one internal header of the kdl compiler.
 *
 * The pipeline (see docs/design.md):
 *   source -> lexer.l (tokens, INDENT/DEDENT) -> parser.y (AST, ast.c)
 *          -> eval.c (compile-time interpreter: runs the program, builds layers,
 *             tensors and nodes; keras.c is the `keras` module it sees)
 *          -> layers.c (the layer table: constructor signature, validation,
 *             weights, shape rule; one entry per Keras layer class)
 *          -> model.c (functional graphs, Sequential, subclass tracing,
 *             get_layer) -> summary.c (Keras-identical summary tables)
 *
 * Memory: everything lives in one arena per compilation (Ctx.arena) and is
 * released at once by ctx_free(); nothing is freed individually.
 * Errors: every user error goes through error_at() with a source span; the
 * compiler keeps going (bad values become V_ERROR "poison" that silences
 * follow-on errors) and stops after 20 errors.
 *
 * The header has one section per .c file, in pipeline order.
 */
#ifndef KDLC_H
#define KDLC_H

#define KDLC_VERSION "0.1.0"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kdl.h"    // the runtime's summary renderer (kdl_summary) is the compiler's too

typedef struct Ctx Ctx;
typedef struct Node Node;
typedef struct Value Value;
typedef struct Layer Layer;
typedef struct Tensor Tensor;
typedef struct Model Model;
typedef struct Graph Graph;
typedef struct LayerClass LayerClass;
typedef struct Sig Sig;
typedef struct Env Env;
typedef struct UserClass UserClass;

//
// util.c: arena, strings, growable pointer vectors, internal errors
//

typedef struct Arena Arena;
Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);     // zeroed, 16-byte aligned
size_t arena_bytes(const Arena *a);           // memory held by the arena
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// A growable array of pointers, allocated in an arena.
typedef struct Vec {
    void **data;
    int len, cap;
} Vec;
void vec_push(Arena *a, Vec *v, void *p);

// A string builder in the arena (used by summaries and messages).
typedef struct Buf {
    char *data;
    size_t len, cap;
} Buf;
void buf_putc(Arena *a, Buf *b, char c);
void buf_puts(Arena *a, Buf *b, const char *s);
void buf_putn(Arena *a, Buf *b, const char *s, size_t n);
void buf_printf(Arena *a, Buf *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *buf_str(Arena *a, Buf *b);        // NUL-terminated, never NULL

_Noreturn void die_at(const char *file, int line, const char *fmt, ...);
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
#define unreachable() die_at(__FILE__, __LINE__, "unreachable")

// Keras's to_snake_case: "Conv2D" -> "conv2d", "ReLU" -> "re_lu".
char *snake_case(Arena *a, const char *name);
// Python-style repr of a string with single quotes: 'abc'.
char *py_repr_str(Arena *a, const char *s);
size_t utf8_length(const char *s);      // characters, as Python's len()
size_t utf8_char_len(const char *s);    // bytes of the character at s

//
// diag.c: source files, spans, diagnostics with caret lines
//

typedef struct SrcFile {
    const char *name;       // as given on the command line
    const char *text;       // NUL-terminated contents
    size_t len;
    int *line_starts;       // byte offset of each line start
    int nlines;
} SrcFile;

// A half-open byte range [start, end) in one file. Every AST node, token,
// value and layer carries one so errors can point at the user's code.
typedef struct Span {
    const SrcFile *file;
    int start, end;
} Span;

#define MAX_ERRORS 20

SrcFile *src_load(Ctx *c, const char *path);            // NULL + message on failure
SrcFile *src_from_string(Ctx *c, const char *name, const char *text, size_t len);
void src_line_col(const SrcFile *f, int off, int *line, int *col);  // 1-based
void error_at(Ctx *c, Span s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void warning_at(Ctx *c, Span s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void note_at(Ctx *c, Span s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
Span span_join(Span a, Span b);
bool span_valid(Span s);

//
// lexer.l / parser.y / ast.c: tokens and the syntax tree
//

typedef enum {
    // expressions
    ND_NAME, ND_INT, ND_FLOAT, ND_STR, ND_FSTR, ND_NONE, ND_TRUE, ND_FALSE,
    ND_LIST, ND_TUPLE, ND_DICT, ND_CALL, ND_ATTR, ND_INDEX, ND_SLICE,
    ND_BINOP, ND_UNARY, ND_COMPARE, ND_AND, ND_OR, ND_NOT, ND_IFEXP,
    ND_LISTCOMP, ND_STARRED, ND_KWARG, ND_DSTAR,
    // statements
    ND_EXPR_STMT, ND_ASSIGN, ND_AUGASSIGN, ND_IMPORT, ND_FROM_IMPORT,
    ND_DEF, ND_CLASS, ND_RETURN, ND_FOR, ND_WHILE, ND_IF, ND_PASS, ND_BREAK,
    ND_CONTINUE, ND_ASSERT, ND_BLOCK, ND_PARAM, ND_ALIAS, ND_DECORATED,
} NodeKind;

// Operators of ND_BINOP / ND_UNARY / ND_COMPARE / ND_AUGASSIGN.
typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_MATMUL,
    OP_NEG, OP_POS,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOT_IN, OP_IS, OP_IS_NOT,
} OpKind;

// One AST node. Which fields are used depends on kind (see ast.c).
struct Node {
    NodeKind kind;
    Span span;
    OpKind op;
    const char *name;       // ND_NAME, ND_ATTR attribute, ND_KWARG keyword, ND_DEF/ND_CLASS,
                            // ND_PARAM, ND_ALIAS (module path), ND_FROM_IMPORT module
    const char *alias;      // ND_ALIAS "as" name
    int64_t ival;           // ND_INT
    double fval;            // ND_FLOAT
    const char *str;        // ND_STR (decoded), ND_FSTR (raw body)
    size_t slen;
    Node *lhs, *rhs;        // binop, compare, assign target/value, attr/index base, ifexp
    Node *cond;             // if/while/ifexp/assert/listcomp condition
    Node *body, *orelse;    // blocks (ND_BLOCK)
    Node *target, *iter;    // for, listcomp
    Node *fn;               // call callee
    Vec items;              // list/tuple/dict items (dict: key,value,key,value...),
                            // call args (ND_KWARG/ND_STARRED/ND_DSTAR inside),
                            // block statements, def params (ND_PARAM), class bases,
                            // import aliases, compare chain operands, assign targets
    Vec ops;                // ND_COMPARE: OpKind per link, stored as (void*)(intptr_t)
    int param_kind;         // ND_PARAM: 0 normal, 1 *args, 2 **kwargs
    Node *dflt;             // ND_PARAM default
    int dots;               // unused placeholder for relative imports (rejected)
};

Node *new_node(Ctx *c, NodeKind kind, Span span);
void ast_dump(FILE *out, const Node *n, int indent);
// Parse a whole file into an ND_BLOCK; NULL if there were syntax errors
// (all of them are reported).
Node *parse_file(Ctx *c, SrcFile *f);
// Parse a single expression held in a file (used for f-string fields and
// constructor signatures); errors are reported at the file's spans.
Node *parse_expr_text(Ctx *c, SrcFile *f);
// Parse len bytes of f at off as one expression; spans point into f.
Node *parse_expr_at(Ctx *c, SrcFile *f, int off, int len);
const char *op_name(OpKind op);
void dump_tokens(Ctx *c, SrcFile *f, FILE *out);

//
// shape.c: shapes in Keras's tuple notation
//

#define MAX_RANK 8
#define DIM_NONE ((int64_t)-1)

typedef struct Shape {
    int rank;               // including the batch dimension
    int64_t d[MAX_RANK];    // DIM_NONE for None
} Shape;

typedef enum { DT_FLOAT32, DT_INT32, DT_INT64, DT_BOOL } DType;

Shape shape_make(int rank, const int64_t *d);
bool shape_eq(const Shape *a, const Shape *b);
// shape_str: Keras summary formatting, "(" + ", ".join(dims) + ")", so a rank-1
// shape is "(None)". shape_pystr: Python tuple repr, "(None,)" (error messages).
char *shape_str(Arena *a, const Shape *s);
char *shape_pystr(Arena *a, const Shape *s);
// Product of dims [from, rank); -1 if any is None; -2 on overflow.
int64_t shape_numel(const Shape *s, int from);
const char *dtype_name(DType t);
// Convolution/pooling output length of one spatial dim; DIM_NONE passes through.
int64_t conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same);

//
// Values at compile time (eval.c)
//

typedef enum {
    V_ERROR,        // poison: an error was already reported
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR,
    V_LIST, V_TUPLE, V_DICT,
    V_FUNC,         // user def (also methods)
    V_BUILTIN,      // C function (keras.Input, range, ...)
    V_METHOD,       // bound method: self + function/builtin
    V_CLASS,        // a layer class, a keras base class, or a user class
    V_LAYER,        // a layer or model instance (models are layers)
    V_TENSOR,       // a symbolic KerasTensor
    V_MODULE,       // keras, keras.layers, ...
    V_OBJECT,       // an optimizer/loss/initializer/regularizer config object
    V_SUPER,        // result of super()
    V_INSTANCE,     // an instance of a plain user class (no keras base)
} ValueKind;

typedef struct Dict {
    Vec keys, vals;         // insertion order (Python 3.7+); keys are Values
} Dict;

typedef struct List {
    Vec items;
    Span *spans;            // spans of the items of a list literal (for errors), or NULL
    int nspans;
} List;

typedef struct Func {
    const char *name;
    Node *def;              // ND_DEF
    Env *globals;           // the module environment
    UserClass *owner;       // for methods
    Sig *sig;
} Func;

// Builtins get their bound arguments in signature order.
typedef struct Builtin Builtin;
typedef Value *(*BuiltinFn)(Ctx *c, Value *self, Value **args, Span *spans, Span call);
struct Builtin {
    const char *name;       // "keras.Input", "range", "Model.get_layer"
    const char *sig;        // Python-like parameter list (parsed via sig_cached)
    BuiltinFn fn;
};

// A class value: either a layer class from the table, a keras base class
// (Model, Layer, Sequential), or a user class deriving from one of them.
typedef enum { CLS_LAYER, CLS_MODEL, CLS_SEQUENTIAL, CLS_BASE_LAYER, CLS_USER,
               CLS_OBJECT } ClassKind;

struct UserClass {
    const char *name;
    Node *def;
    Dict *methods;          // name -> V_FUNC
    struct Value *base;     // the keras base class value
    UserClass *parent;      // user base class, if any
    bool is_model;          // derives keras.Model (else keras.layers.Layer)
    bool plain;             // no keras base: instances are V_INSTANCE
};

// Configuration objects: optimizers, losses, initializers, regularizers,
// constraints. Kept as a class name plus bound arguments.
typedef struct Object {
    const char *module;     // "optimizers", "losses", "initializers", ...
    const char *cls;        // "Adam"
    const Sig *sig;
    Value **args;           // bound, in signature order
    Span *spans;            // where each argument was given (the call's span if defaulted)
    Span span;              // the constructor call
} Object;

typedef struct ObjectClass {
    const char *module, *name, *sig;
} ObjectClass;

typedef struct Module {
    const char *name;       // "keras", "keras.layers"
    Dict *attrs;
    struct Value *value;    // the one V_MODULE value for it (so `K is keras`)
} Module;

struct Value {
    ValueKind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; size_t len; } str;
        List *list;         // V_LIST and V_TUPLE
        Dict *dict;
        Func *func;
        Builtin *builtin;
        struct { Value *self; Value *fn; } method;
        struct {
            ClassKind kind;
            const LayerClass *layer;    // CLS_LAYER
            UserClass *user;            // CLS_USER
            const ObjectClass *object;  // CLS_OBJECT
            const char *name;
        } cls;
        Layer *layer;
        Tensor *tensor;
        Module *module;
        Object *object;
        struct { Value *self; UserClass *from; } super;
        struct { UserClass *cls; Dict *attrs; } inst;
    } u;
};

Value *v_error(void);
Value *v_none(void);
Value *v_bool(bool b);
Value *v_int(Ctx *c, int64_t i);
Value *v_float(Ctx *c, double f);
Value *v_str(Ctx *c, const char *s);
Value *v_strn(Ctx *c, const char *s, size_t n);
Value *v_list(Ctx *c);
Value *v_tuple(Ctx *c);
Value *v_dict(Ctx *c);
Value *v_layer(Ctx *c, Layer *l);
Value *v_tensor(Ctx *c, Tensor *t);
void list_append(Ctx *c, Value *list, Value *item);  // lists and tuples (while building)
int list_len(const Value *v);
Value *list_get(const Value *v, int i);
void dict_set(Ctx *c, Dict *d, Value *key, Value *val);
Value *dict_get(Dict *d, const Value *key);          // NULL if absent
Value *dict_get_str(Dict *d, const char *key);
bool value_eq(const Value *a, const Value *b);
bool value_truthy(const Value *v);
const char *value_type_name(const Value *v);          // "int", "str", "Dense", "KerasTensor"
char *value_repr(Ctx *c, const Value *v);             // Python repr
char *value_str(Ctx *c, const Value *v);              // Python str
bool is_number(const Value *v);
double num_val(const Value *v);

//
// Signatures and argument binding (eval.c). Used for user functions,
// builtins, layer constructors and config objects alike.
//

typedef struct Param {
    const char *name;
    Value *dflt;            // NULL: required
    int kind;               // 0 normal, 1 *args, 2 **kwargs, 3 keyword-only
} Param;

struct Sig {
    Param *params;
    int nparams;
};

// Parse "units, activation=None, use_bias=True" (defaults are constant
// expressions). Internal signatures only; a bad one is a die().
Sig *sig_parse(Ctx *c, const char *text);
// sig_parse once per context for a static signature string (keyed by pointer).
Sig *sig_cached(Ctx *c, const char *text);
bool sig_has(const Sig *sig, const char *name);
// The parsed constructor signature of a table class.
Sig *layer_class_sig(Ctx *c, const LayerClass *cls);

// One actual argument of a call.
typedef struct Arg {
    const char *kw;         // NULL for positional
    Value *val;
    Span span;
} Arg;

// Bind args to sig. out[i]/spans[i] get the value (or default) and the span
// of the expression that gave it (the call span for defaults). *args
// collects into a tuple, **kwargs into a dict. Reports missing, unknown
// and duplicate arguments as errors naming `what` ("Dense()", "f()").
bool sig_bind(Ctx *c, const Sig *sig, const char *what, Arg *args, int nargs,
              Span call, Value **out, Span *spans);

//
// Layers, tensors, nodes (layers.c is the table; eval.c/model.c the glue)
//

typedef enum {
#define X(id, str) ACT_##id,
#include "activations.def"
#undef X
    ACT_COUNT
} ActKind;
const char *act_name(ActKind a);
bool act_lookup(const char *name, ActKind *out);

// One weight variable of a layer.
typedef struct Weight {
    const char *name;       // "kernel", "bias", "gamma", "moving_mean", ...
    Shape shape;            // no batch dim; rank may be 0..MAX_RANK
    bool trainable;         // variable-level (BatchNormalization moving stats: false)
    Value *initializer;     // string or config object (from the layer's args)
    Layer *owner;
} Weight;

// A symbolic KerasTensor.
struct Tensor {
    Shape shape;
    DType dtype;
    const char *name;       // "input_layer", "keras_tensor_3"
    struct CallNode *node;  // producer call (InputLayers have a node too)
    int index;              // which output of node
    int id;
};

// One call of a layer (Keras's Node): inputs -> outputs.
typedef struct CallNode {
    Layer *layer;
    Tensor **in;            // flattened input tensors
    int nin;
    Value *in_struct;       // the input argument as passed (tensor or list/dict)
    Tensor **out;
    int nout;
    Value *out_struct;      // what the call returned
    int training;           // -1 not given, 0 False, 1 True (explicit training=)
    Value *kwargs;          // other call keyword arguments (dict), or NULL; for a
                            // subclass, the extra arguments its call() is traced with
    int nmain;              // in[0..nmain) come from in_struct, the rest are tensors
                            // among a subclass's extra call arguments
    Span span;              // the call expression
    int node_index;         // index in layer->nodes (Keras's node_index); -1 if traced
    bool traced;            // recorded inside a subclass call() trace
    int id;
} CallNode;

// Rules for one layer class. Adding a layer = one entry in layers.c.
struct LayerClass {
    const char *name;       // Keras class name: "Dense"
    const char *sig;        // constructor parameters (Python syntax)
    unsigned flags;
    // Validate constructor arguments (report at the arg spans). Return false
    // after reporting errors.
    bool (*init)(Ctx *c, Layer *l);
    // First call: create weights from the input shapes. May report errors.
    bool (*build)(Ctx *c, Layer *l, const Shape *in, int nin, Span at);
    // Output shape(s) for input shapes. Must report (naming the layer via
    // layer_label) and return false on incompatible inputs.
    bool (*infer)(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout, Span at);
};

enum {
    LC_MULTI_INPUT = 1 << 0,    // called on a list of tensors (Add, Concatenate)
    LC_TRAINING    = 1 << 1,    // call takes `training` (Dropout, BN, RandomCrop)
    LC_INPUT       = 1 << 2,    // InputLayer
    LC_INT_INPUT   = 1 << 3,    // accepts integer tensors (Embedding)
    LC_MULTI_OUTPUT= 1 << 4,    // may return several tensors (RNN return_state)
    LC_BUILT_AT_INIT = 1 << 5,  // stateless: built in __init__ (Keras _build_at_init);
                                // in a subclass the summary shows `?` and `0` for it
};

extern const LayerClass layer_classes[];
extern const int num_layer_classes;
const LayerClass *layer_class_find(const char *name);

// The function forms in keras.layers: add -> Add, concatenate -> Concatenate.
typedef struct LayerFunc { const char *name, *cls; } LayerFunc;
extern const LayerFunc layer_funcs[];
extern const LayerFunc layer_aliases[];     // MaxPool2D -> MaxPooling2D, ...

struct Layer {
    const LayerClass *cls;  // NULL for models
    Model *model;           // non-NULL for Functional / Sequential / subclass models
    UserClass *ucls;        // subclassed models and layers
    const char *class_name; // "Dense", "Functional", "Sequential", "MyModel"
    const char *name;
    Span span;              // the constructor call
    Value **args;           // bound constructor args, in cls->sig order
    Span *arg_spans;
    Sig *sig;
    Dict *attrs;            // user attributes (subclasses) and extra python attrs
    Vec tracked;            // subclasses: layers assigned to self, in order; wrappers
                            // (Bidirectional, TimeDistributed): the layers they wrap
    const char *path;       // a wrapped layer: "<wrapper>/<name>", the prefix of its
                            // weights' names (NULL: its name); layer_path()
    bool trainable;
    bool built;
    Shape build_in[8];      // input shapes the layer was built with
    int nbuild_in;
    Shape last_out[8];      // output shapes of the most recent call (summary)
    int nlast_out;
    Value *last_out_struct; // structure of the most recent call's output
    Weight **weights;       // own weights, trainable first then non-trainable
    int nweights;
    Vec nodes;              // CallNode*: symbolic calls outside traces (Keras inbound nodes)
    int id;                 // creation order in the file
    // Layer-specific data the table fills in at init (e.g. parsed kernel size).
    int64_t iv[16];
    double fv[4];
    ActKind act;
    DType dtype;            // InputLayer: the input's dtype
    Value *input_shape_arg; // Keras 2 style `input_shape=` kwarg (Sequential's first layer)
};

// The prefix of a layer's weight names: its name, or "<wrapper>/<name>".
const char *layer_path(const Layer *l);
// wrappers.c: Bidirectional and TimeDistributed (table entries in layers.c).
bool bidirectional_init(Ctx *c, Layer *l);
bool bidirectional_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at);
bool bidirectional_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                         Span at);
bool time_distributed_init(Ctx *c, Layer *l);
bool time_distributed_build(Ctx *c, Layer *l, const Shape *in, int nin, Span at);
bool time_distributed_infer(Ctx *c, Layer *l, const Shape *in, int nin, Shape *out, int *nout,
                            Span at);
// "conv2d_1 (Conv2D)" — how errors name a layer.
const char *layer_label(Ctx *c, const Layer *l);
// Accessors for bound constructor arguments (by parameter name; die() on a
// name the signature lacks: that is a bug in the table).
Value *larg(const Layer *l, const char *name);
Span larg_span(const Layer *l, const char *name);
// Typed getters that report "Dense: argument `units` must be a positive
// integer, got -3" at the argument and return false.
bool larg_int(Ctx *c, Layer *l, const char *name, int64_t *out);
bool larg_float(Ctx *c, Layer *l, const char *name, double *out);
bool larg_bool(Ctx *c, Layer *l, const char *name, bool *out);
// An int or a tuple/list of n ints (kernel_size=3 or (3, 3)).
bool larg_ints(Ctx *c, Layer *l, const char *name, int n, int64_t *out);
// One of the strings in `choices` (NULL-terminated), case-insensitive as
// Keras lowercases padding; index in *out.
bool larg_choice(Ctx *c, Layer *l, const char *name, const char *const *choices, int *out);
// None/"linear" -> ACT_LINEAR; unknown strings are errors listing the choices.
bool larg_activation(Ctx *c, Layer *l, const char *name, ActKind *out);
Weight *layer_add_weight(Ctx *c, Layer *l, const char *name, const Shape *shape,
                         bool trainable, const char *init_arg);
int64_t layer_count_params(const Layer *l, int which); // which: 0 all, 1 trainable, 2 non-trainable

//
// model.c: functional graphs, Sequential, subclass tracing, get_layer
//

typedef enum { MODEL_FUNCTIONAL, MODEL_SEQUENTIAL, MODEL_SUBCLASS } ModelKind;

// A wired computation: inputs -> nodes -> outputs.
struct Graph {
    Tensor **inputs;
    int ninputs;
    Value *in_struct;       // inputs as the user gave them (tensor/list/tuple/dict)
    Tensor **outputs;
    int noutputs;
    Value *out_struct;
    CallNode **nodes;       // execution order (topological); includes InputLayer nodes
    int nnodes;
    Layer **ops;            // distinct layers in Keras map_graph order (InputLayers included)
    int nops;
    int *node_depth;        // Keras node depth of nodes[i] (outputs 0)
};

typedef struct CompileCfg {
    Value *optimizer, *loss, *metrics, *loss_weights;
    Span span;
    Span optimizer_span, loss_span, loss_weights_span, metrics_span;    // the arguments
} CompileCfg;

typedef struct FitCfg {
    Value **args;           // bound Model.fit signature
    Span *spans;            // where each argument was given
    Sig *sig;
    Span span;
} FitCfg;

struct Model {
    ModelKind kind;
    Layer *self;            // the layer this model is
    Graph *graph;           // training=False graph; NULL while unbuilt
    Graph *train_graph;     // training=True graph (subclass trace; else == graph)
    Vec layers;             // Layer*: model.layers in Keras order
    bool built;
    Layer *seq_input;       // Sequential: its InputLayer (keras.Input first, or built)
    Vec layer_spans;        // Sequential: Span* where each layer was added
    bool broken;            // Sequential: an add() failed; stop rebuilding. A functional
                            // subclass whose super().__init__ failed (no more errors)
    bool building;          // subclass: tracing in progress (recursion guard)
    bool in_user_build;     // subclass: running the class's own build(input_shape)
    bool user_built;        // ... which has run (Keras runs it once)
    Value *build_extras;    // subclass: the extra call() arguments it was built with
    bool deferred;          // Sequential: inside the constructor (build once at the end)
    bool custom_layer;      // a keras.layers.Layer subclass, not a model
    CompileCfg *compile;
    FitCfg *fit;
    bool optimizer_built;   // fit() ran after the last compile(): Keras's optimizer
                            // variables exist (summary shows "Optimizer params")
};

//
// eval.c: the compile-time interpreter
//

struct Env {
    Dict *vars;             // name -> Value
    Env *parent;            // NULL for the module
};

typedef struct Ctx {
    Arena *arena;
    SrcFile *file;
    int nerrors, nwarnings;
    Vec reported;           // (start, end, message hash) of errors given, to give each once
    bool too_many;          // stopped after MAX_ERRORS
    FILE *err;              // diagnostics (stderr)
    FILE *out;              // summaries and print() (stdout)
    bool quiet_summaries;   // `kdlc summary`: the file's own summary() calls print nothing
    Dict *name_uids;        // Keras auto-name counters: base -> count
    int next_layer_id, next_tensor_id, next_node_id, next_trace_tensor;
    Vec layers;             // every layer created, in order
    Vec models;             // every model created, in order
    Env *globals;
    Dict *builtins;         // range, len, print, ...
    Dict *modules;          // "keras.layers" -> V_MODULE
    Vec sig_cache;          // pairs (const char *text, Sig *) for sig_cached
    Module *keras;          // the keras module tree
    // Tracing state (subclass call()): nodes of the trace being recorded, or NULL.
    Vec *trace;
    int trace_depth;
    int training_ctx;       // -1 none; 0/1 value of the enclosing call's training
    int64_t steps;          // evaluation steps (bounded: no hangs)
    int call_depth;         // recursion depth (bounded)
    Func *cur_func;         // the user function being executed (for super())
    int expr_depth;         // nesting of eval_expr (bounded)
    bool depth_reported;
    int summary_columns;    // terminal columns for summaries (COLUMNS / tty / 80)
    int64_t random_seed;    // keras.utils.set_random_seed, for weight initialisation
    bool has_random_seed;
    const char *emitted_stem;   // emit_c: the C prefix it used
} Ctx;

#define MAX_STEPS 5000000
#define MAX_CALL_DEPTH 200

Ctx *ctx_new(FILE *out, FILE *err);
void ctx_free(Ctx *c);
// Run a parsed file. Returns false if any error was reported.
bool eval_file(Ctx *c, Node *block);
// Keras auto-naming: uniquify(base) with one counter per base per file.
const char *auto_name(Ctx *c, const char *base);
// Call any callable value (used by model tracing, print_fn, ...).
Value *call_value(Ctx *c, Value *fn, Arg *args, int nargs, Span call);
Value *call_method(Ctx *c, Value *self, Value *fn, Arg *args, int nargs, Span call);
Value *get_attr(Ctx *c, Value *obj, const char *name, Span at);
Value *binary_op(Ctx *c, OpKind op, Value *a, Value *b, Span at);
// Items of an iterable as a list/tuple value, or V_ERROR (reported).
Value *iterate(Ctx *c, Value *v, Span at);
// The closest key of d to name (for "did you mean"), or NULL.
const char *closest_name(Dict *d, const char *name);

//
// builtins.c: Python builtins (range, len, print, ...) and str/list/dict methods
//

void builtins_init(Ctx *c);
extern Builtin list_methods[], dict_methods[], str_methods[];
// Format v per a format spec ("02d", ".3f", NULL); NULL after an error.
const char *format_spec(Ctx *c, Value *v, const char *spec, Span at);
Value *str_percent_format(Ctx *c, Value *fmt, Value *args, Span at);

//
// keras.c: the keras module (Input, Model, Sequential, layers, losses, ...)
//

void keras_init(Ctx *c);
Module *keras_module_lookup(Ctx *c, const char *dotted);   // "keras.layers" or NULL
Value *module_value(Ctx *c, Module *m);                     // its one V_MODULE value
// `import numpy` and friends: one error naming the module.
void report_bad_import(Ctx *c, const char *module, Span at);
// Calling keras.Model / keras.Sequential / a config class (optimizer, ...).
Value *keras_construct(Ctx *c, Value *cls, Arg *args, int nargs, Span call);
// Keras's optimizer variables for a compiled model whose optimizer is built
// (TensorFlow backend sizes: int64 iteration, float32 learning rate and
// slots); false if there are none yet.
bool model_optimizer_params(Ctx *c, Layer *m, int64_t *count, double *bytes);
// Is v a keras.optimizers.schedules object (a learning_rate Keras accepts)?
bool is_schedule(const Value *v);
// keras.Model.__init__(name=..., trainable=..., dtype=...) on a subclass instance.
void keras_base_init(Ctx *c, Layer *l, Arg *args, int nargs, Span call);
extern Builtin keras_base_init_builtin;
// Attributes and methods of layers, models and tensors.
Value *layer_get_attr(Ctx *c, Value *self, const char *name, Span at);
// Only what keras.Layer/Model define (super().attr), not the subclass's own.
Value *layer_base_attr(Ctx *c, Value *self, const char *name, Span at);
void layer_set_attr(Ctx *c, Layer *l, const char *name, Value *v, Span name_span, Span at);
// Recompute a subclass's tracked layers from its attributes.
void layer_refresh_tracked(Ctx *c, Layer *l);
Value *tensor_get_attr(Ctx *c, Value *self, const char *name, Span at);
// x + y, x * y, ... on tensors: the Add / Subtract / Multiply layers.
Value *tensor_binop(Ctx *c, OpKind op, Value *a, Value *b, Span at);
// A custom layer: a user class deriving keras.layers.Layer.
Layer *layer_new_custom(Ctx *c, UserClass *uc, Span call);
// Call a layer (or model) on inputs; records nodes; returns the outputs.
Value *layer_call(Ctx *c, Layer *l, Value *inputs, Arg *kwargs, int nkwargs, Span call);
// layer(...) as written: inputs first, later positional arguments bound to
// the names of call()'s parameters, then layer_call.
Value *layer_call_args(Ctx *c, Layer *l, Arg *args, int nargs, Span call);
// Construct a layer of a table class from call arguments.
Value *layer_construct(Ctx *c, const LayerClass *cls, Arg *args, int nargs, Span call);
Layer *layer_alloc(Ctx *c, const char *class_name, Span at);
// A new InputLayer (name NULL: auto "input_layer").
Layer *input_layer_new(Ctx *c, const char *name, Span at);
// A shape value (tuple/list of int or None) as a Shape with a leading batch
// dim (None) when with_batch, else taken as the full batch shape.
bool shape_from_value(Ctx *c, Value *v, Span at, Shape *out, bool with_batch);
// A shape as Keras shows it to Python: a tuple of ints and None.
Value *shape_to_value(Ctx *c, const Shape *s);
// Output shapes of one layer (table class or model) for input shapes.
#define MAX_IO 8
// extras: a subclass's extra call() arguments (a dict, or NULL); their
// tensors' shapes follow the inputs' in `in`.
bool layer_infer_shapes(Ctx *c, Layer *l, const Shape *in, int nin, Value *in_struct,
                        Value *extras, Shape *out, int *nout, Value **out_struct, Span at);

//
// model.c
//

// Make model layer m a Functional over inputs -> outputs (keras.Model(...)
// and functional subclasses); false after reporting errors.
bool functional_init(Ctx *c, Layer *m, Value *inputs, Value *outputs, bool trainable, Span call,
                     Span in_span, Span out_span);
Value *model_functional(Ctx *c, Value *inputs, Value *outputs, const char *name,
                        bool trainable, Span call, Span in_span, Span out_span);
Layer *model_new_sequential(Ctx *c, const char *name, Span call);
bool sequential_add(Ctx *c, Layer *seq, Value *item, Span at);
// End of Sequential([...]): build once if it starts with an InputLayer.
bool sequential_finish(Ctx *c, Layer *seq, Span at);
// v with its tensors from[i] replaced by to[i] (same structure).
Value *map_struct_tensors(Ctx *c, Value *v, Tensor **from, Tensor **to, int n);
Layer *model_new_subclass(Ctx *c, UserClass *uc, Span call);
bool model_build_subclass(Ctx *c, Layer *m, Value *input_shape, Span at);
// Output shapes of calling model m (a layer) on tensors: re-run its graph's
// shape rules; for subclasses, trace call() again (the first call builds).
bool model_infer(Ctx *c, Layer *m, const Shape *in, int nin, Value *in_struct, Value *extras,
                 Shape *out, int *nout, Value **out_struct_shape, Span at);
bool graph_infer(Ctx *c, Layer *m, Graph *g, const Shape *in, Shape *out, int *nout, Span at);
bool model_build_from_inputs(Ctx *c, Layer *m, Value *ins, Value *extras, Vec *flat, Span at);
// Placeholder tensors (for a trace) with v's structure and the shapes
// in[*k], in[*k + 1], ... in flatten order; *k advances.
Value *placeholders_for(Ctx *c, Value *v, const Shape *in, int nin, int *k, Vec *flat,
                        int depth);
bool flatten_tensors(Ctx *c, Value *v, const char *what, Span at, Vec *out);
Vec *dict_sorted_values(Ctx *c, Dict *d);
Tensor *tensor_new(Ctx *c, const Shape *s, DType dt, const char *name);
const char *trace_tensor_name(Ctx *c);
CallNode *node_new(Ctx *c, Layer *l, Tensor **in, int nin, Value *in_struct, Span span);
// Append n to its layer's inbound nodes, or to the current trace.
void node_record(Ctx *c, CallNode *n);
// Give InputLayer il its tensor and node (keras.Input, clones, Sequential.build).
Tensor *input_layer_make(Ctx *c, Layer *il, const Shape *batch_shape, DType dt,
                         const char *tensor_name, Span at);
bool weight_is_trainable(const Weight *w);
void layer_set_trainable(Layer *l, bool on);
// get_layer per the seed: index wins; errors as Keras words them.
Value *model_get_layer(Ctx *c, Layer *m, Value *name, Value *index, Span at);
bool model_is_built(const Layer *m);
// Models bound to top-level names (not custom layers), in binding order, each
// once, with the first name each is bound to.
void top_level_models(Ctx *c, Vec *names, Vec *models);
// Unique weights of a model (nested models included), in layer order.
void model_weights(Ctx *c, Layer *m, Vec *out);

//
// lower.c: the IR a model lowers to (one op per layer call, buffers, arena)
//

typedef struct IrBuf {
    int id;
    Shape shape;            // d[0] is the run-time batch
    DType dtype;
    int64_t size;           // floats (or ints) per sample
    int64_t offset;         // arena offset in floats per sample (-1: not in the arena)
    int def, last;          // live range: defining op and last reading op
    int input, output;      // model input / output index, or -1
    struct IrBuf *alias;    // shares storage with this buffer (Flatten, Dropout, ...)
    struct IrBuf *converted;    // its Cast to the other dtype (float32 <-> int32), if any
    const char *what;       // the layer or tensor it comes from (comments)
    // Training (ir_plan_train): the gradient buffer of a root buffer on a
    // path from a trainable weight to the loss, or NULL.
    struct IrBuf *grad;
    bool requires_grad;     // depends on a trainable weight
    bool is_grad;           // this is a gradient buffer
    int plan;               // index in the arena plan (ir_plan)
    // Dimensions known only at run time (a None input dimension and what
    // follows from it): dx[i] >= 0 is the index into the model's run-time
    // dimensions (IrModel.dyn) and shape.d[i] is DIM_NONE; -1: shape.d[i].
    int dx[MAX_RANK];
} IrBuf;

// A run-time dimension: one of the inputs' None dimensions (expr NULL: the
// caller gives it) or computed from earlier ones by a layer's shape rule.
typedef struct IrDim {
    const char *expr;       // C expression over d[0..k) and constants
    const char *what;       // for comments and messages
} IrDim;

// A condition on the run-time dimensions that predict checks (a RandomCrop
// input at least its crop, broadcast dimensions equal, outputs >= 1).
typedef struct IrCheck {
    const char *cond;       // C expression that must hold
    const char *msg;        // printf format for the error
    const char *args;       // its arguments (C, may be "")
} IrCheck;

typedef struct IrOp {
    Layer *layer;           // the layer called (never a model: nested models are inlined)
    CallNode *node;
    IrBuf *in[MAX_IO];
    int nin;
    IrBuf *out[MAX_IO];
    int nout;
    IrBuf *tmp;             // SeparableConv2D: the depthwise result
    IrBuf *cf_in, *cf_out;  // data_format="channels_first" (and BatchNormalization
                            // over axis 1, Softmax over another axis than the last): the
                            // input and output with axis cf_axis moved last, for the
                            // channels_last kernels
    int cf_axis;
    int cf_naxes;           // >1: the cf_naxes axes from cf_axis on moved last, as a block
                            // (a LayerNormalization over several axes)
    unsigned cf_mask;       // nonzero: a general move instead (kdl_move_axes): the axes in
                            // the mask (bit k: axis k) moved last in order, the others kept
                            // in order (LayerNormalization / Softmax over axes that are not
                            // the trailing ones nor one block); cf_naxes is their count
    ActKind act;            // the activation applied to the output (after fusion)
    double alpha;           // its parameter (leaky slope, elu alpha)
    Layer *fused;           // the activation layer fused into this op, if any
    Layer *bn;              // a BatchNormalization folded into this op's weights, if any
    int64_t fold_kernel;    // with bn or lora: offsets of the folded kernel and bias in
    int64_t fold_bias;      // the model's derived-weights area (floats)
    const char *lora;       // the weight LoRA adapts ("kernel", "embeddings"): the op
                            // reads weight + (a @ b) * alpha / rank from fold_kernel
    int64_t lora_grad;      // training: the adapted weight's gradient in the LoRA area
    bool dead;              // removed by fusion (its output aliases its input)
    int64_t carry;          // a stateful RNN at inference: 1 + the offset of its layer's
                            // states (h, then LSTM's c) in the model's carry area; 0: none
    // Keras masking (Embedding(mask_zero=True)): timestep masks are float 0/1
    // buffers shaped as the ids. mask_in: the mask the op reads (RNNs skip
    // masked steps, GlobalAveragePooling1D averages unmasked ones); mask_out:
    // the mask it writes: ids != 0 (Embedding) or the OR of mask_src (merges).
    IrBuf *mask_in, *mask_out;
    IrBuf *mask_src[MAX_IO];
    int nmask_src;
    // Training graph only:
    bool training;          // the layer runs in training mode (Dropout, BN, RandomCrop)
    IrBuf *mask;            // Dropout's mask
    IrBuf *pre;             // the pre-activation output, when the activation's derivative
                            // needs its input (gelu, silu, ...): out = act(pre)
    int64_t state_off;      // BatchNormalization in training: saved mean and 1/std
                            // (2 * channels floats in the model's state area)
    int slot;               // RNN saved-state index / RandomCrop window index, or -1
    bool backward;          // a gradient flows through or into it
    bool loss_fused;        // its activation is fused into the loss (softmax/sigmoid + CE)
} IrOp;

typedef struct IrModel {
    Layer *model;
    const char *cname;      // C name: the variable the .kdl binds the model to, as an
                            // identifier that no other model's names clash with
    const char *var;        // that variable (the program's --model)
    Vec ops, bufs;          // IrOp*, IrBuf*
    IrBuf **inputs, **outputs;
    IrBuf **out_masks;      // output i's Keras mask (0/1 floats), or NULL (lower_model)
    int ninputs, noutputs;
    int64_t arena_floats;   // per sample
    int64_t fold_floats;    // derived weights (BatchNormalization folded into Dense/Conv)
    int64_t carry_floats;   // stateful RNNs' states carried between predict calls
    int64_t carry_batch;    // their (static) batch size; 0 without stateful RNNs
    // Run-time dimensions (empty when every input dimension is known):
    int ndims;              // the inputs' None dimensions: dyn[0..ndims), in input order
    Vec dyn, checks;        // IrDim*, IrCheck*
    Vec plan;               // IrBuf*: the arena's buffers in plan order (IrBuf.plan)
    // Training graph only:
    bool training;
    int64_t state_floats;   // per-model state (BatchNormalization batch statistics)
    int nrnn, ncrop;        // RNN saved areas, RandomCrop windows
    int nsteps;             // forward ops, the loss, backward ops (ir_plan_train)
    int opt_slots;          // optimizer slot arrays per trainable weight (emit_train)
} IrModel;

// Lower the model's inference graph (training false) or its training=True
// graph (a subclass's second trace; the same graph for functional models).
// out_masks: compute the Keras masks the outputs carry (for a masked loss)
// and keep them in out_masks.
IrModel *lower_model(Ctx *c, Layer *model, const char *cname, bool training, bool out_masks);
void ir_fuse(IrModel *m);
bool is_merge_class(const char *class_name);  // Add ... Maximum, Minimum (layers.c)
bool is_rnn_class(const char *class_name);    // SimpleRNN, LSTM, GRU
int rnn_nstates(const Layer *l);              // its states: LSTM 2 (h, c), else 1
int rnn_gates(const Layer *l);                // its gates: LSTM 4, GRU 3, SimpleRNN 1
bool is_noise(const char *class_name);     // Dropout, GaussianNoise, GaussianDropout
bool noise_active(const IrOp *op);         // ... changing its input in training mode
void ir_plan(Ctx *c, IrModel *m);
// The training plan: which ops need a backward pass, gradient buffers,
// and one arena for activations kept for backward, gradients, masks.
// fused[i]: output i's activation is fused into its loss (softmax/sigmoid
// + crossentropy), so the loss gives the gradient of the activation's input.
void ir_plan_train(Ctx *c, IrModel *m, const bool *fused);
// The training steps are op i (forward, 0..n-1), the loss (n), then the
// backward of op i at 2n - i.
int ir_backward_step(const IrModel *m, int op);
// Whether an activation's derivative follows from its output (then a
// Dense/Conv applies it in its epilogue in training too).
bool act_grad_from_output(ActKind k, double alpha);

//
// emit_c.c: C for every model of a file
//

typedef struct EmitOpts {
    const char *outdir;     // NULL: generate but write nothing
    bool no_fuse;
    bool stats;             // print memory statistics to stdout
    bool program;           // also <stem>_main.c (kdlc build)
    bool train;             // training code for every model, not only compiled ones
} EmitOpts;

// Write <outdir>/<stem>.h and .c; false after reporting errors.
bool emit_c(Ctx *c, const char *kdl_path, const EmitOpts *o);

//
// summary.c: Keras-identical summary tables
//

// model.summary()'s options are the runtime's (include/kdl.h): line_length,
// positions, expand_nested, show_trainable, layer_range (+ the argument's
// str() for Keras's message), columns (the console width).
typedef kdl_SummaryOptions SummaryOpts;

// The rows Keras shows for a built model (every nested layer included, for
// expand_nested), in the arena.
void summary_model(Ctx *c, Layer *model, kdl_SummaryModel *out);
// Render the whole summary text (ending in "\n") into the arena with the
// runtime's kdl_summary; on an option error returns NULL and puts a
// message (Keras's words) in *err.
const char *summary_render(Ctx *c, Layer *model, const SummaryOpts *o, const char **err);
// A layer's Output Shape cell, as Keras's format_layer_shape prints it.
const char *format_layer_shape(Arena *a, const Layer *l);


// keras_api.c: name is public in Keras 3's module (e.g. "keras.layers",
// "PReLU") but kdl lacks it: diagnostics say so instead of guessing a typo.
bool keras_api_has(const char *module, const char *name);

#endif
