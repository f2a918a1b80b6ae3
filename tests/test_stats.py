"""dflearn.stats: effect sizes, the FAKE-vs-REAL comparison table and its sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dflearn import stats as S
from dflearn.data import FAKE, REAL


def test_cohens_d_of_shifted_normals() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, 4000), rng.normal(0.0, 2.0, 4000)
    assert S.cohens_d(a, b) == pytest.approx(0.5, abs=0.05)
    assert S.cohens_d(b, a) == pytest.approx(-S.cohens_d(a, b))


def test_cohens_d_without_spread() -> None:
    assert S.cohens_d([1, 1, 1], [1, 1]) == 0.0
    assert S.cohens_d([2, 2], [1, 1]) == np.inf


def test_prob_superiority_counts_pairs_and_ties() -> None:
    assert S.prob_superiority([3, 4], [1, 2]) == 1.0
    assert S.prob_superiority([1, 2], [3, 4]) == 0.0
    assert S.prob_superiority([1, 3], [1, 2]) == pytest.approx((0.5 + 0 + 1 + 1) / 4)


@pytest.mark.parametrize("d, label", [(0.1, "negligible"), (-0.3, "small"), (0.6, "medium"),
                                      (-2.0, "large")])
def test_effect_label(d: float, label: str) -> None:
    assert S.effect_label(d) == label


def test_bad_samples_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        S.cohens_d([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        S.prob_superiority([1.0, np.nan], [1.0, 2.0])


def test_compare_classes_finds_the_shifted_feature_only() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([FAKE, REAL], 500)
    table = pd.DataFrame({"shifted": rng.normal(0, 1, 1000) + (labels == FAKE) * 1.0,
                          "same": rng.normal(0, 1, 1000)})
    result = S.compare_classes(table, labels)
    assert result.loc["shifted", "effect"] == "large" and result.loc["shifted", "diff"] > 0.8
    assert result.loc["shifted", "ks_p"] < 1e-10 and result.loc["same", "ks_p"] > 1e-3
    assert result.loc["same", "effect"] == "negligible"
    assert result.loc["shifted", "P(FAKE>REAL)"] > 0.7
    sentences = S.describe_comparison(result, unit="units")
    assert sentences[0].startswith("shifted: FAKE mean") and "higher than REAL" in sentences[0]
    assert "(large)" in sentences[0] and "p < 1e-4" in sentences[0]


def test_compare_classes_checks_label_length() -> None:
    with pytest.raises(ValueError, match="labels has 3 entries but the table has 4 rows"):
        S.compare_classes(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), np.array([0, 1, 0]))
