"""The import structure of ``src/movierec``: layers, no cycles, no private names across modules.

Layers, lowest first; a module may import from its own layer or lower ones, never higher
(function-level imports count; ``if TYPE_CHECKING:`` imports do not). The doors (CLI,
Python API, HTTP API, Prefect flows, Spark) sit on top and all go through the same core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "movierec"

LAYERS: list[tuple[str, ...]] = [
    ("movierec", "movierec.errors", "movierec.config", "movierec.atomic", "movierec.runlog",
     "movierec.interrupt", "movierec.codeversion", "movierec.extras", "movierec.prefect_server",
     "movierec.threads", "movierec.defaults", "movierec.jsonable"),
    ("movierec.interactions",),
    ("movierec.data", "movierec.pipeline_config"),
    ("movierec.models", "movierec.testing"),
    ("movierec.explain",),
    ("movierec.topn", "movierec.evaluation", "movierec.training", "movierec.tracking"),
    ("movierec.store",),
    ("movierec.engines",),
    ("movierec.steps", "movierec.retrain"),
    ("movierec.spark",),
    ("movierec.flows", "movierec.api", "movierec.library", "movierec.prefect_server"),
    ("movierec.cli",),
    ("movierec.__main__",),
]  # fmt: skip
"""Lowest first (see the module docstring); a package stands for all its modules."""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("movierec", exclude_type_checking_imports=True)


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the most specific entry containing ``module``."""
    best, depth = -1, -1
    for i, layer in enumerate(LAYERS):
        for entry in layer:
            inside = module == entry or module.startswith(entry + ".")
            if inside and entry != "movierec" and entry.count(".") > depth:
                best, depth = i, entry.count(".")
    if best < 0 and module == "movierec":
        return 0
    return best


def test_every_module_has_a_layer(graph: grimp.ImportGraph) -> None:
    assert [m for m in sorted(graph.modules) if layer_of(m) < 0] == []


def test_no_module_imports_a_higher_layer(graph: grimp.ImportGraph) -> None:
    bad = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if layer_of(imported) > layer_of(importer):
                bad.append(f"{importer} -> {imported}")
    assert bad == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for m in ("p.a", "p.b", "p.c"):
        g.add_module(m)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.a")
    g.add_import(importer="p.b", imported="p.c")
    assert _cycles(g) == [["p.a", "p.b"]]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_no_private_name_is_imported_from_another_module() -> None:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        here = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if not node.module.startswith("movierec") or node.module == here:
                continue
            last = node.module.rsplit(".", 1)[-1]
            names = [a.name for a in node.names]
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if last.startswith("_") and last != "__init__":
                private.append(node.module)
            bad += [f"{here}: {node.module}.{n}" for n in private]
    assert bad == []
