"""``request.connection.stream`` and ``detach()`` on squall's own HTTP connections.

Tornado code reaches the connection under a request: ``stream.closed()`` before pushing more
data (the chat demo), ``stream.set_close_callback``, ``stream.socket``, raw ``stream.write`` for
a hand-made interim response, and ``detach()`` (on the connection, or ``RequestHandler``) to
take the socket over as an IOStream. Everything here runs over real sockets, on asyncio and
uvloop (``run``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme

from squall import iostream, web
from squall._http1.protocol import HTTP1Protocol
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from tests.conftest import Runner
from tests.helpers.raw_http import RawClient, parse_responses, reply, request, serving
from tests.http1.test_connection_end import no_cycle_garbage


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` each loop turn until it holds (fails after ``timeout`` seconds)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


# -- request.connection.stream ------------------------------------------------------------------


def test_the_stream_is_open_while_the_client_is_there_and_closed_once_it_left(
    run: Runner[None],
) -> None:
    """The chat demo's check: ``if self.request.connection.stream.closed(): return``."""

    async def body() -> None:
        seen: dict[str, Any] = {}
        release = asyncio.Event()

        class Waiting(web.RequestHandler):
            async def get(self) -> None:
                stream = self.request.connection.stream  # type: ignore[union-attr]
                seen["stream"] = stream
                seen["open_at_first"] = not stream.closed()
                stream.set_close_callback(
                    lambda: seen.setdefault("callback_closed", stream.closed())
                )
                await release.wait()

            def on_connection_close(self) -> None:
                seen["on_connection_close"] = True
                release.set()

        async with serving(web.Application([("/", Waiting)])) as (_, port):
            client = await RawClient.connect(port)
            await client.send(request("GET", "/"))
            await _until(lambda: "stream" in seen, "the handler")
            await client.close()
            await _until(lambda: "callback_closed" in seen, "the stream's close callback")
        assert seen["open_at_first"] is True
        assert seen["callback_closed"] is True
        assert seen["on_connection_close"] is True  # the request's own notice runs too
        assert seen["stream"].closed() and seen["stream"].socket is None

    run(body())


def test_the_stream_is_one_object_per_connection_and_reports_its_socket(run: Runner[None]) -> None:
    async def body() -> None:
        streams: list[Any] = []
        peers: list[Any] = []
        nodelay: list[int] = []

        def app(req: HTTPServerRequest) -> None:
            conn: Any = req.connection
            stream = conn.stream
            streams.append(stream)
            peers.append(stream.socket.getpeername())
            stream.set_nodelay(True)
            nodelay.append(stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            reply(req, b"ok")

        async with serving(app) as (_, port):
            async with await RawClient.connect(port) as client:
                for _ in range(2):  # keep-alive: two requests on one connection
                    await client.send(request("GET", "/"))
                    assert (await client.read_response()).body == b"ok"
                here = client.writer.get_extra_info("sockname")
        assert streams[0] is streams[1]
        assert peers == [here[:2], here[:2]]
        assert nodelay[0] != 0

    run(body())


def test_raw_writes_on_the_stream_go_out_in_order_and_close_ends_the_connection(
    run: Runner[None],
) -> None:
    """Tornado's HTTP100ContinueTestCase: a hand-made 100 Continue, then a whole response."""

    async def body() -> None:
        results: list[Any] = []

        def app(req: HTTPServerRequest) -> None:
            stream: Any = req.connection.stream  # type: ignore[union-attr]
            first = stream.write(b"HTTP/1.1 100 Continue\r\n\r\n")

            def second(done: asyncio.Future[None]) -> None:
                results.append(done.result())
                after = stream.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA")
                after.add_done_callback(lambda _: stream.close())

            first.add_done_callback(second)

        async with serving(app) as (_, port):
            client = await RawClient.connect(port)
            await client.send(request("GET", "/"))
            data = await client.read_until_eof()
            await client.close()
        interim, final = parse_responses(data)
        assert (interim.status, final.status, final.body) == (100, 200, b"A")
        assert results == [None]

    run(body())


def test_writing_to_a_closed_stream_raises_iostreams_error_and_late_callbacks_never_run(
    run: Runner[None],
) -> None:
    async def body() -> None:
        seen: dict[str, Any] = {}
        never: list[str] = []

        def app(req: HTTPServerRequest) -> None:
            conn: Any = req.connection
            seen["stream"] = conn.stream
            conn.stream.set_close_callback(lambda: never.append("replaced"))
            conn.stream.set_close_callback(None)  # removed: not called

        async with serving(app) as (_, port):
            client = await RawClient.connect(port)
            await client.send(request("GET", "/"))
            await _until(lambda: "stream" in seen, "the request")
            await client.close()
            stream = seen["stream"]
            await _until(stream.closed, "the close")
            stream.set_close_callback(lambda: never.append("late"))  # set after: never called
            with pytest.raises(iostream.StreamClosedError):
                stream.write(b"too late")
            stream.close()  # closing twice is harmless
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        assert never == []

    run(body())


# -- detach() -----------------------------------------------------------------------------------


def test_a_handler_detaches_and_answers_with_a_response_of_its_own(run: Runner[None]) -> None:
    """Tornado's ``RequestHandler.detach()``: an HTTP/1.0 body delimited by the close."""

    async def body() -> None:
        streams: list[Any] = []

        class Detaching(web.RequestHandler):
            async def get(self) -> None:
                stream = self.detach()
                streams.append(stream)
                await stream.write(b"HTTP/1.0 200 OK\r\n\r\n" + b"a" * 100_000)
                stream.close()

        async with serving(web.Application([("/", Detaching)])) as (server, port):
            client = await RawClient.connect(port)
            await client.send(request("GET", "/"))
            data = await client.read_until_eof()
            await client.close()
            (response,) = parse_responses(data)
            assert server._server.state is not None  # the server no longer tracks it
            assert not server._server.state.connections
        assert (response.status, response.body) == (200, b"a" * 100_000)
        (stream,) = streams
        assert isinstance(stream, iostream.IOStream) and stream.closed()

    run(body())


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

    def data_received(self, chunk: bytes) -> None:
        raise AssertionError("no body after detach()")

    def finish(self) -> None:
        raise AssertionError("no finish() after detach()")

    def on_connection_close(self) -> None:
        raise AssertionError("no on_connection_close() after detach()")


class _TunnelServer(HTTPServerConnectionDelegate):
    def __init__(self, use: Callable[[Any], Awaitable[None]]) -> None:
        self.use = use
        self.closed: list[object] = []

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> _Tunnel:
        return _Tunnel(request_conn, self.use)

    def on_close(self, server_conn: object) -> None:
        self.closed.append(server_conn)


def test_detach_in_headers_received_hands_over_the_rest_of_the_body(run: Runner[None]) -> None:
    """Part of the body came with the head (the server read it), the rest comes later."""

    async def body() -> None:
        got: list[bytes] = []

        async def use(stream: Any) -> None:
            got.append(await stream.read_bytes(10))
            await stream.write(b"thanks")
            stream.close()

        app = _TunnelServer(use)
        async with serving(app) as (_, port):
            client = await RawClient.connect(port)
            await client.send(request("POST", "/", {"Content-Length": "10"}) + b"01234")
            await _until(lambda: bool(app.closed), "the hand-over")
            await client.send(b"56789")
            assert await client.read_until_eof() == b"thanks"
            await client.close()
        assert got == [b"0123456789"]
        assert isinstance(app.closed[0], HTTP1Protocol)  # the HTTP connection is over

    run(body())


def test_detach_after_an_upgrade_request_gives_the_bytes_that_followed_it(
    run: Runner[None],
) -> None:
    """A tunnel: the client does not wait for the answer before sending its first bytes."""

    async def body() -> None:
        async def use(stream: Any) -> None:
            await stream.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n")
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line.upper())
                if line == b"bye\n":
                    break
            stream.close()

        async with serving(_TunnelServer(use)) as (_, port):
            client = await RawClient.connect(port)
            head = request("GET", "/", {"Connection": "Upgrade", "Upgrade": "echo"})
            await client.send(head + b"early\n")
            await client.send(b"bye\n")
            data = await client.read_until_eof()
            await client.close()
        assert data == b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\nEARLY\nBYE\n"

    run(body())


def test_what_the_transport_still_had_to_send_leaves_before_the_streams_bytes(
    run: Runner[None],
) -> None:
    """A slow client: a large response is still queued when the next request detaches."""
    big = b"x" * (8 * 1024 * 1024)

    async def body() -> None:
        held: list[bool] = []

        class Big(web.RequestHandler):
            def get(self) -> None:
                self.write(big)

        class Detaching(web.RequestHandler):
            def get(self) -> None:
                stream: Any = self.detach()
                held.append(stream._held)  # the transport had not sent it all yet
                stream.write(b"HTTP/1.0 200 OK\r\n\r\nafter")
                stream.write(b"!").add_done_callback(lambda _: stream.close())

        app = web.Application([("/big", Big), ("/detach", Detaching)])
        async with serving(app) as (_, port):
            client = await RawClient.connect(port)
            await client.send(request("GET", "/big") + request("GET", "/detach"))
            await _until(lambda: bool(held), "the detaching request")
            data = await client.read_until_eof(timeout=30)
            await client.close()
        first, second = parse_responses(data)
        assert first.body == big
        assert (second.status, second.body) == (200, b"after!")
        assert held == [True]

    run(body())


def test_detach_is_refused_when_the_client_already_pipelined_another_request(
    run: Runner[None],
) -> None:
    """Its bytes are gone into the parser: the handler hears why, the connection goes on."""

    async def body() -> None:
        errors: list[str] = []

        class Detaching(web.RequestHandler):
            def get(self) -> None:
                try:
                    self.detach()
                except RuntimeError as exc:
                    errors.append(str(exc))
                    self.set_status(409)
                    self.finish("refused")

        class Other(web.RequestHandler):
            def get(self) -> None:
                self.finish("other")

        app = web.Application([("/detach", Detaching), ("/other", Other)])
        async with serving(app) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("GET", "/detach") + request("GET", "/other"))
                refused = await client.read_response()
                other = await client.read_response()
        assert (refused.status, refused.body, other.body) == (409, b"refused", b"other")
        assert "pipelining" in errors[0]

    run(body())


def test_detach_is_refused_for_a_chunked_body_not_delivered_yet(run: Runner[None]) -> None:
    async def body() -> None:
        errors: list[str] = []

        class Refusing(HTTPMessageDelegate):
            def __init__(self, conn: Any) -> None:
                self.conn = conn

            def headers_received(
                self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
            ) -> None:
                try:
                    self.conn.detach()
                except RuntimeError as exc:
                    errors.append(str(exc))

            def finish(self) -> None:
                start = ResponseStartLine("HTTP/1.1", 200, "OK")
                self.conn.write_headers(start, HTTPHeaders({"Content-Length": "2"}), b"ok")
                self.conn.finish()

        class Server(HTTPServerConnectionDelegate):
            def start_request(self, server_conn: object, request_conn: Any) -> Refusing:
                return Refusing(request_conn)

        async with serving(Server()) as (_, port):
            async with await RawClient.connect(port) as client:
                head = request("POST", "/", {"Transfer-Encoding": "chunked"})
                await client.send(head + b"3\r\nabc\r\n0\r\n\r\n")
                response = await client.read_response()
        assert response.body == b"ok"
        assert "chunked" in errors[0]

    run(body())


def test_after_detach_the_http_connection_refuses_writes_and_a_second_detach(
    run: Runner[None],
) -> None:
    async def body() -> None:
        errors: list[str] = []

        def app(req: HTTPServerRequest) -> None:
            conn: Any = req.connection
            stream = conn.detach()
            for attempt in (
                lambda: conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders()),
                lambda: conn.write(b"x"),
                conn.finish,
                conn.detach,
            ):
                try:
                    attempt()
                except RuntimeError as exc:
                    errors.append(str(exc))
            assert conn.stream is None  # as in Tornado: the connection has no stream now
            stream.write(b"HTTP/1.0 204 No Content\r\n\r\n")
            stream.close()

        async with serving(app) as (_, port):
            client = await RawClient.connect(port)
            await client.send(request("GET", "/"))
            data = await client.read_until_eof()
            await client.close()
        assert data == b"HTTP/1.0 204 No Content\r\n\r\n"
        assert len(errors) == 4
        assert all("detach" in e for e in errors), errors

    run(body())


def test_a_detached_stream_outlives_the_servers_close_of_its_connections(
    run: Runner[None],
) -> None:
    async def body() -> None:
        streams: list[Any] = []

        def app(req: HTTPServerRequest) -> None:
            streams.append(req.connection.detach())  # type: ignore[union-attr]

        async with serving(app) as (server, port):
            client = await RawClient.connect(port)
            await client.send(request("GET", "/"))
            await _until(lambda: bool(streams), "the hand-over")
            server.stop()
            await server.close_all_connections()  # the detached stream is not its own now
            (stream,) = streams
            assert not stream.closed()
            await stream.write(b"still here")
            assert await client.reader.readexactly(10) == b"still here"
            stream.close()
            await client.close()

    run(body())


def test_a_detached_connection_leaves_no_reference_cycle(run: Runner[None]) -> None:
    async def body() -> None:
        def app(req: HTTPServerRequest) -> None:
            stream: Any = req.connection.detach()  # type: ignore[union-attr]
            stream.write(b"bye")
            stream.close()

        async with serving(app) as (_, port):

            async def one() -> None:
                client = await RawClient.connect(port)
                await client.send(request("GET", "/"))
                assert await client.read_until_eof() == b"bye"
                await client.close()
                await asyncio.sleep(0)
                await asyncio.sleep(0)

            await one()  # warm-up: first-use caches are not garbage
            with no_cycle_garbage():
                await one()

    run(body())


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_detach_on_a_tls_connection_hands_over_a_stream_relayed_through_the_session(
    run: Runner[None], ca: trustme.CA
) -> None:
    """The TLS session stays in the loop's transport; the stream is relayed through it (the
    relay's own tests: tests/streams/test_handover_tls.py)."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def body() -> None:
        streams: list[Any] = []

        def app(req: HTTPServerRequest) -> None:
            stream = req.connection.detach()  # type: ignore[union-attr]
            streams.append(stream)
            stream.write(b"HTTP/1.0 200 OK\r\n\r\nover tls").add_done_callback(
                lambda _: stream.close()
            )

        async with serving(app, ssl_options=server_ctx) as (_, port):
            client = await RawClient.connect(port, ssl=client_ctx, server_hostname="localhost")
            async with client:
                await client.send(request("GET", "/"))
                response = await client.read_response()
        assert response.body == b"over tls"
        assert isinstance(streams[0], iostream.IOStream)

    run(body())
