"""Ensembles of trained Keras classifiers, after the ensemble project.

Lesson module of 06; imports only the core. The project's two base CNNs, ThreeCNN and
SkipConCNN, are built by :mod:`dflearn.models` (:data:`dflearn.models.BASE_MODELS`) and trained
by :func:`dflearn.training.fit` with the project's recipe (:data:`PROJECT_RECIPES`,
:func:`project_fit_options`); models saved by other notebooks are loaded, or stood in for, by
:mod:`dflearn.artifacts`.

* Three ways to combine any trained models, whatever their head (1-unit sigmoid or 2-unit
  softmax; P(REAL) comes from :func:`dflearn.models.real_probability`):
  (a) :func:`average` and :func:`majority_vote`;
  (b) :class:`Stacking`, a logistic regression on the models' validation predictions;
  (c) :func:`ensemble_cnn`, the project's EnsembleCNN: frozen base models, a small weighting
  network over their class probabilities, a meta-classifier on the concatenated
  probabilities, and a learned confidence-based blend of the two.
* Tools to judge them: :func:`ensemble_table` (one row per model), :func:`error_changes`
  (errors fixed and introduced, with McNemar's test), :func:`compare_variants` (training
  choices such as augmentation, over seeds), :func:`curve_stability` (the plateau experiment),
  :func:`project_table` (our accuracies beside the project's 5-class ones, as context only) and
  :func:`findings` (the project's claims about its own models, judged among ours with
  :mod:`dflearn.study`'s rule).
* The open-ended task of 06 §8: :func:`combiner_margin` scores a student's combiner (validation
  predictions and labels in, P(REAL) of new images out) against the best single model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd
from keras import layers, ops
from scipy import stats
from sklearn.linear_model import LogisticRegression

from dflearn import study, training
from dflearn.data import CLASS_NAMES
from dflearn.images import fit_to_model
from dflearn.layers import ConfidenceBlend, TwoClassProbabilities
from dflearn.metrics import log_loss, probability_metrics
from dflearn.models import compile_model, head_of, real_probability

# The ensemble project's models and the dflearn.study keys of their reported 5-class accuracies
# (06 §4: context beside ours, never judged against a binary accuracy).
PROJECT_KEYS: Mapping[str, str] = {"ThreeCNN": "ensemble/three_cnn/accuracy",
                                   "ThreeCNN (dilated)": "ensemble/three_cnn_dilated/accuracy",
                                   "SkipConCNN": "ensemble/skip_con_cnn/accuracy",
                                   "EnsembleCNN": "ensemble/ensemble_cnn/accuracy"}
EPS = 1e-6


class EnsembleError(ValueError):
    """Models or predictions that cannot be combined as asked (raised throughout 06)."""


# --------------------------------------------------------------------------- the project's recipe


@dataclass(frozen=True)
class ProjectRecipe:
    """One column of the project's training table ("Parameter SkipConCNN ThreeCNN
    EnsembleCNN"): Adam with L2 weight decay, cross-entropy (with label smoothing), and
    ReduceLROnPlateau in mode 'max' on the validation accuracy; then epochs and early stopping.
    Used in 06 §2 (through :func:`project_fit_options`)."""

    batch_size: int
    learning_rate: float
    weight_decay: float
    label_smoothing: float
    plateau_patience: int
    plateau_factor: float
    epochs: int
    early_stop: int


_INT_FIELDS = ("batch_size", "plateau_patience", "epochs", "early_stop")


def _project_recipe(model: str) -> ProjectRecipe:
    """One column of the project's training table, read from :mod:`dflearn.study`
    (``ensemble/<model>/<hyperparameter>``; its "-" label smoothing is 0)."""
    values = {f.name: study.value(f"ensemble/{model}/{f.name}")
              for f in dataclasses.fields(ProjectRecipe)}
    return ProjectRecipe(**{k: (int(v) if k in _INT_FIELDS else v) for k, v in values.items()})

# The project's table, column by column (its column order: SkipConCNN, ThreeCNN, EnsembleCNN).
PROJECT_RECIPES: Mapping[str, ProjectRecipe] = {
    "SkipConCNN": _project_recipe("skip_con_cnn"),
    "ThreeCNN": _project_recipe("three_cnn"),
    "EnsembleCNN": _project_recipe("ensemble_cnn"),
}
# The plateau settings the project found to destabilise ThreeCNN, and the ones it kept
# (its hyperparameter paragraph): (patience, factor).
UNSTABLE_PLATEAU: tuple[int, float] = (int(study.value("ensemble/unstable_plateau/patience")),
                                       study.value("ensemble/unstable_plateau/factor"))
KEPT_PLATEAU: tuple[int, float] = (PROJECT_RECIPES["ThreeCNN"].plateau_patience,
                                   PROJECT_RECIPES["ThreeCNN"].plateau_factor)
# Its training augmentation: horizontal flips and rotations of up to 15 degrees (as a fraction
# of a full turn, Keras' unit).
PROJECT_ROTATION = study.value("ensemble/augmentation/rotation_degrees") / 360
AUGMENTATIONS = ("none", "geometric", "geometric + photometric")


def _scaled_patience(patience: int, scale: float) -> int:
    return max(1, int(round(patience * scale)))


def project_fit_options(model: str, *, epochs: int | None = None, batch_size: int | None = None,
                        patience_scale: float = 1.0, early_stopping: bool = True,
                        plateau: tuple[int, float] | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`dflearn.training.fit` for ``model`` (a key of
    :data:`PROJECT_RECIPES`) with the project's recipe: its learning rate, weight decay, label
    smoothing, and ReduceLROnPlateau (mode 'max' on ``val_accuracy``) with its patience and
    factor, or ``plateau`` = (patience, factor) instead; early stopping on ``val_accuracy``
    with its patience (``early_stopping=False``: none).

    ``epochs`` / ``batch_size`` of ``None`` keep the project's; ``patience_scale`` scales both
    patiences (at least 1) for short trainings. :func:`dflearn.training.fit` applies the weight
    decay decoupled (AdamW), the project added it to the gradients (PyTorch Adam's L2).
    Used in 06 §2, §5 and §6.
    """
    if model not in PROJECT_RECIPES:
        raise EnsembleError(f"No project recipe for {model!r}: use one of {list(PROJECT_RECIPES)}.")
    if not patience_scale > 0:
        raise EnsembleError(f"patience_scale must be positive, got {patience_scale!r}.")
    r = PROJECT_RECIPES[model]
    patience, factor = plateau or (r.plateau_patience, r.plateau_factor)
    return {"epochs": epochs or r.epochs, "batch_size": batch_size or r.batch_size,
            "learning_rate": r.learning_rate, "weight_decay": r.weight_decay,
            "label_smoothing": r.label_smoothing, "schedule": "plateau",
            "schedule_options": {"mode": "max", "monitor": "val_accuracy",
                                 "patience": _scaled_patience(patience, patience_scale),
                                 "factor": factor},
            "monitor": "val_accuracy",
            "patience": _scaled_patience(r.early_stop, patience_scale) if early_stopping else 0}


# The base models 06 trains: the project's recipe (a key of PROJECT_RECIPES) and the builder's
# options. The project gives neither the dilation nor the new width of its dilated ThreeCNN:
# dilation 2 at the same width is our guess.
PROJECT_MODELS: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    "ThreeCNN": ("ThreeCNN", {}), "SkipConCNN": ("SkipConCNN", {}),
    "ThreeCNN (dilated)": ("ThreeCNN", {"dilation": 2})}
# The project's classifiers end in 5 classes after a 128-unit dense layer (its layer tables).
PROJECT_CLASSES = 5
PROJECT_PARAMETER_KEYS: Mapping[str, str] = {"ThreeCNN": "ensemble/three_cnn/parameters",
                                             "SkipConCNN": "ensemble/skip_con_cnn/parameters"}


def project_augmentation(kind: str = "geometric", seed: int = 0) -> keras.Sequential | None:
    """``"none"``, ``"geometric"`` (the project's flips and rotations of up to 15 degrees) or
    ``"geometric + photometric"`` (plus random brightness and contrast, see
    :func:`dflearn.training.augmentation`; the project does not say which photometric changes
    it tried). Used in 06 §2 and §6."""
    if kind not in AUGMENTATIONS:
        raise EnsembleError(f"Unknown augmentation {kind!r}: use one of {AUGMENTATIONS}.")
    if kind == "none":
        return None
    return training.augmentation(rotation=PROJECT_ROTATION, zoom=0,
                                 photometric=kind != "geometric", seed=seed)


def train_project_model(name: str, splits: Any, *, width: float, input_size: int, seed: int,
                        epochs: int, batch_size: int | None = None, patience_scale: float = 1.0,
                        early_stopping: bool = True, augment: str = "geometric",
                        plateau: tuple[int, float] | None = None,
                        run_eagerly: bool = False, time_budget: float | None = None
                        ) -> tuple[keras.Model, training.FitResult]:
    """Build ``name`` (a key of :data:`PROJECT_MODELS`) at ``width`` and train it on
    ``splits.train`` (validating on ``splits.val``) with the project's recipe
    (:func:`project_fit_options`; ``batch_size`` of ``None``: the project's) and augmentation
    ``augment`` (:func:`project_augmentation`), for at most ``time_budget`` seconds (``None``:
    no limit but the notebook's). Used in 06 §2 and §6."""
    from dflearn.models import BASE_MODELS

    if name not in PROJECT_MODELS:
        raise EnsembleError(f"Unknown model {name!r}: use one of {list(PROJECT_MODELS)}.")
    recipe, options = PROJECT_MODELS[name]
    keras.utils.set_random_seed(seed)
    model = BASE_MODELS[recipe](width=width, input_size=input_size, **options)
    fit_options = project_fit_options(recipe, epochs=epochs, batch_size=batch_size,
                                      patience_scale=patience_scale,
                                      early_stopping=early_stopping, plateau=plateau)
    result = training.fit(model, splits.train, splits.val,
                          augment=project_augmentation(augment, seed) or False, seed=seed,
                          run_eagerly=run_eagerly, time_budget=time_budget, **fit_options)
    return model, result


def architecture_table(built: Mapping[str, keras.Model]) -> pd.DataFrame:
    """Our full-width base models' parameters beside the project's layer tables: total and
    trainable parameters, then the trainable ones without the output layer (ours: 2 classes,
    the project's: :data:`PROJECT_CLASSES` after 128 units), which must agree when the
    architecture follows the table (Keras also counts BatchNorm's moving mean and variance,
    PyTorch does not). Used in 06 §2."""
    rows = {}
    for name, model in built.items():
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        head = model.layers[-1].count_params()
        project = study.value(PROJECT_PARAMETER_KEYS[name]) if name in PROJECT_PARAMETER_KEYS \
            else np.nan
        project_head = (128 + 1) * PROJECT_CLASSES
        rows[name] = {"ours: total": model.count_params(), "ours: trainable": trainable,
                      "ours: trainable without output layer": trainable - head,
                      "project: total": project,
                      "project: without its 5-class output layer": project - project_head}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer (after the input): name, type, output shape and parameters, like the
    project's layer tables. Used in 06 §2."""
    rows = [{"layer": layer.name, "type": type(layer).__name__,
             "output shape": str(tuple(layer.output.shape[1:])),
             "parameters": layer.count_params()}
            for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="#"))


def curve_stability(histories: Mapping[str, Mapping[str, Sequence[float]]],
                    last: int = 5) -> pd.DataFrame:
    """Per training: the best and final validation accuracy, the standard deviation of the
    validation accuracy over the ``last`` epochs and its mean epoch-to-epoch change (both in
    accuracy points; larger = less stable), how many times the learning rate was cut and the
    final rate. Used in 06 §5 (the plateau experiment)."""
    rows = {}
    for name, history in histories.items():
        acc = np.asarray(history.get("val_accuracy", []), dtype=float)
        if acc.size == 0:
            raise EnsembleError(f"{name!r} has no val_accuracy: train it with validation data.")
        tail = acc[-last:]
        rates = np.asarray(history.get("learning_rate", [np.nan]), dtype=float)
        rows[name] = {"epochs": int(acc.size), "best_val_accuracy": float(acc.max()),
                      "final_val_accuracy": float(acc[-1]),
                      f"std_last_{len(tail)}": float(tail.std(ddof=0)),
                      "mean_abs_change": float(np.mean(np.abs(np.diff(acc)))) if acc.size > 1
                      else 0.0,
                      "lr_cuts": int(np.sum(np.diff(rates) < 0)), "final_lr": float(rates[-1])}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "plateau setting"
    return table


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


def probabilities(models: Mapping[str, keras.Model] | Sequence[keras.Model], images: np.ndarray,
                  batch_size: int = 256) -> pd.DataFrame:
    """P(REAL) of every model for every image: one column per model. Each model gets the
    images at its own input size (:func:`dflearn.images.fit_to_model`).

    Used in 06 §2 (the base models' predictions) and §7 (models of other notebooks).
    """
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
    """The (weighted) mean P(REAL) over models: soft voting. Used in 06 §3a (and Exercise 1)."""
    p = _as_matrix(p_real)
    if weights is not None and (len(weights) != p.shape[1] or np.sum(weights) <= 0):
        raise EnsembleError(f"Need {p.shape[1]} non-negative weights with a positive sum, "
                            f"got {list(weights)}.")
    return np.average(p, axis=1, weights=weights)


def majority_vote(p_real: pd.DataFrame | np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Hard voting: the share of models that call each image REAL. An image is REAL when more
    than half do; a tie (even number of models) is broken by the mean probability, returned as
    0.5 +/- a small step so that thresholding at 0.5 gives the decision. Used in 06 §3a."""
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
    then use :meth:`predict_real` on the test set's predictions. Used in 06 §3b.
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


def combiner(n_models: int, hidden: int = 16, meta_hidden: int = 32,
             dropout: float = 0.3) -> keras.Model:
    """The learned part of EnsembleCNN, on the concatenated ``[P(FAKE), P(REAL)]`` of
    ``n_models`` models, after the project's table: a weighting network (``hidden`` units, then
    softmax weights over models, used to average their distributions), a meta-classifier
    (``meta_hidden`` units, dropout, class probabilities), and
    :class:`~dflearn.layers.ConfidenceBlend` of the two. Used in 06 §3c, inside
    :func:`ensemble_cnn`."""
    if n_models < 1 or hidden < 1 or meta_hidden < 1:
        raise EnsembleError(f"combiner needs n_models, hidden and meta_hidden >= 1, got "
                            f"{n_models}, {hidden}, {meta_hidden}.")
    inputs = keras.Input(shape=(2 * n_models,), name="base_probabilities")
    stacked = layers.Reshape((n_models, 2), name="per_model")(inputs)
    w = layers.Dense(hidden, activation="relu", name="weighting_hidden")(inputs)
    w = layers.Dense(n_models, activation="softmax", name="model_weights")(w)
    weighted = layers.Dot(axes=1, name="weighted_average")([w, stacked])
    m = layers.Dense(meta_hidden, activation="relu", name="meta_hidden")(inputs)
    m = layers.Dropout(dropout, name="meta_dropout")(m)
    meta = layers.Dense(2, activation="softmax", name="meta_classifier")(m)
    blended = ConfidenceBlend(name="blend")([weighted, meta])
    return keras.Model(inputs, blended, name="combiner")


def ensemble_cnn(models: Mapping[str, keras.Model] | Sequence[keras.Model], hidden: int = 16,
                 input_size: int | None = None, meta_hidden: int = 32) -> keras.Model:
    """EnsembleCNN: image -> every (frozen) base model -> ``[P(FAKE), P(REAL)]`` each ->
    :func:`combiner` -> 2-unit class probabilities.

    Bases whose input size differs from ``input_size`` (default: the first model's) get a
    ``Resizing`` layer in front: antialiased bicubic, the in-graph twin of the course's one
    resize filter (:func:`dflearn.images.resize_image`, which :func:`probabilities` uses), up to
    rounding to whole pixel values. Train the combiner with :func:`fit_combiner`.
    Used in 06 §3c and §7.
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
            x = layers.Resizing(*own, interpolation="bicubic", antialias=True,
                                name=f"resize_for_{model.name}")(x)
        outputs.append(TwoClassProbabilities(name=f"probs_{model.name}")(model(x, training=False)))
    joined = layers.Concatenate(name="concatenate")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, combiner(len(named), hidden, meta_hidden)(joined),
                       name="ensemble_cnn")


def two_class(p_real: pd.DataFrame | np.ndarray) -> np.ndarray:
    """``[P(FAKE), P(REAL)]`` per model side by side, shape (N, 2 * models): the combiner's
    input (06 §3c, through :func:`fit_combiner` and :func:`combiner_parts`)."""
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
                 seed: int = 0, weight_decay: float = 0.0,
                 label_smoothing: float = 0.0) -> dict[str, float]:
    """Train EnsembleCNN's combiner on the base models' predictions (for images they did not
    train on, e.g. the validation set); the frozen bases are not run again.

    ``epochs`` passes over the data run as one Keras epoch (a few hundred probabilities need
    no per-epoch bookkeeping), so there is no plateau schedule or early stopping. Adam (AdamW
    with ``weight_decay``) and cross-entropy with ``label_smoothing``, as
    :func:`dflearn.models.compile_model`. Returns the loss (without smoothing) and accuracy on
    that data before and after. Used in 06 §3c and §7.
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
    compile_model(head, learning_rate, weight_decay, label_smoothing=label_smoothing)
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
    weighted average and of the meta-classifier, the blend's gate and the final P(REAL).
    Used in 06 §3c and §7."""
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


def ensemble_table(p_real: Mapping[str, np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """One row per model or ensemble: loss, accuracy with its 95% Wilson interval
    (:func:`dflearn.study.accuracy_interval`), per-class and macro scores and ROC-AUC, sorted by
    accuracy. Used in 06 §4 and §7."""
    labels = np.asarray(labels).astype(int)
    rows = {}
    for name, p in p_real.items():
        p = np.asarray(p, dtype=float)
        if p.shape != labels.shape:
            raise EnsembleError(f"{name!r} has {p.shape} predictions for {labels.shape} labels.")
        scores = probability_metrics(labels, p)
        low, high = study.accuracy_interval(scores["accuracy"], len(labels))
        rows[name] = {**scores, "accuracy_low": low, "accuracy_high": high}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table.sort_values("accuracy", ascending=False)


def mcnemar_p(fixed: int, broken: int) -> float:
    """Exact McNemar test: the chance of a split at least this uneven between ``fixed`` and
    ``broken`` discordant images if the two classifiers were equally accurate. Used in 06 §5
    and §6 (through :func:`error_changes` and :func:`compare_variants`)."""
    n = fixed + broken
    return 1.0 if n == 0 else float(stats.binomtest(fixed, n, 0.5).pvalue)


def error_changes(labels: np.ndarray, base: Mapping[str, np.ndarray],
                  ensemble: np.ndarray) -> pd.DataFrame:
    """Per base model, against the ensemble (P(REAL) arrays, threshold 0.5): the errors of
    each, how many base errors the ensemble fixes, how many correct answers it breaks, the net
    change and McNemar's p-value for "equally accurate". Used in 06 §5 (and Exercise 2)."""
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
    whether the ensemble was right. Used in 06 §5."""
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
    ``"broke"`` (base right, ensemble wrong), largest change of P(REAL) first. Used in 06 §5."""
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
    """Short titles ``REAL: 0.31 -> 0.62`` (true class: base P(REAL) -> ensemble P(REAL)).
    Used in 06 §5."""
    return [f"{CLASS_NAMES[int(labels[i])]}: {base[i]:.2f}->{ensemble[i]:.2f}" for i in index]


def compare_variants(train_variant: Callable[[str, int], np.ndarray], variants: Sequence[str],
                     labels: np.ndarray, seeds: Sequence[int] = (0,),
                     baseline: str | None = None) -> pd.DataFrame:
    """Train every variant with every seed and compare test accuracy with the baseline.

    ``train_variant(variant, seed)`` trains one model and returns its test P(REAL). Returns one
    row per variant: mean and standard deviation of accuracy over seeds, the 95% Wilson
    interval of the mean accuracy on the test images (:func:`dflearn.study.accuracy_interval`,
    ``n`` = the number of labels), the mean difference from ``baseline`` (default: the first
    variant) and, pooled over seeds, the images it gets right that the baseline got wrong
    (``fixed``), the reverse (``broken``) and McNemar's p. Used in 06 §6.
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
        low, high = study.accuracy_interval(float(accuracy.mean()), len(labels))
        rows[v] = {"accuracy": accuracy.mean(), "accuracy_low": low, "accuracy_high": high,
                   "accuracy_sd": spread,
                   "difference": float(np.mean(accuracy - base_acc)),
                   "fixed": fixed, "broken": broken, "mcnemar_p": mcnemar_p(fixed, broken),
                   "seeds": len(seeds)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "variant"
    return table


def project_table(ours: Mapping[str, tuple[float, int]],
                  keys: Mapping[str, str] = PROJECT_KEYS) -> pd.DataFrame:
    """Our binary test accuracies (``{model: (accuracy, n)}``) with their 95% Wilson intervals,
    beside the ensemble project's reported **5-class** accuracies of the same architectures
    (:mod:`dflearn.study`, cited). Context only: different data, classes and chance level, so no
    verdict compares the two columns. Used in 06 §4."""
    rows = {}
    for name, (accuracy, n) in ours.items():
        low, high = study.accuracy_interval(accuracy, n)
        entry = study.reported(keys[name]) if name in keys else None
        rows[name] = {"ours (binary)": float(accuracy), "ours_low": low,
                      "ours_high": high, "n": int(n),
                      "project (5-class)": entry.value if entry else np.nan,
                      "project source": f"{entry.where} ({keys[name]})" if entry else ""}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def findings(table: pd.DataFrame, n: int, augmentation: pd.DataFrame | None = None,
             plateau: Mapping[str, tuple[float, int]] | None = None,
             ensemble: str = "EnsembleCNN",
             bases: Sequence[str] = ("ThreeCNN", "SkipConCNN")) -> pd.DataFrame:
    """The project's claims about its own models, each judged among OUR models with
    :func:`dflearn.study.judge_order` (Wilson intervals on ``n`` test images; never against the
    project's 5-class numbers, which appear only as ``seed_number`` context):

    * the ensemble beats its best base model (93.44% vs 93.03% and 92.64%; the project's
      number shown for our best base is its final, dilated ThreeCNN's or its SkipConCNN's);
    * SkipConCNN beats ThreeCNN (92.64% vs 89.78%);
    * with ``augmentation`` (:func:`compare_variants` over :data:`AUGMENTATIONS`, or those of
      them it has): geometric augmentation beats none, and photometric augmentation hurts
      (geometric beats geometric + photometric);
    * with ``plateau`` (``{"(5, 0.5)": (acc, n), "(15, 0.8)": (acc, n)}``): ThreeCNN with the
      kept plateau settings beats the unstable ones.

    ``table`` is :func:`ensemble_table` (its rows include ``ensemble`` and ``bases``) on ``n``
    test images.
    Returns :func:`dflearn.study.findings_table`. Used in 06 §7.
    """
    for name in (ensemble, *bases):
        if name not in table.index:
            raise EnsembleError(f"{name!r} is not in the table (rows: {list(table.index)}).")
    if int(n) != n or n < 1:
        raise EnsembleError(f"n is the number of test images, got {n!r}.")
    acc = table["accuracy"]
    best = max(bases, key=lambda name: acc[name])
    verdicts = [
        study.judge_order(ensemble, acc[ensemble], n, best, acc[best], n,
                          seed_a=study.value(PROJECT_KEYS["EnsembleCNN"]),
                          seed_b=study.value(PROJECT_KEYS[
                              "ThreeCNN (dilated)" if best == "ThreeCNN" else best]),
                          finding=f"{ensemble} beats its best base model ({best} here)")]
    if "SkipConCNN" in bases and "ThreeCNN" in bases:
        verdicts.append(study.judge_order(
            "SkipConCNN", acc["SkipConCNN"], n, "ThreeCNN", acc["ThreeCNN"], n,
            seed_a=study.value(PROJECT_KEYS["SkipConCNN"]),
            seed_b=study.value(PROJECT_KEYS["ThreeCNN"]),
            finding="SkipConCNN (residual connections) beats ThreeCNN"))
    if augmentation is not None:
        a = augmentation["accuracy"]
        none, geo, photo = AUGMENTATIONS
        for other, finding in ((none, "geometric augmentation improves accuracy"),
                               (photo, "photometric augmentation degrades accuracy")):
            if geo in a and other in a:
                verdicts.append(study.judge_order(geo, a[geo], n, other, a[other], n,
                                                  finding=finding))
    if plateau is not None:
        kept, unstable = (f"plateau {KEPT_PLATEAU}", f"plateau {UNSTABLE_PLATEAU}")
        verdicts.append(study.judge_order(
            kept, *plateau[kept], unstable, *plateau[unstable],
            finding=f"ThreeCNN: plateau {KEPT_PLATEAU} beats {UNSTABLE_PLATEAU}"))
    return study.findings_table(verdicts)


# --------------------------------------------------------------------------- the open-ended task

Combine = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _binary_labels(labels: np.ndarray, n: int, what: str) -> np.ndarray:
    """``labels`` as an int array of 0/1, one per image of the ``n`` rows of ``what``."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise EnsembleError(f"{what} has {n} images but its labels have shape {labels.shape}; "
                            f"pass one label (0 FAKE, 1 REAL) per row.")
    if not np.isin(labels, (0, 1)).all():
        raise EnsembleError(f"The labels of {what} must be 0 (FAKE) or 1 (REAL).")
    return labels.astype(int)


def combiner_margin(combine: Combine, p_fit: pd.DataFrame | np.ndarray, labels_fit: np.ndarray,
                    p_eval: pd.DataFrame | np.ndarray, labels_eval: np.ndarray
                    ) -> dict[str, Any]:
    """Score a combiner against the best single model, in accuracy points.

    ``combine(p_fit, labels_fit, p_eval)`` gets the base models' P(REAL) (images x models, as
    float arrays) and labels of the images it may learn from (the validation set), and the
    P(REAL) of the images to score, without their labels; it returns one P(REAL) per row of
    ``p_eval`` (REAL when >= 0.5). Returns its accuracy on ``labels_eval``, the accuracy of the
    best single model on those same images (its column name; its index for an array), of the
    plain average, and the margin over the best single model in percentage points. Raises
    :class:`EnsembleError` for malformed inputs and when ``combine`` does not return one
    probability per image.
    Used in 06 §8 (the open-ended task) and by its hidden test.
    """
    fit, new = _as_matrix(p_fit), _as_matrix(p_eval)
    if fit.shape[1] != new.shape[1]:
        raise EnsembleError(f"p_fit has {fit.shape[1]} models (columns) but p_eval has "
                            f"{new.shape[1]}; give both the same models in the same order.")
    labels_fit = _binary_labels(labels_fit, len(fit), "p_fit")
    labels_eval = _binary_labels(labels_eval, len(new), "p_eval")
    out = combine(fit.copy(), labels_fit.copy(), new.copy())
    try:
        mine = np.asarray(out, dtype=float)
    except (TypeError, ValueError) as error:
        raise EnsembleError(f"my_combiner must return an array of probabilities; it returned "
                            f"{type(out).__name__} ({error}).") from None
    if mine.shape != (len(new),):
        raise EnsembleError(f"my_combiner must return one P(REAL) per image of p_eval, shape "
                            f"({len(new)},); it returned shape {mine.shape}.")
    if not np.isfinite(mine).all() or np.any((mine < 0) | (mine > 1)):
        raise EnsembleError("my_combiner returned values outside [0, 1] (or NaN); return "
                            "probabilities of REAL.")

    def accuracy(p: np.ndarray) -> float:
        return float(np.mean((p >= 0.5).astype(int) == labels_eval))

    names = (list(p_eval.columns) if isinstance(p_eval, pd.DataFrame)
             else list(range(new.shape[1])))
    singles = [accuracy(new[:, j]) for j in range(new.shape[1])]
    best = int(np.argmax(singles))
    score = accuracy(mine)
    return {"accuracy": round(score, 4), "best_model": names[best],
            "best_model_accuracy": round(singles[best], 4),
            "average_accuracy": round(accuracy(average(new)), 4),
            "margin_points": round(100 * (score - singles[best]), 2)}
