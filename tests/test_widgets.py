"""dflearn.widgets: the image explorer's filtering, drawing and ipywidgets controls."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dflearn.data import Dataset
from dflearn.widgets import ALL, ImageExplorer, default_filters, histogram_panel, image_panel


@pytest.fixture
def dataset() -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    labels = np.array([0, 0, 0, 1, 1, 1])
    paths = np.array(["FAKE/1000.jpg", "FAKE/1001 (4).jpg", "FAKE/1002 (4).jpg",
                      "REAL/0000 (4).jpg", "REAL/0001 (9).jpg", "REAL/0002.jpg"])
    return Dataset(images, labels, paths)


def test_default_filters_are_class_and_content(dataset: Dataset) -> None:
    filters = default_filters(dataset)
    assert filters["class"].tolist() == ["FAKE"] * 3 + ["REAL"] * 3
    assert filters["content"].tolist() == ["airplane", "cat", "cat", "cat", "ship", "airplane"]


def test_selection_combines_filters(dataset: Dataset) -> None:
    explorer = ImageExplorer(dataset)
    assert explorer.options("content") == [ALL, "airplane", "cat", "ship"]
    assert explorer.selection(**{"class": "FAKE", "content": "cat"}).tolist() == [1, 2]
    assert explorer.selection(content="airplane").tolist() == [0, 5]
    assert explorer.selection(**{"class": ALL, "content": ALL}).tolist() == list(range(6))
    assert explorer.selection(**{"class": "REAL", "content": "frog"}).tolist() == []
    with pytest.raises(ValueError, match="Unknown filter 'colour'"):
        explorer.selection(colour="red")


def test_bad_explorer_arguments(dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="'guess' has 2 values for 6 images"):
        ImageExplorer(dataset, filters={"guess": ["a", "b"]})
    with pytest.raises(ValueError, match="at least one panel"):
        ImageExplorer(dataset, panels=())
    with pytest.raises(ValueError, match="empty"):
        ImageExplorer(dataset.subset(np.array([], dtype=int)))


def test_render_draws_each_panel_with_labels(dataset: Dataset) -> None:
    calls = []

    def custom(ax: plt.Axes, ds: Dataset, index: int) -> None:
        calls.append(index)
        ax.set_title("custom")

    fig = ImageExplorer(dataset, panels=(image_panel, histogram_panel, custom)).render(4)
    try:
        image_ax, hist_ax, custom_ax = fig.axes[:3]
        assert calls == [4] and custom_ax.get_title() == "custom"
        assert image_ax.get_title().startswith("REAL")
        assert hist_ax.get_xlabel() == "intensity (0-255)" and "brightness" in hist_ax.get_title()
        assert "0001 (9).jpg" in fig._suptitle.get_text() and "content=ship" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_widget_controls_follow_the_filters(dataset: Dataset) -> None:
    pytest.importorskip("ipywidgets")
    explorer = ImageExplorer(dataset)
    box = explorer.widget
    assert explorer.widget is box  # built once
    assert explorer._slider.max == 5 and explorer._count.value == "6 matching image(s)"
    explorer._dropdowns["content"].value = "cat"
    assert explorer._slider.max == 2 and explorer.current().tolist() == [1, 2, 3]
    explorer._dropdowns["class"].value = "REAL"
    assert explorer._slider.max == 0 and explorer._count.value == "1 matching image(s)"
    explorer._dropdowns["content"].value = "ship"
    explorer._dropdowns["class"].value = "FAKE"
    assert explorer._count.value == "0 matching image(s)"
    plt.close("all")
