"""The layer rules of docs/architecture.md, checked on the source with ``ast``.

Between layers, only imports executed when a module is imported count (module level, including
``if``/``try`` blocks there); imports inside functions are the sanctioned way to reach upward
lazily (``Application.listen`` importing ``httpserver``, for example).

Inside ``_web`` every import counts, ``TYPE_CHECKING`` and function-level ones too: the modules
stand in one order (:data:`WEB_ORDER`, lowest first), each imports only modules before it, and
the few exceptions are named in :data:`WEB_UPWARD` with their reason.

Inside ``_http1``, ``_web`` and ``_supervisor`` no import circle is allowed (every import
counts), and in ``_http1`` the protocol and the exchange meet only at public members
(:data:`SEAM`); ``_http1`` reaches outside its layer, even lazily, only where
:data:`HTTP1_OUTSIDE` says why.
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
    "squall._httpfmt",
    "squall._malloc",
    "squall._compiled",
    "squall.escape",
    "squall.log",
    "squall._logformat",
    "squall._streams.errors",
    "squall.util",
}

# module pattern -> squall modules it may import at module level (fnmatch patterns).
ALLOWED: dict[str, set[str]] = {
    "squall._types": set(),
    "squall._util": set(),
    "squall._httpfmt": set(),
    "squall._malloc": set(),
    "squall._compiled": set(),
    "squall._delegates": {"squall._types"},
    "squall.escape": set(),
    "squall.log": {"squall._logformat"},  # define_logging_options: options', on first use
    "squall._logformat": set(),
    "squall.util": set(),
    "squall.speedups": set(),
    "squall._loop": {"squall.log"},
    "squall._loop_hook": set(),  # imports squall._loop lazily, once asyncio is there
    "squall._stack_context": {"squall.log"},
    "squall._forms": LEAVES | {"squall._delegates"},  # HTTPInputError, a plain class
    "squall.httputil": LEAVES | {"squall._forms", "squall._delegates"},
    "squall._net": {"squall.log"},
    "squall._http1*": LEAVES | {"squall.httputil", "squall._http1*"},
    "squall._server": LEAVES
    | {"squall.httputil", "squall._http1*", "squall._net", "squall._proxyproto"},
    "squall._proxyproto": LEAVES | {"squall._http1.context"},
    # The WebSocket client connects through the stream layer (TCPClient, IOStream) and reads
    # the handshake's answer through HTTP1Connection, as the HTTP client does.
    "squall._ws.client*": LEAVES
    | {
        "squall._ws*",
        "squall.httputil",
        "squall._streams*",
        "squall._h1stream*",
        "squall.tcpclient",
        "squall.ioloop",
    },
    "squall._ws*": LEAVES | {"squall._ws*"},
    # Rendering sits below the handler and knows nothing of it (see WEB_RENDERING).
    "squall._web.templates": {"squall.escape", "squall.template", "squall.httputil"},
    "squall._web.uimodules": {"squall.escape", "squall.template", "squall.httputil"},
    "squall._web.jinja": {"squall.escape", "squall.template", "squall.httputil"},
    # Only the WebSocket handler may reach the WebSocket protocol.
    "squall._web.websocket": LEAVES
    | {"squall.httputil", "squall._forms", "squall._web*", "squall._stack_context", "squall._ws*"},
    "squall._web*": LEAVES
    | {"squall.httputil", "squall._forms", "squall._web*", "squall._stack_context"},
    "squall._observe*": LEAVES | {"squall.httputil", "squall._observe*"},
    "squall._supervisor*": {"squall.log", "squall._supervisor*", "squall._loop"},
    # The IOLoop and its asyncio implementations (squall._ioloop; squall.ioloop and
    # squall.platform.asyncio are their public names) sit on what a coroutine may yield
    # (squall._yieldables, which run_sync converts with) and the selector thread.
    "squall._selector_thread": set(),
    "squall._yieldables": {"squall.log"},
    "squall._ioloop": LEAVES
    | {"squall._loop", "squall._stack_context", "squall._selector_thread", "squall._yieldables"},
    "squall.ioloop": LEAVES | {"squall._ioloop"},
    "squall.gen": LEAVES
    | {"squall._stack_context", "squall._yieldables", "squall.ioloop", "squall.concurrent"},
    "squall.concurrent": LEAVES | {"squall._yieldables", "squall.ioloop"},
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
    | {"squall._ioloop", "squall._selector_thread", "squall._yieldables"},
    "squall.wsgi": LEAVES
    | {
        "squall.httputil",
        "squall._forms",
        "squall._delegates",
        "squall.ioloop",
        "squall.concurrent",
    }
    | {"squall._loop", "squall._stack_context"},
    # autoreload shares the supervisor's file watcher and asks it whether this is a child.
    "squall.autoreload": LEAVES
    | {"squall._loop", "squall.ioloop", "squall._supervisor.common", "squall._supervisor.fork"}
    | {"squall._supervisor.filewatch"},
    # `python -m squall.autoreload`: the package is imported first, then this runs its main().
    "squall.autoreload.__main__": {"squall.autoreload"},
    "squall.websocket": {"squall._web*", "squall._ws*", "squall.httputil", "squall.log"},
    # The stream layer (Tornado's iostream, tcpclient, resolvers) sits above the IOLoop, as in
    # Tornado; its exceptions and write buffer are leaves any layer may use.
    "squall._streams.errors": set(),
    "squall._streams.buffer": set(),
    "squall._streams.pollguard": set(),
    "squall._streams*": LEAVES
    | {"squall._streams*", "squall._net", "squall._loop", "squall.ioloop", "squall.concurrent"},
    # Subprocess: child processes with stream pipes, apart from the fork supervisor.
    "squall._subprocess": LEAVES | {"squall._streams*", "squall.ioloop"},
    # HTTP/1.1 over a stream (squall.http1connection): the stream layer and the contract,
    # never the server's own protocol layer.
    "squall._h1stream*": LEAVES
    | {"squall._h1stream*", "squall.httputil", "squall._streams*", "squall.gen"}
    | {"squall.ioloop", "squall.concurrent"},
    # The HTTP client sits on top of the streams: tcpclient and http1connection's package.
    "squall._client*": LEAVES
    | {"squall._client*", "squall._h1stream*", "squall._streams*", "squall.httputil"}
    | {"squall._net", "squall.ioloop", "squall.concurrent", "squall.tcpclient", "squall"},
    # Tornado's routing names; the implementation is the web layer's (web imports it too).
    "squall.routing": {"squall._web.matchers", "squall._web.rules"},
    # squall.auth's implementation sits on top, beside httpclient: handlers and the client.
    "squall._auth*": LEAVES
    | {"squall._auth*", "squall.httputil", "squall.httpclient", "squall.web"},
    # Templates and locale stand alone: the web layer uses them, never the other way.
    "squall._template*": LEAVES | {"squall._template*"},
    "squall.template": LEAVES | {"squall._template*"},
    "squall._locale_data": set(),
    # The pieces of the squall command sit on top, beside squall.cli.
    "squall._cli*": {"squall*"},
    "squall.locale": LEAVES | {"squall._locale_data"},
    # The tornado alias: standard library only at import (the .pth hook runs it at startup).
    "squall.compat*": {"squall.compat*"},
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
    "squall.simple_httpclient",
    "squall.http1connection",
    "squall.auth",
    "squall.pytest_plugin",
    "squall.cli",
    "squall.__main__",
    "squall.tornado",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = sorted(ROOT.rglob("*.py"))
KNOWN = {_module_name(path) for path in MODULES}


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> set[str]:
    """The modules one import statement names. ``from squall._web import etag`` names the
    module ``squall._web.etag``; ``from squall import version`` names the package ``squall``
    (``version`` is an attribute of it, not a module)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if node.level:
        base = module.rsplit(".", node.level)[0]
        name = f"{base}.{node.module}" if node.module else base
    else:
        name = node.module or ""
    found = {name}
    for alias in node.names:
        if f"{name}.{alias.name}" in KNOWN:
            found.add(f"{name}.{alias.name}")
    return found


def _top_level_imports(tree: ast.Module, module: str) -> set[str]:
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_imported(node, module))
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


# -- the order inside _web ---------------------------------------------------------------------

#: The ``_web`` modules, lowest first. Each may import only modules listed before it, counting
#: every import: module level, ``TYPE_CHECKING`` and inside functions. A new module gets its
#: place here (and a line in docs/architecture.md) before it lands.
WEB_ORDER = (
    "squall._web",
    # Leaves: they know nothing of handlers (a helper that needs one says so with a Protocol).
    "squall._web.errors",
    "squall._web.headers",
    "squall._web.etag",
    "squall._web.cookies",
    "squall._web.arguments",
    "squall._web.xsrf",
    "squall._web.transforms",
    "squall._web.verbs",
    "squall._web.matchers",
    "squall._web.routing",
    "squall._web.rules",
    # Rendering: below the handler, which calls it (imports: WEB_RENDERING).
    "squall._web.jinja",
    "squall._web.templates",
    "squall._web.uimodules",
    "squall._web.render_assets",
    # The handler, then what is built on it.
    "squall._web.handler",
    "squall._web.builtin",
    "squall._web.decorators",
    "squall._web.static",
    "squall._web.websocket",
    # The application builds handlers of every kind and routes to them.
    "squall._web.application",
)

#: Imports against the order, each with its reason (keep this short: fix the code instead).
WEB_UPWARD: dict[tuple[str, str], str] = {}

#: Rendering modules import only these (no handler, no application: they get what they need).
WEB_RENDERING = {
    "squall._web.jinja",
    "squall._web.templates",
    "squall._web.uimodules",
    "squall._web.render_assets",
}
RENDERING_MAY_IMPORT = {"squall", "squall.escape", "squall.template", "squall.httputil"}


def _all_imports(path: Path) -> set[str]:
    """Every squall module ``path`` imports, wherever the import statement stands."""
    module = _module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_imported(node, module))
    return {name for name in found if name.startswith("squall.") and name != module}


WEB_MODULES = [path for path in MODULES if _module_name(path).startswith("squall._web")]


@pytest.mark.parametrize("path", WEB_MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_web_modules_import_only_modules_below_them(path: Path) -> None:
    module = _module_name(path)
    assert module in WEB_ORDER, f"{module} has no place in WEB_ORDER (tests/test_layers.py)"
    rank = WEB_ORDER.index(module)
    upward = sorted(
        name
        for name in _all_imports(path)
        if name in WEB_ORDER and WEB_ORDER.index(name) > rank and (module, name) not in WEB_UPWARD
    )
    assert not upward, f"{module} imports {upward}, which stand above it in WEB_ORDER"


@pytest.mark.parametrize("module", sorted(WEB_RENDERING))
def test_rendering_modules_import_no_handler(module: str) -> None:
    path = ROOT.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        pytest.skip(f"{module} does not exist yet")
    bad = sorted(_all_imports(path) - RENDERING_MAY_IMPORT)
    assert not bad, f"{module} imports {bad}; rendering may use only {RENDERING_MAY_IMPORT}"


def test_web_order_and_its_exceptions_name_real_modules() -> None:
    names = set(WEB_ORDER) - WEB_RENDERING
    assert names <= KNOWN, sorted(names - KNOWN)
    for (low, high), reason in WEB_UPWARD.items():
        assert {low, high} <= KNOWN and reason, (low, high)


@pytest.mark.parametrize("package", ["squall._web", "squall._supervisor", "squall._http1"])
def test_no_import_circle_inside(package: str) -> None:
    """Every import counts here too (TYPE_CHECKING, function level): a circle is a circle."""
    paths = {_module_name(p): p for p in MODULES if _module_name(p).startswith(package + ".")}
    edges = {m: _all_imports(path) & paths.keys() for m, path in paths.items()}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            circle = trail[trail.index(module) :] + [module]
            pytest.fail(f"import circle: {' -> '.join(circle)}")
        if module in done:
            return
        for imported in sorted(edges[module]):
            visit(imported, [*trail, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])


# -- the protocol layer reaches outside its rule only where named -------------------------------

#: Imports of ``_http1`` outside :data:`ALLOWED`'s rule for it, counting function-level ones
#: (each with its reason; keep this short).
HTTP1_OUTSIDE: dict[tuple[str, str], str] = {
    ("squall._http1.takeover", "squall._streams.handover"): (
        "Tornado's request.connection.detach() returns an IOStream: the stream layer makes it, "
        "imported only when an application detaches"
    ),
}


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if _module_name(p).startswith("squall._http1")],
    ids=lambda p: str(p.relative_to(ROOT.parent)),
)
def test_http1_imports_outside_its_layer_only_what_is_named(path: Path) -> None:
    module = _module_name(path)
    allowed = ALLOWED["squall._http1*"]
    outside = sorted(
        name
        for name in _all_imports(path)
        if not any(fnmatch.fnmatch(name, pattern) for pattern in allowed)
        and (module, name) not in HTTP1_OUTSIDE
    )
    assert not outside, f"{module} imports {outside}: add the reason to HTTP1_OUTSIDE or don't"


def test_http1_outside_imports_name_real_modules() -> None:
    for (low, high), reason in HTTP1_OUTSIDE.items():
        assert {low, high} <= KNOWN and reason, (low, high)


# -- the interface between the protocol and the exchange (_http1) ------------------------------

#: Each class of the seam, with the _http1 classes it is made of (a base declaring its part).
#: No other _http1 module may use a ``_``-prefixed member of them: the exchange uses only the
#: public section of the protocol (``owner.ExchangeOwner``), the protocol changes an exchange
#: only through its public members (its phases, ``abandon()``, ``release()``, ...).
SEAM: dict[str, tuple[tuple[str, str], ...]] = {
    "HTTP1Protocol": (("protocol.py", "HTTP1Protocol"), ("owner.py", "ExchangeOwner")),
    "HTTP1Exchange": (("exchange.py", "HTTP1Exchange"),),
}


def _private_members(source: str, class_name: str) -> set[str]:
    """The ``_``-prefixed members a class defines: methods, ``__slots__``, ``self._x = ...``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                found.add(item.name)
            elif isinstance(item, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets
            ):
                found.update(
                    c.value
                    for c in ast.walk(item.value)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                )
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store):
                if isinstance(sub.value, ast.Name) and sub.value.id == "self":
                    found.add(sub.attr)
    return {n for n in found if n.startswith("_") and not n.endswith("__")}


def _foreign_uses(source: str, names: set[str]) -> list[str]:
    """``expr._name`` for a name of ``names`` on anything but ``self``/``cls``, with its line."""
    return [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr in names
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


def test_the_seam_check_finds_what_it_looks_for() -> None:
    sample = (
        "class P:\n    __slots__ = ('_queue',)\n"
        "    def _write(self, d):\n        self._out = d\n"
        "class E:\n    def finish(self):\n        self._proto._write(b'')\n"
        "        return self._proto._queue, self._write\n"
    )
    assert _private_members(sample, "P") == {"_queue", "_write", "_out"}
    assert _foreign_uses(sample, {"_queue", "_write", "_out"}) == [
        "line 7: ._write",
        "line 8: ._queue",
    ]


@pytest.mark.parametrize("owner", sorted(SEAM))
def test_no_private_member_is_used_across_the_protocol_exchange_seam(owner: str) -> None:
    package = ROOT / "_http1"
    privates: set[str] = set()
    own_files = set()
    for filename, class_name in SEAM[owner]:
        own_files.add(filename)
        privates |= _private_members((package / filename).read_text(encoding="utf-8"), class_name)
    assert privates, f"no private members found for {owner}: is SEAM out of date?"
    bad = {
        path.name: uses
        for path in sorted(package.glob("*.py"))
        if path.name not in own_files
        and (uses := _foreign_uses(path.read_text(encoding="utf-8"), privates))
    }
    assert not bad, f"private members of {owner} used outside its class: {bad}"


def test_master_code_of_the_supervisor_does_not_use_asyncio() -> None:
    master_side = ("common.py", "filewatch.py", "fork.py", "master.py", "rollout.py", "slots.py")
    for name in (*master_side, "metrics.py"):
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


# -- no import circle anywhere in the package, but the few named here ---------------------------

#: The import circles (strongly connected components of the import graph, every import counted:
#: module level, ``TYPE_CHECKING``, inside functions, a module importing itself) the package may
#: have, each with its reason. A circle found that is not here exactly fails; so does an entry
#: here that is no longer a circle (take it out). Keep this short: fix the code instead.
ALLOWED_CIRCLES: dict[frozenset[str], str] = {
    frozenset({"squall._delegates", "squall._forms", "squall.httputil"}): (
        "type-only: the delegate interfaces name httputil's types under TYPE_CHECKING; httputil "
        "re-exports the interfaces, and _forms raises _delegates' HTTPInputError"
    ),
}

#: Circles that must hold only through ``TYPE_CHECKING`` imports: at run time, no circle.
TYPE_ONLY_CIRCLES = {frozenset({"squall._delegates", "squall._forms", "squall.httputil"})}


def _import_targets(node: ast.Import | ast.ImportFrom, module: str) -> set[str]:
    """The modules one import statement makes ``module`` depend on, as an import graph sees
    them: ``from squall._web import etag`` is ``squall._web.etag`` (not the package too),
    ``from squall import version`` the package ``squall``; a module may name itself."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if node.level:
        base = module.rsplit(".", node.level)[0]
        name = f"{base}.{node.module}" if node.module else base
    else:
        name = node.module or ""
    return {
        f"{name}.{alias.name}" if f"{name}.{alias.name}" in KNOWN else name for alias in node.names
    }


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """The ids of the import statements inside ``if TYPE_CHECKING:`` blocks (at any depth)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            for statement in node.body:
                found.update(id(sub) for sub in ast.walk(statement))
    return found


def _import_graph(root: Path, runtime_only: bool = False) -> dict[str, set[str]]:
    """Every squall module under ``root`` and the squall modules it imports, wherever the import
    stands (with ``runtime_only``, not counting ``TYPE_CHECKING`` blocks)."""
    paths = {_module_name(path): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_blocks(tree) if runtime_only else set()
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skip:
                targets |= _import_targets(node, module)
        graph[module] = {name for name in targets if name in paths}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of ``graph`` that are circles: two modules or more,
    or one that imports itself (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(sorted(graph[start])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(frozenset(component))
    return found


def _describe(circle: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = [f"{a} -> {b}" for a in sorted(circle) for b in sorted(graph[a] & circle)]
    return f"{sorted(circle)}: {'; '.join(edges)}"


def test_the_circle_finder_finds_what_it_looks_for() -> None:
    graph = {
        "a": {"b"},
        "b": {"c", "a"},
        "c": set(),
        "d": {"d"},
        "e": {"f"},
        "f": {"g"},
        "g": {"e", "c"},
    }
    assert sorted(map(sorted, _circles(graph))) == [["a", "b"], ["d"], ["e", "f", "g"]]
    sample = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from squall import web\n"
        "def f():\n    from squall._web import handler, nonesuch\n    import squall.escape\n"
    )
    tree = ast.parse(sample)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert {id(n) for n in imports} & _type_checking_blocks(tree) == {id(imports[1])}
    targets = set().union(*(_import_targets(n, "squall.x") for n in imports[1:]))
    assert targets == {"squall.web", "squall._web.handler", "squall._web", "squall.escape"}


def test_no_import_circle_but_the_named_ones() -> None:
    graph = _import_graph(ROOT)
    found = _circles(graph)
    unexpected = [_describe(circle, graph) for circle in found if circle not in ALLOWED_CIRCLES]
    assert not unexpected, (
        "import circles (every import counts: TYPE_CHECKING, function level, a module "
        "importing itself); break them (a lower module for what both need) or, with a "
        f"reason, name them in ALLOWED_CIRCLES: {unexpected}"
    )
    gone = sorted(sorted(circle) for circle in ALLOWED_CIRCLES if circle not in found)
    assert not gone, f"no longer import circles, take them out of ALLOWED_CIRCLES: {gone}"


def test_type_only_circles_are_no_circles_at_run_time() -> None:
    runtime = _circles(_import_graph(ROOT, runtime_only=True))
    for circle in TYPE_ONLY_CIRCLES:
        assert circle in ALLOWED_CIRCLES
        assert not [c for c in runtime if c & circle], (
            f"{sorted(circle)} is allowed as a TYPE_CHECKING-only circle, but it imports "
            "itself back at run time too"
        )
