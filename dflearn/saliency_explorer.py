"""An ipywidgets explorer of saliency maps: pick a model, a method, a category (true/false
REAL/FAKE) and an image; see the image, the overlay and the raw map with its scale.

Lesson module of 07; imports only the core and :mod:`dflearn.saliency`, 07's other module.

The choices (:meth:`SaliencyExplorer.selection`) and the drawing (:meth:`SaliencyExplorer.render`)
work without a notebook; :attr:`SaliencyExplorer.widget` builds the controls on first use.
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np

from dflearn.data import CLASS_NAMES, Dataset
from dflearn.metrics import confidence
from dflearn.saliency import (CATEGORIES, METHOD_TITLES, METHOD_UNITS, METHODS, Explainer,
                              categories, explainer, overlay)

ALL = "all"  # the category choice that shows every image


class SaliencyExplorer:
    """Browse saliency maps of several models, each on its own images. Used in 07 §6.

    Args:
        models: ``{name: trained Keras model}`` (or its :class:`~dflearn.saliency.Explainer`).
        data: one :class:`~dflearn.data.Dataset` for every model, or ``{name: Dataset}``.
        methods: the saliency methods offered (see :data:`dflearn.saliency.METHODS`).
        options: keyword arguments per method, e.g. ``{"smoothgrad": {"samples": 8}}``.
    """

    def __init__(self, models: Mapping[str, keras.Model | Explainer],
                 data: Dataset | Mapping[str, Dataset], methods: Sequence[str] = METHODS,
                 options: Mapping[str, Mapping] | None = None):
        if not models:
            raise ValueError("Give at least one model to explore.")
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"Unknown saliency method(s) {unknown}; choose from {METHODS}.")
        per_model = data if isinstance(data, Mapping) else {name: data for name in models}
        missing = [name for name in models if name not in per_model]
        if missing:
            raise ValueError(f"No images given for model(s) {missing}.")
        self.explainers: dict[str, Explainer] = {name: explainer(m) for name, m in models.items()}
        self.data = {name: per_model[name] for name in models}
        for name, ds in self.data.items():
            if len(ds.images) == 0:
                raise ValueError(f"The images for model {name!r} are empty.")
        self.methods = tuple(methods)
        self.options = {m: dict((options or {}).get(m, {})) for m in self.methods}
        self._p_real: dict[str, np.ndarray] = {}
        self._maps: dict[tuple[str, str, int], np.ndarray] = {}

    # ------------------------------------------------------------------ choices

    def p_real(self, model: str) -> np.ndarray:
        """P(REAL) of ``model`` on its images (computed once)."""
        if model not in self.explainers:
            raise ValueError(f"Unknown model {model!r}; models are {list(self.explainers)}.")
        if model not in self._p_real:
            self._p_real[model] = self.explainers[model].predict_real(self.data[model].images)
        return self._p_real[model]

    def selection(self, model: str, category: str = ALL) -> np.ndarray:
        """Indices of ``model``'s images in ``category`` (or all), most confident first."""
        if category != ALL and category not in CATEGORIES:
            raise ValueError(f"Unknown category {category!r}; use {ALL!r} or one of {CATEGORIES}.")
        p = self.p_real(model)
        keep = np.ones(len(p), dtype=bool) if category == ALL else \
            categories(self.data[model].labels, p) == category
        index = np.flatnonzero(keep)
        return index[np.argsort(-confidence(p[index]), kind="stable")]

    def saliency(self, model: str, method: str, index: int) -> np.ndarray:
        """The (H, W) map of one image (cached), explained for the predicted class."""
        if method not in self.methods:
            raise ValueError(f"Unknown method {method!r}; this explorer offers {self.methods}.")
        key = (model, method, int(index))
        if key not in self._maps:
            image = self.data[model].images[int(index)][None]
            maps = self.explainers[model].saliency(method, image, **self.options[method])
            self._maps[key] = maps[0]
        return self._maps[key]

    # ------------------------------------------------------------------ drawing

    def render(self, model: str, method: str, index: int) -> plt.Figure:
        """Image (true class, prediction, confidence), overlay, and the raw map with colour bar."""
        ex = self.explainers[model]
        ds = self.data[model]
        image = ex.prepare(ds.images[int(index)][None]).numpy()[0]
        saliency = self.saliency(model, method, index)
        p = float(self.p_real(model)[int(index)])
        category = categories(ds.labels[int(index):int(index) + 1], np.array([p]))[0]
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.5))
        axes[0].imshow(image.astype("uint8"), interpolation="nearest")
        axes[0].set_title(f"true {CLASS_NAMES[int(ds.labels[int(index)])]}: {category}, "
                          f"confidence {confidence(p):.3f}", fontsize=9)
        overlay(axes[1], image, saliency)
        axes[1].set_title(f"{METHOD_TITLES[method]} overlay (scaled 0-1)", fontsize=9)
        shown = axes[2].imshow(saliency, cmap="jet", interpolation="nearest")
        axes[2].set_title(f"{METHOD_TITLES[method]} map (layer {ex.layer_name})"
                          if method == "grad_cam" else f"{METHOD_TITLES[method]} map", fontsize=9)
        fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04).set_label(METHOD_UNITS[method],
                                                                            fontsize=8)
        for ax in axes:
            ax.set_xlabel("x (pixels)")
            ax.set_ylabel("y (pixels)")
        fig.suptitle(f"{model}: image {int(index)} ({image.shape[1]}x{image.shape[0]} px)",
                     fontsize=10)
        fig.tight_layout()
        return fig

    def show(self, model: str, method: str, category: str = ALL, rank: int = 0) -> None:
        """Display the ``rank``-th most confident image of ``category`` (what the widget shows),
        or say that there is none."""
        from IPython.display import display

        chosen = self.selection(model, category)
        if len(chosen) == 0:
            print(f"{model} has no {category} image here.")
            return
        fig = self.render(model, method, int(chosen[min(int(rank), len(chosen) - 1)]))
        plt.close(fig)  # off pyplot's list before drawing: see dflearn.fallback.figure_html
        display(fig)

    # ------------------------------------------------------------------ ipywidgets

    @functools.cached_property
    def widget(self):
        """The ipywidgets controls (model, method, category, rank) above the drawing."""
        import ipywidgets as widgets

        from dflearn.fallback import FallbackBox

        model = widgets.Dropdown(options=list(self.explainers), description="model")
        method = widgets.Dropdown(options=[(METHOD_TITLES[m], m) for m in self.methods],
                                  description="method")
        category = widgets.Dropdown(options=[ALL, *CATEGORIES], value=ALL, description="category")
        rank = widgets.IntSlider(value=0, min=0, max=0, description="rank",
                                 continuous_update=False)
        count = widgets.Label()

        def fit_slider(_change: dict | None = None) -> None:
            chosen = self.selection(model.value, category.value)
            rank.max = max(len(chosen) - 1, 0)
            count.value = f"{len(chosen)} image(s), most confident first"

        model.observe(fit_slider, names="value")
        category.observe(fit_slider, names="value")
        fit_slider()
        drawing = widgets.interactive_output(self.show, {"model": model, "method": method,
                                                         "category": category, "rank": rank})
        return FallbackBox([widgets.HBox([model, method, category]), widgets.HBox([rank, count]),
                            drawing],
                           fallback=lambda: self.static_view(model.value, method.value,
                                                             category.value, rank.value))

    def static_view(self, model: str, method: str, category: str = ALL, rank: int = 0) -> str:
        """HTML of what :meth:`show` draws for these choices, for pages without a kernel (the
        rendered course site, nbviewer). Used by :attr:`widget`."""
        from dflearn.fallback import figure_html, static_html

        chosen = self.selection(model, category)
        note = (f"Saliency explorer (interactive in Jupyter with a running kernel); static view: "
                f"{model}, {METHOD_TITLES[method]}, category {category}, rank {int(rank)}")
        if len(chosen) == 0:
            return static_html(f"{note}: no image in this category.")
        index = int(chosen[min(int(rank), len(chosen) - 1)])
        return static_html(f"{note}.", figure_html(self.render(model, method, index),
                                                   f"{METHOD_TITLES[method]} of image {index}"))
