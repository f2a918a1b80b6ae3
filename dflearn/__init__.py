"""dflearn: helpers for the deepfake-detection course (data, features, models, training,
metrics, saliency, plots, widgets, course running and grading)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports TensorFlow

from dflearn.checks import check, check_close, check_function  # noqa: E402
from dflearn.config import PROFILES, get_profile  # noqa: E402
from dflearn.data import CLASS_NAMES, FAKE, REAL, Dataset, DatasetError, load_cifake  # noqa: E402
from dflearn.results import read_records, record  # noqa: E402
from dflearn.session import Session, setup  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CLASS_NAMES", "FAKE", "PROFILES", "REAL", "Dataset", "DatasetError", "Session",
    "check", "check_close", "check_function", "get_profile", "load_cifake", "read_records",
    "record", "setup", "__version__",
]
