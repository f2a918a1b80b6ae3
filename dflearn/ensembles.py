"""Ensembles of trained Keras classifiers, after the ensemble project.

Lesson module of 06; imports only the core. The project's two base CNNs, ThreeCNN and
SkipConCNN, are built by :mod:`dflearn.models` (:data:`dflearn.models.BASE_MODELS`) and trained
by :func:`dflearn.training.fit` (``label_smoothing`` is one of its options); models saved by
other notebooks are loaded, or stood in for, by :mod:`dflearn.artifacts`.

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
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd
from keras import layers, ops
from scipy import stats
from sklearn.linear_model import LogisticRegression

from dflearn import study
from dflearn.data import CLASS_NAMES
from dflearn.images import fit_to_model
from dflearn.layers import ConfidenceBlend, TwoClassProbabilities
from dflearn.metrics import log_loss, probability_metrics
from dflearn.models import head_of, real_probability

# The ensemble project's reported accuracy of its EnsembleCNN, from dflearn.study (06 §4).
REPORTED: Mapping[str, float] = {"EnsembleCNN": study.value("ensemble/ensemble_cnn/accuracy")}
EPS = 1e-6


class EnsembleError(ValueError):
    """Models or predictions that cannot be combined as asked (raised throughout 06)."""


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


def combiner(n_models: int, hidden: int = 16) -> keras.Model:
    """The learned part of EnsembleCNN, on the concatenated ``[P(FAKE), P(REAL)]`` of
    ``n_models`` models: a weighting network (softmax weights over models, used to average
    their distributions), a meta-classifier, and
    :class:`~dflearn.layers.ConfidenceBlend` of the two. Used in 06 §3c, inside
    :func:`ensemble_cnn`."""
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
    return keras.Model(inputs, combiner(len(named), hidden)(joined), name="ensemble_cnn")


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
                 seed: int = 0) -> dict[str, float]:
    """Train EnsembleCNN's combiner on the base models' predictions (for images they did not
    train on, e.g. the validation set); the frozen bases are not run again.

    ``epochs`` passes over the data run as one Keras epoch (a few hundred probabilities need
    no per-epoch bookkeeping). Returns the loss and accuracy on that data before and after.
    Used in 06 §3c and §7.
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


def ensemble_table(p_real: Mapping[str, np.ndarray], labels: np.ndarray,
                   reported: Mapping[str, float] = REPORTED) -> pd.DataFrame:
    """One row per model or ensemble: loss, accuracy, per-class and macro scores, ROC-AUC,
    and the reported accuracy where there is one, sorted by accuracy. Used in 06 §4 and §7."""
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
    row per variant: mean and standard deviation of accuracy over seeds, the mean difference
    from ``baseline`` (default: the first variant) and, pooled over seeds, the images it gets
    right that the baseline got wrong (``fixed``), the reverse (``broken``) and McNemar's p.
    Used in 06 §6.
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
    Used in 06 §6.
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
