"""The layer's dependencies point one way (handlers -> service -> engine -> domain/store -> the
cross-cutting bottom), with no import circle, and the layer holds nothing only developers run."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "shared" / "proxy_failover"
# What each part may import from the layer (itself always). The bottom is cross-cutting.
BOTTOM = {
    "errors",
    "ids",
    "identity",
    "paging",
    "settings",
    "observability",
    "clock",
    "etags",
    "http_answer",
    "kernel_timeouts",
}
ALLOWED = {
    "domain": set(),
    "checks": {"domain"},  # (and the bottom: settings, observability)
    "store": {"domain"},
    "notify": {"store"},
    "engine": {"domain", "store"},
    "api": {"domain", "store"},  # store and domain types in views' annotations only
    "service": {"domain", "store", "engine", "checks", "notify"},
    "sweep": {"domain", "store", "engine", "checks", "notify", "service"},
    "dispatch": {"domain", "store", "engine", "checks", "notify", "service", "sweep"},
    "remote": {"domain", "store", "engine", "checks", "notify", "service", "sweep"},
    **{name: set() for name in BOTTOM},
}
DEVELOPMENT_ONLY = {"pydantic", "local", "contract", "yaml", "moto", "pgserver", "pytest", "hypothesis"}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def _imports(path: Path) -> list[str]:
    """Absolute module names this file imports, anywhere in it (lazy imports count)."""
    module = "proxy_failover." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    module = module.removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            # `from x import y`: y is a module of x or a name in it (resolved to a module later)
            found.extend(f"{source}.{alias.name}" for alias in node.names)
    return found


def _modules() -> dict[str, list[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = "proxy_failover." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        graph[name.removesuffix(".__init__")] = _imports(path)
    return graph


def test_dependencies_point_one_way():
    wrong = []
    for module, imports in _modules().items():
        if module.count(".") == 0:
            continue
        part = _part(module)
        for target in imports:
            if not target.startswith("proxy_failover."):
                continue
            other = _part(target)
            if other != part and other not in ALLOWED[part] | BOTTOM:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_no_import_circle_between_modules():
    graph = {m: [t for t in ts if t.startswith("proxy_failover.")] for m, ts in _modules().items()}
    modules = set(graph)

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rsplit(".", 1)[0] if "." in target else ""
        return target or None

    edges = {
        m: {r for t in ts if (r := resolve(t)) and r != m and not m.startswith(r + ".")}
        for m, ts in graph.items()
    }
    # a package's __init__ importing its own modules is how packages work, not a circle
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                circles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not circles, circles


def test_the_layer_imports_nothing_only_developers_run():
    offending = [
        f"{module} -> {target}"
        for module, imports in _modules().items()
        for target in imports
        if target.split(".")[0] in DEVELOPMENT_ONLY
    ]
    assert not offending, offending
