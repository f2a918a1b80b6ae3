"""Lesson module of 04; imports only the core. Transfer learning as the seed study did it:
two-phase training of the ``keras.applications`` backbones of :mod:`dflearn.backbones`, the
results beside the reported numbers (:mod:`dflearn.study`), and the Personal CNN's results on
a second dataset.

Each backbone (VGG16, DenseNet121, ResNet50) is trained in two phases, following keras.io's
transfer-learning guide:

1. **frozen**: the pretrained base is frozen and only a new head is trained;
2. **fine-tuned**: the base is unfrozen from the study's unfreeze point and the whole model is
   trained again with a low learning rate (:func:`dflearn.training.unfreeze_from`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from dflearn import study
from dflearn.backbones import BACKBONES, RANDOM_INIT, TransferModel
from dflearn.metrics import STUDY_COLUMNS, evaluate
from dflearn.splits import Splits
from dflearn.training import FitResult, describe_unfrozen, fit


class TransferError(ValueError):
    """A results table or findings that cannot be built from the runs given."""


FACES_LABEL = "DenseNet121 (faces head)"
# The reported number each of 04's models is compared with in 04 §5 (keys of
# dflearn.study.REPORTED).
STUDY_KEYS: Mapping[str, str] = {"VGG16": "study/vgg16_transfer/accuracy",
                                 "DenseNet121": "study/densenet121_transfer/accuracy",
                                 "ResNet50": "study/resnet50_transfer/accuracy",
                                 FACES_LABEL: "faces/densenet121/accuracy"}
# The study's validation accuracies of the three backbones, keyed by our labels (04 §2, §5).
STUDY_ACCURACY: Mapping[str, float] = {b.label: study.value(STUDY_KEYS[b.label])
                                       for b in BACKBONES.values()}
# The study's accuracy of its Personal CNN fine-tuned on its second dataset (04 §6).
SECOND_KEY = "study/personal_cnn_second/accuracy"


# The models 04 §3 builds, (backbone, head): the study's three, then the faces project's head.
STUDY_MODELS: tuple[tuple[str, str], ...] = (
    ("vgg16", "study"), ("densenet121", "study"), ("resnet50", "study"), ("densenet121", "faces"))


def backbone_table(input_size: int = 32) -> pd.DataFrame:
    """The backbones: keras.applications constructor, input sizes, preprocessing, the study's
    unfreeze point and accuracy, and the ImageNet weights file. Used in 04 §2."""
    rows = {b.label: {"keras.applications": b.constructor, "min_input": b.min_size,
                      "input_used": max(b.min_size, int(input_size)),
                      "preprocess_input": f"{b.module}.preprocess_input",
                      "study_unfreeze": b.study_unfreeze,
                      "study_accuracy": STUDY_ACCURACY[b.label],
                      "weights_file": b.weights_file} for b in BACKBONES.values()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "backbone"
    return table


# --------------------------------------------------------------------------- training


@dataclass
class TransferRun:
    """Both phases of one model: fits, test metrics and the unfrozen layers. Made by
    :func:`two_phase` (04 §4)."""

    label: str
    weights: str
    fits: dict[str, FitResult] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    unfrozen: pd.DataFrame | None = None


def two_phase(tm: TransferModel, splits: Splits, *, epochs: int, finetune_epochs: int,
              learning_rate: float = 1e-3, finetune_learning_rate: float = 1e-5,
              batch_size: int = 64, report: Callable[[str], None] | None = print,
              **fit_options: Any) -> TransferRun:
    """Train ``tm`` frozen, then fine-tuned from the study's point, measuring the test split
    after each phase (04 §4). Both phases are one :func:`dflearn.training.fit` each, without a
    schedule; ``fit_options`` (``patience``, ``time_budget``, ``run_eagerly``, ``seed``...) go
    to both. ``report`` receives the unfrozen-layer listing (``None``: silent)."""
    run = TransferRun(tm.label, tm.weights)
    options = {"batch_size": batch_size, "schedule": None, "patience": 0, **fit_options}
    tm.freeze()
    run.fits["frozen"] = fit(tm.model, splits.train, splits.val, epochs=epochs,
                             learning_rate=learning_rate, **options)
    run.metrics["frozen"] = evaluate(tm.model, splits.test, batch_size=batch_size)
    run.unfrozen = tm.unfreeze()
    if report is not None:
        report(describe_unfrozen(run.unfrozen, f"{tm.label} ({tm.backbone.study_unfreeze})"))
    run.fits["fine-tuned"] = fit(tm.model, splits.train, splits.val, epochs=finetune_epochs,
                                 learning_rate=finetune_learning_rate, **options)
    run.metrics["fine-tuned"] = evaluate(tm.model, splits.test, batch_size=batch_size)
    return run


# --------------------------------------------------------------------------- results


TABLE_COLUMNS = [c for c in STUDY_COLUMNS if c in (
    "loss", "accuracy", "precision_FAKE", "recall_FAKE", "f1_FAKE",
    "precision_REAL", "recall_REAL", "f1_REAL")]


def results_table(runs: Sequence[TransferRun],
                  reported: Mapping[str, str] = STUDY_KEYS) -> pd.DataFrame:
    """One row per model and phase: the weights used, the study's metrics on the test split, and
    the reported accuracy beside ours with who reported it (NaN and "" where nobody did);
    ``reported`` maps model labels to keys of :data:`dflearn.study.REPORTED`. Used in 04 §5."""
    if not runs:
        raise TransferError("results_table needs at least one TransferRun.")
    rows = {}
    for run in runs:
        key = reported.get(run.label)
        accuracy, source = ((study.value(key), study.reported(key).cite()) if key
                            else (float("nan"), ""))
        for phase, values in run.metrics.items():
            rows[(run.label, phase)] = {"weights": run.weights,
                                        **{c: values[c] for c in TABLE_COLUMNS},
                                        "reported_accuracy": accuracy, "reported_by": source}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "phase"]
    return table


def _ranking(values: Mapping[str, float]) -> str:
    return " > ".join(sorted(values, key=lambda k: -values[k]))


def findings_text(table: pd.DataFrame, reported: Mapping[str, float] = STUDY_ACCURACY) -> str:
    """A sentence on which of the study's findings hold in ``table`` (from :func:`results_table`):
    the ranking of the backbones after fine-tuning, whether fine-tuning helped, and how the
    faces project's head did. ``reported`` maps labels to accuracies. Used in 04 §5."""
    accuracy = table["accuracy"].unstack("phase")
    common = [m for m in reported if m in accuracy.index]
    if not common:
        raise TransferError(f"No model of the study ({', '.join(reported)}) is in the table.")
    ours = {m: float(accuracy.loc[m, "fine-tuned"]) for m in common}
    theirs = {m: float(reported[m]) for m in common}
    same = _ranking(ours) == _ranking(theirs)
    helped = [m for m in accuracy.index
              if accuracy.loc[m, "fine-tuned"] > accuracy.loc[m, "frozen"]]
    weights = sorted(set(table["weights"]))
    text = (f"The study's ranking {_ranking(theirs)} {'holds' if same else 'does not hold'} here "
            f"(ours after fine-tuning: {_ranking(ours)}); fine-tuning raised test accuracy for "
            f"{len(helped)} of {len(accuracy)} models ({', '.join(helped) or 'none'}).")
    if FACES_LABEL in accuracy.index and "DenseNet121" in accuracy.index:
        faces, plain = (float(accuracy.loc[m, "fine-tuned"]) for m in (FACES_LABEL, "DenseNet121"))
        text += (f" The faces project's head (dense 512, BatchNorm, dropout) "
                 f"{'beat' if faces > plain else 'did not beat'} the study's plain head on "
                 f"DenseNet121 ({faces:.1%} vs {plain:.1%}; the faces project's "
                 f"{study.value(STUDY_KEYS[FACES_LABEL]):.2%} was measured on GAN faces, not "
                 "CIFAKE).")
    if RANDOM_INIT in weights:
        text += (f" Models marked '{RANDOM_INIT}' started without ImageNet weights, so they test "
                 "the architectures, not transfer learning.")
    return text


# --------------------------------------------------------------------------- Personal CNN


def personal_table(before: Mapping[str, float], after: Mapping[str, float],
                   reported: float = study.value(SECOND_KEY)) -> pd.DataFrame:
    """Accuracy on the first and the second test set before and after fine-tuning, with the
    study's reported accuracy on its second dataset (:data:`SECOND_KEY`) in a last row. Used in
    04 §6."""
    table = pd.DataFrame({"before fine-tuning": before, "after fine-tuning": after}).T
    table.loc["study (its second dataset)"] = {c: reported if c == "second test" else float("nan")
                                               for c in table.columns}
    table.columns.name = "accuracy on"
    return table
