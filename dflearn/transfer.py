"""Lesson module of 04; imports only the core. Transfer learning as the seed study did it:
two-phase training of the ``keras.applications`` backbones of :mod:`dflearn.backbones`, where the
study unfroze each model (its words beside the Keras layers they name), the results beside the
reported numbers (:mod:`dflearn.study`: Fig. 1, Fig. 17, the faces project's Table 2) judged by
its rule, and the Personal CNN's results on a second dataset.

Each backbone (VGG16, DenseNet121, ResNet50) is trained in two phases, following keras.io's
transfer-learning guide:

1. **frozen**: the pretrained base is frozen and only a new head is trained;
2. **fine-tuned**: the base is unfrozen from the study's unfreeze point and the whole model is
   trained again with a low learning rate (:func:`dflearn.training.unfreeze_from`); other
   readings of the study's words are fine-tuned from the same frozen state, beside it.

Offline there are no ImageNet weights, so notebook 03's Personal CNN also serves as a fourth
backbone (:func:`personal_backbone`), and :func:`chance_table` says which models beat chance.
The open-ended task of 04 §7 (a transfer strategy for that backbone, starting from
:func:`starting_copy`) is scored by :func:`transfer_accuracy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import keras
import pandas as pd

from dflearn import study
from dflearn.backbones import BACKBONES, RANDOM_INIT, TransferModel
from dflearn.data import Dataset
from dflearn.layers import TransferNet
from dflearn.metrics import STUDY_COLUMNS, evaluate, faces_project_metrics, fig1_side_by_side
from dflearn.models import PERSONAL_UNFREEZE_LAYER, classifier_head, real_probability
from dflearn.splits import Splits
from dflearn.training import FitResult, describe_unfrozen, fit, unfreeze_from, unfreeze_index


class TransferError(ValueError):
    """A results table or findings that cannot be built from the runs given."""


FACES_LABEL = "DenseNet121 (faces head)"
PERSONAL_LABEL = "Personal CNN"
# The reported number each of 04's models is compared with in 04 §5 (keys of
# dflearn.study.REPORTED).
STUDY_KEYS: Mapping[str, str] = {"VGG16": "study/vgg16_transfer/accuracy",
                                 "DenseNet121": "study/densenet121_transfer/accuracy",
                                 "ResNet50": "study/resnet50_transfer/accuracy",
                                 FACES_LABEL: "faces/densenet121/accuracy"}
# The study's validation accuracies of the three backbones, keyed by our labels (04 §2, §5).
STUDY_ACCURACY: Mapping[str, float] = {b.label: study.value(STUDY_KEYS[b.label])
                                       for b in BACKBONES.values()}
# Fig. 1's row (``study/<row>/...``) and Fig. 17's block (``study/fig17/<block>/...``) of each
# backbone (04 §5).
FIG1_ROWS: Mapping[str, str] = {"VGG16": "vgg16_transfer", "DenseNet121": "densenet121_transfer",
                                "ResNet50": "resnet50_transfer"}
FIG17_BLOCKS: Mapping[str, str] = {"VGG16": "vgg_transfer", "DenseNet121": "densenet121",
                                   "ResNet50": "resnet50"}
# The study's ranking of its transfer models (Fig. 1, best first; 04 §5).
STUDY_RANKING: tuple[str, ...] = ("ResNet50", "DenseNet121", "VGG16")
# The study's accuracy of its Personal CNN fine-tuned on its second dataset (04 §6).
SECOND_KEY = "study/personal_cnn_second/accuracy"


# The models 04 §3 builds, (backbone, head): the study's three, then the faces project's head.
STUDY_MODELS: tuple[tuple[str, str], ...] = (
    ("vgg16", "study"), ("densenet121", "study"), ("resnet50", "study"), ("densenet121", "faces"))


def backbone_table(input_size: int = 32) -> pd.DataFrame:
    """The backbones: keras.applications constructor, input sizes, preprocessing, the study's
    unfreeze point (quoted) and accuracy, and the ImageNet weights file. Used in 04 §2."""
    rows = {b.label: {"keras.applications": b.constructor, "min_input": b.min_size,
                      "input_used": max(b.min_size, int(input_size)),
                      "preprocess_input": f"{b.module}.preprocess_input",
                      "study_unfreeze": f'"{b.study_unfreeze}"',
                      "study_accuracy": STUDY_ACCURACY[b.label],
                      "weights_file": b.weights_file} for b in BACKBONES.values()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "backbone"
    return table


# --------------------------------------------------------------------------- unfreeze points


@dataclass(frozen=True)
class UnfreezeReading:
    """One reading of where the study unfroze a model: the study's words (``quote``, exact), the
    first layer they name in Keras (``at``: an index or a layer-name prefix), and what 04 does
    with it (``use``: "followed", "also run" or "shown")."""

    model: str
    reading: str
    quote: str
    at: int | str
    use: str
    note: str


UNFREEZE_USES: tuple[str, ...] = ("followed", "also run", "shown")
UNFREEZE_READINGS: tuple[UnfreezeReading, ...] = (
    UnfreezeReading("VGG16", "index 14", "from layer 14 onward",
                    int(study.value("study/unfreeze/vgg16/layer")), "followed",
                    "the index names block4_pool: only block 5 trains"),
    UnfreezeReading("VGG16", "last two blocks", "includes the last two convolutional blocks",
                    "block4_conv1", "also run", "the words: blocks 4 and 5 train"),
    UnfreezeReading("DenseNet121", "index 299", "unfrozen from layer 299 out of 429",
                    int(study.value("study/unfreeze/densenet121/layer")), "followed", "inside the third dense block (conv4), two of its 24 layers "
                    "before its end; 429 counts the two layers of the ImageNet classifier"),
    UnfreezeReading("DenseNet121", "final dense block",
                    "keeping the final Dense Block and classifier layers", "conv5_block1_",
                    "shown", "the words alone: only the last dense block (conv5)"),
    UnfreezeReading("ResNet50", "Block 8", "unfroze the layers starting at Block 8",
                    "conv4_block1_", "followed", "counting bottleneck blocks, conv2 x3 and "
                    "conv3 x4 are \"the first 7 blocks\"; Block 8 is conv4_block1"),
    UnfreezeReading("ResNet50", "conv5 only", "which includes the final convolutional layers",
                    "conv5_", "also run", "the course's earlier reading: the last stage only"),
    UnfreezeReading(PERSONAL_LABEL, "layer 23, first of the final block",
                    "unfrozen starting at layer 23 of 40", PERSONAL_UNFREEZE_LAYER, "followed",
                    "counted from 1 without an input layer, two blocks of 11 layers end at 22: "
                    "layer 23 is the first convolution of the final block, as the words say"),
    UnfreezeReading(PERSONAL_LABEL, "index 23 of our model", "unfrozen starting at layer 23 of 40",
                    int(study.value("study/unfreeze/personal_cnn/layer")), "shown",
                    "our model lists its Input and Rescaling layers first, so its "
                    "index 23 is not the study's layer 23"),
)


def alternatives(label: str, readings: Sequence[UnfreezeReading] = UNFREEZE_READINGS
                 ) -> dict[str, int | str]:
    """The readings 04 §4 fine-tunes beside the one it follows, ``{reading: at}`` for the model
    called ``label`` (e.g. ``{"conv5 only": "conv5_"}`` for ResNet50)."""
    return {r.reading: r.at for r in readings if r.model == label and r.use == "also run"}


def unfreeze_points(models: Mapping[str, keras.Model],
                    readings: Sequence[UnfreezeReading] = UNFREEZE_READINGS) -> pd.DataFrame:
    """One row per reading of a model in ``models`` (label -> the Keras model whose layers the
    study's point indexes: the backbone without its top, or the Personal CNN): the study's
    words, the Keras layer they name, its index, the model's layer count, how many layers
    that unfreezes, and whether 04 follows it. Used in 04 §4 and §6 (``04/unfreeze_points``)."""
    rows = []
    for r in readings:
        if r.model not in models:
            continue
        model = models[r.model]
        index = unfreeze_index(model, r.at)
        rows.append({"model": r.model, "reading": r.reading, "study point (quoted)": f'"{r.quote}"',
                     "Keras layer": model.layers[index].name, "index": index,
                     "layers in model": len(model.layers),
                     "layers unfrozen": len(model.layers) - index, "04": r.use, "note": r.note})
    if not rows:
        raise TransferError(f"No reading for any of {sorted(models)}; readings cover "
                            f"{sorted({r.model for r in readings})}.")
    return pd.DataFrame(rows)


def keras_layer_counts(bases: Mapping[str, keras.Model], with_top: Sequence[str] = ("DenseNet121",),
                       size: int = 32) -> pd.DataFrame:
    """How many layers ``keras.applications`` gives each backbone in ``bases`` (label -> the
    backbone without its top) and, for the labels in ``with_top``, with its ImageNet classifier
    (built here with random weights at ``size`` pixels: the count depends on neither; <NA> for
    the others), to check the study's "out of 429" against. Used in 04 §4."""
    by_label = {b.label: b for b in BACKBONES.values()}
    rows = {}
    for label, base in bases.items():
        if label not in by_label:
            continue
        top = (len(by_label[label].application()(include_top=True, weights=None,
                                                 input_shape=(size, size, 3)).layers)
               if label in with_top else pd.NA)
        rows[label] = {"layers without top": len(base.layers), "layers with top": top}
    if not rows:
        raise TransferError(f"None of {sorted(bases)} is a backbone ({', '.join(by_label)}).")
    table = pd.DataFrame.from_dict(rows, orient="index").astype("Int64")
    table.index.name = "backbone"
    return table


def numbered_blocks(model: keras.Model, pattern: str = r"^(conv\d+_block\d+)_") -> pd.DataFrame:
    """The blocks of ``model`` in order, numbered from 1: each block's name (the part of its
    layer names ``pattern`` captures, e.g. ``conv4_block1`` in ResNet50) and the index of its
    first layer. Used in 04 §4 to count the study's "Block 8"."""
    seen: dict[str, int] = {}
    for i, layer in enumerate(model.layers):
        match = re.match(pattern, layer.name)
        if match and match.group(1) not in seen:
            seen[match.group(1)] = i
    if not seen:
        raise TransferError(f"No layer of {model.name!r} matches {pattern!r}.")
    table = pd.DataFrame({"block": list(seen), "first layer index": list(seen.values())},
                         index=pd.RangeIndex(1, len(seen) + 1, name="study block"))
    return table


# --------------------------------------------------------------------------- training


FROZEN, FINE_TUNED = "frozen", "fine-tuned"
PERSONAL_BACKBONE = "Personal CNN (03) backbone"


@dataclass
class PersonalBackbone:
    """Notebook 03's Personal CNN as a backbone (04 §3): a copy of all its layers but its
    classifier (``base``, frozen, called with ``training=False``) under a new head, trained by
    :func:`two_phase` like the ``keras.applications`` backbones. Offline it is the only network
    with trained weights the course has: ``weights`` says where they come from."""

    model: keras.Model
    base: keras.Model
    weights: str
    label: str = PERSONAL_BACKBONE
    head: str = "study"
    study_unfreeze: str = "starting at layer 23 of 40"

    def freeze(self) -> None:
        """Phase 1: freeze the whole base (the head stays trainable)."""
        self.base.trainable = False

    def unfreeze(self, at: int | str | None = None) -> pd.DataFrame:
        """Phase 2: unfreeze the base from the study's layer 23 (``b3_conv1``) or from ``at``."""
        start = PERSONAL_UNFREEZE_LAYER if at is None else at
        return unfreeze_from(self.base, unfreeze_index(self.base, start))


def personal_backbone(personal: keras.Model, weights: str, last: str = "dense_dropout"
                      ) -> PersonalBackbone:
    """A :class:`PersonalBackbone` from a copy of ``personal`` (which is never changed): its
    layers up to ``last`` (its dense layer, the features its own classifier reads), frozen,
    then the study's head without the pooling the feature vector does not need: dropout 0.2 and
    a new 2-unit softmax. ``weights`` labels the result, e.g. ``"03_personal_cnn"`` or
    ``"stand-in"``. Used in 04 §3."""
    names = [layer.name for layer in personal.layers]
    if last not in names or PERSONAL_UNFREEZE_LAYER not in names:
        raise TransferError(f"{personal.name!r} has no layer {last!r} or "
                            f"{PERSONAL_UNFREEZE_LAYER!r}: pass notebook 03's Personal CNN "
                            "(dflearn.models.personal_cnn).")
    copy = starting_copy(personal, personal.get_weights())
    base = keras.Model(copy.inputs, copy.get_layer(last).output, name="personal_base")
    base.trainable = False
    inputs = keras.Input(personal.input_shape[1:], name="image")
    x = base(inputs, training=False)
    if len(x.shape) == 4:  # a convolutional block's output: pool it first, as the study's head does
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    model = TransferNet(inputs, classifier_head(x, "softmax"), name="personal_study")
    return PersonalBackbone(model, base, weights)


def _study_words(tm: TransferModel | PersonalBackbone) -> str:
    """The study's words for where it unfroze ``tm``."""
    return tm.study_unfreeze if isinstance(tm, PersonalBackbone) else tm.backbone.study_unfreeze


def phase_name(reading: str | None = None) -> str:
    """``"fine-tuned"``, or ``"fine-tuned (<reading>)"`` for another reading of the study's
    unfreeze point (04 §4)."""
    return FINE_TUNED if reading is None else f"{FINE_TUNED} ({reading})"


@dataclass
class TransferRun:
    """Both phases of one model: fits, test metrics (``n_test`` images) and the unfrozen layers,
    keyed by phase: ``"frozen"``, ``"fine-tuned"`` (the study's point) and
    ``"fine-tuned (<reading>)"`` for each other reading. Made by :func:`two_phase` (04 §4)."""

    label: str
    weights: str
    fits: dict[str, FitResult] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    unfrozen: pd.DataFrame | None = None
    n_test: int = 0


def _fine_tune(run: TransferRun, tm: TransferModel | PersonalBackbone, splits: Splits,
               phase: str, at: int | str | None, report: Callable[[str], None] | None,
               epochs: int, learning_rate: float, options: Mapping[str, Any]) -> pd.DataFrame:
    """Unfreeze ``tm`` from ``at`` (None: the study's point), train, and measure the test split
    into ``run`` under ``phase``; return the unfrozen layers."""
    unfrozen = tm.unfreeze(at)
    if report is not None:
        where = f'the study\'s "{_study_words(tm)}"' if at is None else f"from {at!r}"
        report(describe_unfrozen(unfrozen, f"{tm.label}, {phase}, {where}"))
    run.fits[phase] = fit(tm.model, splits.train, splits.val, epochs=epochs,
                          learning_rate=learning_rate, **options)
    run.metrics[phase] = evaluate(tm.model, splits.test, batch_size=options["batch_size"])
    return unfrozen


def two_phase(tm: TransferModel | PersonalBackbone, splits: Splits, *, epochs: int,
              finetune_epochs: int, learning_rate: float = 1e-3,
              finetune_learning_rate: float = 1e-5, batch_size: int = 64, others: Mapping[str, int | str] | None = None,
              report: Callable[[str], None] | None = print, **fit_options: Any) -> TransferRun:
    """Train ``tm`` frozen, then fine-tuned from the study's point, measuring the test split
    after each phase (04 §4): ``metrics["frozen"]`` is the frozen model's own, measured before
    any unfreezing. ``others`` (``{reading: index or layer-name prefix}``, e.g.
    :func:`alternatives`) are fine-tuned first, each from the same frozen weights, which are
    then restored, so the model ends fine-tuned from the study's point. Each phase is one
    :func:`dflearn.training.fit`, without a schedule; ``fit_options`` (``patience``,
    ``time_budget``, ``run_eagerly``, ``seed``...) go to all. ``report`` receives the
    unfrozen-layer listings (``None``: silent)."""
    run = TransferRun(tm.label, tm.weights, n_test=len(splits.test.labels))
    options = {"batch_size": batch_size, "schedule": None, "patience": 0, **fit_options}
    tune = {"report": report, "epochs": finetune_epochs, "learning_rate": finetune_learning_rate,
            "options": options}
    tm.freeze()
    run.fits[FROZEN] = fit(tm.model, splits.train, splits.val, epochs=epochs,
                           learning_rate=learning_rate, **options)
    run.metrics[FROZEN] = evaluate(tm.model, splits.test, batch_size=batch_size)
    frozen_weights = tm.model.get_weights() if others else None
    for reading, at in (others or {}).items():
        _fine_tune(run, tm, splits, phase_name(reading), at, **tune)
        tm.model.set_weights(frozen_weights)
    run.unfrozen = _fine_tune(run, tm, splits, FINE_TUNED, None, **tune)
    order = [FROZEN, FINE_TUNED, *(phase_name(r) for r in others or {})]
    run.fits = {p: run.fits[p] for p in order}
    run.metrics = {p: run.metrics[p] for p in order}
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


def _study_runs(runs: Sequence[TransferRun], labels: Sequence[str]) -> dict[str, TransferRun]:
    """The runs of the study's backbones among ``runs``, by label; an error when there is none."""
    found = {run.label: run for run in runs if run.label in labels}
    if not found:
        raise TransferError(f"No run of the study's models ({', '.join(labels)}) among "
                            f"{[run.label for run in runs]}.")
    return found


# Fig. 1's columns and ours beside each: the study's precision and recall equal its accuracy
# (support-weighted averages); on our balanced test split the macro averages are the same thing.
# Its two F1 numbers are read as FAKE then REAL (dflearn.study's "F1 pairs").
def fig1_table(runs: Sequence[TransferRun], phase: str = FINE_TUNED) -> pd.DataFrame:
    """The study's Fig. 1 rows of its transfer models beside ours after ``phase`` (our test
    split, its validation split), in :func:`dflearn.metrics.fig1_side_by_side`'s shape plus the
    ``weights`` column. Used in 04 §5 (``04/fig1``)."""
    chosen = _study_runs(runs, list(FIG1_ROWS))
    table = fig1_side_by_side({label: (FIG1_ROWS[label], run.metrics[phase], run.n_test)
                               for label, run in chosen.items()})
    table.insert(0, "weights", [chosen[label].weights for label in table.index])
    return table


FIG17_PHASES: Mapping[str, str] = {FROZEN: "before", FINE_TUNED: "after"}
FIG17_COLUMNS: tuple[str, ...] = ("train_accuracy", "train_loss", "val_accuracy", "val_loss")


def before_after_table(runs: Sequence[TransferRun]) -> pd.DataFrame:
    """Fig. 17 beside ours, one row per backbone and phase (``before`` = frozen, ``after`` =
    fine-tuned from the study's point): training and validation accuracy and loss at the last
    epoch of each phase, ours (``... ours``, our last epoch, ``epochs ours`` of them) and the
    study's (``... study``, its epoch 10), and our test accuracy of the model each phase ended
    with. Used in 04 §5 (``04/before_after``)."""
    rows = {}
    for label, run in _study_runs(runs, list(FIG17_BLOCKS)).items():
        for phase, when in FIG17_PHASES.items():
            history = run.fits[phase].history
            row: dict[str, Any] = {"epochs ours": run.fits[phase].epochs_run}
            for column in FIG17_COLUMNS:
                row[f"{column} ours"] = history[column.removeprefix("train_")][-1]
                row[f"{column} study"] = study.value(
                    f"study/fig17/{FIG17_BLOCKS[label]}/{when}/{column}")
            row["test_accuracy ours"] = run.metrics[phase]["accuracy"]
            rows[(label, when)] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "fine-tuning"]
    return table


def study_findings(runs: Sequence[TransferRun], phase: str = FINE_TUNED) -> list[study.Verdict]:
    """The study's findings on its transfer models judged on our test accuracies (after
    ``phase``) by :mod:`dflearn.study`'s rule: its ranking ResNet50 > DenseNet121 > VGG16
    (Fig. 1), each backbone's Fig. 1 accuracy, and per backbone whether fine-tuning helped, in
    the direction Fig. 17 shows at its last epoch (it did not for DenseNet121). Used in 04 §5
    (``04/findings``)."""
    found = _study_runs(runs, STUDY_RANKING)
    verdicts = []
    ranked = [m for m in STUDY_RANKING if m in found]
    if len(ranked) > 1:
        verdicts.append(study.judge_ranking(
            ranked, {m: (found[m].metrics[phase]["accuracy"], found[m].n_test) for m in ranked},
            seed={m: STUDY_ACCURACY[m] for m in ranked},
            finding="Fig. 1 ranking: " + " > ".join(ranked)))
    for m in ranked:
        verdicts.append(study.judge_value(STUDY_KEYS[m], found[m].metrics[phase]["accuracy"],
                                          found[m].n_test,
                                          finding=f"{m} accuracy after fine-tuning (Fig. 1)"))
    for m in ranked:
        key = f"study/fig17/{FIG17_BLOCKS[m]}/{{}}/val_accuracy"
        before, after = study.value(key.format("before")), study.value(key.format("after"))
        run, helped = found[m], after > before
        verdicts.append(study.judge_order(
            f"{m} fine-tuned", run.metrics[phase]["accuracy"], run.n_test,
            f"{m} frozen", run.metrics[FROZEN]["accuracy"], run.n_test,
            "a > b" if helped else "b > a", seed_a=after, seed_b=before,
            finding=f"{m}: fine-tuning {'helped' if helped else 'did not help'} (Fig. 17)"))
    return verdicts


def chance_table(runs: Sequence[TransferRun], level: float = 0.95) -> pd.DataFrame:
    """One row per model and phase: the weights, our test accuracy, its ``level`` Wilson
    interval (:func:`dflearn.study.accuracy_interval`) and whether the whole interval lies
    above 0.5 (``above chance``). Used in 04 §5 (``04/above_chance``)."""
    if not runs:
        raise TransferError("chance_table needs at least one TransferRun.")
    rows = {}
    for run in runs:
        for phase, values in run.metrics.items():
            low, high = study.accuracy_interval(values["accuracy"], run.n_test, level)
            rows[(run.label, phase)] = {"weights": run.weights, "accuracy": values["accuracy"],
                                        "n": run.n_test, "low": low, "high": high,
                                        "above chance": bool(low > 0.5)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "phase"]
    return table


def weights_note(runs: Sequence[TransferRun]) -> str:
    """What the findings mean when some backbones started from random weights ("" when all had
    ImageNet's). Used in 04 §5."""
    random = [run for run in runs if run.weights == RANDOM_INIT]
    if not random:
        return ""
    return (f"Weights: {', '.join(run.label for run in random)} started from random "
            f"initialisation ('{RANDOM_INIT}'), not from ImageNet. Their numbers measure each "
            f"architecture trained from scratch on this run's data "
            f"({max(run.n_test for run in random)} test images), not transfer learning: the "
            "verdicts above do not test the study's claims about pretrained models. Run with "
            "ImageNet weights (the cpu, gpu or paper profile, online or with the weights files "
            "in place) to test them.")


def faces_table2(model: keras.Model, test: Dataset, key: str = "faces/densenet121") -> pd.DataFrame:
    """The faces project's Table 2 row of its DenseNet121 beside ours on ``test``: accuracy,
    sensitivity (share of REAL classified REAL) and specificity (share of FAKE classified FAKE),
    as that project defines them (:func:`dflearn.metrics.faces_project_metrics`). Context, not
    a verdict: its numbers are on GAN faces. Used in 04 §5 (``04/faces_table2``)."""
    predicted = (real_probability(model, test.images) >= 0.5).astype(int)
    ours = faces_project_metrics(test.labels, predicted)
    table = pd.DataFrame({"ours": ours,
                          "faces project (Table 2)": {m: study.value(f"{key}/{m}") for m in ours}})
    table.index.name = "metric"
    table["n ours"] = len(test.labels)
    return table


# --------------------------------------------------------------------------- Personal CNN


SECOND_ROW = "study (Karki's dataset, Fig. 1)"


def personal_table(before: Mapping[str, float], after: Mapping[str, float],
                   reported: float = study.value(SECOND_KEY)) -> pd.DataFrame:
    """Accuracy on the first and the second test set before and after fine-tuning, with the
    study's reported accuracy on its second dataset, Manjil Karki's (:data:`SECOND_KEY`), in a
    last row (:data:`SECOND_ROW`). Used in 04 §6."""
    table = pd.DataFrame({"before fine-tuning": before, "after fine-tuning": after}).T
    table.loc[SECOND_ROW] = {c: reported if c == "second test" else float("nan")
                             for c in table.columns}
    table.columns.name = "accuracy on"
    return table


# --------------------------------------------------------------------------- open-ended task


def starting_copy(model: keras.Model, weights: Sequence[Any]) -> keras.Model:
    """A new copy of ``model`` holding ``weights`` (e.g. ``model.get_weights()`` saved before
    fine-tuning), every layer trainable again: the open-ended task of 04 §7 starts from 03's
    Personal CNN as section 3 loaded it, whatever section 6 did to the notebook's own model."""
    copy = keras.models.clone_model(model)
    try:
        copy.set_weights(list(weights))
    except ValueError as error:
        raise TransferError(f"The weights do not fit {model.name!r} ({error}); pass that "
                            "model's own get_weights().") from error
    for layer in copy.layers:
        layer.trainable = True
    return copy


def transfer_accuracy(model: Any, test: Dataset, batch_size: int = 64) -> float:
    """Test accuracy of the model the open-ended task of 04 §7 returns, on ``test`` (the test
    split, or the grader's hidden one). Raises :class:`TransferError` when ``model`` is not a
    Keras model with a two-class head (what was returned is named) or ``test`` lacks a class.
    Used in 04 §7 and by its hidden test."""
    if not isinstance(model, keras.Model):
        raise TransferError(f"my_transfer must return the trained keras.Model; it returned "
                            f"{type(model).__name__}. End it with `return tm.model`.")
    if model.output_shape[-1] not in (1, 2):
        raise TransferError(f"The model must end in a two-class head (1 sigmoid or 2 softmax "
                            f"units); its output shape is {model.output_shape}.")
    classes = sorted(set(test.labels.tolist()))
    if len(classes) < 2:
        raise TransferError(f"The test set needs images of both classes; it has "
                            f"{len(test.labels)} image(s) of classes {classes}.")
    return round(float(evaluate(model, test, batch_size)["accuracy"]), 4)
