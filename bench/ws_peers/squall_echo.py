"""A squall WebSocket echo server: the Autobahn target and the benchmark's squall peer.

    python bench/ws_peers/squall_echo.py --port 9001 [--compression] [--host 127.0.0.1]

Echoes text as text and binary as binary at ``ws://HOST:PORT/`` (any path), accepts
messages up to 64 MiB, and with ``--compression`` negotiates permessage-deflate.
"""

from __future__ import annotations

import argparse
from typing import Any

from squall import web, websocket
from squall.ioloop import IOLoop


class EchoHandler(websocket.WebSocketHandler):
    """Echo every message back, same type."""

    compression: dict[str, Any] | None = None

    def check_origin(self, origin: str) -> bool:
        """Any origin (a test target)."""
        return True

    def get_compression_options(self) -> dict[str, Any] | None:
        """permessage-deflate when started with --compression."""
        return self.compression

    def on_message(self, message: str | bytes) -> None:
        """Echo."""
        self.write_message(message, binary=isinstance(message, bytes))


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--compression", action="store_true")
    args = parser.parse_args()
    if args.compression:
        EchoHandler.compression = {}
    app = web.Application([(r"/.*", EchoHandler)], websocket_max_message_size=64 * 1024 * 1024)

    app.listen(args.port, args.host)
    try:
        IOLoop.current().start()  # uvloop unless SQUALL_LOOP=asyncio
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
