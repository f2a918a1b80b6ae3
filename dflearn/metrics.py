"""Classification metrics in the study's table format (per class and macro), plus
sensitivity/specificity and ROC-AUC.

Core layer, used by 02-09; imports no lesson module.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from dflearn import study
from dflearn.data import CLASS_NAMES, REAL, Dataset


def confidence(p_real: np.ndarray) -> np.ndarray:
    """The probability of the predicted class: ``max(P(REAL), 1 - P(REAL))`` (07, 08)."""
    p = np.asarray(p_real, dtype=float)
    return np.maximum(p, 1 - p)

# The study's table columns, then what the faces project adds.
STUDY_COLUMNS: list[str] = ["loss", "accuracy", "precision_FAKE", "recall_FAKE", "f1_FAKE",
                            "precision_REAL", "recall_REAL", "f1_REAL", "precision_macro",
                            "recall_macro", "f1_macro", "sensitivity", "specificity", "roc_auc"]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                           y_score: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy, precision/recall/F1 per class and macro, sensitivity, specificity, ROC-AUC.

    Labels are 0 = FAKE, 1 = REAL. Sensitivity is the recall of FAKE (the class we hunt) and
    specificity the recall of REAL. ``y_score`` is P(REAL); without it ROC-AUC is NaN.
    """
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    prec, rec, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=[0, 1], zero_division=0)
    out: dict[str, float] = {"accuracy": float(skm.accuracy_score(y_true, y_pred))}
    for k, name in enumerate(CLASS_NAMES):
        out[f"precision_{name}"] = float(prec[k])
        out[f"recall_{name}"] = float(rec[k])
        out[f"f1_{name}"] = float(f1[k])
    out["precision_macro"] = float(np.mean(prec))
    out["recall_macro"] = float(np.mean(rec))
    out["f1_macro"] = float(np.mean(f1))
    out["sensitivity"] = float(rec[0])
    out["specificity"] = float(rec[REAL])
    auc = float("nan")
    if y_score is not None and len(np.unique(y_true)) == 2:
        auc = float(skm.roc_auc_score(y_true, np.asarray(y_score, dtype=float)))
    out["roc_auc"] = auc
    return out


def faces_project_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, sensitivity and specificity as the faces project defines them (its Table 2):
    **sensitivity is the share of REAL images classified REAL, specificity the share of FAKE
    images classified FAKE**. That is the reverse of :func:`classification_metrics`, whose
    positive class is FAKE (``sensitivity`` = recall of FAKE). Used in 03 and 04 (faces project).
    """
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"Need matching non-empty label arrays, got {y_true.shape} and "
                         f"{y_pred.shape}.")
    real, fake = y_true == REAL, y_true != REAL
    if not real.any() or not fake.any():
        raise ValueError("Sensitivity and specificity need both REAL and FAKE images.")
    return {"accuracy": float(np.mean(y_true == y_pred)),
            "sensitivity": float(np.mean(y_pred[real] == REAL)),
            "specificity": float(np.mean(y_pred[fake] != REAL))}


def compare_table(results: Mapping[str, Mapping[str, float]], columns: list[str] | None = None,
                  sort_by: str | None = "accuracy") -> pd.DataFrame:
    """One row per model from ``{model_name: metrics_dict}``, sorted by ``sort_by`` (descending).

    ``columns`` picks and orders columns (e.g. :data:`STUDY_COLUMNS`); missing ones are skipped.
    """
    if not results:
        raise ValueError("compare_table needs at least one model's results.")
    table = pd.DataFrame.from_dict(dict(results), orient="index")
    table.index.name = "model"
    if columns:
        table = table[[c for c in columns if c in table.columns]]
    if sort_by and sort_by in table.columns:
        table = table.sort_values(sort_by, ascending=False)
    return table


def _images_labels(data: Dataset | tuple[np.ndarray, np.ndarray] | Sequence[np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, Dataset):
        return data.images, data.labels
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = (np.asarray(a) for a in data)
        if len(images) != len(labels):
            raise ValueError(f"evaluate: {len(images)} images but {len(labels)} labels.")
        return images, labels
    raise TypeError(f"evaluate needs a dflearn Dataset or an (images, labels) pair, "
                    f"got {type(data).__name__}.")


def image_scores(values: Any, n: int, name: str) -> np.ndarray:
    """``values``, what a per-image score function (a student's, in the open-ended tasks of 01,
    08 and 09) returned for ``n`` images, as ``n`` finite float64 numbers. Raises ``ValueError``
    naming ``name``, the shape expected and what came back."""
    scores = None if values is None else np.asarray(values, dtype=np.float64)
    if scores is None or scores.shape != (n,):
        found = "None" if scores is None else f"shape {scores.shape}"
        raise ValueError(f"{name} must return one number per image, shape ({n},); it returned "
                         f"{found}.")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} returned NaN or infinite values; return finite numbers.")
    return scores


def either_way_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC of ``scores`` for the ``is_positive`` images in whichever direction is better:
    0.5 for a useless score, 1 for one that separates perfectly, high or low. Used by the
    open-ended tasks of 01 and 08."""
    auc = float(skm.roc_auc_score(is_positive, scores))
    return max(auc, 1.0 - auc)


def log_loss(y_true: np.ndarray, p_real: np.ndarray, eps: float = 1e-7) -> float:
    """Mean cross-entropy of P(REAL) against 0/1 labels (the same value for a 1-unit sigmoid
    or a 2-unit softmax head); probabilities are clipped to ``[eps, 1 - eps]`` as Keras does."""
    p = np.clip(np.asarray(p_real, dtype=float), eps, 1 - eps)
    y = np.asarray(y_true, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def evaluate(model: Any, data: Dataset | tuple[np.ndarray, np.ndarray], batch_size: int = 256,
             threshold: float = 0.5, flip_tta: bool = False) -> dict[str, float]:
    """Run ``model`` on ``data`` (a Dataset or ``(images, labels)``) and return one table row:
    loss, accuracy, precision/recall/F1 per class and macro, sensitivity, specificity, ROC-AUC.

    An image is called REAL when P(REAL) >= ``threshold``. ``flip_tta`` averages each image's
    prediction with its mirror image's.
    """
    from dflearn.models import real_probability

    images, labels = _images_labels(data)
    return probability_metrics(labels, real_probability(model, images, batch_size,
                                                        flip_tta=flip_tta), threshold)


def probability_metrics(y_true: np.ndarray, p_real: np.ndarray,
                        threshold: float = 0.5) -> dict[str, float]:
    """The row :func:`evaluate` gives, from P(REAL) already computed: log loss, then
    :func:`classification_metrics` with REAL called where P(REAL) >= ``threshold``."""
    p_real = np.asarray(p_real, dtype=float)
    return {"loss": log_loss(y_true, p_real),
            **classification_metrics(y_true, (p_real >= threshold).astype(int), p_real)}


def compare_with_reported(ours: Mapping[str, float], reported: Mapping[str, float],
                          tolerance: float = 0.02, label: str = "accuracy") -> pd.DataFrame:
    """Reported vs measured ``label`` per model, their difference, and our rank against theirs.

    ``holds`` says whether the finding holds on our data: the model's number is within
    ``tolerance`` of the reported one, or at least the model keeps its rank in the ordering.
    """
    names = [n for n in reported if n in ours]
    if not names:
        raise ValueError(f"No model in common between ours {list(ours)} and reported {list(reported)}.")
    table = pd.DataFrame({f"reported_{label}": [float(reported[n]) for n in names],
                          f"our_{label}": [float(ours[n]) for n in names]}, index=names)
    table.index.name = "model"
    table["difference"] = table[f"our_{label}"] - table[f"reported_{label}"]
    table["reported_rank"] = table[f"reported_{label}"].rank(ascending=False, method="min").astype(int)
    table["our_rank"] = table[f"our_{label}"].rank(ascending=False, method="min").astype(int)
    table["holds"] = (table["difference"].abs() <= tolerance) | (table["reported_rank"] == table["our_rank"])
    return table


def _scores(model: Any, image_sets: Sequence[np.ndarray]) -> list[np.ndarray]:
    """P(REAL) for several image sets, each resized for ``model``, in one ``predict`` call."""
    from dflearn.images import fit_to_model
    from dflearn.models import real_probability

    sized = [fit_to_model(model, images) for images in image_sets]
    p_real = real_probability(model, np.concatenate(sized))
    return np.split(p_real, np.cumsum([len(images) for images in sized])[:-1])


def evaluate_models(models: Mapping[str, Any], datasets: Mapping[str, Dataset],
                    columns: Sequence[str] = ("accuracy", "recall_FAKE", "recall_REAL", "roc_auc")
                    ) -> pd.DataFrame:
    """One row per (model, dataset) with the given columns of :func:`probability_metrics`; each
    dataset is resized to what each model needs (:func:`dflearn.images.fit_to_model`).
    Used in 08 (other datasets, perturbations, leakage) and 09 (detectors on GAN fakes)."""
    rows = []
    for model_name, model in models.items():
        scores = _scores(model, [ds.images for ds in datasets.values()])
        for (data_name, ds), p_real in zip(datasets.items(), scores):
            row = probability_metrics(ds.labels, p_real)
            rows.append({"model": model_name, "dataset": data_name, "images": len(ds.labels),
                         **{c: row[c] for c in columns}})
    return pd.DataFrame(rows).set_index(["model", "dataset"])


# --------------------------------------------------------------------------- the study's Fig. 1

# Fig. 1's columns: (our column label, our :func:`evaluate` metric, the study's metric key).
FIG1_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("loss", "loss", "loss"), ("accuracy", "accuracy", "accuracy"),
    ("precision", "precision_macro", "precision"), ("recall", "recall_macro", "recall"),
    ("F1 FAKE", "f1_FAKE", "f1_a"), ("F1 REAL", "f1_REAL", "f1_b"))


def _reported_or_nan(key: str) -> float:
    return float(study.value(key)) if key in study.REPORTED else float("nan")


def fig1_side_by_side(ours: Mapping[str, tuple[str, Mapping[str, float], int]]) -> pd.DataFrame:
    """The study's Fig. 1 rows beside ours, one row per model, in one shape for every notebook
    (03's models from scratch, 04's transfer models; the course report joins them).

    ``ours`` maps a display name to (the study's model key, e.g. ``"personal_cnn"``, our
    :func:`evaluate` row, the number of test images). Columns: ``study key``, ``n ours``, then
    ``<metric> ours`` / ``<metric> study`` for loss, accuracy, precision, recall, F1 FAKE and
    F1 REAL (the study's two printed F1s, ``f1_a`` / ``f1_b``, NaN where it prints one), ``F1 study
    (single)`` where Fig. 1 prints a single F1, and ``verdict``: the study's accuracy judged with
    :func:`dflearn.study.judge_value` against ours.

    Used in 03 §8 (``03/vs_study``) and 04 §5 (``04/fig1``)."""
    rows = {}
    for name, (key, metrics_row, n) in ours.items():
        row: dict[str, Any] = {"study key": key, "n ours": int(n)}
        for label, our_metric, their_metric in FIG1_COLUMNS:
            row[f"{label} ours"] = float(metrics_row[our_metric])
            row[f"{label} study"] = _reported_or_nan(f"study/{key}/{their_metric}")
        row["F1 study (single)"] = _reported_or_nan(f"study/{key}/f1")
        row["verdict"] = study.judge_value(f"study/{key}/accuracy", row["accuracy ours"],
                                           int(n)).verdict
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table
