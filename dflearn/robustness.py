"""How far a detector's accuracy carries: other datasets, perturbed images and leaked test images.

Lesson module of 08; imports only the core (the second dataset comes from
:func:`dflearn.sources.second_dataset`; models are scored on several datasets by
:func:`dflearn.metrics.evaluate_models`, which resizes the images for each model).

* the second dataset is :func:`dflearn.sources.second_dataset`'s (the course's one rule: the
  study's own, Manjil Karki's "Deepfake and Real Images", when found); :func:`is_study_second`
  says whether it is Karki's (08 §2);
* :func:`versus_study` puts the study's Personal CNN (CIFAKE -> Karki's dataset) beside our
  models' drop, and :func:`generalisation_findings` judges the study's claims with
  :mod:`dflearn.study`'s rule (08 §2);
* :data:`PERTURBATIONS` (JPEG re-compression, Gaussian blur, down- and up-resizing, Gaussian
  noise) and :func:`robustness_curves` measure accuracy at several strengths, one curve per
  model (08 §3); :class:`dflearn.layers.BlurJpeg` is Wang et al. (2020)'s Blur+JPEG training
  augmentation (08 §4);
* :func:`leakage_table` compares accuracy with and without test images that also sit in
  training, :func:`inject_leak` makes a leaky test set (08 §5);
* :func:`recompression_auc` scores the open-ended task, a statistic that flags JPEG
  re-compressed images (08 §7).

Images are ``uint8`` batches ``(N, H, W, 3)`` of 0-255 pixels, labels ``FAKE = 0``, ``REAL = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import ndimage

from dflearn import study
from dflearn.data import Dataset, concat
from dflearn.duplicates import drop_duplicates
from dflearn.images import check_images, jpeg, resize_images
from dflearn.metrics import either_way_auc, evaluate_models, image_scores
from dflearn.sources import SecondDataset

# --------------------------------------------------------------------------- a second dataset

# The study's Personal CNN (Fig. 1): validation accuracy on CIFAKE, and on Karki's dataset.
STUDY_SAME_SOURCE = study.value("study/personal_cnn/accuracy")
STUDY_SECOND = study.value("study/personal_cnn_second/accuracy")
KARKI_ROW = "Personal CNN on Manjil Karkis Dataset"  # Fig. 1's row label, as printed
FINDING_DROP = "Personal CNN: accuracy drops on another dataset"


def is_study_second(second: SecondDataset) -> bool:
    """True when ``second`` (from :func:`dflearn.sources.second_dataset`) is the study's own
    second dataset, Manjil Karki's "Deepfake and Real Images", found by its search; False for
    a folder given, the practice set, a CIFAKE folder or a stand-in. Used in 08 §2 (only then is
    the study's 81.12% a number to judge ours against)."""
    return second.is_karki


def drop_verdict(table: pd.DataFrame, model: str, same: str, other: str,
                 finding: str = FINDING_DROP) -> study.Verdict:
    """The study's claim that accuracy drops on another dataset, judged for one ``model`` of
    ``table`` (from :func:`dflearn.metrics.evaluate_models`) by :func:`dflearn.study.judge_order`:
    its accuracy on the dataset named ``same`` against that on ``other``, each on that test
    set's number of images, the study's 96.96% and 81.12% shown beside. Used in 08 §2."""
    for name in (same, other):
        if (model, name) not in table.index:
            raise ValueError(f"({model!r}, {name!r}) not in the table; it has "
                             f"{list(table.index)}.")
    acc, n = table["accuracy"], table["images"]
    return study.judge_order(same, float(acc[(model, same)]), int(n[(model, same)]),
                             other, float(acc[(model, other)]), int(n[(model, other)]), "a > b",
                             seed_a=STUDY_SAME_SOURCE, seed_b=STUDY_SECOND, finding=finding)


def generalisation_findings(table: pd.DataFrame, model: str, same: str, other: str, *,
                            study_second: bool) -> list[study.Verdict]:
    """08's verdicts on the study's second-dataset claims for ``model``: the drop
    (:func:`drop_verdict`), and, only when the second dataset is the study's own
    (``study_second``, see :func:`is_study_second`), the study's 81.12% on it
    (:func:`dflearn.study.judge_value`); on other data that value says nothing about ours.
    Used in 08 §2 (``08/findings``)."""
    verdicts = [drop_verdict(table, model, same, other)]
    if study_second:
        verdicts.append(study.judge_value(
            "study/personal_cnn_second/accuracy", float(table.loc[(model, other), "accuracy"]),
            int(table.loc[(model, other), "images"]),
            finding=f"{model} on Karki's dataset vs Fig. 1 \"{KARKI_ROW}\""))
    return verdicts


def versus_study(table: pd.DataFrame, same: str, other: str) -> pd.DataFrame:
    """The study's numbers beside ours: one row for the study's Personal CNN (on CIFAKE and on
    its second dataset, :mod:`dflearn.study`) and one per model of ``table`` (from
    :func:`dflearn.metrics.evaluate_models`), with the accuracy on the datasets named ``same``
    and ``other``, the drop in percentage points and, for our models, the verdict on "accuracy
    drops on another dataset" (:func:`drop_verdict`; none for the study's row, whose second
    dataset has no stated size). Used in 08 §2 (the study's 97% -> 81%).
    """
    accuracy = table["accuracy"].unstack("dataset")
    missing = [name for name in (same, other) if name not in accuracy.columns]
    if missing:
        raise ValueError(f"Dataset(s) {missing} not in the table; it has {list(accuracy.columns)}.")
    rows = {"study: Personal CNN (CIFAKE -> Karki's dataset)":
            {"same_source": STUDY_SAME_SOURCE, "second_dataset": STUDY_SECOND, "verdict": None}}
    for model in dict.fromkeys(table.index.get_level_values("model")):  # the table's order
        rows[f"ours: {model}"] = {"same_source": accuracy.loc[model, same],
                                  "second_dataset": accuracy.loc[model, other],
                                  "verdict": drop_verdict(table, model, same, other).verdict}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.insert(2, "drop_points", 100 * (out["same_source"] - out["second_dataset"]))
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


# --------------------------------------------------------------------------- open-ended task


def recompression_auc(statistic: Callable[[np.ndarray], np.ndarray], ds: Dataset,
                      quality: int) -> float:
    """08's open-task score: how well ``statistic`` (a batch of uint8 images in, one number per
    image out) tells ``ds``'s images from the same images re-encoded as JPEG of ``quality``, as a
    ROC-AUC that ignores the direction (0.5: no better than chance, 1: perfect). A deployed
    detector can use such a statistic to flag inputs unlike its training images. Raises
    ``ValueError`` naming the shape or values ``statistic`` returned when they are not one finite
    number per image. Used in 08 §7."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be between 1 and 100, got {quality!r}.")
    images = check_images(ds.images)
    name = getattr(statistic, "__name__", "statistic")
    scores = [image_scores(statistic(batch.copy()), len(batch), name)
              for batch in (images, jpeg(images, quality))]
    truth = np.repeat([0, 1], len(images))  # 1: re-compressed
    return either_way_auc(truth, np.concatenate(scores))
