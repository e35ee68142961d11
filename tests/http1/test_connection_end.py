"""A connection's end leaves no reference cycle behind (over real sockets, both loops).

The protocol, its parser callbacks (``record.Recorder``) and the httptools parser refer to each
other while the connection lives; ``connection_lost`` (and the hand-off after an upgrade) must
let go, so that reference counting frees a closed connection at once instead of the cyclic
collector later. ``tests/test_refcycles.py`` covers a request's own objects on a kept-alive
connection; these tests cover what a connection's end leaves (squall's objects: asyncio's
transports leave a cycle of their own, see :func:`no_cycle_garbage`).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from squall import httpserver, iostream, web
from squall._http1.protocol import HTTP1Protocol
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from squall.testing import bind_unused_port
from tests.conftest import Runner


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


def _ours(item: object) -> bool:
    """Whether a garbage object is squall's (or its parser's): its type, its function, or the
    object a bound method is bound to, comes from squall or httptools."""
    target = getattr(item, "__self__", item)
    for module in (type(target).__module__, getattr(target, "__module__", None)):
        if isinstance(module, str) and module.startswith(("squall", "httptools")):
            return True
    return False


@contextmanager
def no_cycle_garbage() -> Iterator[None]:
    """Fail if the block leaves squall objects that only the cyclic collector can free.

    asyncio's own selector transports keep a bound method of themselves (``_read_ready_cb``,
    CPython 3.11), so a closed asyncio transport, its socket and their details are always
    cycle garbage on the asyncio loop, squall or not: only garbage that holds a squall object
    counts (any cycle through squall's code has one: a protocol, a parser callback object, a
    function of squall's)."""
    was_enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
        gc.collect()
        garbage = [repr(item)[:120] for item in gc.garbage if _ours(item)]
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        if was_enabled:
            gc.enable()
    assert garbage == [], "reference cycles left behind:\n" + "\n".join(garbage)


def _live_protocols() -> list[HTTP1Protocol]:
    """The protocols of this test's connections (on its own loop: not an earlier test's)."""
    loop = asyncio.get_running_loop()
    return [o for o in gc.get_objects() if isinstance(o, HTTP1Protocol) and o.state.loop is loop]


async def _until_freed() -> None:
    """Poll until no ``HTTP1Protocol`` is left alive.

    Inside :func:`no_cycle_garbage` the collector is off, so only reference counting can free
    one: a protocol kept by a cycle stays, and the wait fails."""
    try:
        async with asyncio.timeout(5):
            while _live_protocols():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"alive after the connection ended: {_live_protocols()}") from None


def test_a_connection_the_client_closes_is_freed_without_the_collector(run: Runner[Any]) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = httpserver.HTTPServer(web.Application([("/", Hello)]))
        server.add_sockets([sock])

        async def one() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert await reader.readexactly(2) == b"ok"
            writer.close()
            await _until_freed()

        try:
            await one()  # warm-up: first-use caches are not garbage
            with no_cycle_garbage():
                await one()
        finally:
            server.stop()
            await server.close_all_connections()

    run(body())


def test_a_connection_the_server_closes_is_freed_without_the_collector(run: Runner[Any]) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = httpserver.HTTPServer(web.Application([("/", Hello)]))
        server.add_sockets([sock])

        async def one() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await reader.read()  # the server closes after its answer
            assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"ok"), data
            writer.close()
            await _until_freed()

        try:
            await one()
            with no_cycle_garbage():
                await one()
        finally:
            server.stop()
            await server.close_all_connections()

    run(body())


class StreamWatcher(web.RequestHandler):
    def get(self) -> None:
        stream = self.request.connection.stream  # type: ignore[union-attr]
        stream.set_close_callback(lambda: None)  # the view refers to its connection now
        self.write("ok")


def test_a_connection_whose_stream_was_used_is_freed_without_the_collector(
    run: Runner[Any],
) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = httpserver.HTTPServer(web.Application([("/", StreamWatcher)]))
        server.add_sockets([sock])

        async def one() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert await reader.readexactly(2) == b"ok"
            writer.close()
            await _until_freed()

        try:
            await one()
            with no_cycle_garbage():
                await one()
        finally:
            server.stop()
            await server.close_all_connections()

    run(body())


class _Echo(asyncio.Protocol):
    """The protocol after the upgrade: echoes what it reads, closes on ``bye``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)
        if data.endswith(b"bye"):
            self.transport.close()


class _Upgrading(HTTPMessageDelegate):
    def __init__(self, conn: HTTPConnection) -> None:
        self.conn: HTTPConnection | None = conn

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> None:
        conn = self.conn
        assert conn is not None
        self.conn = None
        head = HTTPHeaders({"Connection": "Upgrade", "Upgrade": "echo"})
        conn.write_headers(ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"), head)
        conn.upgrade(_Echo())


class _UpgradeServer(HTTPServerConnectionDelegate):
    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> _Upgrading:
        return _Upgrading(request_conn)


def test_a_connection_handed_over_by_an_upgrade_is_freed_without_the_collector(
    run: Runner[Any],
) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = httpserver.HTTPServer(_UpgradeServer())
        server.add_sockets([sock])

        async def one() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 "), head
            writer.write(b"bye")
            assert await reader.read() == b"bye"
            writer.close()
            await _until_freed()

        try:
            await one()
            with no_cycle_garbage():
                await one()
        finally:
            server.stop()
            await server.close_all_connections()

    run(body())


class _WritesAfterClose(HTTPMessageDelegate):
    """Starts a response, then writes again once the client has gone."""

    def __init__(self, conn: HTTPConnection, outcome: asyncio.Future[BaseException | None]) -> None:
        self.conn = conn
        self.outcome = outcome

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> None:
        start = ResponseStartLine("HTTP/1.1", 200, "OK")
        self.conn.write_headers(start, HTTPHeaders(), b"first")  # chunked: no length given

    def on_connection_close(self) -> None:
        asyncio.ensure_future(self._write_again())

    async def _write_again(self) -> None:
        try:
            await self.conn.write(b"too late")
        except Exception as exc:
            self.outcome.set_result(exc)
        else:
            self.outcome.set_result(None)


def test_a_write_after_the_client_left_fails_with_iostreams_stream_closed_error(
    run: Runner[Any],
) -> None:
    """Tornado code catches ``iostream.StreamClosedError`` around writes: the same class."""

    async def body() -> None:
        outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

        class Server(HTTPServerConnectionDelegate):
            def start_request(
                self, server_conn: object, request_conn: HTTPConnection
            ) -> HTTPMessageDelegate:
                return _WritesAfterClose(request_conn, outcome)

        sock, port = bind_unused_port()
        server = httpserver.HTTPServer(Server())
        server.add_sockets([sock])
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b"first\r\n")
            writer.close()
            async with asyncio.timeout(10):
                error = await outcome
            assert isinstance(error, iostream.StreamClosedError), error
            assert error.real_error is None
        finally:
            server.stop()
            await server.close_all_connections()

    run(body())
