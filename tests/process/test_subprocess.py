"""squall.process.Subprocess over real child interpreters, on asyncio's loop and uvloop's.

Every test runs twice per loop: once watching exits with pidfds (Linux's default) and once the
SIGCHLD way (what macOS and the BSDs use), forced through ``_subprocess._pidfd_probe``. Children
say when they are ready by writing to a pipe; nothing here sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from squall import _subprocess
from squall.ioloop import IOLoop
from squall.iostream import PipeIOStream, StreamClosedError
from squall.process import CalledProcessError, Subprocess
from tests.conftest import Runner

PY = sys.executable
ECHO = "import sys\nfor line in sys.stdin: sys.stdout.write(line.upper()); sys.stdout.flush()"


@pytest.fixture(params=["pidfd", "sigchld"])
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """How exits are watched: a pidfd per child, or the SIGCHLD handler."""
    if request.param == "pidfd" and not _subprocess._probe_pidfd():
        pytest.skip("no pidfd on this system")
    monkeypatch.setattr(_subprocess, "_pidfd_probe", request.param == "pidfd")
    yield request.param
    Subprocess.uninitialize()
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


def _stream(value: Any) -> PipeIOStream:
    assert isinstance(value, PipeIOStream)
    return value


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()


def test_pipes_carry_data_both_ways_and_close_like_files(run: Runner[Any], mechanism: str) -> None:
    async def body() -> None:
        proc = Subprocess([PY, "-c", ECHO], stdin=Subprocess.STREAM, stdout=Subprocess.STREAM)
        stdin, stdout = _stream(proc.stdin), _stream(proc.stdout)
        assert proc.stderr is None and proc.pid == proc.proc.pid and proc.returncode is None
        await stdin.write(b"hello\n")
        assert await stdout.read_until(b"\n") == b"HELLO\n"
        await stdin.write(b"a\nb\n")
        assert await stdout.read_bytes(4) == b"A\nB\n"
        stdin.close()  # EOF for the child, which then ends
        assert await stdout.read_until_close() == b""
        assert await proc.wait_for_exit() == 0
        assert proc.returncode == proc.proc.returncode == proc.proc.wait() == 0
        stdout.close()

    run(body())


def test_stderr_can_be_its_own_stream_or_merged_into_stdout(
    run: Runner[Any], mechanism: str
) -> None:
    script = (
        "import sys; sys.stdout.write('out\\n'); sys.stdout.flush(); sys.stderr.write('err\\n')"
    )

    async def body() -> None:
        apart = Subprocess([PY, "-c", script], stdout=Subprocess.STREAM, stderr=Subprocess.STREAM)
        assert await _stream(apart.stdout).read_until_close() == b"out\n"
        assert await _stream(apart.stderr).read_until_close() == b"err\n"
        merged = Subprocess([PY, "-c", script], stdout=Subprocess.STREAM, stderr=subprocess.STDOUT)
        assert merged.stderr is None
        assert await _stream(merged.stdout).read_until_close() == b"out\nerr\n"
        assert await apart.wait_for_exit() == await merged.wait_for_exit() == 0
        for stream in (apart.stdout, apart.stderr, merged.stdout):
            _stream(stream).close()

    run(body())


def test_non_stream_arguments_are_popens_own(run: Runner[Any], mechanism: str) -> None:
    async def body() -> None:
        proc = Subprocess([PY, "-c", "print('x')"], stdout=subprocess.PIPE)
        assert proc.stdout is proc.proc.stdout and proc.stdout is not None
        assert await proc.wait_for_exit() == 0
        assert proc.stdout.read() == b"x\n"
        proc.stdout.close()

    run(body())


def test_exit_callback_gets_the_status_on_a_later_iteration(
    run: Runner[Any], mechanism: str
) -> None:
    async def body() -> None:
        proc = Subprocess([PY, "-c", "import sys; sys.exit(7)"])
        seen: list[tuple[int, bool]] = []
        done = asyncio.Event()
        inside = True

        def on_exit(status: int) -> None:
            seen.append((status, inside))
            done.set()

        proc.set_exit_callback(on_exit)
        inside = False
        # Only the SIGCHLD way touches the process-wide signal handler.
        installed = signal.getsignal(signal.SIGCHLD) != signal.SIG_DFL
        assert installed == (mechanism == "sigchld")
        await done.wait()
        assert seen == [(7, False)]
        assert proc.returncode == proc.proc.returncode == 7
        # Asked again after the exit was seen: still called, still later.
        again: list[int] = []
        proc.set_exit_callback(again.append)
        assert again == []
        await proc.wait_for_exit(raise_error=False)
        await asyncio.sleep(0)
        assert again == [7]

    run(body())


def test_wait_for_exit_raises_called_process_error_unless_told_not_to(
    run: Runner[Any], mechanism: str
) -> None:
    async def body() -> None:
        args = [PY, "-c", "import sys; sys.exit(3)"]
        proc = Subprocess(args)
        with pytest.raises(CalledProcessError) as caught:
            await proc.wait_for_exit()
        assert caught.value.returncode == 3 and caught.value.cmd == args
        assert await Subprocess(args).wait_for_exit(raise_error=False) == 3

    run(body())


def test_every_waiter_and_the_callback_hear_of_the_exit_and_cancelling_one_spares_the_rest(
    run: Runner[Any], mechanism: str
) -> None:
    async def body() -> None:
        proc = Subprocess([PY, "-c", "import sys; sys.stdin.read()"], stdin=Subprocess.STREAM)
        called: list[int] = []
        proc.set_exit_callback(called.append)
        first, dropped, last = (proc.wait_for_exit() for _ in range(3))
        dropped.cancel()
        _stream(proc.stdin).close()
        assert await first == await last == 0
        await asyncio.sleep(0)
        assert called == [0] and dropped.cancelled()

    run(body())


def test_a_child_killed_by_a_signal_reports_minus_the_signal(
    run: Runner[Any], mechanism: str
) -> None:
    script = "import sys, time\nprint('ready', flush=True)\ntime.sleep(60)"

    async def body() -> None:
        proc = Subprocess([PY, "-c", script], stdout=Subprocess.STREAM)
        stdout = _stream(proc.stdout)
        assert await stdout.read_until(b"\n") == b"ready\n"
        exited = proc.wait_for_exit(raise_error=False)
        os.kill(proc.pid, signal.SIGTERM)
        assert await exited == -signal.SIGTERM == proc.returncode
        with pytest.raises(CalledProcessError) as caught:
            await proc.wait_for_exit()
        assert caught.value.returncode == -signal.SIGTERM
        stdout.close()

    run(body())


def test_many_concurrent_children_each_report_their_own_status(
    run: Runner[Any], mechanism: str
) -> None:
    async def body() -> None:
        procs = [Subprocess([PY, "-S", "-c", f"import os; os._exit({n})"]) for n in range(40)]
        statuses = await asyncio.gather(*(p.wait_for_exit(raise_error=False) for p in procs))
        assert statuses == list(range(40))
        assert [p.proc.returncode for p in procs] == statuses

    run(body(), timeout=90)


def test_a_program_that_cannot_start_raises_and_leaks_no_pipe(
    run: Runner[Any], mechanism: str
) -> None:
    async def body() -> None:
        before = _open_fds()
        with pytest.raises(FileNotFoundError):
            Subprocess(
                ["/nonexistent/program"],
                stdin=Subprocess.STREAM,
                stdout=Subprocess.STREAM,
                stderr=Subprocess.STREAM,
            )
        assert _open_fds() == before

    run(body())


def test_closing_stdin_is_seen_by_the_child_and_reading_a_closed_stream_fails(
    run: Runner[Any], mechanism: str
) -> None:
    async def body() -> None:
        proc = Subprocess(
            [PY, "-c", "import sys; print(len(sys.stdin.read()))"],
            stdin=Subprocess.STREAM,
            stdout=Subprocess.STREAM,
        )
        stdin, stdout = _stream(proc.stdin), _stream(proc.stdout)
        await stdin.write(b"12345")
        stdin.close()
        with pytest.raises(StreamClosedError):
            await stdin.write(b"more")
        assert await stdout.read_until_close() == b"5\n"
        assert await proc.wait_for_exit() == 0
        stdout.close()

    run(body())


def test_sigchld_initialize_restores_the_previous_handler_and_refuses_other_threads(
    run: Runner[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_subprocess, "_pidfd_probe", False)

    def previous(signum: int, frame: object) -> None:
        pass

    old = signal.signal(signal.SIGCHLD, previous)
    try:

        async def body() -> None:
            Subprocess.initialize()
            assert signal.getsignal(signal.SIGCHLD) is not previous
            Subprocess.initialize()  # a second call changes nothing
            Subprocess.uninitialize()
            assert signal.getsignal(signal.SIGCHLD) is previous
            Subprocess.uninitialize()  # nor does a second uninitialize

        run(body())
        errors: list[BaseException] = []

        def off_main() -> None:
            loop = asyncio.new_event_loop()
            try:
                IOLoop(asyncio_loop=loop)
                Subprocess.initialize()
            except RuntimeError as exc:
                errors.append(exc)
            finally:
                loop.close()

        thread = threading.Thread(target=off_main)
        thread.start()
        thread.join()
        assert len(errors) == 1 and "main thread" in str(errors[0])
    finally:
        signal.signal(signal.SIGCHLD, old)


def test_pidfd_children_need_no_sigchld_handler_and_work_from_another_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not _subprocess._probe_pidfd():
        pytest.skip("no pidfd on this system")
    monkeypatch.setattr(_subprocess, "_pidfd_probe", True)
    results: list[object] = []

    def in_thread() -> None:
        async def body() -> int:
            return await Subprocess([PY, "-c", "import sys; sys.exit(5)"]).wait_for_exit(
                raise_error=False
            )

        try:
            results.append(asyncio.run(body()))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert results == [5]
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


def test_an_exit_missed_while_uninitialized_is_reported_by_the_next_initialize(
    run: Runner[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_subprocess, "_pidfd_probe", False)

    async def body() -> None:
        proc = Subprocess([PY, "-c", "import sys; sys.stdin.read()"], stdin=Subprocess.STREAM)
        exited = proc.wait_for_exit(raise_error=False)
        Subprocess.uninitialize()
        _stream(proc.stdin).close()
        # Wait for the exit without reaping it (and without any handler to hear of it).
        await asyncio.to_thread(os.waitid, os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        await asyncio.sleep(0)
        assert not exited.done()
        Subprocess.initialize()
        assert await exited == 0

    try:
        run(body())
    finally:
        Subprocess.uninitialize()


def test_a_loop_closed_before_its_child_exits_leaves_no_pidfd_open_for_long(
    run: Runner[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _subprocess._probe_pidfd():
        pytest.skip("no pidfd on this system")
    monkeypatch.setattr(_subprocess, "_pidfd_probe", True)
    before = _open_fds()
    procs: list[subprocess.Popen[bytes]] = []

    async def body() -> None:
        proc = Subprocess([PY, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        proc.set_exit_callback(lambda status: None)
        assert len(_open_fds()) > len(before)  # the pidfd and the stdin pipe
        procs.append(proc.proc)

    async def next_loop() -> None:
        IOLoop.current()  # a new facade: closed loops' facades (and their handlers) are dropped

    run(body())
    child = procs.pop()
    try:
        run(next_loop())
        gc.collect()
        assert child.stdin is not None
        assert _open_fds() - before == {str(child.stdin.fileno())}
    finally:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(30) == 0
