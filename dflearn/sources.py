"""Choosing which dataset a notebook uses: explicit path, $DFLEARN_DATA, data/cifake, Kaggle, or
the embedded practice set.

Core layer, used by every notebook (which dataset), 04 and 07 (the second dataset); imports no lesson module.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dflearn.data import SPLITS, Dataset, DatasetError, load_cifake, split_dir
from dflearn.paths import course_root, embedded_data_dir
from dflearn.splits import Splits, balanced_subset, make_splits, stratified_split

DATA_ENV = "DFLEARN_DATA"
OFFLINE_ENV = "DFLEARN_OFFLINE"
KAGGLE_HANDLE = "birdy654/cifake-real-and-ai-generated-synthetic-images"
KAGGLE_HOST = ("www.kaggle.com", 443)
GET_CIFAKE = (
    "For the full CIFAKE (120k images): download Kaggle "
    f"'{KAGGLE_HANDLE}' into data/cifake/ or set {DATA_ENV}=/path/to/cifake "
    "(or `pip install kagglehub` with Kaggle access)."
)


@dataclass(frozen=True)
class DatasetChoice:
    """The dataset folder to use, what it is and why it was picked."""

    root: Path
    name: str
    source: str

    @property
    def is_embedded(self) -> bool:
        """True for the bundled practice set."""
        return self.source == "embedded"

    def line(self) -> str:
        """The one-line announcement printed by notebooks."""
        hint = f" {GET_CIFAKE}" if self.is_embedded else ""
        return f"Dataset: {self.name} at {self.display_path} (chosen from {self.source}).{hint}"

    @property
    def display_path(self) -> str:
        """The folder, relative to the course folder when inside it (stable across machines)."""
        try:
            return str(self.root.resolve().relative_to(course_root()))
        except ValueError:
            return str(self.root)


def _check_layout(root: Path, source: str) -> Path:
    try:
        for split in SPLITS:
            split_dir(root, split)
    except DatasetError as exc:
        raise DatasetError(f"{exc} (this folder came from {source})") from None
    return root


def _network_answers(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(KAGGLE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def download_cifake(timeout: float = 3.0) -> Path | None:
    """Download CIFAKE with kagglehub; return its folder, or ``None`` (with the reason printed).

    Returns quickly when kagglehub is missing or the network does not answer within ``timeout``.
    """
    if os.environ.get(OFFLINE_ENV):
        return None
    try:
        import kagglehub  # optional dependency
    except ImportError:
        return None
    if not _network_answers(timeout):
        print(f"CIFAKE download skipped: {KAGGLE_HOST[0]} did not answer within {timeout:g} s.")
        return None
    try:
        path = Path(kagglehub.dataset_download(KAGGLE_HANDLE))
    except Exception as exc:  # kagglehub raises several types (auth, HTTP, IO)
        print(f"CIFAKE download failed ({type(exc).__name__}: {exc}); using the practice set.")
        return None
    nested = [p for p in [path, *path.iterdir()] if all((p / s).is_dir() for s in SPLITS)]
    return nested[0] if nested else None


def resolve_dataset(
    path: str | os.PathLike | None = None, *, mode: str = "auto", download: bool = True
) -> DatasetChoice:
    """Pick the dataset folder.

    Order: explicit ``path``; ``$DFLEARN_DATA``; ``data/cifake/``; a kagglehub download (when
    installed and online); the embedded practice set. ``mode="embedded"`` (the ``ci`` profile)
    skips straight from an explicit path to the practice set, so test outputs never depend on
    what else is on the machine.
    """
    if path:
        return DatasetChoice(_check_layout(Path(path).expanduser(), "the path given"), "CIFAKE-layout folder", "argument")
    if mode == "auto":
        env = os.environ.get(DATA_ENV)
        if env:
            return DatasetChoice(_check_layout(Path(env).expanduser(), f"${DATA_ENV}"), "CIFAKE", f"${DATA_ENV}")
        local = course_root() / "data" / "cifake"
        if local.is_dir():
            return DatasetChoice(_check_layout(local, "data/cifake/"), "CIFAKE", "data/cifake/")
        downloaded = download_cifake() if download else None
        if downloaded:
            return DatasetChoice(downloaded, "CIFAKE (Kaggle download)", "kagglehub")
    elif mode != "embedded":
        raise ValueError(f"Unknown data mode {mode!r}: use 'auto' or 'embedded'.")
    return DatasetChoice(embedded_data_dir(), "embedded practice set (synthetic, not CIFAKE)", "embedded")


# --------------------------------------------------------------------------- a second dataset


def images_not_in(full: Dataset, *parts: Dataset) -> Dataset:
    """The images of ``full`` whose paths are in none of ``parts``."""
    taken = set(np.concatenate([p.paths for p in parts]).tolist()) if parts else set()
    keep = np.array([p not in taken for p in full.paths], dtype=bool)
    return full.subset(keep)


def recompressed_splits(full_train: Dataset, splits: Splits, quality: int = 20,
                        n_per_class: int | None = None, seed: int = 0) -> Splits:
    """A stand-in "second dataset" made from the first: training images that ``splits`` did not
    use, re-encoded as JPEG of ``quality``, split 90:10 into train and validation; its test set
    is ``splits.test`` re-encoded the same way (the same pictures, a different pipeline)."""
    from dflearn.images import jpeg

    pool = images_not_in(full_train, splits.train, splits.val)
    if len(np.unique(pool.labels)) < 2:
        raise DatasetError("No unused training images of both classes are left for a second "
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
    train, test = (load_cifake(root, split, image_size=image_size) for split in ("train", "test"))

    def capped(ds: Dataset) -> int | None:
        return None if n_per_class is None else min(n_per_class, *ds.counts().values())

    return make_splits(train, test, n_train_per_class=capped(train), n_test_per_class=capped(test),
                       seed=seed)


def second_dataset(first: DatasetChoice, full_train: Dataset, splits: Splits,
                   folder: str | os.PathLike = "", *, search: bool = True, quality: int = 20,
                   n_per_class: int | None = None, seed: int = 0) -> SecondDataset:
    """The second dataset of the study's Personal CNN (fine-tuned on it in 04; explained in 07),
    chosen in this order:

    1. ``folder``, a CIFAKE-layout folder, when given;
    2. when the first dataset (``first``, a :class:`DatasetChoice`) is CIFAKE:
       the embedded practice set (other photos, fakes from a small GAN, not Stable Diffusion);
    3. when the first is the practice set and ``search`` is true: a CIFAKE folder on this
       machine (``$DFLEARN_DATA`` or ``data/cifake/``; nothing is downloaded);
    4. otherwise a stand-in: :func:`recompressed_splits` of the first dataset.

    Images are resized to the first dataset's size, so the model takes them as they are.
    """
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
