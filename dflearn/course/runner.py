"""Running the whole course: every solutions notebook through papermill into a fresh folder,
one console line per notebook, and ``--resume`` of a killed or failed run.

Course layer. The kernels' own output (IPKernelApp's warnings, TensorFlow's native start-up
lines) goes to ``kernels.log`` in the run folder: each kernel is launched with its stdout and
stderr on that file (:func:`logging_kernel_manager`), never the terminal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from dflearn.course.config import PROFILE_ENV, get_profile
from dflearn.course.notebooks import course_notebooks
from dflearn.course.results import from_jsonable, read_records, to_jsonable
from dflearn.paths import ARTIFACTS_ENV, course_root, replacing
from dflearn.sources import resolve_dataset

STATE_FILE = "run.json"   # the run's settings and every finished notebook, for --resume
KERNEL_LOG = "kernels.log"


@dataclass
class NotebookRun:
    """The outcome of executing one notebook."""

    notebook: str
    status: str  # "ok" or "error"
    seconds: float
    output: str
    error: str = ""
    cell: int | None = None
    records: dict[str, Any] = field(default_factory=dict)


class OutputFolderError(ValueError):
    """The requested output folder is not fresh or would overwrite course sources."""


def fresh_output_dir(out: str | os.PathLike | None, label: str) -> Path:
    """Create an output folder (``out``, or ``runs/<time>-<label>``, e.g. a profile name for a
    course run or ``grade`` for a grading batch); refuse a non-empty one or one inside the
    sources."""
    root = course_root()
    if out is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = root / "runs" / f"{stamp}-{label}"
    out = Path(out).expanduser().resolve()
    for protected in (root / "solutions", root / "notebooks", root / "data"):
        if out == protected.resolve() or protected.resolve() in out.parents:
            raise OutputFolderError(f"Refusing to write run outputs into {out}: it holds course sources.")
    if out.exists() and any(out.iterdir()):
        raise OutputFolderError(f"Output folder {out} is not empty; choose a fresh one with --out.")
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def logging_kernel_manager(log: Path) -> type:
    """A jupyter_client kernel manager whose kernels write their stdout and stderr (start-up
    warnings, TensorFlow's native log lines) to ``log`` instead of the terminal."""
    from jupyter_client import AsyncKernelManager

    class LoggingKernelManager(AsyncKernelManager):
        """Launches each kernel with its output streams on the run's kernel log."""

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with open(log, "ab") as stream:  # the kernel keeps its own copy of the descriptor
                kw.update(stdout=stream, stderr=stream)
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggingKernelManager


def execute(source: Path, output: Path, parameters: dict[str, Any], timeout: float | None = None,
            kernel_name: str = "python3", kernel_log: Path | None = None) -> NotebookRun:
    """Execute one notebook with papermill; errors are caught and described, not raised.
    With ``kernel_log``, the kernel's own output goes to that file."""
    import papermill as pm

    start = time.perf_counter()
    status, error, cell = "ok", "", None
    engine = {"kernel_manager_class": logging_kernel_manager(kernel_log)} if kernel_log else {}
    try:
        pm.execute_notebook(str(source), str(output), parameters=parameters, kernel_name=kernel_name,
                            language="python", progress_bar=False, cwd=str(source.parent),
                            execution_timeout=timeout, log_output=False, **engine)
    except pm.PapermillExecutionError as exc:
        status, cell = "error", source_cell_number(output, exc.cell_index)
        error = f"{exc.ename}: {exc.evalue}".strip()
    except Exception as exc:  # kernel death, timeouts, invalid notebooks
        status, error = "error", f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    records = read_records(output) if output.exists() else {}
    return NotebookRun(source.stem, status, seconds, str(output), error, cell, records)


def source_cell_number(executed: Path, index: int) -> int:
    """1-based number, in the source notebook, of cell ``index`` of the executed notebook
    (papermill inserts an ``injected-parameters`` cell that the source does not have)."""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return index + 1
    injected = sum("injected-parameters" in c.metadata.get("tags", []) for c in cells[:index])
    return index - injected + 1


def summary_table(runs: list[NotebookRun]) -> pd.DataFrame:
    """One row per recorded result: notebook, key, value (tables summarised by their shape)."""
    rows = []
    for run in runs:
        rows.append({"notebook": run.notebook, "key": "status",
                     "value": run.status if run.status == "ok" else f"{run.status} (cell {run.cell}): {run.error[:120]}"})
        rows.append({"notebook": run.notebook, "key": "seconds", "value": round(run.seconds, 1)})
        for key, value in run.records.items():
            if key.startswith("exercise/"):
                value = "passed" if value.get("passed") else "not passed"
            elif isinstance(value, pd.DataFrame):
                value = f"table {value.shape[0]}x{value.shape[1]}"
            elif isinstance(value, float):
                value = round(value, 4)
            rows.append({"notebook": run.notebook, "key": key, "value": value})
    return pd.DataFrame(rows, columns=["notebook", "key", "value"])


def choose_run_profile(profile: str | None) -> str:
    """The profile for ``dflearn run``: the one given, else ``$DFLEARN_PROFILE``; with neither,
    ``cpu`` when a real CIFAKE folder is found and ``ci`` (the quick tour) on the practice set."""
    if profile or os.environ.get(PROFILE_ENV):
        return get_profile(profile).name
    if resolve_dataset(mode="auto", download=False).is_embedded:
        print("No CIFAKE folder found: running the quick 'ci' profile on the embedded practice set "
              "(use --profile cpu for the laptop-sized run).")
        return "ci"
    return "cpu"


def headline(run: NotebookRun, n: int = 3) -> str:
    """Up to ``n`` headline numbers of a run: its first numeric records, ``key=value``."""
    numbers = [(key.split("/", 1)[-1], value) for key, value in run.records.items()
               if not key.startswith("exercise/") and isinstance(value, (int, float))
               and not isinstance(value, bool)]
    return "  ".join(f"{key}={value:.4g}" for key, value in numbers[:n])


def run_line(run: NotebookRun) -> str:
    """The console line of one notebook: name, time, ok or the error, headline numbers."""
    mark = "ok" if run.status == "ok" else f"ERROR at cell {run.cell}: {run.error[:100]}"
    return f"{run.notebook:<28} {run.seconds:7.1f} s  {mark}  {headline(run)}".rstrip()


def notebook_table(runs: list[NotebookRun]) -> pd.DataFrame:
    """The final table: one row per notebook with its time, status and headline numbers."""
    return pd.DataFrame([{"notebook": r.notebook, "seconds": round(r.seconds, 1),
                          "status": r.status, "headline": headline(r)} for r in runs]
                        ).set_index("notebook")


def _save_state(out_dir: Path, settings: dict[str, Any], runs: list[NotebookRun]) -> None:
    """Write ``run.json`` (through a temporary file): the settings and the finished runs."""
    state = {"settings": settings, "runs": [to_jsonable({**asdict(r), "records": r.records})
                                            for r in runs]}
    with replacing(out_dir / STATE_FILE) as tmp:
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")


def load_state(run_dir: str | os.PathLike) -> tuple[dict[str, Any], list[NotebookRun]]:
    """The settings and finished runs of an earlier ``dflearn run`` folder (for ``--resume``)."""
    path = Path(run_dir).expanduser() / STATE_FILE
    if not path.is_file():
        raise OutputFolderError(f"{path.parent} is not a dflearn run folder (no {STATE_FILE}); "
                                "pass the folder an earlier `dflearn run` printed.")
    state = json.loads(path.read_text(encoding="utf-8"))
    runs = [NotebookRun(**{**r, "records": {k: from_jsonable(v) for k, v in r["records"].items()}})
            for r in state["runs"]]
    return state["settings"], runs


# The course bar counts budget seconds: each notebook adds its profile budget when it ends, so
# tqdm's rate is budget seconds per wall second and its ETA is the remaining budget at that rate.
BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} budget-s "
              "[{elapsed} elapsed, ETA {remaining}{postfix}]")


def course_budgets(profile: str, sources: list[Path]) -> dict[str, float]:
    """Each notebook's expected seconds under ``profile`` (:meth:`Profile.budget`), by stem."""
    chosen = get_profile(profile)
    return {source.stem: chosen.budget(source.stem) for source in sources}


def run_course(profile: str | None = None, data: str | None = None, only: list[str] | None = None,
               out: str | os.PathLike | None = None, timeout: float | None = None,
               progress: bool = True, resume: str | os.PathLike | None = None
               ) -> tuple[list[NotebookRun], Path]:
    """Execute the solutions notebooks in order into a fresh folder and summarise their records.

    A failing notebook is reported and the rest still run. ``resume`` continues an earlier run
    folder with its own settings: notebooks that finished ok are kept (outputs and artifacts),
    the rest run again from the first that did not. Returns the runs and the folder.
    """
    from tqdm.auto import tqdm

    if resume is not None:
        settings, done = load_state(resume)
        out_dir = Path(resume).expanduser().resolve()
        done = [r for r in done if r.status == "ok" and Path(r.output).exists()]
    else:
        chosen = get_profile(choose_run_profile(profile) if data is None else profile)
        settings = {"profile": chosen.name, "only": only, "timeout": timeout,
                    "data": str(Path(data).expanduser().resolve()) if data else ""}
        out_dir, done = fresh_output_dir(out, chosen.name), []
    sources = course_notebooks(only=settings["only"])
    if not sources:
        raise FileNotFoundError(f"No notebooks matched {settings['only']} in "
                                f"{course_root() / 'solutions'}.")
    finished = {r.notebook for r in done}
    first_todo = next((i for i, s in enumerate(sources) if s.stem not in finished), len(sources))
    runs = [r for r in done if r.notebook in {s.stem for s in sources[:first_todo]}]
    params = {"profile": settings["profile"], "data": settings["data"]}
    budgets = course_budgets(settings["profile"], sources)
    bar = tqdm(total=sum(budgets.values()), initial=sum(budgets[r.notebook] for r in runs),
               desc="course", unit="budget-s", disable=not progress, bar_format=BAR_FORMAT)
    for run in runs:
        bar.write(f"{run.notebook:<28} kept from the earlier run ({run.seconds:.1f} s)")
    env = {ARTIFACTS_ENV: str(out_dir / "artifacts"), PROFILE_ENV: settings["profile"],
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    with _env(**env):
        for source in sources[first_todo:]:
            bar.set_postfix_str(source.stem)
            run = execute(source, out_dir / source.name, params, settings["timeout"],
                          kernel_log=out_dir / KERNEL_LOG)
            runs.append(run)
            _save_state(out_dir, settings, runs)
            bar.write(run_line(run))
            bar.update(budgets[source.stem])
    bar.close()
    table = summary_table(runs)
    table.to_csv(out_dir / "results.csv", index=False)
    (out_dir / "results.json").write_text(json.dumps(
        [to_jsonable({**asdict(r), "records": r.records}) for r in runs], indent=2))
    from dflearn.course.report import build_report

    build_report(out_dir)
    return runs, out_dir
