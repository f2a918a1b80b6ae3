"""dflearn.classical: the thresholded regressor, pipelines, the baseline runner, the search and
the one-feature threshold rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from dflearn import classical as C
from dflearn.data import FAKE, REAL


def blobs(n: int = 120, d: int = 4, shift: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs, REAL shifted by ``shift`` along every axis."""
    rng = np.random.default_rng(seed)
    y = np.repeat([FAKE, REAL], n // 2)
    X = rng.normal(size=(n, d)) + shift * y[:, None]
    return X, y


def test_thresholded_regressor_classifies_and_keeps_raw_outputs() -> None:
    X, y = blobs()
    model = C.ThresholdedRegressor().fit(X, y)
    assert (model.predict(X) == y).mean() > 0.95
    raw = model.decision_function(X)
    assert raw.min() < 0 or raw.max() > 1  # least squares is not bounded to [0, 1]
    np.testing.assert_array_equal(model.predict(X), (raw >= 0.5).astype(int))
    strict = C.ThresholdedRegressor(threshold=2.0).fit(X, y)
    assert strict.predict(X).sum() < model.predict(X).sum()


def test_thresholded_regressor_rejects_other_labels() -> None:
    with pytest.raises(ValueError, match=r"0 \(FAKE\) and 1 \(REAL\)"):
        C.ThresholdedRegressor().fit(np.zeros((3, 1)), np.array([0, 1, 2]))


def test_unknown_model_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="k-NN, random forest"):
        C.make_estimator("xgboost")


def test_pixel_pipelines_use_pca_and_others_do_not() -> None:
    assert isinstance(C.make_pipeline("SVC", "pixels", pca_components=8).named_steps["pca"], PCA)
    assert "pca" not in C.make_pipeline("SVC", "histograms").named_steps
    assert C.describe_pipeline(C.make_pipeline("k-NN", "pixels", pca_components=8)) == (
        "StandardScaler -> PCA(8) -> KNeighborsClassifier")


def test_real_scores_use_probabilities_or_the_decision_function() -> None:
    X, y = blobs()
    svc = C.make_pipeline("SVC").fit(X, y)
    np.testing.assert_allclose(C.real_scores(svc, X), svc.decision_function(X))
    logistic = C.make_pipeline("logistic regression").fit(X, y)
    np.testing.assert_allclose(C.real_scores(logistic, X), logistic.predict_proba(X)[:, 1])


def test_run_baselines_table_has_every_model_and_feature_set() -> None:
    X, y = blobs(n=160, d=6)
    X_val, y_val = blobs(n=80, d=6, seed=1)
    noise = np.random.default_rng(2)
    features = {"good": (X, X_val), "noise": (noise.normal(size=(160, 3)), noise.normal(size=(80, 3)))}
    table, fitted = C.run_baselines(features, y, y_val, seed=0)
    assert len(table) == 2 * len(C.MODEL_NAMES) and set(fitted) == set(table.index)
    assert list(table.columns) == C.TABLE_COLUMNS
    good = table[table["features"] == "good"]
    assert (good["accuracy"] > 0.9).all()
    assert table["accuracy"].is_monotonic_decreasing
    assert table.loc["SVC [noise]", "accuracy"] < 0.75
    assert (table[["preprocess_s", "fit_s", "predict_s"]] >= 0).all().all()
    assert table.groupby("features")["preprocess_s"].nunique().eq(1).all()  # fitted once per set


def test_search_respects_the_budget_and_limits_pca() -> None:
    X, y = blobs(n=90, d=40)
    finder = C.search("logistic regression", "pixels", X, y, n_iter=3, seed=0, folds=3)
    table = C.search_table(finder)
    assert len(table) == 3 and table["mean_cv_accuracy"].is_monotonic_decreasing
    assert finder.best_params_["pca__n_components"] <= 32  # 40 features, 60 training rows
    assert finder.best_score_ > 0.9
    with pytest.raises(ValueError, match="n_iter"):
        C.search("SVC", "histograms", X, y, n_iter=0)


def brute_force_accuracy(values: np.ndarray, labels: np.ndarray) -> float:
    best = 0.0
    for t in np.unique(values):
        acc = np.mean((values >= t) == labels)
        best = max(best, acc, 1 - acc)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_threshold_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    values = rng.integers(0, 12, 60) + 2.0 * labels * (seed != 2) - 2.0 * labels * (seed == 2)
    threshold, accuracy, rule = C.best_threshold(values, labels)
    assert accuracy == pytest.approx(brute_force_accuracy(values, labels))
    assert np.mean(C.apply_threshold(values, threshold, rule) == labels) == pytest.approx(accuracy)
    assert rule == ("REAL if < threshold" if seed == 2 else "REAL if >= threshold")


def test_best_threshold_cannot_split_ties() -> None:
    _, accuracy, _ = C.best_threshold(np.array([1.0, 1.0, 1.0, 1.0]), np.array([0, 1, 0, 1]))
    assert accuracy == 0.5


def test_best_threshold_and_rule_errors() -> None:
    with pytest.raises(ValueError, match="same non-empty length"):
        C.best_threshold(np.array([1.0, 2.0]), np.array([0]))
    with pytest.raises(ValueError, match="Unknown rule"):
        C.apply_threshold(np.array([1.0]), 0.0, "REAL if > threshold")


def test_blas_threads_limits_and_restores() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads_now() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    before = blas_threads_now()
    with C.blas_threads(1):
        assert blas_threads_now() == {1}
    assert blas_threads_now() == before
    with C.blas_threads(None):
        assert blas_threads_now() == before
