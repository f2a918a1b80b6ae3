"""record/read_records round-trips through an executed notebook; checks record exercises."""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from dflearn.course.checks import check_close, check_function
from dflearn.course import checks
from dflearn.course.results import RECORD_MIME, from_jsonable, read_records, to_jsonable


def test_to_jsonable_handles_numpy_pandas_and_nan() -> None:
    value = {"a": np.float32(0.5), "b": np.arange(3), "c": float("nan"), "d": (1, "x")}
    assert to_jsonable(value) == {"a": 0.5, "b": [0, 1, 2], "c": None, "d": [1, "x"]}
    table = pd.DataFrame({"acc": [0.9, 0.8]}, index=["m1", "m2"])
    back = from_jsonable(to_jsonable(table))
    pd.testing.assert_frame_equal(back, table)


def test_tables_with_named_and_multi_level_indexes_round_trip() -> None:
    index = pd.MultiIndex.from_tuples([("VGG16", "frozen"), ("VGG16", "fine-tuned")],
                                      names=["model", "phase"])
    table = pd.DataFrame({"weights": ["random init"] * 2, "accuracy": [0.5, 0.75]}, index=index)
    pd.testing.assert_frame_equal(from_jsonable(to_jsonable(table)), table)
    named = pd.DataFrame({"acc": [0.9]}, index=pd.Index(["m1"], name="model"))
    pd.testing.assert_frame_equal(from_jsonable(to_jsonable(named)), named)


def test_a_malformed_table_record_is_kept_raw_not_fatal(tmp_path) -> None:
    bad = {"__table__": True, "columns": ["a"], "index": [0, 1], "data": [[1, 2, 3]]}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[
        nbformat.v4.new_output("display_data", data={RECORD_MIME: {"key": "t", "value": bad}})])])
    assert read_records(nb) == {"t": bad}


def test_records_round_trip_through_executed_notebook(tmp_path) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import dflearn, pandas as pd\n"
                                  "dflearn.record('acc', 0.875)\n"
                                  "dflearn.record('table', pd.DataFrame({'x': [1, 2]}))\n"
                                  "dflearn.record('acc', 0.9)"),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    records = read_records(path)
    assert records["acc"] == 0.9  # the later record wins
    assert records["table"]["x"].tolist() == [1, 2]
    texts = [o["data"]["text/plain"] for o in nb.cells[0].outputs if RECORD_MIME in o.get("data", {})]
    assert texts[0] == "[recorded] acc = 0.8750"


@pytest.fixture
def session_records(monkeypatch: pytest.MonkeyPatch):
    """What the checks record, collected in a dict (outside IPython ``record`` shows nothing)."""
    records: dict = {}
    monkeypatch.setattr(checks, "record", lambda key, value, **_: records.__setitem__(key, value))
    return lambda: records


def test_checks_record_pass_and_fail(capsys: pytest.CaptureFixture, session_records) -> None:
    assert check_close("ex-a", [1.0, 2.0], np.array([1.0, 2.0]))
    assert not check_close("ex-b", [1.0, 2.5], [1.0, 2.0])
    assert not check_close("ex-c", [1.0], [1.0, 2.0])
    out = capsys.readouterr().out
    assert "[PASSED] exercise 'ex-a'" in out and "max abs difference 0.5" in out and "shape (1,)" in out
    rec = session_records()
    assert rec["exercise/ex-a"]["points"] == 1.0 and rec["exercise/ex-b"]["points"] == 0.0


def test_check_function_reports_student_exceptions(capsys: pytest.CaptureFixture,
                                                  session_records) -> None:
    def unfinished(x):
        raise NotImplementedError()

    def buggy(x):
        return x["missing"]

    assert not check_function("ex-d", unfinished, lambda x: x, [(1,)])
    assert not check_function("ex-e", buggy, lambda x: x, [({},)])
    assert check_function("ex-f", lambda x: x * 2, lambda x: x + x, [(np.arange(3),), (2.5,)])
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "KeyError" in out and "all 2 cases match" in out
    assert math.isclose(session_records()["exercise/ex-f"]["max_points"], 1.0)
