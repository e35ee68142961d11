"""The malloc tuning of serving processes, measured the way it matters: page faults.

Each case runs in a fresh interpreter (mallopt is process-wide) and counts the minor page faults
of allocating, filling and freeing a 1 MiB buffer 50 times, as a 1 MiB upload does per request.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, resource, sys
from squall._malloc import tune_malloc
tuned = tune_malloc() if sys.argv[1] == "tune" else False
pieces = [bytes([i]) * 65536 for i in range(16)]
def one():
    body = b"".join(pieces)   # a fresh 1 MiB buffer, touched, then freed
    return len(body)
for _ in range(5):
    one()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    pieces = [bytes([i]) * 65536 for i in range(16)]
    one()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"tuned": tuned, "faults": faults}))
"""

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="mallopt tuning applies to glibc only"
)


def probe(mode: str, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "SQUALL_MALLOC"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


@glibc_only
def test_tuned_process_reuses_freed_buffers_instead_of_faulting_them_in_again() -> None:
    plain = probe("plain")
    tuned = probe("tune")
    assert tuned["tuned"] is True
    # Untuned, glibc gives the pages back and each 1 MiB buffer faults ~256 pages again.
    assert isinstance(plain["faults"], int) and plain["faults"] > 50 * 100
    assert isinstance(tuned["faults"], int) and tuned["faults"] < plain["faults"] // 10


@glibc_only
def test_operator_settings_and_the_opt_out_are_respected() -> None:
    assert probe("tune", SQUALL_MALLOC_TUNING="0")["tuned"] is False
    assert probe("tune", MALLOC_TRIM_THRESHOLD_="131072")["tuned"] is False


def test_a_server_tunes_its_process_once(tmp_path: Path) -> None:
    script = tmp_path / "serve.py"
    script.write_text(
        "import asyncio, socket\n"
        "from squall import _malloc\n"
        "from squall.httpserver import HTTPServer\n"
        "from squall.web import Application\n"
        "sock = socket.create_server(('127.0.0.1', 0))\n"
        "loop = asyncio.new_event_loop()\n"
        "server = HTTPServer(Application([]))._server\n"
        "assert _malloc._tuned_pid is None\n"
        "server.add_sockets([sock], loop)\n"
        "print(_malloc._tuned_pid == __import__('os').getpid())\n"
        "server.stop()\n"
        "loop.run_until_complete(asyncio.sleep(0))\n"
        "if server.state is not None: server.state.close()\n"
        "loop.close()\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "SQUALL_MALLOC"))}
    out = subprocess.run(
        [sys.executable, str(script)],
        env={**clean, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert out.stdout.strip() == expected
