"""A line-echo server on TCPServer: every line a client sends comes back to it.

    python examples/tcp_echo/server.py --port=9888
    python examples/tcp_echo/client.py --port=9888 --message="hello"

Lines are limited to ``--max_line`` bytes (a longer one closes that connection, logged at
INFO); each connection is served by one coroutine until the client goes away.
"""

from __future__ import annotations

from typing import Any

from squall.ioloop import IOLoop
from squall.iostream import IOStream, StreamClosedError
from squall.log import app_log
from squall.options import define, options, parse_command_line
from squall.tcpserver import TCPServer

define("port", default=9888, help="TCP port to listen on")
define("address", default="127.0.0.1", help="address to listen on ('' for every interface)")
define("max_line", default=64 * 1024, help="longest line accepted, in bytes")


class EchoServer(TCPServer):
    """Echo each line back to the connection it came from."""

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        """Serve one client: read a line, write it back, until it disconnects."""
        stream.set_nodelay(True)  # one small write per answer: send it at once
        while True:
            try:
                line = await stream.read_until(b"\n", max_bytes=options.max_line)
                await stream.write(line)
            except StreamClosedError:
                app_log.info("Client %s went away", address[0] if address else address)
                return


def main() -> None:
    """Listen and serve until interrupted."""
    parse_command_line()
    server = EchoServer()
    server.listen(options.port, options.address)
    app_log.info("Echoing lines on %s:%d", options.address or "*", options.port)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
