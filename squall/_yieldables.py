"""What a coroutine may yield, and futures on the current loop: the vocabulary below the IOLoop.

``convert_yielded`` turns anything Tornado code may yield or return (None, ``moment``, asyncio and
``concurrent.futures`` futures, awaitables, lists and dicts of them through ``multi``) into an
asyncio future; ``squall.gen`` re-exports it with ``multi``, ``sleep``, ``moment`` and
``BadYieldError``, and ``IOLoop.run_sync`` converts what its function returns with it.

A future made while no loop runs belongs to ``IOLoop.current()``'s loop. That is the one thing
here this module cannot look up itself: the IOLoop converts with this module (``run_sync``), so
this module cannot import it. ``squall._ioloop`` hands its lookup over with
:func:`set_current_loop_finder` when it is imported, and every module that uses this one imports
the IOLoop too (``concurrent``, ``gen``, ``platform.asyncio``), so the lookup is in place before
any of their functions runs; without it, making a future with no loop running raises
RuntimeError. With a loop running nothing is looked up: the future is the running loop's. (The
alternative, this vocabulary inside ``_ioloop``, would make one module of ~1,000 lines.)

Rules: importing this module creates no event loop (``moment`` is not a future).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Callable, Generator
from typing import Any

from squall.log import app_log

__all__ = [
    "BadYieldError",
    "convert_yielded",
    "moment",
    "multi",
    "set_current_loop_finder",
    "sleep",
]

_Future = asyncio.Future


def _no_loop_finder() -> asyncio.AbstractEventLoop:
    raise RuntimeError(
        "no event loop is running and squall.ioloop is not imported; import squall.ioloop "
        "(or run inside a loop) before making squall futures"
    )


_current_loop: Callable[[], asyncio.AbstractEventLoop] = _no_loop_finder


def set_current_loop_finder(finder: Callable[[], asyncio.AbstractEventLoop]) -> None:
    """Make ``finder()`` the loop of futures made while no loop runs (``squall._ioloop``'s:
    ``IOLoop.current().asyncio_loop``)."""
    global _current_loop
    _current_loop = finder


def _create_future() -> asyncio.Future[Any]:
    """A new future on the running loop, else on ``IOLoop.current()``'s loop."""
    # Two C calls on the common path (locks and queues make one future per blocking call):
    # _get_running_loop() answers None rather than raising, and the Future type is built
    # directly (asyncio's and uvloop's create_future() build exactly this).
    loop = asyncio._get_running_loop()
    if loop is None:
        return _current_loop().create_future()
    return _Future(loop=loop)


def _future_loop() -> asyncio.AbstractEventLoop:
    """The running loop, else ``IOLoop.current()``'s."""
    loop = asyncio._get_running_loop()
    return _current_loop() if loop is None else loop


class BadYieldError(TypeError):
    """A coroutine yielded something that is not a future, awaitable, list, dict or None."""


class _Moment:
    """``yield moment`` (or ``await moment``) lets the loop run one iteration, then resumes."""

    def __await__(self) -> Generator[None, None, None]:
        yield  # a bare yield makes an asyncio Task skip one loop iteration

    def __repr__(self) -> str:
        return "squall.gen.moment"


moment = _Moment()


# ---- converting what a coroutine yields -------------------------------------------------------


@functools.singledispatch
def convert_yielded(yielded: Any) -> asyncio.Future[Any]:
    """Turn what a coroutine yields into an asyncio future; extend it with ``.register``.

    None gives a finished future and ``moment`` a ``sleep(0)``; lists and dicts go to
    ``multi``; asyncio futures come back as they are, ``concurrent.futures`` futures are wrapped,
    other awaitables (native coroutines) are scheduled with ``ensure_future``. Anything else
    raises ``BadYieldError`` (a TypeError), "yielded unknown object ...".
    """
    if yielded is None:
        done = _create_future()
        done.set_result(None)
        return done
    if yielded is moment:
        return sleep(0)
    if isinstance(yielded, asyncio.Future):
        return yielded
    loop = _future_loop()
    if isinstance(yielded, concurrent.futures.Future):
        return asyncio.wrap_future(yielded, loop=loop)
    if inspect.isawaitable(yielded):
        return asyncio.ensure_future(yielded, loop=loop)
    raise BadYieldError(f"yielded unknown object {yielded!r}")


@convert_yielded.register(list)
@convert_yielded.register(dict)
def _convert_collection(yielded: list[Any] | dict[Any, Any]) -> asyncio.Future[Any]:
    return multi(yielded)


def multi(
    children: list[Any] | dict[Any, Any],
    quiet_exceptions: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> asyncio.Future[Any]:
    """Wait for a list or dict of yieldables; a future of the list or dict of their results.

    The future resolves once every child has finished. If some failed, it fails with the first
    failure in order; the others are logged on ``squall.application`` ("Multiple exceptions in
    yield list") unless they are instances of ``quiet_exceptions``.
    """
    keys = list(children) if isinstance(children, dict) else None
    values = children.values() if isinstance(children, dict) else children
    futures = [convert_yielded(c) for c in values]
    result = _create_future()
    unfinished = set(futures)

    def on_done(done: asyncio.Future[Any]) -> None:
        unfinished.discard(done)
        if unfinished:
            return
        results = []
        for future in futures:
            value, error = _outcome(future)
            results.append(value)
            if error is None:
                continue
            if not result.done():
                result.set_exception(error)
            elif not isinstance(error, asyncio.CancelledError) and not isinstance(
                error, quiet_exceptions
            ):  # a cancellation after the first failure is no news
                app_log.error("Multiple exceptions in yield list", exc_info=error)
        if not result.done():
            result.set_result(results if keys is None else dict(zip(keys, results, strict=True)))

    if not futures:
        result.set_result({} if keys is not None else [])
    for future in unfinished.copy():
        future.add_done_callback(on_done)
    return result


def sleep(duration: float) -> asyncio.Future[None]:
    """Return a future that resolves to None after ``duration`` seconds."""
    future: asyncio.Future[None] = _create_future()
    timer = future.get_loop().call_later(duration, _wake, future)
    future.add_done_callback(lambda _: timer.cancel())
    return future


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _outcome(future: asyncio.Future[Any]) -> tuple[Any, BaseException | None]:
    if future.cancelled():
        return None, asyncio.CancelledError()
    if (exc := future.exception()) is not None:
        return None, exc
    return future.result(), None
