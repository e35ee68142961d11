"""squall.websocket: Tornado's WebSocket API (server handler and client).

    from squall import web, websocket

    class EchoHandler(websocket.WebSocketHandler):
        def on_message(self, message):
            self.write_message(message)

    app = web.Application([(r"/ws", EchoHandler)])

The handler lives in ``squall._web.websocket``; the protocol (over the sans-IO codec of the
``websockets`` package) in ``squall._ws``; the client (``websocket_connect``) in
``squall._ws.client``, on squall's ``TCPClient`` and ``IOStream``. ``WebSocketProtocol13`` is
Tornado's name for the protocol class (RFC 6455 is version 13).
"""

from __future__ import annotations

from squall._web.websocket import WebSocketHandler
from squall._ws.client import WebSocketClientConnection, websocket_connect
from squall._ws.protocol import WebSocketClosedError, WebSocketError, WebSocketProtocol

#: Tornado's name for the protocol class of a server connection.
WebSocketProtocol13 = WebSocketProtocol

__all__ = [
    "WebSocketClientConnection",
    "WebSocketClosedError",
    "WebSocketError",
    "WebSocketHandler",
    "WebSocketProtocol",
    "WebSocketProtocol13",
    "websocket_connect",
]
