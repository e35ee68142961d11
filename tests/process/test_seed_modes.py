"""The seed's modes 2 and 3 (examples/seed/), run as written, with their real 10 s sleeps.

The point of both demos: ``/s`` blocks its own process with ``time.sleep(10)``, and ``/d`` is
still answered at once by another process. The handlers are the seed's, untouched, so the test
watches from outside: the ``/s`` request counts as being handled once the server has read it
from the socket (``/proc/net/tcp`` shows its receive queue empty).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator

import pytest

from squall import process
from tests.process.scripts.harness import (
    ROOT,
    PendingRequest,
    Script,
    answers,
    exists,
    free_port,
    get,
    port_is_free,
    request_was_read,
    running,
    subreaper,
    wait_for,
)

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc (Linux)"),
    pytest.mark.skipif(process.cpu_count() < 2, reason="start(0) forks one child per CPU"),
]

SEED = ROOT / "examples" / "seed"


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Adopt orphans during the test; fail it if any process is left behind."""
    with subreaper():
        yield


def start_sleeping_request(script: Script, port: int) -> PendingRequest:
    """Wait until the seed app serves, then send ``/s`` and wait until a child is handling it."""
    wait_for(lambda: answers(port) or script.proc.poll() is not None, 15, "the seed app")
    assert script.proc.poll() is None, script.output()
    slow = PendingRequest(port, "/s")
    wait_for(lambda: request_was_read(port, slow.client_port), 5, "/s to be read")
    return slow


def assert_d_is_fast_while_s_sleeps(port: int, slow: PendingRequest) -> None:
    status, body, took = get(port, "/d")
    assert (status, body) == (200, "this is DirectHandler...")
    assert took < 0.1
    assert not slow.done()  # /s is still sleeping in its own process


def test_mode2_serves_d_while_s_sleeps_and_a_term_waits_for_s_then_exits_zero() -> None:
    port = free_port()
    with running(SEED / "mode2_multiprocess.py", f"--port={port}") as script:
        children = script.children(process.cpu_count())
        slow = start_sleeping_request(script, port)
        assert_d_is_fast_while_s_sleeps(port, slow)
        script.signal(signal.SIGTERM)
        slow.wait(15)  # graceful: the sleeping request is finished, not cut off
        assert (slow.status, slow.body) == (200, "this is SleepHandler...")
        assert script.wait(10) == 0
        out = script.output()
    assert f"Starting {len(children)} processes" in out
    assert [pid for pid in children if exists(pid)] == []
    assert port_is_free(port, "0.0.0.0")


def test_mode3_serves_d_while_s_sleeps_and_a_second_term_kills_at_once() -> None:
    port = free_port()
    with running(SEED / "mode3_advanced.py", f"--port={port}") as script:
        children = script.children(process.cpu_count())
        slow = start_sleeping_request(script, port)
        assert_d_is_fast_while_s_sleeps(port, slow)
        script.signal(signal.SIGTERM)
        # The idle children drain and exit at once; the one in time.sleep(10) cannot yet.
        wait_for(lambda: sum(exists(pid) for pid in children) == 1, 5, "idle children to exit")
        started = time.monotonic()
        script.signal(signal.SIGTERM)
        assert script.wait(5) == 1  # a child had to be killed
        assert time.monotonic() - started < 2.0
        out = script.output()
        slow.wait(5)
    assert slow.error is not None  # its process was killed mid-request
    assert "second signal: killing 1 child process(es)" in out
    assert "killed by signal 9" in out
    assert [pid for pid in children if exists(pid)] == []
    assert port_is_free(port, "0.0.0.0")
