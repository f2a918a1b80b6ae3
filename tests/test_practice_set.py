"""The embedded practice set (data/practice) and its builder, data/build_practice_set.py.

Fast checks only: nothing here trains a model. The measured baselines are in data/README.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PRACTICE = ROOT / "data" / "practice"
COUNTS = {"train": 1000, "test": 250}


def load_builder():
    """Import data/build_practice_set.py as a module (data/ is not a package)."""
    path = ROOT / "data" / "build_practice_set.py"
    spec = importlib.util.spec_from_file_location("build_practice_set", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder():
    return load_builder()


def practice_files() -> dict[tuple[str, str], list[Path]]:
    return {(split, label): sorted((PRACTICE / split / label).glob("*"))
            for split in COUNTS for label in ("REAL", "FAKE")}


def test_layout_counts_and_names() -> None:
    for (split, label), files in practice_files().items():
        assert [f.name for f in files] == [f"{i:04d}.jpg" for i in range(COUNTS[split])], (
            f"{split}/{label}")


def test_every_file_is_a_32x32_rgb_jpeg_with_one_setting() -> None:
    """Same quantisation tables and chroma subsampling for both classes (notebook 08 audits it)."""
    settings = set()
    for files in practice_files().values():
        for path in files:
            with Image.open(path) as img:
                assert img.format == "JPEG" and img.mode == "RGB" and img.size == (32, 32), path
                tables = tuple(tuple(t) for _, t in sorted(img.quantization.items()))
                sampling = tuple(c[1:3] for c in img.layer)
                settings.add((tables, sampling, "progressive" in img.info))
    assert len(settings) == 1


def test_no_image_appears_twice() -> None:
    digests = []
    for files in practice_files().values():
        for path in files:
            with Image.open(path) as img:
                digests.append(hashlib.sha1(np.asarray(img).tobytes()).hexdigest())
    assert len(set(digests)) == len(digests)


def test_folder_stays_small() -> None:
    size = sum(p.stat().st_size for files in practice_files().values() for p in files)
    assert size < 6 * 2**20


def test_whole_photos_are_held_out_for_test(builder) -> None:
    train, test = builder.photo_groups(photo_split=True)
    names = {s.name for s in builder.SOURCES}
    assert {s.name for s in test} == builder.TEST_PHOTOS <= names
    assert {s.name for s in train} == names - builder.TEST_PHOTOS
    assert builder.VARIANTS[builder.DEFAULT_VARIANT].photo_split
    with pytest.raises(ValueError, match="nope"):
        builder.photo_groups(True, frozenset({"nope"}))


def test_every_source_photo_has_a_licence_row(builder) -> None:
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    licences = (ROOT / "data" / "LICENSES.md").read_text(encoding="utf-8")
    for source in builder.SOURCES:
        assert f"`{source.package}/{source.relpath}`" in readme, source.name
        assert re.search(rf"^\| {source.name} \|", licences, re.MULTILINE), source.name


def test_in_graph_downscale_is_pillows_filter(builder) -> None:
    """The GAN's discriminator sees FAKEs downscaled exactly like the written files and REALs."""
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (80, 80)).astype(np.float32)
    matrix = builder.resize_matrix(80)
    ours = matrix @ image @ matrix.T
    pillow = np.asarray(Image.fromarray(image, mode="F").resize(
        (32, 32), builder.RESAMPLE, box=builder.window_box(80)))
    np.testing.assert_allclose(ours, pillow, atol=1e-2)
    batch = rng.integers(0, 256, (2, 80, 80, 3), dtype=np.uint8)
    assert builder.render_to_32(batch).shape == (2, 32, 32, 3)


def test_real_crops_are_downscaled_and_informative(builder) -> None:
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    images, sources = builder.sample_real_crops([photo], 5, rng, set())
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert sources.tolist() == [0] * 5
    flat = Image.fromarray(np.full((300, 400, 3), 7, dtype=np.uint8))
    assert not builder.is_informative(builder.random_crop(flat, rng))


def test_refuses_to_write_elsewhere_in_the_repository(builder) -> None:
    with pytest.raises(SystemExit, match="refusing"):
        builder.check_target(ROOT / "dflearn")
    with pytest.raises(SystemExit, match="refusing"):
        builder.check_target(ROOT.parent / "shared" / "x")


def test_variants_need_an_output_folder(builder) -> None:
    with pytest.raises(SystemExit, match="--out"):
        builder.main(["--variant", "transposed-32"])


def test_missing_source_photo_names_the_file(builder) -> None:
    missing = builder.Source("nope", "numpy", "no/such.png", "none")
    with pytest.raises(FileNotFoundError, match=r"no/such\.png.*pip install"):
        builder.load_source(missing)


def test_match_statistics_lends_the_references_histogram_and_spectrum(builder) -> None:
    """A FAKE keeps its own layout but takes a pool crop's colour values and radial spectrum."""
    rng = np.random.default_rng(0)
    grid = np.arange(32)
    pattern = np.outer(np.sin(grid / 3), np.cos(grid / 4))
    noisy = lambda image, std: (image[..., None] + rng.normal(0, std, (32, 32, 3))).clip(0, 255)
    reference = noisy(128 + 50 * pattern, 20).astype(np.uint8)
    darker_transposed = noisy(60 + 30 * pattern.T, 10).astype(np.uint8)
    out = builder.match_statistics(darker_transposed, reference)
    assert out.shape == reference.shape and out.dtype == np.uint8
    for c in range(3):
        values = out[..., c].ravel()
        np.testing.assert_array_equal(np.sort(values), np.sort(reference[..., c].ravel()))
        assert np.corrcoef(values, darker_transposed[..., c].ravel())[0, 1] > 0.7  # its layout
        before = np.corrcoef(darker_transposed[..., c].ravel(), reference[..., c].ravel())[0, 1]
        after = np.corrcoef(values, reference[..., c].ravel())[0, 1]
        assert after < before + 0.1  # not the reference's layout

    def high_rings(image: np.ndarray) -> float:
        from scipy.fft import dctn
        profile = builder.radial_profile(np.abs(dctn(image[..., 0].astype(float), norm="ortho")))
        return float(profile[20:].mean())

    ramp = np.add.outer(grid, grid) * 2.0
    smooth = noisy(ramp, 1).astype(np.uint8)
    sharpened = builder.match_statistics(smooth, reference)
    assert high_rings(smooth) < 0.2 * high_rings(reference)
    assert 0.5 * high_rings(reference) < high_rings(sharpened) < 2 * high_rings(reference)


def test_finish_fakes_mirrors_about_half_and_can_be_switched_off(builder) -> None:
    rng = np.random.default_rng(1)
    images = np.zeros((200, 32, 32, 3), dtype=np.uint8)
    images[:, :, :8] = 255  # bright left edge
    variant = builder.VARIANTS[builder.DEFAULT_VARIANT]
    assert variant.match_stats and variant.mirror
    plain = builder.replace(variant, match_stats=False)
    mirrored = builder.finish_fakes(images, images[:1], rng, plain)[:, 0, -1, 0] == 255
    assert 70 <= mirrored.sum() <= 130
    assert images[:, 0, -1, 0].max() == 0  # the input is not changed
    off = builder.replace(plain, mirror=False)
    np.testing.assert_array_equal(builder.finish_fakes(images, images[:1], rng, off), images)


def test_shipped_fakes_match_the_reals_global_statistics() -> None:
    """Brightness and contrast per channel say almost nothing about the label (train split)."""
    stats = {}
    for label in ("REAL", "FAKE"):
        files = sorted((PRACTICE / "train" / label).glob("*.jpg"))
        pixels = np.stack([np.asarray(Image.open(p), dtype=np.float64) for p in files])
        stats[label] = (pixels.mean(axis=(1, 2)).mean(0), pixels.std(axis=(1, 2)).mean(0))
    for index, name in enumerate(("mean", "standard deviation")):
        gap = np.abs(stats["REAL"][index] - stats["FAKE"][index]).max()
        assert gap < 4.0, f"per-channel {name} differs by {gap:.1f} grey levels"
