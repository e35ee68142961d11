"""Happy Eyeballs (RFC 8305, simplified as Tornado does): connect to the first address that
answers, trying a host's two address families in parallel after a short delay.

How this works: the resolved addresses are split into the family of the first one (primary)
and the rest (secondary). Primary addresses are tried one at a time. The secondary family
starts after ``timeout`` (0.3 s), or at once when a primary attempt fails; its addresses are
also tried one at a time. The first connection to succeed wins and every other attempt is
closed; the overall ``connect_timeout`` (an absolute ``IOLoop.time()``) ends everything with
TimeoutError. An attempt that fails synchronously (``socket()`` or ``bind()`` raising) counts
as an immediate failure; a cancelled attempt counts as a failure; cancelling the whole
connection closes every attempt.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from squall.ioloop import IOLoop

__all__ = ["INITIAL_CONNECT_TIMEOUT", "Connector", "format_addr"]

INITIAL_CONNECT_TIMEOUT = 0.3  # seconds before the second address family is tried


class _Closable(Protocol):
    def close(self) -> None: ...


AddrInfo = list[tuple[int, Any]]
Connect = Callable[[int, Any], tuple[Any, "asyncio.Future[Any]"]]


def format_addr(addr: Any) -> str:
    """``1.2.3.4:443`` for IPv4, ``[::1]:443`` for IPv6, and the address as is otherwise."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        if len(addr) == 4 or ":" in str(host):
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    return str(addr)


class Connector:
    """One Happy Eyeballs connection: ``Connector(addrinfo, connect).start()``.

    ``addrinfo`` is a list of ``(family, address)`` pairs; ``connect(family, address)`` starts
    one attempt and returns ``(stream, future)``, the future resolving when it is connected.
    ``start()`` returns a future of ``(family, address, stream)`` for the winner. ``streams``
    holds every attempt's stream except the winner's.
    """

    def __init__(self, addrinfo: AddrInfo, connect: Connect) -> None:
        self.io_loop = IOLoop.current()
        self.connect = connect
        self.future: asyncio.Future[tuple[int, Any, Any]] = (
            self.io_loop.asyncio_loop.create_future()
        )
        self.future.add_done_callback(self._on_done)
        self.timeout: asyncio.TimerHandle | None = None
        self.connect_timeout: asyncio.TimerHandle | None = None
        self.last_error: BaseException | None = None
        self.remaining = len(addrinfo)
        self.primary_addrs, self.secondary_addrs = self.split(addrinfo)
        self.streams: set[Any] = set()
        self._attempts: dict[asyncio.Future[Any], Any] = {}  # pending attempt -> its address
        self._secondary_started = False

    @staticmethod
    def split(addrinfo: AddrInfo) -> tuple[AddrInfo, AddrInfo]:
        """Split into the first address's family and the rest, each in the original order."""
        if not addrinfo:
            return [], []
        family = addrinfo[0][0]
        primary = [pair for pair in addrinfo if pair[0] == family]
        secondary = [pair for pair in addrinfo if pair[0] != family]
        return primary, secondary

    def start(
        self,
        timeout: float = INITIAL_CONNECT_TIMEOUT,
        connect_timeout: float | None = None,
    ) -> asyncio.Future[tuple[int, Any, Any]]:
        """Start connecting; ``connect_timeout`` is an absolute ``IOLoop.time()``."""
        if not self.remaining:
            self.future.set_exception(OSError("no address to connect to"))
            return self.future
        self.try_connect(iter(self.primary_addrs), primary=True)
        if not self.future.done():
            if not self._secondary_started:
                self.timeout = self.io_loop.add_timeout(
                    self.io_loop.time() + timeout, self.on_timeout
                )
            if connect_timeout is not None:
                self.connect_timeout = self.io_loop.add_timeout(
                    connect_timeout, self.on_connect_timeout
                )
        return self.future

    def try_connect(self, addrs: Iterator[tuple[int, Any]], primary: bool) -> None:
        """Start the next attempt from ``addrs``; synchronous failures move on to the next."""
        for family, address in addrs:
            try:
                stream, attempt = self.connect(family, address)
            except Exception as exc:
                self._attempt_failed(exc, primary)
                if self.future.done():
                    return
                continue
            self.streams.add(stream)
            self._attempts[attempt] = address
            attempt.add_done_callback(
                functools.partial(self.on_connect_done, addrs, primary, family, address, stream)
            )
            return
        self._fail_if_exhausted()

    def on_connect_done(
        self,
        addrs: Iterator[tuple[int, Any]],
        primary: bool,
        family: int,
        address: Any,
        stream: _Closable,
        attempt: asyncio.Future[Any],
    ) -> None:
        """One attempt ended: the winner completes the future; a failure tries the next."""
        self._attempts.pop(attempt, None)
        error: BaseException | None
        if attempt.cancelled():
            error = OSError(f"connection attempt to {format_addr(address)} was cancelled")
        else:
            error = attempt.exception()
        if self.future.done():
            stream.close()  # too late: a winner, a timeout or a cancellation came first
            return
        if error is not None:
            stream.close()
            self._attempt_failed(error, primary)
            if not self.future.done():
                self.try_connect(addrs, primary)
            return
        self.clear_timeouts()
        self.streams.discard(stream)
        self.future.set_result((family, address, attempt.result()))
        self.close_streams()

    def _attempt_failed(self, error: BaseException, primary: bool) -> None:
        self.remaining -= 1
        self.last_error = error
        if primary:
            # Do not wait for the timer: the other family may well work.
            self._start_secondary()
        self._fail_if_exhausted()

    def _fail_if_exhausted(self) -> None:
        if self.remaining <= 0 and not self.future.done():
            self.clear_timeouts()
            self.future.set_exception(self.last_error or OSError("connection failed"))

    def _start_secondary(self) -> None:
        if self._secondary_started:
            return
        self._secondary_started = True
        self._remove_timeout("timeout")
        self.try_connect(iter(self.secondary_addrs), primary=False)

    def on_timeout(self) -> None:
        """The primary family had its head start: try the secondary one too."""
        self.timeout = None
        if not self.future.done():
            self._start_secondary()

    def on_connect_timeout(self) -> None:
        """The overall deadline: fail with TimeoutError and close every attempt."""
        self.connect_timeout = None
        if not self.future.done():
            pending = ", ".join(sorted(format_addr(a) for a in self._attempts.values()))
            self.future.set_exception(TimeoutError(f"Timeout while connecting to {pending}"))
        self.close_streams()

    def clear_timeouts(self) -> None:
        """Cancel both timers."""
        self._remove_timeout("timeout")
        self._remove_timeout("connect_timeout")

    def _remove_timeout(self, name: str) -> None:
        handle: asyncio.TimerHandle | None = getattr(self, name)
        if handle is not None:
            self.io_loop.remove_timeout(handle)
            setattr(self, name, None)

    def close_streams(self) -> None:
        """Close every attempt's stream except the winner's."""
        for stream in self.streams:
            stream.close()

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.clear_timeouts()
            self.close_streams()
