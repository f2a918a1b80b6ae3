"""A frozen-feature probe after UniversalFakeDetect (Ojha et al., CVPR 2023): a small CNN trained
on a task that is *not* real-vs-fake, frozen, with scikit-learn classifiers fitted on its
features for real-vs-fake.

Lesson module of notebook 10 (§3); imports only the core. Ojha et al. used CLIP's image encoder;
the offline analogue here trains the course's small CNN on REAL images only, for CIFAR-10's
content classes when the file names carry them (CIFAKE's ``0000 (7).jpg``), else for the
classic self-supervised pretext task of telling an image's rotation (0, 90, 180 or 270
degrees), which the practice set (no content classes) supports. The extractor's training code
ships, not weights trained on data we may not ship.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import keras
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from dflearn.data import REAL, Dataset
from dflearn.features import CONTENT_CLASSES, UNKNOWN, content_classes
from dflearn.splits import balanced_subset
from dflearn.training import FitResult, Recipe, fit

ROTATIONS = ("0", "90", "180", "270")


@dataclass(frozen=True)
class Pretext:
    """The extractor's training task: its name, class names and ``(images, labels)``."""

    name: str
    classes: tuple[str, ...]
    data: Dataset


def pretext_task(ds: Dataset, n_per_class: int | None = None, seed: int = 0) -> Pretext:
    """The task the extractor learns, from the REAL images of ``ds`` only: CIFAR-10 content
    classes when the file names give them, else rotation prediction (each REAL image in its four
    rotations, labelled 0-3). At most ``n_per_class`` images per pretext class."""
    real = ds.subset(ds.labels == REAL)
    if len(real.labels) == 0:
        raise ValueError("The pretext task needs REAL images; this data set has none.")
    names = content_classes(real.paths)
    if not np.all(names == UNKNOWN):
        labels = np.array([CONTENT_CLASSES.index(c) for c in names])
        smallest = int(np.unique(labels, return_counts=True)[1].min())
        n = None if n_per_class is None else min(n_per_class, smallest)
        data = balanced_subset(Dataset(real.images, labels, real.paths), n, seed)
        return Pretext("CIFAR-10 content classes (REAL images only)", tuple(CONTENT_CLASSES), data)
    if n_per_class is not None:
        real = balanced_subset(real, min(n_per_class, len(real.labels)), seed)
    images = np.concatenate([np.rot90(real.images, k, axes=(1, 2)) for k in range(4)])
    labels = np.repeat(np.arange(4), len(real.labels))
    paths = np.concatenate([real.paths] * 4)
    data = balanced_subset(Dataset(images, labels, paths), None, seed)
    return Pretext("rotation prediction (REAL images only; no content classes in the file "
                   "names)", ROTATIONS, data)


def feature_model(recipe: Recipe, n_classes: int) -> tuple[keras.Model, keras.Model]:
    """``(classifier, extractor)``: ``recipe``'s network with an ``n_classes`` softmax in place of
    its real-vs-fake head, and the same network cut before that head (its features)."""
    base = recipe.build()
    features = base.layers[-2].output
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="pretext")(features)
    classifier = keras.Model(base.input, outputs, name="pretext_classifier")
    extractor = keras.Model(base.input, features, name="frozen_extractor")
    return classifier, extractor


def train_extractor(recipe: Recipe, task: Pretext, epochs: int, seed: int = 0
                    ) -> tuple[keras.Model, FitResult]:
    """Train :func:`feature_model` on the pretext task for ``epochs`` (no validation: nothing
    is tuned on it) and return the frozen extractor and the fit's result."""
    keras.utils.set_random_seed(seed)
    classifier, extractor = feature_model(recipe, len(task.classes))
    classifier.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate),
                       loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                       run_eagerly=recipe.run_eagerly)
    result = fit(classifier, task.data, None, epochs=epochs, batch_size=recipe.batch_size,
                 schedule=None, patience=0, compile=False, seed=seed,
                 time_budget=recipe.time_budget)
    extractor.trainable = False
    return extractor, result


def embed(extractor: keras.Model, images: np.ndarray) -> np.ndarray:
    """The frozen features of ``images`` (N, D)."""
    return np.asarray(extractor.predict(np.asarray(images, dtype="float32"), batch_size=256,
                                        verbose=0), dtype=float).reshape(len(images), -1)


def fit_probes(features: np.ndarray, labels: np.ndarray, neighbours: int = 5, seed: int = 0
               ) -> dict[str, Pipeline]:
    """Standardised logistic regression and k-NN, fitted on frozen features for real-vs-fake."""
    logistic = LogisticRegression(max_iter=2000, random_state=seed)
    probes = {"probe: logistic": make_pipeline(StandardScaler(), logistic),
              f"probe: {neighbours}-NN": make_pipeline(StandardScaler(),
                                                       KNeighborsClassifier(neighbours))}
    for probe in probes.values():
        probe.fit(features, labels)
    return probes


def probe_scorers(extractor: keras.Model, probes: Mapping[str, Pipeline]
                  ) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """``{name: images -> P(REAL)}`` for each fitted probe on the extractor's features."""
    def scorer(probe: Pipeline) -> Callable[[np.ndarray], np.ndarray]:
        column = list(probe.classes_).index(REAL)
        return lambda images: probe.predict_proba(embed(extractor, images))[:, column]

    return {name: scorer(probe) for name, probe in probes.items()}
