"""What ``squall serve`` adds per request, against ``app.listen()``, in one run (issue 17).

    python bench/serve.py [--rounds 3] [--duration 5]

Serves ``bench/web_hello.py``'s /plaintext (``Application`` + ``RequestHandler``) in one process
pinned to CPU 0, with ``wrk`` on CPU 1 (2 threads, 64 connections), three ways:

- ``app.listen()`` and ``IOLoop.current().start()`` (the baseline);
- ``squall serve web_hello:make_app() --workers 0 --no-access-log``: the same app behind the
  per-request layer of ``squall serve`` (request id, concurrency accounting, the counters the
  heartbeats and metrics read);
- the same with the access log on (squall serve's own line, written to a file), which is what
  a production deployment usually runs.

``--workers 0`` serves in the one process ``wrk`` talks to, so the CPU measured is the
request path's alone (with workers, the master only supervises and the worker serves).

Rounds are interleaved; the medians go to a Markdown table on stdout with the ratio of each to
``app.listen()``: requests per second, and server CPU time per request (user + system time of
the server process over the measured run, divided by the requests wrk counted), which stays
meaningful on a machine that other work also loads. Needs ``wrk`` and ``taskset``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from asyncio_run import ROOT, measure_command

LISTEN = """
import logging, sys
sys.path.insert(0, {bench!r})
from web_hello import make_app
from squall.ioloop import IOLoop
logging.getLogger("squall.access").setLevel(logging.WARNING)
make_app().listen(int(sys.argv[1]), "127.0.0.1")
IOLoop.current().start()
"""


def serve_command(port: int, access_log: str | None) -> list[str]:
    command = [
        sys.executable, "-m", "squall", "serve", "web_hello:make_app()",
        "--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "0", "--log-level", "warning",
    ]  # fmt: skip
    if access_log is None:
        return [*command, "--no-access-log"]
    return [*command, "--access-log", "--log-config", access_log]


def access_log_config(directory: str) -> str:
    """A dictConfig (JSON) sending squall serve's access lines to a file, the rest to stderr."""
    path = os.path.join(directory, "logging.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            '{"version": 1, "disable_existing_loggers": false,'
            ' "handlers": {"file": {"class": "logging.FileHandler", "filename": '
            f'"{os.path.join(directory, "access.log")}"}}}},'
            ' "loggers": {"squall.access": {"handlers": ["file"], "level": "INFO",'
            ' "propagate": false}}}'
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        log_config = access_log_config(scratch)
        variants = {
            "app.listen()": lambda port: [
                sys.executable,
                "-c",
                LISTEN.format(bench=str(ROOT / "bench")),
                str(port),
            ],  # fmt: skip
            "squall serve --workers 0 --no-access-log": lambda port: serve_command(port, None),
            "squall serve --workers 0, access log to a file": lambda port: serve_command(
                port, log_config
            ),
        }
        rates: dict[str, list[float]] = {name: [] for name in variants}
        costs: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            for name, command in variants.items():
                rate, cost = measure_command(command, args.duration)
                rates[name].append(rate)
                costs[name].append(cost)
                print(f"round {round_ + 1}: {name}: {rate:,.0f} req/s, {cost:.1f} µs CPU/request",
                      file=sys.stderr)  # fmt: skip
    from squall._http1 import COMPILED

    base = statistics.median(rates["app.listen()"])
    base_cost = statistics.median(costs["app.listen()"])
    print(f"\n{'compiled' if COMPILED else 'pure Python'} build, {args.rounds} interleaved "
          f"rounds of {args.duration} s, medians (req/s on /plaintext):\n")  # fmt: skip
    print("| how it is served | req/s | ratio | server CPU µs/request | ratio | rounds |")
    print("|---|---:|---:|---:|---:|---|")
    for name in variants:
        median = statistics.median(rates[name])
        cost = statistics.median(costs[name])
        rounds = " / ".join(f"{r:,.0f}" for r in rates[name])
        print(f"| `{name}` | {median:,.0f} | {median / base:.2f}x | {cost:.1f} | "
              f"{cost / base_cost:.2f}x | {rounds} |")  # fmt: skip


if __name__ == "__main__":
    main()
