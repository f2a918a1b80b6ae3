"""The open-ended task of 04 §7 (issue 18): ``transfer.transfer_accuracy`` (the test accuracy of
the student's transferred model, with clear errors) and ``transfer.starting_copy``, on tiny
synthetic images and a two-weight model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dflearn import transfer
from dflearn.data import Dataset


def brightness_model(sign: float = 1.0) -> keras.Model:
    """P(REAL) rises with mean brightness (``sign=1``) or falls with it (``sign=-1``)."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(1, name="mean")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("mean").set_weights([np.full((3, 1), 1 / 3), np.array([-128.0])])
    model.get_layer("softmax").set_weights([np.array([[-sign, sign]]), np.zeros(2)])
    return model


def two_level_set(real: int, fake: int, n: int = 6) -> Dataset:
    """``n`` FAKE images of grey level ``fake`` then ``n`` REAL images of grey level ``real``."""
    images = np.concatenate([np.full((n, 8, 8, 3), fake), np.full((n, 8, 8, 3), real)])
    images = images.astype(np.uint8)
    return Dataset(images, np.repeat([0, 1], n), np.array([f"{i}.png" for i in range(2 * n)]))


def test_transfer_accuracy_counts_correct_calls() -> None:
    bright_real, dark_real = two_level_set(real=200, fake=50), two_level_set(real=40, fake=220)
    assert transfer.transfer_accuracy(brightness_model(), bright_real) == 1.0
    assert transfer.transfer_accuracy(brightness_model(), dark_real) == 0.0
    assert transfer.transfer_accuracy(brightness_model(-1.0), dark_real) == 1.0
    mixed = Dataset(np.concatenate([bright_real.images, dark_real.images]),
                    np.concatenate([bright_real.labels, dark_real.labels]),
                    np.concatenate([bright_real.paths, dark_real.paths]))
    assert transfer.transfer_accuracy(brightness_model(), mixed) == 0.5


def test_transfer_accuracy_names_what_is_wrong() -> None:
    test = two_level_set(200, 50)
    with pytest.raises(transfer.TransferError, match="returned NoneType. End it with `return tm"):
        transfer.transfer_accuracy(None, test)
    five = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(5)])
    with pytest.raises(transfer.TransferError, match=r"two-class head .* shape is \(None, 5\)"):
        transfer.transfer_accuracy(five, test)
    one_class = Dataset(test.images[:6], test.labels[:6], test.paths[:6])
    with pytest.raises(transfer.TransferError, match=r"both classes; it has 6 image\(s\) of classes \[0"):
        transfer.transfer_accuracy(brightness_model(), one_class)


def test_starting_copy_is_independent_and_fully_trainable() -> None:
    model = brightness_model()
    start = model.get_weights()
    model.layers[-1].trainable = False
    copy = transfer.starting_copy(model, start)
    assert copy is not model and all(layer.trainable for layer in copy.layers)
    images = two_level_set(200, 50).images
    assert np.allclose(copy.predict(images, verbose=0), model.predict(images, verbose=0))
    copy.get_layer("softmax").set_weights([np.zeros((1, 2)), np.ones(2)])
    assert np.array_equal(model.get_layer("softmax").get_weights()[0], start[-2])
    with pytest.raises(transfer.TransferError, match="do not fit"):
        transfer.starting_copy(model, start[:-1])
