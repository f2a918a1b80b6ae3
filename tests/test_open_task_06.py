"""The score of 06's open-ended task (issue 18): ``ensembles.combiner_margin``, on synthetic
base-model predictions: one informative model whose threshold is off, one that is noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dflearn import ensembles
from dflearn.ensembles import EnsembleError

MODELS = ["biased", "noise"]


def predictions(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """P(REAL) of two models for ``n`` images: ``biased`` ranks REAL above FAKE but calls most
    images REAL (its P(REAL) is shifted up), ``noise`` is uniform noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    score = np.where(labels == 1, 0.85, 0.6) + rng.normal(0, 0.05, n)
    p = pd.DataFrame({"biased": np.clip(score, 0, 1), "noise": rng.uniform(0, 1, n)})
    return p, labels


def accuracy(p: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean((np.asarray(p) >= 0.5).astype(int) == labels))


def stacking(p_fit: np.ndarray, labels_fit: np.ndarray, p_new: np.ndarray) -> np.ndarray:
    return ensembles.Stacking().fit(p_fit, labels_fit).predict_real(p_new)


def test_a_learned_combiner_beats_the_best_model_and_the_average() -> None:
    (p_fit, y_fit), (p_eval, y_eval) = predictions(seed=1), predictions(seed=2)
    result = ensembles.combiner_margin(stacking, p_fit, y_fit, p_eval, y_eval)
    best = accuracy(p_eval["biased"], y_eval)
    assert result["best_model"] == "biased"
    assert result["best_model_accuracy"] == pytest.approx(best, abs=1e-4)
    assert result["average_accuracy"] == pytest.approx(accuracy(p_eval.mean(axis=1), y_eval), abs=1e-4)
    assert result["accuracy"] > 0.95 > 0.75 > best
    assert result["margin_points"] == pytest.approx(100 * (result["accuracy"] - best), abs=0.02)


def test_copying_or_flipping_the_best_model_gives_zero_or_a_negative_margin() -> None:
    (p_fit, y_fit), (p_eval, y_eval) = predictions(seed=1), predictions(seed=2)
    copy = ensembles.combiner_margin(lambda p, y, new: new[:, 0], p_fit, y_fit, p_eval, y_eval)
    assert copy["margin_points"] == 0.0
    flipped = ensembles.combiner_margin(lambda p, y, new: 1 - new[:, 0], p_fit, y_fit, p_eval, y_eval)
    assert flipped["margin_points"] == pytest.approx(100 * (1 - 2 * copy["accuracy"]), abs=0.02)
    arrays = ensembles.combiner_margin(lambda p, y, new: new[:, 1], p_fit.to_numpy(), y_fit,
                                       p_eval.to_numpy(), y_eval)
    noise_minus_biased = accuracy(p_eval["noise"], y_eval) - accuracy(p_eval["biased"], y_eval)
    assert arrays["best_model"] == 0 and noise_minus_biased < 0
    assert arrays["margin_points"] == pytest.approx(100 * noise_minus_biased, abs=0.02)


def test_the_combiner_gets_copies_and_never_the_labels_it_is_scored_on() -> None:
    (p_fit, y_fit), (p_eval, y_eval) = predictions(seed=1), predictions(n=100, seed=2)
    seen = {}

    def spy(p: np.ndarray, labels: np.ndarray, new: np.ndarray) -> np.ndarray:
        seen.update(p=p.copy(), labels=labels.copy(), new=new.copy())
        p[:] = labels[:] = new[:] = 0  # a combiner that scribbles on its inputs
        return np.full(len(new), 0.75)

    result = ensembles.combiner_margin(spy, p_fit, y_fit, p_eval, y_eval)
    np.testing.assert_array_equal(seen["p"], p_fit.to_numpy())
    np.testing.assert_array_equal(seen["labels"], y_fit)
    np.testing.assert_array_equal(seen["new"], p_eval.to_numpy())
    assert len(seen) == 3 and p_fit["biased"].max() > 0.5 and y_fit.max() == 1  # inputs untouched
    assert result["accuracy"] == 0.5


@pytest.mark.parametrize("output, message", [
    (lambda n: np.full((n, 1), 0.5), r"one P\(REAL\) per image of p_eval, shape \(100,\); it returned shape \(100, 1\)"),
    (lambda n: np.full(n - 1, 0.5), r"shape \(100,\); it returned shape \(99,\)"),
    (lambda n: None, r"shape \(100,\); it returned shape \(\)"),
    (lambda n: ["REAL"] * n, "must return an array of probabilities; it returned list"),
    (lambda n: np.full(n, 1.5), r"outside \[0, 1\]"),
    (lambda n: np.full(n, np.nan), r"outside \[0, 1\] \(or NaN\)"),
])
def test_a_combiner_that_returns_the_wrong_thing_is_named(output, message: str) -> None:
    (p_fit, y_fit), (p_eval, y_eval) = predictions(n=100, seed=1), predictions(n=100, seed=2)
    with pytest.raises(EnsembleError, match=message):
        ensembles.combiner_margin(lambda p, y, new: output(len(new)), p_fit, y_fit, p_eval, y_eval)


def test_malformed_inputs_are_named() -> None:
    (p_fit, y_fit), (p_eval, y_eval) = predictions(n=100, seed=1), predictions(n=100, seed=2)
    ok = lambda p, y, new: new[:, 0]  # noqa: E731
    with pytest.raises(EnsembleError, match="p_fit has 2 models .* p_eval has 1"):
        ensembles.combiner_margin(ok, p_fit, y_fit, p_eval[["biased"]], y_eval)
    with pytest.raises(EnsembleError, match=r"p_eval has 100 images but its labels have shape \(99,\)"):
        ensembles.combiner_margin(ok, p_fit, y_fit, p_eval, y_eval[:99])
    with pytest.raises(EnsembleError, match=r"labels of p_fit must be 0 \(FAKE\) or 1 \(REAL\)"):
        ensembles.combiner_margin(ok, p_fit, y_fit * 2, p_eval, y_eval)
    with pytest.raises(EnsembleError, match=r"probabilities in \[0, 1\]"):
        ensembles.combiner_margin(ok, p_fit * 2, y_fit, p_eval, y_eval)
