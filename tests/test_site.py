"""dflearn.course.site (``dflearn site RUN_DIR --out DIR``): a static site of an executed run.

The run folder is made from the solutions notebooks, whose stored outputs come from a ``ci``
run, plus their ``report.html``; so the pages carry real figures without executing anything.
The browser test opens the site in Debian's chromium (Playwright) with every network request
refused, follows the index to notebook 03 and walks the pager to the last notebook; it skips
when Playwright or chromium is missing (``bash .ci/install_e2e.sh``). Its screenshot is
``runs/e2e/site_03.png``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from dflearn.course.cli import main
from dflearn.course.config import NOTEBOOKS
from dflearn.course.report import build_report
from dflearn.course.site import (MARKER, NO_FALLBACK, SiteError, WIDGET_VIEW, build_site,
                                 external_resources)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("DFLEARN_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "runs" / "e2e"
# every course notebook of this checkout, in course order (10 and later appear when they land)
STEMS = [stem for stem in NOTEBOOKS.values() if (ROOT / "solutions" / f"{stem}.ipynb").exists()]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run folder (the solutions' stored ci outputs and their report) and its site."""
    run = tmp_path_factory.mktemp("run")
    for stem in STEMS:
        shutil.copy(ROOT / "solutions" / f"{stem}.ipynb", run)
    build_report(run)
    index = build_site(run, run.parent / "site")
    return run, index.parent


def pages_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.html"))


def test_every_notebook_is_a_page_linked_in_course_order(site: tuple[Path, Path]) -> None:
    _, out = site
    assert pages_of(out) == sorted([f"{s}.html" for s in STEMS] + ["index.html"])
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "dflearn course report" in index  # the run's report is the landing page
    for name in pages_of(out):
        links = re.findall(r'class="dflearn-nav".*?</nav>', (out / name).read_text(encoding="utf-8"),
                           re.DOTALL)[0]
        assert re.findall(r'href="([^"]+)"', links) == ["index.html"] + [f"{s}.html" for s in STEMS]
    page_03 = (out / "03_cnns.html").read_text(encoding="utf-8")
    assert pager_link(page_03, "prev") == "02_classical_baselines.html"
    assert pager_link(page_03, "next") == "04_transfer_learning.html"
    assert page_03.count('src="data:image/png;base64,') >= 3  # its figures, embedded
    assert pager_link((out / f"{STEMS[-1]}.html").read_text(encoding="utf-8"), "next") is None


def pager_link(page: str, rel: str) -> str | None:
    """The href of the page's ``<a rel=REL>`` (attributes in any order), or None."""
    tag = re.search(rf'<a [^>]*rel="{rel}"[^>]*>', page)
    return re.search(r'href="([^"]+)"', tag.group(0)).group(1) if tag else None


def test_pages_load_nothing_from_the_network(site: tuple[Path, Path]) -> None:
    _, out = site
    for name in pages_of(out):
        text = (out / name).read_text(encoding="utf-8")
        assert external_resources(text) == [], name
        assert "<script src=" not in text and WIDGET_VIEW not in text, name


@pytest.mark.parametrize("page, found", [
    ('<script src="https://cdn.example.org/require.js"></script>', "https://cdn.example.org/require.js"),
    ("<link rel='stylesheet' href='//fonts.example.org/a.css'>", "//fonts.example.org/a.css"),
    ('<style>@import "https://x.example.org/s.css";</style>', "https://x.example.org/s.css"),
    ("<style>p { background: url(http://x.example.org/p.png) }</style>", "http://x.example.org/p.png"),
    ('<script type="module">import m from "https://x.example.org/m.mjs";</script>', "https://x.example.org/m.mjs"),
    ('<img src="https://x.example.org/i.png">', "https://x.example.org/i.png"),
])
def test_external_resources_are_found(page: str, found: str) -> None:
    assert external_resources(page) == [found]
    assert external_resources('<a href="https://example.org/paper">the paper</a>') == []


def notebook_with(*outputs: dict) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("explorer", execution_count=1)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 03 · A title"), cell],
                                    metadata={"widgets": {"state": {}}})


def display_output(data: dict) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": data}


def test_widgets_show_their_fallback_and_a_cdn_output_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    view = {"version_major": 2, "version_minor": 0, "model_id": "abc"}
    nbformat.write(notebook_with(
        display_output({WIDGET_VIEW: view, "text/plain": "VBox()",
                        "text/html": '<div class="dflearn-static-fallback">static picture</div>'}),
        display_output({WIDGET_VIEW: view, "text/plain": "IntSlider(value=3)"})),
        run / "03_demo.ipynb")
    index = build_site(run, tmp_path / "site")
    page = (index.parent / "03_demo.html").read_text(encoding="utf-8")
    assert "static picture" in page and NO_FALLBACK in page and WIDGET_VIEW not in page
    assert "<title>03 A title</title>" in page
    assert '<a href="03_demo.html">03 A title</a>' in index.read_text(encoding="utf-8")
    nbformat.write(notebook_with(display_output(
        {"text/html": '<script src="https://cdn.example.org/lib.js"></script>'})), run / "04_cdn.ipynb")
    with pytest.raises(SiteError, match=r"04_cdn.html would load \['https://cdn.example.org/lib.js'\]"):
        build_site(run, tmp_path / "site")


def test_bad_folders_are_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="Run folder not found"):
        build_site(tmp_path / "missing")
    with pytest.raises(SiteError, match=r"holds no executed notebooks \(NN_\*.ipynb\)"):
        build_site(tmp_path)
    (tmp_path / "05_broken.ipynb").write_text("{not json", encoding="utf-8")
    with pytest.raises(SiteError, match="05_broken.ipynb is not a readable notebook"):
        build_site(tmp_path)
    (tmp_path / "05_broken.ipynb").unlink()
    nbformat.write(notebook_with(), tmp_path / "05_fine.ipynb")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SiteError, match="is not empty and is not a dflearn site"):
        build_site(tmp_path, other)
    assert main(["site", str(tmp_path), "--out", str(other)]) == 2
    assert main(["site", str(tmp_path)]) == 0  # default: RUN_DIR/site, a generated index
    assert (tmp_path / "site" / MARKER).is_file()
    assert "05_fine.html" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert main(["site", str(tmp_path)]) == 0  # rebuilding replaces the earlier site


try:
    from playwright import sync_api as playwright
except ImportError:  # the browser test skips; the others do not need it
    playwright = None


def refuse_network(page: "playwright.Page") -> list[str]:
    """Abort every request that is not a local file or inline data; returns the list of the
    URLs refused (filled as the page loads)."""
    refused: list[str] = []

    def abort(route: "playwright.Route") -> None:
        refused.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^(?!file:|data:)"), abort)
    return refused


@pytest.mark.skipif(playwright is None or not CHROMIUM.exists(),
                    reason=f"Playwright or {CHROMIUM} is missing (bash .ci/install_e2e.sh)")
def test_site_in_a_browser_offline(site: tuple[Path, Path]) -> None:
    _, out = site
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        refused = refuse_network(page)
        try:
            page.goto((out / "index.html").as_uri())
            page.locator("nav.dflearn-nav a", has_text=re.compile(r"^03 ")).click()
            page.wait_for_url(re.compile(r"/03_cnns\.html$"))
            figure = page.locator(".jp-OutputArea-output img[src^='data:image/png']").first
            figure.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 100",
                                   arg=figure.element_handle())
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "site_03.png"))
            visited = ["03_cnns"]
            while page.locator("a[rel=next]").count():
                href = page.locator("a[rel=next]").get_attribute("href")
                page.locator("a[rel=next]").click()
                page.wait_for_url(re.compile(re.escape(href) + "$"))
                visited.append(href.removesuffix(".html"))
            page.screenshot(path=str(SCREENSHOTS / "site_last.png"))
        finally:
            browser.close()
    assert visited == STEMS[STEMS.index("03_cnns"):]
    assert "09_gan_fakes" in visited
    assert not refused, f"the site asked the network for {refused}"
