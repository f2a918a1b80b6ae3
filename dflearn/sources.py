"""Choosing which dataset a notebook uses: explicit path, $DFLEARN_DATA, data/cifake, Kaggle, or
the embedded practice set."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from dflearn.data import SPLITS, DatasetError, split_dir
from dflearn.paths import course_root, embedded_data_dir

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
