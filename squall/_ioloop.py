"""The IOLoop: Tornado's event-loop API over an asyncio loop, with its asyncio implementations.

``squall.ioloop`` (``IOLoop``, ``PeriodicCallback``) and ``squall.platform.asyncio``
(``AsyncIOLoop``, ``AsyncIOMainLoop``, ``BaseAsyncIOLoop``) are the public names of what is
defined here, the same objects. They live in one module because the base builds them:
``IOLoop()`` makes the configured default (``AsyncIOLoop``), ``IOLoop.current()`` an
``AsyncIOMainLoop``. Below it: ``_yieldables`` (what ``run_sync`` accepts, converted as a
coroutine's yield is; this module gives it ``IOLoop.current()`` for futures made with no loop
running, see there), ``_selector_thread`` (for loops without ``add_reader``), ``_loop``.

Each asyncio loop has at most one ``IOLoop`` facade (``_facades``). ``IOLoop.current()`` is the
running loop's facade, else the one registered for this thread, else a new loop from
``squall._loop.new_event_loop()``. ``IOLoop.instance()`` keeps Tornado 4's meaning: the main
thread's loop, which other threads reach with ``add_callback``.

Rules:
1. Nothing at import, and no constructor but ``IOLoop()``, creates an event loop: the fork guard
   in ``process`` depends on it. ``PeriodicCallback`` finds its loop in ``start()``.
2. ``asyncio.get_event_loop()`` is never called: it creates a loop on 3.11 and warns on 3.12+.
3. Every callback runs through ``IOLoop._run_callback``: an ``Exception``, or the failure of an
   awaitable the callback returned, is logged on ``squall.application``; ``SystemExit`` and
   ``KeyboardInterrupt`` propagate.
4. Work asked for before any loop runs waits for the first loop to *run*, not for one to be
   created: ``_when_running`` hooks (``autoreload.start()``) and the loop-block detector's
   default (``Application(debug=True)``) are applied by the next ``start()``/``run_sync()``, so
   a later ``fork_processes`` is still allowed. Not by ``current()`` inside some running loop:
   that may be a private one (``HTTPClient``'s), not the one that will serve.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import functools
import inspect
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, ClassVar, Literal, ParamSpec, Protocol, TypeVar, overload

from squall import _loop, _stack_context
from squall._yieldables import convert_yielded, set_current_loop_finder
from squall.log import app_log, gen_log
from squall.util import Configurable

__all__ = ["AsyncIOLoop", "AsyncIOMainLoop", "BaseAsyncIOLoop", "IOLoop"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_FutureT = TypeVar("_FutureT", bound="asyncio.Future[Any] | concurrent.futures.Future[Any]")


class _Selectable(Protocol):
    def fileno(self) -> int: ...


class _ThreadState(threading.local):
    current: IOLoop | None = None


_lock = threading.RLock()  # guards _facades, _instance and _start_hooks
_facades: dict[asyncio.AbstractEventLoop, IOLoop] = {}
_instance: IOLoop | None = None
_main_running: IOLoop | None = None  # the loop running on the main thread, for other threads
_thread = _ThreadState()
_start_hooks: list[Callable[[IOLoop], object]] = []  # for the next loop to run (_when_running)

# The loop-block detector, imported lazily: a default asked for by an Application before any
# loop runs waits in its ``pending_threshold`` until a loop starts.
_BLOCKING = "squall._observe.blocking"
_SIGALRM = getattr(signal, "SIGALRM", 14)  # what Tornado's blocking action received


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _live_instance() -> IOLoop | None:
    return _instance if _instance is not None and _instance._alive() else None


def _set_instance(facade: IOLoop | None) -> None:
    global _instance
    _instance = facade


def _bind(callback: Callable[..., object], args: Any, kwargs: Any) -> Callable[[], object]:
    return functools.partial(callback, *args, **kwargs) if args or kwargs else callback


@contextlib.contextmanager
def _after(callback: Callable[[], object]) -> Iterator[None]:
    try:
        yield
    finally:
        callback()


def _lacks_add_reader(loop: asyncio.AbstractEventLoop) -> bool:
    """True for Windows' proactor loop, which cannot watch file descriptors itself."""
    proactor = getattr(asyncio, "ProactorEventLoop", None)
    return proactor is not None and isinstance(loop, proactor)


def _fileno(fd: int | _Selectable) -> int:
    return fd if isinstance(fd, int) else fd.fileno()


def _blocking(fileno: int) -> bool:
    """Whether ``fileno`` is in blocking mode; False when that cannot be told (not a file
    descriptor, or a platform without ``os.get_blocking``)."""
    get_blocking = getattr(os, "get_blocking", None)
    if get_blocking is None:
        return False
    try:
        return bool(get_blocking(fileno))
    except OSError:
        return False


def _start_pending() -> bool:
    """True when a hook or a blocking-detector default waits for a loop to run (cheap)."""
    if _start_hooks:
        return True
    blocking = sys.modules.get(_BLOCKING)
    return blocking is not None and blocking.pending_threshold is not None


def _when_running(hook: Callable[[IOLoop], object]) -> None:
    """Call ``hook(io_loop)`` from inside a running IOLoop, without creating a loop.

    With a loop running in this thread, on its next iteration; otherwise on the next IOLoop to
    ``start()`` or ``run_sync()``, in that loop's thread. This is how ``autoreload.start()``,
    called before any loop exists (and maybe before a fork), attaches later. Errors are logged
    as callback errors.
    """
    if asyncio._get_running_loop() is not None:
        io_loop = IOLoop.current()
        io_loop.add_callback(hook, io_loop)
        return
    with _lock:
        _start_hooks.append(hook)


class IOLoop(Configurable):
    """Tornado's IOLoop API over one asyncio event loop, ``asyncio_loop``.

    ``IOLoop()`` builds the configured implementation (``AsyncIOLoop`` unless
    ``IOLoop.configure`` chose another) over a new loop (uvloop when available, see
    ``squall._loop``), or over ``asyncio_loop=`` when given (one IOLoop per asyncio loop: a
    second raises RuntimeError). With ``make_current=True`` it becomes this thread's current
    loop. ``close()`` closes the asyncio loop too. From other threads call only
    ``add_callback``, ``add_callback_from_signal`` and ``stop``.
    """

    NONE = 0
    READ = 0x001
    WRITE = 0x004
    ERROR = 0x018  # asyncio reports error conditions as readable/writable; not watched apart

    #: Every live IOLoop by its asyncio loop (Tornado's name for the registry).
    _ioloop_for_asyncio: ClassVar[dict[asyncio.AbstractEventLoop, IOLoop]] = _facades

    asyncio_loop: asyncio.AbstractEventLoop
    #: The loop that watches file descriptors: ``asyncio_loop``, or on Windows' proactor loop
    #: (which has no ``add_reader``) a wrapper that runs ``select`` on a helper thread.
    selector_loop: asyncio.AbstractEventLoop

    def __init__(
        self, make_current: bool = True, asyncio_loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        # Construction happens in initialize(), called by Configurable.__new__; this signature
        # is the one the constructor accepts.
        pass

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """The configurable family's base: ``IOLoop``."""
        return IOLoop

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """What ``IOLoop()`` builds by default: ``squall.platform.asyncio.AsyncIOLoop``."""
        return AsyncIOLoop

    def initialize(
        self, make_current: bool = True, asyncio_loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Set the IOLoop up over ``asyncio_loop``, or over a new loop when it is None.

        Raises RuntimeError if another open IOLoop already wraps ``asyncio_loop``.
        """
        self._setup(_loop.new_event_loop() if asyncio_loop is None else asyncio_loop, True)
        if make_current:
            self.make_current()

    def _setup(self, loop: asyncio.AbstractEventLoop, owns_loop: bool) -> None:
        with _lock:
            if (other := _facades.get(loop)) is not None and other._alive():
                raise RuntimeError(
                    f"{other!r} already wraps asyncio loop {loop!r}; "
                    "use IOLoop.current() (or close that IOLoop) instead of a second IOLoop"
                )
            for stale in [other for other in _facades if other.is_closed()]:
                del _facades[stale]
            _facades[loop] = self
        self.asyncio_loop = loop
        self.selector_loop = loop
        self._close_selector: Callable[[], None] | None = None
        if _lacks_add_reader(loop):
            # Imported here, a leaf needed only on Windows' proactor loop (it imports socket).
            from squall._selector_thread import AddThreadSelectorEventLoop

            wrapper = AddThreadSelectorEventLoop(loop)  # type: ignore[abstract]  # delegates
            self.selector_loop, self._close_selector = wrapper, wrapper.close_selector
        self._owns_loop = owns_loop
        self._closed = False
        self._handlers: dict[int, tuple[int | _Selectable, Callable[[Any, int], object]]] = {}
        self._pending: set[asyncio.Future[Any]] = set()  # awaitables returned by callbacks
        self._executor: concurrent.futures.Executor | None = None
        self._executor_is_ours = False
        self._blocking_signal_action: Callable[[int, FrameType | None], object] | None = None

    @staticmethod
    def _for_asyncio_loop(loop: asyncio.AbstractEventLoop) -> IOLoop:
        with _lock:
            facade = _facades.get(loop)
            if facade is None:  # a loop squall did not create, e.g. asyncio.run()'s
                facade = object.__new__(AsyncIOMainLoop)
                facade._setup(loop, owns_loop=False)
                _loop.note_loop_created()
            return facade

    def _alive(self) -> bool:
        return not self._closed and not self.asyncio_loop.is_closed()

    # ---- finding loops ------------------------------------------------------------------------

    @overload
    @staticmethod
    def current() -> IOLoop: ...
    @overload
    @staticmethod
    def current(instance: Literal[True]) -> IOLoop: ...
    @overload
    @staticmethod
    def current(instance: bool) -> IOLoop | None: ...
    @staticmethod
    def current(instance: bool = True) -> IOLoop | None:
        """Return the running loop's IOLoop, else this thread's, else a new one (or None).

        On the main thread a live ``instance()`` is the thread's loop; a loop set with
        ``asyncio.set_event_loop()`` is adopted. With none found, ``instance=True`` creates a
        loop registered for this thread; ``instance=False`` gives None.
        """
        if (running := asyncio._get_running_loop()) is not None:
            return IOLoop._for_asyncio_loop(running)
        if (facade := _thread.current) is not None and facade._alive():
            return facade
        _thread.current = None
        if _on_main_thread() and (main := _live_instance()) is not None:
            main.make_current()
            return main
        if (loop := _loop.thread_loop()) is not None:  # set with asyncio.set_event_loop()
            facade = IOLoop._for_asyncio_loop(loop)
            facade.make_current()
            return facade
        if not instance:
            return None
        return AsyncIOMainLoop(make_current=True)

    @staticmethod
    def instance() -> IOLoop:
        """Return the process's main loop, creating it if needed (Tornado 4's meaning).

        That is the loop running on the main thread, else the first one created (or
        ``install()``-ed) there. Other threads get the same object, to ``add_callback`` to it;
        called first from another thread, it creates the loop the main thread will then find.
        """
        with _lock:
            main = _live_instance()
            if _on_main_thread() and (running := asyncio._get_running_loop()) is not None:
                main = IOLoop._for_asyncio_loop(running)
            elif (busy := _main_running) is not None and busy._alive():
                main = busy
            elif main is None:
                main = IOLoop.current() if _on_main_thread() else IOLoop(make_current=False)
            _set_instance(main)
            return main

    @staticmethod
    def initialized() -> bool:
        """Return True if a live ``instance()`` exists."""
        return _live_instance() is not None

    def install(self) -> None:
        """Make this loop the process's ``instance()``, replacing any earlier one."""
        with _lock:
            _set_instance(self)

    @staticmethod
    def clear_instance() -> None:
        """Forget ``instance()`` without closing it; the next call finds or creates another."""
        with _lock:
            if _thread.current is _instance:
                IOLoop.clear_current()
            _set_instance(None)

    def make_current(self) -> None:
        """Register this loop as the thread's ``current()`` and asyncio event loop.

        On the main thread it also becomes the ``instance()`` if there is none yet.
        """
        _thread.current = self
        _loop.set_thread_loop(self.asyncio_loop)
        if _on_main_thread():
            with _lock:
                if _live_instance() is None:
                    _set_instance(self)

    @staticmethod
    def clear_current() -> None:
        """Forget the calling thread's registered (and asyncio) loop, without closing it."""
        if _thread.current is not None and _loop.thread_loop() is _thread.current.asyncio_loop:
            _loop.set_thread_loop(None)
        _thread.current = None

    # ---- running ------------------------------------------------------------------------------

    def _before_run(self) -> None:
        if not self._alive():
            raise RuntimeError("Cannot start a closed IOLoop; create a new one with IOLoop()")
        if self.asyncio_loop.is_running():
            raise RuntimeError("IOLoop is already running; stop() it before starting it again")
        if _on_main_thread():
            global _main_running
            with _lock:
                _main_running = self
        if _start_pending():
            self._run_start_hooks()

    def _after_run(self) -> None:
        global _main_running
        with _lock:
            if _main_running is self:
                _main_running = None

    def _run_start_hooks(self) -> None:
        blocking = sys.modules.get(_BLOCKING)
        if blocking is not None and (seconds := blocking.take_pending()) is not None:
            blocking.configure(self.asyncio_loop, seconds, explicit=False)
        with _lock:
            hooks = list(_start_hooks)
            _start_hooks.clear()
        for hook in hooks:  # queued first: they run before anything else on this loop
            self.asyncio_loop.call_soon(self._run_callback, functools.partial(hook, self))

    def start(self) -> None:
        """Run the loop until ``stop()``; raises RuntimeError if running already or closed.

        While running it is the thread's asyncio event loop (and so ``current()``), and on the
        main thread what ``instance()`` gives other threads. Afterwards the thread's current
        loop is what it was before.
        """
        self._before_run()
        try:
            with _loop.running(self.asyncio_loop):
                self.asyncio_loop.run_forever()
        finally:
            self._after_run()

    def stop(self) -> None:
        """Make ``start()`` return after the current iteration; safe from other threads.

        Called before ``start()``, the next ``start()`` returns almost at once.
        """
        loop = self.asyncio_loop
        if asyncio._get_running_loop() is loop:
            loop.stop()
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # closed: nothing left to stop
            pass

    @overload
    def run_sync(self, func: Callable[[], Awaitable[_T]], timeout: float | None = None) -> _T: ...
    @overload
    def run_sync(
        self, func: Callable[[], concurrent.futures.Future[_T]], timeout: float | None = None
    ) -> _T: ...
    @overload
    def run_sync(self, func: Callable[[], _T], timeout: float | None = None) -> _T: ...
    def run_sync(self, func: Callable[[], Any], timeout: float | None = None) -> Any:
        """Run the loop until ``func()``'s result resolves, and return it.

        ``func`` may return None, or anything a coroutine may yield: a coroutine, an asyncio or
        concurrent.futures Future, a list or dict of them. Anything else raises
        ``gen.BadYieldError`` (a TypeError), as in Tornado. An exception of the work is
        re-raised here. After ``timeout`` seconds the work is cancelled and TimeoutError raised.
        Raises RuntimeError if the loop is already running, or if ``stop()`` ends it first.
        """

        async def call() -> Any:
            result = func()
            if result is None:
                return None
            if inspect.iscoroutine(result):  # awaited in this task: no second task to abandon
                return await result
            return await convert_yielded(result)

        def on_timeout() -> None:
            timed_out.append(True)
            task.cancel()

        self._before_run()
        timed_out: list[bool] = []
        with _loop.running(self.asyncio_loop), _after(self._after_run):
            task = self.asyncio_loop.create_task(call())
            timer = None if timeout is None else self.asyncio_loop.call_later(timeout, on_timeout)
            try:
                return self.asyncio_loop.run_until_complete(task)
            except asyncio.CancelledError:
                if timed_out:
                    raise TimeoutError(f"Operation timed out after {timeout} seconds") from None
                raise
            finally:
                if timer is not None:
                    timer.cancel()
                if not task.done():
                    # stop() ended the loop first ("Event loop stopped before Future
                    # completed."): the work is abandoned. Cancel it, so that it unwinds if the
                    # loop runs again, and keep its collection from logging "Task was destroyed
                    # but it is pending" into whatever runs then.
                    task.cancel()
                    task._log_destroy_pending = False  # type: ignore[attr-defined]  # asyncio's

    def close(self, all_fds: bool = False) -> None:
        """Close the loop; a second call does nothing. Raises RuntimeError while running.

        Removes the fd handlers (closing the fds or objects too when ``all_fds``), shuts down
        the default executor it created, drops its registrations, and closes the asyncio loop,
        unless ``current()`` made this IOLoop for a loop someone else runs (``asyncio.run``'s).
        """
        if self._closed:
            return
        if self.asyncio_loop.is_running():
            raise RuntimeError("Cannot close a running IOLoop; stop() it and close it afterwards")
        for fd, (fileobj, _) in list(self._handlers.items()):
            self.remove_handler(fd)
            try:
                if all_fds and isinstance(fileobj, int):
                    os.close(fileobj)
                elif all_fds and callable(close := getattr(fileobj, "close", None)):
                    close()
            except OSError:
                pass
        self._closed = True
        if (blocking := sys.modules.get(_BLOCKING)) is not None:
            blocking.stop(self.asyncio_loop)
        with _lock:
            if _facades.get(self.asyncio_loop) is self:
                del _facades[self.asyncio_loop]
            if _instance is self:
                _set_instance(None)
        if _thread.current is self:
            IOLoop.clear_current()
        if self._owns_loop and _loop.thread_loop() is self.asyncio_loop:
            _loop.set_thread_loop(None)
        if self._executor is not None and self._executor_is_ours:
            self._executor.shutdown(wait=False)
        if self._close_selector is not None:
            self._close_selector()
        if self._owns_loop:
            self.asyncio_loop.close()

    # ---- callbacks and timeouts ---------------------------------------------------------------

    def time(self) -> float:
        """Return the time on this loop's clock, which is ``time.time()``."""
        return time.time()

    def add_callback(
        self, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs
    ) -> None:
        """Call ``callback(*args, **kwargs)`` on the next iteration; safe from any thread.

        Dropped silently once the loop is closed.
        """
        loop, call = self.asyncio_loop, _bind(callback, args, kwargs)
        try:
            if asyncio._get_running_loop() is loop:
                loop.call_soon(self._run_callback, call)
            else:
                loop.call_soon_threadsafe(self._run_callback, call)
        except RuntimeError:  # the loop is closed
            pass

    def add_callback_from_signal(
        self, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs
    ) -> None:
        """Like ``add_callback``, for use inside a signal handler."""
        try:
            self.asyncio_loop.call_soon_threadsafe(
                self._run_callback, _bind(callback, args, kwargs)
            )
        except RuntimeError:  # the loop is closed
            pass

    def spawn_callback(
        self, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs
    ) -> None:
        """Call ``callback`` on the next iteration, detached from the caller's context."""
        self.add_callback(callback, *args, **kwargs)

    def call_later(
        self, delay: float, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs
    ) -> asyncio.TimerHandle:
        """Call ``callback`` after ``delay`` seconds; returns a handle for ``remove_timeout``."""
        call = _bind(callback, args, kwargs)
        return self.asyncio_loop.call_later(max(delay, 0.0), self._run_callback, call)

    def call_at(
        self, when: float, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs
    ) -> asyncio.TimerHandle:
        """Call ``callback`` at ``when`` on ``IOLoop.time()``; returns a timeout handle."""
        return self.call_later(when - self.time(), callback, *args, **kwargs)

    def add_timeout(
        self,
        deadline: float | datetime.timedelta,
        callback: Callable[_P, object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> asyncio.TimerHandle:
        """Call ``callback`` at ``deadline``; returns an opaque handle for ``remove_timeout``.

        A number is an absolute time on ``IOLoop.time()`` (``time.time() + 5``), a
        ``datetime.timedelta`` a delay from now. Scheduled on the loop's monotonic clock.
        """
        if isinstance(deadline, datetime.timedelta):
            return self.call_later(deadline.total_seconds(), callback, *args, **kwargs)
        if isinstance(deadline, int | float):
            return self.call_at(deadline, callback, *args, **kwargs)
        raise TypeError(
            f"Unsupported deadline {deadline!r}: pass a number on IOLoop.time() (time.time()) "
            "or a datetime.timedelta"
        )

    def remove_timeout(self, timeout: asyncio.TimerHandle) -> None:
        """Cancel a timeout; safe after it has fired, and safe to call twice."""
        timeout.cancel()

    def _run_callback(self, callback: Callable[[], object]) -> None:
        try:
            result = callback()
            if isinstance(result, concurrent.futures.Future):
                result = asyncio.wrap_future(result, loop=self.asyncio_loop)
            if inspect.isawaitable(result):
                self._watch_awaitable(result, functools.partial(self._awaited_done, callback))
        except Exception as exc:
            # A legacy stack context (gen.Task, @asynchronous) may claim it before we log it.
            if _stack_context.route_exception(exc):
                return
            self.handle_callback_exception(callback)

    def _watch_awaitable(self, result: Awaitable[Any], done: Callable[[Any], object]) -> None:
        future = asyncio.ensure_future(result, loop=self.asyncio_loop)
        self._pending.add(future)  # a strong reference until it finishes
        future.add_done_callback(done)

    def _awaited_done(self, callback: Callable[..., object], future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        try:
            if not future.cancelled():
                future.result()
        except Exception:
            self.handle_callback_exception(callback)

    def handle_callback_exception(self, callback: Callable[..., object]) -> None:
        """Log the exception being handled, raised by ``callback``, on ``squall.application``.

        Called from inside the ``except`` block; override it to report errors elsewhere.
        """
        app_log.error("Exception in callback %r", callback, exc_info=True)

    # ---- futures and executors ----------------------------------------------------------------

    def add_future(self, future: _FutureT, callback: Callable[[_FutureT], object]) -> None:
        """Call ``callback(future)`` on this loop once ``future`` (asyncio or concurrent) is done.

        A concurrent.futures future finishing in another thread is handed over by
        ``add_callback``. Anything else raises TypeError.
        """
        if isinstance(future, asyncio.Future):
            call = functools.partial(callback, future)
            future.add_done_callback(lambda _: self._run_callback(call))
        elif isinstance(future, concurrent.futures.Future):
            future.add_done_callback(lambda _: self.add_callback(callback, future))
        else:
            raise TypeError(f"add_future() needs a Future, got {type(future).__name__}")

    def run_in_executor(
        self, executor: concurrent.futures.Executor | None, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` and return an asyncio future of its result.

        ``None`` means the default: the one from ``set_default_executor``, else a pool of
        ``cpu_count() * 5`` threads made on first use and shut down by ``close()``.
        """
        if executor is None:
            if self._executor is None:
                workers = (os.cpu_count() or 1) * 5
                self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
                self._executor_is_ours = True
            executor = self._executor
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Use ``executor`` for ``run_in_executor(None, ...)``; the caller still owns it."""
        if self._executor is not None and self._executor_is_ours:
            self._executor.shutdown(wait=False)
        self._executor, self._executor_is_ours = executor, False

    # ---- file descriptors ---------------------------------------------------------------------

    def add_handler(
        self, fd: int | _Selectable, handler: Callable[[Any, int], object], events: int
    ) -> None:
        """Call ``handler(fd, event)`` when ``fd`` (an int or has fileno()) is ready.

        ``events`` combines READ and WRITE. Raises ValueError if ``fd`` has a handler already.
        The descriptor stays in the blocking mode it was in (under uvloop too).
        """
        if (fileno := _fileno(fd)) in self._handlers:
            raise ValueError(f"fd {fileno} already has a handler; use update_handler()")
        self._handlers[fileno] = (fd, handler)
        try:
            self.update_handler(fileno, events)
        except BaseException:
            self.remove_handler(fileno)
            raise

    def update_handler(self, fd: int | _Selectable, events: int) -> None:
        """Change the events watched on ``fd``; raises KeyError if it has no handler.

        The descriptor's blocking mode is the caller's and stays as it was: uvloop makes a
        descriptor non-blocking when it starts watching it (asyncio's own loop does not), which
        breaks code that writes to its blocking pty or pipe; it is set back at once."""
        if (fileno := _fileno(fd)) not in self._handlers:
            raise KeyError(f"fd {fileno} has no handler; use add_handler() first")
        loop = self.selector_loop
        blocking = _blocking(fileno)
        for event, add, remove in (
            (self.READ, loop.add_reader, loop.remove_reader),
            (self.WRITE, loop.add_writer, loop.remove_writer),
        ):
            if events & event:
                add(fileno, self._fd_ready, fileno, event)
            else:
                remove(fileno)
        if blocking and not _blocking(fileno):
            os.set_blocking(fileno, True)

    def remove_handler(self, fd: int | _Selectable) -> None:
        """Stop watching ``fd``; does nothing if it has no handler."""
        if self._handlers.pop(fileno := _fileno(fd), None) is not None:
            self.selector_loop.remove_reader(fileno)
            self.selector_loop.remove_writer(fileno)

    def _fd_ready(self, fileno: int, event: int) -> None:
        if (entry := self._handlers.get(fileno)) is not None:
            self._run_callback(functools.partial(entry[1], entry[0], event))

    # ---- the loop-block detector (Tornado 4's blocking thresholds) -----------------------------

    @property
    def blocking_log_threshold(self) -> float | None:
        """The loop-block threshold in seconds, None when blocks are not reported."""
        blocking = sys.modules.get(_BLOCKING)
        return None if blocking is None else blocking.threshold(self.asyncio_loop)

    def set_blocking_log_threshold(self, seconds: float | None) -> None:
        """Log a WARNING on ``squall.general`` when the loop is blocked over ``seconds``.

        A watchdog thread notices that a heartbeat timer on this loop is late and logs, once per
        blocked episode, the handler and request it is stuck in (``SleepHandler.get (GET /s)``)
        with the loop thread's stack, so the log points at the blocking line. None or 0 turns it
        off; ``close()`` stops it. Set explicitly, it overrides the default that
        ``Application(debug=True)`` (0.1 s) or the ``blocking_log_threshold`` setting asks for.
        A negative value raises ValueError.
        """
        self.set_blocking_signal_threshold(seconds, self.log_stack)

    def set_blocking_signal_threshold(
        self, seconds: float | None, action: Callable[[int, FrameType | None], object] | None
    ) -> None:
        """Like ``set_blocking_log_threshold``, calling ``action(signal.SIGALRM, frame)`` instead.

        ``action`` runs on the watchdog thread, with the blocked loop thread's frame; it cannot
        interrupt the blocking code as Tornado's SIGALRM did. None or ``self.log_stack`` (not
        overridden) means the built-in warning.
        """
        from squall._observe import blocking

        self._blocking_signal_action = action
        on_block = None
        if action is not None and not (
            action == self.log_stack and type(self).log_stack is IOLoop.log_stack
        ):
            on_block = functools.partial(self._blocking_action, action)
        blocking.configure(self.asyncio_loop, seconds, action=on_block)
        gen_log.debug("IOLoop blocking threshold set to %s seconds", seconds)

    def _blocking_action(
        self, action: Callable[[int, FrameType | None], object], frame: FrameType
    ) -> None:
        action(_SIGALRM, frame)

    def log_stack(self, signal: int, frame: FrameType | None) -> None:
        """Log the stack of a loop blocked longer than ``blocking_log_threshold``."""
        stack = "".join(traceback.format_stack(frame))
        gen_log.warning("IOLoop blocked for %s seconds in\n%s", self.blocking_log_threshold, stack)


def _reset_for_tests() -> None:
    """Close every IOLoop that is not running and forget all registrations (test teardown)."""
    with _lock:
        facades = list(_facades.values())
    for facade in facades:
        if not facade.asyncio_loop.is_running():
            facade.close()
    with _lock:
        _facades.clear()
        _set_instance(None)
        _start_hooks.clear()
    if (blocking := sys.modules.get(_BLOCKING)) is not None:
        blocking.take_pending()
    IOLoop.clear_current()


class BaseAsyncIOLoop(IOLoop):
    """An IOLoop over a given asyncio loop: ``initialize(asyncio_loop, make_current=...)``."""

    def initialize(  # type: ignore[override]  # the asyncio loop is required here
        self, asyncio_loop: asyncio.AbstractEventLoop, make_current: bool = True, **kwargs: Any
    ) -> None:
        """Wrap ``asyncio_loop`` (closed with this IOLoop); see ``IOLoop.initialize``."""
        super().initialize(make_current=make_current, asyncio_loop=asyncio_loop, **kwargs)


class AsyncIOMainLoop(BaseAsyncIOLoop):
    """An IOLoop over the calling thread's asyncio loop: the running one, else the one set with
    ``asyncio.set_event_loop()``, else a new one that becomes the thread's loop.

    ``IOLoop.current()`` builds one when the thread has no IOLoop yet. Raises RuntimeError if
    that asyncio loop already has an IOLoop (``IOLoop.current()`` returns it). Closing it
    closes the asyncio loop.
    """

    def initialize(self, make_current: bool = True, **kwargs: Any) -> None:  # type: ignore[override]
        """Wrap the thread's asyncio loop (see the class docstring)."""
        loop = asyncio._get_running_loop() or _loop.thread_loop() or _loop.new_event_loop()
        super().initialize(loop, make_current=make_current, **kwargs)


class AsyncIOLoop(BaseAsyncIOLoop):
    """An IOLoop over a new asyncio loop (or ``asyncio_loop=``): what ``IOLoop()`` builds.

    The loop is the kind ``SQUALL_LOOP`` selects (uvloop when available). With
    ``make_current=True`` (the default) it is also made the thread's asyncio event loop.
    """

    def initialize(  # type: ignore[override]  # asyncio_loop is optional here
        self,
        make_current: bool = True,
        asyncio_loop: asyncio.AbstractEventLoop | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the loop (unless one is given) and wrap it."""
        loop = _loop.new_event_loop() if asyncio_loop is None else asyncio_loop
        super().initialize(loop, make_current=make_current, **kwargs)


def _current_asyncio_loop() -> asyncio.AbstractEventLoop:
    return IOLoop.current().asyncio_loop


set_current_loop_finder(_current_asyncio_loop)
