"""Restart the process when its source changes: Tornado's ``tornado.autoreload``, one process.

    autoreload.watch("settings.yaml")        # a file that is not a module
    autoreload.add_reload_hook(db.close)     # runs just before the restart
    autoreload.start()                       # Application(debug=True) does this

How this works: ``start()`` records the mtime and size of every module file in ``sys.modules``
and every ``watch()``-ed file (the supervisor's ``filewatch``, which the forking parent and the
``squall serve`` master use too). With watchfiles installed, a thread watches their directories
(not recursively) until one of them changes; otherwise, or with ``SQUALL_RELOAD_POLL=1``, a
``PeriodicCallback`` compares them every ``check_time`` ms. On a change it logs INFO ``"<path>
modified; restarting server"``, runs the reload hooks on the loop's thread and re-execs the same
interpreter with ``sys.orig_argv``, the original command line (``-m module``, interpreter options
and arguments kept). In-flight requests are lost. After a syntax error the new process prints
the traceback and exits, unless it runs under the wrapper.

Rules: ``start()`` creates no event loop (``Application`` calls it before a possible
``HTTPServer.start(n)`` fork): with no loop yet, it attaches to the first IOLoop that runs. In a
child of ``fork_processes`` (``task_id()`` is not None) it does nothing: the supervisor reloads.
Twice on one loop does nothing; a second loop gets a warning.

The wrapper ``python -m squall.autoreload [--until-success] [-m module | script.py] args...``
runs the program and, when it ends (normally, by ``sys.exit`` or by an exception, a SyntaxError
at import included), waits for a change of a file it loaded or that is in the traceback, then
runs it again. ``--until-success`` stops after a run that exits with status 0. A script runs
as ``python script.py`` would run it (its folder first on ``sys.path``), and the working
directory stays importable as under Tornado's wrapper; a module or a directory runs as with
``python -m``/``python dir``. ``_reload()`` (private, but Tornado's tests and some programs call
it) restarts at once.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import runpy
import subprocess
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from squall import ioloop
from squall._supervisor.common import flush_std_streams
from squall._supervisor.filewatch import FileWatch, module_files
from squall._supervisor.fork import task_id
from squall.ioloop import IOLoop, PeriodicCallback
from squall.log import enable_pretty_logging, gen_log

__all__ = ["POLL_ENV", "add_reload_hook", "main", "start", "wait", "watch"]

POLL_ENV = "SQUALL_RELOAD_POLL"  # "1": compare mtimes even when watchfiles is installed

_USAGE = """\
Usage:
  python -m squall.autoreload [--until-success] -m module.to.run [args...]
  python -m squall.autoreload [--until-success] path/to/script.py [args...]
"""

_watched_files: set[str] = set()
_reload_hooks: list[Callable[[], object]] = []
_io_loops: weakref.WeakSet[IOLoop] = weakref.WeakSet()  # loops autoreload is attached to
_latest_loop: weakref.ref[IOLoop] | None = None  # where the watchfiles thread sends the reload
_file_watch: FileWatch | None = None  # polls _files(); made by the first start() or watch()
_reload_attempted = False
_deferred = False  # start() waits for a loop to run
_watcher: threading.Thread | None = None


def start(check_time: int = 500, io_loop: object = None) -> None:
    """Restart the process when a loaded module or a watched file changes.

    Attaches to the calling thread's IOLoop when one exists, else to the first IOLoop that
    runs; it creates no loop. ``check_time`` is the polling period in milliseconds (unused
    with watchfiles). ``io_loop`` is accepted and ignored (Tornado 4). Does nothing in a child
    of ``fork_processes`` or a ``squall serve`` worker; a second call on one loop does nothing.
    """
    global _deferred
    if _in_forked_child():
        return
    _polling()  # the baseline: every file's stamp now
    current = IOLoop.current(instance=False)
    if current is not None:
        _attach(check_time, current)
    elif not _deferred:
        _deferred = True
        ioloop._when_running(functools.partial(_attach, check_time))


def wait() -> None:
    """Run a new IOLoop until a loaded or watched file changes, then restart; never returns.

    Called last in a script that ends (a test runner, say), it runs the script on each change.
    """
    io_loop = IOLoop()
    io_loop.add_callback(start)
    io_loop.start()


def watch(filename: str) -> None:
    """Restart when ``filename`` (any file, not only a module) changes, too.

    Its current modification time is recorded at once, so a change right after this call is
    seen. A file that does not exist is watched from the moment it appears.
    """
    path = os.path.abspath(filename)
    _watched_files.add(path)
    _polling().add(path)


def add_reload_hook(fn: Callable[[], object]) -> None:
    """Call ``fn()`` just before the process restarts (on the loop's thread).

    Hooks run in the order added; an exception is logged and the others still run. Sockets need
    no hook: Python opens them non-inheritable, so the exec closes them.
    """
    _reload_hooks.append(fn)


# -- attaching to a loop --------------------------------------------------------------------------


def _in_forked_child() -> bool:
    """True (and a DEBUG line) in a ``fork_processes`` child or a ``squall serve`` worker."""
    task = task_id()
    # A worker of the managed master (squall serve --workers N) has no task id, but a slot.
    worker_module = sys.modules.get("squall._supervisor.worker")
    worker = getattr(worker_module, "current_worker", lambda: None)()
    if task is None and getattr(worker, "supervised", False):
        task = getattr(worker, "slot", 0)
    if task is None:
        return False
    gen_log.debug("autoreload not started in child process %d: the supervisor reloads", task)
    return True


def _attach(check_time: int, io_loop: IOLoop) -> None:
    global _deferred, _latest_loop, _watcher
    _deferred = False
    if io_loop in _io_loops or _in_forked_child():  # deferred before a fork, run in a child
        return
    if len(_io_loops):
        gen_log.warning("squall.autoreload started more than once in the same process")
    _io_loops.add(io_loop)
    _latest_loop = weakref.ref(io_loop)
    if (watchfiles := _watchfiles()) is None:
        PeriodicCallback(_check_all, check_time).start()
    elif _watcher is None:
        _watcher = threading.Thread(
            target=_watch_changes,
            args=(watchfiles, check_time),
            name="squall-autoreload",
            daemon=True,
        )
        _watcher.start()


def _watchfiles() -> Any:
    if os.environ.get(POLL_ENV, "").strip() not in ("", "0"):
        return None
    try:
        return importlib.import_module("watchfiles")
    except ImportError:
        return None


# -- noticing a change -----------------------------------------------------------------------------


def _files() -> set[str]:
    """Every module file in ``sys.modules`` (``.py`` for ``.pyc``) and every watched file."""
    return module_files() | _watched_files


def _polling() -> FileWatch:
    """The stamps of :func:`_files` (a file that is gone, or not there yet, is ignored, as
    Tornado ignores it; one that appears is watched from then on)."""
    global _file_watch
    if _file_watch is None:
        _file_watch = FileWatch(_files)
    return _file_watch


def _check_all() -> None:
    if _reload_attempted:
        return
    changed = _polling().changed()
    if changed:
        _reload(changed[0])


def _tracked(files: set[str], change: object, path: str) -> bool:
    return path in files


def _watch_changes(watchfiles: Any, check_time: int) -> None:
    """The watchfiles thread: wait for a change of a tracked file, then ask for the reload."""
    try:
        while True:
            files = _files()
            dirs = sorted({d for d in map(os.path.dirname, files) if os.path.isdir(d)})
            events = watchfiles.watch(
                *dirs,
                watch_filter=functools.partial(_tracked, files),
                debounce=400,
                step=50,
                rust_timeout=1000,
                yield_on_timeout=True,
                raise_interrupt=False,
                recursive=False,
            )
            try:
                for batch in events:
                    if changed := sorted(p for _, p in batch if os.path.exists(p)):
                        _post(_reload, changed[0])
                        return
                    if not _files() <= files:
                        break  # modules were imported since: watch their directories too
            finally:
                events.close()
    except Exception:
        gen_log.warning("watchfiles failed; autoreload falls back to polling", exc_info=True)
        _post(lambda: PeriodicCallback(_check_all, check_time).start())


def _post(fn: Callable[..., object], *args: Any) -> None:
    """Run ``fn(*args)`` on the loop autoreload is attached to; here if it is gone."""
    io_loop = _latest_loop() if _latest_loop is not None else None
    if io_loop is None or io_loop.asyncio_loop.is_closed():
        fn(*args)
    else:
        io_loop.add_callback(fn, *args)


# -- restarting ------------------------------------------------------------------------------------


def _reload(path: str | None = None) -> None:
    """Restart now: run the reload hooks, then re-exec (Tornado's private ``_reload()``, which
    programs and Tornado's own tests call directly; ``path`` is the file that changed)."""
    global _reload_attempted
    if _reload_attempted:
        return
    _reload_attempted = True
    if path is not None:
        gen_log.info("%s modified; restarting server", path)
    for hook in list(_reload_hooks):
        try:
            hook()
        except Exception:
            gen_log.error("Reload hook %r failed", hook, exc_info=True)
    _exec()


def _exec() -> None:
    # The original command line keeps `-m module` (where __main__.__spec__ would have to be
    # consulted with sys.argv), interpreter options, and the wrapper when it is running.
    argv = [sys.executable, *sys.orig_argv[1:]]
    flush_std_streams()  # exec throws away what is still buffered
    if sys.platform == "win32":  # no real exec: start the new process, then leave
        subprocess.Popen(argv)
        os._exit(0)
    try:
        os.execv(sys.executable, argv)
    except OSError:
        # exec can fail where spawning works (macOS with threads, "Operation not supported").
        os.spawnv(os.P_NOWAIT, sys.executable, argv)
        os._exit(0)


# -- the python -m squall.autoreload wrapper -------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run a script or module, then wait for a change and run it again (see the module doc).

    ``argv`` defaults to ``sys.argv[1:]``. Bad usage prints the usage and exits with status 2.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    until_success = args[:1] == ["--until-success"]
    if until_success:
        args = args[1:]
    if len(args) >= 2 and args[0] == "-m":
        module, script, rest = args[1], None, args[2:]
    elif args and not args[0].startswith("-"):
        module, script, rest = None, args[0], args[1:]
    else:
        sys.stderr.write(_USAGE)
        sys.exit(2)
    succeeded, outcome = _run(module, script, rest)
    enable_pretty_logging()  # only if the program left logging unconfigured
    gen_log.info("Script exited %s", outcome)
    if until_success and succeeded:
        return
    wait()


def _run(module: str | None, script: str | None, rest: list[str]) -> tuple[bool, str]:
    """Run the program as ``__main__``, then watch its files; (exit status was 0, outcome)."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    try:
        if module is not None:
            sys.argv = [module, *rest]  # run_module puts the module's file in argv[0]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        elif script is not None:
            sys.argv = [script, *rest]
            if not os.path.isdir(script):  # run_path itself puts a directory or zip first
                # As `python script.py`, the script's folder comes first; the wrapper's own
                # sys.path[0] (the working directory, from -m) stays, as under Tornado's.
                sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return exc.code in (0, None), f"with status {exc.code}"
    except Exception as exc:
        _watch_traceback(exc)
        traceback.print_exc()
        return False, "with uncaught exception"
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        _watch_program(module, script)
    return True, "normally"


def _watch_program(module: str | None, script: str | None) -> None:
    # A program that failed to import is not in sys.modules: watch its file by name.
    if script is not None:
        watch(script)
    elif module is not None:
        try:
            spec = importlib.util.find_spec(module)
        except Exception:  # importing a parent package failed too: its files are watched
            spec = None
        if spec is not None and spec.origin and os.path.exists(spec.origin):
            watch(spec.origin)


def _watch_traceback(exc: BaseException) -> None:
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if not frame.f_code.co_filename.startswith("<"):  # "<frozen runpy>"
            watch(frame.f_code.co_filename)
    if isinstance(exc, SyntaxError) and exc.filename:
        watch(exc.filename)  # the file with the error is not a frame of the traceback
