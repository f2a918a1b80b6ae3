"""Two-sample comparisons of a feature between FAKE and REAL: summary statistics, the
Kolmogorov-Smirnov test and effect sizes (Cohen's d, probability of superiority).

With thousands of images almost any difference is "significant"; effect sizes say whether it is
large enough to matter, so every table here reports both.

Core layer, used by 01 and 02; imports no lesson module.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from dflearn.data import CLASS_NAMES, FAKE, REAL

# Cohen's conventional thresholds for |d|.
EFFECT_LABELS: tuple[tuple[float, str], ...] = (
    (0.2, "negligible"), (0.5, "small"), (0.8, "medium"), (np.inf, "large"),
)


def _sample(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2:
        raise ValueError(f"{name} needs at least 2 values; got {values.size}.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return values


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference ``(mean(a) - mean(b)) / pooled standard deviation``."""
    a, b = _sample(a, "a"), _sample(b, "b")
    na, nb = len(a), len(b)
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    if pooled == 0:
        return 0.0 if a.mean() == b.mean() else float(np.sign(a.mean() - b.mean()) * np.inf)
    return float((a.mean() - b.mean()) / np.sqrt(pooled))


def prob_superiority(a: np.ndarray, b: np.ndarray) -> float:
    """P(a value drawn from ``a`` exceeds one drawn from ``b``), ties counting half.

    This is the ROC-AUC of the feature used alone as a score for ``a`` against ``b``;
    0.5 means no separation.
    """
    a, b = _sample(a, "a"), _sample(b, "b")
    u = sps.mannwhitneyu(a, b, alternative="two-sided").statistic
    return float(u / (len(a) * len(b)))


def effect_label(d: float) -> str:
    """Cohen's words for the size of ``|d|``: negligible, small, medium or large."""
    size = abs(d)
    return next(label for limit, label in EFFECT_LABELS if size < limit)


def compare_classes(table: pd.DataFrame, labels: np.ndarray,
                    columns: Sequence[str] | None = None) -> pd.DataFrame:
    """For each feature column: per-class mean, std and median, the difference FAKE - REAL,
    the KS statistic and p-value, Cohen's d (FAKE vs REAL), its label, and P(FAKE > REAL)."""
    labels = np.asarray(labels)
    if len(labels) != len(table):
        raise ValueError(f"labels has {len(labels)} entries but the table has {len(table)} rows.")
    rows = {}
    for column in columns or list(table.columns):
        values = table[column].to_numpy(dtype=np.float64)
        fake, real = values[labels == FAKE], values[labels == REAL]
        ks = sps.ks_2samp(fake, real)
        d = cohens_d(fake, real)
        row = {}
        for name, part in zip(CLASS_NAMES, (fake, real)):
            row[f"mean_{name}"] = part.mean()
            row[f"std_{name}"] = part.std(ddof=1)
            row[f"median_{name}"] = np.median(part)
        row.update({"diff": fake.mean() - real.mean(), "ks_D": float(ks.statistic),
                    "ks_p": float(ks.pvalue), "cohens_d": d, "effect": effect_label(d),
                    "P(FAKE>REAL)": prob_superiority(fake, real)})
        rows[column] = row
    result = pd.DataFrame.from_dict(rows, orient="index")
    result.index.name = "feature"
    return result


def describe_comparison(comparison: pd.DataFrame, unit: str = "") -> list[str]:
    """One plain-English sentence per feature of a :func:`compare_classes` table."""
    sentences = []
    unit = f" {unit}" if unit else ""
    for feature, row in comparison.iterrows():
        direction = "lower" if row["diff"] < 0 else "higher"
        p_text = "p < 1e-4" if row["ks_p"] < 1e-4 else f"p = {row['ks_p']:.2g}"
        sentences.append(
            f"{feature}: FAKE mean {row['mean_FAKE']:.1f}{unit} is {direction} than REAL "
            f"{row['mean_REAL']:.1f}{unit} (std {row['std_FAKE']:.1f} vs {row['std_REAL']:.1f}); "
            f"KS D = {row['ks_D']:.3f}, {p_text}; Cohen's d = {row['cohens_d']:+.2f} "
            f"({row['effect']}); P(FAKE > REAL) = {row['P(FAKE>REAL)']:.2f}."
        )
    return sentences
