"""Coroutine synchronization primitives, as in ``tornado.locks``.

``Condition``, ``Event``, ``Semaphore``, ``BoundedSemaphore`` and ``Lock`` coordinate
coroutines on one event loop; they are not thread-safe. Every wait takes an optional
``timeout``: an absolute time on ``IOLoop.time()`` or a ``datetime.timedelta`` from now.

How this works: each primitive keeps its blocked waiters in a ``_Waiters`` deque of
(future, timer), so waiters are served first come, first served. A waiter that times out or
whose caller cancelled it is skipped when it reaches the front and dropped in bulk by sweeps
(see ``_Waiters``), so nothing accumulates however many waiters give up, and no per-waiter
callback is paid. Waking a waiter resolves its future (and cancels its timer); its coroutine
resumes on the loop's next iteration.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
from collections.abc import Callable
from types import TracebackType
from typing import Any

from squall.concurrent import _create_future
from squall.ioloop import IOLoop

__all__ = ["BoundedSemaphore", "Condition", "Event", "Lock", "Semaphore"]

_Timeout = float | datetime.timedelta


_SWEEP_AFTER = 100  # timed-out waiters tolerated before a sweep is considered
_SWEEP_MIN = 128  # waiters queued before the first check for ones their callers cancelled
_get_running_loop = asyncio._get_running_loop
_Future = asyncio.Future


def _call_at_deadline(
    loop: asyncio.AbstractEventLoop, timeout: _Timeout, callback: Callable[..., object], *args: Any
) -> asyncio.TimerHandle:
    """Schedule ``callback(*args)`` on ``loop`` at ``timeout``.

    ``timeout`` is an absolute time on ``IOLoop.time()`` or a ``datetime.timedelta`` from now;
    anything else raises TypeError.
    """
    if isinstance(timeout, datetime.timedelta):
        delay = timeout.total_seconds()
    elif isinstance(timeout, int | float):
        delay = timeout - IOLoop.current().time()
    else:
        raise TypeError(
            f"Unsupported timeout {timeout!r}: pass a number on IOLoop.time() or a timedelta"
        )
    return loop.call_later(max(delay, 0.0), callback, *args)


class _Waiters:
    """Blocked waiters in arrival order (a deque of futures); timers of the timed ones apart.

    Waking takes the oldest waiter still pending and cancels its timer. A waiter that timed
    out or that its caller cancelled stays until it reaches the front, or until a sweep: one
    runs once over ``_SWEEP_AFTER`` timed-out waiters outnumber the live ones, and one when the
    deque has doubled since the last (which catches cancelled waiters without paying a
    done-callback per waiter). So memory stays proportional to the live waiters.
    """

    __slots__ = ("_deque", "_sweep_at", "_timed_out", "_timers")

    def __init__(self) -> None:
        self._deque: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._timers: dict[asyncio.Future[Any], asyncio.TimerHandle] = {}
        self._timed_out = 0
        self._sweep_at = _SWEEP_MIN

    def __len__(self) -> int:
        return len(self._deque)

    def add(
        self, timeout: _Timeout | None, on_timeout: Callable[[asyncio.Future[Any]], object]
    ) -> asyncio.Future[Any]:
        """Queue a new waiter; at ``timeout``, if still pending, ``on_timeout(it)`` runs."""
        deque = self._deque
        if len(deque) >= self._sweep_at:
            self._sweep()
            deque = self._deque
        loop = _get_running_loop()
        waiter: asyncio.Future[Any] = _Future(loop=loop) if loop is not None else _create_future()
        if timeout is not None:
            self._timers[waiter] = _call_at_deadline(
                waiter.get_loop(), timeout, self._expire, waiter, on_timeout
            )
        deque.append(waiter)
        return waiter

    def _expire(
        self, waiter: asyncio.Future[Any], on_timeout: Callable[[asyncio.Future[Any]], object]
    ) -> None:
        self._timers.pop(waiter, None)
        if waiter.done():  # cancelled by its caller meanwhile
            return
        on_timeout(waiter)
        self._timed_out += 1
        if self._timed_out > _SWEEP_AFTER and self._timed_out * 2 > len(self._deque):
            self._sweep()

    def _sweep(self) -> None:
        live = collections.deque(waiter for waiter in self._deque if not waiter.done())
        timers = self._timers
        for waiter in [waiter for waiter in timers if waiter.done()]:
            timers.pop(waiter).cancel()
        self._deque = live
        self._timed_out = 0
        self._sweep_at = max(_SWEEP_MIN, 2 * len(live))

    def pop(self) -> asyncio.Future[Any] | None:
        """Take the oldest waiter still pending (cancelling its timer), or None."""
        deque, timers = self._deque, self._timers
        while deque:
            waiter = deque.popleft()
            if timers and (timer := timers.pop(waiter, None)) is not None:
                timer.cancel()
            if not waiter.done():
                return waiter
            if not waiter.cancelled():  # it timed out: it was counted
                self._timed_out = max(self._timed_out - 1, 0)
        return None


def _fail_with_timeout(waiter: asyncio.Future[Any]) -> None:
    waiter.set_exception(TimeoutError("Timeout"))


def _resolve_false(waiter: asyncio.Future[Any]) -> None:
    waiter.set_result(False)


def _done_future(value: Any) -> asyncio.Future[Any]:
    loop = _get_running_loop()
    future: asyncio.Future[Any] = _Future(loop=loop) if loop is not None else _create_future()
    future.set_result(value)
    return future


async def _acquire_or_give_back(
    owner: Semaphore | Lock, waiter: asyncio.Future[_ReleasingContextManager]
) -> None:
    # A task cancelled just after release() handed it the semaphore must hand it back, or
    # the count is lost for good.
    try:
        await waiter
    except asyncio.CancelledError:
        if waiter.done() and not waiter.cancelled():
            owner.release()
        raise


class Condition:
    """Let coroutines wait until another one notifies them.

    ``await condition.wait()`` blocks until ``notify()`` or ``notify_all()``; waiters wake in
    the order they began waiting. Unlike ``threading.Condition`` there is no lock to hold.
    """

    def __init__(self) -> None:
        self._waiters = _Waiters()

    def __repr__(self) -> str:
        waiting = f" waiters[{len(self._waiters)}]" if self._waiters else ""
        return f"<{type(self).__name__}{waiting}>"

    def wait(self, timeout: _Timeout | None = None) -> asyncio.Future[bool]:
        """Wait for a notification; the future resolves True, or False once ``timeout`` passes.

        A waiter that timed out, or that its caller cancelled, is not counted by ``notify``.
        """
        return self._waiters.add(timeout, _resolve_false)

    def notify(self, n: int = 1) -> None:
        """Wake the ``n`` longest-waiting coroutines (fewer if fewer wait)."""
        waiters = self._waiters
        for _ in range(n):
            if (waiter := waiters.pop()) is None:
                break
            waiter.set_result(True)  # its callbacks run later: notify() is not re-entered

    def notify_all(self) -> None:
        """Wake every waiting coroutine."""
        self.notify(len(self._waiters))


class Event:
    """A flag coroutines can wait on: ``wait()`` blocks until ``set()`` is called.

    ``clear()`` makes later ``wait()`` calls block again; waiters already woken stay woken.
    """

    def __init__(self) -> None:
        self._value = False
        self._waiters = _Waiters()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'set' if self._value else 'clear'}>"

    def is_set(self) -> bool:
        """Return True if the flag is set."""
        return self._value

    def set(self) -> None:
        """Set the flag and wake every waiter; calling it again while set does nothing."""
        if self._value:
            return
        self._value = True
        while (waiter := self._waiters.pop()) is not None:
            waiter.set_result(None)

    def clear(self) -> None:
        """Reset the flag: ``wait()`` blocks again until the next ``set()``."""
        self._value = False

    def wait(self, timeout: _Timeout | None = None) -> asyncio.Future[None]:
        """Return a future that resolves once the flag is set (at once if it is set).

        After ``timeout`` the future fails with ``TimeoutError`` and the waiter is dropped.
        """
        if self._value:
            return _done_future(None)
        return self._waiters.add(timeout, _fail_with_timeout)


class _ReleasingContextManager:
    """What ``acquire()`` resolves to: ``with (yield sem.acquire()):`` releases on exit."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Semaphore) -> None:
        self._obj = obj

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._obj.release()


class Semaphore:
    """A counter that ``acquire()`` decrements, blocking at zero, and ``release()`` increments.

    Use ``async with sem:`` (or ``with (yield sem.acquire()):`` in a generator coroutine);
    a plain ``with sem:`` raises RuntimeError. Blocked acquirers are served in arrival order.
    ``release()`` may raise the value above its start (see ``BoundedSemaphore`` for a cap).
    A negative ``value`` raises ValueError.
    """

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError(f"semaphore initial value must be >= 0, not {value}")
        self._value = value
        self._waiters = _Waiters()

    def __repr__(self) -> str:
        state = "locked" if self._value == 0 else f"unlocked,value:{self._value}"
        if self._waiters:
            state += f",waiters:{len(self._waiters)}"
        return f"<{type(self).__module__}.{type(self).__qualname__} at {id(self):#x} [{state}]>"

    def release(self) -> None:
        """Increment the counter, handing it straight to the longest-waiting acquirer if any."""
        waiter = self._waiters.pop()
        if waiter is None:
            self._value += 1
        else:
            waiter.set_result(_ReleasingContextManager(self))

    def acquire(self, timeout: _Timeout | None = None) -> asyncio.Future[_ReleasingContextManager]:
        """Decrement the counter; the future resolves once it could.

        It resolves to a context manager whose exit releases. After ``timeout`` the future fails
        with ``TimeoutError`` and the counter is left alone.
        """
        if self._value > 0:
            self._value -= 1
            loop = _get_running_loop()
            future = _Future(loop=loop) if loop is not None else _create_future()
            future.set_result(_ReleasingContextManager(self))
            return future
        return self._waiters.add(timeout, _fail_with_timeout)

    def __enter__(self) -> None:
        raise RuntimeError(
            f"Use 'async with {type(self).__name__}' (or 'with (yield sem.acquire())'), not 'with'"
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__enter__()

    async def __aenter__(self) -> None:
        await _acquire_or_give_back(self, self.acquire())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    """A ``Semaphore`` whose ``release()`` raises ValueError rather than exceed its start value.

    Releasing more often than acquiring is usually a bug; this catches it.
    """

    def __init__(self, value: int = 1) -> None:
        super().__init__(value=value)
        self._initial_value = value

    def release(self) -> None:
        """Increment the counter; raises ValueError if it is already at its initial value."""
        if self._value >= self._initial_value:
            raise ValueError("Semaphore released too many times")
        super().release()


class Lock:
    """A mutex for coroutines: ``async with lock:`` holds it for the block.

    Blocked acquirers get the lock in arrival order. ``release()`` of an unlocked lock raises
    RuntimeError; so does a plain ``with lock:`` (use ``async with`` or
    ``with (yield lock.acquire()):``).
    """

    def __init__(self) -> None:
        self._block = BoundedSemaphore(value=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} _block={self._block}>"

    def acquire(self, timeout: _Timeout | None = None) -> asyncio.Future[_ReleasingContextManager]:
        """Take the lock; the future resolves to a context manager that releases it.

        After ``timeout`` the future fails with ``TimeoutError`` and the lock is not taken.
        """
        return self._block.acquire(timeout)

    def release(self) -> None:
        """Unlock, handing the lock to the longest-waiting acquirer if any.

        Raises RuntimeError if the lock is not held.
        """
        try:
            self._block.release()
        except ValueError:
            raise RuntimeError("release unlocked lock") from None

    def __enter__(self) -> None:
        raise RuntimeError("Use 'async with Lock' (or 'with (yield lock.acquire())'), not 'with'")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__enter__()

    async def __aenter__(self) -> None:
        await _acquire_or_give_back(self, self.acquire())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
