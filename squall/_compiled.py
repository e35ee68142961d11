"""The optional compiled build: which modules mypyc compiles, the rules they follow, and
whether they are running.

A wheel build (``setup.py``) compiles :data:`MODULES` with mypyc into one extension group;
their ``.py`` sources ship too and are the pure-Python fallback, which passes the same tests
(CI runs the suite on both; ``scripts/build-ext`` compiles a checkout in place). This module
is never compiled itself: it must be importable, and tell the truth, in both.

What gets compiled
------------------
The request path and nothing else: the protocol layer ``_http1`` (but ``errors``), the contract
``httputil``, the web layer's hot path (``handler``, ``application``, ``routing``, and the
pure helpers the handler calls on every response, ``headers`` and ``etag``), and the layer
``squall serve`` wraps around every request of a served app (``_cli/request_layer``). A call
between two compiled modules is a C call; a call from compiled code into an interpreted module is an
ordinary Python call, so a helper on the per-request path is compiled with its caller (or the
path stays in the caller). Everything else (cookies, XSRF, static files, templates, the
supervisor) runs as Python in both builds.

Compiled classes are *native*: their attributes live in fixed C slots and their methods are
called without the interpreter. The rules, each with the place that shows it:

1. **Subclassable classes** (``RequestHandler``, ``Application``, ``HTTPServerRequest``,
   ``HTTPHeaders``, ``RouteTable``, the Direct bases) are marked
   ``@mypyc_attr(allow_interpreted_subclasses=True)``, so a Python subclass overrides methods
   as usual, also when squall's compiled code calls them.
2. **Class-level switches** that subclasses or decorators set (``SUPPORTED_METHODS``,
   ``_stream_request_body``, ``sets_server_header``) are ``ClassVar``s, read from the class,
   never per-instance slots.
3. **Application attributes**: a class whose instances take attributes of the application's
   own (``request.user_id = ...``, ``app.db = ...``) derives from :class:`Extensible`, a Python
   class, which gives every instance a ``__dict__`` beside its slots.
4. **Python classes where users subclass freely or catch**: exceptions stay ordinary Python
   classes (``HTTPInputError``, ``HTTPOutputError`` live in ``squall._delegates``;
   ``_http1/errors.py`` is not compiled at all), and so do the delegate interfaces
   (``squall._delegates``, not compiled) and Tornado's routers and rules (``_web/rules.py``,
   ``_web/matchers.py``: ``ReversibleRuleRouter`` has two bases, which a native class
   cannot). A native class may derive from such Python classes (``Application`` from
   ``ReversibleRouter``), but a method that one of them overrides and the native class
   does not is missed by compiled callers (they use the native base's vtable): so
   ``Application`` defines ``start_request`` itself, although ``Router`` has one.
5. **Module functions for lifecycle bodies** (``_web/handler.py``, "Why module functions"): a
   method call on an instance of a Python subclass, which every handler is, goes by name; a
   module function is a C call. So ``finish``/``flush``/``_execute`` are one-line methods over
   module functions, and the hot path calls the function itself after an identity check
   (``type(handler).flush is _flush``), so that an override still wins.
6. **Direct bases and one helper per call** (the end of ``squall/httputil.py``): squall's own
   implementations of the delegate interfaces derive from ``DirectServerDelegate``,
   ``DirectMessageDelegate`` or ``DirectConnection``, native classes; a helper such as
   ``connection_finish(conn)`` checks ``isinstance(conn, DirectConnection)`` once and then makes
   the call directly, or through the interface for anything else. A doubled call is written
   only inside such a helper (``message_finish(msg)`` and the other ``message_*`` helpers are
   the protocol layer's calls of the message delegate). Inside ``_http1`` the exchange holds
   its connection as ``owner.ExchangeOwner``, a native base class of ``HTTP1Protocol``, not a
   ``typing.Protocol``, so that those calls are direct too.
7. **Constants are** ``Final``: read from C statics, so monkeypatching one has no effect.
   Functions that tests patch (``state.date_line``, ``wire.date_header_value``) are not
   ``Final``.
8. **Arguments of a precise type are checked** when a compiled function is called
   (``HTTPHeaders.add(name, 5)`` raises ``TypeError``), so parameters where squall gives its own,
   clearer error (``write(chunk)``, routing rules, header values) are typed ``Any``. Where the
   type would be an import against the layer order (``RequestHandler.application``), the
   attribute is ``Any`` too, as Starlette types ``Request.app``.

What differs in the compiled build, and is documented for users (``docs/architecture.md``,
"The compiled build"): a method patched onto squall's own class (not a subclass) is not seen by
squall's compiled code; coroutines of compiled methods are not Python coroutine objects and
have no frames (the loop-block detector names the user's handler frame instead).
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
    "squall/_http1/accounting.py",
    "squall/_http1/body.py",
    "squall/_http1/context.py",
    "squall/_http1/exchange.py",
    "squall/_http1/fields.py",
    "squall/_http1/flow.py",
    "squall/_http1/framing.py",
    "squall/_http1/head.py",
    "squall/_http1/inflate.py",
    "squall/_http1/owner.py",
    "squall/_http1/params.py",
    "squall/_http1/phases.py",
    "squall/_http1/protocol.py",
    "squall/_http1/record.py",
    "squall/_http1/refusals.py",
    "squall/_http1/state.py",
    "squall/_http1/stream.py",
    "squall/_http1/takeover.py",
    "squall/_http1/upgrade.py",
    "squall/_http1/wire.py",
    "squall/_cli/request_layer.py",
    "squall/_web/application.py",
    "squall/_web/etag.py",
    "squall/_web/handler.py",
    "squall/_web/headers.py",
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
