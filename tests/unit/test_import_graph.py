"""No import circles in bot/ or handlers/: every import counts, ``if TYPE_CHECKING:`` and function-local ones too
(a function-local import that dodges a circle is still a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules(*roots: str) -> dict[str, Path]:
    found = {}
    for root in roots:
        for path in (ROOT / root).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _nearest(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports; ``from pkg import mod`` counts as importing ``pkg.mod``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {m for alias in node.names if (m := _nearest(alias.name, known))}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                target = f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else _nearest(module, known)
                if target:
                    found.add(target)
    found.discard(name)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.get(step, ())))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def graph_of(*roots: str) -> dict[str, set[str]]:
    known = modules(*roots)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_no_import_circle_in_bot_or_handlers() -> None:
    found = circles(graph_of("bot", "handlers"))
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_circle_check_finds_a_circle_through_type_checking(tmp_path: Path) -> None:
    """Guard the guard: a circle closed only by a ``TYPE_CHECKING`` import, and one by a function-local import."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": set()}
    assert sorted(circles(graph)) == [["a", "b"], ["c", "d", "e"]]
    known = {"pkg": tmp_path / "pkg" / "__init__.py", "pkg.x": tmp_path / "x.py", "pkg.y": tmp_path / "y.py"}
    known["pkg.x"].write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.y import Y\n")
    known["pkg.y"].write_text("def f():\n    from pkg import x\n")
    assert imports_of("pkg.x", known["pkg.x"], known) == {"pkg.y"}
    assert imports_of("pkg.y", known["pkg.y"], known) == {"pkg.x"}
