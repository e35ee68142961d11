"""The layer rules of docs/architecture.md, checked on the source with ``ast``.

Only imports executed when a module is imported count (module level, including ``if``/``try``
blocks there); imports inside functions are the sanctioned way to reach upward lazily
(``Application.listen`` importing ``httpserver``, for example).
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "squall"

LEAVES = {
    "squall._types",
    "squall._util",
    "squall._malloc",
    "squall._compiled",
    "squall.escape",
    "squall.log",
    "squall._streams.errors",
    "squall.util",
}

# module pattern -> squall modules it may import at module level (fnmatch patterns).
ALLOWED: dict[str, set[str]] = {
    "squall._types": set(),
    "squall._util": set(),
    "squall._malloc": set(),
    "squall._compiled": set(),
    "squall._delegates": set(),
    "squall.escape": set(),
    "squall.log": set(),
    "squall.util": set(),
    "squall._loop": {"squall.log"},
    "squall._stack_context": {"squall.log"},
    "squall._forms": LEAVES,
    "squall.httputil": LEAVES | {"squall._forms", "squall._delegates"},
    "squall._net": {"squall.log"},
    "squall._http1*": LEAVES | {"squall.httputil", "squall._http1*"},
    "squall._server": LEAVES | {"squall.httputil", "squall._http1*", "squall._net"},
    "squall._ws*": LEAVES | {"squall._ws*"},
    # Only the WebSocket handler may reach the WebSocket protocol.
    "squall._web.websocket": LEAVES
    | {"squall.httputil", "squall._forms", "squall._web*", "squall._stack_context", "squall._ws*"},
    "squall._web*": LEAVES
    | {"squall.httputil", "squall._forms", "squall._web*", "squall._stack_context"},
    "squall._observe*": LEAVES | {"squall.httputil", "squall._observe*"},
    "squall._supervisor*": {"squall.log", "squall._supervisor*", "squall._loop"},
    "squall.ioloop": LEAVES | {"squall._loop", "squall._stack_context"},
    "squall.gen": LEAVES
    | {"squall._loop", "squall._stack_context", "squall.ioloop", "squall.concurrent"},
    "squall.concurrent": LEAVES | {"squall._loop", "squall._stack_context", "squall.ioloop"},
    "squall.options": LEAVES,
    "squall.locks": LEAVES
    | {"squall._loop", "squall._stack_context", "squall.ioloop", "squall.concurrent"},
    "squall.queues": LEAVES
    | {
        "squall._loop",
        "squall._stack_context",
        "squall.ioloop",
        "squall.concurrent",
        "squall.locks",
    },
    "squall.platform*": LEAVES
    | {"squall._loop", "squall._stack_context", "squall.ioloop", "squall.concurrent", "squall.gen"},
    "squall.wsgi": LEAVES
    | {
        "squall.httputil",
        "squall._forms",
        "squall._delegates",
        "squall.ioloop",
        "squall.concurrent",
    }
    | {"squall._loop", "squall._stack_context"},
    "squall.autoreload": LEAVES | {"squall._loop", "squall.ioloop"},
    "squall.websocket": {"squall._web*", "squall._ws*", "squall.httputil", "squall.log"},
    # The stream layer (Tornado's iostream, tcpclient, resolvers) sits above the IOLoop, as in
    # Tornado; its exceptions and write buffer are leaves any layer may use.
    "squall._streams.errors": set(),
    "squall._streams.buffer": set(),
    "squall._streams.pollguard": set(),
    "squall._streams*": LEAVES
    | {"squall._streams*", "squall._net", "squall._loop", "squall.ioloop", "squall.concurrent"},
    # squall.auth's implementation sits on top, beside httpclient: handlers and the client.
    "squall._auth*": LEAVES
    | {"squall._auth*", "squall.httputil", "squall.httpclient", "squall.web"},
    # Templates and locale stand alone: the web layer uses them, never the other way.
    "squall._template*": LEAVES | {"squall._template*"},
    "squall.template": LEAVES | {"squall._template*"},
    "squall._locale_data": set(),
    "squall.locale": LEAVES | {"squall._locale_data"},
}

# The public facades may use the core and each other; testing and the CLI sit on top.
TOP = {
    "squall",
    "squall.web",
    "squall.httpserver",
    "squall.netutil",
    "squall.iostream",
    "squall.tcpserver",
    "squall.tcpclient",
    "squall.process",
    "squall.websocket",
    "squall.testing",
    "squall.httpclient",
    "squall.auth",
    "squall.pytest_plugin",
    "squall.cli",
    "squall.__main__",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module, module: str) -> set[str]:
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.rsplit(".", node.level)[0]
                    name = f"{base}.{node.module}" if node.module else base
                else:
                    name = node.module or ""
                found.add(name)
                if name == "squall":  # from squall import gen -> squall.gen
                    found.update(f"squall.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                test = node.test
                if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                    continue  # typing-only imports never run
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return {name for name in found if name == "squall" or name.startswith("squall.")}


MODULES = sorted(ROOT.rglob("*.py"))


def _rule(module: str) -> set[str] | None:
    for pattern, allowed in ALLOWED.items():
        if fnmatch.fnmatch(module, pattern):
            return allowed
    return None


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_module_imports_follow_the_layer_rules(path: Path) -> None:
    module = _module_name(path)
    if module in TOP:
        return
    allowed = _rule(module)
    assert allowed is not None, (
        f"{module} has no layer rule: add it to docs/architecture.md and tests/test_layers.py"
    )
    imports = _top_level_imports(ast.parse(path.read_text(encoding="utf-8")), module)
    bad = sorted(
        name
        for name in imports
        if name != module
        and name != "squall"
        and not any(fnmatch.fnmatch(name, pattern) for pattern in allowed)
    )
    assert not bad, f"{module} imports {bad}, which its layer may not (docs/architecture.md)"


def test_master_code_of_the_supervisor_does_not_use_asyncio() -> None:
    for name in ("fork.py", "master.py"):
        path = ROOT / "_supervisor" / name
        if not path.exists():
            continue
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imports.add(node.module)
        assert "asyncio" not in imports, f"_supervisor/{name} must not use asyncio"
