"""Test copy of the seed app (modes 2 and 3), with knobs, run in a subprocess by the tests.

Routes: ``/d`` answers at once, ``/s`` sleeps ``--sleep`` seconds with ``time.sleep`` (after
creating ``<--marker-dir>/s-<pid>`` when given, so a test can see it is sleeping), ``/pid``
answers with the serving process id.

Knobs: ``--port``, ``--processes`` (passed to ``start``), ``--mode`` (2: ``bind`` + ``start``;
3: ``bind_sockets`` + ``fork_processes`` + ``add_sockets``), ``--debug``, ``--loop_before``
(create an IOLoop before forking), ``--thread`` (keep a thread alive across the fork).
"""

from __future__ import annotations

import os
import threading
import time

from squall import netutil, process
from squall.httpserver import HTTPServer
from squall.ioloop import IOLoop
from squall.options import define, options, parse_command_line
from squall.web import Application, RequestHandler

define("port", default=8001, type=int)
define("sleep", default=10.0, type=float)
define("processes", default=2, type=int)
define("mode", default=2, type=int)
define("debug", default=False, type=bool)
define("loop_before", default=False, type=bool)
define("thread", default=False, type=bool)
define("marker_dir", default="", type=str)


class SleepHandler(RequestHandler):
    def get(self) -> None:
        if options.marker_dir:
            with open(os.path.join(options.marker_dir, f"s-{os.getpid()}"), "w"):
                pass
        time.sleep(options.sleep)
        self.write(f"this is SleepHandler... {os.getpid()}")


class DirectHandler(RequestHandler):
    def get(self) -> None:
        self.write("this is DirectHandler...")


class PidHandler(RequestHandler):
    def get(self) -> None:
        self.write(str(os.getpid()))


def main() -> None:
    parse_command_line()
    app = Application(
        [(r"/d", DirectHandler), (r"/s", SleepHandler), (r"/pid", PidHandler)],
        debug=options.debug,
    )
    if options.loop_before:
        IOLoop.current()
    if options.thread:
        stop = threading.Event()
        threading.Thread(target=stop.wait, name="lingering", daemon=True).start()
    if options.mode == 3:
        sockets = netutil.bind_sockets(options.port, "127.0.0.1")
        process.fork_processes(options.processes)
        server = HTTPServer(app)
        server.add_sockets(sockets)
    else:
        server = HTTPServer(app)
        server.bind(options.port, "127.0.0.1")
        server.start(options.processes)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
