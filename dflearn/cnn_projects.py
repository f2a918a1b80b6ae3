"""The companion projects' experiments in 03, set beside the seeds' numbers: the study's Fig. 1
side by side, the lightweight project's baseline vs its MobileNet-style model, its augmentations
shown one by one, the faces project's random search (its Table 1) and Table 2, and the scoring of
the open-ended task (a compact detector under a parameter limit).

Lesson module of 03; imports only the core. Every training run is one call of
:func:`dflearn.training.fit`; every reported number comes from :mod:`dflearn.study`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dflearn import study
from dflearn.data import Dataset
from dflearn.metrics import evaluate, faces_project_metrics
from dflearn.splits import stratified_split
from dflearn.training import FitResult, fit

# ---------------------------------------------------------------- the study's Fig. 1, side by side

# Our metric (a key of dflearn.metrics.evaluate's row) for each Fig. 1 column. Fig. 1's precision
# and recall equal its accuracy, as support-weighted averages do; on our balanced test sets the
# weighted average equals the macro one. Its two F1 numbers are most likely FAKE's then REAL's
# (see dflearn.study); VGG's rows print one F1 only.
# ---------------------------------------------------------------- the lightweight project

LIGHTWEIGHT_METRICS: Mapping[str, str] = {"accuracy": "accuracy", "precision": "precision_FAKE",
                                          "recall": "recall_FAKE", "f1": "f1_FAKE"}


def lightweight_table(models: Mapping[str, keras.Model],
                      rows: Mapping[str, Mapping[str, float]],
                      project_model: str) -> pd.DataFrame:
    """Parameters, accuracy, precision, recall and F1 (FAKE as the positive class) of each of
    our models, plus one row with the lightweight project's numbers for ``project_model``'s
    row label (its data are GAN faces, not CIFAKE: context, not a verdict).

    Used in 03 §3 (the lightweight project's baseline beside its MobileNet-style model)."""
    table = pd.DataFrame({name: {"parameters": float(models[name].count_params()),
                                 **{k: float(rows[name][m]) for k, m in LIGHTWEIGHT_METRICS.items()}}
                          for name in models}).T
    project = {k: study.value(f"lightweight/mobilenet_cnn/{k}") for k in LIGHTWEIGHT_METRICS}
    table.loc[f"{project_model} (project, GAN faces)"] = {"parameters": float("nan"), **project}
    table.index.name = "model"
    return table


# ---------------------------------------------------------------- augmentations one by one

def augmentation_layers(rotation: float = 0.1, zoom: float = 0.2,
                        seed: int = 0) -> dict[str, keras.Layer]:
    """One Keras layer per augmentation the lightweight project names ("Random Rotations, Flips
    and Resizing"): a random rotation of up to ``rotation`` of a full turn, a random horizontal
    flip, and a random resize (zoom in or out by up to ``zoom``, back to the input size), plus
    the three together. The project does not give its ranges; these are ours.

    Used in 03 §3 (the lightweight project's augmentations)."""
    if not 0 < rotation <= 0.5 or not 0 < zoom < 1:
        raise ValueError(f"Need 0 < rotation <= 0.5 and 0 < zoom < 1, got {rotation}, {zoom}.")
    degrees = 360 * rotation

    def rotate(s: int) -> keras.Layer:
        return keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=s)

    def flip(s: int) -> keras.Layer:
        return keras.layers.RandomFlip("horizontal", seed=s)

    def resize(s: int) -> keras.Layer:
        return keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=s)

    return {f"rotation (up to ±{degrees:.0f}°)": rotate(seed),
            "flip (horizontal)": flip(seed + 1),
            f"resizing (zoom ±{100 * zoom:.0f}%)": resize(seed + 2),
            "all three": keras.Sequential([rotate(seed + 3), flip(seed + 4), resize(seed + 5)])}


def augmented_draws(image: np.ndarray, layer: keras.Layer, draws: int) -> np.ndarray:
    """``draws`` random augmentations of one 0-255 ``image`` (H, W, 3) by ``layer`` in training
    mode, as float arrays (draws, H, W, 3) clipped to 0-255.

    Used in 03 §3 (the lightweight project's augmentations)."""
    if image.ndim != 3 or draws < 1:
        raise ValueError(f"Need one (H, W, C) image and draws >= 1, got {image.shape}, {draws}.")
    batch = np.repeat(np.asarray(image, dtype="float32")[None], draws, axis=0)
    out = keras.ops.convert_to_numpy(layer(batch, training=True))
    return np.clip(out, 0, 255)


def plot_augmentations(image: np.ndarray, augmentations: Mapping[str, keras.Layer],
                       draws: int = 4, title: str = "Augmentations") -> plt.Figure:
    """A grid: the original image, then one row per augmentation with ``draws`` random draws,
    each titled with its mean absolute pixel change (0-255 scale).

    Used in 03 §3 (the lightweight project's augmentations)."""
    fig, axes = plt.subplots(len(augmentations), draws + 1,
                             figsize=(1.9 * (draws + 1), 2.0 * len(augmentations)), squeeze=False)
    for r, (name, layer) in enumerate(augmentations.items()):
        out = augmented_draws(image, layer, draws)
        axes[r, 0].imshow(np.asarray(image, dtype="uint8"))
        axes[r, 0].set_title("original", fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=8)
        for d in range(draws):
            change = float(np.mean(np.abs(out[d] - image)))
            axes[r, d + 1].imshow(out[d].astype("uint8"))
            axes[r, d + 1].set_title(f"draw {d + 1}: |Δ| {change:.1f}", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[r, 1:]:
            ax.set_xlabel("x (pixels)", fontsize=7)
    fig.suptitle(f"{title}\n(|Δ|: mean absolute pixel change, 0-255 scale)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- the faces project's search

def _search_range(name: str) -> tuple[float, float]:
    """The faces project's uniform range of ``name`` (Table 1), from :mod:`dflearn.study`."""
    return (study.value(f"faces/search/{name}/low"), study.value(f"faces/search/{name}/high"))


@dataclass(frozen=True)
class SearchSpace:
    """The faces project's Table 1: max learning rate U[1e-5, 1e-3], weight decay U[0, 1e-2],
    dropout U[0.1, 0.5], batch size one of {32, 64, 128}."""

    learning_rate: tuple[float, float] = field(
        default_factory=lambda: _search_range("max_learning_rate"))
    weight_decay: tuple[float, float] = field(default_factory=lambda: _search_range("weight_decay"))
    dropout: tuple[float, float] = field(default_factory=lambda: _search_range("dropout"))
    batch_sizes: tuple[int, ...] = field(default_factory=lambda: tuple(
        int(study.value(f"faces/search/batch_size/choice_{k}")) for k in (1, 2, 3)))

    def sample(self, n_trials: int, seed: int = 0) -> list[dict[str, float]]:
        """``n_trials`` draws from the space (seeded, uniform as the table says).

        Used in 03 §6 (the faces project's random search)."""
        if n_trials < 1:
            raise ValueError(f"n_trials must be at least 1, got {n_trials}.")
        rng = np.random.default_rng(seed)
        return [{"max_learning_rate": float(rng.uniform(*self.learning_rate)),
                 "weight_decay": float(rng.uniform(*self.weight_decay)),
                 "dropout": float(rng.uniform(*self.dropout)),
                 "batch_size": int(rng.choice(self.batch_sizes))} for _ in range(n_trials)]


FACES_SPACE = SearchSpace()
# Table 1's "Value Used" column, the keys of the study module.
FACES_USED: Mapping[str, str] = {"max_learning_rate": "faces/own_cnn/max_learning_rate",
                                 "weight_decay": "faces/own_cnn/weight_decay",
                                 "dropout": "faces/own_cnn/dropout",
                                 "batch_size": "faces/own_cnn/batch_size"}


def faces_fit_options(trial: Mapping[str, float], max_epochs: int, seed: int = 0,
                      run_eagerly: bool = False) -> dict[str, Any]:
    """:func:`dflearn.training.fit` options for one setting of the faces project: Adam with
    weight decay, StepLR from the trial's (maximum) learning rate with gamma 0.1 every 5 epochs,
    early stopping on the validation loss with patience 2 restoring the best weights (all three
    numbers from :mod:`dflearn.study`), at most ``max_epochs`` epochs. ``run_eagerly`` skips
    graph tracing (quicker for the handful of batches of the ``ci`` profile).

    Used in 03 §6 (random search and the Table 2 run)."""
    return {"epochs": max_epochs, "batch_size": int(trial["batch_size"]),
            "learning_rate": float(trial["max_learning_rate"]),
            "weight_decay": float(trial["weight_decay"]), "schedule": "step",
            "schedule_options": {"drop": study.value("faces/step_lr/gamma"),
                                 "every": int(study.value("faces/step_lr/step_size"))},
            "patience": int(study.value("faces/early_stopping/patience")),
            "monitor": "val_loss", "run_eagerly": run_eagerly, "seed": seed}


def random_search(build: Callable[[float], keras.Model], train: Dataset, val: Dataset, *,
                  n_trials: int, max_epochs: int, fraction: float = 0.1, seed: int = 0,
                  space: SearchSpace = FACES_SPACE, run_eagerly: bool = False,
                  time_budget: float | None = None) -> pd.DataFrame:
    """The faces project's random search: ``n_trials`` settings drawn from ``space``, each
    trained with :func:`faces_fit_options` on a stratified ``fraction`` of ``train`` ("10 % of
    the training data") until early stopping (or ``time_budget`` seconds per trial), validated
    on ``val``. ``build(dropout)`` returns a
    fresh model. One row per trial: its setting, epochs run, best epoch, and the validation loss
    and accuracy of the restored (best) weights; the lowest validation loss is marked ``best``.

    Used in 03 §6 (the faces project's random search)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    subset = train if fraction == 1 else stratified_split(train, fraction, seed=seed)[1]
    if len(subset.labels) < max(space.batch_sizes):
        raise ValueError(f"{fraction:g} of the training data is {len(subset.labels)} images, fewer "
                         f"than the largest batch size {max(space.batch_sizes)}: a trial would "
                         "train on no batch at all. Use more data or a larger fraction.")
    rows = []
    for i, trial in enumerate(space.sample(n_trials, seed), start=1):
        model = build(trial["dropout"])
        result = fit(model, subset, val, time_budget=time_budget,
                     **faces_fit_options(trial, max_epochs, seed=seed + i, run_eagerly=run_eagerly))
        best = int(np.argmin(result.history["val_loss"]))
        rows.append({"trial": i, **trial, "n_train": len(subset.labels),
                     "epochs_run": result.epochs_run, "best_epoch": best + 1,
                     "val_loss": result.history["val_loss"][best],
                     "val_accuracy": result.history["val_accuracy"][best],
                     "stopped": result.stopped})
    table = pd.DataFrame(rows).set_index("trial")
    table["best"] = table.index == table["val_loss"].idxmin()
    return table


def best_vs_project(search: pd.DataFrame) -> pd.DataFrame:
    """The best trial's hyperparameters beside the faces project's Table 1 "Value Used".

    Used in 03 §6 (the faces project's random search)."""
    best = search[search["best"]].iloc[0]
    return pd.DataFrame({"ours (best trial)": [float(best[k]) for k in FACES_USED],
                         "project (Table 1, value used)": [study.value(v) for v in FACES_USED.values()]},
                        index=pd.Index(list(FACES_USED), name="hyperparameter"))


def faces_table2(y_true: np.ndarray, y_pred: np.ndarray,
                 course_row: Mapping[str, float]) -> pd.DataFrame:
    """The faces project's Table 2 for the 8-conv model: accuracy, sensitivity (REAL classified
    REAL) and specificity (FAKE classified FAKE) by its definitions
    (:func:`dflearn.metrics.faces_project_metrics`) beside its numbers, and the course's names for
    the same quantities (``course_row`` from :func:`dflearn.metrics.evaluate`, whose
    ``sensitivity`` is the recall of FAKE).

    Used in 03 §6 (the faces project's Table 2)."""
    ours = faces_project_metrics(y_true, y_pred)
    course = {"accuracy": ("accuracy", course_row["accuracy"]),
              "sensitivity": ("specificity (recall of REAL)", course_row["specificity"]),
              "specificity": ("sensitivity (recall of FAKE)", course_row["sensitivity"])}
    table = pd.DataFrame({"ours": [ours[k] for k in course],
                          "project (Table 2, own model)": [study.value(f"faces/own_cnn/{k}")
                                                           for k in course],
                          "same number in metrics.evaluate": [course[k][0] for k in course],
                          "its value": [float(course[k][1]) for k in course]},
                         index=pd.Index(list(course), name="metric (project's definition)"))
    return table



# ---------------------------------------------------------------- the open-ended task (03 §10)

def compact_parameters(model: Any, input_size: int, max_parameters: int) -> int:
    """The parameter count of ``model``, after checking that it is a Keras model of
    ``input_size`` x ``input_size`` RGB images with a 1-unit sigmoid or 2-unit softmax output and
    at most ``max_parameters`` parameters. Raises ``ValueError`` (``TypeError`` for a non-model)
    saying what is wrong and what to do.

    Used in 03 §10 (the open-ended task) and by its hidden test."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"my_compact_cnn must return a keras.Model (build it with keras.Input and "
                        f"the functional API), got {type(model).__name__}.")
    if tuple(model.input_shape) != (None, input_size, input_size, 3):
        raise ValueError(f"The model takes inputs of shape {model.input_shape}; it needs "
                         f"(None, {input_size}, {input_size}, 3): use keras.Input(shape=({input_size}, "
                         f"{input_size}, 3)), pixels 0-255.")
    if tuple(model.output_shape) not in ((None, 1), (None, 2)):
        raise ValueError(f"The model's output has shape {model.output_shape}; it needs (None, 1) "
                         "(sigmoid, P(REAL)) or (None, 2) (softmax, P(FAKE), P(REAL)).")
    n = int(model.count_params())
    if n > max_parameters:
        raise ValueError(f"The model has {n:,} parameters, more than the {max_parameters:,} "
                         "allowed: use fewer filters, or global average pooling instead of "
                         "Flatten before the dense layers.")
    return n


def train_compact(build: Callable[[int], keras.Model], train: Dataset, val: Dataset, *,
                  input_size: int, max_parameters: int, **fit_options: Any
                  ) -> tuple[keras.Model, FitResult]:
    """Build the student's model with ``build(input_size)``, check it
    (:func:`compact_parameters`) before any training, and train it with
    :func:`dflearn.training.fit` (``fit_options``: the notebook's fixed recipe).

    Used in 03 §10 (the open-ended task)."""
    model = build(input_size)
    compact_parameters(model, input_size, max_parameters)
    return model, fit(model, train, val, **fit_options)


def compact_score(model: keras.Model, test: Dataset, *, max_parameters: int,
                  bar: float) -> dict[str, float | bool]:
    """The open-ended task's score on ``test``: accuracy, ROC-AUC, parameters, and whether it
    passes (accuracy at least ``bar`` with at most ``max_parameters`` parameters; a model over
    the limit raises, see :func:`compact_parameters`).

    Used in 03 §10 (the open-ended task) and by its hidden test."""
    if not 0 < bar < 1:
        raise ValueError(f"bar is an accuracy in (0, 1), got {bar}.")
    if len(test.labels) == 0:
        raise ValueError("The test data holds no images: score on a split with both classes.")
    size = int(test.images.shape[1])
    n = compact_parameters(model, size, max_parameters)
    row = evaluate(model, test)
    accuracy = float(row["accuracy"])
    return {"accuracy": round(accuracy, 4), "roc_auc": round(float(row["roc_auc"]), 4),
            "parameters": n, "max_parameters": max_parameters, "bar": bar,
            "passed": accuracy >= bar}
