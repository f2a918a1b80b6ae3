"""07's open-ended task (issue 18): ``saliency.pool_maps``, ``saliency.method_disagreement`` and
``saliency.disagreement_task``, on maps made to agree, disagree or be flat, and on a tiny model;
and the bar that 07 §7 states against the profiles' settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from dflearn import saliency as S
from dflearn.course.config import PROFILES

ROOT = Path(__file__).resolve().parents[1]
N, SIZE = 8, 32
AGREE, REVERSED, FLAT = 0, 1, 2  # images whose two maps agree, are reversed, or whose Grad-CAM is flat


class GivenMaps(S.Explainer):
    """An Explainer without a model: its Grad-CAM and integrated-gradients maps are given."""

    def __init__(self, cam: np.ndarray, ig: np.ndarray):  # no super().__init__: nothing to probe
        self.cam, self.ig = cam, ig

    def prepare(self, images: np.ndarray) -> tf.Tensor:
        return tf.convert_to_tensor(np.asarray(images, dtype="float32"))

    def targets(self, images: np.ndarray, target: S.Target = None) -> np.ndarray:
        return np.ones(len(images), dtype="int32")

    def grad_cam(self, images: np.ndarray, target: S.Target = None, batch_size: int = 64) -> np.ndarray:
        return self.cam[:len(images)]

    def integrated_gradients(self, images: np.ndarray, target: S.Target = None, steps: int = 32,
                             baseline: float = 0.0, batch_size: int = 64) -> np.ndarray:
        return self.ig[:len(images)]


def given_maps(seed: int = 0) -> GivenMaps:
    """Image 0: both maps the same; 1: Grad-CAM ranks the cells in reverse; 2: Grad-CAM flat;
    the rest: unrelated random maps."""
    rng = np.random.default_rng(seed)
    ig = rng.random((N, SIZE, SIZE))
    cam = rng.random((N, SIZE, SIZE))
    cam[AGREE] = 3 * ig[AGREE]
    cam[REVERSED] = ig[REVERSED].max() - ig[REVERSED]
    cam[FLAT] = 0.0
    return GivenMaps(cam, ig)


@pytest.fixture()
def images() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (N, SIZE, SIZE, 3)).astype("uint8")


def picker(index: object):
    def find_disagreement(model: S.Explainer, images: np.ndarray) -> object:
        return index
    return find_disagreement


def test_pool_maps_sums_blocks_and_names_bad_grids() -> None:
    maps = np.arange(16.0).reshape(1, 4, 4)
    np.testing.assert_array_equal(S.pool_maps(maps, 2), [[[10, 18], [42, 50]]])
    np.testing.assert_array_equal(S.pool_maps(maps, 4), maps)
    assert S.pool_maps(np.ones((3, 32, 32))).shape == (3, S.DISAGREEMENT_GRID, S.DISAGREEMENT_GRID)
    with pytest.raises(S.SaliencyError, match=r"divisor of the maps' 4x4 pixels, got 3"):
        S.pool_maps(maps, 3)
    with pytest.raises(S.SaliencyError, match=r"divisor.*got 0"):
        S.pool_maps(maps, 0)
    with pytest.raises(S.SaliencyError, match=r"shape \(N, H, W\), got \(4, 4\)"):
        S.pool_maps(maps[0], 2)


def test_method_disagreement_reads_agreement_reversal_and_flat_maps(images: np.ndarray) -> None:
    values = S.method_disagreement(given_maps(), images)
    assert values.shape == (N,)
    assert values[AGREE] == pytest.approx(0.0)
    assert values[REVERSED] == pytest.approx(2.0)
    assert np.isnan(values[FLAT])
    others = np.delete(values, [AGREE, REVERSED, FLAT])
    assert np.all((others > 0.5) & (others < 1.5))  # unrelated random maps: near 1
    with pytest.raises(S.SaliencyError, match="methods must be two of"):
        S.method_disagreement(given_maps(), images, methods=("grad_cam", "occlusion"))


def test_method_disagreement_compares_at_the_common_resolution(images: np.ndarray) -> None:
    """Pixel noise inside each 4x4 block changes the pixel ranking, not the blocks' sums."""
    ex = given_maps()
    block = np.kron(S.pool_maps(ex.ig), np.ones((4, 4))) / 16
    noise = np.random.default_rng(2).normal(0, 1e-3, block.shape)
    noise -= np.kron(S.pool_maps(noise), np.ones((4, 4))) / 16  # every block's noise sums to 0
    values = S.method_disagreement(GivenMaps(block + noise, ex.ig), images)
    np.testing.assert_allclose(values, 0.0, atol=1e-9)
    assert np.all(1 - S.rank_correlation(block + noise, ex.ig) > 0.01)  # the pixels disagree


def test_disagreement_task_ranks_the_chosen_image(images: np.ndarray) -> None:
    ex = given_maps()
    best = S.disagreement_task(picker(REVERSED), ex, images)
    assert best["index"] == REVERSED and best["disagreement"] == pytest.approx(2.0)
    assert best["share_beaten"] == 1.0 and best["n"] == N - 1
    assert best["largest"] == pytest.approx(2.0)
    worst = S.disagreement_task(picker(np.int64(AGREE)), ex, images)
    assert worst["share_beaten"] == 0.0 and worst["disagreement"] == pytest.approx(0.0)
    flat = S.disagreement_task(picker(FLAT), ex, images)
    assert np.isnan(flat["disagreement"]) and flat["share_beaten"] == 0.0
    values = S.method_disagreement(ex, images)
    middle = int(np.argsort(np.where(np.isnan(values), np.inf, values))[3])  # 4th lowest of 7
    assert S.disagreement_task(picker(middle), ex, images)["share_beaten"] == pytest.approx(3 / 6)


def test_disagreement_task_names_bad_answers_and_inputs(images: np.ndarray) -> None:
    ex = given_maps()
    for bad, message in [(2.0, r"an int\), got float 2\.0"), (True, r"an int\), got bool"),
                         (None, r"got NoneType"), ([1], r"got list"),
                         (N, rf"returned index {N}, but there are {N} images: return an index from 0 to {N - 1}"),
                         (-1, r"returned index -1")]:
        with pytest.raises(S.SaliencyError, match=message):
            S.disagreement_task(picker(bad), ex, images)
    with pytest.raises(S.SaliencyError, match=r"at least two images of shape \(N, H, W, 3\), got \(32, 32, 3\)"):
        S.disagreement_task(picker(0), ex, images[0])
    with pytest.raises(S.SaliencyError, match="No other image has both maps non-flat"):
        S.disagreement_task(picker(0), GivenMaps(ex.cam[[AGREE, FLAT]], ex.ig[[AGREE, FLAT]]),
                            images[[AGREE, FLAT]])


def test_disagreement_task_hands_over_a_copy(images: np.ndarray) -> None:
    def vandal(model: S.Explainer, given: np.ndarray) -> int:
        given[:] = 0
        return REVERSED
    kept = images.copy()
    assert S.disagreement_task(vandal, given_maps(), images)["share_beaten"] == 1.0
    np.testing.assert_array_equal(images, kept)


def test_method_disagreement_on_a_model_matches_its_maps() -> None:
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(layers.Rescaling(1 / 255)(inputs))
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    shots = np.random.default_rng(3).integers(0, 256, (5, 16, 16, 3)).astype("uint8")
    ex = S.explainer(model)
    targets = ex.targets(shots)
    cam = S.pool_maps(ex.grad_cam(shots, targets), 4)
    ig = S.pool_maps(ex.integrated_gradients(shots, targets, steps=4), 4)
    values = S.method_disagreement(model, shots, grid=4, options={"integrated_gradients": {"steps": 4}})
    np.testing.assert_allclose(values, 1 - S.rank_correlation(cam, ig))
    assert np.all(np.isnan(values) | ((values >= 0) & (values <= 2)))


def test_the_stated_bar_is_the_profiles_bar() -> None:
    """07 §7's markdown states the share and the images per class; every profile must match it."""
    cells = json.loads((ROOT / "solutions" / "07_saliency.ipynb").read_text(encoding="utf-8"))["cells"]
    text = next("".join(c["source"]) for c in cells
                if c["cell_type"] == "markdown" and "**The bar:**" in "".join(c["source"]))
    share = int(re.search(r"at least \*\*(\d+)%\*\*", text).group(1)) / 100
    ci, others = map(int, re.search(r"\((\d+) per class under `ci`, (\d+) per class under", text).groups())
    for name, profile in PROFILES.items():
        settings = profile.for_notebook("07")
        assert settings.open_task_share == pytest.approx(share), name
        assert settings.open_task_per_class == (ci if name == "ci" else others), name
