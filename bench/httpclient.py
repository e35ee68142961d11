"""HTTP client throughput: squall's AsyncHTTPClient vs its httpx-based predecessor vs Tornado's.

    .venv/bin/python bench/httpclient.py                  # every client, both modes, 3 rounds
    .venv/bin/python bench/httpclient.py --only squall,tornado --count 1000 --rounds 1

The server is ``bench/hello.py`` (squall's raw server API: the cheapest server we have, so the
client dominates), in its own process pinned to CPU 0. Each client runs in its own process
(``bench/client_peers/fetch_loop.py``) pinned to CPU 1 and fetches ``GET /plaintext``
``--count`` times after 100 warm-up fetches: ``sequential`` (one at a time) and
``concurrent`` (``--concurrency`` in flight, ``max_clients`` set to match). Reported: requests
per second and the client process's CPU time per request (user + system), which varies less
than the rate on a shared machine. Rounds are interleaved; each cell is the median.

Clients:
- ``squall``: this checkout's ``SimpleAsyncHTTPClient`` (keep-alive) on uvloop;
- ``squall-close``: the same with ``max_idle_connections=0``: a new connection per request,
  as Tornado's client does (the like-for-like comparison of the HTTP code itself);
- ``squall-httpx``: squall's previous client, the adapter over httpx (``squall/httpclient.py``
  as of commit a85ed96, taken from git into a temporary file), on uvloop;
- ``tornado``: Tornado 6.6.1's ``simple_httpclient`` on its default asyncio loop, run with
  ``PEER_PYTHON`` (see ``bench/tcp_echo.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tcp_echo import free_port, peer_python, pin, wait_for_port

HERE = Path(__file__).resolve().parent
FETCH = HERE / "client_peers" / "fetch_loop.py"
HTTPX_COMMIT = "a85ed96"
MODES = ("sequential", "concurrent")


def httpx_adapter() -> str:
    """squall's httpx-based client as of HTTPX_COMMIT, written to a temporary file."""
    source = subprocess.run(
        ["git", "show", f"{HTTPX_COMMIT}:squall/httpclient.py"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    handle, path = tempfile.mkstemp(suffix="_squall_httpx_client.py")
    with os.fdopen(handle, "w") as out:
        out.write(source)
    return path


def run_client(name: str, port: int, mode: str, args: argparse.Namespace, adapter: str) -> dict:
    python = peer_python() if name == "tornado" else sys.executable
    command = [
        python,
        str(FETCH),
        "--impl",
        name,
        "--port",
        str(port),
        "--mode",
        mode,
        "--count",
        str(args.count),
        "--concurrency",
        str(args.concurrency),
        "--httpx-module",
        adapter,
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    pin(proc.pid, 1)
    out, _ = proc.communicate(timeout=600)
    if proc.returncode:
        raise RuntimeError(f"{name} {mode} failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Start the server, run every client round-robin, print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="squall,squall-close,squall-httpx,tornado")
    args = parser.parse_args()
    names = args.only.split(",")
    adapter = httpx_adapter()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "hello.py"), str(port)], stdout=subprocess.DEVNULL
    )
    runs: dict[tuple[str, str], list[dict]] = {(n, m): [] for n in names for m in MODES}
    try:
        pin(server.pid, 0)
        wait_for_port(port, server)
        for round_no in range(args.rounds):
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                for mode in MODES:
                    runs[name, mode].append(run_client(name, port, mode, args, adapter))
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(10)
        os.unlink(adapter)
    print(
        f"GET /plaintext x {args.count}, {args.rounds} rounds (medians): requests/s and client "
        f"CPU µs/request; concurrent = {args.concurrency} in flight"
    )
    print(f"{'client':14}" + "".join(f"{mode:>26}" for mode in MODES))
    medians: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        cells = [
            (
                statistics.median(r["rate"] for r in runs[name, mode]),
                statistics.median(r["cpu_us"] for r in runs[name, mode]),
            )
            for mode in MODES
        ]
        medians[name] = cells
        print(f"{name:14}" + "".join(f"{rate:>13,.0f} {cpu:>7.1f} µs" for rate, cpu in cells))
    for mine in ("squall", "squall-close"):
        for base in ("tornado", "squall-httpx"):
            if mine in medians and base in medians and mine != base:
                ratios = "".join(
                    f"{m[0] / b[0]:>13.2f}x {b[1] / m[1]:>8.2f}x"
                    for m, b in zip(medians[mine], medians[base], strict=True)
                )
                print(f"{mine} / {base}".ljust(28) + ratios + "  (rate, CPU per request)")


if __name__ == "__main__":
    main()
