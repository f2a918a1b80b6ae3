"""The course's one training contract, :func:`fit`, for every Keras model of every notebook: a
seeded tf.data pipeline, augmentation, class weights, label smoothing, early stopping,
learning-rate schedules, weight decay and a time budget, all as plain arguments.

Core layer. Also here: the small composable pieces around it, namely augmentation layers,
schedules, fine-tuning (:func:`unfreeze_from` and friends, for two-phase transfer learning in 04
and 07) and :class:`Recipe`, a named set of :func:`fit` arguments that a profile can choose (03,
08, 09).
"""

from __future__ import annotations

import math
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from dflearn import training_clock
from dflearn.data import Dataset
from dflearn.models import build, build_optimizer, compile_model

SCHEDULES = ("plateau", "step", "cosine", None)
AUGMENTATIONS = ("none", "flip", "shift", "shift2", "geometric", "full")
ArrayPair = tuple[np.ndarray, np.ndarray]


class TrainingError(ValueError):
    """Bad arguments or data given to :func:`fit`."""


# --------------------------------------------------------------------------- data


def as_arrays(data: Dataset | ArrayPair | Sequence[np.ndarray], what: str = "data") -> ArrayPair:
    """``(images, labels)`` from a :class:`~dflearn.data.Dataset` or an ``(images, labels)`` pair,
    checked for shape and matching length."""
    if isinstance(data, Dataset):
        images, labels = data.images, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
    else:
        raise TrainingError(f"{what} must be a dflearn Dataset or an (images, labels) pair, "
                            f"got {type(data).__name__}.")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise TrainingError(f"{what} images must have shape (N, H, W, 3), got {images.shape}.")
    if labels.shape != (len(images),):
        raise TrainingError(f"{what} has {len(images)} images but labels of shape {labels.shape}.")
    if len(images) == 0:
        raise TrainingError(f"{what} is empty.")
    return images, labels


def augmentation(flip: bool = True, rotation: float = 0.05, zoom: float = 0.1, shift: float = 0.0,
                 photometric: bool = False, seed: int = 0) -> keras.Sequential:
    """Random flip / rotation / zoom / shift (and brightness / contrast when ``photometric``).

    Rotation is a fraction of a full turn, zoom and shift fractions of the image size; 0 turns
    one off. Shifts use nearest-neighbour sampling, so pixels move by whole steps and keep their
    exact values (fine artefacts survive); rotation and zoom resample and blur them. The layers
    work on 0-255 pixels and are only active during training.
    """
    steps: list[keras.layers.Layer] = []
    if flip:
        steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if shift:
        steps.append(keras.layers.RandomTranslation(shift, shift, fill_mode="reflect",
                                                    interpolation="nearest", seed=seed + 5))
    if rotation:
        steps.append(keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 1))
    if zoom:
        steps.append(keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2))
    if photometric:
        steps.append(keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed + 3))
        steps.append(keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed + 4))
    return keras.Sequential(steps, name="augmentation")


def augmentation_named(name: str, seed: int = 0) -> keras.Sequential | None:
    """``"none"``, ``"flip"`` (horizontal flips), ``"shift"`` (flips and shifts of up to 1/8 of
    the image, pixel values kept), ``"shift2"`` (the same up to 1/16: 2 pixels at 32x32), ``"geometric"`` (flip, rotation, zoom) or ``"full"``
    (geometric plus brightness and contrast)."""
    if name == "none":
        return None
    if name == "flip":
        return augmentation(rotation=0, zoom=0, seed=seed)
    if name == "shift":
        return augmentation(rotation=0, zoom=0, shift=0.125, seed=seed)
    if name == "shift2":  # airbench's translate of 2 pixels at 32x32
        return augmentation(rotation=0, zoom=0, shift=0.0625, seed=seed)
    if name in ("geometric", "full"):
        return augmentation(photometric=name == "full", seed=seed)
    raise TrainingError(f"Unknown augmentation {name!r}: use one of {AUGMENTATIONS}.")


def make_dataset(data: Dataset | ArrayPair, batch_size: int = 64, *, shuffle: bool = False,
                 seed: int = 0, augment: keras.Layer | None = None,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data`` pipeline of ``(float32 images, labels)``.

    Shuffling is seeded and reshuffles every epoch; it permutes indices and gathers whole
    batches, so it costs almost nothing. ``augment`` (e.g. :func:`augmentation`) runs on each
    batch in parallel with training. ``drop_remainder`` leaves out the last, smaller batch, so
    TensorFlow compiles the training step for one batch shape only (with shuffling, a different
    few images are left out each epoch).
    """
    images, labels = as_arrays(data)
    if batch_size < 1:
        raise TrainingError(f"batch_size must be at least 1, got {batch_size}.")
    images_t = tf.constant(images)
    labels_t = tf.constant(labels.astype("int32"))
    ds = tf.data.Dataset.range(len(labels))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder and len(labels) >= batch_size)

    def gather(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.cast(tf.gather(images_t, index), tf.float32), tf.gather(labels_t, index)

    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def balanced_class_weight(labels: np.ndarray) -> dict[int, float]:
    """``n / (2 * n_class)`` per class, so both classes weigh the same in the loss."""
    labels = np.asarray(labels).astype(int)
    counts = np.bincount(labels, minlength=2)
    if np.any(counts == 0):
        raise TrainingError(f"Cannot weight classes: class counts are {counts.tolist()}.")
    return {k: float(len(labels) / (2 * c)) for k, c in enumerate(counts)}


# --------------------------------------------------------------------------- callbacks


class TimeBudget(keras.callbacks.Callback):
    """Stop training once ``seconds`` of training time have passed (checked every batch).

    The epoch in progress ends early; validation and the other callbacks still run. At the end
    of training the seconds it took are charged to the notebook's clock
    (:func:`dflearn.training_clock.charge`; nothing happens when no clock runs).
    """

    def __init__(self, seconds: float):
        super().__init__()
        if not seconds > 0:
            raise TrainingError(f"time budget must be positive seconds, got {seconds!r}.")
        self.seconds = float(seconds)
        self.start = 0.0
        self.exhausted = False

    @classmethod
    def within_clock(cls, seconds: float | None) -> TimeBudget | None:
        """A budget of ``seconds`` (``None``: unlimited) clipped to what the notebook's clock
        has left (:func:`dflearn.training_clock.clip`); ``None`` when neither limits training."""
        seconds = training_clock.clip(seconds)
        return cls(seconds) if seconds else None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.start = time.perf_counter()
        self.exhausted = False

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if time.perf_counter() - self.start >= self.seconds:
            self.exhausted = True
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        training_clock.charge(time.perf_counter() - self.start)


class ImageCounter(keras.callbacks.Callback):
    """Counts the training images seen (``batch_size`` per batch: ``fit`` drops the last,
    incomplete batch), so throughput stays right when a time budget ends an epoch early."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size, self.images = batch_size, 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.images += self.batch_size


class LearningRateLog(keras.callbacks.Callback):
    """Adds the optimizer's learning rate to the logs as ``learning_rate`` at every epoch end."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def step_decay(initial: float, drop: float = 0.5, every: int = 3) -> keras.callbacks.Callback:
    """Multiply the learning rate by ``drop`` every ``every`` epochs."""
    if every < 1 or not 0 < drop <= 1:
        raise TrainingError(f"step decay needs every >= 1 and 0 < drop <= 1, got {every}, {drop}.")
    return keras.callbacks.LearningRateScheduler(lambda epoch: initial * drop ** (epoch // every))


class CosineDecay(keras.callbacks.Callback):
    """Lower the learning rate every batch along half a cosine, from ``initial`` to
    ``floor * initial`` at the end of training.

    Progress is the share of the planned batches done or, with ``time_budget`` seconds, the
    share of the budget used if that is larger: training cut short by the budget still ends
    with a small learning rate.
    """

    def __init__(self, initial: float, epochs: int, time_budget: float | None = None,
                 floor: float = 0.02):
        super().__init__()
        self.initial, self.epochs, self.time_budget, self.floor = initial, epochs, time_budget, floor
        self.epoch, self.steps, self.start = 0, None, 0.0

    def rate(self, progress: float) -> float:
        """The learning rate at ``progress`` (0 to 1) of training."""
        progress = min(1.0, max(0.0, progress))
        return self.initial * (self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.start = time.perf_counter()
        self.steps = self.params.get("steps") if self.params else None

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        steps = self.steps or 1
        progress = (self.epoch + batch / steps) / self.epochs
        if self.time_budget:
            progress = max(progress, (time.perf_counter() - self.start) / self.time_budget)
        self.model.optimizer.learning_rate = self.rate(progress)


def schedule_callback(schedule: str | None, learning_rate: float, monitor: str, patience: int,
                      epochs: int = 1, time_budget: float | None = None,
                      options: Mapping[str, Any] | None = None) -> list[keras.callbacks.Callback]:
    """The callback for ``schedule``: ``"plateau"`` (multiply by ``factor`` on a stalled
    ``monitor``), ``"step"`` (multiply by ``drop`` every ``every`` epochs), ``"cosine"`` (over
    ``epochs`` or the time budget, see :class:`CosineDecay`) or ``None``.

    ``options`` tune them: plateau ``factor`` (0.5), ``patience`` (half the early-stopping
    patience, at least 1), ``mode`` ("auto"; "max" for an accuracy), ``monitor`` (fit's) and
    ``min_lr`` (1e-6), as Keras' ReduceLROnPlateau; step ``drop`` (0.5) and ``every`` (3), e.g.
    the faces project's StepLR, ``{"drop": 0.1, "every": 5}`` (03); cosine ``follow_budget``
    (True; False: over ``epochs`` only, as 03's recipe was before issue 17, for its ablation).
    """
    options = dict(options or {})
    allowed = {"plateau": {"factor", "patience", "mode", "monitor", "min_lr"},
               "step": {"drop", "every"}, "cosine": {"follow_budget"}}.get(schedule or "", set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TrainingError(f"schedule_options {unknown} do not apply to schedule {schedule!r}; "
                            f"it takes {sorted(allowed) or 'none'}.")
    if schedule == "plateau":
        settings = {"monitor": monitor, "factor": 0.5, "patience": max(1, patience // 2),
                    "min_lr": 1e-6, **options}
        return [keras.callbacks.ReduceLROnPlateau(**settings)]
    if schedule == "step":
        return [step_decay(learning_rate, **options)]
    if schedule == "cosine":
        follow = options.get("follow_budget", True)
        return [CosineDecay(learning_rate, epochs, time_budget if follow else None)]
    if schedule is None:
        return []
    raise TrainingError(f"Unknown schedule {schedule!r}: use one of {SCHEDULES}.")


# --------------------------------------------------------------------------- fit


@dataclass
class FitResult:
    """What :func:`fit` did: the per-epoch history and how long it took."""

    history: dict[str, list[float]]
    seconds: float
    n_train: int
    cpu_seconds: float = float("nan")
    best_epoch: int | None = None
    stopped: str = "completed all epochs"
    settings: dict[str, Any] = field(default_factory=dict)
    images_seen: int | None = None  # training images processed (partial epochs included)

    @property
    def epochs_run(self) -> int:
        """Number of epochs that ran (the last one may have been cut by the time budget)."""
        return len(self.history.get("loss", []))

    @property
    def images_per_second(self) -> float:
        """Training throughput, validation included in the time: the images seen (a time budget
        may end the last epoch early), else ``n_train`` per epoch run."""
        images = self.n_train * self.epochs_run if self.images_seen is None else self.images_seen
        return images / self.seconds if self.seconds else float("nan")

    def summary(self) -> str:
        """One line: epochs, time, throughput and the best validation scores."""
        best = ""
        if "val_accuracy" in self.history:
            best = (f", best val_accuracy {max(self.history['val_accuracy']):.4f}"
                    f" (epoch {int(np.argmax(self.history['val_accuracy'])) + 1})")
        return (f"{self.epochs_run} epoch(s) in {self.seconds:.1f} s "
                f"(CPU time {self.cpu_seconds:.0f} s) "
                f"({self.images_per_second:.0f} images/s); {self.stopped}{best}")

    def plot(self, title: str = "Training curves") -> Any:
        """Training vs validation curves (see :func:`dflearn.plots.plot_history`)."""
        from dflearn.plots import plot_history

        return plot_history(self.history, title=title, best_epoch=self.best_epoch)


def _stop_reason(budget: TimeBudget | None, early: keras.callbacks.EarlyStopping | None) -> str:
    if budget is not None and budget.exhausted:
        return f"stopped by the {budget.seconds:.0f} s time budget"
    if early is not None and early.stopped_epoch > 0:
        return f"early stopping at epoch {early.stopped_epoch + 1}"
    return "completed all epochs"


def fit(model: keras.Model, train: Dataset | ArrayPair, val: Dataset | ArrayPair | None = None, *,
        epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-3,
        weight_decay: float = 0.0, schedule: str | None = "plateau", patience: int = 4,
        monitor: str = "val_loss", augment: bool | keras.Layer = False, photometric: bool = False,
        class_weight: str | Mapping[int, float] | None = None, time_budget: float | None = None,
        schedule_options: Mapping[str, Any] | None = None, label_smoothing: float = 0.0,
        ema: float = 0.0, seed: int = 0, compile: bool = True,
        run_eagerly: bool = False,
        callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 0) -> FitResult:
    """Train ``model`` on ``train`` (and validate on ``val``) and return a :class:`FitResult`.

    Args:
        model: a Keras model; compiled here (Adam/AdamW, loss matching the head) unless
            ``compile=False``.
        train, val: :class:`~dflearn.data.Dataset` or ``(images, labels)`` with 0-255 pixels.
        epochs, batch_size, learning_rate: the usual.
        weight_decay: decoupled weight decay (AdamW) when positive.
        schedule: ``"plateau"`` (ReduceLROnPlateau on ``monitor``), ``"step"``, ``"cosine"``
            or ``None``.
        patience: epochs without improvement of ``monitor`` before early stopping (the best
            weights are restored at the end); 0 disables early stopping. Needs ``val``.
        augment: ``True`` for flip/rotation/zoom (see :func:`augmentation`), or your own layer.
        photometric: with ``augment=True``, also random brightness and contrast.
        class_weight: ``"balanced"``, a ``{label: weight}`` dict, or ``None``.
        time_budget: stop after this many seconds of training (the epoch in progress ends);
            capped by the notebook's training clock when the profile sets one
            (:mod:`dflearn.training_clock`).
        schedule_options: the schedule's knobs (see :func:`schedule_callback`), e.g.
            ``{"drop": 0.1, "every": 5}`` for a step schedule or ``{"mode": "max", "patience": 5,
            "factor": 0.5, "monitor": "val_accuracy"}`` for a plateau one.
        label_smoothing: soften the targets (0 = none; see :func:`dflearn.models.loss_for`).
        ema: keep an exponential moving average of the weights with this momentum (0 = none;
            e.g. 0.99) and end with it (see :func:`dflearn.models.compile_model`).
        seed: seeds the shuffling and the augmentation layers.
        run_eagerly: skip TensorFlow's graph compilation. Slower per step, but for a few dozen
            steps (tiny data sets, the ``ci`` profile) it saves the seconds compiling takes.
        callbacks: extra Keras callbacks.
    """
    x_train, y_train = as_arrays(train, "train")
    if epochs < 1:
        raise TrainingError(f"epochs must be at least 1, got {epochs}.")
    if val is None and (patience or schedule == "plateau") and monitor.startswith("val_"):
        raise TrainingError(f"Early stopping and the plateau schedule watch {monitor!r}: pass "
                            "validation data, or use patience=0 and schedule='step' or None.")
    adapt_whitening(model, x_train, seed)
    if compile:
        compile_model(model, learning_rate, weight_decay, run_eagerly=run_eagerly,
                      label_smoothing=label_smoothing, ema=ema)  # builds the optimizer too
    else:  # compiled by the caller: build its optimizer before the first trace
        build_optimizer(getattr(model, "optimizer", None), model.trainable_variables)
    if augment is True:
        augment = augmentation(photometric=photometric, seed=seed)
    train_ds = make_dataset((x_train, y_train), batch_size, shuffle=True, seed=seed,
                            augment=augment or None, drop_remainder=True)
    val_ds = make_dataset(val, max(batch_size, 256)) if val is not None else None
    if class_weight == "balanced":
        class_weight = balanced_class_weight(y_train)

    budget = TimeBudget.within_clock(time_budget)  # the notebook's own budget caps every fit
    time_budget = budget.seconds if budget else None
    early = (keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                           restore_best_weights=True) if patience else None)
    scheduler = schedule_callback(schedule, learning_rate, monitor, patience, epochs, time_budget,
                                  schedule_options)
    counter = ImageCounter(batch_size)
    chosen = [LearningRateLog(), counter, *scheduler,
              *(cb for cb in (budget, early) if cb is not None), *callbacks]
    start, cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=chosen,
                        class_weight=class_weight, shuffle=False, verbose=verbose)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    best_epoch = early.best_epoch + 1 if early is not None and early.best is not None and \
        math.isfinite(early.best) else None
    settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                "weight_decay": weight_decay, "schedule": schedule, "augment": bool(augment),
                "schedule_options": dict(schedule_options or {}), "label_smoothing": label_smoothing,
                "ema": ema,
                "class_weight": class_weight, "time_budget": time_budget, "seed": seed}
    return FitResult({k: [float(v) for v in vals] for k, vals in history.history.items()},
                     seconds, len(y_train), cpu_seconds, best_epoch, _stop_reason(budget, early),
                     settings, counter.images)


def adapt_whitening(model: keras.Model, images: np.ndarray, seed: int = 0,
                    max_images: int = 5000) -> int:
    """Set the filters of every :class:`~dflearn.layers.PatchWhitening` in ``model`` that has
    none yet, from up to ``max_images`` of ``images`` as that layer receives them. Returns how
    many layers it adapted; :func:`fit` calls it first."""
    from dflearn.layers import PatchWhitening

    pending = [layer for layer in model.layers
               if isinstance(layer, PatchWhitening) and not layer.is_adapted]
    if pending:
        chosen = np.random.default_rng(seed).permutation(len(images))[:max_images]
        sample = np.asarray(images)[np.sort(chosen)].astype("float32")
    for layer in pending:
        feeder = keras.Model(model.inputs, layer.input)
        layer.adapt(np.asarray(feeder.predict(sample, batch_size=256, verbose=0)), seed=seed)
    return len(pending)


# --------------------------------------------------------------------------- fine-tuning


def layer_index(model: keras.Model, name: str) -> int:
    """Index of the layer called ``name`` in ``model.layers``; a clear error if it is absent."""
    for i, layer in enumerate(model.layers):
        if layer.name == name:
            return i
    raise TrainingError(f"Model {model.name!r} has no layer {name!r} (its {len(model.layers)} "
                        f"layers run from {model.layers[0].name!r} to {model.layers[-1].name!r}).")


def unfreeze_index(model: keras.Model, at: int | str) -> int:
    """``at`` itself when it is an index, else the first layer whose name starts with ``at``."""
    if isinstance(at, int):
        if not 0 <= at < len(model.layers):
            raise TrainingError(f"Cannot unfreeze from layer {at}: {model.name!r} has "
                                f"{len(model.layers)} layers.")
        return at
    for i, layer in enumerate(model.layers):
        if layer.name.startswith(at):
            return i
    raise TrainingError(f"No layer of {model.name!r} has a name starting with {at!r}.")


def _n_weights(variables: Sequence[Any]) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def unfreeze_from(model: keras.Model, start: int, keep_batchnorm_frozen: bool = True) -> pd.DataFrame:
    """Make ``model.layers[start:]`` trainable and everything before frozen.

    BatchNormalization layers stay frozen (``keep_batchnorm_frozen``), which in Keras also keeps
    them in inference mode. Returns one row per layer from ``start``: index, name, type,
    whether it now trains, and its number of weights.
    """
    if not 0 <= start < len(model.layers):
        raise TrainingError(f"start must be in 0..{len(model.layers) - 1}, got {start}.")
    model.trainable = True
    rows = []
    for i, layer in enumerate(model.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = i >= start and not (keep_batchnorm_frozen and is_bn)
        if i >= start:
            rows.append({"index": i, "layer": layer.name, "type": type(layer).__name__,
                         "trainable": layer.trainable, "weights": _n_weights(layer.weights)})
    return pd.DataFrame(rows).set_index("index")


def describe_unfrozen(table: pd.DataFrame, label: str, width: int = 100) -> str:
    """A few lines naming the unfrozen layers of :func:`unfreeze_from`'s table."""
    trains = table[table["trainable"]]
    kept = table[~table["trainable"]]
    first, last = table.iloc[0], table.iloc[-1]
    head = (f"{label}: unfreezing {len(table)} layers, index {table.index[0]} ({first['layer']}) "
            f"to {table.index[-1]} ({last['layer']}); {int(trains['weights'].sum()):,} weights "
            f"now train")
    if len(kept):
        head += f"; {len(kept)} BatchNormalization layers stay frozen"
    names = textwrap.fill(", ".join(table["layer"]), width=width, initial_indent="  ",
                          subsequent_indent="  ")
    return f"{head}:\n{names}"


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """An architecture and how to train it, e.g. a profile's recommended CNN for notebook 03."""

    arch: str = "personal"
    width: float = 1.0
    input_size: int = 32
    head: str = "softmax"
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str | None = "plateau"
    patience: int = 4
    monitor: str = "val_loss"
    augment: str = "flip"
    time_budget: float | None = None
    run_eagerly: bool = False
    label_smoothing: float = 0.0
    ema: float = 0.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> keras.Model:
        """A fresh, untrained model of this recipe (``options`` go to the builder)."""
        return build(self.arch, width=self.width, input_size=self.input_size, head=self.head,
                     **self.options)

    def fit_options(self, seed: int = 0, **overrides: Any) -> dict[str, Any]:
        """This recipe as keyword arguments of :func:`fit` (``overrides`` win):
        ``fit(model, train, val, **recipe.fit_options(seed))``."""
        return {"epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "schedule": self.schedule, "patience": self.patience, "monitor": self.monitor,
                "augment": augmentation_named(self.augment, seed) or False,
                "time_budget": self.time_budget, "run_eagerly": self.run_eagerly,
                "label_smoothing": self.label_smoothing, "ema": self.ema,
                "seed": seed, **overrides}

    def describe(self) -> str:
        """One line with every setting."""
        return ", ".join(f"{k}={v}" for k, v in self.__dict__.items())


class RecipeSettings(Protocol):
    """What :func:`recipe` reads from a notebook's settings (``dflearn.course.config``)."""

    recipe: Mapping[str, Any]
    width: float
    image_size: int
    epochs: int
    batch_size: int


def recipe(settings: RecipeSettings, **overrides: Any) -> Recipe:
    """The recipe in ``settings.recipe``, with the profile's width, image size, epochs and batch
    size; keyword arguments that are not ``None`` override any field. Used in 03, 08 and 09.

    Choosing another ``arch`` drops the recipe's builder ``options`` (they belong to its own
    architecture) unless ``options`` is passed too.
    """
    base = dict(settings.recipe)
    if overrides.get("arch") not in (None, base.get("arch")):
        base.pop("options", None)
    fields = {"width": settings.width, "input_size": settings.image_size,
              "epochs": settings.epochs, "batch_size": settings.batch_size, **base}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(fields) - set(Recipe.__dataclass_fields__)
    if unknown:
        raise TrainingError(f"Unknown recipe field(s) {sorted(unknown)}; valid: "
                            f"{sorted(Recipe.__dataclass_fields__)}.")
    return Recipe(**fields)



# --------------------------------------------------------------------------- the recipe's ablation

ABLATION_FILE = "benchmarks/results/cnn_ablation_cifake-sample_120s.csv"
ABLATION_SOURCE = ("benchmarks/cnn_ablation.py on ../shared/cifake-sample (20,000 images of "
                   "CIFAKE's train split): 15,200 train / 4,000 test images, each variant trained "
                   "for 120 s on 2 CPU cores; two runs, A and B, each row one training")


def recipe_ablation(path: str | None = None) -> pd.DataFrame:
    """The ablation of the ``cpu`` recipe as measured and committed (:data:`ABLATION_FILE`,
    from :data:`ABLATION_SOURCE`), with ``delta_points``: each variant's test accuracy minus its
    own run's baseline, in percentage points. Used in 03 §5 (the recipe's tricks)."""
    from dflearn.paths import course_root

    table = pd.read_csv(path or course_root() / ABLATION_FILE).fillna({"note": ""})
    baseline = table[table["variant"].str.startswith("baseline")].set_index("run")["test_accuracy"]
    table["delta_points"] = ((table["test_accuracy"] - table["run"].map(baseline)) * 100).round(2)
    return table.set_index(["run", "variant"])


def ablation_repeats(table: pd.DataFrame) -> pd.DataFrame:
    """The variants :func:`recipe_ablation` measured in more than one run: test accuracy and
    ``delta_points`` per run, side by side. The spread between runs is the noise a single
    change must beat. Used in 03 §5."""
    runs = table.index.get_level_values("run")
    variants = table.index.get_level_values("variant")
    repeated = [v for v in dict.fromkeys(variants) if len(set(runs[variants == v])) > 1]
    picked = table[variants.isin(repeated)][["test_accuracy", "delta_points"]]
    return picked.unstack("run").reindex(repeated)
