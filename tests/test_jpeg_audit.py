"""Tests for notebook 10's JPEG audit and shortcut lab."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dflearn import jpeg_audit
from dflearn.data import FAKE, REAL, Dataset, DatasetError
from dflearn.splits import Splits


def write_folder(root: Path, real: dict, fake: dict, n: int = 6) -> Path:
    """A CIFAKE-layout folder whose REAL and FAKE files are saved with the given Pillow options
    (``suffix`` picks the format)."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls, options in (("REAL", real), ("FAKE", fake)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            options = dict(options)
            suffix = options.pop("suffix", ".jpg")
            for i in range(n):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}{suffix}", **options)
    return root


@pytest.mark.parametrize("quality", [10, 50, 75, 95, 100])
def test_estimate_quality_recovers_pillows_quality(tmp_path: Path, quality: int) -> None:
    path = tmp_path / "x.jpg"
    Image.new("RGB", (16, 16)).save(path, quality=quality)
    with Image.open(path) as im:
        assert jpeg_audit.estimate_quality(im.quantization[0]) == (quality, True)
    with pytest.raises(ValueError, match="64 values"):
        jpeg_audit.estimate_quality([1, 2, 3])


def test_a_folder_written_alike_passes(tmp_path: Path) -> None:
    same = {"quality": 95, "subsampling": 0}
    root = write_folder(tmp_path / "d", same, same)
    files = jpeg_audit.audit_folder(root)
    assert len(files) == 12 and set(files["quality"]) == {"95"}
    assert set(files["chroma subsampling"]) == {"4:4:4"}
    shares = jpeg_audit.table_shares(files)
    assert len(shares) == 1 and shares["share REAL"].iloc[0] == shares["share FAKE"].iloc[0] == 1
    checks = jpeg_audit.checklist(files)
    assert jpeg_audit.passes(checks)
    assert checks.loc["mean file size (bytes)", "verdict"] == "shown"
    luma = jpeg_audit.luma_tables(files, root)
    np.testing.assert_array_equal(luma["REAL"], jpeg_audit.ijg_table(95).reshape(8, 8))


def test_different_tables_and_formats_fail(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "d", {"quality": 95}, {"quality": 75})
    checks = jpeg_audit.checklist(jpeg_audit.audit_folder(root))
    assert checks.loc["jpeg tables", "verdict"] == "fail"
    assert checks.loc["format", "verdict"] == "pass"
    assert not jpeg_audit.passes(checks)
    root = write_folder(tmp_path / "e", {"quality": 95}, {"suffix": ".png"})
    files = jpeg_audit.audit_folder(root)
    checks = jpeg_audit.checklist(files)
    assert checks.loc["format", "verdict"] == "fail"
    assert "PNG" in checks.loc["format", "FAKE"]
    assert set(files.loc[files["class"] == "FAKE", "quality"]) == {"lossless"}
    assert "FAKE" not in jpeg_audit.luma_tables(files, root)


def test_audit_samples_per_class(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "d", {"quality": 95}, {"quality": 95})
    files = jpeg_audit.audit_folder(root, n_per_class=2)
    assert files["class"].value_counts().to_dict() == {"REAL": 2, "FAKE": 2}


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="broken.jpg"):
        jpeg_audit.file_properties(bad)


def test_the_shortcut_touches_one_class_only() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    ds = Dataset(x, np.array([FAKE, REAL] * 3), np.array([str(i) for i in range(6)]))
    cut = jpeg_audit.with_shortcut(ds, REAL, 50)
    np.testing.assert_array_equal(cut.images[ds.labels == FAKE], x[ds.labels == FAKE])
    assert not np.array_equal(cut.images[ds.labels == REAL], x[ds.labels == REAL])
    planted = jpeg_audit.shortcut_splits(Splits(ds, ds, ds), REAL, 50)
    np.testing.assert_array_equal(planted.test.images, x)
    tests = jpeg_audit.shortcut_tests(ds, REAL, 50)
    assert len(tests) == 4
    reversed_ = tests["shortcut reversed (other class re-encoded)"]
    np.testing.assert_array_equal(reversed_.images[ds.labels == REAL], x[ds.labels == REAL])
    removed = tests["shortcut removed (both classes re-encoded)"]
    assert not np.array_equal(removed.images[ds.labels == FAKE], x[ds.labels == FAKE])
