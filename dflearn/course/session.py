"""``dflearn.setup``: the first call of every notebook (profile, seeds, logging, data)."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dflearn import training_clock
from dflearn.course.config import NOTEBOOKS, NotebookSettings, Profile, get_profile, notebook_id
from dflearn.data import CLASS_NAMES, Dataset, DatasetError, list_class_files, load_cifake, load_labelled_folder
from dflearn.paths import artifacts_dir
from dflearn.sources import DatasetChoice, resolve_dataset
from dflearn.splits import Splits, balanced_subset, make_splits

HIDDEN_DATA_ENV = "DFLEARN_HIDDEN_DATA"  # set by `dflearn grade --hidden-data DIR` inside the sandbox
NO_HIDDEN_SPLIT = ("no hidden split given: checking on the test split; the grader uses data you do not have")
HIDDEN_LAYOUT_HELP = ("Pass a folder holding test/REAL and test/FAKE (the CIFAKE layout) or REAL/ and FAKE/ "
                      "directly, each with .jpg/.jpeg/.png images the students do not have.")


def hidden_data_folder(root: str | os.PathLike) -> Path:
    """The class-folder parent of a hidden split: ``root/test`` when it exists, else ``root``.

    Raises :class:`DatasetError` naming the path and the expected layout when ``root`` is
    missing, lacks a REAL or FAKE folder, or one of them holds no image. Used by
    :meth:`Session.hidden_split` and by ``dflearn grade --hidden-data`` before any submission runs.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"Hidden data folder not found: {root}. {HIDDEN_LAYOUT_HELP}")
    folder = root / "test" if (root / "test").is_dir() else root
    missing = [name for name in CLASS_NAMES if not (folder / name).is_dir()]
    if missing:
        raise DatasetError(f"Hidden data folder {folder} has no {' or '.join(missing)} folder. {HIDDEN_LAYOUT_HELP}")
    try:
        list_class_files({label: folder / name for label, name in enumerate(CLASS_NAMES)})
    except DatasetError as exc:
        raise DatasetError(f"Hidden data: {exc} {HIDDEN_LAYOUT_HELP}") from None
    return folder.resolve()


def quiet_logs() -> None:
    """Silence TensorFlow's C++ and Python start-up chatter (kept out of notebook outputs)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="keras.src.trainers")


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``) and ask for
    deterministic TensorFlow kernels."""
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)  # TF resets its logger to INFO on first use
    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


@dataclass
class Session:
    """What a notebook needs from the course: profile settings, seed, data and artifacts."""

    profile: Profile
    notebook: str
    seed: int = 42
    data: str | os.PathLike | None = None
    _loaded: dict = field(default_factory=dict, repr=False)

    @property
    def notebook_name(self) -> str:
        """The notebook's file stem, e.g. ``"03_cnns"`` (saved with its models as provenance)."""
        return NOTEBOOKS.get(self.notebook, self.notebook)

    @property
    def settings(self) -> NotebookSettings:
        """This notebook's settings under the active profile."""
        return self.profile.for_notebook(self.notebook)

    @cached_property
    def dataset(self) -> DatasetChoice:
        """The dataset folder chosen for this run (printed once)."""
        choice = resolve_dataset(self.data, mode=self.profile.data)
        print(choice.line())
        return choice

    def load(self, split: str = "train") -> Dataset:
        """Load a whole split of the chosen dataset (cached on disk and in memory)."""
        if split not in self._loaded:
            self._loaded[split] = load_cifake(self.dataset.root, split)
        return self._loaded[split]

    def splits(self) -> Splits:
        """Train/validation/test splits sized by the profile, seeded."""
        s = self.settings
        return make_splits(self.load("train"), self.load("test"), self.profile.split,
                           n_train_per_class=s.n_train_per_class,
                           n_test_per_class=s.n_test_per_class, seed=self.seed)

    def hidden_split(self, n_per_class: int | None = None) -> Dataset:
        """Images the grader scores open-ended tasks on, which the student copy cannot load.

        Under ``dflearn grade --hidden-data DIR`` (``$DFLEARN_HIDDEN_DATA``) these are that
        folder's images, resized to the size of this session's test images; otherwise (a
        student's own run, nbval) the session's test split, with one printed line saying so.
        ``n_per_class`` draws that many images per class (seeded); ``None`` keeps them all.
        Used by the hidden tests of the open-ended tasks (01, 02, ...).
        """
        test = self.splits().test
        hidden = os.environ.get(HIDDEN_DATA_ENV, "")
        if not hidden:
            print(NO_HIDDEN_SPLIT)
            chosen = test
        else:
            chosen = load_labelled_folder(hidden_data_folder(hidden), image_size=test.images.shape[1])
        return balanced_subset(chosen, n_per_class, self.seed + 2) if n_per_class else chosen

    @property
    def artifacts(self) -> Path:
        """Folder where this profile's trained models are saved and found."""
        return artifacts_dir(self.profile.name)


def setup(profile: str | None = None, notebook: str = "00", *, data: str | os.PathLike | None = None,
          seed: int = 42, tensorflow: bool = True, clock: bool = True) -> Session:
    """Start a notebook: choose the profile, seed everything, quiet the logs, print one summary line.

    Args:
        profile: ``ci``, ``cpu``, ``gpu`` or ``paper``; empty means ``$DFLEARN_PROFILE`` or ``cpu``.
        notebook: the notebook id, e.g. ``"03"``.
        data: an explicit dataset folder (CIFAKE layout); overrides the profile's data choice.
        seed: the seed for Python, NumPy and TensorFlow.
        tensorflow: also seed TensorFlow and make its ops deterministic.
        clock: start the notebook's training clock (:mod:`dflearn.training_clock`) from the
            profile's ``training_budgets``; benchmarks pass ``False`` so that each of their fits
            keeps its own budget.
    """
    quiet_logs()
    chosen = get_profile(profile or None)
    if tensorflow:
        seed_everything(seed)
    else:
        import random

        import numpy as np

        random.seed(seed)
        np.random.seed(seed)
    session = Session(chosen, notebook_id(notebook), seed, data or None)
    training_clock.start(chosen.training_budget(session.notebook) if clock else None)
    print(f"{chosen.summary(session.notebook, clock=clock)} | seed={seed}")
    return session
