"""Named run profiles (``ci``, ``cpu``, ``gpu``, ``paper``) and per-notebook settings.

A profile decides, for every notebook of the course, how much data is used, the image size,
epochs, batch size, width multiplier and pretrained weights. ``DFLEARN_PROFILE`` selects the
default profile; an explicit name always wins.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

PROFILE_ENV = "DFLEARN_PROFILE"
DEFAULT_PROFILE = "cpu"

NOTEBOOKS: Mapping[str, str] = MappingProxyType(
    {
        "00": "00_index",
        "01": "01_eda_colour_histograms",
        "02": "02_classical_baselines",
        "03": "03_cnns",
        "04": "04_transfer_learning",
        "05": "05_age_classifier_grid",
        "06": "06_ensembles",
        "07": "07_saliency",
        "08": "08_generalisation",
        "09": "09_gan_fakes",
    }
)


class ProfileError(ValueError):
    """An unknown profile name or notebook id."""


@dataclass(frozen=True)
class NotebookSettings:
    """The knobs one notebook reads from the active profile.

    ``n_train_per_class`` / ``n_test_per_class`` of ``None`` mean "all available images".
    ``extra`` holds notebook-specific knobs (for example the number of search iterations).
    """

    n_train_per_class: int | None
    n_test_per_class: int | None
    image_size: int
    epochs: int
    batch_size: int
    width: float
    weights: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a notebook-specific knob from ``extra``."""
        return self.extra.get(key, default)

    def describe(self) -> str:
        """Short ``key=value`` text of the main settings."""
        n_train = "all" if self.n_train_per_class is None else self.n_train_per_class
        n_test = "all" if self.n_test_per_class is None else self.n_test_per_class
        return (
            f"train/class={n_train} test/class={n_test} img={self.image_size} "
            f"epochs={self.epochs} batch={self.batch_size} width={self.width:g} "
            f"weights={self.weights}"
        )


@dataclass(frozen=True)
class Profile:
    """A named set of notebook settings.

    ``data`` is ``"embedded"`` (always the bundled practice set unless a path is given) or
    ``"auto"`` (the dataset search order of :func:`dflearn.data.resolve_dataset`).
    ``split`` is ``"official"`` (CIFAKE train/test, validation carved from train) or
    ``"study"`` (pool everything, 80:10:10 as in the study).
    """

    name: str
    description: str
    data: str
    split: str
    defaults: NotebookSettings
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_notebook(self, notebook: str) -> NotebookSettings:
        """Settings for notebook ``notebook`` ("03" or "03_cnns"), defaults plus overrides."""
        key = notebook_id(notebook)
        changes = dict(self.overrides.get(key, {}))
        extra = {**self.defaults.extra, **changes.pop("extra", {})}
        return dataclasses.replace(self.defaults, extra=extra, **changes)

    def summary(self, notebook: str | None = None) -> str:
        """One line describing the profile (and the notebook's settings)."""
        settings = self.for_notebook(notebook) if notebook else self.defaults
        where = f" | notebook {notebook_id(notebook)}" if notebook else ""
        return (
            f"dflearn profile '{self.name}' ({self.description}){where} | data={self.data} "
            f"split={self.split} | {settings.describe()}"
        )


def notebook_id(notebook: str) -> str:
    """Normalise "3", "03", "03_cnns" or "03_cnns.ipynb" to "03"."""
    stem = os.path.basename(str(notebook)).split("_", 1)[0].split(".", 1)[0]
    if not stem.isdigit():
        raise ProfileError(f"Not a notebook id: {notebook!r}. Use one of {', '.join(NOTEBOOKS)}.")
    key = f"{int(stem):02d}"
    if key not in NOTEBOOKS:
        raise ProfileError(f"Unknown notebook {notebook!r}. Valid ids: {', '.join(NOTEBOOKS)}.")
    return key


# Per-notebook overrides, shared by every profile unless the profile says otherwise. Each notebook
# owns its own entry here.
_CI = Profile(
    name="ci",
    description="tiny, for tests: each notebook well under 90 s on 2 CPU cores",
    data="embedded",
    split="official",
    defaults=NotebookSettings(
        n_train_per_class=300,
        n_test_per_class=100,
        image_size=32,
        epochs=2,
        batch_size=64,
        width=0.25,
        weights=None,
    ),
    overrides={
        "01": {"n_train_per_class": 1000, "n_test_per_class": 250},
        "02": {"n_train_per_class": 400, "n_test_per_class": 150, "extra": {"search_iter": 4}},
        "03": {"n_train_per_class": 250, "n_test_per_class": 100, "width": 0.125,
               "epochs": 3, "batch_size": 32,
               "extra": {"recipe": {"arch": "personal", "learning_rate": 2e-3, "augment": "flip",
                                    "patience": 0, "schedule": None},
                         "compare_budget": None, "widget_per_class": 50,
                         "grade": {"03/test_accuracy": 0.55}}},
        "04": {"n_train_per_class": 16, "n_test_per_class": 16, "epochs": 1, "batch_size": 32,
               "extra": {"finetune_epochs": 1, "run_eagerly": True, "second_per_class": 32}},
        "05": {"epochs": 2, "n_train_per_class": 200, "width": 0.125, "batch_size": 32,
               "extra": {"learning_rate": 3e-3, "run_eagerly": True, "progress": False}},
        "06": {"n_train_per_class": 400, "width": 0.125, "batch_size": 32, "epochs": 3,
               "extra": {"combiner_epochs": 30, "grade": {"06/ensemble_accuracy": 0.6}}},
        "07": {"n_train_per_class": 300, "width": 0.125, "batch_size": 32, "epochs": 3,
               "extra": {"transfer_stand_in": "small", "central_images": 32, "sanity_images": 16,
                         "smoothgrad_samples": 4, "ig_steps": 8, "second_per_class": 64,
                         "finetune_epochs": 1, "stand_in_budget": 4,
                         "grade": {"07/personal_accuracy": 0.6}}},
        "08": {"epochs": 5, "width": 0.0625, "batch_size": 32,
               "extra": {"recipe": {"arch": "personal", "learning_rate": 3e-3, "augment": "flip",
                                    "patience": 0, "schedule": None},
                         "robust_per_class": 50, "robust_levels": 4, "second_per_class": 100,
                         "grade": {"08/baseline_test_accuracy": 0.8}}},
        "09": {"extra": {"gan_steps": 200, "gan_epochs": 4, "gan_width": 0.125, "gan_batch": 16,
                         "wgan_steps": 40, "critic_steps": 1, "n_generated": 200,
                         "fid_images": 0, "grade": {"09/fd_noise_over_floor": 2.0}}},
    },
)

_CPU = Profile(
    name="cpu",
    description="laptop default, 2+ CPU cores; real CIFAKE when present",
    data="auto",
    split="official",
    defaults=NotebookSettings(
        n_train_per_class=5000,
        n_test_per_class=None,
        image_size=32,
        epochs=8,
        batch_size=64,
        width=0.5,
        weights="imagenet",
    ),
    overrides={
        "01": {"n_train_per_class": 8000},
        "02": {"n_train_per_class": 2000, "n_test_per_class": 1000, "extra": {"search_iter": 8}},
        "03": {"n_train_per_class": None, "n_test_per_class": 1000, "epochs": 48,
               "batch_size": 128, "width": 0.25,
               "extra": {"recipe": {"arch": "personal",
                                    "options": {"stem": "space_to_depth", "dropout": 0.1},
                                    "learning_rate": 2e-3, "weight_decay": 0.05,
                                    "schedule": "cosine", "augment": "shift",
                                    "monitor": "val_accuracy", "patience": 48,
                                    "time_budget": 840},
                         "compare_budget": 150, "widget_per_class": 500,
                         "grade": {"03/test_accuracy": 0.9}}},
        "04": {"image_size": 64, "n_train_per_class": 2000, "epochs": 4,
               "extra": {"finetune_epochs": 3, "patience": 2, "time_budget": 150,
                         "second_per_class": 1000}},
        "05": {"epochs": 4, "n_train_per_class": 2000, "width": 0.25},
        "06": {"width": 0.5, "extra": {"seeds": 2, "patience": 3, "stand_in_budget": 300}},
        "07": {"n_train_per_class": 2000, "n_test_per_class": 500, "epochs": 4, "width": 0.25,
               "extra": {"central_images": 200, "sanity_images": 50, "smoothgrad_samples": 8,
                         "ig_steps": 16, "stand_in_budget": 300, "second_per_class": 2000}},
        "08": {"n_test_per_class": 1000, "epochs": 10, "width": 0.125,
               "extra": {"recipe": {"arch": "personal", "learning_rate": 1e-3, "augment": "flip",
                                    "patience": 4, "time_budget": 420},
                         "robust_per_class": 500, "second_per_class": 1000}},
        "09": {"n_test_per_class": 1000,
               "extra": {"gan_steps": 2000, "gan_epochs": 8, "gan_width": 0.25, "gan_batch": 32,
                         "wgan_steps": 600, "critic_steps": 2, "n_generated": 1000,
                         "fid_images": 500, "gan_time_budget": 600}},
    },
)

_GPU = Profile(
    name="gpu",
    description="one CUDA GPU: full data, full widths",
    data="auto",
    split="official",
    defaults=NotebookSettings(
        n_train_per_class=None,
        n_test_per_class=None,
        image_size=32,
        epochs=20,
        batch_size=128,
        width=1.0,
        weights="imagenet",
    ),
    overrides={
        "02": {"n_train_per_class": 10000, "n_test_per_class": 2000, "extra": {"search_iter": 20}},
        "03": {"extra": {"recipe": {"arch": "personal", "augment": "flip", "patience": 5},
                         "compare_budget": None, "widget_per_class": 2000}},
        "04": {"image_size": 128, "epochs": 10, "extra": {"patience": 3}},
        "05": {"epochs": 10},
        "06": {"extra": {"seeds": 3, "patience": 4}},
        "07": {"extra": {"central_images": 1000, "sanity_images": 200, "smoothgrad_samples": 32,
                         "ig_steps": 64}},
        "08": {"extra": {"robust_per_class": 1000, "second_per_class": 2000}},
        "09": {"extra": {"gan_steps": 20000, "gan_epochs": 20, "gan_width": 1.0, "gan_batch": 64,
                         "wgan_steps": 10000, "critic_steps": 5, "n_generated": 5000,
                         "fid_images": 5000}},
    },
)

_PAPER = Profile(
    name="paper",
    description="the seed study's hyperparameters: batch 64, 10 epochs, full data and widths",
    data="auto",
    split="study",
    defaults=NotebookSettings(
        n_train_per_class=None,
        n_test_per_class=None,
        image_size=32,
        epochs=10,
        batch_size=64,
        width=1.0,
        weights="imagenet",
    ),
    overrides={
        "02": {"n_train_per_class": 10000, "n_test_per_class": 2000, "extra": {"search_iter": 20}},
        "03": {"extra": {"recipe": {"arch": "personal", "augment": "none", "patience": 0,
                                    "schedule": None},
                         "compare_budget": None, "widget_per_class": 2000}},
        "04": {"image_size": 224},
        "06": {"extra": {"seeds": 3}},
        "07": {"extra": {"central_images": 1000, "sanity_images": 200, "smoothgrad_samples": 32,
                         "ig_steps": 64}},
        "08": {"extra": {"recipe": {"arch": "personal", "augment": "none", "patience": 0,
                                    "schedule": None},
                         "robust_per_class": 1000, "second_per_class": 2000}},
        "09": {"extra": {"gan_steps": 20000, "gan_epochs": 20, "gan_width": 1.0, "gan_batch": 64,
                         "wgan_steps": 10000, "critic_steps": 5, "n_generated": 5000,
                         "fid_images": 5000}},
    },
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (_CI, _CPU, _GPU, _PAPER)})


def get_profile(name: str | None = None) -> Profile:
    """Return the profile called ``name``, else ``$DFLEARN_PROFILE``, else ``cpu``.

    Raises :class:`ProfileError` naming the valid profiles when the name is unknown.
    """
    chosen = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    key = str(chosen).strip().lower()
    if key not in PROFILES:
        source = "argument" if name else f"${PROFILE_ENV}"
        raise ProfileError(
            f"Unknown profile {chosen!r} (from {source}). Valid profiles: {', '.join(PROFILES)}."
        )
    return PROFILES[key]
