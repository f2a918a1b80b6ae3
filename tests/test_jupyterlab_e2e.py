"""End to end: a real JupyterLab server on localhost, driven by headless Chromium (Playwright).

Opens a small notebook (markdown, code, an ipywidgets IntSlider), runs all cells from the Run
menu, checks that no cell shows an error and that the slider widget renders, and saves a
screenshot under runs/e2e/ (the path is printed). Skips when Debian's chromium or Playwright is
missing (`bash .ci/install_e2e.sh` installs both; browsers are never downloaded).
$DFLEARN_E2E_CHROMIUM overrides the browser path (default /usr/bin/chromium).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("DFLEARN_E2E_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "runs" / "e2e"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 60_000

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                     "(bash .ci/install_e2e.sh)")
pytest.importorskip("jupyterlab", reason="JupyterLab is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium, or bash .ci/install_e2e.sh)",
                allow_module_level=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_notebook() -> nbformat.NotebookNode:
    """Markdown, a print and an IntSlider."""
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# End-to-end check\nA markdown cell."),
        nbformat.v4.new_code_cell("answer = 6 * 7\nprint('answer is', answer)"),
        nbformat.v4.new_code_cell("import ipywidgets as widgets\n"
                                  "widgets.IntSlider(value=7, min=0, max=10, description='level')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def wait_for_server(url: str, proc: subprocess.Popen, seconds: float = 90.0) -> None:
    """Poll the server's status API until it answers (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer {url} within {seconds:g} s")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A JupyterLab server on a random localhost port with token auth; yields (base URL, token)."""
    (tmp_path / "lab").mkdir()
    nbformat.write(demo_notebook(), tmp_path / "lab" / "e2e.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython")}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={tmp_path / 'lab'}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc)
        yield base, token
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and its kernels (its process group): TERM, then KILL after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def accept_kernel_dialog(page: "playwright_api.Page", seconds: float = 10.0) -> None:
    """JupyterLab may ask which kernel to start; accept its default (Python 3) if it does."""
    button = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    try:
        button.wait_for(timeout=seconds * 1000)
    except playwright_api.TimeoutError:
        return
    button.click()
    button.wait_for(state="detached")


ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def run_all_cells(page: "playwright_api.Page", url: str) -> list[str]:
    """Open the notebook and Run > Run All Cells. Returns the text of error outputs as soon as
    one shows; otherwise waits for the slider and for every prompt to be numbered."""
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    accept_kernel_dialog(page)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    page.locator(f".jp-Notebook .widget-slider, {ERROR_OUTPUT}").first.wait_for()
    errors = page.locator(ERROR_OUTPUT)
    if errors.count():
        return [errors.nth(i).inner_text() for i in range(errors.count())]
    page.get_by_text("answer is 42").wait_for()
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .every(p => /\\[\\d+\\]/.test(p.textContent))""")
    return [errors.nth(i).inner_text() for i in range(errors.count())]


def test_notebook_runs_in_jupyterlab_and_widget_renders(lab: tuple[str, str], tmp_path: Path) -> None:
    base, token = lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "jupyterlab_e2e.png"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800})
        page = browser.new_page()
        try:
            error_text = run_all_cells(page, f"{base}/lab/tree/e2e.ipynb?token={token}")
            slider_shown = page.locator(".jp-Notebook .widget-slider").first.is_visible()
        finally:
            page.screenshot(path=str(shot), full_page=True)  # also kept when a wait failed
            browser.close()
    print(f"\nJupyterLab screenshot: {shot}")
    assert not error_text, f"cells printed errors: {error_text}"
    assert slider_shown, "the IntSlider widget did not render"
