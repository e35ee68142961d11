"""``select()`` on a helper thread for event loops that cannot watch file descriptors.

Windows' proactor loop has no ``add_reader``/``add_writer``; ``AddThreadSelectorEventLoop``
wraps such a loop and watches file descriptors with ``select()`` on a helper thread
(``SelectorThread``), handing readiness back to the loop thread. The helper starts when the loop
first runs and stops on ``close()``, when the loop shuts down its async generators
(``asyncio.run`` does), or at interpreter exit.

A leaf (standard library only): the IOLoop (``squall._ioloop``) wraps a proactor loop in it, and
``squall.platform.asyncio`` re-exports it under Tornado's names (``_selector_loops`` and
``_atexit_callback`` too, which Tornado's tests reach for).
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import errno
import select
import socket
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

__all__ = ["AddThreadSelectorEventLoop", "SelectorThread"]


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


_FileDescriptorLike = int | _HasFileno
_Callback = tuple[Callable[..., object], tuple[Any, ...], contextvars.Context]

# The selector threads not yet closed; the atexit hook stops the ones left.
_selector_loops: set[SelectorThread] = set()


def _fileno(fd: _FileDescriptorLike) -> int:
    return fd if isinstance(fd, int) else fd.fileno()


class SelectorThread:
    """Watch file descriptors for ``real_loop`` with ``select()`` on a helper thread.

    ``add_reader``/``add_writer`` callbacks run on the loop's thread, each in the context that
    was current when it was added; an exception goes to the loop's exception handler. One
    ``select()`` runs at a time: the loop thread hands the helper the fd lists, the helper
    reports what is ready, the loop dispatches and hands over again. A socket pair (the
    waker) interrupts a ``select()`` when the set of fds changes or on close. Call
    ``close()`` when done; it is safe to call twice.
    """

    def __init__(self, real_loop: asyncio.AbstractEventLoop) -> None:
        self._real_loop = real_loop
        self._main_context = contextvars.copy_context()
        self._select_cond = threading.Condition()
        self._select_args: tuple[list[int], list[int]] | None = None
        self._closing_selector = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._thread_manager_task: asyncio.Task[None] | None = None
        self._manager: AsyncGenerator[None, None] | None = None
        self._readers: dict[int, _Callback] = {}
        self._writers: dict[int, _Callback] = {}
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self.add_reader(self._waker_r, self._consume_waker)
        _selector_loops.add(self)
        # The helper starts from inside the running loop, so the loop knows its async generator
        # and closes it (and so the helper) in shutdown_asyncgens().
        real_loop.call_soon(self._start_thread_manager)

    def _start_thread_manager(self) -> None:
        if not self._closed:
            self._thread_manager_task = self._real_loop.create_task(self._run_thread_manager())

    async def _run_thread_manager(self) -> None:
        # Kept referenced: collecting the suspended generator would close the helper.
        self._manager = self._thread_manager()
        await self._manager.__anext__()

    async def _thread_manager(self) -> AsyncGenerator[None, None]:
        self._thread = threading.Thread(
            target=self._run_select, name="squall-selector", daemon=True
        )
        self._thread.start()
        self._start_select()
        try:
            yield
        except GeneratorExit:
            self.close()
            raise

    def close(self) -> None:
        """Stop the helper thread, close the waker sockets and forget every callback."""
        if self._closed:
            return
        self._closed = True
        self._stop_thread()
        self._waker_r.close()
        self._waker_w.close()
        self._readers.clear()
        self._writers.clear()
        _selector_loops.discard(self)
        task = self._thread_manager_task
        if task is not None and not task.done():
            # The loop stopped before the task ran: it never will, so neither it nor its
            # coroutine may be reported as abandoned when collected.
            task._log_destroy_pending = False  # type: ignore[attr-defined]  # asyncio's flag
            task.cancel()
            task.get_coro().close()

    def _stop_thread(self) -> None:
        with self._select_cond:
            self._closing_selector = True
            self._select_cond.notify()
        self._wake_selector()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _wake_selector(self) -> None:
        try:
            self._waker_w.send(b"a")
        except (BlockingIOError, OSError):  # full (a wake is pending anyway) or closed
            pass

    def _consume_waker(self) -> None:
        try:
            while self._waker_r.recv(1024):
                pass
        except (BlockingIOError, OSError):
            pass

    def _start_select(self) -> None:
        with self._select_cond:
            self._select_args = (list(self._readers), list(self._writers))
            self._select_cond.notify()

    def _run_select(self) -> None:
        while True:
            with self._select_cond:
                while self._select_args is None and not self._closing_selector:
                    self._select_cond.wait()
                if self._closing_selector:
                    return
                assert self._select_args is not None  # the loop above waits for it
                to_read, to_write = self._select_args
                self._select_args = None
            readable, writable = self._select(to_read, to_write)
            try:
                self._real_loop.call_soon_threadsafe(
                    self._handle_select, readable, writable, context=self._main_context
                )
            except RuntimeError:  # the loop is closed: nobody to report to
                return

    @staticmethod
    def _select(to_read: list[int], to_write: list[int]) -> tuple[list[int], list[int]]:
        try:
            readable, writable, failed = select.select(to_read, to_write, to_write)
            return readable, writable + failed
        except OSError as exc:
            if exc.errno not in (errno.EBADF, getattr(errno, "WSAENOTSOCK", errno.EBADF)):
                raise
        # An fd was closed while watched: report the bad ones as ready, so that their owners
        # read or write, see the error and remove them.
        readable = [fd for fd in to_read if not SelectorThread._fd_ok(fd)]
        writable = [fd for fd in to_write if not SelectorThread._fd_ok(fd)]
        return readable, writable

    @staticmethod
    def _fd_ok(fd: int) -> bool:
        try:
            select.select([fd], [], [], 0)
        except OSError:
            return False
        return True

    def _handle_select(self, readable: list[int], writable: list[int]) -> None:
        for fd in readable:
            self._dispatch(fd, self._readers)
        for fd in writable:
            self._dispatch(fd, self._writers)
        if not self._closed:
            self._start_select()

    def _dispatch(self, fd: int, callbacks: dict[int, _Callback]) -> None:
        if (entry := callbacks.get(fd)) is None:
            return  # removed while the select ran
        callback, args, context = entry
        try:
            context.run(callback, *args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._real_loop.call_exception_handler(
                {"message": f"Exception in callback for fd {fd}", "exception": exc}
            )

    def add_reader(
        self, fd: _FileDescriptorLike, callback: Callable[..., object], *args: Any
    ) -> None:
        """Call ``callback(*args)`` on the loop whenever ``fd`` is readable."""
        self._readers[_fileno(fd)] = (callback, args, contextvars.copy_context())
        self._wake_selector()

    def add_writer(
        self, fd: _FileDescriptorLike, callback: Callable[..., object], *args: Any
    ) -> None:
        """Call ``callback(*args)`` on the loop whenever ``fd`` is writable."""
        self._writers[_fileno(fd)] = (callback, args, contextvars.copy_context())
        self._wake_selector()

    def remove_reader(self, fd: _FileDescriptorLike) -> bool:
        """Stop watching ``fd`` for reading; return whether it was watched."""
        found = self._readers.pop(_fileno(fd), None) is not None
        self._wake_selector()
        return found

    def remove_writer(self, fd: _FileDescriptorLike) -> bool:
        """Stop watching ``fd`` for writing; return whether it was watched."""
        found = self._writers.pop(_fileno(fd), None) is not None
        self._wake_selector()
        return found


_OWN = frozenset(
    {
        "_real_loop",
        "_selector",
        "add_reader",
        "add_writer",
        "remove_reader",
        "remove_writer",
        "close",
        "close_selector",
    }
)


class AddThreadSelectorEventLoop(asyncio.AbstractEventLoop):
    """An event loop that is ``real_loop`` plus ``add_reader``/``add_writer`` on a helper thread.

    For loops that cannot watch file descriptors (Windows' ``ProactorEventLoop``); every other
    attribute is the real loop's. ``close()`` closes the helper and the real loop, and may be
    called twice; ``close_selector()`` closes only the helper.
    """

    def __init__(self, real_loop: asyncio.AbstractEventLoop) -> None:
        self._real_loop = real_loop
        self._selector = SelectorThread(real_loop)

    def __getattribute__(self, name: str) -> Any:
        if name in _OWN or (name.startswith("__") and name.endswith("__")):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_real_loop"), name)

    def __repr__(self) -> str:
        return f"<AddThreadSelectorEventLoop over {self._real_loop!r}>"

    def close_selector(self) -> None:
        """Stop the helper thread; the real loop stays open."""
        self._selector.close()

    def close(self) -> None:
        """Stop the helper thread and close the real loop."""
        self._selector.close()
        self._real_loop.close()

    def add_reader(  # type: ignore[override]  # asyncio's stub types the fd more narrowly
        self, fd: _FileDescriptorLike, callback: Callable[..., object], *args: Any
    ) -> None:
        """Call ``callback(*args)`` on the loop whenever ``fd`` is readable."""
        self._selector.add_reader(fd, callback, *args)

    def add_writer(  # type: ignore[override]  # as add_reader
        self, fd: _FileDescriptorLike, callback: Callable[..., object], *args: Any
    ) -> None:
        """Call ``callback(*args)`` on the loop whenever ``fd`` is writable."""
        self._selector.add_writer(fd, callback, *args)

    def remove_reader(self, fd: _FileDescriptorLike) -> bool:
        """Stop watching ``fd`` for reading; return whether it was watched."""
        return self._selector.remove_reader(fd)

    def remove_writer(self, fd: _FileDescriptorLike) -> bool:
        """Stop watching ``fd`` for writing; return whether it was watched."""
        return self._selector.remove_writer(fd)


def _atexit_callback() -> None:
    """Stop every selector thread still running (their loops were never closed)."""
    for selector in list(_selector_loops):
        selector.close()
    _selector_loops.clear()


atexit.register(_atexit_callback)
