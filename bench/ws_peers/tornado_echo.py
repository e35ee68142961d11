"""Tornado's WebSocket echo server, the benchmark's Tornado peer (run it with Tornado's venv).

/tmp/peers-venv/bin/python bench/ws_peers/tornado_echo.py --port 9002
"""

from __future__ import annotations

import argparse
import asyncio

from tornado import web, websocket


class EchoHandler(websocket.WebSocketHandler):
    """Echo every message back, same type."""

    def check_origin(self, origin: str) -> bool:
        """Any origin."""
        return True

    def on_message(self, message: str | bytes) -> None:
        """Echo."""
        self.write_message(message, binary=isinstance(message, bytes))


async def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    args = parser.parse_args()
    app = web.Application([(r"/.*", EchoHandler)], websocket_max_message_size=64 * 1024 * 1024)
    app.listen(args.port, args.host)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
