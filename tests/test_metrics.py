"""dflearn.metrics: the study's table row from a model, comparison tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dflearn.data import Dataset
from dflearn import metrics
from dflearn.metrics import (STUDY_COLUMNS, classification_metrics, compare_table,
                             compare_with_reported, evaluate, log_loss, probability_metrics)


class FixedModel:
    """Stands in for a Keras model: returns preset P(REAL) with a sigmoid or softmax head."""

    def __init__(self, p_real: np.ndarray, head: str):
        self.p_real, self.head = np.asarray(p_real, dtype="float32"), head

    def predict(self, images: np.ndarray, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        assert len(images) == len(self.p_real)
        if self.head == "sigmoid":
            return self.p_real[:, None]
        return np.stack([1 - self.p_real, self.p_real], axis=1)


LABELS = np.array([0, 0, 0, 1, 1, 1, 1, 0])
P_REAL = np.array([0.1, 0.4, 0.7, 0.8, 0.9, 0.3, 0.6, 0.2])
IMAGES = np.zeros((8, 4, 4, 3), np.uint8)


@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_evaluate_returns_the_study_row_for_either_head(head: str) -> None:
    row = evaluate(FixedModel(P_REAL, head), Dataset(IMAGES, LABELS, np.array(["x"] * 8)))
    assert set(STUDY_COLUMNS) <= set(row)
    # predictions at 0.5: [0, 0, 1, 1, 1, 0, 1, 0] -> FAKE recall 3/4, REAL recall 3/4
    assert row["accuracy"] == pytest.approx(6 / 8)
    assert row["sensitivity"] == pytest.approx(3 / 4) and row["specificity"] == pytest.approx(3 / 4)
    assert row["precision_REAL"] == pytest.approx(3 / 4)
    expected_loss = -np.mean(LABELS * np.log(P_REAL) + (1 - LABELS) * np.log(1 - P_REAL))
    assert row["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert row["roc_auc"] == pytest.approx(13 / 16)  # 13 of 16 (REAL, FAKE) pairs ranked right


def test_evaluate_accepts_arrays_and_a_threshold_and_rejects_mismatches() -> None:
    row = evaluate(FixedModel(P_REAL, "sigmoid"), (IMAGES, LABELS), threshold=0.25)
    assert row["recall_REAL"] == 1.0 and row["recall_FAKE"] == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="8 images but 7 labels"):
        evaluate(FixedModel(P_REAL, "sigmoid"), (IMAGES, LABELS[:7]))
    with pytest.raises(TypeError, match="Dataset or an"):
        evaluate(FixedModel(P_REAL, "sigmoid"), IMAGES)


def test_probability_metrics_is_the_evaluate_row_from_given_probabilities() -> None:
    labels = np.array([0, 0, 1, 1])
    p_real = np.array([0.2, 0.6, 0.4, 0.9])
    row = probability_metrics(labels, p_real)
    assert list(row)[:2] == ["loss", "accuracy"] and row["accuracy"] == 0.5
    assert row["loss"] == pytest.approx(-np.mean(np.log([0.8, 0.4, 0.4, 0.9])))
    assert probability_metrics(labels, p_real, threshold=0.35)["recall_REAL"] == 1.0


def test_log_loss_matches_keras_clipping() -> None:
    assert log_loss([1, 0], [1.0, 0.0]) == pytest.approx(-math.log(1 - 1e-7), abs=1e-9)
    assert log_loss([1], [0.5]) == pytest.approx(math.log(2))


def test_classification_metrics_single_class_has_no_auc() -> None:
    out = classification_metrics(np.ones(4), np.array([1, 1, 0, 1]), np.full(4, 0.9))
    assert math.isnan(out["roc_auc"]) and out["recall_REAL"] == 0.75


def test_compare_table_orders_columns_and_sorts() -> None:
    table = compare_table({"a": {"accuracy": 0.8, "loss": 0.5, "extra": 1},
                           "b": {"accuracy": 0.9, "loss": 0.3}}, columns=STUDY_COLUMNS)
    assert list(table.index) == ["b", "a"]
    assert list(table.columns) == ["loss", "accuracy"]
    with pytest.raises(ValueError, match="at least one"):
        compare_table({})


def test_compare_with_reported_says_which_findings_hold() -> None:
    table = compare_with_reported({"Personal CNN": 0.95, "VGG16 (scratch)": 0.93, "other": 0.5},
                                  {"Personal CNN": 0.9696, "VGG16 (scratch)": 0.5025})
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["Personal CNN", "VGG16 (scratch)"]
    assert table.loc["VGG16 (scratch)", "difference"] == pytest.approx(0.4275)
    assert bool(table.loc["Personal CNN", "holds"])  # within 2 points of the study
    assert bool(table.loc["VGG16 (scratch)", "holds"])  # far off, but still ranked second
    swapped = compare_with_reported({"x": 0.6, "y": 0.9}, {"x": 0.9, "y": 0.6})
    assert not swapped["holds"].any()
    with pytest.raises(ValueError, match="in common"):
        compare_with_reported({"x": 1.0}, {"y": 1.0})


def test_faces_project_metrics_use_the_projects_convention() -> None:
    from dflearn.metrics import classification_metrics, faces_project_metrics

    y_true = np.array([1, 1, 1, 1, 0, 0])  # 4 REAL, 2 FAKE
    y_pred = np.array([1, 1, 1, 0, 0, 1])
    faces = faces_project_metrics(y_true, y_pred)
    assert faces == {"accuracy": pytest.approx(4 / 6), "sensitivity": 0.75, "specificity": 0.5}
    ours = classification_metrics(y_true, y_pred)
    assert ours["sensitivity"] == faces["specificity"] and ours["specificity"] == faces["sensitivity"]
    with pytest.raises(ValueError, match="both REAL and FAKE"):
        faces_project_metrics(np.array([1, 1]), np.array([1, 0]))


def _fig1_row(acc: float) -> dict[str, float]:
    return {"loss": 0.3, "accuracy": acc, "precision_macro": acc, "recall_macro": acc,
            "f1_FAKE": acc - 0.01, "f1_REAL": acc + 0.01}


def test_fig1_side_by_side_puts_study_numbers_beside_ours_with_a_verdict():
    from dflearn import study
    table = metrics.fig1_side_by_side({"Personal CNN": ("personal_cnn", _fig1_row(0.9), 200),
                                       "VGG16 (scratch)": ("vgg16_scratch", _fig1_row(0.5), 200)})
    assert table.loc["Personal CNN", "accuracy study"] == study.value("study/personal_cnn/accuracy")
    assert table.loc["Personal CNN", "accuracy ours"] == 0.9
    assert table.loc["Personal CNN", "F1 FAKE study"] == study.value("study/personal_cnn/f1_a")
    assert table.loc["Personal CNN", "F1 FAKE ours"] == pytest.approx(0.89)
    # VGG prints one F1: no pair, the single number in its own column
    assert np.isnan(table.loc["VGG16 (scratch)", "F1 FAKE study"])
    assert table.loc["VGG16 (scratch)", "F1 study (single)"] == study.value("study/vgg16_scratch/f1")
    assert np.isnan(table.loc["Personal CNN", "F1 study (single)"])
    # 0.9696 lies above the interval around 0.9 (n=200); 0.5025 lies inside the one around 0.5
    assert table.loc["Personal CNN", "verdict"] == "refuted"
    assert table.loc["VGG16 (scratch)", "verdict"] == "holds"
    assert table.loc["VGG16 (scratch)", "n ours"] == 200
