"""dflearn: helpers for the deepfake-detection course (data, features, models, training,
metrics, saliency, plots, widgets, course running and grading).

Top-level names are imported lazily, so ``import dflearn`` is quick and a notebook only pays
for the modules it uses.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports TensorFlow

__version__ = "0.1.0"

_EXPORTS = {
    "check": "dflearn.course.checks", "check_close": "dflearn.course.checks", "check_function": "dflearn.course.checks",
    "PROFILES": "dflearn.course.config", "get_profile": "dflearn.course.config",
    "CLASS_NAMES": "dflearn.data", "FAKE": "dflearn.data", "REAL": "dflearn.data",
    "Dataset": "dflearn.data", "DatasetError": "dflearn.data", "load_cifake": "dflearn.data",
    "read_records": "dflearn.course.results", "record": "dflearn.course.results",
    "Session": "dflearn.course.session", "setup": "dflearn.course.session",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"dflearn.{name}")  # submodules: dflearn.plots etc.
    except ModuleNotFoundError as exc:
        if exc.name != f"dflearn.{name}":
            raise  # the submodule exists but needs a missing package
        raise AttributeError(f"module 'dflearn' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
