#!/usr/bin/env python3
"""Rewrite imports of the old layout (issue 14, step 1) to the new one, in place.

Usage: rewrite_imports.py [--dry-run] FILE...   (Python files; other files get a text pass)

The old layout had top-level modules (config, models, database, logs, cli, scheduler) and
packages (domain, inbox_worker, web, migrations) straight on sys.path; the repository root
is now installed as the package `helpdesk`, and outgoing mail left inbox_worker/:

    inbox_worker.outbox   -> helpdesk.domain.outbox        (queuing a mail: build, queue, render)
    inbox_worker.notices  -> helpdesk.domain.notices       (who is told: notices_for)
    inbox_worker.notify   -> helpdesk.domain.notify        (Event, events_of, notify)
    inbox_worker.notify.compose -> helpdesk.outgoing.compose.compose
    inbox_worker.tokens   -> helpdesk.domain.tokens        (signed reply addresses)
    inbox_worker.owners   -> helpdesk.domain.owners        (lease owners)
    inbox_worker.sender   -> helpdesk.outgoing.sender
    inbox_worker.digests  -> helpdesk.outgoing.digest_mail (imported `as digests` where it was a module)
    inbox_worker.lookup.chunks -> helpdesk.domain.rows.chunks
    domain.contracts.active_tickets -> helpdesk.domain.access.active_tickets
    domain.health.checks, .Check -> helpdesk.checks.checks, .Check
    everything else X     -> helpdesk.X

What it rewrites in .py files: `import x`, `import x as y`, `import x.y`, `from x import y`,
`from x.y import z`, relative imports (`from . import tokens` in inbox_worker/ becomes
`from helpdesk.domain import tokens`; relative imports that still point into the file's own
package stay relative), and string literals that name a module: dotted names
("inbox_worker.sender.SmtpTransport.open" for monkeypatch, logger names), "module:attr"
("web:create_app()") and the module after "-m" (["python", "-m", "cli", ...]). Other files
(shell, .service, .md, .cfg) get the same for `-m module`, 'web:create_app()' and `cli:main`.

It prints a warning for what it cannot fix safely (e.g. `notify.compose` used as an
attribute after `from inbox_worker import notify`): look at those lines by hand.
A file's relative imports are read against where the file was in the old tree (a file now
at domain/notify.py is read as inbox_worker/notify.py).
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import sys

PACKAGE = "helpdesk"
TOP = ("cli", "config", "database", "logs", "models", "scheduler", "domain", "inbox_worker", "web", "migrations")
# old module -> new module (whole modules that moved; the rest just get the "helpdesk." prefix)
MOVED = {
    "inbox_worker.outbox": "helpdesk.domain.outbox",
    "inbox_worker.notices": "helpdesk.domain.notices",
    "inbox_worker.notify": "helpdesk.domain.notify",
    "inbox_worker.tokens": "helpdesk.domain.tokens",
    "inbox_worker.owners": "helpdesk.domain.owners",
    "inbox_worker.sender": "helpdesk.outgoing.sender",
    "inbox_worker.digests": "helpdesk.outgoing.digest_mail",
}
# (old module, name) -> new module of that name (names that left their module)
SYMBOLS = {
    ("inbox_worker.notify", "compose"): "helpdesk.outgoing.compose",
    ("inbox_worker.lookup", "chunks"): "helpdesk.domain.rows",
    ("domain.contracts", "active_tickets"): "helpdesk.domain.access",
    ("domain.health", "checks"): "helpdesk.checks",
    ("domain.health", "Check"): "helpdesk.checks",
}
# Step 2: names that changed (new module, old name) -> (new module, new name); imports of
# them become `from NEW import new_name as old_name`, so the code using them still runs.
RENAMES = {
    ("helpdesk.inbox_worker.route", "Quarantine"): ("helpdesk.inbox_worker.route", "QuarantineDecision"),
    ("helpdesk.scheduler", "Summary"): ("helpdesk.scheduler", "JobSummary"),
    ("helpdesk.domain.accounts", "_send"): ("helpdesk.domain.accounts", "send_mail"),
    ("helpdesk.domain.partners", "audit"): ("helpdesk.domain.audit", "record"),
    ("helpdesk.domain.conversation", "safe_filename"): ("helpdesk.domain.storage", "safe_filename"),
    ("helpdesk.inbox_worker.body", "safe_filename"): ("helpdesk.domain.storage", "safe_filename"),
}
# modules of the old tree (to tell `from pkg import module` from `from pkg import name`)
OLD_MODULES = set(TOP) | set(MOVED) | {
    f"domain.{m}" for m in "access accounts contract_csv contracts conversation demo digests health inserts levels "
    "links partner_access partners passwords pdfs ratelimit reports rows search storage tickets validation".split()
} | {
    f"inbox_worker.{m}" for m in "__main__ apply body claims classify commands decoding digests dsn fetch headers imap "
    "lookup message notices notify outbox owners parse pipeline reply route sender subjects thread tnef tokens".split()
} | {
    f"web.{m}" for m in "account admin auth contracts forms health i18n pages partners security server staff "
    "tickets".split()
}
# new file path (relative to the repository) -> old module: relative imports are read from there
NEW_PATH_OLD_MODULE = {new.removeprefix("helpdesk.").replace(".", "/") + ".py": old for old, new in MOVED.items()}
FILE_SUFFIXES = {"py", "txt", "html", "cfg", "md", "json", "log", "eml", "po", "mo", "css", "svg", "js", "service",
                 "conf", "env", "toml", "sh", "pid", "db", "sqlite"}
WIDTH = 120

warnings: list[str] = []


def is_old(module: str) -> bool:
    return module.split(".")[0] in TOP


def new_module(old: str) -> str:
    """The new name of an old module (or of a module inside an old package)."""
    parts = old.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head in MOVED:
            return ".".join([MOVED[head], *parts[i:]])
    return f"{PACKAGE}.{old}"


def new_dotted(old: str) -> str | None:
    """A dotted string naming a module, maybe with attributes after it ("x.y.Class.method")."""
    parts = old.split(".")
    if parts[0] not in TOP or not all(p.isidentifier() for p in parts) or parts[-1] in FILE_SUFFIXES:
        return None
    # the longest prefix that is a known module; the rest are attributes
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head in OLD_MODULES:
            rest = parts[i:]
            if rest and (head, rest[0]) in SYMBOLS:
                return ".".join([SYMBOLS[(head, rest[0])], *rest])
            return ".".join([new_module(head), *rest])
    return None


def old_module_of(path: str, root: str) -> tuple[str | None, bool]:
    """(the file's module in the old tree, whether it is a package's __init__)."""
    rel = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
    if rel in NEW_PATH_OLD_MODULE:
        return NEW_PATH_OLD_MODULE[rel], False
    if not rel.endswith(".py") or rel.startswith("../"):
        return None, False
    mod = rel[:-3].replace("/", ".")
    if mod.endswith(".__init__"):
        return mod[: -len(".__init__")], True
    return mod, False


def new_module_of_file(path: str, root: str) -> str | None:
    rel = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
    if not rel.endswith(".py") or rel.startswith("../"):
        return None
    mod = rel[:-3].replace("/", ".").removesuffix(".__init__")
    return f"{PACKAGE}.{mod}" if is_old(mod) or mod.split(".")[0] == "outgoing" else mod


def find_root(path: str) -> str:
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.exists(os.path.join(d, "setup.cfg")) or os.path.isdir(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return os.path.dirname(os.path.abspath(path))
        d = parent


def resolve_relative(level: int, module: str | None, file_old: str | None, is_init: bool) -> str | None:
    if file_old is None:
        return None
    parts = file_old.split(".")
    base = parts if is_init else parts[:-1]
    if level - 1 > len(base):
        return None
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])]) or None


def alias_text(name: str, asname: str | None) -> str:
    return f"{name} as {asname}" if asname and asname != name else name


def from_stmt(module: str, names: list[str], indent: str, multiline: bool) -> str:
    one = f"from {module} import {', '.join(names)}"
    if not multiline and len(indent) + len(one) <= WIDTH:
        return one
    inner = "".join(f"{indent}    {n},\n" for n in names)
    return f"from {module} import (\n{inner}{indent})"


def relative_form(target: str, file_new: str | None, is_init: bool) -> str | None:
    """`.x` when target is in the same package as the file (as the file wrote it), else None."""
    if not file_new:
        return None
    pkg = file_new if is_init else file_new.rpartition(".")[0]
    if target == pkg:
        return "."
    if target.startswith(pkg + ".") and "." not in target[len(pkg) + 1:]:
        return "." + target[len(pkg) + 1:]
    return None


def rewrite_import(node: ast.stmt, ctx: dict) -> list[tuple[str, list[str]]] | None:
    """[(module, [names])] of `from` statements (or ("", [import text])) replacing the node; None: unchanged."""
    if isinstance(node, ast.Import):
        if not any(is_old(a.name) for a in node.names):
            return None
        out: list[tuple[str, list[str]]] = []
        for a in node.names:
            if not is_old(a.name):
                out.append(("", [f"import {alias_text(a.name, a.asname)}"]))
                continue
            new = new_module(a.name)
            if a.asname or "." not in a.name:
                parent, _, last = new.rpartition(".")
                bound = a.asname or a.name
                out.append((parent, [alias_text(last, bound)]))
            else:  # import inbox_worker.pipeline: the code says inbox_worker.pipeline.x
                top = a.name.split(".")[0]
                if a.name in MOVED or any(a.name.startswith(m + ".") for m in MOVED):
                    warnings.append(f"{ctx['path']}:{node.lineno}: `import {a.name}` moved to {new}; "
                                    f"fix the uses of {a.name}.* by hand")
                out.append((PACKAGE, [top]))
                out.append(("", [f"import {new}"]))
        return out
    assert isinstance(node, ast.ImportFrom)
    relative = node.level > 0
    if relative:
        src_old = resolve_relative(node.level, node.module, ctx["old"], ctx["is_init"])
        src_cur = resolve_relative(node.level, node.module, ctx["cur"], ctx["is_init"])
        if src_old is None or src_cur is None:
            return None
    else:
        src_old = src_cur = node.module or ""
    if not (is_ours(src_old) or is_ours(src_cur)):
        return None
    groups: dict[str, list[str]] = {}
    order: list[str] = []

    def add(module: str, text: str) -> None:
        if module not in groups:
            groups[module] = []
            order.append(module)
        groups[module].append(text)

    for a in node.names:
        full_old = f"{src_old}.{a.name}"
        if a.name != "*" and full_old in OLD_MODULES:  # a module by name: `from inbox_worker import outbox`
            new = new_module(full_old)
            parent, _, last = new.rpartition(".")
            add(parent, alias_text(last, a.asname or a.name))
            bound = a.asname or a.name
            moved_names = [n for (m, n) in SYMBOLS if m == full_old and re.search(rf"\b{bound}\.{n}\b", ctx["text"])]
            if moved_names:
                warnings.append(f"{ctx['path']}:{node.lineno}: {full_old} lost {', '.join(moved_names)} "
                                f"(now in {', '.join(sorted({SYMBOLS[(full_old, n)] for n in moved_names}))}); "
                                f"check uses of {a.asname or a.name}.<name>")
            continue
        # a name from a module: the old tree's module if it was one, else where the file is now
        src = src_old if (not relative or (node.module is not None and src_old in OLD_MODULES)) else src_cur
        target = SYMBOLS.get((src, a.name)) or to_new(src)
        if (target, a.name) in RENAMES:
            target, new_name = RENAMES[(target, a.name)]
            add(target, alias_text(new_name, a.asname or a.name))
        else:
            add(target, alias_text(a.name, a.asname))
    out = []
    for module in order:
        rel = relative_form(module, ctx["new"], ctx["is_init"]) if relative else None
        out.append((rel or module, groups[module]))
    original = [("." * node.level + (node.module or ""), [alias_text(a.name, a.asname) for a in node.names])]
    return None if out == original else out


def is_ours(module: str) -> bool:
    return is_old(module) or module.split(".")[0] in (PACKAGE, "outgoing")


def to_new(module: str) -> str:
    if module.split(".")[0] == PACKAGE:
        return module
    if is_old(module):
        return new_module(module)
    if module.split(".")[0] == "outgoing":
        return f"{PACKAGE}.{module}"
    return module


def string_nodes(tree: ast.AST):
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    after_m = set()
    for node in ast.walk(tree):
        seqs = []
        if isinstance(node, (ast.List, ast.Tuple)):
            seqs.append(node.elts)
        elif isinstance(node, ast.Call):
            seqs.append(node.args)
        for seq in seqs:
            for prev, cur in zip(seq, seq[1:]):
                if isinstance(prev, ast.Constant) and prev.value == "-m" and isinstance(cur, ast.Constant):
                    after_m.add(id(cur))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node, id(node) in after_m


def new_string(value: str, after_m: bool) -> str | None:
    if after_m and value in OLD_MODULES:
        return new_module(value)
    m = re.fullmatch(r"([A-Za-z_][\w.]*):([A-Za-z_]\w*(?:\(.*\))?)", value)
    if m and m[1] in OLD_MODULES:
        return f"{new_module(m[1])}:{m[2]}"
    if "." in value:
        return new_dotted(value)
    return None


def offsets(text: str) -> list[int]:
    starts, pos = [0], 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def rewrite_python(path: str, text: str, root: str) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        warnings.append(f"{path}: not parsed ({exc.msg}, line {exc.lineno}); left alone")
        return text
    old, is_init = old_module_of(path, root)
    new_file = new_module_of_file(path, root)
    cur = new_file.removeprefix(f"{PACKAGE}.") if new_file else None
    ctx = {"path": path, "old": old or cur, "cur": cur, "is_init": is_init, "new": new_file, "text": text}
    starts = offsets(text)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out = rewrite_import(node, ctx)
            if out is None:
                continue
            start = starts[node.lineno - 1] + node.col_offset
            end = starts[node.end_lineno - 1] + node.end_col_offset
            line_start = starts[node.lineno - 1]
            indent = re.match(r"[ \t]*", text[line_start:start]).group()
            multiline = node.end_lineno > node.lineno
            pieces = []
            for module, names in out:
                if module == "":
                    pieces.extend(names)
                else:
                    pieces.append(from_stmt(module, names, indent, multiline and len(names) > 1))
            # merge `from X import a` pieces with the same module
            edits.append((start, end, ("\n" + indent).join(pieces)))
    for (module, name), (new_module_name, new_name) in RENAMES.items():
        for m in re.finditer(rf"\b{module.rsplit('.', 1)[1]}\.{name}\b", text):
            line = text.count("\n", 0, m.start()) + 1
            warnings.append(f"{path}:{line}: {m[0]} is now {new_module_name}.{new_name}; fix by hand")
    for node, after_m in string_nodes(tree):
        new = new_string(node.value, after_m)
        if new is None or new == node.value:
            continue
        start = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset
        segment = text[start:end]
        if len(segment) >= 2 and segment[0] in "'\"" and segment[-1] == segment[0] and segment[1:-1] == node.value:
            edits.append((start, end, segment[0] + new + segment[0]))
        else:
            warnings.append(f"{path}:{node.lineno}: string {node.value!r} names {new}; not a plain literal, fix by hand")
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def rewrite_text(text: str) -> str:
    def module_after_m(m: re.Match) -> str:
        return m[1] + new_module(m[2]) if m[2] in OLD_MODULES else m[0]

    text = re.sub(r"(-m\s+)([A-Za-z_][\w.]*)\b(?![\w.:])", module_after_m, text)
    text = re.sub(r"(?<![\w.])(web:create_app\(\)|cli:main)", lambda m: f"{PACKAGE}.{m[1]}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the files that would change, change nothing")
    parser.add_argument("--root", help="the repository (default: found from each file: the folder with setup.cfg)")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    changed = 0
    for path in args.files:
        if os.path.isdir(path):
            continue
        if not os.path.exists(path):
            warnings.append(f"{path}: no such file (moved? run it on the file's new place)")
            continue
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError:
            continue  # not text (a .mo catalogue, an image)
        root = args.root or find_root(path)
        new = rewrite_python(path, text, root) if path.endswith(".py") else rewrite_text(text)
        if new != text:
            changed += 1
            print(f"rewrote {path}" if not args.dry_run else f"would rewrite {path}")
            if not args.dry_run:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{changed} file(s) {'to change' if args.dry_run else 'changed'}; {len(warnings)} warning(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
