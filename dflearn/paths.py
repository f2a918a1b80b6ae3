"""Where dflearn finds its course files and keeps caches and artifacts.

Core layer, used by every notebook, through the course layer; imports no lesson module.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import platformdirs

CACHE_ENV = "DFLEARN_CACHE"
ARTIFACTS_ENV = "DFLEARN_ARTIFACTS"
HOME_ENV = "DFLEARN_HOME"


def cache_dir() -> Path:
    """Decoded-dataset cache: ``$DFLEARN_CACHE`` or the user cache directory."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("dflearn"))


def course_root() -> Path:
    """The course checkout (holds ``solutions/`` and ``data/``).

    Looks at ``$DFLEARN_HOME``, then the folder above the installed package (an editable or
    source install), then the working directory and its parents.
    """
    candidates = []
    if os.environ.get(HOME_ENV):
        candidates.append(Path(os.environ[HOME_ENV]).expanduser())
    candidates.append(Path(__file__).resolve().parents[1])
    cwd = Path.cwd().resolve()
    candidates.extend([cwd, *cwd.parents])
    for folder in candidates:
        if (folder / "solutions").is_dir() and (folder / "data").is_dir():
            return folder
    raise FileNotFoundError(
        "Cannot find the dflearn course folder (with solutions/ and data/). Run from inside the "
        f"cloned repository or set {HOME_ENV} to its path."
    )


def embedded_data_dir() -> Path:
    """The bundled practice set ``data/practice`` in CIFAKE layout."""
    return course_root() / "data" / "practice"


def artifacts_dir(profile: str) -> Path:
    """Where notebooks save trained models for later notebooks, one folder per profile.

    ``$DFLEARN_ARTIFACTS`` (set by ``dflearn run`` to its output folder) or the user cache.
    """
    env = os.environ.get(ARTIFACTS_ENV)
    base = Path(env).expanduser() if env else cache_dir() / "artifacts"
    folder = base / profile
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Write ``path`` atomically: yields a hidden temporary sibling with the same suffix (unique
    to this process and call, so two kernels saving the same name never collide), which replaces
    ``path`` once the block succeeds and is removed if it fails.

    ``with replacing(folder / "m.keras") as tmp: model.save(tmp)``
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
