"""The package's layers (see CONTRIBUTING.md): a shared core, one lesson module group per notebook
that imports only the core, and the course machinery in ``dflearn/course/``. Checked on the
source with ``ast``, so nothing is imported."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dflearn"

# Each notebook's lesson modules. A lesson module may import the core and its own group only.
LESSONS: dict[str, set[str]] = {
    "01": {"eda_plots", "widgets"},
    "02": {"classical"},
    "03": {"controls", "cnn_projects"},
    "04": {"transfer"},
    "05": {"grid"},
    "06": {"ensembles"},
    "07": {"saliency", "saliency_explorer"},
    "08": {"robustness"},
    "09": {"gan", "frechet"},
    "10": {"cross_generator", "frozen_probe", "jpeg_audit"},
}
CORE = {"__init__", "paths", "data", "sources", "splits", "duplicates", "images", "features",
        "stats", "layers", "models", "backbones", "training", "training_clock", "metrics", "calibration",
        "predict", "plots", "study", "artifacts", "fallback"}
LESSON_OF = {module: nb for nb, modules in LESSONS.items() for module in modules}


def module_name(path: Path) -> str:
    """``dflearn/course/grading.py`` -> ``course.grading``; ``dflearn/data.py`` -> ``data``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (imports for annotations only)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def dflearn_imports(source: str) -> set[str]:
    """The dflearn modules ``source`` imports anywhere (functions included, TYPE_CHECKING not),
    as names relative to the package: ``data``, ``course.config``..."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("dflearn."):
                found.add(name.removeprefix("dflearn."))
    known = {module_name(p) for p in PACKAGE.rglob("*.py")} | {"course"}
    return {name for name in found if name in known}


def package_graph() -> dict[str, set[str]]:
    return {module_name(path): dflearn_imports(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer() -> None:
    unknown = [m for m in package_graph() if not m.startswith("course")
               and m not in CORE and m not in LESSON_OF]
    assert not unknown, f"classify these modules as core or lesson in tests/test_architecture.py: {unknown}"


def test_lesson_modules_import_only_the_core_and_their_own_group() -> None:
    bad = {}
    for module, imports in package_graph().items():
        own = LESSONS.get(LESSON_OF.get(module, ""), set())
        foreign = sorted(i for i in imports if i in LESSON_OF and i not in own)
        if foreign:
            bad[module] = foreign
    assert not bad, f"modules importing another notebook's lesson module: {bad}"


def test_the_core_imports_neither_lessons_nor_the_course_layer() -> None:
    bad = {module: sorted(i for i in imports if i in LESSON_OF or i.startswith("course"))
           for module, imports in package_graph().items() if module in CORE}
    assert not {m: i for m, i in bad.items() if i}


def test_no_import_cycles() -> None:
    graph = package_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_lazy_imports_and_skips_type_checking() -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dflearn.grid import X\n"
              "def f():\n    from dflearn.transfer import two_phase\n    import dflearn.data\n")
    assert dflearn_imports(source) == {"transfer", "data"}


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_use_only_their_own_lesson_modules(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
    tree = ast.parse(source)
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "dflearn":
            used.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dflearn."):
            used.add(node.module.removeprefix("dflearn.").split(".")[0])
    own = LESSONS.get(path.stem[:2], set())
    assert not sorted(m for m in used if m in LESSON_OF and m not in own)
