"""The hidden split of the open-ended tasks (issue 18): ``session.hidden_split`` and
``dflearn grade --hidden-data``.

A hidden-data folder is made in tmp_path from a few practice test images (never committed).
The grader passes it into the sandbox (environment variable, Landlock read rule) and a tiny
solution notebook's hidden test cell reads it; without it, the notebook falls back to the test
split and the gradebook flags the run. Bad folders give errors naming the path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from dflearn.course import cli, grading
from dflearn.course.notebooks import to_student
from dflearn.course.session import HIDDEN_DATA_ENV, NO_HIDDEN_SPLIT, hidden_data_folder, setup
from dflearn.data import DatasetError

ROOT = Path(__file__).resolve().parents[1]
PRACTICE_TEST = ROOT / "data" / "practice" / "test"
COUNTS = {"FAKE": 3, "REAL": 4}
HIDDEN_CELL = ("dflearn.check('visible', True)\n"
               "### BEGIN HIDDEN TESTS\n"
               "hidden = session.hidden_split()\n"
               f"dflearn.check('hidden-split', hidden.counts() == {COUNTS!r})\n"
               "### END HIDDEN TESTS")

needs_practice = pytest.mark.skipif(not PRACTICE_TEST.is_dir(), reason="data/practice is not there")


def make_hidden(folder: Path, counts: dict[str, int] = COUNTS, size: int | None = None) -> Path:
    """A flat REAL/FAKE folder of the first practice test images (resized to ``size``)."""
    from PIL import Image

    for name, n in counts.items():
        (folder / name).mkdir(parents=True)
        for source in sorted((PRACTICE_TEST / name).iterdir())[:n]:
            if size is None:
                shutil.copy(source, folder / name / source.name)
            else:
                Image.open(source).resize((size, size)).save(folder / name / f"{source.stem}.png")
    return folder


def tiny_solution() -> nbformat.NotebookNode:
    params = nbformat.v4.new_code_cell('profile = ""\nseed = 42')
    params.metadata["tags"] = ["parameters"]
    cells = [params,
             nbformat.v4.new_code_cell("import dflearn\n\n"
                                       "session = dflearn.setup(profile, notebook='01', seed=seed, tensorflow=False)"),
             nbformat.v4.new_code_cell(HIDDEN_CELL)]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                          "display_name": "Python 3"}})


# ---------------------------------------------------------------- the folder and the session

@needs_practice
def test_hidden_data_folder_accepts_both_layouts_and_names_bad_paths(tmp_path: Path) -> None:
    flat = make_hidden(tmp_path / "flat")
    assert hidden_data_folder(flat) == flat.resolve()
    nested = make_hidden(tmp_path / "nested" / "test")
    assert hidden_data_folder(tmp_path / "nested") == nested.resolve()
    with pytest.raises(DatasetError, match=rf"Hidden data folder not found: {tmp_path / 'nowhere'}\. Pass a folder"):
        hidden_data_folder(tmp_path / "nowhere")
    shutil.rmtree(flat / "FAKE")
    with pytest.raises(DatasetError, match=rf"{flat} has no FAKE folder\. Pass a folder holding test/REAL"):
        hidden_data_folder(flat)
    (flat / "FAKE").mkdir()
    with pytest.raises(DatasetError, match=rf"Class folder is empty: {flat / 'FAKE'}"):
        hidden_data_folder(flat)


@needs_practice
def test_session_hidden_split_reads_the_folder_or_says_it_falls_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DFLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(HIDDEN_DATA_ENV, raising=False)
    session = setup("ci", notebook="01", tensorflow=False)
    fallback = session.hidden_split()
    assert NO_HIDDEN_SPLIT in capsys.readouterr().out
    test = session.splits().test
    assert np.array_equal(fallback.images, test.images) and fallback.counts() == test.counts()
    assert session.hidden_split(5).counts() == {"FAKE": 5, "REAL": 5}
    capsys.readouterr()

    monkeypatch.setenv(HIDDEN_DATA_ENV, str(make_hidden(tmp_path / "hidden", size=40)))
    hidden = session.hidden_split()
    assert NO_HIDDEN_SPLIT not in capsys.readouterr().out
    assert hidden.counts() == COUNTS and hidden.images.shape[1:] == test.images.shape[1:]
    assert all(Path(p).parent.parent == (tmp_path / "hidden").resolve() for p in hidden.paths)
    assert session.hidden_split(2).counts() == {"FAKE": 2, "REAL": 2}
    monkeypatch.setenv(HIDDEN_DATA_ENV, str(tmp_path / "gone"))
    with pytest.raises(DatasetError, match="Hidden data folder not found"):
        session.hidden_split()


# ---------------------------------------------------------------- the grader

def test_grade_refuses_a_bad_hidden_folder_before_running(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    solution = tmp_path / "01_tiny.ipynb"
    nbformat.write(tiny_solution(), solution)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    with pytest.raises(grading.GradingError, match=rf"--hidden-data: Hidden data folder not found: {tmp_path / 'x'}"):
        grading.grade(tmp_path / "subs", "01", solution=solution, hidden_data=tmp_path / "x", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "flat" / "REAL").mkdir(parents=True)
    assert cli.main(["grade", str(tmp_path / "subs"), "--notebook", "01", "--solution", str(solution),
                     "--hidden-data", str(tmp_path / "flat"), "--out", str(tmp_path / "out")]) == 2
    assert f"{tmp_path / 'flat'} has no FAKE folder" in capsys.readouterr().err


def test_rubric_knows_its_hidden_split_items(tmp_path: Path) -> None:
    solution = tmp_path / "01_tiny.ipynb"
    nbformat.write(tiny_solution(), solution)
    assert grading.rubric_from_solution(solution).hidden_split == ("exercise/hidden-split",)
    env = grading.sandbox_env(tmp_path, tmp_path / "work", grading.Limits(threads=1), "ci", "/hidden")
    assert env[HIDDEN_DATA_ENV] == "/hidden"
    assert HIDDEN_DATA_ENV not in grading.sandbox_env(tmp_path, tmp_path / "work", grading.Limits(threads=1), "ci")


@pytest.mark.slow
@needs_practice
def test_grader_passes_the_hidden_split_into_the_sandbox(tmp_path: Path) -> None:
    solution = tmp_path / "solutions" / "01_tiny.ipynb"
    solution.parent.mkdir()
    nbformat.write(tiny_solution(), solution)
    student = to_student(tiny_solution())
    assert "hidden_split" not in nbformat.writes(student)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    nbformat.write(student, tmp_path / "subs" / "alice" / "01_tiny.ipynb")
    hidden = make_hidden(tmp_path / "instructor" / "hidden" / "test")
    options = {"solution": solution, "profile": "ci", "workers": 1, "progress": False,
               "limits": grading.Limits(timeout=240, memory_mb=4096)}
    book = grading.grade(tmp_path / "subs", "01", out=tmp_path / "out", hidden_data=hidden.parent, **options)
    row = book.table.set_index("student").loc["alice"]
    assert row["status"] == "ok", (row["message"], book.outcomes[0].log)
    assert row["exercise/hidden-split"] == 1 and row["exercise/visible"] == 1
    assert "without --hidden-data" not in row["flags"]

    plain = grading.grade(tmp_path / "subs", "01", out=tmp_path / "out-plain", **options)
    row = plain.table.set_index("student").loc["alice"]
    assert row["status"] == "ok" and row["exercise/hidden-split"] == 0  # the test split has 250 + 250
    assert "graded without --hidden-data: exercise/hidden-split checked on the test split" in row["flags"]
    executed = (tmp_path / "out-plain" / "executed" / "alice" / "01_tiny.ipynb").read_text()
    assert NO_HIDDEN_SPLIT in executed


# ---------------------------------------------------------------- notebook 02's open-ended task

def answered_copy(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy with every answer region filled in with the solution's code: what a
    student who found the solution would hand in (hidden tests still removed)."""
    student = to_student(solution)
    for mine, theirs in zip(student.cells, solution.cells):
        if "### BEGIN SOLUTION" in theirs.source:
            mine.source = "\n".join(line for line in theirs.source.split("\n")
                                    if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return student


@pytest.mark.slow
@needs_practice
def test_grading_02_scores_the_open_task_on_the_hidden_split(tmp_path: Path) -> None:
    path = ROOT / "solutions" / "02_classical_baselines.ipynb"
    solution = nbformat.read(path, as_version=4)
    for name, nb in {"alice": answered_copy(solution), "bob": to_student(solution)}.items():
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / name / path.name)
    hidden = make_hidden(tmp_path / "hidden", {"FAKE": 100, "REAL": 100})
    book = grading.grade(tmp_path / "subs", "02", profile="ci", workers=2, out=tmp_path / "out", progress=False,
                         hidden_data=hidden, limits=grading.Limits(timeout=300, memory_mb=4096))
    table = book.table.set_index("student")
    details = book.details.set_index(["student", "item"])
    assert table.loc["alice", "status"] == "ok", table.loc["alice", "message"]
    assert table.loc["alice", "exercise/open-features"] == 3, details.loc[("alice", "exercise/open-features"), "message"]
    assert "on the hidden split" in details.loc[("alice", "exercise/open-features"), "message"]
    assert table.loc["bob", "exercise/open-features"] == 0
    assert "NotImplementedError" in details.loc[("bob", "exercise/open-features"), "message"]
    manual = [c for c in table.columns if c.startswith("manual/answer-")]
    assert len(manual) == 1 and (table[manual[0]] == 0).all()  # the written answer waits for the marker
    assert "without --hidden-data" not in table.loc["alice", "flags"]
