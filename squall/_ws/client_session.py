"""ClientSession: the client end of a WebSocket connection, on an ``IOStream``.

The same :class:`~squall._ws.session.Session` as the server end (codec, reassembly, inbox,
pongs), with a transport side for squall's streams: a read loop feeds the session, writes go
to ``IOStream.write`` (whose futures tell when a message has gone out), and the timers of
:mod:`squall._ws.keepalive` bound keepalive and closing.

Rules:

1. Reading stops while the session holds it (a busy delegate, a backlog): the read loop waits.
2. Closing is bounded: once a close frame was sent or received, the stream is closed if the
   server has not closed the connection ``close_timeout`` seconds later.
3. A keepalive pong that does not come within ``ping_timeout`` closes with 1000
   "ping timed out", as the server end does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from websockets.frames import CloseCode
from websockets.protocol import OPEN

from squall._streams.errors import StreamClosedError
from squall._streams.sockets import IOStream
from squall._util import wake_waiters
from squall._ws.codec import ClientCodec
from squall._ws.delegate import WebSocketClosedError, WebSocketDelegate
from squall._ws.keepalive import Timers
from squall._ws.protocol import PING_TIMED_OUT
from squall._ws.session import Session
from squall.log import gen_log

__all__ = ["READ_SIZE", "ClientSession"]

READ_SIZE = 65536  # bytes asked of the stream per read


class ClientSession(Session):
    """The client end of one connection, on an ``IOStream`` (Tornado's client ``protocol``).

    ``stream`` is the stream; the rest of the interface is :class:`Session`'s. Instances take
    attributes of their own, so a method can be wrapped per connection."""

    __slots__ = (
        "__dict__",
        "_last_write",
        "_loop",
        "_read_paused",
        "_resume",
        "_timers",
        "_waiters",
        "stream",
    )

    def __init__(
        self,
        stream: IOStream,
        codec: ClientCodec,
        delegate: WebSocketDelegate,
        *,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__(codec, delegate)
        self.stream = stream
        self._loop = asyncio.get_running_loop()
        self._timers = Timers(self._loop, ping_interval, ping_timeout, close_timeout)
        self._timers.on(self._keepalive, self._timed_out, self._abort)
        self._read_paused = False
        self._resume: asyncio.Future[None] | None = None
        self._last_write: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []  # writes not yet handed to the stream

    @property
    def ping_interval(self) -> float:
        """Seconds between keepalive pings (0: none)."""
        return self._timers.interval

    @property
    def ping_timeout(self) -> float:
        """Seconds a pong may take before the connection is closed (0: no deadline)."""
        return self._timers.timeout

    @property
    def close_timeout(self) -> float:
        """Seconds the server has to close the connection once closing started (default 5)."""
        return self._timers.close_timeout

    @close_timeout.setter
    def close_timeout(self, value: float) -> None:
        self._timers.close_timeout = value

    def set_nodelay(self, value: bool) -> None:
        """Set TCP_NODELAY on the socket (True sends small messages without delay)."""
        if not self.stream.closed():
            self.stream.set_nodelay(value)

    # -- running -----------------------------------------------------------------------------

    def run(self) -> asyncio.Task[None]:
        """Start: keepalive timer, the (no-op) opening, then the read loop (a task)."""
        self._timers.start()
        self._start()
        self._flush()
        return self._loop.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        stream = self.stream
        try:
            while not self._closed:
                if self._read_paused:
                    self._resume = self._loop.create_future()
                    await self._resume
                    continue
                self._receive(await stream.read_bytes(READ_SIZE, partial=True))
        except StreamClosedError:
            pass
        except Exception:
            gen_log.error("Uncaught exception in a WebSocket client connection", exc_info=True)
            self._connection_lost()
            return
        if not self._closed:
            # The server closed the connection: let the codec conclude, then end.
            self._codec.receive_eof()
            self._flush()
            self._connection_lost()

    def _connection_lost(self) -> None:
        if self._closed:
            return
        self._timers.cancel()
        if not self.stream.closed():
            self.stream.close()
        waiters, self._waiters = self._waiters, []
        wake_waiters(waiters, WebSocketClosedError("WebSocket connection closed"))
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)
        self._lost()

    # -- the transport side of Session -------------------------------------------------------

    def _write_out(self, writes: list[bytes]) -> None:
        if not writes:
            return
        stream = self.stream
        eof = not writes[-1]
        data = b"".join(writes)
        waiters, self._waiters = self._waiters, []
        if data and not stream.closed():
            self._wire_bytes_out += len(data)
            written = stream.write(data)
            self._last_write = written
            for waiter in waiters:
                _chain(written, waiter)
        else:
            wake_waiters(waiters, None if not data else WebSocketClosedError("closed"))
        if self._codec.state is not OPEN:
            self._timers.closing()
        if eof:
            # The codec ends the stream only once the server has closed it: close our end.
            self._loop.call_soon(self._connection_lost)

    def _drained(self) -> Awaitable[None]:
        waiter: asyncio.Future[None] = self._loop.create_future()
        if self._codec.writes:
            self._waiters.append(waiter)  # resolved by the next _write_out
        else:
            _chain(self._last_write, waiter)
        return waiter

    def _pause_reading(self) -> None:
        self._read_paused = True

    def _resume_reading(self) -> None:
        self._read_paused = False
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)

    def _call_soon(self, callback: Callable[[], None]) -> None:
        self._loop.call_soon(callback)

    def _closing_started(self) -> None:
        self._timers.closing()

    def _pong_received(self) -> None:
        self._timers.pong_received()

    # -- timers ------------------------------------------------------------------------------

    def _keepalive(self) -> bool:
        if self._closed or self._codec.state is not OPEN:
            return False
        self._write_frame(True, 0x9, b"")
        return True

    def _timed_out(self) -> None:
        self.close(CloseCode.NORMAL_CLOSURE, PING_TIMED_OUT)

    def _abort(self) -> None:
        self._connection_lost()


def _chain(source: asyncio.Future[None] | None, target: asyncio.Future[None]) -> None:
    """Resolve ``target`` when ``source`` does (failing as WebSocketClosedError)."""

    def settle(done: asyncio.Future[None]) -> None:
        if target.done():
            return
        if done.cancelled() or done.exception() is not None:
            wake_waiters([target], WebSocketClosedError("WebSocket closed while writing"))
        else:
            target.set_result(None)

    if source is None:
        target.set_result(None)
    elif source.done():
        settle(source)
    else:
        source.add_done_callback(settle)
