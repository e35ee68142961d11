"""The line-echo client: connect with TCPClient, send a line, print the echo.

python examples/tcp_echo/client.py --port=9888 --message="hello"
"""

from __future__ import annotations

from squall.ioloop import IOLoop
from squall.options import define, options, parse_command_line
from squall.tcpclient import TCPClient

define("host", default="127.0.0.1", help="server host")
define("port", default=9888, help="server port")
define("message", default="ping", help="the line to send")
define("count", default=1, help="how many times to send it")


async def main() -> None:
    """Send ``--message`` ``--count`` times and print each echo."""
    stream = await TCPClient().connect(options.host, options.port, timeout=10)
    try:
        for _ in range(options.count):
            await stream.write(options.message.encode() + b"\n")
            reply = await stream.read_until(b"\n")
            print(reply.decode().rstrip("\n"))
    finally:
        stream.close()


if __name__ == "__main__":
    parse_command_line()
    IOLoop.current().run_sync(main)
