/*
 * kdl.h - the one public header of the kdl runtime (libkdlrt.a).
 *
 * Generated model code (kdlc emit) calls only what is declared here. The
 * runtime is a set of kernel families, each a forward/backward pair over
 * flat float arrays (the backward halves arrive with training):
 *
 *   gemm   kdl_sgemm (OpenBLAS cblas_sgemm, or a cache-blocked portable
 *          GEMM with NO_BLAS=1)
 *   dense  kdl_dense_forward
 *   conv   kdl_conv2d_forward (1-D convs are 2-D with h = 1),
 *          kdl_conv2d_transpose_forward, kdl_depthwise_conv2d_forward
 *          (im2col + GEMM where it pays)
 *   pool   kdl_pool2d_forward (1-D: h = 1), kdl_global_pool_forward
 *   act    kdl_act_forward (every Keras activation), kdl_softmax_forward
 *   norm   kdl_batchnorm_forward (inference), kdl_layernorm_forward
 *   merge  kdl_merge_forward (add/subtract/multiply/average with
 *          broadcasting), kdl_concat_forward
 *   rnn    kdl_simple_rnn/lstm/gru_forward
 *   misc   embedding, repeat, zero padding, upsampling, crop, rescaling
 *
 * Conventions (llm.c): outputs first, then inputs, then dimensions; every
 * tensor is row-major; images are NHWC (channels_last), sequences NTC, as
 * Keras. Kernels never allocate: scratch space, when needed, is passed in
 * and its size is given by a *_scratch function. Kernels check nothing that
 * the compiler already proved (shapes); they do check data (Embedding
 * indices) and return an error code for it.
 */
#ifndef KDL_H
#define KDL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KDL_VERSION "0.1.0"

// ---- errors ----------------------------------------------------------------

typedef enum {
    KDL_OK = 0,
    KDL_ERR_INDEX,      // an Embedding index outside [0, input_dim)
    KDL_ERR_SHAPE,      // a run-time shape argument that does not fit the model
    KDL_ERR_IO,         // a file could not be read or written
    KDL_ERR_FORMAT,     // a weights/data file is malformed
    KDL_ERR_NOMEM,
    KDL_ERR_NOT_FOUND,  // get_layer: no such layer name or index
} kdl_Status;

const char *kdl_status_str(kdl_Status s);

// ---- activations -------------------------------------------------------------

// ORDER: the same order as compiler/activations.def (the compiler emits the
// enum values by name, so only the names must match).
typedef enum {
    KDL_ACT_LINEAR,
    KDL_ACT_RELU,
    KDL_ACT_RELU6,
    KDL_ACT_LEAKY_RELU,     // alpha = negative slope (Keras default 0.2)
    KDL_ACT_ELU,            // alpha (1.0)
    KDL_ACT_SELU,
    KDL_ACT_GELU,           // approximate=False (erf form), as keras.activations.gelu
    KDL_ACT_SILU,
    KDL_ACT_SIGMOID,
    KDL_ACT_HARD_SIGMOID,   // Keras 3: relu6(x + 3) / 6
    KDL_ACT_TANH,
    KDL_ACT_SOFTMAX,        // over the last axis: use kdl_softmax_forward
    KDL_ACT_LOG_SOFTMAX,    // over the last axis: use kdl_softmax_forward
    KDL_ACT_SOFTPLUS,
    KDL_ACT_SOFTSIGN,
    KDL_ACT_EXPONENTIAL,
    KDL_ACT_HARD_SILU,      // x * hard_sigmoid(x) (alias hard_swish)
    KDL_ACT_MISH,           // x * tanh(softplus(x))
} kdl_Act;

// out[i] = act(in[i]) for element-wise activations (out may equal in).
// alpha: negative slope for LEAKY_RELU, alpha for ELU; ignored otherwise.
void kdl_act_forward(float *out, const float *in, size_t n, kdl_Act act, float alpha);
// Softmax (or log-softmax) over the last axis of a (rows, cols) array,
// numerically stable (max subtracted). out may equal in.
void kdl_softmax_forward(float *out, const float *in, size_t rows, size_t cols, int log);
// Apply any activation, softmax-like ones over the last axis of size cols.
void kdl_activation_forward(float *out, const float *in, size_t rows, size_t cols, kdl_Act act,
                            float alpha);

// ---- GEMM ------------------------------------------------------------------------

// C (M,N) = alpha * op(A) @ op(B) + beta * C, row-major; op = transpose when
// trans_a / trans_b. lda/ldb/ldc are row strides. Same contract as
// cblas_sgemm(CblasRowMajor, ...).
void kdl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);
// Which GEMM the library was built with: "openblas" or "portable".
const char *kdl_gemm_backend(void);

// ---- dense ------------------------------------------------------------------------

// out (n, units) = act(in (n, in_dim) @ w (in_dim, units) + b (units)); b may be NULL.
void kdl_dense_forward(float *out, const float *in, const float *w, const float *b, int n,
                       int in_dim, int units, kdl_Act act, float alpha);

// ---- convolution -------------------------------------------------------------------

// One N-D convolution geometry (1-D: h = kh = sh = dh = 1 and pad_top = 0).
typedef struct kdl_ConvShape {
    int n;              // batch
    int h, w, c;        // input height, width, channels (NHWC)
    int oh, ow, f;      // output height, width, channels
    int kh, kw;         // kernel
    int sh, sw;         // strides
    int dh, dw;         // dilation
    int pad_top, pad_left;  // implicit zero padding before the first row/column
    int groups;         // >= 1; c % groups == 0 and f % groups == 0
    int depth_multiplier;   // >= 1; depthwise: f == c * depth_multiplier
} kdl_ConvShape;
// 1-D: h = kh = sh = dh = oh = 1 and pad_top = 0. Pooling ignores dh, dw,
// groups and f. See runtime/conv.c for how the compiler derives the pads
// of "valid", "same" and "causal" padding.

// Scratch floats kdl_conv2d_forward needs (im2col buffer), for one call.
size_t kdl_conv2d_scratch(const kdl_ConvShape *s);
// out (n, oh, ow, f) = act(conv(in (n, h, w, c), w (kh, kw, c/groups, f)) + b (f)).
void kdl_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                        const kdl_ConvShape *s, kdl_Act act, float alpha, float *scratch);
// Depthwise: w (kh, kw, c, depth_multiplier), out (n, oh, ow, c * depth_multiplier).
void kdl_depthwise_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                                  const kdl_ConvShape *s, kdl_Act act, float alpha);
// Transposed convolution: w (kh, kw, f, c) as Keras stores it; the output
// geometry (oh, ow, pad_top, pad_left) is computed by the compiler.
void kdl_conv2d_transpose_forward(float *out, const float *in, const float *w, const float *b,
                                  const kdl_ConvShape *s, kdl_Act act, float alpha);

// ---- pooling --------------------------------------------------------------------------

typedef enum { KDL_POOL_MAX, KDL_POOL_AVG } kdl_Pool;
// Window pooling over NHWC (1-D: h = kh = sh = 1). Padding cells are ignored
// (max over, and average over, the valid cells only, as Keras "same").
void kdl_pool2d_forward(float *out, const float *in, const kdl_ConvShape *s, kdl_Pool kind);
// (n, spatial, c) -> (n, c): mean or max over the spatial positions.
void kdl_global_pool_forward(float *out, const float *in, int n, int spatial, int c, kdl_Pool kind);

// ---- normalization ----------------------------------------------------------------------

// Inference batch normalization over the last axis of (rows, c):
// out = (in - mean) / sqrt(var + eps) * gamma + beta; gamma/beta may be NULL.
void kdl_batchnorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           const float *mean, const float *var, float eps, size_t rows, int c);
// Layer normalization over the last `cols` values of each row.
void kdl_layernorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           float eps, size_t rows, int cols);

// ---- merging ---------------------------------------------------------------------------

typedef enum { KDL_MERGE_ADD, KDL_MERGE_SUB, KDL_MERGE_MUL, KDL_MERGE_AVG } kdl_Merge;
// out = a (op) b with numpy broadcasting; shapes have equal rank `rank`
// (the compiler pads with 1s), out_shape[i] = max(a_shape[i], b_shape[i]).
// For AVG the compiler calls ADD then scales by 1/k (see kdl_scale).
void kdl_merge_forward(float *out, const float *a, const int *a_shape, const float *b,
                       const int *b_shape, int rank, kdl_Merge op);
void kdl_scale(float *out, const float *in, size_t n, float scale, float offset);
// Concatenate k arrays along one axis: each input is (outer, in_len[i] * inner)
// viewed as rows; out is (outer, sum(in_len) * inner).
void kdl_concat_forward(float *out, const float *const *in, const int *in_len, int k, size_t outer,
                        size_t inner);

// ---- recurrent --------------------------------------------------------------------------

typedef struct kdl_RnnShape {
    int n, t, in_dim, units;
    int return_sequences;   // out is (n, t, units) instead of (n, units)
    int go_backwards;
    int reset_after;        // GRU only
} kdl_RnnShape;
// Scratch floats for one call of any RNN kernel.
size_t kdl_rnn_scratch(const kdl_RnnShape *s);
// Keras weight layouts: kernel (in, G*u), recurrent (u, G*u), bias (G*u) or
// GRU reset_after (2, 3u); gates LSTM i,f,c,o; GRU z,r,h. bias may be NULL
// (use_bias=False). h_out / c_out receive the final states when non-NULL
// (return_state); out, h_out and c_out must not overlap. Activations given by
// name use Keras's default alpha (LEAKY_RELU 0.2, ELU 1.0). go_backwards reads
// timesteps last to first and returns the sequence in processing order, as
// Keras does.
void kdl_simple_rnn_forward(float *out, float *h_out, const float *in, const float *kernel,
                            const float *recurrent, const float *bias, const kdl_RnnShape *s,
                            kdl_Act act, float *scratch);
void kdl_lstm_forward(float *out, float *h_out, float *c_out, const float *in, const float *kernel,
                      const float *recurrent, const float *bias, const kdl_RnnShape *s,
                      kdl_Act act, kdl_Act recurrent_act, float *scratch);
void kdl_gru_forward(float *out, float *h_out, const float *in, const float *kernel,
                     const float *recurrent, const float *bias, const kdl_RnnShape *s,
                     kdl_Act act, kdl_Act recurrent_act, float *scratch);

// ---- the rest ----------------------------------------------------------------------------

// out (n, len, dim): rows of table (input_dim, dim) picked by ids; an id
// outside [0, input_dim) returns KDL_ERR_INDEX and *bad_index.
kdl_Status kdl_embedding_forward(float *out, const int32_t *ids, size_t count, const float *table,
                                 int input_dim, int dim, int64_t *bad_index);
// (n, d) -> (n, times, d)
void kdl_repeat_forward(float *out, const float *in, int n, int times, int d);
// NHWC zero padding: in (n, h, w, c) -> out (n, h + top + bottom, w + left + right, c).
void kdl_zero_pad2d_forward(float *out, const float *in, int n, int h, int w, int c, int top,
                            int bottom, int left, int right);
// Nearest-neighbour upsampling: (n, h, w, c) -> (n, h*sh, w*sw, c).
void kdl_upsample2d_forward(float *out, const float *in, int n, int h, int w, int c, int sh,
                            int sw);
// Centred crop (RandomCrop at inference): (n, h, w, c) -> (n, ch, cw, c),
// window starting at ((h - ch) / 2, (w - cw) / 2).
void kdl_center_crop_forward(float *out, const float *in, int n, int h, int w, int c, int ch,
                             int cw);

// ---- weight initialization ------------------------------------------------------------

// xoshiro256** seeded through splitmix64: the generator initializers draw from.
typedef struct kdl_Rng {
    uint64_t s[4];
} kdl_Rng;

void kdl_rng_seed(kdl_Rng *r, uint64_t seed);
uint64_t kdl_rng_next(kdl_Rng *r);
double kdl_rng_uniform(kdl_Rng *r);     // [0, 1)
double kdl_rng_normal(kdl_Rng *r);      // N(0, 1)
// The Keras initializers, given their computed parameters (the compiler
// works out Keras's fans and limits): uniform in [lo, hi); normal, or
// truncated normal redrawing values more than 2 stddev from the mean;
// constant; orthogonal (rows, cols) row-major, the QR of a normal matrix
// with q scaled by the signs of diag(r), transposed when rows < cols, times gain.
void kdl_init_uniform(float *w, size_t n, float lo, float hi, kdl_Rng *r);
void kdl_init_normal(float *w, size_t n, float mean, float stddev, int truncated, kdl_Rng *r);
void kdl_init_constant(float *w, size_t n, float value);
void kdl_init_orthogonal(float *w, int rows, int cols, float gain, kdl_Rng *r);

// ---- files: weights (safetensors), arrays (.npy, .csv) -------------------------------
//
// These read data from outside, so they validate everything and never read
// out of bounds. On failure they return a status and write a one-line message
// naming the file (and the tensor) into err (errlen bytes, may be 0).

// One weight tensor of a model: name "<layer>/<weight>", Keras layout.
typedef struct kdl_WeightSpec {
    const char *name;
    int rank;
    int64_t shape[8];
    float *data;            // load: filled; save: read
} kdl_WeightSpec;

// Load exactly the tensors in specs from a safetensors file: every spec
// must be present with dtype F32 and the same shape; a tensor in the file
// that no spec names is an error; header length, JSON syntax and offsets
// (in range, sizes matching shapes, covering the data section exactly: no
// overlaps, holes or trailing bytes) are checked. Invalid arguments from the
// caller (bad specs, duplicate names) return KDL_ERR_SHAPE.
kdl_Status kdl_safetensors_load(const char *path, const kdl_WeightSpec *specs, int n,
                                char *err, size_t errlen);
// Write specs to path atomically (a temporary file in the same directory,
// then rename), with optional metadata (NULL or a JSON object's members,
// e.g. "\"format\":\"kdl\"").
kdl_Status kdl_safetensors_save(const char *path, const kdl_WeightSpec *specs, int n,
                                const char *metadata, char *err, size_t errlen);

typedef enum { KDL_F32, KDL_I32 } kdl_DType;

// An n-dimensional array read from or written to .npy / .csv.
typedef struct kdl_Array {
    kdl_DType dtype;
    int rank;
    int64_t shape[8];
    void *data;             // float or int32_t, C order; owned (kdl_array_free)
} kdl_Array;

void kdl_array_free(kdl_Array *a);
size_t kdl_array_count(const kdl_Array *a);
// .npy version 1.0-3.0, dtypes <f4 and <i4 (also <f8 / <i8, converted with a
// range check), C order only (fortran_order True is an error).
kdl_Status kdl_npy_load(const char *path, kdl_Array *out, char *err, size_t errlen);
kdl_Status kdl_npy_save(const char *path, const kdl_Array *a, char *err, size_t errlen);
// CSV of numbers, one row per line, every row the same number of columns;
// an optional header line (a first line with no numeric field, with the same
// column count) is skipped. Result: (rows, cols) F32. Saving takes rank 0-2
// (rank 1 is written as a column, as numpy.savetxt does).
kdl_Status kdl_csv_load(const char *path, kdl_Array *out, char *err, size_t errlen);
kdl_Status kdl_csv_save(const char *path, const kdl_Array *a, char *err, size_t errlen);

// ---- layers of a generated model (M_get_layer) ------------------------------------------

// One entry of model.layers, as M_get_layer returns it: what model.summary()
// shows for the layer, and its weights as pointers into the model's weights
// (read or overwrite them; call M_prepare afterwards).
#define KDL_MAX_LAYER_WEIGHTS 16
#define KDL_NO_INDEX INT32_MIN      // M_get_layer: look up by name
typedef struct kdl_Layer {
    const char *name;
    const char *class_name;
    const char *output_shape;       // "(None, 26, 26, 32)", as in the summary
    int64_t params, trainable_params, non_trainable_params;
    int trainable;
    int nweights;
    kdl_WeightSpec weights[KDL_MAX_LAYER_WEIGHTS];   // names "<layer>/<weight>"
} kdl_Layer;

// ---- the generated program (kdlc build) ------------------------------------------------

// One model of a .kdl file, as the generated <stem>_main.c describes it.
typedef struct kdl_ProgramModel {
    const char *name;           // the variable the .kdl binds it to
    const char *keras_name;     // model.name
    void *(*create)(int max_batch);
    void (*destroy)(void *m);
    kdl_Status (*init)(void *m, uint64_t seed);
    kdl_Status (*load)(void *m, const char *path, char *err, size_t errlen);
    kdl_Status (*save)(const void *m, const char *path, char *err, size_t errlen);
    kdl_Status (*predict)(void *m, int batch, const void *const inputs[], float *const outputs[]);
    int ninputs, noutputs;
    const int64_t *input_sizes;         // values per sample
    const kdl_DType *input_dtypes;
    const int64_t *output_sizes;
    const int *output_ranks;            // including the batch
    const int64_t (*output_shapes)[8];  // [k][0] is the batch (unused)
    const char *summary;                // model.summary() at the default width
    int nlayers;                        // model.layers
    kdl_Status (*get_layer)(void *m, const char *name, int index, kdl_Layer *out);
} kdl_ProgramModel;

// summary / init / predict commands over the models (see runtime/program.c).
int kdl_program_main(int argc, char **argv, const kdl_ProgramModel *models, int nmodels);

#ifdef __cplusplus
}
#endif
#endif
