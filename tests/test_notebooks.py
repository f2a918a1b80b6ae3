"""Student copies: region stripping, tags, stripped outputs, and no drift from solutions/."""

from __future__ import annotations

from pathlib import Path

import re

import nbformat
import pytest

from dflearn.course.notebooks import (BEGIN, END, NotebookSourceError, build_student, course_notebooks,
                               to_student)

ROOT = Path(__file__).resolve().parents[1]


def solution_notebook() -> nbformat.NotebookNode:
    code = ("def f(x):\n    \"\"\"Double x.\"\"\"\n    " + BEGIN + "\n    y = x * 2\n    return y\n    "
            + END + "\n\ndflearn.check_function('double', f, lambda x: 2 * x, [(1,)])")
    cells = [
        nbformat.v4.new_code_cell("profile = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code, execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="[PASSED]\n")]),
        nbformat.v4.new_markdown_cell(f"Why?\n\n{BEGIN}\nBecause.\n{END}"),
        nbformat.v4.new_code_cell(f"{BEGIN}\nz = 1\n{END}"),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def test_regions_become_prompts_and_cells_are_tagged() -> None:
    student = to_student(solution_notebook())
    code = student.cells[1].source
    assert "y = x * 2" not in code and BEGIN not in code
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()\n\ndflearn.check_function" in code
    assert '"""Double x."""' in code
    assert student.cells[1].metadata["tags"] == ["raises-exception"]
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert student.cells[2].source == "Why?\n\nYOUR ANSWER HERE"
    assert student.cells[3].source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert student.cells[0].metadata["tags"] == ["parameters"]


def test_source_notebook_is_not_modified() -> None:
    nb = solution_notebook()
    before = nbformat.writes(nb)
    to_student(nb)
    assert nbformat.writes(nb) == before


def test_unbalanced_markers_are_an_error() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"{BEGIN}\nx = 1\n")])
    with pytest.raises(NotebookSourceError, match="cell 0: unbalanced"):
        to_student(nb, "bad.ipynb")


def test_build_and_check_in_a_scratch_folder(tmp_path: Path) -> None:
    src, dst = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(solution_notebook(), src / "01_demo.ipynb")
    assert build_student(src, dst, check=True) == [dst / "01_demo.ipynb"]
    assert build_student(src, dst) == [dst / "01_demo.ipynb"]
    assert build_student(src, dst, check=True) == []
    (dst / "09_stale.ipynb").write_text("{}")
    assert build_student(src, dst, check=True) == [dst / "09_stale.ipynb"]
    with pytest.raises(ValueError, match="must differ"):
        build_student(src, src)


def test_student_notebooks_do_not_drift_from_solutions() -> None:
    assert course_notebooks(ROOT / "solutions"), "no solutions notebooks found"
    drift = build_student(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert drift == [], f"run `dflearn build-student`: out of date {[p.name for p in drift]}"


def test_every_solution_has_one_parameters_cell_and_setup() -> None:
    for path in course_notebooks(ROOT / "solutions"):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        assert "profile" in tagged[0].source, f"{path.name}: parameters cell must set profile"
        assert any("dflearn.setup(" in c.source for c in nb.cells), f"{path.name}: no dflearn.setup"
        assert nb.cells[0].cell_type == "markdown", f"{path.name}: start with a markdown title"


def test_papermill_can_read_every_parameters_cell() -> None:
    """papermill's parser rejects some comments (quotes, backticks): every name must parse."""
    from papermill.translators import PythonTranslator

    for path in course_notebooks(ROOT / "solutions"):
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assigned = re.findall(r"^(\w+)\s*=", cell.source, flags=re.MULTILINE)
        parsed = [p.name for p in PythonTranslator.inspect(cell)]
        assert parsed == assigned, f"{path.name}: papermill could not parse {set(assigned) - set(parsed)}"
