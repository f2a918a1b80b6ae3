"""The scores of the open-ended tasks of 01 and 02 (issue 18): ``eda_plots.statistic_auc`` and
``classical.feature_margin``, on small synthetic images whose classes differ in fine detail only."""

from __future__ import annotations

import numpy as np
import pytest

from dflearn import classical, eda_plots, features
from dflearn.data import Dataset


def detail_dataset(n: int = 60, seed: int = 0) -> Dataset:
    """FAKE: smooth grey-level ramps, each a little brighter or darker; REAL: the same plus pixel
    noise, so that only fine detail tells the classes apart."""
    rng = np.random.default_rng(seed)
    offsets = rng.integers(-30, 31, 2 * n)[:, None, None, None]  # brightness varies in both classes
    ramp = np.round(np.linspace(60, 190, 16))[None, :, None, None] * np.ones((2 * n, 16, 16, 3)) + offsets
    noise = rng.normal(0, 12, ramp.shape) * (np.arange(2 * n) >= n)[:, None, None, None]
    images = np.clip(np.rint(ramp + noise), 0, 255).astype(np.uint8)  # rounded: no brightness bias
    labels = np.repeat([0, 1], n)
    return Dataset(images, labels, np.array([f"{i}.png" for i in range(2 * n)]))


def grey_detail(images: np.ndarray) -> np.ndarray:
    grey = features.greyscale(images)
    return np.abs(np.diff(grey, axis=2)).mean(axis=(1, 2))


def test_statistic_auc_is_direction_free_and_checks_the_output() -> None:
    ds = detail_dataset()
    assert eda_plots.statistic_auc(grey_detail, ds) == pytest.approx(1.0)
    assert eda_plots.statistic_auc(lambda images: -grey_detail(images), ds) == pytest.approx(1.0)
    assert eda_plots.statistic_auc(lambda images: np.zeros(len(images)), ds) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"one number per image, shape \(120,\); it returned shape \(120, 2\)"):
        eda_plots.statistic_auc(lambda images: np.zeros((len(images), 2)), ds)
    with pytest.raises(ValueError, match="NaN or infinite"):
        eda_plots.statistic_auc(lambda images: np.full(len(images), np.nan), ds)


def test_feature_margin_compares_with_brightness_and_checks_the_output() -> None:
    train, test = detail_dataset(seed=1), detail_dataset(seed=2)
    result = classical.feature_margin(lambda images: grey_detail(images)[:, None], train, test, seed=0)
    assert result["accuracy"] == 1.0 and result["brightness_accuracy"] < 0.75
    assert result["margin_points"] == pytest.approx(100 * (1.0 - result["brightness_accuracy"]))
    with pytest.raises(ValueError, match=r"2-D array with one row per image, shape \(120, n_features\)"):
        classical.feature_margin(grey_detail, train, test)
    with pytest.raises(ValueError, match="NaN or infinite"):
        classical.feature_margin(lambda images: np.full((len(images), 2), np.inf), train, test)
