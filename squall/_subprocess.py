"""Child processes with streams on their pipes: Tornado's ``tornado.process.Subprocess``.

    proc = Subprocess(["git", "log"], stdout=Subprocess.STREAM)
    log = await proc.stdout.read_until_close()
    status = await proc.wait_for_exit()      # CalledProcessError unless it exited 0

How this works: ``Subprocess`` is ``subprocess.Popen`` (``proc.proc``) plus, for each of
stdin/stdout/stderr given as ``Subprocess.STREAM``, a pipe whose parent end is a
``PipeIOStream`` on the IOLoop current at construction. Learning that the child exited needs
no thread and no polling:

- **pidfd** (Linux 5.3+): ``os.pidfd_open(pid)`` gives a descriptor that becomes readable when
  that one child exits; the IOLoop watches it like a socket. Nothing global is touched, so it
  works on asyncio's loop and uvloop's, in any thread, beside any other library's children.
- **SIGCHLD** elsewhere (macOS, the BSDs, kernels or sandboxes without pidfd): Tornado's way.
  ``Subprocess.initialize()`` installs a SIGCHLD handler (main thread only) that asks the
  IOLoop current at that call to check every watched child; ``uninitialize()`` restores the
  previous handler.

Either way the child is reaped by ``Popen.poll()``, so ``proc.proc.returncode`` and
``proc.proc.wait()`` agree with ``proc.returncode``, and the exit callback and futures run on
the Subprocess's IOLoop, always after the call that asked for them returns.

Rules: this module manages children a program starts for its own work; it knows nothing of
the fork supervisor (``_supervisor``), which forks the server itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from types import FrameType
from typing import IO, Any, ClassVar

from squall._streams.pipes import PipeIOStream
from squall.ioloop import IOLoop

__all__ = ["CalledProcessError", "Subprocess", "pidfd_supported"]

CalledProcessError = subprocess.CalledProcessError

_STREAM_NAMES = ("stdin", "stdout", "stderr")


def pidfd_supported() -> bool:
    """True when children can be watched with a pidfd (Linux 5.3+, not blocked by a sandbox).

    Probed once, on this process's own pid; ``SQUALL_SUBPROCESS_SIGCHLD=1`` forces the SIGCHLD
    way (for tests, or a kernel whose pidfds misbehave).
    """
    global _pidfd_probe
    if _pidfd_probe is None:
        _pidfd_probe = _probe_pidfd()
    return _pidfd_probe


_pidfd_probe: bool | None = None


def _probe_pidfd() -> bool:
    if os.environ.get("SQUALL_SUBPROCESS_SIGCHLD", "").strip() not in ("", "0"):
        return False
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return False
    try:
        os.close(pidfd_open(os.getpid()))
    except OSError:  # ENOSYS on old kernels, EPERM under some seccomp profiles
        return False
    return True


class _Pidfd:
    """A pidfd the IOLoop watches; closed once (by us, or by ``IOLoop.close(all_fds=True)``)."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        # The loop was closed (or dropped) with the child still running: free the descriptor.
        self.close()


class Subprocess:
    """``subprocess.Popen`` with ``PipeIOStream`` pipes and an exit callback on the IOLoop.

    Takes ``subprocess.Popen``'s arguments. ``stdin``, ``stdout`` and ``stderr`` may be
    ``Subprocess.STREAM``: the attribute of that name is then a ``PipeIOStream`` (on the IOLoop
    current now), which the caller must close when done with it. Otherwise the attribute is
    Popen's (a file object for ``subprocess.PIPE``, else None); ``pid`` is the child's pid and
    ``proc`` the Popen object. ``returncode`` is None until the exit is seen, then the status
    (``-N`` for a child killed by signal N).

    Exit notification: :meth:`set_exit_callback` or :meth:`wait_for_exit`; see the module doc
    for how it is watched. If Popen fails (no such program), the pipes made for it are closed
    and its exception propagates. Unix only.
    """

    STREAM: ClassVar[object] = object()

    _initialized: ClassVar[bool] = False
    _signal_loop: ClassVar[IOLoop | None] = None  # runs the SIGCHLD check
    _old_sigchld: ClassVar[Any] = None
    _waiting: ClassVar[dict[int, Subprocess]] = {}  # pid -> watched child (SIGCHLD way)

    stdin: PipeIOStream | IO[Any] | None
    stdout: PipeIOStream | IO[Any] | None
    stderr: PipeIOStream | IO[Any] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.io_loop = IOLoop.current()
        ours: dict[str, int] = {}  # stream name -> the parent's end of its pipe
        theirs: list[int] = []  # the child's ends: closed here once Popen has them
        try:
            for name in _STREAM_NAMES:
                if kwargs.get(name) is Subprocess.STREAM:
                    read_end, write_end = os.pipe()
                    child, parent = (
                        (read_end, write_end) if name == "stdin" else (write_end, read_end)
                    )
                    ours[name], kwargs[name] = parent, child
                    theirs.append(child)
            self.proc = subprocess.Popen(*args, **kwargs)
        except BaseException:
            for fd in (*ours.values(), *theirs):
                os.close(fd)
            raise
        for fd in theirs:
            os.close(fd)
        for name in _STREAM_NAMES:
            stream = PipeIOStream(ours[name]) if name in ours else getattr(self.proc, name)
            setattr(self, name, stream)
        self.pid: int = self.proc.pid
        self.returncode: int | None = None
        self._exit_callback: Callable[[int], object] | None = None
        self._exit_futures: list[tuple[asyncio.Future[int], bool]] = []
        self._pidfd: _Pidfd | None = None
        self._watching = False

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"returncode={self.returncode}"
        return f"<Subprocess pid={self.pid} {state}>"

    # -- exit notification -------------------------------------------------------------------

    def set_exit_callback(self, callback: Callable[[int], object]) -> None:
        """Call ``callback(returncode)`` on this Subprocess's IOLoop once the child exits.

        Replaces a callback set before; :meth:`wait_for_exit` futures are kept apart and
        still resolve. Runs on a later loop iteration even if the child has already exited.
        Without pidfd support this needs the SIGCHLD handler: it calls :meth:`initialize`
        (which must then happen on the main thread) if nothing did yet.
        """
        self._exit_callback = callback
        self._watch()

    def wait_for_exit(self, raise_error: bool = True) -> asyncio.Future[int]:
        """A Future of the child's return code, resolved once it exits.

        With ``raise_error`` (the default) a non-zero status fails the Future with
        ``subprocess.CalledProcessError`` (``returncode`` and ``cmd`` set) instead. Any number
        of callers may wait; cancelling one Future leaves the others and the exit callback be.
        """
        future: asyncio.Future[int] = self.io_loop.asyncio_loop.create_future()
        self._exit_futures.append((future, raise_error))
        self._watch()
        return future

    @classmethod
    def initialize(cls) -> None:
        """Install the SIGCHLD handler, checked on the IOLoop current now.

        Needed only where pidfds are unavailable (see the module doc), and done implicitly by
        the first :meth:`set_exit_callback` there; harmless elsewhere. The IOLoop used need not
        be the one of each Subprocess. Call it on the main thread (RuntimeError otherwise);
        a second call does nothing until :meth:`uninitialize`.
        """
        if cls._initialized:
            return
        loop = IOLoop.current()
        if not pidfd_supported():
            if threading.current_thread() is not threading.main_thread():
                raise RuntimeError(
                    "Subprocess.initialize() installs a SIGCHLD handler and must run on the "
                    "main thread; call it there before watching children from other threads"
                )
            cls._old_sigchld = signal.signal(signal.SIGCHLD, cls._on_sigchld)
        cls._signal_loop = loop
        cls._initialized = True
        if cls._waiting:  # children that exited while no handler was installed
            loop.add_callback(cls._check_waiting)

    @classmethod
    def uninitialize(cls) -> None:
        """Remove the SIGCHLD handler, restoring the one before :meth:`initialize`.

        Children watched the SIGCHLD way are no longer noticed until the next
        ``initialize()``, which checks them at once; pidfd-watched children are unaffected.
        Does nothing if not initialized.
        """
        if not cls._initialized:
            return
        if cls._old_sigchld is not None:
            signal.signal(signal.SIGCHLD, cls._old_sigchld)
        cls._old_sigchld = None
        cls._signal_loop = None
        cls._initialized = False

    # -- watching ----------------------------------------------------------------------------

    def _watch(self) -> None:
        if self.returncode is not None:  # seen already: report on the next iteration
            self.io_loop.add_callback(self._report)
            return
        if self._watching:
            return
        self._watching = True
        if pidfd_supported():
            try:
                self._pidfd = _Pidfd(os.pidfd_open(self.pid))
            except ProcessLookupError:  # reaped by someone else (proc.wait() in a thread)
                self.io_loop.add_callback(self._check)
                return
            self.io_loop.add_handler(self._pidfd, self._on_pidfd, IOLoop.READ)
            return
        Subprocess.initialize()
        Subprocess._waiting[self.pid] = self
        self.io_loop.add_callback(self._check)  # it may have exited before the handler existed

    def _on_pidfd(self, pidfd: _Pidfd, events: int) -> None:
        self.io_loop.remove_handler(pidfd)
        pidfd.close()
        self._pidfd = None
        self._check()

    @classmethod
    def _on_sigchld(cls, signum: int, frame: FrameType | None) -> None:
        if (loop := cls._signal_loop) is not None:
            loop.add_callback_from_signal(cls._check_waiting)

    @classmethod
    def _check_waiting(cls) -> None:
        for child in list(cls._waiting.values()):
            child.io_loop.add_callback(child._check)

    def _check(self) -> None:
        """Reap the child if it exited (a SIGCHLD may be for another child), then report."""
        if self.returncode is None:
            status = self.proc.poll()
            if status is None:
                if self._pidfd is None and not pidfd_supported():
                    return  # still running: the next SIGCHLD asks again
                status = self.proc.wait()  # pidfd readable (or already reaped): it has exited
            self.returncode = status
        Subprocess._waiting.pop(self.pid, None)
        self._watching = False
        self._report()

    def _report(self) -> None:
        status = self.returncode
        if status is None:
            return
        futures, self._exit_futures = self._exit_futures, []
        for future, raise_error in futures:
            if future.done():  # cancelled by its waiter
                continue
            if raise_error and status != 0:
                future.set_exception(CalledProcessError(status, self.proc.args))
            else:
                future.set_result(status)
        callback, self._exit_callback = self._exit_callback, None
        if callback is not None:
            callback(status)


def _forget_after_fork() -> None:
    """A forked child does not own its parent's children or SIGCHLD handler registrations."""
    Subprocess._waiting.clear()
    Subprocess._signal_loop = None
    Subprocess._initialized = False
    Subprocess._old_sigchld = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
