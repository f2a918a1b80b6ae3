"""Every custom Keras class of the course, registered for saving (``register_keras_serializable``).

Core layer. A saved ``.keras`` model that uses one of these classes loads once this module is
imported, which :func:`dflearn.artifacts.load_model` does first, so any notebook can load any
course model.

* :class:`BackbonePreprocess` and :class:`TransferNet`: transfer learning (04, 07);
* :class:`SmoothedSparseCrossentropy`: label smoothing for softmax heads (06, 09);
* :class:`TwoClassProbabilities` and :class:`ConfidenceBlend`: EnsembleCNN (06);
* :class:`BlurJpeg`: Wang et al.'s Blur+JPEG augmentation (08);
* :class:`NPRResidual`: Tan et al.'s neighbouring-pixel-relationship residual (10);
* :class:`PatchWhitening`: a frozen first convolution that whitens image patches (03's fast
  CPU recipe options, ``benchmarks/cnn_ablation.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

# The ``keras.applications`` module whose ``preprocess_input`` each backbone needs.
PREPROCESS_MODULES: dict[str, str] = {"vgg16": "vgg16", "densenet121": "densenet",
                                      "resnet50": "resnet50"}


def preprocess_input(backbone: str, images: Any) -> Any:
    """``keras.applications.<module>.preprocess_input`` of ``backbone`` (0-255 RGB in)."""
    return getattr(keras.applications, PREPROCESS_MODULES[backbone]).preprocess_input(images)


@keras.saving.register_keras_serializable(package="dflearn")
class BackbonePreprocess(layers.Layer):
    """A backbone's own ``preprocess_input`` as a layer, so saved models carry it (04, 07)."""

    def __init__(self, backbone: str, **kwargs: Any):
        super().__init__(**kwargs)
        if backbone not in PREPROCESS_MODULES:
            raise ValueError(f"Unknown backbone {backbone!r}: use one of "
                             f"{', '.join(PREPROCESS_MODULES)}.")
        self.backbone = backbone

    def call(self, inputs: Any) -> Any:
        return preprocess_input(self.backbone, inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


@keras.saving.register_keras_serializable(package="dflearn")
class TransferNet(keras.Model):
    """A functional model whose training step records gradients for its trainable weights only.

    Keras' default step lets TensorFlow's tape watch every variable the forward pass reads,
    frozen ones included, so the backward pass runs through the whole frozen backbone (on a CPU,
    several times the cost of the forward pass). Watching only the trainable weights stops it at
    the first trainable layer: the same gradients for much less work. Written as in keras.io's
    "Customizing what happens in fit()" guide. Built by :func:`dflearn.backbones.assemble` (04).
    """

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        weights = self.trainable_weights
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([w.value for w in weights])
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
        self.optimizer.apply(tape.gradient(loss, weights), weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return self.get_metrics_result()


@keras.saving.register_keras_serializable(package="dflearn")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy of integer labels with label smoothing: the true class's
    target is ``1 - s + s / K`` and every other class's ``s / K``.

    :func:`dflearn.training.fit` uses it for ``label_smoothing`` with a softmax head (06).
    """

    def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy",
                 **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        classes = ops.shape(y_pred)[-1]
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="dflearn")
class TwoClassProbabilities(layers.Layer):
    """Turns a 1-unit sigmoid P(REAL) into ``[P(FAKE), P(REAL)]``; passes 2-unit softmax
    outputs through unchanged. Part of EnsembleCNN (06)."""

    def call(self, p: Any) -> Any:
        if p.shape[-1] == 1:
            return ops.concatenate([1.0 - p, p], axis=-1)
        return p

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], 2)


@keras.saving.register_keras_serializable(package="dflearn")
class ConfidenceBlend(layers.Layer):
    """Blends two class distributions by their confidence (largest probability):
    ``g * a + (1 - g) * b`` with ``g = sigmoid(scale * (conf(a) - conf(b)) + offset)``;
    ``scale`` and ``offset`` are learned. EnsembleCNN's last step (06)."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(4.0),
                                     name="scale")
        self.offset = self.add_weight(shape=(), initializer="zeros", name="offset")

    def gate(self, inputs: Sequence[Any]) -> Any:
        """The weight ``g`` given to the first distribution, shape (N, 1)."""
        a, b = inputs
        margin = ops.max(a, axis=-1, keepdims=True) - ops.max(b, axis=-1, keepdims=True)
        return ops.sigmoid(self.scale * margin + self.offset)

    def call(self, inputs: Sequence[Any]) -> Any:
        g = self.gate(inputs)
        return g * inputs[0] + (1.0 - g) * inputs[1]

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> tuple:
        return input_shape[0]


@keras.saving.register_keras_serializable(package="dflearn")
class BlurJpeg(keras.layers.Layer):
    """Wang et al. (2020)'s "Blur+JPEG" augmentation: with probability ``blur_prob`` blur an image
    with a Gaussian of sigma drawn from ``sigma_range`` (pixels), then with probability
    ``jpeg_prob`` re-encode it as a JPEG of quality drawn from ``quality_range``.

    Wang et al. used sigma in [0, 3] on 256-pixel images and quality in [30, 100] with
    probability 0.5 each; on 32-pixel images a 3-pixel blur erases everything, so the default
    sigma range here is [0, 1]. Works on 0-255 float batches, only when ``training``. TensorFlow
    backend only (it calls ``tf.image.adjust_jpeg_quality``). Used in 08 §3 (Blur+JPEG training).
    """

    def __init__(self, blur_prob: float = 0.5, jpeg_prob: float = 0.5,
                 sigma_range: tuple[float, float] = (0.0, 1.0),
                 quality_range: tuple[int, int] = (30, 100), seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, p in (("blur_prob", blur_prob), ("jpeg_prob", jpeg_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
        if not 0 <= sigma_range[0] <= sigma_range[1]:
            raise ValueError(f"sigma_range must be (low, high) with 0 <= low <= high, "
                             f"got {sigma_range}.")
        if not 1 <= quality_range[0] <= quality_range[1] <= 100:
            raise ValueError(f"quality_range must lie within 1..100, low first, "
                             f"got {quality_range}.")
        self.blur_prob, self.jpeg_prob = float(blur_prob), float(jpeg_prob)
        self.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
        self.quality_range = (int(quality_range[0]), int(quality_range[1]))
        self.seed = seed
        self.radius = max(1, int(np.ceil(3 * self.sigma_range[1])))
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, n: tf.Tensor, low: float, high: float) -> tf.Tensor:
        return keras.random.uniform((n,), low, high, seed=self.seed_generator)

    def _blur(self, images: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
        """Blur image ``i`` with ``sigma[i]`` (0 leaves it unchanged): one separable depthwise
        convolution with the batch folded into the channels, edges reflected."""
        n, h, w = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
        x = tf.range(-self.radius, self.radius + 1, dtype=tf.float32)
        safe = tf.maximum(sigma, 1e-3)[:, None]
        kernel = tf.exp(-0.5 * tf.square(x[None, :] / safe))
        kernel = kernel / tf.reduce_sum(kernel, axis=1, keepdims=True)  # (N, K)
        kernel = tf.repeat(kernel, 3, axis=0)  # one kernel per channel: (N * 3, K)
        folded = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, n * 3])
        r = self.radius
        padded = tf.pad(folded, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
        k = tf.transpose(kernel)  # (K, N * 3)
        rows = tf.nn.depthwise_conv2d(padded, k[:, None, :, None], [1, 1, 1, 1], "VALID")
        both = tf.nn.depthwise_conv2d(rows, k[None, :, :, None], [1, 1, 1, 1], "VALID")
        return tf.transpose(tf.reshape(both, [h, w, n, 3]), [2, 0, 1, 3])

    def _jpeg(self, images: tf.Tensor, quality: tf.Tensor) -> tf.Tensor:
        """Re-encode image ``i`` as a JPEG of ``quality[i]``, one image at a time."""
        def one(args: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
            image, q = args
            encoded = tf.image.adjust_jpeg_quality(tf.cast(image, tf.uint8), q)
            return tf.cast(encoded, tf.float32)

        return tf.map_fn(one, (images, quality), fn_output_signature=tf.float32)

    def call(self, images: tf.Tensor, training: bool = True) -> tf.Tensor:
        """Blur, then JPEG-compress, a random subset of the batch (only when ``training``)."""
        if not training:
            return images
        images = tf.cast(images, tf.float32)
        n = tf.shape(images)[0]
        do_blur = self._uniform(n, 0.0, 1.0) < self.blur_prob
        sigma = self._uniform(n, *self.sigma_range)
        sigma = tf.where(do_blur, sigma, tf.zeros_like(sigma))
        images = self._blur(images, sigma)
        images = tf.clip_by_value(tf.round(images), 0.0, 255.0)
        do_jpeg = self._uniform(n, 0.0, 1.0) < self.jpeg_prob
        low, high = self.quality_range
        quality = tf.cast(tf.floor(self._uniform(n, low, high + 1)), tf.int32)
        quality = tf.minimum(quality, high)
        compressed = self._jpeg(images, quality)
        return tf.where(do_jpeg[:, None, None, None], compressed, images)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output has the input's shape."""
        return input_shape

    def get_config(self) -> dict:
        """The constructor arguments, for saving and cloning."""
        return {**super().get_config(), "blur_prob": self.blur_prob, "jpeg_prob": self.jpeg_prob,
                "sigma_range": self.sigma_range, "quality_range": self.quality_range,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="dflearn")
class NPRResidual(layers.Layer):
    """Tan et al. (CVPR 2024)'s NPR input: the image minus its nearest-neighbour
    down-then-up-sampled copy.

    Down-sampling by ``factor`` with nearest neighbours keeps the top-left pixel of every
    ``factor x factor`` block; up-sampling repeats it over the block. The residual is 0 at each
    block's top-left pixel and, elsewhere, the difference from it: the local pixel relationships
    that a generator's up-sampling layers leave behind, with the picture's content mostly
    removed. Works on any pixel range; image sides must be multiples of ``factor``.
    Used in 10 §2 (NPR detector).
    """

    def __init__(self, factor: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        if int(factor) != factor or factor < 2:
            raise ValueError(f"NPRResidual factor must be an integer of at least 2, "
                             f"got {factor!r}.")
        self.factor = int(factor)

    def build(self, input_shape: tuple) -> None:
        """Check that both image sides are multiples of ``factor``."""
        height, width = input_shape[1], input_shape[2]
        for side in (height, width):
            if side is not None and side % self.factor:
                raise ValueError(f"NPRResidual needs image sides divisible by {self.factor}, "
                                 f"got {height}x{width}; resize the images first.")

    def call(self, images: Any) -> Any:
        f = self.factor
        images = ops.cast(images, self.compute_dtype)
        kept = images[:, ::f, ::f, :]
        copied = ops.repeat(ops.repeat(kept, f, axis=1), f, axis=2)
        return images - copied

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output has the input's shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for saving and cloning."""
        return {**super().get_config(), "factor": self.factor}


def whitening_filters(patches: np.ndarray, epsilon: float = 5e-4) -> tuple[np.ndarray, np.ndarray]:
    """Filters that whiten ``patches`` (n, d): ``(weights (d, 2d), bias (2d,))``.

    Each of the first d columns is an eigenvector of the patches' covariance divided by the
    square root of its eigenvalue (plus ``epsilon``); the last d are the same with the opposite
    sign, so a ReLU after them keeps both halves. ``bias`` centres every output on the patches'
    mean. Used by :class:`PatchWhitening`.
    """
    patches = np.asarray(patches, dtype=np.float64)
    if patches.ndim != 2 or len(patches) <= patches.shape[1]:
        raise ValueError(f"whitening_filters needs more patches than patch values, as an (n, d) "
                         f"array; got shape {patches.shape}.")
    mean = patches.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(patches - mean, rowvar=False))
    weights = eigenvectors / np.sqrt(np.clip(eigenvalues, 0, None) + epsilon)
    weights = np.concatenate([weights, -weights], axis=1)
    return weights.astype("float32"), (-mean @ weights).astype("float32")


@keras.saving.register_keras_serializable(package="dflearn")
class PatchWhitening(layers.Layer):
    """A frozen first convolution whose filters whiten ``kernel_size`` x ``kernel_size`` image
    patches, as in the fast CIFAR-10 trainers (Page's "How to train your ResNet", hlb-CIFAR10,
    airbench): the next layer starts from decorrelated, unit-variance patch features.

    The filters come from data: call :meth:`adapt` with what this layer receives (e.g. the
    rescaled training images) before training; :func:`dflearn.training.fit` does it for every
    unadapted ``PatchWhitening`` in the model. Output: ``2 * kernel_size**2 * channels`` channels,
    spatial size divided by ``strides`` (``"same"`` padding; ``kernel_size=2, strides=2`` whitens
    the non-overlapping 2x2 blocks, a learned space-to-depth). The filters are saved with the
    model.
    """

    def __init__(self, kernel_size: int = 2, strides: int = 1, epsilon: float = 5e-4,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if int(kernel_size) != kernel_size or kernel_size < 1:
            raise ValueError(f"PatchWhitening kernel_size must be a positive integer, got "
                             f"{kernel_size!r}.")
        if int(strides) != strides or strides < 1:
            raise ValueError(f"PatchWhitening strides must be a positive integer, got {strides!r}.")
        self.kernel_size, self.strides, self.epsilon = int(kernel_size), int(strides), float(epsilon)
        self.trainable = False

    def build(self, input_shape: tuple) -> None:
        """Zero filters until :meth:`adapt`; ``adapted`` is saved as 0 or 1."""
        k, channels = self.kernel_size, int(input_shape[-1])
        self.kernel = self.add_weight(shape=(k, k, channels, 2 * k * k * channels),
                                      initializer="zeros", trainable=False, name="kernel")
        self.bias = self.add_weight(shape=(2 * k * k * channels,), initializer="zeros",
                                    trainable=False, name="bias")
        self.adapted = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                       name="adapted")

    @property
    def is_adapted(self) -> bool:
        """Whether :meth:`adapt` has set the filters."""
        return self.built and float(ops.convert_to_numpy(self.adapted.value)) > 0

    def adapt(self, inputs: np.ndarray, max_patches: int = 200_000, seed: int = 0) -> None:
        """Set the filters from ``inputs`` (N, H, W, C), as this layer will receive them."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.ndim != 4:
            raise ValueError(f"PatchWhitening.adapt needs images of shape (N, H, W, C), got "
                             f"{inputs.shape}.")
        if not self.built:
            self.build(inputs.shape)
        k = self.kernel_size
        windows = np.lib.stride_tricks.sliding_window_view(inputs, (k, k), axis=(1, 2))
        windows = windows[:, ::self.strides, ::self.strides]
        patches = np.moveaxis(windows, 3, -1).reshape(-1, k * k * inputs.shape[-1])  # (kh, kw, c)
        if len(patches) > max_patches:
            patches = patches[np.random.default_rng(seed).choice(len(patches), max_patches,
                                                                 replace=False)]
        weights, bias = whitening_filters(patches, self.epsilon)
        self.kernel.assign(weights.reshape(self.kernel.shape))
        self.bias.assign(bias)
        self.adapted.assign(1.0)

    def call(self, inputs: Any) -> Any:
        x = ops.conv(ops.cast(inputs, self.compute_dtype), self.kernel, strides=self.strides,
                     padding="same")
        return x + self.bias

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Sides divided by ``strides`` (rounded up), ``2 * kernel_size**2 * channels`` channels."""
        sides = [None if d is None else -(-d // self.strides) for d in input_shape[1:3]]
        return (input_shape[0], *sides, 2 * self.kernel_size ** 2 * input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for saving and cloning."""
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "epsilon": self.epsilon}
