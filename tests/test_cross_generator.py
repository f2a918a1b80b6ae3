"""Tests for notebook 10's cross-generator helpers and the NPR residual layer."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from dflearn import cross_generator
from dflearn.data import FAKE, REAL, Dataset
from dflearn.layers import NPRResidual
from dflearn.splits import Splits


def images(n: int = 4, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def dataset(n_per_class: int = 6, seed: int = 0) -> Dataset:
    x = images(2 * n_per_class, 8, seed)
    labels = np.repeat([FAKE, REAL], n_per_class)
    return Dataset(x, labels, np.array([f"img{i}.jpg" for i in range(len(labels))]))


# --------------------------------------------------------------------------- NPR


def test_npr_residual_subtracts_each_blocks_top_left_pixel() -> None:
    x = np.arange(1 * 4 * 4 * 3, dtype="float32").reshape(1, 4, 4, 3)
    out = np.asarray(NPRResidual()(x))
    expected = x - np.repeat(np.repeat(x[:, ::2, ::2], 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(out, expected)
    assert np.all(out[:, ::2, ::2] == 0)
    assert out[0, 1, 1, 0] == x[0, 1, 1, 0] - x[0, 0, 0, 0]


def test_npr_residual_of_a_regridded_image_is_zero() -> None:
    x = images()
    np.testing.assert_array_equal(
        np.asarray(NPRResidual()(cross_generator.npr_regrid(x).astype("float32"))), 0)


def test_npr_residual_rejects_odd_sizes_and_bad_factors() -> None:
    with pytest.raises(ValueError, match="divisible by 2"):
        NPRResidual()(np.zeros((1, 5, 4, 3), "float32"))
    with pytest.raises(ValueError, match="at least 2"):
        NPRResidual(factor=1)


def test_npr_model_saves_and_loads(tmp_path) -> None:
    inputs = keras.Input((8, 8, 3))
    base = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(inputs)))
    model = cross_generator.npr_model(base)
    assert model.get_layer("npr").factor == 2
    x = images().astype("float32")
    path = tmp_path / "npr.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5)


# --------------------------------------------------------------------------- sources


def test_phase_randomised_keeps_amplitudes_and_mean_but_not_pixels() -> None:
    x = images(3, 16)
    out = cross_generator.phase_randomised(x, seed=1)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert not np.array_equal(out, x)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=2.0)
    amp_in = np.abs(np.fft.fft2(x.astype(float), axes=(1, 2)))
    amp_out = np.abs(np.fft.fft2(out.astype(float), axes=(1, 2)))
    assert np.corrcoef(amp_in.ravel(), amp_out.ravel())[0, 1] > 0.9
    np.testing.assert_array_equal(out, cross_generator.phase_randomised(x, seed=1))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        cross_generator.phase_randomised(x[..., 0])


def test_stand_in_uses_real_images_only_and_is_named_a_stand_in() -> None:
    ds = dataset(8)
    source = cross_generator.stand_in_source(Splits(ds, ds, ds), n_per_class=3, seed=0)
    assert source.is_stand_in and "STAND-IN" in source.description and source.root is None
    for part in source.splits:
        assert sorted(part.counts().values()) == [3, 3]
        fakes = part.paths[part.labels == FAKE]
        assert all(p.endswith("(phase-randomised)") for p in fakes)
        real_paths = set(ds.paths[ds.labels == REAL])
        assert all(p.split(" (")[0] in real_paths for p in part.paths)


# --------------------------------------------------------------------------- tables


def perfect(images: np.ndarray) -> np.ndarray:
    """P(REAL) = 1 for bright images, 0 for dark ones (a detector for the test data below)."""
    return (images.mean(axis=(1, 2, 3)) > 127).astype(float)


def bright_dark(n: int = 10) -> Dataset:
    x = np.concatenate([np.zeros((n, 4, 4, 3), np.uint8), np.full((n, 4, 4, 3), 255, np.uint8)])
    return Dataset(x, np.repeat([FAKE, REAL], n), np.array([str(i) for i in range(2 * n)]))


def test_cross_table_marks_in_domain_rows_and_scores_each_pair() -> None:
    good, flipped = bright_dark(), bright_dark()
    flipped = Dataset(flipped.images, 1 - flipped.labels, flipped.paths)
    table = cross_generator.cross_table({("det", "A"): perfect, ("det", "B"): perfect},
                                        {"A": good, "B": flipped})
    assert len(table) == 4
    assert table.loc[("det", "A", "A"), "in-domain"]
    assert not table.loc[("det", "A", "B"), "in-domain"]
    assert table.loc[("det", "A", "A"), "accuracy"] == 1.0
    assert table.loc[("det", "A", "B"), "accuracy"] == 0.0
    summary = cross_generator.domain_summary(table)
    assert summary.loc["det", "accuracy in-domain"] == pytest.approx(0.5)
    assert summary.loc["det", "accuracy drop"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least one"):
        cross_generator.cross_table({}, {"A": good})


def test_domain_summary_keeps_the_order_asked_for() -> None:
    rows = pd.DataFrame([
        {"detector": d, "train source": "A", "test source": t, "in-domain": t == "A",
         "accuracy": acc, "roc_auc": acc}
        for d, accs in (("x", (0.9, 0.6)), ("y", (0.8, 0.7))) for t, acc in zip("AB", accs)
    ]).set_index(["detector", "train source", "test source"])
    summary = cross_generator.domain_summary(rows, ["y", "x"])
    assert list(summary.index) == ["y", "x"]
    assert summary.loc["x", "accuracy drop"] == pytest.approx(0.3)
    assert summary.loc["y", "roc_auc cross-domain"] == pytest.approx(0.7)


def test_perturbation_table_and_its_shape_check() -> None:
    ds = bright_dark()
    table = cross_generator.perturbation_table({"det": perfect}, ds, lambda x: 255 - x)
    assert table.loc[("det", "clean"), "accuracy"] == 1.0
    assert table.loc[("det", "perturbed"), "accuracy"] == 0.0
    with pytest.raises(ValueError, match="shape"):
        cross_generator.perturbation_table({"det": perfect}, ds, lambda x: x[:, :2])


def test_published_numbers_name_their_paper() -> None:
    assert all("GenImage" in p for p in cross_generator.PUBLISHED.index.get_level_values(0))
    assert cross_generator.PUBLISHED["accuracy"].between(0.5, 1).all()
