"""Exploratory plots of FAKE vs REAL images: galleries, the study's colour and brightness
histograms (its Figures 5-7), class overlays, colour histograms and Fourier spectra."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dflearn.data import CLASS_NAMES, Dataset
from dflearn.features import CHANNELS, UNKNOWN, bin_edges, content_classes
from dflearn.plots import CLASS_COLOURS, INTENSITY, image_grid



def gallery(ds: Dataset, n_per_class: int = 8, seed: int = 0) -> plt.Figure:
    """Random examples, one row per class, titled with the class and the CIFAR-10 content class
    (when the file names give one)."""
    rng = np.random.default_rng(seed)
    content = content_classes(ds.paths)
    picks, titles = [], []
    for label, name in enumerate(CLASS_NAMES):
        index = np.flatnonzero(ds.labels == label)
        chosen = rng.choice(index, size=min(n_per_class, len(index)), replace=False)
        picks.extend(chosen)
        titles.extend(name if content[i] == UNKNOWN else f"{name} · {content[i]}" for i in chosen)
    return image_grid(ds.images[np.asarray(picks)], titles, ncols=n_per_class,
                      title="Random FAKE (top) and REAL (bottom) images, 32x32 pixels")


def study_histograms(table: pd.DataFrame, labels: np.ndarray, columns: Sequence[str],
                     bins: int = 32, xlabel: str = "mean " + INTENSITY,
                     title: str = "Per-image means, one panel per class") -> plt.Figure:
    """The study's layout: one row per class (FAKE, REAL), one panel per feature column."""
    fig, axes = plt.subplots(2, len(columns), figsize=(max(3.6 * len(columns), 6.0), 5.2),
                             squeeze=False, sharex=True)
    for row, name in enumerate(CLASS_NAMES):
        part = table[np.asarray(labels) == row]
        for ax, column in zip(axes[row], columns):
            colour = column.split("_")[-1] if column.split("_")[-1] in CHANNELS else "grey"
            ax.hist(part[column], bins=bins, color=colour, alpha=0.8)
            ax.set_title(f"{name}: {column}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("images")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_colour_histograms(histograms: np.ndarray, labels: np.ndarray,
                           title: str = "Average colour histogram per class") -> plt.Figure:
    """Per-channel histograms ``(N, 3, bins)`` averaged over each class, one panel per channel."""
    labels = np.asarray(labels)
    edges = bin_edges(histograms.shape[-1])
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.2), sharey=True)
    for c, (ax, channel) in enumerate(zip(axes, CHANNELS)):
        for label, name in enumerate(CLASS_NAMES):
            mean = histograms[labels == label, c].mean(axis=0)
            ax.stairs(100 * mean, edges, color=CLASS_COLOURS[name], label=name, linewidth=2)
        ax.set_title(f"{channel} channel")
        ax.set_xlabel(f"{channel} {INTENSITY}")
        ax.legend()
    axes[0].set_ylabel("pixels in bin (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_joint_histograms(joint_fake: np.ndarray, joint_real: np.ndarray,
                          plane: tuple[str, str] = ("red", "green"),
                          min_fraction: float = 1e-4) -> plt.Figure:
    """Two channels' joint histogram per class (the third summed out) and log2(FAKE / REAL).

    The ratio is left blank where the bin holds less than ``min_fraction`` of the pixels.
    """
    axis_x, axis_y = (CHANNELS.index(c) for c in plane)
    other = ({0, 1, 2} - {axis_x, axis_y}).pop()
    bins = joint_fake.shape[0]
    extent = (0, 256, 0, 256)

    def project(joint: np.ndarray) -> np.ndarray:
        plane_hist = joint.sum(axis=other)
        return plane_hist if axis_x < axis_y else plane_hist.T  # rows follow the first channel

    fake, real = project(joint_fake), project(joint_real)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log2(fake / real)
    ratio[(fake + real) / 2 < min_fraction] = np.nan  # too few pixels for a stable ratio
    limit = float(np.nanmax(np.abs(ratio))) if np.isfinite(ratio).any() else 1.0
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = [(fake * 100, "FAKE", "viridis", None), (real * 100, "REAL", "viridis", None),
              (ratio, "log2 FAKE/REAL", "coolwarm", (-limit, limit))]
    for ax, (values, name, cmap, lims) in zip(axes, panels):
        image = ax.imshow(values.T, origin="lower", extent=extent, cmap=cmap,
                          vmin=lims[0] if lims else None, vmax=lims[1] if lims else None)
        fig.colorbar(image, ax=ax, label="log2 ratio" if lims else "pixels (%)")
        ax.set_title(f"{name}, {plane[0]}-{plane[1]} ({bins} bins)", fontsize=10)
        ax.set_xlabel(f"{plane[0]} {INTENSITY}")
        ax.set_ylabel(f"{plane[1]} {INTENSITY}")
    fig.tight_layout()
    return fig


def plot_spectra(fake: np.ndarray, real: np.ndarray,
                 title: str = "Mean log10 Fourier power of the grey levels") -> plt.Figure:
    """Mean centred log-power spectra ``(H, W)`` of each class and their difference (the zero
    frequency, removed with the image mean, is left blank)."""
    h, w = fake.shape
    extent = (-0.5, 0.5 - 1 / w, 0.5 - 1 / h, -0.5)
    fake, real = fake.astype(np.float64), real.astype(np.float64)
    fake[h // 2, w // 2] = real[h // 2, w // 2] = np.nan  # the removed mean (zero frequency)
    diff = fake - real
    limit = float(np.nanmax(np.abs(diff))) or 1.0
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))
    low, high = np.nanmin([fake, real]), np.nanmax([fake, real])
    panels = [(fake, "FAKE", "magma", low, high, "log10 power"),
              (real, "REAL", "magma", low, high, "log10 power"),
              (diff, "FAKE - REAL", "coolwarm", -limit, limit, "difference of log10 power")]
    for ax, (values, name, cmap, vmin, vmax, unit) in zip(axes, panels):
        image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent)
        fig.colorbar(image, ax=ax, label=unit)
        ax.set_title(name)
        ax.set_xlabel("horizontal frequency (cycles/pixel)")
        ax.set_ylabel("vertical frequency (cycles/pixel)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_radial_spectra(frequencies: np.ndarray, radial: np.ndarray, labels: np.ndarray,
                        title: str = "Radially averaged power spectrum") -> plt.Figure:
    """Class mean (and +-1 std band) of per-image radial spectra ``(N, R)``."""
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, name in enumerate(CLASS_NAMES):
        rows = radial[labels == label]
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        ax.plot(frequencies, mean, marker="o", color=CLASS_COLOURS[name], label=name)
        ax.fill_between(frequencies, mean - std, mean + std, color=CLASS_COLOURS[name], alpha=0.2)
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("mean log10 power")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
