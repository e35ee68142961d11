"""In-process micro-benchmark of the request path, without sockets (for profiling).

    python bench/micro.py [raw|web|serve] [N] [--profile]

Feeds ``GET /plaintext`` N times through ``HTTP1Protocol.data_received`` with a transport
that only counts bytes, and prints the time per request. ``serve`` is ``web`` behind the
per-request layer ``squall serve`` adds (request id, counters, access line; the access log off
as for the others). ``--profile`` runs cProfile and
prints the top functions by own time. Use it to see where the time goes; the comparison
with other servers is ``bench/README.md``'s job.
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
import pstats
import sys
import time
from typing import Any

sys.path.insert(0, __file__.rsplit("/", 2)[0])

from squall._http1 import HTTP1Params, HTTP1Protocol, ServerState

REQUEST = (
    b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
)


class CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def write(self, data: Any) -> None:
        self.bytes += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def make_delegate(kind: str) -> Any:
    if kind == "raw":
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        from hello import App

        return App()
    from web_hello import JsonHandler, PlaintextHandler

    from squall.web import Application

    logging.getLogger("squall.access").setLevel(logging.WARNING)
    app = Application([("/plaintext", PlaintextHandler), ("/json", JsonHandler)])
    if kind != "serve":
        return app
    from squall._cli.request_layer import ServeSettings, ServingDelegate
    from squall._supervisor.worker import Worker

    worker = Worker(sockets=[], graceful_timeout=1.0)
    return ServingDelegate(app, worker, ServeSettings(None, None, None))


async def run(kind: str, n: int, profile: bool) -> None:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    loop = asyncio.get_running_loop()
    state = ServerState(loop, 10.0)
    proto = HTTP1Protocol(make_delegate(kind), HTTP1Params(server_header="squall"), state)
    transport = CountingTransport()
    proto.connection_made(transport)
    feed = proto.data_received
    for _ in range(1000):
        feed(REQUEST)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    start = time.perf_counter()
    for _ in range(n):
        feed(REQUEST)
    elapsed = time.perf_counter() - start
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    state.close()
    print(f"{kind}: {elapsed / n * 1e6:.2f} us/request over {n} requests")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    kind = args[0] if args else "web"
    count = int(args[1]) if len(args) > 1 else 200_000
    asyncio.run(run(kind, count, "--profile" in sys.argv))
