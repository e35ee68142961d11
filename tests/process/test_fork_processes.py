"""squall.process.fork_processes and HTTPServer.start(n): the real thing, in subprocesses.

Each scenario runs a script from ``scripts/`` in its own session, with real signals and sockets.
The test process is a child subreaper meanwhile, so a child that outlives its parent is adopted
here: it can be reaped, and any process left over at the end fails the test.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall import process
from squall._supervisor import fork
from squall._supervisor.common import RestartBackoff, describe_exit
from tests.process.scripts.harness import (
    SCRIPTS,
    PendingRequest,
    Script,
    answers,
    cpu_seconds,
    exists,
    free_port,
    get,
    port_is_free,
    reap_orphan,
    running,
    subreaper,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="uses /proc and prctl (Linux)"
)

APP = SCRIPTS / "app.py"
SCENARIOS = SCRIPTS / "scenarios.py"


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Adopt orphans during the test; fail it if any process is left behind."""
    with subreaper():
        yield


def serve_app(port: int, *args: str, loop: str = "auto") -> Script:
    """Start the test app; return once ``/d`` answers (the children are serving)."""
    script = Script(APP, f"--port={port}", *args, env={"SQUALL_LOOP": loop})
    try:
        wait_for(lambda: answers(port) or script.proc.poll() is not None, 15, "the app")
        assert script.proc.poll() is None, script.output()
    except BaseException:
        script.close()
        raise
    return script


def assert_all_gone(pids: list[int], port: int) -> None:
    """The children are gone (not even zombies) and nothing listens on ``port`` any more."""
    assert [pid for pid in pids if exists(pid)] == []
    assert port_is_free(port)


# -- in-process pieces -----------------------------------------------------------------------


def test_task_id_is_none_in_a_process_that_never_forked() -> None:
    assert process.task_id() is None


def test_cpu_count_counts_usable_cpus_not_more_than_the_affinity_mask() -> None:
    assert 1 <= process.cpu_count() <= len(os.sched_getaffinity(0))


def test_cgroup_v2_quota_rounds_up_and_max_means_unlimited(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text("0::/app/web\n")
    (tmp_path / "app" / "web").mkdir(parents=True)
    (tmp_path / "app" / "web" / "cpu.max").write_text("max 100000\n")
    (tmp_path / "app" / "cpu.max").write_text("150000 100000\n")
    limit = fork.cgroup_cpu_limit(str(tmp_path), str(tmp_path / "cgroup"))
    assert limit == 1.5  # the ancestor's quota binds the process too


def test_cgroup_v1_quota_is_read_and_minus_one_means_unlimited(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text("4:cpu,cpuacct:/job\n0::/\n")
    job = tmp_path / "cpu,cpuacct" / "job"
    job.mkdir(parents=True)
    (job / "cpu.cfs_quota_us").write_text("250000\n")
    (job / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu,cpuacct" / "cpu.cfs_period_us").write_text("100000\n")
    assert fork.cgroup_cpu_limit(str(tmp_path), str(tmp_path / "cgroup")) == 2.5


def test_no_cgroup_files_means_no_limit(tmp_path: Path) -> None:
    assert fork.cgroup_cpu_limit(str(tmp_path), str(tmp_path / "missing")) is None


def test_backoff_doubles_for_quick_deaths_caps_at_30_s_and_resets_after_a_long_life() -> None:
    backoff = RestartBackoff(quick=fork.QUICK_DEATH)  # what fork_processes uses
    assert [backoff.delay(0, 0.1) for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(1, 0.1) == 0.5  # streaks are per task id
    assert backoff.delay(0, fork.QUICK_DEATH) == 0.0
    assert backoff.delay(0, 0.1) == 0.5


def test_describe_exit_uses_tornados_wording() -> None:
    assert describe_exit(0) == "exited normally"
    assert describe_exit(3 << 8) == "exited with status 3"
    assert describe_exit(signal.SIGKILL) == "killed by signal 9 (SIGKILL)"


def test_without_os_fork_it_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "fork")
    with pytest.raises(RuntimeError, match=r"needs os\.fork\(\).*Windows"):
        process.fork_processes(2)


# -- Tornado's semantics ---------------------------------------------------------------------


def test_tornado_scenario_restarts_nonzero_exits_keeps_ids_and_parent_exits_zero(
    tmp_path: Path,
) -> None:
    with running(SCENARIOS, "tornado", str(tmp_path)) as script:
        assert script.wait(20) == 0
        out = script.output()
    assert "INFO squall.general: Starting 3 processes" in out
    assert re.search(
        r"WARNING squall.general: child 1 \(pid \d+\) exited with status 2, restarting", out
    )
    assert re.search(
        r"WARNING squall.general: child 2 \(pid \d+\) exited with status 3, restarting", out
    )
    normal = re.findall(r"INFO squall.general: child (\d) \(pid \d+\) exited normally", out)
    assert sorted(normal) == ["0", "1", "2"]  # id 0 once; ids 1 and 2 after their restart
    assert out.count("FORKING") == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lived-0", "lived-1", "lived-2"]


def test_a_crash_looping_child_backs_off_and_the_parent_stays_idle(tmp_path: Path) -> None:
    times = tmp_path / "times"
    times.touch()

    def lives() -> int:
        return len(times.read_text().split())

    with running(SCENARIOS, "crash", str(times)) as script:
        wait_for(lambda: lives() >= 2, 10, "the second life")
        cpu_before = cpu_seconds(script.pid)
        wait_for(lambda: lives() >= 3, 10, "the third life")  # ~1 s of backoff in between
        cpu_during_backoff = cpu_seconds(script.pid) - cpu_before
        assert script.wait(10) == 1  # 4 lives, 3 restarts, then RuntimeError
        out = script.output()
    started = [float(t) for t in times.read_text().split()]
    gaps = [b - a for a, b in zip(started, started[1:], strict=False)]
    assert len(gaps) == 3
    assert 0.45 <= gaps[0] < 1.0
    assert 0.95 <= gaps[1] < 1.6
    assert 1.95 <= gaps[2] < 2.8
    assert cpu_during_backoff < 0.15  # a busy wait would burn about a second
    assert "RuntimeError: Too many child restarts, giving up" in out


def test_past_max_restarts_the_parent_stops_the_survivors_before_raising(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with running(SCENARIOS, "give_up", str(pid_file)) as script:
        assert script.wait(15) == 1
        out = script.output()
    survivor = int(pid_file.read_text())
    assert not exists(survivor)
    assert f"child 0 (pid {survivor}) exited normally" in out  # it drained on SIGTERM
    assert out.index("exited normally") < out.index("RuntimeError: Too many child restarts")


def test_calling_fork_processes_in_a_child_raises() -> None:
    with running(SCENARIOS, "from_child") as script:
        assert script.wait(10) == 0
        out = script.output()
    assert "child error: fork_processes() was called in child process 0" in out


def test_calling_fork_processes_twice_raises() -> None:
    with running(SCENARIOS, "twice") as script:
        assert script.wait(10) == 0
        out = script.output()
    assert "first error: Too many child restarts, giving up" in out
    assert "second error: fork_processes() was already called in this process" in out


# -- fork safety -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["current", "instance", "asyncio"])
def test_a_loop_created_before_start_n_raises_before_anything_is_forked(kind: str) -> None:
    with running(SCENARIOS, "loop_before", kind) as script:
        assert script.wait(10) == 1
        out = script.output()
    assert "RuntimeError: Cannot run in multiple processes: an event loop was already" in out
    assert "squall serve --workers N" in out
    assert "FORKING" not in out
    assert "Starting" not in out


def test_a_thread_alive_at_fork_time_is_logged_as_a_warning() -> None:
    port = free_port()
    script = serve_app(port, "--thread")
    try:
        children = script.children(2)
        script.signal(signal.SIGTERM)
        assert script.wait(10) == 0
        out = script.output()
    finally:
        script.close()
    assert re.search(r"\[W [^]]*\] Forking with 1 other thread\(s\) alive \(lingering\)", out)
    assert_all_gone(children, port)


def test_debug_true_with_start_2_serves_and_says_once_that_reload_is_supervisor_driven() -> None:
    port = free_port()
    script = serve_app(port, "--debug")
    try:
        children = script.children(2)
        assert get(port, "/d")[:2] == (200, "this is DirectHandler...")
        script.signal(signal.SIGTERM)
        assert script.wait(10) == 0
        out = script.output()
    finally:
        script.close()
    note = "debug/autoreload with start(n): reload is supervisor-driven (the parent watches"
    assert out.count(note) == 1
    assert_all_gone(children, port)


# -- serving, signals, parent death ----------------------------------------------------------


def test_start_2_answers_d_in_under_100_ms_from_another_pid_while_s_sleeps(
    tmp_path: Path,
) -> None:
    port = free_port()
    script = serve_app(port, "--sleep=1", f"--marker_dir={tmp_path}")
    try:
        children = script.children(2)
        slow = PendingRequest(port, "/s")
        wait_for(lambda: list(tmp_path.iterdir()), 5, "/s to start sleeping")
        sleeper = int(next(tmp_path.iterdir()).name.removeprefix("s-"))
        status, body, took = get(port, "/d")
        assert (status, body) == (200, "this is DirectHandler...")
        assert took < 0.1
        assert not slow.done()
        other = int(get(port, "/pid")[1])
        assert sorted([sleeper, other]) == children  # two processes serve
        slow.wait(5)
        assert (slow.status, slow.body) == (200, f"this is SleepHandler... {sleeper}")
        script.signal(signal.SIGTERM)
        assert script.wait(10) == 0
    finally:
        script.close()
    assert_all_gone(children, port)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_term_to_the_parent_lets_children_finish_in_flight_requests_then_all_exit_zero(
    tmp_path: Path, loop: str
) -> None:
    port = free_port()
    script = serve_app(port, "--sleep=1", f"--marker_dir={tmp_path}", loop=loop)
    try:
        children = script.children(2)
        slow = PendingRequest(port, "/s")
        wait_for(lambda: list(tmp_path.iterdir()), 5, "/s to start sleeping")
        script.signal(signal.SIGTERM)
        slow.wait(10)
        assert slow.error is None
        assert slow.status == 200
        assert script.wait(10) == 0
        out = script.output()
    finally:
        script.close()
    assert "SIGTERM received: stopping 2 child process(es)" in out
    assert len(re.findall(r"child \d \(pid \d+\) exited normally", out)) == 2
    assert_all_gone(children, port)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_when_the_parent_is_killed_the_children_drain_and_exit_within_2_s(loop: str) -> None:
    port = free_port()
    script = serve_app(port, loop=loop)
    try:
        children = script.children(2)
        script.signal(signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        script.wait(5)
        # Adopted by this process (a subreaper), so their exit status is ours to read.
        statuses = [reap_orphan(pid, deadline - time.monotonic()) for pid in children]
    finally:
        script.close()
    assert statuses == [0, 0]  # drained and exited normally, not killed
    assert_all_gone(children, port)
