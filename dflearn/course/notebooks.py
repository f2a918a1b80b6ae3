"""The course's notebook files: listing them, and building student copies from the solutions.

``solutions/`` is the single source. Exercise regions are marked as in nbgrader::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

In the student copy each region becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError()``
(``YOUR ANSWER HERE`` in markdown), the cell is tagged ``raises-exception`` and every output is
stripped.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from dflearn.course.config import NOTEBOOKS, notebook_id
from dflearn.paths import course_root

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
RAISES_TAG = "raises-exception"
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*(\n|$)",
                     re.MULTILINE | re.DOTALL)


class NotebookSourceError(ValueError):
    """A solutions notebook has unbalanced or nested solution markers."""


def course_notebooks(folder: str | Path | None = None, only: list[str] | None = None) -> list[Path]:
    """The course's ``NN_topic.ipynb`` files in order (optionally only some ids)."""
    folder = Path(folder) if folder else course_root() / "solutions"
    wanted = {notebook_id(n) for n in only} if only else set(NOTEBOOKS)
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.name[:2] in wanted)
    return found


def _strip_regions(source: str, code: bool, where: str) -> str:
    if source.count(BEGIN) != source.count(END):
        raise NotebookSourceError(f"{where}: unbalanced '{BEGIN}' / '{END}' markers.")

    def replace(match: re.Match) -> str:
        indent = match.group(1)
        body = (f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()" if code
                else f"{indent}YOUR ANSWER HERE")
        return body + match.group(2)

    stripped = _REGION.sub(replace, source)
    if BEGIN in stripped or END in stripped:
        raise NotebookSourceError(f"{where}: nested or malformed solution markers.")
    return stripped


def to_student(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solutions notebook (the input is not modified)."""
    student = copy.deepcopy(nb)
    for i, cell in enumerate(student.cells):
        where = f"{name} cell {i}"
        if BEGIN in cell.source:
            cell.source = _strip_regions(cell.source, cell.cell_type == "code", where)
            if cell.cell_type == "code":
                tags = cell.metadata.setdefault("tags", [])
                if RAISES_TAG not in tags:
                    tags.append(RAISES_TAG)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    for key in ("papermill", "widgets"):
        student.metadata.pop(key, None)
    return student


def student_text(solution: Path) -> str:
    """The exact file text ``build-student`` writes for one solutions notebook."""
    nb = nbformat.read(solution, as_version=4)
    return nbformat.writes(to_student(nb, solution.name)) + "\n"


def build_student(src: str | Path | None = None, dst: str | Path | None = None,
                  check: bool = False) -> list[Path]:
    """Write student copies of every solutions notebook into ``dst``.

    With ``check=True`` nothing is written; the notebooks whose student copy is missing or
    differs from what would be written are returned instead.
    """
    root = course_root()
    src = Path(src) if src else root / "solutions"
    dst = Path(dst) if dst else root / "notebooks"
    if src.resolve() == dst.resolve():
        raise ValueError("The student folder must differ from the solutions folder.")
    changed = []
    for solution in course_notebooks(src):
        target = dst / solution.name
        text = student_text(solution)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            changed.append(target)
            if not check:
                dst.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    if check:
        expected = {p.name for p in course_notebooks(src)}
        changed += [p for p in course_notebooks(dst) if p.name not in expected]
    return changed
