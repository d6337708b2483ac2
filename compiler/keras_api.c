/*
 * keras_api.c - the names of Keras 3's public API that kdl does not have.
 *
 * When a .kdl file reaches for keras.layers.PReLU or keras.callbacks, the
 * user wrote valid Keras, not a typo: the diagnostic should say that kdl
 * lacks the feature rather than suggest a similar name. These lists are the
 * public names of Keras 3.x's modules (the keras/api package), checked against the
 * Keras 3 API reference; names kdl implements are found before these are
 * consulted, so the lists may include them.
 */
#include "kdlc.h"

#include <string.h>

typedef struct {
    const char *module;         // "keras.layers"
    const char *const *names;   // NULL-terminated; NULL: the whole module
} ApiModule;

static const char *const layers_names[] = {
    "ActivityRegularization", "AdditiveAttention", "AlphaDropout", "Attention", "AugMix",
    "AutoContrast", "AveragePooling3D", "AvgPool3D", "CategoryEncoding",
    "CenterCrop", "Conv3D", "Conv3DTranspose", "ConvLSTM1D", "ConvLSTM2D",
    "ConvLSTM3D", "Convolution3D", "Convolution3DTranspose", "Cropping3D", "DepthwiseConv1D",
    "Discretization", "Dot", "EinsumDense",
    "Equalization", "FlaxLayer", "GRUCell",
    "GlobalAveragePooling3D", "GlobalAvgPool3D", "GlobalMaxPool3D", "GlobalMaxPooling3D",
    "GroupNormalization", "GroupQueryAttention", "HashedCrossing", "Hashing", "IntegerLookup",
    "JaxLayer", "LSTMCell", "Lambda", "MaxNumBoundingBoxes", "MaxPool3D",
    "MaxPooling3D", "MelSpectrogram", "MixUp", "MultiHeadAttention",
    "Normalization", "PReLU", "Pipeline", "RMSNormalization", "RNN", "RandAugment",
    "RandomBrightness", "RandomColorDegeneration", "RandomColorJitter", "RandomContrast",
    "RandomElasticTransform", "RandomErasing", "RandomFlip", "RandomGaussianBlur",
    "RandomGrayscale", "RandomHeight", "RandomHue", "RandomInvert", "RandomPerspective",
    "RandomPosterization", "RandomRotation", "RandomSaturation", "RandomSharpness",
    "RandomShear", "RandomTranslation", "RandomWidth", "RandomZoom", "Resizing",
    "STFTSpectrogram", "SeparableConv1D", "SeparableConvolution1D", "SimpleRNNCell",
    "Solarization", "SpatialDropout3D",
    "SpectralNormalization", "StackedRNNCells", "StringLookup", "TextVectorization",
    "TorchModuleWrapper", "UnitNormalization",
    "UpSampling3D", "Wrapper", "ZeroPadding3D", NULL,
};

static const char *const activations_names[] = {
    "celu", "deserialize", "get", "glu", "hard_shrink", "hard_tanh", "log_sigmoid",
    "mish", "serialize", "soft_shrink", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "tanh_shrink", "threshold", NULL,
};

static const char *const initializers_names[] = {
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
    "IdentityInitializer", "Initializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal",
    "OrthogonalInitializer", "RandomNormal", "RandomUniform", "STFT", "STFTInitializer",
    "TruncatedNormal", "VarianceScaling", "Zeros", "constant", "deserialize", "get",
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity", "lecun_normal",
    "lecun_uniform", "ones", "orthogonal", "random_normal", "random_uniform", "serialize",
    "truncated_normal", "variance_scaling", "zeros", NULL,
};

static const char *const losses_names[] = {
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CTC", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy", "CategoricalHinge", "Circle", "CosineSimilarity", "Dice",
    "Hinge", "Huber", "KLDivergence", "LogCosh", "Loss", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge", "Tversky", "binary_crossentropy",
    "binary_focal_crossentropy", "categorical_crossentropy", "categorical_focal_crossentropy",
    "categorical_hinge", "circle", "cosine_similarity", "ctc", "deserialize", "dice", "get",
    "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "poisson", "serialize", "sparse_categorical_crossentropy", "squared_hinge", "tversky", NULL,
};

static const char *const optimizers_names[] = {
    "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb", "Lion",
    "LossScaleOptimizer", "Muon", "Nadam", "Optimizer", "RMSprop", "SGD", "deserialize", "get",
    "schedules", "serialize", NULL,
};

static const char *const schedules_names[] = {
    "CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
    "LearningRateSchedule", "PiecewiseConstantDecay", "PolynomialDecay", "deserialize",
    "serialize", NULL,
};

// Whole modules kdl has nothing of (keras.<name>).
static const char *const keras_modules[] = {
    "applications", "backend", "callbacks", "config", "datasets", "distribution", "dtype_policies",
    "export", "legacy", "mixed_precision", "preprocessing", "quantizers", "random", "saving",
    "tree", "utils", "visualization", "wrappers", NULL,
};

static const ApiModule modules[] = {
    {"keras.layers", layers_names},
    {"keras.activations", activations_names},
    {"keras.initializers", initializers_names},
    {"keras.losses", losses_names},
    {"keras.optimizers", optimizers_names},
    {"keras.optimizers.schedules", schedules_names},
    {"keras", keras_modules},
};

static bool in_list(const char *const *names, const char *name) {
    for (; *names; names++)
        if (!strcmp(*names, name))
            return true;
    return false;
}

bool keras_api_has(const char *module, const char *name) {
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++)
        if (!strcmp(modules[i].module, module))
            return in_list(modules[i].names, name);
    return false;
}
