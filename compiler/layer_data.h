/*
 * layer_data.h - what the layer table (layers.c) stores in Layer.iv[] and
 * Layer.fv[] for each class once its constructor arguments are validated.
 * The code generator reads layers through these slots, so both sides share
 * one definition.
 */
#ifndef KDL_LAYER_DATA_H
#define KDL_LAYER_DATA_H

// Padding modes of convolution and pooling.
enum { PAD_VALID, PAD_SAME, PAD_CAUSAL };

// Dense. act = activation.
enum { DN_UNITS, DN_BIAS, DN_LORA };

// Convolutions. act = activation.
typedef enum { CV_CONV, CV_TRANSPOSE, CV_DEPTHWISE, CV_SEPARABLE } ConvKind;

enum {
    CV_KIND,            // ConvKind
    CV_RANK,            // spatial rank r (1 or 2); 0 until init succeeded
    CV_FILTERS,         // filters (0 for DepthwiseConv2D)
    CV_DM,              // depth_multiplier (1 if the class has none)
    CV_GROUPS,          // groups (1 if the class has none)
    CV_PAD,             // PAD_VALID, PAD_SAME, PAD_CAUSAL
    CV_BIAS,            // use_bias
    CV_CFIRST,          // data_format == "channels_first"
    CV_K,               // kernel_size[0..r)
    CV_S = CV_K + 2,    // strides[0..r)
    CV_D = CV_S + 2,    // dilation_rate[0..r)
    CV_OP = CV_D + 2,   // output_padding[0..r) (Conv2DTranspose; -1 = None)
    CV_LORA = CV_OP,    // lora rank, 0 = off (Conv1D/Conv2D, which have no output_padding)
};
// fv[0]: lora_alpha (Conv1D/Conv2D). With lora_rank r the kernel is frozen
// and followed by lora_kernel_a (*k, C/groups, r), lora_kernel_b (r, filters).

// MaxPooling / AveragePooling 1D/2D.
enum {
    PL_RANK,            // spatial rank r (1 or 2); 0 until init succeeded
    PL_MAX,             // 1 max pooling, 0 average pooling
    PL_PAD,             // PAD_VALID or PAD_SAME
    PL_CFIRST,          // data_format == "channels_first"
    PL_K,               // pool_size[0..r)
    PL_S = PL_K + 2,    // strides[0..r)
};

// Global pooling.
enum {
    GP_RANK,            // spatial rank r (1 or 2)
    GP_MAX,             // 1 max, 0 average
    GP_KEEPDIMS,        // keepdims
    GP_CFIRST,          // data_format == "channels_first"
};

// BatchNormalization: fv[0] momentum, fv[1] epsilon.
enum { BN_AXIS, BN_CENTER, BN_SCALE, BN_NAXIS };
// LayerNormalization: fv[0] epsilon; the axes follow in iv[LN_AXES..].
enum { LN_NAXES, LN_CENTER, LN_SCALE, LN_RMS, LN_AXES };

// Softmax: iv[SM_AXIS] its axis (the first of a list); with a list of several axes,
// iv[SM_NAXES] their count (0 otherwise) and iv[SM_AXES..] the axes.
enum { SM_AXIS, SM_NAXES, SM_AXES };

// Add / Subtract / Multiply / Average: the op in iv[0].
enum { MG_ADD, MG_SUB, MG_MUL, MG_AVG, MG_MAX, MG_MIN };

// Embedding.
enum { EM_IN, EM_OUT, EM_MASK, EM_LORA };

// SimpleRNN / LSTM / GRU. act = activation; fv[0] dropout, fv[1]
// recurrent_dropout (clipped to [0, 1] as Keras does).
typedef enum { RNN_SIMPLE, RNN_LSTM, RNN_GRU } RnnKind;

enum {
    RN_KIND,            // RnnKind
    RN_UNITS,           // units
    RN_RETSEQ,          // return_sequences
    RN_RETSTATE,        // return_state
    RN_BIAS,            // use_bias
    RN_BACKWARDS,       // go_backwards
    RN_STATEFUL,        // stateful
    RN_UNROLL,          // unroll
    RN_FORGET_BIAS,     // unit_forget_bias (LSTM)
    RN_RESET_AFTER,     // reset_after (GRU)
    RN_REC_ACT,         // recurrent_activation (ActKind; LSTM/GRU)
    RN_SEED,            // seed (-1 = None)
    RN_REVERSE_OUT,     // return_sequences: write step k's output at timestep t-1-k, i.e.
                        // in input order for go_backwards (Bidirectional's backward layer,
                        // whose output Keras flips along time before merging)
    RN_ZERO_MASKED,     // a masked timestep outputs zeros (Bidirectional forces Keras's
                        // zero_output_for_mask = return_sequences on its layers)
    RN_IMPL,            // implementation (LSTM/GRU): 1 or 2 (anything else acts as 2);
                        // recurrent_dropout != 0 makes it 1, as Keras 3's cells do
};

// Bidirectional: iv[BI_MERGE] the merge_mode; its forward and backward
// layers are Layer.tracked[0] and [1], whose weights it owns.
enum { BI_MERGE };
enum { BI_CONCAT, BI_SUM, BI_MUL, BI_AVE, BI_NONE };

// RandomCrop, ZeroPadding2D, UpSampling2D.
enum { RC_H, RC_W, RC_SEED, RC_CFIRST };
enum { ZP_T, ZP_B, ZP_L, ZP_R, ZP_CFIRST };
enum { UP_H, UP_W, UP_INTERP, UP_CFIRST };
// Permute: iv[PM_N] the number of dims, iv[PM_D + i] dims[i] (1-based, as Keras).
enum { PM_N, PM_D };
// Cropping1D/2D: the rows cut from each side (1D: CR_L, CR_R along the steps).
enum { CR_T, CR_B, CR_L, CR_R, CR_CFIRST };

#endif
