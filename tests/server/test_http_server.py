"""HTTPServer over real loopback sockets, on the asyncio loop and on uvloop.

Plain-callable servers, keep-alive reuse, pipelining, large bodies, TLS, graceful drain,
stop() and close_all_connections(), and the Tornado-compatible constructor.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from squall.httpserver import HTTPRequest, HTTPServer
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from squall.testing import ExpectLog
from tests.conftest import Runner
from tests.helpers.raw_http import RawClient, parse_responses, reply, request, serving


def hello(req: HTTPServerRequest) -> None:
    """A plain callable: answers with what it saw of the request."""
    text = f"{req.method} {req.uri} {req.version} {req.remote_ip} {req.protocol} {req.host}"
    reply(req, text.encode() + b"|" + req.body)


# -- plain callables ------------------------------------------------------------------------------


def test_plain_callable_answers_through_request_connection(run: Runner[None]) -> None:
    async def body() -> None:
        async with serving(hello) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("POST", "/p?q=1", host="h:1", body=b"payload"))
                resp = await client.read_response()
        assert resp.status == 200
        assert resp.body == b"POST /p?q=1 HTTP/1.1 127.0.0.1 http h:1|payload"
        assert (resp.header("Server") or "").startswith("squall/")
        assert resp.header("Date") is not None

    run(body())


def test_legacy_callable_writes_the_raw_response_and_the_connection_closes(
    run: Runner[None],
) -> None:
    def legacy(req: HTTPServerRequest) -> None:
        req.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nlegacy")
        req.finish()

    async def body() -> None:
        async with serving(legacy) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("GET", "/"))
                assert await client.read_until_eof() == (
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nlegacy"
                )

    run(body())


def test_legacy_raw_response_through_request_connection_keeps_the_connection(
    run: Runner[None],
) -> None:
    # Tornado's legacy interface: the callable writes a whole raw response (head and body)
    # with request.connection.write, even in pieces; the connection still frames it.
    def legacy(req: HTTPServerRequest) -> None:
        conn = req.connection
        assert conn is not None
        message = req.path.encode()
        conn.write(b"HTTP/1.1 200 OK\r\nContent-")
        conn.write(b"Length: %d\r\nX-Legacy: yes\r\n\r\n" % len(message))
        conn.write(message)
        conn.finish()

    async def body() -> None:
        async with serving(legacy) as (_, port):
            async with await RawClient.connect(port) as client:
                for path in ("/first", "/second"):  # one connection: keep-alive holds
                    await client.send(request("GET", path))
                    response = await client.read_response()
                    assert (response.status, response.body) == (200, path.encode())
                    assert response.header("X-Legacy") == "yes"

    run(body())


def test_legacy_raw_response_with_an_incomplete_head_is_an_error(run: Runner[None]) -> None:
    def broken(req: HTTPServerRequest) -> None:
        conn = req.connection
        assert conn is not None
        conn.write(b"HTTP/1.1 200 OK\r\n")
        conn.finish()

    async def body() -> None:
        async with serving(broken) as (_, port):
            async with await RawClient.connect(port) as client:
                with ExpectLog("squall.application", "Uncaught exception"):
                    await client.send(request("GET", "/"))
                    response = await client.read_response()
                assert response.status == 500

    run(body())


@pytest.mark.parametrize("length", ["+10", "1_0", " 10", "foo", "\u0661\u0660"])
def test_a_response_content_length_must_be_digits(run: Runner[None], length: str) -> None:
    # Python's int() takes "+10" and "1_0"; HTTP does not: the application's error. Nothing
    # of that response is sent, and the connection closes (it cannot be framed).
    def answer(req: HTTPServerRequest) -> None:
        conn = req.connection
        assert conn is not None
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": length})
        )
        conn.write(b"1234567890")
        conn.finish()

    async def body() -> None:
        async with serving(answer) as (_, port):
            async with await RawClient.connect(port) as client:
                with ExpectLog("squall.application", "Uncaught exception"):
                    await client.send(request("GET", "/"))
                    assert await client.read_until_eof() == b""

    run(body())


def test_async_callable_is_awaited(run: Runner[None]) -> None:
    async def handler(req: HTTPServerRequest) -> None:
        await asyncio.sleep(0.01)
        reply(req, b"later")

    async def body() -> None:
        async with serving(handler) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("GET", "/"))
                assert (await client.read_response()).body == b"later"

    run(body())


def test_form_body_is_parsed_for_a_plain_callable(run: Runner[None]) -> None:
    def handler(req: HTTPServerRequest) -> None:
        reply(req, repr(sorted(req.arguments.items())).encode())

    async def body() -> None:
        async with serving(handler) as (_, port):
            async with await RawClient.connect(port) as client:
                form = {"Content-Type": "application/x-www-form-urlencoded"}
                await client.send(request("POST", "/?a=1", form, b"b=2&a=3"))
                resp = await client.read_response()
        assert resp.body == b"[('a', [b'1', b'3']), ('b', [b'2'])]"

    run(body())


def test_query_with_too_many_fields_gets_400_and_the_callable_is_not_called(
    run: Runner[None],
) -> None:
    called: list[str] = []

    def handler(req: HTTPServerRequest) -> None:
        called.append(req.path)
        reply(req, b"ok")

    async def body() -> None:
        async with serving(handler) as (_, port):
            async with await RawClient.connect(port) as client:
                query = "&".join(["a=1"] * 1001)
                with ExpectLog("squall.general", "Malformed HTTP request: Max number", level=20):
                    await client.send(request("GET", f"/many?{query}"))
                    resp = await client.read_response()
                assert (resp.status, resp.body) == (400, b"")
                await client.send(request("GET", "/next"))  # the connection carries on
                assert (await client.read_response()).body == b"ok"

    run(body())
    assert called == ["/next"]


# -- connections ----------------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(run: Runner[None]) -> None:
    connections: list[object] = []

    def handler(req: HTTPServerRequest) -> None:
        connections.append(req.server_connection)
        reply(req, req.path.encode())

    async def body() -> None:
        async with serving(handler) as (_, port):
            async with await RawClient.connect(port) as client:
                for i in range(5):
                    await client.send(request("GET", f"/{i}"))
                    resp = await client.read_response()
                    assert resp.body == f"/{i}".encode()
                    assert not resp.closes

    run(body())
    assert len(connections) == 5 and len(set(map(id, connections))) == 1


def test_pipelined_requests_over_a_socket_are_answered_in_order(run: Runner[None]) -> None:
    async def handler(req: HTTPServerRequest) -> None:
        # Finish out of order: later requests would be faster if they ran concurrently.
        await asyncio.sleep(0.002 * (10 - int(req.path[1:])))
        reply(req, req.path.encode())

    async def body() -> None:
        async with serving(handler) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(b"".join(request("GET", f"/{i}") for i in range(10)))
                bodies = [(await client.read_response()).body for _ in range(10)]
        assert bodies == [f"/{i}".encode() for i in range(10)]

    run(body())


def test_large_body_is_uploaded_and_echoed(run: Runner[None]) -> None:
    payload = os.urandom(8 * 1024 * 1024 + 13)

    def echo(req: HTTPServerRequest) -> None:
        reply(req, req.body)

    async def body() -> None:
        async with serving(echo) as (_, port):
            async with await RawClient.connect(port) as client:
                client.send_nowait(request("PUT", "/", body=payload))
                resp = await client.read_response(timeout=30)
        assert len(resp.body) == len(payload)
        assert hashlib.sha256(resp.body).digest() == hashlib.sha256(payload).digest()

    run(body())


def test_expect_100_continue_over_a_socket(run: Runner[None]) -> None:
    def echo(req: HTTPServerRequest) -> None:
        reply(req, req.body)

    async def body() -> None:
        async with serving(echo) as (_, port):
            async with await RawClient.connect(port) as client:
                head = {"Expect": "100-continue", "Content-Length": "5"}
                await client.send(request("PUT", "/", head))
                interim = await client.read_response()
                assert (interim.status, interim.raw) == (100, b"HTTP/1.1 100 Continue\r\n\r\n")
                await client.send(b"hello")
                assert (await client.read_response()).body == b"hello"

    run(body())


class StreamingEcho(HTTPServerConnectionDelegate):
    """Echoes a body while it is read, honouring write flow control."""

    def __init__(self) -> None:
        self.waits = 0  # writes that had to wait for the transport to drain

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
        return _StreamingEchoMessage(self, request_conn)


class _StreamingEchoMessage(HTTPMessageDelegate):
    def __init__(self, owner: StreamingEcho, conn: HTTPConnection) -> None:
        self.owner = owner
        self.conn = conn

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        h = HTTPHeaders({"Content-Length": headers.get("Content-Length", "0")})
        self.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), h)

    def data_received(self, chunk: bytes) -> Any:
        waiter: Any = self.conn.write(chunk)
        if not waiter.done():
            self.owner.waits += 1
        return waiter

    def finish(self) -> None:
        self.conn.finish()


def test_streaming_echo_with_a_slow_reader_is_byte_exact(run: Runner[None]) -> None:
    # More than loopback's socket buffers can absorb (they autotune to a few MiB), and a client
    # with a small receive window: the server's own write buffer must fill and make it wait.
    payload = os.urandom(16 * 1024 * 1024)

    delegate = StreamingEcho()

    async def body() -> None:
        async with serving(delegate, chunk_size=16 * 1024) as (_, port):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock)
            async with RawClient(reader, writer) as client:
                client.send_nowait(request("PUT", "/", body=payload))
                await asyncio.sleep(0.2)  # let the server's write buffer fill up
                resp = await client.read_response(timeout=30)
        assert resp.body == payload
        assert delegate.waits > 0  # the server did stop and wait for the slow reader

    run(body())


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def test_tls_with_an_ssl_context(run: Runner[None], ca: trustme.CA) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)

    async def body() -> None:
        async with serving(hello, ssl_options=server_ctx) as (_, port):
            client = await RawClient.connect(
                port, ssl=_client_context(ca), server_hostname="localhost"
            )
            async with client:
                await client.send(request("GET", "/secure"))
                resp = await client.read_response()
                await client.send(request("GET", "/again"))
                again = await client.read_response()
        assert resp.body.startswith(b"GET /secure HTTP/1.1 127.0.0.1 https ")
        assert again.status == 200

    run(body())


def test_tls_with_an_ssl_options_dict(run: Runner[None], ca: trustme.CA, tmp_path: Path) -> None:
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    options = {"certfile": str(tmp_path / "cert.pem"), "keyfile": str(tmp_path / "key.pem")}

    async def body() -> None:
        async with serving(hello, ssl_options=options) as (_, port):
            client = await RawClient.connect(
                port, ssl=_client_context(ca), server_hostname="localhost"
            )
            async with client:
                await client.send(request("GET", "/dict"))
                resp = await client.read_response()
        assert b" https " in resp.body

    run(body())


def test_ssl_options_with_a_missing_certfile_fail_in_the_constructor(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        HTTPServer(hello, ssl_options={"certfile": str(tmp_path / "missing.pem")})


def test_plain_http_to_a_tls_port_does_not_break_the_server(
    run: Runner[None], ca: trustme.CA
) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)

    async def body() -> None:
        async with serving(hello, ssl_options=server_ctx) as (_, port):
            async with await RawClient.connect(port) as plain:
                await plain.send(request("GET", "/"))
                try:
                    await plain.read_until_eof()
                except (ConnectionError, OSError):
                    pass
            client = await RawClient.connect(
                port, ssl=_client_context(ca), server_hostname="localhost"
            )
            async with client:
                await client.send(request("GET", "/"))
                assert (await client.read_response()).status == 200

    run(body())


# -- stopping -------------------------------------------------------------------------------------


def test_drain_finishes_requests_in_flight_and_closes_idle_connections_at_once(
    run: Runner[None],
) -> None:
    async def body() -> None:
        release = asyncio.Event()
        started = asyncio.Event()

        async def handler(req: HTTPServerRequest) -> None:
            if req.path == "/slow":
                started.set()
                await release.wait()
            reply(req, req.path.encode())

        async with serving(handler) as (server, port):
            idle = await RawClient.connect(port)
            busy = await RawClient.connect(port)
            await idle.send(request("GET", "/idle"))
            assert not (await idle.read_response()).closes
            await busy.send(request("GET", "/slow"))
            await started.wait()

            drain = asyncio.ensure_future(server.drain(timeout=10))
            t0 = time.monotonic()
            await idle.assert_closed(timeout=5)
            assert time.monotonic() - t0 < 2
            assert not drain.done()

            release.set()
            resp = await busy.read_response()
            assert resp.body == b"/slow" and resp.closes
            await busy.assert_closed()
            assert await drain is True
            await idle.close()
            await busy.close()
            with pytest.raises(OSError):
                await RawClient.connect(port)

    run(body())


def test_drain_closes_what_is_left_after_the_timeout(run: Runner[None]) -> None:
    async def body() -> None:
        async def never(req: HTTPServerRequest) -> None:
            await asyncio.Event().wait()

        async with serving(never) as (server, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("GET", "/"))
                await asyncio.sleep(0.05)
                t0 = time.monotonic()
                assert await server.drain(timeout=0.3) is False
                assert 0.2 <= time.monotonic() - t0 < 3
                await client.assert_closed()

    run(body())


def test_stop_stops_accepting_but_open_connections_are_served(run: Runner[None]) -> None:
    async def body() -> None:
        async with serving(hello) as (server, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("GET", "/before"))
                assert (await client.read_response()).status == 200
                server.stop()
                with pytest.raises(OSError):
                    await RawClient.connect(port)
                await client.send(request("GET", "/after"))
                assert (await client.read_response()).status == 200

    run(body())


def test_close_all_connections_closes_idle_and_busy_connections(run: Runner[None]) -> None:
    async def body() -> None:
        started = asyncio.Event()

        async def handler(req: HTTPServerRequest) -> None:
            if req.path == "/busy":
                started.set()
                await asyncio.Event().wait()
            reply(req)

        async with serving(handler) as (server, port):
            idle = await RawClient.connect(port)
            busy = await RawClient.connect(port)
            await idle.send(request("GET", "/"))
            await idle.read_response()
            await busy.send(request("GET", "/busy"))
            await started.wait()
            await server.close_all_connections()
            await idle.assert_closed(timeout=5)
            await busy.assert_closed(timeout=5)
            await idle.close()
            await busy.close()
            # The server itself still accepts.
            async with await RawClient.connect(port) as again:
                await again.send(request("GET", "/"))
                assert (await again.read_response()).status == 200

    run(body())


# -- constructor ----------------------------------------------------------------------------------


class _FakeIOLoop:
    def add_timeout(self, *args: Any) -> None:  # pragma: no cover - only its presence matters
        pass


def test_tornado4_positional_io_loop_is_skipped() -> None:
    # Tornado 4's positional order: (callback, no_keep_alive, io_loop, xheaders, ssl_options,
    # protocol, decompress_request, chunk_size, max_header_size, idle_connection_timeout,
    # body_timeout, max_body_size, max_buffer_size).
    legacy: tuple[Any, ...] = (False, _FakeIOLoop(), True, None, "https", True, 1024, 2048)
    server = HTTPServer(hello, *(legacy + (30.0, 5.0, None, 4096)))
    p = server.params
    assert (p.xheaders, p.protocol, p.decompress) == (True, "https", True)
    assert (p.chunk_size, p.max_header_size) == (1024, 2048)
    assert (p.idle_connection_timeout, p.body_timeout) == (30.0, 5.0)
    assert p.max_body_size == 4096  # from max_buffer_size
    assert p.trusted_downstream == frozenset()


def test_constructor_maps_tornado_arguments_to_protocol_params() -> None:
    server = HTTPServer(
        hello,
        no_keep_alive=True,
        max_buffer_size=1000,
        trusted_downstream=["10.0.0.1"],
        header_timeout=3.0,
        max_headers=7,
        io_loop=object(),
    )
    p = server.params
    assert p.no_keep_alive and p.max_body_size == 1000 and p.max_headers == 7
    assert p.trusted_downstream == frozenset({"10.0.0.1"})
    assert p.header_timeout == 3.0
    assert HTTPRequest is HTTPServerRequest


def test_constructor_refuses_something_that_cannot_serve() -> None:
    with pytest.raises(TypeError, match="callable"):
        HTTPServer(42)  # type: ignore[arg-type]


def test_request_start_line_reaches_a_delegate(run: Runner[None]) -> None:
    seen: list[RequestStartLine] = []

    class Delegate(HTTPServerConnectionDelegate):
        def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
            class Message(HTTPMessageDelegate):
                def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
                    seen.append(start_line)

                def finish(self) -> None:
                    request_conn.write_headers(
                        ResponseStartLine("HTTP/1.1", 204, "No Content"), HTTPHeaders()
                    )
                    request_conn.finish()

            return Message()

    async def body() -> None:
        async with serving(Delegate()) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("OPTIONS", "*") + request("DELETE", "/x"))
                data = b""
                while data.count(b"\r\n\r\n") < 2:
                    data += await client.reader.read(65536)
        assert [r.status for r in parse_responses(data)] == [204, 204]

    run(body())
    assert seen == [
        RequestStartLine("OPTIONS", "*", "HTTP/1.1"),
        RequestStartLine("DELETE", "/x", "HTTP/1.1"),
    ]


def test_nothing_is_served_before_the_loop_runs(loop_factory: Any) -> None:
    """A request queued while ``add_sockets`` creates the servers waits for the loop to run
    (Tornado's semantics): creating the second socket's server must not serve the first."""
    seen: list[str] = []

    def app(req: HTTPServerRequest) -> None:
        seen.append(req.uri or "")
        reply(req, b"served")

    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    client = socket.create_connection(listeners[0].getsockname()[:2], timeout=10)
    loop = loop_factory()
    server = HTTPServer(app)._server  # the layer under HTTPServer.add_sockets, given the loop
    try:
        client.sendall(request("GET", "/queued"))
        server.add_sockets(listeners, loop)
        assert seen == []  # the loop ran to create both servers, but served nothing

        async def answer() -> bytes:
            return await asyncio.get_running_loop().sock_recv(client, 65536)

        client.setblocking(False)
        data = loop.run_until_complete(asyncio.wait_for(answer(), 10))
        assert data.startswith(b"HTTP/1.1 200 ")
        assert data.endswith(b"served")
        assert seen == ["/queued"]
    finally:
        client.close()
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        if server.state is not None:
            server.state.close()
        loop.close()
