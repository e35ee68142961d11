"""The loop-block detector: a watchdog thread that reports an event loop which stopped turning.

How this works
--------------
1. A heartbeat timer on the loop (every ``threshold / 2`` seconds) stores ``time.monotonic()``
   and the id of the thread running the loop.
2. A daemon thread wakes every ``threshold / 4`` seconds. When the loop is running and its last
   heartbeat is older than ``threshold``, it takes the loop thread's current frame
   (``sys._current_frames()``). A loop idle in its selector only looks stale (the OS did not
   schedule it in time): nothing is reported then.
3. Otherwise it walks the stack for the request handler, recognised by shape (a ``self`` with a
   ``request`` whose ``method`` and ``uri`` are strings, and a class with ``get``), and logs ONE
   WARNING on ``squall.general`` for the episode::

       Event loop blocked for 0.11 s so far in SleepHandler.get (GET /s)
       Stack of the event loop thread (most recent call last):
         ...
           time.sleep(5)

   When the loop turns again an INFO line gives the episode's length.

Rules: nothing starts at import; detection that is off costs nothing, and on it is one timer on
the loop and one sleeping thread (no per-request work). Standard library and ``squall.log``
only: the handler is duck-typed, never imported. ``configure`` is the per-loop switch
(``IOLoop.set_blocking_log_threshold``); ``request`` is the application's default (``debug=True``),
applied to the loop running now or, through ``take_pending``, to the next one to start.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import sys
import threading
import time
import traceback
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from squall.log import app_log, gen_log

__all__ = [
    "DEFAULT_THRESHOLD",
    "BlockAction",
    "LoopBlockDetector",
    "configure",
    "describe",
    "pending_threshold",
    "request",
    "stop",
    "take_pending",
    "threshold",
]

BlockAction = Callable[[types.FrameType], object]
"""Called on the watchdog thread with the blocked loop thread's frame, instead of the warning."""

DEFAULT_THRESHOLD = 0.1  # seconds; what ``debug=True`` asks for

# Frames in these files are the event loop's own machinery (uvloop's is C and has none).
_MACHINERY = (os.path.dirname(asyncio.__file__) + os.sep, selectors.__file__)

_lock = threading.Lock()
_detectors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopBlockDetector] = (
    weakref.WeakKeyDictionary()
)
_explicit: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float | None] = (
    weakref.WeakKeyDictionary()
)

pending_threshold: float | None = None
"""The application's default, waiting for a loop to start (read it, change it with ``request``)."""


def _is_machinery(frame: types.FrameType) -> bool:
    return frame.f_code.co_filename.startswith(_MACHINERY)


def _plain_attr(obj: object, name: str) -> object:
    """``obj.name`` from the instance dict or a slot, without running properties or
    ``__getattr__`` (this runs on the watchdog thread, next to someone else's code).

    A compiled class (``squall._compiled``) keeps its attributes in C slots exposed as
    getset descriptors, which read the slot and run no Python code."""
    namespace = getattr(obj, "__dict__", None)
    if isinstance(namespace, dict) and name in namespace:
        return namespace[name]
    for klass in type(obj).__mro__:
        slot = klass.__dict__.get(name)
        if isinstance(slot, types.MemberDescriptorType | types.GetSetDescriptorType):
            try:
                return slot.__get__(obj, type(obj))
            except AttributeError:  # an empty slot
                return None
        if slot is not None:
            return None
    return None


@dataclass(slots=True)
class _Episode:
    last_beat: float  # the last heartbeat before the loop stopped turning
    where: str  # "SleepHandler.get (GET /s)"


class LoopBlockDetector:
    """Watch ``loop`` and report each time it does not turn for more than ``threshold`` seconds.

    ``start()`` schedules the heartbeat (thread-safe) and starts the daemon watchdog thread;
    ``stop()`` ends both and may be called from any thread, twice, or after the loop closed. The
    watchdog also ends by itself when the loop is closed. ``threshold`` and ``action`` may be
    changed while it runs. With ``action`` set, it is called (on the watchdog thread, with the
    loop thread's frame) instead of logging the warning; its exceptions are logged.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threshold: float,
        action: BlockAction | None = None,
    ) -> None:
        if not threshold > 0:
            raise ValueError(f"threshold must be a positive number of seconds, not {threshold!r}")
        self.loop = loop
        self.threshold = threshold
        self.action = action
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="squall-loop-watchdog", daemon=True
        )
        self._timer: asyncio.TimerHandle | None = None
        self._last_beat = time.monotonic()
        self._max_gap = 0.0  # the longest time between two heartbeats since the last report
        self._loop_thread: int | None = None
        self._runner: types.CodeType | None = None  # the code that called run_forever()

    def start(self) -> None:
        """Start the heartbeat and the watchdog thread; raises RuntimeError if the loop closed."""
        running = asyncio._get_running_loop()
        if running is self.loop or (running is None and not self.loop.is_running()):
            # Started from the thread that runs (or is about to run) the loop: know it now. A
            # request already queued may block the loop before the first heartbeat gets to run.
            self._loop_thread = threading.get_ident()
        self.loop.call_soon_threadsafe(self._beat)
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat and the watchdog thread (waits up to 1 s for the thread)."""
        self._stopped.set()
        timer, self._timer = self._timer, None
        # Timer handles are not thread-safe (uvloop's least of all): cancel only from the loop's
        # thread or while it is not running; otherwise the next beat sees _stopped and ends.
        loop = self.loop
        on_loop = asyncio._get_running_loop() is loop
        if timer is not None and not loop.is_closed() and (on_loop or not loop.is_running()):
            timer.cancel()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def is_running(self) -> bool:
        """Return True while the watchdog thread is alive."""
        return self._thread.is_alive()

    # -- the loop side ---------------------------------------------------------------------------

    def _beat(self) -> None:
        if self._stopped.is_set():
            return
        now = time.monotonic()
        self._max_gap = max(self._max_gap, now - self._last_beat)
        self._last_beat = now
        self._loop_thread = threading.get_ident()
        caller: types.FrameType | None = sys._getframe(1)
        while caller is not None and _is_machinery(caller):
            caller = caller.f_back
        self._runner = caller.f_code if caller is not None else None
        self._timer = self.loop.call_later(self.threshold / 2, self._beat)

    # -- the watchdog thread ---------------------------------------------------------------------

    def _watch(self) -> None:
        quiet_since = time.monotonic()  # the last moment the loop was seen not running
        episode: _Episode | None = None
        while not self._stopped.wait(self.threshold / 4):
            loop = self.loop
            if loop.is_closed():
                break
            now = time.monotonic()
            if not loop.is_running():
                quiet_since = now
                if episode is not None:
                    self._episode_over(episode, self._max_gap or now - episode.last_beat)
                    episode = None
                continue
            stalled = now - max(self._last_beat, quiet_since)
            if stalled <= self.threshold:
                if episode is not None:
                    self._episode_over(episode, self._max_gap or now - episode.last_beat)
                    episode = None
            elif episode is None:
                episode = self._inspect(stalled)
            else:
                episode = self._follow(episode, stalled)
        with _lock:
            if _detectors.get(self.loop) is self:
                del _detectors[self.loop]

    def _inspect(self, stalled: float) -> _Episode | None:
        if self._loop_thread is None:
            return None
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None or _is_machinery(frame) or frame.f_code is self._runner:
            return None  # idle in the selector: late, not blocked
        last_beat = self._last_beat
        where = describe(frame)
        self._max_gap = 0.0
        self._report(frame, stalled, where)
        return _Episode(last_beat, where)

    def _follow(self, episode: _Episode, stalled: float) -> _Episode:
        """The loop is still blocked: if a request handler now holds it (the stall began in
        something else, say start-up work, and ran straight into a handler), report that too.
        Only a handler is reported again, so one long episode cannot flood the log."""
        frame = sys._current_frames().get(self._loop_thread or 0)
        if frame is None or _is_machinery(frame) or frame.f_code is self._runner:
            return episode
        where = describe(frame)
        if where == episode.where or not where.endswith(")"):
            return episode
        self._report(frame, stalled, where)
        return _Episode(episode.last_beat, where)

    def _report(self, frame: types.FrameType, stalled: float, where: str) -> None:
        action = self.action
        if action is None:
            stack = "".join(traceback.format_stack(frame)).rstrip("\n")
            gen_log.warning(
                "Event loop blocked for %.2f s so far in %s\n"
                "Stack of the event loop thread (most recent call last):\n%s",
                stalled,
                where,
                stack,
            )
        else:
            try:
                action(frame)
            except Exception:
                app_log.error("Exception in blocking action %r", action, exc_info=True)

    def _episode_over(self, episode: _Episode, duration: float) -> None:
        gen_log.info("Event loop unblocked after %.2f s in %s", duration, episode.where)


def describe(frame: types.FrameType) -> str:
    """Name what ``frame``'s thread is doing: ``"SleepHandler.get (GET /s)"`` when a request
    handler is on the stack (the innermost one), else the innermost function's qualified name."""
    walk: types.FrameType | None = frame
    while walk is not None:
        code = walk.f_code
        if code.co_argcount and code.co_varnames[0] == "self":
            handler = walk.f_locals.get("self")
            request = _plain_attr(handler, "request")
            method, uri = _plain_attr(request, "method"), _plain_attr(request, "uri")
            if isinstance(method, str) and isinstance(uri, str) and hasattr(type(handler), "get"):
                return f"{type(handler).__name__}.{code.co_name} ({method} {uri})"
        walk = walk.f_back
    return frame.f_code.co_qualname


# -- the per-loop registry ----------------------------------------------------------------------


def configure(
    loop: asyncio.AbstractEventLoop,
    seconds: float | None,
    *,
    action: BlockAction | None = None,
    explicit: bool = True,
) -> None:
    """Report blocks of ``loop`` longer than ``seconds``; None or 0 turns detection off.

    ``explicit=False`` is a default (from ``request``): it does nothing on a loop configured
    explicitly before, even if that turned detection off. A negative ``seconds`` raises
    ValueError, a closed loop RuntimeError. A running detector takes the new threshold and action.
    """
    if seconds and loop.is_closed():
        raise RuntimeError("Cannot watch a closed event loop for blocking; use a running one")
    if seconds is not None and seconds < 0:
        raise ValueError(
            f"The blocking threshold must be >= 0 seconds (0 or None turns it off), not {seconds}"
        )
    seconds = seconds or None
    started: LoopBlockDetector | None = None
    stopped: LoopBlockDetector | None = None
    with _lock:
        if not explicit and loop in _explicit:
            return
        if explicit:
            _explicit[loop] = seconds
        detector = _detectors.get(loop)
        if seconds is None:
            stopped = _detectors.pop(loop, None)
        elif detector is None:
            started = _detectors[loop] = LoopBlockDetector(loop, seconds, action)
        else:
            detector.threshold, detector.action = seconds, action
    if stopped is not None:
        stopped.stop()
    if started is not None:
        started.start()


def threshold(loop: asyncio.AbstractEventLoop) -> float | None:
    """Return the threshold ``loop`` is watched with, None when it is not watched."""
    with _lock:
        detector = _detectors.get(loop)
    return detector.threshold if detector is not None else None


def stop(loop: asyncio.AbstractEventLoop) -> None:
    """Stop watching ``loop`` and forget its settings (``IOLoop.close`` calls this)."""
    with _lock:
        detector = _detectors.pop(loop, None)
        _explicit.pop(loop, None)
    if detector is not None:
        detector.stop()


def request(seconds: float | None = DEFAULT_THRESHOLD) -> None:
    """Ask for detection by default (``Application(debug=True)``): on the loop running in this
    thread now, else on the next loop to start (see ``take_pending``). Creates no loop and no
    thread when no loop runs. None or 0 withdraws a pending request; explicit settings win."""
    global pending_threshold
    running = asyncio._get_running_loop()
    if running is not None:
        if seconds:
            configure(running, seconds, explicit=False)
    else:
        pending_threshold = seconds or None


def take_pending() -> float | None:
    """Return the pending default threshold and clear it (the IOLoop calls it when it starts)."""
    global pending_threshold
    seconds, pending_threshold = pending_threshold, None
    return seconds
