"""Tornado's ``websocket_connect`` client, as an adapter over the ``websockets`` asyncio client.

The ``websockets`` client does the handshake, framing, keepalive and closing; this module only
reshapes its API into Tornado's: ``read_message()`` futures or an ``on_message_callback``
(``None`` marks the end), ``write_message()`` futures, ``close(code, reason)``, ``close_code``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode

from squall import escape
from squall._ws.delegate import WebSocketClosedError
from squall.log import app_log

__all__ = ["WebSocketClientConnection", "websocket_connect"]

DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # bytes, as for the server side
MessageCallback = Callable[[str | bytes | None], object]


class WebSocketClientConnection:
    """A client WebSocket connection with Tornado's interface (from :func:`websocket_connect`).

    Messages go to ``on_message_callback`` if one was given (and ``None`` once closed);
    otherwise they queue for :meth:`read_message`."""

    def __init__(self, ws: ClientConnection, on_message_callback: MessageCallback | None) -> None:
        self._ws = ws
        self._callback = on_message_callback
        self._messages: deque[str | bytes | None] = deque()
        self._readers: deque[asyncio.Future[str | bytes | None]] = deque()
        self._finished = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._reader = asyncio.ensure_future(self._read_loop())

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol the server selected, or None."""
        return self._ws.subprotocol

    @property
    def protocol(self) -> ClientConnection:
        """The underlying ``websockets`` connection."""
        return self._ws

    async def _read_loop(self) -> None:
        ws = self._ws
        try:
            while True:
                self._deliver(await ws.recv())
        except ConnectionClosed:
            pass
        close = ws.protocol.close_rcvd
        if close is not None and close.code != CloseCode.NO_STATUS_RCVD:
            self.close_code = int(close.code)
            self.close_reason = close.reason or None
        self._finished = True
        self._deliver(None)
        while self._readers:  # every read still waiting learns of the end
            reader = self._readers.popleft()
            if not reader.done():
                reader.set_result(None)

    def _deliver(self, message: str | bytes | None) -> None:
        if self._callback is not None:
            try:
                self._callback(message)
            except Exception:
                app_log.error("Uncaught exception in on_message_callback", exc_info=True)
            return
        while self._readers:
            reader = self._readers.popleft()
            if not reader.done():
                reader.set_result(message)
                return
        self._messages.append(message)

    def read_message(
        self, callback: Callable[[asyncio.Future[Any]], object] | None = None
    ) -> asyncio.Future[str | bytes | None]:
        """A future for the next message; it resolves to None once the connection is closed.

        Not available with ``on_message_callback``. ``callback(future)`` (legacy) is called
        when the future resolves."""
        if self._callback is not None:
            raise RuntimeError("read_message() cannot be used with an on_message_callback")
        future: asyncio.Future[str | bytes | None] = asyncio.get_running_loop().create_future()
        if self._messages:
            message = self._messages.popleft()
            if message is None:
                self._messages.append(None)  # every later read also sees the end
            future.set_result(message)
        elif self._finished:
            future.set_result(None)
        else:
            self._readers.append(future)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message (a dict as JSON); the future resolves once it has been written.

        Raises :class:`WebSocketClosedError` if the connection is closed."""
        if self._finished or self._ws.close_code is not None:
            raise WebSocketClosedError("WebSocket is closed: cannot write a message")
        if isinstance(message, dict):
            message = escape.json_encode(message)
        data = escape.utf8(message)
        return asyncio.ensure_future(self._send(data, binary))

    async def _send(self, data: bytes, binary: bool) -> None:
        try:
            await self._ws.send(data, text=not binary)
        except ConnectionClosed:
            raise WebSocketClosedError("WebSocket closed while writing") from None

    def ping(self, data: str | bytes = b"") -> None:
        """Send a ping (at most 125 bytes of ``data``)."""
        payload = escape.utf8(data)
        if len(payload) > 125:
            raise ValueError(f"ping data is {len(payload)} bytes: a control frame holds 125")
        if self._finished:
            raise WebSocketClosedError("WebSocket is closed: cannot send a ping")
        asyncio.ensure_future(self._ping(payload))

    async def _ping(self, payload: bytes) -> None:
        try:
            await self._ws.ping(payload)
        except (ConnectionClosed, RuntimeError):
            pass  # closed meanwhile, or the same payload is already waiting for its pong

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (an empty close frame when ``code`` is None)."""
        if code is None and reason is not None:
            code = 1000
        asyncio.ensure_future(self._close(code, reason or ""))

    async def _close(self, code: int | None, reason: str) -> None:
        # websockets' codec sends an empty close frame for None, as Tornado does.
        await self._ws.close(code, reason)  # type: ignore[arg-type]

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and every message delivered (not in Tornado)."""
        await asyncio.shield(self._reader)


async def _connect(
    url: str,
    headers: Mapping[str, str] | None,
    connect_timeout: float | None,
    on_message_callback: MessageCallback | None,
    compression_options: Mapping[str, Any] | None,
    ping_interval: float | None,
    ping_timeout: float | None,
    max_message_size: int | None,
    subprotocols: list[str] | None,
) -> WebSocketClientConnection:
    try:
        ws = await connect(
            url,
            additional_headers=dict(headers) if headers else None,
            subprotocols=subprotocols,  # type: ignore[arg-type]  # Subprotocol is a NewType of str
            compression="deflate" if compression_options is not None else None,
            open_timeout=connect_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout if ping_timeout is not None else ping_interval,
            max_size=max_message_size,
            proxy=None,
        )
    except InvalidStatus as exc:
        from squall.httpclient import HTTPClientError  # upward, lazily: the client's error type

        raise HTTPClientError(exc.response.status_code) from exc
    return WebSocketClientConnection(ws, on_message_callback)


def websocket_connect(
    url: Any,
    callback: Callable[[asyncio.Future[WebSocketClientConnection]], object] | None = None,
    connect_timeout: float | None = None,
    on_message_callback: MessageCallback | None = None,
    compression_options: Mapping[str, Any] | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    subprotocols: list[str] | None = None,
    resolver: Any = None,
) -> Awaitable[WebSocketClientConnection]:
    """Connect to ``url`` (a ``ws://``/``wss://`` string or an ``HTTPRequest``); a future.

    The future resolves to a :class:`WebSocketClientConnection`, or raises
    ``HTTPClientError`` if the server answered without upgrading (403, 404, ...) and
    ``OSError``/``TimeoutError`` if it could not be reached. ``compression_options`` (a
    dict, even empty) offers permessage-deflate. ``callback(future)`` is the legacy form.
    ``resolver`` is accepted and ignored."""
    headers: Mapping[str, str] | None = None
    if not isinstance(url, str):
        request = url  # an HTTPRequest: its URL, headers and connect timeout
        headers = dict(request.headers.items()) if request.headers else None
        if connect_timeout is None:
            connect_timeout = request.connect_timeout
        url = request.url
    future = asyncio.ensure_future(
        _connect(
            url,
            headers,
            20.0 if connect_timeout is None else connect_timeout,
            on_message_callback,
            compression_options,
            ping_interval,
            ping_timeout,
            max_message_size,
            subprotocols,
        )
    )
    if callback is not None:
        future.add_done_callback(callback)
    return future
