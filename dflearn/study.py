"""Every number the seed documents report, in one shape, each cited.

Core layer. No other module defines a reported number: lessons and notebooks look them up here
(:func:`value`, :func:`reported`) and print them beside ours. Keys read
``<seed>/<model or quantity>/<metric>``.

The seeds: ``study`` ("Applications of Existing CNNs to Deepfake Detection", CIFAKE), and the
companion projects ``lightweight`` (MobileNet-style detector), ``gan`` (DCGAN/WGAN-GP),
``ensemble`` (ThreeCNN, SkipConCNN, EnsembleCNN) and ``faces`` (8-conv CNN vs DenseNet121).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import pandas as pd

SEEDS: tuple[str, ...] = ("study", "lightweight", "gan", "ensemble", "faces")


@dataclass(frozen=True)
class Reported:
    """One reported number: its value (a fraction for accuracies), the seed that reports it, the
    table or figure where it stands, what the metric means, and the data it was measured on."""

    value: float
    seed: str
    where: str
    metric: str
    data: str

    def cite(self) -> str:
        """E.g. ``study, Fig. 1: validation accuracy on CIFAKE``."""
        return f"{self.seed}, {self.where}: {self.metric} on {self.data}"


def _study_fig1(value: float, data: str = "CIFAKE") -> Reported:
    return Reported(value, "study", "Fig. 1", "validation accuracy", data)


REPORTED: Mapping[str, Reported] = MappingProxyType({
    # The study's Fig. 1 ("Validation Metrics for Image Classification Models").
    "study/personal_cnn/accuracy": _study_fig1(0.9696),
    "study/vgg16_scratch/accuracy": _study_fig1(0.5025),
    "study/vgg19_scratch/accuracy": _study_fig1(0.5025),
    "study/vgg16_transfer/accuracy": _study_fig1(0.8097),
    "study/densenet121_transfer/accuracy": _study_fig1(0.8378),
    "study/resnet50_transfer/accuracy": _study_fig1(0.9355),
    "study/personal_cnn_second/accuracy": _study_fig1(
        0.8112, "Manjil Karki's \"Deepfake and Real Images\" (Kaggle)"),
    # The study's Fig. 2/3: the lowest and highest validation accuracy of its 12-model grid.
    "study/grid_worst/accuracy": Reported(0.8617, "study", "Fig. 3", "validation accuracy of "
                                          "the 2-convolution [2] model (the grid's lowest)",
                                          "CIFAKE"),
    "study/grid_best/accuracy": Reported(0.9236, "study", "Fig. 3", "validation accuracy of "
                                         "the 4-convolution [512, 512, 2] model (the grid's "
                                         "highest)", "CIFAKE"),
    # Companion projects.
    "lightweight/mobilenet_cnn/accuracy": Reported(
        0.9683, "lightweight", "Conclusion", "accuracy",
        "CelebA/FFHQ faces vs StyleGAN/StarGAN/AttGAN/GDWCT fakes"),
    "faces/own_cnn/accuracy": Reported(0.8736, "faces", "Table 2", "test accuracy",
                                       "its real/GAN face images"),
    "faces/densenet121/accuracy": Reported(0.9026, "faces", "Table 2", "test accuracy",
                                           "its real/GAN face images"),
    "ensemble/ensemble_cnn/accuracy": Reported(0.9344, "ensemble", "results", "accuracy",
                                               "its 5-class, 100x100 image set"),
})


def reported(key: str) -> Reported:
    """The :class:`Reported` number under ``key``; a clear error lists the keys of its seed."""
    if key not in REPORTED:
        prefix = key.split("/", 1)[0]
        near = [k for k in REPORTED if k.startswith(prefix + "/")] or list(REPORTED)
        raise KeyError(f"No reported number {key!r}. Known keys: {', '.join(near)}.")
    return REPORTED[key]


def value(key: str) -> float:
    """The reported value under ``key`` (see :func:`reported`)."""
    return reported(key).value


def table(seed: str | None = None) -> pd.DataFrame:
    """Every reported number (of one ``seed``), one row each with its citation."""
    rows = {k: {"value": r.value, "seed": r.seed, "where": r.where, "metric": r.metric,
                "data": r.data} for k, r in REPORTED.items() if seed in (None, r.seed)}
    if not rows:
        raise KeyError(f"Unknown seed {seed!r}: use one of {', '.join(SEEDS)}.")
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "key"
    return frame
