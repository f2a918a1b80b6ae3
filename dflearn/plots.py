"""Plotting helpers shared by the notebooks: image grids, confusion matrices, training curves.

Core layer, used by every notebook; imports no lesson module.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from dflearn.data import CLASS_NAMES

CLASS_COLOURS = {"FAKE": "tab:orange", "REAL": "tab:blue"}
INTENSITY = "intensity (0-255)"


def image_grid(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8,
               title: str = "", size: float = 1.4) -> plt.Figure:
    """Show images (N, H, W, 3) uint8 in a grid with optional per-image titles."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, title: str = "Confusion matrix",
                   ax: plt.Axes | None = None, normalize: bool = False) -> plt.Axes:
    """Confusion matrix labelled FAKE/REAL, with counts (or row fractions) in each cell."""
    cm = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=[0, 1])
    shown = cm / cm.sum(axis=1, keepdims=True).clip(min=1) if normalize else cm
    ax = ax or plt.subplots(figsize=(3.6, 3.2))[1]
    ax.imshow(shown, cmap="Blues", vmin=0)
    for (r, c), v in np.ndenumerate(shown):
        text = f"{v:.2f}" if normalize else f"{v:d}"
        ax.text(c, r, text, ha="center", va="center",
                color="white" if v > shown.max() / 2 else "black")
    ax.set_xticks([0, 1], CLASS_NAMES)
    ax.set_yticks([0, 1], CLASS_NAMES)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return ax


AXIS_LABELS = {
    "loss": "loss (cross-entropy, nats)",
    "accuracy": "accuracy (fraction correct)",
    "learning_rate": "learning rate",
}


def axis_label(metric: str) -> str:
    """A y-axis label with units for a Keras history key (``val_`` prefix ignored)."""
    return AXIS_LABELS.get(metric.removeprefix("val_"), metric)


def plot_history(history: Mapping[str, Sequence[float]], metrics: Sequence[str] = ("loss", "accuracy"),
                 title: str = "Training curves", best_epoch: int | None = None) -> plt.Figure:
    """Training vs validation curves per metric, from a Keras ``History.history`` dict.

    A widening gap between the two curves is overfitting. ``best_epoch`` (1-based, e.g. the
    epoch early stopping restored) is marked with a dotted line.
    """
    shown = [m for m in metrics if m in history]
    if not shown:
        raise ValueError(f"None of {list(metrics)} is in the history (keys: {sorted(history)}).")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 3.2), squeeze=False)
    for ax, name in zip(axes.flat, shown):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(axis_label(name))
        ax.set_title(f"{title}: {name}")
        ax.legend()
    fig.tight_layout()
    return fig


def plot_histories(histories: Mapping[str, Mapping[str, Sequence[float]]],
                   metrics: Sequence[str] = ("val_loss", "val_accuracy"),
                   title: str = "Validation curves by model") -> plt.Figure:
    """One curve per model for each metric, to compare several trainings on shared axes."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for name, history in histories.items():
            if metric in history:
                values = history[metric]
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(axis_label(metric))
        ax.set_title(f"{title}: {metric}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_layer_scales(scales: Mapping[str, Sequence[float]], layer_names: Sequence[str],
                      title: str = "Signal scale through the network") -> plt.Axes:
    """Standard deviation of each layer's output (log scale), one line per model.

    ``scales`` maps a model label to its per-layer values, in the order of ``layer_names``
    (e.g. the ``std`` column of :func:`dflearn.models.activation_scales`).
    """
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for label, values in scales.items():
        ax.semilogy(np.arange(len(values)), np.asarray(values, dtype=float), marker="o", label=label)
    ax.set_xticks(np.arange(len(layer_names)), layer_names, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("layer (input side to output)")
    ax.set_ylabel("std of layer output (log scale)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return ax


def shared_bins(values: np.ndarray, bins: int,
                value_range: tuple[float, float] | None) -> np.ndarray:
    """``bins + 1`` equal-width edges over ``value_range`` (default: the values' range)."""
    low, high = value_range if value_range else (float(np.min(values)), float(np.max(values)))
    return np.linspace(low, high, bins + 1)


def overlay_histograms(table: pd.DataFrame, labels: np.ndarray, columns: Sequence[str],
                       bins: int = 32, value_range: tuple[float, float] | None = (0, 255),
                       xlabel: str = "mean " + INTENSITY,
                       title: str = "FAKE vs REAL on shared bins",
                       ylabel: str = "density (1/intensity unit)") -> plt.Figure:
    """One panel per feature column with both classes on the same bins, as densities
    (01 §2, 02 §2)."""
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.8 * len(columns), 3.2), squeeze=False)
    for ax, column in zip(axes[0], columns):
        edges = shared_bins(table[column].to_numpy(), bins, value_range)
        for label, name in enumerate(CLASS_NAMES):
            ax.hist(table[column][labels == label], bins=edges, density=True, alpha=0.5,
                    color=CLASS_COLOURS[name], label=name)
        ax.set_title(column)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
