"""The app behind nginx in tests/process/test_nginx.py: basic's handlers, plus a WebSocket echo
(``/ws``) and a streaming upload (``/upload``: counts the body's bytes as they come, and touches
``$SQUALL_TEST_MARKERS/upload-started`` at the first piece)."""

from __future__ import annotations

import os

from squall import web, websocket
from tests.process.apps.basic import InfoHandler, PidHandler, SleepHandler


class EchoSocket(websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


@web.stream_request_body
class UploadHandler(web.RequestHandler):
    def prepare(self) -> None:
        self.received = 0
        self.pieces = 0

    def data_received(self, chunk: bytes) -> None:
        if self.pieces == 0:
            markers = os.environ.get("SQUALL_TEST_MARKERS")
            if markers:
                open(os.path.join(markers, "upload-started"), "w").close()
        self.received += len(chunk)
        self.pieces += 1

    def put(self) -> None:
        self.write({"received": self.received, "pieces": self.pieces, "pid": os.getpid()})

    post = put


app = web.Application(
    [
        (r"/pid", PidHandler),
        (r"/info", InfoHandler),
        (r"/sleep", SleepHandler),
        (r"/ws", EchoSocket),
        (r"/upload", UploadHandler),
    ]
)
