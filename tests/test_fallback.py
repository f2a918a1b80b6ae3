"""dflearn.fallback and the explorers of 01, 03 and 07: each display carries a static picture
beside the live widget, for the rendered course site and nbviewer."""

from __future__ import annotations

import ipywidgets
import keras
import matplotlib.pyplot as plt
import numpy as np

from dflearn.controls import training_control
from dflearn.data import Dataset
from dflearn.saliency import METHOD_TITLES
from dflearn.fallback import FALLBACK_CLASS, FallbackBox, figure_html, static_html
from dflearn.saliency_explorer import SaliencyExplorer
from dflearn.widgets import ImageExplorer

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG = '<img alt="'


def dataset(n: int = 12, size: int = 16) -> Dataset:
    """Random images, alternating labels, CIFAKE-like file names with content classes."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8)
    names = np.array([f"{i} ({1 + i % 3}).jpg" for i in range(n)])
    return Dataset(images, np.arange(n) % 2, names)


def tiny_model() -> keras.Model:
    """A small sigmoid CNN on 16x16 images."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def bundle(widget: ipywidgets.Widget) -> dict:
    """What IPython's display sends for ``widget``."""
    return widget._repr_mimebundle_()


def test_fallback_box_keeps_the_live_widget_and_adds_html() -> None:
    calls = []
    box = FallbackBox([ipywidgets.Label("x")], fallback=lambda: calls.append(1) or "<p>static</p>")
    data = bundle(box)
    assert data[WIDGET_VIEW]["model_id"] == box.model_id
    assert data["text/html"] == "<p>static</p>" and "text/plain" in data
    bundle(box)
    assert len(calls) == 2  # drawn at each display: the state of that moment


def test_figure_html_embeds_a_png_and_closes_the_figure() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    tag = figure_html(fig, 'a "line"')
    assert tag.startswith('<img alt="a &quot;line&quot;" src="data:image/png;base64,iVBOR')
    assert not plt.fignum_exists(fig.number)
    block = static_html("<note> & more", tag)
    assert FALLBACK_CLASS in block and "&lt;note&gt; &amp; more" in block and tag in block


def test_image_explorer_shows_the_chosen_image_statically() -> None:
    explorer = ImageExplorer(dataset())
    first = bundle(explorer.widget)
    assert WIDGET_VIEW in first and FALLBACK_CLASS in first["text/html"]
    assert PNG in first["text/html"] and "static view of image 0" in first["text/html"]
    explorer._dropdowns["class"].value = "REAL"   # label 1: image 1 comes first
    second = bundle(explorer.widget)["text/html"]
    assert "static view of image 1" in second and second != first["text/html"]


def test_training_control_describes_its_settings_then_its_last_run() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 2
    images = (np.where(labels == 1, 200, 50)[:, None, None, None]
              + rng.integers(0, 20, (16, 16, 16, 3))).astype(np.uint8)
    data = Dataset(images, labels, np.array([f"{i}.jpg" for i in range(16)]))
    control = training_control(tiny_model, data, data, epochs=1, batch_size=8)
    before = bundle(control.widget)
    assert WIDGET_VIEW in before
    assert "epochs 1 (1-10), learning rate 0.001, augmentation none" in before["text/html"]
    assert PNG not in before["text/html"] and "press Train" in before["text/html"]
    control.train()
    plt.close("all")
    after = bundle(control.widget)["text/html"]
    assert "run 1" in after and PNG in after


def test_saliency_explorer_shows_its_first_view_statically() -> None:
    keras.utils.set_random_seed(0)
    data = dataset(6)
    explorer = SaliencyExplorer({"tiny": tiny_model()}, data, methods=("gradients",))
    html = bundle(explorer.widget)["text/html"]
    title = METHOD_TITLES["gradients"]
    assert FALLBACK_CLASS in html and PNG in html
    assert f"tiny, {title}, category all, rank 0" in html
    assert not plt.get_fignums()
    all_real = SaliencyExplorer({"tiny": explorer.explainers["tiny"]},
                                Dataset(data.images, np.ones(6, dtype=int), data.paths))
    empty = all_real.static_view("tiny", "gradients", "true FAKE")
    assert "no image in this category" in empty and PNG not in empty
