"""squall.websocket: Tornado's WebSocket API (server handler and client).

    from squall import web, websocket

    class EchoHandler(websocket.WebSocketHandler):
        def on_message(self, message):
            self.write_message(message)

    app = web.Application([(r"/ws", EchoHandler)])

The handler lives in ``squall._web.websocket``; the protocol (over the sans-IO codec of the
``websockets`` package) in ``squall._ws``; ``websocket_connect`` adapts the ``websockets``
client to Tornado's interface.
"""

from __future__ import annotations

from squall._web.websocket import WebSocketHandler
from squall._ws.client import WebSocketClientConnection, websocket_connect
from squall._ws.protocol import WebSocketClosedError, WebSocketError, WebSocketProtocol

__all__ = [
    "WebSocketClientConnection",
    "WebSocketClosedError",
    "WebSocketError",
    "WebSocketHandler",
    "WebSocketProtocol",
    "websocket_connect",
]
