"""Choosing which dataset a notebook uses: explicit path, $DFLEARN_DATA, data/cifake, Kaggle, or
the embedded practice set; and the study's second dataset, Manjil Karki's Kaggle "Deepfake and
Real Images" (``manjilkarki/deepfake-and-real-images``), found by the same rules or stood in for.

Core layer, used by every notebook (which dataset), 04, 07 and 08 (the second dataset); imports
no lesson module.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dflearn.data import SPLITS, Dataset, DatasetError, list_class_files, load_cifake, split_dir
from dflearn.paths import course_root, embedded_data_dir
from dflearn.splits import Splits, balanced_subset, make_splits, stratified_split, study_split

DATA_ENV = "DFLEARN_DATA"
SECOND_DATA_ENV = "DFLEARN_SECOND_DATA"
KARKI_HANDLE = "manjilkarki/deepfake-and-real-images"
KARKI_NAME = "Manjil Karki's \"Deepfake and Real Images\" (Kaggle)"
GET_KARKI = (
    f"For the study's second dataset, {KARKI_NAME}: download Kaggle '{KARKI_HANDLE}' into "
    f"data/karki/ or set {SECOND_DATA_ENV}=/path/to/it (or `pip install kagglehub` with Kaggle "
    "access); any folder with train/ and test/ (validation/ optional) holding real/ and fake/ "
    "images works, in any letter case."
)
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


def kaggle_download(handle: str, what: str, fallback: str, timeout: float = 3.0) -> Path | None:
    """Download Kaggle dataset ``handle`` with kagglehub; return its folder, or ``None`` with the
    reason printed (``what`` names it, ``fallback`` says what is used instead).

    Returns quickly when kagglehub is missing, ``$DFLEARN_OFFLINE`` is set or the network does
    not answer within ``timeout``.
    """
    if os.environ.get(OFFLINE_ENV):
        return None
    try:
        import kagglehub  # optional dependency
    except ImportError:
        return None
    if not _network_answers(timeout):
        print(f"{what} download skipped: {KAGGLE_HOST[0]} did not answer within {timeout:g} s.")
        return None
    try:
        return Path(kagglehub.dataset_download(handle))
    except Exception as exc:  # kagglehub raises several types (auth, HTTP, IO)
        print(f"{what} download failed ({type(exc).__name__}: {exc}); {fallback}.")
        return None


def download_cifake(timeout: float = 3.0) -> Path | None:
    """Download CIFAKE with kagglehub; return its folder, or ``None`` (with the reason printed)."""
    path = kaggle_download(KAGGLE_HANDLE, "CIFAKE", "using the practice set", timeout)
    if path is None:
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
    is ``splits.test`` re-encoded the same way (the same pictures, a different pipeline).

    When ``splits`` used every training image (large profiles on a small dataset), the stand-in's
    training images are the first dataset's own training images re-encoded, so fine-tuning on it
    sees no new picture; the test set is still ``splits.test`` re-encoded."""
    from dflearn.images import jpeg

    pool = images_not_in(full_train, splits.train, splits.val)
    if len(pool.labels) == 0 or len(np.unique(pool.labels)) < 2 or min(pool.counts().values()) < 10:
        pool = splits.train  # nothing (or too little) left unused: re-encode the training split
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
    is_karki: bool = False  # the study's own second dataset, found by find_karki


def folder_splits(root: str | os.PathLike, n_per_class: int | None = None, seed: int = 0,
                  image_size: int | None = None) -> Splits:
    """Seeded, class-balanced splits of a CIFAKE-layout folder (10% of train for validation),
    at most ``n_per_class`` images per class and split (fewer when a class has fewer)."""
    train, test = (load_cifake(root, split, image_size=image_size) for split in ("train", "test"))

    def capped(ds: Dataset) -> int | None:
        return None if n_per_class is None else min(n_per_class, *ds.counts().values())

    return make_splits(train, test, n_train_per_class=capped(train), n_test_per_class=capped(test),
                       seed=seed)


_SPLIT_NAMES = {"train": "train", "test": "test", "validation": "val", "val": "val"}
_CLASS_NAMES = {"fake": 0, "real": 1}


def find_labelled_splits(root: str | os.PathLike, depth: int = 2) -> dict[str, dict[int, Path]]:
    """``{"train"|"val"|"test": {FAKE: folder, REAL: folder}}`` of a folder laid out as
    ``train/``, ``test/`` (and optionally ``validation/`` or ``val/``), each holding ``real/`` and
    ``fake/``, in any letter case, at ``root`` or up to ``depth`` folders below it (Karki's
    Kaggle download is ``Dataset/Train/Real``...); ``{"all": ...}`` for a flat folder holding
    ``real/`` and ``fake/`` directly. Raises :class:`DatasetError` naming the folder and the
    layout when none is found."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"Second dataset folder not found: {root}. {GET_KARKI}")
    candidates = [root]
    for _ in range(depth):
        candidates += [c for parent in list(candidates) for c in sorted(parent.iterdir())
                       if c.is_dir() and c not in candidates]
    for folder in candidates:
        flat = {_CLASS_NAMES[c.name.lower()]: c for c in sorted(folder.iterdir())
                if c.is_dir() and c.name.lower() in _CLASS_NAMES}
        if len(flat) == 2:
            return {"all": flat}
        splits: dict[str, dict[int, Path]] = {}
        for sub in (s for s in sorted(folder.iterdir()) if s.is_dir()):
            classes = {_CLASS_NAMES[c.name.lower()]: c for c in sorted(sub.iterdir())
                       if c.is_dir() and c.name.lower() in _CLASS_NAMES}
            if sub.name.lower() in _SPLIT_NAMES and len(classes) == 2:
                splits[_SPLIT_NAMES[sub.name.lower()]] = classes
        if {"train", "test"} <= set(splits):
            return splits
    raise DatasetError(f"No train/ and test/ folders holding real/ and fake/ images found in "
                       f"{root} (searched {depth} levels down). {GET_KARKI}")


def _sample(paths: list[str], labels: np.ndarray, n_per_class: int | None,
            rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """At most ``n_per_class`` files per class, drawn at random (all when ``None``)."""
    keep = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        if n_per_class is not None and len(index) > n_per_class:
            index = np.sort(rng.choice(index, n_per_class, replace=False))
        keep.extend(index.tolist())
    return [paths[i] for i in keep], labels[keep]


def labelled_splits(root: str | os.PathLike, n_per_class: int | None = None, seed: int = 0,
                    image_size: int | None = None) -> Splits:
    """Seeded splits of any train/test(/validation) x real/fake folder
    (:func:`find_labelled_splits`), decoding only the sampled files: at most ``n_per_class``
    images per class and split, resized to ``image_size``. Without a validation folder, 10% of
    the training images validate; a flat real/fake folder is split 80:10:10. Used for Karki's dataset in 04, 07 and 08."""
    from dflearn.data import decode_files

    rng = np.random.default_rng(seed)
    found = find_labelled_splits(root)
    parts = {}
    for split, classes in found.items():
        paths, labels = _sample(*list_class_files(classes), n_per_class, rng)
        parts[split], _ = decode_files(paths, labels, image_size=image_size)
    if "all" in parts:  # a flat folder: the study's 80:10:10
        return study_split(parts["all"], seed)
    if "val" not in parts:
        parts["train"], parts["val"] = stratified_split(parts["train"], 0.1, seed)
    return Splits(parts["train"], parts["val"], parts["test"])


def find_karki(folder: str | os.PathLike = "", *, download: bool = True) -> tuple[Path, str] | None:
    """Where Karki's dataset is, and how it was found: ``folder``; ``$DFLEARN_SECOND_DATA``;
    ``data/karki/`` in this checkout; a kagglehub download (when installed and online, as for
    CIFAKE). ``None`` when none of them has it."""
    if folder:
        return Path(folder).expanduser(), "the folder given"
    env = os.environ.get(SECOND_DATA_ENV)
    if env:
        return Path(env).expanduser(), f"${SECOND_DATA_ENV}"
    local = course_root() / "data" / "karki"
    if local.is_dir():
        return local, "data/karki/"
    path = kaggle_download(KARKI_HANDLE, "Karki's dataset", "using a stand-in") if download else None
    return (path, "kagglehub") if path is not None else None


def second_dataset(first: DatasetChoice, full_train: Dataset, splits: Splits,
                   folder: str | os.PathLike = "", *, search: bool = True, quality: int = 20,
                   n_per_class: int | None = None, seed: int = 0) -> SecondDataset:
    """The second dataset of the study's Personal CNN (fine-tuned on it in 04; explained in 07),
    chosen in this order:

    1. ``folder`` when given (any train/test x real/fake layout, :func:`labelled_splits`);
       else, when ``search`` is true, the study's own second dataset, Manjil Karki's "Deepfake
       and Real Images", from ``$DFLEARN_SECOND_DATA``, ``data/karki/`` or a kagglehub download
       (:func:`find_karki`);
    2. when the first dataset (``first``, a :class:`DatasetChoice`) is CIFAKE:
       the embedded practice set (other photos, fakes from a small GAN, not Stable Diffusion);
    3. when the first is the practice set and ``search`` is true: a CIFAKE folder on this
       machine (``$DFLEARN_DATA`` or ``data/cifake/``; nothing is downloaded);
    4. otherwise a stand-in: :func:`recompressed_splits` of the first dataset, said plainly.

    Images are resized to the first dataset's size, so the model takes them as they are.
    """
    size = int(splits.train.images.shape[1])
    if folder:
        return SecondDataset(labelled_splits(folder, n_per_class, seed, size), "the folder given",
                             f"the folder {folder} (the study used {KARKI_NAME})")
    karki = find_karki(download=True) if search else None
    if karki is not None:
        root, how = karki
        return SecondDataset(labelled_splits(root, n_per_class, seed, size), "Karki's dataset",
                             f"{KARKI_NAME}, the study's second dataset, from {how} ({root})",
                             is_karki=True)
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
        f"another pipeline; no CIFAKE folder was searched or found). It is NOT the study's "
        f"second dataset. {GET_KARKI}")
