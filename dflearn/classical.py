"""The study's first experiments as scikit-learn Pipelines: k-NN, random forest, linear
regression (thresholded), logistic regression, SVC and an MLP, with one evaluation protocol,
timings, a randomised hyperparameter search, the one-feature threshold rule and the score of
the open-ended task (:func:`feature_margin`).

Every pipeline standardises its inputs; pixel features are also reduced with PCA, which makes
k-NN, SVC and the MLP faster and usually more accurate on 3,072 correlated pixel values.

The runners use one BLAS thread by default: these models are small, and on a busy 2-core
machine extra BLAS threads mostly spin (measured: PCA of 720 x 3,072 pixels took 9 s with two
threads on shared cores and 0.6 s with one).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from typing import Any, Callable, ContextManager, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from dflearn.data import FAKE, REAL, Dataset
from dflearn.features import brightness_features
from dflearn.metrics import classification_metrics, compare_table

MODEL_NAMES: tuple[str, ...] = (
    "k-NN", "random forest", "linear regression", "logistic regression", "SVC", "MLP",
)
PCA_FEATURE_SETS: frozenset[str] = frozenset({"pixels"})
TABLE_COLUMNS: list[str] = [
    "features", "estimator", "accuracy",
    "precision_FAKE", "recall_FAKE", "f1_FAKE", "precision_REAL", "recall_REAL", "f1_REAL",
    "precision_macro", "recall_macro", "f1_macro", "roc_auc", "preprocess_s", "fit_s", "predict_s",
]


def blas_threads(n: int | None) -> ContextManager:
    """Limit BLAS (NumPy/SciPy linear algebra) to ``n`` threads inside a ``with`` block;
    ``None`` leaves the library's default."""
    return threadpool_limits(limits=n, user_api="blas") if n else contextlib.nullcontext()


class ThresholdedRegressor(ClassifierMixin, BaseEstimator):
    """Linear regression used as a classifier: fit 0/1 labels by least squares, then call an
    output of at least ``threshold`` REAL (1) and anything below FAKE (0).

    ``decision_function`` returns the raw regression output, which is not a probability and can
    fall outside [0, 1].
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ThresholdedRegressor":
        """Least-squares fit of the 0/1 labels."""
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if not set(self.classes_.tolist()) <= {FAKE, REAL}:
            raise ValueError(f"Labels must be 0 (FAKE) and 1 (REAL); got {self.classes_.tolist()}.")
        self.regressor_ = LinearRegression().fit(X, y.astype(np.float64))
        self.n_features_in_ = self.regressor_.n_features_in_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The raw regression output (about 0 for FAKE, about 1 for REAL)."""
        check_is_fitted(self, "regressor_")
        return self.regressor_.predict(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 (REAL) where the output is at least ``threshold``, else 0 (FAKE)."""
        return (self.decision_function(X) >= self.threshold).astype(np.int64)


def make_estimator(name: str, seed: int = 0) -> BaseEstimator:
    """A fresh, seeded estimator for one of :data:`MODEL_NAMES` with sensible defaults."""
    factories = {
        "k-NN": lambda: KNeighborsClassifier(n_neighbors=15),
        "random forest": lambda: RandomForestClassifier(n_estimators=100, min_samples_leaf=2,
                                                        random_state=seed),
        "linear regression": lambda: ThresholdedRegressor(threshold=0.5),
        "logistic regression": lambda: LogisticRegression(max_iter=2000),
        "SVC": lambda: SVC(kernel="rbf", C=1.0, gamma="scale"),
        "MLP": lambda: MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=300,
                                     early_stopping=True, random_state=seed),
    }
    if name not in factories:
        raise ValueError(f"Unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}.")
    return factories[name]()


def make_pipeline(name: str, feature_set: str = "", seed: int = 0, pca_components: int = 64,
                  memory: str | None = None) -> Pipeline:
    """``StandardScaler`` -> (``PCA`` for pixel features) -> estimator ``name``.

    ``memory`` is a folder where scikit-learn caches the fitted scaler and PCA, so pipelines
    that differ only in their final estimator fit them once.
    """
    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if feature_set in PCA_FEATURE_SETS:
        steps.append(("pca", PCA(n_components=pca_components, random_state=seed)))
    steps.append(("model", make_estimator(name, seed)))
    return Pipeline(steps, memory=memory)


def describe_pipeline(pipeline: Pipeline) -> str:
    """Short text such as ``StandardScaler -> PCA(64) -> SVC``."""
    parts = []
    for _, step in pipeline.steps:
        label = type(step).__name__
        if isinstance(step, PCA):
            label += f"({step.n_components})"
        parts.append(label)
    return " -> ".join(parts)


def real_scores(model: Any, X: np.ndarray) -> np.ndarray:
    """A score that grows with P(REAL): ``predict_proba[:, 1]`` or else ``decision_function``."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, list(model.classes_).index(REAL)]
    return model.decision_function(X)


def evaluate(model: Any, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
             y_val: np.ndarray, threads: int | None = 1) -> dict[str, float]:
    """Fit on the training set, score on the validation set; metrics plus fit and predict seconds.

    ``threads`` limits BLAS threads (see :func:`blas_threads`).
    """
    with blas_threads(threads):
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        predicted = model.predict(X_val)
        predict_s = time.perf_counter() - start
    metrics = classification_metrics(y_val, predicted, real_scores(model, X_val))
    return {**metrics, "fit_s": fit_s, "predict_s": predict_s}


def _fit_preprocessing(feature_set: str, X: np.ndarray, y: np.ndarray, seed: int,
                       pca_components: int, cache: str) -> float:
    """Fit (and cache) a feature set's scaler and PCA once; return the seconds it took."""
    pipeline = make_pipeline(MODEL_NAMES[0], feature_set, seed, pca_components, memory=cache)
    pipeline.steps[-1] = ("model", "passthrough")
    start = time.perf_counter()
    pipeline.fit(X, y)
    return time.perf_counter() - start


def run_baselines(features: Mapping[str, tuple[np.ndarray, np.ndarray]], y_train: np.ndarray,
                  y_val: np.ndarray, models: Sequence[str] = MODEL_NAMES, seed: int = 0,
                  pca_components: int = 64,
                  threads: int | None = 1) -> tuple[pd.DataFrame, dict[str, Pipeline]]:
    """Fit every model on every feature set ``{name: (X_train, X_val)}``; score on validation.

    Returns the results table (one row per ``"model [features]"``, best accuracy first) and the
    fitted pipelines under the same keys. The scaler (and PCA) of a feature set are fitted once,
    timed as ``preprocess_s``, and reused from a temporary cache, so ``fit_s`` is the model's own
    fitting time. ``threads`` limits BLAS threads while fitting (see :func:`blas_threads`).
    """
    results, fitted = {}, {}
    with tempfile.TemporaryDirectory(prefix="dflearn-pipelines-") as cache, blas_threads(threads):
        for feature_set, (X_train, X_val) in features.items():
            preprocess_s = _fit_preprocessing(feature_set, X_train, y_train, seed,
                                              pca_components, cache)
            for name in models:
                key = f"{name} [{feature_set}]"
                pipeline = make_pipeline(name, feature_set, seed, pca_components, memory=cache)
                metrics = evaluate(pipeline, X_train, y_train, X_val, y_val, threads=None)
                results[key] = {"features": feature_set, "estimator": name,
                                "preprocess_s": preprocess_s, **metrics}
                fitted[key] = pipeline.set_params(memory=None)
    return compare_table(results, columns=TABLE_COLUMNS), fitted


# --------------------------------------------------------------------------- hyperparameter search

SEARCH_SPACES: Mapping[str, Mapping[str, Any]] = {
    "k-NN": {"model__n_neighbors": [3, 5, 9, 15, 25, 41],
             "model__weights": ["uniform", "distance"]},
    "random forest": {"model__n_estimators": [100, 200, 400], "model__max_depth": [None, 8, 16],
                      "model__min_samples_leaf": [1, 2, 5], "model__max_features": ["sqrt", 0.3]},
    "logistic regression": {"model__C": loguniform(1e-3, 1e2)},
    "SVC": {"model__C": loguniform(0.1, 100.0), "model__gamma": loguniform(1e-4, 1e-1)},
    "MLP": {"model__hidden_layer_sizes": [(32,), (64,), (128,), (64, 32)],
            "model__alpha": loguniform(1e-5, 1e-1),
            "model__learning_rate_init": loguniform(1e-4, 1e-2)},
    "linear regression": {"model__threshold": [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7]},
}
PCA_SPACE: Mapping[str, Any] = {"pca__n_components": [16, 32, 64, 128]}


def search(name: str, feature_set: str, X: np.ndarray, y: np.ndarray, n_iter: int,
           seed: int = 0, folds: int = 3, n_jobs: int | None = None,
           threads: int | None = 1) -> RandomizedSearchCV:
    """Randomised search of model ``name``'s pipeline with stratified ``folds``-fold CV on (X, y).

    The budget is ``n_iter`` candidates x ``folds`` fits, plus one refit of the best on all of X.
    ``threads`` limits BLAS threads (see :func:`blas_threads`).
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be at least 1; got {n_iter}.")
    pipeline = make_pipeline(name, feature_set, seed)
    space = dict(SEARCH_SPACES[name])
    if "pca" in pipeline.named_steps:
        limit = min(X.shape[1], len(X) * (folds - 1) // folds)
        space["pca__n_components"] = [n for n in PCA_SPACE["pca__n_components"] if n <= limit]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    finder = RandomizedSearchCV(pipeline, space, n_iter=n_iter, cv=cv, scoring="accuracy",
                                random_state=seed, n_jobs=n_jobs, refit=True)
    with blas_threads(threads):
        return finder.fit(X, y)


def _short_value(value: Any) -> Any:
    """Floats to 3 significant digits as plain Python numbers, for readable tables."""
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.3g}")
    return value.item() if isinstance(value, np.generic) else value


def search_table(finder: RandomizedSearchCV) -> pd.DataFrame:
    """The candidates of a fitted search, best mean CV accuracy first."""
    results = pd.DataFrame(finder.cv_results_)
    params = results["params"].apply(
        lambda p: {k.split("__", 1)[1]: _short_value(v) for k, v in p.items()})
    table = pd.DataFrame({"params": params.astype(str),
                          "mean_cv_accuracy": results["mean_test_score"],
                          "std_cv_accuracy": results["std_test_score"],
                          "fit_s": results["mean_fit_time"]})
    return table.sort_values("mean_cv_accuracy", ascending=False).reset_index(drop=True)


# --------------------------------------------------------------------------- one-feature rule


def best_threshold(values: np.ndarray, labels: np.ndarray) -> tuple[float, float, str]:
    """The best single threshold on one feature: ``(threshold, accuracy, rule)``.

    ``rule`` is ``"REAL if >= threshold"`` or ``"REAL if < threshold"``. All cut points between
    distinct sorted values are tried at once with cumulative counts.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if values.shape != labels.shape or values.size == 0:
        raise ValueError(f"values ({values.shape}) and labels ({labels.shape}) must be the same "
                         "non-empty length.")
    order = np.argsort(values, kind="stable")
    v, y = values[order], labels[order]
    n = len(v)
    fakes_below = np.concatenate([[0], np.cumsum(y == FAKE)])
    reals_above = np.sum(y == REAL) - np.concatenate([[0], np.cumsum(y == REAL)])
    acc_up = (fakes_below + reals_above) / n  # cut k: the first k images are called FAKE
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = v[1:] > v[:-1]  # a cut cannot split equal values
    acc = np.where(valid, np.maximum(acc_up, 1 - acc_up), -1.0)
    k = int(np.argmax(acc))
    cuts = np.concatenate([[v[0] - 1.0], (v[:-1] + v[1:]) / 2, [v[-1] + 1.0]])
    rule = "REAL if >= threshold" if acc_up[k] >= 1 - acc_up[k] else "REAL if < threshold"
    return float(cuts[k]), float(acc[k]), rule


def apply_threshold(values: np.ndarray, threshold: float, rule: str) -> np.ndarray:
    """Predicted labels from :func:`best_threshold`'s threshold and rule."""
    above = np.asarray(values, dtype=np.float64).ravel() >= threshold
    if rule == "REAL if >= threshold":
        return above.astype(np.int64)
    if rule == "REAL if < threshold":
        return (~above).astype(np.int64)
    raise ValueError(f"Unknown rule {rule!r}; use 'REAL if >= threshold' or 'REAL if < threshold'.")




def _logistic_accuracy(extract: Callable[[np.ndarray], np.ndarray], train: Dataset, test: Dataset,
                       seed: int) -> float:
    """Test accuracy of a scaled logistic regression fitted on ``extract(train.images)``."""
    X_train, X_test = (np.asarray(extract(ds.images), dtype=np.float64) for ds in (train, test))
    for X, ds in ((X_train, train), (X_test, test)):
        if X.ndim != 2 or len(X) != len(ds.labels):
            raise ValueError(f"my_features must return a 2-D array with one row per image, shape "
                             f"({len(ds.labels)}, n_features); it returned shape {X.shape}.")
        if not np.isfinite(X).all():
            raise ValueError("my_features returned NaN or infinite values; return finite numbers.")
    with blas_threads(1):
        model = make_pipeline("logistic regression", seed=seed).fit(X_train, train.labels)
        return float(np.mean(model.predict(X_test) == test.labels))


def feature_margin(extract: Callable[[np.ndarray], np.ndarray], train: Dataset, test: Dataset,
                   seed: int = 0) -> dict[str, float]:
    """Logistic regression fitted on ``train`` with ``extract``'s features and with brightness
    alone, both scored on ``test``: their accuracies and the margin in percentage points.
    Raises ``ValueError`` when ``extract`` does not return a finite 2-D array with one row per
    image. Used in 02 §8 (the open-ended task) and by its hidden test."""
    mine = _logistic_accuracy(extract, train, test, seed)
    baseline = _logistic_accuracy(brightness_features, train, test, seed)
    return {"accuracy": round(mine, 4), "brightness_accuracy": round(baseline, 4),
            "margin_points": round(100 * (mine - baseline), 2)}
