"""Batch grading: run every student's copy of a notebook in a sandbox and build a gradebook.

``grade(submissions, "03")`` expects one folder per student holding that student's filled-in
``03_*.ipynb``. Each submission runs through papermill in a fresh kernel, in its own temporary
work folder, under a wall-clock timeout, a memory cap and (on Linux) a Landlock rule that allows
writes only inside that folder (see :mod:`dflearn.course.sandbox`). Saved outputs are stripped before the
run and never read.

Scores come from the instructor's solutions notebook, not from the student's file: each exercise
check (``dflearn.check*``, recorded as ``exercise/<name>``) and each headline record with a
threshold (``--threshold`` or the profile's ``extra["grade"]``) is an item. An item scores only
from a record that (1) carries this run's HMAC signature, i.e. was made by ``dflearn.record`` in
the fresh kernel, (2) comes from the cell whose code outside the ``YOUR CODE HERE`` regions equals
the solution's cell, and (3) that cell finished without an error. Everything else is ignored and
listed under ``flags`` for the instructor to review, as are suspicious names in student code.

Written answers and ``task`` cells are ``manual/*`` items, marked by hand and merged from a CSV
(:func:`apply_manual_marks`). Cells holding hidden tests in the solution are put back before a
submission runs (:func:`restore_hidden_tests`); those of the open-ended tasks score the student's
function or model on ``session.hidden_split()``, the instructor's ``--hidden-data`` folder, which
the sandbox may read (``$DFLEARN_HIDDEN_DATA``); a run without it is flagged. Every student gets
``feedback/<student>.html`` (:mod:`dflearn.course.feedback`). On Dask a submission whose worker is lost is retried once.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import nbformat
import pandas as pd

from dflearn.course import sandbox
from dflearn.course.config import get_profile, notebook_id
from dflearn.course.feedback import MANUAL_PREFIX, item_stats, manual_template, merge_manual, read_manual, \
    write_feedback
from dflearn.course.notebooks import BEGIN_HIDDEN, END_HIDDEN, course_notebooks, exercise_points, \
    nbgrader_metadata, to_student
from dflearn.paths import course_root
from dflearn.course.results import RECORD_MIME, from_jsonable
from dflearn.course.runner import fresh_output_dir
from dflearn.course.session import HIDDEN_DATA_ENV, hidden_data_folder
from dflearn.data import DatasetError

STATUSES = ("ok", "error", "timeout", "invalid", "missing")
MAX_NOTEBOOK_BYTES = 20 * 2**20
PAPERMILL_TAGS = ("injected-parameters", "papermill-error-cell-tag")
HIDDEN_FIELD = "dflearn_hidden"  # cell metadata: restored from the solution's hidden tests
_PLACEHOLDER = re.compile(r"^[ \t]*# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)[ \t]*$", re.M)
_SUSPICIOUS = ("RECORD_MIME", "vnd.dflearn", "display_pub", "get_ipython", "publish_display_data",
               "dflearn.check", "dflearn.record", "dflearn.course.results", "dflearn.course.sandbox", "record(",
               "__code__", "__closure__", "__globals__", "_getframe", "gc.get", "ctypes",
               "os.environ", "subprocess", "socket", "importlib", "sys.modules", "setattr(",
               "exec(", "eval(", "compile(", "os.fork", "signal")


class GradingError(ValueError):
    """Grading cannot start: bad submissions folder, notebook id, solution or threshold."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use: wall seconds, memory (MiB), kept output and file sizes."""

    timeout: float = 600.0
    memory_mb: int = 6144
    max_output_bytes: int = 5_000_000
    max_file_mb: int = 512
    threads: int = 0  # threads per kernel; 0: the cores divided by the workers
    max_tasks: int = 512  # processes + threads per kernel (pids cgroup, RLIMIT_NPROC); 0: no cap
    restrict_reads: bool = True  # Landlock: the kernel reads only Python, dflearn, the data, /usr...


@dataclass(frozen=True)
class Item:
    """One graded item: an exercise check or a headline record with a minimum."""

    key: str
    max_points: float
    cell: int  # index into Rubric.cells: the solution cell that must emit the record (-1: none)
    minimum: float | None = None
    manual: bool = False  # a written answer or task: marked by hand (``--manual``), 0 until then


@dataclass(frozen=True)
class Rubric:
    """What the solutions notebook expects: its file name, items and code-cell patterns."""

    filename: str
    items: tuple[Item, ...]
    cells: tuple[str, ...]  # regex per solution code cell; answers are the (.*?) groups
    hidden: Mapping[int, str] = field(default_factory=dict)  # code cell -> source with its hidden tests
    hidden_split: tuple[str, ...] = ()  # items checked in hidden tests that call session.hidden_split


@dataclass(frozen=True)
class Task:
    """One submission to grade (picklable, so it can travel to a Dask worker)."""

    student: str
    rubric: Rubric
    limits: Limits
    parameters: Mapping[str, Any]
    profile: str
    text: str | None = None  # the notebook JSON; None when status is already decided
    status: str = ""
    message: str = ""
    hidden_data: str | None = None  # the instructor's hidden split (``--hidden-data``), checked
    artifacts: str | None = None  # the instructor's saved models (``--artifacts``), checked


@dataclass
class Outcome:
    """The graded result of one submission."""

    student: str
    status: str
    seconds: float = 0.0
    failed_cell: int | None = None
    message: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    executed: str | None = None  # the executed notebook's JSON
    log: str = ""

    @property
    def total(self) -> float:
        """Points scored."""
        return float(sum(d["points"] for d in self.details))


@dataclass
class Gradebook:
    """What :func:`grade` returns: the tables and where the files were written."""

    table: pd.DataFrame
    details: pd.DataFrame
    out_dir: Path
    outcomes: list[Outcome]


# ---------------------------------------------------------------- the rubric

def _normalise(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.replace("\r\n", "\n").split("\n")).strip()


def cell_pattern(skeleton_source: str) -> str:
    """Regex matching a student's version of a cell: the fixed code must be unchanged, each
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` placeholder may hold anything."""
    parts = _PLACEHOLDER.split(_normalise(skeleton_source))
    return r"\s*" + "(.*?)".join(re.escape(part) for part in parts) + r"\s*"


def _cell_records(cell: nbformat.NotebookNode) -> list[tuple[dict, Any]]:
    """(payload, signature) of every dflearn record in a cell's outputs."""
    found = []
    for output in cell.get("outputs", []):
        payload = output.get("data", {}).get(RECORD_MIME)
        if isinstance(payload, dict) and "key" in payload:
            found.append((payload, output.get("metadata", {}).get(sandbox.SIGNATURE_FIELD)))
    return found


def _threshold(spec: Any, key: str) -> tuple[float, float]:
    """(minimum, points) from ``0.8`` or ``{"min": 0.8, "points": 2}``."""
    try:
        if isinstance(spec, Mapping):
            return float(spec["min"]), float(spec.get("points", 1.0))
        return float(spec), 1.0
    except (KeyError, TypeError, ValueError):
        raise GradingError(f"Threshold for {key!r} must be a number or {{'min': x, 'points': p}}, "
                           f"got {spec!r}.") from None


def rubric_from_solution(solution: str | os.PathLike, thresholds: Mapping[str, Any] | None = None) -> Rubric:
    """Build the rubric from the instructor's solutions notebook.

    Exercises are found from the notebook's stored ``exercise/*`` records (their ``max_points``),
    else from ``check*("name", ...)`` calls in the source. ``thresholds`` maps headline record keys
    to a minimum value (1 point) or ``{"min": x, "points": p}``.
    """
    path = Path(solution)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # missing, unreadable or not a notebook
        raise GradingError(f"Cannot read the solutions notebook {path}: {exc}") from None
    skeleton = [c for c in to_student(nb, path.name).cells if c.cell_type == "code"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    items: dict[str, Item] = {}
    for index, cell in enumerate(code):
        for key, points in exercise_points(cell).items():
            items[key] = Item(key, points, index)
        records = {p["key"]: p.get("value") for p, _ in _cell_records(cell)}
        for key, spec in (thresholds or {}).items():
            if key in records or re.search(rf"""record\(\s*(['"]){re.escape(key)}\1""", cell.source):
                minimum, points = _threshold(spec, key)
                items[key] = Item(key, points, index, minimum)
    items.update(_manual_items(nb))
    missing = sorted(set(thresholds or {}) - set(items))
    if missing:
        raise GradingError(f"{path.name} records no {', '.join(map(repr, missing))}; thresholds must "
                           "name keys that the solution records with dflearn.record.")
    hidden = {i: _without_hidden_markers(c.source) for i, c in enumerate(code) if BEGIN_HIDDEN in c.source}
    on_split = tuple(key for c in code for key in _hidden_split_keys(c.source, items))
    return Rubric(path.name, tuple(items.values()), tuple(cell_pattern(c.source) for c in skeleton), hidden,
                  on_split)


def _hidden_split_keys(source: str, items: Mapping[str, Item]) -> list[str]:
    """Items checked or recorded inside the hidden-test regions of a cell that call
    ``hidden_split(``: what a run without ``--hidden-data`` scores on data the students have."""
    regions = re.findall(rf"{re.escape(BEGIN_HIDDEN)}[^\n]*\n(.*?){re.escape(END_HIDDEN)}", source, re.DOTALL)
    text = "\n".join(regions)
    if "hidden_split(" not in text:
        return []
    checked = exercise_points(nbformat.v4.new_code_cell(text))
    return [key for key in items if key in checked
            or re.search(rf"""record\(\s*(['"]){re.escape(key)}\1""", text)]


def _manual_items(nb: nbformat.NotebookNode) -> Iterator[tuple[str, Item]]:
    """Written answers (markdown solution cells) and ``task`` cells: items marked by hand."""
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_metadata(cell, index)
        if meta and (meta.get("task") or (meta.get("grade") and cell.cell_type == "markdown")):
            key = MANUAL_PREFIX + meta["grade_id"]
            yield key, Item(key, float(meta.get("points", 1.0)), -1, manual=True)


def _without_hidden_markers(source: str) -> str:
    return "\n".join(line for line in source.split("\n") if BEGIN_HIDDEN not in line and END_HIDDEN not in line)


def restore_hidden_tests(text: str, rubric: Rubric) -> str:
    """The submission with each cell that holds hidden tests in the solution put back as the
    solution has it (nbgrader does the same at autograde); any ``dflearn_hidden`` metadata the
    student wrote is dropped first, so only restored cells carry it."""
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop(HIDDEN_FIELD, None)
        if cell.cell_type != "code" or not rubric.hidden:
            continue
        text_now = _normalise(cell.source)
        for index, source in rubric.hidden.items():
            if re.fullmatch(rubric.cells[index], text_now, re.DOTALL):
                cell.source, cell.metadata[HIDDEN_FIELD] = source, index
                break
    return nbformat.writes(nb)


def thresholds_for(profile: str | None, notebook: str) -> dict[str, Any]:
    """Headline thresholds that a profile sets for a notebook (``extra["grade"]``)."""
    return dict(get_profile(profile).for_notebook(notebook).grade or {})


# ---------------------------------------------------------------- submissions

def read_submission(folder: Path, filename: str, notebook: str = "") -> tuple[str | None, str, str]:
    """(notebook JSON with outputs stripped, status, message) of one student's folder.

    The file is ``filename`` or the single ``NN_*.ipynb`` in the folder (NN: ``notebook``, by
    default the first two characters of ``filename``; checkpoints ignored).
    Status is "" when the notebook is runnable, else "missing" or "invalid".
    """
    prefix = notebook or filename[:2]
    candidates = [folder / filename] if (folder / filename).exists() else sorted(
        p for p in folder.rglob(f"{prefix}_*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not candidates:
        return None, "missing", f"no {filename} (or {prefix}_*.ipynb) in the folder"
    if len(candidates) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in candidates[:5])
        return None, "invalid", f"several candidate notebooks: {names}"
    path = candidates[0]
    if path.is_symlink() or not path.is_file():  # a link could point at the grader's own files
        return None, "invalid", f"{path.name} is not a regular file (links are refused)"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None, "invalid", f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB"
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # undecodable, not JSON, not a notebook: all "invalid"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return None, "invalid", f"{path.name} is not a valid notebook ({type(exc).__name__}: {first})"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb), "", ""


def _student_folders(submissions: Path) -> list[Path]:
    if not submissions.is_dir():
        raise GradingError(f"Submissions folder {submissions} does not exist or is not a folder.")
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise GradingError(f"{submissions} holds no student folders (one folder per student).")
    return folders


# ---------------------------------------------------------------- running one submission

def _course_home() -> str | None:
    try:
        return str(course_root())
    except FileNotFoundError:
        return None


def sandbox_env(root: Path, work: Path, limits: Limits, profile: str,
                hidden_data: str | None = None) -> dict[str, str]:
    """The scrubbed environment of a submission's processes: every home, cache and temp folder
    points into ``work``; nothing else of the grader's environment is passed on, except the
    hidden split's folder (``$DFLEARN_HIDDEN_DATA``, read by ``session.hidden_split``)."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ") if k in os.environ}
    threads = str(max(1, limits.threads))
    env.update({
        "HOME": str(work), "TMPDIR": str(work / "tmp"), "IPYTHONDIR": str(work / ".ipython"),
        "MPLCONFIGDIR": str(work / ".config" / "matplotlib"), "XDG_CACHE_HOME": str(work / ".cache"),
        "XDG_CONFIG_HOME": str(work / ".config"), "DFLEARN_CACHE": str(work / ".cache" / "dflearn"),
        "DFLEARN_ARTIFACTS": str(work / "artifacts"), "DFLEARN_PROFILE": profile,
        "JUPYTER_PATH": str(root), "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
        "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
    })
    home = _course_home()
    if home:
        env["DFLEARN_HOME"] = home
    if hidden_data:
        env[HIDDEN_DATA_ENV] = hidden_data
    return env


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a worker and every process below it."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        family = []
    for p in [*family]:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.kill()
    proc.wait()


_LOG_NOISE = re.compile(r"running over TCP without encryption|Couldn't bind IOPub Pipe|"
                        r"subprocess output will be unavailable|self\._setup_pipe_in\(\)|"
                        r"Unable to parse line \d+ |Passed unknown parameter|KeyboardInterrupt caught in kernel")


def _tail(path: Path, size: int = 4000) -> str:
    """The end of a worker's log, less routine warnings (papermill's parameter parsing, the
    kernel's shutdown, and its IOPub pipe, which cannot bind a port inside the sandbox: output of
    the kernel's own subprocesses is lost)."""
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        text = f.read().decode("utf-8", "replace")
    return "".join(line for line in text.splitlines(keepends=True) if not _LOG_NOISE.search(line))


def _cpu_seconds(limits: Limits) -> int:
    """RLIMIT_CPU for a kernel: a backstop above what its threads can burn in the wall timeout."""
    return int(limits.timeout * 2 * max(1, limits.threads) + 60)


def _readable(task: Task) -> list[str] | None:
    """What the kernel may read besides its work folder (None: reads are not restricted)."""
    if not task.limits.restrict_reads:
        return None
    package = Path(__file__).resolve().parents[1]  # dflearn/
    home = _course_home()
    data = [p for p in (task.parameters.get("data"), home and Path(home) / "data", task.hidden_data) if p]
    return sandbox.kernel_readable([package, *data])


def _kernel_limits(task: Task, work: Path, cgroup: Path | None) -> dict[str, Any]:
    limits = task.limits
    return {"memory_bytes": limits.memory_mb * 2**20, "file_bytes": limits.max_file_mb * 2**20,
            "cpu_seconds": _cpu_seconds(limits), "writable": [str(work)], "readable": _readable(task),
            "max_tasks": limits.max_tasks, "cgroup": str(cgroup) if cgroup else None}


def _execute(task: Task, key: bytes, root: Path) -> tuple[dict[str, Any], Path, str]:
    """Run the sandbox worker on the task's notebook; returns (result, executed path, log tail)."""
    cgroup = sandbox.create_pids_cgroup(root.name, task.limits.max_tasks) if task.limits.max_tasks else None
    try:
        return _run_worker(task, key, root, cgroup)
    finally:
        sandbox.remove_cgroup(cgroup)


def _run_worker(task: Task, key: bytes, root: Path, cgroup: Path | None) -> tuple[dict[str, Any], Path, str]:
    work = root / "work"
    (work / "tmp").mkdir(parents=True)
    if task.artifacts:  # a copy: nothing a submission does reaches the instructor's models
        shutil.copytree(task.artifacts, work / "artifacts" / task.profile)
    source = work / task.rubric.filename
    source.write_text(task.text or "", encoding="utf-8")
    limits = task.limits
    job = {
        "root": str(root), "input": str(source), "output": str(root / "executed.ipynb"),
        "result": str(root / "result.json"), "cwd": str(work), "ipython_dir": str(work / ".ipython"),
        "parameters": dict(task.parameters), "cell_timeout": limits.timeout, "key": key.hex(),
        "max_output_bytes": limits.max_output_bytes, "limits": _kernel_limits(task, work, cgroup),
    }
    log = root / "worker.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, str(Path(sandbox.__file__).resolve()), "run"],
                                stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                                cwd=work, env=sandbox_env(root, work, limits, task.profile, task.hidden_data),
                                start_new_session=True)
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        try:
            proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            return {"status": "timeout", "error": ""}, root / "executed.ipynb", _tail(log)
    result_path = root / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {
        "status": "error", "error": f"the grading worker exited with code {proc.returncode}"}
    return result, root / "executed.ipynb", _tail(log)


def grade_submission(task: Task) -> Outcome:
    """Execute and score one submission (runs in a thread or on a Dask worker)."""
    if task.status:
        return Outcome(task.student, task.status, message=task.message,
                       details=[_detail(item, None, "no runnable notebook") for item in task.rubric.items])
    key = secrets.token_bytes(32)
    root = Path(tempfile.mkdtemp(prefix="dflearn-grade-"))
    start = time.perf_counter()
    try:
        result, executed_path, log = _execute(task, key, root)
        nb = _read_executed(executed_path)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outcome = Outcome(task.student, "ok", time.perf_counter() - start, log=log)
    outcome.executed = nbformat.writes(nb) if nb is not None else None
    cells = _student_cells(nb) if nb is not None else []
    _set_status(outcome, result, cells, task.limits)
    outcome.details, outcome.flags = score_cells(cells, task.rubric, key)
    if result.get("truncated"):
        outcome.flags.append(f"output truncated at {task.limits.max_output_bytes} bytes")
    if not task.hidden_data and task.rubric.hidden_split:
        outcome.flags.append(NO_HIDDEN_DATA_FLAG.format(items=", ".join(task.rubric.hidden_split)))
    return outcome


NO_HIDDEN_DATA_FLAG = ("graded without --hidden-data: {items} checked on the test split, which the students "
                       "have; grade again with --hidden-data DIR for a fair score")


def artifacts_root(artifacts: str | os.PathLike | None, profile: str) -> str | None:
    """The checked, absolute folder of saved models that ``--artifacts`` names (None when not
    given): ``DIR/<profile>`` when it exists (a run's ``artifacts`` folder), else ``DIR`` itself
    if it holds ``.keras`` files. A clear :class:`GradingError` otherwise."""
    if artifacts is None:
        return None
    folder = Path(artifacts).expanduser().resolve()
    if not folder.is_dir():
        raise GradingError(f"--artifacts: folder not found: {folder}. Pass the artifacts folder of "
                           "a run of the course (e.g. runs/<time>-ci/artifacts) or its profile "
                           "folder.")
    for candidate in (folder / profile, folder):
        if candidate.is_dir() and any(candidate.glob("*.keras")):
            return str(candidate)
    raise GradingError(f"--artifacts: {folder} holds no saved models (.keras files) for profile "
                       f"'{profile}', neither in {folder / profile} nor in the folder itself. Run "
                       f"the course under '{profile}' first (dflearn run --profile {profile}).")


def hidden_data_root(hidden_data: str | os.PathLike | None) -> str | None:
    """The checked, absolute class-folder parent of ``--hidden-data`` (None when not given);
    a :class:`GradingError` names the path and the layout expected."""
    if hidden_data is None:
        return None
    try:
        return str(hidden_data_folder(hidden_data))
    except DatasetError as exc:
        raise GradingError(f"--hidden-data: {exc}") from None


def _read_executed(path: Path) -> nbformat.NotebookNode | None:
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # missing or half-written after a kill
        return None


def _student_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The executed notebook's cells less those papermill added (parameters, error banners)."""
    return [c for c in nb.cells if not set(c.metadata.get("tags", [])) & set(PAPERMILL_TAGS)]


def _first_error(cells: list[nbformat.NotebookNode]) -> tuple[int, str] | None:
    """(1-based cell number, "Name: message") of the first cell with an error output."""
    return next(((number, _errored(cell)) for number, cell in enumerate(cells, 1) if _errored(cell)), None)


def _running_cell(cells: list[nbformat.NotebookNode]) -> int | None:
    """1-based number of the cell a run was cut off in: the one papermill marked as running,
    else the last one it started."""
    started = None
    for number, cell in enumerate(cells, 1):
        state = cell.metadata.get("papermill", {})
        if state.get("status") == "running":
            return number
        if state.get("start_time") or cell.get("execution_count"):
            started = number
    return started


def _set_status(outcome: Outcome, result: Mapping[str, Any], cells: list, limits: Limits) -> None:
    error = _first_error(cells)
    if result.get("status") == "timeout":
        outcome.status, outcome.failed_cell = "timeout", _running_cell(cells)
        outcome.message = f"stopped after the {limits.timeout:g} s time limit"
    elif result.get("error"):
        outcome.status, outcome.failed_cell = "error", _running_cell(cells)
        outcome.message = _explain(result["error"])
    elif error:
        outcome.status, outcome.failed_cell = "error", error[0]
        outcome.message = _explain_cell_error(error[1], limits)


def _explain(error: str) -> str:
    if "DeadKernelError" in error or "Kernel died" in error:
        return f"the kernel died (crash, os._exit, killed, or a memory/CPU limit): {error[:200]}"
    return error[:300]


def _explain_cell_error(error: str, limits: Limits) -> str:
    """A cell's "Name: message", with the sandbox limit that most likely caused it named."""
    if error.startswith("MemoryError"):
        return f"{error} (over the grader's memory limit of {limits.memory_mb} MiB)"
    if error.startswith("BlockingIOError") and "Resource temporarily unavailable" in error:
        return f"{error} (the grader's limit of {limits.max_tasks} processes and threads)"
    if error.startswith("PermissionError"):
        return (f"{error} (the grading sandbox forbids this: writing outside the work folder, reading "
                "course or other students' files, network connections, signalling other processes)")
    return error


# ---------------------------------------------------------------- scoring

def _detail(item: Item, passed: bool | None, message: str) -> dict[str, Any]:
    return {"item": item.key, "points": item.max_points if passed else 0.0,
            "max_points": item.max_points, "passed": bool(passed), "message": message}


def _errored(cell: nbformat.NotebookNode) -> str:
    """"Name: message" of a cell's error output ("" when it has none)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', '')}: {output.get('evalue', '')}".strip()[:300]
    return ""


def _judge(item: Item, value: Any) -> tuple[bool, str]:
    value = from_jsonable(value)
    if item.minimum is None:
        ok = isinstance(value, dict) and bool(value.get("passed"))
        return ok, str(value.get("message", "")) if isinstance(value, dict) else "malformed result"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False, f"{item.key} is not a number ({value!r:.60})"
    return value >= item.minimum, f"{item.key} = {value:.6g} (needs >= {item.minimum:g})"


def _score_item(item: Item, cells: list, matches: Mapping[int, set[int]], key: bytes) -> dict[str, Any]:
    if item.manual:
        return _detail(item, False, "graded by hand: not marked yet")
    mine = [i for i, patterns in matches.items() if item.cell in patterns]
    found = [p for i in mine if not _errored(cells[i])
             for p, sig in _cell_records(cells[i]) if p["key"] == item.key and sandbox.verify(key, p, sig)]
    if found:
        return _detail(item, *_judge(item, found[-1].get("value")))
    if not mine:
        return _detail(item, False, "cell not found: deleted, or its fixed code was changed")
    raised = [_errored(cells[i]) for i in mine if _errored(cells[i])]
    if raised:
        return _detail(item, False, f"the cell raised {raised[-1]}")
    ran = any(cells[i].get("execution_count") for i in mine)
    return _detail(item, False, "no result recorded" if ran else "the cell did not run")


def _match_cells(cells: list, rubric: Rubric) -> tuple[dict[int, set[int]], dict[int, list[str]]]:
    """For each code cell: the solution cells it matches, and the code the student wrote in it
    (the placeholder regions of a matched cell, the whole cell otherwise)."""
    matches: dict[int, set[int]] = {}
    answers: dict[int, list[str]] = {}
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        text = _normalise(cell.source)
        found = {j: m.groups() for j, pattern in enumerate(rubric.cells)
                 if (m := re.fullmatch(pattern, text, re.DOTALL))}
        restored = cell.metadata.get(HIDDEN_FIELD)
        if restored in rubric.hidden and text == _normalise(rubric.hidden[restored]):
            found = {restored: ()}
        matches[i] = set(found)
        answers[i] = list(next(iter(found.values()))) if found else [text]
    return matches, answers


def score_cells(cells: list[nbformat.NotebookNode], rubric: Rubric, key: bytes) -> tuple[list[dict], list[str]]:
    """Score an executed notebook's cells against the rubric; returns (details, review flags)."""
    matches, answers = _match_cells(cells, rubric)
    details = [_score_item(item, cells, matches, key) for item in rubric.items]
    return details, _record_flags(cells, matches, rubric, key) + _code_flags(answers)


def _record_flags(cells: list, matches: Mapping[int, set[int]], rubric: Rubric, key: bytes) -> list[str]:
    """Graded records that were ignored: unsigned ones, and signed ones from the wrong cell."""
    anchors = {item.key: item.cell for item in rubric.items}
    flags = []
    for i, patterns in matches.items():
        for payload, signature in _cell_records(cells[i]):
            name = payload["key"]
            if name not in anchors:
                continue
            if not sandbox.verify(key, payload, signature):
                flags.append(f"cell {i + 1}: unsigned (forged) record {name!r} ignored")
            elif anchors[name] not in patterns:
                flags.append(f"cell {i + 1}: record {name!r} made outside its own cell, ignored")
    return flags


def _code_flags(answers: Mapping[int, list[str]]) -> list[str]:
    flags = []
    for i, texts in answers.items():
        words = sorted({w for w in _SUSPICIOUS for t in texts if w in t})
        if words:
            flags.append(f"cell {i + 1}: review student code using {', '.join(words)}")
    return flags


# ---------------------------------------------------------------- the batch

def _solution_path(notebook: str) -> Path:
    found = course_notebooks(only=[notebook])
    if not found:
        raise GradingError(f"No solutions notebook {notebook_id(notebook)}_*.ipynb in "
                           f"{course_root() / 'solutions'}; pass the instructor's copy with --solution.")
    return found[0]


def _output_dir(out: str | os.PathLike | None, submissions: Path, notebook: str) -> Path:
    """A fresh output folder that is neither inside the submissions nor holding them."""
    if out is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = course_root() / "runs" / f"grade-{notebook}-{stamp}"
    target, subs = Path(out).expanduser().resolve(), submissions.resolve()
    if target == subs or subs in target.parents or target in subs.parents:
        raise GradingError(f"Output folder {target} overlaps the submissions folder {subs}; "
                           "grading never writes there. Choose another --out.")
    return fresh_output_dir(target, "grade")


def _lost(task: Task, exc: BaseException, retried: bool) -> Outcome:
    """The error row of a submission whose grading itself failed (a Dask worker died...)."""
    what = "the grading worker was lost twice (retried once)" if retried else "grading failed"
    return Outcome(task.student, "error", message=f"{what}: {type(exc).__name__}: {str(exc)[:200]}",
                   details=[_detail(item, None, "not graded: the grading worker failed") for item in task.rubric.items])


def _run_all(tasks: list[Task], workers: int, dask: Any = None) -> Iterator[Outcome]:
    """Grade tasks in a thread pool (one sandbox process each) or on a Dask cluster."""
    if dask is None:
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(grade_submission, t): t for t in tasks}
            for future in cf.as_completed(futures):
                try:
                    outcome = future.result()
                except Exception as exc:  # a bug or an OS failure: one error row, the batch goes on
                    outcome = _lost(futures[future], exc, retried=False)
                yield outcome
        return
    from distributed import Client

    client = Client(dask) if isinstance(dask, str) else dask
    try:
        yield from _run_dask(tasks, client)
    finally:
        if client is not dask:
            client.close()


def _run_dask(tasks: list[Task], client: Any) -> Iterator[Outcome]:
    """Each task on the cluster; one whose worker dies (``KilledWorker``, lost connection) or that
    fails is submitted once more, then reported as an error row."""
    from distributed import as_completed

    attempts = {client.submit(grade_submission, t, pure=False): (t, 1) for t in tasks}
    running = as_completed(list(attempts))
    for future in running:
        task, attempt = attempts.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:  # KilledWorker, CommClosedError, a failure inside the task
            if attempt == 1:
                retry = client.submit(grade_submission, task, pure=False)
                attempts[retry] = (task, 2)
                running.add(retry)
                continue
            outcome = _lost(task, exc, retried=True)
        yield outcome


def grade(submissions: str | os.PathLike, notebook: str, *, solution: str | os.PathLike | None = None,
          profile: str | None = None, workers: int | None = None, timeout: float = 600.0,
          out: str | os.PathLike | None = None, thresholds: Mapping[str, Any] | None = None,
          limits: Limits | None = None, dask: Any = None, data: str | os.PathLike | None = None,
          progress: bool = True, manual: str | os.PathLike | None = None,
          hints: Mapping[str, str] | None = None, hidden_data: str | os.PathLike | None = None,
          artifacts: str | os.PathLike | None = None) -> Gradebook:
    """Grade every student folder in ``submissions`` on notebook ``notebook`` (e.g. "03").

    Args:
        submissions: one sub-folder per student with their ``NN_*.ipynb``; never modified.
        notebook: the notebook id; the rubric comes from ``solutions/NN_*.ipynb`` or ``solution``.
        profile: the profile the notebooks run under (``ci``, ``cpu``...); it may set thresholds.
        workers: submissions run at once on this machine (default: the number of cores).
        timeout: wall-clock seconds per submission.
        out: fresh folder for gradebook.csv, details.csv, report.html and executed/.
        thresholds: headline record key -> minimum (or ``{"min": x, "points": p}``).
        limits: full sandbox limits (overrides ``timeout``).
        dask: a ``distributed.Client`` or scheduler address: run there instead of locally.
        data: a dataset folder (CIFAKE layout) passed to the notebooks' ``data`` parameter; it
            must exist at the same path on every Dask worker.
        manual: a CSV of hand-given marks (``student,item,points,comment``) merged at the end;
            ``manual_template.csv`` in the output lists the items to mark.
        hints: item key -> the hint its feedback shows on failure (default: by kind of failure).
        hidden_data: the hidden split of the open-ended tasks (``test/REAL`` and ``test/FAKE``, or
            ``REAL`` and ``FAKE``), readable inside the sandbox as ``$DFLEARN_HIDDEN_DATA``; never
            shipped to students. Without it hidden-split items are scored on the test split and
            flagged. Like ``data``, it must exist at the same path on every Dask worker.
        artifacts: the models earlier notebooks saved (a run's ``artifacts`` folder or its
            profile folder), copied into every submission's own artifacts folder, so a notebook
            that builds on 03's Personal CNN (04, 06, 07, ...) is graded with it instead of a
            stand-in it trains itself. Like ``data``, on every Dask worker at the same path.
    """
    nn = notebook_id(notebook)
    chosen = get_profile(profile)
    rubric = rubric_from_solution(Path(solution) if solution else _solution_path(nn),
                                  {**thresholds_for(chosen.name, nn), **(thresholds or {})})
    hidden = hidden_data_root(hidden_data)
    models = artifacts_root(artifacts, chosen.name)
    if progress and hidden is None and rubric.hidden_split:
        print(NO_HIDDEN_DATA_FLAG.format(items=", ".join(rubric.hidden_split)), flush=True)
    workers = max(1, workers or os.cpu_count() or 1)
    limits = limits or Limits(timeout=timeout)
    if not limits.threads:
        limits = dataclasses.replace(limits, threads=max(1, (os.cpu_count() or 1) // workers))
    subs = Path(submissions).expanduser()
    folders = _student_folders(subs)
    out_dir = _output_dir(out, subs, nn)
    parameters = {"profile": chosen.name, **({"data": str(Path(data).expanduser().resolve())} if data else {})}
    tasks = [_task(f, rubric, limits, parameters, chosen.name, nn, hidden, models) for f in folders]
    outcomes = []
    for outcome in _run_all(tasks, workers, dask):
        outcomes.append(outcome)
        if progress:
            print(f"{outcome.student:<24} {outcome.status:<8} {outcome.total:5g} points "
                  f"{outcome.seconds:6.1f} s {outcome.message[:70]}", flush=True)
    book = write_gradebook(sorted(outcomes, key=lambda o: o.student), rubric, out_dir, hints)
    return apply_manual_marks(out_dir, manual, hints) if manual else book


def _task(folder: Path, rubric: Rubric, limits: Limits, parameters: Mapping[str, Any], profile: str,
          notebook: str, hidden_data: str | None = None, artifacts: str | None = None) -> Task:
    text, status, message = read_submission(folder, rubric.filename, notebook)
    if text is not None:
        text = restore_hidden_tests(text, rubric)
    return Task(folder.name, rubric, limits, parameters, profile, text, status, message, hidden_data,
                artifacts)


# ---------------------------------------------------------------- reports

def _row(outcome: Outcome, rubric: Rubric, notebook: str) -> dict[str, Any]:
    return {"student": outcome.student, "status": outcome.status, "total": outcome.total,
            "max_total": float(sum(i.max_points for i in rubric.items)),
            **{d["item"]: d["points"] for d in outcome.details},
            "runtime_s": round(outcome.seconds, 1), "failed_cell": outcome.failed_cell,
            "message": outcome.message, "flags": "; ".join(outcome.flags), "notebook": notebook}


def write_gradebook(outcomes: list[Outcome], rubric: Rubric, out_dir: Path,
                    hints: Mapping[str, str] | None = None) -> Gradebook:
    """Write gradebook.csv, details.csv, report.html, feedback/, manual_template.csv,
    executed/<student>/ and logs/ into out_dir."""
    rows, details = [], []
    for outcome in outcomes:
        relative = ""
        if outcome.executed is not None:
            target = out_dir / "executed" / outcome.student / rubric.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(outcome.executed, encoding="utf-8")
            relative = str(target.relative_to(out_dir))
        if outcome.log.strip():
            (out_dir / "logs").mkdir(exist_ok=True)
            (out_dir / "logs" / f"{outcome.student}.log").write_text(outcome.log, encoding="utf-8")
        rows.append(_row(outcome, rubric, relative))
        details += [{"student": outcome.student, **d} for d in outcome.details]
    detail_table = pd.DataFrame(details, columns=DETAIL_COLUMNS)
    (out_dir / "grading.json").write_text(json.dumps({"notebook": rubric.filename}), encoding="utf-8")
    table, detail_table = _write_tables(pd.DataFrame(rows), detail_table, out_dir, rubric.filename, hints)
    manual_template(detail_table).to_csv(out_dir / "manual_template.csv", index=False)
    return Gradebook(table, detail_table, out_dir, outcomes)


DETAIL_COLUMNS = ["student", "item", "points", "max_points", "passed", "message"]


def _write_tables(table: pd.DataFrame, details: pd.DataFrame, out_dir: Path, filename: str,
                  hints: Mapping[str, str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    table["failed_cell"] = table["failed_cell"].astype("Int64")
    table.to_csv(out_dir / "gradebook.csv", index=False)
    details.to_csv(out_dir / "details.csv", index=False)
    (out_dir / "report.html").write_text(render_html(table, details, filename), encoding="utf-8")
    write_feedback(table, details, out_dir, filename, hints)
    return table, details


def apply_manual_marks(out_dir: str | os.PathLike, marks_csv: str | os.PathLike,
                       hints: Mapping[str, str] | None = None) -> Gradebook:
    """Merge hand-given marks (``student,item,points[,comment]``) into a graded folder: rewrites
    gradebook.csv (items and totals), details.csv, report.html and the feedback pages."""
    out = Path(out_dir)
    try:
        table = pd.read_csv(out / "gradebook.csv", dtype={"student": str, "message": str, "flags": str,
                                                          "notebook": str}, keep_default_na=False,
                            na_values={"failed_cell": [""]})
        details = pd.read_csv(out / "details.csv", dtype={"student": str, "message": str}, keep_default_na=False)
        filename = json.loads((out / "grading.json").read_text())["notebook"]
    except (OSError, ValueError, KeyError) as exc:
        raise GradingError(f"{out} is not a folder written by `dflearn grade` ({exc}).") from None
    try:
        details = merge_manual(details, read_manual(marks_csv, details))
    except ValueError as exc:
        raise GradingError(str(exc)) from None
    points = details.pivot_table(index="student", columns="item", values="points", aggfunc="last")
    for item in points.columns:
        table[item] = table["student"].map(points[item])
    table["total"] = table["student"].map(details.groupby("student")["points"].sum()).fillna(0.0)
    table, details = _write_tables(table, details, out, filename, hints)
    return Gradebook(table, details, out, [])


_CSS = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:90%}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}.ok{color:#080}.error,.invalid,.missing{color:#b00}
.timeout{color:#b60}"""


def _escaped_html(table: pd.DataFrame) -> str:
    shown = table.copy()
    for column in shown.columns:
        if column == "status":
            shown[column] = [f'<b class="{html.escape(str(s))}">{html.escape(str(s))}</b>' for s in shown[column]]
        elif column == "notebook":
            shown[column] = [f'<a href="{html.escape(str(p))}">{html.escape(str(p))}</a>' if p else ""
                             for p in shown[column]]
        elif not (pd.api.types.is_numeric_dtype(shown[column]) or pd.api.types.is_bool_dtype(shown[column])):
            # object or pandas' str dtype: student-controlled text (messages, flags), always escaped
            shown[column] = ["" if pd.isna(v) else html.escape(str(v)) for v in shown[column]]
    return shown.to_html(index=False, escape=False, na_rep="")


def render_html(table: pd.DataFrame, details: pd.DataFrame, filename: str) -> str:
    """The gradebook, per-item statistics and per-item details as one self-contained HTML page."""
    counts = table["status"].value_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    title = f"Gradebook: {html.escape(filename)}"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_CSS}</style></head><body><h1>{title}</h1>"
            f"<p>{len(table)} submissions: {summary}. Mean total {table['total'].mean():.2f} of "
            f"{table['max_total'].max() if len(table) else 0:g}. Generated "
            f"{dt.datetime.now():%Y-%m-%d %H:%M}. Each student's feedback page is "
            f"feedback/&lt;student&gt;.html.</p>{_escaped_html(table)}"
            f"<h2>Per-item statistics</h2>{_escaped_html(item_stats(details))}"
            f"<h2>Items</h2>{_escaped_html(details)}</body></html>")
