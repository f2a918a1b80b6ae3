"""dflearn.images: the one resizing filter, fitting images to a model, JPEG re-encoding."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dflearn import images


def batch(n: int = 3, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_resize_is_pillow_bicubic() -> None:
    x = batch(1, 32)[0]
    expected = np.asarray(Image.fromarray(x).resize((20, 16), Image.Resampling.BICUBIC))
    assert np.array_equal(images.resize_image(x, (16, 20)), expected)


def test_resize_images_keeps_a_batch_that_already_fits() -> None:
    x = batch()
    assert images.resize_images(x, 32) is x
    assert images.resize_images(x, (16, 24)).shape == (3, 16, 24, 3)


class _Model:
    def __init__(self, shape: tuple) -> None:
        self.input_shape, self.name = shape, "m"


def test_fit_to_model_resizes_only_when_needed() -> None:
    x = batch()
    assert images.fit_to_model(_Model((None, 32, 32, 3)), x) is x
    assert images.fit_to_model(_Model((None, None, None, 3)), x) is x  # takes any size
    assert images.fit_to_model(_Model((None, 48, 48, 3)), x).shape == (3, 48, 48, 3)
    assert images.model_input_size(_Model((None, 64, 48, 3))) == (64, 48)
    with pytest.raises(ValueError, match="expected \\(None, H, W, 3\\)"):
        images.model_input_size(_Model((None, 10)))


def test_jpeg_changes_pixels_but_not_shape() -> None:
    x = batch()
    out = images.jpeg(x, 20)
    assert out.shape == x.shape and out.dtype == np.uint8 and not np.array_equal(out, x)
    with pytest.raises(ValueError, match="between 1 and 100"):
        images.jpeg(x, 0)


def test_check_images_names_a_single_image() -> None:
    with pytest.raises(ValueError, match="one image"):
        images.check_images(batch()[0])
