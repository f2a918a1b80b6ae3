"""Image batches and their sizes: the one resizing filter of the course, fitting images to a
model's input, and JPEG re-encoding.

Core layer: used by the loader, the lessons and the core alike. Every resize in the course goes
through :func:`resize_image` (Pillow's bicubic filter, as the loader resizes odd-sized files), so
one model sees the same pixels in every notebook.

Images are ``uint8`` arrays of 0-255 pixels: one image ``(H, W, 3)``, a batch ``(N, H, W, 3)``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image


def check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """Return ``images`` as an array after checking it is a batch ``(N, H, W, 3)``.

    Raises ``ValueError`` naming the shape found (a single image needs ``images[None]``).
    Used by the features of 01-02, the perturbations of 08 and the GANs of 09.
    """
    images = np.asarray(images)
    if images.ndim == 3 and images.shape[-1] == 3:
        raise ValueError(
            f"{name} has shape {images.shape}: that is one image; pass a batch, e.g. image[None]."
        )
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, height, width, 3); got {images.shape}.")
    if len(images) == 0:
        raise ValueError(f"{name} is empty: no images to compute features from.")
    return images


def resize_image(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One uint8 image resized to ``size`` = (height, width) with Pillow's bicubic filter.

    The course's only resizing filter: the loader, :func:`resize_images` and
    :func:`dflearn.predict.predict_image` all use it.
    """
    img = Image.fromarray(np.asarray(array, dtype=np.uint8))
    return np.asarray(img.resize((size[1], size[0]), Image.Resampling.BICUBIC), dtype=np.uint8)


def resize_images(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Every image resized to ``size`` (square side or ``(height, width)``) by
    :func:`resize_image`; a batch already that size is returned unchanged."""
    images = check_images(images)
    target = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if images.shape[1:3] == target:
        return images
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return np.stack([resize_image(image, target) for image in images])


def model_input_size(model: Any) -> tuple[int, int] | None:
    """The ``(height, width)`` a Keras image model takes, or ``None`` when it takes any size.

    Raises ``ValueError`` for a model that does not take one ``(H, W, 3)`` image input.
    """
    shape = model.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"Model {model.name!r} has input shape {shape}; expected (None, H, W, 3).")
    if shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def fit_to_model(model: Any, images: np.ndarray) -> np.ndarray:
    """``images`` resized to ``model``'s input size (:func:`resize_images`), or unchanged when
    they already fit or the model takes any size.

    Used in 06 (ensembles of models of different sizes), 07 (saliency), 08 (other datasets) and
    09 (Fréchet distances).
    """
    size = model_input_size(model)
    images = np.asarray(images)
    if size is None or tuple(images.shape[1:3]) == size:
        return images
    return resize_images(images, size)


def jpeg(images: np.ndarray, quality: float, seed: int = 0) -> np.ndarray:
    """Re-encode every image as a JPEG of ``quality`` (1-100, Pillow's 4:2:0 default).

    ``seed`` is unused (JPEG is deterministic); it lets 08 call every perturbation alike.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be between 1 and 100, got {quality!r}.")
    images = check_images(images)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        out[i] = np.asarray(Image.open(buffer).convert("RGB"))
    return out
