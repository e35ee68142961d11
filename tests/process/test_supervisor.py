"""The managed supervisor, run for real: ``python -m squall serve`` with workers, real signals.

Each test maps to a row of the design's test table (supervisor.md §5, T1-T21, T28); the
``squall`` fixture (tests/process/apps/harness.py) checks after every test that no process is
left in the server's session and that its port is free again.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import selectors
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from squall._supervisor.ipc import channel_pair, reopen_log_files
from squall._supervisor.metrics import (
    BUCKETS,
    CLIENT_TIMEOUT,
    MasterMetrics,
    MetricsServer,
    WorkerStats,
    bind_metrics,
)
from tests.process.apps.harness import (
    METRICS_CONTENT_TYPE,
    KeepAliveClient,
    SquallFactory,
    SquallProcess,
    children_of,
    connect,
    get,
    parse_metrics,
    proc_stat,
    request_bytes,
    scrape,
    series,
    squall,
    value,
    wait_until,
)

__all__ = ["squall"]  # the fixture

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals")

BASIC = Path(__file__).parent / "apps" / "basic.py"


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=64) as executor:
        yield executor


def read_until_closed(sock: socket.socket) -> tuple[bytes, str]:
    """Everything the server sends until it closes; how it closed: "eof" or "reset"."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    return data, "eof"


def slow_request(port: int, path: str, close: bool = False) -> tuple[bytes, str, float]:
    """Send ``path`` (keep-alive unless ``close``); return (bytes, how it closed, when)."""
    with connect(port, timeout=30) as sock:
        sock.sendall(request_bytes(path, close=close))
        data, how = read_until_closed(sock)
        return data, how, time.monotonic()


def head_of(data: bytes) -> tuple[int, dict[str, str]]:
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


class Notifications:
    """A NOTIFY_SOCKET that records what the master tells "systemd"."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.01)
        self.messages: list[str] = []

    def collect(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (TimeoutError, BlockingIOError):
                return self.messages

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[Notifications]:
    notifications = Notifications(tmp_path / "notify.sock")
    yield notifications
    notifications.close()


def ready_counts_after_first_ready(messages: list[str]) -> list[int]:
    """The ready-worker counts in STATUS= messages sent after the first READY=1."""
    counts, seen_ready = [], False
    for message in messages:
        seen_ready = seen_ready or "READY=1" in message.split("\n")
        match = re.search(r"STATUS=(\d+) worker", message)
        if seen_ready and match:
            counts.append(int(match.group(1)))
    return counts


# -- T1-T8: shutdown ---------------------------------------------------------------------------


def test_term_lets_the_request_in_flight_finish_and_refuses_new_connections(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "2")
    server.wait_ready(2)
    pending = pool.submit(slow_request, server.port, "/sleep?s=2")
    time.sleep(0.2)  # the scenario: TERM 0.2 s after the request went out
    term_at = server.send(signal.SIGTERM)
    time.sleep(0.3)
    refused = 0
    while time.monotonic() < term_at + 1.2:
        with pytest.raises(ConnectionRefusedError):
            connect(server.port, timeout=1).close()
        refused += 1
        time.sleep(0.05)
    data, _, _ = pending.result(10)
    status, headers = head_of(data)
    assert status == 200 and b"slept" in data
    assert headers["connection"] == "close"
    assert server.wait_exit(5) == 0
    assert time.monotonic() - term_at < 3.0  # graceful_timeout
    assert refused > 5


def test_idle_keep_alive_connections_close_at_once_on_term(squall: SquallFactory) -> None:
    server = squall("--workers", "2")
    server.wait_ready(2)
    clients = []
    for _ in range(50):
        client = KeepAliveClient(server.port)
        assert client.get("/pid") is not None
        clients.append(client)
    term_at = server.send(signal.SIGTERM)
    for client in clients:
        assert client.sock is not None
        client.sock.settimeout(0.5 - (time.monotonic() - term_at))
        assert client.sock.recv(1) == b""  # FIN, well within 0.5 s
        client.close()
    assert time.monotonic() - term_at < 0.5
    assert server.wait_exit(5) == 0
    assert time.monotonic() - term_at < 1.0


def test_graceful_timeout_cuts_a_long_request_off_at_the_worker_deadline(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "1")
    server.wait_ready(1)
    pending = pool.submit(slow_request, server.port, "/sleep?s=60")
    time.sleep(0.2)
    term_at = server.send(signal.SIGTERM)
    data, _, closed_at = pending.result(10)
    assert data == b""  # cut off: no response
    assert 1.6 < closed_at - term_at < 2.8  # the worker deadline: graceful_timeout - 1 s
    assert server.wait_exit(5) in (0, 1)
    assert time.monotonic() - term_at < 3.5
    log = server.log()
    assert "sleep handler cancelled" in log
    assert "shutdown hook ran" in log


def test_a_worker_stuck_past_the_deadline_is_dumped_killed_and_the_exit_status_is_1(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "1", "--worker-timeout", "0")
    server.wait_ready(1)
    pending = pool.submit(slow_request, server.port, "/block?s=30")
    time.sleep(0.2)
    term_at = server.send(signal.SIGTERM)
    assert server.wait_exit(5) == 1
    assert 2.5 < time.monotonic() - term_at < 3.5  # at graceful_timeout (3 s)
    assert pending.result(5)[0] == b""
    log = server.log()
    assert "still running at its deadline: dumping its stacks, then SIGKILL" in log
    assert re.search(r'File ".*basic\.py", line \d+ in get', log)


def test_a_second_signal_during_the_drain_means_quick_shutdown(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "1")
    server.wait_ready(1)
    pending = pool.submit(slow_request, server.port, "/sleep?s=60")
    time.sleep(0.2)
    server.send(signal.SIGTERM)
    server.wait_log("graceful shutdown")
    int_at = server.send(signal.SIGINT)
    assert server.wait_exit(5) == 0
    assert time.monotonic() - int_at < 1.5  # far below quick_timeout (5 s)
    assert pending.result(5)[0] == b""
    assert "SIGINT during shutdown: quick shutdown requested" in server.log()


def test_quit_aborts_requests_and_exits_within_a_second(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "2")
    server.wait_ready(2)
    pending = pool.submit(slow_request, server.port, "/sleep?s=5")
    time.sleep(0.2)
    quit_at = server.send(signal.SIGQUIT)
    data, _, closed_at = pending.result(5)
    assert data == b"" and closed_at - quit_at < 1.0
    assert server.wait_exit(5) == 0
    assert time.monotonic() - quit_at < 1.0
    assert "SIGQUIT: quick shutdown requested" in server.log()
    assert server.log().count("shutdown hook ran") == 2


def test_ctrl_c_to_the_process_group_drains_once_without_tracebacks(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "2")
    server.wait_ready(2)
    pending = pool.submit(slow_request, server.port, "/sleep?s=1")
    time.sleep(0.2)
    os.killpg(server.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    data, _, _ = pending.result(5)
    assert head_of(data)[0] == 200
    assert server.wait_exit(5) == 0
    log = server.log()
    assert log.count("graceful shutdown") == 1
    assert "quick" not in log
    assert "KeyboardInterrupt" not in log and "Traceback" not in log


def test_connections_queued_behind_a_blocked_worker_are_served_at_shutdown(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "1")
    server.wait_ready(1)
    blocker = pool.submit(slow_request, server.port, "/block?s=1")
    time.sleep(0.2)  # the worker's loop is blocked now: new connections wait in the queue
    queued = []
    for _ in range(10):
        sock = connect(server.port)
        sock.sendall(request_bytes("/pid"))
        queued.append(sock)
    server.send(signal.SIGTERM)
    outcomes = []
    for sock in queued:
        with sock:
            data, how = read_until_closed(sock)
        outcomes.append((head_of(data)[0] if data else None, how))
    assert head_of(blocker.result(5)[0])[0] == 200
    assert all(how == "eof" for _, how in outcomes), outcomes  # never a reset
    assert all(status in (200, 503) for status, _ in outcomes), outcomes
    assert server.wait_exit(5) == 0


def test_shutdown_delay_fails_readiness_but_keeps_accepting_for_a_while(
    squall: SquallFactory,
) -> None:
    server = squall("--workers", "1", "--shutdown-delay", "1")
    server.wait_ready(1)
    assert get(server.port, "/ready").status == 200
    term_at = server.send(signal.SIGTERM)
    wait_until(lambda: get(server.port, "/ready").status == 503, 1.0, "readiness to fail")
    assert time.monotonic() - term_at < 0.2
    time.sleep(max(0.0, term_at + 0.7 - time.monotonic()))
    assert get(server.port, "/ready").status == 503  # still accepted 0.7 s after TERM
    time.sleep(max(0.0, term_at + 1.3 - time.monotonic()))
    with pytest.raises(ConnectionRefusedError):
        connect(server.port).close()
    assert server.wait_exit(5) == 0


# -- T9-T10: rolling restarts ------------------------------------------------------------------


def hammer(port: int, stop: threading.Event, path: str = "/pid") -> KeepAliveClient:
    client = KeepAliveClient(port)
    while not stop.is_set():
        client.get(path)
    client.close()
    return client


def sample_ready_workers(port: int, stop: threading.Event) -> list[float]:
    """``squall_workers_ready`` from /metrics every 50 ms until ``stop``; a failed scrape raises."""
    samples = []
    while not stop.is_set():
        samples.append(value(scrape(port), "squall_workers_ready"))
        stop.wait(0.05)
    return samples


@pytest.mark.slow
def test_hup_replaces_every_worker_under_load_without_failing_a_request(
    squall: SquallFactory, pool: ThreadPoolExecutor, notify: Notifications, tmp_path: Path
) -> None:
    control = tmp_path / "version"
    control.write_text("v1")
    env = {"SQUALL_TEST_CONTROL": str(control), "NOTIFY_SOCKET": notify.path}
    server = squall(
        "--workers", "4", "--no-access-log", "--metrics-bind", "127.0.0.1:0", env=env
    )  # fmt: skip
    before = set(server.wait_ready(4))
    metrics_port = server.metrics_port()
    assert get(server.port, "/version").text == "v1"
    stop_clients, stop_sampler = threading.Event(), threading.Event()
    sampler = pool.submit(sample_ready_workers, metrics_port, stop_sampler)
    started = time.monotonic()
    clients = [pool.submit(hammer, server.port, stop_clients, "/version") for _ in range(50)]
    time.sleep(max(0.0, started + 1.0 - time.monotonic()))
    control.write_text("v2")  # the new code, imported by the new workers after their fork
    server.send(signal.SIGHUP)
    time.sleep(max(0.0, started + 6.0 - time.monotonic()))
    server.wait_log("Rolling restart done", 10)
    stop_clients.set()
    results = [future.result(10) for future in clients]
    stop_sampler.set()
    ready_samples = sampler.result(5)
    assert [f for c in results for f in c.failures] == []
    served = [r.text for c in results for r in c.responses]
    assert served.count("v1") > 0 and served.count("v2") > 0
    assert len(ready_samples) > 60 and min(ready_samples) >= 4, ready_samples
    wait_until(lambda: len(server.workers()) == 4, 5, "the old workers to leave")
    after = set(server.workers())
    assert len(after) == 4 and not after & before  # all four replaced
    assert get(server.port, "/version").text == "v2"
    samples = scrape(metrics_port)
    assert {s.labels["generation"] for s in series(samples, "squall_requests_total")} == {"1"}
    assert value(samples, "squall_worker_restarts_total", cause="reload") == 4
    messages = notify.collect()
    flat = [line for message in messages for line in message.split("\n")]
    first_ready = flat.index("READY=1")
    reloading = flat.index("RELOADING=1")
    assert first_ready < reloading < flat.index("READY=1", reloading)
    assert min(ready_counts_after_first_ready(messages)) >= 4


def test_hup_with_broken_code_aborts_and_the_old_workers_keep_serving(
    squall: SquallFactory, pool: ThreadPoolExecutor, notify: Notifications, tmp_path: Path
) -> None:
    control = tmp_path / "version"
    control.write_text("v1")
    env = {"SQUALL_TEST_CONTROL": str(control), "NOTIFY_SOCKET": notify.path}
    server = squall("--workers", "2", "--no-access-log", env=env)
    before = set(server.wait_ready(2))
    stop = threading.Event()
    clients = [pool.submit(hammer, server.port, stop, "/version") for _ in range(4)]
    control.write_text("broken")
    server.send(signal.SIGHUP)
    server.wait_log("SIGHUP aborted")
    time.sleep(0.5)
    stop.set()
    results = [future.result(10) for future in clients]
    assert [f for c in results for f in c.failures] == []
    assert {r.text for c in results for r in c.responses} == {"v1"}
    assert set(server.workers()) == before and server.running()
    log = server.log()
    assert "RuntimeError: this version of the app is broken on purpose" in log
    assert re.search(r"Worker \d+ \(slot 0, generation 1\) cannot boot", log)
    assert any("STATUS=reload failed" in m for m in notify.collect())


# -- T11-T16: crashes, boot failures, the watchdog ---------------------------------------------


def test_killed_worker_is_replaced_in_the_same_slot(squall: SquallFactory) -> None:
    server = squall("--workers", "2")
    server.wait_ready(2)
    pid, slot, _ = server.ready_events()[0]
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    server.wait_log(rf"Worker {pid} \(slot {slot}\) died: killed by signal 9 \(SIGKILL\)", 2)
    new = server.wait_log(rf"Worker (\d+) ready \(slot {slot}, generation 0\)", 2, count=2)
    assert time.monotonic() - killed_at < 1.0
    assert int(new.group(1)) != pid
    responses = [get(server.port, "/pid") for _ in range(20)]
    assert all(r.status == 200 for r in responses)
    assert len(server.workers()) == 2


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="latin-1") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_that_keeps_crashing_is_restarted_with_growing_backoff(
    squall: SquallFactory,
) -> None:
    env = {"SQUALL_TEST_CRASH_AFTER": "0.3"}
    server = squall("--workers", "1", app="tests.process.apps.basic:crashing_app()", env=env)
    server.wait_ready(1)
    cpu_before = cpu_seconds(server.pid)
    server.wait_log(r"Restarting slot 0 in 2\.0 s", 8)
    delays = re.findall(r"Restarting slot 0 in ([\d.]+) s", server.log())
    assert delays == ["0.5", "1.0", "2.0"]
    assert len(re.findall(r"Worker \d+ \(slot 0\) died: exited with status 1", server.log())) == 4
    assert cpu_seconds(server.pid) - cpu_before < 0.5  # the master sleeps between respawns


def test_an_app_that_cannot_import_makes_the_master_exit_3(
    squall: SquallFactory, tmp_path: Path
) -> None:
    control = tmp_path / "version"
    control.write_text("broken")
    server = squall(
        "--workers",
        "4",
        "--log-level",
        "debug",
        env={"SQUALL_TEST_CONTROL": str(control)},
        wait_listening=False,
    )
    assert server.wait_exit(5) == 3
    assert time.monotonic() - server.started_at < 5.0  # boot_timeout
    log = server.log()
    assert "RuntimeError: this version of the app is broken on purpose" in log
    assert "failed to boot: stopping (exit 3)" in log
    assert len(re.findall(r"Forked worker", log)) == 4  # never a fifth


def test_boot_failures_in_a_row_after_a_healthy_start_exit_3(
    squall: SquallFactory, tmp_path: Path
) -> None:
    control = tmp_path / "version"
    control.write_text("v1")
    server = squall("--workers", "2", env={"SQUALL_TEST_CONTROL": str(control)})
    pids = server.wait_ready(2)
    control.write_text("broken")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert server.wait_exit(10) == 3
    log = server.log()
    assert "5 boot failures in a row and no worker became ready: stopping (exit 3)" in log
    assert len(re.findall(r"failed to boot: exited with status 4", log)) == 5
    # The same cause from every worker is printed once.
    assert log.count("RuntimeError: this version of the app is broken on purpose") == 1


def test_a_blocked_event_loop_is_dumped_killed_and_replaced(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "1")
    (pid,) = server.wait_ready(1)
    blocked_at = time.monotonic()
    pending = pool.submit(slow_request, server.port, "/block?s=100")
    server.wait_log("WORKER TIMEOUT", 4)
    assert time.monotonic() - blocked_at < 3.5
    server.wait_log(rf"Worker {pid} \(slot 0\) died: killed by signal 9 \(SIGKILL\)", 2)
    server.wait_log(r"Worker \d+ ready \(slot 0, generation 0\)", 3, count=2)
    assert pending.result(5)[0] == b""
    lines = BASIC.read_text().splitlines()
    sleep_line = next(i for i, line in enumerate(lines, 1) if "time.sleep(" in line)
    log = server.log()
    assert re.search(rf'File ".*basic\.py", line {sleep_line} in get', log), log
    assert f"worker {pid} (slot 0) sent no heartbeat" in log
    assert not list(Path(server.cwd).glob("core*"))
    assert get(server.port, "/pid").status == 200


@pytest.mark.slow
def test_a_slow_request_that_awaits_is_never_killed_by_the_watchdog(
    squall: SquallFactory,
) -> None:
    server = squall("--workers", "1")  # --worker-timeout 2, the harness default
    (pid,) = server.wait_ready(1)
    started = time.monotonic()
    response = get(server.port, "/sleep?s=10", timeout=20)
    assert time.monotonic() - started >= 10.0
    assert response.status == 200 and response.text == f"slept {pid}"
    log = server.log()
    assert "WORKER TIMEOUT" not in log and "sent no heartbeat" not in log
    assert server.workers() == [pid]


# -- T17, T19: recycling and scaling -----------------------------------------------------------


def test_max_requests_recycles_workers_one_at_a_time_without_failures(
    squall: SquallFactory, notify: Notifications
) -> None:
    server = squall(
        "--workers", "2", "--max-requests", "10", "--max-requests-jitter", "5",
        "--log-level", "debug", "--no-access-log", env={"NOTIFY_SOCKET": notify.path},
    )  # fmt: skip
    server.wait_ready(2)
    served: Counter[int] = Counter()
    for _ in range(200):
        response = get(server.port, "/pid")
        assert response.status == 200
        served[int(response.text.split()[0])] += 1
    current = set(server.workers())
    retired = {pid: count for pid, count in served.items() if pid not in current}
    assert len(retired) >= 10
    assert all(10 <= count <= 15 for count in retired.values()), retired
    # One recycle at a time: a replacement is forked only once the previous one is ready.
    events = re.findall(r"Forked worker (\d+)|Worker (\d+) ready", server.log())
    booting = None
    for forked, ready in events[2:]:
        if forked:
            assert booting is None, "two replacements booting at once"
            booting = forked
        elif ready == booting:
            booting = None
    assert min(ready_counts_after_first_ready(notify.collect())) >= 2


def test_metrics_totals_stay_monotonic_across_recycling(squall: SquallFactory) -> None:
    server = squall(
        "--workers", "2", "--max-requests", "10", "--max-requests-jitter", "5",
        "--no-access-log", "--metrics-bind", "127.0.0.1:0",
    )  # fmt: skip
    server.wait_ready(2)
    metrics_port = server.metrics_port()
    totals: list[float] = []
    pids: set[str] = set()

    def total() -> float:
        samples = scrape(metrics_port)
        per_worker = series(samples, "squall_requests_total")
        assert all(set(s.labels) == {"worker", "generation", "pid"} for s in per_worker)
        assert {s.labels["worker"] for s in per_worker} <= {"0", "1"}
        pids.update(s.labels["pid"] for s in per_worker)
        totals.append(value(samples, "squall_requests_all_total"))
        assert sum(s.value for s in per_worker) <= totals[-1]
        return totals[-1]

    for done in range(1, 201):
        assert get(server.port, "/pid").status == 200
        if done % 10 == 0:
            total()
    wait_until(lambda: total() == 200, 5, "the total to reach 200 (the next heartbeats)")
    assert totals == sorted(totals), totals  # never decreases
    samples = scrape(metrics_port)
    assert value(samples, "squall_request_duration_seconds_count") == 200
    assert value(samples, "squall_request_duration_seconds_bucket", le="+Inf") == 200
    recycles = value(samples, "squall_worker_restarts_total", cause="recycle")
    assert recycles >= 10 and len(pids) >= recycles  # every replacement got its own series
    assert value(samples, "squall_worker_restarts_total", cause="crash") == 0
    assert value(samples, "squall_workers_ready") == 2


def test_metrics_bind_needs_the_master_and_a_host_and_port(squall: SquallFactory) -> None:
    for args in (("--workers", "0", "--metrics-bind", "127.0.0.1:0"), ("--metrics-bind", "9100")):
        server = squall(*args, wait_listening=False)
        assert server.wait_exit(10) == 2
        assert "--metrics-bind" in server.log()


def has_ready_events(server: SquallProcess, count: int) -> bool:
    return len(server.ready_events()) == count


def test_ttin_and_ttou_scale_without_going_below_one_worker(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    # --reuse-port: the kernel spreads the requests over the workers by connection hash, so
    # some of them run on workers that TTOU then drains (a shared socket may hand every
    # connection to one worker, which would leave nothing to prove).
    server = squall("--workers", "2", "--reuse-port")
    server.wait_ready(2)
    for expected in (3, 4):
        server.send(signal.SIGTTIN)
        server.wait_log(rf"Scaled to {expected} worker", 2)
        wait_until(partial(has_ready_events, server, expected), 3, f"{expected} ready")
    wait_until(lambda: len(server.workers()) == 4, 3, "4 workers")
    requests = [pool.submit(slow_request, server.port, "/sleep?s=1", True) for _ in range(12)]
    time.sleep(0.2)
    for _ in range(5):
        server.send(signal.SIGTTOU)
        time.sleep(0.05)
    server.wait_log("SIGTTOU ignored: there is only one worker left", 2)
    counts = [int(n) for n in re.findall(r"Scaled to (\d+) worker", server.log())]
    assert counts == [3, 4, 3, 2, 1]
    results = [future.result(5) for future in requests]
    assert all(head_of(data)[0] == 200 for data, _, _ in results)
    wait_until(lambda: len(server.workers()) == 1, 3, "one worker left")
    (survivor,) = server.workers()
    pids = {int(data.split(b"slept ")[1]) for data, _, _ in results}
    assert pids - {survivor}, "no request ran on a drained worker"


# -- T21: SO_REUSEPORT -------------------------------------------------------------------------


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = (
            os.readlink(f"/proc/{pid}/fd/{fd}") if os.path.exists(f"/proc/{pid}/fd/{fd}") else ""
        )
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


@pytest.mark.slow
def test_reuse_port_gives_each_worker_its_own_listener_and_spreads_load(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    server = squall("--workers", "4", "--reuse-port", "--no-access-log")
    workers = server.wait_ready(4)
    listeners = listening_inodes(server.port)
    assert len(listeners) == 4
    owned = [socket_inodes(pid) & listeners for pid in workers]
    assert all(len(inodes) == 1 for inodes in owned) and len(set().union(*owned)) == 4
    assert not socket_inodes(server.pid) & listeners  # the master only holds a placeholder

    def burst(count: int) -> Counter[int]:
        seen: Counter[int] = Counter()
        for _ in range(count):
            seen[int(get(server.port, "/pid").text.split()[0])] += 1
        return seen

    total: Counter[int] = Counter()
    for future in [pool.submit(burst, 1000) for _ in range(4)]:
        total.update(future.result(60))
    assert set(total) == set(workers)
    mean = sum(total.values()) / 4
    assert all(abs(count - mean) <= 0.25 * mean for count in total.values()), total


# -- T28: the master dies ----------------------------------------------------------------------


def set_child_subreaper(on: bool) -> None:
    # PID 1 here does not reap orphans: adopt the workers so that they can be reaped.
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, int(on), 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER


def test_workers_finish_their_requests_and_exit_when_the_master_is_killed(
    squall: SquallFactory, pool: ThreadPoolExecutor
) -> None:
    set_child_subreaper(True)
    try:
        server = squall("--workers", "2")
        workers = server.wait_ready(2)
        pending = pool.submit(slow_request, server.port, "/sleep?s=1")
        time.sleep(0.2)
        killed_at = server.send(signal.SIGKILL)
        server.wait_exit(2)

        def all_gone() -> bool:
            for pid in workers:
                info = proc_stat(pid)
                if info is not None and info[0] == "Z":
                    os.waitpid(pid, 0)  # adopted by us: reap it
                elif info is not None:
                    return False
            return True

        wait_until(all_gone, 2.5, "the orphaned workers to exit")
        assert time.monotonic() - killed_at < 2.5
        data, _, _ = pending.result(5)
        assert head_of(data)[0] == 200
        assert children_of(os.getpid()) == []
    finally:
        set_child_subreaper(False)


# -- T20 (reduced): USR1 -----------------------------------------------------------------------


def test_reopen_log_files_follows_a_log_file_moved_away(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    logger = logging.getLogger("squall.test.reopen")
    handler = logging.FileHandler(path)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("before")
        path.rename(tmp_path / "app.log.1")
        assert reopen_log_files() >= 1
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert (tmp_path / "app.log.1").read_text() == "before\n"
    assert path.read_text() == "after\n"


def test_usr1_reopens_logs_in_the_master_and_reaches_every_worker(squall: SquallFactory) -> None:
    server = squall("--workers", "2")
    workers = server.wait_ready(2)
    server.send(signal.SIGUSR1)
    server.wait_log(r"SIGUSR1: reopened \d+ log file\(s\); telling the workers")
    time.sleep(0.2)
    assert server.workers() == workers  # the workers handle USR1 and live on
    assert get(server.port, "/pid").status == 200


# -- the channel itself --------------------------------------------------------------------------


def test_channel_carries_messages_both_ways_and_reports_eof() -> None:
    master_end, worker_end = channel_pair()
    try:
        assert worker_end.send("hb", lag=0.5, inflight=2, served=7)
        assert master_end.send("drain", timeout=3.0, phase="final")
        assert master_end.receive() == [{"t": "hb", "lag": 0.5, "inflight": 2, "served": 7}]
        assert worker_end.receive() == [{"t": "drain", "timeout": 3.0, "phase": "final"}]
        assert master_end.receive() == [] and not master_end.eof
        worker_end.sock.send(b"not json\n")
        assert master_end.receive() == []  # ignored, not fatal
        worker_end.close()
        assert master_end.receive() == [] and master_end.eof
        assert not master_end.send("quick")  # the peer is gone: a no-op
    finally:
        master_end.close()
        worker_end.close()


# -- metrics: the accumulators and the listener --------------------------------------------------


def test_metrics_keep_a_retired_workers_requests_in_the_totals() -> None:
    totals = MasterMetrics()
    first, second = WorkerStats(), WorkerStats()
    first.update({"served": 7, "inflight": 1, "lag": 0.25, "hist": [3, 4] + [0] * 10, "hsum": 0.04})
    for seconds in (0.003, 0.3, 30.0):
        second.latency.observe(seconds)
    second.update({"served": 3})
    first.update({"served": 2, "inflight": "junk", "hist": [1, 2], "hsum": float("nan")})
    assert (first.served, first.inflight, first.latency.counts[:2]) == (7, 1, [3, 4])
    before = parse_metrics(totals.render([(0, 0, 101, first), (1, 0, 102, second)], 2))
    assert value(before, "squall_requests_total", worker="0", generation="0", pid="101") == 7
    assert value(before, "squall_requests_in_flight", worker="0", generation="0", pid="101") == 1
    assert value(before, "squall_loop_lag_seconds", worker="0", generation="0", pid="101") == 0.25
    totals.retire(first)
    totals.restarted("recycle")
    after = parse_metrics(totals.render([(1, 0, 102, second)], 1))
    assert [s.labels["pid"] for s in series(after, "squall_requests_total")] == ["102"]
    for samples in (before, after):
        assert value(samples, "squall_requests_all_total") == 10
        buckets = series(samples, "squall_request_duration_seconds_bucket")
        assert [s.labels["le"] for s in buckets] == [repr(b) for b in BUCKETS] + ["+Inf"]
        assert [s.value for s in buckets][:2] == [4, 8]  # cumulative
        assert buckets[-1].value == value(samples, "squall_request_duration_seconds_count") == 10
        assert value(samples, "squall_request_duration_seconds_sum") == pytest.approx(30.343)
    assert value(after, "squall_worker_restarts_total", cause="recycle") == 1
    assert value(after, "squall_worker_restarts_total", cause="crash") == 0
    assert value(after, "squall_workers_ready") == 1


def exchange(selector: selectors.BaseSelector, port: int, raw: bytes) -> bytes:
    """Send ``raw`` to the metrics listener, turn the selector's loop, return all it answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(raw)
        client.setblocking(False)
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for key, mask in selector.select(0.01):
                key.data(mask)
            try:
                chunk = client.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                return data
            data += chunk
    raise AssertionError(f"no end of the answer to {raw[:40]!r}")


def test_metrics_listener_answers_get_metrics_and_nothing_else() -> None:
    listener = bind_metrics("127.0.0.1:0")
    port = listener.getsockname()[1]
    with selectors.DefaultSelector() as selector:
        server = MetricsServer(listener, selector, lambda: "squall_workers_ready 3\n")
        try:
            data = exchange(selector, port, request_bytes("/metrics"))
            status, headers = head_of(data)
            assert (status, headers["content-type"]) == (200, METRICS_CONTENT_TYPE)
            assert data.endswith(b"\r\n\r\nsquall_workers_ready 3\n")
            head = exchange(selector, port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert head_of(head) == (200, headers) and head.endswith(b"\r\n\r\n")
            assert head_of(exchange(selector, port, request_bytes("/")))[0] == 404
            post = exchange(selector, port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert head_of(post)[0] == 405
            assert head_of(exchange(selector, port, b"nonsense\r\n\r\n"))[0] == 400
            huge = exchange(selector, port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000)
            assert head_of(huge)[0] == 431
            with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
                for key, mask in selector.select(0.1):
                    key.data(mask)  # accepted; it never sends a request
                server.expire(time.monotonic() + CLIENT_TIMEOUT + 0.1)
                assert idle.recv(1) == b""  # dropped at its deadline
        finally:
            server.close()
    with pytest.raises(ConnectionRefusedError):
        connect(port).close()


class _OutOfDescriptors(socket.socket):
    def accept(self) -> tuple[socket.socket, object]:
        raise OSError(errno.EMFILE, "Too many open files")


def test_metrics_listener_rests_when_accept_runs_out_of_descriptors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bound = bind_metrics("127.0.0.1:0")
    listener = _OutOfDescriptors(fileno=bound.detach())
    with selectors.DefaultSelector() as selector:
        server = MetricsServer(listener, selector, lambda: "")
        try:
            with socket.create_connection(listener.getsockname(), timeout=5):
                (key, mask), *_ = selector.select(1)
                with caplog.at_level(logging.WARNING, logger="squall.general"):
                    key.data(mask)
                assert "accept failed" in caplog.text
                assert selector.select(0.05) == []  # not watched: the loop does not spin
                server.expire(time.monotonic() + 1.1)
                assert len(selector.select(0.5)) == 1  # watched again, still pending
        finally:
            server.close()
