"""Balanced subsets and stratified splits: seeded, shuffled, never class-sorted tails."""

from __future__ import annotations

import numpy as np
import pytest

from dflearn.data import Dataset, DatasetWarning
from dflearn.splits import balanced_subset, make_splits, official_split, study_split


def sorted_dataset(n_per_class: int = 100) -> Dataset:
    labels = np.repeat([0, 1], n_per_class)
    images = np.arange(2 * n_per_class, dtype=np.uint8).reshape(-1, 1, 1, 1).repeat(3, axis=3)
    paths = np.asarray([f"img{i:04d}" for i in range(2 * n_per_class)])
    return Dataset(images, labels, paths)


def test_balanced_subset_is_balanced_seeded_and_shuffled() -> None:
    ds = sorted_dataset()
    a = balanced_subset(ds, 30, seed=1)
    b = balanced_subset(ds, 30, seed=1)
    c = balanced_subset(ds, 30, seed=2)
    assert a.counts() == {"FAKE": 30, "REAL": 30}
    assert a.paths.tolist() == b.paths.tolist()
    assert a.paths.tolist() != c.paths.tolist()
    assert not np.all(np.diff(a.labels) >= 0)  # classes interleaved, not sorted


def test_balanced_subset_asking_too_much_warns() -> None:
    with pytest.warns(DatasetWarning, match="only 100"):
        assert balanced_subset(sorted_dataset(), 150).counts() == {"FAKE": 100, "REAL": 100}


def test_study_split_is_80_10_10_stratified_and_disjoint() -> None:
    splits = study_split(sorted_dataset(100), seed=0)
    assert [len(s.labels) for s in splits] == [160, 20, 20]
    for part in splits:
        assert part.counts()["FAKE"] == part.counts()["REAL"]
    names = [set(s.paths.tolist()) for s in splits]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])


def test_validation_is_not_the_sorted_tail() -> None:
    ds = sorted_dataset(100)
    _, val, _ = official_split(ds, ds, val_fraction=0.1, seed=0)
    tail = set(ds.paths[-20:].tolist())
    assert val.counts() == {"FAKE": 10, "REAL": 10}
    assert set(val.paths.tolist()) != tail


def test_make_splits_modes() -> None:
    train, test = sorted_dataset(100), sorted_dataset(40)
    off = make_splits(train, test, "official", n_train_per_class=50, n_test_per_class=20, seed=0)
    assert [len(s.labels) for s in off] == [90, 10, 40]
    study = make_splits(train, test, "study", n_train_per_class=40, n_test_per_class=10, seed=0)
    assert [len(s.labels) for s in study] == [80, 10, 10]
    with pytest.raises(ValueError, match="official"):
        make_splits(train, test, "random")
