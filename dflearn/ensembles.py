"""Ensembles of trained Keras classifiers, after the ensemble project (notebook 06).

* The project's two base CNNs: :func:`three_cnn` ("ThreeCNN", three conv blocks) and
  :func:`skipcon_cnn` ("SkipConCNN", residual blocks with skip connections).
* Three ways to combine any trained models, whatever their head (1-unit sigmoid or 2-unit
  softmax; P(REAL) comes from :func:`dflearn.models.real_probability`):
  (a) :func:`average` and :func:`majority_vote`;
  (b) :class:`Stacking`, a logistic regression on the models' validation predictions;
  (c) :func:`ensemble_cnn`, the project's EnsembleCNN: frozen base models, a small weighting
  network over their class probabilities, a meta-classifier on the concatenated
  probabilities, and a learned confidence-based blend of the two.
* Tools to judge them: :func:`ensemble_table` (one row per model, reported numbers beside),
  :func:`error_changes` (errors fixed and introduced, with McNemar's test) and
  :func:`compare_variants` (training choices such as label smoothing, over seeds).
* :func:`saved_models` and :func:`pick_saved`: which models other notebooks saved in the
  course's artifacts folder, to load with :func:`dflearn.artifacts.load_or_train`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd
from keras import layers, ops
from scipy import stats
from sklearn.linear_model import LogisticRegression

from dflearn.data import CLASS_NAMES, Dataset
from dflearn.metrics import log_loss, probability_metrics
from dflearn.models import (BN_MOMENTUM, DEFAULT_HEAD, _check_args, accuracy_for,
                            classifier_head, head_of, image_input, real_probability, scaled)
from dflearn.training import FitResult, fit

if TYPE_CHECKING:
    from dflearn.session import Session

# The ensemble project's reported accuracy of its EnsembleCNN on CIFAKE.
REPORTED: Mapping[str, float] = {"EnsembleCNN": 0.934}
THREE_FILTERS: tuple[int, ...] = (32, 64, 128)
SKIPCON_FILTERS: tuple[int, ...] = (32, 64, 128)
EPS = 1e-6


class EnsembleError(ValueError):
    """Models or predictions that cannot be combined as asked."""


# --------------------------------------------------------------------------- base models


def three_cnn(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
              dropout: float = 0.3, dense_units: int = 128) -> keras.Model:
    """The ensemble project's ThreeCNN: three Conv-BatchNorm-ReLU-MaxPool blocks (32, 64, 128
    filters), flatten, a dense layer with dropout, and the head."""
    _check_args(width, input_size, head)
    inputs, x = image_input(input_size)
    for b, filters in enumerate(THREE_FILTERS, start=1):
        x = layers.Conv2D(scaled(filters, width), 3, padding="same", use_bias=False,
                          name=f"conv{b}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"conv{b}_bn")(x)
        x = layers.ReLU(name=f"conv{b}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(scaled(dense_units, width), activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, classifier_head(x, head), name="three_cnn")


def residual_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """Two 3x3 Conv-BatchNorm layers plus a skip connection (a 1x1 projection when the number
    of channels changes), then ReLU."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM,
                                             name=f"{name}_project_bn")(shortcut)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def skipcon_cnn(width: float = 1.0, input_size: int = 32, head: str = DEFAULT_HEAD,
                dropout: float = 0.3, dense_units: int = 128) -> keras.Model:
    """The ensemble project's SkipConCNN: a 3x3 stem, three residual blocks (32, 64, 128
    filters) each followed by 2x2 max-pooling, global average pooling, a dense layer with
    dropout, and the head."""
    _check_args(width, input_size, head)
    inputs, x = image_input(input_size)
    x = layers.Conv2D(scaled(SKIPCON_FILTERS[0], width), 3, padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for b, filters in enumerate(SKIPCON_FILTERS, start=1):
        x = residual_block(x, scaled(filters, width), name=f"res{b}")
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(scaled(dense_units, width), activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, classifier_head(x, head), name="skipcon_cnn")


BASE_MODELS: Mapping[str, Callable[..., keras.Model]] = {"ThreeCNN": three_cnn,
                                                         "SkipConCNN": skipcon_cnn}


# --------------------------------------------------------------------------- training


@keras.saving.register_keras_serializable(package="dflearn")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy of integer labels with label smoothing: the true class's
    target is ``1 - s + s / K`` and every other class's ``s / K``."""

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


def smoothed_loss(model: keras.Model, label_smoothing: float) -> keras.losses.Loss:
    """The loss matching ``model``'s head, with ``label_smoothing`` (0 = none)."""
    if not 0 <= label_smoothing < 1:
        raise EnsembleError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    if head_of(model) == "sigmoid":
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    return SmoothedSparseCrossentropy(label_smoothing)


def train_model(model: keras.Model, train: Dataset, val: Dataset | None = None, *,
                label_smoothing: float = 0.0, learning_rate: float = 1e-3,
                run_eagerly: bool = False, **options: Any) -> FitResult:
    """:func:`dflearn.training.fit` with optional label smoothing (other keyword arguments,
    such as ``epochs``, ``augment`` or ``photometric``, go to ``fit``).

    ``run_eagerly`` skips building a TensorFlow graph: slower per batch, but for the handful of
    batches of the ``ci`` profile it saves the tracing time.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=smoothed_loss(model, label_smoothing), metrics=[accuracy_for(model)],
                  run_eagerly=run_eagerly)
    return fit(model, train, val, learning_rate=learning_rate, compile=False, **options)


# --------------------------------------------------------------------------- saved models


def saved_models(session: "Session", prefix: str = "") -> list[str]:
    """Names of the models saved in ``session.artifacts`` (``<name>.keras``, see
    :mod:`dflearn.artifacts`) that start with ``prefix``, sorted."""
    folder = Path(session.artifacts)
    if not folder.is_dir():
        return []
    return sorted(p.name[:-len(".keras")] for p in folder.glob(f"{prefix}*.keras")
                  if not p.name.startswith(".") and p.is_file())


def pick_saved(session: "Session", prefix: str, prefer: Sequence[str] = (),
               exclude: Sequence[str] = ()) -> str | None:
    """The saved model to use among those whose name starts with ``prefix``: names containing
    a word of ``exclude`` are skipped; the first name containing the earliest possible word of
    ``prefer`` wins, else the first name in sorted order; ``None`` when nothing is saved.

    E.g. ``pick_saved(session, "04_", prefer=("resnet50", "best"), exclude=("personal",))``.
    """
    names = [n for n in saved_models(session, prefix) if not any(w in n for w in exclude)]
    for word in prefer:
        for name in names:
            if word in name:
                return name
    return names[0] if names else None


# --------------------------------------------------------------------------- predictions


def _unique(name: str, taken: set[str] | dict) -> str:
    """``name``, or ``name_2``, ``name_3``... the first not in ``taken``."""
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def _named(models: Mapping[str, keras.Model] | Sequence[keras.Model]) -> dict[str, keras.Model]:
    """``{name: model}`` from a mapping or a list (named after the models, made unique)."""
    if isinstance(models, Mapping):
        named = dict(models)
    else:
        named = {}
        for model in models:
            named[_unique(model.name, named)] = model
    if not named:
        raise EnsembleError("An ensemble needs at least one trained model.")
    for name, model in named.items():
        if not isinstance(model, keras.Model):
            raise EnsembleError(f"{name!r} is a {type(model).__name__}, not a Keras model.")
        head_of(model)  # raises for outputs that are neither 1 nor 2 units
    return named


def fit_to_model(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """``images`` resized (bilinear) to ``model``'s square input size when they differ."""
    size = model.input_shape[1:3]
    images = np.asarray(images)
    if None in size or tuple(images.shape[1:3]) == tuple(size):
        return images
    return ops.convert_to_numpy(ops.image.resize(images.astype("float32"), size))


def probabilities(models: Mapping[str, keras.Model] | Sequence[keras.Model], images: np.ndarray,
                  batch_size: int = 256) -> pd.DataFrame:
    """P(REAL) of every model for every image: one column per model."""
    return pd.DataFrame({name: real_probability(model, fit_to_model(model, images), batch_size)
                         for name, model in _named(models).items()})


def _as_matrix(p_real: pd.DataFrame | np.ndarray) -> np.ndarray:
    p = np.asarray(p_real, dtype=float)
    if p.ndim != 2 or p.shape[1] == 0:
        raise EnsembleError(f"Expected P(REAL) as (images, models), got shape {p.shape}.")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise EnsembleError("P(REAL) values must be probabilities in [0, 1].")
    return p


def average(p_real: pd.DataFrame | np.ndarray,
            weights: Sequence[float] | None = None) -> np.ndarray:
    """The (weighted) mean P(REAL) over models: soft voting."""
    p = _as_matrix(p_real)
    if weights is not None and (len(weights) != p.shape[1] or np.sum(weights) <= 0):
        raise EnsembleError(f"Need {p.shape[1]} non-negative weights with a positive sum, "
                            f"got {list(weights)}.")
    return np.average(p, axis=1, weights=weights)


def majority_vote(p_real: pd.DataFrame | np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Hard voting: the share of models that call each image REAL. An image is REAL when more
    than half do; a tie (even number of models) is broken by the mean probability, returned as
    0.5 +/- a small step so that thresholding at 0.5 gives the decision."""
    p = _as_matrix(p_real)
    share = (p >= threshold).mean(axis=1)
    tie = np.isclose(share, 0.5)
    lean = np.where(p.mean(axis=1) >= threshold, 0.5, 0.5 - 1e-3)
    return np.where(tie, lean, share)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


class Stacking:
    """Stacking: a logistic regression on the base models' log-odds of REAL.

    Fit it on predictions for images the base models did not train on (the validation set),
    then use :meth:`predict_real` on the test set's predictions.
    """

    def __init__(self, C: float = 1.0):
        self.C = C
        self.model = LogisticRegression(C=C)
        self.names: list[str] = []

    def fit(self, p_real: pd.DataFrame | np.ndarray, labels: np.ndarray) -> "Stacking":
        """Learn one weight per base model (and an intercept) from validation predictions."""
        p = _as_matrix(p_real)
        labels = np.asarray(labels).astype(int)
        if len(labels) != len(p):
            raise EnsembleError(f"{len(p)} predictions but {len(labels)} labels.")
        if len(np.unique(labels)) < 2:
            raise EnsembleError("Stacking needs validation labels of both classes.")
        self.names = list(p_real.columns) if isinstance(p_real, pd.DataFrame) else \
            [f"model_{i}" for i in range(p.shape[1])]
        self.model.fit(_logit(p), labels)
        return self

    def predict_real(self, p_real: pd.DataFrame | np.ndarray) -> np.ndarray:
        """P(REAL) of the stacked model."""
        if not self.names:
            raise EnsembleError("Call Stacking.fit on validation predictions first.")
        p = _as_matrix(p_real)
        if p.shape[1] != len(self.names):
            raise EnsembleError(f"Stacking was fit on {len(self.names)} models, got {p.shape[1]}.")
        return self.model.predict_proba(_logit(p))[:, 1]

    def coefficients(self) -> pd.Series:
        """The learned weight of each model's log-odds, and the intercept."""
        return pd.Series([*self.model.coef_[0], self.model.intercept_[0]],
                         index=[*self.names, "intercept"], name="weight")


# --------------------------------------------------------------------------- EnsembleCNN


@keras.saving.register_keras_serializable(package="dflearn")
class TwoClassProbabilities(layers.Layer):
    """Turns a 1-unit sigmoid P(REAL) into ``[P(FAKE), P(REAL)]``; passes 2-unit softmax
    outputs through unchanged."""

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
    ``scale`` and ``offset`` are learned."""

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


def combiner(n_models: int, hidden: int = 16) -> keras.Model:
    """The learned part of EnsembleCNN, on the concatenated ``[P(FAKE), P(REAL)]`` of
    ``n_models`` models: a weighting network (softmax weights over models, used to average
    their distributions), a meta-classifier, and :class:`ConfidenceBlend` of the two."""
    if n_models < 1 or hidden < 1:
        raise EnsembleError(f"combiner needs n_models >= 1 and hidden >= 1, got {n_models}, "
                            f"{hidden}.")
    inputs = keras.Input(shape=(2 * n_models,), name="base_probabilities")
    stacked = layers.Reshape((n_models, 2), name="per_model")(inputs)
    w = layers.Dense(hidden, activation="relu", name="weighting_hidden")(inputs)
    w = layers.Dense(n_models, activation="softmax", name="model_weights")(w)
    weighted = layers.Dot(axes=1, name="weighted_average")([w, stacked])
    m = layers.Dense(hidden, activation="relu", name="meta_hidden")(inputs)
    meta = layers.Dense(2, activation="softmax", name="meta_classifier")(m)
    blended = ConfidenceBlend(name="blend")([weighted, meta])
    return keras.Model(inputs, blended, name="combiner")


def ensemble_cnn(models: Mapping[str, keras.Model] | Sequence[keras.Model], hidden: int = 16,
                 input_size: int | None = None) -> keras.Model:
    """EnsembleCNN: image -> every (frozen) base model -> ``[P(FAKE), P(REAL)]`` each ->
    :func:`combiner` -> 2-unit class probabilities.

    Bases whose input size differs from ``input_size`` (default: the first model's) get a
    ``Resizing`` layer in front. Train the combiner with :func:`fit_combiner`.
    """
    named = _named(models)
    size = input_size or next(iter(named.values())).input_shape[1]
    inputs = keras.Input(shape=(size, size, 3), name="image")
    outputs, used = [], set()
    for model in named.values():
        model.trainable = False
        if model.name in used:  # Keras needs unique layer names: wrap a same-named base
            model = keras.Model(model.inputs[0], model.outputs[0], name=_unique(model.name, used))
        used.add(model.name)
        x = inputs
        own = model.input_shape[1:3]
        if None not in own and tuple(own) != (size, size):
            x = layers.Resizing(*own, name=f"resize_for_{model.name}")(x)
        outputs.append(TwoClassProbabilities(name=f"probs_{model.name}")(model(x, training=False)))
    joined = layers.Concatenate(name="concatenate")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, combiner(len(named), hidden)(joined), name="ensemble_cnn")


def two_class(p_real: pd.DataFrame | np.ndarray) -> np.ndarray:
    """``[P(FAKE), P(REAL)]`` per model side by side, shape (N, 2 * models): the combiner's
    input."""
    p = _as_matrix(p_real)
    return np.stack([1 - p, p], axis=-1).reshape(len(p), -1).astype("float32")


def _combiner_scores(head: keras.Model, features: np.ndarray,
                     labels: np.ndarray) -> tuple[float, float]:
    """Cross-entropy and accuracy of the combiner on ``features``."""
    probs = ops.convert_to_numpy(head(features, training=False))
    p_real = probs[:, 1]
    return log_loss(labels, p_real), float(np.mean((p_real >= 0.5).astype(int) == labels))


def fit_combiner(ensemble: keras.Model, p_real: pd.DataFrame | np.ndarray, labels: np.ndarray,
                 epochs: int = 60, batch_size: int = 32, learning_rate: float = 1e-2,
                 seed: int = 0) -> dict[str, float]:
    """Train EnsembleCNN's combiner on the base models' predictions (for images they did not
    train on, e.g. the validation set); the frozen bases are not run again.

    ``epochs`` passes over the data run as one Keras epoch (a few hundred probabilities need
    no per-epoch bookkeeping). Returns the loss and accuracy on that data before and after.
    """
    import tensorflow as tf

    head = ensemble.get_layer("combiner")
    features = two_class(p_real)
    labels = np.asarray(labels).astype("int32")
    if features.shape[1] != head.input_shape[-1]:
        raise EnsembleError(f"The ensemble combines {head.input_shape[-1] // 2} models but "
                            f"p_real has {features.shape[1] // 2} columns.")
    if epochs < 1 or batch_size < 1:
        raise EnsembleError(f"epochs and batch_size must be at least 1, got {epochs}, "
                            f"{batch_size}.")
    before = _combiner_scores(head, features, labels)
    head.compile(optimizer=keras.optimizers.Adam(learning_rate),
                 loss=keras.losses.SparseCategoricalCrossentropy())
    keras.utils.set_random_seed(seed)
    data = (tf.data.Dataset.from_tensor_slices((features, labels))
            .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size).repeat(epochs))
    head.fit(data, epochs=1, shuffle=False, verbose=0)  # the dataset shuffles itself
    after = _combiner_scores(head, features, labels)
    return {"loss_before": before[0], "accuracy_before": before[1],
            "loss_after": after[0], "accuracy_after": after[1]}


def combiner_parts(ensemble: keras.Model, p_real: pd.DataFrame | np.ndarray,
                   names: Sequence[str] | None = None) -> pd.DataFrame:
    """What EnsembleCNN does inside, per image: the weight of each model, P(REAL) of the
    weighted average and of the meta-classifier, the blend's gate and the final P(REAL)."""
    head = ensemble.get_layer("combiner")
    blend = head.get_layer("blend")
    probe = keras.Model(head.inputs[0], [head.get_layer("model_weights").output,
                                      head.get_layer("weighted_average").output,
                                      head.get_layer("meta_classifier").output, head.output])
    features = two_class(p_real)
    weights, weighted, meta, final = (ops.convert_to_numpy(a) for a in probe(features))
    gate = ops.convert_to_numpy(blend.gate([weighted, meta]))[:, 0]
    names = list(names or (p_real.columns if isinstance(p_real, pd.DataFrame)
                           else range(weights.shape[1])))
    table = pd.DataFrame(weights, columns=[f"weight {n}" for n in names])
    table["P(REAL) weighted"] = weighted[:, 1]
    table["P(REAL) meta"] = meta[:, 1]
    table["gate (share of weighted)"] = gate
    table["P(REAL) final"] = final[:, 1]
    return table


# --------------------------------------------------------------------------- judging


def ensemble_table(p_real: Mapping[str, np.ndarray], labels: np.ndarray,
                   reported: Mapping[str, float] = REPORTED) -> pd.DataFrame:
    """One row per model or ensemble: loss, accuracy, per-class and macro scores, ROC-AUC,
    and the reported accuracy where there is one, sorted by accuracy."""
    labels = np.asarray(labels).astype(int)
    rows = {}
    for name, p in p_real.items():
        p = np.asarray(p, dtype=float)
        if p.shape != labels.shape:
            raise EnsembleError(f"{name!r} has {p.shape} predictions for {labels.shape} labels.")
        rows[name] = {**probability_metrics(labels, p),
                      "reported_accuracy": reported.get(name, np.nan)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table.sort_values("accuracy", ascending=False)


def mcnemar_p(fixed: int, broken: int) -> float:
    """Exact McNemar test: the chance of a split at least this uneven between ``fixed`` and
    ``broken`` discordant images if the two classifiers were equally accurate."""
    n = fixed + broken
    return 1.0 if n == 0 else float(stats.binomtest(fixed, n, 0.5).pvalue)


def error_changes(labels: np.ndarray, base: Mapping[str, np.ndarray],
                  ensemble: np.ndarray) -> pd.DataFrame:
    """Per base model, against the ensemble (P(REAL) arrays, threshold 0.5): the errors of
    each, how many base errors the ensemble fixes, how many correct answers it breaks, the net
    change and McNemar's p-value for "equally accurate"."""
    labels = np.asarray(labels).astype(int)
    right_ens = (np.asarray(ensemble) >= 0.5).astype(int) == labels
    rows = {}
    for name, p in base.items():
        right = (np.asarray(p) >= 0.5).astype(int) == labels
        fixed, broken = int(np.sum(~right & right_ens)), int(np.sum(right & ~right_ens))
        rows[name] = {"base_errors": int(np.sum(~right)),
                      "ensemble_errors": int(np.sum(~right_ens)),
                      "fixed": fixed, "broken": broken, "net": fixed - broken,
                      "mcnemar_p": mcnemar_p(fixed, broken)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "base model"
    return table


def agreement_table(labels: np.ndarray, base: Mapping[str, np.ndarray],
                    ensemble: np.ndarray) -> pd.DataFrame:
    """Images counted by which base models were right (one column each, True/False) and
    whether the ensemble was right."""
    labels = np.asarray(labels).astype(int)
    frame = pd.DataFrame({name: (np.asarray(p) >= 0.5).astype(int) == labels
                          for name, p in base.items()})
    frame["ensemble right"] = (np.asarray(ensemble) >= 0.5).astype(int) == labels
    return (frame.value_counts().rename("images").reset_index()
            .pivot_table(index=list(base), columns="ensemble right", values="images",
                         fill_value=0, aggfunc="sum"))


def changed_examples(labels: np.ndarray, base: np.ndarray, ensemble: np.ndarray,
                     kind: str = "fixed") -> np.ndarray:
    """Indices of the images the ensemble ``"fixed"`` (base wrong, ensemble right) or
    ``"broke"`` (base right, ensemble wrong), largest change of P(REAL) first."""
    labels = np.asarray(labels).astype(int)
    base, ensemble = np.asarray(base, dtype=float), np.asarray(ensemble, dtype=float)
    right_base = (base >= 0.5).astype(int) == labels
    right_ens = (ensemble >= 0.5).astype(int) == labels
    if kind == "fixed":
        index = np.flatnonzero(~right_base & right_ens)
    elif kind == "broke":
        index = np.flatnonzero(right_base & ~right_ens)
    else:
        raise EnsembleError(f"kind must be 'fixed' or 'broke', got {kind!r}.")
    return index[np.argsort(-np.abs(ensemble[index] - base[index]), kind="stable")]


def example_titles(labels: np.ndarray, base: np.ndarray, ensemble: np.ndarray,
                   index: np.ndarray) -> list[str]:
    """Short titles ``REAL: 0.31 -> 0.62`` (true class: base P(REAL) -> ensemble P(REAL))."""
    return [f"{CLASS_NAMES[int(labels[i])]}: {base[i]:.2f}->{ensemble[i]:.2f}" for i in index]


def compare_variants(train_variant: Callable[[str, int], np.ndarray], variants: Sequence[str],
                     labels: np.ndarray, seeds: Sequence[int] = (0,),
                     baseline: str | None = None) -> pd.DataFrame:
    """Train every variant with every seed and compare test accuracy with the baseline.

    ``train_variant(variant, seed)`` trains one model and returns its test P(REAL). Returns one
    row per variant: mean and standard deviation of accuracy over seeds, the mean difference
    from ``baseline`` (default: the first variant) and, pooled over seeds, the images it gets
    right that the baseline got wrong (``fixed``), the reverse (``broken``) and McNemar's p.
    """
    if not variants or not seeds:
        raise EnsembleError("compare_variants needs at least one variant and one seed.")
    baseline = baseline or variants[0]
    if baseline not in variants:
        raise EnsembleError(f"baseline {baseline!r} is not one of the variants {list(variants)}.")
    labels = np.asarray(labels).astype(int)
    right = {v: [(train_variant(v, s) >= 0.5).astype(int) == labels for s in seeds]
             for v in variants}
    rows = {}
    for v in variants:
        accuracy = np.array([r.mean() for r in right[v]])
        base_acc = np.array([r.mean() for r in right[baseline]])
        fixed = int(sum(np.sum(r & ~b) for r, b in zip(right[v], right[baseline])))
        broken = int(sum(np.sum(~r & b) for r, b in zip(right[v], right[baseline])))
        spread = accuracy.std(ddof=1) if len(seeds) > 1 else np.nan
        rows[v] = {"accuracy": accuracy.mean(), "accuracy_sd": spread,
                   "difference": float(np.mean(accuracy - base_acc)),
                   "fixed": fixed, "broken": broken, "mcnemar_p": mcnemar_p(fixed, broken),
                   "seeds": len(seeds)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "variant"
    return table


def _verdict(difference: float, p_value: float, alpha: float, positive: str,
             negative: str) -> str:
    """``positive``/``negative`` by the sign of ``difference`` when McNemar's p is below
    ``alpha``, else "not significant"."""
    if not p_value < alpha:
        return f"not significant (McNemar p = {p_value:.2f})"
    return positive if difference > 0 else negative


def findings(table: pd.DataFrame, changes: pd.DataFrame, claims: pd.DataFrame,
             ensemble: str = "EnsembleCNN", reported: Mapping[str, float] = REPORTED,
             alpha: float = 0.05) -> pd.DataFrame:
    """The ensemble project's findings beside this run's: one row per finding with what was
    reported, what we measured and whether it holds here (by McNemar's test at ``alpha``).

    ``table`` is :func:`ensemble_table`, ``changes`` :func:`error_changes` of the base models
    against ``ensemble``, ``claims`` :func:`compare_variants` (its first row the baseline).
    """
    for name in (ensemble, *changes.index):
        if name not in table.index:
            raise EnsembleError(f"{name!r} is not in the table (rows: {list(table.index)}).")
    ours = float(table.loc[ensemble, "accuracy"])
    rows = []
    if ensemble in reported:
        level = reported[ensemble]
        rows.append({"finding": f"{ensemble} accuracy", "reported": f"{100 * level:.1f}%",
                     "ours": f"{100 * ours:.1f}%",
                     "holds here": "yes" if ours >= level else
                     f"no: {100 * (level - ours):.1f} points lower"})
    best = max(changes.index, key=lambda name: table.loc[name, "accuracy"])
    row = changes.loc[best]
    gain = ours - float(table.loc[best, "accuracy"])
    rows.append({"finding": f"{ensemble} beats its best base model", "reported": "yes",
                 "ours": f"{100 * gain:+.1f} points vs {best} ({int(row['fixed'])} fixed, "
                         f"{int(row['broken'])} broken)",
                 "holds here": _verdict(gain, row["mcnemar_p"], alpha, "yes", "no: it is worse")})
    for variant, row in claims.iloc[1:].iterrows():
        rows.append({"finding": f"{variant} can hurt", "reported": "yes",
                     "ours": f"{100 * row['difference']:+.1f} points over {int(row['seeds'])} "
                             f"seed(s)",
                     "holds here": _verdict(-row["difference"], row["mcnemar_p"], alpha,
                                            "yes: it hurts", "no: it helps")})
    return pd.DataFrame(rows).set_index("finding")
