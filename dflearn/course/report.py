"""The course report of a ``dflearn run`` folder: ``report.html`` (one offline file, figures
embedded) and ``report.md``, rendered with Jinja2 templates from the executed notebooks.

Course layer. It opens with one summary table in the form of the study's Fig. 1, built from every
``NN/findings`` record (finding, seed, seed number, ours, verdict), then per notebook: status and
time, its headline numbers, its findings table and its figures (the PNG outputs of the executed
notebook, as data URIs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dflearn.course.results import read_records

FIGURES_PER_NOTEBOOK = 6
SUMMARY_COLUMNS = ["notebook", "finding", "seed number", "ours", "interval", "verdict"]
# The records that hold the study's Fig. 1 rows beside ours, in one shape
# (:func:`dflearn.metrics.fig1_side_by_side`): 03's models from scratch, 04's transfer models.
FIG1_RECORDS: tuple[str, ...] = ("03/vs_study", "04/fig1")

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dflearn course report: {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
.holds { background: #e6f4ea; } .refuted { background: #fce8e6; } .inconclusive { background: #fef7e0; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
</style></head><body>
<h1>dflearn course report</h1>
<p>{{ title }}</p>
<h2>Summary: the seeds' findings beside ours</h2>
{{ summary }}
<h2>The study's Fig. 1 beside ours (03 and 04)</h2>
{{ fig1 }}
{% for nb in notebooks %}
<h2 id="{{ nb.name }}">{{ nb.name }}</h2>
<p>{{ nb.status }} in {{ "%.1f"|format(nb.seconds) }} s{% if nb.error %}: {{ nb.error }}{% endif %}</p>
{% if nb.headlines %}<h3>Headline numbers</h3>{{ nb.headlines }}{% endif %}
{% if nb.findings %}<h3>Findings</h3>{{ nb.findings }}{% endif %}
{% for figure in nb.figures %}<img alt="figure {{ loop.index }} of {{ nb.name }}" src="data:image/png;base64,{{ figure }}">
{% endfor %}
{% endfor %}
</body></html>
"""

MARKDOWN_TEMPLATE = """# dflearn course report

{{ title }}

## Summary: the seeds' findings beside ours

{{ summary }}

## The study's Fig. 1 beside ours (03 and 04)

{{ fig1 }}
{% for nb in notebooks %}
## {{ nb.name }}

{{ nb.status }} in {{ "%.1f"|format(nb.seconds) }} s{% if nb.error %}: {{ nb.error }}{% endif %}
{% if nb.headlines %}
{{ nb.headlines }}
{% endif %}{% if nb.findings %}
{{ nb.findings }}
{% endif %}{% endfor %}
"""


@dataclass
class NotebookSection:
    """What the report shows of one executed notebook."""

    name: str
    status: str
    seconds: float
    error: str = ""
    records: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)

    def findings(self) -> pd.DataFrame | None:
        """The notebook's ``NN/findings`` tables, stacked (``None`` when it has none)."""
        tables = [v for k, v in self.records.items()
                  if k.endswith("/findings") and isinstance(v, pd.DataFrame)]
        return pd.concat(tables) if tables else None

    def headlines(self) -> pd.DataFrame | None:
        """Every numeric record of the notebook, one row each."""
        rows = {k: v for k, v in self.records.items() if not k.startswith("exercise/")
                and isinstance(v, (int, float)) and not isinstance(v, bool)}
        return pd.DataFrame({"value": rows}) if rows else None


def figures_of(notebook: Path, limit: int = FIGURES_PER_NOTEBOOK) -> list[str]:
    """Base64 PNG figures of an executed notebook, in order, at most ``limit``."""
    import nbformat

    figures = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png and len(figures) < limit:
                figures.append(png.replace("\n", ""))
    return figures


def sections(run_dir: Path) -> list[NotebookSection]:
    """One section per notebook of the run (from ``run.json``, else the executed notebooks)."""
    state = run_dir / "run.json"
    if state.is_file():
        runs = json.loads(state.read_text(encoding="utf-8"))["runs"]
        entries = [(r["notebook"], r["status"], r["seconds"], r.get("error", "")) for r in runs]
    else:
        entries = [(p.stem, "ok", float("nan"), "") for p in sorted(run_dir.glob("[0-9]*.ipynb"))]
    out = []
    for name, status, seconds, error in entries:
        path = run_dir / f"{name}.ipynb"
        found = path.exists()
        out.append(NotebookSection(name, status if found else "missing", seconds, error,
                                   read_records(path) if found else {},
                                   figures_of(path) if found else []))
    return out


def summary_table(parts: list[NotebookSection]) -> pd.DataFrame:
    """Every finding of the run: notebook, finding, seed number, ours, interval, verdict."""
    rows = []
    for part in parts:
        table = part.findings()
        if table is None:
            continue
        for _, row in table.iterrows():
            rows.append({"notebook": part.name, "finding": row.get("finding", ""),
                         "seed number": row.get("seed_number", ""), "ours": row.get("ours", ""),
                         "interval": row.get("interval", ""), "verdict": row.get("verdict", "")})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def fig1_table(parts: list[NotebookSection]) -> pd.DataFrame | None:
    """Fig. 1 across the run: the rows of :data:`FIG1_RECORDS`, one table, ``notebook`` first
    (``None`` when the run recorded none of them)."""
    tables = []
    for part in parts:
        for key in FIG1_RECORDS:
            table = part.records.get(key)
            if isinstance(table, pd.DataFrame) and not table.empty:
                tables.append(table.assign(notebook=part.name))
    if not tables:
        return None
    joined = pd.concat(tables)
    return joined[["notebook", *[c for c in joined.columns if c != "notebook"]]]


def _html(table: pd.DataFrame | None) -> Any:
    """A table as (escaped) HTML, verdict cells coloured; marked safe for the template."""
    from markupsafe import Markup

    if table is None or table.empty:
        return Markup("<p>(none recorded)</p>")
    html = table.to_html(border=0, na_rep="", float_format=lambda v: f"{v:.4g}", escape=True)
    for verdict in ("holds", "refuted", "inconclusive"):
        html = html.replace(f"<td>{verdict}</td>", f'<td class="{verdict}">{verdict}</td>')
    return Markup(html)


def markdown_table(table: pd.DataFrame | None) -> str:
    """A pipe table (no extra dependency)."""
    if table is None or table.empty:
        return "(none recorded)"
    frame = table.reset_index() if table.index.name or not isinstance(table.index, pd.RangeIndex) \
        else table
    cells = [[str(c) for c in frame.columns]]
    cells += [[f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "/")
               for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])


def build_report(run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (and ``fig1.csv``, the study's Fig. 1 beside ours
    across 03 and 04) into ``run_dir``; return the report's paths."""
    from jinja2 import Environment

    run_dir = Path(run_dir).expanduser().resolve()
    if not run_dir.is_dir():
        raise FileNotFoundError(f"Run folder not found: {run_dir}; pass a folder `dflearn run` "
                                "wrote.")
    parts = sections(run_dir)
    title = f"run folder {run_dir.name}: {sum(p.status == 'ok' for p in parts)}/{len(parts)} notebooks ok"
    fig1 = fig1_table(parts)
    if fig1 is not None:
        fig1.to_csv(run_dir / "fig1.csv")
    html = Environment(autoescape=True).from_string(HTML_TEMPLATE).render(
        title=title, summary=_html(summary_table(parts)), fig1=_html(fig1),
        notebooks=[{"name": p.name, "status": p.status, "seconds": p.seconds, "error": p.error,
                    "headlines": _html(p.headlines()) if p.headlines() is not None else "",
                    "findings": _html(p.findings()) if p.findings() is not None else "",
                    "figures": p.figures} for p in parts])
    markdown = Environment(autoescape=False).from_string(MARKDOWN_TEMPLATE).render(
        title=title, summary=markdown_table(summary_table(parts)), fig1=markdown_table(fig1),
        notebooks=[{"name": p.name, "status": p.status, "seconds": p.seconds, "error": p.error,
                    "headlines": markdown_table(p.headlines()) if p.headlines() is not None else "",
                    "findings": markdown_table(p.findings()) if p.findings() is not None else ""}
                   for p in parts])
    html_path, md_path = run_dir / "report.html", run_dir / "report.md"
    html_path.write_text(html, encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return html_path, md_path
