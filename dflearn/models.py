"""CNN builders (Keras 3 functional API) for CIFAKE, and tools to inspect them.

Every builder takes ``width`` (a multiplier on the number of filters and dense units),
``input_size`` (square images of that many pixels) and ``head``:

* ``"softmax"``: 2 units, P(FAKE) and P(REAL), trained with sparse categorical cross-entropy;
* ``"sigmoid"``: 1 unit, P(REAL), trained with binary cross-entropy.

Models take raw ``uint8``-range pixels (0-255): the first layer rescales them to [0, 1].
:func:`compile_model` picks the loss that matches the head.

Core layer, used by 03-09; imports no lesson module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd
from keras import layers

HEADS = ("softmax", "sigmoid")
DEFAULT_HEAD = "softmax"
# BatchNorm's moving statistics follow the data faster than with Keras' 0.99, so short CPU
# trainings (a few hundred steps) validate with settled statistics.
BN_MOMENTUM = 0.9

# (filters, convolutions) per block of the study's "Personal CNN".
PERSONAL_BLOCKS: tuple[tuple[int, int], ...] = ((128, 3), (256, 3), (512, 2))
# Personal CNN stems: none (the study's), space-to-depth (CPU-friendly), or whitened 2x2 blocks.
STEMS = ("none", "space_to_depth", "whiten")
# VGG configurations: filters per convolution, "M" = 2x2 max-pooling.
VGG_CONFIGS: Mapping[int, tuple] = {
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
         512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
# (filters, stride) of the MobileNet-style depthwise-separable blocks, for 32x32 inputs.
MOBILENET_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1))
# The lightweight project's "Improved Dense CNN" (its layer table): (filters, convolutions,
# pooling) per block, then dense units with LeakyReLU before the 1-unit output.
DENSE_CNN_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (16, 2, "average"), (32, 3, "average"), (64, 4, "average"), (128, 1, "max"), (256, 1, "max"))
DENSE_CNN_UNITS: tuple[int, ...] = (512, 512, 128, 16, 16)
# The faces project's 8 convolutions (a 2x2 max-pool after each pair but the last).
FACES_FILTERS: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512)


# Keras model names per architecture (notebook 03 saves them as ``03_<name>`` artifacts).
MODEL_NAMES: Mapping[str, str] = {"personal": "personal_cnn", "vgg16": "vgg16", "vgg19": "vgg19",
                                  "mobilenet": "mobilenet_cnn", "faces": "faces_cnn",
                                  "dense": "dense_cnn"}

# How the notebooks label each architecture.
DISPLAY_NAMES: Mapping[str, str] = {"personal": "Personal CNN", "vgg16": "VGG16 (scratch)",
                                    "vgg19": "VGG19 (scratch)", "mobilenet": "MobileNet-style",
                                    "faces": "8-conv (faces)", "dense": "Improved Dense CNN"}
# The reported number (a key of :data:`dflearn.study.REPORTED`) each architecture is compared with.
STUDY_KEYS: Mapping[str, str] = {"personal": "study/personal_cnn/accuracy",
                                 "vgg16": "study/vgg16_scratch/accuracy",
                                 "vgg19": "study/vgg19_scratch/accuracy",
                                 "mobilenet": "lightweight/mobilenet_cnn/accuracy",
                                 "faces": "faces/own_cnn/accuracy"}
# The study fine-tunes its 40-layer Personal CNN from "layer 23": counting from 1 without the
# input layer, the first convolution of the third block (04, 07).
PERSONAL_UNFREEZE_LAYER = "b3_conv1"


class ModelConfigError(ValueError):
    """An unknown architecture, head, or an impossible width / input size."""


# --------------------------------------------------------------------------- shared pieces


def scaled(units: int, width: float, minimum: int = 4) -> int:
    """``units * width`` rounded, but at least ``minimum`` (filters or dense units)."""
    return max(minimum, int(round(units * width)))


def check_args(width: float, input_size: int, head: str, min_size: int = 8) -> None:
    """Raise :class:`ModelConfigError` for a non-positive width, a too small or fractional input
    size, or an unknown head (every builder's first step)."""
    if not width > 0:
        raise ModelConfigError(f"width must be a positive multiplier, got {width!r}.")
    if int(input_size) != input_size or input_size < min_size:
        raise ModelConfigError(
            f"input_size must be an integer of at least {min_size} pixels, got {input_size!r}.")
    if head not in HEADS:
        raise ModelConfigError(f"Unknown head {head!r}: use one of {HEADS}.")


def image_input(input_size: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """An RGB ``keras.Input`` of 0-255 pixels, and the same rescaled to [0, 1]."""
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    return inputs, layers.Rescaling(1.0 / 255, name="rescale")(inputs)


def conv_bn_relu(x: keras.KerasTensor, filters: int, name: str, kernel_size: int = 3,
                 strides: int = 1, momentum: float = BN_MOMENTUM) -> keras.KerasTensor:
    """Conv2D (no bias: BatchNorm supplies the shift) -> BatchNorm -> ReLU, as layers
    ``name``, ``name_bn`` and ``name_relu``."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      name=name)(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def classifier_head(x: keras.KerasTensor, head: str = DEFAULT_HEAD) -> keras.KerasTensor:
    """The output layer: 2-unit softmax or 1-unit sigmoid (float32 even under mixed precision)."""
    if head == "softmax":
        return layers.Dense(2, activation="softmax", dtype="float32", name="softmax")(x)
    if head == "sigmoid":
        return layers.Dense(1, activation="sigmoid", dtype="float32", name="sigmoid")(x)
    raise ModelConfigError(f"Unknown head {head!r}: use one of {HEADS}.")


def head_of(model: keras.Model) -> str:
    """``"sigmoid"`` for a 1-unit output, ``"softmax"`` for 2 units."""
    units = model.output_shape[-1]
    if units == 1:
        return "sigmoid"
    if units == 2:
        return "softmax"
    raise ModelConfigError(f"Model {model.name!r} has {units} outputs; expected 1 or 2.")


def loss_for(model: keras.Model, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """Binary cross-entropy for a sigmoid head, sparse categorical cross-entropy for softmax,
    with ``label_smoothing`` (0 = none; softmax heads then use
    :class:`~dflearn.layers.SmoothedSparseCrossentropy`)."""
    if not 0 <= label_smoothing < 1:
        raise ModelConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    if head_of(model) == "sigmoid":
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    if label_smoothing:
        from dflearn.layers import SmoothedSparseCrossentropy

        return SmoothedSparseCrossentropy(label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def accuracy_for(model: keras.Model) -> keras.metrics.Metric:
    """The accuracy metric matching the head, always named ``accuracy``."""
    if head_of(model) == "sigmoid":
        return keras.metrics.BinaryAccuracy(name="accuracy")
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def compile_model(model: keras.Model, learning_rate: float = 1e-3, weight_decay: float = 0.0,
                  optimizer: keras.optimizers.Optimizer | None = None,
                  run_eagerly: bool = False, label_smoothing: float = 0.0,
                  ema: float = 0.0) -> keras.Model:
    """Compile with Adam (AdamW when ``weight_decay > 0``) and the loss matching the head
    (:func:`loss_for`). ``run_eagerly`` skips graph tracing: slower per batch, quicker for the
    few batches of the ``ci`` profile. ``ema`` > 0 keeps an exponential moving average of the
    weights with that momentum (Keras' ``use_ema``), which replaces the weights when training
    ends."""
    if not 0.0 <= ema < 1.0:
        raise ModelConfigError(f"ema is a momentum in [0, 1) (0: off), got {ema!r}.")
    if optimizer is None:
        averaging = {"use_ema": True, "ema_momentum": ema} if ema else {}
        optimizer = (keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **averaging)
                     if weight_decay else keras.optimizers.Adam(learning_rate, **averaging))
    model.compile(optimizer=optimizer, loss=loss_for(model, label_smoothing),
                  metrics=[accuracy_for(model)],
                  run_eagerly=run_eagerly)
    build_optimizer(optimizer, model.trainable_variables)
    return model


def build_optimizer(optimizer: keras.optimizers.Optimizer | None,
                    variables: Sequence[keras.Variable]) -> None:
    """Create ``optimizer``'s slot variables (Adam's moments) for ``variables`` now, before
    training starts.

    Keras otherwise creates them inside TensorFlow's first trace of the training step, and
    TensorFlow then traces the whole step a second time. Building them first is the same
    training with about 40% less start-up: 13 s → 7.6 s for the ``ci`` MobileNet-style model
    on 2 cores (graph tracing dominates a small model's short fit). Does nothing when the
    optimizer is already built or there is none."""
    if optimizer is not None and not optimizer.built and variables:
        optimizer.build(list(variables))


def real_probability(model: keras.Model, images: np.ndarray, batch_size: int = 256,
                     flip_tta: bool = False) -> np.ndarray:
    """P(REAL) for each image (N, H, W, 3), whatever the head.

    ``flip_tta`` (test-time augmentation) averages the predictions for each image and its
    mirror image.
    """
    images = np.asarray(images, dtype="float32")
    out = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=float)
    p_real = out[:, 0] if out.shape[-1] == 1 else out[:, 1]
    if flip_tta:
        p_real = (p_real + real_probability(model, images[:, :, ::-1], batch_size)) / 2
    return p_real


def output_spread(model: keras.Model, images: np.ndarray) -> dict[str, float]:
    """How much P(REAL) varies over ``images`` and the share called REAL: a standard deviation
    near 0 means the model gives every image the same answer."""
    p_real = real_probability(model, images)
    return {"std_p_real": float(np.std(p_real)), "share_real": float(np.mean(p_real >= 0.5))}


# --------------------------------------------------------------------------- architectures


def space_to_depth(x: keras.KerasTensor, block: int = 2, name: str = "space_to_depth"
                   ) -> keras.KerasTensor:
    """Rearrange each ``block x block`` patch of pixels into channels: (H, W, C) becomes
    (H/b, W/b, b*b*C). Nothing is lost, but later convolutions run on b*b times fewer positions."""
    h, w, c = x.shape[1:]
    if h % block or w % block:
        raise ModelConfigError(f"space-to-depth needs sizes divisible by {block}, got {h}x{w}.")
    x = layers.Reshape((h // block, block, w // block, block, c), name=f"{name}_split")(x)
    x = layers.Permute((1, 3, 2, 4, 5), name=f"{name}_permute")(x)
    return layers.Reshape((h // block, w // block, block * block * c), name=name)(x)


def personal_cnn(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
                 dropout: float = 0.2, dense_units: int = 256, stem: str = "none") -> keras.Model:
    """The study's Personal CNN: 3 blocks of Conv-LeakyReLU-BatchNorm (128x3, 256x3, 512x2),
    each closed by 2x2 max-pooling and dropout; then flatten, a dense layer and the head.

    ``stem="space_to_depth"`` is a CPU-friendly variant: the image first becomes a half-size,
    12-channel one (:func:`space_to_depth`) and the last block skips its pooling, so the
    blocks see the same information at a quarter of the cost. ``stem="whiten"`` does the same
    with a frozen :class:`~dflearn.layers.PatchWhitening` of the 2x2 blocks (filters from the
    training data, set by :func:`dflearn.training.fit`) and a GELU.
    """
    check_args(width, input_size, head)
    if stem not in STEMS:
        raise ModelConfigError(f"Unknown stem {stem!r}: use one of {STEMS}.")
    inputs, x = image_input(input_size)
    if stem == "space_to_depth":
        x = space_to_depth(x)
    elif stem == "whiten":
        from dflearn.layers import PatchWhitening

        x = layers.Activation("gelu", name="whiten_gelu")(
            PatchWhitening(2, strides=2, name="whiten")(x))
    for b, (filters, n_conv) in enumerate(PERSONAL_BLOCKS, start=1):
        for c in range(1, n_conv + 1):
            x = layers.Conv2D(scaled(filters, width), 3, padding="same", name=f"b{b}_conv{c}")(x)
            x = layers.LeakyReLU(negative_slope=0.1, name=f"b{b}_lrelu{c}")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"b{b}_bn{c}")(x)
        if stem == "none" or b < len(PERSONAL_BLOCKS):
            x = layers.MaxPooling2D(2, name=f"b{b}_pool")(x)
        x = layers.Dropout(dropout, name=f"b{b}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(scaled(dense_units, width), name="dense")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="dense_lrelu")(x)
    x = layers.Dropout(dropout, name="dense_dropout")(x)
    return keras.Model(inputs, classifier_head(x, head), name=MODEL_NAMES["personal"])


def vgg(depth: int = 16, width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
        batch_norm: bool = False, dense_units: int = 4096, dropout: float = 0.5) -> keras.Model:
    """VGG-16 or VGG-19 built layer by layer, no pretrained weights.

    ``batch_norm=False`` is the original design (which can stall at 50% when trained from
    scratch); ``batch_norm=True`` adds BatchNormalization after every convolution.
    """
    if depth not in VGG_CONFIGS:
        raise ModelConfigError(f"VGG depth must be one of {tuple(VGG_CONFIGS)}, got {depth!r}.")
    check_args(width, input_size, head, min_size=32)
    inputs, x = image_input(input_size)
    block, conv = 1, 1
    for item in VGG_CONFIGS[depth]:
        if item == "M":
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
            block, conv = block + 1, 1
            continue
        name = f"block{block}_conv{conv}"
        if batch_norm:
            x = conv_bn_relu(x, scaled(item, width), name)
        else:
            x = layers.Conv2D(scaled(item, width), 3, padding="same", activation="relu",
                              name=name)(x)
        conv += 1
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(scaled(dense_units, width), activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    suffix = "_bn" if batch_norm else ""
    return keras.Model(inputs, classifier_head(x, head), name=MODEL_NAMES[f"vgg{depth}"] + suffix)


def vgg16(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
          batch_norm: bool = False) -> keras.Model:
    """VGG-16 from scratch (see :func:`vgg`)."""
    return vgg(16, width, input_size, head, batch_norm)


def vgg19(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
          batch_norm: bool = False) -> keras.Model:
    """VGG-19 from scratch (see :func:`vgg`)."""
    return vgg(19, width, input_size, head, batch_norm)


def separable_block(x: keras.KerasTensor, filters: int, stride: int, name: str) -> keras.KerasTensor:
    """MobileNet's depthwise-separable unit: 3x3 depthwise conv, BN, ReLU, then 1x1 pointwise
    conv, BN, ReLU. Convolutions have no bias (BatchNorm supplies the shift)."""
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                               name=f"{name}_depthwise")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_depthwise_bn")(x)
    x = layers.ReLU(name=f"{name}_depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pointwise")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_pointwise_bn")(x)
    return layers.ReLU(name=f"{name}_pointwise_relu")(x)


def mobilenet_cnn(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
                  stem_filters: int = 32, dropout: float = 0.2,
                  blocks: Sequence[tuple[int, int]] = MOBILENET_BLOCKS) -> keras.Model:
    """A MobileNet-style CNN (as in the lightweight-detector project): a 3x3 stem convolution,
    depthwise-separable blocks, global average pooling, dropout and the head."""
    check_args(width, input_size, head)
    inputs, x = image_input(input_size)
    x = layers.Conv2D(scaled(stem_filters, width), 3, padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, (filters, stride) in enumerate(blocks, start=1):
        x = separable_block(x, scaled(filters, width), stride, name=f"sep{i}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, classifier_head(x, head), name=MODEL_NAMES["mobilenet"])


def faces_cnn(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
              dropout: float = 0.3, dense_units: tuple[int, int] = (256, 128)) -> keras.Model:
    """The faces project's 8-conv CNN: 64-64-128-128-256-256-512-512 with BatchNorm, 2x2
    max-pooling after each pair but the last, global average pooling and a 256-128 dense head
    with dropout before the output (1 unit with ``head="sigmoid"``)."""
    check_args(width, input_size, head)
    inputs, x = image_input(input_size)
    for i, filters in enumerate(FACES_FILTERS, start=1):
        x = conv_bn_relu(x, scaled(filters, width), f"conv{i}")
        if i % 2 == 0 and i < len(FACES_FILTERS):
            x = layers.MaxPooling2D(2, name=f"pool{i // 2}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    for units in dense_units:
        x = layers.Dense(scaled(units, width), activation="relu", name=f"fc{units}")(x)
        x = layers.Dropout(dropout, name=f"fc{units}_dropout")(x)
    return keras.Model(inputs, classifier_head(x, head), name=MODEL_NAMES["faces"])


# ---- the ensemble project's base CNNs (06)


# ThreeCNN's three convolutions (its layer table: 64, 128, 192 filters).
THREE_FILTERS: tuple[int, ...] = (64, 128, 192)
# SkipConCNN's widths (its layer table): the two stem convolutions (128, 256), then the residual
# block and the convolution after it (512).
SKIPCON_FILTERS: tuple[int, ...] = (128, 256, 512)
# The side of the adaptive average pooling before each model's dense layer (4x4 and 6x6).
THREE_POOLED = 4
SKIPCON_POOLED = 6
PADDINGS = ("same", "valid")


def conv_bn(x: keras.KerasTensor, filters: int, name: str, kernel_size: int = 3,
            padding: str = "same", dilation: int = 1, relu: bool = True) -> keras.KerasTensor:
    """Conv2D (with a bias, as the project's PyTorch layers) -> BatchNorm (-> ReLU), as layers
    ``name``, ``name_bn`` (and ``name_relu``). BN_MOMENTUM 0.9 is PyTorch's default momentum 0.1
    in Keras' convention."""
    x = layers.Conv2D(filters, kernel_size, padding=padding, dilation_rate=dilation,
                      name=name)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def three_cnn(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
              dropout: float = 0.3, dense_units: int = 128, dilation: int = 1,
              last_padding: str = "same") -> keras.Model:
    """The ensemble project's ThreeCNN, after its layer table: three Conv-BatchNorm-ReLU-
    2x2 MaxPool blocks (64, 128, 192 filters), SpatialDropout2D (PyTorch's Dropout2D), adaptive
    average pooling to 4x4, flatten, a 128-unit dense layer with ReLU and dropout, and the head.

    The project's third convolution has no padding (its 25x25 maps become 23x23, then 11x11
    after pooling, then 4x4). On 32x32 images that would leave 3x3 maps, smaller than the 4x4
    the pooling asks for, so by default the third convolution pads (``last_padding="same"``):
    32 -> 16 -> 8 -> 4 and the adaptive pooling to 4x4 changes nothing; the dense layer has the
    project's 192 x 4 x 4 = 3,072 inputs either way. ``last_padding="valid"`` with
    ``input_size=100`` gives the table's shapes. ``dilation`` dilates the last convolution, the
    project's later change ("after I adjusted the dilation for last convolutional layer and made
    it wider"; it gives neither the dilation nor the new width). The seed gives no dropout
    rates. Used in 06 §2 (and as the small ResNet50 stand-in's backbone, up to ``conv3_relu``).
    """
    check_args(width, input_size, head)
    if last_padding not in PADDINGS or int(dilation) != dilation or dilation < 1:
        raise ModelConfigError(f"last_padding must be one of {PADDINGS} and dilation a positive "
                               f"integer, got {last_padding!r}, {dilation!r}.")
    inputs, x = image_input(input_size)
    for b, filters in enumerate(THREE_FILTERS, start=1):
        last = b == len(THREE_FILTERS)
        x = conv_bn(x, scaled(filters, width), f"conv{b}", padding=last_padding if last else
                    "same", dilation=dilation if last else 1)
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
    x = layers.SpatialDropout2D(dropout, name="dropout2d")(x)
    return keras.Model(inputs, pooled_head(x, THREE_POOLED, scaled(dense_units, width), dropout,
                                           head), name="three_cnn")


def pooled_head(x: keras.KerasTensor, pooled: int | tuple[int, int], units: int, dropout: float,
                head: str) -> keras.KerasTensor:
    """The ensemble project's classifier end: adaptive average pooling to ``pooled``, flatten,
    a ReLU dense layer of ``units`` with dropout, and the output (06 §2)."""
    x = layers.AdaptiveAveragePooling2D(pooled, name="adaptive_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return classifier_head(x, head)


def residual_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """The project's residual block: Conv-BatchNorm-ReLU-Conv-BatchNorm (3x3), added to the
    input (through a 1x1 Conv-BatchNorm projection when the number of channels changes), then
    ReLU. Used by :func:`skipcon_cnn` (06 §2)."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, f"{name}_project", kernel_size=1, relu=False)
    y = conv_bn(x, filters, f"{name}_conv1")
    y = conv_bn(y, filters, f"{name}_conv2", relu=False)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def skipcon_cnn(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
                dropout: float = 0.3, dense_units: int = 128) -> keras.Model:
    """The ensemble project's SkipConCNN, after its layer table: a stem of two Conv-BatchNorm-
    ReLU layers (128, 256 filters) and 2x2 max-pooling; one residual block of 512 filters
    (:func:`residual_block`, with a 1x1 projection) and 2x2 max-pooling; a 512-filter
    Conv-BatchNorm-ReLU with dropout; adaptive average pooling to 6x6, flatten, a 128-unit
    dense layer with ReLU and dropout, and the head.

    On 32x32 images the maps go 32 -> 16 -> 8 and the adaptive pooling takes 8x8 to 6x6
    (overlapping 2x2 windows, as PyTorch's AdaptiveAvgPool2d); the dense layer has the project's
    512 x 6 x 6 inputs. The seed gives no dropout rates. Used in 06 §2.
    """
    check_args(width, input_size, head)
    stem1, stem2, wide = (scaled(f, width) for f in SKIPCON_FILTERS)
    inputs, x = image_input(input_size)
    x = conv_bn(x, stem1, "stem_conv1")
    x = conv_bn(x, stem2, "stem_conv2")
    x = layers.MaxPooling2D(2, name="stem_pool")(x)
    x = residual_block(x, wide, name="res1")
    x = layers.MaxPooling2D(2, name="res1_pool")(x)
    x = conv_bn(x, wide, "conv")
    x = layers.Dropout(dropout, name="conv_dropout")(x)
    return keras.Model(inputs, pooled_head(x, SKIPCON_POOLED, scaled(dense_units, width),
                                           dropout, head), name="skipcon_cnn")


BASE_MODELS: Mapping[str, Callable[..., keras.Model]] = {"ThreeCNN": three_cnn,
                                                         "SkipConCNN": skipcon_cnn}


# ---- the study's age-classifier grid (05)


# The study's age-classifier grid (05): every conv stage ends at OUTPUT_SIZE x OUTPUT_SIZE x
# FINAL_FILTERS (4x4x128 for 32x32 inputs), with 3x3 convolutions.
OUTPUT_SIZE = 4
FINAL_FILTERS = 128
KERNEL = 3


@dataclass(frozen=True)
class GridSpec:
    """One model of the grid: ``n_convs`` convolutions, then dense layers of ``head`` units
    (the last number is the 2-unit softmax output)."""

    n_convs: int
    head: tuple[int, ...]

    @property
    def name(self) -> str:
        """E.g. ``3conv_512-2``."""
        return f"{self.n_convs}conv_{'-'.join(map(str, self.head))}"

    @property
    def head_label(self) -> str:
        """E.g. ``[512, 2]``, as the study writes it."""
        return str(list(self.head))


def check_dense_head(head: Sequence[int]) -> tuple[int, ...]:
    """``head`` as a tuple of unit counts ending with the 2-unit output, or ModelConfigError."""
    head = tuple(int(u) for u in head)
    if not head or head[-1] != 2 or any(u < 1 for u in head):
        raise ModelConfigError(f"A dense head is a list of positive unit counts ending with the "
                               f"2-unit output, like [512, 2]; got {list(head)}.")
    return head


def pooling_plan(n_convs: int, input_size: int = 32, output_size: int = OUTPUT_SIZE) -> list[int]:
    """The max-pooling factor after each convolution (1 = no pooling) so that ``input_size``
    shrinks to ``output_size``: the halvings needed are spread over the convolutions, earlier
    ones taking any extra (2 convs: 4, 2; 3 convs: 2, 2, 2; 4 convs: 2, 2, 2, 1)."""
    if n_convs < 1:
        raise ModelConfigError(f"A stage needs at least one convolution, got {n_convs}.")
    ratio = input_size / output_size
    halvings = round(math.log2(ratio)) if ratio >= 1 else -1
    if halvings < 0 or 2 ** halvings != ratio:
        raise ModelConfigError(f"input_size / output_size must be a power of 2 (got {input_size} "
                               f"/ {output_size}): every stage shrinks the image by 2x2 "
                               "max-pooling.")
    return [2 ** (halvings // n_convs + (1 if i < halvings % n_convs else 0)) for i in range(n_convs)]


def stage_filters(n_convs: int, final_filters: int = FINAL_FILTERS) -> list[int]:
    """Filters per convolution, doubling up to ``final_filters`` at the last one
    (2 convs: 64, 128; 4 convs: 16, 32, 64, 128)."""
    return [max(1, final_filters // 2 ** (n_convs - 1 - i)) for i in range(n_convs)]


def age_classifier(n_convs: int, head: Sequence[int], *, width: float = 1.0, input_size: int = 32,
                   output_size: int = OUTPUT_SIZE, final_filters: int = FINAL_FILTERS,
                   dropout: float = 0.25, bn_momentum: float = BN_MOMENTUM) -> keras.Model:
    """One grid model: ``n_convs`` x (3x3 conv, BatchNorm, ReLU, planned max-pooling), flatten,
    dense ReLU layers with dropout for every unit count of ``head`` but the last, and the 2-unit
    softmax. Filters and hidden units are scaled by ``width``; 0-255 pixels in. A lower
    ``bn_momentum`` lets BatchNorm's running statistics settle within a few batches (tiny runs)."""
    head = check_dense_head(head)
    spec = GridSpec(n_convs, head)
    inputs, x = image_input(input_size)
    plan = pooling_plan(n_convs, input_size, output_size)
    for i, (filters, pool) in enumerate(zip(stage_filters(n_convs, final_filters), plan), 1):
        x = layers.Conv2D(scaled(filters, width), KERNEL, padding="same", use_bias=False,
                          name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"conv{i}_bn")(x)
        x = layers.ReLU(name=f"conv{i}_relu")(x)
        if pool > 1:
            x = layers.MaxPooling2D(pool, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for j, units in enumerate(head[:-1], 1):
        x = layers.Dense(scaled(units, width), activation="relu", name=f"dense{j}")(x)
        x = layers.Dropout(dropout, name=f"dense{j}_dropout")(x)
    return keras.Model(inputs, classifier_head(x, "softmax"), name=spec.name)


def dense_cnn(width: float = 1.0, input_size: int = 32, head: str = "sigmoid",
              negative_slope: float = 0.3) -> keras.Model:
    """The lightweight project's baseline, its "Improved Dense CNN", after its layer table: five
    blocks of 3x3 convolutions (16x2, 32x3, 64x4, 128, 256 filters), each closed by BatchNorm
    and a 2x2 pooling (average for the first three, max for the last two), then flatten, dense
    layers of 512, 512, 128, 16 and 16 units with LeakyReLU, and a 1-unit sigmoid head.

    The project used 160x160 inputs; at 32x32 the five poolings end at 1x1, so the dense part
    sees 256 features instead of 6,400 and the model has far fewer parameters (03 prints both).
    Used in 03 (the lightweight project's baseline beside the MobileNet-style model).
    """
    check_args(width, input_size, head, min_size=32)
    inputs, x = image_input(input_size)
    for b, (filters, n_conv, pool) in enumerate(DENSE_CNN_BLOCKS, start=1):
        for c in range(1, n_conv + 1):
            x = layers.Conv2D(scaled(filters, width), 3, padding="same", activation="relu",
                              name=f"b{b}_conv{c}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"b{b}_bn")(x)
        pooling = layers.AveragePooling2D if pool == "average" else layers.MaxPooling2D
        x = pooling(2, name=f"b{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(DENSE_CNN_UNITS, start=1):
        x = layers.Dense(scaled(units, width), name=f"fc{i}")(x)
        x = layers.LeakyReLU(negative_slope=negative_slope, name=f"fc{i}_lrelu")(x)
    return keras.Model(inputs, classifier_head(x, head), name=MODEL_NAMES["dense"])


ARCHITECTURES: Mapping[str, Callable[..., keras.Model]] = {
    "personal": personal_cnn,
    "vgg16": vgg16,
    "vgg19": vgg19,
    "mobilenet": mobilenet_cnn,
    "faces": faces_cnn,
    "dense": dense_cnn,
}


def build(name: str, width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
          **options) -> keras.Model:
    """Build architecture ``name`` (one of :data:`ARCHITECTURES`) with the given knobs."""
    if name not in ARCHITECTURES:
        raise ModelConfigError(f"Unknown architecture {name!r}: use one of {', '.join(ARCHITECTURES)}.")
    return ARCHITECTURES[name](width=width, input_size=input_size, head=head, **options)


# --------------------------------------------------------------------------- inspection


def parameter_counts(models: Mapping[str, keras.Model]) -> pd.DataFrame:
    """Trainable, non-trainable and total parameters, and layer count, per model."""
    rows = {}
    for name, model in models.items():
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
        rows[name] = {"layers": len(model.layers), "trainable": trainable,
                      "non_trainable": frozen, "total": trainable + frozen}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def conv_params(kernel: int, in_channels: int, filters: int, bias: bool = True) -> int:
    """Parameters of a standard ``kernel x kernel`` convolution: K*K*C_in*C_out (+ C_out)."""
    return kernel * kernel * in_channels * filters + (filters if bias else 0)


def separable_reduction(kernel: int, filters: int) -> float:
    """The depthwise-separable cost relative to a standard convolution: 1/N + 1/K**2."""
    return 1.0 / filters + 1.0 / kernel**2


def separable_arithmetic(model: keras.Model) -> pd.DataFrame:
    """For each depthwise + pointwise pair in ``model``: their weights, the weights of the
    standard convolution they replace, the measured ratio and the formula 1/N + 1/K**2.

    Counts weights only (the blocks' convolutions have no bias), read from the real layers.
    """
    rows = []
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, layers.DepthwiseConv2D):
            continue
        pointwise = next((nxt for nxt in model.layers[i + 1:] if isinstance(nxt, layers.Conv2D)
                          and nxt.kernel_size == (1, 1)), None)
        if pointwise is None:
            continue
        k = layer.kernel_size[0]
        c_in = layer.kernel.shape[2]
        n = pointwise.filters
        depthwise_w, pointwise_w = int(np.prod(layer.kernel.shape)), int(np.prod(pointwise.kernel.shape))
        standard = conv_params(k, c_in, n, bias=False)
        rows.append({"block": layer.name.removesuffix("_depthwise"), "K": k, "M (in)": c_in,
                     "N (out)": n, "depthwise": depthwise_w, "pointwise": pointwise_w,
                     "separable": depthwise_w + pointwise_w, "standard": standard,
                     "ratio": (depthwise_w + pointwise_w) / standard,
                     "1/N + 1/K^2": separable_reduction(k, n)})
    if not rows:
        raise ModelConfigError(f"Model {model.name!r} has no depthwise + pointwise convolution pairs.")
    return pd.DataFrame(rows).set_index("block")


def _kernel_positions(layer: keras.Layer) -> int:
    """Output positions (height x width) of a convolution layer."""
    return int(np.prod(layer.output.shape[1:-1]))


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one image's forward pass through ``model``'s convolutions
    and dense layers (a multiply-add counts 2; normalisation, activations and pooling, a few
    percent, are left out). Training costs about three times this (forward and two backward
    products). Nested models are counted through. Used by benchmarks/cnn_ablation.py."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
        elif isinstance(layer, layers.DepthwiseConv2D):
            total += 2 * _kernel_positions(layer) * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, layers.SeparableConv2D):
            total += 2 * _kernel_positions(layer) * int(np.prod(layer.depthwise_kernel.shape)
                                                        + np.prod(layer.pointwise_kernel.shape))
        elif isinstance(layer, (layers.Conv2D, layers.Dense)):
            total += 2 * int(np.prod(layer.kernel.shape)) * (
                _kernel_positions(layer) if isinstance(layer, layers.Conv2D) else 1)
    return total


def activation_scales(model: keras.Model, images: np.ndarray) -> pd.DataFrame:
    """Standard deviation of every convolution's output, and of the model's output, on a batch
    run as in training.

    In a deep plain network a shrinking scale from layer to layer means a near-constant output
    and vanishing gradients: the reason VGG trained from scratch can stall at 50%.
    """
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    probe = keras.Model(model.input, [layer.output for layer in convs] + [model.output])
    # training=True: BatchNorm normalises with the batch's statistics, as it does while training.
    outputs = probe(np.asarray(images, dtype="float32"), training=True)
    names = [layer.name for layer in convs] + ["output"]
    return pd.DataFrame({"layer": names,
                         "std": [float(np.std(keras.ops.convert_to_numpy(o))) for o in outputs]}
                        ).set_index("layer")
