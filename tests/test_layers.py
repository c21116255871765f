"""The arrows run one way (issue 14): front ends over `domain/` over `models.py`.

Every import in the package's source, at the top of a module or inside a function, is
read with `ast` (nothing is imported). A lower layer importing a higher one fails, as
does an import cycle between modules, or a module imported by its old top-level name
(`import models` instead of `helpdesk.models`: two copies of the module at run time).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "helpdesk"
PACKAGES = ("domain", "inbox_worker", "migrations", "outgoing", "web")
OLD_TOP = ("cli", "config", "database", "logs", "models", "scheduler", "checks", *PACKAGES)

# The layers, lowest first. A module may import its own unit (its package, or itself)
# and anything in a lower layer; nothing in a higher layer, nor another unit of its own
# layer unless listed in SIDEWAYS.
LAYERS = {
    "models": 0, "config": 0, "database": 0, "logs": 0,  # the base: storage and settings
    "domain": 1,  # what every front end calls
    "inbox_worker": 2, "outgoing": 2, "web": 2, "scheduler": 2,  # the front ends
    "migrations": 2,  # run by `helpdesk init-db`; may seed data through domain/
    "cli": 3, "checks": 3,  # the command line, over every front end
}
ENTRY_POINTS = 4  # package/__main__.py: `python -m package` runs the CLI
SIDEWAYS = {
    ("database", "models"),  # opening the database binds the models' proxy
    ("web", "inbox_worker"),  # staff pages re-process a quarantined mail through the mail pipeline
    ("cli", "checks"),  # `helpdesk check`
}
# Single imports against the layers, each with its reason (module, imported module).
EXCEPTIONS = {
    # load_config checks HELPDESK_SLA_BUSINESS_HOURS with the (pure) calendar parser
    ("helpdesk.config", "helpdesk.domain.business_hours"),
}


def unit_of(module: str) -> str:
    """helpdesk.inbox_worker.fetch -> inbox_worker; helpdesk.models -> models."""
    return module.split(".")[1]


def layer_of(module: str) -> int:
    if module.endswith(".__main__"):
        return ENTRY_POINTS
    return LAYERS[unit_of(module)]


def modules_of(root: Path) -> dict[str, Path]:
    found = {f"{PACKAGE}.{p.stem}": p for p in root.glob("*.py")}
    for package in PACKAGES:
        for p in (root / package).rglob("*.py"):
            parts = p.relative_to(root).with_suffix("").parts
            name = ".".join((PACKAGE, *parts)).removesuffix(".__init__")
            found[name] = p
    return found


def imports_of(module: str, source: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the source; `from x import y` counts as
    x.y when that is a module of ours, else as x."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for a in node.names:
                full = f"{target}.{a.name}"
                out.append((full if full in known else target, node.lineno))
    return out


def problems(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Everything wrong with the imports of these modules ({name: (source, is package)})."""
    known = set(sources)
    found, graph = [], {}
    for module, (source, is_package) in sorted(sources.items()):
        graph[module] = set()
        for target, line in imports_of(module, source, is_package, known):
            top = target.split(".")[0]
            if top in OLD_TOP:
                found.append(f"{module}:{line} imports {target} by its old name: use {PACKAGE}.{target}")
                continue
            if top != PACKAGE or target == PACKAGE:
                continue
            if target not in known:
                found.append(f"{module}:{line} imports {target}, which is not a module of ours")
                continue
            if target != module:
                graph[module].add(target)
            mine, theirs = unit_of(module), unit_of(target)
            if (mine == theirs and not module.endswith(".__main__")) or (module, target) in EXCEPTIONS:
                continue
            if layer_of(target) > layer_of(module):
                found.append(f"{module}:{line} imports {target}, a higher layer")
            elif layer_of(target) == layer_of(module) and mine != theirs and (mine, theirs) not in SIDEWAYS:
                found.append(f"{module}:{line} imports {target}, a sibling of the same layer")
    found.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected set of modules (Tarjan), as a path back to its start."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                out.append(_path(graph, set(members)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _path(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    start = min(members)
    path, seen = [start], {start}
    while True:
        nxt = min(w for w in graph[path[-1]] if w in members)
        path.append(nxt)
        if nxt in seen:
            return path
        seen.add(nxt)


def test_lower_layers_never_import_higher_ones_and_nothing_imports_in_a_circle():
    sources = {name: (path.read_text(encoding="utf-8"), path.name == "__init__.py")
               for name, path in modules_of(ROOT).items()}
    assert "helpdesk.domain.outbox" in sources and "helpdesk.outgoing.sender" in sources
    assert problems(sources) == []


def test_the_check_finds_an_upward_import_a_sideways_one_a_cycle_and_an_old_name():
    sources = {
        "helpdesk.models": ("", False),
        "helpdesk.domain": ("", True),
        "helpdesk.domain.a": ("from . import b\n", False),
        "helpdesk.domain.b": ("def f():\n    from .a import x\n", False),
        "helpdesk.domain.c": ("from helpdesk.outgoing import sender\nimport models\n", False),
        "helpdesk.outgoing": ("", True),
        "helpdesk.outgoing.sender": ("from helpdesk.models import Outbox\nfrom helpdesk.web import forms\n", False),
        "helpdesk.web": ("", True),
        "helpdesk.web.forms": ("from helpdesk.domain import a\n", False),
    }
    assert sorted(problems(sources)) == sorted([
        "helpdesk.domain.c:1 imports helpdesk.outgoing.sender, a higher layer",
        "helpdesk.domain.c:2 imports models by its old name: use helpdesk.models",
        "helpdesk.outgoing.sender:2 imports helpdesk.web.forms, a sibling of the same layer",
        "import cycle: helpdesk.domain.a -> helpdesk.domain.b -> helpdesk.domain.a",
    ])
