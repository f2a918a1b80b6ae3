"""Tests for dflearn.grid: the stage arithmetic, the grid builder and the resumable loop, and
the grid models of dflearn.models (age_classifier, pooling_plan) they rest on."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from dflearn import grid, models, study  # noqa: E402
from dflearn.data import Dataset  # noqa: E402
from dflearn.splits import Splits  # noqa: E402


def fake_entry(spec: models.GridSpec, val_accuracy: float) -> dict:
    """A result as train_spec writes it, with made-up numbers."""
    y_true = [0, 0, 1, 1]
    return {"name": spec.name, "conv_layers": spec.n_convs, "head": list(spec.head),
            "parameters": 10 * spec.n_convs, "seconds": 0.1,
            "history": {"val_loss": [0.7, 0.6], "val_accuracy": [0.5, val_accuracy]},
            "val_accuracy": val_accuracy, "val_loss": 1 - val_accuracy,
            "test": {"loss": 0.5, "accuracy": val_accuracy, "precision_macro": 0.5,
                     "recall_macro": 0.5, "f1_FAKE": 0.5, "f1_REAL": 0.5},
            "y_true": y_true, "y_pred": [0, 1, 1, 1]}


# --------------------------------------------------------------------------- the grid


def test_default_grid_is_the_studys_twelve_models():
    specs = grid.grid_specs()
    assert len(specs) == 12
    assert [s.name for s in specs[:4]] == ["2conv_2", "2conv_512-2", "2conv_512-512-2",
                                           "2conv_1024-512-256-2"]
    assert {s.n_convs for s in specs} == {2, 3, 4}


def test_changing_a_list_changes_the_grid():
    specs = grid.grid_specs([1, 2], [[2], [64, 2], [32, 32, 2]])
    assert [s.name for s in specs] == ["1conv_2", "1conv_64-2", "1conv_32-32-2",
                                       "2conv_2", "2conv_64-2", "2conv_32-32-2"]


@pytest.mark.parametrize("heads", [[[512]], [[512, 3]], [[]], [[0, 2]]])
def test_bad_heads_are_refused(heads):
    with pytest.raises(grid.GridError, match="ending with the 2-unit"):
        grid.grid_specs([2], heads)


def test_repeated_entries_are_refused():
    with pytest.raises(grid.GridError, match="repeat"):
        grid.grid_specs([2, 2], [[2]])


@pytest.mark.parametrize("n_convs, plan", [(1, [8]), (2, [4, 2]), (3, [2, 2, 2]),
                                           (4, [2, 2, 2, 1]), (5, [2, 2, 2, 1, 1])])
def test_pooling_plan_always_shrinks_32_to_4(n_convs, plan):
    assert models.pooling_plan(n_convs, 32, 4) == plan
    assert np.prod(plan) == 8


def test_pooling_plan_refuses_sizes_that_cannot_meet():
    with pytest.raises(models.ModelConfigError, match="power of 2"):
        models.pooling_plan(2, 32, 5)
    with pytest.raises(models.ModelConfigError, match="power of 2"):
        models.pooling_plan(2, 4, 8)
    with pytest.raises(models.ModelConfigError, match="at least one convolution"):
        models.pooling_plan(0, 32, 4)


@pytest.mark.parametrize("args, expected", [((32, 3, 1, 1), 32), ((32, 2, 2, 0), 16),
                                            ((32, 4, 4, 0), 8), ((7, 3, 2, 1), 4), ((32, 3, 1, 0), 30)])
def test_conv_output_size(args, expected):
    assert grid.conv_output_size(*args) == expected


@pytest.mark.parametrize("n_convs", [2, 3, 4])
def test_stage_arithmetic_ends_at_the_output_size(n_convs):
    table = grid.stage_arithmetic(n_convs, 32, 4)
    assert table["size_out"].iloc[-1] == 4
    assert table["channels"].iloc[-1] == models.FINAL_FILTERS
    assert (table["size_in"].iloc[1:].to_numpy() == table["size_out"].iloc[:-1].to_numpy()).all()


def test_every_model_ends_at_the_same_feature_map_and_matches_the_arithmetic():
    built = grid.build_grid(width=0.125)
    assert len(built) == 12
    for name, model in built.items():
        n_convs = int(name[0])
        last = model.get_layer(f"pool{n_convs}" if n_convs < 4 else f"conv{n_convs}_relu")
        assert tuple(last.output.shape[1:]) == (4, 4, 16), name
        assert model.get_layer("flatten").output.shape[-1] == 256
        assert model.output_shape == (None, 2)
        sizes = grid.stage_arithmetic(n_convs)["size_out"]
        for layer_name, size in sizes.items():
            assert model.get_layer(layer_name).output.shape[1] == size, (name, layer_name)


def test_dense_head_parameters_match_keras():
    model = models.age_classifier(2, [64, 32, 2], width=1.0)
    dense = sum(layer.count_params() for layer in model.layers if layer.name.startswith("dense")
                or layer.name == "softmax")
    assert grid.dense_head_parameters(4 * 4 * 128, [64, 32, 2]) == dense


# --------------------------------------------------------------------------- resumable loop


class Trainer:
    """A fake train_one: records the specs it trains and can fail at a given call."""

    def __init__(self, accuracies: dict[str, float], fail_at: int | None = None):
        self.accuracies = accuracies
        self.fail_at = fail_at
        self.trained: list[str] = []

    def __call__(self, spec: models.GridSpec) -> tuple[dict, str]:
        if self.fail_at is not None and len(self.trained) == self.fail_at:
            raise KeyboardInterrupt("interrupted")
        self.trained.append(spec.name)
        return fake_entry(spec, self.accuracies[spec.name]), f"model-{spec.name}"


@pytest.fixture
def specs():
    return grid.grid_specs([2, 3], [[2], [8, 2]])


@pytest.fixture
def accuracies(specs):
    return dict(zip([s.name for s in specs], [0.6, 0.9, 0.7, 0.8]))


def test_an_interrupted_grid_resumes_without_retraining(tmp_path, specs, accuracies):
    path = tmp_path / "grid.json"
    config = {"epochs": 1}
    first = Trainer(accuracies, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        grid.run_grid(specs, first, path, config, log=None)
    assert first.trained == ["2conv_2", "2conv_8-2"]
    assert set(json.loads(path.read_text())["results"]) == set(first.trained)

    messages = []
    second = Trainer(accuracies)
    results = grid.run_grid(specs, second, path, config, log=messages.append)
    assert second.trained == ["3conv_2", "3conv_8-2"]
    assert list(results) == [s.name for s in specs]
    assert "2 of 4 models already" in messages[0]

    third = Trainer(accuracies)
    grid.run_grid(specs, third, path, config, log=None)
    assert third.trained == []


def test_other_settings_start_the_grid_again(tmp_path, specs, accuracies):
    path = tmp_path / "grid.json"
    grid.run_grid(specs, Trainer(accuracies), path, {"epochs": 1}, log=None)
    again = Trainer(accuracies)
    grid.run_grid(specs, again, path, {"epochs": 2}, log=None)
    assert again.trained == [s.name for s in specs]


def test_a_new_head_trains_only_the_new_models(tmp_path, specs, accuracies):
    path = tmp_path / "grid.json"
    grid.run_grid(specs, Trainer(accuracies), path, {}, log=None)
    bigger = grid.grid_specs([2, 3], [[2], [8, 2], [4, 2]])
    more = Trainer({**accuracies, "2conv_4-2": 0.5, "3conv_4-2": 0.5})
    results = grid.run_grid(bigger, more, path, {}, log=None)
    assert more.trained == ["2conv_4-2", "3conv_4-2"]
    assert len(results) == 6


def test_a_corrupt_results_file_is_ignored(tmp_path, specs, accuracies):
    path = tmp_path / "grid.json"
    path.write_text("{not json")
    trainer = Trainer(accuracies)
    grid.run_grid(specs, trainer, path, {}, log=None)
    assert len(trainer.trained) == 4


def test_keep_best_follows_validation_accuracy_across_a_resume(tmp_path, specs, accuracies):
    path = tmp_path / "grid.json"
    kept = []
    keep = lambda model, entry: kept.append(model)  # noqa: E731
    with pytest.raises(KeyboardInterrupt):
        grid.run_grid(specs, Trainer(accuracies, fail_at=3), path, {}, keep_best=keep, log=None)
    grid.run_grid(specs, Trainer(accuracies), path, {}, keep_best=keep, log=None)
    # 0.6 then 0.9 are new bests; 0.7 and (after the resume) 0.8 are not.
    assert kept == ["model-2conv_2", "model-2conv_8-2"]


def test_train_spec_measures_a_real_model():
    rng = np.random.default_rng(0)

    def data(n: int) -> Dataset:
        return Dataset(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 2,
                       np.array([f"{i}.jpg" for i in range(n)]))

    splits = Splits(data(16), data(8), data(10))
    plan = grid.GridPlan(epochs=2, batch_size=8, width=0.125, run_eagerly=True)
    entry, model = grid.train_spec(models.GridSpec(2, (8, 2)), splits, plan)
    assert entry["name"] == "2conv_8-2" and model.name == "2conv_8-2"
    assert len(entry["history"]["val_accuracy"]) == 2
    assert entry["val_accuracy"] == entry["history"]["val_accuracy"][-1]
    assert len(entry["y_pred"]) == 10 and set(entry["y_pred"]) <= {0, 1}
    assert entry["test"]["accuracy"] == pytest.approx(
        np.mean(np.array(entry["y_pred"]) == splits.test.labels))
    json.dumps(entry)  # the results file must be able to hold it


# --------------------------------------------------------------------------- results


def test_table_best_worst_and_plots(specs, accuracies):
    results = {s.name: fake_entry(s, accuracies[s.name]) for s in specs}
    table = grid.grid_table(results)
    assert list(table.columns) == grid.TABLE_COLUMNS
    assert table.loc["2conv_8-2", "head"] == "[8, 2]"
    assert grid.best_and_worst(results) == ("2conv_8-2", "2conv_2")

    fig = grid.plot_accuracy_heatmap(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[2]", "[8, 2]"]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    fig = grid.plot_best_worst(results)
    assert "2conv_8-2" in fig.axes[0].get_title() and "2conv_2" in fig.axes[1].get_title()
    assert "study's best: 4 convolution [512, 512, 2]" in fig.axes[0].get_title()
    assert "study's worst: 2 convolution [2]" in fig.axes[1].get_title()
    fig = grid.plot_validation_curves(results)
    assert len(fig.axes) == 4 and all(ax.get_ylabel() for ax in fig.axes)
    matplotlib.pyplot.close("all")


def test_study_labels_and_the_studys_best_and_worst():
    assert grid.study_label("4conv_512-512-2") == "4 convolution [512, 512, 2]"
    assert grid.study_label("2conv_2") == "2 convolution [2]"
    assert grid.study_best_and_worst() == ("4conv_512-512-2", "2conv_2")


def full_table(accuracy: dict[str, float]) -> pd.DataFrame:
    """A grid table of the study's 12 models with the given test accuracies."""
    specs = grid.grid_specs()
    results = {s.name: fake_entry(s, accuracy[s.name]) for s in specs}
    return grid.grid_table(results)


def test_study_comparison_has_one_row_per_model_with_figure_2_beside_ours(specs, accuracies):
    table = grid.grid_table({s.name: fake_entry(s, accuracies[s.name]) for s in specs})
    frame = grid.study_comparison(table)
    assert list(frame.index) == ["2conv_2", "2conv_8-2", "3conv_2", "3conv_8-2"]
    assert frame.loc["2conv_2", "study val accuracy (Fig. 2)"] == \
        study.value("study/grid/2conv_2/accuracy")
    assert np.isnan(frame.loc["2conv_8-2", "study val accuracy (Fig. 2)"])  # not in Fig. 2
    assert frame.loc["2conv_2", "ours: test accuracy"] == 0.6
    assert frame.loc["2conv_2", "ours: val accuracy"] == 0.6
    assert frame.loc["2conv_2", "test - study (points)"] == pytest.approx(
        100 * (0.6 - study.value("study/grid/2conv_2/accuracy")))
    full = grid.study_comparison(full_table({n: 0.9 for n in study.GRID_MODELS}))
    assert list(full.index) == list(study.GRID_MODELS)
    assert full.loc["4conv_512-512-2", "study (Fig. 2)"] == "4 convolution [512, 512, 2]"


def test_stage_means_say_whether_accuracy_rises_with_depth():
    accuracy = {n: {2: 0.6, 3: 0.7, 4: 0.8}[int(n[0])] for n in study.GRID_MODELS}
    means = grid.stage_means(full_table(accuracy))
    assert list(means.index) == [2, 3, 4]
    assert means.loc[4, "ours: mean test accuracy"] == pytest.approx(0.8)
    assert means.loc[4, "ours: change (points)"] == pytest.approx(10.0)
    seed4 = np.mean([study.value(f"study/grid/{n}/accuracy") for n in study.GRID_MODELS
                     if n.startswith("4conv")])
    assert means.loc[4, "study mean val accuracy (Fig. 2)"] == pytest.approx(seed4)


def test_grid_findings_judge_depth_nodes_best_and_worst():
    # depth and head both help; 4conv_512-512-2 best, 2conv_2 worst, both at Fig. 3's values:
    # with many images every claim holds
    accuracy = dict(zip(study.GRID_MODELS, [0.8617, 0.87, 0.875, 0.88, 0.89, 0.895, 0.90, 0.905,
                                            0.905, 0.91, 0.9236, 0.915]))
    verdicts = grid.grid_findings(full_table(accuracy), n_test=200_000)
    frame = study.findings_table(verdicts)
    assert len(frame) == 7
    assert grid.CLAIM_DEPTH in frame.loc[0, "finding"]
    assert frame.loc[0, "verdict"] == "holds" and frame.loc[1, "verdict"] == "holds"
    assert "(n=200000)" in frame.loc[0, "ours"]          # a mean over heads keeps n = n_test
    assert frame.loc[2, "verdict"] == "holds"            # [1024, 512, 256, 2] > [2]
    assert frame.loc[3, "verdict"] == "holds" and "4conv_1024-512-256-2" in frame.loc[3, "text"]
    assert frame.loc[4, "verdict"] == "holds" and frame.loc[4, "seed_number"] == "0.9236"
    assert frame.loc[5, "verdict"] == "holds" and frame.loc[6, "verdict"] == "holds"
    # with few images the same numbers are inconclusive; with depth reversed it is refuted
    few = study.findings_table(grid.grid_findings(full_table(accuracy), n_test=50))
    assert few.loc[0, "verdict"] == "inconclusive"
    reversed_depth = {n: 0.95 - 0.1 * int(n[0]) for n in study.GRID_MODELS}
    refuted = study.findings_table(grid.grid_findings(full_table(reversed_depth), 200_000))
    assert refuted.loc[0, "verdict"] == "refuted" and refuted.loc[3, "verdict"] != "holds"


def test_best_worst_line_names_both_and_says_if_the_same():
    accuracy = {n: 0.8 for n in study.GRID_MODELS}
    accuracy.update({"4conv_512-512-2": 0.95, "2conv_2": 0.6})
    results = {s.name: fake_entry(s, accuracy[s.name]) for s in grid.grid_specs()}
    line = grid.best_worst_line(results)
    assert "our best is 4 convolution [512, 512, 2] (4conv_512-512-2)" in line
    assert "2 of 2 picked as in the study" in line and "a different model" not in line
    results["3conv_2"] = fake_entry(grid.grid_specs([3], [[2]])[0], 0.99)
    line = grid.best_worst_line(results)
    assert "our best is 3 convolution [2] (3conv_2), the study's 4 convolution [512, 512, 2]: " \
           "a different model" in line and "1 of 2" in line


def test_curves_table_has_one_row_per_model_and_epoch(specs, accuracies):
    results = {s.name: fake_entry(s, accuracies[s.name]) for s in specs}
    curves = grid.curves_table(results)
    assert len(curves) == 2 * len(specs)
    assert list(curves.columns[:4]) == ["model", "conv_layers", "head", "epoch"]
    row = curves[(curves["model"] == "2conv_8-2") & (curves["epoch"] == 2)].iloc[0]
    assert row["val_accuracy"] == 0.9 and row["val_loss"] == 0.6


def test_a_plan_from_the_profile_settings():
    from dataclasses import fields

    from dflearn import get_profile

    settings = get_profile("ci").for_notebook("05")
    # as notebook 05 §4 builds it
    plan = grid.GridPlan(epochs=settings.epochs, batch_size=settings.batch_size,
                         learning_rate=settings.learning_rate, width=settings.width,
                         input_size=settings.image_size, bn_momentum=settings.bn_momentum,
                         run_eagerly=settings.run_eagerly, seed=3)
    assert (plan.epochs, plan.batch_size, plan.width, plan.seed) == (
        settings.epochs, settings.batch_size, settings.width, 3)
    assert plan.learning_rate == settings.learning_rate
    assert plan.run_eagerly == settings.run_eagerly
    # every knob of the plan but the fixed ones is a setting of notebook 05
    knobs = {f.name for f in fields(grid.GridPlan)} - {"input_size", "output_size", "seed"}
    assert knobs <= {f.name for f in fields(settings)}


def test_bn_momentum_reaches_every_batchnorm():
    model = models.age_classifier(3, [8, 2], width=0.125, bn_momentum=0.5)
    bns = [layer for layer in model.layers if layer.name.endswith("_bn")]
    assert len(bns) == 3 and all(layer.momentum == 0.5 for layer in bns)


def test_empty_results_are_refused():
    with pytest.raises(grid.GridError):
        grid.grid_table({})
    with pytest.raises(grid.GridError):
        grid.best_and_worst({})


def test_stage_trend_line_says_rises_or_falls():
    rising = {n: {2: 0.6, 3: 0.7, 4: 0.8}[int(n[0])] for n in study.GRID_MODELS}
    line = grid.stage_trend_line(grid.stage_means(full_table(rising)))
    assert "our mean test accuracy rises from 2 to 4 conv layers (0.6000 -> 0.8000, +20.0 points)" \
        in line
    assert "the study's mean validation accuracy (Fig. 2) rises" in line
    falling = {n: {2: 0.8, 3: 0.7, 4: 0.6}[int(n[0])] for n in study.GRID_MODELS}
    assert "our mean test accuracy falls" in grid.stage_trend_line(
        grid.stage_means(full_table(falling)))
