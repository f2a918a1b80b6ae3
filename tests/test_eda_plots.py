"""dflearn.eda_plots: every figure has a title and labelled axes, and draws the right data."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dflearn import eda_plots as P
from dflearn import features as F
from dflearn import plots
from dflearn.data import Dataset


@pytest.fixture
def dataset() -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat([0, 1], 6)
    paths = np.array([f"{i:04d}.jpg" for i in range(12)])
    return Dataset(images, labels, paths)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_labelled(fig: plt.Figure) -> None:
    plotted = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert fig._suptitle is not None or all(ax.get_title() for ax in plotted)
    for ax in plotted:
        assert ax.get_xlabel() and ax.get_title(), ax


def test_gallery_without_content_classes_titles_only_the_class(dataset: Dataset) -> None:
    fig = P.gallery(dataset, n_per_class=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_images()]
    assert titles == ["FAKE"] * 4 + ["REAL"] * 4


def test_gallery_with_content_classes(dataset: Dataset) -> None:
    named = dataset._replace(paths=np.array([f"{i:04d} ({i % 10 + 1}).jpg" for i in range(12)]))
    titles = [ax.get_title() for ax in P.gallery(named, n_per_class=2).axes if ax.get_images()]
    assert all(t.split(" · ")[1] in F.CONTENT_CLASSES for t in titles)


def test_histogram_figures_are_labelled(dataset: Dataset) -> None:
    table = F.summary_features(dataset.images)
    study = P.study_histograms(table, dataset.labels, ["mean_red", "mean_green", "mean_blue"])
    assert len(study.axes) == 6 and study.axes[0].get_title() == "FAKE: mean_red"
    overlay = plots.overlay_histograms(table, dataset.labels, ["brightness"])
    counts = [patch.get_height() for patch in overlay.axes[0].patches]
    assert len(counts) == 64 and overlay.axes[0].get_legend() is not None
    for fig in (study, overlay, P.plot_colour_histograms(F.colour_histograms(dataset.images), dataset.labels)):
        assert_labelled(fig)


def test_joint_and_spectrum_figures(dataset: Dataset) -> None:
    fake, real = dataset.images[:6], dataset.images[6:]
    joint = P.plot_joint_histograms(F.joint_histogram(fake, 4), F.joint_histogram(real, 4),
                                    plane=("green", "blue"))
    assert joint.axes[0].get_xlabel().startswith("green")
    spectra = P.plot_spectra(F.mean_log_spectrum(fake), F.mean_log_spectrum(real))
    radial, freqs = F.radial_spectrum(dataset.images)
    lines = P.plot_radial_spectra(freqs, radial, dataset.labels)
    for fig in (joint, spectra, lines):
        assert_labelled(fig)
    np.testing.assert_allclose(lines.axes[0].lines[0].get_ydata(), radial[:6].mean(axis=0), rtol=1e-6)


def test_study_histograms_accept_a_plain_dataframe() -> None:
    table = pd.DataFrame({"brightness": np.linspace(0, 255, 10)})
    fig = P.study_histograms(table, np.repeat([0, 1], 5), ["brightness"])
    assert fig.axes[1].get_title() == "REAL: brightness"
