"""The compression-shortcut lab: how each class of a data set was stored (format, JPEG
quantisation tables read with Pillow, chroma subsampling, metadata, file names), a shortcut
created on purpose with a detector that sees it (logistic regression on block-DCT
statistics), and a checklist for auditing a data set against such shortcuts.

Lesson module of notebook 10 (§6); imports the core and its own group (``cross_generator``).
Background: DIRE's near-perfect detection came from real JPEGs against fake PNGs, and
GenImage has the same bias (Grommelt et al., 2024, "Fake or JPEG? Revealing Common Biases
in Generated Image Detection Datasets").
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image, JpegImagePlugin, UnidentifiedImageError
from scipy.fft import dctn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dflearn.cross_generator import cross_table
from dflearn.data import CLASS_NAMES, FAKE, REAL, Dataset, DatasetError, list_images
from dflearn.images import check_images, jpeg
from dflearn.splits import Splits

# The IJG (libjpeg) standard luminance table at quality 50, in natural (row-major) order, as
# Pillow's ``Image.quantization`` returns tables.
STANDARD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0", -1: "n/a"}
# The properties the checklist compares between classes, and what to do when one differs.
CHECKS = {
    "format": "store both classes in one format (decode and re-save every file alike)",
    "pixels": "resize both classes with one filter to one size",
    "jpeg tables": "re-encode both classes with the same quality (same quantisation tables)",
    "chroma subsampling": "re-encode both classes with the same subsampling",
    "metadata": "strip metadata (EXIF, ICC, comments) from every file",
    "name pattern": "rename files to plain running numbers",
}
DIGITS = re.compile(r"\d+")
# JFIF's RGB -> YCbCr matrix (the conversion a JPEG encoder applies before its block DCT).
YCBCR = np.array([[0.299, 0.587, 0.114],
                  [-0.168736, -0.331264, 0.5],
                  [0.5, -0.418688, -0.081312]])
JPEG_BLOCK = 8


def ijg_table(quality: int) -> np.ndarray:
    """The luminance table libjpeg (and Pillow) writes at ``quality`` (1-100)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip((STANDARD_LUMA * scale + 50) // 100, 1, 255).astype(int)


def estimate_quality(luma: Any) -> tuple[int, bool]:
    """The libjpeg quality whose luminance table is closest to ``luma`` (64 values), and
    whether it matches exactly (``False``: a custom table, e.g. a camera's or Photoshop's)."""
    luma = np.asarray(luma, dtype=int).ravel()
    if luma.shape != (64,):
        raise ValueError(f"A JPEG quantisation table has 64 values, got {luma.shape}.")
    errors = [np.abs(ijg_table(q) - luma).sum() for q in range(1, 101)]
    best = int(np.argmin(errors))
    return best + 1, bool(errors[best] == 0)


def file_properties(path: str | os.PathLike) -> dict[str, Any]:
    """How one image file is stored: format, pixel size, JPEG tables (a short hash, the
    estimated quality), chroma subsampling, metadata keys, name pattern and bytes.

    Raises :class:`~dflearn.data.DatasetError` naming the file when Pillow cannot read it.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            tables = getattr(im, "quantization", None) or {}
            is_jpeg = im.format == "JPEG"
            info = {"format": im.format, "pixels": f"{im.size[0]}x{im.size[1]}",
                    "metadata": ",".join(sorted(k for k in im.info if not k.startswith("jfif")))
                    or "none",
                    "chroma subsampling": SUBSAMPLING.get(
                        JpegImagePlugin.get_sampling(im) if is_jpeg else -1, "other")}
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"Cannot read {path} as an image ({exc}); delete or replace the "
                           "file and run the audit again.") from None
    if tables:
        luma = np.asarray(tables[0])
        quality, exact = estimate_quality(luma)
        digest = hashlib.sha1(repr([list(tables[k]) for k in sorted(tables)]).encode())
        info["jpeg tables"] = digest.hexdigest()[:8]
        info["quality"] = f"{quality}" if exact else f"~{quality} (custom table)"
    else:
        info["jpeg tables"], info["quality"] = "none (lossless)", "lossless"
    info["name pattern"] = DIGITS.sub("#", path.stem) + path.suffix.lower()
    info["bytes"] = path.stat().st_size
    return info


def audit_folder(root: str | os.PathLike, split: str = "train", n_per_class: int | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """:func:`file_properties` of the files of one split of a CIFAKE-layout folder, at most
    ``n_per_class`` per class (seeded draw), one row per file with its class."""
    paths, labels = list_images(root, split)
    rng = np.random.default_rng(seed)
    rows = []
    for label in (REAL, FAKE):
        index = np.flatnonzero(labels == label)
        if n_per_class is not None and len(index) > n_per_class:
            index = np.sort(rng.choice(index, n_per_class, replace=False))
        rows += [{"class": CLASS_NAMES[label], **file_properties(paths[i])} for i in index]
    return pd.DataFrame(rows)


def table_shares(files: pd.DataFrame) -> pd.DataFrame:
    """Files and share of each class per JPEG table set (with its estimated quality and
    chroma subsampling): whether REAL and FAKE were stored alike."""
    keys = ["jpeg tables", "quality", "chroma subsampling"]
    counts = files.groupby(keys + ["class"]).size().unstack("class", fill_value=0)
    counts = counts.reindex(columns=["REAL", "FAKE"], fill_value=0)
    shares = counts / counts.sum()
    table = pd.concat({"files": counts, "share": shares}, axis=1)
    table.columns = [f"{what} {cls}" for what, cls in table.columns]
    return table.sort_values("files REAL", ascending=False)


def luma_tables(files: pd.DataFrame, root: str | os.PathLike, split: str = "train"
                ) -> dict[str, np.ndarray]:
    """The most common luminance table of each class as an 8x8 array (``None``-free: classes
    without JPEG tables are left out)."""
    paths, labels = list_images(root, split)
    out = {}
    for label in (REAL, FAKE):
        name = CLASS_NAMES[label]
        common = files.loc[files["class"] == name, "jpeg tables"].mode()
        if common.empty or common.iloc[0].startswith("none"):
            continue
        for path in np.asarray(paths)[labels == label]:
            if file_properties(path)["jpeg tables"] == common.iloc[0]:
                with Image.open(path) as im:
                    out[name] = np.asarray(im.quantization[0]).reshape(8, 8)
                break
    return out


def checklist(files: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """The audit: for each stored property of :data:`CHECKS`, each class's most common value
    (and its share), the total-variation distance between the classes' distributions, and
    ``pass`` when it is at most ``tolerance``; a ``fail`` says what to do. File size follows
    from the pixels (detailed textures compress worse), so it is shown, never judged."""
    rows = []
    for prop, fix in CHECKS.items():
        shares = files.groupby("class")[prop].value_counts(normalize=True).unstack(fill_value=0)
        distance = float(0.5 * (shares.loc["REAL"] - shares.loc["FAKE"]).abs().sum())
        row = {"check": prop, "distance": distance,
               "verdict": "pass" if distance <= tolerance else "fail",
               "if it fails": fix}
        for cls in ("REAL", "FAKE"):
            top = shares.loc[cls].idxmax()
            row[cls] = f"{top} ({shares.loc[cls, top]:.0%})"
        rows.append(row)
    size = files.groupby("class")["bytes"].mean()
    rows.append({"check": "mean file size (bytes)", "REAL": f"{size['REAL']:.0f}",
                 "FAKE": f"{size['FAKE']:.0f}", "distance": np.nan, "verdict": "shown",
                 "if it fails": "compare files of the same pixels; size alone is no shortcut"})
    return pd.DataFrame(rows).set_index("check")[["REAL", "FAKE", "distance", "verdict",
                                                  "if it fails"]]


def passes(checks: pd.DataFrame) -> bool:
    """Whether a :func:`checklist` has no ``fail``."""
    return bool((checks["verdict"] != "fail").all())


# --------------------------------------------------------------------------- the shortcut


def with_shortcut(ds: Dataset, label: int, quality: int) -> Dataset:
    """``ds`` with the images of class ``label`` re-encoded as JPEG of ``quality`` and the
    other class untouched: a storage difference that tells the classes apart by itself."""
    images = ds.images.copy()
    chosen = ds.labels == label
    if chosen.any():
        images[chosen] = jpeg(ds.images[chosen], quality)
    return Dataset(images, ds.labels, ds.paths)


def shortcut_splits(splits: Splits, label: int = REAL, quality: int = 75) -> Splits:
    """Training and validation images with the shortcut (class ``label`` re-encoded), the test
    split untouched; :func:`shortcut_tests` gives the test conditions."""
    return Splits(with_shortcut(splits.train, label, quality),
                  with_shortcut(splits.val, label, quality), splits.test)


def shortcut_tests(test: Dataset, label: int = REAL, quality: int = 75) -> dict[str, Dataset]:
    """The test split as stored, with the shortcut as in training, with it removed (both
    classes re-encoded alike), and reversed (the other class re-encoded instead)."""
    other = FAKE if label == REAL else REAL
    return {"as stored (no re-encoding)": test,
            "shortcut kept (as in training)": with_shortcut(test, label, quality),
            "shortcut removed (both classes re-encoded)": Dataset(jpeg(test.images, quality),
                                                                  test.labels, test.paths),
            "shortcut reversed (other class re-encoded)": with_shortcut(test, other, quality)}


# --------------------------------------------------------------------------- a detector that sees it


def block_dct_features(images: np.ndarray, block: int = JPEG_BLOCK) -> np.ndarray:
    """What a JPEG encoder sees, summarised per image: each picture converted to YCbCr and cut
    into ``block x block`` blocks on JPEG's grid, each block's 2-D DCT, and the mean
    ``log(1 + |coefficient|)`` of every channel and frequency over the blocks, shape
    ``(N, 3 * block * block)``.

    A JPEG quality sets how coarsely each frequency is kept (its quantisation step), so
    re-encoding at a low quality empties the middle and high frequencies: these features show
    it plainly, whatever the picture. Used in 10 §6 (the compression-shortcut lab).
    """
    images = check_images(images)
    n, height, width, _ = images.shape
    if height % block or width % block:
        raise ValueError(f"block_dct_features needs sizes divisible by {block} (JPEG's block), "
                         f"got {height}x{width}; resize the images first.")
    ycbcr = images.astype(np.float32) @ YCBCR.T.astype(np.float32)
    ycbcr[..., 0] -= 128  # the level shift of JPEG's luma; chroma is already centred on 0
    blocks = ycbcr.reshape(n, height // block, block, width // block, block, 3)
    coefficients = dctn(blocks, axes=(2, 4), norm="ortho")  # (N, by, u, bx, v, C)
    means = np.log1p(np.abs(coefficients)).mean(axis=(1, 3))  # (N, u, v, C)
    return means.transpose(0, 3, 1, 2).reshape(n, -1)


def fit_block_dct_detector(train: Dataset, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A compression-sensitive detector: standardised logistic regression on
    :func:`block_dct_features`, fitted on ``train``; returns ``images -> P(REAL)``.

    It stands for the detectors that read high-frequency traces (most forensic ones do): it
    fits in a second and learns a planted storage difference completely. Used in 10 §6.
    """
    if len(np.unique(train.labels)) < 2:
        raise ValueError("fit_block_dct_detector needs REAL and FAKE images in its training "
                         f"set; it has only {CLASS_NAMES[int(train.labels[0])]}.")
    detector = make_pipeline(StandardScaler(),
                             LogisticRegression(max_iter=2000, random_state=seed))
    detector.fit(block_dct_features(train.images), train.labels)
    column = list(detector.classes_).index(REAL)
    return lambda images: detector.predict_proba(block_dct_features(images))[:, column]


def shortcut_table(scorers: Mapping[tuple[str, str], Callable[[np.ndarray], np.ndarray]],
                   conditions: Mapping[str, Dataset]) -> pd.DataFrame:
    """The shortcut lab's table: one row per detector x training condition x test condition
    (:func:`shortcut_tests`), with images, accuracy, ROC-AUC and each class's recall.

    ``scorers`` maps ``(detector, trained on)`` to ``images -> P(REAL)``. Used in 10 §6."""
    table = cross_table(scorers, conditions).drop(columns="in-domain")
    table.index.names = ["detector", "trained on", "test images"]
    return table


def plot_shortcut(table: pd.DataFrame, title: str = "The planted shortcut") -> plt.Figure:
    """Grouped bars of :func:`shortcut_table`'s accuracy: one group per test condition, one bar
    per detector and training condition, with chance marked."""
    accuracy = table["accuracy"].unstack("test images")
    conditions = list(dict.fromkeys(table.index.get_level_values("test images")))
    accuracy = accuracy[conditions]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(conditions))
    bar = 0.8 / len(accuracy)
    for i, ((detector, trained_on), row) in enumerate(accuracy.iterrows()):
        ax.bar(x + (i - (len(accuracy) - 1) / 2) * bar, row.to_numpy(), bar,
               label=f"{detector}, trained {trained_on}")
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(x, [c.split(" (")[0] for c in conditions], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("test images")
    ax.set_ylabel("accuracy (fraction)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_block_dct(groups: Mapping[str, np.ndarray],
                   title: str = "Mean luma block-DCT magnitude") -> plt.Figure:
    """One 8x8 map per group of images: the luma part of :func:`block_dct_features` averaged
    over the group, on one colour scale (low frequencies top left)."""
    maps = {name: block_dct_features(images)[:, :JPEG_BLOCK ** 2].mean(axis=0)
            .reshape(JPEG_BLOCK, JPEG_BLOCK) for name, images in groups.items()}
    top = max(float(m.max()) for m in maps.values())
    fig, axes = plt.subplots(1, len(maps), figsize=(3.3 * len(maps), 3.4), squeeze=False)
    for ax, (name, values) in zip(axes[0], maps.items()):
        shown = ax.imshow(values, cmap="viridis", vmin=0, vmax=top)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("horizontal frequency (0-7)")
        ax.set_ylabel("vertical frequency (0-7)")
    fig.colorbar(shown, ax=axes[0].tolist(), fraction=0.03,
                 label="mean log(1 + |DCT coefficient|), grey levels")
    fig.suptitle(title, fontsize=10)
    return fig
