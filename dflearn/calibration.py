"""Is a detector's confidence honest? Reliability diagrams, expected calibration error (ECE) and
temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks").

Everything works on P(REAL) or on its logit ``z`` (``P(REAL) = sigmoid(z)``), so 1-unit sigmoid
and 2-unit softmax detectors are treated alike. Labels are ``FAKE = 0``, ``REAL = 1``.

Core layer, used by 08 (calibration); imports no lesson module.
"""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import optimize, special

from dflearn.metrics import confidence

DEFAULT_BINS = 15  # as in Guo et al.


def _check_pair(y_true: np.ndarray, values: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if len(y) != len(v):
        raise ValueError(f"{len(y)} labels but {len(v)} {what}.")
    if len(y) == 0:
        raise ValueError("No predictions to assess.")
    if not np.isin(y, (0, 1)).all():
        found = sorted(set(y.tolist()))[:5]
        raise ValueError(f"Labels must be 0 (FAKE) or 1 (REAL); found {found}.")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} contain NaN or infinite values.")
    return y, v


# --------------------------------------------------------------------------- logits


def real_logits(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The logit of P(REAL) for each image, read before the output activation.

    For a 2-unit softmax head that is ``z_REAL - z_FAKE``, for a 1-unit sigmoid head the single
    pre-activation. Computed from the last hidden layer and the output layer's weights, so it
    stays exact where the saturated probability would round to 0 or 1.
    """
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense) or head.units not in (1, 2):
        raise ValueError(f"Model {model.name!r} must end in a Dense layer of 1 or 2 units; "
                         f"its last layer is {type(head).__name__} {head.name!r}.")
    hidden_model = keras.Model(model.inputs, head.input)
    hidden = hidden_model.predict(np.asarray(images, dtype="float32"), batch_size=batch_size,
                                  verbose=0)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (head.kernel, head.bias))
    z = np.asarray(hidden, dtype=np.float64) @ kernel.astype(np.float64) + bias.astype(np.float64)
    return z[:, 0] if head.units == 1 else z[:, 1] - z[:, 0]


def probability(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """P(REAL) = sigmoid(logit / temperature)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}.")
    return special.expit(np.asarray(logits, dtype=float) / temperature)


# --------------------------------------------------------------------------- calibration error


def reliability_table(y_true: np.ndarray, p_real: np.ndarray,
                      n_bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Predictions grouped into ``n_bins`` equal-width confidence bins on [0, 1] (a bin holds
    confidences in ``(lower, upper]``): count, mean confidence, accuracy and their gap.

    The prediction is REAL when P(REAL) >= 0.5. For two classes the confidence is at least 0.5,
    so the lower bins stay empty. Empty bins are kept with NaN means.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}.")
    y, p = _check_pair(y_true, p_real, "probabilities")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("P(REAL) values must lie in [0, 1]; pass probabilities, not logits.")
    conf = confidence(p)
    correct = ((p >= 0.5).astype(int) == y).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, conf, n_bins) / counts
        accuracy = np.bincount(index, correct, n_bins) / counts
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": counts,
                         "confidence": mean_conf, "accuracy": accuracy,
                         "gap": mean_conf - accuracy})


def expected_calibration_error(y_true: np.ndarray, p_real: np.ndarray,
                               n_bins: int = DEFAULT_BINS) -> float:
    """ECE: the mean |confidence - accuracy| over confidence bins, weighted by bin size."""
    table = reliability_table(y_true, p_real, n_bins)
    filled = table[table["count"] > 0]
    return float(np.sum(filled["count"] * filled["gap"].abs()) / filled["count"].sum())


def log_loss_of_logits(y_true: np.ndarray, logits: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of ``sigmoid(logits / temperature)`` against the labels (stable form)."""
    y, z = _check_pair(y_true, logits, "logits")
    signed = np.where(y == 1, 1.0, -1.0) * z / temperature
    return float(np.mean(np.logaddexp(0.0, -signed)))


# --------------------------------------------------------------------------- temperature scaling


def fit_temperature(y_true: np.ndarray, logits: np.ndarray,
                    bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature ``T`` minimising the cross-entropy of ``sigmoid(logits / T)``.

    Fit it on held-out data (the validation split), never on the test set. ``T > 1`` softens an
    over-confident model; predictions (and accuracy) do not change because the sign of
    ``logits / T`` does not.
    """
    y, z = _check_pair(y_true, logits, "logits")
    if not 0 < bounds[0] < 1 < bounds[1]:
        raise ValueError(f"bounds must bracket 1 with a positive lower end, got {bounds}.")
    result = optimize.minimize_scalar(lambda log_t: log_loss_of_logits(y, z, float(np.exp(log_t))),
                                      bounds=tuple(np.log(bounds)), method="bounded",
                                      options={"xatol": 1e-6})
    return float(np.exp(result.x))


def calibration_summary(y_true: np.ndarray, logits: np.ndarray, temperature: float,
                        n_bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Accuracy, ECE, log loss and mean confidence before (``T = 1``) and after scaling."""
    y, z = _check_pair(y_true, logits, "logits")
    rows = {}
    for name, t in (("before (T = 1)", 1.0), (f"after (T = {temperature:.2f})", temperature)):
        p = probability(z, t)
        rows[name] = {"accuracy": float(np.mean((p >= 0.5) == y)),
                      "ece": expected_calibration_error(y, p, n_bins),
                      "log_loss": log_loss_of_logits(y, z, t),
                      "mean_confidence": float(np.mean(confidence(p)))}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "temperature scaling"
    return table


# --------------------------------------------------------------------------- plots


def reliability_diagram(y_true: np.ndarray, p_real: np.ndarray, n_bins: int = DEFAULT_BINS,
                        title: str = "Reliability diagram", ax: plt.Axes | None = None) -> plt.Axes:
    """Accuracy per confidence bin as bars against the diagonal of perfect calibration, with the
    ECE in the title and the share of predictions in each bin printed above its bar."""
    table = reliability_table(y_true, p_real, n_bins)
    ece = expected_calibration_error(y_true, p_real, n_bins)
    ax = ax or plt.subplots(figsize=(4.2, 3.8))[1]
    filled = table[table["count"] > 0]
    width = 1.0 / n_bins
    ax.bar(filled["lower"], filled["accuracy"], width=width, align="edge", edgecolor="black",
           color="C0", label="accuracy")
    ax.bar(filled["lower"], filled["confidence"] - filled["accuracy"], bottom=filled["accuracy"],
           width=width, align="edge", fill=False, edgecolor="C3", hatch="//",
           label="gap to confidence")
    share = filled["count"] / table["count"].sum()
    for left, top, s in zip(filled["lower"], filled[["accuracy", "confidence"]].max(axis=1), share):
        ax.text(left + width / 2, min(top, 1.0) + 0.01, f"{s:.0%}", ha="center", fontsize=6)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.set_xlim(0.5 - width if n_bins > 2 else 0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("confidence in the predicted class (probability)")
    ax.set_ylabel("accuracy in the bin (fraction)")
    ax.set_title(f"{title}\nECE = {ece:.3f}")
    ax.legend(fontsize=7, loc="upper left")
    return ax
