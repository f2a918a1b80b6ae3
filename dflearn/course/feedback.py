"""What the grader gives back: one feedback page per student, per-item statistics for the
instructor, and hand-given marks (written answers, tasks) merged from a CSV.

Course layer (used by :mod:`dflearn.course.grading` and ``dflearn grade --manual``). The feedback
pages are rendered from the gradebook tables only (status, message, each item's points and check
message), never from a notebook: they cannot show solution code, hidden checks or the student's
own code. Pages are Jinja2 templates with autoescaping.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import jinja2
import pandas as pd

MANUAL_PREFIX = "manual/"
MANUAL_COLUMNS = ("student", "item", "points", "comment")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

_HINTS = (  # (pattern in the check's message, hint for the student); the first match wins
    ("cell not found", "Your copy of this exercise cell is missing or its fixed code was changed. Copy the cell "
                       "from a fresh student notebook and write your answer only where it says YOUR CODE HERE."),
    ("not implemented yet", "Replace `raise NotImplementedError()` with your code."),
    ("the cell raised", "Run this cell in your notebook and fix the error it shows."),
    ("did not run", "The notebook stopped before this cell (an earlier crash or the time limit); fix that first."),
    ("no result recorded", "Run the cell to the end: its check line must execute."),
    ("no runnable notebook", "Upload your notebook (a valid .ipynb whose name starts with the notebook number)."),
    ("needs >=", "Your result is below the bar stated in the notebook; improve your model or analysis."),
    ("graded by hand", "Your instructor marks this answer by hand."),
    ("differs from the reference", "Compare your result with the exercise's description on the cases shown."),
    ("", "Read the check's message and try again."),
)

_FEEDBACK = jinja2.Template("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {{ student }} - {{ notebook }}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.passed{color:#080}
.failed{color:#b00}</style></head>
<body><h1>Feedback on {{ notebook }}</h1>
<p>Student: <b>{{ student }}</b>. Status: <b>{{ status }}</b>{% if message %}: {{ message }}{% endif %}.</p>
<p>Total: <b>{{ "%g"|format(total) }}</b> of {{ "%g"|format(max_total) }} points.</p>
<table><tr><th>item</th><th>points</th><th>result</th><th>hint</th></tr>
{% for item in items %}<tr><td>{{ item.item }}</td>
<td class="{{ 'passed' if item.passed else 'failed' }}">
{{ "%g"|format(item.points) }} / {{ "%g"|format(item.max_points) }}</td>
<td>{{ item.message }}</td><td>{{ item.hint }}</td></tr>
{% endfor %}</table></body></html>
""", autoescape=True, undefined=jinja2.StrictUndefined)


class ManualMarksError(ValueError):
    """A manual-marks CSV that cannot be merged (names the file, the row and what to fix)."""


def hint(message: str, passed: bool, hints: Mapping[str, str] | None = None, item: str = "") -> str:
    """The hint shown next to an item: the instructor's own for that item, else one chosen by
    the kind of failure ("" for a passed item)."""
    if passed:
        return ""
    if hints and item in hints:
        return hints[item]
    return next(text for pattern, text in _HINTS if pattern in str(message))


def feedback_name(student: str) -> str:
    """A safe file name for a student's page (``feedback/<student>.html``)."""
    return (_SAFE_NAME.sub("_", student).strip("._") or "student") + ".html"


def render_feedback(row: Mapping[str, Any], details: pd.DataFrame, notebook: str,
                    hints: Mapping[str, str] | None = None) -> str:
    """One student's feedback page from their gradebook row and detail rows."""
    items = [{**d, "hint": hint(d["message"], bool(d["passed"]), hints, d["item"]),
              "message": "" if pd.isna(d["message"]) else str(d["message"])}
             for d in details.to_dict("records")]
    message = row.get("message")
    return _FEEDBACK.render(student=row["student"], notebook=notebook, status=row["status"],
                            message="" if message is None or pd.isna(message) else str(message),
                            total=float(row["total"]), max_total=float(row["max_total"]), items=items)


def write_feedback(table: pd.DataFrame, details: pd.DataFrame, out_dir: Path, notebook: str,
                   hints: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``feedback/<student>.html`` for every row of the gradebook."""
    folder = out_dir / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row in table.to_dict("records"):
        mine = details[details["student"] == row["student"]]
        path = folder / feedback_name(str(row["student"]))
        path.write_text(render_feedback(row, mine, notebook, hints), encoding="utf-8")
        written.append(path)
    return written


def item_stats(details: pd.DataFrame) -> pd.DataFrame:
    """Per item: mean points, share of students who passed, and the most common failure message."""
    rows = []
    for item, group in details.groupby("item", sort=False):
        failures = group.loc[~group["passed"].astype(bool), "message"].dropna().astype(str)
        rows.append({"item": item, "max_points": float(group["max_points"].max()),
                     "mean_points": round(float(group["points"].mean()), 3),
                     "share_passed": round(float(group["passed"].astype(bool).mean()), 3),
                     "most_common_failure": failures.value_counts().index[0] if len(failures) else ""})
    return pd.DataFrame(rows, columns=["item", "max_points", "mean_points", "share_passed", "most_common_failure"])


def manual_template(details: pd.DataFrame) -> pd.DataFrame:
    """The CSV an instructor fills: one row per student and hand-graded item, points empty."""
    manual = details[details["item"].astype(str).str.startswith(MANUAL_PREFIX)]
    template = manual[["student", "item"]].copy()
    template["max_points"] = manual["max_points"].to_numpy()
    template["points"], template["comment"] = "", ""
    return template


def read_manual(path: str | os.PathLike, details: pd.DataFrame) -> pd.DataFrame:
    """Read and check a marks CSV (``student,item,points[,comment]``) against the gradebook."""
    path = Path(path)
    try:
        marks = pd.read_csv(path, dtype={"student": str, "item": str, "comment": str}, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ManualMarksError(f"Cannot read the manual marks {path}: {exc}") from None
    missing = [c for c in ("student", "item", "points") if c not in marks.columns]
    if missing:
        raise ManualMarksError(f"{path} lacks the column(s) {', '.join(missing)}; it needs "
                               f"{','.join(MANUAL_COLUMNS)} (manual_template.csv has them).")
    known = {(s, i): m for s, i, m in details[["student", "item", "max_points"]].itertuples(index=False)}
    marks = marks[marks["points"].astype(str).str.strip() != ""]
    for number, mark in enumerate(marks.to_dict("records"), 2):
        where = f"{path} line {number}"
        if (mark["student"], mark["item"]) not in known:
            raise ManualMarksError(f"{where}: no item {mark['item']!r} for student {mark['student']!r} "
                                   "in this gradebook (see manual_template.csv).")
        if not str(mark["item"]).startswith(MANUAL_PREFIX):
            raise ManualMarksError(f"{where}: {mark['item']!r} is graded automatically; only manual/* items "
                                   "take hand-given marks.")
        try:
            points = float(mark["points"])
        except ValueError:
            raise ManualMarksError(f"{where}: points must be a number, got {mark['points']!r}.") from None
        if not 0 <= points <= known[(mark["student"], mark["item"])]:
            raise ManualMarksError(f"{where}: points {points:g} outside 0..{known[(mark['student'], mark['item'])]:g}.")
    return marks


def merge_manual(details: pd.DataFrame, marks: pd.DataFrame) -> pd.DataFrame:
    """Details with the hand-given marks applied (points, passed when full marks, comment)."""
    merged = details.copy()
    for mark in marks.to_dict("records"):
        where = (merged["student"] == mark["student"]) & (merged["item"] == mark["item"])
        points = float(mark["points"])
        merged.loc[where, "points"] = points
        merged.loc[where, "passed"] = points >= merged.loc[where, "max_points"]
        merged.loc[where, "message"] = str(mark.get("comment") or "") or "marked by hand"
    return merged
