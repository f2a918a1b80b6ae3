"""Seeded balanced subsets and stratified, shuffled train/validation/test splits.

Core layer, used by every notebook; imports no lesson module.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from dflearn.data import Dataset, DatasetWarning, concat


class Splits(NamedTuple):
    """Train, validation and test datasets."""

    train: Dataset
    val: Dataset
    test: Dataset

    def describe(self) -> str:
        """One line per part."""
        return "\n".join(f"{name:>5}: {ds.describe()}" for name, ds in zip(self._fields, self))


def balanced_subset(ds: Dataset, n_per_class: int | None, seed: int = 0) -> Dataset:
    """Draw ``n_per_class`` images of each class at random (seeded), in shuffled order.

    ``None`` keeps every image (still shuffled). Asking for more than a class holds keeps the
    whole class and warns.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(ds.labels):
        idx = np.flatnonzero(ds.labels == label)
        if n_per_class is not None and n_per_class > len(idx):
            warnings.warn(
                DatasetWarning(f"Asked for {n_per_class} images of class {label}; only {len(idx)}."),
                stacklevel=2,
            )
        take = len(idx) if n_per_class is None else min(n_per_class, len(idx))
        chosen.append(rng.choice(idx, size=take, replace=False))
    order = np.concatenate(chosen)
    rng.shuffle(order)
    return ds.subset(order)


def stratified_split(ds: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split into ``(1 - fraction, fraction)`` parts, stratified by label and shuffled."""
    from sklearn.model_selection import train_test_split  # slow import, needed only here

    idx = np.arange(len(ds.labels))
    first, second = train_test_split(
        idx, test_size=fraction, stratify=ds.labels, random_state=seed, shuffle=True
    )
    return ds.subset(first), ds.subset(second)


def study_split(ds: Dataset, seed: int = 0) -> Splits:
    """The study's protocol: 80% train, and the remaining 20% halved into validation and test."""
    train, rest = stratified_split(ds, 0.2, seed)
    val, test = stratified_split(rest, 0.5, seed + 1)
    return Splits(train, val, test)


def official_split(train: Dataset, test: Dataset, val_fraction: float = 0.1, seed: int = 0) -> Splits:
    """Keep the given test set; carve a stratified validation set out of the training set."""
    train_part, val = stratified_split(train, val_fraction, seed)
    return Splits(train_part, val, test)


def make_splits(
    train: Dataset,
    test: Dataset,
    mode: str = "official",
    *,
    n_train_per_class: int | None = None,
    n_test_per_class: int | None = None,
    seed: int = 0,
) -> Splits:
    """Build the profile's splits from the loaded train and test folders.

    ``mode="official"`` keeps CIFAKE's test folder and carves 10% validation out of the
    (subsampled) train folder. ``mode="study"`` pools both folders and splits 80:10:10.
    """
    if mode == "official":
        train = balanced_subset(train, n_train_per_class, seed)
        test = balanced_subset(test, n_test_per_class, seed + 1)
        return official_split(train, test, seed=seed)
    if mode == "study":
        n_total = None
        if n_train_per_class is not None:
            n_total = n_train_per_class + (n_test_per_class or 0)
        pooled = balanced_subset(concat([train, test]), n_total, seed)
        return study_split(pooled, seed)
    raise ValueError(f"Unknown split mode {mode!r}: use 'official' or 'study'.")
