"""The score of 03's open-ended task (issue 18): ``cnn_projects.compact_parameters``,
``train_compact`` and ``compact_score`` on small synthetic images (REAL darker than FAKE)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dflearn import cnn_projects as cp
from dflearn.data import Dataset


def dark_real(n: int = 40, size: int = 16, seed: int = 0) -> Dataset:
    """``n`` images per class: FAKE uniform in 0-255, REAL the same halved (darker)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n)
    images = rng.integers(0, 256, (2 * n, size, size, 3)).astype("uint8")
    images[labels == 1] //= 2
    return Dataset(images, labels, np.array([f"{i}.png" for i in range(2 * n)]))


def brightness_model(size: int = 16, sign: float = 1.0) -> keras.Model:
    """P(REAL) = sigmoid(sign * 20 * (0.375 - mean pixel)): darker images are called REAL
    (``sign=-1`` calls them FAKE). Three parameters per channel plus a bias: four in all."""
    inputs = keras.Input(shape=(size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(1, activation="sigmoid")
    outputs = dense(x)
    dense.set_weights([np.full((3, 1), -sign * 20 / 3), np.array([sign * 20 * 0.375])])
    return keras.Model(inputs, outputs)


def test_compact_parameters_counts_and_names_what_is_wrong() -> None:
    assert cp.compact_parameters(brightness_model(), 16, 4) == 4
    with pytest.raises(ValueError, match=r"has 4 parameters, more than the 3 allowed"):
        cp.compact_parameters(brightness_model(), 16, 3)
    with pytest.raises(ValueError, match=r"needs \(None, 32, 32, 3\)"):
        cp.compact_parameters(brightness_model(16), 32, 100)
    with pytest.raises(TypeError, match="must return a keras.Model.*got int"):
        cp.compact_parameters(3, 16, 100)
    inputs = keras.Input(shape=(16, 16, 3))
    three = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match=r"output has shape \(None, 3\)"):
        cp.compact_parameters(three, 16, 10**6)


def test_compact_score_passes_a_good_model_and_fails_a_bad_one() -> None:
    test = dark_real(seed=1)
    good = cp.compact_score(brightness_model(), test, max_parameters=10, bar=0.9)
    assert good["accuracy"] == 1.0 and good["passed"] and good["parameters"] == 4
    bad = cp.compact_score(brightness_model(sign=-1.0), test, max_parameters=10, bar=0.9)
    assert bad["accuracy"] == 0.0 and not bad["passed"]
    with pytest.raises(ValueError, match="more than the 3 allowed"):
        cp.compact_score(brightness_model(), test, max_parameters=3, bar=0.9)
    with pytest.raises(ValueError, match=r"bar is an accuracy in \(0, 1\)"):
        cp.compact_score(brightness_model(), test, max_parameters=10, bar=90)
    empty = Dataset(test.images[:0], test.labels[:0], test.paths[:0])
    with pytest.raises(ValueError, match="no images"):
        cp.compact_score(brightness_model(), empty, max_parameters=10, bar=0.9)


def test_train_compact_checks_before_training_and_then_learns() -> None:
    train, val = dark_real(seed=2), dark_real(10, seed=3)
    built: list[int] = []

    def too_big(size: int) -> keras.Model:
        built.append(size)
        inputs = keras.Input(shape=(size, size, 3))
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
            keras.layers.Flatten()(inputs)))  # 16*16*3 + 1 = 769 parameters

    with pytest.raises(ValueError, match="769 parameters, more than the 100 allowed"):
        cp.train_compact(too_big, train, val, input_size=16, max_parameters=100, epochs=1)
    assert built == [16]

    def small(size: int) -> keras.Model:
        inputs = keras.Input(shape=(size, size, 3))
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))

    model, result = cp.train_compact(small, train, val, input_size=16, max_parameters=100,
                                     epochs=40, batch_size=16, learning_rate=0.1, schedule=None,
                                     patience=0, seed=0)
    assert result.epochs_run == 40
    score = cp.compact_score(model, dark_real(seed=4), max_parameters=100, bar=0.9)
    assert score["passed"] and score["parameters"] == 4
