"""Fréchet distances between sets of images, measured in a network's feature space.

Lesson module of 09 (§5, scoring the samples); imports only the core.

The distance between two Gaussians fitted to the features of two image sets is
``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. It is only called **FID** when the
features are InceptionV3's ImageNet pool features of 299x299 inputs (Heusel et al., 2017). Offline
(no ImageNet weights) the course uses the last hidden layer of a detector it trained itself;
that number has its own scale, is comparable only with itself, and is named after the network.

Both set sizes matter: the estimate is biased upwards for small sets, so compare distances
computed from the same numbers of images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import keras
import numpy as np
import pandas as pd
from scipy import linalg

from dflearn.images import check_images, fit_to_model

INCEPTION_SIZE = 299
# The file keras.applications.InceptionV3(weights="imagenet", include_top=False) caches.
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
Extractor = Callable[[np.ndarray], np.ndarray]


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector and covariance matrix (rows are samples) of a feature matrix ``(N, D)``.
    Used in 09 §5."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must be a matrix (N >= 2 samples, D features); "
                         f"got {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def trace_sqrt_product(sigma_a: np.ndarray, sigma_b: np.ndarray) -> float:
    """``Tr((S_a S_b)^(1/2))`` for covariance matrices ``S_a`` and ``S_b``.

    ``S_a S_b`` has the same eigenvalues as the symmetric matrix ``S_a^(1/2) S_b S_a^(1/2)``
    (all >= 0), so the trace is the sum of their square roots. Two symmetric eigen-
    decompositions are exact, real, fine with singular covariances (fewer images than
    features) and much faster than ``scipy.linalg.sqrtm`` on 2048x2048 matrices.
    Used in 09 §5 (by :func:`frechet_distance`).
    """
    values, vectors = linalg.eigh(sigma_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    inner = root_a @ sigma_b @ root_a
    eigenvalues = linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))


def frechet_distance(mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray,
                     sigma_b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians N(mu_a, sigma_a) and N(mu_b, sigma_b):
    ``||mu_a - mu_b||^2 + Tr(sigma_a + sigma_b - 2 (sigma_a sigma_b)^(1/2))``.
    Used in 09 §5 (the exercise's reference)."""
    mu_a, mu_b = np.atleast_1d(mu_a).astype(np.float64), np.atleast_1d(mu_b).astype(np.float64)
    sigma_a = np.atleast_2d(sigma_a).astype(np.float64)
    sigma_b = np.atleast_2d(sigma_b).astype(np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape or \
            sigma_a.shape != mu_a.shape * 2:
        raise ValueError(f"Shapes do not match: means {mu_a.shape} and {mu_b.shape}, covariances "
                         f"{sigma_a.shape} and {sigma_b.shape}.")
    diff = mu_a - mu_b
    distance = diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) \
        - 2.0 * trace_sqrt_product(sigma_a, sigma_b)
    return float(max(distance, 0.0))  # rounding can leave -1e-12 for identical sets


# --------------------------------------------------------------------------- feature spaces


@dataclass(frozen=True)
class FeatureSpace:
    """A named way to turn ``uint8`` images ``(N, H, W, 3)`` into feature vectors ``(N, D)``.
    Used in 09 §5."""

    name: str
    extract: Extractor
    dimensions: int

    def distance(self, images_a: np.ndarray, images_b: np.ndarray) -> float:
        """The Fréchet distance between two image sets in this feature space."""
        return frechet_distance(*feature_statistics(self.extract(images_a)),
                                *feature_statistics(self.extract(images_b)))


def _hidden_layer(model: keras.Model, layer: str | None) -> keras.layers.Layer:
    if layer is not None:
        return model.get_layer(layer)
    head = model.layers[-1]
    if len(model.layers) < 3:
        raise ValueError(f"Model {model.name!r} is too small to have a hidden feature layer.")
    # The output layer's input is the last hidden representation; find the layer producing it.
    for candidate in reversed(model.layers[:-1]):
        if candidate.output is head.input:
            return candidate
    return model.layers[-2]


def detector_space(model: keras.Model, layer: str | None = None,
                   batch_size: int = 256) -> FeatureSpace:
    """Features from a trained course detector: the output of ``layer`` (default: whatever
    feeds the output layer), flattened. Images are resized to the model's input size
    (:func:`dflearn.images.fit_to_model`). Used in 09 §5 (offline Fréchet distance)."""
    chosen = _hidden_layer(model, layer)
    probe = keras.Model(model.inputs, chosen.output, name=f"{model.name}_features")

    def extract(images: np.ndarray) -> np.ndarray:
        images = fit_to_model(model, check_images(images)).astype("float32")
        out = probe.predict(images, batch_size=batch_size, verbose=0)
        return np.asarray(out, dtype=np.float64).reshape(len(images), -1)

    dims = int(np.prod(chosen.output.shape[1:]))
    return FeatureSpace(f"FD[{model.name}:{chosen.name}]", extract, dims)


def _inception_extractor(network: keras.Model, batch_size: int) -> Extractor:
    """Resize to 299x299 (bilinear) and apply InceptionV3's preprocessing, then pool features."""
    import tensorflow as tf

    preprocess = keras.applications.inception_v3.preprocess_input

    def extract(images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        parts = []
        for start in range(0, len(images), batch_size):
            batch = tf.image.resize(images[start:start + batch_size].astype("float32"),
                                    (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
            parts.append(network(preprocess(batch), training=False))
        return np.concatenate([keras.ops.convert_to_numpy(p) for p in parts]).astype(np.float64)

    return extract


def keras_models_dir() -> Path:
    """Where ``keras.applications`` caches downloaded weights: ``$KERAS_HOME/models``
    (by default ``~/.keras/models``). Used in 09 §5 (true FID)."""
    try:
        from keras.src.backend.config import keras_home  # what Keras itself uses
    except ImportError:  # pragma: no cover - a Keras without this private module
        return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    return Path(keras_home()) / "models"


def inception_space(weights: str = "imagenet", batch_size: int = 32) -> FeatureSpace | None:
    """True FID features: InceptionV3 with ImageNet weights, no top, global average pooling
    (2048 features) on 299x299 inputs. ``weights`` may also be a local weights file.

    With ``"imagenet"`` Keras looks for :data:`INCEPTION_WEIGHTS` in ``$KERAS_HOME/models``
    (default ``~/.keras/models``) and downloads it once when it is missing. Returns ``None``
    after printing one line that says what to do when the weights cannot be had (offline).

    These are Keras' InceptionV3 ImageNet weights: the reference FID code (TTUR, pytorch-fid)
    uses an older Inception checkpoint, so the values are close to, not identical with,
    published FIDs. Used in 09 §5 (true FID).
    """
    try:
        network = keras.applications.InceptionV3(weights=weights, include_top=False, pooling="avg",
                                                 input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    except Exception as exc:  # Keras raises a bare Exception for a failed download
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"FID unavailable: InceptionV3 ImageNet weights could not be loaded "
              f"({reason[:160]}). Connect to the internet once (Keras caches the file), or "
              f"copy {INCEPTION_WEIGHTS} into {keras_models_dir()}, or pass "
              f"weights='/path/to/file.h5'.")
        return None
    return FeatureSpace("FID (Keras InceptionV3, 2048 pooled features)",
                        _inception_extractor(network, batch_size), 2048)


def distance_table(space: FeatureSpace, reference: np.ndarray,
                   candidates: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The distance of each candidate image set to ``reference`` in ``space`` (reference
    features are extracted once), with the number of images in each set. Used in 09 §5."""
    ref_stats = feature_statistics(space.extract(reference))
    rows = {}
    for name, images in candidates.items():
        stats = feature_statistics(space.extract(images))
        rows[name] = {"images": len(images), space.name: frechet_distance(*ref_stats, *stats)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = f"compared with {len(reference)} reference images"
    return table
