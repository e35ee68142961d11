"""Helpers for the WebSocket tests: a server on loopback, a raw socket client, raw frames.

The tests talk to squall over real sockets, with the ``websockets`` client where a correct
peer is wanted and with :class:`RawClient` (hand-made handshake and frames) where the peer must
misbehave: stay silent, stop reading, or send several frames in one packet.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from squall.httpserver import HTTPServer
from squall.netutil import bind_sockets
from squall.web import Application

KEY = base64.b64encode(b"0123456789abcdef").decode()


class Served:
    """A running server: its port, the HTTPServer, and ws:// (or wss://) URLs."""

    def __init__(self, server: HTTPServer, port: int, scheme: str = "ws") -> None:
        self.server = server
        self.port = port
        self.scheme = scheme

    def url(self, path: str = "/ws") -> str:
        """The ws:// (wss:// with TLS) URL of ``path`` on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


@contextlib.asynccontextmanager
async def serve(
    app: Application, ssl_options: ssl.SSLContext | None = None
) -> AsyncIterator[Served]:
    """Serve ``app`` on an unused 127.0.0.1 port on the running loop for the block (over TLS
    with ``ssl_options``)."""
    socks = bind_sockets(0, "127.0.0.1")
    port = socks[0].getsockname()[1]
    server = HTTPServer(app, ssl_options=ssl_options)
    server.add_sockets(socks)
    try:
        yield Served(server, port, "ws" if ssl_options is None else "wss")
    finally:
        server.stop()
        await server.close_all_connections()


async def poll(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true (checking every few ms), or fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 §5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def close_frame(code: int, reason: str = "") -> bytes:
    """A masked client close frame."""
    return frame(0x8, struct.pack("!H", code) + reason.encode())


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Read one unmasked server frame: (opcode, fin, payload)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return b0 & 0x0F, bool(b0 & 0x80), await reader.readexactly(n)


class RawClient:
    """A WebSocket client on asyncio streams that does only what the test tells it to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.response_head = b""

    @classmethod
    async def connect(
        cls, port: int, path: str = "/ws", extra: tuple[str, ...] = (), limit: int = 2**16
    ) -> RawClient:
        """Connect and send an upgrade request; the response head is read by :meth:`upgrade`."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=limit)
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {KEY}",
            "Sec-WebSocket-Version: 13",
            *extra,
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return cls(reader, writer)

    async def upgrade(self) -> RawClient:
        """Read the response head and check it is a 101."""
        self.response_head = await self.reader.readuntil(b"\r\n\r\n")
        assert self.response_head.startswith(b"HTTP/1.1 101 "), self.response_head
        return self

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.writer.write(data)

    async def close(self) -> None:
        """Drop the connection."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def raw_request(port: int, lines: list[str]) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP request (``Connection: close`` added) and parse the whole response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = "\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n"
        writer.write(request.encode("latin-1"))
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


async def wait_for(awaitable: Awaitable[Any], timeout: float = 5.0) -> Any:
    """Await with a timeout (a hung test fails with a clear error)."""
    return await asyncio.wait_for(awaitable, timeout)
