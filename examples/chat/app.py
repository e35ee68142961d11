"""A chat room: one static page and a WebSocket handler that relays every message to everyone.

    python examples/chat/app.py --port 8002

Then open http://127.0.0.1:8002/ in two browser windows and type. Each message is a JSON
object ``{"name": ..., "body": ...}``; the server adds an ``id`` and a ``time`` and sends it to
every open connection. A newcomer receives the last messages first.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections import deque
from typing import Any, ClassVar

from squall import escape
from squall.ioloop import IOLoop
from squall.log import app_log, enable_pretty_logging
from squall.web import Application, RequestHandler
from squall.websocket import WebSocketClosedError, WebSocketHandler

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BODY = 2000  # characters per message
HISTORY = 50  # messages a newcomer receives


class MainHandler(RequestHandler):
    """The chat page."""

    def get(self) -> None:
        with open(os.path.join(HERE, "index.html"), "rb") as page:
            self.write(page.read())


class ChatSocketHandler(WebSocketHandler):
    """One chat participant; the class keeps the room (connections and recent history)."""

    room: ClassVar[set[ChatSocketHandler]] = set()
    history: ClassVar[deque[dict[str, Any]]] = deque(maxlen=HISTORY)
    ids = itertools.count(1)

    def open(self) -> None:
        self.room.add(self)
        for message in self.history:
            self.write_message(message)
        app_log.info("chat: %s joined (%d online)", self.request.remote_ip, len(self.room))

    def on_close(self) -> None:
        self.room.discard(self)
        app_log.info("chat: %s left (%d online)", self.request.remote_ip, len(self.room))

    def on_message(self, message: str | bytes) -> None:
        try:
            data = escape.json_decode(message)
            name = str(data.get("name") or "anonymous")[:40]
            body = str(data["body"])[:MAX_BODY]
        except (ValueError, KeyError, TypeError, AttributeError):
            self.write_message({"error": 'send JSON like {"name": "ada", "body": "hi"}'})
            return
        chat = {"id": next(self.ids), "time": time.time(), "name": name, "body": body}
        self.history.append(chat)
        self.broadcast(chat)

    @classmethod
    def broadcast(cls, chat: dict[str, Any]) -> None:
        """Send ``chat`` to everyone in the room (a participant that has gone is skipped)."""
        for participant in list(cls.room):
            try:
                participant.write_message(chat)
            except WebSocketClosedError:
                cls.room.discard(participant)


def make_app() -> Application:
    """The chat application (the page, and the socket at /chatsocket)."""
    return Application(
        [(r"/", MainHandler), (r"/chatsocket", ChatSocketHandler)],
        websocket_ping_interval=30,
        websocket_max_message_size=64 * 1024,
    )


def main() -> None:
    """Serve the chat room until interrupted."""
    parser = argparse.ArgumentParser(description="squall chat room")
    parser.add_argument("--port", type=int, default=8002, help="port to listen on")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    args = parser.parse_args()
    enable_pretty_logging()
    make_app().listen(args.port, args.address)
    print(f"chat room on http://{args.address}:{args.port}/")
    IOLoop.current().start()


if __name__ == "__main__":
    main()
