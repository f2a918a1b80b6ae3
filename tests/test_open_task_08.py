"""The score of 08's open-ended task (issue 18): ``robustness.recompression_auc``, how well a
statistic tells images from their JPEG re-encodings, on small synthetic images with fine colour
noise that JPEG's half-resolution colour channels wipe out."""

from __future__ import annotations

import numpy as np
import pytest

from dflearn import robustness
from dflearn.data import FAKE, REAL, Dataset
from dflearn.images import jpeg


def colour_noise(n: int = 20, size: int = 16, seed: int = 0) -> Dataset:
    """Smooth grey-level ramps plus fine colour noise (+-12 levels per channel)."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(0, 1, size)
    ramp = 60 + 120 * axis[None, :, None, None] * axis[None, None, :, None] + rng.uniform(-30, 30, (n, 1, 1, 1))
    images = np.clip(np.rint(ramp + rng.choice([-12.0, 12.0], (n, size, size, 3))), 0, 255).astype(np.uint8)
    return Dataset(images, np.array([FAKE, REAL] * (n // 2)), np.array([f"{i}.png" for i in range(n)]))


def colour_detail(images: np.ndarray) -> np.ndarray:
    """Mean step between neighbouring pixels of the channels' differences from their mean."""
    x = images.astype(float)
    chroma = x - x.mean(axis=-1, keepdims=True)
    return np.abs(np.diff(chroma, axis=2)).mean(axis=(1, 2, 3))


def test_recompression_auc_rewards_a_statistic_jpeg_changes_in_either_direction() -> None:
    ds = colour_noise()
    assert colour_detail(jpeg(ds.images, 50)).max() < colour_detail(ds.images).min()  # the premise
    assert robustness.recompression_auc(colour_detail, ds, 50) == pytest.approx(1.0)
    assert robustness.recompression_auc(lambda images: -colour_detail(images), ds, 50) == pytest.approx(1.0)
    assert robustness.recompression_auc(lambda images: np.zeros(len(images)), ds, 50) == pytest.approx(0.5)
    index = robustness.recompression_auc(lambda images: images[:, 0, 0, 0].astype(float), ds, 50)
    assert 0.5 <= index < 0.8  # the colour of one pixel barely changes


def test_recompression_auc_checks_the_statistic_and_the_quality() -> None:
    ds = colour_noise(n=6)

    def my_jpeg_score(images: np.ndarray) -> np.ndarray:
        return np.zeros((len(images), 2))

    with pytest.raises(ValueError, match=r"my_jpeg_score must return one number per image, shape \(6,\); "
                                         r"it returned shape \(6, 2\)"):
        robustness.recompression_auc(my_jpeg_score, ds, 50)
    with pytest.raises(ValueError, match=r"shape \(6,\); it returned None"):
        robustness.recompression_auc(lambda images: None, ds, 50)
    with pytest.raises(ValueError, match="NaN or infinite"):
        robustness.recompression_auc(lambda images: np.full(len(images), np.inf), ds, 50)
    with pytest.raises(ValueError, match="JPEG quality must be between 1 and 100, got 0"):
        robustness.recompression_auc(colour_detail, ds, 0)
