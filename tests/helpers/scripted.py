"""A scripted TCP server for client tests: each connection runs a coroutine the test writes.

    server = ScriptedServer(script)   # on the running IOLoop (an AsyncTestCase's)
    ...
    server.close()

``script(stream, index)`` gets the connection's ``IOStream`` and its number (0, 1, ...);
:func:`read_request` reads one HTTP request from it. The server counts connections and keeps
every request it read (``requests``), so tests can assert what crossed the wire: how many
connections a client opened, which header fields it sent, whether it sent a body.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from squall.ioloop import IOLoop
from squall.iostream import IOStream, StreamClosedError
from squall.netutil import add_accept_handler
from squall.testing import bind_unused_port

__all__ = ["Script", "ScriptedServer", "read_request"]

Script = Callable[[IOStream, int], Awaitable[None]]


async def read_request(stream: IOStream) -> tuple[bytes, bytes]:
    """One request from ``stream``: its head (through the empty line) and its body (by
    Content-Length or chunked framing)."""
    head = await stream.read_until(b"\r\n\r\n")
    lower = head.lower()
    body = b""
    if b"\r\ntransfer-encoding: chunked" in lower:
        parts = []
        while True:
            size = int((await stream.read_until(b"\r\n")).strip(), 16)
            data = await stream.read_bytes(size + 2)
            if size == 0:
                break
            parts.append(data[:-2])
        body = b"".join(parts)
    else:
        for line in lower.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                body = await stream.read_bytes(int(line.split(b":", 1)[1]))
    return head, body


class ScriptedServer:
    """Accepts connections on 127.0.0.1 and runs ``script`` for each (see the module)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sock, self.port = bind_unused_port()
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.streams: list[IOStream] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = add_accept_handler(self.sock, self._accept)

    def url(self, path: str = "/") -> str:
        """An http:// URL on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self, connection: socket.socket, address: object) -> None:
        stream = IOStream(connection)
        self.streams.append(stream)
        index, self.connections = self.connections, self.connections + 1
        task = IOLoop.current().asyncio_loop.create_task(self._run(stream, index))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, stream: IOStream, index: int) -> None:
        try:
            await self.script(stream, index)
        except StreamClosedError:
            pass  # the client went away: the script's business, not an error

    async def request(self, stream: IOStream) -> tuple[bytes, bytes]:
        """Read one request from ``stream`` and record it."""
        request = await read_request(stream)
        self.requests.append(request)
        return request

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stop()
        self.sock.close()
        for stream in self.streams:
            stream.close()
        for task in list(self._tasks):
            task.cancel()
