"""Loading CIFAKE-layout image folders into NumPy arrays, with validation and a disk cache.

The layout is Kaggle CIFAKE's: ``root/{train,test}/{REAL,FAKE}/*.jpg``. Labels follow the study:
``FAKE = 0`` and ``REAL = 1``. Nothing in a dataset folder is ever modified.

Core layer, used by every notebook (loading), 08 (any REAL/FAKE folder); imports no lesson module.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np
from PIL import Image

from dflearn.images import check_images, resize_image
from dflearn.paths import cache_dir

FAKE = 0
REAL = 1
CLASS_NAMES: tuple[str, str] = ("FAKE", "REAL")
SPLITS: tuple[str, str] = ("train", "test")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
_SUFFIX_TUPLE = tuple(IMAGE_SUFFIXES)
CACHE_VERSION = 1

LAYOUT_HELP = (
    "Expected the Kaggle CIFAKE layout ROOT/{train,test}/{REAL,FAKE}/*.jpg "
    "(download birdy654/cifake-real-and-ai-generated-synthetic-images from Kaggle and unzip it, "
    "then pass that folder or set DFLEARN_DATA)."
)


class DatasetError(ValueError):
    """A dataset folder is missing, wrongly laid out, empty or holds unreadable files."""


class DatasetWarning(UserWarning):
    """An image needed converting (mode or size) or a file was skipped."""


class Dataset(NamedTuple):
    """Images (N, H, W, 3) uint8, integer labels (N,) and the source paths (N,)."""

    images: np.ndarray
    labels: np.ndarray
    paths: np.ndarray

    def subset(self, index: np.ndarray | Sequence[int]) -> "Dataset":
        """Return the rows selected by ``index`` (an index array or boolean mask)."""
        index = np.asarray(index)
        return Dataset(self.images[index], self.labels[index], self.paths[index])

    def counts(self) -> dict[str, int]:
        """Number of images per class name."""
        return {name: int(np.sum(self.labels == k)) for k, name in enumerate(CLASS_NAMES)}

    def describe(self) -> str:
        """Short text such as ``1000 images 32x32 (FAKE 500, REAL 500)``."""
        n, h, w = self.images.shape[:3] if self.images.ndim == 4 else (0, 0, 0)
        per_class = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        return f"{n} images {h}x{w} ({per_class})"


def concat(datasets: Iterable[Dataset]) -> Dataset:
    """Concatenate datasets row-wise."""
    parts = list(datasets)
    return Dataset(
        np.concatenate([d.images for d in parts]),
        np.concatenate([d.labels for d in parts]),
        np.concatenate([d.paths for d in parts]),
    )


# --------------------------------------------------------------------------- listing & checks


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DatasetError(f"Dataset folder not found: {root}. {LAYOUT_HELP}")
    if not root.is_dir():
        raise DatasetError(f"Dataset path is a file, not a folder: {root}. {LAYOUT_HELP}")


def _nested_root_hint(root: Path) -> str:
    """Suggest a sub-folder that does have the layout (a common unzip mistake)."""
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if all((child / s).is_dir() for s in SPLITS):
            return f" Did you mean {child}? It contains train/ and test/."
    return ""


def split_dir(root: str | os.PathLike, split: str) -> Path:
    """Return ``root/split`` after checking the folder layout; raise a clear error if it is wrong."""
    root = Path(root).expanduser()
    _check_root(root)
    if split not in SPLITS:
        raise DatasetError(f"Unknown split {split!r}: use one of {SPLITS}.")
    folder = root / split
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir())[:10]
        raise DatasetError(
            f"Split folder missing: {folder} (found in {root}: {found or 'nothing'})."
            f"{_nested_root_hint(root)} {LAYOUT_HELP}"
        )
    return folder


class Listing(NamedTuple):
    """The image files of one split: paths, labels, and a signature of names, sizes and mtimes."""

    paths: list[str]
    labels: np.ndarray
    signature: str


def _class_files(class_dir: Path) -> tuple[list[str], list[str]]:
    """Sorted image file names of one class folder, and the other (non-hidden) files in it."""
    names, others = [], []
    for name in os.listdir(class_dir):
        if name.startswith("."):
            continue
        if name.lower().endswith(_SUFFIX_TUPLE):
            names.append(name)
        elif (class_dir / name).is_file():
            others.append(name)
    names.sort()
    return names, others


def _size_mtime(folder: Path, names: Sequence[str]) -> np.ndarray:
    """(size, mtime in ns) of each file, one ``stat`` each (relative to an open folder where
    the OS allows it, which saves resolving each full path: about 25% faster here)."""
    if os.stat in os.supports_dir_fd:
        fd = os.open(folder, os.O_RDONLY)
        try:
            stats = [os.stat(n, dir_fd=fd) for n in names]
        finally:
            os.close(fd)
    else:  # pragma: no cover - Windows
        stats = [os.stat(folder / n) for n in names]
    return np.array([(st.st_size, st.st_mtime_ns) for st in stats], dtype=np.int64)


def scan_split(root: str | os.PathLike, split: str = "train") -> Listing:
    """List one split's image files in a stable order (FAKE then REAL, by file name).

    Hidden files are ignored; other non-image files are ignored with a counted warning. The
    signature hashes every file's name, size and modification time (one ``stat`` per file).
    """
    folder = split_dir(root, split)
    paths: list[str] = []
    labels: list[int] = []
    digest = hashlib.sha256()
    for label, name in enumerate(CLASS_NAMES):
        class_dir = folder / name
        if not class_dir.is_dir():
            present = sorted(p.name for p in folder.iterdir() if p.is_dir())
            raise DatasetError(
                f"Class folder missing: {class_dir} (sub-folders present: {present or 'none'}). "
                f"Each split needs both REAL/ and FAKE/ (upper case). {LAYOUT_HELP}"
            )
        names, others = _class_files(class_dir)
        if others:
            warnings.warn(
                DatasetWarning(
                    f"Ignored {len(others)} non-image file(s) in {class_dir}, e.g. {others[0]!r}."
                ),
                stacklevel=3,
            )
        if not names:
            raise DatasetError(
                f"Class folder is empty: {class_dir} holds no .jpg/.jpeg/.png images. "
                "Check that the download finished and was unzipped completely."
            )
        digest.update(f"{name}:{len(names)}\0".encode())
        digest.update("\0".join(names).encode("utf-8", "surrogateescape"))
        digest.update(_size_mtime(class_dir, names).tobytes())
        prefix = os.path.join(class_dir, "")
        paths.extend(prefix + n for n in names)
        labels.extend([label] * len(names))
    return Listing(paths, np.asarray(labels, dtype=np.int64), digest.hexdigest())


def list_images(root: str | os.PathLike, split: str = "train") -> tuple[list[str], np.ndarray]:
    """The image file paths of one split and their labels, in a stable order."""
    listing = scan_split(root, split)
    return listing.paths, listing.labels


# --------------------------------------------------------------------------- decoding


class _Decoded(NamedTuple):
    array: np.ndarray | None
    mode: str
    error: str | None


try:  # libjpeg-turbo through simplejpeg is several times faster than PIL for small JPEGs
    import simplejpeg
except ImportError:  # pragma: no cover - optional speed-up
    simplejpeg = None

_FAST_COLORSPACES = frozenset({"YCbCr", "RGB"})


def _decode_fast(path: str) -> _Decoded | None:
    """Decode an ordinary colour JPEG with simplejpeg; ``None`` means "let PIL handle it"."""
    if simplejpeg is None or not path.lower().endswith((".jpg", ".jpeg")):
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if simplejpeg.decode_jpeg_header(data)[2] not in _FAST_COLORSPACES:
            return None
        return _Decoded(simplejpeg.decode_jpeg(data, colorspace="RGB"), "RGB", None)
    except (ValueError, OSError):
        return None  # PIL gives the error message


def _decode(path: str) -> _Decoded:
    """Decode one image file to an RGB uint8 array, noting its original mode or error."""
    fast = _decode_fast(path)
    if fast is not None:
        return fast
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode != "RGB":
                if mode == "P" and "transparency" in img.info:
                    img = img.convert("RGBA")
                img = img.convert("RGB")
            return _Decoded(np.asarray(img, dtype=np.uint8), mode, None)
    except Exception as exc:  # PIL raises many types for broken files
        return _Decoded(None, "", f"{type(exc).__name__}: {exc}")


def _decode_chunk(paths: Sequence[str]) -> list[_Decoded]:
    return [_decode(p) for p in paths]


def _decode_all(paths: Sequence[str], workers: int | None) -> list[_Decoded]:
    """Decode in parallel: one contiguous chunk of files per thread (decoders release the GIL)."""
    workers = workers or min(8, os.cpu_count() or 1)
    if workers <= 1 or len(paths) < 256:
        return _decode_chunk(paths)
    bounds = np.linspace(0, len(paths), workers * 4 + 1).astype(int)
    chunks = [paths[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [d for part in pool.map(_decode_chunk, chunks) for d in part]


def _assemble(
    paths: list[str],
    labels: np.ndarray,
    decoded: list[_Decoded],
    image_size: int | None,
    skip_corrupt: bool,
) -> tuple[Dataset, list[str]]:
    """Stack decoded arrays, converting modes/sizes with counted warnings."""
    notes: list[str] = []
    bad = [(p, d.error) for p, d in zip(paths, decoded) if d.array is None]
    if bad and not skip_corrupt:
        listing = "\n".join(f"  {p}: {err}" for p, err in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise DatasetError(
            f"{len(bad)} unreadable image file(s):\n{listing}{more}\n"
            "Re-download these files, or pass skip_corrupt=True to leave them out."
        )
    if bad:
        notes.append(
            f"skipped {len(bad)} unreadable file(s): " + ", ".join(str(p) for p, _ in bad)
        )
    keep = [i for i, d in enumerate(decoded) if d.array is not None]
    if not keep:
        raise DatasetError(f"No readable images under {Path(paths[0]).parent.parent}.")
    modes = collections.Counter(decoded[i].mode for i in keep if decoded[i].mode != "RGB")
    if modes:
        detail = ", ".join(f"{n} {m}" for m, n in sorted(modes.items()))
        notes.append(f"converted {sum(modes.values())} non-RGB image(s) to RGB ({detail})")
    sizes = collections.Counter(decoded[i].array.shape[:2] for i in keep)
    target = (image_size, image_size) if image_size else sizes.most_common(1)[0][0]
    arrays = []
    n_resized = 0
    for i in keep:
        arr = decoded[i].array
        if arr.shape[:2] != target:
            arr = resize_image(arr, target)
            n_resized += 1
        arrays.append(arr)
    if n_resized and (image_size is None or len(sizes) > 1):
        seen = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
        notes.append(f"resized {n_resized} image(s) to {target[0]}x{target[1]} (sizes seen: {seen})")
    images = np.stack(arrays)
    kept_paths = np.asarray([paths[i] for i in keep])
    return Dataset(images, labels[keep], kept_paths), notes


def decode_files(paths: list[str], labels: np.ndarray, *, image_size: int | None = None,
                 skip_corrupt: bool = False, workers: int | None = None
                 ) -> tuple[Dataset, list[str]]:
    """Decode image files in parallel into a :class:`Dataset` (no cache), converting modes and
    sizes as :func:`load_cifake` does; also returns the notes on what was converted or skipped.

    Raises :class:`DatasetError` listing unreadable files unless ``skip_corrupt``.
    """
    return _assemble(paths, labels, _decode_all(paths, workers), image_size, skip_corrupt)


# --------------------------------------------------------------------------- cache


def _cache_key(root: str | os.PathLike, listing: Listing, options: dict) -> str:
    head = json.dumps({"v": CACHE_VERSION, "root": os.path.abspath(root), **options}, sort_keys=True)
    return hashlib.sha256(f"{head}\n{listing.signature}".encode()).hexdigest()[:24]


def _cache_entry(key: str, split: str) -> Path:
    return cache_dir() / "datasets" / f"{split}-{key}"


def _read_cache(entry: Path) -> tuple[Dataset, list[str]] | None:
    """Read a cache entry (a folder of .npy files); ``None`` if missing or damaged."""
    try:
        ds = Dataset(*(np.load(entry / f"{part}.npy", allow_pickle=False) for part in Dataset._fields))
        notes = json.loads((entry / "notes.json").read_text())
    except (OSError, ValueError, KeyError):
        return None  # decode again
    return (ds, notes) if len({len(part) for part in ds}) == 1 else None


def _write_cache(entry: Path, ds: Dataset, notes: list[str]) -> None:
    """Write a cache entry atomically (a temporary folder renamed into place)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=".tmp-"))
    try:
        for part, array in zip(Dataset._fields, ds):
            np.save(tmp / f"{part}.npy", array, allow_pickle=False)
        (tmp / "notes.json").write_text(json.dumps(notes))
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        warnings.warn(DatasetWarning(f"Could not write dataset cache {entry}: {exc}"), stacklevel=3)


# --------------------------------------------------------------------------- public loader


def load_cifake(
    root: str | os.PathLike,
    split: str = "train",
    *,
    image_size: int | None = None,
    skip_corrupt: bool = False,
    cache: bool = True,
    workers: int | None = None,
) -> Dataset:
    """Load one split of a CIFAKE-layout folder as ``Dataset(images, labels, paths)``.

    Args:
        root: folder holding ``train/`` and ``test/``, each with ``REAL/`` and ``FAKE/``.
        split: ``"train"`` or ``"test"``.
        image_size: resize every image to this square size; by default images keep their size
            and any odd-sized ones are resized to the most common size (with a warning).
        skip_corrupt: leave unreadable files out (listing them) instead of raising.
        cache: reuse decoded arrays from ``DFLEARN_CACHE``; the key covers file names, sizes
            and modification times, so a changed folder is read again.
        workers: decoding threads (default: a few per core).

    Grayscale, RGBA and palette images are converted to RGB with a counted warning.
    """
    listing = scan_split(root, split)
    options = {"image_size": image_size, "skip_corrupt": skip_corrupt}
    cached = None
    if cache:
        cache_path = _cache_entry(_cache_key(root, listing, options), split)
        cached = _read_cache(cache_path)
    if cached is None:
        ds, notes = decode_files(listing.paths, listing.labels, image_size=image_size,
                                 skip_corrupt=skip_corrupt, workers=workers)
        if cache:
            _write_cache(cache_path, ds, notes)
    else:
        ds, notes = cached
    for note in notes:
        warnings.warn(DatasetWarning(f"{Path(root) / split}: {note}"), stacklevel=2)
    return ds


# --------------------------------------------------------------------------- any REAL/FAKE folder


FLAT_LAYOUT_HELP = ("Expected either the CIFAKE layout ROOT/{train,test}/{REAL,FAKE}/ or a flat "
                    "ROOT/{REAL,FAKE}/ folder of .jpg/.jpeg/.png images.")


def _flat_listing(root: Path) -> tuple[list[str], np.ndarray]:
    """The image files of a flat ``root/{REAL,FAKE}`` folder (FAKE first, by file name)."""
    for name in CLASS_NAMES:
        folder = root / name
        if not folder.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise DatasetError(f"Class folder missing: {folder} (sub-folders present: "
                               f"{present or 'none'}). {FLAT_LAYOUT_HELP}")
    return list_class_files({label: root / name for label, name in enumerate(CLASS_NAMES)})


def list_class_files(classes: Mapping[int, Path]) -> tuple[list[str], np.ndarray]:
    """The image files of ``{label: folder}`` (lowest label first, by file name) and their
    labels; an empty class folder is an error naming it. Used for flat REAL/FAKE folders here and
    for Karki's layout in :mod:`dflearn.sources`."""
    paths: list[str] = []
    labels: list[int] = []
    for label in sorted(classes):
        files = sorted(str(p) for p in classes[label].iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise DatasetError(f"Class folder is empty: {classes[label]} holds no "
                               ".jpg/.jpeg/.png images.")
        paths.extend(files)
        labels.extend([label] * len(files))
    return paths, np.asarray(labels, dtype=np.int64)


def load_labelled_folder(root: str | os.PathLike, split: str | None = None, *,
                         image_size: int | None = None, skip_corrupt: bool = False) -> Dataset:
    """Load labelled images from any REAL/FAKE folder, resized to ``image_size`` if given.

    ``root`` may have the CIFAKE layout (then ``split`` picks ``"train"`` or ``"test"``; ``None``
    pools both) or hold ``REAL/`` and ``FAKE/`` directly (``split`` must then be ``None``).
    CIFAKE-layout folders go through :func:`dflearn.data.load_cifake` (and its cache); flat
    folders use the same decoding and conversion code, without a cache.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"Dataset folder not found: {root}. {FLAT_LAYOUT_HELP}")
    if all((root / s).is_dir() for s in SPLITS):
        if split is None:
            return concat(load_cifake(root, s, image_size=image_size,
                                              skip_corrupt=skip_corrupt) for s in SPLITS)
        return load_cifake(root, split, image_size=image_size, skip_corrupt=skip_corrupt)
    if split is not None:
        raise DatasetError(f"{root} has no train/ and test/ folders, so split={split!r} cannot be "
                           f"used; pass split=None for a flat REAL/FAKE folder.")
    paths, labels = _flat_listing(root)
    ds, notes = decode_files(paths, labels, image_size=image_size,
                                     skip_corrupt=skip_corrupt)
    for note in notes:
        warnings.warn(DatasetWarning(f"{root}: {note}"), stacklevel=2)
    return ds


def write_labelled_folder(ds: Dataset, root: str | os.PathLike, suffix: str = ".png",
                          quality: int = 95) -> Path:
    """Write ``ds`` as a flat ``root/{REAL,FAKE}/NNNNN<suffix>`` folder (JPEG at ``quality``)."""
    if suffix not in (".png", ".jpg"):
        raise ValueError(f"suffix must be '.png' or '.jpg', got {suffix!r}.")
    root = Path(root)
    for i, (image, label) in enumerate(zip(check_images(ds.images), ds.labels)):
        folder = root / CLASS_NAMES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        options = {"quality": quality} if suffix == ".jpg" else {}
        Image.fromarray(image).save(folder / f"{i:05d}{suffix}", **options)
    return root
