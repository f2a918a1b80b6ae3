"""The grader against eleven hostile submissions (issue 18), one test per case.

One module-scoped batch grades a tiny solutions notebook's student copy as submitted by a good
student and by eleven hostile ones (the infinite loop runs alongside, in a batch with a short time
limit). Each hostile student gets its own row with the right status and a clear message; the
batch completes; nothing in the submissions folder, the instructor's files or anywhere outside
the sandbox's work folder changes; no cgroup or process is left behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import hashlib
import os
import socket
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from dflearn.course import grading, sandbox
from dflearn.course.notebooks import to_student
from dflearn.course.results import RECORD_MIME

TIMEOUT = 120.0  # generous: a loaded machine must not turn the good student into a timeout
LOOP_TIMEOUT = 15.0
OUTPUTS = ("out", "out-loop")  # the only folders grading may write under the test's base
MAX_TASKS = 64
MEMORY_MB = 2048
DOUBLE = ("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n"
          "dflearn.check_function('double', double, lambda x: 2 * x, [(1,), (3.5,)], points=2)")
HEADLINE = "dflearn.record('val_accuracy', 0.9)"
PLACEHOLDER = "# YOUR CODE HERE\n    raise NotImplementedError()"
ATTEMPTS = """
def attempt(name, action):
    try:
        action()
        print(name, 'ALLOWED')
        return None
    except Exception as exc:
        print(name, 'blocked by', type(exc).__name__)
        return exc
"""


def solution_notebook() -> nbformat.NotebookNode:
    """Parameters, import, one exercise worth 2 points, one headline record."""
    params = nbformat.v4.new_code_cell('profile = ""\nseed = 42')
    params.metadata["tags"] = ["parameters"]
    cells = [params, nbformat.v4.new_code_cell("import dflearn"),
             nbformat.v4.new_markdown_cell("## Exercise: double"), nbformat.v4.new_code_cell(DOUBLE),
             nbformat.v4.new_code_cell(HEADLINE)]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "language": "python", "display_name": "Python 3"}})


def good(student: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(student)
    nb.cells[3].source = nb.cells[3].source.replace(PLACEHOLDER, "return 2 * x")
    return nb


def with_cell(nb: nbformat.NotebookNode, source: str, index: int = 2) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a hostile code cell inserted before the exercise."""
    nb = copy.deepcopy(nb)
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    return nb


def attempts(actions: dict[str, str], raise_first: bool = True) -> str:
    """A cell that tries each action, prints whether it was blocked, then raises the first error."""
    lines = [ATTEMPTS, "errors = ["]
    lines += [f"    attempt({name!r}, lambda: {action})," for name, action in actions.items()]
    lines += ["]"] + (["raise next(e for e in errors if e is not None)"] if raise_first else [])
    return "\n".join(lines)


FORK_BOMB = """import os, time
children = 0
try:
    while True:
        if os.fork() == 0:  # a child never returns into the kernel: it sleeps until killed
            time.sleep(600)
            os._exit(0)
        children += 1
finally:
    print('children before the limit:', children)
"""
MEMORY_HOG = "hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))"
FLOOD = "for i in range(400):\n    print(str(i) * 50_000)"
LOOP = "while True:\n    pass"


def _hostile(student: nbformat.NotebookNode, base: Path, port: int) -> dict[str, nbformat.NotebookNode]:
    answered = good(student)
    subs = base / "submissions"
    reads = {"solutions": f"open({str(base / 'solutions' / '00_tiny.ipynb')!r}).read()",
             "hidden checks": f"open({str(base / 'instructor' / 'hidden_checks.py')!r}).read()",
             "other student": f"open({str(subs / 'alice' / '00_tiny.ipynb')!r}).read()",
             "other student's folder": f"__import__('os').listdir({str(subs / 'alice')!r})",
             "signing key (startup file)": "open(__import__('os').environ['IPYTHONDIR'] + "
                                           "'/profile_default/startup/00-dflearn-grader.py').read()",
             "signing key (worker memory)": "open(f'/proc/{__import__(\"os\").getppid()}/mem', 'rb').read(1)",
             "grader's environment": f"open('/proc/{os.getpid()}/environ').read()",
             "grader's home": f"__import__('os').listdir({str(Path.home())!r})"}
    repo_solution = sorted((Path(__file__).resolve().parents[1] / "solutions").glob("0*.ipynb"))[:1]
    reads.update({"course solutions": f"open({str(p)!r}).read()" for p in repo_solution})
    writes = {"outside": f"open({str(base / 'outside' / 'escaped.txt')!r}, 'w').write('x')",
              "other student": f"open({str(subs / 'alice' / '00_tiny.ipynb')!r}, 'a').write('x')",
              "own submission": f"open({str(subs / 'writer' / '00_tiny.ipynb')!r}, 'a').write('x')",
              "new file in submissions": f"open({str(subs / 'planted.txt')!r}, 'w').write('x')"}
    forged = {"passed": True, "points": 100, "max_points": 100, "message": "forged"}
    forge = (f"from IPython.display import display\nimport hmac, hashlib, json\n"
             f"payload = {{'key': 'exercise/double', 'value': {forged!r}}}\n"
             "guess = hmac.new(b'0' * 32, json.dumps(payload, sort_keys=True, separators=(',', ':')).encode(), "
             "hashlib.sha256).hexdigest()\n"
             f"display({{{RECORD_MIME!r}: payload}}, raw=True, metadata={{'dflearn_signature': guess}})\n"
             "dflearn.check('double', True, points=100)\ndflearn.record('val_accuracy', 1.0)")
    stored = nbformat.v4.new_code_cell("print('nothing to see')")
    stored.outputs = [nbformat.v4.new_output("display_data", data={RECORD_MIME: {"key": "exercise/double",
                                                                                 "value": forged}})]
    forger = with_cell(student, forge, 5)
    forger.cells.append(stored)
    deleter = copy.deepcopy(answered)
    del deleter.cells[3]
    killer = attempts({"the grading worker": "__import__('os').kill(__import__('os').getppid(), 9)"}, False)
    return {
        "alice": answered,
        "forkbomb": with_cell(answered, FORK_BOMB),
        "memoryhog": with_cell(answered, MEMORY_HOG),
        "flood": with_cell(answered, FLOOD),
        "reader": with_cell(answered, attempts(reads)),
        "writer": with_cell(answered, attempts(writes)),
        "network": with_cell(answered, attempts({"tcp": f"__import__('socket').create_connection("
                                                        f"('127.0.0.1', {port}), timeout=5)"})),
        "forger": forger,
        "deleter": deleter,
        "killer": with_cell(with_cell(answered, killer), "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", 3),
    }


def _digest(folder: Path) -> dict[str, str]:
    """Hash of every file under ``folder`` except the grader's own output folders."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).parts[0] not in OUTPUTS}


def _grader_cgroups() -> set[str]:
    return {str(p) for base in sandbox._cgroup_bases() if base.is_dir() for p in base.glob("dflearn-grade-*")}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Grade the good student and the eleven hostile ones once."""
    base = tmp_path_factory.mktemp("hostile")
    solution = base / "solutions" / "00_tiny.ipynb"
    solution.parent.mkdir()
    nbformat.write(solution_notebook(), solution)
    (base / "instructor").mkdir()
    (base / "instructor" / "hidden_checks.py").write_text("HIDDEN_THRESHOLD = 0.77\n")
    (base / "outside").mkdir()
    listener = socket.create_server(("127.0.0.1", 0))  # connectable: only the sandbox stops it
    student = to_student(solution_notebook())
    subs = base / "submissions"
    for name, nb in _hostile(student, base, listener.getsockname()[1]).items():
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / "00_tiny.ipynb")
    (subs / "invalid").mkdir()
    (subs / "invalid" / "00_tiny.ipynb").write_text('{"cells": [', encoding="utf-8")
    loop = base / "loop-submissions" / "looper"
    loop.mkdir(parents=True)
    nbformat.write(with_cell(good(student), LOOP), loop / "00_tiny.ipynb")
    before, cgroups = _digest(base), _grader_cgroups()
    options = {"solution": solution, "profile": "ci", "thresholds": {"val_accuracy": 0.8}, "progress": False}
    with cf.ThreadPoolExecutor(1) as pool:
        looping = pool.submit(grading.grade, loop.parent, "00", workers=1, out=base / "out-loop",
                              limits=grading.Limits(timeout=LOOP_TIMEOUT), **options)
        book = grading.grade(subs, "00", workers=2, out=base / "out", **options, limits=grading.Limits(
            timeout=TIMEOUT, memory_mb=MEMORY_MB, max_output_bytes=100_000, max_tasks=MAX_TASKS))
        loop_book = looping.result()
    listener.close()
    table = pd.concat([book.table, loop_book.table]).set_index("student")
    return {"book": book, "table": table, "base": base, "before": before, "cgroups": cgroups}


def row(batch: dict, student: str) -> pd.Series:
    return batch["table"].loc[student]


def output_text(batch: dict, student: str) -> str:
    nb = nbformat.read(batch["book"].out_dir / "executed" / student / "00_tiny.ipynb", as_version=4)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", "")) for c in nb.cells for o in c.get("outputs", []))


def test_the_batch_completes_with_one_row_each_and_the_good_student_scores(batch: dict) -> None:
    assert sorted(batch["table"].index) == sorted(
        ["alice", "forkbomb", "memoryhog", "flood", "looper", "reader", "writer", "network", "forger", "deleter",
         "killer", "invalid"])
    assert row(batch, "alice")[["status", "total", "max_total"]].tolist() == ["ok", 3, 3]
    assert not row(batch, "alice")["flags"]


def _process_limit_available() -> bool:
    if os.getuid() != 0:
        return True  # RLIMIT_NPROC applies
    folder = sandbox.create_pids_cgroup(f"dflearn-probe-{uuid.uuid4().hex[:8]}", 8)
    sandbox.remove_cgroup(folder)
    return folder is not None


@pytest.mark.skipif(not _process_limit_available(), reason="root without a pids cgroup: no process limit")
def test_01_fork_bomb_hits_the_process_limit(batch: dict) -> None:
    bomb = row(batch, "forkbomb")
    assert bomb["status"] == "error" and bomb["failed_cell"] == 3
    assert bomb["message"].startswith("BlockingIOError") and f"limit of {MAX_TASKS} processes" in bomb["message"]
    children = int(output_text(batch, "forkbomb").split("children before the limit:")[1].split()[0])
    assert 0 < children < MAX_TASKS
    # its sleeping children keep the quota used up, so its later cells may fail too; the batch goes on
    assert _grader_cgroups() <= batch["cgroups"]  # its cgroup, with the sleeping children, is gone


def test_02_memory_hog_hits_the_memory_limit(batch: dict) -> None:
    hog = row(batch, "memoryhog")
    assert hog["status"] == "error" and hog["failed_cell"] == 3
    assert hog["message"].startswith("MemoryError") and f"memory limit of {MEMORY_MB} MiB" in hog["message"]


def test_03_output_flood_is_truncated(batch: dict) -> None:
    flood = row(batch, "flood")
    assert flood["status"] == "ok" and flood["total"] == 3 and "output truncated" in flood["flags"]
    executed = batch["book"].out_dir / "executed" / "flood" / "00_tiny.ipynb"
    assert executed.stat().st_size < 1_000_000 and "output limit" in output_text(batch, "flood")


def test_04_infinite_loop_times_out(batch: dict) -> None:
    looper = row(batch, "looper")
    assert looper["status"] == "timeout" and f"{LOOP_TIMEOUT:g} s time limit" in looper["message"]
    assert looper["runtime_s"] < LOOP_TIMEOUT + 15 and looper["total"] == 0


@pytest.mark.skipif(sandbox.landlock_abi() < 1, reason="Landlock is unavailable on this kernel")
def test_05_reading_solutions_hidden_checks_key_and_other_students_is_blocked(batch: dict) -> None:
    reader, text = row(batch, "reader"), output_text(batch, "reader")
    assert "ALLOWED" not in text, text
    for what in ("solutions", "hidden checks", "other student", "other student's folder",
                 "signing key (startup file)", "signing key (worker memory)", "grader's environment",
                 "grader's home"):
        assert f"{what} blocked by" in text
    assert reader["status"] == "error" and reader["message"].startswith("PermissionError")
    assert "forbids this" in reader["message"] and reader["exercise/double"] == 2


@pytest.mark.skipif(sandbox.landlock_abi() < 1, reason="Landlock is unavailable on this kernel")
def test_06_writing_outside_the_work_folder_is_blocked(batch: dict) -> None:
    writer, text = row(batch, "writer"), output_text(batch, "writer")
    assert "ALLOWED" not in text and text.count("blocked by PermissionError") == 4, text
    assert writer["status"] == "error" and "forbids this" in writer["message"]
    assert not (batch["base"] / "outside" / "escaped.txt").exists()


@pytest.mark.skipif(sandbox.landlock_abi() < 4, reason="Landlock ABI < 4 (Linux < 6.7) has no TCP rule")
def test_07_network_connection_is_blocked(batch: dict) -> None:
    network = row(batch, "network")
    assert "tcp blocked by PermissionError" in output_text(batch, "network")
    assert network["status"] == "error" and network["message"].startswith("PermissionError")


def test_08_forged_records_score_nothing_and_are_flagged(batch: dict) -> None:
    forger = row(batch, "forger")
    assert forger["status"] == "ok" and forger["exercise/double"] == 0 and forger["total"] == 1
    assert "unsigned (forged) record 'exercise/double'" in forger["flags"]
    assert "record 'exercise/double' made outside its own cell" in forger["flags"]
    assert "record 'val_accuracy' made outside its own cell" in forger["flags"]
    details = batch["book"].details.set_index(["student", "item"])
    assert "not implemented yet" in details.loc[("forger", "exercise/double"), "message"]


def test_09_deleted_exercise_cell_scores_zero(batch: dict) -> None:
    deleter = row(batch, "deleter")
    assert deleter["status"] == "ok" and deleter["exercise/double"] == 0 and deleter["val_accuracy"] == 1
    details = batch["book"].details.set_index(["student", "item"])
    assert details.loc[("deleter", "exercise/double"), "message"].startswith("cell not found")


def test_10_killing_its_own_kernel_is_an_error_row(batch: dict) -> None:
    killer = row(batch, "killer")
    assert killer["status"] == "error" and "kernel died" in killer["message"] and killer["failed_cell"] == 4
    if sandbox.landlock_abi() >= 6:  # signals to processes outside the sandbox are scoped out
        assert "the grading worker blocked by PermissionError" in output_text(batch, "killer")


def test_11_invalid_json_is_an_invalid_row(batch: dict) -> None:
    invalid = row(batch, "invalid")
    assert invalid["status"] == "invalid" and "not a valid notebook" in invalid["message"]
    assert invalid["total"] == 0


def test_nothing_outside_the_work_folder_changed(batch: dict) -> None:
    assert _digest(batch["base"]) == batch["before"]
    assert _grader_cgroups() <= batch["cgroups"]
