"""Exploratory plots of FAKE vs REAL images: galleries, the study's colour and brightness
histograms (its Figures 5-7), class overlays, colour histograms and Fourier spectra; and the
judgement of the study's reading of Figs. 5-7 (:func:`colour_findings`), of the colour
histograms' tails (:func:`histogram_tails`) and of high-frequency power
(:func:`high_frequency_comparison`); the open-ended task's score (:func:`statistic_auc`).

Lesson module of notebook 01; imports only the core."""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats as sps

from dflearn import study
from dflearn.data import CLASS_NAMES, FAKE, REAL, Dataset
from dflearn.features import CHANNELS, UNKNOWN, bin_edges, content_classes
from dflearn.metrics import either_way_auc, image_scores
from dflearn.plots import CLASS_COLOURS, INTENSITY, image_grid
from dflearn.stats import compare_classes, effect_label

# The study's reading of its Figs. 5-7 (seed 000, "Data Preprocessing"), quoted exactly.
SEED_NO_DIFFERENCE_COLOUR = ("there are no significant differences in the distributions between "
                             "human and AI images")
SEED_NO_DIFFERENCE_BRIGHTNESS = ("there is not a significant skew for color intensity between AI "
                                 "images or human images")
SEED_SPREAD = ("the average color intensity for human images has a slightly greater spread than "
               "that of AI images")
# The short exact fragments the findings table shows in its seed_number column.
SEED_FRAGMENTS: dict[str, str] = {
    SEED_NO_DIFFERENCE_COLOUR: "no significant differences",
    SEED_NO_DIFFERENCE_BRIGHTNESS: "not a significant skew",
    SEED_SPREAD: "slightly greater spread",
}
# Which figure each study feature comes from.
STUDY_FIGURES: dict[str, str] = {"mean_red": "Figs. 5-6", "mean_green": "Figs. 5-6",
                                 "mean_blue": "Figs. 5-6", "brightness": "Fig. 7"}
ALPHA = 0.05  # significance level of every test here
MIN_EFFECT = 0.2  # smallest |Cohen's d| that is not negligible (Cohen's convention)


def gallery(ds: Dataset, n_per_class: int = 8, seed: int = 0) -> plt.Figure:
    """Random examples, one row per class, titled with the class and the CIFAR-10 content class
    (when the file names give one)."""
    rng = np.random.default_rng(seed)
    content = content_classes(ds.paths)
    picks, titles = [], []
    for label, name in enumerate(CLASS_NAMES):
        index = np.flatnonzero(ds.labels == label)
        chosen = rng.choice(index, size=min(n_per_class, len(index)), replace=False)
        picks.extend(chosen)
        titles.extend(name if content[i] == UNKNOWN else f"{name} · {content[i]}" for i in chosen)
    return image_grid(ds.images[np.asarray(picks)], titles, ncols=n_per_class,
                      title="Random FAKE (top) and REAL (bottom) images, 32x32 pixels")


def study_histograms(table: pd.DataFrame, labels: np.ndarray, columns: Sequence[str],
                     bins: int = 32, xlabel: str = "mean " + INTENSITY,
                     title: str = "Per-image means, one panel per class") -> plt.Figure:
    """The study's layout: one row per class (FAKE, REAL), one panel per feature column."""
    fig, axes = plt.subplots(2, len(columns), figsize=(max(3.6 * len(columns), 6.0), 5.2),
                             squeeze=False, sharex=True)
    for row, name in enumerate(CLASS_NAMES):
        part = table[np.asarray(labels) == row]
        for ax, column in zip(axes[row], columns):
            colour = column.split("_")[-1] if column.split("_")[-1] in CHANNELS else "grey"
            ax.hist(part[column], bins=bins, color=colour, alpha=0.8)
            ax.set_title(f"{name}: {column}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("images")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_colour_histograms(histograms: np.ndarray, labels: np.ndarray,
                           title: str = "Average colour histogram per class") -> plt.Figure:
    """Per-channel histograms ``(N, 3, bins)`` averaged over each class, one panel per channel."""
    labels = np.asarray(labels)
    edges = bin_edges(histograms.shape[-1])
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.2), sharey=True)
    for c, (ax, channel) in enumerate(zip(axes, CHANNELS)):
        for label, name in enumerate(CLASS_NAMES):
            mean = histograms[labels == label, c].mean(axis=0)
            ax.stairs(100 * mean, edges, color=CLASS_COLOURS[name], label=name, linewidth=2)
        ax.set_title(f"{channel} channel")
        ax.set_xlabel(f"{channel} {INTENSITY}")
        ax.legend()
    axes[0].set_ylabel("pixels in bin (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_joint_histograms(joint_fake: np.ndarray, joint_real: np.ndarray,
                          plane: tuple[str, str] = ("red", "green"),
                          min_fraction: float = 1e-4) -> plt.Figure:
    """Two channels' joint histogram per class (the third summed out) and log2(FAKE / REAL).

    The ratio is left blank where the bin holds less than ``min_fraction`` of the pixels.
    """
    axis_x, axis_y = (CHANNELS.index(c) for c in plane)
    other = ({0, 1, 2} - {axis_x, axis_y}).pop()
    bins = joint_fake.shape[0]
    extent = (0, 256, 0, 256)

    def project(joint: np.ndarray) -> np.ndarray:
        plane_hist = joint.sum(axis=other)
        return plane_hist if axis_x < axis_y else plane_hist.T  # rows follow the first channel

    fake, real = project(joint_fake), project(joint_real)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log2(fake / real)
    ratio[(fake + real) / 2 < min_fraction] = np.nan  # too few pixels for a stable ratio
    limit = float(np.nanmax(np.abs(ratio))) if np.isfinite(ratio).any() else 1.0
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = [(fake * 100, "FAKE", "viridis", None), (real * 100, "REAL", "viridis", None),
              (ratio, "log2 FAKE/REAL", "coolwarm", (-limit, limit))]
    for ax, (values, name, cmap, lims) in zip(axes, panels):
        image = ax.imshow(values.T, origin="lower", extent=extent, cmap=cmap,
                          vmin=lims[0] if lims else None, vmax=lims[1] if lims else None)
        fig.colorbar(image, ax=ax, label="log2 ratio" if lims else "pixels (%)")
        ax.set_title(f"{name}, {plane[0]}-{plane[1]} ({bins} bins)", fontsize=10)
        ax.set_xlabel(f"{plane[0]} {INTENSITY}")
        ax.set_ylabel(f"{plane[1]} {INTENSITY}")
    fig.tight_layout()
    return fig


def plot_spectra(fake: np.ndarray, real: np.ndarray,
                 title: str = "Mean log10 Fourier power of the grey levels") -> plt.Figure:
    """Mean centred log-power spectra ``(H, W)`` of each class and their difference (the zero
    frequency, removed with the image mean, is left blank)."""
    h, w = fake.shape
    extent = (-0.5, 0.5 - 1 / w, 0.5 - 1 / h, -0.5)
    fake, real = fake.astype(np.float64), real.astype(np.float64)
    fake[h // 2, w // 2] = real[h // 2, w // 2] = np.nan  # the removed mean (zero frequency)
    diff = fake - real
    limit = float(np.nanmax(np.abs(diff))) or 1.0
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))
    low, high = np.nanmin([fake, real]), np.nanmax([fake, real])
    panels = [(fake, "FAKE", "magma", low, high, "log10 power"),
              (real, "REAL", "magma", low, high, "log10 power"),
              (diff, "FAKE - REAL", "coolwarm", -limit, limit, "difference of log10 power")]
    for ax, (values, name, cmap, vmin, vmax, unit) in zip(axes, panels):
        image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent)
        fig.colorbar(image, ax=ax, label=unit)
        ax.set_title(name)
        ax.set_xlabel("horizontal frequency (cycles/pixel)")
        ax.set_ylabel("vertical frequency (cycles/pixel)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_radial_spectra(frequencies: np.ndarray, radial: np.ndarray, labels: np.ndarray,
                        title: str = "Radially averaged power spectrum") -> plt.Figure:
    """Class mean (and +-1 std band) of per-image radial spectra ``(N, R)``."""
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, name in enumerate(CLASS_NAMES):
        rows = radial[labels == label]
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        ax.plot(frequencies, mean, marker="o", color=CLASS_COLOURS[name], label=name)
        ax.fill_between(frequencies, mean - std, mean + std, color=CLASS_COLOURS[name], alpha=0.2)
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("mean log10 power")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the study's reading


def _p_text(p: float) -> str:
    return f"p = {p:.2g}" if p >= 1e-4 else f"p = {p:.1e}"


def cohens_d_interval(d: float, n_fake: int, n_real: int, level: float = 0.95) -> tuple[float, float]:
    """Approximate ``level`` confidence interval of Cohen's d (normal approximation of its
    sampling error, Hedges & Olkin): ``d +- z * sqrt((n1 + n2) / (n1 n2) + d^2 / (2 (n1 + n2)))``.

    Used in 01 §3 (the findings table)."""
    z = float(sps.norm.ppf(0.5 + level / 2))
    se = float(np.sqrt((n_fake + n_real) / (n_fake * n_real) + d * d / (2 * (n_fake + n_real))))
    return d - z * se, d + z * se


def judge_no_difference(row: pd.Series, n_fake: int, n_real: int, *, alpha: float = ALPHA,
                        min_effect: float = MIN_EFFECT, finding: str | None = None,
                        claim: str = SEED_NO_DIFFERENCE_COLOUR) -> study.Verdict:
    """Judge the study's qualitative claim "no significant difference between FAKE and REAL" for
    one feature, from its row of :func:`dflearn.stats.compare_classes` (``ks_p``, ``ks_D``,
    ``cohens_d``).

    The rule (the study gives no number, so none is compared):

    * **refuted** when the KS test is significant (``ks_p < alpha``) **and** the effect is not
      negligible (``|d| >= min_effect``, Cohen's 0.2): the classes differ, and by enough to matter;
    * **holds** when the KS test is not significant (``ks_p >= alpha``);
    * **inconclusive** otherwise: a significant but negligible difference (large samples make
      tiny differences significant), which neither confirms nor refutes "no significant
      difference" in the sense the study meant (a difference seen by eye).

    ``interval`` is the 95% interval of d (:func:`cohens_d_interval`). Used in 01 §3."""
    name = str(row.name)
    p, ks_d, d = float(row["ks_p"]), float(row["ks_D"]), float(row["cohens_d"])
    significant, large = p < alpha, abs(d) >= min_effect
    if significant and large:
        verdict, why = "refuted", f"KS {_p_text(p)} < {alpha} and |d| = {abs(d):.2f} >= {min_effect}"
    elif not significant:
        verdict, why = "holds", f"KS {_p_text(p)} >= {alpha}"
    else:
        verdict, why = "inconclusive", (f"KS {_p_text(p)} < {alpha} but |d| = {abs(d):.2f} < "
                                        f"{min_effect} (negligible)")
    low, high = cohens_d_interval(d, n_fake, n_real)
    figure = STUDY_FIGURES.get(name, "Figs. 5-7")
    finding = finding or f"{figure}: no significant FAKE/REAL difference in {name}"
    ours = f"KS D = {ks_d:.3f}, {_p_text(p)}; d = {d:+.3f} ({effect_label(d)}); n = {n_fake} + {n_real}"
    text = (f"{finding} {verdict}: {why}; FAKE mean {float(row['mean_FAKE']):.1f} "
            f"(std {float(row['std_FAKE']):.1f}) vs REAL {float(row['mean_REAL']):.1f} "
            f"(std {float(row['std_REAL']):.1f}), d 95% interval [{low:+.3f}, {high:+.3f}].")
    seed_number = f'"{SEED_FRAGMENTS.get(claim, claim)}" ({figure}; qualitative, no number)'
    return study.Verdict(finding, verdict, text, seed_number, ours,
                         f"d in [{low:+.3f}, {high:+.3f}]",
                         {"ks_D": ks_d, "ks_p": p, "cohens_d": d, "low": low, "high": high,
                          "n_fake": n_fake, "n_real": n_real, "alpha": alpha,
                          "min_effect": min_effect})


def std_ratio_interval(fake: np.ndarray, real: np.ndarray, *, level: float = 0.95,
                       resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The ratio ``std(REAL) / std(FAKE)`` and its percentile bootstrap ``level`` interval
    (each class resampled with replacement, ``resamples`` times, seeded): ``(ratio, low, high)``.

    Used in 01 §3 (the spread finding)."""
    fake, real = np.asarray(fake, dtype=np.float64), np.asarray(real, dtype=np.float64)
    if len(fake) < 2 or len(real) < 2:
        raise ValueError("Each class needs at least 2 values to have a standard deviation.")
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples)
    for i in range(resamples):
        ratios[i] = (rng.choice(real, len(real)).std(ddof=1)
                     / max(rng.choice(fake, len(fake)).std(ddof=1), 1e-12))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(real.std(ddof=1) / max(fake.std(ddof=1), 1e-12)), float(low), float(high)


def judge_spread(fake: np.ndarray, real: np.ndarray, *, feature: str = "brightness",
                 level: float = 0.95, seed: int = 0) -> study.Verdict:
    """Judge the study's Fig. 7 claim that REAL ("human") images have a slightly greater spread
    than FAKE ("AI") images, with the standard deviations of one feature.

    The rule: with ``(ratio, low, high)`` from :func:`std_ratio_interval` (std REAL / std FAKE
    and its bootstrap ``level`` interval), the claim **holds** when the interval lies above 1
    (REAL more spread beyond sampling error), is **refuted** when it lies below 1 (FAKE more
    spread), and is **inconclusive** when it contains 1. "Slightly" is not judged: the study
    gives no size. Used in 01 §3."""
    ratio, low, high = std_ratio_interval(fake, real, level=level, seed=seed)
    if low > 1:
        verdict, why = "holds", f"the {level:.0%} interval of std REAL / std FAKE lies above 1"
    elif high < 1:
        verdict, why = "refuted", f"the {level:.0%} interval of std REAL / std FAKE lies below 1"
    else:
        verdict, why = "inconclusive", f"the {level:.0%} interval of std REAL / std FAKE contains 1"
    std_fake, std_real = float(np.std(fake, ddof=1)), float(np.std(real, ddof=1))
    finding = f"Fig. 7: REAL {feature} more spread than FAKE"
    text = (f"{finding} {verdict}: {why}; std REAL {std_real:.2f} vs FAKE {std_fake:.2f}, ratio "
            f"{ratio:.3f} [{low:.3f}, {high:.3f}] (n = {len(fake)} + {len(real)}).")
    seed_number = f'"{SEED_FRAGMENTS[SEED_SPREAD]}" (Fig. 7; qualitative, no number)'
    return study.Verdict(finding, verdict, text, seed_number,
                         f"std REAL {std_real:.2f} vs FAKE {std_fake:.2f} (ratio {ratio:.3f})",
                         f"ratio in [{low:.3f}, {high:.3f}]",
                         {"std_fake": std_fake, "std_real": std_real, "ratio": ratio, "low": low,
                          "high": high, "level": level})


def colour_findings(table: pd.DataFrame, labels: np.ndarray, *, alpha: float = ALPHA,
                    min_effect: float = MIN_EFFECT, seed: int = 0) -> pd.DataFrame:
    """The study's reading of Figs. 5-7 judged on our data, as :func:`dflearn.study.findings_table`
    (finding, seed_number, ours, interval, verdict, text): one "no significant difference" row
    per study feature of ``table`` (:data:`STUDY_FIGURES`, :func:`judge_no_difference`) and the
    Fig. 7 spread row on ``brightness`` (:func:`judge_spread`). Recorded as ``01/findings``
    in 01 §3."""
    labels = np.asarray(labels)
    columns = [c for c in STUDY_FIGURES if c in table.columns]
    if not columns:
        raise ValueError(f"table has none of the study's features {list(STUDY_FIGURES)}.")
    comparison = compare_classes(table, labels, columns)
    n_fake, n_real = int((labels == FAKE).sum()), int((labels == REAL).sum())
    claims = {c: SEED_NO_DIFFERENCE_BRIGHTNESS if c == "brightness" else SEED_NO_DIFFERENCE_COLOUR
              for c in columns}
    rows = [judge_no_difference(comparison.loc[c], n_fake, n_real, alpha=alpha,
                                min_effect=min_effect, claim=claims[c]) for c in columns]
    if "brightness" in columns:
        values = table["brightness"].to_numpy(dtype=np.float64)
        rows.append(judge_spread(values[labels == FAKE], values[labels == REAL], seed=seed))
    return study.findings_table(rows)


# --------------------------------------------------------------------------- beyond the means


def histogram_tails(histograms: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Percent of each class's pixels in the bottom (near-black) and top (near-white) bin of
    each channel, from per-image histograms ``(N, 3, bins)`` (fractions summing to 1 per
    channel): one row per channel, columns ``bottom_FAKE``, ``bottom_REAL``, ``top_FAKE``,
    ``top_REAL`` and the bins' ranges. Used in 01 §4."""
    histograms, labels = np.asarray(histograms, dtype=np.float64), np.asarray(labels)
    if histograms.ndim != 3 or histograms.shape[1] != len(CHANNELS):
        raise ValueError(f"histograms must have shape (N, 3, bins); got {histograms.shape}.")
    edges = bin_edges(histograms.shape[-1])
    rows = {}
    for c, channel in enumerate(CHANNELS):
        row = {}
        for end, index in (("bottom", 0), ("top", -1)):
            for label, name in enumerate(CLASS_NAMES):
                row[f"{end}_{name}"] = 100 * float(histograms[labels == label, c, index].mean())
        rows[channel] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "channel"
    frame.attrs["bottom_bin"] = (float(edges[0]), float(edges[1]))
    frame.attrs["top_bin"] = (float(edges[-2]), float(edges[-1]))
    return frame


def high_frequency_power(radial: np.ndarray, frequencies: np.ndarray,
                         cutoff: float = 0.25) -> np.ndarray:
    """Each image's mean log10 power over the rings of its radial spectrum ``(N, R)`` at or
    above ``cutoff`` cycles/pixel. Used in 01 §5."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    keep = frequencies >= cutoff
    if not keep.any():
        raise ValueError(f"No ring at or above {cutoff} cycles/pixel (highest {frequencies.max()}).")
    return np.asarray(radial, dtype=np.float64)[:, keep].mean(axis=1)


def high_frequency_comparison(radial: np.ndarray, frequencies: np.ndarray, labels: np.ndarray,
                              cutoff: float = 0.25) -> tuple[str, pd.Series]:
    """Compare FAKE and REAL on :func:`high_frequency_power`: one sentence giving the direction
    (FAKE carries MORE or LESS high-frequency power than REAL) with Cohen's d, the KS test and
    P(FAKE > REAL), and the :func:`dflearn.stats.compare_classes` row it rests on. Used in 01 §5."""
    power = pd.DataFrame({"high_frequency": high_frequency_power(radial, frequencies, cutoff)})
    row = compare_classes(power, labels).loc["high_frequency"]
    d = float(row["cohens_d"])
    direction = "MORE" if d > 0 else "LESS" if d < 0 else "AS MUCH"
    sentence = (f"FAKE images carry {direction} high-frequency power (>= {cutoff:g} cycles/pixel) "
                f"{'as' if d == 0 else 'than'} REAL: Cohen's d = {d:+.2f} ({row['effect']}), KS D = {float(row['ks_D']):.3f}, "
                f"{_p_text(float(row['ks_p']))}, P(FAKE > REAL) = {float(row['P(FAKE>REAL)']):.2f}.")
    return sentence, row




def statistic_auc(statistic: Callable[[np.ndarray], np.ndarray], ds: Dataset) -> float:
    """How well ``statistic(images)`` (one number per image) separates REAL from FAKE in ``ds``:
    its ROC-AUC in whichever direction is better (0.5: useless, 1: perfect). Raises
    ``ValueError`` when it does not return one finite number per image. Used in 01 §8."""
    values = image_scores(statistic(ds.images), len(ds.labels), "my_statistic")
    return either_way_auc(ds.labels == REAL, values)
