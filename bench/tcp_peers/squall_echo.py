"""squall's line-echo server (TCPServer + IOStream), the benchmark's squall peer.

.venv/bin/python bench/tcp_peers/squall_echo.py --port 9003   # SQUALL_LOOP=asyncio: asyncio loop
"""

from __future__ import annotations

import argparse

from squall.ioloop import IOLoop
from squall.iostream import IOStream, StreamClosedError
from squall.tcpserver import TCPServer


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


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9003)
    args = parser.parse_args()
    EchoServer().listen(args.port, args.host)
    IOLoop.current().start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
