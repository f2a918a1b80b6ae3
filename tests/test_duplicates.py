"""Duplicate and leakage detection, on synthetic folders and on the real CIFAKE sample."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dflearn.data import load_cifake
from dflearn.duplicates import drop_duplicates, find_duplicates


def test_finds_within_and_cross_split_groups(make_cifake) -> None:
    root = make_cifake(n=4)
    shutil.copy(root / "train/FAKE/0000.jpg", root / "train/FAKE/dup.jpg")
    shutil.copy(root / "train/FAKE/0001.jpg", root / "test/FAKE/leak.jpg")
    report = find_duplicates(root)
    assert report.n_groups == 2
    assert report.n_redundant == 2
    assert len(report.cross_split) == 1
    assert {s for s, _ in report.cross_split[0]} == {"train", "test"}
    frame = report.to_frame()
    assert len(frame) == 4 and frame["cross_split"].sum() == 2
    assert "2 duplicate group(s)" in report.summary()


def test_drop_duplicates_removes_leaks(make_cifake) -> None:
    root = make_cifake(n=4)
    shutil.copy(root / "train/REAL/0002.jpg", root / "test/REAL/leak.jpg")
    train, test = load_cifake(root, "train"), load_cifake(root, "test")
    clean = drop_duplicates(test, against=train)
    assert len(clean.labels) == len(test.labels) - 1
    assert not any(p.endswith("leak.jpg") for p in clean.paths)
    assert len(drop_duplicates(clean, against=train).labels) == len(clean.labels)  # no leak left


@pytest.mark.shared
def test_shared_sample_has_46_groups_16_cross_split(shared_sample: Path) -> None:
    report = find_duplicates(shared_sample)
    assert report.n_groups == 46
    assert len(report.cross_split) == 16
    assert all("/FAKE/" in path for group in report.groups for _, path in group)
