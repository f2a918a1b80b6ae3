"""Grading throughput: grade N copies of a course notebook with W workers, in the sandbox.

    python benchmarks/grading_throughput.py [--notebook 02] [--copies 40] [--workers 2] [--profile ci]

Each copy is the solutions notebook submitted as a student's file (saved outputs are stripped by
the grader, so every copy runs in full). The per-submission start-up cost is measured apart: a
notebook holding only the parameters cell and ``import dflearn`` graded ``--startup-copies``
times, one at a time (sandbox worker, kernel start, papermill, scoring). The last output line is
JSON: submissions_per_minute, seconds_per_submission, startup_seconds, wall_seconds and the
statuses. docs/instructor.md sizes a class from these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import nbformat

from dflearn.course.grading import Limits, grade
from dflearn.course.notebooks import course_notebooks


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="02", help="course notebook id (default 02)")
    parser.add_argument("--copies", type=int, default=40, help="submissions to grade (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="submissions at once (default 2)")
    parser.add_argument("--profile", default="ci", help="profile the notebooks run under (default ci)")
    parser.add_argument("--startup-copies", type=int, default=3, help="empty notebooks timed for start-up")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per submission")
    return parser.parse_args()


def make_submissions(folder: Path, notebook: nbformat.NotebookNode, name: str, copies: int) -> Path:
    """``folder/student-NNN/name`` for ``copies`` students, each holding ``notebook``."""
    for i in range(copies):
        (folder / f"student-{i:03d}").mkdir(parents=True)
        nbformat.write(notebook, folder / f"student-{i:03d}" / name)
    return folder


def startup_notebook(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution's parameters cell and ``import dflearn``: what every submission pays."""
    params = next(c for c in solution.cells if "parameters" in c.metadata.get("tags", []))
    return nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell("import dflearn")],
                                    metadata=solution.metadata)


def timed_grade(subs: Path, notebook: str, solution: Path, workers: int, profile: str,
                timeout: float, out: Path) -> tuple[float, dict[str, int]]:
    """(wall seconds, status counts) of grading every folder in ``subs``."""
    start = time.perf_counter()
    book = grade(subs, notebook, solution=solution, profile=profile, workers=workers, out=out,
                 limits=Limits(timeout=timeout), progress=False)
    return time.perf_counter() - start, book.table["status"].value_counts().to_dict()


def main() -> None:
    """Run both measurements and print the summary."""
    args = parse_args()
    solution = course_notebooks(only=[args.notebook])[0]
    nb = nbformat.read(solution, as_version=4)
    with tempfile.TemporaryDirectory(prefix="dflearn-throughput-") as tmp:
        base = Path(tmp)
        empty = startup_notebook(nb)
        empty_solution = base / "startup" / solution.name
        empty_solution.parent.mkdir()
        nbformat.write(empty, empty_solution)
        startup_subs = make_submissions(base / "startup-subs", empty, solution.name, args.startup_copies)
        startup_wall, _ = timed_grade(startup_subs, args.notebook, empty_solution, 1, args.profile,
                                      args.timeout, base / "startup-out")
        subs = make_submissions(base / "subs", nb, solution.name, args.copies)
        wall, statuses = timed_grade(subs, args.notebook, solution, args.workers, args.profile, args.timeout,
                                     base / "out")
    summary = {
        "notebook": args.notebook, "profile": args.profile, "copies": args.copies, "workers": args.workers,
        "cpu_count": os.cpu_count(), "wall_seconds": round(wall, 1),
        "submissions_per_minute": round(60 * args.copies / wall, 2),
        "seconds_per_submission": round(wall * args.workers / args.copies, 1),
        "startup_seconds": round(startup_wall / args.startup_copies, 1), "statuses": statuses,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"{args.copies} copies of {solution.name} ({args.profile}) on {args.workers} workers: "
          f"{wall:.0f} s, {summary['submissions_per_minute']} submissions/min, "
          f"{summary['seconds_per_submission']} s per submission per worker, start-up "
          f"{summary['startup_seconds']} s; statuses {statuses}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
