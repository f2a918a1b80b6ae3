"""The course's notebook files: listing them, and building student copies from the solutions.

``solutions/`` is the single source. Exercise regions are marked as in nbgrader::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

In the student copy each region becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError()``
(``YOUR ANSWER HERE`` in markdown), the cell is tagged ``raises-exception`` and every output is
stripped. ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` regions (instructor-only checks)
are removed from the student copy; the grader runs them from the solutions notebook.

Both copies carry nbgrader's cell metadata (schema 3), derived from the markers, so that
nbgrader's ``generate_assignment``, ``autograde`` and formgrader work on them
(:func:`nbgrader_metadata`):

* a code cell with a solution region and a ``dflearn.check*`` call: ``solution`` and ``grade``
  with the check's ``points`` (nbgrader grades it by hand; ``dflearn grade`` by the check);
* a code cell with a solution region and no check: ``solution`` (an answer used later);
* a code cell with a check and no region, e.g. hidden tests: ``grade``, ``locked``;
* a markdown cell with a solution region, a written answer: ``solution`` and ``grade``;
* a cell tagged ``task``: nbgrader's ``task`` (graded by hand, answered in other cells).

A tag ``points=N`` sets a cell's points (default: the check's ``points=``, else 1).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from dflearn.course.config import NOTEBOOKS, notebook_id
from dflearn.course.sandbox import RECORD_MIME
from dflearn.paths import course_root

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
RAISES_TAG = "raises-exception"
TASK_TAG = "task"
NBGRADER_SCHEMA = 3
EXERCISE_PREFIX = "exercise/"
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*(\n|$)",
                     re.MULTILINE | re.DOTALL)
_CHECK_CALL = re.compile(r"""\bcheck(?:_close|_function)?\(\s*(['"])(.+?)\1""")
_POINTS_ARG = re.compile(r"\bpoints\s*=\s*([0-9]+(?:\.[0-9]*)?)")
_POINTS_TAG = re.compile(r"^points=([0-9]+(?:\.[0-9]*)?)$")


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


def _strip_hidden(source: str) -> str:
    """The source less its hidden-test regions, line by line as nbgrader's ClearHiddenTests does."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden = True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    if hidden:
        raise NotebookSourceError(f"'{BEGIN_HIDDEN}' without '{END_HIDDEN}'.")
    return "\n".join(kept)


def _stored_points(cell: nbformat.NotebookNode) -> dict[str, float]:
    """``max_points`` of the ``exercise/*`` records a solutions cell stored."""
    found = {}
    for output in cell.get("outputs", []):
        payload = output.get("data", {}).get(RECORD_MIME)
        if isinstance(payload, dict) and str(payload.get("key", "")).startswith(EXERCISE_PREFIX):
            value = payload.get("value")
            found[payload["key"]] = float(value.get("max_points", 1.0)) if isinstance(value, dict) else 1.0
    return found


def _tag_points(cell: nbformat.NotebookNode) -> float | None:
    for tag in cell.get("metadata", {}).get("tags", []):
        if match := _POINTS_TAG.match(tag):
            return float(match.group(1))
    return None


def exercise_points(cell: nbformat.NotebookNode) -> dict[str, float]:
    """``exercise/<name>`` -> points of each check in a solutions cell: a ``points=N`` tag or
    nbgrader ``points`` (a cell with one check), else its stored record's ``max_points``, else the
    call's ``points=`` argument, else 1. Used by the grader's rubric and by :func:`nbgrader_metadata`."""
    found = _stored_points(cell)
    calls = list(_CHECK_CALL.finditer(cell.source))
    for call, following in zip(calls, [*calls[1:], None]):
        argument = _POINTS_ARG.search(cell.source, call.end(), following.start() if following else len(cell.source))
        found.setdefault(EXERCISE_PREFIX + call.group(2), float(argument.group(1)) if argument else 1.0)
    fixed = _tag_points(cell)
    if fixed is None:
        fixed = cell.get("metadata", {}).get("nbgrader", {}).get("points")
    if len(found) == 1 and fixed is not None:
        found = {key: float(fixed) for key in found}
    return found


def _grade_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "cell"


def nbgrader_metadata(cell: nbformat.NotebookNode, index: int) -> dict | None:
    """nbgrader's metadata (schema 3) for a solutions cell, derived from its markers and tags;
    None for an ordinary cell. ``index`` names cells without a check or id."""
    tags = cell.get("metadata", {}).get("tags", [])
    solution = BEGIN in cell.source
    points = exercise_points(cell) if cell.cell_type == "code" else {}
    kind = "task" if TASK_TAG in tags else "answer" if solution else "cell"
    name = next(iter(points)).replace(EXERCISE_PREFIX, "exercise-") if points else f"{kind}-{cell.get('id') or index}"
    ident = _grade_id(name)
    base = {"grade_id": ident, "schema_version": NBGRADER_SCHEMA, "solution": solution, "grade": False,
            "locked": False}
    total = _tag_points(cell) or float(sum(points.values()) or 1.0)
    if TASK_TAG in tags:
        return {**base, "task": True, "solution": False, "locked": True, "points": total}
    if solution and (points or cell.cell_type == "markdown"):
        return {**base, "grade": True, "points": total}
    if solution:
        return base
    if points:
        return {**base, "grade": True, "locked": True, "points": total}
    return None


def with_nbgrader_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of a solutions notebook whose graded cells carry nbgrader's metadata: nbgrader's
    "source" version of the notebook (``dflearn nbgrader-export`` writes these)."""
    marked = copy.deepcopy(nb)
    for index, cell in enumerate(marked.cells):
        meta = nbgrader_metadata(cell, index)
        if meta is not None:
            cell.metadata["nbgrader"] = meta
    return marked


def _lock(cell: nbformat.NotebookNode) -> None:
    """Jupyter's ``deletable`` / ``editable`` flags, as nbgrader's ``generate_assignment`` sets them."""
    meta = cell.metadata.get("nbgrader")
    if not meta:
        return
    if meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task"):
        cell.metadata["deletable"] = False
    if (meta.get("grade") or meta.get("locked") or meta.get("task")) and not meta.get("solution"):
        cell.metadata["editable"] = False


def to_student(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solutions notebook (the input is not modified)."""
    student = with_nbgrader_metadata(nb)
    for i, cell in enumerate(student.cells):
        where = f"{name} cell {i}"
        _lock(cell)
        if BEGIN_HIDDEN in cell.source:
            cell.source = _strip_hidden(cell.source)
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


NBGRADER_CONFIG = """c = get_config()  # noqa: F821 (nbgrader's config file)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "dflearn"
"""


def export_nbgrader(course_dir: str | Path, src: str | Path | None = None, only: list[str] | None = None,
                    assignment: str | None = None) -> list[Path]:
    """Write an nbgrader course folder: ``source/<NN_topic>/<NN_topic>.ipynb`` for each solutions
    notebook (or all in ``source/<assignment>/``), with nbgrader's metadata, and an
    ``nbgrader_config.py`` if there is none. Then ``nbgrader generate_assignment NN_topic`` (run
    in ``course_dir``) writes the release copy, which equals our student copy
    (tests/test_nbgrader.py)."""
    course = Path(course_dir).expanduser().resolve()
    written = []
    for solution in course_notebooks(src, only):
        target = course / "source" / (assignment or solution.stem) / solution.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(with_nbgrader_metadata(nbformat.read(solution, as_version=4)), target)
        written.append(target)
    config = course / "nbgrader_config.py"
    if not config.exists():
        config.write_text(NBGRADER_CONFIG.format(root=str(course)), encoding="utf-8")
    return written
