"""IOLoop and PeriodicCallback: Tornado's event-loop API as a facade over an asyncio loop.

``IOLoop`` itself is defined in ``squall._ioloop``, beside the asyncio implementations it builds
(``squall.platform.asyncio`` re-exports those); this module gives it its Tornado name and holds
``PeriodicCallback``, which finds its loop with ``IOLoop.current()`` in ``start()``, so that
constructing one creates no loop.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import math
import random
from collections.abc import Callable
from typing import Any

from squall._ioloop import IOLoop

# Reached through this module by autoreload (_when_running) and by the test fixtures.
from squall._ioloop import _reset_for_tests as _reset_for_tests
from squall._ioloop import _when_running as _when_running

__all__ = ["IOLoop", "PeriodicCallback"]


class PeriodicCallback:
    """Call ``callback`` every ``callback_time`` milliseconds (or timedelta) once started.

    The first call is one period after ``start()``. An overrun skips the periods it missed: the
    next call is at the next multiple of the period after now. ``jitter`` (a fraction) varies
    each period by up to ``±jitter/2``. An awaitable result is awaited before the next call is
    scheduled. Exceptions are logged on ``squall.application``. ``io_loop=`` is accepted and
    ignored; the loop is ``current()`` at ``start()``, so construction creates no loop.
    ``callback_time <= 0`` raises ValueError.
    """

    def __init__(
        self,
        callback: Callable[[], object],
        callback_time: float | datetime.timedelta,
        jitter: float = 0,
        io_loop: object = None,
    ) -> None:
        if isinstance(callback_time, datetime.timedelta):
            callback_time = callback_time.total_seconds() * 1000
        if not callback_time > 0:
            raise ValueError(f"callback_time must be positive milliseconds, not {callback_time}")
        self.callback, self.callback_time, self.jitter = callback, callback_time, jitter
        self._running = False
        self._io_loop: IOLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._next_timeout = 0.0  # on the asyncio loop's monotonic clock

    def start(self) -> None:
        """Start calling the callback on the calling thread's ``IOLoop.current()``."""
        self._io_loop = IOLoop.current()
        self._running = True
        self._next_timeout = self._io_loop.asyncio_loop.time()
        self._schedule_next()

    def stop(self) -> None:
        """Stop calling the callback; a run in progress finishes but schedules no other."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def is_running(self) -> bool:
        """Return True between ``start()`` and ``stop()``."""
        return self._running

    def _schedule_next(self) -> None:
        if not self._running or self._io_loop is None:
            return
        loop = self._io_loop.asyncio_loop
        self._update_next(loop.time())
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(self._next_timeout, self._run)

    def _update_next(self, current_time: float) -> None:
        """Move ``_next_timeout`` to the next period boundary after ``current_time``.

        An overrun skips the periods it missed; a clock that reads earlier than the boundary
        (a timer that fired a little early, or a clock stepped back) moves on one period.
        """
        period = self.callback_time / 1000
        if self.jitter:
            period *= 1 + self.jitter * (random.random() - 0.5)
        if self._next_timeout <= current_time:
            missed = math.floor((current_time - self._next_timeout) / period)
            self._next_timeout += (missed + 1) * period
        else:
            self._next_timeout += period

    def _run(self) -> None:
        self._timer = None
        if not self._running or (io_loop := self._io_loop) is None:
            return
        try:
            result = self.callback()
        except Exception:
            io_loop.handle_callback_exception(self.callback)
        else:
            if inspect.isawaitable(result):
                io_loop._watch_awaitable(result, self._awaited_done)
                return
        self._schedule_next()

    def _awaited_done(self, future: asyncio.Future[Any]) -> None:
        if self._io_loop is not None:
            self._io_loop._awaited_done(self.callback, future)
        self._schedule_next()
