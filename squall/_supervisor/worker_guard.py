"""The child side of ``fork_processes``: drain on SIGTERM/SIGINT, and leave when the parent dies.

``install()`` runs in each forked child, before any user code:

- SIGTERM and SIGINT get a handler. The first one asks every *running* event loop of the process
  (the loops of the servers given to :func:`register_drain`, plus the loop running on the main
  thread) to await each registered drain (``drain(timeout) -> bool``: stop accepting, finish the
  requests in flight) and then stop: a loop run by ``IOLoop.start()`` is stopped, so ``start()``
  returns and the program goes on (and ends with status 0); any other (``asyncio.run(main())``,
  ``run_until_complete``, ``IOLoop.run_sync``) gets ``SystemExit(0)`` raised on it, which
  cancels ``main()`` and ends the program with status 0 (stopping such a loop would make
  ``asyncio.run`` fail with "Event loop stopped before Future completed"). With no loop
  running, the handler raises ``SystemExit(0)`` at once. Later signals are
  ignored (SIG_IGN once the drain is over, so a late one cannot kill the exiting process): the
  parent escalates to SIGKILL on a second signal.
- A daemon thread reads the parent-death pipe; EOF means the parent is gone (even by SIGKILL), and
  the thread sends SIGTERM to the main thread. On Linux ``fork`` also sets ``PR_SET_PDEATHSIG``.

``register_drain`` is how servers join in: ``HTTPServer.add_sockets`` registers its ``drain``
with its loop. Bound methods are held weakly, so a registry entry never keeps a server alive.

Stdlib only, and no ``import asyncio``: the loops are used through their methods, and the running
loop is looked up only if asyncio was imported (if it was not, no loop can be running).
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from squall.log import gen_log

__all__ = ["Drain", "EventLoop", "drain_all", "install", "register_drain", "stopping"]

#: A graceful drain: ``await drain(timeout)`` returns True if nothing had to be cut off.
Drain = Callable[[float], Awaitable[bool]]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class EventLoop(Protocol):
    """The few methods of an asyncio event loop this module uses."""

    def is_running(self) -> bool:
        """True while the loop runs."""

    def is_closed(self) -> bool:
        """True once the loop was closed."""

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> Any:
        """Schedule ``callback`` from any thread (or a signal handler)."""

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Wrap ``coro`` in a task on this loop."""

    def stop(self) -> None:
        """Make the running loop return."""


@dataclass
class _Entry:
    ref: Callable[[], Drain | None]
    loop: EventLoop

    def live(self) -> bool:
        return self.ref() is not None and not self.loop.is_closed()


@dataclass
class _State:
    drain_timeout: float = 24.0
    stopping: bool = False
    signum: int = 0
    entries: list[_Entry] = field(default_factory=list)
    tasks: set[Any] = field(default_factory=set)  # drain tasks, referenced until they finish


_state = _State()


def register_drain(drain: Drain, loop: EventLoop) -> None:
    """Await ``drain(timeout)`` on ``loop`` when this process is asked to stop.

    A bound method is held weakly (a dead server drops out); any other callable is held as is.
    Registering the same drain again changes nothing.
    """
    _state.entries = [entry for entry in _state.entries if entry.live()]
    if any(entry.ref() == drain for entry in _state.entries):
        return
    ref: Callable[[], Drain | None]
    if inspect.ismethod(drain):
        ref = weakref.WeakMethod(drain)
    else:
        ref = lambda: drain  # noqa: E731 - a strong "reference" with the weakref interface
    _state.entries.append(_Entry(ref, loop))


def stopping() -> bool:
    """True once this process received its stop signal (or lost its parent)."""
    return _state.stopping


async def drain_all(loop: EventLoop, timeout: float) -> bool:  # noqa: ASYNC109
    """Await every drain registered for ``loop``, concurrently; True if all were clean.

    A drain that raises is logged and counts as not clean.
    """
    drains = [d for e in _state.entries if e.loop is loop and e.live() and (d := e.ref())]

    async def run(drain: Drain) -> bool:
        return await drain(timeout)

    tasks = [loop.create_task(run(drain)) for drain in drains]
    clean = True
    for task in tasks:
        try:
            clean = bool(await task) and clean
        except Exception:
            gen_log.exception("Error while draining a server")
            clean = False
    return clean


def install(drain_timeout: float, parent_fd: int | None) -> None:
    """Set up a freshly forked child: stop-signal handlers and the parent-death watch.

    ``drain_timeout`` is what each drain gets; ``parent_fd`` is the read end of a pipe whose
    write end only the parent holds (None: no watch).
    """
    _state.drain_timeout = drain_timeout
    _state.stopping = False
    _state.entries = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop_signal)
    if parent_fd is None:
        return
    watcher = threading.Thread(
        target=_watch_parent, args=(parent_fd,), name="squall-parent-watch", daemon=True
    )
    # The watcher must never be the thread that receives a stop signal: the main thread has to be
    # interrupted for the handler to run. It inherits this mask.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        watcher.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _running_loops() -> list[EventLoop]:
    loops: list[EventLoop] = []
    for entry in _state.entries:
        if entry.live() and entry.loop.is_running() and entry.loop not in loops:
            loops.append(entry.loop)
    asyncio = sys.modules.get("asyncio")
    running = None if asyncio is None else asyncio._get_running_loop()
    if running is not None and running not in loops:
        loops.append(running)
    return loops


def _on_stop_signal(signum: int, frame: object) -> None:
    # Runs on the main thread between two bytecodes: no logging here, only scheduling.
    if _state.stopping:
        return
    _state.stopping = True
    _state.signum = signum
    loops = _running_loops()
    if not loops:
        _ignore_stop_signals()
        raise SystemExit(0)
    for loop in loops:
        loop.call_soon_threadsafe(functools.partial(_start_drain, loop))


def _start_drain(loop: EventLoop) -> None:
    forever = _run_by_ioloop_start()
    task = loop.create_task(_drain_and_stop(loop, forever))
    _state.tasks.add(task)
    task.add_done_callback(_forget)


def _forget(task: Any) -> None:
    _state.tasks.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: the SystemExit that ends asyncio.run is no loose end


def _run_by_ioloop_start() -> bool:
    """True when this code runs under ``IOLoop.start()`` (squall's ``ioloop.py``), whose
    ``run_forever`` may be stopped; found on the stack of the loop's thread."""
    frame = sys._getframe(1)
    suffix = os.path.join("squall", "ioloop.py")
    while frame is not None:
        code = frame.f_code
        if code.co_name == "start" and code.co_filename.endswith(suffix):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


async def _drain_and_stop(loop: EventLoop, forever: bool) -> None:
    try:
        name = signal.Signals(_state.signum).name
    except ValueError:
        name = str(_state.signum)
    gen_log.info(
        "%s received (pid %d): draining, up to %.1f s, then stopping",
        name,
        os.getpid(),
        _state.drain_timeout,
    )
    clean = await drain_all(loop, _state.drain_timeout)
    if not clean:
        gen_log.warning("Drain deadline passed (pid %d): open connections were closed", os.getpid())
    _ignore_stop_signals()
    if forever:
        loop.stop()
    else:
        raise SystemExit(0)  # out of asyncio.run(), which cancels main() and closes the loop


def _ignore_stop_signals() -> None:
    # Once the decision to exit is made, a late stop signal (the parent-death watch and
    # PR_SET_PDEATHSIG both send one) must not kill the process while it finalizes: the
    # interpreter puts back the default handlers at exit.
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def _watch_parent(fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass  # the parent never writes: only EOF (its death) ends the loop
    except OSError:
        return
    gen_log.warning("Parent process is gone (pid %d): stopping", os.getpid())
    main = threading.main_thread().ident
    if main is not None:
        signal.pthread_kill(main, signal.SIGTERM)
