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
    KDL_ERR_NUMERIC,    // training: the loss became NaN or infinite
    KDL_ERR_ARG,        // an option the call cannot honour (kdl_summary)
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
// keras.layers.ReLU in full (keras.activations.relu): x where x > threshold
// (else 0), clipped to [0, max_value] when has_max, minus negative_slope *
// max(threshold - x, 0). In place is fine.
void kdl_relu_general_forward(float *out, const float *in, size_t n, float negative_slope,
                              int has_max, float max_value, float threshold);
// Its backward: dx += dy * relu_general'(x) (x is the forward's input).
void kdl_relu_general_backward(float *dx, const float *dy, const float *x, size_t n,
                               float negative_slope, int has_max, float max_value,
                               float threshold);

// Casts between an integer input and the float32 layers read (Keras
// promotes an int input of Dense & co. to float32, and Embedding casts float
// ids to int32, truncating toward zero). A float that is NaN or outside the
// int32 range becomes INT32_MIN, which no Embedding accepts.
void kdl_cast_i32_to_f32(float *out, const int32_t *in, size_t n);
void kdl_cast_f32_to_i32(int32_t *out, const float *in, size_t n);

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

// ---- run-time shapes and the arena plan (runtime/shape.c) -------------------------

// One spatial output length of a convolution or pooling, Keras's formula
// (floor division): "valid" floor((in - dilation*(k-1) - 1) / stride) + 1,
// "same"/"causal" floor((in - 1) / stride) + 1. May be <= 0 for a too
// small input (the caller reports it).
int64_t kdl_conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t dilation, int same);
// The larger of two lengths (a broadcasting merge of run-time dimensions).
int64_t kdl_max_dim(int64_t a, int64_t b);
// Conv2DTranspose's output length; output_padding < 0 means None.
int64_t kdl_deconv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t dilation, int same,
                           int64_t output_padding);
// Zero padding before the first element for "same" padding (TF's rule: the
// smaller half of the total before, the larger after).
int64_t kdl_same_pad(int64_t out, int64_t stride, int64_t k, int64_t dilation, int64_t in);
// a * b, saturated at +-INT64_MAX instead of overflowing (run-time shape
// rules multiply dimensions; the generated code then rejects what is too big).
int64_t kdl_dim_mul(int64_t a, int64_t b);
// The largest run-time dimension, and elements per sample of one tensor, that
// generated code accepts (the kernels index with int; sizes stay far from
// SIZE_MAX).
#define KDL_MAX_RUN_DIM INT32_MAX
#define KDL_MAX_RUN_NUMEL ((int64_t)1 << 40)
// First-fit arena plan (the compiler's and the generated code's): buffer i
// of n, in definition order, lives over steps [def[i], last[i]] and takes
// size[i] floats per sample; each gets the lowest offset that does not
// overlap a buffer placed before it whose live range meets its own.
// Returns the peak (floats per sample).
size_t kdl_plan_arena(int n, const size_t *size, const int *def, const int *last, size_t *offset);

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
// GlobalAveragePooling1D over (n, t, c) with a Keras mask (n, t) of 0/1
// floats: the mean of the unmasked steps (0/0 when a row has none, as Keras).
void kdl_global_avg_pool1d_masked(float *out, const float *in, const float *mask, int n, int t,
                                  int c);
// Its backward: dx[b, s] += dy[b] / (unmasked steps of b) where unmasked.
void kdl_global_avg_pool1d_masked_backward(float *dx, const float *dy, const float *mask, int n,
                                           int t, int c);

// ---- normalization ----------------------------------------------------------------------

// Inference batch normalization over the last axis of (rows, c):
// out = (in - mean) / sqrt(var + eps) * gamma + beta; gamma/beta may be NULL.
void kdl_batchnorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           const float *mean, const float *var, float eps, size_t rows, int c);
// Layer normalization over the last `cols` values of each row.
void kdl_layernorm_forward(float *out, const float *in, const float *gamma, const float *beta,
                           float eps, size_t rows, int cols);

// ---- merging ---------------------------------------------------------------------------

// MAX/MIN: Maximum/Minimum; EQ: 1 where a == b, else 0 (their backward's
// indicator of the inputs that gave the output).
typedef enum {
    KDL_MERGE_ADD, KDL_MERGE_SUB, KDL_MERGE_MUL, KDL_MERGE_AVG, KDL_MERGE_MAX, KDL_MERGE_MIN,
    KDL_MERGE_EQ
} kdl_Merge;
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
    // Keras mask (n, t) of 0/1 floats, or NULL: a masked timestep leaves the
    // states as they are and outputs the previous output (Keras 3 with
    // zero_output_for_mask=False); its gradient passes through unchanged.
    // Training gives kdl_rnn_backward the same mask as the forward.
    const float *mask;
    // With return_sequences: reverse_out writes step k's output at timestep
    // t-1-k (a go_backwards sequence in input order, as Bidirectional flips
    // it); zero_masked outputs zeros at masked timesteps (Keras's
    // zero_output_for_mask=True, which Bidirectional forces) instead of the
    // previous output. Both apply to training's backward too.
    int reverse_out;
    int zero_masked;
    // Training with recurrent_dropout (Keras 3 then runs its cells as
    // "implementation 1": one dropout mask per gate, drawn once per batch
    // and used at every step). gate_masks = 1 turns it on (the training
    // kernels only; it changes kdl_rnn_saved_floats and
    // kdl_rnn_backward_scratch, so set it when sizing too). rec_masks
    // (G, n, units): h_{k-1} times mask g before gate g's recurrent product
    // (the state itself is not dropped: LSTM's c and GRU's z h_{k-1} use
    // the undropped one); in_masks (G, n, in_dim) or NULL: the inputs
    // times mask g before gate g's kernel (Keras: dropout > 0). G = 1 / 4 / 3.
    int gate_masks;
    const float *rec_masks, *in_masks;
    // Initial states (n, units), or NULL for zeros (Keras's default): a
    // stateful layer's states carried from the previous batch; c0 LSTM only.
    // They may be the h_out / c_out buffers of the inference kernels (read
    // before those are written); kdl_rnn_backward needs the forward's h0 and
    // c0 unchanged and gives their gradients (dh0, dc0) when asked.
    const float *h0, *c0;
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
// Keras masks as 0/1 floats: mask = ids != 0 (Embedding(mask_zero=True));
// out = a OR b (merging masked tensors).
void kdl_mask_nonzero(float *mask, const int32_t *ids, size_t count);
void kdl_mask_or(float *out, const float *a, const float *b, size_t count);
// keras.layers.Masking over rows (rows, cols) of the last axis: a row is kept
// when any value differs from mask_value: out = in * keep, and mask[row] =
// keep (mask may be NULL: no one reads it); the backward: dx += dy * keep.
void kdl_masking_forward(float *out, float *mask, const float *in, size_t rows, int cols,
                         float mask_value);
void kdl_masking_backward(float *dx, const float *dy, const float *in, size_t rows, int cols,
                          float mask_value);
// (n, d) -> (n, times, d)
void kdl_repeat_forward(float *out, const float *in, int n, int times, int d);
// NHWC zero padding: in (n, h, w, c) -> out (n, h + top + bottom, w + left + right, c).
void kdl_zero_pad2d_forward(float *out, const float *in, int n, int h, int w, int c, int top,
                            int bottom, int left, int right);
// Nearest-neighbour upsampling: (n, h, w, c) -> (n, h*sh, w*sw, c).
void kdl_upsample2d_forward(float *out, const float *in, int n, int h, int w, int c, int sh,
                            int sw);
// Per sample, a (rows, cols) matrix to (cols, rows): channels_first (n, c, s)
// to channels_last (n, s, c) with rows = c, cols = s, and back with the two
// swapped (layers with data_format="channels_first" run on channels_last
// kernels between two of these).
void kdl_transpose_last2(float *out, const float *in, int n, int rows, int cols);
// A general layout move (a LayerNormalization or Softmax over axes that are
// not one consecutive block): the axes in `mask` (bit k for axis k of dims,
// dims[0] the batch) moved last in order, the others kept in order. back:
// the inverse (in moved, out original); add: out += (the backward of a move
// is the inverse move of the gradient, accumulated). rank <= 9.
#define KDL_MAX_MOVE_RANK 9
// A general axis permutation (keras.layers.Permute, with perm[0] = 0 for the
// batch; kdl_move_axes): out axis i is in's axis perm[i]; dims: in's shape. add: out += (the backward runs the inverse
// permutation with add). rank <= KDL_MAX_MOVE_RANK.
void kdl_permute(float *out, const float *in, int rank, const int dims[], const int perm[],
                 int add);
void kdl_move_axes(float *out, const float *in, int rank, const int dims[], unsigned mask,
                   int back, int add);
// Bilinear upsampling (interpolation="bilinear"): half-pixel centres, edges
// clamped (TF's resize, PyTorch's align_corners=False).
void kdl_upsample2d_bilinear_forward(float *out, const float *in, int n, int h, int w, int c,
                                     int sh, int sw);
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
// that no spec names is an error (but see below); header length, JSON syntax and offsets
// (in range, sizes matching shapes, covering the data section exactly: no
// overlaps, holes or trailing bytes) are checked. Invalid arguments from the
// caller (bad specs, duplicate names) return KDL_ERR_SHAPE.
kdl_Status kdl_safetensors_load(const char *path, const kdl_WeightSpec *specs, int n,
                                char *err, size_t errlen);
// Tensors named "optimizer/..." (a training checkpoint's optimizer state,
// see kdl_checkpoint_save) are skipped, not an error.
//
// kdl_safetensors_read is the same with options: skip_optimizer 0 makes
// optimizer tensors that no spec names an error too; meta (NULL: none)
// receives the __metadata__ values of meta->keys ("" when absent).
#define KDL_METADATA_MAX 64
typedef struct kdl_StMetadata {
    int n;
    const char *const *keys;
    char (*values)[KDL_METADATA_MAX];
} kdl_StMetadata;
kdl_Status kdl_safetensors_read(const char *path, const kdl_WeightSpec *specs, int n,
                                int skip_optimizer, kdl_StMetadata *meta, char *err,
                                size_t errlen);
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

// ---- model.summary() (runtime/summary.c) ----------------------------------------------

// Keras's model.summary() text, byte for byte, rendered from a table of rows
// (the generated M_summary passes its model's; kdlc fills one from the .kdl
// file). One row per layer of the model (depth 0), in the order Keras lists
// them, each followed by the rows of the layers nested in it (depth 1, 2, ...:
// the layers of a nested model, shown with expand_nested).
typedef struct kdl_SummaryRow {
    const char *name;
    const char *class_name;
    const char *output_shape;   // "(None, 26, 26, 32)"; NULL shows "?"
    int64_t params;             // < 0: the layer is not built ("0 (unbuilt)")
    const char *connected_to;   // "conv2d[0][0], dense[1][0]" or "-" (connected models)
    char trainable;             // the Trainable column: 'Y', 'N' or '-' (no weights)
    int depth;
} kdl_SummaryRow;

typedef struct kdl_SummaryModel {
    const char *name;           // Model: "name"
    int connected;              // the "Connected to" column (a Functional model that is
                                // not sequential-like)
    const kdl_SummaryRow *rows;
    int nrows;
    int64_t trainable_params, non_trainable_params;    // float32 weights (4 bytes each)
    int optimizer_built;        // the "Optimizer params" line (after fit)
    int64_t optimizer_params;
    double optimizer_bytes;
} kdl_SummaryModel;

// model.summary()'s arguments; all zero gives Keras's defaults.
#define KDL_SUMMARY_MAX_POSITIONS 8
typedef struct kdl_SummaryOptions {
    int line_length;            // 0: 88 (Sequential-like) or 108 (connected), +12 with
                                // show_trainable, at most columns - 4
    // Where each column ends: fractions of the line (Keras 3), or characters
    // (Keras 2) when the last is above 1; npositions 0: the default.
    double positions[KDL_SUMMARY_MAX_POSITIONS];
    int npositions;
    int expand_nested;
    int show_trainable;
    const char *layer_range[2]; // Python regular expressions (re.match) for the first and
                                // last top-level rows; NULL: every row
    const char *layer_range_text;   // the argument as Keras's error shows it (str()); NULL:
                                    // a list of the two patterns
    int columns;                // console width; 0: kdl_terminal_columns()
} kdl_SummaryOptions;

// Receives the whole text of a summary, once.
typedef void (*kdl_PrintFn)(const char *text, void *user);

// Render the summary of m and pass it to print_fn (NULL: stdout). Options
// Keras rejects (positions short of the columns, a width with a column under
// 4 characters, a layer_range that matches nothing) give KDL_ERR_ARG and
// Keras's message in err (errlen bytes). One malloc and free per call.
kdl_Status kdl_summary(const kdl_SummaryModel *m, const kdl_SummaryOptions *o,
                       kdl_PrintFn print_fn, void *user, char *err, size_t errlen);
// Python's shutil.get_terminal_size().columns: $COLUMNS if it is a positive
// integer, else the width of the terminal on stdout, else 80.
int kdl_terminal_columns(void);
// The command-line spelling of the options, shared by `kdlc summary` and a
// generated program's `summary`: --line-length N, --positions P,...,
// --expand-nested, --show-trainable, --layer-range START END. If argv[*i]
// is one of them, read it (and its arguments, advancing *i) into o and
// return 1, or return -1 with the usage message in *msg; 0 for any other
// argument.
int kdl_summary_arg(int argc, char **argv, int *i, kdl_SummaryOptions *o, const char **msg);

// ---- training: backward kernels ---------------------------------------------------------
//
// Every backward kernel ACCUMULATES into its gradient outputs: dx += ...,
// dw += ..., db += ... (a tensor read by several ops, or a layer called
// twice, sums its gradients; the generated train step zeroes gradients
// once per step). Any gradient output may be NULL when it is not needed (an
// input of the model, a frozen layer's weights). x is the forward input, y
// the forward output (after the activation). Kernels with a fused
// activation take its derivative from y, so the compiler fuses in training
// only activations for which kdl_act_grad_from_output() is true; scratch
// sizes are given by the *_backward_scratch functions (floats, whole batch).

// True for activations whose derivative is a function of their output
// (linear, relu, relu6, leaky_relu with alpha >= 0, elu, sigmoid,
// hard_sigmoid, tanh, exponential, softmax, log_softmax).
int kdl_act_grad_from_output(kdl_Act act, float alpha);
// dx += dy * act'(x), element-wise activations. x may be NULL when
// kdl_act_grad_from_output(act) (then y is used); y may be NULL otherwise.
void kdl_act_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                      kdl_Act act, float alpha);
// Any activation (softmax and log_softmax over the last axis of (rows, cols)).
void kdl_activation_backward(float *dx, const float *dy, const float *x, const float *y,
                             size_t rows, size_t cols, kdl_Act act, float alpha);
// dy -> dz = dy * act'(z) written (not accumulated) into dz, from y; the
// first half of every backward kernel with a fused activation (dz may equal dy).
void kdl_act_grad_output(float *dz, const float *dy, const float *y, size_t rows, size_t cols,
                         kdl_Act act, float alpha);

// Dense: dz = dy * act'; dw (in_dim, units) += x^T dz; db += sum_rows dz;
// dx (n, in_dim) += dz w^T. scratch: n * units floats (unused when linear).
void kdl_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const float *y, int n, int in_dim, int units, kdl_Act act,
                        float alpha, float *scratch);

size_t kdl_conv2d_backward_scratch(const kdl_ConvShape *s);
void kdl_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const float *y, const kdl_ConvShape *s, kdl_Act act,
                         float alpha, float *scratch);
size_t kdl_depthwise_conv2d_backward_scratch(const kdl_ConvShape *s);
void kdl_depthwise_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const float *y,
                                   const kdl_ConvShape *s, kdl_Act act, float alpha,
                                   float *scratch);
size_t kdl_conv2d_transpose_backward_scratch(const kdl_ConvShape *s);
void kdl_conv2d_transpose_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const float *y,
                                   const kdl_ConvShape *s, kdl_Act act, float alpha,
                                   float *scratch);
// Max pooling sends each output's gradient to the first maximal input of
// its window (row-major order), as TensorFlow and PyTorch do; average
// pooling spreads it over the valid cells.
void kdl_pool2d_backward(float *dx, const float *dy, const float *x, const float *y,
                         const kdl_ConvShape *s, kdl_Pool kind);
void kdl_global_pool_backward(float *dx, const float *dy, const float *x, const float *y, int n,
                              int spatial, int c, kdl_Pool kind);

// Batch normalization in training (over the last axis of (rows, c)):
// normalizes with the batch mean and biased variance, saves the mean and
// 1/sqrt(var + eps) per channel for backward, and updates the moving
// statistics as Keras: moving = moving * momentum + batch * (1 - momentum)
// (batch variance biased, as Keras). gamma/beta may be NULL.
void kdl_batchnorm_train_forward(float *out, float *save_mean, float *save_invstd, const float *in,
                                 const float *gamma, const float *beta, float *moving_mean,
                                 float *moving_var, float momentum, float eps, size_t rows, int c);
void kdl_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                            const float *in, const float *gamma, const float *save_mean,
                            const float *save_invstd, size_t rows, int c);
// The backward of the inference form (a frozen BatchNormalization, which
// Keras runs in inference mode even in training).
void kdl_batchnorm_infer_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *in, const float *gamma, const float *mean,
                                  const float *var, float eps, size_t rows, int c);
void kdl_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                            const float *in, const float *gamma, float eps, size_t rows, int cols);

// One input's share of a broadcasting merge's gradient: dx += reduce over
// the broadcast axes of (dy * scale * (other broadcast, or 1 when other is
// NULL)). Shapes have equal rank (padded with 1s); y_shape is the output's.
// Add: scale 1; Subtract: +1 / -1; Average: 1/k; Multiply: other = the
// product of the other inputs.
void kdl_merge_backward(float *dx, const int *x_shape, const float *dy, const int *y_shape,
                        const float *other, const int *other_shape, int rank, float scale);
void kdl_concat_backward(float *const *dx, const float *dy, const int *in_len, int k, size_t outer,
                         size_t inner);
// y += a * x
void kdl_axpy(float *y, const float *x, size_t n, float a);
// dx += dy * m (element-wise; Dropout's mask)
void kdl_mul_accumulate(float *dx, const float *dy, const float *m, size_t n);
// dtable (input_dim, dim) += rows of dy scattered by ids (already checked).
void kdl_embedding_backward(float *dtable, const float *dy, const int32_t *ids, size_t count,
                            int dim);
void kdl_repeat_backward(float *dx, const float *dy, int n, int times, int d);
void kdl_zero_pad2d_backward(float *dx, const float *dy, int n, int h, int w, int c, int top,
                             int bottom, int left, int right);
void kdl_upsample2d_backward(float *dx, const float *dy, int n, int h, int w, int c, int sh,
                             int sw);
void kdl_upsample2d_bilinear_backward(float *dx, const float *dy, int n, int h, int w, int c,
                                      int sh, int sw);
// A (ch, cw) window at (top, left) of every image (RandomCrop in training
// draws top/left once per batch), and its backward.
void kdl_crop2d_forward(float *out, const float *in, int n, int h, int w, int c, int ch, int cw,
                        int top, int left);
void kdl_crop2d_backward(float *dx, const float *dy, int n, int h, int w, int c, int ch, int cw,
                         int top, int left);

// Inverted dropout: mask[i] = 0 with probability rate, else 1 / (1 - rate);
// out = in * mask (out may equal in). The mask comes from r (reproducible
// per seed, different every call).
void kdl_dropout_forward(float *out, float *mask, const float *in, size_t n, float rate,
                         kdl_Rng *r);
// The mask alone (n floats, the same draws kdl_dropout_forward makes): a
// Dropout with noise_shape and the input dropout of recurrent layers draw a
// smaller mask and broadcast it over the input (kdl_merge_forward /
// kdl_merge_backward with KDL_MERGE_MUL).
void kdl_dropout_mask(float *mask, size_t n, float rate, kdl_Rng *r);

// Recurrent layers in training: the forward pass also saves what backprop
// through time needs (kdl_rnn_saved_floats floats for the whole batch).
typedef enum { KDL_RNN_SIMPLE, KDL_RNN_LSTM, KDL_RNN_GRU } kdl_RnnKind;
size_t kdl_rnn_saved_floats(kdl_RnnKind kind, const kdl_RnnShape *s);
size_t kdl_rnn_backward_scratch(kdl_RnnKind kind, const kdl_RnnShape *s);
// Same outputs as the *_forward kernels (c_out: LSTM only, may be NULL).
void kdl_rnn_train_forward(kdl_RnnKind kind, float *out, float *h_out, float *c_out, float *saved,
                           const float *in, const float *kernel, const float *recurrent,
                           const float *bias, const kdl_RnnShape *s, kdl_Act act,
                           kdl_Act recurrent_act);
// dout: gradient of out (sequence or last output); dh_out / dc_out:
// gradients of the returned states (NULL when not returned).
// dh0 / dc0 (accumulated, may be NULL): the gradients of the initial states
// s->h0 / c0 (the call's initial_state=).
void kdl_rnn_backward(kdl_RnnKind kind, float *dx, float *dkernel, float *drecurrent, float *dbias,
                      float *dh0, float *dc0, const float *dout, const float *dh_out,
                      const float *dc_out, const float *in, const float *kernel,
                      const float *recurrent, const float *bias, const float *saved,
                      const kdl_RnnShape *s, kdl_Act act, kdl_Act recurrent_act, float *scratch);

// ---- training: layout moves (runtime/layout_train.c) ----------------------------------------
//
// Backward of kdl_transpose_last2 (channels_first layers and a Softmax over
// another axis than the last train between the same two transposes as at
// inference): din (n, rows, cols) += the transpose of dout (n, cols, rows).
// Accumulates; din may be NULL (nothing to do).
void kdl_transpose_last2_backward(float *din, const float *dout, int n, int rows, int cols);
// ---- end of training: layout moves -----------------------------------------------------------

// ---- training: losses and metrics --------------------------------------------------------

typedef enum {
    KDL_LOSS_MSE,           // mean over the last axis of (y - p)^2
    KDL_LOSS_MAE,
    KDL_LOSS_HUBER,         // delta
    KDL_LOSS_BCE,           // binary crossentropy (from_logits, label_smoothing)
    KDL_LOSS_CCE,           // categorical crossentropy (from_logits, label_smoothing)
    KDL_LOSS_SCCE,          // sparse categorical crossentropy: integer labels
    KDL_LOSS_KLD,           // sum over the last axis of t log(t / p), t and p clipped to [eps, 1]
    KDL_LOSS_HINGE,         // mean of max(1 - t p, 0); 0/1 targets (the whole batch) become -1/1
    KDL_LOSS_SQUARED_HINGE, // mean of max(1 - t p, 0)^2; the same targets
    KDL_LOSS_CATEGORICAL_HINGE, // max(max((1 - t) p) - sum(t p) + 1, 0) per row
    KDL_LOSS_POISSON,       // mean of p - t log(p + eps)
    KDL_LOSS_LOG_COSH,      // mean of x + softplus(-2x) - log 2, x = p - t
    KDL_LOSS_MAPE,          // 100 * mean of |t - p| / max(|t|, eps)
    KDL_LOSS_MSLE,          // mean of (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2
    KDL_LOSS_COSINE,        // -sum(normalize(t) * normalize(p)), normalize x = x min(rsqrt(x.x), 1/eps)
} kdl_LossKind;

// MEAN: "sum_over_batch_size" (and "mean"); SUM: "sum"; MEAN_WEIGHTS:
// "mean_with_sample_weight", the weighted sum over the weights' sum when
// kdl_loss_weighted has weights (0 when they sum to 0), else MEAN.
typedef enum { KDL_REDUCE_MEAN, KDL_REDUCE_SUM, KDL_REDUCE_MEAN_WEIGHTS } kdl_Reduction;

typedef struct kdl_Loss {
    kdl_LossKind kind;
    int from_logits;
    float label_smoothing;
    float delta;            // Huber
    kdl_Reduction reduction;    // MEAN: Keras's "sum_over_batch_size"
    // The model's output activation when the loss is fused with it:
    // KDL_ACT_SOFTMAX (CCE/SCCE) or KDL_ACT_SIGMOID (BCE) with from_logits
    // false; pred is then the activation's output and the gradient is the
    // stable one w.r.t. its input (the logits). KDL_ACT_LINEAR otherwise.
    kdl_Act fused_act;
} kdl_Loss;

// Keras's loss of pred (n, dim) against y_true ((n, dim), or (n) labels
// stored as floats for SCCE), reduced over the batch, into *loss; when
// dpred is not NULL it is SET to scale * d loss / d pred (d/d logits when
// fused). A label that is not an integer in [0, dim) is KDL_ERR_INDEX.
kdl_Status kdl_loss(const kdl_Loss *L, double *loss, float *dpred, const float *pred,
                    const float *y_true, int n, int dim, float scale);
// The same for an output that carries a Keras mask (n rows of 0/1 floats):
// masked rows add nothing and get a zero gradient; a MEAN loss is the sum
// over the unmasked rows / (their count + 1e-7), as Keras's apply_mask.
kdl_Status kdl_loss_masked(const kdl_Loss *L, double *loss, float *dpred, const float *pred,
                           const float *y_true, const float *mask, int n, int dim, float scale);
// With sample weights w (n, one per row; NULL: kdl_loss): each row's loss and
// gradient times its weight; a MEAN loss still divides by n, as Keras's
// reduce_weighted_values.
kdl_Status kdl_loss_weighted(const kdl_Loss *L, double *loss, float *dpred, const float *pred,
                             const float *y_true, const float *w, int n, int dim, float scale);
// Keras's fit(class_weight=...) as sample weights: the class of row i of y
// (n rows of dim floats) is its argmax when dim > 1, else its value rounded
// half to even; w[i] = weights[k] where ids[k] is that class, else 1.
void kdl_class_weights(float *w, const float *y, int n, int dim, const int *ids,
                       const float *weights, int nw);

typedef enum {
    KDL_METRIC_BINARY_ACCURACY,         // (p > 0.5) == y
    KDL_METRIC_CATEGORICAL_ACCURACY,    // argmax p == argmax y
    KDL_METRIC_SPARSE_CATEGORICAL_ACCURACY,     // argmax p == label
    KDL_METRIC_MSE,
    KDL_METRIC_MAE,
    KDL_METRIC_ACCURACY,                // p == y exactly (keras.metrics.Accuracy)
    KDL_METRIC_TOP_K,                   // argmax y among the k largest p (ties count in)
    KDL_METRIC_SPARSE_TOP_K,            // the label among the k largest p
} kdl_MetricKind;

// The sum over the batch of the per-sample metric (binary accuracy and
// mse/mae average over the last axis first); callers keep running means.
double kdl_metric_sum(kdl_MetricKind k, const float *pred, const float *y_true, int n, int dim);
// The same with the metric's parameter: BinaryAccuracy's threshold, the k of
// the top-k accuracies (kdl_metric_sum: 0.5 and 5, Keras's defaults).
double kdl_metric_sum_p(kdl_MetricKind k, double param, const float *pred, const float *y_true,
                        int n, int dim);
// The sum over the unmasked rows only (mask: n 0/1 floats, or NULL); the
// running mean of a masked metric divides by the unmasked rows seen
// (kdl_mask_sum, KDL_METRIC_WEIGHTED_MEAN).
double kdl_metric_sum_masked(kdl_MetricKind k, double param, const float *pred,
                             const float *y_true, const float *mask, int n, int dim);
double kdl_mask_sum(const float *mask, size_t n);

// Regularization (keras.regularizers L1, L2, L1L2): returns the penalty
// l1 * sum |w| + l2 * sum w^2 (in double) and, when g is not NULL, adds
// scale * its gradient, scale * (l1 * sign(w) + 2 * l2 * w), to g. Weight
// regularizers pass scale 1 (times a loss scale factor); activity
// regularizers divide both the penalty and scale by the batch size (Keras).
double kdl_regularize(const float *w, float *g, size_t n, float l1, float l2, float scale);

// Weight constraints (keras.constraints), applied to a variable after each
// optimizer update, as Keras's optimizer does. Norms are taken over the
// axes set in `axes` (bit i: axis i of the weight's shape, as Keras's
// `axis`), keepdims, then w *= desired / (epsilon + norm) with
//   MaxNorm     desired = clip(norm, 0, max_value)
//   MinMaxNorm  desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm
//   UnitNorm    w / (epsilon + norm)
//   NonNeg      max(w, 0) (no norms)
typedef enum {
    KDL_CONSTRAINT_MAX_NORM,
    KDL_CONSTRAINT_MIN_MAX_NORM,
    KDL_CONSTRAINT_UNIT_NORM,
    KDL_CONSTRAINT_NON_NEG,
} kdl_ConstraintKind;

typedef struct kdl_Constraint {
    kdl_ConstraintKind kind;
    float min_value, max_value, rate;
    int rank;
    int shape[8];
    unsigned axes;
} kdl_Constraint;

void kdl_constraint_apply(const kdl_Constraint *c, float *w);

// ---- training: optimizers ------------------------------------------------------------------

// ORDER: runtime/optim.c's tables of names and slots follow this enum.
typedef enum {
    KDL_OPT_SGD,
    KDL_OPT_ADAM,
    KDL_OPT_ADAMW,
    KDL_OPT_RMSPROP,
    KDL_OPT_ADAGRAD,
    KDL_OPT_ADAMAX,
    KDL_OPT_NADAM,
    KDL_OPT_ADADELTA,
    KDL_OPT_LION,
    KDL_OPT_FTRL,
    KDL_OPT_LAMB,
    KDL_OPT_ADAFACTOR,
} kdl_OptKind;

// keras.optimizers.schedules (KDL_LR_CONSTANT: a float learning_rate).
typedef enum {
    KDL_LR_CONSTANT,
    KDL_LR_EXPONENTIAL,     // ExponentialDecay
    KDL_LR_INVERSE_TIME,    // InverseTimeDecay
    KDL_LR_POLYNOMIAL,      // PolynomialDecay
    KDL_LR_PIECEWISE,       // PiecewiseConstantDecay
    KDL_LR_COSINE,          // CosineDecay
    KDL_LR_COSINE_RESTARTS, // CosineDecayRestarts
} kdl_LRKind;

// A learning-rate schedule's arguments, as Keras's constructors take them.
typedef struct kdl_LRSchedule {
    kdl_LRKind kind;
    double initial_learning_rate;
    double decay_steps;         // CosineDecayRestarts: first_decay_steps
    double decay_rate;          // Exponential, InverseTime
    int staircase;              // Exponential, InverseTime
    double end_learning_rate, power;    // Polynomial
    int cycle;                  // Polynomial
    double alpha;               // Cosine, CosineRestarts
    int warmup;                 // Cosine: warmup_target is not None
    double warmup_target, warmup_steps; // Cosine
    double t_mul, m_mul;        // CosineRestarts
    int nboundaries;            // Piecewise: boundaries[n] (cast to the step's
    const int64_t *boundaries;  // integer type, as Keras casts them) and
    const double *values;       // values[n + 1]
} kdl_LRSchedule;

// Keras 3's hyperparameters (defaults are the compiler's business); 0 turns
// weight_decay, clipnorm, clipvalue and global_clipnorm off.
typedef struct kdl_Optimizer {
    kdl_OptKind kind;
    float learning_rate;    // a float learning_rate (schedule.kind KDL_LR_CONSTANT)
    float momentum;         // SGD, RMSprop
    int nesterov;           // SGD
    float beta_1, beta_2;   // Adam, AdamW, Adamax, Nadam, Lion, Lamb
    float epsilon;          // Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam, Adadelta, Lamb
    int amsgrad;            // Adam, AdamW
    float rho;              // RMSprop, Adadelta
    int centered;           // RMSprop
    float initial_accumulator_value;    // Adagrad, Ftrl
    float learning_rate_power;          // Ftrl (<= 0)
    float l1_regularization_strength;   // Ftrl
    float l2_regularization_strength;   // Ftrl
    float l2_shrinkage_regularization_strength;     // Ftrl
    float beta;                         // Ftrl
    float beta_2_decay, epsilon_1, epsilon_2, clip_threshold;     // Adafactor
    float weight_decay;
    float clipnorm, clipvalue, global_clipnorm;
    float loss_scale_factor;    // 0: None; else the step divides the gradients by it first
    kdl_LRSchedule schedule;    // learning_rate=<a schedule>
} kdl_Optimizer;

// One trainable variable: its values, gradient and optimizer slots
// (kdl_optimizer_slots(o) * n floats).
typedef struct kdl_Param {
    float *value;
    float *grad;
    float *slots;
    size_t n;
    // The last two dimensions of a variable of rank >= 2 (0 for rank < 2):
    // Adafactor factors the second moment over them.
    size_t rows, cols;
} kdl_Param;

// Slot arrays per variable: SGD 1 with momentum else 0; Adam/AdamW 2 (3
// with amsgrad); RMSprop 1 (+1 momentum, +1 centered); Adagrad 1; Adamax,
// Nadam, Adadelta, Ftrl, Lamb 2; Lion 1; Adafactor 3 (r and c use the
// start of theirs, see kdl_optimizer_slot_shape).
int kdl_optimizer_slots(const kdl_Optimizer *o);
// The shape of slot k of a variable of shape[rank] (Keras's optimizer
// variable): the variable's, but Adafactor's factored r (shape[:-1]) and c
// (shape[:-2] + shape[-1:]), scalars for a variable of rank < 2. Returns
// the slot's rank. out may be shape.
int kdl_optimizer_slot_shape(const kdl_Optimizer *o, int k, int rank, const int64_t *shape,
                             int64_t *out);
// Keras's names: "adam", ...; slot k's "momentum", "velocity", ... (optim.c's order).
const char *kdl_optimizer_name(const kdl_Optimizer *o);
const char *kdl_optimizer_slot_name(const kdl_Optimizer *o, int k);
// Reset the slots (zeros; Adagrad's and Ftrl's accumulators to
// initial_accumulator_value).
void kdl_optimizer_reset(const kdl_Optimizer *o, kdl_Param *p, int n);
// The learning rate of the step after `iterations` steps (Keras evaluates a
// schedule at the optimizer's iterations, 0 for the first step).
float kdl_learning_rate(const kdl_Optimizer *o, int64_t iterations);
// A schedule's value at step `step` (keras/src/optimizers/schedules).
double kdl_schedule_value(const kdl_LRSchedule *s, int64_t step);
// One update at step t (Keras's iterations + 1), as Keras's apply():
// unscale the gradients (loss_scale_factor), clip them (clipvalue, then
// clipnorm per variable, or global_clipnorm over all), decoupled weight
// decay (value -= value * weight_decay * lr), then the optimizer's rule;
// lr is kdl_learning_rate(o, t - 1).
// Gradients are modified in place by unscaling and clipping.
void kdl_optimizer_step(const kdl_Optimizer *o, kdl_Param *p, int n, int64_t t);

// ---- training: fit / evaluate ---------------------------------------------------------------

#define KDL_MAX_LOGS 16

// What a training step reports: the loss (mean over the batch) and the
// per-batch sums of each metric (divided by the number of samples seen for
// the running means, or by the sum of metric_counts for a weighted mean).
typedef struct kdl_StepResult {
    double loss;
    double metric_sums[KDL_MAX_LOGS];
    double metric_counts[KDL_MAX_LOGS];     // KDL_METRIC_WEIGHTED_MEAN: the step's weight
} kdl_StepResult;

// How a metric's running value comes from its step sums: the mean over the
// samples seen (sum / samples), its square root (RootMeanSquaredError), or
// the mean over the steps of per-step values (a keras.losses object used as
// a metric: Keras averages the reduced loss of each batch), or the sum over
// the sum of the steps' metric_counts (a metric of an output that carries a
// Keras mask: the mean over the unmasked timesteps seen).
enum { KDL_METRIC_MEAN, KDL_METRIC_ROOT_MEAN, KDL_METRIC_STEP_MEAN, KDL_METRIC_WEIGHTED_MEAN };

// A trainable generated model, as M_train_model() describes it.
typedef struct kdl_TrainModel {
    void *model;
    int max_batch;
    int ninputs, ntargets;
    const int64_t *input_sizes;     // values per sample
    const kdl_DType *input_dtypes;
    const int64_t *target_sizes;    // floats per sample (SCCE labels: 1)
    int nmetrics;
    const char *const *metric_names;    // as Keras logs them: "accuracy", "mae", ...
    // How each metric's running value is formed (NULL: all KDL_METRIC_MEAN).
    const unsigned char *metric_reduce;
    kdl_Status (*train_step)(void *m, int batch, const void *const inputs[],
                             const float *const targets[], kdl_StepResult *r);
    kdl_Status (*test_step)(void *m, int batch, const void *const inputs[],
                            const float *const targets[], kdl_StepResult *r);
    // A checkpoint (kdl_checkpoint_save) after `epoch` epochs.
    kdl_Status (*save)(const void *m, const char *path, int epoch, char *err, size_t errlen);
    void (*seed)(void *m, uint64_t seed);       // Dropout / RandomCrop generator
    int64_t *iterations;                        // optimizer steps taken (resume)
    // A model with None input dimensions (ndims > 0): the data give them
    // (dims[] in input order, then axis order; an array of samples has the
    // input's rank). input_sizes / target_sizes hold -1 where a size depends
    // on them; `sizes` gives every size at given dims (KDL_ERR_SHAPE and a
    // message when the dims do not fit the model), `plan` sizes the training
    // memory for the largest dims the steps will be given, and the steps are
    // train_step_dims / test_step_dims.
    int ndims;
    const int *input_ranks;                     // including the batch
    const int64_t (*input_shapes)[8];           // [k][0] unused; -1 for None
    kdl_Status (*sizes)(const int dims[], int64_t input_sizes[], int64_t target_sizes[],
                        char *err, size_t errlen);
    kdl_Status (*plan)(void *m, const int max_dims[], char *err, size_t errlen);
    // Its steps (instead of train_step / test_step): the run-time dimensions
    // of the batch in dims.
    kdl_Status (*train_step_dims)(void *m, int batch, const int dims[],
                                  const void *const inputs[], const float *const targets[],
                                  kdl_StepResult *r);
    kdl_Status (*test_step_dims)(void *m, int batch, const int dims[],
                                 const void *const inputs[], const float *const targets[],
                                 kdl_StepResult *r);
    // Sample weights of the next training steps (batch floats, or NULL for
    // none; class_weight in fit), or NULL when the model's loss cannot take
    // them (several outputs, or several loss rows per sample).
    void (*set_sample_weight)(void *m, const float *w);
    // Stateful recurrent layers: their static batch size, which every step
    // takes (fit and evaluate need batch_size equal to it and data in whole
    // batches; the states carry from step to step, as in Keras); 0: none.
    int stateful_batch;
} kdl_TrainModel;

// A training checkpoint (what fit writes, and fit --resume reads): the
// weights (the specs, as M_save writes them), the optimizer's state as
// tensors "optimizer/<param name>/<slot name>" of the weight's shape, and
// __metadata__ {"format": "kdl", "optimizer": "adam", "iterations": "N",
// "epoch": "E"} (E epochs done). param_names[i] names params[i] as its
// weight spec does. Loading checks that the file has the state of this
// optimizer (kind and slots) and restores weights, slots, *iterations and
// *epoch; M_load and kdl_safetensors_load read such a file's weights only.
kdl_Status kdl_checkpoint_save(const char *path, const kdl_WeightSpec *weights, int nweights,
                               const kdl_Optimizer *o, const kdl_Param *params,
                               const char *const *param_names, int nparams, int64_t iterations,
                               int epoch, char *err, size_t errlen);
kdl_Status kdl_checkpoint_load(const char *path, const kdl_WeightSpec *weights, int nweights,
                               const kdl_Optimizer *o, kdl_Param *params,
                               const char *const *param_names, int nparams, int64_t *iterations,
                               int *epoch, char *err, size_t errlen);

// Per-epoch logs, in Keras's order: loss, metrics, val_loss, val_metrics.
typedef struct kdl_Logs {
    int epoch;              // 0-based, as Keras callbacks receive it
    int n;
    const char *names[2 * KDL_MAX_LOGS + 2];
    double values[2 * KDL_MAX_LOGS + 2];
} kdl_Logs;

// Return non-zero to stop training after this epoch.
typedef int (*kdl_EpochCallback)(const kdl_Logs *logs, void *user);

typedef struct kdl_FitOptions {
    int epochs;             // train up to this epoch (Keras: epochs, with initial_epoch)
    int initial_epoch;
    int batch_size;
    double validation_split;    // the last samples, taken before shuffling (Keras)
    const kdl_Array *val_x, *val_y;     // validation_data: overrides the split (NULL: none)
    int shuffle;
    uint64_t seed;          // shuffling, Dropout masks, RandomCrop windows
    int verbose;            // 0 silent, 1 progress bar (in place on a terminal), 2 a line per epoch
    const char *checkpoint; // written atomically every checkpoint_every epochs and at the end
    int checkpoint_every;
    const char *history_csv;    // epoch,loss,metrics...,val_... (written after every epoch)
    kdl_EpochCallback on_epoch_end;
    void *user;
    // class_weight: class ids[k] weighs class_weights[k] in the training loss
    // (others 1; Keras: a model with one output; validation is unweighted).
    const int *class_ids;
    const float *class_weights;
    int nclass_weights;
} kdl_FitOptions;

// Keras's fit over arrays x[ninputs] and y[ntargets] (first axis the
// samples). A loss that becomes NaN or infinite stops training with
// KDL_ERR_NUMERIC and a message naming the epoch and step; the checkpoint
// keeps the last good weights. err receives messages (errlen bytes).
kdl_Status kdl_fit(const kdl_TrainModel *t, const kdl_Array *x, const kdl_Array *y,
                   const kdl_FitOptions *o, kdl_Logs *last, char *err, size_t errlen);
// Loss and metrics in inference mode over the whole data, batch by batch.
kdl_Status kdl_evaluate(const kdl_TrainModel *t, const kdl_Array *x, const kdl_Array *y,
                        int batch_size, int verbose, kdl_Logs *out, char *err, size_t errlen);

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
    // model.summary() (the generated M_summary)
    kdl_Status (*summary)(const kdl_SummaryOptions *o, kdl_PrintFn print_fn, void *user,
                          char *err, size_t errlen);
    int nlayers;                        // model.layers
    kdl_Status (*get_layer)(void *m, const char *name, int index, kdl_Layer *out);
    // Training (all NULL / 0 when the model is not compiled for training):
    // create with gradients, optimizer slots and the training arena; the
    // kdl_TrainModel of such a model; defaults of the .kdl fit() call.
    void *(*create_training)(int max_batch);
    void (*train_model)(void *m, kdl_TrainModel *out);
    // fit --resume: weights, optimizer state and the epochs done (M_load_checkpoint)
    kdl_Status (*load_checkpoint)(void *m, const char *path, int *epoch, char *err,
                                  size_t errlen);
    int fit_epochs, fit_batch_size;     // 0: not given (Keras: 1 and 32)
    double fit_validation_split;
    int fit_shuffle;                    // 1 unless the .kdl says shuffle=False
    void (*fit_defaults)(kdl_FitOptions *o);    // the whole fit() call (class_weight)
    // The inputs' shapes ([k][0], the batch, unused; -1 for None).
    const int *input_ranks;             // including the batch
    const int64_t (*input_shapes)[8];
    // Models with None input dimensions (ndims > 0): predict goes through
    // create_dims / predict_dims with the dims the inputs give (in input
    // order), output_shape gives each output's shape for them, and create
    // makes a model for its weights only (init, load, save, get_layer).
    int ndims;
    void *(*create_dims)(int max_batch, const int max_dims[]);
    kdl_Status (*predict_dims)(void *m, int batch, const int dims[], const void *const inputs[],
                               float *const outputs[]);
    kdl_Status (*output_shape)(const int dims[], int k, int64_t shape[], char *err,
                               size_t errlen);
    // Models with stateful RNNs: the batch predict takes (their states'
    // batch): predict runs the samples in batches of exactly this many, in
    // order, each starting from the states the one before left (Keras's
    // model.predict); 0 otherwise.
    int stateful_batch;
} kdl_ProgramModel;

// summary / layers / init / predict / fit / evaluate commands over the
// models (see runtime/program.c).
int kdl_program_main(int argc, char **argv, const kdl_ProgramModel *models, int nmodels);

#ifdef __cplusplus
}
#endif

// ---- threads (runtime/threads.c) ---------------------------------------------------------
//
// One thread pool for the kernels (convolutions, pooling, activations,
// normalization, recurrent steps, and GEMM itself on CPUs with AVX-512).
// OpenBLAS, where it still runs a GEMM, is called from the calling thread
// only and uses its own threads while the pool's workers sleep: the two
// never compete for cores. The pool's split never changes a result (an
// OpenBLAS GEMM's may change with OpenBLAS's thread count). Without a call to
// kdl_set_num_threads the size is $KDL_NUM_THREADS, or 1 when that is unset
// (OpenBLAS then keeps its own setting).
#ifdef __cplusplus
extern "C" {
#endif
// Use n threads (n <= 0: the number of online CPUs) in the runtime's pool
// and, in an OpenBLAS build, in OpenBLAS (openblas_set_num_threads).
void kdl_set_num_threads(int n);
int kdl_get_num_threads(void);
#ifdef __cplusplus
}
#endif
// ---- end of threads ------------------------------------------------------------------------
#endif
