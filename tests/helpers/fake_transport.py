"""A fake transport that records what the protocol writes, and a harness around the protocol.

:class:`FakeTransport` never touches a socket: it records every ``write`` (one list entry per
call, so tests can count writes), ``close`` and pause/resume of reading. :class:`ProtocolHarness`
builds an :class:`~squall._http1.HTTP1Protocol` on it, fed with raw bytes by the test.
"""

from __future__ import annotations

import asyncio
from typing import Any

from squall._http1 import HTTP1Params, HTTP1Protocol, ServerState
from squall.httputil import HTTPServerConnectionDelegate

__all__ = ["FakeTransport", "ProtocolHarness"]


class FakeTransport(asyncio.Transport):
    """Records writes, close, and pause/resume of reading; never touches a socket.

    Like asyncio's transports, ``close()`` calls the protocol's ``connection_lost`` on the
    next loop iteration (at once when no loop is running)."""

    def __init__(self, peername: Any = ("127.0.0.1", 40000), **extra: Any) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.lost = False
        self.reading_paused = False
        self.pause_count = 0
        self.protocol: Any = None
        self._extra = {"peername": peername, **extra}
        self.high = 0
        self.low = 0

    @property
    def sent(self) -> bytes:
        """Everything written so far."""
        return b"".join(self.writes)

    def clear(self) -> None:
        self.writes.clear()

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closed, "write after close"
        assert data, "empty write"
        self.writes.append(bytes(data))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._lose()
        else:
            loop.call_soon(self._lose)

    def _lose(self) -> None:
        if not self.lost:
            self.lost = True
            if self.protocol is not None:
                self.protocol.connection_lost(None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        assert not self.reading_paused, "pause_reading twice"
        self.reading_paused = True
        self.pause_count += 1

    def resume_reading(self) -> None:
        assert self.reading_paused, "resume_reading while not paused"
        self.reading_paused = False

    def is_reading(self) -> bool:
        return not self.reading_paused

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high = high or 0
        self.low = low or 0

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def abort(self) -> None:
        self.close()


class ProtocolHarness:
    """One :class:`HTTP1Protocol` on a :class:`FakeTransport`; create it inside a running loop."""

    def __init__(
        self,
        delegate: HTTPServerConnectionDelegate,
        *,
        tls: bool = False,
        peername: Any = ("127.0.0.1", 40000),
        **params: Any,
    ) -> None:
        loop = asyncio.get_running_loop()
        params.setdefault("server_header", "squall/test")
        self.params = HTTP1Params(**params)
        self.state = ServerState(loop, self.params.shortest_timeout)
        self.proto = HTTP1Protocol(delegate, self.params, self.state, tls=tls)
        self.transport = FakeTransport(peername)
        self.transport.protocol = self.proto
        self.proto.connection_made(self.transport)

    def feed(self, *pieces: bytes) -> None:
        """Deliver each piece in its own ``data_received`` call."""
        for piece in pieces:
            self.proto.data_received(piece)

    def eof(self) -> None:
        """The peer half-closed: like asyncio, close unless ``eof_received`` returns True."""
        if not self.proto.eof_received():
            self.transport.close()

    def take(self) -> bytes:
        """Everything written since the last ``take``."""
        data = self.transport.sent
        self.transport.clear()
        return data

    @property
    def writes(self) -> list[bytes]:
        """The individual ``transport.write`` calls since the last ``take``."""
        return self.transport.writes

    @property
    def closed(self) -> bool:
        """Whether the protocol closed the transport."""
        return self.transport.closed

    async def settle(self, rounds: int = 5) -> None:
        """Let callbacks scheduled with ``call_soon`` (and done-callbacks) run."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    def close(self) -> None:
        """Stop the sweeper (and close the transport if still open)."""
        self.state.close()
        if not self.transport.closed:
            self.transport.close()
