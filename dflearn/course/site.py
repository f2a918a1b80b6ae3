"""The course as a static web site: ``dflearn site RUN_DIR --out DIR``.

Course layer. Every executed notebook of a ``dflearn run`` folder becomes one HTML page with its
outputs, rendered by nbconvert's HTML exporter (its JupyterLab template, through a small Jinja
extension that adds the course navigation). The landing page ``index.html`` is the run's
``report.html`` with the navigation on top, or, when the run has no report, a generated list of
the notebooks. Pages are listed in course order (the ``NN_`` prefix of the executed files), so a
notebook added to the course appears without a change here.

Why nbconvert and not Jupyter Book 2 (mystmd): mystmd downloads its site theme from
api.mystmd.org at build time, so it cannot build offline; nbconvert's templates ship with the
package. The site must also *open* offline: the template drops the CDN scripts nbconvert would
link (RequireJS, MathJax, Mermaid, the widget manager), :func:`external_resources` checks every
written page and :func:`build_site` raises :class:`SiteError` if any page still loads something
from the network. Without MathJax, LaTeX in markdown shows as its source text.

Widgets cannot run in a static page: their ``widget-view`` output is dropped, which leaves the
static fallback the explorers display beside it (:mod:`dflearn.fallback`), or a note for a
widget that has none.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# nbconvert's own log (it warns about every matplotlib figure without alt text): errors only
EXPORTER_LOG = logging.getLogger("dflearn.site.nbconvert")
EXPORTER_LOG.setLevel(logging.ERROR)
MARKER = ".dflearn-site"  # marks a folder this module wrote, so that a rebuild may replace it
NO_FALLBACK = ("<p><em>Interactive widget: it needs a running kernel. Open the notebook in "
               "Jupyter to use it.</em></p>")

NAV_CSS = """
nav.dflearn-nav { font-family: system-ui, sans-serif; font-size: 14px; padding: 0.6em 1em;
  border-bottom: 1px solid #ccc; background: #f7f7f7; line-height: 1.8; }
nav.dflearn-nav a { margin-right: 0.9em; text-decoration: none; }
nav.dflearn-nav a.current { font-weight: bold; text-decoration: underline; }
nav.dflearn-pager { font-family: system-ui, sans-serif; display: flex;
  justify-content: space-between; padding: 1em; border-top: 1px solid #ccc; margin-top: 2em; }
"""

# Extends nbconvert's JupyterLab template: no script or style from a CDN, the course navigation
# above every page and a previous/next pager below it.
PAGE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">{{ resources.site_css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.site_nav }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.site_pager }}{{ super() }}{%- endblock body_footer -%}
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 0 auto; }}
main {{ padding: 0 1em; }} {css}</style></head>
<body>{nav}<main><h1>{title}</h1>
<p>Every notebook of the run folder <code>{run}</code>, executed, with its outputs.</p>
<ol>{items}</ol></main></body></html>
"""

# A resource the browser would fetch from the network: src/href of script, link, img, iframe,
# media tags (plain <a> links are fine), CSS url()/@import and JavaScript module imports.
_EXTERNAL = [
    re.compile(r"<(?:script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?"
               r"\b(?:src|href|data)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)", re.IGNORECASE),
    re.compile(r"url\(\s*[\"']?((?:https?:)?//[^\"')\s]+)", re.IGNORECASE),
    re.compile(r"@import\s+[\"']((?:https?:)?//[^\"']+)", re.IGNORECASE),
    re.compile(r"\bimport\b[^;\n]*?[\"']((?:https?:)?//[^\"']+)[\"']", re.IGNORECASE),
]


class SiteError(ValueError):
    """The run folder cannot be turned into a site, or a page would need the network."""


@dataclass(frozen=True)
class Page:
    """One notebook of the site: its executed file, the page it becomes and its title."""

    source: Path
    href: str
    title: str

    @property
    def number(self) -> str:
        """The notebook id, ``"03"``."""
        return self.source.name[:2]


def external_resources(page_html: str) -> list[str]:
    """Every URL in ``page_html`` that a browser would fetch from the network (scripts, styles,
    images, fonts, module imports). Links a reader may click are not counted."""
    return sorted({m.group(1) for pattern in _EXTERNAL for m in pattern.finditer(page_html)})


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first markdown heading of the notebook without its leading number ("03 · "), else
    ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    title = re.sub(r"^\d\d\s*[·:—–-]?\s*", "", line.lstrip("#").strip())
                    return title or fallback
    return fallback


def course_pages(run_dir: Path) -> list[Page]:
    """The executed notebooks ``NN_*.ipynb`` of ``run_dir``, in course order."""
    sources = sorted(run_dir.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise SiteError(f"{run_dir} holds no executed notebooks (NN_*.ipynb); pass a folder that "
                        "`dflearn run --out DIR` wrote.")
    pages = []
    for source in sources:
        try:
            nb = nbformat.read(source, as_version=4)
        except (OSError, ValueError) as exc:
            raise SiteError(f"{source} is not a readable notebook ({exc}); run that notebook "
                            "again with `dflearn run --resume`.") from exc
        pages.append(Page(source, f"{source.stem}.html", notebook_title(nb, source.stem)))
    return pages


def without_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without live widgets: the widget state is dropped, and each widget
    output keeps only its static fallback (a note when it has none beyond its text repr)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            del data[WIDGET_VIEW]
            if set(data) <= {"text/plain"}:
                data["text/html"] = NO_FALLBACK
    return nb


def navigation(pages: list[Page], current: str = "index.html") -> str:
    """The bar above every page: the landing page, then every notebook in course order."""
    links = [("index.html", "Home")] + [(p.href, f"{p.number} {p.title}") for p in pages]
    items = "".join(f'<a href="{href}"{" class=current" if href == current else ""}>'
                    f"{html.escape(text)}</a>" for href, text in links)
    return f'<nav class="dflearn-nav" aria-label="course">{items}</nav>'


def pager(pages: list[Page], index: int) -> str:
    """Previous and next links below page ``index``."""
    before = pages[index - 1] if index > 0 else None
    after = pages[index + 1] if index + 1 < len(pages) else None
    left = (f'<a rel="prev" href="{before.href}">&larr; {html.escape(before.title)}</a>'
            if before else '<a rel="prev" href="index.html">&larr; Home</a>')
    right = (f'<a rel="next" href="{after.href}">{html.escape(after.title)} &rarr;</a>'
             if after else "<span></span>")
    return f'<nav class="dflearn-pager" aria-label="pages">{left}{right}</nav>'


def render_page(pages: list[Page], index: int) -> str:
    """The HTML page of notebook ``pages[index]``."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    page = pages[index]
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader(
        {"dflearn_site.html.j2": PAGE_TEMPLATE})], template_file="dflearn_site.html.j2",
        embed_images=True, log=EXPORTER_LOG)
    nb = without_widgets(nbformat.read(page.source, as_version=4))
    body, _ = exporter.from_notebook_node(nb, resources={
        "metadata": {"name": f"{page.number} {page.title}"}, "site_css": NAV_CSS,
        "site_nav": navigation(pages, page.href), "site_pager": pager(pages, index)})
    return body


def landing_page(run_dir: Path, pages: list[Page]) -> str:
    """``index.html``: the run's report with the navigation on top, else a list of the pages."""
    nav = navigation(pages)
    report = run_dir / "report.html"
    text = report.read_text(encoding="utf-8") if report.is_file() else ""
    if re.search(r"<body[^>]*>", text):
        text = text.replace("</head>", f"<style>{NAV_CSS}</style></head>", 1)
        return re.sub(r"<body[^>]*>", lambda m: m.group(0) + nav, text, count=1)
    items = "".join(f'<li><a href="{p.href}">{p.number} {html.escape(p.title)}</a></li>'
                    for p in pages)
    return INDEX_TEMPLATE.format(title="dflearn course", css=NAV_CSS, nav=nav, items=items,
                                 run=html.escape(run_dir.name))


def prepare_output(out: Path, run_dir: Path) -> Path:
    """Create ``out``, or empty an earlier site there; refuse any other non-empty folder."""
    out = out.expanduser().resolve()
    if out == run_dir or out in run_dir.parents:
        raise SiteError(f"Refusing to write the site into {out}: it holds the run folder; choose "
                        "a fresh --out.")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise SiteError(f"{out} is not empty and is not a dflearn site; choose a fresh --out.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `dflearn site`; rebuilding replaces this folder\n",
                              encoding="utf-8")
    return out


def build_site(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the static site of the executed run in ``run_dir`` to ``out`` (default
    ``RUN_DIR/site``); return the path of its ``index.html``. Raises :class:`SiteError` for a
    folder without executed notebooks and for a page that would load anything from the network.
    """
    run_dir = Path(run_dir).expanduser().resolve()
    if not run_dir.is_dir():
        raise SiteError(f"Run folder not found: {run_dir}; pass a folder `dflearn run` wrote.")
    pages = course_pages(run_dir)
    out_dir = prepare_output(Path(out) if out else run_dir / "site", run_dir)
    written = {p.href: render_page(pages, i) for i, p in enumerate(pages)}
    written["index.html"] = landing_page(run_dir, pages)
    for name, text in written.items():
        remote = external_resources(text)
        if remote:
            raise SiteError(f"Page {name} would load {remote[:3]} from the network; the site "
                            "must open offline (a template or an output links a CDN).")
        (out_dir / name).write_text(text, encoding="utf-8")
    return out_dir / "index.html"
