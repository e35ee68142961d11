"""Generator-based coroutines and the helpers around them, as in ``tornado.gen``.

``@coroutine`` runs a generator function that yields futures, awaitables, lists or dicts of
them, ``None`` or ``moment``, and returns an ``asyncio.Future`` of its result. The Tornado 4
pieces that Tornado 6 removed are here too: ``Task`` (a callback API as a future), ``engine``,
``Callback``/``Wait``/``WaitAll`` and the ``callback=`` keyword.

How this works: one ``_Runner`` per coroutine call drives the generator. The first step runs
inside the call; afterwards the runner is woken by the done-callback of whatever was yielded
(one callback per step, no Task per step). Every step runs in a copy of the caller's context
made at the call, so context variables set in the generator stay there, and callbacks it
schedules carry the runner's exception sink (see ``squall._stack_context``).

Rules: importing this module creates no event loop (``moment`` is not a future); new futures go
to the running loop, else to ``IOLoop.current()``'s.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextvars
import datetime
import functools
import inspect
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any, NamedTuple, ParamSpec, TypeVar, overload

from squall import _stack_context
from squall._yieldables import (
    BadYieldError,
    _outcome,
    convert_yielded,
    moment,
    multi,
    sleep,
)
from squall.concurrent import (
    ReturnValueIgnoredError,
    _add_result_callback,
    _copy_outcome,
    _create_future,
    chain_future,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
    is_future,
)
from squall.ioloop import IOLoop
from squall.log import app_log

__all__ = [
    "Arguments",
    "BadYieldError",
    "Callback",
    "KeyReuseError",
    "LeakedCallbackError",
    "Multi",
    "MultiYieldPoint",
    "Return",
    "ReturnValueIgnoredError",
    "Task",
    "TimeoutError",
    "UnknownKeyError",
    "Wait",
    "WaitAll",
    "WaitIterator",
    "YieldPoint",
    "convert_yielded",
    "coroutine",
    "engine",
    "is_coroutine_function",
    "maybe_future",
    "moment",
    "multi",
    "multi_future",
    "sleep",
    "with_timeout",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

TimeoutError = builtins.TimeoutError  # what with_timeout raises; asyncio.TimeoutError on 3.11+


class Return(Exception):
    """Raised in a generator coroutine to return ``value`` (``return value`` works as well)."""

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self.value = value


class KeyReuseError(Exception):
    """``Callback(key)`` with a key that is already pending in this coroutine."""


class UnknownKeyError(Exception):
    """``Wait(key)`` for a key no ``Callback(key)`` registered."""


class LeakedCallbackError(Exception):
    """A coroutine finished while ``Callback`` keys it registered were never waited for."""


class Arguments(NamedTuple):
    """What a legacy callback was called with, when that was more than one positional value."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def _argument_value(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if kwargs or len(args) > 1:
        return Arguments(args, kwargs)
    return args[0] if args else None


# ---- converting what a coroutine yields -------------------------------------------------------


def maybe_future(x: Any) -> asyncio.Future[Any]:
    """Return ``x`` if it is a future (a ``concurrent.futures`` one wrapped), else a future of
    it. Deprecated in Tornado; kept without a warning."""
    if is_future(x):
        return convert_yielded(x)
    future = _create_future()
    future.set_result(x)
    return future


def is_coroutine_function(func: object) -> bool:
    """Return True if ``func`` was decorated with ``coroutine`` (or Tornado's own)."""
    return bool(
        getattr(func, "__squall_coroutine__", False)
        or getattr(func, "__tornado_coroutine__", False)
    )


# ---- coroutine, engine and the runner ---------------------------------------------------------


@overload
def coroutine(func: Callable[_P, Generator[Any, Any, _T]]) -> Callable[_P, asyncio.Future[_T]]: ...
@overload
def coroutine(func: Callable[_P, Coroutine[Any, Any, _T]]) -> Callable[_P, asyncio.Future[_T]]: ...
@overload
def coroutine(func: Callable[_P, _T]) -> Callable[_P, asyncio.Future[_T]]: ...
def coroutine(func: Callable[..., Any]) -> Callable[..., asyncio.Future[Any]]:
    """Decorate a generator function into a coroutine that returns an ``asyncio.Future``.

    The first step runs inside the call; the generator then resumes each time what it yielded
    resolves, with the result sent in or the exception thrown in. ``return x`` or
    ``raise Return(x)`` sets the result; an uncaught exception fails the future. A function that
    is not a generator gives a finished future of its return value. Legacy: a ``callback=``
    keyword is popped and called with the result on the loop.
    """
    return _make_coroutine(func, pop_callback=True)


def engine(func: Callable[..., Any]) -> Callable[..., None]:
    """Legacy decorator: run a generator function as ``coroutine`` does, but return None.

    The function reports completion through its own callback argument (which is not popped).
    Returning a value, or failing, raises in an IOLoop callback: logged, or routed to the
    exception sink that was in scope at the call (``ReturnValueIgnoredError`` for a value).
    """
    run = _make_coroutine(func, pop_callback=False)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        def check(done: asyncio.Future[Any]) -> None:
            if (value := done.result()) is not None:
                raise ReturnValueIgnoredError(
                    f"@gen.engine function {func.__qualname__} returned {value!r}; "
                    "engine functions cannot return values"
                )

        IOLoop.current().add_future(run(*args, **kwargs), check)

    return wrapper


def _make_coroutine(
    func: Callable[..., Any], pop_callback: bool
) -> Callable[..., asyncio.Future[Any]]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        callback = kwargs.pop("callback", None) if pop_callback else None
        future = _create_future()
        if future._source_traceback:  # type: ignore[attr-defined]  # set in asyncio debug mode
            _blame_the_caller(future)
        if callback is not None:
            _add_result_callback(future, callback)
        context = contextvars.copy_context()
        try:
            try:
                result = context.run(func, *args, **kwargs)
            except Return as ret:
                result = ret.value
            except asyncio.CancelledError:  # as asyncio.Task does: the future is cancelled
                future.cancel()
                return future
            except Exception as exc:
                future.set_exception(exc)
                return future
            if isinstance(result, Generator):
                context.run(_Runner, result, future, context)
            elif inspect.iscoroutine(result):
                chain_future(asyncio.ensure_future(result, loop=future.get_loop()), future)
            else:
                future.set_result(result)
            return future
        finally:
            # A failure's traceback keeps this frame: without the future in it, the failure
            # and the future holding it form no cycle, and both go as soon as unused.
            del future

    wrapper.__squall_coroutine__ = True  # type: ignore[attr-defined]  # is_coroutine_function
    wrapper.__tornado_coroutine__ = True  # type: ignore[attr-defined]  # Tornado's own check
    return wrapper


_PENDING = object()  # _Runner._resolve: the step is waiting for a future or a callback
_OWN_FILES = frozenset({__file__, _create_future.__code__.co_filename})


def _blame_the_caller(future: asyncio.Future[Any]) -> None:
    """In asyncio debug mode, make ``repr(future)`` say "created at" the coroutine's caller,
    not at squall's wrapper: drop squall's own frames from the end of the creation stack."""
    stack = future._source_traceback  # type: ignore[attr-defined]  # asyncio's debug record
    while stack and stack[-1][0] in _OWN_FILES:
        del stack[-1]


class _Runner:
    """Drives one generator to completion, settling ``result`` (see the module docstring).

    Also the object ``YieldPoint.start`` receives: the key-based legacy API
    (``register_callback``, ``is_ready``, ``set_result``, ``pop_result``, ``result_callback``).
    """

    def __init__(
        self,
        gen: Generator[Any, Any, Any],
        result: asyncio.Future[Any],
        context: contextvars.Context,
    ) -> None:
        self._gen, self._context = gen, context
        # None once settled: a failure's traceback holds this runner (through its frames),
        # so it must not hold the future that holds the failure.
        self.result_future: asyncio.Future[Any] | None = result
        self._loop = result.get_loop()
        self._awaiting: asyncio.Future[Any] | None = None
        self._yield_point: YieldPoint | None = None
        self.pending_callbacks: set[Any] = set()
        self.results: dict[Any, Any] = {}
        self._sink_pushed = self._cancel_thrown = False
        result.add_done_callback(self._on_result_done)
        del gen, result, context  # this frame may end up in a failure's traceback, too
        self._step(None, None)

    def _step(self, value: Any, error: BaseException | None) -> None:
        while True:
            try:
                yielded = self._gen.throw(error) if error is not None else self._gen.send(value)
            except (StopIteration, Return) as stop:
                self._finish(stop.value, None)
                return
            except asyncio.CancelledError:
                value = error = None  # this frame is in the failure's traceback: see _wake
                if (future := self._settle()) is not None:
                    future.cancel()
                return
            except Exception as exc:
                value = error = None
                self._finish(None, exc)
                return
            value, error = self._resolve(yielded)
            if value is _PENDING:
                return

    def _resolve(self, yielded: Any) -> tuple[Any, BaseException | None]:
        """What to send into the generator now, or ``_PENDING`` once a wake-up is arranged."""
        loop = self._loop
        if yielded is None or yielded is moment:  # resume after one loop iteration
            self._awaiting = future = loop.create_future()
            loop.call_soon(self._wake, future, context=self._context)
            return _PENDING, None
        try:
            if _holds_yield_points(yielded):
                yielded = MultiYieldPoint(yielded)
            if isinstance(yielded, YieldPoint):
                yielded.start(self)
                if yielded.is_ready():
                    return yielded.get_result(), None
                self._yield_point, future = yielded, loop.create_future()
            else:
                future = convert_yielded(yielded)
        except Exception as exc:
            return None, exc
        if future.done():
            return _outcome(future)
        self._awaiting = future
        future.add_done_callback(self._wake, context=self._context)
        return _PENDING, None

    def _wake(self, future: asyncio.Future[Any]) -> None:
        if not future.done():  # the moment future, resolved here (cancelled by _on_result_done)
            future.set_result(None)
        self._awaiting, point, self._yield_point = None, self._yield_point, None
        value, error = _outcome(future)
        if (
            self.result_future is not None
            and self.result_future.cancelled()
            and not self._cancel_thrown
        ):
            self._cancel_thrown = True  # once, as asyncio.Task does; the generator may go on
            value, error = None, asyncio.CancelledError()
        elif point is not None and error is None:
            try:
                value = point.get_result()
            except Exception as exc:
                value, error = None, exc
        self._step(value, error)
        # A failure thrown into the generator has _step's frame in its traceback, and that
        # frame's f_back is this one: holding the failure (or the future that holds it) here
        # would make a reference cycle of every failed coroutine (circlerefs_test).
        del future, value, error

    def _finish(self, value: Any, error: BaseException | None) -> None:
        if error is None and self.pending_callbacks:
            error = LeakedCallbackError(
                f"coroutine finished without waiting for callbacks {self.pending_callbacks!r}"
            )
        if (future := self._settle()) is None:
            return
        if error is None:
            future_set_result_unless_cancelled(future, value)
        else:
            future_set_exception_unless_cancelled(future, error)

    def _settle(self) -> asyncio.Future[Any] | None:
        future, self.result_future = self.result_future, None
        return future

    def _on_result_done(self, result: asyncio.Future[Any]) -> None:
        # Cancelled from outside: cancel what the generator waits for, as asyncio.Task does,
        # so that CancelledError is thrown into it.
        if result.cancelled() and self._awaiting is not None:
            self._awaiting.cancel()

    def _take_exception(self, exc: BaseException) -> bool:
        # Sink for callbacks scheduled by this coroutine once it used Callback keys: an error
        # is thrown in while it waits on a yield point (Tornado 4's runner did the same).
        waiting = self._awaiting
        if self._yield_point is None or waiting is None or waiting.done():
            return False
        waiting.set_exception(exc)
        return True

    # ---- the legacy key-based API used by YieldPoints --------------------------------------

    def register_callback(self, key: Any) -> None:
        """Expect a callback for ``key``; raises ``KeyReuseError`` if one is pending already."""
        if key in self.pending_callbacks:
            raise KeyReuseError(f"key {key!r} is already pending; use a new key per Callback")
        self.pending_callbacks.add(key)
        if not self._sink_pushed:  # steps run in self._context, so this lands there
            self._sink_pushed = True
            _stack_context.push_sink(self._take_exception)

    def is_ready(self, key: Any) -> bool:
        """Return True once the callback for ``key`` was called; ``UnknownKeyError`` if unknown."""
        if key not in self.pending_callbacks:
            raise UnknownKeyError(f"key {key!r} is not pending; yield gen.Callback({key!r}) first")
        return key in self.results

    def set_result(self, key: Any, result: Any) -> None:
        """Record the result for ``key`` and wake the generator if its yield point is ready."""
        self.results[key] = result
        point = self._yield_point
        if point is not None and self._awaiting is not None and not self._awaiting.done():
            try:
                ready = point.is_ready()
            except Exception as exc:
                self._awaiting.set_exception(exc)
                return
            if ready:
                self._awaiting.set_result(None)

    def pop_result(self, key: Any) -> Any:
        """Return the result for ``key`` and forget the key."""
        self.pending_callbacks.remove(key)
        return self.results.pop(key)

    def result_callback(self, key: Any) -> Callable[..., None]:
        """A callback that records its arguments (see ``Task``) as the result for ``key``."""

        def callback(*args: Any, **kwargs: Any) -> None:
            self.set_result(key, _argument_value(args, kwargs))

        return callback


def _holds_yield_points(yielded: object) -> bool:
    if isinstance(yielded, dict):
        yielded = list(yielded.values())
    return isinstance(yielded, list) and any(isinstance(y, YieldPoint) for y in yielded)


# ---- legacy: Task and the key-based yield points ----------------------------------------------


def Task(func: Callable[..., object], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
    """Call ``func(*args, callback=cb, **kwargs)`` and return a future of what ``cb`` gets.

    The future resolves with None when ``cb()`` has no arguments, the argument when it has one,
    else ``Arguments(args, kwargs)``. An exception raised by ``func`` itself fails the future,
    and so does one raised, while the future is pending, in any callback that ``func``
    scheduled (directly or not) through the IOLoop: the waiting coroutine gets it thrown in.
    """
    future = _create_future()

    def callback(*args: Any, **kwargs: Any) -> None:
        if not future.done():
            future.set_result(_argument_value(args, kwargs))

    def sink(exc: BaseException) -> bool:
        if future.done():
            return False
        future.set_exception(exc)
        return True

    def start() -> None:
        _stack_context.push_sink(sink)
        func(*args, callback=callback, **kwargs)

    try:
        contextvars.copy_context().run(start)
    except Exception as exc:
        if not sink(exc):
            raise
    return future


class YieldPoint:
    """Base of the legacy objects a coroutine or ``engine`` may yield (``Callback``, ``Wait``).

    The runner calls ``start(runner)``, then ``get_result()`` once ``is_ready()``; it checks
    again each time a keyed callback of the runner is called.
    """

    def start(self, runner: _Runner) -> None:
        """Called when yielded, with the coroutine's runner."""
        raise NotImplementedError(f"{type(self).__name__} must implement start()")

    def is_ready(self) -> bool:
        """Return True when ``get_result()`` can be called."""
        raise NotImplementedError(f"{type(self).__name__} must implement is_ready()")

    def get_result(self) -> Any:
        """Return the value sent into the generator (or raise, to throw into it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_result()")


class Callback(YieldPoint):
    """``cb = yield Callback(key)``: get a callback whose arguments ``Wait(key)`` returns."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def start(self, runner: _Runner) -> None:
        """Register the key with the runner (``KeyReuseError`` if it is pending already)."""
        self.runner = runner
        runner.register_callback(self.key)

    def is_ready(self) -> bool:
        """Always ready: the result is the callback itself."""
        return True

    def get_result(self) -> Callable[..., None]:
        """The callback for the key."""
        return self.runner.result_callback(self.key)


class Wait(YieldPoint):
    """``value = yield Wait(key)``: wait until the callback for ``key`` is called."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def start(self, runner: _Runner) -> None:
        """Remember the runner; the key must have been registered with ``Callback``."""
        self.runner = runner

    def is_ready(self) -> bool:
        """True once the callback was called; ``UnknownKeyError`` for an unregistered key."""
        return self.runner.is_ready(self.key)

    def get_result(self) -> Any:
        """What the callback got (see ``Task``); the key is then free again."""
        return self.runner.pop_result(self.key)


class WaitAll(YieldPoint):
    """``values = yield WaitAll(keys)``: wait for several callbacks; a list in ``keys`` order."""

    def __init__(self, keys: Iterable[Any]) -> None:
        self.keys = list(keys)

    def start(self, runner: _Runner) -> None:
        """Remember the runner."""
        self.runner = runner

    def is_ready(self) -> bool:
        """True once every key's callback was called."""
        return all(self.runner.is_ready(key) for key in self.keys)

    def get_result(self) -> list[Any]:
        """The callbacks' values, in ``keys`` order."""
        return [self.runner.pop_result(key) for key in self.keys]


class MultiYieldPoint(YieldPoint):
    """A list or dict of yield points, waited for together (made when a coroutine yields one)."""

    def __init__(self, children: list[Any] | dict[Any, Any]) -> None:
        self.keys = list(children) if isinstance(children, dict) else None
        self.children = list(children.values() if isinstance(children, dict) else children)
        for child in self.children:
            if not isinstance(child, YieldPoint):
                raise BadYieldError(f"cannot mix yield points and {child!r} in one yield")

    def start(self, runner: _Runner) -> None:
        """Start every child."""
        for child in self.children:
            child.start(runner)

    def is_ready(self) -> bool:
        """True once every child is ready."""
        return all(child.is_ready() for child in self.children)

    def get_result(self) -> list[Any] | dict[Any, Any]:
        """The children's results, as a list or a dict like the yielded collection."""
        results = [child.get_result() for child in self.children]
        return results if self.keys is None else dict(zip(self.keys, results, strict=True))


# ---- multi, timeouts, sleep, WaitIterator -----------------------------------------------------


Multi = multi
multi_future = multi


def with_timeout(
    timeout: float | datetime.timedelta,
    future: Any,
    quiet_exceptions: type[BaseException] | tuple[type[BaseException], ...] = (),
    message: str | Callable[[], str] | None = None,
) -> asyncio.Future[Any]:
    """Wrap ``future`` (any yieldable) in a future that fails with ``TimeoutError`` at ``timeout``.

    ``timeout`` is a deadline on ``IOLoop.time()`` (``time.time()``) or a ``timedelta`` from now.
    The error's message is ``message`` (or what it returns, if callable: it is called only on
    timeout), else "Timeout". The wrapped future is not cancelled on timeout, and is kept alive
    until then; if it fails later, the error is logged on ``squall.application`` unless it is
    one of ``quiet_exceptions``.
    """
    inner = convert_yielded(future)
    result = _create_future()
    if isinstance(timeout, datetime.timedelta):
        delay = timeout.total_seconds()
    else:
        delay = timeout - IOLoop.current().time()

    def on_timeout() -> None:
        # Names ``inner``: the timer keeps the wrapped work (and what it waits on) alive even
        # when nothing else refers to it, so a collection cannot destroy it half-way.
        if not result.done() and not inner.done():
            text = message() if callable(message) else message
            result.set_exception(TimeoutError("Timeout" if text is None else text))

    def on_inner_done(done: asyncio.Future[Any]) -> None:
        error = _outcome(done)[1]
        if not result.done():
            _copy_outcome(done, result)
        elif error is not None and not isinstance(
            error, (asyncio.CancelledError, quiet_exceptions)
        ):
            # Finished too late (timed out, or the caller cancelled): report the failure.
            app_log.error("Exception in Future %r after timeout", done, exc_info=error)

    timer = result.get_loop().call_later(max(delay, 0.0), on_timeout)
    inner.add_done_callback(on_inner_done)
    result.add_done_callback(lambda _: timer.cancel())
    return result


class WaitIterator:
    """Iterate over futures in the order they finish: ``while not it.done(): await it.next()``.

    Give futures positionally or by keyword (not both); ``current_index`` is the position or
    key of the future just returned, ``current_future`` that future. ``async for result in it``
    works too. A future's exception is raised by the ``next()`` that returns it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("WaitIterator takes futures positionally or by keyword, not both")
        pairs = list(kwargs.items()) if kwargs else list(enumerate(args))
        futures = [(key, convert_yielded(f)) for key, f in pairs]
        # A future given twice is returned twice, once per key, in the order given.
        self._unfinished: dict[asyncio.Future[Any], collections.deque[Any]] = {}
        for key, future in futures:
            self._unfinished.setdefault(future, collections.deque()).append(key)
        self._finished: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._running: asyncio.Future[Any] | None = None
        self.current_index: Any = None
        self.current_future: asyncio.Future[Any] | None = None
        for _, future in futures:
            future.add_done_callback(self._on_done)

    def done(self) -> bool:
        """Return True when every future has been returned by ``next()``."""
        if self._finished or self._unfinished:
            return False
        self.current_index = self.current_future = None
        return True

    def next(self) -> asyncio.Future[Any]:
        """Return a future of the next future to finish (its result, or its exception)."""
        self._running = running = _create_future()
        if self._finished:
            self._hand_over(self._finished.popleft(), running)
        return running

    def _on_done(self, done: asyncio.Future[Any]) -> None:
        if (running := self._running) is not None and not running.done():
            self._hand_over(done, running)
        else:
            self._finished.append(done)

    def _hand_over(self, done: asyncio.Future[Any], running: asyncio.Future[Any]) -> None:
        keys = self._unfinished[done]
        self.current_future, self.current_index = done, keys.popleft()
        if not keys:
            del self._unfinished[done]
        _copy_outcome(done, running)  # now, not later: the next _on_done must see it done

    def __aiter__(self) -> WaitIterator:
        return self

    async def __anext__(self) -> Any:
        if self.done():
            raise StopAsyncIteration
        return await self.next()
