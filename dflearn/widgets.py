"""Interactive ipywidgets explorers for the notebooks.

:class:`ImageExplorer` browses a :class:`~dflearn.data.Dataset` filtered by any per-image
labels (class, content class, later a model's prediction) and draws a row of *panels* for the
chosen image. A panel is any function ``panel(ax, ds, index)``; later notebooks add their own
(for example a saliency map) without changing this module.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from dflearn.data import CLASS_NAMES, Dataset
from dflearn.features import CHANNELS, bin_edges, brightness, colour_histograms, content_classes

ALL = "all"
Panel = Callable[[plt.Axes, Dataset, int], None]


# --------------------------------------------------------------------------- panels


def image_panel(ax: plt.Axes, ds: Dataset, index: int) -> None:
    """Draw the image itself, pixel for pixel."""
    image = ds.images[index]
    ax.imshow(image, interpolation="nearest")
    ax.set_title(f"{CLASS_NAMES[int(ds.labels[index])]} ({image.shape[1]}x{image.shape[0]} px)")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")


def histogram_panel(ax: plt.Axes, ds: Dataset, index: int, bins: int = 32) -> None:
    """Draw the image's red, green and blue histograms, with its channel means marked."""
    image = ds.images[index:index + 1]
    hist = colour_histograms(image, bins)[0]
    edges = bin_edges(bins)
    for c, channel in enumerate(CHANNELS):
        ax.stairs(100 * hist[c], edges, color=channel, label=channel)
        ax.axvline(image[..., c].mean(), color=channel, linestyle=":")
    ax.set_title(f"colour histograms (brightness {brightness(image)[0]:.1f})")
    ax.set_xlabel("intensity (0-255)")
    ax.set_ylabel("pixels in bin (%)")
    ax.legend(fontsize=7)


def default_filters(ds: Dataset) -> dict[str, np.ndarray]:
    """The EDA filters: real/fake class and the CIFAR-10 content class from the file name."""
    return {"class": np.asarray(CLASS_NAMES, dtype=object)[ds.labels],
            "content": content_classes(ds.paths)}


# --------------------------------------------------------------------------- explorer


class ImageExplorer:
    """Browse a dataset through dropdown filters and an image slider, drawing ``panels``.

    The filtering (:meth:`selection`) and drawing (:meth:`render`) work without a notebook;
    :attr:`widget` builds the ipywidgets controls on first use.
    """

    def __init__(self, ds: Dataset, filters: Mapping[str, Sequence[str]] | None = None,
                 panels: Sequence[Panel] = (image_panel, histogram_panel),
                 panel_width: float = 3.6) -> None:
        if len(ds.images) == 0:
            raise ValueError("The dataset to explore is empty.")
        self.ds = ds
        self.filters = {k: np.asarray(v, dtype=object)
                        for k, v in (default_filters(ds) if filters is None else filters).items()}
        for name, values in self.filters.items():
            if len(values) != len(ds.images):
                raise ValueError(f"Filter {name!r} has {len(values)} values for "
                                 f"{len(ds.images)} images.")
        if not panels:
            raise ValueError("Give at least one panel function to draw.")
        self.panels = tuple(panels)
        self.panel_width = panel_width
        self._widget = None

    def options(self, name: str) -> list[str]:
        """Dropdown choices of filter ``name``: ``"all"`` then its distinct values."""
        return [ALL, *sorted(set(self.filters[name].tolist()))]

    def selection(self, **choices: str) -> np.ndarray:
        """Indices of the images matching every chosen filter value (``"all"`` matches any)."""
        keep = np.ones(len(self.ds.images), dtype=bool)
        for name, value in choices.items():
            if name not in self.filters:
                raise ValueError(f"Unknown filter {name!r}; filters are {list(self.filters)}.")
            if value != ALL:
                keep &= self.filters[name] == value
        return np.flatnonzero(keep)

    def caption(self, index: int) -> str:
        """Text under the panels: file name and every filter's value for this image."""
        name = str(self.ds.paths[index]).replace("\\", "/").rsplit("/", 1)[-1]
        values = ", ".join(f"{k}={v[index]}" for k, v in self.filters.items())
        return f"{name}: {values}"

    def render(self, index: int) -> plt.Figure:
        """Draw every panel for image ``index`` side by side."""
        fig, axes = plt.subplots(1, len(self.panels), squeeze=False,
                                 figsize=(self.panel_width * len(self.panels), 3.4))
        for ax, panel in zip(axes[0], self.panels):
            panel(ax, self.ds, int(index))
        fig.suptitle(self.caption(int(index)), fontsize=9)
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------------ ipywidgets

    def _build(self):
        import ipywidgets as widgets

        from dflearn.fallback import FallbackBox

        self._dropdowns = {name: widgets.Dropdown(options=self.options(name), value=ALL,
                                                  description=name)
                           for name in self.filters}
        self._slider = widgets.IntSlider(value=0, min=0, max=0, description="image",
                                         continuous_update=False)
        self._count = widgets.Label()
        self._output = widgets.Output()
        for control in (*self._dropdowns.values(), self._slider):
            control.observe(self._on_change, names="value")
        self._on_change()
        return FallbackBox([widgets.HBox([*self._dropdowns.values()]),
                            widgets.HBox([self._slider, self._count]), self._output],
                           fallback=self.static_view)

    def static_view(self) -> str:
        """HTML of what the explorer shows now (the drawing of the chosen image), for pages
        without a kernel: the rendered course site, nbviewer."""
        from dflearn.fallback import figure_html, static_html

        chosen = self.current()
        if len(chosen) == 0:
            return static_html("Image explorer (interactive in Jupyter): no image matches the "
                               "chosen filters.")
        index = int(chosen[min(self._slider.value, len(chosen) - 1)])
        return static_html("Image explorer (interactive in Jupyter with a running kernel); "
                           f"static view of image {index}:",
                           figure_html(self.render(index), self.caption(index)))

    def current(self) -> np.ndarray:
        """Indices matching the dropdowns' current values."""
        return self.selection(**{k: d.value for k, d in self._dropdowns.items()})

    def _on_change(self, _change: dict | None = None) -> None:
        from IPython.display import display

        chosen = self.current()
        self._slider.max = max(len(chosen) - 1, 0)
        self._count.value = f"{len(chosen)} matching image(s)"
        self._output.clear_output(wait=True)
        if len(chosen) == 0:
            return
        fig = self.render(chosen[min(self._slider.value, len(chosen) - 1)])
        plt.close(fig)  # off pyplot's list before drawing: see dflearn.fallback.figure_html
        with self._output:
            display(fig)

    @property
    def widget(self):
        """The ipywidgets control box (dropdowns, slider, count and drawing area)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget


def explore_images(ds: Dataset, filters: Mapping[str, Sequence[str]] | None = None,
                   panels: Sequence[Panel] = (image_panel, histogram_panel)) -> ImageExplorer:
    """Build an :class:`ImageExplorer` and display its widget (call it as a cell's last line)."""
    from IPython.display import display

    explorer = ImageExplorer(ds, filters, panels)
    display(explorer.widget)
    return explorer
