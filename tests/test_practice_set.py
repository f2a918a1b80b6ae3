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
