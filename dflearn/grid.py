"""The seed study's adaptation of Aydogdu & Demirci's age classifier: a grid of small CNNs.

Lesson module of 05; imports only the core. The grid models themselves are built by
:func:`dflearn.models.age_classifier` (the stand-in registry of :mod:`dflearn.artifacts` builds
the study's best one too); this module lays out the grid, trains it resumably and reads it.

Convolutional stages of 2, 3 or 4 convolutions (:data:`CONV_STAGES`) are crossed with dense
heads (:data:`DENSE_HEADS`), 12 models in all. Every stage ends at the same feature map
(``output_size`` x ``output_size`` x ``final_filters``, 4x4x128 for 32x32 inputs), so the heads
always see the same number of features: the max-pooling after each convolution is planned
(:func:`dflearn.models.pooling_plan`) to make the sizes meet, and :func:`stage_arithmetic`
shows the arithmetic.

:func:`train_grid` trains every model in one loop, writing each result to a JSON file as it
goes: a second call resumes where an interrupted one stopped (:func:`run_grid`).

The open-ended task of 05 §7 adds one model of the student's design: :func:`train_candidate`
trains it exactly like the grid's models (:func:`fit_like_grid`) and :func:`candidate_margin`
scores it against the grid's best model on the same images (the test split, then the grader's
hidden split).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dflearn import study
from dflearn.data import Dataset
from dflearn.metrics import evaluate, probability_metrics
from dflearn.models import (BN_MOMENTUM, FINAL_FILTERS, KERNEL, OUTPUT_SIZE, GridSpec,
                            ModelConfigError, age_classifier, check_dense_head, pooling_plan,
                            real_probability, stage_filters)
from dflearn.paths import replacing
from dflearn.plots import axis_label, plot_confusion
from dflearn.splits import Splits
from dflearn.training import FitResult, fit

CONV_STAGES: tuple[int, ...] = (2, 3, 4)
DENSE_HEADS: tuple[tuple[int, ...], ...] = ((2,), (512, 2), (512, 512, 2), (1024, 512, 256, 2))
BEST_MODEL = "05_grid_best"   # the artifact name notebooks 06 and 07 load
RESULTS_FILE = "05_grid_results.json"
RESULTS_VERSION = 1
TABLE_COLUMNS = ["conv_layers", "head", "parameters", "val_accuracy", "accuracy", "loss",
                 "precision_macro", "recall_macro", "f1_FAKE", "f1_REAL", "seconds"]


class GridError(ValueError):
    """A grid that cannot be built or read: bad stages, heads or lists, or no results."""


# --------------------------------------------------------------------------- the grid


def grid_specs(conv_stages: Iterable[int] = CONV_STAGES,
               heads: Iterable[Sequence[int]] = DENSE_HEADS) -> list[GridSpec]:
    """Every conv stage crossed with every head, stage-major (the study's 12 models by default).

    Used in 05 §3 (the grid from two lists)."""
    stages = [int(n) for n in conv_stages]
    try:
        head_list = [check_dense_head(h) for h in heads]
    except ModelConfigError as error:
        raise GridError(str(error)) from None
    if not stages or not head_list:
        raise GridError("The grid needs at least one conv stage and one dense head.")
    if any(n < 1 for n in stages):
        raise GridError(f"Conv stages are numbers of convolutions (at least 1), got {stages}.")
    specs = [GridSpec(n, h) for n in stages for h in head_list]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise GridError(f"The lists repeat a stage or a head: {names}.")
    return specs


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output side of a convolution or pooling window: ``floor((size + 2p - k) / s) + 1``.

    Used in 05 §2 (Exercise 1 checks against it)."""
    return (size + 2 * padding - kernel) // stride + 1


def stage_arithmetic(n_convs: int, input_size: int = 32, output_size: int = OUTPUT_SIZE,
                     final_filters: int = FINAL_FILTERS) -> pd.DataFrame:
    """Layer-by-layer sizes of one stage with the formula ``floor((n + 2p - k) / s) + 1``.

    Used in 05 §2 (stages that end at the same size)."""
    rows, size = [], input_size
    for i, (filters, pool) in enumerate(zip(stage_filters(n_convs, final_filters),
                                            pooling_plan(n_convs, input_size, output_size)), 1):
        out = conv_output_size(size, KERNEL, 1, KERNEL // 2)
        rows.append({"layer": f"conv{i}", "operation": f"conv {KERNEL}x{KERNEL}, same",
                     "formula": f"({size} + 2*1 - 3) / 1 + 1", "size_in": size, "size_out": out,
                     "channels": filters})
        size = out
        if pool > 1:
            out = conv_output_size(size, pool, pool)
            rows.append({"layer": f"pool{i}", "operation": f"max-pool {pool}x{pool}",
                         "formula": f"({size} - {pool}) / {pool} + 1", "size_in": size,
                         "size_out": out, "channels": filters})
            size = out
    return pd.DataFrame(rows).set_index("layer")


def build_grid(conv_stages: Iterable[int] = CONV_STAGES,
               heads: Iterable[Sequence[int]] = DENSE_HEADS, **options: Any) -> dict[str, keras.Model]:
    """Every model of the grid, by name; ``options`` go to :func:`dflearn.models.age_classifier`.

    Used in 05 §3 (the grid from two lists)."""
    return {s.name: age_classifier(s.n_convs, s.head, **options) for s in grid_specs(conv_stages, heads)}


def dense_head_parameters(n_features: int, units: Sequence[int]) -> int:
    """Weights and biases of dense layers of ``units`` on ``n_features`` inputs.

    Used in 05 §3 (Exercise 2 checks against it)."""
    total, fan_in = 0, int(n_features)
    for u in units:
        total += fan_in * u + u
        fan_in = u
    return total


# --------------------------------------------------------------------------- resumable loop


def load_results(path: str | Path, config: Mapping[str, Any]) -> dict[str, dict]:
    """Results already in ``path`` for the same ``config``; empty if absent or for other settings.

    Used in 05 §4 (by :func:`run_grid`, to resume)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    if stored.get("version") != RESULTS_VERSION or stored.get("config") != json.loads(json.dumps(config)):
        return {}
    return dict(stored.get("results", {}))


def write_results(path: str | Path, config: Mapping[str, Any], results: Mapping[str, dict]) -> None:
    """Write every result so far (through a temporary file, so a crash never leaves half a file).

    Used in 05 §4 (by :func:`run_grid`, after every model)."""
    with replacing(Path(path)) as tmp:
        tmp.write_text(json.dumps({"version": RESULTS_VERSION, "config": dict(config),
                                   "results": dict(results)}), encoding="utf-8")


def _score(entry: Mapping[str, Any]) -> tuple[float, float]:
    return float(entry["val_accuracy"]), -float(entry.get("val_loss", 0.0))


def run_grid(specs: Sequence[GridSpec], train_one: Callable[[GridSpec], tuple[dict, Any]],
             path: str | Path, config: Mapping[str, Any], *, progress: bool = False,
             keep_best: Callable[[Any, dict], None] | None = None,
             log: Callable[[str], None] | None = print) -> dict[str, dict]:
    """Train every spec not yet in ``path`` (for this ``config``), writing after each model.

    ``train_one(spec)`` returns ``(result dict with "val_accuracy", model)``. ``keep_best(model,
    result)`` is called, before the result is written, whenever a model beats every result so
    far on validation accuracy. Returns the results of ``specs``, in order.

    Used in 05 §4 (the resumable loop behind :func:`train_grid`).
    """
    from tqdm.auto import tqdm

    done = load_results(path, config)
    todo = [s for s in specs if s.name not in done]
    if log is not None and len(todo) < len(specs):
        log(f"Resuming: {len(specs) - len(todo)} of {len(specs)} models already in "
            f"{Path(path).name}; training the other {len(todo)}.")
    with tqdm(total=len(specs), initial=len(specs) - len(todo), desc="grid", unit="model",
              disable=not progress) as bar:
        for spec in todo:
            bar.set_postfix_str(spec.name)
            entry, model = train_one(spec)
            previous = [done[s.name] for s in specs if s.name in done]
            if keep_best is not None and all(_score(entry) > _score(e) for e in previous):
                keep_best(model, entry)
            done[spec.name] = entry
            write_results(path, config, done)
            bar.update(1)
    return {s.name: done[s.name] for s in specs}


@dataclass(frozen=True)
class GridPlan:
    """How every grid model is trained (the same for all): plain :func:`dflearn.training.fit`
    arguments plus the builder's, and the key a resumed grid must match.

    Used in 05 §4 (built from the notebook's settings)."""

    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 1e-3
    width: float = 1.0
    input_size: int = 32
    output_size: int = OUTPUT_SIZE
    bn_momentum: float = BN_MOMENTUM
    run_eagerly: bool = False
    seed: int = 0


def test_predictions(model: keras.Model, data: Dataset, batch_size: int = 256) -> tuple[dict, np.ndarray]:
    """The metrics of :func:`dflearn.metrics.evaluate` and the predicted labels, from one pass.

    Used in 05 §4 (by :func:`train_spec`)."""
    p_real = real_probability(model, data.images, batch_size=batch_size)
    return probability_metrics(data.labels, p_real), (p_real >= 0.5).astype(int)


def fit_like_grid(model: keras.Model, splits: Splits, plan: GridPlan) -> FitResult:
    """Train ``model`` exactly as every grid model is trained: :func:`dflearn.training.fit` with
    the plan's epochs, batch size and learning rate, no schedule and no early stopping.

    Used in 05 §4 (by :func:`train_spec`) and §7 (by :func:`train_candidate`)."""
    return fit(model, splits.train, splits.val, epochs=plan.epochs, batch_size=plan.batch_size,
               learning_rate=plan.learning_rate, schedule=None, patience=0, seed=plan.seed,
               run_eagerly=plan.run_eagerly)


def train_spec(spec: GridSpec, splits: Splits, plan: GridPlan) -> tuple[dict, keras.Model]:
    """Build, train and measure one grid model: its validation curves and final validation
    scores, the test metrics and the test predictions (for confusion matrices).

    The seed is reset for every model, so a resumed grid gives the same models as one run.

    Used in 05 §4 (by :func:`train_grid`) and §6 (to train the best model again).
    """
    keras.utils.set_random_seed(plan.seed)
    model = age_classifier(spec.n_convs, spec.head, width=plan.width, input_size=plan.input_size,
                           output_size=plan.output_size, bn_momentum=plan.bn_momentum)
    result = fit_like_grid(model, splits, plan)
    test, y_pred = test_predictions(model, splits.test, max(plan.batch_size, 256))
    entry = {"name": spec.name, "conv_layers": spec.n_convs, "head": list(spec.head),
             "parameters": int(model.count_params()), "seconds": result.seconds,
             "history": result.history, "val_accuracy": result.history["val_accuracy"][-1],
             "val_loss": result.history["val_loss"][-1], "test": test,
             "y_true": splits.test.labels.astype(int).tolist(), "y_pred": y_pred.tolist()}
    return entry, model


def grid_config(splits: Splits, plan: GridPlan, dataset: str = "") -> dict[str, Any]:
    """What the results depend on: a results file for other settings is not resumed.

    Used in 05 §4 (by :func:`train_grid`)."""
    return {"plan": {k: getattr(plan, k) for k in plan.__dataclass_fields__},
            "n_train": len(splits.train.labels), "n_val": len(splits.val.labels),
            "n_test": len(splits.test.labels), "dataset": str(dataset)}


def train_grid(specs: Sequence[GridSpec], splits: Splits, plan: GridPlan, path: str | Path, *,
               dataset: str = "", progress: bool = True,
               keep_best: Callable[[keras.Model, dict], None] | None = None,
               log: Callable[[str], None] | None = print) -> dict[str, dict]:
    """Train every model of ``specs`` on ``splits`` with :func:`run_grid` (resumable).

    Used in 05 §4 (training the 12 models)."""
    return run_grid(specs, lambda spec: train_spec(spec, splits, plan), path,
                    grid_config(splits, plan, dataset), progress=progress, keep_best=keep_best,
                    log=log)


# --------------------------------------------------------------------------- results


def grid_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Our version of the study's Fig. 2 table: one row per model, test accuracy, loss, macro precision and
    recall, per-class F1, plus validation accuracy, parameters and training seconds.

    Used in 05 §5 (the table)."""
    if not results:
        raise GridError("grid_table needs at least one result.")
    rows = {}
    for name, entry in results.items():
        rows[name] = {"conv_layers": entry["conv_layers"], "head": str(list(entry["head"])),
                      "parameters": entry["parameters"], "val_accuracy": entry["val_accuracy"],
                      **entry["test"], "seconds": entry["seconds"]}
    table = pd.DataFrame.from_dict(rows, orient="index")[TABLE_COLUMNS]
    table.index.name = "model"
    return table


def study_label(name: str) -> str:
    """A grid model's name as the study's Fig. 2 prints it: ``4conv_512-512-2`` ->
    ``4 convolution [512, 512, 2]``. Used in 05 §5 and §6."""
    stage, _, head = name.partition("_")
    return f"{stage.replace('conv', '')} convolution [{head.replace('-', ', ')}]"


def study_best_and_worst() -> tuple[str, str]:
    """The study's best and worst grid model by Fig. 2's validation accuracy (its Fig. 3 shows
    their confusion matrices): ``4conv_512-512-2`` and ``2conv_2``. Used in 05 §6."""
    ranked = sorted(study.GRID_MODELS, key=lambda n: study.value(f"study/grid/{n}/accuracy"))
    return ranked[-1], ranked[0]


def study_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """The study's Fig. 2 beside ours, one row per grid model in ``table``'s order (a model
    Fig. 2 lacks gets NaN on the study's side): the study's validation accuracy, our test and validation accuracy, and our
    test accuracy minus the study's in percentage points.

    Used in 05 §5 (recorded as ``05/vs_study``)."""
    names = list(table.index)
    seed = {n: study.value(f"study/grid/{n}/accuracy") if n in study.GRID_MODELS
            else float("nan") for n in names}
    frame = pd.DataFrame({
        "study (Fig. 2)": [study_label(n) for n in names],
        "study val accuracy (Fig. 2)": [seed[n] for n in names],
        "ours: test accuracy": table.loc[names, "accuracy"].astype(float).to_numpy(),
        "ours: val accuracy": table.loc[names, "val_accuracy"].astype(float).to_numpy()},
        index=pd.Index(names, name="model"))
    frame["test - study (points)"] = 100 * (frame["ours: test accuracy"]
                                            - frame["study val accuracy (Fig. 2)"])
    return frame


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _mean_by(table: pd.DataFrame, column: str, value: Any) -> float:
    return float(table.loc[table[column] == value, "accuracy"].astype(float).mean())


def stage_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per conv stage over its heads: the study's (Fig. 2, validation) and ours
    (test), with the change from the previous stage in points. Used in 05 §5 (does the grid's
    mean accuracy rise from 2 to 4 conv stages?)."""
    rows = {}
    for stage in sorted({int(s) for s in table["conv_layers"]}):
        names = [n for n in study.GRID_MODELS if n.startswith(f"{stage}conv_")]
        rows[stage] = {
            "study mean val accuracy (Fig. 2)":
                float(np.mean([study.value(f"study/grid/{n}/accuracy") for n in names]))
                if names else float("nan"),
            "ours: mean test accuracy": _mean_by(table, "conv_layers", stage),
            "models": int((table["conv_layers"] == stage).sum())}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "conv_layers"
    for who in ("study mean val accuracy (Fig. 2)", "ours: mean test accuracy"):
        frame[f"{who.split(':')[0].split(' mean')[0]}: change (points)"] = 100 * frame[who].diff()
    return frame


def stage_trend_line(means: pd.DataFrame) -> str:
    """One line from :func:`stage_means`: does our mean accuracy rise from the shallowest to the
    deepest conv stage, and does the study's (Fig. 2)? Used in 05 §5."""
    lo, hi = means.index.min(), means.index.max()
    parts = []
    for who, column in (("our mean test accuracy", "ours: mean test accuracy"),
                        ("the study's mean validation accuracy (Fig. 2)",
                         "study mean val accuracy (Fig. 2)")):
        a, b = float(means.loc[lo, column]), float(means.loc[hi, column])
        if not (np.isfinite(a) and np.isfinite(b)):
            continue
        trend = "rises" if b > a else "falls" if b < a else "stays"
        parts.append(f"{who} {trend} from {lo} to {hi} conv layers ({a:.4f} -> {b:.4f}, "
                     f"{100 * (b - a):+.1f} points)")
    return "; ".join(parts) + " (see 05/findings for whether ours is more than noise)."


# The study's claims about its grid, quoted exactly (abstract and Results / Conclusion).
CLAIM_DEPTH = ("Increasing the number of convolutions in the modified age-classification model "
               "roughly improved accuracy.")
CLAIM_NODES = ("The age classifier model had accuracies that approximately increased with the "
               "number of nodes and number of convolutional layers.")
CLAIM_BEST = ("The model with the highest accuracy for the age classifier was the 4 convolution "
              "[512, 512, 2]")
CLAIM_WORST = ("the model with the lowest accuracy for the age classifier was 2 convolution [2]")


def grid_findings(table: pd.DataFrame, n_test: int) -> list[study.Verdict]:
    """The study's grid claims judged on our test accuracies (``n_test`` images per model) with
    :mod:`dflearn.study`'s rule.

    * Depth: the mean over the 4-conv heads against the mean over the 2-conv heads
      (:func:`dflearn.study.judge_order`), and the ranking 4 > 3 > 2 conv stages. A mean over
      four models that all saw the *same* ``n_test`` images is not a measurement on
      ``4 * n_test`` independent images (their errors fall on the same images), so we give it
      ``n = n_test``, the conservative choice: its interval is as wide as one model's.
    * Nodes: the mean of the largest head against the mean of the ``[2]`` head, same ``n``.
    * Best and worst: "4 convolution [512, 512, 2] is the best" holds only if it beats our
      strongest other model; "2 convolution [2] is the worst" only if our weakest other model
      beats it; and Fig. 3's 92.36% / 86.17% against our accuracy of those two models
      (:func:`dflearn.study.judge_value`).

    The study's side shows Fig. 2's validation accuracies (means of Fig. 2 for the stages and
    heads). Used in 05 §5 (recorded as ``05/findings``)."""
    acc = table["accuracy"].astype(float)
    verdicts = []
    stages = sorted({int(s) for s in table["conv_layers"]})
    seed_stage = stage_means(table)["study mean val accuracy (Fig. 2)"]
    ours_stage = {s: (_mean_by(table, "conv_layers", s), n_test) for s in stages}
    label = {s: f"{s}-conv mean" for s in stages}
    if len(stages) >= 2:
        lo, hi = stages[0], stages[-1]
        verdicts.append(study.judge_order(
            label[hi], ours_stage[hi][0], n_test, label[lo], ours_stage[lo][0], n_test,
            seed_a=_finite(seed_stage.get(hi)), seed_b=_finite(seed_stage.get(lo)),
            finding=f'"{CLAIM_DEPTH}" ({hi} vs {lo} conv, mean over heads)'))
    if len(stages) >= 3:
        order = [label[s] for s in reversed(stages)]
        verdicts.append(study.judge_ranking(
            order, {label[s]: ours_stage[s] for s in stages},
            seed={label[s]: float(seed_stage[s]) for s in stages if np.isfinite(seed_stage[s])},
            finding=f'"{CLAIM_DEPTH}" (every stage: {" > ".join(order)})'))
    heads = list(dict.fromkeys(table["head"]))
    small, large = "[2]", "[1024, 512, 256, 2]"
    if small in heads and large in heads:
        def seed_head(head: str) -> float:
            names = [n for n in study.GRID_MODELS if study_label(n).endswith(head)]
            return float(np.mean([study.value(f"study/grid/{n}/accuracy") for n in names]))
        verdicts.append(study.judge_order(
            f"{large} mean", _mean_by(table, "head", large), n_test,
            f"{small} mean", _mean_by(table, "head", small), n_test,
            seed_a=seed_head(large), seed_b=seed_head(small),
            finding=f'"{CLAIM_NODES}" (nodes: largest vs smallest head, mean over stages)'))
    best, worst = study_best_and_worst()
    for name, claim, key, is_best in ((best, CLAIM_BEST, "study/grid_best/accuracy", True),
                                      (worst, CLAIM_WORST, "study/grid_worst/accuracy", False)):
        if name not in acc.index or len(acc) < 2:
            continue
        others = acc.drop(index=name)
        rival = others.idxmax() if is_best else others.idxmin()
        pair = (name, rival) if is_best else (rival, name)
        verdicts.append(study.judge_order(
            pair[0], acc[pair[0]], n_test, pair[1], acc[pair[1]], n_test,
            seed_a=study.value(f"study/grid/{pair[0]}/accuracy") if pair[0] in study.GRID_MODELS
            else None,
            seed_b=study.value(f"study/grid/{pair[1]}/accuracy") if pair[1] in study.GRID_MODELS
            else None,
            finding=f'"{claim}" (against our {"strongest" if is_best else "weakest"} other '
                    f'model)'))
        verdicts.append(study.judge_value(
            key, float(acc[name]), n_test,
            finding=f"Fig. 3: {study_label(name)} at {study.value(key):.2%}"))
    return verdicts


def best_worst_line(results: Mapping[str, Mapping[str, Any]]) -> str:
    """One line: our best and worst grid models (by validation accuracy) against the study's
    (Fig. 3), and whether they are the same models. Used in 05 §6."""
    ours = best_and_worst(results)
    seeds = study_best_and_worst()
    parts = [f"our {which} is {study_label(o)} ({o}), the study's {study_label(s)}: "
             f"{'the same model' if o == s else 'a different model'}"
             for which, o, s in zip(("best", "worst"), ours, seeds)]
    same = sum(o == s for o, s in zip(ours, seeds))
    return "; ".join(parts) + f" ({same} of 2 picked as in the study)."


def curves_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every model's per-epoch history in long form (one row per model and epoch), to save.

    Used in 05 §4 (validation curves)."""
    rows = []
    for name, entry in results.items():
        history = entry["history"]
        for epoch in range(len(next(iter(history.values()), []))):
            rows.append({"model": name, "conv_layers": entry["conv_layers"],
                         "head": str(list(entry["head"])), "epoch": epoch + 1,
                         **{k: v[epoch] for k, v in history.items() if epoch < len(v)}})
    return pd.DataFrame(rows)


def best_and_worst(results: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """Names of the best and the worst model by validation accuracy (then validation loss).

    Used in 05 §6 (best and worst model)."""
    if not results:
        raise GridError("best_and_worst needs at least one result.")
    ranked = sorted(results, key=lambda name: _score(results[name]))
    return ranked[-1], ranked[0]


def plot_accuracy_heatmap(table: pd.DataFrame, metric: str = "accuracy",
                          title: str = "Test accuracy over the grid") -> plt.Figure:
    """Heatmap of ``metric`` with conv stages as rows and dense heads as columns.

    Used in 05 §5 (accuracy over stages x heads)."""
    grid = table.pivot_table(index="conv_layers", columns="head", values=metric, sort=False)
    fig, ax = plt.subplots(figsize=(1.7 * grid.shape[1] + 2, 0.8 * grid.shape[0] + 1.8))
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    for (r, c), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        ax.text(c, r, f"{value:.3f}", ha="center", va="center",
                color="white" if value < np.nanmean(grid.to_numpy(dtype=float)) else "black")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    ax.set_xlabel("dense head (units per layer)")
    ax.set_ylabel("convolutional stage (conv layers)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=f"{metric} (fraction)")
    fig.tight_layout()
    return fig


def plot_validation_curves(results: Mapping[str, Mapping[str, Any]],
                           metrics: Sequence[str] = ("val_loss", "val_accuracy"),
                           title: str = "Validation curves of the grid") -> plt.Figure:
    """One column per conv stage and one row per metric, one line per dense head.

    Used in 05 §4 (validation curves)."""
    stages = sorted({int(r["conv_layers"]) for r in results.values()})
    fig, axes = plt.subplots(len(metrics), len(stages), figsize=(4.2 * len(stages), 3.0 * len(metrics)),
                             squeeze=False, sharey="row")
    for col, stage in enumerate(stages):
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            for entry in (r for r in results.values() if int(r["conv_layers"]) == stage):
                values = entry["history"].get(metric, [])
                ax.plot(np.arange(1, len(values) + 1), values, marker="o",
                        label=str(list(entry["head"])))
            ax.set_title(f"{stage} conv layers: {metric}")
            ax.set_xlabel("epoch")
            ax.set_ylabel(axis_label(metric))
            ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0, -1].legend(title="dense head", fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_best_worst(results: Mapping[str, Mapping[str, Any]],
                    title: str = "Test confusion matrices of our best and worst grid models "
                                 "(cf. the study's Fig. 3)") -> plt.Figure:
    """Confusion matrices of our best and worst model (by validation accuracy) side by side,
    each titled with the study's best or worst model (Fig. 3) for comparison.

    Used in 05 §6 (the study's Figure 3)."""
    best, worst = best_and_worst(results)
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.8))
    for ax, which, name, seed in zip(axes, ("best", "worst"), (best, worst),
                                     study_best_and_worst()):
        entry = results[name]
        plot_confusion(entry["y_true"], entry["y_pred"], ax=ax,
                       title=f"our {which}: {name} (test acc {entry['test']['accuracy']:.3f})\n"
                             f"study's {which}: {study_label(seed)}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- open-ended task


def check_candidate(model: Any, input_size: int, max_parameters: int | None = None) -> keras.Model:
    """``model`` if it can join the grid: a Keras model that takes ``(input_size, input_size, 3)``
    images of 0-255 pixels and ends in a 2-unit softmax or a 1-unit sigmoid, with at most
    ``max_parameters`` parameters (``None``: any number). Raises :class:`GridError` saying what
    is wrong and what to do. Used in 05 §7 (the open-ended task)."""
    if not isinstance(model, keras.Model):
        raise GridError(f"The candidate must be a keras.Model (build it with keras.Input and "
                        f"return keras.Model(inputs, outputs)); got {type(model).__name__}.")
    expected = (input_size, input_size, 3)
    try:
        input_shape, output_shape = model.input_shape, model.output_shape
    except (AttributeError, ValueError):
        raise GridError(f"The candidate has no input yet: start it with "
                        f"keras.Input(shape={expected}) (the functional API).") from None
    shape = tuple(input_shape[1:]) if not isinstance(input_shape, list) else None
    if shape != expected:
        raise GridError(f"The candidate must take one input of shape (None, {input_size}, "
                        f"{input_size}, 3), the 0-255 images of the splits; its input shape is "
                        f"{input_shape}. Start it with keras.Input(shape={expected}).")
    units = output_shape[-1] if not isinstance(output_shape, list) else None
    if units not in (1, 2):
        raise GridError(f"The candidate must end in a 2-unit softmax (like the grid) or a 1-unit "
                        f"sigmoid; its output shape is {output_shape}.")
    parameters = int(model.count_params())
    if max_parameters is not None and parameters > max_parameters:
        raise GridError(f"The candidate has {parameters:,} parameters, more than the bar's "
                        f"{max_parameters:,}: use fewer filters or units, or global pooling "
                        f"instead of a large dense layer.")
    return model


def train_candidate(build: Callable[[int], keras.Model], splits: Splits, plan: GridPlan,
                    max_parameters: int | None = None) -> tuple[keras.Model, FitResult]:
    """Build a model with ``build(plan.input_size)`` (seeded like every grid model), check it
    with :func:`check_candidate`, and train it exactly as the grid's models were trained
    (:func:`fit_like_grid`). Used in 05 §7 (the open-ended task)."""
    keras.utils.set_random_seed(plan.seed)
    model = check_candidate(build(plan.input_size), plan.input_size, max_parameters)
    return model, fit_like_grid(model, splits, plan)


def accuracy_on(model: keras.Model, data: Dataset) -> float:
    """Share of ``data``'s images that ``model`` labels correctly (P(REAL) >= 0.5 means REAL).

    Used in 05 §7 (by :func:`candidate_margin`)."""
    if len(data.labels) == 0:
        raise GridError("The data set to score on has no images.")
    return float(evaluate(model, data)["accuracy"])


def candidate_margin(model: keras.Model, reference: keras.Model, data: Dataset,
                     max_parameters: int | None = None) -> dict[str, float]:
    """The open-ended task's score: the candidate's accuracy on ``data``, the ``reference``'s
    (the grid's best model) on the same images, and the margin in percentage points. The
    candidate is checked first (:func:`check_candidate`, at the size of ``data``'s images).

    Used in 05 §7 (the open-ended task) and by its hidden test."""
    check_candidate(model, int(data.images.shape[1]), max_parameters)
    mine, theirs = accuracy_on(model, data), accuracy_on(reference, data)
    return {"accuracy": round(mine, 4), "reference_accuracy": round(theirs, 4),
            "margin_points": round(100 * (mine - theirs), 2),
            "parameters": int(model.count_params()),
            "reference_parameters": int(reference.count_params())}
