"""The Tornado 6 idiom against the Tornado 4 one, in one run (issue 17, part 8).

    python bench/asyncio_run.py [--rounds 3] [--duration 5]

Serves ``bench/web_hello.py``'s /plaintext (``Application`` + ``RequestHandler``) three ways,
each in its own process pinned to CPU 0 with ``wrk`` on CPU 1 (2 threads, 64 connections):

- ``IOLoop.current().start()`` after ``app.listen()`` (Tornado 4's way);
- ``asyncio.run(main())`` with ``app.listen()`` inside ``main`` (Tornado 6's way), which squall
  runs on uvloop;
- the same with ``SQUALL_LOOP=asyncio`` (the standard library's loop), for reference.

Rounds are interleaved; the medians go to a Markdown table on stdout, with the ratio of each to
``IOLoop.current().start()``: requests per second, and the server's CPU time per request (user +
system time of the server process over the measured run, divided by the requests wrk counted),
which stays meaningful on a machine that other work also loads. Needs ``wrk`` (Debian:
``apt-get install wrk``) and ``taskset``.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROGRAMS = {
    "IOLoop.current().start()": """
        from squall.ioloop import IOLoop
        app.listen(PORT, "127.0.0.1")
        IOLoop.current().start()
    """,
    "asyncio.run(main())": """
        import asyncio
        async def main():
            app.listen(PORT, "127.0.0.1")
            await asyncio.Event().wait()
        asyncio.run(main())
    """,
}
COMMON = """
import logging, sys
sys.path.insert(0, {bench!r})
from web_hello import JsonHandler, PlaintextHandler
from squall.web import Application
PORT = int(sys.argv[1])
logging.getLogger("squall.access").setLevel(logging.WARNING)
app = Application([("/plaintext", PlaintextHandler), ("/json", JsonHandler)])
"""
VARIANTS = [
    ("IOLoop.current().start()", "IOLoop.current().start()", {}),
    ("asyncio.run(main())", "asyncio.run(main())", {}),
    ("asyncio.run(main()), SQUALL_LOOP=asyncio", "asyncio.run(main())", {"SQUALL_LOOP": "asyncio"}),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_serving(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(program: str, env: dict[str, str], duration: int) -> tuple[float, float]:
    """req/s and server CPU µs/request of one of PROGRAMS under ``env``."""
    source = COMMON.format(bench=str(ROOT / "bench")) + textwrap.dedent(PROGRAMS[program])
    return measure_command(lambda port: [sys.executable, "-c", source, str(port)], duration, env)


def measure_command(
    command: Callable[[int], list[str]], duration: int, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Start ``command(port)`` pinned to CPU 0, load its /plaintext with wrk from CPU 1 (after a
    second's warm-up), and return req/s and the server's CPU µs per request."""
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", "0", *command(port)], env={**os.environ, **(env or {})}, cwd=ROOT
    )
    try:
        wait_serving(port, time.monotonic() + 10)
        url = f"http://127.0.0.1:{port}/plaintext"
        subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t2", "-c64", "-d1s", url],
            capture_output=True,
            check=True,
        )  # fmt: skip  (warm-up)
        # The program runs in a child of taskset's exec: the same process.
        cpu_before = cpu_seconds(server.pid)
        out = subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t2", "-c64", f"-d{duration}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(10)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if match is None or count is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    return float(match.group(1)), cpu / int(count.group(1)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    costs: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    for round_ in range(args.rounds):
        for name, program, env in VARIANTS:
            rate, cost = measure(program, env, args.duration)
            results[name].append(rate)
            costs[name].append(cost)
            print(f"round {round_ + 1}: {name}: {rate:,.0f} req/s, {cost:.1f} µs CPU/request",
                  file=sys.stderr)  # fmt: skip
    from squall._http1 import COMPILED

    base = statistics.median(results[VARIANTS[0][0]])
    base_cost = statistics.median(costs[VARIANTS[0][0]])
    print(f"\n{'compiled' if COMPILED else 'pure Python'} build, {args.rounds} interleaved "
          f"rounds of {args.duration} s, medians (req/s on /plaintext):\n")  # fmt: skip
    print("| how the program starts | req/s | ratio | server CPU µs/request | ratio | rounds |")
    print("|---|---:|---:|---:|---:|---|")
    for name, _, _ in VARIANTS:
        median = statistics.median(results[name])
        cost = statistics.median(costs[name])
        rounds = " / ".join(f"{r:,.0f}" for r in results[name])
        print(f"| `{name}` | {median:,.0f} | {median / base:.2f}x | {cost:.1f} | "
              f"{cost / base_cost:.2f}x | {rounds} |")  # fmt: skip


if __name__ == "__main__":
    main()
