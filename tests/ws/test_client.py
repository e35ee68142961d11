"""websocket_connect and WebSocketClientConnection (squall's client on TCPClient/IOStream),
against squall's server and against hand-written peers where the server must misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from websockets.frames import CLOSE, PING, Close, Frame
from websockets.protocol import OPEN, SERVER, Protocol
from websockets.utils import accept_key

from squall.httpclient import HTTPClientError, HTTPRequest
from squall.ioloop import IOLoop
from squall.log import app_log
from squall.netutil import OverrideResolver, Resolver
from squall.simple_httpclient import HTTPTimeoutError
from squall.testing import ExpectLog
from squall.web import Application, RequestHandler
from squall.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketError,
    WebSocketHandler,
    websocket_connect,
)
from tests.conftest import Runner
from tests.ws.wsutil import poll, serve, wait_for


class Echo(WebSocketHandler):
    closes: list[tuple[int | None, str | None]] = []

    def on_message(self, message: str | bytes) -> None:
        if message == "close me":
            self.close(4002, "as asked")
            return
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.closes.append((self.close_code, self.close_reason))


class Headers(WebSocketHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Served-By", "squall test")

    def open(self) -> None:
        self.write_message(self.request.headers.get("X-Token", "none"))

    def on_message(self, message: str | bytes) -> None:
        pass


class Chat(Echo):
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[-1] if subprotocols else None


class Plain(RequestHandler):
    def get(self) -> None:
        self.write("not a websocket")


class Moved(RequestHandler):
    def get(self) -> None:
        self.redirect("/ws")


@pytest.fixture(autouse=True)
def _fresh_closes() -> None:
    Echo.closes = []


def app(**settings: Any) -> Application:
    return Application(
        [
            ("/ws", Echo),
            ("/headers", Headers),
            ("/chat", Chat),
            ("/plain", Plain),
            ("/moved", Moved),
        ],
        **settings,
    )


def test_write_and_read_messages(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url())
            assert isinstance(conn, WebSocketClientConnection)
            await conn.write_message("text")
            assert await conn.read_message() == "text"
            await conn.write_message(b"\x00bin", binary=True)
            assert await conn.read_message() == b"\x00bin"
            await conn.write_message({"k": [1, 2]})
            assert await conn.read_message() == '{"k": [1, 2]}'
            conn.close()
            assert await wait_for(conn.read_message()) is None
            assert await conn.read_message() is None  # and stays None

    run(body())


def test_on_message_callback_gets_messages_then_none(run: Runner[Any]) -> None:
    got: list[str | bytes | None] = []

    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url(), on_message_callback=got.append)
            conn.write_message("one")
            conn.write_message("two")
            await poll(lambda: len(got) == 2)
            with pytest.raises(RuntimeError, match="on_message_callback"):
                conn.read_message()
            conn.write_message("close me")
            await poll(lambda: len(got) == 3)

    run(body())
    assert got == ["one", "two", None]


def test_server_close_sets_close_code_and_reason(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url())
            conn.write_message("close me")
            assert await wait_for(conn.read_message()) is None
            assert (conn.close_code, conn.close_reason) == (4002, "as asked")
            with pytest.raises(WebSocketClosedError):
                conn.write_message("after close")
            with pytest.raises(WebSocketClosedError):
                conn.ping(b"after close")

    run(body())


def test_client_close_code_reaches_the_handler(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url())
            conn.close(4003, "bye")
            await poll(lambda: len(Echo.closes) == 1)
            conn = await websocket_connect(served.url())
            conn.close()  # an empty close frame: no code, as in Tornado
            await poll(lambda: len(Echo.closes) == 2)
            await conn.wait_closed()
            conn = await websocket_connect(served.url())
            conn.close(reason="only a reason")  # 1000 then
            await conn.wait_closed()

    run(body())
    assert Echo.closes == [(4003, "bye"), (None, None), (1000, "only a reason")]


def test_write_right_after_close_raises_at_once(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url())
            conn.close()
            assert conn.protocol is None  # as in Tornado: forgotten by close()
            with pytest.raises(WebSocketClosedError):
                conn.write_message("too late")
            conn.close()  # a second close does nothing
            await wait_for(conn.wait_closed())

    run(body())


def test_http_request_headers_are_sent_and_response_headers_kept(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            request = HTTPRequest(served.url("/headers"), headers={"X-Token": "secret"})
            conn = await websocket_connect(request)
            assert await conn.read_message() == "secret"
            assert conn.headers is not None
            assert conn.headers["X-Served-By"] == "squall test"
            assert conn.headers["Upgrade"].lower() == "websocket"
            assert conn.request is request
            conn.close()
            await conn.wait_closed()

    run(body())


def test_code_and_reason_exist_and_are_none_as_in_tornado(run: Runner[Any]) -> None:
    """Tornado sets them only for a refused handshake, which raises instead; code that reads
    them on a connection must find them (issue 19: a notebook server's tests did). The close
    frame's code is ``close_code``: ``code`` stays None after it, as on Tornado 6.6.1."""

    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url())
            assert conn.code is None
            assert conn.reason is None
            conn.close()
            await conn.wait_closed()
            conn = await websocket_connect(served.url())
            await conn.write_message("close me")
            assert await wait_for(conn.read_message()) is None
            assert (conn.close_code, conn.close_reason) == (4002, "as asked")
            assert conn.code is None
            conn.code = 1000  # a plain attribute, as in Tornado: code may set it
            assert conn.code == 1000

    run(body())


def test_subprotocols_and_selected_subprotocol(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url("/chat"), subprotocols=["v1", "v2"])
            assert conn.selected_subprotocol == "v2"
            conn.close()
            await conn.wait_closed()
            conn = await websocket_connect(served.url("/chat"))
            assert conn.selected_subprotocol is None
            conn.close()
            await conn.wait_closed()

    run(body())


def test_compression_options_negotiate_permessage_deflate(run: Runner[Any]) -> None:
    class Deflating(Echo):
        def get_compression_options(self) -> dict[str, Any] | None:
            return {"compression_level": 9}

    async def body() -> None:
        async with serve(Application([("/ws", Deflating)])) as served:
            conn = await websocket_connect(served.url(), compression_options={"mem_level": 9})
            assert conn.headers is not None
            assert conn.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            await conn.write_message("z" * 10000)
            assert await conn.read_message() == "z" * 10000
            protocol = conn.protocol
            assert protocol is not None
            assert protocol._message_bytes_out == protocol._message_bytes_in == 10000
            assert protocol._wire_bytes_out < 200 and protocol._wire_bytes_in < 200
            conn.close()
            await conn.wait_closed()
            # Without compression_options nothing is offered.
            conn = await websocket_connect(served.url())
            assert conn.headers is not None and "Sec-WebSocket-Extensions" not in conn.headers
            conn.close()
            await conn.wait_closed()

    run(body())


def test_refused_upgrade_raises_http_client_error(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            with pytest.raises(HTTPClientError) as info:
                await websocket_connect(served.url("/missing"))
            assert info.value.code == 404
            response = info.value.response  # as in Tornado: the whole refusal
            assert response is not None and response.code == 404
            assert response.body.startswith(b"<html><title>404: Not Found")
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.effective_url == f"http://127.0.0.1:{served.port}/missing"
            with pytest.raises(HTTPClientError) as info:
                await websocket_connect(served.url("/moved"))  # redirects are not followed
            assert info.value.code == 302
            with pytest.raises(HTTPClientError) as info:
                request = HTTPRequest(served.url(), headers={"Origin": "http://evil.example"})
                await websocket_connect(request)
            assert info.value.code == 403
            assert info.value.response is not None
            assert info.value.response.body == b"Cross origin websockets not allowed"

    run(body())


def test_a_2xx_answer_raises_websocket_error(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            with pytest.raises(WebSocketError, match="Non-websocket response: HTTP 200"):
                await websocket_connect(served.url("/plain"))

    run(body())


def test_unreachable_server_raises_os_error(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            port = served.port
        with pytest.raises(OSError):
            await websocket_connect(f"ws://127.0.0.1:{port}/ws")

    run(body())


def test_a_url_that_is_not_ws_raises_value_error(run: Runner[Any]) -> None:
    async def body() -> None:
        with pytest.raises(ValueError, match="Not a ws:// or wss:// URL"):
            await websocket_connect("http://127.0.0.1:1/ws")

    run(body())


def test_legacy_callback_receives_the_future(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            websocket_connect(served.url(), callback=done.set_result)
            future = await wait_for(done)
            conn = future.result()
            conn.write_message("via callback")
            assert await conn.read_message() == "via callback"
            conn.close()
            await conn.wait_closed()

    run(body())


def test_websocket_connect_before_the_loop_runs() -> None:
    """Tornado code calls websocket_connect before starting the IOLoop (its tests do)."""
    loop = IOLoop(make_current=True)
    try:

        async def start() -> Any:
            return serve(app())

        served_cm = loop.run_sync(start)
        served = loop.run_sync(served_cm.__aenter__)
        try:
            future = websocket_connect(served.url())  # the loop is not running here

            async def use() -> str | bytes | None:
                conn = await future
                conn.write_message("early")
                message = await conn.read_message()
                conn.close()
                await conn.wait_closed()
                return message

            assert loop.run_sync(use, timeout=5) == "early"
        finally:
            loop.run_sync(lambda: served_cm.__aexit__(None, None, None))
    finally:
        loop.close(all_fds=True)


def test_every_pending_read_resolves_to_none_at_close(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url())
            first, second = conn.read_message(), conn.read_message()
            conn.write_message("close me")
            assert await wait_for(first) is None
            assert await wait_for(second) is None

    run(body())


def test_exception_in_on_message_callback_is_logged_and_closes_with_1011(
    run: Runner[Any],
) -> None:
    got: list[str | bytes | None] = []

    def callback(message: str | bytes | None) -> None:
        got.append(message)
        if message == "boom":
            raise ValueError("callback bug")

    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url(), on_message_callback=callback)
            with ExpectLog(app_log, "Uncaught exception in a WebSocket client callback"):
                conn.write_message("boom")
                conn.write_message("after")
                await poll(lambda: len(got) == 2)
            await poll(lambda: len(Echo.closes) == 1)

    run(body())
    assert got == ["boom", None]  # nothing after the failure but the end
    assert Echo.closes == [(1011, None)]


def test_messages_wait_in_the_socket_while_nobody_reads(run: Runner[Any]) -> None:
    chunk = b"x" * 65536
    count = 400  # 25 MiB: far more than the socket buffers hold
    state: dict[str, Any] = {"sent": 0, "done": False}

    class Flood(WebSocketHandler):
        def open(self) -> None:
            self._task = asyncio.ensure_future(self.flood())

        async def flood(self) -> None:
            for i in range(count):
                await self.write_message(chunk, binary=True)
                state["sent"] = i + 1
            state["done"] = True

        def on_message(self, message: str | bytes) -> None:
            pass

    async def body() -> None:
        async with serve(Application([("/ws", Flood)])) as served:
            conn = await websocket_connect(served.url(), max_message_size=None)
            await poll(lambda: state["sent"] > 0)
            for _ in range(20):  # the client reads nothing: the server stays blocked
                await asyncio.sleep(0.005)
            stuck = state["sent"]
            assert stuck < count
            for _ in range(count):
                assert await wait_for(conn.read_message()) == chunk
            await poll(lambda: state["done"])
            assert stuck * len(chunk) < 24 * 1024 * 1024
            conn.close()
            await conn.wait_closed()

    run(body())


def test_too_big_message_from_the_server_closes_with_1009(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url(), max_message_size=100)
            conn.write_message("x" * 100)
            assert await wait_for(conn.read_message()) == "x" * 100
            conn.write_message("x" * 101)  # echoed: too big for this client
            assert await wait_for(conn.read_message()) is None
            await poll(lambda: len(Echo.closes) == 1)

    run(body())
    assert Echo.closes == [(1009, "message too big")]


def test_client_keepalive_pings_reach_on_ping(run: Runner[Any]) -> None:
    pings: list[bytes] = []

    class Pinged(Echo):
        def on_ping(self, data: bytes) -> None:
            pings.append(data)

    async def body() -> None:
        async with serve(Application([("/ws", Pinged)])) as served:
            conn = await websocket_connect(served.url(), ping_interval=0.01, ping_timeout=0)
            await poll(lambda: len(pings) >= 3)
            protocol = conn.protocol
            assert protocol is not None
            assert (protocol.ping_interval, protocol.ping_timeout) == (0.01, 0)
            conn.close()
            await conn.wait_closed()

    run(body())


def test_manual_ping_gets_on_pong(run: Runner[Any]) -> None:
    pongs: list[bytes] = []

    class Listening(WebSocketClientConnection):
        def on_pong(self, data: bytes) -> None:
            pongs.append(data)

    async def body() -> None:
        async with serve(app()) as served:
            conn = Listening(HTTPRequest(served.url()))
            await conn.connect_future
            with pytest.raises(ValueError, match="125"):
                conn.ping(b"x" * 126)
            conn.ping("hello")
            await poll(lambda: pongs == [b"hello"])
            conn.close()
            await conn.wait_closed()

    run(body())


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[int, list[Frame]]]:
    """A WebSocket server that accepts the handshake, records the client's frames, and never
    sends anything again (no pongs, no close reply)."""
    frames: list[Frame] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
        )
        codec = Protocol(SERVER, state=OPEN, max_size=None)
        while data := await reader.read(65536):
            codec.receive_data(data)
            frames.extend(e for e in codec.events_received() if isinstance(e, Frame))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], frames
    finally:
        server.close()
        await server.wait_closed()


def test_client_ping_timeout_closes_with_1000_ping_timed_out(run: Runner[Any]) -> None:
    async def body() -> None:
        async with silent_server() as (port, frames):
            conn = await websocket_connect(
                f"ws://127.0.0.1:{port}/", ping_interval=0.05, ping_timeout=0.05
            )
            assert conn.protocol is not None
            conn.protocol.close_timeout = 0.2
            await poll(lambda: any(f.opcode is CLOSE for f in frames), timeout=3.0)
            assert frames[0].opcode is PING
            close = next(f for f in frames if f.opcode is CLOSE)
            assert Close.parse(close.data) == Close(1000, "ping timed out")
            # The server never answers the close: the client gives up after close_timeout.
            assert await wait_for(conn.read_message()) is None
            assert conn.close_code is None

    run(body())


def test_resolver_is_used_to_find_the_host(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            resolver = OverrideResolver(
                Resolver(), {("ws.invalid", served.port): ("127.0.0.1", served.port)}
            )
            try:
                conn = await websocket_connect(
                    f"ws://ws.invalid:{served.port}/ws", resolver=resolver
                )
                conn.write_message("resolved")
                assert await conn.read_message() == "resolved"
                conn.close()
                await conn.wait_closed()
            finally:
                resolver.close()

    run(body())


def test_wss_with_ca_certs_and_validation(run: Runner[Any]) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def body() -> None:
        async with serve(app(), ssl_options=server_context) as served:
            with ca.cert_pem.tempfile() as ca_file:
                conn = await websocket_connect(HTTPRequest(served.url(), ca_certs=ca_file))
            conn.write_message("over tls")
            assert await conn.read_message() == "over tls"
            conn.close()
            await conn.wait_closed()
            with pytest.raises(ssl.SSLError):
                await websocket_connect(served.url())  # the test CA is not trusted by default
            conn = await websocket_connect(HTTPRequest(served.url(), validate_cert=False))
            conn.close()
            await conn.wait_closed()

    run(body())


def test_handshake_timeout_is_a_599(run: Runner[Any]) -> None:
    async def body() -> None:
        # A server that accepts TCP but never answers the upgrade request.
        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            request = HTTPRequest(f"ws://127.0.0.1:{port}/", request_timeout=0.1)
            with pytest.raises(HTTPClientError) as info:
                await websocket_connect(request)
            assert isinstance(info.value, HTTPTimeoutError)
            assert info.value.code == 599
            assert str(info.value) == "Timeout during request"
        finally:
            server.close()
            await server.wait_closed()

    run(body())
