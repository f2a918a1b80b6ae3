"""The course runner and CLI on a scratch course: order, failures, summary, fresh folders."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dflearn.course.cli import main
from dflearn.course.runner import OutputFolderError, fresh_output_dir

ROOT = Path(__file__).resolve().parents[1]
PARAMS = "profile = ''\ndata = ''\nseed = 42"


def notebook(*sources: str) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    (root / "data").mkdir()
    nbformat.write(notebook("import dflearn\ndflearn.record('profile_seen', profile)\n"
                            "dflearn.record('acc', 0.75)"), root / "solutions" / "00_index.ipynb")
    nbformat.write(notebook("x = 1", "raise ValueError('broken on purpose')"),
                   root / "solutions" / "01_broken.ipynb")
    nbformat.write(notebook("import dflearn, os\ndflearn.record('artifacts', os.environ['DFLEARN_ARTIFACTS'])"),
                   root / "solutions" / "02_after.ipynb")
    monkeypatch.setenv("DFLEARN_HOME", str(root))
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_reports_failure_and_carries_on(course: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    before = snapshot(course / "solutions")
    out = tmp_path / "run"
    code = main(["run", "--profile", "ci", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED 01_broken at cell 3: ValueError: broken on purpose" in captured.err
    assert "2/3 notebooks ran" in captured.out
    assert "acc=0.75" in captured.out  # the headline number, on its line and in the table
    assert sorted(p.name for p in out.glob("*.ipynb")) == ["00_index.ipynb", "01_broken.ipynb", "02_after.ipynb"]
    csv = (out / "results.csv").read_text()
    assert "acc,0.75" in csv and "error (cell 3)" in csv and "profile_seen,ci" in csv
    assert str(out / "artifacts") in csv  # later notebooks see the run's artifacts folder
    assert snapshot(course / "solutions") == before  # sources untouched


def test_only_selects_notebooks(course: Path, tmp_path: Path) -> None:
    assert main(["run", "--profile", "ci", "--only", "0,2", "--out", str(tmp_path / "r")]) == 0
    assert sorted(p.name for p in (tmp_path / "r").glob("*.ipynb")) == ["00_index.ipynb", "02_after.ipynb"]


def test_refuses_non_fresh_or_source_folders(course: Path, tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="not empty"):
        fresh_output_dir(used, "ci")
    assert (used / "keep.txt").read_text() == "mine"
    with pytest.raises(OutputFolderError, match="course sources"):
        fresh_output_dir(course / "solutions", "ci")


def test_cli_unknown_profile_is_a_clean_error(course: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--profile", "turbo"]) == 2
    assert "Valid profiles: ci, cpu, gpu, paper" in capsys.readouterr().err


def test_cli_build_student_check(course: Path, capsys: pytest.CaptureFixture) -> None:
    (course / "notebooks").mkdir()
    assert main(["build-student", "--check"]) == 1
    assert main(["build-student"]) == 0
    assert main(["build-student", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_final_table_has_one_row_per_notebook_with_up_to_three_headlines() -> None:
    from dflearn.course.runner import NotebookRun, notebook_table, run_line

    runs = [NotebookRun("03_cnns", "ok", 12.34, "x.ipynb",
                        records={"03/a": 0.5, "03/b": 2, "03/note": "text", "03/c": 0.25,
                                 "03/d": 9.0, "exercise/e": {"passed": True}}),
            NotebookRun("04_transfer_learning", "error", 1.0, "y.ipynb", "ValueError: no", 7)]
    table = notebook_table(runs)
    assert list(table.index) == ["03_cnns", "04_transfer_learning"]
    assert table.loc["03_cnns", "headline"] == "a=0.5  b=2  c=0.25"  # three numbers at most
    assert run_line(runs[1]).split()[:5] == ["04_transfer_learning", "1.0", "s", "ERROR", "at"]


def test_console_is_clean_and_kernel_output_goes_to_the_log(course: Path, tmp_path: Path,
                                                            capfd: pytest.CaptureFixture) -> None:
    nbformat.write(notebook("import tensorflow as tf\nimport dflearn\ndflearn.record('n', 1.0)"),
                   course / "solutions" / "01_broken.ipynb")  # TensorFlow's native start-up lines
    out = tmp_path / "clean"
    assert main(["run", "--profile", "ci", "--out", str(out)]) == 0
    captured = capfd.readouterr()  # file descriptors: what a terminal would show
    for noise in ("IPKernelApp", "oneDNN", "absl::"):
        assert noise not in captured.out and noise not in captured.err
    assert "IPKernelApp" in (out / "kernels.log").read_text()


def test_resume_keeps_finished_notebooks_and_runs_the_rest(course: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    nbformat.write(notebook("import os, time\ntime.sleep(float(os.environ.get('DFLEARN_TEST_SLEEP', 0)))"),
                   course / "solutions" / "01_broken.ipynb")
    out = tmp_path / "killed"
    env = {**os.environ, "DFLEARN_TEST_SLEEP": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "dflearn.course.cli", "run", "--profile", "ci",
                             "--out", str(out)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "run.json").exists() and time.time() < deadline:  # 00 has finished
        time.sleep(0.5)
    time.sleep(3)  # well into the second notebook's sleep
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = out / "00_index.ipynb"
    stamp = first.stat().st_mtime_ns
    assert not (out / "02_after.ipynb").exists()
    assert main(["run", "--resume", str(out)]) == 0
    assert first.stat().st_mtime_ns == stamp  # 00 was not executed again
    assert sorted(p.name for p in out.glob("*.ipynb")) == ["00_index.ipynb", "01_broken.ipynb",
                                                           "02_after.ipynb"]
    assert "acc,0.75" in (out / "results.csv").read_text()  # the kept notebook's records


def test_resume_needs_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a dflearn run folder" in capsys.readouterr().err


def test_report_is_one_offline_file_with_findings_and_figures(course: Path, tmp_path: Path) -> None:
    nbformat.write(notebook(
        "import dflearn, pandas as pd, matplotlib\nmatplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "dflearn.record('01/findings', pd.DataFrame({'finding': ['A beats B'], 'seed_number': [0.97],"
        " 'ours': [0.91], 'interval': ['[0.88, 0.94]'], 'verdict': ['refuted'], 'text': ['...']}))\n"
        "plt.plot([0, 1]); plt.title('t'); plt.show()\n"
        "from IPython.display import Image, display\nimport io\nbuf = io.BytesIO()\n"
        "plt.figure(); plt.plot([1, 0]); plt.savefig(buf, format='png'); display(Image(buf.getvalue()))"),
        course / "solutions" / "01_broken.ipynb")
    out = tmp_path / "reported"
    assert main(["run", "--profile", "ci", "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "A beats B" in html and 'class="refuted"' in html and "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    markdown = (out / "report.md").read_text()
    assert "| notebook | finding |" in markdown and "A beats B" in markdown
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").exists()
    results = tmp_path / "results.md"  # tools/results_doc.py: the report as text, no images
    assert results_doc().main([str(out), "--data-name", "a test course", "--out", str(results)]) == 0
    text = results.read_text()
    assert "Data: **a test course**" in text and "## Time per notebook" in text
    assert "| 01_broken | ok |" in text and "A beats B" in text and "`01/findings`" in text
    assert "base64" not in text and "<img" not in text


def results_doc():
    """tools/results_doc.py as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("results_doc", ROOT / "tools" / "results_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_joins_fig1_rows_of_03_and_04(tmp_path: Path) -> None:
    import pandas as pd

    from dflearn.course import report
    from dflearn.metrics import fig1_side_by_side
    row = {"loss": 0.3, "accuracy": 0.9, "precision_macro": 0.9, "recall_macro": 0.9,
           "f1_FAKE": 0.9, "f1_REAL": 0.9}
    scratch = fig1_side_by_side({"Personal CNN": ("personal_cnn", row, 200)})
    transfer = fig1_side_by_side({"ResNet50": ("resnet50_transfer", row, 64)})
    parts = [report.NotebookSection("03_cnns", "ok", 1.0, records={"03/vs_study": scratch}),
             report.NotebookSection("04_transfer_learning", "ok", 1.0,
                                    records={"04/fig1": transfer}),
             report.NotebookSection("05_grid", "ok", 1.0, records={"05/x": 1.0})]
    joined = report.fig1_table(parts)
    assert list(joined.index) == ["Personal CNN", "ResNet50"]
    assert list(joined["notebook"]) == ["03_cnns", "04_transfer_learning"]
    assert joined.columns[0] == "notebook" and "verdict" in joined.columns
    assert report.fig1_table(parts[2:]) is None
    assert isinstance(joined, pd.DataFrame)


def test_progress_bar_counts_profile_budgets_with_an_eta(course: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    from dflearn.course.config import get_profile
    from dflearn.course.runner import course_budgets
    sources = [Path("03_cnns.ipynb"), Path("09_gan_fakes.ipynb")]
    assert course_budgets("ci", sources) == {"03_cnns": 90.0, "09_gan_fakes": 90.0}
    cpu = course_budgets("cpu", sources)
    assert min(cpu.values()) > 90 and cpu["03_cnns"] != cpu["09_gan_fakes"]  # per notebook
    assert get_profile("cpu").budget("3") == cpu["03_cnns"]
    main(["run", "--profile", "ci", "--only", "00", "--out", str(tmp_path / "bar")])
    err = capsys.readouterr().err
    assert "budget-s" in err and "ETA" in err and "90/90" in err


HAND_OVER_SAVE = """import dflearn, keras
from dflearn.artifacts import save_model
session = dflearn.setup(profile, '03')
inputs = keras.Input((4, 4, 3))
model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
save_model(session, model, '03_personal_cnn', test_accuracy=0.875)"""
HAND_OVER_LOAD = """import dflearn
from dflearn.artifacts import load_or_train
session = dflearn.setup(profile, '06')
_, how = load_or_train(session, '03_personal_cnn', lambda: None, save=False)
dflearn.record('how', how)"""


def test_one_run_hands_03s_model_to_a_later_notebook(course: Path, tmp_path: Path) -> None:
    """Two kernels, one run folder: the later notebook loads what the earlier one saved."""
    from dflearn.course.results import read_records
    for stale in (course / "solutions").glob("*.ipynb"):
        stale.unlink()
    nbformat.write(notebook(HAND_OVER_SAVE), course / "solutions" / "03_cnns.ipynb")
    nbformat.write(notebook(HAND_OVER_LOAD), course / "solutions" / "06_ensembles.ipynb")
    out = tmp_path / "handed"
    assert main(["run", "--profile", "ci", "--out", str(out)]) == 0
    how = read_records(out / "06_ensembles.ipynb")["how"]
    assert how.startswith("loaded 03_personal_cnn (trained by 03_cnns, ") and "0.875" in how
    assert (out / "artifacts").is_dir()


@pytest.mark.parametrize("notebook_name", ["06_ensembles", "07_saliency"])
def test_stored_outputs_show_the_hand_over_from_03(notebook_name: str) -> None:
    """The stored outputs come from one ordered `tools/refresh_outputs.py` run, so 06 and 07
    print that they loaded 03's Personal CNN instead of training a stand-in."""
    root = Path(__file__).resolve().parents[1]
    nb = nbformat.read(root / "solutions" / f"{notebook_name}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "loaded 03_personal_cnn (trained by 03_cnns, " in text
