"""The websockets library's own echo server, the benchmark's third peer.

    /tmp/peers-venv/bin/python bench/ws_peers/websockets_echo.py --port 9003

Compression and keepalive pings are off, as on the other peers.
"""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def echo(ws: ServerConnection) -> None:
    """Echo every message back, same type."""
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass  # the load generator drops its connections at the end of a run


async def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9003)
    args = parser.parse_args()
    async with serve(
        echo,
        args.host,
        args.port,
        compression=None,
        ping_interval=None,
        max_size=64 * 1024 * 1024,
    ):
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
