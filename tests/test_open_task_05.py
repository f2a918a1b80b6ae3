"""The score of 05's open-ended task (issue 18): ``grid.check_candidate``, ``grid.candidate_margin``
and ``grid.train_candidate``, on tiny synthetic images (FAKE dark, REAL bright) and hand-set
models whose accuracies are known exactly."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dflearn import grid
from dflearn.data import Dataset
from dflearn.splits import Splits

SIZE = 8


def bright_dataset(n: int = 20, seed: int = 0, size: int = SIZE) -> Dataset:
    """FAKE: dark images (pixels 20-100); REAL: bright ones (150-230)."""
    rng = np.random.default_rng(seed)
    dark = rng.integers(20, 101, (n, size, size, 3))
    bright = rng.integers(150, 231, (n, size, size, 3))
    images = np.concatenate([dark, bright]).astype(np.uint8)
    return Dataset(images, np.repeat([0, 1], n), np.array([f"{i}.png" for i in range(2 * n)]))


def brightness_model(weight: float, bias: float, size: int = SIZE, units: int = 1,
                     name: str = "bright") -> keras.Model:
    """Mean pixel (0-255) -> Dense: sigmoid(weight * mean + bias), or a softmax whose REAL logit
    is that and whose FAKE logit is 0."""
    inputs = keras.Input(shape=(size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(1)(x)
    out = keras.layers.Dense(units, activation="sigmoid" if units == 1 else "softmax")(x)
    model = keras.Model(inputs, out, name=name)
    model.layers[2].set_weights([np.full((3, 1), weight / 3, "float32"), np.array([bias], "float32")])
    if units == 1:
        model.layers[3].set_weights([np.ones((1, 1), "float32"), np.zeros(1, "float32")])
    else:
        model.layers[3].set_weights([np.array([[0.0, 1.0]], "float32"), np.zeros(2, "float32")])
    return model


def test_margin_is_the_candidate_minus_the_reference_on_the_same_images() -> None:
    data = bright_dataset()
    right = brightness_model(0.1, -12.5)                   # REAL when the mean is above 125
    always_fake = brightness_model(0.0, -5.0, name="fake")  # P(REAL) ~ 0.007 for every image
    always_real = brightness_model(0.0, 5.0, units=2, name="real")
    score = grid.candidate_margin(right, always_fake, data)
    assert score["accuracy"] == 1.0 and score["reference_accuracy"] == 0.5
    assert score["margin_points"] == pytest.approx(50.0)
    assert score["parameters"] == right.count_params() == 6
    assert grid.candidate_margin(always_fake, right, data)["margin_points"] == pytest.approx(-50.0)
    wrong_way = brightness_model(-0.1, 12.5, units=2)       # a softmax head, every label flipped
    assert grid.candidate_margin(wrong_way, always_real, data)["accuracy"] == 0.0
    assert grid.candidate_margin(wrong_way, always_real, data)["reference_accuracy"] == 0.5


def test_candidates_that_cannot_join_the_grid_are_refused_with_the_reason() -> None:
    data = bright_dataset()
    reference = brightness_model(0.1, -12.5)
    with pytest.raises(grid.GridError, match="must be a keras.Model.*got function"):
        grid.candidate_margin(lambda images: images, reference, data)
    with pytest.raises(grid.GridError, match=r"shape \(None, 8, 8, 3\).*keras.Input\(shape=\(8, 8, 3\)\)"):
        grid.candidate_margin(brightness_model(0.1, -12.5, size=16), reference, data)
    inputs = keras.Input(shape=(SIZE, SIZE, 3))
    three = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(inputs)))
    with pytest.raises(grid.GridError, match="2-unit softmax.*1-unit sigmoid.*\\(None, 3\\)"):
        grid.candidate_margin(three, reference, data)
    unbuilt = keras.Sequential([keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    with pytest.raises(grid.GridError, match=r"no input yet.*keras.Input\(shape=\(8, 8, 3\)\)"):
        grid.candidate_margin(unbuilt, reference, data)
    with pytest.raises(grid.GridError, match="6 parameters, more than the bar's 5"):
        grid.candidate_margin(reference, reference, data, max_parameters=5)
    assert grid.candidate_margin(reference, reference, data, max_parameters=6)["margin_points"] == 0
    empty = Dataset(data.images[:0], data.labels[:0], data.paths[:0])
    with pytest.raises(grid.GridError, match="no images"):
        grid.candidate_margin(reference, reference, empty)


def small_cnn(input_size: int) -> keras.Model:
    inputs = keras.Input(shape=(input_size, input_size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def test_train_candidate_trains_like_the_grid_seeded_and_checks_first() -> None:
    splits = Splits(bright_dataset(16, 1), bright_dataset(4, 2), bright_dataset(4, 3))
    plan = grid.GridPlan(epochs=2, batch_size=8, learning_rate=1e-2, input_size=SIZE,
                         run_eagerly=True, seed=5)
    sizes = []
    model, result = grid.train_candidate(lambda size: sizes.append(size) or small_cnn(size), splits, plan)
    again, _ = grid.train_candidate(small_cnn, splits, plan)
    assert sizes == [SIZE]
    assert len(result.history["val_accuracy"]) == 2          # the plan's epochs, no early stop
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)                  # seeded like every grid model
    with pytest.raises(grid.GridError, match="more than the bar's 10"):
        grid.train_candidate(small_cnn, splits, plan, max_parameters=10)
    with pytest.raises(grid.GridError, match="got NoneType"):
        grid.train_candidate(lambda size: None, splits, plan)
