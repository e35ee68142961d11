"""True source locations for log records made by compiled code.

A module compiled by mypyc runs without Python frames, so ``logging`` credits its records to
the nearest *Python* frame: the event loop's ``selector_events.py``, or the line of the worker
that runs the loop. :class:`CompiledSourceFilter` puts the real place back. It indexes, once,
every logging call with a literal message in the compiled modules' sources (shipped beside
them: they are the pure-Python fallback), and gives a record whose message is one of those
literals, and whose recorded line does not make that call, the location of the call. A message
logged from several places gets the first of them (the places are listed in ``places``).

Rules: standard library and ``squall._compiled`` only; the index is built on first use.
"""

from __future__ import annotations

import ast
import linecache
import logging
import os
from dataclasses import dataclass

from squall._compiled import MODULES

__all__ = ["CompiledSourceFilter", "Place", "places"]

_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical"})
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the squall package
_index: dict[str, list[Place]] | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """Where a logging call is: file, line and enclosing function."""

    path: str
    lineno: int
    function: str


def places(message: str) -> list[Place]:
    """The logging calls of the compiled modules whose literal message is ``message``."""
    global _index
    if _index is None:
        _index = _build_index()
    return _index.get(message, [])


def _build_index() -> dict[str, list[Place]]:
    index: dict[str, list[Place]] = {}
    for module in MODULES:
        path = os.path.join(os.path.dirname(_ROOT), module)
        try:
            with open(path, encoding="utf-8") as file:
                tree = ast.parse(file.read(), path)
        except (OSError, SyntaxError, ValueError):
            continue
        _Visitor(path, index).visit(tree)
    return index


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: str, index: dict[str, list[Place]]) -> None:
        self.path = path
        self.index = index
        self.function = "<module>"

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        args = node.args
        message: object = None
        if isinstance(func, ast.Attribute):
            if func.attr in _LOG_METHODS and args:
                message = _literal(args[0])
            elif func.attr == "log" and len(args) >= 2:
                message = _literal(args[1])
        if isinstance(message, str):
            place = Place(self.path, node.lineno, self.function)
            self.index.setdefault(message, []).append(place)
        self.generic_visit(node)


def _literal(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


_ACCESS = "squall.access"  # one record per request: kept off this filter's path


class CompiledSourceFilter(logging.Filter):
    """Corrects the location of records logged by compiled squall code (see the module doc).

    Attach it to a handler; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Fix ``pathname``/``filename``/``module``/``lineno``/``funcName`` when needed."""
        message = record.msg
        name = record.name
        if not isinstance(message, str) or not name.startswith("squall") or name == _ACCESS:
            return True  # (an access line's place in the code tells nobody anything)
        found = places(message)
        if not found or _makes_the_call(record, message):
            return True
        place = found[0]
        record.pathname = place.path
        record.filename = os.path.basename(place.path)
        record.module = os.path.splitext(record.filename)[0]
        record.lineno = place.lineno
        record.funcName = place.function
        return True


def _makes_the_call(record: logging.LogRecord, message: str) -> bool:
    """True when the recorded line (or the few after it) holds the message: a Python caller."""
    probe = message[:20]
    for offset in range(4):
        if probe in linecache.getline(record.pathname, record.lineno + offset):
            return True
    return False
