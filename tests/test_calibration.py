"""Reliability tables, expected calibration error, logits and temperature scaling."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import special

from dflearn import calibration
from dflearn.metrics import confidence
from dflearn.models import real_probability


def loop_ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    """ECE written out as in Guo et al., one bin at a time."""
    conf = np.maximum(p, 1 - p)
    correct = ((p >= 0.5).astype(int) == y).astype(float)
    total = 0.0
    for b in range(n_bins):
        inside = (conf > b / n_bins) & (conf <= (b + 1) / n_bins)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


def calibrated_sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the logits' own probabilities: perfectly calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, n)
    return (rng.uniform(size=n) < special.expit(logits)).astype(int), logits


def test_reliability_table_by_hand() -> None:
    y = np.array([1, 1, 0, 0])
    p = np.array([0.95, 0.65, 0.3, 0.9])  # confidences 0.95, 0.65, 0.7, 0.9; last one wrong
    table = calibration.reliability_table(y, p, n_bins=5)
    assert table["count"].tolist() == [0, 0, 0, 2, 2]
    assert table.loc[3, "confidence"] == pytest.approx(0.675) and table.loc[3, "accuracy"] == 1.0
    assert table.loc[4, "confidence"] == pytest.approx(0.925) and table.loc[4, "accuracy"] == 0.5
    expected = 0.5 * 0.325 + 0.5 * 0.425
    assert calibration.expected_calibration_error(y, p, n_bins=5) == pytest.approx(expected)


def test_ece_matches_the_definition_on_random_data() -> None:
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 500), rng.uniform(size=500)
    for n_bins in (1, 7, 15):
        got = calibration.expected_calibration_error(y, p, n_bins)
        assert got == pytest.approx(loop_ece(y, p, n_bins))


def test_ece_small_when_calibrated_and_large_when_overconfident() -> None:
    y, logits = calibrated_sample(20000)
    assert calibration.expected_calibration_error(y, special.expit(logits)) < 0.02
    assert calibration.expected_calibration_error(y, special.expit(4 * logits)) > 0.08


def test_temperature_undoes_overconfidence_without_changing_predictions() -> None:
    y, logits = calibrated_sample(5000, seed=2)
    temperature = calibration.fit_temperature(y, 3 * logits)
    assert temperature == pytest.approx(3.0, rel=0.1)
    summary = calibration.calibration_summary(y, 3 * logits, temperature)
    before, after = summary.iloc[0], summary.iloc[1]
    assert before["accuracy"] == after["accuracy"]
    assert after["ece"] < before["ece"] / 2 and after["log_loss"] < before["log_loss"]
    assert after["mean_confidence"] < before["mean_confidence"]


def test_log_loss_of_logits_is_stable_for_huge_logits() -> None:
    y = np.array([1, 0])
    assert calibration.log_loss_of_logits(y, np.array([800.0, -800.0])) == pytest.approx(0.0)
    assert calibration.log_loss_of_logits(y, np.array([-800.0, 800.0])) == pytest.approx(800.0)


def test_probability_and_confidence() -> None:
    got = calibration.probability(np.array([0.0, 2.0]), 2.0)
    assert got == pytest.approx([0.5, special.expit(1.0)])
    assert confidence(np.array([0.2, 0.5, 0.9])) == pytest.approx([0.8, 0.5, 0.9])  # core metrics
    with pytest.raises(ValueError, match="temperature"):
        calibration.probability(np.zeros(2), 0.0)


@pytest.mark.parametrize("bad, message", [
    ((np.array([0, 1]), np.array([0.5])), "2 labels but 1"),
    ((np.array([0, 2]), np.array([0.5, 0.5])), "0 \\(FAKE\\) or 1"),
    ((np.array([0, 1]), np.array([0.5, 1.5])), "pass probabilities, not logits"),
    ((np.array([0, 1]), np.array([0.5, np.nan])), "NaN"),
])
def test_bad_inputs_are_named(bad: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibration.expected_calibration_error(*bad)


def test_bounds_must_bracket_one() -> None:
    with pytest.raises(ValueError, match="bracket 1"):
        calibration.fit_temperature(np.array([0, 1]), np.array([-1.0, 1.0]), bounds=(2.0, 5.0))


def tiny_model(head: str) -> keras.Model:
    inputs = keras.Input((4, 4, 3))
    hidden = keras.layers.Dense(3, activation="tanh")(keras.layers.Flatten()(inputs))
    units, activation = (1, "sigmoid") if head == "sigmoid" else (2, "softmax")
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(hidden))


@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_real_logits_give_back_the_models_probabilities(head: str) -> None:
    keras.utils.set_random_seed(0)
    model = tiny_model(head)
    images = np.random.default_rng(0).uniform(0, 1, (6, 4, 4, 3)).astype("float32")
    logits = calibration.real_logits(model, images)
    assert logits.shape == (6,)
    assert special.expit(logits) == pytest.approx(real_probability(model, images), abs=1e-5)


def test_real_logits_need_a_dense_head() -> None:
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(inputs))
    with pytest.raises(ValueError, match="must end in a Dense layer"):
        calibration.real_logits(model, np.zeros((1, 4)))


def test_reliability_diagram_is_labelled() -> None:
    y, logits = calibrated_sample(500)
    ax = calibration.reliability_diagram(y, special.expit(logits), title="demo")
    assert ax.get_title().startswith("demo") and "ECE" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    plt.close(ax.figure)
