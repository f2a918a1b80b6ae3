"""dflearn.study: every reported number in one shape, cited, and found by key; and the one rule
that judges a finding (Wilson intervals, judge_order / judge_value / judge_ranking)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from dflearn import study

# Metrics that are fractions (an accuracy, a rate); every other reported number is positive.
FRACTIONS = ("accuracy", "precision", "recall", "f1", "sensitivity", "specificity", "dropout",
             "reduction_factor", "label_smoothing", "data_fraction")


def test_every_number_is_cited_and_in_range() -> None:
    for key, number in study.REPORTED.items():
        parts = key.split("/")
        assert parts[0] == number.seed and number.seed in study.SEEDS, key
        assert key == key.lower() and len(parts) >= 3 and all(parts), key
        assert isinstance(number.value, (int, float)) and number.value == number.value, key
        if any(f in parts[-1] for f in FRACTIONS):
            assert 0 <= number.value <= 1, key
        elif parts[-1] == "low":  # the lower end of a search range may be 0
            assert number.value >= 0, key
        else:
            assert number.value > 0, key
        assert number.where and number.metric and number.data, key
        assert number.n is None or (isinstance(number.n, int) and number.n > 0), key
        assert number.cite().startswith(f"{number.seed}, {number.where}: ")


def test_fig1_numbers_as_the_study_prints_them() -> None:
    assert study.value("study/personal_cnn/accuracy") == 0.9696
    assert study.value("study/personal_cnn_second/accuracy") == 0.8112
    assert study.reported("study/resnet50_transfer/accuracy").where == "Fig. 1"
    assert study.value("study/resnet50_transfer/loss") == 0.17463
    assert study.value("study/vgg19_scratch/accuracy") == 0.5025
    assert (study.value("study/vgg16_transfer/f1_a"), study.value("study/vgg16_transfer/f1_b")) \
        == (0.8221, 0.7955)
    assert study.value("study/vgg16_scratch/f1") == 0.6689
    assert study.value("study/personal_cnn_second/precision") == 0.8215
    fig1 = study.table(prefix="study/").query("where == 'Fig. 1'")
    assert len(fig1) == 4 * 6 + 3 * 5  # F1 pairs for 4 models, one F1 for 3
    assert "not stated" in study.reported("study/personal_cnn/f1_a").metric


def test_fig2_grid_has_the_12_gridspec_models() -> None:
    from dflearn.grid import CONV_STAGES, DENSE_HEADS
    from dflearn.models import GridSpec

    names = [GridSpec(n, head).name for n in CONV_STAGES for head in DENSE_HEADS]
    assert list(study.GRID_MODELS) == names and len(names) == 12
    grid = study.table(prefix="study/grid/")
    assert {k.split("/")[2] for k in grid.index} == set(names)
    for name in names:
        for metric in ("accuracy", "loss", "precision", "recall", "f1_a", "f1_b"):
            assert study.reported(f"study/grid/{name}/{metric}").where == "Fig. 2"
    accuracy = {n: study.value(f"study/grid/{n}/accuracy") for n in names}
    assert max(accuracy, key=accuracy.get) == "4conv_512-512-2"
    assert min(accuracy, key=accuracy.get) == "2conv_2"
    # Fig. 3's caption truncates Fig. 2's numbers to two decimals of a percent.
    assert int(accuracy["4conv_512-512-2"] * 1e4) / 1e4 == study.value("study/grid_best/accuracy")
    assert int(accuracy["2conv_2"] * 1e4) / 1e4 == study.value("study/grid_worst/accuracy")
    assert study.value("study/grid/2conv_2/accuracy") == 0.86175


def test_fig17_before_and_after() -> None:
    for model in study.FIG17_MODELS:
        for phase in ("before", "after"):
            for metric in ("val_accuracy", "val_loss", "train_accuracy", "train_loss"):
                assert study.reported(f"study/fig17/{model}/{phase}/{metric}").where == "Fig. 17"
    assert study.value("study/fig17/resnet50/after/val_accuracy") == 0.9398
    assert study.value("study/fig17/vgg_transfer/before/val_loss") == 10.9039
    assert "epoch 8" in study.reported("study/fig17/personal_cnn/after/val_accuracy").metric


def test_companion_projects_spot_values() -> None:
    assert study.value("lightweight/mobilenet_cnn/accuracy") == 0.9683
    assert (study.value("lightweight/mobilenet_cnn/precision"),
            study.value("lightweight/mobilenet_cnn/recall"),
            study.value("lightweight/mobilenet_cnn/f1")) == (0.9643, 0.9727, 0.9685)
    assert study.value("lightweight/improved_dense_cnn/parameters") == 1786177
    table1 = study.table(prefix="gan/table1/")
    assert len(table1) >= 6 and set(table1["where"]) == {"Table 1"}
    assert study.value("gan/table1/baseline/fid") == 207.95
    assert [study.value(f"gan/table1/{row}/fid") for row in (
        "baseline", "baseline_ls", "baseline_ttur", "wgan_gp", "wgan_ttur_1e-4_1e-5",
        "wgan_ttur_3e-4_1e-4")] == [207.95, 266.97, 319.58, 192.60, 253.69, 247.06]
    assert len(study.table(prefix="gan/table3/")) == 6 * 4
    assert study.value("gan/table3/model_3/precision") == 0.92
    assert study.value("ensemble/three_cnn/accuracy") == 0.8978
    assert study.value("ensemble/three_cnn_dilated/accuracy") == 0.9303
    assert study.value("ensemble/skip_con_cnn/accuracy") == 0.9264
    assert "5-class" in study.reported("ensemble/ensemble_cnn/accuracy").data
    assert study.value("faces/own_cnn/accuracy") == 0.8736
    assert (study.value("faces/densenet121/sensitivity"),
            study.value("faces/densenet121/specificity")) == (0.8732, 0.9315)
    assert "REAL images classified REAL" in study.reported("faces/own_cnn/sensitivity").metric
    table1 = [study.value(f"faces/own_cnn/{h}")
              for h in ("max_learning_rate", "weight_decay", "dropout", "batch_size")]
    assert table1 == [0.001, 0.0007, 0.35, 128]


def test_unknown_key_lists_the_seed_keys() -> None:
    with pytest.raises(KeyError, match="study/personal_cnn/accuracy"):
        study.value("study/personal/accuracy")


def test_table_per_seed_and_prefix() -> None:
    faces = study.table("faces")
    assert set(faces["seed"]) == {"faces"} and "faces/own_cnn/accuracy" in faces.index
    assert list(faces.columns) == ["value", "seed", "where", "metric", "data", "n"]
    per_seed = sum(len(study.table(s)) for s in study.SEEDS)
    assert per_seed == len(study.table()) == len(study.REPORTED)
    assert len(study.table(prefix="study/grid/")) == 12 * 8
    assert study.table(prefix="study/grid/4conv_512-512-2/").loc[
        "study/grid/4conv_512-512-2/accuracy", "n"] == 12_000
    with pytest.raises(KeyError, match="Unknown seed"):
        study.table("nobody")
    with pytest.raises(KeyError, match="No reported number under prefix"):
        study.table("faces", prefix="study/")


# --------------------------------------------------------------------------- the rule


def test_wilson_interval_against_known_values() -> None:
    low, high = study.accuracy_interval(0.9, 100)
    assert low == pytest.approx(0.8256, abs=1e-4) and high == pytest.approx(0.9448, abs=1e-4)
    assert study.accuracy_interval(1.0, 50)[1] == 1.0 and study.accuracy_interval(0.0, 50)[0] == 0.0
    wide, narrow = study.accuracy_interval(0.9, 100, 0.99), study.accuracy_interval(0.9, 100, 0.9)
    assert wide[0] < low < narrow[0] and narrow[1] < high < wide[1]
    for bad in ((1.2, 100), (0.5, 0), (0.5, 10.5)):
        with pytest.raises(ValueError):
            study.accuracy_interval(*bad)


def test_judge_order_every_branch() -> None:
    holds = study.judge_order("ResNet50", 0.93, 4000, "DenseNet121", 0.85, 4000,
                              seed_a=0.9355, seed_b=0.8378)
    assert holds.verdict == "holds" and holds.holds
    assert "0.9300" in holds.text and "0.8500" in holds.text and "n=4000" in holds.text
    assert holds.seed_number == "ResNet50 0.9355 > DenseNet121 0.8378"
    assert re.search(r"\[0\.\d{4}, 0\.\d{4}\].*\[0\.\d{4}, 0\.\d{4}\]", holds.text)
    assert holds.numbers["low_a"] > holds.numbers["high_b"]

    overlap = study.judge_order("ResNet50", 0.90, 200, "DenseNet121", 0.88, 200)
    assert overlap.verdict == "inconclusive" and "overlap" in overlap.text

    refuted = study.judge_order("ResNet50", 0.80, 4000, "DenseNet121", 0.90, 4000)
    assert refuted.verdict == "refuted" and "reversed" in refuted.text

    # A reversed order within the intervals is only inconclusive, and a tie is never a win.
    assert study.judge_order("A", 0.88, 200, "B", 0.90, 200).verdict == "inconclusive"
    equal = study.judge_order("A", 0.9, 100_000, "B", 0.9, 100_000)
    assert equal.verdict == "inconclusive" and "equal" in equal.text

    # claim "b > a" flips who must win.
    assert study.judge_order("A", 0.80, 4000, "B", 0.90, 4000, claim="b > a").verdict == "holds"
    with pytest.raises(ValueError, match="claim"):
        study.judge_order("A", 0.8, 10, "B", 0.9, 10, claim="a >= b")


def test_judge_value_every_branch() -> None:
    inside = study.judge_value(0.9696, 0.965, 4000)
    assert inside.verdict == "holds" and "inside" in inside.text and "n=4000" in inside.text
    above = study.judge_value("study/personal_cnn/accuracy", 0.92, 4000)
    assert above.verdict == "refuted" and "above" in above.text and "0.9696" in above.text
    assert above.finding == "study/personal_cnn/accuracy"
    below = study.judge_value(0.5025, 0.60, 1000)
    assert below.verdict == "refuted" and "below" in below.text
    with pytest.raises(ValueError, match="comparable"):
        study.judge_value(0.9, 0.9, 100, comparable=False)
    with pytest.raises(ValueError, match="5-class"):
        study.judge_value("ensemble/ensemble_cnn/accuracy", 0.93, 1000)


def test_judge_ranking_every_branch() -> None:
    claim = ["resnet50", "densenet121", "vgg16"]
    seed = {"resnet50": 0.9355, "densenet121": 0.8378, "vgg16": 0.8097}
    holds = study.judge_ranking(claim, {"resnet50": (0.93, 4000), "densenet121": (0.85, 4000),
                                        "vgg16": (0.80, 4000)}, seed=seed)
    assert holds.verdict == "holds" and len(holds.parts) == 2
    assert holds.seed_number == "resnet50 0.9355 > densenet121 0.8378 > vgg16 0.8097"

    all_tie = study.judge_ranking(claim, {"resnet50": (0.80, 100), "densenet121": (0.79, 100),
                                          "vgg16": (0.78, 100)})
    assert all_tie.verdict == "inconclusive" and not all_tie.holds
    assert all(p.verdict == "inconclusive" for p in all_tie.parts)

    partly = study.judge_ranking(claim, {"resnet50": (0.93, 4000), "densenet121": (0.85, 4000),
                                         "vgg16": (0.849, 4000)})
    assert partly.verdict == "inconclusive"

    refuted = study.judge_ranking(claim, {"resnet50": (0.95, 4000), "densenet121": (0.80, 4000),
                                          "vgg16": (0.90, 4000)})
    assert refuted.verdict == "refuted" and "densenet121 > vgg16 refuted" in refuted.text

    with pytest.raises(KeyError, match="vgg16"):
        study.judge_ranking(claim, {"resnet50": (0.9, 10), "densenet121": (0.8, 10)})
    with pytest.raises(ValueError):
        study.judge_ranking(["resnet50"], {"resnet50": (0.9, 10)})


def test_findings_table_columns() -> None:
    rows = [study.judge_value("study/personal_cnn/accuracy", 0.965, 4000),
            study.judge_order("a", 0.9, 1000, "b", 0.8, 1000),
            {"finding": "by hand", "seed_number": "0.9", "ours": "0.9 (n=10)",
             "interval": "[0.6, 1.0]", "verdict": "holds"}]
    frame = study.findings_table(rows)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3
    assert list(frame.columns) == list(study.FINDINGS_COLUMNS) == \
        ["finding", "seed_number", "ours", "interval", "verdict", "text"]
    assert frame["verdict"].tolist() == ["holds", "holds", "holds"]
    assert frame.loc[2, "text"] == ""
    with pytest.raises(ValueError, match="verdict"):
        study.findings_table([{**rows[2], "verdict": "maybe"}])
    assert list(study.findings_table([]).columns) == list(study.FINDINGS_COLUMNS)


# --------------------------------------------------------------------------- no duplicates


def _distinctive(number: float) -> bool:
    """A value distinctive enough that seeing it as a literal elsewhere means a copied number:
    at least 3 significant digits, and (for whole numbers) at least 10,000."""
    if float(number).is_integer():
        return abs(number) >= 10_000
    digits = repr(float(number)).replace("-", "").replace(".", "").lstrip("0").rstrip("0")
    return len(digits) >= 3


def _literal_pattern(number: float) -> re.Pattern[str]:
    forms = [repr(int(number)), f"{int(number):_}"] if float(number).is_integer() \
        else [repr(float(number))]
    return re.compile(r"(?<![\w.])(?:" + "|".join(map(re.escape, forms)) + r")(?![\w.])")


def test_distinctive_filter() -> None:
    assert _distinctive(0.9696) and _distinctive(207.95) and _distinctive(1786177)
    assert not any(_distinctive(v) for v in (0.5, 1.0, 0.1, 0.35, 0.99, 128, 0.001, 727))
    pattern = _literal_pattern(0.9236)
    assert pattern.search("x = 0.9236\n") and not pattern.search("0.92366") \
        and not pattern.search("10.9236")


def test_no_other_module_hard_codes_a_reported_number() -> None:
    """The distinctive reported values appear as literals only in dflearn/study.py."""
    root = Path(study.__file__).parent
    patterns = {v: _literal_pattern(v) for v in {r.value for r in study.REPORTED.values()}
                if _distinctive(v)}
    found = {}
    for path in sorted(root.rglob("*.py")):
        if path.name == "study.py" and path.parent == root:
            continue
        text = path.read_text(encoding="utf-8")
        hits = sorted(repr(v) for v, p in patterns.items() if p.search(text))
        if hits:
            found[str(path.relative_to(root))] = hits
    assert not found, f"reported numbers hard-coded outside dflearn/study.py: {found}"
