"""``IOLoop.add_handler`` leaves a caller's file descriptor in the blocking mode it was in.

uvloop makes a descriptor non-blocking when it starts polling it; asyncio's loop does not. A
terminal server that writes to its (blocking) pty master would then get ``BlockingIOError``
under uvloop only. Each test runs on both loops, with a pty and with a pipe.
"""

from __future__ import annotations

import os
import pty
import threading
import tty
from collections.abc import Callable, Iterator

import pytest

from squall import _loop, ioloop
from squall.ioloop import IOLoop

Pair = tuple[int, int]  # (the end the loop watches, the other end)


@pytest.fixture(params=["asyncio", "uvloop"])
def io_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[IOLoop]:
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv("SQUALL_LOOP", request.param)
    ioloop._reset_for_tests()
    loop = IOLoop(make_current=False)
    assert _loop.loop_name(loop.asyncio_loop) == request.param
    yield loop
    loop.close()
    ioloop._reset_for_tests()


def open_pty() -> Pair:
    master, slave = pty.openpty()
    return master, slave


def open_pipe() -> Pair:
    read_end, write_end = os.pipe()
    return read_end, write_end


@pytest.fixture(params=[open_pty, open_pipe], ids=["pty", "pipe"])
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    opener: Callable[[], Pair] = request.param
    watched, other = opener()
    yield watched, other
    for fd in (watched, other):
        try:
            os.close(fd)
        except OSError:
            pass


def run_until(io_loop: IOLoop, done: list[object], seconds: float = 5.0) -> None:
    fuse = io_loop.call_later(seconds, io_loop.stop)
    io_loop.add_callback(lambda: io_loop.stop() if done else None)
    io_loop.start()
    io_loop.remove_timeout(fuse)
    assert done, f"nothing happened within {seconds} s"


def test_a_blocking_descriptor_stays_blocking_and_its_handler_runs(
    io_loop: IOLoop, pair: Pair
) -> None:
    watched, other = pair
    assert os.get_blocking(watched)
    received: list[object] = []

    def on_readable(fd: int, events: int) -> None:
        # A blocking read of what is there: fine, the loop said it is readable.
        received.append((events, os.read(fd, 100)))
        io_loop.remove_handler(fd)
        io_loop.stop()

    io_loop.add_handler(watched, on_readable, IOLoop.READ)
    assert os.get_blocking(watched), "add_handler made the caller's descriptor non-blocking"
    os.write(other, b"ls\n")
    run_until(io_loop, received)
    assert received[0][0] == IOLoop.READ
    assert b"ls" in received[0][1]  # type: ignore[index, operator]
    assert os.get_blocking(watched)


def test_update_handler_and_a_second_add_keep_it_blocking(io_loop: IOLoop, pair: Pair) -> None:
    watched, _ = pair
    io_loop.add_handler(watched, lambda fd, events: None, IOLoop.READ)
    io_loop.update_handler(watched, IOLoop.READ | IOLoop.WRITE)
    assert os.get_blocking(watched)
    io_loop.update_handler(watched, IOLoop.NONE)
    io_loop.update_handler(watched, IOLoop.WRITE)  # watching starts afresh
    assert os.get_blocking(watched)
    io_loop.remove_handler(watched)
    io_loop.add_handler(watched, lambda fd, events: None, IOLoop.READ)
    assert os.get_blocking(watched)
    io_loop.remove_handler(watched)


def test_a_non_blocking_descriptor_stays_non_blocking(io_loop: IOLoop, pair: Pair) -> None:
    watched, _ = pair
    os.set_blocking(watched, False)
    io_loop.add_handler(watched, lambda fd, events: None, IOLoop.READ)
    assert not os.get_blocking(watched)
    io_loop.remove_handler(watched)
    assert not os.get_blocking(watched)


def test_writes_to_a_watched_blocking_pty_wait_instead_of_failing(io_loop: IOLoop) -> None:
    # What a terminal server does: watch the pty master for output, and write the user's
    # keystrokes to it. A write larger than the pty's buffer must block until the other side
    # reads, not raise BlockingIOError.
    master, slave = pty.openpty()
    tty.setraw(slave)  # no line discipline: every byte reaches the reader
    try:
        io_loop.add_handler(master, lambda fd, events: None, IOLoop.READ)
        drained: list[bytes] = []

        def drain() -> None:
            while sum(map(len, drained)) < 65536:
                drained.append(os.read(slave, 65536))

        reader = threading.Thread(target=drain)
        reader.start()
        written = 0
        payload = b"x" * 65536
        while written < len(payload):
            written += os.write(master, payload[written:])
        reader.join(10)
        assert not reader.is_alive()
        io_loop.remove_handler(master)
    finally:
        os.close(master)
        os.close(slave)


def test_a_bad_descriptor_raises_and_leaves_no_handler_behind(io_loop: IOLoop) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError):
        io_loop.add_handler(read_end, lambda fd, events: None, IOLoop.READ)
    assert read_end not in io_loop._handlers
