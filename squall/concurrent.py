"""Futures, Tornado style: ``Future`` is ``asyncio.Future``, plus helpers and executor adapters.

``run_on_executor`` runs a method in ``self.executor`` and hands back an asyncio future;
``chain_future`` copies one future's outcome to another (across threads when the source is a
``concurrent.futures.Future``); the ``future_*`` helpers set outcomes without tripping over
cancelled futures. The legacy ``return_future`` decorator and ``callback=`` keywords (removed in
Tornado 6) are kept for old code.

New futures belong to the running loop, else to ``IOLoop.current()``'s loop; nothing here
creates a loop at import.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

from squall._yieldables import _create_future as _create_future  # locks, queues, gen use it
from squall.ioloop import IOLoop
from squall.log import app_log

__all__ = [
    "FUTURES",
    "DummyExecutor",
    "Future",
    "ReturnValueIgnoredError",
    "chain_future",
    "dummy_executor",
    "future_add_done_callback",
    "future_set_exc_info",
    "future_set_exception_unless_cancelled",
    "future_set_result_unless_cancelled",
    "is_future",
    "return_future",
    "run_on_executor",
]

_P = ParamSpec("_P")
_S = TypeVar("_S")
_T = TypeVar("_T")
_F = TypeVar("_F", bound="asyncio.Future[Any] | concurrent.futures.Future[Any]")

Future = asyncio.Future
FUTURES: tuple[type, ...] = (asyncio.Future, concurrent.futures.Future)


class ReturnValueIgnoredError(Exception):
    """A function whose result is thrown away (``return_future``, ``gen.engine``) returned one."""


def is_future(x: object) -> bool:
    """Return True for an asyncio or a ``concurrent.futures`` Future."""
    return isinstance(x, FUTURES)


class DummyExecutor(concurrent.futures.Executor):
    """An executor that runs each submitted call at once, in the calling thread."""

    def submit(  # type: ignore[override]  # Executor.submit's ParamSpec signature, loosened
        self, fn: Callable[..., _T], *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[_T]:
        """Call ``fn(*args, **kwargs)`` now; return a finished future of its result or error."""
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to shut down."""


dummy_executor = DummyExecutor()


def _add_result_callback(future: asyncio.Future[Any], callback: Callable[..., object]) -> None:
    """Legacy ``callback=``: call ``callback(result)`` on the loop when ``future`` is done.

    On failure ``callback`` is not called; ``result()`` raises in the IOLoop's callback runner,
    which logs the error (or routes it to an exception sink).
    """
    IOLoop.current().add_future(future, lambda done: callback(done.result()))


@overload
def run_on_executor(
    fn: Callable[Concatenate[_S, _P], _T], /
) -> Callable[Concatenate[_S, _P], asyncio.Future[_T]]: ...
@overload
def run_on_executor(
    *, executor: str = "executor"
) -> Callable[
    [Callable[Concatenate[_S, _P], _T]], Callable[Concatenate[_S, _P], asyncio.Future[_T]]
]: ...
def run_on_executor(*args: Any, **kwargs: Any) -> Any:
    """Decorate a method to run in an executor; calling it returns an asyncio future.

    Use bare (``@run_on_executor``: the executor is ``self.executor``) or with a name
    (``@run_on_executor(executor="_pool")``). The future belongs to the caller's loop (the
    running one, else ``IOLoop.current()``). Legacy: a ``callback=`` keyword is popped and called
    with the result on the loop. Raises ValueError for any other decorator argument.
    """

    def decorate(fn: Callable[..., Any], executor: str = "executor") -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            callback = kwargs.pop("callback", None)
            result = _create_future()
            chain_future(getattr(self, executor).submit(fn, self, *args, **kwargs), result)
            if callback is not None:
                _add_result_callback(result, callback)
            return result

        return wrapper

    if args and kwargs:
        raise ValueError("run_on_executor takes a function or keyword arguments, not both")
    if len(args) == 1 and callable(args[0]):
        return decorate(args[0])
    if args:
        raise ValueError(f"run_on_executor got unexpected arguments {args!r}; use executor=name")
    return lambda fn: decorate(fn, **kwargs)


def _copy_outcome(
    source: asyncio.Future[Any] | concurrent.futures.Future[Any], target: Any
) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


def chain_future(
    a: asyncio.Future[Any] | concurrent.futures.Future[Any],
    b: asyncio.Future[Any] | concurrent.futures.Future[Any],
) -> None:
    """When ``a`` finishes, give ``b`` its result, exception or cancellation (unless ``b`` is done).

    Either may be an asyncio or a ``concurrent.futures`` future. An asyncio ``b`` is always set on
    its own loop's thread; a closed loop drops the outcome.
    """
    if not isinstance(b, asyncio.Future) or (
        isinstance(a, asyncio.Future) and a.get_loop() is b.get_loop()
    ):
        a.add_done_callback(functools.partial(_copy_outcome, target=b))
        return
    loop = b.get_loop()

    def hand_over(done: Any) -> None:
        try:
            loop.call_soon_threadsafe(_copy_outcome, done, b)
        except RuntimeError:  # the loop is closed: nobody is waiting on b any more
            pass

    a.add_done_callback(hand_over)


def future_set_result_unless_cancelled(future: asyncio.Future[_T], value: _T) -> None:
    """Set ``future``'s result, unless it was cancelled (then do nothing)."""
    if not future.cancelled():
        future.set_result(value)


def future_set_exception_unless_cancelled(future: asyncio.Future[Any], exc: BaseException) -> None:
    """Set ``future``'s exception; if it was cancelled, log the exception instead.

    The log (``squall.application``, "Exception after Future was cancelled") keeps errors from
    vanishing when nobody waits any more.
    """
    if not future.cancelled():
        future.set_exception(exc)
    else:
        app_log.error("Exception after Future was cancelled", exc_info=exc)


def future_set_exc_info(
    future: asyncio.Future[Any],
    exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
) -> None:
    """Set ``future``'s exception from a ``sys.exc_info()`` triple (as the ``_unless_cancelled``
    helper does). Raises ValueError when the triple holds no exception."""
    if exc_info[1] is None:
        raise ValueError("future_set_exc_info needs an exception; sys.exc_info() was empty")
    future_set_exception_unless_cancelled(future, exc_info[1])


def future_add_done_callback(future: _F, callback: Callable[[_F], object]) -> None:
    """Call ``callback(future)`` when ``future`` is done, at once if it is done already.

    Unlike ``add_done_callback`` on an asyncio future, a finished future does not wait for the
    next loop iteration.
    """
    if isinstance(future, asyncio.Future) and future.done():
        callback(future)
    else:
        future.add_done_callback(callback)  # type: ignore[arg-type]  # _F is one of the two kinds


def _callback_position(fn: Callable[..., Any]) -> int | None:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names.index("callback") if "callback" in names else None


def return_future(fn: Callable[..., Any]) -> Callable[..., asyncio.Future[Any]]:
    """Legacy decorator: give ``fn`` a ``callback`` and return a future of what it is called with.

    ``fn`` gets ``callback=`` (replacing one the caller passed, by keyword or by position); the
    future resolves with the callback's single argument (None when called with none). The
    caller's own callback, if any, is then called on the loop with the same argument (or none).
    An exception raised by ``fn`` before it called back fails the future (after, it propagates);
    ``fn`` must return None, else the future fails with ``ReturnValueIgnoredError``.
    """
    position = _callback_position(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        future = _create_future()
        bare: list[bool] = []  # the callback was called with no argument

        def callback(*value: Any) -> None:
            if len(value) > 1:
                raise TypeError(f"the @return_future callback takes one argument, got {value!r}")
            if not future.done():
                bare.extend([True] if not value else [])
                future.set_result(value[0] if value else None)

        caller_callback = kwargs.pop("callback", None)
        if position is not None and len(args) > position:
            caller_callback = args[position]
            args = (*args[:position], callback, *args[position + 1 :])
        else:
            kwargs["callback"] = callback
        try:
            if (result := fn(*args, **kwargs)) is not None:
                raise ReturnValueIgnoredError(
                    f"@return_future function {fn.__qualname__} returned {result!r}; "
                    "pass the value to the callback instead"
                )
        except Exception as exc:
            if future.done():
                raise
            future.set_exception(exc)
        if caller_callback is not None:
            forward = caller_callback
            _add_result_callback(future, lambda value: forward() if bare else forward(value))
        return future

    return wrapper
