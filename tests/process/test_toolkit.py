"""The supervisor toolkit both supervisors share: _supervisor/common.py and filewatch.py.

fork_processes and the managed master are exercised end to end by test_fork_processes.py and
test_supervisor.py (real processes); these are the pieces on their own.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from squall._supervisor.common import (
    LOST_STATUS,
    RestartBackoff,
    SignalWakeup,
    describe_exit,
    doubling,
    reap,
    send_signal,
)
from squall._supervisor.filewatch import FileWatch, TreeWatch, compile_error, python_files


def test_the_masters_backoff_restarts_the_first_crash_at_once_then_doubles() -> None:
    backoff = RestartBackoff(0.5, 30.0, quick=10.0, reset=60.0, free=1)  # master.py's
    assert [backoff.delay(0, 1.0) for _ in range(5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    # Between quick and reset: waits by the streak, without lengthening it.
    assert backoff.delay(0, 30.0) == 8.0
    assert backoff.delay(0, 30.0) == 8.0
    assert backoff.delay(0, 60.0) == 0.0  # a long life ends the streak
    assert backoff.delay(0, 1.0) == 0.0
    backoff.delay(1, 1.0)
    backoff.forget(1)
    assert backoff.delay(1, 1.0) == 0.0  # a forgotten slot starts afresh


def test_doubling_is_capped_and_never_overflows() -> None:
    assert [doubling(n, 1.0, 5.0) for n in range(-1, 6)] == [0.0, 0.0, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert doubling(100_000, 0.5, 30.0) == 30.0


def test_exits_are_described_by_status_and_signal_name() -> None:
    assert describe_exit(0) == "exited normally"
    assert describe_exit(70 << 8) == "exited with status 70"
    assert describe_exit(signal.SIGTERM) == "killed by signal 15 (SIGTERM)"
    assert describe_exit(LOST_STATUS) == "exited with status 255"


def test_reap_collects_a_child_and_reports_one_reaped_elsewhere_as_lost() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    pid, status = reap(child.pid, block=True) or (0, 0)
    assert pid == child.pid
    assert describe_exit(status) == "exited with status 3"
    assert reap(child.pid) == (child.pid, LOST_STATUS)  # not our child any more
    assert not send_signal(child.pid, signal.SIGTERM)  # gone: not an error
    child.returncode = 3  # reaped here: Popen must not wait for it again


def test_reap_of_a_running_child_answers_none_without_waiting() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        assert reap(child.pid) is None
        assert send_signal(child.pid, signal.SIGKILL)
        found = reap(child.pid, block=True)
        assert found is not None and describe_exit(found[1]).startswith("killed by signal 9")
        child.returncode = -9
    finally:
        assert child.stdin is not None
        child.stdin.close()


def test_signal_wakeup_queues_the_signal_wakes_the_poll_and_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    wakeup = SignalWakeup([signal.SIGUSR1], ignored=[signal.SIGUSR2])
    wakeup.install()
    try:
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGUSR1)
        readable, _, _ = select.select([wakeup.fileno], [], [], 5.0)
        assert readable == [wakeup.fileno]
        assert list(wakeup.pending) == [signal.SIGUSR1]
        wakeup.drain()
        assert select.select([wakeup.fileno], [], [], 0)[0] == []
    finally:
        wakeup.restore()
    assert signal.getsignal(signal.SIGUSR1) == before
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
    assert wakeup.fileno == -1
    wakeup.restore()  # idempotent


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_file_watch_reports_edits_but_not_files_it_meets_for_the_first_time(
    tmp_path: Path,
) -> None:
    known, later = tmp_path / "known.py", tmp_path / "later.py"
    _write(known, "a = 1\n")
    files = {str(known)}
    watch = FileWatch(lambda: files)
    assert watch.changed() == []
    _write(known, "a = 12\n")  # another size: seen whatever the clock's granularity
    assert watch.changed() == [str(known)]
    assert watch.changed() == []  # reported once per edit
    _write(later, "b = 1\n")
    files.add(str(later))
    assert watch.changed() == []  # a module imported since: its baseline
    missing = tmp_path / "settings.yaml"
    watch.add(str(missing))  # not there yet: watched from when it appears
    known.unlink()
    assert watch.changed() == []  # a file that is gone is skipped


def test_file_watch_with_appearing_counts_reports_new_and_deleted_files(tmp_path: Path) -> None:
    _write(tmp_path / "a.py", "a = 1\n")
    watch = FileWatch(lambda: python_files([str(tmp_path)]), appearing_counts=True)
    _write(tmp_path / "b.py", "b = 1\n")
    (tmp_path / "a.py").unlink()
    assert watch.changed() == [str(tmp_path / "a.py"), str(tmp_path / "b.py")]
    assert watch.changed() == []


def test_python_files_skip_caches_hidden_folders_and_virtualenvs(tmp_path: Path) -> None:
    for folder in ("pkg", "pkg/__pycache__", ".git", "venv", "node_modules"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        _write(tmp_path / folder / "m.py", "")
    _write(tmp_path / "pkg" / "notes.txt", "")
    assert python_files([str(tmp_path)]) == {str(tmp_path / "pkg" / "m.py")}


def test_compile_error_names_the_syntax_error_and_passes_good_or_other_files(
    tmp_path: Path,
) -> None:
    good, bad, data = tmp_path / "good.py", tmp_path / "bad.py", tmp_path / "data.json"
    _write(good, "x = 1\n")
    _write(bad, "def f(:\n")
    _write(data, "{")
    assert compile_error(str(good)) is None
    assert compile_error(str(data)) is None
    error = compile_error(str(bad))
    assert error is not None and "SyntaxError" in error and "bad.py" in error


def test_tree_watch_sees_a_new_module_under_its_directories(tmp_path: Path) -> None:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("with watchfiles the kernel's events are used; this tests the fallback")
    _write(tmp_path / "app.py", "")
    watch = TreeWatch([str(tmp_path)], interval=0.5)
    try:
        assert watch.changed() == []
        _write(tmp_path / "new.py", "")
        assert watch.changed() == [str(tmp_path / "new.py")]
    finally:
        watch.close()
