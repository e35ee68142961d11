"""Queues for coroutines, as in ``tornado.queues``: ``Queue``, ``PriorityQueue``, ``LifoQueue``.

A producer ``await q.put(item)`` (blocking while a bounded queue is full); a consumer
``await q.get()`` (blocking while it is empty) or ``async for item in q``, then calls
``q.task_done()`` so that ``await q.join()`` can tell when everything put was processed. Like
``squall.locks`` these are for coroutines on one event loop, not for threads. Timeouts are
an absolute time on ``IOLoop.time()`` or a ``datetime.timedelta`` from now.

How this works: blocked getters and putters wait in FIFO deques (the timers of those with a
timeout are kept apart), and an item goes straight to the longest-waiting getter (a freed slot
to the longest-waiting putter). A waiter that times out or is cancelled stays in its deque,
marked done, until ``put``/``get`` reaches it at the front, as in Tornado. Besides, both
deques are swept once timed-out waiters outnumber live ones (and there are over
``_SWEEP_AFTER``), and when a deque has doubled since its last sweep (which catches cancelled
ones: no per-waiter callback is paid), so memory stays proportional to the live waiters
however many give up.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import heapq
from collections.abc import Awaitable
from typing import Any, Generic, TypeVar

from squall.concurrent import _create_future
from squall.locks import Event, _call_at_deadline

__all__ = ["LifoQueue", "PriorityQueue", "Queue", "QueueEmpty", "QueueFull"]

_T = TypeVar("_T")
_Timeout = float | datetime.timedelta

_EMPTY: Any = object()  # what _try_get() returns for an empty queue
_get_running_loop = asyncio._get_running_loop
_Future = asyncio.Future
_SWEEP_AFTER = 100  # timed-out waiters tolerated before a sweep is considered
_SWEEP_MIN = 128  # waiters queued before a deque is first checked for cancelled ones


class QueueEmpty(Exception):
    """Raised by ``Queue.get_nowait`` when the queue holds no item."""


class QueueFull(Exception):
    """Raised by ``Queue.put_nowait`` when the queue is at its ``maxsize``."""


class _QueueIterator(Generic[_T]):
    """``async for item in queue``: each step is ``await queue.get()``; it never ends."""

    def __init__(self, q: Queue[_T]) -> None:
        self.q = q

    def __anext__(self) -> Awaitable[_T]:
        return self.q.get()


class Queue(Generic[_T]):
    """A FIFO queue for coroutines, bounded by ``maxsize`` (0, the default, is unbounded).

    ``put``/``get`` return futures (resolved at once when they need not wait); the
    ``_nowait`` forms raise ``QueueFull``/``QueueEmpty`` instead of waiting. Every item put
    counts as an unfinished task until ``task_done()``; ``join()`` waits for none to be left.
    A float ``maxsize`` bounds the queue at its ceiling. ``maxsize=None`` raises TypeError and a
    negative one ValueError. Subclasses change the order by overriding ``_init``, ``_put`` and
    ``_get`` (see ``PriorityQueue``).
    """

    _queue: Any

    def __init__(self, maxsize: int = 0) -> None:
        if maxsize is None:
            raise TypeError("maxsize can't be None; use 0 for an unbounded queue")
        if maxsize < 0:
            raise ValueError(f"maxsize must be >= 0, not {maxsize}")
        self._maxsize = maxsize
        self._init()
        self._getters: collections.deque[asyncio.Future[_T]] = collections.deque()
        self._putters: collections.deque[tuple[_T, asyncio.Future[None]]] = collections.deque()
        self._timers: dict[asyncio.Future[Any], asyncio.TimerHandle] = {}  # of timed waiters
        self._timed_out = 0  # timed-out waiters still in the deques
        self._sweep_at = _SWEEP_MIN  # deque length that triggers a check for cancelled waiters
        self._unfinished_tasks = 0
        self._finished = Event()
        self._finished.set()

    @property
    def maxsize(self) -> int:
        """The number of items the queue holds at most (0: no bound)."""
        return self._maxsize

    def qsize(self) -> int:
        """Return the number of items in the queue."""
        return len(self._queue)

    def empty(self) -> bool:
        """Return True if the queue holds no item."""
        return not self._queue

    def full(self) -> bool:
        """Return True if the queue is bounded and holds ``maxsize`` items or more."""
        return self._maxsize > 0 and self.qsize() >= self._maxsize

    def put(self, item: _T, timeout: _Timeout | None = None) -> asyncio.Future[None]:
        """Put ``item`` in the queue, waiting for room if it is full.

        The future resolves once the item is in; after ``timeout`` it fails with TimeoutError
        and the item is not put. Waiting putters get room in arrival order.
        """
        loop = _get_running_loop()
        future: asyncio.Future[None] = _Future(loop=loop) if loop else _create_future()
        if self._try_put(item):
            future.set_result(None)
        else:
            if len(self._putters) >= self._sweep_at:
                self._sweep()
            if timeout is not None:
                self._set_timer(future, timeout)
            self._putters.append((item, future))
        return future

    def put_nowait(self, item: _T) -> None:
        """Put ``item`` in the queue without waiting; raises ``QueueFull`` if there is no room.

        A waiting getter receives it (its future resolves; it resumes on the next iteration).
        """
        if not self._try_put(item):
            raise QueueFull

    def _try_put(self, item: _T) -> bool:
        # put_nowait() without the exception: put() takes this path on every call.
        getters, putters = self._getters, self._putters
        if (getters and getters[0].done()) or (putters and putters[0][1].done()):
            self._drop_dead_heads()
        if getters:
            getter = getters.popleft()  # getters only wait on an empty queue
            if self._timers:
                self._cancel_timer(getter)
            self._put_counted(item)
            getter.set_result(self._get())
            return True
        if self.full():
            return False
        self._put_counted(item)
        return True

    def get(self, timeout: _Timeout | None = None) -> asyncio.Future[_T]:
        """Remove and return an item, waiting for one if the queue is empty.

        After ``timeout`` the future fails with TimeoutError. Waiting getters are served in
        arrival order. A getter cancelled after its future resolved loses that item: cancel
        the waiting, not the delivery.
        """
        loop = _get_running_loop()
        future: asyncio.Future[_T] = _Future(loop=loop) if loop else _create_future()
        item = self._try_get()
        if item is not _EMPTY:
            future.set_result(item)
        else:
            if len(self._getters) >= self._sweep_at:
                self._sweep()
            if timeout is not None:
                self._set_timer(future, timeout)
            self._getters.append(future)
        return future

    def get_nowait(self) -> _T:
        """Remove and return an item without waiting; raises ``QueueEmpty`` if there is none.

        The longest-waiting putter's item enters the queue in its place.
        """
        item = self._try_get()
        if item is _EMPTY:
            raise QueueEmpty
        return item  # type: ignore[no-any-return]  # not the sentinel: an item

    def _try_get(self) -> Any:
        # get_nowait() without the exception (_EMPTY instead): get() takes this path.
        getters, putters = self._getters, self._putters
        if (getters and getters[0].done()) or (putters and putters[0][1].done()):
            self._drop_dead_heads()
        if putters:
            item, putter = putters.popleft()  # putters only wait on a full queue
            if self._timers:
                self._cancel_timer(putter)
            self._put_counted(item)
            putter.set_result(None)
            return self._get()
        if self.qsize():
            return self._get()
        return _EMPTY

    def task_done(self) -> None:
        """Mark one item taken from the queue as processed.

        When every item put has been marked, ``join()`` waiters wake. Raises ValueError if
        called more times than items were put.
        """
        if self._unfinished_tasks <= 0:
            raise ValueError("task_done() called more times than items were put")
        self._unfinished_tasks -= 1
        if self._unfinished_tasks == 0:
            self._finished.set()

    def join(self, timeout: _Timeout | None = None) -> asyncio.Future[None]:
        """Wait until every item put has been marked with ``task_done()``.

        After ``timeout`` the future fails with TimeoutError.
        """
        return self._finished.wait(timeout)

    def __aiter__(self) -> _QueueIterator[_T]:
        return _QueueIterator(self)

    # ---- the storage, for subclasses ------------------------------------------------------------

    def _init(self) -> None:
        self._queue = collections.deque()

    def _get(self) -> _T:
        return self._queue.popleft()  # type: ignore[no-any-return]  # deque of _T

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    # ---- waiters --------------------------------------------------------------------------------

    def _put_counted(self, item: _T) -> None:
        self._unfinished_tasks += 1
        self._finished.clear()
        self._put(item)

    def _set_timer(self, future: asyncio.Future[Any], timeout: _Timeout) -> None:
        self._timers[future] = _call_at_deadline(future.get_loop(), timeout, self._time_out, future)

    def _cancel_timer(self, future: asyncio.Future[Any]) -> None:
        if (timer := self._timers.pop(future, None)) is not None:
            timer.cancel()

    def _time_out(self, future: asyncio.Future[Any]) -> None:
        self._timers.pop(future, None)
        if future.done():  # cancelled by its caller meanwhile
            return
        future.set_exception(TimeoutError("Timeout"))
        self._timed_out += 1
        if self._timed_out > _SWEEP_AFTER and self._timed_out * 2 > len(self._getters) + len(
            self._putters
        ):
            self._sweep()

    def _drop_dead_heads(self) -> None:
        getters, putters = self._getters, self._putters  # timed out or cancelled at the front
        while getters and getters[0].done():
            self._forget(getters.popleft())
        while putters and putters[0][1].done():
            self._forget(putters.popleft()[1])

    def _forget(self, future: asyncio.Future[Any]) -> None:
        if self._timers:
            self._cancel_timer(future)
        if not future.cancelled():  # it timed out: it was counted
            self._timed_out = max(self._timed_out - 1, 0)

    def _sweep(self) -> None:
        self._getters = collections.deque(f for f in self._getters if not f.done())
        self._putters = collections.deque(p for p in self._putters if not p[1].done())
        for future in [future for future in self._timers if future.done()]:
            self._timers.pop(future).cancel()
        self._timed_out = 0
        self._sweep_at = max(_SWEEP_MIN, 2 * max(len(self._getters), len(self._putters)))

    # ---- repr -----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x} {self._format()}>"

    def __str__(self) -> str:
        return f"<{type(self).__name__} {self._format()}>"

    def _format(self) -> str:
        parts = [f"maxsize={self.maxsize!r}"]
        if getattr(self, "_queue", None):
            parts.append(f"queue={self._queue!r}")
        if self._getters:
            parts.append(f"getters[{len(self._getters)}]")
        if self._putters:
            parts.append(f"putters[{len(self._putters)}]")
        if self._unfinished_tasks:
            parts.append(f"tasks={self._unfinished_tasks}")
        return " ".join(parts)


class PriorityQueue(Queue[_T]):
    """A ``Queue`` that hands out the lowest item first (entries are often ``(priority, x)``)."""

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        heapq.heappush(self._queue, item)

    def _get(self) -> _T:
        return heapq.heappop(self._queue)  # type: ignore[no-any-return]  # heap of _T


class LifoQueue(Queue[_T]):
    """A ``Queue`` that hands out the most recently put item first (a stack)."""

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:
        return self._queue.pop()  # type: ignore[no-any-return]  # list of _T
