"""Hand-made image features, vectorised with NumPy: the study's colour means and brightness,
colour histograms, Fourier power spectra, raw pixels, and the CIFAR-10 content class read from
CIFAKE file names.

Every function takes a batch of images ``(N, H, W, 3)`` of ``uint8`` (0-255) and returns one
row per image, so the same code serves the EDA notebook and the classical baselines.

Core layer, used by 01 and 02; imports no lesson module.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.fft

from dflearn.images import check_images

CONTENT_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
UNKNOWN = "unknown"
CHANNELS: tuple[str, str, str] = ("red", "green", "blue")
STUDY_FEATURES: tuple[str, ...] = ("mean_red", "mean_green", "mean_blue", "brightness")
EQUAL_WEIGHTS = (1 / 3, 1 / 3, 1 / 3)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as in JPEG's Y channel
POWER_FLOOR = 1e-3  # added before log10 so empty frequencies stay finite
_SUFFIX = re.compile(r"\((\d+)\)\s*$")


# --------------------------------------------------------------------------- content classes


def content_class_index(path: str | PurePath) -> int | None:
    """The CIFAR-10 class number (1-10) in a CIFAKE file name such as ``0000 (10).jpg``.

    Returns ``None`` when the name has no bracketed suffix (``0000.jpg``), which CIFAKE uses
    for class 1 (airplane) but which is also how datasets without content classes name files.
    """
    match = _SUFFIX.search(PurePath(path).stem)
    if match is None:
        return None
    index = int(match.group(1))
    if not 1 <= index <= len(CONTENT_CLASSES):
        raise ValueError(
            f"File name {PurePath(path).name!r} has content class ({index}); CIFAKE uses 1-10."
        )
    return index


def content_classes(paths: Iterable[str | PurePath]) -> np.ndarray:
    """CIFAR-10 content class names for CIFAKE file names (``"unknown"`` when there are none).

    In CIFAKE a missing suffix means airplane. A set in which *no* file has a suffix (such as
    the embedded practice set) has no content classes, so every image is ``"unknown"``.
    """
    indices = [content_class_index(p) for p in paths]
    if all(i is None for i in indices):
        return np.full(len(indices), UNKNOWN, dtype=object)
    return np.asarray([CONTENT_CLASSES[(i or 1) - 1] for i in indices], dtype=object)


# --------------------------------------------------------------------------- checks


# --------------------------------------------------------------------------- the study's features


def _pixels(images: np.ndarray) -> np.ndarray:
    """A checked batch viewed as ``(N, H * W, 3)``."""
    images = check_images(images)
    return images.reshape(len(images), -1, 3)


def channel_means(images: np.ndarray) -> np.ndarray:
    """Each image's mean red, green and blue intensity (0-255), shape ``(N, 3)``."""
    pixels = _pixels(images)
    return np.einsum("npc->nc", pixels, dtype=np.float64) / pixels.shape[1]


def channel_stds(images: np.ndarray) -> np.ndarray:
    """Each image's standard deviation of red, green and blue (0-255), shape ``(N, 3)``."""
    pixels = _pixels(images)
    mean_square = np.einsum("npc,npc->nc", pixels, pixels, dtype=np.float64) / pixels.shape[1]
    return np.sqrt(np.maximum(mean_square - channel_means(images) ** 2, 0.0))


def brightness(images: np.ndarray,
               weights: tuple[float, float, float] = EQUAL_WEIGHTS) -> np.ndarray:
    """Each image's mean brightness (0-255): a weighted mean of its channel means, shape ``(N,)``.

    The default weighs the three channels equally (the mean of all values); pass
    ``LUMA_WEIGHTS`` for perceived luminance.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (3,) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"weights must be three numbers that sum to 1; got {weights}.")
    return channel_means(images) @ w


def summary_features(images: np.ndarray) -> pd.DataFrame:
    """The study's per-image features: mean red, green, blue and brightness (0-255)."""
    means = channel_means(images)
    table = pd.DataFrame(means, columns=list(STUDY_FEATURES[:3]))
    table["brightness"] = means.mean(axis=1)
    return table


# --------------------------------------------------------------------------- colour histograms


def _bin_index(images: np.ndarray, bins: int) -> np.ndarray:
    if not 1 <= bins <= 256 or 256 % bins:
        raise ValueError(f"bins must divide 256 (e.g. 4, 8, 16, 32); got {bins}.")
    if images.dtype != np.uint8:
        raise ValueError(f"Histograms need uint8 images (0-255); got dtype {images.dtype}. "
                         "Use the images as loaded, not rescaled to 0-1.")
    return np.right_shift(images, int(np.log2(256 // bins))).astype(np.intp)


def colour_histograms(images: np.ndarray, bins: int = 16, chunk: int = 512) -> np.ndarray:
    """Per-image, per-channel intensity histograms as pixel fractions, shape ``(N, 3, bins)``.

    Bin ``k`` covers intensities ``[k * 256/bins, (k + 1) * 256/bins)``; each row sums to 1.
    One ``np.bincount`` per chunk of images counts every (image, channel, bin) at once.
    """
    pixels = _pixels(images)
    n, n_pixels, _ = pixels.shape
    counts = np.empty((n, 3, bins), dtype=np.float64)
    for start in range(0, n, chunk):
        index = _bin_index(pixels[start:start + chunk], bins)
        m = len(index)
        index += (np.arange(m)[:, None, None] * 3 + np.arange(3)[None, None, :]) * bins
        found = np.bincount(index.ravel(), minlength=m * 3 * bins)
        counts[start:start + m] = found.reshape(m, 3, bins)
    return counts / n_pixels


def joint_histogram(images: np.ndarray, bins: int = 8, chunk: int = 2048) -> np.ndarray:
    """Joint RGB histogram of all pixels of all images, shape ``(bins, bins, bins)``, summing to 1.

    Axis 0 is red, 1 green, 2 blue.
    """
    pixels = _pixels(images)
    counts = np.zeros(bins**3, dtype=np.int64)
    for start in range(0, len(pixels), chunk):
        index = _bin_index(pixels[start:start + chunk], bins).reshape(-1, 3)
        flat = (index[:, 0] * bins + index[:, 1]) * bins + index[:, 2]
        counts += np.bincount(flat, minlength=bins**3)
    return (counts / counts.sum()).reshape(bins, bins, bins)


def bin_edges(bins: int) -> np.ndarray:
    """Intensity edges (0-256) of the ``bins`` histogram bins used above."""
    return np.linspace(0, 256, bins + 1)


# --------------------------------------------------------------------------- Fourier spectra


def greyscale(images: np.ndarray) -> np.ndarray:
    """Luma (BT.601) of each pixel, float32 in 0-255, shape ``(N, H, W)``."""
    images = check_images(images)
    return np.einsum("nhwc,c->nhw", images, np.asarray(LUMA_WEIGHTS, dtype=np.float32),
                     dtype=np.float32)


def power_spectrum(images: np.ndarray) -> np.ndarray:
    """Fourier power of each image's grey levels, zero frequency centred, shape ``(N, H, W)``.

    The image mean is removed first, so the centre holds no DC peak.
    """
    grey = greyscale(images)
    grey -= grey.mean(axis=(1, 2), keepdims=True)
    spectrum = scipy.fft.fft2(grey)  # much faster than numpy.fft on many small images
    return np.fft.fftshift(spectrum.real**2 + spectrum.imag**2, axes=(1, 2))


def log_power_spectrum(images: np.ndarray) -> np.ndarray:
    """``log10`` of :func:`power_spectrum` (plus a floor of 1e-3), shape ``(N, H, W)``."""
    return np.log10(power_spectrum(images) + POWER_FLOOR).astype(np.float32)


def mean_log_spectrum(images: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Mean ``log10`` power spectrum of a set of images, shape ``(H, W)`` (computed in chunks)."""
    images = check_images(images)
    total = np.zeros(images.shape[1:3], dtype=np.float64)
    for start in range(0, len(images), chunk):
        total += log_power_spectrum(images[start:start + chunk]).sum(axis=0, dtype=np.float64)
    return total / len(images)


def frequency_grid(height: int, width: int) -> np.ndarray:
    """Radial spatial frequency (cycles/pixel) of each centred FFT cell, shape ``(H, W)``."""
    fy = np.fft.fftshift(np.fft.fftfreq(height))
    fx = np.fft.fftshift(np.fft.fftfreq(width))
    return np.hypot(fy[:, None], fx[None, :])


def _radial_bins(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot matrix ``(H*W, R)`` assigning each cell to an integer radius, and the radii."""
    n = min(height, width)
    radius = np.rint(frequency_grid(height, width) * n).astype(np.int64).ravel()
    radii = np.arange(1, n // 2 + 1)  # skip the removed DC term; stop at Nyquist
    onehot = (radius[:, None] == radii[None, :]).astype(np.float32)
    return onehot / onehot.sum(axis=0, keepdims=True), radii / n


def radial_spectrum(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log10`` of the azimuthally averaged power per image, ``(N, R)``, and the ring
    frequencies (cycles/pixel).

    For 32x32 images there are 16 rings, from 1/32 to 1/2 cycle per pixel.
    """
    power = power_spectrum(images)
    n, h, w = power.shape
    weights, frequencies = _radial_bins(h, w)
    return np.log10(power.reshape(n, h * w) @ weights + POWER_FLOOR), frequencies


# --------------------------------------------------------------------------- feature sets


def brightness_features(images: np.ndarray) -> np.ndarray:
    """The study's single brightness feature, shape ``(N, 1)``."""
    return brightness(images)[:, None]


def histogram_features(images: np.ndarray, bins: int = 16) -> np.ndarray:
    """Colour histograms (3 x ``bins``), channel means and standard deviations, and the radial
    power spectrum: shape ``(N, 3 * bins + 6 + R)``."""
    images = check_images(images)
    moments = np.concatenate([channel_means(images), channel_stds(images)], axis=1)
    hist = colour_histograms(images, bins).reshape(len(images), -1)
    return np.concatenate([hist, moments, radial_spectrum(images)[0]], axis=1)


def pixel_features(images: np.ndarray) -> np.ndarray:
    """Raw pixels scaled to 0-1 and flattened, shape ``(N, H * W * 3)``."""
    images = check_images(images)
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


FEATURE_SETS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "brightness": brightness_features,
    "histograms": histogram_features,
    "pixels": pixel_features,
}


def extract(name: str, images: np.ndarray) -> np.ndarray:
    """Compute feature set ``name`` (one of :data:`FEATURE_SETS`) for a batch of images."""
    if name not in FEATURE_SETS:
        raise ValueError(f"Unknown feature set {name!r}; choose from {', '.join(FEATURE_SETS)}.")
    return FEATURE_SETS[name](images)
