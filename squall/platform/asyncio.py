"""The bridge between asyncio and the IOLoop, as in ``tornado.platform.asyncio``.

squall's ``IOLoop`` always runs on an asyncio loop, so most of this module is for code that
names the classes: ``AsyncIOLoop`` (what ``IOLoop()`` builds: a new loop),
``AsyncIOMainLoop`` (an IOLoop over the thread's asyncio loop, which is also what
``IOLoop.current()`` makes), ``to_asyncio_future``/``to_tornado_future`` and the deprecated
``AnyThreadEventLoopPolicy``. ``SelectorThread`` and ``AddThreadSelectorEventLoop`` watch file
descriptors with ``select()`` on a helper thread for loops that cannot (Windows' proactor loop).

The classes are defined below this module, under the names re-exported here (the same
objects): the IOLoop and its asyncio implementations in ``squall._ioloop`` (the base builds
them), the selector thread in ``squall._selector_thread``.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from squall._ioloop import AsyncIOLoop, AsyncIOMainLoop, BaseAsyncIOLoop
from squall._ioloop import IOLoop as IOLoop  # a name of Tornado's module too
from squall._selector_thread import AddThreadSelectorEventLoop, SelectorThread

# Tornado's tests reach for these two: the selector threads still open, and the exit hook.
from squall._selector_thread import _atexit_callback as _atexit_callback
from squall._selector_thread import _selector_loops as _selector_loops
from squall._yieldables import convert_yielded as convert_yielded  # Tornado's has it

__all__ = [
    "AddThreadSelectorEventLoop",
    "AnyThreadEventLoopPolicy",  # noqa: F822  # built on first access by __getattr__
    "AsyncIOLoop",
    "AsyncIOMainLoop",
    "BaseAsyncIOLoop",
    "SelectorThread",
    "to_asyncio_future",
    "to_tornado_future",
]


def to_tornado_future(asyncio_future: asyncio.Future[Any]) -> asyncio.Future[Any]:
    """Return ``asyncio_future`` itself: squall's futures are asyncio futures (deprecated)."""
    return asyncio_future


def to_asyncio_future(tornado_future: Any) -> asyncio.Future[Any]:
    """Turn anything a coroutine may yield (a future, coroutine, list, dict) into an asyncio
    future; ``gen.convert_yielded`` under its old name."""
    return convert_yielded(tornado_future)


def _make_any_thread_policy() -> type:
    base: type = asyncio.DefaultEventLoopPolicy  # deprecated itself from Python 3.14

    class AnyThreadEventLoopPolicy(base):  # type: ignore[misc]  # a base known only at runtime
        """An asyncio policy whose ``get_event_loop()`` creates a loop in any thread.

        The default policy creates one only in the main thread. Deprecated (as the policy API
        itself is): create loops explicitly with ``asyncio.new_event_loop()`` or
        ``asyncio.run()``; ``IOLoop.current()`` makes one in any thread regardless.
        """

        def __init__(self) -> None:
            warnings.warn(
                "AnyThreadEventLoopPolicy is deprecated; use asyncio.run() or "
                "asyncio.new_event_loop() in each thread",
                DeprecationWarning,
                stacklevel=2,
            )
            super().__init__()

        def get_event_loop(self) -> asyncio.AbstractEventLoop:
            """Return the thread's loop, creating and setting one if it has none."""
            try:
                loop: asyncio.AbstractEventLoop = super().get_event_loop()
            except RuntimeError:
                loop = self.new_event_loop()
                self.set_event_loop(loop)
            return loop

    AnyThreadEventLoopPolicy.__module__ = __name__
    return AnyThreadEventLoopPolicy


_lazy: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    # Built on first use: naming asyncio's policy classes warns on Python 3.14+.
    if name == "AnyThreadEventLoopPolicy":
        if name not in _lazy:
            _lazy[name] = _make_any_thread_policy()
        return _lazy[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
