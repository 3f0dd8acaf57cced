"""The package is built in layers: a module imports only from layers below its own, so there is
no import cycle and nothing runs upward; no module of the package is imported inside a function
(the old way of dodging a cycle). The layers are listed once, here and in ``tt_rnn/__init__.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tt_rnn

PACKAGE = Path(tt_rnn.__file__).resolve().parent

# bottom to top; ``rank`` stands for the sub-package tt_rnn.rank (checked for cycles on its own)
LAYERS = [
    ["tt", "runfiles", "cli", "stats"],
    ["networks", "rank", "data", "batches"],
    ["features", "initializers", "fixtures", "generalized", "regions", "teachers"],
    ["config"],
    ["experiments", "teacher_student"],
    ["train"],
    ["sweep", "rectifier_analysis", "final_report"],
    ["generalized_report", "search", "teacher_student_analysis"],
    ["tables"],
    ["plots", "notebooks", "demo", "teacher_student_plots"],
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported tt_rnn module, inside a function?)`` for every import of the file."""
    tree = ast.parse(path.read_text())
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    in_function = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for node in ast.walk(fn)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("tt_rnn.") and (PACKAGE.parent / (t.replace(".", "/") + ".py")).is_file() \
                    or (PACKAGE.parent / t.replace(".", "/") / "__init__.py").is_file() and t != "tt_rnn":
                found.append((t, id(node) in in_function))
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_has_a_layer():
    units = {_unit(_module_name(p)) for p in MODULES}
    assert units == set(LAYER), (units - set(LAYER), set(LAYER) - units)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_go_downward_and_never_inside_functions(path):
    me = _unit(_module_name(path))
    for target, inside in _imports(path):
        other = _unit(target)
        assert not inside, f"{_module_name(path)} imports {target} inside a function"
        if other != me:
            assert LAYER[other] < LAYER[me], f"{_module_name(path)} (layer {LAYER[me]}) imports {target} " \
                                             f"(layer {LAYER[other]})"


def test_the_rank_subpackage_has_no_cycle():
    graph = {}
    for path in (PACKAGE / "rank").glob("*.py"):
        graph[_module_name(path)] = {t for t, _ in _imports(path) if t.startswith("tt_rnn.rank.")}
    done, active = set(), []

    def visit(node):
        assert node not in active, "import cycle: " + " -> ".join(active[active.index(node):] + [node])
        if node in done:
            return
        active.append(node)
        for nxt in graph.get(node, ()):
            visit(nxt)
        active.pop()
        done.add(node)

    for node in graph:
        visit(node)


def test_the_package_docstring_lists_the_same_layers():
    doc = tt_rnn.__doc__
    for level, names in enumerate(LAYERS):
        line = next(line for line in doc.splitlines() if line.startswith(f"{level} "))
        assert all(name in line for name in names), (level, line)


def test_size_limits():
    """data.py stays at most 700 lines; train() at most 60 (set-up, loop, record)."""
    assert len((PACKAGE / "data.py").read_text().splitlines()) <= 700
    tree = ast.parse((PACKAGE / "train.py").read_text())
    train = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert train.end_lineno - train.lineno + 1 <= 60
