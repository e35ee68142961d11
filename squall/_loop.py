"""Event-loop construction, and the process-wide record of whether a loop exists.

Which loop ``new_event_loop()`` builds is chosen by the ``SQUALL_LOOP`` environment variable:

- ``auto`` (the default): uvloop's loop when uvloop can be imported, else asyncio's;
- ``uvloop``: uvloop's loop, and a clear error when it is not installed;
- ``asyncio``: the standard library's loop.

``asyncio.run(main())``, the way Tornado 6 documents to start a program, gets the same loop:
``install_run_policy()`` (called when squall is imported) puts in an event loop policy whose
loops for ``asyncio.run()`` and ``asyncio.Runner()`` (without a ``loop_factory``) come from
``new_event_loop()``; a loop asked for directly with ``asyncio.new_event_loop()`` stays
asyncio's own. It leaves alone a policy someone else installed (``uvloop.install()``, say),
and Python 3.14+, where policies are deprecated (pass ``loop_factory=squall._loop.new_event_loop``
to ``asyncio.run`` there).

The record exists for the multi-process code. A forked child that inherits an event loop shares
its selector and self-pipe with the parent, so ``process`` asks ``loop_was_created()`` and refuses
to fork once it is true; the child calls ``reset_after_fork()``. Rule: nothing here creates a loop
except ``new_event_loop()``, and importing this module imports neither uvloop nor a loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LOOP_ENV = "SQUALL_LOOP"
_RUNNERS = os.path.join("asyncio", "runners.py")
LOOP_CHOICES = ("auto", "uvloop", "asyncio")

_loop_created = False


def loop_choice() -> str:
    """Return the loop choice from ``SQUALL_LOOP``: "auto", "uvloop" or "asyncio".

    Unset or empty means "auto"; case and surrounding spaces are ignored. Any other value raises
    ValueError naming the accepted ones.
    """
    raw = os.environ.get(LOOP_ENV, "").strip().lower() or "auto"
    if raw not in LOOP_CHOICES:
        raise ValueError(
            f"{LOOP_ENV}={os.environ.get(LOOP_ENV)!r} is not a known event loop; "
            f"use one of {', '.join(LOOP_CHOICES)}"
        )
    return raw


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Create a new event loop of the kind ``SQUALL_LOOP`` selects, and record that it exists.

    The loop is neither set as the thread's asyncio loop nor started. With SQUALL_LOOP=uvloop and
    uvloop missing, raises RuntimeError saying how to fix it.
    """
    choice = loop_choice()
    loop: asyncio.AbstractEventLoop
    if choice == "asyncio":
        loop = asyncio.new_event_loop()
    else:
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise RuntimeError(
                    f"{LOOP_ENV}=uvloop but uvloop is not installed; "
                    f"`pip install uvloop` or set {LOOP_ENV}=asyncio"
                ) from None
            loop = asyncio.new_event_loop()
        else:
            loop = uvloop.new_event_loop()
    note_loop_created()
    return loop


class RunPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, except that ``asyncio.run()`` gets ``new_event_loop()``'s loop."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """``SQUALL_LOOP``'s loop for ``asyncio.run``/``asyncio.Runner``; else asyncio's."""
        try:
            # 0: here, 1: asyncio.events.new_event_loop, 2: whoever asked for a loop.
            caller = sys._getframe(2).f_code.co_filename
        except ValueError:
            caller = ""
        if caller.endswith(_RUNNERS):
            return new_event_loop()
        return super().new_event_loop()


def install_run_policy() -> bool:
    """Give ``asyncio.run()`` the loop ``SQUALL_LOOP`` selects (see the module docstring).

    Returns True when squall's policy is in place. Never raises, never imports uvloop."""
    if sys.version_info >= (3, 14):
        return False
    policy = asyncio.get_event_loop_policy()
    if isinstance(policy, RunPolicy):
        return True
    if type(policy) is not asyncio.DefaultEventLoopPolicy:
        return False  # the program chose its own
    replacement = RunPolicy()
    local = getattr(policy, "_local", None)
    if local is not None:
        replacement._local = local  # type: ignore[attr-defined]  # keep the thread's loop
    asyncio.set_event_loop_policy(replacement)
    return True


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """Return "uvloop" for a uvloop loop and "asyncio" for any other loop."""
    return "uvloop" if type(loop).__module__.partition(".")[0] == "uvloop" else "asyncio"


def note_loop_created() -> None:
    """Record that this process has created or run an event loop."""
    global _loop_created
    _loop_created = True


def loop_was_created() -> bool:
    """Return True once this process has created or run an event loop.

    Also True while any asyncio loop is running in the calling thread, even one squall did not
    create (``asyncio.run(main())``).
    """
    return _loop_created or asyncio._get_running_loop() is not None


def _policy_slot() -> object | None:
    # The default policy keeps set_event_loop()'s loop in a thread-local; asking it through
    # asyncio.get_event_loop() would create a loop on 3.11 and warns on 3.12+. On 3.14+, where the
    # policy API is deprecated, and with other policies, squall leaves the thread's loop alone.
    if sys.version_info >= (3, 14):
        return None
    return getattr(asyncio.get_event_loop_policy(), "_local", None)


def thread_loop() -> asyncio.AbstractEventLoop | None:
    """Return the open loop set with ``asyncio.set_event_loop()`` for this thread, if any.

    Never creates a loop (``asyncio.get_event_loop()`` may).
    """
    loop = getattr(_policy_slot(), "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed() else None


def set_thread_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """``asyncio.set_event_loop(loop)``, where squall can read it back with ``thread_loop()``."""
    if _policy_slot() is not None:
        asyncio.set_event_loop(loop)


@contextmanager
def running(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Record that ``loop`` runs, and make it the thread's asyncio event loop inside the block.

    Afterwards the thread's previous loop is put back (None if it was closed meanwhile).
    """
    note_loop_created()
    previous = thread_loop()
    set_thread_loop(loop)
    try:
        yield
    finally:
        set_thread_loop(previous if previous is None or not previous.is_closed() else None)


def reset_after_fork() -> None:
    """Forget the record in a freshly forked child, which starts with no loop of its own."""
    global _loop_created
    _loop_created = False


# squall/__init__.py's hook (squall._loop_hook) fires when asyncio is first imported; when that
# import was this module's own, the policy could not be installed then: it is installed here.
install_run_policy()
