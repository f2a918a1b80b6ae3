"""The Binder configuration (binder/): static checks, and (slow) a fresh venv built from the
binder files alone that imports the course's packages and runs 00_index.

The slow test creates a virtualenv and pip-installs TensorFlow (a few minutes); deselect it with
``-m "not slow"``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PIN = re.compile(r"^([A-Za-z0-9_.\[\]-]+)==([0-9][^\s;]*)$")
DOWNLOADERS = re.compile(r"\b(curl|wget|kaggle|kagglehub|gdown|aws|gsutil|dflearn download)\b")
IMPORTS = ("dflearn", "tensorflow", "keras", "numpy", "scipy", "pandas", "sklearn", "skimage", "PIL",
           "matplotlib", "seaborn", "ipywidgets", "jupyterlab", "ipykernel", "papermill", "nbformat")


def requirement_lines(path: Path) -> list[str]:
    """Non-comment, non-empty lines of a requirements file."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of the ``name==version`` lines."""
    found = {}
    for line in requirement_lines(path):
        match = PIN.match(line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1).lower())] = match.group(2)
    return found


def test_requirements_are_pinned_and_cpu_only() -> None:
    lines = requirement_lines(BINDER / "requirements.txt")
    unpinned = [line for line in lines if not PIN.match(line)]
    assert not unpinned, f"binder/requirements.txt lines without an exact pin: {unpinned}"
    binder = pins(BINDER / "requirements.txt")
    assert "tensorflow-cpu" in binder
    assert not {"tensorflow", "tensorflow-gpu"} & set(binder), "Binder must use CPU-only TensorFlow"
    assert not any("and-cuda" in line or "nvidia" in line for line in lines)
    for needed in ("jupyterlab", "ipywidgets", "ipykernel", "keras", "papermill"):
        assert needed in binder, f"binder/requirements.txt lacks {needed}"


NOT_ON_BINDER = {"pytest", "nbval", "pytest-xdist", "playwright", "dask", "distributed", "nbgrader"}  # tests and batch grading


def test_requirements_agree_with_the_course_pins() -> None:
    course, binder = pins(ROOT / "requirements.txt"), pins(BINDER / "requirements.txt")
    missing = sorted(set(course) - set(binder) - NOT_ON_BINDER)
    assert not missing, f"binder/requirements.txt lacks {missing} (pinned in requirements.txt)"
    differ = {name: (course[name], binder[name]) for name in course.keys() & binder.keys()
              if course[name] != binder[name]}
    assert not differ, f"requirements.txt and binder/requirements.txt pin differently: {differ}"


def test_postbuild_is_strict_installs_dflearn_and_downloads_nothing() -> None:
    post = BINDER / "postBuild"
    lines = [line.strip() for line in post.read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands[0] == "set -e", "postBuild must start with `set -e`"
    assert os.access(post, os.X_OK), "postBuild must be executable"
    assert any(re.search(r"pip install .*(-e|--editable) \.", c) or c.endswith("pip install .")
               for c in commands), "postBuild must install dflearn from the repository"
    assert not [c for c in commands if DOWNLOADERS.search(c)], "postBuild must not download data"


def test_runtime_is_a_supported_python() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.(1[0-9])", runtime), runtime
    assert int(runtime.split(".")[1]) >= 10  # pyproject: requires-python >= 3.10


def _index_notebook(repo: Path) -> Path | None:
    """00_index from solutions/ (complete, so every cell must run), else the student copy."""
    for folder in ("solutions", "notebooks"):
        found = sorted((repo / folder).glob("00_*.ipynb"))
        if found:
            return found[0]
    return None


def _copy_checkout(dest: Path) -> Path:
    """What Binder clones: the files git tracks or would track (ignored ones left out)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A fresh virtualenv from binder/requirements.txt + binder/postBuild in a copy of the repo."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the repository's files")
    base = tmp_path_factory.mktemp("binder")
    repo = _copy_checkout(base / "repo")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "HOME": str(base / "home"), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "MPLBACKEND": "Agg",
           "DFLEARN_CACHE": str(base / "cache"), "DFLEARN_ARTIFACTS": str(base / "artifacts")}
    for key in ("PYTHONPATH", "DFLEARN_HOME", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR"):
        env.pop(key, None)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", "-r",
                    str(repo / "binder" / "requirements.txt")], env=env, check=True, timeout=420)
    subprocess.run([str(repo / "binder" / "postBuild")], cwd=repo, env=env, check=True, timeout=240)
    return {"python": venv / "bin" / "python", "repo": repo, "env": env, "base": base}


@pytest.mark.slow
def test_fresh_binder_env_imports_everything(binder_env: dict) -> None:
    code = "; ".join(f"import {name}" for name in IMPORTS) + "; print(dflearn.__file__)"
    done = subprocess.run([str(binder_env["python"]), "-c", code], env=binder_env["env"],
                          cwd=binder_env["base"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith(str(binder_env["repo"]))


@pytest.mark.slow
def test_fresh_binder_env_runs_00_index(binder_env: dict) -> None:
    notebook = _index_notebook(binder_env["repo"])
    if notebook is None:
        pytest.skip("no 00_*.ipynb in notebooks/ or solutions/ yet")
    if not (binder_env["repo"] / "data" / "practice" / "train").is_dir():
        pytest.skip("data/practice (the bundled practice set) is not in the repository yet")
    output = binder_env["base"] / "00_index.executed.ipynb"
    done = subprocess.run([str(binder_env["python"]), "-m", "papermill", str(notebook), str(output),
                           "-p", "profile", "ci", "-k", "python3", "--language", "python",
                           "--cwd", str(notebook.parent), "--no-progress-bar"],
                          env=binder_env["env"], cwd=binder_env["base"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
