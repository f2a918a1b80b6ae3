"""Markdown never states a result of ours: a percentage written in a notebook's markdown must be
a number one of the seeds reports (:mod:`dflearn.study`), as the seed prints it.

Numbers of ours come from code cells, so that a rerun on other data never leaves stale prose.
Round percentages without decimals that are multiples of 5 (data splits such as 80:10:10, "10%
of the training data", dropout rates) describe methods, not results, and are allowed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dflearn import study

ROOT = Path(__file__).resolve().parents[1]
PERCENT = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)\s?%")


def seed_percentages() -> set[str]:
    """Every reported value that is a fraction, as percentages at 0, 1 and 2 decimals, both
    rounded and cut off (the study's Fig. 3 caption cuts 0.9236667 to 92.36%)."""
    shown: set[str] = set()
    for number in study.REPORTED.values():
        if not 0 < number.value <= 1:
            continue
        percent = 100 * number.value
        for decimals in (0, 1, 2):
            shown.add(f"{percent:.{decimals}f}")
            cut = int(percent * 10 ** decimals) / 10 ** decimals
            shown.add(f"{cut:.{decimals}f}")
    return shown


def offending(text: str, allowed: set[str]) -> list[str]:
    """The percentages in ``text`` that are neither seed numbers nor round method numbers."""
    bad = []
    for match in PERCENT.finditer(text):
        value = match.group(1)
        if value in allowed or ("." not in value and int(value) % 5 == 0):
            continue
        bad.append(match.group(0))
    return bad


def test_the_checker_flags_a_result_of_ours_and_passes_seed_numbers() -> None:
    allowed = seed_percentages()
    assert offending("The study reports 96.96% and 81.12%; we split 80% / 10%.", allowed) == []
    assert offending("Our Personal CNN reached 97.5% here.", allowed) == ["97.5%"]


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_markdown_states_only_seed_percentages(path: Path) -> None:
    allowed = seed_percentages()
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    bad = {i: offending("".join(c["source"]), allowed)
           for i, c in enumerate(cells) if c["cell_type"] == "markdown"}
    bad = {i: found for i, found in bad.items() if found}
    assert not bad, (f"markdown cells state percentages that are not seed numbers from "
                     f"dflearn.study (print results from code cells instead): {bad}")
