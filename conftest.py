"""Test setup for unit tests and nbval alike (this file sits at the repo root so that it also
applies to ``pytest --nbval solutions/...``): the ``ci`` profile unless one is set, a private
artifacts folder, quiet TensorFlow, and shared fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("DFLEARN_PROFILE", "ci")
os.environ.setdefault("DFLEARN_ARTIFACTS", tempfile.mkdtemp(prefix="dflearn-test-artifacts-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent
SHARED_SAMPLE = ROOT.parent / "shared" / "cifake-sample"


@pytest.fixture(scope="session")
def shared_sample() -> Path:
    """The 20,000-image CIFAKE sample beside the repo; skips when it is absent."""
    if not (SHARED_SAMPLE / "train").is_dir():
        pytest.skip(f"{SHARED_SAMPLE} is absent (it exists only in the project's CI and dev machines)")
    return SHARED_SAMPLE


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests get their own dataset cache (the shared-sample tests reuse one per session)."""
    monkeypatch.setenv("DFLEARN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def write_image(path: Path, size: int = 32, mode: str = "RGB", seed: int = 0) -> Path:
    """Write a random image of the given mode and size (format from the suffix)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


@pytest.fixture
def make_cifake(tmp_path: Path):
    """Factory: a small CIFAKE-layout folder with ``n`` random JPEGs per class and split."""

    def make(n: int = 6, size: int = 32) -> Path:
        root = tmp_path / "cifake"
        for split in ("train", "test"):
            for k, cls in enumerate(("FAKE", "REAL")):
                for i in range(n):
                    write_image(root / split / cls / f"{i:04d}.jpg", size, seed=1000 * (split == "test") + 100 * k + i)
        return root

    return make
