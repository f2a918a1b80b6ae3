"""The score of 09's open-ended task (issue 18): ``gan.gan_score_auc`` and ``gan.open_task_auc``,
on small synthetic images whose "generated" ones carry a period-2 checkerboard (the fingerprint
of stride-2 transposed convolutions) and whose "real" ones do not."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dflearn import gan
from dflearn.data import FAKE, REAL, Dataset

SIZE = 8


def smooth_images(n: int, seed: int = 0) -> np.ndarray:
    """Flat grey images of random brightness with a little pixel noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 190, (n, 1, 1, 1)) + rng.normal(0, 3, (n, SIZE, SIZE, 3))
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


def checkerboard_images(n: int, seed: int = 1) -> np.ndarray:
    """The same, plus a +-20 checkerboard."""
    sign = (-1.0) ** np.add.outer(np.arange(SIZE), np.arange(SIZE))[None, :, :, None]
    return np.clip(smooth_images(n, seed).astype(float) + 20 * sign, 0, 255).astype(np.uint8)


def checkerboard_energy(images: np.ndarray) -> np.ndarray:
    """|sum of (-1)^(i+j) x| per image: the Nyquist corner of the spectrum."""
    sign = (-1.0) ** np.add.outer(np.arange(SIZE), np.arange(SIZE))
    return np.abs(np.einsum("nhwc,hw->n", images.astype(float), sign))


def test_auc_is_one_for_the_fingerprint_and_has_a_direction() -> None:
    real, fake = smooth_images(40), checkerboard_images(30)
    assert gan.gan_score_auc(checkerboard_energy, real, fake) == pytest.approx(1.0)
    assert gan.gan_score_auc(lambda x: -checkerboard_energy(x), real, fake) == pytest.approx(0.0)
    assert gan.gan_score_auc(lambda x: np.zeros(len(x)), real, fake) == pytest.approx(0.5)


def test_the_score_sees_one_shuffled_batch_so_position_gives_nothing_away() -> None:
    real, fake = smooth_images(40), checkerboard_images(40)
    calls: list[int] = []

    def position(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        return np.arange(len(images), dtype=float)  # "later images are generated"

    auc = gan.gan_score_auc(position, real, fake, seed=3)
    assert calls == [80]
    assert 0.3 < auc < 0.7
    assert auc == gan.gan_score_auc(position, real, fake, seed=3)  # the order is seeded


def test_bad_input_and_bad_output_are_named() -> None:
    real, fake = smooth_images(10), checkerboard_images(10)
    with pytest.raises(ValueError, match="score must be a function"):
        gan.gan_score_auc(np.zeros(20), real, fake)
    with pytest.raises(ValueError, match="generated_images is empty"):
        gan.gan_score_auc(checkerboard_energy, real, fake[:0])
    with pytest.raises(ValueError, match="real_images has shape .*one image"):
        gan.gan_score_auc(checkerboard_energy, real[0], fake)
    with pytest.raises(ValueError, match=r"differ in shape: \(8, 8, 3\) and \(4, 4, 3\)"):
        gan.gan_score_auc(checkerboard_energy, real, fake[:, :4, :4])
    with pytest.raises(ValueError, match=r"one number per image, shape \(20,\); it returned "
                                         r"shape \(20, 2\)"):
        gan.gan_score_auc(lambda x: np.zeros((len(x), 2)), real, fake)
    with pytest.raises(ValueError, match="NaN or infinite"):
        gan.gan_score_auc(lambda x: np.full(len(x), np.inf), real, fake)


def checkerboard_generator(latent_dim: int = 4) -> keras.Model:
    """A fixed "generator": a checkerboard of amplitude 0.2 on grey that the noise shifts."""
    noise = keras.Input((latent_dim,))
    shift = keras.layers.Dense(1, use_bias=False)(noise)
    sign = (-1.0) ** np.add.outer(np.arange(SIZE), np.arange(SIZE))
    pattern = keras.ops.convert_to_tensor(np.repeat(0.2 * sign[:, :, None], 3, -1), "float32")
    images = keras.layers.Lambda(lambda s: keras.ops.tanh(0.1 * s[:, :, None, None] + pattern))(shift)
    return keras.Model(noise, images)


def test_open_task_auc_scores_real_images_against_fresh_samples() -> None:
    real = smooth_images(24)
    data = Dataset(np.concatenate([real, checkerboard_images(5)]),
                   np.array([REAL] * 24 + [FAKE] * 5), np.array([str(i) for i in range(29)]))
    model = checkerboard_generator()
    assert gan.open_task_auc(checkerboard_energy, data, model, seed=5) == pytest.approx(1.0)
    assert gan.open_task_auc(lambda x: -checkerboard_energy(x), data, model, seed=5) \
        == pytest.approx(0.0)
    no_real = data.subset(data.labels == FAKE)
    with pytest.raises(ValueError, match="no REAL image"):
        gan.open_task_auc(checkerboard_energy, no_real, model, seed=5)
