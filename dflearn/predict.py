"""Prediction on a single image file (or array) of any size, saying what was done to it.

>>> prediction = predict_image(model, "photo.png")       # doctest: +SKIP
>>> print(prediction)                                    # doctest: +SKIP
Deepfake (probability 97.3%)

Core layer, used by 03 (single-image prediction); imports no lesson module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from dflearn.data import CLASS_NAMES, FAKE, REAL
from dflearn.images import model_input_size, resize_image

VERDICTS = {FAKE: "Deepfake", REAL: "Real"}


class ImageInputError(ValueError):
    """The image file is missing or unreadable, or the array is not an image."""


@dataclass(frozen=True)
class Prediction:
    """The model's verdict on one image, and the steps taken to feed it to the model."""

    p_real: float
    threshold: float = 0.5
    steps: tuple[str, ...] = field(default_factory=tuple)
    source: str = "array"

    @property
    def label(self) -> int:
        """``REAL`` (1) when P(REAL) >= threshold, else ``FAKE`` (0)."""
        return REAL if self.p_real >= self.threshold else FAKE

    @property
    def class_name(self) -> str:
        """``"FAKE"`` or ``"REAL"``."""
        return CLASS_NAMES[self.label]

    @property
    def probability(self) -> float:
        """The probability of the predicted class."""
        return self.p_real if self.label == REAL else 1.0 - self.p_real

    def __str__(self) -> str:
        return f"{VERDICTS[self.label]} (probability {100 * self.probability:.1f}%)"

    def report(self) -> str:
        """The verdict plus every preprocessing step, one per line."""
        lines = [f"{self.source}: {self}", *(f"  - {step}" for step in self.steps)]
        return "\n".join(lines)


def load_image(source: str | os.PathLike | np.ndarray | Image.Image) -> tuple[Image.Image, list[str], str]:
    """Open a file (or wrap an array / PIL image) as an RGB PIL image, noting conversions."""
    steps: list[str] = []
    if isinstance(source, Image.Image):
        img, name = source, "PIL image"
    elif isinstance(source, np.ndarray):
        img, name = _array_to_image(source, steps), f"array {source.shape}"
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ImageInputError(f"Image file not found: {path}")
        try:
            with Image.open(path) as opened:
                opened.load()
                img = opened.copy()
        except (UnidentifiedImageError, OSError) as exc:
            raise ImageInputError(f"Cannot read {path} as an image ({exc}).") from None
        name = str(path)
        steps.append(f"read {path.name}: {img.width}x{img.height} {img.mode}"
                     f"{' ' + img.format if img.format else ''}")
    if img.mode != "RGB":
        steps.append(f"converted {img.mode} to RGB")
        img = img.convert("RGBA").convert("RGB") if img.mode == "P" else img.convert("RGB")
    return img, steps, name


def _array_to_image(array: np.ndarray, steps: list[str]) -> Image.Image:
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
        steps.append("repeated the grey channel to RGB")
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ImageInputError(f"Expected an (H, W, 3) RGB array, got shape {array.shape}.")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
            array = array * 255.0
            steps.append("scaled [0, 1] floats to 0-255")
        array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    return Image.fromarray(array[..., :3])


def fit_to_square(img: Image.Image, size: int) -> tuple[Image.Image, list[str]]:
    """Centre-crop to a square (keeping the aspect ratio) and resize to ``size`` x ``size``.

    Resizing is :func:`dflearn.images.resize_image` (Pillow's antialiased bicubic filter, the
    course's one resizing), so fine detail is averaged rather than aliased.
    """
    steps = []
    w, h = img.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        steps.append(f"centre-cropped {w}x{h} to {side}x{side} to keep the aspect ratio")
    if img.size != (size, size):
        direction = "downscaled" if img.width > size else "upscaled"
        steps.append(f"{direction} {img.width}x{img.height} to {size}x{size} (bicubic)")
        img = Image.fromarray(resize_image(np.asarray(img), (size, size)))
    else:
        steps.append(f"already {size}x{size}: no resizing")
    return img, steps


def square_input_size(model: Any) -> int:
    """The side of the square images ``model`` takes (:func:`dflearn.images.model_input_size`)."""
    try:
        size = model_input_size(model)
    except ValueError as error:
        raise ImageInputError(str(error)) from None
    if size is None or size[0] != size[1]:
        raise ImageInputError(f"Model {model.name!r} does not take fixed square images "
                              f"(input {model.input_shape}).")
    return size[0]


def predict_image(model: Any, source: str | os.PathLike | np.ndarray | Image.Image,
                  threshold: float = 0.5) -> Prediction:
    """Classify one image of any size with ``model`` (0-255 pixels in, 1- or 2-unit head).

    The image is converted to RGB, centre-cropped to a square and resized to the model's input
    size; :attr:`Prediction.steps` lists what was done.
    """
    from dflearn.models import real_probability

    img, steps, name = load_image(source)
    img, resize_steps = fit_to_square(img, square_input_size(model))
    batch = np.asarray(img, dtype=np.uint8)[None]
    p_real = float(real_probability(model, batch)[0])
    return Prediction(p_real, threshold, tuple(steps + resize_steps), name)
