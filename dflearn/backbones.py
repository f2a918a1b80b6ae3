"""``keras.applications`` backbones wrapped for CIFAKE-sized images: the study's three (VGG16,
DenseNet121, ResNet50) with the study's head or the faces project's.

Core layer. Notebook 04 trains them in two phases (:mod:`dflearn.transfer`); the stand-in for
``04_resnet50`` that 07 needs is built here too (:mod:`dflearn.artifacts`).

Models take 32x32 (or any ``source_size``) RGB images of 0-255 pixels: a ``Resizing`` layer upsizes
them to the backbone's input size and :class:`~dflearn.layers.BackbonePreprocess` applies that
backbone's own ``preprocess_input``. The backbone is always called with ``training=False``, so its
BatchNormalization layers stay in inference mode.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import keras
import pandas as pd
from keras import layers

from dflearn import study
from dflearn.layers import PREPROCESS_MODULES, BackbonePreprocess, TransferNet, preprocess_input
from dflearn.models import classifier_head
from dflearn.training import unfreeze_from, unfreeze_index

RANDOM_INIT = "random init"
IMAGENET = "imagenet"


class BackboneError(ValueError):
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
    weights_file: str
    unfreeze_at: int | str
    study_unfreeze: str
    min_size: int = 32

    def application(self) -> Callable[..., keras.Model]:
        """The ``keras.applications`` constructor, e.g. ``keras.applications.ResNet50``."""
        return getattr(keras.applications, self.constructor)

    @property
    def module(self) -> str:
        """The ``keras.applications`` module holding its ``preprocess_input``."""
        return PREPROCESS_MODULES[self.name]

    def preprocess(self, images: Any) -> Any:
        """This backbone's own ``preprocess_input`` (0-255 RGB in)."""
        return preprocess_input(self.name, images)


# ``study_unfreeze`` quotes the study; ``unfreeze_at`` is our reading of it (04 §4 shows the layers):
# VGG16 index 14 is ``block4_pool`` (only block 5 trains); DenseNet121 index 299 of 427 (429 with
# the ImageNet classifier) is ``conv4_block23_1_relu``; ResNet50's "Block 8", counting bottleneck
# blocks (conv2 x3, conv3 x4), is ``conv4_block1``.
BACKBONES: Mapping[str, Backbone] = {
    "vgg16": Backbone("vgg16", "VGG16", "VGG16",
                      "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      int(study.value("study/unfreeze/vgg16/layer")), "from layer 14 onward"),
    "densenet121": Backbone("densenet121", "DenseNet121", "DenseNet121",
                            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                            int(study.value("study/unfreeze/densenet121/layer")),
                            "from layer 299 out of 429"),
    "resnet50": Backbone("resnet50", "ResNet50", "ResNet50",
                         "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "conv4_block1_",
                         "starting at Block 8"),
}


def get_backbone(name: str) -> Backbone:
    """The :class:`Backbone` called ``name`` (``vgg16``, ``densenet121`` or ``resnet50``)."""
    key = str(name).lower()
    if key not in BACKBONES:
        raise BackboneError(f"Unknown backbone {name!r}: use one of {', '.join(BACKBONES)}.")
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
        raise BackboneError(f"weights must be 'imagenet' or None, got {weights!r}.")
    if int(input_size) != input_size or input_size < spec.min_size:
        raise BackboneError(f"{spec.label} needs input_size of at least {spec.min_size} pixels, "
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
    x = layers.Dense(int(study.value("faces/densenet121/head_units")), activation="relu",
                     name="head_dense512")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.Dropout(study.value("faces/densenet121/head_dropout"), name="head_dropout")(x)
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

    def unfreeze_index(self, at: int | str | None = None) -> int:
        """Index in ``base.layers`` of the first layer the study unfroze, or of ``at`` (an
        index or a layer-name prefix: another reading of the study's words)."""
        return unfreeze_index(self.base, self.backbone.unfreeze_at if at is None else at)

    def freeze(self) -> None:
        """Phase 1: freeze the whole backbone (the head stays trainable)."""
        self.base.trainable = False

    def unfreeze(self, at: int | str | None = None) -> pd.DataFrame:
        """Phase 2: unfreeze the backbone from the study's point (or from ``at``); return the
        unfrozen layers."""
        return unfreeze_from(self.base, self.unfreeze_index(at))


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise BackboneError(f"Unknown head {head!r}: use one of {', '.join(HEADS)}.")


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
