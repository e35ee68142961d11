"""Coroutine synchronization primitives, as in ``tornado.locks``.

``Condition``, ``Event``, ``Semaphore``, ``BoundedSemaphore`` and ``Lock`` coordinate
coroutines on one event loop; they are not thread-safe. Every wait takes an optional
``timeout``: an absolute time on ``IOLoop.time()`` or a ``datetime.timedelta`` from now.

How this works: each primitive keeps its blocked waiters in a ``_Waiters`` queue, an ordered
dict of future -> timer, so waiters are served first come, first served, and a waiter that
times out or is cancelled by its caller leaves the queue at once (O(1)): nothing accumulates
however many waiters give up. Waking a waiter resolves its future; its coroutine resumes on
the loop's next iteration, as with any asyncio future.
"""

from __future__ import annotations

import asyncio
import datetime
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType
from typing import Any

from squall.concurrent import _create_future
from squall.ioloop import IOLoop

__all__ = ["BoundedSemaphore", "Condition", "Event", "Lock", "Semaphore"]

Timeout = float | datetime.timedelta


class _Waiters:
    """Blocked waiters in arrival order, each with its timeout timer (or None)."""

    __slots__ = ("_futures",)

    def __init__(self) -> None:
        self._futures: OrderedDict[asyncio.Future[Any], asyncio.TimerHandle | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._futures)

    def add(
        self, timeout: Timeout | None, on_timeout: Callable[[asyncio.Future[Any]], object]
    ) -> asyncio.Future[Any]:
        """Queue a new waiter; at ``timeout`` it leaves the queue and ``on_timeout(it)`` runs."""
        waiter = _create_future()
        timer = None
        if timeout is not None:
            timer = IOLoop.current().add_timeout(timeout, self._expire, waiter, on_timeout)
        self._futures[waiter] = timer
        waiter.add_done_callback(self._discard)
        return waiter

    def _expire(
        self, waiter: asyncio.Future[Any], on_timeout: Callable[[asyncio.Future[Any]], object]
    ) -> None:
        if waiter in self._futures:
            del self._futures[waiter]
            if not waiter.done():
                on_timeout(waiter)

    def _discard(self, waiter: asyncio.Future[Any]) -> None:
        # Runs once the waiter is done by any route; a caller's cancel() is the one that
        # leaves it queued until here.
        if (timer := self._futures.pop(waiter, None)) is not None:
            timer.cancel()

    def pop(self) -> asyncio.Future[Any] | None:
        """Take the oldest waiter still pending, or None."""
        while self._futures:
            waiter, timer = self._futures.popitem(last=False)
            if timer is not None:
                timer.cancel()
            if not waiter.done():
                return waiter
        return None


def _fail_with_timeout(waiter: asyncio.Future[Any]) -> None:
    waiter.set_exception(TimeoutError("Timeout"))


def _resolve_false(waiter: asyncio.Future[Any]) -> None:
    waiter.set_result(False)


def _done_future(value: Any) -> asyncio.Future[Any]:
    future = _create_future()
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

    def wait(self, timeout: Timeout | None = None) -> asyncio.Future[bool]:
        """Wait for a notification; the future resolves True, or False once ``timeout`` passes.

        A waiter that timed out, or that its caller cancelled, is not counted by ``notify``.
        """
        return self._waiters.add(timeout, _resolve_false)

    def notify(self, n: int = 1) -> None:
        """Wake the ``n`` longest-waiting coroutines (fewer if fewer wait)."""
        woken: list[asyncio.Future[Any]] = []
        while len(woken) < n and (waiter := self._waiters.pop()) is not None:
            woken.append(waiter)
        for waiter in woken:
            waiter.set_result(True)

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

    def wait(self, timeout: Timeout | None = None) -> asyncio.Future[None]:
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

    def acquire(self, timeout: Timeout | None = None) -> asyncio.Future[_ReleasingContextManager]:
        """Decrement the counter; the future resolves once it could.

        It resolves to a context manager whose exit releases. After ``timeout`` the future fails
        with ``TimeoutError`` and the counter is left alone.
        """
        if self._value > 0:
            self._value -= 1
            return _done_future(_ReleasingContextManager(self))
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

    def acquire(self, timeout: Timeout | None = None) -> asyncio.Future[_ReleasingContextManager]:
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
