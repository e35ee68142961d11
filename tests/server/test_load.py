"""Load: 100 concurrent keep-alive clients, 10,000 echoed requests with random bodies.

Every response must come back byte-exact, with no error anywhere, well within 60 s. The server
runs on its own event loop (uvloop when available) in a second thread, as it would in a worker
process; the clients are asyncio streams on the main thread's loop.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from squall.httpserver import HTTPServer
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    ResponseStartLine,
)
from squall.netutil import bind_sockets
from tests.conftest import Runner

CLIENTS = 100
REQUESTS = 10_000
MAX_BODY = 256 * 1024


class Echo(HTTPServerConnectionDelegate):
    """Streams each request body back as it arrives (Content-Length framed)."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors: list[str] = []

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
        self.requests += 1
        return _EchoMessage(self, request_conn)


class _EchoMessage(HTTPMessageDelegate):
    def __init__(self, owner: Echo, conn: HTTPConnection) -> None:
        self.owner = owner
        self.conn = conn

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        length = headers.get("Content-Length", "0")
        self.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": length})
        )

    def data_received(self, chunk: bytes) -> Any:
        return self.conn.write(chunk)

    def finish(self) -> None:
        self.conn.finish()

    def on_connection_close(self) -> None:
        self.owner.errors.append("connection closed mid-request")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


@pytest.fixture
def threaded_echo_server() -> Iterator[tuple[Echo, int]]:
    """An echo HTTPServer on its own loop in a second thread; yields (delegate, port)."""
    echo = Echo()
    loop = _new_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    sockets = bind_sockets(0, "127.0.0.1", backlog=256)
    port: int = sockets[0].getsockname()[1]
    ready = threading.Event()
    holder: dict[str, HTTPServer] = {}

    async def start() -> None:
        server = HTTPServer(echo)
        server.add_sockets(sockets)
        holder["server"] = server
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, name="squall-load-server", daemon=True)
    thread.start()
    assert ready.wait(10), "server thread did not start"
    try:
        yield echo, port
    finally:

        async def stop() -> None:
            server = holder["server"]
            server.stop()
            await server.close_all_connections()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        assert not errors, f"server loop errors: {errors}"


async def _client(port: int, jobs: list[tuple[int, int, int]], pool: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        for request_id, offset, size in jobs:
            body = b"%08d" % request_id + pool[offset : offset + size]
            writer.write(
                b"POST /echo/%d HTTP/1.1\r\nHost: load\r\nContent-Length: %d\r\n\r\n"
                % (request_id, len(body))
            )
            writer.write(body)  # no drain: the server echoes while we are still sending
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            assert b"connection: close" not in head.lower(), head
            echoed = await reader.readexactly(length)
            assert echoed == body, f"request {request_id}: body differs"
            done += 1
    finally:
        writer.close()
        await writer.wait_closed()
    return done


@pytest.mark.slow
def test_100_keep_alive_clients_echo_10000_random_bodies_byte_exact(
    run_asyncio: Runner[Any], threaded_echo_server: tuple[Echo, int]
) -> None:
    echo, port = threaded_echo_server
    rng = random.Random(20260101)
    pool = rng.randbytes(2 * MAX_BODY)
    jobs: list[list[tuple[int, int, int]]] = [[] for _ in range(CLIENTS)]
    total_bytes = 0
    for request_id in range(REQUESTS):
        size = rng.randrange(0, MAX_BODY - 8 + 1)
        jobs[request_id % CLIENTS].append((request_id, rng.randrange(0, MAX_BODY), size))
        total_bytes += size + 8

    async def body() -> list[int]:
        return list(await asyncio.gather(*(_client(port, j, pool) for j in jobs)))

    start = time.monotonic()
    counts = run_asyncio(body(), timeout=60)
    elapsed = time.monotonic() - start
    assert sum(counts) == REQUESTS
    assert echo.requests == REQUESTS
    assert echo.errors == []
    assert elapsed < 60, f"{REQUESTS} requests ({total_bytes >> 20} MiB) took {elapsed:.1f} s"
