"""dflearn.predict: one image of any size, mode or source through a model, with its steps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dflearn.data import FAKE, REAL
from dflearn.images import model_input_size
from dflearn.predict import (ImageInputError, Prediction, fit_to_square, predict_image,
                             square_input_size)


class MeanModel:
    """Stands in for a Keras model: P(REAL) = mean red value / 255; remembers its input."""

    input_shape = (None, 32, 32, 3)
    name = "mean"

    def __init__(self, head: str = "softmax"):
        self.head, self.seen = head, None

    def predict(self, images: np.ndarray, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        self.seen = images
        p = images[..., 0].mean(axis=(1, 2)) / 255.0
        return p[:, None] if self.head == "sigmoid" else np.stack([1 - p, p], axis=1)


def test_prediction_text_follows_the_demo() -> None:
    assert str(Prediction(0.027)) == "Deepfake (probability 97.3%)"
    assert str(Prediction(0.9)) == "Real (probability 90.0%)"
    assert Prediction(0.5).label == REAL and Prediction(0.49).label == FAKE
    assert Prediction(0.3, threshold=0.2).class_name == "REAL"


def test_large_non_square_file_is_cropped_and_resized(tmp_path) -> None:
    # left third black, middle white, right third black: a centre crop keeps the white part
    arr = np.zeros((300, 900, 3), np.uint8)
    arr[:, 300:600] = 255
    path = tmp_path / "wide.png"
    Image.fromarray(arr).save(path)
    model = MeanModel()
    prediction = predict_image(model, path)
    assert model.seen.shape == (1, 32, 32, 3) and model.seen.dtype == np.float32
    assert prediction.p_real == pytest.approx(1.0, abs=0.01)
    report = prediction.report()
    assert "900x300" in report and "centre-cropped" in report and "downscaled 300x300 to 32x32" in report
    assert str(prediction) in report


def test_small_grey_and_rgba_images_are_converted_and_upscaled(tmp_path) -> None:
    grey = tmp_path / "grey.png"
    Image.new("L", (16, 16), 128).save(grey)
    prediction = predict_image(MeanModel("sigmoid"), grey)
    assert any("converted L to RGB" in s for s in prediction.steps)
    assert any("upscaled 16x16 to 32x32" in s for s in prediction.steps)
    assert prediction.p_real == pytest.approx(128 / 255, abs=0.01)
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 255
    from_array = predict_image(MeanModel(), rgba)
    assert from_array.p_real == pytest.approx(1.0) and "no resizing" in from_array.steps[-1]


def test_float_arrays_in_unit_range_are_scaled() -> None:
    prediction = predict_image(MeanModel(), np.full((32, 32, 3), 0.2))
    assert prediction.p_real == pytest.approx(0.2, abs=0.01)
    assert "scaled [0, 1] floats to 0-255" in prediction.steps


def test_same_result_as_the_model_on_a_cifake_sized_image(tmp_path) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(arr).save(path)
    model = MeanModel()
    prediction = predict_image(model, path)
    np.testing.assert_array_equal(model.seen[0], arr)
    assert prediction.p_real == pytest.approx(arr[..., 0].mean() / 255, rel=1e-6)


def test_with_a_real_keras_model() -> None:
    from dflearn.models import mobilenet_cnn, real_probability

    model = mobilenet_cnn(width=0.125, input_size=32, head="sigmoid")
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    prediction = predict_image(model, image)
    small = np.asarray(fit_to_square(Image.fromarray(image), 32)[0])
    assert prediction.p_real == pytest.approx(float(real_probability(model, small[None])[0]), rel=1e-5)


@pytest.mark.parametrize("source, match", [
    ("missing.jpg", "not found"),
    (np.zeros((4, 4, 5)), r"\(H, W, 3\)"),
])
def test_bad_inputs_are_named(tmp_path, source, match: str) -> None:
    if isinstance(source, str):
        source = tmp_path / source
    with pytest.raises(ImageInputError, match=match):
        predict_image(MeanModel(), source)


def test_unreadable_file_and_unsized_model(tmp_path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageInputError, match="Cannot read"):
        predict_image(MeanModel(), bad)
    model = MeanModel()
    model.input_shape = (None, None, None, 3)
    with pytest.raises(ImageInputError, match="square"):
        predict_image(model, np.zeros((8, 8, 3), np.uint8))


def test_the_input_size_comes_from_the_model() -> None:
    model = MeanModel()
    assert model_input_size(model) == (32, 32) and square_input_size(model) == 32
    model.input_shape = (None, 24, 32, 3)
    assert model_input_size(model) == (24, 32)
    with pytest.raises(ImageInputError, match="square"):
        square_input_size(model)
    model.input_shape = (None, None, None, 3)
    assert model_input_size(model) is None
    model.input_shape = (None, 32, 32)
    with pytest.raises(ValueError, match="expected"):
        model_input_size(model)
    with pytest.raises(ImageInputError, match="expected"):
        square_input_size(model)
