"""Cross-generator tests: detectors trained on one source of fakes, scored on another, and the
NPR detector (Tan et al., CVPR 2024) beside the same CNN on raw pixels.

Lesson module of notebook 10 (§1 sources, §2 NPR, §4 the cross-generator table, §6 the
open-ended exercise); imports only the core.

A *source* is a real-vs-fake data set with its own generator: CIFAKE (Stable Diffusion 1.4),
the embedded practice set (the kit's small DCGAN), a folder the user passes, or, when no second
generator is on the machine, an offline stand-in made here: the practice set's REAL crops
against *phase-randomised* copies of other REAL crops (:func:`phase_randomised`), a
non-neural "generator" that keeps each picture's colours and power spectrum but scrambles its
structure. The stand-in is named as such wherever it appears.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dflearn.data import FAKE, REAL, Dataset, concat
from dflearn.layers import NPRResidual
from dflearn.metrics import probability_metrics
from dflearn.paths import embedded_data_dir
from dflearn.sources import DatasetChoice, folder_splits, labelled_splits, resolve_dataset
from dflearn.splits import Splits, balanced_subset
from dflearn.training import FitResult, Recipe, fit

Scorer = Callable[[np.ndarray], np.ndarray]  # images (N, H, W, 3) -> P(REAL) (N,)

# Published numbers the notebook quotes (kept in code: markdown states no result numbers).
PUBLISHED = pd.DataFrame([
    {"paper": "GenImage (Zhu et al., NeurIPS 2023), Table 3",
     "detector": "ResNet-50 trained on SD V1.4", "tested on": "SD V1.4 (in-domain)",
     "accuracy": 0.999},
    {"paper": "GenImage (Zhu et al., NeurIPS 2023), Table 3",
     "detector": "ResNet-50 trained on SD V1.4",
     "tested on": "mean over its eight generators", "accuracy": 0.721},
]).set_index(["paper", "detector", "tested on"])


@dataclass(frozen=True)
class Source:
    """One real-vs-fake source: a short name, what it is, and its splits."""

    name: str
    description: str
    splits: Splits
    is_stand_in: bool = False
    root: Path | None = None  # its CIFAKE-layout folder, for the file audit (10 §6)


# --------------------------------------------------------------------------- sources


def phase_randomised(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each image with its Fourier phases replaced by those of white noise (one noise field per
    image, shared by the three channels so colours stay correlated), amplitudes kept.

    The classic surrogate of signal processing: the same power spectrum and mean colour, no
    edges or objects. Used as the stand-in's fakes (a generator with no up-sampling layers).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"phase_randomised needs images of shape (N, H, W, 3), "
                         f"got {images.shape}.")
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(images.shape[:3])
    phase = np.angle(np.fft.fft2(noise))[..., None]  # Hermitian, so the result is real
    phase[:, 0, 0] = 0.0  # keep the mean (the noise's own mean may be negative: a phase of pi)
    amplitude = np.abs(np.fft.fft2(images.astype(float), axes=(1, 2)))
    out = np.real(np.fft.ifft2(amplitude * np.exp(1j * phase), axes=(1, 2)))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _real_against_surrogates(ds: Dataset, n_per_class: int | None, seed: int) -> Dataset:
    """Half of ``ds``'s REAL images stay REAL; the other half become phase-randomised FAKEs."""
    real = balanced_subset(ds.subset(ds.labels == REAL), None, seed)
    half = len(real.labels) // 2
    if n_per_class is not None:
        half = min(half, n_per_class)
    kept, turned = real.subset(np.arange(half)), real.subset(np.arange(half, 2 * half))
    fakes = Dataset(phase_randomised(turned.images, seed), np.full(half, FAKE),
                    np.array([f"{p} (phase-randomised)" for p in turned.paths]))
    return balanced_subset(concat([kept, fakes]), None, seed)


def stand_in_source(practice: Splits, n_per_class: int | None = None, seed: int = 0) -> Source:
    """The offline stand-in for a second generator: the practice set's REAL crops against
    phase-randomised copies of other REAL crops, in every split (its GAN fakes are not used)."""
    parts = [_real_against_surrogates(ds, n_per_class, seed + i) for i, ds in enumerate(practice)]
    return Source("stand-in: phase-randomised",
                  "a STAND-IN, not CIFAKE and not a neural generator: the practice set's REAL "
                  "photo crops against phase-randomised copies of other REAL crops (same colours "
                  "and power spectrum, scrambled structure, no up-sampling layers)",
                  Splits(*parts), is_stand_in=True)


def first_source(choice: DatasetChoice, splits: Splits) -> Source:
    """A CIFAKE-layout data set as a source, named after what it is."""
    if choice.is_embedded:
        return Source("practice set (kit DCGAN)", "the embedded practice set: photo crops "
                      "against fakes from the kit's small DCGAN (colour histogram and spectrum "
                      "matched to photo crops)", splits, root=choice.root)
    return Source("CIFAKE (SD 1.4)", f"{choice.name} at {choice.display_path}: CIFAR-10 photos "
                  "against Stable Diffusion 1.4 fakes", splits, root=choice.root)


def other_source(choice: DatasetChoice, splits: Splits, *, search: bool,
                 n_per_class: int | None = None, seed: int = 0) -> Source:
    """The second generator: the practice set when the first source is CIFAKE; a CIFAKE folder on
    this machine (``$DFLEARN_DATA`` or ``data/cifake/``, nothing downloaded) when the first is the
    practice set and ``search`` is true; otherwise :func:`stand_in_source`."""
    size = int(splits.train.images.shape[1])
    if not choice.is_embedded:
        practice = folder_splits(embedded_data_dir(), n_per_class, seed, size)
        return first_source(DatasetChoice(embedded_data_dir(), "", "embedded"), practice)
    found = resolve_dataset(None, mode="auto", download=False) if search else None
    if found is not None and not found.is_embedded:
        return first_source(found, folder_splits(found.root, n_per_class, seed, size))
    return stand_in_source(splits, n_per_class, seed)


def folder_source(folder: str | os.PathLike, size: int, n_per_class: int | None = None,
                  seed: int = 0) -> Source:
    """A folder the user passes (any train/test x real/fake layout, as 08 accepts), resized to
    ``size``; the notebook tests on it."""
    return Source("folder given", f"the folder {folder}",
                  labelled_splits(folder, n_per_class, seed, size))


# --------------------------------------------------------------------------- detectors


def npr_model(model: keras.Model) -> keras.Model:
    """``model`` with an :class:`~dflearn.layers.NPRResidual` layer in front: the same network
    and weights budget, fed the NPR residual instead of the pixels (0-255 input, as every
    course model)."""
    inputs = keras.Input(model.input_shape[1:], name="image")
    residual = NPRResidual(name="npr")(inputs)
    return keras.Model(inputs, model(residual), name=f"npr_{model.name}")


def train_detector(recipe: Recipe, splits: Splits, npr: bool, seed: int = 0
                   ) -> tuple[keras.Model, FitResult]:
    """A fresh model of ``recipe`` (behind the NPR residual when ``npr``), trained on
    ``splits.train`` with the recipe's settings; validated on ``splits.val`` only when the
    recipe's early stopping or plateau schedule needs it (tracing the validation step costs
    seconds the ``ci`` profile does not have)."""
    keras.utils.set_random_seed(seed)
    model = recipe.build()
    if npr:
        model = npr_model(model)
    needs_val = bool(recipe.patience) or recipe.schedule == "plateau"
    return model, fit(model, splits.train, splits.val if needs_val else None,
                      **recipe.fit_options(seed=seed))


def model_scorer(model: keras.Model) -> Scorer:
    """P(REAL) of a Keras detector (any head)."""
    from dflearn.models import real_probability

    return lambda images: real_probability(model, images)


# --------------------------------------------------------------------------- the table


def cross_table(scorers: Mapping[tuple[str, str], Scorer], tests: Mapping[str, Dataset]
                ) -> pd.DataFrame:
    """One row per detector x train source x test source: images, accuracy, ROC-AUC, the
    recall of each class, and whether the test source is the training source (in-domain).

    ``scorers`` maps ``(detector, train source)`` to a function giving P(REAL)."""
    rows = []
    for (detector, trained_on), score in scorers.items():
        for tested_on, ds in tests.items():
            m = probability_metrics(ds.labels, score(ds.images))
            rows.append({"detector": detector, "train source": trained_on,
                         "test source": tested_on, "in-domain": trained_on == tested_on,
                         "images": len(ds.labels), "accuracy": m["accuracy"],
                         "roc_auc": m["roc_auc"], "recall_FAKE": m["recall_FAKE"],
                         "recall_REAL": m["recall_REAL"]})
    if not rows:
        raise ValueError("cross_table needs at least one detector and one test source.")
    return pd.DataFrame(rows).set_index(["detector", "train source", "test source"])


def domain_summary(table: pd.DataFrame, detectors: list[str] | None = None) -> pd.DataFrame:
    """Per detector: mean accuracy and ROC-AUC in-domain and cross-domain over the rows of
    :func:`cross_table`, and the drop (in-domain minus cross-domain)."""
    rows = table.reset_index()
    if detectors is not None:
        rows = rows[rows["detector"].isin(detectors)]
    means = rows.groupby(["detector", "in-domain"])[["accuracy", "roc_auc"]].mean().unstack()
    out = pd.DataFrame(index=means.index)
    for metric in ("accuracy", "roc_auc"):
        out[f"{metric} in-domain"] = means.get((metric, True))
        out[f"{metric} cross-domain"] = means.get((metric, False))
        out[f"{metric} drop"] = out[f"{metric} in-domain"] - out[f"{metric} cross-domain"]
    order = detectors if detectors is not None else list(dict.fromkeys(rows["detector"]))
    return out.reindex([d for d in order if d in out.index])


def plot_domain_summary(summary: pd.DataFrame, metric: str = "accuracy",
                        title: str = "In-domain against cross-domain") -> plt.Figure:
    """Grouped bars of :func:`domain_summary`: each detector's in-domain and cross-domain mean."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(summary))
    for i, where in enumerate(("in-domain", "cross-domain")):
        ax.bar(x + (i - 0.5) * 0.38, summary[f"{metric} {where}"], 0.38, label=where)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(x, summary.index, rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("detector")
    ax.set_ylabel(f"mean {metric.replace('_', '-')} (fraction)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def npr_regrid(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """Every ``factor x factor`` block filled with its top-left pixel: the image whose NPR
    residual is exactly 0 (the reference answer of 10's open-ended exercise)."""
    images = np.asarray(images)
    kept = images[:, ::factor, ::factor]
    return np.repeat(np.repeat(kept, factor, axis=1), factor, axis=2)


def perturbation_table(scorers: Mapping[str, Scorer], ds: Dataset,
                       perturbation: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """Accuracy and ROC-AUC of each detector on ``ds`` as it is and after ``perturbation``."""
    changed = Dataset(np.asarray(perturbation(ds.images)), ds.labels, ds.paths)
    if changed.images.shape != ds.images.shape:
        raise ValueError(f"The perturbation changed the images' shape from {ds.images.shape} "
                         f"to {changed.images.shape}; keep it.")
    rows = []
    for name, score in scorers.items():
        for label, data in (("clean", ds), ("perturbed", changed)):
            m = probability_metrics(data.labels, score(data.images))
            rows.append({"detector": name, "images": label, "accuracy": m["accuracy"],
                         "roc_auc": m["roc_auc"]})
    return pd.DataFrame(rows).set_index(["detector", "images"])


def show_residuals(images: np.ndarray, labels: np.ndarray, n: int = 6,
                   title: str = "Images and their NPR residuals") -> plt.Figure:
    """``n`` images (top) above the magnitude of their NPR residual (bottom, brighter = larger)."""
    residual = np.abs(np.asarray(NPRResidual()(images[:n].astype("float32")))).mean(axis=-1)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6))
    for i in range(n):
        axes[0, i].imshow(images[i], interpolation="nearest")
        axes[0, i].set_title("REAL" if labels[i] == REAL else "FAKE", fontsize=9)
        axes[1, i].imshow(residual[i], cmap="magma", interpolation="nearest",
                          vmin=0, vmax=max(float(residual[:n].max()), 1.0))
        for ax in axes[:, i]:
            ax.axis("off")
    axes[1, 0].set_title("|residual|", fontsize=9)
    fig.suptitle(f"{title} (32x32 pixels; residual in grey levels, 0-255 scale)", fontsize=10)
    fig.tight_layout()
    return fig
