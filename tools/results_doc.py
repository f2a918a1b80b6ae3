"""Maintainer tool: turn a `dflearn run` folder into the text results page the README links,
``docs/results-cifake-sample.md`` (issue 16): which data, profile, commit and machine; the time
each notebook took; the course report's tables (:func:`dflearn.course.report.build_report`);
and every table the notebooks recorded, as text. Numbers only: no figure and no image is
copied, so nothing derived from the sample's pictures enters the repository.

Usage: python tools/results_doc.py RUN_DIR --data-name NAME [--out docs/results-cifake-sample.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflearn.course.report import build_report, markdown_table, sections  # noqa: E402


def commit() -> str:
    """The repository's commit, with ``+changes`` when the tree differs from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+changes" if dirty else "")


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else the platform's word for it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def recorded_tables(run_dir: Path) -> str:
    """Every table record of every notebook of the run (``exercise/`` checks left out)."""
    out = []
    for part in sections(run_dir):
        tables = {k: v for k, v in part.records.items()
                  if isinstance(v, pd.DataFrame) and not k.startswith("exercise/") and not v.empty}
        if not tables:
            continue
        out.append(f"### {part.name}\n")
        for key, table in tables.items():
            out.append(f"`{key}`\n\n{markdown_table(table)}\n")
    return "\n".join(out)


def header(run_dir: Path, data_name: str, run_commit: str | None = None) -> str:
    """Where these numbers come from."""
    state = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    settings, runs = state["settings"], state["runs"]
    total = sum(r["seconds"] for r in runs)
    ok = sum(r["status"] == "ok" for r in runs)
    times = pd.DataFrame([{"notebook": r["notebook"], "status": r["status"],
                           "seconds": round(r["seconds"], 1)} for r in runs])
    return "\n".join([
        "# The course on the CIFAKE sample (`cpu` profile)\n",
        f"Data: **{data_name}**. These are images from CIFAKE's *train* split, with the sample's "
        "own train/test folders; they are not CIFAKE's official test split, so these numbers are "
        "not comparable one for one with the study's.\n",
        f"Profile `{settings.get('profile')}`, commit `{run_commit or commit()}`, "
        f"{os.cpu_count()} CPU cores "
        f"({cpu_name()}), no GPU. {ok}/{len(runs)} notebooks ok in {total / 60:.1f} min "
        f"(sum of the notebooks' times). Written by `python tools/results_doc.py` from one "
        "`dflearn run` folder; numbers only, no image of the sample.\n",
        "## Time per notebook\n",
        markdown_table(times) + "\n",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data-name", required=True,
                        help="what the data is, e.g. '../shared/cifake-sample (20,000 images)'")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results-cifake-sample.md")
    parser.add_argument("--commit", help="the commit the run used (default: this checkout's)")
    args = parser.parse_args(argv)
    run_dir = args.run_dir.expanduser().resolve()
    if not (run_dir / "run.json").is_file():
        parser.error(f"{run_dir} has no run.json: pass a folder `dflearn run` wrote.")
    _, report_md = build_report(run_dir)
    body = report_md.read_text(encoding="utf-8").split("\n", 1)[1]  # drop the report's title
    text = "\n".join([header(run_dir, args.data_name, args.commit), body.strip() + "\n",
                      "## Every recorded table\n", recorded_tables(run_dir)])
    args.out.write_text(text.rstrip() + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
