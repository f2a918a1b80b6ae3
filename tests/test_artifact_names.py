"""Every model name a notebook loads is saved by some notebook (a misspelt name such as
``05_best_grid`` would silently fall back to a stand-in or be skipped). Checked on the
solutions' code cells with ``ast``, so nothing is executed."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Iterable, Mapping

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
PACKAGE = ROOT / "dflearn"

# call name -> index of the positional argument that names a model (or, for pick_saved, a
# name prefix), and its keyword
LOADERS = {"load_model": (1, "name"), "load_or_train": (1, "name"), "stand_in": (0, "name"),
           "pick_saved": (1, "prefix")}
SAVERS = {"save_model": (2, "name")}


def notebook_code(path: Path) -> str:
    """The code cells of a notebook joined into one module (IPython magics dropped)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            lines.extend(line for line in source.splitlines()
                         if not line.lstrip().startswith(("%", "!")))
    return "\n".join(lines)


def module_constant(module: str, name: str) -> str | None:
    """The string constant ``name`` assigned at the top of ``dflearn/<module>.py``."""
    path = PACKAGE / f"{module}.py"
    if not path.exists():
        return None
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value.value if isinstance(node.value.value, str) else None
    return None


class Resolver:
    """The strings an expression of one notebook can hold, for the simple cases the course
    uses: literals, ``module.CONSTANT`` of a dflearn module, names bound to literals or to
    ``a or b``, and loop variables over the keys / values / items of a literal dict."""

    def __init__(self, tree: ast.Module):
        self.assigned: dict[str, list[ast.expr]] = {}
        self.loops: list[ast.For] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.For):
                self.loops.append(node)

    def strings(self, node: ast.expr | None, depth: int = 0) -> set[str]:
        if node is None or depth > 5:
            return set()
        if isinstance(node, ast.Constant):
            return {node.value} if isinstance(node.value, str) else set()
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            value = module_constant(node.value.id, node.attr)
            return {value} if value else set()
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.strings(v, depth + 1) for v in node.values))
        if isinstance(node, ast.IfExp):
            return self.strings(node.body, depth + 1) | self.strings(node.orelse, depth + 1)
        if isinstance(node, ast.Name):
            found = set().union(*(self.strings(v, depth + 1)
                                  for v in self.assigned.get(node.id, [])))
            return found | self._loop_strings(node.id, depth)
        return set()

    def _dict(self, node: ast.expr, depth: int) -> ast.Dict | None:
        if isinstance(node, ast.Dict):
            return node
        if isinstance(node, ast.Name) and depth < 5:
            for value in self.assigned.get(node.id, []):
                found = self._dict(value, depth + 1)
                if found is not None:
                    return found
        return None

    def _loop_strings(self, name: str, depth: int) -> set[str]:
        """``for k, v in D.items()``, ``for k in D`` / ``D.keys()``, ``for v in D.values()``."""
        found: set[str] = set()
        for loop in self.loops:
            it, method = loop.iter, None
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute):
                it, method = it.func.value, it.func.attr
            mapping = self._dict(it, depth + 1)
            if mapping is None:
                continue
            keys = [k for k in mapping.keys if k is not None]
            target = loop.target
            if isinstance(target, ast.Name) and target.id == name:
                chosen = mapping.values if method == "values" else keys
            elif method == "items" and isinstance(target, ast.Tuple) and len(target.elts) == 2:
                ids = [e.id if isinstance(e, ast.Name) else None for e in target.elts]
                if name not in ids:
                    continue
                chosen = keys if ids.index(name) == 0 else mapping.values
            else:
                continue
            found |= set().union(*(self.strings(v, depth + 1) for v in chosen))
        return found


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if len(call.args) > index else None


def _saves(call: ast.Call) -> bool:
    """``load_or_train`` saves what it trains unless ``save=False``."""
    for kw in call.keywords:
        if kw.arg == "save":
            return not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
    return True


def artifact_names(source: str) -> dict[str, set[str]]:
    """``{"loaded": ..., "prefixes": ..., "saved": ...}``: the model names one notebook's code
    loads, the prefixes it picks saved models by, and the names it saves."""
    tree = ast.parse(source)
    resolve = Resolver(tree)
    out: dict[str, set[str]] = {"loaded": set(), "prefixes": set(), "saved": set()}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name in LOADERS:
            strings = resolve.strings(_argument(node, *LOADERS[name]))
            out["prefixes" if name == "pick_saved" else "loaded"] |= strings
            if name == "load_or_train" and _saves(node):
                out["saved"] |= strings
        elif name in SAVERS:
            out["saved"] |= resolve.strings(_argument(node, *SAVERS[name]))
    return out


def missing_artifacts(sources: Mapping[str, str]) -> dict[str, list[str]]:
    """``{name or prefix: [notebooks]}`` for every loaded name no notebook saves, and every
    ``pick_saved`` prefix no saved name starts with."""
    found = {nb: artifact_names(code) for nb, code in sources.items()}
    saved = set().union(*(f["saved"] for f in found.values()))
    missing: dict[str, list[str]] = {}
    for nb, names in found.items():
        for name in names["loaded"] - saved:
            missing.setdefault(name, []).append(nb)
        for prefix in names["prefixes"]:
            if not any(s.startswith(prefix) for s in saved):
                missing.setdefault(f"{prefix}*", []).append(nb)
    return missing


def solution_sources(paths: Iterable[Path] | None = None) -> dict[str, str]:
    return {p.stem: notebook_code(p) for p in paths or sorted(SOLUTIONS.glob("*.ipynb"))}


def test_every_loaded_model_is_saved_by_some_notebook() -> None:
    sources = solution_sources()
    names = {nb: artifact_names(code) for nb, code in sources.items()}
    loaded = set().union(*(n["loaded"] for n in names.values()))
    # the resolver must see the names the course shares, however each notebook spells them
    assert {"03_personal_cnn", "05_grid_best", "08_baseline", "08_blur_jpeg",
            "04_personal_cnn_second"} <= loaded
    assert "05_grid_best" in names["05_age_classifier_grid"]["saved"]  # via grid.BEST_MODEL
    assert {"03_personal_cnn", "03_mobilenet_cnn", "03_faces_cnn"} <= names["03_cnns"]["saved"]
    assert missing_artifacts(sources) == {}


def test_a_misspelt_name_is_caught() -> None:
    sources = solution_sources()
    sources["bad"] = 'model = load_model(session, "05_best_grid")\n'
    assert missing_artifacts(sources) == {"05_best_grid": ["bad"]}


def test_resolver_follows_dicts_constants_and_save_flags() -> None:
    source = '''
from dflearn import grid
SAVED = {"a": "x_one", "b": "x_two"}
for label, saved in SAVED.items():
    load_model(session, saved)
for name in {"y_one": 1}:
    save_model(session, model, name)
load_or_train(session, grid.BEST_MODEL, train, save=False)
load_or_train(session, name="z_kept", train=train)
artifacts.pick_saved(session, "x_", prefer=("one",))
'''
    names = artifact_names(source)
    assert names["loaded"] == {"x_one", "x_two", "05_grid_best", "z_kept"}
    assert names["saved"] == {"y_one", "z_kept"}
    assert names["prefixes"] == {"x_"}
    assert missing_artifacts({"nb": source}) == {"x_one": ["nb"], "x_two": ["nb"],
                                                 "05_grid_best": ["nb"], "x_*": ["nb"]}
