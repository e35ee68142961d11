"""``WebSocketHandler.ws_connection``: assignable, and the handler's only way to its connection.

Issue 19: a notebook server's tests build a handler by hand and put a mock there
(``handler.ws_connection = MagicMock()``); its code checks ``ws_connection is None``,
``ws_connection.is_closing()`` and ``ws_connection.client_terminated``. All of that works as on
Tornado: the handler calls the connection's Tornado-named methods (``write_message``,
``write_ping``, ``close``, ``is_closing``), forgets it on ``close()`` and when it is gone.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from websockets.asyncio.client import connect

from squall.httputil import HTTPHeaders, HTTPServerRequest
from squall.web import Application
from squall.websocket import WebSocketClosedError, WebSocketHandler
from tests.conftest import Runner
from tests.ws.wsutil import poll, serve, wait_for


class Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def handler_by_hand() -> Echo:
    """A handler made the way a test suite makes one: no server, a mock connection."""
    request = HTTPServerRequest("GET", "/ws", headers=HTTPHeaders({"Host": "foo"}))
    request.connection = MagicMock()
    return Echo(Application(), request)


def test_ws_connection_is_none_before_the_upgrade_and_assignable() -> None:
    handler = handler_by_hand()
    assert handler.ws_connection is None
    connection = MagicMock()
    handler.ws_connection = connection
    assert handler.ws_connection is connection


def test_the_handler_speaks_to_an_assigned_connection() -> None:
    handler = handler_by_hand()
    connection = MagicMock()
    connection.is_closing = lambda: False
    handler.ws_connection = connection
    handler.ping(b"beat")
    connection.write_ping.assert_called_once_with(b"beat")
    handler.write_message("hi")
    handler.write_message({"a": 1}, binary=True)
    assert connection.write_message.call_args_list == [
        (("hi",), {"binary": False}),
        (('{"a": 1}',), {"binary": True}),
    ]
    handler.set_nodelay(True)
    connection.set_nodelay.assert_called_once_with(True)
    handler.close(4000, "done")
    connection.close.assert_called_once_with(4000, "done")
    assert handler.ws_connection is None  # forgotten, as in Tornado
    with pytest.raises(WebSocketClosedError):
        handler.write_message("after close")
    with pytest.raises(WebSocketClosedError):
        handler.ping()


def test_a_closing_connection_refuses_writes_and_pings() -> None:
    handler = handler_by_hand()
    connection = MagicMock()
    connection.is_closing = lambda: True
    handler.ws_connection = connection
    with pytest.raises(WebSocketClosedError):
        handler.write_message("x")
    with pytest.raises(WebSocketClosedError):
        handler.ping()
    connection.write_message.assert_not_called()
    connection.write_ping.assert_not_called()


def test_close_on_a_client_terminated_connection_then_writes_raise() -> None:
    """The notebook server's keepalive: ``if ws_connection.client_terminated: close()``."""
    handler = handler_by_hand()
    handler.ws_connection = MagicMock()
    handler.ws_connection.client_terminated = True
    if handler.ws_connection.client_terminated:
        handler.close()
    with pytest.raises(WebSocketClosedError):
        handler.write_message("hello")


def test_the_real_connection_follows_tornados_protocol_interface(run: Runner[Any]) -> None:
    seen: dict[str, Any] = {}

    class Watched(Echo):
        def open(self) -> None:
            connection = self.ws_connection
            assert connection is not None
            seen["connection"] = connection
            seen["open"] = (
                connection.is_closing(),
                connection.client_terminated,
                connection.server_terminated,
            )

        def on_message(self, message: str | bytes) -> None:
            if message == "close":
                self.close(1000, "asked")
                seen["after close()"] = self.ws_connection
                with pytest.raises(WebSocketClosedError):
                    self.write_message("too late")
                return
            super().on_message(message)

        def on_close(self) -> None:
            connection = seen["connection"]
            seen["closed"] = (
                self.ws_connection,
                connection.is_closing(),
                connection.client_terminated,
                connection.server_terminated,
                self.close_code,
            )

    async def body() -> None:
        async with serve(Application([("/ws", Watched)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("echo")
                assert await ws.recv() == "echo"
                await ws.send("close")
                await wait_for(ws.wait_closed())
            await poll(lambda: "closed" in seen)

    run(body())
    assert seen["open"] == (False, False, False)
    assert seen["after close()"] is None
    assert seen["closed"] == (None, True, True, True, 1000)


def test_ws_connection_is_forgotten_when_the_peer_goes_away(run: Runner[Any]) -> None:
    seen: list[Any] = []

    class Watched(Echo):
        def on_close(self) -> None:
            seen.append((self.ws_connection, self.close_code, self.close_reason))

    async def body() -> None:
        async with serve(Application([("/ws", Watched)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.close(4001, "client leaves")
            await poll(lambda: bool(seen))

    run(body())
    assert seen == [(None, 4001, "client leaves")]


def test_a_live_handler_whose_connection_was_set_to_none_acts_closed(run: Runner[Any]) -> None:
    """Code that assigns ``ws_connection = None`` on a live handler (as Tornado applications and
    tests do) gets Tornado's behaviour: writes and pings raise WebSocketClosedError, close()
    does nothing, and putting the connection back makes the handler speak again."""
    seen: list[str] = []

    class Detaching(Echo):
        def on_message(self, message: str | bytes) -> None:
            connection = self.ws_connection
            self.ws_connection = None
            for attempt in (lambda: self.write_message("x"), lambda: self.ping(b"p")):
                try:
                    attempt()
                except WebSocketClosedError:
                    seen.append("refused")
            self.close(4000, "ignored")  # no connection: nothing to close
            self.ws_connection = connection
            self.write_message(f"back: {message!r}")

    async def body() -> None:
        async with serve(Application([("/ws", Detaching)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("hi")
                assert await wait_for(ws.recv()) == "back: 'hi'"

    run(body())
    assert seen == ["refused", "refused"]
