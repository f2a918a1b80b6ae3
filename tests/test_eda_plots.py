"""dflearn.eda_plots: every figure has a title and labelled axes, and draws the right data."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dflearn import eda_plots as P
from dflearn import features as F
from dflearn import plots
from dflearn.data import Dataset


@pytest.fixture
def dataset() -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat([0, 1], 6)
    paths = np.array([f"{i:04d}.jpg" for i in range(12)])
    return Dataset(images, labels, paths)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_labelled(fig: plt.Figure) -> None:
    plotted = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert fig._suptitle is not None or all(ax.get_title() for ax in plotted)
    for ax in plotted:
        assert ax.get_xlabel() and ax.get_title(), ax


def test_gallery_without_content_classes_titles_only_the_class(dataset: Dataset) -> None:
    fig = P.gallery(dataset, n_per_class=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_images()]
    assert titles == ["FAKE"] * 4 + ["REAL"] * 4


def test_gallery_with_content_classes(dataset: Dataset) -> None:
    named = dataset._replace(paths=np.array([f"{i:04d} ({i % 10 + 1}).jpg" for i in range(12)]))
    titles = [ax.get_title() for ax in P.gallery(named, n_per_class=2).axes if ax.get_images()]
    assert all(t.split(" · ")[1] in F.CONTENT_CLASSES for t in titles)


def test_histogram_figures_are_labelled(dataset: Dataset) -> None:
    table = F.summary_features(dataset.images)
    study = P.study_histograms(table, dataset.labels, ["mean_red", "mean_green", "mean_blue"])
    assert len(study.axes) == 6 and study.axes[0].get_title() == "FAKE: mean_red"
    overlay = plots.overlay_histograms(table, dataset.labels, ["brightness"])
    counts = [patch.get_height() for patch in overlay.axes[0].patches]
    assert len(counts) == 64 and overlay.axes[0].get_legend() is not None
    for fig in (study, overlay, P.plot_colour_histograms(F.colour_histograms(dataset.images), dataset.labels)):
        assert_labelled(fig)


def test_joint_and_spectrum_figures(dataset: Dataset) -> None:
    fake, real = dataset.images[:6], dataset.images[6:]
    joint = P.plot_joint_histograms(F.joint_histogram(fake, 4), F.joint_histogram(real, 4),
                                    plane=("green", "blue"))
    assert joint.axes[0].get_xlabel().startswith("green")
    spectra = P.plot_spectra(F.mean_log_spectrum(fake), F.mean_log_spectrum(real))
    radial, freqs = F.radial_spectrum(dataset.images)
    lines = P.plot_radial_spectra(freqs, radial, dataset.labels)
    for fig in (joint, spectra, lines):
        assert_labelled(fig)
    np.testing.assert_allclose(lines.axes[0].lines[0].get_ydata(), radial[:6].mean(axis=0), rtol=1e-6)


def test_study_histograms_accept_a_plain_dataframe() -> None:
    table = pd.DataFrame({"brightness": np.linspace(0, 255, 10)})
    fig = P.study_histograms(table, np.repeat([0, 1], 5), ["brightness"])
    assert fig.axes[1].get_title() == "REAL: brightness"


# --------------------------------------------------------------------------- the study's reading

SEED_000 = sorted((__import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "seeds")
                  .glob("000_*.txt"))


def comparison_row(name: str, ks_p: float, d: float) -> pd.Series:
    return pd.Series({"ks_p": ks_p, "ks_D": 0.1, "cohens_d": d, "mean_FAKE": 100.0,
                      "std_FAKE": 50.0, "mean_REAL": 100.0 - 50 * d, "std_REAL": 50.0}, name=name)


@pytest.mark.parametrize(("ks_p", "d", "expected"), [
    (1e-9, -0.35, "refuted"),     # significant and not negligible
    (1e-9, 0.2, "refuted"),       # |d| = 0.2 is the first non-negligible size
    (1e-9, 0.05, "inconclusive"),  # significant but negligible
    (0.30, 0.05, "holds"),        # not significant
    (0.05, 0.6, "holds"),         # p = alpha is not significant
])
def test_no_difference_rule(ks_p: float, d: float, expected: str) -> None:
    verdict = P.judge_no_difference(comparison_row("brightness", ks_p, d), 900, 900)
    assert verdict.verdict == expected
    assert verdict.finding.startswith("Fig. 7") and "brightness" in verdict.finding
    assert f"{d:+.3f}" in verdict.ours and expected in verdict.text
    low, high = verdict.numbers["low"], verdict.numbers["high"]
    assert low < d < high


def test_cohens_d_interval_narrows_with_more_images() -> None:
    small = P.cohens_d_interval(0.3, 50, 50)
    large = P.cohens_d_interval(0.3, 5000, 5000)
    assert small[0] < large[0] < 0.3 < large[1] < small[1]
    # the textbook standard error for n1 = n2 = 50, d = 0.3: sqrt(0.04 + 0.09 / 200)
    assert small[1] - 0.3 == pytest.approx(1.959964 * np.sqrt(0.04 + 0.09 / 200), rel=1e-5)


@pytest.mark.parametrize(("real_std", "expected"), [(1.5, "holds"), (0.6, "refuted"),
                                                    (1.0, "inconclusive")])
def test_spread_rule(real_std: float, expected: str) -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal(2000)
    fake, real = base[:1000], base[1000:] * real_std
    if expected == "inconclusive":
        real = fake.copy()  # the same sample: ratio exactly 1
    verdict = P.judge_spread(fake, real, seed=3)
    assert verdict.verdict == expected
    assert verdict.numbers["low"] <= verdict.numbers["ratio"] <= verdict.numbers["high"]
    assert verdict.numbers["ratio"] == pytest.approx(real.std(ddof=1) / fake.std(ddof=1))


def test_std_ratio_interval_is_seeded() -> None:
    rng = np.random.default_rng(2)
    fake, real = rng.normal(size=300), rng.normal(scale=2.0, size=300)
    assert P.std_ratio_interval(fake, real, seed=5) == P.std_ratio_interval(fake, real, seed=5)
    with pytest.raises(ValueError, match="at least 2"):
        P.std_ratio_interval(fake[:1], real)


def test_colour_findings_table() -> None:
    rng = np.random.default_rng(0)
    n = 600
    labels = np.repeat([0, 1], n)  # 0 = FAKE, 1 = REAL
    shifted = np.concatenate([rng.normal(100, 20, n), rng.normal(115, 30, n)])
    same = rng.normal(100, 20, 2 * n)
    table = pd.DataFrame({"mean_red": same, "mean_green": same[::-1].copy(),
                          "mean_blue": same, "brightness": shifted})
    findings = P.colour_findings(table, labels, seed=0)
    assert list(findings.columns) == ["finding", "seed_number", "ours", "interval", "verdict", "text"]
    assert len(findings) == 5
    by_finding = dict(zip(findings["finding"], findings["verdict"]))
    assert by_finding["Fig. 7: no significant FAKE/REAL difference in brightness"] == "refuted"
    assert by_finding["Fig. 7: REAL brightness more spread than FAKE"] == "holds"
    assert by_finding["Figs. 5-6: no significant FAKE/REAL difference in mean_red"] != "refuted"
    assert findings["seed_number"].str.contains("qualitative, no number").all()
    with pytest.raises(ValueError, match="none of the study's features"):
        P.colour_findings(pd.DataFrame({"x": same}), labels)


@pytest.mark.skipif(not SEED_000, reason="the seed documents (../shared/seeds) are not here")
def test_seed_quotes_are_exact() -> None:
    text = SEED_000[0].read_text(encoding="utf-8")
    for quote in (P.SEED_NO_DIFFERENCE_COLOUR, P.SEED_NO_DIFFERENCE_BRIGHTNESS, P.SEED_SPREAD,
                  *P.SEED_FRAGMENTS.values()):
        assert quote in text, quote


# --------------------------------------------------------------------------- beyond the means


def test_histogram_tails_reads_the_end_bins() -> None:
    hist = np.zeros((4, 3, 4))
    hist[:, :, 1] = 1.0  # everything in a middle bin ...
    hist[0, 0] = [0.5, 0.5, 0.0, 0.0]  # ... except FAKE image 0's red: half near-black
    hist[3, 2] = [0.0, 0.0, 0.8, 0.2]  # and REAL image 3's blue: a fifth near-white
    tails = P.histogram_tails(hist, np.array([0, 0, 1, 1]))
    assert list(tails.index) == ["red", "green", "blue"]
    assert tails.loc["red", "bottom_FAKE"] == pytest.approx(25.0)
    assert tails.loc["blue", "top_REAL"] == pytest.approx(10.0)
    assert tails.drop(index=["red", "blue"]).to_numpy().sum() == 0
    assert tails.attrs["top_bin"] == (192.0, 256.0)
    with pytest.raises(ValueError, match="shape"):
        P.histogram_tails(hist[:, :2], np.array([0, 0, 1, 1]))


def test_high_frequency_direction() -> None:
    frequencies = np.linspace(1 / 32, 0.5, 16)
    rng = np.random.default_rng(4)
    radial = rng.normal(5.0, 0.1, size=(200, 16))
    labels = np.repeat([0, 1], 100)
    radial[:100, frequencies >= 0.25] += 0.3  # FAKE: more power at high frequencies only
    power = P.high_frequency_power(radial, frequencies, cutoff=0.25)
    np.testing.assert_allclose(power, radial[:, 7:].mean(axis=1))  # rings 8/32 .. 16/32
    sentence, row = P.high_frequency_comparison(radial, frequencies, labels)
    assert sentence.startswith("FAKE images carry MORE high-frequency power") and row["cohens_d"] > 0.8
    sentence, row = P.high_frequency_comparison(radial, frequencies, 1 - labels)
    assert "carry LESS" in sentence and f"{row['cohens_d']:+.2f}" in sentence
    with pytest.raises(ValueError, match="No ring"):
        P.high_frequency_power(radial, frequencies, cutoff=0.6)
