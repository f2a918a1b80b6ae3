"""End to end: a student's session in a real JupyterLab, driven by headless Chromium (Playwright).

A JupyterLab server runs on localhost over a copy of the repository, with ``DFLEARN_PROFILE=ci``
(and its own artifacts folder), and the browser works through the course's student notebooks
as a student would:

1. ``notebooks/00_index.ipynb``: Run All; no error but the exercise's NotImplementedError; the
   profile explorer renders and answers its profile dropdown.
2. ``notebooks/01_eda_colour_histograms.ipynb``: Run All; each exercise cell shows its
   NotImplementedError prompt and every later cell still runs; the image explorer's picture
   changes when its class dropdown changes (the image bytes are compared).
3. An exercise of 01 filled in by typing its solution into the cell, run: ``[PASSED]``.
4. ``notebooks/03_cnns.ipynb``: the set-up cells and the training control, run one by one;
   the control renders and trains on a click. ``notebooks/07_saliency.ipynb``: the cells the
   saliency explorer needs, then the explorer; its picture changes with its method dropdown.
   (nbval already runs every student copy top to bottom; running only what a widget needs
   keeps CI's time for what only a browser can check.)

Each notebook is saved from the browser and its saved outputs are checked too. Screenshots go
to ``runs/e2e/e2e_*.png`` (also when a wait fails). The module trains small models: run it
inside the machine's training slot. It skips when Debian's chromium or Playwright is missing
(``bash .ci/install_e2e.sh`` installs both; browsers are never downloaded).
``$DFLEARN_E2E_CHROMIUM`` overrides the browser path (default /usr/bin/chromium).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
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

from dflearn.course.notebooks import BEGIN, END
from dflearn.paths import cache_dir

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("DFLEARN_E2E_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "runs" / "e2e"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 60_000           # one UI step
RUN_ALL_MS = 420_000       # Run All of one notebook under ci on a busy 2-core machine
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "runs", "*.egg-info", "__pycache__",
                                     ".ipynb_checkpoints", ".pytest_cache")

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                     "(bash .ci/install_e2e.sh)")
pytest.importorskip("jupyterlab", reason="JupyterLab is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium, or bash .ci/install_e2e.sh)",
                allow_module_level=True)
expect = playwright_api.expect
Page = playwright_api.Page
Locator = playwright_api.Locator


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, seconds: float = 120.0) -> None:
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


def write_lab_settings(folder: Path) -> None:
    """No news or update checks; every cell kept in the DOM (no windowing), so that the test
    sees all prompts and outputs."""
    settings = {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
                "notebook-extension/tracker": {"windowingMode": "none"}}
    for name, values in settings.items():
        path = folder / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


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


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository (sources, notebooks, data; no git, venv or runs)."""
    copy = tmp_path_factory.mktemp("e2e") / "course"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
    return copy


@pytest.fixture(scope="module")
def lab(course: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab on a random localhost port with token auth over the course copy, kernels
    under ``DFLEARN_PROFILE=ci``; yields (base URL, token)."""
    home = course.parent
    write_lab_settings(home / "settings")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
           "DFLEARN_PROFILE": "ci", "DFLEARN_HOME": str(course),
           "DFLEARN_ARTIFACTS": str(home / "artifacts"), "DFLEARN_CACHE": str(cache_dir()),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
               f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log = open(home / "lab.log", "wb")
    proc = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc)
        yield base, token
    finally:
        stop(proc)
        log.close()


def shut_down_kernels(base: str, token: str) -> None:
    """Delete every session of the server (its kernel stops), freeing the memory for the next."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as reply:
        sessions = json.load(reply)
    for session in sessions:
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture(scope="module")
def browser(lab: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator["playwright_api.BrowserContext"]:
    """One headless Chromium (Debian's) for the whole session."""
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900})
        yield context
        context.close()


@pytest.fixture
def page(browser: "playwright_api.BrowserContext", lab: tuple[str, str],
         request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh tab; on the way out a screenshot of the page as left (``e2e_last_<test>.png``,
    the one to look at when a wait failed) and every kernel stopped."""
    tab = browser.new_page()
    tab.set_default_timeout(WAIT_MS)
    yield tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"e2e_last_{request.node.name}.png"))
    tab.close()
    shut_down_kernels(*lab)


# --------------------------------------------------------------------------- what a student does


def accept_kernel_dialog(page: Page, seconds: float = 5.0) -> None:
    """JupyterLab may ask which kernel to start; accept its default (Python 3) if it does."""
    button = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    try:
        button.wait_for(timeout=seconds * 1000)
    except playwright_api.TimeoutError:
        return
    button.click()
    button.wait_for(state="detached")


def open_notebook(page: Page, lab: tuple[str, str], path: str) -> None:
    """Open ``path`` in a workspace of its own (nothing restored from an earlier tab) and wait
    for its kernel to be idle."""
    base, token = lab
    workspace = re.sub(r"\W", "-", path)
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{path}?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    accept_kernel_dialog(page)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()


def run_all(page: Page) -> None:
    """Run > Run All Cells, then wait until no cell is queued or running and the kernel is idle
    (cells after an error that stops the run keep an empty prompt, which the checks catch)."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
            .map(p => p.textContent);
        return prompts.some(t => /\\[\\d+\\]/.test(t)) && !prompts.some(t => t.includes('*'))
            && document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
    }""", timeout=RUN_ALL_MS, polling=500)


def save(page: Page, course: Path, path: str) -> nbformat.NotebookNode:
    """Save the notebook from its toolbar and return the file as saved."""
    page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").first.click()
    expect(page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(0)
    return nbformat.read(course / path, as_version=4)


def problems(nb: nbformat.NotebookNode, ran: set[int] | None = None) -> list[str]:
    """What a student should not see: a cell that did not run, an error outside an exercise,
    an exercise cell without its NotImplementedError prompt. ``ran``: the indices of the code
    cells that were run (default: all of them)."""
    found = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        if ran is not None and i not in ran:
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        exercise = "raises-exception" in cell.metadata.get("tags", [])
        if cell.execution_count is None:
            found.append(f"code cell {i} did not run")
        elif exercise and not ([e.ename for e in errors] == ["NotImplementedError"]
                               or "NotImplementedError" in text):
            found.append(f"exercise cell {i} shows no NotImplementedError prompt")
        elif errors and not exercise:
            found.append(f"code cell {i}: {errors[0].ename}: {errors[0].evalue}")
    return found


def cell_with(page: Page, text: str) -> Locator:
    """The code cell whose source contains ``text``."""
    return page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text=text))


def redrawn_image(page: Page, cell: Locator, change) -> str:
    """Call ``change()`` and return the ``src`` of the picture the widget draws in its place.
    The current picture is marked first, so the wait ends only on a new one (an explorer
    redraws on every change, even to the same image)."""
    images = cell.locator(".widget-output img")
    expect(images).to_have_count(1)
    images.first.evaluate("img => img.setAttribute('data-e2e-old', '')")
    change()
    fresh = cell.locator(".widget-output img:not([data-e2e-old])")
    fresh.wait_for()
    assert_drawn(fresh, "the redrawn picture")
    return fresh.get_attribute("src")


QUADRANT_INK = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const [w, h] = [canvas.width / 2, canvas.height / 2];
    return [[0, 0], [w, 0], [0, h], [w, h]].map(([x, y]) => {
        const d = context.getImageData(x, y, w, h).data;
        let ink = 0;
        for (let i = 0; i < d.length; i += 4) ink += d[i] + d[i + 1] + d[i + 2] < 600;
        return ink / (d.length / 4);
    });
}"""


def assert_drawn(image: Locator, what: str) -> None:
    """Fail when a quarter of the picture is blank: a figure drawn by two threads at once
    comes out blank or with its lower half missing (see dflearn.fallback.figure_html)."""
    image.evaluate("img => img.decode()")
    ink = image.evaluate(QUADRANT_INK)
    assert min(ink) > 0.002, f"{what}: a quarter of the picture is blank (ink per quarter {ink})"


def choose(cell: Locator, label: str, option: str | None = None, index: int | None = None) -> None:
    """Pick an option of the cell's ipywidgets dropdown named ``label``."""
    dropdown = cell.locator(".widget-dropdown").filter(
        has=cell.page.locator("label", has_text=re.compile(rf"^{re.escape(label)}$")))
    select = dropdown.locator("select")
    select.select_option(option) if option is not None else select.select_option(index=index)


def shoot(target: Page | Locator, name: str) -> Path:
    """Save a screenshot ``runs/e2e/e2e_<name>.png`` once every picture in ``target`` has
    loaded; returns its path."""
    target.locator("img").evaluate_all("""images => Promise.all(images.map(img => img.decode()
        .catch(() => null)))""")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"e2e_{name}.png"
    target.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def solution_source(course: Path, notebook: str, text: str) -> str:
    """The source of the cell of ``solutions/NN_*.ipynb`` that contains ``text``."""
    path = next((course / "solutions").glob(f"{notebook}_*.ipynb"))
    return next(c.source for c in nbformat.read(path, as_version=4).cells if text in c.source)


def run_notebook(page: Page, lab: tuple[str, str], course: Path, path: str) -> None:
    """Open, Run All, save; fail on anything :func:`problems` finds in the saved notebook."""
    open_notebook(page, lab, path)
    run_all(page)
    found = problems(save(page, course, path))
    assert not found, f"{path}: {found}"


def code_indices(course: Path, path: str, texts: list[str]) -> list[int]:
    """For each of ``texts``, the index (among code cells) of the first code cell of ``path``
    whose source has it."""
    code = [c for c in nbformat.read(course / path, as_version=4).cells if c.cell_type == "code"]
    return [next(i for i, cell in enumerate(code) if text in cell.source) for text in texts]


def clear_outputs(page: Page) -> None:
    """Edit > Clear Outputs of All Cells: every prompt loses the stored run's execution count."""
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    page.get_by_text("Clear Outputs of All Cells", exact=True).click()
    expect(page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first).not_to_have_text(
        re.compile(r"\d"))


def run_cell(page: Page, index: int) -> None:
    """Select code cell ``index`` by its prompt, Run > Run Selected Cell and Do not Advance, and
    wait until its prompt shows an execution count (the outputs were cleared first)."""
    prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").nth(index)
    prompt.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run Selected Cell and Do not Advance", exact=True).click()
    expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=RUN_ALL_MS)


def run_cells(page: Page, lab: tuple[str, str], course: Path, path: str,
              texts: list[str]) -> None:
    """Open ``path``, run in order the code cells that contain each of ``texts`` (what a student
    does to reach one widget), save, and fail on anything :func:`problems` finds in them."""
    open_notebook(page, lab, path)
    clear_outputs(page)
    indices = code_indices(course, path, texts)
    for index in indices:
        run_cell(page, index)
    found = problems(save(page, course, path), ran=set(indices))
    assert not found, f"{path}: {found}"


# --------------------------------------------------------------------------- the session


def test_problems_names_what_a_student_should_not_see() -> None:
    def code(outputs: list[dict], count: int | None = 1, exercise: bool = False) -> dict:
        cell = nbformat.v4.new_code_cell("x", execution_count=count)
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        cell.metadata["tags"] = ["raises-exception"] if exercise else []
        return cell

    def error(ename: str) -> dict:
        return {"output_type": "error", "ename": ename, "evalue": "e", "traceback": []}

    prompt = {"output_type": "stream", "name": "stdout", "text": "replace NotImplementedError()"}
    fine = [code([]), code([error("NotImplementedError")], exercise=True),
            code([prompt], exercise=True)]
    assert problems(nbformat.v4.new_notebook(cells=fine)) == []
    bad = [code([], count=None), code([error("ValueError")]), code([], exercise=True),
           code([error("KeyError")], exercise=True)]
    assert problems(nbformat.v4.new_notebook(cells=bad)) == [
        "code cell 0 did not run", "code cell 1: ValueError: e",
        "exercise cell 2 shows no NotImplementedError prompt",
        "exercise cell 3 shows no NotImplementedError prompt"]


def test_00_index_runs_and_the_profile_explorer_answers(page: Page, lab, course: Path) -> None:
    run_notebook(page, lab, course, "notebooks/00_index.ipynb")
    cell = cell_with(page, "profile_explorer()")
    summary = cell.locator(".widget-html")
    expect(summary).to_contain_text("profile 'ci'")
    choose(cell, "profile", "cpu")
    expect(summary).to_contain_text("profile 'cpu'")
    shoot(cell, "00_profile_explorer")


def test_01_exercises_prompt_the_explorer_responds_and_an_exercise_passes(
        page: Page, lab, course: Path) -> None:
    run_notebook(page, lab, course, "notebooks/01_eda_colour_histograms.ipynb")
    exercise = cell_with(page, "def loop_channel_means")
    expect(exercise.locator(".jp-OutputArea")).to_contain_text("NotImplementedError")
    shoot(exercise, "01_exercise_prompt")

    explorer = cell_with(page, "explore_images(train)")
    first = explorer.locator(".widget-output img").get_attribute("src")
    fake = redrawn_image(page, explorer, lambda: choose(explorer, "class", "FAKE"))
    real = redrawn_image(page, explorer, lambda: choose(explorer, "class", "REAL"))
    shoot(explorer, "01_image_explorer_REAL")
    assert fake != real and first in (fake, real), "the class dropdown did not change the image"

    solution = "\n".join(line for line in solution_source(course, "01", "def loop_channel_means")
                         .splitlines() if BEGIN not in line and END not in line)
    exercise.locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(solution)
    page.keyboard.press("Control+Enter")
    expect(exercise.locator(".jp-OutputArea")).to_contain_text(
        "[PASSED] exercise 'loop_channel_means'", timeout=RUN_ALL_MS)
    shoot(exercise, "01_exercise_passed")


def test_03_training_control_renders_and_trains(page: Page, lab, course: Path) -> None:
    run_cells(page, lab, course, "notebooks/03_cnns.ipynb", [
        'profile = ""', "dflearn.setup(", "from dflearn.controls import training_control",
        "splits = session.splits()", "recipe = training.recipe(settings)",
        "control = training_control("])
    control = cell_with(page, "control = training_control(")
    for part in (".widget-slider", ".widget-dropdown", ".widget-button"):
        expect(control.locator(part).first).to_be_visible()
    control.get_by_role("button", name="Train").click()
    expect(control.locator(".widget-output")).to_contain_text("run 1: epochs=",
                                                              timeout=RUN_ALL_MS)
    expect(control.locator(".widget-output img")).to_have_count(1)
    assert_drawn(control.locator(".widget-output img"), "the training curves")
    shoot(control, "03_training_control")


def test_07_saliency_explorer_redraws_with_its_method(page: Page, lab, course: Path) -> None:
    run_cells(page, lab, course, "notebooks/07_saliency.ipynb", [
        'profile = ""', "dflearn.setup(", "from dflearn.saliency_explorer import SaliencyExplorer",
        "splits = session.splits()", "CASES = {", "MODELS, TESTS = {}, {}", "EXPLAINERS = {",
        "explorer = SaliencyExplorer("])
    explorer = cell_with(page, "explorer = SaliencyExplorer(")
    first = explorer.locator(".widget-output img").get_attribute("src")
    other = redrawn_image(page, explorer, lambda: choose(explorer, "method", index=1))
    shoot(explorer, "07_saliency_explorer")
    assert other != first, "the saliency explorer's picture did not change with its method"
