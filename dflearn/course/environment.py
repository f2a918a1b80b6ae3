"""The environment check shown in 00_index and by ``dflearn env``."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

import pandas as pd

from dflearn.course.config import get_profile
from dflearn.sources import resolve_dataset

PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "scikit-image",
            "pandas", "matplotlib", "ipywidgets", "papermill", "nbval")


def package_versions() -> dict[str, str]:
    """Installed versions of the course's main packages (missing ones are left out)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


def accelerators() -> list[str]:
    """Names of the GPUs TensorFlow can see (empty on a CPU-only machine)."""
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def environment_report(profile: str | None = None) -> pd.DataFrame:
    """A two-column table: what was checked and what was found."""
    chosen = get_profile(profile)
    gpus = accelerators()
    dataset = resolve_dataset(mode=chosen.data, download=False)
    rows = [("python", platform.python_version()), ("platform", platform.platform(terse=True))]
    rows += [(name, version) for name, version in package_versions().items()]
    rows += [
        ("CPU cores", str(os.cpu_count())),
        ("GPUs", ", ".join(gpus) if gpus else "none (CPU only: use the ci or cpu profile)"),
        ("profile", f"{chosen.name}: {chosen.description}"),
        ("dataset", f"{dataset.name} ({dataset.source}): {dataset.root}"),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])
