"""load_cifake: layout errors, conversions, corrupt files, caching, and the real CIFAKE sample."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import write_image
from dflearn.data import FAKE, REAL, DatasetError, DatasetWarning, list_images, load_cifake
from dflearn.duplicates import drop_duplicates


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_loads_layout_in_stable_order(make_cifake) -> None:
    root = make_cifake(n=5)
    images, labels, paths = load_cifake(root, "train")
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [FAKE] * 5 + [REAL] * 5
    assert [Path(p).parent.name for p in paths] == ["FAKE"] * 5 + ["REAL"] * 5
    assert list(paths) == sorted(paths[:5].tolist()) + sorted(paths[5:].tolist())


def test_missing_root_names_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=str(tmp_path / "nope")) as err:
        load_cifake(tmp_path / "nope")
    assert "REAL,FAKE" in str(err.value)


def test_missing_split_and_nested_hint(make_cifake, tmp_path: Path) -> None:
    root = make_cifake(n=2)
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.move(str(root), outer / "cifake")
    with pytest.raises(DatasetError, match="Did you mean .*cifake"):
        load_cifake(outer, "train")


def test_missing_class_folder(make_cifake) -> None:
    root = make_cifake(n=2)
    shutil.rmtree(root / "test" / "FAKE")
    with pytest.raises(DatasetError, match=r"Class folder missing: .*test/FAKE"):
        load_cifake(root, "test")


def test_lower_case_class_folder_is_an_error(make_cifake) -> None:
    root = make_cifake(n=2)
    os.rename(root / "train" / "REAL", root / "train" / "real")
    with pytest.raises(DatasetError, match="upper case"):
        load_cifake(root, "train")


def test_empty_class(make_cifake) -> None:
    root = make_cifake(n=2)
    for f in (root / "train" / "REAL").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match=r"empty: .*train/REAL"):
        load_cifake(root, "train")


def test_unknown_split(make_cifake) -> None:
    with pytest.raises(DatasetError, match="Unknown split"):
        load_cifake(make_cifake(n=1), "validation")


def test_corrupt_file_is_an_error_by_default_and_skippable(make_cifake) -> None:
    root = make_cifake(n=3)
    bad = root / "train" / "FAKE" / "0001.jpg"
    bad.write_bytes(b"not a jpeg at all")
    before = tree_snapshot(root)
    with pytest.raises(DatasetError, match=r"(?s)1 unreadable .*0001\.jpg.*skip_corrupt=True"):
        load_cifake(root, "train")
    with pytest.warns(DatasetWarning, match=r"skipped 1 unreadable file.*0001\.jpg"):
        ds = load_cifake(root, "train", skip_corrupt=True)
    assert len(ds.labels) == 5 and str(bad) not in ds.paths
    assert tree_snapshot(root) == before  # nothing in the dataset folder changed


def test_truncated_jpeg_is_reported(make_cifake) -> None:
    root = make_cifake(n=2)
    f = root / "test" / "REAL" / "0000.jpg"
    f.write_bytes(f.read_bytes()[:60])
    with pytest.raises(DatasetError, match="0000.jpg"):
        load_cifake(root, "test")


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "CMYK"])
def test_non_rgb_images_are_converted_with_counted_warning(make_cifake, mode: str) -> None:
    root = make_cifake(n=2)
    suffix = ".jpg" if mode in ("L", "CMYK") else ".png"
    write_image(root / "train" / "REAL" / f"odd{suffix}", mode=mode)
    write_image(root / "train" / "REAL" / f"odd2{suffix}", mode=mode, seed=3)
    with pytest.warns(DatasetWarning, match=rf"converted 2 non-RGB image\(s\) to RGB \(2 {mode}\)"):
        ds = load_cifake(root, "train")
    assert ds.images.shape == (6, 32, 32, 3)


def test_mixed_sizes_are_resized_to_the_common_size(make_cifake) -> None:
    root = make_cifake(n=3)
    write_image(root / "train" / "FAKE" / "big.png", size=64)
    with pytest.warns(DatasetWarning, match=r"resized 1 image\(s\) to 32x32 \(sizes seen: 32x32, 64x64\)"):
        ds = load_cifake(root, "train")
    assert ds.images.shape[1:] == (32, 32, 3)


def test_explicit_image_size(make_cifake) -> None:
    ds = load_cifake(make_cifake(n=2), "train", image_size=16)
    assert ds.images.shape == (4, 16, 16, 3)


def test_non_image_files_ignored_with_warning(make_cifake) -> None:
    root = make_cifake(n=2)
    (root / "train" / "REAL" / "notes.txt").write_text("hello")
    (root / "train" / "REAL" / ".DS_Store").write_bytes(b"\0")
    with pytest.warns(DatasetWarning, match="Ignored 1 non-image"):
        paths, _ = list_images(root, "train")
    assert len(paths) == 4


def test_cache_hit_and_invalidation(make_cifake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("DFLEARN_CACHE", str(cache))
    root = make_cifake(n=3)
    first = load_cifake(root, "train")
    entries = list((cache / "datasets").glob("train-*"))
    assert len(entries) == 1
    again = load_cifake(root, "train")
    np.testing.assert_array_equal(first.images, again.images)
    assert len(list((cache / "datasets").glob("train-*"))) == 1  # reused, not rewritten
    write_image(root / "train" / "REAL" / "0000.jpg", seed=99)  # change a file in place
    changed = load_cifake(root, "train")
    assert len(list((cache / "datasets").glob("train-*"))) == 2
    assert not np.array_equal(changed.images, first.images)


def test_damaged_cache_entry_is_rebuilt(make_cifake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFLEARN_CACHE", str(tmp_path / "c"))
    root = make_cifake(n=2)
    load_cifake(root, "train")
    (entry,) = (tmp_path / "c" / "datasets").glob("train-*")
    (entry / "images.npy").write_bytes(b"garbage")
    assert load_cifake(root, "train").images.shape == (4, 32, 32, 3)


def test_dedupe_within_split(make_cifake) -> None:
    root = make_cifake(n=3)
    shutil.copy(root / "train" / "FAKE" / "0000.jpg", root / "train" / "FAKE" / "copy.jpg")
    assert len(load_cifake(root, "train").labels) == 7
    assert len(drop_duplicates(load_cifake(root, "train")).labels) == 6  # dflearn.duplicates


@pytest.mark.shared
def test_reads_the_shared_cifake_sample_exactly(shared_sample: Path) -> None:
    train = load_cifake(shared_sample, "train")
    test = load_cifake(shared_sample, "test")
    assert train.counts() == {"FAKE": 8000, "REAL": 8000}
    assert test.counts() == {"FAKE": 2000, "REAL": 2000}
    assert train.images.shape == (16000, 32, 32, 3) and train.images.dtype == np.uint8
    assert test.images.shape == (4000, 32, 32, 3)
    assert train.paths[0].endswith("FAKE/1000 (10).jpg") or "/FAKE/" in train.paths[0]
    assert len(set(train.paths.tolist())) == 16000
