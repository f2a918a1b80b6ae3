"""An ipywidgets control to train a small CNN with chosen epochs, learning rate and augmentation
and see its curves: for trying settings by hand on a small subset.

Lesson module of 03; imports only the core. Every run is one call of
:func:`dflearn.training.fit` (the course's one training loop) on a fresh model.
"""

from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import keras
import matplotlib.pyplot as plt
from IPython.display import display

from dflearn.data import Dataset
from dflearn.fallback import FallbackBox, figure_html, static_html
from dflearn.metrics import evaluate
from dflearn.training import AUGMENTATIONS, FitResult, augmentation_named, fit

LEARNING_RATES = (3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)


class TrainingControl:
    """Sliders for epochs and learning rate, an augmentation choice and a Train button.

    ``build_model`` returns a fresh model for every run; each run trains it on ``train`` with
    :func:`dflearn.training.fit` and shows the training curves and the validation accuracy.
    ``runs`` keeps every :class:`~dflearn.training.FitResult`. Call :meth:`train` to run
    without clicking (as the tests do).

    Used in 03 §7 (try it yourself).
    """

    def __init__(self, build_model: Callable[[], keras.Model], train: Dataset, val: Dataset, *,
                 epochs: int = 3, max_epochs: int = 10, learning_rate: float = 1e-3,
                 augment: str = "none", batch_size: int = 64, seed: int = 0):
        if learning_rate not in LEARNING_RATES:
            raise ValueError(f"learning_rate must be one of {LEARNING_RATES}, got {learning_rate}.")
        self.build_model, self.train_data, self.val_data = build_model, train, val
        self.batch_size, self.seed = batch_size, seed
        self.runs: list[FitResult] = []
        label = {"description_width": "initial"}  # whole descriptions, not "learning r..."
        self.epochs = widgets.IntSlider(value=epochs, min=1, max=max_epochs, description="epochs",
                                        style=label)
        self.learning_rate = widgets.SelectionSlider(
            options=[(f"{lr:g}", lr) for lr in LEARNING_RATES], value=learning_rate,
            description="learning rate", style=label)
        self.augment = widgets.Dropdown(options=AUGMENTATIONS, value=augment,
                                        description="augmentation", style=label)
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.output = widgets.Output()
        self.button.on_click(lambda _: self.train())
        self.widget = FallbackBox([widgets.HBox([self.epochs, self.learning_rate]),
                                   widgets.HBox([self.augment, self.button]), self.output],
                                  fallback=self.static_view)

    def train(self) -> FitResult:
        """Train a fresh model with the current settings and show the result."""
        self.button.disabled = True
        try:
            model = self.build_model()
            result = fit(model, self.train_data, self.val_data, epochs=self.epochs.value,
                         batch_size=self.batch_size, learning_rate=self.learning_rate.value,
                         augment=augmentation_named(self.augment.value, self.seed) or False,
                         schedule=None, patience=0, seed=self.seed)
            accuracy = evaluate(model, self.val_data)["accuracy"]
        finally:
            self.button.disabled = False
        self.runs.append(result)
        self.output.clear_output(wait=True)
        with self.output:
            print(f"run {len(self.runs)}: epochs={self.epochs.value} "
                  f"learning rate={self.learning_rate.value:g} augmentation={self.augment.value} "
                  f"-> validation accuracy {accuracy:.3f}; {result.summary()}")
            fig = result.plot(title=f"Run {len(self.runs)}")
            plt.close(fig)  # off pyplot's list before drawing: see dflearn.fallback.figure_html
            display(fig)
        return result

    def static_view(self) -> str:
        """HTML of the control's settings and, once it has trained, its last run's curves: what
        pages without a kernel show (the rendered course site, nbviewer)."""
        settings = (f"epochs {self.epochs.value} (1-{self.epochs.max}), learning rate "
                    f"{self.learning_rate.value:g}, augmentation {self.augment.value}")
        if not self.runs:
            return static_html(f"Training control (interactive in Jupyter with a running "
                               f"kernel): {settings}; press Train there to train a fresh model.")
        last = self.runs[-1]
        return static_html(f"Training control, run {len(self.runs)} ({settings}): "
                           f"{last.summary()}",
                           figure_html(last.plot(title=f"Run {len(self.runs)}"),
                                       f"training curves of run {len(self.runs)}"))

    def _ipython_display_(self) -> None:
        display(self.widget)


def training_control(build_model: Callable[[], keras.Model], train: Dataset, val: Dataset,
                     **options) -> TrainingControl:
    """A :class:`TrainingControl` for ``build_model`` on the given data (options as its class).

    Used in 03 §7 (try it yourself)."""
    return TrainingControl(build_model, train, val, **options)
