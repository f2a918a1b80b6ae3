"""The course runner and CLI on a scratch course: order, failures, summary, fresh folders."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dflearn.course.cli import main
from dflearn.course.runner import OutputFolderError, fresh_output_dir

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
    assert "profile_seen" in captured.out and "ci" in captured.out
    assert sorted(p.name for p in out.glob("*.ipynb")) == ["00_index.ipynb", "01_broken.ipynb", "02_after.ipynb"]
    csv = (out / "results.csv").read_text()
    assert "acc,0.75" in csv and "error (cell 3)" in csv
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


def test_summary_is_aligned_and_cuts_long_values() -> None:
    import pandas as pd

    from dflearn.course.runner import format_summary

    table = pd.DataFrame({"notebook": ["03_cnns", "04_transfer_learning"],
                          "key": ["acc", "04/findings"], "value": [0.9, "x" * 500]})
    lines = format_summary(table, width=40).splitlines()
    assert lines[0].split() == ["notebook", "key", "value"]
    assert len({line.index(line.split()[2]) for line in lines}) == 1  # one value column
    assert lines[2].endswith("x" * 37 + "...") and len(lines[2].split()[2]) == 40
