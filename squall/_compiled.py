"""The optional compiled build: which modules mypyc compiles, and whether they are running.

A wheel build (``setup.py``) compiles :data:`MODULES` with mypyc into one extension group;
their ``.py`` sources ship too and are the pure-Python fallback, which passes the same tests.
This module is never compiled itself: it must be importable, and tell the truth, in both.

Compiled classes are *native*: their attributes live in fixed C slots and their methods are
called without the interpreter. Three rules keep them behaving like the Python classes they
replace (see ``docs/architecture.md``, "The compiled build"):

- a class that applications subclass is marked ``@mypyc_attr(allow_interpreted_subclasses=True)``,
  so a Python subclass overrides methods as usual;
- an attribute that subclasses override at class level (``SUPPORTED_METHODS``) is a
  ``ClassVar``, read from the class, never a per-instance slot;
- a class whose instances take attributes of the application's own (``request.user = ...``)
  derives from :class:`Extensible`, a Python class, which gives every instance a ``__dict__``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:
    try:
        from mypy_extensions import mypyc_attr
    except ImportError:  # a pure-Python install need not have mypy_extensions

        def mypyc_attr(*attrs: Any, **kwattrs: Any) -> Any:
            """No-op stand-in for ``mypy_extensions.mypyc_attr`` (it only guides mypyc)."""
            return lambda cls: cls


__all__ = ["GROUP", "MODULES", "Extensible", "mypyc_attr", "stale_sources"]

#: The modules a wheel build compiles (paths below the project root, as ``setup.py`` uses).
MODULES: tuple[str, ...] = (
    "squall/_http1/context.py",
    "squall/_http1/exchange.py",
    "squall/_http1/fields.py",
    "squall/_http1/flow.py",
    "squall/_http1/framing.py",
    "squall/_http1/head.py",
    "squall/_http1/params.py",
    "squall/_http1/protocol.py",
    "squall/_http1/state.py",
    "squall/_http1/wire.py",
    "squall/_web/application.py",
    "squall/_web/handler.py",
    "squall/_web/routing.py",
    "squall/httputil.py",
)

#: The name of the extension group: its shared runtime is ``squall/_native__mypyc.*.so``.
GROUP = "squall._native"

_ROOT = Path(__file__).resolve().parent.parent


class Extensible:
    """Base of compiled classes whose instances accept attributes of the application's own.

    Being a Python class, it gives every instance of a compiled subclass a ``__dict__`` for
    names the class does not declare (Tornado code sets ``request.current_user_id``,
    ``application.db`` and the like); the declared attributes keep their fast C slots."""


def stale_sources(root: Path = _ROOT) -> list[str]:
    """Sources edited after their compiled module was built (only in a source checkout).

    A stale compiled module silently runs the old code; ``scripts/build-ext`` rebuilds."""
    if not (root / "pyproject.toml").is_file():
        return []
    stale = []
    for path in MODULES:
        source = root / path
        for built in source.parent.glob(source.stem + ".*.so"):
            if source.is_file() and source.stat().st_mtime > built.stat().st_mtime:
                stale.append(path)
    return sorted(stale)
