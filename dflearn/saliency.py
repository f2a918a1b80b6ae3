"""Saliency maps for the course's Keras classifiers, and the measurements notebook 07 makes.

Lesson module of 07; imports only the core (:mod:`dflearn.data`, :mod:`dflearn.images`,
:mod:`dflearn.metrics`, :mod:`dflearn.study`).

One way to get a map: an :class:`Explainer` of a trained model (:func:`explainer` reuses one
per model) has one method per saliency method, and :meth:`Explainer.saliency` calls any of
them by name (one of :data:`METHODS`). Each returns one non-negative map per image, shape
``(N, H, W)`` at the model's input resolution:

* :meth:`Explainer.gradients` (Simonyan et al. 2014): the largest ``|d score / d pixel|`` over
  the three colour channels;
* :meth:`Explainer.smoothgrad` (Smilkov et al. 2017): vanilla gradients averaged over noisy
  copies;
* :meth:`Explainer.grad_cam` (Selvaraju et al. 2017): the last convolution's feature maps
  weighted by their average gradient, found by itself, also inside a nested backbone sub-model;
* :meth:`Explainer.integrated_gradients` (Sundararajan et al. 2017): gradients averaged along
  the straight path from a black image, times the pixel difference.

The *score* is the log-odds of the explained class, ``log P(class) - log P(other class)``,
read before the output activation when the model ends in a softmax or sigmoid ``Dense``
layer, so it does not saturate for confident predictions and means the same for 1-unit
sigmoid and 2-unit softmax heads. By default each image is explained for the class the
model predicts.

Beyond the maps: :func:`pick_examples` and :func:`plot_examples` draw the study's Figures
13-16 (true/false REAL/FAKE examples, image beside overlay); :func:`central_mass_table`
measures how much saliency falls in the image centre, and :func:`centre_verdicts` /
:func:`focus_order_verdict` turn it into verdicts on the study's claims (``07/findings``);
:func:`sanity_check` repeats Adebayo et al.'s (2018) model-randomisation test.
:func:`method_disagreement` measures how far Grad-CAM and integrated gradients disagree on each
image, and :func:`disagreement_task` scores 07 §7's open-ended task with it.
"""

from __future__ import annotations

import collections
import functools
from typing import Callable, Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers
from scipy import stats

from dflearn import study
from dflearn.data import CLASS_NAMES, FAKE, REAL
from dflearn.images import fit_to_model
from dflearn.metrics import confidence

METHODS: tuple[str, ...] = ("gradients", "smoothgrad", "grad_cam", "integrated_gradients")
METHOD_TITLES: Mapping[str, str] = {"gradients": "gradients", "smoothgrad": "SmoothGrad",
                                    "grad_cam": "Grad-CAM",
                                    "integrated_gradients": "integrated gradients"}
# What each method's raw map measures (the score is the explained class's log-odds).
METHOD_UNITS: Mapping[str, str] = {
    "gradients": "|d log-odds / d pixel| (per 0-255 step)",
    "smoothgrad": "mean |d log-odds / d pixel| (per 0-255 step)",
    "grad_cam": "Grad-CAM activation (log-odds per feature)",
    "integrated_gradients": "|attribution| (log-odds)"}
CONV_LAYERS = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)
# The study's four example categories: "false REAL" is a FAKE image the model called REAL.
CATEGORIES: tuple[str, ...] = ("true REAL", "true FAKE", "false REAL", "false FAKE")
PIXEL_RANGE = 255.0
#: The study's saliency figures, by number, with their titles exactly as printed (07 §3).
STUDY_FIGURES: Mapping[int, str] = {
    13: "ResNet50 Multiple Saliency Map Overlays and Image",
    14: "4 Convolution [512, 512, 2] For Multiple Saliency Map Overlays and Images",
    15: "Personal CNN Architecture on CIFAKE Dataset For Multiple Saliency Map Overlays and Images",
    16: "Personal CNN on Manjil Karki Dataset For Multiple Saliency Map Overlays and Images",
}
#: The study's saliency claims (Error Analysis), quoted exactly (07 §4, ``07/findings``).
CLAIM_CENTRE = ("The personal CNN, which exhibits a higher accuracy on the CIFAKE dataset compared "
                "to the ResNet50 and 4 Convolution [512, 512, 2] models, focuses on the central "
                "part of the image")
CLAIM_WIDER = ("the ResNet50 and 4 Convolution [512, 512, 2] models, while also sometimes "
               "focusing on the center of the image, typically have a wider area that the model "
               "considers in its predictions")

Target = int | np.ndarray | Sequence[int] | None


class SaliencyError(ValueError):
    """A model or input that a saliency method cannot work with (raised throughout 07)."""


# --------------------------------------------------------------------------- model plumbing


def _is_model(layer: keras.Layer) -> bool:
    return isinstance(layer, keras.Model)


def find_last_conv(model: keras.Model) -> tuple[str, ...]:
    """The path of layer names to ``model``'s last 2-D convolution, looking inside nested
    sub-models: ``("b3_conv2",)``, or ``("mobilenetv2_0.35_32", "Conv_1")`` for a backbone.
    Used by :class:`Explainer` (07 §1, the Grad-CAM layer column)."""
    for layer in reversed(model.layers):
        if _is_model(layer):
            try:
                return (layer.name, *find_last_conv(layer))
            except SaliencyError:
                continue
        if isinstance(layer, CONV_LAYERS):
            return (layer.name,)
    raise SaliencyError(f"Model {model.name!r} has no Conv2D, DepthwiseConv2D or SeparableConv2D "
                        "layer, so Grad-CAM has no feature maps to weight.")


def _layer_path(model: keras.Model, layer: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise ``layer`` ("name", "outer/inner" or a sequence) and check every step exists."""
    if layer is None:
        return find_last_conv(model)
    path = tuple(layer.split("/")) if isinstance(layer, str) else tuple(layer)
    current = model
    for i, name in enumerate(path):
        if not _is_model(current):
            raise SaliencyError(f"{'/'.join(path[:i])!r} is not a model, so it has no layer "
                                f"{name!r}.")
        names = [item.name for item in current.layers]
        if name not in names:
            raise SaliencyError(f"No layer {name!r} in {current.name!r}; its layers are {names}.")
        current = current.get_layer(name)
    return path


def _rebuild(model: keras.Model, call: Callable[..., keras.KerasTensor]) -> keras.Model:
    """The same model, sharing its layers and weights, with every layer call made by ``call``."""
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(shape=model.input_shape[1:], name="image")
        x = inputs
        for layer in model.layers:
            x = call(layer, x)
        return keras.Model(inputs, x)
    try:
        return keras.models.clone_model(model, clone_function=lambda layer: layer,
                                        call_function=call)
    except (ValueError, TypeError) as exc:
        raise SaliencyError(f"Cannot trace model {model.name!r} ({type(model).__name__}); saliency "
                            "needs a Functional or Sequential Keras model.") from exc


def _tapped(model: keras.Model, path: tuple[str, ...], head: keras.Layer | None = None
            ) -> keras.Model:
    """``model`` with outputs ``[feature map at path, head input (or the output), output]``.

    The head input is the tensor fed to ``head`` (the final ``Dense`` layer), from which the
    logits are computed; with ``head=None`` the output itself is returned in that place.
    """
    taps: dict[str, keras.KerasTensor] = {}
    target = model.get_layer(path[0]) if path else None
    inner = _tapped(target, path[1:]) if len(path) > 1 else None

    def call(layer: keras.Layer, *args, **kwargs) -> keras.KerasTensor:
        if layer is head:
            taps["head"] = args[0]
        if layer is target and inner is not None:
            feature, _, out = inner(*args, **kwargs)
            taps["feature"] = feature
            return out
        out = layer(*args, **kwargs)
        if layer is target:
            taps["feature"] = out
        return out

    rebuilt = _rebuild(model, call)
    output = rebuilt.outputs[0]
    return keras.Model(rebuilt.inputs[0], [taps.get("feature", output), taps.get("head", output),
                                           output], name=f"{model.name}_saliency_probe")


def _linear_head(model: keras.Model) -> keras.Layer | None:
    """The final ``Dense`` layer when it ends in a softmax or sigmoid (so logits are
    recoverable from its input), else ``None``."""
    head = model.layers[-1]
    if isinstance(head, layers.Dense) and head.activation in (keras.activations.softmax,
                                                               keras.activations.sigmoid):
        return head
    return None


def _as_targets(target: Target, n: int) -> np.ndarray:
    """Per-image class indices (0 = FAKE, 1 = REAL) from an int, a sequence or an array."""
    targets = np.asarray(target)
    if targets.ndim == 0:
        targets = np.broadcast_to(targets, (n,))
    if targets.shape != (n,):
        raise SaliencyError(f"target must be one class or one per image ({n}), got shape "
                            f"{targets.shape}.")
    if not np.isin(targets, (FAKE, REAL)).all():
        raise SaliencyError(f"target classes must be {FAKE} (FAKE) or {REAL} (REAL), got "
                            f"{sorted(set(np.unique(targets).tolist()) - {FAKE, REAL})}.")
    return targets.astype("int32")


class Explainer:
    """A trained model prepared for saliency maps: the one way to compute them.

    Builds once a probe graph (sharing the model's weights) that returns the feature maps of
    the Grad-CAM layer and the class log-odds, and computes every method from it: one method
    per saliency method, or :meth:`saliency` to pick one by name. Used in 07 §1-§6.

    Args:
        model: a Functional or Sequential Keras classifier of 0-255 RGB images with a 1-unit
            sigmoid or 2-unit softmax output, possibly with nested sub-models.
        layer: the Grad-CAM layer as a name, an ``"outer/inner"`` path, or ``None`` for the
            last convolution (searched inside sub-models too).
        eager: run the gradient computations eagerly instead of compiling them with
            ``tf.function``: slower per batch but no tracing, faster for a few small batches.
    """

    def __init__(self, model: keras.Model, layer: str | Sequence[str] | None = None,
                 eager: bool = False):
        if not isinstance(model, keras.Model):
            raise SaliencyError(f"Expected a Keras model, got {type(model).__name__}.")
        shape = model.input_shape
        if not isinstance(shape, tuple) or len(shape) != 4 or shape[-1] != 3:
            raise SaliencyError(f"Model {model.name!r} must take one (H, W, 3) image input, "
                                f"not {shape}.")
        if model.output_shape[-1] not in (1, 2):
            raise SaliencyError(f"Model {model.name!r} has {model.output_shape[-1]} outputs; "
                                "expected a 1-unit sigmoid or 2-unit softmax head.")
        self.model = model
        self.input_size = shape[1:3]
        try:
            self.layer_path: tuple[str, ...] | None = _layer_path(model, layer)
        except SaliencyError:
            if layer is not None:
                raise
            self.layer_path = None  # no convolution: every method but Grad-CAM still works
        self.head = _linear_head(model)
        self.probe = _tapped(model, self.layer_path or (), self.head)
        self.eager = eager
        self._gradient_fn = self._compile(self._gradient_step)
        self._cam_fn = self._compile(self._cam_step)

    def _compile(self, step: Callable) -> Callable:
        """``step(images, sign)`` as a ``tf.function`` traced once for any batch size (or
        unchanged when ``eager``)."""
        if self.eager:
            return step
        height, width = (None if d is None else int(d) for d in self.input_size)
        signature = [tf.TensorSpec((None, height, width, 3), tf.float32),
                     tf.TensorSpec((None,), tf.float32)]
        # TensorFlow counts traces per code object and warns about "retracing" when many
        # explainers trace the same method once each; a partial gives each its own key.
        return tf.function(functools.partial(step), input_signature=signature)

    @property
    def layer_name(self) -> str:
        """The Grad-CAM layer as ``"outer/inner"`` text (``"none"`` without convolutions).
        Used in 07 §1."""
        return "/".join(self.layer_path) if self.layer_path else "none"

    # ------------------------------------------------------------------ inputs and scores

    def prepare(self, images: np.ndarray) -> tf.Tensor:
        """Images as float32 at the model's input size (:func:`dflearn.images.fit_to_model`).
        Used in 07 §6 (the explorer draws the resized image)."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise SaliencyError(f"Expected images of shape (N, H, W, 3), got {images.shape}.")
        if len(images) == 0:
            raise SaliencyError("No images to explain.")
        return tf.convert_to_tensor(fit_to_model(self.model, images), dtype=tf.float32)

    def _log_odds_real(self, head_input: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
        """log P(REAL) - log P(FAKE) per image, from the logits when the head allows it."""
        if self.head is not None:
            logits = tf.matmul(head_input, tf.cast(self.head.kernel, head_input.dtype))
            if self.head.use_bias:
                logits = logits + tf.cast(self.head.bias, logits.dtype)
            return logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]
        p_real = output[:, 0] if output.shape[-1] == 1 else output[:, 1]
        p_real = tf.clip_by_value(tf.cast(p_real, tf.float32), 1e-7, 1 - 1e-7)
        return tf.math.log(p_real) - tf.math.log1p(-p_real)

    def _forward(self, x: tf.Tensor, sign: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Feature maps, the explained class's log-odds (N,) and the outputs for a batch;
        ``sign`` is +1 to explain REAL and -1 to explain FAKE, per image."""
        feature, head_input, output = self.probe(x, training=False)
        return feature, sign * tf.cast(self._log_odds_real(head_input, output), tf.float32), output

    def _gradient_step(self, x: tf.Tensor, sign: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            _, score, _ = self._forward(x, sign)
        return tape.gradient(score, x)

    def _cam_step(self, x: tf.Tensor, sign: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            feature, score, _ = self._forward(x, sign)
        weights = tf.reduce_mean(tape.gradient(score, feature), axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * feature, axis=-1, keepdims=True))
        return tf.image.resize(cam, tf.shape(x)[1:3], method="bilinear")[..., 0]

    def _run(self, step: Callable, x: tf.Tensor | np.ndarray, targets: np.ndarray,
             batch_size: int) -> np.ndarray:
        """Apply a compiled step to ``x`` in batches of ``batch_size`` rows."""
        if batch_size < 1:
            raise SaliencyError(f"batch_size must be at least 1, got {batch_size}.")
        sign = (2.0 * targets - 1.0).astype("float32")
        return np.concatenate([step(tf.convert_to_tensor(x[i:i + batch_size], tf.float32),
                                    tf.constant(sign[i:i + batch_size])).numpy()
                               for i in range(0, len(sign), batch_size)])

    def scores(self, images: np.ndarray, target: Target = None) -> np.ndarray:
        """The explained class's log-odds per image. Used in 07 §2 (completeness check)."""
        x = self.prepare(images)
        sign = tf.constant(2.0 * self.targets(x, target) - 1.0, dtype=tf.float32)
        return self._forward(x, sign)[1].numpy()

    def predict_real(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """P(REAL) per image (whatever the head), after resizing to the model's input.
        Used in 07 §1 (the models' table)."""
        x = self.prepare(images)
        out = np.concatenate([self.probe(x[i:i + batch_size], training=False)[2].numpy()
                              for i in range(0, len(x), batch_size)])
        return out[:, 0] if out.shape[-1] == 1 else out[:, 1]

    def targets(self, images: np.ndarray | tf.Tensor, target: Target = None) -> np.ndarray:
        """``target`` per image; ``None`` means the class the model predicts. Used in 07 §2."""
        if target is None:
            return (self.predict_real(images) >= 0.5).astype("int32")
        return _as_targets(target, len(images))

    def input_gradients(self, images: np.ndarray, target: Target = None,
                        batch_size: int = 64) -> np.ndarray:
        """``d log-odds / d pixel`` per pixel and channel, shape (N, H, W, 3): the raw
        gradients behind :meth:`gradients` (07 §2)."""
        x = self.prepare(images)
        return self._run(self._gradient_fn, x, self.targets(x, target), batch_size)

    # ------------------------------------------------------------------ the four methods

    def gradients(self, images: np.ndarray, target: Target = None,
                  batch_size: int = 64) -> np.ndarray:
        """Vanilla gradients: max over colour channels of ``|d score / d pixel|``. Used in 07 §2
        and §4 (Exercise 1's check)."""
        return np.abs(self.input_gradients(images, target, batch_size)).max(-1)

    def smoothgrad(self, images: np.ndarray, target: Target = None, samples: int = 16,
                   noise: float = 0.15, seed: int = 0, batch_size: int = 64) -> np.ndarray:
        """SmoothGrad: vanilla gradient maps averaged over ``samples`` copies of each image
        with Gaussian noise of standard deviation ``noise`` x 255 added. Used in 07 §2."""
        if samples < 1 or noise < 0:
            raise SaliencyError(f"SmoothGrad needs samples >= 1 and noise >= 0, got {samples}, "
                                f"{noise}.")
        x = self.prepare(images).numpy()
        targets = self.targets(x, target)
        rng = np.random.default_rng(seed)
        chunk = max(1, batch_size // samples)
        maps = []
        for i in range(0, len(x), chunk):
            xb = np.repeat(x[i:i + chunk], samples, axis=0)
            xb += rng.normal(0, noise * PIXEL_RANGE, xb.shape).astype("float32")
            grads = self._run(self._gradient_fn, xb, np.repeat(targets[i:i + chunk], samples),
                              batch_size)
            maps.append(np.abs(grads).max(-1).reshape(-1, samples, *x.shape[1:3]).mean(axis=1))
        return np.concatenate(maps)

    def attributions(self, images: np.ndarray, target: Target = None, steps: int = 32,
                     baseline: float | np.ndarray = 0.0, batch_size: int = 64) -> np.ndarray:
        """Integrated-gradients attributions per pixel and channel, shape (N, H, W, 3).

        Gradients are averaged (trapezoidal rule, ``steps`` intervals) along the straight line
        from ``baseline`` (default: a black image) to the image, then multiplied by
        ``image - baseline``. They add up to ``score(image) - score(baseline)``. Used in 07 §2
        (the completeness check).
        """
        if steps < 1:
            raise SaliencyError(f"Integrated gradients needs steps >= 1, got {steps}.")
        x = self.prepare(images).numpy()
        targets = self.targets(x, target)
        try:
            base = np.broadcast_to(np.asarray(baseline, dtype="float32"), x.shape)
        except ValueError:
            raise SaliencyError(f"baseline of shape {np.shape(baseline)} does not fit images of "
                                f"shape {x.shape}.") from None
        alphas = np.linspace(0.0, 1.0, steps + 1, dtype="float32").reshape(1, -1, 1, 1, 1)
        weights = np.full(steps + 1, 1.0 / steps, dtype="float32")
        weights[[0, -1]] /= 2
        chunk = max(1, batch_size // (steps + 1))
        parts = []
        for i in range(0, len(x), chunk):
            delta = x[i:i + chunk] - base[i:i + chunk]
            path = (base[i:i + chunk, None] + alphas * delta[:, None]).reshape(-1, *x.shape[1:])
            grads = self._run(self._gradient_fn, path, np.repeat(targets[i:i + chunk], steps + 1),
                              batch_size).reshape(len(delta), steps + 1, *x.shape[1:])
            parts.append(np.tensordot(weights, grads, axes=(0, 1)) * delta)
        return np.concatenate(parts)

    def integrated_gradients(self, images: np.ndarray, target: Target = None, steps: int = 32,
                             baseline: float | np.ndarray = 0.0,
                             batch_size: int = 64) -> np.ndarray:
        """Integrated gradients as a map: ``|sum over channels of the attributions|``. Used in
        07 §2."""
        return np.abs(self.attributions(images, target, steps, baseline, batch_size).sum(-1))

    def grad_cam(self, images: np.ndarray, target: Target = None,
                 batch_size: int = 64) -> np.ndarray:
        """Grad-CAM: ReLU of the layer's feature maps weighted by their mean gradient,
        resized (bilinear) to the input size. A 1x1 feature map gives a flat map. Used in 07 §2
        (Grad-CAM)."""
        if self.layer_path is None:
            raise SaliencyError(f"Model {self.model.name!r} has no convolution for Grad-CAM.")
        x = self.prepare(images)
        return self._run(self._cam_fn, x, self.targets(x, target), batch_size)

    def saliency(self, method: str, images: np.ndarray, target: Target = None,
                 **options) -> np.ndarray:
        """Any method by name (one of :data:`METHODS`), with its options. Used in 07 §3-§6."""
        if method not in METHODS:
            raise SaliencyError(f"Unknown saliency method {method!r}: use one of {METHODS}.")
        return getattr(self, method)(images, target, **options)


_EXPLAINERS: "collections.OrderedDict[tuple[int, str | None, bool], Explainer]" = \
    collections.OrderedDict()
CACHE_SIZE = 16


def explainer(model: keras.Model | Explainer, layer: str | Sequence[str] | None = None,
              eager: bool = False) -> Explainer:
    """An :class:`Explainer` for ``model``, reused for the last :data:`CACHE_SIZE` models.
    Used in 07 §1."""
    if isinstance(model, Explainer):
        return model
    key = (id(model), layer if layer is None or isinstance(layer, str) else "/".join(layer), eager)
    cached = _EXPLAINERS.get(key)
    if cached is None or cached.model is not model:
        cached = _EXPLAINERS[key] = Explainer(model, layer, eager)
        while len(_EXPLAINERS) > CACHE_SIZE:
            _EXPLAINERS.popitem(last=False)
    _EXPLAINERS.move_to_end(key)
    return cached


# --------------------------------------------------------------------------- map arithmetic


def normalise(maps: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale each map to [0, 1] by its ``percentile`` (clipping above); flat maps become 0.
    Used by :func:`overlay` (07 §3)."""
    maps = np.asarray(maps, dtype="float32")
    top = np.percentile(maps.reshape(len(maps), -1), percentile, axis=1).reshape(-1, 1, 1)
    return np.clip(np.divide(maps, top, out=np.zeros_like(maps), where=top > 0), 0.0, 1.0)


def central_box(height: int, width: int, size: float = 0.5) -> tuple[slice, slice]:
    """Row and column slices of the centred box covering ``size`` of each side (07 §4)."""
    if not 0 < size <= 1:
        raise SaliencyError(f"size is the central box's fraction of each side, in (0, 1]; "
                            f"got {size}.")
    rows, cols = max(1, round(height * size)), max(1, round(width * size))
    top, left = (height - rows) // 2, (width - cols) // 2
    return slice(top, top + rows), slice(left, left + cols)


def central_area(height: int, width: int, size: float = 0.5) -> float:
    """The central box's share of the image area: what a uniform map puts in the centre.
    Used in 07 §4 (the uniform baseline)."""
    rows, cols = central_box(height, width, size)
    return (rows.stop - rows.start) * (cols.stop - cols.start) / (height * width)


def central_fraction(maps: np.ndarray, size: float = 0.5) -> np.ndarray:
    """Per map, the share of saliency mass inside the central box (NaN for an all-zero map).
    Used in 07 §4 (Exercise 1's reference)."""
    maps = np.asarray(maps, dtype="float64")
    if maps.ndim != 3:
        raise SaliencyError(f"Expected maps of shape (N, H, W), got {maps.shape}.")
    if (maps < 0).any():
        raise SaliencyError("Saliency mass needs non-negative maps (take absolute values first).")
    rows, cols = central_box(maps.shape[1], maps.shape[2], size)
    total = maps.sum(axis=(1, 2))
    inside = maps[:, rows, cols].sum(axis=(1, 2))
    return np.divide(inside, total, out=np.full_like(total, np.nan), where=total > 0)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between paired maps, one value per image (NaN if flat).
    Used in 07 §5 (Exercise 2's reference)."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    if a.shape != b.shape:
        raise SaliencyError(f"Maps to compare differ in shape: {a.shape} vs {b.shape}.")
    ra = stats.rankdata(a.reshape(len(a), -1), axis=1)
    rb = stats.rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.divide((ra * rb).sum(axis=1), denom, out=np.full(len(a), np.nan), where=denom > 0)


def _mean_sem(values: np.ndarray) -> tuple[float, float, int]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), 0
    sem = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(values.mean()), sem, len(values)


# --------------------------------------------------------------------------- the study's figures


def categories(labels: np.ndarray, p_real: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Each image's category: ``"true REAL"``, ``"true FAKE"``, ``"false REAL"`` (a FAKE
    called REAL) or ``"false FAKE"`` (a REAL called FAKE). Used in 07 §1 and §3."""
    labels = np.asarray(labels).astype(int)
    predicted = (np.asarray(p_real) >= threshold).astype(int)
    if labels.shape != predicted.shape:
        raise SaliencyError(f"{len(labels)} labels but {len(predicted)} predictions.")
    truth = np.where(labels == predicted, "true", "false")
    names = np.asarray(CLASS_NAMES)[predicted]
    return np.char.add(np.char.add(truth, " "), names).astype(object)


def pick_examples(labels: np.ndarray, p_real: np.ndarray, per_category: int = 1,
                  min_confidence: float = 0.5) -> dict[str, np.ndarray]:
    """The most confident images of each category (most confident first), at least
    ``min_confidence``; a category without such images gets an empty array. Used by
    :func:`plot_examples` (07 §3)."""
    found = categories(labels, p_real)
    conf = confidence(p_real)
    picked = {}
    for name in CATEGORIES:
        index = np.flatnonzero((found == name) & (conf >= min_confidence))
        picked[name] = index[np.argsort(-conf[index], kind="stable")][:per_category]
    return picked


def example_table(labels: np.ndarray, p_real: np.ndarray, per_category: int = 1,
                  min_confidence: float = 0.5) -> pd.DataFrame:
    """What :func:`pick_examples` picked, one row per category: how many test images fall in it,
    the picked image(s) and the model's confidence in its answer, and a note that says when a
    category is empty (the study shows one example of each, at confidence "close to or equal to
    1.000"). Used in 07 §3."""
    found = categories(labels, p_real)
    conf = confidence(p_real)
    picked = pick_examples(labels, p_real, per_category, min_confidence)
    rows = {}
    for name in CATEGORIES:
        index = picked[name]
        rows[name] = {"images": int(np.sum(found == name)),
                      "picked": ", ".join(str(int(i)) for i in index) or "-",
                      "confidence": float(conf[index[0]]) if len(index) else float("nan"),
                      "note": "most confident of its category" if len(index) else
                              "none on this test set: no example to show"}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "category"
    return frame


def overlay(ax: plt.Axes, image: np.ndarray, saliency: np.ndarray, alpha: float = 0.55,
            cmap: str = "jet") -> None:
    """Draw ``image`` with its normalised saliency map on top. Used in 07 §3, §5 and §6."""
    ax.imshow(np.clip(np.asarray(image), 0, 255).astype("uint8"), interpolation="nearest")
    ax.imshow(normalise(saliency[None])[0], cmap=cmap, alpha=alpha, vmin=0, vmax=1,
              interpolation="nearest")


def _blank(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_examples(model: keras.Model | Explainer, images: np.ndarray, labels: np.ndarray,
                  methods: Sequence[str] = METHODS, p_real: np.ndarray | None = None,
                  per_category: int = 1, min_confidence: float = 0.5, title: str = "",
                  options: Mapping[str, Mapping] | None = None) -> plt.Figure:
    """The study's Figures 13-16 for one model: a row per category (true/false REAL/FAKE,
    most confident first), the image with its confidence, then one overlay per method.

    Each image is explained for the class the model predicted. A category without examples
    gets a row saying so. ``options`` maps a method to its keyword arguments. Used in 07 §3.
    """
    ex = explainer(model)
    x = ex.prepare(images).numpy()
    p_real = ex.predict_real(x) if p_real is None else np.asarray(p_real, dtype=float)
    picked = pick_examples(labels, p_real, per_category, min_confidence)
    rows = [(name, int(i)) for name in CATEGORIES for i in picked[name]] + \
           [(name, None) for name in CATEGORIES if len(picked[name]) == 0]
    rows.sort(key=lambda row: CATEGORIES.index(row[0]))
    chosen = [i for _, i in rows if i is not None]
    targets = (p_real[chosen] >= 0.5).astype("int32")
    maps = {m: ex.saliency(m, x[chosen], targets, **dict((options or {}).get(m, {})))
            for m in methods} if chosen else {}
    fig, axes = plt.subplots(len(rows), 1 + len(methods), squeeze=False,
                             figsize=(1.7 * (1 + len(methods)) + 0.6, 1.75 * len(rows) + 0.6))
    k = 0
    for r, (name, index) in enumerate(rows):
        row = axes[r]
        if index is None:
            for ax in row:
                _blank(ax, "")
            _blank(row[0], f"no {name}\nexample")
            row[0].set_ylabel(name, fontsize=8)
            continue
        row[0].imshow(x[index].astype("uint8"), interpolation="nearest")
        row[0].set_xticks([])
        row[0].set_yticks([])
        row[0].set_ylabel(name, fontsize=8)
        row[0].set_xlabel(f"P({name.split()[1]}) = {confidence(p_real[index]):.3f}", fontsize=8)
        for c, method in enumerate(methods, start=1):
            overlay(row[c], x[index], maps[method][k])
            row[c].set_xticks([])
            row[c].set_yticks([])
        k += 1
    for c, method in enumerate(methods, start=1):
        axes[0, c].set_title(METHOD_TITLES.get(method, method), fontsize=9)
    axes[0, 0].set_title("image", fontsize=9)
    size = f"{x.shape[2]}x{x.shape[1]} px"
    fig.suptitle(f"{title} ({size}; overlays: saliency scaled 0-1 per image, red = high)"
                 if title else f"Saliency ({size})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_comparison(models: Mapping[str, keras.Model | Explainer], image: np.ndarray,
                    methods: Sequence[str] = METHODS, target: int | None = None,
                    options: Mapping[str, Mapping] | None = None, title: str = "") -> plt.Figure:
    """One image explained by several models (a row each, e.g. trained vs randomised weights),
    one column per method, each map scaled 0-1 on its own. ``target`` defaults to the first
    model's predicted class, so every row explains the same class. Used in 07 §5."""
    explainers = {name: explainer(m) for name, m in models.items()}
    if not explainers:
        raise SaliencyError("plot_comparison needs at least one model.")
    first = next(iter(explainers.values()))
    x = first.prepare(np.asarray(image)[None] if np.ndim(image) == 3 else image)[:1].numpy()
    target = int(first.targets(x)[0]) if target is None else target
    fig, axes = plt.subplots(len(explainers), len(methods), squeeze=False,
                             figsize=(1.9 * len(methods) + 0.4, 1.9 * len(explainers) + 0.6))
    for r, (name, ex) in enumerate(explainers.items()):
        for c, method in enumerate(methods):
            saliency = ex.saliency(method, x, target, **dict((options or {}).get(method, {})))[0]
            overlay(axes[r, c], x[0], saliency)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(METHOD_TITLES.get(method, method), fontsize=9)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(f"{title or 'Saliency compared'}: explaining {CLASS_NAMES[target]} "
                 f"({x.shape[2]}x{x.shape[1]} px, maps scaled 0-1)", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- measurements


def central_mass_table(cases: Mapping[str, tuple[keras.Model | Explainer, np.ndarray]],
                       methods: Sequence[str] = METHODS, size: float = 0.5,
                       options: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Mean share of saliency mass in the central box, per model and method.

    ``cases`` maps a model name to ``(model, images)``; each model is explained on its own
    images, for its predicted class. Columns: ``mean``, ``sem`` (standard error), ``n`` (maps
    with some mass), ``uniform`` (the box's area share) and ``ratio`` (mean / uniform).
    Used in 07 §4.
    """
    rows = []
    for name, (model, images) in cases.items():
        ex = explainer(model)
        x = ex.prepare(images).numpy()
        targets = ex.targets(x)
        for method in methods:
            maps = ex.saliency(method, x, targets, **dict((options or {}).get(method, {})))
            mean, sem, n = _mean_sem(central_fraction(maps, size))
            uniform = central_area(maps.shape[1], maps.shape[2], size)
            rows.append({"model": name, "method": method, "mean": mean, "sem": sem, "n": n,
                         "uniform": uniform, "ratio": mean / uniform})
    return pd.DataFrame(rows).set_index(["model", "method"])


def plot_central_mass(table: pd.DataFrame, title: str = "Saliency mass in the image centre"
                      ) -> plt.Figure:
    """Grouped bars of :func:`central_mass_table` (95% intervals) with the uniform baseline.
    Used in 07 §4."""
    models = list(dict.fromkeys(table.index.get_level_values("model")))
    methods = list(dict.fromkeys(table.index.get_level_values("method")))
    shares = table["mean"].unstack("method").reindex(index=models, columns=methods)
    errors = 1.96 * table["sem"].unstack("method").reindex(index=models, columns=methods).fillna(0)
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(1.6 + 1.9 * len(models), 3.6))
    positions = np.arange(len(models))
    for j, method in enumerate(methods):
        ax.bar(positions + (j - (len(methods) - 1) / 2) * width, 100 * shares[method], width,
               yerr=100 * errors[method], capsize=2, label=METHOD_TITLES.get(method, method))
    for k, uniform in enumerate(table["uniform"].groupby(level="model", sort=False).first()
                                .reindex(models)):
        ax.hlines(100 * uniform, k - 0.45, k + 0.45, colors="black", linestyles="--",
                  label="uniform map (area share)" if k == 0 else None)
    ax.set_xticks(positions, models, fontsize=8)
    ax.set_xlabel("model")
    ax.set_ylabel("saliency mass in central box (%)")
    ax.set_title(title)
    ax.set_ylim(0, 1.3 * float(np.nanmax((100 * (shares + errors)).to_numpy(), initial=0) or 100))
    ax.legend(fontsize=7, ncols=len(methods) + 1, loc="upper center")
    fig.tight_layout()
    return fig


def randomised_copy(model: keras.Model, top: int | None = None) -> keras.Model:
    """A copy of ``model`` with freshly initialised weights (seeded by the global Keras seed).

    ``top=None`` randomises every layer; ``top=k`` only the last ``k`` weight-bearing top-level
    layers (a nested backbone counts as one), keeping the trained weights below: one step of
    Adebayo et al.'s cascading randomisation. Used by :func:`randomised` (07 §4 and §5).
    """
    fresh = keras.models.clone_model(model)
    weighted = [layer for layer in model.layers if layer.weights]
    if top is not None:
        if not 0 <= top <= len(weighted):
            raise SaliencyError(f"top must be between 0 and {len(weighted)} (the model's layers "
                                f"with weights), got {top}.")
        for layer in weighted[:len(weighted) - top]:
            fresh.get_layer(layer.name).set_weights(layer.get_weights())
    return fresh


def weighted_layer_names(model: keras.Model) -> list[str]:
    """Top-level layers with weights, input to output: the ``top`` steps of
    :func:`randomised_copy`'s cascading randomisation (07 §5)."""
    return [layer.name for layer in model.layers if layer.weights]


def _randomised_label(top: int | None) -> str:
    return "all layers" if top is None else f"top {top} layer(s)"


def randomised(model: keras.Model | Explainer, tops: Sequence[int | None] = (None,)
               ) -> dict[str, Explainer]:
    """Explainers of randomised copies of ``model`` (see :func:`randomised_copy`), one per
    entry of ``tops``, labelled ``"all layers"`` or ``"top k layer(s)"``, using the same
    Grad-CAM layer as the trained model. Used in 07 §4 (untrained baseline) and §5."""
    trained = explainer(model)
    return {_randomised_label(top): Explainer(randomised_copy(trained.model, top),
                                              trained.layer_path, trained.eager) for top in tops}


def sanity_check(model: keras.Model | Explainer, images: np.ndarray,
                 methods: Sequence[str] = METHODS,
                 tops: Sequence[int | None] = (None,),
                 options: Mapping[str, Mapping] | None = None,
                 copies: Mapping[str, Explainer] | None = None) -> pd.DataFrame:
    """Adebayo et al.'s model-randomisation test: maps of the trained model against maps of
    copies with re-initialised weights (all, or the top ``k`` layers for each ``k`` in
    ``tops``; or the given ``copies`` from :func:`randomised`), for the same images and the
    trained model's predicted class.

    Returns the mean Spearman rank correlation per method and randomisation (with its
    standard error): a method that explains the *model* should score near 0 once all weights
    are random; a score near 1 means the map mostly reflects the image. Used in 07 §5.
    """
    trained = explainer(model)
    x = trained.prepare(images).numpy()
    targets = trained.targets(x)
    reference = {m: trained.saliency(m, x, targets, **dict((options or {}).get(m, {})))
                 for m in methods}
    rows = []
    for label, random in (copies or randomised(trained, tops)).items():
        for method in methods:
            maps = random.saliency(method, x, targets, **dict((options or {}).get(method, {})))
            mean, sem, n = _mean_sem(rank_correlation(reference[method], maps))
            rows.append({"randomised": label, "method": method, "spearman": mean, "sem": sem,
                         "n": n})
    return pd.DataFrame(rows).set_index(["randomised", "method"])


def centre_findings(table: pd.DataFrame, model: str, untrained: str | None = None,
                    z: float = 1.96) -> pd.DataFrame:
    """Does ``model`` focus on the centre? Per method, from :func:`central_mass_table`: its mean
    central share, the uniform map's (the area share) and, when given, the ``untrained``
    network's (same architecture, random weights), whether the model is above each by more than
    ``z`` standard errors, and a verdict. Used in 07 §4."""
    for name in (model, untrained):
        if name is not None and name not in table.index.get_level_values("model"):
            raise SaliencyError(f"{name!r} is not in the central-mass table.")
    rows = {}
    for method, row in table.loc[model].iterrows():
        out = {"share": row["mean"], "uniform": row["uniform"],
               "above uniform": bool(row["mean"] - z * row["sem"] > row["uniform"])}
        verdict = "centre-focused" if out["above uniform"] else "not centre-focused"
        if untrained is not None:
            base = table.loc[(untrained, method)]
            out["untrained"] = base["mean"]
            out["above untrained"] = bool(row["mean"] - base["mean"]
                                          > z * np.hypot(row["sem"], base["sem"]))
            if out["above uniform"] and not out["above untrained"]:
                verdict = "no more than the untrained network"
        out["verdict"] = verdict
        rows[method] = out
    result = pd.DataFrame.from_dict(rows, orient="index")
    result.index.name = "method"
    return result


def _share_interval(row: pd.Series, z: float) -> tuple[float, float]:
    return float(row["mean"] - z * row["sem"]), float(row["mean"] + z * row["sem"])


def _fmt_iv(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]"


NO_SEED_NUMBER = "none: Figs. 13-16 are read by eye"


def centre_verdicts(table: pd.DataFrame, model: str, untrained: str | None = None,
                    label: str | None = None, claim: str = CLAIM_CENTRE,
                    z: float = 1.96) -> list[study.Verdict]:
    """The study's centre claim for ``model``, one :class:`dflearn.study.Verdict` per method, from
    :func:`central_mass_table` (the columns of ``07/findings``).

    A central share is not an accuracy of ``n`` images, so :func:`dflearn.study.accuracy_interval`
    does not apply; we use the same rule with the share's normal interval (mean +- ``z``
    standard errors over the maps): *holds* when the whole interval is above the uniform map's
    share and, when ``untrained`` is given, above the same network's with random weights (the
    two intervals do not overlap, as :func:`centre_findings` decides); *refuted* when the whole
    interval is below the uniform share; *inconclusive* otherwise, including "above uniform but
    no more than the untrained network" (the architecture alone gives that centre bias).
    Used in 07 §4."""
    decided = centre_findings(table, model, untrained, z)
    label = label or model
    verdicts = []
    for method, row in table.loc[model].iterrows():
        low, high = _share_interval(row, z)
        uniform = float(row["uniform"])
        base = table.loc[(untrained, method)] if untrained is not None else None
        above_uniform = bool(decided.loc[method, "above uniform"])
        above_untrained = True if base is None else bool(decided.loc[method, "above untrained"])
        if above_uniform and above_untrained:
            verdict, why = "holds", "above the uniform map" + (
                " and above the untrained network" if base is not None else "")
        elif high < uniform:
            verdict, why = "refuted", "below the uniform map"
        elif above_uniform:
            verdict, why = "inconclusive", ("above the uniform map but no more than the same "
                                            "network with random weights (the architecture's bias)")
        else:
            verdict, why = "inconclusive", "the interval contains the uniform map's share"
        ours = f"central share {row['mean']:.4f} (n={int(row['n'])} maps); uniform {uniform:.4f}"
        text = (f"{label}, {METHOD_TITLES.get(method, method)}: centre focus {verdict}: "
                f"{why}; share {row['mean']:.4f} {_fmt_iv((low, high))}, uniform {uniform:.4f}")
        if base is not None:
            b_iv = _share_interval(base, z)
            ours += f"; untrained {base['mean']:.4f}"
            text += f", untrained {base['mean']:.4f} {_fmt_iv(b_iv)}"
        verdicts.append(study.Verdict(
            f'"{claim}": {label}, {METHOD_TITLES.get(method, method)}', verdict, text + ".",
            NO_SEED_NUMBER, ours, _fmt_iv((low, high)),
            {"share": float(row["mean"]), "sem": float(row["sem"]), "uniform": uniform,
             "low": low, "high": high}))
    return verdicts


def focus_order_verdict(table: pd.DataFrame, narrow: str, wide: str, method: str = "gradients",
                        claim: str = CLAIM_WIDER, z: float = 1.96) -> study.Verdict:
    """The study's claim that ``wide`` considers a wider area than ``narrow``, read as: ``narrow``
    puts more of its saliency in the central box than ``wide`` (one ``method``). The rule of
    :func:`dflearn.study.judge_order` with the shares' normal intervals (mean +- ``z`` SE):
    holds when ``narrow`` is higher and the intervals do not overlap, refuted when it is lower
    beyond them, inconclusive otherwise. Used in 07 §4."""
    a, b = table.loc[(narrow, method)], table.loc[(wide, method)]
    iv_a, iv_b = _share_interval(a, z), _share_interval(b, z)
    overlap = iv_a[0] <= iv_b[1] and iv_b[0] <= iv_a[1]
    if a["mean"] == b["mean"] or overlap:
        verdict, why = "inconclusive", "the intervals overlap"
    elif a["mean"] > b["mean"]:
        verdict, why = "holds", "our order agrees and the intervals do not overlap"
    else:
        verdict, why = "refuted", "our order is reversed beyond the intervals"
    title = METHOD_TITLES.get(method, method)
    text = (f"{narrow} more central than {wide} ({title}) {verdict}: {why}; "
            f"{narrow} {a['mean']:.4f} {_fmt_iv(iv_a)} (n={int(a['n'])}) vs "
            f"{wide} {b['mean']:.4f} {_fmt_iv(iv_b)} (n={int(b['n'])}).")
    return study.Verdict(
        f'"{claim}": central share of {narrow} > {wide} ({title})', verdict, text,
        NO_SEED_NUMBER, f"{narrow} {a['mean']:.4f} vs {wide} {b['mean']:.4f}",
        f"{_fmt_iv(iv_a)} vs {_fmt_iv(iv_b)}",
        {"share_a": float(a["mean"]), "share_b": float(b["mean"]), "low_a": iv_a[0],
         "high_a": iv_a[1], "low_b": iv_b[0], "high_b": iv_b[1]})


def sanity_verdict(spearman: float, passes: float = 0.3, fails: float = 0.7) -> str:
    """Read a :func:`sanity_check` rank correlation between the trained and the fully randomised
    model's maps: below ``passes`` the maps depend on the weights, above ``fails`` they barely
    do, in between they keep some structure that the learned weights do not explain. Used in
    07 §5."""
    if not np.isfinite(spearman):
        return "undecided: the maps are flat"
    if spearman < passes:
        return "passes: the maps change with the weights"
    if spearman > fails:
        return "FAILS: the maps barely depend on the weights"
    return "partly: the maps keep structure the learned weights do not explain"


# --------------------------------------------------------------------------- the open-ended task

#: The two methods whose disagreement 07 §7's open task looks for: coarse and class-specific
#: against fine and tied to the pixels.
DISAGREEMENT_METHODS: tuple[str, str] = ("grad_cam", "integrated_gradients")
#: The common resolution of :func:`method_disagreement`: the Personal CNN's Grad-CAM layer is
#: 8x8 on 32x32 images, so neither map is compared at a detail the other does not have.
DISAGREEMENT_GRID = 8


def pool_maps(maps: np.ndarray, grid: int = DISAGREEMENT_GRID) -> np.ndarray:
    """Each (H, W) map summed over ``grid`` x ``grid`` equal blocks, shape (N, grid, grid): a
    common, coarse resolution for methods whose maps differ in detail. ``H`` and ``W`` must be
    multiples of ``grid``. Used by :func:`method_disagreement` (07 §7)."""
    maps = np.asarray(maps, dtype="float64")
    if maps.ndim != 3:
        raise SaliencyError(f"Expected maps of shape (N, H, W), got {maps.shape}.")
    n, height, width = maps.shape
    if not isinstance(grid, (int, np.integer)) or grid < 1 or height % grid or width % grid:
        raise SaliencyError(f"grid must be a positive whole divisor of the maps' {height}x{width} "
                            f"pixels, got {grid!r}; try {DISAGREEMENT_GRID} for 32x32 maps.")
    return maps.reshape(n, grid, height // grid, grid, width // grid).sum(axis=(2, 4))


def method_disagreement(model: keras.Model | Explainer, images: np.ndarray,
                        methods: tuple[str, str] = DISAGREEMENT_METHODS,
                        grid: int = DISAGREEMENT_GRID,
                        options: Mapping[str, Mapping] | None = None) -> np.ndarray:
    """How much two saliency methods disagree on each image: ``1 - Spearman`` rank correlation
    of their maps, both pooled to ``grid`` x ``grid`` cells (:func:`pool_maps`), each image
    explained for the class the model predicts. 0: the same ranking of the cells, 1: unrelated,
    2: reversed; NaN where a pooled map is flat (say, an all-zero Grad-CAM), which has no
    ranking to compare. Used in 07 §7 (the open task's reference measure)."""
    if len(methods) != 2 or any(m not in METHODS for m in methods):
        raise SaliencyError(f"methods must be two of {METHODS}, got {methods!r}.")
    ex = explainer(model)
    x = ex.prepare(images).numpy()
    targets = ex.targets(x)
    first, second = (pool_maps(ex.saliency(m, x, targets, **dict((options or {}).get(m, {}))),
                               grid) for m in methods)
    return 1.0 - rank_correlation(first, second)


def _chosen_index(value: object, n: int, name: str) -> int:
    """``value`` as an image index in ``range(n)``, or a :class:`SaliencyError` saying what to
    return instead."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SaliencyError(f"{name} must return one image index (an int), got "
                            f"{type(value).__name__} {value!r}; e.g. return int(np.argmax(scores)).")
    if not 0 <= value < n:
        raise SaliencyError(f"{name} returned index {int(value)}, but there are {n} images: "
                            f"return an index from 0 to {n - 1}.")
    return int(value)


def disagreement_task(find: Callable[[keras.Model, np.ndarray], int],
                      model: keras.Model | Explainer, images: np.ndarray,
                      grid: int = DISAGREEMENT_GRID,
                      options: Mapping[str, Mapping] | None = None) -> dict[str, float]:
    """Score 07 §7's open task: ``find(model, images)`` names the image (an index) on which
    Grad-CAM and integrated gradients disagree most; :func:`method_disagreement` measures every
    image and the result says where the chosen one ranks.

    Returns ``index``, ``disagreement`` (the chosen image's, NaN when one of its maps is flat),
    ``share_beaten`` (the share of the other images with a measurable disagreement that the
    chosen one exceeds, ties counting half; 0 for a flat map), ``median`` and ``largest`` over
    all images, and ``n`` (images with a measurable disagreement). ``find`` gets a copy of the
    images. Used in 07 §7 (the check cell and the grader's hidden test).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) < 2:
        raise SaliencyError(f"The open task needs at least two images of shape (N, H, W, 3), got "
                            f"{images.shape}.")
    name = getattr(find, "__name__", "the function")
    index = _chosen_index(find(model, images.copy()), len(images), name)
    values = method_disagreement(model, images, grid=grid, options=options)
    chosen = float(values[index])
    others = np.delete(values, index)
    others = others[np.isfinite(others)]
    if len(others) == 0:
        raise SaliencyError("No other image has both maps non-flat, so nothing to rank the "
                            "chosen image against; use more images or a trained model.")
    share = (float(np.mean(others < chosen) + 0.5 * np.mean(others == chosen))
             if np.isfinite(chosen) else 0.0)
    return {"index": index, "disagreement": chosen, "share_beaten": share,
            "median": float(np.nanmedian(values)), "largest": float(np.nanmax(values)),
            "n": int(np.isfinite(values).sum())}
