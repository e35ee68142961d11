"""Tests for squall.http1connection over real sockets: HTTP1Connection on both sides and
HTTP1ServerConnection serving an Application behind a TCPServer."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall import testing
from squall._h1stream import wire
from squall.http1connection import (
    _MAX_1XX_RESPONSES,
    HTTP1Connection,
    HTTP1ConnectionParameters,
    HTTP1ServerConnection,
)
from squall.httputil import (
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPOutputError,
    RequestStartLine,
    ResponseStartLine,
)
from squall.ioloop import IOLoop
from squall.iostream import IOStream, StreamClosedError
from squall.log import app_log, gen_log
from squall.netutil import add_accept_handler
from squall.tcpserver import TCPServer
from squall.testing import ExpectLog, gen_test
from squall.web import Application, RequestHandler


class Recorder(HTTPMessageDelegate):
    """Records what a connection delivers; ``fail`` names a method that raises."""

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.start_lines: list[Any] = []
        self.headers: list[HTTPHeaders] = []
        self.chunks: list[bytes] = []
        self.finished = 0
        self.closed = 0

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        self.start_lines.append(start_line)
        self.headers.append(headers)
        if self.fail == "headers_received":
            raise ValueError("in headers_received")

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        if self.fail == "data_received":
            raise ValueError("in data_received")

    def finish(self) -> None:
        self.finished += 1
        if self.fail == "finish":
            raise ValueError("in finish")

    def on_connection_close(self) -> None:
        self.closed += 1

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


class PairTest(testing.AsyncTestCase):
    """A connected pair of IOStreams: ``self.client`` and ``self.server``."""

    def setUp(self) -> None:
        super().setUp()
        self.io_loop.run_sync(self._connect)

    async def _connect(self) -> None:
        listener, port = testing.bind_unused_port()
        accepted: asyncio.Future[IOStream] = asyncio.get_running_loop().create_future()
        stop = add_accept_handler(listener, lambda conn, _: accepted.set_result(IOStream(conn)))
        self.client = IOStream(socket.socket())
        await self.client.connect(("127.0.0.1", port))
        self.server = await accepted
        stop()
        listener.close()

    def tearDown(self) -> None:
        self.client.close()
        self.server.close()
        super().tearDown()

    async def respond(self, data: bytes, close: bool = True) -> Recorder:
        """Have the server side send ``data``; read it as a response into a Recorder."""
        await self.server.write(data)
        if close:
            self.server.close()
        recorder = Recorder()
        self.result = await HTTP1Connection(self.client, True).read_response(recorder)
        return recorder


# ---- the client side ----------------------------------------------------------------------------


class ClientSideTest(PairTest):
    @gen_test
    async def test_fixed_length_response(self) -> None:
        recorder = await self.respond(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        assert self.result is True and recorder.body == b"hello" and recorder.finished == 1
        assert recorder.start_lines[0] == ResponseStartLine("HTTP/1.1", 200, "OK")

    @gen_test
    async def test_informational_responses_then_one_body(self) -> None:
        recorder = await self.respond(
            b"HTTP/1.1 100 CONTINUE\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        )
        assert [line.code for line in recorder.start_lines] == [100, 200]
        assert recorder.body == b"hello" and recorder.finished == 1 and recorder.closed == 0

    @gen_test
    async def test_too_many_informational_responses(self) -> None:
        with ExpectLog(gen_log, ".*Too many 1xx responses", level=logging.INFO):
            await self.respond(b"HTTP/1.1 103 Early\r\n\r\n" * (_MAX_1XX_RESPONSES + 1))
        assert self.result is False and self.client.closed()

    @gen_test
    async def test_http10_body_until_close(self) -> None:
        recorder = await self.respond(b"HTTP/1.0 200 OK\r\n\r\nhello")
        assert recorder.body == b"hello" and recorder.finished == 1

    @gen_test
    async def test_head_and_304_have_no_body_whatever_the_fields_say(self) -> None:
        connection = HTTP1Connection(self.client, True)
        connection.write_headers(RequestStartLine("HEAD", "/", "HTTP/1.1"), HTTPHeaders())
        connection.finish()
        await self.server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n")
        recorder = Recorder()
        assert await connection.read_response(recorder) is True
        assert recorder.body == b"" and recorder.finished == 1
        assert connection.keep_alive()
        again = HTTP1Connection(self.client, True)
        await self.server.write(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n")
        second = Recorder()
        assert await again.read_response(second) is True and second.finished == 1

    def check_delegate_error(self, method: str) -> None:
        async def body() -> None:
            await self.server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            recorder = Recorder(fail=method)
            with ExpectLog(app_log, "Uncaught exception"):
                result = await HTTP1Connection(self.client, True).read_response(recorder)
            assert result is False and recorder.closed == 1 and self.client.closed()

        self.io_loop.run_sync(body)

    def test_error_in_each_delegate_method(self) -> None:
        self.check_delegate_error("headers_received")

    def test_error_in_data_received(self) -> None:
        self.check_delegate_error("data_received")

    def test_error_in_finish(self) -> None:
        self.check_delegate_error("finish")

    @gen_test
    async def test_tiny_chunks_are_coalesced_and_the_loop_keeps_running(self) -> None:
        count = 5000
        await self.server.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"1\r\nx\r\n" * count
            + b"0\r\n\r\n"
        )
        self.server.close()
        await asyncio.sleep(0.05)
        ticks = 0
        done = False

        def tick() -> None:
            nonlocal ticks
            if not done:
                ticks += 1
                IOLoop.current().add_callback(tick)

        IOLoop.current().add_callback(tick)
        recorder = Recorder()
        await HTTP1Connection(self.client, True).read_response(recorder)
        done = True
        assert recorder.body == b"x" * count
        assert len(recorder.chunks) < 10 and ticks > 10

    @gen_test
    async def test_chunk_extensions_and_trailers_are_accepted(self) -> None:
        recorder = await self.respond(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;name=value\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
        assert recorder.body == b"abc" and recorder.finished == 1

    @gen_test
    async def test_bad_chunk_terminator(self) -> None:
        with ExpectLog(gen_log, ".*improperly terminated chunk", level=logging.INFO):
            await self.respond(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfooXX0\r\n\r\n",
                close=False,
            )
        assert self.result is False

    @gen_test
    async def test_closed_mid_body_raises_stream_closed(self) -> None:
        recorder = Recorder()
        await self.server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        self.server.close()
        with pytest.raises(StreamClosedError):
            await HTTP1Connection(self.client, True).read_response(recorder)
        assert recorder.closed == 1 and recorder.finished == 0

    @gen_test
    async def test_gzip_is_decoded_when_asked(self) -> None:
        import gzip

        body = gzip.compress(b"hello " * 1000)
        await self.server.write(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%b"
            % (len(body), body)
        )
        recorder = Recorder()
        params = HTTP1ConnectionParameters(decompress=True, chunk_size=1024)
        await HTTP1Connection(self.client, True, params).read_response(recorder)
        assert recorder.body == b"hello " * 1000
        assert max(map(len, recorder.chunks)) <= 1024
        assert recorder.headers[0]["X-Consumed-Content-Encoding"] == "gzip"
        assert "Content-Encoding" not in recorder.headers[0]

    @gen_test
    async def test_request_writing_chunked_and_sized(self) -> None:
        connection = HTTP1Connection(self.client, True)
        headers = HTTPHeaders({"Host": "x"})
        connection.write_headers(RequestStartLine("POST", "/up", "HTTP/1.1"), headers)
        connection.write(b"abc")
        connection.write(b"")
        connection.finish()
        data = await self.server.read_until(b"0\r\n\r\n")
        assert data.startswith(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n")
        assert data.endswith(b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n")

        sized = HTTP1Connection(self.client, True)
        sized.write_headers(
            RequestStartLine("PUT", "/", "HTTP/1.1"), HTTPHeaders({"Content-Length": "2"}), b"ok"
        )
        with pytest.raises(HTTPOutputError, match="more data than Content-Length"):
            sized.write(b"!")

    @gen_test
    async def test_finishing_short_of_the_content_length(self) -> None:
        connection = HTTP1Connection(self.client, True)
        connection.write_headers(
            RequestStartLine("PUT", "/", "HTTP/1.1"), HTTPHeaders({"Content-Length": "5"}), b"ab"
        )
        with pytest.raises(HTTPOutputError, match="3 bytes less than Content-Length"):
            connection.finish()
        assert self.client.closed()

    @gen_test
    async def test_line_breaks_in_fields_are_refused(self) -> None:
        connection = HTTP1Connection(self.client, True)
        for headers in ({"X-A": "1\r\nX-B: 2"}, {"X\nB": "1"}):
            with pytest.raises(ValueError, match="Newline"):
                connection.write_headers(RequestStartLine("GET", "/", ""), HTTPHeaders(headers))
        with pytest.raises(ValueError, match="not latin-1"):
            connection.write_headers(RequestStartLine("GET", "/", ""), HTTPHeaders({"X": "€"}))

    @gen_test
    async def test_a_closed_stream_fails_writes_without_raising(self) -> None:
        self.client.close()
        connection = HTTP1Connection(self.client, True)
        future = connection.write_headers(RequestStartLine("GET", "/", ""), HTTPHeaders())
        with pytest.raises(StreamClosedError):
            await future

    @gen_test
    async def test_detach_hands_the_stream_over(self) -> None:
        connection = HTTP1Connection(self.client, True)
        assert connection.detach() is self.client
        with pytest.raises(RuntimeError, match="twice"):
            connection.detach()
        assert not self.client.closed()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=300), max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=8),
)
def test_chunked_bodies_survive_any_chunking_and_any_split(
    sizes: list[int], cuts: list[int]
) -> None:
    body = bytes(i % 251 for i in range(sum(sizes)))
    parts, offset = [], 0
    for size in sizes:
        parts.append(b"%x\r\n%b\r\n" % (size, body[offset : offset + size]))
        offset += size
    wire_bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(parts)
    wire_bytes += b"0\r\n\r\n"
    pieces, position, index = [], 0, 0
    while position < len(wire_bytes):
        step = cuts[index % len(cuts)]
        pieces.append(wire_bytes[position : position + step])
        position, index = position + step, index + 1

    async def run() -> bytes:
        listener, port = testing.bind_unused_port()
        accepted: asyncio.Future[IOStream] = asyncio.get_running_loop().create_future()
        stop = add_accept_handler(listener, lambda conn, _: accepted.set_result(IOStream(conn)))
        client = IOStream(socket.socket())
        await client.connect(("127.0.0.1", port))
        server = await accepted
        stop()
        listener.close()

        async def send() -> None:
            for piece in pieces:
                await server.write(piece)
                await asyncio.sleep(0)

        sender = asyncio.get_running_loop().create_task(send())
        recorder = Recorder()
        try:
            await HTTP1Connection(client, True).read_response(recorder)
            await sender
        finally:
            client.close()
            server.close()
        return recorder.body

    loop = IOLoop(make_current=False)
    try:
        assert loop.run_sync(run, timeout=10) == body
    finally:
        loop.close(all_fds=True)


@given(st.binary(max_size=300))
def test_parse_head_raises_only_http_input_error(data: bytes) -> None:
    try:
        start, headers = wire.parse_head(data + b"\r\n\r\n")
    except HTTPInputError:
        return
    assert "\n" not in start and all("\n" not in v for _, v in headers.get_all())


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
        st.from_regex(r"[ -~]{0,40}", fullmatch=True).map(str.strip),
        max_size=8,
    )
)
def test_format_then_parse_round_trips(fields: dict[str, str]) -> None:
    headers = HTTPHeaders(fields)
    start, parsed = wire.parse_head(wire.format_head("GET / HTTP/1.1", headers))
    assert start == "GET / HTTP/1.1" and parsed == headers


# ---- the server side ----------------------------------------------------------------------------


class Hello(RequestHandler):
    def get(self) -> None:
        self.write(f"hello {self.request.remote_ip} {self.request.protocol}")

    def post(self) -> None:
        self.write(self.request.body)


class Streamed(RequestHandler):
    async def get(self) -> None:
        for part in ("a", "b", "c"):
            self.write(part)
            await self.flush()


class Server(TCPServer):
    """Serves ``delegate`` with HTTP1ServerConnection (the pattern the module documents)."""

    def __init__(self, delegate: Any, params: HTTP1ConnectionParameters | None = None) -> None:
        super().__init__()
        self.delegate, self.params = delegate, params
        self.connections: list[HTTP1ServerConnection] = []

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        connection = HTTP1ServerConnection(stream, self.params)
        self.connections.append(connection)
        connection.start_serving(self.delegate)


class ServerSideTest(testing.AsyncTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.app = Application([("/", Hello), ("/streamed", Streamed)])
        self.start()

    def start(self, params: HTTP1ConnectionParameters | None = None) -> None:
        sock, self.port = testing.bind_unused_port()
        self.tcp = Server(self.app, params)
        self.tcp.add_sockets([sock])

    def tearDown(self) -> None:
        self.tcp.stop()
        for connection in self.tcp.connections:
            self.io_loop.run_sync(connection.close)
        super().tearDown()

    async def talk(self, data: bytes, until_close: bool = True) -> bytes:
        stream = IOStream(socket.socket())
        await stream.connect(("127.0.0.1", self.port))
        await stream.write(data)
        try:
            if until_close:
                return await stream.read_until_close()
            return await stream.read_until(b"\r\n\r\n")
        finally:
            stream.close()

    @gen_test
    async def test_an_application_answers_with_framing_date_and_peer(self) -> None:
        answer = await self.talk(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nDate: " in head and b"\r\nConnection: close" in head
        assert body == b"hello 127.0.0.1 http"

    @gen_test
    async def test_keep_alive_and_pipelined_requests_in_order(self) -> None:
        answer = await self.talk(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert answer.count(b"HTTP/1.1 200 OK") == 3
        assert answer.index(b"hello") < answer.index(b"body") < answer.rindex(b"hello")

    @gen_test
    async def test_chunked_request_and_streamed_chunked_response(self) -> None:
        answer = await self.talk(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close"
            b"\r\n\r\n4\r\nbody\r\n0\r\n\r\n"
        )
        assert answer.endswith(b"\r\n\r\nbody")
        streamed = await self.talk(
            b"GET /streamed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert b"Transfer-Encoding: chunked" in streamed
        assert streamed.endswith(b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n")

    @gen_test
    async def test_http10_closes_unless_keep_alive(self) -> None:
        answer = await self.talk(b"GET / HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"hello" in answer
        kept = await self.talk(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False)
        assert b"\r\nConnection: keep-alive" in kept

    @gen_test
    async def test_expect_100_continue(self) -> None:
        stream = IOStream(socket.socket())
        await stream.connect(("127.0.0.1", self.port))
        try:
            await stream.write(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
            )
            assert (await stream.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
            await stream.write(b"ok")
            head = await stream.read_until(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and await stream.read_bytes(2) == b"ok"
        finally:
            stream.close()

    @gen_test
    async def test_malformed_request_gets_400_and_a_close(self) -> None:
        with ExpectLog(gen_log, "Malformed HTTP message from 127.0.0.1", level=logging.INFO):
            answer = await self.talk(b"GARBAGE\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 Bad Request")

    @gen_test
    async def test_no_keep_alive_and_header_timeout(self) -> None:
        self.tcp.stop()
        self.start(HTTP1ConnectionParameters(no_keep_alive=True))
        answer = await self.talk(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # closed by the server
        assert b"Connection: close" in answer and answer.endswith(b"http")
        self.tcp.stop()
        self.start(HTTP1ConnectionParameters(header_timeout=0.1))
        assert await self.talk(b"GET / HTTP/1.1\r\n") == b""  # never finished: closed

    def test_start_serving_twice_is_refused(self) -> None:
        sock_a, sock_b = socket.socketpair()
        stream = IOStream(sock_a)
        try:
            connection = HTTP1ServerConnection(stream)
            connection.start_serving(self.app)
            with pytest.raises(RuntimeError, match="twice"):
                connection.start_serving(self.app)
            self.io_loop.run_sync(connection.close)
        finally:
            sock_b.close()


class DelegateServerTest(PairTest):
    """HTTP1Connection's server side with a hand-written delegate (Tornado's raw API)."""

    @gen_test
    async def test_server_side_write_rules(self) -> None:
        connection = HTTP1Connection(self.server, False)
        await self.client.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        recorder = Recorder()

        async def respond() -> None:
            while not recorder.finished:
                await asyncio.sleep(0.01)
            headers = HTTPHeaders({"Content-Length": "2"})
            connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
            with pytest.raises(HTTPOutputError):
                connection.write(b"too long")
            connection.finish()

        responder = asyncio.get_running_loop().create_task(respond())
        assert await connection.read_response(recorder) is False  # the stream was closed
        await responder
        assert recorder.start_lines[0] == RequestStartLine("GET", "/", "HTTP/1.1")
        sent = await self.client.read_until_close()  # the head, then the close: no body
        assert sent.startswith(b"HTTP/1.1 200 OK\r\n") and sent.endswith(b"\r\n\r\n")

    @gen_test
    async def test_close_callback_runs_when_the_client_goes_away(self) -> None:
        connection = HTTP1Connection(self.server, False)
        closed = asyncio.Event()
        connection.set_close_callback(closed.set)
        await self.client.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reading = asyncio.get_running_loop().create_task(connection.read_response(Recorder()))
        await asyncio.sleep(0.05)
        self.client.close()
        await asyncio.wait_for(closed.wait(), 5)
        assert await reading is False
