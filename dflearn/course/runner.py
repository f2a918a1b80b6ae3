"""Running the whole course: every solutions notebook through papermill into a fresh folder."""

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

from dflearn.course.config import get_profile
from dflearn.course.notebooks import course_notebooks
from dflearn.paths import ARTIFACTS_ENV, course_root
from dflearn.course.results import read_records, to_jsonable
from dflearn.course.config import PROFILE_ENV
from dflearn.sources import resolve_dataset


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


def execute(source: Path, output: Path, parameters: dict[str, Any], timeout: float | None = None,
            kernel_name: str = "python3") -> NotebookRun:
    """Execute one notebook with papermill; errors are caught and described, not raised."""
    import papermill as pm

    start = time.perf_counter()
    status, error, cell = "ok", "", None
    try:
        pm.execute_notebook(str(source), str(output), parameters=parameters, kernel_name=kernel_name,
                            language="python", progress_bar=False, cwd=str(source.parent), execution_timeout=timeout,
                            log_output=False)
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


def format_summary(table: pd.DataFrame, width: int = 100) -> str:
    """The summary as aligned, left-justified text; values longer than ``width`` are cut."""
    def cut(value: Any) -> str:
        text = str(value)
        return text if len(text) <= width else text[: width - 3] + "..."

    cells = [[str(row.notebook), str(row.key), cut(row.value)] for row in table.itertuples()]
    header = ["notebook", "key", "value"]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header[:2])]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}" for row in [header] + cells]
    return "\n".join(line.rstrip() for line in lines)


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


def run_course(profile: str | None = None, data: str | None = None, only: list[str] | None = None,
               out: str | os.PathLike | None = None, timeout: float | None = None,
               progress: bool = True) -> tuple[list[NotebookRun], Path]:
    """Execute the solutions notebooks in order into a fresh folder and summarise their records.

    A failing notebook is reported and the rest still run. Returns the runs and the folder.
    """
    from tqdm.auto import tqdm

    chosen = get_profile(choose_run_profile(profile) if data is None else profile)
    sources = course_notebooks(only=only)
    if not sources:
        raise FileNotFoundError(f"No notebooks matched {only} in {course_root() / 'solutions'}.")
    out_dir = fresh_output_dir(out, chosen.name)
    params = {"profile": chosen.name, "data": str(Path(data).expanduser().resolve()) if data else ""}
    runs: list[NotebookRun] = []
    bar = tqdm(sources, desc="course", unit="notebook", disable=not progress)
    with _env(**{ARTIFACTS_ENV: str(out_dir / "artifacts"), PROFILE_ENV: chosen.name}):
        for source in bar:
            bar.set_postfix_str(source.stem)
            run = execute(source, out_dir / source.name, params, timeout)
            runs.append(run)
            mark = "ok" if run.status == "ok" else f"FAILED at cell {run.cell}: {run.error}"
            bar.write(f"{source.stem:<28} {run.seconds:7.1f} s  {mark}")
    table = summary_table(runs)
    table.to_csv(out_dir / "results.csv", index=False)
    (out_dir / "results.json").write_text(json.dumps(
        [to_jsonable({**asdict(r), "records": r.records}) for r in runs], indent=2))
    return runs, out_dir
