"""Transfer learning as the seed study did it, with ``keras.applications`` backbones.

Each backbone (VGG16, DenseNet121, ResNet50) is trained in two phases, following keras.io's
transfer-learning guide:

1. **frozen**: the pretrained base is frozen and only a new head is trained;
2. **fine-tuned**: the base is unfrozen from the study's unfreeze point and the whole model is
   trained again with a low learning rate. The base is always called with ``training=False`` and
   its BatchNormalization layers stay frozen, so their statistics are never updated.

Models take 32x32 (or any ``source_size``) RGB images of 0-255 pixels: a ``Resizing`` layer upsizes
them to the backbone's input size and :class:`BackbonePreprocess` applies that backbone's own
``preprocess_input``.

The module also fine-tunes the study's Personal CNN on a second dataset from its layer 23
(:data:`PERSONAL_UNFREEZE_LAYER`), and builds the results table with the reported numbers (the
study's and the faces project's) beside ours.
"""

from __future__ import annotations

import contextlib
import io
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from dflearn.config import NotebookSettings
from dflearn.data import Dataset
from dflearn.metrics import STUDY_COLUMNS, evaluate
from dflearn.models import classifier_head, compile_model, personal_cnn
from dflearn.sources import DatasetChoice
from dflearn.splits import Splits, balanced_subset, make_splits, stratified_split
from dflearn.training import FitResult, fit

RANDOM_INIT = "random init"
IMAGENET = "imagenet"
# The study's layer 23 of its 40-layer Personal CNN, read as "counting from 1, input layer not
# counted": the first convolution of the third block. We unfreeze from that layer by name.
PERSONAL_STUDY_LAYER = 23
PERSONAL_STUDY_LAYERS = 40
PERSONAL_UNFREEZE_LAYER = "b3_conv1"
# The study's Personal CNN on its second dataset (accuracy after fine-tuning from layer 23).
PERSONAL_SECOND_REPORTED = 0.811


class TransferError(ValueError):
    """An unknown backbone or head, an impossible input size, or bad weights."""


@dataclass(frozen=True)
class Backbone:
    """A ``keras.applications`` backbone and how the study used it.

    ``unfreeze_at`` is the index of the first layer to unfreeze, or a layer-name prefix (the first
    layer whose name starts with it). ``weights_file`` is the no-top ImageNet weights file name
    ``keras.applications`` downloads into ``~/.keras/models/``.
    """

    name: str
    label: str
    constructor: str
    module: str
    weights_file: str
    unfreeze_at: int | str
    study_unfreeze: str
    study_accuracy: float
    min_size: int = 32

    def application(self) -> Callable[..., keras.Model]:
        """The ``keras.applications`` constructor, e.g. ``keras.applications.ResNet50``."""
        return getattr(keras.applications, self.constructor)

    def preprocess(self, images: Any) -> Any:
        """This backbone's own ``preprocess_input`` (0-255 RGB in)."""
        return getattr(keras.applications, self.module).preprocess_input(images)


BACKBONES: Mapping[str, Backbone] = {
    "vgg16": Backbone("vgg16", "VGG16", "VGG16", "vgg16",
                      "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", 14,
                      "layer 14 onward", 0.8097),
    "densenet121": Backbone("densenet121", "DenseNet121", "DenseNet121", "densenet",
                            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", 299,
                            "from layer 299 of 429", 0.8378),
    "resnet50": Backbone("resnet50", "ResNet50", "ResNet50", "resnet50",
                         "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "conv5_",
                         "the last stage (conv5)", 0.9355),
}
# The study's validation accuracies, keyed by our labels.
STUDY_ACCURACY: Mapping[str, float] = {b.label: b.study_accuracy for b in BACKBONES.values()}
FACES_LABEL = "DenseNet121 (faces head)"
# Every reported accuracy we compare with: (accuracy, who reported it and on what).
REPORTED: Mapping[str, tuple[float, str]] = {
    **{label: (accuracy, "study: CIFAKE, validation") for label, accuracy in STUDY_ACCURACY.items()},
    FACES_LABEL: (0.903, "faces project: GAN faces, test"),
}


def get_backbone(name: str) -> Backbone:
    """The :class:`Backbone` called ``name`` (``vgg16``, ``densenet121`` or ``resnet50``)."""
    key = str(name).lower()
    if key not in BACKBONES:
        raise TransferError(f"Unknown backbone {name!r}: use one of {', '.join(BACKBONES)}.")
    return BACKBONES[key]


def weights_path(name: str) -> Path:
    """Where ``keras.applications`` looks for (and downloads) the backbone's ImageNet weights:
    ``$KERAS_HOME/models/<file>`` (``~/.keras/models/<file>`` by default).

    Keras reads ``KERAS_HOME`` once, when it is imported; this asks Keras for the folder it uses.
    """
    try:
        from keras.src.backend.config import keras_home  # Keras' own (private) accessor
        home = Path(keras_home())
    except ImportError:  # another Keras layout: the documented default
        home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return home.expanduser() / "models" / get_backbone(name).weights_file


# --------------------------------------------------------------------------- building


@keras.saving.register_keras_serializable(package="dflearn")
class BackbonePreprocess(layers.Layer):
    """A backbone's own ``preprocess_input`` as a layer, so saved models carry it."""

    def __init__(self, backbone: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.backbone = get_backbone(backbone).name

    def call(self, inputs: Any) -> Any:
        return get_backbone(self.backbone).preprocess(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


@keras.saving.register_keras_serializable(package="dflearn")
class TransferNet(keras.Model):
    """A functional model whose training step records gradients for its trainable weights only.

    Keras' default step lets TensorFlow's tape watch every variable the forward pass reads,
    frozen ones included, so the backward pass runs through the whole frozen backbone (on a CPU,
    several times the cost of the forward pass). Watching only the trainable weights stops it at
    the first trainable layer: the same gradients for much less work. Written as in keras.io's
    "Customizing what happens in fit()" guide.
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


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load_backbone(name: str, input_size: int, weights: str | None = IMAGENET
                  ) -> tuple[keras.Model, str]:
    """The backbone without its top, for ``input_size`` square images, and the weights it got.

    With ``weights="imagenet"`` the real ``keras.applications`` loading path runs (download, or
    the file already in ``~/.keras/models``). If that fails, for example offline, one line says
    so and the backbone starts from random initialisation; the second value is then
    ``"random init"`` so results can be labelled.
    """
    spec = get_backbone(name)
    if weights not in (IMAGENET, None):
        raise TransferError(f"weights must be 'imagenet' or None, got {weights!r}.")
    if int(input_size) != input_size or input_size < spec.min_size:
        raise TransferError(f"{spec.label} needs input_size of at least {spec.min_size} pixels, "
                            f"got {input_size!r}.")
    shape = (int(input_size), int(input_size), 3)
    if weights == IMAGENET:
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # keras prints "Downloading data..."
                return spec.application()(include_top=False, weights=IMAGENET, input_shape=shape), IMAGENET
        except Exception as error:  # offline, blocked or corrupt file: any failure means no weights
            print(f"ImageNet weights for {spec.label} unavailable ({_first_line(error)}); continuing "
                  f"from random initialisation, results labelled '{RANDOM_INIT}' (to use them "
                  f"offline, put {spec.weights_file} in {weights_path(name).parent}).")
    return spec.application()(include_top=False, weights=None, input_shape=shape), RANDOM_INIT


def study_head(x: keras.KerasTensor) -> keras.KerasTensor:
    """Global average pooling, dropout 0.2 and a 2-unit softmax (keras.io's guide)."""
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.2, name="head_dropout")(x)
    return classifier_head(x, "softmax")


def faces_head(x: keras.KerasTensor) -> keras.KerasTensor:
    """The faces project's DenseNet121 head: pooling, dense 512, BatchNorm, dropout 0.35, sigmoid."""
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(512, activation="relu", name="head_dense512")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.Dropout(0.35, name="head_dropout")(x)
    return classifier_head(x, "sigmoid")


HEADS: Mapping[str, Callable[[keras.KerasTensor], keras.KerasTensor]] = {
    "study": study_head, "faces": faces_head}


@dataclass
class TransferModel:
    """A full model, the backbone inside it, and what it was built with."""

    model: keras.Model
    base: keras.Model
    backbone: Backbone
    weights: str
    input_size: int
    head: str

    @property
    def label(self) -> str:
        """E.g. ``ResNet50`` or ``DenseNet121 (faces head)``."""
        return self.backbone.label + ("" if self.head == "study" else f" ({self.head} head)")

    def unfreeze_index(self) -> int:
        """Index in ``base.layers`` of the first layer the study unfroze."""
        return unfreeze_index(self.base, self.backbone.unfreeze_at)

    def freeze(self) -> None:
        """Phase 1: freeze the whole backbone (the head stays trainable)."""
        self.base.trainable = False

    def unfreeze(self) -> pd.DataFrame:
        """Phase 2: unfreeze the backbone from the study's point; return the unfrozen layers."""
        return unfreeze_from(self.base, self.unfreeze_index())


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise TransferError(f"Unknown head {head!r}: use one of {', '.join(HEADS)}.")


def assemble(base: keras.Model, backbone: str, *, source_size: int = 32, head: str = "study",
             weights: str = RANDOM_INIT) -> TransferModel:
    """Wrap ``base``: upsize ``source_size`` images to its input, apply the backbone's
    preprocessing, call it with ``training=False`` (BatchNorm in inference mode) and add ``head``.
    The base starts frozen."""
    spec = get_backbone(backbone)
    _check_head(head)
    size = int(base.input_shape[1])
    base.trainable = False
    inputs = keras.Input(shape=(source_size, source_size, 3), name="image")
    x = inputs
    if size != source_size:
        x = layers.Resizing(size, size, interpolation="bilinear", name="upsize")(x)
    x = BackbonePreprocess(spec.name, name=f"{spec.name}_preprocess")(x)
    x = base(x, training=False)
    model = TransferNet(inputs, HEADS[head](x), name=f"{spec.name}_{head}")
    return TransferModel(model, base, spec, weights, size, head)


def transfer_model(backbone: str, *, input_size: int | None = None, source_size: int = 32,
                   weights: str | None = IMAGENET, head: str = "study") -> TransferModel:
    """Backbone + new head for ``source_size`` images of 0-255 pixels, upsized to ``input_size``
    (default: the larger of ``source_size`` and the backbone's minimum, 32)."""
    spec = get_backbone(backbone)
    _check_head(head)
    size = max(spec.min_size, source_size) if input_size is None else int(input_size)
    base, used = load_backbone(spec.name, size, weights)
    return assemble(base, spec.name, source_size=source_size, head=head, weights=used)


# The models notebook 04 trains: the study's three backbones, then the faces project's head.
STUDY_MODELS: tuple[tuple[str, str], ...] = (
    ("vgg16", "study"), ("densenet121", "study"), ("resnet50", "study"), ("densenet121", "faces"))


def backbone_table(input_size: int = 32) -> pd.DataFrame:
    """The backbones: keras.applications constructor, input sizes, preprocessing, the study's
    unfreeze point and accuracy, and the ImageNet weights file."""
    rows = {b.label: {"keras.applications": b.constructor, "min_input": b.min_size,
                      "input_used": max(b.min_size, int(input_size)),
                      "preprocess_input": f"{b.module}.preprocess_input",
                      "study_unfreeze": b.study_unfreeze, "study_accuracy": b.study_accuracy,
                      "weights_file": b.weights_file} for b in BACKBONES.values()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "backbone"
    return table


# --------------------------------------------------------------------------- unfreezing


def layer_index(model: keras.Model, name: str) -> int:
    """Index of the layer called ``name`` in ``model.layers``; a clear error if it is absent."""
    for i, layer in enumerate(model.layers):
        if layer.name == name:
            return i
    raise TransferError(f"Model {model.name!r} has no layer {name!r} (its {len(model.layers)} "
                        f"layers run from {model.layers[0].name!r} to {model.layers[-1].name!r}).")


def unfreeze_index(model: keras.Model, at: int | str) -> int:
    """``at`` itself when it is an index, else the first layer whose name starts with ``at``."""
    if isinstance(at, int):
        if not 0 <= at < len(model.layers):
            raise TransferError(f"Cannot unfreeze from layer {at}: {model.name!r} has "
                                f"{len(model.layers)} layers.")
        return at
    for i, layer in enumerate(model.layers):
        if layer.name.startswith(at):
            return i
    raise TransferError(f"No layer of {model.name!r} has a name starting with {at!r}.")


def _n_weights(variables: Sequence[Any]) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def unfreeze_from(model: keras.Model, start: int, keep_batchnorm_frozen: bool = True) -> pd.DataFrame:
    """Make ``model.layers[start:]`` trainable and everything before frozen.

    BatchNormalization layers stay frozen (``keep_batchnorm_frozen``), which in Keras also keeps
    them in inference mode. Returns one row per layer from ``start``: index, name, type,
    whether it now trains, and its number of weights.
    """
    if not 0 <= start < len(model.layers):
        raise TransferError(f"start must be in 0..{len(model.layers) - 1}, got {start}.")
    model.trainable = True
    rows = []
    for i, layer in enumerate(model.layers):
        is_bn = isinstance(layer, layers.BatchNormalization)
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


# --------------------------------------------------------------------------- training


def compile_for(model: keras.Model, learning_rate: float, run_eagerly: bool = False) -> keras.Model:
    """Compile with :func:`dflearn.models.compile_model` (Adam, loss matching the head).

    ``run_eagerly`` skips building a TensorFlow graph: slower per batch but no tracing, which is
    faster for a handful of batches through a deep backbone (the ``ci`` profile).
    """
    compile_model(model, learning_rate)
    model.run_eagerly = run_eagerly
    return model


@dataclass
class TrainingPlan:
    """How each phase is trained; :func:`plan_from_settings` reads it from a profile."""

    epochs: int = 4
    finetune_epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 1e-3
    finetune_learning_rate: float = 1e-5
    patience: int = 0
    time_budget: float | None = None
    run_eagerly: bool = False
    seed: int = 0


def plan_from_settings(settings: NotebookSettings, seed: int = 0) -> TrainingPlan:
    """The notebook settings' epochs and batch size plus the ``extra`` knobs of
    :class:`TrainingPlan` (``finetune_epochs``, ``finetune_learning_rate``, ``time_budget``...)."""
    known = set(TrainingPlan.__dataclass_fields__) - {"epochs", "batch_size", "seed"}
    extra = {k: v for k, v in settings.extra.items() if k in known}
    extra.setdefault("finetune_epochs", settings.epochs)
    return TrainingPlan(epochs=settings.epochs, batch_size=settings.batch_size, seed=seed, **extra)


def train_phase(model: keras.Model, splits: Splits, plan: TrainingPlan, epochs: int,
                learning_rate: float) -> FitResult:
    """One phase: recompile (the trainable flags may have changed) and fit on ``splits``."""
    compile_for(model, learning_rate, plan.run_eagerly)
    return fit(model, splits.train, splits.val, epochs=epochs, batch_size=plan.batch_size,
               learning_rate=learning_rate, schedule=None, patience=plan.patience,
               time_budget=plan.time_budget, seed=plan.seed, compile=False)


@dataclass
class TransferRun:
    """Both phases of one model: fits, test metrics and the unfrozen layers."""

    label: str
    weights: str
    fits: dict[str, FitResult] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    unfrozen: pd.DataFrame | None = None


def two_phase(tm: TransferModel, splits: Splits, plan: TrainingPlan,
              report: Callable[[str], None] | None = print) -> TransferRun:
    """Train ``tm`` frozen, then fine-tuned from the study's point, measuring the test split
    after each phase. ``report`` receives the unfrozen-layer listing (``None``: silent)."""
    run = TransferRun(tm.label, tm.weights)
    tm.freeze()
    run.fits["frozen"] = train_phase(tm.model, splits, plan, plan.epochs, plan.learning_rate)
    run.metrics["frozen"] = evaluate(tm.model, splits.test, batch_size=plan.batch_size)
    run.unfrozen = tm.unfreeze()
    if report is not None:
        report(describe_unfrozen(run.unfrozen, f"{tm.label} ({tm.backbone.study_unfreeze})"))
    run.fits["fine-tuned"] = train_phase(tm.model, splits, plan, plan.finetune_epochs,
                                         plan.finetune_learning_rate)
    run.metrics["fine-tuned"] = evaluate(tm.model, splits.test, batch_size=plan.batch_size)
    return run


# --------------------------------------------------------------------------- results


TABLE_COLUMNS = [c for c in STUDY_COLUMNS if c in (
    "loss", "accuracy", "precision_FAKE", "recall_FAKE", "f1_FAKE",
    "precision_REAL", "recall_REAL", "f1_REAL")]


def results_table(runs: Sequence[TransferRun],
                  reported: Mapping[str, tuple[float, str]] = REPORTED) -> pd.DataFrame:
    """One row per model and phase: the weights used, the study's metrics on the test split, and
    the reported accuracy beside ours with who reported it (NaN and "" where nobody did)."""
    if not runs:
        raise TransferError("results_table needs at least one TransferRun.")
    rows = {}
    for run in runs:
        accuracy, source = reported.get(run.label, (float("nan"), ""))
        for phase, values in run.metrics.items():
            rows[(run.label, phase)] = {"weights": run.weights,
                                        **{c: values[c] for c in TABLE_COLUMNS},
                                        "reported_accuracy": accuracy, "reported_by": source}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "phase"]
    return table


def _ranking(values: Mapping[str, float]) -> str:
    return " > ".join(sorted(values, key=lambda k: -values[k]))


def findings(table: pd.DataFrame, reported: Mapping[str, float] = STUDY_ACCURACY) -> str:
    """A sentence on which of the study's findings hold in ``table`` (from :func:`results_table`):
    the ranking of the backbones after fine-tuning, and whether fine-tuning helped."""
    accuracy = table["accuracy"].unstack("phase")
    common = [m for m in reported if m in accuracy.index]
    if not common:
        raise TransferError(f"No model of the study ({', '.join(reported)}) is in the table.")
    ours = {m: float(accuracy.loc[m, "fine-tuned"]) for m in common}
    theirs = {m: float(reported[m]) for m in common}
    same = _ranking(ours) == _ranking(theirs)
    helped = [m for m in accuracy.index if accuracy.loc[m, "fine-tuned"] > accuracy.loc[m, "frozen"]]
    weights = sorted(set(table["weights"]))
    text = (f"The study's ranking {_ranking(theirs)} {'holds' if same else 'does not hold'} here "
            f"(ours after fine-tuning: {_ranking(ours)}); fine-tuning raised test accuracy for "
            f"{len(helped)} of {len(accuracy)} models ({', '.join(helped) or 'none'}).")
    if FACES_LABEL in accuracy.index and "DenseNet121" in accuracy.index:
        faces, plain = (float(accuracy.loc[m, "fine-tuned"]) for m in (FACES_LABEL, "DenseNet121"))
        text += (f" The faces project's head (dense 512, BatchNorm, dropout) "
                 f"{'beat' if faces > plain else 'did not beat'} the study's plain head on "
                 f"DenseNet121 ({faces:.1%} vs {plain:.1%}; the faces project's 90.3% was "
                 "measured on GAN faces, not CIFAKE).")
    if RANDOM_INIT in weights:
        text += (f" Models marked '{RANDOM_INIT}' started without ImageNet weights, so they test "
                 "the architectures, not transfer learning.")
    return text


# --------------------------------------------------------------------------- Personal CNN


def personal_unfreeze_index(model: keras.Model) -> int:
    """Where the study's "layer 23 of 40" falls in our Personal CNN: its first convolution of
    block 3 (:data:`PERSONAL_UNFREEZE_LAYER`)."""
    return layer_index(model, PERSONAL_UNFREEZE_LAYER)


def train_personal_cnn(splits: Splits, settings: NotebookSettings, seed: int = 0,
                       run_eagerly: bool = False) -> keras.Model:
    """A small Personal CNN trained on ``splits`` with the profile's width, epochs and batch size
    (used when notebook 03's saved model is absent)."""
    model = personal_cnn(width=settings.width, input_size=splits.train.images.shape[1])
    compile_for(model, 1e-3, run_eagerly)
    fit(model, splits.train, splits.val, epochs=settings.epochs, batch_size=settings.batch_size,
        schedule=None, patience=0, seed=seed, compile=False)
    return model


def unused(full: Dataset, *parts: Dataset) -> Dataset:
    """The images of ``full`` whose paths are in none of ``parts``."""
    taken = set(np.concatenate([p.paths for p in parts]).tolist()) if parts else set()
    keep = np.array([p not in taken for p in full.paths], dtype=bool)
    return full.subset(keep)


def recompressed_splits(full_train: Dataset, splits: Splits, quality: int = 20,
                        n_per_class: int | None = None, seed: int = 0) -> Splits:
    """A stand-in "second dataset" made from the first: training images that ``splits`` did not
    use, re-encoded as JPEG of ``quality``, split 90:10 into train and validation; its test set
    is ``splits.test`` re-encoded the same way (the same pictures, a different pipeline)."""
    from dflearn.robustness import jpeg  # keeps this module's import light

    pool = unused(full_train, splits.train, splits.val)
    if len(np.unique(pool.labels)) < 2:
        raise TransferError("No unused training images of both classes are left for a second "
                            "dataset: use fewer images per class or pass a second data folder.")
    pool = balanced_subset(pool, n_per_class, seed)
    pool = Dataset(jpeg(pool.images, quality), pool.labels, pool.paths)
    train, val = stratified_split(pool, 0.1, seed)
    test = Dataset(jpeg(splits.test.images, quality), splits.test.labels, splits.test.paths)
    return Splits(train, val, test)


@dataclass(frozen=True)
class SecondDataset:
    """The Personal CNN's second dataset: its splits, a short name and what it really is."""

    splits: Splits
    name: str
    description: str


def folder_splits(root: str | os.PathLike, n_per_class: int | None = None, seed: int = 0,
                  image_size: int | None = None) -> Splits:
    """Seeded, class-balanced splits of a CIFAKE-layout folder (10% of train for validation),
    at most ``n_per_class`` images per class and split (fewer when a class has fewer)."""
    from dflearn.data import load_cifake

    train, test = (load_cifake(root, split, image_size=image_size) for split in ("train", "test"))

    def capped(ds: Dataset) -> int | None:
        return None if n_per_class is None else min(n_per_class, *ds.counts().values())

    return make_splits(train, test, n_train_per_class=capped(train), n_test_per_class=capped(test),
                       seed=seed)


def second_dataset(first: DatasetChoice, full_train: Dataset, splits: Splits,
                   folder: str | os.PathLike = "", *, search: bool = True, quality: int = 20,
                   n_per_class: int | None = None, seed: int = 0) -> SecondDataset:
    """The dataset the Personal CNN is fine-tuned on, chosen in this order:

    1. ``folder``, a CIFAKE-layout folder, when given;
    2. when the first dataset (``first``, a :class:`dflearn.sources.DatasetChoice`) is CIFAKE:
       the embedded practice set (other photos, fakes from a small GAN, not Stable Diffusion);
    3. when the first is the practice set and ``search`` is true: a CIFAKE folder on this
       machine (``$DFLEARN_DATA`` or ``data/cifake/``; nothing is downloaded);
    4. otherwise a stand-in: :func:`recompressed_splits` of the first dataset.

    Images are resized to the first dataset's size, so the model takes them as they are.
    """
    from dflearn.paths import embedded_data_dir
    from dflearn.sources import resolve_dataset

    size = int(splits.train.images.shape[1])
    if folder:
        return SecondDataset(folder_splits(folder, n_per_class, seed, size), "the folder given",
                             f"the CIFAKE-layout folder {folder}")
    if not first.is_embedded:
        return SecondDataset(
            folder_splits(embedded_data_dir(), n_per_class, seed, size), "practice set",
            "the embedded practice set: other photographs, and fakes from a small GAN instead "
            "of Stable Diffusion (a new generator and new pictures)")
    found = resolve_dataset(None, mode="auto", download=False) if search else None
    if found is not None and not found.is_embedded:
        return SecondDataset(
            folder_splits(found.root, n_per_class, seed, size), "CIFAKE",
            f"CIFAKE from {found.source}: CIFAR-10 photographs and Stable Diffusion fakes (a "
            "new generator and new pictures)")
    return SecondDataset(
        recompressed_splits(full_train, splits, quality, n_per_class, seed),
        f"practice set, JPEG {quality}",
        f"a stand-in, not a second source: practice images this notebook did not train on, "
        f"re-encoded as JPEG quality {quality} (the same generator and photographs through "
        f"another pipeline; no CIFAKE folder was searched or found)")


def personal_table(before: Mapping[str, float], after: Mapping[str, float],
                   reported: float = PERSONAL_SECOND_REPORTED) -> pd.DataFrame:
    """Accuracy on the first and the second test set before and after fine-tuning, with the
    study's reported accuracy on its second dataset in a last row."""
    table = pd.DataFrame({"before fine-tuning": before, "after fine-tuning": after}).T
    table.loc["study (its second dataset)"] = {c: reported if c == "second test" else float("nan")
                                               for c in table.columns}
    table.columns.name = "accuracy on"
    return table
