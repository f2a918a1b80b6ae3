"""How far a detector's accuracy carries: other datasets, perturbed images and leaked test images.

Lesson module of 08; imports only the core (any REAL/FAKE folder is read by
:func:`dflearn.data.load_labelled_folder`; models are scored on several datasets by
:func:`dflearn.metrics.evaluate_models`, which resizes the images for each model).

* :func:`second_dataset` picks a dataset other than the training one (08 §2);
* :func:`versus_study` puts the study's Personal CNN (CIFAKE -> its second dataset) beside our
  models' drop (08 §2);
* :data:`PERTURBATIONS` (JPEG re-compression, Gaussian blur, down- and up-resizing, Gaussian
  noise) and :func:`robustness_curves` measure accuracy at several strengths, one curve per
  model (08 §3); :class:`dflearn.layers.BlurJpeg` is Wang et al. (2020)'s Blur+JPEG training
  augmentation (08 §4);
* :func:`leakage_table` compares accuracy with and without test images that also sit in
  training, :func:`inject_leak` makes a leaky test set (08 §5).

Images are ``uint8`` batches ``(N, H, W, 3)`` of 0-255 pixels, labels ``FAKE = 0``, ``REAL = 1``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import ndimage

from dflearn import study
from dflearn.data import Dataset, concat, load_labelled_folder, write_labelled_folder
from dflearn.duplicates import drop_duplicates
from dflearn.images import check_images, jpeg, resize_images
from dflearn.metrics import evaluate_models
from dflearn.paths import embedded_data_dir
from dflearn.splits import balanced_subset

if TYPE_CHECKING:
    from dflearn.course.session import Session

# --------------------------------------------------------------------------- a second dataset


SHIFTED_SIZE = 48
SHIFTED_QUALITY = 75


def shifted_copy(ds: Dataset, root: str | os.PathLike, size: int = SHIFTED_SIZE,
                 quality: int = SHIFTED_QUALITY) -> Path:
    """Write ``ds`` enlarged to ``size`` pixels (bicubic) as JPEGs of ``quality`` in a flat
    ``root/{REAL,FAKE}`` folder: the same pictures through a different imaging pipeline.
    Used in 08 §2 (the second dataset of the practice set)."""
    enlarged = Dataset(resize_images(ds.images, size), ds.labels, ds.paths)
    return write_labelled_folder(enlarged, root, suffix=".jpg", quality=quality)


def second_dataset(session: "Session", test: Dataset, path: str | os.PathLike | None = None,
                   n_per_class: int | None = None, seed: int = 0) -> tuple[Dataset, str]:
    """A dataset other than the one the session trains on, and a sentence saying what it is.

    * ``path`` given: that folder (CIFAKE layout: both splits pooled; or flat REAL/FAKE).
    * training on CIFAKE (not the practice set): the embedded practice set, both splits pooled
      (REAL photo crops, FAKE images from a small DCGAN: another generator, other pictures).
    * training on the practice set: no second real source exists offline, so ``test`` is
      written out enlarged to 48x48 and re-saved as JPEG quality 75, then loaded back: a shifted
      copy of the test images, not new pictures or new fakes.

    At most ``n_per_class`` images per class are kept (drawn at random, seeded). Images keep
    the size they have on disk; :func:`dflearn.images.fit_to_model` resizes them per model.
    Used in 08 §2 (a second dataset).
    """
    if path:
        ds, what = load_labelled_folder(path), f"the folder given ({path})"
    elif not session.dataset.is_embedded:
        ds = load_labelled_folder(embedded_data_dir())
        what = ("the embedded practice set (other photos; fakes from a small DCGAN, "
                "not Stable Diffusion)")
    else:
        with tempfile.TemporaryDirectory(prefix="dflearn-shifted-") as tmp:
            shifted_copy(test, tmp)
            ds = load_labelled_folder(tmp)
        what = (f"the practice test images enlarged to {SHIFTED_SIZE}x{SHIFTED_SIZE} and re-saved "
                f"as JPEG quality {SHIFTED_QUALITY} (a shifted copy, not a new source)")
    if n_per_class is not None:
        ds = balanced_subset(ds, min(n_per_class, *ds.counts().values()), seed)
    return ds, what


# The study's Personal CNN: validation accuracy on CIFAKE, and accuracy on its second dataset.
STUDY_SAME_SOURCE = study.value("study/personal_cnn/accuracy")
STUDY_SECOND = study.value("study/personal_cnn_second/accuracy")
DROP_POINTS = 5.0  # a fall of at least this many points counts as "accuracy does not carry"


def versus_study(table: pd.DataFrame, same: str, other: str) -> pd.DataFrame:
    """The study's numbers beside ours: one row for the study's Personal CNN (on CIFAKE and on
    its second dataset, :mod:`dflearn.study`) and one per model of ``table`` (from
    :func:`dflearn.metrics.evaluate_models`), with the accuracy on the datasets named ``same``
    and ``other``, the drop in percentage points and whether the study's finding holds for that
    model (a drop of at least :data:`DROP_POINTS` points). Used in 08 §2 (the study's 97% -> 81%).
    """
    accuracy = table["accuracy"].unstack("dataset")
    missing = [name for name in (same, other) if name not in accuracy.columns]
    if missing:
        raise ValueError(f"Dataset(s) {missing} not in the table; it has {list(accuracy.columns)}.")
    rows = {"study: Personal CNN (CIFAKE -> its second dataset)":
            {"same_source": STUDY_SAME_SOURCE, "second_dataset": STUDY_SECOND}}
    for model in dict.fromkeys(table.index.get_level_values("model")):  # the table's order
        rows[f"ours: {model}"] = {"same_source": accuracy.loc[model, same],
                                  "second_dataset": accuracy.loc[model, other]}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out["drop_points"] = 100 * (out["same_source"] - out["second_dataset"])
    out["finding_holds"] = out["drop_points"] >= DROP_POINTS
    out.index.name = "model"
    return out


# --------------------------------------------------------------------------- perturbations


def _as_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def blur(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (0 = unchanged), edges reflected;
    the same kernel as :class:`dflearn.layers.BlurJpeg` (3 sigma wide). Used in 08 §3."""
    if sigma < 0:
        raise ValueError(f"blur sigma must be at least 0 pixels, got {sigma!r}.")
    images = check_images(images)
    if sigma == 0:
        return images.copy()
    return _as_uint8(ndimage.gaussian_filter(images.astype(np.float32), sigma=(0, sigma, sigma, 0),
                                             mode="mirror", truncate=3.0))


def rescale(images: np.ndarray, scale: float, seed: int = 0) -> np.ndarray:
    """Shrink each image by ``scale`` (0 < scale <= 1), then enlarge it back, both bicubic:
    the detail a smaller copy of the picture loses. Used in 08 §3."""
    if not 0 < scale <= 1:
        raise ValueError(f"resize scale must be in (0, 1], got {scale!r}.")
    images = check_images(images)
    height, width = images.shape[1:3]
    small = (max(1, round(height * scale)), max(1, round(width * scale)))
    if small == (height, width):
        return images.copy()
    return resize_images(resize_images(images, small), (height, width))


def noise(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sigma`` grey levels (0-255 scale), seeded.
    Used in 08 §3."""
    if sigma < 0:
        raise ValueError(f"noise sigma must be at least 0 grey levels, got {sigma!r}.")
    images = check_images(images)
    rng = np.random.default_rng(seed)
    return _as_uint8(images + rng.normal(0.0, sigma, size=images.shape))


@dataclass(frozen=True)
class Perturbation:
    """An image degradation, the strengths to try (mildest first) and the x-axis label.
    Used in 08 §3 (:data:`PERTURBATIONS`)."""

    name: str
    apply: Callable[[np.ndarray, float, int], np.ndarray]
    levels: tuple[float, ...]
    axis_label: str


PERTURBATIONS: Mapping[str, Perturbation] = {
    "jpeg": Perturbation("jpeg", jpeg, (100, 90, 75, 50, 30, 10), "JPEG quality (1-100)"),
    "blur": Perturbation("blur", blur, (0.0, 0.5, 1.0, 1.5, 2.0), "blur sigma (pixels)"),
    "resize": Perturbation("resize", rescale, (1.0, 0.75, 0.5, 0.375, 0.25),
                           "shrink factor (1 = unchanged)"),
    "noise": Perturbation("noise", noise, (0.0, 2.0, 4.0, 8.0, 16.0), "noise sigma (grey levels)"),
}


def perturb(images: np.ndarray, name: str, level: float, seed: int = 0) -> np.ndarray:
    """Apply perturbation ``name`` (a key of :data:`PERTURBATIONS`) at strength ``level``.
    Used in 08 §3 (one image under each perturbation)."""
    if name not in PERTURBATIONS:
        raise ValueError(f"Unknown perturbation {name!r}: use one of {', '.join(PERTURBATIONS)}.")
    return PERTURBATIONS[name].apply(images, level, seed)


def robustness_curves(models: Mapping[str, keras.Model], ds: Dataset,
                      perturbations: Sequence[str] = tuple(PERTURBATIONS),
                      levels: Mapping[str, Sequence[float]] | None = None,
                      seed: int = 0) -> pd.DataFrame:
    """Accuracy and ROC-AUC of every model on ``ds`` under every perturbation and strength.

    Each perturbed copy is made once (at the data's own size) and then resized for each model
    (:func:`dflearn.metrics.evaluate_models`). ``levels`` overrides the strengths of some
    perturbations. Returns one row per (perturbation, level, model), with the model's accuracy
    on the clean images alongside. Used in 08 §3-4.
    """
    if not models:
        raise ValueError("robustness_curves needs at least one model.")
    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown:
        raise ValueError(f"Unknown perturbation(s) {unknown}: use {', '.join(PERTURBATIONS)}.")
    variants = [(pert, float(level)) for pert in perturbations
                for level in (levels or {}).get(pert, PERTURBATIONS[pert].levels)]
    sets = {"clean": ds, **{f"{pert} {level:g}": Dataset(perturb(ds.images, pert, level, seed),
                                                         ds.labels, ds.paths)
                            for pert, level in variants}}
    table = evaluate_models(models, sets, columns=("accuracy", "roc_auc"))
    rows = []
    for pert, level in variants:
        for name in models:
            row = table.loc[(name, f"{pert} {level:g}")]
            rows.append({"perturbation": pert, "level": level, "model": name,
                         "accuracy": row["accuracy"], "roc_auc": row["roc_auc"],
                         "clean_accuracy": table.loc[(name, "clean"), "accuracy"]})
    return pd.DataFrame(rows)


def plot_robustness(curves: pd.DataFrame, metric: str = "accuracy",
                    title: str = "Robustness to image degradations") -> plt.Figure:
    """One panel per perturbation, one line per model (``metric`` vs strength), with each
    model's clean accuracy dotted and chance (0.5) dashed. Used in 08 §3."""
    names = list(dict.fromkeys(curves["perturbation"]))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False,
                             sharey=True)
    for ax, pert in zip(axes.flat, names):
        part = curves[curves["perturbation"] == pert]
        for i, (model, rows) in enumerate(part.groupby("model", sort=False)):
            colour = f"C{i}"
            ax.plot(rows["level"], rows[metric], marker="o", color=colour, label=model)
            if metric == "accuracy":
                ax.axhline(rows["clean_accuracy"].iloc[0], color=colour, linestyle=":", linewidth=1)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        if pert == "jpeg" or pert == "resize":
            ax.invert_xaxis()  # stronger degradation to the right, as in the other panels
        ax.set_xlabel(PERTURBATIONS[pert].axis_label if pert in PERTURBATIONS else pert)
        ax.set_title(pert)
    axes.flat[0].set_ylabel(f"{metric} (fraction)")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"{title} (dotted: clean accuracy, dashed: chance)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- leakage


def leakage_table(model: keras.Model, train: Dataset, test: Dataset) -> pd.DataFrame:
    """Accuracy on the whole test set and on the test set without images that repeat (within
    the test set, or from the training set), with the number of images in each. Used in 08 §5."""
    cleaned = drop_duplicates(test, against=train)
    sets = {"all test images": test, "without duplicates of training images": cleaned}
    table = evaluate_models({"model": model}, sets, columns=("accuracy",)).droplevel("model")
    table.index.name = "test set"
    return table


def inject_leak(test: Dataset, train: Dataset, n: int, seed: int = 0) -> Dataset:
    """A leaky copy of ``test``: ``n`` of its images replaced by randomly chosen training images
    (with their labels), as happens when duplicates straddle a train/test split. Used in 08 §5."""
    most = min(len(test.labels), len(train.labels))
    if not 0 <= n <= most:
        raise ValueError(f"n must be between 0 and {most}, got {n}.")
    rng = np.random.default_rng(seed)
    replaced = rng.choice(len(test.labels), size=n, replace=False)
    keep = np.setdiff1d(np.arange(len(test.labels)), replaced)
    leaked = train.subset(rng.choice(len(train.labels), size=n, replace=False))
    return concat([test.subset(keep), leaked])
