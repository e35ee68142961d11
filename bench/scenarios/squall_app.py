"""squall side of the benchmark scenarios (one app per scenario, chosen on the command line).

    python squall_app.py SCENARIO PORT [WORKERS] [MODE]

SCENARIO is one of ``hello``, ``routing``, ``form``, ``large``, ``cpu``, ``blocking``; every app
also answers ``GET /plaintext`` (the readiness probe of ``bench/run.py``). WORKERS > 1 forks
with ``HTTPServer.bind`` + ``start(WORKERS)``. MODE (``blocking`` only): ``sync``, ``threaded``
or ``async`` -- how ``GET /s`` sleeps. The access log is off, as for every peer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

import common

from squall import netutil, process
from squall.httpserver import HTTPServer
from squall.ioloop import IOLoop
from squall.web import Application, RequestHandler, threaded

Routes = list[tuple[str, type[RequestHandler]]]


class Plaintext(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(b"Hello, World!")


class Json(RequestHandler):
    def get(self) -> None:
        self.write({"message": "Hello, World!"})


class Static(RequestHandler):
    def get(self) -> None:
        self.write(b"static")


class Regex(RequestHandler):
    def get(self, num: str, name: str) -> None:
        self.write(f"{num}:{name}")


class Form(RequestHandler):
    def post(self) -> None:
        self.write(self.get_argument(common.FORM_FIELD))


class Upload(RequestHandler):
    def post(self) -> None:
        self.write(str(len(self.request.body)))


class Large(RequestHandler):
    def get(self, size: str) -> None:
        self.set_header("Content-Type", "application/octet-stream")
        self.write(common.BODIES[size])


class LargeNoEtag(Large):
    def compute_etag(self) -> str | None:
        return None


class Cpu(RequestHandler):
    def get(self) -> None:
        self.write(str(common.burn()))


class SleepSync(RequestHandler):
    def get(self) -> None:
        time.sleep(common.SLEEP_S)
        self.write(b"slept")


class SleepThreaded(RequestHandler):
    @threaded
    def get(self) -> None:
        time.sleep(common.SLEEP_S)
        self.write(b"slept")


class SleepAsync(RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(common.SLEEP_S)
        self.write(b"slept")


SLEEPERS: dict[str, type[RequestHandler]] = {
    "sync": SleepSync,
    "threaded": SleepThreaded,
    "async": SleepAsync,
}


def routes(scenario: str, mode: str) -> Routes:
    """The URL table of one scenario; ``/plaintext`` is always present (readiness probe)."""
    table: Routes = []
    if scenario == "hello":
        table.append(("/json", Json))
    elif scenario == "routing":
        for i in range(common.N_ROUTES // 2):
            table.append((f"/s{i}", Static))
            table.append((f"/p{i}/([0-9]+)/([a-z]+)", Regex))
    elif scenario == "form":
        table += [("/form", Form), ("/upload", Upload)]
    elif scenario == "large":
        table += [("/b/(64k|16m)", Large), ("/n/(64k|16m)", LargeNoEtag)]
    elif scenario == "cpu":
        table.append(("/cpu", Cpu))
    elif scenario == "blocking":
        table += [("/d", Static), ("/s", SLEEPERS[mode])]
    return [*table, ("/plaintext", Plaintext)]


def main() -> None:
    scenario, port = sys.argv[1], int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    mode = sys.argv[4] if len(sys.argv) > 4 else "sync"
    logging.getLogger("squall.access").setLevel(logging.WARNING)
    settings: dict[str, Any] = {}
    app = Application(routes(scenario, mode), **settings)
    if workers > 1 and mode == "reuseport":
        # Each worker binds its own SO_REUSEPORT socket after the fork (the kernel balances).
        process.fork_processes(workers)
        HTTPServer(app).add_sockets(netutil.bind_sockets(port, "127.0.0.1", reuse_port=True))
    elif workers > 1:
        server = HTTPServer(app)
        server.bind(port, "127.0.0.1")
        server.start(workers)
    else:
        app.listen(port, "127.0.0.1")
    print(f"squall {scenario} pid={os.getpid()} ready", flush=True)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
