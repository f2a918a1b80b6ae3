"""nbgrader compatibility (dflearn.course.notebooks): the metadata derived from our markers, and
nbgrader itself on our notebooks (skipped when nbgrader is not installed: ``pip install -e .[nbgrader]``).

* ``generate_assignment`` on every course solution gives the release copy that
  ``dflearn build-student`` writes (up to nbgrader's own bookkeeping: checksums, cell types);
* nbgrader's metadata validator accepts every solution, and ``nbgrader validate`` runs a tiny
  solution and 00_index under the ``ci`` profile and accepts them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dflearn.course.notebooks import (BEGIN_HIDDEN, END_HIDDEN, NBGRADER_SCHEMA, course_notebooks, export_nbgrader,
                                      nbgrader_metadata, to_student, with_nbgrader_metadata)

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = ("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n"
            "dflearn.check_function('double', double, lambda x: 2 * x, [(1,)], points=2)")
HIDDEN = (f"dflearn.check('double-hidden', double(21) == 42)\n{BEGIN_HIDDEN}\n"
          f"dflearn.check('double-big', double(10**6) == 2 * 10**6)\n{END_HIDDEN}")
ANSWER = "Why does the model fail?\n\n### BEGIN SOLUTION\nIt overfits.\n### END SOLUTION"
IGNORED = ("checksum", "cell_type")  # what nbgrader adds to its metadata when it releases


def tiny_solution() -> nbformat.NotebookNode:
    """Parameters, an exercise (2 points), a helper answer, hidden tests, a written answer, a task."""
    params = nbformat.v4.new_code_cell('profile = ""')
    params.metadata["tags"] = ["parameters"]
    helper = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nthreshold = 0.5\n### END SOLUTION")
    task = nbformat.v4.new_markdown_cell("Plot the errors and discuss them (3 points).")
    task.metadata["tags"] = ["task", "points=3"]
    cells = [params, nbformat.v4.new_code_cell("import dflearn"), nbformat.v4.new_code_cell(EXERCISE), helper,
             nbformat.v4.new_code_cell(HIDDEN), nbformat.v4.new_markdown_cell(ANSWER), task]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "language": "python", "display_name": "Python 3"}})


def test_metadata_is_derived_from_markers_and_tags() -> None:
    nb = tiny_solution()
    kinds = [nbgrader_metadata(cell, i) for i, cell in enumerate(nb.cells)]
    assert kinds[0] is None and kinds[1] is None
    assert kinds[2] == {"grade_id": "exercise-double", "schema_version": NBGRADER_SCHEMA, "solution": True,
                        "grade": True, "locked": False, "points": 2.0}
    assert kinds[3]["solution"] and not kinds[3]["grade"] and "points" not in kinds[3]
    assert kinds[4]["grade"] and kinds[4]["locked"] and not kinds[4]["solution"] and kinds[4]["points"] == 2.0
    assert kinds[5]["grade"] and kinds[5]["solution"] and kinds[5]["points"] == 1.0
    assert kinds[6]["task"] and kinds[6]["locked"] and kinds[6]["points"] == 3.0
    assert len({k["grade_id"] for k in kinds if k}) == 5


def test_student_copy_locks_cells_and_drops_hidden_tests() -> None:
    student = to_student(tiny_solution())
    assert "double-big" not in student.cells[4].source and "double-hidden" in student.cells[4].source
    assert student.cells[4].metadata["editable"] is False and student.cells[4].metadata["deletable"] is False
    assert student.cells[2].metadata["deletable"] is False and "editable" not in student.cells[2].metadata
    assert student.cells[5].source == "Why does the model fail?\n\nYOUR ANSWER HERE"
    assert "nbgrader" not in tiny_solution().cells[2].metadata  # the input is not modified


def _comparable(cell: nbformat.NotebookNode) -> tuple:
    meta = {k: v for k, v in cell.metadata.items() if k != "tags"}
    if "nbgrader" in meta:
        meta["nbgrader"] = {k: v for k, v in meta["nbgrader"].items() if k not in IGNORED}
    tags = [t for t in cell.metadata.get("tags", []) if t != "raises-exception"]
    return cell.cell_type, cell.source, meta, tags, cell.get("outputs", [])


def _nbgrader(course: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "DFLEARN_PROFILE": "ci", "DFLEARN_HOME": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_generate_assignment_gives_our_student_copies(tmp_path: Path) -> None:
    pytest.importorskip("nbgrader")
    tiny = tmp_path / "tiny" / "00_tiny.ipynb"
    tiny.parent.mkdir()
    nbformat.write(tiny_solution(), tiny)
    course = tmp_path / "course"
    sources = export_nbgrader(course, assignment="all") + export_nbgrader(course, src=tiny.parent, assignment="all")
    assert len(sources) == len(course_notebooks()) + 1
    done = _nbgrader(course, "generate_assignment", "all", "--force")  # one assignment: one start-up
    assert done.returncode == 0, done.stdout + done.stderr
    for source in sources:
        release = nbformat.read(course / "release" / "all" / source.name, as_version=4)
        ours = to_student(nbformat.read(source, as_version=4))
        assert [_comparable(c) for c in release.cells] == [_comparable(c) for c in ours.cells], source.name


def test_nbgrader_metadata_validator_accepts_every_solution() -> None:
    validators = pytest.importorskip("nbgrader.nbgraderformat")
    for solution in course_notebooks():
        validators.MetadataValidator().validate_nb(with_nbgrader_metadata(nbformat.read(solution, as_version=4)))


def test_nbgrader_validate_runs_and_accepts_solutions(tmp_path: Path) -> None:
    pytest.importorskip("nbgrader")
    notebooks = [tmp_path / "00_tiny.ipynb"]
    nbformat.write(with_nbgrader_metadata(tiny_solution()), notebooks[0])
    index = course_notebooks(only=["00"])
    if index:
        notebooks.append(tmp_path / index[0].name)
        nbformat.write(with_nbgrader_metadata(nbformat.read(index[0], as_version=4)), notebooks[-1])
    for notebook in notebooks:
        done = _nbgrader(tmp_path, "validate", str(notebook))
        assert done.returncode == 0 and "Success! Your notebook passes all the tests." in done.stdout, \
            done.stdout + done.stderr
