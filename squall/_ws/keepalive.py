"""The timers of one WebSocket connection: keepalive pings, the pong deadline, the close deadline.

Each is one ``loop.call_later`` handle (no task). The connection supplies what to do: send a
ping (returns False once the connection is no longer open, which stops the pings), close on a
peer that missed its pong, and drop a peer that never finished closing.

The settings mean what Tornado's do: an interval of None or 0 sends no pings; the pong
timeout defaults to the interval, 0 disables it, and one longer than the interval is cut to
the interval (with a warning).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from squall.log import gen_log

__all__ = ["Timers", "effective_ping_timeout", "ping_sleep_time"]


def ping_sleep_time(*, last_ping_time: float, interval: float, now: float) -> float:
    """Seconds from ``now`` until the ping after one sent at ``last_ping_time`` is due (never
    negative: a late ping is due at once)."""
    return max(0.0, last_ping_time + interval - now)


def effective_ping_timeout(interval: float | None, timeout: float | None) -> float | None:
    """The pong timeout that applies (None: none) to ``interval`` and ``timeout`` settings."""
    if not interval:
        return None
    if timeout is None:
        return interval
    if not timeout:
        return None
    if timeout > interval:
        gen_log.warning(
            "The WebSocket ping timeout (%s s) cannot be longer than the ping interval (%s s):"
            " using %s s",
            timeout,
            interval,
            interval,
        )
        return interval
    return timeout


class Timers:
    """Keepalive pings every ``interval`` seconds; a pong is due within ``timeout`` seconds."""

    __slots__ = (
        "_close",
        "_close_timed_out",
        "_interval",
        "_loop",
        "_ping",
        "_pong",
        "_send_ping",
        "_timed_out",
        "_timeout",
        "close_timeout",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval: float | None,
        timeout: float | None,
        close_timeout: float,
    ) -> None:
        self._loop = loop
        self._interval = interval or None
        self._timeout = effective_ping_timeout(interval, timeout)
        self.close_timeout = close_timeout
        self._send_ping: Callable[[], bool] = _no_ping
        self._timed_out: Callable[[], None] = _nothing
        self._close_timed_out: Callable[[], None] = _nothing
        self._ping: asyncio.TimerHandle | None = None
        self._pong: asyncio.TimerHandle | None = None
        self._close: asyncio.TimerHandle | None = None

    def on(
        self,
        send_ping: Callable[[], bool],
        ping_timed_out: Callable[[], None],
        close_timed_out: Callable[[], None],
    ) -> None:
        """Set what to do: send a ping (False: stop pinging), close on a peer that missed its
        pong, drop a peer that never finished closing."""
        self._send_ping = send_ping
        self._timed_out = ping_timed_out
        self._close_timed_out = close_timed_out

    def start(self) -> None:
        """Schedule the first keepalive ping (if there is an interval)."""
        if self._interval:
            self._ping = self._loop.call_later(self._interval, self._tick)

    def pong_received(self) -> None:
        """Any pong satisfies the pending deadline."""
        if self._pong is not None:
            self._pong.cancel()
            self._pong = None

    def closing(self) -> None:
        """A close frame or end of stream went out: the peer has ``close_timeout`` to finish."""
        if self._close is None:
            self._close = self._loop.call_later(self.close_timeout, self._close_expired)

    def cancel(self) -> None:
        """The connection is gone: cancel everything."""
        for handle in (self._ping, self._pong, self._close):
            if handle is not None:
                handle.cancel()
        self._ping = self._pong = self._close = None

    @property
    def interval(self) -> float:
        """Seconds between keepalive pings (0: none)."""
        return self._interval or 0

    @property
    def timeout(self) -> float:
        """Seconds a pong may take (0: no deadline)."""
        return self._timeout or 0

    def _tick(self) -> None:
        self._ping = None
        if not self._send_ping():
            return
        if self._timeout and self._pong is None:
            self._pong = self._loop.call_later(self._timeout, self._pong_expired)
        if self._interval:
            self._ping = self._loop.call_later(self._interval, self._tick)

    def _pong_expired(self) -> None:
        self._pong = None
        self._timed_out()

    def _close_expired(self) -> None:
        self._close = None
        self._close_timed_out()


def _no_ping() -> bool:
    return False


def _nothing() -> None:
    pass
