"""Exception routing for callbacks: Tornado's ``stack_context`` rebuilt on ``contextvars``.

How this works: a ``ContextVar`` holds a tuple of "exception sinks", innermost last. A sink is a
callable that takes an exception and returns True when it took it. asyncio's ``call_soon`` and
``call_later`` copy the caller's context into each callback, so a callback scheduled inside a
sink's scope still sees the sink when it runs, however many hops later. When such a callback
raises, the IOLoop's callback runner asks ``route_exception(exc)``: the sinks are offered the
exception from the innermost outwards, and only when none takes it is it logged as usual.

Users of the sinks: ``gen.Task`` (the error goes into the waiting coroutine), the legacy
``gen`` runner while key-based callbacks are pending, and ``web.asynchronous`` handlers (the
error becomes a 500) through ``ExceptionStackContext``.

Rules: a leaf (stdlib and ``log`` only), since ``ioloop`` calls into it; nothing here schedules
anything or touches an event loop.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from types import TracebackType
from typing import ParamSpec, TypeVar, overload

from squall.log import app_log

__all__ = [
    "ExceptionStackContext",
    "NullContext",
    "Sink",
    "push_sink",
    "route_exception",
    "run_with_stack_context",
    "wrap",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Takes an exception; returns True if it handled it (then nobody else sees it).
Sink = Callable[[BaseException], bool]

#: The sinks in scope, innermost last.
_sinks: contextvars.ContextVar[tuple[Sink, ...]] = contextvars.ContextVar(
    "squall_exception_sinks", default=()
)


def push_sink(sink: Sink) -> contextvars.Token[tuple[Sink, ...]]:
    """Make ``sink`` the innermost sink in the current context; returns the token to undo it.

    Meant to be called inside a copied context (``contextvars.copy_context().run``), so that
    only what runs, or is scheduled, inside that context carries the sink.
    """
    return _sinks.set((*_sinks.get(), sink))


def route_exception(exc: BaseException) -> bool:
    """Offer ``exc`` to the sinks in the current context, innermost first; True if one took it.

    Called by the IOLoop's callback runner before it logs a callback's exception. A sink that
    itself raises is logged on ``squall.application`` and counts as declining.
    """
    for sink in reversed(_sinks.get()):
        try:
            if sink(exc):
                return True
        except Exception:
            app_log.error("Exception in exception sink %r", sink, exc_info=True)
    return False


class ExceptionStackContext:
    """Context manager: exceptions from callbacks scheduled inside it go to ``handler``.

    ``handler(type, value, traceback)`` returns True when it dealt with the exception; then it
    is not logged (nor offered to outer contexts). An exception leaving the ``with`` block
    itself is offered to ``handler`` too, and suppressed when it returns True.
    ``delay_warning`` is accepted for compatibility and ignored.
    """

    def __init__(
        self,
        exception_handler: Callable[
            [type[BaseException], BaseException, TracebackType | None], object
        ],
        delay_warning: bool = False,
    ) -> None:
        self.exception_handler = exception_handler
        self._saved: list[tuple[contextvars.Token[tuple[Sink, ...]], tuple[Sink, ...]]] = []

    def _sink(self, exc: BaseException) -> bool:
        return bool(self.exception_handler(type(exc), exc, exc.__traceback__))

    def __enter__(self) -> ExceptionStackContext:
        previous = _sinks.get()
        self._saved.append((push_sink(self._sink), previous))
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        _restore(*self._saved.pop())
        if typ is None or value is None:
            return False
        return bool(self.exception_handler(typ, value, tb))


class NullContext:
    """Context manager: callbacks scheduled inside it carry no sinks (errors are just logged)."""

    def __init__(self) -> None:
        self._saved: list[tuple[contextvars.Token[tuple[Sink, ...]], tuple[Sink, ...]]] = []

    def __enter__(self) -> NullContext:
        previous = _sinks.get()
        self._saved.append((_sinks.set(()), previous))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _restore(*self._saved.pop())


def _restore(token: contextvars.Token[tuple[Sink, ...]], previous: tuple[Sink, ...]) -> None:
    try:
        _sinks.reset(token)
    except ValueError:  # left in another context (e.g. across a yield): restore by value
        _sinks.set(previous)


@overload
def wrap(fn: None) -> None: ...
@overload
def wrap(fn: Callable[_P, _T]) -> Callable[_P, _T | None]: ...
def wrap(fn: Callable[_P, _T] | None) -> Callable[_P, _T | None] | None:
    """Return ``fn`` bound to the current context, as Tornado's ``stack_context.wrap`` did.

    Each call runs in a copy of the context captured now, so the sinks in scope now apply to
    it: an exception it raises is routed to them, and re-raised only if none takes it (the
    call then returns None). ``wrap(None)`` is None; wrapping twice wraps once.
    """
    if fn is None:
        return None
    if getattr(fn, "_squall_wrapped", False):
        return fn
    context = contextvars.copy_context()

    def call(*args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if route_exception(exc):
                return None
            raise

    @functools.wraps(fn)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        return context.copy().run(call, *args, **kwargs)

    wrapped._squall_wrapped = True  # type: ignore[attr-defined]  # marker read by wrap()
    return wrapped


def run_with_stack_context(
    context: ExceptionStackContext | NullContext, func: Callable[[], _T]
) -> _T:
    """Call ``func()`` inside ``context`` and return its result."""
    with context:
        return func()
