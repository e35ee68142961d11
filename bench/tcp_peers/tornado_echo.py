"""Tornado's line-echo server (TCPServer + IOStream), the benchmark's Tornado peer.

Run it with an interpreter that has Tornado 6.6.1: PEER_PYTHON bench/tcp_peers/tornado_echo.py
"""

from __future__ import annotations

import argparse
import asyncio

from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpserver import TCPServer


class EchoServer(TCPServer):
    """Echo every line back."""

    async def handle_stream(self, stream: IOStream, address: object) -> None:
        """Read a line, write it back, until the client goes away."""
        stream.set_nodelay(True)  # as asyncio's transports do by default
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line)
        except StreamClosedError:
            pass


async def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9004)
    args = parser.parse_args()
    EchoServer().listen(args.port, args.host)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
