"""Every number the seed documents report, in one shape, each cited; and the one rule that judges
a finding against them.

Core layer: imports only the standard library and pandas. No other module defines a reported
number: lessons and notebooks look them up here (:func:`value`, :func:`reported`, :func:`table`)
and print them beside ours, and judge each claim with :func:`judge_order`, :func:`judge_value` or
:func:`judge_ranking`, collecting the verdicts with :func:`findings_table` (recorded as
``NN/findings``).

The seeds
---------
``study``        "Applications of Existing CNNs to Deepfake Detection" (CIFAKE, Fig. 1, 2, 3, 17).
``lightweight``  the lightweight-detector project (MobileNet-style / "Improved Dense CNN").
``gan``          the GAN project (DCGAN, label smoothing, TTUR, WGAN-GP; discriminators 1-6).
``ensemble``     the ensemble project (ThreeCNN, SkipConCNN, EnsembleCNN; a **5-class** task).
``faces``        the faces project (8-conv CNN vs DenseNet121; sensitivity / specificity).

Keys
----
``<seed>/<model or quantity>/<metric>``, lower-case, ``/``-separated; a table whose rows are not
the seed's headline models gets its own level: ``<seed>/<table>/<row>/<metric>``.

* ``study/<model>/<metric>``: Fig. 1, models ``vgg16_scratch``, ``vgg19_scratch``,
  ``vgg16_transfer``, ``densenet121_transfer``, ``resnet50_transfer``, ``personal_cnn`` and
  ``personal_cnn_second`` (the Personal CNN on Manjil Karki's dataset). Metrics ``accuracy``,
  ``loss``, ``precision``, ``recall``, and ``f1`` where Fig. 1 prints one F1, ``f1_a`` / ``f1_b``
  where it prints two (see "F1 pairs" below). All are *validation* metrics, as the study says.
* ``study/grid/<GridSpec name>/<metric>``: Fig. 2, the 12 models of the modified age classifier,
  named as :class:`dflearn.models.GridSpec` names them (``4conv_512-512-2``); metrics
  ``accuracy``, ``loss``, ``precision``, ``recall``, ``f1_a``, ``f1_b`` (Fig. 2, validation) and
  ``train_accuracy``, ``train_loss`` (the appendix's per-epoch grid table, epoch 10).
  :data:`GRID_MODELS` lists the 12 names in the order Fig. 2 prints them.
* ``study/grid_best/accuracy``, ``study/grid_worst/accuracy``: Fig. 3's caption (92.36%, 86.17%).
* ``study/fig17/<model>/<before|after>/<metric>``: Fig. 17's before/after fine-tuning table,
  models ``vgg16_19`` (its one "VGG 16 & 19 Architecture" block), ``vgg_transfer``,
  ``densenet121``, ``resnet50``, ``personal_cnn`` (:data:`FIG17_MODELS`); metrics
  ``train_accuracy``, ``train_f1``, ``train_loss``, ``val_accuracy``, ``val_f1``, ``val_loss`` at
  the last epoch printed, plus ``study/fig17/resnet50/after/best_val_accuracy``.
* ``lightweight/mobilenet_cnn/...``, ``lightweight/improved_dense_cnn/...``,
  ``lightweight/separable_conv/reduction_factor``.
* ``study/unfreeze/<model>/<layer|layers|block>``: where the Methodology starts fine-tuning.
* ``gan/table1/<row>/fid``, ``gan/table2/<row>/fid``, ``gan/table3/model_<k>/<metric>``,
  ``gan/model_1/epoch10_accuracy``; hyperparameters ``gan/base/learning_rate`` and
  ``gan/ttur/<row>/<g|d>_learning_rate``.
* ``ensemble/<model>/<metric>`` (``three_cnn``, ``three_cnn_dilated``, ``skip_con_cnn``,
  ``ensemble_cnn``, ``two_conv_cnn``), including the training table's hyperparameters
  (``batch_size``, ``learning_rate``, ``weight_decay``, ``label_smoothing``,
  ``plateau_patience``, ``plateau_factor``, ``epochs``, ``early_stop``);
  ``ensemble/unstable_plateau/<patience|factor>``, ``ensemble/augmentation/rotation_degrees``.
* ``faces/<model>/<metric>`` (``own_cnn``, ``densenet121``; Table 1's hyperparameters under
  ``faces/own_cnn/``, its search ranges under ``faces/search/<name>/<low|high|choice_k>``;
  ``faces/step_lr/...``, ``faces/early_stopping/patience``, the DenseNet121 head's
  ``faces/densenet121/head_units`` and ``head_dropout``).

Every hyperparameter a seed reports lives here too, and the modules that follow a seed's recipe
(:mod:`dflearn.ensembles`, :mod:`dflearn.gan`, :mod:`dflearn.cnn_projects`,
:mod:`dflearn.backbones`, :mod:`dflearn.transfer`) read it with :func:`value`.

A bare metric (``accuracy``, ``loss``...) is the headline number of its table; ``train_`` and
``val_`` say which split where a table prints both. Each :class:`Reported` holds the value exactly
as the seed prints it (percentages as fractions: 96.83% -> 0.9683; trailing zeros are lost to
``float``: 192.60 -> 192.6), where it stands, what the metric means, the data, and ``n``, the
number of images it was measured on where the seed says so (``None`` otherwise).

How the ambiguous tables are read
---------------------------------
* **F1 pairs.** Fig. 1 and Fig. 2 print two F1 numbers for most models ("0.8221, 0.7955"). The
  study never says which class each belongs to; it labels 0 = fake, 1 = real, so they are most
  likely the per-class F1 of FAKE then REAL (scikit-learn's order), but that is our inference:
  the keys say ``f1_a`` (first printed) and ``f1_b`` (second). Precision and recall equal the
  accuracy in every row but Karki's, as support-weighted averages do. Fig. 1's single F1 of VGG-16
  / VGG-19 (0.6689) is the F1 of a model that predicts one class for every image
  (2 x 0.5025 / 1.5025).
* **Fig. 1's rows.** The text extraction splits "VGG Transfer Learning", "DenseNet121 Transfer
  Learning" and "ResNet50 Transfer Learning" over two lines; the numbers on the second line
  (0.17463, 0.9355...) belong to ResNet50, as the text's "ResNet50 ... 94 percent" and the
  ordering confirm.
* **Fig. 2** has one row per model (12 rows, no epochs). Its numbers are the models' epoch-10
  validation metrics: its precision and F1 match the appendix's per-epoch grid table at epoch 10
  digit for digit (accuracy and loss are rounded differently there, e.g. 0.86175 vs 0.8618), so
  Fig. 2's accuracy is the *final-epoch* accuracy, not the best epoch (4conv_512-2 reaches 0.9267
  at epoch 9). Fig. 3's 92.36% and 86.17% are Fig. 2's 0.9236667 and 0.86175 truncated, not
  rounded. Every Fig. 2 accuracy is a whole number of images out of the 12,000-image validation
  split (0.86175 x 12,000 = 10,341).
* **Grid heads.** Fig. 2 and the appendix name the heads [2], [512, 2], [512, 512, 2] and
  [1024, 512, 256, 2], consistently (the course's :data:`dflearn.grid.DENSE_HEADS`); the prose
  says "4 node groups and 4 CNN groups" but there are 3 conv stages (2, 3, 4) x 4 heads = 12.
* **Fig. 17.** Columns per phase: training accuracy, F1, loss, precision, recall, then the same
  for validation. The extraction drops empty cells, so many "after" rows have 8 or 9 of the 10
  numbers; we read accuracy, F1 and loss (the first three of each group; precision and recall
  repeat the accuracy, which marks where the validation group starts) and keep those only. We
  store the last epoch printed: 10 for the backbones, 8 for the Personal CNN (its epochs 9-10
  are not printed). Fig. 17's last epochs do not reproduce Fig. 1 (ResNet50: 0.9398 after
  fine-tuning vs Fig. 1's 0.9355; Personal CNN 0.9682 vs 0.9696), so Fig. 1 comes from another
  evaluation or run, which the study does not describe. The untitled 10-epoch table before it is
  the Personal CNN on Karki's dataset: its epoch 10 is Fig. 1's last row.
* **Lightweight project.** Its "Results" slide says accuracy 95.3% and recall 94.2%; its
  Conclusion says 96.83% and the notebook output prints precision 0.9643, recall 0.9727,
  F1 0.9685. Both are kept, under different metrics. The slides do not say which split. Its layer
  table prints Total 1,786,177 but Trainable 1,787,169 and Non-trainable 1,008 (they do not add
  up); kept as printed.
* **GAN project.** Its text calls the DeepFakeFace FID table "Table 2"; the captions say Table 1
  (and Table 2 is the face-extraction one). We follow the captions. Its setup lists WGAN-GP +
  TTUR "1e-4 generator, 3e-4 discriminator" but Table 1 prints "3e-4, 1e-4"; the key keeps the
  table's order. Table 3 is the discriminators' test metrics (its text calls Model 2's 0.59 the
  test accuracy); precision and recall there treat FAKE as the positive class (section 6.2).
* **Ensemble project.** The accuracies are **5-class** accuracies. SkipConCNN's 92.64% and
  EnsembleCNN's 93.44% are 1,158 and 1,168 of the 1,250 validation images (the first and third
  confusion matrices); ThreeCNN's 89.78% and 93.03% are not k/1,250, so their split is unknown.
  The second confusion matrix (1,140/1,250 = 91.2%) matches no printed accuracy.
* **Faces project.** Sensitivity is the share of REAL images classified REAL and specificity the
  share of FAKE images classified FAKE (section 2.3: REAL is the positive class, 0 = fake,
  1 = real).

The one rule that judges a finding
----------------------------------
An accuracy measured on ``n`` images carries sampling error: :func:`accuracy_interval` gives its
Wilson score interval (95% by default). Then:

* **An ordering claim** "A beats B" (:func:`judge_order`) *holds* when our A is above our B and the
  two intervals do not overlap; is *inconclusive* when the intervals overlap (or the accuracies
  are equal); is *refuted* when our order is reversed and the intervals do not overlap.
* **A value claim** (:func:`judge_value`) *holds* when the reported value lies inside our interval
  and is *refuted* when it lies above or below it.
* **A ranking claim** "A > B > C" (:func:`judge_ranking`) is judged pair by adjacent pair: it
  holds only if every pair holds, is refuted if any pair is refuted, and is inconclusive otherwise,
  so "all models tie" (every interval overlapping) never counts as the ranking holding.

Each :class:`Verdict` carries one line of text with the numbers it rests on (both accuracies,
``n`` and intervals). Never compare a 5-class accuracy (the ensemble project) with a binary one:
chance is 20% there and 50% here. :func:`judge_value` refuses a key of the ``ensemble`` seed, and
any value when called with ``comparable=False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import pandas as pd

SEEDS: tuple[str, ...] = ("study", "lightweight", "gan", "ensemble", "faces")


@dataclass(frozen=True)
class Reported:
    """One reported number: its value (a fraction for accuracies, as printed otherwise), the seed
    that reports it, the table or figure where it stands, what the metric means, the data it was
    measured on, and ``n``, the number of images behind it where the seed says so."""

    value: float
    seed: str
    where: str
    metric: str
    data: str
    n: int | None = None

    def cite(self) -> str:
        """E.g. ``study, Fig. 1: validation accuracy on CIFAKE``."""
        return f"{self.seed}, {self.where}: {self.metric} on {self.data}"


# --------------------------------------------------------------------------- the numbers

_R: dict[str, Reported] = {}


def _add(key: str, value: float, where: str, metric: str, data: str,
         n: int | None = None) -> None:
    if key in _R:
        raise ValueError(f"Duplicate reported key {key!r}.")
    _R[key] = Reported(value, key.split("/", 1)[0], where, metric, data, n)


# ---- study: Fig. 1 ("Validation Metrics for Image Classification Models") ----------------------
CIFAKE = "CIFAKE"  # the study's validation split: 12,000 images (X_validation, Methodology)
_CIFAKE_VAL_N = 12_000
KARKI = "Manjil Karki's \"Deepfake and Real Images\" (Kaggle)"
_F1_A = "validation F1, first of the two printed (class not stated; likely FAKE, label 0)"
_F1_B = "validation F1, second of the two printed (class not stated; likely REAL, label 1)"


def _fig1(model: str, loss: float, accuracy: float, precision: float, recall: float,
          *f1: float, data: str = CIFAKE) -> None:
    n = _CIFAKE_VAL_N if data == CIFAKE else None
    _add(f"study/{model}/accuracy", accuracy, "Fig. 1", "validation accuracy", data, n)
    _add(f"study/{model}/loss", loss, "Fig. 1", "validation loss (cross-entropy)", data, n)
    _add(f"study/{model}/precision", precision, "Fig. 1", "validation precision", data, n)
    _add(f"study/{model}/recall", recall, "Fig. 1", "validation recall", data, n)
    if len(f1) == 1:
        _add(f"study/{model}/f1", f1[0], "Fig. 1", "validation F1 (one number printed)", data, n)
    else:
        _add(f"study/{model}/f1_a", f1[0], "Fig. 1", _F1_A, data, n)
        _add(f"study/{model}/f1_b", f1[1], "Fig. 1", _F1_B, data, n)


_fig1("vgg16_scratch", 0.6931, 0.5025, 0.5025, 0.5025, 0.6689)
_fig1("vgg19_scratch", 0.6931, 0.5025, 0.5025, 0.5025, 0.6689)
_fig1("vgg16_transfer", 0.576, 0.8097, 0.8097, 0.8097, 0.8221, 0.7955)
_fig1("densenet121_transfer", 0.4374, 0.8378, 0.8378, 0.8378, 0.8474, 0.8268)
_fig1("resnet50_transfer", 0.17463, 0.9355, 0.9355, 0.9355, 0.9335, 0.9374)
_fig1("personal_cnn", 0.1314, 0.9696, 0.9696, 0.9696, 0.9697, 0.9695)  # printed ".9695"
_fig1("personal_cnn_second", 0.9635, 0.8112, 0.8215, 0.8112, 0.8103, data=KARKI)

# ---- study: Fig. 2 ("Validation Metrics for Modified Age Classifier"), one row per model -------
# Read as the epoch-10 validation metrics (see the module docstring); train_* from the appendix's
# per-epoch grid table, epoch 10. Columns: accuracy, loss, precision, recall, (f1_a, f1_b),
# (train_accuracy, train_loss).
_FIG2: tuple[tuple[str, tuple[float, ...], tuple[float, float], tuple[float, float]], ...] = (
    ("2conv_2", (0.86175, 0.3390811, 0.86175001, 0.86175001),
     (0.863423, 0.86003536), (0.876114607, 0.2962695)),
    ("2conv_512-2", (0.8851666, 0.2985414, 0.88516665, 0.88516665),
     (0.89142764, 0.87813926), (0.91980207, 0.2008466)),
    ("2conv_512-512-2", (0.9014167, 0.2953568, 0.90141666, 0.90141666),
     (0.9040628, 0.8986202), (0.944729149, 0.1392965)),
    ("2conv_1024-512-256-2", (0.8991666, 0.3799755, 0.89916664, 0.89916664),
     (0.90309143, 0.89491045), (0.960906267, 0.1010118)),
    ("3conv_2", (0.9109167, 0.2644065, 0.91091669, 0.91091669),
     (0.9118205, 0.90999407), (0.913635433, 0.2137071)),
    ("3conv_512-2", (0.9051667, 0.2593969, 0.90516669, 0.90516669),
     (0.91045004, 0.89922065), (0.943385422, 0.1457279)),
    ("3conv_512-512-2", (0.9159167, 0.2499795, 0.91591668, 0.91591668),
     (0.9135167, 0.91818696), (0.957781255, 0.1115583)),
    ("3conv_1024-512-256-2", (0.91775, 0.4092084, 0.91775, 0.91775),
     (0.91954017, 0.91587824), (0.963645816, 0.096591)),
    ("4conv_2", (0.9123333, 0.2316059, 0.91233331, 0.91233331),
     (0.9096375, 0.9148729), (0.924822927, 0.1889171)),
    ("4conv_512-2", (0.9188333, 0.2288809, 0.91883332, 0.91883332),
     (0.9226492, 0.91462123), (0.943750024, 0.1424073)),
    ("4conv_512-512-2", (0.9236667, 0.226338, 0.92366666, 0.92366666),
     (0.92419726, 0.9231285), (0.955364585, 0.1150082)),
    ("4conv_1024-512-256-2", (0.9219167, 0.2523551, 0.92191666, 0.92191666),
     (0.92404956, 0.9196604), (0.962145805, 0.0997536)),
)
#: The 12 grid models of Fig. 2, in the order it prints them (``GridSpec.name`` form).
GRID_MODELS: tuple[str, ...] = tuple(row[0] for row in _FIG2)

for _name, (_acc, _loss, _prec, _rec), (_f1a, _f1b), (_tacc, _tloss) in _FIG2:
    _label = f"the {_name.split('_')[0].replace('conv', '-convolution')} " \
             f"[{_name.split('_')[1].replace('-', ', ')}] model"
    _add(f"study/grid/{_name}/accuracy", _acc, "Fig. 2",
         f"validation accuracy of {_label} (epoch 10)", CIFAKE, _CIFAKE_VAL_N)
    _add(f"study/grid/{_name}/loss", _loss, "Fig. 2",
         f"validation loss of {_label} (epoch 10)", CIFAKE, _CIFAKE_VAL_N)
    _add(f"study/grid/{_name}/precision", _prec, "Fig. 2",
         f"validation precision of {_label}", CIFAKE, _CIFAKE_VAL_N)
    _add(f"study/grid/{_name}/recall", _rec, "Fig. 2",
         f"validation recall of {_label}", CIFAKE, _CIFAKE_VAL_N)
    _add(f"study/grid/{_name}/f1_a", _f1a, "Fig. 2", f"{_F1_A}, {_label}", CIFAKE,
         _CIFAKE_VAL_N)
    _add(f"study/grid/{_name}/f1_b", _f1b, "Fig. 2", f"{_F1_B}, {_label}", CIFAKE,
         _CIFAKE_VAL_N)
    _add(f"study/grid/{_name}/train_accuracy", _tacc, "Fig. 17 (appendix grid table, epoch 10)",
         f"training accuracy of {_label}", CIFAKE)
    _add(f"study/grid/{_name}/train_loss", _tloss, "Fig. 17 (appendix grid table, epoch 10)",
         f"training loss of {_label}", CIFAKE)

# ---- study: Fig. 3 (confusion matrices), its caption's best and worst --------------------------
_add("study/grid_worst/accuracy", 0.8617, "Fig. 3",
     "validation accuracy of the 2-convolution [2] model (the grid's lowest)", CIFAKE,
     _CIFAKE_VAL_N)
_add("study/grid_best/accuracy", 0.9236, "Fig. 3",
     "validation accuracy of the 4-convolution [512, 512, 2] model (the grid's highest)", CIFAKE,
     _CIFAKE_VAL_N)

# ---- study: Fig. 17 (training and validation per epoch, before and after fine-tuning) ----------
# The last epoch printed, per model and phase: (train_accuracy, train_f1, train_loss,
# val_accuracy, val_f1, val_loss).
_FIG17: dict[str, tuple[str, int, tuple[float, ...], tuple[float, ...]]] = {
    "vgg16_19": ("VGG 16 & 19 Architecture (from scratch)", 10,
                 (0.5007, 0.4942, 0.6935, 0.5024, 0.3344, 0.6932),
                 (0.5017, 0.4848, 0.6932, 0.5024, 0.3344, 0.6931)),
    "vgg_transfer": ("VGG Transfer Learning", 10,
                     (0.7774, 0.7774, 8.7683, 0.7509, 0.7405, 10.9039),
                     (0.7988, 0.7987, 0.6284, 0.8163, 0.8156, 0.5352)),
    "densenet121": ("DenseNet121 Transfer Learning", 10,
                    (0.8403, 0.8403, 0.4212, 0.8503, 0.8494, 0.3847),
                    (0.8462, 0.8462, 0.3984, 0.8406, 0.8399, 0.4263)),
    "resnet50": ("ResNet50 Transfer Learning", 10,
                 (0.9344, 0.9344, 0.1702, 0.9151, 0.9148, 0.2083),
                 (0.9529, 0.9529, 0.1197, 0.9398, 0.9397, 0.164)),
    "personal_cnn": ("Personal CNN on CIFAKE Dataset", 8,
                     (0.974, 0.974, 0.0991, 0.9672, 0.9672, 0.0923),
                     (0.9917, 0.9917, 0.0245, 0.9682, 0.9682, 0.1384)),
}
#: Fig. 17's models (key form), in the order it prints them.
FIG17_MODELS: tuple[str, ...] = tuple(_FIG17)
_FIG17_METRICS = (("train_accuracy", "training accuracy"), ("train_f1", "training F1"),
                  ("train_loss", "training loss"), ("val_accuracy", "validation accuracy"),
                  ("val_f1", "validation F1"), ("val_loss", "validation loss"))

for _model, (_label, _epoch, _before, _after) in _FIG17.items():
    for _phase, _values in (("before", _before), ("after", _after)):
        for (_metric, _meaning), _v in zip(_FIG17_METRICS, _values):
            _add(f"study/fig17/{_model}/{_phase}/{_metric}", _v, "Fig. 17",
                 f"{_meaning} of {_label}, {_phase} fine-tuning, epoch {_epoch} "
                 f"(the last printed)", CIFAKE,
                 _CIFAKE_VAL_N if _metric == "val_accuracy" else None)
_add("study/fig17/resnet50/after/best_val_accuracy", 0.9442, "Fig. 17",
     "highest per-epoch validation accuracy of ResNet50 after fine-tuning (epoch 4; the text's "
     "\"maximum accuracy of 94%\")", CIFAKE, _CIFAKE_VAL_N)

# ---- study: where fine-tuning starts (Methodology) ---------------------------------------------
_ARCH = "the model's architecture (no data)"
_add("study/unfreeze/vgg16/layer", 14, "Methodology (VGG)",
     "first layer unfrozen for fine-tuning (\"from layer 14 onward\")", _ARCH)
_add("study/unfreeze/densenet121/layer", 299, "Methodology (DenseNet121)",
     "first layer unfrozen for fine-tuning (\"from layer 299 out of 429\")", _ARCH)
_add("study/unfreeze/densenet121/layers", 429, "Methodology (DenseNet121)",
     "layers counted in DenseNet121 (\"out of 429\")", _ARCH)
_add("study/unfreeze/resnet50/block", 8, "Methodology (ResNet50)",
     "first block unfrozen (\"the first 7 blocks are preserved ... starting at Block 8\")", _ARCH)
_add("study/unfreeze/personal_cnn/layer", 23, "Methodology (Personal CNN)",
     "first layer unfrozen for transfer learning (\"starting at layer 23 of 40\")", _ARCH)
_add("study/unfreeze/personal_cnn/layers", 40, "Methodology (Personal CNN)",
     "layers counted in the Personal CNN (\"of 40\")", _ARCH)

# ---- lightweight project ---------------------------------------------------------------------
LIGHTWEIGHT = ("CelebA/FFHQ faces vs StyleGAN/StarGAN/AttGAN/GDWCT fakes "
               "(60/10/30 train/validation/test split)")
_add("lightweight/mobilenet_cnn/accuracy", 0.9683, "Conclusion",
     "accuracy (\"Achieved 96.83% accuracy\"; split not stated)", LIGHTWEIGHT)
_add("lightweight/mobilenet_cnn/precision", 0.9643, "notebook output (after Conclusion)",
     "precision (positive class not stated)", LIGHTWEIGHT)
_add("lightweight/mobilenet_cnn/recall", 0.9727, "notebook output (after Conclusion)",
     "recall (positive class not stated)", LIGHTWEIGHT)
_add("lightweight/mobilenet_cnn/f1", 0.9685, "notebook output (after Conclusion)",
     "F1 score", LIGHTWEIGHT)
_add("lightweight/mobilenet_cnn/results_accuracy", 0.953, "Results",
     "accuracy on the Results slide (95.3%; the Conclusion says 96.83%)", LIGHTWEIGHT)
_add("lightweight/mobilenet_cnn/results_recall", 0.942, "Results",
     "recall on the Results slide (94.2%; the notebook output says 0.9727)", LIGHTWEIGHT)
_add("lightweight/improved_dense_cnn/parameters", 1786177, "Comparing layers",
     "total parameters of the Improved Dense CNN (\"Total Parameters\" row)", LIGHTWEIGHT)
_add("lightweight/improved_dense_cnn/trainable_parameters", 1787169, "Comparing layers",
     "trainable parameters (as printed: more than the total)", LIGHTWEIGHT)
_add("lightweight/improved_dense_cnn/non_trainable_parameters", 1008, "Comparing layers",
     "non-trainable parameters", LIGHTWEIGHT)
_add("lightweight/separable_conv/reduction_factor", 0.113, "Parameter Math",
     "parameters of a depthwise-separable over a standard convolution, 1/N + 1/K^2 for N = 512, "
     "K = 3 (\"About 9 times less\")", "arithmetic, no data")

# ---- GAN project -----------------------------------------------------------------------------
DFF = "DeepFakeFace at 64x64 (real images split 25,000 train / 5,000 test)"
DFF_FACES = "DeepFakeFace with YOLOv8 face extraction"
_FID = "FID, average over 100 batches (lower is better)"
for _row, _fid, _what in (
        ("insight", 131.99, "DeepFakeFace's InsightFace fakes"),
        ("inpainting", 135.66, "DeepFakeFace's Stable Diffusion Inpainting fakes"),
        ("text2img", 164.62, "DeepFakeFace's Stable Diffusion v1.5 fakes"),
        ("baseline", 207.95, "the baseline DCGAN"),
        ("baseline_ls", 266.97, "the baseline + one-sided label smoothing"),
        ("baseline_ttur", 319.58, "the baseline + TTUR (1e-4 generator, 1e-5 discriminator)"),
        ("wgan_gp", 192.6, "WGAN-GP (printed 192.60)"),
        ("wgan_ttur_1e-4_1e-5", 253.69, "WGAN-GP + TTUR, printed \"1e-4, 1e-5\""),
        ("wgan_ttur_3e-4_1e-4", 247.06, "WGAN-GP + TTUR, printed \"3e-4, 1e-4\" (the setup "
                                        "says 1e-4 generator, 3e-4 discriminator)")):
    _add(f"gan/table1/{_row}/fid", _fid, "Table 1", f"{_FID} of {_what}", DFF)
_add("gan/base/learning_rate", 1e-4, "3.2 (base models)",
     "hyperparameter: Adam's base learning rate of both generator and discriminator", DFF)
for _row, _d_rate in (("baseline_ttur", 1e-5), ("wgan_ttur_1e-4_1e-5", 1e-5),
                      ("wgan_ttur_3e-4_1e-4", 3e-4)):
    _add(f"gan/ttur/{_row}/g_learning_rate", 1e-4, "3.2.3 and its experiment list",
         "hyperparameter: generator learning rate of this TTUR row", DFF)
    _add(f"gan/ttur/{_row}/d_learning_rate", _d_rate, "3.2.3 and its experiment list",
         "hyperparameter: discriminator learning rate of this TTUR row", DFF)
_add("gan/table2/insight/fid", 67.44, "Table 2", f"{_FID} of DeepFakeFace's InsightFace fakes",
     DFF_FACES)
_add("gan/table2/wgan_gp/fid", 136.899, "Table 2", f"{_FID} of WGAN-GP (40 epochs)", DFF_FACES)

_GAN_DATA = {1: ("DeepFakeFace, 200x200 (70/15/15 split, 13,500 test images)", 13_500),
             2: ("DeepFakeFace, 224x224 with augmentation (70/15/15, 13,500 test images)", 13_500),
             3: ("DeepFakeFace, 224x224 (70/15/15, 13,500 test images)", 13_500),
             4: ("DeepFakeFace YOLOv8 face crops, 200x200 (70/15/15)", None),
             5: ("DeepFakeFace YOLOv8 face crops, 200x200 (70/15/15)", None),
             6: ("DeepFakeFace, 224x224 (9,000 test images)", 9_000)}
_TABLE3 = {1: (0.99, 0.06, 0.99, 0.99), 2: (0.59, 0.98, 0.55, 0.99), 3: (0.86, 0.35, 0.92, 0.80),
           4: (0.77, 0.50, 0.71, 0.96), 5: (0.67, 0.89, 0.63, 0.97), 6: (0.60, 0.66, 0.59, 0.72)}
_T3_NAMES = {1: "Model 1 (2-conv CNN)", 2: "Model 2 (+ augmentation)",
             3: "Model 3 (deeper CNN, LR decay)", 4: "Model 4 (face crops)",
             5: "Model 5 (face crops, L2 0.01)", 6: "Model 6 (frozen ResNet50)"}
for _k, (_acc, _loss, _prec, _rec) in _TABLE3.items():
    _data, _n = _GAN_DATA[_k]
    for _metric, _v, _meaning in (("accuracy", _acc, "test accuracy"),
                                  ("loss", _loss, "test loss (binary cross-entropy)"),
                                  ("precision", _prec, "test precision (FAKE positive)"),
                                  ("recall", _rec, "test recall (FAKE positive)")):
        _add(f"gan/table3/model_{_k}/{_metric}", _v, "Table 3", f"{_meaning} of {_T3_NAMES[_k]}",
             _data, _n if _metric == "accuracy" else None)
_add("gan/model_1/epoch10_accuracy", 0.9897, "6.5 Results",
     "validation and test accuracy of Model 1 at epoch 10 (one number for both)",
     _GAN_DATA[1][0])

# ---- ensemble project (5-class: never compare with a binary accuracy) -------------------------
ENSEMBLE = "its 5-class, 100x100 image set (12,500 train / 1,250 validation / 6,500 test)"
_add("ensemble/three_cnn/accuracy", 0.8978, "residual connections paragraph",
     "5-class accuracy of ThreeCNN, the starting model (split not stated)", ENSEMBLE)
_add("ensemble/three_cnn_dilated/accuracy", 0.9303, "ensemble learning paragraph",
     "5-class accuracy of ThreeCNN after widening and dilating its last convolution (split not "
     "stated)", ENSEMBLE)
_add("ensemble/skip_con_cnn/accuracy", 0.9264, "residual connections paragraph",
     "5-class accuracy of SkipConCNN (= 1,158/1,250 validation images, its confusion matrix)",
     ENSEMBLE, 1_250)
_add("ensemble/ensemble_cnn/accuracy", 0.9344, "ensemble learning paragraph",
     "5-class accuracy of EnsembleCNN (= 1,168/1,250 validation images, its confusion matrix)",
     ENSEMBLE, 1_250)
_add("ensemble/two_conv_cnn/accuracy", 0.76, "failed experiments paragraph",
     "5-class accuracy of the brute-force-tuned 2-conv CNN (out1=64, out2=128, kernel=5)",
     ENSEMBLE)
_add("ensemble/photometric_augmentation/accuracy_difference", 0.03, "augmentation paragraph",
     "difference in accuracy between training with and without photometric augmentation "
     "(\"around 3%\"; photometric augmentation degraded accuracy)", ENSEMBLE)
_add("ensemble/skip_con_cnn/parameters", 8695045, "SkipConCNN layer table", "total parameters",
     ENSEMBLE)
_add("ensemble/three_cnn/parameters", 691781, "ThreeCNN layer table", "total parameters",
     ENSEMBLE)
_add("ensemble/ensemble_cnn/parameters", 9387553, "EnsembleCNN layer table", "total parameters",
     ENSEMBLE)
_add("ensemble/ensemble_cnn/frozen_parameters", 9386826, "EnsembleCNN layer table",
     "frozen parameters (the two base models)", ENSEMBLE)
_add("ensemble/ensemble_cnn/trainable_parameters", 727, "EnsembleCNN layer table",
     "trainable parameters (weights layer and meta classifier)", ENSEMBLE)
# The training table ("Parameter SkipConCNN ThreeCNN EnsembleCNN"); its "-" label smoothing is 0.
_RECIPE_METRICS = {"batch_size": "batch size", "learning_rate": "Adam learning rate",
                   "weight_decay": "Adam weight decay", "label_smoothing": "label smoothing",
                   "plateau_patience": "ReduceLROnPlateau (mode 'max') patience, in epochs",
                   "plateau_factor": "ReduceLROnPlateau factor", "epochs": "epochs",
                   "early_stop": "early-stopping patience, in epochs"}
for _model, _values in (("skip_con_cnn", (8, 5e-4, 1e-4, 0.0, 5, 0.5, 200, 25)),
                        ("three_cnn", (16, 5e-4, 1e-4, 0.0, 15, 0.8, 200, 15)),
                        ("ensemble_cnn", (4, 1e-4, 1e-4, 0.1, 5, 0.5, 80, 5))):
    for (_metric, _meaning), _v in zip(_RECIPE_METRICS.items(), _values):
        _add(f"ensemble/{_model}/{_metric}", _v, "training table", f"hyperparameter: {_meaning}",
             ENSEMBLE)
for _k, (_v, _what) in {"patience": (5, "patience"), "factor": (0.5, "factor")}.items():
    _add(f"ensemble/unstable_plateau/{_k}", _v, "hyperparameter paragraph",
         f"ReduceLROnPlateau {_what} that \"destabilized the learning process for the "
         "three-convolutional CNN\"", ENSEMBLE)
_add("ensemble/augmentation/rotation_degrees", 15, "augmentation paragraph",
     "largest rotation of its training augmentation, in degrees", ENSEMBLE)

# ---- faces project ---------------------------------------------------------------------------
FACES = "its 190,305 real/deepfake images of people (Kaggle; 10,905-image test split)"
_FACES_TEST_N, _FACES_VAL_N = 10_905, 39_428
for _model, (_acc, _sens, _spec), _name in (("own_cnn", (0.8736, 0.8226, 0.9239), "own 8-conv CNN"),
                                            ("densenet121", (0.9026, 0.8732, 0.9315),
                                             "DenseNet121 transfer model")):
    _add(f"faces/{_model}/accuracy", _acc, "Table 2", "test accuracy", FACES, _FACES_TEST_N)
    _add(f"faces/{_model}/sensitivity", _sens, "Table 2",
         f"test sensitivity of the {_name}: share of REAL images classified REAL", FACES)
    _add(f"faces/{_model}/specificity", _spec, "Table 2",
         f"test specificity of the {_name}: share of FAKE images classified FAKE", FACES)
_add("faces/own_cnn/train_accuracy", 0.9776, "3.1 (Figure 1)",
     "training accuracy at the end of training", FACES)
_add("faces/own_cnn/val_accuracy", 0.9524, "3.1 (Figure 1)",
     "validation accuracy at the end of training", FACES, _FACES_VAL_N)
_add("faces/densenet121/train_accuracy", 0.9695, "3.2 (Figure 3)",
     "training accuracy at the end of training", FACES)
_add("faces/densenet121/val_accuracy", 0.9564, "3.2 (Figure 3)",
     "validation accuracy at the end of training", FACES, _FACES_VAL_N)
_add("faces/own_cnn/parameters", 4853569, "2.2 Methods", "parameters of the 8-conv CNN", FACES)
_add("faces/densenet121/trainable_parameters", 7480193, "2.2 Methods",
     "trainable parameters of the DenseNet121 transfer model", FACES)
_add("faces/own_cnn/max_learning_rate", 0.001, "Table 1",
     "hyperparameter: max learning rate used (random search over U[1e-5, 1e-3])", FACES)
_add("faces/own_cnn/weight_decay", 0.0007, "Table 1",
     "hyperparameter: weight decay used (random search over U[0, 1e-2])", FACES)
_add("faces/own_cnn/dropout", 0.35, "Table 1",
     "hyperparameter: dropout rate used (random search over U[0.1, 0.5])", FACES)
_add("faces/own_cnn/batch_size", 128, "Table 1",
     "hyperparameter: batch size used (random search over {32, 64, 128})", FACES)
for _k, (_low, _high, _what) in {"max_learning_rate": (1e-5, 1e-3, "max learning rate"),
                                 "weight_decay": (0.0, 1e-2, "weight decay"),
                                 "dropout": (0.1, 0.5, "dropout rate")}.items():
    _add(f"faces/search/{_k}/low", _low, "Table 1", f"random search: lower end of the uniform "
         f"distribution of the {_what}", FACES)
    _add(f"faces/search/{_k}/high", _high, "Table 1", f"random search: upper end of the uniform "
         f"distribution of the {_what}", FACES)
for _k, _v in enumerate((32, 64, 128)):
    _add(f"faces/search/batch_size/choice_{_k + 1}", _v, "Table 1",
         "random search: one of the discrete batch sizes {32, 64, 128}", FACES)
_add("faces/search/trials", 5, "2.2 Methods",
     "random search: models trained until early stopping (\"We ran five different models\")", FACES)
_add("faces/search/data_fraction", 0.1, "2.2 Methods",
     "random search: share of the training data used (\"10 % of the training data\")", FACES)
_add("faces/densenet121/head_units", 512, "2.2 Methods",
     "units of the fully connected layer added on top of DenseNet121", FACES)
_add("faces/densenet121/head_dropout", 0.35, "2.2 Methods",
     "dropout rate between the added layers of the DenseNet121 model", FACES)
_add("faces/step_lr/gamma", 0.1, "2.2 Methods",
     "hyperparameter: learning-rate scheduler factor (x0.1 every 5 epochs)", FACES)
_add("faces/step_lr/step_size", 5, "2.2 Methods",
     "hyperparameter: learning-rate scheduler step, in epochs", FACES)
_add("faces/early_stopping/patience", 2, "2.2 Methods",
     "hyperparameter: early-stopping patience on the validation loss, in epochs", FACES)

del _low, _high, _RECIPE_METRICS, _d_rate
del _name, _acc, _loss, _prec, _rec, _f1a, _f1b, _tacc, _tloss, _label, _model, _epoch, \
    _before, _after, _phase, _values, _metric, _meaning, _v, _row, _fid, _what, _k, _data, _n, \
    _sens, _spec

REPORTED: Mapping[str, Reported] = MappingProxyType(_R)
"""Every reported number by key (read-only)."""


def _entry(key: str) -> Reported:
    if key not in REPORTED:
        prefix = key.split("/", 1)[0]
        near = [k for k in REPORTED if k.startswith(prefix + "/")] or list(REPORTED)
        raise KeyError(f"No reported number {key!r}. Known keys: {', '.join(near)}.")
    return REPORTED[key]


def reported(key: str) -> Reported:
    """The :class:`Reported` number under ``key``; a clear error lists the keys of its seed."""
    return _entry(key)


def value(key: str) -> float:
    """The reported value under ``key`` (see :func:`reported`)."""
    return _entry(key).value


def table(seed: str | None = None, prefix: str | None = None) -> pd.DataFrame:
    """Every reported number, one row each with its citation, indexed by key; of one ``seed``
    and/or under one key ``prefix`` (e.g. ``table(prefix="study/grid/")``)."""
    if seed is not None and seed not in SEEDS:
        raise KeyError(f"Unknown seed {seed!r}: use one of {', '.join(SEEDS)}.")
    rows = {k: {"value": r.value, "seed": r.seed, "where": r.where, "metric": r.metric,
                "data": r.data, "n": r.n}
            for k, r in REPORTED.items()
            if seed in (None, r.seed) and (prefix is None or k.startswith(prefix))}
    if not rows:
        raise KeyError(f"No reported number under prefix {prefix!r}"
                       + (f" in seed {seed!r}" if seed else "") + ".")
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame["n"] = frame["n"].astype("Int64")
    frame.index.name = "key"
    return frame


# --------------------------------------------------------------------------- the rule

VERDICTS: tuple[str, ...] = ("holds", "inconclusive", "refuted")
FINDINGS_COLUMNS: tuple[str, ...] = ("finding", "seed_number", "ours", "interval", "verdict",
                                     "text")


def accuracy_interval(accuracy: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy measured on ``n`` images, at ``level``.

    E.g. ``accuracy_interval(0.9, 100)`` is about ``(0.826, 0.945)``."""
    accuracy, level = float(accuracy), float(level)
    if not 0.0 <= accuracy <= 1.0 or math.isnan(accuracy):
        raise ValueError(f"An accuracy is a fraction in [0, 1], got {accuracy!r}.")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n is the number of images (a positive integer), got {n!r}.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level is a probability in (0, 1), got {level!r}.")
    n = int(n)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    z2n = z * z / n
    centre = (accuracy + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z2n / (4 * n)) / (1 + z2n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Verdict:
    """The judgement of one finding: ``verdict`` is one of :data:`VERDICTS`; ``text`` one line
    with the numbers it rests on; ``seed_number``, ``ours`` and ``interval`` the table cells
    (:func:`findings_table`); ``numbers`` the raw numbers; ``parts`` the pair verdicts of a
    ranking."""

    finding: str
    verdict: str
    text: str
    seed_number: str
    ours: str
    interval: str
    numbers: Mapping[str, float] = field(default_factory=dict)
    parts: tuple[Verdict, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}.")
        object.__setattr__(self, "numbers", MappingProxyType(dict(self.numbers)))

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def row(self) -> dict[str, str]:
        """This verdict as one row of :func:`findings_table`."""
        return {c: getattr(self, c) for c in FINDINGS_COLUMNS}


def _iv(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def _pct(level: float) -> str:
    return f"{level:.0%}" if round(level * 100, 6).is_integer() else f"{level:.1%}"


def judge_order(name_a: str, acc_a: float, n_a: int, name_b: str, acc_b: float, n_b: int,
                claim: str = "a > b", *, level: float = 0.95, seed_a: float | None = None,
                seed_b: float | None = None, finding: str | None = None) -> Verdict:
    """Judge the claim that one model beats the other (``claim`` "a > b" or "b > a"), on our
    accuracies ``acc_a`` on ``n_a`` images and ``acc_b`` on ``n_b``.

    Holds when our order is the claimed one and the ``level`` Wilson intervals do not overlap;
    inconclusive when they overlap or the accuracies are equal; refuted when our order is
    reversed and the intervals do not overlap. ``seed_a`` / ``seed_b``: the seed's numbers, shown
    in ``seed_number``."""
    form = claim.replace(" ", "").lower()
    if form in ("a>b", "b<a"):
        win, lose = (name_a, acc_a, n_a, seed_a), (name_b, acc_b, n_b, seed_b)
    elif form in ("b>a", "a<b"):
        win, lose = (name_b, acc_b, n_b, seed_b), (name_a, acc_a, n_a, seed_a)
    else:
        raise ValueError(f"claim is 'a > b' or 'b > a', got {claim!r}.")
    (w, acc_w, n_w, seed_w), (lo, acc_l, n_l, seed_l) = win, lose
    iv_a, iv_b = accuracy_interval(acc_a, n_a, level), accuracy_interval(acc_b, n_b, level)
    iv_w, iv_l = (iv_a, iv_b) if form in ("a>b", "b<a") else (iv_b, iv_a)
    overlap = iv_w[0] <= iv_l[1] and iv_l[0] <= iv_w[1]
    if acc_w == acc_l:
        verdict, why = "inconclusive", "our accuracies are equal"
    elif overlap:
        verdict, why = "inconclusive", f"the {_pct(level)} intervals overlap"
    elif acc_w > acc_l:
        verdict, why = "holds", f"our order agrees and the {_pct(level)} intervals do not overlap"
    else:
        verdict, why = "refuted", f"our order is reversed beyond the {_pct(level)} intervals"
    claim_text = f"{w} > {lo}"
    text = (f"{claim_text} {verdict}: {why}; ours {w} {acc_w:.4f} {_iv(iv_w)} (n={n_w}) vs "
            f"{lo} {acc_l:.4f} {_iv(iv_l)} (n={n_l}).")
    seed_number = claim_text if seed_w is None or seed_l is None else \
        f"{w} {seed_w:.4f} > {lo} {seed_l:.4f}"
    numbers = {"acc_a": acc_a, "n_a": n_a, "low_a": iv_a[0], "high_a": iv_a[1],
               "acc_b": acc_b, "n_b": n_b, "low_b": iv_b[0], "high_b": iv_b[1], "level": level}
    return Verdict(finding or claim_text, verdict, text, seed_number,
                   f"{w} {acc_w:.4f} (n={n_w}) vs {lo} {acc_l:.4f} (n={n_l})",
                   f"{_iv(iv_w)} vs {_iv(iv_l)}", numbers)


def judge_value(reported: float | str, ours: float, n: int, *, level: float = 0.95,
                comparable: bool = True, finding: str | None = None) -> Verdict:
    """Judge a reported value (a number, or a key of :data:`REPORTED`) against our accuracy
    ``ours`` on ``n`` images: holds when it lies inside our ``level`` Wilson interval, refuted
    when it lies above or below it.

    Raises ValueError when ``comparable`` is False or the key is an ``ensemble`` (5-class)
    accuracy: a 5-class and a binary accuracy must never be compared."""
    if isinstance(reported, str):
        entry = _entry(reported)
        if entry.seed == "ensemble":
            comparable = False
        finding = finding or reported
        seed_value = float(entry.value)
    else:
        seed_value = float(reported)
        finding = finding or "reported value"
    if not comparable:
        raise ValueError(f"{finding}: not comparable with our accuracy (e.g. a 5-class accuracy "
                         "against a binary one); no verdict.")
    low, high = accuracy_interval(ours, n, level)
    if low <= seed_value <= high:
        verdict, where = "holds", "inside"
    else:
        verdict, where = "refuted", "above" if seed_value > high else "below"
    text = (f"{finding} {verdict}: the seed's {seed_value:.4f} lies {where} our {_pct(level)} "
            f"interval {_iv((low, high))} around {float(ours):.4f} (n={n}).")
    return Verdict(finding, verdict, text, f"{seed_value:.4f}", f"{float(ours):.4f} (n={n})",
                   _iv((low, high)), {"reported": seed_value, "ours": float(ours), "n": n,
                                      "low": low, "high": high, "level": level})


def judge_ranking(claimed_order: Sequence[str], ours: Mapping[str, tuple[float, int]], *,
                  level: float = 0.95, seed: Mapping[str, float] | None = None,
                  finding: str | None = None) -> Verdict:
    """Judge a ranking claim (``claimed_order`` best first, e.g. ResNet50 > DenseNet121 > VGG16)
    on our ``(accuracy, n)`` per model: each adjacent pair with :func:`judge_order`. Holds only
    if every pair holds; refuted if any pair is refuted; inconclusive otherwise (so models that
    all tie never make a ranking hold). ``seed``: the seed's number per model, for display."""
    order = list(claimed_order)
    if len(order) < 2 or len(set(order)) != len(order):
        raise ValueError(f"A ranking needs at least two distinct models, got {order}.")
    missing = [m for m in order if m not in ours]
    if missing:
        raise KeyError(f"No accuracy of ours for {missing}; have {sorted(ours)}.")
    seed = seed or {}
    parts = tuple(judge_order(a, *ours[a], b, *ours[b], level=level, seed_a=seed.get(a),
                              seed_b=seed.get(b)) for a, b in zip(order, order[1:]))
    kinds = [p.verdict for p in parts]
    verdict = ("refuted" if "refuted" in kinds else
               "holds" if all(k == "holds" for k in kinds) else "inconclusive")
    claim_text = " > ".join(order)
    intervals = {m: accuracy_interval(ours[m][0], ours[m][1], level) for m in order}
    ours_text = "; ".join(f"{m} {float(ours[m][0]):.4f} {_iv(intervals[m])} (n={ours[m][1]})"
                          for m in order)
    pairs = ", ".join(f"{a} > {b} {p.verdict}" for (a, b), p in zip(zip(order, order[1:]), parts))
    text = f"{claim_text} {verdict} ({pairs}); ours {ours_text}."
    seed_number = claim_text if not all(m in seed for m in order) else \
        " > ".join(f"{m} {seed[m]:.4f}" for m in order)
    numbers: dict[str, float] = {"level": level}
    for m in order:
        numbers[f"acc_{m}"], numbers[f"n_{m}"] = float(ours[m][0]), ours[m][1]
        numbers[f"low_{m}"], numbers[f"high_{m}"] = intervals[m]
    return Verdict(finding or claim_text, verdict, text, seed_number,
                   ", ".join(f"{m} {float(ours[m][0]):.4f} (n={ours[m][1]})" for m in order),
                   ", ".join(_iv(intervals[m]) for m in order), numbers, parts)


def findings_table(rows: Sequence[Verdict | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per finding, columns :data:`FINDINGS_COLUMNS` (finding, seed_number, ours,
    interval, verdict, text); ``rows`` are :class:`Verdict` objects or mappings with those keys
    (``text`` may be missing). Notebooks record it as ``NN/findings``."""
    records = []
    for row in rows:
        record = row.row() if isinstance(row, Verdict) else {c: row.get(c, "")
                                                              for c in FINDINGS_COLUMNS}
        missing = [c for c in FINDINGS_COLUMNS[:-1] if record[c] in ("", None)
                   and (isinstance(row, Verdict) or c not in row)]
        if missing:
            raise ValueError(f"A finding row lacks {missing}: {row!r}.")
        if record["verdict"] not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {record['verdict']!r}.")
        records.append(record)
    return pd.DataFrame(records, columns=list(FINDINGS_COLUMNS))
