"""Maintainer tool: execute solutions notebooks in place under the ``ci`` profile, so the stored
outputs that ``pytest --nbval`` compares are current, then rebuild the student copies.

Usage: python tools/refresh_outputs.py [03 05 ...]   (no ids: every notebook)
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
ROOT = Path(__file__).resolve().parents[1]
# TensorFlow's native (absl) start-up lines, which reach a kernel's stderr whatever
# TF_CPP_MIN_LOG_LEVEL says; nbval's kernels do not show them, so they must not be stored.
NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are "
                        r"written to STDERR|[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*)$")
sys.path.insert(0, str(ROOT))

from dflearn.course.notebooks import build_student, course_notebooks  # noqa: E402


def is_native_log(output: nbformat.NotebookNode) -> bool:
    """Whether an output is a stderr stream made only of TensorFlow's native log lines."""
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return False
    lines = [line for line in output.get("text", "").splitlines() if line.strip()]
    return bool(lines) and all(NATIVE_LOG.match(line) for line in lines)


def refresh(path: Path, timeout: int = 900) -> float:
    """Execute one notebook in a fresh kernel (cwd = its folder) under the ``ci`` profile and
    save it with outputs (a private artifacts folder unless ``DFLEARN_ARTIFACTS`` is set)."""
    os.environ["DFLEARN_PROFILE"] = "ci"
    os.environ.setdefault("DFLEARN_ARTIFACTS", tempfile.mkdtemp(prefix="dflearn-refresh-"))
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = KERNELSPEC
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_native_log(o)]
    for key in ("widgets", "jupytext"):
        nb.metadata.pop(key, None)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(ids: list[str]) -> None:
    """Refresh the given notebooks (all when none given) and rebuild notebooks/."""
    os.environ["DFLEARN_PROFILE"] = "ci"
    # one artifacts folder for the whole ordered run, so later notebooks load earlier models;
    # DFLEARN_REFRESH_ARTIFACTS continues an earlier refresh's folder (e.g. to redo 09 only)
    os.environ["DFLEARN_ARTIFACTS"] = (os.environ.get("DFLEARN_REFRESH_ARTIFACTS")
                                       or tempfile.mkdtemp(prefix="dflearn-refresh-"))
    print(f"artifacts: {os.environ['DFLEARN_ARTIFACTS']}", flush=True)
    for path in course_notebooks(ROOT / "solutions", only=ids or None):
        print(f"{path.name}: {refresh(path):.1f} s", flush=True)
    for changed in build_student():
        print(f"rebuilt {changed.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
