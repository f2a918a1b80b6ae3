"""``dflearn grade --artifacts DIR``: the models earlier notebooks saved reach every submission as
a copy, so a notebook that builds on 03's Personal CNN (04's open task) is graded with it instead
of a weak stand-in, and no submission can change the instructor's models."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dflearn.course import cli, grading

LOAD_CELL = ("import dflearn\n"
             "from dflearn import artifacts\n"
             "session = dflearn.setup(profile, notebook='04', seed=seed, tensorflow=False)\n"
             "dflearn.check('handed-over', artifacts.load_model(session, '03_personal_cnn') is not None)\n"
             "import shutil\n"
             "shutil.rmtree(session.artifacts, ignore_errors=True)  # a careless submission")


def tiny_notebook() -> nbformat.NotebookNode:
    params = nbformat.v4.new_code_cell('profile = ""\nseed = 42')
    params.metadata["tags"] = ["parameters"]
    return nbformat.v4.new_notebook(
        cells=[params, nbformat.v4.new_code_cell(LOAD_CELL)],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})


def saved_run(folder: Path) -> Path:
    """A run's artifacts folder with a tiny ``03_personal_cnn`` under the ci profile."""
    import keras

    from dflearn.artifacts import save_model
    from dflearn.course.config import get_profile
    from dflearn.course.session import Session

    models = folder / "artifacts" / "ci"
    models.mkdir(parents=True)
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    session = Session(get_profile("ci"), "03")
    with pytest.MonkeyPatch.context() as patch:  # the session's artifacts follow the variable
        patch.setenv("DFLEARN_ARTIFACTS", str(folder / "artifacts"))
        save_model(session, model, "03_personal_cnn", test_accuracy=0.9)
    return folder / "artifacts"


def test_artifacts_root_accepts_a_run_folder_or_a_profile_folder(tmp_path: Path) -> None:
    (tmp_path / "run" / "ci").mkdir(parents=True)
    (tmp_path / "run" / "ci" / "03_personal_cnn.keras").write_bytes(b"")
    assert grading.artifacts_root(tmp_path / "run", "ci") == str((tmp_path / "run" / "ci").resolve())
    assert grading.artifacts_root(tmp_path / "run" / "ci", "ci") == str((tmp_path / "run" / "ci").resolve())
    assert grading.artifacts_root(None, "ci") is None
    with pytest.raises(grading.GradingError, match=r"--artifacts: folder not found: .*nowhere\. Pass"):
        grading.artifacts_root(tmp_path / "nowhere", "ci")
    with pytest.raises(grading.GradingError, match=r"holds no saved models \(\.keras files\) for "
                                                   r"profile 'cpu'.*dflearn run --profile cpu"):
        grading.artifacts_root(tmp_path / "run", "cpu")


def test_grade_refuses_a_bad_artifacts_folder_before_running(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    solution = tmp_path / "04_tiny.ipynb"
    nbformat.write(tiny_notebook(), solution)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    assert cli.main(["grade", str(tmp_path / "subs"), "--notebook", "04", "--solution", str(solution),
                     "--profile", "ci", "--artifacts", str(tmp_path / "empty"),
                     "--out", str(tmp_path / "out")]) == 2
    assert "holds no saved models" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_submissions_get_a_copy_of_the_instructors_models(tmp_path: Path) -> None:
    run = saved_run(tmp_path / "run")
    solution = tmp_path / "solutions" / "04_tiny.ipynb"
    solution.parent.mkdir()
    nbformat.write(tiny_notebook(), solution)
    for student in ("alice", "bob"):
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(tiny_notebook(), tmp_path / "subs" / student / "04_tiny.ipynb")
    options = {"solution": solution, "profile": "ci", "workers": 1, "progress": False,
               "limits": grading.Limits(timeout=240, memory_mb=4096)}
    book = grading.grade(tmp_path / "subs", "04", out=tmp_path / "out", artifacts=run, **options)
    table = book.table.set_index("student")
    assert list(table["status"]) == ["ok", "ok"], book.outcomes[0].log
    assert list(table["exercise/handed-over"]) == [1, 1]  # bob's copy survived alice's rmtree
    assert (run / "ci" / "03_personal_cnn.keras").is_file()
    plain = grading.grade(tmp_path / "subs", "04", out=tmp_path / "out-plain", **options)
    assert list(plain.table["exercise/handed-over"]) == [0, 0]
