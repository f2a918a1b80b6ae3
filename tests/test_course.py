"""Course map, profile tables, the environment report and the README/CI contract."""

from __future__ import annotations

import re
from pathlib import Path

from dflearn.course.cli import main
from dflearn.course.config import NOTEBOOKS
from dflearn.course.course_map import course_map, missing_notebooks, profiles_table

ROOT = Path(__file__).resolve().parents[1]


def test_course_map_lists_every_notebook() -> None:
    table = course_map()
    assert list(table.index) == list(NOTEBOOKS)
    assert table.loc["00", "notebook"] == "00_index.ipynb"
    assert "00_index.ipynb" not in missing_notebooks()


def test_profiles_table_shows_all_profiles() -> None:
    table = profiles_table("03")
    assert list(table.index) == ["ci", "cpu", "gpu", "paper"]
    assert table.loc["paper", "batch_size"] == 64 and table.loc["paper", "epochs"] == 10
    assert table.loc["ci", "weights"] is None or table.loc["ci", "weights"] in ("all", "None")


def test_env_command(capsys) -> None:
    assert main(["env", "--profile", "ci"]) == 0
    out = capsys.readouterr().out
    assert "keras" in out and "CPU cores" in out and "embedded practice set" in out


def test_readme_commands_and_ci_agree() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert any("pip install -r requirements.txt" in b and "dflearn run" in b for b in blocks)
    assert any(b.strip() == "pytest --nbval" for b in blocks)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pytest --nbval" in ci and "pip install -q -r requirements.txt" in ci


def test_requirements_are_pinned_and_cpu_only() -> None:
    lines = [l for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert all("==" in l for l in lines), [l for l in lines if "==" not in l]
    names = {l.split("==")[0].lower() for l in lines}
    assert "tensorflow-cpu" in names and "tensorflow" not in names
    assert not any("nvidia" in n or "cuda" in n for n in names)
