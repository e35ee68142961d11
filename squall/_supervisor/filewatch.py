"""The one file watcher behind every reload: which files changed since the last look.

Three reloads use it:

- ``fork_processes(reload=True)`` (``debug=True`` with ``start(n)``): the forking parent has the
  application's modules imported, so it watches :func:`module_files`; a changed file that does
  not compile (:func:`compile_error`) is reported and the running processes keep serving;
- ``squall serve --reload``: the master never imports the application, so it watches the
  ``*.py`` files under directories (:class:`TreeWatch`, :func:`python_files`);
- ``squall.autoreload``: one process watches its own modules and the files given to ``watch()``.

A :class:`FileWatch` compares each file's ``(st_mtime_ns, st_size)`` stamp with the one it saw
last; the size catches an edit within the clock's granularity. It is standard library only and
polls. With watchfiles installed, :class:`TreeWatch` and ``autoreload`` wait for the kernel's
notifications instead, and polling is their fallback.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "FileWatch",
    "TreeWatch",
    "compile_error",
    "module_files",
    "python_files",
    "stamp",
]

Stamp = tuple[int, int]  # (st_mtime_ns, st_size)
#: Directory names never searched for sources: caches, virtual environments, node modules.
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env"})


def stamp(path: str) -> Stamp | None:
    """``(st_mtime_ns, st_size)`` of ``path``, or None when it cannot be read (gone, say)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def module_files() -> set[str]:
    """The absolute source files of the loaded modules (``.py`` for a ``.pyc``)."""
    files = set()
    for module in list(sys.modules.values()):
        if isinstance(module, types.ModuleType):
            path = module.__dict__.get("__file__")  # no module __getattr__ runs
            if isinstance(path, str):
                files.add(os.path.abspath(path[:-1] if path.endswith(".pyc") else path))
    return files


def python_files(dirs: Iterable[str]) -> set[str]:
    """The ``*.py`` files under ``dirs``, recursively, skipping hidden directories and
    :data:`SKIP_DIRS`."""
    found: set[str] = set()
    for top in dirs:
        for root, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS and d[:1] != "."]
            found.update(os.path.join(root, name) for name in files if name.endswith(".py"))
    return found


def compile_error(path: str) -> str | None:
    """The traceback of compiling the Python source ``path``, or None when it compiles (or is
    not a ``.py`` file): a reload that would only fail waits for the next edit."""
    if not path.endswith(".py"):
        return None
    try:
        with open(path, "rb") as source:
            compile(source.read(), path, "exec")
    except (SyntaxError, ValueError, OSError):
        return traceback.format_exc()
    return None


class FileWatch:
    """Which of a set of files changed since the last look, by their stamps (polling).

    ``files`` is called at every look, so the set may grow (modules imported meanwhile). A file
    first seen is recorded, not reported, unless ``appearing_counts``: then a file that appears
    or disappears after the first look is a change too (a new module in a watched tree). A
    file that cannot be read is skipped until it can."""

    def __init__(
        self, files: Callable[[], Iterable[str]], *, appearing_counts: bool = False
    ) -> None:
        self._files = files
        self._appearing_counts = appearing_counts
        self._stamps: dict[str, Stamp] = {}
        self._scan(set(files()))

    def add(self, path: str) -> None:
        """Record ``path``'s stamp now if it has none yet (a change right after is seen)."""
        if path not in self._stamps:
            self._scan({path})

    def changed(self) -> list[str]:
        """The files changed since the previous look, sorted (empty when none did)."""
        paths = set(self._files()) | self._stamps.keys()
        before = dict(self._stamps)
        self._scan(paths)
        changed = [
            path
            for path, now in self._stamps.items()
            if (path in before and before[path] != now)
            or (path not in before and self._appearing_counts)
        ]
        if self._appearing_counts:
            changed += [path for path in before if path not in self._stamps]
        return sorted(changed)

    def _scan(self, paths: Iterable[str]) -> None:
        for path in paths:
            current = stamp(path)
            if current is not None:
                self._stamps[path] = current
            elif self._appearing_counts:
                self._stamps.pop(path, None)


class TreeWatch:
    """Which ``*.py`` files under some directories changed, looked at every ``interval`` s.

    Uses watchfiles when it is importable (the kernel's notifications, collected without
    blocking), else a :class:`FileWatch` over :func:`python_files`; either way a new or deleted
    file counts. :attr:`next_poll` is when the owner's loop should call :meth:`changed`."""

    def __init__(self, dirs: Iterable[str], interval: float) -> None:
        self._dirs = tuple(os.path.abspath(d) for d in dirs)
        self._interval = interval
        self.next_poll = time.monotonic() + interval
        self._events: Any = None
        self._polling: FileWatch | None = None
        try:
            watchfiles = importlib.import_module("watchfiles")
        except ImportError:
            self._polling = FileWatch(lambda: python_files(self._dirs), appearing_counts=True)
        else:
            self._events = watchfiles.watch(
                *self._dirs,
                watch_filter=watchfiles.PythonFilter(),
                debounce=50,
                step=20,
                rust_timeout=10,
                yield_on_timeout=True,
                raise_interrupt=False,
            )
            next(self._events, None)  # start watching now

    def changed(self) -> list[str]:
        """The files changed since the previous call (sorted; empty when nothing changed)."""
        self.next_poll = time.monotonic() + self._interval
        if self._polling is not None:
            return self._polling.changed()
        changes = next(self._events, None) or set()
        return sorted({str(path) for _, path in changes})

    def close(self) -> None:
        """Stop watching."""
        if self._events is not None:
            self._events.close()
