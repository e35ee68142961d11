"""A plain ``asyncio.start_server`` line-echo server (StreamReader/StreamWriter), the
benchmark's reference: on uvloop by default, on asyncio's own loop with ``--loop asyncio``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read a line, write it back, until the client goes away."""
    try:
        while True:
            line = await reader.readuntil(b"\n")
            writer.write(line)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    """Serve until interrupted."""
    server = await asyncio.start_server(handle, host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the arguments and run the server on the chosen loop."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9005)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
