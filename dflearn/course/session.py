"""``dflearn.setup``: the first call of every notebook (profile, seeds, logging, data)."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dflearn.course.config import NotebookSettings, Profile, get_profile, notebook_id
from dflearn.data import Dataset, load_cifake
from dflearn.paths import artifacts_dir
from dflearn.sources import DatasetChoice, resolve_dataset
from dflearn.splits import Splits, make_splits


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

    @property
    def artifacts(self) -> Path:
        """Folder where this profile's trained models are saved and found."""
        return artifacts_dir(self.profile.name)


def setup(profile: str | None = None, notebook: str = "00", *, data: str | os.PathLike | None = None,
          seed: int = 42, tensorflow: bool = True) -> Session:
    """Start a notebook: choose the profile, seed everything, quiet the logs, print one summary line.

    Args:
        profile: ``ci``, ``cpu``, ``gpu`` or ``paper``; empty means ``$DFLEARN_PROFILE`` or ``cpu``.
        notebook: the notebook id, e.g. ``"03"``.
        data: an explicit dataset folder (CIFAKE layout); overrides the profile's data choice.
        seed: the seed for Python, NumPy and TensorFlow.
        tensorflow: also seed TensorFlow and make its ops deterministic.
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
    print(f"{chosen.summary(session.notebook)} | seed={seed}")
    return session
