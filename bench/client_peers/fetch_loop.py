"""One HTTP client peer for bench/httpclient.py: fetch a URL N times, print rate and CPU.

    python fetch_loop.py --impl squall|squall-close|squall-httpx|tornado --port P
        --mode sequential|concurrent --count N --concurrency C [--httpx-module PATH]

Prints one JSON line: requests per second and this process's CPU microseconds per request
(user + system), measured after a warm-up of 100 requests. ``concurrent`` keeps
``--concurrency`` fetches in flight (and sets ``max_clients`` to it).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import time


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_client(impl: str, concurrency: int, httpx_module: str | None):
    if impl == "tornado":
        from tornado.simple_httpclient import SimpleAsyncHTTPClient

        return SimpleAsyncHTTPClient(force_instance=True, max_clients=concurrency)
    if impl == "squall-httpx":
        spec = importlib.util.spec_from_file_location("squall_httpx_client", httpx_module)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.AsyncHTTPClient(force_instance=True)
    from squall.simple_httpclient import SimpleAsyncHTTPClient

    idle = 0 if impl == "squall-close" else None
    return SimpleAsyncHTTPClient(
        force_instance=True, max_clients=concurrency, max_idle_connections=idle
    )


async def main(args: argparse.Namespace) -> dict[str, float]:
    client = make_client(args.impl, args.concurrency, args.httpx_module)
    url = f"http://127.0.0.1:{args.port}/plaintext"

    async def worker(n: int) -> None:
        for _ in range(n):
            response = await client.fetch(url)
            assert response.body == b"Hello, World!", response.body

    await worker(100)
    start_cpu, start = cpu(), time.perf_counter()
    if args.mode == "sequential":
        await worker(args.count)
    else:
        share = args.count // args.concurrency
        await asyncio.gather(*(worker(share) for _ in range(args.concurrency)))
    elapsed, used = time.perf_counter() - start, cpu() - start_cpu
    client.close()
    await asyncio.sleep(0.05)
    return {"rate": args.count / elapsed, "cpu_us": used / args.count * 1e6}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="sequential")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--httpx-module", default=None)
    arguments = parser.parse_args()
    if arguments.impl.startswith("squall") and os.environ.get("SQUALL_LOOP") != "asyncio":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        print(json.dumps(runner.run(main(arguments))))
