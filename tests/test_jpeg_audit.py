"""Tests for notebook 10's JPEG audit and shortcut lab."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dflearn import jpeg_audit
from dflearn.data import FAKE, REAL, Dataset, DatasetError
from dflearn.images import jpeg
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


def textured(n: int, seed: int = 0) -> np.ndarray:
    """``n`` 32x32 pictures: smooth colour gradients with fine noise (detail JPEG removes)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, 32)
    base = rng.uniform(40, 200, (n, 1, 1, 3)) + 40 * ramp[None, :, None, None] * rng.uniform(
        -1, 1, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 25, (n, 32, 32, 3)), 0, 255).astype(np.uint8)


def test_block_dct_features_see_what_jpeg_removes() -> None:
    x = textured(4)
    features = jpeg_audit.block_dct_features(x)
    assert features.shape == (4, 3 * 64)
    flat = jpeg_audit.block_dct_features(np.full((1, 16, 16, 3), 90, np.uint8))
    np.testing.assert_allclose(flat.reshape(3, 64)[:, 1:], 0, atol=1e-4)  # no AC energy
    coarse = jpeg_audit.block_dct_features(jpeg(x, 10))
    high = [u * 8 + v for u in range(8) for v in range(8) if u + v >= 8]  # luma, high freq.
    assert (coarse[:, high] < features[:, high]).all()
    with pytest.raises(ValueError, match="divisible by 8"):
        jpeg_audit.block_dct_features(np.zeros((1, 12, 16, 3), np.uint8))


def test_the_block_dct_detector_learns_the_shortcut_and_collapses_without_it() -> None:
    n = 40
    images = textured(2 * n)
    labels = np.array([REAL, FAKE] * n)
    ds = Dataset(images, labels, np.array([str(i) for i in range(2 * n)]))
    train, test = ds.subset(np.arange(n)), ds.subset(np.arange(n, 2 * n))
    planted = jpeg_audit.with_shortcut(train, REAL, 20)
    score = jpeg_audit.fit_block_dct_detector(planted, seed=0)
    tests = jpeg_audit.shortcut_tests(test, REAL, 20)
    kept = score(tests["shortcut kept (as in training)"].images)
    assert ((kept >= 0.5) == (test.labels == REAL)).mean() >= 0.95
    reversed_ = score(tests["shortcut reversed (other class re-encoded)"].images)
    assert ((reversed_ >= 0.5) == (test.labels == REAL)).mean() <= 0.1
    with pytest.raises(ValueError, match="REAL and FAKE"):
        jpeg_audit.fit_block_dct_detector(train.subset(train.labels == REAL))


def test_shortcut_table_and_its_plot() -> None:
    x = textured(8)
    ds = Dataset(x, np.array([REAL, FAKE] * 4), np.array([str(i) for i in range(8)]))
    tests = jpeg_audit.shortcut_tests(ds, REAL, 50)
    scorers = {("always REAL", "as stored"): lambda images: np.ones(len(images)),
               ("mean brightness", "as stored"): lambda images: images.mean(axis=(1, 2, 3)) / 255}
    table = jpeg_audit.shortcut_table(scorers, tests)
    assert table.index.names == ["detector", "trained on", "test images"]
    assert len(table) == 8 and "in-domain" not in table.columns
    assert (table.loc["always REAL", "accuracy"] == 0.5).all()
    fig = jpeg_audit.plot_shortcut(table, title="t")
    ax = fig.axes[0]
    assert fig._suptitle.get_text() == "t" and ax.get_ylabel() and len(ax.patches) == 8


def test_plot_block_dct_has_one_labelled_map_per_group() -> None:
    x = textured(3)
    fig = jpeg_audit.plot_block_dct({"as stored": x, "quality 10": jpeg(x, 10)}, title="maps")
    maps = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in maps] == ["as stored", "quality 10"]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in maps)
    assert fig._suptitle.get_text() == "maps"
