"""``detach()`` on a TLS connection: the stream is relayed through the loop's TLS transport.

The TLS session cannot leave the event loop's transport, so the detached stream is one end of
a socket pair and the transport's new protocol carries the plain bytes (``squall._streams.
handover``, rule 3). Over real sockets and real TLS, on asyncio and uvloop (``run``): what the
server read and did not deliver comes first, bytes flow both ways in order, back-pressure
reaches the client, and a close on either side reaches the other after the bytes before it.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme

from squall import iostream, web
from squall._streams.handover import take_over
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from tests.conftest import Runner
from tests.helpers.raw_http import RawClient, parse_responses, request, serving


@pytest.fixture(scope="module")
def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) trusting each other through a throwaway authority."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` each loop turn until it holds (fails after ``timeout`` seconds)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def _connect(port: int, client_ctx: ssl.SSLContext) -> RawClient:
    return await RawClient.connect(port, ssl=client_ctx, server_hostname="localhost")


class _Tunnel(HTTPMessageDelegate):
    """Detaches in ``headers_received`` and hands the stream to ``use``."""

    def __init__(self, conn: HTTPConnection, use: Callable[[Any], Awaitable[None]]) -> None:
        self.conn: Any = conn
        self.use = use
        self.task: asyncio.Future[None] | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> None:
        self.task = asyncio.ensure_future(self.use(self.conn.detach()))


class _TunnelServer(HTTPServerConnectionDelegate):
    def __init__(self, use: Callable[[Any], Awaitable[None]]) -> None:
        self.use = use
        self.tunnels: list[_Tunnel] = []

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> _Tunnel:
        tunnel = _Tunnel(request_conn, self.use)
        self.tunnels.append(tunnel)
        return tunnel

    async def done(self) -> None:
        """Wait for every tunnel's ``use`` to end (its failure fails the test)."""
        await _until(lambda: all(t.task is not None for t in self.tunnels), "the hand-over")
        for tunnel in self.tunnels:
            assert tunnel.task is not None
            await tunnel.task


def test_a_handler_detaches_over_tls_and_answers_through_the_tls_session(
    run: Runner[None], contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """Tornado's ``RequestHandler.detach()`` under HTTPS: an HTTP/1.0 body ended by the close."""
    server_ctx, client_ctx = contexts
    payload = bytes(range(256)) * 1200  # 300 KiB: more than the socket pair holds at once

    async def body() -> None:
        streams: list[Any] = []

        class Detaching(web.RequestHandler):
            async def get(self) -> None:
                stream = self.detach()
                streams.append(stream)
                await stream.write(b"HTTP/1.0 200 OK\r\n\r\n" + payload)
                stream.close()

        app = web.Application([("/", Detaching)])
        async with serving(app, ssl_options=server_ctx) as (server, port):
            client = await _connect(port, client_ctx)
            await client.send(request("GET", "/"))
            data = await client.read_until_eof()
            await client.close()
            assert server._server.state is not None
            assert not server._server.state.connections  # no longer the server's
        (response,) = parse_responses(data)
        assert (response.status, response.body) == (200, payload)
        (stream,) = streams
        assert isinstance(stream, iostream.IOStream) and stream.closed()

    run(body())


def test_the_unread_body_comes_first_then_bytes_flow_both_ways_in_order(
    run: Runner[None], contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """An echo over the detached stream: 2 MiB each way at once, nothing lost or reordered."""
    server_ctx, client_ctx = contexts
    size = 2 * 1024 * 1024
    data = hashlib.shake_256(b"relay").digest(size)

    async def body() -> None:
        echoed = 0

        async def use(stream: Any) -> None:
            nonlocal echoed
            assert await stream.read_bytes(10) == b"0123456789"  # 5 came with the head
            await stream.write(b"ready")
            while echoed < size:
                chunk = await stream.read_bytes(65536, partial=True)
                echoed += len(chunk)
                await stream.write(chunk)
            stream.close()

        app = _TunnelServer(use)
        async with serving(app, ssl_options=server_ctx) as (_, port):
            client = await _connect(port, client_ctx)
            await client.send(request("POST", "/", {"Content-Length": "10"}) + b"01234")
            await _until(lambda: bool(app.tunnels), "the request")
            await client.send(b"56789")
            assert await client.reader.readexactly(5) == b"ready"

            async def send_all() -> None:
                for start in range(0, size, 100_000):
                    await client.send(data[start : start + 100_000])

            _, received = await asyncio.gather(send_all(), client.reader.readexactly(size))
            assert received == data
            assert await client.read_until_eof() == b""  # the stream's close ends the TLS
            await client.close()
            await app.done()
        assert echoed == size

    run(body())


def test_a_stream_that_reads_nothing_pauses_the_tls_transport_then_gets_every_byte(
    run: Runner[None], contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """Back-pressure, on ``take_over`` itself over a loop's TLS server: while the application
    reads nothing the relay stops reading the TLS transport (nothing piles up in the server),
    and reads again once the application does."""
    server_ctx, client_ctx = contexts
    size = 4 * 1024 * 1024
    data = hashlib.shake_256(b"pressure").digest(size)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[Any] = loop.create_future()

        class Accept(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                accepted.set_result(transport)

        server = await loop.create_server(Accept, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        client = await _connect(port, client_ctx)
        transport = await accepted
        stream = take_over(transport, b"head:")
        client.send_nowait(data)
        await _until(lambda: not transport.is_reading(), "the relay to pause the transport")
        assert await stream.read_bytes(5) == b"head:"
        assert await stream.read_bytes(size) == data
        await _until(transport.is_reading, "the relay to read again")
        stream.close()
        assert await client.read_until_eof() == b""
        await client.close()
        server.close()
        await server.wait_closed()

    run(body())


def test_the_clients_close_reaches_the_stream_after_the_bytes_before_it(
    run: Runner[None], contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = contexts

    async def body() -> None:
        results: list[bytes] = []

        async def use(stream: Any) -> None:
            results.append(await stream.read_until_close())
            assert stream.closed()

        app = _TunnelServer(use)
        async with serving(app, ssl_options=server_ctx) as (_, port):
            client = await _connect(port, client_ctx)
            await client.send(request("POST", "/", {"Content-Length": "6"}) + b"first ")
            await _until(lambda: bool(app.tunnels), "the hand-over")
            await client.send(b"and last")
            await client.close()
            await app.done()
        assert results == [b"first and last"]

    run(body())


def test_writes_made_before_detach_reach_the_client_before_the_streams(
    run: Runner[None], contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """An interim response written through the connection, then the stream's bytes."""
    server_ctx, client_ctx = contexts

    async def body() -> None:
        class Upgrading(web.RequestHandler):
            async def get(self) -> None:
                conn: Any = self.request.connection
                conn.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                stream = self.detach()
                await stream.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
                stream.close()

        app = web.Application([("/", Upgrading)])
        async with serving(app, ssl_options=server_ctx) as (_, port):
            client = await _connect(port, client_ctx)
            await client.send(request("GET", "/"))
            data = await client.read_until_eof()
            await client.close()
        interim, final = parse_responses(data)
        assert (interim.status, final.status, final.body) == (100, 200, b"done")

    run(body())
