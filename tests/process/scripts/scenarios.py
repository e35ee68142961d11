"""``fork_processes`` scenarios, run in a subprocess by tests/process/test_fork_processes.py.

    python scenarios.py NAME [ARG]

Logs go to stderr as ``LEVEL name: message``; a line ``FORKING`` is printed before any fork
(``os.register_at_fork``), so a test can tell that nothing was forked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from squall import process
from squall.httpserver import HTTPServer
from squall.ioloop import IOLoop


def tornado(marker_dir: str) -> None:
    """Tornado's own test: three children; ids 1 and 2 fail once (status 2, 3), id 0 exits 0."""
    task = process.fork_processes(3, max_restarts=3)
    assert process.task_id() == task
    marker = Path(marker_dir, f"lived-{task}")
    if marker.exists():  # a restart
        sys.exit(0)
    marker.touch()
    sys.exit({0: 0, 1: 2, 2: 3}[task])


def crash(times_file: str) -> None:
    """One child that exits 1 at once, every time; it records when each life started."""
    process.fork_processes(1, max_restarts=3)
    with open(times_file, "a") as file:
        file.write(f"{time.monotonic()}\n")
    sys.exit(1)


def give_up(pid_file: str) -> None:
    """Child 0 idles (it writes its pid first); child 1 crash-loops past max_restarts=1."""
    task = process.fork_processes(2, max_restarts=1)
    if task == 1:
        sys.exit(1)
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        time.sleep(60)


def from_child(_: str) -> None:
    """The child calls fork_processes again and prints the error."""
    process.fork_processes(1)
    try:
        process.fork_processes(1)
    except RuntimeError as exc:
        print(f"child error: {exc}", flush=True)
    sys.exit(0)


def twice(_: str) -> None:
    """The first call fails (max_restarts=0); the program then calls it again."""
    try:
        if process.fork_processes(1, max_restarts=0) is not None:
            sys.exit(1)  # the child
    except RuntimeError as exc:
        print(f"first error: {exc}", flush=True)
    try:
        process.fork_processes(1)
    except RuntimeError as exc:
        print(f"second error: {exc}", flush=True)


def _start_two(server: HTTPServer) -> None:
    server.bind(0, "127.0.0.1")
    server.start(2)


def loop_before(kind: str) -> None:
    """An event loop exists (``kind``: current, instance, asyncio) when start(2) is called."""
    server = HTTPServer(lambda request: None)
    if kind == "current":
        IOLoop.current()
    elif kind == "instance":
        IOLoop.instance()
    if kind == "asyncio":

        async def main() -> None:
            _start_two(server)

        asyncio.run(main())
    else:
        _start_two(server)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.register_at_fork(before=lambda: print("FORKING", flush=True))
    name, arg = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    scenarios = {
        "tornado": tornado,
        "crash": crash,
        "give_up": give_up,
        "from_child": from_child,
        "twice": twice,
        "loop_before": loop_before,
    }
    scenarios[name](arg)


if __name__ == "__main__":
    main()
