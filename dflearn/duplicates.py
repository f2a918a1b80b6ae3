"""Finding identical images within and across splits (CIFAKE has duplicate FAKE files).

Core layer, used by 01 (duplicates) and 08 (leakage); imports no lesson module.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from dflearn.data import SPLITS, Dataset, list_images


def file_hash(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def pixel_hashes(images: np.ndarray) -> list[str]:
    """SHA-1 of each decoded image's pixels (finds re-encoded copies too)."""
    return [hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in images]


@dataclass
class DuplicateReport:
    """Groups of identical images; each group is a list of ``(split, path)`` pairs."""

    groups: list[list[tuple[str, str]]] = field(default_factory=list)

    @property
    def n_groups(self) -> int:
        """Number of groups of identical images."""
        return len(self.groups)

    @property
    def cross_split(self) -> list[list[tuple[str, str]]]:
        """Groups whose members sit in more than one split (train/test leakage)."""
        return [g for g in self.groups if len({s for s, _ in g}) > 1]

    @property
    def n_redundant(self) -> int:
        """Images that could be removed, keeping one per group."""
        return sum(len(g) - 1 for g in self.groups)

    def summary(self) -> str:
        """One line: groups, removable copies and cross-split groups."""
        return (
            f"{self.n_groups} duplicate group(s), {self.n_redundant} redundant image(s), "
            f"{len(self.cross_split)} group(s) spanning splits"
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per duplicated file, with its group number and split."""
        rows = [
            {"group": i, "split": split, "path": path, "cross_split": len({s for s, _ in g}) > 1}
            for i, g in enumerate(self.groups)
            for split, path in g
        ]
        return pd.DataFrame(rows, columns=["group", "split", "path", "cross_split"])


def _group(keys: Iterable[tuple[str, str, str]]) -> DuplicateReport:
    buckets: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for digest, split, path in keys:
        buckets[digest].append((split, path))
    groups = [members for members in buckets.values() if len(members) > 1]
    groups.sort(key=lambda g: g[0][1])
    return DuplicateReport(groups)


def find_duplicates(root: str | os.PathLike, splits: Iterable[str] = SPLITS) -> DuplicateReport:
    """Find byte-identical image files within and across the splits of a CIFAKE-layout folder."""
    keys = []
    for split in splits:
        paths, _ = list_images(root, split)
        keys.extend((file_hash(p), split, str(p)) for p in paths)
    return _group(keys)


def drop_duplicates(ds: Dataset, against: Dataset | None = None) -> Dataset:
    """Drop repeated images from ``ds`` (keeping the first), and any that also occur in ``against``.

    Use ``drop_duplicates(test, against=train)`` to remove train/test leakage.
    """
    seen = set(pixel_hashes(against.images)) if against is not None else set()
    keep = []
    for i, digest in enumerate(pixel_hashes(ds.images)):
        if digest not in seen:
            keep.append(i)
            seen.add(digest)
    return ds.subset(np.asarray(keep, dtype=np.int64))
