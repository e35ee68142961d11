"""websocket_connect: Tornado's client interface over the websockets client, against squall."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from squall.httpclient import HTTPClientError, HTTPRequest
from squall.web import Application
from squall.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
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
    def open(self) -> None:
        self.write_message(self.request.headers.get("X-Token", "none"))

    def on_message(self, message: str | bytes) -> None:
        pass


class Chat(Echo):
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[-1] if subprotocols else None


@pytest.fixture(autouse=True)
def _fresh_closes() -> None:
    Echo.closes = []


def app() -> Application:
    return Application(
        [("/ws", Echo), ("/headers", Headers), ("/chat", Chat)],
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

    run(body())
    assert Echo.closes == [(4003, "bye"), (None, None)]


def test_http_request_headers_are_sent(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            request = HTTPRequest(served.url("/headers"), headers={"X-Token": "secret"})
            conn = await websocket_connect(request)
            assert await conn.read_message() == "secret"
            conn.close()
            await conn.wait_closed()

    run(body())


def test_subprotocols_and_selected_subprotocol(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url("/chat"), subprotocols=["v1", "v2"])
            assert conn.selected_subprotocol == "v2"
            conn.close()
            await conn.wait_closed()

    run(body())


def test_compression_options_offer_permessage_deflate(run: Runner[Any]) -> None:
    class Deflating(Echo):
        def get_compression_options(self) -> dict[str, Any] | None:
            return {}

    async def body() -> None:
        async with serve(Application([("/ws", Deflating)])) as served:
            conn = await websocket_connect(served.url(), compression_options={})
            names = [e.name for e in conn.protocol.protocol.extensions]
            assert names == ["permessage-deflate"]
            await conn.write_message("z" * 10000)
            assert await conn.read_message() == "z" * 10000
            conn.close()
            await conn.wait_closed()

    run(body())


def test_refused_upgrade_raises_http_client_error(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            with pytest.raises(HTTPClientError) as info:
                await websocket_connect(served.url("/missing"))
            assert info.value.code == 404

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


def test_every_pending_read_resolves_to_none_at_close(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url())
            first, second = conn.read_message(), conn.read_message()
            conn.write_message("close me")
            assert await wait_for(first) is None
            assert await wait_for(second) is None

    run(body())


def test_exception_in_on_message_callback_is_logged_not_lost(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    got: list[str | bytes | None] = []

    def callback(message: str | bytes | None) -> None:
        got.append(message)
        if message == "boom":
            raise ValueError("callback bug")

    async def body() -> None:
        async with serve(app()) as served:
            conn = await websocket_connect(served.url(), on_message_callback=callback)
            conn.write_message("boom")
            conn.write_message("after")
            await poll(lambda: len(got) == 2)
            conn.close()
            await conn.wait_closed()

    run(body())
    assert got[:2] == ["boom", "after"]
    assert any(
        r.getMessage() == "Uncaught exception in on_message_callback" for r in caplog.records
    )
